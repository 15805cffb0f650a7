"""Graphs as networkx graphs, DOT text, pictures and pages: sg.to_networkx, sg.to_dot, sg.render, sg.graph_view.

The DOT text is checked by parsing it (pydot) and against the graph itself; pictures are checked by reading what
Graphviz drew (the SVG's elements and texts, the PNG's pixels) and what headless Chromium shows of the HTML page.
Tests that need Graphviz's dot or Chromium skip, saying so, where these programs are missing.
"""

import os
import re
import shutil
import struct
import subprocess
import warnings
import xml.etree.ElementTree as ElementTree
import zlib

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import format_shape, toposort
from symgraph.printing.dot import Drawing

SVG = "{http://www.w3.org/2000/svg}"
FORWARD_FILL, GRADIENT_FILL, HIGHLIGHT = "#dbe8f6", "#fde3c8", "#d62728"
HOSTILE = 'a"b\\N\\"]; n0 -> n1 [label="x\n<script>alert(1)</script> &amp; \x00 \ud800'
# Names shorter than a label's limit, and what Graphviz must show of them, line by line: everything literally, the
# line break as one, the NUL and the lone surrogate as Python escapes
HOSTILE_NAMES = ('a"b\\N\\"]; n0 -> n1 [x="\\', '<s>&amp;&#945;\x00\ud800\r\nz')
HOSTILE_LINES = (['a"b\\N\\"]; n0 -> n1 [x="\\'], ["<s>&amp;&#945;\\x00\\ud800", "z"])

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot program is not installed (apt install graphviz)")
CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)


def _logistic():
    """The logistic unit with its gradients: placeholders, a variable, constants, forward and gradient nodes."""
    x = sg.placeholder((None, 3), name="x")
    y = sg.placeholder((None, 1), name="y")
    W = sg.variable(np.ones((3, 1), np.float32), name="W")
    p = sg.sigmoid(x @ W + 0.5, name="p")
    cost = sg.mean(sg.square(p - y), name="cost")
    dW = sg.grad(cost, W)
    return x, y, W, p, cost, dW


def _statements(dot: str) -> dict:
    """Each node statement of DOT text written by to_dot: key -> its attribute text."""
    return dict(re.findall(r"^\s*(\w+) \[(.*)\];$", dot, re.M))


def _attribute(statement: str, name: str) -> str | None:
    match = re.search(rf'(?:^|, ){name}="((?:[^"\\]|\\.)*)"', statement)
    return match.group(1) if match else None


def _pydot_graph(dot: str):
    pydot = pytest.importorskip("pydot", reason="pydot (in the test extra) parses the DOT text")
    with warnings.catch_warnings():  # pydot's parser uses pyparsing names that pyparsing 3.3 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        graphs = pydot.graph_from_dot_data(dot)
    assert graphs is not None and len(graphs) == 1
    return graphs[0]


def _pydot_nodes(graph) -> list:
    """Node statements of a pydot graph and its clusters, without the node/edge/graph default statements."""
    nodes = [n for n in graph.get_nodes() if n.get_name() not in ("node", "edge", "graph")]
    for subgraph in graph.get_subgraphs():
        nodes += _pydot_nodes(subgraph)
    return nodes


# -- DOT text -----------------------------------------------------------------------------------------------------

def test_dot_parses_with_every_node_once_and_one_edge_per_input():
    *_, cost, dW = _logistic()
    order = toposort([cost, dW])
    dot = sg.to_dot([cost, dW])
    graph = _pydot_graph(dot)
    names = [node.get_name() for node in _pydot_nodes(graph)]
    assert sorted(names) == sorted(f"n{k}" for k in range(len(order)))  # each exactly once
    index = {id(node): k for k, node in enumerate(order)}
    expected_edges = sorted((f"n{index[id(i)]}", f"n{index[id(node)]}") for node in order for i in node.inputs)
    assert sorted((e.get_source(), e.get_destination()) for e in graph.get_edges()) == expected_edges


