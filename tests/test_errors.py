"""The error contract: each error is a builtin's subclass and names the node and the line of the user's code.

Each test builds the failing node on one line of this file and checks that the message names the op, the operands'
names and shapes, and this file and that line. Wording is only relied on where the README documents it.
"""

import inspect
import os
import re

import numpy as np
import pytest

import symgraph as sg

THIS_FILE = os.path.realpath(__file__)


def raises(error_class, build):
    """Run ``build`` (a lambda written on the caller's line); return the error it raised and that line."""
    line = inspect.currentframe().f_back.f_lineno
    with pytest.raises(error_class) as info:
        build()
    return info.value, line


def at(line):
    """A regex for 'this file:line' (the site may be spelled with a relative or absolute path)."""
    return re.escape(os.path.basename(THIS_FILE)) + f":{line}\\b"


def assert_names_site(error, line):
    message = str(error)
    assert re.search(at(line), message), f"the message does not name {os.path.basename(THIS_FILE)}:{line}:\n{message}"
    sites = re.findall(r"(\S+\.py):(\d+)", message)
    assert any(os.path.realpath(f) == THIS_FILE and int(n) == line for f, n in sites), message


def assert_mentions(error, *patterns):
    message = str(error)
    for pattern in patterns:
        assert re.search(pattern, message, re.DOTALL), f"{pattern!r} not found in:\n{message}"


# -- the hierarchy ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("error_class, builtin", [
    (sg.ShapeError, ValueError),
    (sg.DTypeError, TypeError),
    (sg.FeedError, ValueError),
    (sg.EvaluationError, ValueError),
    (sg.GradientError, ValueError),
])
def test_each_error_is_a_subclass_of_its_builtin(error_class, builtin):
    assert issubclass(error_class, builtin)
    assert issubclass(error_class, sg.SymgraphError)
    assert issubclass(sg.SymgraphError, Exception)


# -- shapes at construction -------------------------------------------------------------------------------------------

def test_matmul_inner_dimensions():
    a = sg.placeholder((2, 3), name="a")
    b = sg.placeholder((4, 5), name="b")
    error, line = raises(sg.ShapeError, lambda: a @ b)
    assert isinstance(error, ValueError)
    assert_mentions(error, r"matmul", r"\(2, 3\).*\(4, 5\)", r"3 != 4|inner", r"'a'", r"'b'", r"float32")
    assert_names_site(error, line)


def test_matmul_of_batches_and_vectors():
    a = sg.placeholder((None, 2, 3), name="batch")
    v = sg.variable(np.zeros(4, np.float32), name="vec")
    error, line = raises(sg.ShapeError, lambda: sg.matmul(a, v))
    assert_mentions(error, r"matmul", r"\(None, 2, 3\).*\(4,\)", r"'batch'", r"'vec'")
    assert_names_site(error, line)


def test_broadcasting_add():
    p = sg.constant(np.zeros(3, np.float32), name="p")
    q = sg.placeholder((4,), name="q")
    error, line = raises(sg.ShapeError, lambda: p + q)
    assert_mentions(error, r"^add\b", r"\(3,\).*\(4,\)", r"broadcast", r"constant node 'p'", r"placeholder node 'q'")
    assert_names_site(error, line)


def test_broadcasting_with_unknown_dims():
    x = sg.placeholder((None, 3), name="x")
    y = sg.placeholder((None, 2), name="y")
    error, line = raises(sg.ShapeError, lambda: sg.maximum(x, y))
    assert_mentions(error, r"^maximum\b", r"\(None, 3\).*\(None, 2\)", r"'x'", r"'y'")
    assert_names_site(error, line)


def test_broadcasting_against_an_auto_converted_list():
    x = sg.placeholder((2, 3), name="x")
    error, line = raises(sg.ShapeError, lambda: x * [1.0, 2.0])
    assert_mentions(error, r"^mul\b", r"\(2, 3\).*\(2,\)", r"'x'")
    assert_names_site(error, line)


