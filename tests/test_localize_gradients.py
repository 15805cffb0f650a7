"""Locating the wrong gradient rule (issue 12): ``symgraph.testing.locate_bad_gradient`` and
``check_grads(..., localize=True)``.

A deliberately wrong rule (a small custom op defined here, with the gradient a hand-written rule typically gets
wrong) inside otherwise correct graphs must be named, with the line of this file that built it, the input and the
numbers; the end-to-end check (independent of the localization) must fail on the same graphs. Correct graphs (MLPs,
a small convnet with max pooling, elementwise mixes, broadcasting, random and stateful ops), also at kinks, ties and
domain edges where an end-to-end check fails, must name no node, and say what they left out. Every rule of the op
table (tests/op_table.py), made wrong by 25%, is found at its own node.
"""

from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass
from typing import ClassVar
from unittest import mock

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import Op, apply, toposort
from symgraph.testing import MAX_DIRECTIONS, GradientLocation, check_grads, locate_bad_gradient

from op_table import grad_cases, sample
from test_grad_ops import grad_inputs, scalar_cost, wrt_of

THIS_FILE = os.path.basename(__file__)


def here() -> int:
    """The line of the caller."""
    return inspect.currentframe().f_back.f_lineno


def site_pattern(line: int) -> str:
    return rf"{re.escape(THIS_FILE)}:{line}\b"


# -- custom ops: a wrong rule, and correct ones ---------------------------------------------------------------------

class SameShape(Op):
    """A custom op whose output has its first input's shape and dtype."""

    def infer(self, x, *others):
        return x.shape, x.dtype


@dataclass(frozen=True)
class WrongSoftplus(SameShape):
    """softplus, with the derivative of softplus(-x) as its rule: a sign error."""

    name: ClassVar[str] = "wrong_softplus"

    def compute(self, x):
        return np.logaddexp(x, 0)

    def grad(self, node, g):
        return [g * sg.sigmoid(-node.inputs[0])]


@dataclass(frozen=True)
class Softplus(SameShape):
    """softplus with its correct rule: a custom op is checked like a built-in one."""

    name: ClassVar[str] = "custom_softplus"

    def compute(self, x):
        return np.logaddexp(x, 0)

    def grad(self, node, g):
        return [g * sg.sigmoid(node.inputs[0])]


@dataclass(frozen=True)
class WrongAxpy(SameShape):
    """a + 3 b, whose rule forgets the 3 for b: input 0 is right, input 1 wrong."""

    name: ClassVar[str] = "wrong_axpy"

    def compute(self, a, b):
        return a + 3 * b

    def grad(self, node, g):
        return [g, g]


@dataclass(frozen=True)
class Cube(SameShape):
    """x ** 3, whose (correct) rule builds the wrong-ruled Triple: first order is right, second order is not."""

    name: ClassVar[str] = "cube"

    def compute(self, x):
        return x ** 3

    def grad(self, node, g):
        x = node.inputs[0]
        return [apply(Triple(), x * x) * g]


@dataclass(frozen=True)
class Triple(SameShape):
    """3 x, with the rule of 2 x."""

    name: ClassVar[str] = "triple"

    def compute(self, x):
        return 3 * x

    def grad(self, node, g):
        return [2 * g]


def mlp(activation, dtype="float64", seed=0):
    """A 2-layer MLP cost with softmax cross-entropy over integer labels; ``activation(z)`` builds the hidden one."""
    rng = np.random.default_rng(seed)
    x = sg.placeholder((None, 5), dtype, name="x")
    labels = sg.placeholder((None,), "int64", name="labels")
    w1 = sg.variable(rng.standard_normal((5, 7)).astype(dtype), name="W1")
    b1 = sg.variable(rng.standard_normal(7).astype(dtype) * 0.1, name="b1")
    w2 = sg.variable(rng.standard_normal((7, 3)).astype(dtype), name="W2")
    b2 = sg.variable(np.zeros(3, dtype), name="b2")
    hidden = activation(x @ w1 + b1)
    cost = sg.nn.softmax_cross_entropy(hidden @ w2 + b2, labels)
    feeds = {x: rng.standard_normal((6, 5)).astype(dtype), labels: rng.integers(0, 3, 6)}
    return cost, [w1, b1, w2, b2], feeds, hidden


