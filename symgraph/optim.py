"""Optimizers as graph builders: ``opt.updates(cost, params)`` returns the update dict for ``sg.function``.

Every optimizer keeps its state (momenta, moment estimates, its step counter) in variables it creates, so the whole
training step is one graph. Learning rates may be numbers, nodes, or callables of the step-counter node (schedules).
Update rules, schedules and hyperparameter checks follow PyTorch's definitions so that results can be compared with it.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from symgraph.autodiff import grad
from symgraph.errors import DTypeError, ShapeError, SymgraphError
from symgraph.graph import Node, Placeholder, Variable, as_node, toposort, user_site, variable
from symgraph.ops import cast, div, exp, floor, pow, size, sqrt, square
from symgraph.ops.collective import mean_over_processes

REAL_TYPES = (int, float, np.integer, np.floating)


def _real(owner: str, what: str, value) -> float:
    """``value`` as a finite float; TypeError/ValueError naming ``owner`` and ``what`` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, REAL_TYPES):
        raise TypeError(f"{owner}: {what} must be a real number, got {value!r} ({type(value).__name__}), "
                        f"at {user_site()}")
    try:
        number = float(value)
    except OverflowError:  # a Python int beyond the float range
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{owner}: Invalid {what}: {value!r:.60} (must be finite), at {user_site()}")
    return number


def _in_range(owner: str, what: str, value, low: float = 0.0, high: float | None = None) -> float:
    """A finite real in [low, high) (or [low, inf) when ``high`` is None), as torch.optim checks hyperparameters."""
    value = _real(owner, what, value)
    if value < low or (high is not None and value >= high):
        bounds = f"in [{low:g}, {high:g})" if high is not None else f">= {low:g}"
        raise ValueError(f"{owner}: Invalid {what}: {value!r} (must be {bounds}), at {user_site()}")
    return value


def _scalar_lr_node(owner: str, node: Node, source: str) -> Node:
    if node.ndim != 0:
        raise ShapeError(f"{owner}: the learning rate must be a scalar, but {source} is {node.describe()}, "
                         f"at {user_site()}")
    if node.dtype.kind not in "fiu":
        raise DTypeError(f"{owner}: the learning rate must be numeric, but {source} is {node.describe()}, "
                         f"at {user_site()}")
    return node


def _check_lr(owner: str, lr):
    """A learning rate: a number >= 0 (as torch.optim), a scalar numeric node, or a schedule (a callable)."""
    if isinstance(lr, Node):
        return _scalar_lr_node(owner, lr, "lr")
    if callable(lr) and not isinstance(lr, type):
        return lr
    if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, REAL_TYPES):
        raise TypeError(f"{owner}: lr must be a number >= 0, a scalar node or a schedule (a callable of the step "
                        f"counter), got {lr!r} ({type(lr).__name__}), at {user_site()}")
    return _in_range(owner, "learning rate", lr)


