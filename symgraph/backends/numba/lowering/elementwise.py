"""Lowerings of symgraph.ops.elementwise: scalar expressions inlined into fused loops.

Inputs are cast to the node's dtype first where NumPy would promote them, so that Numba's scalar arithmetic runs in
the dtype NumPy computes in (float32 stays float32; int32 results are wrapped back, as NumPy's wrap around). The
transcendental functions call ``math`` (libm, in float32 for float32: Numba types math.tan(float32) as float32),
which gives NaN, infinities and signed zeros where NumPy does; where Numba's own version differs from NumPy's (the
sign of a zero remainder, integer fmod, integer division by 0 or -1, which traps), the expression is NumPy's
algorithm written out.
"""

from __future__ import annotations

import re

from symgraph.backends.numba.lowering import ScalarLowering, ViewLowering, register
from symgraph.ops import elementwise as ew


def broadcast_shape(node, shapes, ctx):
    if len(shapes) == 1:
        return shapes[0]
    return f"_broadcast_shapes({ctx.what(node)}, {', '.join(shapes)})"


# Costs per element (in simple vector operations): a vecmath function (kernels/vecmath.py, inlined and vectorized) and
# a scalar libm call (math.*, and the np.* functions Numba lowers to one: LLVM does not vectorize them).
VECTOR_MATH_COST = 8
LIBM_CALL_COST = 30
_LIBM_CALL = re.compile(r"\bmath\.|np\.(sin|cos|power|logaddexp|exp|log1p|expm1|tanh)\(")


def _in_node_dtype(node, args, ctx) -> list:
    """The inputs' expressions cast to the node's dtype where NumPy would promote them."""
    return [ctx.typed(a, i.dtype, node.dtype) for a, i in zip(args, node.inputs)]


def _arithmetic(template, closed=True):
    """An op computed in the node's dtype: inputs are cast to it, then ``template`` combines them."""
    def expr(node, args, ctx, index):
        args = _in_node_dtype(node, args, ctx)
        return template.format(*args, zero=ctx.literal(0, node.dtype), one=ctx.literal(1, node.dtype),
                               two=ctx.literal(2, node.dtype))
    cost = LIBM_CALL_COST if _LIBM_CALL.search(template) else 1
    return ScalarLowering(expr, broadcast_shape, closed=closed, cost=cost)


def _vector_math(name, template):
    """A float32/float64 op through kernels/vecmath.py's ``<name>_f32``/``_f64``, which LLVM inlines and vectorizes
    in the loop (np.exp and friends stay scalar libm calls); other dtypes compute ``template`` as NumPy does."""
    fallback = _arithmetic(template).expr

    def expr(node, args, ctx, index):
        if node.dtype.name not in ("float32", "float64"):
            return fallback(node, args, ctx, index)
        (x,) = _in_node_dtype(node, args, ctx)
        return f"{ctx.helper('vecmath', f'{name}_f{node.dtype.itemsize * 8}')}({x})"
    return ScalarLowering(expr, broadcast_shape, closed=True, cost=VECTOR_MATH_COST)


def _extremum(name, symbol):
    """np.maximum (``symbol`` ">") or np.minimum ("<") as NumPy computes them: NaN if either operand is NaN, else of
    two equal values the second. Numba's np.maximum returns the first, so maximum(-0.0, 0.0) came out -0.0 on Numba
    and 0.0 on the NumPy backend. (np.clip keeps Numba's np.minimum(np.maximum(...)): NumPy's own clip picks
    between equal zeros differently with scalar and array bounds.)"""
    def expr(node, args, ctx, index):
        a, b = _in_node_dtype(node, args, ctx)
        if node.dtype.kind != "f":
            return f"np.{name}({a}, {b})"
        return f"({a} if {a} {symbol} {b} or np.isnan({a}) else {b})"
    return ScalarLowering(expr, broadcast_shape, closed=True)


