"""sg.grad and friends: textbook examples, structure of gradient graphs, kinks, broadcasting, errors."""

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import toposort
from symgraph.testing import check_grads


def f64(value, name=None):
    return sg.variable(np.asarray(value, dtype=np.float64), name=name)


def test_textbook_sum_times_product():
    x, y, z = f64(-2.0, "x"), f64(5.0, "y"), f64(-4.0, "z")
    f = (x + y) * z
    assert [float(g) for g in sg.evaluate(sg.grad(f, [x, y, z]))] == [-4.0, -4.0, 3.0]


def test_logistic_unit_gradient_is_sigma_one_minus_sigma_times_x():
    w = f64([2.0, -3.0, -3.0], "w")
    x = f64([-1.0, -2.0], "x")
    f = 1 / (1 + sg.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))
    grad_w, grad_x = sg.grad(f, [w, x])
    sigma = 1 / (1 + np.exp(-(2.0 * -1.0 + -3.0 * -2.0 - 3.0)))
    local = sigma * (1 - sigma)
    np.testing.assert_allclose(grad_w.eval(), local * np.array([-1.0, -2.0, 1.0]), rtol=1e-12)
    np.testing.assert_allclose(grad_x.eval(), local * np.array([2.0, -3.0]), rtol=1e-12)


def test_gradient_graph_reuses_forward_nodes_of_a_composition():
    w = f64(0.3, "w")
    x = sg.sigmoid(w)
    y = sg.sigmoid(x)
    z = sg.sigmoid(y)
    g = sg.grad(z, w)
    gradient_nodes = {id(n) for n in toposort([g])}
    for forward in (x, y, z):
        assert id(forward) in gradient_nodes, f"the gradient graph rebuilt {forward}"
    assert sum(n.op.name == "sigmoid" for n in toposort([g])) == 3  # f(w), f(f(w)), f(f(f(w))) only, no copies
    s = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    a, b, c = s(0.3), s(s(0.3)), s(s(s(0.3)))
    np.testing.assert_allclose(g.eval(), c * (1 - c) * b * (1 - b) * a * (1 - a), rtol=1e-12)


def test_gradient_size_grows_linearly_with_depth():
    def gradient_node_count(layers):
        x = sg.placeholder((None, 4), "float64", name="x")
        h = x
        weights = []
        for k in range(layers):
            w = f64(np.full((4, 4), 0.1), f"w{k}")
            weights.append(w)
            h = sg.tanh(h @ w + 1.0)
        cost = sg.mean(h)
        return len(toposort(sg.grad(cost, weights)))

    counts = [gradient_node_count(n) for n in (5, 10, 20, 40)]
    per_layer = [(b - a) / (nb - na) for (a, na), (b, nb) in zip(zip(counts, (5, 10, 20)), zip(counts[1:], (10, 20, 40)))]
    assert max(per_layer) == min(per_layer), counts  # exactly the same number of new nodes per layer
    assert per_layer[0] < 30, counts


def test_gradient_with_respect_to_intermediate_and_placeholder():
    x = sg.placeholder((3,), "float64", name="x")
    h = sg.sin(x)
    cost = sg.sum(h * h)
    grad_h, grad_x = sg.grad(cost, [h, x])
    xv = np.array([0.1, 0.7, -1.2])
    np.testing.assert_allclose(grad_h.eval({x: xv}), 2 * np.sin(xv))
    np.testing.assert_allclose(grad_x.eval({x: xv}), 2 * np.sin(xv) * np.cos(xv))


def test_optimizing_an_input_by_gradient_descent():
    image = sg.placeholder((2, 2), "float64", name="image")
    target = np.array([[1.0, -1.0], [0.5, 2.0]])
    cost = sg.sum(sg.square(image - target))
    step = sg.grad(cost, image)
    value = np.zeros((2, 2))
    for _ in range(50):
        value = value - 0.1 * step.eval({image: value})
    np.testing.assert_allclose(value, target, atol=1e-4)


