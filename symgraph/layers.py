"""A thin, functional layer helper: each call creates its variables (initialised by a named scheme) and returns the
layer's output node. There are no layer objects; collect a model's parameters with ``sg.trainable_variables(cost)``.

Layers without an explicit ``name`` are numbered the first time a default name repeats, as in Keras and TF1:
"dense", "dense_1", "dense_2", ..., so their variables are "dense/W", "dense_1/W", ... Explicit names are used as
given (and never handed out as default names afterwards). ``reset_names()`` starts the numbering again.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from symgraph import dtypes
from symgraph import init as initializers
from symgraph.errors import DTypeError, ShapeError, SymgraphError
from symgraph.graph import MAX_DIM, Node, as_node, user_site, variable
from symgraph.nn.activations import elu, leaky_relu
from symgraph.nn.normalization import batch_norm as batch_norm_op
from symgraph.ops.conv import conv2d as conv2d_op
from symgraph.ops.elementwise import relu, sigmoid, softplus, tanh
from symgraph.ops.nn import softmax
from symgraph.ops.shape import reshape

ACTIVATIONS: dict[str, Callable | None] = {
    "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax, "elu": elu, "leaky_relu": leaky_relu,
    "softplus": softplus, "linear": None,
}

_names_lock = threading.Lock()
_default_name_counts: dict[str, int] = {}
_taken_names: set[str] = set()


def reset_names() -> None:
    """Forget the layer names handed out so far: the next default dense layer is "dense" again."""
    with _names_lock:
        _default_name_counts.clear()
        _taken_names.clear()


def _claim_name(name: str | None, default: str) -> str:
    """``name`` as given, or the first free of ``default``, ``default_1``, ``default_2``, ... (thread-safe)."""
    with _names_lock:
        if name is not None:
            _taken_names.add(name)
            return name
        count = _default_name_counts.get(default, 0)
        candidate = default if count == 0 else f"{default}_{count}"
        while candidate in _taken_names:
            count += 1
            candidate = f"{default}_{count}"
        _default_name_counts[default] = count + 1
        _taken_names.add(candidate)
        return candidate


def _message(layer: str, what: str, x: Node) -> str:
    return f"{layer}: {what}\n  input: {x.describe()}\n  at {user_site()}"


def _layer_label(kind: str, name, default: str) -> str:
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"{kind} layer: name must be a non-empty str or None, got {name!r}, at {user_site()}")
    return f"{kind} layer {name if name is not None else default!r}"


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _input(layer: str, x) -> Node:
    """The layer's input as a node (arrays and numbers become constants); refused values name the layer."""
    try:
        return as_node(x)
    except SymgraphError as error:
        raise type(error)(f"{layer}: the input: {error}\n  at {user_site()}") from None


def _positive_int(layer: str, what: str, value, x: Node) -> int:
    if not _is_int(value):
        raise TypeError(_message(layer, f"{what} must be a positive int, got {value!r:.60} ({type(value).__name__})",
                                 x))
    if value < 1:
        raise ValueError(_message(layer, f"{what} must be a positive int, got {value!r}", x))
    if value > MAX_DIM:
        raise ValueError(_message(layer, f"{what} must be at most {MAX_DIM} (the largest array size), got "
                                         f"{value!r}", x))
    return int(value)