class Optimizer:
    """Shared machinery: the step counter, learning-rate resolution and per-parameter state variables."""

    def __init__(self, lr):
        self.lr = _check_lr(type(self).__name__, lr)
        self.iterations = variable(np.int64(0), name="iterations", trainable=False)

    def updates(self, cost: Node, params: Sequence[Variable], allreduce=None, examples=None) -> dict:
        """The update dict of one training step on ``cost``: the step counter, each state variable and parameter.

        ``allreduce``: an mpi4py communicator (``symgraph.distributed.world()``) for data-parallel training. Each
        process's ``cost`` is then the mean over its own part of the global batch, of ``examples`` examples (an
        int, or a scalar node; by default the run-time first dimension of the first batch placeholder the cost
        reads); the gradients are averaged over the global batch in ONE allreduce of all of them packed into one
        buffer (``symgraph.ops.collective.mean_over_processes``), so every process applies the same update, the one
        a single process computes on the whole batch."""
        params = self._check_params(params)
        owner = f"{type(self).__name__}.updates"
        if not isinstance(cost, Node):
            raise TypeError(f"{owner}: the cost must be a scalar node, got {type(cost).__name__} {cost!r:.60}, "
                            f"at {user_site()}")
        count = _local_examples(owner, cost, examples) if allreduce is not None else None
        if allreduce is None and examples is not None:
            raise ValueError(f"{owner}: examples= counts the local batch of a data-parallel step: it needs "
                             f"allreduce= (a communicator), at {user_site()}")
        try:
            gradients = grad(cost, params, disconnected="zero")
        except SymgraphError as error:
            raise type(error)(f"{owner}: {error}") from None
        if allreduce is not None and params:
            try:
                gradients = mean_over_processes(gradients, allreduce, count)
            except TypeError as error:
                raise TypeError(f"{owner}: {error}") from None
        step = self.iterations + 1
        result = {self.iterations: step}
        for param, gradient in zip(params, gradients):
            result.update(self.param_updates(param, gradient, step))
        return result

    def _check_params(self, params) -> list[Variable]:
        owner = type(self).__name__
        unordered_or_not_a_list = (Node, str, bytes, Mapping, set, frozenset, np.ndarray)
        if isinstance(params, unordered_or_not_a_list) or not isinstance(params, Iterable):
            raise TypeError(f"{owner}.updates: params must be a list of variables, got {type(params).__name__} "
                            f"{params!r:.60}, at {user_site()}")
        params, seen = list(params), set()
        for p in params:
            if not isinstance(p, Variable):
                raise TypeError(f"{owner}.updates: optimizers update variables; got "
                                f"{p.describe() if isinstance(p, Node) else repr(p)}, at {user_site()}")
            if p in seen:
                raise ValueError(f"{owner}.updates: {p.describe()} appears twice in params, at {user_site()}")
            seen.add(p)
        return params

    def learning_rate(self, step: Node, param: Variable) -> Node:
        """The learning rate of this step as a node of ``param``'s dtype (a schedule is called on the step)."""
        lr = self.lr(step) if callable(self.lr) and not isinstance(self.lr, Node) else self.lr
        if isinstance(lr, Node):
            _scalar_lr_node(type(self).__name__, lr, "the schedule's learning rate")
        lr = as_node(lr, [param])  # a Python number takes the parameter's dtype
        return cast(lr, param.dtype) if lr.dtype != param.dtype else lr

    def slot(self, param: Variable, what: str) -> Variable:
        """A state variable shaped like ``param`` (a momentum buffer, a moment estimate), starting at zero."""
        return variable(np.zeros(param.shape, param.dtype), name=f"{param.name or 'param'}/{what}", trainable=False)

    def param_updates(self, param: Variable, gradient: Node, step: Node) -> dict:
        raise TypeError(f"{type(self).__name__} must define param_updates")


