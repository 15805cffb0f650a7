"""The graph IR: ops, nodes, the three kinds of leaf, creation sites and the topological schedule.

A node is immutable: its op, its ordered input nodes, its static shape (``None`` for a dimension known only at run
time) and its dtype are fixed when it is built. Equality is identity; ``structural_key`` gives the (op, inputs) key
that the merge pass uses. Concrete ops live in ``symgraph.ops``; this module only defines what an op must provide.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import inspect
import itertools
import os
import sys
import threading
import weakref
from dataclasses import dataclass
from typing import ClassVar, NamedTuple, Sequence

import numpy as np

from symgraph import dtypes
from symgraph.errors import DTypeError, FeedError, ShapeError, SymgraphError

Shape = tuple  # of int or None
MAX_DIM = int(np.iinfo(np.intp).max)  # the largest size an array dimension can have

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# The command line (symgraph/cli) is a program written with symgraph, not part of the library: the nodes its models
# build record its lines, as a user's script's nodes record the script's.
_PROGRAM_DIR = os.path.join(_PACKAGE_DIR, "cli") + os.sep


class Site(NamedTuple):
    """Where user code created a node: the first stack frame outside the symgraph library (symgraph/cli is a
    program, so its frames count as user code)."""

    filename: str
    lineno: int

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}"


_site_override: contextvars.ContextVar = contextvars.ContextVar("site_override", default=None)
_provenance_override: contextvars.ContextVar = contextvars.ContextVar("provenance_override", default=None)


@contextlib.contextmanager
def attributed_to(node: "Node"):
    """Nodes built inside this block record ``node``'s creation site and gradient provenance: a rewrite's new nodes
    keep the user line and the provenance of the node they replace."""
    site_token = _site_override.set(node.site)
    provenance_token = _provenance_override.set(provenance(node))
    try:
        yield
    finally:
        _provenance_override.reset(provenance_token)
        _site_override.reset(site_token)


def user_site() -> Site:
    override = _site_override.get()
    if override is not None:
        return override
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR) \
            and not frame.f_code.co_filename.startswith(_PROGRAM_DIR):
        frame = frame.f_back
    if frame is None:
        return Site("<unknown>", 0)
    return Site(frame.f_code.co_filename, frame.f_lineno)


class Op:
    """What every op provides. Concrete ops are frozen dataclasses, so equality and hashing come from attributes.

    - ``name``: the public builder's name (``"sigmoid"``, ``"matmul"``).
    - ``infer(*inputs)``: the output's static (shape, dtype), raising ShapeError/DTypeError for bad inputs.
    - ``compute(*values)``: the NumPy reference implementation.
    - ``grad(node, output_grad)``: one gradient node (or None: no gradient flows) per input, built from ops.
      Ops with ``broadcasts = True`` may return gradients in the output's broadcast shape: the differentiator sums
      them back to each input's shape. All other ops return gradients of exactly their inputs' shapes.
    - ``flops(node, input_shapes, output_shape)``: the cost rule of ``sg.stats``, for concrete shapes (tuples of ints);
      None when the cost is unknown (a custom op without a FLOP rule), which sg.stats reports instead of counting.
    - ``collective = True``: computing it takes every process of a communicator (symgraph.ops.collective); passes
      never fold it and compiled backends run it between compiled segments.
    """

    name: ClassVar[str]
    broadcasts: ClassVar[bool] = False
    collective: ClassVar[bool] = False

    def infer(self, *inputs: "Node") -> tuple[Shape, np.dtype]:
        raise TypeError(f"{type(self).__name__} does not infer shapes")

    def compute(self, *values: np.ndarray) -> np.ndarray:
        raise TypeError(f"{type(self).__name__} has no reference implementation")

    def grad(self, node: "Node", output_grad: "Node") -> Sequence["Node | None"]:
        raise TypeError(f"{type(self).__name__} has no gradient rule")

    def flops(self, node: "Node", input_shapes: Sequence[tuple], output_shape: tuple) -> int | None:
        """The floating-point operations computing ``node`` takes when its inputs and output have these shapes
        (a multiply-add counts 2; the conventions are in symgraph/printing/stats.py)."""
        raise TypeError(f"{type(self).__name__} has no cost rule")

    def broadcast_peers(self, node: "Node", position: int) -> list:
        """For broadcasting ops: the shapes input ``position`` was broadcast against (by default the other inputs')."""
        return [other.shape for k, other in enumerate(node.inputs) if k != position]

    def attributes(self) -> dict:
        """The op's declared attributes (the dataclass fields), for printing and code generation."""
        if not dataclasses.is_dataclass(self):
            return {}
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    def __str__(self) -> str:
        attrs = ", ".join(f"{k}={v!r}" for k, v in self.attributes().items())
        return f"{self.name}{{{attrs}}}" if attrs else self.name


class StandIn:
    """A dtype with a shape, standing for a node to rerun an op's ``infer`` with other input shapes (``infer`` reads
    only shape, dtype and ndim): sg.stats resolves unknown sizes with it, op_from_graph infers its outputs."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple, dtype):
        self.shape, self.dtype = shape, dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass(frozen=True)
class Leaf(Op):
    """The op of a leaf node: a constant, variable or placeholder. Leaves have no inputs and no rules."""

    kind: str

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.kind

    def flops(self, node, input_shapes, output_shape) -> int:
        return 0  # a leaf's value is given, not computed

    def __str__(self) -> str:
        return self.kind


CONSTANT, VARIABLE, PLACEHOLDER = Leaf("constant"), Leaf("variable"), Leaf("placeholder")


class Provenance(NamedTuple):
    """How a reverse pass (sg.grad, vjp, jvp, hessian, ...) built a gradient node.

    The node computes, or contributes to, the adjoint d ``output`` / d ``wrt``; ``through`` is the forward node whose
    gradient rule built it, or None for the sum of the contributions of several consumers (and for the zeros of a
    disconnected input). Rewrites keep it: a node built to replace a gradient node records the replaced node's.
    """

    output: "Node"
    wrt: "Node"
    through: "Node | None"

    def __str__(self) -> str:
        return self.text(str)

    def text(self, site_text) -> str:
        """The description ``str`` gives, with the forward node's site written by ``site_text`` (printers shorten
        the path)."""
        adjoint = f"d {_label(self.output)} / d {_label(self.wrt)}"
        if self.through is None:
            return f"{adjoint} (sum of its contributions)"
        through = self.through.op.name + (f" {self.through.name!r}" if self.through.name else "")
        return f"{adjoint} through {through} at {site_text(self.through.site)}"


def _label(node: "Node") -> str:
    """A node as an adjoint's text names it: its name, else its op."""
    return node.name or node.op.name


