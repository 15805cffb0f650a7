"""sg.optimize never changes a result: the issue's examples, each compared with the unoptimized graph (values to
rounding, NaN/inf patterns exactly) and with a closed form; gradients with respect to intermediate nodes, jvp and hvp;
stable forms that stay finite where the unstable one overflows; check mode; argument errors."""

import numpy as np
import pytest
import scipy.special

import symgraph as sg
from symgraph.passes import RewriteCheckError, simplify

X = np.array([-1.0, 0.0, 2.0])
TANGENT = np.array([1.0, -2.0, 0.5])
WEIGHTS = np.array([0.2, 0.3, 0.5])


def results(inputs, outputs, arrays, optimize):
    return sg.function(inputs, outputs, optimize=optimize, backend="numpy")(*arrays)


def assert_same(got, expected, rtol=1e-9, atol=1e-12):
    """Equal to rounding; NaN where and only where expected is NaN, infinities of the same sign at the same places."""
    got, expected = np.broadcast_arrays(np.asarray(got, np.float64), np.asarray(expected, np.float64))
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)


def sigmoid_case(cost_of, wrt_of):
    def build(x):
        s = sg.sigmoid(x)
        return sg.grad(cost_of(s), wrt_of(x, s))
    return build


def of_sigmoid(output_of):
    return lambda x: output_of(sg.sigmoid(x))


def softmax_case(cost_of):
    def build(x):
        p = sg.nn.softmax(x)
        return sg.grad(cost_of(p), p)
    return build


def expit(x):
    return scipy.special.expit(x)


def softmax(x):
    return scipy.special.softmax(x)


def log_softmax_hessian_times(x, v, weights):
    """H v for sum(w * log_softmax(x)): the Hessian of log_softmax_i is -(diag(p) - p p^T), for every i."""
    p = softmax(x)
    return -np.sum(weights) * (p * v - p * np.dot(p, v))


