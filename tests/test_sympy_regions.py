"""The simplify pass's sympy step: elementwise regions rebuilt smaller, checked against NumPy, never duplicated."""

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import sympy

import symgraph as sg
from symgraph import sympy_bridge
from symgraph.passes import sympy_forms, sympy_regions
from symgraph.passes.report import op_histogram

rng = np.random.default_rng(7)


def placeholders(shape=(3, 4), dtype="float64", names="xyz"):
    return [sg.placeholder(shape, dtype, name=n) for n in names]


def optimized(output):
    new, report = sg.optimize(output, passes=["simplify"])
    return new, report


def feed_for(nodes, shape):
    return {n: rng.standard_normal([4 if d is None else d for d in shape]).astype(n.dtype) for n in nodes}


@pytest.mark.parametrize("shape", [(3, 4), (None, 4)])
def test_distributive_identity_becomes_zeros(shape):
    x, y, z = placeholders(shape)
    out = (x * y + x * z) - x * (y + z)
    new, report = optimized(out)
    assert report.rule_counts["sympy_region"] == 1
    assert op_histogram([new])["mul"] == 0 and new.shape == out.shape and new.dtype == out.dtype
    feed = feed_for([x, y, z], shape)
    value = sg.evaluate(new, feed)
    assert value.shape == sg.evaluate(out, feed).shape
    np.testing.assert_array_equal(value, 0)


def test_products_of_exponentials_merge_into_one():
    x, y, z = placeholders(dtype="float32")
    out = sg.exp(x) * sg.exp(y) * sg.exp(z)
    new, report = optimized(out)
    assert op_histogram([out])["exp"] == 3 and op_histogram([new])["exp"] == 1
    assert new.dtype == np.float32
    feed = feed_for([x, y, z], (3, 4))
    np.testing.assert_allclose(sg.evaluate(new, feed), sg.evaluate(out, feed), rtol=1e-6)


def test_removable_singularities_are_kept():
    x, y, _ = placeholders()
    out = (sg.square(x) - sg.square(y)) / (x - y)  # x + y, except NaN where x = y
    new, report = optimized(out)
    assert report.rule_counts["sympy_region"] == 0 and op_histogram([new])["div"] == 1
    feed = feed_for([x, y], (3, 4))
    feed[y][0] = feed[x][0]
    value = sg.evaluate(new, feed)
    assert np.isnan(value[0]).all()
    np.testing.assert_allclose(value[1:], feed[x][1:] + feed[y][1:], rtol=1e-12)


def test_rational_expression_cancels_where_no_point_is_lost():
    x, y, _ = placeholders()
    out = (x * x * x + x) / (sg.square(x) + 1) + y  # x (x^2 + 1) / (x^2 + 1): the denominator is never 0
    new, report = optimized(out)
    assert report.rule_counts["sympy_region"] == 1
    histogram = op_histogram([new])
    assert histogram["div"] == 0 and histogram["mul"] == 0 and histogram["add"] == 1
    feed = feed_for([x, y], (3, 4))
    np.testing.assert_allclose(sg.evaluate(new, feed), feed[x] + feed[y], rtol=1e-12)


def test_trigonometric_identity():
    x, y, _ = placeholders()
    new, _ = optimized(sg.square(sg.sin(x)) + sg.square(sg.cos(x)) + y)
    assert set(op_histogram([new])) == {"placeholder", "add", "constant"}
    feed = feed_for([x, y], (3, 4))
    np.testing.assert_allclose(sg.evaluate(new, feed), feed[y] + 1, rtol=1e-12)


def test_dropped_leaf_keeps_the_broadcast_shape():
    x = sg.placeholder((3, 1), "float64", name="x")
    y = sg.placeholder((1, 4), "float64", name="y")
    out = x * y * 2 - y * x * 2 + x  # equals x, broadcast to (3, 4)
    new, report = optimized(out)
    assert report.rule_counts["sympy_region"] == 1 and new.shape == (3, 4)
    feed = {x: rng.standard_normal((3, 1)), y: rng.standard_normal((1, 4))}
    np.testing.assert_allclose(sg.evaluate(new, feed), np.broadcast_to(feed[x], (3, 4)), rtol=1e-12)


