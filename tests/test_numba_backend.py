"""The Numba backend: fusion, generated source, the function contract (feeds, errors, updates), threads.

Per-op parity with the NumPy backend comes from the op table (test_op_values.py / test_grad_ops.py run on every
backend); this file tests what is particular to compiling whole graphs. Compiled programs are shared between test
cases where the graph is the same; the cache directory is the session's (conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import symgraph as sg
from symgraph.backends.numba.fusion import build_schedule
from symgraph.backends.numba.program import module_name


RNG = np.random.default_rng(0)
RNG_INPUTS = np.random.default_rng(1)


# -- fusion ------------------------------------------------------------------------------------------------------

def test_a_reduction_consumes_its_elementwise_producer_in_one_loop():
    a = sg.placeholder((None, 5), "float64", name="a")
    b = sg.placeholder((None, 5), "float64", name="b")
    product = a * b
    total = sg.sum(product)
    schedule = build_schedule([total])
    (loop,) = schedule.kernels
    assert [m.op.name for m in loop.members] == ["mul", "sum"]
    assert id(product) not in schedule.stored  # sum(a * b) never materializes a * b
    f = sg.function([a, b], total, backend="numba", optimize=False)
    A, B = RNG.standard_normal((2, 7, 5))
    np.testing.assert_allclose(f(A, B), np.sum(A * B), rtol=1e-12)


def test_inner_reduced_axes_accumulate_in_a_register_before_joining_the_output():
    """sum over (0, 2, 3) keeps axis 1: the inner axes (2, 3) are summed into a scalar, added to the output element
    once per (i0, i1), so the innermost loop carries no memory dependence; NaN still reaches the result."""
    x = sg.placeholder((None, 3, 4, 5), "float64", name="x")
    outputs = [sg.sum(x * 2.0, axis=(0, 2, 3)), sg.max(x, axis=(0, 3), keepdims=True), sg.mean(x, axis=(0, 2, 3))]
    f = sg.function([x], outputs, backend="numba", optimize=False)
    assert re.search(r"acc_sum_\d+ = accumulate\(acc_sum_\d+, ", f.source)
    assert re.search(r"out_sum_\d+\[i1\] = accumulate\(out_sum_\d+\[i1\], acc_sum_\d+\)", f.source)
    X = RNG.standard_normal((6, 3, 4, 5))
    X[2, 1, 3, 4] = np.nan
    expected = [np.sum(X * 2.0, axis=(0, 2, 3)), np.max(X, axis=(0, 3), keepdims=True), np.mean(X, axis=(0, 2, 3))]
    for got, want in zip(f(X), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert got.shape == want.shape


def _merged_loops(source: str) -> list:
    """The extents of the merged loops of a generated module: ["n2 * n3", ...]."""
    return re.findall(r"n_merged\w* = ([n\d *]+)  # the contiguous inner dimensions", source)


def _loop_of(source: str, name: str) -> str:
    """The lines of the generated loop that computes the node named ``name``, from its comment to the next loop's."""
    blocks = re.split(r"\n(?=    # loop over |\n)", source)
    (block,) = [b for b in blocks if re.match(rf"    # loop over .*: .*\b\w+ {name}\b", b)]
    return block


def test_contiguous_inner_dimensions_run_as_one_loop():
    """An elementwise loop over (N, 3, 4, 5) whose arrays are all indexed by their own last dimensions, or not by
    them (a bias broadcast along them), runs its inner dimensions as one loop; values as NumPy's, on a feed, a
    variable (read-only), a reshape of a product (a view that is contiguous) and a lower-rank broadcast feed."""
    x = sg.placeholder((None, 3, 4, 5), "float64", name="x")
    y = sg.placeholder((None, 3, 4, 5), "float64", name="y")
    plane = sg.placeholder((4, 5), "float64", name="plane")
    bias = sg.variable(RNG.standard_normal((3, 1, 1)), name="bias")
    flat = sg.placeholder((None, 60), "float64", name="flat")
    product = sg.reshape(flat @ sg.constant(RNG.standard_normal((60, 60))), (-1, 3, 4, 5))
    whole = sg.relu(x * y + product)  # every array indexed by all four indices
    by_plane = sg.tanh(x) * plane + bias  # plane[i2, i3], bias[i1]: the planes of 20 values run as one loop
    f = sg.function([x, y, plane, flat], [whole, by_plane], backend="numba", optimize=False)
    assert sorted(_merged_loops(f.source)) == ["n0 * n1 * n2 * n3", "n2 * n3"], f.source
    (X, Y), P = RNG.standard_normal((2, 2, 3, 4, 5)), RNG.standard_normal((4, 5))
    F = RNG.standard_normal((2, 60))
    want_product = (F @ product.inputs[0].inputs[1].value).reshape(2, 3, 4, 5)
    got_whole, got_by_plane = f(X, Y, P, F)
    np.testing.assert_allclose(got_whole, np.maximum(X * Y + want_product, 0), rtol=1e-12)
    np.testing.assert_allclose(got_by_plane, np.tanh(X) * P + bias.value, rtol=1e-12)


@pytest.mark.parametrize("reduce,merged", [
    (lambda v: sg.sum(v, axis=(0, 2, 3)), "n2 * n3"),  # the bias gradient of a conv layer: the planes reduced
    (lambda v: sg.sum(v, axis=0), "n1 * n2 * n3"),  # the reduced axis outside: the output indexed by the merged ones
    (lambda v: sg.mean(v), "n1 * n2 * n3"),  # a whole-loop reduction: blocks of i0 keep their level
    (lambda v: sg.max(v, axis=(1, 2, 3), keepdims=True), "n1 * n2 * n3"),
    (lambda v: sg.max(v, axis=(0, 3), keepdims=True), None),  # reduces one of the inner dimensions, not both
], ids=["sum023", "sum0", "mean", "max123", "max03"])
def test_reductions_merge_the_inner_dimensions_they_reduce_all_or_none_of(reduce, merged):
    x = sg.placeholder((None, 3, 4, 5), "float64", name="x")
    f = sg.function([x], reduce(sg.tanh(x)), backend="numba", optimize=False)
    assert _merged_loops(f.source) == ([merged] if merged else []), f.source
    X = RNG.standard_normal((6, 3, 4, 5))
    np.testing.assert_allclose(f(X), sg.evaluate(reduce(sg.tanh(x)), {x: X}), rtol=1e-12)


