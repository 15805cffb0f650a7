"""Graphs as sympy expressions and LaTeX, and sympy expressions as graphs: ``sg.to_sympy``, ``sg.latex`` and
``sg.from_sympy``.

The expression of a node is the math of its value, for graphs of scalar and elementwise ops (all of them but isnan,
isinf and isfinite), their sums, means, products and logsumexps (over all or some axes), softmax and log_softmax,
broadcasting, transposes, matmul and op_from_graph ops (written as their subgraphs) -- every op that the gradient of
such a graph contains:

- Placeholders and variables are real symbols named after them (``sympy.Symbol("x", real=True)``; integer leaves are
  integer, bool leaves plain symbols); of rank > 0 they are ``sympy.IndexedBase`` arrays. A name used by two leaves
  gets a suffix (x, x_2); unnamed leaves are placeholder_0, variable_0, ... in schedule order.
- A node of shape (3, 4) is written as its element [i, j], in the indices ``sympy.Idx("i", 3)``, ``sympy.Idx("j",
  4)`` (then k, l, m, i5, ...). Leaves are indexed along the axes they are broadcast on: x[i], and x[i, 0] for a
  size-1 axis (always index 0). A sum over an axis is a ``sympy.Sum`` over a new index (p, q, ...; a summand
  constant along it is multiplied by the count), a mean that sum divided by the count, prod a ``sympy.Product``,
  matmul the sum of products: exact and differentiable by sympy (``sympy.diff(e, x[i])`` then ``.doit()``). An axis
  of unknown size runs to a dimension symbol named after its leaf (``Idx("i", n_x)``); unknown dimensions are taken
  to be the full size along them, not a broadcast 1.
- Constants whose elements are all equal are sympy numbers: floats the shortest decimal that rounds to them in their
  dtype (0.1 -> 1/10), ints exactly, inf/nan as oo/nan, bools true/false; other constants are sympy Arrays indexed
  like leaves.
- sigmoid, softplus, logaddexp and logit are sympy functions of this package (``symgraph.sympy_bridge``) with their
  derivatives, LaTeX \\sigma(x), softplus(x), ..., ``.rewrite(sympy.exp)`` to 1/(1+e^-x), log(1+e^x), log(e^a+e^b)
  (logit: ``.rewrite(sympy.log)``, log(x/(1-x))), and stable NumPy code for ``sympy.lambdify``; log1p, expm1, exp2,
  log2, log10 and hypot are ``sympy.codegen.cfunctions``' (LaTeX 2^x, log_2 x, ...); the trigonometric, hyperbolic
  and inverse functions, erf, erfc and atan2 are sympy's own; cbrt is the real cube root sign(x) |x|^(1/3); rsqrt
  x^(-1/2); mod is ``sympy.Mod`` (the sign of the divisor, as NumPy's and Python's %), fmod sign(a) Mod(|a|, |b|)
  (the sign of the dividend), both NaN for a float divisor of 0 and 0 for an integer one (a Piecewise), as NumPy;
  clip is Min(Max(x, lo), hi); relu is Max(x, 0); stop_gradient is an identity whose derivative is 0, scale_gradient(x,
  k) one whose derivative is k. logsumexp is log(Sum(exp(...))), softmax e^x[i] / Sum(e^x[p]), log_softmax x[i] -
  log(Sum(e^x[p])). where is a Piecewise (casts from bool Piecewise((1, c), (0, True))), except inside
  a sum or product, where it is ``where(c, a, b)`` (``symgraph.sympy_bridge.where``, ``.rewrite(sympy.Piecewise)``):
  sympy's piecewise_fold, which Sum, Piecewise and simplify call, moves a Piecewise out of a Sum even when its
  condition depends on the summation index, and so changes the value.

A graph with any other op (indexing, max reductions, convolutions, clip_gradient, custom ops, ...) raises
``sg.SympyConversionError`` naming the first such node in schedule order and its line; so do isnan, isinf and
isfinite, with the reason: sympy's real symbols are finite, so a test for NaN or infinity would be decided by that
assumption, not by the value.

``from_sympy`` builds with as few ops as the expression's form allows (x - y is one sub, x/y one div, Max(x, 0) a
relu, Min(Max(x, lo), hi) a clip, sign(x) |x|^(1/3) a cbrt, sign(a) Mod(|a|, |b|) an fmod, log(Sum(exp(...))) over
whole axes a logsumexp), and reads indexed expressions back: each index is an axis, Sum and Product over whole index ranges are
reductions. ``sympy_form`` returns the expression with the symbols, indices and dtype it used, so that
``from_sympy(*sympy_form(g))`` rebuilds ``g``'s shape and dtype.

sympy is imported by these functions, not by ``import symgraph``.
"""

from __future__ import annotations

from typing import Mapping

from symgraph.errors import DTypeError
from symgraph.graph import Node, user_site


def to_sympy(node: Node):
    """The sympy expression of ``node``'s value (of its element [i, j, ...] for a node of rank > 0)."""
    return _form(node, "sg.to_sympy").expression


