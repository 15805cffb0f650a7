"""sg.to_sympy, sg.latex and sg.from_sympy: gradients agree with sympy.diff, expressions agree with independently
written sympy, round trips evaluate like the graph, LaTeX snapshots, and the errors."""

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, event, example, given, reject, settings
from hypothesis import strategies as st

import symgraph as sg
from expression_trees import SYMBOLS, build as build_tree, trees
from symgraph.passes import sympy_forms, time_limit
from symgraph.printing.sympy_io import sympy_form
from symgraph.sympy_bridge import scale_gradient, sigmoid as sympy_sigmoid, softplus as sympy_softplus, where

X, Y, Z = SYMBOLS
SIMPLIFY_SECONDS = 0.15
sympy_forms.import_what_sympy_imports_on_first_use()  # before any simplify runs under a time limit


def scalar_leaves():
    return {name: sg.placeholder((), "float64", name=name) for name in "xyz"}


# -- random elementwise expressions (tests/expression_trees.py) ----------------------------------------------------

expression_trees = trees(st.integers(-8, 8).map(lambda k: k / 4))


def build(tree, nodes):
    return build_tree(tree, nodes, lambda value: sympy.Rational(str(value)))


def as_graph(value, nodes):
    """A graph that depends on x (a tree of numbers alone is a constant)."""
    return value if any(n is nodes["x"] for n in sg.toposort(value)) else value + 0 * nodes["x"]


STEPS = (sympy.floor, sympy.ceiling, sympy.sign)


def without_step_derivatives(expr):
    """sympy leaves d floor(u)/dx, d ceiling(u)/dx and (for most u) d sign(u)/dx unevaluated; they are 0 wherever
    they exist."""
    def is_step_derivative(e):
        if isinstance(e, sympy.Subs):
            e = e.expr
        return isinstance(e, sympy.Derivative) and isinstance(e.expr, STEPS)
    for kind in (sympy.Subs, sympy.Derivative):
        expr = expr.xreplace({e: sympy.S.Zero for e in expr.atoms(kind) if is_step_derivative(e)})
    return expr


def numeric(expr, point):
    return complex(sympy.N(expr.subs(point), 30))


def assert_same_function(got, expected, symbols, rng, label):
    """Equal symbolically (as written, or simplified under a time limit), or else at random points."""
    difference = got - expected
    if difference == 0:
        event(f"{label}: equal as written")
        return
    simplified = time_limit.call_with_time_limit(SIMPLIFY_SECONDS, lambda: sympy.simplify(difference)) \
        if time_limit.available() else time_limit.TIMED_OUT
    if simplified is not time_limit.TIMED_OUT and simplified == 0:
        event(f"{label}: equal after simplify")
        return
    event(f"{label}: equal at random points")
    for _ in range(4):
        point = {s: sympy.Float(rng.uniform(-2, 2), 30) for s in symbols}
        a, b = numeric(got, point), numeric(expected, point)
        assert abs(a - b) <= 1e-9 * max(1.0, abs(b)), (got, expected, point, a, b)


# -- gradients against sympy.diff -------------------------------------------------------------------------------------

@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=expression_trees, seed=st.integers(0, 2 ** 32 - 1))
# sympy recursed without end building this one's Piecewise, even unevaluated (its condition holds a Piecewise)
@example(tree=("bool_cast", ("bool_cast", ("sub", ("bool_cast", "y", "y"), ("floor", "x")),
                             ("sub", ("sigmoid", "z"), ("bool_cast", "y", "y"))), ("sigmoid", "z")), seed=2)
def test_to_sympy_of_the_gradient_is_sympy_diff_of_to_sympy(tree, seed):
    nodes = scalar_leaves()
    f = as_graph(build(tree, nodes)[0], nodes)
    expression = sg.to_sympy(f)
    rng = np.random.default_rng(seed)
    for symbol, gradient in zip((X, Y, Z), sg.grad(f, list(nodes.values()), disconnected="zero")):
        got = sg.to_sympy(gradient)
        try:
            expected = without_step_derivatives(sympy.diff(expression, symbol))
        except RecursionError:  # sympy 1.14 cannot differentiate a Piecewise whose condition holds Piecewise
            reject()
        assert_same_function(got, expected, (X, Y, Z), rng, "scalar gradient")


def vector_leaves():
    return {"x": sg.placeholder((3,), "float64", name="x"), "y": sg.placeholder((2, 1), "float64", name="y"),
            "z": sg.placeholder((), "float64", name="z")}


reductions = st.sampled_from(["sum", "mean", "sum_axis_0", "mean_axis_1"])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=expression_trees, reduction=reductions, seed=st.integers(0, 2 ** 32 - 1))
def test_gradients_of_reductions_over_broadcast_arrays_are_sympy_diff(tree, reduction, seed):
    """Leaves of shapes (3,), (2, 1) and () broadcast to (2, 3); the cost sums or averages over all or one axis."""
    nodes = vector_leaves()
    value = as_graph(build(tree, nodes)[0], nodes)
    value = value + 0 * nodes["x"] + 0 * nodes["y"]  # every element of the (2, 3) grid
    if reduction == "sum":
        f = sg.sum(value)
    elif reduction == "mean":
        f = sg.mean(value)
    elif reduction == "sum_axis_0":
        f = sg.sum(sg.square(sg.sum(value, axis=0)))
    else:
        f = sg.sum(sg.sin(sg.mean(value, axis=1)))
    symbols, elements = _element_symbols(nodes)
    expression = sg.to_sympy(f).doit().subs(elements)  # sums written out over element symbols x_0, x_1, ...
    rng = np.random.default_rng(seed)
    for name, gradient in zip(nodes, sg.grad(f, list(nodes.values()), disconnected="zero")):
        form = sympy_form(gradient)
        for position in np.ndindex(*nodes[name].shape):
            element = sympy.IndexedBase(name, real=True)[position] if position else sympy.Symbol(name, real=True)
            at = {i: p for i, p in zip(form.indices, position) if i != 0}
            got = form.expression.subs(at).doit().subs(elements)
            expected = without_step_derivatives(sympy.diff(expression, elements.get(element, element)))
            assert_same_function(got, expected, symbols, rng, "reduction gradient")


