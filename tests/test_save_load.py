"""Saving and loading (symgraph/io): graphs with sg.save / sg.load, checkpoints with sg.save_variables /
sg.load_variables.

- Every op round-trips: one graph holds up to two samples of every op-table row (tests/op_table.py) and the
  gradients of a few rows; the loaded graph has the same nodes (op, attributes, shapes, dtypes, names, sites,
  values, implied updates, gradient bookkeeping), computes bit-identical values on the NumPy backend, generates the
  same Numba module (and computes the same bits on it: ``-m slow``), and saves back to the same bytes. A training
  graph (dropout's random stream, batch_norm's running statistics, a hand-written cross-entropy that sg.optimize
  stabilizes and whose gradient it re-derives) runs steps bit-identically after loading, with the default
  optimization, on both backends.
- Checkpoints: values, metadata and a data generator's state come back; resuming from a checkpoint ends with the
  parameters of an uninterrupted run, bit for bit; missing, extra and mis-shaped entries are refused before any
  variable changes.
- Safety: the official ``safetensors`` package reads symgraph's files and writes files symgraph reads; the io
  package's source calls no pickle, eval, exec, importlib or getattr; forged files raise FormatError naming the
  fault (tests/test_save_fuzz.py mutates files by the thousand); writers killed with SIGKILL at random moments leave
  the previous file or the new one.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json
import os
import pathlib
import pkgutil
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

import symgraph as sg
import symgraph.io
import symgraph.ops
from op_table import MPI, ROWS
from symgraph.autodiff import gradient_origin
from symgraph.graph import Constant, Op, Placeholder, Variable, provenance
from symgraph.io import container, registry
from test_function_state import eager_thread_switching  # noqa: F401 (a fixture)
from test_grad_ops import grad_inputs, scalar_cost, wrt_of
from test_numba_ops import build_case, row_cases
from test_op_values import DTYPE_ERROR, RUNTIME_ERROR, numpy_outcome

pytestmark = pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
CASES_PER_ROW = 2
GRADIENT_ROWS = ("conv2d", "max_pool2d", "avg_pool2d", "index", "concatenate", "softmax_cross_entropy")
SAME = sg.variable(1.0, name="same")
X_IN = sg.placeholder((2,), name="x_in")
DEEP: list = []
for _ in range(70):
    DEEP = [DEEP]


# -- helpers --------------------------------------------------------------------------------------------------------

def assert_bitwise(got, want, what: str) -> None:
    """Each array of ``got`` has the dtype, shape and bytes of ``want``'s (NaN payloads and signed zeros included)."""
    assert len(got) == len(want), what
    for k, (a, b) in enumerate(zip(got, want)):
        a, b = np.asarray(a), np.asarray(b)
        assert (a.dtype, a.shape) == (b.dtype, b.shape), f"{what}: output {k}: {a.dtype} {a.shape} != {b.dtype} " \
                                                         f"{b.shape}"
        assert a.tobytes() == b.tobytes(), f"{what}: output {k} differs"


def correspondence(original, loaded) -> dict:
    """id(original node) -> loaded node, walking both graphs in step (inputs, implied updates and the gradient
    bookkeeping) and asserting at each pair that the loaded node is the original's copy."""
    mapping, pending = {}, list(zip(original, loaded))
    while pending:
        a, b = pending.pop()
        if id(a) in mapping:
            assert mapping[id(a)] is b, f"{a.describe()} has two copies"
            continue
        mapping[id(a)] = b
        assert type(a) is type(b) and a is not b
        assert (a.op, a.shape, a.dtype, a.name, a.site) == (b.op, b.shape, b.dtype, b.name, b.site), a.describe()
        assert len(a.inputs) == len(b.inputs) and len(a.implied_updates) == len(b.implied_updates), a.describe()
        if isinstance(a, (Constant, Variable)):
            assert a.value.dtype == b.value.dtype and a.value.tobytes() == b.value.tobytes(), a.describe()
            assert not b.value.flags.writeable
        if isinstance(a, Variable):
            assert a.trainable == b.trainable
        pending += zip(a.inputs, b.inputs)
        for (va, ea), (vb, eb) in zip(a.implied_updates, b.implied_updates):
            pending += [(va, vb), (ea, eb)]
        pa, pb = provenance(a), provenance(b)
        assert (pa is None) == (pb is None), a.describe()
        if pa is not None:
            assert (pa.through is None) == (pb.through is None)
            pending += [(pa.output, pb.output), (pa.wrt, pb.wrt)]
            pending += [(pa.through, pb.through)] if pa.through is not None else []
        oa, ob = gradient_origin(a), gradient_origin(b)
        assert (oa is None) == (ob is None), a.describe()
        if oa is not None:
            assert len(oa.outputs) == len(ob.outputs) and len(oa.seeds) == len(ob.seeds)
            pending += list(zip(oa.outputs, ob.outputs)) + list(zip(oa.seeds, ob.seeds)) + [(oa.wrt, ob.wrt)]
    return mapping


def graph_document(path) -> tuple[dict, dict]:
    """(the symgraph document, the tensors) of a file, read with the container alone."""
    return container.read(str(path))


