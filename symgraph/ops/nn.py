"""Softmax-family ops and fused cross-entropy losses, each stable for logits of any magnitude.

They are ops of their own (not compositions) so that their gradients are the short, stable forms
(softmax - onehot) and so that graph rewrites can recognize and produce them. Their FLOPs are those of the stable
formulas the kernels evaluate, one per elementwise step and per element reduced (``_normalizer_flops``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from symgraph import dtypes
from symgraph.errors import ShapeError
from symgraph.graph import Node, Op, apply, as_node, builder, format_shape, user_site
from symgraph.ops.base import (
    broadcast_shapes, no_flops, normalize_axes, normalize_axis, require_dtype_kind, scipy_special,
)
from symgraph.ops.elementwise import (
    add, cast, exp, floor, isfinite, log, minimum, neg, not_equal, where,
)
from symgraph.ops.indexing import one_hot
from symgraph.ops.reduce import bool_argument, mean, reduced_shape, sum
from symgraph.ops.shape import expand_dims, squeeze


@dataclass(frozen=True)
class Softmax(Op):
    axis: int
    name: ClassVar[str] = "softmax"

    def infer(self, x):
        require_dtype_kind(x, "f", "softmax input")
        return x.shape, x.dtype

    def compute(self, x):
        if not x.size:  # scipy's max-shift refuses empty arrays; the softmax of nothing is empty
            return np.empty_like(x)
        return scipy_special().softmax(x, axis=self.axis).astype(x.dtype, copy=False)

    def flops(self, node, input_shapes, output_shape):
        return 5 * math.prod(input_shapes[0])  # per element: the row's max, x - max, exp, the row's sum, / sum

    def grad(self, node, g):
        return [node * (g - sum(g * node, self.axis, keepdims=True))]  # J^T g = y * (g - <g, y>)


@dataclass(frozen=True)
class LogSoftmax(Op):
    axis: int
    name: ClassVar[str] = "log_softmax"

    def infer(self, x):
        require_dtype_kind(x, "f", "log_softmax input")
        return x.shape, x.dtype

    def compute(self, x):
        return _log_softmax(x, self.axis)

    def flops(self, node, input_shapes, output_shape):
        elements, length = math.prod(input_shapes[0]), input_shapes[0][self.axis]
        rows = elements // length if length else 0
        return _normalizer_flops(elements, rows) + elements  # (x - max) - log(sum(exp(x - max)))

    def grad(self, node, g):
        return [g - exp(node) * sum(g, self.axis, keepdims=True)]  # d log_softmax = I - softmax


@dataclass(frozen=True)
class LogSumExp(Op):
    axes: tuple | None
    keepdims: bool
    name: ClassVar[str] = "logsumexp"

    def infer(self, x):
        require_dtype_kind(x, "f", "logsumexp input")
        return reduced_shape(x.shape, self.axes, self.keepdims), x.dtype

    def compute(self, x):
        if not x.size:  # log of an empty sum: -inf over each empty axis, as NumPy's log(sum(exp(x)))
            return np.full(reduced_shape(x.shape, self.axes, self.keepdims), -np.inf, x.dtype)
        result = scipy_special().logsumexp(x, axis=self.axes, keepdims=self.keepdims)  # (1,) for a 0-d x kept
        return np.asarray(result, dtype=x.dtype).reshape(reduced_shape(x.shape, self.axes, self.keepdims))

    def flops(self, node, input_shapes, output_shape):
        elements, rows = math.prod(input_shapes[0]), math.prod(output_shape)
        return _normalizer_flops(elements, rows) + rows if elements else 0  # max + log(sum(exp(x - max)))

    def grad(self, node, g):
        x = node.inputs[0]
        if not self.keepdims:
            axes = tuple(range(x.ndim)) if self.axes is None else self.axes
            g, node = expand_dims(g, axes), expand_dims(node, axes)
        return [g * exp(x - node)]  # d logsumexp = softmax


@dataclass(frozen=True)
class SparseSoftmaxCrossEntropy(Op):
    """Per-example -log softmax(logits)[label] for integer labels; logits (..., C), labels (...)."""

    name: ClassVar[str] = "sparse_softmax_cross_entropy"

    def infer(self, logits, labels):
        require_dtype_kind(logits, "f", "logits")
        require_dtype_kind(labels, "iu", "integer labels")
        if logits.ndim < 1 or not _compatible(labels.shape, logits.shape[:-1]):
            raise ShapeError(f"labels of shape {format_shape(labels.shape)} do not match logits of shape "
                             f"{format_shape(logits.shape)} (expected {format_shape(logits.shape[:-1])})")
        if logits.shape[-1] == 0:
            raise ShapeError(f"logits of shape {format_shape(logits.shape)} have no classes: integer labels need "
                             "at least one")
        return _merge(labels.shape, logits.shape[:-1]), logits.dtype

    def compute(self, logits, labels):
        classes = logits.shape[-1]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            bad = labels.min() if labels.min() < 0 else labels.max()
            raise ValueError(f"label {bad} is outside [0, {classes})")
        log_probabilities = _log_softmax(logits, -1)
        picked = np.take_along_axis(log_probabilities, labels[..., None].astype(np.intp), axis=-1)[..., 0]
        return (-picked).astype(logits.dtype, copy=False)

    def flops(self, node, input_shapes, output_shape):
        rows = math.prod(output_shape)  # -(z[label] - max - log(sum(exp(z - max)))) per row
        return _normalizer_flops(math.prod(input_shapes[0]), rows) + 2 * rows

    def grad(self, node, g):
        logits, labels = node.inputs
        targets = one_hot(labels, logits.shape[-1], dtype=logits.dtype)
        return [expand_dims(g, -1) * (softmax(logits, -1) - targets), None]  # d/dz = softmax(z) - onehot


@dataclass(frozen=True)
class SoftmaxCrossEntropy(Op):
    """Per-example -sum(targets * log softmax(logits)) for probability (or one-hot) targets of the logits' shape."""

    name: ClassVar[str] = "softmax_cross_entropy"

    def infer(self, logits, targets):
        require_dtype_kind(logits, "f", "logits")
        require_dtype_kind(targets, "f", "probability targets")
        if logits.ndim < 1 or not _compatible(logits.shape, targets.shape):
            raise ShapeError(f"targets of shape {format_shape(targets.shape)} do not match logits of shape "
                             f"{format_shape(logits.shape)}")
        return _merge(logits.shape, targets.shape)[:-1], np.result_type(logits.dtype, targets.dtype)

    def compute(self, logits, targets):
        log_probabilities = _log_softmax(logits, -1)
        dtype = np.result_type(logits.dtype, targets.dtype)
        return np.asarray(-np.sum(targets * log_probabilities, axis=-1), dtype=dtype)

    def flops(self, node, input_shapes, output_shape):
        elements, rows = math.prod(input_shapes[0]), math.prod(output_shape)
        # -sum(t * ((z - max) - normalizer)): per element a subtraction, a product and an addition; per row a negation
        return _normalizer_flops(elements, rows) + 3 * elements + rows

    def grad(self, node, g):
        logits, targets = node.inputs
        g = expand_dims(g, -1)
        grad_logits = g * (softmax(logits, -1) * sum(targets, -1, keepdims=True) - targets)
        return [grad_logits, neg(g * log_softmax(logits, -1))]