# -- a wrong rule is named --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_wrong_rule_inside_an_mlp_is_named_with_its_line(dtype):
    cost, params, feeds, hidden = mlp(lambda z: apply(WrongSoftplus(), z, name="h1"), dtype)
    line = here() - 1
    with pytest.raises(AssertionError, match="first order gradient check failed"):
        check_grads(cost, params, feeds)  # the end-to-end check fails, and says no more
    location = locate_bad_gradient(cost, params, feeds)
    assert isinstance(location, GradientLocation)
    bad = location.bad
    assert bad.node is hidden and bad.position == 0 and bad.node.inputs[0].op.name == "add"
    assert abs(bad.rule_value - bad.finite_difference) > bad.tolerance
    assert bad.tolerance < 1e-2 * abs(bad.finite_difference)  # the numbers are far apart, not marginally
    text = str(location)
    assert re.search(rf"wrong gradient rule at wrong_softplus node 'h1' \(shape \(None, 7\), {dtype}\) created at "
                     rf"\S*{site_pattern(line)}, input 0 \(add node", text), text
    assert f"{bad.rule_value!r}" in text and f"{bad.finite_difference!r}" in text


def test_check_grads_with_localize_names_the_node_in_its_assertion():
    cost, params, feeds, _ = mlp(lambda z: apply(WrongSoftplus(), z))
    line = here() - 1
    with pytest.raises(AssertionError) as plain:
        check_grads(cost, params, feeds)
    assert "locate_bad_gradient" not in str(plain.value)
    with pytest.raises(AssertionError) as localized:
        check_grads(cost, params, feeds, localize=True)
    message = str(localized.value)
    assert message.startswith(str(plain.value))  # the same failure, with the located node added
    assert re.search(rf"\nlocate_bad_gradient: wrong gradient rule at wrong_softplus node \(shape \(None, 7\), "
                     rf"float64\) created at \S*{site_pattern(line)}, input 0", message), message


def test_the_wrong_input_of_a_rule_is_named():
    a = sg.variable(np.linspace(-1, 1, 4), name="a")
    b = sg.variable(np.linspace(2, 3, 4), name="b")
    wrong = apply(WrongAxpy(), sg.sin(a), sg.cos(b))
    cost = sg.sum(sg.tanh(wrong))
    bad = locate_bad_gradient(cost, [a, b]).bad
    assert bad.node is wrong and bad.position == 1  # input 0 was checked and is right
    assert locate_bad_gradient(cost, a).bad is None  # only the rules a gradient with respect to a uses


def chain(wrong_at: set, length=10):
    """x through ``length`` smooth ops, those at ``wrong_at`` replaced by WrongSoftplus; the nodes in order."""
    x = sg.variable(np.array([0.3, -0.7, 1.1]), name="x")
    smooth = [sg.sin, sg.tanh, sg.sigmoid, lambda v: sg.exp(v * 0.5), sg.softplus, sg.cos]
    nodes, value = [], x
    for k in range(length):
        value = apply(WrongSoftplus(), value) if k in wrong_at else smooth[k % len(smooth)](value)
        nodes.append(value)
    return x, sg.sum(sg.square(value)), nodes


def test_a_wrong_rule_deep_in_a_chain_is_found_before_the_correct_ones_after_it():
    x, cost, nodes = chain({3})
    with pytest.raises(AssertionError) as failure:
        check_grads(cost, x, localize=True)
    location = locate_bad_gradient(cost, x)
    assert location.bad.node is nodes[3]
    assert location.nodes == 3 and location.checked == 3  # the three rules before it, and none after it
    assert nodes[3].describe() in str(failure.value)


