"""sg.optimize: each rule's structure and values, stabilization of hand-written losses and their gradients,
merging of gradient graphs, the report, check mode and idempotence."""

import numpy as np
import pytest
import scipy.special

import symgraph as sg
from symgraph.graph import toposort
from symgraph.ops.conv import max_pool2d_grad
from symgraph.passes import RewriteCheckError
from symgraph.passes.report import op_histogram

rng = np.random.default_rng(0)
X = sg.placeholder((3, 4), "float64", name="x")
Y = sg.placeholder((3, 4), "float64", name="y")
POSITIVE = rng.uniform(0.5, 2.0, (3, 4))
FEEDS = {X: rng.standard_normal((3, 4)), Y: rng.standard_normal((3, 4))}


def describe(outputs):
    return "\n".join(f"  {n.op}({', '.join(i.op.name for i in n.inputs)})" for n in toposort(list(outputs)))


# (rule that must fire, graph builder, ops that must be gone afterwards, ops that must be present afterwards)
RULE_CASES = [
    ("add_zero", lambda: X + (-0.0), {"add"}, set()),
    ("add_zero", lambda: sg.cast(X, "int64") + 0, {"add"}, set()),
    ("sub_zero", lambda: X - 0.0, {"sub"}, set()),
    ("sub_self", lambda: X - X, {"sub"}, set()),
    ("mul_one", lambda: 1.0 * X, {"mul"}, set()),
    ("mul_zero", lambda: sg.sigmoid(X) * 0.0, {"mul"}, set()),
    ("mul_zero", lambda: sg.cast(X, "int64") * 0, {"mul"}, set()),
    ("div_one", lambda: X / 1.0, {"div"}, set()),
    ("neg_neg", lambda: -(-X), {"neg"}, set()),
    ("power_special_cases", lambda: X ** 2, {"pow"}, {"square"}),
    ("power_special_cases", lambda: sg.exp(X) ** 0.5, {"pow"}, {"sqrt"}),
    ("power_special_cases", lambda: X ** -1, {"pow"}, {"reciprocal"}),
    ("power_special_cases", lambda: X ** 1, {"pow"}, set()),
    ("transpose_transpose", lambda: sg.transpose(sg.transpose(X)), {"transpose"}, set()),
    ("reshape_reshape", lambda: sg.reshape(sg.reshape(X, (12,)), (4, 3)), set(), {"reshape"}),
    ("reshape_identity", lambda: sg.reshape(X, (3, 4)), {"reshape"}, set()),
    ("exp_log", lambda: sg.exp(sg.log(sg.sigmoid(X))), {"log", "exp"}, {"sigmoid"}),
    ("log_exp", lambda: sg.log(sg.exp(X)), {"log", "exp"}, set()),
    ("sum_of_broadcast", lambda: sg.sum(sg.broadcast_to(X[0], (3, 4))), {"broadcast_to"}, {"sum"}),
    ("mul_reciprocal", lambda: X * sg.reciprocal(Y), {"reciprocal", "mul"}, {"div"}),
    ("add_neg", lambda: X + (-Y), {"add", "neg"}, {"sub"}),
    ("sub_neg", lambda: X - (-Y), {"sub", "neg"}, {"add"}),
    ("where_same_branches", lambda: sg.where(X > 0, Y, Y), {"where"}, set()),
    ("squeeze_expand_dims", lambda: sg.squeeze(sg.expand_dims(X, 1), 1), {"squeeze", "expand_dims"}, set()),
    ("cast_round_trip", lambda: sg.cast(sg.cast(sg.cast(X, "float32"), "float64"), "float32"), set(), {"cast"}),
    ("log_of_softmax", lambda: sg.log(sg.nn.softmax(X)), {"log", "softmax"}, {"log_softmax"}),
    ("softmax_by_hand", lambda: sg.exp(X) / sg.sum(sg.exp(X), axis=1, keepdims=True), {"div"}, {"softmax"}),
    ("log_sigmoid", lambda: sg.log(sg.sigmoid(X)), {"log", "sigmoid"}, {"softplus"}),
    ("log_one_minus_sigmoid", lambda: sg.log(1 - sg.sigmoid(X)), {"log", "sigmoid"}, {"softplus"}),
    ("log_one_plus", lambda: sg.log(1 + sg.square(X)), {"log"}, {"log1p"}),
    ("exp_minus_one", lambda: sg.exp(X) - 1, {"exp", "sub"}, {"expm1"}),
    ("log_sum_exp", lambda: sg.log(sg.sum(sg.exp(X), axis=1)), {"log", "exp"}, {"logsumexp"}),
    ("log1p_of_exp", lambda: sg.log1p(sg.exp(X)), {"log1p", "exp"}, {"softplus"}),
    ("sigmoid_by_hand", lambda: 1 / (1 + sg.exp(-X)), {"div", "exp"}, {"sigmoid"}),
    ("cross_entropy_by_hand", lambda: -sg.sum(sg.one_hot(sg.argmax(Y, 1), 4, "float64") * sg.nn.log_softmax(X)),
     {"log_softmax", "mul"}, {"sparse_softmax_cross_entropy"}),
    ("fold_constants", lambda: X + sg.constant(2.0, "float64") * sg.constant(3.0, "float64"), set(), {"add"}),
    ("merge", lambda: sg.sin(X) + sg.sin(X), set(), {"sin"}),
]