def test_node_keys_follow_toposort_and_name_the_same_nodes_each_time():
    *_, cost, dW = _logistic()
    order = toposort([cost, dW])
    first, second = sg.to_dot([cost, dW]), sg.to_dot([cost, dW])
    assert first == second
    statements = _statements(first)
    for k, node in enumerate(order):
        assert f"key n{k}" in _attribute(statements[f"n{k}"], "tooltip")
        assert _attribute(statements[f"n{k}"], "label").split("\\n")[-1] == format_shape(node.shape)


def test_forward_and_gradient_nodes_have_their_colours():
    *_, cost, dW = _logistic()
    forward = toposort([cost])
    forward_ids = {id(n) for n in forward}
    built_by_grad = [n for n in toposort([dW]) if n.inputs and id(n) not in forward_ids]
    statements = _statements(sg.to_dot([cost, dW]))
    keys = {id(node): f"n{k}" for k, node in enumerate(toposort([cost, dW]))}
    assert built_by_grad
    for node in forward:
        assert _attribute(statements[keys[id(node)]], "fillcolor") == FORWARD_FILL
    for node in built_by_grad:
        assert _attribute(statements[keys[id(node)]], "fillcolor") == GRADIENT_FILL


def test_leaves_have_their_own_shapes_and_outputs_a_double_border():
    x, y, W, p, cost, dW = _logistic()
    order = toposort([cost, dW])
    statements = _statements(sg.to_dot([cost, dW]))
    shapes = {}
    for k, node in enumerate(order):
        shapes.setdefault(node.op.name if not node.inputs else "op", set()).add(
            _attribute(statements[f"n{k}"], "shape"))
        expected_peripheries = "2" if node is cost or node is dW else None
        assert _attribute(statements[f"n{k}"], "peripheries") == expected_peripheries
    assert shapes == {"placeholder": {"invhouse"}, "variable": {"box"}, "constant": {"note"}, "op": {"ellipse"}}


def test_edges_are_labelled_with_shapes_and_positions_of_several_inputs():
    x = sg.placeholder((None, 3), name="x")
    W = sg.variable(np.ones((3, 2), np.float32), name="W")
    h = sg.sigmoid(x @ W)
    square = h * h
    graph = _pydot_graph(sg.to_dot(square))
    labels = sorted((e.get_source(), e.get_destination(), e.get_attributes()["label"].strip('"'))
                    for e in graph.get_edges())
    # x n0, W n1, matmul n2, sigmoid n3, mul n4; h * h draws two edges, one per input position
    assert labels == [("n0", "n2", "0: (None, 3)"), ("n1", "n2", "1: (3, 2)"), ("n2", "n3", "(None, 2)"),
                      ("n3", "n4", "0: (None, 2)"), ("n3", "n4", "1: (None, 2)")]


def test_labels_give_op_name_shape_and_scalar_constants_their_value():
    x = sg.placeholder((2,), name="x")
    total = sg.sum(x * 2.5, axis=0, name="total")
    statements = _statements(sg.to_dot(total))
    labels = [_attribute(statements[f"n{k}"], "label") for k in range(4)]
    assert labels == ["placeholder\\nx\\n(2,)", "constant 2.5\\n()", "mul\\n(2,)",
                      "sum{axes=(0,), keepdims=False}\\ntotal\\n()"]


def test_tooltips_give_op_shape_dtype_line_and_provenance():
    x, y, W, p, cost, dW = _logistic()
    order = toposort([cost, dW])
    statements = _statements(sg.to_dot([cost, dW]))
    k = order.index(dW)
    tooltip = _attribute(statements[f"n{k}"], "tooltip").split("\\n")
    assert tooltip[:3] == ["matmul", "shape (3, 1), float32", f"created at {dW.site}"]
    assert tooltip[3] == "gradient: " + str(dW.provenance)
    assert f"{__file__}:" in tooltip[2]
    k = order.index(p)
    assert _attribute(statements[f"n{k}"], "tooltip").split("\\n") == [
        "sigmoid 'p'", "shape (None, 1), float32", f"created at {p.site}", f"key n{k}"]


