"""sg.nn and op-argument mistakes that used to give silent wrong values or raw NumPy/Python errors: batch_norm on one
value per channel, losses that broadcast predictions against targets, dropout/batch_norm arguments, cast(x, None),
non-bool keepdims. Each error names what was wrong, the node and the line of this file that built it.
"""

import re
import warnings

import numpy as np
import pytest

import symgraph as sg

HERE = re.escape(__file__)


def line_of(message: str) -> bool:
    return re.search(HERE + r":\d+", message) is not None


def statistics(channels=3, dtype="float64"):
    return (sg.variable(np.zeros(channels, dtype), trainable=False),
            sg.variable(np.ones(channels, dtype), trainable=False))


def batch_norm(x, stats, **kwargs):
    channels = stats[0].shape[0]
    return sg.nn.batch_norm(x, np.ones(channels), np.zeros(channels), *stats, **kwargs)


# -- batch_norm -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1)])
def test_batch_norm_refuses_one_value_per_channel_when_the_shape_says_so(shape):
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        torch.nn.functional.batch_norm(torch.ones(shape), torch.zeros(3), torch.ones(3), training=True)
    x = sg.placeholder(shape, "float64", name="x")
    with pytest.raises(sg.ShapeError, match="more than 1 value per channel") as caught:
        batch_norm(x, statistics())
    message = str(caught.value)
    assert "placeholder node 'x'" in message and line_of(message) and format(shape).replace(" ", "") in \
        message.replace(" ", "")
    batch_norm(x, statistics(), training=False)  # inference on one example is fine


def test_batch_norm_refuses_one_value_per_channel_at_run_time_and_keeps_its_statistics():
    x = sg.placeholder((None, 3), "float64", name="x")
    stats = statistics()
    step = sg.function([x], batch_norm(x, stats), backend="numpy")
    with pytest.raises(sg.EvaluationError, match="more than 1 value per channel") as caught:
        step(np.ones((1, 3)))
    assert "values_per_channel node" in str(caught.value) and line_of(str(caught.value))
    np.testing.assert_array_equal(stats[1].value, np.ones(3))  # was NaN
    step(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))
    np.testing.assert_allclose(stats[1].value, 0.9 + 0.1 * np.array([2.0, 0.0, 2.0]))


def test_batch_norm_with_a_flag_refuses_one_value_only_in_training_mode():
    torch = pytest.importorskip("torch")
    x = sg.placeholder((None, 3), "float64", name="x")
    flag = sg.placeholder((), "bool", name="training")
    stats = statistics()
    f = sg.function([x, flag], batch_norm(x, stats, training=flag), backend="numpy")
    one = np.array([[0.5, -1.0, 2.0]])
    expected = torch.nn.functional.batch_norm(torch.tensor(one), torch.zeros(3, dtype=torch.float64),
                                              torch.ones(3, dtype=torch.float64), training=False)
    np.testing.assert_allclose(f(one, np.bool_(False)), expected.numpy(), rtol=1e-12)
    with pytest.raises(sg.EvaluationError, match="more than 1 value per channel"):
        f(one, np.bool_(True))
    np.testing.assert_array_equal(stats[1].value, np.ones(3))


