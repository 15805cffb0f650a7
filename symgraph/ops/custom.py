"""User-defined ops: ``sg.custom_op`` (an op from a NumPy function and rules of your own) and ``sg.op_from_graph``
(a subgraph packaged as one op, Theano's OpFromGraph), with the inlining that expands the latter before a backend runs.

A custom op is a definition (``CustomOpDefinition``, what ``sg.custom_op`` returns) applied to nodes; each node's op
is a ``CustomOp`` holding the definition and the keyword attributes of that application. Two nodes of one definition
with equal attributes and inputs compute the same value, so the merge pass merges them; definitions are compared by
identity (two ``sg.custom_op`` calls make two ops, even from the same function). Its rules are called as

- ``compute(*arrays, **attributes)``: the NumPy function, the op's reference (the NumPy backend runs it);
- ``shape(*input_shapes, **attributes)``: the output's shape (tuples, None for sizes known only at run time); by
  default the inputs' broadcast shape for elementwise ops, else the first input's;
- ``dtype(*input_dtypes, **attributes)``: the output's dtype; by default NumPy's promotion of the inputs' dtypes;
- ``grad(inputs, output, output_grad, **attributes)``: one gradient node (or None: no gradient flows) per input,
  built from symgraph ops, so the gradient is a graph (differentiable again where its ops are);
- ``numba``: the Numba lowering, optional (``symgraph/backends/numba/lowering/custom.py``);
- ``flops``: FLOPs per output element (an int), or ``flops(input_shapes, output_shape, **attributes)``; by default
  1 per output element for elementwise ops (the convention of every elementwise op) and unknown otherwise.

An op from a graph (``OpFromGraph``, its nodes' op a ``GraphOp``) computes its outputs from placeholders standing
for its inputs; the variables the subgraph reads are implicit inputs of its nodes (as in Theano), so gradients reach
them. ``inline_graph_ops`` replaces every such node by a copy of its subgraph: the optimizer's ``inline`` pass and
every backend do it, so backends never see one.
"""

from __future__ import annotations

import keyword
import math
import threading
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from symgraph import dtypes
from symgraph.errors import DTypeError, GradientError, ShapeError, SymgraphError
from symgraph.graph import (
    MAX_DIM, Node, Op, Placeholder, Variable, _with_context, apply, as_node, as_nodes, format_shape,
    inherit_provenance, reinferred_shapes, toposort, user_site,
)
from symgraph.ops.base import broadcast_shapes
from symgraph.ops.source import SourceError, copy_source, digest, site_of


# -- names ----------------------------------------------------------------------------------------------------------

def builtin_op_names() -> set[str]:
    """The names of symgraph's own ops and leaves: rewrite rules match ops by name, so a user's op takes another."""
    names = {"constant", "variable", "placeholder", "stand_in"}
    pending = [Op]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        name = cls.__dict__.get("name")
        if isinstance(name, str):
            names.add(name)
    return names


def _checked_op_name(name, caller: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{caller}: name must be a str (a Python identifier), got {type(name).__name__} "
                        f"{name!r:.60}\n  at {user_site()}")
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"{caller}: name {name!r:.60} is not a Python identifier: generated code names values "
                         f"after their op, so an op's name must be one (e.g. 'my_swish')\n  at {user_site()}")
    if name in builtin_op_names():
        raise ValueError(f"{caller}: name {name!r} is the name of a symgraph op; the optimizer's rules recognise ops "
                         f"by name, so choose another (e.g. 'my_{name}')\n  at {user_site()}")
    return name


def _checked_rule(rule, what: str, caller: str):
    if rule is not None and not callable(rule):
        raise TypeError(f"{caller}: {what} must be a function or None, got {type(rule).__name__} {rule!r:.60}\n"
                        f"  at {user_site()}")
    return rule


# -- custom_op ------------------------------------------------------------------------------------------------------

