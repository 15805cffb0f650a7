"""Testing helpers for users and for symgraph's own tests: finite-difference checks of gradient graphs, and the search
for the node whose gradient rule is wrong.

``check_grads`` compares symbolic vector-Jacobian products with central differences along random directions, and
with ``order=2`` does the same for the gradient graph itself (grad of grad), as HIPS autograd's check_grads does.
Such an end-to-end check only says that something is wrong (PyTorch's gradcheck and JAX's check_grads leave the
bisection to the user); ``locate_bad_gradient``, and ``check_grads(..., localize=True)`` when a check fails, check
each node's own rule, at the values its inputs take for the given feeds, against finite differences of its op's
``compute``, and name the first node in forward topological order whose rule is wrong.
"""

from __future__ import annotations

from collections import ChainMap
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from symgraph import dtypes
from symgraph.autodiff import _check_node, _check_wrt, _depends_on, _wrt_list, apply_rule, gradient_for_input, vjp
from symgraph.backends.numpy import NumpyProgram, _value_of, validate_feeds
from symgraph.errors import SymgraphError
from symgraph.graph import (
    Constant, Node, Placeholder, Variable, _with_context, apply, constant, placeholder, toposort, toposort_beyond,
    user_site,
)
from symgraph.nn.arguments import argument_error, argument_value_error, number_in, optional_seed, positive_int
from symgraph import ops
from symgraph.ops.elementwise import StopGradient

MAX_DIRECTIONS = 100  # random directions per node that locate_bad_gradient accepts


def check_grads(output: Node, wrt: Sequence[Node] | Node, feed_dict: Mapping | None = None, order: int = 2,
                eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7, seed: int = 0,
                localize: bool = False) -> None:
    """Raise AssertionError unless the gradients of ``output`` match central differences.

    ``wrt`` are variables or placeholders (float64 recommended); variables are perturbed through ``assign`` and
    restored, placeholders through the feeds. ``order=2`` also checks the gradient graph's own gradients.

    ``localize=True``: when a check fails (an AssertionError, or an error while building or evaluating the
    gradients), ``locate_bad_gradient`` checks every node's own rule on the graph that failed (the output's, or at
    second order the gradient graph's) and the error, of the same type, names the first node whose rule is wrong:
    its op, name, shape, your file:line, the input and the numbers; or it says that every rule agrees, and lists
    what it left out (elements at kinks, random ops), which then explains the failure.
    """
    if not isinstance(localize, (bool, np.bool_)):
        raise TypeError(f"check_grads: localize must be True or False, got {type(localize).__name__} "
                        f"{localize!r:.60}\n  at {user_site()}")
    wrt = [wrt] if isinstance(wrt, Node) else list(wrt)
    rng = np.random.default_rng(seed)
    feeds = dict(feed_dict or {})
    checked = output
    try:
        _check_directional(output, wrt, feeds, rng, eps, rtol, atol, label="first order")
        if order >= 2:
            checked = _second_order_scalar(output, wrt, feeds, rng)
            _check_directional(checked, wrt, feeds, rng, eps, rtol, atol, label="second order")
    except (AssertionError, TypeError, ValueError) as error:  # symgraph's errors are TypeErrors and ValueErrors
        if not localize:
            raise
        located = _with_text(error, _localized(error, checked, wrt, feeds, seed))
        if located is error:
            raise
        raise located from error


def _second_order_scalar(output, wrt, feeds, rng) -> Node:
    """<vjp(output, wrt, cotangent), weights>: a scalar whose gradients are the gradient graph's own gradients."""
    cotangent = rng.standard_normal(_concrete_shape(output, feeds)).astype(output.dtype)
    pullbacks = vjp(output, wrt, cotangent, disconnected="zero")
    weights = [rng.standard_normal(_concrete_shape(x, feeds)).astype(x.dtype) for x in wrt]
    scalar = None
    for pullback, weight in zip(pullbacks, weights):
        term = ops.sum(ops.mul(pullback, weight))
        scalar = term if scalar is None else scalar + term
    return scalar


