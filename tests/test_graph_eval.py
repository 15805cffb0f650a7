"""The graph IR (leaves, op nodes, sites, immutability, variables), NumPy indexing and the evaluator's contract."""

import copy
import inspect
import os
import pickle
from typing import ClassVar

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import Constant, Op, Placeholder, Variable, apply

THIS_FILE = os.path.realpath(__file__)


def _line():
    """The line of the caller's statement (keep the node being built on the same line)."""
    return inspect.currentframe().f_back.f_lineno


def assert_site(node, line):
    assert os.path.realpath(node.site.filename) == THIS_FILE, node.site
    assert node.site.lineno == line, f"{node!r} records line {node.site.lineno}, built on line {line}"


def f32(shape, start=0.0):
    return (np.arange(int(np.prod(shape)), dtype=np.float32) + start).reshape(shape)


# -- leaves -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, dtype", [
    (1.0, "float32"),
    (1, "int64"),
    (True, "bool"),
    ([1, 2, 3], "int64"),
    ([1.0, 2], "float32"),
    ([[True, False]], "bool"),
    (np.float64(2.5), "float64"),
    (np.arange(3, dtype=np.float64), "float64"),
    (np.arange(3, dtype=np.float32), "float32"),
    (np.arange(3, dtype=np.int32), "int32"),
    (np.arange(3, dtype=np.int64), "int64"),
    (np.arange(3, dtype=np.uint8), "int32"),    # pixels widen to int32
])
def test_constant_and_variable_dtype_defaults(value, dtype):
    c = sg.constant(value)
    v = sg.variable(value)
    assert c.dtype == np.dtype(dtype) and v.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(c.value, np.asarray(value))
    np.testing.assert_array_equal(v.value, np.asarray(value))
    assert c.shape == np.shape(value) == v.shape


def test_explicit_dtype_casts_arrays_but_refuses_to_truncate_python_values():
    assert sg.constant(np.array([1.7, -2.2]), dtype="int32").value.tolist() == [1, -2]  # an explicit cast
    assert sg.constant([1, 2], dtype="float64").dtype == np.float64
    assert sg.constant(3, dtype=np.float32).value == np.float32(3)
    with pytest.raises(sg.DTypeError, match="truncated"):
        sg.constant([1.5, 2.0], dtype="int64")
    with pytest.raises(sg.DTypeError, match="float16"):
        sg.constant(1.0, dtype="float16")


@pytest.mark.parametrize("make", [sg.constant, sg.variable])
def test_float16_values_are_refused_unless_cast_explicitly(make):
    half = np.array([0.5, 1.5, 65504.0], np.float16)
    for value in (half, half[0], [half[0], half[1]]):
        with pytest.raises(sg.DTypeError, match=r"float16 is not supported.*dtype='float32'"):
            make(value, name="half")
    cast = make(half, dtype="float32")       # dtype= is an explicit cast
    assert cast.dtype == np.float32
    np.testing.assert_array_equal(cast.value, half.astype(np.float32))
    with pytest.raises(sg.DTypeError, match=r"float128|longdouble"):
        make(np.ones(2, np.longdouble))


def test_leaf_nodes_describe_themselves():
    c = sg.constant(np.zeros((2, 3), np.float64), name="c")
    v = sg.variable(np.zeros((4,), np.int32), name="v", trainable=False)
    p = sg.placeholder((None, 5), name="p")
    for node, kind, cls, shape, dtype, name in [
        (c, "constant", Constant, (2, 3), np.float64, "c"),
        (v, "variable", Variable, (4,), np.int32, "v"),
        (p, "placeholder", Placeholder, (None, 5), np.float32, "p"),   # placeholders default to float32
    ]:
        assert isinstance(node, cls) and isinstance(node, sg.Node)
        assert node.op.name == kind
        assert node.inputs == ()
        assert node.shape == shape and node.ndim == len(shape)
        assert node.dtype == np.dtype(dtype)
        assert node.name == name
    assert v.trainable is False
    assert sg.constant(1.0).name is None
    assert sg.placeholder(()).shape == () and sg.placeholder(3).shape == (3,)
    assert sg.placeholder((2,), "int32").dtype == np.int32
    assert sg.placeholder((2,), np.float64).dtype == np.float64
    assert "p" in repr(p) and "(None, 5)" in repr(p) and "float32" in repr(p)


