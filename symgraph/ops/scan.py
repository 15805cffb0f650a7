"""Scans along one axis: cumsum and cumprod (NumPy semantics; ``axis=None`` scans the flattened input), and the
linear recurrence that their gradients are made of.

Gradients are exact everywhere, zeros in cumprod's input included, and differentiate again: the gradient of cumsum
is a reversed cumsum; the gradient of y = cumprod(x) is

    dL/dx_k = sum_{i >= k} g_i prod_{j <= i, j != k} x_j = y_{k-1} * r_k,   r_k = g_k + x_{k+1} r_{k+1}

(y_{-1} = 1): the product before k times a reversed linear recurrence, with no division by x (the textbook
reverse_cumsum(g * y) / x is 0 / 0 at a zero). The linear recurrence h_k = b_k + a_k h_{k-1} (reversed:
h_k = b_k + a_{k+1} h_{k+1}) is linear in b, and its gradients are recurrences again, so every order is exact. Each
scan costs one FLOP per element (a recurrence two: a multiply-add).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from symgraph import dtypes
from symgraph.errors import ShapeError
from symgraph.graph import Node, Op, apply, as_node, builder, format_shape
from symgraph.ops.base import normalize_axis, require_dtype_kind
from symgraph.ops.indexing import concatenate, index, zeros_like
from symgraph.ops.shape import reshape


def _one_per_element(op, node, input_shapes, output_shape) -> int:
    return math.prod(output_shape)


def _reversed_along(function, x: np.ndarray, axis: int) -> np.ndarray:
    """``function`` applied to x read backwards along ``axis``, its result read backwards again."""
    return np.flip(function(np.flip(x, axis)), axis)


def shifted(v: Node, axis: int, fill) -> Node:
    """v moved one step forward along ``axis``: element k holds v[k - 1], element 0 ``fill`` (a Python number)."""
    lead = (slice(None),) * axis
    first = zeros_like(index(v, lead + (slice(0, 1),)))
    return concatenate([first + fill if fill else first, index(v, lead + (slice(None, -1),))], axis)


@dataclass(frozen=True)
class Cumsum(Op):
    """Running sums along ``axis``; ``reverse``: from the end (sum of x[k:]), the gradient of a forward cumsum."""

    axis: int
    reverse: bool
    name: ClassVar[str] = "cumsum"
    flops = _one_per_element

    def infer(self, x):
        return x.shape, dtypes.result_dtype(np.cumsum, x.dtype)

    def compute(self, x):
        dtype = dtypes.result_dtype(np.cumsum, x.dtype)
        scan = lambda v: np.cumsum(v, axis=self.axis, dtype=dtype)  # noqa: E731
        return _reversed_along(scan, x, self.axis) if self.reverse else scan(x)

    def grad(self, node, g):
        return [apply(Cumsum(self.axis, not self.reverse), g)]  # each x_j reaches every later (earlier) sum once


@dataclass(frozen=True)
class Cumprod(Op):
    """Running products along ``axis``."""

    axis: int
    name: ClassVar[str] = "cumprod"
    flops = _one_per_element

    def infer(self, x):
        return x.shape, dtypes.result_dtype(np.cumprod, x.dtype)

    def compute(self, x):
        return np.cumprod(x, axis=self.axis, dtype=dtypes.result_dtype(np.cumprod, x.dtype))

    def grad(self, node, g):
        x = node.inputs[0]
        before = shifted(node, self.axis, 1)  # prod_{j < k} x_j
        return [before * linear_recurrence(x, g, self.axis, reverse=True)]


@dataclass(frozen=True)
class LinearRecurrence(Op):
    """h_k = b_k + a_k h_{k-1} along ``axis`` (h_{-1} = 0); ``reverse``: h_k = b_k + a_{k+1} h_{k+1} (h_n = 0).

    a[0] is never read; the reversed recurrence is the transpose of the forward one (as linear maps of b)."""

    axis: int
    reverse: bool
    name: ClassVar[str] = "linear_recurrence"

    def infer(self, a, b):
        require_dtype_kind(a, "f", "the multipliers of linear_recurrence")
        require_dtype_kind(b, "f", "the inputs of linear_recurrence")
        if a.ndim != b.ndim or any(p is not None and q is not None and p != q for p, q in zip(a.shape, b.shape)):
            raise ShapeError(f"multipliers of shape {format_shape(a.shape)} and inputs of shape "
                             f"{format_shape(b.shape)} must have the same shape")
        shape = tuple(p if p is not None else q for p, q in zip(a.shape, b.shape))
        return shape, np.result_type(a.dtype, b.dtype)

    def compute(self, a, b):
        if a.shape != b.shape:
            raise ValueError(f"multipliers of shape {a.shape} and inputs of shape {b.shape} differ at run time")
        a_, b_ = np.moveaxis(a, self.axis, 0), np.moveaxis(b, self.axis, 0)
        h = np.empty(b_.shape, np.result_type(a.dtype, b.dtype))
        n = h.shape[0]
        steps = range(n - 1, -1, -1) if self.reverse else range(n)
        previous = None
        for k in steps:
            h[k] = b_[k] if previous is None else b_[k] + (a_[k + 1] if self.reverse else a_[k]) * h[previous]
            previous = k
        return np.moveaxis(h, 0, self.axis)

    def flops(self, node, input_shapes, output_shape):
        return 2 * math.prod(output_shape)

    def grad(self, node, g):
        a, b = node.inputs
        transposed = linear_recurrence(a, g, self.axis, reverse=not self.reverse)  # d/db: the transposed map
        if self.reverse:  # h_k = b_k + a_{k+1} h_{k+1}: d/da_j = h_j * (forward recurrence of g)_{j-1}
            grad_a = node * shifted(transposed, self.axis, 0)
        else:  # h_k = b_k + a_k h_{k-1}: d/da_j = h_{j-1} * (reversed recurrence of g)_j
            grad_a = shifted(node, self.axis, 0) * transposed
        return [grad_a, transposed]


def linear_recurrence(a: Node, b: Node, axis: int, reverse: bool = False) -> Node:
    """The recurrence h_k = b_k + a_k h_{k-1} along ``axis`` (see LinearRecurrence); a and b of one shape."""
    return apply(LinearRecurrence(axis, reverse), a, b)


def _scan_input(x, axis, what: str) -> tuple[Node, int]:
    """x and the axis to scan: with axis None, x flattened (NumPy's rule) and axis 0."""
    x = as_node(x)
    if axis is None:
        return (x if x.ndim == 1 else reshape(x, (-1,))), 0
    if x.ndim == 0:
        raise ShapeError(f"{what}: axis {axis!r} given for a zero-dimensional input (use axis=None)")
    return x, normalize_axis(axis, x.ndim)


@builder
def cumsum(x, axis=None, name=None) -> Node:
    """Running sums along ``axis`` (of the flattened input when None), as numpy.cumsum: int64 for bool and int32
    inputs. The gradient is the reversed running sum of the output's gradient."""
    x, axis = _scan_input(x, axis, "cumsum")
    return apply(Cumsum(axis, False), x, name=name)


@builder
def cumprod(x, axis=None, name=None) -> Node:
    """Running products along ``axis`` (of the flattened input when None), as numpy.cumprod: int64 for bool and
    int32 inputs. The gradient is exact with zeros in x (no division by x; see this module), to every order."""
    x, axis = _scan_input(x, axis, "cumprod")
    return apply(Cumprod(axis), x, name=name)
