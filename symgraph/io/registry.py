"""Every op a saved graph may hold, by name, with the rules its attributes and inputs must satisfy.

The registry is an explicit list of op classes: a file names an op, and only a name listed here is built; nothing
is imported or looked up by a name read from a file. Attributes are encoded generically (None, bools, ints,
strings, tuples as JSON lists, dtypes as ``{"dtype": name}``) and, when a file is read, checked by a rule per
attribute holding what the op's builder guarantees (axes normalized and in range, strides positive, templates well
formed): the backends rely on those invariants, which an op's ``infer`` does not check by itself. A few ops also
constrain inputs that ``infer`` leaves alone (a random stream's state is an int64 pair). The loader then runs
``infer`` and compares its shape and dtype with the file's.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

from symgraph import dtypes
from symgraph.errors import SymgraphError
from symgraph.graph import MAX_DIM, Op, format_shape
from symgraph.io.fields import shown
from symgraph.ops import collective, conv, elementwise as ew, gradient, indexing, linalg, nn, random, reduce, scan, shape as shapes
from symgraph.ops import arrays  # shape, indexing and creation (issue 15)

MAX_TEXT = 200  # characters of a string attribute (a loss's name)
MAX_SALT = 2**63 - 1


class Invalid(Exception):
    """An attribute or input that breaks its op's rule; the loader turns it into a FormatError naming the node."""


@dataclass(frozen=True)
class OpSpec:
    """An op class, a rule per attribute (value, inputs), an optional rule on (op, inputs) for what ``infer`` leaves
    unchecked, and its number of inputs (at least ``min_inputs``; at most ``max_inputs`` unless None)."""

    op_class: type
    rules: dict
    inputs_rule: Callable | None
    min_inputs: int
    max_inputs: int | None

    def make(self, attributes: dict) -> Op:
        """The op with these (decoded) attributes. An op without attributes is one shared instance, as the builders
        share theirs: shape rules cache NumPy's result dtype per op instance, so an instance per loaded node would
        grow that cache with every file loaded."""
        if not self.rules:
            return _SHARED.setdefault(self.op_class, self.op_class())
        return self.op_class(**attributes)

    def check(self, op: Op, inputs: tuple) -> None:
        """Invalid unless ``op`` (of this class) on ``inputs`` is a node its builders could have made: the number of
        inputs, each attribute's rule, then the rule on the inputs."""
        count = len(inputs)
        if count < self.min_inputs or (self.max_inputs is not None and count > self.max_inputs):
            wanted = f"{self.min_inputs}" if self.max_inputs == self.min_inputs else f"at least {self.min_inputs}"
            raise Invalid(f"takes {wanted} inputs, got {count}")
        for name, value in op.attributes().items():
            try:
                self.rules[name](value, inputs)
            except Invalid as problem:
                raise Invalid(f"attribute {name!r} {problem}") from None
        if self.inputs_rule is not None:
            self.inputs_rule(op, inputs)