def sympy_form(node: Node):
    """``(expression, symbols, indices, dtype)``: ``to_sympy(node)``, each placeholder's and variable's sympy symbol
    (or IndexedBase) mapped to it, the index of each axis of ``node`` (sympy.Idx, or 0 for a size-1 axis) and its
    float dtype (None for bool and int nodes)."""
    return _form(node, "sympy_form")


def _form(node, caller: str):
    _check_node(node, caller)
    from symgraph.printing import sympy_expressions

    return sympy_expressions.sympy_form(node, caller)


def latex(node) -> str:
    """LaTeX text of ``to_sympy(node)`` (or of a sympy expression): sympy's LaTeX, with sigmoid as \\sigma(x), log1p
    and expm1 as log(1 + x) and (e^x - 1), exp2 as 2^x, log2 and log10 as log_2 and log_10, a mod in a product
    bracketed, and indices by their names."""
    import sympy

    from symgraph.printing import sympy_expressions

    if isinstance(node, sympy.Basic):
        return sympy_expressions.latex(node)
    return sympy_expressions.latex(_form(node, "sg.latex").expression)


def from_sympy(expr, symbols: Mapping, indices=None, dtype=None) -> Node:
    """The graph computing the sympy expression ``expr``, with ``symbols`` mapping each symbol (or IndexedBase, or
    its name) to its node.

    Covers every function the elementwise ops compute: + - * / ** (square, sqrt, reciprocal, rsqrt for powers 2,
    1/2, -1, -1/2), exp, log, log1p, expm1, exp2, log2, log10, sin, cos, tan, tanh, sinh, cosh, asin, acos, atan,
    atan2, asinh, acosh, atanh, erf, erfc, hypot, Mod, Abs, sign, floor, ceiling, Max and Min (Max(x, 0) is relu,
    Min(Max(x, lo), hi) clip), sign(x) |x|^(1/3) (cbrt), sign(a) Mod(|a|, |b|) (fmod), sigmoid, softplus,
    logaddexp, logit, stop_gradient, scale_gradient, Heaviside, Piecewise, ITE and where, comparisons,
    And/Or/Not/Xor, numbers; and Indexed arrays with Sum and Product over whole index ranges (log(Sum(exp(...))) is
    logsumexp). The result's axes are its free indices, in to_sympy's order (i, j, k,
    ...) or in the order of ``indices`` (a 0 there is a size-1 axis; an index the expression does not depend on is
    broadcast along its range). Numbers that meet no float node, arrays of numbers and expressions without symbols
    are of the float ``dtype``: by default the widest among the nodes, float32 when there is none.
    """
    import sympy

    if isinstance(expr, (bool, int, float)):
        expr = sympy.sympify(expr)
    if not isinstance(expr, sympy.Basic):
        raise TypeError(f"sg.from_sympy takes a sympy expression, got {type(expr).__name__} {expr!r:.60}\n"
                        f"  at {user_site()}")
    if not isinstance(symbols, Mapping):
        raise TypeError(f"sg.from_sympy: symbols must map sympy symbols to nodes, got {type(symbols).__name__} "
                        f"{symbols!r:.60}\n  at {user_site()}")
    if indices is not None:
        indices = _checked_indices(indices, sympy)
    if dtype is not None:
        dtype = _checked_float_dtype(dtype)
    from symgraph.printing import sympy_expressions

    return sympy_expressions.from_sympy(expr, dict(symbols), indices, dtype)


def _checked_float_dtype(dtype):
    from symgraph import dtypes

    try:
        checked = dtypes.as_dtype(dtype)
    except DTypeError as error:
        raise DTypeError(f"sg.from_sympy: dtype: {error}\n  at {user_site()}") from None
    if checked.kind != "f":
        raise DTypeError(f"sg.from_sympy: dtype must be a float dtype, got {checked}\n  at {user_site()}")
    return checked


def _checked_indices(indices, sympy) -> tuple:
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"sg.from_sympy: indices must be a tuple of sympy.Idx (or 0 for a size-1 axis), got "
                        f"{type(indices).__name__} {indices!r:.60}\n  at {user_site()}")
    checked = []
    for index in indices:
        if isinstance(index, (int, sympy.Integer)) and not isinstance(index, bool) and index == 0:
            checked.append(sympy.S.Zero)
        elif isinstance(index, sympy.Idx) or (isinstance(index, sympy.Symbol) and index.is_integer):
            checked.append(index)
        else:
            raise TypeError(f"sg.from_sympy: each index must be a sympy.Idx, an integer symbol or 0, got "
                            f"{type(index).__name__} {index!r:.60}\n  at {user_site()}")
    if len(set(checked) - {sympy.S.Zero}) != sum(1 for i in checked if i != 0):
        raise ValueError(f"sg.from_sympy: indices {tuple(indices)} repeat an index\n  at {user_site()}")
    return tuple(checked)


def _check_node(node, caller: str) -> None:
    if not isinstance(node, Node):
        raise TypeError(f"{caller} takes a node, got {type(node).__name__} {node!r:.60}\n  at {user_site()}")
