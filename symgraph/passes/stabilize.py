"""Numerical stabilization: unstable patterns become the stable ops that compute the same function.

The rules cover forward expressions. Gradients that ``sg.grad`` built from an unstable cost are then re-derived from
the stabilized cost (``rederive.py``), so they follow the stable ops' gradient rules too. Each rule is an identity
on the whole real domain, with its derivative: at an infinite or NaN input both sides give the same value, and only
where the unstable form over- or underflows does the stable one give a finite result instead.
"""

from __future__ import annotations

from symgraph.graph import apply
from symgraph.ops import expm1, log1p, neg, softplus, sigmoid
from symgraph.ops import sum as reduce_sum
from symgraph.ops.nn import SoftmaxCrossEntropy, SparseSoftmaxCrossEntropy, log_softmax, logsumexp, softmax
from symgraph.passes.patterns import matches, constant_equal_to, is_op, other_operand, same_type


@matches("log")
def log_of_softmax(node):  # log(softmax(x)) = log_softmax(x)
    if is_op(node, "log") and is_op(node.inputs[0], "softmax"):
        inner = node.inputs[0]
        return log_softmax(inner.inputs[0], inner.op.axis)


@matches("div")
def softmax_by_hand(node):  # exp(z) / sum(exp(z), axis, keepdims=True) = softmax(z, axis)
    if not is_op(node, "div"):
        return None
    numerator, denominator = node.inputs
    if is_op(denominator, "expand_dims") and is_op(denominator.inputs[0], "sum"):
        total, kept = denominator.inputs[0], denominator.op.axes == denominator.inputs[0].op.axes
    else:
        total, kept = denominator, is_op(denominator, "sum") and denominator.op.keepdims
    if (is_op(numerator, "exp") and kept and total.inputs[0] is numerator and total.op.axes is not None
            and len(total.op.axes) == 1 and same_type(numerator, node)):
        return softmax(numerator.inputs[0], total.op.axes[0])


@matches("sum")
def cross_entropy_by_hand(node):  # sum(t * log_softmax(z), axes with the class axis) = -sum(cross_entropy(z, t))
    if not is_op(node, "sum") or node.op.keepdims or not is_op(node.inputs[0], "mul"):
        return None
    a, b = node.inputs[0].inputs
    targets, scores = (a, b) if is_op(b, "log_softmax") else (b, a)
    if not is_op(scores, "log_softmax") or scores.op.axis != scores.ndim - 1 or targets.shape != scores.shape:
        return None
    axes = node.op.axes if node.op.axes is not None else tuple(range(scores.ndim))
    if scores.ndim - 1 not in axes:
        return None
    logits = scores.inputs[0]
    if is_op(targets, "one_hot") and targets.op.depth == scores.shape[-1] and targets.dtype == logits.dtype:
        per_example = apply(SparseSoftmaxCrossEntropy(), logits, targets.inputs[0])
    elif targets.dtype.kind == "f":
        per_example = apply(SoftmaxCrossEntropy(), logits, targets)
    else:
        return None
    rest = tuple(axis for axis in axes if axis != scores.ndim - 1)
    total = reduce_sum(per_example, rest) if rest else per_example
    result = neg(total)
    return result if same_type(result, node) else None


@matches("log")
def log_sigmoid(node):  # log(sigmoid(x)) = -softplus(-x)
    if is_op(node, "log") and is_op(node.inputs[0], "sigmoid"):
        return neg(softplus(neg(node.inputs[0].inputs[0])))


@matches("log")
def log_one_minus_sigmoid(node):  # log(1 - sigmoid(x)) = -softplus(x)
    if is_op(node, "log") and is_op(node.inputs[0], "sub"):
        a, b = node.inputs[0].inputs
        if constant_equal_to(a, 1) and is_op(b, "sigmoid") and same_type(b, node):
            return neg(softplus(b.inputs[0]))


@matches("log")
def log_one_plus(node):  # log(1 + x) = log1p(x)
    if is_op(node, "log") and is_op(node.inputs[0], "add"):
        x = other_operand(node.inputs[0], 1)
        if x is not None and same_type(x, node):
            return log1p(x)


@matches("sub")
def exp_minus_one(node):  # exp(x) - 1 = expm1(x)
    if is_op(node, "sub") and is_op(node.inputs[0], "exp") and constant_equal_to(node.inputs[1], 1):
        if same_type(node.inputs[0], node):
            return expm1(node.inputs[0].inputs[0])


@matches("log")
def log_sum_exp(node):  # log(sum(exp(x), axes)) = logsumexp(x, axes)
    if is_op(node, "log") and is_op(node.inputs[0], "sum") and is_op(node.inputs[0].inputs[0], "exp"):
        total = node.inputs[0]
        candidate = logsumexp(total.inputs[0].inputs[0], total.op.axes, total.op.keepdims)
        return candidate if same_type(candidate, node) else None


@matches("log1p")
def log1p_of_exp(node):  # log1p(exp(x)) = softplus(x)
    if is_op(node, "log1p") and is_op(node.inputs[0], "exp"):
        return softplus(node.inputs[0].inputs[0])


@matches("div")
def sigmoid_by_hand(node):  # 1 / (1 + exp(-x)) = sigmoid(x)
    if is_op(node, "div") and constant_equal_to(node.inputs[0], 1) and is_op(node.inputs[1], "add"):
        e = other_operand(node.inputs[1], 1)
        if e is not None and is_op(e, "exp") and is_op(e.inputs[0], "neg") and same_type(e, node):
            return sigmoid(e.inputs[0].inputs[0])


RULES = [
    softmax_by_hand, log_of_softmax, cross_entropy_by_hand, log_sigmoid, log_one_minus_sigmoid, log_one_plus,
    exp_minus_one, log_sum_exp, log1p_of_exp, sigmoid_by_hand,
]
