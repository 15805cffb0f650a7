"""``sg.function``: a callable compiled from a graph, with Theano-style updates of variables.

The schedule is made once, at compile time. Each call checks every argument against its placeholder (needed by the
outputs or not, as Theano does), has the backend's program compute the outputs and every update from the variables'
values before the call, checks all update values, then assigns them all (or, if one is refused, none). A program
(``NumpyProgram``) only computes: ``compute(feeds)`` takes the checked feeds (placeholder id to array) and returns
the outputs followed by the update values; checking feeds and assigning updates stay here, shared by every backend.

Threads: a call with updates holds the locks of the variables it updates (taken in creation order, so calls never
deadlock) across read, compute, check and assign, so it is atomic with respect to every other call (or ``assign``)
that changes the same variables. Calls without updates take no lock and run concurrently.
"""

from __future__ import annotations

import contextlib
from typing import Mapping, Sequence

import numpy as np

from symgraph import dtypes
from symgraph.backends import BACKENDS, make_program
from symgraph.data import check_batch_size, check_flag, check_shard, epoch_order, shard_of
from symgraph.errors import DTypeError, FeedError, ShapeError
from symgraph.graph import Node, Placeholder, Variable, as_node, format_shape, toposort, user_site
from symgraph.passes import optimize as optimize_graph