def _local_examples(owner: str, cost: Node, examples) -> Node:
    """The local batch's example count of a data-parallel step, as a scalar node."""
    if examples is None:
        batches = [n for n in toposort([cost]) if isinstance(n, Placeholder) and n.ndim >= 1]
        if not batches:
            raise ValueError(f"{owner}: with allreduce=, the cost must read a batch placeholder (its first dimension "
                             f"counts the local examples), or examples= must give the count, at {user_site()}")
        return size(batches[0], axis=0)
    if isinstance(examples, Node):
        if examples.ndim != 0 or examples.dtype.kind not in "iuf":
            raise TypeError(f"{owner}: examples must be a scalar numeric node or an int, got {examples.describe()}, "
                            f"at {user_site()}")
        return examples
    if isinstance(examples, (bool, np.bool_)) or not isinstance(examples, (int, np.integer)):
        raise TypeError(f"{owner}: examples must be an int or a scalar node (the local batch's example count), got "
                        f"{type(examples).__name__} {examples!r:.60}, at {user_site()}")
    if examples < 0:
        raise ValueError(f"{owner}: examples must be >= 0, got {examples}, at {user_site()}")
    return as_node(np.int64(examples))


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay, as torch.optim.SGD.

    Besides torch's checks (lr, momentum, weight_decay >= 0), momentum must be below 1: at 1 or more the velocity
    never decays and training diverges.
    """

    def __init__(self, lr, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(lr)
        self.momentum = _in_range("SGD", "momentum", momentum, 0.0, 1.0)
        self.weight_decay = _in_range("SGD", "weight_decay", weight_decay)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"SGD: nesterov must be True or False, got {nesterov!r}, at {user_site()}")
        if nesterov and self.momentum <= 0:
            raise ValueError(f"SGD: Nesterov momentum requires a momentum > 0, at {user_site()}")
        self.nesterov = bool(nesterov)

    def param_updates(self, param, gradient, step):
        lr = self.learning_rate(step, param)
        if self.weight_decay:
            gradient = gradient + self.weight_decay * param
        if not self.momentum:
            return {param: param - lr * gradient}
        velocity = self.slot(param, "velocity")
        new_velocity = self.momentum * velocity + gradient  # v <- mu v + g
        direction = gradient + self.momentum * new_velocity if self.nesterov else new_velocity
        return {velocity: new_velocity, param: param - lr * direction}


class Adam(Optimizer):
    """Adam (Kingma and Ba) with bias correction, as torch.optim.Adam (and its checks: 0 <= beta < 1, eps >= 0)."""

    def __init__(self, lr=0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr)
        self.beta1 = _in_range("Adam", "beta1", beta1, 0.0, 1.0)
        self.beta2 = _in_range("Adam", "beta2", beta2, 0.0, 1.0)
        self.eps = _in_range("Adam", "eps", eps)

    def param_updates(self, param, gradient, step):
        lr = self.learning_rate(step, param)
        first, second = self.slot(param, "m"), self.slot(param, "v")
        new_first = self.beta1 * first + (1 - self.beta1) * gradient
        new_second = self.beta2 * second + (1 - self.beta2) * square(gradient)
        t = cast(step, param.dtype)
        first_hat = new_first / (1 - pow(self.beta1, t))
        second_hat = new_second / (1 - pow(self.beta2, t))
        return {first: new_first, second: new_second,
                param: param - lr * first_hat / (sqrt(second_hat) + self.eps)}


class RMSProp(Optimizer):
    """RMSProp: divide by a running root mean square of gradients, as torch.optim.RMSprop (no momentum).

    ``rho`` is torch's ``alpha``, in [0, 1) (at 1 the running mean square stays zero); eps >= 0.
    """

    def __init__(self, lr=0.01, rho: float = 0.99, eps: float = 1e-8):
        super().__init__(lr)
        self.rho = _in_range("RMSProp", "rho", rho, 0.0, 1.0)
        self.eps = _in_range("RMSProp", "eps", eps)

    def param_updates(self, param, gradient, step):
        lr = self.learning_rate(step, param)
        mean_square = self.slot(param, "mean_square")
        new_mean_square = self.rho * mean_square + (1 - self.rho) * square(gradient)
        return {mean_square: new_mean_square, param: param - lr * gradient / (sqrt(new_mean_square) + self.eps)}


# -- learning-rate schedules: callables of the step counter t (1 at the first update) --------------------------------
# PyTorch's schedulers give the k-th update (k = 0, 1, ...) its rate; here k = t - 1, so the first update uses lr0.

def _updates_before(step: Node) -> Node:
    """k = t - 1, the number of updates before this one, as float64."""
    return cast(step - 1, "float64")


def exponential_decay(lr0: float, k: float) -> Callable[[Node], Node]:
    """lr = lr0 * exp(-k (t - 1)): torch's ExponentialLR with gamma = exp(-k)."""
    lr0, k = _in_range("exponential_decay", "lr0", lr0), _in_range("exponential_decay", "k", k)
    return lambda step: lr0 * exp(_updates_before(step) * -k)


def inverse_time_decay(lr0: float, k: float) -> Callable[[Node], Node]:
    """lr = lr0 / (1 + k (t - 1)): torch's LambdaLR with lambda u: 1 / (1 + k u)."""
    lr0, k = _in_range("inverse_time_decay", "lr0", lr0), _in_range("inverse_time_decay", "k", k)
    return lambda step: div(lr0, 1 + _updates_before(step) * k)


def step_decay(lr0: float, factor: float, every: int) -> Callable[[Node], Node]:
    """lr = lr0 * factor ** floor((t - 1) / every): torch's StepLR(step_size=every, gamma=factor)."""
    lr0, factor = _in_range("step_decay", "lr0", lr0), _in_range("step_decay", "factor", factor)
    if isinstance(every, (bool, np.bool_)) or not isinstance(every, (int, np.integer)):
        raise TypeError(f"step_decay: every must be a positive int, got {every!r} ({type(every).__name__}), "
                        f"at {user_site()}")
    if every < 1:
        raise ValueError(f"step_decay: every must be a positive int, got {every!r}, at {user_site()}")
    every = int(every)
    return lambda step: lr0 * pow(factor, floor(_updates_before(step) / every))
