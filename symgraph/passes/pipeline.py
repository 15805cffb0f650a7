"""The pass registry, the default pipeline, and ``sg.optimize``.

A pass is a function ``(outputs, context) -> new outputs``. Rule-based passes are built from a list of rules.
Adding a pass means writing its module and adding one line to ``PASSES`` (and to ``DEFAULT_PIPELINE`` if it should
run by default). The default pipeline repeats until a round leaves the graph unchanged.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from symgraph.errors import SymgraphError
from symgraph.graph import Node, _output_list, user_site
from symgraph.ops.custom import inline_graph_ops
from symgraph.passes import simplify, stabilize
from symgraph.passes.constant_fold import fold_constants
from symgraph.passes.dce import eliminate_dead_nodes
from symgraph.passes.merge import merge
from symgraph.passes.rederive import rederive_gradients
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


def _stabilized(outputs):
    """The cost rewrite that gradients are re-derived from: stabilization (after merging, which its patterns need).
    The outputs unchanged unless a stabilize rule fired: merging alone gains a gradient nothing, and a reverse pass
    through merged nodes sums contributions in another order (0/0 + 1/0 is NaN, (0 + 1)/0 inf)."""
    result, report = optimize(outputs, passes=["merge", "stabilize"])
    stabilized = any(p.name == "stabilize" and p.rewrites for p in report.passes)
    return result if stabilized else list(outputs)


PASSES: dict[str, Callable] = {
    "merge": lambda outputs, context: merge(outputs, context),
    "constant_fold": rule_pass([fold_constants]),
    "simplify": lambda outputs, context: simplify_regions(rewrite(outputs, simplify.RULES, context), context),
    "stabilize": rule_pass(stabilize.RULES),
    "rederive_gradients": lambda outputs, context: rederive_gradients(outputs, context, _stabilized),
    "dce": eliminate_dead_nodes,
    "inline": lambda outputs, context: inline_graph_ops(outputs, context.record),
}

# Gradient re-derivation comes first: it needs the gradient nodes exactly as sg.grad returned them (and the nodes
# of ops from graphs, whose gradients may be overridden). Inlining them next lets every other pass see inside.
DEFAULT_PIPELINE = ["rederive_gradients", "inline", "merge", "constant_fold", "simplify", "stabilize", "merge", "dce"]


def optimize(outputs, passes=None, check: bool = False, feed_dict: Mapping | None = None):
    """Rewrite a graph; returns ``(new_outputs, report)``. Nodes you hold are never changed.

    ``passes=None`` runs the default pipeline to a fixed point; a list of pass names runs those once, in order.
    ``check=True`` evaluates every single rewrite's before and after on ``feed_dict`` (NumPy backend) and raises
    naming the first rule that changes a value: finite values beyond rounding, or where a value is NaN or infinite.
    """
    single = isinstance(outputs, Node)
    current = _output_list(outputs, "sg.optimize")
    names = _checked_passes(passes)
    if not isinstance(check, bool):
        raise TypeError(f"sg.optimize: check must be True or False, got {type(check).__name__} {check!r:.60}\n"
                        f"  at {user_site()}")
    if feed_dict is not None and not isinstance(feed_dict, Mapping):
        raise TypeError(f"sg.optimize: feed_dict must be a dict of placeholders (or their names) to arrays, or None, "
                        f"got {type(feed_dict).__name__} {feed_dict!r:.60}\n  at {user_site()}")
    checker = _Checker(feed_dict, user_site()) if check else None
    report = Report(histogram_before=op_histogram(current), outputs_before=tuple(current))
    report.nodes_before = sum(report.histogram_before.values())
    rounds = MAX_ROUNDS if passes is None else 1
    sympy_budget = Budget()
    for _ in range(rounds):
        start = current
        for name in names:
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
    report.outputs_after = tuple(current)
    return (current[0] if single else current), report


def _checked_passes(passes) -> list[str]:
    if passes is None:
        return DEFAULT_PIPELINE
    if isinstance(passes, str) or not isinstance(passes, (list, tuple)):
        raise TypeError(f"sg.optimize: passes must be a list of pass names (e.g. [{passes!r:.40}]), got "
                        f"{type(passes).__name__}; {_available()}")
    for position, name in enumerate(passes):
        if not isinstance(name, str):  # before the lookup below, which would hash it (a list: "unhashable type")
            raise TypeError(f"sg.optimize: passes must be pass names (str), but item {position} is "
                            f"{type(name).__name__} {name!r:.60}; {_available()}")
    unknown = [name for name in passes if name not in PASSES]
    if unknown:
        raise ValueError(f"sg.optimize: unknown passes {unknown}; {_available()}")
    return list(passes)


def _available() -> str:
    return f"available: {', '.join(PASSES)}\n  at {user_site()}"


class _Checker:
    """Evaluates a rewrite's before and after; finite values must agree to rounding, NaN and infinities exactly.

    A feed_dict that does not fit the nodes a rewrite touched (a placeholder they need left unfed, an unknown name,
    a value the feed rule refuses) is an error of sg.optimize's argument, named with ``site``, its call's line."""

    def __init__(self, feed_dict, site):
        self.feed_dict = dict(feed_dict or {})
        self.site = site

    def __call__(self, rule: str, before: Node, after: Node) -> None:
        from symgraph.backends.numpy import NumpyProgram, validate_feeds

        program = NumpyProgram([before, after])
        try:
            feeds = validate_feeds(self.feed_dict, program.placeholders)
        except SymgraphError as error:
            raise type(error)(f"sg.optimize: check=True evaluates rule {rule!r} on feed_dict: {error}\n"
                              f"  at {self.site}") from None
        old, new = program.compute(feeds)
        old, new = np.broadcast_arrays(np.asarray(old, np.float64), np.asarray(new, np.float64))
        tolerance = 1e-3 if before.dtype == np.float32 else 1e-7
        changes = _changes(old, new, tolerance)
        if changes:
            raise RewriteCheckError(f"rule {rule!r} changed a value: {'; '.join(changes)}\n"
                                    f"  before: {before.describe()}\n  after: {after.describe()}")


def _changes(old: np.ndarray, new: np.ndarray, tolerance: float) -> list[str]:
    """What differs between two evaluations of one node, in words (empty when nothing does)."""
    both_finite = np.isfinite(old) & np.isfinite(new)
    kinds = {
        "NaN became a number": np.isnan(old) & ~np.isnan(new),
        "a number became NaN": ~np.isnan(old) & np.isnan(new),
        "an inf became another value": np.isinf(old) & (old != new),
        "a finite value became inf": np.isfinite(old) & np.isinf(new),
        "a finite value changed": both_finite & ~np.isclose(new, old, rtol=tolerance, atol=tolerance * 1e-3),
    }
    changes = []
    for kind, where in kinds.items():
        if where.any():
            first = tuple(int(i) for i in np.argwhere(where)[0])
            changes.append(f"{kind} at {int(where.sum())} of {where.size} elements (first at index {first}: "
                           f"{old[first]!r} -> {new[first]!r})")
    return changes
