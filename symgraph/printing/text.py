"""Text views of a graph: ``debugprint``, an indented tree with one node per line (Theano's layout), and ``pprint``,
infix math with ``let`` bindings for shared subexpressions, so that a gradient graph reads like backprop equations.

Both only read the graph. Files appear by their basename (``model.py:12``): short enough for a line and the same on
every machine (``node.site`` keeps the full path). Every op of ``symgraph.ops`` has a rule in ``RULES`` saying how
pprint writes it; an op without one (a user's own op) prints as ``name{attributes}(inputs)``.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from typing import Callable, NamedTuple

import numpy as np

from symgraph.autodiff import gradient_origin
from symgraph.errors import ShapeError
from symgraph.graph import Constant, Leaf, Node, Site, _output_list, consumers, format_shape, toposort, user_site
from symgraph.ops import (
    collective, conv, custom, elementwise as ew, gradient, indexing, linalg, nn, random, reduce, scan, shape,
)
from symgraph.ops import arrays  # shape, indexing and creation (issue 15)
from symgraph.ops.base import broadcast_shapes

SMALL_ARRAY = 8  # constants of up to this many elements print their values
REWRITE_DEPTH = 3  # how deep the before/after view writes each rewritten expression


# -- pieces shared by both views ----------------------------------------------------------------------------------

def short_site(site: Site) -> str:
    """``model.py:12``: the file's basename and the line."""
    return f"{os.path.basename(site.filename) or site.filename}:{site.lineno}"


def op_text(op) -> str:
    """An op with its attributes, as debugprint shows it: ``sum{axes=(0,), keepdims=False}``, ``cast{dtype=int64}``,
    ``index{[input1, 1:3]}`` (an index key as NumPy writes it, array inputs by their position)."""
    if isinstance(op, Leaf):
        return op.kind
    items = []
    for name, value in op.attributes().items():
        if name == "template":
            first = 2 if op.name == "index_grad" else 1  # the inputs before the index arrays: x (and g)
            count = 1 + max((item[1] for item in value if item[0] == "array"), default=-1)
            items.append(_key_text(value, [f"input{first + k}" for k in range(count)]))
        else:
            items.append(f"{name}={_attribute_text(value)}")
    return f"{op.name}{{{', '.join(items)}}}" if items else op.name


def _attribute_text(value) -> str:
    if isinstance(value, np.dtype):
        return value.name
    return repr(value)


def constant_text(value: np.ndarray) -> str:
    """A constant's value: numbers and arrays of up to SMALL_ARRAY elements written out, larger arrays of one value
    as ``full(shape, value)``, others as ``const(shape)``."""
    if value.ndim == 0:
        return _number_text(value[()])
    if 0 < value.size <= SMALL_ARRAY:
        return _nested_text(value)
    if value.size and _uniform(value):
        return f"full({format_shape(value.shape)}, {_number_text(value.flat[0])})"
    return f"const({format_shape(value.shape)})"


def _number_text(number) -> str:
    return str(number)  # NumPy's shortest text that reads back as the same value of its dtype: 0.1 for float32(0.1)


def _nested_text(value: np.ndarray) -> str:
    if value.ndim == 0:
        return _number_text(value[()])
    return "[" + ", ".join(_nested_text(row) for row in value) + "]"


def _uniform(value: np.ndarray) -> bool:
    first = value.flat[0]
    if value.dtype.kind == "f" and np.isnan(first):
        return bool(np.isnan(value).all())
    return bool((value == first).all())


_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")


def display_name(name: str) -> str:
    """A node's name as pprint writes it: scopes ``fc1/W`` as ``fc1.W`` (a slash would read as division); a name
    that is still not a dotted identifier is quoted."""
    dotted = name.replace("/", ".")
    return dotted if _DOTTED_NAME.match(dotted) else repr(name)


def _key_text(template, arrays) -> str:
    """An index template as NumPy writes the key: ``[1:3, ::2]``, ``[:, None]``; ``arrays`` are the array items."""
    items = []
    for item in template:
        kind = item[0]
        if kind == "int":
            items.append(str(item[1]))
        elif kind == "newaxis":
            items.append("None")
        elif kind == "array":
            items.append(arrays[item[1]])
        else:
            start, stop, step = ("" if part is None else str(part) for part in item[1:])
            items.append(f"{start}:{stop}" + (f":{step}" if step else ""))
    return "[" + (", ".join(items) if items else "()") + "]"


# -- debugprint -----------------------------------------------------------------------------------------------------

