"""Matrix products of the Python stages, by NumPy's matmul (its OpenBLAS): plain Python, copied into each generated
module.

Nothing here is compiled: Numba's np.dot compiled for each layout of its operands (~0.2 s each, three per layer of a
training step), which was the largest part of a small model's cold start. NumPy's matmul hands transposed views to
BLAS as transpose flags and writes into ``out``; its OpenBLAS (0.3.31 beside SciPy's 0.3.30 in these wheels) ran the
lecture models' products 5-30% faster than SciPy's sgemm on 2 threads (the 64-row products of a CNN batch most), the
same on a square 1024 product. Both libraries are limited to symgraph's thread count (backends/threads.py).
"""

import numpy as np


def gemm_into(a, b, out, accumulate=False):
    """out = a @ b (with ``accumulate``, out += a @ b) for float32 or float64 operands and an ``out`` of their dtype,
    batch axes broadcasting as in NumPy's matmul: whatever ``out`` held, NaN included, is not read unless
    accumulating."""
    if accumulate:
        np.add(out, np.matmul(a, b), out=out)
    else:
        np.matmul(a, b, out=out)