def _element_symbols(nodes):
    """A scalar symbol per array element (x[0] -> x_0), so that expressions compare as scalar functions."""
    symbols, elements = [sympy.Symbol("z", real=True)], {}
    for name in ("x", "y"):
        base = sympy.IndexedBase(name, real=True)
        for position in np.ndindex(*nodes[name].shape):
            scalar = sympy.Symbol(f"{name}_{'_'.join(map(str, position))}", real=True)
            elements[base[position]] = scalar
            symbols.append(scalar)
    return symbols, elements


# -- to_sympy against expressions written directly in sympy ------------------------------------------------------

@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=expression_trees, seed=st.integers(0, 2 ** 32 - 1))
@example(tree=("maximum", "x", ("log", ("reciprocal", -1.25))), seed=0)  # sympy.Max could not order the constant
def test_to_sympy_is_the_math_of_the_graph(tree, seed):
    nodes = scalar_leaves()
    value, expected = build(tree, nodes)
    got = sg.to_sympy(as_graph(value, nodes))
    rewritten = got.replace(sympy_sigmoid, lambda a: 1 / (1 + sympy.exp(-a))) \
        .replace(sympy_softplus, lambda a: sympy.log(1 + sympy.exp(a))) \
        .replace(sympy.codegen.cfunctions.log1p, lambda a: sympy.log(1 + a)) \
        .replace(sympy.codegen.cfunctions.expm1, lambda a: sympy.exp(a) - 1)
    assert_same_function(rewritten, expected, (X, Y, Z), np.random.default_rng(seed), "to_sympy")


def test_to_sympy_of_arrays_reductions_and_matmul_matches_numpy():
    rng = np.random.default_rng(3)
    A = sg.placeholder((2, 3), "float64", name="A")
    v = sg.placeholder((3,), "float64", name="v")
    c = sg.constant(np.array([0.5, -1.0, 2.0]))
    graphs = [sg.exp(A) * v + c, sg.sum(A * v, axis=1), sg.mean(sg.square(A), axis=0, keepdims=True), A @ v,
              sg.transpose(A) @ A, sg.prod(A + 2, axis=1), sg.expand_dims(v, 0) - A, sg.sum(A.T, axis=0)]
    feed = {A: rng.standard_normal((2, 3)), v: rng.standard_normal(3)}
    elements = {sympy.IndexedBase("A", real=True)[position]: feed[A][position] for position in np.ndindex(2, 3)}
    elements |= {sympy.IndexedBase("v", real=True)[k]: feed[v][k] for k in range(3)}
    for graph in graphs:
        form = sympy_form(graph)
        expected = graph.eval(feed)
        assert len(form.indices) == graph.ndim
        for position in np.ndindex(*graph.shape):
            at = {i: p for i, p in zip(form.indices, position) if i != 0}
            value = form.expression.subs(at).doit().subs(elements)
            np.testing.assert_allclose(float(value), expected[position], rtol=1e-12, err_msg=str(graph))


# -- round trips ----------------------------------------------------------------------------------------------------

ARRAY_SHAPES = {"x": (3,), "y": (2, 1), "z": ()}


def random_graph(data, nodes, depth=3):
    """A random graph over ``nodes``: elementwise ops with broadcasting, comparisons and where, casts, constants
    (scalar and array), and reductions over all or one axis."""
    if depth == 0 or data.draw(st.integers(0, 4)) == 0:
        choice = data.draw(st.sampled_from(sorted(nodes) + ["number", "array"]))
        if choice == "number":
            return sg.constant(data.draw(st.integers(-8, 8)) / 4, "float64")
        if choice == "array":
            return sg.constant(np.array(data.draw(st.lists(st.integers(-8, 8), min_size=3, max_size=3))) / 4.0)
        return nodes[choice]
    kind = data.draw(st.sampled_from(["unary", "binary", "where", "reduce", "cast"]))
    a = random_graph(data, nodes, depth - 1)
    if kind == "unary":
        name = data.draw(st.sampled_from(["neg", "abs", "sign", "exp", "sin", "cos", "tanh", "sigmoid", "relu",
                                          "softplus", "floor", "ceil", "square", "stop_gradient"]))
        return getattr(sg, name)(sg.tanh(a) if name == "exp" else a)
    b = random_graph(data, nodes, depth - 1)
    if kind == "binary":
        name = data.draw(st.sampled_from(["add", "sub", "mul", "maximum", "minimum", "safe_div", "safe_pow"]))
        if name == "safe_div":
            return combined(lambda u, v: u / (2 + sg.cos(v)), a, b)
        if name == "safe_pow":
            return combined(lambda u, v: sg.pow(1 + sg.square(u), sg.tanh(v)), a, b)
        return combined(getattr(sg, name), a, b)
    if kind == "where":
        comparison = data.draw(st.sampled_from(["less", "less_equal", "greater", "greater_equal", "equal",
                                                "not_equal"]))
        return combined(lambda u, v: sg.where(getattr(sg, comparison)(u, v), u, v), a, b)
    if kind == "cast":
        return combined(lambda u, v: sg.cast(sg.greater(u, v), "float64") - sg.cast(sg.floor(v), "int64").astype(
            "float64"), a, b)
    reduce = data.draw(st.sampled_from(["sum", "mean", "prod"]))
    axis = data.draw(st.sampled_from([None] + list(range(a.ndim))))
    return getattr(sg, reduce)(a, axis=axis, keepdims=data.draw(st.booleans()))


def combined(build, *operands):
    """``build`` of the operands, or of their totals where their shapes do not broadcast together (a reduction over
    one axis of the (2, 3) grid leaves (2,), which does not meet (3,))."""
    try:
        return build(*operands)
    except sg.ShapeError:
        return build(*[sg.sum(o) for o in operands])


def feed_for(nodes, rng, batch=None):
    return {node: rng.integers(-8, 9, [batch if d is None else d for d in node.shape]) / 4.0 + 0.125
            for node in nodes.values()}


