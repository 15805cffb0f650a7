"""Reductions over axes: sum, mean, max, min, prod, all, any (with keepdims), argmax and argmin, the run-time size
op, and var and std (compositions).

``axes`` is a sorted tuple of non-negative axes, or None for all axes; dtypes follow NumPy (sum of bools is int64,
mean of ints is float64, all/any are bool). Max/min gradients split evenly among tied elements. A reduction (argmax
and argmin too) costs one FLOP per input element: n - 1 additions or comparisons per n values reduced, and mean's
division.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from symgraph import dtypes
from symgraph.errors import ShapeError
from symgraph.graph import builder, Node, Op, apply, as_node, user_site
from symgraph.ops.base import known_size, no_flops, normalize_axes, normalize_axis
from symgraph.ops.elementwise import cast, div, equal, maximum, not_equal, sign, sqrt, square, where
from symgraph.ops.shape import broadcast_like, expand_dims


def reduced_shape(shape, axes, keepdims):
    reduced = range(len(shape)) if axes is None else axes
    if keepdims:
        return tuple(1 if i in reduced else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in reduced)


def bool_argument(value, what: str, node: Node | None = None) -> bool:
    """A flag that must be a bool: NumPy would read ``keepdims="yes"`` (or "False") as true, silently."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    of = f"\n  input: {node.describe()}" if node is not None else ""
    raise TypeError(f"{what} must be True or False, got {type(value).__name__} {value!r:.60}{of}\n  at {user_site()}")


def one_per_input_element(op, node, input_shapes, output_shape) -> int:
    """The cost rule of reductions."""
    return math.prod(input_shapes[0])


def _empty_axes(shape, axes) -> list[int]:
    """The reduced axes of size 0 (a reduction over them combines no values)."""
    return [a for a in (range(len(shape)) if axes is None else axes) if shape[a] == 0]


class Reduction(Op):
    reference: ClassVar = None
    flops = one_per_input_element

    def infer(self, x):
        return reduced_shape(x.shape, self.axes, self.keepdims), dtypes.result_dtype(type(self).reference, x.dtype)

    def compute(self, x):
        return np.asarray(type(self).reference(x, axis=self.axes, keepdims=self.keepdims))

    def kept(self, node, reduced):
        """A reduced node (g or the output) with the reduced axes restored as size 1, to broadcast against x."""
        if self.keepdims:
            return reduced
        x = node.inputs[0]
        return expand_dims(reduced, tuple(range(x.ndim)) if self.axes is None else self.axes)


@dataclass(frozen=True)
class Sum(Reduction):
    axes: tuple | None
    keepdims: bool
    name: ClassVar[str] = "sum"
    reference: ClassVar = staticmethod(np.sum)

    def grad(self, node, g):
        return [broadcast_like(self.kept(node, g), node.inputs[0])]  # each element contributes once


@dataclass(frozen=True)
class Mean(Reduction):
    axes: tuple | None
    keepdims: bool
    name: ClassVar[str] = "mean"
    reference: ClassVar = staticmethod(np.mean)

    def compute(self, x):
        if _empty_axes(np.shape(x), self.axes):  # the mean of no values is NaN, as NumPy's (minus its warning)
            dtype = dtypes.result_dtype(np.mean, x.dtype)
            return np.full(reduced_shape(np.shape(x), self.axes, self.keepdims), np.nan, dtype)
        return super().compute(x)

    def grad(self, node, g):
        x = node.inputs[0]
        return [broadcast_like(self.kept(node, g) / reduced_count(x, self.axes, g.dtype), x)]


@dataclass(frozen=True)
class Max(Reduction):
    axes: tuple | None
    keepdims: bool
    name: ClassVar[str] = "max"
    reference: ClassVar = staticmethod(np.max)

    def compute(self, x):
        _refuse_empty("max", x, self.axes)
        return super().compute(x)

    def grad(self, node, g):
        return [_extremum_grad(self, node, g)]


@dataclass(frozen=True)
class Min(Reduction):
    axes: tuple | None
    keepdims: bool
    name: ClassVar[str] = "min"
    reference: ClassVar = staticmethod(np.min)

    def compute(self, x):
        _refuse_empty("min", x, self.axes)
        return super().compute(x)

    def grad(self, node, g):
        return [_extremum_grad(self, node, g)]


def _refuse_empty(op_name: str, x, axes) -> None:
    """Max, min, argmax and argmin have no identity: over an empty axis they are undefined (NumPy refuses too)."""
    empty = _empty_axes(np.shape(x), axes)
    if empty:
        raise ValueError(f"{op_name} over an empty axis is undefined: axis {empty[0]} of the input of shape "
                         f"{np.shape(x)} has size 0 (NumPy refuses it too)")


def _extremum_grad(op, node, g):
    """The gradient goes to the elements equal to the extremum, split evenly among ties."""
    x = node.inputs[0]
    winners = cast(equal(x, op.kept(node, node)), g.dtype)
    return winners * (op.kept(node, g) / sum(winners, op.axes, keepdims=True))