def test_of_two_wrong_rules_the_innermost_is_named():
    """The first in forward topological order: the one whose error every later gradient inherits."""
    x, cost, nodes = chain({2, 7})
    assert locate_bad_gradient(cost, x).bad.node is nodes[2]
    x, cost, nodes = chain({7})
    assert locate_bad_gradient(cost, x).bad.node is nodes[7]


def test_a_wrong_rule_inside_a_gradient_graph_is_named_at_second_order():
    x = sg.variable(np.array([0.5, -1.2, 2.0]), name="x")
    cost = sg.sum(sg.sin(apply(Cube(), x)))
    check_grads(cost, x, order=1)  # first order is right: Triple's value is right, only its rule is wrong
    with pytest.raises(AssertionError, match="second order gradient check failed") as failure:
        check_grads(cost, x, order=2, localize=True)
    line = inspect.getsourcelines(Cube.grad)[1] + 2  # the line in Cube.grad that applies Triple
    assert re.search(rf"wrong gradient rule at triple node \(shape \(3,\), float64\) created at "
                     rf"\S*{site_pattern(line)}, input 0", str(failure.value)), str(failure.value)


def test_stop_gradient_is_named_as_the_reason_an_end_to_end_check_fails():
    x = sg.variable(np.array([0.2, 0.9]), name="x")
    blocked = sg.stop_gradient(sg.sin(x))
    with pytest.raises(AssertionError, match="stop_gradient blocks gradients by design"):
        check_grads(sg.sum(blocked * x), x, localize=True)
    assert locate_bad_gradient(sg.sum(blocked * x), x).bad.node is blocked


def test_a_rule_that_cannot_even_be_built_is_named_with_the_error_check_grads_raises():
    @dataclass(frozen=True)
    class TwoGradients(SameShape):
        name: ClassVar[str] = "two_gradients"

        def compute(self, x):
            return 2 * x

        def grad(self, node, g):
            return [g, g]

    @dataclass(frozen=True)
    class WrongShape(SameShape):
        name: ClassVar[str] = "wrong_shape"

        def compute(self, x):
            return 2 * x

        def grad(self, node, g):
            return [sg.sum(g)]

    x = sg.variable(np.array([0.2, 0.9]), name="x")
    for op, position in ((TwoGradients(), None), (WrongShape(), 0)):
        node = apply(op, sg.sin(x))
        cost = sg.sum(sg.exp(node))
        bad = locate_bad_gradient(cost, x).bad
        assert bad.node is node and bad.position == position
        assert "gradient" in bad.problem and bad.rule_value is None
        with pytest.raises(sg.GradientError) as failure:  # what sg.grad raises today, with the located node
            check_grads(cost, x, localize=True)
        assert f"locate_bad_gradient: wrong gradient rule at {node.describe()}" in str(failure.value)


def test_a_rule_whose_gradient_has_the_wrong_shape_at_run_time_is_named():
    @dataclass(frozen=True)
    class Doubled(SameShape):
        name: ClassVar[str] = "doubled"

        def compute(self, x):
            return 2 * x

        def grad(self, node, g):
            return [2 * g[:, :2]]  # unknown dimensions: statically fine, wrong when fed

    x = sg.placeholder((None, None), "float64", name="x")
    node = apply(Doubled(), sg.tanh(x))
    bad = locate_bad_gradient(sg.sum(node), x, {x: np.ones((2, 3))}).bad
    assert bad.node is node and bad.position == 0 and "shape (2, 2) at run time" in bad.problem


