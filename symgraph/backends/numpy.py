"""The NumPy reference backend: runs a graph's schedule node by node with each op's ``compute``.

It is the oracle other backends are tested against, so it favours clarity and strict checks over speed: every result
is checked against its node's static shape and dtype, and failures name the node and its inputs. A program computes
from feeds already checked (``validate_feeds`` for ``evaluate``; ``sg.function`` checks its own arguments).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from symgraph.backends.profile import Profile, Timer, node_label
from symgraph.errors import EvaluationError, FeedError, ShapeError, SymgraphError
from symgraph.graph import (
    Constant, Node, Placeholder, Variable, _output_list, _with_context, format_shape, toposort, user_site,
)


class NumpyProgram:
    """A fixed schedule for computing ``outputs``; call ``run`` with feeds as many times as needed."""

    def __init__(self, outputs: Sequence[Node], profile: bool = False):
        for output in outputs:
            if not isinstance(output, Node):
                raise TypeError(f"outputs must be nodes, got {type(output).__name__} {output!r:.60}")
        self.outputs = list(outputs)
        self.order = toposort(self.outputs)
        self.placeholders = [n for n in self.order if isinstance(n, Placeholder)]
        self._release = release_plan(self.order, self.outputs)
        self._timer = Timer([node_label(n) for n in self.order]) if profile else None

    @property
    def profile(self) -> Profile | None:
        """Seconds per node computed, over every call so far (None unless built with ``profile=True``)."""
        return self._timer.profile("numpy") if self._timer else None

    def run(self, feed_dict: Mapping | None = None) -> list[np.ndarray]:
        """Check ``feed_dict`` (placeholders or names to values), then compute the outputs."""
        return self.compute(validate_feeds(feed_dict or {}, self.placeholders))

    def compute(self, feeds: Mapping[int, np.ndarray]) -> list[np.ndarray]:
        """The outputs from checked feeds (placeholder id to array, as ``Placeholder.checked_value`` returns them),
        reading the variables' current values. Results never alias feeds, variables, constants or each other."""
        values: dict[int, np.ndarray] = {}
        times = [None] * len(self.order) if self._timer else None
        with np.errstate(all="ignore"):
            for step, node in enumerate(self.order):
                if times is None:
                    values[id(node)] = _value_of(node, values, feeds)
                else:
                    started = Timer.clock()
                    values[id(node)] = _value_of(node, values, feeds)
                    if node.inputs:
                        times[step] = Timer.clock() - started
                for released in self._release[step]:
                    del values[released]
        if times is not None:
            self._timer.add(times)
        results: list[np.ndarray] = []
        for output in self.outputs:
            results.append(_fresh(values[id(output)], [*feeds.values(), *results]))
        return results


def _value_of(node: Node, values, feeds) -> np.ndarray:
    if isinstance(node, Constant):
        return node.value
    if isinstance(node, Variable):
        return node.value
    if isinstance(node, Placeholder):
        return feeds[id(node)]
    inputs = [values[id(i)] for i in node.inputs]
    try:
        result = np.asarray(node.op.compute(*inputs))
    except SymgraphError:
        raise
    except Exception as error:  # the reference's (or NumPy's) message, with the node that failed and its inputs
        shapes = ", ".join(str(np.shape(v)) for v in inputs)
        lines = [f"{node.describe()} failed on inputs of shapes {shapes}: {error}"]
        lines += [f"  input {k}: {i.describe()}, value of shape {np.shape(v)}"
                  for k, (i, v) in enumerate(zip(node.inputs, inputs))]
        raise EvaluationError("\n".join(lines)) from error
    _check_result(node, result)
    return result


def _check_result(node: Node, result: np.ndarray) -> None:
    static = node.shape
    if result.ndim != len(static) or any(s is not None and s != r for s, r in zip(static, result.shape)):
        raise ShapeError(
            f"{node.describe()} produced shape {result.shape}, which contradicts its static shape "
            f"{format_shape(static)}: a fed size must be inconsistent with the graph"
        )
    if result.dtype != node.dtype:
        raise EvaluationError(f"{node.describe()} produced dtype {result.dtype}, expected {node.dtype} (a bug in "
                              f"the {node.op.name} op's reference)")


