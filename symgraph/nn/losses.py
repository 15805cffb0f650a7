"""Losses and penalties. ``reduction`` is "mean" (default), "sum" or "none", as in PyTorch."""

from __future__ import annotations

from typing import Sequence

from symgraph.errors import ShapeError
from symgraph.graph import Node, apply, as_nodes, builder
from symgraph.ops import abs, softplus, square, sum
from symgraph.ops.nn import TargetsLike, loss_shape_message, reduce_losses


@builder
def sigmoid_cross_entropy(logits, targets, reduction="mean", name=None) -> Node:
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1], stable from logits.

    -t log s(z) - (1 - t) log(1 - s(z)) = softplus(z) - t z, finite for any z. Logits and targets have one shape
    (or targets are a scalar).
    """
    logits, targets = _paired("sigmoid_cross_entropy", "logits", logits, targets)
    return reduce_losses(softplus(logits) - targets * logits, reduction, name)


@builder
def mse(predictions, targets, reduction="mean", name=None) -> Node:
    """Mean squared error; predictions and targets have one shape (or targets are a scalar)."""
    predictions, targets = _paired("mse", "predictions", predictions, targets)
    return reduce_losses(square(predictions - targets), reduction, name)


@builder
def mae(predictions, targets, reduction="mean", name=None) -> Node:
    """Mean absolute error; predictions and targets have one shape (or targets are a scalar)."""
    predictions, targets = _paired("mae", "predictions", predictions, targets)
    return reduce_losses(abs(predictions - targets), reduction, name)


def _paired(loss: str, what: str, predictions, targets) -> tuple[Node, Node]:
    """The operands of a loss, which must have one shape (or the targets be a scalar), as PyTorch expects.

    Broadcasting predictions (N, 1) against targets (N,) would silently average an (N, N) matrix of errors. A
    mismatch of known sizes raises here; where unknown sizes leave it open, the targets are checked at run time.
    """
    predictions, targets = as_nodes(predictions, targets)
    if targets.ndim == 0 or (predictions.shape == targets.shape and None not in predictions.shape):
        return predictions, targets
    same_rank = predictions.ndim == targets.ndim
    if not same_rank or any(p is not None and t is not None and p != t
                            for p, t in zip(predictions.shape, targets.shape)):
        raise ShapeError(loss_shape_message(what, predictions.shape, targets.shape))
    return predictions, apply(TargetsLike(loss, what), targets, predictions)


def l2_penalty(params: Sequence[Node], scale: float = 1.0) -> Node:
    """scale / 2 * sum of squares of all ``params`` (weight decay: its gradient is scale * w)."""
    return _sum_over(params, square) * (scale / 2)


def l1_penalty(params: Sequence[Node], scale: float = 1.0) -> Node:
    """scale * sum of absolute values of all ``params`` (gradient scale * sign(w))."""
    return _sum_over(params, abs) * scale


def _sum_over(params, elementwise) -> Node:
    terms = [sum(elementwise(p)) for p in params]
    if not terms:
        raise ValueError("a penalty needs at least one parameter")
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total