def test_highlight_emphasizes_exactly_the_given_nodes():
    x, y, W, p, cost, dW = _logistic()
    order = toposort([cost, dW])
    for highlight, chosen in ((dW, [dW]), ([p, W], [p, W]), (None, [])):
        statements = _statements(sg.to_dot([cost, dW], highlight=highlight))
        emphasized = {key for key, statement in statements.items() if _attribute(statement, "color") == HIGHLIGHT}
        assert emphasized == {f"n{order.index(node)}" for node in chosen}
        assert all(_attribute(statements[key], "penwidth") == "3" for key in emphasized)


def test_hostile_names_cannot_break_the_dot():
    x = sg.placeholder((2,), name=HOSTILE)
    out = sg.exp(x, name=HOSTILE)
    dot = sg.to_dot(out)
    assert len(dot.splitlines()) == 4 + 2 + 1 + 1  # header, two nodes, one edge, "}": no raw line break got in
    assert "\x00" not in dot and "\ud800" not in dot
    dot.encode("utf-8")  # no lone surrogate left
    graph = _pydot_graph(dot)
    assert sorted(n.get_name() for n in _pydot_nodes(graph)) == ["n0", "n1"]
    assert [(e.get_source(), e.get_destination()) for e in graph.get_edges()] == [("n0", "n1")]


@needs_dot
def test_hostile_names_are_drawn_literally(tmp_path):
    x = sg.placeholder((2,), name=HOSTILE_NAMES[0])
    out = sg.exp(x, name=HOSTILE_NAMES[1])
    root = ElementTree.parse(sg.render(out, tmp_path / "hostile.svg")).getroot()
    groups = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    assert [g.get("id") for g in groups] == ["n0", "n1"]
    for group, op, lines, name in zip(groups, ("placeholder", "exp"), HOSTILE_LINES, HOSTILE_NAMES):
        assert [t.text for t in group.iter(f"{SVG}text")] == [op, *lines, "(2,)"]
        assert group.find(f"{SVG}title").text.split("\n")[0] == f"{op} {name!r}"  # the tooltip names it whole


@needs_dot
def test_long_names_are_shortened_in_labels_and_whole_in_tooltips(tmp_path):
    name = "w" * 100
    root = ElementTree.parse(sg.render(sg.placeholder((2,), name=name), tmp_path / "long.svg")).getroot()
    group = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "node")
    assert [t.text for t in group.iter(f"{SVG}text")] == ["placeholder", "w" * 39 + "\u2026", "(2,)"]
    assert group.find(f"{SVG}title").text.split("\n")[0] == f"placeholder {name!r}"


# -- networkx -----------------------------------------------------------------------------------------------------

def test_to_networkx_has_every_node_with_its_attributes():
    nx = pytest.importorskip("networkx")
    x, y, W, p, cost, dW = _logistic()
    order = toposort([cost, dW])
    graph = sg.to_networkx([cost, dW])
    assert isinstance(graph, nx.DiGraph) and nx.is_directed_acyclic_graph(graph)
    assert graph.number_of_nodes() == len(order)
    assert graph.graph["outputs"] == [f"n{order.index(cost)}", f"n{order.index(dW)}"]
    for k, node in enumerate(order):
        data = graph.nodes[f"n{k}"]
        assert data["node"] is node and data["op"] == node.op.name and data["shape"] == node.shape
        assert data["dtype"] == node.dtype.name and data["name"] == node.name and data["site"] == str(node.site)
        assert data["kind"] == ("forward" if node.provenance is None else "gradient")
        assert data["provenance"] == (None if node.provenance is None else str(node.provenance))
    assert graph.nodes[f"n{order.index(p)}"]["kind"] == "forward"
    assert graph.nodes[f"n{order.index(dW)}"]["kind"] == "gradient"
    assert "d cost / d W through matmul" in graph.nodes[f"n{order.index(dW)}"]["provenance"]
    mean = graph.nodes[f"n{order.index(cost)}"]
    assert mean["attributes"] == {"axes": None, "keepdims": False}
    assert graph.nodes[f"n{order.index(W)}"]["attributes"] == {}