@pytest.mark.parametrize("rule,build,gone,present", RULE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(RULE_CASES)])
def test_rule_fires_and_preserves_values(rule, build, gone, present):
    before = build()
    after, report = sg.optimize(before)
    histogram = op_histogram([after])
    context = f"\nbefore:\n{describe([before])}\nafter:\n{describe([after])}\n{report}"
    assert rule in report.rule_counts, f"{rule} did not fire{context}"
    assert not (gone & set(histogram)), f"still has {gone & set(histogram)}{context}"
    assert present <= set(histogram), f"missing {present - set(histogram)}{context}"
    assert after.shape == before.shape and after.dtype == before.dtype
    np.testing.assert_allclose(sg.evaluate(after, FEEDS), sg.evaluate(before, FEEDS), rtol=1e-6, atol=1e-12,
                               err_msg=context)


def test_a_constant_broadcast_beside_an_operand_of_the_full_shape_is_the_constant():
    """Too large to fold, broadcast_to(c, x.shape) in x's arithmetic is c; a sum's gradient (its seed broadcast to
    x's shape, times exp(x)) then loses its multiplication by 1 as well."""
    big = sg.placeholder((300, 400), "float64", name="big")
    value = np.random.default_rng(0).standard_normal((300, 400))
    for build, gone in ((lambda: sg.broadcast_to(sg.constant(2.0, "float64"), big.shape) - sg.sin(big),
                         {"broadcast_to"}),
                        (lambda: sg.grad(sg.sum(sg.exp(big)), big), {"broadcast_to", "mul"})):
        before = build()
        after, report = sg.optimize(before)
        assert report.rule_counts["arithmetic_of_broadcast_constant"] == 1, report
        assert not gone & set(op_histogram([after])), describe([after])
        np.testing.assert_array_equal(after.eval({big: value}), before.eval({big: value}))


def test_rules_leave_shape_changing_identities_alone():
    column = sg.placeholder((3, 1), "float64", name="column")
    y = column + np.zeros((1, 4))  # broadcasts: not the same as `column`
    after, _ = sg.optimize(y)
    assert after.shape == (3, 4)
    np.testing.assert_array_equal(after.eval({column: np.ones((3, 1))}), np.ones((3, 4)))
    row = sg.placeholder((4,), "float64", name="row")
    z = sg.broadcast_to(sg.constant(1.0, "float64"), (3, 4)) * row  # the broadcast sets the shape: it stays
    after, _ = sg.optimize(z)
    assert after.shape == (3, 4)
    np.testing.assert_array_equal(after.eval({row: np.arange(4.0)}), np.tile(np.arange(4.0), (3, 1)))


def test_exp_log_is_not_applied_where_x_may_be_negative():
    after, report = sg.optimize(sg.exp(sg.log(X)))
    assert "exp_log" not in report.rule_counts
    assert np.isnan(after.eval(FEEDS)[FEEDS[X] < 0]).all()