def write_forged(path, document, tensors, header_edit=None) -> None:
    """A well-formed container holding ``document`` (any JSON) and ``tensors``; ``header_edit`` may change the
    header table (as parsed JSON) before it is written."""
    order = sorted(tensors)
    table, offset, data = {"__metadata__": {"symgraph": json.dumps(document)}}, 0, b""
    for name in order:
        array = np.array(tensors[name], order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        code = container.DTYPE_CODES[array.dtype]
        table[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        data += array.tobytes()
    if header_edit is not None:
        header_edit(table)
    header = json.dumps(table).encode()
    pathlib.Path(path).write_bytes(struct.pack("<Q", len(header)) + header + data)


# -- every op -------------------------------------------------------------------------------------------------------

def op_classes_of_the_package() -> set:
    """Every concrete op class defined in symgraph.ops.* (a frozen dataclass with a str name)."""
    found = set()
    for info in pkgutil.iter_modules(symgraph.ops.__path__):
        module = importlib.import_module(f"symgraph.ops.{info.name}")
        for _, member in inspect.getmembers(module, inspect.isclass):
            if (issubclass(member, Op) and member.__module__ == module.__name__ and dataclasses.is_dataclass(member)
                    and isinstance(member.__dict__.get("name"), str)):
                found.add(member)
    return found


def test_the_registry_lists_every_op_class_once():
    listed = [spec.op_class for spec in registry.OPS.values()]
    assert len(listed) == len(set(listed))
    assert set(listed) == op_classes_of_the_package()
    for name, spec in registry.OPS.items():
        assert spec.op_class.name == name
        assert sorted(spec.rules) == sorted(f.name for f in dataclasses.fields(spec.op_class))


def row_cases_built(row, cases_per_row: int):
    """Up to ``cases_per_row`` (inputs, node, arrays) of the row's value cases that NumPy computes, built from
    placeholders (unknown dimensions where the row allows) and holding the row's op."""
    picked = 0
    for k, (_, s, case_arrays) in enumerate(row_cases(row, every_case=False)):
        outcome = numpy_outcome(row, case_arrays, s.kwargs)
        if outcome is DTYPE_ERROR or outcome is RUNTIME_ERROR:
            continue
        if row.name == "random_uniform":  # a stream's state is always an int64 pair (sg.save checks it)
            s = dataclasses.replace(s, unknown=False)
        case_inputs, node = build_case(row, s, case_arrays, k)
        if row.op is not None and not any(type(n.op) is row.op for n in sg.toposort(node)):
            continue  # cast to the input's own dtype builds no node
        yield case_inputs, node, case_arrays
        picked += 1
        if picked == cases_per_row:
            return


# Every registered op has a row, but allreduce's needs a communicator: without the mpi extra it has none.
SAVED_OPS = set(registry.OPS) - ({"allreduce"} if MPI is None else set())


# Rows of ops defined by user code: a file cannot rebuild them without running that code, so sg.save refuses them
# (test_user_defined_ops_are_refused_when_saved).
USER_DEFINED_ROWS = ("custom_op", "custom_op_python", "custom_op_shape_rule", "op_from_graph")


def test_user_defined_ops_are_refused_when_saved(tmp_path):
    x = sg.placeholder((3,), "float64", name="x")
    square = sg.custom_op(lambda a: a * a, name="square_it", elementwise=True)
    doubled = sg.op_from_graph([x], [x * 2.0], name="doubled")
    for node, op in ((square(x), "CustomOp"), (doubled(x), "GraphOp")):
        with pytest.raises(TypeError, match=f"its op {op} is not one of symgraph's ops"):
            sg.save(tmp_path / "user.safetensors", node)
    assert not (tmp_path / "user.safetensors").exists()


def every_op_graph(directory: pathlib.Path, cases_per_row: int, gradient_rows) -> SimpleNamespace:
    """A graph of up to ``cases_per_row`` value cases of every op-table row and the gradients of
    ``gradient_rows``, saved and loaded."""
    inputs, outputs, arrays = [], [], []
    for row in ROWS.values():
        if row.name in USER_DEFINED_ROWS:
            continue
        for case_inputs, node, case_arrays in row_cases_built(row, cases_per_row):
            inputs, outputs, arrays = inputs + case_inputs, outputs + [node], arrays + case_arrays
    for name in gradient_rows:
        row = ROWS[name]
        case = row.grads[0]
        case_inputs, case_arrays = grad_inputs(row, case, seed=1)
        case_inputs = [sg.placeholder(p.shape, p.dtype, name=f"{name}_{p.name}") for p in case_inputs]
        cost = scalar_cost(row.make(*case_inputs, **case.kwargs))
        outputs += [cost] + sg.grad(cost, [case_inputs[j] for j in wrt_of(row, case)])
        inputs, arrays = inputs + case_inputs, arrays + case_arrays
    path = directory / "ops.safetensors"
    sg.save(path, outputs, inputs)
    loaded_inputs, loaded_outputs, variables = sg.load(path)
    return SimpleNamespace(inputs=inputs, outputs=outputs, arrays=arrays, path=path, loaded_inputs=loaded_inputs,
                           loaded_outputs=loaded_outputs, variables=variables)


@pytest.fixture(scope="module")
def every_op(tmp_path_factory):
    return every_op_graph(tmp_path_factory.mktemp("every_op"), CASES_PER_ROW, GRADIENT_ROWS)


def test_every_op_is_in_the_graph_and_loads_as_the_same_nodes(every_op):
    assert {n.op.name for n in sg.toposort(every_op.outputs) if n.inputs} == SAVED_OPS
    mapping = correspondence(every_op.outputs + every_op.inputs, every_op.loaded_outputs + every_op.loaded_inputs)
    assert [mapping[id(p)] for p in every_op.inputs] == every_op.loaded_inputs
    assert all(isinstance(p, Placeholder) for p in every_op.loaded_inputs)
    gradients = [n for n in sg.toposort(every_op.loaded_outputs) if provenance(n) is not None]
    assert len(gradients) > 50 and sum(gradient_origin(n) is not None for n in gradients) >= len(GRADIENT_ROWS)


def test_a_loaded_graph_saves_back_to_the_same_bytes(every_op, tmp_path):
    again = tmp_path / "again.safetensors"
    sg.save(again, every_op.loaded_outputs, every_op.loaded_inputs)
    assert again.read_bytes() == every_op.path.read_bytes()


def test_every_op_computes_the_same_bits_after_loading(every_op):
    original = sg.function(every_op.inputs, every_op.outputs, optimize=False, backend="numpy")
    loaded = sg.function(every_op.loaded_inputs, every_op.loaded_outputs, optimize=False, backend="numpy")
    assert_bitwise(loaded(*every_op.arrays), original(*every_op.arrays), "numpy")


def test_every_op_generates_the_same_numba_module_after_loading(every_op):
    """The same generated source is the same compiled code: what the run below checks, without its minute and a half
    of compiling a node of every op (their values on Numba are tests/test_numba_ops.py's business)."""
    original = sg.function(every_op.inputs, every_op.outputs, backend="numba", optimize=False)
    loaded = sg.function(every_op.loaded_inputs, every_op.loaded_outputs, backend="numba", optimize=False)
    assert loaded.source == original.source
    assert "def stage_" in original.source and "conv2d" in original.source


@pytest.mark.slow
def test_every_op_computes_the_same_bits_after_loading_on_numba(tmp_path):
    """One case per row in one compiled function (each compiled node costs a fraction of a second)."""
    graph = every_op_graph(tmp_path, 1, ())
    assert {n.op.name for n in sg.toposort(graph.outputs) if n.inputs} == SAVED_OPS
    original = sg.function(graph.inputs, graph.outputs, backend="numba", optimize=False)
    loaded = sg.function(graph.loaded_inputs, graph.loaded_outputs, backend="numba", optimize=False)
    assert_bitwise(loaded(*graph.arrays), original(*graph.arrays), "numba")


# -- training graphs: random streams, running statistics, optimization ------------------------------------------

def build_model(seed: int = 0):
    """A small classifier with dropout and batch_norm whose hand-written cross-entropy sg.optimize stabilizes
    (so the gradient is re-derived); returns (x, labels, cost, logits)."""
    sg.layers.reset_names()
    x = sg.placeholder((None, 6), name="x")
    labels = sg.placeholder((None,), "int64", name="labels")
    h = sg.layers.dense(x, 8, activation="relu", rng=seed)
    h = sg.nn.dropout(h, 0.25, seed=seed + 1)
    h = sg.layers.batch_norm(h, training=True)
    logits = sg.layers.dense(h, 3, rng=seed + 2)
    cost = -sg.mean(sg.sum(sg.one_hot(labels, 3) * sg.log(sg.nn.softmax(logits)), axis=1))
    return x, labels, cost, logits


def batches(count: int, seed: int = 5):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(7, 6)).astype(np.float32), rng.integers(0, 3, 7)) for _ in range(count)]


