"""Scheduling an optimized graph into kernels: fused loop nests and calls.

Elementwise ops (scalar lowerings) and reductions are grouped into loop nests, one per iteration space: a node joins a
loop that iterates over its shape (a reduction: over its input's shape) when everything it reads from outside that
loop is computed before it, so that ``sum(a * b)`` never materializes ``a * b`` and sibling updates sharing a gradient
run in one pass. Views (transpose, expand_dims, broadcast_to, ...) compute nothing: a loop reads through them with a
remapped index, and a call gets them as array views. Every other op is a call kernel of its own.

A loop-local value never reaches memory; a member is stored to a buffer only when something outside its loop reads
it, or reads it at another index. Members of one loop are assumed to have the loop's run-time shape wherever their
static shape has an unknown dimension (no run-time broadcasting between unknown sizes); the plan checks this at
run time, and the program falls back to a variant with guarded indices when it does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from symgraph.backends.numba.lowering import broadcast_index, lowering_of
from symgraph.graph import Constant, Node, Placeholder, Variable, toposort


@dataclass
class Loop:
    """A fused loop nest over ``space`` (a static shape); ``members`` in dependency order."""

    space: tuple
    members: list = field(default_factory=list)
    reductions: set = field(default_factory=set)  # ids of members that are reductions

    @property
    def kind(self):
        return "loop"


@dataclass
class Call:
    node: Node

    @property
    def kind(self):
        return "call"


@dataclass
class Schedule:
    """Kernels in execution order, and where each computed node lives."""

    order: list            # every node of the graph, inputs first
    kernels: list          # Loop and Call, in execution order
    kernel_of: dict        # id(node) -> index into kernels, for computed (non-view, non-leaf) nodes
    stored: set            # ids of computed nodes that need a buffer (read outside their loop, or outputs)
    views: set             # ids of view nodes
    consumers: dict        # id(node) -> list of consuming nodes


def is_leaf(node: Node) -> bool:
    return isinstance(node, (Constant, Variable, Placeholder))


def is_scalar_constant(node: Node) -> bool:
    """Size-1 constants are written into the code as literals."""
    return isinstance(node, Constant) and node.value.size == 1


def resolve(node: Node, index: tuple):
    """Follow absorbable views from ``node`` read at ``index``: the node really read, and the index it is read at.

    Returns (producer, index) where producer is not an absorbable view; ``index`` is None when some view on the way
    cannot be absorbed (then ``node`` itself must be an array)."""
    while not is_leaf(node):
        lowering = lowering_of(node.op)
        if lowering is None or lowering.kind != "view":
            break
        mapped = lowering.input_map(node, index)
        if mapped is None:
            return node, index
        node, index = node.inputs[0], tuple(mapped)
    return node, index


def loop_index(rank: int) -> tuple:
    return tuple(f"i{k}" for k in range(rank))


def at_own_element(index: tuple | None, own: tuple, space: tuple) -> bool:
    """Whether a value read at ``index`` inside a loop over ``space`` (loop index ``own``) is read at the loop's own
    element: the same index, or 0 where the loop's extent is 1 (broadcast_index reads a size-1 dimension at 0, so a
    (32, 1, 5, 5) filter's update read its scaled gradient at [i0, 0, i2, i3] and ran as a loop of its own)."""
    return index is not None and len(index) == len(own) and all(
        at == loop or (at == "0" and extent == 1) for at, loop, extent in zip(index, own, space))


def input_indices(node: Node, index: tuple) -> list:
    """Where each input of a loop member is read for the member's element at ``index`` (None: not read)."""
    lowering = lowering_of(node.op)
    if lowering.kind == "reduction":
        return [index] + [None] * (len(node.inputs) - 1)
    if lowering.input_maps is not None:
        return lowering.input_maps(node, index)
    return [broadcast_index(i.shape, index) for i in node.inputs]


def iteration_space(node: Node) -> tuple:
    lowering = lowering_of(node.op)
    return node.inputs[0].shape if lowering.kind == "reduction" else node.shape


def build_schedule(outputs: list, fuse: bool = True) -> Schedule:
    """Group the graph of ``outputs`` into kernels (``fuse=False``: one kernel per op, for debugging and tests)."""
    order = toposort(list(outputs))
    consumers: dict[int, list] = {id(n): [] for n in order}
    for node in order:
        for i in node.inputs:
            consumers[id(i)].append(node)
    order = _as_late_as_possible(order, consumers)
    kernels: list = []
    kernel_of: dict[int, int] = {}
    views: set[int] = set()
    for node in order:
        if is_leaf(node):
            continue
        kind = lowering_of(node.op).kind
        if kind == "view":
            views.add(id(node))
        elif kind == "call":
            kernel_of[id(node)] = len(kernels)
            kernels.append(Call(node))
        else:
            _place_in_loop(node, kernels, kernel_of, fuse)
    if fuse:
        kernels, kernel_of = _calls_before_independent_loops(kernels, kernel_of)
    stored = _stored_nodes(order, outputs, kernels, kernel_of)
    return Schedule(order, kernels, kernel_of, stored, views, consumers)


