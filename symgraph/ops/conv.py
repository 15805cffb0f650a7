"""Convolution and pooling on NCHW inputs (OIHW filters), with their gradients as primitives of their own.

- ``conv2d(x, w)`` is cross-correlation as deep-learning libraries define it (PyTorch's and TF's conv2d). Padding is
  "valid", "same" (TF's rule: the output has ceil(size / stride) positions, the total padding is split with the
  extra row or column on the bottom / right), "full" (dilation * (k - 1) on every side), an int, a pair (ph, pw) or
  explicit ((top, bottom), (left, right)).
- ``convolve2d(a, b, mode)`` is ``scipy.signal.convolve2d`` (flipped kernel) for 2-D arrays, built from conv2d.
- ``max_pool2d`` and ``avg_pool2d`` pad symmetrically (at most half the kernel, as PyTorch) and use floor division
  for the output size. Max-pool pads with -inf; its gradient goes to the FIRST maximal element of each window in
  row-major order (PyTorch's / cuDNN's rule); overlapping windows add up. Avg-pool pads with zeros that COUNT in the
  average (PyTorch's default count_include_pad=True): every window divides by kh * kw.

The gradients are ops too (as JAX's conv transposes and PyTensor's AbstractConv2d_gradInputs / gradWeights), each
with a shape rule, a NumPy reference and a gradient rule of its own, so that gradients of gradients work:

- conv2d is bilinear, <g, conv2d(x, w)> = <conv2d_backprop_input(g, w), x> = <conv2d_backprop_filter(x, g), w>, so
  the three ops' gradients are each other (with the same stride, padding and dilation).
- max_pool2d_grad(x, g) scatters g to the argmax positions of x's windows; its adjoint in g, max_pool2d_gather(x, h),
  reads h at those positions. Both are piecewise constant in x (gradient zero, given as None).
- avg_pool2d_grad(g) spreads g / (kh * kw) over each window: the adjoint of avg_pool2d.

Backprop ops take the forward operand whose shape they produce as a reference input (like ``index_grad`` and
``broadcast_like``), so unknown (None) dimensions are resolved at run time; no gradient flows into a reference.
The NumPy references are im2col style: strided window views (``sliding_window_view``) copied once into a matrix and
multiplied with one matmul; scatters, gathers and pooling loop over the kh * kw kernel taps, never over pixels.

FLOPs: conv2d and both its backprop ops make one multiply-add (2 FLOPs) per pair of an output position and a filter
tap, for every input and output channel: 2 * N * O * Ho * Wo * C * kh * kw, taps over the padding included (the
im2col product computes them, as cuDNN's and PyTorch's flop counter count them). Pooling costs one FLOP per window
tap (a comparison or an addition; the average's division is the last of its kh * kw operations, as for ``mean``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from symgraph import dtypes
from symgraph.errors import DTypeError, ShapeError
from symgraph.graph import MAX_DIM, Node, Op, apply, as_node, as_nodes, builder, format_shape
from symgraph.ops.base import require_dtype_kind
from symgraph.ops.elementwise import cast
from symgraph.ops.indexing import index
from symgraph.ops.shape import expand_dims, squeeze

PADDING_MODES = ("valid", "same", "full")
_AXES = ("height", "width")


# -- argument normalization -----------------------------------------------------------------------------------------

def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _pair(value, what: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints (each >= minimum) as a pair of ints."""
    items = (value, value) if _is_int(value) else value
    if not isinstance(items, (tuple, list)) or len(items) != 2 or not all(_is_int(v) for v in items):
        raise ShapeError(f"{what} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ShapeError(f"{what} must be at least {minimum}, got {value!r}")
    if any(v > MAX_DIM for v in items):
        raise ShapeError(f"{what} must be at most {MAX_DIM} (the largest array size), got {value!r}")
    return int(items[0]), int(items[1])


def _conv_padding(padding):
    """"same" and "full" stay modes (they depend on sizes); everything else becomes ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        if padding not in PADDING_MODES:
            raise ShapeError(f"padding must be one of {', '.join(map(repr, PADDING_MODES))}, an int, a pair (ph, pw) "
                             f"or ((top, bottom), (left, right)), got {padding!r}")
        return ((0, 0), (0, 0)) if padding == "valid" else padding
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(isinstance(p, (tuple, list)) for p in padding):
        return tuple(_pair(tuple(p), "explicit padding (before, after)", 0) for p in padding)
    ph, pw = _pair(padding, "padding", 0)
    return (ph, ph), (pw, pw)


def _merge_dim(a, b, what: str):
    if a is not None and b is not None and a != b:
        raise ShapeError(f"{what} differ: {a} != {b}")
    return a if a is not None else b


def _channel_mismatch(x_shape, w_shape):
    """Why conv2d refuses x and w (None when they agree), with the likely cause when x looks like NHWC data."""
    channels, expected = x_shape[1], w_shape[1]
    if channels is None or expected is None or channels == expected:
        return None
    hint = " (looks like NHWC data? conv2d takes NCHW: x.transpose(0, 3, 1, 2))" if x_shape[3] == expected else ""
    return (f"channel mismatch: the input of shape {format_shape(tuple(x_shape))} has {channels} channels along axis 1 "
            f"(NCHW) but the filter of shape {format_shape(tuple(w_shape))} (OIHW) expects {expected}{hint}")


def _require(node: Node, rank: int, layout: str, what: str) -> None:
    require_dtype_kind(node, "f", what)
    if node.ndim != rank:
        raise ShapeError(f"{what} must have rank {rank} ({layout}), got shape {format_shape(node.shape)}")


# -- geometry -------------------------------------------------------------------------------------------------------

def _axis_pads(spec, size, k, stride, dilation):
    """(before, after) padding of one spatial axis, or None when it depends on a size not known statically."""
    if spec == "same":  # TF: out = ceil(size / stride); the odd row or column of padding goes after
        if size is None or k is None:
            return None
        out = -(-size // stride)
        total = max((out - 1) * stride + dilation * (k - 1) + 1 - size, 0)
        return total // 2, total - total // 2
    if spec == "full":
        return None if k is None else (dilation * (k - 1),) * 2
    return spec


def _axis_out(axis, spec, size, k, stride, dilation):
    """The output size along one spatial axis (None if unknown); a kernel larger than the padded input raises."""
    if k is not None and k < 1:
        raise ShapeError(f"the kernel has size {k} along the {_AXES[axis]}")
    if spec == "same":
        return None if size is None else -(-size // stride)
    pads = _axis_pads(spec, size, k, stride, dilation)
    if size is None or k is None or pads is None:
        return None
    span, effective = size + pads[0] + pads[1], dilation * (k - 1) + 1
    if span < effective:
        dilated = f" (dilated to {effective})" if dilation > 1 else ""
        raise ShapeError(f"the kernel's {_AXES[axis]} {k}{dilated} is larger than the padded input's {span} "
                         f"({size} + padding {pads[0]} + {pads[1]})")
    return (span - effective) // stride + 1


class ConvGeometry(Op):
    """Shared by conv2d and its backprop ops: stride, padding and dilation, resolved against concrete sizes."""

    def geometry(self):
        return self.stride, self.padding, self.dilation

    def _spec(self, axis):
        return self.padding if isinstance(self.padding, str) else self.padding[axis]

    def output_hw(self, in_hw, k_hw) -> tuple:
        return tuple(_axis_out(a, self._spec(a), in_hw[a], k_hw[a], self.stride[a], self.dilation[a]) for a in (0, 1))

    def pads(self, in_hw, k_hw) -> tuple:
        return tuple(_axis_pads(self._spec(a), in_hw[a], k_hw[a], self.stride[a], self.dilation[a]) for a in (0, 1))

    def check_grad_shape(self, g_shape, in_hw, k_hw) -> None:
        for axis, (expected, actual) in enumerate(zip(self.output_hw(in_hw, k_hw), g_shape[2:])):
            _merge_dim(expected, actual, f"the gradient's {_AXES[axis]} and the convolution output's")

    @staticmethod
    def multiply_add_flops(out_shape, w_shape) -> int:
        """2 * N * O * Ho * Wo * C * kh * kw for a convolution output (or its gradient) and the OIHW filter shape."""
        return 2 * math.prod(out_shape) * math.prod(w_shape[1:])


def _at_run_time(check, *shapes):
    """Run a static shape check on concrete shapes (dimensions unknown statically are checked once known).

    Its ShapeError becomes a ValueError, which the evaluator reports as an EvaluationError naming the node."""
    try:
        return check(*shapes)
    except ShapeError as error:
        raise ValueError(str(error)) from None


# -- NumPy kernels --------------------------------------------------------------------------------------------------

def _pad(x: np.ndarray, pads, value=0) -> np.ndarray:
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _im2col(x: np.ndarray, k_hw, stride, dilation) -> np.ndarray:
    """The windows of the (already padded) x as a C-ordered (N * Ho * Wo, kh * kw * C) matrix.

    Channels last: the gather then copies runs of C contiguous values (from an NHWC copy of x), about twice as fast
    as gathering kernel rows of kw values from NCHW."""
    channels_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    effective = tuple(d * (k - 1) + 1 for k, d in zip(k_hw, dilation))
    view = sliding_window_view(channels_last, effective, axis=(1, 2))  # (N, Ho', Wo', C, kh', kw')
    windows = view[:, ::stride[0], ::stride[1], :, ::dilation[0], ::dilation[1]]
    n, out_h, out_w, c, k_h, k_w = windows.shape
    return np.ascontiguousarray(windows.transpose(0, 1, 2, 4, 5, 3)).reshape(n * out_h * out_w, k_h * k_w * c)


def _filters_as_rows(w: np.ndarray) -> np.ndarray:
    """OIHW filters as an (O, kh * kw * C) matrix matching _im2col's column order."""
    return w.transpose(0, 2, 3, 1).reshape(w.shape[0], int(np.prod(w.shape[1:])))


def _channels_first_rows(g: np.ndarray) -> np.ndarray:
    """An NCHW gradient as a (C, N * H * W) matrix."""
    return np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(g.shape[1], g.shape[0] * g.shape[2] * g.shape[3])


def _tap(padded: np.ndarray, p: int, q: int, out_hw, stride, dilation) -> np.ndarray:
    """The (N, C, Ho, Wo) view of ``padded`` holding kernel tap (p, q) of every window."""
    rows = slice(p * dilation[0], p * dilation[0] + stride[0] * (out_hw[0] - 1) + 1, stride[0])
    cols = slice(q * dilation[1], q * dilation[1] + stride[1] * (out_hw[1] - 1) + 1, stride[1])
    return padded[:, :, rows, cols]


def _scatter_windows(padded: np.ndarray, k_hw, out_hw, stride, dilation, taps) -> np.ndarray:
    """The adjoint of _im2col's gather: add ``taps(p, q)`` (shaped like a _tap view) into ``padded`` at tap (p, q)."""
    for p in range(k_hw[0]):
        for q in range(k_hw[1]):
            view = _tap(padded, p, q, out_hw, stride, dilation)
            view += taps(p, q)
    return padded


def _crop(padded: np.ndarray, pads, in_hw) -> np.ndarray:
    (top, _), (left, _) = pads
    return np.ascontiguousarray(padded[:, :, top:top + in_hw[0], left:left + in_hw[1]])


def _windows_hw(in_hw, pads, k_hw, stride, dilation) -> tuple:
    return tuple((in_hw[a] + sum(pads[a]) - dilation[a] * (k_hw[a] - 1) - 1) // stride[a] + 1 for a in (0, 1))


def _conv_forward(x, w, stride, pads, dilation):
    out_h, out_w = _windows_hw(x.shape[2:], pads, w.shape[2:], stride, dilation)
    if out_h * out_w == 0:  # "same" padding of an empty image: no windows
        return np.zeros((x.shape[0], w.shape[0], out_h, out_w), np.result_type(x, w))
    cols = _im2col(_pad(x, pads), w.shape[2:], stride, dilation)  # (N Ho Wo, kh kw C)
    out = (cols @ _filters_as_rows(w).T).reshape(x.shape[0], out_h, out_w, w.shape[0])
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _conv_backprop_input(g, w, in_hw, stride, pads, dilation, dtype):
    n, out_channels, out_h, out_w = g.shape
    channels, k_h, k_w = w.shape[1:]
    if out_h * out_w == 0:  # no windows: nothing flows back
        return np.zeros((n, channels) + tuple(in_hw), dtype)
    g_rows = _channels_first_rows(g)  # (O, N Ho Wo)
    cols = (w.reshape(out_channels, channels * k_h * k_w).T @ g_rows).reshape(channels, k_h, k_w, n, out_h, out_w)
    padded = np.zeros((channels, n, in_hw[0] + sum(pads[0]), in_hw[1] + sum(pads[1])), dtype)  # C and N swapped
    _scatter_windows(padded, (k_h, k_w), (out_h, out_w), stride, dilation, lambda p, q: cols[:, p, q])
    return _crop(padded.transpose(1, 0, 2, 3), pads, in_hw)


def _conv_backprop_filter(x, g, k_hw, stride, pads, dilation):
    out_channels, channels = g.shape[1], x.shape[1]
    if g.shape[2] * g.shape[3] == 0:  # no windows: the filters receive nothing
        return np.zeros((out_channels, channels) + tuple(k_hw), np.result_type(x, g))
    cols = _im2col(_pad(x, pads), k_hw, stride, dilation)  # (N Ho Wo, kh kw C)
    g_rows = _channels_first_rows(g)  # (O, N Ho Wo)
    filters = (g_rows @ cols).reshape((out_channels,) + tuple(k_hw) + (channels,))
    return np.ascontiguousarray(filters.transpose(0, 3, 1, 2))


# -- conv2d and its two backprop ops --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Conv2d(ConvGeometry):
    """y[n, o, i, j] = sum_{c, p, q} pad(x)[n, c, i*sh + p*dh, j*sw + q*dw] * w[o, c, p, q]."""

    stride: tuple
    padding: object  # "same", "full" or ((top, bottom), (left, right))
    dilation: tuple
    name: ClassVar[str] = "conv2d"

    def infer(self, x, w):
        _require(x, 4, "NCHW", "the conv2d input")
        _require(w, 4, "OIHW", "the conv2d filter")
        mismatch = _channel_mismatch(x.shape, w.shape)
        if mismatch:
            raise ShapeError(mismatch)
        out_hw = self.output_hw(x.shape[2:], w.shape[2:])
        return (x.shape[0], w.shape[0]) + out_hw, np.result_type(x.dtype, w.dtype)

    def compute(self, x, w):
        mismatch = _channel_mismatch(x.shape, w.shape)  # unknown channels: checked now (else a matmul error)
        if mismatch:
            raise ValueError(mismatch)
        _at_run_time(self.output_hw, x.shape[2:], w.shape[2:])
        pads = self.pads(x.shape[2:], w.shape[2:])
        return _conv_forward(x, w, self.stride, pads, self.dilation).astype(np.result_type(x, w), copy=False)

    def flops(self, node, input_shapes, output_shape):
        return self.multiply_add_flops(output_shape, input_shapes[1])

    def grad(self, node, g):
        x, w = node.inputs
        # bilinear: dx = J_x^T g (transposed convolution of g with w), dw = J_w^T g (correlation of x with g)
        return [conv2d_backprop_input(g, w, x, *self.geometry()), conv2d_backprop_filter(x, g, w, *self.geometry())]


@dataclass(frozen=True)
class Conv2dBackpropInput(ConvGeometry):
    """J_x^T g for y = conv2d(x, w): shaped like the reference x (used for its shape only)."""

    stride: tuple
    padding: object
    dilation: tuple
    name: ClassVar[str] = "conv2d_backprop_input"

    def infer(self, g, w, x):
        _require(g, 4, "NCHW", "the conv2d_backprop_input gradient")
        _require(w, 4, "OIHW", "the conv2d_backprop_input filter")
        if x.ndim != 4:
            raise ShapeError(f"the reference input must have rank 4 (NCHW), got shape {format_shape(x.shape)}")
        return self.merged_shape(g.shape, w.shape, x.shape), np.result_type(g.dtype, w.dtype)

    def merged_shape(self, g_shape, w_shape, x_shape) -> tuple:
        batch = _merge_dim(g_shape[0], x_shape[0], "the gradient's and the input's batch sizes")
        channels = _merge_dim(w_shape[1], x_shape[1], "the filter's and the input's channels")
        _merge_dim(g_shape[1], w_shape[0], "the gradient's channels and the filter's output channels")
        self.check_grad_shape(g_shape, x_shape[2:], w_shape[2:])
        return (batch, channels) + tuple(x_shape[2:])

    def compute(self, g, w, x):
        _at_run_time(self.merged_shape, g.shape, w.shape, x.shape)
        in_hw = x.shape[2:]
        pads = self.pads(in_hw, w.shape[2:])
        return _conv_backprop_input(g, w, in_hw, self.stride, pads, self.dilation, np.result_type(g, w))

    def flops(self, node, input_shapes, output_shape):
        return self.multiply_add_flops(input_shapes[0], input_shapes[1])

    def grad(self, node, h):
        g, w, x = node.inputs
        # <h, BI(g, w)> = <g, conv2d(h, w)> = <BF(h, g), w>
        return [conv2d(h, w, *self.geometry()), conv2d_backprop_filter(h, g, w, *self.geometry()), None]


@dataclass(frozen=True)
class Conv2dBackpropFilter(ConvGeometry):
    """J_w^T g for y = conv2d(x, w): shaped like the reference w (used for its shape only)."""

    stride: tuple
    padding: object
    dilation: tuple
    name: ClassVar[str] = "conv2d_backprop_filter"

    def infer(self, x, g, w):
        _require(x, 4, "NCHW", "the conv2d_backprop_filter input")
        _require(g, 4, "NCHW", "the conv2d_backprop_filter gradient")
        if w.ndim != 4:
            raise ShapeError(f"the reference filter must have rank 4 (OIHW), got shape {format_shape(w.shape)}")
        return self.merged_shape(x.shape, g.shape, w.shape), np.result_type(x.dtype, g.dtype)

    def merged_shape(self, x_shape, g_shape, w_shape) -> tuple:
        _merge_dim(x_shape[0], g_shape[0], "the input's and the gradient's batch sizes")
        out_channels = _merge_dim(g_shape[1], w_shape[0], "the gradient's channels and the filter's output channels")
        channels = _merge_dim(x_shape[1], w_shape[1], "the input's and the filter's channels")
        self.check_grad_shape(g_shape, x_shape[2:], w_shape[2:])
        return (out_channels, channels) + tuple(w_shape[2:])

    def compute(self, x, g, w):
        _at_run_time(self.merged_shape, x.shape, g.shape, w.shape)
        k_hw = w.shape[2:]
        pads = self.pads(x.shape[2:], k_hw)
        result = _conv_backprop_filter(x, g, k_hw, self.stride, pads, self.dilation)
        return result.astype(np.result_type(x, g), copy=False)

    def flops(self, node, input_shapes, output_shape):
        return self.multiply_add_flops(input_shapes[1], output_shape)

    def grad(self, node, h):
        x, g, w = node.inputs
        # <h, BF(x, g)> = <g, conv2d(x, h)> = <BI(g, h), x>
        return [conv2d_backprop_input(g, h, x, *self.geometry()), conv2d(x, h, *self.geometry()), None]


@builder
def conv2d(x, w, stride=1, padding="valid", dilation=1, name=None) -> Node:
    """2-D cross-correlation of NCHW ``x`` with OIHW filters ``w`` (PyTorch's / TF's conv2d), float32 or float64.

    ``stride`` and ``dilation`` are an int or (sh, sw) / (dh, dw). ``padding`` is "valid", "same" (TF's rule: output
    size ceil(size / stride), odd padding on the bottom / right), "full" (dilation * (k - 1) on every side), an int,
    (ph, pw), or ((top, bottom), (left, right)).
    """
    x, w = as_nodes(x, w)
    op = Conv2d(_pair(stride, "stride", 1), _conv_padding(padding), _pair(dilation, "dilation", 1))
    return apply(op, x, w, name=name)


@builder
def conv2d_backprop_input(g, w, x_like, stride=1, padding="valid", dilation=1, name=None) -> Node:
    """The gradient of conv2d(x, w) with respect to x for output gradient ``g`` (a transposed convolution).

    ``x_like`` is any node of x's shape (only its run-time shape is used).
    """
    g, w, x_like = as_node(g), as_node(w), as_node(x_like)
    op = Conv2dBackpropInput(_pair(stride, "stride", 1), _conv_padding(padding), _pair(dilation, "dilation", 1))
    return apply(op, g, w, x_like, name=name)


@builder
def conv2d_backprop_filter(x, g, w_like, stride=1, padding="valid", dilation=1, name=None) -> Node:
    """The gradient of conv2d(x, w) with respect to w for output gradient ``g``.

    ``w_like`` is any node of w's shape (only its run-time shape is used).
    """
    x, g, w_like = as_node(x), as_node(g), as_node(w_like)
    op = Conv2dBackpropFilter(_pair(stride, "stride", 1), _conv_padding(padding), _pair(dilation, "dilation", 1))
    return apply(op, x, g, w_like, name=name)


# -- convolve2d -----------------------------------------------------------------------------------------------------

CONVOLVE_MODES = ("full", "valid", "same")


@builder
def convolve2d(a, b, mode="full", name=None) -> Node:
    """The 2-D convolution of two 2-D arrays (kernel flipped), exactly as ``scipy.signal.convolve2d``.

    "full" has shape (Ha + Hb - 1, Wa + Wb - 1); "same" has a's shape, centered as SciPy does (starting at row
    (Hb - 1) // 2 of the full result); "valid" has shape (|Ha - Hb| + 1, |Wa - Wb| + 1) and needs one operand at
    least as large as the other in every dimension (convolution commutes, so b may be the larger). Built from
    conv2d (flip + NCHW reshape + padding), so it is differentiable to any order. "same" needs b's shape
    statically; "valid" with unknown sizes assumes that a is the larger. Dtypes promote as SciPy's: integer
    operands give an integer result (computed in float64, exact while the values stay below 2**53).
    """
    a, b = as_nodes(a, b)
    for operand, what in ((a, "the first operand"), (b, "the second operand")):
        if operand.ndim != 2:
            raise ShapeError(f"takes 2-D arrays, but {what} has shape {format_shape(operand.shape)}")
        if 0 in operand.shape:
            raise ShapeError(f"{what} has shape {format_shape(operand.shape)}: convolve2d is built from conv2d, "
                             "which (as PyTorch's) needs non-empty images and kernels")
    dtype = np.result_type(a.dtype, b.dtype)
    if dtype.kind == "b":
        raise DTypeError("two bool operands have no arithmetic result type (scipy.signal.convolve2d refuses them "
                         "too); cast one of them to a number type")
    if not isinstance(mode, str) or mode not in CONVOLVE_MODES:
        raise ShapeError(f"mode must be one of {', '.join(map(repr, CONVOLVE_MODES))}, got {mode!r}")
    if mode == "same" and any(d is None for d in b.shape):
        raise ShapeError(f"'same' mode needs the second operand's shape statically, got {format_shape(b.shape)}")
    if dtype.kind == "f":  # mixed int and float operands promote as in SciPy (int64 with float32: float64)
        return _convolve_mode(cast(a, dtype), cast(b, dtype), mode, name)
    return cast(_convolve_mode(cast(a, dtypes.float64), cast(b, dtypes.float64), mode, None), dtype, name=name)


def _convolve_mode(a: Node, b: Node, mode: str, name) -> Node:
    """convolve2d of float operands in one of the modes."""
    if mode == "valid":
        known = all(d is not None for d in a.shape + b.shape)
        a_larger = known and all(da >= db for da, db in zip(a.shape, b.shape))
        b_larger = known and all(db >= da for da, db in zip(a.shape, b.shape))
        if known and not (a_larger or b_larger):
            raise ShapeError(f"for 'valid' mode one operand must be at least as large as the other in every "
                             f"dimension, got {format_shape(a.shape)} and {format_shape(b.shape)}")
        if b_larger and not a_larger:
            a, b = b, a  # a * b = b * a
        return _convolve(a, b, "valid", name)
    if mode == "full":
        return _convolve(a, b, "full", name)
    # the full result cropped from row (k - 1) // 2 on: with the flipped kernel, pad ceil((k-1)/2) before
    return _convolve(a, b, tuple((k - 1 - (k - 1) // 2, (k - 1) // 2) for k in b.shape), name)


def _convolve(a: Node, b: Node, padding, name) -> Node:
    flipped = index(b, (slice(None, None, -1), slice(None, None, -1)))
    result = conv2d(expand_dims(a, (0, 1)), expand_dims(flipped, (0, 1)), padding=padding)
    return squeeze(result, (0, 1), name=name)


# -- pooling --------------------------------------------------------------------------------------------------------

def _pool_args(kernel, stride, padding):
    kernel = _pair(kernel, "the pooling kernel", 1)
    stride = kernel if stride is None else _pair(stride, "stride", 1)
    padding = _pair(padding, "padding", 0)
    for axis in (0, 1):
        if padding[axis] > kernel[axis] // 2:
            raise ShapeError(f"padding {padding[axis]} along the {_AXES[axis]} is more than half the kernel size "
                             f"{kernel[axis]} (as in PyTorch, a window must not lie wholly in the padding)")
    return kernel, stride, padding


class PoolGeometry(Op):
    """Shared by the pooling ops: kernel, stride and symmetric padding (ph, pw)."""

    def attrs(self):
        return self.kernel, self.stride, self.padding

    @property
    def pads(self):
        return (self.padding[0],) * 2, (self.padding[1],) * 2

    def output_hw(self, in_hw) -> tuple:
        return tuple(_axis_out(a, self.pads[a], in_hw[a], self.kernel[a], self.stride[a], 1) for a in (0, 1))

    def pooled_shape(self, x_shape) -> tuple:
        return tuple(x_shape[:2]) + self.output_hw(x_shape[2:])

    def tap_flops(self, pooled_shape) -> int:
        """One FLOP per tap of every window (N * C * Ho * Wo windows of kh * kw taps)."""
        return math.prod(pooled_shape) * self.kernel[0] * self.kernel[1]

    def check_pooled(self, shape, x_shape, what) -> tuple:
        """The pooled shape of x, merged with ``shape`` (which must be it)."""
        expected = self.pooled_shape(x_shape)
        return tuple(_merge_dim(e, a, f"{what}'s shape {format_shape(tuple(shape))} and the pooled shape "
                                      f"{format_shape(expected)}") for e, a in zip(expected, shape))

    def taps(self, x, fill):
        """(k, view) per kernel tap, k = p * kw + q: the (N, C, Ho, Wo) view of the padded x at tap (p, q)."""
        padded = _pad(x, self.pads, fill)
        out_hw = _windows_hw(x.shape[2:], self.pads, self.kernel, self.stride, (1, 1))
        for p in range(self.kernel[0]):
            for q in range(self.kernel[1]):
                yield p * self.kernel[1] + q, _tap(padded, p, q, out_hw, self.stride, (1, 1))

    def argmax(self, x):
        """Each window's first maximum (row-major tap k = p * kw + q): only a strictly greater value replaces it."""
        best = winners = None
        for k, tap in self.taps(x, -np.inf):
            if best is None:
                best, winners = tap.copy(), np.zeros(tap.shape, np.intp)
                continue
            better = tap > best
            winners[better] = k
            np.copyto(best, tap, where=better)
        return winners

    def scatter(self, g, in_hw, taps):
        """Add ``taps(p, q)`` (shaped like the pooled g) at each window's tap (p, q); crop to ``in_hw``."""
        n, c, out_h, out_w = g.shape
        padded = np.zeros((n, c, in_hw[0] + 2 * self.padding[0], in_hw[1] + 2 * self.padding[1]), g.dtype)
        _scatter_windows(padded, self.kernel, (out_h, out_w), self.stride, (1, 1), taps)
        return _crop(padded, self.pads, in_hw)


@dataclass(frozen=True)
class MaxPool2d(PoolGeometry):
    """y[n, c, i, j] = max over the window of the -inf-padded x."""

    kernel: tuple
    stride: tuple
    padding: tuple
    name: ClassVar[str] = "max_pool2d"

    def infer(self, x):
        _require(x, 4, "NCHW", "the max_pool2d input")
        return self.pooled_shape(x.shape), x.dtype

    def compute(self, x):
        _at_run_time(self.output_hw, x.shape[2:])
        result = None
        for _, tap in self.taps(x, -np.inf):
            result = tap.copy() if result is None else np.maximum(result, tap, out=result)
        return result

    def flops(self, node, input_shapes, output_shape):
        return self.tap_flops(output_shape)  # a comparison per tap

    def grad(self, node, g):
        return [max_pool2d_grad(node.inputs[0], g, *self.attrs())]  # g goes to each window's first maximum


@dataclass(frozen=True)
class MaxPool2dGrad(PoolGeometry):
    """Zeros shaped like x with g[n, c, i, j] added at the first maximum of window (i, j) (select and scatter)."""

    kernel: tuple
    stride: tuple
    padding: tuple
    name: ClassVar[str] = "max_pool2d_grad"

    def infer(self, x, g):
        _require(x, 4, "NCHW", "the max_pool2d_grad input")
        _require(g, 4, "NCHW", "the max_pool2d_grad gradient")
        self.check_pooled(g.shape, x.shape, "the gradient")
        return x.shape, g.dtype

    def compute(self, x, g):
        _at_run_time(self.check_pooled, g.shape, x.shape, "the gradient")
        winners = self.argmax(x)
        k_w = self.kernel[1]
        return self.scatter(g, x.shape[2:], lambda p, q: np.where(winners == p * k_w + q, g, 0))

    def flops(self, node, input_shapes, output_shape):
        g_shape = input_shapes[1]
        return self.tap_flops(g_shape) + math.prod(g_shape)  # each window's argmax search, then one addition

    def grad(self, node, h):
        x, g = node.inputs
        # linear in g (adjoint: read h at the same argmax positions); piecewise constant in x
        return [None, max_pool2d_gather(x, h, *self.attrs())]


@dataclass(frozen=True)
class MaxPool2dGather(PoolGeometry):
    """h read at the first maximum of each of x's windows: pooled-shaped (the adjoint of max_pool2d_grad in g)."""

    kernel: tuple
    stride: tuple
    padding: tuple
    name: ClassVar[str] = "max_pool2d_gather"

    def infer(self, x, h):
        _require(x, 4, "NCHW", "the max_pool2d_gather input")
        _require(h, 4, "NCHW", "the max_pool2d_gather values")
        self.check_like_input(x.shape, h.shape)
        return self.pooled_shape(x.shape), h.dtype

    def check_like_input(self, x_shape, h_shape) -> None:
        for axis in range(4):
            _merge_dim(x_shape[axis], h_shape[axis], "the input's and the values' shapes")
        self.output_hw(x_shape[2:])

    def compute(self, x, h):
        _at_run_time(self.check_like_input, x.shape, h.shape)
        winners = self.argmax(x)
        result = np.zeros(winners.shape, h.dtype)
        for k, tap in self.taps(h, 0):
            np.copyto(result, tap, where=winners == k)
        return result

    def flops(self, node, input_shapes, output_shape):
        return self.tap_flops(output_shape)  # each window's argmax search; reading h there is indexing

    def grad(self, node, g):
        x, h = node.inputs
        # linear in h: the adjoint scatters g back to the argmax positions; piecewise constant in x
        return [None, max_pool2d_grad(x, g, *self.attrs())]


@dataclass(frozen=True)
class AvgPool2d(PoolGeometry):
    """y[n, c, i, j] = the sum over the window of the zero-padded x, divided by kh * kw (padding counts)."""

    kernel: tuple
    stride: tuple
    padding: tuple
    name: ClassVar[str] = "avg_pool2d"

    def infer(self, x):
        _require(x, 4, "NCHW", "the avg_pool2d input")
        return self.pooled_shape(x.shape), x.dtype

    def compute(self, x):
        _at_run_time(self.output_hw, x.shape[2:])
        total = None
        for _, tap in self.taps(x, 0):
            total = tap.copy() if total is None else np.add(total, tap, out=total)
        return total / np.asarray(self.kernel[0] * self.kernel[1], x.dtype)

    def flops(self, node, input_shapes, output_shape):
        return self.tap_flops(output_shape)  # kh * kw - 1 additions and a division per window

    def grad(self, node, g):
        return [avg_pool2d_grad(g, node.inputs[0], *self.attrs())]  # each window spreads g / (kh kw) over itself


@dataclass(frozen=True)
class AvgPool2dGrad(PoolGeometry):
    """g[n, c, i, j] / (kh * kw) added over window (i, j), shaped like the reference x: the adjoint of avg_pool2d."""

    kernel: tuple
    stride: tuple
    padding: tuple
    name: ClassVar[str] = "avg_pool2d_grad"

    def infer(self, g, x):
        _require(g, 4, "NCHW", "the avg_pool2d_grad gradient")
        if x.ndim != 4:
            raise ShapeError(f"the reference input must have rank 4 (NCHW), got shape {format_shape(x.shape)}")
        merged = self.check_pooled(g.shape, x.shape, "the gradient")
        return merged[:2] + x.shape[2:], g.dtype

    def compute(self, g, x):
        _at_run_time(self.check_pooled, g.shape, x.shape, "the gradient")
        share = g / np.asarray(self.kernel[0] * self.kernel[1], g.dtype)
        return self.scatter(g, x.shape[2:], lambda p, q: share)

    def flops(self, node, input_shapes, output_shape):
        g_shape = input_shapes[0]
        return self.tap_flops(g_shape) + math.prod(g_shape)  # a division per window, an addition per tap

    def grad(self, node, h):
        return [avg_pool2d(h, *self.attrs()), None]  # linear in g: the adjoint of the adjoint is avg_pool2d


@builder
def max_pool2d(x, kernel, stride=None, padding=0, name=None) -> Node:
    """Max over kh x kw windows of NCHW x (stride defaults to the kernel; symmetric -inf padding <= kernel // 2).

    The gradient goes to the first maximal element of each window in row-major order (PyTorch's rule).
    """
    x = as_node(x)
    return apply(MaxPool2d(*_pool_args(kernel, stride, padding)), x, name=name)


@builder
def max_pool2d_grad(x, g, kernel, stride=None, padding=0, name=None) -> Node:
    """The gradient of max_pool2d(x) for output gradient g: g scattered to each window's first maximum."""
    x, g = as_node(x), as_node(g)
    return apply(MaxPool2dGrad(*_pool_args(kernel, stride, padding)), x, g, name=name)


@builder
def max_pool2d_gather(x, h, kernel, stride=None, padding=0, name=None) -> Node:
    """h (shaped like x) read at each of x's windows' first maximum: the adjoint of max_pool2d_grad in g."""
    x, h = as_node(x), as_node(h)
    return apply(MaxPool2dGather(*_pool_args(kernel, stride, padding)), x, h, name=name)


@builder
def avg_pool2d(x, kernel, stride=None, padding=0, name=None) -> Node:
    """Mean over kh x kw windows of NCHW x (stride defaults to the kernel).

    Zero padding (symmetric, <= kernel // 2) counts in the mean, as PyTorch's default count_include_pad=True.
    """
    x = as_node(x)
    return apply(AvgPool2d(*_pool_args(kernel, stride, padding)), x, name=name)


@builder
def avg_pool2d_grad(g, x_like, kernel, stride=None, padding=0, name=None) -> Node:
    """The gradient of avg_pool2d(x) for output gradient g; ``x_like`` gives x's (run-time) shape."""
    g, x_like = as_node(g), as_node(x_like)
    return apply(AvgPool2dGrad(*_pool_args(kernel, stride, padding)), g, x_like, name=name)