@dataclass(frozen=True)
class Prod(Reduction):
    axes: tuple | None
    keepdims: bool
    name: ClassVar[str] = "prod"
    reference: ClassVar = staticmethod(np.prod)

    def grad(self, node, g):
        # d prod / d x_i is the product of the other elements; computed without dividing by zero:
        # no zero: prod / x_i; one zero: the product of the non-zeros at the zero, 0 elsewhere; more: 0.
        x = node.inputs[0]
        nonzero = not_equal(x, 0)
        safe_x = where(nonzero, x, 1)
        nonzero_product = prod(safe_x, self.axes, keepdims=True)
        zeros = sum(cast(equal(x, 0), x.dtype), self.axes, keepdims=True)
        one_zero = where(nonzero, 0, nonzero_product)
        others = where(equal(zeros, 0), nonzero_product / safe_x, where(equal(zeros, 1), one_zero, 0))
        return [self.kept(node, g) * others]


@dataclass(frozen=True)
class BooleanReduction(Reduction):
    """all and any: a bool result, through which no gradient flows."""

    axes: tuple | None
    keepdims: bool

    def grad(self, node, g):
        return [None]


@dataclass(frozen=True)
class All(BooleanReduction):
    """True where every element over the axes is non-zero (NaN counts as true), as numpy.all; True when empty."""

    name: ClassVar[str] = "all"
    reference: ClassVar = staticmethod(np.all)


@dataclass(frozen=True)
class Any(BooleanReduction):
    """True where some element over the axes is non-zero (NaN counts as true), as numpy.any; False when empty."""

    name: ClassVar[str] = "any"
    reference: ClassVar = staticmethod(np.any)


@dataclass(frozen=True)
class Argmax(Op):
    axis: int | None
    keepdims: bool
    name: ClassVar[str] = "argmax"
    flops = one_per_input_element

    def infer(self, x):
        axes = None if self.axis is None else (self.axis,)
        return reduced_shape(x.shape, axes, self.keepdims), dtypes.int64

    def compute(self, x):
        _refuse_empty("argmax", x, None if self.axis is None else (self.axis,))
        return np.asarray(np.argmax(x, axis=self.axis, keepdims=self.keepdims), dtype=np.int64)

    def grad(self, node, g):
        return [None]  # integer positions: no gradient


@dataclass(frozen=True)
class Argmin(Op):
    axis: int | None
    keepdims: bool
    name: ClassVar[str] = "argmin"
    flops = one_per_input_element

    def infer(self, x):
        axes = None if self.axis is None else (self.axis,)
        return reduced_shape(x.shape, axes, self.keepdims), dtypes.int64

    def compute(self, x):
        _refuse_empty("argmin", x, None if self.axis is None else (self.axis,))
        return np.asarray(np.argmin(x, axis=self.axis, keepdims=self.keepdims), dtype=np.int64)

    def grad(self, node, g):
        return [None]  # integer positions: no gradient


@dataclass(frozen=True)
class Size(Op):
    """The number of elements of x over ``axes`` (all when None) at run time, as an int64 scalar."""

    axes: tuple | None
    name: ClassVar[str] = "size"
    flops = no_flops  # reads the shape

    def infer(self, x):
        return (), dtypes.int64

    def compute(self, x):
        shape = np.shape(x)
        axes = range(len(shape)) if self.axes is None else self.axes
        return np.asarray(int(np.prod([shape[a] for a in axes], dtype=np.int64)), dtype=np.int64)

    def grad(self, node, g):
        return [None]  # depends only on the shape


def reduced_count(x: Node, axes, dtype) -> Node:
    """How many elements each reduction over ``axes`` combines, as a scalar of ``dtype`` (static when known)."""
    dims = [x.shape[a] for a in (range(x.ndim) if axes is None else axes)]
    count = known_size(tuple(dims))
    if count is not None:
        return as_node(np.asarray(count, dtype=dtype))
    return cast(apply(Size(axes), x), dtype)


def _reduction_builder(op_class, doc):
    def build(x, axis=None, keepdims=False, name=None):
        x = as_node(x)
        keepdims = bool_argument(keepdims, f"{op_class.name}'s keepdims", x)
        return apply(op_class(normalize_axes(axis, x.ndim), keepdims), x, name=name)

    build.__name__ = op_class.name
    build.__qualname__ = op_class.name
    build.__doc__ = doc
    return builder(build)


sum = _reduction_builder(Sum, "Sum over ``axis`` (int, tuple or None for all), as numpy.sum.")  # noqa: A001
mean = _reduction_builder(Mean, "Mean over ``axis`` (int, tuple or None for all), as numpy.mean.")
max = _reduction_builder(Max, "Maximum over ``axis``; the gradient is split evenly among ties.")  # noqa: A001
min = _reduction_builder(Min, "Minimum over ``axis``; the gradient is split evenly among ties.")  # noqa: A001
prod = _reduction_builder(Prod, "Product over ``axis`` (int, tuple or None for all), as numpy.prod.")
all = _reduction_builder(All, "Whether every element over ``axis`` is non-zero (bool; True over an empty "  # noqa: A001
                         "axis), as numpy.all. No gradient flows through it.")
