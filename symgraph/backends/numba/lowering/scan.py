"""Lowerings of symgraph.ops.scan: kernels over the (outer, n, inner) view of the scanned axis (a copy only when the
input is not contiguous), writing the output through the same view."""

from __future__ import annotations

from symgraph.backends.numba.lowering import CallLowering, register
from symgraph.backends.numba.lowering.nn import middle_view
from symgraph.ops import scan


def _same_shape(node, shapes, ctx):
    return shapes[0]


def _view(node, x):
    return middle_view(x, node.ndim, node.op.axis, node.op.axis + 1)


def _cumsum_emit(node, args, out, ctx):
    view, outer, n, inner = _view(node, args[0])
    return [f"{ctx.helper('scan', 'cumsum_middle')}({view}, {out}.reshape(({outer}, {n}, {inner})), "
            f"{node.op.reverse!r})"]


def _cumprod_emit(node, args, out, ctx):
    view, outer, n, inner = _view(node, args[0])
    return [f"{ctx.helper('scan', 'cumprod_middle')}({view}, {out}.reshape(({outer}, {n}, {inner})))"]


def _recurrence_shape(node, shapes, ctx):
    a, b = shapes
    ctx.check(f"{a} == {b}", node, "the multipliers' and the inputs' shapes differ")
    return b


def _recurrence_emit(node, args, out, ctx):
    a_view, outer, n, inner = _view(node, args[0])
    b_view, _, _, _ = _view(node, args[1])
    return [f"{ctx.helper('scan', 'linear_recurrence_middle')}({a_view}, {b_view}, "
            f"{out}.reshape(({outer}, {n}, {inner})), {node.op.reverse!r})"]


register(CallLowering(_same_shape, _cumsum_emit), scan.Cumsum)
register(CallLowering(_same_shape, _cumprod_emit), scan.Cumprod)
register(CallLowering(_recurrence_shape, _recurrence_emit), scan.LinearRecurrence)
