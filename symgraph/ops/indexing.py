"""Ops that select or assemble elements: NumPy indexing, its scatter-add gradient, concatenate, stack, one_hot.

An index expression is stored as a hashable template, one item per index position:
``("int", i)``, ``("slice", start, stop, step)``, ``("newaxis",)`` or ``("array", k)``, where ``k`` numbers the
integer-array inputs that follow ``x``. Shapes follow NumPy's basic and advanced indexing rules. Selecting and
assembling costs 0 FLOPs; only index_grad's scatter-add (for integer-array indices) adds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from symgraph import dtypes
from symgraph.errors import DTypeError, ShapeError
from symgraph.graph import MAX_DIM, builder, Constant, Node, Op, apply, as_node, format_shape, user_site
from symgraph.ops.base import broadcast_shapes, no_flops, normalize_axis, require_dtype_kind


# -- index ----------------------------------------------------------------------------------------------------------

def _template_key(template, arrays):
    """The NumPy index tuple for a template and the values of its array inputs."""
    key = []
    for item in template:
        kind = item[0]
        if kind == "int":
            key.append(item[1])
        elif kind == "slice":
            key.append(slice(*item[1:]))
        elif kind == "newaxis":
            key.append(None)
        else:
            key.append(arrays[item[1]])
    return tuple(key)


def _slice_length(item, dim):
    if dim is None:
        return None
    return len(range(*slice(*item[1:]).indices(dim)))


def index_shape(x_shape, template, array_shapes):
    """The result shape of ``x[template]`` under NumPy's rules (ints count as advanced when arrays are present)."""
    advanced = any(item[0] == "array" for item in template)
    basic_before, basic_after, broadcast_parts, advanced_positions = [], [], [], []
    axis = 0
    for position, item in enumerate(template):
        kind = item[0]
        if kind == "newaxis":
            (basic_after if advanced_positions else basic_before).append(1)
            continue
        if axis >= len(x_shape):
            raise ShapeError(f"too many indices for an input of rank {len(x_shape)}")
        dim = x_shape[axis]
        axis += 1
        if kind == "slice":
            (basic_after if advanced_positions else basic_before).append(_slice_length(item, dim))
        elif kind == "int":
            if dim is not None and not -dim <= item[1] < dim:
                raise ShapeError(f"index {item[1]} is out of bounds for axis {axis - 1} of size {dim}")
            if advanced:
                advanced_positions.append(position)
                broadcast_parts.append(())
        else:
            advanced_positions.append(position)
            broadcast_parts.append(array_shapes[item[1]])
    rest = list(x_shape[axis:])
    if not advanced_positions:
        return tuple(basic_before + rest)
    broadcast = list(broadcast_shapes(*broadcast_parts))
    contiguous = advanced_positions == list(range(advanced_positions[0], advanced_positions[-1] + 1))
    if contiguous:
        return tuple(basic_before + broadcast + basic_after + rest)
    return tuple(broadcast + basic_before + basic_after + rest)


@dataclass(frozen=True)
class Index(Op):
    template: tuple
    name: ClassVar[str] = "index"
    flops = no_flops

    def infer(self, x, *arrays):
        for array in arrays:
            require_dtype_kind(array, "iu", "an index array")
        return index_shape(x.shape, self.template, [a.shape for a in arrays]), x.dtype

    def compute(self, x, *arrays):
        return np.asarray(x[_template_key(self.template, arrays)])

    def grad(self, node, g):
        x, *arrays = node.inputs
        return [apply(IndexGrad(self.template), x, g, *arrays)] + [None] * len(arrays)


@dataclass(frozen=True)
class IndexGrad(Op):
    """Zeros shaped like x, with g added at ``x[template]`` (repeated indices accumulate): the adjoint of index."""

    template: tuple
    name: ClassVar[str] = "index_grad"

    def infer(self, x, g, *arrays):
        return x.shape, g.dtype

    def compute(self, x, g, *arrays):
        result = np.zeros(np.shape(x), dtype=g.dtype)
        key = _template_key(self.template, arrays)
        if arrays:
            np.add.at(result, key, g)
        else:
            result[key] = g  # basic indexing never selects an element twice
        return result

    def flops(self, node, input_shapes, output_shape):
        arrays = len(input_shapes) > 2
        return math.prod(input_shapes[1]) if arrays else 0  # np.add.at adds each element of g; a slice is a copy

    def grad(self, node, g):
        x, _, *arrays = node.inputs
        return [None, apply(Index(self.template), g, *arrays)] + [None] * len(arrays)


