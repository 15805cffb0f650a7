"""An independent oracle: random scalar expressions differentiated by sg.grad and by sympy.diff agree."""

import numpy as np
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symgraph as sg
from expression_trees import SMOOTH_OR_KINKED_BINARY, SMOOTH_OR_KINKED_UNARY, SYMBOLS, build, trees

expressions = trees(st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3)),
                    SMOOTH_OR_KINKED_UNARY, SMOOTH_OR_KINKED_BINARY)


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