def test_constant_folding_respects_the_size_cap():
    big = sg.broadcast_to(sg.constant(1.0), (512, 512))
    small = sg.broadcast_to(sg.constant(1.0), (4, 4))
    (big_after, small_after), _ = sg.optimize([big, small])
    assert big_after.op.name == "broadcast_to"
    assert small_after.op.name == "constant" and small_after.shape == (4, 4)


def _hand_written_cross_entropy(use_softmax_op):
    logits = sg.placeholder((4, 3), "float64", name="logits")
    onehot = np.eye(3)[[0, 2, 1, 1]]
    if use_softmax_op:
        p = sg.nn.softmax(logits, axis=1)
    else:
        p = sg.exp(logits) / sg.sum(sg.exp(logits), axis=1, keepdims=True)
    loss = -sg.sum(onehot * sg.log(p))
    return logits, onehot, loss


@pytest.mark.parametrize("use_softmax_op", [False, True])
def test_hand_written_cross_entropy_and_its_gradient_become_finite(use_softmax_op):
    logits, onehot, loss = _hand_written_cross_entropy(use_softmax_op)
    gradient = sg.grad(loss, logits)  # built before any optimization
    huge = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 1e4, -1e4], [1.0, 2.0, 3.0]])
    before = sg.evaluate([loss, gradient], {logits: huge})
    assert not np.isfinite(before[0]) or not np.isfinite(before[1]).all()
    (loss_after, gradient_after), report = sg.optimize([loss, gradient])
    value, grad_value = sg.evaluate([loss_after, gradient_after], {logits: huge})
    assert np.isfinite(value) and np.isfinite(grad_value).all(), report
    shifted = huge - huge.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    np.testing.assert_allclose(value, -(onehot * log_p).sum(), rtol=1e-12)
    np.testing.assert_allclose(grad_value, np.exp(log_p) - onehot, atol=1e-12)
    ordinary = {logits: rng.standard_normal((4, 3))}
    for after, before in zip(sg.evaluate([loss_after, gradient_after], ordinary), sg.evaluate([loss, gradient], ordinary)):
        np.testing.assert_allclose(after, before, rtol=1e-10)


def test_stabilized_logistic_losses_and_their_gradients():
    x = sg.placeholder((5,), "float64", name="x")
    t = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    s = sg.sigmoid(x)
    loss = -sg.sum(t * sg.log(s) + (1 - t) * sg.log(1 - s))
    gradient = sg.grad(loss, x)
    extreme = np.array([-800.0, 800.0, 40.0, -40.0, 0.5])
    assert not np.isfinite(sg.evaluate([loss, gradient], {x: extreme})[0])
    (loss_after, gradient_after), _ = sg.optimize([loss, gradient])
    value, grad_value = sg.evaluate([loss_after, gradient_after], {x: extreme})
    expected = np.sum(np.logaddexp(0, extreme) - t * extreme)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(grad_value, scipy.special.expit(extreme) - t, atol=1e-12)


def test_log1p_and_expm1_rewrites_are_more_accurate():
    x = sg.placeholder((), "float64", name="x")
    tiny = {x: np.float64(1e-10)}
    (a, b), _ = sg.optimize([sg.log(1 + x), sg.exp(x) - 1])
    import mpmath

    mpmath.mp.dps = 50
    exact_log1p = float(mpmath.log1p(mpmath.mpf("1e-10")))
    exact_expm1 = float(mpmath.expm1(mpmath.mpf("1e-10")))
    naive = sg.evaluate([sg.log(1 + x), sg.exp(x) - 1], tiny)
    optimized = sg.evaluate([a, b], tiny)
    assert abs(optimized[0] - exact_log1p) <= abs(naive[0] - exact_log1p)
    assert abs(optimized[1] - exact_expm1) <= abs(naive[1] - exact_expm1)
    assert abs(optimized[0] - exact_log1p) / exact_log1p < 1e-15 < abs(naive[0] - exact_log1p) / exact_log1p


