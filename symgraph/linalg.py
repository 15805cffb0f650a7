"""``sg.linalg``: NumPy's numpy.linalg functions that symgraph has (the matrix product itself is ``sg.matmul``)."""

from symgraph.ops.norm import norm

__all__ = ["norm"]
