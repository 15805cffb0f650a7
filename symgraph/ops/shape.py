"""Ops that rearrange or broadcast elements without computing new values (0 FLOPs; sum_to adds).

``broadcast_like``, ``sum_to`` and ``reshape_like`` are the run-time-shaped duals the differentiator uses when a static
shape has unknown (``None``) dimensions: they take a reference node whose run-time shape they follow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from symgraph.errors import ShapeError
from symgraph.graph import builder, Node, Op, Shape, apply, as_node, format_shape
from symgraph.ops.base import (
    broadcast_shapes, known_size, no_flops, normalize_axes, static_int_tuple,
)


@dataclass(frozen=True)
class Reshape(Op):
    """NumPy reshape. ``shape`` holds sizes, at most one -1, and ``None`` where the result has a size of x known
    only at run time: the i-th ``None`` is the product of x's sizes on the axes ``kept[i]`` (one axis where a size
    is kept, several where axes are merged)."""

    shape: tuple
    kept: tuple = ()
    name: ClassVar[str] = "reshape"
    flops = no_flops

    def infer(self, x):
        target = list(self.shape)
        if sum(d == -1 for d in target) > 1:
            raise ShapeError(f"only one -1 is allowed in the new shape {self.shape}")
        if any(d is not None and d < -1 for d in target):
            raise ShapeError(f"negative dimension in the new shape {self.shape}")
        target = list(kept_target(self.shape, self.kept, x.shape))
        size = known_size(x.shape)
        rest = int(np.prod([d for d in target if d not in (-1, None)], dtype=np.int64))
        if -1 in target:
            inferred = None
            if size is not None and None not in target:
                if rest == 0 or size % rest:
                    raise ShapeError(f"cannot reshape {format_shape(x.shape)} (size {size}) into {self.shape}")
                inferred = size // rest
            target[target.index(-1)] = inferred
        elif size is not None and None not in target and size != rest:
            raise ShapeError(f"cannot reshape {format_shape(x.shape)} (size {size}) into {self.shape} (size {rest})")
        return tuple(target), x.dtype

    def compute(self, x):
        return np.reshape(x, kept_target(self.shape, self.kept, np.shape(x)))

    def grad(self, node, g):
        return [reshape_to_input(g, node.inputs[0])]


def kept_target(target: tuple, kept: tuple, x_shape: tuple) -> tuple:
    """``target`` with its ``None`` entries replaced by the products of x's sizes on the ``kept`` axes (None if one
    of them is unknown)."""
    sizes = iter(known_size(tuple(x_shape[a] for a in axes)) for axes in kept)
    return tuple(next(sizes) if d is None else d for d in target)


@builder
def reshape(x, shape, name=None) -> Node:
    """NumPy reshape: same elements in C order, new shape; one dimension may be -1.

    A ``None`` in the new shape (what ``x.shape`` holds for a size known only at run time) keeps that size of x:
    ``reshape(x, (x.shape[0], -1))`` flattens all but the batch axis whatever the batch size. A ``None`` among the
    leading entries that copy x's leading sizes (each ``None`` or equal to x's) keeps x's size at the same position;
    among the trailing ones, at the same position from the end.
    """
    x = as_node(x)
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if isinstance(shape, (tuple, list)) and any(d is None for d in shape):
        known = iter(static_int_tuple([d for d in shape if d is not None], "the new shape"))
        entries = [None if d is None else next(known) for d in shape]
        return reshape_keeping(x, [Keep((_kept_axis(x.shape, entries, p),)) if d is None else d
                                   for p, d in enumerate(entries)], name=name)
    return apply(Reshape(static_int_tuple(shape, "the new shape")), x, name=name)


@dataclass(frozen=True)
class Keep:
    """In a target shape given to ``reshape_keeping``: the product of x's sizes on ``axes``."""

    axes: tuple


def _kept_axis(x_shape: tuple, entries: list, position: int) -> int:
    """The axis of x whose size the ``None`` at ``position`` of a new shape stands for (see ``reshape``)."""
    def copies(entry, axis):
        return 0 <= axis < len(x_shape) and (entry is None or entry == x_shape[axis])

    offset = len(entries) - len(x_shape)
    leading = copies(None, position) and all(copies(entries[q], q) for q in range(position))
    trailing = copies(None, position - offset) and all(
        copies(entries[q], q - offset) for q in range(position + 1, len(entries)))
    if leading and trailing and offset:
        raise ShapeError(f"None at position {position} of the new shape {tuple(entries)} may keep x's size on axis "
                         f"{position} or {position - offset}; write -1 or the size")
    if not (leading or trailing):
        raise ShapeError(f"None at position {position} of the new shape {tuple(entries)} keeps one of x's sizes "
                         f"(as x.shape[i] gives it), but it is neither among the leading entries copying x's leading "
                         f"sizes nor among the trailing ones; write -1 or the size")
    return position if leading else position - offset


