"""Batch normalization with training and inference modes; running statistics live in variables."""

from __future__ import annotations

from symgraph.errors import ShapeError
from symgraph.graph import Node, Variable, apply, as_node, builder
from symgraph.ops import mean, reshape, sqrt, square, where
from symgraph.ops.base import normalize_axis
from symgraph.ops.elementwise import Add
from symgraph.ops.reduce import reduced_count


@builder
def batch_norm(x, gamma, beta, running_mean: Variable, running_var: Variable, training=True, momentum: float = 0.1,
               eps: float = 1e-5, axis: int = 1, name=None) -> Node:
    """Normalize over every axis but ``axis`` (the channels: 1 for (N, C) and NCHW), then scale and shift.

    Training mode normalizes with the batch's mean and (biased) variance and, through implied updates applied by
    ``sg.function``, moves the running statistics: running = (1 - momentum) * running + momentum * batch, with the
    unbiased batch variance, as PyTorch does. Inference mode normalizes with the running statistics. ``training`` is a
    Python bool or a bool scalar node.
    """
    x = as_node(x)
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
    batch_mean = mean(x, reduced, keepdims=True)
    centered = x - batch_mean
    batch_var = mean(square(centered), reduced, keepdims=True)
    normalized = centered / sqrt(batch_var + eps) * scale
    count = reduced_count(x, reduced, x.dtype)
    new_mean = running_mean * (1 - momentum) + reshape(batch_mean, (channels,)) * momentum
    new_var = running_var * (1 - momentum) + reshape(batch_var * count / (count - 1), (channels,)) * momentum
    if training is not True:
        flag = as_node(training)
        normalized = where(flag, normalized, inference)
        new_mean, new_var = where(flag, new_mean, running_mean), where(flag, new_var, running_var)
    updates = ((running_mean, new_mean), (running_var, new_var))
    return apply(Add(), normalized, shift, name=name, implied_updates=updates)
