"""Numba lowerings of the random streams and the softmax family against the NumPy backend (the oracle).

Random draws must be bit-identical to the reference's (and to NumPy's own Philox generator); softmax-family ops must
agree to rounding, with NaN and infinities exactly where the reference puts them, for any axis, float32 and float64,
empty inputs and unknown dimensions. Each configuration is compiled once (module-level cache) and fed many arrays.
"""

import inspect

import numpy as np
import pytest

import symgraph as sg

numba = pytest.importorskip("numba")

from symgraph.backends.numba import NumbaProgram  # noqa: E402
from symgraph.backends.numba.kernels import random as random_kernels  # noqa: E402
from symgraph.graph import toposort  # noqa: E402
from symgraph.ops.random import RandomStream  # noqa: E402

RTOL = {np.float32: 2e-5, np.float64: 1e-12}
# log_softmax of a row's maximum is -log(1 + small): its absolute error is a few ulps of 1 in either backend.
ATOL = {np.float32: 1e-6, np.float64: 1e-14}
FLOATS = [np.float32, np.float64]


_programs = {}


def compiled(key, build):
    """One compiled program per configuration: ``build()`` returns (program, graph pieces the tests use)."""
    if key not in _programs:
        _programs[key] = build()
    return _programs[key]


def run_both(program, outputs, feeds):
    """The Numba program's outputs and the NumPy backend's for the same feeds (placeholder -> array)."""
    got = program.compute({id(p): value for p, value in feeds.items()})
    return got, sg.evaluate(outputs, feeds)


def assert_matches(got, expected, dtype):
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL[dtype], atol=ATOL[dtype], equal_nan=True)


# -- random streams ------------------------------------------------------------------------------------------------

def philox_reference(seed, calls, salt, shape, dtype):
    """NumPy's own generator, independently of symgraph's reference op."""
    counter = np.array([0, 0, calls, salt], dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=seed & (2**64 - 1), counter=counter)).random(shape, dtype)


def random_program(dtype, rank):
    """Three draws (salts 0, 1, 2) of one stream shaped like a placeholder of ``rank`` unknown dims."""
    def build():
        like = sg.placeholder((None,) * rank, dtype, name="like")
        stream = RandomStream(0)
        draws = [stream.uniform(like, dtype) for _ in range(3)]
        return NumbaProgram(draws, [like]), like, stream, draws
    return compiled(("random", np.dtype(dtype).name, rank), build)