def reshape_keeping(x: Node, target: list, name=None) -> Node:
    """Reshape x to ``target``: sizes, at most one -1, and ``Keep(axes)`` entries, the product of x's sizes on
    those axes (each axis of x in one Keep at most).

    Kept sizes known statically become ints, and so does a -1 that they determine; a single size left unknown
    becomes the -1 when the other sizes are not 0 (NumPy cannot infer a -1 beside a 0), so that only the other
    shapes keep ``None`` entries in the op."""
    kept_axes = [a for d in target if isinstance(d, Keep) for a in d.axes]
    entries = list(kept_target(tuple(None if isinstance(d, Keep) else d for d in target),
                               tuple(d.axes for d in target if isinstance(d, Keep)), x.shape))
    plain = int(np.prod([d for d in target if not isinstance(d, Keep) and d != -1], dtype=np.int64))
    free = tuple(d for a, d in enumerate(x.shape) if a not in kept_axes)
    if -1 in entries and None not in free:
        if plain == 0 or known_size(free) % plain:
            raise ShapeError(f"cannot reshape {format_shape(x.shape)} into {tuple(entries)}: the sizes not kept "
                             f"have {known_size(free)} elements")
        entries[entries.index(-1)] = known_size(free) // plain
    others = [d for d in entries if d not in (-1, None)]
    if sum(d is None or d == -1 for d in entries) == 1 and all(others):
        return apply(Reshape(tuple(-1 if d is None else d for d in entries)), x, name=name)
    kept = tuple(d.axes for d, e in zip(target, entries) if isinstance(d, Keep) and e is None)
    return apply(Reshape(tuple(entries), kept), x, name=name)


@dataclass(frozen=True)
class ReshapeLike(Op):
    """Reshape x to the run-time shape of ``reference`` (used by gradients when that shape is not static)."""

    name: ClassVar[str] = "reshape_like"
    flops = no_flops

    def infer(self, x, reference):
        return reference.shape, x.dtype

    def compute(self, x, reference):
        return np.reshape(x, np.shape(reference))

    def grad(self, node, g):
        return [reshape_to_input(g, node.inputs[0]), None]


def reshape_to_input(g: Node, x: Node, name=None) -> Node:
    """Reshape g to x's shape: statically when at most one dimension of x is unknown, else at run time."""
    unknown = sum(d is None for d in x.shape)
    if unknown <= 1:
        return reshape(g, tuple(-1 if d is None else d for d in x.shape), name=name)
    return apply(ReshapeLike(), g, x, name=name)


@dataclass(frozen=True)
class ExpandDims(Op):
    axes: tuple
    name: ClassVar[str] = "expand_dims"
    flops = no_flops

    def infer(self, x):
        shape = list(x.shape)
        for axis in self.axes:
            shape.insert(axis, 1)
        return tuple(shape), x.dtype

    def compute(self, x):
        return np.expand_dims(x, self.axes)

    def grad(self, node, g):
        return [squeeze(g, self.axes)]


@builder
def expand_dims(x, axis, name=None) -> Node:
    """Insert size-1 dimensions at ``axis`` (an int or a tuple, positions in the result)."""
    x = as_node(x)
    if axis is None:
        raise ShapeError("expand_dims needs the position of the new axis (an int or a tuple of ints), got None")
    count = 1 if not isinstance(axis, (tuple, list)) else len(axis)
    axes = normalize_axes(axis, x.ndim + count)
    return apply(ExpandDims(axes), x, name=name)


@dataclass(frozen=True)
class Squeeze(Op):
    axes: tuple
    name: ClassVar[str] = "squeeze"
    flops = no_flops

    def infer(self, x):
        for axis in self.axes:
            if x.shape[axis] not in (1, None):
                raise ShapeError(f"cannot squeeze axis {axis} of size {x.shape[axis]}")
        return tuple(d for i, d in enumerate(x.shape) if i not in self.axes), x.dtype

    def compute(self, x):
        return np.squeeze(x, self.axes)

    def grad(self, node, g):
        return [expand_dims(g, self.axes)]


