"""sg.function (outputs, updates with Theano semantics, argument checks), sg.optim against hand-computed steps,
and sg.init's distributions."""

import numpy as np
import pytest

import symgraph as sg


def test_function_single_and_list_outputs():
    x = sg.placeholder((None, 2), "float64", name="x")
    y = sg.placeholder((None,), "int64", name="y")
    total = sg.sum(x)
    f_single = sg.function([x], total, backend="numpy")
    f_list = sg.function([x, y], [total, y * 2], backend="numpy")
    xv = np.arange(6.0).reshape(3, 2)
    assert isinstance(f_single(xv), np.ndarray) and float(f_single(xv)) == 15.0
    first, second = f_list(xv, np.array([1, 2, 3]))
    assert float(first) == 15.0 and second.tolist() == [2, 4, 6]


def test_updates_use_values_from_before_the_call():
    a = sg.variable(np.float64(1.0), name="a")
    b = sg.variable(np.float64(10.0), name="b")
    swap = sg.function([], [a + b], updates={a: b, b: a}, backend="numpy")
    assert float(swap()[0]) == 11.0
    assert (float(a.value), float(b.value)) == (10.0, 1.0)
    swap()
    assert (float(a.value), float(b.value)) == (1.0, 10.0)


def test_function_argument_errors():
    x = sg.placeholder((2,), "float64", name="x")
    hidden = sg.placeholder((2,), "float64", name="hidden")
    v = sg.variable(np.zeros(2), name="v")
    with pytest.raises(sg.FeedError, match="'hidden'"):
        sg.function([x], x + hidden, backend="numpy")
    with pytest.raises(TypeError, match="placeholders"):
        sg.function([v], v * 2, backend="numpy")
    with pytest.raises(TypeError, match="only variables"):
        sg.function([x], x, updates={x: x}, backend="numpy")
    with pytest.raises(sg.ShapeError, match="'v'"):
        sg.function([x], x, updates={v: sg.sum(x)}, backend="numpy")
    with pytest.raises(sg.DTypeError, match="'v'"):
        sg.function([x], x, updates={v: sg.cast(x, "float32")}, backend="numpy")
    with pytest.raises(ValueError, match="backend"):
        sg.function([x], x, backend="tpu")
    f = sg.function([x], x * 2, backend="numpy")
    with pytest.raises(TypeError, match=r"takes 1 array \(x\), got 0"):
        f()
    with pytest.raises(sg.ShapeError, match="'x'"):
        f(np.zeros(3))
    labels = sg.placeholder((2,), "int64", name="labels")
    with pytest.raises(sg.DTypeError, match="'labels'"):
        sg.function([labels], labels + 1, backend="numpy")(np.array([1.0, 2.5]))


def _quadratic_problem():
    """cost = sum((w - target)^2 * scale): gradient 2 * scale * (w - target), easy to step by hand."""
    target = np.array([1.0, -2.0, 0.5])
    scale = np.array([1.0, 3.0, 0.5])
    w = sg.variable(np.array([0.3, 0.2, -0.1]), name="w")
    cost = sg.sum(sg.square(w - target) * scale)
    return w, cost, lambda value: 2 * scale * (value - target)


def _run(optimizer, steps=4):
    w, cost, gradient = _quadratic_problem()
    step = sg.function([], cost, updates=optimizer.updates(cost, [w]), backend="numpy")
    trajectory = []
    for _ in range(steps):
        step()
        trajectory.append(w.value.copy())
    return trajectory, gradient, np.array([0.3, 0.2, -0.1])


@pytest.mark.parametrize("momentum,nesterov,weight_decay", [(0.0, False, 0.0), (0.9, False, 0.0),
                                                             (0.9, True, 0.0), (0.5, False, 0.1)])