# (builder of the output from placeholder x, closed form of the output as a function of the array x)
CASES = {
    "grad of sum(log s) wrt s": (sigmoid_case(lambda s: sg.sum(sg.log(s)), lambda x, s: s),
                                 lambda x: 1 / expit(x)),
    "grad of sum(log s) + sum(s) wrt s": (sigmoid_case(lambda s: sg.sum(sg.log(s)) + sg.sum(s), lambda x, s: s),
                                          lambda x: 1 / expit(x) + 1),
    "grad of sum(log s) wrt s and x": (sigmoid_case(lambda s: sg.sum(sg.log(s)), lambda x, s: [s, x]),
                                       lambda x: [1 / expit(x), expit(-x)]),
    "grad of sum(log p) wrt p": (softmax_case(lambda p: sg.sum(sg.log(p))), lambda x: 1 / softmax(x)),
    "grad of sum(log p) + sum(p) wrt p": (softmax_case(lambda p: sg.sum(sg.log(p)) + sg.sum(p)),
                                          lambda x: 1 / softmax(x) + 1),
    "vjp of log s wrt s": (of_sigmoid(lambda s: sg.vjp(sg.log(s), s, TANGENT)), lambda x: TANGENT / expit(x)),
    "jvp of log(1 + x*x)": (lambda x: sg.jvp(sg.log(1 + x * x), x, TANGENT),
                            lambda x: 2 * x / (1 + x * x) * TANGENT),
    "jvp of log(sigmoid x)": (lambda x: sg.jvp(sg.log(sg.sigmoid(x)), x, TANGENT),
                              lambda x: expit(-x) * TANGENT),
    "jvp of log(softmax x)": (lambda x: sg.jvp(sg.log(sg.nn.softmax(x)), x, TANGENT),
                              lambda x: TANGENT - np.dot(softmax(x), TANGENT)),
    "jvp of log s wrt s": (of_sigmoid(lambda s: sg.jvp(sg.log(s), s, TANGENT)), lambda x: TANGENT / expit(x)),
    "hvp of sum(log(sigmoid x))": (lambda x: sg.hvp(sg.sum(sg.log(sg.sigmoid(x))), x, TANGENT),
                                   lambda x: -expit(x) * expit(-x) * TANGENT),
    "hvp of sum(w log(softmax x))": (lambda x: sg.hvp(sg.sum(WEIGHTS * sg.log(sg.nn.softmax(x))), x, TANGENT),
                                     lambda x: log_softmax_hessian_times(x, TANGENT, WEIGHTS)),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("point", [X, np.array([-3.0, 0.5, 1.0])], ids=["edges", "ordinary"])
def test_optimized_gradients_equal_the_unoptimized_ones(case, point):
    build, closed_form = CASES[case]
    x = sg.placeholder((3,), "float64", name="x")
    output = build(x)
    optimized = results([x], output, [point], optimize=True)
    plain = results([x], output, [point], optimize=False)
    assert_same(optimized, plain)
    assert_same(optimized, closed_form(point))


LARGE = np.array([-800.0, -40.0, 40.0, 800.0])

# Where the unstable form overflows (1/s * s(1-s) = inf * 0 at s = 0) the stabilized gradient stays finite.
STABLE_AT_LARGE = {
    "grad of sum(log(sigmoid x)) wrt x": (lambda x: sg.grad(sg.sum(sg.log(sg.sigmoid(x))), x),
                                          lambda x: expit(-x)),
    "x part of grad wrt s and x": (lambda x: sigmoid_case(lambda s: sg.sum(sg.log(s)), lambda x, s: [s, x])(x)[1],
                                   lambda x: expit(-x)),
    "jvp of log(sigmoid x)": (lambda x: sg.jvp(sg.log(sg.sigmoid(x)), x, np.ones(4)), lambda x: expit(-x)),
    "hvp of sum(log(sigmoid x))": (lambda x: sg.hvp(sg.sum(sg.log(sg.sigmoid(x))), x, np.ones(4)),
                                   lambda x: -expit(x) * expit(-x)),
}


@pytest.mark.parametrize("case", sorted(STABLE_AT_LARGE))
def test_stabilized_gradients_stay_finite_at_large_inputs(case):
    build, closed_form = STABLE_AT_LARGE[case]
    x = sg.placeholder((4,), "float64", name="x")
    output = build(x)
    plain = results([x], output, [LARGE], optimize=False)
    optimized = results([x], output, [LARGE], optimize=True)
    assert not np.isfinite(plain).all()  # the unstable form really overflows here
    assert np.isfinite(optimized).all()
    # Absolute accuracy: the sigmoid gradient rule s (1 - s) rounds sigmoid(40) (1 - sigmoid(40)) = 4e-18 to 0.
    assert_same(optimized, closed_form(LARGE), rtol=1e-12, atol=1e-15)


# Expressions undefined (NaN) for negative x: optimizing must keep every NaN, at every point.
DOMAIN_CASES = {
    "exp(log x) + x": lambda x: sg.exp(sg.log(x)) + x,
    "sqrt(x)**2 + x": lambda x: sg.sqrt(x) ** 2 + x,
    "log(x) - log(x) + x": lambda x: sg.log(x) - sg.log(x) + x,
    "log(x) * 0 + x": lambda x: sg.log(x) * 0.0 + x,
    "x * x / x": lambda x: x * x / x,
    "(x*x - 1) / (x - 1)": lambda x: (x * x - 1) / (x - 1),
    "sqrt(x * x)": lambda x: sg.sqrt(x * x) + 0 * x,
    "sin(log x)**2 + cos(log x)**2": lambda x: sg.square(sg.sin(sg.log(x))) + sg.square(sg.cos(sg.log(x))),
    "(x ** 0.5) ** 2 + x": lambda x: (x ** 0.5) ** 2 + x,
    "1 / (1 / x)": lambda x: sg.reciprocal(sg.reciprocal(x)) + x,
}
DOMAIN_POINTS = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])


