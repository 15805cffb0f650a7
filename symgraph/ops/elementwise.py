"""Elementwise ops: unary math and tests (isnan, ...), binary arithmetic with NumPy broadcasting, comparisons,
``where``, ``clip`` and ``cast``.

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

LN2, LN10 = math.log(2.0), math.log(10.0)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


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


class FloatFunction(Unary):
    """A differentiable function whose result is float: ``input_grad(node, x, g)`` is the gradient for a float x.
    An integer or bool input (which NumPy converts to float64 here) gets no gradient, so nothing is built for it."""

    def grad(self, node, g):
        x = node.inputs[0]
        return [self.input_grad(node, x, g)] if x.dtype.kind == "f" else [None]


@dataclass(frozen=True)
class Tan(FloatFunction):
    name: ClassVar[str] = "tan"
    def compute(self, x): return np.tan(x)
    def input_grad(self, node, x, g): return g * (1 + square(node))  # tan' = 1 + tan^2


@dataclass(frozen=True)
class Sinh(FloatFunction):
    name: ClassVar[str] = "sinh"
    def compute(self, x): return np.sinh(x)
    def input_grad(self, node, x, g): return g * cosh(x)


@dataclass(frozen=True)
class Cosh(FloatFunction):
    name: ClassVar[str] = "cosh"
    def compute(self, x): return np.cosh(x)
    def input_grad(self, node, x, g): return g * sinh(x)


# The inverse functions' derivatives are written to stay accurate near the domain edges: (1 - x)(1 + x) rather than
# 1 - x^2, which cancels near |x| = 1; hypot(x, 1) rather than sqrt(x^2 + 1), which overflows for large x.

@dataclass(frozen=True)
class Arcsin(FloatFunction):
    name: ClassVar[str] = "arcsin"
    def compute(self, x): return np.arcsin(x)
    def input_grad(self, node, x, g): return g * rsqrt((1 - x) * (1 + x))  # 1 / sqrt(1 - x^2): inf at +-1


@dataclass(frozen=True)
class Arccos(FloatFunction):
    name: ClassVar[str] = "arccos"
    def compute(self, x): return np.arccos(x)
    def input_grad(self, node, x, g): return neg(g * rsqrt((1 - x) * (1 + x)))


@dataclass(frozen=True)
class Arctan(FloatFunction):
    name: ClassVar[str] = "arctan"
    def compute(self, x): return np.arctan(x)
    def input_grad(self, node, x, g): return g / (1 + square(x))


@dataclass(frozen=True)
class Arcsinh(FloatFunction):
    name: ClassVar[str] = "arcsinh"
    def compute(self, x): return np.arcsinh(x)
    def input_grad(self, node, x, g): return g / hypot(x, 1)  # 1 / sqrt(x^2 + 1)


@dataclass(frozen=True)
class Arccosh(FloatFunction):
    name: ClassVar[str] = "arccosh"
    def compute(self, x): return np.arccosh(x)
    def input_grad(self, node, x, g): return g * rsqrt((x - 1) * (x + 1))  # 1 / sqrt(x^2 - 1): inf at 1


@dataclass(frozen=True)
class Arctanh(FloatFunction):
    name: ClassVar[str] = "arctanh"
    def compute(self, x): return np.arctanh(x)
    def input_grad(self, node, x, g): return g / ((1 - x) * (1 + x))  # 1 / (1 - x^2)


@dataclass(frozen=True)
class Exp2(FloatFunction):
    name: ClassVar[str] = "exp2"
    def compute(self, x): return np.exp2(x)
    def input_grad(self, node, x, g): return g * (node * LN2)  # d 2^x = 2^x ln 2


@dataclass(frozen=True)
class Log2(FloatFunction):
    name: ClassVar[str] = "log2"
    def compute(self, x): return np.log2(x)
    def input_grad(self, node, x, g): return g / (x * LN2)


@dataclass(frozen=True)
class Log10(FloatFunction):
    name: ClassVar[str] = "log10"
    def compute(self, x): return np.log10(x)
    def input_grad(self, node, x, g): return g / (x * LN10)


@dataclass(frozen=True)
class Cbrt(FloatFunction):
    name: ClassVar[str] = "cbrt"
    def compute(self, x): return np.cbrt(x)
    def input_grad(self, node, x, g): return g / (square(node) * 3)  # 1 / (3 x^(2/3)): inf at 0


@dataclass(frozen=True)
class Rsqrt(FloatFunction):
    name: ClassVar[str] = "rsqrt"
    def compute(self, x): return np.reciprocal(np.sqrt(x))  # 1 / sqrt(x), rounded twice, as the backends compute it
    def input_grad(self, node, x, g): return g * (node / x) * -0.5  # d x^(-1/2) = -x^(-1/2) / (2x)


@dataclass(frozen=True)
class Logit(FloatFunction):
    name: ClassVar[str] = "logit"
    def compute(self, x): return scipy_special().logit(x)  # log(x / (1 - x)), accurate near 1/2
    def input_grad(self, node, x, g): return g / (x * (1 - x))  # inf at 0 and 1


@dataclass(frozen=True)
class Erf(FloatFunction):
    name: ClassVar[str] = "erf"
    def compute(self, x): return scipy_special().erf(x)
    def input_grad(self, node, x, g): return g * _gaussian_density_times_two(x)


@dataclass(frozen=True)
class Erfc(FloatFunction):
    name: ClassVar[str] = "erfc"
    def compute(self, x): return scipy_special().erfc(x)
    def input_grad(self, node, x, g): return neg(g * _gaussian_density_times_two(x))


def _gaussian_density_times_two(x):
    """erf'(x) = 2 / sqrt(pi) e^(-x^2)."""
    return exp(neg(square(x))) * TWO_OVER_SQRT_PI


