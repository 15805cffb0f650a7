"""The dtypes symgraph supports, and how Python and NumPy values are given one.

Arrays promote as NumPy does. Python scalars are "weak" (as in JAX and NumPy 2): they take the dtype of the array
they meet when that dtype can hold them, so ``x * 2`` stays float32. A weak scalar of a higher kind than the array
(a float meeting an int array) becomes the default dtype of its own kind and then promotes as NumPy arrays do.
"""

from __future__ import annotations

import dataclasses
import functools
import math

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
    """Normalize a dtype spelling ("float32", np.float32, np.dtype, float) to a supported np.dtype.

    None is refused: ``np.dtype(None)`` silently means float64, so a caller whose None means "the default" passes
    that default explicitly. So are values that merely carry a dtype (``np.float64(0.5)``, arrays): NumPy reads their
    dtype, which is a value's type, not a dtype spelling.
    """
    if dtype is None:
        raise DTypeError(f"None is not a dtype (NumPy would read it as float64); pass one of {supported_names()}")
    if not _is_dtype_spelling(dtype):
        raise DTypeError(f"{dtype!r:.60} ({type(dtype).__name__}) is not a dtype; supported: {supported_names()}")
    try:
        result = np.dtype(dtype)
    except (TypeError, ValueError) as error:
        raise DTypeError(f"{dtype!r:.60} is not a dtype; supported: {supported_names()}") from error
    if result not in SUPPORTED:
        raise DTypeError(f"dtype {result} is not supported; supported: {supported_names()}")
    return result


def _is_dtype_spelling(dtype) -> bool:
    """A name ("float32"), an np.dtype, or a scalar type (np.float32, float, int, bool)."""
    if isinstance(dtype, (str, np.dtype)):
        return True
    return isinstance(dtype, type) and (issubclass(dtype, np.generic) or dtype in (bool, int, float))


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
    """The dtype a Python scalar takes when it meets arrays of ``peer_dtypes`` in an op.

    The scalar must fit that dtype: an int in range, a finite float without overflowing (inf and nan are values)."""
    own = _own_scalar_dtype(value)
    peers = [np.dtype(d) for d in peer_dtypes]
    takes_own = not peers or _kind_rank(own.kind) > _kind_rank(np.result_type(*peers).kind)
    target = own if takes_own else np.result_type(*peers)
    if not _weak_scalar_fits(value, target):
        kind = type(value).__name__
        where = (f"the {target} array it is combined with" if not takes_own
                 else f"{target}, the dtype a Python {kind} gets" + (" beside those arrays" if peers else ""))
        hint = f"; use sg.constant({value!r}, 'float64') to compute in float64" if target.kind == "f" else ""
        raise DTypeError(f"Python {kind} {value!r:.60} does not fit {where}{hint}")
    return target


def _weak_scalar_fits(value, dtype: np.dtype) -> bool:
    if isinstance(value, bool) or dtype.kind == "b":
        return isinstance(value, bool)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return info.min <= value <= info.max
    if isinstance(value, float) and not math.isfinite(value):
        return True
    try:
        with np.errstate(over="ignore"):
            return bool(np.isfinite(dtype.type(value)))
    except OverflowError:  # a Python int beyond float64
        return False


def _own_scalar_dtype(value) -> np.dtype:
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return DEFAULT_INT
    return DEFAULT_FLOAT


def infer_array_dtype(value) -> np.dtype:
    """The dtype a constant or variable gets when none is given.

    NumPy arrays and scalars keep their dtype (small or unsigned ints widen to int32 or int64; float16 is refused
    rather than silently widened); Python floats (and lists of them) become float32, Python ints int64.
    """
    if not isinstance(value, (np.ndarray, np.generic)):
        scan = _scan_python(value)
        if scan.bad is not _NO_LEAF:
            raise DTypeError(_bad_leaf_message(scan.bad, value))
        if not scan.numpy:
            return {_BOOL: bool_, _INT: DEFAULT_INT}.get(scan.kind, DEFAULT_FLOAT)
        value = _numpy_array(value, "the value")
    dtype = value.dtype
    if dtype.kind in "iu" and dtype not in SUPPORTED:
        return _widest_int(value)
    if dtype.kind == "f" and dtype not in SUPPORTED:
        wanted = "float32" if dtype.itemsize < 4 else "float64"
        raise DTypeError(f"dtype {dtype} is not supported; pass dtype={wanted!r} to convert the values "
                         f"(an explicit cast); supported: {supported_names()}")
    return as_dtype(dtype)


def _widest_int(array) -> np.dtype:
    """Small or unsigned NumPy ints (uint8 pixels, say) widen to int32, or int64 when int32 cannot hold them."""
    if np.can_cast(array.dtype, int32, "safe"):
        return int32
    return int64


# -- the one conversion rule of feeds, assignments and leaf values ------------------------------------------------
#
# Values that carry a dtype (NumPy arrays and scalars, and objects NumPy converts, such as tensors) must cast safely.
# Python values (bool, int, float and nested lists or tuples of them) have no dtype: they are accepted when every
# value fits, kinds following NumPy's safe order bool < int < float (Theano's allow_downcast=None rule): bools go
# anywhere, ints to int and float dtypes exactly and in range, floats to float dtypes rounding but never overflowing.

