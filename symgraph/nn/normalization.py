"""Batch normalization with training and inference modes; running statistics live in variables."""

from __future__ import annotations

import numpy as np

from symgraph.errors import ShapeError
from symgraph.graph import Node, Variable, apply, as_node, builder
from symgraph.nn.arguments import number_in, training_mode
from symgraph.ops import mean, reshape, sqrt, square, where
from symgraph.ops.base import known_size, normalize_axis
from symgraph.ops.elementwise import Add
from symgraph.ops.nn import ValuesPerChannel, one_value_per_channel_message


@builder
def batch_norm(x, gamma, beta, running_mean: Variable, running_var: Variable, training=True, momentum: float = 0.1,
               eps: float = 1e-5, axis: int = 1, name=None) -> Node:
    """Normalize over every axis but ``axis`` (the channels: 1 for (N, C) and NCHW), then scale and shift.

    Training mode normalizes with the batch's mean and (biased) variance and, through implied updates applied by
    ``sg.function``, moves the running statistics: running = (1 - momentum) * running + momentum * batch, with the
    unbiased batch variance, as PyTorch does. As in PyTorch, training on one value per channel is an error (a
    ShapeError when the shape says so, else at run time) and an empty batch leaves the running statistics alone.
    Inference mode normalizes with the running statistics. ``training`` is a Python bool or a bool scalar node.
    """
    x = as_node(x)
    training = training_mode(training, "batch_norm", x)
    momentum = number_in(momentum, "batch_norm: momentum", x, 0.0, 1.0)
    eps = number_in(eps, "batch_norm: eps", x, 0.0)
    axis = normalize_axis(axis, x.ndim)
    channels = x.shape[axis]
    for stat in (running_mean, running_var):
        if not isinstance(stat, Variable) or stat.shape != (channels,):
            raise ShapeError(f"running statistics must be variables of shape ({channels},), got {stat!r}")
    reduced = tuple(a for a in range(x.ndim) if a != axis)
    broadcast = tuple(channels if a == axis else 1 for a in range(x.ndim))
    per_channel = lambda value: reshape(value, broadcast)  # noqa: E731
    scale, shift = per_channel(gamma), per_channel(beta)

    inference = (x - per_channel(running_mean)) / sqrt(per_channel(running_var) + eps) * scale
    if training is False:
        return apply(Add(), inference, shift, name=name)
    count, may_be_empty = _values_per_channel(x, reduced, training)
    batch_mean = mean(x, reduced, keepdims=True)
    centered = x - batch_mean
    batch_var = mean(square(centered), reduced, keepdims=True)
    normalized = centered / sqrt(batch_var + eps) * scale
    new_mean = running_mean * (1 - momentum) + reshape(batch_mean, (channels,)) * momentum
    new_var = running_var * (1 - momentum) + reshape(batch_var * count / (count - 1), (channels,)) * momentum
    if may_be_empty:  # no values: the batch statistics are NaN; PyTorch keeps the running ones
        new_mean, new_var = where(count > 0, new_mean, running_mean), where(count > 0, new_var, running_var)
    if training is not True:
        normalized = where(training, normalized, inference)
        new_mean, new_var = where(training, new_mean, running_mean), where(training, new_var, running_var)
    updates = ((running_mean, new_mean), (running_var, new_var))
    return apply(Add(), normalized, shift, name=name, implied_updates=updates)


def _values_per_channel(x: Node, reduced: tuple, training) -> tuple[Node, bool]:
    """The count each channel's statistics average (a constant when known), and whether it may be 0.

    One value per channel in training mode raises: here when the shape says so, else when the graph runs.
    """
    static = known_size(tuple(x.shape[a] for a in reduced))
    if static == 1 and training is True:
        raise ShapeError(one_value_per_channel_message(x.shape, reduced))
    if static is not None and static != 1:
        return as_node(np.asarray(static, dtype=x.dtype)), static == 0
    flag = () if training is True else (training,)
    return apply(ValuesPerChannel(reduced), x, *flag), True
