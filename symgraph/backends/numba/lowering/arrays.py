"""Lowerings of symgraph.ops.arrays: full_like and arange_like are scalar expressions fused into the loops (a
literal; the loop index), diagonal is a view (absorbed into the loops that read it, an ``as_strided`` view for
calls), and diagonal_grad fills zeros and writes g through that view of its output (NumPy, no Python loop)."""

from __future__ import annotations

from symgraph.backends.numba.lowering import CallLowering, ScalarLowering, ViewLowering, fill, register
from symgraph.ops import arrays as ar


def _full_like_shape(node, shapes, ctx):
    entries = [f"{shapes[0]}[{k}]" if d is None else str(d) for k, d in enumerate(node.op.shape)]
    return "(" + ", ".join(entries) + ("," if len(entries) == 1 else "") + ")"


register(ScalarLowering(lambda node, args, ctx, index: ctx.literal(node.op.value, node.dtype), _full_like_shape,
                        input_maps=lambda node, index: [None], closed=True), ar.FullLike)

register(ScalarLowering(lambda node, args, ctx, index: ctx.cast(index[0], node.dtype),
                        lambda node, shapes, ctx: f"({shapes[0]}[{node.op.axis}],)",
                        input_maps=lambda node, index: [None], reads_index=True), ar.ArangeLike)


def _diagonal_map(node, index):
    """x's index read for the diagonal's element at ``index`` (the other axes, then the position on the diagonal)."""
    op = node.op
    position, rest, mapped = index[-1], iter(index[:-1]), []
    for axis in range(node.inputs[0].ndim):
        if axis in (op.axis1, op.axis2):
            start = max(0, -op.offset) if axis == op.axis1 else max(0, op.offset)
            mapped.append(f"{position} + {start}" if start else position)
        else:
            mapped.append(next(rest))
    return tuple(mapped)


def diagonal_view(array: str, op, ndim: int) -> str:
    """An expression viewing the diagonal of ``array`` (Numba has no np.diagonal): the array sliced to where the
    diagonal starts, then strided along it (as_strided is typed by Numba and writable, for diagonal_grad)."""
    key = [":"] * ndim
    if op.offset:
        key[op.axis2 if op.offset > 0 else op.axis1] = f"{abs(op.offset)}:"
    start = f"{array}[{', '.join(key)}]"
    rest = [k for k in range(ndim) if k not in (op.axis1, op.axis2)]
    length = f"max(0, min({start}.shape[{op.axis1}], {start}.shape[{op.axis2}]))"
    shape = [f"{start}.shape[{k}]" for k in rest] + [length]
    strides = [f"{start}.strides[{k}]" for k in rest] + [f"{start}.strides[{op.axis1}] + {start}.strides[{op.axis2}]"]
    return (f"np.lib.stride_tricks.as_strided({start}, shape=({', '.join(shape)},), "
            f"strides=({', '.join(strides)},))")


def _diagonal_shape(node, shapes, ctx):
    helper = ctx.plan_helper("array_shapes", "diagonal_shape")
    op = node.op
    return f"{helper}({ctx.what(node)}, {shapes[0]}, {op.offset}, {op.axis1}, {op.axis2})"


register(ViewLowering(_diagonal_shape, _diagonal_map,
                      lambda node, arg, ctx: diagonal_view(arg, node.op, node.inputs[0].ndim)), ar.Diagonal)


def _diagonal_grad_shape(node, shapes, ctx):
    helper = ctx.plan_helper("array_shapes", "diagonal_grad_shape")
    op = node.op
    return f"{helper}({ctx.what(node)}, {shapes[0]}, {shapes[1]}, {op.offset}, {op.axis1}, {op.axis2})"


def _diagonal_grad_emit(node, args, out, ctx):
    _, g = args
    return [fill(out, node, ctx.literal(0, node.dtype)), f"{diagonal_view(out, node.op, node.ndim)}[...] = {g}"]


register(CallLowering(_diagonal_grad_shape, _diagonal_grad_emit), ar.DiagonalGrad)