@pytest.mark.parametrize("other", ["plain", "transposed", "folded transpose", "strided slice", "concatenated part"])
def test_inner_dimensions_stay_a_nest_where_an_array_is_not_read_in_their_order(other):
    """A transposed read, a constant that folding left transposed (not C-ordered), a strided slice and a part of a
    concatenation's gradient (a view of it) are not contiguous in the loop's inner dimensions: those loops keep
    their levels (merging would read the wrong elements). The plain case, x itself, merges."""
    x = sg.placeholder((None, 3, 4, 4), "float64", name="x")
    values = RNG.standard_normal((2, 3, 4, 4))
    wide = sg.placeholder((None, 3, 4, 8), "float64", name="wide")
    wide_values = RNG.standard_normal((2, 3, 4, 8))
    inputs, feeds = [x], [values]
    if other == "plain":
        operand, expected = sg.sin(x), np.sin(values)
    elif other == "transposed":
        operand, expected = sg.transpose(x, (0, 1, 3, 2)), np.transpose(values, (0, 1, 3, 2))
    elif other == "folded transpose":  # constant folding keeps the transpose's strides
        array = RNG.standard_normal((3, 4, 4))
        operand, expected = sg.transpose(sg.constant(array), (0, 2, 1)), np.transpose(array, (0, 2, 1))
    elif other == "strided slice":
        operand, expected = wide[:, :, :, ::2], wide_values[:, :, :, ::2]
        inputs, feeds = [x, wide], [values, wide_values]
    else:  # the gradient of a concatenation: a part of the output's gradient, an array view of it
        rest = sg.placeholder((None, 3, 4, 4), "float64", name="rest")
        joined = sg.concatenate([x, rest], axis=3)
        operand, expected = sg.grad(sg.sum(joined * sg.sin(wide)), x), np.sin(wide_values)[:, :, :, :4]
        inputs, feeds = [x, wide, rest], [values, wide_values, values]
    f = sg.function(inputs, sg.mul(sg.exp(x), operand, name="product"), backend="numba")
    if other == "folded transpose":
        assert [n.value.flags.c_contiguous for n in f._program.constants] == [False]
    product_loop = _loop_of(f.source, "product")
    if other == "plain":
        assert "n_merged" in product_loop, product_loop
    else:
        assert "n_merged" not in product_loop and "for i3 in range(n3):" in product_loop, product_loop
    np.testing.assert_allclose(f(*feeds), np.exp(values) * expected, rtol=1e-12)


def test_values_read_elsewhere_or_at_another_index_are_stored():
    x = sg.placeholder((4, 3), "float64", name="x")
    e = sg.exp(x)
    y = e + sg.transpose(e).sum(axis=0)[:, None]  # e read at (i, j) and, transposed, at (j, i)
    schedule = build_schedule([y])
    assert id(e) in schedule.stored
    f = sg.function([x], y, backend="numba", optimize=False)
    X = RNG.standard_normal((4, 3))
    np.testing.assert_allclose(f(X), np.exp(X) + np.exp(X).T.sum(axis=0)[:, None])


def test_sibling_updates_of_one_parameter_share_a_loop():
    w = sg.variable(np.ones((6, 4), np.float32), name="w")
    x = sg.placeholder((None, 6), name="x")
    loss = sg.sum(sg.square(x @ w))
    updates = sg.optim.Adam(0.01).updates(loss, [w])
    targets = [loss] + list(updates.values())
    schedule = build_schedule(targets)
    loops_over_w = [k for k in schedule.kernels if k.kind == "loop" and k.space == (6, 4)]
    assert len(loops_over_w) == 1  # m, v and w's updates: one pass over the gradient


def test_values_with_dimensions_of_size_1_fuse_like_any_other():
    """A one-input-channel filter (32, 1, 5, 5): its update reads lr * gradient at [i0, 0, i2, i3] (a size-1
    dimension is read at 0), which is the loop's own element, so the scaling and the update are one loop and the
    scaled gradient never reaches memory; the new value is computed into the gradient's array. Values: NumPy's."""
    k = sg.variable(RNG.standard_normal((4, 1, 3, 3)).astype(np.float32), name="k")
    x = sg.placeholder((None, 1, 6, 6), name="x")
    loss = sg.sum(sg.square(sg.nn.conv2d(x, k, padding="same")))
    new_k = sg.optim.SGD(0.01).updates(loss, [k])[k]
    schedule = build_schedule([new_k])
    loops = [kernel for kernel in schedule.kernels if kernel.kind == "loop" and kernel.space == (4, 1, 3, 3)]
    assert len(loops) == 1 and [m.op.name for m in loops[0].members] == ["mul", "sub"], loops
    assert id(loops[0].members[0]) not in schedule.stored
    step = sg.function([x], loss, updates={k: new_k}, backend="numba", optimize=False)
    reference = sg.function([x], sg.grad(loss, k), backend="numpy", optimize=False)
    X = RNG.standard_normal((2, 1, 6, 6)).astype(np.float32)
    before = k.value.copy()
    gradient = reference(X)
    step(X)
    np.testing.assert_allclose(k.value, before - np.float32(0.01) * gradient, rtol=1e-5, atol=1e-6)
    assert re.search(r"g_k\w* = np.empty\(.*\)  # g_k\w* first; sub_\d+'s loop overwrites it", step.source), step.source


