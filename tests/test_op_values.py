"""Every core op against NumPy: static shape and dtype at construction, values at run time.

Tables drive the tests: each op is paired with its NumPy reference and an input domain; cases cover every supported
dtype, size-1 broadcasting, 0-d scalars, empty arrays and placeholders with unknown dimensions. Hypothesis explores
broadcastable shape pairs and reductions over random axis subsets.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symgraph as sg

FLOATS = ["float32", "float64"]
INTS = ["int32", "int64"]
ALL = FLOATS + INTS + ["bool"]
SHAPES = [(), (1,), (5,), (3, 4), (2, 1, 3), (0, 3)]


def sample(shape, dtype, domain="any", seed=0):
    """Random values of ``dtype`` inside an op's domain."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == bool:
        return rng.random(shape) < 0.5
    if dtype.kind == "i":
        low = {"any": -9, "positive": 1, "nonzero": 1, "above_minus_one": 0, "unit": -1}[domain]
        values = rng.integers(low, 10, size=shape)
        if domain == "nonzero":
            values = values * rng.choice([-1, 1], size=shape)
        return values.astype(dtype)
    values = {
        "any": lambda: rng.uniform(-3, 3, shape),
        "positive": lambda: rng.uniform(0.1, 3, shape),
        "nonzero": lambda: rng.uniform(0.2, 3, shape) * rng.choice([-1, 1], size=shape),
        "above_minus_one": lambda: rng.uniform(-0.9, 3, shape),
        "unit": lambda: rng.uniform(-0.5, 0.5, shape),
    }[domain]()
    return np.asarray(values).astype(dtype)


def assert_matches(node, expected):
    """The node's static type equals NumPy's result type and its value equals NumPy's value."""
    expected = np.asarray(expected)
    assert node.dtype == expected.dtype, (node.describe(), expected.dtype)
    assert len(node.shape) == expected.ndim and all(s is None or s == e for s, e in zip(node.shape, expected.shape))
    value = node.eval()
    assert value.dtype == expected.dtype and value.shape == expected.shape
    if expected.dtype.kind == "f":
        rtol = 2e-6 if expected.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(value, expected, rtol=rtol, atol=rtol)
    else:
        np.testing.assert_array_equal(value, expected)


def numpy_sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------- unary elementwise

# name -> (numpy reference, domain, dtypes the op accepts)
UNARY = {
    "neg": (np.negative, "any", FLOATS + INTS),
    "abs": (np.abs, "any", ALL),
    "sign": (np.sign, "any", FLOATS + INTS),
    "exp": (np.exp, "any", FLOATS + INTS),
    "log": (np.log, "positive", FLOATS + INTS),
    "log1p": (np.log1p, "above_minus_one", FLOATS + INTS),
    "expm1": (np.expm1, "any", FLOATS + INTS),
    "sqrt": (np.sqrt, "positive", FLOATS + INTS),
    "square": (np.square, "any", FLOATS + INTS),
    "reciprocal": (np.reciprocal, "nonzero", FLOATS + INTS),
    "sin": (np.sin, "any", FLOATS + INTS),
    "cos": (np.cos, "any", FLOATS + INTS),
    "tanh": (np.tanh, "any", FLOATS + INTS),
    "sigmoid": (numpy_sigmoid, "any", FLOATS + INTS),
    "relu": (lambda x: np.maximum(x, np.zeros((), x.dtype)), "any", FLOATS + INTS),
    "softplus": (lambda x: np.logaddexp(np.zeros((), np.result_type(x.dtype, np.float16)), x), "any",
                 FLOATS + INTS),
    "floor": (np.floor, "any", FLOATS + INTS),
    "ceil": (np.ceil, "any", FLOATS + INTS),
}
UNARY_CASES = [(name, dtype) for name, (_, _, dtypes) in UNARY.items() for dtype in dtypes]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name,dtype", UNARY_CASES)
def test_unary_ops_match_numpy(name, dtype, shape):
    reference, domain, _ = UNARY[name]
    x = sample(shape, dtype, domain)
    with np.errstate(over="ignore"):
        expected = reference(x)
    if np.dtype(dtype).kind in "iu" and expected.dtype.kind == "f":
        expected = reference(x.astype(np.float64))  # integers are promoted to float64, as in NumPy
    assert_matches(getattr(sg, name)(sg.constant(x)), expected)


@pytest.mark.parametrize("name", ["neg", "sign", "exp", "sqrt", "log"])
def test_unary_ops_refuse_bool(name):
    with pytest.raises(sg.DTypeError, match=f"{name}: not defined for dtype bool"):
        getattr(sg, name)(sg.constant(np.array([True, False])))