def test_reshape_sizes():
    x = sg.placeholder((2, 3), name="x")
    error, line = raises(sg.ShapeError, lambda: sg.reshape(x, (4, 2)))
    assert_mentions(error, r"^reshape\b", r"\(2, 3\)", r"\(4, 2\)", r"'x'")
    assert_names_site(error, line)
    error, line = raises(sg.ShapeError, lambda: x.reshape(4, -1))
    assert_mentions(error, r"^reshape\b", r"\(2, 3\)", r"\(4, -1\)", r"'x'")
    assert_names_site(error, line)
    error, line = raises(sg.ShapeError, lambda: x.reshape(-1, -1))
    assert_mentions(error, r"^reshape\b", r"one -1", r"'x'")
    assert_names_site(error, line)


def test_concatenate_sizes():
    a = sg.placeholder((2, 3), name="left")
    b = sg.placeholder((2, 4), name="right")
    assert sg.concatenate([a, b], axis=1).shape == (2, 7)
    error, line = raises(sg.ShapeError, lambda: sg.concatenate([a, b], axis=0))
    assert_mentions(error, r"^concatenate\b", r"\(2, 3\).*\(2, 4\)", r"axis 1", r"'left'", r"'right'")
    assert_names_site(error, line)
    c = sg.placeholder((2,), name="flat")
    error, line = raises(sg.ShapeError, lambda: sg.concatenate([a, c]))
    assert_mentions(error, r"^concatenate\b", r"rank", r"\(2, 3\).*\(2,\)", r"'flat'")
    assert_names_site(error, line)


def test_stack_shapes():
    a = sg.placeholder((2, 3), name="a")
    b = sg.placeholder((3, 2), name="b")
    error, line = raises(sg.ShapeError, lambda: sg.stack([a, b]))
    assert_mentions(error, r"^stack\b", r"\(2, 3\).*\(3, 2\)", r"'a'", r"'b'")
    assert_names_site(error, line)


def test_broadcast_to():
    x = sg.placeholder((2, 3), name="x")
    error, line = raises(sg.ShapeError, lambda: sg.broadcast_to(x, (3, 3)))
    assert_mentions(error, r"^broadcast_to\b", r"\(2, 3\).*\(3, 3\)", r"'x'")
    assert_names_site(error, line)


def test_where_operands():
    cond = sg.placeholder((3,), "bool", name="cond")
    a = sg.placeholder((2, 3), name="a")
    b = sg.placeholder((4, 1), name="b")
    error, line = raises(sg.ShapeError, lambda: sg.where(cond, a, b))
    assert_mentions(error, r"^where\b", r"\(3,\).*\(2, 3\).*\(4, 1\)", r"'cond'", r"'a'", r"'b'", r"bool")
    assert_names_site(error, line)


def test_transpose_axes():
    x = sg.placeholder((2, 3, 4), name="x")
    for axes in [(0, 0, 1), (0, 1), (2, 1, 0, 3)]:
        error, line = raises(sg.ShapeError, lambda: sg.transpose(x, axes))
        assert_mentions(error, r"^transpose\b", re.escape(str(axes)), r"\(2, 3, 4\)", r"'x'")
        assert_names_site(error, line)


def test_axis_out_of_range():
    x = sg.placeholder((2, 3), name="x")
    error, line = raises(sg.ShapeError, lambda: x.sum(axis=2))
    assert_mentions(error, r"^sum\b", r"axis 2", r"\(2, 3\)", r"'x'")
    assert_names_site(error, line)


def test_index_out_of_range_of_a_known_dim():
    x = sg.placeholder((3, 4), name="x")
    error, line = raises(sg.ShapeError, lambda: x[:, 4])
    assert_mentions(error, r"^index\b", r"index 4", r"axis 1", r"size 4", r"'x'")
    assert_names_site(error, line)
    error, line = raises(sg.ShapeError, lambda: x[np.array([0, -4])])
    assert_mentions(error, r"^index\b", r"index -4", r"axis 0", r"size 3", r"'x'")
    assert "index: index: " not in str(error)  # the op is named once
    assert_names_site(error, line)