def encode_attribute(value):
    """An attribute value as JSON: None, bool, int and str as themselves, tuples as lists, dtypes as objects."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, tuple):
        return [encode_attribute(v) for v in value]
    if isinstance(value, np.dtype) and value in dtypes.SUPPORTED:
        return {"dtype": value.name}
    if isinstance(value, float):
        return {"float": value.hex()}  # exact, and infinities stay JSON
    if isinstance(value, collective.Communicator):  # world_communicator checked it: the world of the loading job
        return collective.WORLD
    raise TypeError(f"an attribute value of type {type(value).__name__} ({value!r:.60}) cannot be saved")


_DTYPES_BY_NAME = {d.name: d for d in dtypes.SUPPORTED}
MAX_ATTRIBUTE_DEPTH = 4  # conv padding ((top, bottom), (left, right)) is the deepest


def decode_attribute(value, name: str):
    """The inverse of ``encode_attribute`` for the value of attribute ``name`` read from a file (Invalid for
    anything else)."""
    try:
        return _decoded(value, 0)
    except Invalid as problem:
        raise Invalid(f"attribute {name!r}: {problem}") from None


def _decoded(value, depth: int):
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value) is int:
        if abs(value) > 2**64:
            raise Invalid(f"an int of {len(str(abs(value)))} digits is out of range")
        return value
    if isinstance(value, list):
        if depth >= MAX_ATTRIBUTE_DEPTH:
            raise Invalid(f"lists are nested more than {MAX_ATTRIBUTE_DEPTH} deep")
        return tuple(_decoded(v, depth + 1) for v in value)
    if isinstance(value, dict) and set(value) == {"dtype"} and isinstance(value["dtype"], str):
        dtype = _DTYPES_BY_NAME.get(value["dtype"])
        if dtype is None:
            raise Invalid(f"dtype {shown(value['dtype'])} is not supported (supported: {dtypes.supported_names()})")
        return dtype
    if isinstance(value, dict) and set(value) == {"float"} and isinstance(value["float"], str):
        try:
            if len(value["float"]) > 64:  # float.hex() writes at most 24 characters
                raise ValueError
            return float.fromhex(value["float"])
        except (ValueError, OverflowError):
            raise Invalid(f"{shown(value['float'])} is not a float in hexadecimal notation") from None
    raise Invalid(f"{_show(value)} is not an attribute value (null, a bool, an int, a string, a list, a dtype or a "
                  f"float)")


def _show(value) -> str:
    return f"{type(value).__name__} {shown(value)}"


# -- attribute rules: rule(value, inputs) raises Invalid ----------------------------------------------------------

def _int_in(value, low: int, high: int, what: str = "an int") -> int:
    if type(value) is not int or not low <= value <= high:
        raise Invalid(f"must be {what} in [{low}, {high}], got {_show(value)}")
    return value


def flag(value, inputs) -> None:
    if type(value) is not bool:
        raise Invalid(f"must be true or false, got {_show(value)}")


def dtype(value, inputs) -> None:
    if not isinstance(value, np.dtype):
        raise Invalid(f"must be a dtype, got {_show(value)}")


def float_dtype(value, inputs) -> None:
    dtype(value, inputs)
    if value.kind != "f":
        raise Invalid(f"must be a floating-point dtype, got {value}")


def axis(extra: int = 0):
    """An axis of input 0, normalized (non-negative); ``extra`` axes more for ops that add one (stack)."""
    def rule(value, inputs):
        _int_in(value, 0, inputs[0].ndim + extra - 1, f"an axis of an input of rank {inputs[0].ndim}")
    return rule


def optional_axis(value, inputs) -> None:
    if value is not None:
        axis()(value, inputs)


def _sorted_axes(value, ndim: int) -> None:
    if not isinstance(value, tuple) or any(type(a) is not int for a in value):
        raise Invalid(f"must be a list of axes, got {_show(value)}")
    if list(value) != sorted(set(value)) or any(not 0 <= a < ndim for a in value):
        raise Invalid(f"must be distinct axes in [0, {ndim}) in increasing order, got {value}")


def axes(value, inputs) -> None:
    _sorted_axes(value, inputs[0].ndim)


def optional_axes(value, inputs) -> None:
    if value is not None:
        _sorted_axes(value, inputs[0].ndim)


def new_axes(value, inputs) -> None:
    """expand_dims' axes: positions in the result, whose rank is the input's plus their number."""
    if not isinstance(value, tuple):
        raise Invalid(f"must be a list of axes, got {_show(value)}")
    _sorted_axes(value, inputs[0].ndim + len(value))


def permutation(value, inputs) -> None:
    ndim = inputs[0].ndim
    if (not isinstance(value, tuple) or any(type(a) is not int for a in value)
            or sorted(value) != list(range(ndim))):
        raise Invalid(f"must be a permutation of the {ndim} axes, got {_show(value)}")


def _dims(value, low: int, unknown: bool = False) -> None:
    if not isinstance(value, tuple) or len(value) > 64:
        raise Invalid(f"must be a list of at most 64 sizes, got {_show(value)}")
    for dim in value:
        if not (unknown and dim is None):
            _int_in(dim, low, MAX_DIM, "a size")


def reshape_target(value, inputs) -> None:
    _dims(value, -1, unknown=True)


def kept_axes(value, inputs) -> None:
    """reshape's kept axes: per ``None`` entry of its shape, distinct axes of its input whose sizes multiply into it
    at run time, each axis in one group at most."""
    if not isinstance(value, tuple) or not all(isinstance(group, tuple) and group for group in value):
        raise Invalid(f"must be a list of non-empty lists of axes, got {_show(value)}")
    for group in value:
        for axis_ in group:
            _int_in(axis_, 0, inputs[0].ndim - 1, f"an axis of an input of rank {inputs[0].ndim}")
    flat = [a for group in value for a in group]
    if len(set(flat)) != len(flat):
        raise Invalid(f"names an axis twice: {_show(value)}")


def broadcast_target(value, inputs) -> None:
    """broadcast_to's target: sizes, and None where it keeps the input's size on the axis aligned from the right."""
    _dims(value, 0, unknown=True)
    if None in value[:max(len(value) - inputs[0].ndim, 0)]:
        raise Invalid(f"keeps a size (None) where the input has no axis, in {_show(value)}")


def positive_size(value, inputs) -> None:
    _int_in(value, 1, MAX_DIM, "a size")


def salt(value, inputs) -> None:
    _int_in(value, 0, MAX_SALT)


def real(value, inputs) -> None:
    if type(value) is not float or value != value:
        raise Invalid(f"must be a number (not NaN), got {_show(value)}")


def finite(value, inputs) -> None:
    real(value, inputs)
    if value in (float("inf"), float("-inf")):
        raise Invalid(f"must be finite, got {_show(value)}")


def clip_bounds(op, inputs) -> None:
    if op.lo > op.hi:
        raise Invalid(f"lo {op.lo!r} must not exceed hi {op.hi!r}")


def world_communicator(value, inputs) -> None:
    """A collective's communicator: a file holds "world" (loaded as the world communicator of the loading job, so a
    graph saved by N processes loads in any job); only such a graph can be saved."""
    if not isinstance(value, collective.Communicator):
        raise Invalid(f"must be {collective.WORLD!r} (the world communicator at load time), got {_show(value)}")
    if not value.is_world():
        raise Invalid(f"is {value!r}, a communicator other than the world: a saved graph sums over the world "
                      f"communicator of the job that loads it, so only an allreduce over the world (or a duplicate "
                      f"of it) can be saved")


def text(value, inputs) -> None:
    if not isinstance(value, str) or len(value) > MAX_TEXT or not value.isprintable():
        raise Invalid(f"must be printable text of at most {MAX_TEXT} characters, got {_show(value)}")


def part(value, inputs) -> None:
    _int_in(value, 0, len(inputs) - 2, "the position of a concatenated input")


def template(first_array: int):
    """An index template (see symgraph.ops.indexing) whose integer arrays are inputs ``first_array`` onwards,
    numbered in order of appearance as the builder numbers them."""
    def rule(value, inputs):
        if not isinstance(value, tuple):
            raise Invalid(f"must be a list of index items, got {_show(value)}")
        arrays = 0
        for item in value:
            if not isinstance(item, tuple) or not item or item[0] not in ("int", "slice", "newaxis", "array"):
                raise Invalid(f"holds {_show(item)}, not an index item (int, slice, newaxis or array)")
            kind, rest = item[0], item[1:]
            if kind == "int" and len(rest) == 1:
                _int_in(rest[0], -MAX_DIM, MAX_DIM, "an index")
            elif kind == "slice" and len(rest) == 3:
                for bound in rest:
                    if bound is not None:
                        _int_in(bound, -MAX_DIM, MAX_DIM, "a slice bound")
                if rest[2] == 0:
                    raise Invalid("holds a slice of step 0")
            elif kind == "array" and len(rest) == 1:
                _int_in(rest[0], arrays, arrays, "the next array's number")
                arrays += 1
            elif not (kind == "newaxis" and not rest):
                raise Invalid(f"holds the malformed item {shown(item)}")
        if arrays != len(inputs) - first_array:
            raise Invalid(f"uses {arrays} index arrays but the node has {len(inputs) - first_array}")
        for array in inputs[first_array:]:
            if array.dtype.kind not in "iu":
                raise Invalid(f"index arrays must be integers, got {array.dtype}")
    return rule


def _canonical(normalize, value, what: str) -> None:
    """``value`` is what the builders' normalization ``normalize`` makes of it (so it came from a builder)."""
    try:
        normal = normalize(value)
    except SymgraphError as error:
        raise Invalid(str(error)) from None
    if normal != value:
        raise Invalid(f"{shown(value)} is not a normalized {what}")