def test_to_networkx_edges_carry_every_input_position():
    x = sg.placeholder((3,), name="x")
    c = sg.constant(np.float32(2.0))
    out = sg.sub(x * x, sg.pow(x, c))  # x fills both positions of mul and position 0 of pow
    graph = sg.to_networkx(out)
    order = toposort([out])
    key = {id(node): f"n{k}" for k, node in enumerate(order)}
    mul, power = out.inputs
    assert graph.edges[key[id(x)], key[id(mul)]]["positions"] == [0, 1]
    assert graph.edges[key[id(x)], key[id(mul)]]["position"] == 0
    assert graph.edges[key[id(c)], key[id(power)]]["positions"] == [1]
    assert graph.edges[key[id(power)], key[id(out)]]["positions"] == [1]
    assert graph.edges[key[id(x)], key[id(mul)]]["shape"] == (3,)
    assert graph.number_of_edges() == 5  # x->mul, x->pow, c->pow, mul->sub, pow->sub
    positions = sorted((u, v, p) for u, v, data in graph.edges(data=True) for p in data["positions"])
    assert positions == sorted((key[id(i)], key[id(n)], p) for n in order for p, i in enumerate(n.inputs))


def test_to_networkx_matches_toposort_for_an_mlp_gradient():
    nx = pytest.importorskip("networkx")
    x = sg.placeholder((None, 4), name="x")
    labels = sg.placeholder((None,), "int64", name="labels")
    W1 = sg.variable(np.ones((4, 8), np.float32), name="W1")
    W2 = sg.variable(np.ones((8, 3), np.float32), name="W2")
    logits = sg.relu(x @ W1) @ W2
    cost = sg.nn.softmax_cross_entropy(logits, sg.one_hot(labels, 3), name="cost")
    grads = sg.grad(cost, [W1, W2])
    graph = sg.to_networkx([cost, *grads])
    assert nx.is_directed_acyclic_graph(graph)
    assert graph.number_of_nodes() == len(toposort([cost, *grads]))
    order = [graph.nodes[key]["node"] for key in nx.topological_sort(graph)]
    position = {id(node): k for k, node in enumerate(order)}
    assert all(position[id(i)] < position[id(n)] for n in order for i in n.inputs)


# -- errors -------------------------------------------------------------------------------------------------------

def test_bad_inputs_raise_naming_the_function_and_the_line():
    x, y, W, p, cost, dW = _logistic()
    other = sg.placeholder((2,), name="other")
    with pytest.raises(TypeError, match=r"sg.to_dot takes a node or a list of nodes, got int"):
        sg.to_dot(3)
    with pytest.raises(TypeError, match=r"sg.to_networkx takes a node or a list of nodes, but item 1 is str"):
        sg.to_networkx([cost, "dW"])
    with pytest.raises(ValueError, match=r"sg.to_dot: highlight must be nodes of the graph being drawn, but "
                                         r"placeholder node 'other' \(shape \(2,\), float32\) created at .*"
                                         + re.escape(os.path.basename(__file__))) as error:
        sg.to_dot(cost, highlight=other)
    assert f"at {__file__}:" in str(error.value).splitlines()[-1]
    with pytest.raises(TypeError, match=r"sg.to_dot's highlight takes a node or a list of nodes, got str"):
        sg.to_dot(cost, highlight="p")
    with pytest.raises(ValueError, match=r"sg.render: cannot tell the format of 'graph.jpeg': the file name must "
                                         r"end in .svg, .png, .pdf, .html, .dot"):
        sg.render(cost, "graph.jpeg")
    with pytest.raises(ValueError, match=r"sg.render: cannot tell the format of 'graph'"):
        sg.render(cost, "graph")
    with pytest.raises(TypeError, match=r"sg.render: path must be a str or os.PathLike, got int 7"):
        sg.render(cost, 7)
    with pytest.raises(TypeError, match=r"sg.graph_view takes a node or a list of nodes"):
        sg.graph_view({"cost": cost})
    with pytest.raises(ValueError, match=r"sg.to_dot: this report holds no graphs"):
        sg.to_dot(sg.passes.report.Report())