class CustomOpDefinition:
    """A user-defined op, as ``sg.custom_op`` returns it: ``op(*inputs, name=None, **attributes)`` builds a node.

    ``digests`` hashes each of its functions (source, or bytecode without one): compiled code is keyed by them.
    """

    def __init__(self, compute, name, shape, dtype, grad, numba, flops, elementwise, site):
        self.compute = compute
        self.name = name
        self.shape_rule = shape
        self.dtype_rule = dtype
        self.grad_rule = grad
        self.numba = numba
        self.flops_rule = flops
        self.elementwise = elementwise
        self.site = site
        self.numba_source = None  # (preamble lines, function definitions) copied into generated code
        if numba is not None:
            try:
                self.numba_source = copy_source(numba, self.kernel_name())
            except SourceError as error:
                raise TypeError(f"sg.custom_op {name!r}: its Numba lowering ({site_of(numba)}) cannot be copied "
                                f"into generated code: {error}\n  at {site}") from None
        functions = {"compute": compute, "shape": shape, "dtype": dtype, "grad": grad, "numba": numba,
                     "flops": flops if callable(flops) else None}
        self.digests = {role: digest(f) for role, f in functions.items() if f is not None}

    def kernel_name(self) -> str:
        """The name of the Numba lowering in generated code (the op's name and the hash of the lowering's source,
        so that two lowerings of ops of one name never meet under one name)."""
        return f"custom_{self.name}_{digest(self.numba)[:8]}"

    def describe(self) -> str:
        return f"custom op {self.name!r} (defined at {self.site})"

    def __call__(self, *inputs, name: str | None = None, **attributes) -> Node:
        site = user_site()
        items = tuple(sorted((key, _checked_attribute(self, key, value, site)) for key, value in attributes.items()))
        try:
            nodes = as_nodes(*inputs)
        except SymgraphError as error:
            raise _with_context(error, self.name, [i for i in inputs if isinstance(i, Node)]) from None
        return apply(CustomOp(self, items), *nodes, name=name)

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


