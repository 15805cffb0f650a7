"""A compiled program cut at collective ops: compiled segments, with the collectives run from Python between them.

A collective (``Op.collective``, the gradient allreduce of data-parallel training) waits for the other processes, so
a compiled backend cannot run it inside its generated code. ``SegmentedProgram`` gives each node a level: the number
of collectives on its longest path from the leaves. Segment k computes the ordinary nodes of level k; the
collectives of level k + 1 run between segments k and k + 1, on values segment k (or an earlier one) returned.
Each segment is an ordinary program of the backend (``make_segment(outputs, inputs, title)``) over a copy of its
part of the graph, in which the values computed before it are new placeholders: a training step is two compiled
segments, the forward and backward pass up to the packed gradients, then the allreduce, then the update.

The interface is the backend's: ``compute(feeds)`` returns the outputs' values; ``source`` shows every segment's
generated code and the collectives between them.

Overlap: each collective runs when every segment before it has finished. Bucketing (several allreduces, each
started as soon as its gradients exist, as PyTorch DDP does) fits this design: a collective whose inputs are ready
early gets a lower level, so a backend that started non-blocking requests at each cut and waited for them only in
the segment that reads their results would overlap communication with the rest of the backward pass. Today every
gradient goes into one allreduce after the whole backward pass, and nothing overlaps.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from symgraph.graph import Constant, Node, Placeholder, Variable, schedule, toposort


def has_collectives(outputs: Sequence[Node]) -> bool:
    return any(node.op.collective for node in toposort(list(outputs)))


class Segment:
    """One compiled part: its program, the original nodes it returns and the placeholders that stand for the values
    it reads from earlier parts."""

    def __init__(self, program, returns: list[Node], stand_ins: dict[int, Placeholder]):
        self.program, self.returns, self.stand_ins = program, returns, stand_ins


class SegmentedProgram:
    """``outputs`` computed by segments of ``make_segment`` programs, collectives in between (see the module)."""

    def __init__(self, outputs: Sequence[Node], inputs: Sequence[Placeholder], make_segment: Callable,
                 title: str = "symgraph function"):
        self.outputs = list(outputs)
        self.inputs = list(inputs)
        order = toposort(self.outputs)
        self.placeholders = [n for n in order if isinstance(n, Placeholder)]
        level: dict[int, int] = {}
        for node in order:
            base = max((level[id(i)] for i in node.inputs), default=0)
            level[id(node)] = base + 1 if node.op.collective else base
        count = max(level.values(), default=0) + 1
        computed = [[n for n in order if n.inputs and not n.op.collective and level[id(n)] == k] for k in range(count)]
        self.collectives = [[n for n in order if n.op.collective and level[id(n)] == k] for k in range(count)]
        needed_later = _needed_outside(order, computed, self.outputs)
        self.segments: list[Segment | None] = []
        for k, nodes in enumerate(computed):
            returns = [n for n in nodes if id(n) in needed_later[k]]
            if not returns:
                self.segments.append(None)
                continue
            copies, stand_ins = _copied(returns, {id(n) for n in nodes})
            segment_title = f"{title}, segment {k + 1} of {count}"
            program = make_segment(copies, self.inputs + list(stand_ins.values()), segment_title)
            self.segments.append(Segment(program, returns, stand_ins))

    def compute(self, feeds: dict) -> list[np.ndarray]:
        values: dict[int, np.ndarray] = {}

        def value_of(node):
            if isinstance(node, (Constant, Variable)):
                return node.value
            if isinstance(node, Placeholder):
                return feeds[id(node)]
            return values[id(node)]

        for k, segment in enumerate(self.segments):
            for collective in self.collectives[k]:
                values[id(collective)] = collective.op.compute(*[value_of(i) for i in collective.inputs])
            if segment is None:
                continue
            segment_feeds = dict(feeds)
            for original_id, stand_in in segment.stand_ins.items():
                segment_feeds[id(stand_in)] = values[original_id]
            for node, value in zip(segment.returns, segment.program.compute(segment_feeds)):
                values[id(node)] = value
        results: list[np.ndarray] = []
        for output in self.outputs:
            value = value_of(output)
            if isinstance(output, (Constant, Variable, Placeholder)) or any(value is r for r in results):
                value = np.array(value, copy=True)  # outputs never alias state, feeds or each other
            results.append(value)
        return results

    @property
    def source(self) -> str:
        """Every compiled segment's source, with the collectives that run in Python between them."""
        parts = []
        for k, segment in enumerate(self.segments):
            for collective in self.collectives[k]:
                parts.append(f"# ---- in Python, between segments: {collective.op} -> {collective.describe()}")
            if segment is not None:
                parts.append(f"# ---- segment {k + 1} of {len(self.segments)}\n{segment.program.source}")
        return "\n".join(parts)

    @property
    def source_path(self) -> str | None:
        """The first compiled segment's file (``source_paths`` lists them all)."""
        paths = self.source_paths
        return paths[0] if paths else None

    @property
    def source_paths(self) -> list[str]:
        return [s.program.source_path for s in self.segments if s is not None]

    @property
    def cache_info(self):
        """The disk cache's answer for the first segment (``segment_cache_info`` has every segment's)."""
        infos = self.segment_cache_info
        return infos[0] if infos else None

    @property
    def segment_cache_info(self) -> list:
        return [s.program.cache_info for s in self.segments if s is not None]

    @property
    def profile(self):
        """Each segment's kernels, in one profile (None unless the segments profile)."""
        profiles = [s.program.profile for s in self.segments if s is not None]
        if not profiles or any(p is None for p in profiles):
            return None
        from symgraph.backends.profile import Profile

        return Profile(profiles[0].backend, [k for p in profiles for k in p.kernels], max(p.calls for p in profiles))


def _needed_outside(order, computed, outputs) -> list[set[int]]:
    """Per segment, the ids of its nodes that an output, a collective or a later segment reads."""
    segment_of = {id(n): k for k, nodes in enumerate(computed) for n in nodes}
    needed = [set() for _ in computed]
    for output in outputs:
        if id(output) in segment_of:
            needed[segment_of[id(output)]].add(id(output))
    for node in order:
        here = segment_of.get(id(node))  # None for a collective
        for i in node.inputs:
            there = segment_of.get(id(i))
            if there is not None and there != here:
                needed[there].add(id(i))
    return needed


def _copied(returns: list[Node], members: set[int]) -> tuple[list[Node], dict[int, Placeholder]]:
    """Copies of ``returns`` in which every node outside ``members`` that is not a leaf (a value an earlier segment
    or a collective computed) is a new placeholder of its shape and dtype; leaves stay themselves."""
    copies: dict[int, Node] = {}
    stand_ins: dict[int, Placeholder] = {}
    for node in schedule(returns, dependencies=lambda n: n.inputs if id(n) in members else ()):
        if not node.inputs:
            copies[id(node)] = node
        elif id(node) not in members:
            stand_ins[id(node)] = Placeholder(node.shape, node.dtype, node.name or node.op.name, node.site)
            copies[id(node)] = stand_ins[id(node)]
        else:
            copies[id(node)] = Node(node.op, tuple(copies[id(i)] for i in node.inputs), node.shape, node.dtype,
                                    node.name, node.site)
    return [copies[id(n)] for n in returns], stand_ins