class Predicate(Unary):
    """A bool test of each element: no gradient."""

    def grad(self, node, g): return [None]


@dataclass(frozen=True)
class Isnan(Predicate):
    name: ClassVar[str] = "isnan"
    def compute(self, x): return np.isnan(x)


@dataclass(frozen=True)
class Isinf(Predicate):
    name: ClassVar[str] = "isinf"
    def compute(self, x): return np.isinf(x)


@dataclass(frozen=True)
class Isfinite(Predicate):
    name: ClassVar[str] = "isfinite"
    def compute(self, x): return np.isfinite(x)


def _unary_builder(op_class, doc=None):
    op = op_class()

    def build(x, name=None):
        return apply(op, as_node(x), name=name)

    build.__name__ = op.name
    build.__qualname__ = op.name
    build.__doc__ = doc or f"Elementwise {op.name}(x)."
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

tan = _unary_builder(Tan)
sinh = _unary_builder(Sinh)
cosh = _unary_builder(Cosh)
arcsin = _unary_builder(Arcsin, "Elementwise arcsin(x): NaN outside [-1, 1].")
arccos = _unary_builder(Arccos, "Elementwise arccos(x): NaN outside [-1, 1].")
arctan = _unary_builder(Arctan)
arcsinh = _unary_builder(Arcsinh)
arccosh = _unary_builder(Arccosh, "Elementwise arccosh(x): NaN below 1.")
arctanh = _unary_builder(Arctanh, "Elementwise arctanh(x): +-inf at +-1, NaN beyond.")
exp2 = _unary_builder(Exp2, "Elementwise 2 ** x.")
log2 = _unary_builder(Log2, "Elementwise base-2 logarithm.")
log10 = _unary_builder(Log10, "Elementwise base-10 logarithm.")
cbrt = _unary_builder(Cbrt, "Elementwise cube root (real, negative for negative x).")
rsqrt = _unary_builder(Rsqrt, "Elementwise 1 / sqrt(x), as NumPy computes 1 / np.sqrt(x).")
logit = _unary_builder(Logit, "Elementwise log(x / (1 - x)) (scipy.special.logit): -inf at 0, inf at 1.")
erf = _unary_builder(Erf, "Elementwise error function (scipy.special.erf).")
erfc = _unary_builder(Erfc, "Elementwise complementary error function 1 - erf(x) (scipy.special.erfc).")
isnan = _unary_builder(Isnan, "Elementwise test for NaN (bool; False for integers and bools).")
isinf = _unary_builder(Isinf, "Elementwise test for +-inf (bool; False for integers and bools).")
isfinite = _unary_builder(Isfinite, "Elementwise test for a finite value (bool; True for integers and bools).")


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


def _in_result_dtype(node):
    """The inputs of a float-valued node cast to its dtype, as NumPy computes with them (a bool or integer input
    gets no gradient, but the float one's depends on its value)."""
    return [cast(x, node.dtype) for x in node.inputs]


@dataclass(frozen=True)
class Arctan2(Binary):
    name: ClassVar[str] = "arctan2"
    def compute(self, a, b): return np.arctan2(a, b)

    def grad(self, node, g):
        a, b = _in_result_dtype(node)  # the angle of the point (b, a): d/da = b / r^2, d/db = -a / r^2 (NaN at 0, 0)
        squared_radius = square(a) + square(b)
        return [g * (b / squared_radius), neg(g * (a / squared_radius))]


@dataclass(frozen=True)
class Hypot(Binary):
    name: ClassVar[str] = "hypot"
    def compute(self, a, b): return np.hypot(a, b)

    def grad(self, node, g):
        a, b = node.inputs
        # d/da = a / hypot(a, b). At the origin (a = b = 0) dividing by 1 instead gives 0, abs'(0)'s value (and
        # JAX's), where a / 0 would be NaN; the second derivatives there are finite too (1 on the diagonal).
        safe = where(equal(node, 0), 1, node)
        return [g * (a / safe), g * (b / safe)]