_provenance: "weakref.WeakKeyDictionary[Node, Provenance]" = weakref.WeakKeyDictionary()


def provenance(node: "Node") -> Provenance | None:
    """The provenance of a node that a reverse pass built (or that replaced one in a rewrite); None for forward
    nodes."""
    return _provenance.get(node)


def record_provenance(node: "Node", origin: Provenance) -> None:
    """Record how a gradient node was built; a node keeps the first provenance recorded for it."""
    if node not in _provenance:
        _provenance[node] = origin


def inherit_provenance(new: "Node", old: "Node") -> None:
    """A rewrite replaced ``old`` with ``new``, which it built: ``new`` keeps the provenance ``old`` had (if any)."""
    origin = _provenance.get(old)
    if origin is not None and new is not old:
        record_provenance(new, origin)


class Node:
    """One value in a graph. Build nodes with ``sg.constant``, ``sg.variable``, ``sg.placeholder`` or an op."""

    __slots__ = ("op", "inputs", "shape", "dtype", "name", "site", "implied_updates", "__weakref__")

    def __init__(self, op: Op, inputs: tuple, shape: Shape, dtype: np.dtype, name: str | None, site: Site,
                 implied_updates: tuple = ()):
        set_ = object.__setattr__
        set_(self, "op", op)
        set_(self, "inputs", inputs)
        set_(self, "shape", shape)
        set_(self, "dtype", dtype)
        set_(self, "name", name)
        set_(self, "site", site)
        # (variable, node) pairs that every compiled function computing this node applies after each call:
        # a random op advances its stream, a training-mode batch_norm updates its running statistics.
        set_(self, "implied_updates", implied_updates)
        inherited = _provenance_override.get()
        if inherited is not None:
            _provenance[self] = inherited

    def __setattr__(self, key, value):
        raise AttributeError(f"nodes are immutable: cannot set {key!r} on {self.describe()}")

    # -- description ----------------------------------------------------------------------------------------------
    @property
    def provenance(self) -> Provenance | None:
        """How a reverse pass built this node (``sg.grad``'s nodes), or None for a forward node."""
        return _provenance.get(self)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def structural_key(self) -> tuple:
        """(op, input identities, implied updates): op nodes with equal keys compute the same value."""
        updates = tuple((id(v), id(e)) for v, e in self.implied_updates)
        return (self.op, tuple(id(i) for i in self.inputs), updates)

    def describe(self) -> str:
        """A one-line description used in error messages: op, name, shape, dtype and creation site."""
        label = f"{self.op.name} node" + (f" {self.name!r}" if self.name else "")
        return f"{label} (shape {format_shape(self.shape)}, {self.dtype.name}) created at {self.site}"

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<{self.op.name}{name} shape={format_shape(self.shape)} dtype={self.dtype.name} at {self.site}>"

    def __bool__(self):
        raise TypeError(
            f"the truth value of a symbolic node is unknown until it is evaluated ({self.describe()}); "
            "use sg.where for data-dependent choices"
        )

    def __iter__(self):
        raise TypeError(f"a symbolic node is not iterable ({self.describe()}); index it instead")

    def __len__(self):
        if not self.shape or self.shape[0] is None:
            raise TypeError(f"len() of a node needs a known first dimension ({self.describe()})")
        return self.shape[0]

    # `ndarray + node` calls Node.__radd__: Node defines no __array_ufunc__, so NumPy's binary operators defer to
    # the higher __array_priority__. NumPy functions (np.exp, np.asarray, np.add, np.sum) get a node no value.
    __array_priority__ = 1000

    def __array__(self, dtype=None, copy=None):
        raise TypeError(_no_value_message(self, "NumPy cannot convert it to an array", "sg.exp, sg.sum, ..."))

    def __array_function__(self, func, types, args, kwargs):
        name = getattr(func, "__name__", "this function")
        suggestion = f"sg.{name}" if hasattr(_symgraph(), name) else "the symgraph ops"
        raise TypeError(_no_value_message(self, f"np.{name} cannot take it", suggestion))

    # -- copying and pickling: a node's identity is its meaning ------------------------------------------------------
    def __copy__(self):
        return self  # nodes are immutable, so a copy would be indistinguishable from the node but not equal to it

    def __deepcopy__(self, memo):
        return self

    def __reduce_ex__(self, protocol):
        raise TypeError(f"cannot pickle {self.describe()}: symgraph graphs are not picklable; save graphs with "
                        "sg.save(path, outputs), variables with sg.save_variables(path, variables) (or one value with "
                        "np.save(path, variable.value))")

    # -- evaluation -----------------------------------------------------------------------------------------------
    def eval(self, feed_dict=None) -> np.ndarray:
        """Evaluate this node with the NumPy reference backend."""
        from symgraph.backends.numpy import evaluate_for

        return evaluate_for(self, feed_dict, "node.eval")

    # -- operators (NumPy-like); == and != stay identity, as in Theano and TF1: use sg.equal / sg.not_equal --------
    def __add__(self, other): return _ops().add(self, other)
    def __radd__(self, other): return _ops().add(other, self)
    def __sub__(self, other): return _ops().sub(self, other)
    def __rsub__(self, other): return _ops().sub(other, self)
    def __mul__(self, other): return _ops().mul(self, other)
    def __rmul__(self, other): return _ops().mul(other, self)
    def __truediv__(self, other): return _ops().div(self, other)
    def __rtruediv__(self, other): return _ops().div(other, self)
    def __pow__(self, other): return _ops().pow(self, other)
    def __rpow__(self, other): return _ops().pow(other, self)
    def __matmul__(self, other): return _ops().matmul(self, other)
    def __rmatmul__(self, other): return _ops().matmul(other, self)
    def __neg__(self): return _ops().neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ops().abs(self)
    def __lt__(self, other): return _ops().less(self, other)
    def __le__(self, other): return _ops().less_equal(self, other)
    def __gt__(self, other): return _ops().greater(self, other)
    def __ge__(self, other): return _ops().greater_equal(self, other)
    __hash__ = object.__hash__
    def __getitem__(self, key): return _ops().index(self, key)

    @property
    def T(self): return _ops().transpose(self)

    def sum(self, axis=None, keepdims=False): return _ops().sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return _ops().mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return _ops().max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return _ops().min(self, axis, keepdims)
    def prod(self, axis=None, keepdims=False): return _ops().prod(self, axis, keepdims)
    def argmax(self, axis=None, keepdims=False): return _ops().argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return _ops().argmin(self, axis, keepdims)
    def transpose(self, *axes): return _ops().transpose(self, _varargs(axes))
    def astype(self, dtype): return _ops().cast(self, dtype)
    def clip(self, lo=None, hi=None): return _ops().clip(self, lo, hi)

    def reshape(self, *shape):
        return _ops().reshape(self, _varargs(shape))

    # shape, indexing and creation (issue 15)
    def flatten(self): return _ops().flatten(self)
    def ravel(self): return _ops().flatten(self)
    def squeeze(self, axis=None): return _ops().squeeze(self, axis)
    def swapaxes(self, axis1, axis2): return _ops().swapaxes(self, axis1, axis2)
    def repeat(self, repeats, axis=None): return _ops().repeat(self, repeats, axis)
    def diagonal(self, offset=0, axis1=0, axis2=1): return _ops().diagonal(self, offset, axis1, axis2)
    def trace(self, offset=0, axis1=0, axis2=1): return _ops().trace(self, offset, axis1, axis2)
    # reductions and products (issue 15)
    def var(self, axis=None, ddof=0, keepdims=False): return _ops().var(self, axis, ddof, keepdims)
    def std(self, axis=None, ddof=0, keepdims=False): return _ops().std(self, axis, ddof, keepdims)
    def all(self, axis=None, keepdims=False): return _ops().all(self, axis, keepdims)
    def any(self, axis=None, keepdims=False): return _ops().any(self, axis, keepdims)
    def cumsum(self, axis=None): return _ops().cumsum(self, axis)
    def cumprod(self, axis=None): return _ops().cumprod(self, axis)


