"""Optimizers as graph builders: ``opt.updates(cost, params)`` returns the update dict for ``sg.function``.

Every optimizer keeps its state (momenta, moment estimates, its step counter) in variables it creates, so the whole
training step is one graph. Learning rates may be numbers, nodes, or callables of the step-counter node (schedules).
Update rules follow PyTorch's definitions so that results can be compared with it.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from symgraph.autodiff import grad
from symgraph.graph import Node, Variable, as_node, variable
from symgraph.ops import cast, div, exp, floor, pow, sqrt, square


class Optimizer:
    """Shared machinery: the step counter, learning-rate resolution and per-parameter state variables."""

    def __init__(self, lr):
        self.lr = lr
        self.iterations = variable(np.int64(0), name="iterations", trainable=False)

    def updates(self, cost: Node, params: Sequence[Variable]) -> dict:
        params = list(params)
        for p in params:
            if not isinstance(p, Variable):
                raise TypeError(f"optimizers update variables; got {p.describe() if isinstance(p, Node) else p!r}")
        gradients = grad(cost, params, disconnected="zero")
        step = self.iterations + 1
        result = {self.iterations: step}
        for param, gradient in zip(params, gradients):
            result.update(self.param_updates(param, gradient, step))
        return result

    def learning_rate(self, step: Node, param: Variable) -> Node:
        lr = self.lr(step) if callable(self.lr) else self.lr
        lr = as_node(lr, [param])  # a Python number takes the parameter's dtype
        return cast(lr, param.dtype) if lr.dtype != param.dtype else lr

    def slot(self, param: Variable, what: str) -> Variable:
        """A state variable shaped like ``param`` (a momentum buffer, a moment estimate), starting at zero."""
        return variable(np.zeros(param.shape, param.dtype), name=f"{param.name or 'param'}/{what}", trainable=False)

    def param_updates(self, param: Variable, gradient: Node, step: Node) -> dict:
        raise TypeError(f"{type(self).__name__} must define param_updates")


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay, as torch.optim.SGD."""

    def __init__(self, lr, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(lr)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

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
    """Adam (Kingma and Ba) with bias correction, as torch.optim.Adam."""

    def __init__(self, lr=0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

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
    """RMSProp: divide by a running root mean square of gradients, as torch.optim.RMSprop (no momentum)."""

    def __init__(self, lr=0.01, rho: float = 0.99, eps: float = 1e-8):
        super().__init__(lr)
        self.rho, self.eps = rho, eps

    def param_updates(self, param, gradient, step):
        lr = self.learning_rate(step, param)
        mean_square = self.slot(param, "mean_square")
        new_mean_square = self.rho * mean_square + (1 - self.rho) * square(gradient)
        return {mean_square: new_mean_square, param: param - lr * gradient / (sqrt(new_mean_square) + self.eps)}


# -- learning-rate schedules: callables of the step counter (1 at the first update) ----------------------------------

def exponential_decay(lr0: float, k: float) -> Callable[[Node], Node]:
    """lr = lr0 * exp(-k t)."""
    return lambda step: lr0 * exp(cast(step, "float64") * -k)


def inverse_time_decay(lr0: float, k: float) -> Callable[[Node], Node]:
    """lr = lr0 / (1 + k t)."""
    return lambda step: div(lr0, 1 + cast(step, "float64") * k)


def step_decay(lr0: float, factor: float, every: int) -> Callable[[Node], Node]:
    """lr = lr0 * factor ** floor(t / every): multiply by ``factor`` every ``every`` steps."""
    return lambda step: lr0 * pow(factor, floor(cast(step, "float64") / every))
