"""NumPy's array manipulation, indexing and creation functions (issue 15), mostly composites of other ops.

Composites (flatten, moveaxis, swapaxes, flip, roll, tile, repeat, split, pad, tril, triu, diag, trace,
take_along_axis, scatter_add, index_add, zeros, ones, full) build reshapes, transposes, broadcasts, slices, gathers
(integer-array indexing, whose adjoint is the scatter-add ``index_grad``), concatenations and ``where``: their
gradients, optimizer rules, printing, saving and Numba lowerings are those ops'. Sizes known only at run time are
handled by the ops here: ``full_like`` (a constant filling a shape that follows a reference's run-time shape),
``arange_like`` (0, 1, ..., n - 1 along one of a reference's axes) and the ``diagonal`` view with its adjoint
``diagonal_grad``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from symgraph import dtypes
from symgraph.errors import DTypeError, ShapeError
from symgraph.graph import MAX_DIM, Node, Op, apply, as_node, builder, constant, format_shape, user_site
from symgraph.ops.base import no_flops, normalize_axis, normalize_axes, static_int_tuple
from symgraph.ops.elementwise import add, cast, equal, greater_equal, less, less_equal, maximum, minimum, mod, where
from symgraph.ops.indexing import IndexGrad, concatenate, index, index_shape, parse_key
from symgraph.ops.reduce import Size, sum as reduce_sum
from symgraph.ops.shape import (
    Keep, broadcast_like, broadcast_to, broadcasts_to, expand_dims, reshape, reshape_keeping, reshape_to_input,
    transpose,
)


# -- ops for sizes known only at run time ---------------------------------------------------------------------------

def _value_bits(value, dtype) -> bytes:
    return np.asarray(value, dtype).tobytes()


@dataclass(frozen=True, eq=False)
class FullLike(Op):
    """``value`` (a Python scalar of ``dtype``'s kind) filling ``shape``: one entry per axis of the reference, None
    where the result takes the reference's run-time size, an int where it has that size."""

    value: object
    dtype: np.dtype
    shape: tuple
    name: ClassVar[str] = "full_like"
    flops = no_flops

    def __eq__(self, other):  # by the value's bits: -0.0 is not 0.0, and nan is nan
        return (type(other) is FullLike and self.dtype == other.dtype and self.shape == other.shape
                and _value_bits(self.value, self.dtype) == _value_bits(other.value, other.dtype))

    def __hash__(self):
        return hash((self.dtype, self.shape, _value_bits(self.value, self.dtype)))

    def infer(self, reference):
        if len(self.shape) != reference.ndim:
            raise ShapeError(f"the shape template {self.shape} needs a reference of rank {len(self.shape)}, got "
                             f"{format_shape(reference.shape)}")
        return tuple(reference.shape[k] if d is None else d for k, d in enumerate(self.shape)), self.dtype

    def compute(self, reference):
        shape = tuple(np.shape(reference)[k] if d is None else d for k, d in enumerate(self.shape))
        return np.full(shape, self.value, self.dtype)

    def grad(self, node, g):
        return [None]  # depends only on the reference's shape


def fill_value(value, dtype, what: str, builder_name: str):
    """``value`` as a Python scalar of ``dtype`` by the feed rule (no truncation, no overflow; inf and nan are float
    values; for bool, also the ints 0 and 1): a DTypeError naming ``what``, or a TypeError naming the builder too
    for what is no number."""
    if not (dtypes.is_python_scalar(value) or isinstance(value, np.generic)):
        shown = value.describe() if isinstance(value, Node) else f"{type(value).__name__} {value!r:.60}"
        raise TypeError(f"{builder_name}: {what} must be a number, got {shown}\n  at {user_site()}")
    dtype = dtypes.as_dtype(dtype)
    if dtype.kind == "b" and type(value) is int and value in (0, 1):
        return bool(value)
    return dtypes.convert_exactly(value, dtype, what).item()


def full_like_shape(reference: Node, value, dtype, shape: tuple) -> Node:
    """``value`` filling ``shape`` (a template for ``reference``'s run-time shape, see FullLike)."""
    dtype = dtypes.as_dtype(dtype)
    return apply(FullLike(fill_value(value, dtype, "the fill value", "full_like"), dtype, tuple(shape)), reference)


@builder
def full_like(x, value, dtype=None, name=None) -> Node:
    """An array of x's (run-time) shape filled with ``value``, of x's dtype unless ``dtype`` is given
    (numpy.full_like). A number must fit the dtype exactly (2.5 for an int dtype is a DTypeError, where NumPy would
    truncate); a node or array is broadcast to x's shape (and cast to the dtype)."""
    x = as_node(x)
    dtype = x.dtype if dtype is None else _dtype_argument(dtype, "full_like")
    if not (dtypes.is_python_scalar(value) or isinstance(value, np.generic)):  # a node or an array
        return broadcast_like(cast(as_node(value), dtype), x, name=name)
    return apply(FullLike(fill_value(value, dtype, "the fill value", "full_like"), dtype, (None,) * x.ndim), x,
                 name=name)


@builder
def ones_like(x, dtype=None, name=None) -> Node:
    """Ones of x's (run-time) shape, of x's dtype unless ``dtype`` is given (numpy.ones_like)."""
    x = as_node(x)
    dtype = x.dtype if dtype is None else _dtype_argument(dtype, "ones_like")
    return apply(FullLike(fill_value(1, dtype, "one", "ones_like"), dtype, (None,) * x.ndim), x, name=name)


def _dtype_argument(dtype, what: str) -> np.dtype:
    if dtype is None:
        raise DTypeError(f"{what} needs a dtype, got None; supported: {dtypes.supported_names()}")
    return dtypes.as_dtype(dtype)


@dataclass(frozen=True)
class ArangeLike(Op):
    """0, 1, ..., n - 1 (int64), n being the reference's run-time size on ``axis``: positions along an axis whose
    size may be known only at run time (roll, pad, tril, take_along_axis)."""

    axis: int
    name: ClassVar[str] = "arange_like"
    flops = no_flops

    def infer(self, reference):
        return (reference.shape[self.axis],), dtypes.int64

    def compute(self, reference):
        return np.arange(np.shape(reference)[self.axis], dtype=np.int64)

    def grad(self, node, g):
        return [None]  # depends only on the reference's shape


SMALL_CONSTANT = 2**20  # positions and masks of up to this many elements are constants, larger ones computed


def small(*sizes) -> bool:
    """Whether an array of these static sizes is small enough to be a constant of the graph."""
    return None not in sizes and math.prod(sizes) <= SMALL_CONSTANT


def arange_like(x: Node, axis: int) -> Node:
    """The positions 0..n-1 along x's ``axis``: a constant when the size is static and small, else computed when
    the graph runs."""
    axis = normalize_axis(axis, x.ndim)
    if small(x.shape[axis]):
        return constant(np.arange(x.shape[axis], dtype=np.int64))
    return apply(ArangeLike(axis), x)


def axis_size(x: Node, axis: int) -> Node:
    """x's size on ``axis`` as an int64 scalar (a constant when static)."""
    if x.shape[axis] is not None:
        return constant(np.int64(x.shape[axis]))
    return apply(Size((axis,)), x)


# -- creation -------------------------------------------------------------------------------------------------------

def _creation_shape(shape, what: str) -> tuple:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or any(d is None for d in shape):
        raise TypeError(f"{what}: shape must be a tuple of non-negative ints (a static shape; for one that follows "
                        f"a node's run-time shape use sg.full_like), got {type(shape).__name__} {shape!r:.60}\n"
                        f"  at {user_site()}")
    try:
        shape = static_int_tuple(shape, "shape")
    except ShapeError as error:
        raise TypeError(f"{what}: {error}\n  at {user_site()}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"{what}: negative dimensions are not allowed, got {shape}\n  at {user_site()}")
    return shape


@builder
def full(shape, value, dtype=None, name=None) -> Node:
    """``value`` broadcast to a static ``shape`` (numpy.full); no array of that size is stored in the graph. The
    dtype is the value's (a Python float is float32, an int int64) unless given."""
    shape = _creation_shape(shape, "full")
    if dtype is None:
        if isinstance(value, Node):
            raise TypeError(f"full: value must be a number, got {value.describe()}\n  at {user_site()}")
        dtype = dtypes.infer_array_dtype(value)
    dtype = _dtype_argument(dtype, "full")
    scalar = np.asarray(fill_value(value, dtype, "value", "full"), dtype)
    return broadcast_to(constant(scalar), shape, name=name)


@builder
def zeros(shape, dtype="float32", name=None) -> Node:
    """Zeros of a static ``shape`` (numpy.zeros; float32 by default), a broadcast zero stored as one number."""
    dtype = _dtype_argument(dtype, "zeros")
    return broadcast_to(constant(np.zeros((), dtype)), _creation_shape(shape, "zeros"), name=name)


@builder
def ones(shape, dtype="float32", name=None) -> Node:
    """Ones of a static ``shape`` (numpy.ones; float32 by default), a broadcast one stored as one number."""
    dtype = _dtype_argument(dtype, "ones")
    return broadcast_to(constant(np.ones((), dtype)), _creation_shape(shape, "ones"), name=name)


def _number(value, what: str):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"arange: {what} must be a number, got {type(value).__name__} {value!r:.60}\n"
                        f"  at {user_site()}")
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        raise ValueError(f"arange: {what} must be finite, got {value!r}\n  at {user_site()}")
    if isinstance(value, (int, np.integer)) and not -2**63 <= value < 2**63:
        raise ValueError(f"arange: {what} {value} is beyond int64\n  at {user_site()}")
    return value


@builder
def arange(start, stop=None, step=1, dtype=None, name=None) -> Node:
    """numpy.arange as a constant: ``arange(stop)``, ``arange(start, stop, step)``. Ints give int64; a float
    anywhere gives float32 (symgraph's default float) unless ``dtype`` is given."""
    if stop is None:
        start, stop = 0, start
    start, stop, step = (_number(v, w) for v, w in ((start, "start"), (stop, "stop"), (step, "step")))
    if step == 0:
        raise ValueError(f"arange: step must not be zero\n  at {user_site()}")
    floating = any(isinstance(v, (float, np.floating)) for v in (start, stop, step))
    if dtype is None:
        dtype = dtypes.float32 if floating else dtypes.int64
    dtype = _dtype_argument(dtype, "arange")
    if dtype.kind == "b":
        raise DTypeError(f"arange: dtype bool is not an arithmetic sequence; use sg.arange(...) > 0\n"
                         f"  at {user_site()}")
    if floating and dtype.kind != "f":
        raise DTypeError(f"arange: float bounds or step with dtype {dtype} would be truncated; pass ints or a float "
                         f"dtype\n  at {user_site()}")
    length = max(0.0, float(stop - start) / float(step))
    if not math.isfinite(length) or length > 2**31:
        raise ValueError(f"arange: {length:.3g} elements are too many for a constant\n  at {user_site()}")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        last = start + max(math.ceil(length) - 1, 0) * step
        if not all(info.min <= int(v) <= info.max for v in (start, last, step)):
            raise ValueError(f"arange: the values from {start} by {step} do not fit {dtype}\n  at {user_site()}")
    return constant(np.arange(start, stop, step, dtype=dtype), name=name)


def _size_argument(value, what: str, builder_name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{builder_name}: {what} must be an int, got {type(value).__name__} {value!r:.60}\n"
                        f"  at {user_site()}")
    if not 0 <= value <= 2**31:
        raise ValueError(f"{builder_name}: {what} must be in [0, 2**31], got {value}\n  at {user_site()}")
    return int(value)


@builder
def eye(n, m=None, k=0, dtype="float32", name=None) -> Node:
    """numpy.eye as a constant: n x m (m = n by default) with ones on diagonal ``k``, float32 by default."""
    n = _size_argument(n, "n", "eye")
    m = n if m is None else _size_argument(m, "m", "eye")
    k = _int_argument(k, "k", "eye")
    return constant(np.eye(n, m, k, dtype=_dtype_argument(dtype, "eye")), name=name)


def _int_argument(value, what: str, builder_name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{builder_name}: {what} must be an int, got {type(value).__name__} {value!r:.60}\n"
                        f"  at {user_site()}")
    if abs(value) > MAX_DIM:
        raise ValueError(f"{builder_name}: {what} {value} is beyond {MAX_DIM}\n  at {user_site()}")
    return int(value)


# -- rearranging ----------------------------------------------------------------------------------------------------

@builder
def flatten(x, name=None) -> Node:
    """The elements of x in C order as a 1-D node (numpy.ndarray.flatten): ``reshape(x, -1)``. To keep the batch
    axis, ``reshape(x, (x.shape[0], -1))``."""
    return reshape(as_node(x), (-1,), name=name)


@builder
def ravel(x, name=None) -> Node:
    """numpy.ravel: the same as flatten (a reshape; symgraph never copies or shares memory visibly)."""
    return reshape(as_node(x), (-1,), name=name)


@builder
def moveaxis(x, source, destination, name=None) -> Node:
    """numpy.moveaxis: the axes ``source`` (an int or a tuple) moved to positions ``destination``; a transpose."""
    x = as_node(x)
    source = _axis_list(source, x.ndim, "source")
    destination = _axis_list(destination, x.ndim, "destination")
    if len(source) != len(destination):
        raise ShapeError(f"source {source} and destination {destination} must have the same number of axes")
    order = [a for a in range(x.ndim) if a not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(x, tuple(order), name=name)


def _axis_list(axis, ndim: int, what: str) -> list:
    axes = list(axis) if isinstance(axis, (tuple, list)) else [axis]
    normalized = [normalize_axis(a, ndim, what) for a in axes]
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"repeated axis in {what} {axis!r}")
    return normalized


@builder
def swapaxes(x, axis1, axis2, name=None) -> Node:
    """numpy.swapaxes: axes ``axis1`` and ``axis2`` exchanged; a transpose."""
    x = as_node(x)
    a, b = normalize_axis(axis1, x.ndim, "axis1"), normalize_axis(axis2, x.ndim, "axis2")
    order = list(range(x.ndim))
    order[a], order[b] = b, a
    return transpose(x, tuple(order), name=name)


@builder
def flip(x, axis=None, name=None) -> Node:
    """numpy.flip: the order of elements reversed along ``axis`` (an int, a tuple, or None for all); a view."""
    x = as_node(x)
    axes = normalize_axes(axis, x.ndim)
    axes = range(x.ndim) if axes is None else axes
    return index(x, tuple(slice(None, None, -1) if a in axes else slice(None) for a in range(x.ndim)), name=name)


def _gather_along(x: Node, axis: int, positions: Node, name=None) -> Node:
    return index(x, (slice(None),) * axis + (positions,), name=name)


@builder
def roll(x, shift, axis=None, name=None) -> Node:
    """numpy.roll: elements shifted by ``shift`` along ``axis`` (ints or equally long tuples; None: over the
    flattened x, then reshaped back), those leaving one end entering at the other. A gather whose positions are a
    constant when the size is static, else computed from the run-time size."""
    x = as_node(x)
    shifts = [_int_argument(s, "shift", "roll") for s in (shift if isinstance(shift, (tuple, list)) else [shift])]
    if axis is None:
        if len(shifts) != 1:
            raise ShapeError(f"roll over the flattened input takes one shift, got {tuple(shifts)}")
        return reshape_to_input(roll(flatten(x), shifts[0], 0), x, name) if x.ndim != 1 else roll(x, shifts[0], 0, name)
    axes = [normalize_axis(a, x.ndim) for a in (axis if isinstance(axis, (tuple, list)) else [axis])]
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(shifts) != len(axes):
        raise ShapeError(f"roll takes one shift per axis, got shifts {tuple(shifts)} for axes {tuple(axes)}")
    totals = {}
    for a, s in zip(axes, shifts):  # NumPy adds the shifts of a repeated axis
        totals[a] = totals.get(a, 0) + s
    moved = [(a, s) for a, s in totals.items() if x.shape[a] is None or (x.shape[a] and s % x.shape[a])]
    result = x
    for step, (a, s) in enumerate(moved):
        n = x.shape[a]
        if small(n):
            positions = constant(np.roll(np.arange(n, dtype=np.int64), s))
        else:
            positions = mod(arange_like(x, a) - s, maximum(axis_size(x, a), 1))
        result = _gather_along(result, a, positions, name=name if step == len(moved) - 1 else None)
    return result if moved else _unchanged(x, name)


def _unchanged(x: Node, name) -> Node:
    """What a composite returns when it leaves x as it is: x, or a named reshape to its own shape."""
    return x if name is None else reshape_keeping(x, [Keep((a,)) for a in range(x.ndim)], name=name)


def _repeat_axis(x: Node, axis: int, repeats: int, whole: bool, name=None) -> Node:
    """x with each element (``whole``: the whole axis) repeated ``repeats`` times along ``axis``: a broadcast along
    a new axis after (before) it, merged into it by a reshape."""
    new = axis if whole else axis + 1
    widened = expand_dims(x, new)
    target = tuple(repeats if k == new else d for k, d in enumerate(widened.shape))
    spread = broadcast_to(widened, target)
    merged = [Keep((k,)) for k in range(spread.ndim) if k not in (axis, axis + 1)]
    merged.insert(axis, Keep((axis, axis + 1)))
    return reshape_keeping(spread, merged, name=name)


@builder
def repeat(x, repeats, axis=None, name=None) -> Node:
    """numpy.repeat: each element repeated ``repeats`` times along ``axis`` (None: over the flattened x).
    ``repeats`` is an int, or a sequence with one count per element of a static axis."""
    x = as_node(x)
    if axis is None:
        x, axis = flatten(x), 0
    axis = normalize_axis(axis, x.ndim)
    if isinstance(repeats, (tuple, list, np.ndarray)):
        counts = static_int_tuple(repeats, "repeats")
        if len(counts) == 1:
            repeats = counts[0]
        else:
            if x.shape[axis] is None:
                raise ShapeError(f"repeat with one count per element ({len(counts)} counts) needs axis {axis} of "
                                 f"static size, got {format_shape(x.shape)}; pass an int or give the size")
            if len(counts) != x.shape[axis]:
                raise ShapeError(f"repeat: {len(counts)} counts for axis {axis} of size {x.shape[axis]}")
            if any(c < 0 for c in counts):
                raise ValueError(f"repeat: counts must not be negative, got {counts}\n  at {user_site()}")
            if sum(counts) > 2**31:
                raise ValueError(f"repeat: {sum(counts)} repeated elements are too many for the positions of a "
                                 f"gather\n  at {user_site()}")
            positions = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
            return _gather_along(x, axis, constant(positions), name=name)
    repeats = _int_argument(repeats, "repeats", "repeat")
    if repeats < 0:
        raise ValueError(f"repeat: repeats must not be negative, got {repeats}\n  at {user_site()}")
    return _repeat_axis(x, axis, repeats, whole=False, name=name) if repeats != 1 else _unchanged(x, name)


@builder
def tile(x, reps, name=None) -> Node:
    """numpy.tile: x repeated ``reps`` times (an int or a tuple, aligned from the right; x gains leading axes when
    ``reps`` is longer). Broadcasts merged by reshapes: no gather."""
    x = as_node(x)
    reps = (reps,) if isinstance(reps, (int, np.integer)) and not isinstance(reps, bool) else reps
    reps = static_int_tuple(reps, "reps")
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: reps must not be negative, got {reps}\n  at {user_site()}")
    if len(reps) > x.ndim:
        x = expand_dims(x, tuple(range(len(reps) - x.ndim)))
    reps = (1,) * (x.ndim - len(reps)) + reps
    repeated = [axis for axis, r in enumerate(reps) if r != 1]
    result = x
    for axis in repeated:
        result = _repeat_axis(result, axis, reps[axis], whole=True, name=name if axis == repeated[-1] else None)
    return result if repeated else _unchanged(x, name)


@builder
def split(x, indices_or_sections, axis=0) -> list:
    """numpy.split: a list of nodes. An int N cuts ``axis`` into N equal parts (it must divide the size: checked
    when built, or when run for a size known only then); a sequence of ints gives the cut positions (slices, so
    positions beyond the size give empty parts, as NumPy's)."""
    x = as_node(x)
    axis = normalize_axis(axis, x.ndim) if x.ndim else _no_axis("split")
    lead = (slice(None),) * axis
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(indices_or_sections, bool):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"split: the number of sections must be positive, got {sections}\n  at {user_site()}")
        n = x.shape[axis]
        if n is not None:
            if n % sections:
                raise ShapeError(f"split into {sections} equal parts does not divide axis {axis} of size {n}")
            size = n // sections
            return [index(x, lead + (slice(k * size, (k + 1) * size),)) for k in range(sections)]
        target = [Keep((k,)) for k in range(x.ndim)]
        target[axis:axis + 1] = [sections, -1]
        parts = reshape_keeping(x, target)
        return [index(parts, lead + (k,)) for k in range(sections)]
    cuts = static_int_tuple(indices_or_sections, "the split positions")
    bounds = [None, *cuts, None]
    return [index(x, lead + (slice(bounds[k], bounds[k + 1]),)) for k in range(len(bounds) - 1)]


