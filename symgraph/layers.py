"""A thin, functional layer helper: each call creates its variables (initialised by a named scheme) and returns the
layer's output node. There are no layer objects; collect a model's parameters with ``sg.trainable_variables(cost)``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from symgraph import init as initializers
from symgraph.errors import ShapeError
from symgraph.graph import Node, as_node, variable
from symgraph.nn.normalization import batch_norm as batch_norm_op
from symgraph.ops.conv import conv2d as conv2d_op
from symgraph.ops.shape import reshape


def _initializer(scheme) -> Callable:
    if callable(scheme):
        return scheme
    try:
        return getattr(initializers, scheme)
    except AttributeError:
        raise ValueError(f"unknown initializer {scheme!r}; see symgraph.init") from None


def _bias_initializer(scheme, fan_in: int) -> Callable:
    """As ``_initializer``; "fan_in_uniform" uses the weight's fan-in, as PyTorch's default bias does."""
    if scheme == "fan_in_uniform":
        bound = 1.0 / np.sqrt(fan_in)
        return initializers.uniform(-bound, bound)
    return _initializer(scheme)


def dense(x, units: int, activation=None, name: str = "dense", init="glorot_uniform", bias_init="zeros",
          rng=None) -> Node:
    """activation(x @ W + b) with W of shape (in, units) drawn by ``init`` and b by ``bias_init``."""
    x = as_node(x)
    features = x.shape[-1]
    if features is None:
        raise ShapeError(f"dense layer {name!r} needs a known last dimension, got {x.describe()}")
    rng = initializers.as_generator(rng)
    weights = variable(_initializer(init)((features, units), rng, x.dtype), name=f"{name}/W")
    output = x @ weights
    if bias_init is not None:
        output = output + variable(_bias_initializer(bias_init, features)((units,), rng, x.dtype), name=f"{name}/b")
    return activation(output) if activation is not None else output


def conv2d(x, filters: int, kernel, stride=1, padding="same", activation=None, name: str = "conv",
           init="glorot_uniform", bias_init="zeros", rng=None) -> Node:
    """activation(conv2d(x, W) + b) on NCHW input, W of shape (filters, in_channels, kh, kw)."""
    x = as_node(x)
    if x.ndim != 4 or x.shape[1] is None:
        raise ShapeError(f"conv2d layer {name!r} needs NCHW input with known channels, got {x.describe()}")
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    rng = initializers.as_generator(rng)
    shape = (filters, x.shape[1], kh, kw)
    weights = variable(_initializer(init)(shape, rng, x.dtype), name=f"{name}/W")
    output = conv2d_op(x, weights, stride=stride, padding=padding)
    if bias_init is not None:
        fan_in = x.shape[1] * kh * kw
        bias = variable(_bias_initializer(bias_init, fan_in)((filters,), rng, x.dtype), name=f"{name}/b")
        output = output + reshape(bias, (filters, 1, 1))
    return activation(output) if activation is not None else output


def batch_norm(x, training=True, axis: int = 1, momentum: float = 0.1, eps: float = 1e-5,
               name: str = "batch_norm") -> Node:
    """Batch normalization with a learnable scale (ones) and shift (zeros) and running statistics variables."""
    x = as_node(x)
    channels = x.shape[axis]
    if channels is None:
        raise ShapeError(f"batch_norm layer {name!r} needs a known size along axis {axis}, got {x.describe()}")
    gamma = variable(np.ones(channels, x.dtype), name=f"{name}/gamma")
    beta = variable(np.zeros(channels, x.dtype), name=f"{name}/beta")
    running_mean = variable(np.zeros(channels, x.dtype), name=f"{name}/running_mean", trainable=False)
    running_var = variable(np.ones(channels, x.dtype), name=f"{name}/running_var", trainable=False)
    return batch_norm_op(x, gamma, beta, running_mean, running_var, training, momentum, eps, axis)