def test_unary_ops_on_unknown_dimensions():
    x = sg.placeholder((None, 4), "float64", name="x")
    values = sample((3, 4), "float64", "positive")
    for name, (reference, _, _) in UNARY.items():
        node = getattr(sg, name)(x)
        assert node.shape == (None, 4) and node.dtype == np.float64
        np.testing.assert_allclose(node.eval({x: values}), reference(values), rtol=1e-12)


# ---------------------------------------------------------------- binary elementwise and comparisons

BINARY = {
    "add": (np.add, "any"), "sub": (np.subtract, "any"), "mul": (np.multiply, "any"),
    "div": (np.true_divide, "nonzero"), "pow": (np.power, "positive"),
    "maximum": (np.maximum, "any"), "minimum": (np.minimum, "any"),
    "less": (np.less, "any"), "less_equal": (np.less_equal, "any"), "greater": (np.greater, "any"),
    "greater_equal": (np.greater_equal, "any"), "equal": (np.equal, "any"), "not_equal": (np.not_equal, "any"),
}
BROADCAST_PAIRS = [
    ((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((), (3,)), ((2, 1, 3), (4, 1)), ((0, 3), (1, 3)),
    ((0, 3), (3,)), ((1,), ()), ((5, 1, 1), (1, 2, 1)),
]
DTYPE_PAIRS = [(d, d) for d in FLOATS + INTS] + [("float32", "float64"), ("int32", "int64"), ("int32", "float32"),
                                                 ("int64", "float64"), ("bool", "float32"), ("bool", "int32")]


@pytest.mark.parametrize("a_dtype,b_dtype", DTYPE_PAIRS)
@pytest.mark.parametrize("a_shape,b_shape", BROADCAST_PAIRS)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_match_numpy(name, a_shape, b_shape, a_dtype, b_dtype):
    reference, domain = BINARY[name]
    a = sample(a_shape, a_dtype, "positive" if name == "pow" else "any", seed=1)
    b = sample(b_shape, b_dtype, domain, seed=2)
    if name == "pow" and np.dtype(b_dtype).kind == "i":
        b = np.minimum(b, 4).astype(b_dtype)  # keep integer powers in range
    assert_matches(getattr(sg, name)(sg.constant(a), sg.constant(b)), reference(a, b))
    if name != "pow":  # the operands swapped (b's domain only matters for pow's exponent and div's divisor)
        with np.errstate(divide="ignore", invalid="ignore"):
            assert_matches(getattr(sg, name)(sg.constant(b), sg.constant(a)), reference(b, a))


def test_comparisons_on_bool():
    a, b = sample((4, 3), "bool", seed=1), sample((3,), "bool", seed=2)
    for name in ["less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "maximum", "minimum"]:
        assert_matches(getattr(sg, name)(sg.constant(a), sg.constant(b)), BINARY[name][0](a, b))


def test_binary_ops_with_unknown_dimensions_broadcast_at_run_time():
    a = sg.placeholder((None, 1), "float32", name="a")
    b = sg.placeholder((None,), "float32", name="b")
    node = a * b
    assert node.shape == (None, None) and node.dtype == np.float32
    av, bv = sample((3, 1), "float32"), sample((5,), "float32")
    np.testing.assert_array_equal(node.eval({a: av, b: bv}), av * bv)
    np.testing.assert_array_equal(node.eval({a: av, b: sample((1,), "float32")}).shape, (3, 1))


def weak_reference(scalar, x):
    """The documented rule: a Python scalar takes the array's dtype when that dtype can hold it (NumPy 2's rule);
    a scalar of a higher kind (a float meeting ints or bools) becomes the default of its kind (float32, int64) and
    then promotes as NumPy arrays do."""
    rank = {"b": 0, "i": 1, "f": 2}
    own = np.asarray(scalar).dtype if isinstance(scalar, bool) else np.dtype(
        "int64" if isinstance(scalar, int) else "float32")
    return np.asarray(scalar, own) if rank[own.kind] > rank[x.dtype.kind] else scalar


@pytest.mark.parametrize("dtype", FLOATS + INTS + ["bool"])
@pytest.mark.parametrize("scalar", [2, 2.5, True, -1])
@pytest.mark.parametrize("op", ["add", "mul", "sub", "div"])
def test_python_scalars_are_weak(op, scalar, dtype):
    """x * 2 stays float32 and int32 + 1 stays int32, as in NumPy 2; int32 * 2.5 is float64 as in NumPy."""
    x = sample((2, 3), dtype, seed=3)
    reference = {"add": np.add, "mul": np.multiply, "sub": np.subtract, "div": np.true_divide}[op]
    weak = weak_reference(scalar, x)
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            expected, expected_reversed = reference(x, weak), reference(weak, x)
    except TypeError:  # NumPy refuses (bool - bool): so must symgraph
        with pytest.raises((TypeError, ValueError)):
            getattr(sg, op)(sg.constant(x), scalar)
        return
    assert_matches(getattr(sg, op)(sg.constant(x), scalar), expected)
    assert_matches(getattr(sg, op)(scalar, sg.constant(x)), expected_reversed)


def test_weak_scalar_examples_of_the_contract():
    f32, i32 = sg.constant(np.ones(3, np.float32)), sg.constant(np.ones(3, np.int32))
    assert (f32 * 2).dtype == np.float32 and (2.5 * f32).dtype == np.float32 and (f32 ** 2).dtype == np.float32
    assert (i32 + 1).dtype == np.int32 and (i32 * 2.5).dtype == np.float64 and (i32 / 2).dtype == np.float64
    assert (sg.constant(np.array([True])) * 2.5).dtype == np.float32  # the default float, as in JAX
    with pytest.raises(sg.DTypeError, match="does not fit the int32 array"):
        i32 + 2**40


def test_node_operators_match_numpy():
    a, b = sample((3, 4), "float32", seed=4), sample((4,), "float32", "positive", seed=5)
    m = sample((4, 2), "float32", seed=6)
    A, B, M = sg.constant(a), sg.constant(b), sg.constant(m)
    pairs = [
        (A + B, a + b), (A - B, a - b), (A * B, a * b), (A / B, a / b), (B ** A, b ** a), (A @ M, a @ m),
        (-A, -a), (abs(A), abs(a)), (A < B, a < b), (A <= B, a <= b), (A > B, a > b), (A >= B, a >= b),
        (A.T, a.T), (A.sum(), a.sum()), (A.mean(axis=0), a.mean(axis=0)), (A.max(1, keepdims=True),
                                                                           a.max(1, keepdims=True)),
        (A.reshape(2, 6), a.reshape(2, 6)), (A.reshape((-1,)), a.reshape(-1)), (A[1:3, ::2], a[1:3, ::2]),
        (2 - A, 2 - a), (1 / B, 1 / b), (A.astype("float64"), a.astype(np.float64)),
    ]
    for node, expected in pairs:
        assert_matches(node, expected)
    assert (A.shape, A.dtype, A.ndim) == ((3, 4), np.float32, 2)


@pytest.mark.parametrize("cond_shape,a_shape,b_shape", [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), ()),
                                                         ((), (2, 3), (3,)), ((0, 2), (2,), (1, 2))])
@pytest.mark.parametrize("a_dtype,b_dtype", [("float32", "float32"), ("int32", "float64"), ("int64", "int64"),
                                             ("bool", "bool")])
def test_where_matches_numpy(cond_shape, a_shape, b_shape, a_dtype, b_dtype):
    cond = sample(cond_shape, "bool", seed=7)
    a, b = sample(a_shape, a_dtype, seed=8), sample(b_shape, b_dtype, seed=9)
    assert_matches(sg.where(sg.constant(cond), sg.constant(a), sg.constant(b)), np.where(cond, a, b))


@pytest.mark.parametrize("source", ALL)
@pytest.mark.parametrize("target", ALL)
def test_cast_matches_numpy_astype(source, target):
    x = sample((2, 3), source, seed=10)
    if np.dtype(source).kind == "f":
        x = (x * 3).astype(source)  # values beyond 1 so that float -> int truncation shows
    assert_matches(sg.cast(sg.constant(x), target), x.astype(target))


# ---------------------------------------------------------------- reductions

REDUCTIONS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod}