@builder
def index(x, key, name=None) -> Node:
    """``x[key]`` with NumPy semantics: ints, slices, None, Ellipsis, and integer arrays (nodes or values)."""
    x = as_node(x)
    template, arrays = parse_key(x, key)
    return apply(Index(template), x, *arrays, name=name)


def parse_key(x: Node, key) -> tuple[tuple, list]:
    """An index expression ``x[key]`` as (template, index-array nodes), constant indices checked against x."""
    items = key if isinstance(key, tuple) else (key,)
    items = _expand_ellipsis(items, x.ndim)
    template, arrays = [], []
    for item in items:
        if item is None:
            template.append(("newaxis",))
        elif isinstance(item, slice):
            template.append(("slice",) + tuple(_slice_part(p) for p in (item.start, item.stop, item.step)))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
            template.append(("int", int(item)))
        else:
            template.append(("array", len(arrays)))
            arrays.append(_index_array(item))
    _check_constant_bounds(x, template, arrays)
    return tuple(template), arrays


def _expand_ellipsis(items, ndim):
    count = sum(item is Ellipsis for item in items)
    if count > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')")
    if not count:
        return items
    at = next(i for i, item in enumerate(items) if item is Ellipsis)
    used = sum(item is not None and item is not Ellipsis for item in items)
    return items[:at] + (slice(None),) * max(ndim - used, 0) + items[at + 1:]


def _slice_part(part):
    if part is None:
        return None
    if isinstance(part, (int, np.integer)) and not isinstance(part, bool):
        return int(part)
    raise TypeError(f"index: slice bounds must be ints or None, got {type(part).__name__} {part!r:.60} (use "
                    f"integer-array indexing for computed indices)\n  at {user_site()}")


def _index_array(item) -> Node:
    node = as_node(item)
    if node.dtype == dtypes.bool_:
        raise DTypeError(
            "boolean-mask indexing gives a shape known only at run time, which static graphs cannot express; "
            "use sg.where(mask, x, 0) or integer indices instead"
        )
    if node.dtype.kind not in "iu":
        raise DTypeError(f"index arrays must be integers, got {node.dtype}")
    return node


def _check_constant_bounds(x, template, arrays):
    axis = 0
    for item in template:
        if item[0] == "newaxis":
            continue
        if item[0] == "array" and axis < x.ndim and x.shape[axis] is not None:
            array = arrays[item[1]]
            if isinstance(array, Constant) and array.value.size:
                dim = x.shape[axis]
                low, high = int(array.value.min()), int(array.value.max())
                if low < -dim or high >= dim:
                    bad = high if high >= dim else low
                    raise ShapeError(f"index {bad} is out of bounds for axis {axis} of size {dim} "
                                     f"({x.describe()})")
        axis += 1


# -- one_hot --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OneHot(Op):
    depth: int
    dtype: np.dtype
    name: ClassVar[str] = "one_hot"
    flops = no_flops

    def infer(self, labels):
        require_dtype_kind(labels, "iu", "one_hot labels")
        return labels.shape + (self.depth,), self.dtype

    def compute(self, labels):
        labels = np.asarray(labels)
        if labels.size and (labels.min() < 0 or labels.max() >= self.depth):
            bad = labels.min() if labels.min() < 0 else labels.max()
            raise ValueError(f"label {bad} is outside [0, {self.depth})")
        return (labels[..., None] == np.arange(self.depth)).astype(self.dtype)

    def grad(self, node, g):
        return [None]  # integer labels: no gradient


@builder
def one_hot(labels, depth: int, dtype="float32", name=None) -> Node:
    """Integer labels of shape S to one-hot vectors of shape S + (depth,); labels outside [0, depth) are an error."""
    labels = as_node(labels)
    if isinstance(depth, (bool, np.bool_)) or not isinstance(depth, (int, np.integer)):
        raise TypeError(f"one_hot: depth must be a positive int, got {type(depth).__name__} {depth!r:.60}\n"
                        f"  at {user_site()}")
    if not 1 <= depth <= MAX_DIM:
        raise ValueError(f"one_hot: depth must be a positive int (at most {MAX_DIM}), got {depth!r}\n"
                         f"  at {user_site()}")
    if dtype is None:  # np.dtype(None) would silently mean float64
        raise DTypeError(f"one_hot needs a dtype, got None; supported: {dtypes.supported_names()}")
    return apply(OneHot(int(depth), dtypes.as_dtype(dtype)), labels, name=name)


# -- concatenate and stack ------------------------------------------------------------------------------------------

