"""Random scalar expressions as trees, each op with its symgraph builder and the same function written directly in
sympy: the independent oracle that tests/test_grad_sympy.py and tests/test_printing_sympy.py share.

A tree is a leaf name ("x", "y", "z"), a float, or (op name, child, ...). ``build`` gives the symgraph graph and the
sympy expression of a tree; ``trees`` draws trees over a chosen subset of the ops.
"""

import sympy
from hypothesis import strategies as st

import symgraph as sg

SYMBOLS = sympy.symbols("x y z", real=True)

# Each entry: (symgraph builder, sympy builder). Domain-restricted functions are composed with something that keeps
# them in their domain (log(1 + e^2), 1 / (2 + sin e)), so every random point is a valid one.
UNARY = {
    "neg": (lambda e: -e, lambda e: -e),
    "abs": (sg.abs, sympy.Abs),
    "sign": (sg.sign, sympy.sign),
    "exp": (lambda e: sg.exp(sg.tanh(e)), lambda e: sympy.exp(sympy.tanh(e))),
    "log": (lambda e: sg.log(1 + sg.square(e)), lambda e: sympy.log(1 + e**2)),
    "log1p": (lambda e: sg.log1p(sg.square(e)), lambda e: sympy.log(1 + e**2)),
    "expm1": (lambda e: sg.expm1(sg.sin(e)), lambda e: sympy.exp(sympy.sin(e)) - 1),
    "sqrt": (lambda e: sg.sqrt(1 + sg.square(e)), lambda e: sympy.sqrt(1 + e**2)),
    "square": (sg.square, lambda e: e**2),
    "cube": (lambda e: e ** 3.0, lambda e: e**3),
    "reciprocal": (lambda e: sg.reciprocal(2 + sg.sin(e)), lambda e: 1 / (2 + sympy.sin(e))),
    "sin": (sg.sin, sympy.sin),
    "cos": (sg.cos, sympy.cos),
    "tanh": (sg.tanh, sympy.tanh),
    "sigmoid": (sg.sigmoid, lambda e: 1 / (1 + sympy.exp(-e))),
    "relu": (sg.relu, lambda e: sympy.Max(e, 0, evaluate=False)),
    "softplus": (sg.softplus, lambda e: sympy.log(1 + sympy.exp(e))),
    "floor": (sg.floor, sympy.floor),
    "ceil": (sg.ceil, sympy.ceiling),
    "stop_gradient": (sg.stop_gradient, lambda e: e),
}
def _piecewise(*pieces):
    """sympy.Piecewise, unevaluated: evaluating one whose condition compares Piecewise expressions recursed without
    end in sympy 1.14 (where(where(z > x, ...) > where(...), ...)); the tests compare values, not forms."""
    return sympy.Piecewise(*pieces, evaluate=False)


# Max and Min unevaluated: evaluated, sympy refuses a constant whose order it cannot decide ("The argument
# 'log((2 - sin(5/4))**(-2) + 1)' is not comparable", from maximum(x, log(reciprocal(-1.25)))).
BINARY = {
    "add": (sg.add, lambda a, b: a + b),
    "sub": (sg.sub, lambda a, b: a - b),
    "mul": (sg.mul, lambda a, b: a * b),
    "div": (lambda a, b: a / (2 + sg.cos(b)), lambda a, b: a / (2 + sympy.cos(b))),
    "pow": (lambda a, b: sg.pow(1 + sg.square(a), sg.tanh(b)), lambda a, b: (1 + a**2) ** sympy.tanh(b)),
    "maximum": (sg.maximum, lambda a, b: sympy.Max(a, b, evaluate=False)),
    "minimum": (sg.minimum, lambda a, b: sympy.Min(a, b, evaluate=False)),
    "where_greater": (lambda a, b: sg.where(a > b, a * b, a - b),
                      lambda a, b: _piecewise((a * b, a > b), (a - b, True))),
    "where_less_equal": (lambda a, b: sg.where(sg.less_equal(a, b), sg.sin(a), b),
                         lambda a, b: _piecewise((sympy.sin(a), a <= b), (b, True))),
    "bool_cast": (lambda a, b: sg.cast(sg.greater_equal(a, b), "float64") * b,
                  lambda a, b: _piecewise((b, a >= b), (0, True))),
}
# The differentiable ops whose kinks tests/test_grad_sympy.py can steer clear of (abs, relu, maximum, minimum).
SMOOTH_OR_KINKED_UNARY = ("neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "square", "reciprocal", "sin", "cos",
                          "tanh", "sigmoid", "relu", "softplus")
SMOOTH_OR_KINKED_BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum")


def trees(numbers, unary=tuple(UNARY), binary=tuple(BINARY)):
    """Trees of up to 8 leaves: the symbols x, y, z and floats drawn from ``numbers``."""
    leaves = st.one_of(st.sampled_from(["x", "y", "z"]), numbers)
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.tuples(st.sampled_from(sorted(unary)), children),
            st.tuples(st.sampled_from(sorted(binary)), children, children),
        ),
        max_leaves=8,
    )


def build(tree, nodes, number=sympy.Float):
    """The (symgraph node, sympy expression) pair of a tree; a float leaf is a float64 constant and ``number(value)``
    in sympy."""
    if isinstance(tree, str):
        return nodes[tree], SYMBOLS["xyz".index(tree)]
    if isinstance(tree, float):
        return sg.constant(tree, "float64"), number(tree)
    name, *children = tree
    pairs = [build(child, nodes, number) for child in children]
    make_node, make_expr = (UNARY if len(children) == 1 else BINARY)[name]
    return make_node(*[p[0] for p in pairs]), make_expr(*[p[1] for p in pairs])
