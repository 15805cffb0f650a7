"""The one conversion rule of feeds, compiled-function arguments and ``Variable.assign`` (Theano's allow_downcast=None).

Values that carry a dtype (NumPy arrays and scalars) must cast safely by NumPy's table. Python values (bool, int,
float, nested lists of them) are accepted when every value fits: ints exactly and in range, floats to float dtypes
rounding but never overflowing, kinds in NumPy's safe order bool < int < float. The references are Python's own
integers, float() and the C library's float32 rounding (struct), never symgraph's code. No NumPy RuntimeWarning may
escape: this module turns them into errors.
"""

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symgraph as sg

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

PATHS = ["evaluate", "function", "assign"]
DTYPES = ["float32", "float64", "int32", "int64", "bool"]


def convert(path, dtype, value, shape=()):
    """Give ``value`` to a placeholder or variable named 'p' of ``dtype`` by one of the three paths."""
    if path == "assign":
        v = sg.variable(np.zeros(shape, dtype), name="p")
        v.assign(value)
        return v.value
    p = sg.placeholder(shape, dtype, name="p")
    if path == "evaluate":
        return sg.evaluate(p, {p: value})
    return sg.function([p], p, backend="numpy")(value)


def refused(path, dtype, value, shape=(), error=sg.DTypeError, pattern=None):
    with pytest.raises(error, match=pattern) as info:
        convert(path, dtype, value, shape)
    assert "node 'p'" in str(info.value), str(info.value)
    return str(info.value)


# -- independent references -------------------------------------------------------------------------------------------

def float32_of(x: float):
    """x rounded to float32 by the C library, or None when that overflows (finite x beyond float32)."""
    try:
        narrow = struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError:
        return None
    return None if math.isinf(narrow) and not math.isinf(x) else narrow


def int_fits(n: int, dtype: str) -> bool:
    if dtype in ("int32", "int64"):
        bits = int(dtype[3:])
        return -2 ** (bits - 1) <= n < 2 ** (bits - 1)
    try:
        wide = float(n)
    except OverflowError:
        return False
    if dtype == "float64":
        return int(wide) == n
    narrow = float32_of(wide)
    return narrow is not None and int(narrow) == n


EDGE_INTS = [0, 1, -1, 2 ** 24, 2 ** 24 + 1, 2 ** 31 - 1, 2 ** 31, -2 ** 31, -2 ** 31 - 1, 2 ** 53, 2 ** 53 + 1,
             2 ** 63 - 1, 2 ** 63, -2 ** 63, -2 ** 63 - 1, 2 ** 64, 10 ** 39, -10 ** 39, 2 ** 127, 10 ** 400]
EDGE_FLOATS = [0.0, -0.0, 0.1, 1e-45, 1e-50, 3.4028234e38, 3.4028235e38, 3.4028236e38, 3.5e38, 1e40, -1e40,
               1.7976931348623157e308, math.inf, -math.inf, math.nan]


# -- Python ints ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
@pytest.mark.parametrize("n", EDGE_INTS, ids=str)
def test_python_ints_are_accepted_exactly_when_they_fit(path, dtype, n):
    if int_fits(n, dtype):
        result = convert(path, dtype, n)
        assert result.dtype == np.dtype(dtype) and int(result) == n
    else:
        refused(path, dtype, n, pattern=r"without loss|overflow")


@settings(max_examples=150, deadline=None)
@given(n=st.integers(-2 ** 70, 2 ** 70), dtype=st.sampled_from(["float32", "float64", "int32", "int64"]),
       path=st.sampled_from(PATHS))
def test_python_ints_against_pythons_integers(n, dtype, path):
    if int_fits(n, dtype):
        assert int(convert(path, dtype, n)) == n
    else:
        refused(path, dtype, n)


def test_int64_feed_of_2_to_the_63_is_refused_not_wrapped():
    message = refused("evaluate", "int64", 2 ** 63, pattern=r"int64 without loss")
    assert str(2 ** 63) in message
    refused("evaluate", "int64", [1, 2 ** 63], shape=(2,))
    assert convert("evaluate", "int64", [-2 ** 63, 2 ** 63 - 1], shape=(2,)).tolist() == [-2 ** 63, 2 ** 63 - 1]


def test_ints_in_lists_are_checked_one_by_one():
    # NumPy would turn [-1, 2**63] into float64 (and lose the 1 in 2**53 + 1); every int is checked exactly
    refused("evaluate", "int64", [-1, 2 ** 63], shape=(2,), pattern=r"without loss")
    refused("evaluate", "float64", [[0.5, 2 ** 53 + 1]], shape=(1, 2), pattern=r"not exactly representable")
    assert convert("evaluate", "float64", [[0.5, 2 ** 53]], shape=(1, 2)).tolist() == [[0.5, 2.0 ** 53]]
    refused("assign", "float32", [2 ** 24 + 1, 0], shape=(2,), pattern=r"float32 without loss")