def _as_late_as_possible(order, consumers) -> list:
    """The schedule with each loop member moved just before its first consumer, so that a producer meets its
    consumer's loop (``0.9 * velocity`` joins the update loop after the gradient's matmul instead of running alone)."""
    position = {id(n): float(k) for k, n in enumerate(order)}
    for k in reversed(range(len(order))):
        node = order[k]
        users = consumers[id(node)]
        if users and not is_leaf(node) and lowering_of(node.op).kind in ("scalar", "reduction", "view"):
            # just before the first consumer; of two producers of one consumer, the later one stays nearer
            position[id(node)] = min(position[id(u)] for u in users) - 1e-3 * (len(order) - k) / len(order)
    return sorted(order, key=lambda n: position[id(n)])


def _place_in_loop(node, kernels, kernel_of, fuse):
    """Put a scalar or reduction node into a loop: the loop of the inputs it reads at its own index if it can, else
    any loop over the same space after everything it reads, else a new loop at the end."""
    space = iteration_space(node)
    own = loop_index(len(space))
    same, ready_after = set(), -1
    for producer, index in reads_of(node, own):
        if is_leaf(producer):
            continue
        at = kernel_of.get(id(producer), -1)
        kernel = kernels[at] if at >= 0 else None
        if (kernel is not None and kernel.kind == "loop" and at_own_element(index, own, space)
                and producer.shape == space and id(producer) not in kernel.reductions):
            same.add(at)
        else:
            ready_after = max(ready_after, at)
    target = None
    if fuse and same and max(same) > ready_after:
        target = max(same)  # the other loops it reads from come earlier: their values will be stored
    elif fuse and not same and None not in space:
        # Sibling loops over one static space (a parameter's updates sharing its gradient) run as one pass; unknown
        # sizes are not assumed equal between unrelated values.
        target = next((at for at in range(len(kernels) - 1, ready_after, -1)
                       if kernels[at].kind == "loop" and kernels[at].space == space), None)
    if target is None:
        target = len(kernels)
        kernels.append(Loop(space))
    loop = kernels[target]
    loop.members.append(node)
    if lowering_of(node.op).kind == "reduction":
        loop.reductions.add(id(node))
    kernel_of[id(node)] = target


def reads_of(node: Node, index: tuple | None):
    """(array node, index) for each input a kernel node reads: through absorbable views for a loop member read at
    ``index``; the array itself (index None) for a call or where a view cannot be absorbed."""
    result = []
    indices = input_indices(node, index) if index is not None else [None] * len(node.inputs)
    for read_index, x in zip(indices, node.inputs):
        if index is not None and read_index is None:
            continue  # an input read for its shape only
        if read_index is None:
            result.append((array_source(x), None))
            continue
        producer, resolved = resolve(x, read_index)
        if resolved is None or (not is_leaf(producer) and lowering_of(producer.op).kind == "view"):
            result.append((array_source(producer), None))
        else:
            result.append((producer, resolved))
    return result


def array_source(node: Node) -> Node:
    """The computed (or leaf) node under a chain of views: the array a view is taken of."""
    while not is_leaf(node) and lowering_of(node.op).kind == "view":
        node = node.inputs[0]
    return node


def _calls_before_independent_loops(kernels, kernel_of):
    """The kernels with each call moved before the loops just ahead of it that compute nothing it reads, so that
    loops separated only by independent calls become neighbours, compiled into one stage (a parameter's update loop
    and the next layer's gradient product: the updates of all layers end up together). Calls keep their order
    among themselves (random streams, Python callbacks)."""
    ordered = []
    for kernel in kernels:
        at = len(ordered)
        if kernel.kind == "call":
            reads = {id(producer) for producer, _ in reads_of(kernel.node, None)}
            while at > 0 and ordered[at - 1].kind == "loop" and not reads & {id(m) for m in ordered[at - 1].members}:
                at -= 1
        ordered.insert(at, kernel)
    position = {id(kernel): k for k, kernel in enumerate(ordered)}
    moved = {node_id: position[id(kernels[k])] for node_id, k in kernel_of.items()}
    return ordered, moved


def _stored_nodes(order, outputs, kernels, kernel_of) -> set:
    """Computed nodes that must be written to memory: outputs, call results, reductions, and loop members read
    outside their loop or at another index."""
    stored = {id(array_source(o)) for o in outputs if id(array_source(o)) in kernel_of}
    for at, kernel in enumerate(kernels):
        if kernel.kind == "call":
            stored.add(id(kernel.node))
            readers = [(kernel.node, None)]
        else:
            stored.update(kernel.reductions)
            readers = [(m, loop_index(len(kernel.space))) for m in kernel.members]
        for reader, index in readers:
            for producer, read_index in reads_of(reader, index):
                if is_leaf(producer):
                    continue
                home = kernel_of[id(producer)]
                if home != at or not at_own_element(read_index, index, kernel.space):
                    stored.add(id(producer))
    return stored