def assert_round_trip(graph, feed):
    form = sympy_form(graph)
    rebuilt = sg.from_sympy(*form)
    assert rebuilt.shape == graph.shape and rebuilt.dtype == graph.dtype
    with np.errstate(all="ignore"):
        expected, got = graph.eval(feed), rebuilt.eval(feed)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=str(form.expression))
    return form, rebuilt


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2 ** 32 - 1))
def test_from_sympy_of_to_sympy_evaluates_like_the_graph(data, seed):
    nodes = {name: sg.placeholder(shape, "float64", name=name) for name, shape in ARRAY_SHAPES.items()}
    graph = combined(sg.add, random_graph(data, nodes), 0 * nodes["z"])  # a leaf gives the float dtype
    assert_round_trip(graph, feed_for(nodes, np.random.default_rng(seed)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2 ** 32 - 1))
def test_gradient_graphs_round_trip(data, seed):
    nodes = {name: sg.placeholder(shape, "float64", name=name) for name, shape in ARRAY_SHAPES.items()}
    cost = sg.sum(combined(sg.add, random_graph(data, nodes), 0 * nodes["x"]))
    feed = feed_for(nodes, np.random.default_rng(seed))
    for gradient in sg.grad(cost, list(nodes.values()), disconnected="zero"):
        assert_round_trip(gradient, feed)


def test_where_inside_a_sum_keeps_its_value_through_sympy():
    """sympy's piecewise_fold (run by Sum, Piecewise and simplify) would move a Piecewise whose condition depends on
    the summation index out of the sum: inside sums, where is the where function, which it leaves alone."""
    x = sg.placeholder((3,), "float64", name="x")
    y = sg.placeholder((2, 1), "float64", name="y")
    inner = sg.sum(sg.where(x >= y, y, 0.0), axis=0)  # (3,): for each x, the sum of the ys below it
    cost = sg.sum(sg.square(inner))
    chosen = sg.where(x < cost, x, -x)
    feed = {x: np.array([0.5, -1.0, 2.0]), y: np.array([[0.25], [1.5]])}
    values = {sympy.IndexedBase("x", real=True)[k]: feed[x][k] for k in range(3)}
    values |= {sympy.IndexedBase("y", real=True)[k, 0]: feed[y][k, 0] for k in range(2)}
    for graph, simplify in ((cost, True), (chosen, False), (sg.grad(cost, y), False)):
        form = sympy_form(graph)
        assert form.expression.has(where)
        for expression in (form.expression, sympy.simplify(form.expression)) if simplify else (form.expression,):
            for position in np.ndindex(*graph.shape):
                at = {i: p for i, p in zip(form.indices, position) if i != 0}
                got = float(expression.subs(at).doit().subs(values))
                np.testing.assert_allclose(got, graph.eval(feed)[position], rtol=1e-12)


def test_round_trip_with_an_unknown_batch_dimension():
    X = sg.placeholder((None, 4), "float64", name="X")
    W = sg.variable(np.linspace(-1, 1, 8).reshape(4, 2), name="W")
    b = sg.variable(np.array([0.5, -0.5]), name="b")
    cost = sg.mean(sg.softplus(X @ W + b))
    n = sympy.Symbol("n_X", integer=True, positive=True)
    form = sympy_form(cost)
    assert n in form.expression.free_symbols and form.expression.has(sympy.Sum)
    rng = np.random.default_rng(0)
    for graph in [cost, *sg.grad(cost, [W, b]), sg.grad(cost, X)]:
        for batch in (1, 5):
            assert_round_trip(graph, {X: rng.standard_normal((batch, 4))})


# -- from_sympy against NumPy ---------------------------------------------------------------------------------------

def test_from_sympy_covers_the_elementwise_functions():
    x_node, y_node = (sg.placeholder((7,), "float64", name=n) for n in "xy")
    x = np.array([-2.5, -1.0, -0.3, 0.0, 0.4, 1.0, 2.2])
    y = np.array([0.5, 1.0, 2.0, 0.0, -1.5, 1.0, 3.0])
    with np.errstate(all="ignore"):
        check_functions(x_node, y_node, x, y)


def check_functions(x_node, y_node, x, y):
    cases = [
        (sympy.exp(X), np.exp(x)), (sympy.log(1 + X ** 2), np.log(1 + x ** 2)),
        (sympy.codegen.cfunctions.log1p(X ** 2), np.log1p(x ** 2)), (sympy.codegen.cfunctions.expm1(X), np.expm1(x)),
        (sympy.sqrt(1 + X ** 2), np.sqrt(1 + x ** 2)), (sympy.tanh(X), np.tanh(x)), (sympy.sin(X), np.sin(x)),
        (sympy.cos(X), np.cos(x)), (sympy_sigmoid(X), 1 / (1 + np.exp(-x))), (sympy_softplus(X), np.logaddexp(0, x)),
        (sympy.Max(X, 0), np.maximum(x, 0)), (sympy.Max(X, Y, 1), np.maximum(np.maximum(x, y), 1)),
        (sympy.Min(X, Y), np.minimum(x, y)), (sympy.Abs(X), np.abs(x)), (sympy.sign(X), np.sign(x)),
        (X ** Y, np.power(x, y)), (X ** 3, x ** 3), (1 / X ** 2, 1 / x ** 2),
        (sympy.floor(X), np.floor(x)), (sympy.ceiling(X), np.ceil(x)), (sympy.Heaviside(X), np.heaviside(x, 0.5)),
        (sympy.Piecewise((X, X > Y), (Y ** 2, X < 0), (1, True)), np.where(x > y, x, np.where(x < 0, y ** 2, 1))),
        (sympy.Piecewise((X, X > 0)), np.where(x > 0, x, np.nan)),
        (sympy.Piecewise((1, sympy.And(X > 0, Y > 0)), (2, sympy.Or(X < -1, sympy.Not(Y < 2))), (3, True)),
         np.where((x > 0) & (y > 0), 1, np.where((x < -1) | ~(y < 2), 2, 3))),
        (sympy.ITE(sympy.Eq(X, 1), sympy.Ne(Y, 1), sympy.Le(X, Y)), np.where(x == 1, y != 1, x <= y)),
        (sympy.Xor(X >= 0, Y >= 1), (x >= 0) ^ (y >= 1)),
        (sympy.pi * X - sympy.exp(2) / Y ** sympy.Rational(1, 2), np.pi * x - np.exp(2) / np.sqrt(y)),
        (sympy.Function("sigmoid")(X), 1 / (1 + np.exp(-x))),
    ]
    for expr, expected in cases:
        node = sg.from_sympy(expr, {X: x_node, "y": y_node})
        np.testing.assert_allclose(node.eval({x_node: x, y_node: y}), expected, rtol=1e-12, equal_nan=True,
                                   err_msg=str(expr))