@pytest.mark.parametrize("dtype", FLOATS + INTS + ["bool"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (2, 0, 1), ()])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions_match_numpy(name, axis, keepdims, dtype):
    x = sample((2, 3, 4), dtype, seed=11)
    if name == "prod" and dtype in FLOATS:
        x = (x / 3 + 1).astype(dtype)
    expected = REDUCTIONS[name](x, axis=axis, keepdims=keepdims)
    assert_matches(getattr(sg, name)(sg.constant(x), axis=axis, keepdims=keepdims), expected)


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean"])
def test_reductions_over_empty_arrays(name):
    x = np.zeros((0, 3), np.float32)
    with np.errstate(invalid="ignore"):
        assert_matches(getattr(sg, name)(sg.constant(x), axis=1), REDUCTIONS[name](x, axis=1))
    if name in ("sum", "prod"):
        assert_matches(getattr(sg, name)(sg.constant(x), axis=0), REDUCTIONS[name](x, axis=0))
    if name in ("max", "min"):  # NumPy has no identity for them: a run-time error naming the node
        node = getattr(sg, name)(sg.constant(x), axis=0)
        with pytest.raises(sg.EvaluationError, match=f"{name} node"):
            node.eval()


@pytest.mark.parametrize("name,reference", [("argmax", np.argmax), ("argmin", np.argmin)])
@pytest.mark.parametrize("dtype", FLOATS + INTS + ["bool"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_arg_reductions_match_numpy(name, reference, dtype, axis):
    x = sample((3, 5), dtype, seed=12)
    assert_matches(getattr(sg, name)(sg.constant(x), axis=axis), reference(x, axis=axis))


def test_reductions_with_unknown_dimensions():
    x = sg.placeholder((None, 4), "float32", name="x")
    values = sample((6, 4), "float32")
    for name, reference in REDUCTIONS.items():
        node = getattr(sg, name)(x, axis=0)
        assert node.shape == (4,)
        np.testing.assert_allclose(node.eval({x: values}), reference(values, axis=0), rtol=2e-6)
        kept = getattr(sg, name)(x, axis=1, keepdims=True)
        assert kept.shape == (None, 1)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(REDUCTIONS)), keepdims=st.booleans(),
       dtype=st.sampled_from(["float64", "int64", "float32"]))
