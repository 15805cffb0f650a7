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
    with pytest.raises(sg.ShapeError, match=r"but the schedule's learning rate is broadcast_to node") as caught:
        bad_schedule.updates(cost, [w])
    assert re.search(r", at \S*" + HERE + r":\d+$", str(caught.value)), str(caught.value)  # the line calling updates


def test_a_learning_rate_node_is_used_as_given():
    rate = sg.variable(np.float64(0.25), name="rate", trainable=False)
    w = sg.variable(np.array([1.0, -2.0]), name="w")
    cost = sg.sum(sg.square(w))
    step = sg.function([], cost, updates=sg.optim.SGD(rate).updates(cost, [w]), backend="numpy")
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
    assert set(opt.updates(cost, (p for p in [w]))) == {opt.iterations, w}  # any iterable of variables


# ---------------------------------------------------------------- layers

def _input(shape=(None, 4), dtype="float32"):
    return sg.placeholder(shape, dtype, name="inputs")


@pytest.mark.parametrize("build,error,message", [
    (lambda x: sg.layers.dense(x, -1), ValueError, r"dense layer 'dense': units must be a positive int, got -1"),
    (lambda x: sg.layers.dense(x, 0), ValueError, r"dense layer 'dense': units must be a positive int, got 0"),
    (lambda x: sg.layers.dense(x, 2.5), TypeError, r"units must be a positive int, got 2.5 \(float\)"),
    (lambda x: sg.layers.dense(x, "3"), TypeError, r"units must be a positive int, got '3' \(str\)"),
    (lambda x: sg.layers.dense(x, True), TypeError, r"units must be a positive int, got True \(bool\)"),
    (lambda x: sg.layers.dense(x, 3, activation="relux", name="fc"), ValueError,
     r"dense layer 'fc': unknown activation 'relux'; choose one of relu, sigmoid, tanh, softmax, elu, leaky_relu, "
     r"softplus, linear, None, or pass a callable"),
    (lambda x: sg.layers.dense(x, 3, activation=3), TypeError, r"activation must be a name, a callable or None"),
    (lambda x: sg.layers.dense(x, 3, init="nonsense"), ValueError,
     r"dense layer 'dense': unknown initializer 'nonsense'; choose one of zeros, glorot_uniform"),
    (lambda x: sg.layers.dense(x, 3, init="normal"), ValueError, r"normal takes parameters: pass sg.init.normal"),
    (lambda x: sg.layers.dense(x, 3, init="as_generator"), ValueError, r"unknown initializer 'as_generator'"),
    (lambda x: sg.layers.dense(x, 3, init=0.1), TypeError, r"an initializer is a name or a callable"),
    (lambda x: sg.layers.dense(x, 3, rng="seed"), TypeError, r"dense layer 'dense': rng must be a seed"),
    (lambda x: sg.layers.dense(x, 3, name=7), TypeError, r"dense layer: name must be a non-empty str or None"),
    (lambda x: sg.layers.dense(sg.placeholder((None, None), name="inputs"), 3), sg.ShapeError,
     r"needs an input with a known last dimension"),
    (lambda x: sg.layers.dense(sg.constant(2.0, name="inputs"), 3), sg.ShapeError,
     r"needs an input with a known last dimension"),
    (lambda x: sg.layers.dense(_input(dtype="int64"), 3), sg.DTypeError,
     r"dense layer 'dense': needs a floating-point input .* got int64"),
])
def test_dense_arguments_are_checked(build, error, message):
    with pytest.raises(error, match=message) as caught:
        build(_input())
    text = str(caught.value)
    assert re.search(HERE + r":\d+", text), text
    if "layer:" not in text:  # a message about an argument of a layer names its input node
        assert "'inputs'" in text or "constant node" in text or "placeholder node" in text, text


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(filters=4, kernel="a"), TypeError, r"conv2d layer 'conv': kernel must be an int or a pair of ints, got 'a'"),
    (dict(filters=4, kernel=(3, 3, 3)), TypeError, r"kernel must be an int or a pair of ints, got \(3, 3, 3\)"),
    (dict(filters=4, kernel=(3, 0)), ValueError, r"kernel must be positive, got \(3, 0\)"),
    (dict(filters=4, kernel=3, stride="2"), TypeError, r"stride must be an int or a pair of ints, got '2'"),
    (dict(filters=4, kernel=3, stride=0), ValueError, r"stride must be positive, got 0"),
    (dict(filters=0, kernel=3), ValueError, r"filters must be a positive int, got 0"),
    (dict(filters=4.0, kernel=3), TypeError, r"filters must be a positive int, got 4.0"),
    (dict(filters=4, kernel=3, activation="gelu"), ValueError, r"unknown activation 'gelu'"),
])
def test_conv2d_layer_arguments_are_checked(kwargs, error, message):
    images = sg.placeholder((None, 1, 8, 8), name="images")
    with pytest.raises(error, match=message) as caught:
        sg.layers.conv2d(images, **kwargs)
    assert "placeholder node 'images'" in str(caught.value) and re.search(HERE + r":\d+", str(caught.value))


