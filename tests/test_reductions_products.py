"""Issue 15's reductions, scans and products beyond the op table (tests/op_table.py has their values, gradients and
errors on every backend): the node methods, the documented gradients at kinks (std and norm at 0, cumprod at zeros:
against PyTorch; zero weights of logsumexp: against the formula and finite differences), einsum's gradients against
PyTorch and its values against NumPy on random subscripts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgraph as sg
from conftest import Backend
from symgraph.testing import check_grads

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(15)


def _values(backend, inputs, outputs, arrays):
    return backend.run(inputs, outputs, arrays)


# -- node methods ---------------------------------------------------------------------------------------------------

def test_node_methods_match_numpy(backend):
    a = RNG.normal(size=(3, 4))
    a[1, 2] = 0.0
    x = sg.placeholder((None, 4), "float64", name="x")
    cases = [(x.var(), a.var()), (x.var(axis=0, ddof=1), a.var(axis=0, ddof=1)),
             (x.std(1, keepdims=True), a.std(1, keepdims=True)), (x.std(ddof=2), a.std(ddof=2)),
             (x.all(), a.all()), (x.all(axis=1), a.all(axis=1)),
             (x.any(axis=0, keepdims=True), a.any(0, keepdims=True)),
             (x.cumsum(), a.cumsum()), (x.cumsum(1), a.cumsum(1)), (x.cumprod(axis=0), a.cumprod(axis=0)),
             (x.cumprod(), a.cumprod())]
    values = _values(backend, [x], [node for node, _ in cases], [a])
    for (node, expected), value in zip(cases, values):
        expected = np.asarray(expected)
        assert value.dtype == expected.dtype and value.shape == expected.shape, node
        np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)


def test_node_methods_on_numba():
    test_node_methods_match_numpy(Backend("numba"))


def test_all_and_any_pass_no_gradient():
    x = sg.placeholder((3,), "float64", name="x")
    cost = sg.sum(sg.cast(sg.all(x > 0), "float64") * x) + sg.sum(sg.cast(sg.any(x), "float64"))
    (g,) = sg.grad(cost, [x])
    np.testing.assert_array_equal(g.eval({x: np.array([1.0, 2.0, 3.0])}), np.ones(3))  # only the product's x


# -- gradients at kinks, against PyTorch ---------------------------------------------------------------------------

def test_std_gradient_of_a_constant_is_zero_as_pytorch():
    x = sg.placeholder((4,), "float64", name="x")
    ones = np.ones(4)
    t = torch.tensor(ones, requires_grad=True)
    torch.std(t).backward()
    np.testing.assert_array_equal(sg.grad(sg.std(x, ddof=1), x).eval({x: ones}), t.grad.numpy())
    assert np.all(sg.hessian(sg.std(x), x).eval({x: ones}) == 0)
    assert np.isnan(sg.std(x).eval({x: np.array([1.0, np.nan, 2.0, 3.0])}))  # NaN stays NaN


@pytest.mark.parametrize("axis", [0, 1, None])
def test_cumprod_gradients_with_zeros_match_pytorch_to_second_order(axis):
    a = RNG.normal(size=(4, 5))
    a[0, 1] = a[1, 1] = a[1, 3] = a[2, 0] = a[3, 4] = 0.0
    a[:, 2] = np.where(np.arange(4) == 2, 0.0, a[:, 2])  # a column with a zero too
    g = RNG.normal(size=(20,) if axis is None else (4, 5))
    x = sg.placeholder((4, 5), "float64", name="x")
    cost = sg.sum(sg.cumprod(x, axis) * g)

    def torch_cost(t):
        scanned = torch.cumprod(t.reshape(-1), 0) if axis is None else torch.cumprod(t, axis)
        return (scanned * torch.tensor(g)).sum()

    t = torch.tensor(a, requires_grad=True)
    torch_cost(t).backward()
    np.testing.assert_allclose(sg.grad(cost, x).eval({x: a}), t.grad.numpy(), rtol=1e-12, atol=1e-12)
    hessian = torch.autograd.functional.hessian(torch_cost, torch.tensor(a)).numpy()
    np.testing.assert_allclose(sg.hessian(cost, x).eval({x: a}), hessian, rtol=1e-12, atol=1e-12)


def test_cumprod_of_all_zeros_and_a_single_zero(backend):
    x = sg.placeholder((None,), "float64", name="x")
    g = sg.grad(sg.sum(sg.cumprod(x)), x)
    for a in (np.zeros(4), np.array([2.0, 0.0, 3.0, 4.0]), np.array([0.0]), np.array([5.0])):
        t = torch.tensor(a, requires_grad=True)
        torch.cumprod(t, 0).sum().backward()
        (value,) = _values(backend, [x], [g], [a])
        np.testing.assert_allclose(value, t.grad.numpy(), rtol=1e-12, atol=0)
        check_grads(sg.sum(sg.sin(sg.cumprod(x))), [x], {x: a}, order=2)


def test_logsumexp_weights_follow_scipy_and_differentiate_at_zero_weights():
    import scipy.special

    x, b = sg.placeholder((3, 4), "float64", name="x"), sg.placeholder((3, 4), "float64", name="b")
    a = RNG.normal(size=(3, 4))
    w = RNG.uniform(0.2, 2.0, size=(3, 4))
    w[0, 1] = w[2, 3] = 0.0
    result = sg.logsumexp(x, axis=1, b=b)
    expected = scipy.special.logsumexp(a, axis=1, b=w)
    np.testing.assert_allclose(result.eval({x: a, b: w}), expected, rtol=1e-14)
    gx, gb = sg.grad(sg.sum(result), [x, b])
    np.testing.assert_allclose(gx.eval({x: a, b: w}), w * np.exp(a - expected[:, None]), rtol=1e-13)
    np.testing.assert_allclose(gb.eval({x: a, b: w}), np.exp(a - expected[:, None]), rtol=1e-13)  # zero weights too
    check_grads(sg.sum(sg.sin(result)), [x, b], {x: a, b: w}, order=2)
    masked = a.copy()
    masked[0, 1], masked[2, 3] = np.inf, np.nan  # a zero weight drops its element, whatever it holds (scipy's rule)
    np.testing.assert_allclose(result.eval({x: masked, b: w}), scipy.special.logsumexp(masked, axis=1, b=w))
    assert sg.logsumexp is sg.nn.logsumexp


# -- products ---------------------------------------------------------------------------------------------------------

EINSUM_GRADIENT_CASES = [("ij,jk->ik", (2, 3), (3, 4)), ("bij,bjk->bik", (2, 2, 3), (2, 3, 4)), ("ii->i", (3, 3)),
                         ("ij,ij->i", (2, 3), (2, 3)), ("...i,...i", (2, 1, 3), (4, 3)), ("iij->ji", (3, 3, 2)),
                         ("ab,bc,cd->ad", (2, 3), (3, 4), (4, 2)), ("abcd,dcef->feab", (2, 3, 2, 2), (2, 2, 3, 2))]


@pytest.mark.parametrize("subscripts,shapes", [(c[0], c[1:]) for c in EINSUM_GRADIENT_CASES],
                         ids=[c[0] for c in EINSUM_GRADIENT_CASES])
def test_einsum_gradients_match_pytorch(subscripts, shapes):
    arrays = [RNG.normal(size=shape) for shape in shapes]
    weights = RNG.normal(size=np.einsum(subscripts, *arrays).shape)
    nodes = [sg.placeholder(shape, "float64", name=f"x{k}") for k, shape in enumerate(shapes)]
    gradients = sg.grad(sg.sum(sg.einsum(subscripts, *nodes) * weights), nodes)
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    (torch.einsum(subscripts, *tensors) * torch.tensor(weights)).sum().backward()
    values = sg.evaluate(gradients, dict(zip(nodes, arrays)))
    for value, tensor in zip(values, tensors):
        np.testing.assert_allclose(value, tensor.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_einsum_uses_matmul_where_the_contraction_allows():
    def ops(subscripts, *shapes):
        nodes = [sg.placeholder(shape, "float32") for shape in shapes]
        return {n.op.name for n in sg.toposort(sg.einsum(subscripts, *nodes)) if n.inputs}

    assert ops("ij,jk->ik", (2, 3), (3, 4)) == {"matmul"}
    assert ops("bij,bjk->bik", (None, 2, 3), (None, 3, 4)) == {"matmul"}  # batch sizes may be unknown
    assert "matmul" in ops("abcd,cdef->abef", (2, 3, 4, 5), (4, 5, 2, 3))  # groups merged by reshapes
    assert ops("ij,ij->i", (2, 3), (2, 3)) == {"mul", "sum"}  # no label of its own: a batched dot product
    assert "matmul" not in ops("abc,bc->a", (None, None, None), (None, None))  # unknown sizes in a merged group
    product = sg.tensordot(sg.placeholder((2, 3, 4)), sg.placeholder((3, 4, 5)))
    assert {n.op.name for n in sg.toposort(product) if n.inputs} == {"reshape", "matmul"}


def test_einsum_on_numba_matches_numpy():
    a, b, c = RNG.normal(size=(2, 3)), RNG.normal(size=(3, 4)), RNG.normal(size=(4, 3, 3))
    x, y, z = (sg.placeholder((None,) * v.ndim, "float64", name=n) for v, n in ((a, "x"), (b, "y"), (c, "z")))
    d = sg.placeholder((3, 3), "float64", name="d")
    outputs = [sg.einsum("ij,jk->ki", x, y), sg.einsum("ij,ij->i", x, x), sg.einsum("ii->i", d),
               sg.einsum("bij,bjk->bik", z, z), sg.tensordot(x, y, 1), sg.inner(x, x), sg.outer(x, y),
               sg.linalg.norm(x), sg.linalg.norm(x, 1, axis=0), sg.linalg.norm(x, "fro", axis=(1, 0))]
    expected = [np.einsum("ij,jk->ki", a, b), np.einsum("ij,ij->i", a, a), np.einsum("ii->i", c[0]),
                np.einsum("bij,bjk->bik", c, c), np.tensordot(a, b, 1), np.inner(a, a), np.outer(a, b),
                np.linalg.norm(a), np.linalg.norm(a, 1, axis=0), np.linalg.norm(a, "fro", axis=(1, 0))]
    values = Backend("numba").run([x, y, z, d], outputs, [a, b, c, c[0]])
    for value, reference in zip(values, expected):
        np.testing.assert_allclose(value, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ord_", [None, 1, 3, 0.5, -1, np.inf, -np.inf])
def test_norm_gradients_match_pytorch_also_at_zero(ord_):
    x = sg.placeholder((4,), "float64", name="x")
    for a in (np.zeros(4), np.array([0.0, 1.5, -2.0, 2.0]), RNG.normal(size=4)):
        t = torch.tensor(a, requires_grad=True)
        torch.linalg.vector_norm(t, 2 if ord_ is None else ord_).backward()
        np.testing.assert_allclose(sg.grad(sg.linalg.norm(x, ord_), x).eval({x: a}), t.grad.numpy(), rtol=1e-12)
    for ord_matrix in ("fro", 1, -1, np.inf, -np.inf):
        m = sg.placeholder((3, 4), "float64", name="m")
        a = RNG.normal(size=(3, 4))
        t = torch.tensor(a, requires_grad=True)
        torch.linalg.matrix_norm(t, ord_matrix).backward()
        np.testing.assert_allclose(sg.grad(sg.linalg.norm(m, ord_matrix), m).eval({m: a}), t.grad.numpy(),
                                   rtol=1e-12)
    assert np.all(sg.hessian(sg.linalg.norm(x), x).eval({x: np.zeros(4)}) == 0)  # no NaN at 0, to second order


def test_nan_survives_the_optimizer_in_std_and_norms():
    """The zero-gradient roots keep a NaN sum as NaN through sg.optimize's rewrites (x * 0 = 0 assumes finite x)."""
    x = sg.placeholder((None,), "float64", name="x")
    outputs = [sg.std(x), sg.linalg.norm(x), sg.linalg.norm(x, 3), sg.linalg.norm(x, -1)]
    cost = outputs[0] + outputs[1] + outputs[2]
    f = sg.function([x], outputs + sg.grad(cost, [x]), backend="numpy")
    assert all(np.isnan(value).all() for value in f(np.array([1.0, np.nan, 2.0])))
    at_zero = f(np.zeros(3))
    assert all(np.all(value == 0) for value in at_zero)  # values and gradients (the -1 norm of zeros is 0 too)