def test_kink_conventions():
    x = f64([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(sg.grad(sg.sum(sg.relu(x)), x).eval(), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(sg.grad(sg.sum(sg.abs(x)), x).eval(), [-1.0, 0.0, 1.0])
    ties = f64([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    np.testing.assert_allclose(sg.grad(sg.sum(sg.max(ties, axis=1)), ties).eval(),
                               [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(sg.grad(sg.min(ties), ties).eval(), [[1.0, 0, 0], [0, 0, 0]])
    a, b = f64([1.0, 2.0, 3.0]), f64([1.0, 5.0, 0.0])
    grad_a, grad_b = sg.grad(sg.sum(sg.maximum(a, b)), [a, b])
    np.testing.assert_array_equal(grad_a.eval(), [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(grad_b.eval(), [0.5, 1.0, 0.0])


def test_stop_gradient_blocks_only_its_path():
    x = f64(3.0)
    y = x * sg.stop_gradient(x)
    assert float(y.eval()) == 9.0
    assert float(sg.grad(y, x).eval()) == 3.0


def test_non_differentiable_path_gives_zero_gradient():
    x = f64([0.4, 1.6])
    cost = sg.sum(sg.floor(x) * 2.0 + sg.cast(sg.argmax(x), "float64"))
    np.testing.assert_array_equal(sg.grad(cost, x).eval(), [0.0, 0.0])


def test_contributions_from_several_consumers_are_summed():
    x = f64(1.5)
    cost = x * x + sg.sin(x) + x
    np.testing.assert_allclose(sg.grad(cost, x).eval(), 2 * 1.5 + np.cos(1.5) + 1)


@pytest.mark.parametrize("a_shape,b_shape", [((3, 1), (1, 4)), ((4,), (3, 4)), ((), (2, 3)), ((2, 1, 3), (4, 1)),
                                             ((1,), (5,)), ((1, 1), ())])
@pytest.mark.parametrize("op", [sg.add, sg.sub, sg.mul, sg.div, sg.maximum])
def test_broadcasting_gradients(a_shape, b_shape, op):
    rng = np.random.default_rng(1)
    a = f64(rng.uniform(1, 2, a_shape))
    b = f64(rng.uniform(3, 4, b_shape))
    check_grads(sg.sum(sg.sin(op(a, b))), [a, b])


def test_broadcasting_against_unknown_dimensions_sums_at_run_time():
    x = sg.placeholder((None, 3), "float64", name="x")
    y = sg.placeholder((None, 3), "float64", name="y")
    cost = sg.sum(sg.square(x * y))
    rng = np.random.default_rng(2)
    # x is broadcast along the batch axis at run time: its gradient must be summed over it.
    check_grads(cost, [x, y], {x: rng.standard_normal((1, 3)), y: rng.standard_normal((4, 3))})
    check_grads(cost, [x, y], {x: rng.standard_normal((4, 3)), y: rng.standard_normal((4, 3))})


@pytest.mark.parametrize("reduction", [sg.sum, sg.mean, sg.max, sg.min, sg.prod])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, (0, 1), (0, 2), (1, 2), (0, 1, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_gradients_over_every_axis_combination(reduction, axis, keepdims):
    rng = np.random.default_rng(3)
    values = rng.permutation(24).reshape(2, 3, 4) / 100.0 + 0.9  # distinct (no ties), near 1 (tame products)
    x = f64(values)
    cost = sg.sum(sg.sin(reduction(x, axis=axis, keepdims=keepdims)))
    check_grads(cost, x)


def test_reduction_gradients_with_unknown_batch_dimension():
    x = sg.placeholder((None, 3), "float64", name="x")
    values = np.random.default_rng(4).uniform(0.5, 1.5, (5, 3))
    for reduction in (sg.sum, sg.mean, sg.max, sg.prod):
        check_grads(sg.sum(sg.cos(reduction(x, axis=0))), x, {x: values})


def test_prod_gradient_with_zeros():
    x = f64([[2.0, 0.0, 3.0], [0.0, 0.0, 1.0], [1.0, 2.0, 4.0]])
    g = sg.grad(sg.sum(sg.prod(x, axis=1)), x).eval()
    np.testing.assert_array_equal(g, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 4.0, 2.0]])


@pytest.mark.parametrize("a_shape,b_shape", [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                                             ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 5)),
                                             ((4,), (2, 4, 5))])
def test_matmul_gradients(a_shape, b_shape):
    rng = np.random.default_rng(5)
    a, b = f64(rng.standard_normal(a_shape)), f64(rng.standard_normal(b_shape))
    check_grads(sg.sum(sg.tanh(a @ b)), [a, b])


def test_matmul_gradient_with_unknown_batch():
    x = sg.placeholder((None, 4), "float64", name="x")
    w = f64(np.random.default_rng(6).standard_normal((4, 3)))
    check_grads(sg.mean(sg.sigmoid(x @ w)), [x, w], {x: np.random.default_rng(7).standard_normal((5, 4))})


def test_shape_and_indexing_gradients():
    rng = np.random.default_rng(8)
    x = f64(rng.standard_normal((3, 4)))
    y = f64(rng.standard_normal((2, 4)))
    idx = np.array([2, 0, 2, 1])
    cases = [
        sg.reshape(x, (4, 3)), sg.reshape(x, (-1,)), sg.transpose(x), sg.expand_dims(x, 1),
        sg.squeeze(sg.expand_dims(x, 0)), sg.broadcast_to(x[0], (5, 4)), x[1:3, ::2], x[..., 1], x[None, :, 2],
        x[idx], x[idx, idx], x[:, [3, 3, 0]], sg.concatenate([x, y], axis=0), sg.stack([x[0], y[1]], axis=1),
        sg.where(x > 0, x, y[0] * 2.0),
    ]
    for case in cases:
        check_grads(sg.sum(sg.sin(case) * sg.cos(case)), [x, y] if _uses(case, y) else [x])


def _uses(node, leaf):
    return any(n is leaf for n in toposort([node]))


def test_concatenate_gradient_with_unknown_sizes():
    a = sg.placeholder((None, 2), "float64", name="a")
    b = sg.placeholder((None, 2), "float64", name="b")
    rng = np.random.default_rng(9)
    check_grads(sg.sum(sg.square(sg.concatenate([a, b], axis=0))), [a, b],
                {a: rng.standard_normal((3, 2)), b: rng.standard_normal((1, 2))})


def test_cast_passes_gradient_between_floats_only():
    x = f64([1.5, -2.0])
    np.testing.assert_allclose(sg.grad(sg.sum(sg.cast(x, "float32") * 3), x).eval(), [3.0, 3.0])
    assert sg.grad(sg.sum(x * 2), x).dtype == np.float64
    x32 = sg.variable(np.array([1.0, 2.0], np.float32))
    g = sg.grad(sg.sum(x32 * f64(2.0)), x32)  # promoted to float64 forward: gradient comes back as float32
    assert g.dtype == np.float32
    np.testing.assert_allclose(g.eval(), [2.0, 2.0])


# -- jacobians, hessians, products ----------------------------------------------------------------------------------

def _numeric_jacobian(function, x, eps=1e-6):
    columns = []
    for j in range(x.size):
        step = np.zeros_like(x)
        step.flat[j] = eps
        columns.append(((function(x + step) - function(x - step)) / (2 * eps)).ravel())
    return np.stack(columns, axis=1)


def test_jacobian_hessian_and_products_agree():
    rng = np.random.default_rng(10)
    a = rng.standard_normal((3, 3))
    x = sg.placeholder((3,), "float64", name="x")
    y = sg.tanh(sg.matmul(sg.constant(a), x)) * x
    cost = sg.sum(y * y * y)
    xv, v = rng.standard_normal(3), rng.standard_normal(3)
    feeds = {x: xv}

    forward = lambda value: np.tanh(a @ value) * value  # noqa: E731
    j = sg.jacobian(y, x).eval(feeds)
    np.testing.assert_allclose(j, _numeric_jacobian(forward, xv), rtol=1e-6, atol=1e-8)

    gradient = lambda value: 3 * forward(value) ** 2 @ _numeric_jacobian(forward, value)  # noqa: E731
    h = sg.hessian(cost, x).eval(feeds)
    np.testing.assert_allclose(h, _numeric_jacobian(gradient, xv, eps=1e-5), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(h, h.T, rtol=1e-10, atol=1e-12)

    np.testing.assert_allclose(sg.hvp(cost, x, v).eval(feeds), h @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sg.jvp(y, x, v).eval(feeds), j @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sg.vjp(y, x, v).eval(feeds), v @ j, rtol=1e-10, atol=1e-12)


def test_jvp_with_several_inputs_and_vjp_of_matrix_output():
    rng = np.random.default_rng(11)
    a, b = f64(rng.standard_normal((2, 3))), f64(rng.standard_normal((3, 4)))
    y = sg.sin(a @ b)
    va, vb = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    eps = 1e-6
    plus = np.sin((a.value + eps * va) @ (b.value + eps * vb))
    minus = np.sin((a.value - eps * va) @ (b.value - eps * vb))
    np.testing.assert_allclose(sg.jvp(y, [a, b], [va, vb]).eval(), (plus - minus) / (2 * eps), rtol=1e-6)
    u = rng.standard_normal((2, 4))
    grad_a, grad_b = sg.vjp(y, [a, b], u)
    local = u * np.cos(a.value @ b.value)
    np.testing.assert_allclose(grad_a.eval(), local @ b.value.T, rtol=1e-12)
    np.testing.assert_allclose(grad_b.eval(), a.value.T @ local, rtol=1e-12)


def test_jacobian_of_matrix_output_has_combined_shape():
    x = f64(np.arange(6.0).reshape(2, 3) / 10)
    y = sg.exp(x).T
    j = sg.jacobian(y, x).eval()
    assert j.shape == (3, 2, 2, 3)
    expected = np.zeros((3, 2, 2, 3))
    for i in range(2):
        for k in range(3):
            expected[k, i, i, k] = np.exp(x.value[i, k])
    np.testing.assert_allclose(j, expected, rtol=1e-12)


def test_grad_of_grad_is_a_graph_that_can_be_differentiated_again():
    x = f64(0.7)
    first = sg.grad(sg.sin(x) * x, x)
    second = sg.grad(first, x)
    third = sg.grad(second, x)
    v = 0.7
    np.testing.assert_allclose(second.eval(), 2 * np.cos(v) - v * np.sin(v), rtol=1e-12)
    np.testing.assert_allclose(third.eval(), -3 * np.sin(v) - v * np.cos(v), rtol=1e-12)


# -- errors ---------------------------------------------------------------------------------------------------------

def test_non_scalar_cost_is_an_error_pointing_to_vjp_and_jacobian():
    x = f64([1.0, 2.0])
    with pytest.raises(sg.GradientError) as error:
        sg.grad(x * 2, x)
    message = str(error.value)
    assert "(2,)" in message and "sg.vjp" in message and "sg.jacobian" in message


def test_disconnected_wrt():
    x, unused = f64(1.0, "x"), f64(2.0, "unused")
    cost = x * 3
    with pytest.raises(sg.GradientError, match="'unused'") as error:
        sg.grad(cost, [x, unused])
    assert __file__ in str(error.value)
    grad_x, zero = sg.grad(cost, [x, unused], disconnected="zero")
    assert float(zero.eval()) == 0.0 and zero.shape == unused.shape and float(grad_x.eval()) == 3.0
    assert sg.grad(cost, [x, unused], disconnected="none")[1] is None
    with pytest.raises(ValueError, match="disconnected"):
        sg.grad(cost, x, disconnected="ignore")


def test_wrt_constant_and_integer_wrt_are_errors():
    c = sg.constant(2.0, name="two")
    with pytest.raises(sg.GradientError, match="constant"):
        sg.grad(c * c, c)
    n = sg.variable(np.array([1, 2], np.int64), name="counts")
    with pytest.raises(sg.GradientError, match="'counts'.*int64|int64.*'counts'"):
        sg.grad(sg.sum(sg.cast(n, "float64")), n)
    with pytest.raises(sg.GradientError, match="floating-point"):
        sg.grad(sg.sum(n), n)


@pytest.mark.parametrize("call,label", [
    (lambda x, unused: sg.grad(sg.sum(x), unused), "sg.grad"),
    (lambda x, unused: sg.vjp(x * 2, unused, np.ones(2)), "sg.vjp"),
    (lambda x, unused: sg.hvp(sg.sum(x), unused, np.ones(3)), "sg.hvp"),
    (lambda x, unused: sg.hessian(sg.sum(x), unused), "sg.hessian"),
    (lambda x, unused: sg.hvp(x * 2, x, np.ones(2)), "sg.hvp"),
    (lambda x, unused: sg.jvp(x * 2, x, np.ones(3)), "sg.jvp"),
    (lambda x, unused: sg.jacobian(x * 2, sg.constant(1.0)), "sg.jacobian"),
])
def test_errors_name_the_function_called_and_the_callers_line(call, label):
    x, unused = f64([1.0, 2.0], "x"), f64(np.ones(3), "unused")
    with pytest.raises(sg.GradientError) as error:
        call(x, unused)
    message = str(error.value)
    assert message.startswith(label) and f"{__file__}:" in message, message
    assert label == "sg.vjp" or "sg.vjp:" not in message, message  # sg.grad used to say sg.vjp


def test_argument_type_errors_name_the_function_called():
    x = f64([1.0, 2.0], "x")
    with pytest.raises(TypeError, match=r"^sg.grad: the cost must be a node, got int"):
        sg.grad(3, x)
    with pytest.raises(TypeError, match=r"^sg.hvp: wrt must be a node"):
        sg.hvp(sg.sum(x), "x", np.ones(2))
    with pytest.raises(TypeError, match=r"^sg.vjp: wrt must be a node or a list of nodes, got dict"):
        sg.vjp(x, {"x": x}, np.ones(2))