# -- Python floats ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("x", EDGE_FLOATS, ids=repr)
def test_python_floats_round_to_float32_but_never_overflow(path, x):
    expected = float32_of(x)
    if expected is None:
        message = refused(path, "float32", x, pattern=r"overflow float32")
        assert "3.40282e+38" in message
        return
    result = convert(path, "float32", x)
    assert result.dtype == np.float32
    assert (math.isnan(expected) and np.isnan(result)) or float(result) == expected
    assert math.copysign(1, float(result)) == math.copysign(1, expected) or math.isnan(expected)


@settings(max_examples=200, deadline=None)
@given(x=st.floats(allow_nan=False), path=st.sampled_from(PATHS))
def test_python_floats_against_c_float32_rounding(x, path):
    expected = float32_of(x)
    if expected is None:
        refused(path, "float32", x)
    else:
        assert float(convert(path, "float32", x)) == expected
        assert float(convert(path, "float64", x)) == x


def test_a_list_with_one_overflowing_float_is_refused_naming_it():
    message = refused("evaluate", "float32", [[1.0, 2.0], [1e40, math.inf]], shape=(2, 2))
    assert "1e+40" in message
    assert convert("evaluate", "float32", [math.inf, -math.inf], shape=(2,)).tolist() == [math.inf, -math.inf]
    assert convert("evaluate", "float64", [1e40], shape=(1,)).tolist() == [1e40]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_python_floats_are_refused_for_int_and_bool(path, dtype):
    refused(path, dtype, 2.0, pattern=r"floating-point values.*truncated")
    refused(path, dtype, [1, 2.5], shape=(2,), pattern=r"truncated")


# -- Python bools and kinds -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_python_bools_are_accepted_by_every_dtype(path, dtype):
    result = convert(path, dtype, [True, False], shape=(2,))
    assert result.dtype == np.dtype(dtype) and result.tolist() == [1, 0]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("value", [0, 1, [0, 1], [True, 1]], ids=repr)
def test_ints_are_refused_for_bool(path, value):
    refused(path, "bool", value, shape=np.shape(value), pattern=r"only True and False")


def test_mixed_python_kinds_take_the_highest():
    assert convert("evaluate", "float32", [True, 2, 0.5], shape=(3,)).tolist() == [1.0, 2.0, 0.5]
    assert convert("evaluate", "int32", [True, 2], shape=(2,)).tolist() == [1, 2]
    refused("evaluate", "int32", [True, 2, 0.5], shape=(3,), pattern=r"truncated")


def test_empty_lists_fit_every_dtype():
    for dtype in DTYPES:
        result = convert("evaluate", dtype, [[], []], shape=(2, 0))
        assert result.shape == (2, 0) and result.dtype == np.dtype(dtype)


# -- values that carry a dtype ----------------------------------------------------------------------------------------

SOURCE_DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                 "uint64", "bool"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("source", SOURCE_DTYPES)
def test_numpy_arrays_and_scalars_follow_numpys_safe_casting_table(path, dtype, source):
    array = np.array([0, 1], source)
    for value in (array, array[1]):
        if np.can_cast(np.dtype(source), np.dtype(dtype), "safe"):
            result = convert(path, dtype, value, shape=np.shape(value))
            assert result.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(result, value)
        else:
            refused(path, dtype, value, shape=np.shape(value), pattern=rf"expected dtype {dtype}, got {source}")


def test_python_float_and_numpy_float64_follow_one_documented_rule():
    """0.1 has no dtype and fits float32 (it rounds); np.float64(0.1) carries float64, which does not cast safely."""
    assert convert("evaluate", "float32", 0.1) == np.float32(0.1)
    refused("evaluate", "float32", np.float64(0.1), pattern=r"got float64.*astype\('float32'\)")
    assert convert("evaluate", "float32", np.float32(0.1)) == np.float32(0.1)


def test_lists_holding_numpy_values_convert_as_numpy_converts_them():
    halves = [np.float32(0.5), np.float32(1.5)]
    assert convert("evaluate", "float32", halves, shape=(2,)).tolist() == [0.5, 1.5]
    rows = [np.zeros(2, np.float32), np.ones(2, np.float32)]
    assert convert("assign", "float32", rows, shape=(2, 2)).tolist() == [[0, 0], [1, 1]]
    refused("evaluate", "float32", [np.float64(0.1), np.float64(0.2)], shape=(2,), pattern=r"got float64")