def test_placeholder_rejects_bad_dimensions():
    for shape in [(-1,), (2.0,), (True,), ("3",), 2.0, "3", {2: 3}]:
        with pytest.raises(sg.ShapeError, match="placeholder"):
            sg.placeholder(shape)


def test_placeholder_shape_none_is_refused_rather_than_read_as_scalar_or_any_shape():
    """TF1 reads shape=None as any rank; symgraph needs ranks, so None is an error that shows both spellings."""
    line = _line() + 2
    with pytest.raises(sg.ShapeError, match=r"'x'.*rank.*\(\) for a scalar.*\(None, None\)") as info:
        sg.placeholder(None, name="x")
    assert f"{os.path.basename(THIS_FILE)}:{line}" in str(info.value)


def test_trainable_must_be_a_bool():
    assert sg.variable(1.0, trainable=np.bool_(False)).trainable is False
    for bad in ("no", 0, 1, None, "False"):
        with pytest.raises(TypeError, match=r"'w'.*trainable must be True or False"):
            sg.variable(1.0, name="w", trainable=bad)


x2 = sg.placeholder((2, 3), name="x2")
y2 = sg.placeholder((3, 4), name="y2")
l2 = sg.placeholder((2,), "int64", name="l2")


@pytest.mark.parametrize("build, op_name, shape, dtype", [
    (lambda: x2 + 1, "add", (2, 3), "float32"),
    (lambda: 1 - x2, "sub", (2, 3), "float32"),
    (lambda: x2 * x2, "mul", (2, 3), "float32"),
    (lambda: x2 / 2, "div", (2, 3), "float32"),
    (lambda: x2 ** 2, "pow", (2, 3), "float32"),
    (lambda: -x2, "neg", (2, 3), "float32"),
    (lambda: abs(x2), "abs", (2, 3), "float32"),
    (lambda: x2 @ y2, "matmul", (2, 4), "float32"),
    (lambda: sg.sigmoid(x2), "sigmoid", (2, 3), "float32"),
    (lambda: sg.exp(x2), "exp", (2, 3), "float32"),
    (lambda: x2 < 0, "less", (2, 3), "bool"),
    (lambda: sg.equal(x2, x2), "equal", (2, 3), "bool"),
    (lambda: sg.where(x2 > 0, x2, 0.0), "where", (2, 3), "float32"),
    (lambda: x2.sum(axis=1), "sum", (2,), "float32"),
    (lambda: x2.mean(), "mean", (), "float32"),
    (lambda: x2.argmax(axis=0), "argmax", (3,), "int64"),
    (lambda: x2.T, "transpose", (3, 2), "float32"),
    (lambda: x2.reshape(3, 2), "reshape", (3, 2), "float32"),
    (lambda: x2.astype("int32"), "cast", (2, 3), "int32"),
    (lambda: x2[0], "index", (3,), "float32"),
    (lambda: sg.concatenate([x2, x2]), "concatenate", (4, 3), "float32"),
    (lambda: sg.stack([x2, x2], axis=1), "stack", (2, 2, 3), "float32"),
    (lambda: sg.expand_dims(x2, 0), "expand_dims", (1, 2, 3), "float32"),
    (lambda: sg.broadcast_to(x2, (5, 2, 3)), "broadcast_to", (5, 2, 3), "float32"),
    (lambda: sg.one_hot(l2, 4), "one_hot", (2, 4), "float32"),
])
def test_op_nodes_carry_their_public_name_shape_and_dtype(build, op_name, shape, dtype):
    node = build()
    assert node.op.name == op_name
    assert node.shape == shape and node.ndim == len(shape)
    assert node.dtype == np.dtype(dtype)
    assert node.name is None
    assert all(isinstance(i, sg.Node) for i in node.inputs) and node.inputs
    assert op_name in repr(node)


def test_inputs_are_the_operand_nodes_in_order():
    a = sg.placeholder((3,), name="a")
    b = sg.variable(np.ones(3, np.float32), name="b")
    s = sg.sub(a, b, name="s")
    assert s.inputs == (a, b) and s.name == "s"
    assert sg.sub(b, a).inputs == (b, a)
    assert sg.where(a > b, a, b).inputs[1:] == (a, b)
    assert sg.concatenate([b, a, b]).inputs == (b, a, b)