def release_plan(order: Sequence[Node], outputs: Sequence[Node]) -> list[list[int]]:
    """For each step, the values no later step needs (outputs are kept to the end)."""
    last_use = {id(n): i for i, n in enumerate(order)}
    for step, node in enumerate(order):
        for child in node.inputs:
            last_use[id(child)] = step
    keep = {id(o) for o in outputs}
    plan: list[list[int]] = [[] for _ in order]
    for node_id, step in last_use.items():
        if node_id not in keep:
            plan[step].append(node_id)
    return plan


def _fresh(value: np.ndarray, taken: Sequence[np.ndarray]) -> np.ndarray:
    """Outputs never alias a constant, a variable, a caller's array (``taken`` holds the feeds) or each other."""
    if value.flags.owndata and value.flags.writeable and not any(np.may_share_memory(value, t) for t in taken):
        return value
    return np.array(value, copy=True)


def validate_feeds(feed_dict: Mapping, placeholders: Sequence[Placeholder]) -> dict[int, np.ndarray]:
    """Check feeds against the graph's placeholders: every one fed, nothing else, shapes and dtypes compatible.

    A placeholder the outputs do not need may be fed (one feed dict serves a model and its gradients); its value is
    checked all the same, as TF1 and Theano check every value they are given."""
    if not isinstance(feed_dict, Mapping):
        raise FeedError(f"feed_dict must be a mapping from placeholders (or their names) to values, "
                        f"got {type(feed_dict).__name__}")
    by_id = {id(p): p for p in placeholders}
    feeds: dict[int, np.ndarray] = {}
    for key, value in feed_dict.items():
        placeholder = _resolve_key(key, by_id, placeholders)
        if id(placeholder) not in by_id:
            placeholder.checked_value(value)  # not needed by these outputs, but still a feed of that placeholder
            continue
        if id(placeholder) in feeds:
            raise FeedError(f"{placeholder.describe()} is fed twice (by node and by name)")
        feeds[id(placeholder)] = placeholder.checked_value(value)
    missing = [p for p in placeholders if id(p) not in feeds]
    if missing:
        listed = "\n  ".join(p.describe() for p in missing)
        raise FeedError(f"no value fed for placeholder{'s' if len(missing) > 1 else ''}:\n  {listed}")
    return feeds


def _resolve_key(key, by_id, placeholders) -> Placeholder:
    if isinstance(key, str):
        named = [p for p in placeholders if p.name == key]
        if not named:
            known = ", ".join(repr(p.name) for p in placeholders if p.name) or "none has a name"
            raise FeedError(f"feed key {key!r} names no placeholder of the graph (its placeholders: {known})")
        if len(named) > 1:
            raise FeedError(f"feed key {key!r} is ambiguous: {len(named)} placeholders have that name; feed the nodes")
        return named[0]
    if isinstance(key, Placeholder):
        return key
    if isinstance(key, Node):
        raise FeedError(f"only placeholders can be fed, but the key is a {key.describe()}")
    raise FeedError(f"feed keys must be placeholders or their names, got {type(key).__name__} {key!r:.60}")


class FeedDictTypeError(FeedError, TypeError):
    """A feed_dict that is no mapping: a FeedError, as feeds that do not fit the graph are, and a TypeError, as the
    other wrong argument types of sg.evaluate, sg.function and sg.optimize are (NumPy's AxisError is likewise both
    a ValueError and an IndexError)."""


def evaluate(outputs, feed_dict: Mapping | None = None):
    """Evaluate one node (returns an array) or a list of nodes (returns a list) with the NumPy reference backend.

    ``feed_dict`` maps placeholders, or their names, to arrays. Each node is computed once per call. Wrong
    arguments (outputs that are not nodes, a feed_dict that is no mapping or does not fit the graph) raise errors
    naming sg.evaluate and the caller's line; errors while computing name the node that failed.
    """
    return evaluate_for(outputs, feed_dict, "sg.evaluate")


def evaluate_for(outputs, feed_dict, caller: str):
    """``sg.evaluate`` with its errors naming ``caller`` (``node.eval`` for the method)."""
    program = NumpyProgram(_output_list(outputs, caller))
    if feed_dict is not None and not isinstance(feed_dict, Mapping):
        raise FeedDictTypeError(f"{caller}: feed_dict must be a mapping (a dict) from placeholders or their names "
                                f"to values, or None, got {type(feed_dict).__name__} {feed_dict!r:.60}\n"
                                f"  at {user_site()}")
    try:
        feeds = validate_feeds(feed_dict or {}, program.placeholders)
    except SymgraphError as error:
        raise _with_context(error, caller, []) from None
    values = program.compute(feeds)
    return values[0] if isinstance(outputs, Node) else values