def _checked_attribute(definition, key: str, value, site):
    """Attributes are part of the op's identity and are written into generated code: numbers, bools, strings, None
    and tuples of them."""
    if isinstance(value, tuple):
        return tuple(_checked_attribute(definition, key, item, site) for item in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return value.item()
    raise TypeError(f"{definition.name}: attribute {key}={value!r:.60} must be a number, bool, str, None or a tuple "
                    f"of them (attributes identify the op and are written into generated code); pass arrays as "
                    f"inputs\n  at {site}")


def _type_tagged(value):
    """``value`` with the type of every item, so that attributes 1, 1.0 and True make different ops."""
    if isinstance(value, tuple):
        return tuple(_type_tagged(item) for item in value)
    return (type(value).__name__, value)


def custom_op(compute=None, *, name=None, shape=None, dtype=None, grad=None, numba=None, flops=None,
              elementwise=False):
    """Define an op from a NumPy function ``compute`` and rules of your own; call the result on nodes.

    As a function, ``sg.custom_op(f, ...)``; as a decorator, ``@sg.custom_op(...)`` over ``def f``. ``name``
    (default: the function's name) must be an identifier other than a symgraph op's name. The rules and their
    defaults are in ``symgraph/ops/custom.py``'s docstring. ``elementwise=True`` declares that output element i
    depends only on input elements i after broadcasting: the shape is the broadcast shape, gradients may be given in
    the output's shape, and a Numba lowering is a scalar function fused into loops. Without ``numba`` the Numba
    backend calls ``compute`` from Python at every call (``f.cache_info.python_ops`` names the op).
    """
    site = user_site()
    if compute is None:
        def decorate(function):
            return _define(function, name, shape, dtype, grad, numba, flops, elementwise, site)
        return decorate
    return _define(compute, name, shape, dtype, grad, numba, flops, elementwise, site)


def _define(compute, name, shape, dtype, grad, numba, flops, elementwise, site) -> CustomOpDefinition:
    caller = "sg.custom_op"
    if not callable(compute):
        raise TypeError(f"{caller}: compute must be a NumPy function (callable), got {type(compute).__name__} "
                        f"{compute!r:.60}\n  at {site}")
    if name is None:
        name = getattr(compute, "__name__", None)
        if name == "<lambda>" or not isinstance(name, str):
            raise ValueError(f"{caller}: {compute!r:.60} has no name of its own: pass name='...'\n  at {site}")
    name = _checked_op_name(name, caller)
    for rule, what in ((shape, "shape"), (dtype, "dtype"), (grad, "grad"), (numba, "numba")):
        _checked_rule(rule, what, caller)
    if not isinstance(elementwise, (bool, np.bool_)):
        raise TypeError(f"{caller}: elementwise must be True or False, got {type(elementwise).__name__} "
                        f"{elementwise!r:.40}\n  at {site}")
    if elementwise and shape is not None:
        raise ValueError(f"{caller}: an elementwise op has the broadcast shape of its inputs: give no shape rule, or "
                         f"elementwise=False\n  at {site}")
    if flops is not None and not callable(flops) and not (
            isinstance(flops, (int, np.integer)) and not isinstance(flops, (bool, np.bool_)) and 0 <= flops <= MAX_DIM):
        raise TypeError(f"{caller}: flops must be an int in [0, {MAX_DIM}] (FLOPs per output element), a function "
                        f"(input_shapes, output_shape) -> int, or None (unknown), got {type(flops).__name__} "
                        f"{flops!r:.40}\n  at {site}")
    return CustomOpDefinition(compute, name, shape, dtype, grad, numba, flops, bool(elementwise), site)


@dataclass(frozen=True)
class CustomOp(Op):
    """The op of a node built by a custom op: the definition (compared by identity) and the node's attributes."""

    definition: CustomOpDefinition
    items: tuple  # (key, value) pairs, sorted

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.definition.name

    @property
    def broadcasts(self) -> bool:  # type: ignore[override]
        return self.definition.elementwise

    def __eq__(self, other):
        return (isinstance(other, CustomOp) and other.definition is self.definition
                and _type_tagged(other.items) == _type_tagged(self.items))

    def __hash__(self):
        return hash((id(self.definition), _type_tagged(self.items)))

    def attributes(self) -> dict:
        return dict(self.items)

    # -- rules --------------------------------------------------------------------------------------------------------
    def infer(self, *inputs):
        definition = self.definition
        shapes = tuple(tuple(i.shape) for i in inputs)
        if definition.shape_rule is not None:
            shape = self._checked_shape(self._call("shape rule", definition.shape_rule, shapes, ShapeError), shapes)
        elif definition.elementwise:
            shape = broadcast_shapes(*shapes)
        elif inputs:
            shape = shapes[0]
        else:
            raise ShapeError(f"{definition.describe()} has no inputs, so its shape comes from a shape rule: give "
                             f"shape= to sg.custom_op")
        return shape, self._dtype(tuple(i.dtype for i in inputs))

    def _call(self, what: str, rule, arguments, error_class):
        try:
            return rule(*arguments, **self.attributes())
        except SymgraphError:
            raise
        except Exception as error:  # a bug in the rule, reported as the rule's failure with its place
            raise error_class(f"{self.definition.describe()}: its {what} ({site_of(rule)}) raised "
                              f"{type(error).__name__}: {error}") from error

    def _checked_shape(self, shape, shapes) -> tuple:
        valid = isinstance(shape, (tuple, list)) and all(
            d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) and d >= 0)
            for d in shape)
        if not valid:
            listed = ", ".join(format_shape(s) for s in shapes) or "none"
            raise ShapeError(f"{self.definition.describe()}: its shape rule ({site_of(self.definition.shape_rule)}) "
                             f"returned {shape!r:.80} for input shapes {listed}; a shape rule returns a tuple of "
                             "non-negative ints, with None for a size known only at run time")
        return tuple(None if d is None else int(d) for d in shape)

    def _dtype(self, input_dtypes) -> np.dtype:
        definition = self.definition
        if definition.dtype_rule is None:
            if not input_dtypes:
                return dtypes.DEFAULT_FLOAT
            return dtypes.as_dtype(np.result_type(*input_dtypes))
        dtype = self._call("dtype rule", definition.dtype_rule, input_dtypes, DTypeError)
        try:
            return dtypes.as_dtype(dtype)
        except DTypeError as error:
            raise DTypeError(f"{definition.describe()}: its dtype rule ({site_of(definition.dtype_rule)}) returned "
                             f"{dtype!r:.60}: {error}") from None

    def run_shape(self, input_shapes) -> tuple:
        """The output's shape for inputs of these concrete shapes (the shape rule, run again at run time)."""
        if self.definition.shape_rule is None:
            return np.broadcast_shapes(*input_shapes) if self.definition.elementwise else tuple(input_shapes[0])
        shape = self._checked_shape(self._call("shape rule", self.definition.shape_rule, input_shapes, ShapeError),
                                    input_shapes)
        if None in shape:
            raise ShapeError(f"{self.definition.describe()}: its shape rule ({site_of(self.definition.shape_rule)}) "
                             f"returned {shape} for the run-time shapes {input_shapes}: every size must be known")
        return shape

    def compute(self, *values):
        definition = self.definition
        result = np.asarray(definition.compute(*values, **self.attributes()))
        expected = self._dtype(tuple(np.asarray(v).dtype for v in values))
        where = f"{definition.describe()}: its NumPy function ({site_of(definition.compute)})"
        if result.dtype != expected:
            raise TypeError(f"{where} returned {result.dtype} values, but the op's dtype is {expected} (its dtype "
                            f"rule); cast the result in the function (e.g. .astype(x.dtype)) or give dtype=")
        shape = self.run_shape(tuple(np.shape(v) for v in values))
        if result.shape != tuple(shape):
            raise ValueError(f"{where} returned shape {result.shape}, but the shape rule gives {tuple(shape)} for "
                             f"inputs of shapes {', '.join(str(np.shape(v)) for v in values)}")
        return result

    def grad(self, node, g):
        definition = self.definition
        rule = definition.grad_rule
        if rule is None:
            raise GradientError(f"{definition.describe()} has no gradient rule, but sg.grad needs the gradient of "
                                f"{node.describe()}: give grad= to sg.custom_op (return None for an input that gets "
                                f"no gradient), or wrap the op's input in sg.stop_gradient\n  at {user_site()}")
        results = rule(list(node.inputs), node, g, **self.attributes())
        return _checked_gradients(results, node.inputs, node, f"its gradient rule ({site_of(rule)})",
                                  definition.describe(), output_shaped=definition.elementwise)

    def flops(self, node, input_shapes, output_shape):
        rule = self.definition.flops_rule
        if rule is None:
            return math.prod(output_shape) if self.definition.elementwise else None
        if not callable(rule):
            return int(rule) * math.prod(output_shape)
        count = rule(list(input_shapes), tuple(output_shape), **self.attributes())
        if isinstance(count, (bool, np.bool_)) or not isinstance(count, (int, np.integer)) or count < 0:
            raise TypeError(f"{self.definition.describe()}: its flops rule ({site_of(rule)}) returned {count!r:.60}; "
                            f"it must return a non-negative int")
        return int(count)


