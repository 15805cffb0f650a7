"""sg.debugprint and sg.pprint (symgraph/printing/text.py) and the optimizer report's before/after view.

Snapshots are exact. The textbook graphs are built at fixed sites of a student's file (``made_at``), so that the file
and lines they show are the same on every machine; nodes built directly here show this file's basename. Printed math
is also executed as Python over NumPy (``run_math``) and compared with evaluating the graph: the text means what the
graph computes.
"""

import ast
import dataclasses
import io
import os
import pathlib
from typing import ClassVar

import numpy as np
import pytest
import scipy.special

import symgraph as sg
import symgraph.ops
import symgraph.ops.collective
from symgraph import graph
from symgraph.graph import Op, Site, apply
from symgraph.passes.report import Report, Rewrite
from symgraph.printing import text

try:
    from mpi4py import MPI
except ImportError:  # without the mpi extra, allreduce has no communicator to print
    MPI = None

STUDENT_FILE = "/home/student/lecture/model.py"  # debugprint shows it as model.py
THIS_FILE = os.path.basename(__file__)
rng = np.random.default_rng(0)


def made_at(line, build, *args, **kwargs):
    """``build(*args, **kwargs)`` with every node it creates attributed to line ``line`` of STUDENT_FILE."""
    token = graph._site_override.set(Site(STUDENT_FILE, line))
    try:
        return build(*args, **kwargs)
    finally:
        graph._site_override.reset(token)


# -- executing printed math with NumPy ----------------------------------------------------------------------------

def _softmax(z, axis=-1):
    return scipy.special.softmax(z, axis=axis)


def _sum_to(x, like):
    lead = x.ndim - np.ndim(like)
    kept = [lead + k for k, d in enumerate(np.shape(like)) if d == 1 and x.shape[lead + k] != 1]
    axes = tuple(range(lead)) + tuple(kept)
    return np.sum(x, axis=axes, keepdims=True).reshape(np.shape(like))


NUMPY_MEANINGS = {
    "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "sqrt": np.sqrt, "square": np.square,
    "tanh": np.tanh, "abs": np.abs,
    "sigmoid": scipy.special.expit, "relu": lambda x: np.maximum(x, 0), "softplus": lambda x: np.logaddexp(x, 0),
    "where": np.where, "maximum": np.maximum, "equal": np.equal, "sum": np.sum, "mean": np.mean,
    "size": np.size, "float32": np.float32, "float64": np.float64, "squeeze": np.squeeze,
    "broadcast_like": lambda x, like: np.broadcast_to(x, np.shape(like)), "sum_to": _sum_to,
    "broadcast_to": np.broadcast_to, "transpose": np.transpose, "reshape": np.reshape,
    "softmax": _softmax, "one_hot": lambda labels, depth: np.eye(depth, dtype=np.float32)[labels],
    "sparse_softmax_cross_entropy": lambda z, y: -np.take_along_axis(
        scipy.special.log_softmax(z, axis=-1), y[:, None], axis=-1)[:, 0],
    "targets_like": lambda targets, predictions: targets,
}


def run_math(printed: str, values: dict) -> dict:
    """Execute pprint's text: each ``let name = e`` and ``label = e`` line assigns, a last bare line is ``result``."""
    namespace = dict(NUMPY_MEANINGS, **values)
    lines = printed.split("\n")
    for line in lines:
        statement = line[len("let "):] if line.startswith("let ") else line
        if " = " in statement:
            exec(statement, namespace)  # noqa: S102 - the text under test
        else:
            namespace["result"] = eval(statement, namespace)  # noqa: S307
    return namespace


def feeds_by_name(feeds: dict) -> dict:
    return {node.name: value for node, value in feeds.items()}


# -- the textbook graphs ------------------------------------------------------------------------------------------

def textbook():
    """The lecture's f(x, y, z) = (x + y) z with q = x + y."""
    x = made_at(1, sg.placeholder, (), "float64", name="x")
    y = made_at(2, sg.placeholder, (), "float64", name="y")
    z = made_at(3, sg.placeholder, (), "float64", name="z")
    q = made_at(4, sg.add, x, y, name="q")
    f = made_at(5, sg.mul, q, z, name="f")
    return x, y, z, q, f


TEXTBOOK_FEEDS = {"x": -2.0, "y": 5.0, "z": -4.0}  # the lecture's values: f = -12, df/dx = df/dy = -4, df/dz = 3


def test_textbook_forward_graph_as_a_tree_and_as_math():
    x, y, z, q, f = textbook()
    assert sg.debugprint(f, file=io.StringIO()) == (
        "mul [id A] 'f' () float64 at model.py:5\n"
        " |add [id B] 'q' () float64 at model.py:4\n"
        " | |placeholder [id C] 'x' () float64 at model.py:1\n"
        " | |placeholder [id D] 'y' () float64 at model.py:2\n"
        " |placeholder [id E] 'z' () float64 at model.py:3\n")
    assert sg.pprint(f) == "(x + y) * z"
    assert run_math(sg.pprint(f), TEXTBOOK_FEEDS)["result"] == -12.0


def test_textbook_gradients_name_their_adjoints_and_the_rule_that_built_them():
    x, y, z, q, f = textbook()
    gradients = made_at(6, sg.grad, f, [x, y, z])
    assert gradients[0] is gradients[1]  # the add rule passes d f / d q on to x and y unchanged: one node
    assert sg.debugprint(gradients, file=io.StringIO()) == (
        "mul [id A] () float64 at model.py:6  grad: d f / d q through mul 'f' at model.py:5\n"
        " |constant{1.0} [id B] () float64 at model.py:6\n"
        " |placeholder [id C] 'z' () float64 at model.py:3\n"
        "mul [id A] (see above)\n"
        "mul [id D] () float64 at model.py:6  grad: d f / d z through mul 'f' at model.py:5\n"
        " |constant{1.0} [id B] (see above)\n"
        " |add [id E] 'q' () float64 at model.py:4\n"
        " | |placeholder [id F] 'x' () float64 at model.py:1\n"
        " | |placeholder [id G] 'y' () float64 at model.py:2\n")
    # the chain rule as the lecture writes it: df/dx = df/dq * dq/dx = z * 1, df/dz = q
    printed = sg.pprint(gradients)
    assert printed == ("d_x = 1.0 * z\n"
                       "out1 = d_x\n"
                       "let q = x + y\n"
                       "d_z = 1.0 * q")
    values = run_math(printed, TEXTBOOK_FEEDS)
    assert (values["d_x"], values["out1"], values["d_z"]) == (-4.0, -4.0, 3.0)
    optimized, report = made_at(7, sg.optimize, gradients)
    assert sg.pprint(optimized) == ("out0 = z\n"
                                    "out1 = z\n"
                                    "q = x + y")  # d f / d z is the forward node q itself now
    assert sg.pprint(gradients[2]) == "let q = x + y\n1.0 * q"  # one root: its expression, no label