def _no_value_message(node: Node, problem: str, suggestion: str) -> str:
    return (f"a symbolic node has no value until it is evaluated, so {problem} ({node.describe()}; used at "
            f"{user_site()}); use {suggestion} (the symgraph ops) or evaluate the node first with node.eval(feeds)")


def _symgraph():
    import symgraph

    return symgraph


def _varargs(args):
    """NumPy's methods take ``reshape(2, 3)`` and ``reshape((2, 3))`` alike."""
    if len(args) == 1 and (args[0] is None or isinstance(args[0], (tuple, list))):
        return args[0]
    return args if args else None


def _ops():
    import symgraph.ops

    return symgraph.ops


class Constant(Node):
    """An immutable value, stored read-only."""

    __slots__ = ("value",)

    def __init__(self, value: np.ndarray, name, site):
        super().__init__(CONSTANT, (), value.shape, value.dtype, name, site)
        object.__setattr__(self, "value", value)


_variable_serials = itertools.count()


class Variable(Node):
    """Named state with a current value, read by graphs and changed by ``assign`` or a compiled function's updates.

    ``lock`` (reentrant) is held by every change of the value: an ``assign``, and a compiled call with updates of
    this variable for its whole read-compute-assign step. ``serial`` (creation order) is the order in which a call
    takes the locks of several variables, so that calls never deadlock.
    """

    __slots__ = ("_value", "trainable", "lock", "serial")

    def __init__(self, value: np.ndarray, name, site, trainable: bool):
        super().__init__(VARIABLE, (), value.shape, value.dtype, name, site)
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "trainable", trainable)
        object.__setattr__(self, "lock", threading.RLock())
        object.__setattr__(self, "serial", next(_variable_serials))

    @property
    def value(self) -> np.ndarray:
        """The current value (read-only; change it with ``assign``)."""
        return self._value

    def assign(self, value) -> None:
        """Set the value. The shape must match and the dtype must convert without loss (the feed rule)."""
        array = self.checked_value(value)
        with self.lock:
            self.store(array, owned=False)

    def checked_value(self, value, what=None) -> np.ndarray:
        """``value`` as this variable would hold it: converted by the feed rule and of the variable's shape.

        ``what`` (a function making a string) names the value in errors; by default, an assignment."""
        what = what or (lambda: f"assign to {self.describe()}")
        if isinstance(value, Node):
            raise TypeError(f"{what()}: takes a value, not a node ({value.describe()}); evaluate the node, or make "
                            "it an update of sg.function")
        array = dtypes.convert_exactly(value, self.dtype, what)
        if array.shape != self.shape:
            raise ShapeError(f"{what()}: expected shape {format_shape(self.shape)}, got {array.shape}")
        return array

    def store(self, array: np.ndarray, owned: bool) -> None:
        """Set a value that ``checked_value`` returned (the caller holds ``lock``). ``owned``: nobody else holds
        ``array`` (a compiled call's fresh result), so it is frozen in place instead of copied."""
        if owned and array.flags.c_contiguous and array.flags.owndata:
            array.flags.writeable = False
        else:
            array = _frozen_copy(array)
        object.__setattr__(self, "_value", array)

    def __copy__(self):
        raise TypeError(f"cannot copy {self.describe()}: a variable is state shared by every graph that reads it; "
                        "make a new one with sg.variable(v.value, name=...)")

    def __deepcopy__(self, memo):
        return self.__copy__()


