"""Lowerings of symgraph.ops.gradient: clip_gradient and scale_gradient are the identity forward, so they are views
that the loops reading them absorb (their gradients are ordinary ops, lowered where they are defined)."""

from __future__ import annotations

from symgraph.backends.numba.lowering import register
from symgraph.backends.numba.lowering.elementwise import IDENTITY_VIEW
from symgraph.ops import gradient

register(IDENTITY_VIEW, gradient.ClipGradient, gradient.ScaleGradient)