def _relu(node, args, ctx, index):
    """np.maximum(x, 0): 0 for -0.0 too (Numba's np.maximum gave -0.0, and 1 / relu(-0.0) -inf), NaN for NaN."""
    (x,) = _in_node_dtype(node, args, ctx)
    zero = ctx.literal(0, node.dtype)
    return f"({zero} if {x} <= {zero} else {x})" if node.dtype.kind == "f" else f"np.maximum({x}, {zero})"


def _comparison(symbol):
    def expr(node, args, ctx, index):
        return f"({args[0]} {symbol} {args[1]})"
    return ScalarLowering(expr, broadcast_shape, closed=True)


register(_arithmetic("(-{0})"), ew.Neg)
register(_arithmetic("np.abs({0})"), ew.Abs)
register(_arithmetic("np.sign({0})"), ew.Sign)
register(_vector_math("exp", "np.exp({0})"), ew.Exp)
register(_vector_math("log", "np.log({0})"), ew.Log)
register(_vector_math("log1p", "np.log1p({0})"), ew.Log1p)
register(_vector_math("expm1", "np.expm1({0})"), ew.Expm1)
register(_arithmetic("np.sqrt({0})"), ew.Sqrt)
register(_arithmetic("({0} * {0})"), ew.Square)
register(_arithmetic("np.reciprocal({0})"), ew.Reciprocal)
register(_arithmetic("np.sin({0})"), ew.Sin)
register(_arithmetic("np.cos({0})"), ew.Cos)
register(_vector_math("tanh", "np.tanh({0})"), ew.Tanh)
register(_vector_math("sigmoid", "({one} / ({one} + np.exp(-{0})))"), ew.Sigmoid)
register(ScalarLowering(_relu, broadcast_shape, closed=True), ew.Relu)
register(_vector_math("softplus", "np.logaddexp({0}, {zero})"), ew.Softplus)
register(_arithmetic("np.floor({0})"), ew.Floor)
register(_arithmetic("np.ceil({0})"), ew.Ceil)
register(_arithmetic("math.tan({0})"), ew.Tan)
register(_arithmetic("math.sinh({0})"), ew.Sinh)
register(_arithmetic("math.cosh({0})"), ew.Cosh)
register(_arithmetic("math.asin({0})"), ew.Arcsin)
register(_arithmetic("math.acos({0})"), ew.Arccos)
register(_arithmetic("math.atan({0})"), ew.Arctan)
register(_arithmetic("math.asinh({0})"), ew.Arcsinh)
register(_arithmetic("math.acosh({0})"), ew.Arccosh)
register(_arithmetic("math.atanh({0})"), ew.Arctanh)
# Numba's np.exp2 declares one llvm.exp2 for float32 and float64 alike (a module using both fails to compile);
# glibc's pow(2, x) gives np.exp2's values bitwise. (math.exp2 would need Python 3.11.)
register(_arithmetic("math.pow({two}, {0})"), ew.Exp2)
register(_arithmetic("math.log2({0})"), ew.Log2)
register(_arithmetic("math.log10({0})"), ew.Log10)
register(_vector_math("cbrt", "np.cbrt({0})"), ew.Cbrt)  # Numba's np.cbrt is pow(x, 1/3) before 0.66
register(_arithmetic("({one} / math.sqrt({0}))"), ew.Rsqrt)
register(_arithmetic("math.erf({0})"), ew.Erf)
register(_arithmetic("math.erfc({0})"), ew.Erfc)


def _logit(node, args, ctx, index):
    """scipy.special.logit's formula: log(x / (1 - x)), and log1p(2(x - 1/2)) - log1p(-2(x - 1/2)) on [0.3, 0.65],
    where the quotient loses accuracy."""
    (x,) = _in_node_dtype(node, args, ctx)
    low, high, half, one, two = (ctx.literal(v, node.dtype) for v in (0.3, 0.65, 0.5, 1.0, 2.0))
    centered = f"({two} * ({x} - {half}))"
    return (f"(math.log({x} / ({one} - {x})) if ({x} < {low} or {x} > {high}) "
            f"else (math.log1p({centered}) - math.log1p(-{centered})))")


register(ScalarLowering(_logit, broadcast_shape, closed=True), ew.Logit)


