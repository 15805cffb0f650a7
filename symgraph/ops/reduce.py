"""Reductions over axes: sum, mean, max, min, prod (with keepdims), argmax and argmin, and the run-time size op.

``axes`` is a sorted tuple of non-negative axes, or None for all axes; dtypes follow NumPy (sum of bools is int64,
mean of ints is float64). Max/min gradients split evenly among tied elements. A reduction (argmax and argmin too)
costs one FLOP per input element: n - 1 additions or comparisons per n values reduced, and mean's division.
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
from symgraph.ops.elementwise import cast, equal, not_equal, where
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
