"""``sg.save`` and ``sg.load``: a graph and the values of its constants and variables in one safetensors file.

The graph is a versioned JSON document (in the file's metadata entry "symgraph"): its nodes in dependency order,
each with its kind (constant, variable, placeholder or op), shape, dtype, name and creation site; an op node has its
op's registry name, attributes and input positions, and the implied updates it carries (a random stream advancing,
batch_norm's running statistics). The gradient bookkeeping of ``sg.grad`` (each gradient node's provenance, and the
reverse pass a returned gradient comes from, which ``sg.optimize`` uses to re-derive it) is saved too, so a loaded
graph optimizes, compiles and prints exactly as the original. Constants' and variables' values are the file's
tensors.

Loading rebuilds every node through the registry (symgraph/io/registry.py), never by importing a name from the file:
inputs must be earlier nodes (so there is no cycle), attributes must follow their rules, and each op's ``infer`` is
run again and must give the shape and dtype the file states. Any fault is a FormatError naming the file and node.
"""

from __future__ import annotations

import numpy as np

from symgraph import dtypes
from symgraph.autodiff import GradientOrigin, gradient_origin, record_gradient_origin
from symgraph.errors import FormatError
from symgraph.graph import (
    MAX_DIM, Constant, Node, Placeholder, Provenance, Site, Variable, format_shape, provenance, record_provenance,
    schedule, toposort, user_site,
)
from symgraph.io import container, registry
from symgraph.io.fields import (
    check_format, check_metadata, check_path, expect_keys, holding_locks, read_metadata_field, shown, text_problem,
)

FORMAT = "symgraph.graph"
VERSION = 1
VARIABLES_FORMAT = "symgraph.variables"  # sg.save_variables' files
MAX_LINE = 2**31 - 1
_KINDS = {"constant": Constant, "variable": Variable, "placeholder": Placeholder}
_DTYPES = {d.name: d for d in dtypes.SUPPORTED}
_NOT_A_GRAPH = {VARIABLES_FORMAT: "a checkpoint of variables (written by sg.save_variables), not a graph: read it "
                                  "with sg.load_variables(path, variables)"}


# -- saving ---------------------------------------------------------------------------------------------------------

def save(path, outputs, inputs=None, metadata=None) -> None:
    """Write the graph of ``outputs`` (a node or a list), with its constants' and variables' current values, to
    ``path`` (one safetensors file, written atomically).

    ``inputs`` (placeholders, in call order) defaults to every placeholder the outputs depend on, in schedule order;
    ``sg.load`` returns them so that ``sg.function(inputs, outputs)`` works on the loaded graph. ``metadata`` is a
    dict of JSON values stored with the graph (``sg.read_metadata`` returns it).
    """
    caller = "sg.save"
    path = check_path(path, caller)
    single = isinstance(outputs, Node)
    outputs = _node_list(outputs, "outputs", caller, Node)
    inputs = ([n for n in toposort(outputs) if isinstance(n, Placeholder)] if inputs is None
              else _node_list(inputs, "inputs", caller, Placeholder))
    if len({id(p) for p in inputs}) != len(inputs):
        twice = next(p for k, p in enumerate(inputs) if any(p is q for q in inputs[:k]))
        raise ValueError(f"{caller}: {twice.describe()} is listed twice among the inputs, at {user_site()}")
    document, tensors = encode_graph(outputs, inputs, single, caller)
    user_metadata = check_metadata(metadata, caller)
    if user_metadata:
        document["metadata"] = user_metadata
    container.write_atomically(path, container.encode(tensors, document), caller)


def _node_list(value, what: str, caller: str, kind: type) -> list:
    items = [value] if isinstance(value, Node) else value
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"{caller}: {what} must be a {kind.__name__.lower()} or a list of them, got "
                        f"{type(value).__name__} {value!r:.60}, at {user_site()}")
    for position, node in enumerate(items):
        if not isinstance(node, kind):
            found = node.describe() if isinstance(node, Node) else f"{type(node).__name__} {node!r:.60}"
            raise TypeError(f"{caller}: {what} must be {kind.__name__.lower()}s; item {position} is {found}, "
                            f"at {user_site()}")
    return list(items)


