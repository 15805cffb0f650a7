"""Elementwise ops: unary math, binary arithmetic with NumPy broadcasting, comparisons, ``where`` and ``cast``.

Each op is one class: its NumPy reference (``compute``) and its gradient rule side by side; shapes follow
broadcasting and dtypes are whatever the NumPy reference returns for the input dtypes. Gradient rules return
gradients in the output's (broadcast) shape; the differentiator sums them back to each input's shape. Every op here
costs one FLOP per output element (transcendental functions and comparisons too), except cast and stop_gradient (0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from symgraph import dtypes
from symgraph.errors import DTypeError
from symgraph.graph import builder, Constant, Node, Op, apply, as_node, as_nodes
from symgraph.ops.base import broadcast_shapes, no_flops, require_dtype_kind, scipy_special


class Elementwise(Op):
    """Ops whose output element i depends only on input elements i (after broadcasting)."""

    broadcasts: ClassVar[bool] = True

    def flops(self, node, input_shapes, output_shape):
        return math.prod(output_shape)  # one operation per output element, whatever the function


# -- unary ----------------------------------------------------------------------------------------------------------

class Unary(Elementwise):
    def infer(self, x):
        return x.shape, dtypes.result_dtype(self.compute, x.dtype)


@dataclass(frozen=True)
class Neg(Unary):
    name: ClassVar[str] = "neg"
    def compute(self, x): return np.negative(x)
    def grad(self, node, g): return [neg(g)]


@dataclass(frozen=True)
class Abs(Unary):
    name: ClassVar[str] = "abs"
    def compute(self, x): return np.abs(x)
    def grad(self, node, g): return [g * sign(node.inputs[0])]  # abs'(0) = 0


@dataclass(frozen=True)
class Sign(Unary):
    name: ClassVar[str] = "sign"
    def compute(self, x): return np.sign(x)
    def grad(self, node, g): return [None]  # piecewise constant


@dataclass(frozen=True)
class Exp(Unary):
    name: ClassVar[str] = "exp"
    def compute(self, x): return np.exp(x)
    def grad(self, node, g): return [g * node]  # d exp(x) = exp(x)


@dataclass(frozen=True)
class Log(Unary):
    name: ClassVar[str] = "log"
    def compute(self, x): return np.log(x)
    def grad(self, node, g): return [g / node.inputs[0]]


@dataclass(frozen=True)
class Log1p(Unary):
    name: ClassVar[str] = "log1p"
    def compute(self, x): return np.log1p(x)
    def grad(self, node, g): return [g / (node.inputs[0] + 1)]


@dataclass(frozen=True)
class Expm1(Unary):
    name: ClassVar[str] = "expm1"
    def compute(self, x): return np.expm1(x)
    def grad(self, node, g): return [g * exp(node.inputs[0])]  # not expm1(x) + 1, which is 0 for x < -37


@dataclass(frozen=True)
class Sqrt(Unary):
    name: ClassVar[str] = "sqrt"
    def compute(self, x): return np.sqrt(x)
    def grad(self, node, g): return [g / (node * 2)]  # d sqrt(x) = 1 / (2 sqrt(x))


@dataclass(frozen=True)
class Square(Unary):
    name: ClassVar[str] = "square"
    def compute(self, x): return np.square(x)
    def grad(self, node, g): return [g * (node.inputs[0] * 2)]


@dataclass(frozen=True)
class Reciprocal(Unary):
    name: ClassVar[str] = "reciprocal"
    def compute(self, x): return np.reciprocal(x)
    def grad(self, node, g): return [neg(g * square(node))]  # d (1/x) = -1/x^2


@dataclass(frozen=True)
class Sin(Unary):
    name: ClassVar[str] = "sin"
    def compute(self, x): return np.sin(x)
    def grad(self, node, g): return [g * cos(node.inputs[0])]


@dataclass(frozen=True)
class Cos(Unary):
    name: ClassVar[str] = "cos"
    def compute(self, x): return np.cos(x)
    def grad(self, node, g): return [neg(g * sin(node.inputs[0]))]


@dataclass(frozen=True)
class Tanh(Unary):
    name: ClassVar[str] = "tanh"
    def compute(self, x): return np.tanh(x)
    def grad(self, node, g): return [g * (1 - square(node))]  # tanh' = 1 - tanh^2


@dataclass(frozen=True)
class Sigmoid(Unary):
    name: ClassVar[str] = "sigmoid"
    def compute(self, x): return scipy_special().expit(x)  # stable for large |x|
    def grad(self, node, g): return [g * (node * (1 - node))]  # sigma' = sigma (1 - sigma)


@dataclass(frozen=True)
class Relu(Unary):
    name: ClassVar[str] = "relu"
    def compute(self, x): return np.maximum(x, 0)
    def grad(self, node, g): return [where(node.inputs[0] > 0, g, 0)]  # relu'(0) = 0


@dataclass(frozen=True)
class Softplus(Unary):
    name: ClassVar[str] = "softplus"
    def compute(self, x): return np.logaddexp(x, 0)  # log(1 + e^x) without overflow
    def grad(self, node, g): return [g * sigmoid(node.inputs[0])]


@dataclass(frozen=True)
class Floor(Unary):
    name: ClassVar[str] = "floor"
    def compute(self, x): return np.floor(x)
    def grad(self, node, g): return [None]  # piecewise constant


@dataclass(frozen=True)
class Ceil(Unary):
    name: ClassVar[str] = "ceil"
    def compute(self, x): return np.ceil(x)
    def grad(self, node, g): return [None]  # piecewise constant


def _unary_builder(op_class):
    op = op_class()

    def build(x, name=None):
        return apply(op, as_node(x), name=name)

    build.__name__ = op.name
    build.__qualname__ = op.name
    build.__doc__ = f"Elementwise {op.name}(x)."
    return builder(build)


neg = _unary_builder(Neg)
abs = _unary_builder(Abs)  # noqa: A001 - the public name mirrors NumPy's
sign = _unary_builder(Sign)
exp = _unary_builder(Exp)
log = _unary_builder(Log)
log1p = _unary_builder(Log1p)
expm1 = _unary_builder(Expm1)
sqrt = _unary_builder(Sqrt)
square = _unary_builder(Square)
reciprocal = _unary_builder(Reciprocal)
sin = _unary_builder(Sin)
cos = _unary_builder(Cos)
tanh = _unary_builder(Tanh)
sigmoid = _unary_builder(Sigmoid)
relu = _unary_builder(Relu)
softplus = _unary_builder(Softplus)
floor = _unary_builder(Floor)
ceil = _unary_builder(Ceil)


# -- binary ---------------------------------------------------------------------------------------------------------

class Binary(Elementwise):
    def infer(self, a, b):
        return broadcast_shapes(a.shape, b.shape), dtypes.result_dtype(self.compute, a.dtype, b.dtype)


@dataclass(frozen=True)
class Add(Binary):
    name: ClassVar[str] = "add"
    def compute(self, a, b): return np.add(a, b)
    def grad(self, node, g): return [g, g]


@dataclass(frozen=True)
class Sub(Binary):
    name: ClassVar[str] = "sub"
    def compute(self, a, b): return np.subtract(a, b)
    def grad(self, node, g): return [g, neg(g)]


@dataclass(frozen=True)
class Mul(Binary):
    name: ClassVar[str] = "mul"
    def compute(self, a, b): return np.multiply(a, b)

    def grad(self, node, g):
        a, b = node.inputs
        return [g * b, g * a]


@dataclass(frozen=True)
class Div(Binary):
    name: ClassVar[str] = "div"
    def compute(self, a, b): return np.true_divide(a, b)

    def grad(self, node, g):
        a, b = node.inputs
        return [g / b, neg(g * node / b)]  # d(a/b)/db = -(a/b)/b


@dataclass(frozen=True)
class Pow(Binary):
    name: ClassVar[str] = "pow"
    def compute(self, a, b): return np.power(a, b)

    def grad(self, node, g):
        a, b = node.inputs
        grad_a = None if isinstance(a, Constant) else g * _pow_grad_base(a, b)
        differentiable_b = b.dtype.kind == "f" and not isinstance(b, Constant)
        grad_b = g * _pow_grad_exponent(node, a, b) if differentiable_b else None
        return [grad_a, grad_b]


# At a base of 0 the rules b a^(b-1) and a^b log a meet 0 * inf. They are guarded with a "double where": the rule is
# computed on a safe base (1 where the guard holds) and an outer where selects 0 there, so that no derivative of any
# order multiplies by inf (a plain where would still send 0 * inf back through the unused branch).

def _pow_grad_base(a, b):
    """d a^b / da = b a^(b-1), and 0 where a == 0 and b == 0 (PyTorch's and JAX's value for x ** 0 at 0)."""
    if _constant_without_zeros(b) and b.dtype.kind in "iuf":
        return b * pow(a, as_node(b.value - np.ones((), b.dtype)))  # a constant exponent: no guard needed
    kink = where(equal(a, 0), equal(b, 0), False)
    return where(kink, 0, b * pow(where(kink, 1, a), b - 1))


def _pow_grad_exponent(node, a, b):
    """d a^b / db = a^b log a, and 0 where a == 0 (JAX's convention: the log of the zero-replaced base)."""
    if _constant_without_zeros(a):
        return node * log(a)
    safe_a = where(equal(a, 0), 1, a)
    return pow(safe_a, b) * log(safe_a)  # exactly 0 where a == 0, and so are its derivatives


def _constant_without_zeros(node) -> bool:
    return isinstance(node, Constant) and bool(np.all(node.value != 0))


@dataclass(frozen=True)
class Maximum(Binary):
    name: ClassVar[str] = "maximum"
    def compute(self, a, b): return np.maximum(a, b)

    def grad(self, node, g):
        a, b = node.inputs
        return _split_on_ties(g, a > b, equal(a, b), b > a)  # ties give each input half


@dataclass(frozen=True)
class Minimum(Binary):
    name: ClassVar[str] = "minimum"
    def compute(self, a, b): return np.minimum(a, b)

    def grad(self, node, g):
        a, b = node.inputs
        return _split_on_ties(g, a < b, equal(a, b), b < a)


def _split_on_ties(g, a_wins, tie, b_wins):
    half = g * 0.5
    return [where(a_wins, g, where(tie, half, 0)), where(b_wins, g, where(tie, half, 0))]


class Comparison(Binary):
    def grad(self, node, g): return [None, None]  # boolean output: no gradient


@dataclass(frozen=True)
class Less(Comparison):
    name: ClassVar[str] = "less"
    def compute(self, a, b): return np.less(a, b)


@dataclass(frozen=True)
class LessEqual(Comparison):
    name: ClassVar[str] = "less_equal"
    def compute(self, a, b): return np.less_equal(a, b)


@dataclass(frozen=True)
class Greater(Comparison):
    name: ClassVar[str] = "greater"
    def compute(self, a, b): return np.greater(a, b)


@dataclass(frozen=True)
class GreaterEqual(Comparison):
    name: ClassVar[str] = "greater_equal"
    def compute(self, a, b): return np.greater_equal(a, b)


@dataclass(frozen=True)
class Equal(Comparison):
    name: ClassVar[str] = "equal"
    def compute(self, a, b): return np.equal(a, b)


@dataclass(frozen=True)
class NotEqual(Comparison):
    name: ClassVar[str] = "not_equal"
    def compute(self, a, b): return np.not_equal(a, b)


def _binary_builder(op_class, doc):
    op = op_class()

    def build(a, b, name=None):
        a, b = as_nodes(a, b)
        return apply(op, a, b, name=name)

    build.__name__ = op.name
    build.__qualname__ = op.name
    build.__doc__ = doc
    return builder(build)


add = _binary_builder(Add, "a + b with NumPy broadcasting.")
sub = _binary_builder(Sub, "a - b with NumPy broadcasting.")
mul = _binary_builder(Mul, "a * b with NumPy broadcasting.")
div = _binary_builder(Div, "a / b (true division) with NumPy broadcasting.")
pow = _binary_builder(Pow, "a ** b with NumPy broadcasting.")  # noqa: A001
maximum = _binary_builder(Maximum, "Elementwise maximum; at ties each input receives half the gradient.")
minimum = _binary_builder(Minimum, "Elementwise minimum; at ties each input receives half the gradient.")
less = _binary_builder(Less, "a < b (bool).")
less_equal = _binary_builder(LessEqual, "a <= b (bool).")
greater = _binary_builder(Greater, "a > b (bool).")
greater_equal = _binary_builder(GreaterEqual, "a >= b (bool).")
equal = _binary_builder(Equal, "a == b (bool), elementwise. The == operator on nodes is identity, as in Theano.")
not_equal = _binary_builder(NotEqual, "a != b (bool), elementwise.")


# -- where and cast -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Where(Elementwise):
    name: ClassVar[str] = "where"

    def infer(self, condition, a, b):
        require_dtype_kind(condition, "b", "the condition of where")
        shape = broadcast_shapes(condition.shape, a.shape, b.shape)
        return shape, np.result_type(a.dtype, b.dtype)

    def compute(self, condition, a, b):
        return np.where(condition, a, b)

    def grad(self, node, g):
        condition = node.inputs[0]
        return [None, where(condition, g, 0), where(condition, 0, g)]


@builder
def where(condition, a, b, name=None) -> Node:
    """Elementwise choice: a where condition (bool) is true, else b, with broadcasting."""
    condition, a, b = as_nodes(condition, a, b)
    return apply(Where(), condition, a, b, name=name)


@dataclass(frozen=True)
class Cast(Elementwise):
    dtype: np.dtype
    name: ClassVar[str] = "cast"

    def infer(self, x):
        return x.shape, self.dtype

    def compute(self, x):
        return np.asarray(x).astype(self.dtype)

    flops = no_flops  # a conversion, not arithmetic

    def grad(self, node, g):
        x = node.inputs[0]
        if x.dtype.kind == "f" and self.dtype.kind == "f":
            return [cast(g, x.dtype)]
        return [None]  # through an integer or bool type no gradient flows


@builder
def cast(x, dtype, name=None) -> Node:
    """Convert to ``dtype`` (float to int truncates toward zero, as NumPy's astype)."""
    x = as_node(x)
    if dtype is None:  # np.dtype(None) would silently mean float64
        raise DTypeError(f"cast needs a target dtype, got None; supported: {dtypes.supported_names()}")
    target = dtypes.as_dtype(dtype)
    if x.dtype == target and name is None:
        return x
    return apply(Cast(target), x, name=name)


@dataclass(frozen=True)
class StopGradient(Unary):
    name: ClassVar[str] = "stop_gradient"
    flops = no_flops
    def compute(self, x): return np.asarray(x)
    def grad(self, node, g): return [None]  # by definition: identity forward, no gradient back


stop_gradient = _unary_builder(StopGradient)
stop_gradient.__doc__ = "Identity in the forward pass; no gradient flows back through it."