def _lecture_mlp():
    x = sg.placeholder((None, 784), name="x")
    labels = sg.placeholder((None,), "int64", name="labels")
    h = sg.layers.dense(x, 500, activation=sg.relu, name="fc1", rng=0)
    logits = sg.layers.dense(h, 10, name="fc2", rng=1)
    loss = sg.nn.softmax_cross_entropy(logits, labels)
    params = sg.trainable_variables(loss)
    updates = sg.optim.SGD(0.1).updates(loss, params)
    return x, labels, loss, updates


def test_mlp_training_graph_computes_each_forward_activation_once():
    x, labels, loss, updates = _lecture_mlp()
    targets = [loss] + list(updates.values())
    optimized, report = sg.optimize(targets)
    counts = op_histogram(optimized)
    assert counts["relu"] == 1 and counts["sparse_softmax_cross_entropy"] == 1
    forward_matmuls = [n for n in toposort(optimized) if n.op.name == "matmul" and n.inputs[0] is x]
    assert len(forward_matmuls) == 1
    assert counts["matmul"] == 5  # 2 forward, dW1, dW2, dh (no dx: x is a placeholder nobody differentiates)
    assert report.nodes_after <= report.nodes_before
    assert f"-> {report.nodes_after} nodes" in str(report)
    feeds = {x: rng.uniform(0, 1, (8, 784)).astype(np.float32), labels: rng.integers(0, 10, 8)}
    np.testing.assert_allclose(sg.evaluate(optimized, feeds)[0], sg.evaluate(targets, feeds)[0], rtol=1e-6)


def test_gradient_recomputation_is_merged():
    w = sg.variable(0.3, "float64", name="w")
    f = lambda v: sg.sigmoid(v) * 2.0  # noqa: E731
    z = f(f(f(w)))
    rebuilt_gradient = sg.grad(f(f(f(w))), w)  # the same forward built again: merge makes it one
    (out, gradient), report = sg.optimize([z, rebuilt_gradient])
    assert op_histogram([out, gradient])["sigmoid"] == 3
    assert report.rule_counts["merge"] >= 3


def test_optimize_never_changes_nodes_the_user_holds():
    y = X * 1.0 + (-0.0)
    inputs_before = y.inputs
    after, _ = sg.optimize(y)
    assert y.inputs is inputs_before and y.op.name == "add" and after is X


def test_idempotent():
    logits, onehot, loss = _hand_written_cross_entropy(False)
    first, _ = sg.optimize([loss, sg.grad(loss, logits)])
    second, report = sg.optimize(first)
    assert all(a is b for a, b in zip(first, second))
    assert not report.rewrites


def test_passes_argument_and_report_text():
    y = sg.log(1 + X) * 1.0
    only_simplify, report = sg.optimize(y, passes=["simplify"])
    assert op_histogram([only_simplify])["log"] == 1 and "log1p" not in op_histogram([only_simplify])
    assert [p.name for p in report.passes] == ["simplify"]
    text = str(report)
    assert "simplify" in text and "mul_one" in text
    with pytest.raises(ValueError, match="unknown passes"):
        sg.optimize(y, passes=["fuse_everything"])


def test_check_mode_names_a_rule_that_changes_values(monkeypatch):
    from symgraph.passes import simplify

    def wrong_rule(node):  # sin(x) = x  (false)
        if node.op.name == "sin":
            return node.inputs[0]

    monkeypatch.setattr(simplify, "RULES", simplify.RULES + [wrong_rule])
    monkeypatch.setitem(sg.passes.PASSES, "simplify", sg.passes.pipeline.rule_pass(simplify.RULES))
    y = sg.sin(X) + 0.0
    with pytest.raises(RewriteCheckError, match="wrong_rule"):
        sg.optimize(y, check=True, feed_dict=FEEDS)
    monkeypatch.undo()
    after, _ = sg.optimize(sg.log(1 + sg.square(X)) * 1.0, check=True, feed_dict=FEEDS)
    assert after.op.name == "log1p"