def test_sgd_matches_hand_computed_steps(momentum, nesterov, weight_decay):
    lr = 0.05
    trajectory, gradient, value = _run(sg.optim.SGD(lr, momentum=momentum, nesterov=nesterov,
                                                    weight_decay=weight_decay))
    velocity = np.zeros(3)
    for got in trajectory:
        g = gradient(value) + weight_decay * value
        velocity = momentum * velocity + g
        direction = g + momentum * velocity if nesterov else (velocity if momentum else g)
        value = value - lr * direction
        np.testing.assert_allclose(got, value, rtol=1e-12)


def test_adam_matches_hand_computed_steps():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    trajectory, gradient, value = _run(sg.optim.Adam(lr, b1, b2, eps), steps=5)
    m = v = np.zeros(3)
    for t, got in enumerate(trajectory, start=1):
        g = gradient(value)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        value = value - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(got, value, rtol=1e-12)


def test_rmsprop_matches_hand_computed_steps():
    lr, rho, eps = 0.01, 0.9, 1e-8
    trajectory, gradient, value = _run(sg.optim.RMSProp(lr, rho, eps))
    s = np.zeros(3)
    for got in trajectory:
        g = gradient(value)
        s = rho * s + (1 - rho) * g * g
        value = value - lr * g / (np.sqrt(s) + eps)
        np.testing.assert_allclose(got, value, rtol=1e-12)


@pytest.mark.parametrize("schedule,expected", [
    (sg.optim.exponential_decay(0.5, 0.1), lambda t: 0.5 * np.exp(-0.1 * (t - 1))),
    (sg.optim.inverse_time_decay(0.5, 0.2), lambda t: 0.5 / (1 + 0.2 * (t - 1))),
    (sg.optim.step_decay(0.5, 0.1, every=2), lambda t: 0.5 * 0.1 ** np.floor((t - 1) / 2)),
])
def test_learning_rate_schedules_are_graph_expressions_of_the_step(schedule, expected):
    """t is 1 at the first update, which uses lr0 (tests/test_schedules.py checks them against PyTorch)."""
    trajectory, gradient, value = _run(sg.optim.SGD(schedule), steps=5)
    for t, got in enumerate(trajectory, start=1):
        value = value - expected(t) * gradient(value)
        np.testing.assert_allclose(got, value, rtol=1e-12)


def test_optimizer_counts_steps_and_rejects_non_variables():
    opt = sg.optim.SGD(0.1)
    w, cost, _ = _quadratic_problem()
    step = sg.function([], cost, updates=opt.updates(cost, [w]), backend="numpy")
    step(), step()
    assert int(opt.iterations.value) == 2
    with pytest.raises(TypeError, match="variables"):
        opt.updates(cost, [w * 2])


@pytest.mark.parametrize("initializer,shape,std", [
    (sg.init.he_normal, (400, 300), np.sqrt(2 / 400)),
    (sg.init.glorot_normal, (400, 300), np.sqrt(2 / 700)),
    (sg.init.glorot_uniform, (400, 300), np.sqrt(6 / 700) / np.sqrt(3)),
    (sg.init.fan_in_uniform, (64, 32, 5, 5), 1 / np.sqrt(32 * 25) / np.sqrt(3)),
    (sg.init.normal(0.02), (300, 300), 0.02),
    (sg.init.uniform(-0.3, 0.3), (300, 300), 0.3 / np.sqrt(3)),
])
def test_initializer_statistics_and_seeding(initializer, shape, std):
    values = initializer(shape, 7)
    assert values.shape == shape and values.dtype == np.float32
    assert abs(values.mean()) < 4 * std / np.sqrt(values.size)
    assert abs(values.std() / std - 1) < 0.02
    np.testing.assert_array_equal(values, initializer(shape, np.random.default_rng(7)))
    assert not np.array_equal(values, initializer(shape, 8))


def test_constant_and_zeros_initializers():
    assert sg.init.zeros((2, 3), dtype="float64").dtype == np.float64
    np.testing.assert_array_equal(sg.init.constant(0.1)((2,), None), np.float32([0.1, 0.1]))