def test_from_sympy_writes_each_form_with_its_op():
    x, y = (sg.placeholder((), "float64", name=n) for n in "xy")
    cases = {X - Y: "sub", X / Y: "div", -X: "neg", 1 / X: "reciprocal", X ** 2: "square", sympy.sqrt(X): "sqrt",
             sympy.Max(X, 0): "relu", sympy.Max(X, Y): "maximum", sympy_sigmoid(X): "sigmoid",
             sympy_softplus(X): "softplus", sympy.codegen.cfunctions.log1p(X): "log1p", X ** Y: "pow"}
    for expr, op_name in cases.items():
        node = sg.from_sympy(expr, {X: x, Y: y})
        assert node.op.name == op_name, (expr, node)
        assert len(sg.toposort(node)) == 1 + len(node.inputs), (expr, sg.toposort(node))


def test_from_sympy_reads_indexed_sums_as_broadcasting_and_reductions():
    A = sympy.IndexedBase("A", real=True)
    v = sympy.IndexedBase("v", real=True)
    i, j, p = sympy.Idx("i", 2), sympy.Idx("j", 3), sympy.Idx("p", 3)
    A_node = sg.placeholder((2, 3), "float64", name="A")
    v_node = sg.placeholder((3,), "float64", name="v")
    rng = np.random.default_rng(5)
    feed = {A_node: rng.standard_normal((2, 3)), v_node: rng.standard_normal(3)}
    a, w = feed[A_node], feed[v_node]
    mapping = {A: A_node, v: v_node}
    cases = [
        (sympy.Sum(A[i, p] * v[p], p), None, a @ w),
        (A[i, j] * v[j] + v[j], None, a * w + w),
        (v[j] * A[i, j], (j, i), (a * w).T),
        (sympy.Product(1 + A[i, p] ** 2, p), None, np.prod(1 + a ** 2, axis=1)),
        (sympy.Sum(2 * v[p], p, i) / 6, None, np.sum(2 * w) * 2 / 6),
        (sympy.exp(v[j]) + 0 * A[0, j], (0, j), np.exp(w)[None, :]),
        (sympy.sin(A[1, j]), (j, i), np.repeat(np.sin(a[1])[:, None], 2, axis=1)),
        (sympy.ImmutableDenseNDimArray([1, 2, 3])[j] * v[j], None, np.array([1, 2, 3]) * w),
    ]
    for expr, indices, expected in cases:
        node = sg.from_sympy(expr, mapping, indices=indices)
        np.testing.assert_allclose(node.eval(feed), expected, rtol=1e-12, err_msg=str(expr))


def test_differentiating_to_sympy_in_sympy_gives_a_graph_equal_to_sg_grad():
    """The student's check: the sympy derivative of the forward expression, rebuilt as a graph, computes sg.grad."""
    x = sg.placeholder((4,), "float64", name="x")
    w = sg.variable(np.array([0.5, -1.0, 2.0, 0.25]), name="w")
    b = sg.variable(0.1, dtype="float64", name="b")
    cost = sg.sum(sg.softplus(-(w * x + b)))
    form = sympy_form(cost)
    i = sympy.Idx("i", 4)
    base = {leaf.name: symbol for symbol, leaf in form.symbols.items()}
    derivative = sympy.diff(form.expression, base["w"][i]).doit()
    rebuilt = sg.from_sympy(derivative, form.symbols, indices=(i,))
    feed = {x: np.array([-1.0, 0.0, 2.0, 3.0])}
    np.testing.assert_allclose(rebuilt.eval(feed), sg.grad(cost, w).eval(feed), rtol=1e-12)


# -- LaTeX ----------------------------------------------------------------------------------------------------------

def test_latex_of_the_lectures_graph():
    x, y, z = (sg.placeholder((), "float64", name=n) for n in "xyz")
    f = (x + y) * z
    assert sg.latex(f) == r"z \left(x + y\right)"
    assert [sg.latex(g) for g in sg.grad(f, [x, y, z])] == ["z", "z", "x + y"]


def test_latex_of_the_logistic_unit():
    w, x, b = (sg.placeholder((), "float64", name=n) for n in "wxb")
    unit = sg.sigmoid(w * x + b)
    assert sg.latex(unit) == r"\sigma\left(b + w x\right)"
    dw, db = sg.grad(unit, [w, b])
    assert sg.latex(dw) == r"x \left(1 - \sigma\left(b + w x\right)\right) \sigma\left(b + w x\right)"
    assert sg.latex(db) == r"\left(1 - \sigma\left(b + w x\right)\right) \sigma\left(b + w x\right)"


def test_latex_of_a_logistic_unit_over_a_vector_shows_sums_and_indices():
    w = sg.placeholder((3,), "float64", name="w")
    x = sg.placeholder((3,), "float64", name="x")
    b = sg.placeholder((), "float64", name="b")
    cost = sg.sum(sg.softplus(-(sg.sum(w * x) + b)))
    assert sg.latex(cost) == r"\operatorname{softplus}\left(- b - \sum_{p=0}^{2} {w}_{p} {x}_{p}\right)"
    assert sg.latex(sg.grad(cost, w)) == r"- \sigma\left(- b - \sum_{p=0}^{2} {w}_{p} {x}_{p}\right) {x}_{i}"
    assert sg.latex(sg.log1p(sg.expm1(b)) ** 2.0) == r"\log{\left(\left(e^{b} - 1\right) + 1 \right)}^{2}"


def test_lambdify_computes_sigmoid_and_softplus_without_overflow():
    x = sg.placeholder((), "float64", name="x")
    expression = sg.to_sympy(sg.sigmoid(x) + sg.softplus(x))
    compute = sympy.lambdify(X, expression, "numpy")
    with np.errstate(over="raise"):
        values = compute(np.array([-800.0, 0.0, 800.0]))
    np.testing.assert_allclose(values, [0.0, 0.5 + np.log(2), 801.0])
    assert sympy.simplify(expression.rewrite(sympy.exp) - 1 / (1 + sympy.exp(-X)) - sympy.log(1 + sympy.exp(X))) == 0