def test_batch_norm_on_an_empty_batch_leaves_the_statistics_alone_as_pytorch():
    torch = pytest.importorskip("torch")
    running_mean, running_var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    out = torch.nn.functional.batch_norm(torch.zeros((0, 3), dtype=torch.float64), running_mean, running_var,
                                         training=True)
    x = sg.placeholder((None, 3), "float64", name="x")
    stats = statistics()
    step = sg.function([x], batch_norm(x, stats), backend="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Mean of empty slice" leaking from NumPy
        result = step(np.zeros((0, 3)))
    assert result.shape == tuple(out.shape)
    np.testing.assert_array_equal(stats[0].value, running_mean.numpy())
    np.testing.assert_array_equal(stats[1].value, running_var.numpy())


@pytest.mark.parametrize("kwargs,message", [
    (dict(training="yes"), r"training must be True, False or a bool scalar node, got str 'yes'"),
    (dict(training=sg.placeholder((), "float32")), r"training must be True, False or a bool scalar node"),
    (dict(momentum="0.1"), r"momentum must be a number, got str '0.1'"),
    (dict(eps=None), r"eps must be a number, got NoneType"),
])
def test_batch_norm_arguments_are_checked(kwargs, message):
    x = sg.placeholder((None, 3), "float64", name="x")
    with pytest.raises(TypeError, match=message) as caught:
        batch_norm(x, statistics(), **kwargs)
    assert "placeholder node 'x'" in str(caught.value) and line_of(str(caught.value))


# -- losses -----------------------------------------------------------------------------------------------------------

LOSSES = [("mse", "predictions"), ("mae", "predictions"), ("sigmoid_cross_entropy", "logits")]


@pytest.mark.parametrize("loss,what", LOSSES)
def test_losses_refuse_predictions_and_targets_of_different_static_shapes(loss, what):
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning, match="different to the input size"):  # PyTorch only warns, then broadcasts
        torch.nn.functional.mse_loss(torch.zeros(4, 1), torch.zeros(4))
    predictions = sg.placeholder((4, 1), "float64", name="p")
    with pytest.raises(sg.ShapeError) as caught:
        getattr(sg.nn, loss)(predictions, np.zeros(4))
    message = str(caught.value)
    assert f"{what} of shape (4, 1) and targets of shape (4,) must have the same shape" in message
    assert "would silently give (4, 4)" in message and "placeholder node 'p'" in message and line_of(message)
    with pytest.raises(sg.ShapeError, match=r"of shape \(3,\) and targets of shape \(1, 3\)"):
        getattr(sg.nn, loss)(np.zeros(3), np.zeros((1, 3)))


@pytest.mark.parametrize("loss,what", LOSSES)
def test_losses_check_unknown_shapes_at_run_time(loss, what):
    predictions = sg.placeholder((None, None), "float64", name="p")
    targets = sg.placeholder((None, 1), "float64", name="t")
    node = getattr(sg.nn, loss)(predictions, targets)
    with pytest.raises(sg.EvaluationError) as caught:
        node.eval({predictions: np.zeros((4, 1)), targets: np.zeros((1, 1))})
    message = str(caught.value)
    assert f"{loss}: {what} of shape (4, 1) and targets of shape (1, 1) must have the same shape" in message
    assert line_of(message)
    with pytest.raises(sg.EvaluationError, match=r"would silently give \(4, 4\)"):
        node.eval({predictions: np.zeros((4, 4)), targets: np.zeros((4, 1))})


def test_losses_with_matching_or_scalar_targets_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p_values, t_values = rng.standard_normal((5, 2)), rng.uniform(0, 1, (5, 2))
    p, t = sg.placeholder((None, 2), "float64", name="p"), sg.placeholder((None, None), "float64", name="t")
    feed = {p: p_values, t: t_values}
    tp, tt = torch.tensor(p_values), torch.tensor(t_values)
    functional = torch.nn.functional
    np.testing.assert_allclose(sg.nn.mse(p, t).eval(feed), functional.mse_loss(tp, tt).item(), rtol=1e-14)
    np.testing.assert_allclose(sg.nn.mae(p, t, "sum").eval(feed), functional.l1_loss(tp, tt, reduction="sum"),
                               rtol=1e-14)
    np.testing.assert_allclose(sg.nn.sigmoid_cross_entropy(p, t, "none").eval(feed),
                               functional.binary_cross_entropy_with_logits(tp, tt, reduction="none").numpy(),
                               rtol=1e-13)
    np.testing.assert_allclose(sg.nn.mse(p, 0.5).eval(feed), np.mean((p_values - 0.5) ** 2), rtol=1e-14)
    np.testing.assert_allclose(sg.nn.mae(p_values, np.float64(0.5), "none").eval(), np.abs(p_values - 0.5))


