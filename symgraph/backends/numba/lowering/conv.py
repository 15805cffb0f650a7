"""Lowerings of symgraph.ops.conv: convolutions (im2col + BLAS, kernels/conv_gemm.py) and pooling (direct loops,
kernels/conv.py).

The plan computes every output shape with the rules of ConvGeometry / PoolGeometry on the run-time sizes, and checks
what unknown (None) dimensions left open (channels, batch sizes, the gradients' sizes). The stage passes the padding
before the data (top, left) to the kernels: a literal when the static shapes fix it, else computed from the arrays'
shapes ("same" depends on the input size, "full" on the kernel size); the padding after is implied by the output size.
"""

from __future__ import annotations

import numpy as np

from symgraph.backends.numba.lowering import CallLowering, register
from symgraph.ops import conv


def _run_time(value) -> str:
    """An int argument typed int64, not as a literal: Numba compiles a callee for every distinct literal argument,
    and one compiled convolution kernel should serve every geometry of a graph."""
    return f"np.int64({value})"


def _contiguous(arg: str) -> str:
    """A C-contiguous array (no copy when it already is): the kernels are compiled for one array type per dtype
    rather than once per layout and read-only flag that views and variables bring (each costs seconds)."""
    return f"np.ascontiguousarray({arg})"


def _operand(node, k, args, ctx) -> str:
    """Input ``k`` as a C-contiguous array of the node's dtype (mixed float32/float64 operands compute in the wider
    one)."""
    if node.inputs[k].dtype == node.dtype:
        return _contiguous(args[k])
    return f"{args[k]}.astype({ctx.dtype(node.dtype)})"


# -- convolutions ---------------------------------------------------------------------------------------------------

def _padding_before(node, axis, size, k, static, ctx) -> str:
    """The padding before the data along ``axis``, from the run-time input size and kernel size expressions."""
    op = node.op
    pads = op.pads(*static)[axis]
    if pads is not None:
        return str(pads[0])
    if op.padding == "same":
        helper = ctx.python_helper("conv_gemm", "conv_same_padding_before")
        return f"{helper}({size}, {k}, {op.stride[axis]}, {op.dilation[axis]})"
    return f"{op.dilation[axis]} * ({k} - 1)"  # "full"


def _conv_lowering(shape_helper: str, kernel: str, data: int, filters: int) -> CallLowering:
    """A convolution op whose input ``data`` has the convolved image's shape and input ``filters`` the filter's; the
    first two inputs are its operands (the third is a reference, read for its shape only)."""

    def shape(node, shapes, ctx):
        op = node.op
        helper = ctx.plan_helper("conv_shapes", shape_helper)
        return f"{helper}({ctx.what(node)}, {', '.join(shapes)}, {op.stride!r}, {op.padding!r}, {op.dilation!r})"

    def emit(node, args, out, ctx):
        op = node.op
        static = (node.inputs[data].shape[2:], node.inputs[filters].shape[2:])
        top, left = (_padding_before(node, axis, f"{args[data]}.shape[{2 + axis}]",
                                     f"{args[filters]}.shape[{2 + axis}]", static, ctx) for axis in (0, 1))
        operands = ", ".join(_operand(node, k, args, ctx) for k in (0, 1))
        geometry = ", ".join(_run_time(v) for v in (*op.stride, top, left, *op.dilation))
        return [f"{ctx.python_helper('conv_gemm', kernel)}({operands}, {out}, {geometry})"]

    return CallLowering(shape, emit)


register(_conv_lowering("conv2d_shape", "conv2d_forward", 0, 1), conv.Conv2d)
register(_conv_lowering("conv2d_backprop_input_shape", "conv2d_backprop_input", 2, 1), conv.Conv2dBackpropInput)
register(_conv_lowering("conv2d_backprop_filter_shape", "conv2d_backprop_filter", 0, 2), conv.Conv2dBackpropFilter)


# -- pooling --------------------------------------------------------------------------------------------------------

def _pool_shape(shape_helper: str, order):
    """A shape rule calling ``shape_helper`` with the input shapes in ``order`` (positions among the inputs)."""

    def shape(node, shapes, ctx):
        op = node.op
        helper = ctx.plan_helper("conv_shapes", shape_helper)
        listed = ", ".join(shapes[k] for k in order)
        return f"{helper}({ctx.what(node)}, {listed}, {op.kernel!r}, {op.stride!r}, {op.padding!r})"

    return shape


def _pool_emit(kernel: str, arrays, extra, gather=None):
    """Statements calling ``kernel`` with the inputs at positions ``arrays``, the output (max_pool2d_backward: and
    its scratch row of window winners) and ``extra(node, ctx)``. The pooling kernels are compiled for the window's
    geometry (and ``gather``, when it takes it): with these written into their code, loops over the window unroll
    and the padding's branches go."""

    def emit(node, args, out, ctx):
        op = node.op
        geometry = dict(zip(("k_h", "k_w", "stride_h", "stride_w", "pad_h", "pad_w"),
                            op.kernel + op.stride + op.padding))
        if gather is not None:
            geometry["gather"] = int(gather)
        listed = ", ".join(_contiguous(args[k]) for k in arrays)
        helper = ctx.helper("conv", kernel, geometry)
        if gather is not None:  # the winners of a row of windows of the pooled gradient g (input 1)
            out = f"{out}, np.empty({0 if gather else f'{args[1]}.shape[3]'}, np.int64)"
        return [f"{helper}({listed}, {out}, {extra(node, ctx)})"]

    return emit


def _lowest(node, ctx):
    """Max pooling's padding value, -inf in x's dtype (x is input 0)."""
    return ctx.literal(-np.inf, node.inputs[0].dtype)


def _window_size(node, ctx) -> str:
    return ctx.literal(node.op.kernel[0] * node.op.kernel[1], node.dtype)


register(CallLowering(_pool_shape("pool_shape", (0,)), _pool_emit("max_pool2d_forward", (0,), _lowest)),
         conv.MaxPool2d)
register(CallLowering(_pool_shape("pool_grad_shape", (1, 0)),
                      _pool_emit("max_pool2d_backward", (0, 1), _lowest, gather=False)), conv.MaxPool2dGrad)
register(CallLowering(_pool_shape("pool_gather_shape", (0, 1)),
                      _pool_emit("max_pool2d_backward", (0, 1), _lowest, gather=True)), conv.MaxPool2dGather)
register(CallLowering(_pool_shape("pool_shape", (0,)), _pool_emit("avg_pool2d_forward", (0,), _window_size)),
         conv.AvgPool2d)
register(CallLowering(_pool_shape("pool_grad_shape", (0, 1)), _pool_emit("avg_pool2d_backward", (0,), _window_size)),
         conv.AvgPool2dGrad)