def test_error_inside_a_helper_names_the_helpers_line():
    def layer(h):
        return h @ sg.variable(np.zeros((5, 2), np.float32), name="W"), inspect.currentframe().f_lineno

    x = sg.placeholder((None, 4), name="x")
    with pytest.raises(sg.ShapeError) as info:
        layer(x)
    line = layer.__code__.co_firstlineno + 1
    assert_mentions(info.value, r"matmul", r"\(None, 4\).*\(5, 2\)", r"variable node 'W'")
    assert_names_site(info.value, line)


# -- dtypes -----------------------------------------------------------------------------------------------------------

def test_cast_to_an_unsupported_dtype():
    x = sg.placeholder((2,), name="x")
    error, line = raises(sg.DTypeError, lambda: sg.cast(x, "complex64"))
    assert isinstance(error, TypeError)
    assert_mentions(error, r"^cast\b", r"complex64", r"float32, float64, int32, int64, bool", r"'x'")
    assert_names_site(error, line)
    error, line = raises(sg.DTypeError, lambda: x.astype(np.float16))
    assert_mentions(error, r"^cast\b", r"float16", r"'x'")
    assert_names_site(error, line)


def test_placeholder_with_an_unsupported_dtype():
    error, line = raises(sg.DTypeError, lambda: sg.placeholder((2,), "float16", name="half"))
    assert_mentions(error, r"placeholder", r"'half'", r"float16", r"float32, float64, int32, int64, bool")
    assert_names_site(error, line)
    error, line = raises(sg.DTypeError, lambda: sg.placeholder((2,), "not-a-dtype"))
    assert_mentions(error, r"placeholder", r"not-a-dtype")
    assert_names_site(error, line)


def test_constant_and_variable_with_unsupported_or_lossy_dtypes():
    error, line = raises(sg.DTypeError, lambda: sg.constant(np.zeros(2, np.complex64), name="z"))
    assert_mentions(error, r"constant", r"'z'", r"complex64")
    assert_names_site(error, line)
    error, line = raises(sg.DTypeError, lambda: sg.variable([0.5, 1.5], dtype="int32", name="counts"))
    assert_mentions(error, r"variable", r"'counts'", r"int32", r"truncated")
    assert_names_site(error, line)


def test_python_int_that_does_not_fit_the_array():
    k = sg.placeholder((2,), "int32", name="k")
    error, line = raises(sg.DTypeError, lambda: k + 2 ** 40)
    assert_mentions(error, r"^add\b", str(2 ** 40), r"int32", r"'k'")
    assert_names_site(error, line)


def test_bad_index_dtypes():
    x = sg.placeholder((3,), name="x")
    error, line = raises(sg.DTypeError, lambda: x[x > 0])
    assert_mentions(error, r"^index\b", r"boolean", r"sg.where", r"'x'")
    assert_names_site(error, line)
    error, line = raises(sg.DTypeError, lambda: x[x])
    assert_mentions(error, r"^index\b", r"integer", r"float32")
    assert_names_site(error, line)


def test_op_undefined_for_a_dtype():
    labels = sg.placeholder((3,), "int64", name="labels")
    error, line = raises(sg.DTypeError, lambda: sg.one_hot(sg.cast(labels, "float32"), 4))
    assert_mentions(error, r"^one_hot\b", r"float32")
    assert_names_site(error, line)


# -- feeds ------------------------------------------------------------------------------------------------------------

def test_unfed_placeholder():
    x, line = sg.placeholder((None, 3), name="inputs"), inspect.currentframe().f_lineno
    y = sg.placeholder((3,), "int64", name="targets")
    out = sg.sum(x * 2.0) + sg.sum(y)
    error, _ = raises(sg.FeedError, lambda: sg.evaluate(out, {y: np.zeros(3, np.int64)}))
    assert isinstance(error, ValueError)
    assert_mentions(error, r"placeholder node 'inputs'", r"\(None, 3\)", r"float32")
    assert "targets" not in str(error)
    assert_names_site(error, line)
    error, _ = raises(sg.FeedError, lambda: out.eval())
    assert_mentions(error, r"'inputs'", r"'targets'", r"int64")