def test_conv2d_and_batch_norm_layers_check_their_input():
    with pytest.raises(sg.ShapeError, match=r"conv2d layer 'c1': needs NCHW input with known channels"):
        sg.layers.conv2d(_input(), 4, 3, name="c1")
    with pytest.raises(sg.DTypeError, match=r"conv2d layer 'conv': needs a floating-point input"):
        sg.layers.conv2d(sg.placeholder((None, 1, 8, 8), "int32"), 4, 3)
    with pytest.raises(sg.ShapeError, match=r"batch_norm layer 'batch_norm': axis 2 is out of range for a 2-D input"):
        sg.layers.batch_norm(_input(), axis=2)
    with pytest.raises(TypeError, match=r"batch_norm layer 'batch_norm': axis must be an int, got 'channels'"):
        sg.layers.batch_norm(_input(), axis="channels")


def test_a_rejected_layer_does_not_use_up_a_default_name():
    sg.layers.reset_names()
    x = _input()
    with pytest.raises(ValueError):
        sg.layers.dense(x, 0)
    assert sg.trainable_variables(sg.layers.dense(x, 2))[0].name == "dense/W"


# ---------------------------------------------------------------- initializers

@pytest.mark.parametrize("call,error,message", [
    (lambda: sg.init.glorot_uniform((None, 3)), ValueError,
     r"glorot_uniform: initializers need a static shape, got \(None, 3\)"),
    (lambda: sg.init.he_normal((3, -2)), ValueError, r"he_normal: shape must be a tuple of non-negative ints"),
    (lambda: sg.init.zeros((2.5, 3)), TypeError, r"zeros: shape must be a tuple of non-negative ints.*2.5 is a float"),
    (lambda: sg.init.fan_in_uniform("3x3"), TypeError, r"fan_in_uniform: shape must be a tuple"),
    (lambda: sg.init.glorot_normal((3, 3), rng="seed"), TypeError, r"glorot_normal: rng must be a seed"),
    (lambda: sg.init.glorot_normal((3, 3), rng=-1), ValueError, r"a seed must be a non-negative int, got -1"),
    (lambda: sg.init.glorot_uniform((3, 3), dtype="int64"), sg.DTypeError,
     r"glorot_uniform draws floating-point values, which dtype int64 would truncate"),
    (lambda: sg.init.zeros((3,), dtype="float16"), sg.DTypeError, r"dtype float16 is not supported"),
    (lambda: sg.init.normal(-0.1), ValueError, r"normal: std must be >= 0, got -0.1"),
    (lambda: sg.init.normal("wide"), TypeError, r"normal: std must be a real number, got 'wide'"),
    (lambda: sg.init.uniform(1.0, -1.0), ValueError, r"uniform: low must not exceed high"),
    (lambda: sg.init.uniform(0.0, float("inf")), ValueError, r"uniform: high must be finite"),
    (lambda: sg.init.constant("one"), TypeError, r"constant: value must be a number or a bool"),
    (lambda: sg.init.constant(0.5)((2,), dtype="int64"), sg.DTypeError, r"constant: 0.5 does not fit dtype int64"),
    (lambda: sg.init.constant(2 ** 40)((2,), dtype="int32"), sg.DTypeError, r"out of the range of int32"),
])
def test_initializer_arguments_are_checked(call, error, message):
    with pytest.raises(error, match=message) as caught:
        call()
    if error is not sg.DTypeError or "supported" not in message:
        assert re.search(HERE + r":\d+", str(caught.value)), str(caught.value)


