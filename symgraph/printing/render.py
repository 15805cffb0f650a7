"""Pictures of graphs: ``sg.render`` writes SVG, PNG, PDF, DOT or a self-contained HTML page; ``sg.graph_view``
shows a graph in Jupyter.

The DOT text comes from ``symgraph.printing.dot``; Graphviz's ``dot`` program lays it out (run as a subprocess, so no
Python package is needed). Graphviz puts a node's tooltip on an SVG link; the SVG written here also puts it in the
node's ``<title>``, which every browser shows on hover, inline in a page or a notebook.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess

from symgraph.errors import GraphvizError
from symgraph.graph import user_site
from symgraph.printing.dot import FORWARD_COLOURS, GRADIENT_COLOURS, HIGHLIGHT_COLOUR, Drawing, drawing

FORMATS = (".svg", ".png", ".pdf", ".html", ".dot")
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
XLINK_NAMESPACE = "http://www.w3.org/1999/xlink"
INSTALL_HINT = ("install Graphviz: `apt install graphviz` (Debian, Ubuntu), `conda install -c conda-forge graphviz`, "
                "`brew install graphviz` (macOS) or the installer from graphviz.org (Windows); sg.to_dot gives the "
                "DOT text without it")


def render(nodes, path, highlight=None) -> str:
    """Draw the graph of ``nodes`` (a node, a list, or an ``sg.optimize`` report) to ``path``; returns the path.

    The format follows the extension: ``.svg``, ``.png``, ``.pdf`` (laid out by Graphviz's ``dot`` program), ``.html``
    (a self-contained page of the SVG: hover a node for its op, shape, dtype, line and provenance) or ``.dot`` (the
    DOT text, no Graphviz needed). ``highlight`` is as for ``sg.to_dot``.
    """
    target = _path(path, "sg.render")
    write(drawing(nodes, highlight, "sg.render"), target, "sg.render")
    return target


def graph_view(nodes, highlight=None) -> "GraphView":
    """The graph of ``nodes`` (a node, a list, or an ``sg.optimize`` report) as an object that Jupyter displays as
    its picture. A plain list of nodes is a Python list, which cannot display itself: wrap it with this."""
    return GraphView(drawing(nodes, highlight, "sg.graph_view"))


class GraphView:
    """A graph's picture for notebooks: Jupyter shows ``_repr_html_`` (the SVG inline, so tooltips work) or
    ``_repr_svg_``; without Graphviz, the page says how to install it and shows the DOT text. ``dot`` is the DOT
    text, ``title`` what the graph is; ``save(path)`` writes it as ``sg.render`` does."""

    def __init__(self, drawing: Drawing):
        self.drawing = drawing
        self._svg: str | None = None

    @property
    def dot(self) -> str:
        return self.drawing.dot

    @property
    def title(self) -> str:
        return self.drawing.title

    def svg(self) -> str:
        """The picture as SVG text (laid out once, then kept)."""
        if self._svg is None:
            self._svg = svg_text(self.drawing, "GraphView.svg")
        return self._svg

    def save(self, path) -> str:
        """Write the picture to ``path`` (.svg, .png, .pdf, .html or .dot); returns the path."""
        target = _path(path, "GraphView.save")
        write(self.drawing, target, "GraphView.save")
        return target

    def _repr_svg_(self) -> str | None:
        return self.svg() if shutil.which("dot") else None

    def _repr_html_(self) -> str:
        if shutil.which("dot"):
            return self.svg()
        return (f"<p>{html.escape(self.title)}: this picture needs Graphviz's <code>dot</code> program; "
                f"{html.escape(INSTALL_HINT)}.</p><pre>{html.escape(self.dot)}</pre>")

    def __repr__(self) -> str:
        return f"<GraphView: {self.title}>"


def write(drawing: Drawing, target: str, caller: str) -> None:
    """Write ``drawing`` to ``target`` (a path ``_path`` checked) in the format its extension names."""
    extension = os.path.splitext(target)[1].lower()
    if extension == ".dot":
        data = drawing.dot.encode("utf-8")
    elif extension == ".html":
        data = html_page(svg_text(drawing, caller), drawing.title).encode("utf-8")
    elif extension == ".svg":
        data = f'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n{svg_text(drawing, caller)}\n'.encode()
    else:
        data = run_dot(drawing.dot, extension[1:], caller)
    with open(target, "wb") as file:
        file.write(data)


def run_dot(dot: str, output_format: str, caller: str) -> bytes:
    """Lay ``dot`` out with Graphviz's ``dot`` program, in ``output_format`` (svg, png, pdf)."""
    program = shutil.which("dot")
    if program is None:
        raise GraphvizError(f"{caller}: drawing {output_format.upper()} needs Graphviz's `dot` program, which is not "
                            f"on PATH; {INSTALL_HINT}\n  at {user_site()}")
    result = subprocess.run([program, f"-T{output_format}"], input=dot.encode("utf-8"), capture_output=True)
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise GraphvizError(f"{caller}: Graphviz's dot ({program}) failed with exit status {result.returncode}: "
                            f"{message}\n  at {user_site()}")
    return result.stdout


def svg_text(drawing: Drawing, caller: str) -> str:
    """The drawing laid out as SVG (without the XML prolog), each node's and edge's tooltip set from
    ``drawing.tooltips``: on Graphviz's link (``xlink:title``) and as the element's ``<title>`` (where Graphviz puts
    the key), which every browser shows on hover, inline in a page or a notebook."""
    import xml.etree.ElementTree as ElementTree

    ElementTree.register_namespace("", SVG_NAMESPACE)  # write SVG's own elements unprefixed, as Graphviz does
    ElementTree.register_namespace("xlink", XLINK_NAMESPACE)
    root = ElementTree.fromstring(run_dot(drawing.dot, "svg", caller))
    for group in root.iter(f"{{{SVG_NAMESPACE}}}g"):
        tooltip = drawing.tooltips.get(group.get("id"))
        if tooltip is None or group.get("class") not in ("node", "edge"):
            continue
        group.find(f"{{{SVG_NAMESPACE}}}title").text = tooltip
        for link in group.iter(f"{{{SVG_NAMESPACE}}}a"):
            link.set(f"{{{XLINK_NAMESPACE}}}title", tooltip)
    return ElementTree.tostring(root, encoding="unicode")


def html_page(svg: str, title: str) -> str:
    """A self-contained page: the title, a legend and the inline SVG, whose nodes show their tooltips on hover. The
    picture fits the page's width (a click shows it at full size, another fits it again)."""
    swatch = '<span class="swatch" style="background:{0};border-color:{1}"></span>{2}'
    legend = " ".join([swatch.format(*FORWARD_COLOURS, "forward"), swatch.format(*GRADIENT_COLOURS, "gradient"),
                       swatch.format("#ffffff", HIGHLIGHT_COLOUR, "highlighted")])
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1em; color: #222; background: #fff; }}
h1 {{ font-size: 1.2em; margin: 0 0 0.3em; }}
p.legend {{ margin: 0 0 1em; font-size: 0.9em; }}
.swatch {{ display: inline-block; width: 1.4em; height: 0.9em; border: 2px solid; margin: 0 0.3em 0 0.8em;
  vertical-align: middle; }}
g.node:hover ellipse, g.node:hover polygon, g.node:hover path {{ stroke-width: 3px; }}
svg {{ cursor: zoom-in; }}
svg.fit {{ max-width: 100%; height: auto; cursor: zoom-out; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="legend">{legend}. Variables are boxes, placeholders inverted houses, constants notes, outputs double-bordered.
Hover a node for its op, shape, dtype, the line that created it and, for gradient nodes, its provenance; click the
picture to switch between fitting the page and full size.</p>
{svg}
<script>
var picture = document.querySelector("svg");
picture.classList.add("fit");
picture.addEventListener("click", function () {{ picture.classList.toggle("fit"); }});
</script>
</body>
</html>
"""


def _path(path, caller: str) -> str:
    """``path`` as a str, checked: a str or os.PathLike whose extension names one of FORMATS."""
    target = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(target, str):
        raise TypeError(f"{caller}: path must be a str or os.PathLike, got {type(path).__name__} {path!r:.60}\n"
                        f"  at {user_site()}")
    if os.path.splitext(target)[1].lower() not in FORMATS:
        raise ValueError(f"{caller}: cannot tell the format of {target!r}: the file name must end in "
                         f"{', '.join(FORMATS)}\n  at {user_site()}")
    return target
