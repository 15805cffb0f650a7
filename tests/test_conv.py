"""Convolution and pooling (symgraph.ops.conv): values against direct loops, SciPy and PyTorch, unknown batch sizes,
finite-difference gradients to second order (and third), the max-pool tie rule, and errors that name the user's line.
"""

import importlib.util
import math
import sys

import numpy as np
import pytest
import scipy.signal

import symgraph as sg
from symgraph.ops.conv import (
    avg_pool2d, avg_pool2d_grad, conv2d, conv2d_backprop_filter, conv2d_backprop_input, convolve2d, max_pool2d,
    max_pool2d_gather, max_pool2d_grad,
)
from symgraph.testing import check_grads

HAS_TORCH = importlib.util.find_spec("torch") is not None
rng = np.random.default_rng(0)


def f64(shape):
    return sg.variable(rng.standard_normal(shape))


def distinct(shape, spacing=0.1):
    """Values at least ``spacing`` apart, so finite differences never change a max-pool window's argmax."""
    size = int(np.prod(shape))
    return sg.variable((rng.permutation(size).reshape(shape) - size / 2) * spacing)


# -- direct-loop references (independent of the module's im2col kernels) -------------------------------------------

def pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def explicit_pads(padding, in_hw, k_hw, stride, dilation):
    """((top, bottom), (left, right)) for a padding argument, restating the documented rules."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "full":
        return tuple((d * (k - 1), d * (k - 1)) for k, d in zip(k_hw, dilation))
    if padding == "same":  # TF: output ceil(n / s); the odd unit of padding goes to the bottom / right
        pads = []
        for n, k, s, d in zip(in_hw, k_hw, stride, dilation):
            total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    if isinstance(padding, int):
        return (padding, padding), (padding, padding)
    if isinstance(padding[0], int):
        return tuple((p, p) for p in padding)
    return tuple(tuple(p) for p in padding)


def loop_conv2d(x, w, stride=1, padding="valid", dilation=1):
    stride, dilation = pair(stride), pair(dilation)
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (top, bottom), (left, right) = explicit_pads(padding, (h, wd), (kh, kw), stride, dilation)
    padded = np.zeros((n, c, h + top + bottom, wd + left + right))
    padded[:, :, top:top + h, left:left + wd] = x
    out_h = (padded.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (padded.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(i * stride[0], i * stride[0] + dilation[0] * (kh - 1) + 1, dilation[0])
            cols = slice(j * stride[1], j * stride[1] + dilation[1] * (kw - 1) + 1, dilation[1])
            patch = padded[:, :, rows, cols]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return out


def loop_pool(x, kernel, stride, padding, reduce, fill):
    kh, kw = pair(kernel)
    sh, sw = pair(kernel if stride is None else stride)
    ph, pw = pair(padding)
    n, c, h, w = x.shape
    padded = np.full((n, c, h + 2 * ph, w + 2 * pw), fill)
    padded[:, :, ph:ph + h, pw:pw + w] = x
    out = np.zeros((n, c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = reduce(padded[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw], axis=(2, 3))
    return out


# -- conv2d values --------------------------------------------------------------------------------------------------

PADDINGS = ["valid", "same", "full", 1, (2, 0), ((1, 0), (0, 2))]
KERNELS = [(3, 3), (2, 2), (2, 3)]  # odd, even, mixed
CHANNELS = [(1, 1), (3, 2), (4, 5)]  # (in, out)


@pytest.mark.parametrize("padding", PADDINGS, ids=str)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("kernel, channels", list(zip(KERNELS, CHANNELS)), ids=str)
def test_conv2d_matches_direct_loops(padding, stride, dilation, kernel, channels):
    x = rng.standard_normal((2, channels[0], 9, 8))
    w = rng.standard_normal((channels[1], channels[0]) + kernel)
    y = conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
    expected = loop_conv2d(x, w, stride, padding, dilation)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.eval(), expected, rtol=1e-12, atol=1e-12)
    if padding == "same" and stride == 1:
        assert y.shape[2:] == (9, 8)


def test_conv2d_asymmetric_stride_and_dilation_and_dtypes():
    x = rng.standard_normal((2, 3, 10, 9))
    w = rng.standard_normal((2, 3, 3, 2))
    y = conv2d(x, w, stride=(2, 1), padding="same", dilation=(1, 2))
    np.testing.assert_allclose(y.eval(), loop_conv2d(x, w, (2, 1), "same", (1, 2)), rtol=1e-12, atol=1e-12)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    assert conv2d(x32, w32).dtype == np.float32 and conv2d(x32, w32).eval().dtype == np.float32
    np.testing.assert_allclose(conv2d(x32, w32).eval(), loop_conv2d(x, w), rtol=1e-4, atol=1e-4)
    assert conv2d(x32, w).dtype == np.float64 and conv2d(x32, w).eval().dtype == np.float64  # as NumPy promotes


def test_same_padding_puts_the_odd_unit_on_the_bottom_right_as_tf():
    x = rng.standard_normal((1, 1, 5, 6))
    first_tap = np.zeros((1, 1, 2, 2))
    first_tap[0, 0, 0, 0] = 1.0  # y[i, j] = padded_x[i, j]: no top / left padding means y == x
    np.testing.assert_array_equal(conv2d(x, first_tap, padding="same").eval(), x)
    last_tap = np.zeros((1, 1, 2, 2))
    last_tap[0, 0, 1, 1] = 1.0  # y[i, j] = x[i + 1, j + 1], zero past the bottom / right edge
    expected = np.zeros_like(x)
    expected[:, :, :-1, :-1] = x[:, :, 1:, 1:]
    np.testing.assert_array_equal(conv2d(x, last_tap, padding="same").eval(), expected)
    assert conv2d(x, np.ones((1, 1, 3, 3)), stride=2, padding="same").shape == (1, 1, 3, 3)  # ceil(5/2), ceil(6/2)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (it is a peer dependency: pip install .[peers])")
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("padding", PADDINGS, ids=str)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("kernel, channels", list(zip(KERNELS, CHANNELS)), ids=str)
def test_conv2d_matches_torch(padding, stride, dilation, kernel, channels):
    import torch
    import torch.nn.functional as F

    x = rng.standard_normal((2, channels[0], 9, 8))
    w = rng.standard_normal((channels[1], channels[0]) + kernel)
    (top, bottom), (left, right) = explicit_pads(padding, (9, 8), kernel, pair(stride), pair(dilation))
    padded = F.pad(torch.from_numpy(x), (left, right, top, bottom))
    expected = F.conv2d(padded, torch.from_numpy(w), stride=stride, dilation=dilation).numpy()
    np.testing.assert_allclose(conv2d(x, w, stride, padding, dilation).eval(), expected, rtol=1e-10, atol=1e-10)
    if padding == "same" and stride == 1:  # torch's own "same" (stride 1 only) agrees on the split
        own = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding="same", dilation=dilation).numpy()
        np.testing.assert_allclose(conv2d(x, w, 1, "same", dilation).eval(), own, rtol=1e-10, atol=1e-10)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (it is a peer dependency: pip install .[peers])")
@pytest.mark.parametrize("stride, padding, dilation", [(1, "valid", 1), (2, "same", 1), (2, 1, 2), (1, "full", 2)],
                         ids=str)
def test_conv2d_gradients_match_torch(stride, padding, dilation):
    import torch
    import torch.nn.functional as F

    x_value, w_value = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 2, 3))
    (top, bottom), (left, right) = explicit_pads(padding, (9, 8), (2, 3), pair(stride), pair(dilation))
    tx, tw = torch.tensor(x_value, requires_grad=True), torch.tensor(w_value, requires_grad=True)
    torch.sin(F.conv2d(F.pad(tx, (left, right, top, bottom)), tw, stride=stride, dilation=dilation)).sum().backward()
    x, w = sg.variable(x_value), sg.variable(w_value)
    gx, gw = sg.evaluate(sg.grad(sg.sum(sg.sin(conv2d(x, w, stride, padding, dilation))), [x, w]))
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-10, atol=1e-10)


# -- convolve2d -----------------------------------------------------------------------------------------------------

LECTURE_A = [[0, 0, 1, 2], [2, 2, 0, 0], [2, 1, 2, 2], [3, 0, 1, 1]]
LECTURE_B = [[0, 0, -1], [1, -1, 1], [-1, 1, 1]]
LECTURE = {
    "full": [[0, 0, 0, 0, -1, -2], [0, 0, -1, -1, -1, 2], [2, 0, -3, 0, 1, 0], [0, -1, 4, 3, -1, 1],
             [1, -2, 5, 1, 4, 3], [-3, 3, 2, 0, 2, 1]],
    "valid": [[-3, 0], [4, 3]],
    "same": [[0, -1, -1, -1], [0, -3, 0, 1], [-1, 4, 3, -1], [-2, 5, 1, 4]],
}


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_convolve2d_lecture_example_exactly(mode, dtype):
    a, b = np.array(LECTURE_A, dtype), np.array(LECTURE_B, dtype)
    result = convolve2d(a, b, mode).eval()
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, np.array(LECTURE[mode]))
    np.testing.assert_array_equal(result, scipy.signal.convolve2d(LECTURE_A, LECTURE_B, mode))


SHAPE_PAIRS = [((4, 5), (2, 2)), ((5, 5), (3, 4)), ((4, 5), (6, 7)), ((2, 3), (4, 2)), ((1, 1), (3, 2)),
               ((6, 3), (1, 1)), ((3, 6), (4, 2)), ((7, 7), (7, 7))]


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
def test_convolve2d_matches_scipy(mode, shapes):
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    try:
        expected = scipy.signal.convolve2d(a, b, mode)
    except ValueError:  # 'valid' with neither operand at least as large as the other in every dimension
        with pytest.raises(sg.ShapeError, match="at least as large"):
            convolve2d(a, b, mode)
        return
    result = convolve2d(a, b, mode)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result.eval(), expected, rtol=1e-12, atol=1e-12)


# -- pooling values -------------------------------------------------------------------------------------------------

POOLS = [(k, s, p) for k in (2, 3, (2, 3)) for s in (None, 1, 2, (1, 2)) for p in (0, 1, (1, 0))
         if all(pi <= ki // 2 for pi, ki in zip(pair(p), pair(k)))]


@pytest.mark.parametrize("kernel, stride, padding", POOLS, ids=str)
def test_pools_match_direct_loops(kernel, stride, padding):
    x = rng.standard_normal((2, 3, 7, 8))
    maxed, averaged = max_pool2d(x, kernel, stride, padding), avg_pool2d(x, kernel, stride, padding)
    expected_max = loop_pool(x, kernel, stride, padding, np.max, -np.inf)
    expected_avg = loop_pool(x, kernel, stride, padding, np.mean, 0.0)  # padded zeros count, as PyTorch's default
    assert maxed.shape == expected_max.shape and averaged.shape == expected_avg.shape
    np.testing.assert_array_equal(maxed.eval(), expected_max)
    np.testing.assert_allclose(averaged.eval(), expected_avg, rtol=1e-12, atol=1e-15)


def test_avg_pool_counts_padding_and_pools_keep_dtype():
    ones = np.ones((1, 1, 3, 3), np.float32)
    pooled = avg_pool2d(ones, 3, stride=1, padding=1).eval()
    np.testing.assert_allclose(pooled[0, 0], np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 9, rtol=1e-6)
    assert pooled.dtype == np.float32 and max_pool2d(ones, 2).eval().dtype == np.float32


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (it is a peer dependency: pip install .[peers])")
@pytest.mark.parametrize("kernel, stride, padding", POOLS, ids=str)
def test_pools_match_torch(kernel, stride, padding):
    import torch
    import torch.nn.functional as F

    x = rng.standard_normal((2, 3, 7, 8))
    t = torch.from_numpy(x)
    np.testing.assert_array_equal(max_pool2d(x, kernel, stride, padding).eval(),
                                  F.max_pool2d(t, kernel, stride, padding).numpy())
    np.testing.assert_allclose(avg_pool2d(x, kernel, stride, padding).eval(),
                               F.avg_pool2d(t, kernel, stride, padding).numpy(), rtol=1e-12)


# -- unknown dimensions ---------------------------------------------------------------------------------------------

def test_unknown_batch_shapes_values_and_gradients():
    x = sg.placeholder((None, 1, 8, 8), "float64")
    w = f64((4, 1, 3, 3))
    assert conv2d(x, w).shape == (None, 4, 6, 6)
    assert conv2d(x, w, padding="same").shape == (None, 4, 8, 8)
    assert conv2d(x, w, stride=2, padding="full").shape == (None, 4, 5, 5)
    y = max_pool2d(sg.relu(conv2d(x, w, padding="same")), 2)
    assert y.shape == (None, 4, 4, 4) and avg_pool2d(x, 3, 2, 1).shape == (None, 1, 4, 4)
    cost = sg.sum(sg.square(y))
    gx, gw = sg.grad(cost, [x, w])
    assert gx.shape == (None, 1, 8, 8) and gw.shape == (4, 1, 3, 3)
    for batch in (1, 5):
        values = rng.standard_normal((batch, 1, 8, 8))
        expected = loop_pool(np.maximum(loop_conv2d(values, w.value, 1, "same"), 0), 2, None, 0, np.max, -np.inf)
        np.testing.assert_allclose(y.eval({x: values}), expected, rtol=1e-12)
        assert gx.eval({x: values}).shape == (batch, 1, 8, 8)
    feed = {x: rng.standard_normal((3, 1, 8, 8))}
    check_grads(sg.tanh(conv2d(x, w, stride=2, padding="same")), [x, w], feed, order=2)
    check_grads(sg.sin(avg_pool2d(conv2d(x, w), 2, 1)), [x, w], feed, order=2)


def test_optimized_function_agrees_with_the_reference_evaluator():
    x = sg.placeholder((None, 2, 9, 9), "float64")
    w = f64((3, 2, 3, 3))
    y = avg_pool2d(sg.tanh(conv2d(x, w, 2, "same")), 3, 1, 1) + max_pool2d(conv2d(x, w, 2, "same"), 3, 1, 1)
    cost = sg.sum(sg.square(y))
    outputs = [y] + sg.grad(cost, [x, w]) + [sg.hvp(cost, w, np.ones(w.shape))]
    values = rng.standard_normal((4, 2, 9, 9))
    for got, expected in zip(sg.function([x], outputs, backend="numpy")(values), sg.evaluate(outputs, {x: values})):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_unknown_spatial_sizes_are_resolved_at_run_time():
    x = sg.placeholder((None, 2, None, None), "float64")
    w = f64((3, 2, 2, 3))
    y = conv2d(x, w, stride=2, padding="same")
    assert y.shape == (None, 3, None, None)
    values = rng.standard_normal((2, 2, 7, 6))
    np.testing.assert_allclose(y.eval({x: values}), loop_conv2d(values, w.value, 2, "same"), rtol=1e-12)
    check_grads(sg.sin(max_pool2d(y, 2)), [x, w], {x: values}, order=2)


# -- gradients ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("padding", ["valid", "same", "full", 1, ((1, 0), (0, 2))], ids=str)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("kernel", [(3, 3), (2, 2)], ids=str)
def test_conv2d_gradients_to_second_order(padding, stride, dilation, kernel):
    x, w = f64((2, 2, 7, 6)), f64((3, 2) + kernel)
    check_grads(sg.sin(conv2d(x, w, stride, padding, dilation)), [x, w], order=2)


def test_conv2d_third_order():
    x, w = f64((1, 2, 5, 5)), f64((2, 2, 3, 3))
    first = sg.grad(sg.sum(sg.sin(conv2d(x, w, 2, "same"))), w)
    check_grads(first, [x, w], order=2)  # second order of the gradient: third order of the convolution


def test_conv2d_backprop_ops_gradients():
    x, w, g = f64((2, 3, 6, 7)), f64((4, 3, 3, 2)), f64((2, 4, 3, 4))
    geometry = dict(stride=2, padding="same", dilation=1)
    check_grads(sg.sin(conv2d_backprop_input(g, w, x, **geometry)), [g, w], order=2)
    check_grads(sg.sin(conv2d_backprop_filter(x, g, w, **geometry)), [x, g], order=2)
    # the bilinear identities the rules rest on
    y = conv2d(x, w, **geometry)
    inner = sg.sum(g * y).eval()
    np.testing.assert_allclose(sg.sum(conv2d_backprop_input(g, w, x, **geometry) * x).eval(), inner, rtol=1e-12)
    np.testing.assert_allclose(sg.sum(conv2d_backprop_filter(x, g, w, **geometry) * w).eval(), inner, rtol=1e-12)


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
@pytest.mark.parametrize("shapes", [((5, 6), (3, 2)), ((2, 3), (4, 4))], ids=str)
def test_convolve2d_gradients(mode, shapes):
    a, b = f64(shapes[0]), f64(shapes[1])
    check_grads(sg.sin(convolve2d(a, b, mode)), [a, b], order=2)


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1), (3, 1, 1), ((2, 3), (1, 2), (1, 0))],
                         ids=str)
def test_pool_gradients_to_second_order(kernel, stride, padding):
    x = distinct((2, 3, 7, 6))
    check_grads(sg.sin(max_pool2d(x, kernel, stride, padding)), x, order=2)
    check_grads(sg.sin(avg_pool2d(x, kernel, stride, padding)), x, order=2)
    g = f64(max_pool2d(x, kernel, stride, padding).shape)
    check_grads(sg.sin(max_pool2d_grad(x, g, kernel, stride, padding)), [x, g], order=2)  # zero in x
    check_grads(sg.sin(max_pool2d_gather(x, f64(x.shape), kernel, stride, padding)), x, order=2)
    check_grads(sg.sin(avg_pool2d_grad(g, x, kernel, stride, padding)), g, order=2)


def test_max_pool_ties_go_to_the_first_maximum_in_row_major_order():
    # one 2x2 window per quadrant: all equal; the top row tied after a smaller corner; the bottom row tied
    x = sg.variable(np.array([[[[1., 1., 0., 5.],
                                [1., 1., 5., 2.],
                                [0., 1., 3., 3.],
                                [4., 4., 3., 3.]]]]))
    gradient = sg.grad(sg.sum(max_pool2d(x, 2)), x).eval()[0, 0]
    np.testing.assert_array_equal(gradient, [[1, 0, 0, 1],
                                             [0, 0, 0, 0],
                                             [0, 0, 1, 0],
                                             [1, 0, 0, 0]])
    # overlapping windows (stride 1) on a constant input: each window routes to its own top-left element
    flat = sg.variable(np.zeros((1, 1, 3, 3)))
    counts = sg.grad(sg.sum(max_pool2d(flat, 2, stride=1)), flat).eval()[0, 0]
    np.testing.assert_array_equal(counts, [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    # the second-order op reads the incoming gradient at the same positions
    h = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(max_pool2d_gather(x, h, 2).eval()[0, 0], [[0, 3], [12, 10]])


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (it is a peer dependency: pip install .[peers])")
def test_max_pool_tie_rule_and_gradients_match_torch():
    import torch
    import torch.nn.functional as F

    values = rng.integers(0, 3, (2, 3, 7, 8)).astype(np.float64)  # many ties
    for kernel, stride, padding in [(2, None, 0), (3, 1, 1), ((2, 3), (1, 2), (1, 0))]:
        t = torch.tensor(values, requires_grad=True)
        F.max_pool2d(t, kernel, stride, padding).sum().backward()
        x = sg.variable(values)
        np.testing.assert_array_equal(sg.grad(sg.sum(max_pool2d(x, kernel, stride, padding)), x).eval(),
                                      t.grad.numpy())


def test_lecture_style_cnn_trains_with_unknown_batch():
    data_rng = np.random.default_rng(1)
    images = data_rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
    labels = (images[:, 0, :4].sum((1, 2)) > images[:, 0, 4:].sum((1, 2))).astype(np.int64)
    x = sg.placeholder((None, 1, 8, 8), "float32", name="x")
    t = sg.placeholder((None,), "int64", name="t")
    w1 = sg.variable(data_rng.standard_normal((4, 1, 3, 3)).astype(np.float32) * 0.3)
    w2 = sg.variable(data_rng.standard_normal((4 * 4 * 4, 2)).astype(np.float32) * 0.1)
    hidden = max_pool2d(sg.relu(conv2d(x, w1, padding="same")), 2)
    loss = sg.nn.softmax_cross_entropy(sg.reshape(hidden, (-1, 64)) @ w2, t)
    step = sg.function([x, t], loss, updates={p: p - 0.1 * g for p, g in zip([w1, w2], sg.grad(loss, [w1, w2]))}, backend="numpy")
    losses = [float(step(images, labels)) for _ in range(30)]
    assert losses[-1] < 0.7 * losses[0]
    assert np.isfinite(losses).all()


# -- errors name the building line ----------------------------------------------------------------------------------

def assert_raises_here(error, build, fragment):
    """``build`` (a one-line lambda written on the caller's line) raises ``error`` naming that line of this file."""
    line = sys._getframe(1).f_lineno
    with pytest.raises(error) as info:
        build()
    message = str(info.value)
    assert f"{__file__}:{line}" in message, message
    assert fragment in message, message


def test_errors_name_the_user_line():
    x = sg.placeholder((None, 3, 8, 8), "float64")
    small = sg.placeholder((None, 1, 4, 4), "float64")
    assert_raises_here(sg.ShapeError, lambda: conv2d(x, f64((4, 2, 3, 3))), "channel mismatch")
    assert_raises_here(sg.ShapeError, lambda: conv2d(small, f64((1, 1, 7, 7)), padding=1), "larger than the padded")
    assert_raises_here(sg.ShapeError, lambda: conv2d(small, f64((1, 1, 3, 3)), dilation=3), "dilated to 7")
    assert_raises_here(sg.ShapeError, lambda: conv2d(x, f64((4, 3, 3, 3)), padding="samee"), "padding must be")
    assert_raises_here(sg.ShapeError, lambda: conv2d(x, f64((4, 3, 3, 3)), stride=0), "stride")
    assert_raises_here(sg.ShapeError, lambda: conv2d(x, f64((3, 3, 3))), "rank 4")
    ints = sg.placeholder((None, 3, 8, 8), "int32")
    assert_raises_here(sg.DTypeError, lambda: conv2d(ints, f64((4, 3, 3, 3))), "floating")
    assert_raises_here(sg.DTypeError, lambda: conv2d(x, np.ones((4, 3, 3, 3), np.int64)), "floating")
    assert_raises_here(sg.DTypeError, lambda: max_pool2d(ints, 2), "floating")
    assert_raises_here(sg.DTypeError, lambda: avg_pool2d(ints, 2), "floating")
    assert_raises_here(sg.ShapeError, lambda: max_pool2d(small, 5), "larger than the padded")
    assert_raises_here(sg.ShapeError, lambda: avg_pool2d(small, 2, padding=2), "more than half")
    assert_raises_here(sg.DTypeError, lambda: convolve2d(np.ones((3, 3), bool), np.ones((2, 2), bool)), "two bool")
    assert_raises_here(sg.ShapeError, lambda: convolve2d(f64((3, 3)), f64((0, 2))), "non-empty")
    assert_raises_here(sg.ShapeError, lambda: convolve2d(f64((3, 3)), f64((2, 2)), "bogus"), "mode must be")
    assert_raises_here(sg.ShapeError, lambda: convolve2d(f64((2, 3)), f64((4, 2)), "valid"), "at least as large")
    assert_raises_here(sg.ShapeError, lambda: convolve2d(f64((1, 2, 3)), f64((2, 2))), "takes 2-D arrays")
    nhwc = sg.placeholder((None, 8, 8, 3), "float64")
    assert_raises_here(sg.ShapeError, lambda: conv2d(nhwc, f64((4, 3, 3, 3))), "looks like NHWC data?")


def test_convolve2d_messages_name_the_operand_once():
    with pytest.raises(sg.ShapeError) as caught:
        convolve2d(f64((3,)), f64((2, 2)))
    first_line = str(caught.value).splitlines()[0]
    assert first_line == "convolve2d: takes 2-D arrays, but the first operand has shape (3,)", first_line


def test_conv2d_with_unknown_channels_fed_nhwc_data_names_the_mismatch():
    x = sg.placeholder((None, None, None, None), "float32", name="images")
    y = conv2d(x, sg.variable(np.ones((4, 3, 2, 2), np.float32)))
    with pytest.raises(sg.EvaluationError) as caught:
        y.eval({x: np.ones((2, 5, 5, 3), np.float32)})
    message = str(caught.value)
    assert "channel mismatch: the input of shape (2, 5, 5, 3) has 5 channels along axis 1 (NCHW) but the filter of " \
           "shape (4, 3, 2, 2) (OIHW) expects 3 (looks like NHWC data?" in message, message
    assert "conv2d node" in message and f"{__file__}:" in message and "gufunc" not in message
    np.testing.assert_array_equal(y.eval({x: np.ones((2, 3, 5, 5), np.float32)}), np.full((2, 4, 4, 4), 12.0))


@pytest.mark.parametrize("build,feed_shape,fragment", [
    (lambda x: conv2d(x, f64((1, 1, 3, 3))), (1, 1, 2, 5), "the kernel's height 3 is larger than the padded input's 2"),
    (lambda x: max_pool2d(x, 3), (1, 1, 5, 2), "the kernel's width 3 is larger than the padded input's 2"),
    (lambda x: avg_pool2d(x, 3), (1, 1, 2, 2), "larger than the padded input"),
])
def test_geometry_unknown_statically_is_checked_at_run_time(build, feed_shape, fragment):
    x = sg.placeholder((None, None, None, None), "float64", name="x")
    node = build(x)
    with pytest.raises(sg.EvaluationError, match=fragment) as caught:
        node.eval({x: np.ones(feed_shape)})
    assert f"{node.op.name} node" in str(caught.value) and f"{__file__}:" in str(caught.value)


def test_backprop_ops_check_unknown_shapes_at_run_time():
    g, x = sg.placeholder((None,) * 4, "float64", name="g"), sg.placeholder((None,) * 4, "float64", name="x")
    node = conv2d_backprop_input(g, f64((2, 3, 2, 2)), x)
    with pytest.raises(sg.EvaluationError, match="the gradient's channels and the filter's output channels differ"):
        node.eval({g: np.ones((1, 5, 3, 3)), x: np.ones((1, 3, 4, 4))})
    node = conv2d_backprop_filter(x, g, f64((2, 3, 2, 2)))
    with pytest.raises(sg.EvaluationError, match="the gradient's height and the convolution output's differ"):
        node.eval({g: np.ones((1, 2, 2, 3)), x: np.ones((1, 3, 4, 4))})
    node = max_pool2d_grad(x, g, 2)
    with pytest.raises(sg.EvaluationError, match="the gradient's shape"):
        node.eval({g: np.ones((1, 3, 3, 2)), x: np.ones((1, 3, 4, 4))})


@pytest.mark.parametrize("x_shape,w_shape,padding", [
    ((0, 3, 5, 5), (4, 3, 2, 2), "valid"), ((2, 0, 5, 5), (4, 0, 2, 2), "valid"), ((2, 3, 5, 5), (0, 3, 2, 2), "same"),
    ((2, 3, 0, 5), (4, 3, 3, 2), "same"), ((0, 3, 4, 4), (2, 3, 3, 3), "full"),
])
def test_conv2d_of_empty_arrays_gives_empty_or_zero_results(x_shape, w_shape, padding):
    """Empty batches, channels or filter banks give empty outputs; no channels or no windows give zeros back."""
    x, w = sg.variable(np.ones(x_shape)), sg.variable(np.ones(w_shape))
    y = conv2d(x, w, padding=padding)
    value, dx, dw = sg.evaluate([y, *sg.grad(sg.sum(y), [x, w])])
    expected = loop_conv2d(x.value, w.value, padding=padding) if 0 not in x_shape[2:] else np.zeros(y.shape)
    assert value.shape == y.shape == expected.shape
    np.testing.assert_array_equal(value, expected)
    # every case has an empty output, or an empty x and w: the gradients are zeros (or empty) of their shapes
    np.testing.assert_array_equal(dx, np.zeros(x_shape))
    np.testing.assert_array_equal(dw, np.zeros(w_shape))


@pytest.mark.parametrize("dtypes", [("int64", "int64"), ("int32", "int32"), ("int32", "int64"), ("int64", "float32"),
                                    ("int32", "float32"), ("bool", "int32"), ("float32", "float64")], ids=str)
@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_convolve2d_promotes_integer_operands_as_scipy(dtypes, mode):
    a, b = np.array(LECTURE_A).astype(dtypes[0]), np.array(LECTURE_B).astype(dtypes[1])
    if dtypes[0] == "bool":
        a = a > 1
    expected = scipy.signal.convolve2d(a, b, mode)
    result = convolve2d(a, b, mode).eval()
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)


def test_convolve2d_of_the_lecture_integer_matrices():
    """The notes' own integer matrices, as SciPy takes them: int64 in, int64 out, exactly."""
    result = convolve2d(LECTURE_A, LECTURE_B, "full")
    assert result.dtype == np.int64
    np.testing.assert_array_equal(result.eval(), LECTURE["full"])
    x = sg.variable(np.array(LECTURE_A, np.float64))
    gradient = sg.grad(sg.sum(convolve2d(x, LECTURE_B, "valid")), x).eval()
    np.testing.assert_array_equal(gradient, scipy.signal.correlate2d(np.ones((2, 2)), np.array(LECTURE_B), "full"))