def test_nodes_are_immutable():
    c = sg.constant([1.0, 2.0], name="c")
    p = sg.placeholder((2,), name="p")
    node = c + p
    for target in (c, p, node):
        for attribute in ("op", "inputs", "shape", "dtype", "name", "site"):
            before = getattr(target, attribute)
            with pytest.raises(AttributeError, match="immutable"):
                setattr(target, attribute, None)
            assert getattr(target, attribute) is before
        with pytest.raises(AttributeError):
            target.extra = 1
    with pytest.raises(AttributeError):
        c.value = np.zeros(2)
    with pytest.raises(ValueError):
        c.value[0] = 5.0   # the stored array is read-only
    assert c.value.tolist() == [1.0, 2.0]


def test_nodes_refuse_pickling_and_copy_as_themselves():
    """Identity is a node's meaning (and nodes are immutable): a copy is the node; a pickle could not be read back."""
    c = sg.constant([1.0, 2.0], name="c")
    p = sg.placeholder((2,), name="p")
    v = sg.variable(np.zeros(2, np.float32), name="v")
    node = c + p * v
    for target in (c, p, v, node):
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            with pytest.raises(TypeError, match=r"cannot pickle .* node .*sg.save.*variable.value"):
                pickle.dumps(target, protocol)
    for target in (c, p, node):
        assert copy.copy(target) is target and copy.deepcopy(target) is target
    nested = copy.deepcopy({"outputs": [node, c], "feeds": {p: np.ones(2)}})
    assert nested["outputs"][0] is node and nested["outputs"][1] is c and list(nested["feeds"]) == [p]
    for copier in (copy.copy, copy.deepcopy, lambda x: copy.deepcopy([x])):
        with pytest.raises(TypeError, match=r"cannot copy variable node 'v'.*sg.variable\(v.value"):
            copier(v)
    np.testing.assert_array_equal(sg.evaluate(nested["outputs"][0], {p: [1.0, 1.0]}), [1.0, 2.0])


def test_identity_equality_and_no_truth_value():
    a = sg.placeholder((2,), name="a")
    b = sg.placeholder((2,), name="b")
    assert (a == a) is True and (a == b) is False and (a != b) is True
    assert len({a, b, a}) == 2 and {a: 1}[a] == 1
    with pytest.raises(TypeError, match="sg.where"):
        bool(a < b)
    with pytest.raises(TypeError, match="not iterable"):
        list(a)
    assert len(a) == 2
    with pytest.raises(TypeError, match="first dimension"):
        len(sg.placeholder((None, 2)))


def test_every_node_records_the_line_of_this_file_that_built_it():
    c, line_c = sg.constant(1.0), _line()
    v, line_v = sg.variable(np.zeros(3, np.float32), name="v"), _line()
    p, line_p = sg.placeholder((None, 3), name="p"), _line()
    h, line_h = sg.sigmoid(p * v + c), _line()
    i, line_i = h[:, 0], _line()
    m, line_m = sg.matmul(h, sg.transpose(h)), _line()
    for node, line in [(c, line_c), (v, line_v), (p, line_p), (h, line_h), (i, line_i), (m, line_m)]:
        assert_site(node, line)
        assert f":{line}" in repr(node)
    mul_node = h.inputs[0].inputs[0]       # p * v, built on h's line too
    assert mul_node.op.name == "mul"
    assert_site(mul_node, line_h)
    assert_site(m.inputs[1], line_m)


def _helper_building_a_node(x):
    return sg.tanh(x), _line()


def test_site_is_the_innermost_user_frame():
    x = sg.placeholder((2,))
    node, line = _helper_building_a_node(x)
    assert_site(node, line)


