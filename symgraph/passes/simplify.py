"""Algebraic simplification: identities that hold for every input, NaN and infinities included, one small rule each.

Each rule is ``node -> replacement or None``; its identity is its comment. Rules never change a result's shape or
dtype (a broadcasting ``x + 0`` that changes x's shape is left alone), and never turn a NaN into a number: an
identity that drops an operand (x - x = 0) applies only where that operand is certainly finite (``always_finite``).
"""

from __future__ import annotations

import numpy as np

from symgraph.graph import Constant, Node, apply
from symgraph.ops import add, div, greater, neg, reciprocal, reshape, sqrt, square, sub, transpose, where, zeros_like
from symgraph.ops import sum as reduce_sum
from symgraph.ops.base import known_size
from symgraph.ops.conv import max_pool2d, max_pool2d_grad
from symgraph.passes.constant_fold import FOLD_LIMIT
from symgraph.passes.patterns import (
    always_finite, constant_equal_to, is_op, is_positive, matches, other_operand, same_type,
)


def filled(like: Node, value) -> Node:
    """A node of like's type filled with ``value``: a constant when small and static, else zeros_like + value."""
    size = known_size(like.shape)
    if size is not None and size <= FOLD_LIMIT:
        array = np.full(like.shape, value, dtype=like.dtype)
        array.flags.writeable = False
        return Constant(array, None, like.site)
    zeros = zeros_like(like)
    return zeros if value == 0 else add(zeros, value)


def _zero_is(zero: Node, dtype, negative: bool) -> bool:
    """Whether the constant ``zero`` is -0.0 everywhere (``negative``) or +0.0 everywhere, or ``dtype`` is no float
    (integers have one zero). Signs of zero matter to rewrites: -0.0 + 0.0 is +0.0, 0.0 - 0.0 is +0.0, -2.0 * 0.0 is
    -0.0, and 1/x and arctan2 tell the signs apart."""
    return dtype.kind != "f" or bool(np.all(np.signbit(zero.value) == negative))


def _beside_constant(node: Node, value):
    """(the other operand, the constant) of a binary node with one constant operand equal to ``value``, else None."""
    x = other_operand(node, value)
    if x is None:
        return None
    return x, node.inputs[1] if x is node.inputs[0] else node.inputs[0]


@matches("add")
def add_zero(node):  # x + (-0) = x; x + 0 = x for integers
    pair = _beside_constant(node, 0) if is_op(node, "add") else None
    if pair is not None and same_type(pair[0], node) and _zero_is(pair[1], node.dtype, negative=True):
        return pair[0]


@matches("sub")
def sub_zero(node):  # x - 0 = x;  (-0) - x = -x (0 - x = -x for integers)
    if is_op(node, "sub"):
        a, b = node.inputs
        if constant_equal_to(b, 0) and same_type(a, node) and _zero_is(b, node.dtype, negative=False):
            return a
        if constant_equal_to(a, 0) and same_type(b, node) and _zero_is(a, node.dtype, negative=True):
            return neg(b)


@matches("sub")
def sub_self(node):  # x - x = 0 (finite x)
    if is_op(node, "sub") and node.inputs[0] is node.inputs[1] and always_finite(node.inputs[0]):
        return filled(node, 0)


@matches("mul")
def mul_one(node):  # x * 1 = x
    if is_op(node, "mul"):
        x = other_operand(node, 1)
        if x is not None and same_type(x, node):
            return x


@matches("mul")
def mul_zero(node):  # x * 0 = 0 (finite x; in floats also x >= 0 and the zero +0.0: -2.0 * 0.0 is -0.0)
    pair = _beside_constant(node, 0) if is_op(node, "mul") else None
    if pair is None or not always_finite(pair[0]) or not _zero_is(pair[1], node.dtype, negative=False):
        return None
    if node.dtype.kind != "f" or is_positive(pair[0]):
        return filled(node, 0)


@matches("div")
def div_one(node):  # x / 1 = x
    if is_op(node, "div") and constant_equal_to(node.inputs[1], 1) and same_type(node.inputs[0], node):
        return node.inputs[0]


