"""symgraph show: print or draw a saved graph (sg.save), or the gradient of its cost with respect to a variable.

Formats: tree (sg.debugprint: one node per line with op, name, shape, dtype and source line), math (sg.pprint),
latex (sg.latex: elementwise graphs, their sums and matmuls), dot (sg.to_dot: Graphviz DOT text), svg and png
(sg.render: pictures, laid out by Graphviz's dot program). --grad NAME differentiates the graph's cost (its scalar
output; the one named in the file's metadata "cost" when there are several) with respect to the variable or
placeholder NAME; --optimize runs sg.optimize first. A checkpoint (sg.save_variables) is shown as its entries and
metadata.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil

from symgraph.autodiff import grad
from symgraph.cli.errors import CliError
from symgraph.io import GRAPH_FORMAT, VARIABLES_FORMAT, container, load, read_metadata
from symgraph.passes import optimize
from symgraph.printing.dot import to_dot
from symgraph.printing.render import render
from symgraph.printing.sympy_io import latex
from symgraph.printing.text import debugprint, pprint

FORMATS = ("tree", "math", "latex", "dot", "svg", "png")
PICTURES = ("svg", "png")
MAX_LINE = 300  # characters of a metadata entry shown for a checkpoint
GRAPHVIZ_HINT = ("install Graphviz: apt install graphviz, conda install -c conda-forge graphviz or brew install "
                 "graphviz; --format dot needs nothing")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a graph written by sg.save or symgraph train --save")
    parser.add_argument("--grad", metavar="NAME", default=None,
                        help="show the gradient of the cost with respect to the variable (or placeholder) NAME")
    parser.add_argument("--optimize", action="store_true", help="run sg.optimize on what is shown first")
    parser.add_argument("--format", choices=FORMATS, default="tree", help="how to show it")
    parser.add_argument("-o", "--output", metavar="OUT", default=None,
                        help="write to OUT instead of standard output (svg, png: default FILE with that extension)")
    parser.set_defaults(run=run)


def run(args) -> int:
    if not os.path.isfile(args.file):
        raise CliError(f"{args.file}: no such file")
    if args.format in PICTURES and shutil.which("dot") is None:
        raise CliError(f"--format {args.format} needs Graphviz's dot program, which is not on the PATH: "
                       f"{GRAPHVIZ_HINT}")
    document, _ = container.read(args.file, with_data=False)
    if isinstance(document, dict) and document.get("format") == VARIABLES_FORMAT:
        return _show_checkpoint(args)
    if isinstance(document, dict) and document.get("format") != GRAPH_FORMAT:
        raise CliError(f"{args.file}: not a symgraph graph (format {str(document.get('format'))[:60]!r})")
    nodes = _nodes_to_show(args)
    if args.format in PICTURES:
        target = args.output or os.path.splitext(args.file)[0] + "." + args.format
        if not target.endswith("." + args.format):
            raise CliError(f"-o {target}: --format {args.format} writes a .{args.format} file")
        render(nodes, target)
        print(f"wrote {target}")
        return 0
    _emit(_text(nodes, args.format), args.output)
    return 0


def _nodes_to_show(args) -> list:
    inputs, outputs, variables = load(args.file)
    nodes = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    if args.grad is not None:
        cost = _cost(nodes, read_metadata(args.file).get("cost"), args.file)
        candidates = {node.name: node for node in list(variables) + list(inputs) if node.name is not None}
        if args.grad not in candidates:
            raise CliError(f"--grad {args.grad}: {args.file} has no variable or placeholder of that name; its names: "
                           f"{', '.join(sorted(candidates)) or 'none'}")
        nodes = [grad(cost, candidates[args.grad])]
    if args.optimize:
        nodes, _ = optimize(nodes)
    return nodes


def _cost(outputs: list, named, path: str):
    """The output to differentiate: the one the metadata names, else the only scalar float output."""
    if named is not None:
        chosen = [node for node in outputs if node.name == named]
        if len(chosen) != 1:
            raise CliError(f"{path}: its metadata names the cost {str(named)[:60]!r}, which is not one of its outputs")
        return chosen[0]
    scalars = [node for node in outputs if node.ndim == 0 and node.dtype.kind == "f"]
    if len(scalars) != 1:
        shown = ", ".join(node.describe() for node in outputs[:5])
        raise CliError(f"--grad: {path} has {len(scalars)} scalar float outputs, so which is the cost is unclear "
                       f"(its outputs: {shown}); save the graph with metadata={{'cost': name}}")
    return scalars[0]


def _text(nodes: list, style: str) -> str:
    if style == "tree":
        return debugprint(nodes, file=io.StringIO())
    if style == "math":
        return pprint(nodes)
    if style == "dot":
        return to_dot(nodes)
    if len(nodes) == 1:
        return latex(nodes[0])
    return "\n".join(f"{node.name or f'out{k}'}: {latex(node)}" for k, node in enumerate(nodes))


def _show_checkpoint(args) -> int:
    if args.grad is not None or args.optimize or args.format != "tree":
        raise CliError(f"{args.file} is a checkpoint of variables (sg.save_variables), not a graph: it has no "
                       f"graph to differentiate, optimize or draw; symgraph show lists its entries")
    _, tensors = container.read(args.file)
    lines = [f"checkpoint {args.file}: {len(tensors)} variables"]
    lines += [f"  {name}  {tuple(array.shape)} {array.dtype}" for name, array in tensors.items()]
    for key, value in read_metadata(args.file).items():  # one line per entry, cut at MAX_LINE characters
        text = json.dumps(value, sort_keys=True)
        lines.append(f"{key}: {text if len(text) <= MAX_LINE else text[:MAX_LINE - 3] + '...'}")
    _emit("\n".join(lines), args.output)
    return 0


def _emit(text: str, target: str | None) -> None:
    text = text if text.endswith("\n") else text + "\n"
    if target is None:
        print(text, end="")
        return
    with open(target, "w", encoding="utf-8") as stream:
        stream.write(text)
    print(f"wrote {target}")
