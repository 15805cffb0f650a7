"""Generate the Python/Numba module of a schedule: readable source that runs with only NumPy and Numba installed.

The module has four parts, in the order a reader meets them:

1. helpers: the kernel functions its calls use (softmax, im2col, ...), loaded from the kernel files beside the
   module's folder (``<cache>/numba/kernels/<kernel module>_<digest>.py``, a module of ``kernels/`` with each
   function @njit). Every module calling a helper loads the same file, so Numba compiles it once per process and
   caches it once per machine, for all graphs; the digest, a hash of the file, is written into the module, so that
   a changed helper is a new file and a new module, never a stale pairing in Numba's cache;
2. ``_plan(inputs)``: plain Python, run once per input-shape signature: the shape of every value (checked as the
   ops combine them) and the buffers of the memory plan;
3. ``stage_k(...)``: the kernels, one statement or loop nest per kernel, commented with the op, its shape and the
   user's line. Fused loops are ``@njit`` stages; a long run of them is split into several, because Numba's compile
   time grows faster than linearly with the loops in one function. Calls (BLAS, convolution, softmax, ...) are plain
   Python stages calling the compiled helpers: compiled into a stage, a helper's code would be linked into the
   stage's module and optimized again with it (a CNN step took 35 s to compile that way), while called from Python
   it is compiled once, at a cost of about a microsecond per call;
4. ``run(...)``: the driver: finds the plan, allocates the outputs, calls the stages, returns the outputs.
   Variables are arguments (never globals: a global array would be frozen into the compiled code). Their new
   values are outputs like any other, written into fresh arrays that symgraph then makes the variables' values
   without a copy (the replaced arrays go back to the allocator, which hands them out again on the next call).
   Custom ops' Python functions (``lowering/custom.py``), when the module calls any, are its last arguments.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import inspect
import keyword
import re
from dataclasses import dataclass, field

import numpy as np

from symgraph.autodiff import gradient_of
from symgraph.backends.numba import chunking, flatten
from symgraph.backends.numba import kernels as kernel_package
from symgraph.backends.numba.kernels.reduce import COMBINE_BLOCKS
from symgraph.backends.numba.fusion import (
    Schedule, array_source, at_own_element, is_leaf, is_scalar_constant, loop_index, reads_of, resolve,
)
from symgraph.backends.numba.lowering import fill, known_c_contiguous, lowering_of
from symgraph.backends.numba.memory import assign_slabs
from symgraph.graph import Constant, Node, Placeholder, Variable, format_shape, provenance

LOOPS_PER_STAGE = 24  # loops (each level of a nest counts) per compiled stage: compile time grows faster past ~30
# Modules of kernels/ whose helpers the Python stages run as plain Python (shapes.py and *_shapes.py are the plan's;
# the others are compiled into kernel files).
PYTHON_HELPER_MODULES = ("blas", "conv_gemm")
# Modules of kernels/ whose functions are written into kernel files flattened, a file each (flatten.py: one compiled
# function per kernel instead of a chain of helpers), their stand-ins for LLVM instructions replaced by
# kernels/intrinsics.py's.
FLATTENED_MODULES = ("vecmath",)
# Loops over the user's ops may only contract a*b+c into one FMA: reassociation would fold y - (x - x) into y and
# turn NaN/inf into numbers, "arcp" would turn x/y into x*(1/y), infinite for subnormal y, "nsz" flips the sign of
# 1/(-0). The kernels (copied helpers, written and tested against these flags) also reassociate, for vectorized
# sums; the loops' sums accumulate through one such helper, kernels/reduce.py's accumulate.
LOOP_NJIT = 'numba.njit(cache=True, nogil=True, no_cfunc_wrapper=True, error_model="numpy", fastmath=LOOP_FASTMATH)'
LOOP_FASTMATH = '{"contract"}'
NJIT = 'numba.njit(cache=True, nogil=True, no_cfunc_wrapper=True, error_model="numpy", fastmath=FASTMATH)'
FASTMATH = '{"nsz", "contract", "reassoc", "arcp"}'  # no "nnan"/"ninf": NaN and inf propagate as in NumPy
INLINED_NJIT = NJIT.replace("nogil=True, ", 'nogil=True, inline="always", ')
# Helpers that only compiled code calls (other helpers, the loops) are compiled without a CPython wrapper, which took
# more than half of a small function's compile (~0.06 of 0.11 s). Python must never call one: it would crash.
NESTED_NJIT = NJIT.replace("no_cfunc_wrapper=True, ", "no_cfunc_wrapper=True, no_cpython_wrapper=True, ")
RESERVED = {"np", "numba", "math", "threading", "run", "range", "len", "min", "max", "abs", "int", "float", "bool",
            "tuple", "slice", "print", "FASTMATH", "LOOP_FASTMATH", "NeedsGuards", "ShapeMismatch", "shapes",
            "buffers", "plan", "plans", "key", "error", "k", "time", "times", "started", "PROFILE_LABELS", "queue",
            "num_threads", "block", "blocks", "rows", "lo", "hi", "block_start", "block_stop", "combine", "step",
            "BLOCK_ITERATIONS", "PARALLEL_WORK", "RANGES_PER_THREAD",
            "PROBE_EVERY", "SAMPLES", "collections", "PLANS_KEPT"}


@dataclass(frozen=True)
class Callback:
    """A Python function a generated module calls (a custom op's): its argument name, the function, what it is and a
    hash of its source."""

    name: str
    function: object
    what: str
    digest: str


@dataclass
class Signature:
    """What a generated module is called with (inputs, variables and array constants, in that order) and returns."""

    inputs: list
    variables: list
    constants: list
    outputs: list  # the function's outputs, then its update values


class Names:
    """A unique, readable Python identifier per node: its name when it has one, else its op, after the layer it
    belongs to when it has one (``h1_relu``), else with a number (``relu_1``)."""

    def __init__(self):
        self.by_id: dict[int, str] = {}
        self.taken: set[str] = set(RESERVED)
        self.counters: dict[str, int] = {}
        self.layers: dict[int, str] = {}  # id(unnamed node) -> the layer (variable scope) it belongs to

    def __call__(self, node: Node) -> str:
        name = self.by_id.get(id(node))
        if name is None:
            name = self._fresh(node)
            self.by_id[id(node)] = name
        return name

    def _fresh(self, node: Node) -> str:
        if node.name:
            base = re.sub(r"\W", "_", node.name).strip("_") or node.op.name
            if base[0].isdigit():
                base = "_" + base
        elif id(node) in self.layers:
            base = re.sub(r"\W", "_", self.layers[id(node)]).strip("_") + "_" + node.op.name
        else:
            base = node.op.name
        if keyword.iskeyword(base):
            base += "_"
        if _GENERATED_NAME.fullmatch(base):  # a loop index or extent, or a shape's, element's or accumulator's name
            base = "v_" + base
        if node.name or id(node) in self.layers:
            return self.local(base)
        self.counters[base] = self.counters.get(base, 0) + 1
        candidate = f"{base}_{self.counters[base]}"
        while candidate in self.taken:
            self.counters[base] += 1
            candidate = f"{base}_{self.counters[base]}"
        self.taken.add(candidate)
        return candidate

    def find_layers(self, order) -> None:
        """The layer of each unnamed computed node: the scope of a variable it reads ("h1" of "h1/W", as the layers
        of symgraph.layers name theirs), else that of its one computed input when its other inputs are constants
        (the bias add and activation after a layer's product)."""
        for node in order:
            if node.name or not node.inputs:
                continue
            scopes = [i.name.rsplit("/", 1)[0] for i in node.inputs
                      if isinstance(i, Variable) and i.name and "/" in i.name]
            computed = [i for i in node.inputs if not isinstance(i, Constant)]
            if scopes:
                self.layers[id(node)] = scopes[0]
            elif len(computed) == 1 and id(computed[0]) in self.layers:
                self.layers[id(node)] = self.layers[id(computed[0])]

    def name_gradients(self, order) -> None:
        """Name the gradient of each named node ``g_<its name>``: of the nodes a reverse pass built for it with its
        shape, the sum of its contributions if there is one, else the last (the others keep their op's name)."""
        chosen = {}
        for node in order:
            origin = provenance(node)
            if origin is None or not origin.wrt.name or node.shape != origin.wrt.shape or node.name:
                continue
            best = chosen.get(id(origin.wrt))
            if best is None or provenance(best).through is not None:
                chosen[id(origin.wrt)] = node
        for node in chosen.values():
            if id(node) not in self.by_id:
                self.by_id[id(node)] = self.local("g_" + self(provenance(node).wrt))

    def local(self, base: str) -> str:
        """A fresh identifier: ``base`` itself when free, else ``base_2``, ``base_3``, ..."""
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name


# Names the generated code derives without reserving them: loop indices and extents (i0, n1), and the shape, loop
# element and accumulator of a value (s_x, e_x, acc_x).
_GENERATED_NAME = re.compile(r"[in]\d+|(?:s|e|acc)_\w*")


def dtype_constructor(dtype) -> str:
    dtype = np.dtype(dtype)
    return "np.bool_" if dtype.kind == "b" else f"np.{dtype.name}"


def literal(value, dtype) -> str:
    """A Numba expression of exactly this value and dtype."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return repr(bool(value))
    if dtype.kind in "iu":
        text = repr(int(value))
        return text if dtype == np.int64 else f"{dtype_constructor(dtype)}({text})"
    value = float(np.asarray(value, dtype))
    if np.isnan(value):
        text = "np.nan"
    elif np.isinf(value):
        text = "np.inf" if value > 0 else "-np.inf"
    else:
        text = repr(value)
    return text if dtype == np.float64 else f"{dtype_constructor(dtype)}({text})"


class Context:
    """What a lowering sees while emitting code for one node."""

    def __init__(self, writer: "ModuleWriter", stage: "Stage | None", current: Node | None = None):
        self.writer = writer
        self.stage = stage
        self.current = current

    def what(self, node: Node) -> str:
        return self.writer.describe(node)

    def literal(self, value, dtype) -> str:
        return literal(value, dtype)

    def cast(self, expr: str, dtype) -> str:
        return f"{dtype_constructor(dtype)}({expr})"

    def typed(self, expr: str, source_dtype, dtype) -> str:
        return expr if np.dtype(source_dtype) == np.dtype(dtype) else self.cast(expr, dtype)

    def dtype(self, dtype) -> str:
        return dtype_constructor(dtype)

    def helper(self, module: str, name: str, constants: dict | None = None) -> str:
        """The @njit helper ``name`` of ``kernels/<module>.py``, loaded by the module from its kernel file. With
        ``constants`` (parameter -> int), a copy of it compiled for those values, which it no longer takes (loops
        over a kernel size unroll)."""
        if (self.stage is None or not self.stage.compiled) and compiled_callers_only(module, name):
            raise AssertionError(f"kernels/{module}.py's {name} has no CPython wrapper: a Python stage cannot call it")
        return self.writer.include_helper(module, name, tuple(sorted((constants or {}).items())))

    def custom_kernel(self, entry: str, kernel: "KernelFile") -> str:
        """Load a custom op's Numba lowering (its own kernel file) into the module; its name there."""
        self.writer.kernel_files[entry] = kernel
        return entry

    def callback(self, key, base: str, function, what: str, digest: str) -> str:
        """A Python function the module calls (a custom op's NumPy function or shape rule): an argument of ``run``
        (and of the stage or plan calling it), named after ``base``; ``what`` and ``digest`` (a hash of its
        source) are written into the module."""
        return self.writer.include_callback(key, base, function, what, digest, self.stage)

    def plan_helper(self, module: str, name: str) -> str:
        """Copy the plain-Python function ``name`` of ``kernels/<module>.py`` into the module, for shape rules."""
        return self.writer.include_plan_helper(module, name)

    def python_helper(self, module: str, name: str) -> str:
        """Copy the plain-Python function ``name`` of ``kernels/<module>.py`` into the module, with the imports of
        that kernel module, for calls that need no compiling (BLAS through SciPy's wrappers)."""
        return self.writer.include_python_helper(module, name)

    def check(self, condition: str, node: Node, message: str) -> None:
        """A plan-time check: ValueError naming the node when ``condition`` is false."""
        self.writer.plan_lines.append(f"    if not ({condition}):")
        self.writer.plan_lines.append(f"        raise ValueError({self.what(node)} + {': ' + message!r})")

    def error(self, node_or_message, message: str | None = None) -> str:
        """A string literal for a run-time error raised in a stage: the node's description and ``message``
        (Numba raises only constant messages). With one argument, the node is the one being emitted."""
        if message is None:
            node, message = self.current, node_or_message
        else:
            node = node_or_message
        return repr(f"{node.describe()}: {message}")

    def shape_of(self, node: Node) -> str:
        """The node's run-time shape (a tuple) inside a stage."""
        return self.stage.use_shape(node)

    def array(self, node: Node) -> str:
        """An array expression holding the node's value inside a stage (a view statement is emitted if needed)."""
        return self.stage.array(node)

    def local(self, base: str) -> str:
        return self.writer.names.local(base)


@dataclass
class Stage:
    """One @njit function: its statements and the parameters they use."""

    writer: "ModuleWriter"
    index: int
    lines: list = field(default_factory=list)
    arrays: dict = field(default_factory=dict)   # parameter name -> node, for arrays received
    shapes: dict = field(default_factory=dict)   # parameter name -> node, for shapes received
    views: dict = field(default_factory=dict)    # id(view node) -> local name
    callbacks: set = field(default_factory=set)  # names of Python functions it calls (custom ops)
    compiled: bool = True  # an @njit stage of loops, or a Python stage of calls
    kernels: int = 0
    loops: int = 0
    label: str = ""  # what the stage computes, for profiles: its first kernel's comment
    parts: dict = field(default_factory=dict)    # parameter name -> reduction, for block partials (plan buffers)
    chunked: str = ""  # the blocking parameter of a chunked stage (one blocked loop run over a range of blocks)
    combines: bool = False  # a chunked stage with block partials to combine after its ranges

    def use_shape(self, node: Node) -> str:
        name = "s_" + self.writer.names(node)
        self.shapes[name] = node
        return name

    def array(self, node: Node) -> str:
        if not is_leaf(node) and lowering_of(node.op).kind == "view":
            if id(node) not in self.views:
                source = self.array(node.inputs[0])
                expr = lowering_of(node.op).array(node, source, Context(self.writer, self))
                name = self.writer.names(node)
                self.lines.append(f"    {name} = {expr}  # {self.writer.comment(node)}")
                self.views[id(node)] = name
            return self.views[id(node)]
        name = self.writer.array_name(node)
        self.arrays[name] = node
        return name


class ModuleWriter:
    """Writes the module for one schedule."""

    def __init__(self, schedule: Schedule, signature: Signature, guards: bool, title: str, profile: bool = False):
        self.schedule = schedule
        self.signature = signature
        self.guards = guards
        self.title = title
        self.profile = profile  # one kernel per stage, each call timed by the driver
        self.names = Names()
        self.descriptions: list[str] = []
        self.described: dict[int, int] = {}
        self.kernel_files: dict[str, KernelFile] = {}  # helper name -> the kernel file the module loads it from
        self.plan_helpers: dict[tuple, str] = {}
        self.imports: set[str] = set()  # import statements of the plain-Python helpers copied into the module
        self.plan_lines: list[str] = []
        self.output_names: dict[int, str] = {}  # id(computed output) -> the output array it is computed into
        self.output_params: list[str] = []      # per output, the array the driver allocates and returns
        self.copied_outputs: set[int] = set()   # positions of outputs copied at the end (leaves, views, repeats)
        self.shared_outputs: set[str] = set()   # output arrays that first hold a value the output's loop reads
        self.callbacks: dict = {}               # key -> Callback, in the order of run's last arguments
        self.plan_callbacks: list[str] = []     # names of the callbacks the plan calls
        self.blockings: list = []  # (parameter, space node, cost per iteration, block partials) per blocked loop
        self.parts_dtype: dict = {}  # block partials' buffer -> its dtype
        for node in signature.inputs + signature.variables + signature.constants:
            self.names(node)
        self.names.find_layers(schedule.order)
        self.names.name_gradients(schedule.order)

    # -- naming ---------------------------------------------------------------------------------------------------
    def describe(self, node: Node) -> str:
        if id(node) not in self.described:
            self.described[id(node)] = len(self.descriptions)
            self.descriptions.append(node.describe())
        return f"_NODES[{self.described[id(node)]}]"

    def comment(self, node: Node) -> str:
        name = f" {node.name!r}" if node.name else ""
        attributes = ", ".join(f"{k}={v!r}" for k, v in node.op.attributes().items())
        op = f"{node.op.name}({attributes})" if attributes else node.op.name
        forward = gradient_of(node)
        gradient = f", grad of {self._display_name(forward)}" if forward is not None else ""
        return f"{op}{name} {format_shape(node.shape)} {node.dtype.name} at {_short_site(node)}{gradient}"

    def _display_name(self, node: Node) -> str:
        """The module's identifier of ``node`` if it has one, else its own name or op (it may be optimized away)."""
        return self.names.by_id.get(id(node)) or (repr(node.name) if node.name else node.op.name)

    def array_name(self, node: Node) -> str:
        return self.output_names.get(id(node)) or self.names(node)

    # -- helpers ----------------------------------------------------------------------------------------------------
    def include_helper(self, module: str, name: str, constants: tuple = ()) -> str:
        entry, kernel = kernel_file(module, name, constants)
        self.kernel_files[entry] = kernel
        return entry

    def include_callback(self, key, base: str, function, what: str, digest: str, stage) -> str:
        callback = self.callbacks.get(key)
        if callback is None:
            callback = self.callbacks[key] = Callback(self.names.local(base), function, what, digest)
        if stage is not None:
            stage.callbacks.add(callback.name)
        elif callback.name not in self.plan_callbacks:
            self.plan_callbacks.append(callback.name)
        return callback.name

    def include_plan_helper(self, module: str, name: str) -> str:
        key = ("plan", module, name)
        if key not in self.plan_helpers:
            source, calls = _function_source(module, name)
            self.plan_helpers[key] = source
            for callee in calls:
                self.include_plan_helper(module, callee)
        return name

    def include_python_helper(self, module: str, name: str) -> str:
        """Copy a plain-Python helper into the module. Its kernel module's imports come along: other modules of
        ``kernels/`` as what the module loads (compiled kernels from their kernel files, plain-Python helpers
        copied), anything else (SciPy's BLAS) as import statements."""
        imports, helpers = _module_imports(module)
        self.imports.update(imports)
        for helper_module, helper in helpers:
            if helper_module in PYTHON_HELPER_MODULES:
                self.include_python_helper(helper_module, helper)
            elif compiled_callers_only(helper_module, helper):
                raise AssertionError(f"kernels/{module}.py imports {helper}, which has no CPython wrapper")
            else:
                self.include_helper(helper_module, helper)
        return self.include_plan_helper(module, name)

    # -- the module -------------------------------------------------------------------------------------------------
    def write(self) -> str:
        schedule, signature = self.schedule, self.signature
        for k, output in enumerate(signature.outputs):
            if id(output) in schedule.kernel_of and id(output) not in self.output_names:
                self.output_names[id(output)] = self.names.local(f"out_{self.names(output)}")
                self.output_params.append(self.output_names[id(output)])
            else:
                self.output_params.append(self.names.local(f"out{k}"))
                self.copied_outputs.add(k)
        last_read = last_reads(schedule)
        self._outputs_in_place_of_dead_values(last_read)
        stages = self._stages()
        buffers, slabs = self._memory_plan(last_read)
        plan = self._plan(buffers, slabs)
        parts = [self._header(), self._kernel_imports(), plan, *(self._stage_source(s, buffers) for s in stages),
                 self._driver(stages, buffers)]
        return "\n\n".join(part.rstrip() for part in parts) + "\n"

    def _outputs_in_place_of_dead_values(self, last_read: dict) -> None:
        """An output computed by a loop that reads, at the loop's own index, a stored value of its shape and dtype
        that nothing reads after that loop (a parameter's gradient, read by its update alone) is computed into that
        value's array: the value is written into the output's array, and the loop overwrites each element after
        its last read. Without it each such value has a buffer of its own for the whole step: a parameter-sized one
        per parameter."""
        schedule = self.schedule
        unavailable = {id(array_source(o)) for o in self.signature.outputs}
        for output in self.signature.outputs:
            at = schedule.kernel_of.get(id(output))
            if at is None or id(output) not in self.output_names or None in output.shape:
                continue
            loop = schedule.kernels[at]
            if loop.kind != "loop" or lowering_of(output.op).kind == "reduction" or tuple(loop.space) != output.shape:
                continue
            index = loop_index(len(loop.space))
            values: dict[int, Node] = {}  # id -> each value the loop reads
            reads: dict[int, list] = {}  # id(value) -> (member position, index read at) of its reads in the loop
            for position, member in enumerate(loop.members):
                for producer, read_at in reads_of(member, index):
                    values[id(producer)] = producer
                    reads.setdefault(id(producer), []).append((position, read_at))
            written_at = next(k for k, m in enumerate(loop.members) if m is output)
            for value in values.values():
                if (id(value) in unavailable or is_leaf(value) or id(value) not in schedule.stored
                        or value.shape != output.shape or value.dtype != output.dtype
                        or schedule.kernel_of.get(id(value), at) >= at or last_read.get(id(value)) != at
                        or any(k > written_at or not at_own_element(read_at, index, loop.space)
                               for k, read_at in reads[id(value)])):
                    continue
                shared = self.names(value)  # the array is named after the value, which it holds first
                self.output_params[self.output_params.index(self.output_names[id(output)])] = shared
                self.output_names[id(value)] = self.output_names[id(output)] = shared
                self.shared_outputs.add(shared)
                unavailable.add(id(value))
                break

    def _header(self) -> str:
        descriptions = "\n".join(f"    {d!r}," for d in self.descriptions)
        imports = "".join(f"{line}\n" for line in sorted(self.imports))
        if self.callbacks:
            listed = "".join(f"\n- {c.name}: {c.what}, source hash {c.digest}" for c in self.callbacks.values())
            usage = ("Generated by symgraph; runs with NumPy, SciPy, Numba and the Python functions of custom ops "
                     "that it takes as its last\narguments. `run(inputs, variables, constants, functions)` returns the "
                     "outputs, then the new values of\nupdated variables, each in a fresh array. The functions, in "
                     f"order:{listed}")
        else:
            usage = ("Generated by symgraph; runs with NumPy, SciPy and Numba alone. `run(inputs, variables,\n"
                     "constants)` returns the outputs, then the new values of updated variables, each in a fresh "
                     "array.")
        return (f'"""{self.title}\n\n{usage}\n"""\n\nimport collections\nimport importlib.util\nimport math\nimport os\nimport queue\nimport sys\nimport threading\nimport time\n\nimport numba\nimport numpy as np\n{imports}\n'
                f"LOOP_FASTMATH = {LOOP_FASTMATH}\nFASTMATH = {FASTMATH}\n\n_NODES = (  # the nodes that errors name\n{descriptions}\n)\n\n\n"
                "class NeedsGuards(Exception):\n"
                '    """Unknown dimensions broadcast against each other at run time: the fused loops assume they do '
                'not."""\n\n\n'
                "class ShapeMismatch(ValueError):\n"
                '    """Input shapes that the graph\'s ops cannot combine (found by the plan, before any kernel runs)."""')

    def _kernel_imports(self) -> str:
        lines = [KERNEL_LOADER]
        for name, kernel in sorted(self.kernel_files.items()):
            lines.append(f"{name} = _kernels({kernel.stem!r}, {kernel.digest!r}).{name}")
        return "\n".join(lines)

    # -- stages -----------------------------------------------------------------------------------------------------
    def _stages(self) -> list:
        stages = [Stage(self, 0)]
        for kernel in self.schedule.kernels:
            compiled = kernel.kind == "loop"
            chunked = compiled and not self.guards and chunkable(kernel)
            merged = collapsible_dims(kernel, self.schedule, self.guards, chunked) if compiled else 0
            loops = len(kernel.space) - max(merged - 1, 0) if compiled else 0
            last = stages[-1]
            if last.kernels and (self.profile or last.compiled != compiled or last.loops + loops > LOOPS_PER_STAGE
                                 or chunked or last.chunked):
                stages.append(Stage(self, len(stages)))
            stage = stages[-1]
            if chunked:
                stage.chunked = "chunked"  # named by the loop's writer
            stage.compiled = compiled
            stage.kernels += 1
            stage.loops += loops
            if kernel.kind == "loop":
                self._emit_loop(stage, kernel, merged)
            else:
                self._emit_call(stage, kernel.node)
            if not stage.label:
                stage.label = next((line.strip()[2:] for line in stage.lines if line.strip().startswith("# ")), "")
        self._emit_finish(stages[-1])
        return stages

    def _emit_call(self, stage: Stage, node: Node) -> None:
        ctx = Context(self, stage, node)
        args = [stage.array(i) for i in node.inputs]
        out = stage.array(node)
        stage.lines.append(f"    # {self.comment(node)}")
        for line in lowering_of(node.op).emit(node, args, out, ctx):
            stage.lines.append(f"    {line}")

    def _emit_loop(self, stage: Stage, loop, merged: int) -> None:
        LoopWriter(self, stage, loop, merged).emit()

    def _emit_finish(self, stage: Stage) -> None:
        """Outputs that are not computed into their own array (leaves, views, repeats) are copied into it."""
        signature = self.signature
        for k in sorted(self.copied_outputs):
            param = self.output_params[k]
            stage.lines.append(f"    {param}[...] = {stage.array(signature.outputs[k])}  # output {k}")
            stage.arrays[param] = signature.outputs[k]

    # -- plan -------------------------------------------------------------------------------------------------------
    def _memory_plan(self, last_read: dict):
        """Buffers for stored values that are not outputs, assigned to slabs by lifetime."""
        schedule = self.schedule
        last_use = dict(last_read)
        end = len(schedule.kernels)
        for output in self.signature.outputs:
            last_use[id(array_source(output))] = end
        buffers = [n for n in schedule.order if id(n) in schedule.stored and id(n) not in self.output_names]
        lifetimes = [(n, schedule.kernel_of[id(n)], last_use.get(id(n), schedule.kernel_of[id(n)])) for n in buffers]
        return buffers, assign_slabs(lifetimes)

    def _plan(self, buffers, slabs) -> str:
        ctx = Context(self, None)
        inputs = ", ".join(self.names(p) for p in self.signature.inputs)
        lines = self.plan_lines
        shape_names = {}
        for node in self.schedule.order:
            shape_names[id(node)] = name = "s_" + self.names(node)
            if isinstance(node, Placeholder):
                lines.append(f"    {name} = {self.names(node)}.shape")
                lines.append(f"    _expect_shape({self.describe(node)}, {name}, {node.shape!r})")
            elif is_leaf(node):
                lines.append(f"    {name} = {tuple(node.shape)!r}")
            else:
                rule = lowering_of(node.op).shape
                expression = rule(node, [shape_names[id(i)] for i in node.inputs], ctx)
                lines.append(f"    {name} = {expression}  # {node.op.name}")
        self._fusion_checks(lines, shape_names)
        for blocking, space_node, cost, _ in self.blockings:
            lines.append(f"    {blocking} = _blocking({shape_names[id(space_node)]}, {cost})  # rows, blocks, work")
        lines.append("    return {")
        for node in self.schedule.order:
            lines.append(f"        {shape_names[id(node)]!r}: {shape_names[id(node)]},")
        for blocking, _, _, _ in self.blockings:
            lines.append(f"        {blocking!r}: {blocking},")
        lines.append("    }")
        shapes_source = "\n".join(lines)
        alloc = ["def _buffers(shapes):", '    """The memory plan: slabs shared by values whose lifetimes do not '
                 'overlap, and each value\'s view of its slab."""', "    buffers = {}"]
        for k, slab in enumerate(slabs):
            sizes = ", ".join(f"_size(shapes['s_{self.names(n)}'])" for n in slab.values)
            alloc.append(f"    slab_{k} = np.empty(max({sizes}, 1), {dtype_constructor(slab.dtype)})")
            for n in slab.values:
                name = self.names(n)
                alloc.append(f"    buffers[{name!r}] = slab_{k}[:_size(shapes['s_{name}'])].reshape(shapes['s_{name}'])")
        for blocking, _, _, parts in self.blockings:
            for name in parts:
                dtype = dtype_constructor(self.parts_dtype[name])
                alloc.append(f"    buffers[{name!r}] = np.empty(shapes[{blocking!r}][1], {dtype})  # block partials")
        alloc.append("    return buffers")
        helpers = "\n\n\n".join([_python_helpers(), *self.plan_helpers.values()] +
                                 ([_chunking_source()] if self.blockings else []))
        inputs = ", ".join([inputs] * bool(inputs) + self.plan_callbacks)
        return (f"{helpers}\n\n\ndef _plan({inputs}):\n"
                '    """The shape of every value, from the inputs\' shapes (checked where ops combine them)."""\n'
                f"{shapes_source}\n\n\n" + "\n".join(alloc))

    def _fusion_checks(self, lines, shape_names) -> None:
        """The fused loops assume that members and the arrays they read have the loop's size along unknown dims."""
        if self.guards:
            return
        checks = set()
        for kernel in self.schedule.kernels:
            if kernel.kind != "loop":
                continue
            space_node = _space_node(kernel.members[0])
            space = shape_names[id(space_node)]
            own = loop_index(len(kernel.space))
            for member in kernel.members:
                member_space = _space_node(member)
                for k, d in enumerate(member_space.shape):
                    if d is None:
                        checks.add((shape_names[id(member_space)], k, space, k))
                for producer, index in reads_of(member, own):
                    if index is None or is_scalar_constant(producer):
                        continue
                    for j, (d, position) in enumerate(zip(producer.shape, index)):
                        if d is None and position in own:
                            checks.add((shape_names[id(producer)], j, space, own.index(position)))
        for a, j, b, k in sorted(checks):
            if a != b or j != k:
                lines.append(f"    if {a}[{j}] != {b}[{k}]:")
                lines.append("        raise NeedsGuards()")

    # -- stage and driver sources -----------------------------------------------------------------------------------
    def _stage_source(self, stage: Stage, buffers) -> str:
        params = self._stage_params(stage)
        if stage.chunked:
            header = f"@{LOOP_NJIT}\ndef stage_{stage.index}"
            params += ["block_start", "block_stop", "combine"]
            doc = (f'    """Kernels {stage.index}: one blocked loop, over blocks [block_start, block_stop).\n\n'
                   '    The driver may run disjoint block ranges on several threads at once, then calls it with '
                   'combine=True."""')
        elif stage.compiled:
            header = f"@{LOOP_NJIT}\ndef stage_{stage.index}"
            plural = "s" if stage.kernels > 1 else ""
            doc = f'    """Kernels {stage.index}: {stage.kernels} fused kernel{plural}, {stage.loops} loop levels."""'
        else:
            header = f"def stage_{stage.index}"
            plural = "s" if stage.kernels > 1 else ""
            doc = (f'    """Kernels {stage.index}: {stage.kernels} call{plural}, run by Python (each a compiled '
                   'helper)."""')
        return f"{header}({', '.join(params)}):\n{doc}\n" + "\n".join(stage.lines) + "\n"

    def _stage_params(self, stage: Stage) -> list:
        ordered = [self.names(n) for n in self.signature.inputs + self.signature.variables + self.signature.constants]
        params = [name for name in ordered if name in stage.arrays]
        params += sorted(name for name in stage.arrays if name not in params)
        params += sorted(stage.parts)
        params += sorted(stage.shapes)
        params += sorted(stage.callbacks)
        return params

    def _driver(self, stages, buffers) -> str:
        signature = self.signature
        args = [self.names(n) for n in signature.inputs + signature.variables + signature.constants]
        args += [c.name for c in self.callbacks.values()]
        inputs = [self.names(p) for p in signature.inputs]
        key = "(" + "".join(f"{name}.shape, " for name in inputs) + ")"
        lines = [f"def run({', '.join(args)}):",
                 f'    """The values of the {len(signature.outputs)} outputs, each in a fresh array."""',
                 "    plans = getattr(_local, 'plans', None)",
                 "    if plans is None:",
                 "        plans = _local.plans = {}",
                 f"    key = {key}",
                 "    plan = plans.get(key)",
                 "    if plan is None:",
                 "        try:",
                 f"            shapes = _plan({', '.join(inputs + self.plan_callbacks)})",
                 "        except ValueError as error:",
                 "            raise ShapeMismatch(str(error)) from None",
                 "        if len(plans) >= PLANS_KEPT:",
                 "            del plans[next(iter(plans))]  # the oldest signature's plan, and its buffers",
                 "        plan = plans[key] = (shapes, _buffers(shapes))",
                 "    shapes, buffers = plan"]
        for name, output in zip(self.output_params, signature.outputs):
            line = f"    {name} = np.empty(shapes['s_{self.names(output)}'], {dtype_constructor(output.dtype)})"
            if name in self.shared_outputs:
                line += f"  # {name} first; {self.names(output)}'s loop overwrites it with {self.names(output)}"
            lines.append(line)
        direct = set(args) | set(self.output_params)
        calls = [f"times = [0.0] * {len(stages)}"] if self.profile else []
        for stage in stages:
            call_args = []
            for param in self._stage_params(stage):
                if param in direct:
                    call_args.append(param)
                elif param in stage.shapes:
                    call_args.append(f"shapes[{param!r}]")
                else:
                    call_args.append(f"buffers[{param!r}]")
            call = f"stage_{stage.index}({', '.join(call_args)})"
            if stage.chunked:
                calls.append(f"# stage_{stage.index}'s block ranges, on up to num_threads threads when it is large")
                call = (f"_run_chunked(stage_{stage.index}, ({', '.join(call_args)},), shapes[{stage.chunked!r}], "
                        f"combines={stage.combines})")
            if self.profile:
                calls += ["started = time.perf_counter()", call,
                          f"times[{stage.index}] = time.perf_counter() - started"]
            else:
                calls.append(call)
        if self.profile:
            calls.append("_local.times = times  # seconds per stage of this thread's last call")
        indent = "    "
        if not all(stage.compiled for stage in stages):  # NumPy calls (matmul, indexing) in Python stages
            lines.append('    with np.errstate(all="ignore"):  # NaN and inf pass silently, as in the NumPy backend')
            indent += "    "
        lines += [indent + line for line in calls]
        outputs = ", ".join(self.output_params)
        lines.append(f"    return ({outputs}{',' if len(signature.outputs) == 1 else ''})")
        text = ("_local = threading.local()  # plans and buffers per thread and input shapes\n"
                "PLANS_KEPT = 4  # input-shape signatures a thread keeps the plan and buffers of (each may hold a "
                "parameter-sized gradient)\n")
        if self.profile:
            labels = "\n".join(f"    {stage.label!r}," for stage in stages)
            text += f"PROFILE_LABELS = (  # what each stage computes\n{labels}\n)\n"
        return text + "\n\n" + "\n".join(lines)


def last_reads(schedule: Schedule) -> dict[int, int]:
    """id(array node) -> the index of the last kernel that reads it."""
    last: dict[int, int] = {}
    for at, kernel in enumerate(schedule.kernels):
        readers = [(kernel.node, None)] if kernel.kind == "call" else [
            (m, loop_index(len(kernel.space))) for m in kernel.members]
        for reader, index in readers:
            for producer, _ in reads_of(reader, index):
                last[id(producer)] = at
    return last


class LoopWriter:
    """Emits one fused loop nest: member expressions in the innermost body, reductions accumulated at their level."""

    def __init__(self, writer: ModuleWriter, stage: Stage, loop, merged: int = 0):
        self.writer, self.stage, self.loop = writer, stage, loop
        self.ctx = Context(writer, stage)
        self.rank = len(loop.space)
        self.index = loop_index(self.rank)
        self.local_names: dict[int, str] = {}
        self.blocked = False     # i0 counts from the block's first row: arrays read at [i0, ...] through block views
        self.block_views: dict[str, str] = {}  # array -> its view of the block's rows
        # The last ``merged`` dimensions run as one loop (collapsible_dims): its index takes the first one's name,
        # and arrays indexed by all of them are read through views with those dimensions as one.
        self.merged = merged
        self.levels = self.rank - merged + 1 if merged else self.rank  # the loop levels written
        self.flat_views: dict[str, tuple] = {}  # array -> (its view with the merged dimensions as one, its rank)
        self.flat_size = writer.names.local("n_merged") if merged else ""

    def _at(self, array: str, index: tuple) -> str:
        """``array`` at ``index``. In a blocked loop i0 counts from the block's first row ``lo`` (so that LLVM sees a
        non-negative index and vectorizes, which it does not for an index starting at block * rows): an array read
        at [i0, ...] goes through its view of the block's rows, any other use of i0 becomes lo + i0."""
        if self.merged and index[len(index) - self.merged:] == self.index[self.levels - 1:]:
            if array not in self.flat_views:
                self.flat_views[array] = (self.writer.names.local(f"{array}_merged"), len(index))
            array, index = self.flat_views[array][0], index[:len(index) - self.merged] + (self.index[self.levels - 1],)
        if not self.blocked:
            return f"{array}[{_subscript(index)}]"
        if index and index[0] == "i0":
            if array not in self.block_views:
                self.block_views[array] = self.writer.names.local(f"{array}_rows")
            return f"{self.block_views[array]}[{_subscript(index)}]"
        return f"{array}[{_subscript(tuple(_FIRST_INDEX.sub('(lo + i0)', e) for e in index))}]"

    def emit(self) -> None:
        writer, stage, loop = self.writer, self.stage, self.loop
        space_node = _space_node(loop.members[0])
        reductions = [m for m in loop.members if id(m) in loop.reductions]
        levels = {id(r): self._accumulator_level(r) for r in reductions}
        partial = {id(r): self._partial_level(r) for r in reductions if levels[id(r)] is None}
        scalar_levels = {**levels, **{k: v for k, v in partial.items() if v is not None}}
        whole = [r for r in reductions if levels[id(r)] == 0 and self.rank]  # summed in blocks, then pairwise
        self.blocked = bool(stage.chunked or whole)
        shift = int(self.blocked)  # the block loop is one more level
        # The body and the stores after it first: array views they read are emitted before the loop header.
        body = [line for member in loop.members for line in self._member_lines(member, scalar_levels)]
        parts = {id(r): self._parts(r) for r in whole}
        closing = []
        for level in reversed(range(self.levels + 1)):
            indent = "    " * (1 + shift + level)
            for r in reductions:
                if id(r) in parts and level == 0:
                    closing.append(f"{indent}{parts[id(r)]}[block] = {self._accumulator(r)}")
                elif levels[id(r)] == level:
                    closing.append(f"{indent}{self._store(r, self._finished(r, self._accumulator(r)))}")
                elif partial.get(id(r)) == level:  # the inner axes' partial result joins the output's
                    target = self._at(stage.array(r), self._output_index(r))
                    combined = lowering_of(r.op).combine(r, target, self._accumulator(r), self.ctx)
                    closing.append(f"{indent}{target} = {combined}")
        stage.lines.append(f"    # loop over {format_shape(loop.space)}" +
                           (" in blocks of about BLOCK_ITERATIONS iterations" if self.blocked else "") + ": " +
                           ", ".join(f"{m.op.name} {writer.names(m)}" for m in loop.members))
        if self.rank:
            extents = ", ".join(f"n{k}" for k in range(self.rank))
            stage.lines.append(f"    {extents}{',' if self.rank == 1 else ''} = {stage.use_shape(space_node)}")
        if self.merged:
            self._emit_flat_views(body)
        if self.blocked:
            blocking = writer.names.local(f"blocking_{stage.index}")
            stage.shapes[blocking] = space_node
            writer.blockings.append((blocking, space_node, loop_cost(loop), list(parts.values())))
            if stage.chunked:
                stage.chunked, stage.combines = blocking, bool(whole)
            stage.lines.append(f"    rows, blocks, _ = {blocking}  # rows of i0 per block, the number of blocks")
        for r in reductions:
            if levels[id(r)] is None:
                stage.lines.append(f"    {fill(stage.array(r), r, lowering_of(r.op).initial(r, self.ctx))}")
        if self.blocked:
            blocks = "range(block_start, block_stop)" if stage.chunked else "range(blocks)"
            stage.lines.append(f"    for block in {blocks}:")
            stage.lines.append("        lo = block * rows")
            # not min(): Numba compiles the builtin as a function of its own (0.06 s of a cold start)
            stage.lines.append("        hi = lo + rows if lo + rows < n0 else n0")
            for array, view in self.block_views.items():
                stage.lines.append(f"        {view} = {array}[lo:hi]")
        for level in range(self.levels + 1):
            indent = "    " * (1 + shift + level)
            for r in reductions:
                if scalar_levels[id(r)] == level:
                    stage.lines.append(f"{indent}{self._accumulator(r)} = {lowering_of(r.op).initial(r, self.ctx)}")
            if level == 0 and self.blocked:
                stage.lines.append(f"{indent}for i0 in range(hi - lo):")
            elif level < self.levels:
                extent = self.flat_size if self.merged and level == self.levels - 1 else f"n{level}"
                stage.lines.append(f"{indent}for i{level} in range({extent}):")
        indent = "    " * (1 + shift + self.levels)
        stage.lines.extend(indent + line for line in body)
        stage.lines.extend(closing)
        self.blocked = False  # what follows runs after the block loop
        if whole:
            self._combine_parts(whole, parts)
        for r in reductions:
            if levels[id(r)] is None and lowering_of(r.op).finish is not None:
                array = stage.array(r)
                flat = writer.names.local("flat")
                stage.lines.append(f"    {flat} = {array}.reshape({array}.size)")
                stage.lines.append(f"    for k in range({flat}.size):")
                stage.lines.append(f"        {flat}[k] = {self._finished(r, f'{flat}[k]')}")

    def _emit_flat_views(self, body: list) -> None:
        """The merged loop's extent, and each array's view with the merged dimensions as one (collapsible_dims checked
        that these arrays are C-contiguous and that nothing else uses the merged indices)."""
        merged_names = self.index[self.levels:]
        code = [line.split("  # ")[0] for line in body]
        leaked = [line for line in code if any(re.search(rf"\b{name}\b", line) for name in merged_names)]
        if leaked:
            raise AssertionError(f"a merged loop index is used outside an array's subscript: {leaked[0]}")
        lines = self.stage.lines
        lines.append(f"    {self.flat_size} = {' * '.join(f'n{k}' for k in range(self.levels - 1, self.rank))}"
                     "  # the contiguous inner dimensions, one loop")
        for array, (view, rank) in self.flat_views.items():
            kept = "".join(f"{array}.shape[{d}], " for d in range(rank - self.merged))
            lines.append(f"    {view} = {array}.reshape(({kept}{self.flat_size},))")

    def _parts(self, reduction: Node) -> str:
        """The plan buffer of a whole-loop reduction's block partials (one per block)."""
        name = self.writer.names.local(f"parts_{self.writer.names(reduction)}")
        self.stage.parts[name] = reduction
        self.writer.parts_dtype[name] = reduction.dtype
        return name

    def _combine_parts(self, whole, parts) -> None:
        """The block partials of whole-loop reductions, combined pairwise in block order (kernels/reduce.py's
        sum_blocks and combine_blocks: deterministic, and as accurate as NumPy's pairwise sum), then finished and
        stored."""
        lines, ctx = self.stage.lines, self.ctx
        indent = "    "
        if self.stage.chunked:
            lines.append("    if combine:  # after every block range has run")
            indent = "        "
        for r in whole:
            kind = lowering_of(r.op).blocks
            if kind == "sum":
                combined = f"{ctx.helper('reduce', 'sum_blocks')}({parts[id(r)]}, blocks)"
            else:
                combined = f"{ctx.helper('reduce', 'combine_blocks')}({parts[id(r)]}, blocks, {COMBINE_BLOCKS[kind]})"
            value = f"({combined} if blocks else {lowering_of(r.op).initial(r, ctx)})"
            lines.append(f"{indent}{self._store(r, self._finished(r, value))}  # the block partials' "
                         f"{lowering_of(r.op).blocks}")

    def _accumulator_level(self, reduction: Node):
        return accumulator_level(reduction, self.rank, self._reduced_levels(reduction), self.levels)

    def _reduced_levels(self, reduction: Node) -> tuple:
        """The loop levels a reduction reduces: its axes, the merged ones counted as one level (collapsible_dims
        merges only dimensions that a reduction reduces all of or none of)."""
        axes = lowering_of(reduction.op).axes(reduction)
        axes = range(self.rank) if axes is None else axes
        return tuple(sorted({min(a, self.levels - 1) for a in axes}))

    def _partial_level(self, reduction: Node):
        """For a reduction accumulating into its output array whose innermost axes are reduced too: the level at
        which a scalar accumulates those axes (in a register, vectorized) before joining the output element; else
        None."""
        lowering = lowering_of(reduction.op)
        if lowering.output_map is not None or not self.rank:
            return None
        axes = set(self._reduced_levels(reduction))
        level = self.levels
        while level - 1 in axes:
            level -= 1
        return level if level < self.levels else None

    def _accumulator(self, reduction: Node) -> str:
        return "acc_" + self.writer.names(reduction)

    def _finished(self, reduction: Node, value: str) -> str:
        lowering = lowering_of(reduction.op)
        if lowering.finish is None:
            return value
        count = self._count(reduction)
        return lowering.finish(reduction, value, count, self.ctx)

    def _count(self, reduction: Node) -> str:
        axes = lowering_of(reduction.op).axes(reduction)
        axes = range(self.rank) if axes is None else axes
        return " * ".join(f"n{a}" for a in axes) or "1"

    def _output_index(self, reduction: Node) -> tuple:
        lowering = lowering_of(reduction.op)
        if lowering.output_map is not None:
            return lowering.output_map(reduction, self.index, self.stage.array(reduction))
        return kept_index(reduction, self.index)

    def _store(self, reduction: Node, value: str) -> str:
        return f"{self._at(self.stage.array(reduction), self._output_index(reduction))} = {value}"

    def _member_lines(self, member: Node, levels) -> list:
        lowering = lowering_of(member.op)
        writer = self.writer
        values = []
        for producer_index, x in zip(_member_input_indices(member, self.index), member.inputs):
            values.append(None if producer_index is None else self._read(x, producer_index))
        comment = f"  # {writer.comment(member)}"
        if lowering.kind == "reduction":
            value = self.ctx.typed(values[0], member.inputs[0].dtype, member.dtype)
            level = levels[id(member)]
            if level is not None:
                acc = self._accumulator(member)
                return [f"{acc} = {lowering.combine(member, acc, value, self.ctx)}{comment}"]
            target = self._at(self.stage.array(member), self._output_index(member))
            return [f"{target} = {lowering.combine(member, target, value, self.ctx)}{comment}"]
        expr = lowering.expr(member, values, self.ctx, self.index)
        if not (lowering.closed and member.dtype.name in ("float32", "float64", "int64", "bool")):
            expr = self.ctx.cast(expr, member.dtype)
        local = "e_" + writer.names(member)
        self.local_names[id(member)] = local
        lines = [f"{local} = {expr}{comment}"]
        if id(member) in writer.schedule.stored:
            lines.append(f"{self._at(self.stage.array(member), self._guarded(member, self.index))} = {local}")
        return lines

    def _read(self, x: Node, index: tuple) -> str:
        producer, resolved = resolve(x, index)
        if is_scalar_constant(producer):
            return literal(producer.value.reshape(()), producer.dtype)
        local = self.local_names.get(id(producer))
        if local is not None and at_own_element(resolved, self.index, self.loop.space):
            return local
        array = self.stage.array(producer)
        return self._at(array, self._guarded(producer, resolved, array))

    def _guarded(self, node: Node, index: tuple, array: str | None = None) -> tuple:
        """In the guarded variant, unknown dimensions of size 1 at run time are read (and written) at 0."""
        if not self.writer.guards:
            return index
        array = array or self.stage.array(node)
        return tuple(f"({e} if {array}.shape[{j}] != 1 else 0)" if d is None and e != "0" else e
                     for j, (d, e) in enumerate(zip(node.shape, index)))


def accumulator_level(reduction: Node, rank: int, axes: tuple | None = None, levels: int | None = None):
    """The loop level at which a reduction's scalar accumulator starts (reduced axes must be the innermost ones), or
    None when the reduction accumulates into its output array. ``axes`` and ``levels``: the reduced levels and the
    level count of a nest whose inner dimensions run as one loop (the reduction's axes and ``rank`` by default)."""
    lowering = lowering_of(reduction.op)
    if lowering.output_map is not None:
        return None
    if axes is None:
        axes = lowering.axes(reduction)
        axes = tuple(range(rank)) if axes is None else tuple(axes)
    levels = rank if levels is None else levels
    if tuple(axes) == tuple(range(levels - len(axes), levels)):
        return levels - len(axes)
    return None


def kept_index(reduction: Node, index: tuple) -> tuple:
    """Where a reduction without an output map stores the element of loop ``index``: the kept axes' indices (and 0
    for the reduced ones with keepdims)."""
    axes = lowering_of(reduction.op).axes(reduction)
    axes = set(range(len(index)) if axes is None else axes)
    keepdims = getattr(reduction.op, "keepdims", False)
    return tuple("0" if k in axes else index[k] for k in range(len(index)) if keepdims or k not in axes)


def chunkable(loop) -> bool:
    """Whether a loop runs as a chunked stage: ranges of its outermost index may run on several threads at once.

    Its iterations must be independent (fusion never puts a value and a read of it at another index in one loop;
    every reduction must accumulate in a scalar: over the whole loop, into block partials, or over inner axes, into
    one output element per i0), and its work (iterations x loop_cost) must be able to reach chunking.PARALLEL_WORK,
    unknown dimensions counted as 1: a loop over a batch of unknown size stays in a shared stage (fewer compiled
    functions)."""
    rank = len(loop.space)
    if not rank or any(accumulator_level(m, rank) is None for m in loop.members if id(m) in loop.reductions):
        return False
    return int(np.prod([d or 1 for d in loop.space])) * loop_cost(loop) >= chunking.PARALLEL_WORK


def collapsible_dims(loop, schedule: Schedule, guards: bool, blocked: bool) -> int:
    """How many of a loop's innermost dimensions can run as one loop over their product (0: none, or one): those
    that every array the loop reads or writes is indexed by as its own last dimensions, in order, of the same extents,
    or not at all, each such array C-contiguous (computed values, feeds, variables, C-ordered constants and
    reshapes; no other views). A 4-level nest over (N, 32, 14, 14) then runs one vectorizable loop of N * 6272
    instead of LLVM's 14-element inner loops, and compiles as one level. A reduction must reduce all of the merged
    dimensions or none (its output array, indexed by those it keeps, follows the same rule); loops with ops that
    read the index (arange) or reductions that map their output (sum_to), the guarded variant and loops where it
    does not pay (_merge_pays) keep their nest, and a blocked outer index (a chunked loop, a whole-loop reduction)
    keeps its level."""
    rank = len(loop.space)
    if guards or rank < 2 or not _merge_pays(loop.space):
        return 0
    index = loop_index(rank)
    members = {id(m) for m in loop.members}
    accesses = []  # (array node, its index, whether it is read with no view between)
    reduced = []   # the axes of each reduction
    for member in loop.members:
        lowering = lowering_of(member.op)
        if lowering.kind == "reduction":
            if lowering.output_map is not None:
                return 0
            axes = lowering.axes(member)
            reduced.append(set(range(rank) if axes is None else axes))
            blocked = blocked or accumulator_level(member, rank) == 0  # a whole-loop reduction runs in blocks of i0
            accesses.append((member, kept_index(member, index), True))
        elif lowering.kind != "scalar" or lowering.reads_index:
            return 0
        for producer_index, x in zip(_member_input_indices(member, index), member.inputs):
            if producer_index is None:
                continue
            producer, resolved = resolve(x, producer_index)
            if is_scalar_constant(producer) or (
                    id(producer) in members and at_own_element(resolved, index, loop.space)):
                continue
            accesses.append((producer, resolved, producer is x))
        if id(member) in schedule.stored and lowering.kind == "scalar":
            accesses.append((member, index, True))
    for merged in range(rank - int(blocked), 1, -1):
        inner = index[rank - merged:]
        dims = set(range(rank - merged, rank))
        if all(dims <= axes or not dims & axes for axes in reduced) and all(
                _merge_keeps(producer, at, direct, loop.space, inner) for producer, at, direct in accesses):
            return merged
    return 0


_INDEX_NAME = re.compile(r"\bi(\d+)\b")
# Merging pays for inner rows shorter than this (64 float32 are four AVX-512 vectors: longer rows vectorize as they
# are), in loops of at least MERGE_WORK iterations or over a batch of unknown size: each kind of reshaped view costs
# its stage ~0.1 s of compiling, which a few thousand elements never win back.
MERGE_ROWS_BELOW = 64
MERGE_WORK = 1 << 15


def _merge_pays(space: tuple) -> bool:
    short_rows = space[-1] is not None and space[-1] < MERGE_ROWS_BELOW
    return short_rows and (None in space or int(np.prod(space)) >= MERGE_WORK)


def _merge_keeps(node: Node, at: tuple, direct: bool, space: tuple, inner: tuple) -> bool:
    """Whether ``node`` read at ``at`` stays correct when the ``inner`` indices run as one: they are its last
    subscripts, in order, over dimensions of the loop's extents (statically equal; an unknown one only where no view
    lies between the array and its reader, as a slice would), no other subscript uses them, and it is
    C-contiguous; or it uses none of them."""
    def users(entries):
        return {f"i{k}" for entry in entries for k in _INDEX_NAME.findall(entry)} & set(inner)

    if not users(at):
        return True
    merged = len(inner)
    lead = at[:len(at) - merged]
    if tuple(at[len(at) - merged:]) != inner or users(lead):
        return False
    extents = zip(node.shape[len(node.shape) - merged:], space[len(space) - merged:])
    if not all(a == b and (a is not None or direct) for a, b in extents):
        return False
    return known_c_contiguous(node)


def loop_cost(loop) -> int:
    """What one iteration of a fused loop costs, in simple vector operations (lowerings' ``cost``)."""
    return sum(lowering_of(m.op).cost for m in loop.members)


def _member_input_indices(member: Node, index: tuple) -> list:
    from symgraph.backends.numba.fusion import input_indices

    return input_indices(member, index)


def _space_node(member: Node) -> Node:
    return member.inputs[0] if lowering_of(member.op).kind == "reduction" else member


_FIRST_INDEX = re.compile(r"\bi0\b")


def _subscript(index: tuple) -> str:
    return ", ".join(index) if index else "()"


def _short_site(node: Node) -> str:
    site = node.site
    return f"{site.filename.rsplit('/', 1)[-1]}:{site.lineno}"


def source_segments(source: str, nodes) -> list[str]:
    """``ast.get_source_segment(source, node)`` of each node, the source split into lines once: the ast function
    splits the whole source at every call (0.6 s of the lecture CNN's first build, for its kernel modules)."""
    lines = source.splitlines(keepends=True)
    segments = []
    for node in nodes:
        first, last = lines[node.lineno - 1].encode(), lines[node.end_lineno - 1].encode()  # offsets count UTF-8 bytes
        if node.lineno == node.end_lineno:
            segments.append(first[node.col_offset:node.end_col_offset].decode())
        else:
            segments.append(first[node.col_offset:].decode() + "".join(lines[node.lineno:node.end_lineno - 1])
                            + last[:node.end_col_offset].decode())
    return segments


@functools.lru_cache(maxsize=None)
def _helper_module_source(module: str) -> str:
    return inspect.getsource(importlib.import_module(f"{kernel_package.__name__}.{module}"))


@functools.lru_cache(maxsize=None)
def _helper_module_tree(module: str) -> ast.Module:
    """The parsed ``kernels/<module>.py``, shared by the readers below (which never change it)."""
    return ast.parse(_helper_module_source(module))


@functools.lru_cache(maxsize=None)
def _module_imports(module: str) -> tuple:
    """What the top-level imports of the plain-Python ``kernels/<module>.py`` bring: the import statements a module
    copying its helpers needs (NumPy and Numba's aside: every module has those), and the (kernel module, function)
    pairs it imports from ``kernels/``."""
    statements, helpers = [], []
    for statement in _helper_module_tree(module).body:
        if isinstance(statement, ast.ImportFrom) and statement.module.startswith(kernel_package.__name__ + "."):
            helpers += [(statement.module.rsplit(".", 1)[1], alias.name) for alias in statement.names]
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            names = [statement.module] if isinstance(statement, ast.ImportFrom) else [a.name for a in statement.names]
            if not any(n in ("numpy", "numba", "__future__") for n in names):
                statements.append(statement)
    return tuple(source_segments(_helper_module_source(module), statements)), tuple(helpers)


@functools.lru_cache(maxsize=None)
def _function_source(module: str, name: str):
    """The source of function ``name`` of ``kernels/<module>.py`` and the names of the module's functions it calls."""
    source = _helper_module_source(module)
    functions = {f.name: f for f in _helper_module_tree(module).body if isinstance(f, ast.FunctionDef)}
    if name not in functions:
        raise KeyError(f"kernels/{module}.py has no function {name!r}")
    function = functions[name]
    (text,) = source_segments(source, [function])
    calls = sorted({n.id for n in ast.walk(function) if isinstance(n, ast.Name) and n.id in functions and n.id != name})
    return text, tuple(calls)


KERNEL_LOADER = '''_KERNELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels")


def _kernels(stem, digest):
    """The kernel file kernels/<stem>_<digest>.py beside this module's folder: every generated module calling its
    helpers loads the same file, so Numba compiles each once per process and caches it once per machine."""
    module_name = f"symgraph_kernel_{stem}_{digest}"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, os.path.join(_KERNELS, f"{stem}_{digest}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # registered before it runs, as Numba's cache of callers needs
        spec.loader.exec_module(module)
    return module

'''


@dataclass(frozen=True)
class KernelFile:
    """Helper kernels as one file that generated modules load (see KERNEL_LOADER): all of a kernels/ module, or a
    wrapper passing constants with the helpers it calls."""

    stem: str
    source: str
    digest: str

    @property
    def file_name(self) -> str:
        return f"{self.stem}_{self.digest}.py"

    @property
    def module_name(self) -> str:
        return f"symgraph_kernel_{self.stem}_{self.digest}"


def _kernel_source(title: str, functions, inlined=(), nested=(), preamble="") -> tuple[str, str]:
    """A kernel file's source, each function @njit (those named in ``inlined`` inlined into their callers, those in
    ``nested`` without a CPython wrapper) after ``preamble`` (definitions they call), and its digest."""

    def decorator(text):
        name = re.match(r"def (\w+)", text).group(1)
        return INLINED_NJIT if name in inlined else NESTED_NJIT if name in nested else NJIT

    source = (f'"""{title}: loaded by generated modules."""\n\nimport numba\nimport numpy as np\n\n'
              f"FASTMATH = {FASTMATH}\n\n\n" + preamble
              + "\n\n".join(f"@{decorator(text)}\n{text}\n" for text in functions))
    return source, hashlib.sha256(source.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def _intrinsics() -> tuple[str, frozenset]:
    """kernels/intrinsics.py below its docstring (its imports and decorated definitions) and the names it defines."""
    source = _helper_module_source("intrinsics")
    tree = ast.parse(source)
    body = source.splitlines(keepends=True)[tree.body[0].end_lineno:]
    names = frozenset(f.name for f in tree.body if isinstance(f, ast.FunctionDef))
    return "".join(body).strip() + "\n\n\n", names


@functools.lru_cache(maxsize=None)
def kernel_file(module: str, name: str, constants: tuple = ()) -> tuple[str, KernelFile]:
    """Where helper ``name`` of ``kernels/<module>.py`` comes from: its name and kernel file. Without ``constants``
    the file is the whole module, each function @njit, so that the module's helpers share the helpers they call
    (for FLATTENED_MODULES, the helper alone, flattened); with ``constants`` ((parameter, int) pairs), a copy of it
    and of the helpers it calls with those parameters replaced by their values (_specialized), in a file of its
    own."""
    if not constants:
        source = _helper_module_source(module)
        functions = [f for f in _helper_module_tree(module).body if isinstance(f, ast.FunctionDef)]
        if name not in {f.name for f in functions}:
            raise KeyError(f"kernels/{module}.py has no function {name!r}")
        if module in FLATTENED_MODULES:  # flat kernels call none of the others: a file each, compiled if used
            preamble, provided = _intrinsics()
            text, digest = _kernel_source(f"symgraph's helper kernel {name} of kernels/{module}.py, flattened",
                                          [flatten.flattened_function(source, name, provided)], nested=(name,),
                                          preamble=preamble)
            return name, KernelFile(f"{module}_{name}", text, digest)
        texts = source_segments(source, functions)
        text, digest = _kernel_source(f"symgraph's helper kernels of kernels/{module}.py", texts, _inlined(module),
                                      _declared(module, "COMPILED_CALLERS_ONLY"))
        return name, KernelFile(module, text, digest)
    order, pending = [], [name]
    while pending:
        helper = pending.pop(0)
        if helper not in order:
            order.append(helper)
            pending += _function_source(module, helper)[1]
    params = {helper: _parameters(module, helper) for helper in order}
    values = dict(constants)
    unknown = set(values) - set(params[name])
    if unknown:
        raise KeyError(f"kernels/{module}.py: {name} has no parameters {sorted(unknown)}")
    suffix = "".join(f"_{param}{value}" for param, value in constants)
    renamed = {helper: helper + suffix for helper in order if set(params[helper]) & set(values)}
    texts = [_specialized(module, helper, values, renamed, params) for helper in order]
    entry = renamed[name]
    inlined = _inlined(module) + tuple(renamed[h] for h in renamed if h in _inlined(module))
    nested = [renamed.get(h, h) for h in order if h != name]  # the entry's callees: called by compiled code alone
    if compiled_callers_only(module, name):
        nested.append(entry)
    text, digest = _kernel_source(f"symgraph's helper kernel {name} (kernels/{module}.py) for {entry}", texts,
                                  inlined, tuple(nested))
    return entry, KernelFile(entry, text, digest)


def _inlined(module: str) -> tuple:
    """The helpers that ``kernels/<module>.py`` lists in its INLINED: small functions its kernels call, inlined by
    Numba into each caller rather than compiled as functions of their own (each compiled function costs ~0.1 s)."""
    return _declared(module, "INLINED")


def compiled_callers_only(module: str, name: str) -> bool:
    """Whether helper ``name`` of ``kernels/<module>.py`` is called by compiled code alone (the loops, other
    helpers), so compiled without a CPython wrapper: a flattened module's kernels (scalar functions of the loops),
    and those its module lists in COMPILED_CALLERS_ONLY."""
    return module in FLATTENED_MODULES or name in _declared(module, "COMPILED_CALLERS_ONLY")


@functools.lru_cache(maxsize=None)
def _declared(module: str, variable: str) -> tuple:
    """The tuple of names that ``kernels/<module>.py`` assigns to ``variable`` (empty if it assigns none)."""
    for statement in _helper_module_tree(module).body:
        if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and getattr(statement.targets[0], "id", None) == variable):
            return tuple(ast.literal_eval(statement.value))
    return ()


def _is_constant(test) -> bool:
    """Whether an expression is made of constants and operators alone (a branch the specialization decides)."""
    allowed = (ast.Constant, ast.BoolOp, ast.UnaryOp, ast.Compare, ast.BinOp, ast.operator, ast.boolop, ast.unaryop,
               ast.cmpop, ast.expr_context)
    return all(isinstance(n, allowed) for n in ast.walk(test))


def _constant_value(test):
    return eval(compile(ast.Expression(test), "<specialized>", "eval"), {"__builtins__": {}})


def _parameters(module: str, name: str) -> list:
    return [a.arg for a in ast.parse(_function_source(module, name)[0]).body[0].args.args]


def _specialized(module: str, name: str, constants: dict, renamed: dict, params: dict) -> str:
    """The source of helper ``name`` with the parameters in ``constants`` replaced by their values: the function
    (renamed when it had such parameters) no longer takes them, its calls of the other renamed helpers no longer
    pass them, and branches on them are decided. Loops of constant length unroll. Written into the source rather
    than requested with numba.literally, nothing is typed twice: the lecture CNN's pooling kernels compiled in 3.0 s
    with literal requests, 1.0 s this way."""
    function = ast.parse(_function_source(module, name)[0]).body[0]

    class Substitute(ast.NodeTransformer):
        def visit_Name(self, node):
            if isinstance(node.ctx, ast.Load) and node.id in constants:
                return ast.copy_location(ast.Constant(int(constants[node.id])), node)
            return node

        def visit_If(self, node):
            self.generic_visit(node)
            if _is_constant(node.test):
                return (node.body if _constant_value(node.test) else node.orelse) or [ast.Pass()]
            return node

        def visit_IfExp(self, node):
            self.generic_visit(node)
            if _is_constant(node.test):
                return node.body if _constant_value(node.test) else node.orelse
            return node

        def visit_Call(self, node):
            self.generic_visit(node)
            callee = node.func.id if isinstance(node.func, ast.Name) else None
            if callee in renamed:
                node.func = ast.copy_location(ast.Name(renamed[callee], ast.Load()), node.func)
                node.args = [a for a, p in zip(node.args, params[callee]) if p not in constants]
            return node

    function.args.args = [a for a in function.args.args if a.arg not in constants]
    function.name = renamed.get(name, name)
    return ast.unparse(ast.fix_missing_locations(Substitute().visit(function)))


@functools.lru_cache(maxsize=None)
def _chunking_source() -> str:
    """chunking.py below its imports: blocking and the thread pool of chunked stages."""
    source = inspect.getsource(chunking)
    return source[source.index("\n\n", source.index("import threading")):].strip()


@functools.lru_cache(maxsize=None)
def _python_helpers() -> str:
    """The plan's shape rules (kernels/shapes.py), renamed with a leading underscore."""
    source = _helper_module_source("shapes")
    tree = ast.parse(source)
    pieces = source_segments(source, [f for f in tree.body if isinstance(f, ast.FunctionDef)])
    text = "\n\n\n".join(pieces)
    for function in tree.body:
        if isinstance(function, ast.FunctionDef):
            text = re.sub(rf"\b{function.name}\(", f"_{function.name}(", text)
    return text + "\n\n\ndef _size(shape):\n    size = 1\n    for d in shape:\n        size *= d\n    return size"