def test_a_compute_that_refuses_float64_is_differentiated_in_its_own_dtype():
    @dataclass(frozen=True)
    class Float32Only(SameShape):
        name: ClassVar[str] = "float32_only"

        def compute(self, x):
            assert x.dtype == np.float32, "float32 only"
            return np.tanh(x)

        def grad(self, node, g):
            return [g * (1 - node)]  # should be 1 - node ** 2

    x = sg.variable(np.linspace(-1, 1, 5).astype(np.float32), name="x")
    node = apply(Float32Only(), x)
    assert locate_bad_gradient(sg.sum(node * node), x).bad.node is node


# -- correct graphs name no node ---------------------------------------------------------------------------------------

def no_bad_node(output, wrt, feeds=None, order=2, seed=0):
    """Assert that no rule is wrong at first order, and (order 2) in the gradient graph; the end-to-end check is
    independent evidence that the graph is right (it passes where no kink or domain edge interferes)."""
    wrt = [wrt] if isinstance(wrt, sg.Node) else wrt
    location = locate_bad_gradient(output, wrt, feeds, seed=seed)
    assert location.bad is None, str(location)
    assert location.checked > 0
    if order >= 2:
        rng = np.random.default_rng(seed)
        weights = [rng.standard_normal(np.shape(feeds[x]) if feeds and x in feeds else x.shape) for x in wrt]
        gradients = sg.grad(output, wrt)
        scalar = sg.sum(sg.stack([sg.sum(g * w.astype(g.dtype)) for g, w in zip(gradients, weights)]))
        second = locate_bad_gradient(scalar, wrt, feeds, seed=seed)
        assert second.bad is None, str(second)
        assert second.checked > location.checked
    return location


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation", [sg.relu, sg.tanh, sg.sigmoid, lambda z: apply(Softplus(), z)],
                         ids=["relu", "tanh", "sigmoid", "custom_softplus"])
def test_mlps_with_softmax_cross_entropy_name_no_node(activation, dtype):
    cost, params, feeds, _ = mlp(activation, dtype)
    if dtype == "float64":
        check_grads(cost, params, feeds, localize=True)
    no_bad_node(cost, params, feeds)


def test_a_small_convnet_with_max_pooling_names_no_node():
    rng = np.random.default_rng(1)
    images = sg.placeholder((None, 2, 6, 6), "float64", name="images")
    labels = sg.placeholder((None,), "int64", name="labels")
    filters = sg.variable(rng.standard_normal((3, 2, 3, 3)) * 0.5, name="filters")
    bias = sg.variable(np.array([-20.0, 0.0, 0.5]), name="bias")  # channel 0 is all zeros after the relu
    dense = sg.variable(rng.standard_normal((12, 4)) * 0.5, name="dense")
    features = sg.relu(sg.nn.conv2d(images, filters, padding="same") + sg.reshape(bias, (1, 3, 1, 1)))
    pooled = sg.nn.max_pool2d(features, 3, stride=3)  # its windows of channel 0 are ties
    cost = sg.nn.softmax_cross_entropy(sg.reshape(pooled, (-1, 12)) @ dense, labels)
    feeds = {images: rng.standard_normal((2, 2, 6, 6)), labels: np.array([1, 3])}
    check_grads(cost, [filters, bias, dense], feeds, localize=True)
    location = no_bad_node(cost, [filters, bias, dense], feeds)
    assert f"{pooled.describe()}: 8 of 24 output elements sit at a kink, a tie or a jump" in "\n".join(location.notes)


def test_elementwise_mixes_name_no_node():
    rng = np.random.default_rng(2)
    x = sg.variable(rng.uniform(0.2, 2.0, (3, 4)), name="x")
    y = sg.variable(rng.uniform(-1.0, 1.0, (3, 4)), name="y")
    mixed = (sg.log(x) * sg.exp(y) + sg.sqrt(x) / (1 + sg.square(y)) - sg.tanh(x * y) + x ** y
             + sg.sigmoid(y) * sg.softplus(-x) + sg.reciprocal(x) + sg.log1p(x) * sg.expm1(y)
             + sg.maximum(x, y) - sg.minimum(sg.abs(y), 0.5) + sg.where(y > 0, sg.sin(x), sg.cos(y)))
    cost = sg.mean(sg.nn.logsumexp(mixed, axis=1) + sg.max(mixed, axis=0).sum())
    check_grads(cost, [x, y], localize=True)
    no_bad_node(cost, [x, y])