def test_reductions_over_random_axis_subsets(data, name, keepdims, dtype):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4), label="shape")
    axes = data.draw(st.none() | st.lists(st.integers(0, max(len(shape) - 1, 0)), unique=True,
                                          max_size=len(shape)).map(tuple), label="axes")
    x = sample(shape, dtype, seed=13)
    if name == "prod":
        x = np.clip(x, -2, 2).astype(dtype)
    assert_matches(getattr(sg, name)(sg.constant(x), axis=axes, keepdims=keepdims),
                   REDUCTIONS[name](x, axis=axes, keepdims=keepdims))


@settings(max_examples=80, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0, max_side=3),
       name=st.sampled_from(["add", "sub", "mul", "maximum", "less", "equal"]),
       dtypes=st.tuples(st.sampled_from(FLOATS + INTS), st.sampled_from(FLOATS + INTS)))
def test_broadcasting_matches_numpy(shapes, name, dtypes):
    (a_shape, b_shape), result_shape = shapes.input_shapes, shapes.result_shape
    a, b = sample(a_shape, dtypes[0], seed=14), sample(b_shape, dtypes[1], seed=15)
    node = getattr(sg, name)(sg.constant(a), sg.constant(b))
    assert node.shape == result_shape
    assert_matches(node, BINARY[name][0](a, b))


@settings(max_examples=50, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, min_side=1, max_side=3))
def test_unknown_dimensions_broadcast_like_numpy_at_run_time(shapes):
    """Placeholders with None everywhere: the static shape stays compatible and the run-time value is NumPy's."""
    (a_shape, b_shape), result_shape = shapes.input_shapes, shapes.result_shape
    a = sg.placeholder((None,) * len(a_shape), "float64", name="a")
    b = sg.placeholder((None,) * len(b_shape), "float64", name="b")
    node = a + b
    assert len(node.shape) == len(result_shape)
    av, bv = sample(a_shape, "float64", seed=16), sample(b_shape, "float64", seed=17)
    np.testing.assert_array_equal(node.eval({a: av, b: bv}), av + bv)


# ---------------------------------------------------------------- matmul, transpose and shape ops

@pytest.mark.parametrize("a_shape,b_shape", [
    ((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)), ((1, 2, 3), (4, 3, 2)), ((2, 1, 2, 3), (3, 3, 1)), ((0, 3), (3, 2)), ((2, 0), (0, 3)),
])
@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("float64", "float64"), ("int32", "int64"),
                                    ("float32", "float64"), ("int32", "float32")])
def test_matmul_matches_numpy(a_shape, b_shape, dtypes):
    a, b = sample(a_shape, dtypes[0], seed=18), sample(b_shape, dtypes[1], seed=19)
    assert_matches(sg.matmul(sg.constant(a), sg.constant(b)), np.matmul(a, b))


