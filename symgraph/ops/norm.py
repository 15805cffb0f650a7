"""``sg.linalg.norm``: vector and matrix norms as numpy.linalg.norm computes them, as compositions of existing ops
(abs, square, pow, sum, max, min, where), so their gradients, printing, saving and Numba code are those ops'.

At 0 the gradient is 0, as PyTorch's torch.linalg.norm gives (a subgradient): the 2-norm, Frobenius and p-norms
take their root through ``where`` so that no 0 * inf appears, to every order; abs'(0) = 0 gives the 1-norm's; max
and min split the inf-norms' gradient evenly among ties. JAX gives NaN for the 2-norm at 0 (and 1 for the 1-norm).
"""

from __future__ import annotations

import numbers

import numpy as np

from symgraph import dtypes
from symgraph.errors import ShapeError
from symgraph.graph import Node, as_node, builder, user_site
from symgraph.ops.base import normalize_axis
from symgraph.ops.elementwise import abs, cast, not_equal, pow, sign, square, where
from symgraph.ops.products import named
from symgraph.ops.reduce import (
    bool_argument, max, min, sqrt_with_zero_gradient_at_zero, sum,
)
from symgraph.ops.shape import squeeze


def _refuse(message: str, error=ValueError):
    raise error(f"norm: {message}\n  at {user_site()}")


def _order(ord_):
    """None, 'fro', 'nuc', or a real number (inf included, NaN not)."""
    if ord_ is None or (isinstance(ord_, str) and ord_ in ("fro", "nuc")):
        return ord_
    if isinstance(ord_, (bool, np.bool_)) or not isinstance(ord_, numbers.Real):
        _refuse(f"ord must be None, a number, 'fro' or 'nuc', got {type(ord_).__name__} {ord_!r:.60}", TypeError)
    if ord_ != ord_:
        _refuse("ord must not be NaN")
    try:
        return float(ord_)
    except OverflowError:
        return float(np.sign(ord_) * np.inf)  # an int beyond the floats: the limit of its p-norm


def _axes(axis, ndim: int):
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        if len(axis) not in (1, 2):
            _refuse(f"axis must be an int or a pair of ints (a vector or a matrix norm), got {axis!r:.60}")
        axes = tuple(normalize_axis(a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ShapeError(f"axis {axis!r} names one axis twice")
        return axes
    return (normalize_axis(axis, ndim),)


def root_with_zero_gradient_at_zero(s: Node, p: float) -> Node:
    """s ** (1 / p) for s >= 0 (NaN stays NaN) with gradient 0 where s == 0 (the norm's subgradient at 0)."""
    if p == 2:
        return sqrt_with_zero_gradient_at_zero(s)
    positive = s > 0
    return where(positive, pow(where(positive, s, 1), 1 / p), sign(s))  # else s is 0 or NaN: sign(s) is s


def _vector_norm(x: Node, p, axes: tuple | None, keepdims: bool) -> Node:
    magnitude = abs(x)
    if p is None or p == 2:
        return sqrt_with_zero_gradient_at_zero(sum(square(x), axes, keepdims=keepdims))
    if p == np.inf:
        return max(magnitude, axes, keepdims=keepdims)
    if p == -np.inf:
        return min(magnitude, axes, keepdims=keepdims)
    if p == 0:
        return sum(cast(not_equal(x, 0), x.dtype), axes, keepdims=keepdims)  # the count of non-zeros
    if p == 1:
        return sum(magnitude, axes, keepdims=keepdims)
    # sum(|x| ** p) ** (1 / p); at x == 0 the power is 0 (p > 0) or inf (p < 0) with no gradient either way
    nonzero = not_equal(magnitude, 0)
    powered = where(nonzero, pow(where(nonzero, magnitude, 1), p), 0 if p > 0 else np.inf)
    return root_with_zero_gradient_at_zero(sum(powered, axes, keepdims=keepdims), p)


def _matrix_norm(x: Node, p, axes: tuple, keepdims: bool) -> Node:
    rows, columns = axes
    if p is None or p == "fro":
        return sqrt_with_zero_gradient_at_zero(sum(square(x), tuple(sorted(axes)), keepdims=keepdims))
    if p in (1, -1, np.inf, -np.inf):
        summed_axis, extreme_axis = (rows, columns) if p in (1, -1) else (columns, rows)  # column or row sums
        sums = sum(abs(x), summed_axis, keepdims=True)
        result = (max if p > 0 else min)(sums, extreme_axis, keepdims=True)
        return result if keepdims else squeeze(result, tuple(sorted(axes)))
    if p in ("nuc", 2, -2):
        _refuse(f"ord={p!r} for matrices is a norm of the singular values, which needs an SVD that symgraph does not "
                "have; use 'fro', 1, -1, inf or -inf")
    _refuse(f"ord={p!r} is no matrix norm (numpy.linalg.norm takes None, 'fro', 'nuc', 1, -1, 2, -2, inf, -inf)")


@builder
def norm(x, ord=None, axis=None, keepdims=False, name=None) -> Node:  # noqa: A002 (NumPy's name)
    """numpy.linalg.norm(x, ord, axis, keepdims). ``axis`` an int (or None on a 1-D x): the vector norm of ``ord``
    None or 2 (Euclidean), 1, inf, -inf, 0 (the count of non-zeros) or any real p (sum(|x|**p)**(1/p)); ``axis`` a
    pair (or None on a 2-D x): the matrix norm of ``ord`` None or 'fro' (Frobenius), 1 and -1 (largest and smallest
    column sum of |x|), inf and -inf (row sums). With ``ord`` and ``axis`` None, the 2-norm of x flattened, whatever
    its rank. Integer and bool inputs are float64, as NumPy's. The gradient at 0 is 0, as PyTorch's (see this
    module); 'nuc', 2 and -2 for matrices (singular values) are refused."""
    x = as_node(x)
    p = _order(ord)
    keepdims = bool_argument(keepdims, "norm's keepdims", x)
    axes = _axes(axis, x.ndim)
    if not dtypes.is_float(x.dtype):
        x = cast(x, "float64")
    if axes is None:
        if p is None:
            return named(_vector_norm(x, None, None, keepdims), name)
        if x.ndim not in (1, 2):
            raise ShapeError(f"ord={ord!r} with axis=None takes a 1-D or 2-D input (a vector or a matrix norm), got "
                             f"{x.ndim} dimensions; give axis")
        axes = tuple(range(x.ndim))
    if len(axes) == 1:
        if isinstance(p, str):
            _refuse(f"ord={p!r} is a matrix norm, but axis {axis!r} names one axis (a vector)")
        return named(_vector_norm(x, p, axes, keepdims), name)
    return named(_matrix_norm(x, p, axes, keepdims), name)