def test_logistic_unit_and_its_gradient_read_as_sigma_times_one_minus_sigma():
    w = made_at(1, sg.placeholder, (), "float64", name="w")
    x = made_at(2, sg.placeholder, (), "float64", name="x")
    b = made_at(3, sg.placeholder, (), "float64", name="b")
    h = made_at(4, lambda: sg.sigmoid(w * x + b, name="h"))
    assert sg.pprint(h) == "sigmoid(w * x + b)"
    assert sg.debugprint(h, file=io.StringIO()) == (
        "sigmoid [id A] 'h' () float64 at model.py:4\n"
        " |add [id B] () float64 at model.py:4\n"
        " | |mul [id C] () float64 at model.py:4\n"
        " | | |placeholder [id D] 'w' () float64 at model.py:1\n"
        " | | |placeholder [id E] 'x' () float64 at model.py:2\n"
        " | |placeholder [id F] 'b' () float64 at model.py:3\n")
    gradients = made_at(5, sg.grad, h, [w, x, b])
    optimized, report = made_at(6, sg.optimize, gradients)
    view = report.before_after()
    assert view == ("before (13 nodes):\n"
                    "  let h = sigmoid(w * x + b)\n"
                    "  d_b = 1.0 * (h * (1.0 - h))\n"
                    "  d_w = d_b * x\n"
                    "  d_x = d_b * w\n"
                    "\n"
                    "after (11 nodes):\n"
                    "  let h = sigmoid(w * x + b)\n"
                    "  d_b = h * (1.0 - h)\n"
                    "  d_w = d_b * x\n"
                    "  d_x = d_b * w\n"
                    "\n"
                    "rewrites (2):\n"
                    "  [merge] merge: 1.0 -> 1.0  at model.py:5\n"
                    "  [simplify] mul_one: 1.0 * (h * (1.0 - h)) -> h * (1.0 - h)  at model.py:5")
    feeds = {"w": 0.7, "x": -1.5, "b": 0.2}
    after = run_math("\n".join(line[2:] for line in view.split("\n")[7:11]), feeds)
    s = scipy.special.expit(0.7 * -1.5 + 0.2)
    np.testing.assert_allclose([after["d_w"], after["d_x"], after["d_b"]], [s * (1 - s) * -1.5, s * (1 - s) * 0.7,
                                                                              s * (1 - s)], rtol=1e-12)
    expected = sg.evaluate(optimized, {w: 0.7, x: -1.5, b: 0.2})
    np.testing.assert_allclose([after["d_w"], after["d_x"], after["d_b"]], expected, rtol=1e-12)


def lecture_mlp():
    """The lecture notes' MLP, small: 4 inputs, 5 ReLU hidden units, 3 classes, mean softmax cross-entropy."""
    x = made_at(1, sg.placeholder, (None, 4), name="x")
    y = made_at(2, sg.placeholder, (None,), "int64", name="y")
    W1 = made_at(3, sg.variable, rng.standard_normal((4, 5)).astype(np.float32), name="W1")
    b1 = made_at(3, sg.variable, rng.standard_normal(5).astype(np.float32), name="b1")
    W2 = made_at(4, sg.variable, rng.standard_normal((5, 3)).astype(np.float32), name="W2")
    b2 = made_at(4, sg.variable, rng.standard_normal(3).astype(np.float32), name="b2")
    z1 = made_at(5, lambda: sg.add(x @ W1, b1, name="z1"))
    h1 = made_at(6, sg.relu, z1, name="h1")
    z2 = made_at(7, lambda: sg.add(h1 @ W2, b2, name="z2"))
    cost = made_at(8, sg.nn.softmax_cross_entropy, z2, y, name="cost")
    return x, y, [W1, b1, W2, b2], cost


MLP_GRADIENT = """\
let z1 = x @ W1 + b1
let h1 = relu(z1)
let z2 = h1 @ W2 + b2
let t1 = sparse_softmax_cross_entropy(z2, y)
let d_z2 = broadcast_like([1.0] / float32(size(t1)), t1)[:, None] * (softmax(z2) - one_hot(y, 3))
let d_z1 = where(z1 > 0.0, d_z2 @ W2.T, 0.0)
d_W1 = x.T @ d_z1
d_b1 = sum(d_z1, axis=0)
d_W2 = h1.T @ d_z2
d_b2 = sum(d_z2, axis=0)"""


