"""Lowering of symgraph.ops.random: Philox4x64-10 draws bit-identical to the NumPy reference's.

The stream state [seed, calls] is read inside the compiled code (the seed as its 64-bit pattern, as the reference
masks it), so that one compiled module serves every call while the stream advances.
"""

from __future__ import annotations

import numpy as np

from symgraph.backends.numba.lowering import CallLowering, register
from symgraph.ops.random import RandomUniform


def _shape(node, shapes, ctx):
    state, like = shapes
    return like


def _emit(node, args, out, ctx):
    state, like = args
    helper = ctx.helper("random", f"uniform_{node.dtype.name}")
    salt = ctx.literal(node.op.salt, np.uint64)
    return [f"{helper}({state}[0], {state}[1], {salt}, {out}.reshape({out}.size))"]


register(CallLowering(_shape, _emit), RandomUniform)
