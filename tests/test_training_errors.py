"""Argument mistakes in the training pieces (optimizers, schedules, layers, initializers, minibatches, datasets) raise
the documented classes with messages naming the argument, the layer or node, and the caller's line; never a raw
NumPy/Python error from deep inside."""

import re

import numpy as np
import pytest

import symgraph as sg

HERE = re.escape(__file__.rsplit("/", 1)[-1])


# ---------------------------------------------------------------- optimizers and schedules

@pytest.mark.parametrize("make,error,message", [
    (lambda: sg.optim.SGD(None), TypeError, r"SGD: lr must be a number >= 0, a scalar node or a schedule.*None"),
    (lambda: sg.optim.SGD("0.1"), TypeError, r"SGD: lr must be a number.*'0.1'"),
    (lambda: sg.optim.SGD(True), TypeError, r"SGD: lr must be a number"),
    (lambda: sg.optim.SGD(-0.1), ValueError, r"SGD: Invalid learning rate: -0.1 \(must be >= 0\)"),
    (lambda: sg.optim.SGD(float("nan")), ValueError, r"SGD: Invalid learning rate: nan \(must be finite\)"),
    (lambda: sg.optim.SGD(0.1, momentum=1.5), ValueError, r"SGD: Invalid momentum: 1.5 \(must be in \[0, 1\)\)"),
    (lambda: sg.optim.SGD(0.1, momentum=-0.5), ValueError, r"SGD: Invalid momentum: -0.5"),
    (lambda: sg.optim.SGD(0.1, momentum=None), TypeError, r"SGD: momentum must be a real number, got None"),
    (lambda: sg.optim.SGD(0.1, weight_decay=-1e-4), ValueError, r"SGD: Invalid weight_decay: -0.0001 \(must be >= 0"),
    (lambda: sg.optim.SGD(0.1, nesterov=True), ValueError, r"SGD: Nesterov momentum requires a momentum > 0"),
    (lambda: sg.optim.SGD(0.1, momentum=0.9, nesterov="yes"), TypeError, r"SGD: nesterov must be True or False"),
    (lambda: sg.optim.Adam(beta1=1.0), ValueError, r"Adam: Invalid beta1: 1.0 \(must be in \[0, 1\)\)"),
    (lambda: sg.optim.Adam(beta2=-0.1), ValueError, r"Adam: Invalid beta2: -0.1"),
    (lambda: sg.optim.Adam(eps=-1e-8), ValueError, r"Adam: Invalid eps: -1e-08 \(must be >= 0\)"),
    (lambda: sg.optim.Adam(lr=-1), ValueError, r"Adam: Invalid learning rate: -1.0"),
    (lambda: sg.optim.RMSProp(rho=1.0), ValueError, r"RMSProp: Invalid rho: 1.0 \(must be in \[0, 1\)\)"),
    (lambda: sg.optim.RMSProp(eps="small"), TypeError, r"RMSProp: eps must be a real number, got 'small'"),
    (lambda: sg.optim.exponential_decay(-1.0, 0.1), ValueError, r"exponential_decay: Invalid lr0: -1.0"),
    (lambda: sg.optim.inverse_time_decay(0.1, -0.5), ValueError, r"inverse_time_decay: Invalid k: -0.5"),
    (lambda: sg.optim.step_decay(0.1, 0.5, 0), ValueError, r"step_decay: every must be a positive int, got 0"),
    (lambda: sg.optim.step_decay(0.1, 0.5, 2.5), TypeError, r"step_decay: every must be a positive int, got 2.5"),
    (lambda: sg.optim.step_decay(0.1, None, 2), TypeError, r"step_decay: factor must be a real number, got None"),
])
def test_optimizer_and_schedule_arguments_are_checked(make, error, message):
    with pytest.raises(error, match=message) as caught:
        make()
    assert re.search(HERE + r":\d+", str(caught.value)), str(caught.value)  # the caller's line


def test_learning_rate_nodes_must_be_numeric_scalars():
    with pytest.raises(sg.ShapeError, match=r"SGD: the learning rate must be a scalar, but lr is .*'rates'"):
        sg.optim.SGD(sg.constant(np.array([0.1, 0.2]), name="rates"))
    with pytest.raises(sg.DTypeError, match=r"SGD: the learning rate must be numeric.*bool"):
        sg.optim.SGD(sg.constant(True))
    w = sg.variable(np.ones(2), name="w")
    cost = sg.sum(sg.square(w))
    bad_schedule = sg.optim.SGD(lambda step: sg.broadcast_to(sg.cast(step, "float64"), (2,)))
    with pytest.raises(sg.ShapeError, match=r"but the schedule's learning rate is broadcast_to node"):
        bad_schedule.updates(cost, [w])


def test_a_learning_rate_node_is_used_as_given():
    rate = sg.variable(np.float64(0.25), name="rate", trainable=False)
    w = sg.variable(np.array([1.0, -2.0]), name="w")
    cost = sg.sum(sg.square(w))
    step = sg.function([], cost, updates=sg.optim.SGD(rate).updates(cost, [w]))
    step()
    np.testing.assert_allclose(w.value, [0.5, -1.0])  # w - 0.25 * 2w
    rate.assign(np.float64(0.5))
    step()
    np.testing.assert_allclose(w.value, [0.0, 0.0])


def test_updates_checks_its_params():
    w = sg.variable(np.ones(2), name="w")
    cost = sg.sum(sg.square(w))
    opt = sg.optim.SGD(0.1)
    with pytest.raises(TypeError, match=r"SGD.updates: params must be a list of variables"):
        opt.updates(cost, w)
    with pytest.raises(TypeError, match=r"optimizers update variables; got mul node"):
        opt.updates(cost, [w * 2])
    with pytest.raises(ValueError, match=r"variable node 'w' .* appears twice in params"):
        opt.updates(cost, [w, w])