# -- naming ---------------------------------------------------------------------------------------------------------

def test_leaves_become_symbols_named_after_them():
    named = sg.placeholder((), "float64", name="x")
    twin = sg.placeholder((), "float64", name="x")
    unnamed = [sg.placeholder((), "float64"), sg.placeholder((2,), "float64"), sg.variable(1.5)]
    count = sg.placeholder((), "int64", name="k")
    form = sympy_form(named + twin + unnamed[0] + sg.sum(unnamed[1]) + unnamed[2] + count)
    names = {leaf: str(symbol) for symbol, leaf in form.symbols.items()}
    assert names == {named: "x", twin: "x_2", unnamed[0]: "placeholder_0", unnamed[1]: "placeholder_1",
                     unnamed[2]: "variable_0", count: "k"}
    assert sympy.Symbol("x", real=True) in form.expression.free_symbols
    assert sympy.Symbol("k", integer=True) in form.expression.free_symbols
    assert sg.to_sympy(sg.constant(0.1) * named) == named_symbol("x") / 10  # float32 0.1 is written 1/10


def named_symbol(name):
    return sympy.Symbol(name, real=True)


# -- errors ---------------------------------------------------------------------------------------------------------

def line_of(marker):
    with open(__file__) as source:
        return next(k for k, text in enumerate(source, 1) if marker in text and "line_of" not in text)


def test_an_op_sympy_cannot_express_is_named_with_its_line():
    x = sg.placeholder((4,), "float64", name="x")
    sliced = x[1:3]  # marker: sliced
    graph = sg.max(sg.exp(sliced) * 2)
    with pytest.raises(sg.SympyConversionError) as caught:
        sg.to_sympy(graph)  # marker: call
    message = str(caught.value)
    assert sliced.describe() in message and f"test_printing_sympy.py:{line_of('marker: sliced')}" in message
    assert f"test_printing_sympy.py:{line_of('marker: call')}" in message
    assert "max node" not in message  # the first such node in schedule order is named, not the last
    assert isinstance(caught.value, ValueError)
    with pytest.raises(sg.SympyConversionError, match="regroups elements"):
        sg.latex(sg.reshape(sg.placeholder((2, 3), "float64"), (3, 2)))
    with pytest.raises(TypeError, match="sg.to_sympy takes a node"):
        sg.to_sympy(X)


@pytest.mark.parametrize("expr,symbols,message", [
    (sympy.cot(X), {X: None}, r"no symgraph op computes cot"),
    (sympy.gamma(X), {"x": None}, r"no symgraph op computes gamma"),
    (X + Y, {X: None}, r"the symbol y has no node"),
    (sympy.I * X, {X: None}, r"I is not a real number"),
    (sympy.IndexedBase("v", real=True)[sympy.Idx("i", 3)] * sympy.Idx("i", 3), {"v": "vector"},
     r"the index i is used as a value"),
    (sympy.Sum(sympy.IndexedBase("v")[sympy.Symbol("k", integer=True)], (sympy.Symbol("k", integer=True), 1, 2)),
     {"v": "vector"}, r"only whole axes"),
    (sympy.IndexedBase("v")[sympy.Symbol("k", integer=True) + 1], {"v": "vector"}, r"shifted or computed indices"),
    (sympy.IndexedBase("v")[sympy.Idx("i", 4)], {"v": "vector"}, r"runs over 4 values but indexes axis 0"),
    (sympy.IndexedBase("w")[0], {"v": "vector"}, r"the array w has no node"),
    (X * sympy.IndexedBase("v")[sympy.Idx("i", 3)], {"v": "vector", "x": "vector"}, r"whole array meets the indices"),
    (sympy.KroneckerDelta(sympy.Idx("i", 3), sympy.Idx("j", 3)) * sympy.IndexedBase("v")[sympy.Idx("i", 3)],
     {"v": "vector"}, r"no symgraph op computes KroneckerDelta"),
])
def test_from_sympy_errors_name_what_it_cannot_build(expr, symbols, message):
    x = sg.placeholder((), "float64", name="x")
    vector = sg.placeholder((3,), "float64", name="v")
    mapping = {key: vector if value == "vector" else x for key, value in symbols.items()}
    with pytest.raises(sg.SympyConversionError, match=message) as caught:
        sg.from_sympy(expr, mapping)  # marker: from_sympy call
    assert str(caught.value).startswith("sg.from_sympy: ")
    assert f"test_printing_sympy.py:{line_of('marker: from_sympy call')}" in str(caught.value)


def test_from_sympy_argument_errors():
    x = sg.placeholder((), "float64", name="x")
    with pytest.raises(TypeError, match="takes a sympy expression"):
        sg.from_sympy("x + 1", {X: x})
    with pytest.raises(TypeError, match="must map sympy symbols"):
        sg.from_sympy(X, [X, x])
    with pytest.raises(TypeError, match="values must be nodes"):
        sg.from_sympy(X, {X: 1.0})
    with pytest.raises(TypeError, match="keys must be sympy symbols"):
        sg.from_sympy(X, {1: x})
    with pytest.raises(TypeError, match="each index must be"):
        sg.from_sympy(X, {X: x}, indices=("i",))
    vector = sg.placeholder((3,), "float64", name="v")
    i, j = sympy.Idx("i", 3), sympy.Idx("j", 3)
    with pytest.raises(sg.SympyConversionError, match="depends on the index j, which is not among"):
        sg.from_sympy(sympy.IndexedBase("v")[j], {"v": vector}, indices=(i,))
    assert sg.from_sympy(sympy.Rational(1, 4), {}).eval() == np.float32(0.25)
    third = sg.from_sympy(sympy.Rational(1, 3), {}, dtype="float64")
    assert third.dtype == np.float64 and third.eval() == 1 / 3
    with pytest.raises(sg.DTypeError, match="sg.from_sympy: dtype must be a float dtype"):
        sg.from_sympy(X, {X: x}, dtype="int32")
    with pytest.raises(sg.DTypeError, match="sg.from_sympy: dtype: "):
        sg.from_sympy(X, {X: x}, dtype="float16")


