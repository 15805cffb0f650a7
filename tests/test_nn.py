"""sg.nn: softmax family, fused losses, activations and penalties against NumPy/SciPy, stability, gradients."""

import warnings

import numpy as np
import pytest
import scipy.special

import symgraph as sg
from symgraph.graph import toposort
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


# -- size-0 inputs: every op of symgraph/ops/{elementwise,reduce,indexing,nn,conv} and the sg.nn compositions --------

EMPTY_SHAPES = [(0,), (2, 0), (0, 3)]
UNARY_REFERENCES = {
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp, "log": np.log, "log1p": np.log1p,
    "expm1": np.expm1, "sqrt": np.sqrt, "square": np.square, "reciprocal": np.reciprocal, "sin": np.sin,
    "cos": np.cos, "tanh": np.tanh, "sigmoid": scipy.special.expit, "relu": lambda v: np.maximum(v, 0),
    "softplus": lambda v: np.logaddexp(v, 0), "floor": np.floor, "ceil": np.ceil, "stop_gradient": np.array,
    "tan": np.tan, "sinh": np.sinh, "cosh": np.cosh, "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan,
    "arcsinh": np.arcsinh, "arccosh": np.arccosh, "arctanh": np.arctanh, "exp2": np.exp2, "log2": np.log2,
    "log10": np.log10, "cbrt": np.cbrt, "rsqrt": lambda v: 1 / np.sqrt(v), "logit": scipy.special.logit,
    "erf": scipy.special.erf, "erfc": scipy.special.erfc, "isnan": np.isnan, "isinf": np.isinf,
    "isfinite": np.isfinite,
}
BINARY_REFERENCES = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide, "pow": np.power,
    "maximum": np.maximum, "minimum": np.minimum, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal, "equal": np.equal, "not_equal": np.not_equal,
    "arctan2": np.arctan2, "hypot": np.hypot, "logaddexp": np.logaddexp, "mod": np.mod, "fmod": np.fmod,
}