def _no_axis(what: str):
    raise ShapeError(f"{what} needs an input with at least one axis")


# -- pad ------------------------------------------------------------------------------------------------------------

PAD_MODES = ("constant", "edge", "reflect")


def _pairs(value, ndim: int, what: str, convert) -> list:
    """NumPy's pad_width / constant_values spelling (a number, (before, after), or one pair per axis) as one
    (before, after) pair per axis."""
    try:
        array = np.asarray(value, dtype=object)
    except (TypeError, ValueError):
        array = np.empty(0)
    if array.ndim > 2 or array.size == 0:
        raise ValueError(f"pad: {what} must be a number, a (before, after) pair or one pair per axis, got "
                         f"{value!r:.80}\n  at {user_site()}")
    try:
        pairs = np.broadcast_to(array, (ndim, 2))
    except ValueError:
        raise ValueError(f"pad: {what} {value!r:.80} does not fit an input of rank {ndim} (one (before, after) pair "
                         f"per axis)\n  at {user_site()}") from None
    return [(convert(pairs[k, 0]), convert(pairs[k, 1])) for k in range(ndim)]


def _pad_width(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"pad: pad widths must be ints, got {type(value).__name__} {value!r:.60}\n  at {user_site()}")
    if not 0 <= value <= 2**31:
        raise ValueError(f"pad: pad widths must be non-negative, got {value}\n  at {user_site()}")
    return int(value)