def _predicate(function, otherwise):
    """``math.<function>`` of a float; for integers and bools, whose values are all finite, the constant
    ``otherwise``."""
    def expr(node, args, ctx, index):
        return f"math.{function}({args[0]})" if node.inputs[0].dtype.kind == "f" else repr(otherwise)
    return ScalarLowering(expr, broadcast_shape, closed=True)


register(_predicate("isnan", False), ew.Isnan)
register(_predicate("isinf", False), ew.Isinf)
register(_predicate("isfinite", True), ew.Isfinite)

register(_arithmetic("({0} + {1})"), ew.Add)
register(_arithmetic("({0} - {1})"), ew.Sub)
register(_arithmetic("({0} * {1})"), ew.Mul)
register(_arithmetic("({0} / {1})"), ew.Div)
register(_arithmetic("np.power({0}, {1})"), ew.Pow)
register(_extremum("maximum", ">"), ew.Maximum)
register(_extremum("minimum", "<"), ew.Minimum)
register(_arithmetic("math.atan2({0}, {1})"), ew.Arctan2)
register(_arithmetic("math.hypot({0}, {1})"), ew.Hypot)
register(_arithmetic("np.logaddexp({0}, {1})"), ew.Logaddexp)


def _remainder(floored):
    """NumPy's remainder (``floored``: the sign of the divisor) or fmod (the sign of the dividend).

    Floats: NumPy's npy_remainder, from the C fmod m: m + b where m is nonzero and its sign differs from b's, a zero
    with b's sign where m is zero, and fmod's NaN for b = 0 (Numba's np.mod gives +0 where NumPy gives -0). Integers:
    0 for a divisor of 0 (NumPy's value, with a warning there) or -1 (where the division overflows and traps); fmod
    from the floored remainder r, as r - b where r is nonzero and a's and b's signs differ (Numba's integer np.fmod
    is not C's)."""
    def expr(node, args, ctx, index):
        a, b = _in_node_dtype(node, args, ctx)
        zero = ctx.literal(0, node.dtype)
        if node.dtype.kind == "f":
            m = f"np.fmod({a}, {b})"
            if not floored:
                return m
            adjusted = f"({m} + {b} if ({b} < {zero}) != ({m} < {zero}) else {m})"
            return f"({m} if {b} == {zero} else ({adjusted} if {m} != {zero} else np.copysign({zero}, {b})))"
        r = f"np.mod({a}, {b})"
        if not floored:
            r = f"({r} - {b} if {r} != {zero} and ({a} < {zero}) != ({b} < {zero}) else {r})"
        return f"({zero} if {b} == {zero} or {b} == {ctx.literal(-1, node.dtype)} else {r})"
    return ScalarLowering(expr, broadcast_shape)


register(_remainder(floored=True), ew.Mod)
register(_remainder(floored=False), ew.Fmod)

register(_comparison("<"), ew.Less)
register(_comparison("<="), ew.LessEqual)
register(_comparison(">"), ew.Greater)
register(_comparison(">="), ew.GreaterEqual)
register(_comparison("=="), ew.Equal)
register(_comparison("!="), ew.NotEqual)


def _where(node, args, ctx, index):
    condition, a, b = args
    a = ctx.typed(a, node.inputs[1].dtype, node.dtype)
    b = ctx.typed(b, node.inputs[2].dtype, node.dtype)
    return f"({a} if {condition} else {b})"


register(ScalarLowering(_where, broadcast_shape, closed=True), ew.Where)
register(_arithmetic("np.minimum(np.maximum({0}, {1}), {2})"), ew.Clip)  # np.clip's definition


def _cast(node, args, ctx, index):
    return ctx.cast(args[0], node.dtype)


register(ScalarLowering(_cast, broadcast_shape, closed=True), ew.Cast)

# Identity forward (stop_gradient, clip_gradient, scale_gradient): a view that is absorbed into whatever reads it.
IDENTITY_VIEW = ViewLowering(broadcast_shape, lambda node, index: index, lambda node, arg, ctx: arg)
register(IDENTITY_VIEW, ew.StopGradient)