def _checked_gradients(results, inputs, node: Node, rule: str, owner: str, output_shaped: bool) -> list:
    """A gradient rule's result: a list with one node (or None) per input, each of its input's shape (or, for
    elementwise ops, of the output's shape: the differentiator sums it back)."""
    def fail(problem: str):
        raise GradientError(f"{owner}: {rule} {problem}, for {node.describe()}\n  at {user_site()}")

    if not isinstance(results, (list, tuple)):
        fail(f"returned {type(results).__name__} {results!r:.60}; it returns a list with one gradient node (or "
             f"None) per input")
    if len(results) != len(inputs):
        fail(f"returned {len(results)} gradients for {len(inputs)} inputs")
    for position, (gradient, x) in enumerate(zip(results, inputs)):
        if gradient is None:
            continue
        if not isinstance(gradient, Node):
            fail(f"returned {type(gradient).__name__} {gradient!r:.60} as the gradient of input {position}; return "
                 f"a node (sg.constant for a value) or None")
        shapes = [x.shape] + ([node.shape] if output_shaped else [])
        if not any(_compatible(gradient.shape, shape) for shape in shapes):
            expected = " or ".join(format_shape(s) for s in shapes)
            fail(f"gave input {position} a gradient of shape {format_shape(gradient.shape)}; expected {expected} "
                 f"(input {position}: {x.describe()})")
    return list(results)


