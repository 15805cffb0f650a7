"""Every op's gradient rule against central finite differences, driven by the op table (tests/op_table.py).

Each row lists gradient cases (the inputs differentiated, their domain, the order) or the documented reason there
are none. Cases are checked to second order with ``symgraph.testing.check_grads`` (float64, inputs fed through
placeholders, with unknown dimensions where the case says so, which exercises the run-time-shaped gradient ops), and
to first order on every backend: the backend's gradient graph against central differences of its own values. The
contract test fails the day a row's gradient rule disagrees with its cases or its documented absence.
"""

import numpy as np
import pytest

import symgraph as sg
from op_table import ROWS, grad_cases, input_dtypes, sample
from symgraph.testing import check_grads

CASES = [pytest.param(row, case, id=f"{row.name}-{k}") for row, k, case in grad_cases()]


def wrt_of(row, case):
    return case.wrt if case.wrt is not None else tuple(range(len(case.shapes)))


def grad_inputs(row, case, seed=0):
    """Placeholders and their values: float64 in the case's domain ("distinct" by default) for the inputs
    differentiated, the row's domain and the case's dtype (float64 by default) for the others."""
    rng = np.random.default_rng(seed)
    wrt = wrt_of(row, case)
    arrays = []
    for k, shape in enumerate(case.shapes):
        given = case.domains[k] if case.domains and case.domains[k] is not None else None
        domain = given or ("distinct" if k in wrt else row.domain(k))
        dtype = "float64" if k in wrt or not case.dtypes or case.dtypes[k] is None else case.dtypes[k]
        arrays.append(sample(shape, dtype, domain, rng))
    inputs = [sg.placeholder((None,) * a.ndim if case.unknown else a.shape, a.dtype, name=f"in{k}")
              for k, a in enumerate(arrays)]
    return inputs, arrays


def scalar_cost(output):
    """A smooth scalar of the output with a non-trivial Hessian, so that second-order checks see every path."""
    return sg.sum(sg.sin(output) * output)


@pytest.mark.parametrize("row,case", CASES)
def test_gradients_match_finite_differences(row, case):
    inputs, arrays = grad_inputs(row, case)
    cost = scalar_cost(row.make(*inputs, **case.kwargs))
    tolerances = {"rtol": 1e-5, "atol": 1e-6, **case.tolerance}
    check_grads(cost, [inputs[k] for k in wrt_of(row, case)], dict(zip(inputs, arrays)), order=case.order,
                **tolerances)


@pytest.mark.parametrize("row,case", CASES)
def test_first_order_gradients_on_backend(backend, row, case):
    """The backend's gradient values agree with central differences of the backend's own forward values."""
    inputs, arrays = grad_inputs(row, case)
    wrt = wrt_of(row, case)
    cost = scalar_cost(row.make(*inputs, **case.kwargs))
    gradients = backend.run(inputs, sg.grad(cost, [inputs[k] for k in wrt]), arrays)
    rng = np.random.default_rng(1)
    directions = [rng.standard_normal(arrays[k].shape) for k in wrt]
    eps = case.tolerance.get("eps", 1e-6)

    def cost_at(step):
        moved = list(arrays)
        for k, direction in zip(wrt, directions):
            moved[k] = arrays[k] + step * direction
        return float(backend.run(inputs, [cost], moved)[0])

    numeric = (cost_at(eps) - cost_at(-eps)) / (2 * eps)
    symbolic = sum(float(np.sum(g * d)) for g, d in zip(gradients, directions))
    assert np.isclose(symbolic, numeric, rtol=case.tolerance.get("rtol", 1e-5), atol=case.tolerance.get("atol", 1e-6))


@pytest.mark.parametrize("row", [r for r in ROWS.values() if r.op is not None], ids=lambda r: r.name)
def test_gradient_rules_match_their_cases_or_documented_absence(row):
    """Rows with cases: the rule gives a gradient for each input they differentiate. Rows with a reason: none."""
    if isinstance(row.grads, str):
        first = row.samples[0]
        dtypes = input_dtypes(row.dtypes[0], len(first.shapes))
        inputs, kwargs, wrt = [sg.placeholder(s, d) for s, d in zip(first.shapes, dtypes)], first.kwargs, ()
    else:
        inputs, _ = grad_inputs(row, row.grads[0])
        kwargs, wrt = row.grads[0].kwargs, wrt_of(row, row.grads[0])
    node = row.make(*inputs, **kwargs)
    assert isinstance(node.op, row.op), node
    rule = node.op.grad(node, sg.placeholder(node.shape, node.dtype if node.dtype.kind == "f" else "float64"))
    assert len(rule) == len(node.inputs), row.name
    if isinstance(row.grads, str):
        assert all(g is None for g in rule), f"{row.name} is documented without a gradient, but its rule gives one"
    for k in wrt:
        assert rule[node.inputs.index(inputs[k])] is not None, f"{row.name}: no gradient for input {k}"
