"""Lowerings of symgraph.ops.nn: softmax-family kernels over (outer, n, inner) views, and the fused losses.

A softmax along ``axis`` sees its input as a C-contiguous (outer, n, inner) array (a copy only when the input is not
contiguous), each x[o, :, k] one row; logsumexp reduces a run of adjacent axes the same way, other axis sets after a
transpose that moves them last. The losses see (rows, classes) arrays. Value errors found while computing (a label
outside [0, classes), one value per channel in training mode) raise inside the compiled code, with a message
describing the node (and the user's line) written into the module when it is generated.
"""

from __future__ import annotations

from symgraph.backends.numba.lowering import CallLowering, ViewLowering, register
from symgraph.ops import nn


def _product(x: str, axes) -> str:
    return " * ".join(f"{x}.shape[{a}]" for a in axes) or "1"


def middle_view(x: str, ndim: int, first: int, stop: int) -> tuple[str, str, str, str]:
    """``x`` as a C-contiguous (outer, n, inner) array with its axes [first, stop) in the middle: the view and its
    outer, n and inner sizes."""
    outer, n, inner = (_product(x, axes) for axes in (range(first), range(first, stop), range(stop, ndim)))
    return f"np.ascontiguousarray({x}).reshape(({outer}, {n}, {inner}))", outer, n, inner


def _rows_view(x: str, ndim: int) -> tuple[str, str]:
    """``x`` (..., classes) as a C-contiguous (rows, classes) array, and the number of rows."""
    rows = _product(x, range(ndim - 1))
    return f"np.ascontiguousarray({x}).reshape(({rows}, {x}.shape[{ndim - 1}]))", rows


def _same_shape(node, shapes, ctx):
    return shapes[0]


def _softmax_emit(helper_name):
    def emit(node, args, out, ctx):
        (x,) = args
        axis = node.op.axis
        view, outer, n, inner = middle_view(x, node.ndim, axis, axis + 1)
        return [f"{ctx.helper('nn', helper_name)}({view}, {out}.reshape(({outer}, {n}, {inner})))"]
    return emit


register(CallLowering(_same_shape, _softmax_emit("softmax_middle")), nn.Softmax)
register(CallLowering(_same_shape, _softmax_emit("log_softmax_middle")), nn.LogSoftmax)


def _logsumexp_shape(node, shapes, ctx):
    (x,) = shapes
    return f"_reduced_shape({x}, {node.op.axes!r}, {node.op.keepdims!r})"


def _logsumexp_emit(node, args, out, ctx):
    """Reduced axes that are adjacent (or none, or all) are the middle of a view; others are moved last first."""
    (x,) = args
    ndim = node.inputs[0].ndim
    axes = tuple(range(ndim)) if node.op.axes is None else node.op.axes
    if not axes:
        view, outer, _, inner = middle_view(x, ndim, ndim, ndim)
    elif axes == tuple(range(axes[0], axes[-1] + 1)):
        view, outer, _, inner = middle_view(x, ndim, axes[0], axes[-1] + 1)
    else:
        kept = tuple(a for a in range(ndim) if a not in axes)
        outer, n, inner = _product(x, kept), _product(x, axes), "1"
        view = f"np.ascontiguousarray(np.transpose({x}, {kept + axes!r})).reshape(({outer}, {n}, 1))"
    return [f"{ctx.helper('nn', 'logsumexp_middle')}({view}, {out}.reshape(({outer}, {inner})))"]


register(CallLowering(_logsumexp_shape, _logsumexp_emit), nn.LogSumExp)


def _sparse_shape(node, shapes, ctx):
    logits, labels = shapes
    return f"{ctx.plan_helper('nn_shapes', 'labels_shape')}({ctx.what(node)}, {logits}, {labels})"


def _sparse_emit(node, args, out, ctx):
    logits, labels = args
    view, rows = _rows_view(logits, node.inputs[0].ndim)
    classes = node.inputs[0].shape[-1]
    message = f"{node.describe()}: a label is outside [0, {'the number of classes' if classes is None else classes})"
    helper = ctx.helper("nn", "sparse_softmax_cross_entropy_rows")
    shifted = f"np.empty({logits}.shape[{node.inputs[0].ndim - 1}], {ctx.dtype(node.inputs[0].dtype)})"
    return [f"if {helper}({view}, np.ascontiguousarray({labels}).reshape({rows}), {out}.reshape({rows}), "
            f"{shifted}) >= 0:",
            f"    raise ValueError({message!r})"]


register(CallLowering(_sparse_shape, _sparse_emit), nn.SparseSoftmaxCrossEntropy)


def _targets_shape(node, shapes, ctx):
    logits, targets = shapes
    return f"{ctx.plan_helper('nn_shapes', 'targets_shape')}({ctx.what(node)}, {logits}, {targets})"


def _dense_emit(node, args, out, ctx):
    logits, targets = args
    ndim = node.inputs[0].ndim
    logits_view, rows = _rows_view(logits, ndim)
    targets_view, _ = _rows_view(targets, ndim)
    shifted = f"np.empty({logits}.shape[{ndim - 1}], {ctx.dtype(node.inputs[0].dtype)})"
    return [f"{ctx.helper('nn', 'softmax_cross_entropy_rows')}({logits_view}, {targets_view}, {out}.reshape({rows}), "
            f"{shifted})"]


register(CallLowering(_targets_shape, _dense_emit), nn.SoftmaxCrossEntropy)


def _paired_shape(node, shapes, ctx):
    targets, predictions = shapes
    helper = ctx.plan_helper("nn_shapes", "paired_shape")
    return f"{helper}({ctx.what(node)}, {node.op.loss!r}, {node.op.predictions!r}, {predictions}, {targets})"


# The targets themselves, once the plan has checked their run-time shape: a view, absorbed into the loss's loop.
register(ViewLowering(_paired_shape, lambda node, index: index, lambda node, arg, ctx: arg), nn.TargetsLike)


def _values_per_channel_emit(node, args, out, ctx):
    x, *training = args
    count = _product(x, node.op.axes)
    one_value = f"{count} == 1" + (f" and {training[0]}[()]" if training else "")
    message = (f"{node.describe()}: batch_norm in training mode needs more than 1 value per channel (PyTorch: "
               f"\"Expected more than 1 value per channel when training\"), but its input has 1 over axes "
               f"{node.op.axes}; use a larger batch, or inference mode")
    return [f"{out}[()] = {count}", f"if {one_value}:", f"    raise ValueError({message!r})"]


register(CallLowering(lambda node, shapes, ctx: "()", _values_per_channel_emit), nn.ValuesPerChannel)