# -- values that are not numbers --------------------------------------------------------------------------------------

NOT_NUMBERS = [
    ("True", (), r"str 'True'"),
    ("abc", (), r"str 'abc'"),
    (b"\x01", (), r"bytes"),
    (None, (), r"NoneType None"),
    (object(), (), r"object"),
    ({1: 2}, (), r"dict"),
    ({1.0, 2.0}, (2,), r"set"),
    (1 + 2j, (), r"complex"),
    ([1.0, None], (2,), r"NoneType None in \[1.0, None\]"),
    ([1.0, "2"], (2,), r"str '2'"),
    (np.array(["a", "b"]), (2,), r"got an array of dtype <U1"),
    (np.array([1.0, None], dtype=object), (2,), r"dtype object"),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(NOT_NUMBERS)))
def test_strings_bytes_none_and_objects_are_refused(path, dtype, case):
    value, shape, pattern = NOT_NUMBERS[case]
    refused(path, dtype, value, shape=shape, pattern=pattern)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_ragged_lists_are_refused(path, dtype):
    refused(path, dtype, [[True, False], [True]], shape=(2, 2), pattern=r"ragged")


def test_nodes_are_not_values():
    x = sg.placeholder((2,), name="p")
    with pytest.raises(sg.FeedError, match=r"'p'.*fed a node"):
        sg.evaluate(x * 1, {x: sg.constant([1.0, 2.0])})
    v = sg.variable(np.zeros(2, np.float32), name="p")
    with pytest.raises(TypeError, match=r"'p'.*not a node"):
        v.assign(v + 1)
    with pytest.raises(sg.DTypeError, match=r"'p'.*no value until it is evaluated"):
        v.assign([sg.constant(1.0), sg.constant(2.0)])


# -- weak Python scalars in ops ---------------------------------------------------------------------------------------

def test_weak_python_floats_that_overflow_the_arrays_dtype_are_refused():
    x = sg.placeholder((2,), name="x")
    with pytest.raises(sg.DTypeError, match=r"(?s)add.*1e\+40.*float32.*sg.constant\(1e\+40, 'float64'\).*'x'"):
        x + 1e40
    with pytest.raises(sg.DTypeError, match=r"mul.*float32"):
        x * -3.5e38
    with pytest.raises(sg.DTypeError, match=r"float32"):
        x * 10 ** 39                      # a Python int takes the float array's dtype too
    big = x * 3.4e38                      # fits float32: stays float32, computes as NumPy does in float32
    assert big.inputs[1].dtype == np.float32
    assert sg.evaluate(big, {x: [1.0, -1.0]}).tolist() == [np.float32(3.4e38), -np.float32(3.4e38)]
    assert (x + math.inf).inputs[1].dtype == np.float32       # inf and nan are values
    wide = sg.placeholder((2,), "float64", name="wide")
    assert sg.evaluate(wide + 1e40, {wide: [0.0, 1.0]}).tolist() == [1e40, 1e40]
    assert sg.evaluate(x + sg.constant(1e40, "float64"), {x: [0.0, 1.0]}).tolist() == [1e40, 1e40]


def test_weak_scalars_beside_ints_and_bools_must_fit_their_own_dtype():
    k = sg.placeholder((2,), "int32", name="k")
    with pytest.raises(sg.DTypeError, match=r"1e\+40.*float32, the dtype a Python float gets"):
        k + 1e40
    flags = sg.placeholder((2,), "bool", name="flags")
    with pytest.raises(sg.DTypeError, match=str(2 ** 70)):
        flags + 2 ** 70
    assert (flags + 2).dtype == np.int64


@pytest.mark.parametrize("value, pattern", [(2 ** 63, r"int64 without loss"), (10 ** 400, r"int64 without loss"),
                                            (1e40, r"overflow float32"), ([1.0, 1e40], r"overflow float32")])
def test_constants_and_variables_follow_the_rule_without_dtype(value, pattern):
    for make in (sg.constant, sg.variable):
        with pytest.raises(sg.DTypeError, match=pattern):
            make(value)
    assert sg.constant(1e40, "float64").value == 1e40


def test_node_eval_errors_name_node_eval():
    x = sg.placeholder((2,), name="x")
    with pytest.raises(sg.DTypeError, match=r"^node\.eval: feed for placeholder node 'x'"):
        sg.exp(x).eval({x: np.ones(3)})
    with pytest.raises(TypeError, match=r"^node\.eval: feed_dict must be a mapping"):
        sg.exp(x).eval([1])
