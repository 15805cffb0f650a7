"""symgraph: a symbolic graph compiler. Build static graphs, differentiate them into new graphs, evaluate them.

Conventionally imported as ``import symgraph as sg``.
"""

from symgraph.autodiff import grad, hessian, hvp, jacobian, jvp, vjp
from symgraph.backends.numpy import evaluate
from symgraph.backends.threads import get_num_threads, set_num_threads
from symgraph.dtypes import bool_, float32, float64, int32, int64
from symgraph.errors import (
    DTypeError, EvaluationError, FeedError, GradientError, ShapeError, SymgraphError, SympyConversionError,
)
from symgraph.function import Function, function
from symgraph.data import minibatches
from symgraph.passes import optimize
from symgraph.printing.sympy_io import from_sympy, latex, to_sympy
from symgraph.graph import Node, constant, placeholder, toposort, trainable_variables, variable
from symgraph.ops import (
    abs, add, argmax, argmin, broadcast_to, cast, ceil, concatenate, cos, div, equal, exp, expand_dims, expm1, floor,
    greater, greater_equal, index, less, less_equal, log, log1p, matmul, max, maximum, mean, min, minimum, mul, neg,
    not_equal, one_hot, pow, prod, reciprocal, relu, reshape, sigmoid, sign, sin, softplus, sqrt, square, squeeze,
    stack, stop_gradient, sub, sum, tanh, transpose, where,
)

from symgraph import datasets, init, layers, nn, optim, testing  # noqa: E402  (namespaces)

__version__ = "0.1.0"

__all__ = [
    "set_num_threads", "get_num_threads",
    "Node", "constant", "variable", "placeholder", "evaluate", "toposort", "function", "Function", "optimize",
    "float32", "float64", "int32", "int64", "bool_",
    "SymgraphError", "ShapeError", "DTypeError", "FeedError", "EvaluationError", "GradientError",
    "SympyConversionError",
    "to_sympy", "latex", "from_sympy",
    "neg", "abs", "sign", "exp", "log", "log1p", "expm1", "sqrt", "square", "reciprocal", "sin", "cos", "tanh",
    "sigmoid", "relu", "softplus", "floor", "ceil",
    "add", "sub", "mul", "div", "pow", "maximum", "minimum",
    "less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "where", "cast",
    "sum", "mean", "max", "min", "prod", "argmax", "argmin",
    "matmul", "transpose", "reshape", "expand_dims", "squeeze", "broadcast_to", "concatenate", "stack", "index",
    "one_hot", "stop_gradient",
    "grad", "vjp", "jvp", "jacobian", "hessian", "hvp",
    "datasets", "init", "layers", "nn", "optim", "testing", "minibatches", "trainable_variables",
]
