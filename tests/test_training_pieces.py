"""Random streams, dropout, batch_norm, layers, minibatches and trainable-variable collection."""

import numpy as np
import pytest

import symgraph as sg
from symgraph.ops.random import RandomStream
from symgraph.testing import check_grads


def test_random_stream_is_fresh_per_call_and_reproducible_from_its_seed():
    def draws(seed, calls=3):
        x = sg.placeholder((None, 5), name="x")
        u = RandomStream(seed).uniform(x)
        f = sg.function([x], u, backend="numpy")
        return [f(np.zeros((4, 5), np.float32)) for _ in range(calls)]

    first, again, other = draws(7), draws(7), draws(8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[0], other[0])
    assert all(d.dtype == np.float32 and d.shape == (4, 5) and (0 <= d).all() and (d < 1).all() for d in first)


def test_two_draws_of_one_stream_are_independent_and_evaluate_does_not_advance():
    stream = RandomStream(1)
    like = sg.constant(np.zeros(1000))
    a, b = stream.uniform(like), stream.uniform(like)
    va, vb = sg.evaluate([a, b])
    assert abs(np.corrcoef(va, vb)[0, 1]) < 0.1
    np.testing.assert_array_equal(a.eval(), va)


def test_uniform_statistics():
    values = RandomStream(3).uniform(sg.constant(np.zeros(200_000))).eval()
    assert abs(values.mean() - 0.5) < 0.005 and abs(values.var() - 1 / 12) < 0.002


def test_dropout_statistics_scaling_and_modes():
    x = sg.placeholder((None, 1000), name="x")
    rate = 0.3
    train = sg.function([x], sg.nn.dropout(x, rate, training=True, seed=0), backend="numpy")
    ones = np.ones((50, 1000), np.float32)
    out = train(ones)
    kept = out != 0
    assert abs(kept.mean() - (1 - rate)) < 0.01
    np.testing.assert_allclose(out[kept], 1 / (1 - rate), rtol=1e-6)
    assert not np.array_equal(out, train(ones))  # fresh mask per call
    assert sg.nn.dropout(x, rate, training=False) is x
    flag = sg.placeholder((), "bool", name="training")
    both = sg.function([x, flag], sg.nn.dropout(x, rate, training=flag, seed=0), backend="numpy")
    np.testing.assert_array_equal(both(ones, np.bool_(False)), ones)
    assert (both(ones, np.bool_(True)) == 0).any()
    with pytest.raises(ValueError, match="rate"):
        sg.nn.dropout(x, 1.0)


def test_dropout_gradient_uses_the_same_mask():
    w = sg.variable(np.ones((3, 4)), name="w")
    y = sg.nn.dropout(w, 0.5, seed=2)
    value, gradient = sg.evaluate([y, sg.grad(sg.sum(y), w)])
    np.testing.assert_array_equal(gradient, value)  # d(sum(mask * w * 2))/dw = mask * 2 = y for w = 1