def test_initializers_accept_empty_and_int_shapes():
    assert sg.init.glorot_uniform((0, 0)).shape == (0, 0)  # no division by a zero fan
    assert sg.init.he_normal((0, 3), rng=0).shape == (0, 3)
    assert sg.init.fan_in_uniform(5, rng=0).shape == (5,)
    np.testing.assert_array_equal(sg.init.constant(3)((2,), dtype="float64"), [3.0, 3.0])
    assert np.isnan(sg.init.constant(float("nan"))((2,))).all()


# ---------------------------------------------------------------- minibatches

@pytest.mark.parametrize("call,error,message", [
    (lambda: sg.minibatches([np.zeros(10)], "4"), TypeError,
     r"minibatches: batch_size must be a positive int, got '4'"),
    (lambda: sg.minibatches([np.zeros(10)], 4.0), TypeError, r"batch_size must be a positive int, got 4.0"),
    (lambda: sg.minibatches([np.zeros(10)], 0), ValueError, r"batch_size must be positive, got 0"),
    (lambda: sg.minibatches([], 4), ValueError, r"minibatches: arrays is empty"),
    (lambda: sg.minibatches(iter([np.zeros(3)]), 4), TypeError, r"arrays must be an ndarray or a list or tuple"),
    (lambda: sg.minibatches([np.zeros(10), 3.0], 4), ValueError, r"array 1 is a scalar"),
    (lambda: sg.minibatches([np.zeros(10), np.zeros(9)], 4), ValueError, r"arrays have different lengths: \[10, 9\]"),
    (lambda: sg.minibatches([np.zeros(10)], 4, rng="seed"), TypeError, r"minibatches: rng must be a seed"),
])
def test_minibatches_arguments_are_checked_when_called(call, error, message):
    with pytest.raises(error, match=message) as caught:
        call()  # not only once the first batch is drawn
    assert re.search(HERE + r":\d+", str(caught.value)), str(caught.value)


# ---------------------------------------------------------------- datasets

@pytest.mark.parametrize("kwargs,error,message", [
    (dict(path=123), TypeError, r"path must be a directory \(a str or os.PathLike\) or None, got 123 \(int\)"),
    (dict(split="validation"), ValueError, r"split must be 'train' or 'test', got 'validation'"),
    (dict(split=["train"]), TypeError, r"split must be 'train' or 'test', got \['train'\] \(list\)"),
    (dict(split=0), TypeError, r"split must be 'train' or 'test', got 0 \(int\)"),
    (dict(download="no"), TypeError, r"download must be True or False, got 'no'"),
    (dict(mirrors=[1, 2]), TypeError, r"mirrors must be a URL or a list of URLs"),
])
def test_load_mnist_arguments_are_checked(kwargs, error, message, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SYMGRAPH_DATA", raising=False)
    with pytest.raises(error, match=message) as caught:
        sg.datasets.load_mnist(**kwargs)
    assert re.search(HERE + r":\d+", str(caught.value)), str(caught.value)
    assert not (tmp_path / ".cache").exists()
