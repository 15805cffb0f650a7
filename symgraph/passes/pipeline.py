"""The pass registry, the default pipeline, and ``sg.optimize``.

A pass is a function ``(outputs, context) -> new outputs``. Rule-based passes are built from a list of rules.
Adding a pass means writing its module and adding one line to ``PASSES`` (and to ``DEFAULT_PIPELINE`` if it should
run by default). The default pipeline repeats until a round leaves the graph unchanged.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from symgraph.errors import SymgraphError
from symgraph.graph import Node
from symgraph.passes import simplify, stabilize
from symgraph.passes.constant_fold import fold_constants
from symgraph.passes.dce import eliminate_dead_nodes
from symgraph.passes.merge import merge
from symgraph.passes.report import PassReport, Report, op_histogram
from symgraph.passes.rewrite import rewrite
from symgraph.passes.sympy_regions import Budget, simplify_regions

MAX_ROUNDS = 8


class RewriteCheckError(SymgraphError, AssertionError):
    """With ``check=True``: a rewrite changed a value on the given inputs."""


class PassContext:
    """What a pass sees: its report, the pipeline's starting graph, and the optional per-rewrite checker."""

    def __init__(self, report: PassReport, round_start, checker, sympy_budget=None):
        self.report = report
        self.round_start = round_start
        self.checker = checker
        self.sympy_budget = sympy_budget

    def record(self, rule: str, before: Node, after: Node) -> None:
        if self.checker is not None:
            self.checker(rule, before, after)
        self.report.record(rule, before, after)


def rule_pass(rules) -> Callable:
    def run(outputs, context):
        return rewrite(outputs, rules, context)

    return run


def _forward_only(outputs):
    """The forward rewrites used to re-derive gradients: no recursion into gradient re-derivation."""
    result, _ = optimize(outputs, passes=["merge", "constant_fold", "simplify", "stabilize"])
    return result


PASSES: dict[str, Callable] = {
    "merge": lambda outputs, context: merge(outputs, context),
    "constant_fold": rule_pass([fold_constants]),
    "simplify": lambda outputs, context: simplify_regions(rewrite(outputs, simplify.RULES, context), context),
    "stabilize": rule_pass(stabilize.RULES),
    "rederive_gradients": lambda outputs, context: stabilize.rederive_gradients(outputs, context, _forward_only),
    "dce": eliminate_dead_nodes,
}

# Gradient re-derivation comes first: it needs the gradient nodes exactly as sg.grad returned them.
DEFAULT_PIPELINE = ["rederive_gradients", "merge", "constant_fold", "simplify", "stabilize", "merge", "dce"]


def optimize(outputs, passes=None, check: bool = False, feed_dict: Mapping | None = None):
    """Rewrite a graph; returns ``(new_outputs, report)``. Nodes you hold are never changed.

    ``passes=None`` runs the default pipeline to a fixed point; a list of pass names runs those once, in order.
    ``check=True`` evaluates every single rewrite's before and after on ``feed_dict`` (NumPy backend) and raises
    naming the first rule that changes a value (a non-finite value becoming finite counts as a fix, not a change).
    """
    single = isinstance(outputs, Node)
    current = [outputs] if single else list(outputs)
    for node in current:
        if not isinstance(node, Node):
            raise TypeError(f"sg.optimize takes a node or a list of nodes, got {type(node).__name__}")
    unknown = [name for name in (passes or []) if name not in PASSES]
    if unknown:
        raise ValueError(f"unknown passes {unknown}; available: {', '.join(PASSES)}")
    checker = _Checker(feed_dict) if check else None
    report = Report(histogram_before=op_histogram(current))
    report.nodes_before = sum(report.histogram_before.values())
    rounds = MAX_ROUNDS if passes is None else 1
    sympy_budget = Budget()
    for _ in range(rounds):
        start = current
        for name in passes or DEFAULT_PIPELINE:
            pass_report = PassReport(name, 0, op_histogram(current))
            pass_report.nodes_before = sum(pass_report.histogram_before.values())
            current = PASSES[name](current, PassContext(pass_report, start, checker, sympy_budget))
            pass_report.finish(current)
            report.passes.append(pass_report)
        if all(a is b for a, b in zip(current, start)):
            break
    report.sympy_regions_skipped = sympy_budget.skipped
    report.histogram_after = op_histogram(current)
    report.nodes_after = sum(report.histogram_after.values())
    return (current[0] if single else current), report


class _Checker:
    def __init__(self, feed_dict):
        self.feed_dict = dict(feed_dict or {})

    def __call__(self, rule: str, before: Node, after: Node) -> None:
        from symgraph.backends.numpy import evaluate

        old, new = evaluate([before, after], self.feed_dict)
        old, new = np.asarray(old, np.float64), np.asarray(new, np.float64)
        finite = np.isfinite(old)
        broken = finite & ~np.isfinite(new)
        tolerance = 1e-3 if before.dtype == np.float32 else 1e-7
        differs = finite & np.isfinite(new) & ~np.isclose(old, new, rtol=tolerance, atol=tolerance * 1e-3)
        if broken.any() or differs.any() or (np.isnan(old) & ~np.isnan(new) & False).any():
            worst = float(np.max(np.abs(np.where(finite, old - new, 0)))) if old.size else 0.0
            raise RewriteCheckError(f"rule {rule!r} changed a value (max difference {worst:g}):\n"
                                    f"  before: {before.describe()}\n  after: {after.describe()}")