def test_batch_norm_training_inference_and_running_statistics():
    rng = np.random.default_rng(0)
    x = sg.placeholder((None, 3, 2, 2), "float64", name="x")
    gamma = sg.variable(np.array([1.0, 2.0, 0.5]), name="gamma")
    beta = sg.variable(np.array([0.0, 1.0, -1.0]), name="beta")
    running_mean = sg.variable(np.zeros(3), name="running_mean", trainable=False)
    running_var = sg.variable(np.ones(3), name="running_var", trainable=False)
    train = sg.function([x], sg.nn.batch_norm(x, gamma, beta, running_mean, running_var, training=True,
                                              momentum=0.1, eps=1e-5), backend="numpy")
    values = rng.standard_normal((4, 3, 2, 2)) * 3 + 2
    out = train(values)
    mean = values.mean((0, 2, 3))
    var = values.var((0, 2, 3))
    expected = (values - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
    expected = expected * gamma.value[:, None, None] + beta.value[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-10)
    np.testing.assert_allclose(running_mean.value, 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(running_var.value, 0.9 + 0.1 * values.var((0, 2, 3), ddof=1), rtol=1e-12)
    infer = sg.function([x], sg.nn.batch_norm(x, gamma, beta, running_mean, running_var, training=False), backend="numpy")
    before = running_mean.value.copy()
    out = infer(values)
    np.testing.assert_array_equal(running_mean.value, before)  # inference leaves the statistics alone
    rm, rv = running_mean.value[:, None, None], running_var.value[:, None, None]
    np.testing.assert_allclose(out, (values - rm) / np.sqrt(rv + 1e-5) * gamma.value[:, None, None]
                               + beta.value[:, None, None], rtol=1e-10)
    bn = sg.nn.batch_norm(x, gamma, beta, running_mean, running_var, training=True)
    check_grads(sg.sum(sg.sin(bn)), [x, gamma, beta], {x: values})


def test_batch_norm_with_a_training_flag_node():
    x = sg.placeholder((None, 2), "float64", name="x")
    flag = sg.placeholder((), "bool", name="training")
    rm, rv = sg.variable(np.zeros(2), trainable=False), sg.variable(np.ones(2), trainable=False)
    y = sg.nn.batch_norm(x, np.ones(2), np.zeros(2), rm, rv, training=flag, axis=1)
    f = sg.function([x, flag], y, backend="numpy")
    values = np.array([[1.0, 2.0], [3.0, 6.0]])
    f(values, np.bool_(False))
    np.testing.assert_array_equal(rm.value, [0.0, 0.0])
    f(values, np.bool_(True))
    np.testing.assert_allclose(rm.value, [0.2, 0.4])


def test_dense_layer_and_trainable_variables():
    x = sg.placeholder((None, 4), name="x")
    h = sg.layers.dense(x, 3, activation=sg.relu, name="fc1", init="he_normal", rng=0)
    y = sg.layers.dense(h, 2, name="fc2", init="fan_in_uniform", bias_init="fan_in_uniform", rng=1)
    params = sg.trainable_variables(y)
    assert [p.name for p in params] == ["fc1/W", "fc1/b", "fc2/W", "fc2/b"]
    w1, b1, w2, b2 = (p.value for p in params)
    np.testing.assert_array_equal(w1, sg.init.he_normal((4, 3), np.random.default_rng(0)))
    assert (b1 == 0).all() and np.abs(b2).max() <= 1 / np.sqrt(3) and (b2 != 0).all()
    xv = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(y.eval({x: xv}), np.maximum(xv @ w1 + b1, 0) @ w2 + b2, rtol=1e-6)
    with pytest.raises(ValueError, match="initializer"):
        sg.layers.dense(x, 3, init="nonsense")
    bn = sg.layers.batch_norm(h, training=True, name="bn")
    names = [p.name for p in sg.trainable_variables(bn)]
    assert "bn/gamma" in names and "bn/running_mean" not in names


def test_minibatches_cover_every_example_once_in_a_seeded_order():
    xs, ys = np.arange(10) * 10, np.arange(10)
    rng = np.random.default_rng(0)
    epoch1 = list(sg.minibatches([xs, ys], 4, rng))
    epoch2 = list(sg.minibatches([xs, ys], 4, rng))
    assert [len(b[0]) for b in epoch1] == [4, 4, 2]
    for batches in (epoch1, epoch2):
        assert sorted(np.concatenate([b[1] for b in batches]).tolist()) == list(range(10))
        assert all((b[0] == b[1] * 10).all() for b in batches)
    assert not np.array_equal(epoch1[0][1], epoch2[0][1])
    again = list(sg.minibatches([xs, ys], 4, np.random.default_rng(0)))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(epoch1, again))
    assert [len(b[0]) for b in sg.minibatches([xs], 4, 0, drop_last=True)] == [4, 4]
    with pytest.raises(ValueError, match="lengths"):
        list(sg.minibatches([xs, ys[:5]], 2))


def test_minibatches_of_a_single_array_yield_its_slices():
    xs = np.arange(20).reshape(10, 2)
    batches = list(sg.minibatches(xs, 4, np.random.default_rng(0)))
    assert all(isinstance(b, np.ndarray) for b in batches)  # a bare array gives arrays, a list gives tuples
    assert [b.shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert sorted(np.concatenate(batches)[:, 0].tolist()) == list(range(0, 20, 2))
    paired = list(sg.minibatches([xs], 4, np.random.default_rng(0)))
    assert all(isinstance(b, tuple) and len(b) == 1 for b in paired)
    for alone, (inside,) in zip(batches, paired):  # the same order from the same seed
        np.testing.assert_array_equal(alone, inside)
    assert [len(b) for b in sg.minibatches(xs, 4, shuffle=False, drop_last=True)] == [4, 4]
    np.testing.assert_array_equal(next(iter(sg.minibatches(xs, 3, shuffle=False))), xs[:3])


def test_default_layer_names_are_numbered_and_explicit_names_kept():
    sg.layers.reset_names()
    x = sg.placeholder((None, 4), name="x")
    h = sg.layers.dense(x, 3)
    h = sg.layers.dense(h, 3, name="dense_2")  # explicit: used as given
    h = sg.layers.dense(h, 3)
    h = sg.layers.dense(h, 3)  # "dense_2" is taken, so the next default is dense_3
    h = sg.layers.batch_norm(h)
    h = sg.layers.batch_norm(h)
    images = sg.placeholder((None, 1, 6, 6), name="images")
    c = sg.layers.conv2d(sg.layers.conv2d(images, 2, 3), 2, 3)
    names = [p.name for p in sg.trainable_variables(sg.sum(h) + sg.sum(c))]
    assert names == ["dense/W", "dense/b", "dense_2/W", "dense_2/b", "dense_1/W", "dense_1/b", "dense_3/W",
                     "dense_3/b", "batch_norm/gamma", "batch_norm/beta", "batch_norm_1/gamma", "batch_norm_1/beta",
                     "conv/W", "conv/b", "conv_1/W", "conv_1/b"]
    sg.layers.reset_names()
    assert sg.trainable_variables(sg.layers.dense(x, 2))[0].name == "dense/W"


def test_default_layer_names_are_unique_across_threads():
    import threading

    sg.layers.reset_names()
    x = sg.placeholder((None, 2), name="x")
    names, start = [], threading.Barrier(4)

    def build():
        start.wait()
        for _ in range(50):
            names.append(sg.trainable_variables(sg.layers.dense(x, 1, bias_init=None))[0].name)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(names) == sorted(["dense/W"] + [f"dense_{k}/W" for k in range(1, 200)])


@pytest.mark.parametrize("name,reference", [
    ("relu", lambda z: np.maximum(z, 0)),
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
    ("tanh", np.tanh),
    ("softmax", lambda z: np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)),
    ("elu", lambda z: np.where(z > 0, z, np.expm1(z))),
    ("leaky_relu", lambda z: np.where(z > 0, z, 0.01 * z)),
    ("softplus", lambda z: np.log1p(np.exp(z))),
    ("linear", lambda z: z),
])
def test_dense_accepts_activation_names(name, reference):
    x = sg.placeholder((None, 4), "float64", name="x")
    y = sg.layers.dense(x, 3, activation=name, init="he_normal", bias_init=sg.init.normal(0.5), rng=0)
    weights, bias = (p.value for p in sg.trainable_variables(y))
    xv = np.random.default_rng(1).standard_normal((5, 4))
    np.testing.assert_allclose(y.eval({x: xv}), reference(xv @ weights + bias), rtol=1e-12, atol=1e-15)
    images = sg.placeholder((None, 1, 5, 5), "float64", name="images")
    c = sg.layers.conv2d(images, 2, 3, activation=name, bias_init=sg.init.normal(0.5), rng=0)
    linear = sg.layers.conv2d(images, 2, 3, bias_init=sg.init.normal(0.5), rng=0)
    iv = np.random.default_rng(2).standard_normal((2, 1, 5, 5))
    np.testing.assert_allclose(c.eval({images: iv}), reference(linear.eval({images: iv})), rtol=1e-12, atol=1e-15)


def test_testing_namespace_is_an_attribute_after_import_symgraph():
    import subprocess
    import sys

    code = "import symgraph as sg; print(sg.testing.check_grads.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "check_grads", result.stderr