def _compatible(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(a is None or b is None or a == b for a, b in zip(shape, expected))


# -- op_from_graph --------------------------------------------------------------------------------------------------

class OpFromGraph:
    """A subgraph packaged as one op, as ``sg.op_from_graph`` returns it: ``op(*inputs, name=None)`` builds its
    output node (a list of them when it has several outputs)."""

    def __init__(self, inputs: list, outputs: list, single: bool, grad_override, name: str, site):
        self.inputs = inputs
        self.outputs = outputs
        self.single = single
        self.grad_override = grad_override
        self.name = name
        self.site = site
        self.variables = [n for n in toposort(outputs) if isinstance(n, Variable)]
        self._gradients: dict[int, tuple] = {}
        self._programs: dict[int, object] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"op_from_graph {self.name!r} (defined at {self.site})"

    def __call__(self, *inputs, name: str | None = None):
        site = user_site()
        if len(inputs) != len(self.inputs):
            raise TypeError(f"{self.name}: takes {len(self.inputs)} inputs (its placeholders "
                            f"{', '.join(p.name or '?' for p in self.inputs)}), got {len(inputs)}\n  at {site}")
        try:
            actual = [as_node(value, [formal]) for value, formal in zip(inputs, self.inputs)]
        except SymgraphError as error:
            raise _with_context(error, self.name, [i for i in inputs if isinstance(i, Node)]) from None
        nodes = []
        for k in range(len(self.outputs)):
            label = name if name is None or self.single else f"{name}_{k}"
            nodes.append(apply(GraphOp(self, k), *actual, *self.variables, name=label,
                               implied_updates=self._implied_updates(k, actual)))
        return nodes[0] if self.single else nodes

    def _implied_updates(self, k: int, actual: list) -> tuple:
        """The updates the subgraph's nodes imply (random streams, batch_norm statistics), for these inputs."""
        pairs = [pair for node in toposort([self.outputs[k]]) for pair in node.implied_updates]
        if not pairs:
            return ()
        expressions = substitute([e for _, e in pairs], self._replacements(actual))
        return tuple((variable, expression) for (variable, _), expression in zip(pairs, expressions))

    def _replacements(self, actual) -> dict:
        return {id(formal): node for formal, node in zip(self.inputs, actual)}

    def program(self, k: int):
        """The NumPy backend's program of output ``k`` over the placeholders (the op's reference)."""
        with self._lock:
            if k not in self._programs:
                from symgraph.backends.numpy import NumpyProgram

                self._programs[k] = NumpyProgram([self.outputs[k]])
            return self._programs[k]

    def default_gradient(self, k: int) -> tuple:
        """(seed placeholder, {id(wrt): gradient}) of output ``k``: the subgraph's own vector-Jacobian product with
        respect to its placeholders and variables, built once as a graph over them."""
        with self._lock:
            if k not in self._gradients:
                from symgraph.autodiff import vjp

                output = self.outputs[k]
                seed = Placeholder(output.shape, output.dtype, f"{self.name}_output_grad", self.site)
                wrt = [n for n in self.inputs + self.variables if dtypes.is_float(n.dtype)]
                gradients = vjp(output, wrt, seed, disconnected="none") if wrt else []
                self._gradients[k] = (seed, {id(x): g for x, g in zip(wrt, gradients) if g is not None})
            return self._gradients[k]

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


def op_from_graph(inputs, outputs, grad_override=None, name: str | None = None) -> OpFromGraph:
    """Package the subgraph from placeholders ``inputs`` to ``outputs`` (a node or a list) as one op (Theano's
    OpFromGraph); call the result on nodes.

    Its nodes print as one node named ``name`` (default "op_from_graph"); every backend runs the subgraph itself,
    inlined before code generation. Its gradient is the subgraph's own, unless ``grad_override(inputs, outputs,
    output_grads)`` returns one gradient node (or None) per input: the input nodes, output nodes and output
    gradients of the node being differentiated, as lists (an output whose gradient is not asked for has None).
    Variables the subgraph reads are implicit inputs of its nodes and keep the subgraph's own gradient (make a
    placeholder an input to override the gradient of a variable passed there).
    """
    caller = "sg.op_from_graph"
    site = user_site()
    if isinstance(inputs, Node):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)) or not all(isinstance(p, Placeholder) for p in inputs):
        raise TypeError(f"{caller}: inputs must be a placeholder or a list of placeholders (the subgraph's "
                        f"parameters), got {inputs!r:.80}\n  at {site}")
    inputs = list(inputs)
    for position, p in enumerate(inputs):
        if any(p is q for q in inputs[:position]):
            raise ValueError(f"{caller}: {p.describe()} is listed twice among the inputs\n  at {site}")
    single = isinstance(outputs, Node)
    if single:
        outputs = [outputs]
    if not isinstance(outputs, (list, tuple)) or not outputs or not all(isinstance(o, Node) for o in outputs):
        raise TypeError(f"{caller}: outputs must be a node or a non-empty list of nodes, got {outputs!r:.80}\n"
                        f"  at {site}")
    outputs = list(outputs)
    unlisted = [n for n in toposort(outputs) if isinstance(n, Placeholder) and not any(n is p for p in inputs)]
    if unlisted:
        listed = "\n    ".join(p.describe() for p in unlisted)
        raise ValueError(f"{caller}: the outputs depend on placeholders that are not among the inputs:\n    {listed}\n"
                         f"  at {site}")
    if grad_override is not None and not callable(grad_override):
        raise TypeError(f"{caller}: grad_override must be a function (inputs, outputs, output_grads) -> input "
                        f"gradients, or None, got {type(grad_override).__name__} {grad_override!r:.60}\n  at {site}")
    name = _checked_op_name("op_from_graph" if name is None else name, caller)
    return OpFromGraph(inputs, outputs, single, grad_override, name, site)