def test_broadcasting_names_no_node():
    rng = np.random.default_rng(3)
    column = sg.variable(rng.standard_normal((3, 1)), name="column")
    row = sg.variable(rng.standard_normal((1, 4)), name="row")
    vector = sg.variable(rng.standard_normal(4), name="vector")
    scalar = sg.variable(np.array(0.7), name="scalar")
    batch = sg.placeholder((None, 3, 4), "float64", name="batch")
    grid = column * row + vector / (1 + scalar ** 2) - sg.maximum(column, vector)
    cost = sg.sum(sg.sin(batch * grid + sg.matmul(batch, sg.transpose(grid[:1], (1, 0)))))
    feeds = {batch: rng.standard_normal((2, 3, 4))}
    check_grads(cost, [column, row, vector, scalar], feeds, localize=True)
    no_bad_node(cost, [column, row, vector, scalar], feeds)


def test_integer_inputs_and_ops_that_pass_no_gradient_name_no_node():
    x = sg.variable(np.array([[0.4, 1.6, -2.3], [2.5, -0.2, 0.9]]), name="x")
    labels = sg.cast(sg.argmax(x, axis=1), "int64")
    rounded = sg.floor(x) + sg.cast(sg.cast(x, "int32"), "float64") + sg.one_hot(labels, 3, dtype="float64")
    cost = sg.sum(sg.where(x > 0, rounded * x, sg.sin(x)) + x[labels])
    check_grads(cost, x, localize=True)
    location = no_bad_node(cost, x)
    assert not location.notes  # x keeps clear of floor's jumps: nothing left out


def test_random_and_stateful_ops_name_no_node():
    rng = np.random.default_rng(4)
    x = sg.placeholder((None, 3), "float64", name="x")
    w = sg.variable(rng.standard_normal((3, 3)), name="w")
    running_mean = sg.variable(np.zeros(3), trainable=False, name="running_mean")
    running_var = sg.variable(np.ones(3), trainable=False, name="running_var")
    gamma, beta = sg.variable(np.ones(3), name="gamma"), sg.variable(np.zeros(3), name="beta")
    normalized = sg.nn.batch_norm(x @ w, gamma, beta, running_mean, running_var, training=True)
    cost = sg.sum(sg.square(sg.nn.dropout(sg.tanh(normalized), 0.3, seed=5)))
    feeds = {x: rng.standard_normal((5, 3))}
    check_grads(cost, [w, gamma, beta], feeds, localize=True)
    no_bad_node(cost, [w, gamma, beta], feeds)
    assert running_mean.value.tolist() == [0.0, 0.0, 0.0]  # evaluation applies no implied updates


def test_a_random_compute_is_left_out_and_said_so():
    @dataclass(frozen=True)
    class Noisy(SameShape):
        name: ClassVar[str] = "noisy"

        def compute(self, x):
            return x + np.random.default_rng().normal(size=np.shape(x))

        def grad(self, node, g):
            return [3 * g]  # wrong, but finite differences of a random compute cannot tell

    x = sg.variable(np.array([0.1, 0.2]), name="x")
    noisy = apply(Noisy(), sg.sin(x))
    location = locate_bad_gradient(sg.sum(sg.exp(noisy)), x)
    assert location.bad is None
    assert [n for n in location.notes if n.startswith(noisy.describe())] == [
        f"{noisy.describe()}: not checked: its compute gives different values for the same inputs (a random or "
        "stateful op), so finite differences cannot measure its derivative"]


# -- kinks and domain edges: a correct rule is never blamed ------------------------------------------------------------

