"""Lowerings of symgraph.ops.gradient: clip_gradient and scale_gradient are the identity forward, so they are views
that the loops reading them absorb (their gradients are ordinary ops, lowered where they are defined)."""

from __future__ import annotations

from symgraph.backends.numba.lowering import ViewLowering, register
from symgraph.backends.numba.lowering.elementwise import broadcast_shape
from symgraph.ops import gradient

register(ViewLowering(broadcast_shape, lambda node, index: index, lambda node, arg, ctx: arg),
         gradient.ClipGradient, gradient.ScaleGradient)