def assert_empty_result(node, expected, feed=None):
    """node evaluates to ``expected`` (shape, dtype, values), without a NumPy warning, and its gradients are zeros."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = node.eval(feed)
        assert value.shape == np.shape(expected) and value.dtype == np.asarray(expected).dtype
        np.testing.assert_array_equal(value, expected)
        leaves = [n for n in toposort([node]) if isinstance(n, sg.graph.Variable) and n.dtype.kind == "f"]
        if node.dtype.kind == "f" and leaves:
            for leaf, gradient in zip(leaves, sg.evaluate(sg.grad(sg.sum(node), leaves), feed)):
                np.testing.assert_array_equal(gradient, np.zeros(leaf.shape))


@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY_REFERENCES))
def test_unary_ops_on_empty_arrays(name, shape):
    x = f64(np.zeros(shape))
    assert_empty_result(getattr(sg.ops, name)(x), UNARY_REFERENCES[name](np.zeros(shape)))


@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY_REFERENCES))
def test_binary_ops_where_and_cast_on_empty_arrays(name, shape):
    a, b = f64(np.zeros(shape)), f64(np.ones(shape[-1:]))  # broadcasting an empty array against a row
    assert_empty_result(getattr(sg.ops, name)(a, b), BINARY_REFERENCES[name](np.zeros(shape), np.ones(shape[-1:])))
    assert_empty_result(sg.where(a > 0, a, b), np.zeros(shape))
    assert_empty_result(sg.clip(a, b, 2.0), np.zeros(shape))
    assert_empty_result(sg.cast(a, "float32"), np.zeros(shape, np.float32))


@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
@pytest.mark.parametrize("axis", [None, 0, -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_on_empty_arrays(shape, axis, keepdims):
    """sum, prod and mean give NumPy's values (mean: NaN, without NumPy's warning); max, min, argmax and argmin
    over an empty axis are undefined (NumPy refuses them too): an EvaluationError naming the node."""
    values = np.zeros(shape)
    x = f64(values)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected_mean = np.mean(values, axis=axis, keepdims=keepdims)
    assert_empty_result(sg.sum(x, axis, keepdims), np.sum(values, axis=axis, keepdims=keepdims))
    assert_empty_result(sg.prod(x, axis, keepdims), np.prod(values, axis=axis, keepdims=keepdims))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(sg.mean(x, axis, keepdims).eval(), expected_mean)
    reduces_an_empty_axis = 0 in (shape if axis is None else (shape[axis],))
    for build, reference in ((sg.max, np.max), (sg.min, np.min), (sg.argmax, np.argmax), (sg.argmin, np.argmin)):
        node = build(x, axis, keepdims=keepdims)
        if reduces_an_empty_axis:
            with pytest.raises(sg.EvaluationError, match=f"{build.__name__} node .* over an empty axis is undefined"):
                node.eval()
        else:
            expected = reference(values, axis=axis, keepdims=keepdims)
            assert_empty_result(node, expected.astype(np.int64) if build in (sg.argmax, sg.argmin) else expected)


@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
def test_softmax_family_on_empty_arrays(shape):
    """Empty results, as NumPy-style ops give (scipy's max-shift used to refuse them); logsumexp over an empty
    axis is log(0) = -inf, as NumPy's log(sum(exp(x)))."""
    values = np.zeros(shape)
    x = f64(values)
    assert_empty_result(sg.nn.softmax(x), values)
    assert_empty_result(sg.nn.log_softmax(x, 0), values)
    with np.errstate(divide="ignore"):
        for axis in (None, 0, -1):
            for keepdims in (False, True):
                expected = np.log(np.sum(np.exp(values), axis=axis, keepdims=keepdims))
                assert_empty_result(sg.nn.logsumexp(x, axis, keepdims), expected)
    targets = f64(values)
    assert_empty_result(sg.nn.softmax_cross_entropy(x, targets, "none"), -np.sum(values, axis=-1))
    if shape[-1]:
        labels = np.zeros(shape[:-1], np.int64)
        assert_empty_result(sg.nn.softmax_cross_entropy(x, labels, "none"), np.zeros(shape[:-1]))
    else:
        with pytest.raises(sg.ShapeError, match="no classes"):
            sg.nn.softmax_cross_entropy(x, np.zeros(shape[:-1], np.int64))


@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
def test_nn_compositions_on_empty_arrays(shape):
    values = np.zeros(shape)
    x, targets = f64(values), f64(values)
    for node in (sg.nn.elu(x), sg.nn.leaky_relu(x), sg.nn.prelu(x, f64(0.1)), sg.nn.dropout(x, 0.5, seed=0)):
        assert_empty_result(node, values)
    for loss in (sg.nn.mse, sg.nn.mae, sg.nn.sigmoid_cross_entropy):
        assert_empty_result(loss(x, targets, "none"), values)
        assert_empty_result(loss(x, targets, "sum"), np.float64(0.0))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert np.isnan(loss(x, targets).eval())  # the mean of no losses, as torch.nn.functional.mse_loss
    assert_empty_result(sg.nn.l2_penalty([x]), np.float64(0.0))
    assert_empty_result(sg.nn.l1_penalty([x]), np.float64(0.0))
    assert_empty_result(sg.nn.maxout(f64(np.zeros((0,) + shape[1:-1] + (4,))), 2), np.zeros((0,) + shape[1:-1] + (2,)))


@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
def test_indexing_ops_on_empty_arrays(shape):
    values = np.zeros(shape)
    x = f64(values)
    no_rows = np.zeros(0, np.int64)
    assert_empty_result(x[..., ::2], values[..., ::2])
    assert_empty_result(x[no_rows], values[no_rows])
    assert_empty_result(sg.concatenate([x, x], 0), np.concatenate([values, values]))
    assert_empty_result(sg.stack([x, x], -1), np.stack([values, values], -1))
    assert_empty_result(sg.ops.zeros_like(x), values)
    assert_empty_result(sg.ops.one_hot(np.zeros(shape, np.int64), 3), np.zeros(shape + (3,), np.float32))
    full = f64(np.arange(6.0))
    assert_empty_result(full[no_rows], np.zeros(0))  # an empty index of a full array: gradient zeros


@pytest.mark.parametrize("shape", [(0, 2, 4, 4), (2, 0, 4, 4)], ids=str)
def test_pooling_on_empty_batches_and_channels(shape):
    x = f64(np.zeros(shape))
    expected = np.zeros(shape[:2] + (2, 2))
    assert_empty_result(sg.nn.max_pool2d(x, 2), expected)
    assert_empty_result(sg.nn.avg_pool2d(x, 2), expected)
    assert_empty_result(sg.nn.conv2d(x, f64(np.zeros((3, shape[1], 2, 2)))), np.zeros((shape[0], 3, 3, 3)))