def test_without_dot_pictures_say_how_to_install_graphviz(tmp_path, monkeypatch):
    *_, cost, dW = _logistic()
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on it
    for extension in (".svg", ".png", ".pdf", ".html"):
        with pytest.raises(sg.GraphvizError) as error:
            sg.render([cost, dW], tmp_path / f"graph{extension}")
        message = str(error.value)
        assert message.startswith(f"sg.render: drawing {'SVG' if extension == '.html' else extension[1:].upper()} "
                                   "needs Graphviz's `dot` program, which is not on PATH")
        for hint in ("apt install graphviz", "conda install -c conda-forge graphviz", "brew install graphviz"):
            assert hint in message
        assert message.splitlines()[-1].startswith(f"  at {__file__}:")
        assert not (tmp_path / f"graph{extension}").exists()
    assert isinstance(error.value, RuntimeError)
    written = sg.render([cost, dW], tmp_path / "graph.dot")  # DOT text needs no Graphviz
    with open(written, encoding="utf-8") as file:
        assert file.read() == sg.to_dot([cost, dW])
    view = sg.graph_view([cost, dW])
    assert view._repr_svg_() is None
    page = view._repr_html_()
    assert "apt install graphviz" in page and "n0 -&gt; n" in page and "<pre>" in page
    with pytest.raises(sg.GraphvizError, match=r"GraphView.svg: drawing SVG needs Graphviz's `dot` program"):
        view.svg()


@needs_dot
def test_dot_failures_are_reported_with_graphviz_message(tmp_path):
    view = sg.GraphView(Drawing("digraph { a -> }", {}, "broken"))
    with pytest.raises(sg.GraphvizError, match=r"GraphView.save: Graphviz's dot \(.*\) failed with exit status "
                                               r"\d+: .*syntax error"):
        view.save(tmp_path / "broken.svg")


# -- pictures -----------------------------------------------------------------------------------------------------

def read_png(path) -> np.ndarray:
    """The pixels of an 8-bit, non-interlaced PNG as (height, width, channels) uint8: zlib and the five filters."""
    with open(path, "rb") as file:
        data = file.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    offset, compressed, palette = 8, b"", None
    while offset < len(data):
        (length,), kind = struct.unpack(">I", data[offset:offset + 4]), data[offset + 4:offset + 8]
        body = data[offset + 8:offset + 8 + length]
        offset += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            compressed += body
    assert depth == 8 and interlace == 0, (depth, interlace)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    stride = width * channels
    rows = np.frombuffer(zlib.decompress(compressed), np.uint8).reshape(height, stride + 1)
    pixels = np.zeros((height, stride), np.int64)
    previous = np.zeros(stride, np.int64)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int64)
        if kind == 0:
            current = line
        elif kind == 1:  # sub: each byte adds the byte one pixel to the left
            current = np.cumsum(line.reshape(width, channels), axis=0).reshape(-1) % 256
        elif kind == 2:
            current = (line + previous) % 256
        else:  # average, paeth: each byte depends on the decoded byte to its left
            current, row, up = [0] * stride, line.tolist(), previous.tolist()
            for i in range(stride):
                left = current[i - channels] if i >= channels else 0
                upper_left = up[i - channels] if i >= channels else 0
                if kind == 3:
                    predictor = (left + up[i]) // 2
                else:
                    estimate = left + up[i] - upper_left
                    distances = (abs(estimate - left), abs(estimate - up[i]), abs(estimate - upper_left))
                    predictor = (left, up[i], upper_left)[distances.index(min(distances))]
                current[i] = (row[i] + predictor) % 256
            current = np.array(current, np.int64)
        pixels[y] = previous = current
    image = pixels.astype(np.uint8).reshape(height, width, channels)
    return palette[image[..., 0]] if colour == 3 else image