class Placeholder(Node):
    """A value fed at call time. ``None`` dimensions accept any size."""

    __slots__ = ()

    def __init__(self, shape: Shape, dtype: np.dtype, name, site):
        super().__init__(PLACEHOLDER, (), shape, dtype, name, site)

    def checked_value(self, value) -> np.ndarray:
        """``value`` as a feed of this placeholder: converted by the feed rule, its shape matching the known dims."""
        if isinstance(value, Node):
            raise FeedError(f"{self.describe()} is fed a node ({value.describe()}); feed an array")
        array = dtypes.convert_exactly(value, self.dtype, lambda: f"feed for {self.describe()}")
        expected = self.shape
        if array.ndim != len(expected) or any(e is not None and e != g for e, g in zip(expected, array.shape)):
            raise ShapeError(f"feed for {self.describe()}: expected shape {format_shape(expected)}, got {array.shape}")
        return array


def _frozen_copy(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True, order="C")
    array.flags.writeable = False
    return array


def _leaf_array(value, dtype, what: str) -> np.ndarray:
    if isinstance(value, Node):
        raise TypeError(f"{what} takes a value, not a node ({value.describe()})")
    try:
        target = dtypes.as_dtype(dtype) if dtype is not None else dtypes.infer_array_dtype(value)
    except DTypeError as error:
        raise DTypeError(f"{what}: {error}") from None
    if isinstance(value, (np.ndarray, np.generic)) and dtype is not None:
        return _frozen_copy(np.asarray(value).astype(target))  # an explicit dtype on an array is an explicit cast
    return _frozen_copy(dtypes.convert_exactly(value, target, what))


