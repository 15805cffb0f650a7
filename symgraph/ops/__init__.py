"""All op builders, one module per family. Each op class holds its shape/dtype rule, NumPy reference and gradient."""

from symgraph.ops.elementwise import (
    abs, add, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, cast, cbrt, ceil, clip, cos, cosh, div,
    equal, erf, erfc, exp, exp2, expm1, floor, fmod, greater, greater_equal, hypot, isfinite, isinf, isnan, less,
    less_equal, log, log10, log1p, log2, logaddexp, logit, maximum, minimum, mod, mul, neg, not_equal, pow,
    reciprocal, relu, rsqrt, sigmoid, sign, sin, sinh, softplus, sqrt, square, stop_gradient, sub, tan, tanh, where,
)
from symgraph.ops.indexing import concatenate, index, one_hot, stack, zeros_like
from symgraph.ops.linalg import matmul
from symgraph.ops.reduce import argmax, argmin, max, mean, min, prod, size, sum
from symgraph.ops.shape import (
    broadcast_like, broadcast_to, expand_dims, reshape, squeeze, sum_to, transpose,
)
# shape, indexing and creation (issue 15)
from symgraph.ops.arrays import (
    arange, diag, diagonal, eye, flatten, flip, full, full_like, index_add, moveaxis, ones, ones_like, pad, ravel,
    repeat, roll, scatter_add, split, swapaxes, take_along_axis, tile, trace, tril, triu, zeros,
)
# reductions and products (issue 15)
from symgraph.ops.reduce import all, any, std, var
from symgraph.ops.scan import cumprod, cumsum
from symgraph.ops.products import einsum, inner, outer, tensordot