@pytest.fixture
def model_file(tmp_path):
    x, labels, cost, logits = build_model()
    params = sg.trainable_variables(cost)
    outputs = [cost, logits] + sg.grad(cost, params)
    path = tmp_path / "model.safetensors"
    sg.save(path, outputs, [x, labels], metadata={"model": "test", "epochs": 2})
    return SimpleNamespace(path=path, inputs=[x, labels], outputs=outputs, params=[p.name for p in params])


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
def test_training_steps_after_loading_match_the_original_bit_for_bit(model_file, backend_name):
    """Implied updates (dropout's stream advancing, batch_norm's statistics) and the default optimization
    (stabilized cost, re-derived gradients) behave as in the original graph; each has its own variables."""
    inputs, outputs, variables = sg.load(model_file.path)
    correspondence(model_file.outputs, outputs)
    original = sg.function(model_file.inputs, model_file.outputs, backend=backend_name)
    loaded = sg.function(inputs, outputs, backend=backend_name)
    assert loaded.report.rule_counts == original.report.rule_counts
    assert original.report.rule_counts["rederive_gradient"] > 0
    state = {v.name: v for v in variables}
    assert {"random_stream/state", "batch_norm/running_mean", "batch_norm/running_var"} <= set(state)
    originals = {v.name: v for v, _ in original.updates}
    assert sorted(originals) == sorted(v.name for v, _ in loaded.updates) == ["batch_norm/running_mean",
                                                                               "batch_norm/running_var",
                                                                               "random_stream/state"]
    for step, (xs, ys) in enumerate(batches(3)):
        assert_bitwise(loaded(xs, ys), original(xs, ys), f"{backend_name} step {step}")
        for name in ("random_stream/state", "batch_norm/running_mean", "batch_norm/running_var"):
            assert_bitwise([state[name].value], [originals[name].value], f"{name} after step {step}")
    assert state["random_stream/state"].value.tolist() == [1, 3]


def test_the_gradient_of_a_loaded_cost_can_be_taken(model_file):
    """A loaded graph is an ordinary graph: sg.grad of its cost with respect to a loaded variable (what `symgraph
    show FILE --grad NAME` prints) gives the saved gradient's values."""
    inputs, outputs, variables = sg.load(model_file.path)
    weights = next(v for v in variables if v.name == "dense_1/W")
    saved = outputs[2 + model_file.params.index("dense_1/W")]
    xs, ys = batches(1)[0]
    got, want = sg.function(inputs, [sg.grad(outputs[0], weights), saved], optimize=False, backend="numpy")(xs, ys)
    assert_bitwise([got], [want], "gradient")
    assert np.abs(got).max() > 0


def test_metadata_and_single_outputs_come_back(tmp_path):
    x = sg.placeholder((3,), name="x")
    y = sg.exp(x, name="y")
    unused = sg.placeholder((), "int32", name="unused")
    path = tmp_path / "single.safetensors"
    metadata = {"epoch": np.int64(3), "loss": np.float32(0.25), "tags": ("a", "b"), "nested": {"ok": [True, None]}}
    sg.save(path, y, [unused, x], metadata=metadata)
    inputs, output, variables = sg.load(path)
    assert isinstance(output, sg.Node) and output.name == "y" and variables == []
    assert [p.name for p in inputs] == ["unused", "x"]
    assert sg.read_metadata(path) == {"epoch": 3, "loss": 0.25, "tags": ["a", "b"], "nested": {"ok": [True, None]}}
    f = sg.function(inputs, output, backend="numpy")
    assert_bitwise([f(0, np.arange(3, dtype=np.float32))], [np.exp(np.arange(3, dtype=np.float32))], "exp")


def test_save_defaults_inputs_to_the_placeholders_the_outputs_need(tmp_path):
    a, b = sg.placeholder((2,), name="a"), sg.placeholder((2,), name="b")
    path = tmp_path / "g.safetensors"
    sg.save(path, [b * 2, a + b])
    inputs, _, _ = sg.load(path)
    assert [p.name for p in inputs] == [p.name for p in sg.toposort([b * 2, a + b]) if isinstance(p, Placeholder)]


# -- checkpoints ----------------------------------------------------------------------------------------------------

def training_step(seed: int = 0):
    x, labels, cost, _ = build_model(seed)
    params = sg.trainable_variables(cost)
    return sg.function([x, labels], cost, updates=sg.optim.Adam(0.01).updates(cost, params), backend="numpy")


def test_a_checkpoint_holds_every_variable_a_step_updates(tmp_path):
    step = training_step()
    path = tmp_path / "ckpt.safetensors"
    sg.save_variables(path, step)
    _, tensors = graph_document(path)
    expected = {"iterations", "random_stream/state", "batch_norm/running_mean", "batch_norm/running_var"}
    expected |= {f"{p}{slot}" for p in ("dense/W", "dense/b", "dense_1/W", "dense_1/b", "batch_norm/gamma",
                                        "batch_norm/beta") for slot in ("", "/m", "/v")}
    assert set(tensors) == expected


