"""The compiled program: schedule, generate, cache and load the module of a graph, then call it.

``NumbaProgram(outputs, inputs)`` has the interface of the NumPy backend's program: ``compute(feeds)`` takes checked
feeds (placeholder id -> array, in the order of ``inputs``) and returns the outputs' values, each a fresh array
(``sg.function`` passes its outputs followed by its update expressions, and assigns the update values itself).
"""

from __future__ import annotations

import hashlib
import os
import importlib.util
import sys
import threading
import warnings
import weakref

import numpy as np
from numba.core.dispatcher import Dispatcher
from numba.core.errors import NumbaError

from symgraph.backends import threads
from symgraph.backends.numba import cache as disk
from symgraph.backends.numba.codegen import ModuleWriter, Signature
from symgraph.backends.numba.fusion import build_schedule
from symgraph.backends.numba.lowering import lowering_of
from symgraph.backends.numba.lowering.custom import runs_in_python
from symgraph.backends.profile import Profile, Timer
from symgraph.errors import EvaluationError, PythonCallbackWarning, SymgraphError
from symgraph.graph import Constant, Placeholder, Variable, format_shape, toposort
from symgraph.ops.custom import CustomOp
from symgraph.ops.source import site_of

disk.install_site_free_locator()


class LoweringError(SymgraphError, TypeError):
    """The graph has ops the Numba backend cannot lower."""


def check_lowerings(order) -> None:
    """Every op of the graph has a lowering; otherwise one error listing all that are missing."""
    missing = {}
    for node in order:
        if node.inputs and lowering_of(node.op) is None:
            missing.setdefault(type(node.op).__name__, node)
    if missing:
        listed = "\n  ".join(f"{name} (e.g. {node.describe()})" for name, node in sorted(missing.items()))
        raise LoweringError(f"the Numba backend has no lowering for {len(missing)} op(s) of this graph:\n  {listed}\n"
                            "use backend='numpy' for this function")


def python_ops(order) -> list[str]:
    """The custom ops of the graph that run in Python (no Numba lowering), each named once, with a warning once per
    op and process."""
    found = {}
    for node in order:
        if node.inputs and runs_in_python(node.op):
            found.setdefault(node.op.definition, node)
    messages = []
    for definition, node in found.items():
        message = (f"{definition.describe()} has no Numba lowering: backend='numba' calls its NumPy function "
                   f"({site_of(definition.compute)}) from Python at every call (e.g. {node.describe()})")
        messages.append(message)
        if definition not in _warned_python:
            _warned_python.add(definition)
            warnings.warn(f"symgraph: {message}; give sg.custom_op a numba= lowering to compile it",
                          PythonCallbackWarning, stacklevel=6)  # at the sg.function call
    return messages


_warned_python: "weakref.WeakSet" = weakref.WeakSet()


def custom_op_digests(outputs) -> dict:
    """Per custom op of the graph (its name and definition site): the hashes of its functions, for explaining
    cache misses."""
    digests = {}
    for node in toposort(outputs):
        if isinstance(node.op, CustomOp):
            definition = node.op.definition
            digests[f"{definition.name} at {definition.site}"] = definition.digests
    return digests


def custom_lowerings(outputs) -> list[str]:
    """The custom ops of the graph with a Numba lowering, described with where the lowering is defined."""
    found = {}
    for node in toposort(outputs):
        if isinstance(node.op, CustomOp) and node.op.definition.numba is not None:
            definition = node.op.definition
            found[definition] = f"{definition.describe()}: numba={site_of(definition.numba)}"
    return list(found.values())