@builder
def pad(x, pad_width, mode="constant", constant_values=0, name=None) -> Node:
    """numpy.pad with ``mode`` "constant" (``constant_values``: a number, or pairs as NumPy's), "edge" (the end
    values repeated) or "reflect" (mirrored without repeating the end, periodically for widths beyond the size).
    Constant padding concatenates full_like blocks; edge and reflect gather x along each axis with positions that
    are constants for static sizes, else computed from the run-time size (an empty axis is then an error, as in
    NumPy)."""
    x = as_node(x)
    if not isinstance(mode, str) or mode not in PAD_MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(PAD_MODES)}, got {mode!r:.60}\n  at {user_site()}")
    if x.ndim == 0:  # nothing to pad, as in NumPy
        return _unchanged(x, name)
    widths = _pairs(pad_width, x.ndim, "pad_width", _pad_width)
    if mode == "constant":
        values = _pairs(constant_values, x.ndim, "constant_values",
                        lambda v: fill_value(v, x.dtype, "constant_values", "pad"))
    padded = [axis for axis, (before, after) in enumerate(widths) if before or after]
    result = x
    for axis in padded:
        (before, after), last = widths[axis], name if axis == padded[-1] else None
        if mode == "constant":
            result = _pad_constant(result, axis, before, after, values[axis], last)
        else:
            result = _gather_along(result, axis, _pad_positions(result, axis, before, after, mode), last)
    return result if padded else _unchanged(x, name)


