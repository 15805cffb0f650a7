"""The disk cache of generated modules and of Numba's compiled code for them.

Each module lives at ``<cache>/numba/<key>/module.py``; Numba keeps its compiled code beside it (``__pycache__``), so
a second process importing the same path compiles nothing. The helper kernels that modules call live in
``<cache>/numba/kernels/<stem>_<digest>.py`` (a module of kernels/, or a wrapper binding constants), shared by every
module (the digest hashes the file, and modules name the digest: a changed helper is a new file). The key hashes the
generated source (so a changed lowering or helper changes it) with the symgraph, Numba, llvmlite and NumPy versions
and the CPU.
A module file is created once, exclusively (a temporary file hard-linked into place), and never rewritten, so that
processes compiling the same graph at once cannot interleave their writes.

To explain a miss, ``<cache>/numba/explain/<fingerprint>.json`` records the components of the last key compiled for a
graph fingerprint (the graph's structure without its inputs' dtypes and shapes).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import warnings
from dataclasses import dataclass, field

CACHE_ENV = "SYMGRAPH_CACHE_DIR"


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


def cache_root() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "symgraph")


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


def module_key(source: str, env: dict) -> str:
    digest = hashlib.sha256(source.encode())
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
            _private_directories(root)
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
        """The module's path, and "found" (already there), "written" or "repaired" (it was there, damaged)."""
        directory = self.entry(key)
        path = os.path.join(directory, "module.py")
        if os.path.exists(path) and _reads_back(path, source):
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
        if not (os.path.exists(path) and _reads_back(path, source)):
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
        return "the generated source changed (names, creation sites or options of the graph)"

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


def _private_directories(path: str) -> None:
    """Create ``path`` and any missing parents readable by the user alone (makedirs applies its mode to the leaf
    only, and the umask may widen nothing but can narrow it)."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
            os.chmod(directory, 0o700)
        except FileExistsError:  # another process made it meanwhile
            pass


def _write_once(directory: str, path: str, source: str) -> None:
    """Write ``path`` exclusively (a temporary file hard-linked into place): processes writing the same file at once
    never interleave, and the first one's complete file wins."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".write-", suffix=".py")
    with os.fdopen(handle, "w") as file:
        file.write(source)
        file.flush()
        os.fsync(file.fileno())
    try:
        os.link(temporary, path)  # exclusive: another process may have created it meanwhile
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def _reads_back(path: str, source: str) -> bool:
    try:
        with open(path) as file:
            return file.read() == source
    except (OSError, UnicodeDecodeError):
        return False


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