def test_matmul_with_unknown_batch_and_rows():
    a = sg.placeholder((None, None, 3), "float32", name="a")
    w = sg.constant(sample((3, 4), "float32"))
    node = a @ w
    assert node.shape == (None, None, 4)
    av = sample((2, 5, 3), "float32")
    np.testing.assert_allclose(node.eval({a: av}), av @ w.value, rtol=2e-6)


@pytest.mark.parametrize("axes", [None, (0, 1, 2), (2, 0, 1), (1, 0, 2), (-1, 0, 1)])
def test_transpose_matches_numpy(axes):
    x = sample((2, 3, 4), "int32")
    assert_matches(sg.transpose(sg.constant(x), axes), np.transpose(x, axes))


SHAPE_OPS = [
    ("reshape (-1)", lambda x: sg.reshape(x, (4, -1)), lambda x: np.reshape(x, (4, -1))),
    ("reshape flat", lambda x: sg.reshape(x, (-1,)), lambda x: np.reshape(x, (-1,))),
    ("reshape to scalar dims", lambda x: sg.reshape(x, (1, 24, 1)), lambda x: np.reshape(x, (1, 24, 1))),
    ("expand_dims 0", lambda x: sg.expand_dims(x, 0), lambda x: np.expand_dims(x, 0)),
    ("expand_dims -1", lambda x: sg.expand_dims(x, -1), lambda x: np.expand_dims(x, -1)),
    ("expand_dims tuple", lambda x: sg.expand_dims(x, (0, 3)), lambda x: np.expand_dims(x, (0, 3))),
    ("squeeze", lambda x: sg.squeeze(sg.reshape(x, (1, 2, 1, 12))), lambda x: np.squeeze(x.reshape(1, 2, 1, 12))),
    ("squeeze axis", lambda x: sg.squeeze(sg.reshape(x, (1, 2, 1, 12)), 2),
     lambda x: np.squeeze(x.reshape(1, 2, 1, 12), 2)),
    ("broadcast_to", lambda x: sg.broadcast_to(x[:, :1], (5, 2, 3, 4)),
     lambda x: np.broadcast_to(x[:, :1], (5, 2, 3, 4))),
    ("concatenate 0", lambda x: sg.concatenate([x, x[:1]], 0), lambda x: np.concatenate([x, x[:1]], 0)),
    ("concatenate -1", lambda x: sg.concatenate([x, x, x[..., :2]], -1),
     lambda x: np.concatenate([x, x, x[..., :2]], -1)),
    ("stack 0", lambda x: sg.stack([x, x * 2]), lambda x: np.stack([x, x * 2])),
    ("stack -1", lambda x: sg.stack([x, x, x], axis=-1), lambda x: np.stack([x, x, x], axis=-1)),
]


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("label,build,reference", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
def test_shape_ops_match_numpy(label, build, reference, dtype):
    x = sample((2, 3, 4), dtype, seed=20)
    if dtype == "bool" and "stack 0" in label:
        x_node = sg.constant(x)
        assert_matches(sg.stack([x_node, x_node]), np.stack([x, x]))
        return
    assert_matches(build(sg.constant(x)), reference(x))


def test_shape_ops_on_empty_arrays():
    x = np.zeros((0, 3), np.float32)
    node = sg.constant(x)
    assert_matches(sg.reshape(node, (3, 0)), x.reshape(3, 0))
    assert_matches(sg.concatenate([node, node], 0), np.concatenate([x, x]))
    assert_matches(sg.concatenate([node, sg.constant(np.ones((2, 3), np.float32))], 0),
                   np.concatenate([x, np.ones((2, 3), np.float32)]))
    assert_matches(sg.stack([node, node], 1), np.stack([x, x], 1))
    assert_matches(sg.transpose(node), x.T)
    assert_matches(sg.expand_dims(node, 1), x[:, None])


def test_reshape_with_unknown_dimension_infers_at_run_time():
    x = sg.placeholder((None, 4), "float32", name="x")
    node = sg.reshape(x, (-1, 2))
    assert node.shape == (None, 2)
    values = sample((3, 4), "float32")
    np.testing.assert_array_equal(node.eval({x: values}), values.reshape(-1, 2))


@pytest.mark.parametrize("labels_dtype", INTS)
@pytest.mark.parametrize("out_dtype", ["float32", "float64", "int32", "bool"])
def test_one_hot_matches_numpy(labels_dtype, out_dtype):
    labels = np.array([[0, 3], [2, 1], [3, 3]], labels_dtype)
    expected = (labels[..., None] == np.arange(4)).astype(out_dtype)
    assert_matches(sg.one_hot(sg.constant(labels), 4, dtype=out_dtype), expected)
