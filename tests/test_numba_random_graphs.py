"""Differential testing of the Numba backend against the NumPy backend on random graphs (hypothesis).

Each hypothesis example is a batch of random graphs compiled into one function (their values and their gradients
with respect to both inputs), because every compiled function costs a Numba compile. Inputs include size-1
broadcasting, unknown dimensions, and NaN/inf; values must agree to rounding and in their NaN/inf pattern exactly.
The default run checks 20 graphs (two compiles); the slow test (``pytest -m slow tests/test_numba_random_graphs.py``)
checks TEST_NUMBA_GRAPHS graphs (default 500).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgraph as sg


GRAPHS = int(os.environ.get("TEST_NUMBA_GRAPHS", 500))
PER_FUNCTION = 10

UNARY = {
    "sin": sg.sin, "tanh": sg.tanh, "sigmoid": sg.sigmoid, "neg": sg.neg, "square": sg.square, "exp": sg.exp,
    "softplus": sg.softplus, "relu": sg.relu, "abs": sg.abs, "log": lambda x: sg.log(sg.abs(x) + 0.5),
    "sqrt": lambda x: sg.sqrt(sg.square(x) + 0.1), "reciprocal": lambda x: sg.reciprocal(sg.square(x) + 1),
    "sum_rows": lambda x: x * sg.sum(x, axis=1, keepdims=True), "max_cols": lambda x: x - sg.max(x, axis=0),
    "mean": lambda x: x + sg.mean(x), "transpose": lambda x: sg.transpose(sg.transpose(x) * 2),
    "softmax": lambda x: sg.nn.softmax(x, axis=1), "row": lambda x: x * x[0],
}
BINARY = {
    "add": sg.add, "sub": sg.sub, "mul": sg.mul, "maximum": sg.maximum, "minimum": sg.minimum,
    "div": lambda a, b: a / (1 + sg.square(b)), "pow": lambda a, b: sg.pow(sg.abs(a) + 0.5, sg.tanh(b)),
    "where": lambda a, b: sg.where(a > b, a, b * 2), "matmul": lambda a, b: sg.tanh(a @ sg.transpose(b)) @ b,
    "broadcast": lambda a, b: a * sg.sum(b, axis=0),
}

step = st.one_of(
    st.tuples(st.just(1), st.sampled_from(sorted(UNARY)), st.integers(0, 30)),
    st.tuples(st.just(2), st.sampled_from(sorted(BINARY)), st.integers(0, 30), st.integers(0, 30)),
)
program = st.lists(step, min_size=1, max_size=6)


def build(steps, x, y):
    pool = [x, y]
    for s in steps:
        if s[0] == 1:
            pool.append(UNARY[s[1]](pool[s[2] % len(pool)]))
        else:
            pool.append(BINARY[s[1]](pool[s[2] % len(pool)], pool[s[3] % len(pool)]))
    return pool[-1]


def assert_same(got, expected, what):
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=f"NaN pattern of {what}")
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected), err_msg=f"+inf pattern of {what}")
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected), err_msg=f"-inf pattern of {what}")
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-9, atol=1e-9, err_msg=what)


def random_graph_test(graphs):
    """A hypothesis test of ``graphs`` random graphs, PER_FUNCTION to a compiled function."""
    return settings(max_examples=max(graphs // PER_FUNCTION, 1), deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])(
        given(programs=st.lists(program, min_size=PER_FUNCTION, max_size=PER_FUNCTION),
              seed=st.integers(0, 2**32 - 1), rows=st.sampled_from([(3, 3), (1, 1), (3, 1)]),
              special=st.booleans())(check_random_graphs))


def check_random_graphs(programs, seed, rows, special):
    x = sg.placeholder((None, 4), "float64", name="x")
    y = sg.placeholder((None, 4), "float64", name="y")
    outputs = []
    for steps in programs:
        value = build(steps, x, y)
        outputs.append(value)
        outputs.extend(sg.grad(sg.sum(value * sg.cos(value)), [x, y], disconnected="zero"))
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((rows[0], 4)), rng.standard_normal((rows[1], 4))  # (3, 1): broadcast at run time
    if special:
        X.flat[:3] = [np.nan, np.inf, -np.inf]
    expected = sg.function([x, y], outputs, backend="numpy", optimize=False)(X, Y)
    got = sg.function([x, y], outputs, backend="numba", optimize=False)(X, Y)
    for k, (a, b) in enumerate(zip(got, expected)):
        assert_same(a, b, f"output {k} (graph {k // 3}: {programs[k // 3]})")


test_random_graphs_agree_with_the_numpy_backend = random_graph_test(20)
test_many_random_graphs_agree_with_the_numpy_backend = pytest.mark.slow(random_graph_test(GRAPHS))


def test_reassociation_never_turns_nan_into_a_number():
    """y - (x - x) is NaN where x is NaN or infinite: a found case (fastmath reassociation once folded it to y)."""
    x = sg.placeholder((None,), "float64", name="x")
    y = sg.placeholder((None,), "float64", name="y")
    X, Y = np.array([np.nan, np.inf, 1.0]), np.array([1.0, 2.0, 3.0])
    got = sg.function([x, y], [y - (x - x), sg.sum(y - (x - x))], backend="numba", optimize=False)(X, Y)
    np.testing.assert_array_equal(got[0], [np.nan, np.nan, 3.0])
    assert np.isnan(got[1])
