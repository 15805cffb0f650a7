"""``sg.function``: a callable compiled from a graph, with Theano-style updates of variables.

The schedule is made once, at compile time; each call validates its arguments like ``evaluate``, computes the outputs
and every update from the variables' values before the call, then applies all updates together.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from symgraph.backends.numpy import NumpyProgram
from symgraph.errors import DTypeError, FeedError, ShapeError
from symgraph.graph import Node, Placeholder, Variable, as_node, format_shape, toposort, user_site
from symgraph.passes import optimize as optimize_graph

BACKENDS = ("numpy",)


class Function:
    """The callable that ``sg.function`` returns. ``f(*arrays)`` gives the outputs (one array or a list)."""

    def __init__(self, inputs: Sequence[Placeholder], outputs, updates, backend: str, optimize: bool):
        self.inputs = _check_inputs(inputs)
        self.single_output = isinstance(outputs, Node)
        self.outputs = [outputs] if self.single_output else _check_outputs(outputs)
        self.updates = _with_implied_updates(self.outputs, _check_updates(updates))
        self.backend = backend
        targets = self.outputs + [expression for _, expression in self.updates]
        self.report = None
        if optimize:
            targets, self.report = optimize_graph(targets)
        self._program = NumpyProgram(targets)
        missing = [p for p in self._program.placeholders if not any(p is i for i in self.inputs)]
        if missing:
            listed = "\n  ".join(p.describe() for p in missing)
            raise FeedError(f"sg.function at {user_site()}: the outputs need placeholders that are not among the "
                            f"inputs:\n  {listed}")

    def __call__(self, *arrays):
        if len(arrays) != len(self.inputs):
            names = ", ".join(p.name or f"input {k}" for k, p in enumerate(self.inputs))
            count = f"{len(self.inputs)} array{'' if len(self.inputs) == 1 else 's'}"
            raise TypeError(f"this function takes {count} ({names}), got {len(arrays)}")
        feeds = {placeholder: value for placeholder, value in zip(self.inputs, arrays)}
        values = self._program.run(feeds)
        count = len(self.outputs)
        for (variable, _), value in zip(self.updates, values[count:]):
            variable.assign(value)
        results = values[:count]
        return results[0] if self.single_output else results


def function(inputs, outputs, updates=None, backend: str = "numpy", optimize: bool = True) -> Function:
    """Compile ``outputs`` (a node or a list) as a function of ``inputs`` (placeholders, in call order).

    ``updates`` maps variables to nodes (a dict or a list of pairs): after each call every variable takes its node's
    value, all computed from the values before the call (Theano semantics). Updates implied by the graph (random
    streams advance, training-mode batch_norm updates its running statistics) are added unless given explicitly.
    ``optimize`` runs ``sg.optimize`` over outputs and updates together first (its report is ``f.report``).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    return Function(inputs, outputs, updates, backend, optimize)


def _with_implied_updates(outputs, explicit):
    """Add the updates implied by nodes of the graph (random streams, running statistics); explicit ones win."""
    updates = list(explicit)
    updated = {id(variable) for variable, _ in updates}
    frontier = list(outputs) + [expression for _, expression in updates]
    while frontier:
        added = []
        for node in toposort(frontier):
            for variable, expression in node.implied_updates:
                if id(variable) not in updated:
                    updated.add(id(variable))
                    updates.append((variable, expression))
                    added.append(expression)
        frontier = added
    return updates


def _check_inputs(inputs) -> list[Placeholder]:
    if isinstance(inputs, Node):
        inputs = [inputs]
    inputs = list(inputs)
    for position, node in enumerate(inputs):
        if not isinstance(node, Placeholder):
            what = node.describe() if isinstance(node, Node) else f"{type(node).__name__} {node!r:.60}"
            raise TypeError(f"sg.function inputs must be placeholders; input {position} is a {what}")
    for position, node in enumerate(inputs):
        if any(node is other for other in inputs[:position]):
            raise ValueError(f"sg.function: {node.describe()} is listed twice among the inputs")
    return inputs


def _check_outputs(outputs) -> list[Node]:
    if not isinstance(outputs, (list, tuple)):
        raise TypeError(f"sg.function outputs must be a node or a list of nodes, got {type(outputs).__name__}")
    for position, node in enumerate(outputs):
        if not isinstance(node, Node):
            raise TypeError(f"sg.function output {position} is not a node: {type(node).__name__} {node!r:.60}")
    return list(outputs)


def _check_updates(updates) -> list[tuple[Variable, Node]]:
    if updates is None:
        return []
    pairs = list(updates.items()) if isinstance(updates, Mapping) else list(updates)
    checked = []
    for variable, expression in pairs:
        if not isinstance(variable, Variable):
            what = variable.describe() if isinstance(variable, Node) else repr(variable)
            raise TypeError(f"only variables can be updated, got {what}")
        if any(variable is seen for seen, _ in checked):
            raise ValueError(f"{variable.describe()} has two updates")
        expression = as_node(expression, [variable])
        if expression.ndim != variable.ndim or any(
                e is not None and e != v for e, v in zip(expression.shape, variable.shape)):
            raise ShapeError(f"the update of {variable.describe()} has shape {format_shape(expression.shape)}, "
                             f"expected {format_shape(variable.shape)} (update built at {expression.site})")
        if expression.dtype != variable.dtype:
            raise DTypeError(f"the update of {variable.describe()} has dtype {expression.dtype}, expected "
                             f"{variable.dtype} (update built at {expression.site}); use sg.cast if intended")
        checked.append((variable, expression))
    return checked