def _pad_constant(x: Node, axis: int, before: int, after: int, values, name) -> Node:
    pieces = []
    for width, value in ((before, values[0]), (x, None), (after, values[1])):
        if isinstance(width, Node):
            pieces.append(x)
        elif width:
            template = tuple(width if k == axis else None for k in range(x.ndim))
            pieces.append(full_like_shape(x, value, x.dtype, template))
    return concatenate(pieces, axis, name=name)


def _pad_positions(x: Node, axis: int, before: int, after: int, mode: str) -> Node:
    """The positions of x along ``axis`` that each element of the padded axis reads."""
    n = x.shape[axis]
    if n == 0:
        raise ShapeError(f"pad: cannot extend the empty axis {axis} in mode {mode!r} (only 'constant' can)")
    if n is not None and small(n + before + after):
        return constant(np.pad(np.arange(n, dtype=np.int64), (before, after), mode=mode))
    size = axis_size(x, axis)
    parts = [constant(np.arange(-before, 0, dtype=np.int64))] if before else []
    parts.append(arange_like(x, axis))
    if after:
        parts.append(size + constant(np.arange(after, dtype=np.int64)))
    offsets = concatenate(parts) if len(parts) > 1 else parts[0]
    if mode == "edge":
        return minimum(maximum(offsets, 0), size - 1)
    period = maximum(2 * (size - 1), 1)  # reflect: a triangle wave of period 2(n - 1); n = 1 repeats the element
    folded = mod(offsets, period)
    return where(less(folded, size), folded, period - folded)


