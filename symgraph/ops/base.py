"""Helpers shared by the op families: static broadcasting, axis normalization, dtype checks, lazy scipy.special,
the cost rule of ops that compute nothing."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from symgraph.errors import DTypeError, ShapeError
from symgraph.graph import MAX_DIM, Shape, format_shape


def scipy_special():
    """``scipy.special``, imported on first use: only a few ops' NumPy references need it (sigmoid and the softmax
    family), and importing it takes about 0.4 s, which ``import symgraph`` should not pay."""
    import scipy.special

    return scipy.special


def no_flops(op, node, input_shapes, output_shape) -> int:
    """The cost rule (``Op.flops``) of ops that move, select, cast or describe elements without arithmetic."""
    return 0


def broadcast_shapes(*shapes: Shape) -> Shape:
    """NumPy broadcasting on static shapes, where ``None`` is a size known only at run time.

    A dimension of 1 takes the other's size; ``None`` against a known size n > 1 gives n (the only size that can
    work); ``None`` against ``None`` stays ``None``. Known sizes that differ, neither being 1, are an error.
    """
    ndim = max((len(s) for s in shapes), default=0)
    result = []
    for axis in range(-ndim, 0):
        dims = [s[axis] for s in shapes if len(s) >= -axis]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            listed = " and ".join(format_shape(s) for s in shapes)
            raise ShapeError(f"shapes {listed} cannot be broadcast together (axis {axis})")
        if known:
            result.append(known.pop())
        elif None in dims:
            result.append(None)
        else:
            result.append(1)
    return tuple(result)


def normalize_axis(axis: int, ndim: int, what: str = "axis") -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ShapeError(f"{what} must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{what} {axis} is out of range for an input of rank {ndim}")
    return int(axis) % ndim


def normalize_axes(axis, ndim: int) -> tuple[int, ...] | None:
    """An ``axis`` argument (None, int or sequence) as a sorted tuple of non-negative axes, or None for all axes."""
    if axis is None:
        return None
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    normalized = tuple(sorted(normalize_axis(a, ndim) for a in axes))
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"repeated axis in {axis!r}")
    return normalized


def require_dtype_kind(node, kinds: str, what: str) -> None:
    if node.dtype.kind not in kinds:
        names = {"f": "floating", "i": "integer", "u": "integer", "b": "bool"}
        wanted = " or ".join(sorted({names[k] for k in kinds}))
        raise DTypeError(f"{what} must be {wanted}, got {node.dtype}")


def static_int_tuple(values: Sequence, what: str) -> tuple[int, ...]:
    """A tuple, list or 1-D integer array of ints (NumPy's included, bools and strings not) that fit an array index
    (|v| <= MAX_DIM), as a tuple of Python ints."""
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "iu":
        values = values.tolist()
    if not isinstance(values, (tuple, list)) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values):
        raise ShapeError(f"{what} must be a tuple of ints, got {type(values).__name__} {values!r:.80}")
    if any(not -MAX_DIM <= v <= MAX_DIM for v in values):
        raise ShapeError(f"{what} {values!r:.80} holds an int beyond {MAX_DIM}, the largest array size")
    return tuple(int(v) for v in values)


def known_size(shape: Shape) -> int | None:
    """The number of elements, or None if a dimension is unknown."""
    if any(d is None for d in shape):
        return None
    return int(np.prod(shape, dtype=np.int64))