@builder
def squeeze(x, axis=None, name=None) -> Node:
    """Remove size-1 dimensions. With ``axis=None``, those statically known to be 1 (pass ``axis`` for others)."""
    x = as_node(x)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = normalize_axes(axis, x.ndim)
    return apply(Squeeze(axes), x, name=name)


@dataclass(frozen=True)
class Transpose(Op):
    axes: tuple
    name: ClassVar[str] = "transpose"
    flops = no_flops

    def infer(self, x):
        if sorted(self.axes) != list(range(x.ndim)):
            raise ShapeError(f"axes {self.axes} are not a permutation of the {x.ndim} axes")
        return tuple(x.shape[a] for a in self.axes), x.dtype

    def compute(self, x):
        return np.transpose(x, self.axes)

    def grad(self, node, g):
        return [transpose(g, tuple(np.argsort(self.axes).tolist()))]


@builder
def transpose(x, axes=None, name=None) -> Node:
    """Permute axes (reverse them when ``axes`` is None), as NumPy."""
    x = as_node(x)
    axes = tuple(reversed(range(x.ndim))) if axes is None else static_int_tuple(axes, "axes")
    axes = tuple(a % x.ndim if -x.ndim <= a < x.ndim else a for a in axes)
    return apply(Transpose(axes), x, name=name)


def broadcasts_to(shape: Shape, target: Shape) -> bool:
    """Whether ``shape`` may broadcast to ``target``: aligned from the right, each dimension is 1, the target's, or
    unknown on either side (checked at run time, so that (None, 3) broadcasts to (1, 3) as a fed batch of one does)."""
    lead = len(target) - len(shape)
    return lead >= 0 and all(d in (1, None, t) or t is None for d, t in zip(shape, target[lead:]))


@dataclass(frozen=True)
class BroadcastTo(Op):
    """numpy.broadcast_to; a ``None`` in ``shape`` keeps x's size on the aligned axis (known only at run time)."""

    shape: tuple
    name: ClassVar[str] = "broadcast_to"
    flops = no_flops
    broadcasts: ClassVar[bool] = True

    def broadcast_peers(self, node, position):
        return [self.shape]

    def infer(self, x):
        lead = len(self.shape) - x.ndim
        if (any(t is not None and t < 0 for t in self.shape) or not broadcasts_to(x.shape, self.shape)
                or None in self.shape[:max(lead, 0)]):
            raise ShapeError(f"cannot broadcast {format_shape(x.shape)} to {format_shape(self.shape)}")
        return tuple(x.shape[k - lead] if t is None else t for k, t in enumerate(self.shape)), x.dtype

    def compute(self, x):
        target = kept_sizes(self.shape, np.shape(x))
        if not broadcasts_to(np.shape(x), target):  # a size fed to an unknown dimension that is not 1
            raise ValueError(f"cannot broadcast an array of shape {np.shape(x)} to {format_shape(self.shape)}")
        return np.broadcast_to(x, target)

    def grad(self, node, g):
        return [g]  # the differentiator sums broadcast axes away


def kept_sizes(target: tuple, x_shape: tuple) -> tuple:
    """A broadcast target with its ``None`` entries replaced by x's sizes on the axes aligned from the right."""
    lead = len(target) - len(x_shape)
    return tuple(x_shape[k - lead] if t is None else t for k, t in enumerate(target))


@builder
def broadcast_to(x, shape, name=None) -> Node:
    """Broadcast to a shape, as numpy.broadcast_to. A ``None`` in ``shape`` (what ``x.shape`` holds for a size known
    only at run time) keeps x's size on that axis, aligned from the right: ``broadcast_to(x, (x.shape[0], 3))``."""
    x = as_node(x)
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if isinstance(shape, (tuple, list)) and any(d is None for d in shape):
        lead = len(shape) - x.ndim
        if any(d is None and k < lead for k, d in enumerate(shape)):
            position = next(k for k, d in enumerate(shape) if d is None)
            raise ShapeError(f"a None in the target shape {tuple(shape)} keeps x's size on the aligned axis, but x "
                             f"(rank {x.ndim}) has none at position {position}")
        sizes = iter(static_int_tuple([d for d in shape if d is not None], "the target shape"))
        target = tuple(x.shape[k - lead] if d is None else next(sizes) for k, d in enumerate(shape))
        return apply(BroadcastTo(target), x, name=name)
    return apply(BroadcastTo(static_int_tuple(shape, "the target shape")), x, name=name)