any = _reduction_builder(Any, "Whether some element over ``axis`` is non-zero (bool; False over an empty "  # noqa: A001
                         "axis), as numpy.any. No gradient flows through it.")


def _arg_builder(op_class, doc):
    def build(x, axis=None, keepdims=False, name=None):
        x = as_node(x)
        if axis is not None:
            if x.ndim == 0:
                raise ShapeError(f"{op_class.name}: axis {axis} given for a zero-dimensional input ({x.describe()})")
            axis = normalize_axis(axis, x.ndim)
        keepdims = bool_argument(keepdims, f"{op_class.name}'s keepdims", x)
        return apply(op_class(axis, keepdims), x, name=name)

    build.__name__ = op_class.name
    build.__qualname__ = op_class.name
    build.__doc__ = doc
    return builder(build)


argmax = _arg_builder(Argmax, "Index of the maximum along ``axis`` (of the flattened input when None); int64.")
argmin = _arg_builder(Argmin, "Index of the minimum along ``axis`` (of the flattened input when None); int64.")


@builder
def size(x, axis=None, name=None) -> Node:
    """The run-time number of elements of x over ``axis`` (all axes when None), as an int64 scalar node."""
    x = as_node(x)
    return apply(Size(normalize_axes(axis, x.ndim)), x, name=name)


def _ddof_argument(ddof, what: str, node: Node) -> int | float:
    """``ddof`` as NumPy takes it: an int or a float; TypeError for another type, ValueError unless finite."""
    where_ = f"\n  input: {node.describe()}\n  at {user_site()}"
    if isinstance(ddof, (bool, np.bool_)) or not isinstance(ddof, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what}: ddof must be an int or a float, got {type(ddof).__name__} {ddof!r:.60}{where_}")
    if isinstance(ddof, (int, np.integer)):
        if abs(int(ddof)) > 2**63:
            raise ValueError(f"{what}: ddof {int(ddof)} is beyond any array size{where_}")
        return int(ddof)
    if not math.isfinite(ddof):
        raise ValueError(f"{what}: ddof must be finite, got {ddof!r}{where_}")
    return float(ddof)


@builder
def var(x, axis=None, ddof=0, keepdims=False, name=None) -> Node:
    """Variance over ``axis`` as numpy.var: sum((x - mean(x))**2) / max(n - ddof, 0) (two passes, as NumPy's; NaN
    or inf where n - ddof <= 0, as NumPy's). Float64 for integer and bool inputs. A composition of mean, sub, square,
    sum and div, so its gradient, printing, optimization, saving and Numba code are theirs."""
    x = as_node(x)
    ddof = _ddof_argument(ddof, "var", x)
    keepdims = bool_argument(keepdims, "var's keepdims", x)
    axes = normalize_axes(axis, x.ndim)
    deviations = x - mean(x, axes, keepdims=True)
    count = _degrees_of_freedom(x, axes, ddof, deviations.dtype)
    return div(sum(square(deviations), axes, keepdims=keepdims), count, name=name)


def _degrees_of_freedom(x: Node, axes, ddof, dtype) -> Node:
    """max(n - ddof, 0) as a scalar of ``dtype``, n the number of elements each reduction over ``axes`` combines."""
    dims = [x.shape[a] for a in (range(x.ndim) if axes is None else axes)]
    count = known_size(tuple(dims))
    if count is not None:
        return as_node(np.asarray(np.maximum(count - ddof, 0), dtype=dtype))
    return maximum(reduced_count(x, axes, dtype) - np.asarray(ddof, dtype), np.asarray(0, dtype))


@builder
def std(x, axis=None, ddof=0, keepdims=False, name=None) -> Node:
    """Standard deviation over ``axis``: sqrt(var(x, axis, ddof)), as numpy.std. A composition (see ``var``). Where
    the variance is 0 (a constant input) the gradient is 0, as PyTorch's (JAX's is NaN: sqrt has no derivative at
    0)."""
    x = as_node(x)
    ddof = _ddof_argument(ddof, "std", x)
    keepdims = bool_argument(keepdims, "std's keepdims", x)
    return sqrt_with_zero_gradient_at_zero(var(x, axis, ddof, keepdims), name=name)


def sqrt_with_zero_gradient_at_zero(v: Node, name=None) -> Node:
    """sqrt(v) for v >= 0 (NaN stays NaN) whose gradient at v == 0 is 0 instead of 0 * inf = NaN downstream: the
    square root of a zero norm or variance passes no gradient, to every order (PyTorch's subgradient). Where v is 0
    or NaN the value is sign(v), which is v there and piecewise constant (a kink for sg.testing's localizer)."""
    positive = v > 0
    return where(positive, sqrt(where(positive, v, 1)), sign(v), name=name)  # else v is 0 or NaN: sign(v) is v
