"""Shared by graph files and checkpoints: checks of paths, of the texts a file may hold, of user metadata and of the
fields of a document read from a file; and holding variables' locks while their values are read or assigned.

What a file may hold is checked twice with one rule: when saving (a TypeError or ValueError naming the caller and
the user's line: a file is never written that loading would refuse) and when loading (a FormatError naming the file).
"""

from __future__ import annotations

import contextlib
import math
import os
import reprlib

import numpy as np

from symgraph.errors import FormatError
from symgraph.graph import user_site

MAX_TEXT = 4096  # characters of a node name, a variable name or a site's file name
MAX_METADATA_DEPTH = 64  # nesting of lists and objects in user metadata

_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxlist, _BRIEF.maxdict, _BRIEF.maxstring, _BRIEF.maxlong = 3, 8, 6, 80, 40


def shown(value) -> str:
    """A value read from a file, for an error message: its repr cut short, never walking all of a huge or deeply
    nested value."""
    return _BRIEF.repr(value)


def check_path(path, caller: str) -> str:
    """A file path (str or os.PathLike of str) as a str; TypeError/ValueError naming ``caller`` otherwise."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{caller}: path must be a str or an os.PathLike, got {type(path).__name__} {path!r:.60}, "
                        f"at {user_site()}")
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"{caller}: path must name a file with a str, got {type(path).__name__} {path!r:.60}, "
                        f"at {user_site()}")
    if not path:
        raise ValueError(f"{caller}: path is empty, at {user_site()}")
    return path


@contextlib.contextmanager
def holding_locks(variables):
    """Hold every variable's lock, taken in creation order as compiled calls take them (so neither deadlocks): no
    compiled call is halfway through its updates of them meanwhile."""
    with contextlib.ExitStack() as held:
        for variable in sorted(variables, key=lambda v: v.serial):
            held.enter_context(variable.lock)
        yield


def text_problem(value, optional: bool) -> str | None:
    """Why ``value`` cannot be a stored name (None when it can): a str of printable characters (no newline or other
    control character, which generated code could not hold in a comment) of at most MAX_TEXT characters."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        return f"must be a string{' or null' if optional else ''}, got {type(value).__name__} {shown(value)}"
    if len(value) > MAX_TEXT:
        return f"has {len(value)} characters, more than {MAX_TEXT}"
    if not value.isprintable():
        return f"{shown(value)} holds a newline or another non-printable character"
    return None


# -- user metadata ----------------------------------------------------------------------------------------------

def check_metadata(metadata, caller: str) -> dict:
    """``metadata`` (None or a dict of JSON values) as plain JSON data: NumPy scalars become Python numbers, tuples
    lists. TypeError/ValueError naming the offending entry otherwise."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise TypeError(f"{caller}: metadata must be a dict of JSON values or None, got {type(metadata).__name__} "
                        f"{metadata!r:.60}, at {user_site()}")
    return _json_value(metadata, "metadata", caller, 0)


def _json_value(value, where: str, caller: str, depth: int):
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"{caller}: {where} is nested more than {MAX_METADATA_DEPTH} deep, at {user_site()}")
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{caller}: {where} is {value!r}, which JSON cannot hold (only finite numbers), "
                             f"at {user_site()}")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v, f"{where}[{k}]", caller, depth + 1) for k, v in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"{caller}: {where} has the key {key!r:.60} ({type(key).__name__}): JSON object keys "
                                f"are strings, at {user_site()}")
        return {key: _json_value(v, f"{where}[{key!r:.40}]", caller, depth + 1) for key, v in value.items()}
    raise TypeError(f"{caller}: {where} is {type(value).__name__} {value!r:.60}, not a JSON value (None, bool, int, "
                    f"float, str, or a list or dict of them), at {user_site()}")


def read_metadata_field(value, where: str) -> dict:
    """User metadata read from a file: a JSON object nested at most MAX_METADATA_DEPTH deep."""
    if not isinstance(value, dict):
        raise FormatError(f"{where}: metadata must be a JSON object, got {type(value).__name__}")
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_METADATA_DEPTH:
            raise FormatError(f"{where}: metadata is nested more than {MAX_METADATA_DEPTH} deep")
        if isinstance(item, dict):
            pending.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            pending.extend((v, depth + 1) for v in item)
    return value


# -- documents read from files --------------------------------------------------------------------------------------

def expect_keys(entry, required: tuple, optional: tuple, where: str) -> None:
    """``entry`` is a JSON object with every key of ``required`` and no key outside ``required + optional``."""
    if not isinstance(entry, dict):
        raise FormatError(f"{where}: expected a JSON object, got {type(entry).__name__} {shown(entry)}")
    missing = [key for key in required if key not in entry]
    if missing:
        raise FormatError(f"{where}: missing {', '.join(map(repr, missing))}")
    unknown = [key for key in entry if key not in required and key not in optional]
    if unknown:
        raise FormatError(f"{where}: unknown {', '.join(shown(key) for key in unknown[:5])}")


def check_format(document, where: str, expected: str, version: int, other_formats: dict) -> None:
    """The document's "format" is ``expected`` (a known other format gets its own hint) and its "version" one this
    code reads; FormatError otherwise."""
    if document is None:
        raise FormatError(f"{where}: not a symgraph file: a safetensors file whose metadata has no 'symgraph' entry "
                          "(written by another program?)")
    if not isinstance(document, dict):
        raise FormatError(f"{where}: the symgraph document must be a JSON object, got {type(document).__name__}")
    found = document.get("format")
    if found != expected:
        hint = other_formats.get(found) if isinstance(found, str) else None
        raise FormatError(f"{where}: {hint}" if hint else f"{where}: unknown format {shown(found)}, expected "
                          f"{expected!r}")
    found_version = document.get("version")
    if type(found_version) is not int or found_version < 1:
        raise FormatError(f"{where}: invalid format version {shown(found_version)} (expected a positive int)")
    if found_version > version:
        raise FormatError(f"{where}: written by a newer symgraph ({expected} version {found_version}); this version "
                          f"of symgraph reads version {version}: upgrade symgraph to read it")