# -- triangles and diagonals ----------------------------------------------------------------------------------------

def _tri_mask(x: Node, k: int, lower: bool) -> Node:
    """Where the lower (upper) triangle of x's last two axes is (a 1-D x is its own rows and columns, as NumPy's),
    from diagonal ``k`` on: a constant for static sizes."""
    row_axis = x.ndim - 2 if x.ndim >= 2 else 0
    n, m = x.shape[row_axis], x.shape[-1]
    if small(n, m):
        mask = np.tri(n, m, k, dtype=bool)
        return constant(mask if lower else ~np.tri(n, m, k - 1, dtype=bool))
    rows = expand_dims(arange_like(x, row_axis), 1)
    columns = arange_like(x, -1)
    offsets = columns - rows
    return less_equal(offsets, k) if lower else greater_equal(offsets, k)


def _triangle(x, k, lower: bool, name) -> Node:
    x = as_node(x)
    what = "tril" if lower else "triu"
    if x.ndim == 0:
        _no_axis(what)
    k = _int_argument(k, "k", what)
    return where(_tri_mask(x, k, lower), x, constant(np.zeros((), x.dtype)), name=name)


@builder
def tril(x, k=0, name=None) -> Node:
    """numpy.tril: x's last two axes with the elements above diagonal ``k`` zeroed; a ``where`` with a mask (a
    constant for static sizes), so it fuses into the Numba loops."""
    return _triangle(x, k, True, name)


