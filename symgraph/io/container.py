"""The safetensors container: reading it with every size checked before anything is allocated, and atomic writes.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON (a table of tensors, each with its
dtype, shape and byte range, plus an optional ``__metadata__`` map of strings), then the tensors' raw little-endian
bytes, back to back and covering the rest of the file exactly. symgraph writes and reads the format itself (it is
that simple) and keeps its own document, as JSON text, in the metadata entry ``"symgraph"``; the official
``safetensors`` package reads these files and writes files symgraph reads (tests/test_save_load.py checks both).

Why this format, and why without the ``safetensors`` package: it is the ecosystem's format for sharing weights
safely (no code, no pickle; any safetensors tool lists a symgraph file's tensors), and its flat layout lets every
size be checked against the file before anything is allocated. NumPy's ``.npz`` would need no dependency either, but
it is a zip archive (compression, ZIP64 and a central directory to distrust) of ``.npy`` members whose headers are
Python literals; safetensors is simpler to verify completely. The official package is a compiled extension that
would add a runtime dependency for about a hundred lines of reading and writing, so it is only a test dependency.

Reading trusts nothing in the file: the header length is bounded (100 MB, the official reader's limit) and checked
against the file's size before the header is read; every tensor's byte range is checked against its dtype and shape
and against the data actually present before any array is made; arrays are views of the bytes read, so memory is
bounded by the file's size whatever the header declares. JSON is parsed without NaN or infinities and with duplicate
keys refused. Every fault is a FormatError naming the file.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import struct

import numpy as np

from symgraph import dtypes
from symgraph.errors import FormatError
from symgraph.io.fields import shown

MAX_HEADER_BYTES = 100_000_000  # the official reader refuses larger headers too
MAX_RANK = 64  # NumPy's limit on array dimensions
DOCUMENT_KEY = "symgraph"
METADATA_KEY = "__metadata__"
_LENGTH = struct.Struct("<Q")

# safetensors dtype codes of the dtypes symgraph supports, and the little-endian NumPy dtype each is stored as
DTYPE_CODES = {dtypes.float32: "F32", dtypes.float64: "F64", dtypes.int32: "I32", dtypes.int64: "I64",
               dtypes.bool_: "BOOL"}
_STORED = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8"),
           "BOOL": np.dtype("|b1")}
_OTHER_CODES = ("F16", "BF16", "F8_E4M3", "F8_E5M2", "U8", "I8", "U16", "I16", "U32", "U64", "C64")


# -- strict JSON ------------------------------------------------------------------------------------------------------

def parse_json(text: str, what: str):
    """``text`` as JSON: NaN, infinities and repeated keys refused, nesting bounded; FormatError naming ``what``."""

    def unique_pairs(pairs):
        result = {}
        for key, value in pairs:
            if key in result:
                raise FormatError(f"{what}: the key {shown(key)} appears twice in one JSON object")
            result[key] = value
        return result

    def no_constant(name):
        raise FormatError(f"{what}: {name} is not a JSON value")

    def finite_float(text):
        value = float(text)
        if not math.isfinite(value):
            raise FormatError(f"{what}: the number {text:.40} is out of range")
        return value

    try:
        return json.loads(text, object_pairs_hook=unique_pairs, parse_constant=no_constant, parse_float=finite_float)
    except FormatError:
        raise
    except RecursionError:
        raise FormatError(f"{what}: the JSON is nested too deeply") from None
    except ValueError as error:  # json.JSONDecodeError, and integers of more than 4300 digits
        raise FormatError(f"{what}: not valid JSON ({str(error):.200})") from None


def dump_json(value) -> str:
    """Compact, ASCII-only JSON (strict: non-finite floats are refused by the callers' checks first)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


# -- writing ----------------------------------------------------------------------------------------------------------

def encode(tensors: dict, document: dict) -> list:
    """The chunks of a safetensors file holding ``tensors`` (name -> array of a supported dtype) and ``document``.

    Tensors are laid out by decreasing item size, then name, as the official writer does, so each starts at a
    multiple of its item size; the header is padded with spaces to a multiple of 8 bytes.
    """
    order = sorted(tensors, key=lambda name: (-tensors[name].dtype.itemsize, name))
    table, chunks, offset = {METADATA_KEY: {DOCUMENT_KEY: dump_json(document)}}, [], 0
    for name in order:
        array = tensors[name]
        stored = np.ascontiguousarray(array, dtype=_STORED[DTYPE_CODES[array.dtype]])
        table[name] = {"dtype": DTYPE_CODES[array.dtype], "shape": list(array.shape),
                       "data_offsets": [offset, offset + stored.nbytes]}
        offset += stored.nbytes
        chunks.append(memoryview(stored.reshape(-1)).cast("B"))
    header = dump_json(table).encode("ascii")
    header += b" " * (-(_LENGTH.size + len(header)) % 8)
    return [_LENGTH.pack(len(header)), header] + chunks


def write_atomically(path: str, chunks, caller: str) -> None:
    """Write ``chunks`` to ``path`` so that it holds its previous content or all of the new one, never a part, even if
    the process is killed or the machine loses power mid-write: the bytes go to a temporary file in the same
    directory, which is flushed to disk (fsync), renamed over ``path`` (atomic), and the directory is fsynced so the
    rename itself is durable. A writer killed before the rename leaves a stray ``.<name>.<random>.tmp`` behind."""
    directory, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{caller}: cannot write {path}: the directory {directory} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{caller}: cannot write {path}: it is a directory")
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(8)}.tmp")
    binary = os.O_BINARY if os.name == "nt" else 0  # (only Windows has, and needs, the flag)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | binary, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    _sync_directory(directory)