def test_resuming_from_a_checkpoint_ends_with_the_parameters_of_an_uninterrupted_run(tmp_path):
    """Train 5 steps straight; or 2 steps, checkpoint (with the data generator's state), rebuild everything, load,
    and train the remaining 3 on the batches the restored generator draws: every variable ends bit-identical."""
    def run(step, rng, count):
        for _ in range(count):
            xs = rng.normal(size=(7, 6)).astype(np.float32)
            step(xs, rng.integers(0, 3, 7))

    straight = training_step()
    run(straight, np.random.default_rng(9), 5)

    first = training_step()
    rng = np.random.default_rng(9)
    run(first, rng, 2)
    path = tmp_path / "ckpt.safetensors"
    sg.save_variables(path, first, metadata={"step": 2, "rng": rng.bit_generator.state})
    resumed = training_step()
    metadata = sg.load_variables(path, resumed)
    assert metadata["step"] == 2
    rng = np.random.default_rng(0)
    rng.bit_generator.state = metadata["rng"]
    run(resumed, rng, 3)
    want = {v.name: v.value for v, _ in straight.updates}
    got = {v.name: v.value for v, _ in resumed.updates}
    assert want.keys() == got.keys()
    assert_bitwise([got[n] for n in sorted(got)], [want[n] for n in sorted(want)], "resumed")
    assert got["iterations"] == 5


def test_load_variables_reads_a_list_and_returns_empty_metadata_by_default(tmp_path):
    w = sg.variable(np.arange(6, dtype=np.float64).reshape(2, 3), name="w")
    flag = sg.variable(np.array([True, False]), name="flag", trainable=False)
    path = tmp_path / "v.safetensors"
    sg.save_variables(path, [w, flag])
    w.assign(np.zeros((2, 3)))
    flag.assign([False, False])
    assert sg.load_variables(path, (w, flag)) == {}
    assert w.value.tolist() == [[0, 1, 2], [3, 4, 5]] and flag.value.tolist() == [True, False]
    assert sg.read_metadata(path) == {}


def test_a_checkpoint_taken_while_another_thread_trains_holds_one_step(tmp_path, eager_thread_switching):
    """Saving holds the variables' locks, so a checkpoint never catches a compiled call halfway through its
    updates: 30 variables that every call increments together are always saved equal."""
    counters = [sg.variable(np.int64(0), name=f"c{k}") for k in range(30)]
    step = sg.function([], [], updates={c: c + 1 for c in counters}, backend="numpy")
    done = threading.Event()

    def train():
        while not done.is_set():
            step()

    trainer = threading.Thread(target=train)
    trainer.start()
    try:
        seen = set()
        for k in range(100):
            path = tmp_path / "c.safetensors"
            sg.save_variables(path, step)
            _, tensors = graph_document(path)
            values = {int(v) for v in tensors.values()}
            assert len(values) == 1, f"checkpoint {k} caught a step halfway: {sorted(values)}"
            seen |= values
    finally:
        done.set()
        trainer.join()
    assert len(seen) > 1  # the trainer did run between saves


@pytest.mark.parametrize("change, message", [
    ("missing", r"has no entry for 1 of the variables given:\n  variable node 'extra'"),
    ("extra", r"holds entries that match none of the variables given: 'b'"),
    ("shape", r"the entry 'b' has shape \(3,\) float32, but variable node 'b' .* needs \(4,\) float32"),
    ("dtype", r"the entry 'b' has shape \(3,\) float32, but variable node 'b' .* needs \(3,\) float64"),
])
def test_load_variables_refuses_mismatches_before_changing_anything(tmp_path, change, message):
    a = sg.variable(np.ones(2, np.float32), name="a")
    b = sg.variable(np.ones(3, np.float32), name="b")
    path = tmp_path / "v.safetensors"
    sg.save_variables(path, [a, b])
    fresh_a = sg.variable(np.zeros(2, np.float32), name="a")
    targets = {"missing": [fresh_a, sg.variable(np.zeros(3, np.float32), name="b"), sg.variable(0.0, name="extra")],
               "extra": [fresh_a],
               "shape": [fresh_a, sg.variable(np.zeros(4, np.float32), name="b")],
               "dtype": [fresh_a, sg.variable(np.zeros(3, np.float64), name="b")]}[change]
    with pytest.raises(ValueError, match=message):
        sg.load_variables(path, targets)
    assert fresh_a.value.tolist() == [0, 0]


@pytest.mark.parametrize("variables, error, message", [
    (lambda: [sg.variable(1.0)], ValueError, r"variable node .* has no name: checkpoints match variables by name"),
    (lambda: [sg.variable(1.0, name="s"), sg.variable(2.0, name="s")], ValueError, r"two variables are named 's'"),
    (lambda: [SAME] * 2, ValueError, r"variable node 'same' .* is listed twice"),
    (lambda: [sg.variable(1.0, name="__metadata__")], ValueError, r"reserved by the safetensors format"),
    (lambda: [sg.variable(1.0, name="a\nb")], ValueError, r"holds a newline or another non-printable character"),
    (lambda: [sg.constant(1.0)], TypeError, r"item 0 of variables is constant node"),
    (lambda: sg.variable(1.0, name="v"), TypeError, r"variables must be a list of variables or a compiled function"),
    (lambda: {"v": sg.variable(1.0, name="v")}, TypeError, r"variables must be a list"),
])
def test_checkpoint_variables_are_checked(tmp_path, variables, error, message):
    for function in (sg.save_variables, sg.load_variables):
        with pytest.raises(error, match=message):
            function(tmp_path / "v.safetensors", variables())



def test_two_dropout_layers_need_named_streams_for_a_checkpoint(tmp_path):
    x = sg.placeholder((None, 4), name="x")
    y = sg.nn.dropout(sg.nn.dropout(x, 0.5, seed=1), 0.5, seed=2)
    step = sg.function([x], y, backend="numpy")
    duplicate = r"(?s)two variables are named 'random_stream/state'.*RandomStream\(seed, name"
    with pytest.raises(ValueError, match=duplicate):
        sg.save_variables(tmp_path / "c.safetensors", step)
    first, second = (sg.ops.random.RandomStream(s, name=f"drop{s}") for s in (1, 2))
    y = sg.nn.dropout(sg.nn.dropout(x, 0.5, stream=first), 0.5, stream=second)
    sg.save_variables(tmp_path / "c.safetensors", sg.function([x], y, backend="numpy"))


# -- errors when saving -----------------------------------------------------------------------------------------

class Custom(Op):
    name = "custom"

    def infer(self, x):
        return x.shape, x.dtype


