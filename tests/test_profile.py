"""sg.function(..., profile=True): seconds and calls per kernel, on both backends."""

import numpy as np
import pytest

import symgraph as sg


def training_step(backend, profile):
    x = sg.placeholder((None, 8), name="x")
    labels = sg.placeholder((None,), "int64", name="labels")
    h = sg.layers.dense(x, 16, activation=sg.relu, name="h1", rng=0)
    loss = sg.nn.softmax_cross_entropy(sg.layers.dense(h, 3, name="out", rng=1), labels)
    updates = sg.optim.SGD(0.1).updates(loss, sg.trainable_variables(loss))
    return sg.function([x, labels], loss, updates=updates, backend=backend, profile=profile)


DATA = (np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32), np.array([0, 1, 2, 1, 0]))


def test_numpy_profile_times_every_node_of_every_call():
    f = training_step("numpy", profile=True)
    for _ in range(3):
        f(*DATA)
    profile = f.profile
    assert profile.backend == "numpy" and profile.calls == 3
    assert all(k.calls == 3 and k.seconds >= 0 for k in profile.kernels)
    labels = [k.label for k in profile.kernels]
    assert sum(label.startswith("matmul ") for label in labels) == 5  # 2 forward; gradients of out_W, h1, h1_W
    assert all("test_profile.py:" in label for label in labels)  # each names the user's line
    assert [k.seconds for k in profile.kernels] == sorted((k.seconds for k in profile.kernels), reverse=True)
    assert profile.total_seconds == pytest.approx(sum(k.seconds for k in profile.kernels))
    text = str(profile)
    assert text.startswith("numpy profile: 3 call(s)") and "us/call" in text and labels[0] in text


def test_numba_profile_times_each_kernel_after_the_compiling_call():
    plain, profiled = training_step("numba", profile=False), training_step("numba", profile=True)
    for _ in range(4):
        np.testing.assert_array_equal(profiled(*DATA), plain(*DATA))  # timing changes no result
    profile = profiled.profile
    assert plain.profile is None
    assert profile.backend == "numba" and profile.calls == 3  # the first call compiled: not timed
    stages = profiled.source.count("\ndef stage_")
    assert len(profile.kernels) == stages > plain.source.count("\ndef stage_")  # one kernel per stage
    assert all(k.calls == 3 for k in profile.kernels)
    labels = [k.label for k in profile.kernels]
    assert any(label.startswith("matmul ") and "grad of h1_W" in label for label in labels)
    assert any(label.startswith("loop over ") for label in labels)
    # only the profiled driver times its stages (chunked loops' pool times itself in both)
    assert "_local.times = times" in profiled.source and "_local.times" not in plain.source


def test_profile_must_be_a_bool():
    x = sg.placeholder((2,), name="x")
    with pytest.raises(TypeError, match=r"sg.function at .*profile must be True or False"):
        sg.function([x], x * 2, profile="yes", backend="numpy")
