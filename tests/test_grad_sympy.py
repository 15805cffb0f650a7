"""An independent oracle: random scalar expressions differentiated by sg.grad and by sympy.diff agree."""

import numpy as np
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symgraph as sg

SYMBOLS = sympy.symbols("x y z", real=True)

# Each entry: (symgraph builder, sympy builder). Domain-restricted functions are composed with something that keeps
# them in their domain (log(1 + e^2), 1 / (2 + sin e)), so every random point is a valid one.
UNARY = {
    "neg": (lambda e: -e, lambda e: -e),
    "abs": (sg.abs, sympy.Abs),
    "exp": (lambda e: sg.exp(sg.tanh(e)), lambda e: sympy.exp(sympy.tanh(e))),
    "log": (lambda e: sg.log(1 + sg.square(e)), lambda e: sympy.log(1 + e**2)),
    "log1p": (lambda e: sg.log1p(sg.square(e)), lambda e: sympy.log(1 + e**2)),
    "expm1": (lambda e: sg.expm1(sg.sin(e)), lambda e: sympy.exp(sympy.sin(e)) - 1),
    "sqrt": (lambda e: sg.sqrt(1 + sg.square(e)), lambda e: sympy.sqrt(1 + e**2)),
    "square": (sg.square, lambda e: e**2),
    "reciprocal": (lambda e: sg.reciprocal(2 + sg.sin(e)), lambda e: 1 / (2 + sympy.sin(e))),
    "sin": (sg.sin, sympy.sin),
    "cos": (sg.cos, sympy.cos),
    "tanh": (sg.tanh, sympy.tanh),
    "sigmoid": (sg.sigmoid, lambda e: 1 / (1 + sympy.exp(-e))),
    "relu": (sg.relu, lambda e: sympy.Max(e, 0)),
    "softplus": (sg.softplus, lambda e: sympy.log(1 + sympy.exp(e))),
}
BINARY = {
    "add": (sg.add, lambda a, b: a + b),
    "sub": (sg.sub, lambda a, b: a - b),
    "mul": (sg.mul, lambda a, b: a * b),
    "div": (lambda a, b: a / (2 + sg.cos(b)), lambda a, b: a / (2 + sympy.cos(b))),
    "pow": (lambda a, b: sg.pow(1 + sg.square(a), sg.tanh(b)), lambda a, b: (1 + a**2) ** sympy.tanh(b)),
    "maximum": (sg.maximum, sympy.Max),
    "minimum": (sg.minimum, sympy.Min),
}

leaves = st.one_of(st.sampled_from(["x", "y", "z"]),
                   st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3)))
expressions = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.tuples(st.sampled_from(sorted(UNARY)), children),
        st.tuples(st.sampled_from(sorted(BINARY)), children, children),
    ),
    max_leaves=8,
)


def build(tree, nodes):
    """The (symgraph node, sympy expression) pair for an expression tree."""
    if isinstance(tree, str):
        return nodes[tree], SYMBOLS["xyz".index(tree)]
    if isinstance(tree, float):
        return sg.constant(tree, "float64"), sympy.Float(tree)
    name, *children = tree
    pairs = [build(child, nodes) for child in children]
    table = UNARY if len(children) == 1 else BINARY
    make_node, make_expr = table[name]
    return make_node(*[p[0] for p in pairs]), make_expr(*[p[1] for p in pairs])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=expressions, point=st.tuples(*[st.floats(-2, 2, allow_nan=False)] * 3))
def test_grad_agrees_with_sympy_diff(tree, point):
    nodes = {name: sg.placeholder((), "float64", name=name) for name in "xyz"}
    node, expr = build(tree, nodes)
    if isinstance(tree, float):
        node = node + 0 * nodes["x"]
    variables = [nodes[name] for name in "xyz"]
    # Away from kinks: abs, relu, maximum and minimum are not differentiable where their arguments meet.
    kinks = [a.args for a in expr.atoms(sympy.Abs)] + [m.args for m in expr.atoms(sympy.Max, sympy.Min)]
    values = dict(zip(SYMBOLS, point))
    for args in kinks:
        parts = [float(sympy.N(a.subs(values))) for a in args]
        assume(all(abs(p) > 1e-3 for p in parts) if len(parts) == 1 else abs(parts[0] - parts[1]) > 1e-3)
    gradients = sg.grad(node, variables, disconnected="zero")
    got = sg.evaluate(gradients, {nodes[name]: np.float64(v) for name, v in zip("xyz", point)})
    for symbol, value in zip(SYMBOLS, got):
        derivative = sympy.diff(expr, symbol)
        expected = float(sympy.N(derivative.subs(values).replace(sympy.Heaviside, lambda a, *rest: sympy.Heaviside(a, 0))))
        assert np.isclose(float(value), expected, rtol=1e-8, atol=1e-10), (tree, symbol, float(value), expected)