# -- the functions of issue 15 ----------------------------------------------------------------------------------------

# Each op with the interval its random points come from (its real domain, away from the edges) and NumPy/SciPy's
# value; binary ops take a second interval (a divisor away from 0 for mod and fmod: its sign is drawn apart).
NEW_UNARY = {
    "tan": (-1.4, 1.4, np.tan), "sinh": (-3, 3, np.sinh), "cosh": (-3, 3, np.cosh),
    "arcsin": (-0.99, 0.99, np.arcsin), "arccos": (-0.99, 0.99, np.arccos), "arctan": (-5, 5, np.arctan),
    "arcsinh": (-5, 5, np.arcsinh), "arccosh": (1.01, 5, np.arccosh), "arctanh": (-0.99, 0.99, np.arctanh),
    "exp2": (-3, 3, np.exp2), "log2": (0.1, 5, np.log2), "log10": (0.1, 5, np.log10), "cbrt": (-5, 5, np.cbrt),
    "rsqrt": (0.1, 5, lambda v: 1 / np.sqrt(v)), "logit": (0.01, 0.99, lambda v: np.log(v / (1 - v))),
    "erf": (-3, 3, lambda v: scipy_special().erf(v)), "erfc": (-3, 3, lambda v: scipy_special().erfc(v)),
}
NEW_BINARY = {
    "arctan2": ((-3, 3), (-3, 3), np.arctan2), "hypot": ((-3, 3), (-3, 3), np.hypot),
    "logaddexp": ((-3, 3), (-3, 3), np.logaddexp), "mod": ((-7, 7), (0.5, 3), np.remainder),
    "fmod": ((-7, 7), (0.5, 3), np.fmod), "clip": ((-3, 3), (-0.5, 3), lambda a, b: np.clip(a, -1.0, b)),
}


def scipy_special():
    import scipy.special
    return scipy.special


def new_op_graph(name, x, y):
    if name == "clip":
        return sg.clip(x, -1.0, y)
    return getattr(sg, name)(x) if name in NEW_UNARY else getattr(sg, name)(x, y)


def new_op_points(name, rng, count=6):
    """Points in the op's domain: (x values, y values); divisors of both signs for mod and fmod."""
    if name in NEW_UNARY:
        low, high, _ = NEW_UNARY[name]
        return rng.uniform(low, high, count), rng.uniform(-3, 3, count)
    (a_low, a_high), (b_low, b_high), _ = NEW_BINARY[name]
    b = rng.uniform(b_low, b_high, count)
    if name in ("mod", "fmod"):
        b = b * rng.choice([-1.0, 1.0], count)
    return rng.uniform(a_low, a_high, count), b


def new_op_reference(name, a, b):
    return NEW_UNARY[name][2](a) if name in NEW_UNARY else NEW_BINARY[name][2](a, b)


NEW_OPS = sorted(NEW_UNARY) + sorted(NEW_BINARY)


def elementary(expr):
    """``expr`` in sympy's elementary functions only (this package's functions and the cfunctions rewritten, Mod as
    a - b floor(a / b)): an oracle that does not use the derivatives written for them."""
    from sympy.codegen import cfunctions
    from symgraph import sympy_bridge

    forms = {
        sympy_bridge.logaddexp: lambda a, b: sympy.log(sympy.exp(a) + sympy.exp(b)),
        sympy_bridge.logit: lambda a: sympy.log(a / (1 - a)), cfunctions.exp2: lambda a: 2 ** a,
        cfunctions.log2: lambda a: sympy.log(a) / sympy.log(2), cfunctions.log10: lambda a: sympy.log(a) / sympy.log(10),
        cfunctions.hypot: lambda a, b: sympy.sqrt(a ** 2 + b ** 2), sympy.Mod: lambda a, b: a - b * sympy.floor(a / b),
        sympy_sigmoid: lambda a: 1 / (1 + sympy.exp(-a)),
    }
    for function, form in forms.items():
        expr = expr.replace(function, form)
    return expr


def value_at(expr, point):
    return float(sympy.N(expr.subs(point), 30))


@pytest.mark.parametrize("name", NEW_OPS)
def test_to_sympy_of_the_new_functions_is_their_math(name):
    """The expression, evaluated by sympy to 30 digits, is NumPy's value: the sign conventions of mod (the
    divisor's) and fmod (the dividend's), the real cube root of negatives, clip's order of bounds."""
    x, y = (sg.placeholder((), "float64", name=n) for n in "xy")
    expression = sg.to_sympy(new_op_graph(name, x, y))
    xs, ys = new_op_points(name, np.random.default_rng(11))
    for a, b in zip(xs, ys):
        expected = new_op_reference(name, a, b)
        for form in (expression, elementary(expression)):
            np.testing.assert_allclose(value_at(form, {X: a, Y: b}), expected, rtol=1e-12, atol=1e-15,
                                       err_msg=f"{name}({a}, {b}) = {form}")


@pytest.mark.parametrize("name", NEW_OPS)
def test_the_new_functions_round_trip_to_the_same_op(name):
    x, y = (sg.placeholder((5,), "float64", name=n) for n in "xy")
    graph = new_op_graph(name, x, y)
    xs, ys = new_op_points(name, np.random.default_rng(12), 5)
    _, rebuilt = assert_round_trip(graph, {x: xs, y: ys})
    assert [n.op.name for n in sg.toposort(rebuilt) if n.inputs] == [name]
    scaled = 2 * graph * y  # the two factors of cbrt's and fmod's forms are found among others
    _, rebuilt = assert_round_trip(scaled, {x: xs, y: ys})
    assert name in [n.op.name for n in sg.toposort(rebuilt)] or name == "rsqrt"  # 2 y / sqrt(x) is a div