@dataclass(frozen=True)
class GraphOp(Op):
    """The op of an op_from_graph node: the definition (compared by identity) and which of its outputs the node is.
    Its inputs are the op's inputs followed by the variables the subgraph reads."""

    definition: OpFromGraph
    output: int

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.definition.name

    def __eq__(self, other):
        return isinstance(other, GraphOp) and other.definition is self.definition and other.output == self.output

    def __hash__(self):
        return hash((id(self.definition), self.output))

    def attributes(self) -> dict:
        return {} if self.definition.single else {"output": self.output}

    def infer(self, *inputs):
        definition = self.definition
        explicit = inputs[:len(definition.inputs)]
        if len(inputs) != len(definition.inputs) + len(definition.variables):
            raise ShapeError(f"{definition.describe()} takes {len(definition.inputs)} inputs and the "
                             f"{len(definition.variables)} variables its subgraph reads, got {len(inputs)} nodes")
        for position, (x, formal) in enumerate(zip(explicit, definition.inputs)):
            if x.dtype != formal.dtype:
                raise DTypeError(f"input {position} has dtype {x.dtype}, but {definition.name} takes "
                                 f"{formal.dtype} there (its placeholder {formal.describe()}); use sg.cast")
            if not _compatible(tuple(x.shape), formal.shape):
                raise ShapeError(f"input {position} has shape {format_shape(tuple(x.shape))}, but {definition.name} "
                                 f"takes {format_shape(formal.shape)} there (its placeholder {formal.describe()})")
        output = definition.outputs[self.output]
        given = {id(formal): tuple(x.shape) for formal, x in zip(definition.inputs, explicit)}
        return _propagated_shape(output, given), output.dtype

    def compute(self, *values):
        definition = self.definition
        feeds = {id(formal): np.asarray(v) for formal, v in zip(definition.inputs, values)}
        return definition.program(self.output).compute(feeds)[0]

    def grad(self, node, g):
        definition = self.definition
        count = len(definition.inputs)
        explicit = list(node.inputs[:count])
        siblings = [node if j == self.output else apply(GraphOp(definition, j), *node.inputs)
                    for j in range(len(definition.outputs))]
        default = self._default_gradients(node, g, siblings)
        if definition.grad_override is None:
            return default
        output_grads = [g if j == self.output else None for j in range(len(definition.outputs))]
        override = definition.grad_override
        results = override(explicit, siblings, output_grads)
        checked = _checked_gradients(results, explicit, node, f"its grad_override ({site_of(override)})",
                                     definition.describe(), output_shaped=False)
        return checked + default[count:]

    def _default_gradients(self, node, g, siblings) -> list:
        """The subgraph's gradient for this node: its gradient graph with the placeholders replaced by the node's
        inputs, the seed by ``g`` and the subgraph's outputs by this node and its siblings."""
        definition = self.definition
        seed, gradients = definition.default_gradient(self.output)
        wrt = definition.inputs + definition.variables
        present = [x for x in wrt if id(x) in gradients]
        if not present:
            return [None] * len(wrt)
        replacements = {id(output): sibling for output, sibling in zip(definition.outputs, siblings)
                        if output.inputs}
        replacements.update({id(formal): actual for formal, actual in zip(definition.inputs, node.inputs)})
        replacements[id(seed)] = g
        substituted = iter(substitute([gradients[id(x)] for x in present], replacements))
        return [next(substituted) if id(x) in gradients else None for x in wrt]

    def flops(self, node, input_shapes, output_shape):
        from symgraph.printing.stats import stats

        definition = self.definition
        counted = stats(definition.outputs[self.output], dict(zip(definition.inputs, input_shapes)))
        return None if counted.unknown_flops else counted.flops