class NumbaProgram:
    """A graph compiled into a generated, cached Numba module."""

    def __init__(self, outputs, inputs, title="symgraph function", profile=False):
        self.outputs = list(outputs)
        self._profile = profile
        self._timers = {}  # module file -> Timer of its stages, when profiling
        order = toposort(self.outputs)
        check_lowerings(order)
        self.python_ops = python_ops(order)
        self.placeholders = [n for n in order if isinstance(n, Placeholder)]
        self.inputs = list(inputs)
        self.variables = [n for n in order if isinstance(n, Variable)]
        # Every constant is an argument: loops write size-1 ones as literals, calls read them as arrays.
        self.constants = [n for n in order if isinstance(n, Constant)]
        self.title = title
        self._signature = Signature(self.inputs, self.variables, self.constants, self.outputs)
        self._fingerprint = _fingerprint(order, self.inputs)
        self._lock = threading.Lock()
        threads.limit_kernels_once()
        self.cache_info = None
        self._module = self._load(guards=False)
        self._guarded = None

    # -- building ---------------------------------------------------------------------------------------------------
    def _source(self, guards: bool):
        """The module's source, the kernel files it loads and the Python functions it takes (custom ops')."""
        schedule = build_schedule(self.outputs, fuse=not guards)
        writer = ModuleWriter(schedule, self._signature, guards, self.title, profile=self._profile)
        source = writer.write()
        return source, list(writer.kernel_files.values()), list(writer.callbacks.values())

    def _load(self, guards: bool):
        source, kernels, callbacks = self._source(guards)
        env = disk.environment()
        key = disk.module_key(source, env)
        store = disk.ModuleCache()
        for kernel in kernels:
            store.store_kernel(kernel.file_name, kernel.source)
        components = dict(env, lowerings=disk.lowering_sources_hash(), inputs=_input_signature(self.inputs),
                          variables=_input_signature(self.variables + self.constants),
                          custom_ops=custom_op_digests(self.outputs))
        fingerprint = self._fingerprint + ("-guarded" if guards else "")
        path, status = store.store(key, source)
        if status == "found":
            compiles = "\n@numba.njit(" in source  # a module of Python stages alone has no compiled code to find
            found = not compiles or _has_compiled(os.path.dirname(path))
            reason = None if found else "no entry of Numba's compiled code"
        elif status == "repaired":
            reason = "entry corrupted: the cached module did not match its key; written again"
            _warn_once(f"symgraph: the cached module {path} did not match its key; it was written again")
        else:
            reason = store.explain_miss(fingerprint, components)
        module = _import(path, key, source)
        info = disk.CacheInfo(hit=reason is None, key=key, reason=reason, path=path, python_ops=self.python_ops)
        if not guards:
            self.cache_info = info
        self._entry = (store, key, path, kernels)
        store.record(fingerprint, components)
        module.__symgraph_callbacks__ = tuple(c.function for c in callbacks)
        return module

    @property
    def source(self) -> str:
        return self._module.__symgraph_source__

    @property
    def source_path(self) -> str:
        return self._module.__file__

    # -- running ----------------------------------------------------------------------------------------------------
    def compute(self, feeds: dict) -> list:
        arrays = [_as_argument(feeds[id(p)]) for p in self.inputs]
        arrays += [v.value for v in self.variables]
        arrays += [c.value for c in self.constants]
        module = self._guarded or self._module
        if hasattr(module, "num_threads"):  # a module with chunked stages: they follow sg.set_num_threads
            module.num_threads = threads.get_num_threads()
        first = not getattr(module, "__symgraph_called__", False)
        misses = _compile_counts(module) if first else None
        try:
            results = self._call(module, arrays)
        except Exception as error:
            if type(error).__name__ == "NeedsGuards" and module is self._module:
                with self._lock:
                    if self._guarded is None:
                        self._guarded = self._load(guards=True)
                results = self._call(self._guarded, arrays)
            else:
                raise
        if first:
            self._count_compiled(self._guarded or self._module, misses)
        return list(results)

    def _count_compiled(self, module, before: dict) -> None:
        """After a module's first call: which of its compiled functions (stages and helpers) Numba compiled during
        it, none when the disk cache (or another module of this process, for helpers) served them all."""
        module.__symgraph_called__ = True
        after = _compile_counts(module)
        compiled = [name for name, count in sorted(after.items()) if count > before.get(name, 0)]
        info = self.cache_info
        if info is not None and module is self._module:
            info.compiled = compiled
            if compiled and info.hit:
                info.hit = False
                info.reason = "Numba's cached code did not match the module; recompiled"

    def _call(self, module, arrays):
        """Run the module; a fault in Numba's cache ends in a recompiled module, never in a crash."""
        try:
            return self._checked_run(module, arrays)
        except Exception as error:
            if not _from_numba_cache(error):
                raise
        # Numba could not load its cached code for this module (truncated or garbage files, or a module imported
        # under another name by hand, which Numba's cache records): start the entry again and compile.
        store, key, path, kernels = self._entry
        _warn_once(f"symgraph: the compiled code cached for {path} could not be loaded; it is being recompiled")
        disk.discard_compiled(path)
        for kernel in kernels:  # its helpers' cached code may be the damaged part: they are loaded again too
            store.discard_kernel(kernel.file_name)
            sys.modules.pop(kernel.module_name, None)
        stale = module
        module = _import(path, key, stale.__symgraph_source__, fresh=True)
        module.__symgraph_callbacks__ = stale.__symgraph_callbacks__
        if module.__file__ == self._module.__file__:
            self._module = module
        else:
            self._guarded = module
        if self.cache_info is not None:
            self.cache_info.hit = False
            self.cache_info.reason = "entry corrupted: Numba's cached code could not be loaded, recompiled"
        return self._checked_run(module, arrays)

    @property
    def profile(self) -> Profile | None:
        """Seconds per generated stage (one kernel each when profiling), over every call so far but each module's
        first, which compiles; None unless built with ``profile=True``. Stages of the guarded variant, if it ran,
        are marked "guarded"."""
        if not self._profile:
            return None
        kernels, calls = [], 0
        for guarded, timer in self._timers.values():
            part = timer.profile("numba")
            for k in part.kernels:
                k.label = ("guarded: " if guarded else "") + k.label
            kernels += part.kernels
            calls += part.calls
        return Profile("numba", kernels, calls)

    def _timer_of(self, module) -> Timer:
        entry = self._timers.get(module.__file__)
        if entry is None:
            with self._lock:
                entry = self._timers.setdefault(module.__file__, (module is self._guarded,
                                                                 Timer(list(module.PROFILE_LABELS))))
        return entry[1]

    def _checked_run(self, module, arrays):
        try:
            results = module.run(*arrays, *module.__symgraph_callbacks__)
            if self._profile and getattr(module, "__symgraph_called__", False):  # the first call compiles
                self._timer_of(module).add(module._local.times)
            return results
        except ValueError as error:
            if _from_numba_cache(error):  # unpickling damaged cached code can raise ValueError too
                raise
            # The plan's run-time shape checks (ShapeMismatch) and value checks inside kernels (labels, indices)
            # name their node; both are evaluation failures, as in the NumPy backend.
            raise EvaluationError(str(error)) from None
        except NumbaError as error:
            lowerings = custom_lowerings(self.outputs)
            if not lowerings or _from_numba_cache(error):
                raise
            listed = "\n  ".join(lowerings)
            raise LoweringError(f"Numba could not compile the generated module {module.__file__}, which calls the "
                                f"Numba lowerings of custom ops:\n  {listed}\nNumba said: {error}") from None


