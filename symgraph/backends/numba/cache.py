"""The disk cache of generated modules and of Numba's compiled code for them.

Each module lives at ``<cache>/numba/<key>/module.py``; Numba keeps its compiled code beside it (``__pycache__``), so
a second process importing the same path compiles nothing. The key hashes the module's source without what only
names where the user created the graph's nodes (comments, and the "created at file:line" of node descriptions in
strings: ``site_free``), so a graph built from other lines of a script (the script edited above it, the same graph
built by another script) shares the entry: its module is written over the entry's, and Numba's compiled code, which
holds no such text, is kept (``SiteFreeLocator`` stamps it with the key rather than with the file's time and size).
The helper kernels that modules call live in ``<cache>/numba/kernels/<stem>_<digest>.py`` (a module of kernels/,
or a wrapper binding constants), shared by every module (the digest hashes the file, and modules name the digest: a
changed helper is a new file). The key hashes the generated source (so a changed lowering or helper changes it) with
the symgraph, Numba, llvmlite and NumPy versions and the CPU.
A module file is created exclusively (a temporary file hard-linked into place) and only ever replaced whole (by
rename), so that processes compiling the same graph at once cannot interleave their writes.

To explain a miss, ``<cache>/numba/explain/<fingerprint>.json`` records the components of the last key compiled for a
graph fingerprint (the graph's structure without its inputs' dtypes and shapes).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import tempfile
import warnings
from dataclasses import dataclass, field

from symgraph.cache_dir import CACHE_ENV, cache_root, private_directories


@dataclass
class CacheInfo:
    """What happened when a compiled function was loaded: ``hit`` (found on disk and nothing compiled), the ``key``,
    on a miss ``reason`` (why it was not found, or what made it unusable), and ``python_ops``: the custom ops the
    module calls back into Python for (no Numba lowering)."""

    hit: bool
    key: str
    reason: str | None = None
    path: str | None = None
    compiled: list = field(default_factory=list)  # compiled functions (stages, helpers) Numba compiled in this process
    python_ops: list = field(default_factory=list)  # custom ops whose NumPy function the module calls from Python

    def __str__(self) -> str:
        state = "hit" if self.hit else f"miss ({self.reason})"
        text = f"cache {state}, key {self.key[:16]}, {self.path}"
        return text + "".join(f"\n  runs in Python: {op}" for op in self.python_ops)


def environment() -> dict:
    """The parts of the key that are not the source: versions and the CPU the code is compiled for."""
    import llvmlite
    import numba
    import numpy

    from symgraph import __version__

    return {"symgraph": __version__, "numba": numba.__version__, "llvmlite": llvmlite.__version__,
            "numpy": numpy.__version__, "python": platform.python_version(), "cpu": _cpu_identity()}


def _cpu_identity() -> str:
    import llvmlite.binding as llvm

    return f"{llvm.get_host_cpu_name()}:{hashlib.sha256(llvm.get_host_cpu_features().flatten().encode()).hexdigest()[:12]}"


_COMMENT = re.compile(r"#[^\n]*")
_SITE = re.compile(r"\b(created|built|defined) at .+?:\d+")


def site_free(source: str) -> str:
    """The module's source without comments and with the creation sites of its strings masked, lines kept (Numba
    knows functions by line). What it drops cannot change compiled code: the compiled stages are loops without
    strings, and every module runs its own source (``program._import``), so only Python code, never shared, can
    differ between modules of one key; a '#' inside a string cuts its line here alone."""
    return _SITE.sub(r"\1 at <site>", _COMMENT.sub("", source))


def module_key(source: str, env: dict) -> str:
    """The key of a generated module: its site-free source, with the environment."""
    digest = hashlib.sha256(site_free(source).encode())
    digest.update(json.dumps(env, sort_keys=True).encode())
    return digest.hexdigest()


class ModuleCache:
    """Where generated modules are written and found; falls back to a private temporary directory (one warning) when
    the cache directory cannot be written."""

    _warned: set = set()
    _checked_kernels: set = set()  # kernel files read back in this process: checked once, not per function

    def __init__(self, root: str | None = None):
        self.root = os.path.join(root or cache_root(), "numba")
        self.writable = self._prepare(self.root)
        if not self.writable:
            self.root = tempfile.mkdtemp(prefix="symgraph-numba-")

    def _prepare(self, root: str) -> bool:
        try:
            private_directories(root)
            probe = tempfile.NamedTemporaryFile(dir=root, prefix=".probe-", delete=True)
            probe.close()
            return True
        except OSError as error:
            self._warn_once(f"symgraph: the cache directory {root} cannot be written ({error}); compiled code is "
                            f"kept for this process only. Set {CACHE_ENV} to a writable directory to cache it.")
            return False

    @classmethod
    def _warn_once(cls, message: str) -> None:
        if message not in cls._warned:
            cls._warned.add(message)
            warnings.warn(message, RuntimeWarning, stacklevel=4)

    def entry(self, key: str) -> str:
        return os.path.join(self.root, key)

    def store(self, key: str, source: str) -> tuple[str, str]:
        """The module's path, and "found" (already there, perhaps with other creation sites: then replaced by
        ``source``), "written" or "repaired" (it was there, damaged)."""
        directory = self.entry(key)
        path = os.path.join(directory, "module.py")
        found = read_text(path)
        if found == source:
            return path, "found"
        if found is not None and site_free(found) == site_free(source):
            _replace(directory, path, source)
            return path, "found"
        status = "repaired" if os.path.exists(path) else "written"
        if status == "repaired":  # start the entry again: its compiled code belongs to the damaged file
            self.discard(key)
        _write_once(directory, path, source)
        return path, status

    def store_kernel(self, file_name: str, source: str) -> str:
        """The path of a helper kernel file (``kernels/<file_name>``), written if missing or damaged."""
        directory = os.path.join(self.root, "kernels")
        path = os.path.join(directory, file_name)
        if path in self._checked_kernels:
            return path
        if read_text(path) != source:
            if os.path.exists(path):
                self.discard_kernel(file_name)
                _quietly(os.unlink, path)
            _write_once(directory, path, source)
        self._checked_kernels.add(path)
        return path

    def discard_kernel(self, file_name: str) -> None:
        """Remove Numba's cached code of a helper kernel file."""
        cache = os.path.join(self.root, "kernels", "__pycache__")
        stem = file_name[:-len(".py")] + "."
        if os.path.isdir(cache):
            for name in os.listdir(cache):
                if name.startswith(stem):
                    _quietly(os.unlink, os.path.join(cache, name))

    def discard(self, key: str) -> None:
        """Remove an entry's files (a corrupted Numba cache, a damaged module)."""
        directory = self.entry(key)
        for base, dirs, files in os.walk(directory, topdown=False):
            for name in files:
                _quietly(os.unlink, os.path.join(base, name))
            for name in dirs:
                _quietly(os.rmdir, os.path.join(base, name))

    # -- explaining misses ------------------------------------------------------------------------------------------
    def explain_miss(self, fingerprint: str, components: dict) -> str:
        record = self._read_record(fingerprint)
        if record is None:
            return "no entry: this graph has not been compiled with this cache before"
        for name in ("symgraph", "numba", "llvmlite", "numpy", "python", "cpu"):
            if record.get(name) != components.get(name):
                what = "the CPU" if name == "cpu" else f"the {name} version"
                return f"{what} changed ({record.get(name)} -> {components.get(name)})"
        if record.get("lowerings") != components.get("lowerings"):
            return "a lowering or helper kernel of symgraph's Numba backend changed"
        old_ops, new_ops = record.get("custom_ops", {}), components.get("custom_ops", {})
        changed = [f"{op}: {', '.join(r for r in new_ops[op] if old_ops[op].get(r) != new_ops[op][r])}"
                   for op in sorted(set(old_ops) & set(new_ops)) if old_ops[op] != new_ops[op]]
        if changed:
            return f"the functions of a custom op changed ({'; '.join(changed)})"
        old_inputs, new_inputs = record.get("inputs", []), components.get("inputs", [])
        for k, (old, new) in enumerate(zip(old_inputs, new_inputs)):
            if old != new:
                return f"the dtype/shape of input {k} changed ({old} -> {new})"
        if len(old_inputs) != len(new_inputs):
            return f"the number of inputs changed ({len(old_inputs)} -> {len(new_inputs)})"
        if record.get("variables") != components.get("variables"):
            return "the dtype/shape of a variable or constant changed"
        return "the generated source changed (names or options of the graph)"

    def record(self, fingerprint: str, components: dict) -> None:
        if not self.writable:
            return
        directory = os.path.join(self.root, "explain")
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=directory, prefix=".record-")
            with os.fdopen(handle, "w") as file:
                json.dump(components, file, sort_keys=True)
            os.replace(temporary, os.path.join(directory, f"{fingerprint}.json"))
        except OSError:
            pass

    def _read_record(self, fingerprint: str):
        try:
            with open(os.path.join(self.root, "explain", f"{fingerprint}.json")) as file:
                record = json.load(file)
            return record if isinstance(record, dict) else None
        except (OSError, ValueError):
            return None