def _check_directional(output, wrt, feeds, rng, eps, rtol, atol, label):
    shapes = [_concrete_shape(x, feeds) for x in wrt]
    directions = [rng.standard_normal(shape) for shape in shapes]
    cotangent = rng.standard_normal(_concrete_shape(output, feeds))
    pullbacks = vjp(output, wrt, cotangent.astype(output.dtype), disconnected="zero")
    pulled = NumpyProgram(pullbacks).run(feeds)
    symbolic = float(sum(np.sum(np.asarray(p, np.float64) * d) for p, d in zip(pulled, directions)))
    program = NumpyProgram([output])
    base = [_current_value(x, feeds) for x in wrt]

    def value_at(step):
        with _perturbed(wrt, base, directions, step, feeds) as moved:
            return program.run(moved)[0].astype(np.float64)

    numeric = float(np.sum((value_at(eps) - value_at(-eps)) / (2 * eps) * cotangent))
    if not np.isclose(symbolic, numeric, rtol=rtol, atol=atol):
        names = ", ".join(x.describe() for x in wrt)
        failure = AssertionError(
            f"{label} gradient check failed for {output.describe()} with respect to {names}: "
            f"symbolic directional derivative {symbolic!r}, finite differences {numeric!r}"
        )
        failure.numeric = numeric
        raise failure


def _localized(error: Exception, graph: Node, wrt: list, feeds: dict, seed: int) -> str:
    """What ``locate_bad_gradient`` finds in the graph whose check failed, with hints where no rule is wrong."""
    try:
        location = locate_bad_gradient(graph, wrt, feeds, seed=seed)
    except (SymgraphError, TypeError, ValueError) as failure:
        return f"locate_bad_gradient could not run: {failure}"
    text = str(location)
    if location.bad is not None:
        return text
    hints = []
    if not np.isfinite(getattr(error, "numeric", 0.0)):
        hints.append("the end-to-end finite differences are not finite: a step of eps may leave an op's domain "
                     "(log, sqrt or pow of values near 0); locate_bad_gradient steps relative to each value")
    if any(x.dtype != np.float64 for x in [graph, *wrt]):
        hints.append("the end-to-end check ran in float32, where differences of a small eps lose most digits: "
                     "check with float64 variables and feeds")
    if location.notes:
        hints.append("at kinks and ties finite differences and the rules' conventions differ, so an end-to-end "
                     "check there fails though no rule is wrong")
    return text + "".join(f"\n  hint: {hint}" for hint in hints)


def _with_text(error: Exception, text: str) -> Exception:
    """``error`` with ``text`` added: a new error of its type, or (for a type that takes other arguments) the error
    itself with ``text`` as a note where Python has notes (3.11)."""
    try:
        return type(error)(f"{error}\n{text}")
    except Exception:  # noqa: BLE001 - an exception type whose constructor wants something else
        if hasattr(error, "add_note"):
            error.add_note(text)
        return error


def _concrete_shape(node: Node, feeds) -> tuple:
    if isinstance(node, Placeholder):
        return np.shape(_fed(node, feeds))
    if all(d is not None for d in node.shape):
        return node.shape
    return NumpyProgram([node]).run(feeds)[0].shape


def _fed(node: Placeholder, feeds):
    if node in feeds:
        return feeds[node]
    return feeds[node.name]


def _current_value(x: Node, feeds) -> np.ndarray:
    if isinstance(x, Variable):
        return x.value
    if isinstance(x, Placeholder):
        return np.asarray(_fed(x, feeds))
    raise TypeError(f"check_grads perturbs variables and placeholders only, got {x.describe()}")


@contextmanager
def _perturbed(wrt, base, directions, step, feeds):
    moved = dict(feeds)
    try:
        for x, value, direction in zip(wrt, base, directions):
            new_value = (value + step * direction).astype(x.dtype)
            if isinstance(x, Variable):
                x.assign(new_value)
            else:
                moved.pop(x.name, None)
                moved[x] = new_value
        yield moved
    finally:
        for x, value in zip(wrt, base):
            if isinstance(x, Variable):
                x.assign(value)


