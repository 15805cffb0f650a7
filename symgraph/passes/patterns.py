"""Small predicates that rewrite rules use to recognise patterns."""

from __future__ import annotations

import weakref

import numpy as np

from symgraph.graph import Constant, Node

# Ops whose result is a finite real number whenever their inputs are (total functions on the reals). Overflow does
# not count: a product that overflows to inf is the rounding of a finite true value, which a rewrite may improve.
TOTAL_OPS = frozenset({
    "neg", "abs", "sign", "exp", "expm1", "square", "sin", "cos", "tanh", "sigmoid", "relu", "softplus", "floor",
    "ceil", "add", "sub", "mul", "maximum", "minimum", "where", "cast", "less", "less_equal", "greater",
    "greater_equal", "equal", "not_equal", "stop_gradient", "sum", "max", "min", "prod", "argmax", "argmin", "size",
    "matmul", "transpose", "reshape", "reshape_like", "expand_dims", "squeeze", "broadcast_to", "broadcast_like",
    "sum_to", "index", "index_grad", "one_hot", "concatenate", "concatenate_part", "stack", "zeros_like", "conv2d",
    "conv2d_backprop_input", "conv2d_backprop_filter", "max_pool2d", "max_pool2d_grad", "max_pool2d_gather",
    "avg_pool2d", "avg_pool2d_grad", "softmax", "log_softmax", "random_uniform", "sparse_softmax_cross_entropy",
    "softmax_cross_entropy",
    # issue 15's total functions; tan among them: no float is an odd multiple of pi/2, so tan of a float is finite
    "tan", "sinh", "cosh", "arctan", "arctan2", "arcsinh", "exp2", "cbrt", "hypot", "logaddexp", "erf", "erfc", "clip",
    "isnan", "isinf", "isfinite",
    # shape, indexing and creation (issue 15); full_like is left out: its value may be inf or nan
    "arange_like", "diagonal", "diagonal_grad",
})
# Reductions that are finite only over a non-empty axis (the mean of no values is NaN, their logsumexp -inf).
NONEMPTY_REDUCTIONS = frozenset({"mean", "logsumexp"})
INPUT_KINDS = frozenset({"placeholder", "variable"})

_finite_verdicts: "weakref.WeakKeyDictionary[Node, bool]" = weakref.WeakKeyDictionary()


def is_op(node: Node, name: str) -> bool:
    return node.op.name == name


def constant_equal_to(node: Node, value) -> bool:
    """True when ``node`` is a constant all of whose elements equal ``value``."""
    return isinstance(node, Constant) and node.value.size > 0 and bool(np.all(node.value == value))


def same_type(a: Node, b: Node) -> bool:
    """Equal static shapes and dtypes: one can replace the other."""
    return a.shape == b.shape and a.dtype == b.dtype


def other_operand(node: Node, value) -> Node | None:
    """For a binary node with one constant operand equal to ``value``, the other operand (else None)."""
    a, b = node.inputs
    if constant_equal_to(b, value):
        return a
    if constant_equal_to(a, value):
        return b
    return None


def is_positive(node: Node) -> bool:
    """Whether every value of ``node`` is certainly > 0 (a conservative check used to guard log/exp rewrites)."""
    if isinstance(node, Constant):
        return node.value.size > 0 and bool(np.all(node.value > 0))
    if node.op.name in ("exp", "sigmoid", "softmax"):
        return True
    if node.op.name in ("add", "mul", "div"):
        return all(is_positive(i) for i in node.inputs)
    return False


def always_finite(node: Node) -> bool:
    """Whether ``node`` is certainly finite when the graph's inputs (placeholders, variables) are finite.

    True for finite constants, inputs, and total ops of such nodes; False wherever a log, sqrt, division, a
    non-integer or negative power, or any other node (a rewrite's stand-in) could make a NaN or an infinity.
    Rules that drop an operand (x - x = 0, x * 0 = 0) use it: dropping a NaN would turn it into a number.
    """
    stack = [node]
    while stack:
        current = stack[-1]
        if current in _finite_verdicts:
            stack.pop()
            continue
        pending = [i for i in _operands_to_judge(current) if i not in _finite_verdicts]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        _finite_verdicts[current] = _locally_total(current) and all(
            _finite_verdicts[i] for i in _operands_to_judge(current))
    return _finite_verdicts[node]


def _operands_to_judge(node: Node) -> tuple:
    if node.op.name == "zeros_like" or not _locally_total(node):
        return ()  # zeros whatever the input; or already known not to be total
    if node.op.name == "pow":
        return node.inputs[:1]
    if node.op.name == "div":
        return node.inputs[:1]
    return node.inputs


def _locally_total(node: Node) -> bool:
    """The node's own op is defined for every finite input it can get here."""
    name = node.op.name
    if isinstance(node, Constant):
        return node.dtype.kind != "f" or bool(np.all(np.isfinite(node.value)))
    if not node.inputs:
        return name in INPUT_KINDS
    if name in TOTAL_OPS:
        return True
    if name in NONEMPTY_REDUCTIONS:
        x = node.inputs[0]
        axes = node.op.axes if node.op.axes is not None else range(x.ndim)
        return all(x.shape[a] is not None and x.shape[a] > 0 for a in axes)
    if name == "pow":  # a non-negative integer exponent
        exponent = node.inputs[1]
        return isinstance(exponent, Constant) and bool(np.all((exponent.value >= 0) & (exponent.value % 1 == 0)))
    if name == "div":  # by a constant without zeros
        divisor = node.inputs[1]
        return isinstance(divisor, Constant) and bool(np.all(np.isfinite(divisor.value) & (divisor.value != 0)))
    return False


def matches(*op_names: str):
    """Declare which ops a rule looks at, so the engine only offers it nodes of those ops."""
    def mark(rule):
        rule.op_names = op_names
        return rule
    return mark
