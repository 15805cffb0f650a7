"""Derivatives at kinks and singular points: pow at a base of 0 (to third order) and elu at 0, against PyTorch where
PyTorch is finite, against sympy where the derivative exists, and against the documented convention elsewhere.
"""

import numpy as np
import pytest
import sympy

import symgraph as sg
from symgraph.graph import toposort

EXPONENTS = [0.0, 0.5, 1.0, 2.0, 3.0]


def derivatives(a0, b0):
    """Ours: the gradient [da, db] of a ** b and its Hessian rows [d(da), d(db)], a and b learnable (float64)."""
    a, b = sg.variable(np.array(a0)), sg.variable(np.array(b0))
    first = sg.grad(a ** b, [a, b])
    return sg.evaluate(first), [sg.evaluate(sg.grad(g, [a, b])) for g in first]


def torch_derivatives(torch, a0, b0):
    a = torch.tensor(a0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(b0, dtype=torch.float64, requires_grad=True)
    first = torch.autograd.grad(a ** b, [a, b], create_graph=True)
    rows = [[h.item() for h in torch.autograd.grad(g, [a, b], retain_graph=True)] for g in first]
    return [g.item() for g in first], rows


@pytest.mark.parametrize("a0", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("b0", EXPONENTS)
def test_pow_first_derivatives_match_pytorch(a0, b0):
    """With a relu output in the base (a == 0) the exponent's gradient is 0, not NaN: PyTorch's and JAX's value."""
    torch = pytest.importorskip("torch")
    ours, _ = derivatives(a0, b0)
    theirs, _ = torch_derivatives(torch, a0, b0)
    np.testing.assert_array_equal(ours, theirs)  # exact, including inf (0.5 * 0 ** -0.5)


@pytest.mark.parametrize("a0", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("b0", EXPONENTS)
def test_pow_second_derivatives_match_pytorch_where_it_is_defined(a0, b0):
    torch = pytest.importorskip("torch")
    _, ours = derivatives(a0, b0)
    _, theirs = torch_derivatives(torch, a0, b0)
    for row in (0, 1):
        for column in (0, 1):
            if np.isnan(theirs[row][column]):
                continue  # PyTorch's own 0 * inf at a == 0: see the convention test below
            if (row, column) == (0, 1) and b0 == 0.0 and a0 > 0:
                # PyTorch masks d(da)/db to 0 here (its where on b == 0), which is wrong: a^(b-1) (1 + b log a) = 1/a
                np.testing.assert_allclose(ours[0][1], 1 / a0, rtol=1e-15)
                continue
            np.testing.assert_allclose(ours[row][column], theirs[row][column], rtol=1e-13)


@pytest.mark.parametrize("a0", [0.5, 2.0, 3.0])
@pytest.mark.parametrize("b0", EXPONENTS + [-1.0, -2.5])
def test_pow_hessian_matches_sympy_at_positive_bases(a0, b0):
    a, b = sympy.symbols("a b", positive=True)
    f = a ** b
    point = {a: sympy.Rational(a0), b: sympy.Rational(b0)}
    expected_first = [float(sympy.diff(f, v).subs(point)) for v in (a, b)]
    expected_second = [[float(sympy.diff(f, u, v).subs(point)) for v in (a, b)] for u in (a, b)]
    first, second = derivatives(a0, b0)
    np.testing.assert_allclose(first, expected_first, rtol=1e-13)
    np.testing.assert_allclose(second, expected_second, rtol=1e-13, atol=1e-15)


def third_derivatives(a0, b0):
    a, b = sg.variable(np.array(a0)), sg.variable(np.array(b0))
    level = [a ** b]
    for _ in range(3):
        level = [h for node in level for h in sg.grad(node, [a, b])]
    return np.array(sg.evaluate(level))


@pytest.mark.parametrize("b0", [0.0, 1.0, 2.0, 3.0])
def test_pow_at_a_zero_base_is_finite_to_third_order(b0):
    """No 0 * inf at any order where the derivatives exist (integer exponents >= 0 at a == 0)."""
    assert np.isfinite(third_derivatives(0.0, b0)).all()
    _, second = derivatives(0.0, b0)
    assert np.isfinite(second).all()


def test_pow_at_a_zero_base_follows_the_documented_convention():
    """d/db (a ** b) = 0 where a == 0, and so are all its derivatives; d/da = 0 where a == 0 and b == 0."""
    for b0 in EXPONENTS + [-1.0]:
        (_, db), (_, d_db) = derivatives(0.0, b0)
        assert db == 0 and not np.any(d_db), b0
    (da, _), (d_da, _) = derivatives(0.0, 0.0)
    assert da == 0 and not np.any(d_da)
    np.testing.assert_array_equal(third_derivatives(0.0, 0.0), np.zeros(8))
    np.testing.assert_array_equal(derivatives(0.0, 2.0)[1][0], [2.0, 0.0])  # d2/da2 of a^2 is 2, everywhere


@pytest.mark.parametrize("k", [0, 1, 2, 3, 0.5])
def test_constant_exponents_at_zero_match_pytorch(k):
    """x ** k for a Python-number k at x = 0: x ** 0 has gradient and second derivative 0, as in PyTorch and JAX."""
    torch = pytest.importorskip("torch")
    x = sg.variable(np.array([0.0, 1.5]))
    g = sg.grad(sg.sum(x ** k), x)
    h = sg.grad(sg.sum(g), x)
    t = torch.tensor([0.0, 1.5], dtype=torch.float64, requires_grad=True)
    (tg,) = torch.autograd.grad((t ** k).sum(), t, create_graph=True)
    th = torch.autograd.grad(tg.sum(), t, allow_unused=True)[0] if tg.requires_grad else torch.zeros(2)
    np.testing.assert_allclose(g.eval(), tg.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(h.eval(), th.numpy(), rtol=1e-15)


def test_a_constant_exponent_grows_no_guard_in_the_gradient():
    """x ** 3: no where/log branch for the exponent's gradient (a constant needs none), none for the base either."""
    x = sg.variable(np.array([0.0, 2.0]))
    g = sg.grad(sg.sum(x ** 3), x)
    h = sg.grad(sg.sum(g), x)
    ops = {n.op.name for n in toposort([g, h])}
    assert not ops & {"where", "log", "equal"}, ops
    np.testing.assert_allclose(sg.evaluate([g, h]), [[0.0, 12.0], [0.0, 12.0]])


def test_a_learnable_exponent_keeps_the_unused_branch_out_of_the_base_gradient():
    x, p = sg.variable(np.array([0.0, 2.0])), sg.variable(np.array(2.0))
    ops = {n.op.name for n in toposort([sg.grad(sg.sum(x ** p), x)])}
    assert "log" not in ops, ops  # the exponent's rule (with its log) is built but not part of the base's gradient


def test_relu_in_the_base_does_not_poison_a_learnable_exponent():
    torch = pytest.importorskip("torch")
    values = np.array([-1.0, 0.0, 0.5, 2.0])
    x, p = sg.variable(values), sg.variable(np.array(1.5))
    cost = sg.sum(sg.relu(x) ** p)
    dx, dp = sg.evaluate(sg.grad(cost, [x, p]))
    tx = torch.tensor(values, requires_grad=True)
    tp = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    expected = torch.autograd.grad((torch.relu(tx) ** tp).sum(), [tx, tp])
    np.testing.assert_allclose(dx, expected[0].numpy(), rtol=1e-14)
    np.testing.assert_allclose(dp, expected[1].item(), rtol=1e-14)
    assert np.isfinite(dp)


@pytest.mark.parametrize("exponent_dtype", ["int32", "int64"])
def test_integer_exponents_keep_working(exponent_dtype):
    """An integer b: no gradient for b; the base's follows b a^(b-1), with 0 at a == 0 where b == 0."""
    x = sg.variable(np.array([0.0, 0.0, 1.5, -2.0]))
    b = sg.placeholder((4,), exponent_dtype, name="b")
    exponents = np.array([0, 3, 2, 3], exponent_dtype)
    y = x ** b
    g = sg.grad(sg.sum(y), x)
    values, gradient = sg.evaluate([y, g], {b: exponents})
    np.testing.assert_array_equal(values, np.power(x.value, exponents))
    np.testing.assert_array_equal(gradient, [0.0, 0.0, 3.0, 12.0])
    constant = sg.grad(sg.sum(x ** sg.constant(np.int64(3))), x).eval()
    np.testing.assert_array_equal(constant, 3 * x.value ** 2)


# -- elu --------------------------------------------------------------------------------------------------------------

ELU_POINTS = np.array([-30.0, -2.0, -0.5, 0.0, 0.5, 2.0, 800.0])


@pytest.mark.parametrize("alpha", [1.0, 2.0, 0.5])
def test_elu_gradient_matches_pytorch_including_zero(alpha):
    """elu'(0) = alpha (1 for the default), as PyTorch; minimum's tie rule gave half of it before."""
    torch = pytest.importorskip("torch")
    x = sg.variable(ELU_POINTS)
    y = sg.nn.elu(x, alpha)
    g = sg.grad(sg.sum(y), x)
    t = torch.tensor(ELU_POINTS, requires_grad=True)
    ty = torch.nn.functional.elu(t, alpha)
    (tg,) = torch.autograd.grad(ty.sum(), t, create_graph=True)
    np.testing.assert_allclose(y.eval(), ty.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(g.eval(), tg.detach().numpy(), rtol=1e-15)
    assert g.eval()[3] == alpha


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_elu_second_derivative_takes_the_branch_of_the_first(alpha):
    """Away from 0 as PyTorch; at 0 the exponential branch (alpha e^0 = alpha) that also gives elu'(0) (PyTorch: 0)."""
    torch = pytest.importorskip("torch")
    x = sg.variable(ELU_POINTS)
    h = sg.grad(sg.sum(sg.grad(sg.sum(sg.nn.elu(x, alpha)), x)), x).eval()
    t = torch.tensor(ELU_POINTS, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.nn.functional.elu(t, alpha).sum(), t, create_graph=True)
    (th,) = torch.autograd.grad(tg.sum(), t)
    away = ELU_POINTS != 0
    np.testing.assert_allclose(h[away], th.numpy()[away], rtol=1e-15)
    assert h[3] == alpha
    assert np.isfinite(h).all()


def test_elu_unused_branch_never_overflows_in_float32():
    """exp(1e30) in the unused branch would send 0 * inf = NaN back through the where."""
    x = sg.variable(np.array([0.0, 100.0, 1e30], np.float32))
    values = sg.evaluate([sg.nn.elu(x), sg.grad(sg.sum(sg.nn.elu(x)), x)])
    np.testing.assert_array_equal(values[0], x.value)
    np.testing.assert_array_equal(values[1], [1.0, 1.0, 1.0])


def test_expm1_gradient_keeps_its_precision_for_very_negative_inputs():
    """d expm1(x) = exp(x); computed as expm1(x) + 1 it loses all its digits below x = -37 (elu's negative side)."""
    values = np.array([-30.0, -40.0, -700.0, -1.0, 3.0])
    x = sg.variable(values)
    np.testing.assert_allclose(sg.grad(sg.sum(sg.expm1(x)), x).eval(), np.exp(values), rtol=1e-15)
    np.testing.assert_allclose(sg.grad(sg.sum(sg.nn.elu(x)), x).eval(), np.where(values > 0, 1, np.exp(values)),
                               rtol=1e-15)