# name -> (build, whether the end-to-end check fails there: central differences happen to match the conventions of
# abs at 0 (0) and of maximum at a tie (half to each input))
KINKS = {
    "relu at 0": (lambda x: sg.relu(x), True),
    "abs at 0": (lambda x: sg.abs(x), False),
    "max with ties": (lambda x: sg.max(x, axis=1), True),
    "maximum at ties": (lambda x: sg.maximum(x, sg.constant(np.array([[0.0, 2.0, 1.0, 0.0]] * 3))), False),
    "max_pool2d with ties": (lambda x: sg.nn.max_pool2d(sg.reshape(x, (1, 1, 3, 4)), 2, stride=1), True),
    "floor at integers": (lambda x: sg.floor(x) * x, True),
}


@pytest.mark.parametrize("kink", KINKS, ids=list(KINKS))
def test_correct_rules_at_kinks_are_not_blamed_and_the_kinks_are_noted(kink):
    values = np.array([[0.0, 2.0, 1.0, 0.0], [2.0, 2.0, -1.0, 2.0], [0.0, 0.0, 3.0, -2.0]])  # zeros, ties, integers
    x = sg.placeholder((3, 4), "float64", name="x")
    build, end_to_end_fails = KINKS[kink]
    node = build(x)
    cost = sg.sum(sg.sin(node) + sg.square(node))  # its derivative is 1, not 0, where the node is 0
    kinked = next(n for n in toposort([cost]) if n.op.name in ("relu", "abs", "max", "maximum", "max_pool2d",
                                                                "floor"))
    location = locate_bad_gradient(cost, x, {x: values})
    assert location.bad is None
    assert any(re.match(rf"{re.escape(kinked.describe())}: ([1-9]\d* of \d+|not checked: all \d+) output elements "
                        r"sit at a kink, a tie or a jump \(one-sided differences disagree\)", note)
               for note in location.notes), location.notes
    if end_to_end_fails:  # at these points the end-to-end check fails, though no rule is wrong
        with pytest.raises(AssertionError) as failure:
            check_grads(cost, x, {x: values}, order=1, localize=True)
        message = str(failure.value)
        assert "\nlocate_bad_gradient: every gradient rule agrees" in message
        assert f"note: {kinked.describe()}" in message and "hint: at kinks and ties" in message
    moved = values + np.linspace(0.05, 0.4, 12).reshape(3, 4)  # away from them, it passes
    check_grads(cost, x, {x: moved}, order=1)


def test_values_near_a_domain_edge_are_stepped_relatively():
    """log and sqrt of values down to 1e-12: check_grads' absolute step leaves the domain (nan); the local steps,
    relative to each value, do not, and every element is checked."""
    x = sg.placeholder((5,), "float64", name="x")
    cost = sg.sum(sg.log(x) + sg.sqrt(x) + x ** sg.constant(1.5))
    feeds = {x: np.array([1e-12, 3e-9, 1e-6, 0.5, 2.0])}
    with pytest.raises(AssertionError, match="finite differences nan") as failure:
        check_grads(cost, x, feeds, order=1, localize=True)
    assert "hint: the end-to-end finite differences are not finite" in str(failure.value)
    location = no_bad_node(cost, x, feeds)
    assert not location.notes


def test_infinite_values_and_gradients_at_zero_are_left_out_and_said_so():
    x = sg.placeholder((4,), "float64", name="x")
    root = sg.sqrt(x)
    cost = sg.sum(sg.sin(root) + root)
    location = locate_bad_gradient(cost, x, {x: np.array([0.0, 0.5, 1.0, 2.0])})
    assert location.bad is None
    mine = [n for n in location.notes if n.startswith(root.describe())]
    assert mine == [f"{root.describe()}: 1 of 4 output elements are not finite (inf or nan, here or one step away) "
                    "and were left out of its check",
                    f"{root.describe()}: input 0: 1 gradient elements that are not finite (0 * inf beside left-out "
                    "output elements) were left out"]


