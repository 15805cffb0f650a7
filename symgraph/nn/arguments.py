"""Checks for the Python-level arguments of ``sg.nn`` builders: a wrong type raises TypeError naming the argument,
the input node and the user's line.

Without them a string rate fails deep inside (``'<=' not supported between float and str``) or, worse, a string
flag is read as true.
"""

from __future__ import annotations

import math

import numpy as np

from symgraph.graph import Node, user_site


def argument_error(what: str, value, node: Node | None) -> TypeError:
    """A TypeError: ``what`` was expected, ``value`` was given, for the input ``node``, at the user's line."""
    got = value.describe() if isinstance(value, Node) else f"{type(value).__name__} {value!r:.60}"
    of = f"\n  input: {node.describe()}" if node is not None else ""
    return TypeError(f"{what}, got {got}{of}\n  at {user_site()}")


def argument_value_error(what: str, node: Node | None) -> ValueError:
    """A ValueError: ``what`` (the argument, its constraint and the value given), for ``node``, at the user's line."""
    of = f"\n  input: {node.describe()}" if node is not None else ""
    return ValueError(f"{what}{of}\n  at {user_site()}")


def real_number(value, what: str, node: Node | None = None) -> float:
    """A Python or NumPy real number (not a bool, a string or a node) as a float; a Python int beyond the float
    range raises ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise argument_error(f"{what} must be a number", value, node)
    try:
        return float(value)
    except OverflowError:
        raise argument_value_error(f"{what} must be a finite number, got {value!r:.60}", node) from None


def number_in(value, what: str, node: Node | None = None, low: float = -math.inf, high: float = math.inf,
              high_open: bool = False) -> float:
    """A finite real number in [low, high] (or [low, high) when ``high_open``), as a float."""
    number = real_number(value, what, node)
    inside = math.isfinite(number) and low <= number and (number < high if high_open else number <= high)
    if not inside:
        bounds = ("finite" if (low, high) == (-math.inf, math.inf) else
                  f">= {low:g} and finite" if high == math.inf else f"in [{low:g}, {high:g}{')' if high_open else ']'}")
        raise argument_value_error(f"{what} must be {bounds}, got {value!r:.60}", node)
    return number


def positive_int(value, what: str, node: Node | None = None) -> int:
    """A Python or NumPy int >= 1 (not a bool, a float or a string)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise argument_error(f"{what} must be a positive int", value, node)
    if value < 1:
        raise argument_value_error(f"{what} must be a positive int, got {value!r}", node)
    return int(value)


def optional_seed(value, what: str, node: Node | None = None) -> int | None:
    """None or a seed: a Python or NumPy int in [0, 2**63) (the stream keeps it in an int64 variable)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise argument_error(f"{what} must be an int or None", value, node)
    if not 0 <= value < 2 ** 63:
        raise argument_value_error(f"{what} must be a non-negative int below 2**63, got {value!r:.60}", node)
    return int(value)


def training_mode(training, what: str, node: Node | None = None):
    """``training`` as a Python bool, or as a bool scalar node that chooses the mode at run time."""
    if isinstance(training, (bool, np.bool_)):
        return bool(training)
    if isinstance(training, Node) and training.dtype == np.bool_ and training.ndim == 0:
        return training
    raise argument_error(f"{what}: training must be True, False or a bool scalar node", training, node)