def test_function_optimizes_by_default_and_can_skip_it():
    logits, onehot, loss = _hand_written_cross_entropy(False)
    huge = np.array([[1e4, -1e4, 0.0]] * 4)
    optimized = sg.function([logits], loss, backend="numpy")
    plain = sg.function([logits], loss, optimize=False, backend="numpy")
    assert np.isfinite(optimized(huge)) and not np.isfinite(plain(huge))
    assert optimized.report is not None and plain.report is None


@pytest.mark.parametrize("outputs,passes,message", [
    (3, None, r"sg.optimize takes a node or a list of nodes, got int 3"),
    ([X, "y"], None, r"item 1 is str"),
    (X, "simplify", r"passes must be a list of pass names \(e.g. \['simplify'\]\)"),
    (X, 7, r"passes must be a list of pass names"),
])
def test_optimize_argument_errors_are_clear(outputs, passes, message):
    with pytest.raises(TypeError, match=message):
        sg.optimize(outputs, passes=passes)
    with pytest.raises(TypeError, match="check must be True or False"):
        sg.optimize(X, check="yes")


def test_report_rule_counts_is_a_field_like_the_others():
    _, report = sg.optimize(sg.log(1 + X) * 1.0 - 0.0)
    assert report.rule_counts == {"mul_one": 1, "sub_zero": 1, "log_one_plus": 1, "merge": 1}  # merge: the 1.0s
    assert report.rule_counts["sub_self"] == 0


def test_dce_report_says_what_its_counts_mean():
    logits, onehot, loss = _hand_written_cross_entropy(False)
    _, report = sg.optimize([loss, sg.grad(loss, logits)])
    dce = next(p for p in report.passes if p.name == "dce" and p.dropped)
    kept = dce.nodes_before - dce.dropped
    assert (f"dce: the round started with {dce.nodes_before} nodes and ends with {dce.nodes_after}: {dce.dropped} of "
            f"its starting nodes were rewritten away and are no longer computed, {dce.nodes_after - kept} nodes are "
            f"new") in str(report)


@pytest.mark.parametrize("build,finite_build", [
    (lambda v: v - v, lambda v: sg.tanh(v) - sg.tanh(v)),
    (lambda v: v * 0.0, lambda v: sg.sigmoid(v) * 0.0),
])
def test_rules_that_drop_an_operand_need_it_finite(build, finite_build):
    x = sg.placeholder((3,), "float64", name="x")
    values = {x: np.array([-1.0, 0.0, 2.0])}
    for possibly_nan in (sg.log(x), sg.sqrt(x), x / (x - 2)):
        y = build(possibly_nan)
        after, report = sg.optimize(y)
        assert not {"sub_self", "mul_zero"} & set(report.rule_counts)
        np.testing.assert_array_equal(np.isnan(sg.evaluate(after, values)), np.isnan(sg.evaluate(y, values)))
    after, report = sg.optimize(finite_build(x))
    assert after.op.name == "constant" and {"sub_self", "mul_zero"} & set(report.rule_counts)


@pytest.mark.parametrize("build", [
    lambda v: v + 0.0, lambda v: 0.0 + v, lambda v: 0.0 - v, lambda v: v - (-0.0), lambda v: sg.tanh(v) * 0.0,
    lambda v: 0.0 * v, lambda v: sg.sigmoid(v) * -0.0,
], ids=["x+0", "0+x", "0-x", "x-(-0)", "tanh(x)*0", "0*x", "sigmoid(x)*-0"])
def test_zero_identities_keep_the_sign_of_zero(build):
    """In floats -0.0 + 0.0 is +0.0 and -2.0 * 0.0 is -0.0: the rules that would lose a sign leave the node alone, so
    1/x and arctan2 of the optimized graph give what the original gives."""
    x = sg.placeholder((5,), "float64", name="x")
    values = {x: np.array([-0.0, 0.0, -2.0, 3.0, -1e-300])}
    y = build(x)
    after, report = sg.optimize(y)
    assert not {"add_zero", "sub_zero", "mul_zero"} & set(report.rule_counts), report
    np.testing.assert_array_equal(np.signbit(sg.evaluate(after, values)), np.signbit(sg.evaluate(y, values)))
    np.testing.assert_array_equal(sg.evaluate(sg.reciprocal(after), values), sg.evaluate(sg.reciprocal(y), values))


