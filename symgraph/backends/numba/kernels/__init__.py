"""Helper kernels that generated modules call, as plain Python source: most modules become kernel files whose
functions are @njit (codegen.kernel_file); blas.py, conv_gemm.py and the plan's shape rules (shapes.py, *_shapes.py)
are copied into each module as plain Python. Either way generated modules import nothing from symgraph."""