def encode_graph(outputs: list, inputs: list, single: bool, caller: str) -> tuple[dict, dict]:
    """The graph document of ``outputs`` and ``inputs``, and its tensors (name -> array). Variables' values are read
    holding their locks, so they are those between two compiled calls, never halfway through one's updates."""
    nodes = schedule(outputs + inputs, _dependencies)
    position = {id(node): k for k, node in enumerate(nodes)}
    tensors: dict = {}
    with holding_locks([node for node in nodes if isinstance(node, Variable)]):
        entries = [_encode_node(node, k, position, tensors, caller) for k, node in enumerate(nodes)]
    document = {"format": FORMAT, "version": VERSION, "nodes": entries,
                "inputs": [position[id(p)] for p in inputs], "outputs": [position[id(o)] for o in outputs],
                "single_output": single}
    origins = [(node, provenance(node)) for node in nodes if provenance(node) is not None]
    if origins:
        document["provenance"] = [[position[id(node)], position[id(o.output)], position[id(o.wrt)],
                                   None if o.through is None else position[id(o.through)]] for node, o in origins]
    passes = [(node, gradient_origin(node)) for node in nodes if gradient_origin(node) is not None]
    if passes:
        document["gradient_origins"] = [[position[id(node)], [position[id(n)] for n in o.outputs],
                                         [position[id(n)] for n in o.seeds], position[id(o.wrt)]]
                                        for node, o in passes]
    return document, tensors


def _dependencies(node: Node) -> list:
    """What a node's entry refers to, so must come before it: inputs, implied updates, and the nodes its gradient
    provenance and reverse pass name (all older than the node, so there is no cycle)."""
    found = list(node.inputs)
    for variable, expression in node.implied_updates:
        found += [variable, expression]
    origin = provenance(node)
    if origin is not None:
        found += [origin.output, origin.wrt] + ([origin.through] if origin.through is not None else [])
    reverse_pass = gradient_origin(node)
    if reverse_pass is not None:
        found += list(reverse_pass.outputs) + list(reverse_pass.seeds) + [reverse_pass.wrt]
    return found


def _encode_node(node: Node, k: int, position: dict, tensors: dict, caller: str) -> dict:
    for what, value, optional in (("name", node.name, True), ("creation site's file name", node.site.filename, False)):
        problem = text_problem(value, optional)
        if problem:
            raise ValueError(f"{caller}: cannot save {node.describe()}: its {what} {problem}, at {user_site()}")
    entry = {"kind": "op", "shape": list(node.shape), "dtype": node.dtype.name, "name": node.name,
             "site": [node.site.filename, int(node.site.lineno)]}
    if isinstance(node, (Constant, Variable)):
        entry["kind"] = "constant" if isinstance(node, Constant) else "variable"
        entry["tensor"] = f"{k}:{node.name}" if node.name else f"{k}"
        tensors[entry["tensor"]] = node.value
        if isinstance(node, Variable):
            entry["trainable"] = node.trainable
        return entry
    if isinstance(node, Placeholder):
        entry["kind"] = "placeholder"
        return entry
    spec = registry.spec_of(node.op)
    if spec is None:
        raise TypeError(f"{caller}: cannot save {node.describe()}: its op {type(node.op).__name__} is not one of "
                        f"symgraph's ops (only those can be loaded back safely), at {user_site()}")
    try:
        spec.check(node.op, node.inputs)
    except registry.Invalid as problem:
        raise ValueError(f"{caller}: cannot save {node.describe()}: it could not be loaded back: {problem}, at "
                         f"{user_site()}") from None
    entry["op"] = node.op.name
    entry["inputs"] = [position[id(i)] for i in node.inputs]
    attributes = {name: registry.encode_attribute(value) for name, value in node.op.attributes().items()}
    if attributes:
        entry["attributes"] = attributes
    if node.implied_updates:
        entry["implied_updates"] = [[position[id(v)], position[id(e)]] for v, e in node.implied_updates]
    return entry


# -- loading --------------------------------------------------------------------------------------------------------

