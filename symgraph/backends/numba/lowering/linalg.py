"""Lowering of symgraph.ops.linalg: matmul through BLAS (NumPy's matmul, called from the driver's Python stage:
nothing to compile), transposed operands passed as views.

1-D operands are lifted to matrices by size-1 axes (views), as NumPy's matmul defines them; batched products
broadcast their batch axes in the same call. Integer products, which BLAS lacks, use loop kernels.
"""

from __future__ import annotations

from symgraph.backends.numba.lowering import CallLowering, register
from symgraph.ops.linalg import Matmul


def _shape(node, shapes, ctx):
    a, b = shapes
    return f"_matmul_shape({ctx.what(node)}, {a}, {b})"


def _emit(node, args, out, ctx):
    a, b = args
    x, y = node.inputs
    dtype = node.dtype
    a = a if x.dtype == dtype else f"{a}.astype({ctx.dtype(dtype)})"
    b = b if y.dtype == dtype else f"{b}.astype({ctx.dtype(dtype)})"
    a2 = f"np.expand_dims({a}, 0)" if x.ndim == 1 else a
    b2 = f"np.expand_dims({b}, 1)" if y.ndim == 1 else b
    if x.ndim == 1 and y.ndim == 1:
        out2 = f"{out}.reshape((1, 1))"
    elif x.ndim == 1:
        out2 = f"np.expand_dims({out}, {node.ndim - 1})"
    elif y.ndim == 1:
        out2 = f"np.expand_dims({out}, {node.ndim})"
    else:
        out2 = out
    if dtype.kind == "f":
        return [f"{ctx.python_helper('blas', 'gemm_into')}({a2}, {b2}, {out2})"]
    if max(x.ndim, y.ndim) <= 2:
        return [f"{ctx.helper('linalg', 'int_matmul')}({a2}, {b2}, {out2})"]
    out_name = ctx.local("product")
    lines = [f"{out_name} = {out2}"]
    batch = f"{out_name}.shape[:-2]"
    a3 = f"np.broadcast_to({a2}, {batch} + {a2}.shape[-2:])"
    b3 = f"np.broadcast_to({b2}, {batch} + {b2}.shape[-2:])"
    return lines + [f"{ctx.helper('linalg', 'batched_int_matmul')}({a3}, {b3}, {out_name})"]


register(CallLowering(_shape, _emit), Matmul)