@st.composite
def einsum_problems(draw):
    """Random subscripts over labels a-e of sizes 1-3 (some repeated within an operand, some broadcast as size 1),
    1 to 3 operands, implicit or explicit output, and known or unknown placeholder sizes."""
    sizes = dict(zip("abcde", draw(st.lists(st.integers(1, 3), min_size=5, max_size=5))))
    terms = draw(st.lists(st.lists(st.sampled_from("abcde"), max_size=4), min_size=1, max_size=3))
    used = sorted({label for term in terms for label in term})
    explicit = draw(st.booleans())
    output = draw(st.permutations(used))[:draw(st.integers(0, len(used)))] if explicit else None
    shapes = [tuple(1 if draw(st.integers(0, 4)) == 0 and term.count(label) == 1 else sizes[label] for label in term)
              for term in terms]
    subscripts = ",".join("".join(term) for term in terms) + ("->" + "".join(output) if explicit else "")
    return subscripts, shapes, draw(st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=einsum_problems(), seed=st.integers(0, 2**32 - 1))
def test_property_einsum_matches_numpy(problem, seed):
    subscripts, shapes, unknown = problem
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=shape) for shape in shapes]
    expected = np.einsum(subscripts, *arrays)
    repeated = any(len(set(term)) < len(term) for term in subscripts.split("->")[0].split(","))
    unknown = unknown and not repeated  # a diagonal needs its size known
    nodes = [sg.placeholder((None,) * len(shape) if unknown else shape, "float64", name=f"x{k}")
             for k, shape in enumerate(shapes)]
    try:
        node = sg.einsum(subscripts, *nodes)
        value = sg.evaluate(node, dict(zip(nodes, arrays)))
    except sg.EvaluationError:
        # unknown sizes: a size-1 dimension that NumPy broadcasts against a contracted one reaches matmul
        assert unknown and any(1 in shape for shape in shapes)
        return
    assert value.shape == expected.shape
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)
