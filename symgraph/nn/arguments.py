"""Checks for the Python-level arguments of ``sg.nn`` builders: a wrong type raises TypeError naming the argument,
the input node and the user's line.

Without them a string rate fails deep inside (``'<=' not supported between float and str``) or, worse, a string
flag is read as true.
"""

from __future__ import annotations

import numpy as np

from symgraph.graph import Node, user_site


def argument_error(what: str, value, node: Node | None) -> TypeError:
    """A TypeError: ``what`` was expected, ``value`` was given, for the input ``node``, at the user's line."""
    got = value.describe() if isinstance(value, Node) else f"{type(value).__name__} {value!r:.60}"
    of = f"\n  input: {node.describe()}" if node is not None else ""
    return TypeError(f"{what}, got {got}{of}\n  at {user_site()}")


def real_number(value, what: str, node: Node | None = None) -> float:
    """A Python or NumPy real number (not a bool, a string or a node) as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise argument_error(f"{what} must be a number", value, node)
    return float(value)


def optional_int(value, what: str, node: Node | None = None) -> int | None:
    """None or a Python or NumPy int (not a bool or a string)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise argument_error(f"{what} must be an int or None", value, node)
    return int(value)


def training_mode(training, what: str, node: Node | None = None):
    """``training`` as a Python bool, or as a bool scalar node that chooses the mode at run time."""
    if isinstance(training, (bool, np.bool_)):
        return bool(training)
    if isinstance(training, Node) and training.dtype == np.bool_ and training.ndim == 0:
        return training
    raise argument_error(f"{what}: training must be True, False or a bool scalar node", training, node)
