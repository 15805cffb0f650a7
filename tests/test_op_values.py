"""Every op of the table (tests/op_table.py) against its NumPy reference, on every backend (tests/conftest.py).

For each row, sample and dtype combination: the static shape and dtype at construction equal NumPy's result's, and
the value computed by the backend (inputs fed through placeholders) equals NumPy's; constants give the same, and so do
placeholders with unknown dimensions, whose static shapes follow the README's rules. NumPy's outcome is the contract:
where NumPy refuses a dtype (TypeError) or would give one symgraph does not support (float16, int8), symgraph raises
``sg.DTypeError`` at construction; where NumPy fails at run time (max of an empty axis), ``sg.EvaluationError``.
Error inputs raise the documented class, naming the op, the node and the line that built it. Hypothesis explores
broadcastable shapes, reductions over random axis subsets, batched matmul, transposes and reshapes. Documented
differences from NumPy (Python floats meeting int/bool arrays become float32 first, ``==`` is identity) are tested as
documented. Contract tests fail the day an op class or builder has no row.
"""

import dataclasses
import importlib
import operator
import os
import pkgutil
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symgraph as sg
import symgraph.graph
import symgraph.ops
from op_table import (
    ALL, NO_ROW, REDUCTION_ROWS, ROWS, error_cases, family, input_dtypes, sample, static_broadcast, value_cases,
)
from symgraph.graph import Op

SUPPORTED = {np.dtype(d) for d in ALL}
DEFAULT_TOLERANCE = {"float32": 1e-6, "float64": 1e-12}

# NumPy's mean of an empty axis is NaN with a warning; symgraph evaluates it as NumPy does.
pytestmark = pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")

# OP_TABLE_EXAMPLES=3000 explores further (about a minute).
HYPOTHESIS = settings(max_examples=int(os.environ.get("OP_TABLE_EXAMPLES", 60)), deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])


# -- the NumPy oracle and the comparison ----------------------------------------------------------------------------

DTYPE_ERROR = "dtype error"
RUNTIME_ERROR = "runtime error"