# -- locating the wrong rule ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BadGradient:
    """A node whose gradient rule disagrees with finite differences of its op at the values its inputs take.

    ``position`` is the input whose gradient is wrong (None when the rule fails as a whole); ``problem`` says what is
    wrong. For a wrong value, ``rule_value`` is u . (rule's gradient for that input given u) . d for a random
    cotangent u and input direction d, ``finite_difference`` is u . (J d) measured by central differences of the op's
    ``compute`` (in float64), and ``tolerance`` the largest difference that would have passed.
    """

    node: Node
    position: int | None
    problem: str
    rule_value: float | None = None
    finite_difference: float | None = None
    tolerance: float | None = None

    def __str__(self) -> str:
        where = "" if self.position is None else (f", input {self.position} "
                                                  f"({self.node.inputs[self.position].describe()})")
        return f"wrong gradient rule at {self.node.describe()}{where}: {self.problem}"


@dataclass(frozen=True)
class GradientLocation:
    """What ``locate_bad_gradient`` found: ``bad``, the first node whose rule is wrong (None when every rule it checked
    agrees); ``checked``, the input gradients it checked, at ``nodes`` nodes (up to ``bad``); and ``notes``, what it
    left out of the checks and why (elements at kinks, random ops, ...), each starting with its node's description."""

    bad: BadGradient | None
    checked: int
    nodes: int
    notes: tuple

    def __str__(self) -> str:
        if self.bad is not None:
            head = f"locate_bad_gradient: {self.bad}"
        else:
            head = (f"locate_bad_gradient: every gradient rule agrees with finite differences of its op "
                    f"({self.checked} input gradients checked at {self.nodes} nodes)")
        return head + "".join(f"\n  note: {note}" for note in self.notes)


def locate_bad_gradient(output: Node, wrt, feed_dict: Mapping | None = None, directions: int = 2,
                        rtol: float | None = None, atol: float | None = None,
                        seed: int | None = 0) -> GradientLocation:
    """Check each node's own gradient rule where ``output`` depends on ``wrt``, and name the first wrong one.

    The graph is evaluated once with ``feed_dict``; then, in forward topological order (inputs before consumers, so
    the first wrong rule is the innermost, the one that explains a failing end-to-end check), each node's rule is
    given a random cotangent u and compared, input by input, with central differences of the op's ``compute``
    along a random direction d, at the values the node's inputs take. ``directions`` such (u, d) pairs per node
    (1 to 100): a few whole-array directions, not every element, so large nodes cost a few evaluations. Only the
    rules a gradient of ``output`` with respect to ``wrt`` uses are checked: floating-point inputs that depend on
    ``wrt``; integer inputs, and ops whose output is not floating-point, pass no gradient. A rule that gives no
    gradient (None) is checked as zero.

    The differences are taken in float64 (the op's compute on widened inputs), Richardson-extrapolated, with steps
    relative to each value (at most 1), so that they stay inside domains such as log's or sqrt's. Output elements
    at kinks, ties and jumps (relu and abs at 0, max at ties, floor at integers), where one-sided differences
    disagree, or where values are not finite, are left out of the comparison; an op whose compute gives different
    values for the same inputs (random or stateful) is left out; each is listed in the result's ``notes``. The
    tolerance is ``rtol`` (default 1e-6 for float64 rules, 1e-3 for float32) times the magnitude of the terms, plus
    the differences' rounding, plus ``atol`` (default the square root of the dtype's smallest normal number); a
    float32 rule that fails is checked again in float64, and passes with a note when only rounding was at fault.

    ``seed`` (an int, or None for fresh randomness) makes the directions reproducible. Returns a GradientLocation.
    """
    caller = "locate_bad_gradient"
    _check_node(output, "the output", caller)
    wrt_nodes = _wrt_list(wrt, caller)
    for x in wrt_nodes:
        _check_wrt(x, caller)
    if feed_dict is not None and not isinstance(feed_dict, Mapping):
        raise argument_error(f"{caller}: feed_dict must be a mapping from placeholders (or their names) to values, "
                             "or None", feed_dict, None)
    directions = positive_int(directions, f"{caller}: directions")
    if directions > MAX_DIRECTIONS:
        raise argument_value_error(f"{caller}: directions must be at most {MAX_DIRECTIONS}, got {directions}", None)
    rtol = None if rtol is None else number_in(rtol, f"{caller}: rtol", None, 0.0)
    atol = None if atol is None else number_in(atol, f"{caller}: atol", None, 0.0)
    rng = np.random.default_rng(optional_seed(seed, f"{caller}: seed"))
    order = toposort([output])
    with np.errstate(all="ignore"):
        values = _forward_values(order, feed_dict or {}, caller)
        wanted = _depends_on(order, wrt_nodes)
        notes, checked, nodes = [], 0, 0
        for node in order:
            positions = [p for p, x in enumerate(node.inputs) if id(x) in wanted and dtypes.is_float(x.dtype)]
            if not positions or not dtypes.is_float(node.dtype):
                continue
            check = _RuleCheck(node, positions, values, rng, directions, rtol, atol)
            notes.extend(check.notes)
            checked += check.checked
            nodes += check.checked > 0
            if check.bad is not None:
                return GradientLocation(check.bad, checked, nodes, tuple(notes))
    return GradientLocation(None, checked, nodes, tuple(notes))


