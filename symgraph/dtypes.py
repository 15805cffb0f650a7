"""The dtypes symgraph supports, and how Python and NumPy values are given one.

Arrays promote as NumPy does. Python scalars are "weak" (as in JAX and NumPy 2): they take the dtype of the array
they meet when that dtype can hold them, so ``x * 2`` stays float32. A weak scalar of a higher kind than the array
(a float meeting an int array) becomes the default dtype of its own kind and then promotes as NumPy arrays do.
"""

from __future__ import annotations

import functools

import numpy as np

from symgraph.errors import DTypeError

float32 = np.dtype("float32")
float64 = np.dtype("float64")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")

SUPPORTED = (float32, float64, int32, int64, bool_)
DEFAULT_FLOAT = float32
DEFAULT_INT = int64


def as_dtype(dtype) -> np.dtype:
    """Normalize a dtype spelling ("float32", np.float32, np.dtype) to a supported np.dtype."""
    try:
        result = np.dtype(dtype)
    except TypeError as error:
        raise DTypeError(f"{dtype!r} is not a dtype; supported: {supported_names()}") from error
    if result not in SUPPORTED:
        raise DTypeError(f"dtype {result} is not supported; supported: {supported_names()}")
    return result


def supported_names() -> str:
    return ", ".join(d.name for d in SUPPORTED)


def is_float(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def is_int(dtype) -> bool:
    return np.dtype(dtype).kind in "iu"


def is_python_scalar(value) -> bool:
    """True for the weak scalars: Python bool, int and float (not NumPy scalars, which carry a dtype)."""
    return isinstance(value, (bool, int, float)) and not isinstance(value, np.generic)


def _kind_rank(kind: str) -> int:
    return {"b": 0, "i": 1, "u": 1, "f": 2}[kind]


def weak_scalar_dtype(value, peer_dtypes) -> np.dtype:
    """The dtype a Python scalar takes when it meets arrays of ``peer_dtypes`` in an op."""
    own = _own_scalar_dtype(value)
    peers = [np.dtype(d) for d in peer_dtypes]
    if not peers:
        return own
    target = np.result_type(*peers)
    if _kind_rank(own.kind) > _kind_rank(target.kind):
        return own
    if target.kind in "iu" and not (np.iinfo(target).min <= value <= np.iinfo(target).max):
        raise DTypeError(f"Python int {value} does not fit the {target} array it is combined with")
    return target


def _own_scalar_dtype(value) -> np.dtype:
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return DEFAULT_INT
    return DEFAULT_FLOAT


def infer_array_dtype(value) -> np.dtype:
    """The dtype a constant or variable gets when none is given.

    NumPy arrays and scalars keep their dtype; Python floats (and lists of them) become float32, Python ints int64.
    """
    if isinstance(value, (np.ndarray, np.generic)):
        dtype = value.dtype
        if dtype.kind in "iu" and dtype not in SUPPORTED:
            return _widest_int(value)
        if dtype.kind == "f" and dtype not in SUPPORTED:
            return float32 if dtype.itemsize < 4 else float64
        return as_dtype(dtype)
    if is_python_scalar(value):
        return _own_scalar_dtype(value)
    array = np.asarray(value)
    if array.dtype.kind == "f":
        return DEFAULT_FLOAT
    if array.dtype.kind in "iu":
        return DEFAULT_INT
    return as_dtype(array.dtype)


def _widest_int(array) -> np.dtype:
    """Small or unsigned NumPy ints (uint8 pixels, say) widen to int32, or int64 when int32 cannot hold them."""
    if np.can_cast(array.dtype, int32, "safe"):
        return int32
    return int64


def convert_exactly(value, dtype: np.dtype, what) -> np.ndarray:
    """Convert ``value`` to ``dtype`` only if that loses nothing: a safe NumPy cast, or exact Python values.

    ``what`` names the value in error messages: a string, or a function making one (feeds and assignments are on the
    hot path of a training loop, so their description is only built when there is an error)."""
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype == dtype:
            return np.asarray(value)
        if np.can_cast(value.dtype, dtype, "safe"):
            return np.asarray(value, dtype=dtype)
        raise DTypeError(
            f"{_text(what)}: expected dtype {dtype}, got {value.dtype}, which cannot be cast safely "
            f"(convert it yourself, e.g. with .astype({dtype.name!r}), if that is what you mean)"
        )
    array = np.asarray(value)
    if array.dtype == object:
        raise DTypeError(f"{_text(what)}: cannot make an array of dtype {dtype} from {type(value).__name__} "
                         f"{value!r:.80}")
    if array.dtype.kind == "f" and dtype.kind != "f":
        raise DTypeError(f"{_text(what)}: expected dtype {dtype}, got floating-point values, which would be "
                         "truncated")
    converted = array.astype(dtype)
    if array.dtype.kind != "f" and not np.array_equal(converted.astype(array.dtype), array):
        raise DTypeError(f"{_text(what)}: values {value!r:.80} cannot be stored as {dtype} without loss")
    return converted


def _text(what) -> str:
    return what() if callable(what) else what


@functools.lru_cache(maxsize=None)
def _probe(function, dtypes: tuple) -> np.dtype:
    arrays = [np.ones((1,), dtype=d) for d in dtypes]
    with np.errstate(all="ignore"):
        return np.asarray(function(*arrays)).dtype


def result_dtype(function, *dtypes) -> np.dtype:
    """The dtype ``function`` (a NumPy reference) returns for arrays of these dtypes, probed once and cached."""
    key = tuple(np.dtype(d) for d in dtypes)
    try:
        dtype = _probe(function, key)
    except TypeError as error:
        names = ", ".join(d.name for d in key)
        raise DTypeError(f"not defined for dtype{'s' if len(key) > 1 else ''} {names}") from error
    if dtype not in SUPPORTED:
        names = ", ".join(d.name for d in key)
        raise DTypeError(f"not defined for dtype{'s' if len(key) > 1 else ''} {names} (NumPy would give {dtype}, "
                         "which symgraph does not support; cast the input first)")
    return dtype