@dataclass(frozen=True)
class Logaddexp(Binary):
    name: ClassVar[str] = "logaddexp"
    def compute(self, a, b): return np.logaddexp(a, b)

    def grad(self, node, g):
        a, b = node.inputs  # d/da = e^a / (e^a + e^b) = sigmoid(a - b): never overflows, 1 and 0 for a = inf
        return [g * sigmoid(a - b), g * sigmoid(b - a)]


@dataclass(frozen=True)
class Mod(Binary):
    name: ClassVar[str] = "mod"
    def compute(self, a, b): return np.remainder(a, b)  # the sign of the divisor, as Python's %

    def grad(self, node, g):
        a, b = node.inputs  # a - b floor(a / b), as autograd, JAX and PyTorch differentiate it
        return [g, neg(g * floor(a / b))]


@dataclass(frozen=True)
class Fmod(Binary):
    name: ClassVar[str] = "fmod"
    def compute(self, a, b): return np.fmod(a, b)  # the sign of the dividend, as C's fmod

    def grad(self, node, g):
        a, b = node.inputs  # a - b trunc(a / b), as JAX and PyTorch differentiate it
        quotient = a / b
        return [g, neg(g * (sign(quotient) * floor(abs(quotient))))]


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
arctan2 = _binary_builder(Arctan2, "The angle of the point (b, a) in radians, in [-pi, pi] (NumPy's arctan2(a, b)).")
hypot = _binary_builder(Hypot, "sqrt(a**2 + b**2) without overflow; inf where either is infinite, even beside NaN.")
logaddexp = _binary_builder(Logaddexp, "log(exp(a) + exp(b)) without overflow.")
mod = _binary_builder(Mod, "a mod b with the sign of b (NumPy's mod, Python's %); integers mod 0 give 0, as NumPy.")
fmod = _binary_builder(Fmod, "The remainder of a / b with the sign of a (C's fmod); integers fmod 0 give 0, as NumPy.")


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
    """Elementwise choice: a where condition (bool, or a Python bool) is true, else b, with broadcasting."""
    condition = as_node(condition)  # a Python bool stays a bool: it is no weak operand taking a's or b's dtype
    condition, a, b = as_nodes(condition, a, b)
    return apply(Where(), condition, a, b, name=name)


@dataclass(frozen=True)
class Clip(Elementwise):
    """np.clip: minimum(maximum(x, lo), hi), so hi wins where lo > hi, and NaN in any input gives NaN."""

    name: ClassVar[str] = "clip"

    def infer(self, x, lo, hi):
        shape = broadcast_shapes(x.shape, lo.shape, hi.shape)
        return shape, dtypes.result_dtype(self.compute, x.dtype, lo.dtype, hi.dtype)

    def compute(self, x, lo, hi):
        return np.clip(x, lo, hi)

    def grad(self, node, g):
        # PyTorch's clamp: x gets the gradient where lo <= x <= hi (at a bound too), lo where x < lo < hi, hi where
        # x > hi or hi < lo (hi is then the output everywhere); NaN elements pass none.
        x, lo, hi = node.inputs
        grad_x = where(where(x >= lo, x <= hi, False), g, 0)
        grad_lo = None if isinstance(lo, Constant) else where(where(x < lo, lo < hi, False), g, 0)
        grad_hi = None if isinstance(hi, Constant) else where(where(x > hi, True, hi < lo), g, 0)
        return [grad_x, grad_lo, grad_hi]


@builder
def clip(x, lo=None, hi=None, name=None) -> Node:
    """x limited to [lo, hi] elementwise, with broadcasting (NumPy's np.clip: where lo > hi the result is hi).

    A bound left None is no bound: the dtype's extreme (-inf or inf, the integer range's end, False or True). The
    gradient passes to x inside the interval and at its ends (PyTorch's clamp), to lo below it, to hi above it.
    """
    x = as_node(x)
    lowest, highest = _extremes(x.dtype)
    lo, hi = (lowest if lo is None else lo), (highest if hi is None else hi)
    x, lo, hi = as_nodes(x, lo, hi)
    return apply(Clip(), x, lo, hi, name=name)


def _extremes(dtype: np.dtype):
    """The least and greatest values of ``dtype``, as Python scalars that take that dtype (weak scalars)."""
    if dtype.kind == "f":
        return -math.inf, math.inf
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return int(info.min), int(info.max)
    return False, True


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
class IdentityForward(Unary):
    """An op that passes its input through unchanged and only has a gradient of its own (stop_gradient, and the
    clip_gradient and scale_gradient of symgraph.ops.gradient): it computes nothing."""

    flops = no_flops
    def compute(self, x): return np.asarray(x)


@dataclass(frozen=True)
class StopGradient(IdentityForward):
    name: ClassVar[str] = "stop_gradient"
    def grad(self, node, g): return [None]  # by definition: identity forward, no gradient back


stop_gradient = _unary_builder(StopGradient)
stop_gradient.__doc__ = "Identity in the forward pass; no gradient flows back through it."