def test_shared_nodes_stay_leaves_and_are_not_recomputed():
    x, y, z = placeholders()
    shared = x * y + x * z  # used twice below: simplified on its own (factored), a leaf of both consumers
    outputs = [shared - sg.cos(x) * (y + z), sg.tanh(shared)]
    new, report = sg.optimize(outputs, passes=["simplify"])
    assert report.rule_counts["sympy_region"] == 1
    factored = new[1].inputs[0]
    assert new[0].inputs[0] is factored and factored.op.name == "mul"
    assert op_histogram(new)["mul"] == 2  # x * (y + z) and cos(x) * (y + z)
    feed = feed_for([x, y, z], (3, 4))
    for a, b in zip(sg.evaluate(new, feed), sg.evaluate(outputs, feed)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_stable_ops_stay_opaque():
    x, y, _ = placeholders()
    out = sg.sigmoid(x) * sg.softplus(y) * sg.sigmoid(x) / sg.sigmoid(x)
    new, report = optimized(out)
    histogram = op_histogram([new])
    assert report.rule_counts["sympy_region"] == 1
    assert histogram["sigmoid"] == 1 and histogram["softplus"] == 1 and histogram["exp"] == 0
    feed = {x: np.full((3, 4), -30.0), y: np.full((3, 4), 800.0)}  # log(1 + exp(y)) would overflow here
    expected = 800 / (1 + np.exp(30.0))
    np.testing.assert_allclose(sg.evaluate(new, feed), expected, rtol=1e-12)
    np.testing.assert_allclose(sg.evaluate(out, feed), expected, rtol=1e-12)


def test_every_region_op_has_a_sympy_form():
    """sympy_regions picks regions by op name without importing sympy; the shared table must translate each of those
    ops, and the graph builder must rebuild each of the stable ones from its opaque function."""
    assert sympy_regions.NATIVE_OPS | sympy_regions.STABLE_OPS <= sympy_bridge.OP_FORMS.keys()
    assert not sympy_regions.NATIVE_OPS & sympy_regions.STABLE_OPS
    leaves = [sg.placeholder((3,), "float64", name=f"x{k}") for k in range(3)]
    for name in sorted(sympy_regions.STABLE_OPS):
        arity = sympy_bridge.OP_ARITY[name]
        symbols = [sympy.Symbol(f"x{k}") for k in range(arity)]
        rebuilt = sympy_forms.from_sympy(sympy.Function(name)(*symbols), leaves)
        assert rebuilt.op.name == name and rebuilt.inputs == tuple(leaves[:arity])


def test_minimal_regions_are_left_alone_and_the_pass_is_idempotent():
    x, y, z = placeholders()
    out = sg.tanh(x) * y + z
    new, report = sg.optimize(out)
    assert new is out and report.rule_counts["sympy_region"] == 0
    cancelled, _ = sg.optimize((x * y + x * z) - x * (y + z) + sg.exp(x))
    again, second = sg.optimize(cancelled)
    assert again is cancelled and not second.rewrites


@pytest.mark.parametrize("build,expected", [
    (lambda x: sg.exp(sg.log(x)) + x, lambda v: np.exp(np.log(v)) + v),
    (lambda x: sg.sqrt(x) ** 2 + x, lambda v: np.sqrt(v) ** 2 + v),
    (lambda x: sg.log(x) - sg.log(x) + x, lambda v: np.log(v) - np.log(v) + v),
    (lambda x: sg.sqrt(sg.square(x)) + x * 0, lambda v: np.sqrt(v * v)),  # abs(x), but d/dx is NaN at 0
    (lambda x: x * sg.reciprocal(x) + sg.sin(x), lambda v: v / v + np.sin(v)),
])
def test_candidates_valid_only_on_part_of_the_domain_are_rejected(build, expected):
    x = sg.placeholder((7,), "float64", name="x")
    out = build(x)
    new, _ = optimized(out)
    points = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    with np.errstate(all="ignore"):
        reference = expected(points)
    np.testing.assert_allclose(sg.evaluate(new, {x: points}), reference, rtol=1e-12, equal_nan=True)
    gradients = [sg.grad(sg.sum(y), x) for y in (out, new)]
    np.testing.assert_allclose(*sg.evaluate(gradients, {x: points}), rtol=1e-12, equal_nan=True)


def test_leaves_that_may_be_infinite_are_sampled_at_infinity():
    x, y, z = placeholders()
    finite = (x * y + x * z) - x * (y + z)  # 0 for finite inputs
    new, report = optimized(finite)
    assert report.rule_counts["sympy_region"] == 1
    logs = [sg.log(v) for v in (x, y, z)]  # log(0) = -inf: the same region over them is NaN there, not 0
    shared = [sg.sum(v) + v for v in logs]  # used twice each: leaves of the region
    kept, report = optimized((shared[0] * shared[1] + shared[0] * shared[2]) - shared[0] * (shared[1] + shared[2]))
    assert report.rule_counts["sympy_region"] == 0
    feed = feed_for([x, y, z], (3, 4))
    feed[x] = np.abs(feed[x])
    feed[x][0, 0] = 0.0
    assert np.isnan(sg.evaluate(kept, feed)[0, 0])


def test_time_budget_limits_sympy_work(monkeypatch):
    monkeypatch.setattr(sympy_regions, "TIME_BUDGET", 0.0)
    monkeypatch.setattr(sympy_regions, "_cache", {})
    x, y, z = placeholders()
    out = (x * y + x * z) - x * (y + z) + sg.cos(z) * sg.sin(y) * 3
    new, report = sg.optimize(out)
    assert report.rule_counts["sympy_region"] == 0 and report.sympy_regions_skipped >= 1
    assert "sympy time limits: 1 elementwise regions left as they were" in str(report)


def deep_chain():
    x, y, _ = placeholders()
    h = x
    for k in range(6):  # a deep elementwise chain (one region of 21 ops): sympy.simplify can take seconds on these
        h = sg.sin(h * y + 2) if k % 2 else sg.exp(h) / (1 + y)
    return x, y, h


def test_a_slow_region_is_interrupted_and_left_as_it_was(monkeypatch):
    monkeypatch.setattr(sympy_regions, "_cache", {})
    calls = []

    def slow_simplify(expr):
        calls.append(expr)
        time.sleep(30)  # interrupted after REGION_TIME_LIMIT
        return expr

    monkeypatch.setattr(sympy, "simplify", slow_simplify)
    monkeypatch.setattr(sympy_regions, "REGION_TIME_LIMIT", 0.5)
    x, y, out = deep_chain()
    new, report = sg.optimize(out, passes=["simplify"])
    assert len(calls) == 1 and report.sympy_regions_skipped == 1
    assert op_histogram([new]) == op_histogram([out])
    again, report = sg.optimize(out, passes=["simplify"])  # the verdict is cached: no second attempt
    assert len(calls) == 1


class BusySimplify:
    """A stand-in for a sympy.simplify that takes ``seconds``, making cyclic garbage (so collections run often),
    optionally with a gc callback that sleeps 2 ms installed while it runs. Records that it started and finished."""

    def __init__(self, seconds=10, slow_gc_callback=False):
        self.seconds, self.slow_gc_callback = seconds, slow_gc_callback
        self.started, self.finished = [], []

    def __call__(self, expr):
        self.started.append(expr)
        if self.slow_gc_callback:
            gc.callbacks.append(self.sleep)
        try:
            deadline = time.monotonic() + self.seconds
            while time.monotonic() < deadline:
                for _ in range(100):  # garbage only the collector frees (refcounting frees the rest at once)
                    cycle = []
                    cycle.append(cycle)
        finally:
            if self.slow_gc_callback:
                gc.callbacks.remove(self.sleep)
        self.finished.append(expr)
        return expr

    @staticmethod
    def sleep(phase, info):
        time.sleep(0.002)  # most of the time is spent in here: the alarm almost always arrives here


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_the_time_limit_holds_when_the_alarm_arrives_in_a_gc_callback(monkeypatch):
    """CPython swallows an exception raised in a gc callback: the interrupt must not be lost there."""
    monkeypatch.setattr(sympy_regions, "_cache", {})
    monkeypatch.setattr(sympy_regions, "REGION_TIME_LIMIT", 0.5)
    simplify = BusySimplify(slow_gc_callback=True)
    monkeypatch.setattr(sympy, "simplify", simplify)
    callbacks = list(gc.callbacks)
    x, y, out = deep_chain()
    new, report = sg.optimize(out, passes=["simplify"])
    assert len(simplify.started) == 1 and not simplify.finished and report.sympy_regions_skipped == 1
    assert op_histogram([new]) == op_histogram([out])
    assert gc.callbacks == callbacks


def test_an_interrupt_swallowed_by_the_interrupted_code_is_repeated(monkeypatch):
    monkeypatch.setattr(sympy_regions, "_cache", {})
    monkeypatch.setattr(sympy_regions, "REGION_TIME_LIMIT", 0.5)
    busy, swallowed = BusySimplify(), []

    def simplify_that_swallows_everything(expr):
        while True:
            try:
                return busy(expr)
            except BaseException as error:  # noqa: BLE001 - code that catches what it should not
                swallowed.append(error)
                if len(swallowed) > 1:
                    raise

    monkeypatch.setattr(sympy, "simplify", simplify_that_swallows_everything)
    x, y, out = deep_chain()
    new, report = sg.optimize(out, passes=["simplify"])
    assert len(swallowed) == 2 and len(busy.started) == 2 and not busy.finished
    assert report.sympy_regions_skipped == 1


def test_the_program_alarm_timer_survives():
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *args: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        x, y, z = placeholders()
        sg.optimize((x * y + x * z) - x * (y + z) + sg.sin(x) * 7)
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25 < remaining <= 30 and not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_off_the_main_thread_only_small_regions_are_tried(monkeypatch):
    monkeypatch.setattr(sympy_regions, "_cache", {})
    results = {}

    def run():
        x, y, z = placeholders()
        small = (x * y + x * z) - x * (y + z)  # 6 ops
        results["small"] = sg.optimize(small, passes=["simplify"])
        results["big"] = sg.optimize(deep_chain()[2], passes=["simplify"])

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert results["small"][1].rule_counts["sympy_region"] == 1
    assert results["big"][1].rule_counts["sympy_region"] == 0 and results["big"][1].sympy_regions_skipped >= 1


def test_check_mode_evaluates_each_region_rewrite():
    x, y, z = placeholders()
    out = (x * y + x * z) - x * (y + z) + sg.exp(x) * sg.exp(y)
    feed = feed_for([x, y, z], (3, 4))
    new, report = sg.optimize(out, check=True, feed_dict=feed)
    assert report.rule_counts["sympy_region"] >= 1
    np.testing.assert_allclose(sg.evaluate(new, feed), np.exp(feed[x] + feed[y]), rtol=1e-12)


# -- the functions of issue 15 in regions -----------------------------------------------------------------------------

EDGES = np.array([-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 1e-3, 0.999])


def assert_same_values_and_gradients(out, new, leaves, feed):
    """Values and gradients of every leaf: NaN and infinities at the same places, equal elsewhere."""
    pairs = [(out, new)] + list(zip(*(sg.grad(sg.sum(y), leaves, disconnected="zero") for y in (out, new))))
    with np.errstate(all="ignore"):
        values = sg.evaluate([n for pair in pairs for n in pair], feed)
    for before, after in zip(values[::2], values[1::2]):
        np.testing.assert_array_equal(np.isnan(after), np.isnan(before))
        np.testing.assert_array_equal(np.isposinf(after), np.isposinf(before))
        np.testing.assert_array_equal(np.isneginf(after), np.isneginf(before))
        finite = np.isfinite(before)
        np.testing.assert_allclose(after[finite], before[finite], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("build,kept", [
    (lambda x, y: sg.arccos(x) + sg.arcsin(x) + y, None),  # pi/2 + y only on [-1, 1]
    (lambda x, y: sg.sin(sg.arcsin(x)) + x * y, "arcsin"),  # x + x y only on [-1, 1]
    (lambda x, y: sg.cos(sg.arccos(x)) * y - x * y, "arccos"),
    (lambda x, y: sg.arctanh(x) - sg.arctanh(x) + y, "arctanh"),  # inf - inf at +-1, NaN beyond
    (lambda x, y: sg.arccosh(x) * y - sg.arccosh(x) * y + x, "arccosh"),  # arccosh(1) = 0, NaN below 1
    (lambda x, y: sg.logit(x) * y + sg.logit(x) * x - sg.logit(x) * (x + y), "logit"),  # -inf at 0, inf at 1
    (lambda x, y: sg.rsqrt(x) * sg.sqrt(x) + y, None),  # 1 only for x > 0
    (lambda x, y: sg.tan(sg.arctan(x)) * y + x, None),  # tan(atan x) = x everywhere: may simplify
    (lambda x, y: sg.arcsinh(x) * y + sg.arcsinh(x) * x - sg.arcsinh(x) * (x + y), None),  # total: 0
])
def test_new_functions_in_regions_keep_values_and_gradients_at_the_domain_edges(build, kept):
    x = sg.placeholder((EDGES.size, 1), "float64", name="x")
    y = sg.placeholder((1, 3), "float64", name="y")
    out = build(x, y)
    new, _ = optimized(out)
    if kept is not None:
        assert op_histogram([new])[kept] >= 1
    assert_same_values_and_gradients(out, new, [x, y], {x: EDGES[:, None], y: np.array([[-1.5, 0.0, 2.0]])})


def test_total_inverse_functions_cancel_and_partial_ones_do_not():
    x, y, _ = placeholders()
    new, report = optimized(sg.arcsinh(x) * y + sg.arcsinh(x) * x - sg.arcsinh(x) * (x + y) + y)
    assert report.rule_counts["sympy_region"] == 1 and "arcsinh" not in op_histogram([new])
    new, _ = optimized(sg.arccos(x) + sg.arcsin(x) + y)
    assert {"arccos", "arcsin"} <= set(op_histogram([new]))
    value = sg.evaluate(new, {x: np.full((3, 4), 2.0), y: np.zeros((3, 4))})
    assert np.isnan(value).all()


@pytest.mark.parametrize("build,opaque", [
    (lambda x, y, z: sg.erfc(x) * y + sg.erfc(x) * z - y * z, "erfc"),
    (lambda x, y, z: sg.sinh(x) / sg.cosh(x) * y + z, "sinh"),  # not rewritten into tanh or exponentials
    (lambda x, y, z: sg.logaddexp(x, y) * z + sg.logaddexp(x, y) * y - z, "logaddexp"),
    (lambda x, y, z: sg.hypot(x, y) * z - sg.hypot(x, y) * z + sg.hypot(x, z) * y, "hypot"),
    (lambda x, y, z: sg.mod(x, y) * z + sg.mod(x, y) * y - z * y, "mod"),
    (lambda x, y, z: sg.fmod(x, y) * z + sg.fmod(x, y) * y + z, "fmod"),
    (lambda x, y, z: sg.clip(x, y, z) * z + sg.clip(x, y, z) * y - y, "clip"),
    (lambda x, y, z: sg.arctan2(x, y) * z + sg.arctan2(x, y) + sg.cbrt(z) * sg.exp2(y), "arctan2"),
])
def test_stable_and_discontinuous_functions_stay_opaque(build, opaque):
    x, y, z = placeholders()
    out = build(x, y, z)
    new, _ = optimized(out)
    assert op_histogram([new])[opaque] >= 1
    feed = {x: np.array([[30.0, -30.0, 800.0, 0.0], [1.5, -2.5, 7.0, -7.0], [0.5, 1e-3, -1e-3, 3.0]]),
            y: np.array([[1.0, -1.0, 0.0, 2.0], [3.0, -3.0, 0.5, -0.5], [0.0, 2.0, -2.0, 1.0]]),
            z: np.array([[-1.0, 1.0, 2.0, 0.0], [0.5, 1.5, -2.0, 3.0], [1.0, 0.0, -0.5, 2.0]])}
    assert_same_values_and_gradients(out, new, [x, y, z], feed)


def test_opaque_erfc_keeps_its_tail():
    """sympy writes erfc(-x) as 2 - erfc(x) on sight: natively, this region would become (2 - erfc(x)) y, which is 0
    at x = -10, where erfc(10) y is 2e-45 y, and agrees at every sample point to rounding."""
    x, y, _ = placeholders()
    out = sg.erfc(-x) * y + x * y - x * y
    new, report = optimized(out)
    assert report.rule_counts["sympy_region"] == 1 and op_histogram([new])["mul"] == 1
    feed = {x: np.full((3, 4), -10.0), y: np.full((3, 4), 3.0)}
    np.testing.assert_allclose(sg.evaluate(new, feed), 3 * 2.088487583762545e-45, rtol=1e-12)


VERDICT_SCRIPT = """
import json, sys
import symgraph as sg
from symgraph.passes import sympy_regions
from symgraph.passes.report import op_histogram
sympy_regions.TIME_BUDGET = sympy_regions.REGION_TIME_LIMIT = 120.0  # a loaded machine must not cut sympy short
x = sg.placeholder((None,), "float64", name="x")
y = sg.placeholder((None,), "float64", name="y")
kept = sg.tanh(x * 0.5 + 0.1) * sg.sigmoid(x) + sg.exp(-x * x)  # the benchmark's region: nothing simpler
simplified = (x * y + x * x) - x * (y + x) + sg.cos(y)  # simplifies: never recorded
outputs = [kept] + ([simplified] if sys.argv[1] == "both" else [])
optimized, report = sg.optimize(outputs)
print(json.dumps({"sympy": "sympy" in sys.modules, "regions": report.rule_counts["sympy_region"],
                  "ops": {k: v for k, v in op_histogram(optimized).items()}}))
"""


def run_verdict_script(tmp_path, which):
    tmp_path.mkdir(exist_ok=True)
    script = tmp_path / "verdicts.py"
    script.write_text(VERDICT_SCRIPT)
    env = dict(os.environ, SYMGRAPH_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, str(script), which], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_region_sympy_found_nothing_simpler_for_is_not_tried_again_by_the_next_process(tmp_path):
    """The verdict is an empty file under <cache>/sympy: the next process building the graph keeps the region
    without importing sympy (0.6 s and more of each warm start), and optimizes to the same graph."""
    first = run_verdict_script(tmp_path, "kept")
    verdicts = list((tmp_path / "cache" / "sympy").iterdir())
    assert first["sympy"] and first["regions"] == 0 and len(verdicts) >= 1
    assert all(v.stat().st_size == 0 for v in verdicts)
    second = run_verdict_script(tmp_path, "kept")
    assert not second["sympy"] and second["ops"] == first["ops"]
    assert sorted(v.name for v in (tmp_path / "cache" / "sympy").iterdir()) == sorted(v.name for v in verdicts)


def test_a_region_sympy_simplifies_is_simplified_again_and_leaves_no_verdict(tmp_path):
    run_verdict_script(tmp_path / "alone", "kept")
    kept_alone = {v.name for v in (tmp_path / "alone" / "cache" / "sympy").iterdir()}
    first = run_verdict_script(tmp_path, "both")
    second = run_verdict_script(tmp_path, "both")
    assert first["regions"] == second["regions"] == 1 and second["sympy"] and second["ops"] == first["ops"]
    assert {v.name for v in (tmp_path / "cache" / "sympy").iterdir()} == kept_alone  # no verdict of its own


def test_a_region_left_by_the_time_limit_leaves_no_verdict(tmp_path, monkeypatch):
    """A region sympy did not finish may simplify on another run: only finished verdicts are recorded."""
    monkeypatch.setattr(sympy_regions, "VERDICTS_ON_DISK", True)
    monkeypatch.setattr(sympy_regions, "_cache", {})
    monkeypatch.setenv("SYMGRAPH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sympy_regions, "REGION_TIME_LIMIT", 0.5)
    monkeypatch.setattr(sympy, "simplify", BusySimplify(seconds=10))
    x, y, out = deep_chain()
    new, report = sg.optimize(out, passes=["simplify"])
    assert report.sympy_regions_skipped == 1 and not (tmp_path / "sympy").exists()
    monkeypatch.setattr(sympy_regions, "_cache", {})
    monkeypatch.setattr(sympy, "simplify", lambda expr: expr)  # finishes, with nothing simpler: recorded
    monkeypatch.setattr(sympy_regions, "REGION_TIME_LIMIT", 120.0)  # however loaded the machine
    monkeypatch.setattr(sympy_regions, "TIME_BUDGET", 120.0)
    new, report = sg.optimize(out, passes=["simplify"])
    assert report.sympy_regions_skipped == 0 and len(list((tmp_path / "sympy").iterdir())) == 1