def numpy_outcome(row, arrays, kwargs):
    """NumPy's result, or DTYPE_ERROR (refused dtypes, unsupported result dtype), or RUNTIME_ERROR."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = np.asarray(row.reference(*arrays, **kwargs))
        except TypeError:
            return DTYPE_ERROR
        except ValueError:
            return RUNTIME_ERROR
    if result.dtype not in SUPPORTED:
        return DTYPE_ERROR
    return result


def assert_values(actual, expected, row=None):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    if expected.dtype.kind == "f":
        name = expected.dtype.name
        rtol = (row.tolerance if row is not None else {}).get(name, DEFAULT_TOLERANCE[name])
        if not np.allclose(actual, expected, rtol=rtol, atol=rtol, equal_nan=True):  # (assert_allclose is slower)
            np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol, equal_nan=True)
    elif not np.array_equal(actual, expected):  # exact for ints and bools
        np.testing.assert_array_equal(actual, expected)


def unknown(shape, mask=None):
    """The shape with the masked dimensions (all by default) replaced by None."""
    mask = [True] * len(shape) if mask is None else mask
    return tuple(None if m else d for d, m in zip(shape, mask))


def inputs_for(row, sample_, combo, rng):
    dtypes = input_dtypes(combo, len(sample_.shapes))
    return [sample(shape, dtype, row.domain(k, sample_), rng)
            for k, (shape, dtype) in enumerate(zip(sample_.shapes, dtypes))]


def check(backend, row, arrays, kwargs, leaves="placeholder", masks=None, expected=None):
    """Build the row's op from leaves holding ``arrays``, run it on ``backend`` and compare it with NumPy's outcome.

    leaves: "placeholder" (exact shapes), "unknown" (placeholders with the dimensions in ``masks`` unknown: the static
    shape must be compatible with NumPy's) or "constant". Returns (node, NumPy's outcome); node is None when
    construction had to fail.
    """
    expected = numpy_outcome(row, arrays, kwargs) if expected is None else expected
    if leaves == "constant":
        inputs, fed, values = [sg.constant(a) for a in arrays], [], []
    else:
        masks = masks if leaves == "unknown" else [[False] * a.ndim for a in arrays]
        inputs = [sg.placeholder(unknown(a.shape, m), a.dtype, name=f"in{k}")
                  for k, (a, m) in enumerate(zip(arrays, masks))]
        fed, values = inputs, arrays
    if expected is DTYPE_ERROR:
        with pytest.raises(sg.DTypeError):
            row.make(*inputs, **kwargs)
        return None, expected
    node = row.make(*inputs, **kwargs)
    assert row.op is None or isinstance(node.op, row.op) or any(node is i for i in inputs), (row.name, node)
    if expected is RUNTIME_ERROR:
        with pytest.raises(sg.EvaluationError):
            backend.run(fed, [node], values)
        return node, expected
    assert node.dtype == expected.dtype, (node, expected.dtype)
    if leaves == "unknown":
        assert len(node.shape) == expected.ndim, (node, expected.shape)
        assert all(s is None or s == e for s, e in zip(node.shape, expected.shape)), (node, expected.shape)
    else:
        assert node.shape == expected.shape, (node, expected.shape)
    (value,) = backend.run(fed, [node], values)
    assert_values(value, expected, row)
    return node, expected


def unknown_masks(arrays):
    """Every dimension unknown; and only the first one of each input (None meeting known sizes)."""
    every = [[True] * a.ndim for a in arrays]
    first = [[k == 0 for k in range(a.ndim)] for a in arrays]
    return [every] if first == every else [every, first]


# -- the table: values, static shapes and dtypes, refusals ----------------------------------------------------------

VALUE_CASES = [pytest.param(row, s, combo, id=f"{row.name}-{s.id}-{'-'.join(combo)}")
               for row, s, combo in value_cases()]


@pytest.mark.parametrize("row,sample_,combo", VALUE_CASES)
def test_values_match_numpy(backend, row, sample_, combo):
    arrays = inputs_for(row, sample_, combo, np.random.default_rng(0))
    _, outcome = check(backend, row, arrays, sample_.kwargs)
    if outcome is DTYPE_ERROR:
        return
    check(backend, row, arrays, sample_.kwargs, leaves="constant", expected=outcome)
    if not sample_.unknown:
        return
    for masks in unknown_masks(arrays):
        node, _ = check(backend, row, arrays, sample_.kwargs, leaves="unknown", masks=masks, expected=outcome)
        if row.static_shape is not None and node is not None:
            static = [unknown(a.shape, m) for a, m in zip(arrays, masks)]
            assert node.shape == row.static_shape(*static, **sample_.kwargs), (node, static)


BUILD_ERRORS = [pytest.param(row, case, id=f"{row.name}-{k}") for row, k, case in error_cases() if case.when == "build"]
RUN_ERRORS = [pytest.param(row, case, id=f"{row.name}-{k}") for row, k, case in error_cases() if case.when == "run"]
USER_LINE = re.compile(r"tests[/\\](op_table|test_op_values)\.py:\d+")


def _error_inputs(case):
    return [sg.placeholder(unknown(a.shape) if case.unknown else a.shape, a.dtype, name=f"in{k}")
            for k, a in enumerate(case.inputs)]


def assert_describes(error, row, inputs):
    """A symgraph error names the op, the input nodes and the user's line (here: the table's build call)."""
    message = str(error)
    assert row.name in message or (row.op is not None and row.op.name in message), message
    assert USER_LINE.search(message), message
    if inputs:
        assert "placeholder node 'in0' (shape" in message, message


@pytest.mark.parametrize("row,case", BUILD_ERRORS)
def test_error_inputs_are_refused_when_built(row, case):
    inputs = _error_inputs(case)
    with pytest.raises(case.error, match=re.escape(case.match)) as info:
        (case.build or row.make)(*inputs, **case.kwargs)
    if isinstance(info.value, sg.SymgraphError):
        assert_describes(info.value, row, inputs)


@pytest.mark.parametrize("row,case", RUN_ERRORS)
def test_error_inputs_fail_at_run_time(backend, row, case):
    inputs = _error_inputs(case)
    node = (case.build or row.make)(*inputs, **case.kwargs)
    with pytest.raises(case.error, match=re.escape(case.match)) as info:
        backend.run(inputs, [node], list(case.inputs))
    assert_describes(info.value, row, ())
    assert f"{node.op.name} node" in str(info.value)


# -- the table's contract: every op class and builder has a row, every row's op has its pieces -----------------------

def _op_modules():
    return [importlib.import_module(f"symgraph.ops.{m.name}") for m in pkgutil.iter_modules(symgraph.ops.__path__)]


def _concrete_op_classes():
    """Op subclasses defined in symgraph.graph and symgraph.ops.* that are instantiated: dataclasses with a name."""
    return {cls for module in [symgraph.graph, *_op_modules()] for cls in vars(module).values()
            if isinstance(cls, type) and issubclass(cls, Op) and cls.__module__ == module.__name__
            and dataclasses.is_dataclass(cls) and "name" in cls.__dict__}


def test_every_op_class_has_a_row():
    found = _concrete_op_classes()
    covered = {row.op for row in ROWS.values() if row.op is not None}
    missing = sorted(cls.__name__ for cls in found - covered if cls.__name__ not in NO_ROW)
    assert not missing, f"op classes without a row in tests/op_table.py: {missing}"
    assert covered <= found and set(NO_ROW) <= {cls.__name__ for cls in found - covered}


def test_every_builder_has_a_row():
    builders = {(module.__name__, name) for module in _op_modules() for name, f in vars(module).items()
                if callable(f) and hasattr(f, "__wrapped__") and f.__module__ == module.__name__}
    covered = {(row.builder.__module__, row.builder.__name__) for row in ROWS.values() if row.builder is not None}
    assert not builders - covered, f"builders without a row in tests/op_table.py: {sorted(builders - covered)}"


@pytest.mark.parametrize("row", [r for r in ROWS.values() if r.op is not None], ids=lambda r: r.name)
def test_every_row_op_has_a_shape_rule_a_reference_and_a_gradient_rule(row):
    for piece in ("infer", "compute", "grad"):
        assert any(piece in vars(cls) for cls in row.op.__mro__ if cls is not Op), f"{row.op.__name__}: no {piece}"
    assert row.samples and row.dtypes, row.name
    assert row.grads if isinstance(row.grads, tuple) else row.grads.strip(), f"{row.name}: gradient cases or reason"


# -- operators and methods ------------------------------------------------------------------------------------------

OPERATOR_DTYPES = [(d, d) for d in ALL] + [("int32", "float32"), ("bool", "int64"), ("float32", "float64"),
                                           ("int64", "int32")]
OPERATOR_CASES = [pytest.param(row, combo[:len(row.samples[0].shapes)], id=f"{row.name}-{'-'.join(combo)}")
                  for row in ROWS.values() if row.operator for combo in OPERATOR_DTYPES
                  if len(row.samples[0].shapes) == 2 or combo[0] == combo[1]]


@pytest.mark.parametrize("row,combo", OPERATOR_CASES)
def test_operators_build_the_rows_op(backend, row, combo):
    """``x + y``, ``node + ndarray`` and ``ndarray + node`` build the row's op, with NumPy's result."""
    arrays = inputs_for(row, row.samples[0], combo, np.random.default_rng(3))
    expected = numpy_outcome(row, arrays, {})
    nodes = [sg.placeholder(a.shape, a.dtype, name=f"in{k}") for k, a in enumerate(arrays)]
    if expected is DTYPE_ERROR:
        with pytest.raises(sg.DTypeError):
            row.operator(*nodes)
        return
    variants = [(row.operator(*nodes), nodes, arrays)]
    if len(nodes) == 2:
        variants += [(row.operator(nodes[0], arrays[1]), nodes[:1], arrays[:1]),
                     (row.operator(arrays[0], nodes[1]), nodes[1:], arrays[1:])]
    for k, (node, fed, values) in enumerate(variants):
        # ndarray < node is Python's reflected node > ndarray: the same values through the mirrored op
        assert k == 2 or isinstance(node.op, row.op), node
        assert node.shape == expected.shape and node.dtype == expected.dtype, node
        assert_values(backend.run(fed, [node], values)[0], expected, row)


def test_node_equality_is_identity():
    """README: ``==`` and ``!=`` compare node identity (use sg.equal / sg.not_equal elementwise)."""
    x, y = sg.placeholder((3,)), sg.placeholder((3,))
    assert (x == x) is True and (x == y) is False and (x != y) is True
    assert len({x, y, x}) == 2
    node = sg.equal(x, y)
    assert node.dtype == np.bool_ and node.shape == (3,)


def test_operators_and_methods_match_numpy(backend):
    rng = np.random.default_rng(4)
    a, b = sample((2, 3, 4), "float64", rng=rng), sample((4,), "float64", "positive", rng)
    m = sample((4, 2), "float64", rng=rng)
    x, y = sg.placeholder((2, 3, 4), "float64", name="x"), sg.placeholder((4,), "float64", name="y")
    M = sg.constant(m)
    cases = [
        (-x, -a), (abs(x), np.abs(a)), (+x, a), (x.T, a.T), (y ** x, b ** a), (x @ M, a @ m), (2 - x, 2 - a),
        (1 / y, 1 / b), (x[1:3, ::2], a[1:3, ::2]),
        (x.sum(), a.sum()), (x.sum(axis=1, keepdims=True), a.sum(axis=1, keepdims=True)), (x.sum(1), a.sum(1)),
        (x.mean(), a.mean()), (x.mean(axis=(0, 2)), a.mean(axis=(0, 2))), (x.max(), a.max()),
        (x.max(-1), a.max(-1)), (x.max(1, keepdims=True), a.max(1, keepdims=True)),
        (x.min(axis=0, keepdims=True), a.min(axis=0, keepdims=True)), (x.prod(axis=2), a.prod(axis=2)),
        (x.argmax(), a.argmax()), (x.argmax(axis=1), a.argmax(axis=1)),
        (x.argmin(axis=-1, keepdims=True), a.argmin(axis=-1, keepdims=True)),
        (x.reshape(6, -1), a.reshape(6, -1)), (x.reshape((4, 6)), a.reshape((4, 6))), (x.reshape(-1), a.reshape(-1)),
        (x.transpose(), a.transpose()), (x.transpose(1, 0, 2), a.transpose(1, 0, 2)),
        (x.transpose((2, 0, 1)), a.transpose((2, 0, 1))), (x.astype("int32"), a.astype(np.int32)),
        (x.astype(np.bool_), a.astype(bool)),
    ]
    values = backend.run([x, y], [node for node, _ in cases], [a, b])
    for (node, expected), value in zip(cases, values):
        expected = np.asarray(expected)
        assert node.shape == expected.shape and node.dtype == expected.dtype, (node, expected.shape)
        assert_values(value, expected)
    assert x.shape == (2, 3, 4) and x.ndim == 3 and x.dtype == np.float64 and x.T.shape == (4, 3, 2)
    assert_values(sg.evaluate([x.sum(), -x, x.T], {"x": a})[2], a.T)  # feeds by name; a list gives a list


def test_unary_ops_of_python_scalars(backend):
    assert sg.exp(1.0).dtype == np.float32 and sg.neg(3).dtype == np.int64
    assert_values(backend.run([], [sg.exp(1.0)], [])[0], np.exp(np.float32(1.0)))


def test_reductions_take_numpys_positional_arguments(backend):
    x = sample((2, 3, 4), "float64")
    for row in [*REDUCTION_ROWS, ROWS["argmax"], ROWS["argmin"]]:
        node = row.builder(sg.constant(x), 1, True)
        assert node.op.name == row.name and node.shape == (2, 1, 4)
        assert_values(backend.run([], [node], [])[0], row.reference(x, axis=1, keepdims=True))


# -- weak Python scalars and dtype promotion ------------------------------------------------------------------------

# (array dtype, operation, Python scalar, dtype the scalar takes, result dtype). Python scalars are weak: they take
# the array's dtype when it can hold them. A float meeting an int or bool array becomes float32 and then promotes
# as NumPy arrays do (README); for int32 and int64 arrays that is NumPy 2's float64, for bool arrays float32 (NumPy 2
# would say float64: a documented difference).
WEAK_SCALARS = [
    ("float32", operator.mul, 2, "float32", "float32"),
    ("float32", operator.add, 0.5, "float32", "float32"),
    ("float32", operator.mul, True, "float32", "float32"),
    ("float64", operator.sub, 2, "float64", "float64"),
    ("float64", operator.truediv, 3.0, "float64", "float64"),
    ("int32", operator.add, 1, "int32", "int32"),
    ("int32", operator.mul, -7, "int32", "int32"),
    ("int32", operator.add, True, "int32", "int32"),
    ("int64", operator.add, 1, "int64", "int64"),
    ("int32", operator.mul, 2.5, "float32", "float64"),
    ("int64", operator.mul, 2.5, "float32", "float64"),
    ("int32", operator.truediv, 2, "int32", "float64"),
    ("int32", operator.pow, 2, "int32", "int32"),
    ("float32", operator.pow, 2, "float32", "float32"),
    ("float32", operator.pow, 0.5, "float32", "float32"),
    ("bool", operator.add, 1, "int64", "int64"),
    ("bool", operator.mul, 2.5, "float32", "float32"),
    ("bool", operator.add, True, "bool", "bool"),
    ("int32", operator.lt, 2.5, "float32", "bool"),
    ("float32", operator.ge, 1, "float32", "bool"),
    ("int32", sg.maximum, 0, "int32", "int32"),
    ("float32", sg.minimum, 1.5, "float32", "float32"),
    ("float32", sg.equal, 1, "float32", "bool"),
]
NUMPY_OF = {sg.maximum: np.maximum, sg.minimum: np.minimum, sg.equal: np.equal}


@pytest.mark.parametrize("dtype,op,scalar,scalar_dtype,result_dtype", WEAK_SCALARS,
                         ids=[f"{d}-{getattr(o, '__name__', o)}-{s!r}" for d, o, s, _, _ in WEAK_SCALARS])
@pytest.mark.parametrize("scalar_first", [False, True])
def test_weak_python_scalars(backend, dtype, op, scalar, scalar_dtype, result_dtype, scalar_first):
    a = sample((2, 3), dtype, "positive")
    x = sg.placeholder((2, 3), dtype, name="x")
    node = op(scalar, x) if scalar_first else op(x, scalar)
    s = np.asarray(scalar, dtype=scalar_dtype)
    with np.errstate(all="ignore"):
        expected = np.asarray(NUMPY_OF.get(op, op)(s, a) if scalar_first else NUMPY_OF.get(op, op)(a, s))
    assert expected.dtype == result_dtype  # the table agrees with NumPy's array promotion
    assert node.shape == (2, 3) and node.dtype == result_dtype
    (scalar_leaf,) = [i for i in node.inputs if i is not x]  # (2.5 < x is Python's reflected x > 2.5)
    assert scalar_leaf.op.name == "constant" and scalar_leaf.shape == () and scalar_leaf.dtype == scalar_dtype
    assert_values(backend.run([x], [node], [a])[0], expected)


def weak_reference(scalar, x):
    """The documented rule, restated: a Python scalar takes the array's dtype when that dtype can hold it (NumPy 2's
    rule); a scalar of a higher kind (a float meeting ints or bools) becomes the default of its kind (float32,
    int64) and then promotes as NumPy arrays do."""
    rank = {"b": 0, "i": 1, "f": 2}
    own = np.asarray(scalar).dtype if isinstance(scalar, bool) else np.dtype(
        "int64" if isinstance(scalar, int) else "float32")
    return np.asarray(scalar, own) if rank[own.kind] > rank[x.dtype.kind] else scalar


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("scalar", [2, 2.5, True, -1])
@pytest.mark.parametrize("name", ["add", "mul", "sub", "div"])
def test_python_scalars_are_weak_in_both_positions(backend, name, scalar, dtype):
    """x * 2 stays float32 and int32 + 1 stays int32, as in NumPy 2; int32 * 2.5 is float64 as in NumPy."""
    row = ROWS[name]
    x = sample((2, 3), dtype, rng=np.random.default_rng(3))
    weak = weak_reference(scalar, x)
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            expected, expected_reversed = row.reference(x, weak), row.reference(weak, x)
    except TypeError:  # NumPy refuses (bool - bool): so must symgraph
        with pytest.raises(sg.DTypeError):
            row.builder(sg.constant(x), scalar)
        return
    node, reversed_node = row.builder(sg.constant(x), scalar), row.builder(scalar, sg.constant(x))
    for node, expected in ((node, expected), (reversed_node, expected_reversed)):
        assert node.dtype == np.asarray(expected).dtype and node.shape == np.shape(expected)
        with np.errstate(divide="ignore", invalid="ignore"):
            assert_values(backend.run([], [node], [])[0], expected)


def test_weak_scalar_examples_of_the_contract():
    f32, i32 = sg.constant(np.ones(3, np.float32)), sg.constant(np.ones(3, np.int32))
    assert (f32 * 2).dtype == np.float32 and (2.5 * f32).dtype == np.float32 and (f32 ** 2).dtype == np.float32
    assert (i32 + 1).dtype == np.int32 and (i32 * 2.5).dtype == np.float64 and (i32 / 2).dtype == np.float64
    assert (sg.constant(np.array([True])) * 2.5).dtype == np.float32  # the default float, as in JAX


def test_weak_float_meeting_int_array_is_float32_first(backend):
    """README: int32 * 0.1 multiplies by float32(0.1), promoted to float64 (NumPy 2 would use the float64 0.1)."""
    a = np.arange(-3, 4, dtype=np.int32)
    x = sg.placeholder((7,), "int32", name="x")
    node = x * 0.1
    assert node.dtype == np.float64
    assert_values(backend.run([x], [node], [a])[0], a * np.float64(np.float32(0.1)))
    # Where the scalar is exact in float32, this is NumPy 2's weak-scalar result to the bit.
    assert_values(backend.run([x], [x * 2.5], [a])[0], a * 2.5)


def test_python_int_that_the_array_cannot_hold():
    x = sg.placeholder((3,), "int32")
    with pytest.raises(sg.DTypeError, match="Python int 1099511627776 does not fit the int32 array"):
        x + 2**40
    assert (sg.placeholder((3,), "int64") + 2**40).dtype == np.int64


def test_constant_dtypes():
    assert sg.constant(2.5).dtype == np.float32 and sg.constant(2).dtype == np.int64
    assert sg.constant(True).dtype == np.bool_ and sg.constant([1.0, 2.0]).dtype == np.float32
    assert sg.constant([1, 2]).dtype == np.int64
    for dtype in ALL:
        assert sg.constant(np.zeros((2,), dtype)).dtype == dtype
    assert sg.constant(np.arange(3, dtype=np.uint8)).dtype == np.int32
    assert sg.constant(np.arange(3), dtype="float64").dtype == np.float64
    # array + array promotes as NumPy: float32 array + float64 array is float64, int32 + float32 is float64.
    assert (sg.constant(np.ones(2, np.float32)) + sg.constant(np.ones(2))).dtype == np.float64
    assert (sg.constant(np.ones(2, np.int32)) + sg.constant(np.ones(2, np.float32))).dtype == np.float64


def test_where_with_python_scalars(backend):
    a = sample((2, 3), "float32")
    x = sg.placeholder((2, 3), "float32", name="x")
    node = sg.where(x > 0, x, 0)  # the weak 0 takes float32
    assert node.dtype == np.float32 and node.shape == (2, 3)
    assert_values(backend.run([x], [node], [a])[0], np.where(a > 0, a, np.float32(0)))
    i = sg.placeholder((3,), "int32")
    assert sg.where(i > 0, i, -1).dtype == np.int32


def test_cast_to_the_same_dtype_is_the_node():
    x = sg.placeholder((2,), "float32")
    assert sg.cast(x, "float32") is x and sg.cast(x, np.float32) is x


# -- static shapes with unknown dimensions --------------------------------------------------------------------------

def test_matmul_static_shapes_with_unknown_dimensions(backend):
    x = sg.placeholder((None, 3), name="x")
    W = sg.variable(np.ones((3, 4), np.float32))
    assert (x @ W).shape == (None, 4)
    assert sg.matmul(W.T, sg.placeholder((None,), name="v")).shape == (4,)  # unknown inner dimension
    assert (sg.placeholder((None, 2, 3)) @ W).shape == (None, 2, 4)
    assert (sg.placeholder((None, 1, 2, 3)) @ sg.placeholder((5, 3, None))).shape == (None, 5, 2, None)
    a = sample((6, 3), "float32")
    assert_values(backend.run([x], [x @ W], [a])[0], a @ np.ones((3, 4), np.float32))


def test_shape_ops_with_unknown_dimensions(backend):
    x = sg.placeholder((None, 4), "float64", name="x")
    y = sg.placeholder((None, 1), "float64", name="y")
    labels = sg.placeholder((None,), "int64", name="labels")
    a, ids = sample((6, 4), "float64"), np.array([0, 2, 1, 1])
    arange = np.arange(4.0)
    cases = [
        (sg.reshape(x, (-1, 2)), (None, 2), a.reshape(-1, 2)),
        (sg.reshape(x, -1), (None,), a.reshape(-1)),
        (x.reshape(3, 2, 4), (3, 2, 4), a.reshape(3, 2, 4)),
        (sg.transpose(x), (4, None), a.T),
        (sg.expand_dims(x, 1), (None, 1, 4), a[:, None]),
        (sg.squeeze(sg.expand_dims(x, -1)), (None, 4), a),
        (sg.squeeze(y, axis=1), (None,), a[:, 0]),
        (sg.squeeze(y), (None,), a[:, 0]),  # only the dimension statically known to be 1
        (sg.concatenate([x, x], axis=0), (None, 4), np.concatenate([a, a])),
        (sg.concatenate([x, x], axis=1), (None, 8), np.concatenate([a, a], 1)),
        (sg.concatenate([x, y], axis=1), (None, 5), np.concatenate([a, a[:, :1]], 1)),
        (sg.stack([x, x], axis=1), (None, 2, 4), np.stack([a, a], 1)),
        (sg.broadcast_to(sg.constant(arange), (2, 3, 4)), (2, 3, 4), np.broadcast_to(arange, (2, 3, 4))),
        (x + arange, (None, 4), a + arange),
        (sg.sum(x, 0), (4,), a.sum(0)),
        (sg.sum(x, 1), (None,), a.sum(1)),
        (sg.mean(x), (), a.mean()),
        (sg.mean(x, 0), (4,), a.mean(0)),
        (sg.max(x, 0, keepdims=True), (1, 4), a.max(0, keepdims=True)),
        (sg.argmax(x, 1), (None,), a.argmax(1)),
        (sg.one_hot(labels, 3), (None, 3), np.eye(3, dtype=np.float32)[ids]),
    ]
    values = backend.run([x, y, labels], [node for node, _, _ in cases], [a, a[:, :1], ids])
    for (node, static, expected), value in zip(cases, values):
        assert node.shape == static, (node, static)
        assert_values(value, expected)


def test_broadcast_to_with_unknown_dimensions(backend):
    """An unknown dimension may be 1 at run time: (None, 3) broadcasts to (1, 3) and (2, 5, 3), checked when fed."""
    x = sg.placeholder((None, 3), "float64", name="x")
    one, four = sample((1, 3), "float64"), sample((4, 3), "float64")
    for target in [(1, 3), (2, 5, 3), (4, 1, 3), (0, 3)]:
        node = sg.broadcast_to(x, target)
        assert node.shape == target and node.dtype == np.float64
        assert_values(backend.run([x], [node], [one])[0], np.broadcast_to(one, target))
    assert_values(backend.run([x], [sg.broadcast_to(x, (2, 4, 3))], [four])[0], np.broadcast_to(four, (2, 4, 3)))
    with pytest.raises(sg.EvaluationError, match="broadcast_to node"):
        backend.run([x], [sg.broadcast_to(x, (1, 3))], [sample((2, 3), "float64")])
    for shape, target in [((None, 3), (2, 4)), ((None, 3), (3,)), ((None, 3), (2, -1))]:
        with pytest.raises(sg.ShapeError, match="cannot broadcast"):
            sg.broadcast_to(sg.placeholder(shape), target)


# -- property tests with hypothesis ---------------------------------------------------------------------------------

dtype_st = st.sampled_from(ALL)
seed_st = st.integers(0, 2**32 - 1)
BINARY_ROWS = family("binary")


def _masks(data, shapes):
    return [data.draw(st.lists(st.booleans(), min_size=len(s), max_size=len(s))) for s in shapes]


def _drawn_inputs(row, shapes, dtypes, rng):
    return [sample(s, d, row.domain(k), rng) for k, (s, d) in enumerate(zip(shapes, dtypes))]


@HYPOTHESIS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0, max_side=4),
       row=st.sampled_from(BINARY_ROWS), dtypes=st.tuples(dtype_st, dtype_st), seed=seed_st, data=st.data())
def test_property_binary_broadcasting(backend, shapes, row, dtypes, seed, data):
    arrays = _drawn_inputs(row, shapes.input_shapes, dtypes, np.random.default_rng(seed))
    _, outcome = check(backend, row, arrays, {})
    if outcome is DTYPE_ERROR:
        return
    assert outcome.shape == shapes.result_shape
    masks = _masks(data, shapes.input_shapes)
    node, _ = check(backend, row, arrays, {}, leaves="unknown", masks=masks)
    assert node.shape == static_broadcast(*(unknown(s, m) for s, m in zip(shapes.input_shapes, masks)))


@HYPOTHESIS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=0, max_side=3),
       dtypes=st.tuples(dtype_st, dtype_st), seed=seed_st, data=st.data())
def test_property_where_broadcasting(backend, shapes, dtypes, seed, data):
    row = ROWS["where"]
    arrays = _drawn_inputs(row, shapes.input_shapes, ("bool",) + dtypes, np.random.default_rng(seed))
    node, _ = check(backend, row, arrays, {})
    assert node.shape == shapes.result_shape
    masks = _masks(data, shapes.input_shapes)
    node, _ = check(backend, row, arrays, {}, leaves="unknown", masks=masks)
    assert node.shape == static_broadcast(*(unknown(s, m) for s, m in zip(shapes.input_shapes, masks)))


@st.composite
def reduction_axes(draw, ndim):
    """None, an int, or a tuple of distinct axes (any order, each possibly negative)."""
    kind = draw(st.sampled_from(["none", "int", "tuple"] if ndim else ["none", "tuple"]))
    if kind == "none":
        return None
    axes = draw(st.permutations(range(ndim)))[: draw(st.integers(0 if kind == "tuple" else 1, ndim))]
    axes = [a - ndim if draw(st.booleans()) else a for a in axes]
    return axes[0] if kind == "int" else tuple(axes)


@HYPOTHESIS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4), row=st.sampled_from(REDUCTION_ROWS),
       dtype=dtype_st, keepdims=st.booleans(), seed=seed_st, data=st.data())
def test_property_reductions(backend, shape, row, dtype, keepdims, seed, data):
    kwargs = dict(axis=data.draw(reduction_axes(len(shape))), keepdims=keepdims)
    arrays = _drawn_inputs(row, [shape], [dtype], np.random.default_rng(seed))
    _, outcome = check(backend, row, arrays, kwargs)
    if outcome is DTYPE_ERROR or outcome is RUNTIME_ERROR or not shape:
        return
    masks = _masks(data, [shape])
    node, _ = check(backend, row, arrays, kwargs, leaves="unknown", masks=masks)
    assert node.shape == row.static_shape(unknown(shape, masks[0]), **kwargs)


@HYPOTHESIS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4),
       row=st.sampled_from([ROWS["argmax"], ROWS["argmin"]]), dtype=dtype_st, keepdims=st.booleans(), seed=seed_st,
       data=st.data())
def test_property_arg_reductions(backend, shape, row, dtype, keepdims, seed, data):
    kwargs = dict(axis=data.draw(st.none() | st.integers(-len(shape), len(shape) - 1)), keepdims=keepdims)
    node, _ = check(backend, row, _drawn_inputs(row, [shape], [dtype], np.random.default_rng(seed)), kwargs)
    assert node.dtype == np.int64


@HYPOTHESIS
@given(shapes=hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=3, min_side=0, max_side=4),
       dtypes=st.tuples(dtype_st, dtype_st), seed=seed_st, data=st.data())
def test_property_matmul(backend, shapes, dtypes, seed, data):
    row = ROWS["matmul"]
    arrays = _drawn_inputs(row, shapes.input_shapes, dtypes, np.random.default_rng(seed))
    node, outcome = check(backend, row, arrays, {})
    if outcome is DTYPE_ERROR:
        return
    assert node.shape == shapes.result_shape
    # Unknown dimensions anywhere: the static shape keeps what is known and the values stay NumPy's.
    masks = _masks(data, shapes.input_shapes)
    node, _ = check(backend, row, arrays, {}, leaves="unknown", masks=masks)
    assert node.shape == row.static_shape(*(unknown(s, m) for s, m in zip(shapes.input_shapes, masks)))


@HYPOTHESIS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4), dtype=dtype_st, data=st.data())
def test_property_transpose_and_reshape(backend, shape, dtype, data):
    arrays = [sample(shape, dtype)]
    check(backend, ROWS["transpose"], arrays, dict(axes=tuple(data.draw(st.permutations(range(len(shape)))))))
    # reshape: merge a run of adjacent dimensions, insert a 1, and maybe let one dimension be -1
    start = data.draw(st.integers(0, len(shape)))
    stop = data.draw(st.integers(start, len(shape)))
    new_shape = list(shape[:start]) + [int(np.prod(shape[start:stop], dtype=int))] + list(shape[stop:])
    new_shape.insert(data.draw(st.integers(0, len(new_shape))), 1)
    k = data.draw(st.integers(0, len(new_shape) - 1))
    if data.draw(st.booleans()) and int(np.prod(new_shape[:k] + new_shape[k + 1:], dtype=int)) != 0:
        new_shape[k] = -1
    check(backend, ROWS["reshape"], arrays, dict(shape=tuple(new_shape)))
    node = sg.constant(arrays[0]).reshape(*new_shape)
    assert_values(backend.run([], [node], [])[0], arrays[0].reshape(*new_shape))
