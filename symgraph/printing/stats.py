"""The static cost model: ``sg.stats(nodes, input_shapes=None)`` counts a graph's nodes, parameters, FLOPs and bytes
from shapes alone, before anything runs.

Each op's FLOP rule is its ``Op.flops``, beside its shape rule and NumPy reference in ``symgraph/ops/``:

- a multiply-add counts 2. matmul: 2 * M * N * K per batch element; conv2d, conv2d_backprop_input and
  conv2d_backprop_filter: 2 * N * O * Ho * Wo * C * kh * kw (stride, padding and dilation give Ho and Wo; filter
  taps over the padding count, as the im2col product computes them);
- elementwise ops: 1 per output element, whatever the function (exp, log, pow and comparisons count 1, like add);
- reductions (sum, mean, max, min, prod, argmax, argmin, sum_to): 1 per input element; pooling: 1 per window tap;
- softmax, log_softmax, logsumexp and the cross-entropies: the steps of their stable formulas (softmax: 5 per element);
- shape ops, indexing, one_hot, concatenation, casts and random numbers: 0 (index_grad's scatter-add of g through
  integer-array indices: 1 per element of g). Integer and bool arithmetic counts like floating point.
- custom ops (``sg.custom_op``): their own FLOP rule; without one, 1 per output element if elementwise, else unknown:
  their nodes are counted in ``unknown_flops`` (op name -> nodes) and not in ``flops``. An op from a graph counts
  the ops of its subgraph (an output of several shares nothing with its siblings here: inlined and merged in a
  compiled function, what they share is computed once).

Gradient nodes are those a reverse pass (``sg.grad``, vjp, jvp, ...) created, as ``symgraph.autodiff.gradient_of``
records them; every other node counts as forward, update arithmetic such as W - lr * dW included. An intermediate is
a non-leaf node, of size * itemsize bytes (views such as transposes counted as copies). ``intermediate_bytes`` is
their sum: the memory they would take if all were held at once, with no buffer reused. ``peak_bytes`` is the most
held at once when the graph runs in its schedule (``sg.toposort``) and each value is freed after its last use, as the
NumPy backend frees them (outputs are kept to the end); leaves (variables, constants, feeds) are counted in neither.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Mapping

import numpy as np

from symgraph.autodiff import gradient_of
from symgraph.backends.numpy import release_plan
from symgraph.errors import ShapeError
from symgraph.graph import (
    MAX_DIM, Node, Placeholder, Variable, _output_list, format_shape, reinferred_shapes, toposort, user_site,
)


class Stats(dict):
    """What ``sg.stats`` counted: a dict whose entries are also attributes (``s["flops"]`` is ``s.flops``);
    ``print(s)`` shows it as a table of ops by FLOPs.

    Entries: ``nodes``; ``ops`` (op name -> nodes, leaves included); ``parameters`` (elements of trainable variables);
    ``flops`` = ``forward_flops`` + ``gradient_flops``; ``gradient_nodes``; ``gradient_forward_ratio`` (None when
    there are no forward FLOPs); ``flops_by_op`` (op name -> FLOPs, ops that cost any); ``intermediate_bytes``;
    ``peak_bytes``; ``placeholder_shapes`` (name -> the shape counted for, ``input_shapes`` applied);
    ``unknown_flops`` (op name -> nodes whose cost is unknown and not counted: custom ops without a FLOP rule).
    """

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"sg.stats has no entry {key!r}; its entries: {', '.join(self)}") from None

    def __dir__(self):
        return [*super().__dir__(), *self]

    def __str__(self) -> str:
        placeholders = ", ".join(f"{label} {format_shape(shape)}" for label, shape in self.placeholder_shapes.items())
        lines = [f"sg.stats: {self.nodes:,} nodes, {self.parameters:,} parameters"
                 + (f"; placeholders {placeholders}" if placeholders else "")]
        if not self.gradient_nodes:
            ratio = "no gradient nodes"
        elif self.gradient_forward_ratio is None:
            ratio = "no forward FLOPs"
        else:
            ratio = f"gradient/forward {self.gradient_forward_ratio:.3f}"
        lines.append(f"FLOPs {self.flops:,}: forward {self.forward_flops:,}, gradient {self.gradient_flops:,} "
                     f"({ratio})")
        if self.unknown_flops:
            unknown = ", ".join(f"{op} ({count:,} node{'s' * (count != 1)})"
                                for op, count in self.unknown_flops.items())
            lines.append(f"FLOPs not counted, unknown (no FLOP rule): {unknown}")
        lines.append(f"intermediates {self.intermediate_bytes:,} bytes in all, at most {self.peak_bytes:,} held "
                     "at once")
        rows = sorted(self.ops, key=lambda op: (-self.flops_by_op.get(op, 0), -self.ops[op], op))
        width = max([len("op"), *map(len, rows)])
        lines.append("")
        lines.append(f"{'op':<{width}}  {'nodes':>7}  {'FLOPs':>17}  {'share':>7}")
        for op in rows:
            flops = self.flops_by_op.get(op, 0)
            share = f"{100 * flops / self.flops:6.2f}%" if self.flops else "-"
            lines.append(f"{op:<{width}}  {self.ops[op]:>7,}  {flops:>17,}  {share:>7}")
        return "\n".join(lines)


def stats(nodes, input_shapes=None) -> Stats:
    """Count the graph of ``nodes`` (a node or a list): nodes by op, parameters, FLOPs (forward and gradient) and
    bytes of intermediates, from static shapes, without running anything.

    ``input_shapes`` ({placeholder or its name: shape}) sets the shapes to count for; the other shapes are inferred
    again from them, each op's ``infer`` rerun, so unknown (None) dimensions are resolved. FLOPs and bytes need every
    shape: a dimension still unknown raises ShapeError naming the placeholder to give a shape for. The conventions
    are in this module's docstring (``help(symgraph.printing.stats)``).
    """
    outputs = _output_list(nodes, "sg.stats")
    order = toposort(outputs)
    placeholders = [n for n in order if isinstance(n, Placeholder)]
    shapes = _resolved_shapes(order, _given_shapes(input_shapes, placeholders))
    _require_known(order, shapes)

    flops_by_op: Counter = Counter()
    unknown_flops: Counter = Counter()
    forward_flops = gradient_flops = gradient_nodes = 0
    nbytes: dict[int, int] = {}
    for node in order:
        if not node.inputs:
            continue
        nbytes[id(node)] = math.prod(shapes[id(node)]) * node.dtype.itemsize
        cost = node.op.flops(node, [shapes[id(i)] for i in node.inputs], shapes[id(node)])
        if cost is None:
            unknown_flops[node.op.name] += 1
            cost = 0
        cost = int(cost)
        flops_by_op[node.op.name] += cost
        if gradient_of(node) is None:
            forward_flops += cost
        else:
            gradient_flops += cost
            gradient_nodes += 1

    ops = Counter(node.op.name for node in order)
    return Stats(
        nodes=len(order),
        ops=_largest_first(ops),
        parameters=sum(math.prod(n.shape) for n in order if isinstance(n, Variable) and n.trainable),
        flops=forward_flops + gradient_flops,
        forward_flops=forward_flops,
        gradient_flops=gradient_flops,
        gradient_nodes=gradient_nodes,
        gradient_forward_ratio=gradient_flops / forward_flops if forward_flops else None,
        flops_by_op=_largest_first(+flops_by_op),  # (unary + drops the ops that cost nothing)
        intermediate_bytes=sum(nbytes.values()),
        peak_bytes=_peak_bytes(order, outputs, nbytes),
        placeholder_shapes=dict(zip(_labels(placeholders), (shapes[id(p)] for p in placeholders))),
        unknown_flops=_largest_first(unknown_flops),
    )


def _largest_first(counts: Counter) -> dict:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# -- shapes ---------------------------------------------------------------------------------------------------------

def _resolved_shapes(order, given: dict) -> dict[int, tuple]:
    """Every node's shape (by id): placeholders' from ``given`` where given, others inferred again where an input's
    shape differs from its static one, the static shape otherwise."""
    def refused(node, input_shapes, error):
        listed = ", ".join(format_shape(s) for s in input_shapes)
        return ShapeError(f"sg.stats: with the input_shapes given, the inputs of {node.describe()} would have "
                          f"shapes {listed}, which it refuses: {error}\n  at {user_site()}")

    return reinferred_shapes(order, given, refused)


def _given_shapes(input_shapes, placeholders) -> dict[int, tuple]:
    """``input_shapes`` checked, by placeholder id: keys are placeholders or their names, shapes fit the
    placeholders' ranks and known dimensions (a placeholder the graph does not hold may be given, and is checked)."""
    if input_shapes is None:
        return {}
    if not isinstance(input_shapes, Mapping):
        raise TypeError(f"sg.stats: input_shapes must be a mapping (a dict) from placeholders or their names to "
                        f"shapes, or None, got {type(input_shapes).__name__} {input_shapes!r:.60}\n  at {user_site()}")
    given: dict[int, tuple] = {}
    for key, shape in input_shapes.items():
        placeholder = _placeholder_for(key, placeholders)
        if id(placeholder) in given:
            raise ValueError(f"sg.stats: input_shapes gives the shape of {placeholder.describe()} twice (by node and "
                             f"by name)\n  at {user_site()}")
        given[id(placeholder)] = _checked_shape(placeholder, shape)
    return given