def test_unfed_placeholder_of_a_compiled_function():
    x = sg.placeholder((2,), name="x")
    y, line = sg.placeholder((2,), name="y"), inspect.currentframe().f_lineno
    error, call_line = raises(sg.FeedError, lambda: sg.function([x], x + y, backend="numpy"))
    assert_mentions(error, r"placeholder node 'y'", r"not among the inputs")
    assert_names_site(error, line)
    assert_names_site(error, call_line)


@pytest.mark.parametrize("fed_shape", [(2, 4), (4,), (1, 2, 3), ()])
def test_fed_array_of_the_wrong_shape(fed_shape):
    x, line = sg.placeholder((None, 3), name="images"), inspect.currentframe().f_lineno
    error, _ = raises(sg.ShapeError, lambda: sg.evaluate(x * 2.0, {x: np.zeros(fed_shape, np.float32)}))
    assert isinstance(error, ValueError)
    got = re.escape(str(fed_shape))
    assert_mentions(error, r"placeholder node 'images'", rf"expected shape \(None, 3\), got {got}")
    assert_names_site(error, line)


def test_fed_array_of_the_wrong_shape_to_a_compiled_function():
    x, line = sg.placeholder((2, 2), name="m"), inspect.currentframe().f_lineno
    f = sg.function([x], x.sum(), backend="numpy")
    error, _ = raises(sg.ShapeError, lambda: f(np.zeros((2, 3), np.float32)))
    assert_mentions(error, r"placeholder node 'm'", r"expected shape \(2, 2\), got \(2, 3\)")
    assert_names_site(error, line)


@pytest.mark.parametrize("dtype, value, got", [
    ("int32", np.array([0.5, 1.0, 2.0]), "float64"),             # fractional floats into ints
    ("int32", np.array([0.0, 1.0, 2.0]), "float64"),             # floats into ints need an explicit cast
    ("int32", np.array([0, 1, 2], np.int64), "int64"),           # int64 does not fit int32 safely
    ("float32", np.array([0.0, 1.0, 2.0]), "float64"),           # as in Theano: cast float64 data yourself
    ("float32", np.array([0, 1, 2], np.int64), "int64"),         # integer labels never silently become floats
    ("float32", np.array([0, 1, 2], np.int32), "int32"),
])
def test_fed_array_of_an_unsafe_dtype(dtype, value, got):
    p, line = sg.placeholder((3,), dtype, name="data"), inspect.currentframe().f_lineno
    error, _ = raises(sg.DTypeError, lambda: sg.evaluate(p * 2, {p: value}))
    assert isinstance(error, TypeError)
    assert_mentions(error, rf"placeholder node 'data' \(shape \(3,\), {dtype}\)", rf"expected dtype {dtype}, got {got}",
                    rf"astype\('{dtype}'\)")
    assert_names_site(error, line)


@pytest.mark.parametrize("dtype, value, pattern", [
    ("int64", [0.5, 1, 2], r"floating-point values"),
    ("float32", [2 ** 24 + 1, 0, 1], r"without loss"),
    ("int32", [2 ** 31, 0, 1], r"without loss"),
])
def test_fed_python_values_that_would_lose_information(dtype, value, pattern):
    p, line = sg.placeholder((3,), dtype, name="data"), inspect.currentframe().f_lineno
    error, _ = raises(sg.DTypeError, lambda: sg.evaluate(p * 2, {"data": value}))
    assert_mentions(error, r"placeholder node 'data'", dtype, pattern)
    assert_names_site(error, line)