@pytest.mark.parametrize("name", NEW_OPS)
def test_sympy_derivatives_of_the_new_functions_are_sg_grad(name):
    """sympy.diff of the elementary form of to_sympy(f) (not the derivatives written for the functions) equals
    to_sympy(sg.grad(f)), and so does sympy.diff of to_sympy(f) itself, at random points of the domain."""
    x, y = (sg.placeholder((), "float64", name=n) for n in "xy")
    f = new_op_graph(name, x, y)
    expression = sg.to_sympy(f)
    xs, ys = new_op_points(name, np.random.default_rng(13), 4)
    leaves = [x, y] if name in NEW_BINARY else [x]
    for symbol, gradient in zip((X, Y), sg.grad(f, leaves)):
        got = sg.to_sympy(gradient)
        expected = [without_step_derivatives(sympy.diff(elementary(expression), symbol))]
        if name not in ("mod", "fmod"):  # sympy leaves Mod's derivative unevaluated
            expected.append(sympy.diff(expression, symbol))
        for a, b in zip(xs, ys):
            point = {X: a, Y: b}
            with np.errstate(all="ignore"):
                numeric_grad = sg.evaluate(gradient, {x: a, y: b})
            for form in expected:
                np.testing.assert_allclose(value_at(form, point), value_at(got, point), rtol=1e-10, atol=1e-14,
                                           err_msg=f"d{name}/d{symbol} at {point}: {form} vs {got}")
            np.testing.assert_allclose(value_at(got, point), numeric_grad, rtol=1e-12, atol=1e-15)


def test_integer_mod_and_fmod_by_zero_are_zero_in_sympy_too():
    k = sg.placeholder((4,), "int64", name="k")
    m = sg.placeholder((4,), "int64", name="m")
    feed = {k: np.array([7, -7, 5, -3]), m: np.array([3, 3, 0, -2])}
    for graph in (sg.mod(k, m), sg.fmod(k, m), sg.sum(sg.mod(k, m))):
        form = sympy_form(graph)
        rebuilt = sg.from_sympy(*form)
        np.testing.assert_array_equal(rebuilt.eval(feed), graph.eval(feed))
    assert sg.to_sympy(sg.mod(k, 0)) == 0
    x = sg.placeholder((), "float64", name="x")
    assert sg.to_sympy(sg.mod(x, 0.0)) is sympy.nan and sg.to_sympy(sg.fmod(x, 0.0)) is sympy.nan  # as NumPy's floats


def test_latex_of_the_new_functions():
    x, y = (sg.placeholder((), "float64", name=n) for n in "xy")
    cases = {
        sg.exp2(x): r"2^{x}", sg.log2(x): r"\log_{2}{\left(x \right)}", sg.log10(x) ** 2.0: r"\log_{10}^{2}{\left(x \right)}",
        sg.cbrt(x): r"\sqrt[3]{\left|{x}\right|} \operatorname{sign}{\left(x \right)}",
        sg.arctan2(y, x): r"\operatorname{atan}_{2}{\left(y,x \right)}", sg.erf(x): r"\operatorname{erf}{\left(x \right)}",
        sg.logit(x): r"\operatorname{logit}\left(x\right)", sg.rsqrt(x): r"\frac{1}{\sqrt{x}}",
        2 * sg.mod(x, y): r"2 \left(x \bmod y\right)",
        sg.fmod(x, y): r"\left(\left|{x}\right| \bmod \left|{y}\right|\right) \operatorname{sign}{\left(x \right)}",
        sg.clip(x, 0.0, 6.0): r"\min\left(6, \max\left(0, x\right)\right)",
        sg.logaddexp(x, y): r"\operatorname{logaddexp}\left(x, y\right)",
    }
    for graph, text in cases.items():
        assert sg.latex(graph) == text


def test_scale_gradient_is_an_identity_whose_derivative_is_its_factor():
    x = sg.placeholder((), "float64", name="x")
    f = sg.square(sg.scale_gradient(sg.sin(x), 0.25))
    expression = sg.to_sympy(f)
    scaled = scale_gradient(sympy.sin(X), sympy.Rational(1, 4))
    assert sympy.diff(expression, X) == 2 * scaled * sympy.Rational(1, 4) * sympy.cos(X)
    assert sg.latex(sg.scale_gradient(x, -3.0)) == r"\operatorname{scale\_gradient}\left(x, -3\right)"
    rebuilt = sg.from_sympy(*sympy_form(f))
    assert "scale_gradient" in [n.op.name for n in sg.toposort(rebuilt)]
    np.testing.assert_allclose(sg.grad(rebuilt, x).eval({x: 0.7}), sg.grad(f, x).eval({x: 0.7}), rtol=1e-15)
    np.testing.assert_allclose(value_at(sympy.diff(expression, X), {X: 0.7}), sg.grad(f, x).eval({x: 0.7}))


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
def test_tests_for_nan_and_infinity_have_no_sympy_form(name):
    x = sg.placeholder((3,), "float64", name="x")
    test = getattr(sg, name)(sg.log(x))  # marker: predicate
    with pytest.raises(sg.SympyConversionError, match=f"{name} has no sympy form: sympy's real symbols are finite"):
        sg.to_sympy(sg.where(test, 0.0, x))
    with pytest.raises(sg.SympyConversionError) as caught:
        sg.latex(test)
    assert test.describe() in str(caught.value)
    assert f"test_printing_sympy.py:{line_of('marker: predicate')}" in str(caught.value)


def test_where_and_clip_of_real_scalars_are_values_and_of_bools_logic():
    """A real sympy Symbol is also a sympy Boolean: the node's dtype, not the form, says which where and clip are."""
    x, y = (sg.placeholder((), "float64", name=n) for n in "xy")
    b, c = (sg.placeholder((), "bool", name=n) for n in "bc")
    chosen = sg.to_sympy(sg.where(x > y, x, y))
    assert chosen == sympy.Piecewise((X, X > Y), (Y, True))
    assert sympy.diff(chosen, X).subs({X: 2.0, Y: 1.0}) == 1
    assert sg.to_sympy(sg.clip(x, y, 1.0)) == sympy.Min(sympy.Max(X, Y), 1)
    assert sg.to_sympy(sg.where(x > y, b, c)) == sympy.ITE(X > Y, sympy.Symbol("b"), sympy.Symbol("c"))
    clipped = sg.clip(b, c, True)
    for values in ((False, False), (False, True), (True, False)):
        feed = dict(zip((b, c), values))
        assert sg.from_sympy(*sympy_form(clipped)).eval(feed) == clipped.eval(feed)


# -- logsumexp, softmax, log_softmax and op_from_graph ---------------------------------------------------------------

