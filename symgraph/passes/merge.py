"""Common-subexpression elimination: structurally identical nodes become one, and equal constants merge."""

from __future__ import annotations

from symgraph.graph import Constant, Node, toposort
from symgraph.passes.rewrite import rebuild


def constant_key(node: Constant) -> tuple:
    value = node.value
    return ("constant", value.dtype.str, value.shape, value.tobytes())


def merge(outputs, report) -> list[Node]:
    """Same op, same attributes, same (merged) inputs -> one node; equal constants -> one constant."""
    canonical: dict[tuple, Node] = {}
    mapping: dict[int, Node] = {}
    for node in toposort(list(outputs)):
        if isinstance(node, Constant):
            candidate, key = node, constant_key(node)
        elif not node.inputs:
            mapping[id(node)] = node  # variables and placeholders are distinct by identity
            continue
        else:
            candidate = rebuild(node, [mapping[id(i)] for i in node.inputs])
            key = candidate.structural_key()
        survivor = canonical.setdefault(key, candidate)
        if survivor is not candidate:
            report.record("merge", candidate, survivor)
        mapping[id(node)] = survivor
    return [mapping[id(o)] for o in outputs]
