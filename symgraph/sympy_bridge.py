"""The one translation between symgraph's ops and sympy, both ways, shared by ``sg.to_sympy``/``sg.from_sympy``
(``symgraph.printing``) and the optimizer's sympy regions (``symgraph.passes.sympy_forms``).

- ``OP_FORMS``: the sympy form of each elementwise op, given its inputs' forms (``cast_form`` for casts).
- ``sigmoid``, ``softplus``, ``logaddexp``, ``logit``, ``stop_gradient`` and ``scale_gradient``: sympy functions for
  the ops sympy lacks, with their derivatives, LaTeX (sigma(x)), NumPy code for ``sympy.lambdify`` and
  ``.rewrite(sympy.exp)`` (``sympy.log`` for logit); log1p, expm1, exp2, log2, log10 and hypot are
  ``sympy.codegen.cfunctions``'. ``where``: the Piecewise that sympy keeps whole inside sums.
- The forms written with sympy's own functions: cbrt is the real cube root sign(x) |x|^(1/3), fmod (the sign of the
  dividend) sign(a) Mod(|a|, |b|), mod sympy's Mod (the sign of the divisor, as NumPy's and Python's), clip
  Min(Max(x, lo), hi), rsqrt x^(-1/2); ``build_graph`` reads each of them back as its op.
- isnan, isinf and isfinite have none: sympy's real symbols are finite (``Symbol("x", real=True).is_finite``), so
  the tests for the values they exist to find would be False, True and True by assumption (``NO_FORM``).
- ``build_graph``: the graph of a sympy expression, with as few ops as the expression's form allows (x - y is one
  ``sub``, x / y one ``div``). Indexed arrays (``x[i]``) and sums and products over indices become broadcasting,
  transposes and reductions: each index is an axis.

Imports sympy (about 0.6 s): modules import this one only when they have sympy work to do.
"""

from __future__ import annotations

import operator
from functools import reduce
from typing import Callable, NamedTuple

import numpy as np
import sympy
from sympy.codegen.cfunctions import (exp2 as sympy_exp2, expm1 as sympy_expm1, hypot as sympy_hypot,
                                      log10 as sympy_log10, log1p as sympy_log1p, log2 as sympy_log2)
from sympy.core.function import UndefinedFunction
from sympy.core.logic import fuzzy_and
from sympy.logic.boolalg import Boolean, BooleanAtom
from sympy.functions.elementary.piecewise import ExprCondPair

from symgraph import ops
from symgraph.errors import SympyConversionError
from symgraph.graph import Node, as_node
from symgraph.ops.gradient import scale_gradient as scale_gradient_op
from symgraph.ops.nn import logsumexp as logsumexp_op


# -- sympy functions for symgraph's ops -----------------------------------------------------------------------------

def _function_latex(name: str, function, printer, exp=None) -> str:
    argument = printer._print(function.args[0])
    power = f"^{{{exp}}}" if exp is not None else ""
    return rf"{name}{power}\left({argument}\right)"


class _RealFunction(sympy.Function):
    """A function of one real argument with real values."""

    def _eval_is_real(self):
        return self.args[0].is_real


class _LogisticFamily(_RealFunction):
    """sigmoid and softplus: positive for real x, evaluated numerically through their exp forms."""

    def _eval_is_positive(self):
        return self.args[0].is_real

    def _eval_evalf(self, precision):
        return self.rewrite(sympy.exp)._eval_evalf(precision)


class sigmoid(_LogisticFamily):  # noqa: N801 - named like the op it stands for
    """The logistic function 1 / (1 + e^-x), written sigma(x); its derivative is sigma(x) (1 - sigma(x))."""

    def fdiff(self, argindex=1):
        value = sigmoid(self.args[0])
        return value * (1 - value)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sympy.exp(-x))

    def _latex(self, printer, exp=None):
        return _function_latex(r"\sigma", self, printer, exp)

    def _numpycode(self, printer):
        argument = printer._print(self.args[0])
        return (f"{printer._module_format('numpy.exp')}(-{printer._module_format('numpy.logaddexp')}"
                f"(0, -({argument})))")  # no overflow for large |x|