def numpy_reference(case, x):
    with np.errstate(all="ignore"):
        return {
            "exp(log x) + x": lambda: np.exp(np.log(x)) + x,
            "sqrt(x)**2 + x": lambda: np.sqrt(x) ** 2 + x,
            "log(x) - log(x) + x": lambda: np.log(x) - np.log(x) + x,
            "log(x) * 0 + x": lambda: np.log(x) * 0.0 + x,
            "x * x / x": lambda: x * x / x,
            "(x*x - 1) / (x - 1)": lambda: (x * x - 1) / (x - 1),
            "sqrt(x * x)": lambda: np.sqrt(x * x),
            "sin(log x)**2 + cos(log x)**2": lambda: np.sin(np.log(x)) ** 2 + np.cos(np.log(x)) ** 2,
            "(x ** 0.5) ** 2 + x": lambda: (x ** 0.5) ** 2 + x,
            "1 / (1 / x)": lambda: 1 / (1 / x) + x,
        }[case]()


@pytest.mark.parametrize("case", sorted(DOMAIN_CASES))
def test_optimizing_keeps_every_nan_and_infinity(case):
    x = sg.placeholder((7,), "float64", name="x")
    y = DOMAIN_CASES[case](x)
    expected = numpy_reference(case, DOMAIN_POINTS)
    assert_same(results([x], y, [DOMAIN_POINTS], optimize=False), expected)
    assert_same(results([x], y, [DOMAIN_POINTS], optimize=True), expected)
    gradient = sg.grad(sg.sum(y), x)
    assert_same(results([x], gradient, [DOMAIN_POINTS], optimize=True),
                results([x], gradient, [DOMAIN_POINTS], optimize=False))


# Deliberately wrong rules for check mode: each changes a NaN/inf pattern while agreeing on ordinary values.
def log_of_abs(node):  # log(x) = log(|x|)  (false for x < 0: NaN becomes a number)
    if node.op.name == "log" and node.inputs[0].op.name != "abs":
        return sg.log(sg.abs(node.inputs[0]))


def sqrt_without_abs(node):  # sqrt(|x|) = sqrt(x)  (false for x < 0: a number becomes NaN)
    if node.op.name == "sqrt" and node.inputs[0].op.name == "abs":
        return sg.sqrt(node.inputs[0].inputs[0])


def log_nudged(node):  # log(x) = log(x + tiny)  (false at 0: -inf becomes a number)
    if node.op.name == "log" and node.inputs[0].op.name != "add":
        return sg.log(node.inputs[0] + 1e-300)


def reciprocal_flipped(node):  # 1/x = -1/(-x) ... written wrongly as 1/|x| (at -0.5 and 0- fine, at -1 not)
    if node.op.name == "reciprocal" and node.inputs[0].op.name != "abs":
        return sg.reciprocal(sg.abs(node.inputs[0]))


@pytest.mark.parametrize("wrong_rule,build,feed,change", [
    (log_of_abs, sg.log, [-1.0, 2.0], "NaN"),
    (sqrt_without_abs, lambda x: sg.sqrt(sg.abs(x)), [-1.0, 2.0], "NaN"),
    (log_nudged, sg.log, [0.0, 2.0], "inf"),
    (reciprocal_flipped, sg.reciprocal, [-1.0, 2.0], "value"),
])
def test_check_mode_reports_every_change_of_a_nan_or_infinity(monkeypatch, wrong_rule, build, feed, change):
    monkeypatch.setattr(simplify, "RULES", simplify.RULES + [wrong_rule])
    monkeypatch.setitem(sg.passes.PASSES, "simplify", sg.passes.pipeline.rule_pass(simplify.RULES))
    x = sg.placeholder((2,), "float64", name="x")
    with pytest.raises(RewriteCheckError, match=wrong_rule.__name__) as error:
        sg.optimize(build(x), check=True, feed_dict={x: np.array(feed)})
    assert change in str(error.value)


def test_check_mode_accepts_rewrites_that_keep_nans():
    x = sg.placeholder((4,), "float64", name="x")
    y = sg.log(1 + x) + sg.exp(sg.log(sg.sigmoid(x)))
    optimized, report = sg.optimize(y, check=True, feed_dict={x: np.array([-2.0, -1.0, 0.0, 3.0])})
    assert {"log_one_plus", "exp_log"} <= set(report.rule_counts)