@dataclass(frozen=True)
class TargetsLike(Op):
    """The targets of a loss, unchanged, once checked at run time to have the predictions' shape.

    Used when unknown dimensions leave the question open: broadcasting predictions (N, 1) against targets (N,)
    would silently give an (N, N) loss. ``loss`` and ``predictions`` name the loss and its first operand.
    """

    loss: str
    predictions: str
    name: ClassVar[str] = "targets_like"
    flops = no_flops  # checks shapes only

    def infer(self, targets, predictions):
        return _merge(targets.shape, predictions.shape), targets.dtype

    def compute(self, targets, predictions):
        if np.shape(targets) != np.shape(predictions):
            shapes = np.shape(predictions), np.shape(targets)
            raise ValueError(f"{self.loss}: {loss_shape_message(self.predictions, *shapes)}")
        return targets

    def grad(self, node, g):
        return [g, None]  # the identity on the targets; the predictions are only a shape reference


def loss_shape_message(predictions: str, predictions_shape, targets_shape) -> str:
    """Why a loss refuses its operands: they must have one shape (or the targets be a scalar)."""
    try:
        broadcast = format_shape(broadcast_shapes(tuple(predictions_shape), tuple(targets_shape)))
        broadcast = f"; broadcasting would silently give {broadcast}"
    except ShapeError:
        broadcast = ""
    return (f"{predictions} of shape {format_shape(tuple(predictions_shape))} and targets of shape "
            f"{format_shape(tuple(targets_shape))} must have the same shape (or the targets be a scalar){broadcast}; "
            "reshape one of them")