def _propagated_shape(output: Node, given: dict) -> tuple:
    """The shape of ``output`` when the placeholders in ``given`` (id -> shape) have those shapes."""
    def refused(node, input_shapes, error):
        listed = ", ".join(format_shape(s) for s in input_shapes)
        return type(error)(f"inside the subgraph, {node.describe()} refuses inputs of shapes {listed}: {error}")

    return reinferred_shapes(toposort([output]), given, refused)[id(output)]


# -- substitution and inlining --------------------------------------------------------------------------------------

def substitute(outputs: list, replacements: dict, created: list | None = None, expand: Callable | None = None
               ) -> list[Node]:
    """The graph of ``outputs`` with the nodes whose ids ``replacements`` maps replaced, every node above them
    rebuilt (the expressions of their implied updates too); nodes built are appended to ``created``. With
    ``expand(node, inputs)``, op_from_graph nodes are replaced by what it returns."""
    mapping = dict(replacements)

    def rebuild_all(roots) -> None:
        for node in toposort(roots):
            if id(node) in mapping:
                continue
            inputs = [mapping[id(i)] for i in node.inputs]
            if expand is not None and isinstance(node.op, GraphOp):
                mapping[id(node)] = expand(node, inputs)
                continue
            updates = node.implied_updates
            if updates:
                rebuild_all([expression for _, expression in updates])
                updates = tuple((variable, mapping[id(expression)]) for variable, expression in updates)
            if all(a is b for a, b in zip(inputs, node.inputs)) and all(
                    a[1] is b[1] for a, b in zip(updates, node.implied_updates)):
                mapping[id(node)] = node
                continue
            shape, dtype = node.op.infer(*inputs)
            rebuilt = Node(node.op, tuple(inputs), tuple(shape), np.dtype(dtype), node.name, node.site, updates)
            inherit_provenance(rebuilt, node)
            if created is not None:
                created.append(rebuilt)
            mapping[id(node)] = rebuilt

    rebuild_all(list(outputs))
    return [mapping[id(o)] for o in outputs]


def inline_graph_ops(outputs, record: Callable | None = None) -> list[Node]:
    """``outputs`` with every op_from_graph node replaced by a copy of its subgraph over the node's inputs (nested
    ones too); ``record(rule, before, after)`` is told of each. The copies keep the subgraph's creation sites and
    take the gradient provenance of the node they replace."""

    def expand(node: Node, inputs: list) -> Node:
        definition = node.op.definition
        created: list = []
        (copy,) = substitute([definition.outputs[node.op.output]],
                             {id(formal): x for formal, x in zip(definition.inputs, inputs)}, created)
        for new in created:
            inherit_provenance(new, node)
        if record is not None:
            record("inline_op_from_graph", node, copy)
        return copy

    outputs = list(outputs)
    while any(isinstance(node.op, GraphOp) for node in toposort(outputs)):  # a copy may hold nested ones
        outputs = substitute(outputs, {}, expand=expand)
    return outputs
