"""Losses and penalties. ``reduction`` is "mean" (default), "sum" or "none", as in PyTorch."""

from __future__ import annotations

from typing import Sequence

from symgraph.graph import Node, as_nodes, builder
from symgraph.ops import abs, softplus, square, sum
from symgraph.ops.nn import reduce_losses


@builder
def sigmoid_cross_entropy(logits, targets, reduction="mean", name=None) -> Node:
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1], stable from logits.

    -t log s(z) - (1 - t) log(1 - s(z)) = softplus(z) - t z, finite for any z.
    """
    logits, targets = as_nodes(logits, targets)
    return reduce_losses(softplus(logits) - targets * logits, reduction, name)


@builder
def mse(predictions, targets, reduction="mean", name=None) -> Node:
    """Mean squared error."""
    predictions, targets = as_nodes(predictions, targets)
    return reduce_losses(square(predictions - targets), reduction, name)


@builder
def mae(predictions, targets, reduction="mean", name=None) -> Node:
    """Mean absolute error."""
    predictions, targets = as_nodes(predictions, targets)
    return reduce_losses(abs(predictions - targets), reduction, name)


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
