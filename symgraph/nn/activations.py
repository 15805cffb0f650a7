"""Activations written as compositions of ops (their gradients follow from those ops' rules)."""

from __future__ import annotations

from symgraph.errors import ShapeError
from symgraph.graph import Node, as_node, as_nodes, builder
from symgraph.nn.arguments import number_in, positive_int
from symgraph.ops import expm1, max, reshape, where
from symgraph.ops.base import normalize_axis


@builder
def leaky_relu(x, alpha: float = 0.01, name=None) -> Node:
    """x where x > 0, else alpha * x (gradient alpha at 0, like relu'(0) = 0 taking the left branch).

    ``alpha`` is a finite number (for a learnable or per-channel slope, use ``prelu``)."""
    x = as_node(x)
    return _leaky(x, number_in(alpha, "leaky_relu: alpha", x), name)


@builder
def prelu(x, alpha, name=None) -> Node:
    """Parametric ReLU: leaky_relu with a learnable ``alpha`` (a variable broadcast against x, e.g. per channel)."""
    x, alpha = as_nodes(x, alpha)
    return _leaky(x, alpha, name)


def _leaky(x: Node, alpha, name) -> Node:
    return where(x > 0, x, x * alpha, name=name)


@builder
def elu(x, alpha: float = 1.0, name=None) -> Node:
    """x where x > 0, else alpha * (exp(x) - 1); at 0 the second branch holds (elu'(0) = alpha, as in PyTorch).

    The exponential sees x only where x <= 0 (0 elsewhere), so the unused branch never overflows; selecting with
    where instead of clamping with minimum keeps the full gradient at 0 (minimum would split it at the tie).
    """
    x = as_node(x)
    alpha = number_in(alpha, "elu: alpha", x)
    positive = x > 0
    return where(positive, x, expm1(where(positive, 0, x)) * alpha, name=name)


@builder
def maxout(x, k: int, axis: int = -1, name=None) -> Node:
    """Maxout (Goodfellow et al. 2013): the maximum over groups of ``k`` consecutive units along ``axis``."""
    x = as_node(x)
    k = positive_int(k, "maxout: k", x)
    axis = normalize_axis(axis, x.ndim)
    units = x.shape[axis]
    if units is None or units % k:
        raise ShapeError(f"maxout needs a known size divisible by k={k} along axis {axis}, got {units}")
    if sum(d is None for i, d in enumerate(x.shape) if i != axis) > 1:
        raise ShapeError("maxout supports at most one unknown dimension besides the grouped axis")
    grouped = tuple(-1 if d is None else d for d in x.shape[:axis]) + (units // k, k) + tuple(
        -1 if d is None else d for d in x.shape[axis + 1:])
    return max(reshape(x, grouped), axis=axis + 1, name=name)