def _forward_values(order: list, feed_dict: Mapping, caller: str) -> dict:
    """The value of every node of ``order`` (by id) for ``feed_dict``; errors name ``caller`` and the user's line."""
    try:
        feeds = validate_feeds(feed_dict, [n for n in order if isinstance(n, Placeholder)])
        values: dict = {}
        for node in order:
            values[id(node)] = _value_of(node, values, feeds)
    except SymgraphError as error:
        raise _with_context(error, caller, []) from None
    return values


# By the precision of the op's compute: the step of the differences (a power of two, near eps ** (1/4) and
# eps ** (1/3)), and how far, relative to the derivatives' size, the differences of a smooth function may depart from
# what smoothness predicts (they depart by O(step ** 2) times its curvature; at a kink, a tie or a jump by O(1)).
_STEP = {np.dtype("float64"): 2.0 ** -13, np.dtype("float32"): 2.0 ** -8}
_KINK_RTOL = {np.dtype("float64"): 1e-4, np.dtype("float32"): 1e-2}
_RULE_RTOL = {np.dtype("float64"): 1e-6, np.dtype("float32"): 1e-3}  # by the precision of the rule's arithmetic
_NOISE_ULPS = 16  # rounding of one compute, in units of its dtype's eps, relative to the values' magnitude


def _lowest_precision(*dtype_list) -> np.dtype:
    """float64 when every (floating) dtype is at least as precise, else float32: the precisions symgraph computes in."""
    wide = all(np.finfo(d).eps <= np.finfo(np.float64).eps for d in dtype_list)
    return np.dtype("float64") if wide else np.dtype("float32")


