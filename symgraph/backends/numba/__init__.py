"""The Numba backend: a whole graph compiled into one generated, cached module of fused loops and BLAS calls.

``symgraph.backends.numba`` is imported only when a function asks for it; the IR, ops and passes never import numba.
"""

from symgraph.backends.numba.program import LoweringError, NumbaProgram

__all__ = ["NumbaProgram", "LoweringError"]