def _has_colour(image: np.ndarray, colour: str, tolerance: int = 3) -> int:
    """How many pixels have ``colour`` (#rrggbb) within ``tolerance`` per channel."""
    target = np.array([int(colour[k:k + 2], 16) for k in (1, 3, 5)])
    return int(np.all(np.abs(image[..., :3].astype(int) - target) <= tolerance, axis=-1).sum())


def test_png_reader_reads_every_filter(tmp_path):
    """The reader used below, against a PNG written here with each filter type in turn."""
    image = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    raw = b""
    for y in range(5):
        line, up = image[y].astype(int).reshape(-1), (image[y - 1].astype(int).reshape(-1) if y else np.zeros(12, int))
        left = np.concatenate([[0, 0, 0], line[:-3]])
        upper_left = np.concatenate([[0, 0, 0], up[:-3]])
        if y % 5 == 4:
            estimate = left + up - upper_left
            distances = np.stack([abs(estimate - left), abs(estimate - up), abs(estimate - upper_left)])
            predictor = np.choose(np.argmin(distances, axis=0), [left, up, upper_left])
        else:
            predictor = [np.zeros(12, int), left, up, (left + up) // 2][y % 5]
        raw += bytes([y % 5]) + bytes(((line - predictor) % 256).astype(np.uint8))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 5, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    (tmp_path / "filters.png").write_bytes(png)
    np.testing.assert_array_equal(read_png(tmp_path / "filters.png"), image)


@needs_dot
def test_render_writes_svg_png_pdf_and_html(tmp_path):
    x, y, W, p, cost, dW = _logistic()
    order = toposort([cost, dW])
    returned = sg.render([cost, dW], tmp_path / "graph.svg", highlight=dW)
    assert returned == str(tmp_path / "graph.svg")
    root = ElementTree.parse(returned).getroot()
    groups = {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("class") == "node"}
    assert sorted(groups) == sorted(f"n{k}" for k in range(len(order)))
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]) == sum(len(n.inputs) for n in order)
    gradient = groups[f"n{order.index(dW)}"]
    title = gradient.find(f"{SVG}title").text  # the tooltip, which browsers show on hover
    assert title.split("\n")[:4] == ["matmul", "shape (3, 1), float32", f"created at {dW.site}",
                                     f"gradient: {dW.provenance}"]
    shape = next(e for e in gradient.iter() if e.tag in (f"{SVG}ellipse", f"{SVG}polygon"))
    assert shape.get("fill") == GRADIENT_FILL and shape.get("stroke") == HIGHLIGHT
    forward = next(e for e in groups[f"n{order.index(p)}"].iter() if e.tag == f"{SVG}ellipse")
    assert forward.get("fill") == FORWARD_FILL

    image = read_png(sg.render([cost, dW], tmp_path / "graph.png", highlight=dW))
    assert image.shape[0] > 200 and image.shape[1] > 200
    for colour in (FORWARD_FILL, GRADIENT_FILL, HIGHLIGHT):
        assert _has_colour(image, colour) > 100, colour

    with open(sg.render([cost, dW], tmp_path / "graph.pdf"), "rb") as file:
        assert file.read(5) == b"%PDF-"

    with open(sg.render([cost, dW], tmp_path / "graph.html"), encoding="utf-8") as file:
        page = file.read()
    assert page.startswith("<!DOCTYPE html>") and "<title>symgraph graph of cost, matmul</title>" in page
    assert page.count('class="node"') == len(order)
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', "")  # self-contained: nothing to fetch