def _compile_counts(module) -> dict:
    """How many signatures each compiled function of a module (its stages and the helpers it loads) has compiled in
    this process rather than loaded from the disk cache."""
    return {name: sum(value.stats.cache_misses.values()) for name, value in vars(module).items()
            if isinstance(value, Dispatcher)}


def _has_compiled(directory: str) -> bool:
    cache = os.path.join(directory, "__pycache__")
    return os.path.isdir(cache) and any(name.endswith(".nbi") for name in os.listdir(cache))


def module_name(path: str) -> str:
    """The name a generated module is imported under: Numba's disk cache records it, so importing the file under
    another name makes Numba's cached code unloadable (symgraph then recompiles)."""
    return "symgraph_generated_" + os.path.basename(os.path.dirname(path))[:24]


def _import(path: str, key: str, source: str, fresh: bool = False):
    """The module of ``source``, whose file is ``path``, under a name derived from its key (registered before it
    runs, which Numba's cache needs for functions that call other compiled functions). Modules of one key differ
    in their creation sites alone: each runs its own source (its messages name its sites), and all find the same
    compiled code (``__symgraph_key__``, set before the module runs, is what disk.SiteFreeLocator stamps it by)."""
    name = module_name(path)
    existing = sys.modules.get(name)
    variants = None  # the other sources of the module registered under this name, when it is one of ours
    if existing is not None and getattr(existing, "__file__", None) == path and not fresh:
        if getattr(existing, "__symgraph_source__", None) == source:
            return existing
        variants = existing.__dict__.setdefault("__symgraph_variants__", {})
        if source in variants:
            return variants[source]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__symgraph_key__ = key
    module.__symgraph_source__ = source
    if variants is None:
        sys.modules[name] = module
    else:
        variants[source] = module
    if disk.read_text(path) == source:
        spec.loader.exec_module(module)  # through Python's bytecode cache
    else:  # the file holds another variant, written since
        exec(compile(source, path, "exec"), module.__dict__)
    return module


def _as_argument(array: np.ndarray) -> np.ndarray:
    """Feeds reach the compiled code as writable C-contiguous arrays, so that one compiled signature serves all."""
    if array.flags.c_contiguous and array.flags.writeable:
        return array
    return np.array(array, order="C", copy=True)


def _input_signature(nodes) -> list:
    return [f"{n.dtype.name}{format_shape(n.shape)}" for n in nodes]


def _fingerprint(order, inputs) -> str:
    """A hash of the graph's structure, with inputs known only by position (to explain cache misses)."""
    position = {id(p): k for k, p in enumerate(inputs)}
    index = {}
    digest = hashlib.sha256()
    for k, node in enumerate(order):
        index[id(node)] = k
        if id(node) in position:
            item = ("input", position[id(node)])
        else:
            item = (type(node.op).__name__, repr(sorted(node.op.attributes().items(), key=str)) if node.inputs
                    else node.op.name, tuple(index[id(i)] for i in node.inputs))
        digest.update(repr(item).encode())
    return digest.hexdigest()[:24]


_warned: set = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def _from_numba_cache(error: BaseException) -> bool:
    """Whether an exception was raised while Numba loaded cached code (its traceback passes through its cache)."""
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename.replace("\\", "/").endswith("numba/core/caching.py"):
            return True
        traceback = traceback.tb_next
    return False
