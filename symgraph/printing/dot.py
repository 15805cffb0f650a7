"""Graphs as networkx graphs and as Graphviz DOT text: ``sg.to_networkx`` and ``sg.to_dot``.

Both name a graph's nodes by the same short keys: ``n0, n1, ...`` in the order of ``sg.toposort(outputs)`` (inputs
before their consumers), so a graph drawn twice, or drawn and exported, gets the same keys. The DOT text is written
here, without Graphviz; ``symgraph.printing.render`` turns it into pictures and pages.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

import numpy as np

from symgraph.graph import Constant, Leaf, Node, _output_list, format_shape, toposort, user_site
from symgraph.passes.merge import constant_key
from symgraph.passes.report import Report

# Fill and border colours: forward nodes blue, gradient nodes orange; highlighted nodes get a thick red border.
FORWARD_COLOURS = ("#dbe8f6", "#3b6ea5")
GRADIENT_COLOURS = ("#fde3c8", "#c0602b")
HIGHLIGHT_COLOUR = "#d62728"
# Leaves by shape (the colour still tells forward from gradient); every op node is an ellipse.
LEAF_SHAPES = {"variable": "box", "placeholder": "invhouse", "constant": "note"}
OP_SHAPE = "ellipse"
MAX_LABEL = 40  # characters of an op's text or a name in a picture's label; the tooltip has them whole


def node_keys(order, prefix: str = "n") -> dict[int, str]:
    """The short key of each node of ``order`` (a toposort), by node id: ``n0``, ``n1``, ... in schedule order."""
    return {id(node): f"{prefix}{position}" for position, node in enumerate(order)}


def kind(node: Node) -> str:
    """A node's kind: "gradient" when a reverse pass built it (it has a provenance), else "forward"."""
    return "forward" if node.provenance is None else "gradient"


def op_attributes(node: Node) -> dict:
    """The op's attributes; a leaf's kind is its op, not an attribute."""
    return {} if isinstance(node.op, Leaf) else node.op.attributes()


def op_text(node: Node) -> str:
    """The op with its attributes as a reader writes them: ``sum{axes=(1,), keepdims=False}``, ``cast{dtype=int64}``."""
    attributes = ", ".join(f"{key}={_attribute_text(value)}" for key, value in op_attributes(node).items())
    return f"{node.op.name}{{{attributes}}}" if attributes else node.op.name


def _attribute_text(value) -> str:
    return value.name if isinstance(value, np.dtype) else repr(value)


# -- networkx -----------------------------------------------------------------------------------------------------

def to_networkx(nodes):
    """The graph of ``nodes`` (a node or a list) and everything they depend on, as a ``networkx.DiGraph``.

    Node keys are the short keys ``n0, n1, ...`` (toposort order); each node has the attributes ``node`` (the symgraph
    node itself), ``op`` (its name), ``attributes`` (the op's, a dict), ``shape`` (a tuple, None for an unknown
    size), ``dtype`` (its name), ``name``, ``site`` ("file:line"), ``kind`` ("forward" or "gradient") and
    ``provenance`` (its text for gradient nodes, None for forward ones). Edges run from an input to its consumer and
    carry ``positions``, the input positions it fills (``x * x`` fills two: a DiGraph keeps one edge per pair),
    ``position`` (the first of them) and ``shape`` (the input's). ``graph.graph["outputs"]`` lists the outputs' keys.
    """
    import networkx as nx

    outputs = _output_list(nodes, "sg.to_networkx")
    order = toposort(outputs)
    keys = node_keys(order)
    graph = nx.DiGraph(outputs=[keys[id(node)] for node in outputs])
    for node in order:
        graph.add_node(keys[id(node)], node=node, op=node.op.name, attributes=op_attributes(node), shape=node.shape,
                       dtype=node.dtype.name, name=node.name, site=str(node.site), kind=kind(node),
                       provenance=None if node.provenance is None else str(node.provenance))
    for node in order:
        for position, child in enumerate(node.inputs):
            edge = (keys[id(child)], keys[id(node)])
            if graph.has_edge(*edge):
                graph.edges[edge]["positions"].append(position)
            else:
                graph.add_edge(*edge, position=position, positions=[position], shape=child.shape)
    return graph