@builder
def triu(x, k=0, name=None) -> Node:
    """numpy.triu: x's last two axes with the elements below diagonal ``k`` zeroed (see tril)."""
    return _triangle(x, k, False, name)


def _diagonal_length(n1, n2, offset: int):
    if n1 is None or n2 is None:
        return None
    return max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))


def _diagonal_shape(shape: tuple, offset: int, axis1: int, axis2: int) -> tuple:
    rest = tuple(d for k, d in enumerate(shape) if k not in (axis1, axis2))
    return rest + (_diagonal_length(shape[axis1], shape[axis2], offset),)


@dataclass(frozen=True)
class Diagonal(Op):
    """numpy.diagonal: the axes ``axis1`` and ``axis2`` removed, their diagonal ``offset`` appended as the last
    axis. A view (0 FLOPs)."""

    offset: int
    axis1: int
    axis2: int
    name: ClassVar[str] = "diagonal"
    flops = no_flops

    def infer(self, x):
        if x.ndim < 2 or max(self.axis1, self.axis2) >= x.ndim or self.axis1 == self.axis2:
            raise ShapeError(f"diagonal needs two distinct axes of x, got axes {self.axis1} and {self.axis2} of an "
                             f"input of rank {x.ndim}")
        return _diagonal_shape(x.shape, self.offset, self.axis1, self.axis2), x.dtype

    def compute(self, x):
        return np.array(np.diagonal(x, self.offset, self.axis1, self.axis2))

    def grad(self, node, g):
        return [apply(DiagonalGrad(self.offset, self.axis1, self.axis2), node.inputs[0], g)]