@matches("neg")
def neg_neg(node):  # -(-x) = x
    if is_op(node, "neg") and is_op(node.inputs[0], "neg"):
        return node.inputs[0].inputs[0]


@matches("pow")
def power_special_cases(node):  # x**1 = x, x**2 = square(x), x**0.5 = sqrt(x), x**-1 = 1/x, x**0 = 1
    if not is_op(node, "pow"):
        return None
    x, exponent = node.inputs
    if not isinstance(exponent, Constant) or exponent.value.size != 1 or not same_type(x, node):
        return None
    value = float(exponent.value.reshape(()))
    replacements = {1.0: lambda: x, 2.0: lambda: square(x), 0.5: lambda: sqrt(x), -1.0: lambda: reciprocal(x),
                    0.0: lambda: filled(node, 1)}
    if value in replacements and (value >= 0 or x.dtype.kind == "f"):
        return replacements[value]()


@matches("transpose")
def transpose_transpose(node):  # transpose(transpose(x, a), b) = transpose(x, a[b]); the identity permutation vanishes
    if is_op(node, "transpose") and is_op(node.inputs[0], "transpose"):
        inner = node.inputs[0]
        axes = tuple(inner.op.axes[a] for a in node.op.axes)
        x = inner.inputs[0]
        return x if axes == tuple(range(x.ndim)) else transpose(x, axes)


@matches("transpose")
def transpose_identity(node):  # transpose(x, (0, 1, ..., n-1)) = x
    if is_op(node, "transpose") and node.op.axes == tuple(range(node.ndim)):
        return node.inputs[0]


@matches("reshape")
def reshape_reshape(node):  # reshape(reshape(x, s1), s2) = reshape(x, s2)
    if is_op(node, "reshape") and is_op(node.inputs[0], "reshape") and not node.op.kept:  # kept: sizes of s1
        return reshape(node.inputs[0].inputs[0], node.op.shape)


@matches("reshape")
def reshape_identity(node):  # reshape(x, x.shape) = x
    if is_op(node, "reshape") and node.inputs[0].shape == node.shape and None not in node.shape:
        return node.inputs[0]


@matches("exp")
def exp_log(node):  # exp(log(x)) = x, only where x > 0 is certain
    if is_op(node, "exp") and is_op(node.inputs[0], "log") and is_positive(node.inputs[0].inputs[0]):
        return node.inputs[0].inputs[0]


@matches("log")
def log_exp(node):  # log(exp(x)) = x (and exact where exp(x) would overflow)
    if is_op(node, "log") and is_op(node.inputs[0], "exp"):
        return node.inputs[0].inputs[0]


@matches("sum")
def sum_of_broadcast(node):  # sum(broadcast_to(x, s)) = sum(x) * (size(s) / size(x))
    if is_op(node, "sum") and node.op.axes is None and not node.op.keepdims and is_op(node.inputs[0], "broadcast_to"):
        x = node.inputs[0].inputs[0]
        if known_size(x.shape) and node.dtype.kind == "f":
            factor = known_size(node.inputs[0].shape) // known_size(x.shape)
            return reduce_sum(x) if factor == 1 else reduce_sum(x) * factor


@matches("mul")
def mul_reciprocal(node):  # x * (1 / y) = x / y
    if is_op(node, "mul"):
        a, b = node.inputs
        for x, r in ((a, b), (b, a)):
            if is_op(r, "reciprocal"):
                candidate = div(x, r.inputs[0])
                if same_type(candidate, node):
                    return candidate


@matches("add")
def add_neg(node):  # x + (-y) = x - y
    if is_op(node, "add"):
        a, b = node.inputs
        if is_op(b, "neg"):
            return sub(a, b.inputs[0])
        if is_op(a, "neg"):
            return sub(b, a.inputs[0])


@matches("sub")
def sub_neg(node):  # x - (-y) = x + y
    if is_op(node, "sub") and is_op(node.inputs[1], "neg"):
        return add(node.inputs[0], node.inputs[1].inputs[0])


@matches("neg")
def neg_of_linear_reduction_of_neg(node):  # -sum(-x) = sum(x); -mean(-x) = mean(x)
    if is_op(node, "neg") and node.inputs[0].op.name in ("sum", "mean") and is_op(node.inputs[0].inputs[0], "neg"):
        reduction = node.inputs[0]
        return apply(reduction.op, reduction.inputs[0].inputs[0])