@pytest.mark.parametrize("call, error, message", [
    (lambda p: sg.save(p, sg.graph.apply(Custom(), sg.placeholder((2,)))), TypeError,
     r"sg.save: cannot save custom node .*: its op Custom is not one of symgraph's ops"),
    (lambda p: sg.save(p, sg.exp(sg.placeholder((2,)), name="bad\rname")), ValueError,
     r"cannot save exp node 'bad\\rname' .*: its name .* holds a newline or another non-printable character"),
    (lambda p: sg.save(p, [sg.placeholder((2,)), 3]), TypeError, r"outputs must be nodes; item 1 is int 3"),
    (lambda p: sg.save(p, "x"), TypeError, r"outputs must be a node or a list of them, got str 'x'"),
    (lambda p: sg.save(p, sg.exp(X_IN), inputs=[sg.exp(X_IN)]), TypeError, r"inputs must be placeholders; item 0 is"),
    (lambda p: sg.save(p, sg.exp(X_IN), inputs=[X_IN, X_IN]), ValueError, r"is listed twice among the inputs"),
    (lambda p: sg.save(p, X_IN, metadata=[1]), TypeError, r"metadata must be a dict of JSON values or None"),
    (lambda p: sg.save(p, X_IN, metadata={"loss": float("nan")}), ValueError,
     r"metadata\['loss'\] is nan, which JSON cannot hold"),
    (lambda p: sg.save(p, X_IN, metadata={"f": print}), TypeError, r"metadata\['f'\] is builtin_function_or_method"),
    (lambda p: sg.save(p, X_IN, metadata={1: 2}), TypeError, r"metadata has the key 1 \(int\): JSON object keys"),
    (lambda p: sg.save(p, X_IN, metadata={"deep": DEEP}), ValueError, r"is nested more than 64 deep"),
    (lambda p: sg.save(42, X_IN), TypeError, r"sg.save: path must be a str or an os.PathLike, got int 42"),
    (lambda p: sg.save(p / "missing" / "f", X_IN), FileNotFoundError, r"the directory .*missing does not exist"),
    (lambda p: sg.save(p.parent, X_IN), IsADirectoryError, r"it is a directory"),
])
def test_save_refuses_what_it_cannot_store(tmp_path, call, error, message):
    with pytest.raises(error, match=message):
        call(tmp_path / "f.safetensors")
    assert not [f for f in os.listdir(tmp_path) if f != "missing"], "a refused save wrote something"


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "f.safetensors"
    path.write_bytes(b"previous")

    def chunks():
        yield b"new"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        container.write_atomically(str(path), chunks(), "test")
    assert path.read_bytes() == b"previous" and os.listdir(tmp_path) == ["f.safetensors"]


# -- interoperability with the official safetensors package ---------------------------------------------------------

