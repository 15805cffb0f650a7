"""The elementwise functions of issue 15 beyond what the op table checks (tests/op_table.py runs their values,
dtypes, broadcasting, empty inputs, errors and gradients to second order on every backend).

Here, on both backends: every special value (NaN, +-inf, +-0, the domain edges) through every new op, against
NumPy/SciPy and, at the edges, against the values the math defines (arcsin(1) = pi/2, logit(0) = -inf,
hypot(inf, nan) = inf, ...); integer remainders by 0 and -1; ``clip`` without a bound and its gradient at the bounds
against PyTorch's clamp; the remainders' gradients against autograd's/JAX's definitions (and PyTorch's); the
gradients the rules give at the edges (hypot at the origin, logaddexp at infinities); a Python bool as the condition
of ``where``; the cost rule; and the optimizer's view of the new ops (opaque to sympy, finite where total).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.special

import symgraph as sg
from op_table import ROWS, SPECIAL_FLOATS, input_dtypes, specials
from symgraph.passes.report import op_histogram

BACKENDS = ["numpy", "numba"]  # (conftest's ``backend`` parameter is the per-case suites' list)
FLOAT_DTYPES = [np.float32, np.float64]
INF, NAN = math.inf, math.nan

UNARY = {
    "tan": np.tan, "sinh": np.sinh, "cosh": np.cosh, "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan,
    "arcsinh": np.arcsinh, "arccosh": np.arccosh, "arctanh": np.arctanh, "exp2": np.exp2, "log2": np.log2,
    "log10": np.log10, "cbrt": np.cbrt, "rsqrt": lambda x: 1 / np.sqrt(x), "logit": scipy.special.logit,
    "erf": scipy.special.erf, "erfc": scipy.special.erfc, "isnan": np.isnan, "isinf": np.isinf,
    "isfinite": np.isfinite,
}
BINARY = {"arctan2": np.arctan2, "hypot": np.hypot, "logaddexp": np.logaddexp, "mod": np.mod, "fmod": np.fmod}
NEW_OPS = sorted(UNARY) + sorted(BINARY) + ["clip"]
MAX_ULPS = 4  # libm against NumPy's own loops (SIMD ones on some CPUs), SciPy's erf against libm's


def run(on, inputs, outputs, values):
    """The outputs' values from a function compiled by backend ``on``, without graph rewrites."""
    return sg.function(inputs, outputs, backend=on, optimize=False)(*values)


def numpy_value(function, *arrays):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(function(*arrays))