def _sync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable (POSIX; Windows has no directory handles to fsync)."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# -- reading ----------------------------------------------------------------------------------------------------------

def read(path: str, with_data: bool = True) -> tuple[dict | None, dict]:
    """(the symgraph document or None, name -> read-only array) of the safetensors file at ``path``.

    Everything is checked before use; FormatError names the file and the fault. Without ``with_data`` the tensors'
    bytes are not read (their layout is checked all the same) and no arrays are returned."""
    where = f"{path}"
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size < _LENGTH.size:
            raise FormatError(f"{where}: truncated: {size} bytes, but a safetensors file starts with an 8-byte "
                              "header length")
        (header_length,) = _LENGTH.unpack(file.read(_LENGTH.size))
        if header_length > MAX_HEADER_BYTES:
            raise FormatError(f"{where}: the header declares {header_length} bytes, more than the "
                              f"{MAX_HEADER_BYTES} a safetensors header may have")
        if header_length > size - _LENGTH.size:
            raise FormatError(f"{where}: truncated: the header declares {header_length} bytes but only "
                              f"{size - _LENGTH.size} follow the header length")
        header = _exactly(file, header_length, where)
        table = _header_table(header, where)
        metadata = table.pop(METADATA_KEY, {})
        data_size = size - _LENGTH.size - header_length
        layout = _layout(table, data_size, where)
        data = _exactly(file, data_size, where) if with_data else None
    tensors = {} if data is None else {name: _array(data, code, shape, begin, where, name)
                                       for name, (code, shape, begin) in layout.items()}
    text = metadata.get(DOCUMENT_KEY)
    return (None if text is None else parse_json(text, f"{where}: the symgraph document")), tensors


def _exactly(file, count: int, where: str) -> bytes:
    data = file.read(count)
    if len(data) != count:  # the file shrank while being read
        raise FormatError(f"{where}: truncated: expected {count} more bytes, read {len(data)}")
    return data


def _header_table(header: bytes, where: str) -> dict:
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FormatError(f"{where}: the header is not UTF-8 text ({error})") from None
    if not text.startswith("{"):
        raise FormatError(f"{where}: not a safetensors file: the header does not start with '{{'")
    table = parse_json(text, f"{where}: the header")
    if not isinstance(table, dict):
        raise FormatError(f"{where}: the header is not a JSON object")
    metadata = table.get(METADATA_KEY, {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FormatError(f"{where}: the header's {METADATA_KEY} must map names to strings")
    return table


def _layout(table: dict, data_size: int, where: str) -> dict:
    """name -> (dtype code, shape, begin) once every tensor's byte range is checked: ranges back to back from 0,
    each holding exactly its shape's bytes, covering all ``data_size`` bytes of data."""
    entries = []
    for name, info in table.items():
        what = f"{where}: tensor {shown(name)}"
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise FormatError(f"{what}: expected an object with exactly dtype, shape and data_offsets")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(code, str) or code not in _STORED:
            known = code in _OTHER_CODES
            raise FormatError(f"{what}: dtype {shown(code)} is {'not supported by symgraph' if known else 'unknown'}"
                              f" (symgraph stores {', '.join(_STORED)})")
        if (not isinstance(shape, list) or len(shape) > MAX_RANK
                or not all(type(d) is int and d >= 0 for d in shape)):
            raise FormatError(f"{what}: the shape must be a list of at most {MAX_RANK} non-negative ints, got "
                              f"{shown(shape)}")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets):
            raise FormatError(f"{what}: data_offsets must be [begin, end], got {shown(offsets)}")
        begin, end = offsets
        if not 0 <= begin <= end <= data_size:
            raise FormatError(f"{what}: its bytes [{begin}, {end}) lie outside the {data_size} bytes of data")
        needed = math.prod(shape) * _STORED[code].itemsize
        if end - begin != needed:
            raise FormatError(f"{what}: shape {tuple(shape)} of {code} needs {needed} bytes but [{begin}, {end}) "
                              f"holds {end - begin}")
        entries.append((begin, end, name, code, tuple(shape)))
    entries.sort()
    position = 0
    for begin, end, name, _, _ in entries:
        if begin != position:
            raise FormatError(f"{where}: tensor {shown(name)} starts at byte {begin} of the data, expected {position} "
                              "(tensors must lie back to back, without gaps or overlaps)")
        position = end
    if position != data_size:
        raise FormatError(f"{where}: the tensors cover {position} bytes but {data_size} bytes of data follow the "
                          "header")
    return {name: (code, shape, begin) for begin, _, name, code, shape in entries}


def _array(data: bytes, code: str, shape: tuple, begin: int, where: str, name: str) -> np.ndarray:
    stored = _STORED[code]
    count = math.prod(shape)
    if code == "BOOL":
        raw = np.frombuffer(data, np.uint8, count, begin)
        if count and raw.max() > 1:
            raise FormatError(f"{where}: tensor {shown(name)}: a BOOL holds a byte other than 0 or 1")
    return np.frombuffer(data, stored, count, begin).reshape(shape).astype(stored.newbyteorder("="), copy=False)