@matches("where")
def where_same_branches(node):  # where(c, x, x) = x
    if is_op(node, "where") and node.inputs[1] is node.inputs[2] and same_type(node.inputs[1], node):
        return node.inputs[1]


def _plus_zero(node: Node) -> bool:
    return constant_equal_to(node, 0) and _zero_is(node, node.dtype, False)


@matches("where")
def relu_mask_of_max_pool2d_grad(node):  # where(h > 0, max_pool2d_grad(relu(h), g), 0) =
    #                                      max_pool2d_grad(relu(h), where(max_pool2d(relu(h)) > 0, g, 0)) (finite h)
    """Each window's g lands on its first maximum of relu(h), which the relu mask keeps iff that maximum, the pooled
    value, is > 0: the mask moves to the pooled grid (a quarter of the pixels for 2x2 windows, and no mask of h's
    size left to compute and store). Where h holds a NaN its window's g would be dropped, hence finite h only."""
    if not is_op(node, "where") or not _plus_zero(node.inputs[2]):
        return None
    mask, routed = node.inputs[0], node.inputs[1]
    if not (is_op(mask, "greater") and _plus_zero(mask.inputs[1]) and is_op(routed, "max_pool2d_grad")):
        return None
    rectified, g = routed.inputs
    h = mask.inputs[0]
    if not (is_op(rectified, "relu") and rectified.inputs[0] is h and same_type(routed, node) and always_finite(h)):
        return None
    kept = greater(max_pool2d(rectified, *routed.op.attrs()), 0)
    return max_pool2d_grad(rectified, where(kept, g, 0), *routed.op.attrs())  # +0.0 of g's dtype, any zero's shape


@matches("squeeze")
def squeeze_expand_dims(node):  # squeeze(expand_dims(x, a), a) = x
    if is_op(node, "squeeze") and is_op(node.inputs[0], "expand_dims") and node.op.axes == node.inputs[0].op.axes:
        return node.inputs[0].inputs[0]


@matches("cast")
def cast_round_trip(node):  # cast(cast(x, wider float), x.dtype) = x
    if is_op(node, "cast") and is_op(node.inputs[0], "cast"):
        x = node.inputs[0].inputs[0]
        widened = node.inputs[0].dtype
        if x.dtype == node.dtype and x.dtype.kind == widened.kind == "f" and widened.itemsize >= x.dtype.itemsize:
            return x


@matches("broadcast_to")
def broadcast_to_same_shape(node):  # broadcast_to(x, x.shape) = x
    if is_op(node, "broadcast_to") and node.inputs[0].shape == node.shape:
        return node.inputs[0]


@matches("add", "sub", "mul", "div")
def arithmetic_of_broadcast_constant(node):  # x * broadcast_to(c, x.shape) = x * c (and +, -, /)
    """A gradient's seed reaches the graph as broadcast_to(1.0, shape), so ``sum``'s gradient multiplied by a
    broadcast 1 that mul_one did not see; without the broadcast it does."""
    if node.op.name not in ("add", "sub", "mul", "div") or None in node.shape:
        return None
    a, b = node.inputs
    for k, (x, other) in enumerate(((a, b), (b, a))):
        if is_op(x, "broadcast_to") and isinstance(x.inputs[0], Constant) and other.shape == node.shape:
            inputs = [x.inputs[0], other] if k == 0 else [other, x.inputs[0]]
            return apply(node.op, *inputs)
    return None


RULES = [
    add_zero, sub_zero, sub_self, mul_one, mul_zero, div_one, neg_neg, power_special_cases, transpose_transpose,
    transpose_identity, reshape_reshape, reshape_identity, exp_log, log_exp, sum_of_broadcast, mul_reciprocal,
    add_neg, sub_neg, neg_of_linear_reduction_of_neg, where_same_branches, relu_mask_of_max_pool2d_grad,
    squeeze_expand_dims, cast_round_trip, broadcast_to_same_shape, arithmetic_of_broadcast_constant,
]