@needs_dot
def test_html_page_escapes_hostile_names(tmp_path):
    x = sg.placeholder((2,), name="<script>alert(1)</script>")
    with open(sg.render(sg.exp(x, name="</svg><b>"), tmp_path / "hostile.html"), encoding="utf-8") as file:
        page = file.read()
    assert page.count("<script") == 1 and page.count("</svg>") == 1  # the page's own
    assert "<script>alert" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@needs_dot
def test_graph_view_displays_as_svg_in_notebooks(tmp_path):
    *_, cost, dW = _logistic()
    view = sg.graph_view([cost, dW], highlight=dW)
    assert view.dot == sg.to_dot([cost, dW], highlight=dW)
    svg = view._repr_svg_()
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]) == len(toposort([cost, dW]))
    assert view._repr_html_() == svg  # inline SVG: tooltips work in the notebook
    assert repr(view) == "<GraphView: symgraph graph of cost, matmul>"
    saved = view.save(tmp_path / "view.svg")
    with open(saved, encoding="utf-8") as file:
        assert file.read().strip().endswith(svg.strip())


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt install chromium)")
@needs_dot
def test_html_page_shows_the_graph_in_headless_chromium(tmp_path):
    *_, cost, dW = _logistic()
    page = sg.render([cost, dW], tmp_path / "graph.html", highlight=dW)
    screenshot = tmp_path / "screenshot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={tmp_path}/profile"]
    url = "file://" + os.path.abspath(page)
    subprocess.run([CHROMIUM, *flags, f"--screenshot={screenshot}", "--window-size=1000,1400", url],
                   capture_output=True, timeout=120, check=True)
    image = read_png(screenshot)
    assert image.shape[:2] == (1400, 1000)
    drawn = np.any(image[..., :3] < 235, axis=-1).mean()
    assert drawn > 0.02, f"only {drawn:.3%} of the page is drawn"
    picture = image[120:]  # below the heading and the legend's swatches: the whole graph, fitted to the width
    for colour, least in ((FORWARD_FILL, 2000), (GRADIENT_FILL, 2000), (HIGHLIGHT, 50)):
        assert _has_colour(picture, colour, tolerance=4) > least, colour
    assert _has_colour(image[:120], HIGHLIGHT, tolerance=4) > 0  # the legend
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", url], capture_output=True, timeout=120, check=True,
                         text=True).stdout
    assert dom.count('class="node"') == len(toposort([cost, dW]))  # parsed as inline SVG, not as text
    assert re.search(r'<svg [^>]*class="fit"', dom)  # the page's script ran: the picture fits the window
    assert dom.count("<title>") == len(toposort([cost, dW])) + sum(len(n.inputs) for n in toposort([cost, dW])) + 2


# -- before and after sg.optimize ---------------------------------------------------------------------------------

def _emphasized(dot: str) -> list[str]:
    """Labels' first lines of the highlighted nodes, by cluster: ["before_n3 log", ...]."""
    return sorted(f"{key.split('_')[0]} {_attribute(statement, 'label').split(chr(92) + 'n')[0]}"
                  for key, statement in _statements(dot).items() if _attribute(statement, "color") == HIGHLIGHT)


def test_report_is_drawn_before_and_after_with_the_rewritten_nodes_highlighted():
    y = sg.placeholder((3,), "float64", name="y")
    out, report = sg.optimize(sg.log(1 + y) * sg.log(1 + y))
    dot = sg.to_dot(report)
    graph = _pydot_graph(dot)
    clusters = {s.get_name(): s for s in graph.get_subgraphs()}
    assert sorted(clusters) == ["cluster_after", "cluster_before"]
    before, after = toposort(report.outputs_before), toposort(report.outputs_after)
    assert len(_pydot_nodes(clusters["cluster_before"])) == len(before) == 8
    assert len(_pydot_nodes(clusters["cluster_after"])) == len(after) == 3
    # the duplicate log(1 + y) merged away, then log(1 + y) became log1p(y); y and the product stay
    assert _emphasized(dot) == ["after log1p", "before add", "before add", "before constant 1", "before constant 1",
                                "before log", "before log"]
    assert clusters["cluster_before"].get_attributes()["label"] == '"before: 8 nodes (6 removed)"'
    assert clusters["cluster_after"].get_attributes()["label"].startswith('"after: 3 nodes (1 new); 4 rewrites: ')
    statements = _statements(dot)
    assert "built by sg.optimize" in _attribute(statements["after_n1"], "tooltip")


