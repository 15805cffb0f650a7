"""sg.nn: softmax family, fused losses, activations and penalties against NumPy/SciPy, stability, gradients."""

import numpy as np
import pytest
import scipy.special

import symgraph as sg
from symgraph.testing import check_grads

rng = np.random.default_rng(0)


def f64(value, name=None):
    return sg.variable(np.asarray(value, np.float64), name=name)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_family_matches_scipy(axis):
    values = rng.standard_normal((3, 5)) * 3
    x = f64(values)
    np.testing.assert_allclose(sg.nn.softmax(x, axis).eval(), scipy.special.softmax(values, axis), rtol=1e-12)
    np.testing.assert_allclose(sg.nn.log_softmax(x, axis).eval(), scipy.special.log_softmax(values, axis), rtol=1e-12)
    np.testing.assert_allclose(sg.nn.logsumexp(x, axis).eval(), scipy.special.logsumexp(values, axis), rtol=1e-12)
    np.testing.assert_allclose(sg.nn.logsumexp(x, (0, 1), keepdims=True).eval(),
                               scipy.special.logsumexp(values, (0, 1), keepdims=True), rtol=1e-12)
    for node in (sg.nn.softmax(x, axis), sg.nn.log_softmax(x, axis), sg.nn.logsumexp(x, axis)):
        check_grads(sg.sum(sg.sin(node)), x)


def test_float32_softmax_keeps_dtype():
    x = sg.placeholder((None, 4), name="x")
    for node in (sg.nn.softmax(x), sg.nn.log_softmax(x), sg.nn.logsumexp(x, 1)):
        assert node.dtype == np.float32
        assert node.eval({x: np.ones((2, 4), np.float32)}).dtype == np.float32


def test_stable_for_huge_logits():
    logits = f64([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]])
    labels = np.array([1, 0])
    loss = sg.nn.softmax_cross_entropy(logits, labels)
    value, gradient = sg.evaluate([loss, sg.grad(loss, logits)])
    assert np.isfinite(value) and np.isfinite(gradient).all()
    np.testing.assert_allclose(value, (2e4 + 2e4) / 2)
    np.testing.assert_allclose(gradient, np.array([[1, -1, 0], [-1, 0, 1]]) / 2, atol=1e-12)
    assert np.isfinite(sg.evaluate(sg.grad(sg.sum(sg.nn.log_softmax(logits)), logits))).all()
    assert np.isfinite(sg.evaluate(sg.nn.sigmoid_cross_entropy(logits, np.ones((2, 3)))))


def _reference_cross_entropy(logits, targets):
    return -(targets * scipy.special.log_softmax(logits, -1)).sum(-1)


def test_softmax_cross_entropy_with_labels_one_hot_and_probabilities():
    values = rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, 6)
    one_hot = np.eye(4)[labels]
    probabilities = scipy.special.softmax(rng.standard_normal((6, 4)), -1)
    logits = f64(values, "logits")
    expected_per_example = _reference_cross_entropy(values, one_hot)
    np.testing.assert_allclose(sg.nn.softmax_cross_entropy(logits, labels).eval(), expected_per_example.mean())
    np.testing.assert_allclose(sg.nn.softmax_cross_entropy(logits, labels, "none").eval(), expected_per_example)
    np.testing.assert_allclose(sg.nn.softmax_cross_entropy(logits, one_hot, "sum").eval(), expected_per_example.sum())
    np.testing.assert_allclose(sg.nn.softmax_cross_entropy(logits, probabilities, "none").eval(),
                               _reference_cross_entropy(values, probabilities))
    targets = f64(probabilities, "targets")
    check_grads(sg.nn.softmax_cross_entropy(logits, labels), logits)
    check_grads(sg.nn.softmax_cross_entropy(logits, targets), [logits, targets])
    gradient = sg.grad(sg.nn.softmax_cross_entropy(logits, labels, "sum"), logits).eval()
    np.testing.assert_allclose(gradient, scipy.special.softmax(values, -1) - one_hot, rtol=1e-12)