def test_the_optimized_mlp_gradient_reads_as_the_backprop_equations():
    x, y, params, cost = lecture_mlp()
    gradients = made_at(9, sg.grad, cost, params)
    optimized, report = made_at(10, sg.optimize, gradients)
    assert sg.pprint(optimized) == MLP_GRADIENT
    # read against the lecture: delta2 = (softmax(z2) - onehot(y)) / N, dW2 = h1^T delta2, db2 = sum of delta2,
    # delta1 = (delta2 W2^T) * relu'(z1), dW1 = x^T delta1, db1 = sum of delta1; computed here by hand
    W1, b1, W2, b2 = (p.value for p in params)
    feeds = {x: rng.standard_normal((6, 4)).astype(np.float32), y: np.array([0, 2, 1, 1, 0, 2])}
    z1 = feeds[x] @ W1 + b1
    h1 = np.maximum(z1, 0)
    delta2 = (_softmax(h1 @ W2 + b2) - np.eye(3)[feeds[y]]) / 6
    delta1 = (delta2 @ W2.T) * (z1 > 0)
    by_hand = [feeds[x].T @ delta1, delta1.sum(axis=0), h1.T @ delta2, delta2.sum(axis=0)]
    printed = run_math(MLP_GRADIENT, dict(feeds_by_name(feeds), W1=W1, b1=b1, W2=W2, b2=b2))
    for label, expected, evaluated in zip(["d_W1", "d_b1", "d_W2", "d_b2"], by_hand, sg.evaluate(optimized, feeds)):
        np.testing.assert_allclose(printed[label], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(evaluated, expected, rtol=1e-5, atol=1e-6)


def test_the_unoptimized_mlp_gradient_reads_the_same_and_the_report_lists_the_two_rewrites():
    x, y, params, cost = lecture_mlp()
    gradients = made_at(9, sg.grad, cost, params)
    optimized, report = made_at(10, sg.optimize, gradients)
    assert sg.pprint(gradients) == MLP_GRADIENT  # expand_dims(1.0, 0) reads [1.0] before it is folded too
    view = report.before_after()
    assert view.endswith("rewrites (2):\n"
                         "  [merge] merge: 0.0 -> 0.0  at model.py:9\n"
                         "  [constant_fold] fold_constants: [1.0] -> [1.0]  at model.py:9")
    assert f"after ({report.nodes_after} nodes):\n  let z1 = x @ W1 + b1\n" in view


def test_debugprint_of_the_mlp_gradient_shows_provenance_and_prints_shared_nodes_once():
    x, y, params, cost = lecture_mlp()
    d_b2 = made_at(9, sg.grad, cost, params[3])
    assert sg.debugprint(d_b2, file=io.StringIO(), ids=False) == (
        "sum{axes=(0,), keepdims=False} (3,) float32 at model.py:9  grad: d cost / d b2 through add 'z2' at "
        "model.py:7\n"
        " |mul (None, 3) float32 at model.py:9  grad: d cost / d z2 through sparse_softmax_cross_entropy at "
        "model.py:8\n"
        " | |expand_dims{axes=(1,)} (None, 1) float32 at model.py:9  grad: d cost / d z2 through "
        "sparse_softmax_cross_entropy at model.py:8\n"
        " | | |broadcast_like (None,) float32 at model.py:9  grad: d cost / d sparse_softmax_cross_entropy through "
        "mean 'cost' at model.py:8\n"
        " | | | |div (1,) float32 at model.py:9  grad: d cost / d sparse_softmax_cross_entropy through mean 'cost' "
        "at model.py:8\n"
        " | | | | |expand_dims{axes=(0,)} (1,) float32 at model.py:9  grad: d cost / d sparse_softmax_cross_entropy "
        "through mean 'cost' at model.py:8\n"
        " | | | | | |constant{1.0} () float32 at model.py:9\n"
        " | | | | |cast{dtype=float32} () float32 at model.py:9  grad: d cost / d sparse_softmax_cross_entropy "
        "through mean 'cost' at model.py:8\n"
        " | | | | | |size{axes=None} () int64 at model.py:9  grad: d cost / d sparse_softmax_cross_entropy through "
        "mean 'cost' at model.py:8\n"
        " | | | | | | |sparse_softmax_cross_entropy [id A] (None,) float32 at model.py:8\n"
        " | | | | | | | |add [id B] 'z2' (None, 3) float32 at model.py:7\n"
        " | | | | | | | | |matmul (None, 3) float32 at model.py:7\n"
        " | | | | | | | | | |relu 'h1' (None, 5) float32 at model.py:6\n"
        " | | | | | | | | | | |add 'z1' (None, 5) float32 at model.py:5\n"
        " | | | | | | | | | | | |matmul (None, 5) float32 at model.py:5\n"
        " | | | | | | | | | | | | |placeholder 'x' (None, 4) float32 at model.py:1\n"
        " | | | | | | | | | | | | |variable 'W1' (4, 5) float32 at model.py:3\n"
        " | | | | | | | | | | | |variable 'b1' (5,) float32 at model.py:3\n"
        " | | | | | | | | | |variable 'W2' (5, 3) float32 at model.py:4\n"
        " | | | | | | | | |variable 'b2' (3,) float32 at model.py:4\n"
        " | | | | | | | |placeholder [id C] 'y' (None,) int64 at model.py:2\n"
        " | | | |sparse_softmax_cross_entropy [id A] (see above)\n"
        " | |sub (None, 3) float32 at model.py:9  grad: d cost / d z2 through sparse_softmax_cross_entropy at "
        "model.py:8\n"
        " | | |softmax{axis=1} (None, 3) float32 at model.py:9  grad: d cost / d z2 through "
        "sparse_softmax_cross_entropy at model.py:8\n"
        " | | | |add [id B] 'z2' (see above)\n"
        " | | |one_hot{depth=3, dtype=float32} (None, 3) float32 at model.py:9  grad: d cost / d z2 through "
        "sparse_softmax_cross_entropy at model.py:8\n"
        " | | | |placeholder [id C] 'y' (see above)\n")


def test_report_view_labels_the_optimized_roots_as_the_roots_they_came_from():
    x, y, z, q, f = textbook()
    gradients = made_at(6, sg.grad, f, [x, y, z])
    optimized, report = made_at(7, sg.optimize, gradients)
    assert report.before_after() == ("before (7 nodes):\n"
                                     "  d_x = 1.0 * z\n"
                                     "  out1 = d_x\n"
                                     "  let q = x + y\n"
                                     "  d_z = 1.0 * q\n"
                                     "\n"
                                     "after (4 nodes):\n"
                                     "  d_x = z\n"
                                     "  out1 = z\n"
                                     "  d_z = x + y\n"
                                     "\n"
                                     "rewrites (2):\n"
                                     "  [simplify] mul_one: 1.0 * z -> z  at model.py:6\n"
                                     "  [simplify] mul_one: 1.0 * q -> q  at model.py:6")
    assert report.before_after("debugprint") == (
        "before (7 nodes):\n"
        "  mul [id A] () float64 at model.py:6  grad: d f / d q through mul 'f' at model.py:5\n"
        "   |constant{1.0} [id B] () float64 at model.py:6\n"
        "   |placeholder [id C] 'z' () float64 at model.py:3\n"
        "  mul [id A] (see above)\n"
        "  mul [id D] () float64 at model.py:6  grad: d f / d z through mul 'f' at model.py:5\n"
        "   |constant{1.0} [id B] (see above)\n"
        "   |add [id E] 'q' () float64 at model.py:4\n"
        "   | |placeholder [id F] 'x' () float64 at model.py:1\n"
        "   | |placeholder [id G] 'y' () float64 at model.py:2\n"
        "\n"
        "after (4 nodes):\n"
        "  placeholder [id A] 'z' () float64 at model.py:3\n"
        "  placeholder [id A] 'z' (see above)\n"
        "  add [id B] 'q' () float64 at model.py:4\n"
        "   |placeholder [id C] 'x' () float64 at model.py:1\n"
        "   |placeholder [id D] 'y' () float64 at model.py:2\n"
        "\n"
        "rewrites (2):\n"
        "  [simplify] mul_one: 1.0 * z -> z  at model.py:6\n"
        "  [simplify] mul_one: 1.0 * q -> q  at model.py:6")
    # the pass names in brackets are the ones passes= takes: running just those passes repeats the rewrites
    named = {line.split("]")[0].strip(" [") for line in report.before_after().split("\n") if line.startswith("  [")}
    again, again_report = sg.optimize(gradients, passes=sorted(named))
    assert [r.rule for r in again_report.rewrites] == [r.rule for r in report.rewrites]


def test_report_view_of_a_stabilizing_rewrite_shows_the_new_form():
    logits = sg.placeholder((2, 3), "float64", name="logits")
    loss = sg.log(sg.nn.softmax(logits), name="loss")
    (stable,), report = sg.optimize([loss], passes=["stabilize"])
    assert report.before_after() == ("before (3 nodes):\n"
                                     "  log(softmax(logits))\n"
                                     "\n"
                                     "after (2 nodes):\n"
                                     "  log_softmax(logits)\n"
                                     "\n"
                                     "rewrites (1):\n"
                                     f"  [stabilize] log_of_softmax: log(softmax(logits)) -> log_softmax(logits)  at "
                                     f"{THIS_FILE}:{loss.site.lineno}")


def test_report_view_of_a_hand_made_rewrite_uses_its_descriptions_and_refuses_unknown_styles():
    x = sg.placeholder((3,), name="x")
    report = Report(passes=[], outputs_before=(x,), outputs_after=(x,), nodes_before=1, nodes_after=1)
    assert report.before_after() == "before (1 node):\n  x\n\nafter (1 node):\n  x\n\nrewrites (0):"
    report.passes.append(sg.passes.report.PassReport("simplify", 1, {}, [Rewrite("my_rule", "a", "b")]))
    assert report.before_after().endswith("rewrites (1):\n  [simplify] my_rule: a -> b")
    refused = rf"^Report.before_after: style must be 'pprint' or 'debugprint', got str 'tree'\n  at .*{THIS_FILE}:\d+$"
    with pytest.raises(ValueError, match=refused):
        report.before_after("tree")
    with pytest.raises(TypeError, match="got int 3"):
        report.before_after(3)


def test_passes_import_printing_only_inside_functions():
    """One-way dependencies: printing reads the passes' reports; no module of passes imports printing at import."""
    for path in pathlib.Path(sg.passes.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = [n.module or "" for n in top_level if isinstance(n, ast.ImportFrom)]
        names += [alias.name for n in top_level if isinstance(n, ast.Import) for alias in n.names]
        assert not [name for name in names if name.startswith("symgraph.printing")], path


# -- shared nodes, ids, files ---------------------------------------------------------------------------------------

def test_a_shared_node_is_printed_once_and_referred_to_afterwards():
    x = made_at(1, sg.placeholder, (3,), name="x")
    s = made_at(2, sg.exp, x)
    y = made_at(3, lambda: s * s + s)
    assert sg.debugprint(y, file=io.StringIO()) == (
        "add [id A] (3,) float32 at model.py:3\n"
        " |mul [id B] (3,) float32 at model.py:3\n"
        " | |exp [id C] (3,) float32 at model.py:2\n"
        " | | |placeholder [id D] 'x' (3,) float32 at model.py:1\n"
        " | |exp [id C] (see above)\n"
        " |exp [id C] (see above)\n")
    assert sg.debugprint(y, file=io.StringIO(), ids=False) == (
        "add (3,) float32 at model.py:3\n"
        " |mul (3,) float32 at model.py:3\n"
        " | |exp [id A] (3,) float32 at model.py:2\n"
        " | | |placeholder 'x' (3,) float32 at model.py:1\n"
        " | |exp [id A] (see above)\n"
        " |exp [id A] (see above)\n")
    assert sg.pprint(y) == "let t1 = exp(x)\nt1 * t1 + t1"
    named = sg.exp(x, name="s")
    assert sg.pprint([named * named, named + 1.0]) == "let s = exp(x)\nout0 = s * s\nout1 = s + 1.0"
    feeds = {"x": np.array([0.0, 1.0, -2.0], np.float32)}
    np.testing.assert_allclose(run_math(sg.pprint(y), feeds)["result"], y.eval({x: feeds["x"]}), rtol=1e-6)


def test_several_roots_each_get_a_line_and_a_root_used_by_another_is_defined_before_it():
    x = sg.placeholder((), name="x")
    h = sg.tanh(x, name="h")
    twice = sg.mul(h, 2.0)
    assert sg.pprint([twice, h, twice]) == "h = tanh(x)\nout0 = h * 2.0\nout2 = out0"
    assert sg.pprint([x, h]) == "out0 = x\nh = tanh(x)"
    assert sg.pprint([]) == ""
    assert sg.debugprint([], file=io.StringIO()) == ""


def test_debugprint_writes_to_file_and_to_standard_output_and_returns_what_it_wrote(capsys, tmp_path):
    x = sg.placeholder((2,), name="x")
    y = sg.neg(x, name="y")
    expected = (f"neg [id A] 'y' (2,) float32 at {THIS_FILE}:{y.site.lineno}\n"
                f" |placeholder [id B] 'x' (2,) float32 at {THIS_FILE}:{x.site.lineno}\n")
    stream = io.StringIO()
    assert sg.debugprint(y, file=stream) == expected
    assert stream.getvalue() == expected and capsys.readouterr().out == ""
    assert sg.debugprint([y]) == expected
    assert capsys.readouterr().out == expected
    path = tmp_path / "graph.txt"
    with open(path, "w") as handle:
        sg.debugprint(y, file=handle)
    assert path.read_text() == expected
    assert sg.pprint(y) == "-x" and capsys.readouterr().out == ""  # pprint returns its text and prints nothing


def test_ids_run_past_z():
    x = sg.placeholder((), name="x")
    node = x
    for _ in range(30):
        node = sg.exp(node)
    lines = sg.debugprint(node, file=io.StringIO()).split("\n")
    assert [line.split("[id ")[1].split("]")[0] for line in lines[24:31]] == ["Y", "Z", "AA", "AB", "AC", "AD", "AE"]
    assert text._tag(26 + 26 * 26) == "AAA"


def test_deep_graphs_print_without_recursion():
    x = sg.placeholder((), name="x")
    node = x
    for _ in range(3000):
        node = sg.sin(node)
    assert sg.pprint(node) == "sin(" * 3000 + "x" + ")" * 3000
    assert sg.debugprint(node, file=io.StringIO()).count("\n") == 3001


# -- every op prints --------------------------------------------------------------------------------------------------

def _op_modules():
    return [getattr(symgraph.ops, name) for name in ("collective", "conv", "custom", "elementwise", "gradient",
                                                     "indexing", "linalg", "nn", "random", "reduce", "shape",
                                                     "source", "arrays")
            + ("scan", "products", "norm")]  # reductions and products (issue 15)


def concrete_op_classes():
    """The op classes of symgraph.ops that nodes are made of: dataclasses with a name of their own."""
    found = {cls for module in _op_modules() for cls in vars(module).values()
             if isinstance(cls, type) and issubclass(cls, Op) and dataclasses.is_dataclass(cls)
             and "name" in cls.__dict__}
    modules = {m.__name__ for m in _op_modules()}
    import pkgutil
    assert {f"symgraph.ops.{m.name}" for m in pkgutil.iter_modules(symgraph.ops.__path__)} - {"symgraph.ops.base"} \
        == modules, "a new module in symgraph.ops: add it to _op_modules"
    return found


def _op_cases():
    """(node, pprint of it) for every op class, with its attributes' printed forms."""
    from symgraph.ops import arrays, conv, indexing, nn, random, shape
    from symgraph.ops.reduce import size
    from symgraph.ops import scan  # reductions and products (issue 15)

    a, b = sg.placeholder((3, 4), "float64", name="a"), sg.placeholder((3, 4), "float64", name="b")
    v, m = sg.placeholder((4,), "float64", name="v"), sg.placeholder((4, 2), "float64", name="m")
    p = sg.placeholder((None, 4), "float64", name="p")
    g = sg.placeholder((2, 4), "float64", name="g")
    mask = sg.placeholder((3, 4), "bool", name="mask")
    labels = sg.placeholder((3,), "int64", name="labels")
    images = sg.placeholder((2, 3, 6, 6), name="images")
    filters = sg.placeholder((4, 3, 3, 3), name="filters")
    out = sg.placeholder((2, 4, 4, 4), name="out")
    pooled = sg.placeholder((2, 3, 3, 3), name="pooled")
    stream = random.RandomStream(seed=0, name="noise")
    swish = sg.custom_op(lambda x, beta: x / (1 + np.exp(-beta * x)), name="swish", elementwise=True)
    half = sg.placeholder((3, 4), "float64", name="half")
    halves = sg.op_from_graph([half], [half * 0.5, half * 2.0], name="halves")
    return [
        (-a, "-a"), (sg.abs(a), "abs(a)"), (sg.sign(a), "sign(a)"), (sg.exp(a), "exp(a)"), (sg.log(a), "log(a)"),
        (sg.log1p(a), "log1p(a)"), (sg.expm1(a), "expm1(a)"), (sg.sqrt(a), "sqrt(a)"), (sg.square(a), "square(a)"),
        (sg.reciprocal(a), "reciprocal(a)"), (sg.sin(a), "sin(a)"), (sg.cos(a), "cos(a)"), (sg.tanh(a), "tanh(a)"),
        (sg.sigmoid(a), "sigmoid(a)"), (sg.relu(a), "relu(a)"), (sg.softplus(a), "softplus(a)"),
        (sg.floor(a), "floor(a)"), (sg.ceil(a), "ceil(a)"), (sg.stop_gradient(a), "stop_gradient(a)"),
        (a + b, "a + b"), (a - b, "a - b"), (a * b, "a * b"), (a / b, "a / b"), (a ** b, "a ** b"),
        (sg.maximum(a, b), "maximum(a, b)"), (sg.minimum(a, 0.0), "minimum(a, 0.0)"), (a < b, "a < b"),
        (a <= b, "a <= b"), (a > b, "a > b"), (a >= 1.5, "a >= 1.5"), (sg.equal(a, b), "equal(a, b)"),
        (sg.not_equal(a, 0.0), "not_equal(a, 0.0)"), (sg.where(mask, a, b), "where(mask, a, b)"),
        (sg.cast(a, "int32"), "int32(a)"),
        (sg.sum(a), "sum(a)"), (sg.sum(a, axis=1), "sum(a, axis=1)"),
        (sg.mean(a, axis=(0, 1), keepdims=True), "mean(a, axis=(0, 1), keepdims=True)"),
        (sg.max(a, axis=0), "max(a, axis=0)"), (sg.min(a), "min(a)"), (sg.prod(a, axis=-1), "prod(a, axis=1)"),
        (sg.argmax(a, axis=1), "argmax(a, axis=1)"), (sg.argmin(a, keepdims=True), "argmin(a, keepdims=True)"),
        (size(p, axis=0), "size(p, axis=0)"), (size(a), "size(a)"),
        (a @ m, "a @ m"), (a.T, "a.T"), (sg.transpose(images, (0, 2, 3, 1)), "transpose(images, (0, 2, 3, 1))"),
        (sg.reshape(a, (2, -1)), "reshape(a, (2, -1))"), (sg.expand_dims(a, 1), "a[:, None]"),
        (sg.expand_dims(v, (0, 2)), "v[None, :, None]"), (sg.squeeze(sg.expand_dims(a, 1), 1),
                                                          "squeeze(a[:, None], axis=1)"),
        (sg.broadcast_to(v, (3, 4)), "broadcast_to(v, (3, 4))"), (shape.broadcast_like(v, p), "broadcast_like(v, p)"),
        (apply(shape.ReshapeLike(), sg.reshape(p, (-1,)), p), "reshape_like(reshape(p, (-1,)), p)"),
        (shape.sum_to(a, v), "sum_to(a, v)"),
        (a[1:3, ::2], "a[1:3, ::2]"), (a[labels, 0], "a[labels, 0]"), (a[..., None], "a[:, :, None]"),
        (a[-1], "a[-1]"), (a[:, 3:0:-1], "a[:, 3:0:-1]"),
        (apply(indexing.IndexGrad((("slice", 1, 3, None),)), a, g), "zeros_like(a).at[1:3].add(g)"),
        (sg.one_hot(labels, 5), "one_hot(labels, 5)"), (sg.one_hot(labels, 5, "float64"),
                                                      "one_hot(labels, 5, dtype=float64)"),
        (sg.concatenate([a, b], axis=1), "concatenate([a, b], axis=1)"), (sg.stack([a, b]), "stack([a, b])"),
        (apply(indexing.ConcatenatePart(0, 1), p, p, p), "concatenate_part(p, [p, p], axis=0, part=1)"),
        (indexing.zeros_like(a), "zeros_like(a)"), (indexing.zeros_like(a, "int64"), "zeros_like(a, dtype=int64)"),
        (nn.softmax(a), "softmax(a)"), (nn.softmax(a, axis=0), "softmax(a, axis=0)"),
        (nn.log_softmax(a), "log_softmax(a)"), (nn.logsumexp(a, axis=1), "logsumexp(a, axis=1)"),
        (nn.softmax_cross_entropy(a, labels, reduction="none"), "sparse_softmax_cross_entropy(a, labels)"),
        (nn.softmax_cross_entropy(a, b, reduction="none"), "softmax_cross_entropy(a, b)"),
        (apply(nn.TargetsLike("mse", "predictions"), p, p), "targets_like(p, p)"),
        (apply(nn.ValuesPerChannel((0, 2, 3)), images), "values_per_channel(images, axis=(0, 2, 3))"),
        (stream.uniform(a), "random_uniform(noise.state, a, salt=0)"),
        (stream.uniform(a, "float32"), "random_uniform(noise.state, a, salt=1, dtype=float32)"),
        (conv.conv2d(images, filters), "conv2d(images, filters)"),
        (conv.conv2d(images, filters, stride=2, padding="same"), "conv2d(images, filters, stride=2, padding='same')"),
        (conv.conv2d(images, filters, padding=(1, 2), dilation=(1, 2)),
         "conv2d(images, filters, padding=(1, 2), dilation=(1, 2))"),
        (conv.conv2d(images, filters, padding=((1, 0), (0, 2))), "conv2d(images, filters, padding=((1, 0), (0, 2)))"),
        (conv.conv2d_backprop_input(out, filters, images), "conv2d_backprop_input(out, filters, images)"),
        (conv.conv2d_backprop_filter(images, out, filters), "conv2d_backprop_filter(images, out, filters)"),
        (conv.max_pool2d(images, 2), "max_pool2d(images, 2)"),
        (conv.avg_pool2d(images, 3, stride=2, padding=1), "avg_pool2d(images, 3, stride=2, padding=1)"),
        (conv.max_pool2d_grad(images, pooled, 2), "max_pool2d_grad(images, pooled, 2)"),
        (conv.max_pool2d_gather(images, images, (2, 3), stride=(2, 1)),
         "max_pool2d_gather(images, images, (2, 3), stride=(2, 1))"),
        (conv.avg_pool2d_grad(pooled, images, 2), "avg_pool2d_grad(pooled, images, 2)"),
        (sg.tan(a), "tan(a)"), (sg.sinh(a), "sinh(a)"), (sg.cosh(a), "cosh(a)"), (sg.arcsin(a), "arcsin(a)"),
        (sg.arccos(a), "arccos(a)"), (sg.arctan(a), "arctan(a)"), (sg.arcsinh(a), "arcsinh(a)"),
        (sg.arccosh(a), "arccosh(a)"), (sg.arctanh(a), "arctanh(a)"), (sg.exp2(a), "exp2(a)"),
        (sg.log2(a), "log2(a)"), (sg.log10(a), "log10(a)"), (sg.cbrt(a), "cbrt(a)"), (sg.rsqrt(a), "rsqrt(a)"),
        (sg.logit(a), "logit(a)"), (sg.erf(a), "erf(a)"), (sg.erfc(a), "erfc(a)"), (sg.isnan(a), "isnan(a)"),
        (sg.isinf(a), "isinf(a)"), (sg.isfinite(a), "isfinite(a)"), (sg.arctan2(a, b), "arctan2(a, b)"),
        (sg.hypot(a, b), "hypot(a, b)"), (sg.logaddexp(a, b), "logaddexp(a, b)"), (sg.mod(a, b), "mod(a, b)"),
        (sg.fmod(a, b), "fmod(a, b)"), (sg.clip(a, -1.0, 1.0), "clip(a, -1.0, 1.0)"),
        (swish(a, beta=1.5), "swish(a, beta=1.5)"), (halves(a)[1], "halves(a)[1]"),
        (sg.clip_gradient(a, -1.0, 1.0), "clip_gradient(a, -1.0, 1.0)"),
        (sg.scale_gradient(a, 0.5), "scale_gradient(a, 0.5)"),
        # shape, indexing and creation (issue 15)
        (sg.full_like(a, 2.5), "full_like(a, 2.5)"), (sg.ones_like(a, "int32"), "full_like(a, 1, dtype=int32)"),
        (arrays.full_like_shape(p, 0.0, "float64", (None, 2)), "full_like(p, 0.0, shape=(None, 2))"),
        (apply(arrays.ArangeLike(0), p), "arange_like(p, axis=0)"), (sg.diagonal(a), "diagonal(a)"),
        (sg.diagonal(images, -1, 3, 1), "diagonal(images, offset=-1, axis1=3, axis2=1)"),
        (apply(arrays.DiagonalGrad(1, 0, 1), a, sg.placeholder((3,), "float64", name="d")),
         "diagonal_grad(a, d, offset=1)"),
        (sg.reshape(sg.placeholder((None, None, 2), name="z"), (None, -1)), "reshape(z, (z.shape[0], -1))"),
        (sg.repeat(sg.placeholder((None, None), name="w"), 2, 1),
         "reshape(broadcast_to(w[:, :, None], (None, None, 2)), (None, None), kept=((0,), (1, 2)))"),
        (sg.broadcast_to(p, (2, None, 4)), "broadcast_to(p, (2, p.shape[0], 4))"),
        # reductions and products (issue 15)
        (sg.all(mask, axis=1), "all(mask, axis=1)"), (sg.any(a, keepdims=True), "any(a, keepdims=True)"),
        (sg.cumsum(a, axis=1), "cumsum(a, axis=1)"), (sg.cumprod(v), "cumprod(v, axis=0)"),
        (sg.cumsum(a), "cumsum(reshape(a, (-1,)), axis=0)"),
        (apply(scan.Cumsum(0, True), a), "cumsum(a, axis=0, reverse=True)"),
        (scan.linear_recurrence(a, b, 1, reverse=True), "linear_recurrence(a, b, axis=1, reverse=True)"),
    ] + ([] if MPI is None else [(symgraph.ops.collective.allreduce(a, MPI.COMM_WORLD), "allreduce(a)")])


def test_every_op_has_a_printing_rule():
    missing = sorted(cls.__name__ for cls in concrete_op_classes() if cls not in text.RULES)
    assert not missing, f"op classes without a pprint rule in symgraph/printing/text.py RULES: {missing}"


def test_every_op_prints_as_its_snapshot_says():
    cases = _op_cases()
    covered = {type(node.op) for node, _ in cases}
    if MPI is None:
        covered.add(symgraph.ops.collective.AllReduce)  # needs a communicator: the mpi extra (MPI_MISSING)
    untested = sorted(cls.__name__ for cls in concrete_op_classes() - covered)
    assert not untested, f"op classes without a case in _op_cases: {untested}"
    wrong = [(expected, sg.pprint(node)) for node, expected in cases if sg.pprint(node) != expected]
    assert not wrong
    for node, _ in cases:  # and debugprint names each with its attributes
        assert sg.debugprint(node, file=io.StringIO()).startswith(text.op_text(node.op) + " [id A]")


def test_op_attributes_in_debugprint():
    a = sg.placeholder((3, 4), name="a")
    i = sg.placeholder((2,), "int64", name="i")
    assert text.op_text(sg.sum(a, axis=1).op) == "sum{axes=(1,), keepdims=False}"
    assert text.op_text(sg.cast(a, "int64").op) == "cast{dtype=int64}"
    assert text.op_text(a[i, 1:3].op) == "index{[input1, 1:3]}"
    assert text.op_text(sg.broadcast_to(a[0], (2, 4)).op) == "broadcast_to{shape=(2, 4)}"
    assert text.op_text(sg.nn.conv2d(sg.placeholder((1, 1, 4, 4)), sg.placeholder((1, 1, 2, 2)), padding="same").op) \
        == "conv2d{stride=(1, 1), padding='same', dilation=(1, 1)}"
    index_grad = [n for n in sg.toposort([sg.grad(sg.sum(a[1, i]), a)]) if n.op.name == "index_grad"][0]
    assert text.op_text(index_grad.op) == "index_grad{[1, input2]}"


@dataclasses.dataclass(frozen=True)
class Scale(Op):
    """A user's own op, for which pprint has no rule."""

    factor: float
    name: ClassVar[str] = "scale"

    def infer(self, x):
        return x.shape, x.dtype

    def compute(self, x):
        return x * self.factor


def test_an_op_without_a_rule_prints_as_name_attributes_and_inputs():
    x = sg.placeholder((2,), name="x")
    y = apply(Scale(2.5), x + 1.0)
    assert sg.pprint(y) == "scale{factor=2.5}(x + 1.0)"
    assert sg.pprint(sg.exp(y) * y) == "let t1 = scale{factor=2.5}(x + 1.0)\nexp(t1) * t1"
    assert sg.debugprint(y, file=io.StringIO()).startswith("scale{factor=2.5} [id A] (2,) float32 at ")


# -- precedence, constants, names, broadcasts -----------------------------------------------------------------------

def _scalars():
    return [sg.placeholder((), "float64", name=n) for n in "abc"]


def _precedence_cases():
    a, b, c = _scalars()
    return [
        ((a + b) * c, "(a + b) * c"), (a + b * c, "a + b * c"), (a - (b - c), "a - (b - c)"),
        ((a - b) + c, "a - b + c"), (a - (b + c), "a - (b + c)"), (a / (b * c), "a / (b * c)"),
        ((a / b) * c, "(a / b) * c"), ((a * b) / c, "a * b / c"), (a / b / c, "a / b / c"),
        (a / (b / c), "a / (b / c)"), (a * b * c, "a * b * c"), (a * (b * c), "a * (b * c)"),
        (-(a + b), "-(a + b)"), (-(-a), "-(-a)"), ((-a) ** 2.0, "(-a) ** 2.0"), (-(a ** 2.0), "-a ** 2.0"),
        (a ** (b ** c), "a ** b ** c"), ((a ** b) ** c, "(a ** b) ** c"), (a ** -b, "a ** -b"),
        (a * -1.0, "a * -1.0"), (sg.constant(-2.0, "float64") ** a, "(-2.0) ** a"), (a - -b, "a - -b"),
        (sg.less(a, b) * c, "(a < b) * c"), (sg.less(sg.less(a, b), c), "(a < b) < c"), ((a + b).T, "(a + b).T"),
        (sg.exp(a + b) * -c, "exp(a + b) * -c"), (sg.where(a > b, a - b, -b), "where(a > b, a - b, -b)"),
        (sg.expand_dims(a * b, 0), "(a * b)[None]"), (sg.expand_dims(-a, 0), "(-a)[None]"),
    ]


@pytest.mark.parametrize("case", range(len(_precedence_cases())))
def test_parentheses_only_where_python_needs_them_or_where_a_reader_would_guess_wrong(case):
    node, expected = _precedence_cases()[case]
    printed = sg.pprint(node)
    assert printed == expected
    values = {"a": np.float64(2.0), "b": np.float64(3.0), "c": np.float64(0.5)}
    feeds = {n: values[n.name] for n in sg.toposort([node]) if n.op.name == "placeholder"}
    np.testing.assert_array_equal(run_math(printed, values)["result"], node.eval(feeds))


def test_a_number_with_new_axes_is_written_as_the_array_and_before_dot_t_in_parentheses():
    assert sg.pprint(sg.expand_dims(sg.constant(2.5), (0, 1))) == "[[2.5]]"
    assert sg.pprint(sg.expand_dims(sg.constant(np.arange(12.0)), 0)) == "const((1, 12))"
    assert sg.pprint(sg.transpose(sg.constant(2))) == "(2).T"  # 2.T would not parse


def test_constants_print_as_numbers_small_arrays_and_shapes():
    x = sg.placeholder((3, 4), name="x")
    cases = [
        (x + 0.5, "x + 0.5"), (x * np.float32(0.1), "x * 0.1"), (x + np.nan, "x + nan"),
        (x * -np.inf, "x * -inf"), (sg.where(sg.constant(True), x, 0.0), "where(True, x, 0.0)"),
        (x + np.arange(4, dtype=np.float32), "x + [0.0, 1.0, 2.0, 3.0]"),
        (sg.cast(x, "int64") + np.array([[1], [2], [3]]), "int64(x) + [[1], [2], [3]]"),
        (x + np.zeros((3, 4), np.float32), "x + full((3, 4), 0.0)"),
        (x + np.full((3, 4), np.nan, np.float32), "x + full((3, 4), nan)"),
        (x + np.arange(12, dtype=np.float32).reshape(3, 4), "x + const((3, 4))"),
        (sg.concatenate([x, np.zeros((0, 4), np.float32)]), "concatenate([x, const((0, 4))])"),
        (x @ sg.constant(np.eye(4, dtype=np.float32), name="I"), "x @ I"),
    ]
    assert [sg.pprint(node) for node, _ in cases] == [expected for _, expected in cases]
    heads = [sg.debugprint(c, file=io.StringIO()).split(" [id")[0]
             for c in (sg.constant(1.5), sg.constant([1, 2]), sg.constant(np.ones((3, 4))), sg.constant(np.eye(3)))]
    assert heads == ["constant{1.5}", "constant{[1, 2]}", "constant{full((3, 4), 1.0)}", "constant"]


def test_names_are_scoped_with_dots_made_unique_and_generated_around_the_users():
    x = sg.placeholder((None, 4), name="x")
    assert sg.pprint(sg.layers.dense(x, 3, name="fc1")) == "x @ fc1.W + fc1.b"
    other = sg.placeholder((None, 4), name="x")
    assert sg.pprint(x + other) == "x + x_2"
    assert sg.pprint(sg.placeholder((2,)) * sg.variable(np.ones(2, np.float32))) == "placeholder_1 * variable_1"
    assert sg.pprint(sg.placeholder((), name="my input") * 2.0) == "'my input' * 2.0"
    t1 = sg.placeholder((), name="t1")
    shared = sg.exp(t1)
    assert sg.pprint(shared * shared) == "let t2 = exp(t1)\nt2 * t2"
    h, h_again = sg.exp(x, name="h"), sg.log(x, name="h")
    assert sg.pprint(h * h + h_again * h_again) == "let h = exp(x)\nlet h_2 = log(x)\nh * h + h_2 * h_2"
    assert sg.pprint([sg.exp(x), sg.log(x, name="out0")]) == "out0_2 = exp(x)\nout0 = log(x)"


def test_broadcasts_that_elementwise_broadcasting_does_anyway_are_left_out():
    x, y = sg.placeholder((3,), "float64", name="x"), sg.placeholder((2, 3), "float64", name="y")
    column = sg.placeholder((2,), "float64", name="c")
    mask = sg.placeholder((3,), "bool", name="mask")
    spread = sg.broadcast_to(x, (2, 3))
    cases = [
        (spread * y, "x * y"), (sg.expand_dims(x, 0) * y, "x * y"), (spread + 1.0, "broadcast_to(x, (2, 3)) + 1.0"),
        (sg.expand_dims(column, 1) * y, "c[:, None] * y"),
        (sg.where(sg.broadcast_to(mask, (2, 3)), y, 0.0), "where(mask, y, 0.0)"),
        (spread * y + spread, "let t1 = broadcast_to(x, (2, 3))\nt1 * y + t1"),  # named once, so written as it is
        (sg.exp(spread), "exp(broadcast_to(x, (2, 3)))"),
        (sg.grad(sg.sum(x * y), x), "sum(1.0 * y, axis=0)"),  # sum's rule broadcast 1.0 to (2, 3)
    ]
    assert [sg.pprint(node) for node, _ in cases] == [expected for _, expected in cases]
    values = {"x": np.array([1.0, -2.0, 0.5]), "y": np.arange(6.0).reshape(2, 3), "c": np.array([2.0, 3.0]),
              "mask": np.array([True, False, True])}
    for node, expected in cases:
        feeds = {n: values[n.name] for n in sg.toposort([node]) if n.op.name == "placeholder"}
        np.testing.assert_array_equal(run_math(expected, values)["result"], node.eval(feeds))


def test_a_whole_adjoint_used_twice_is_named_after_its_wrt_and_contributions_are_not():
    x = sg.placeholder((3,), "float64", name="x")
    u = sg.mul(x, x, name="u")
    cost = sg.sum(sg.sin(u) * sg.exp(u), name="cost")
    dx = sg.grad(cost, x)
    printed = sg.pprint(dx)
    assert printed == ("let t1 = broadcast_to([1.0], (3,))\n"
                       "let u = x * x\n"
                       "let t2 = exp(u)\n"
                       "let d_u = t1 * sin(u) * t2 + t1 * t2 * cos(u)\n"
                       "d_u * x + d_u * x")  # d cost / d u, the sum of its two contributions, goes to both x's
    values = {"x": np.array([0.3, -1.2, 2.0])}
    u_value = values["x"] ** 2
    by_hand = (np.cos(u_value) * np.exp(u_value) + np.sin(u_value) * np.exp(u_value)) * 2 * values["x"]
    np.testing.assert_allclose(run_math(printed, values)["result"], by_hand, rtol=1e-12)


# -- errors ---------------------------------------------------------------------------------------------------------

def test_what_is_not_a_node_or_a_list_of_nodes_is_refused_naming_the_function_and_the_line():
    x = sg.placeholder((), name="x")
    line = f"\n  at .*{THIS_FILE}:\\d+$"
    with pytest.raises(TypeError, match=f"^sg.pprint takes a node or a list of nodes, got int 3{line}"):
        sg.pprint(3)
    with pytest.raises(TypeError, match="^sg.pprint takes a node or a list of nodes, but item 1 is NoneType None"):
        sg.pprint([x, None])
    with pytest.raises(TypeError, match=f"^sg.debugprint takes a node or a list of nodes, got str 'x'{line}"):
        sg.debugprint("x")
    with pytest.raises(TypeError, match=f"^sg.debugprint: ids must be True or False, got str 'yes'{line}"):
        sg.debugprint(x, ids="yes")
    with pytest.raises(TypeError, match="^sg.debugprint: file must be a writable text stream .* got int 42"):
        sg.debugprint(x, file=42)