def test_python_scalars_lists_and_arrays_become_constants():
    x = sg.placeholder((3,), name="x")
    y, line = x + 2, _line()
    scalar = y.inputs[1]
    assert isinstance(scalar, Constant) and scalar.op.name == "constant"
    assert scalar.dtype == np.float32 and scalar.value == 2   # weak: takes x's dtype
    assert_site(scalar, line)
    z = x * [1, 2, 3]
    assert isinstance(z.inputs[1], Constant) and z.inputs[1].shape == (3,)
    assert z.dtype == np.result_type(np.float32, np.int64)    # a list is an array: it promotes as NumPy does
    w = np.arange(3.0) + x                                     # __array_priority__: the node's __radd__ runs
    assert isinstance(w, sg.Node) and w.dtype == np.float64
    assert isinstance(w.inputs[0], Constant)
    k = sg.placeholder((3,), "int32")
    assert (k * 2).dtype == np.int32 and (k * 2).inputs[1].dtype == np.int32
    half = k + 1.5              # a Python float meeting ints: float32, then NumPy promotion
    assert half.inputs[1].dtype == np.float32 and half.dtype == np.result_type(np.int32, np.float32)
    np.testing.assert_array_equal(sg.evaluate(y, {x: f32((3,))}), f32((3,)) + 2)


# -- variables --------------------------------------------------------------------------------------------------------

def test_variable_value_is_read_only_and_copied():
    source = np.array([1.0, 2.0], np.float32)
    v = sg.variable(source, name="v")
    source[0] = 100.0
    assert v.value.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError):
        v.value[0] = 5.0
    with pytest.raises(AttributeError):
        v.value = np.zeros(2, np.float32)


def test_assign_sets_the_value_and_copies_it():
    v = sg.variable(np.zeros((2, 2), np.float32), name="w")
    new = np.full((2, 2), 3.0, np.float32)
    v.assign(new)
    new[0, 0] = -1.0
    np.testing.assert_array_equal(v.value, np.full((2, 2), 3.0))
    assert v.value.dtype == np.float32 and not v.value.flags.writeable
    np.testing.assert_array_equal((v * 2).eval(), np.full((2, 2), 6.0))
    v.assign([[1, 2], [3, 4]])                         # exact Python ints are fine
    assert v.value.dtype == np.float32 and v.value.tolist() == [[1, 2], [3, 4]]
    v.assign(np.ones((2, 2), np.int16))                # a safe NumPy cast
    assert v.value.dtype == np.float32
    d = sg.variable(np.zeros(2), name="d")             # float64
    d.assign(np.array([0.5, 0.25], np.float32))
    assert d.value.dtype == np.float64 and d.value.tolist() == [0.5, 0.25]


@pytest.mark.parametrize("initial, bad, error, pattern", [
    (np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32), sg.ShapeError,
     r"expected shape \(2, 3\), got \(3, 2\)"),
    (np.zeros((2, 3), np.float32), np.zeros(6, np.float32), sg.ShapeError, r"expected shape \(2, 3\), got \(6,\)"),
    (np.zeros(2, np.float32), np.zeros(2, np.float64), sg.DTypeError, r"expected dtype float32, got float64"),
    (np.zeros(2, np.float32), np.zeros(2, np.int64), sg.DTypeError, r"expected dtype float32, got int64"),
    (np.zeros(2, np.int64), np.array([1.0, 2.0]), sg.DTypeError, r"expected dtype int64, got float64"),
    (np.zeros(2, np.int64), [1.5, 2], sg.DTypeError, r"int64.*truncated"),
    (np.zeros(2, np.int32), np.zeros(2, np.int64), sg.DTypeError, r"expected dtype int32, got int64"),
    (np.zeros(2, np.int32), [2 ** 40, 1], sg.DTypeError, r"int32 without loss"),
])
def test_assign_checks_shape_and_dtype_naming_the_variable(initial, bad, error, pattern):
    v, line = sg.variable(initial, name="weights"), _line()
    before = v.value
    with pytest.raises(error, match=pattern) as info:
        v.assign(bad)
    message = str(info.value)
    assert "variable node 'weights'" in message
    assert f"{v.site.filename}:{line}" in message
    assert v.value is before


# -- indexing ---------------------------------------------------------------------------------------------------------

BASIC_KEYS = [
    (1,),
    (-1,),
    (slice(1, 3),),
    (slice(1, 3), slice(None, None, 2)),
    (slice(None, None, -1),),
    (slice(None), slice(None, None, -2), slice(4, 0, -3)),
    (slice(-2, None), -1),
    (Ellipsis, 0),
    (Ellipsis, slice(3, 0, -2)),
    (0, Ellipsis, None),
    (None,),
    (slice(None), None, 1),
    (None, Ellipsis, None),
    (2, 3, 4),
    (slice(5, 10),),                 # empty
    (slice(None, None, 7), slice(1, -1)),
]


