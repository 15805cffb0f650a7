"""Lowerings: how the Numba code generator emits each op. One module per op family, mirroring ``symgraph/ops``.

An op is lowered in one of four ways:

- ``ScalarLowering``: an elementwise expression of its inputs' scalar values, inlined into a fused loop nest.
- ``ReductionLowering``: an accumulation (initial value, combine, finish) run inside the loop nest over its input.
- ``ViewLowering``: no computation: an index remapping absorbed into the loops that read it (transpose,
  expand_dims, broadcast_to, ...), and an array-level view for calls that need an array.
- ``CallLowering``: statements that fill a preallocated output array from input arrays (matmul through BLAS,
  convolution, softmax, ...), usually by calling a helper kernel copied into the generated module (or, for a custom
  op without a Numba lowering, its NumPy function, passed to the module: ``lowering/custom.py``).

Every lowering also has a shape rule: Python code computing the output's run-time shape from its inputs' shapes and
checking what the op's ``infer`` could not check statically. ``LOWERINGS`` maps op classes to their lowering; the
contract test walks every op class and fails for one without a lowering.
"""

from __future__ import annotations

from typing import Callable

from symgraph.graph import Constant, Placeholder, Variable

LOWERINGS: dict[type, object] = {}


class Lowering:
    kind = ""
    # What one element costs in a fused loop, in simple vector operations (an add: 1): decides whether a loop's work
    # is worth splitting over threads (codegen.chunkable, chunking.PARALLEL_WORK).
    cost = 1

    def __init__(self, shape: Callable):
        self.shape = shape  # (node, input shape expressions, ctx) -> shape expression


class ScalarLowering(Lowering):
    """``expr(node, args, ctx, index)`` gives the scalar expression of the op from its inputs' expressions.

    ``input_maps(node, index) -> one index map per input`` says where each input is read for the output element at
    ``index`` (by default NumPy broadcasting); ``closed`` ops keep their inputs' dtype in Numba's scalar typing, so
    no cast is wrapped around them when the inputs already have the node's dtype; ``reads_index`` ops use the loop
    index in their expression (arange), so their loops keep every level (codegen.collapsible_dims).
    """

    kind = "scalar"

    def __init__(self, expr, shape, input_maps=None, closed=False, cost=1, reads_index=False):
        super().__init__(shape)
        self.expr = expr
        self.input_maps = input_maps
        self.closed = closed
        self.cost = cost
        self.reads_index = reads_index


class ReductionLowering(Lowering):
    """An accumulation over ``axes(node)`` of the input: ``initial(dtype)``, ``combine(acc, value)``,
    ``finish(acc, count)`` (count: the number of elements combined, an expression)."""

    kind = "reduction"

    def __init__(self, shape, axes, initial, combine, finish=None, output_map=None, blocks=None):
        super().__init__(shape)
        self.axes = axes
        self.initial = initial
        self.combine = combine
        self.finish = finish
        self.output_map = output_map  # (node, index, ctx) -> the output element's index; None: the reduced axes dropped
        # How block partials combine (a key of kernels/reduce.py's COMBINE_BLOCKS): needed by every reduction that can
        # reduce a whole loop (no output_map)
        self.blocks = blocks


class ViewLowering(Lowering):
    """``input_map(node, index)`` is the input's index read for output index ``index`` (None when the view cannot be
    absorbed into a loop, e.g. a general reshape); ``array(node, arg, ctx)`` is the view as an array expression,
    C-contiguous whatever its input's layout when ``contiguous``."""

    kind = "view"

    def __init__(self, shape, input_map, array, contiguous=False):
        super().__init__(shape)
        self.input_map = input_map
        self.array = array
        self.contiguous = contiguous


class CallLowering(Lowering):
    """``emit(node, args, out, ctx)`` returns statements filling the array ``out`` from the input arrays ``args``."""

    kind = "call"

    def __init__(self, shape, emit):
        super().__init__(shape)
        self.emit = emit


def register(lowering: Lowering, *op_classes: type) -> Lowering:
    for op_class in op_classes:
        if op_class in LOWERINGS:
            raise ValueError(f"{op_class.__name__} is lowered twice")
        LOWERINGS[op_class] = lowering
    return lowering


def register_choice(choose: Callable, *op_classes: type) -> None:
    """For op classes lowered differently by attribute (indexing with or without arrays): ``choose(op)`` returns the
    lowering."""
    for op_class in op_classes:
        if op_class in LOWERINGS:
            raise ValueError(f"{op_class.__name__} is lowered twice")
        LOWERINGS[op_class] = choose


def broadcast_index(shape: tuple, index: tuple) -> tuple:
    """The index of an input of ``shape`` broadcast to an output read at ``index`` (NumPy's alignment from the right)."""
    lead = len(index) - len(shape)
    return tuple("0" if d == 1 else index[lead + j] for j, d in enumerate(shape))


def fill(array: str, node, value: str) -> str:
    """A statement setting every element of ``array``: an assignment to all of it, which Numba compiles in the
    calling function (ndarray.fill is a function of its own, compiled per signature: 0.1 s of a cold start each)."""
    return f"{array}[()] = {value}" if node.ndim == 0 else f"{array}[...] = {value}"


def known_c_contiguous(node) -> bool:
    """Whether generated code always holds ``node``'s array C-contiguous: feeds (the program makes them so),
    variables, constants stored so, computed values (their buffers), and views whose lowering makes them so."""
    if isinstance(node, Constant):
        return node.value.flags.c_contiguous
    if isinstance(node, (Variable, Placeholder)):
        return True
    lowering = lowering_of(node.op)
    return lowering.kind != "view" or lowering.contiguous


def lowering_of(op) -> Lowering | None:
    entry = LOWERINGS.get(type(op))
    return entry if entry is None or isinstance(entry, Lowering) else entry(op)


def _load_families() -> None:
    """Import every family module so that their lowerings register (the order is irrelevant)."""
    from symgraph.backends.numba.lowering import (  # noqa: F401
        conv, custom, elementwise, gradient, indexing, linalg, nn, random, reduce, scan, shape,
    )
    from symgraph.backends.numba.lowering import arrays  # noqa: F401  (shape, indexing and creation, issue 15)


_load_families()