# -- DOT ----------------------------------------------------------------------------------------------------------

def to_dot(nodes, highlight=None) -> str:
    """Graphviz DOT text of the graph of ``nodes`` (a node or a list), or of an ``sg.optimize`` report.

    Forward nodes are blue, gradient nodes orange; variables are boxes, placeholders inverted houses, constants notes
    and ops ellipses; outputs have a double border and ``highlight`` nodes (a node or a list) a thick red one. Labels
    give the op, name and shape; edges the shape of the value they carry (and its input position when the consumer
    has several); each node's tooltip has its op, shape, dtype, user line and gradient provenance. A report draws the
    graph before and after side by side, with the nodes the rewrites removed and the nodes they built highlighted
    (``highlight`` then replaces that choice).
    """
    return drawing(nodes, highlight, "sg.to_dot").dot


class Drawing(NamedTuple):
    """What a picture is made of: the DOT text, the tooltip of each node and edge by its id in Graphviz's SVG (node
    keys, and ``e_<input key>_<consumer key>_<position>`` for edges), and a title for pages."""

    dot: str
    tooltips: dict
    title: str


def drawing(nodes, highlight, caller: str) -> Drawing:
    """The drawing of ``nodes`` (a node, a list or a report) for ``caller`` (the public function errors name)."""
    if isinstance(nodes, Report):
        return _report_drawing(nodes, highlight, caller)
    outputs = _output_list(nodes, caller)
    order = toposort(outputs)
    emphasized = _highlighted(highlight, order, caller)
    tooltips: dict[str, str] = {}
    lines = _header("symgraph")
    lines += _statements(order, outputs, emphasized, node_keys(order), {}, tooltips, indent="  ")
    title = "symgraph graph of " + ", ".join(printable(_shortened(node.name or node.op.name)) for node in outputs[:6])
    title += ", ..." if len(outputs) > 6 else ""
    return Drawing("\n".join(lines + ["}", ""]), tooltips, title)


def _header(graph_name: str) -> list[str]:
    return [
        f"digraph {graph_name} {{",
        '  graph [rankdir=TB, fontname="Helvetica", fontsize=12, nodesep=0.3, ranksep=0.35];',
        '  node [style=filled, fontname="Helvetica", fontsize=10, margin="0.08,0.03", penwidth=1];',
        '  edge [fontname="Helvetica", fontsize=8, color="#666666", fontcolor="#444444", arrowsize=0.7];',
    ]


def _statements(order, outputs, emphasized: set, keys: dict, notes: dict, tooltips: dict, indent: str) -> list[str]:
    """One statement per node, then one edge per input position (x * x draws two edges); fills ``tooltips``."""
    output_ids = {id(node) for node in outputs}
    lines = []
    for node in order:
        key = keys[id(node)]
        fill, border = GRADIENT_COLOURS if node.provenance is not None else FORWARD_COLOURS
        tooltips[key] = printable("\n".join(_tooltip_lines(node, key, notes.get(id(node)))))
        attributes = {
            "id": key,
            "label": "\\n".join(_escape(line) for line in _label_lines(node)),
            "tooltip": _escape(tooltips[key]),
            "shape": LEAF_SHAPES.get(node.op.name, OP_SHAPE) if isinstance(node.op, Leaf) else OP_SHAPE,
            "fillcolor": fill,
            "color": border,
        }
        if id(node) in emphasized:
            attributes.update(color=HIGHLIGHT_COLOUR, penwidth="3")
        if id(node) in output_ids:
            attributes["peripheries"] = "2"
        lines.append(f"{indent}{key} [{_attribute_list(attributes)}];")
    for node in order:
        for position, child in enumerate(node.inputs):
            source, target, shape = keys[id(child)], keys[id(node)], format_shape(child.shape)
            edge_id = f"e_{source}_{target}_{position}"
            tooltips[edge_id] = f"{source} -> {target}: input {position} of {node.op.name}, {shape} {child.dtype.name}"
            edge = {"id": edge_id, "label": _escape(f"{position}: {shape}" if len(node.inputs) > 1 else shape),
                    "tooltip": _escape(tooltips[edge_id])}
            lines.append(f"{indent}{source} -> {target} [{_attribute_list(edge)}];")
    return lines