def test_cross_entropy_errors():
    logits = sg.placeholder((None, 3), name="logits")
    with pytest.raises(sg.ShapeError, match="labels"):
        sg.nn.softmax_cross_entropy(logits, sg.placeholder((None, 2), "int64"))
    with pytest.raises(ValueError, match="reduction"):
        sg.nn.softmax_cross_entropy(logits, sg.placeholder((None,), "int64"), reduction="avg")
    labels = sg.placeholder((None,), "int64", name="labels")
    loss = sg.nn.softmax_cross_entropy(logits, labels)
    with pytest.raises(sg.EvaluationError, match="label 3 is outside"):
        loss.eval({logits: np.zeros((2, 3), np.float32), labels: np.array([0, 3])})


def test_sigmoid_cross_entropy_mse_mae():
    z, t = rng.standard_normal(7) * 4, rng.uniform(0, 1, 7)
    logits = f64(z)
    sigma = 1 / (1 + np.exp(-z))
    expected = -(t * np.log(sigma) + (1 - t) * np.log(1 - sigma))
    np.testing.assert_allclose(sg.nn.sigmoid_cross_entropy(logits, t, "none").eval(), expected, rtol=1e-10)
    np.testing.assert_allclose(sg.grad(sg.nn.sigmoid_cross_entropy(logits, t, "sum"), logits).eval(), sigma - t)
    p = rng.standard_normal(7)
    np.testing.assert_allclose(sg.nn.mse(f64(p), t).eval(), np.mean((p - t) ** 2))
    np.testing.assert_allclose(sg.nn.mae(f64(p), t, "sum").eval(), np.sum(np.abs(p - t)))


def test_penalties_and_their_gradients():
    w1, w2 = f64(rng.standard_normal((3, 2))), f64(rng.standard_normal(4))
    l2 = sg.nn.l2_penalty([w1, w2], scale=0.1)
    np.testing.assert_allclose(l2.eval(), 0.05 * ((w1.value**2).sum() + (w2.value**2).sum()))
    np.testing.assert_allclose(sg.grad(l2, w1).eval(), 0.1 * w1.value)
    l1 = sg.nn.l1_penalty([w1, w2], scale=0.3)
    np.testing.assert_allclose(l1.eval(), 0.3 * (np.abs(w1.value).sum() + np.abs(w2.value).sum()))
    np.testing.assert_allclose(sg.grad(l1, w2).eval(), 0.3 * np.sign(w2.value))


def test_activations_against_numpy():
    values = np.array([-3.0, -0.5, 0.25, 2.0])
    x = f64(values)
    np.testing.assert_allclose(sg.nn.leaky_relu(x, 0.1).eval(), np.where(values > 0, values, 0.1 * values))
    np.testing.assert_allclose(sg.nn.elu(x, 2.0).eval(), np.where(values > 0, values, 2.0 * np.expm1(values)))
    assert np.isfinite(sg.nn.elu(f64([1e4])).eval()).all()
    np.testing.assert_allclose(sg.nn.maxout(x, 2).eval(), [-0.5, 2.0])
    for node in (sg.nn.leaky_relu(x, 0.1), sg.nn.elu(x), sg.nn.maxout(x, 2)):
        check_grads(sg.sum(sg.sin(node)), x)


def test_prelu_learns_its_slope_per_channel():
    values = rng.standard_normal((5, 3))
    x = f64(values)
    alpha = f64([0.1, 0.2, 0.3], "alpha")
    y = sg.nn.prelu(x, alpha)
    np.testing.assert_allclose(y.eval(), np.where(values > 0, values, values * [0.1, 0.2, 0.3]))
    np.testing.assert_allclose(sg.grad(sg.sum(y), alpha).eval(), np.where(values > 0, 0, values).sum(0))
    check_grads(sg.sum(sg.square(y)), [x, alpha])


def test_maxout_on_unknown_batch_and_errors():
    x = sg.placeholder((None, 6), "float64", name="x")
    values = rng.standard_normal((4, 6))
    np.testing.assert_allclose(sg.nn.maxout(x, 3).eval({x: values}), values.reshape(4, 2, 3).max(-1))
    with pytest.raises(sg.ShapeError, match="divisible"):
        sg.nn.maxout(x, 4)