def test_float32_rounding_of_a_correct_rule_is_told_apart_from_a_wrong_rule():
    """A saturated float32 softmax: its rule loses most digits to rounding, which a float64 recheck tells apart."""
    logits = sg.placeholder((2, 3), "float32", name="logits")
    weights = sg.constant(np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], np.float32))
    probabilities = sg.nn.softmax(logits)
    feeds = {logits: np.array([[20.0, 0.0, 0.0], [0.0, 30.0, -5.0]], np.float32)}
    location = locate_bad_gradient(sg.sum(probabilities * weights), logits, feeds)
    assert location.bad is None
    assert location.notes and all(n.startswith(f"{probabilities.describe()}: input 0: the rule agrees with finite "
                                                f"differences in float64") for n in location.notes)


# -- large nodes: a few directions -------------------------------------------------------------------------------------

def test_a_large_node_costs_a_few_evaluations_of_its_op_not_one_per_element():
    calls = []

    @dataclass(frozen=True)
    class CountedTanh(SameShape):
        name: ClassVar[str] = "counted_tanh"

        def compute(self, x):
            calls.append(np.shape(x))
            return np.tanh(x)

        def grad(self, node, g):
            return [g * (1 - sg.square(node))]

    x = sg.variable(np.random.default_rng(5).standard_normal((300, 400)), name="x")
    cost = sg.sum(apply(CountedTanh(), x))
    for directions in (1, 3):
        calls.clear()
        location = locate_bad_gradient(cost, x, directions=directions)
        assert location.bad is None and location.checked == 2
        # once forward, twice at the point (to tell a random compute), four steps per direction
        assert len(calls) == 1 + 2 + 4 * directions


# -- every rule of the op table ----------------------------------------------------------------------------------------

TABLE = [pytest.param(row, case, id=f"{row.name}-{k}") for row, k, case in grad_cases()]


@pytest.mark.parametrize("row,case", TABLE)
def test_every_op_rule_of_the_table_is_correct_at_its_cases_and_at_kinks(row, case):
    """Gradient cases of tests/test_grad_ops.py (which check_grads passes), to second order, and the same inputs
    drawn from the row's own domains (ties and zeros for maximum, max, pooling): no rule is named."""
    inputs, arrays = grad_inputs(row, case)
    wrt = [inputs[k] for k in wrt_of(row, case)]
    cost = scalar_cost(row.make(*inputs, **case.kwargs))
    no_bad_node(cost, wrt, dict(zip(inputs, arrays)))
    rng = np.random.default_rng(1)
    domains = [case.domains[k] if case.domains and case.domains[k] else row.domain(k) for k in range(len(arrays))]
    drawn = [sample(a.shape, a.dtype, domain, rng) for a, domain in zip(arrays, domains)]
    assert locate_bad_gradient(cost, wrt, dict(zip(inputs, drawn))).bad is None


@pytest.mark.parametrize("row,case", [p for p in TABLE if p.values[0].op is not None])
def test_every_op_rule_of_the_table_made_wrong_is_named_at_its_node(row, case):
    inputs, arrays = grad_inputs(row, case)
    cost = scalar_cost(row.make(*inputs, **case.kwargs))
    target = next(n for n in toposort([cost]) if isinstance(n.op, row.op))
    right = row.op.grad

    def wrong(op, node, g):
        return [None if gradient is None else gradient * 1.25 for gradient in right(op, node, g)]

    with mock.patch.object(row.op, "grad", wrong):
        bad = locate_bad_gradient(cost, [inputs[k] for k in wrt_of(row, case)], dict(zip(inputs, arrays))).bad
    assert bad is not None and bad.node is target, bad
    assert bad.rule_value == pytest.approx(1.25 * bad.finite_difference, rel=1e-3)


# -- arguments ---------------------------------------------------------------------------------------------------------

X = sg.variable(np.array([0.5, 1.5]), name="x")
COST = sg.sum(sg.sin(X))


