"""Gradient re-derivation: a gradient that ``sg.grad`` (or vjp, jvp, hvp) built from a cost that the stabilize rules
rewrite is rebuilt from the rewritten cost, so it follows the stable ops' gradient rules (softmax - onehot).

The cost is rewritten by ``merge`` and ``stabilize`` only: their identities hold with their derivatives wherever
both sides are defined, so a re-derived gradient equals the original one (or is finite where the unstable form
overflowed). A gradient with respect to an intermediate node w is the derivative of the cost with w held as an
independent input, so the cost must not be rewritten through w (log(sigmoid x) -> -softplus(-x) no longer contains
s = sigmoid x, and sum(log s) + sum(s) would lose its 1/s). Each intermediate w is therefore cut out: the cost is
rewritten with a stand-in leaf in w's place, w is put back, and the gradient is taken with respect to w. Gradients
with respect to leaves (variables, placeholders) share one reverse pass per group. A wrt that the rewritten cost no
longer contains keeps its original gradient: re-derivation never turns a gradient into zeros.
"""

from __future__ import annotations

from typing import Callable

from symgraph.autodiff import gradient_origin, rederive
from symgraph.graph import Leaf, Node, toposort
from symgraph.passes.patterns import same_type
from symgraph.passes.rewrite import RewriteError, rebuild

STAND_IN = Leaf("stand_in")  # holds an intermediate wrt's place while the cost around it is rewritten


def rederive_gradients(outputs, context, rewrite_cost: Callable) -> list[Node]:
    """Replace the gradient nodes whose cost ``rewrite_cost`` changes by gradients of the rewritten cost.

    A reverse pass whose cost contains another one's gradients (jvp's inner vjp, hvp's inner grad) is re-derived
    after it, from the cost with those gradients re-derived.
    """
    groups, uses = _gradient_groups(outputs)
    replacements: dict[int, Node] = {}
    done: set = set()

    def process(key):
        if key in done:
            return
        done.add(key)
        for inner in uses[key]:
            process(inner)
        for node, new in _rederive_group(groups[key], rewrite_cost, replacements):
            if not same_type(new, node):
                raise RewriteError(f"re-derived gradient of {node.describe()} has another type: {new.describe()}")
            context.record("rederive_gradient", node, new)
            replacements[id(node)] = new

    for key in groups:
        process(key)
    return _substitute(list(outputs), replacements) if replacements else list(outputs)


def _gradient_groups(outputs) -> tuple[dict, dict]:
    """The gradient nodes in the graph and in the costs they come from, grouped by reverse pass (origin key); and for
    each group, the groups whose gradients its cost contains."""
    groups: dict[tuple, list] = {}
    uses: dict[tuple, set] = {}
    seen: set[int] = set()
    pending = [(None, list(outputs))]
    while pending:
        owner, graph = pending.pop()
        for node in toposort(graph):
            origin = gradient_origin(node)
            if origin is None:
                continue
            key = origin.key()
            if owner is not None and key != owner:
                uses[owner].add(key)
            if id(node) in seen:
                continue
            seen.add(id(node))
            if key not in groups:
                groups[key], uses[key] = [], set()
                pending.append((key, list(origin.outputs)))
            groups[key].append((node, origin))
    return groups, uses


def _rederive_group(members, rewrite_cost, replacements) -> list[tuple[Node, Node]]:
    """(old gradient, new gradient) pairs for one reverse pass's gradients (same outputs and seeds)."""
    origin = members[0][1]
    outputs = _substitute(list(origin.outputs), replacements)
    seeds = _substitute(list(origin.seeds), replacements)
    current = [(node, replacements.get(id(o.wrt), o.wrt)) for node, o in members]
    leaves = [(node, wrt) for node, wrt in current if not wrt.inputs]
    pairs = _rederive(origin, outputs, seeds, leaves, None, rewrite_cost) if leaves else []
    for node, wrt in current:
        if wrt.inputs:
            pairs += _rederive(origin, outputs, seeds, [(node, wrt)], wrt, rewrite_cost)
    return pairs


def _rederive(origin, outputs, seeds, pairs, cut: Node | None, rewrite_cost) -> list[tuple[Node, Node]]:
    """Re-derive ``pairs`` (gradient, wrt) from ``outputs`` rewritten with ``cut`` held opaque, unless neither the
    rewrite nor the re-derived gradients inside ``outputs`` change anything."""
    if cut is not None:
        stand_in = Node(STAND_IN, (), cut.shape, cut.dtype, cut.name, cut.site)
        outputs = _substitute(outputs, {id(cut): stand_in})
    rewritten = rewrite_cost(outputs)
    if cut is not None:
        rewritten = _substitute(rewritten, {id(stand_in): cut})
    if all(new is old for new, old in zip(rewritten, origin.outputs)):
        return []
    present = {id(node) for node in toposort(rewritten)}
    kept = [(node, wrt) for node, wrt in pairs if id(wrt) in present]
    if not kept:
        return []
    gradients = rederive(rewritten, seeds, [wrt for _, wrt in kept])
    return [(node, new) for (node, _), new in zip(kept, gradients)]


def _substitute(outputs: list, replacements: dict) -> list[Node]:
    """The graph of ``outputs`` with the nodes whose ids ``replacements`` maps replaced (the rest kept or rebuilt)."""
    if not replacements:
        return outputs
    mapping: dict[int, Node] = {}
    for node in toposort(outputs):
        replacement = replacements.get(id(node))
        mapping[id(node)] = replacement if replacement is not None else rebuild(
            node, [mapping[id(i)] for i in node.inputs])
    return [mapping[id(o)] for o in outputs]
