"""The shape, indexing and creation functions of issue 15 beyond the op table (tests/op_table.py): scatter-add
semantics against PyTorch's index_add and JAX's ``x.at[...].add``, reshape/broadcast_to with sizes known only at run
time (``x.shape[0]`` is None), the ``_like`` functions following a run-time shape, run-time errors naming the node
and the user's line, node methods, cost rules, the optimizer, and the Numba backend's code for them."""

import re

import numpy as np
import pytest

import symgraph as sg
from symgraph.testing import check_grads

torch = pytest.importorskip("torch")
BACKENDS = ["numpy", "numba"]
THIS_FILE = re.escape("test_array_functions.py") + r":\d+"


def run(backend_name, inputs, outputs, values):
    return sg.function(inputs, outputs, backend=backend_name, optimize=False)(*values)


# -- scatter-add: PyTorch's index_add and JAX's x.at[key].add -------------------------------------------------------

def test_index_add_matches_torch_with_repeated_indices_and_its_gradients():
    rng = np.random.default_rng(0)
    x, source = rng.normal(size=(4, 5)), rng.normal(size=(4, 7))
    index = np.array([0, 4, 4, 1, 0, 4, 2])
    tx, ts = (torch.tensor(a, requires_grad=True) for a in (x, source))
    expected = tx.index_add(1, torch.tensor(index), ts)
    weights = rng.normal(size=(4, 5))
    (expected * torch.tensor(weights)).sum().backward()
    px, ps = sg.placeholder((None, 5), "float64", name="x"), sg.placeholder((None, None), "float64", name="source")
    result = sg.index_add(px, 1, sg.constant(index), ps)
    cost = sg.sum(result * weights)
    got, gx, gs = sg.evaluate([result] + sg.grad(cost, [px, ps]), {px: x, ps: source})
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gs, ts.grad.numpy(), rtol=1e-12)
    check_grads(sg.sum(sg.sin(result) * result), [px, ps], {px: x, ps: source}, order=2)


def test_scatter_add_matches_jax_at_add():
    jnp = pytest.importorskip("jax.numpy")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 5)).astype(np.float32)
    rows, cols = np.array([2, 0, 2, 2]), np.array([1, 1, 1, 3])
    cases = [((rows,), rng.normal(size=(4, 4, 5))), ((rows, slice(1, 3)), rng.normal(size=(4, 2, 5))),
             ((rows, slice(None), cols), rng.normal(size=(4, 4))), ((slice(None), cols, 0), 2.5),
             ((Ellipsis, cols), rng.normal(size=(1, 4)))]
    px = sg.placeholder((None, None, 5), name="x")
    for key, values in cases:
        values = np.float32(values) if np.ndim(values) == 0 else np.asarray(values, np.float32)
        expected = np.asarray(jnp.asarray(x).at[key].add(values))
        sg_key = tuple(sg.constant(k) if isinstance(k, np.ndarray) else k for k in key)
        got = sg.evaluate(sg.scatter_add(px, sg_key, values), {px: x})
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_scatter_add_accumulates_in_the_promoted_dtype():
    x = np.zeros(3, np.int64)
    result = sg.scatter_add(sg.constant(x), sg.constant(np.array([1, 1, 1])), np.float64(0.1))
    assert result.dtype == np.float64
    np.testing.assert_allclose(result.eval(), [0.0, 0.1 + 0.1 + 0.1, 0.0], rtol=1e-15)


# -- sizes known only at run time --------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend_name", BACKENDS)
def test_reshape_keeps_the_unknown_batch_size(backend_name):
    x = sg.placeholder((None, 4, 5), name="x")
    flat = sg.reshape(x, (x.shape[0], -1))
    assert flat.shape == (None, 20)
    z = sg.placeholder((None, None, 5), "float64", name="z")
    kept = sg.reshape(z, (z.shape[0], -1))  # two unknown sizes: the batch is kept, the rest inferred when run
    assert kept.shape == (None, None)
    grad = sg.grad(sg.sum(sg.sin(kept)), z)
    for batch in (1, 3):
        a, b = np.ones((batch, 4, 5), np.float32), np.arange(batch * 7 * 5, dtype=np.float64).reshape(batch, 7, 5)
        got = run(backend_name, [x, z], [flat, kept, grad], [a, b])
        np.testing.assert_array_equal(got[0], a.reshape(batch, -1))
        np.testing.assert_array_equal(got[1], b.reshape(batch, -1))
        np.testing.assert_allclose(got[2], np.cos(b), rtol=1e-12)
    assert sg.pprint(kept) == "reshape(z, (z.shape[0], -1))"