def convert_exactly(value, dtype: np.dtype, what) -> np.ndarray:
    """Convert ``value`` to ``dtype`` under the rule above, or raise DTypeError.

    ``what`` names the value in error messages: a string, or a function making one (feeds and assignments are on the
    hot path of a training loop, so their description is only built when there is an error)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return _cast_safely(value, dtype, what)
    scan = _scan_python(value)
    if scan.bad is not _NO_LEAF:
        raise DTypeError(f"{_text(what)}: expected {dtype} values, {_bad_leaf_message(scan.bad, value)}")
    if scan.numpy:
        return _cast_safely(_numpy_array(value, what), dtype, what)
    if scan.kind == _FLOAT and dtype.kind != "f":
        raise DTypeError(f"{_text(what)}: expected dtype {dtype}, got floating-point values, which would be "
                         "truncated")
    if scan.kind == _INT and dtype.kind == "b":
        raise DTypeError(f"{_text(what)}: expected dtype bool, got Python ints {value!r:.80}; only True and False "
                         "are bools (as NumPy's safe casting refuses int to bool)")
    if scan.kind == _INT and dtype.kind in "iu":
        info = np.iinfo(dtype)
        if scan.low < info.min or scan.high > info.max:
            extreme = scan.low if scan.low < info.min else scan.high
            raise DTypeError(f"{_text(what)}: values {value!r:.80} cannot be stored as {dtype} without loss "
                             f"({extreme} is outside [{info.min}, {info.max}])")
    if dtype.kind == "f" and scan.kind >= _INT:
        return _python_to_float(value, scan, dtype, what)
    return _python_array(value, dtype, what)


def _cast_safely(value, dtype: np.dtype, what) -> np.ndarray:
    if value.dtype == dtype:
        return np.asarray(value)
    if value.dtype.kind not in "biuf":
        raise DTypeError(f"{_text(what)}: expected {dtype} values, got an array of dtype {value.dtype}")
    if np.can_cast(value.dtype, dtype, "safe"):
        return np.asarray(value, dtype=dtype)
    raise DTypeError(
        f"{_text(what)}: expected dtype {dtype}, got {value.dtype}, which cannot be cast safely "
        f"(convert it yourself, e.g. with .astype({dtype.name!r}), if that is what you mean)"
    )


def _python_to_float(value, scan, dtype: np.dtype, what) -> np.ndarray:
    """Python ints and floats to a float dtype: ints must be exact, floats may round but never overflow."""
    try:
        wide = _python_array(value, float64, what)
    except OverflowError:
        raise DTypeError(f"{_text(what)}: values {value!r:.80} overflow {dtype}") from None
    with np.errstate(over="ignore"):
        array = wide.astype(dtype)
    overflowed = np.isfinite(wide) & ~np.isfinite(array)
    if overflowed.any():
        first, largest = float(wide[overflowed][0]), np.finfo(dtype).max
        raise DTypeError(f"{_text(what)}: values {value!r:.80} overflow {dtype} ({first!r} is beyond its largest "
                         f"finite value {largest:.6g})")
    exact_limit = 2 ** (np.finfo(dtype).nmant + 1)
    if scan.has_int and max(-scan.low, scan.high) > exact_limit:
        inexact = next((n for n in _python_ints(value) if not _int_is_exact(n, dtype)), None)
        if inexact is not None:
            raise DTypeError(f"{_text(what)}: values {value!r:.80} cannot be stored as {dtype} without loss "
                             f"({inexact} is not exactly representable)")
    return array


def _int_is_exact(number: int, dtype: np.dtype) -> bool:
    with np.errstate(over="ignore"):
        converted = dtype.type(number)
    return bool(np.isfinite(converted)) and int(converted) == number


def _python_array(value, dtype: np.dtype, what) -> np.ndarray:
    try:
        return np.array(value, dtype=dtype)
    except ValueError as error:
        raise DTypeError(f"{_text(what)}: {value!r:.80} is a ragged list (its rows differ in length), "
                         f"not an array ({error})") from None


def _numpy_array(value, what) -> np.ndarray:
    """Values that hold NumPy data (a list of arrays, a tensor): NumPy converts them and its dtype is theirs."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise DTypeError(f"{_text(what)}: cannot make an array from {type(value).__name__} {value!r:.80} "
                         f"({error})") from None
    return array


_BOOL, _INT, _FLOAT = 0, 1, 2
_NO_LEAF = object()


@dataclasses.dataclass
class _PythonScan:
    """What a walk over a Python value found: its highest kind, its int range, NumPy leaves, a refused leaf."""

    kind: int = -1          # -1: no values at all (an empty list)
    has_int: bool = False
    low: int = 0
    high: int = 0
    numpy: bool = False
    bad: object = _NO_LEAF


def _scan_python(value) -> _PythonScan:
    scan = _PythonScan()
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, (np.ndarray, np.generic)) or hasattr(item, "__array__"):
            scan.numpy = True
        elif isinstance(item, bool):
            scan.kind = max(scan.kind, _BOOL)
        elif isinstance(item, int):
            scan.kind, scan.has_int = max(scan.kind, _INT), True
            scan.low, scan.high = min(scan.low, item), max(scan.high, item)
        elif isinstance(item, float):
            scan.kind = _FLOAT
        else:
            scan.bad = item
            return scan
    return scan


def _python_ints(value):
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            yield item


def _bad_leaf_message(leaf, value) -> str:
    where = "" if leaf is value else f" in {value!r:.60}"
    return f"got {type(leaf).__name__} {leaf!r:.60}{where}, which is not a number"


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
