"""Softmax-family ops and fused cross-entropy losses, each stable for logits of any magnitude.

They are ops of their own (not compositions) so that their gradients are the short, stable forms
(softmax - onehot) and so that graph rewrites can recognize and produce them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.special

from symgraph import dtypes
from symgraph.errors import ShapeError
from symgraph.graph import Node, Op, apply, as_node, builder, format_shape
from symgraph.ops.base import normalize_axes, normalize_axis, require_dtype_kind
from symgraph.ops.elementwise import exp, neg
from symgraph.ops.indexing import one_hot
from symgraph.ops.reduce import mean, sum
from symgraph.ops.shape import expand_dims


@dataclass(frozen=True)
class Softmax(Op):
    axis: int
    name: ClassVar[str] = "softmax"

    def infer(self, x):
        require_dtype_kind(x, "f", "softmax input")
        return x.shape, x.dtype

    def compute(self, x):
        return scipy.special.softmax(x, axis=self.axis).astype(x.dtype, copy=False)

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
        return scipy.special.log_softmax(x, axis=self.axis).astype(x.dtype, copy=False)

    def grad(self, node, g):
        return [g - exp(node) * sum(g, self.axis, keepdims=True)]  # d log_softmax = I - softmax


@dataclass(frozen=True)
class LogSumExp(Op):
    axes: tuple | None
    keepdims: bool
    name: ClassVar[str] = "logsumexp"

    def infer(self, x):
        require_dtype_kind(x, "f", "logsumexp input")
        reduced = range(x.ndim) if self.axes is None else self.axes
        if self.keepdims:
            return tuple(1 if i in reduced else d for i, d in enumerate(x.shape)), x.dtype
        return tuple(d for i, d in enumerate(x.shape) if i not in reduced), x.dtype

    def compute(self, x):
        return np.asarray(scipy.special.logsumexp(x, axis=self.axes, keepdims=self.keepdims), dtype=x.dtype)

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
        return _merge(labels.shape, logits.shape[:-1]), logits.dtype

    def compute(self, logits, labels):
        classes = logits.shape[-1]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            bad = labels.min() if labels.min() < 0 else labels.max()
            raise ValueError(f"label {bad} is outside [0, {classes})")
        log_probabilities = scipy.special.log_softmax(logits, axis=-1)
        picked = np.take_along_axis(log_probabilities, labels[..., None].astype(np.intp), axis=-1)[..., 0]
        return (-picked).astype(logits.dtype, copy=False)

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
        log_probabilities = scipy.special.log_softmax(logits, axis=-1)
        dtype = np.result_type(logits.dtype, targets.dtype)
        return np.asarray(-np.sum(targets * log_probabilities, axis=-1), dtype=dtype)

    def grad(self, node, g):
        logits, targets = node.inputs
        g = expand_dims(g, -1)
        grad_logits = g * (softmax(logits, -1) * sum(targets, -1, keepdims=True) - targets)
        return [grad_logits, neg(g * log_softmax(logits, -1))]


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
def logsumexp(x, axis=None, keepdims=False, name=None) -> Node:
    """log(sum(exp(x))) over ``axis``, computed stably."""
    x = as_node(x)
    return apply(LogSumExp(normalize_axes(axis, x.ndim), bool(keepdims)), x, name=name)


@builder
def softmax_cross_entropy(logits, labels, reduction="mean", name=None) -> Node:
    """Cross-entropy of softmax(logits) against integer class labels, or against probability / one-hot targets.

    Fused and stable. ``reduction`` is "mean" (default, over examples), "sum" or "none" (one loss per example).
    """
    logits, labels = as_node(logits), as_node(labels)
    if dtypes.is_float(labels.dtype):
        losses = apply(SoftmaxCrossEntropy(), logits, labels)
    else:
        losses = apply(SparseSoftmaxCrossEntropy(), logits, labels)
    return reduce_losses(losses, reduction, name)


def reduce_losses(losses: Node, reduction: str, name=None) -> Node:
    """Apply a loss ``reduction``: "mean" over all elements, "sum", or "none"."""
    if reduction == "mean":
        return mean(losses, name=name)
    if reduction == "sum":
        return sum(losses, name=name)
    if reduction == "none":
        return losses
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
