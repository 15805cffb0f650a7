"""The rewrite engine: rebuild a graph bottom-up, applying ``node -> replacement or None`` rules to a fixed point.

Nodes are immutable, so rewriting builds new nodes and returns new outputs; nodes a user holds never change. A node
whose inputs changed is rebuilt with the same op (its shape and dtype re-inferred and checked). New nodes a rule
builds are attributed to the replaced node's creation site and gradient provenance, so errors still point at the user's
line and a rewritten gradient still says which rule of which forward node it comes from.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from symgraph.errors import SymgraphError
from symgraph.graph import Node, attributed_to, inherit_provenance, toposort

Rule = Callable[[Node], "Node | None"]
MAX_FIRINGS_PER_NODE = 32


class RewriteError(SymgraphError, RuntimeError):
    """A rule produced a replacement of another shape or dtype: a bug in that rule."""


def rebuild(node: Node, inputs: Sequence[Node]) -> Node:
    """``node`` with new inputs (itself when they are the same nodes)."""
    if all(a is b for a, b in zip(inputs, node.inputs)):
        return node
    shape, dtype = node.op.infer(*inputs)
    if np.dtype(dtype) != node.dtype or len(shape) != len(node.shape):
        raise RewriteError(f"rebuilding {node.describe()} changed its type to {shape} {dtype}")
    rebuilt = Node(node.op, tuple(inputs), tuple(shape), node.dtype, node.name, node.site, node.implied_updates)
    inherit_provenance(rebuilt, node)
    return rebuilt


class Rewriter:
    """Applies rules over a graph; calls ``on_rewrite(rule_name, before, after)`` for every firing."""

    def __init__(self, rules: Sequence[Rule], on_rewrite: Callable):
        self.general = [r for r in rules if not hasattr(r, "op_names")]
        self.by_op: dict[str, list] = {}
        for rule in rules:
            for name in getattr(rule, "op_names", ()):
                self.by_op.setdefault(name, []).append(rule)
        self.on_rewrite = on_rewrite

    def run(self, outputs: Sequence[Node]) -> list[Node]:
        mapping: dict[int, Node] = {}
        for node in toposort(list(outputs)):
            current = rebuild(node, [mapping[id(i)] for i in node.inputs])
            mapping[id(node)] = self._apply_rules(current)
        return [mapping[id(o)] for o in outputs]

    def _apply_rules(self, node: Node) -> Node:
        for _ in range(MAX_FIRINGS_PER_NODE):
            rules = self.by_op.get(node.op.name, []) + self.general
            if not rules:
                return node
            with attributed_to(node):
                fired = self._first_firing(rules, node)
            if fired is None:
                return node
            rule, replacement = fired
            check_replacement(rule, node, replacement)
            self.on_rewrite(rule.__name__, node, replacement)
            node = replacement
        return node

    @staticmethod
    def _first_firing(rules, node):
        for rule in rules:
            replacement = rule(node)
            if replacement is not None and replacement is not node:
                return rule, replacement
        return None


def check_replacement(rule, node: Node, replacement: Node) -> None:
    same_shape = len(replacement.shape) == len(node.shape) and all(
        a == b or a is None or b is None for a, b in zip(replacement.shape, node.shape))
    if not same_shape or replacement.dtype != node.dtype:
        raise RewriteError(f"rule {rule.__name__} replaced {node.describe()} with {replacement.describe()}")


def rewrite(outputs: Sequence[Node], rules: Sequence[Rule], report) -> list[Node]:
    """Apply ``rules`` over the graph of ``outputs`` and record each firing in ``report``."""
    return Rewriter(rules, report.record).run(outputs)