@dataclass(frozen=True)
class DiagonalGrad(Op):
    """Zeros shaped like x with g on the diagonal that ``Diagonal`` reads: its adjoint (each element written
    once)."""

    offset: int
    axis1: int
    axis2: int
    name: ClassVar[str] = "diagonal_grad"
    flops = no_flops

    def infer(self, x, g):
        diagonal = Diagonal(self.offset, self.axis1, self.axis2).infer(x)[0]
        if g.ndim != len(diagonal) or any(a is not None and b is not None and a != b
                                          for a, b in zip(g.shape, diagonal)):
            raise ShapeError(f"the gradient has shape {format_shape(g.shape)} but x's diagonal has shape "
                             f"{format_shape(diagonal)}")
        return x.shape, g.dtype

    def compute(self, x, g):
        diagonal = _diagonal_shape(np.shape(x), self.offset, self.axis1, self.axis2)
        if np.shape(g) != diagonal:
            raise ValueError(f"the gradient has shape {np.shape(g)} but x's diagonal has shape {diagonal}")
        result = np.zeros(np.shape(x), g.dtype)
        view = np.moveaxis(result, (self.axis1, self.axis2), (-2, -1))
        length = diagonal[-1]
        rows = np.arange(length) + max(0, -self.offset)
        view[..., rows, rows + self.offset] = g
        return result

    def grad(self, node, g):
        return [None, apply(Diagonal(self.offset, self.axis1, self.axis2), g)]


def _diagonal_axes(x: Node, axis1, axis2, what: str):
    if x.ndim < 2:
        raise ShapeError(f"{what} needs an input of at least 2 dimensions, got {format_shape(x.shape)}")
    a, b = normalize_axis(axis1, x.ndim, "axis1"), normalize_axis(axis2, x.ndim, "axis2")
    if a == b:
        raise ShapeError(f"{what}: axis1 and axis2 must differ, got {axis1} and {axis2}")
    return a, b


@builder
def diagonal(x, offset=0, axis1=0, axis2=1, name=None) -> Node:
    """numpy.diagonal: the diagonal ``offset`` of the axes ``axis1`` and ``axis2``, which are removed, appended as
    the last axis. A view; its adjoint writes g onto the diagonal of zeros."""
    x = as_node(x)
    a, b = _diagonal_axes(x, axis1, axis2, "diagonal")
    return apply(Diagonal(_int_argument(offset, "offset", "diagonal"), a, b), x, name=name)


@builder
def trace(x, offset=0, axis1=0, axis2=1, name=None) -> Node:
    """numpy.trace: the sum of ``diagonal(x, offset, axis1, axis2)`` along its last axis (integers sum as sg.sum
    sums them)."""
    x = as_node(x)
    offset = _int_argument(offset, "offset", "trace")
    a, b = _diagonal_axes(x, axis1, axis2, "trace")
    return reduce_sum(apply(Diagonal(offset, a, b), x), -1, name=name)