def constant(value, dtype=None, name: str | None = None) -> Constant:
    """An immutable value. Python floats become float32, Python ints int64; NumPy arrays keep their dtype."""
    site = user_site()
    check_name(name, "sg.constant", site)
    return Constant(_leaf_array(value, dtype, _leaf_what("sg.constant", name, site)), name, site)


def variable(value, dtype=None, name: str | None = None, trainable: bool = True) -> Variable:
    """Named state (like a Theano shared variable or a TF1 tf.Variable) with an initial value."""
    site = user_site()
    check_name(name, "sg.variable", site)
    if not isinstance(trainable, (bool, np.bool_)):
        raise TypeError(f"{_leaf_what('sg.variable', name, site)}: trainable must be True or False, "
                        f"got {type(trainable).__name__} {trainable!r:.40}")
    return Variable(_leaf_array(value, dtype, _leaf_what("sg.variable", name, site)), name, site, bool(trainable))


def placeholder(shape, dtype="float32", name: str | None = None) -> Placeholder:
    """A value fed at call time; ``None`` in ``shape`` means any size, but the rank must be given."""
    site = user_site()
    check_name(name, "sg.placeholder", site)
    if shape is None:
        raise ShapeError(f"{_leaf_what('sg.placeholder', name, site)}: shape None is not allowed: symgraph needs "
                         "the rank of every node; use () for a scalar, (None,) for a vector and (None, None) for a "
                         "matrix of any size")
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise ShapeError(f"{_leaf_what('sg.placeholder', name, site)}: shape must be a tuple of non-negative ints "
                         f"or None, got {type(shape).__name__} {shape!r:.40}")
    dims = []
    for dim in shape:
        if dim is not None and (not isinstance(dim, (int, np.integer)) or isinstance(dim, (bool, np.bool_))
                                or not 0 <= dim <= MAX_DIM):
            raise ShapeError(f"{_leaf_what('sg.placeholder', name, site)}: dimensions must be non-negative ints "
                             f"(at most {MAX_DIM}, the largest size an array can have) or None, got {shape!r:.80}")
        dims.append(None if dim is None else int(dim))
    try:
        dtype = dtypes.as_dtype(dtype)
    except DTypeError as error:
        raise DTypeError(f"{_leaf_what('sg.placeholder', name, site)}: {error}") from None
    return Placeholder(tuple(dims), dtype, name, site)