def test_feeding_a_constant_or_a_variable():
    x = sg.placeholder((2,), name="x")
    c, line_c = sg.constant([1.0, 2.0], name="c"), inspect.currentframe().f_lineno
    v, line_v = sg.variable(np.zeros(2, np.float32), name="v"), inspect.currentframe().f_lineno
    out = x + c + v
    feeds = {x: np.zeros(2, np.float32)}
    error, _ = raises(sg.FeedError, lambda: sg.evaluate(out, {**feeds, c: np.ones(2, np.float32)}))
    assert isinstance(error, ValueError)
    assert_mentions(error, r"only placeholders", r"constant node 'c'", r"\(2,\)")
    assert_names_site(error, line_c)
    error, _ = raises(sg.FeedError, lambda: sg.evaluate(out, {**feeds, v: np.ones(2, np.float32)}))
    assert_mentions(error, r"only placeholders", r"variable node 'v'")
    assert_names_site(error, line_v)
    op_node, line_op = x * 2, inspect.currentframe().f_lineno
    error, _ = raises(sg.FeedError, lambda: sg.evaluate(out, {**feeds, op_node: np.ones(2, np.float32)}))
    assert_mentions(error, r"only placeholders", r"mul node")
    assert_names_site(error, line_op)


def test_feeding_an_unknown_name():
    x = sg.placeholder((2,), name="x")
    y = sg.placeholder((2,), name="y")
    error, _ = raises(sg.FeedError, lambda: sg.evaluate(x + y, {"x": np.zeros(2, np.float32), "z": 1.0}))
    assert_mentions(error, r"'z'", r"no placeholder", r"'x'", r"'y'")
    error, _ = raises(sg.FeedError, lambda: sg.evaluate(x + y, {"c": 1.0}))  # names a constant, not a placeholder
    assert_mentions(error, r"'c'")


def test_bad_feed_keys_and_values():
    x, line = sg.placeholder((2,), name="x"), inspect.currentframe().f_lineno
    error, _ = raises(sg.FeedError, lambda: sg.evaluate(x * 1, {3: np.zeros(2, np.float32)}))
    assert_mentions(error, r"placeholders or their names", r"int")
    error, _ = raises(sg.FeedError, lambda: sg.evaluate(x * 1, {x: sg.constant([1.0, 2.0])}))
    assert_mentions(error, r"placeholder node 'x'", r"fed a node", r"constant node")
    assert_names_site(error, line)
    error, _ = raises(sg.FeedError, lambda: sg.evaluate(x * 1, [(x, np.zeros(2, np.float32))]))
    assert_mentions(error, r"mapping", r"list")


# -- run time ---------------------------------------------------------------------------------------------------------

def test_index_out_of_range_at_run_time():
    x = sg.placeholder((None, 2), name="x")
    idx = sg.placeholder((None,), "int64", name="idx")
    picked, line = sg.index(x, idx, name="rows"), inspect.currentframe().f_lineno
    error, _ = raises(sg.EvaluationError, lambda: picked.eval({x: np.zeros((3, 2), np.float32), idx: np.array([1, 3])}))
    assert isinstance(error, ValueError)
    assert_mentions(error, r"index node 'rows'", r"\(None, 2\)", r"float32", r"3", r"out of bounds")
    assert_names_site(error, line)


def test_one_hot_label_outside_depth():
    labels = sg.placeholder((None,), "int64", name="labels")
    onehot, line = sg.one_hot(labels, 3), inspect.currentframe().f_lineno
    error, _ = raises(sg.EvaluationError, lambda: onehot.eval({labels: np.array([0, 2, 3])}))
    assert_mentions(error, r"one_hot node", r"\(None, 3\)", r"label 3", r"\[0, 3\)")
    assert_names_site(error, line)


def test_unknown_dims_fed_inconsistently():
    a = sg.placeholder((None,), name="a")
    b = sg.placeholder((None,), name="b")
    total, line = a + b, inspect.currentframe().f_lineno
    feeds = {a: np.zeros(3, np.float32), b: np.zeros(4, np.float32)}
    error, _ = raises(ValueError, lambda: total.eval(feeds))
    assert isinstance(error, (sg.EvaluationError, sg.ShapeError))
    assert_mentions(error, r"add node", r"\(3,\).*\(4,\)")
    assert_names_site(error, line)


# -- gradients --------------------------------------------------------------------------------------------------------

def test_gradient_of_a_non_scalar_cost():
    w = sg.variable(np.ones(3, np.float32), name="w")
    cost, line = w * 2, inspect.currentframe().f_lineno
    error, _ = raises(sg.GradientError, lambda: sg.grad(cost, w))
    assert_mentions(error, r"mul", r"\(3,\)")
    assert_names_site(error, line)