def test_the_update_loops_of_every_layer_run_together_after_the_gradient_products():
    x = sg.placeholder((None, 6), name="x")
    h = sg.layers.dense(x, 5, activation=sg.tanh, name="h1", rng=0)
    loss = sg.sum(sg.square(sg.layers.dense(h, 3, name="h2", rng=1)))
    params = sg.trainable_variables(loss)
    updates = sg.optim.SGD(0.1).updates(loss, params)
    kernels = build_schedule([loss] + list(updates.values())).kernels
    new_values = [updates[p] for p in params]  # (not the optimizer's step counter)
    updating = [k for k, kernel in enumerate(kernels) if kernel.kind == "loop"
                and any(m is v for m in kernel.members for v in new_values)]
    assert len(updating) == 4  # each parameter's update is a loop of its own space
    assert updating == list(range(updating[0], updating[0] + 4))  # no product between them: one compiled stage
    assert all(kernel.kind == "loop" for kernel in kernels[updating[0]:])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_into_writes_every_layout_of_operands_in_place(dtype):
    from symgraph.backends.numba.kernels.blas import gemm_into
    a = RNG.standard_normal((7, 5)).astype(dtype)
    b = RNG.standard_normal((5, 4)).astype(dtype)
    layouts = {"C": lambda m: m, "F": np.asfortranarray, "strided": lambda m: np.repeat(m, 2, axis=1)[:, ::2]}
    for (name_a, left), (name_b, right) in [(p, q) for p in layouts.items() for q in layouts.items()]:
        out = np.full((7, 4), np.nan, dtype)  # beta 0: the NaN left in out is never read
        gemm_into(left(a), right(b), out)
        np.testing.assert_allclose(out, a @ b, rtol=1e-5, err_msg=f"{name_a} @ {name_b}")
        gemm_into(left(a), right(b), out, True)
        np.testing.assert_allclose(out, 2 * (a @ b), rtol=1e-5, err_msg=f"{name_a} @ {name_b}, accumulated")
    empty = np.full((7, 4), np.nan, dtype)
    gemm_into(np.ones((7, 0), dtype), np.ones((0, 4), dtype), empty)
    assert (empty == 0).all()  # a sum of no products
    columns = np.full((8, 3), np.nan, dtype)[:, :2]  # an out gemm cannot write in place: written through a copy
    gemm_into(np.ones((8, 5), dtype), b[:, :2], columns)
    np.testing.assert_allclose(columns, np.ones((8, 5)) @ b[:, :2], rtol=1e-5)


# -- blocked and chunked loops -------------------------------------------------------------------------------------

CHUNKED_SHAPE = (2048, 128)  # 262,144 elements: with its vector math, the loop's work passes PARALLEL_WORK


@pytest.fixture(scope="module")
def chunked_function():
    """One loop over a large static space with every kind of scalar accumulation: whole-loop sum, mean and max (block
    partials), and a sum over the inner axis (one output element per row)."""
    x = sg.placeholder(CHUNKED_SHAPE, "float32", name="x")
    y = sg.tanh(x * 0.5) * sg.exp(-x * x) + sg.sigmoid(x) * x
    outputs = [y, sg.sum(y), sg.mean(y), sg.max(x), sg.sum(y, axis=1)]
    f = sg.function([x], outputs, backend="numba")

    def reference(X):
        X = X.astype(np.float64)
        Y = np.tanh(X * 0.5) * np.exp(-X * X) + X / (1 + np.exp(-X))
        return [Y, np.sum(Y), np.mean(Y), np.max(X), np.sum(Y, axis=1)]

    return f, lambda k: RNG_INPUTS.standard_normal(CHUNKED_SHAPE).astype(np.float32), reference


def test_a_large_independent_loop_is_a_chunked_stage(chunked_function):
    f = chunked_function[0]
    assert re.search(r"def stage_\d+\([^)]*block_start, block_stop, combine\):", f.source)
    assert "_run_chunked(stage_" in f.source
    assert re.search(r"for i0 in range\(hi - lo\):", f.source)  # i0 counts from the block's first row


def test_chunked_runs_agree_bitwise_with_one_thread_and_with_numpy(chunked_function):
    """The block partials are combined in block order whatever the threads did: 2 threads give bitwise the results
    of 1 (reductions included), and both agree with float64 NumPy; NaN and inf in a late block still reach the
    reductions as in NumPy."""
    f, make_input, reference = chunked_function
    module = f._program._module
    X = make_input(0)
    special = X.copy()
    special[1900, 5] = np.nan
    special[2000, 7] = np.inf
    before = sg.get_num_threads()
    try:
        sg.set_num_threads(1)
        one = [f(X), f(special)]
        sg.set_num_threads(2)
        module._workers.clear()  # (a started worker stays; cleared so that this call must start one)
        module._timings.clear()  # the first call of a stage with 2 threads splits
        two = [f(X), f(special)]
        assert module._workers, "the 2-thread call did not split its loop"
    finally:
        sg.set_num_threads(before)
    for got_one, got_two in zip(one, two):
        for a, b in zip(got_one, got_two):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype == np.float32
    y, total, mean, largest, row_sums = one[0]
    Y, *_ = expected = reference(X)
    np.testing.assert_allclose(y, Y, rtol=2e-6, atol=1e-6)
    # float32 sums: within a few float32 roundings of the terms' magnitude (cancellation makes rtol meaningless)
    assert abs(float(total) - expected[1]) <= 2e-6 * np.abs(Y).sum()
    assert abs(float(mean) - expected[2]) <= 2e-6 * np.abs(Y).mean()
    assert float(largest) == expected[3]
    assert np.all(np.abs(row_sums - expected[4]) <= 2e-6 * np.abs(Y).sum(axis=1))
    with np.errstate(invalid="ignore"):
        expected_special = reference(special)
    for got, want in zip(one[1], expected_special):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))


