"""All op builders, one module per family. Each op class holds its shape/dtype rule, NumPy reference and gradient."""

from symgraph.ops.elementwise import (
    abs, add, cast, ceil, cos, div, equal, exp, expm1, floor, greater, greater_equal, less, less_equal, log, log1p,
    maximum, minimum, mul, neg, not_equal, pow, reciprocal, relu, sigmoid, sign, sin, softplus, sqrt, square, stop_gradient,
    sub, tanh, where,
)
from symgraph.ops.indexing import concatenate, index, one_hot, stack, zeros_like
from symgraph.ops.linalg import matmul
from symgraph.ops.reduce import argmax, argmin, max, mean, min, prod, size, sum
from symgraph.ops.shape import (
    broadcast_like, broadcast_to, expand_dims, reshape, squeeze, sum_to, transpose,
)