def _key_id(key):
    return repr(key).replace("slice", "s").replace("Ellipsis", "...")


@pytest.mark.parametrize("key", BASIC_KEYS, ids=_key_id)
def test_basic_indexing_matches_numpy(key):
    data = f32((3, 4, 5))
    expected = data[key]
    const = sg.constant(data)
    known = sg.placeholder((3, 4, 5), name="known")
    for node, feeds in [(const, None), (known, {known: data})]:
        result = node[key]
        assert result.op.name == "index"
        assert result.shape == expected.shape
        assert result.dtype == np.float32
        np.testing.assert_array_equal(sg.evaluate(result, feeds), expected)


@pytest.mark.parametrize("key", BASIC_KEYS, ids=_key_id)
def test_basic_indexing_with_unknown_dims(key):
    """A static dim is None exactly where NumPy's result size depends on the unknown input sizes."""
    x = sg.placeholder((None, 4, None), name="x")
    result = x[key]
    small, large = f32((3, 4, 5)), f32((6, 4, 7))
    got_small, got_large = sg.evaluate(result, {x: small}), sg.evaluate(result, {"x": large})
    np.testing.assert_array_equal(got_small, small[key])
    np.testing.assert_array_equal(got_large, large[key])
    assert len(result.shape) == got_small.ndim
    for static, a, b in zip(result.shape, got_small.shape, got_large.shape):
        if a != b:
            assert static is None, (result.shape, got_small.shape, got_large.shape)
        else:
            assert static in (a, None)


def test_static_shapes_with_unknown_dims():
    x = sg.placeholder((None, 4, None), name="x")
    assert x[:, 1].shape == (None, None)
    assert x[..., ::2].shape == (None, 4, None)
    assert x[0, ::2].shape == (2, None)
    assert x[None, :, -1].shape == (1, None, None)
    assert x[1:3, 1:3, 1:3].shape == (None, 2, None)
    assert x[2, 3, 4].shape == ()
    assert x[sg.placeholder((5,), "int64")].shape == (5, 4, None)
    assert x[:, [0, 1, 2]].shape == (None, 3, None)


ADVANCED_CASES = [
    (lambda i: (i,), np.array([0, 2, -1, 0])),
    (lambda i: (i, slice(None)), np.array([-3, 1])),
    (lambda i: (slice(None), i), np.array([3, 0, -4])),
    (lambda i: (Ellipsis, i), np.array([4, -5, 2])),
    (lambda i: (i,), np.array([[0, 1], [2, -1]])),                 # a 2-D index array
    (lambda i: (1, i), np.array([0, 3])),                           # an int beside an array counts as advanced
    (lambda i: (i, slice(1, 3), i), np.array([0, 2])),              # separated arrays: broadcast dims go first
    (lambda i: (slice(None), i, i), np.array([1, 2])),              # adjacent arrays stay in place
    (lambda i: (None, i), np.array([2, 0])),
]


@pytest.mark.parametrize("case", range(len(ADVANCED_CASES)))
@pytest.mark.parametrize("index_kind", ["placeholder", "constant node", "array", "list"])
def test_integer_array_indexing_matches_numpy(case, index_kind):
    make_key, idx = ADVANCED_CASES[case]
    data = f32((3, 4, 5))
    expected = data[make_key(idx)]
    x = sg.placeholder((3, 4, 5), name="x")
    if index_kind == "placeholder":
        i = sg.placeholder(idx.shape, "int64", name="i")
        feeds = {x: data, i: idx}
    else:
        i = {"constant node": sg.constant(idx), "array": idx, "list": idx.tolist()}[index_kind]
        feeds = {x: data}
    result = x[make_key(i)]
    assert result.op.name == "index"
    assert result.shape == expected.shape
    np.testing.assert_array_equal(sg.evaluate(result, feeds), expected)


def test_rows_and_cols_and_int32_indices():
    data = f32((4, 5))
    x = sg.constant(data)
    rows = sg.placeholder((None,), "int32", name="rows")
    cols = sg.placeholder((None,), "int64", name="cols")
    picked = x[rows, cols]
    assert picked.shape == (None,)
    r, c = np.array([0, 3, -1], np.int32), np.array([4, 0, -2])
    np.testing.assert_array_equal(sg.evaluate(picked, {rows: r, cols: c}), data[r, c])
    # unknown dims of the indexed array and of the indices
    y = sg.placeholder((None, 5), name="y")
    gathered = y[rows]
    assert gathered.shape == (None, 5)
    np.testing.assert_array_equal(sg.evaluate(gathered, {y: data, rows: r}), data[r])