def test_a_none_in_a_new_shape_keeps_a_leading_or_trailing_size():
    x = sg.placeholder((None, 3, None), name="x")
    assert sg.reshape(x, (-1, x.shape[2])).shape == (None, None)   # trailing: x's last size
    assert sg.reshape(x, (x.shape[0], x.shape[1], -1)).shape == (None, 3, None)
    value = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(sg.reshape(x, (-1, x.shape[2])).eval({x: value}), value.reshape(-1, 4))
    np.testing.assert_array_equal(sg.reshape(x, (x.shape[0], 3, 2, -1)).eval({x: value}), value.reshape(2, 3, 2, 2))
    y = sg.placeholder((None, None, 5), name="y")
    with pytest.raises(sg.ShapeError, match=r"may keep x's size on axis 0 or 1; write -1") as info:
        sg.reshape(y, (None, 5))
    assert re.search(THIS_FILE, str(info.value)) and "placeholder node 'y'" in str(info.value)
    with pytest.raises(sg.ShapeError, match="neither among the leading entries"):
        sg.reshape(x, (2, None, 7, 1))
    with pytest.raises(sg.ShapeError, match="cannot reshape"):
        sg.reshape(sg.placeholder((None, 3)), (None, 2, -1))


def test_broadcast_to_with_a_kept_size():
    x = sg.placeholder((None, 1), name="x")
    y = sg.broadcast_to(x, (2, x.shape[0], 3))
    assert y.shape == (2, None, 3)
    value = np.arange(4, dtype=np.float32).reshape(4, 1)
    np.testing.assert_array_equal(y.eval({x: value}), np.broadcast_to(value, (2, 4, 3)))
    np.testing.assert_array_equal(sg.grad(sg.sum(y), x).eval({x: value}), np.full((4, 1), 6.0))
    with pytest.raises(sg.ShapeError, match="x .rank 2. has none at position 0"):
        sg.broadcast_to(x, (None, 4, 3))


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_like_functions_and_composites_follow_run_time_shapes(backend_name):
    x = sg.placeholder((None, None), "float64", name="x")
    outputs = [sg.zeros_like(x), sg.ones_like(x, "int32"), sg.full_like(x, -2.5), sg.full_like(x, sg.sum(x)),
               sg.tril(x, 1), sg.triu(x), sg.roll(x, 3, 1), sg.pad(x, ((1, 2), (2, 1)), mode="reflect"),
               sg.pad(x, 1, mode="edge"), sg.pad(x, (1, 2), constant_values=7.0), sg.tile(x, (2, 3)),
               sg.repeat(x, 2, 0), sg.diagonal(x, 1), sg.trace(x), sg.flip(x, 0), sg.split(x, 2, 1)[1],
               sg.diag(sg.diagonal(x), -1), sg.take_along_axis(x, sg.argmax(x, 1, keepdims=True), 1)]
    references = [np.zeros_like, lambda a: np.ones_like(a, np.int32), lambda a: np.full_like(a, -2.5),
                  lambda a: np.full_like(a, a.sum()), lambda a: np.tril(a, 1), np.triu, lambda a: np.roll(a, 3, 1),
                  lambda a: np.pad(a, ((1, 2), (2, 1)), mode="reflect"), lambda a: np.pad(a, 1, mode="edge"),
                  lambda a: np.pad(a, (1, 2), constant_values=7.0), lambda a: np.tile(a, (2, 3)),
                  lambda a: np.repeat(a, 2, 0), lambda a: np.diagonal(a, 1), np.trace, lambda a: np.flip(a, 0),
                  lambda a: np.split(a, 2, 1)[1], lambda a: np.diag(np.diagonal(a), -1),
                  lambda a: np.take_along_axis(a, a.argmax(1)[:, None], 1)]
    function = sg.function([x], outputs, backend=backend_name, optimize=False)
    for shape in ((3, 4), (5, 2), (2, 6)):
        value = np.random.default_rng(sum(shape)).normal(size=shape)
        for got, reference in zip(function(value), references):
            expected = reference(value)
            assert got.shape == expected.shape and got.dtype == expected.dtype
            np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_run_time_failures_name_the_node_and_the_line(backend_name):
    x = sg.placeholder((None, None), name="x")
    cases = [(sg.split(x, 2, 0)[0], np.zeros((3, 2), np.float32), "cannot reshape"),
             (sg.pad(x, 1, mode="reflect"), np.zeros((0, 2), np.float32), "out of bounds"),
             (sg.take_along_axis(x, sg.constant(np.array([[5]])), 1), np.zeros((1, 3), np.float32), "out of bounds")]
    for node, value, problem in cases:
        function = sg.function([x], node, backend=backend_name, optimize=False)
        with pytest.raises(sg.EvaluationError, match=problem) as info:
            function(value)
        assert re.search(THIS_FILE, str(info.value)), str(info.value)


# -- node methods, creation, cost, optimizer ------------------------------------------------------------------------

def test_node_methods_match_numpy():
    a = np.random.default_rng(2).normal(size=(3, 1, 4))
    x = sg.constant(a)
    pairs = [(x.squeeze(), a.squeeze()), (x.squeeze(1), a.squeeze(1)), (x.flatten(), a.flatten()),
             (x.ravel(), a.ravel()), (x.swapaxes(0, 2), a.swapaxes(0, 2)), (x.repeat(2), a.repeat(2)),
             (x.repeat(3, axis=1), a.repeat(3, axis=1)), (x.diagonal(0, 0, 2), a.diagonal(0, 0, 2)),
             (x.trace(1, 0, 2), a.trace(1, 0, 2))]
    for node, expected in pairs:
        np.testing.assert_array_equal(node.eval(), expected)


