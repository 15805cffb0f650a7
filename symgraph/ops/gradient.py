"""Gradient helpers: identity in the forward pass, a gradient of their own in the backward pass.

``clip_gradient(x, lo, hi)`` clips the gradient reaching x elementwise to [lo, hi]; ``scale_gradient(x, k)``
multiplies it by k (k = -1 reverses it, as a gradient-reversal layer does). Like ``stop_gradient`` they compute
nothing (0 FLOPs; the Numba backend reads through them) and their gradients are ordinary nodes, so gradients of
gradients see the clipping or scaling too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from symgraph.graph import apply, as_node, builder, user_site
from symgraph.nn.arguments import real_number
from symgraph.ops.elementwise import IdentityForward, maximum, minimum


@dataclass(frozen=True)
class ClipGradient(IdentityForward):
    lo: float
    hi: float
    name: ClassVar[str] = "clip_gradient"

    def grad(self, node, g):
        return [minimum(maximum(g, self.lo), self.hi)]


@dataclass(frozen=True)
class ScaleGradient(IdentityForward):
    k: float
    name: ClassVar[str] = "scale_gradient"

    def grad(self, node, g):
        return [g * self.k]


def _real(value, what: str) -> float:
    number = real_number(value, what)
    if math.isnan(number):
        raise ValueError(f"{what} must not be NaN\n  at {user_site()}")
    return number


@builder
def clip_gradient(x, lo, hi, name=None):
    """Identity forward; the gradient flowing back to ``x`` is clipped elementwise to [lo, hi] (either may be
    infinite, for a one-sided clip)."""
    lo, hi = _real(lo, "clip_gradient: lo"), _real(hi, "clip_gradient: hi")
    if lo > hi:
        raise ValueError(f"clip_gradient: lo must be <= hi, got lo={lo!r} and hi={hi!r}\n  at {user_site()}")
    return apply(ClipGradient(lo, hi), as_node(x), name=name)


@builder
def scale_gradient(x, k, name=None):
    """Identity forward; the gradient flowing back to ``x`` is multiplied by ``k`` (a finite number)."""
    k = _real(k, "scale_gradient: k")
    if math.isinf(k):
        raise ValueError(f"scale_gradient: k must be finite, got {k!r}\n  at {user_site()}")
    return apply(ScaleGradient(k), as_node(x), name=name)