def test_gradient_with_respect_to_a_disconnected_node():
    w = sg.variable(np.ones(3, np.float32), name="w")
    u, line = sg.variable(np.ones(2, np.float32), name="unused"), inspect.currentframe().f_lineno
    error, _ = raises(sg.GradientError, lambda: sg.grad(sg.sum(w), u))
    assert_mentions(error, r"'unused'", r"disconnected|does not depend")
    assert_names_site(error, line)


# -- misuse of nodes as Python values ---------------------------------------------------------------------------------

def test_truth_value_and_iteration_name_the_node():
    x = sg.placeholder((None,), name="x")
    cond, line = x > 0, inspect.currentframe().f_lineno
    error, _ = raises(TypeError, lambda: bool(cond))
    assert_mentions(error, r"greater node", r"sg.where")
    assert_names_site(error, line)
    error, _ = raises(TypeError, lambda: [v for v in cond])
    assert_mentions(error, r"greater node", r"not iterable")
    assert_names_site(error, line)


def test_numpy_functions_on_a_node_say_that_it_is_symbolic():
    x, line = sg.placeholder((None, 3), name="x"), inspect.currentframe().f_lineno
    for call, suggestion in [(lambda: np.exp(x), r"sg.exp"), (lambda: np.asarray(x), r"evaluate the node"),
                             (lambda: np.add(x, 1), r"sg.exp"), (lambda: np.array([x, x]), r"evaluate the node"),
                             (lambda: np.sum(x), r"sg.sum"), (lambda: np.concatenate([x, x]), r"sg.concatenate"),
                             (lambda: np.linalg.norm(x), r"the symgraph ops")]:
        error, _ = raises(TypeError, call)
        assert_mentions(error, r"symbolic node has no value until it is evaluated", r"placeholder node 'x'",
                        r"\(None, 3\)", suggestion)
        assert_names_site(error, line)
        assert_names_site(error, call.__code__.co_firstlineno)   # the line that called NumPy


def test_numpy_operands_on_the_left_still_build_nodes():
    x = sg.placeholder((3,), name="x")
    data = np.arange(3.0)
    for built, op_name in [(data + x, "add"), (data - x, "sub"), (data * x, "mul"), (data / x, "div"),
                           (data ** x, "pow"), (np.eye(3) @ x, "matmul"), (np.float32(2) * x, "mul")]:
        assert isinstance(built, sg.Node) and built.op.name == op_name
        assert isinstance(built.inputs[0], sg.Node) and built.inputs[1] is x    # the array stays the left operand
    assert (data < x).op.name == "greater" and (data < x).inputs[0] is x         # x > data, the reflected comparison
    feeds = {x: np.array([1.0, 2.0, 4.0], np.float32)}
    np.testing.assert_allclose(sg.evaluate(data - x, feeds), data - feeds[x])
    np.testing.assert_allclose(sg.evaluate(np.eye(3) @ x, feeds), np.eye(3) @ feeds[x])


# -- values fed or assigned that are not arrays of numbers -----------------------------------------------------------

@pytest.mark.parametrize("value, pattern", [
    ([[1.0, 2.0], [3.0]], r"ragged"),
    ("abc", r"str 'abc'"),
    ([1.0, "2"], r"str '2'"),
    (None, r"NoneType"),
])
def test_feeding_a_ragged_list_or_a_string(value, pattern):
    x, line = sg.placeholder((2, 2), name="grid"), inspect.currentframe().f_lineno
    f = sg.function([x], x.sum(), backend="numpy")
    for call in (lambda: sg.evaluate(x * 2.0, {x: value}), lambda: f(value)):
        error, _ = raises(sg.DTypeError, call)
        assert_mentions(error, r"placeholder node 'grid'", r"float32", pattern)
        assert_names_site(error, line)