class softplus(_LogisticFamily):  # noqa: N801
    """log(1 + e^x); its derivative is sigmoid(x)."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sympy.log(1 + sympy.exp(x))

    def _latex(self, printer, exp=None):
        return _function_latex(r"\operatorname{softplus}", self, printer, exp)

    def _numpycode(self, printer):
        return f"{printer._module_format('numpy.logaddexp')}(0, {printer._print(self.args[0])})"


class stop_gradient(_RealFunction):  # noqa: N801
    """The identity whose derivative is 0: its value is its argument's (a number's is that number)."""

    @classmethod
    def eval(cls, x):
        return x if x.is_number else None

    def fdiff(self, argindex=1):
        return sympy.S.Zero

    def _eval_evalf(self, precision):
        return self.args[0]._eval_evalf(precision)

    def _latex(self, printer, exp=None):
        return _function_latex(r"\operatorname{stop\_gradient}", self, printer, exp)

    def _numpycode(self, printer):
        return f"({printer._print(self.args[0])})"


class scale_gradient(sympy.Function):  # noqa: N801
    """scale_gradient(x, k): the identity whose derivative is k (the op scales the gradient flowing back by k)."""

    @classmethod
    def eval(cls, x, k):
        return x if x.is_number else None

    def fdiff(self, argindex=1):
        return self.args[1] if argindex == 1 else sympy.S.Zero

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_evalf(self, precision):
        return self.args[0]._eval_evalf(precision)

    def _latex(self, printer, exp=None):
        x, k = (printer._print(arg) for arg in self.args)
        power = f"^{{{exp}}}" if exp is not None else ""
        return rf"\operatorname{{scale\_gradient}}{power}\left({x}, {k}\right)"

    def _numpycode(self, printer):
        return f"({printer._print(self.args[0])})"


class logaddexp(sympy.Function):  # noqa: N801
    """log(e^a + e^b), computed without overflow; its derivatives are sigmoid(a - b) and sigmoid(b - a)."""

    def fdiff(self, argindex=1):
        a, b = self.args
        return sigmoid(a - b) if argindex == 1 else sigmoid(b - a)

    def _eval_rewrite_as_exp(self, a, b, **kwargs):
        return sympy.log(sympy.exp(a) + sympy.exp(b))

    def _eval_is_real(self):
        return fuzzy_and(arg.is_real for arg in self.args)

    def _eval_evalf(self, precision):
        return self.rewrite(sympy.exp)._eval_evalf(precision)

    def _latex(self, printer, exp=None):
        a, b = (printer._print(arg) for arg in self.args)
        power = f"^{{{exp}}}" if exp is not None else ""
        return rf"\operatorname{{logaddexp}}{power}\left({a}, {b}\right)"

    def _numpycode(self, printer):
        a, b = (printer._print(arg) for arg in self.args)
        return f"{printer._module_format('numpy.logaddexp')}({a}, {b})"


class logit(sympy.Function):  # noqa: N801
    """log(x / (1 - x)), real on (0, 1); its derivative is 1 / (x (1 - x))."""

    def fdiff(self, argindex=1):
        x = self.args[0]
        return 1 / (x * (1 - x))

    def _eval_rewrite_as_log(self, x, **kwargs):
        return sympy.log(x / (1 - x))

    def _eval_evalf(self, precision):
        return self.rewrite(sympy.log)._eval_evalf(precision)

    def _latex(self, printer, exp=None):
        return _function_latex(r"\operatorname{logit}", self, printer, exp)

    def _numpycode(self, printer):
        argument = printer._print(self.args[0])
        return f"{printer._module_format('numpy.log')}(({argument}) / (1 - ({argument})))"


class where(sympy.Function):  # noqa: N801
    """where(c, a, b): a where the condition c holds, else b. It is Piecewise((a, c), (b, True)) (``.rewrite(
    sympy.Piecewise)``), written so inside sums: sympy's piecewise_fold, which Sum, Piecewise and simplify call, moves a
    Piecewise out of a Sum even when its condition depends on the summation index, which changes the value."""

    @classmethod
    def eval(cls, condition, a, b):
        if condition is sympy.true or a == b:
            return a
        if condition is sympy.false:
            return b
        return None

    def _eval_is_commutative(self):  # the condition is a boolean: only the values count
        return fuzzy_and(arg.is_commutative for arg in self.args[1:])

    def _eval_derivative(self, symbol):
        condition, a, b = self.args
        return where(condition, a.diff(symbol), b.diff(symbol))

    def _eval_rewrite_as_Piecewise(self, condition, a, b, **kwargs):
        return sympy.Piecewise((a, condition), (b, True))

    def _eval_is_real(self):
        return fuzzy_and(arg.is_real for arg in self.args[1:])

    def _latex(self, printer, exp=None):
        condition, a, b = (printer._print(arg) for arg in self.args)
        cases = rf"\begin{{cases}} {a} & \text{{for}}\: {condition} \\{b} & \text{{otherwise}} \end{{cases}}"
        return cases if exp is None else rf"\left({cases}\right)^{{{exp}}}"

    def _numpycode(self, printer):
        condition, a, b = (printer._print(arg) for arg in self.args)
        return f"{printer._module_format('numpy.where')}({condition}, {a}, {b})"


class ConstantArray(sympy.ImmutableDenseNDimArray):
    """The values of a constant, indexed like an array leaf. Its elements are real (integer, for ints), which
    sympy's Array does not tell its Indexed elements (they would not even be known to commute)."""

    @property
    def assumptions0(self):
        if all(isinstance(v, BooleanAtom) for v in self):
            return {"commutative": True}
        if all(v.is_Integer for v in self):
            return {"integer": True, "commutative": True}
        return {"real": True, "commutative": True}


