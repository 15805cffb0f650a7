"""Every row of the op table (tests/op_table.py) on the Numba backend, against NumPy's results and the NumPy backend.

The per-case suites (test_op_values.py, test_grad_ops.py) compile one function per case, which a Numba compile per
case would make far too slow. Here each row is one test: all of its value cases become outputs of one compiled
function (inputs through placeholders with every dimension unknown, so that NumPy-style run-time shapes are
exercised too), compared case by case with NumPy's outcome; all of its gradient cases become outputs of one more
function, compared with the NumPy backend's gradient values. Cases NumPy refuses at build time are the per-case
suites' business (they never reach a backend); cases that must fail at run time are run one function each.
Each value function is also fed NaN, inf and -inf among its float inputs and compared with the NumPy backend.
The default run checks up to 8 samples per row, evenly spread: at the first, its single-dtype combinations among
float64, float32, int64 and bool (every combination for a few rows), and one combination at the others, and one
run-time failure per row; the slow test (``pytest -m slow tests/test_numba_ops.py``) checks every case.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgraph as sg
from op_table import ROWS, grad_cases
from test_grad_ops import grad_inputs, scalar_cost, wrt_of
from test_op_values import DTYPE_ERROR, RUNTIME_ERROR, assert_values, inputs_for, numpy_outcome

pytestmark = [pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore::symgraph.PythonCallbackWarning")]  # the custom_op_python row


# Rows whose mixed dtype combinations run by default (the code generator's casts are shared by all ops).
MIXED_DTYPES_BY_DEFAULT = {"add", "where", "matmul", "cast"}
# The default run's samples per row, evenly spread over the row's (each is a node of its own in the compiled function).
SAMPLES_BY_DEFAULT = 8
# ... and for a row that composes other rows' ops (op None): their lowerings are checked by their own rows, so
# the default run checks the composition on a few samples (the slow run, every case).
COMPOSITE_SAMPLES_BY_DEFAULT = 3
# The dtypes of the default run's single-dtype combinations (the others are cast the same way).
DTYPES_BY_DEFAULT = {"float64", "float32", "int64", "bool"}


def row_cases(row, every_case):
    """The row's value cases; by default up to SAMPLES_BY_DEFAULT samples, the single-dtype combinations among
    DTYPES_BY_DEFAULT at the first sample and one combination (float64 where the row has it) at the others, since
    each compiled node costs a fraction of a second; ``every_case``: all of them."""
    rng = np.random.default_rng(0)
    per_row = SAMPLES_BY_DEFAULT if row.op is not None else COMPOSITE_SAMPLES_BY_DEFAULT
    samples = row.samples if every_case else row.samples[::-(-len(row.samples) // per_row)]
    for position, s in enumerate(samples):
        combos = row.combos_at(s)
        if not every_case and position:
            combos = [next((c for c in combos if set(c) == {"float64"}), combos[0])]
        elif not every_case and row.name not in MIXED_DTYPES_BY_DEFAULT:
            combos = [c for c in combos if len(set(c)) == 1 and set(c) <= DTYPES_BY_DEFAULT] or combos[:1]
        for combo in combos:
            arrays = inputs_for(row, s, combo, rng)
            yield f"{s.id}-{'-'.join(combo)}", s, arrays


def build_case(row, s, arrays, k):
    """The row's node over placeholders: every dimension unknown where the row allows it, else the exact shapes."""
    for shapes in ([(None,) * a.ndim for a in arrays], [a.shape for a in arrays]) if s.unknown else \
            ([a.shape for a in arrays],):
        inputs = [sg.placeholder(shape, a.dtype, name=f"c{k}_in{j}") for j, (shape, a) in enumerate(zip(shapes, arrays))]
        try:
            return inputs, row.make(*inputs, **s.kwargs)
        except (sg.ShapeError, sg.DTypeError):
            continue
    raise AssertionError(f"{row.name}: the case cannot be built")


