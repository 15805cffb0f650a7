"""Weight initializers: functions ``(shape, rng=None, dtype="float32") -> ndarray``.

``rng`` is a seed, a ``numpy.random.Generator`` or None (fresh entropy). Fan-in and fan-out follow PyTorch: for a
2-D (in, out) weight they are its dimensions; for an OIHW convolution filter, fan_in = I*H*W and fan_out = O*H*W.
"""

from __future__ import annotations

import numpy as np

from symgraph import dtypes


def as_generator(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a dense (in, out) weight or an OIHW convolution filter."""
    shape = tuple(shape)
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) > 2:
        receptive = int(np.prod(shape[2:]))
        return shape[1] * receptive, shape[0] * receptive
    size = int(np.prod(shape)) if shape else 1
    return size, size


def _cast(array, dtype):
    return np.asarray(array, dtype=dtypes.as_dtype(dtype))


def zeros(shape, rng=None, dtype="float32"):
    return np.zeros(shape, dtype=dtypes.as_dtype(dtype))


def constant(value):
    """An initializer filling with ``value``."""
    def fill(shape, rng=None, dtype="float32"):
        return np.full(shape, value, dtype=dtypes.as_dtype(dtype))
    return fill


def normal(std=0.01, mean=0.0):
    """An initializer drawing from N(mean, std^2)."""
    def draw(shape, rng=None, dtype="float32"):
        return _cast(as_generator(rng).normal(mean, std, shape), dtype)
    return draw


def uniform(low=-0.05, high=0.05):
    """An initializer drawing from U(low, high)."""
    def draw(shape, rng=None, dtype="float32"):
        return _cast(as_generator(rng).uniform(low, high, shape), dtype)
    return draw


def glorot_uniform(shape, rng=None, dtype="float32"):
    """Xavier/Glorot uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return _cast(as_generator(rng).uniform(-bound, bound, shape), dtype)


def glorot_normal(shape, rng=None, dtype="float32"):
    """Xavier/Glorot normal: N(0, 2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    return _cast(as_generator(rng).normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), shape), dtype)


def he_normal(shape, rng=None, dtype="float32"):
    """He/MSRA normal for ReLU layers: N(0, 2 / fan_in)."""
    fan_in, _ = fans(shape)
    return _cast(as_generator(rng).normal(0.0, np.sqrt(2.0 / fan_in), shape), dtype)


def fan_in_uniform(shape, rng=None, dtype="float32"):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for nn.Linear and nn.Conv2d weights and biases."""
    fan_in, _ = fans(shape)
    bound = 1.0 / np.sqrt(fan_in)
    return _cast(as_generator(rng).uniform(-bound, bound, shape), dtype)


xavier_uniform, xavier_normal, msra_normal = glorot_uniform, glorot_normal, he_normal