# -- op -> sympy ----------------------------------------------------------------------------------------------------

def is_boolean(value) -> bool:
    """Whether a form is a truth value. A sympy Symbol is a Boolean too: one that is real (a float or integer leaf)
    is a number."""
    return isinstance(value, Boolean) and not (isinstance(value, sympy.Expr) and value.is_real)


def where_form(condition, a, b, in_sum: bool = False, boolean: bool | None = None):
    """where(c, a, b): a Piecewise of values (the ``where`` function inside a sum or product, ``in_sum``), or for
    boolean branches (``boolean``, by default whether both are ``is_boolean``) the logic (c and a, c or b, ...)."""
    if boolean is None:
        boolean = is_boolean(a) and is_boolean(b)
    if boolean:
        if b is sympy.false:
            return sympy.And(condition, a)
        if a is sympy.true:
            return sympy.Or(condition, b)
        return sympy.ITE(condition, a, b)
    if in_sum:
        return where(condition, a, b)
    # sympy 1.14 evaluating a Piecewise whose condition compares Piecewise expressions recursed without end
    # (where(where(z > x, ...) > where(...), ...)): such a one stays unevaluated. So does one where sympy's ordering
    # of the condition's terms recurses (y - floor(x) >= sigmoid(z) - y did), which fails in a few milliseconds.
    if not condition.has(sympy.Piecewise, where):
        try:
            return sympy.Piecewise((a, condition), (b, True))
        except RecursionError:
            pass
    try:
        return sympy.Piecewise((a, condition), (b, True), evaluate=False)
    except RecursionError:  # even unevaluated, sympy folds a Piecewise in the condition, which recursed the same way
        pairs = (sympy.Tuple.__new__(ExprCondPair, a, condition), sympy.Tuple.__new__(ExprCondPair, b, sympy.true))
        return sympy.Basic.__new__(sympy.Piecewise, *pairs)


CUBE_ROOT = sympy.Rational(1, 3)


def cbrt_form(x):
    """The real cube root, negative for negative x (sympy's x**(1/3) is the principal, complex, root there)."""
    return sympy.sign(x) * sympy.Abs(x) ** CUBE_ROOT


def mod_form(a, b):
    """a mod b with the sign of b: sympy's Mod is a - b floor(a / b), as NumPy's remainder and Python's %; NaN for a
    divisor of 0, as NumPy's float remainder (for integers, see ``integer_remainder_form``)."""
    return sympy.nan if b.is_zero else sympy.Mod(a, b)


def fmod_form(a, b):
    """The remainder of a / b truncated toward zero, with the sign of a (C's fmod): sign(a) Mod(|a|, |b|)."""
    return sympy.nan if b.is_zero else sympy.sign(a) * sympy.Mod(sympy.Abs(a), sympy.Abs(b))


def integer_remainder_form(remainder, b, in_sum: bool = False):
    """An integer mod or fmod: 0 for a divisor of 0, as NumPy gives (``in_sum`` as for ``where_form``)."""
    if b.is_zero:
        return sympy.S.Zero
    if b.is_zero is False:
        return remainder
    return where_form(sympy.Eq(b, 0), sympy.S.Zero, remainder, in_sum)


def _extremum_form(function, *args):
    """sympy.Max or Min of ``args``, unevaluated where sympy cannot order a number among them (it raised "The
    argument 'log((2 - sin(5/4))**(-2) + 1)' is not comparable" for maximum(x, log(1 + (1 / (2 + sin(-1.25)))**2)))."""
    try:
        return function(*args)
    except ValueError:
        return function(*args, evaluate=False)


def max_form(*args):
    return _extremum_form(sympy.Max, *args)


def min_form(*args):
    return _extremum_form(sympy.Min, *args)


def clip_form(x, lo, hi, boolean: bool | None = None):
    """np.clip: Min(Max(x, lo), hi), so that hi wins where lo > hi; for bools (``boolean``, by default whether x
    ``is_boolean``) (x or lo) and hi."""
    if is_boolean(x) if boolean is None else boolean:
        return sympy.And(sympy.Or(x, lo), hi)
    return min_form(max_form(x, lo), hi)