def signature(s, arrays):
    """Cases with equal signatures (input dtypes and ranks, attributes) share one compiled node, fed in turn."""
    return (tuple((a.dtype.name, a.ndim) for a in arrays), repr(sorted(s.kwargs.items(), key=str)), s.unknown)


@pytest.mark.parametrize("row", list(ROWS.values()), ids=lambda r: r.name)
def test_row_values_on_numba(row):
    check_row_values(row, every_case=False)


@pytest.mark.slow
@pytest.mark.parametrize("row", list(ROWS.values()), ids=lambda r: r.name)
def test_every_value_case_on_numba(row):
    check_row_values(row, every_case=True)


def with_specials(array):
    """A copy of a float array with NaN, inf and -inf in its first elements (in turn, over the whole array when it is
    small); other arrays unchanged."""
    if array.dtype.kind != "f" or array.size == 0:
        return array
    special = array.copy()
    flat = special.reshape(-1)
    flat[:3] = np.array([np.nan, np.inf, -np.inf], array.dtype)[:flat.size]
    return special


def check_row_values(row, every_case):
    """The row's value cases, compiled into one function (a node per input signature) fed in turn, against NumPy;
    then that function fed NaN, inf and -inf among its float inputs, against the NumPy backend (check_special_values)."""
    groups, failing = {}, []  # signature -> (inputs, node, [(case name, arrays, expected)])
    for k, (name, s, arrays) in enumerate(row_cases(row, every_case)):
        outcome = numpy_outcome(row, arrays, s.kwargs)
        if outcome is DTYPE_ERROR:
            continue
        if outcome is RUNTIME_ERROR:
            failing.append((name, s, arrays, k))
            continue
        key = signature(s, arrays)
        if key not in groups:
            inputs, node = build_case(row, s, arrays, len(groups))
            if any(None not in p.shape and p.ndim for p in inputs):  # built from exact shapes: this case only
                key += (tuple(a.shape for a in arrays),)
            groups[key] = (inputs, node, [])
        groups[key][2].append((name, arrays, outcome))
    if groups:
        inputs = [p for group in groups.values() for p in group[0]]
        function = sg.function(inputs, [group[1] for group in groups.values()], backend="numba", optimize=False)
        for turn in range(max(len(group[2]) for group in groups.values())):
            picked = [group[2][min(turn, len(group[2]) - 1)] for group in groups.values()]
            results = function(*[a for _, arrays, _ in picked for a in arrays])
            for (name, _, expected), got in zip(picked, results):
                try:
                    assert_values(got, expected, row)
                except AssertionError as error:
                    raise AssertionError(f"{row.name} case {name}: {error}") from None
        check_special_values(row, list(groups.values()), function)
    for name, s, arrays, k in failing if every_case else failing[:1]:  # each its own compile
        inputs, node = build_case(row, s, arrays, k)
        with pytest.raises(sg.EvaluationError):
            sg.function(inputs, node, backend="numba", optimize=False)(*arrays)


def check_special_values(row, groups, function):
    """NaN, inf and -inf in the float inputs of each node's first case, through the compiled function and the NumPy
    backend: float and bool results agree, NaN where NaN and infinities of the same sign (a NaN cast to an integer
    is undefined in both). Inputs the NumPy backend refuses there (a NaN index) are the run-time failure cases'."""
    arrays = [with_specials(a) for _, node, cases in groups for a in cases[0][1]]
    if not any(a.dtype.kind == "f" for a in arrays):
        return
    inputs = [p for group in groups for p in group[0]]
    reference = sg.function(inputs, [group[1] for group in groups], backend="numpy", optimize=False)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = reference(*arrays)
        except sg.EvaluationError:
            return
        got = function(*arrays)
    for (_, _, cases), a, b in zip(groups, got, want):
        if b.dtype.kind in "fcb":
            try:
                assert_values(a, b, row)
            except AssertionError as error:
                raise AssertionError(f"{row.name} case {cases[0][0]} with NaN, inf and -inf: {error}") from None


GRAD_ROWS = sorted({row.name for row, _, _ in grad_cases()})