def debugprint(nodes, file=None, ids: bool = True) -> str:
    """Write the graph of ``nodes`` (a node or a list) as an indented tree, one node per line, and return the text.

    A line holds an id (``[id A]``), the op with its attributes, the name, shape, dtype and the user's file:line
    (basename), and for a node a reverse pass built, ``grad:`` and the adjoint it serves. Inputs follow indented
    under `` |``. A node reached twice is written once; later it appears by its id, followed by ``(see above)``.
    ``ids=False`` leaves ids out except on such repeated nodes. ``file`` is a writable text stream (default: standard
    output).
    """
    roots = _output_list(nodes, "sg.debugprint")
    if not isinstance(ids, (bool, np.bool_)):
        raise TypeError(f"sg.debugprint: ids must be True or False, got {type(ids).__name__} {ids!r:.60}\n"
                        f"  at {user_site()}")
    stream = sys.stdout if file is None else file
    if not callable(getattr(stream, "write", None)):
        raise TypeError(f"sg.debugprint: file must be a writable text stream (an object with write(), such as "
                        f"sys.stderr or an open file), got {type(file).__name__} {file!r:.60}\n  at {user_site()}")
    text = tree_text(roots, bool(ids))
    stream.write(text)
    return text


def tree_text(roots: list[Node], ids: bool = True) -> str:
    """debugprint's text (lines ending in newlines) for checked roots."""
    order = toposort(roots)
    users = consumers(order)
    appearances = Counter({id(n): len(users[id(n)]) for n in order})
    appearances.update(id(r) for r in roots)
    tags: dict[int, str] = {}  # printed nodes: their id letters ("" for a node reached once, with ids=False)
    tagged = 0
    lines = []
    stack = [(root, "") for root in reversed(roots)]
    while stack:
        node, prefix = stack.pop()
        if id(node) in tags:  # reached before: only its id (a node reached once never comes back here)
            lines.append(f"{prefix}{_head(node)} [id {tags[id(node)]}]{_name_text(node)} (see above)")
            continue
        if ids or appearances[id(node)] > 1:
            tags[id(node)] = _tag(tagged)
            tagged += 1
        else:
            tags[id(node)] = ""
        lines.append(prefix + _node_line(node, tags[id(node)]))
        stack.extend((child, prefix + " |") for child in reversed(node.inputs))
    return "".join(line + "\n" for line in lines)