def test_index_arrays_must_be_integers():
    x = sg.placeholder((3,), name="x")
    with pytest.raises(sg.DTypeError, match="boolean-mask"):
        x[np.array([True, False, True])]
    with pytest.raises(sg.DTypeError, match="integers"):
        x[sg.placeholder((2,), name="f")]


def test_index_out_of_range_at_run_time_names_the_node():
    x = sg.placeholder((None, 4), name="x")
    idx = sg.placeholder((2,), "int64", name="idx")
    picked, line = sg.index(x, idx, name="picked"), _line()
    assert picked.name == "picked" and picked.shape == (2, 4)
    data = f32((3, 4))
    np.testing.assert_array_equal(picked.eval({x: data, idx: np.array([2, -3])}), data[[2, -3]])
    for bad in ([0, 3], [-4, 0]):
        with pytest.raises(sg.EvaluationError) as info:
            sg.evaluate(picked, {x: data, idx: np.array(bad)})
        message = str(info.value)
        assert isinstance(info.value, ValueError)
        assert "index node 'picked'" in message
        assert "(2, 4)" in message and "float32" in message
        assert f"{picked.site.filename}:{line}" in message
        assert str(bad[0] if bad[0] else bad[1]) in message and "out of bounds" in message


def test_int_index_out_of_range_of_an_unknown_dim_fails_at_run_time():
    x = sg.placeholder((None, 4), name="x")
    row, line = x[5], _line()
    assert row.shape == (4,)
    np.testing.assert_array_equal(row.eval({x: f32((6, 4))}), f32((6, 4))[5])
    with pytest.raises(sg.EvaluationError, match=rf"index node .*:{line}\b.*out of bounds"):
        row.eval({x: f32((3, 4))})


def test_index_out_of_range_of_a_known_dim_fails_at_construction():
    x = sg.placeholder((3, 4), name="x")
    with pytest.raises(sg.ShapeError, match="out of bounds"):
        x[3]
    with pytest.raises(sg.ShapeError, match="out of bounds"):
        x[:, -5]
    with pytest.raises(sg.ShapeError, match="out of bounds"):
        x[np.array([0, 3])]
    with pytest.raises(sg.ShapeError, match="too many indices"):
        x[0, 0, 0]


# -- evaluation -------------------------------------------------------------------------------------------------------

def test_evaluate_returns_an_array_for_a_node_and_a_list_for_a_list():
    x = sg.placeholder((2,), name="x")
    a, b = x * 2, x + 1
    data = np.array([1.0, 2.0], np.float32)
    single = sg.evaluate(a, {x: data})
    assert isinstance(single, np.ndarray) and single.tolist() == [2.0, 4.0] and single.dtype == np.float32
    both = sg.evaluate([a, b], {x: data})
    assert isinstance(both, list) and len(both) == 2
    assert both[0].tolist() == [2.0, 4.0] and both[1].tolist() == [2.0, 3.0]
    assert isinstance(sg.evaluate((a,), {x: data}), list)
    assert sg.evaluate([]) == []
    assert a.eval({x: data}).tolist() == [2.0, 4.0]
    scalar = sg.constant(3.0).eval()
    assert isinstance(scalar, np.ndarray) and scalar.shape == () and scalar.dtype == np.float32
    with pytest.raises(TypeError):
        sg.evaluate(3.0)
    with pytest.raises(TypeError):
        sg.evaluate([a, 3.0])


def test_feeds_by_placeholder_or_by_name():
    x = sg.placeholder((2,), name="x")
    y = sg.placeholder((2,), name="y")
    out = x - y
    xs, ys = np.array([5.0, 6.0], np.float32), np.array([1.0, 2.0], np.float32)
    for feeds in ({x: xs, y: ys}, {"x": xs, "y": ys}, {x: xs, "y": ys}):
        assert sg.evaluate(out, feeds).tolist() == [4.0, 4.0]
    with pytest.raises(sg.FeedError, match="fed twice"):
        sg.evaluate(out, {x: xs, "x": xs, y: ys})
    twin = sg.placeholder((2,), name="x")
    with pytest.raises(sg.FeedError, match="ambiguous"):
        sg.evaluate(out + twin, {"x": xs, "y": ys})
    assert sg.evaluate(out + twin, {x: xs, twin: xs, y: ys}).tolist() == [9.0, 10.0]


