"""Matrix-product helpers for generated modules: floating-point products go to BLAS through Numba's np.dot."""

import numpy as np


def matmul_into(a, b, out):
    """out = a @ b for floating-point 2-D operands; transposed operands (F-contiguous views) reach BLAS as flags.

    Called from Python, this is still Numba's BLAS (SciPy's OpenBLAS), the one the convolution kernels call: NumPy's
    own OpenBLAS is a second thread pool, and its threads spinning after a product slowed the other pool's next one
    (a CNN step mixing the two ran 2.5x slower)."""
    np.dot(a, b, out)


def int_matmul(a, b, out):
    """out = a @ b for integer 2-D operands (BLAS has no integer GEMM); i-k-j order keeps rows contiguous."""
    out[:, :] = 0
    for i in range(a.shape[0]):
        for k in range(a.shape[1]):
            left = a[i, k]
            for j in range(b.shape[1]):
                out[i, j] += left * b[k, j]


def batched_matmul(a, b, out):
    """out[idx] = a[idx] @ b[idx] over the batch indices (a and b already broadcast to out's batch shape)."""
    for idx in np.ndindex(out.shape[:-2]):
        # broadcast operands are strided views: BLAS needs them contiguous, and Numba's np.dot types its result
        # from its operands' layout, so the product goes through a temporary
        out[idx][...] = np.dot(np.ascontiguousarray(a[idx]), np.ascontiguousarray(b[idx]))


def batched_int_matmul(a, b, out):
    for idx in np.ndindex(out.shape[:-2]):
        int_matmul(a[idx], b[idx], out[idx])