def _attribute_list(attributes: dict) -> str:
    """Attribute values are already escaped DOT text; each is quoted."""
    return ", ".join(f'{name}="{value}"' for name, value in attributes.items())


def _label_lines(node: Node) -> list[str]:
    first = op_text(node)
    if isinstance(node, Constant) and node.value.size == 1:
        first = f"constant {_scalar_text(node.value)}"
    lines = [_shortened(first)]
    if node.name:
        lines.append(_shortened(node.name))
    lines.append(format_shape(node.shape))
    return lines


def _tooltip_lines(node: Node, key: str, note: str | None) -> list[str]:
    lines = [op_text(node) + (f" {node.name!r}" if node.name else ""),
             f"shape {format_shape(node.shape)}, {node.dtype.name}"]
    if isinstance(node, Constant):
        lines.append("value " + (_scalar_text(node.value) if node.value.size == 1 else
                                 np.array2string(node.value, threshold=12, edgeitems=2, precision=4)))
    lines.append(f"created at {node.site}")
    if node.provenance is not None:
        lines.append(f"gradient: {node.provenance}")
    if note:
        lines.append(note)
    lines.append(f"key {key}")
    return lines


def _scalar_text(value: np.ndarray) -> str:
    item = value.reshape(-1)[0].item()
    return f"{item:.6g}" if isinstance(item, float) else str(item)