class _Counter:
    def __init__(self):
        self.calls = 0


class CountedDouble(Op):
    """A user-defined op: doubles its input and counts how often it runs.

    Deliberately not a dataclass, so that test_grad_ops' registry of the library's op classes does not list it.
    """

    name: ClassVar[str] = "counted_double"

    def __init__(self, counter):
        self.counter = counter

    def infer(self, x):
        return x.shape, x.dtype

    def compute(self, x):
        self.counter.calls += 1
        return x * 2


def test_each_node_is_computed_once_per_evaluation_with_a_custom_op():
    counter = _Counter()
    x = sg.placeholder((3,), name="x")
    shared, line = apply(CountedDouble(counter), x), _line()
    assert shared.op.name == "counted_double" and shared.shape == (3,)
    assert_site(shared, line)
    consumers = [shared + 1, shared * shared, sg.exp(shared), shared[0], shared.sum()]
    top = consumers[0] + consumers[1] + consumers[2] + consumers[3] + consumers[4]
    data = np.array([0.0, 0.5, 1.0], np.float32)
    results = sg.evaluate([top, shared, top, *consumers], {x: data})
    assert counter.calls == 1
    np.testing.assert_allclose(results[1], 2 * data)
    np.testing.assert_array_equal(results[0], results[2])
    sg.evaluate(top, {x: data})
    assert counter.calls == 2      # once per evaluation, not cached across evaluations


def test_each_node_is_computed_once_by_counting_a_builtin_op(monkeypatch):
    x = sg.placeholder((None, 3), name="x")
    h = sg.sigmoid(x)
    calls = []
    original = type(h.op).compute

    def counting(self, *values):
        calls.append(self)
        return original(self, *values)

    monkeypatch.setattr(type(h.op), "compute", counting)
    # a diamond: h feeds several branches that meet again, plus its gradient graph, which reuses h
    cost = sg.mean(h * h + sg.exp(h) - h.sum(axis=1, keepdims=True))
    grad = sg.grad(cost, x)
    sg.evaluate([cost, grad, h], {x: np.ones((2, 3), np.float32)})
    assert len(calls) == 1


def test_results_do_not_alias_each_other_variables_constants_or_feeds():
    v = sg.variable(np.array([1.0, 2.0], np.float32), name="v")
    c = sg.constant(np.array([3.0, 4.0], np.float32), name="c")
    x = sg.placeholder((2,), name="x")
    fed = np.array([5.0, 6.0], np.float32)
    outputs = [v, c, x, v, sg.stop_gradient(v), x.astype("float32"), v[:], v.reshape(2), v + 0, x, c + x]
    results = sg.evaluate(outputs, {x: fed})
    originals = [r.copy() for r in results]
    for k, r in enumerate(results):
        assert r.flags.writeable, k
        for other in results[k + 1:]:
            assert not np.shares_memory(r, other)
        assert not np.shares_memory(r, fed) and not np.shares_memory(r, v.value) and not np.shares_memory(r, c.value)
    for r in results:
        r += 100.0
    assert v.value.tolist() == [1.0, 2.0] and c.value.tolist() == [3.0, 4.0] and fed.tolist() == [5.0, 6.0]
    again = sg.evaluate(outputs, {x: fed})
    for a, b in zip(again, originals):
        np.testing.assert_array_equal(a, b)
    single = v.eval()
    single[0] = -1.0
    assert v.eval().tolist() == [1.0, 2.0]
    assert not np.shares_memory(x.eval({x: fed}), fed)