@dataclass(frozen=True)
class ValuesPerChannel(Op):
    """How many values batch_norm's statistics average per channel (x's size over ``axes``), at run time, as x's dtype.

    In training mode (always, or when the optional bool input is true) a count of 1 is an error, as in PyTorch: the
    unbiased batch variance would be 0 / 0 and turn the running variance into NaN.
    """

    axes: tuple
    name: ClassVar[str] = "values_per_channel"
    flops = no_flops  # reads the shape

    def infer(self, x, *training):
        return (), x.dtype

    def compute(self, x, *training):
        count = int(np.prod([np.shape(x)[a] for a in self.axes], dtype=np.int64))
        if count == 1 and (not training or bool(training[0])):
            raise ValueError(one_value_per_channel_message(np.shape(x), self.axes))
        return np.asarray(count, dtype=x.dtype)

    def grad(self, node, g):
        return [None] * len(node.inputs)  # depends only on the shape (and the mode)


def one_value_per_channel_message(shape, axes) -> str:
    return (f"batch_norm in training mode needs more than 1 value per channel (PyTorch: \"Expected more than 1 value "
            f"per channel when training\"), but the input of shape {format_shape(tuple(shape))} has 1 over axes "
            f"{tuple(axes)}; use a larger batch, or inference mode")


def _normalizer_flops(elements: int, rows: int) -> int:
    """The log-normalizers log(sum(exp(x - max))) of ``rows`` rows holding ``elements`` values in all: the max, a
    subtraction, an exp and an addition per element, a log per row (nothing for empty rows)."""
    return 4 * elements + rows if elements else 0


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """scipy's stable log_softmax in x's dtype; empty for an empty x (scipy's max-shift refuses those)."""
    if not x.size:
        return np.empty_like(x)
    return scipy_special().log_softmax(x, axis=axis).astype(x.dtype, copy=False)


def _compatible(a, b):
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _merge(a, b):
    return tuple(x if x is not None else y for x, y in zip(a, b))


@builder
def softmax(x, axis=-1, name=None) -> Node:
    """exp(x) / sum(exp(x)) along ``axis``, computed stably (the maximum is subtracted first)."""
    x = as_node(x)
    return apply(Softmax(normalize_axis(axis, x.ndim)), x, name=name)


@builder
def log_softmax(x, axis=-1, name=None) -> Node:
    """x - logsumexp(x) along ``axis``: finite even for logits of +-1e4."""
    x = as_node(x)
    return apply(LogSoftmax(normalize_axis(axis, x.ndim)), x, name=name)