def _tag(index: int) -> str:
    """A, B, ..., Z, AA, AB, ...: the ids of debugprint."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _head(node: Node) -> str:
    if isinstance(node, Constant):
        value = constant_text(node.value)
        return f"constant{{{value}}}" if not value.startswith("const(") else "constant"
    return op_text(node.op)


def _name_text(node: Node) -> str:
    return f" {node.name!r}" if node.name else ""


def _node_line(node: Node, tag: str | None) -> str:
    parts = [_head(node) + (f" [id {tag}]" if tag else "") + _name_text(node),
             format_shape(node.shape), node.dtype.name, f"at {short_site(node.site)}"]
    line = " ".join(parts)
    origin = node.provenance
    return line + (f"  grad: {origin.text(short_site)}" if origin is not None else "")


# -- pprint ---------------------------------------------------------------------------------------------------------

COMPARE, ADD, MUL, UNARY, POWER, ATOM = range(1, 7)  # Python's precedences, loosest first


class Expr(NamedTuple):
    """A written expression, how tightly it binds, and its operator (for infix and unary forms, and numbers)."""

    text: str
    precedence: int = ATOM
    operator: str = ""


def pprint(nodes) -> str:
    """The graph of ``nodes`` (a node or a list) as math, returned as a string (Theano's pprint returns one too).

    Ops print as infix operators with Python's precedence (parentheses only where needed), ``.T``, NumPy indexing
    (``x[:, None]`` for expand_dims) or calls (``sum(x, axis=1)``, ``float32(n)`` for casts); constants as numbers,
    small arrays written out, larger ones as ``full(shape, value)`` or ``const(shape)``. A broadcast that an
    elementwise op's own broadcasting does anyway (the static shapes show it) is left out.

    An op node used more than once, or a named forward node that a gradient node reads (the backward equations
    refer to forward values by name), gets a line ``let name = ...`` before its first use: its name if it has one (a
    scope ``fc1/W`` reads ``fc1.W``), ``d_<wrt>`` if it is the whole adjoint d output / d wrt of a reverse pass
    (its provenance), else ``t1``, ``t2``, ... One root prints as its expression on the last line; several roots
    each print as ``label = ...`` (the root's name, ``d_<wrt>`` for a gradient, else ``out<k>`` for position k).
    """
    return MathText(_output_list(nodes, "sg.pprint")).text()


class _Printer:
    """The printers' common part. A printer gives ``sub(input)``, an input's expression as the rules see it,
    ``inline(input)``, whether that input is written in place (rather than by a let-bound name), and ``leaf(node)``,
    a named leaf's expression."""

    def express(self, node: Node) -> Expr:
        """``node`` written from its inputs' expressions, by its op's rule (or the fallback)."""
        if isinstance(node.op, Leaf):
            if isinstance(node, Constant) and node.name is None:
                text = constant_text(node.value)
                return Expr(text, UNARY if text.startswith("-") else ATOM, "number")
            return self.leaf(node)
        rule = RULES.get(type(node.op), _fallback)
        return rule(self, node)

    def operands(self, node: Node) -> list[Expr]:
        """The inputs of an elementwise node, leaving out the broadcasts (broadcast_to, broadcast_like, expand_dims of
        leading axes) that its own broadcasting does anyway: the static shapes give the same result without them."""
        chosen = list(node.inputs)
        for position in range(len(chosen)):
            operand = chosen[position]
            while self.inline(operand) and _implicit_broadcast(operand):
                inner = operand.inputs[0]
                shapes = [c.shape for c in chosen[:position]] + [inner.shape] + [c.shape for c in chosen[position + 1:]]
                if not _broadcast_gives(shapes, node.shape):
                    break
                operand = chosen[position] = inner
        return [self.sub(c) for c in chosen]


def _implicit_broadcast(node: Node) -> bool:
    """A broadcast that NumPy's broadcasting can do: to a shape, like a node, or new leading axes."""
    if isinstance(node.op, (shape.BroadcastTo, shape.BroadcastLike)):
        return True
    return isinstance(node.op, shape.ExpandDims) and node.op.axes == tuple(range(len(node.op.axes)))


def _broadcast_gives(shapes, target) -> bool:
    try:
        return broadcast_shapes(*shapes) == tuple(target)
    except ShapeError:
        return False


class MathText(_Printer):
    """pprint of checked roots. ``root_labels`` (one per root) name the roots' lines instead of the usual labels:
    the report's before/after view gives the optimized graph the labels of the graph it came from."""

    def __init__(self, roots: list[Node], root_labels: list[str] | None = None):
        self.roots = roots
        self.order = toposort(roots)
        self.users = consumers(self.order)
        self.several = len(roots) > 1
        self.root_ids = {id(r) for r in roots}
        self.bound = {id(n) for n in self.order if not isinstance(n.op, Leaf) and
                      (len(self.users[id(n)]) > 1 or _named_forward_input(n, self.users[id(n)]))}
        if self.several:
            self.bound |= {id(r) for r in roots if not isinstance(r.op, Leaf)}
        self.adjoints = _whole_adjoints(self.order, self.users)
        self.labels: dict[int, str] = {}
        self.claimed: set[str] = set()
        self.line_labels = self._label(root_labels)
        self.memo: dict[int, Expr] = {}

    # -- labels ----------------------------------------------------------------------------------------------------
    def _needs_label(self, node: Node) -> bool:
        if isinstance(node.op, Leaf):
            return not (isinstance(node, Constant) and node.name is None)
        return id(node) in self.bound

    def _label(self, root_labels) -> list[str]:
        """Give every leaf and let-bound node its name in the text; return the label of each root's line."""
        first: dict[int, int] = {}
        for position, root in enumerate(self.roots):
            first.setdefault(id(root), position)
        given = list(root_labels) if root_labels is not None else [None] * len(self.roots)
        labeled = [n for n in self.order if self._needs_label(n)]
        owned = {id(r): given[p] for p, r in enumerate(self.roots)
                 if first[id(r)] == p and given[p] and not isinstance(r.op, Leaf)}
        self.reserved = {display_name(n.name) for n in labeled if n.name} | {g for g in given if g}
        for node in labeled:  # the labels the caller gave the roots, then the user's names, then generated ones
            if id(node) in owned:
                self.labels[id(node)] = self._unique(owned[id(node)])
        for node in labeled:
            if id(node) not in self.labels and node.name:
                self.labels[id(node)] = self._unique(display_name(node.name))
        for node in labeled:
            if id(node) in self.labels:
                continue
            if isinstance(node.op, Leaf):
                label = self._counted(f"{node.op.kind}_")
            elif id(node) in self.root_ids:
                label = self._free(self._adjoint_label(node)) or self._unique(f"out{first[id(node)]}", True)
            else:
                label = self._free(self._adjoint_label(node)) or self._counted("t")
            self.labels[id(node)] = label
        if not self.several:
            return [None] * len(self.roots)  # one root prints as its bare expression
        lines = []
        for position, root in enumerate(self.roots):
            if first[id(root)] == position and not isinstance(root.op, Leaf):
                lines.append(self.labels[id(root)])
            elif given[position]:
                lines.append(self._unique(given[position]))
            elif first[id(root)] == position:
                lines.append(self._free(self._adjoint_label(root)) or self._unique(f"out{position}", True))
            else:
                lines.append(self._unique(f"out{position}", True))
        return lines

    def _unique(self, name: str, avoid_reserved: bool = False) -> str:
        """``name`` if nobody has it yet (the first node called ``name`` keeps it), else the first of name_2,
        name_3, ... that is neither taken nor another node's own name. ``avoid_reserved``: ``name`` itself must not
        be another node's own name either (a generated label)."""
        candidate, count = name, 1
        while candidate in self.claimed or ((avoid_reserved or count > 1) and candidate in self.reserved):
            count += 1
            candidate = f"{name}_{count}"
        self.claimed.add(candidate)
        return candidate

    def _free(self, name: str | None) -> str | None:
        """``name``, claimed, if nobody has or will have it; else None."""
        if name is None or name in self.claimed or name in self.reserved:
            return None
        self.claimed.add(name)
        return name

    def _counted(self, prefix: str) -> str:
        """The first free ``prefix<k>``, k = 1, 2, ..."""
        k = 1
        while f"{prefix}{k}" in self.claimed or f"{prefix}{k}" in self.reserved:
            k += 1
        self.claimed.add(f"{prefix}{k}")
        return f"{prefix}{k}"

    def _adjoint_label(self, node: Node) -> str | None:
        """``d_<wrt>`` for a result of sg.grad (what was asked for) or the whole adjoint of a reverse pass."""
        origin = gradient_origin(node)
        wrt = origin.wrt if origin is not None else self.adjoints.get(id(node))
        if wrt is None:
            return None
        label = self.labels.get(id(wrt)) or (display_name(wrt.name) if wrt.name else None)
        if label is None or not _DOTTED_NAME.match(label):
            return None
        return "d_" + label.replace(".", "_")

    # -- text ------------------------------------------------------------------------------------------------------
    def sub(self, node: Node) -> Expr:
        return self.memo[id(node)]

    def inline(self, node: Node) -> bool:
        return id(node) not in self.bound

    def leaf(self, node: Node) -> Expr:
        return Expr(self.labels[id(node)])

    def text(self) -> str:
        if not self.roots:
            return ""
        repeats: dict[int, list[int]] = {}
        for position, root in enumerate(self.roots):
            repeats.setdefault(id(root), []).append(position)
        lines = []
        for node in self.order:
            expr = self.express(node)
            if id(node) in self.bound:
                label = self.labels[id(node)]
                lines.append(f"{label} = {expr.text}" if id(node) in self.root_ids else f"let {label} = {expr.text}")
                expr = Expr(label)
            self.memo[id(node)] = expr
            if self.several:
                for position in repeats.get(id(node), ()):
                    if position != repeats[id(node)][0] or isinstance(node.op, Leaf):
                        lines.append(f"{self.line_labels[position]} = {expr.text}")
        if not self.several:
            lines.append(self.memo[id(self.roots[0])].text)
        return "\n".join(lines)


def _named_forward_input(node: Node, users) -> bool:
    """A named forward node that a gradient node reads: the backward equations refer to it by name, as backprop's
    do (d_z = q, not x + y)."""
    return bool(node.name) and node.provenance is None and any(u.provenance is not None for u in users)


def _whole_adjoints(order, users) -> dict[int, Node]:
    """For each node that is the whole adjoint d output / d wrt of a reverse pass, wrt. Among the nodes whose
    provenance names one (output, wrt), the adjoint is the one no other of them consumes; where the graph holds
    several such nodes (contributions whose sum was rewritten away), none is."""
    tops: dict[tuple, list] = {}
    for node in order:
        origin = node.provenance
        if origin is None:
            continue
        key = (id(origin.output), id(origin.wrt))
        if not any(u.provenance is not None and (id(u.provenance.output), id(u.provenance.wrt)) == key
                   for u in users[id(node)]):
            tops.setdefault(key, []).append(node)
    return {id(nodes[0]): nodes[0].provenance.wrt for nodes in tops.values() if len(nodes) == 1}


class InlineText(_Printer):
    """One expression written in place (the before/after view's rewrites): named inputs by their names, op nodes
    deeper than ``depth`` as ``...``."""

    def __init__(self, depth: int = REWRITE_DEPTH):
        self.depth = depth
        self.level = 0

    def sub(self, node: Node) -> Expr:
        self.level += 1
        try:
            return self.express(node)
        finally:
            self.level -= 1

    def inline(self, node: Node) -> bool:
        return True

    def leaf(self, node: Node) -> Expr:
        return Expr(display_name(node.name) if node.name else node.op.kind)

    def express(self, node: Node) -> Expr:
        if not isinstance(node.op, Leaf) and self.level > 0 and node.name:
            return self.leaf(node)  # a named input reads best by its name
        if not isinstance(node.op, Leaf) and self.level >= self.depth:
            return Expr("...")
        return super().express(node)


# -- the rules: how pprint writes each op ---------------------------------------------------------------------------

def _wrap(expr: Expr, needed: bool) -> str:
    return f"({expr.text})" if needed else expr.text


def _left_needs_parentheses(expr: Expr, precedence: int, symbol: str) -> bool:
    if precedence in (POWER, COMPARE):  # ** groups to the right; a chain a < b < c means something else
        return expr.precedence <= precedence
    if precedence == MUL and expr.precedence == MUL:  # a * b / c reads clearly; a / b * c and a @ b * c do not
        return not (expr.operator == symbol or (expr.operator, symbol) == ("*", "/"))
    return expr.precedence < precedence


def _right_needs_parentheses(expr: Expr, precedence: int) -> bool:
    if precedence == POWER:
        return expr.precedence < UNARY  # x ** -y
    return expr.precedence <= precedence


def _infix(left: Expr, symbol: str, right: Expr, precedence: int) -> Expr:
    text = (f"{_wrap(left, _left_needs_parentheses(left, precedence, symbol))} {symbol} "
            f"{_wrap(right, _right_needs_parentheses(right, precedence))}")
    return Expr(text, precedence, symbol)


def _operator(symbol: str, precedence: int, elementwise: bool = True) -> Callable:
    def rule(printer: _Printer, node: Node) -> Expr:
        left, right = printer.operands(node) if elementwise else [printer.sub(i) for i in node.inputs]
        return _infix(left, symbol, right, precedence)

    return rule


def _negation(printer, node):
    operand = printer.sub(node.inputs[0])
    return Expr("-" + _wrap(operand, operand.precedence <= UNARY), UNARY, "-")


def _call(name: str, arguments, keywords: dict | None = None) -> Expr:
    items = list(arguments) + [f"{key}={value}" for key, value in (keywords or {}).items()]
    return Expr(f"{name}({', '.join(items)})")


def _inputs(printer, node, nodes=None) -> list[str]:
    return [printer.sub(i).text for i in (node.inputs if nodes is None else nodes)]


def _function(printer, node):  # exp(x), where(c, a, b), maximum(a, b): elementwise, so broadcasts may be left out
    return _call(node.op.name, [e.text for e in printer.operands(node)])


def _plain_function(printer, node):  # sparse_softmax_cross_entropy(z, y)
    return _call(node.op.name, _inputs(printer, node))


def _cast(printer, node):
    return _call(node.op.dtype.name, _inputs(printer, node))  # float32(n), as NumPy's scalar types convert


def _postfix(printer, node, suffix: str) -> Expr:
    operand = printer.sub(node.inputs[0])
    needed = operand.precedence < ATOM or (suffix == ".T" and operand.operator == "number")  # 2.T is no number
    return Expr(_wrap(operand, needed) + suffix)


def _axes_text(axes) -> str:
    return str(axes[0]) if len(axes) == 1 else repr(tuple(axes))


def _reduction(printer, node):  # sum(x), sum(x, axis=1), mean(x, axis=(0, 2), keepdims=True)
    keywords = {}
    if node.op.axes is not None:
        keywords["axis"] = _axes_text(node.op.axes)
    if node.op.keepdims:
        keywords["keepdims"] = "True"
    return _call(node.op.name, _inputs(printer, node), keywords)


def _arg_reduction(printer, node):  # argmax(x, axis=1)
    keywords = {} if node.op.axis is None else {"axis": str(node.op.axis)}
    if node.op.keepdims:
        keywords["keepdims"] = "True"
    return _call(node.op.name, _inputs(printer, node), keywords)


def _size(printer, node):  # size(x): the run-time element count
    keywords = {} if node.op.axes is None else {"axis": _axes_text(node.op.axes)}
    return _call("size", _inputs(printer, node), keywords)


def _last_axis_call(printer, node):  # softmax(z), softmax(z, axis=0)
    x = node.inputs[0]
    keywords = {} if node.op.axis == x.ndim - 1 else {"axis": str(node.op.axis)}
    return _call(node.op.name, _inputs(printer, node), keywords)


def _transpose(printer, node):  # x.T, transpose(x, (0, 2, 1))
    axes = node.op.axes
    if axes == tuple(reversed(range(len(axes)))):
        return _postfix(printer, node, ".T")
    return _call("transpose", _inputs(printer, node) + [repr(axes)])


def _with_shape(printer, node):  # reshape(x, (2, 3)), broadcast_to(x, (4, 3)), reshape(x, (x.shape[0], -1))
    (x,) = _inputs(printer, node)
    target = node.op.shape
    if None not in target:
        return _call(node.op.name, [x, format_shape(target)])
    if isinstance(node.op, shape.Reshape):
        groups = iter(node.op.kept)
    else:  # broadcast_to: x's axis aligned from the right
        groups = iter((k - (len(target) - node.inputs[0].ndim),) for k, d in enumerate(target) if d is None)
    operand = printer.sub(node.inputs[0])
    if operand.precedence < ATOM or not x.isidentifier():  # no name to read sizes from: the op's own notation
        keywords = {"kept": repr(node.op.kept)} if isinstance(node.op, shape.Reshape) else {}
        return _call(node.op.name, [x, format_shape(target)], keywords)
    entries = [" * ".join(f"{x}.shape[{a}]" for a in next(groups)) if d is None else str(d) for d in target]
    return _call(node.op.name, [x, "(" + ", ".join(entries) + ("," if len(entries) == 1 else "") + ")"])


def _expand_dims(printer, node):  # x[:, None]: NumPy's way of inserting axes
    x = node.inputs[0]
    if isinstance(x, Constant) and x.name is None and printer.inline(x):  # [1.0], not 1.0[None]: a number has no axes
        return Expr(constant_text(np.expand_dims(x.value, node.op.axes)))
    rank = node.ndim
    items = ["None" if axis in node.op.axes else ":" for axis in range(rank)]
    while items and items[-1] == ":":
        items.pop()
    return _postfix(printer, node, "[" + (", ".join(items) if items else "()") + "]")


def _squeeze(printer, node):
    return _call("squeeze", _inputs(printer, node), {"axis": _axes_text(node.op.axes)} if node.op.axes else {})


def _index(printer, node):  # x[1:3, ::2], x[rows, cols]
    arrays = _inputs(printer, node, node.inputs[1:])
    return _postfix(printer, node, _key_text(node.op.template, arrays))


def _index_grad(printer, node):  # zeros_like(x).at[key].add(g): g added at x[key], repeats accumulating (as JAX)
    x, g = _inputs(printer, node, node.inputs[:2])
    arrays = _inputs(printer, node, node.inputs[2:])
    return Expr(f"zeros_like({x}).at{_key_text(node.op.template, arrays)}.add({g})")


def _one_hot(printer, node):
    keywords = {} if node.op.dtype == np.float32 else {"dtype": node.op.dtype.name}
    return _call("one_hot", _inputs(printer, node) + [str(node.op.depth)], keywords)


def _joined(printer, node):  # concatenate([a, b]), stack([a, b], axis=1)
    keywords = {} if node.op.axis == 0 else {"axis": str(node.op.axis)}
    return _call(node.op.name, ["[" + ", ".join(_inputs(printer, node)) + "]"], keywords)


def _concatenate_part(printer, node):  # the slice of g that belongs to input `part` of the concatenation
    g = printer.sub(node.inputs[0]).text
    pieces = "[" + ", ".join(_inputs(printer, node, node.inputs[1:])) + "]"
    return _call("concatenate_part", [g, pieces], {"axis": str(node.op.axis), "part": str(node.op.part)})


def _zeros_like(printer, node):
    keywords = {} if node.op.dtype == node.inputs[0].dtype else {"dtype": node.op.dtype.name}
    return _call("zeros_like", _inputs(printer, node), keywords)


# shape, indexing and creation (issue 15)
def _full_like(printer, node):  # full_like(x, 2.5), full_like(x, 0, shape=(None, 2)): None keeps x's size
    keywords = {} if node.op.dtype == node.inputs[0].dtype else {"dtype": node.op.dtype.name}
    if any(d is not None for d in node.op.shape):
        keywords["shape"] = format_shape(node.op.shape)
    value = constant_text(np.asarray(node.op.value, node.op.dtype))
    return _call("full_like", _inputs(printer, node) + [value], keywords)


def _arange_like(printer, node):  # arange_like(x, axis=1): 0, 1, ..., x.shape[1] - 1
    return _call("arange_like", _inputs(printer, node), {"axis": str(node.op.axis)})


def _diagonal(printer, node):  # diagonal(x), diagonal(x, offset=1, axis1=2, axis2=0), diagonal_grad(x, g)
    op, keywords = node.op, {}
    if op.offset:
        keywords["offset"] = str(op.offset)
    if (op.axis1, op.axis2) != (0, 1):
        keywords.update(axis1=str(op.axis1), axis2=str(op.axis2))
    return _call(op.name, _inputs(printer, node), keywords)


def _values_per_channel(printer, node):
    return _call("values_per_channel", _inputs(printer, node), {"axis": _axes_text(node.op.axes)})


def _random_uniform(printer, node):  # random_uniform(state, like, salt=0): draw number `salt` of its stream
    keywords = {"salt": str(node.op.salt)}
    if node.op.dtype != node.inputs[1].dtype:
        keywords["dtype"] = node.op.dtype.name
    return _call("random_uniform", _inputs(printer, node), keywords)


def _pair_text(pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else repr(tuple(pair))


def _convolution(printer, node):  # conv2d(x, w, stride=2, padding='same'), as the builder is called
    op, keywords = node.op, {}
    if op.stride != (1, 1):
        keywords["stride"] = _pair_text(op.stride)
    if isinstance(op.padding, str):
        keywords["padding"] = repr(op.padding)
    elif op.padding != ((0, 0), (0, 0)):
        symmetric = all(before == after for before, after in op.padding)
        keywords["padding"] = _pair_text([p[0] for p in op.padding]) if symmetric else repr(op.padding)
    if op.dilation != (1, 1):
        keywords["dilation"] = _pair_text(op.dilation)
    return _call(op.name, _inputs(printer, node), keywords)


def _pooling(printer, node):  # max_pool2d(x, 2), avg_pool2d(x, 3, stride=2, padding=1)
    op, keywords = node.op, {}
    if op.stride != op.kernel:
        keywords["stride"] = _pair_text(op.stride)
    if op.padding != (0, 0):
        keywords["padding"] = _pair_text(op.padding)
    return _call(op.name, _inputs(printer, node) + [_pair_text(op.kernel)], keywords)


def _fallback(printer, node):
    """An op without a rule (a user's own): ``name{attributes}(inputs)``."""
    return Expr(f"{op_text(node.op)}({', '.join(_inputs(printer, node))})")


def _custom_call(printer, node):
    """A custom op as the call that built it: ``swish(x, beta=1.5)``."""
    return _call(node.op.name, _inputs(printer, node), {k: repr(v) for k, v in node.op.attributes().items()})


def _graph_op(printer, node):
    """An op from a graph as a call of its inputs (the variables its subgraph reads last), and which output."""
    call = _call(node.op.name, _inputs(printer, node))
    if node.op.definition.single:
        return call
    return Expr(f"{call.text}[{node.op.output}]")


def _gradient_op(printer, node):
    """clip_gradient(x, lo, hi) and scale_gradient(x, k): the builder call."""
    values = [repr(v) for v in node.op.attributes().values()]
    return _call(node.op.name, _inputs(printer, node) + values)


def _collective(printer, node):
    """allreduce(x): the communicator is shown by debugprint's op text (allreduce{comm=world})."""
    return _call(node.op.name, _inputs(printer, node))


def _scan(printer, node):  # cumsum(x, axis=0), cumsum(g, axis=1, reverse=True), linear_recurrence(a, b, axis=0)
    keywords = {"axis": str(node.op.axis)}
    if getattr(node.op, "reverse", False):
        keywords["reverse"] = "True"
    return _call(node.op.name, _inputs(printer, node), keywords)


def _rules() -> dict[type, Callable]:
    rules: dict[type, Callable] = {ew.Neg: _negation}
    rules.update(dict.fromkeys([ew.Abs, ew.Sign, ew.Exp, ew.Log, ew.Log1p, ew.Expm1, ew.Sqrt, ew.Square,
                                ew.Reciprocal, ew.Sin, ew.Cos, ew.Tanh, ew.Sigmoid, ew.Relu, ew.Softplus, ew.Floor,
                                ew.Ceil, ew.StopGradient, ew.Maximum, ew.Minimum, ew.Equal, ew.NotEqual, ew.Where,
                                ew.Tan, ew.Sinh, ew.Cosh, ew.Arcsin, ew.Arccos, ew.Arctan, ew.Arcsinh, ew.Arccosh,
                                ew.Arctanh, ew.Exp2, ew.Log2, ew.Log10, ew.Cbrt, ew.Rsqrt, ew.Logit, ew.Erf, ew.Erfc,
                                ew.Isnan, ew.Isinf, ew.Isfinite, ew.Arctan2, ew.Hypot, ew.Logaddexp, ew.Mod, ew.Fmod,
                                ew.Clip],
                               _function))
    rules.update({ew.Add: _operator("+", ADD), ew.Sub: _operator("-", ADD), ew.Mul: _operator("*", MUL),
                  ew.Div: _operator("/", MUL), ew.Pow: _operator("**", POWER), ew.Less: _operator("<", COMPARE),
                  ew.LessEqual: _operator("<=", COMPARE), ew.Greater: _operator(">", COMPARE),
                  ew.GreaterEqual: _operator(">=", COMPARE), ew.Cast: _cast,
                  linalg.Matmul: _operator("@", MUL, elementwise=False)})
    rules.update(dict.fromkeys([reduce.Sum, reduce.Mean, reduce.Max, reduce.Min, reduce.Prod, nn.LogSumExp],
                               _reduction))
    rules.update({reduce.Argmax: _arg_reduction, reduce.Argmin: _arg_reduction, reduce.Size: _size})
    rules.update({shape.Transpose: _transpose, shape.Reshape: _with_shape, shape.BroadcastTo: _with_shape,
                  shape.ExpandDims: _expand_dims, shape.Squeeze: _squeeze})
    rules.update(dict.fromkeys([shape.ReshapeLike, shape.BroadcastLike, shape.SumTo, nn.SparseSoftmaxCrossEntropy,
                                nn.SoftmaxCrossEntropy, nn.TargetsLike], _plain_function))
    rules.update({indexing.Index: _index, indexing.IndexGrad: _index_grad, indexing.OneHot: _one_hot,
                  indexing.Concatenate: _joined, indexing.Stack: _joined,
                  indexing.ConcatenatePart: _concatenate_part, indexing.ZerosLike: _zeros_like})
    rules.update({nn.Softmax: _last_axis_call, nn.LogSoftmax: _last_axis_call,
                  nn.ValuesPerChannel: _values_per_channel, random.RandomUniform: _random_uniform})
    rules.update(dict.fromkeys([conv.Conv2d, conv.Conv2dBackpropInput, conv.Conv2dBackpropFilter], _convolution))
    rules.update(dict.fromkeys([conv.MaxPool2d, conv.MaxPool2dGrad, conv.MaxPool2dGather, conv.AvgPool2d,
                                conv.AvgPool2dGrad], _pooling))
    rules.update({custom.CustomOp: _custom_call, custom.GraphOp: _graph_op, gradient.ClipGradient: _gradient_op,
                  gradient.ScaleGradient: _gradient_op, collective.AllReduce: _collective})
    # shape, indexing and creation (issue 15)
    rules.update({arrays.FullLike: _full_like, arrays.ArangeLike: _arange_like, arrays.Diagonal: _diagonal,
                  arrays.DiagonalGrad: _diagonal})
    # reductions and products (issue 15)
    rules.update({reduce.All: _reduction, reduce.Any: _reduction, scan.Cumsum: _scan, scan.Cumprod: _scan,
                  scan.LinearRecurrence: _scan})
    return rules


RULES: dict[type, Callable] = _rules()  # op class -> rule(printer, node) -> Expr


# -- the optimizer report's before/after view -----------------------------------------------------------------------

STYLES = ("pprint", "debugprint")


def before_after_text(report, style: str = "pprint") -> str:
    """What ``Report.before_after`` returns: the graph given to sg.optimize and the optimized graph, as pprint (the
    optimized roots keep the labels of the roots they came from) or debugprint text, then each rewrite in the order
    it fired, as ``[pass] rule: before -> after  at file:line`` (the pass name is the one ``passes=`` takes)."""
    if not isinstance(style, str) or style not in STYLES:
        error = ValueError if isinstance(style, str) else TypeError
        raise error(f"Report.before_after: style must be 'pprint' or 'debugprint', got {type(style).__name__} "
                    f"{style!r:.60}\n  at {user_site()}")
    before, after = list(report.outputs_before), list(report.outputs_after)
    if style == "pprint":
        before_text = MathText(before)
        before_view = before_text.text()
        after_view = MathText(after, before_text.line_labels if len(after) == len(before) else None).text()
    else:
        before_view, after_view = tree_text(before).rstrip("\n"), tree_text(after).rstrip("\n")
    sections = [f"before ({_nodes(report.nodes_before)}):", _indented(before_view), "",
                f"after ({_nodes(report.nodes_after)}):", _indented(after_view), "",
                f"rewrites ({len(report.rewrites)}):"]
    for pass_report in report.passes:
        sections += [f"  [{pass_report.name}] {_rewrite_text(rewrite)}" for rewrite in pass_report.rewrites]
    return "\n".join(sections)


def _nodes(count: int) -> str:
    return f"{count} node" + ("" if count == 1 else "s")


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.split("\n"))


def _rewrite_text(rewrite) -> str:
    if rewrite.before_node is None or rewrite.after_node is None:  # a Rewrite made by hand: its descriptions
        return str(rewrite)
    writer = InlineText()
    before = writer.express(rewrite.before_node)
    # a rule that returns a part of the node it rewrote (x * 1 -> x) reads best with that part as the node shows it
    reused = any(n is rewrite.after_node for n in toposort([rewrite.before_node]))
    after = writer.sub(rewrite.after_node) if reused else writer.express(rewrite.after_node)
    return f"{rewrite.rule}: {before.text} -> {after.text}  at {short_site(rewrite.before_node.site)}"