class _RuleCheck:
    """The local check of one node's rule for the inputs at ``positions``: sets ``bad`` (a BadGradient or None),
    ``checked`` (input gradients compared) and ``notes`` (what was left out)."""

    def __init__(self, node, positions, values, rng, directions, rtol, atol):
        self.node, self.values = node, values
        self.rtol, self.atol = rtol, atol
        self.bad, self.checked, self.notes = None, 0, []
        self.inputs = [values[id(x)] for x in node.inputs]
        self.output = values[id(node)]
        cotangents = [placeholder(node.shape, node.dtype, name="cotangent") for _ in range(directions)]
        rules = [self._rule(g, positions) for g in cotangents]
        if self.bad is not None or not self._widen():
            return
        compared = set()
        self.kinks = self.not_finite = 0  # output elements left out, the most of any direction
        self.rule_not_finite = {}  # input position -> gradient elements left out, the most of any direction
        for g, rule in zip(cotangents, rules):
            u = rng.standard_normal(self.output.shape)
            measured = {p: self._differences(p, rng) for p in positions}
            positions = [p for p in positions if measured[p] is not None]  # compute failed when moved: noted
            if not positions:
                break
            kinked = np.logical_or.reduce([measured[p][1] for p in positions])
            not_finite = np.logical_or.reduce([measured[p][2] for p in positions])
            self.kinks = max(self.kinks, int((kinked & ~not_finite).sum()))
            self.not_finite = max(self.not_finite, int(not_finite.sum()))
            mask = kinked | not_finite
            u = np.where(mask, 0.0, u).astype(node.dtype)
            if not np.any(u):
                continue
            for position in positions:
                direction, _, _, numeric = measured[position]
                if not self._compare(position, rule[position], g, u, direction, numeric, mask):
                    return
                compared.add(position)
        self.checked = len(compared)
        self._note_left_out(compared)

    # -- the rule ---------------------------------------------------------------------------------------------------
    def _rule(self, g, positions) -> dict:
        """The rule's gradient node for each input position (None: no gradient), as reverse accumulation uses it."""
        try:
            grads = apply_rule(self.node, g)
        except Exception as error:  # noqa: BLE001 - whatever a rule raises is what is wrong with it
            self.bad = self.bad or BadGradient(self.node, None, f"building the rule raised {_error_text(error)}")
            return {}
        rule = {}
        for position in positions:
            gradient = grads[position]
            if gradient is not None and not isinstance(gradient, Node):
                self.bad = self.bad or BadGradient(self.node, position, f"the rule gave a {type(gradient).__name__}, "
                                                                        "not a node (or None)")
                continue
            try:
                rule[position] = None if gradient is None else gradient_for_input(self.node, position, gradient)
            except Exception as error:  # noqa: BLE001
                self.bad = self.bad or BadGradient(self.node, position, _error_text(error))
        return rule

    def _rule_value(self, node, position, gradient, g, u, direction, values) -> np.ndarray | None:
        """The terms of <rule's gradient (of ``node``, for input ``position``) given cotangent u, d>, elementwise;
        None when its graph fails at run time or gives the wrong shape (for the checked node, ``bad`` says so)."""
        if gradient is None:
            return np.zeros(direction.shape)
        known = ChainMap({id(g): u}, values)
        try:
            for new in toposort_beyond([gradient], known):
                known[id(new)] = _value_of(new, known, {id(g): u})
        except Exception as error:  # noqa: BLE001
            if node is self.node:
                self.bad = BadGradient(node, position, f"its gradient graph fails at run time: {_error_text(error)}")
            return None
        value = np.asarray(known[id(gradient)], np.float64)
        if value.shape != direction.shape:
            if node is self.node:
                self.bad = BadGradient(node, position, f"the rule gives a gradient of shape {value.shape} at run "
                                                       f"time, for an input of shape {direction.shape}")
            return None
        return np.where(direction != 0, value * direction, 0.0)

    # -- finite differences of the op -------------------------------------------------------------------------------
    def _widen(self) -> bool:
        """Choose the arrays compute is differentiated at: float inputs widened to float64 where compute takes them
        (and gives the output's shape), else the inputs as they are. False (with a note) when compute is not a
        function of its inputs."""
        widened = [np.asarray(v, np.float64) if dtypes.is_float(v.dtype) else v for v in self.inputs]
        for arrays in (widened, self.inputs):
            try:
                first, second = self._compute(arrays), self._compute(arrays)
            except Exception:  # noqa: BLE001 - a compute that refuses float64 is differentiated in its own dtypes
                continue
            if first.shape != self.output.shape or not dtypes.is_float(first.dtype):
                continue
            if not np.array_equal(first, second, equal_nan=True):
                self.notes.append(f"{self.node.describe()}: not checked: its compute gives different values for "
                                  "the same inputs (a random or stateful op), so finite differences cannot measure "
                                  "its derivative")
                return False
            self.arrays, self.base = arrays, first.astype(np.float64)
            self.compute_dtype = first.dtype
            return True
        self.notes.append(f"{self.node.describe()}: not checked: run again on the inputs it was evaluated at, its "
                          "compute fails or gives another shape")
        return False

    def _compute(self, arrays) -> np.ndarray:
        return np.asarray(self.node.op.compute(*arrays))

    def _differences(self, position, rng):
        """For a random direction d of input ``position``: (d, output elements at kinks, output elements that are
        not finite, (J d by Richardson-extrapolated central differences, its error bound)), both zero where left
        out; None (with a note) when compute fails at the moved inputs."""
        value = self.arrays[position]
        precision = _lowest_precision(self.compute_dtype, value.dtype)
        step = _STEP[precision]
        direction = rng.standard_normal(value.shape) * _step_scale(value)

        def at(t):
            moved = list(self.arrays)
            moved[position] = (value + t * direction).astype(value.dtype)
            return self._compute(moved).astype(np.float64)

        try:
            plus, minus, half_plus, half_minus = at(step), at(-step), at(step / 2), at(-step / 2)
        except Exception as error:  # noqa: BLE001
            self.notes.append(f"{self.node.describe()}: input {position} not checked: its compute fails at inputs "
                              f"moved by {step:.1g} of their size: {_error_text(error)}")
            return None
        base = self.base
        coarse, fine = (plus - minus) / (2 * step), (half_plus - half_minus) / step
        central = (4 * fine - coarse) / 3  # Richardson: the step ** 2 error terms cancel
        forward, backward = (plus - base) / step, (base - minus) / step
        curvature, half_curvature = (plus - 2 * base + minus) / step, (half_plus - 2 * base + half_minus) / (step / 2)
        magnitude = np.max(np.abs([base, plus, minus, half_plus, half_minus]), axis=0)
        noise = _NOISE_ULPS * np.finfo(precision).eps * magnitude / step
        # Smooth, the one-sided differences' gap halves with the step and the central differences agree; a kink at
        # the value (relu at 0, a tie of max) keeps the gap, and a jump inside the step (floor, an argmax that
        # changes) makes the finer central difference the larger.
        bend = np.abs(half_curvature - curvature / 2)
        jump = np.maximum(np.abs(fine) - np.abs(coarse), 0.0)
        tolerance = _KINK_RTOL[precision]
        kinked = (bend > tolerance * (np.abs(forward) + np.abs(backward) + np.abs(curvature)) + 10 * noise) | (
            jump > tolerance * (np.abs(fine) + np.abs(coarse)) + 4 * noise)
        not_finite = ~np.isfinite(central) | ~np.isfinite(magnitude) | ~np.isfinite(self.output)
        left_out = kinked | not_finite
        error = noise + np.abs(fine - coarse) / 3 + bend + jump  # rounding, the extrapolation's correction, and
        # whatever small kink the tests let through
        return direction, kinked, not_finite, (np.where(left_out, 0.0, central), np.where(left_out, 0.0, error))

    # -- the comparison ---------------------------------------------------------------------------------------------
    def _compare(self, position, gradient, g, u, direction, numeric, mask) -> bool:
        """Compare the rule with the differences for one input; False after setting ``bad``."""
        central, error = numeric
        terms = self._rule_value(self.node, position, gradient, g, u, direction, self.values)
        if terms is None:
            return False
        if mask.any() and not np.isfinite(terms).all():  # 0 * inf beside left-out elements (sqrt at 0, log at 0)
            count = int((~np.isfinite(terms)).sum())
            self.rule_not_finite[position] = max(self.rule_not_finite.get(position, 0), count)
            terms = np.where(np.isfinite(terms), terms, 0.0)
        weights = np.asarray(u, np.float64)
        rule_value, measured = float(np.sum(terms)), float(np.sum(weights * central))
        precision = _lowest_precision(self.node.dtype, self.node.inputs[position].dtype)
        rtol = _RULE_RTOL[precision] if self.rtol is None else self.rtol
        atol = np.sqrt(np.finfo(precision).tiny) if self.atol is None else self.atol
        magnitude = max(float(np.sum(np.abs(terms))), float(np.sum(np.abs(weights * central))))
        measurement_error = float(np.sum(np.abs(weights) * error))
        tolerance = rtol * magnitude + measurement_error + atol
        if abs(rule_value - measured) <= tolerance:
            return True
        if precision != np.float64:
            wide = self._float64_rule_value(position, u, direction)
            wide_rtol = _RULE_RTOL[np.dtype("float64")] if self.rtol is None else self.rtol
            wide_tolerance = wide_rtol * magnitude + measurement_error + atol
            if wide is not None and abs(wide - measured) <= wide_tolerance:
                self.notes.append(f"{self.node.describe()}: input {position}: the rule agrees with finite "
                                  f"differences in float64 ({wide!r} vs {measured!r}) but loses digits in "
                                  f"{precision.name} here ({rule_value!r}): rounding, not a wrong rule")
                return True
        claim = "passes no gradient (None), so u.J.d = 0" if gradient is None else f"gives u.J.d = {rule_value!r}"
        problem = (f"for a random cotangent u and input direction d, the rule {claim}, but central differences of "
                   f"the op's compute measure {measured!r} (difference {abs(rule_value - measured):.3g}, tolerance "
                   f"{tolerance:.3g})")
        if isinstance(self.node.op, StopGradient):
            problem += "; stop_gradient blocks gradients by design, so an end-to-end check cannot pass through it"
        self.bad = BadGradient(self.node, position, problem, rule_value, measured, tolerance)
        return False

    def _float64_rule_value(self, position, u, direction) -> float | None:
        """u.(rule's gradient).d with the node rebuilt on float64 copies of its float inputs (None if it cannot be)."""
        inputs, fed = [], {}
        for x, value in zip(self.node.inputs, self.inputs):
            if isinstance(x, Constant) and dtypes.is_float(x.dtype):
                inputs.append(constant(x.value, "float64"))
            elif dtypes.is_float(x.dtype) and x.dtype != np.float64:
                stand_in = placeholder(x.shape, "float64", name=x.name)
                fed[id(stand_in)] = value.astype(np.float64)
                inputs.append(stand_in)
            else:
                inputs.append(x)
        try:
            wide = apply(self.node.op, *inputs)
            g = placeholder(wide.shape, wide.dtype, name="cotangent")
            gradient = apply_rule(wide, g)[position]
            gradient = None if gradient is None else gradient_for_input(wide, position, gradient)
        except Exception:  # noqa: BLE001 - the op cannot be rebuilt in float64: the verdict stays
            return None
        terms = self._rule_value(wide, position, gradient, g, u.astype(wide.dtype), direction,
                                 ChainMap(fed, self.values))
        return None if terms is None else float(np.sum(terms))

    def _note_left_out(self, compared) -> None:
        node, size = self.node.describe(), self.output.size
        if not compared:
            if not any(note.startswith(node) for note in self.notes):
                self.notes.append(f"{node}: not checked: all {size} output elements sit at a kink, a tie or a jump "
                                  "(one-sided differences disagree), or are not finite")
            return
        if self.kinks:
            self.notes.append(f"{node}: {self.kinks} of {size} output elements sit at a kink, a tie or a jump "
                              "(one-sided differences disagree) and were left out of its check")
        if self.not_finite:
            self.notes.append(f"{node}: {self.not_finite} of {size} output elements are not finite (inf or nan, "
                              "here or one step away) and were left out of its check")
        for position, count in self.rule_not_finite.items():
            self.notes.append(f"{node}: input {position}: {count} gradient elements that are not finite (0 * inf "
                              "beside left-out output elements) were left out")


def _step_scale(value: np.ndarray) -> np.ndarray:
    """Per element, the size of a unit step: the value's magnitude (at most 1), so that a small relative step stays
    inside domains such as log's; for zeros the typical magnitude of the others; none for values that are not
    finite."""
    magnitude = np.abs(value.astype(np.float64))
    finite = np.isfinite(magnitude)
    nonzero = magnitude[finite & (magnitude > 0)]
    typical = min(float(np.mean(nonzero)), 1.0) if nonzero.size else 1.0
    return np.where(finite, np.where(magnitude > 0, np.minimum(magnitude, 1.0), typical), 0.0)


def _error_text(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