def pair(minimum: int):
    def rule(value, inputs):
        if not isinstance(value, tuple):
            raise Invalid(f"must be a pair of ints, got {_show(value)}")
        _canonical(lambda v: conv._pair(v, "the pair", minimum), value, f"pair of ints >= {minimum}")
    return rule


def conv_padding(value, inputs) -> None:
    if not (isinstance(value, tuple) or value in ("same", "full")):
        raise Invalid(f"must be 'same', 'full' or ((top, bottom), (left, right)), got {_show(value)}")
    _canonical(conv._conv_padding, value, "padding")


# -- input rules: rule(op, inputs) raises Invalid -----------------------------------------------------------------

def pool_geometry(op, inputs) -> None:
    _canonical(lambda v: conv._pool_args(*v), (op.kernel, op.stride, op.padding), "pooling geometry")


def stream_state(op, inputs) -> None:
    state = inputs[0]
    if state.dtype != dtypes.int64 or state.shape != (2,):
        raise Invalid(f"a random stream's state must be int64 of shape (2,), got {format_shape(state.shape)} "
                      f"{state.dtype}")


def optional_training_flag(op, inputs) -> None:
    if len(inputs) > 2:
        raise Invalid(f"takes an input and an optional training flag, got {len(inputs)} inputs")
    if len(inputs) == 2 and (inputs[1].dtype != dtypes.bool_ or inputs[1].shape != ()):
        raise Invalid(f"the training flag must be a bool scalar, got {format_shape(inputs[1].shape)} "
                      f"{inputs[1].dtype}")