def load(path):
    """The graph saved at ``path``: ``(inputs, outputs, variables)``, new nodes equal to the saved ones.

    ``inputs`` are the placeholders saved as the inputs (a list), ``outputs`` a node or a list as saved, and
    ``variables`` every variable of the file (new variables holding the saved values), in the file's order.
    ``sg.function(inputs, outputs)`` on them computes what the original did, bit for bit, on every backend. A file
    that is malformed, truncated, of another version or forged raises FormatError; nothing in it is executed.
    """
    path = check_path(path, "sg.load")
    document, tensors = container.read(path)
    return GraphReader(path, document, tensors).read()


def read_graph_metadata(path: str, document) -> dict:
    """The user metadata of a graph document (checked as far as the metadata is concerned)."""
    check_format(document, path, FORMAT, VERSION, _NOT_A_GRAPH)
    return read_metadata_field(document.get("metadata", {}), path)


class GraphReader:
    """Rebuilds a graph from its document and tensors, checking everything; ``read()`` gives (inputs, outputs,
    variables)."""

    def __init__(self, path: str, document, tensors: dict):
        self.path = path
        self.document = document
        self.tensors = tensors
        self.used_tensors: set = set()
        self.nodes: list = []

    def fail(self, message: str):
        raise FormatError(f"{self.path}: {message}")

    def read(self):
        document = self.document
        check_format(document, self.path, FORMAT, VERSION, _NOT_A_GRAPH)
        expect_keys(document, ("format", "version", "nodes", "inputs", "outputs", "single_output"),
                    ("provenance", "gradient_origins", "metadata"), f"{self.path}: the graph document")
        if not isinstance(document["nodes"], list):
            self.fail("'nodes' must be a list")
        for k, entry in enumerate(document["nodes"]):
            self.nodes.append(self._node(k, entry))
        unused = [name for name in self.tensors if name not in self.used_tensors]
        if unused:
            self.fail(f"holds tensors that no node uses: {', '.join(repr(n)[:60] for n in unused[:5])}")
        inputs = [self._reference(k, "inputs", len(self.nodes)) for k in self._list(document["inputs"], "inputs")]
        listed = set()
        for k, node in enumerate(inputs):
            if not isinstance(node, Placeholder):
                self.fail(f"input {k} is {self._label(node)}, not a placeholder")
            if id(node) in listed:
                self.fail(f"input {k} ({self._label(node)}) is listed twice")
            listed.add(id(node))
        outputs = [self._reference(k, "outputs", len(self.nodes)) for k in self._list(document["outputs"], "outputs")]
        single = document["single_output"]
        if type(single) is not bool or (single and len(outputs) != 1):
            self.fail("'single_output' must be true (with exactly one output) or false")
        self._provenance(self._list(document.get("provenance", []), "provenance"))
        self._gradient_origins(self._list(document.get("gradient_origins", []), "gradient_origins"))
        read_metadata_field(document.get("metadata", {}), self.path)
        variables = [node for node in self.nodes if isinstance(node, Variable)]
        return inputs, (outputs[0] if single else outputs), variables

    # -- fields ----------------------------------------------------------------------------------------------------
    def _list(self, value, what: str) -> list:
        if not isinstance(value, list):
            self.fail(f"{what} must be a list, got {type(value).__name__}")
        return value

    def _reference(self, value, what: str, limit: int) -> Node:
        """The node at position ``value``, which must be below ``limit`` (earlier than the node referring to it)."""
        if type(value) is not int or not 0 <= value < limit:
            hint = " (a node may only refer to earlier nodes: a file with a cycle is refused)" \
                if type(value) is int and limit <= value < len(self.document["nodes"]) else ""
            self.fail(f"{what}: {shown(value)} is not the position of an earlier node (0 to {limit - 1}){hint}")
        return self.nodes[value]

    def _label(self, node: Node) -> str:
        position = next(k for k, n in enumerate(self.nodes) if n is node)
        return f"node {position} ({node.op.name}" + (f" {node.name!r}" if node.name else "") + ")"

    def _shape(self, value, known: bool, where: str) -> tuple:
        if not isinstance(value, list) or len(value) > container.MAX_RANK:
            self.fail(f"{where}: the shape must be a list of at most {container.MAX_RANK} dimensions, got "
                      f"{shown(value)}")
        for dim in value:
            if not (dim is None and not known) and (type(dim) is not int or not 0 <= dim <= MAX_DIM):
                allowed = "" if known else " or null"
                self.fail(f"{where}: dimensions must be ints in [0, {MAX_DIM}]{allowed}, got {shown(value)}")
        return tuple(value)

    def _dtype(self, value, where: str) -> np.dtype:
        dtype = _DTYPES.get(value) if isinstance(value, str) else None
        if dtype is None:
            self.fail(f"{where}: dtype {shown(value)} is not supported (supported: {dtypes.supported_names()})")
        return dtype

    def _text(self, value, optional: bool, where: str):
        problem = text_problem(value, optional)
        if problem:
            self.fail(f"{where} {problem}")
        return value

    def _site(self, value, where: str) -> Site:
        if not isinstance(value, list) or len(value) != 2:
            self.fail(f"{where}: the site must be [file name, line], got {shown(value)}")
        filename = self._text(value[0], False, f"{where}: the site's file name")
        if type(value[1]) is not int or not 0 <= value[1] <= MAX_LINE:
            self.fail(f"{where}: the site's line must be an int in [0, {MAX_LINE}], got {shown(value[1])}")
        return Site(filename, value[1])

    def _tensor(self, name, shape: tuple, dtype: np.dtype, where: str) -> np.ndarray:
        if not isinstance(name, str) or name not in self.tensors:
            self.fail(f"{where}: no tensor {shown(name)} in the file")
        if name in self.used_tensors:
            self.fail(f"{where}: tensor {name!r} is used by an earlier node too")
        self.used_tensors.add(name)
        array = self.tensors[name]
        if array.shape != shape or array.dtype != dtype:
            self.fail(f"{where}: tensor {name!r} has shape {array.shape} {array.dtype}, but the node states "
                      f"{format_shape(shape)} {dtype}")
        value = np.array(array, copy=True, order="C")
        value.flags.writeable = False
        return value

    # -- nodes -----------------------------------------------------------------------------------------------------
    def _node(self, k: int, entry) -> Node:
        where = f"node {k}"
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind not in ("constant", "variable", "placeholder", "op"):
            self.fail(f"{where}: expected an object whose 'kind' is constant, variable, placeholder or op, got "
                      f"{shown(entry)}")
        extra = {"constant": ("tensor",), "variable": ("tensor", "trainable"), "placeholder": (),
                 "op": ("op", "inputs")}[kind]
        optional = ("attributes", "implied_updates") if kind == "op" else ()
        expect_keys(entry, ("kind", "shape", "dtype", "name", "site") + extra, optional, f"{self.path}: {where}")
        name = self._text(entry["name"], True, f"{where}: the name")
        op = entry.get("op")
        label = kind if kind != "op" else op if isinstance(op, str) and op in registry.OPS else shown(op)
        where = f"{where} ({label}" + (f" {name!r}" if name else "") + ")"
        shape = self._shape(entry["shape"], kind in ("constant", "variable"), where)
        dtype = self._dtype(entry["dtype"], where)
        site = self._site(entry["site"], where)
        if kind == "placeholder":
            return Placeholder(shape, dtype, name, site)
        if kind == "constant":
            return Constant(self._tensor(entry["tensor"], shape, dtype, where), name, site)
        if kind == "variable":
            if type(entry["trainable"]) is not bool:
                self.fail(f"{where}: 'trainable' must be true or false, got {shown(entry['trainable'])}")
            return Variable(self._tensor(entry["tensor"], shape, dtype, where), name, site, entry["trainable"])
        return self._op_node(k, entry, shape, dtype, name, site, where)

    def _op_node(self, k: int, entry: dict, shape: tuple, dtype: np.dtype, name, site: Site, where: str) -> Node:
        spec = registry.OPS.get(entry["op"]) if isinstance(entry["op"], str) else None
        if spec is None:
            self.fail(f"{where}: unknown op {shown(entry['op'])} (not an op of this version of symgraph)")
        inputs = tuple(self._reference(i, f"{where}: input", k) for i in self._list(entry["inputs"], "inputs"))
        attributes = entry.get("attributes", {})
        if not isinstance(attributes, dict) or sorted(attributes) != sorted(spec.rules):
            self.fail(f"{where}: the attributes must be exactly {sorted(spec.rules)}, got {shown(attributes)}")
        try:
            op = spec.make({name: registry.decode_attribute(value, name) for name, value in attributes.items()})
            spec.check(op, inputs)
        except registry.Invalid as problem:
            self.fail(f"{where}: {problem}")
        try:
            inferred_shape, inferred_dtype = op.infer(*inputs)
            inferred_shape, inferred_dtype = tuple(inferred_shape), np.dtype(inferred_dtype)
        except Exception as error:  # noqa: BLE001 - a forged node may break its op's rule in any way
            kinds = ", ".join(f"{format_shape(i.shape)} {i.dtype}" for i in inputs)
            raise FormatError(f"{self.path}: {where}: its op refuses its inputs ({kinds}): "
                              f"{type(error).__name__}: {str(error):.300}") from None
        if inferred_shape != shape or inferred_dtype != dtype:
            self.fail(f"{where}: the file states shape {format_shape(shape)} {dtype}, but the op gives "
                      f"{format_shape(inferred_shape)} {inferred_dtype} for its inputs")
        updates = tuple(self._implied_update(pair, k, where) for pair in self._list(entry.get("implied_updates", []),
                                                                                     "implied_updates"))
        return Node(op, inputs, shape, dtype, name, site, updates)

    def _implied_update(self, pair, k: int, where: str) -> tuple:
        if not isinstance(pair, list) or len(pair) != 2:
            self.fail(f"{where}: an implied update must be [variable, expression], got {shown(pair)}")
        variable, expression = (self._reference(i, f"{where}: implied update", k) for i in pair)
        if not isinstance(variable, Variable):
            self.fail(f"{where}: an implied update updates {self._label(variable)}, which is not a variable")
        _check_same_type(self, expression, variable, f"{where}: the implied update of {self._label(variable)}")
        return variable, expression

    # -- gradient bookkeeping --------------------------------------------------------------------------------------
    def _bookkeeping(self, entries: list, what: str, layout: str):
        """(position, node, entry) for each entry of a bookkeeping list: a list of 4 naming a node first, each node
        at most once."""
        seen = set()
        for entry in entries:
            if not isinstance(entry, list) or len(entry) != 4:
                self.fail(f"{what} entries are {layout}, got {shown(entry)}")
            node = self._reference(entry[0], what, len(self.nodes))
            if entry[0] in seen:
                self.fail(f"{what}: {self._label(node)} has two entries")
            seen.add(entry[0])
            yield entry[0], node, entry

    def _provenance(self, entries: list) -> None:
        for k, node, entry in self._bookkeeping(entries, "provenance", "[node, output, wrt, through or null]"):
            output, wrt = (self._reference(i, "provenance", k) for i in entry[1:3])
            through = None if entry[3] is None else self._reference(entry[3], "provenance", k)
            record_provenance(node, Provenance(output, wrt, through))

    def _gradient_origins(self, entries: list) -> None:
        for k, node, entry in self._bookkeeping(entries, "gradient_origins", "[node, [outputs], [seeds], wrt]"):
            outputs, seeds = ([self._reference(i, "gradient_origins", k) for i in self._list(refs, "refs")]
                              for refs in entry[1:3])
            wrt = self._reference(entry[3], "gradient_origins", k)
            if not outputs or len(seeds) != len(outputs):
                self.fail(f"gradient_origins: {self._label(node)} needs one seed per output, got {len(outputs)} "
                          f"outputs and {len(seeds)} seeds")
            for output, seed in zip(outputs, seeds):
                _check_same_type(self, seed, output, f"gradient_origins: the seed of {self._label(output)}")
            if wrt.dtype.kind != "f" or node.dtype != wrt.dtype or node.ndim != wrt.ndim:
                self.fail(f"gradient_origins: {self._label(node)} cannot be a gradient with respect to "
                          f"{self._label(wrt)}")
            record_gradient_origin(node, GradientOrigin(tuple(outputs), tuple(seeds), wrt))


def _check_same_type(reader: GraphReader, node: Node, like: Node, what: str) -> None:
    """``node`` can stand for ``like``: one dtype, one rank, and the dimensions known in both equal."""
    if node.dtype != like.dtype or node.ndim != like.ndim or any(
            a is not None and b is not None and a != b for a, b in zip(node.shape, like.shape)):
        reader.fail(f"{what} is {reader._label(node)} of shape {format_shape(node.shape)} {node.dtype}, expected "
                    f"{format_shape(like.shape)} {like.dtype}")
