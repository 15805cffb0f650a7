"""Losses and penalties. ``reduction`` is "mean" (default), "sum" or "none", as in PyTorch."""

from __future__ import annotations

from typing import Sequence

from symgraph.errors import ShapeError
from symgraph.graph import Node, apply, as_nodes, builder, user_site
from symgraph.nn.arguments import number_in
from symgraph.ops import abs, softplus, square, sum
from symgraph.ops.nn import TargetsLike, check_reduction, loss_shape_message, reduce_losses


@builder
def sigmoid_cross_entropy(logits, targets, reduction="mean", name=None) -> Node:
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1], stable from logits.

    -t log s(z) - (1 - t) log(1 - s(z)) = softplus(z) - t z, finite for any z. Logits and targets have one shape
    (or targets are a scalar).
    """
    check_reduction(reduction, "sigmoid_cross_entropy")
    logits, targets = _paired("sigmoid_cross_entropy", "logits", logits, targets)
    return reduce_losses(softplus(logits) - targets * logits, reduction, name)


@builder
def mse(predictions, targets, reduction="mean", name=None) -> Node:
    """Mean squared error; predictions and targets have one shape (or targets are a scalar)."""
    check_reduction(reduction, "mse")
    predictions, targets = _paired("mse", "predictions", predictions, targets)
    return reduce_losses(square(predictions - targets), reduction, name)


@builder
def mae(predictions, targets, reduction="mean", name=None) -> Node:
    """Mean absolute error; predictions and targets have one shape (or targets are a scalar)."""
    check_reduction(reduction, "mae")
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


@builder
def l2_penalty(params: Sequence[Node], scale: float = 1.0) -> Node:
    """scale / 2 * sum of squares of all ``params`` (weight decay: its gradient is scale * w).

    ``params`` is a node or a list of nodes (the model's variables); ``scale`` a finite number >= 0."""
    scale = number_in(scale, "l2_penalty: scale", None, 0.0)
    return _sum_over(params, square, "l2_penalty") * (scale / 2)


@builder
def l1_penalty(params: Sequence[Node], scale: float = 1.0) -> Node:
    """scale * sum of absolute values of all ``params`` (gradient scale * sign(w)); arguments as ``l2_penalty``."""
    scale = number_in(scale, "l1_penalty: scale", None, 0.0)
    return _sum_over(params, abs, "l1_penalty") * scale


def _sum_over(params, elementwise, penalty: str) -> Node:
    if isinstance(params, Node):
        params = [params]
    if not isinstance(params, (list, tuple)) or not all(isinstance(p, Node) for p in params):
        raise TypeError(f"{penalty}: params must be a node or a list of nodes (the variables to penalize), got "
                        f"{type(params).__name__} {params!r:.60}\n  at {user_site()}")
    if not params:
        raise ValueError(f"{penalty}: a penalty needs at least one parameter\n  at {user_site()}")
    terms = [sum(elementwise(p)) for p in params]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total