class Function:
    """The callable that ``sg.function`` returns. ``f(*arrays)`` gives the outputs (one array or a list)."""

    def __init__(self, inputs: Sequence[Placeholder], outputs, updates, backend: str, optimize: bool,
                 profile: bool = False):
        self.inputs = _check_inputs(inputs)
        self.single_output = isinstance(outputs, Node)
        self.outputs = [outputs] if self.single_output else _check_outputs(outputs)
        self.updates = _with_implied_updates(self.outputs, _check_updates(updates))
        self.backend = backend
        targets = self.outputs + [expression for _, expression in self.updates]
        self.report = None
        if optimize:
            targets, self.report = optimize_graph(targets)
        self._program = make_program(backend, targets, self.inputs, _title(self.inputs, self.outputs, self.updates),
                                     profile=profile)
        missing = [p for p in self._program.placeholders if not any(p is i for i in self.inputs)]
        if missing:
            listed = "\n  ".join(p.describe() for p in missing)
            raise FeedError(f"{_where()}: the outputs need placeholders that are not among the "
                            f"inputs:\n  {listed}")
        self._locks = [variable.lock for variable, _ in sorted(self.updates, key=lambda pair: pair[0].serial)]

    def __call__(self, *arrays):
        feeds = self._checked_feeds(arrays)
        if not self._locks:
            return self._results(self._program.compute(feeds))
        with _holding(self._locks):
            values = self._program.compute(feeds)
            self._apply_updates(values[len(self.outputs):])
        return self._results(values)

    def epoch(self, arrays, batch_size: int, rng=None, shuffle: bool = True, drop_last: bool = False,
              progress=None, shard=None):
        """Run a whole epoch in one call: one step per minibatch of ``arrays`` (the full data set, one array per
        input, examples along the first axis), with every update applied after each step, as calls would.

        The batches are those ``sg.minibatches(arrays, batch_size, rng, shuffle, drop_last)`` draws (same order for
        the same generator state), so the result is bitwise that of calling the function on each of them. The data
        is checked and converted once, not at every step, and the variables' locks are held for the whole epoch.
        ``progress``: True for a tqdm bar (tqdm must be installed), or any object with ``update(steps)`` (a tqdm bar
        you made), advanced between chunks of steps; a bar with ``set_postfix`` also shows the last value of the
        first output when it is a scalar. Returns, per output, an array of its value at every step (shape
        ``(steps, *shape)``), or a list of the per-step arrays when its shape changes between steps (an uneven last
        batch); one such result for a single output, else a list.

        ``shard`` (data-parallel training: ``(index, count)`` or a communicator): each step takes only part
        ``index`` of ``count`` of every global batch of ``batch_size``, as ``sg.minibatches(..., shard=)`` does,
        so that a step built with ``opt.updates(..., allreduce=comm)`` on every process follows the global batch.
        """
        caller = "Function.epoch"
        data = self._checked_epoch_data(arrays, caller)
        batch_size = check_batch_size(batch_size, caller)
        shuffle, drop_last = check_flag(shuffle, "shuffle", caller), check_flag(drop_last, "drop_last", caller)
        part = check_shard(shard, rng, shuffle, caller)
        order, stop = epoch_order(len(data[0]), batch_size, rng, shuffle, drop_last, caller)
        self._check_fixed_batch_dims(batch_size, stop, caller, part)
        starts = range(0, stop, batch_size)
        if not starts:
            raise ValueError(f"{caller}: the epoch has no batches: {len(data[0])} examples"
                             + (f", fewer than batch_size={batch_size} with drop_last=True" if len(data[0]) else "")
                             + f", at {user_site()}")
        bar, owned = _progress_bar(progress, len(starts), caller)
        chunk = max(1, len(starts) // 100)  # the bar moves about a hundred times per epoch
        per_step, reported = [[] for _ in self.outputs], 0
        try:
            with _holding(self._locks):
                for step, start in enumerate(starts, 1):
                    chosen = shard_of(order[start:start + batch_size], part)
                    values = self._program.compute({id(p): a[chosen] for p, a in zip(self.inputs, data)})
                    self._apply_updates(values[len(self.outputs):])
                    for collected, value in zip(per_step, values):
                        collected.append(value)
                    if bar is not None and (step - reported >= chunk or step == len(starts)):
                        _advance(bar, step - reported, values[0] if self.outputs else None)
                        reported = step
        finally:
            if owned:
                bar.close()
        stacked = [_stacked(values) for values in per_step]
        return stacked[0] if self.single_output else stacked

    def _checked_epoch_data(self, arrays, caller: str) -> list:
        """One array per input, each converted by its placeholder's feed rule once, of one length."""
        if not isinstance(arrays, (list, tuple)):
            raise TypeError(f"{caller}: arrays must be a list or tuple with one array per input (the whole data set), "
                            f"got {type(arrays).__name__}, at {user_site()}")
        if len(arrays) != len(self.inputs) or not self.inputs:
            names = ", ".join(p.name or f"input {k}" for k, p in enumerate(self.inputs))
            raise TypeError(f"{caller}: this function takes {len(self.inputs)} inputs ({names}): pass one array per "
                            f"input, got {len(arrays)}, at {user_site()}")
        data = []
        for position, (placeholder, value) in enumerate(zip(self.inputs, arrays)):
            what = lambda: f"{caller}: array {position} for {placeholder.describe()}"  # noqa: E731
            if placeholder.ndim == 0:
                raise ShapeError(f"{what()}: a scalar placeholder cannot be sliced into batches (an epoch slices every "
                                 f"input along its first axis); make it a variable or a constant, at {user_site()}")
            array = dtypes.convert_exactly(value, placeholder.dtype, what)
            rest = placeholder.shape[1:]
            if array.ndim != placeholder.ndim or any(e is not None and e != g for e, g in zip(rest, array.shape[1:])):
                raise ShapeError(f"{what()}: expected (examples,) + {format_shape(rest)} per example, got shape "
                                 f"{array.shape}, at {user_site()}")
            data.append(array)
        lengths = [len(a) for a in data]
        if any(length != lengths[0] for length in lengths):
            raise ValueError(f"{caller}: the arrays have different lengths {lengths}: each holds one entry per "
                             f"example, at {user_site()}")
        return data

    def _check_fixed_batch_dims(self, batch_size: int, stop: int, caller: str, part) -> None:
        """Inputs of a fixed first dimension only take batches of that size (and never shards of batches)."""
        last = stop % batch_size or batch_size
        for placeholder in self.inputs:
            fixed = placeholder.shape[0]
            if fixed is not None and part is not None and part[1] > 1:
                raise ShapeError(f"{caller}: {placeholder.describe()} takes batches of exactly {fixed} examples, but "
                                 f"shard= gives each process a part of every batch: use a None first dimension, at "
                                 f"{user_site()}")
            if fixed is not None and (fixed != batch_size or last != batch_size):
                sizes = f"batches of {batch_size}" + (f" and a last one of {last}" if last != batch_size else "")
                raise ShapeError(f"{caller}: {placeholder.describe()} takes batches of exactly {fixed} examples, but "
                                 f"this epoch has {sizes}; use batch_size={fixed} (with drop_last=True if the data "
                                 f"does not divide), or a None first dimension, at {user_site()}")

    @property
    def source(self) -> str | None:
        """The generated source of a compiled backend's program (None for the NumPy interpreter)."""
        return getattr(self._program, "source", None)

    @property
    def source_path(self) -> str | None:
        """Where the generated source lives on disk (it runs with NumPy and Numba alone)."""
        return getattr(self._program, "source_path", None)

    @property
    def profile(self):
        """With ``profile=True``: seconds and calls per kernel over every call so far (``print`` it); else None."""
        return self._program.profile

    @property
    def cache_info(self):
        """For a compiled backend: whether the disk cache had this function, its key, and why not on a miss."""
        return getattr(self._program, "cache_info", None)

    def _checked_feeds(self, arrays) -> dict:
        if len(arrays) != len(self.inputs):
            names = ", ".join(p.name or f"input {k}" for k, p in enumerate(self.inputs))
            count = f"{len(self.inputs)} array{'' if len(self.inputs) == 1 else 's'}"
            raise TypeError(f"this function takes {count} ({names}), got {len(arrays)}")
        return {id(placeholder): placeholder.checked_value(value) for placeholder, value in zip(self.inputs, arrays)}

    def _apply_updates(self, values) -> None:
        """Check every update value, then assign them all: a refused value leaves every variable unchanged."""
        checked = [variable.checked_value(value, _update_what(variable, expression))
                   for (variable, expression), value in zip(self.updates, values)]
        for (variable, _), value in zip(self.updates, checked):
            variable.store(value, owned=True)

    def _results(self, values):
        results = values[:len(self.outputs)]
        return results[0] if self.single_output else results

    def __copy__(self):
        raise TypeError("cannot copy a compiled function: it holds its graph and the variables it updates; "
                        "compile another with sg.function(...)")

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __reduce_ex__(self, protocol):
        raise TypeError("cannot pickle a compiled function: symgraph graphs are not picklable; save its graph with "
                        "sg.save(path, outputs, inputs) and the variables it updates with sg.save_variables(path, "
                        "function)")


@contextlib.contextmanager
def _holding(locks):
    """Hold every lock of ``locks`` (acquired in order, released in reverse)."""
    taken = []
    try:
        for lock in locks:
            lock.acquire()
            taken.append(lock)
        yield
    finally:
        for lock in reversed(taken):
            lock.release()


def _progress_bar(progress, total: int, caller: str):
    """The bar that ``progress`` asks for, and whether this call made it (and so closes it)."""
    if progress is None or progress is False:
        return None, False
    if progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            raise ImportError(f"{caller}: progress=True draws a tqdm bar, but tqdm is not installed (pip install "
                              f"tqdm); pass progress=None, or an object with an update(steps) method") from None
        return tqdm(total=total, unit="step"), True
    if not callable(getattr(progress, "update", None)):
        raise TypeError(f"{caller}: progress must be None, True or an object with an update(steps) method (a tqdm "
                        f"bar), got {type(progress).__name__} {progress!r:.60}, at {user_site()}")
    return progress, False


def _advance(bar, steps: int, first_output) -> None:
    if first_output is not None and getattr(first_output, "ndim", None) == 0 and hasattr(bar, "set_postfix"):
        bar.set_postfix(value=f"{float(first_output):.4g}", refresh=False)
    bar.update(steps)


def _stacked(values: list):
    """Per-step values as one array (steps first) when they share a shape, else as the list."""
    if values and all(v.shape == values[0].shape for v in values):
        return np.stack(values)
    return values


def _title(inputs, outputs, updates) -> str:
    names = ", ".join(p.name or "?" for p in inputs)
    site = outputs[0].site if outputs else (updates[0][1].site if updates else None)
    where = f", built at {site}" if site else ""
    return f"sg.function of ({names}): {len(outputs)} outputs and {len(updates)} updates{where}"


def _where() -> str:
    return f"sg.function at {user_site()}"


def _update_what(variable: Variable, expression: Node):
    return lambda: f"the update of {variable.describe()} (computed by {expression.describe()})"


def function(inputs, outputs, updates=None, backend: str = "numba", optimize: bool = True,
             profile: bool = False) -> Function:
    """Compile ``outputs`` (a node or a list) as a function of ``inputs`` (placeholders, in call order).

    ``updates`` maps variables to nodes (a dict or a list of pairs): after each call every variable takes its node's
    value, all computed from the values before the call (Theano semantics), all checked before any is assigned.
    Updates implied by the graph (random streams advance, training-mode batch_norm updates its running statistics)
    are added unless given explicitly. ``optimize`` runs ``sg.optimize`` over outputs and updates together first (its
    report is ``f.report``). A call with updates is atomic with respect to every other call that updates the same
    variables; calls without updates run concurrently. ``profile`` times every kernel of every call
    (``print(f.profile)``; the Numba backend then compiles one kernel per generated function).

    ``backend`` is "numba" (the default: the whole function compiled into a cached module of fused kernels) or
    "numpy" (the reference interpreter: op by op in NumPy, nothing to compile).
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"{_where()}: unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    if not isinstance(optimize, bool):
        raise TypeError(f"{_where()}: optimize must be True or False, got {type(optimize).__name__} {optimize!r:.40}")
    if not isinstance(profile, bool):
        raise TypeError(f"{_where()}: profile must be True or False, got {type(profile).__name__} {profile!r:.40}")
    return Function(inputs, outputs, updates, backend, optimize, profile)


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
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"{_where()}: inputs must be a placeholder or a list of placeholders (use [] for none), "
                        f"got {type(inputs).__name__} {inputs!r:.60}")
    inputs = list(inputs)
    for position, node in enumerate(inputs):
        if not isinstance(node, Placeholder):
            what = node.describe() if isinstance(node, Node) else f"{type(node).__name__} {node!r:.60}"
            raise TypeError(f"{_where()}: inputs must be placeholders; input {position} is a {what}")
    for position, node in enumerate(inputs):
        if any(node is other for other in inputs[:position]):
            raise ValueError(f"{_where()}: {node.describe()} is listed twice among the inputs")
    return inputs


def _check_outputs(outputs) -> list[Node]:
    if not isinstance(outputs, (list, tuple)):
        raise TypeError(f"{_where()}: outputs must be a node or a list of nodes, got {type(outputs).__name__} "
                        f"{outputs!r:.60}")
    for position, node in enumerate(outputs):
        if not isinstance(node, Node):
            raise TypeError(f"{_where()}: output {position} is not a node: {type(node).__name__} {node!r:.60}")
    return list(outputs)


def _update_pairs(updates) -> list:
    if isinstance(updates, Mapping):
        return list(updates.items())
    if not isinstance(updates, (list, tuple)):
        raise TypeError(f"{_where()}: updates must be a dict or a list of (variable, node) pairs, "
                        f"got {type(updates).__name__} {updates!r:.60}")
    for position, pair in enumerate(updates):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise TypeError(f"{_where()}: updates must be (variable, node) pairs; update {position} is "
                            f"{type(pair).__name__} {pair!r:.60}")
    return [tuple(pair) for pair in updates]


def _check_updates(updates) -> list[tuple[Variable, Node]]:
    if updates is None:
        return []
    checked = []
    for variable, expression in _update_pairs(updates):
        if not isinstance(variable, Variable):
            what = variable.describe() if isinstance(variable, Node) else repr(variable)
            raise TypeError(f"{_where()}: only variables can be updated, got {what}")
        if any(variable is seen for seen, _ in checked):
            raise ValueError(f"{_where()}: {variable.describe()} has two updates")
        expression = as_node(expression, [variable])
        if expression.ndim != variable.ndim or any(
                e is not None and e != v for e, v in zip(expression.shape, variable.shape)):
            raise ShapeError(f"{_where()}: the update of {variable.describe()} has shape "
                             f"{format_shape(expression.shape)}, expected {format_shape(variable.shape)} (update "
                             f"built at {expression.site})")
        if expression.dtype != variable.dtype:
            raise DTypeError(f"{_where()}: the update of {variable.describe()} has dtype {expression.dtype}, expected "
                             f"{variable.dtype} (update built at {expression.site}); use sg.cast if intended")
        checked.append((variable, expression))
    return checked
