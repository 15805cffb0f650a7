"""Matrix products of the Python stages, by SciPy's BLAS wrappers: plain Python, copied into each generated module.

Nothing here is compiled: Numba's np.dot compiled for each layout of its operands (~0.2 s each, three per layer of a
training step), which was the largest part of a small model's cold start. scipy.linalg.blas calls the same OpenBLAS
as Numba's np.dot in the convolution kernels, so one thread pool serves every product (NumPy's own OpenBLAS is a
second one, whose spinning threads slowed the other pool's next product).
"""

from scipy.linalg import blas as scipy_blas


def column_major_transpose(matrix):
    """(array, transpose flag) giving BLAS ``matrix.T`` in column-major order without a copy when it can: a
    C-contiguous matrix's .T is column-major; an F-contiguous one (a transposed view) is passed with the flag set."""
    if matrix.flags.c_contiguous:
        return matrix.T, 0
    if matrix.flags.f_contiguous:
        return matrix, 1
    return matrix.copy().T, 0


def gemm_into(a, b, out, accumulate=False):
    """out = a @ b (with ``accumulate``, out += a @ b) for 2-D float32 or float64 operands and a C-contiguous
    ``out`` of their dtype.

    Row-major ``out`` is column-major ``out.T`` = b.T @ a.T, which gemm writes in place (beta 0 unless accumulating:
    whatever ``out`` held, NaN included, is not read)."""
    if out.size == 0:
        return
    if a.shape[1] == 0:
        if not accumulate:
            out[...] = 0
        return
    gemm = scipy_blas.sgemm if out.dtype.itemsize == 4 else scipy_blas.dgemm
    first, transpose_first = column_major_transpose(b)
    second, transpose_second = column_major_transpose(a)
    result = gemm(1.0, first, second, 1.0 if accumulate else 0.0, out.T, transpose_first, transpose_second, 1)
    if result.ctypes.data != out.ctypes.data:  # gemm could not write into out (not contiguous): copy its result
        out[...] = result.T
