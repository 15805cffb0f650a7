"""Matrix-product helpers for generated modules that BLAS cannot do: integer products (kernels/blas.py has the
floating-point ones)."""

import numpy as np


def int_matmul(a, b, out):
    """out = a @ b for integer 2-D operands (BLAS has no integer GEMM); i-k-j order keeps rows contiguous."""
    out[:, :] = 0
    for i in range(a.shape[0]):
        for k in range(a.shape[1]):
            left = a[i, k]
            for j in range(b.shape[1]):
                out[i, j] += left * b[k, j]


def batched_int_matmul(a, b, out):
    for idx in np.ndindex(out.shape[:-2]):
        int_matmul(a[idx], b[idx], out[idx])