POOLINGS = [((2, 2), None, 0), ((3, 3), (2, 2), 1), ((2, 2), (1, 1), 0), ((3, 2), (2, 1), (1, 0))]


@pytest.mark.parametrize("kernel,stride,padding", POOLINGS, ids=["2x2", "3x3s2p1", "2x2s1", "3x2s21p10"])
def test_relu_mask_moves_to_the_pooled_grid_with_the_same_bits(kernel, stride, padding):
    """The gradient of a max-pool over relu(h): the relu mask of h's size is gone (the where runs on the pooled grid)
    and the gradient is bitwise the unoptimized graph's, on windows that tile, overlap and pad, with ties (small
    integers: equal maxima, windows of zeros) and negative windows."""
    x = sg.placeholder((2, 3, 7, 6), "float64", name="x")
    a = sg.placeholder((2, 3, 7, 6), "float64", name="a")
    h = x * a - 1.0
    pooled = sg.nn.max_pool2d(sg.relu(h), kernel, stride, padding)
    weights = sg.placeholder(pooled.shape, "float64", name="w")
    gradient = sg.grad(sg.sum(pooled * weights), x)
    after, report = sg.optimize(gradient)
    assert report.rule_counts.get("relu_mask_of_max_pool2d_grad") == 1, report
    masks = [n for n in toposort([after]) if n.op.name in ("greater", "where")]
    assert masks and all(n.shape == pooled.shape for n in masks), describe([after])
    feeds = {x: rng.integers(-2, 3, x.shape).astype(float), a: rng.integers(-1, 3, a.shape).astype(float),
             weights: rng.standard_normal(pooled.shape)}
    expected = sg.evaluate(gradient, feeds)
    assert (expected == 0).mean() > 0.5 and (expected != 0).any()  # masked and routed entries both
    got = sg.evaluate(after, feeds)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


def test_relu_mask_stays_where_h_may_be_nan_or_the_zero_is_negative():
    """A window holding a NaN of h would lose its gradient on the pooled grid (the pooled NaN is not > 0), so h must
    be finite; and where(mask, g, -0.0) puts -0.0 where the pooled form writes +0.0. (A +0.0 array of h's shape is
    rewritten like a scalar zero.)"""
    x = sg.placeholder((1, 1, 4, 4), "float64", name="x")
    values = {x: np.array([[[[1.0, -1.0, 2.0, 0.5], [-3.0, 4.0, 0.0, 1.0], [2.0, 2.0, -1.0, -2.0],
                             [0.5, 3.0, -0.5, 0.25]]]])}
    maybe_nan = sg.log(x) + 1.0
    gradient = sg.grad(sg.sum(sg.nn.max_pool2d(sg.relu(maybe_nan), 2) * 3.0), x)
    after, report = sg.optimize(gradient)
    assert "relu_mask_of_max_pool2d_grad" not in report.rule_counts
    np.testing.assert_array_equal(sg.evaluate(after, values), sg.evaluate(gradient, values))
    h = x * 2.0
    zeros = sg.where(h > 0, max_pool2d_grad(sg.relu(h), sg.constant(np.full((1, 1, 2, 2), 3.0)), 2), np.zeros((4, 4)))
    after, report = sg.optimize(zeros)  # a zero array of h's shape as the else-branch: the same rewrite
    assert report.rule_counts.get("relu_mask_of_max_pool2d_grad") == 1
    np.testing.assert_array_equal(sg.evaluate(after, values), sg.evaluate(zeros, values))
    routed = max_pool2d_grad(sg.relu(h), sg.constant(np.full((1, 1, 2, 2), 3.0)), 2)
    negative_zero = sg.where(h > 0, routed, -0.0)
    after, report = sg.optimize(negative_zero)
    assert "relu_mask_of_max_pool2d_grad" not in report.rule_counts
    np.testing.assert_array_equal(np.signbit(sg.evaluate(after, values)),
                                  np.signbit(sg.evaluate(negative_zero, values)))