@pytest.mark.parametrize("name", GRAD_ROWS)
def test_row_gradients_on_numba(name):
    check_row_gradients(ROWS[name], every_case=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", GRAD_ROWS)
def test_every_gradient_case_on_numba(name):
    check_row_gradients(ROWS[name], every_case=True)


def check_row_gradients(row, every_case):
    """The row's gradient cases compiled into one function against the NumPy backend; by default a composition's
    first COMPOSITE_SAMPLES_BY_DEFAULT cases only (its ops' own rows check their gradients)."""
    name = row.name
    cases = row.grads if every_case or row.op is not None else row.grads[:COMPOSITE_SAMPLES_BY_DEFAULT]
    inputs, outputs, values = [], [], []
    for k, case in enumerate(cases):
        case_inputs, arrays = grad_inputs(row, case, seed=k)
        case_inputs = [sg.placeholder(p.shape, p.dtype, name=f"g{k}_{p.name}") for p in case_inputs]
        cost = scalar_cost(row.make(*case_inputs, **case.kwargs))
        outputs += [cost] + sg.grad(cost, [case_inputs[j] for j in wrt_of(row, case)])
        inputs += case_inputs
        values += arrays
    got = sg.function(inputs, outputs, backend="numba", optimize=False)(*values)
    want = sg.function(inputs, outputs, backend="numpy", optimize=False)(*values)
    for k, (a, b) in enumerate(zip(got, want)):
        rtol = max(1e-9, 32 * np.finfo(b.dtype).eps) if b.dtype.kind == "f" else 1e-9  # sums may run in another order
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-10, err_msg=f"{name}: output {k}")


# -- the lowering contract ------------------------------------------------------------------------------------------

# Op classes that reach no Numba lowering, and why.
NOT_LOWERED = {
    "Leaf": "constants, variables and placeholders are arguments of the generated module, not statements",
    "GraphOp": "op_from_graph ops are inlined into the graph before the backend sees it (ops/custom.py)",
    "AllReduce": "collectives run between the compiled segments of a program (backends/segments.py)",
}


def test_every_op_class_has_a_lowering():
    """The day an op is added without a Numba lowering, this fails (a graph using it would be refused at compile
    time, below)."""
    from symgraph.backends.numba.lowering import LOWERINGS
    from test_op_values import _concrete_op_classes

    classes = {cls.__name__: cls for cls in _concrete_op_classes()}
    missing = sorted(name for name, cls in classes.items() if cls not in LOWERINGS and name not in NOT_LOWERED)
    assert not missing, f"op classes without a Numba lowering: {missing}"
    assert not {name for name in NOT_LOWERED if classes.get(name) in LOWERINGS}, "a listed op has a lowering now"


def test_a_graph_with_ops_lacking_lowerings_is_refused_with_every_one_listed(monkeypatch):
    """One error names every op class the backend cannot lower (each once, with a node of it and the user's line),
    before anything is generated, and says which backend runs the graph: never a silent fallback."""
    from symgraph.backends.numba.lowering import LOWERINGS
    from symgraph.backends.numba.program import LoweringError
    from symgraph.ops.elementwise import Exp
    from symgraph.ops.linalg import Matmul

    monkeypatch.delitem(LOWERINGS, Exp)
    monkeypatch.delitem(LOWERINGS, Matmul)
    x = sg.placeholder((2, 2), name="x")
    y = sg.exp(x) @ sg.exp(x + 1) @ x  # two Exp nodes, two Matmul nodes
    with pytest.raises(LoweringError) as error:
        sg.function([x], sg.sum(y), backend="numba")
    message = str(error.value)
    assert "has no lowering for 2 op(s)" in message and "use backend='numpy'" in message
    assert message.count("Exp (e.g.") == 1 and message.count("Matmul (e.g.") == 1
    assert "test_numba_ops.py" in message
    monkeypatch.undo()
    f = sg.function([x], sg.sum(y), backend="numpy")
    assert np.isfinite(f(np.eye(2, dtype=np.float32)))