def one_kept_axis_per_unknown_size(op, inputs) -> None:
    if sum(d is None for d in op.shape) != len(op.kept):
        raise Invalid(f"has {sum(d is None for d in op.shape)} unknown sizes (None) in its shape but keeps "
                      f"{len(op.kept)} groups of axes")


def same_ranks(op, inputs) -> None:
    """concatenate_part: the gradient and every concatenated input have one rank (the axis is one of theirs)."""
    if any(i.ndim != inputs[0].ndim for i in inputs[1:]):
        raise Invalid("the gradient and the concatenated inputs must have the same rank")


def like_predictions(op, inputs) -> None:
    targets, predictions = inputs
    if targets.ndim != predictions.ndim or any(
            t is not None and p is not None and t != p for t, p in zip(targets.shape, predictions.shape)):
        raise Invalid(f"targets {format_shape(targets.shape)} and predictions {format_shape(predictions.shape)} "
                      "must have compatible shapes")


# shape, indexing and creation (issue 15)
def fill_scalar(value, inputs) -> None:
    if type(value) not in (bool, int, float):
        raise Invalid(f"must be a bool, an int or a float, got {_show(value)}")


def shape_template(value, inputs) -> None:
    """full_like's shape: one entry per axis of the reference, None (its size) or a size."""
    _dims(value, 0, unknown=True)
    if len(value) != inputs[0].ndim:
        raise Invalid(f"must have one entry per axis of the reference (rank {inputs[0].ndim}), got {_show(value)}")


