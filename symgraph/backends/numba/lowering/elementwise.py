"""Lowerings of symgraph.ops.elementwise: scalar expressions inlined into fused loops.

Inputs are cast to the node's dtype first where NumPy would promote them, so that Numba's scalar arithmetic runs in
the dtype NumPy computes in (float32 stays float32; int32 results are wrapped back, as NumPy's wrap around).
"""

from __future__ import annotations

from symgraph.backends.numba.lowering import ScalarLowering, ViewLowering, register
from symgraph.ops import elementwise as ew


def broadcast_shape(node, shapes, ctx):
    if len(shapes) == 1:
        return shapes[0]
    return f"_broadcast_shapes({ctx.what(node)}, {', '.join(shapes)})"


def _arithmetic(template, closed=True):
    """An op computed in the node's dtype: inputs are cast to it, then ``template`` combines them."""
    def expr(node, args, ctx, index):
        args = [ctx.typed(a, i.dtype, node.dtype) for a, i in zip(args, node.inputs)]
        return template.format(*args, zero=ctx.literal(0, node.dtype), one=ctx.literal(1, node.dtype))
    return ScalarLowering(expr, broadcast_shape, closed=closed)


def _vector_math(name, template):
    """A float32/float64 op through kernels/vecmath.py's ``<name>_f32``/``_f64``, which LLVM inlines and vectorizes
    in the loop (np.exp and friends stay scalar libm calls); other dtypes compute ``template`` as NumPy does."""
    fallback = _arithmetic(template).expr

    def expr(node, args, ctx, index):
        if node.dtype.name not in ("float32", "float64"):
            return fallback(node, args, ctx, index)
        (x,) = [ctx.typed(a, i.dtype, node.dtype) for a, i in zip(args, node.inputs)]
        return f"{ctx.helper('vecmath', f'{name}_f{node.dtype.itemsize * 8}')}({x})"
    return ScalarLowering(expr, broadcast_shape, closed=True)


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
register(_arithmetic("np.maximum({0}, {zero})"), ew.Relu)
register(_vector_math("softplus", "np.logaddexp({0}, {zero})"), ew.Softplus)
register(_arithmetic("np.floor({0})"), ew.Floor)
register(_arithmetic("np.ceil({0})"), ew.Ceil)

register(_arithmetic("({0} + {1})"), ew.Add)
register(_arithmetic("({0} - {1})"), ew.Sub)
register(_arithmetic("({0} * {1})"), ew.Mul)
register(_arithmetic("({0} / {1})"), ew.Div)
register(_arithmetic("np.power({0}, {1})"), ew.Pow)
register(_arithmetic("np.maximum({0}, {1})"), ew.Maximum)
register(_arithmetic("np.minimum({0}, {1})"), ew.Minimum)

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


def _cast(node, args, ctx, index):
    return ctx.cast(args[0], node.dtype)


register(ScalarLowering(_cast, broadcast_shape, closed=True), ew.Cast)

# Identity forward: a view that is absorbed into whatever reads it.
register(ViewLowering(broadcast_shape, lambda node, index: index, lambda node, arg, ctx: arg), ew.StopGradient)