def test_report_highlights_a_fold_without_the_nodes_downstream():
    x, y, W, p, cost, dW = _logistic()
    out, report = sg.optimize([cost, dW], passes=["constant_fold"])
    assert [r.rule for r in report.rewrites] == ["fold_constants"]
    dot = sg.to_dot(report)
    # the mean's gradient expand_dims(1) became a (1, 1) constant; its consumers are rebuilt, not rewritten
    assert _emphasized(dot) == ["after constant 1", "before constant 1", "before expand_dims{axes=(0, 1)}"]
    folded = [s for k, s in _statements(dot).items() if k.startswith("after") and _attribute(s, "color") == HIGHLIGHT]
    assert _attribute(folded[0], "label") == "constant 1\\n(1, 1)"
    explicit = sg.to_dot(report, highlight=[W])  # the variable is in both graphs
    assert _emphasized(explicit) == ["after variable", "before variable"]


def test_report_highlights_the_duplicate_a_merge_removed():
    x = sg.placeholder((3,), name="x")
    first, second = sg.exp(x), sg.exp(x)
    out, report = sg.optimize(first * second, passes=["merge"])
    dot = sg.to_dot(report)
    assert _emphasized(dot) == ["before exp"]
    removed = [k for k, s in _statements(dot).items() if _attribute(s, "color") == HIGHLIGHT]
    order = toposort(report.outputs_before)
    assert removed == [f"before_n{order.index(second)}"]  # the later one (merge keeps the first)
    assert "removed by sg.optimize" in _attribute(_statements(dot)[removed[0]], "tooltip")


@needs_dot
def test_report_renders_and_displays(tmp_path):
    y = sg.placeholder((3,), "float64", name="y")
    out, report = sg.optimize(sg.log(1 + y))
    root = ElementTree.parse(sg.render(report, tmp_path / "optimized.svg")).getroot()
    ids = sorted(g.get("id") for g in root.iter(f"{SVG}g") if g.get("class") == "node")
    assert ids == ["after_n0", "after_n1", "before_n0", "before_n1", "before_n2", "before_n3"]
    view = sg.graph_view(report)
    assert repr(view) == "<GraphView: sg.optimize: the graph before and after>"
    assert ElementTree.fromstring(view._repr_svg_()).tag == f"{SVG}svg"


def test_jupyter_displays_a_graph_view_as_its_picture(tmp_path, monkeypatch):
    formatters = pytest.importorskip("IPython.core.formatters", reason="IPython shows what Jupyter would display")
    *_, cost, dW = _logistic()
    formatter = formatters.DisplayFormatter()
    if shutil.which("dot"):
        shown, _ = formatter.format(sg.graph_view([cost, dW]))
        assert sorted(shown) == ["image/svg+xml", "text/html", "text/plain"]
        assert ElementTree.fromstring(shown["image/svg+xml"]).tag == f"{SVG}svg"
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on it: the DOT text and how to install Graphviz
    shown, _ = formatter.format(sg.graph_view([cost, dW]))
    assert sorted(shown) == ["text/html", "text/plain"]
    assert "brew install graphviz" in shown["text/html"] and "digraph symgraph {" in shown["text/html"]
    assert shown["text/plain"] == "<GraphView: symgraph graph of cost, matmul>"
