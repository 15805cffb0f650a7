"""Lowerings of symgraph.ops.reduce: accumulations fused into the loop nest over their input.

Accumulators run in the node's dtype (a float32 sum stays float32, as NumPy's). Max and min propagate NaN as NumPy's
do; an empty max/min is refused by the plan, as NumPy refuses it.
"""

from __future__ import annotations

import numpy as np

from symgraph.backends.numba.lowering import CallLowering, ReductionLowering, register
from symgraph.ops import reduce as rd
from symgraph.ops.shape import SumTo


def reduced_shape(node, shapes, ctx):
    (x,) = shapes
    return f"_reduced_shape({x}, {node.op.axes!r}, {node.op.keepdims!r})"


def nonempty_reduced_shape(node, shapes, ctx):
    (x,) = shapes
    ctx.check(f"_reduced_count({x}, {node.op.axes!r}) > 0", node,
              f"zero-size array to reduction operation {node.op.name}, which has no identity")
    return reduced_shape(node, shapes, ctx)


def _reduction_axes(node):
    return node.op.axes


def _extreme(dtype, largest: bool):
    if dtype.kind == "f":
        return -np.inf if largest else np.inf
    if dtype.kind == "b":
        return not largest
    info = np.iinfo(dtype)
    return info.min if largest else info.max


def _accumulate(node, acc, v, ctx):
    return f"{ctx.helper('reduce', 'accumulate')}({acc}, {v})"


def _lowering(shape, initial, combine, blocks, finish=None):
    return ReductionLowering(shape, _reduction_axes, initial, combine, finish, blocks=blocks)


register(_lowering(reduced_shape, lambda node, ctx: ctx.literal(0, node.dtype), _accumulate, "sum"), rd.Sum)
register(_lowering(reduced_shape, lambda node, ctx: ctx.literal(0, node.dtype), _accumulate, "sum",
                   lambda node, acc, count, ctx: f"{acc} / {ctx.typed(count, np.dtype('int64'), node.dtype)}"),
         rd.Mean)
register(_lowering(reduced_shape, lambda node, ctx: ctx.literal(1, node.dtype),
                   lambda node, acc, v, ctx: f"{acc} * {v}", "product"), rd.Prod)
# all/any: the input is read as bool (NaN is true, as NumPy's), the accumulator starts at all's or any's empty result;
# block partials combine as bools do under minimum (and) and maximum (or)
register(_lowering(reduced_shape, lambda node, ctx: "True", lambda node, acc, v, ctx: f"({acc} & {v})", "minimum"),
         rd.All)
register(_lowering(reduced_shape, lambda node, ctx: "False", lambda node, acc, v, ctx: f"({acc} | {v})", "maximum"),
         rd.Any)
register(_lowering(nonempty_reduced_shape, lambda node, ctx: ctx.literal(_extreme(node.dtype, True), node.dtype),
                   lambda node, acc, v, ctx: f"np.maximum({acc}, {v})", "maximum"), rd.Max)
register(_lowering(nonempty_reduced_shape, lambda node, ctx: ctx.literal(_extreme(node.dtype, False), node.dtype),
                   lambda node, acc, v, ctx: f"np.minimum({acc}, {v})", "minimum"), rd.Min)


def _sum_to_shape(node, shapes, ctx):
    x, reference = shapes
    return f"_sum_to_shape({ctx.what(node)}, {x}, {reference})"


def _sum_to_output_map(node, index, out):
    """Each output dimension follows the input's, or stays 0 where the output has size 1 (a summed axis); only
    unknown sizes are decided at run time."""
    lead = len(index) - node.ndim
    mapped = []
    for j, d in enumerate(node.shape):
        if d == 1:
            mapped.append("0")
        elif d is not None:
            mapped.append(index[lead + j])
        else:
            mapped.append(f"({index[lead + j]} if {out}.shape[{j}] != 1 else 0)")
    return tuple(mapped)


register(ReductionLowering(_sum_to_shape, lambda node: None, lambda node, ctx: ctx.literal(0, node.dtype),
                           _accumulate, output_map=_sum_to_output_map), SumTo)


def _arg_shape(node, shapes, ctx):
    (x,) = shapes
    axes = None if node.op.axis is None else (node.op.axis,)
    ctx.check(f"_reduced_count({x}, {axes!r}) > 0", node, f"attempt to get {node.op.name} of an empty sequence")
    return f"_reduced_shape({x}, {axes!r}, {node.op.keepdims!r})"


def _arg_emit(helper_name):
    def emit(node, args, out, ctx):
        (x,) = args
        helper = ctx.helper("reduce", helper_name)
        if node.op.axis is None:
            return [f"{out}.reshape(1)[0] = {helper}(np.ascontiguousarray({x}).reshape((1, {x}.size, 1)))[0, 0]"]
        axis = node.op.axis
        outer = " * ".join([f"{x}.shape[{a}]" for a in range(axis)]) or "1"
        inner = " * ".join([f"{x}.shape[{a}]" for a in range(axis + 1, node.inputs[0].ndim)]) or "1"
        view = f"np.ascontiguousarray({x}).reshape(({outer}, {x}.shape[{axis}], {inner}))"
        return [f"{out}.reshape(({outer}, {inner}))[:, :] = {helper}({view})"]
    return emit


register(CallLowering(_arg_shape, _arg_emit("argmax_middle")), rd.Argmax)
register(CallLowering(_arg_shape, _arg_emit("argmin_middle")), rd.Argmin)


def _size_emit(node, args, out, ctx):
    (x,) = args
    axes = range(node.inputs[0].ndim) if node.op.axes is None else node.op.axes
    product = " * ".join(f"{x}.shape[{a}]" for a in axes) or "1"
    return [f"{out}[()] = {product}"]


register(CallLowering(lambda node, shapes, ctx: "()", _size_emit), rd.Size)
