"""Small predicates that rewrite rules use to recognise patterns."""

from __future__ import annotations

import numpy as np

from symgraph.graph import Constant, Node


def is_op(node: Node, name: str) -> bool:
    return node.op.name == name


def constant_equal_to(node: Node, value) -> bool:
    """True when ``node`` is a constant all of whose elements equal ``value``."""
    return isinstance(node, Constant) and node.value.size > 0 and bool(np.all(node.value == value))


def same_type(a: Node, b: Node) -> bool:
    """Equal static shapes and dtypes: one can replace the other."""
    return a.shape == b.shape and a.dtype == b.dtype


def other_operand(node: Node, value) -> Node | None:
    """For a binary node with one constant operand equal to ``value``, the other operand (else None)."""
    a, b = node.inputs
    if constant_equal_to(b, value):
        return a
    if constant_equal_to(a, value):
        return b
    return None


def is_positive(node: Node) -> bool:
    """Whether every value of ``node`` is certainly > 0 (a conservative check used to guard log/exp rewrites)."""
    if isinstance(node, Constant):
        return node.value.size > 0 and bool(np.all(node.value > 0))
    if node.op.name in ("exp", "sigmoid", "softmax"):
        return True
    if node.op.name in ("add", "mul", "div"):
        return all(is_positive(i) for i in node.inputs)
    return False


def matches(*op_names: str):
    """Declare which ops a rule looks at, so the engine only offers it nodes of those ops."""
    def mark(rule):
        rule.op_names = op_names
        return rule
    return mark