def offset(value, inputs) -> None:
    _int_in(value, -MAX_DIM, MAX_DIM, "a diagonal's offset")


def fill_fits_dtype(op, inputs) -> None:
    """full_like's value is a Python scalar of its dtype's kind, and in its range."""
    kind = {"b": bool, "i": int, "u": int, "f": float}[op.dtype.kind]
    if type(op.value) is not kind:
        raise Invalid(f"the value {_show(op.value)} is not a {op.dtype} value")
    if kind is int and not np.iinfo(op.dtype).min <= op.value <= np.iinfo(op.dtype).max:
        raise Invalid(f"the value {op.value} is outside the range of {op.dtype}")


def distinct_axes(op, inputs) -> None:
    if op.axis1 == op.axis2:
        raise Invalid(f"axis1 and axis2 must differ, got {op.axis1}")


# -- the registry -------------------------------------------------------------------------------------------------

_NO_ATTRIBUTES = (
    ew.Neg, ew.Abs, ew.Sign, ew.Exp, ew.Log, ew.Log1p, ew.Expm1, ew.Sqrt, ew.Square, ew.Reciprocal, ew.Sin, ew.Cos,
    ew.Tanh, ew.Sigmoid, ew.Relu, ew.Softplus, ew.Floor, ew.Ceil, ew.StopGradient,
    ew.Add, ew.Sub, ew.Mul, ew.Div, ew.Pow, ew.Maximum, ew.Minimum,
    ew.Less, ew.LessEqual, ew.Greater, ew.GreaterEqual, ew.Equal, ew.NotEqual, ew.Where,
    ew.Tan, ew.Sinh, ew.Cosh, ew.Arcsin, ew.Arccos, ew.Arctan, ew.Arcsinh, ew.Arccosh, ew.Arctanh, ew.Exp2, ew.Log2,
    ew.Log10, ew.Cbrt, ew.Rsqrt, ew.Logit, ew.Erf, ew.Erfc, ew.Isnan, ew.Isinf, ew.Isfinite,
    ew.Arctan2, ew.Hypot, ew.Logaddexp, ew.Mod, ew.Fmod, ew.Clip,
    linalg.Matmul, shapes.ReshapeLike, shapes.BroadcastLike, shapes.SumTo,
    nn.SparseSoftmaxCrossEntropy, nn.SoftmaxCrossEntropy,
)
_REDUCTION = {"axes": optional_axes, "keepdims": flag}
_CONV = {"stride": pair(1), "padding": conv_padding, "dilation": pair(1)}
_POOL = {"kernel": pair(1), "stride": pair(1), "padding": pair(0)}