def test_loss_gradients_flow_to_checked_targets():
    rng = np.random.default_rng(1)
    p, t = sg.placeholder((None, 3), "float64", name="p"), sg.placeholder((None, 3), "float64", name="t")
    p_values, t_values = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    dp, dt = sg.evaluate(sg.grad(sg.nn.mse(p, t, "sum"), [p, t]), {p: p_values, t: t_values})
    np.testing.assert_allclose(dp, 2 * (p_values - t_values), rtol=1e-14)
    np.testing.assert_allclose(dt, -2 * (p_values - t_values), rtol=1e-14)


# -- dropout ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,error,message", [
    (dict(rate="0.5"), TypeError, r"dropout: rate must be a number, got str '0.5'"),
    (dict(rate=True), TypeError, r"dropout: rate must be a number, got bool True"),
    (dict(rate=sg.constant(0.5)), TypeError, r"dropout: rate must be a number, got constant node"),
    (dict(rate=1.0), ValueError, r"dropout: rate must be in \[0, 1\), got 1.0"),
    (dict(rate=0.5, training="False"), TypeError, r"training must be True, False or a bool scalar node"),
    (dict(rate=0.5, seed="7"), TypeError, r"dropout: seed must be an int or None, got str '7'"),
    (dict(rate=0.5, stream=7), TypeError, r"dropout: stream must be a RandomStream or None, got int 7"),
])
def test_dropout_arguments_are_checked(kwargs, error, message):
    x = sg.placeholder((None, 4), name="x")
    with pytest.raises(error, match=message) as caught:
        sg.nn.dropout(x, **kwargs)
    assert "placeholder node 'x'" in str(caught.value) and line_of(str(caught.value))


def test_dropout_accepts_numpy_numbers_and_flags():
    x = sg.placeholder((None, 4), name="x")
    assert sg.nn.dropout(x, np.float32(0.5), training=np.bool_(False)) is x
    assert sg.nn.dropout(x, 0, seed=np.int64(3)) is x
    assert sg.nn.dropout(x, 0.25, seed=np.int64(3)).op.name == "where"


# -- dtype and flag arguments -----------------------------------------------------------------------------------------

def test_cast_and_one_hot_refuse_a_missing_dtype():
    x = sg.placeholder((None, 3), name="x")
    with pytest.raises(sg.DTypeError, match="cast needs a target dtype, got None") as caught:
        sg.cast(x, None)
    assert "placeholder node 'x'" in str(caught.value) and line_of(str(caught.value))
    with pytest.raises(sg.DTypeError, match="cast needs a target dtype"):
        x.astype(None)
    with pytest.raises(sg.DTypeError, match="one_hot needs a dtype, got None"):
        sg.ops.one_hot(sg.placeholder((None,), "int64"), 3, dtype=None)
    assert sg.cast(x, "float64").dtype == np.float64


REDUCTIONS = [sg.sum, sg.mean, sg.max, sg.min, sg.prod, sg.argmax, sg.argmin, sg.nn.logsumexp]


@pytest.mark.parametrize("reduction", REDUCTIONS, ids=lambda r: r.__name__)
@pytest.mark.parametrize("keepdims", ["yes", "False", 1, None])
def test_keepdims_must_be_a_bool(reduction, keepdims):
    x = sg.placeholder((2, 3), name="x")
    with pytest.raises(TypeError, match=r"keepdims must be True or False, got") as caught:
        reduction(x, 0, keepdims=keepdims)
    assert "placeholder node 'x'" in str(caught.value) and line_of(str(caught.value))


@pytest.mark.parametrize("reduction", REDUCTIONS, ids=lambda r: r.__name__)
def test_keepdims_accepts_python_and_numpy_bools(reduction):
    x = sg.placeholder((2, 3), name="x")
    assert reduction(x, 0, keepdims=np.bool_(True)).shape == (1, 3)
    assert reduction(x, 0, keepdims=False).shape == (3,)
    assert x.sum(1, keepdims=True).shape == (2, 1)