def assert_same_values(got, expected, what, signed_zeros=True):
    """NaN, infinities and (with ``signed_zeros``) the sign of zeros exactly where ``expected`` has them; finite
    values within MAX_ULPS; bools and integers exactly."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape, (what, got.dtype, expected.dtype)
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(got, expected, err_msg=what)
        return
    for pattern in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(pattern(got), pattern(expected), err_msg=f"{what}: {pattern.__name__}")
    if signed_zeros:
        zeros = expected == 0
        np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(expected[zeros]), err_msg=f"{what}: -0")
    finite = np.isfinite(expected)
    np.testing.assert_array_max_ulp(got[finite], expected[finite], maxulp=MAX_ULPS, dtype=expected.dtype)


# -- special values through every op, both backends ----------------------------------------------------------------

@pytest.mark.parametrize("on", BACKENDS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: d.__name__)
def test_special_values_as_numpy_and_scipy(on, dtype):
    """Every new op on every special value (binary ops and clip on every pair and triple of them) in one function."""
    values = np.array(SPECIAL_FLOATS, dtype)
    n = values.size
    x = sg.placeholder((n,), dtype, name="x")
    column = sg.placeholder((n, 1), dtype, name="column")
    row = sg.placeholder((1, n), dtype, name="row")
    depth = sg.placeholder((1, 1, n), dtype, name="depth")
    outputs = [getattr(sg, name)(x) for name in UNARY] + [getattr(sg, name)(column, row) for name in BINARY]
    outputs.append(sg.clip(sg.reshape(column, (n, 1, 1)), sg.reshape(row, (1, n, 1)), depth))
    got = run(on, [x, column, row, depth], outputs,
              [values, values[:, None], values[None, :], values[None, None, :]])
    expected = [numpy_value(f, values) for f in UNARY.values()]
    expected += [numpy_value(f, values[:, None], values[None, :]) for f in BINARY.values()]
    expected.append(numpy_value(np.clip, values[:, None, None], values[None, :, None], values[None, None, :]))
    for name, value, want in zip(list(UNARY) + list(BINARY) + ["clip"], got, expected):
        # clip picks between equal zeros of opposite signs as np.minimum/np.maximum do: NumPy itself picks
        # differently with scalar and array bounds (np.clip(-inf, 0.0, -0.0) is 0.0, with arrays -0.0)
        assert_same_values(value, want, f"{name} {dtype.__name__} on {on}", signed_zeros=name != "clip")


PI = math.pi
EDGE_CASES = [  # (op, inputs, the value the math defines)
    ("arcsin", (1.0,), PI / 2), ("arcsin", (-1.0,), -PI / 2), ("arcsin", (-0.0,), -0.0), ("arcsin", (1.5,), NAN),
    ("arccos", (1.0,), 0.0), ("arccos", (-1.0,), PI), ("arccos", (-1.5,), NAN),
    ("arccosh", (1.0,), 0.0), ("arccosh", (0.5,), NAN), ("arccosh", (INF,), INF),
    ("arctanh", (1.0,), INF), ("arctanh", (-1.0,), -INF), ("arctanh", (-0.0,), -0.0), ("arctanh", (2.0,), NAN),
    ("arcsinh", (-INF,), -INF), ("arctan", (INF,), PI / 2), ("arctan", (-INF,), -PI / 2),
    ("tan", (-0.0,), -0.0), ("tan", (INF,), NAN), ("sinh", (-INF,), -INF), ("sinh", (1e4,), INF),
    ("cosh", (-INF,), INF), ("cosh", (0.0,), 1.0),
    ("exp2", (-INF,), 0.0), ("exp2", (INF,), INF), ("exp2", (10.0,), 1024.0), ("exp2", (-1.0,), 0.5),
    ("exp2", (1e4,), INF),
    ("log2", (0.0,), -INF), ("log2", (-0.0,), -INF), ("log2", (-1.0,), NAN), ("log2", (8.0,), 3.0),
    ("log2", (INF,), INF), ("log10", (0.0,), -INF), ("log10", (1000.0,), 3.0), ("log10", (-1.0,), NAN),
    ("cbrt", (-8.0,), -2.0), ("cbrt", (27.0,), 3.0), ("cbrt", (-0.0,), -0.0), ("cbrt", (-INF,), -INF),
    ("rsqrt", (0.0,), INF), ("rsqrt", (-0.0,), -INF), ("rsqrt", (4.0,), 0.5), ("rsqrt", (INF,), 0.0),
    ("rsqrt", (-1.0,), NAN),
    ("logit", (0.0,), -INF), ("logit", (1.0,), INF), ("logit", (0.5,), 0.0), ("logit", (-0.5,), NAN),
    ("logit", (1.5,), NAN), ("logit", (INF,), NAN),
    ("erf", (INF,), 1.0), ("erf", (-INF,), -1.0), ("erf", (-0.0,), -0.0), ("erfc", (INF,), 0.0),
    ("erfc", (-INF,), 2.0), ("erfc", (0.0,), 1.0),
    ("arctan2", (0.0, -0.0), PI), ("arctan2", (-0.0, -0.0), -PI), ("arctan2", (0.0, 0.0), 0.0),
    ("arctan2", (-0.0, 0.0), -0.0), ("arctan2", (1.0, 0.0), PI / 2), ("arctan2", (INF, INF), PI / 4),
    ("arctan2", (NAN, 1.0), NAN),
    ("hypot", (INF, NAN), INF), ("hypot", (NAN, -INF), INF), ("hypot", (NAN, 1.0), NAN), ("hypot", (3.0, -4.0), 5.0),
    ("logaddexp", (-INF, -INF), -INF), ("logaddexp", (INF, INF), INF), ("logaddexp", (INF, -INF), INF),
    ("logaddexp", (0.0, 0.0), math.log(2.0)), ("logaddexp", (1e4, 1e4), 1e4 + math.log(2.0)),
    ("logaddexp", (NAN, 1.0), NAN),
    ("mod", (5.0, -3.0), -1.0), ("mod", (-5.0, 3.0), 1.0), ("mod", (-0.0, 3.0), 0.0), ("mod", (3.0, -3.0), -0.0),
    ("mod", (1.0, 0.0), NAN), ("mod", (INF, 2.0), NAN), ("mod", (-3.0, INF), INF), ("mod", (3.0, INF), 3.0),
    ("mod", (NAN, 2.0), NAN), ("mod", (2.0, NAN), NAN),
    ("fmod", (5.0, -3.0), 2.0), ("fmod", (-5.0, 3.0), -2.0), ("fmod", (-0.0, 3.0), -0.0), ("fmod", (1.0, 0.0), NAN),
    ("fmod", (-3.0, INF), -3.0), ("fmod", (INF, 1.0), NAN),
    ("clip", (NAN, 0.0, 1.0), NAN), ("clip", (0.5, NAN, 1.0), NAN), ("clip", (0.5, 0.0, NAN), NAN),
    ("clip", (2.0, 0.0, 1.0), 1.0), ("clip", (0.5, 1.0, 0.0), 0.0), ("clip", (-INF, 0.0, 1.0), 0.0),
    ("clip", (INF, 0.0, 1.0), 1.0), ("clip", (0.25, -INF, INF), 0.25),
    ("isnan", (NAN,), True), ("isnan", (INF,), False), ("isinf", (-INF,), True), ("isinf", (NAN,), False),
    ("isfinite", (INF,), False), ("isfinite", (NAN,), False), ("isfinite", (-0.0,), True),
]


@pytest.mark.parametrize("on", BACKENDS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: d.__name__)
def test_domain_edges_give_the_values_the_math_defines(on, dtype):
    """Each case's claimed value is NumPy's/SciPy's too; the backend gives it (within one ulp where it is rounded:
    pi/2, log 2), with NaN, infinities and signed zeros exactly."""
    by_op = {}
    for name, inputs, value in EDGE_CASES:
        by_op.setdefault(name, []).append((inputs, value))
    placeholders, outputs, feeds, claims = [], [], [], []
    for name, cases in by_op.items():
        columns = [np.array(column, dtype) for column in zip(*(inputs for inputs, _ in cases))]
        nodes = [sg.placeholder(c.shape, dtype, name=f"{name}_{k}") for k, c in enumerate(columns)]
        placeholders += nodes
        feeds += columns
        outputs.append(getattr(sg, name)(*nodes))
        reference = ROWS[name].reference
        claims.append((name, columns, [value for _, value in cases], numpy_value(reference, *columns)))
    got = run(on, placeholders, outputs, feeds)
    for value, (name, columns, claimed, numpy_result) in zip(got, claims):
        claimed = np.array(claimed, numpy_result.dtype)
        for reference, source in ((claimed, "the math"), (numpy_result, "NumPy/SciPy")):
            for k, (g, e) in enumerate(zip(value, reference)):
                inputs = tuple(float(c[k]) for c in columns)
                where = f"{name}{inputs} {dtype.__name__} on {on}: got {g!r}, {source} says {e!r}"
                if e.dtype.kind != "f":
                    assert g == e, where
                elif np.isnan(e) or np.isinf(e) or e == 0:
                    assert (np.isnan(g) and np.isnan(e)) or (g == e and np.signbit(g) == np.signbit(e)), where
                else:
                    assert abs(int(np.array(g).view(f"i{g.itemsize}")) - int(np.array(e).view(f"i{e.itemsize}"))) \
                        <= 1, where


@pytest.mark.parametrize("on", BACKENDS)
@pytest.mark.parametrize("dtype", [np.int32, np.int64], ids=lambda d: d.__name__)
def test_integer_remainders_and_predicates(on, dtype):
    """NumPy's integer mod (the divisor's sign) and fmod (the dividend's): 0 for a divisor of 0 (NumPy warns and
    gives 0) and of -1 (where INT_MIN / -1 overflows, which would trap); clip and the predicates on integers."""
    values = specials((12,), np.dtype(dtype), None)
    a, b = values[:, None], values[None, :]
    x = sg.placeholder(a.shape, dtype, name="a")
    y = sg.placeholder(b.shape, dtype, name="b")
    outputs = [sg.mod(x, y), sg.fmod(x, y), sg.clip(x, y, 3), sg.clip(x, -5, None), sg.isnan(x), sg.isinf(x),
               sg.isfinite(x)]
    expected = [numpy_value(np.mod, a, b), numpy_value(np.fmod, a, b), np.clip(a, b, dtype(3)),
                np.clip(a, dtype(-5), None), np.isnan(a), np.isinf(a), np.isfinite(a)]
    for value, want, node in zip(run(on, [x, y], outputs, [a, b]), expected, outputs):
        assert node.dtype == want.dtype
        np.testing.assert_array_equal(value, want, err_msg=f"{node.op.name} on {on}")
    examples = run(on, [x, y], [sg.mod(7, -2), sg.fmod(7, -2), sg.mod(-7, 2), sg.fmod(-7, 2)], [a, b])
    assert [int(v) for v in examples] == [-1, 1, 1, -1]


# -- clip: missing bounds, the method, the gradient at the bounds ---------------------------------------------------

@pytest.mark.parametrize("on", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
def test_clip_without_a_bound_is_numpys(on, dtype):
    rng = np.random.default_rng(0)
    a = (rng.integers(-5, 6, (3, 4)) if dtype != "bool" else rng.random((3, 4)) < 0.5).astype(dtype)
    if dtype == "float32":
        a[0, :3] = [np.nan, np.inf, -np.inf]
    x = sg.placeholder(a.shape, dtype, name="x")
    hi, lo = (True, False) if dtype == "bool" else (2, -1)
    cases = [(sg.clip(x, None, hi), np.clip(a, None, hi)), (sg.clip(x, lo, None), np.clip(a, lo, None)),
             (sg.clip(x), a),  # np.clip(a, None, None) is np.positive(a), which has no bool loop
             (x.clip(lo, hi), np.clip(a, lo, hi)), (x.clip(hi=hi), a.clip(max=hi)),
             # the README's weak-scalar rule: a Python float meeting integers or bools is float32 first
             (sg.clip(x, None, 2.5), np.clip(a, None, np.float32(2.5)))]
    values = run(on, [x], [node for node, _ in cases], [a])
    for (node, expected), value in zip(cases, values):
        assert node.dtype == expected.dtype and node.shape == expected.shape, (node, expected.dtype)
        np.testing.assert_array_equal(value, expected)


def test_clip_missing_bounds_are_the_dtypes_extremes():
    for dtype, low, high in [("float32", -np.inf, np.inf), ("int32", -2**31, 2**31 - 1), ("bool", False, True)]:
        node = sg.clip(sg.placeholder((2,), dtype))
        assert [float(bound.value) for bound in node.inputs[1:]] == [low, high]
        assert node.dtype == np.dtype(dtype)


# PyTorch's clamp with tensor bounds, element by element: x inside, at each bound, outside each, NaN; bounds equal;
# bounds crossed (lo > hi); and the same with scalar bounds.
CLAMP_X = np.array([0.0, -0.5, 0.5, -2.0, 2.0, np.nan, 0.3, 0.3, 0.9, -0.9, 0.1, 0.3])
CLAMP_LO = np.array([-0.5, -0.5, -0.5, -0.5, -0.5, -0.5, 0.3, 0.3, 0.3, 0.3, 0.6, 0.5])
CLAMP_HI = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.3, 0.5, 0.3, 0.3, 0.2, 0.3])


@pytest.mark.parametrize("on", BACKENDS)
def test_clip_gradient_at_the_bounds_is_pytorchs(on):
    """x gets the gradient where lo <= x <= hi, the bounds included (PyTorch's clamp, and the subgradient 1 at a
    bound); lo where x < lo < hi; hi where x > hi or hi < lo; a NaN element passes none."""
    torch = pytest.importorskip("torch")
    weights = np.linspace(1.0, 2.0, CLAMP_X.size)
    x, lo, hi = (sg.placeholder((CLAMP_X.size,), "float64", name=n) for n in ("x", "lo", "hi"))
    cost = sg.sum(sg.clip(x, lo, hi) * weights)
    scalar_cost = sg.sum(sg.clip(x, -0.5, 0.5) * weights)
    upper_cost = sg.sum(sg.clip(x, None, 0.5) * weights)
    got = run(on, [x, lo, hi], sg.grad(cost, [x, lo, hi]) + [sg.grad(scalar_cost, x), sg.grad(upper_cost, x)],
              [CLAMP_X, CLAMP_LO, CLAMP_HI])
    tx, tlo, thi = (torch.tensor(v, requires_grad=True) for v in (CLAMP_X, CLAMP_LO, CLAMP_HI))
    (torch.clamp(tx, tlo, thi) * torch.tensor(weights)).sum().backward()
    ts = torch.tensor(CLAMP_X, requires_grad=True)
    (torch.clamp(ts, min=-0.5, max=0.5) * torch.tensor(weights)).sum().backward()
    tu = torch.tensor(CLAMP_X, requires_grad=True)
    (torch.clamp(tu, max=0.5) * torch.tensor(weights)).sum().backward()
    for value, tensor in zip(got, (tx, tlo, thi, ts, tu)):
        np.testing.assert_array_equal(value, tensor.grad.numpy())
    # the same rule restated: the gradient passes at x == lo and x == hi
    np.testing.assert_array_equal(got[0][:3], weights[:3])


def test_clip_gradient_with_a_constant_bound_builds_no_bound_gradient():
    x = sg.placeholder((3,), "float64", name="x")
    node = sg.clip(x, 0.0, 1.0)
    rule = node.op.grad(node, sg.placeholder((3,), "float64"))
    assert rule[0] is not None and rule[1] is None and rule[2] is None


# -- gradients at the edges and the remainders' definitions ---------------------------------------------------------

@pytest.mark.parametrize("on", BACKENDS)
def test_remainder_gradients_are_autograds_and_jaxs(on):
    """d mod(a, b) = (1, -floor(a / b)) and d fmod(a, b) = (1, -trunc(a / b)): they differ where a / b < 0."""
    a_values = np.array([7.5, -7.5, 7.5, -7.5, 0.3, -2.2])
    b_values = np.array([2.0, 2.0, -2.0, -2.0, 0.7, 0.5])
    a, b = sg.placeholder((6,), "float64", name="a"), sg.placeholder((6,), "float64", name="b")
    got = run(on, [a, b], sg.grad(sg.sum(sg.mod(a, b)), [a, b]) + sg.grad(sg.sum(sg.fmod(a, b)), [a, b]),
              [a_values, b_values])
    np.testing.assert_array_equal(got[0], 1.0)
    np.testing.assert_array_equal(got[1], -np.floor(a_values / b_values))
    np.testing.assert_array_equal(got[2], 1.0)
    np.testing.assert_array_equal(got[3], -np.trunc(a_values / b_values))
    torch = pytest.importorskip("torch")
    for function, (grad_a, grad_b) in ((torch.remainder, got[:2]), (torch.fmod, got[2:])):
        ta, tb = (torch.tensor(v, requires_grad=True) for v in (a_values, b_values))
        function(ta, tb).sum().backward()
        np.testing.assert_array_equal(grad_a, ta.grad.numpy())
        np.testing.assert_array_equal(grad_b, tb.grad.numpy())


@pytest.mark.parametrize("on", BACKENDS)
def test_gradients_at_edges(on):
    """hypot at the origin: 0 (abs'(0)), not 0/0, with finite second derivatives; logaddexp's weights sigmoid(a - b)
    at infinite arguments: (1, 0); arcsin at +-1 and logit at 0: inf, as the limits."""
    a, b = sg.placeholder((3,), "float64", name="a"), sg.placeholder((3,), "float64", name="b")
    hypot_cost = sg.sum(sg.hypot(a, b))
    first = sg.grad(hypot_cost, [a, b])
    second = sg.grad(sg.sum(first[0]), [a, b])
    lae = sg.grad(sg.sum(sg.logaddexp(a, b)), [a, b])
    edges = sg.grad(sg.sum(sg.arcsin(a)) + sg.sum(sg.logit(b)), [a, b])
    values = run(on, [a, b], first + second + lae + edges,
                 [np.array([0.0, 3.0, np.inf]), np.array([0.0, -4.0, -np.inf])])
    np.testing.assert_array_equal(values[0][:2], [0.0, 0.6])
    np.testing.assert_array_equal(values[1][:2], [0.0, -0.8])
    assert np.all(np.isfinite(values[2][:2])) and np.all(np.isfinite(values[3][:2]))
    assert values[2][0] == 1.0 and values[3][0] == 0.0  # d(a / 1)/da and d(a / 1)/db at the origin
    np.testing.assert_array_equal(values[4][2], 1.0)  # logaddexp(inf, -inf): all of it to a
    np.testing.assert_array_equal(values[5][2], 0.0)
    at_edges = run(on, [a, b], edges, [np.array([1.0, -1.0, 0.0]), np.array([0.0, 1.0, 0.5])])
    np.testing.assert_array_equal(at_edges[0], [np.inf, np.inf, 1.0])
    np.testing.assert_array_equal(at_edges[1], [np.inf, np.inf, 4.0])


def test_gradient_rules_build_for_every_accepted_dtype():
    """The rules run for float outputs of integer and bool inputs too (those inputs then get no gradient)."""
    for name in NEW_OPS:
        row = ROWS[name]
        arity = len(row.samples[0].shapes)
        for combo in row.dtypes:
            inputs = [sg.placeholder((2,), d) for d in input_dtypes(combo, arity)]
            try:
                node = row.make(*inputs)
            except sg.DTypeError:
                continue  # refused, as NumPy refuses it (the op table checks which)
            if node.dtype.kind == "f":
                rule = node.op.grad(node, sg.placeholder((2,), node.dtype))
                assert len(rule) == arity, name
                float_inputs = [p for p in inputs if p.dtype.kind == "f"]
                if float_inputs:
                    sg.grad(sg.sum(node), float_inputs)


# -- where with a Python bool ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("on", BACKENDS)
def test_where_takes_a_python_bool_condition(on):
    a = np.array([[1.5, -2.0, 3.0]], np.float32)
    x = sg.placeholder((1, 3), "float32", name="x")
    y = sg.placeholder((3,), "int32", name="y")
    cases = [(sg.where(True, x, 0.0), np.where(True, a, np.float32(0))),
             (sg.where(False, x, 0.0), np.where(False, a, np.float32(0))),
             (sg.where(True, y, -1), np.where(True, np.arange(3, dtype=np.int32), np.int32(-1))),
             (sg.where(False, x, y), np.where(False, a, np.arange(3, dtype=np.int32)))]
    for node, expected in cases:
        assert node.inputs[0].dtype == np.bool_ and node.inputs[0].shape == ()
        assert node.dtype == expected.dtype and node.shape == expected.shape, (node, expected.dtype)
    values = run(on, [x, y], [node for node, _ in cases], [a, np.arange(3, dtype=np.int32)])
    for (_, expected), value in zip(cases, values):
        np.testing.assert_array_equal(value, expected)
    gradients = run(on, [x], sg.grad(sg.sum(sg.where(True, x, 2 * x)), [x]), [a])
    np.testing.assert_array_equal(gradients[0], np.ones_like(a))
    with pytest.raises(sg.DTypeError, match="the condition of where must be bool"):
        sg.where(1, x, 0.0)  # an int is no condition, as before


# -- the cost rule and the optimizer's view -------------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW_OPS)
def test_one_flop_per_output_element(name):
    arity = len(ROWS[name].samples[0].shapes)
    inputs = [sg.placeholder(shape, "float32") for shape in [(3, 1), (1, 4), (4,)][:arity]]
    node = getattr(sg, name)(*inputs)
    assert sg.stats(node).flops == sg.stats(node).forward_flops == (12 if arity > 1 else 3)


def test_new_ops_are_opaque_functions_in_sympy_regions():
    """sympy sees tan(x), hypot(x, y), ... as undefined functions: the distributive law cancels around them, and
    the rebuilt graph applies the same ops (never sympy's own tan or atan2). Around mod(x, y), NaN where y = 0, the
    cancellation would turn that NaN into a number: the region's check refuses it."""
    x, y, z = (sg.placeholder((3, 4), "float64", name=n) for n in "xyz")
    feed = {x: np.linspace(-2, 2, 12).reshape(3, 4), y: np.full((3, 4), 0.7), z: np.full((3, 4), -1.3)}
    for build in (sg.tan, sg.erf, lambda v: sg.hypot(v, y), lambda v: sg.clip(v, -1.0, 1.0), lambda v: sg.mod(v, y)):
        inner = build(x)
        out = (inner * y + inner * z) - inner * (y + z) + sg.arctan(x)
        new, report = sg.optimize(out, passes=["simplify"])
        histogram = op_histogram([new])
        if inner.op.name == "mod":
            assert report.rule_counts["sympy_region"] == 0 and new is out
            assert np.isnan(sg.evaluate(new, {**feed, y: np.zeros((3, 4))})).all()
            continue
        assert report.rule_counts["sympy_region"] == 1, (inner, report)
        assert histogram["mul"] == 0 and histogram["arctan"] == 1, histogram
        np.testing.assert_allclose(sg.evaluate(new, feed), np.arctan(feed[x]), rtol=1e-12, atol=1e-15)


def test_total_ops_are_finite_for_finite_inputs_and_partial_ones_are_not():
    """x - x = 0 drops x only where x is certainly finite: erf and hypot of inputs are; mod (x mod 0 is NaN), log2
    and arcsin are not."""
    x, y = sg.placeholder((3,), "float64", name="x"), sg.placeholder((3,), "float64", name="y")
    for total in (sg.erf(x), sg.hypot(x, y), sg.arctan2(x, y), sg.clip(x, 0.0, 1.0), sg.cosh(x)):
        new, report = sg.optimize(total - total, passes=["simplify"])
        assert report.rule_counts["sub_self"] == 1 and op_histogram([new]).get(total.op.name, 0) == 0, total
    for partial in (sg.mod(x, y), sg.log2(x), sg.arcsin(x), sg.logit(x)):
        new, _ = sg.optimize(partial - partial, passes=["simplify"])
        values = sg.evaluate(new, {x: np.array([-2.0, 0.5, 3.0]), y: np.array([0.0, 1.0, 2.0])})
        assert np.isnan(values).any(), partial  # the NaN of the undefined points survives