def test_creation_functions():
    assert sg.zeros((2, 3)).dtype == np.float32 and sg.ones(4, "int32").eval().tolist() == [1, 1, 1, 1]
    assert sg.zeros((4096, 4096)).op.name == "broadcast_to"  # one stored zero, not 64 MB
    assert sg.full((2,), 7).dtype == np.int64 and sg.full((2,), 0.5).dtype == np.float32
    assert sg.arange(5).dtype == np.int64 and sg.arange(0, 1, 0.25).dtype == np.float32
    np.testing.assert_array_equal(sg.arange(0, 1, 0.25).eval(), np.arange(0, 1, 0.25, dtype=np.float32))
    np.testing.assert_array_equal(sg.eye(3, 4, -1, "int64").eval(), np.eye(3, 4, -1, dtype=np.int64))
    with pytest.raises(sg.DTypeError, match="full_like: the fill value"):
        sg.full_like(sg.placeholder((2,), "int32"), 2.5)


def test_fill_values_merge_only_when_their_bits_are_equal():
    x = sg.placeholder((3,), "float64", name="x")
    plus, minus, nan1, nan2 = (sg.full_like(x, v) for v in (0.0, -0.0, float("nan"), float("nan")))
    (a, b, c, d), _ = sg.optimize([plus, minus, nan1, nan2], passes=["merge"])
    assert a is not b and c is d
    assert np.signbit(sg.evaluate(b, {x: np.zeros(3)})).all()


def test_cost_rules_count_no_flops_for_rearranging_and_the_adds_of_a_scatter():
    x = sg.placeholder((4, 5), name="x")
    rearranged = [sg.roll(x, 1, 0), sg.pad(x, 1), sg.tile(x, 2), sg.tril(x), sg.diagonal(x), sg.full_like(x, 1.0)]
    assert all(sg.stats(n).flops == sg.stats(n).flops_by_op.get("where", 0) for n in rearranged)
    scattered = sg.index_add(x, 0, sg.constant(np.array([0, 0, 1])), sg.placeholder((3, 5), name="s"))
    assert sg.stats(scattered).flops == 3 * 5 + 4 * 5  # index_grad adds each source element, then x is added


def test_the_optimizer_keeps_their_values():
    x = sg.placeholder((None, 4), "float64", name="x")
    cost = sg.sum(sg.pad(sg.roll(x, 1, 1), 1, mode="reflect") ** 2) + sg.trace(sg.tril(x[:4]))
    outputs = [cost] + sg.grad(cost, [x])
    value = np.random.default_rng(3).normal(size=(5, 4))
    optimized, _ = sg.optimize(outputs, check=True, feed_dict={x: value})
    for a, b in zip(sg.evaluate(outputs, {x: value}), sg.evaluate(optimized, {x: value})):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_numba_reads_views_and_masks_in_its_loops():
    """trace(x) and tril(x) run as fused loops reading x in place (no gather, no copy), and a diagonal passed to a
    call is a strided view."""
    x = sg.placeholder((None, None), "float64", name="x")
    function = sg.function([x], [sg.trace(x), sg.tril(x) * 2.0, sg.diagonal(x) @ x], backend="numba")
    assert "index" not in re.findall(r"# (\w+)\(", function.source)
    assert "as_strided" in function.source
    value = np.arange(12.0).reshape(3, 4)
    got = function(value)
    np.testing.assert_allclose(got[0], np.trace(value))
    np.testing.assert_allclose(got[1], np.tril(value) * 2)
    np.testing.assert_allclose(got[2], np.diagonal(value) @ value)


def test_saved_graphs_keep_fill_bits_and_kept_sizes(tmp_path):
    x = sg.placeholder((None, None, 3), "float64", name="x")
    outputs = [sg.full_like(x, float("nan")), sg.full_like(x, -0.0), sg.repeat(x, 2, 1),
               sg.reshape(x, (x.shape[0], -1)), sg.broadcast_to(x[:, :1], (None, 4, 3)), sg.diag(x[0, :, 0], 1)]
    outputs += sg.grad(sg.sum(outputs[2]) + sg.sum(outputs[5]), [x])
    sg.save(tmp_path / "arrays.safetensors", outputs, [x])
    inputs, loaded, _ = sg.load(tmp_path / "arrays.safetensors")
    value = np.random.default_rng(4).normal(size=(2, 5, 3))
    for a, b in zip(sg.function([x], outputs, backend="numpy")(value), sg.function(inputs, loaded, backend="numpy")(value)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))


def test_the_registry_refuses_kept_sizes_no_builder_makes():
    from symgraph.io import registry
    from symgraph.ops.shape import Reshape

    x = sg.placeholder((None, None), name="x")
    spec = registry.OPS["reshape"]
    spec.check(Reshape((None, None), ((0,), (1,))), (x,))
    for op, problem in ((Reshape((None, -1), ((0, 0),)), "names an axis twice"),
                        (Reshape((None, -1), ()), "keeps 0 groups"), (Reshape((None,), ((2,),)), "an axis of")):
        with pytest.raises(registry.Invalid, match=problem):
            spec.check(op, (x,))