def _positive_pair(layer: str, what: str, value, x: Node) -> tuple[int, int]:
    """An int or a pair of ints, each >= 1, as a pair."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(_is_int(v) for v in items):
        raise TypeError(_message(layer, f"{what} must be an int or a pair of ints, got {value!r:.60}", x))
    if any(v < 1 for v in items):
        raise ValueError(_message(layer, f"{what} must be positive, got {value!r}", x))
    if any(v > MAX_DIM for v in items):
        raise ValueError(_message(layer, f"{what} must be at most {MAX_DIM} (the largest array size), got "
                                         f"{value!r}", x))
    return int(items[0]), int(items[1])


def _float_input(layer: str, x: Node) -> None:
    if not dtypes.is_float(x.dtype):
        raise DTypeError(_message(layer, f"needs a floating-point input (its weights take the input's dtype), got "
                                         f"{x.dtype}; cast it with sg.cast(x, 'float32')", x))


def _activation(layer: str, activation, x: Node) -> Callable | None:
    """A callable node -> node, or None (linear); names are those of ``ACTIVATIONS``."""
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(_message(layer, f"unknown activation {activation!r}; choose one of "
                                             f"{', '.join(ACTIVATIONS)}, None, or pass a callable", x))
        return ACTIVATIONS[activation]
    if activation is not None and (not callable(activation) or isinstance(activation, type)):
        raise TypeError(_message(layer, f"activation must be a name, a callable or None, got {activation!r:.60}", x))
    return activation


def _activated(layer: str, activation, output: Node, x: Node) -> Node:
    """``activation(output)``, which must be a node (a callable returning anything else is refused)."""
    if activation is None:
        return output
    result = activation(output)
    if not isinstance(result, Node):
        raise TypeError(_message(layer, f"the activation {activation!r:.60} returned {type(result).__name__} "
                                        f"{result!r:.40}, not a node", x))
    return result


def _initializers(layer: str, x: Node, fan_in: int, init, bias_init, rng):
    """The weight and bias initializers (None: no bias) and the generator of a layer; errors name its input."""
    try:
        bias_initializer = None if bias_init is None else _bias_initializer(bias_init, fan_in, layer)
        return initializers.get(init, layer), bias_initializer, initializers.as_generator(rng, layer)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{error}\n  input: {x.describe()}") from None


def _initial_value(layer: str, what: str, initializer: Callable, shape: tuple, rng, x: Node) -> np.ndarray:
    """The initializer's array for a variable of ``shape`` (x's dtype); errors and wrong results name the layer."""
    try:
        value = initializer(shape, rng, x.dtype)
    except (SymgraphError, TypeError, ValueError) as error:
        kind = type(error) if isinstance(error, SymgraphError) else TypeError if isinstance(error, TypeError) \
            else ValueError
        raise kind(_message(layer, f"initializing {what} {shape}: {error}", x)) from error
    if not isinstance(value, np.ndarray) or value.shape != shape:
        got = f"shape {value.shape}" if isinstance(value, np.ndarray) else f"{type(value).__name__} {value!r:.40}"
        raise ValueError(_message(layer, f"the initializer {initializer!r:.60} of {what} returned {got}, expected an "
                                         f"array of shape {shape}", x))
    return value


def _bias_initializer(scheme, fan_in: int, layer: str) -> Callable:
    """As ``init.get``; "fan_in_uniform" uses the weight's fan-in, as PyTorch's default bias does."""
    if isinstance(scheme, str) and scheme == "fan_in_uniform":
        bound = 1.0 / np.sqrt(fan_in)
        return initializers.uniform(-bound, bound)
    return initializers.get(scheme, layer)


def dense(x, units: int, activation=None, name: str | None = None, init="glorot_uniform", bias_init="zeros",
          rng=None) -> Node:
    """activation(x @ W + b) with W of shape (in, units) drawn by ``init`` and b by ``bias_init`` (None: no bias).

    ``activation`` is a callable, None, or one of the names of ``ACTIVATIONS`` ("relu", "softmax", ...).
    """
    layer = _layer_label("dense", name, "dense")
    x = _input(layer, x)
    units = _positive_int(layer, "units", units, x)
    if x.ndim == 0 or x.shape[-1] is None:
        raise ShapeError(_message(layer, "needs an input with a known last dimension (its features)", x))
    _float_input(layer, x)
    activation = _activation(layer, activation, x)
    features = x.shape[-1]
    weight_init, bias_initializer, rng = _initializers(layer, x, features, init, bias_init, rng)
    name = _claim_name(name, "dense")
    weights = variable(_initial_value(layer, "W", weight_init, (features, units), rng, x), name=f"{name}/W")
    output = x @ weights
    if bias_initializer is not None:
        output = output + variable(_initial_value(layer, "b", bias_initializer, (units,), rng, x), name=f"{name}/b")
    return _activated(layer, activation, output, x)


def conv2d(x, filters: int, kernel, stride=1, padding="same", activation=None, name: str | None = None,
           init="glorot_uniform", bias_init="zeros", rng=None) -> Node:
    """activation(conv2d(x, W) + b) on NCHW input, W of shape (filters, in_channels, kh, kw).

    ``kernel`` and ``stride`` are an int or a pair (kh, kw) / (sh, sw); ``activation`` as for ``dense``.
    """
    layer = _layer_label("conv2d", name, "conv")
    x = _input(layer, x)
    filters = _positive_int(layer, "filters", filters, x)
    kh, kw = _positive_pair(layer, "kernel", kernel, x)
    stride = _positive_pair(layer, "stride", stride, x)
    if x.ndim != 4 or x.shape[1] is None:
        raise ShapeError(_message(layer, "needs NCHW input with known channels", x))
    _float_input(layer, x)
    activation = _activation(layer, activation, x)
    fan_in = x.shape[1] * kh * kw
    weight_init, bias_initializer, rng = _initializers(layer, x, fan_in, init, bias_init, rng)
    name = _claim_name(name, "conv")
    weights = variable(_initial_value(layer, "W", weight_init, (filters, x.shape[1], kh, kw), rng, x),
                       name=f"{name}/W")
    output = conv2d_op(x, weights, stride=stride, padding=padding)
    if bias_initializer is not None:
        bias = variable(_initial_value(layer, "b", bias_initializer, (filters,), rng, x), name=f"{name}/b")
        output = output + reshape(bias, (filters, 1, 1))
    return _activated(layer, activation, output, x)


def batch_norm(x, training=True, axis: int = 1, momentum: float = 0.1, eps: float = 1e-5,
               name: str | None = None) -> Node:
    """Batch normalization with a learnable scale (ones) and shift (zeros) and running statistics variables."""
    layer = _layer_label("batch_norm", name, "batch_norm")
    x = _input(layer, x)
    if not _is_int(axis):
        raise TypeError(_message(layer, f"axis must be an int, got {axis!r}", x))
    if not -x.ndim <= axis < x.ndim:
        raise ShapeError(_message(layer, f"axis {axis} is out of range for a {x.ndim}-D input", x))
    channels = x.shape[axis]
    if channels is None:
        raise ShapeError(_message(layer, f"needs a known size along axis {axis}", x))
    _float_input(layer, x)
    name = _claim_name(name, "batch_norm")
    gamma = variable(np.ones(channels, x.dtype), name=f"{name}/gamma")
    beta = variable(np.zeros(channels, x.dtype), name=f"{name}/beta")
    running_mean = variable(np.zeros(channels, x.dtype), name=f"{name}/running_mean", trainable=False)
    running_var = variable(np.ones(channels, x.dtype), name=f"{name}/running_var", trainable=False)
    return batch_norm_op(x, gamma, beta, running_mean, running_var, training, momentum, eps, axis)
