"""Gradient provenance: every node a reverse pass builds says which forward node's rule built it, for which adjoint,
and keeps saying so through sg.optimize."""

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import toposort

rng = np.random.default_rng(0)


def _mlp():
    x = sg.placeholder((None, 4), "float64", name="x")
    y = sg.placeholder((None, 3), "float64", name="y")
    W1 = sg.variable(rng.standard_normal((4, 5)), name="W1")
    W2 = sg.variable(rng.standard_normal((5, 3)), name="W2")
    h1 = sg.relu(x @ W1, name="h1")
    logits = sg.matmul(h1, W2, name="logits")
    cost = sg.nn.softmax_cross_entropy(logits, y, name="cost")
    return x, y, W1, W2, h1, logits, cost


def _op_nodes(outputs):
    return [n for n in toposort(outputs) if n.inputs]


def test_forward_nodes_have_none_and_every_new_gradient_node_has_one():
    x, y, W1, W2, h1, logits, cost = _mlp()
    forward = {id(n) for n in toposort([cost])}
    gradients = sg.grad(cost, [W1, W2])
    assert all(n.provenance is None for n in toposort([cost]))
    new = [n for n in _op_nodes(gradients) if id(n) not in forward]
    assert new and all(n.provenance is not None for n in new)
    assert all(n.provenance.output is cost for n in new)
    assert sg.graph.provenance(new[0]) is new[0].provenance


def test_provenance_names_the_rule_the_adjoint_and_the_user_line():
    x = sg.placeholder((), "float64", name="x")
    y = sg.placeholder((), "float64", name="y")
    z = sg.placeholder((), "float64", name="z")
    s = sg.add(x, y, name="s")
    f = sg.mul(s, z, name="f"); line = f.site.lineno  # noqa: E702  (the line of f is what provenance must name)
    dx = sg.grad(f, x)
    # d f / d x: the mul rule gives d f / d s = z, the add rule passes it on to x unchanged
    terms = [n for n in toposort([dx]) if n.provenance is not None]
    through_mul = [n for n in terms if n.provenance.through is f]
    assert through_mul and all(n.provenance.wrt is s for n in through_mul)
    text = str(through_mul[0].provenance)
    assert text == f"d f / d s through mul 'f' at {__file__}:{line}"


def test_sum_of_several_contributions_is_recorded_as_such():
    x = sg.placeholder((3,), "float64", name="x")
    cost = sg.sum(sg.sin(x) * sg.exp(x), name="cost")
    dx = sg.grad(cost, x)
    assert dx.op.name == "add"  # x feeds both sin and exp: two contributions summed
    assert dx.provenance.wrt is x and dx.provenance.through is None
    assert str(dx.provenance) == "d cost / d x (sum of its contributions)"
    throughs = {a.provenance.through.op.name for a in dx.inputs}
    assert throughs == {"sin", "exp"}


def test_second_order_nodes_record_the_first_order_gradient_they_differentiate():
    x = sg.placeholder((), "float64", name="x")
    f = sg.tanh(x) * x
    g = sg.grad(f, x)
    h = sg.grad(g, x)
    first = {id(n) for n in toposort([g])}
    second = [n for n in _op_nodes([h]) if id(n) not in first]
    assert second and all(n.provenance.output is g for n in second)
    first_order = [n for n in _op_nodes([g]) if n.provenance is not None]
    assert all(n.provenance.output is f for n in first_order)  # differentiating again leaves them as they were


@pytest.mark.parametrize("passes", [None, ["merge", "simplify"]])
def test_provenance_survives_optimization(passes):
    x, y, W1, W2, h1, logits, cost = _mlp()
    gradients = sg.grad(cost, [W1, W2])
    optimized, report = sg.optimize([cost] + gradients, passes=passes)
    assert report.rewrites
    forward = {id(n) for n in toposort(optimized[:1])}
    gradient_nodes = [n for n in _op_nodes(optimized[1:]) if id(n) not in forward]
    assert gradient_nodes
    missing = [n.describe() for n in gradient_nodes if n.provenance is None]
    assert not missing
    assert all(n.provenance.output.op.name in ("softmax_cross_entropy", "mean") for n in gradient_nodes)
    # the ReLU rule of h1 still accounts for a part of d cost / d W1 after the rewrites
    assert any(n.provenance.through is not None and n.provenance.through.name == "h1" for n in gradient_nodes)


def test_a_rewritten_gradient_node_keeps_the_provenance_of_what_it_replaced():
    x = sg.placeholder((4,), "float64", name="x")
    cost = sg.sum(x ** 3, name="cost")
    dx = sg.grad(cost, x)  # 3 * x ** 2 * (the adjoint): the pow rule builds pow(x, 2)
    (power,) = [n for n in toposort([dx]) if n.op.name == "pow" and n.provenance is not None]
    (after,), report = sg.optimize([dx], passes=["simplify"])
    assert [r.rule for r in report.rewrites] == ["power_special_cases"]
    (square,) = [n for n in toposort([after]) if n.op.name == "square"]
    assert square.provenance == power.provenance
    assert str(square.provenance) == f"d cost / d x through pow at {cost.site}"
    feeds = {x: rng.standard_normal(4)}
    np.testing.assert_allclose(after.eval(feeds), 3 * feeds[x] ** 2)


def test_re_derived_gradients_come_from_the_stable_ops_rules():
    logits = sg.placeholder((4, 3), "float64", name="logits")
    onehot = np.eye(3)[[0, 2, 1, 1]]
    p = sg.exp(logits) / sg.sum(sg.exp(logits), axis=1, keepdims=True)
    loss = -sg.sum(onehot * sg.log(p), name="loss")
    gradient = sg.grad(loss, logits)
    (after,), _ = sg.optimize([gradient])
    rules = {n.provenance.through.op.name for n in _op_nodes([after])
             if n.provenance is not None and n.provenance.through is not None}
    assert "softmax_cross_entropy" in rules


def test_leaves_and_disconnected_wrt_nodes_never_get_provenance():
    x = sg.placeholder((3,), "float64", name="x")
    p = sg.variable(np.ones(3), name="p")
    h = sg.exp(x, name="h")
    dp = sg.grad(sg.sum(x), p, disconnected="zero")  # zeros_like(p): p is not in the cost's graph
    assert dp.provenance is not None and p.provenance is None
    sg.jvp(x, [p], [x])  # the output is a placeholder: nothing of it is built by a rule
    dh = sg.grad(sg.sum(x), h, disconnected="zero")  # h, an op node outside the cost's graph
    assert dh.provenance is not None
    assert x.provenance is None and p.provenance is None and h.provenance is None