def _temporary_copy(directory: str, source: str) -> str:
    """A complete, synced temporary file holding ``source`` in ``directory``, to be linked or renamed into place."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".write-", suffix=".py")
    with os.fdopen(handle, "w") as file:
        file.write(source)
        file.flush()
        os.fsync(file.fileno())
    return temporary


def _write_once(directory: str, path: str, source: str) -> None:
    """Write ``path`` exclusively (a temporary file hard-linked into place): processes writing the same file at once
    never interleave, and the first one's complete file wins."""
    temporary = _temporary_copy(directory, source)
    try:
        os.link(temporary, path)  # exclusive: another process may have created it meanwhile
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def _replace(directory: str, path: str, source: str) -> None:
    """Replace ``path`` whole (a complete temporary file renamed over it): readers see the old file or the new one."""
    try:
        temporary = _temporary_copy(directory, source)
    except OSError:
        return
    try:
        os.replace(temporary, path)
    except OSError:
        _quietly(os.unlink, temporary)


def read_text(path: str) -> str | None:
    try:
        with open(path) as file:
            return file.read()
    except (OSError, UnicodeDecodeError):
        return None


def _quietly(function, *args) -> None:
    try:
        function(*args)
    except OSError:
        pass


def lowering_sources_hash() -> str:
    """A hash of the backend's own code (lowerings, helper kernels, code generator)."""
    package = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for base, _, files in sorted(os.walk(package)):
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(base, name), "rb") as file:
                    digest.update(name.encode() + file.read())
    return digest.hexdigest()[:16]