def _placeholder_for(key, placeholders) -> Placeholder:
    if isinstance(key, str):
        named = [p for p in placeholders if p.name == key]
        if len(named) != 1:
            known = ", ".join(repr(p.name) for p in placeholders if p.name) or "none has a name"
            problem = (f"names no placeholder of the graph (its placeholders: {known})" if not named else
                       f"is ambiguous: {len(named)} placeholders have that name; give the nodes as keys")
            raise ValueError(f"sg.stats: input_shapes key {key!r} {problem}\n  at {user_site()}")
        return named[0]
    if isinstance(key, Placeholder):
        return key
    if isinstance(key, Node):
        raise ValueError(f"sg.stats: input_shapes keys must be placeholders or their names, but one is a "
                         f"{key.describe()}; the other nodes' shapes follow from the placeholders'\n  at {user_site()}")
    raise TypeError(f"sg.stats: input_shapes keys must be placeholders or their names, got {type(key).__name__} "
                    f"{key!r:.60}\n  at {user_site()}")


def _checked_shape(placeholder: Placeholder, shape) -> tuple:
    """A shape given for ``placeholder``: an int (1-D) or a tuple or list of sizes that fits it."""
    what = f"sg.stats: input_shapes gives {placeholder.describe()}"
    dims = (shape,) if _is_int(shape) else shape
    if not isinstance(dims, (tuple, list)) or not all(_is_int(d) for d in dims):
        raise TypeError(f"{what} the shape {shape!r:.60}; a shape is a tuple of ints (sizes to count for, no None)\n"
                        f"  at {user_site()}")
    dims = tuple(int(d) for d in dims)
    if any(not 0 <= d <= MAX_DIM for d in dims):
        raise ShapeError(f"{what} the shape {dims!r:.80}: sizes must be between 0 and {MAX_DIM}\n  at {user_site()}")
    if len(dims) != placeholder.ndim:
        raise ShapeError(f"{what} the shape {format_shape(dims)} of rank {len(dims)}, but the placeholder has rank "
                         f"{placeholder.ndim}\n  at {user_site()}")
    for axis, (size, static) in enumerate(zip(dims, placeholder.shape)):
        if static is not None and size != static:
            raise ShapeError(f"{what} the shape {format_shape(dims)}, but its dimension {axis} is {static}, not "
                             f"{size}\n  at {user_site()}")
    return dims


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _require_known(order, shapes) -> None:
    """FLOPs and bytes need every computed node's shape and its inputs': raise naming the placeholders to give."""
    for node in order:
        if not node.inputs or all(None not in shapes[id(n)] for n in (node, *node.inputs)):
            continue
        unknown = [p for p in toposort([node]) if isinstance(p, Placeholder) and None in shapes[id(p)]]
        if None in shapes[id(node)]:
            what = f"shape {format_shape(shapes[id(node)])}"
        else:
            what = "an input of shape " + next(format_shape(shapes[id(i)]) for i in node.inputs
                                               if None in shapes[id(i)])
        example = ", ".join(f"{repr(p.name) if p.name else 'placeholder'}: "
                            + format_shape(tuple("N" if d is None else d for d in shapes[id(p)])) for p in unknown)
        listed = "\n    ".join(p.describe() for p in unknown)
        raise ShapeError(f"sg.stats: counting FLOPs and bytes needs every shape, but {node.describe()} has {what}; "
                         f"give the unknown dimensions of\n    {listed}\n  with input_shapes, e.g. "
                         f"sg.stats(..., input_shapes={{{example}}}) with N the size to count for\n  at {user_site()}")


def _labels(placeholders) -> list[str]:
    """Placeholders' names for printing: the name, with the creation site where names repeat or are missing."""
    names = Counter(p.name for p in placeholders)
    return [p.name if p.name and names[p.name] == 1 else f"{p.name or 'placeholder'} at {p.site}"
            for p in placeholders]


def _peak_bytes(order, outputs, nbytes: dict[int, int]) -> int:
    """The most intermediate bytes held at once, run in ``order`` with the NumPy backend's releases."""
    held = peak = 0
    for node, released in zip(order, release_plan(order, outputs)):
        held += nbytes.get(id(node), 0)
        peak = max(peak, held)
        held -= sum(nbytes.get(i, 0) for i in released)
    return peak
