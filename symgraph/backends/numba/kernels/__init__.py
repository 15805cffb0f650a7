"""Helper kernels that generated modules call, as plain Python source: the code generator copies each helper a
module needs into it (decorated with @njit), so generated modules import nothing from symgraph."""