def test_assigning_a_string():
    w, line = sg.variable(np.zeros(2, np.float32), name="W"), inspect.currentframe().f_lineno
    error, _ = raises(sg.DTypeError, lambda: w.assign("abc"))
    assert_mentions(error, r"assign to variable node 'W'", r"float32", r"str 'abc'")
    assert_names_site(error, line)
    assert w.value.tolist() == [0.0, 0.0]


def test_python_float_that_overflows_the_array():
    x = sg.placeholder((2,), name="x")
    error, line = raises(sg.DTypeError, lambda: x * 1e40)
    assert_mentions(error, r"^mul\b", r"1e\+40", r"float32", r"sg.constant\(1e\+40, 'float64'\)", r"'x'")
    assert_names_site(error, line)


# -- leaves and sg.function arguments ---------------------------------------------------------------------------------

def test_function_arguments_of_the_wrong_type():
    c = sg.constant(1.0, name="c")
    v = sg.variable(np.zeros(2), name="v")
    for build, pattern in [(lambda: sg.function(None, c, backend="numpy"), r"inputs must be a placeholder or a list.*NoneType"),
                           (lambda: sg.function("x", c, backend="numpy"), r"inputs must be a placeholder or a list.*str"),
                           (lambda: sg.function([], None, backend="numpy"), r"outputs must be a node or a list.*NoneType"),
                           (lambda: sg.function([], c, updates=5, backend="numpy"), r"updates must be a dict or a list.*int"),
                           (lambda: sg.function([], c, updates=[v], backend="numpy"), r"updates must be \(variable, node\) pairs"),
                           (lambda: sg.function([], c, optimize="yes", backend="numpy"), r"optimize must be True or False")]:
        error, _ = raises(TypeError, build)
        assert_mentions(error, r"sg.function", pattern)
        assert_names_site(error, build.__code__.co_firstlineno)


def test_leaf_arguments_that_used_to_be_accepted_silently():
    error, line = raises(TypeError, lambda: sg.variable(1.0, name="w", trainable="no"))
    assert_mentions(error, r"sg.variable 'w'", r"trainable must be True or False", r"'no'")
    assert_names_site(error, line)
    error, line = raises(sg.DTypeError, lambda: sg.variable(np.ones(2, np.float16), name="half"))
    assert_mentions(error, r"sg.variable 'half'", r"float16 is not supported", r"dtype='float32'")
    assert_names_site(error, line)
    error, line = raises(sg.ShapeError, lambda: sg.placeholder(None, name="any"))
    assert_mentions(error, r"sg.placeholder 'any'", r"shape None", r"rank", r"\(\) for a scalar", r"\(None, None\)")
    assert_names_site(error, line)


# -- run time: sizes fed to unknown dimensions ------------------------------------------------------------------------

def test_matmul_sizes_that_differ_at_run_time():
    a, line_a = sg.placeholder((None, None), name="left"), inspect.currentframe().f_lineno
    b, line_b = sg.placeholder((None, None), name="right"), inspect.currentframe().f_lineno
    product, line = a @ b, inspect.currentframe().f_lineno
    feeds = {a: np.ones((2, 3), np.float32), b: np.ones((4, 5), np.float32)}
    error, _ = raises(sg.EvaluationError, lambda: product.eval(feeds))
    assert_mentions(error, r"matmul node", r"inner dimensions", r"\(2, 3\) @ \(4, 5\)", r"3 != 4",
                    r"input 0: placeholder node 'left'.*\(2, 3\)", r"input 1: placeholder node 'right'.*\(4, 5\)")
    assert "gufunc" not in str(error)
    for site_line in (line, line_a, line_b):
        assert_names_site(error, site_line)
    batched = sg.placeholder((None, 2, 3), name="batched")
    stacked, line = sg.matmul(batched, sg.placeholder((None, 3, 4), name="other")), inspect.currentframe().f_lineno
    error, _ = raises(sg.EvaluationError, lambda: sg.evaluate(stacked, {batched: np.ones((2, 2, 3), np.float32),
                                                                        "other": np.ones((5, 3, 4), np.float32)}))
    assert_mentions(error, r"batch dimensions \(2,\) and \(5,\)", r"'batched'", r"'other'")
    assert_names_site(error, line)