def test_logsumexp_softmax_and_log_softmax_are_sums_of_exponentials():
    A = sg.placeholder((2, 3), "float64", name="A")
    v = sg.placeholder((3,), "float64", name="v")
    rng = np.random.default_rng(21)
    feed = {A: rng.standard_normal((2, 3)), v: rng.standard_normal(3)}
    a, w = feed[A], feed[v]
    graphs = [
        (sg.nn.logsumexp(A, axis=1), np.log(np.exp(a).sum(axis=1))),
        (sg.nn.logsumexp(A * v, axis=(0, 1), keepdims=True), np.log(np.exp(a * w).sum()).reshape(1, 1)),
        (sg.nn.softmax(A, 0), np.exp(a) / np.exp(a).sum(axis=0)),
        (sg.nn.log_softmax(A * v, 1), a * w - np.log(np.exp(a * w).sum(axis=1, keepdims=True))),
        (sg.nn.softmax(sg.expand_dims(v, 0), 0), np.ones((1, 3))),  # over a size-1 axis
        (sg.nn.softmax_cross_entropy(A, sg.nn.softmax(A * v, 1), reduction="none"),
         -np.sum(np.exp(a * w) / np.exp(a * w).sum(axis=1, keepdims=True) * (a - np.log(np.exp(a).sum(axis=1,
                                                                                                    keepdims=True))),
                 axis=1)),
    ]
    A_base, v_base = sympy.IndexedBase("A", real=True), sympy.IndexedBase("v", real=True)
    elements = {A_base[p]: a[p] for p in np.ndindex(2, 3)} | {v_base[k]: w[k] for k in range(3)}
    for graph, expected in graphs:
        form = sympy_form(graph)
        assert form.expression.has(sympy.exp) or graph.shape == (1, 3)  # e^v / e^v is 1
        for position in np.ndindex(*graph.shape):
            at = {i: p for i, p in zip(form.indices, position) if i != 0}
            value = float(form.expression.subs(at).doit().subs(elements))
            np.testing.assert_allclose(value, expected[position], rtol=1e-12, err_msg=str(form.expression))
        assert_round_trip(graph, feed)
    assert sg.latex(sg.nn.logsumexp(v)) == r"\log{\left(\sum_{p=0}^{2} e^{{v}_{p}} \right)}"


def test_log_of_a_sum_of_exponentials_comes_back_as_logsumexp():
    v = sg.placeholder((3,), "float64", name="v")
    rebuilt = sg.from_sympy(*sympy_form(sg.nn.log_softmax(v)))
    assert "logsumexp" in [n.op.name for n in sg.toposort(rebuilt)]
    logits = np.array([1000.0, 999.0, -1000.0])  # where log(sum(exp(v))) overflows
    np.testing.assert_allclose(rebuilt.eval({v: logits}), sg.nn.log_softmax(v).eval({v: logits}), rtol=1e-12)
    p = sympy.Idx("p", 2)
    partial = sympy.log(sympy.Sum(sympy.exp(sympy.IndexedBase("v")[p]), (p, 0, 1)))  # not the whole axis
    with pytest.raises(sg.SympyConversionError, match="the index p runs over 2 values but indexes axis 0"):
        sg.from_sympy(partial, {"v": v})


def test_sympy_derivatives_of_softmax_cross_entropies_are_sg_grad():
    logits = sg.placeholder((2, 3), "float64", name="z")
    targets = sg.constant(np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]))
    cost = -sg.sum(targets * sg.nn.log_softmax(logits, 1)) + sg.nn.logsumexp(sg.nn.softmax(logits, 0)) + \
        sg.nn.softmax_cross_entropy(sg.square(logits), sg.nn.softmax(logits, 1), reduction="sum")
    base = sympy.IndexedBase("z", real=True)
    scalars = {base[p]: sympy.Symbol(f"z_{p[0]}_{p[1]}", real=True) for p in np.ndindex(2, 3)}
    expression = sg.to_sympy(cost).doit().subs(scalars)
    point = np.random.default_rng(22).standard_normal((2, 3))
    at = {scalars[base[p]]: point[p] for p in np.ndindex(2, 3)}
    expected = [float(sympy.diff(expression, scalars[base[p]]).subs(at)) for p in np.ndindex(2, 3)]
    np.testing.assert_allclose(sg.grad(cost, logits).eval({logits: point}).ravel(), expected, rtol=1e-10)


def test_an_op_from_graph_is_the_math_of_its_subgraph():
    x = sg.placeholder((3,), "float64", name="x")
    w = sg.variable(np.array([0.5, -1.0, 2.0]), name="w")
    scaled_tanh = sg.op_from_graph([x], sg.tanh(x) * w, name="scaled_tanh")
    v = sg.placeholder((3,), "float64", name="v")
    f = sg.sum(scaled_tanh(v) ** 2.0)
    W, V, p = sympy.IndexedBase("w", real=True), sympy.IndexedBase("v", real=True), sympy.Idx("p", 3)
    assert sg.to_sympy(f) == sympy.Sum(sympy.tanh(V[p]) ** 2 * W[p] ** 2, p)
    feed = {v: np.array([0.3, -0.2, 1.1])}
    assert_round_trip(f, feed)
    assert_round_trip(sg.grad(f, v), feed)


def test_where_of_wheres_compared_converts_without_endless_recursion():
    """sympy 1.14 evaluating Piecewise((a, c), ...) where c compares Piecewise expressions recursed without end: such
    a where stays an unevaluated Piecewise, with the same values."""
    nodes = scalar_leaves()
    x, z = nodes["x"], nodes["z"]
    inner = sg.where(z > x, z * x, z - x)
    left, right = sg.where(inner > sg.log1p(z), inner * sg.log1p(z), inner - sg.log1p(z)), sg.where(x > z, x * z, x - z)
    f = sg.where(left > right, left * right, left - right)
    expression = sg.to_sympy(f)
    for point in ({X: 0.3, Y: 0.0, Z: 1.2}, {X: 2.0, Y: 0.0, Z: 0.5}, {X: -0.4, Y: 0.0, Z: 0.1}):
        feeds = {nodes[str(s)]: np.float64(v) for s, v in point.items()}
        assert float(expression.subs(point)) == pytest.approx(float(sg.evaluate(f, feeds)), rel=1e-12)
