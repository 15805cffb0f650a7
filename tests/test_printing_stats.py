"""sg.stats, the static cost model: FLOPs against hand counts (and PyTorch's flop counter for matmul and conv2d,
forward and backward, where torch is installed), the MLP's gradient/forward ratio, parameters, bytes, input_shapes
resolution, the errors, and a contract over the op table: every op has a cost rule, it runs on every sample, and
shapes inferred again from input_shapes give what the static shapes give.
"""

import json
import math
import re

import numpy as np
import pytest

import symgraph as sg
from op_table import ROWS
from symgraph.graph import Op
from test_op_values import DTYPE_ERROR, inputs_for, numpy_outcome

pytestmark = pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")

THIS_FILE = re.compile(r"test_printing_stats\.py:\d+")


def zeros(*shape, dtype=np.float32):
    return np.zeros(shape, dtype)


def torch_flops(run):
    """PyTorch's count (torch.utils.flop_counter: matmul and convolution families) of what ``run()`` executes."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run(torch)
    return counter.get_total_flops()


# -- matmul ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("a_shape,b_shape,expected", [
    ((5, 3), (3, 4), 2 * 5 * 4 * 3),
    ((7, 5, 3), (3, 4), 7 * 2 * 5 * 4 * 3),  # per batch element 2 M N K
    ((2, 1, 5, 3), (3, 3, 4), 2 * 3 * 2 * 5 * 4 * 3),  # batches broadcast to (2, 3)
    ((3,), (3,), 2 * 3),  # a dot product
    ((5, 3), (3,), 2 * 5 * 3),
    ((3,), (3, 4), 2 * 4 * 3),
    ((5, 0), (0, 4), 0),
])
def test_matmul_flops_are_2mnk_per_batch_element(a_shape, b_shape, expected):
    a, b = sg.placeholder(a_shape, name="a"), sg.placeholder(b_shape, name="b")
    stats = sg.stats(a @ b)
    assert stats.flops == stats.forward_flops == expected
    assert stats.flops_by_op == ({"matmul": expected} if expected else {})  # ops that cost anything
    if len(a_shape) > 1 and len(b_shape) > 1:  # PyTorch's counter leaves dot and mv out
        assert expected == torch_flops(lambda torch: torch.matmul(torch.zeros(a_shape), torch.zeros(b_shape)))


# -- conv2d and its backprop ops ------------------------------------------------------------------------------------

CONV_CASES = [  # x, w, geometry, output height/width
    ((2, 3, 9, 9), (4, 3, 3, 3), dict(stride=2, padding=1), (5, 5)),
    ((1, 2, 7, 8), (3, 2, 3, 2), dict(stride=(1, 2), padding=(2, 1), dilation=(2, 1)), (7, 5)),
    ((2, 1, 6, 6), (2, 1, 3, 3), dict(dilation=2), (2, 2)),
    ((3, 2, 5, 5), (4, 2, 1, 1), dict(), (5, 5)),
]


@pytest.mark.parametrize("x_shape,w_shape,geometry,out_hw", CONV_CASES)
def test_conv2d_and_its_gradients_count_one_multiply_add_per_tap(x_shape, w_shape, geometry, out_hw):
    x, w = sg.variable(zeros(*x_shape), name="x"), sg.variable(zeros(*w_shape), name="w")
    y = sg.nn.conv2d(x, w, **geometry)
    assert y.shape[2:] == out_hw
    (n, channels, _, _), (out_channels, _, kh, kw) = x_shape, w_shape
    hand = 2 * n * out_channels * out_hw[0] * out_hw[1] * channels * kh * kw
    assert sg.stats(y).flops_by_op == {"conv2d": hand}
    grads = sg.grad(sg.sum(y), [x, w])
    stats = sg.stats(grads)
    # dx and dw: the same multiply-adds as the forward pass; the sum's gradient broadcasts (0 FLOPs)
    assert stats.flops_by_op == {"conv2d_backprop_input": hand, "conv2d_backprop_filter": hand}
    assert stats.gradient_flops == 2 * hand and stats.forward_flops == 0

    def torch_conv(torch):
        xt = torch.zeros(x_shape, requires_grad=True)
        wt = torch.zeros(w_shape, requires_grad=True)
        torch.nn.functional.conv2d(xt, wt, **geometry).sum().backward()

    assert torch_flops(torch_conv) == 3 * hand


def test_conv2d_same_padding_counts_the_taps_over_the_padding():
    x = sg.placeholder((1, 2, 7, 7), name="x")
    w = sg.variable(zeros(5, 2, 3, 3), name="w")
    # "same", stride 2: ceil(7 / 2) = 4 positions per axis; every one takes all 3 * 3 taps of both channels
    assert sg.stats(sg.nn.conv2d(x, w, stride=2, padding="same")).flops == 2 * 1 * 5 * 4 * 4 * 2 * 3 * 3
    # "full": 7 + 2 * 2 - 3 + 1 = 9 positions per axis
    assert sg.stats(sg.nn.conv2d(x, w, padding="full")).flops == 2 * 1 * 5 * 9 * 9 * 2 * 3 * 3


# -- pooling --------------------------------------------------------------------------------------------------------

def test_pooling_counts_one_flop_per_window_tap():
    x = sg.variable(zeros(2, 3, 8, 8), name="x")
    windows = 2 * 3 * 4 * 4  # kernel 2, stride 2
    assert sg.stats(sg.nn.max_pool2d(x, 2)).flops == windows * 4
    assert sg.stats(sg.nn.avg_pool2d(x, 2)).flops == windows * 4
    # kernel 3, stride 1, padding 1: 8 + 2 - 3 + 1 = 8 positions per axis
    assert sg.stats(sg.nn.max_pool2d(x, 3, stride=1, padding=1)).flops == 2 * 3 * 8 * 8 * 9

    max_grad = sg.stats(sg.grad(sg.sum(sg.nn.max_pool2d(x, 2)), x))
    # max_pool2d_grad searches each window's maximum again (4 taps) and adds g there (1)
    assert max_grad.flops_by_op == {"max_pool2d_grad": windows * 4 + windows}
    avg_grad = sg.stats(sg.grad(sg.sum(sg.nn.avg_pool2d(x, 2)), x))
    # avg_pool2d_grad divides each window's g by 4 (1) and adds the share at its 4 taps
    assert avg_grad.flops_by_op == {"avg_pool2d_grad": windows + windows * 4}


def test_max_pool2d_gather_searches_each_window():
    x = sg.variable(zeros(1, 2, 6, 6), name="x")
    v = sg.variable(zeros(1, 2, 3, 3), name="v")
    h = sg.variable(zeros(1, 2, 6, 6), name="h")
    # the second derivative of max pooling in g reads h at the maxima: max_pool2d_gather
    inner = sg.sum(sg.nn.max_pool2d(x, 2) * v)
    dv = sg.grad(sg.sum(sg.grad(inner, x) * h), v)
    assert sg.stats(dv).flops_by_op["max_pool2d_gather"] == 1 * 2 * 3 * 3 * 4


# -- softmax family and cross-entropy -------------------------------------------------------------------------------

def test_softmax_family_counts_the_steps_of_the_stable_formulas():
    rows, classes = 6, 10
    elements = rows * classes
    z = sg.placeholder((rows, classes), name="z")
    assert sg.stats(sg.nn.softmax(z)).flops == 5 * elements  # max, subtract, exp, sum, divide
    assert sg.stats(sg.nn.log_softmax(z)).flops == 5 * elements + rows  # + a log per row
    assert sg.stats(sg.nn.logsumexp(z, axis=1)).flops == 4 * elements + 2 * rows  # log and + max per row
    assert sg.stats(sg.nn.softmax(z, axis=0)).flops == 5 * elements


def test_softmax_cross_entropy_hand_count():
    rows, classes = 6, 10
    elements = rows * classes
    logits = sg.placeholder((rows, classes), name="logits")
    labels = sg.placeholder((rows,), "int64", name="labels")
    loss = sg.nn.softmax_cross_entropy(logits, labels)
    # per row: max, subtract, exp, add over the 10 logits; log; z[label] - normalizer; negate. Then the mean.
    per_example = 4 * elements + 3 * rows
    assert sg.stats(loss).flops_by_op == {"sparse_softmax_cross_entropy": per_example, "mean": rows}
    gradient = sg.stats(sg.grad(loss, logits))
    # mean: g / 6 (1); softmax (5 per element); softmax - onehot; g * (...) (1 each per element)
    assert gradient.flops_by_op == {"softmax": 5 * elements, "sub": elements, "mul": elements, "div": 1}
    assert gradient.gradient_flops == 7 * elements + 1

    targets = sg.placeholder((rows, classes), name="targets")
    dense = sg.nn.softmax_cross_entropy(logits, targets, reduction="sum")
    # the normalizers, then per element (z - max) - normalizer, * target, + ; per row a negation; then the sum
    assert sg.stats(dense).flops_by_op == {"softmax_cross_entropy": 4 * elements + rows + 3 * elements + rows,
                                           "sum": rows}


# -- elementwise, reductions, shapes, indexing ----------------------------------------------------------------------

def test_elementwise_ops_count_one_per_output_element_and_shape_ops_none():
    x = sg.placeholder((3, 1), name="x")
    y = sg.placeholder((1, 4), name="y")
    assert sg.stats(x + y).flops == 12  # the broadcast output's elements
    assert sg.stats(sg.exp(x)).flops == 3  # transcendental: 1
    assert sg.stats(x ** y).flops == 12
    assert sg.stats(sg.less(x, y)).flops == 12
    assert sg.stats(sg.where(sg.less(x, y), x, 0.0)).flops_by_op == {"less": 12, "where": 12}
    assert sg.stats(sg.cast(x, "float64")).flops == 0
    assert sg.stats(sg.stop_gradient(x)).flops == 0
    shaped = sg.concatenate([sg.transpose(x), sg.reshape(x, (1, 3))], axis=0)[:, 1:]
    assert sg.stats(sg.expand_dims(sg.broadcast_to(shaped, (4, 2, 2)), 0)).flops == 0
    labels = sg.placeholder((5,), "int64", name="labels")
    assert sg.stats(sg.one_hot(labels, 7)).flops == 0


def test_reductions_count_one_per_input_element():
    x = sg.placeholder((4, 5, 6), name="x")
    for reduce in (sg.sum, sg.mean, sg.max, sg.min, sg.prod):
        assert sg.stats(reduce(x, axis=1)).flops == 120
        assert sg.stats(reduce(x)).flops == 120
    assert sg.stats(sg.argmax(x, axis=2)).flops == 120


def test_indexing_gradient_scatter_adds_through_integer_arrays_only():
    table = sg.variable(zeros(10, 4), name="table")
    ids = sg.constant(np.array([1, 3, 3, 7, 0, 1]))
    by_array = sg.stats(sg.grad(sg.sum(table[ids]), table))
    assert by_array.flops_by_op == {"index_grad": 6 * 4}  # np.add.at adds each of the 6 gathered rows
    by_slice = sg.stats(sg.grad(sg.sum(table[2:5]), table))
    assert by_slice.flops == 0 and by_slice.ops["index_grad"] == 1  # a slice is written, not added


def test_sum_to_adds_only_when_it_sums():
    x = sg.placeholder((None, 3), name="x")
    b = sg.variable(zeros(3), name="b")
    w = sg.placeholder((None, 3), name="w")
    # (None, 3) + (None, 3): the gradient of x may have been broadcast along the batch, so sum_to decides at run time
    dx = sg.grad(sg.sum((x + w) * b), x)
    assert sg.stats(dx, input_shapes={"x": (5, 3), "w": (5, 3)}).flops_by_op.get("sum_to", 0) == 0
    assert sg.stats(dx, input_shapes={"x": (1, 3), "w": (5, 3)}).flops_by_op["sum_to"] == 15


# -- the lecture MLP ------------------------------------------------------------------------------------------------

def mlp(batch=None, x_is_variable=False):
    """784-500-10 ReLU with softmax cross-entropy, as in examples/mlp_mnist.py."""
    if x_is_variable:
        x = sg.variable(zeros(batch, 784), name="x")
    else:
        x = sg.placeholder((batch, 784), name="x")
    labels = sg.placeholder((batch,), "int64", name="labels")
    W1, b1 = sg.variable(zeros(784, 500), name="W1"), sg.variable(zeros(500), name="b1")
    W2, b2 = sg.variable(zeros(500, 10), name="W2"), sg.variable(zeros(10), name="b2")
    loss = sg.nn.softmax_cross_entropy(sg.relu(x @ W1 + b1) @ W2 + b2, labels)
    return x, labels, loss, [W1, b1, W2, b2]


def mlp_forward_hand_count(B):
    matmuls = 2 * B * (784 * 500 + 500 * 10)
    bias_relu = B * 500 + B * 500 + B * 10  # + b1, relu, + b2
    loss = 4 * B * 10 + 3 * B + B  # cross-entropy per example, then the mean
    return matmuls + bias_relu + loss


def mlp_gradient_hand_count(B):
    """The nodes sg.grad builds for W1, b1, W2, b2 (none for the input x, which is not differentiated)."""
    mean = 1  # g / B
    cross_entropy = 5 * B * 10 + B * 10 + B * 10  # softmax(z), - onehot, * g
    b2 = B * 10  # sum over the batch
    layer2 = 2 * B * 10 * 500 + 2 * 500 * B * 10  # dh = g @ W2.T, dW2 = h.T @ g
    relu = B * 500 + B * 500  # where(z1 > 0, dh, 0): the comparison and the choice
    b1 = B * 500
    layer1 = 2 * 784 * B * 500  # dW1 = x.T @ g
    return mean + cross_entropy + b2 + layer2 + relu + b1 + layer1


@pytest.mark.parametrize("batch,input_shapes", [(32, None), (None, {"x": (64, 784), "labels": (64,)})])
def test_mlp_forward_gradient_and_their_ratio(batch, input_shapes):
    x, labels, loss, params = mlp(batch)
    B = batch or 64
    forward = sg.stats(loss, input_shapes)
    assert forward.flops == forward.forward_flops == mlp_forward_hand_count(B)
    assert forward.gradient_flops == forward.gradient_nodes == 0 and forward.gradient_forward_ratio == 0
    assert forward.parameters == 784 * 500 + 500 + 500 * 10 + 10 == 397510

    stats = sg.stats([loss, *sg.grad(loss, params)], input_shapes)
    assert stats.forward_flops == mlp_forward_hand_count(B)
    assert stats.gradient_flops == mlp_gradient_hand_count(B)
    assert stats.gradient_forward_ratio == mlp_gradient_hand_count(B) / mlp_forward_hand_count(B)
    # not 2: the input's gradient (a 784 x 500 product) is never built, so the gradient's matmuls cost about as
    # much as the forward pass's
    assert 1.013 < stats.gradient_forward_ratio < 1.014
    assert stats.flops_by_op["matmul"] == 2 * B * (784 * 500 + 500 * 10) + 2 * B * (784 * 500 + 2 * 500 * 10)


def test_mlp_matmuls_match_pytorchs_count():
    B = 16
    _, _, loss, params = mlp(B)
    ours = sg.stats([loss, *sg.grad(loss, params)]).flops_by_op["matmul"]

    def torch_mlp(torch):
        x = torch.zeros(B, 784)
        W1, b1 = torch.zeros(784, 500, requires_grad=True), torch.zeros(500, requires_grad=True)
        W2, b2 = torch.zeros(500, 10, requires_grad=True), torch.zeros(10, requires_grad=True)
        logits = torch.relu(x @ W1 + b1) @ W2 + b2
        torch.nn.functional.cross_entropy(logits, torch.zeros(B, dtype=torch.long)).backward()

    assert ours == torch_flops(torch_mlp)


def test_gradient_with_respect_to_the_input_too_doubles_the_matmuls():
    B = 8
    x, _, loss, params = mlp(B, x_is_variable=True)
    stats = sg.stats([loss, *sg.grad(loss, params + [x])])
    dx = 2 * B * 500 * 784  # g @ W1.T
    assert stats.gradient_flops == mlp_gradient_hand_count(B) + dx
    assert stats.gradient_forward_ratio == (mlp_gradient_hand_count(B) + dx) / mlp_forward_hand_count(B)
    assert 1.99 < stats.gradient_forward_ratio < 2
    assert stats.parameters == 397510 + B * 784  # x is a trainable variable here


def test_optimized_gradients_keep_their_gradient_nodes():
    _, _, loss, params = mlp(32)
    outputs = [loss, *sg.grad(loss, params)]
    optimized, _ = sg.optimize(outputs)
    before, after = sg.stats(outputs), sg.stats(optimized)
    assert after.forward_flops == before.forward_flops
    assert 0.99 * before.gradient_flops < after.gradient_flops <= before.gradient_flops


def test_update_arithmetic_counts_as_forward():
    x = sg.placeholder((4, 3), name="x")
    W = sg.variable(zeros(3, 2), name="W")
    loss = sg.sum(x @ W)
    dW = sg.grad(loss, W)
    stats = sg.stats([loss, W - 0.1 * dW])
    # forward: x @ W (48), sum (8), 0.1 * dW and W - ... (6 each); gradient: x.T @ g (48), g broadcast (0)
    assert (stats.forward_flops, stats.gradient_flops) == (48 + 8 + 6 + 6, 48)


def test_ratio_is_none_without_forward_flops():
    x = sg.variable(zeros(5), name="x")
    dx = sg.grad(sg.sum(x * x), x)  # g * x + g * x: the forward product is not part of the gradient's graph
    stats = sg.stats(dx)
    assert stats.forward_flops == 0 and stats.gradient_flops == 15 and stats.gradient_forward_ratio is None
    assert "no forward FLOPs" in str(stats)


# -- parameters, bytes ----------------------------------------------------------------------------------------------

def test_parameters_count_trainable_variables_only():
    x = sg.placeholder((2, 3), name="x")
    W = sg.variable(zeros(3, 4), name="W")
    frozen = sg.variable(zeros(4), name="frozen", trainable=False)
    bias = sg.constant(np.ones(4, np.float32))
    out = x @ W + frozen + bias + W[0]  # W read twice, counted once
    assert sg.stats(out).parameters == 12
    assert sg.stats(x).parameters == 0


def test_intermediate_and_peak_bytes_hand_count():
    x = sg.placeholder((10,), "float64", name="x")
    a = x * 2.0  # 80 bytes
    b = a + 1.0  # 80
    c = sg.less(b, 3.0)  # 10 (bool)
    d = sg.sum(b)  # 8
    stats = sg.stats([c, d])
    assert stats.intermediate_bytes == 80 + 80 + 10 + 8
    # schedule: a; b (a and b held: 160, then a is freed); c (b, c: 90); d (b, c, d: 98, then b is freed)
    assert sg.toposort([c, d])[-1] is d
    assert stats.peak_bytes == 160


def test_peak_bytes_keeps_outputs_to_the_end():
    x = sg.placeholder((100,), name="x")
    first = sg.exp(x)  # 400 bytes, an output: never freed
    second = sg.exp(sg.sum(x) + x)  # sum 4, add 400, exp 400
    stats = sg.stats([first, second])
    assert stats.intermediate_bytes == 400 + 4 + 400 + 400
    assert stats.peak_bytes == 400 + 400 + 400  # first, the add and the exp when the last is computed


# -- input_shapes ---------------------------------------------------------------------------------------------------

def test_input_shapes_resolve_unknown_dimensions_by_node_or_name():
    images = sg.placeholder((None, 1, 28, 28), name="images")
    flat = sg.reshape(images, (-1, 784))  # -1: resolved to 784 statically, the batch stays unknown
    W = sg.variable(zeros(784, 10), name="W")
    out = sg.nn.softmax(flat @ W)
    by_name = sg.stats(out, input_shapes={"images": (16, 1, 28, 28)})
    by_node = sg.stats(out, {images: [16, 1, 28, 28]})
    assert by_name == by_node
    assert by_name.flops == 2 * 16 * 784 * 10 + 5 * 16 * 10
    assert by_name.intermediate_bytes == 4 * (16 * 784 + 16 * 10 + 16 * 10)
    assert by_name.placeholder_shapes == {"images": (16, 1, 28, 28)}
    assert sg.stats(out, {"images": (3, 1, 28, 28)}).flops == 2 * 3 * 784 * 10 + 5 * 3 * 10


def test_input_shapes_of_a_fully_unknown_reshape_and_a_placeholder_outside_the_graph():
    x = sg.placeholder((None, None), name="x")
    unused = sg.placeholder((None, 2), name="unused")
    y = sg.sum(sg.reshape(x, (-1,)) * 2.0)
    stats = sg.stats(y, {"x": (3, 7), unused: (5, 2)})  # a placeholder the graph does not hold is checked, not used
    assert stats.flops == 21 + 21
    with pytest.raises(sg.ShapeError, match="dimension 1 is 2, not 3"):
        sg.stats(y, {"x": (3, 7), unused: (5, 3)})


def test_shapes_given_that_contradict_each_other_name_the_node():
    x = sg.placeholder((None, 3), name="x")
    y = sg.placeholder((None, 3), name="y")
    total = x + y
    with pytest.raises(sg.ShapeError) as info:
        sg.stats(total, {"x": (4, 3), "y": (5, 3)})
    message = str(info.value)
    assert message.startswith("sg.stats: ") and "add node" in message and "(4, 3), (5, 3)" in message
    assert "cannot be broadcast" in message and THIS_FILE.search(message)


# -- errors ---------------------------------------------------------------------------------------------------------

def test_unknown_dimensions_raise_naming_the_placeholder_to_give():
    x, labels, loss, params = mlp()
    with pytest.raises(sg.ShapeError) as info:
        sg.stats(loss)
    message = str(info.value)
    assert "placeholder node 'x' (shape (None, 784), float32) created at" in message
    assert "input_shapes={'x': (N, 784)}" in message and "matmul node" in message
    assert THIS_FILE.search(message)
    with pytest.raises(sg.ShapeError) as info:  # x given, the labels still unknown
        sg.stats(loss, {"x": (8, 784)})
    message = str(info.value)
    assert "placeholder node 'labels'" in message and "'x'" not in message.split("give")[1]
    assert sg.stats(x).flops == 0  # a placeholder alone computes nothing: nothing to count


@pytest.mark.parametrize("input_shapes,error,match", [
    ([("x", (2, 3))], TypeError, "input_shapes must be a mapping"),
    ({"nope": (2, 3)}, ValueError, "input_shapes key 'nope' names no placeholder of the graph (its placeholders: 'x')"),
    ({3: (2, 3)}, TypeError, "keys must be placeholders or their names, got int"),
    ({"x": (2, None)}, TypeError, "a shape is a tuple of ints"),
    ({"x": "2, 3"}, TypeError, "a shape is a tuple of ints"),
    ({"x": (2, 3.0)}, TypeError, "a shape is a tuple of ints"),
    ({"x": (2, -3)}, sg.ShapeError, "sizes must be between 0 and"),
    ({"x": (2,)}, sg.ShapeError, "the shape (2,) of rank 1, but the placeholder has rank 2"),
    ({"x": (2, 4)}, sg.ShapeError, "the shape (2, 4), but its dimension 1 is 3, not 4"),
])
def test_bad_input_shapes_are_refused(input_shapes, error, match):
    x = sg.placeholder((None, 3), name="x")
    with pytest.raises(error, match=re.escape(match)) as info:
        sg.stats(sg.exp(x), input_shapes)
    assert str(info.value).startswith("sg.stats: ") and THIS_FILE.search(str(info.value))


def test_input_shapes_keys_that_are_not_placeholders_or_are_given_twice():
    x = sg.placeholder((None, 3), name="x")
    W = sg.variable(zeros(3, 2), name="W")
    with pytest.raises(ValueError, match="but one is a variable node 'W'"):
        sg.stats(x @ W, {W: (3, 2)})
    with pytest.raises(ValueError, match="gives the shape of placeholder node 'x' .* twice"):
        sg.stats(x @ W, {x: (2, 3), "x": (2, 3)})
    twin = sg.placeholder((None, 3), name="x")
    with pytest.raises(ValueError, match="key 'x' is ambiguous: 2 placeholders have that name"):
        sg.stats(x + twin, {"x": (2, 3)})


def test_nodes_must_be_nodes():
    with pytest.raises(TypeError, match="sg.stats takes a node or a list of nodes, got ndarray"):
        sg.stats(np.zeros(3))
    with pytest.raises(TypeError, match="item 1 is int"):
        sg.stats([sg.placeholder((2,)), 3])


# -- the object -----------------------------------------------------------------------------------------------------

def test_stats_is_a_dict_with_attributes_and_prints_as_a_table():
    x, labels, loss, params = mlp(32)
    stats = sg.stats([loss, *sg.grad(loss, params)])
    assert isinstance(stats, dict) and stats["flops"] == stats.flops and stats.ops["matmul"] == 5
    assert stats.nodes == sum(stats.ops.values()) == len(sg.toposort([loss, *sg.grad(loss, params)]))
    assert set(stats) == {"nodes", "ops", "parameters", "flops", "forward_flops", "gradient_flops", "gradient_nodes",
                          "gradient_forward_ratio", "flops_by_op", "intermediate_bytes", "peak_bytes",
                          "placeholder_shapes", "unknown_flops"}
    assert json.loads(json.dumps(stats))["flops"] == stats.flops
    with pytest.raises(AttributeError, match="sg.stats has no entry 'flop'; its entries: nodes, ops"):
        stats.flop
    assert "flops_by_op" in dir(stats)
    text = str(stats)
    lines = text.splitlines()
    assert lines[0] == f"sg.stats: {stats.nodes} nodes, 397,510 parameters; placeholders x (32, 784), labels (32,)"
    assert lines[1] == (f"FLOPs {stats.flops:,}: forward {stats.forward_flops:,}, gradient {stats.gradient_flops:,} "
                        f"(gradient/forward {stats.gradient_forward_ratio:.3f})")
    matmul_row = next(line for line in lines if line.startswith("matmul "))
    share = 100 * stats.flops_by_op["matmul"] / stats.flops
    assert matmul_row.split() == ["matmul", "5", f"{stats.flops_by_op['matmul']:,}", f"{share:.2f}%"]
    assert lines[5].startswith("matmul ")  # sorted by FLOPs
    assert "no gradient nodes" in str(sg.stats(loss))


# -- the contract over the op table ---------------------------------------------------------------------------------

@pytest.mark.parametrize("row", [r for r in ROWS.values() if r.op is not None], ids=lambda r: r.name)
def test_every_op_has_a_cost_rule(row):
    assert row.op.flops is not Op.flops, f"{row.op.__name__} has no flops rule (Op.flops) in {row.op.__module__}"


def _table_cases():
    for row in ROWS.values():
        for k, sample_ in enumerate(row.samples):
            yield pytest.param(row, sample_, id=f"{row.name}-{k}")


@pytest.mark.parametrize("row,sample_", list(_table_cases()))
def test_cost_rules_run_on_every_sample_and_input_shapes_agree(row, sample_):
    combo = row.combos_at(sample_)[0]
    arrays = inputs_for(row, sample_, combo, np.random.default_rng(0))
    expected = numpy_outcome(row, arrays, sample_.kwargs)
    if expected is DTYPE_ERROR:
        return
    exact = [sg.placeholder(a.shape, a.dtype, name=f"in{k}") for k, a in enumerate(arrays)]
    node = row.make(*exact, **sample_.kwargs)
    stats = sg.stats(node)
    assert isinstance(stats.flops, int) and stats.flops >= 0
    computed = [n for n in sg.toposort(node) if n.inputs]
    if len(computed) == 1 and isinstance(expected, np.ndarray):
        assert stats.intermediate_bytes == stats.peak_bytes == expected.nbytes
    if not sample_.unknown:
        return
    unknown = [sg.placeholder((None,) * a.ndim, a.dtype, name=f"in{k}") for k, a in enumerate(arrays)]
    try:
        loose = row.make(*unknown, **sample_.kwargs)
    except (sg.ShapeError, sg.DTypeError):
        return  # the builder needs static sizes here ("same" convolve2d, ...)
    again = sg.stats(loose, {p: a.shape for p, a in zip(unknown, arrays)})  # every shape resolved: no error
    # keyed by name (a composition may reach its inputs in another order than they are given)
    assert {name: math.prod(shape) for name, shape in again.placeholder_shapes.items()} == \
        {p.name: a.size for p, a in zip(unknown, arrays)}
    if [n.op for n in sg.toposort(loose)] == [n.op for n in sg.toposort(node)]:
        for key in ("flops", "flops_by_op", "intermediate_bytes", "peak_bytes"):
            assert again[key] == stats[key], key
    # else unknown sizes built another graph (run-time-shaped ops): the MLP and sum_to tests count those