def test_the_official_safetensors_package_reads_symgraph_files(model_file, tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    from safetensors import safe_open

    tensors = safetensors_numpy.load_file(str(model_file.path))
    _, ours = graph_document(model_file.path)
    assert tensors.keys() == ours.keys()
    assert_bitwise([tensors[k] for k in sorted(tensors)], [ours[k] for k in sorted(ours)], "tensors")
    with safe_open(str(model_file.path), framework="np") as file:
        document = json.loads(file.metadata()["symgraph"])
    assert document["format"] == "symgraph.graph" and document["metadata"] == {"model": "test", "epochs": 2}
    step = training_step()
    sg.save_variables(tmp_path / "c.safetensors", step)
    checkpoint = safetensors_numpy.load_file(str(tmp_path / "c.safetensors"))
    assert_bitwise([checkpoint["dense/W"]], [next(v.value for v, _ in step.updates if v.name == "dense/W")], "W")


def test_symgraph_reads_files_the_official_package_writes(model_file, tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    document, tensors = graph_document(model_file.path)
    theirs = tmp_path / "theirs.safetensors"
    safetensors_numpy.save_file({k: np.array(v) for k, v in tensors.items()}, str(theirs),
                                metadata={"symgraph": json.dumps(document)})
    inputs, outputs, _ = sg.load(theirs)
    correspondence(model_file.outputs, outputs)
    plain = tmp_path / "plain.safetensors"
    safetensors_numpy.save_file({"w": np.arange(4, dtype=np.int32), "m": np.eye(2)}, str(plain))
    w, m = sg.variable(np.zeros(4, np.int32), name="w"), sg.variable(np.zeros((2, 2)), name="m")
    assert sg.load_variables(plain, [m, w]) == {}
    assert w.value.tolist() == [0, 1, 2, 3] and m.value.tolist() == [[1, 0], [0, 1]]


# -- the load path runs no code from the file -----------------------------------------------------------------------

FORBIDDEN_MODULES = {"pickle", "cPickle", "dill", "marshal", "shelve", "importlib", "builtins", "runpy"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "getattr", "setattr", "globals", "locals", "vars",
                   "import_module", "allow_pickle"}
LOADERS = {"load", "loads"}  # np.load and pickle.load(s) unpickle; json.loads is the one parser allowed


def test_the_io_package_never_unpickles_evaluates_or_imports_by_name():
    """No module of symgraph/io imports pickle, marshal, importlib or the like, names eval, exec, compile,
    __import__ or getattr, or calls a .load/.loads other than json.loads (np.load can unpickle): no code path can
    run, unpickle or import something a file names."""
    package = REPOSITORY / "symgraph" / "io"
    modules = sorted(package.glob("*.py"))
    assert {m.name for m in modules} >= {"__init__.py", "container.py", "registry.py", "graphs.py", "checkpoints.py"}
    for module in modules:
        tree = ast.parse(module.read_text(), filename=str(module))
        for node in ast.walk(tree):
            where = f"{module.name}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & FORBIDDEN_MODULES, where
            elif isinstance(node, ast.ImportFrom):
                assert node.module and node.level == 0, where
                assert node.module.split(".")[0] not in FORBIDDEN_MODULES, where
                if not node.module.startswith("symgraph"):
                    assert not {a.name for a in node.names} & (FORBIDDEN_CALLS | LOADERS), where
            elif isinstance(node, ast.Name):
                assert node.id not in FORBIDDEN_CALLS | FORBIDDEN_MODULES, f"{where} uses {node.id}"
            elif isinstance(node, ast.Attribute):
                assert node.attr not in FORBIDDEN_CALLS, f"{where} uses .{node.attr}"
                if node.attr in LOADERS:
                    assert isinstance(node.value, ast.Name) and node.value.id == "json" and node.attr == "loads", \
                        f"{where} calls .{node.attr}"
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in FORBIDDEN_MODULES, f"{where} names the module {node.value}"


# -- forged files ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    """A small graph with every kind of node entry: placeholder, constant, variable, ops with attributes, implied
    updates and gradient bookkeeping."""
    sg.layers.reset_names()
    x = sg.placeholder((None, 3), name="x")
    w = sg.variable(np.ones((3, 2), np.float32), name="w")
    h = sg.nn.dropout(x @ w + 1.0, 0.5, seed=3)
    cost = sg.sum(sg.nn.softmax(h, axis=1)[:, 0])
    path = tmp_path_factory.mktemp("small") / "small.safetensors"
    sg.save(path, [cost, sg.grad(cost, w)], [x])
    document, tensors = graph_document(path)
    return SimpleNamespace(path=path, document=document, tensors={k: np.array(v) for k, v in tensors.items()})


def node_of(document, op_or_kind: str) -> dict:
    return next(n for n in document["nodes"] if n.get("op", n["kind"]) == op_or_kind)


def share_a_tensor(document, tensors) -> None:
    """The second node with a tensor takes the first one's tensor (and its type)."""
    first, second = [n for n in document["nodes"] if "tensor" in n][:2]
    second.update(tensor=first["tensor"], shape=first["shape"], dtype=first["dtype"])


FORGERIES = {  # name -> (edit(document, tensors), message fragment)
    "wrong version": (lambda d, t: d.update(version=2), r"written by a newer symgraph \(symgraph.graph version 2\)"),
    "version zero": (lambda d, t: d.update(version=0), r"invalid format version 0"),
    "version text": (lambda d, t: d.update(version="1"), r"invalid format version '1'"),
    "checkpoint": (lambda d, t: d.update(format="symgraph.variables"),
                   r"a checkpoint of variables .* sg.load_variables"),
    "other format": (lambda d, t: d.update(format="keras"), r"unknown format 'keras'"),
    "unknown key": (lambda d, t: d.update(code="import os"), r"the graph document: unknown 'code'"),
    "missing nodes": (lambda d, t: d.pop("nodes"), r"the graph document: missing 'nodes'"),
    "unknown op": (lambda d, t: node_of(d, "matmul").update(op="os.system"), r"unknown op 'os.system'"),
    "op not a name": (lambda d, t: node_of(d, "matmul").update(op=["matmul"]), r"unknown op \['matmul'\]"),
    "cycle": (lambda d, t: node_of(d, "matmul").update(inputs=[len(d["nodes"]) - 1, 1]),
              r"not the position of an earlier node .*a file with a cycle is refused"),
    "self input": (lambda d, t: node_of(d, "matmul").update(inputs=[0, node_index(d, "matmul")]),
                   r"is not the position of an earlier node"),
    "input out of range": (lambda d, t: node_of(d, "matmul").update(inputs=[0, 10**6]), r"10+ is not the position"),
    "negative input": (lambda d, t: node_of(d, "matmul").update(inputs=[-1, 1]), r"-1 is not the position"),
    "input not an int": (lambda d, t: node_of(d, "matmul").update(inputs=[0, True]), r"True is not the position"),
    "object dtype": (lambda d, t: node_of(d, "placeholder").update(dtype="object"), r"dtype 'object' is not supported"),
    "void dtype": (lambda d, t: node_of(d, "placeholder").update(dtype="V8"), r"dtype 'V8' is not supported"),
    "pickled dtype": (lambda d, t: node_of(d, "placeholder").update(dtype="|O"), r"dtype '\|O' is not supported"),
    "negative shape": (lambda d, t: node_of(d, "placeholder").update(shape=[-1, 3]), r"dimensions must be ints"),
    "absurd shape": (lambda d, t: node_of(d, "placeholder").update(shape=[2**70, 3]), r"dimensions must be ints"),
    "absurd rank": (lambda d, t: node_of(d, "placeholder").update(shape=[1] * 65), r"at most 64 dimensions"),
    "inconsistent shape": (lambda d, t: node_of(d, "matmul").update(shape=[None, 5]),
                           r"the file states shape \(None, 5\) float32, but the op gives \(None, 2\) float32"),
    "inconsistent dtype": (lambda d, t: node_of(d, "matmul").update(dtype="float64"), r"but the op gives"),
    "refused by infer": (lambda d, t: node_of(d, "add").update(inputs=[node_index(d, "placeholder"),
                                                                     named(d, "w")]),
                         r"add\)?: its op refuses its inputs \(\(None, 3\) float32, \(3, 2\) float32\): ShapeError"),
    "wrong arity": (lambda d, t: node_of(d, "matmul").update(inputs=[0]), r"takes 2 inputs, got 1"),
    "axis out of range": (lambda d, t: node_of(d, "softmax")["attributes"].update(axis=5),
                          r"attribute 'axis' must be an axis of an input of rank 2 in \[0, 1\], got int 5"),
    "negative axis": (lambda d, t: node_of(d, "softmax")["attributes"].update(axis=-1), r"attribute 'axis' must be"),
    "huge axis": (lambda d, t: node_of(d, "softmax")["attributes"].update(axis=10**400),
                  r"attribute 'axis': an int of 401 digits is out of range"),
    "missing attribute": (lambda d, t: node_of(d, "softmax").pop("attributes"),
                          r"the attributes must be exactly \['axis'\]"),
    "extra attribute": (lambda d, t: node_of(d, "softmax")["attributes"].update(run="rm -rf"),
                        r"the attributes must be exactly"),
    "attribute object": (lambda d, t: node_of(d, "softmax")["attributes"].update(axis={"__class__": "os"}),
                         r"is not an attribute value"),
    "deep attribute": (lambda d, t: node_of(d, "index")["attributes"].update(template=[[[[[[0]]]]]]),
                       r"lists are nested more than 4 deep"),
    "bad template": (lambda d, t: node_of(d, "index")["attributes"].update(template=[["eval", 0]]),
                     r"not an index item"),
    "random dtype": (lambda d, t: node_of(d, "random_uniform")["attributes"].update(dtype={"dtype": "int64"}),
                     r"must be a floating-point dtype"),
    "random state": (lambda d, t: node_of(d, "random_uniform").update(inputs=[node_index(d, "placeholder"),
                                                                              node_index(d, "placeholder")]),
                     r"a random stream's state must be int64 of shape \(2,\)"),
    "update of a non-variable": (lambda d, t: node_of(d, "random_uniform")["implied_updates"][0].__setitem__(
        0, node_index(d, "placeholder")),
                                 r"updates node \d+ \(placeholder 'x'\), which is not a variable"),
    "update of another type": (lambda d, t: node_of(d, "random_uniform")["implied_updates"][0].__setitem__(
        1, node_index(d, "matmul")), r"the implied update of node \d+ \(variable .* is node \d+ \(matmul\)"),
    "tensor used twice": (share_a_tensor, r"is used by an earlier node too"),
    "tensor missing": (lambda d, t: node_of(d, "variable").update(tensor="nowhere"),
                       r"no tensor 'nowhere' in the file"),
    "tensor unused": (lambda d, t: t.update(extra=np.zeros(2, np.float32)), r"tensors that no node uses: 'extra'"),
    "tensor of another shape": (lambda d, t: t.update({d["nodes"][named(d, "w")]["tensor"]: np.ones((2, 3),
                                                                                               np.float32)}),
                                r"has shape \(2, 3\) float32, but the node states \(3, 2\) float32"),
    "name with a newline": (lambda d, t: node_of(d, "matmul").update(name="x\nimport os"),
                            r"the name 'x\\nimport os' holds a newline"),
    "site with a newline": (lambda d, t: node_of(d, "matmul").update(site=["f.py\nimport os  #", 3]),
                            r"the site's file name .* holds a newline"),
    "huge name": (lambda d, t: node_of(d, "matmul").update(name="n" * 5000), r"has 5000 characters, more than 4096"),
    "duplicate inputs": (lambda d, t: d.update(inputs=[named(d, "x")] * 2),
                         r"input 1 \(node \d+ \(placeholder 'x'\)\) is listed twice"),
    "input not a placeholder": (lambda d, t: d.update(inputs=[named(d, "w")]),
                                r"input 0 is node \d+ \(variable 'w'\), not a placeholder"),
    "single output of two": (lambda d, t: d.update(single_output=True), r"'single_output' must be true"),
    "provenance forward": (lambda d, t: d["provenance"][0].__setitem__(1, len(d["nodes"]) - 1),
                           r"provenance: \d+ is not the position of an earlier node"),
    "origin without seeds": (lambda d, t: d["gradient_origins"][0].__setitem__(2, []), r"needs one seed per output"),
    "metadata not an object": (lambda d, t: d.update(metadata=[1]), r"metadata must be a JSON object"),
}


def node_index(document, op_or_kind: str) -> int:
    return next(k for k, n in enumerate(document["nodes"]) if n.get("op", n["kind"]) == op_or_kind)


def named(document, name: str) -> int:
    return next(k for k, n in enumerate(document["nodes"]) if n["name"] == name)


@pytest.mark.parametrize("name", list(FORGERIES))
def test_forged_graph_documents_raise_format_errors(small_file, tmp_path, name):
    edit, message = FORGERIES[name]
    document, tensors = json.loads(json.dumps(small_file.document)), dict(small_file.tensors)
    edit(document, tensors)
    path = tmp_path / "forged.safetensors"
    write_forged(path, document, tensors)
    with pytest.raises(sg.FormatError, match=message) as caught:
        sg.load(path)
    assert str(caught.value).startswith(str(path))
    assert isinstance(caught.value, ValueError)


def test_the_unforged_small_file_loads(small_file, tmp_path):
    path = tmp_path / "plain.safetensors"
    write_forged(path, small_file.document, small_file.tensors)
    sg.load(path)


CONTAINER_FORGERIES = {  # name -> (bytes of the file from the valid bytes, message fragment)
    "empty": (lambda b: b"", r"truncated: 0 bytes"),
    "length only": (lambda b: b[:8], r"truncated: the header declares \d+ bytes but only 0 follow"),
    "truncated header": (lambda b: b[:100], r"truncated: the header declares"),
    "truncated data": (lambda b: b[:-5], r"its bytes \[\d+, \d+\) lie outside the \d+ bytes of data"),
    "trailing bytes": (lambda b: b + b"\0" * 8, r"the tensors cover \d+ bytes but \d+ bytes of data follow"),
    "huge header": (lambda b: struct.pack("<Q", 2**63) + b[8:], r"the header declares 9223372036854775808 bytes, more"),
    "header beyond file": (lambda b: struct.pack("<Q", 10**8) + b[8:], r"truncated: the header declares 100000000"),
    "not json": (lambda b: with_header(b, b"{not json" + b" " * 7), r"the header: not valid JSON"),
    "not utf-8": (lambda b: with_header(b, b"{\xff\xfe}"), r"the header is not UTF-8 text"),
    "not an object": (lambda b: with_header(b, b"[1, 2]  "), r"does not start with"),
    "deep nesting": (lambda b: with_header(b, b"{\"a\":" + b"[" * 100000 + b"]" * 100000 + b"}"),
                     r"nested too deeply"),
    "nan": (lambda b: with_header(b, b"{\"a\": NaN}"), r"NaN is not a JSON value"),
    "huge number": (lambda b: with_header(b, b"{\"a\": 1e999}"), r"the number 1e999 is out of range"),
    "huge int": (lambda b: with_header(b, b"{\"a\": " + b"9" * 5000 + b"}"), r"not valid JSON"),
}


def with_header(data: bytes, header: bytes) -> bytes:
    """A file of ``header`` and no tensor data (for faults the header's parse finds first)."""
    return struct.pack("<Q", len(header)) + header


@pytest.mark.parametrize("name", list(CONTAINER_FORGERIES))
def test_forged_containers_raise_format_errors(small_file, tmp_path, name):
    make, message = CONTAINER_FORGERIES[name]
    path = tmp_path / "forged.safetensors"
    path.write_bytes(make(small_file.path.read_bytes()))
    for load in (sg.load, lambda p: sg.load_variables(p, []), sg.read_metadata):
        with pytest.raises(sg.FormatError, match=message):
            load(path)


def tensor_table_edit(edit):
    """A header edit applied to the first tensor's entry."""
    def apply(table):
        name = next(k for k in table if k != "__metadata__")
        edit(table, name)
    return apply


TABLE_FORGERIES = {  # name -> (edit(table, first tensor's name), message fragment)
    "tensor dtype F16": (lambda t, n: t[n].update(dtype="F16"), r"dtype 'F16' is not supported by symgraph"),
    "tensor dtype object": (lambda t, n: t[n].update(dtype="O"), r"dtype 'O' is unknown"),
    "tensor dtype list": (lambda t, n: t[n].update(dtype=["F32"]), r"dtype \['F32'\] is unknown"),
    "negative tensor shape": (lambda t, n: t[n].update(shape=[-2]), r"the shape must be a list of at most 64"),
    "declared size beyond the data": (lambda t, n: t[n].update(shape=[2**40, 2**40]),
                                      r"shape \(1099511627776, 1099511627776\) of \w+ needs \d{20,} bytes but "
                                      r"\[0, \d+\) holds \d+"),
    "offsets beyond the data": (lambda t, n: t[n].update(data_offsets=[0, 2**62]), r"lie outside the \d+ bytes"),
    "overlapping tensors": (lambda t, n: [t[k].update(data_offsets=t[n]["data_offsets"]) for k in t
                                          if k not in (n, "__metadata__")][:1],
                            r"must lie back to back|needs \d+ bytes"),
    "extra field": (lambda t, n: t[n].update(code="x"), r"expected an object with exactly dtype, shape"),
    "metadata not strings": (lambda t, n: t["__metadata__"].update(symgraph={"a": 1}), r"must map names to strings"),
    "document not json": (lambda t, n: t["__metadata__"].update(symgraph="{"),
                          r"the symgraph document: not valid JSON"),
}


@pytest.mark.parametrize("name", list(TABLE_FORGERIES))
def test_forged_tensor_tables_raise_format_errors(small_file, tmp_path, name):
    edit, message = TABLE_FORGERIES[name]
    path = tmp_path / "forged.safetensors"
    write_forged(path, small_file.document, small_file.tensors, tensor_table_edit(edit))
    with pytest.raises(sg.FormatError, match=message):
        sg.load(path)


def test_duplicate_keys_and_invalid_booleans_raise_format_errors(small_file, tmp_path):
    data = small_file.path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = data[8:8 + length].decode()
    first = next(k for k in json.loads(header) if k != "__metadata__")
    entry = json.dumps({first: json.loads(header)[first]})[1:-1]
    doubled = header.rstrip()[:-1] + "," + entry + "}"
    path = tmp_path / "doubled.safetensors"
    path.write_bytes(struct.pack("<Q", len(doubled)) + doubled.encode() + data[8 + length:])
    with pytest.raises(sg.FormatError, match=rf"the key '{first}' appears twice"):
        sg.load(path)
    flag = sg.variable(np.array([True, False]), name="flag")
    sg.save_variables(path, [flag])
    raw = bytearray(path.read_bytes())
    raw[-2] = 2  # a bool stored as the byte 2
    path.write_bytes(bytes(raw))
    with pytest.raises(sg.FormatError, match=r"a BOOL holds a byte other than 0 or 1"):
        sg.load_variables(path, [flag])


def test_loading_the_wrong_kind_of_file_names_the_right_function(small_file, tmp_path):
    checkpoint = tmp_path / "c.safetensors"
    sg.save_variables(checkpoint, [sg.variable(1.0, name="v")])
    with pytest.raises(sg.FormatError, match=r"a checkpoint of variables \(written by sg.save_variables\)"):
        sg.load(checkpoint)
    with pytest.raises(sg.FormatError, match=r"a saved graph \(written by sg.save\), not a checkpoint.*sg.load"):
        sg.load_variables(small_file.path, [])
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(with_header(b"", b"{}"))
    with pytest.raises(sg.FormatError, match=r"not a symgraph file: a safetensors file whose metadata has no"):
        sg.load(plain)
    assert sg.load_variables(plain, []) == {} and sg.read_metadata(plain) == {}  # an empty plain checkpoint
    with pytest.raises(FileNotFoundError):
        sg.load(tmp_path / "nothing.safetensors")


# -- atomic writes under SIGKILL ------------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import symgraph as sg

    directory, start = sys.argv[1], int(sys.argv[2])
    big = sg.variable(np.zeros(1_000_000, np.float64), name="big")
    counter = sg.variable(np.int64(0), name="counter")
    print("ready", flush=True)
    for k in range(start, start + 10**6):
        big.assign(np.full(1_000_000, float(k)))
        counter.assign(k)
        sg.save_variables(directory + "/checkpoint.safetensors", [big, counter], metadata={"k": k})
        sg.save(directory + "/model.safetensors", [big * 2.0, counter + 1], metadata={"k": k})
""")


def check_complete(directory: pathlib.Path, last_seen: dict) -> None:
    """Both files are whole and self-consistent (the checkpoint's values and the graph's variables all hold the k
    of their metadata) and never older than what was read before."""
    big = sg.variable(np.zeros(1_000_000, np.float64), name="big")
    counter = sg.variable(np.int64(0), name="counter")
    k = sg.load_variables(directory / "checkpoint.safetensors", [big, counter])["k"]
    assert counter.value == k and np.all(big.value == k) and k >= last_seen["checkpoint"]
    last_seen["checkpoint"] = k
    _, _, variables = sg.load(directory / "model.safetensors")
    k = sg.read_metadata(directory / "model.safetensors")["k"]
    values = {v.name: v.value for v in variables}
    assert values["counter"] == k and np.all(values["big"] == k) and k >= last_seen["model"]
    last_seen["model"] = k


def test_a_writer_killed_mid_write_leaves_a_whole_file(tmp_path):
    """A writer saving a checkpoint and a graph (8 MB each) in a loop is killed with SIGKILL at a random moment, 20
    times; each time both files are the previous version or the new one, complete, never a part. (About two kills
    in three land mid-write: each leaves its temporary file behind.)"""
    rng = np.random.default_rng(0)
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    last_seen = {"checkpoint": 0, "model": 0}
    for kill in range(20):
        start = 1000 * (kill + 1)  # each writer's k exceed its predecessors'
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(start)], stdout=subprocess.PIPE,
                                  env=environment, cwd=REPOSITORY)
        assert writer.stdout.readline() == b"ready\n"
        if kill == 0:  # let the first writer finish one round, so both files exist
            while not (tmp_path / "model.safetensors").exists():
                time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.4))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        assert writer.returncode == -signal.SIGKILL
        check_complete(tmp_path, last_seen)
    leftovers = [f for f in os.listdir(tmp_path) if f not in ("checkpoint.safetensors", "model.safetensors")]
    assert leftovers, "no kill landed between a write's start and its rename"  # each such kill leaves its .tmp
    assert all(f.startswith((".checkpoint.safetensors.", ".model.safetensors.")) and f.endswith(".tmp")
               for f in leftovers), leftovers
