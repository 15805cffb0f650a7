"""What an optimization did: per pass, the rewrites applied and the graph's size and op histogram before/after."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from symgraph.graph import Node, toposort


@dataclass(frozen=True)
class Rewrite:
    """One rule firing: which rule, on which node (described), and what replaced it (the nodes themselves too, for
    the before/after view)."""

    rule: str
    before: str
    after: str
    before_node: Node | None = field(default=None, compare=False, repr=False)
    after_node: Node | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.rule}: {self.before} -> {self.after}"


def op_histogram(outputs) -> Counter:
    return Counter(node.op.name for node in toposort(list(outputs)))


@dataclass
class PassReport:
    name: str
    nodes_before: int
    histogram_before: Counter
    rewrites: list = field(default_factory=list)
    nodes_after: int = 0
    histogram_after: Counter = field(default_factory=Counter)
    dropped: int = 0  # nodes of the round's starting graph no longer reachable (the dce pass)

    def record(self, rule: str, before: Node, after: Node) -> None:
        self.rewrites.append(Rewrite(rule, _brief(before), _brief(after), before, after))

    def finish(self, outputs) -> None:
        self.histogram_after = op_histogram(outputs)
        self.nodes_after = sum(self.histogram_after.values())

    @property
    def changed(self) -> bool:
        return bool(self.rewrites) or self.dropped > 0

    def __str__(self) -> str:
        if self.dropped:
            kept = self.nodes_before - self.dropped
            summary = (f"{self.name}: the round started with {self.nodes_before} nodes and ends with "
                       f"{self.nodes_after}: {self.dropped} of its starting nodes were rewritten away and are no "
                       f"longer computed, {self.nodes_after - kept} nodes are new")
        else:
            summary = f"{self.name}: {self.nodes_before} -> {self.nodes_after} nodes, {len(self.rewrites)} rewrites"
        lines = [summary]
        for rule, count in Counter(r.rule for r in self.rewrites).most_common():
            lines.append(f"    {count:4d} x {rule}")
        return "\n".join(lines)


@dataclass
class Report:
    """The whole optimization: one PassReport per pass run, in order (the pipeline repeats to a fixed point)."""

    passes: list = field(default_factory=list)
    nodes_before: int = 0
    nodes_after: int = 0
    histogram_before: Counter = field(default_factory=Counter)
    histogram_after: Counter = field(default_factory=Counter)
    sympy_regions_skipped: int = 0  # regions left unsimplified by the sympy time limits
    outputs_before: tuple = ()  # the graph given to sg.optimize (its outputs), for before/after views
    outputs_after: tuple = ()  # the optimized outputs

    @property
    def rewrites(self) -> list:
        return [r for p in self.passes for r in p.rewrites]

    @property
    def rule_counts(self) -> Counter:
        """How often each rule fired."""
        return Counter(r.rule for r in self.rewrites)

    def before_after(self, style: str = "pprint") -> str:
        """The graph before and after optimization as text, ``style`` "pprint" (math with let bindings) or
        "debugprint" (trees), then every rewrite in the order it fired: ``[pass] rule: before -> after`` (the pass
        name is the one ``passes=`` takes)."""
        from symgraph.printing.text import before_after_text  # printing reads passes, never the reverse at import

        return before_after_text(self, style)

    def __str__(self) -> str:
        lines = [f"optimized {self.nodes_before} -> {self.nodes_after} nodes in {len(self.passes)} pass runs, "
                 f"{len(self.rewrites)} rewrites"]
        lines += [f"  {p}".replace("\n", "\n  ") for p in self.passes if p.changed]
        changed_ops = sorted(set(self.histogram_before) | set(self.histogram_after))
        deltas = [f"{op} {self.histogram_before[op]}->{self.histogram_after[op]}" for op in changed_ops
                  if self.histogram_before[op] != self.histogram_after[op]]
        if deltas:
            lines.append("  ops: " + ", ".join(deltas))
        if self.sympy_regions_skipped:
            lines.append(f"  sympy time limits: {self.sympy_regions_skipped} elementwise regions left as they were")
        return "\n".join(lines)


def _brief(node: Node) -> str:
    name = f" {node.name!r}" if node.name else ""
    inputs = ", ".join(i.op.name for i in node.inputs)
    return f"{node.op}{name}({inputs}) at {node.site}"