def check_name(name, builder_name: str, site: Site | None = None) -> None:
    """A node's name is a str or None; anything else (a number, an array, a node) raises TypeError naming the
    builder and the user's line."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{builder_name}: name must be a str or None, got {type(name).__name__} {name!r:.60}\n"
                        f"  at {site or user_site()}")


def _leaf_what(builder_name: str, name, site: Site) -> str:
    return f"{builder_name}" + (f" {name!r}" if name else "") + f" at {site}"


def format_shape(shape: Shape) -> str:
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"


# -- building op nodes --------------------------------------------------------------------------------------------

def as_node(value, peers: Sequence = ()) -> Node:
    """Turn a Python or NumPy value into a constant; Python scalars are weak (they take their peers' dtype)."""
    if isinstance(value, Node):
        return value
    if dtypes.is_python_scalar(value):
        peer_dtypes = [p.dtype for p in peers if isinstance(p, Node)]
        dtype = dtypes.weak_scalar_dtype(value, peer_dtypes)
        return Constant(_frozen_copy(np.asarray(value, dtype=dtype)), None, user_site())
    return Constant(_leaf_array(value, None, "a constant operand"), None, user_site())


def as_nodes(*values) -> list[Node]:
    """Convert several operands of one op together, so that weak scalars see the other operands."""
    return [as_node(v, values) for v in values]


def apply(op: Op, *inputs: Node, name: str | None = None, implied_updates: tuple = ()) -> Node:
    """Build the node ``op(*inputs)``, inferring its shape and dtype; bad inputs raise naming the user's line."""
    check_name(name, op.name)
    try:
        shape, dtype = op.infer(*inputs)
        _check_dims(shape)
    except SymgraphError as error:
        raise _with_context(error, op.name, inputs) from None
    return Node(op, tuple(inputs), tuple(shape), np.dtype(dtype), name, user_site(), tuple(implied_updates))


def _check_dims(shape) -> None:
    too_large = [d for d in shape if d is not None and d > MAX_DIM]
    if too_large:
        raise ShapeError(f"the result would have shape {format_shape(tuple(shape)):.120}, but an array dimension "
                         f"holds at most {MAX_DIM} elements")


def builder(function):
    """Decorate a public builder so that errors raised while checking its arguments name it and the call site.

    Its ``name`` argument (when it has one) must be a str or None. An error that an inner builder raised (a composite
    such as ``mse`` builds ``sub``, ``square`` and ``mean``) is prefixed with this builder's name, so the message
    names the function the user called as well as the op that refused.
    """
    parameters = inspect.signature(function).parameters
    has_name = "name" in parameters
    # where a positional argument may pass the name (not after *args, where it is keyword-only)
    name_position = list(parameters).index("name") if has_name and parameters["name"].kind is \
        inspect.Parameter.POSITIONAL_OR_KEYWORD else None

    @functools.wraps(function)
    def build(*args, **kwargs):
        if has_name:
            name = kwargs["name"] if "name" in kwargs else (
                args[name_position] if name_position is not None and len(args) > name_position else None)
            check_name(name, function.__name__)
        try:
            return function(*args, **kwargs)
        except SymgraphError as error:
            if getattr(error, "has_context", False):
                if str(error).startswith(f"{function.__name__}:"):
                    raise
                prefixed = type(error)(f"{function.__name__}: {error}")
                prefixed.has_context = True
                raise prefixed from None
            operands = [a for a in args if isinstance(a, Node)]
            operands += [n for a in args if isinstance(a, (list, tuple)) for n in a if isinstance(n, Node)]
            raise _with_context(error, function.__name__, operands) from None

    return build


def _with_context(error: SymgraphError, op_name: str, inputs) -> SymgraphError:
    lines = [f"{op_name}: {error}"]
    if inputs:
        lines.append("  inputs: " + ", ".join(f"{format_shape(i.shape)} {i.dtype.name}" for i in inputs))
    for position, node in enumerate(inputs):
        lines.append(f"  input {position}: {node.describe()}")
    lines.append(f"  at {user_site()}")
    contextual = type(error)("\n".join(lines))
    contextual.has_context = True
    return contextual


# -- traversal ----------------------------------------------------------------------------------------------------

def toposort(outputs: Sequence[Node]) -> list[Node]:
    """Every node the outputs (a node or a list) depend on, each once, inputs before consumers (iterative DFS,
    deterministic)."""
    return schedule(_output_list(outputs, "sg.toposort"))


def toposort_beyond(outputs: Sequence[Node], known) -> list[Node]:
    """Like ``toposort``, for a list of nodes, without the nodes whose ids are in ``known`` (a set or a mapping, such
    as values already computed): they are neither listed nor looked into."""
    return schedule(outputs, known=known)


def schedule(roots: Sequence[Node], dependencies=None, known=frozenset()) -> list[Node]:
    """Every node reachable from ``roots`` through ``dependencies(node)`` (by default its inputs), each once, after
    the nodes it depends on (iterative DFS, deterministic), leaving out the nodes whose ids are in ``known`` (and what
    only they lead to). A node depending on itself raises ValueError (inputs cannot: nodes are immutable)."""
    order: list[Node] = []
    done: set[int] = set()
    for root in roots:
        if id(root) in done or id(root) in known:
            continue
        stack = [(root, iter(root.inputs if dependencies is None else dependencies(root)))]
        visiting = {id(root)}
        while stack:
            node, pending = stack[-1]
            for child in pending:
                if id(child) in visiting:
                    raise ValueError(f"{child.describe()} depends on itself")
                if id(child) not in done and id(child) not in known:
                    visiting.add(id(child))
                    stack.append((child, iter(child.inputs if dependencies is None else dependencies(child))))
                    break
            else:
                stack.pop()
                visiting.discard(id(node))
                done.add(id(node))
                order.append(node)
    return order


def trainable_variables(outputs) -> list["Variable"]:
    """The trainable variables that ``outputs`` (a node or a list) depend on, in schedule order."""
    outputs = _output_list(outputs, "sg.trainable_variables")
    return [n for n in toposort(outputs) if isinstance(n, Variable) and n.trainable]


def _output_list(outputs, caller: str) -> list[Node]:
    """A node or a list (or tuple) of nodes, as a list; TypeError naming ``caller`` otherwise."""
    if isinstance(outputs, Node):
        return [outputs]
    if not isinstance(outputs, (list, tuple)):
        raise TypeError(f"{caller} takes a node or a list of nodes, got {type(outputs).__name__} {outputs!r:.60}\n"
                        f"  at {user_site()}")
    for position, node in enumerate(outputs):
        if not isinstance(node, Node):
            raise TypeError(f"{caller} takes a node or a list of nodes, but item {position} is "
                            f"{type(node).__name__} {node!r:.60}\n  at {user_site()}")
    return list(outputs)


def reinferred_shapes(order: Sequence[Node], given: dict, refused) -> dict[int, tuple]:
    """Every node's shape (by id) in ``order`` when the leaves in ``given`` (id -> shape) have those shapes: each
    op's ``infer`` rerun (on stand-ins) where an input's shape differs from its static one, the static shape kept
    otherwise. When an op refuses, ``refused(node, input_shapes, error)`` makes the error raised."""
    shapes: dict[int, tuple] = {}
    for node in order:
        if not node.inputs:
            shapes[id(node)] = given.get(id(node), node.shape)
            continue
        input_shapes = [shapes[id(i)] for i in node.inputs]
        if all(shape == i.shape for shape, i in zip(input_shapes, node.inputs)):
            shapes[id(node)] = node.shape
            continue
        try:
            shape, _ = node.op.infer(*(StandIn(shape, i.dtype) for shape, i in zip(input_shapes, node.inputs)))
        except SymgraphError as error:
            raise refused(node, input_shapes, error) from None
        shapes[id(node)] = tuple(None if d is None else int(d) for d in shape)
    return shapes


def consumers(order: Sequence[Node]) -> dict[int, list[Node]]:
    """For each node id in ``order``, the nodes of ``order`` that take it as an input (in order, repeats kept)."""
    users: dict[int, list[Node]] = {id(n): [] for n in order}
    for node in order:
        for child in node.inputs:
            users[id(child)].append(node)
    return users
