"""Lowerings of symgraph.ops.shape: views, absorbed into the loops that read them as index remappings.

A loop reading ``transpose(x)`` at (i, j) reads x at (j, i); ``expand_dims`` drops the inserted positions;
``squeeze`` reads the removed size-1 axes at 0; ``broadcast_to`` aligns from the right and reads size-1 axes at 0.
A calls gets the same views as NumPy-style array views (no copy). A reshape that does more than insert or remove
size-1 axes cannot be absorbed: it is a view of its (contiguous) input.
"""

from __future__ import annotations

import numpy as np

from symgraph.backends.numba.lowering import ViewLowering, broadcast_index, known_c_contiguous, register
from symgraph.graph import Constant
from symgraph.ops import shape as sh


def _transpose_map(node, index):
    inverse = np.argsort(node.op.axes)
    return tuple(index[int(inverse[a])] for a in range(len(node.op.axes)))


def _transpose_array(node, arg, ctx):
    axes = node.op.axes
    if axes == tuple(reversed(range(len(axes)))):
        return f"{arg}.T"
    return f"np.transpose({arg}, {axes!r})"


register(ViewLowering(lambda node, shapes, ctx: f"tuple({shapes[0]}[a] for a in {node.op.axes!r})",
                      _transpose_map, _transpose_array), sh.Transpose)


def _unit_axes_map(x_shape, out_shape, index):
    """The input index of a reshape that only inserts or removes size-1 axes, or None for any other reshape."""
    kept_in = [d for d in x_shape if d != 1]
    kept_out = [d for d in out_shape if d != 1]
    if kept_in != kept_out or None in kept_in:
        return None
    positions = [k for k, d in enumerate(out_shape) if d != 1]
    mapped, next_kept = [], 0
    for d in x_shape:
        if d == 1:
            mapped.append("0")
        else:
            mapped.append(index[positions[next_kept]])
            next_kept += 1
    return tuple(mapped)


def _reshape_array(node, arg, ctx):
    """A reshaped view, of a C-contiguous copy where the input may be strided (np.ascontiguousarray in a compiled
    stage is a function of its own for Numba to compile: 0.15 s of the lecture CNN's cold start)."""
    source = node.inputs[0]
    # constants keep the copy (as before this rule): folding seldom leaves one reshaped inside a compiled stage
    if known_c_contiguous(source) and not isinstance(source, Constant):
        return f"{arg}.reshape({ctx.shape_of(node)})"
    return f"np.ascontiguousarray({arg}).reshape({ctx.shape_of(node)})"


def _target_text(target, sizes) -> str:
    """A target shape as a tuple expression: ``sizes(k)`` for its k-th ``None`` entry (a size read at run time)."""
    if None not in target:
        return repr(target)
    unknown = iter(range(len(target)))
    entries = [sizes(next(unknown)) if d is None else str(d) for d in target]
    return "(" + ", ".join(entries) + ("," if len(entries) == 1 else "") + ")"


def _reshape_target(node, x_shape):
    return _target_text(node.op.shape, lambda k: " * ".join(f"{x_shape}[{a}]" for a in node.op.kept[k]))


register(ViewLowering(lambda node, shapes, ctx: f"_reshape_shape({ctx.what(node)}, {shapes[0]}, "
                                                f"{_reshape_target(node, shapes[0])})",
                      lambda node, index: _unit_axes_map(node.inputs[0].shape, node.shape, index),
                      _reshape_array, contiguous=True), sh.Reshape)
register(ViewLowering(lambda node, shapes, ctx: f"_reshape_shape({ctx.what(node)}, {shapes[0]}, {shapes[1]})",
                      lambda node, index: None, _reshape_array, contiguous=True), sh.ReshapeLike)


def _expand_dims_map(node, index):
    return tuple(e for k, e in enumerate(index) if k not in node.op.axes)


def _expand_dims_shape(node, shapes, ctx):
    axes = node.op.axes
    return f"_expand_dims_shape({shapes[0]}, {axes!r})"


def _expand_dims_array(node, arg, ctx):
    for axis in node.op.axes:  # ascending: each position is final once inserted
        arg = f"np.expand_dims({arg}, {axis})"
    return arg


register(ViewLowering(_expand_dims_shape, _expand_dims_map, _expand_dims_array), sh.ExpandDims)


def _squeeze_map(node, index):
    mapped, rest = [], iter(index)
    for k in range(node.inputs[0].ndim):
        mapped.append("0" if k in node.op.axes else next(rest))
    return tuple(mapped)


register(ViewLowering(lambda node, shapes, ctx: f"_squeeze_shape({ctx.what(node)}, {shapes[0]}, {node.op.axes!r})",
                      _squeeze_map,
                      lambda node, arg, ctx: _index_view(arg, ["0" if k in node.op.axes else ":"
                                                               for k in range(node.inputs[0].ndim)])), sh.Squeeze)


def _index_view(arg, key):
    return f"{arg}[{', '.join(key)}]" if key else arg


def _broadcast_map(node, index):
    return broadcast_index(node.inputs[0].shape, index)


def _broadcast_target(node, x_shape):
    target, lead = node.op.shape, node.ndim - node.inputs[0].ndim
    positions = [k for k, d in enumerate(target) if d is None]
    return _target_text(target, lambda k: f"{x_shape}[{positions[k] - lead}]")


def _static_or_run_time(node, ctx):
    return repr(node.op.shape) if None not in node.op.shape else ctx.shape_of(node)


register(ViewLowering(lambda node, shapes, ctx: f"_broadcast_to({ctx.what(node)}, {shapes[0]}, "
                                                f"{_broadcast_target(node, shapes[0])})",
                      _broadcast_map, lambda node, arg, ctx: f"np.broadcast_to({arg}, "
                                                             f"{_static_or_run_time(node, ctx)})"),
         sh.BroadcastTo)
register(ViewLowering(lambda node, shapes, ctx: f"_broadcast_shapes({ctx.what(node)}, {shapes[0]}, {shapes[1]})",
                      _broadcast_map, lambda node, arg, ctx: f"np.broadcast_to({arg}, {ctx.shape_of(node)})"),
         sh.BroadcastLike)