OP_FORMS: dict[str, Callable] = {
    "neg": operator.neg, "abs": sympy.Abs, "sign": sympy.sign, "exp": sympy.exp, "log": sympy.log,
    "log1p": sympy_log1p, "expm1": sympy_expm1, "sqrt": sympy.sqrt, "square": lambda a: a ** 2,
    "reciprocal": lambda a: 1 / a, "sin": sympy.sin, "cos": sympy.cos, "tanh": sympy.tanh, "sigmoid": sigmoid,
    "relu": lambda a: max_form(a, 0), "softplus": softplus, "floor": sympy.floor, "ceil": sympy.ceiling,
    "stop_gradient": stop_gradient,
    "tan": sympy.tan, "sinh": sympy.sinh, "cosh": sympy.cosh, "arcsin": sympy.asin, "arccos": sympy.acos,
    "arctan": sympy.atan, "arcsinh": sympy.asinh, "arccosh": sympy.acosh, "arctanh": sympy.atanh,
    "exp2": sympy_exp2, "log2": sympy_log2, "log10": sympy_log10, "cbrt": cbrt_form,
    "rsqrt": lambda a: a ** -sympy.S.Half, "logit": logit, "erf": sympy.erf, "erfc": sympy.erfc,
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv, "pow": operator.pow,
    "maximum": max_form, "minimum": min_form, "arctan2": sympy.atan2, "hypot": sympy_hypot,
    "logaddexp": logaddexp, "mod": mod_form, "fmod": fmod_form,
    "less": sympy.Lt, "less_equal": sympy.Le, "greater": sympy.Gt, "greater_equal": sympy.Ge, "equal": sympy.Eq,
    "not_equal": sympy.Ne, "where": where_form, "clip": clip_form,
}
# Elementwise ops without an honest sympy form, and why (to_sympy names the node and this reason).
NO_FORM = {
    name: "sympy's real symbols are finite (Symbol('x', real=True).is_finite is True), so a test for NaN or "
          "infinity, the values this op exists to find, would be decided by that assumption, not by the value"
    for name in ("isnan", "isinf", "isfinite")
}


def op_form(op_name: str, args, opaque=frozenset()):
    """The sympy form of an elementwise op applied to ``args``; ops in ``opaque`` become undefined functions of their
    name, which sympy can only carry around (the optimizer keeps its numerically stable ops that way)."""
    if op_name in opaque:
        return sympy.Function(op_name)(*args)
    return OP_FORMS[op_name](*args)


def cast_form(value, source: np.dtype, target: np.dtype, in_sum: bool = False):
    """The value of a cast: bools are 1 and 0, float to int truncates toward zero; other casts keep the value (the
    rounding to a narrower float is not written). ``in_sum`` as for ``where_form``."""
    if target.kind == "b":
        return value if source.kind == "b" else sympy.Ne(value, 0)
    if source.kind == "b":
        return where_form(value, sympy.S.One, sympy.S.Zero, in_sum)
    if source.kind == "f" and target.kind in "iu":
        return where_form(value >= 0, sympy.floor(value), sympy.ceiling(value), in_sum)
    return value


# -- sympy -> graph -------------------------------------------------------------------------------------------------

# sympy functions and the op computing each from the function's arguments (sigmoid, softplus, logaddexp, logit and
# stop_gradient are this module's, not sympy's; scale_gradient, whose k is an attribute, is read by ``_function``).
FUNCTION_OPS = {
    sympy.exp: "exp", sympy.log: "log", sympy_log1p: "log1p", sympy_expm1: "expm1", sympy.Abs: "abs",
    sympy.sign: "sign", sympy.sin: "sin", sympy.cos: "cos", sympy.tanh: "tanh", sigmoid: "sigmoid",
    softplus: "softplus", sympy.floor: "floor", sympy.ceiling: "ceil", stop_gradient: "stop_gradient",
    sympy.tan: "tan", sympy.sinh: "sinh", sympy.cosh: "cosh", sympy.asin: "arcsin", sympy.acos: "arccos",
    sympy.atan: "arctan", sympy.asinh: "arcsinh", sympy.acosh: "arccosh", sympy.atanh: "arctanh",
    sympy_exp2: "exp2", sympy_log2: "log2", sympy_log10: "log10", logit: "logit", sympy.erf: "erf",
    sympy.erfc: "erfc", sympy.atan2: "arctan2", sympy_hypot: "hypot", logaddexp: "logaddexp", sympy.Mod: "mod",
}
RELATIONAL_OPS = {
    sympy.StrictLessThan: "less", sympy.LessThan: "less_equal", sympy.StrictGreaterThan: "greater",
    sympy.GreaterThan: "greater_equal", sympy.Equality: "equal", sympy.Unequality: "not_equal",
}
UNARY_POWER_OPS = {2: "square", sympy.Rational(1, 2): "sqrt", -1: "reciprocal", -sympy.Rational(1, 2): "rsqrt"}
BINARY_OPS = frozenset({"add", "sub", "mul", "div", "pow", "maximum", "minimum", "arctan2", "hypot", "logaddexp",
                        "mod", "fmod", *RELATIONAL_OPS.values()})
