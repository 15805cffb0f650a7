"""Weight initializers: functions ``(shape, rng=None, dtype="float32") -> ndarray``.

``rng`` is a seed, a ``numpy.random.Generator`` or None (fresh entropy). Fan-in and fan-out follow PyTorch: for a
2-D (in, out) weight they are its dimensions; for an OIHW convolution filter, fan_in = I*H*W and fan_out = O*H*W.
Shapes must be static (tuples of non-negative ints); random initializers draw floating-point values only.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from symgraph import dtypes
from symgraph.errors import DTypeError
from symgraph.graph import MAX_DIM, user_site

SEED_OBJECTS = (np.random.SeedSequence, np.random.BitGenerator)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def as_generator(rng, owner: str = "rng") -> np.random.Generator:
    """``rng`` as a numpy Generator: a Generator is used as is, a seed (or None: fresh entropy) makes a new one."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, SEED_OBJECTS):
        return np.random.default_rng(rng)
    return np.random.default_rng(int(_check_rng(rng, owner)))


def _check_rng(rng, owner: str = "rng"):
    """``rng`` unchanged if it is a seed (a non-negative int), a Generator, a SeedSequence, a BitGenerator or None
    (initializers that draw nothing, such as zeros, still refuse any other value)."""
    if rng is None or isinstance(rng, (np.random.Generator,) + SEED_OBJECTS):
        return rng
    if not _is_int(rng):
        raise TypeError(f"{owner}: rng must be a seed (a non-negative int), a numpy Generator or None, got "
                        f"{rng!r:.60} ({type(rng).__name__}), at {user_site()}")
    if rng < 0:
        raise ValueError(f"{owner}: a seed must be a non-negative int, got {rng}, at {user_site()}")
    return rng


def static_shape(shape, owner: str = "sg.init") -> tuple[int, ...]:
    """``shape`` (an int or a sequence of ints) as a tuple of non-negative ints; no unknown (None) sizes."""
    dims = (shape,) if _is_int(shape) else shape
    if not isinstance(dims, (tuple, list)):
        raise TypeError(f"{owner}: shape must be a tuple of non-negative ints, got {shape!r} "
                        f"({type(shape).__name__}), at {user_site()}")
    if any(d is None for d in dims):
        raise ValueError(f"{owner}: initializers need a static shape, got {tuple(dims)} (None is an unknown size), "
                         f"at {user_site()}")
    for d in dims:
        if not _is_int(d):
            raise TypeError(f"{owner}: shape must be a tuple of non-negative ints, got {tuple(dims)} "
                            f"({d!r} is a {type(d).__name__}), at {user_site()}")
        if d < 0:
            raise ValueError(f"{owner}: shape must be a tuple of non-negative ints, got {tuple(dims)}, "
                             f"at {user_site()}")
    if math.prod(int(d) for d in dims) > MAX_DIM or any(d > MAX_DIM for d in dims):
        raise ValueError(f"{owner}: shape {tuple(dims)!r:.80} has more elements than an array can hold "
                         f"({MAX_DIM}), at {user_site()}")
    return tuple(int(d) for d in dims)