def discard_compiled(module_path: str) -> None:
    """Remove Numba's cached code for a module (its ``__pycache__``), keeping the module itself."""
    directory = os.path.join(os.path.dirname(module_path), "__pycache__")
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            _quietly(os.unlink, os.path.join(directory, name))


def install_site_free_locator() -> None:
    """Put ``SiteFreeLocator`` first among the places Numba looks for a function's cache (it takes generated modules
    alone: their functions' globals hold ``__symgraph_key__``)."""
    from numba.core import caching

    locators = caching.CacheImpl._locator_classes
    if not any(getattr(c, "__name__", "") == "SiteFreeLocator" for c in locators):
        locators.insert(0, _site_free_locator_class(caching._CacheLocator))


def _site_free_locator_class(base):
    class SiteFreeLocator(base):
        """Numba's cache of a generated module's functions: ``__pycache__`` beside the module, stamped with the
        module's key instead of the file's modification time and size, so a module written over with other
        creation sites (``ModuleCache.store``) keeps its compiled code; a module run by hand, without symgraph,
        falls back to Numba's own stamp."""

        def __init__(self, py_func, py_file, key):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._key = key

        def get_cache_path(self):
            return os.path.join(os.path.dirname(self._py_file), "__pycache__")

        def get_source_stamp(self):
            return self._key

        def get_disambiguator(self):
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func, py_file):
            key = py_func.__globals__.get("__symgraph_key__")
            if not isinstance(key, str) or not os.path.exists(py_file):
                return None
            locator = cls(py_func, py_file, key)
            try:
                locator.ensure_cache_path()
            except OSError:
                return None
            return locator

    return SiteFreeLocator