@builder
def logsumexp(x, axis=None, keepdims=False, b=None, name=None) -> Node:
    """log(sum(exp(x))) over ``axis``, computed stably; with weights ``b``, log(sum(b * exp(x))) over x and b broadcast
    together (in the dtype NumPy promotes them to), as scipy.special.logsumexp(x, axis, b=b): an element whose
    weight is 0 adds nothing even where x is inf or NaN, and a negative sum gives NaN. Pass ``b`` by keyword
    (``keepdims`` is the third argument, as it was before ``b`` existed).

    Without ``b`` this is one op. With ``b`` it is a composition of existing ops (so its gradients, printing, saving
    and Numba code are theirs): shift + log(sum(b * exp(x - shift))), the shift (the logsumexp of x over the non-zero
    weights rounded down, 0 where that is not finite: piecewise constant) passing no gradient, as the value does not
    depend on it. The gradients are b * exp(x - result) for x and exp(x - result) for b, also for a zero weight where
    x is finite (JAX gives 0 there; finite differences give this), to every order."""
    x = as_node(x)
    keepdims = bool_argument(keepdims, "logsumexp's keepdims", x)
    if b is None:
        return apply(LogSumExp(normalize_axes(axis, x.ndim), keepdims), x, name=name)
    require_dtype_kind(x, "f", "logsumexp input")
    weights = as_node(b, [x])
    x = cast(x, np.result_type(x.dtype, weights.dtype))  # computed in the result's dtype, as scipy's
    weighted = not_equal(weights, 0)
    masked = where(weighted, x, -np.inf)  # scipy's rule: a zero weight drops its element, whatever x holds there
    axes = normalize_axes(axis, masked.ndim)  # of x and b broadcast together, as scipy's
    shift = floor(apply(LogSumExp(axes, True), masked))  # piecewise constant: it passes no gradient
    shift = where(isfinite(shift), shift, 0)
    # A zero weight's exponent is kept finite (0 * exp(it) = 0 is its term) so that its gradient, exp(x - shift) /
    # total, is the derivative wherever exp(x - shift) is a number of x's dtype.
    largest = float(np.log(np.finfo(x.dtype).max)) - 1
    unweighted = where(isfinite(x), minimum(x - shift, largest), -np.inf)
    total = sum(weights * exp(where(weighted, x - shift, unweighted)), axes, keepdims=keepdims)
    return add(log(total), shift if keepdims else squeeze(shift, axes), name=name)


@builder
def softmax_cross_entropy(logits, labels, reduction="mean", name=None) -> Node:
    """Cross-entropy of softmax(logits) against integer class labels, or against probability / one-hot targets.

    Fused and stable. ``reduction`` is "mean" (default, over examples), "sum" or "none" (one loss per example).
    """
    check_reduction(reduction, "softmax_cross_entropy")
    logits, labels = as_node(logits), as_node(labels)
    if dtypes.is_float(labels.dtype):
        losses = apply(SoftmaxCrossEntropy(), logits, labels)
    else:
        losses = apply(SparseSoftmaxCrossEntropy(), logits, labels)
    return reduce_losses(losses, reduction, name)


REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction, loss: str) -> str:
    """A loss's ``reduction``, one of REDUCTIONS; TypeError/ValueError naming ``loss`` and the user's line."""
    if not isinstance(reduction, str):
        raise TypeError(f"{loss}: reduction must be 'mean', 'sum' or 'none', got {type(reduction).__name__} "
                        f"{reduction!r:.60}\n  at {user_site()}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"{loss}: reduction must be 'mean', 'sum' or 'none', got {reduction!r:.60}\n"
                         f"  at {user_site()}")
    return reduction


def reduce_losses(losses: Node, reduction: str, name=None) -> Node:
    """Apply a loss ``reduction`` (checked by ``check_reduction``): "mean" over all elements, "sum", or "none"."""
    if reduction == "mean":
        return mean(losses, name=name)
    if reduction == "sum":
        return sum(losses, name=name)
    return losses