@dataclass(frozen=True)
class BroadcastLike(Op):
    """Broadcast x to the run-time shape of ``reference``."""

    name: ClassVar[str] = "broadcast_like"
    flops = no_flops
    broadcasts: ClassVar[bool] = True

    def infer(self, x, reference):
        if x.ndim > reference.ndim:
            raise ShapeError(f"cannot broadcast rank {x.ndim} to rank {reference.ndim}")
        return broadcast_shapes(x.shape, reference.shape), x.dtype

    def compute(self, x, reference):
        return np.broadcast_to(x, np.shape(reference))

    def grad(self, node, g):
        return [g, None]  # the differentiator sums broadcast axes away


@builder
def broadcast_like(x, reference, name=None) -> Node:
    """Broadcast x to the shape ``reference`` has when the graph runs (static where known)."""
    x, reference = as_node(x), as_node(reference)
    if all(d is not None for d in reference.shape):
        return broadcast_to(x, reference.shape, name=name)
    return apply(BroadcastLike(), x, reference, name=name)


@dataclass(frozen=True)
class SumTo(Op):
    """Sum x down to the run-time shape of ``reference``: the adjoint of broadcasting ``reference`` to x."""

    name: ClassVar[str] = "sum_to"

    def infer(self, x, reference):
        if not broadcasts_to(reference.shape, x.shape):
            raise ShapeError(f"{format_shape(reference.shape)} does not broadcast to {format_shape(x.shape)}")
        return reference.shape, x.dtype

    def compute(self, x, reference):
        return sum_to_shape(x, np.shape(reference))

    def flops(self, node, input_shapes, output_shape):
        summed = math.prod(input_shapes[0]) != math.prod(output_shape)
        return math.prod(input_shapes[0]) if summed else 0  # a reduction, or a reshape when nothing was broadcast

    def grad(self, node, g):
        return [broadcast_like(g, node.inputs[0]), None]


def sum_to_shape(x: np.ndarray, shape: tuple) -> np.ndarray:
    """NumPy helper: sum the broadcast axes of x away so that it has ``shape``, in x's dtype (np.add's)."""
    lead = x.ndim - len(shape)
    if lead < 0 or any(d not in (1, n) for d, n in zip(shape, x.shape[lead:])):
        raise ValueError(f"cannot sum an array of shape {x.shape} to shape {shape}, which does not broadcast to it")
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape) if d == 1 and x.shape[lead + i] != 1)
    if not axes:
        return np.reshape(x, shape)
    return np.sum(x, axis=axes, keepdims=True, dtype=x.dtype).reshape(shape)


@builder
def sum_to(x, reference, name=None) -> Node:
    """Sum x over the axes along which ``reference``'s shape was broadcast to x's, giving reference's shape."""
    x, reference = as_node(x), as_node(reference)
    return apply(SumTo(), x, reference, name=name)


def unbroadcast(g: Node, x: Node, peer_shapes) -> Node:
    """Sum a gradient g, shaped like a broadcast result, back to the shape of the input x.

    ``peer_shapes`` are the shapes x was broadcast against. Where x has an unknown dimension that a peer may have
    broadcast it along, only the run-time shapes can tell, so ``sum_to`` decides then; otherwise the sum is static.
    """
    lead = g.ndim - x.ndim
    summed = list(range(lead))
    kept = []
    for axis, dim in enumerate(x.shape):
        g_dim = g.shape[lead + axis]
        if dim == 1 and g_dim != 1:
            kept.append(axis)
        elif dim is None and _peers_may_broadcast(axis - x.ndim, peer_shapes):
            return sum_to(g, x)
    if not summed and not kept:
        return g
    from symgraph.ops.reduce import sum as reduce_sum  # reduce builds on this module

    total = reduce_sum(g, tuple(summed + [lead + a for a in kept]))
    return expand_dims(total, tuple(kept)) if kept else total


def _peers_may_broadcast(negative_axis: int, peer_shapes) -> bool:
    return any(len(shape) >= -negative_axis and shape[negative_axis] != 1 for shape in peer_shapes)