def test_an_unused_placeholder_need_not_be_fed_but_its_feed_is_checked():
    x = sg.placeholder((2,), name="x")
    unused = sg.placeholder((3,), name="unused")
    out = x * 3
    assert sg.evaluate(out, {x: np.ones(2, np.float32)}).tolist() == [3.0, 3.0]
    # fed though not needed (one feed dict serving several graphs): allowed, and checked as TF1 and Theano check it
    assert sg.evaluate(out, {x: np.ones(2, np.float32), unused: np.zeros(3, np.float32)}).tolist() == [3.0, 3.0]
    assert sg.constant(2.0).eval({unused: np.zeros(3, np.float32)}) == 2.0
    assert sg.constant(2.0).eval() == 2.0 and sg.constant(2.0).eval({}) == 2.0
    with pytest.raises(sg.ShapeError, match=r"placeholder node 'unused'.*expected shape \(3,\), got \(7,\)"):
        sg.evaluate(out, {x: np.ones(2, np.float32), unused: np.zeros(7, np.float32)})
    with pytest.raises(sg.DTypeError, match=r"placeholder node 'unused'.*got float64"):
        sg.evaluate(out, {x: np.ones(2, np.float32), unused: np.zeros(3)})
    with pytest.raises(sg.DTypeError, match=r"placeholder node 'unused'.*str"):
        sg.constant(2.0).eval({unused: "garbage"})


def test_none_dims_accept_any_size():
    x = sg.placeholder((None, 4), name="x")
    out = x.sum(axis=1)
    for rows in (0, 1, 7):
        assert sg.evaluate(out, {x: np.ones((rows, 4), np.float32)}).shape == (rows,)
    scalar = sg.placeholder((), name="s")
    assert sg.evaluate(scalar * 2, {scalar: 1.5}) == 3.0


@pytest.mark.parametrize("dtype, value, expected", [
    ("float32", [[1, 2], [3, 4]], [[1.0, 2.0], [3.0, 4.0]]),          # exact Python ints
    ("float32", np.array([[1, 2], [3, 4]], np.int16), [[1.0, 2.0], [3.0, 4.0]]),   # a safe NumPy cast
    ("float32", [[0.5, 2], [3, 4]], [[0.5, 2.0], [3.0, 4.0]]),        # Python floats
    ("float64", np.array([[1, 2], [3, 4]], np.int32), [[1.0, 2.0], [3.0, 4.0]]),   # int32 -> float64 is safe
    ("float64", np.array([[0.5, 2], [3, 4]], np.float32), [[0.5, 2.0], [3.0, 4.0]]),
    ("int64", np.array([[1, 2], [3, 4]], np.int32), [[1, 2], [3, 4]]),
    ("int64", [[1, 2], [3, -4]], [[1, 2], [3, -4]]),
    ("int32", [[1, 2], [3, 2 ** 31 - 1]], [[1, 2], [3, 2 ** 31 - 1]]),
    ("bool", [[True, False], [False, True]], [[True, False], [False, True]]),
])
def test_feeds_that_convert_exactly_are_accepted(dtype, value, expected):
    p = sg.placeholder((2, 2), dtype, name="p")
    result = sg.evaluate(p, {p: value})
    assert result.dtype == np.dtype(dtype)
    assert result.tolist() == expected


@pytest.mark.parametrize("dtype, value, pattern", [
    ("int64", np.array([1.5, 2.0]), r"expected dtype int64, got float64"),
    ("int64", np.array([1.0, 2.0]), r"expected dtype int64, got float64"),     # even integral floats: cast yourself
    ("int32", [1.5, 2], r"int32.*floating-point values.*truncated"),
    ("int64", 1.5, r"int64.*truncated"),
    ("float32", np.array([1, 2], np.int64), r"expected dtype float32, got int64"),   # labels stay labels
    ("float32", np.array([1, 2], np.int32), r"expected dtype float32, got int32"),
    ("float32", [2 ** 24 + 1, 0], r"cannot be stored as float32 without loss"),
    ("float32", np.array([0.1, 0.2]), r"expected dtype float32, got float64.*astype\('float32'\)"),
    ("int32", np.array([1, 2], np.int64), r"expected dtype int32, got int64"),
    ("int32", [2 ** 31, 0], r"int32 without loss"),
    ("bool", [0, 1], r"bool, got Python ints.*only True and False"),     # ints are not bools, even 0 and 1
    ("bool", np.array([0, 1]), r"expected dtype bool, got int64"),
])
def test_feeds_that_would_lose_information_raise(dtype, value, pattern):
    p = sg.placeholder((2,) if np.ndim(value) else (), dtype, name="p")
    with pytest.raises(sg.DTypeError, match=pattern) as info:
        sg.evaluate(p + p, {p: value})
    assert "placeholder node 'p'" in str(info.value)
    assert isinstance(info.value, TypeError)