def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a dense (in, out) weight or an OIHW convolution filter."""
    shape = static_shape(shape, "fans")
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) > 2:
        receptive = int(np.prod(shape[2:]))
        return shape[1] * receptive, shape[0] * receptive
    size = int(np.prod(shape)) if shape else 1
    return size, size


def _dtype(dtype, owner: str) -> np.dtype:
    try:
        return dtypes.as_dtype(dtype)
    except DTypeError as error:
        raise DTypeError(f"{owner}: {error}, at {user_site()}") from None


def _float_dtype(dtype, owner: str) -> np.dtype:
    result = _dtype(dtype, owner)
    if not dtypes.is_float(result):
        raise DTypeError(f"{owner} draws floating-point values, which dtype {result} would truncate "
                         f"(use float32 or float64), at {user_site()}")
    return result


def _random(owner: str, shape, rng, dtype, sample: Callable) -> np.ndarray:
    """``sample(generator, shape)`` as ``dtype``, arguments checked first; a zero-size shape gives an empty array."""
    shape, dtype = static_shape(shape, owner), _float_dtype(dtype, owner)
    generator = as_generator(rng, owner)
    if 0 in shape:
        return np.zeros(shape, dtype)
    return np.asarray(sample(generator, shape), dtype=dtype)


def _finite(owner: str, what: str, value) -> float:
    if not (_is_int(value) or isinstance(value, (float, np.floating))):
        raise TypeError(f"{owner}: {what} must be a real number, got {value!r:.60}, at {user_site()}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{owner}: {what} must be finite, got {value!r:.60}, at {user_site()}")
    return number


def zeros(shape, rng=None, dtype="float32"):
    """Zeros (``rng`` is checked but unused)."""
    shape, dtype = static_shape(shape, "zeros"), _dtype(dtype, "zeros")
    _check_rng(rng, "zeros")
    return np.zeros(shape, dtype=dtype)


def constant(value):
    """An initializer filling with ``value``, a number or bool of the dtype's kind (NumPy's same-kind casting)."""
    if not isinstance(value, (bool, np.bool_, int, float, np.integer, np.floating)):
        raise TypeError(f"constant: value must be a number or a bool, got {value!r}, at {user_site()}")

    def fill(shape, rng=None, dtype="float32"):
        shape, dtype = static_shape(shape, "constant"), _dtype(dtype, "constant")
        _check_rng(rng, "constant")
        if not np.can_cast(np.asarray(value), dtype, casting="same_kind"):
            raise DTypeError(f"constant: {value!r} does not fit dtype {dtype} (NumPy same-kind casting), "
                             f"at {user_site()}")
        try:
            return np.full(shape, value, dtype=dtype)
        except OverflowError:
            raise DTypeError(f"constant: {value!r} is out of the range of {dtype}, at {user_site()}") from None
    return fill


def normal(std=0.01, mean=0.0):
    """An initializer drawing from N(mean, std^2)."""
    std, mean = _finite("normal", "std", std), _finite("normal", "mean", mean)
    if std < 0:
        raise ValueError(f"normal: std must be >= 0, got {std!r}, at {user_site()}")

    def draw(shape, rng=None, dtype="float32"):
        return _random("normal", shape, rng, dtype, lambda generator, dims: generator.normal(mean, std, dims))
    return draw


def uniform(low=-0.05, high=0.05):
    """An initializer drawing from U(low, high)."""
    low, high = _finite("uniform", "low", low), _finite("uniform", "high", high)
    if low > high:
        raise ValueError(f"uniform: low must not exceed high, got low={low!r}, high={high!r}, at {user_site()}")

    def draw(shape, rng=None, dtype="float32"):
        return _random("uniform", shape, rng, dtype, lambda generator, dims: generator.uniform(low, high, dims))
    return draw


def glorot_uniform(shape, rng=None, dtype="float32"):
    """Xavier/Glorot uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."""
    def sample(generator, dims):
        fan_in, fan_out = fans(dims)
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        return generator.uniform(-bound, bound, dims)
    return _random("glorot_uniform", shape, rng, dtype, sample)


def glorot_normal(shape, rng=None, dtype="float32"):
    """Xavier/Glorot normal: N(0, 2 / (fan_in + fan_out))."""
    def sample(generator, dims):
        fan_in, fan_out = fans(dims)
        return generator.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), dims)
    return _random("glorot_normal", shape, rng, dtype, sample)


def he_normal(shape, rng=None, dtype="float32"):
    """He/MSRA normal for ReLU layers: N(0, 2 / fan_in)."""
    def sample(generator, dims):
        return generator.normal(0.0, np.sqrt(2.0 / fans(dims)[0]), dims)
    return _random("he_normal", shape, rng, dtype, sample)


def fan_in_uniform(shape, rng=None, dtype="float32"):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for nn.Linear and nn.Conv2d weights and biases."""
    def sample(generator, dims):
        bound = 1.0 / np.sqrt(fans(dims)[0])
        return generator.uniform(-bound, bound, dims)
    return _random("fan_in_uniform", shape, rng, dtype, sample)


xavier_uniform, xavier_normal, msra_normal = glorot_uniform, glorot_normal, he_normal

# The initializers that layers accept by name; normal, uniform and constant need parameters, so they are passed
# as calls (init=sg.init.normal(0.02)).
BY_NAME = {
    "zeros": zeros, "glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal, "he_normal": he_normal,
    "fan_in_uniform": fan_in_uniform, "xavier_uniform": xavier_uniform, "xavier_normal": xavier_normal,
    "msra_normal": msra_normal,
}


def get(scheme, owner: str = "sg.init") -> Callable:
    """An initializer from a name of ``BY_NAME`` or a callable ``(shape, rng, dtype) -> ndarray``."""
    if callable(scheme) and not isinstance(scheme, type):
        return scheme
    if not isinstance(scheme, str):
        raise TypeError(f"{owner}: an initializer is a name or a callable (shape, rng, dtype), got {scheme!r}, "
                        f"at {user_site()}")
    if scheme not in BY_NAME:
        hint = f" ({scheme} takes parameters: pass sg.init.{scheme}(...))" if scheme in ("normal", "uniform",
                                                                                             "constant") else ""
        raise ValueError(f"{owner}: unknown initializer {scheme!r}{hint}; choose one of {', '.join(BY_NAME)} "
                         f"or pass a callable, at {user_site()}")
    return BY_NAME[scheme]
