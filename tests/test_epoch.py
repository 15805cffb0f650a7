"""Function.epoch: a whole epoch of minibatch steps in one call, bitwise what a loop of calls gives."""

import numpy as np
import pytest

import symgraph as sg

rng = np.random.default_rng(0)


def _regression(backend="numpy", batch_dim=None):
    """A small linear model with an SGD step: returns (step, W, data)."""
    x = sg.placeholder((batch_dim, 3), "float64", name="x")
    y = sg.placeholder((batch_dim,), "float64", name="y")
    W = sg.variable(np.zeros(3), name="W")
    loss = sg.mean(sg.square(x @ W - y), name="loss")
    step = sg.function([x, y], loss, updates={W: W - 0.1 * sg.grad(loss, W)}, backend=backend)
    X = rng.standard_normal((50, 3))
    data = [X, X @ np.array([1.0, -2.0, 0.5])]
    return step, W, data


class Bar:
    """What Function.epoch needs of a progress bar: update(steps), and set_postfix when present."""

    def __init__(self):
        self.updates, self.postfix = [], None

    def update(self, steps):
        self.updates.append(steps)

    def set_postfix(self, refresh=True, **values):
        self.postfix = values


def test_an_epoch_equals_a_loop_of_calls_over_minibatches():
    step, W, data = _regression()
    losses = step.epoch(data, 8, rng=np.random.default_rng(3))
    after_epoch = W.value.copy()
    W.assign(np.zeros(3))
    looped = [step(*batch) for batch in sg.minibatches(data, 8, np.random.default_rng(3))]
    assert losses.shape == (7,)  # 50 examples: six batches of 8 and one of 2
    np.testing.assert_array_equal(losses, np.array(looped))
    np.testing.assert_array_equal(after_epoch, W.value)
    assert losses[-1] < losses[0]


def test_several_epochs_train_the_model():
    step, W, data = _regression()
    generator = np.random.default_rng(1)
    for _ in range(30):
        losses = step.epoch(data, 10, rng=generator)
    assert losses.mean() < 1e-6
    np.testing.assert_allclose(W.value, [1.0, -2.0, 0.5], atol=1e-3)


def test_outputs_per_step_and_ragged_last_batch():
    x = sg.placeholder((None, 2), "float64", name="x")
    f = sg.function([x], [sg.sum(x), x * 2.0], backend="numpy")
    data = [np.arange(10.0).reshape(5, 2)]
    totals, doubled = f.epoch(data, 2, shuffle=False)
    np.testing.assert_array_equal(totals, [0 + 1 + 2 + 3, 4 + 5 + 6 + 7, 8 + 9])
    assert isinstance(doubled, list) and [d.shape for d in doubled] == [(2, 2), (2, 2), (1, 2)]
    np.testing.assert_array_equal(np.concatenate(doubled), data[0] * 2)
    totals, doubled = f.epoch(data, 2, shuffle=False, drop_last=True)
    assert doubled.shape == (2, 2, 2) and totals.shape == (2,)


def test_progress_bar_moves_between_chunks_and_shows_the_loss():
    step, _, data = _regression()
    big = [np.concatenate([data[0]] * 10), np.concatenate([data[1]] * 10)]  # 500 examples: 250 steps of 2
    bar = Bar()
    losses = step.epoch(big, 2, rng=0, progress=bar)
    assert sum(bar.updates) == 250 and 50 <= len(bar.updates) <= 130
    assert float(bar.postfix["value"]) == pytest.approx(losses[-1], rel=1e-3)


def test_progress_true_draws_a_tqdm_bar(capsys):
    pytest.importorskip("tqdm")
    step, _, data = _regression()
    step.epoch(data, 10, rng=0, progress=True)
    assert "5/5" in capsys.readouterr().err


def test_fixed_batch_dimension_takes_only_batches_of_its_size():
    step, W, data = _regression(batch_dim=10)
    assert step.epoch(data, 10, rng=0).shape == (5,)
    with pytest.raises(sg.ShapeError, match="exactly 10 examples.*batches of 8 and a last one of 2"):
        step.epoch(data, 8, rng=0)


def test_bad_arguments_are_refused_before_any_step():
    step, W, data = _regression()
    with pytest.raises(TypeError, match="one array per input, got 1"):
        step.epoch([data[0]], 8)
    with pytest.raises(TypeError, match="must be a list or tuple"):
        step.epoch(data[0], 8)
    with pytest.raises(ValueError, match="different lengths"):
        step.epoch([data[0], data[1][:-1]], 8)
    with pytest.raises(sg.ShapeError, match="per example, got shape"):
        step.epoch([data[0][:, :2], data[1]], 8)
    with pytest.raises(TypeError, match="batch_size must be a positive int"):
        step.epoch(data, 2.0)
    with pytest.raises(ValueError, match="no batches: 50 examples, fewer than batch_size=64"):
        step.epoch(data, 64, drop_last=True)
    with pytest.raises(TypeError, match="progress must be None, True or an object"):
        step.epoch(data, 8, progress="yes")
    with pytest.raises(TypeError, match="Function.epoch: rng"):
        step.epoch(data, 8, rng="seed")
    np.testing.assert_array_equal(W.value, np.zeros(3))  # nothing ran
    x = sg.placeholder((), "float64", name="lr")
    with pytest.raises(sg.ShapeError, match="scalar placeholder cannot be sliced"):
        sg.function([x], x * 2.0, backend="numpy").epoch([np.ones(3)], 1)


def test_a_refused_update_stops_the_epoch_with_the_variables_as_the_last_good_step_left_them():
    x = sg.placeholder((None,), "float64", name="x")
    v = sg.variable(np.zeros(()), name="v")
    bump = sg.function([x], sg.sum(x), updates={v: v + sg.sum(x)}, backend="numpy")
    calls = []
    original = bump._program.compute

    def failing_on_third(feeds):
        calls.append(1)
        values = original(feeds)
        return values if len(calls) < 3 else [values[0], np.array([1.0, 2.0])]  # a wrong-shape update value

    bump._program.compute = failing_on_third
    with pytest.raises(sg.ShapeError, match="update of variable node 'v'"):
        bump.epoch([np.ones(10)], 2, shuffle=False)
    assert v.value == 4.0  # two steps of 2 ones each, then the refused one changed nothing


def test_an_epoch_on_the_numba_backend_equals_its_loop_of_calls():
    pytest.importorskip("numba")
    step, W, data = _regression(backend="numba")
    losses = step.epoch(data, 8, rng=np.random.default_rng(5))
    after_epoch = W.value.copy()
    W.assign(np.zeros(3))
    looped = [step(*batch) for batch in sg.minibatches(data, 8, np.random.default_rng(5))]
    np.testing.assert_array_equal(losses, np.array(looped))
    np.testing.assert_array_equal(after_epoch, W.value)
    reference, W_reference, _ = _regression(backend="numpy")
    np.testing.assert_allclose(reference.epoch(data, 8, rng=np.random.default_rng(5)), losses, rtol=1e-12)