SEEDS = [0, 1, -1, -2**63, 2**63 - 1, 123456789, -987654321987]
CALLS = [0, 1, 7, 2**40 + 3, 2**63 - 1]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(3, 5), (1, 7), (2, 9), (64, 1024), (0, 4), (4, 0)])
def test_random_uniform_is_bit_identical_to_the_reference(dtype, shape):
    program, like, stream, draws = random_program(dtype, len(shape))
    data = np.zeros(shape, dtype)
    for seed, calls in zip(SEEDS, CALLS + CALLS[:2]):
        stream.state.assign(np.array([seed, calls], np.int64))
        got, expected = run_both(program, draws, {like: data})
        for salt, (mine, reference) in enumerate(zip(got, expected)):
            assert mine.dtype == dtype and mine.shape == shape
            np.testing.assert_array_equal(mine.view(np.uint8), reference.view(np.uint8))
            np.testing.assert_array_equal(mine, philox_reference(seed, calls, salt, shape, dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_random_uniform_of_a_scalar_shape(dtype):
    program, like, stream, draws = random_program(dtype, 0)
    for seed in SEEDS[:4]:
        stream.state.assign(np.array([seed, 3], np.int64))
        got, expected = run_both(program, draws, {like: np.asarray(0.5, dtype)})
        for salt, (mine, reference) in enumerate(zip(got, expected)):
            assert mine.shape == () and mine.dtype == dtype
            assert mine.tobytes() == np.asarray(reference).tobytes()
            assert mine == philox_reference(seed, 3, salt, (), dtype)


@pytest.mark.parametrize("length", range(1, 18))
def test_every_tail_length_of_a_block(length):
    """Lengths around the 4 doubles / 8 floats of a Philox block, for both conversions."""
    for dtype in FLOATS:
        program, like, stream, draws = random_program(dtype, 1)
        stream.state.assign(np.array([length * 1000 + 17, length], np.int64))
        got = program.compute({id(like): np.zeros(length, dtype)})
        for salt, mine in enumerate(got):
            np.testing.assert_array_equal(mine, philox_reference(length * 1000 + 17, length, salt, length, dtype))


def njit_module(module):
    """Every function of a kernels module compiled as the generated modules compile them (they call each other)."""
    namespace = {}
    exec(compile(inspect.getsource(module), module.__file__, "exec"), namespace)
    for name, value in list(namespace.items()):
        if inspect.isfunction(value):
            namespace[name] = numba.njit(value)
    return namespace


def test_philox_block_and_counter_carry_match_numpy():
    """The block function and the 256-bit counter increment, where the carry crosses words (NumPy increments the
    counter before its first block)."""
    kernels = njit_module(random_kernels)
    block, increment = kernels["philox4x64_10"], kernels["increment"]
    full = 2**64 - 1
    cases = [([full, 0, 5, 9], 3), ([full, full, 5, 9], 2**64 - 5), ([full, full, full, 2], 1), ([full] * 4, 77),
             ([12, 34, 56, 78], 2**63 + 11), ([0, 0, 0, 0], 0)]
    for counter, key in cases:
        words = [np.uint64(c) for c in counter]
        next_counter = increment(*words)
        expected_counter = sum(c << (64 * k) for k, c in enumerate(counter)) + 1
        assert [int(c) for c in next_counter] == [(expected_counter >> (64 * k)) & full for k in range(4)]
        bits = np.random.Philox(key=key, counter=np.array(counter, np.uint64)).random_raw(4)
        words = [np.uint64(c) for c in next_counter] + [np.uint64(key & full), np.uint64(key >> 64)]
        mine = block(*words)  # uint64 arguments: Python ints would be typed int64
        assert [int(w) for w in mine] == [int(b) for b in bits]


def test_dropout_masks_advance_each_call_as_on_the_numpy_backend():
    """sg.function on the Numba backend: each call draws the mask the reference draws from the state before the
    call, then the stream advances."""
    x = sg.placeholder((None, 32), name="x")
    y = sg.nn.dropout(x, 0.5, seed=42)
    (state, _), = implied_updates([y])
    step = sg.function([x], y, backend="numba", optimize=False)
    data = np.random.default_rng(1).standard_normal((16, 32)).astype(np.float32)
    masks = []
    for call in range(3):
        expected = sg.evaluate(y, {x: data})
        got = step(data)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(state.value, [42, call + 1])
        masks.append(got == 0)
    assert not np.array_equal(masks[0], masks[1]) and 0.3 < masks[0].mean() < 0.7


def implied_updates(outputs):
    """The updates the nodes of the graph imply (as sg.function collects them)."""
    return [update for node in toposort(outputs) for update in node.implied_updates]


# -- softmax family ------------------------------------------------------------------------------------------------

def family_program(dtype):
    """softmax and log_softmax along each axis (of a 3-D input of unknown dims, or of a transposed view of it) and
    logsumexp over no single, adjacent, non-adjacent and all axes, with and without keepdims."""
    def build():
        x = sg.placeholder((None, None, None), dtype, name="x")
        moved = sg.transpose(x, (2, 0, 1))
        outputs = [sg.nn.softmax(x, 0), sg.nn.softmax(x, 2), sg.nn.softmax(moved, 1),
                   sg.nn.log_softmax(x, 1), sg.nn.log_softmax(x, 2), sg.nn.log_softmax(moved, 0)]
        outputs += [sg.nn.logsumexp(x, axis, keepdims) for axis, keepdims in
                    [(None, False), (0, True), (2, False), ((0, 2), False), ((1, 2), True)]]
        return NumbaProgram(outputs, [x]), x, outputs
    return compiled(("family", np.dtype(dtype).name), build)


def edge_values(shape, dtype, scale, seed):
    """Random logits of ``scale`` with, where the shape allows, +inf, NaN, rows of -inf and stray -inf along each
    axis."""
    values = np.random.default_rng(seed).standard_normal(shape) * scale
    if min(shape) >= 3 and shape[0] >= 2:
        values[0, 1, 2] = np.inf
        values[1, :, 0] = -np.inf
        values[0, 2, :] = -np.inf
        values[1, 0, 1] = np.nan
        values[1, 2, 2] = -np.inf
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
def test_softmax_family_matches_the_reference(dtype, scale):
    program, x, outputs = family_program(dtype)
    for seed, shape in enumerate([(2, 3, 4), (3, 4, 5), (1, 1, 1), (4, 1, 3), (2, 5, 1)]):
        got, expected = run_both(program, outputs, {x: edge_values(shape, dtype, scale, seed)})
        for mine, reference in zip(got, expected):
            assert_matches(mine, reference, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_family_of_special_rows(dtype):
    """Rows holding +inf, NaN, only -inf, -inf among finite values, ties at the maximum, huge magnitudes."""
    program, x, outputs = family_program(dtype)
    big = np.finfo(dtype).max / 4
    rows = [[np.inf, 1.0, 2.0, 3.0], [-np.inf] * 4, [np.nan, 1.0, 2.0, 3.0], [-np.inf, 0.0, -np.inf, 1.0],
            [5.0, 5.0, 5.0, 1.0], [np.inf, np.inf, 0.0, 0.0], [np.inf, -np.inf, np.nan, 0.0], [big, -big, 0.0, big],
            [1e4, -1e4, 0.0, 1e4 - 1], [-np.inf, 3.0, 3.0, -np.inf]]
    data = np.array(rows, dtype).reshape(2, 5, 4)
    for values in (data, np.ascontiguousarray(data.transpose(1, 2, 0)), np.ascontiguousarray(data.transpose(2, 0, 1))):
        got, expected = run_both(program, outputs, {x: values})
        for mine, reference in zip(got, expected):
            assert_matches(mine, reference, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(0, 3, 4), (2, 0, 4), (2, 3, 0), (0, 0, 0)])
def test_softmax_family_of_empty_inputs(dtype, shape):
    program, x, outputs = family_program(dtype)
    got, expected = run_both(program, outputs, {x: np.zeros(shape, dtype)})
    for mine, reference in zip(got, expected):
        assert_matches(mine, reference, dtype)


# -- fused losses --------------------------------------------------------------------------------------------------

def loss_program(dtype):
    """Per-example sparse (int64 and int32 labels) and dense (same-dtype and float64 targets) cross-entropies of
    (None, None) logits, of their transpose (a non-contiguous view), of 3-D logits and of one 1-D example."""
    def build():
        pieces = {
            "logits": sg.placeholder((None, None), dtype, name="logits"),
            "labels": sg.placeholder((None,), "int64", name="labels"),
            "labels32": sg.placeholder((None,), "int32", name="labels32"),
            "targets": sg.placeholder((None, None), dtype, name="targets"),
            "targets64": sg.placeholder((None, None), "float64", name="targets64"),
            "column_labels": sg.placeholder((None,), "int64", name="column_labels"),
            "cube": sg.placeholder((None, None, 4), dtype, name="cube"),
            "cube_labels": sg.placeholder((None, None), "int64", name="cube_labels"),
            "vector": sg.placeholder((5,), dtype, name="vector"),
            "label": sg.placeholder((), "int32", name="label"),
        }
        p, ce = pieces, sg.nn.softmax_cross_entropy
        outputs = [ce(p["logits"], p["labels"], "none"), ce(p["logits"], p["labels32"], "none"),
                   ce(p["logits"], p["targets"], "none"), ce(p["logits"], p["targets64"], "none"),
                   ce(sg.transpose(p["logits"]), p["column_labels"], "none"),
                   ce(p["cube"], p["cube_labels"], "none"), ce(p["vector"], p["label"], "none")]
        return NumbaProgram(outputs, list(pieces.values())), pieces, outputs
    return compiled(("losses", np.dtype(dtype).name), build)


def loss_feeds(pieces, rows, classes, dtype, scale, seed, edge=False):
    """Feeds for every placeholder of ``loss_program``; ``edge`` puts +inf, NaN, a row of -inf and 0 * -inf in."""
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((rows, classes)) * scale).astype(dtype)
    targets = rng.dirichlet(np.ones(classes), rows) if classes else np.zeros((rows, 0))
    if edge:
        logits[0, 1], logits[1, :], logits[2, 0], logits[3, 0] = np.inf, -np.inf, np.nan, -np.inf
        targets[3, 0] = 0.0  # 0 * log_softmax(-inf) = 0 * -inf: NaN in the reference
    labels = rng.integers(0, max(classes, 1), rows)
    arrays = {"logits": logits, "labels": labels, "labels32": labels.astype(np.int32),
              "targets": targets.astype(dtype), "targets64": targets,
              "column_labels": rng.integers(0, max(rows, 1), classes),
              "cube": (rng.standard_normal((2, 3, 4)) * scale).astype(dtype), "cube_labels": rng.integers(0, 4, (2, 3)),
              "vector": (rng.standard_normal(5) * scale).astype(dtype),
              "label": np.asarray(rng.integers(0, 5), np.int32)}
    return {pieces[name]: value for name, value in arrays.items()}


def assert_losses_match(program, outputs, feeds, dtype):
    """Within the logits' precision (float64 targets give float64 losses of float32 log-probabilities)."""
    got, expected = run_both(program, outputs, feeds)
    for mine, reference in zip(got, expected):
        assert_matches(mine, reference, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_cross_entropies_match_the_reference(dtype, scale):
    program, pieces, outputs = loss_program(dtype)
    for seed, (rows, classes) in enumerate([(6, 5), (64, 10), (512, 10), (1, 1), (3, 7)]):
        assert_losses_match(program, outputs, loss_feeds(pieces, rows, classes, dtype, scale, seed), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_cross_entropies_of_special_logits(dtype):
    program, pieces, outputs = loss_program(dtype)
    assert_losses_match(program, outputs, loss_feeds(pieces, 6, 5, dtype, 3.0, 11, edge=True), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_cross_entropies_of_empty_batches(dtype):
    """No examples: no losses (also for 3-D logits with an empty middle axis); no classes: the dense loss is an
    empty sum."""
    program, pieces, outputs = loss_program(dtype)
    for cube_shape in [(0, 3, 4), (2, 0, 4)]:
        feeds = loss_feeds(pieces, 0, 0, dtype, 1.0, 4)
        feeds[pieces["cube"]], feeds[pieces["cube_labels"]] = np.zeros(cube_shape, dtype), np.zeros(cube_shape[:2], int)
        assert_losses_match(program, outputs, feeds, dtype)


@pytest.mark.parametrize("rows, classes", [(0, 5), (5, 0)])
def test_labels_of_logits_without_classes_raise_as_in_the_reference(rows, classes):
    """(5, 0) logits cannot have labels; nor can their transpose (the column labels of a (0, 5) batch)."""
    program, pieces, outputs = loss_program(np.float64)
    feeds = loss_feeds(pieces, rows, classes, np.float64, 1.0, 8)
    with pytest.raises(sg.EvaluationError, match=r"outside \[0, "):
        sg.evaluate(outputs, feeds)
    with pytest.raises(sg.EvaluationError, match=r"sparse_softmax_cross_entropy node .* outside \[0, "):
        program.compute({id(p): value for p, value in feeds.items()})


@pytest.mark.parametrize("bad", [-1, 10, 2**40])
def test_labels_outside_the_classes_raise_naming_the_node(bad):
    program, pieces, outputs = loss_program(np.float32)
    feeds = loss_feeds(pieces, 8, 10, np.float32, 1.0, 5)
    feeds[pieces["labels"]] = feeds[pieces["labels"]].copy()
    feeds[pieces["labels"]][5] = bad
    with pytest.raises(sg.EvaluationError, match=r"outside \[0, ") as reference:
        sg.evaluate(outputs[0], feeds)
    with pytest.raises(sg.EvaluationError, match=r"outside \[0, ") as caught:
        program.compute({id(p): value for p, value in feeds.items()})
    message = str(caught.value)
    assert "sparse_softmax_cross_entropy node" in message and f"{__file__}:" in message
    assert "sparse_softmax_cross_entropy" in str(reference.value)


def test_labels_of_the_wrong_run_time_shape_raise_naming_the_node():
    """Found by the plan before any kernel runs; an evaluation failure, as on the NumPy backend."""
    program, pieces, outputs = loss_program(np.float64)
    feeds = loss_feeds(pieces, 8, 10, np.float64, 1.0, 6)
    feeds[pieces["labels"]] = feeds[pieces["labels"]][:7]
    with pytest.raises(sg.EvaluationError):
        sg.evaluate(outputs, feeds)
    with pytest.raises(sg.EvaluationError,
                       match=r"labels of shape \(7,\) do not match logits of shape \(8, 10\)") as caught:
        program.compute({id(p): value for p, value in feeds.items()})
    assert "sparse_softmax_cross_entropy node" in str(caught.value) and f"{__file__}:" in str(caught.value)
    feeds = loss_feeds(pieces, 8, 10, np.float64, 1.0, 6)
    feeds[pieces["targets"]] = feeds[pieces["targets"]][:, :9]
    with pytest.raises(sg.EvaluationError):
        sg.evaluate(outputs, feeds)
    with pytest.raises(sg.EvaluationError,
                       match=r"targets of shape \(8, 9\) do not match logits of shape \(8, 10\)") as caught:
        program.compute({id(p): value for p, value in feeds.items()})
    assert "softmax_cross_entropy node" in str(caught.value)


# -- gradient graphs -----------------------------------------------------------------------------------------------

def gradient_program(dtype):
    """A linear layer's cross-entropy costs (integer labels and probability targets) and a log_softmax / logsumexp
    cost, with their gradients, compiled whole."""
    def build():
        x = sg.placeholder((None, 6), dtype, name="x")
        labels = sg.placeholder((None,), "int64", name="labels")
        targets = sg.placeholder((None, 4), dtype, name="targets")
        weights = sg.variable(np.random.default_rng(2).standard_normal((6, 4)).astype(dtype), name="W")
        logits = x @ weights
        sparse = sg.nn.softmax_cross_entropy(logits, labels)
        dense = sg.nn.softmax_cross_entropy(logits, targets, reduction="sum")
        shaped = sg.sum(sg.sin(sg.nn.log_softmax(logits, 0)) * targets) + sg.sum(sg.nn.logsumexp(logits, 1) ** 2)
        outputs = [sparse, dense, shaped]
        for cost in (sparse, dense, shaped):
            outputs += sg.grad(cost, [weights, x])
        outputs += sg.grad(dense, [targets])
        return NumbaProgram(outputs, [x, labels, targets]), (x, labels, targets), outputs
    return compiled(("gradients", np.dtype(dtype).name), build)


@pytest.mark.parametrize("dtype", FLOATS)
def test_gradient_graphs_match_the_reference(dtype):
    program, (x, labels, targets), outputs = gradient_program(dtype)
    rng = np.random.default_rng(3)
    for rows, scale in [(5, 1.0), (64, 3.0), (1, 30.0)]:
        feeds = {x: (rng.standard_normal((rows, 6)) * scale).astype(dtype), labels: rng.integers(0, 4, rows),
                 targets: rng.dirichlet(np.ones(4), rows).astype(dtype)}
        got, expected = run_both(program, outputs, feeds)
        for mine, reference in zip(got, expected):
            assert_matches(mine, reference, dtype)


# -- the losses' run-time checks -----------------------------------------------------------------------------------

def checked_losses_program(always_training):
    """mse against targets whose unknown dims are checked at run time, and batch_norm (always in training mode, or
    with a training flag) on a batch of unknown size, whose count of values per channel is checked at run time."""
    def build():
        predictions = sg.placeholder((None, 3), "float64", name="predictions")
        targets = sg.placeholder((None, None), "float64", name="targets")
        x = sg.placeholder((None, 2), "float64", name="bn_x")
        training = sg.placeholder((), "bool", name="training")
        parameters = [sg.variable(np.full(2, value), trainable=False) for value in (1.5, 0.5, 0.0, 1.0)]
        normalized = sg.nn.batch_norm(x, *parameters, training=True if always_training else training)
        outputs = [sg.nn.mse(predictions, targets, reduction="none"), normalized]
        updates = implied_updates(outputs)
        assert any(node.op.name == "values_per_channel" for node in toposort([e for _, e in updates]))
        outputs += [expression for _, expression in updates]  # the running statistics' new values
        return NumbaProgram(outputs, [predictions, targets, x, training]), (predictions, targets, x, training), outputs
    return compiled(("checked losses", always_training), build)


def checked_feeds(pieces, batch, target_shape, bn_rows, training=True):
    rng = np.random.default_rng(batch)
    predictions, targets, x, flag = pieces
    return {predictions: rng.standard_normal((batch, 3)), targets: rng.standard_normal(target_shape),
            x: rng.standard_normal((bn_rows, 2)), flag: np.asarray(training)}


@pytest.mark.parametrize("always_training", [True, False])
def test_checked_losses_match_the_reference(always_training):
    program, pieces, outputs = checked_losses_program(always_training)
    for batch, bn_rows, training in [(4, 5, True), (1, 2, False), (0, 3, True), (7, 1, False)]:
        if bn_rows == 1 and always_training:
            continue
        feeds = checked_feeds(pieces, batch, (batch, 3), bn_rows, training)
        got, expected = run_both(program, outputs, feeds)
        for mine, reference in zip(got, expected):
            assert_matches(mine, reference, np.float64)


def test_targets_of_another_run_time_shape_raise_naming_the_loss():
    program, pieces, outputs = checked_losses_program(True)
    feeds = checked_feeds(pieces, 4, (4, 1), 3)
    with pytest.raises(sg.EvaluationError, match="must have the same shape"):
        sg.evaluate(outputs, feeds)
    with pytest.raises(sg.EvaluationError, match=r"mse: predictions of shape \(4, 3\) and targets of shape \(4, 1\) "
                                            r"must have the same shape .*would silently give \(4, 3\)") as caught:
        program.compute({id(p): value for p, value in feeds.items()})
    assert "targets_like node" in str(caught.value) and f"{__file__}:" in str(caught.value)


@pytest.mark.parametrize("always_training", [True, False])
def test_one_value_per_channel_in_training_mode_raises_naming_the_node(always_training):
    program, pieces, outputs = checked_losses_program(always_training)
    feeds = checked_feeds(pieces, 2, (2, 3), 1, training=True)
    with pytest.raises(sg.EvaluationError, match="more than 1 value per channel"):
        sg.evaluate(outputs, feeds)
    with pytest.raises(sg.EvaluationError, match="more than 1 value per channel") as caught:
        program.compute({id(p): value for p, value in feeds.items()})
    assert "values_per_channel node" in str(caught.value) and f"{__file__}:" in str(caught.value)
