"""symgraph: a symbolic graph compiler. Build static graphs, differentiate them into new graphs, evaluate them.

Conventionally imported as ``import symgraph as sg``.
"""

from symgraph.autodiff import grad, hessian, hvp, jacobian, jvp, vjp
from symgraph.backends.numpy import evaluate
from symgraph.backends.threads import get_num_threads, set_num_threads
from symgraph.dtypes import bool_, float32, float64, int32, int64
from symgraph.errors import (
    DTypeError, EvaluationError, FeedError, FormatError, GradientError, GraphvizError, PythonCallbackWarning,
    ShapeError, SymgraphError, SympyConversionError,
)
from symgraph.function import Function, function
from symgraph.data import minibatches
from symgraph.passes import optimize
from symgraph.printing.stats import stats
from symgraph.printing.dot import to_dot, to_networkx
from symgraph.printing.render import GraphView, graph_view, render
from symgraph.printing.sympy_io import from_sympy, latex, to_sympy
from symgraph.printing.text import debugprint, pprint
from symgraph.graph import Node, constant, placeholder, toposort, trainable_variables, variable
from symgraph.ops import (
    abs, add, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, argmax, argmin, broadcast_to, cast, cbrt,
    ceil, clip, concatenate, cos, cosh, div, equal, erf, erfc, exp, exp2, expand_dims, expm1, floor, fmod, greater,
    greater_equal, hypot, index, isfinite, isinf, isnan, less, less_equal, log, log10, log1p, log2, logaddexp, logit,
    matmul, max, maximum, mean, min, minimum, mod, mul, neg, not_equal, one_hot, pow, prod, reciprocal, relu, reshape,
    rsqrt, sigmoid, sign, sin, sinh, softplus, sqrt, square, squeeze, stack, stop_gradient, sub, sum, tan, tanh,
    transpose, where,
)
from symgraph.ops.custom import custom_op, op_from_graph
from symgraph.ops.gradient import clip_gradient, scale_gradient
# shape, indexing and creation (issue 15)
from symgraph.ops import (
    arange, diag, diagonal, eye, flatten, flip, full, full_like, index_add, moveaxis, ones, ones_like, pad, ravel,
    repeat, roll, scatter_add, split, swapaxes, take_along_axis, tile, trace, tril, triu, zeros, zeros_like,
)
# reductions and products (issue 15)
from symgraph.ops import all, any, cumprod, cumsum, einsum, inner, outer, std, tensordot, var
from symgraph.ops.nn import logsumexp

from symgraph.io import load, load_variables, read_metadata, save, save_variables

from symgraph import datasets, init, io, layers, nn, optim, testing  # noqa: E402  (namespaces)
from symgraph import linalg  # noqa: E402  (reductions and products, issue 15)

__version__ = "0.1.0"

__all__ = [
    "set_num_threads", "get_num_threads",
    "Node", "constant", "variable", "placeholder", "evaluate", "toposort", "function", "Function", "optimize",
    "stats",
    "float32", "float64", "int32", "int64", "bool_",
    "SymgraphError", "ShapeError", "DTypeError", "FeedError", "EvaluationError", "GradientError", "GraphvizError",
    "PythonCallbackWarning", "FormatError", "SympyConversionError",
    "to_sympy", "latex", "from_sympy",
    "neg", "abs", "sign", "exp", "log", "log1p", "expm1", "sqrt", "square", "reciprocal", "sin", "cos", "tanh",
    "sigmoid", "relu", "softplus", "floor", "ceil",
    "tan", "sinh", "cosh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "exp2", "log2", "log10",
    "cbrt", "rsqrt", "logit", "erf", "erfc", "isnan", "isinf", "isfinite",
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "arctan2", "hypot", "logaddexp", "mod", "fmod",
    "less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "where", "clip", "cast",
    "sum", "mean", "max", "min", "prod", "argmax", "argmin",
    "matmul", "transpose", "reshape", "expand_dims", "squeeze", "broadcast_to", "concatenate", "stack", "index",
    "one_hot", "stop_gradient", "clip_gradient", "scale_gradient", "custom_op", "op_from_graph",
    "grad", "vjp", "jvp", "jacobian", "hessian", "hvp",
    "to_networkx", "to_dot", "render", "graph_view", "GraphView",
    "debugprint", "pprint",
    "datasets", "init", "layers", "nn", "optim", "testing", "minibatches", "trainable_variables",
    "save", "load", "save_variables", "load_variables", "read_metadata", "io",
    # shape, indexing and creation (issue 15)
    "flatten", "ravel", "moveaxis", "swapaxes", "flip", "roll", "tile", "repeat", "split", "pad", "tril", "triu",
    "diag", "diagonal", "trace", "take_along_axis", "scatter_add", "index_add",
    "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "arange", "eye",
    # reductions and products (issue 15)
    "var", "std", "all", "any", "cumsum", "cumprod", "logsumexp", "outer", "inner", "tensordot", "einsum", "linalg",
]