def _check_same_shapes(inputs, skip_axis=None):
    ndim = inputs[0].ndim
    for node in inputs[1:]:
        if node.ndim != ndim:
            raise ShapeError(f"all inputs must have the same rank, got {', '.join(format_shape(i.shape) for i in inputs)}")
    merged = []
    for axis in range(ndim):
        dims = {i.shape[axis] for i in inputs} - {None}
        if axis != skip_axis and len(dims) > 1:
            raise ShapeError(f"sizes differ along axis {axis}: {', '.join(format_shape(i.shape) for i in inputs)}")
        merged.append(dims.pop() if len(dims) == 1 else None)
    return merged


@dataclass(frozen=True)
class Concatenate(Op):
    axis: int
    name: ClassVar[str] = "concatenate"
    flops = no_flops

    def infer(self, *inputs):
        shape = _check_same_shapes(inputs, skip_axis=self.axis)
        sizes = [i.shape[self.axis] for i in inputs]
        shape[self.axis] = None if None in sizes else sum(sizes)
        return tuple(shape), np.result_type(*[i.dtype for i in inputs])

    def compute(self, *values):
        return np.concatenate(values, axis=self.axis)

    def grad(self, node, g):
        sizes = [i.shape[self.axis] for i in node.inputs]
        if None in sizes:
            return [apply(ConcatenatePart(self.axis, k), g, *node.inputs) for k in range(len(sizes))]
        offsets = np.cumsum([0] + sizes).tolist()
        lead = (slice(None),) * self.axis
        return [index(g, lead + (slice(offsets[k], offsets[k + 1]),)) for k in range(len(sizes))]


@dataclass(frozen=True)
class ConcatenatePart(Op):
    """The slice of a concatenation's gradient belonging to input ``part``, located by the inputs' run-time sizes."""

    axis: int
    part: int
    name: ClassVar[str] = "concatenate_part"
    flops = no_flops

    def infer(self, g, *inputs):
        return inputs[self.part].shape, g.dtype

    def compute(self, g, *inputs):
        offsets = np.cumsum([0] + [np.shape(i)[self.axis] for i in inputs])
        key = (slice(None),) * self.axis + (slice(offsets[self.part], offsets[self.part + 1]),)
        return g[key]

    def grad(self, node, g):
        g_input, *inputs = node.inputs
        pieces = [g if k == self.part else zeros_like(x, g_input.dtype) for k, x in enumerate(inputs)]
        return [concatenate(pieces, self.axis)] + [None] * len(inputs)


@builder
def concatenate(nodes, axis=0, name=None) -> Node:
    """Join nodes along an existing axis."""
    inputs = _as_node_list(nodes, "concatenate")
    axis = normalize_axis(axis, inputs[0].ndim) if inputs[0].ndim else _scalar_axis_error("concatenate")
    return apply(Concatenate(axis), *inputs, name=name)


@dataclass(frozen=True)
class Stack(Op):
    axis: int
    name: ClassVar[str] = "stack"
    flops = no_flops

    def infer(self, *inputs):
        shape = _check_same_shapes(inputs)
        shape.insert(self.axis, len(inputs))
        return tuple(shape), np.result_type(*[i.dtype for i in inputs])

    def compute(self, *values):
        return np.stack(values, axis=self.axis)

    def grad(self, node, g):
        lead = (slice(None),) * self.axis
        return [index(g, lead + (k,)) for k in range(len(node.inputs))]


@builder
def stack(nodes, axis=0, name=None) -> Node:
    """Join nodes of equal shape along a new axis."""
    inputs = _as_node_list(nodes, "stack")
    axis = normalize_axis(axis, inputs[0].ndim + 1)
    return apply(Stack(axis), *inputs, name=name)


def _as_node_list(nodes, what):
    if isinstance(nodes, Node) or not isinstance(nodes, (list, tuple)) or not nodes:
        raise TypeError(f"{what} takes a non-empty list of nodes, got {type(nodes).__name__} {nodes!r:.60}\n"
                        f"  at {user_site()}")
    return [as_node(n, nodes) for n in nodes]


def _scalar_axis_error(what):
    raise ShapeError(f"{what}: zero-dimensional inputs cannot be concatenated")


@dataclass(frozen=True)
class ZerosLike(Op):
    dtype: np.dtype
    name: ClassVar[str] = "zeros_like"
    flops = no_flops

    def infer(self, x):
        return x.shape, self.dtype

    def compute(self, x):
        return np.zeros(np.shape(x), dtype=self.dtype)

    def grad(self, node, g):
        return [None]  # constant in x


@builder
def zeros_like(x, dtype=None, name=None) -> Node:
    """Zeros with x's (run-time) shape."""
    x = as_node(x)
    return apply(ZerosLike(x.dtype if dtype is None else dtypes.as_dtype(dtype)), x, name=name)
