"""Learning-rate schedules against torch.optim.lr_scheduler, update by update: the same learning rate at every step,
hence the same parameter trajectory for symgraph's optimizers and torch's on a small float64 problem."""

import math

import numpy as np
import pytest

import symgraph as sg

torch = pytest.importorskip("torch")

TARGET = np.array([1.0, -2.0, 0.5])
SCALE = np.array([1.0, 3.0, 0.5])
START = np.array([0.3, 0.2, -0.1])
STEPS = 10

# (symgraph schedule, torch scheduler factory): the pairs the README documents as equal
SCHEDULES = {
    "exponential_decay": (lambda: sg.optim.exponential_decay(0.1, 0.3),
                          lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=math.exp(-0.3))),
    "inverse_time_decay": (lambda: sg.optim.inverse_time_decay(0.1, 0.4),
                           lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1 / (1 + 0.4 * k))),
    "step_decay": (lambda: sg.optim.step_decay(0.1, 0.5, 3),
                   lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)),
}
OPTIMIZERS = {  # (symgraph optimizer from a learning rate, torch optimizer from params and lr0)
    "sgd": (lambda lr: sg.optim.SGD(lr), lambda params: torch.optim.SGD(params, lr=0.1)),
    "sgd-momentum": (lambda lr: sg.optim.SGD(lr, momentum=0.9),
                     lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9)),
    "adam": (lambda lr: sg.optim.Adam(lr), lambda params: torch.optim.Adam(params, lr=0.1)),
    "rmsprop": (lambda lr: sg.optim.RMSProp(lr, rho=0.9),
                lambda params: torch.optim.RMSprop(params, lr=0.1, alpha=0.9)),
}


def symgraph_trajectory(optimizer):
    w = sg.variable(START.copy(), name="w")
    cost = sg.sum(sg.square(w - TARGET) * SCALE)
    step = sg.function([], cost, updates=optimizer.updates(cost, [w]), backend="numpy")
    trajectory = []
    for _ in range(STEPS):
        step()
        trajectory.append(w.value.copy())
    return np.array(trajectory)


def torch_trajectory(make_optimizer, make_scheduler):
    """torch's parameter after each update, and the learning rate each update used."""
    w = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([w])
    scheduler = make_scheduler(optimizer)
    target, scale = torch.from_numpy(TARGET), torch.from_numpy(SCALE)
    trajectory, rates = [], []
    for _ in range(STEPS):
        optimizer.zero_grad()
        ((w - target) ** 2 * scale).sum().backward()
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
        trajectory.append(w.detach().numpy().copy())
    return np.array(trajectory), rates


@pytest.mark.parametrize("schedule_name", sorted(SCHEDULES))
def test_schedule_gives_torch_learning_rate_at_every_update(schedule_name):
    make_schedule, make_scheduler = SCHEDULES[schedule_name]
    _, torch_rates = torch_trajectory(OPTIMIZERS["sgd"][1], make_scheduler)
    schedule = make_schedule()
    ours = [float(schedule(sg.constant(np.int64(t))).eval()) for t in range(1, STEPS + 1)]  # t: 1 at the first update
    assert ours[0] == 0.1  # the first update uses lr0
    np.testing.assert_allclose(ours, torch_rates, rtol=1e-13)


@pytest.mark.parametrize("optimizer_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("schedule_name", sorted(SCHEDULES))
def test_trajectory_under_a_schedule_matches_torch(schedule_name, optimizer_name):
    make_schedule, make_scheduler = SCHEDULES[schedule_name]
    make_ours, make_theirs = OPTIMIZERS[optimizer_name]
    theirs, _ = torch_trajectory(make_theirs, make_scheduler)
    ours = symgraph_trajectory(make_ours(make_schedule()))
    assert not np.allclose(theirs[0], theirs[-1])  # the problem moves: a wrong rate would show
    np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-13)


def test_step_decay_holds_lr0_for_the_first_every_updates():
    """The issue's case: StepLR(step_size=3, gamma=0.5) from lr 1 gives 1, 1, 1, 0.5, 0.5, 0.5, 0.25."""
    schedule = sg.optim.step_decay(1.0, 0.5, 3)
    rates = [float(schedule(sg.constant(np.int64(t))).eval()) for t in range(1, 8)]
    assert rates == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]


def test_schedule_on_float32_parameters_casts_the_rate():
    w = sg.variable(np.float32([1.0, 2.0]), name="w32")
    cost = sg.sum(sg.square(w))
    updates = sg.optim.SGD(sg.optim.exponential_decay(0.1, 0.5)).updates(cost, [w])
    sg.function([], cost, updates=updates, backend="numpy")()
    assert w.value.dtype == np.float32
    np.testing.assert_allclose(w.value, np.float32([1.0, 2.0]) * (1 - 2 * 0.1), rtol=1e-6)  # w - lr0 * 2w