@pytest.mark.parametrize("value", ["yes", 1, None, np.array(True)])
def test_check_grads_refuses_a_localize_that_is_no_bool(value):
    with pytest.raises(TypeError, match=rf"^check_grads: localize must be True or False, got .*\n  at \S*"
                                        rf"{re.escape(THIS_FILE)}:\d+$"):
        check_grads(COST, X, localize=value)


def test_check_grads_takes_numpy_bools_for_localize():
    check_grads(COST, X, localize=np.bool_(True))


LABELS = sg.placeholder((2,), "int64", name="labels")

BAD_ARGUMENTS = [
    (dict(output="cost"), TypeError, "the output must be a node"),
    (dict(output=sg.argmax(X)), sg.GradientError, "the output must be floating-point"),
    (dict(wrt=sg.constant(np.ones(2))), sg.GradientError, "cannot differentiate with respect to a constant"),
    (dict(wrt=LABELS), sg.GradientError, "its dtype int64 is not floating-point"),
    (dict(wrt=[X, "x"]), TypeError, "wrt must be a node or a list of nodes"),
    (dict(feed_dict=[(X, 1.0)]), TypeError, "feed_dict must be a mapping"),
    (dict(output=sg.sum(sg.placeholder((2,), "float64", name="p") * X)), sg.FeedError, "no value fed"),
    (dict(feed_dict={"q": 1.0}), sg.FeedError, "names no placeholder"),
    (dict(directions=0), ValueError, "directions must be a positive int, got 0"),
    (dict(directions=MAX_DIRECTIONS + 1), ValueError, f"directions must be at most {MAX_DIRECTIONS}"),
    (dict(directions=2.0), TypeError, "directions must be a positive int"),
    (dict(directions=True), TypeError, "directions must be a positive int"),
    (dict(rtol=-1e-3), ValueError, "rtol must be >= 0"),
    (dict(rtol=float("nan")), ValueError, "rtol must be >= 0"),
    (dict(atol="small"), TypeError, "atol must be a number"),
    (dict(seed=-1), ValueError, "seed must be a non-negative int"),
    (dict(seed=1.5), TypeError, "seed must be an int or None"),
]


@pytest.mark.parametrize("arguments,error,fragment", BAD_ARGUMENTS,
                         ids=[f"{next(iter(a))}-{k}" for k, (a, _, _) in enumerate(BAD_ARGUMENTS)])
def test_locate_bad_gradient_refuses_wrong_arguments_naming_itself_and_the_line(arguments, error, fragment):
    call = {"output": COST, "wrt": X, **arguments}
    with pytest.raises(error) as failure:
        locate_bad_gradient(**call)
    message = str(failure.value)
    assert message.startswith("locate_bad_gradient"), message
    assert fragment in message, message
    assert re.search(rf"{re.escape(THIS_FILE)}:\d+", message), message


def test_locate_bad_gradient_with_nothing_to_check():
    """wrt the output does not depend on, or an output with no op: nothing to check, which the result says."""
    other = sg.variable(np.ones(3), name="other")
    for output, wrt in ((COST, other), (X, X), (COST, [])):
        location = locate_bad_gradient(output, wrt)
        assert location.bad is None and location.checked == 0 and location.nodes == 0 and not location.notes
        assert str(location) == ("locate_bad_gradient: every gradient rule agrees with finite differences of its op "
                                 "(0 input gradients checked at 0 nodes)")


def test_seeds_make_the_directions_reproducible():
    cost, params, feeds, _ = mlp(lambda z: apply(WrongSoftplus(), z))
    first, again = (locate_bad_gradient(cost, params, feeds, seed=7).bad for _ in range(2))
    assert (first.rule_value, first.finite_difference) == (again.rule_value, again.finite_difference)
    other = locate_bad_gradient(cost, params, feeds, seed=8).bad
    assert other.node is first.node and other.rule_value != first.rule_value