def _shortened(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "\u2026"


def _escape(text: str) -> str:
    """``text`` as the inside of a quoted DOT string that Graphviz shows literally.

    Backslashes are doubled (Graphviz reads ``\\N``, ``\\l`` ... as escapes), quotes escaped, ``&`` written as an
    entity (Graphviz reads ``&amp;`` and ``&#945;`` as characters), a newline becomes a line break, and the rest is
    ``printable``, so no name can end a string or a statement. ``<`` and ``>`` need nothing in a quoted string:
    Graphviz escapes them in SVG. (Graphviz 2.43 unescapes tooltips twice, so a backslash in a tooltip comes out lost
    or as a node's key: the SVG that ``sg.render`` writes sets the tooltips itself, from ``Drawing.tooltips``.)
    """
    escaped = printable(text).replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")
    return escaped.replace("\n", "\\n")


def printable(text: str) -> str:
    """``text`` with line breaks as newlines, and other control characters and lone surrogates (which XML and UTF-8
    cannot hold) as Python writes them in a string literal (``\\x00``, ``\\ud800``)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(repr(character)[1:-1] if character != "\n" and unicodedata.category(character) in ("Cc", "Cs")
                   else character for character in text)


def _highlighted(highlight, order, caller: str) -> set:
    """The ids of the ``highlight`` nodes (a node, a list or None), each of which must be drawn."""
    if highlight is None:
        return set()
    chosen = _output_list(highlight, f"{caller}'s highlight")
    drawn = {id(node) for node in order}
    for node in chosen:
        if id(node) not in drawn:
            raise ValueError(f"{caller}: highlight must be nodes of the graph being drawn, but {node.describe()} is "
                             f"not one of them\n  at {user_site()}")
    return {id(node) for node in chosen}


# -- an optimization, before and after ----------------------------------------------------------------------------

def _report_drawing(report: Report, highlight, caller: str) -> Drawing:
    """The graphs before and after ``sg.optimize`` side by side, as two clusters of one picture."""
    before_outputs, after_outputs = list(report.outputs_before), list(report.outputs_after)
    if not before_outputs:
        raise ValueError(f"{caller}: this report holds no graphs (report.outputs_before is empty): draw the report "
                         f"that sg.optimize returned\n  at {user_site()}")
    before, after = toposort(before_outputs), toposort(after_outputs)
    removed, new = rewritten_nodes(before_outputs, after_outputs)
    emphasized = removed | new if highlight is None else _highlighted(highlight, before + after, caller)
    notes = {**{node_id: "removed by sg.optimize" for node_id in removed},
             **{node_id: "built by sg.optimize" for node_id in new}}
    rules = ", ".join(f"{rule} x{count}" for rule, count in report.rule_counts.most_common())
    titles = (f"before: {len(before)} nodes ({len(removed)} removed)",
              f"after: {len(after)} nodes ({len(new)} new); {len(report.rewrites)} rewrites" +
              (f": {rules}" if rules else ""))
    tooltips: dict[str, str] = {}
    lines = _header("symgraph_optimization")
    for side, outputs, order, title in (("before", before_outputs, before, titles[0]),
                                        ("after", after_outputs, after, titles[1])):
        lines += [f"  subgraph cluster_{side} {{", f'    label="{_escape(title)}";', '    color="#999999";']
        lines += _statements(order, outputs, emphasized, node_keys(order, f"{side}_n"), notes, tooltips, "    ")
        lines.append("  }")
    return Drawing("\n".join(lines + ["}", ""]), tooltips, "sg.optimize: the graph before and after")


def rewritten_nodes(before_outputs, after_outputs) -> tuple[set, set]:
    """(ids of the nodes before the optimization that it removed, ids of the nodes after it that it built).

    Rewriting rebuilds every consumer of a replaced node, so identity alone would call the whole path from a rewrite
    to the outputs new. Nodes after are paired with nodes before, each at most once, by three rules in turn:

    1. the same node;
    2. counterparts: the outputs before and after pair up in order, and a pair with the same op (and like leaves)
       pairs up its inputs in turn, so a rewrite's result meets the node it replaced, whose op differs;
    3. like nodes: equal constants, or the same op with like inputs and implied updates (as the merge pass compares).

    The nodes after left unpaired are new; those before left unpaired were removed (a merged duplicate among them).
    """
    before, after = toposort(before_outputs), toposort(after_outputs)
    class_of: dict[int, int] = {}  # node id -> the id of its class of like nodes
    classes: dict[tuple, int] = {}
    for node in before + after:
        if id(node) not in class_of:
            class_of[id(node)] = classes.setdefault(_comparison_key(node, class_of), len(classes))
    partner: dict[int, Node] = {}  # id of a node after -> the node before it is paired with
    paired_before: set = set()

    def pair(node_after: Node, node_before: Node) -> None:
        partner[id(node_after)] = node_before
        paired_before.add(id(node_before))

    before_ids = {id(node) for node in before}
    for node in after:
        if id(node) in before_ids:
            pair(node, node)
    pending = list(zip(after_outputs, before_outputs))
    while pending:
        node_after, node_before = pending.pop()
        if id(node_after) in partner or id(node_before) in paired_before or node_after.op != node_before.op \
                or len(node_after.inputs) != len(node_before.inputs) \
                or (not node_after.inputs and class_of[id(node_after)] != class_of[id(node_before)]):
            continue
        pair(node_after, node_before)
        pending.extend(zip(node_after.inputs, node_before.inputs))
    unpaired: dict[int, list] = {}  # class -> nodes before not yet paired, in schedule order
    for node in before:
        if id(node) not in paired_before:
            unpaired.setdefault(class_of[id(node)], []).append(node)
    for node in after:
        if id(node) not in partner and unpaired.get(class_of[id(node)]):
            pair(node, unpaired[class_of[id(node)]].pop(0))
    return ({id(node) for node in before if id(node) not in paired_before},
            {id(node) for node in after if id(node) not in partner})


def _comparison_key(node: Node, class_of: dict) -> tuple:
    if isinstance(node, Constant):
        return constant_key(node)
    if not node.inputs:
        return ("leaf", id(node))  # variables and placeholders are distinct by identity
    return (node.op, tuple(class_of[id(i)] for i in node.inputs),
            tuple((id(v), class_of.get(id(e), ("unseen", id(e)))) for v, e in node.implied_updates))