TERNARY_OPS = frozenset({"where", "clip"})
OP_ARITY = {name: 3 if name in TERNARY_OPS else 2 if name in BINARY_OPS else 1 for name in OP_FORMS}


def _logical_and(a, b):
    return ops.where(a, b, False)


def _logical_or(a, b):
    return ops.where(a, True, b)


def _heaviside(x, at_zero):
    return ops.where(ops.greater(x, 0), 1.0, ops.where(ops.equal(x, 0), at_zero, 0.0))


def _paired_factors(factors):
    """The factor pairs of a product that are one op, and the other factors: sign(u) |u|^(1/3) is cbrt(u),
    sign(a) Mod(|a|, |b|) is fmod(a, b)."""
    signs = [f for f in factors if isinstance(f, sympy.sign)]
    paired, used = [], set()
    for sign in signs:
        u = sign.args[0]
        for f in factors:
            if f in used or f is sign:
                continue
            if isinstance(f, sympy.Pow) and f.exp == CUBE_ROOT and f.base == sympy.Abs(u):
                paired.append(("cbrt", (u,)))
            elif isinstance(f, sympy.Mod) and f.args[0] == sympy.Abs(u) and isinstance(f.args[1], sympy.Abs):
                paired.append(("fmod", (u, f.args[1].args[0])))
            else:
                continue
            used.update((sign, f))
            break
    return paired, [f for f in factors if f not in used]


def _clip_arguments(expr):
    """(x, lo, hi) when ``expr`` is Min(Max(x, lo), hi), the form of clip; a number among Max's arguments is lo."""
    if not isinstance(expr, sympy.Min) or len(expr.args) != 2:
        return None
    inner = next((a for a in expr.args if isinstance(a, sympy.Max) and len(a.args) == 2), None)
    if inner is None:
        return None
    hi = expr.args[0] if expr.args[1] is inner else expr.args[1]
    x, lo = sorted(inner.args, key=lambda a: a.is_number)
    return x, lo, hi


def _coefficient(expr):
    return expr.as_coeff_Mul()[0]


def _is_negative_term(term) -> bool:
    return _coefficient(term) < 0


def _without_sign(term):
    coefficient, rest = term.as_coeff_Mul()
    if coefficient < 0:
        return rest if coefficient == -1 else -coefficient * rest
    return term


def _split_fraction(expr):
    """Factors of a product: (numerator factors, denominator factors), the sign left out of both."""
    numerator, denominator = [], []
    for factor in expr.args:
        if factor.is_Number:
            if factor < 0:
                factor = -factor
            if factor == 1:
                continue
            p, q = sympy.fraction(factor)
            if p != 1:
                numerator.append(p)
            if q != 1:
                denominator.append(q)
        elif isinstance(factor, sympy.Pow) and factor.exp.is_Number and factor.exp < 0:
            denominator.append(factor.base ** -factor.exp)
        else:
            numerator.append(factor)
    return numerator, denominator


class Term(NamedTuple):
    """A built subexpression: ``value`` (a node or a Python number) and the index each of its axes runs over;
    ``labels`` None: a whole array that a plain symbol stands for, combined elementwise by NumPy broadcasting."""

    value: object
    labels: tuple | None


SCALAR = ()