_WITH_ATTRIBUTES = [  # (op class, attribute rules, inputs rule)
    (ew.Cast, {"dtype": dtype}, None),
    (reduce.Sum, _REDUCTION, None), (reduce.Mean, _REDUCTION, None), (reduce.Max, _REDUCTION, None),
    (reduce.Min, _REDUCTION, None), (reduce.Prod, _REDUCTION, None),
    (reduce.Argmax, {"axis": optional_axis, "keepdims": flag}, None),
    (reduce.Argmin, {"axis": optional_axis, "keepdims": flag}, None),
    (reduce.Size, {"axes": optional_axes}, None),
    (shapes.Reshape, {"shape": reshape_target, "kept": kept_axes}, one_kept_axis_per_unknown_size),
    (shapes.ExpandDims, {"axes": new_axes}, None),
    (shapes.Squeeze, {"axes": axes}, None),
    (shapes.Transpose, {"axes": permutation}, None),
    (shapes.BroadcastTo, {"shape": broadcast_target}, None),
    (indexing.Index, {"template": template(1)}, None),
    (indexing.IndexGrad, {"template": template(2)}, None),
    (indexing.OneHot, {"depth": positive_size, "dtype": dtype}, None),
    (indexing.Concatenate, {"axis": axis()}, None),
    (indexing.ConcatenatePart, {"axis": axis(), "part": part}, same_ranks),
    (indexing.Stack, {"axis": axis(extra=1)}, None),
    (indexing.ZerosLike, {"dtype": dtype}, None),
    (nn.Softmax, {"axis": axis()}, None),
    (nn.LogSoftmax, {"axis": axis()}, None),
    (nn.LogSumExp, _REDUCTION, None),
    (nn.TargetsLike, {"loss": text, "predictions": text}, like_predictions),
    (nn.ValuesPerChannel, {"axes": axes}, optional_training_flag),
    (conv.Conv2d, _CONV, None), (conv.Conv2dBackpropInput, _CONV, None), (conv.Conv2dBackpropFilter, _CONV, None),
    (conv.MaxPool2d, _POOL, pool_geometry), (conv.MaxPool2dGrad, _POOL, pool_geometry),
    (conv.MaxPool2dGather, _POOL, pool_geometry), (conv.AvgPool2d, _POOL, pool_geometry),
    (conv.AvgPool2dGrad, _POOL, pool_geometry),
    (random.RandomUniform, {"salt": salt, "dtype": float_dtype}, stream_state),
    (gradient.ClipGradient, {"lo": real, "hi": real}, clip_bounds),
    (gradient.ScaleGradient, {"k": finite}, None),
    (collective.AllReduce, {"comm": world_communicator}, None),
    # shape, indexing and creation (issue 15)
    (arrays.FullLike, {"value": fill_scalar, "dtype": dtype, "shape": shape_template}, fill_fits_dtype),
    (arrays.ArangeLike, {"axis": axis()}, None),
    (arrays.Diagonal, {"offset": offset, "axis1": axis(), "axis2": axis()}, distinct_axes),
    (arrays.DiagonalGrad, {"offset": offset, "axis1": axis(), "axis2": axis()}, distinct_axes),
    # reductions and products (issue 15)
    (reduce.All, _REDUCTION, None), (reduce.Any, _REDUCTION, None),
    (scan.Cumsum, {"axis": axis(), "reverse": flag}, None), (scan.Cumprod, {"axis": axis()}, None),
    (scan.LinearRecurrence, {"axis": axis(), "reverse": flag}, None),
]


def _spec(op_class: type, rules: dict, inputs_rule) -> OpSpec:
    fields = [f.name for f in dataclasses.fields(op_class)]
    if sorted(fields) != sorted(rules):
        raise TypeError(f"the registry's rules for {op_class.__name__} cover {sorted(rules)}, its fields are "
                        f"{sorted(fields)}")
    code = op_class.infer.__code__  # infer(self, *inputs): its positional parameters after self are the inputs
    fixed, variadic = code.co_argcount - 1, bool(code.co_flags & inspect.CO_VARARGS)
    return OpSpec(op_class, dict(rules), inputs_rule, fixed if fixed else int(variadic), None if variadic else fixed)


OPS: dict[str, OpSpec] = {
    spec.op_class.name: spec
    for spec in [_spec(c, {}, None) for c in _NO_ATTRIBUTES] + [_spec(*entry) for entry in _WITH_ATTRIBUTES]
}


_BY_CLASS = {spec.op_class: spec for spec in OPS.values()}
_SHARED: dict = {}  # op class -> its one instance, for ops without attributes


def spec_of(op: Op) -> OpSpec | None:
    """The registry's entry for ``op``, or None when it is not one of symgraph's ops (a user's own Op class)."""
    return _BY_CLASS.get(type(op))