def test_chunked_runs_cover_every_block_once_and_keep_to_the_faster_way(monkeypatch):
    """The driver's pool (plain Python, tested with a stand-in stage): a split call runs disjoint block ranges that
    cover every block, then the combine step. The first call starts the pool's thread, so the second splits again to
    time it, the third runs alone; afterwards the faster way is kept, the slower probed every PROBE_EVERY calls. An
    error in a range reaches the caller."""
    from symgraph.backends.numba import chunking

    monkeypatch.setattr(chunking, "num_threads", 2)
    monkeypatch.setattr(chunking, "_timings", {})
    monkeypatch.setattr(chunking, "_workers", [])
    calls, lock = [], threading.Lock()

    def stage(delay, start, stop, combine):
        if stop - start < 100:  # a range of a split call: slow, so that running alone becomes the faster way
            time.sleep(delay)
        with lock:
            calls.append((start, stop, combine))

    blocking = (1, 100, chunking.PARALLEL_WORK)
    chunking._run_chunked(stage, (0.002,), blocking, True)
    ranges = sorted((a, b) for a, b, combine in calls if not combine)
    assert [a for a, _ in ranges] == [b for _, b in [(0, 0)] + ranges[:-1]] and ranges[-1][1] == 100
    assert len(ranges) == 2 * chunking.RANGES_PER_THREAD and calls[-1] == (0, 0, True)
    ways = []
    for _ in range(2 * chunking.PROBE_EVERY):
        calls.clear()
        chunking._run_chunked(stage, (0.002,), blocking, True)
        ways.append("alone" if calls == [(0, 100, True)] else "split")
    assert ways[:2] == ["split", "alone"]
    assert ways.count("split") == 3  # and 2 probes: split is the slower way here
    small = (1, 100, chunking.PARALLEL_WORK - 1)
    calls.clear()
    chunking._run_chunked(stage, (0.0,), small, True)
    assert calls == [(0, 100, True)]  # below PARALLEL_WORK: never split

    def failing(start, stop, combine):
        if start <= 60 < stop:
            raise ValueError("range with block 60")

    monkeypatch.setattr(chunking, "_timings", {})
    with pytest.raises(ValueError, match="block 60"):
        chunking._run_chunked(failing, (), blocking, True)


