"""Plain-Python helpers that generated modules copy for custom ops: calling a custom op's Python functions (its
shape rule in the plan, its NumPy function in a Python stage) and checking what they return."""

import numpy as np


def custom_shape(what, rule, shapes, attributes, static):
    """The plan's rule for a custom op's output: its shape rule run on the inputs' run-time shapes, checked against
    the static shape."""
    try:
        shape = rule(*shapes, **attributes)
    except Exception as error:  # the rule's own failure, named with the node
        raise ValueError(f"{what}: its shape rule raised {type(error).__name__}: {error}") from error
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) and d >= 0 for d in shape):
        raise ValueError(f"{what}: its shape rule returned {shape!r:.80} for inputs of shapes {shapes}; at run time "
                         "it must return a tuple of non-negative ints")
    shape = tuple(int(d) for d in shape)
    if len(shape) != len(static) or any(s is not None and s != d for s, d in zip(static, shape)):
        raise ValueError(f"{what}: its shape rule returned {shape} for inputs of shapes {shapes}, which contradicts "
                         f"the node's static shape {static}")
    return shape


def custom_call(what, function, arguments, attributes, out):
    """A custom op without a Numba lowering: its NumPy function called from Python, its result checked and stored
    in ``out``."""
    try:
        result = np.asarray(function(*arguments, **attributes))
    except Exception as error:  # as the NumPy backend reports a failing op: with the node
        raise ValueError(f"{what} failed in its NumPy function: {type(error).__name__}: {error}") from error
    if result.dtype != out.dtype:
        raise ValueError(f"{what}: its NumPy function returned {result.dtype} values, but the op's dtype is "
                         f"{out.dtype}; cast the result in the function (e.g. .astype(x.dtype)) or give dtype=")
    if result.shape != out.shape:
        raise ValueError(f"{what}: its NumPy function returned shape {result.shape}, but the shape rule gives "
                         f"{out.shape}")
    out[...] = result
