"""Matrix products: ``matmul`` with NumPy semantics (1-D operands, broadcast batch dimensions)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from symgraph import dtypes
from symgraph.errors import ShapeError
from symgraph.graph import Node, Op, apply, as_nodes, builder, format_shape
from symgraph.ops.base import broadcast_shapes
from symgraph.ops.shape import expand_dims, squeeze, transpose, unbroadcast


@dataclass(frozen=True)
class Matmul(Op):
    name: ClassVar[str] = "matmul"

    def infer(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError("matmul does not take zero-dimensional operands (use mul)")
        a_core = a.shape[-2:] if a.ndim > 1 else (1,) + a.shape
        b_core = b.shape[-2:] if b.ndim > 1 else b.shape + (1,)
        inner_a, inner_b = a_core[1], b_core[0]
        if inner_a is not None and inner_b is not None and inner_a != inner_b:
            raise ShapeError(
                f"inner dimensions differ: {format_shape(a.shape)} @ {format_shape(b.shape)} "
                f"({inner_a} != {inner_b})"
            )
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        core = ((a_core[0],) if a.ndim > 1 else ()) + ((b_core[1],) if b.ndim > 1 else ())
        return batch + core, dtypes.result_dtype(np.matmul, a.dtype, b.dtype)

    def compute(self, a, b):
        inner_a, inner_b = a.shape[-1], b.shape[-2 if b.ndim > 1 else 0]
        if inner_a != inner_b:  # sizes fed to None dimensions that do not agree
            raise ValueError(f"inner dimensions differ at run time: {a.shape} @ {b.shape} ({inner_a} != {inner_b})")
        batch_a, batch_b = a.shape[:-2], b.shape[:-2]
        if any(m != n and m != 1 and n != 1 for m, n in zip(reversed(batch_a), reversed(batch_b))):
            raise ValueError(f"batch dimensions {batch_a} and {batch_b} of {a.shape} @ {b.shape} cannot be "
                             "broadcast together at run time")
        return np.matmul(a, b)

    def flops(self, node, input_shapes, output_shape):
        # every output element is a dot product of length K: K multiply-adds (2 * M * N * K per batch element)
        return 2 * math.prod(output_shape) * input_shapes[0][-1]

    def grad(self, node, g):
        # With A and B lifted to matrices: dA = G @ B^T, dB = A^T @ G, batch axes summed back.
        a, b = node.inputs
        a2 = a if a.ndim > 1 else expand_dims(a, 0)
        b2 = b if b.ndim > 1 else expand_dims(b, 1)
        g2 = g
        if a.ndim == 1:
            g2 = expand_dims(g2, g2.ndim - (1 if b.ndim > 1 else 0))
        if b.ndim == 1:
            g2 = expand_dims(g2, g2.ndim)
        grad_a = unbroadcast(matmul(g2, _swap_last(b2)), a2, [b2.shape[:-2] + (1, 1)])
        grad_b = unbroadcast(matmul(_swap_last(a2), g2), b2, [a2.shape[:-2] + (1, 1)])
        return [grad_a if a.ndim > 1 else squeeze(grad_a, 0), grad_b if b.ndim > 1 else squeeze(grad_b, 1)]


def _swap_last(x: Node) -> Node:
    axes = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return transpose(x, axes)


@builder
def matmul(a, b, name=None) -> Node:
    """Matrix product with NumPy semantics: 1-D operands are vectors, leading dimensions broadcast as batches."""
    a, b = as_nodes(a, b)
    return apply(Matmul(), a, b, name=name)