class GraphBuilder:
    """Builds the graph of sympy expressions over the nodes that ``lookup`` gives for symbols and IndexedBases.

    Each index (a ``sympy.Idx`` or an integer symbol) is an axis: terms over different indices broadcast against
    each other (x[i] * y[j] is an outer product), and the axes of every term follow one order, that of the indices
    given first (``free_indices``) and then of first appearance. Dimension symbols (the n of Idx("i", n)) stand for
    the run-time size of the axis they index.
    """

    def __init__(self, lookup: Callable, float_dtype=None, free_indices=()):
        self.lookup = lookup
        self.float_dtype = None if float_dtype is None else np.dtype(float_dtype)
        self.rank: dict = {}
        self.sizes: dict = {}  # index -> the size of the axes it runs over, once seen
        self.dimensions: dict = {}  # dimension symbol -> (node, axis) whose run-time size it is
        for index in free_indices:
            self._rank(index)

    def result(self, expr) -> Term:
        for indexed in expr.atoms(sympy.Indexed):
            self._register_dimensions(indexed)
        return self.build(expr)

    def build(self, expr) -> Term:
        if isinstance(expr, BooleanAtom):
            return Term(bool(expr), SCALAR)
        if isinstance(expr, sympy.Expr) and expr.is_number:
            return Term(self._real(expr), SCALAR)
        if isinstance(expr, sympy.Idx):
            raise SympyConversionError(f"the index {expr} is used as a value; indices can only index arrays")
        for kind, method in self._dispatch:
            if isinstance(expr, kind):
                return method(self, expr)
        if isinstance(expr, sympy.Function):
            return self._function(expr)
        raise SympyConversionError(f"no symgraph op computes {type(expr).__name__} ({expr})")

    # -- atoms ------------------------------------------------------------------------------------------------------
    def _real(self, expr) -> float:
        if expr is sympy.nan:
            return float("nan")
        if expr.is_real is False or expr is sympy.zoo:
            raise SympyConversionError(f"{expr} is not a real number: graphs compute real values")
        try:
            return float(expr)
        except TypeError:
            raise SympyConversionError(f"{expr} is not a real number: graphs compute real values") from None

    def _symbol(self, expr) -> Term:
        node = self.lookup(expr)
        if node is not None:
            return Term(node, SCALAR if node.ndim == 0 else None)
        if expr in self.dimensions:
            array, axis = self.dimensions[expr]
            return Term(ops.cast(ops.size(array, axis), self.float_dtype or np.float32), SCALAR)
        raise SympyConversionError(f"the symbol {expr} has no node")

    def _indexed(self, expr) -> Term:
        node = self._array(expr.base)
        if len(expr.indices) != node.ndim:
            raise SympyConversionError(f"{expr} has {len(expr.indices)} indices but {node.describe()} has "
                                       f"{node.ndim} axes")
        labels, key, squeezed = [], [], []
        for axis, index in enumerate(expr.indices):
            size = node.shape[axis]
            if index.is_Integer:
                position = int(index)
                if size is not None and not 0 <= position < size:
                    raise SympyConversionError(f"{expr}: index {position} is out of range for axis {axis} of "
                                               f"{node.describe()}")
                if size == 1:
                    squeezed.append(axis)
                    key.append(slice(None))
                else:
                    key.append(position)
                continue
            if not (isinstance(index, sympy.Idx) or (isinstance(index, sympy.Symbol) and index.is_integer)):
                raise SympyConversionError(f"{expr}: the index {index} is neither an index (sympy.Idx or an integer "
                                           f"symbol) nor an integer; shifted or computed indices are not elementwise")
            if index in labels:
                raise SympyConversionError(f"{expr} repeats the index {index} (a diagonal is not elementwise)")
            self._check_size(index, size, f"axis {axis} of {node.describe()}")
            labels.append(index)
            key.append(slice(None))
        if any(isinstance(k, int) for k in key):
            node = ops.index(node, tuple(key))
            squeezed = [axis - sum(isinstance(k, int) for k in key[:axis]) for axis in squeezed]
        if squeezed:
            node = ops.squeeze(node, tuple(squeezed))
        order = sorted(range(len(labels)), key=lambda k: self._rank(labels[k]))
        if order != list(range(len(labels))):
            node = ops.transpose(node, tuple(order))
        return Term(node, tuple(labels[k] for k in order))

    def _array(self, base) -> Node:
        if isinstance(base, sympy.NDimArray):
            return self._array_constant(base)
        node = self.lookup(base)
        if node is None:
            raise SympyConversionError(f"the array {base} has no node")
        return node

    def _array_constant(self, array) -> Node:
        """A sympy Array of numbers as a constant: bool when every element is one, else of the float dtype; without
        one, int64 when every element is an integer, else float32."""
        elements = [sympy.sympify(v) for v in array]
        if all(isinstance(v, BooleanAtom) for v in elements):
            values = np.array([bool(v) for v in elements])
        elif self.float_dtype is None and all(v.is_Integer for v in elements):
            values = np.array([int(v) for v in elements], np.int64)
        else:
            values = np.array([self._real(v) for v in elements], self.float_dtype or np.float32)
        return as_node(values.reshape(array.shape))

    def _register_dimensions(self, indexed) -> None:
        if isinstance(indexed.base, sympy.NDimArray):
            return
        node = self.lookup(indexed.base)
        if node is None:
            return
        for axis, index in enumerate(indexed.indices):
            if isinstance(index, sympy.Idx) and index.upper is not None and axis < node.ndim:
                dimension = index.upper + 1
                if isinstance(dimension, sympy.Symbol) and node.shape[axis] is None:
                    self.dimensions.setdefault(dimension, (node, axis))

    def _check_size(self, index, size, what: str) -> None:
        """An index runs over one size: its range (for a sympy.Idx) and every axis it indexes must agree."""
        expected = self.sizes.get(index)
        if expected is None and isinstance(index, sympy.Idx) and index.upper is not None and index.upper.is_Integer:
            expected = int(index.upper) + 1
        if expected is not None and size is not None and expected != size:
            raise SympyConversionError(f"the index {index} runs over {expected} values but indexes {what}, of size "
                                       f"{size}")
        if size is not None:
            self.sizes[index] = size

    def _rank(self, index) -> int:
        return self.rank.setdefault(index, len(self.rank))

    # -- combining terms --------------------------------------------------------------------------------------------
    def apply(self, build: Callable, *terms: Term) -> Term:
        """``build`` applied to the terms' values, aligned so that the axes of one index meet. With a ``float_dtype``,
        numbers that meet no float node take it (where(c, 1, 0) is of that dtype, not of a weak Python float's)."""
        labels = self._union(terms)
        values = [self._aligned(t, labels) for t in terms]
        if self.float_dtype is not None and not any(isinstance(v, Node) and v.dtype.kind == "f" for v in values):
            values = [as_node(np.asarray(v, self.float_dtype)) if isinstance(v, float) else v for v in values]
        return Term(build(*values), labels)

    def _union(self, terms) -> tuple | None:
        if any(t.labels is None for t in terms):
            indexed = [t for t in terms if t.labels]
            if indexed:
                raise SympyConversionError(f"a symbol standing for a whole array meets the indices "
                                           f"{', '.join(map(str, indexed[0].labels))}; index the array instead")
            return None
        union = {label for t in terms for label in t.labels}
        return tuple(sorted(union, key=self._rank))

    @staticmethod
    def _aligned(term: Term, labels):
        """The term's value with size-1 axes for the labels it lacks (leading ones come from broadcasting)."""
        if not term.labels or labels is None:
            return term.value
        first = labels.index(term.labels[0])
        missing = tuple(k - first for k, label in enumerate(labels) if k > first and label not in term.labels)
        return ops.expand_dims(term.value, missing) if missing else term.value

    def _fold(self, build, terms, initial=None) -> Term:
        def combine(a, b):
            return self.apply(build, a, b)
        return reduce(combine, terms) if initial is None else reduce(combine, terms, initial)

    # -- arithmetic -------------------------------------------------------------------------------------------------
    def _add(self, expr) -> Term:
        positive = [self.build(a) for a in expr.args if not _is_negative_term(a)]
        negative = [self.build(_without_sign(a)) for a in expr.args if _is_negative_term(a)]
        if not positive:
            return self.apply(ops.neg, self._fold(ops.add, negative))
        return self._fold(ops.sub, negative, self._fold(ops.add, positive))

    def _mul(self, expr) -> Term:
        paired, rest = _paired_factors(expr.args)
        if paired:
            terms = [self.apply(getattr(ops, name), *[self.build(a) for a in args]) for name, args in paired]
            remainder = sympy.Mul(*rest)
            if remainder == -1:
                return self.apply(ops.neg, self._fold(ops.mul, terms))
            return self._fold(ops.mul, terms if remainder == 1 else [self.build(remainder)] + terms)
        numerator, denominator = _split_fraction(expr)
        top = self._fold(ops.mul, [self.build(f) for f in numerator]) if numerator else Term(1.0, SCALAR)
        if denominator:
            top = self.apply(ops.div, top, self._fold(ops.mul, [self.build(f) for f in denominator]))
        return self.apply(ops.neg, top) if _coefficient(expr) < 0 else top

    def _pow(self, expr) -> Term:
        base = self.build(expr.base)
        unary = UNARY_POWER_OPS.get(expr.exp)
        if unary is not None:
            return self.apply(getattr(ops, unary), base)
        return self.apply(ops.pow, base, self.build(expr.exp))

    def _reduction(self, expr) -> Term:
        """Sum or Product over full index ranges: a reduction over the index's axis (or, for a summand that does
        not depend on the index, a multiplication or power by the count)."""
        term = self.build(expr.function)
        for index, lower, upper in expr.limits:
            if lower != 0:
                raise SympyConversionError(f"{expr} runs {index} from {lower}: only whole axes (from 0) are reduced")
            count = upper + 1
            labels = term.labels or ()
            if index in labels:
                axis = labels.index(index)
                size = term.value.shape[axis]
                if count.is_Integer and size is not None and int(count) != size:
                    raise SympyConversionError(f"{expr} runs {index} over {count} values, but it indexes an axis of "
                                               f"size {size}")
                reduce_op = ops.sum if isinstance(expr, sympy.Sum) else ops.prod
                term = Term(reduce_op(term.value, axis), labels[:axis] + labels[axis + 1:])
            else:
                repeat = ops.mul if isinstance(expr, sympy.Sum) else ops.pow
                term = self.apply(repeat, term, self.build(count))
        return term

    # -- choices and comparisons -------------------------------------------------------------------------------------
    def _piecewise(self, expr) -> Term:
        pieces = list(expr.args)
        if pieces[-1].cond is sympy.true:
            result = self.build(pieces.pop().expr)
        else:
            result = Term(float("nan"), SCALAR)  # sympy's Piecewise is undefined where no condition holds
        for piece in reversed(pieces):
            result = self.apply(ops.where, self.build(piece.cond), self.build(piece.expr), result)
        return result

    def _relational(self, expr) -> Term:
        build = getattr(ops, RELATIONAL_OPS[type(expr)])
        return self.apply(build, self.build(expr.lhs), self.build(expr.rhs))

    def _logic(self, expr) -> Term:
        args = [self.build(a) for a in expr.args]
        if isinstance(expr, sympy.Not):
            return self.apply(lambda a: ops.equal(a, False), *args)
        if isinstance(expr, sympy.ITE):
            return self.apply(ops.where, *args)
        build = {sympy.And: _logical_and, sympy.Or: _logical_or, sympy.Xor: ops.not_equal}.get(type(expr))
        if build is None:
            raise SympyConversionError(f"no symgraph op computes {type(expr).__name__} ({expr})")
        return self._fold(build, args)

    def _extremum(self, expr) -> Term:
        clipped = _clip_arguments(expr)
        if clipped is not None:
            return self.apply(ops.clip, *[self.build(a) for a in clipped])
        if isinstance(expr, sympy.Max) and len(expr.args) == 2 and sympy.S.Zero in expr.args:
            other = expr.args[1] if expr.args[0] == 0 else expr.args[0]
            return self.apply(ops.relu, self.build(other))
        build = ops.maximum if isinstance(expr, sympy.Max) else ops.minimum
        return self._fold(build, [self.build(a) for a in expr.args])

    def _where(self, expr) -> Term:
        return self.apply(ops.where, *[self.build(a) for a in expr.args])

    def _function(self, expr) -> Term:
        if isinstance(expr, sympy.Heaviside):
            at_zero = expr.args[1] if len(expr.args) == 2 else sympy.S.Half
            return self.apply(_heaviside, self.build(expr.args[0]), self.build(at_zero))
        if isinstance(expr, scale_gradient):
            factor = expr.args[1]
            if not factor.is_number:
                raise SympyConversionError(f"the factor of {expr} must be a number (it is the op's attribute)")
            return self.apply(lambda x: scale_gradient_op(x, self._real(factor)), self.build(expr.args[0]))
        if isinstance(expr, sympy.log) and isinstance(expr.args[0], sympy.Sum):
            term = self._log_sum_exp(expr.args[0])
            if term is not None:
                return term
        name = FUNCTION_OPS.get(expr.func)
        if name is None and isinstance(expr.func, UndefinedFunction) and len(expr.args) == OP_ARITY.get(
                expr.func.__name__):
            name = expr.func.__name__  # an undefined function named after an op (the optimizer's stable ops)
        if name is None and isinstance(expr, sympy.KroneckerDelta):
            raise SympyConversionError(f"no symgraph op computes KroneckerDelta (in {expr}); the derivative of a sum "
                                       f"by an element has them until .doit() sums them away")
        if name is None:
            raise SympyConversionError(
                f"no symgraph op computes {expr.func} (in {expr}); the functions it builds are "
                f"{', '.join(sorted(str(f) for f in FUNCTION_OPS))}, Max, Min, Heaviside and Piecewise")
        return self.apply(getattr(ops, name), *[self.build(a) for a in expr.args])

    def _log_sum_exp(self, total) -> Term | None:
        """log(Sum(exp(f), ...)) over whole axes of f: one logsumexp (stable, where log, sum and exp overflow); None
        for any other sum."""
        if not isinstance(total.function, sympy.exp):
            return None
        limits = total.limits
        if any(lower != 0 for _, lower, _ in limits):
            return None
        term = self.build(total.function.args[0])
        labels = term.labels or ()
        if not all(index in labels for index, _, _ in limits):
            return None
        axes = tuple(labels.index(index) for index, _, _ in limits)
        for (index, _, upper), axis in zip(limits, axes):
            size = term.value.shape[axis]
            if (upper + 1).is_Integer and size is not None and int(upper + 1) != size:
                return None  # not a whole axis: _reduction names the mismatch
        kept = tuple(label for label in labels if label not in {index for index, _, _ in limits})
        return Term(logsumexp_op(term.value, axes), kept)

    _dispatch = (
        (sympy.Symbol, _symbol), (sympy.Indexed, _indexed), (sympy.Add, _add), (sympy.Mul, _mul),
        (sympy.Pow, _pow), (sympy.Sum, _reduction), (sympy.Product, _reduction), (sympy.Piecewise, _piecewise),
        (sympy.core.relational.Relational, _relational), ((sympy.And, sympy.Or, sympy.Not, sympy.Xor, sympy.ITE),
                                                          _logic),
        ((sympy.Max, sympy.Min), _extremum), (where, _where),
    )


def build_graph(expr, lookup: Callable):
    """The graph of ``expr`` (a node, or a Python number when it has no symbols) with plain symbols standing for
    whole arrays (``lookup(symbol)`` gives each one's node), combined elementwise as NumPy broadcasts them; numbers
    stay weak Python scalars."""
    return GraphBuilder(lookup).result(expr).value
