"""Fuzzing the loaders with mutated files: sg.load and sg.load_variables either succeed or raise FormatError.

Each mutant comes from a valid file (three small graphs, between them every kind of node entry, attribute and
bookkeeping record, and a checkpoint) by one of: flipped bits, overwritten bytes, truncation, inserted or deleted
bytes, a forged header length, edits of the JSON header table (tensor dtypes, shapes, byte ranges), and edits of
the graph document (a random field replaced by a hostile value, deleted or duplicated; nodes swapped; inputs
pointing forward; ops renamed; deep nesting spliced into the text) re-wrapped in a valid container so that they reach
the graph checks. For every mutant: no exception but FormatError escapes (for a checkpoint also the documented
ValueError of a mismatched entry), the load takes under 1 s (a timer turns a hang into a failure) and its memory
peak (tracemalloc) stays under 8 MB plus 50 times the file's size, whatever sizes the header declares. A graph that
loads saves back and loads again. The default run checks 5,000 mutants (about 15 s); ``-m slow`` 50,000. A sweep
also gives every attribute of every op (one op-table case each) hostile and near-valid values.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import signal
import struct
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

import symgraph as sg
from op_table import ROWS
from symgraph.io import registry
from test_save_load import USER_DEFINED_ROWS, row_cases_built

HANG_GUARD_SECONDS = 5
MAX_SECONDS = 1.0
HOSTILE = [None, True, False, 0, 1, -1, 2, 7, 2**31, 2**63, -2**63, 2**64 + 1, 10**30, 10**400, 1.5, -0.0, 1e300,
           "", "x", "object", "V8", "|O", "<f4", "float16", "float32", "int64", "bool", "add", "os.system",
           "__import__('os')",
           "a\nb", "n" * 5000, [], [0], [None], [[0]], [0, 0], [-1, 2], [1] * 70, {}, {"dtype": "float32"},
           {"dtype": "object"}, {"__class__": "os"}, [["int", 0]], [["slice", None, None, 0]], [2**40, 2**40],
           ["f.py", -1], [[0, 0]], [[0, 1, 2, None]], {"epoch": [1, {"a": None}]}]
OPS = sorted(registry.OPS)


# -- base files -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz")
    sg.layers.reset_names()
    x = sg.placeholder((None, 3), name="x")
    w = sg.variable(np.ones((3, 2), np.float32), name="w")
    h = sg.nn.dropout(x @ w + 1.0, 0.5, seed=3)
    cost = sg.sum(sg.nn.softmax(h, axis=1)[:, 0]) + sg.mean(sg.cast(sg.argmax(h, axis=1), "float32"))
    first = directory / "first.safetensors"
    sg.save(first, [cost, sg.grad(cost, w)], [x], metadata={"epoch": 2, "tags": ["a"]})

    images = sg.placeholder((None, 1, 6, 6), name="images")
    training = sg.placeholder((), "bool", name="training")
    filters = sg.variable(np.full((2, 1, 3, 3), 0.1, np.float32), name="filters")
    y = sg.nn.max_pool2d(sg.nn.conv2d(images, filters, padding="same"), 2)
    y = sg.layers.batch_norm(y, training=training)
    flat = sg.reshape(y, (-1, 18))
    loss = sg.mean(sg.square(sg.concatenate([flat, flat[:, ::-1]], axis=1)))
    second = directory / "second.safetensors"
    sg.save(second, loss, [images, training])

    pooled = sg.nn.avg_pool2d(sg.nn.conv2d(images, filters, stride=2, padding=1), 2, padding=1)
    third = directory / "third.safetensors"
    sg.save(third, sg.grad(sg.sum(pooled), filters), [images])

    variables = [sg.variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="a"),
                 sg.variable(np.array([True, False]), name="flags"), sg.variable(np.int64(5), name="step")]
    checkpoint = directory / "checkpoint.safetensors"
    sg.save_variables(checkpoint, variables, metadata={"epoch": 1, "rng": {"state": 2**100}})
    graphs = [SimpleNamespace(data=p.read_bytes(), parts=split(p.read_bytes())) for p in (first, second, third)]
    return SimpleNamespace(directory=directory, graphs=graphs, checkpoint=checkpoint.read_bytes(),
                           checkpoint_parts=split(checkpoint.read_bytes()), variables=variables)


def split(data: bytes) -> SimpleNamespace:
    """A valid file's header table (parsed), symgraph document (its text, and the paths of its fields: every dict
    entry and list item) and tensor bytes."""
    (length,) = struct.unpack("<Q", data[:8])
    table = json.loads(data[8:8 + length])
    text = table["__metadata__"]["symgraph"]
    paths, pending = [], [((), json.loads(text))]
    while pending:
        path, item = pending.pop()
        keys = list(item) if isinstance(item, dict) else range(len(item)) if isinstance(item, list) else []
        for key in keys:
            paths.append(path + (key,))
            pending.append((path + (key,), item[key]))
    return SimpleNamespace(table=table, text=text, paths=paths, data=data[8 + length:])


def wrap(table: dict, document_text: str | None, data: bytes, header_text: str | None = None) -> bytes:
    """A file of ``table`` (with the document text in its metadata unless None) and ``data``."""
    table = dict(table)
    if document_text is not None:
        table["__metadata__"] = {"symgraph": document_text}
    header = (header_text if header_text is not None else json.dumps(table)).encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(header)) + header + data


# -- mutators: each (rng, base parts, file bytes) -> (description, mutated bytes) --------------------------------

def flip_bits(rng, parts, data):
    mutated = bytearray(data)
    for _ in range(rng.integers(1, 9)):
        position = rng.integers(len(mutated))
        mutated[position] ^= 1 << rng.integers(8)
    return "flipped bits", bytes(mutated)


def overwrite_bytes(rng, parts, data):
    mutated = bytearray(data)
    for _ in range(rng.integers(1, 5)):
        mutated[rng.integers(len(mutated))] = rng.choice([0, 0xFF, ord("["), ord("{"), ord('"'), ord("-"), ord("9"),
                                                          ord(","), ord("}"), rng.integers(256)])
    return "overwritten bytes", bytes(mutated)


def truncate(rng, parts, data):
    cut = int(rng.integers(len(data)))
    return f"truncated at {cut}", data[:cut]


def insert_or_delete(rng, parts, data):
    position = int(rng.integers(len(data)))
    if rng.random() < 0.5:
        return "deleted bytes", data[:position] + data[position + int(rng.integers(1, 64)):]
    return "inserted bytes", data[:position] + bytes(rng.integers(0, 256, int(rng.integers(1, 64)), np.uint8)) + \
        data[position:]


def forge_length(rng, parts, data):
    (length,) = struct.unpack("<Q", data[:8])
    forged = int(rng.choice([0, 1, 2, length - 1, length + 1, length + 8, len(data), 2**32, 2**63, 2**64 - 1,
                             99_999_999, 100_000_001, rng.integers(2**62)]))
    return f"header length {forged}", struct.pack("<Q", forged % 2**64) + data[8:]


def edit_table(rng, parts, data):
    table = json.loads(json.dumps(parts.table))
    names = [k for k in table if k != "__metadata__"]
    name = names[rng.integers(len(names))]
    field = ["dtype", "shape", "data_offsets", None][rng.integers(4)]
    if field is None:
        table[name + "_copy"] = dict(table[name])
    elif field == "dtype" and rng.random() < 0.7:
        table[name]["dtype"] = str(rng.choice(["F16", "BF16", "U8", "I8", "O", "V8", "F32", "F64", "I32", "I64",
                                               "BOOL", ""]))
    else:
        table[name][field] = HOSTILE[rng.integers(len(HOSTILE))]
    return f"table {name} {field}", wrap(table, None, parts.data)


def random_location(rng, document, paths):
    """A (container, key) pair chosen among every dict entry and list item of the document."""
    path = paths[rng.integers(len(paths))]
    container = document
    for key in path[:-1]:
        container = container[key]
    return container, path[-1]


def edit_document(rng, parts, data):
    document = json.loads(parts.text)
    nodes = document.get("nodes")
    choice = rng.integers(9)
    if nodes is None and 3 <= choice <= 6 or choice == 8 and not any("attributes" in n for n in nodes or []):
        choice = 0  # a checkpoint's document has no nodes
    if choice == 0:
        container, key = random_location(rng, document, parts.paths)
        container[key] = HOSTILE[rng.integers(len(HOSTILE))]
        what = f"replaced {key!r}"
    elif choice == 1:
        container, key = random_location(rng, document, parts.paths)
        del container[key]
        what = f"deleted {key!r}"
    elif choice == 2:
        container, key = random_location(rng, document, parts.paths)
        if isinstance(container, dict):
            container[str(rng.choice(["code", "__class__", "tensor", "op", "inputs", "attributes"]))] = container[key]
        else:
            container.insert(int(key), container[key])
        what = f"duplicated {key!r}"
    elif choice == 3:
        a, b = rng.integers(len(nodes), size=2)
        nodes[a], nodes[b] = nodes[b], nodes[a]
        what = f"swapped nodes {a} and {b}"
    elif choice == 4:
        k = int(rng.integers(len(nodes)))
        nodes[k]["inputs"] = [int(i) for i in rng.integers(-2, len(nodes) + 2, size=rng.integers(0, 4))]
        what = f"inputs of node {k}"
    elif choice == 5:
        ops = [n for n in nodes if n["kind"] == "op"]
        node = ops[rng.integers(len(ops))]
        node["op"] = OPS[rng.integers(len(OPS))]
        what = f"op renamed to {node['op']}"
    elif choice == 6:
        ops = [n for n in nodes if n["kind"] == "op"]
        target, source = ops[rng.integers(len(ops))], ops[rng.integers(len(ops))]
        target["attributes"] = source.get("attributes", {})
        what = "attributes of another op"
    elif choice == 8:
        node = [n for n in nodes if "attributes" in n][rng.integers(sum("attributes" in n for n in nodes))]
        name = list(node["attributes"])[rng.integers(len(node["attributes"]))]
        node["attributes"][name] = near(rng, node["attributes"][name])
        what = f"attribute {name} of {node['op']}"
    else:
        text = json.dumps(document)
        depth = int(rng.choice([50, 900, 5000, 100_000]))
        container, key = random_location(rng, document, parts.paths)
        container[key] = "SPLICE"
        text = json.dumps(document).replace('"SPLICE"', "[" * depth + "]" * depth, 1)
        return f"nesting {depth} spliced", wrap(parts.table, text, parts.data)
    return what, wrap(parts.table, json.dumps(document), parts.data)


def near(rng, value):
    """A value like ``value`` (same structure, other numbers or names), or a hostile one."""
    if rng.random() < 0.3:
        return HOSTILE[rng.integers(len(HOSTILE))]
    if isinstance(value, list):
        return [near(rng, v) for v in value] if rng.random() < 0.8 else value + [near(rng, value[-1] if value else 0)]
    if isinstance(value, bool) or value is None:
        return [True, False, None, 0][rng.integers(4)]
    if isinstance(value, int):
        return int(value + rng.choice([-2, -1, 1, 2, 64, -2**62]))
    if isinstance(value, str):
        return str(rng.choice(["int", "slice", "newaxis", "array", "same", "full", "valid", value + "x"]))
    return {"dtype": str(rng.choice(["float32", "float64", "int32", "int64", "bool", "float16", "object"]))}


MUTATORS = [flip_bits, overwrite_bytes, truncate, insert_or_delete, forge_length, edit_table, edit_document,
            edit_document]


# -- the runs -------------------------------------------------------------------------------------------------------

class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang("a load ran past the hang guard")


def _seconds_to_load(load, path) -> float:
    gc.collect()
    start = time.perf_counter()
    try:
        load(path)
    except ValueError:  # sg.FormatError included: the outcome was judged on the first load
        pass
    return time.perf_counter() - start


def run_fuzz(bases, count: int, seed: int) -> dict:
    """Load ``count`` mutants; returns how many loaded and how many were refused, per mutator."""
    rng = np.random.default_rng(seed)
    path = bases.directory / "mutant.safetensors"
    again = bases.directory / "again.safetensors"
    outcomes: dict = {}
    previous = signal.signal(signal.SIGALRM, _alarm)
    tracemalloc.start()
    try:
        for k in range(count):
            checkpoint = k % 5 == 4
            mutator = MUTATORS[rng.integers(len(MUTATORS))]
            base = None if checkpoint else bases.graphs[rng.integers(len(bases.graphs))]
            what, data = mutator(rng, bases.checkpoint_parts if checkpoint else base.parts,
                                 bases.checkpoint if checkpoint else base.data)
            path.write_bytes(data)
            load = (lambda p: sg.load_variables(p, bases.variables)) if checkpoint else sg.load
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            start = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, HANG_GUARD_SECONDS)
            try:
                loaded = load(path)
                outcome = "loaded"
            except sg.FormatError:
                outcome = "refused"
            except ValueError as error:
                if not (checkpoint and str(error).startswith("sg.load_variables: ")):
                    raise AssertionError(f"mutant {k} ({mutator.__name__}: {what}) raised {error!r:.300}") from error
                outcome = "mismatched"
            except BaseException as error:
                raise AssertionError(f"mutant {k} ({mutator.__name__}: {what}) raised {error!r:.300}") from error
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            elapsed = time.perf_counter() - start
            _, peak = tracemalloc.get_traced_memory()
            if elapsed >= MAX_SECONDS:  # a slow load is timed again: a stall of the shared machine is not slowness
                elapsed = min(elapsed, _seconds_to_load(load, path))
            assert elapsed < MAX_SECONDS, f"mutant {k} ({what}) took {elapsed:.2f} s"
            assert peak - before < 8 * 2**20 + 50 * len(data), f"mutant {k} ({what}) allocated {peak - before} bytes"
            if outcome == "loaded" and not checkpoint:
                inputs, outputs, _ = loaded
                sg.save(again, outputs, inputs)
                sg.load(again)
            key = (mutator.__name__, outcome)
            outcomes[key] = outcomes.get(key, 0) + 1
    finally:
        tracemalloc.stop()
        signal.signal(signal.SIGALRM, previous)
    return outcomes


def test_mutated_files_load_or_raise_format_errors(bases):
    outcomes = run_fuzz(bases, 5000, seed=0)
    assert sum(outcomes.values()) == 5000
    refused = {m for (m, outcome) in outcomes if outcome == "refused"}
    assert refused == {m.__name__ for m in MUTATORS}, outcomes
    assert outcomes.get(("edit_document", "loaded"), 0) > 0, outcomes  # some edits are harmless (names, sites)


def test_every_attribute_of_every_op_takes_hostile_values_safely(tmp_path):
    """Each op-table row's node alone in a file; each of its op's attributes replaced by every HOSTILE value and by
    20 values like the saved one: each file loads (and saves back) or raises FormatError, nothing else."""
    rng = np.random.default_rng(2)
    path, again = tmp_path / "mutant.safetensors", tmp_path / "again.safetensors"
    tried = set()
    for row in ROWS.values():
        if row.op is None or not dataclasses.fields(row.op) or row.name in USER_DEFINED_ROWS:
            continue
        inputs, node, _ = next(row_cases_built(row, 1))
        sg.save(path, node, inputs)
        parts = split(path.read_bytes())
        for entry in (n for n in json.loads(parts.text)["nodes"] if n.get("op") == row.op.name):
            for name, value in entry["attributes"].items():
                for replacement in HOSTILE + [near(rng, value) for _ in range(20)]:
                    document = json.loads(parts.text)
                    target = next(n for n in document["nodes"] if n.get("op") == row.op.name)
                    target["attributes"][name] = replacement
                    path.write_bytes(wrap(parts.table, json.dumps(document), parts.data))
                    try:
                        loaded_inputs, loaded_output, _ = sg.load(path)
                    except sg.FormatError:
                        continue
                    except Exception as error:
                        raise AssertionError(f"{row.op.name}.{name} = {replacement!r:.80}: {error!r:.200}") from error
                    sg.save(again, loaded_output, loaded_inputs)
                tried.add(row.op.name)
    assert len(tried) >= 30, tried


@pytest.mark.slow
def test_many_more_mutated_files_load_or_raise_format_errors(bases):
    outcomes = run_fuzz(bases, 50_000, seed=1)
    assert sum(outcomes.values()) == 50_000