def test_block_partials_make_float32_sums_nearly_as_accurate_as_numpy():
    """A float32 sum of 1M terms summed in one vectorized pass had a relative error ~1e-5 against float64; block
    partials combined pairwise bring it to NumPy's pairwise sum (~1e-8). Unknown sizes, empty inputs included."""
    x = sg.placeholder((None,), "float32", name="x")
    m = sg.placeholder((None, None), "float32", name="m")
    # sum(m, axis=0) accumulates into its output array across the blocks of sum(m)'s loop
    outputs = [sg.sum(x), sg.mean(x), sg.sum(m), sg.sum(m, axis=1), sg.sum(m, axis=0), sg.min(m),
               sg.prod(m * 0.001 + 1.0)]
    f = sg.function([x, m], outputs, backend="numba")
    X = np.random.default_rng(2).random(1_000_000, dtype=np.float32)
    M = np.random.default_rng(3).random((3000, 7), dtype=np.float32)
    total, mean, matrix_total, row_sums, column_sums, smallest, product = f(X, M)
    exact = np.sum(X, dtype=np.float64)
    assert abs(float(total) - exact) / exact < 3e-7
    assert abs(float(mean) - exact / X.size) / (exact / X.size) < 3e-7
    np.testing.assert_allclose(float(matrix_total), np.sum(M, dtype=np.float64), rtol=3e-7)
    np.testing.assert_allclose(row_sums, M.sum(axis=1, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(column_sums, M.sum(axis=0, dtype=np.float64), rtol=1e-5)
    assert float(smallest) == M.min()
    np.testing.assert_allclose(float(product), np.prod(M.astype(np.float64) * 0.001 + 1.0), rtol=1e-5)
    with np.errstate(invalid="ignore", divide="ignore"), pytest.raises(sg.EvaluationError, match="zero-size"):
        f(np.zeros(0, np.float32), np.zeros((0, 3), np.float32))  # min has no identity: refused, as NumPy does
    empty_f = sg.function([x, m], outputs[:5], backend="numba")
    with np.errstate(invalid="ignore", divide="ignore"):
        empty = empty_f(np.zeros(0, np.float32), np.zeros((0, 3), np.float32))
    assert float(empty[0]) == 0.0 and np.isnan(empty[1]) and float(empty[2]) == 0.0 and empty[3].shape == (0,)
    np.testing.assert_array_equal(empty[4], np.zeros(3, np.float32))
    inner_empty = empty_f(X, np.zeros((4, 0), np.float32))
    assert float(inner_empty[2]) == 0.0 and np.array_equal(inner_empty[3], np.zeros(4, np.float32))


def test_loops_whose_rows_depend_on_each_other_are_never_chunked():
    """A sum over the outer axis accumulates every row into the same output elements: one thread only; the same
    loop summed over its inner axis (one output element per row) is chunked."""
    x = sg.placeholder((4096, 128), "float32", name="x")
    terms = sg.tanh(x) * sg.exp(-x * x) * sg.sigmoid(x) + x
    column_sums = sg.function([x], sg.sum(terms, axis=0), backend="numba")
    row_sums = sg.function([x], sg.sum(terms, axis=1), backend="numba")
    assert "_run_chunked(" not in column_sums.source
    assert "_run_chunked(" in row_sums.source
    X = np.random.default_rng(4).standard_normal((4096, 128)).astype(np.float32)
    X64 = X.astype(np.float64)
    T = np.tanh(X64) * np.exp(-X64 * X64) / (1 + np.exp(-X64)) + X64
    before = sg.get_num_threads()
    try:
        sg.set_num_threads(2)
        got_columns, got_rows = column_sums(X), row_sums(X)
    finally:
        sg.set_num_threads(before)
    assert np.all(np.abs(got_columns - T.sum(axis=0)) <= 2e-6 * np.abs(T).sum(axis=0))
    assert np.all(np.abs(got_rows - T.sum(axis=1)) <= 2e-6 * np.abs(T).sum(axis=1))


# -- generated source -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mlp_step():
    """A small MLP training step compiled once for the tests that inspect it."""
    x = sg.placeholder((None, 8), name="x")
    labels = sg.placeholder((None,), "int64", name="labels")
    h1 = sg.layers.dense(x, 16, activation=sg.relu, name="h1", rng=0)
    logits = sg.layers.dense(h1, 3, name="out", rng=1)
    loss = sg.nn.softmax_cross_entropy(logits, labels)
    params = sg.trainable_variables(loss)
    updates = sg.optim.SGD(0.1, momentum=0.9).updates(loss, params)
    return x, labels, loss, updates, params


def test_source_is_readable_and_names_the_user_lines(mlp_step):
    x, labels, loss, updates, _ = mlp_step
    f = sg.function([x, labels], loss, updates=updates, backend="numba")
    source = f.source
    assert "def run(x, labels, h1_W, h1_b" in source
    assert "gemm_into(x, h1_W" in source  # BLAS, operands named after the graph's nodes
    assert f"{__file__.rsplit('/', 1)[-1]}:" in source  # comments name the user's file:line
    assert "@numba.njit(cache=True" in source
    # gradient statements say whose gradient they compute; forward statements do not
    assert re.search(r"# matmul \(8, 16\) float32 at .*, grad of h1_W$", source, re.M)
    assert re.search(r"# sum\(axes=\(0,\), keepdims=False\) \(16,\) float32 at .*, grad of h1_b$", source, re.M)
    # the gradient of each parameter is named after it, and the update reads it under that name
    assert re.search(r"gemm_into\(\w+, \w+, g_h1_W\)$", source, re.M)
    assert re.search(r"^\s+g_h1_b\[i1\] = accumulate\(g_h1_b\[i1\], ", source, re.M)
    assert re.search(r"\bg_h1_W\[i0, i1\]", source)  # (8, 16): too small for merged loops to pay
    # a layer's unnamed nodes are named after the layer (the scope of its variables, h1/W)
    zero = r"np\.float32\(0\.0\)"
    assert re.search(rf"^\s+e_h1_relu = \({zero} if e_h1_add <= {zero} else e_h1_add\)", source, re.M)
    assert "gemm_into(x, h1_W, h1_matmul)" in source
    forward_lines = [line for line in source.splitlines() if "e_h1_relu = " in line]  # the forward relu
    assert forward_lines and not any("grad of" in line for line in forward_lines)
    with open(f.source_path) as file:
        assert file.read() == source


def test_a_thread_keeps_the_plans_of_its_latest_input_shapes_only():
    """Each input-shape signature gets its plan and buffers; a thread keeps those of the last PLANS_KEPT signatures
    (the oldest goes first), so that feeding many batch sizes does not keep as many sets of buffers alive; a shape
    whose plan went is planned again."""
    x = sg.placeholder((None, 3), name="x")
    w = sg.constant(np.arange(6.0, dtype=np.float32).reshape(3, 2))
    f = sg.function([x], [sg.sum(sg.tanh(x @ w), axis=0)], backend="numba")
    module = f._program._module
    sizes = [1, 2, 3, 4, 5, 6, 2]
    for rows in sizes:
        X = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3) / 10
        (got,) = f(X)
        np.testing.assert_allclose(got, np.tanh(X @ np.arange(6.0).reshape(3, 2)).sum(axis=0), rtol=1e-5)
    assert module.PLANS_KEPT == 4
    assert [key[0][0] for key in module._local.plans] == [4, 5, 6, 2]


def test_generated_module_runs_without_symgraph(mlp_step, tmp_path):
    x, labels, loss, updates, params = mlp_step
    f = sg.function([x, labels], loss, updates=updates, backend="numba")
    X = RNG.standard_normal((5, 8)).astype(np.float32)
    Y = RNG.integers(0, 3, 5)
    program = f._program
    arguments = [X, Y] + [v.value for v in program.variables] + [c.value for c in program.constants]
    np.savez(tmp_path / "args.npz", *arguments)
    script = f"""
import importlib.util, sys
import numpy as np
sys.modules['symgraph'] = None  # any import of symgraph fails
name = {module_name(f.source_path)!r}  # the name Numba's cache knows the module by
spec = importlib.util.spec_from_file_location(name, {f.source_path!r})
module = importlib.util.module_from_spec(spec); sys.modules[name] = module; spec.loader.exec_module(module)
data = np.load({str(tmp_path / 'args.npz')!r})
values = module.run(*[data[f'arr_{{k}}'] for k in range({len(arguments)})])
print(repr(float(values[0])))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    expected = float(sg.function([x, labels], loss, backend="numpy")(X, Y))
    assert float(result.stdout.strip()) == pytest.approx(expected, rel=1e-5)


# -- the function contract ----------------------------------------------------------------------------------------

def test_training_steps_agree_with_the_numpy_backend(mlp_step):
    x, labels, loss, updates, params = mlp_step
    X = RNG.standard_normal((6, 8)).astype(np.float32)
    Y = RNG.integers(0, 3, 6)
    start = {v: v.value.copy() for v in sg.toposort(list(updates.values())) if isinstance(v, sg.graph.Variable)}
    results = {}
    for backend in ("numpy", "numba"):
        for variable, value in start.items():
            variable.assign(value)
        step = sg.function([x, labels], loss, updates=updates, backend=backend)
        losses = [float(step(X, Y)) for _ in range(4)]
        results[backend] = losses, {v: v.value.copy() for v in start}
    np.testing.assert_allclose(results["numba"][0], results["numpy"][0], rtol=1e-5)
    for variable in start:
        np.testing.assert_allclose(results["numba"][1][variable], results["numpy"][1][variable], rtol=1e-5,
                                   atol=1e-6, err_msg=variable.name)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_a_gradient_read_by_its_update_alone_is_computed_into_the_update_output(optimizer):
    """A parameter's gradient has no buffer of its own: it is computed into the array of the update that alone reads
    it, which overwrites it element by element (Adam's two moments both read it: it goes to the second). The steps
    agree with the NumPy backend."""
    x = sg.placeholder((None, 6), name="x")
    labels = sg.placeholder((None,), "int64", name="labels")
    w = sg.variable(RNG.standard_normal((6, 4)).astype(np.float32), name="w")
    loss = sg.nn.softmax_cross_entropy(x @ w, labels)
    rule = {"sgd": sg.optim.SGD(0.1), "momentum": sg.optim.SGD(0.1, momentum=0.9), "adam": sg.optim.Adam(0.01)}
    updates = rule[optimizer].updates(loss, [w])
    start = {v: v.value.copy() for v in sg.toposort(list(updates.values())) if isinstance(v, sg.graph.Variable)}
    X, Y = RNG.standard_normal((5, 6)).astype(np.float32), RNG.integers(0, 4, 5)
    results = {}
    for backend in ("numpy", "numba"):
        for variable, value in start.items():
            variable.assign(value)
        step = sg.function([x, labels], loss, updates=updates, backend=backend)
        results[backend] = [float(step(X, Y)) for _ in range(3)], {v: v.value.copy() for v in start}
        if backend == "numba":
            assert "buffers['g_w']" not in step.source
            allocation = r"^    g_w = np\.empty\(shapes\['s_\w+'\], np\.float32\)  # g_w first; "
            assert re.search(allocation, step.source, re.M)
            assert re.search(r"gemm_into\(\w+, \w+, g_w\)$", step.source, re.M)
    np.testing.assert_allclose(results["numba"][0], results["numpy"][0], rtol=1e-5)
    for variable in start:
        np.testing.assert_allclose(results["numba"][1][variable], results["numpy"][1][variable], rtol=1e-5,
                                   atol=1e-6, err_msg=variable.name)


def test_a_value_read_after_an_output_keeps_its_own_array():
    """Where the output's loop reads the value after computing the output, or a later kernel or an output reads
    it, the value is not computed into the output's array (that would overwrite it before those reads)."""
    x = sg.placeholder((3, 3), "float64", name="x")
    w = sg.variable(RNG.standard_normal((3, 3)), name="w")
    g = sg.matmul(x, w, name="g")  # stored: a BLAS product of the outputs' shape, read by the loops below
    shifted = w[:, ::-1] - g  # reads g at its own index, w flipped
    update = w - g
    cases = {"read later in the loop": [update, g * g + w], "read after a product of the output": [
        update, sg.sum((update @ w) * g)],
             "an output itself": [w - g, g], "read flipped": [g[::-1, :] - w * 2.0, shifted]}
    X = RNG.standard_normal((3, 3))
    for what, outputs in cases.items():
        got = sg.function([x], outputs, backend="numba")(X)
        expected = sg.function([x], outputs, backend="numpy")(X)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=what)


def test_outputs_never_alias_buffers_or_each_other():
    x = sg.placeholder((3,), "float64", name="x")
    y = sg.exp(x)
    f = sg.function([x], [y, y, x], backend="numba")
    first = f(np.zeros(3))
    second = f(np.ones(3))
    np.testing.assert_array_equal(first[0], np.ones(3))  # not overwritten by the second call
    assert first[0] is not first[1] and not np.shares_memory(first[0], first[1])
    np.testing.assert_array_equal(second[2], np.ones(3))


def test_run_time_shape_mismatch_names_the_node():
    a = sg.placeholder((None, None), "float64", name="a")
    b = sg.placeholder((None, None), "float64", name="b")
    product = sg.matmul(a, b, name="product")
    for backend in ("numba", "numpy"):  # the same class as the reference backend's
        f = sg.function([a, b], product, backend=backend)
        with pytest.raises(sg.EvaluationError, match=r"matmul node 'product'.*test_numba_backend.py:\d+.*"
                                                      r"\(2, 3\) @ \(4, 5\)"):
            f(np.ones((2, 3)), np.ones((4, 5)))


def test_index_out_of_bounds_is_an_evaluation_error_naming_the_node():
    x = sg.placeholder((None,), "float64", name="x")
    i = sg.placeholder((None,), "int64", name="i")
    picked = sg.index(x, i, name="picked")
    f = sg.function([x, i], picked, backend="numba")
    np.testing.assert_array_equal(f(np.arange(4.0), np.array([3, -1, 0])), [3.0, 3.0, 0.0])
    with pytest.raises(sg.EvaluationError, match=r"index node 'picked'.*out of bounds"):
        f(np.arange(4.0), np.array([4]))


def _labelled_loss(line_note):
    """A small loss with a label check (raised by a stage run in Python) and a shape check (raised by the plan),
    built at a line of its own for each ``line_note``."""
    x = sg.placeholder((None, 3), name="x")
    labels = sg.placeholder((None,), "int64", name="labels")
    w = sg.variable(np.arange(6.0, dtype=np.float32).reshape(3, 2), name="w")
    if line_note == "first":
        loss = sg.nn.softmax_cross_entropy(sg.tanh(x @ w), labels)
    else:
        loss = sg.nn.softmax_cross_entropy(sg.tanh(x @ w), labels)
    return sg.function([x, labels], loss, backend="numba"), loss.site.lineno


def test_a_graph_built_at_other_lines_shares_the_compiled_code_and_names_its_own_lines():
    """Functions differing in their nodes' creation sites alone share a cache entry and the compiled code (the
    second compiles nothing), while each one's source and errors name its own lines."""
    X, Y = np.ones((2, 3), np.float32), np.array([0, 1])
    first, first_line = _labelled_loss("first")
    assert float(first(X, Y)) == pytest.approx(np.log(2.0), rel=1e-6)
    second, second_line = _labelled_loss("second")
    assert first_line != second_line
    assert second.cache_info.key == first.cache_info.key and second.source_path == first.source_path
    assert float(second(X, Y)) == float(first(X, Y))
    assert second.cache_info.hit and second.cache_info.compiled == []
    here = __file__.rsplit("/", 1)[-1]
    for f, line, other in ((first, first_line, second_line), (second, second_line, first_line)):
        assert f"{here}:{line}" in f.source and f"{here}:{other}" not in f.source
        with pytest.raises(sg.EvaluationError, match=rf"sparse_softmax_cross_entropy node.*{here}:{line}: a label"):
            f(X, np.array([0, 5]))
        with pytest.raises(sg.EvaluationError, match=rf"created at .*{here}:{line}: labels of shape \(3,\)"):
            f(X, np.array([0, 1, 1]))
    assert f"{here}:{second_line}" in open(second.source_path).read()  # the file shows the latest


def test_compiled_stages_hold_no_strings_that_a_site_free_key_would_hide(mlp_step):
    """The cache key ignores comments and creation sites in strings (backends/numba/cache.py: site_free): sound
    because compiled functions hold no strings but their docstrings (messages are raised by Python code)."""
    import ast

    x, labels, loss, updates, _ = mlp_step
    picked = sg.index(x, sg.placeholder((None,), "int64", name="i"))
    for f in (sg.function([x, labels], loss, updates=updates, backend="numba"),
              sg.function([x, labels, picked.inputs[1]], [loss, sg.sum(picked)], backend="numba")):
        compiled = [node for node in ast.parse(f.source).body if isinstance(node, ast.FunctionDef)
                    and any("njit" in ast.unparse(d) for d in node.decorator_list)]
        assert compiled
        for function in compiled:
            strings = [c.value for statement in function.body for c in ast.walk(statement)
                       if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            assert strings == [ast.get_docstring(function, clean=False)], (function.name, strings)


def test_unknown_dimensions_broadcasting_at_run_time_fall_back_to_guarded_loops():
    a = sg.placeholder((None, 3), "float64", name="a")
    b = sg.placeholder((None, 3), "float64", name="b")
    y = sg.sum(sg.exp(a) * b, axis=1)
    f = sg.function([a, b], y, backend="numba")
    A, B = RNG.standard_normal((4, 3)), RNG.standard_normal((1, 3))
    np.testing.assert_allclose(f(A, B), np.sum(np.exp(A) * B, axis=1))
    np.testing.assert_allclose(f(B, A), np.sum(np.exp(B) * A, axis=1))
    np.testing.assert_allclose(f(A, A), np.sum(np.exp(A) * A, axis=1))


def test_a_failing_update_check_applies_no_update():
    counter = sg.variable(np.zeros((), np.int64), name="counter")
    w = sg.variable(np.zeros(2), name="w")
    fed = sg.placeholder((None,), "float64", name="fed")
    f = sg.function([fed], [], updates={counter: counter + 1, w: fed}, backend="numba")
    f(np.ones(2))
    assert int(counter.value) == 1
    with pytest.raises(sg.ShapeError):
        f(np.ones(3))  # w's update has the wrong size: Function refuses it, and neither update is applied
    assert int(counter.value) == 1
    np.testing.assert_array_equal(w.value, np.ones(2))


def test_updates_read_the_values_from_before_the_call():
    a = sg.variable(np.array([1.0, 2.0]), name="a")
    b = sg.variable(np.array([10.0, 20.0]), name="b")
    swap = sg.function([], [a + 0], updates={a: b, b: a}, backend="numba")
    (before,) = swap()
    np.testing.assert_array_equal(before, [1.0, 2.0])
    np.testing.assert_array_equal(a.value, [10.0, 20.0])
    np.testing.assert_array_equal(b.value, [1.0, 2.0])


def _hash(arrays) -> str:
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()


@pytest.fixture(scope="module")
def small_function():
    x = sg.placeholder((None, 4), "float64", name="x")
    w = sg.variable(RNG.standard_normal((4, 4)), name="w", trainable=False)
    y = sg.tanh(x @ w) + sg.sum(x, axis=1, keepdims=True)
    f = sg.function([x], y, backend="numba")
    return f, lambda k: RNG_INPUTS.standard_normal((1 + k % 5, 4))


@pytest.mark.parametrize("which", ["small", "chunked"])
def test_concurrent_calls_give_the_serial_results(which, small_function, chunked_function):
    """8 Python threads, 100 calls each with distinct inputs, bitwise the serial results; for the chunked function
    with 2 threads allowed, so that the calls share the module's thread pool while splitting their loops."""
    f, make_input = small_function if which == "small" else chunked_function[:2]
    inputs = [make_input(k) for k in range(8)]  # distinct inputs derived from these, inside the threads
    derive = (lambda k: inputs[k % 8] * (1.0 + k / 1024)) if which == "chunked" else (lambda k: inputs[k % 8] + k)
    before = sg.get_num_threads()
    sg.set_num_threads(2)
    try:
        serial = [_hash(_as_list(f(derive(k)))) for k in range(800)]
        results = [None] * 800

        def work(start):
            for k in range(start, 800, 8):
                results[k] = _hash(_as_list(f(derive(k))))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sg.set_num_threads(before)
    assert results == serial


def _as_list(values):
    return values if isinstance(values, list) else [values]


def test_concurrent_updates_are_atomic():
    counter = sg.variable(np.zeros((), np.int64), name="counter")
    f = sg.function([], counter, updates={counter: counter + 1}, backend="numba")

    def work():
        for _ in range(200):
            f()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert int(counter.value) == 800


def test_nan_and_inf_propagate_as_in_numpy():
    x = sg.placeholder((None,), "float32", name="x")
    outputs = [sg.exp(x), sg.log(x), sg.sqrt(x), sg.maximum(x, 0), sg.sum(x), sg.max(x), sg.sigmoid(x),
               sg.tanh(x), x / x, sg.relu(x), sg.softplus(x), sg.min(x), sg.mean(x)]
    values = np.array([np.nan, np.inf, -np.inf, 0.0, -1.0, 2.0], np.float32)
    numba_f = sg.function([x], outputs, backend="numba", optimize=False)
    numpy_f = sg.function([x], outputs, backend="numpy", optimize=False)
    for got, expected in zip(numba_f(values), numpy_f(values)):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_maximum_minimum_and_relu_pick_between_equal_zeros_as_numpy_does(dtype):
    """np.maximum/np.minimum return the second of two equal values (and NaN from either operand); Numba's return
    the first, so relu(-0.0) was -0.0 on Numba and 1 / relu(-0.0) -inf where NumPy gives inf. Every pair of zeros,
    infinities, NaN and a number, against NumPy's arrays, sign of zero included."""
    special = np.array([-0.0, 0.0, 1.0, -np.inf, np.inf, np.nan], dtype)
    a, b = (v.ravel() for v in np.meshgrid(special, special))
    x = sg.placeholder((None,), dtype, name="x")
    y = sg.placeholder((None,), dtype, name="y")
    outputs = [sg.relu(x), 1.0 / sg.relu(x), sg.maximum(x, y), sg.minimum(x, y), sg.maximum(x * 1.0, y) + 0.0]
    with np.errstate(divide="ignore"):
        expected = [np.maximum(a, 0), 1 / np.maximum(a, 0), np.maximum(a, b), np.minimum(a, b),
                    np.maximum(a * 1, b) + 0]
    got = sg.function([x, y], outputs, backend="numba", optimize=False)(a, b)
    for k, (value, want) in enumerate(zip(got, expected)):
        np.testing.assert_array_equal(value, want, err_msg=f"output {k}")
        np.testing.assert_array_equal(np.signbit(value), np.signbit(want), err_msg=f"output {k}: sign")
    assert np.isposinf(got[1][a == 0]).all()


DEFAULT_THREADS_SCRIPT = """
import json
import numpy as np
import symgraph as sg
x = sg.placeholder((None, 3), "float32", name="x")
f = sg.function([x], x @ np.ones((3, 2), np.float32), backend="numba")
f(np.ones((4, 3), np.float32))
from threadpoolctl import threadpool_info
import numba
print(json.dumps({"blas": [[info["filepath"], info["num_threads"]] for info in threadpool_info()
                           if info["user_api"] == "blas"], "numba": numba.get_num_threads()}))
"""


@pytest.mark.parametrize("variables, expected", [({}, 1), ({"SYMGRAPH_NUM_THREADS": "2"}, 2),
                                                  ({"NUMBA_NUM_THREADS": "2"}, 2)], ids=["default", "symgraph", "numba"])
def test_a_compiled_function_limits_every_blas_to_the_default_thread_count(tmp_path, variables, expected):
    """Its matmuls run on NumPy's OpenBLAS, which must keep to symgraph's default of one thread (two busy threads on
    a shared 2-core machine made a CNN step 30-50x slower), as must SciPy's, which Numba loads; SYMGRAPH_NUM_THREADS
    or NUMBA_NUM_THREADS set another count for both."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SYMGRAPH_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    env.update(variables, SYMGRAPH_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", DEFAULT_THREADS_SCRIPT], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report["blas"]) == 2 and all(threads == expected for _, threads in report["blas"]), report["blas"]
    assert report["numba"] == expected


def test_set_num_threads_limits_every_blas_and_refuses_nonsense():
    from threadpoolctl import threadpool_info

    x = sg.placeholder((2, 2), "float64", name="x")
    sg.function([x], x @ x, backend="numba")  # loads the BLAS the kernels call
    before = sg.get_num_threads()
    try:
        for count in (2, 1):
            sg.set_num_threads(count)
            assert sg.get_num_threads() == count
            blas = [info for info in threadpool_info() if info["user_api"] == "blas"]
            assert blas and all(info["num_threads"] == count for info in blas)
    finally:
        sg.set_num_threads(before)
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="whole number of threads"):
            sg.set_num_threads(bad)


def test_helpers_that_only_compiled_code_calls_have_no_cpython_wrapper_and_python_never_calls_them():
    """Kernels called by compiled code alone (the loops' accumulate, im2col inside the conv kernels, a specialized
    pooling kernel's per-plane callees that are not inlined, vecmath's scalar kernels) are compiled without a CPython
    wrapper, a large part of a small function's compile; a call from Python would crash, so the code generator
    refuses to emit one in a Python stage or in the plan, and kernels/conv_gemm.py (plain Python) imports none."""
    import types

    from symgraph.backends.numba import codegen

    def decorators(source):
        return dict((name, "no_cpython_wrapper=True" in line)
                    for line, name in re.findall(r"^@(numba\.njit\(.*\))\ndef (\w+)", source, flags=re.M))

    reduce_file = decorators(codegen.kernel_file("reduce", "argmax_middle")[1].source)
    assert reduce_file["accumulate"] and reduce_file["sum_blocks"] and not reduce_file["argmax_middle"]
    entry, pooling = codegen.kernel_file("conv", "max_pool2d_forward", (("k_h", 2), ("k_w", 2), ("pad_h", 0),
                                                                           ("pad_w", 0), ("stride_h", 2), ("stride_w", 2)))
    inlined = dict((name, 'inline="always"' in line)
                   for line, name in re.findall(r"^@(numba\.njit\(.*\))\ndef (\w+)", pooling.source, flags=re.M))
    pooling = decorators(pooling.source)
    assert not pooling[entry]
    assert all(nested or inlined[name] for name, nested in pooling.items() if name != entry)
    assert any(pooling.values()) and inlined["max_pool2d_plane_k_h2_k_w2_pad_h0_pad_w0_stride_h2_stride_w2"], pooling
    assert decorators(codegen.kernel_file("vecmath", "exp_f32")[1].source) == {"exp_f32": True}
    for stage in (None, types.SimpleNamespace(compiled=False)):
        with pytest.raises(AssertionError, match="no CPython wrapper"):
            codegen.Context(None, stage).helper("reduce", "accumulate")
    x = sg.placeholder((None, 3), "float32", name="x")
    f = sg.function([x], [sg.sum(sg.exp(x)), sg.nn.max_pool2d(sg.reshape(x, (-1, 1, 1, 3)), (1, 1))])
    value, pooled = f(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_allclose(value, np.exp(np.arange(6, dtype=np.float32)).sum(), rtol=1e-6)
    np.testing.assert_array_equal(pooled.reshape(2, 3), np.arange(6, dtype=np.float32).reshape(2, 3))