@builder
def diag(v, k=0, name=None) -> Node:
    """numpy.diag: a 1-D v becomes the square matrix with v on diagonal ``k`` (a ``where`` over v padded by |k|);
    a 2-D v gives its diagonal ``k``."""
    v = as_node(v)
    k = _int_argument(k, "k", "diag")
    if v.ndim == 2:
        return diagonal(v, k, name=name)
    if v.ndim != 1:
        raise ShapeError(f"diag takes a 1-D or 2-D input, got {format_shape(v.shape)}")
    padded = pad(v, (k, 0) if k >= 0 else (0, -k)) if k else v
    if small(padded.shape[0], padded.shape[0]):
        n = padded.shape[0]
        mask = constant(np.eye(n, n, k, dtype=bool))
    else:
        positions = arange_like(padded, 0)
        mask = equal(positions - expand_dims(positions, 1), k)
    return where(mask, padded, constant(np.zeros((), v.dtype)), name=name)


# -- gathering and scattering ---------------------------------------------------------------------------------------

def _index_node(indices, what: str) -> Node:
    indices = as_node(indices)
    if indices.dtype.kind not in "iu":
        raise DTypeError(f"{what} must be integers, got {indices.dtype}")
    return indices


@builder
def take_along_axis(x, indices, axis, name=None) -> Node:
    """numpy.take_along_axis: ``x`` read at ``indices`` along ``axis`` (indices of x's rank, broadcasting against x
    on the other axes; negative ones count from the end; axis None: over the flattened x, 1-D indices). A gather:
    its adjoint scatter-adds (repeated indices accumulate)."""
    x = as_node(x)
    indices = _index_node(indices, "take_along_axis: the indices")
    if axis is None:
        if indices.ndim != 1:
            raise ShapeError(f"take_along_axis over the flattened input takes 1-D indices, got "
                             f"{format_shape(indices.shape)}")
        return index(flatten(x), indices, name=name)
    axis = normalize_axis(axis, x.ndim) if x.ndim else _no_axis("take_along_axis")
    if indices.ndim != x.ndim:
        raise ShapeError(f"take_along_axis: the indices {format_shape(indices.shape)} must have x's rank {x.ndim}")
    # x[i_0, ..., indices, ..., i_n] with each i_k = 0..n_k-1 along its own axis: NumPy's broadcasting does the rest
    key = [indices if k == axis else expand_dims(arange_like(x, k), tuple(a for a in range(x.ndim) if a != k))
           for k in range(x.ndim)]
    return index(x, tuple(key), name=name)


@builder
def scatter_add(x, key, values, name=None) -> Node:
    """x with ``values`` added at ``x[key]``: JAX's ``x.at[key].add(values)`` and ``np.add.at`` without the
    mutation. ``key`` is any index ``x[key]`` takes (ints, slices, None, Ellipsis, integer arrays or nodes);
    repeated indices accumulate; ``values`` broadcast to the shape of ``x[key]``. The result has NumPy's promoted
    dtype of x and values. It is x plus the scatter-add that is integer indexing's adjoint, so its gradient is g for
    x and g gathered at ``x[key]`` for values."""
    x = as_node(x)
    template, arrays = parse_key(x, key)
    values = as_node(values, [x])
    target = index_shape(x.shape, template, [a.shape for a in arrays])
    if not broadcasts_to(values.shape, target):
        raise ShapeError(f"values of shape {format_shape(values.shape)} do not broadcast to the shape "
                         f"{format_shape(target)} of x[key]")
    result_dtype = np.result_type(x.dtype, values.dtype)
    values = cast(values, result_dtype)  # summed in the result's dtype, as np.add.at into x would
    if values.shape != target:
        if None in target:
            values = broadcast_like(values, index(x, key))
        else:
            values = broadcast_to(values, target)
    return add(x, apply(IndexGrad(template), x, values, *arrays), name=name)


@builder
def index_add(x, axis, index, source, name=None) -> Node:
    """PyTorch's ``x.index_add(axis, index, source)``: ``source[..., i, ...]`` added to ``x[..., index[i], ...]``
    along ``axis``, repeated indices accumulating; ``scatter_add(x, (slice(None),) * axis + (index,), source)``.
    ``index`` holds integers (1-D as in PyTorch, or any rank as np.add.at takes); ``source`` broadcasts to x's shape
    with that axis replaced by index's."""
    x = as_node(x)
    axis = normalize_axis(axis, x.ndim) if x.ndim else _no_axis("index_add")
    return scatter_add(x, (slice(None),) * axis + (_index_node(index, "index_add: the index"),), source, name=name)
