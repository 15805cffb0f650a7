"""The Numba backend's disk cache: hits across processes, explained misses, and faults that end in a correct function.

Each case runs a small script in fresh processes against its own cache directory (the script's graph is the same
in every process, so its generated module and key are too).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SCRIPT = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    import symgraph as sg
    dtype = sys.argv[1] if len(sys.argv) > 1 else "float64"
    stale = sys.argv[2] if len(sys.argv) > 2 else ""
    if stale == "older-symgraph":  # what an entry left by another release of symgraph holds
        sg.__version__ = "0.0.1"
    elif stale == "older-lowering":  # ... or by a backend whose generated code differs
        from symgraph.backends.numba import cache, codegen
        cache.lowering_sources_hash = lambda: "0" * 16
        write = codegen.ModuleWriter.write
        codegen.ModuleWriter.write = lambda self: write(self) + "\\n# written by an older lowering\\n"
    x = sg.placeholder((None, 3), dtype, name="x")
    w = sg.variable(np.arange(6.0, dtype=dtype).reshape(3, 2), name="w")
    y = sg.sum(sg.tanh(x @ w) * sg.nn.softmax(x @ w, axis=1), axis=1)  # softmax: a helper called from Python
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = sg.function([x], y, backend="numba")
        value = f(np.arange(6.0, dtype=dtype).reshape(2, 3))
        if "twice" in sys.argv:  # a second function in the same process
            sg.function([x], y * 2.0, backend="numba")(np.ones((1, 3), dtype))
    info = f.cache_info
    print(json.dumps({"hit": info.hit, "reason": info.reason, "key": info.key, "compiled": info.compiled,
                      "value": value.tolist(), "path": f.source_path, "source": f.source,
                      "warnings": [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]}))
""")
PRODUCT = np.arange(6.0).reshape(2, 3) @ np.arange(6.0).reshape(3, 2)
SOFTMAX = np.exp(PRODUCT - PRODUCT.max(axis=1, keepdims=True))
EXPECTED = np.sum(np.tanh(PRODUCT) * SOFTMAX / SOFTMAX.sum(axis=1, keepdims=True), axis=1)


@pytest.fixture
def run(tmp_path):
    script = tmp_path / "graph.py"
    script.write_text(SCRIPT)
    cache = tmp_path / "cache"

    def run_script(*args, cache_dir=cache, check=True):
        env = dict(os.environ, SYMGRAPH_CACHE_DIR=str(cache_dir))
        result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env,
                                timeout=600)
        if check:
            assert result.returncode == 0, result.stderr
            report = json.loads(result.stdout.strip().splitlines()[-1])
            np.testing.assert_allclose(report["value"], EXPECTED, rtol=1e-6)
            return report
        return result

    run_script.cache = cache
    run_script.script = script
    return run_script


def test_a_second_process_compiles_nothing(run):
    first = run()
    assert not first["hit"] and first["reason"].startswith("no entry")
    assert first["compiled"]  # the stages Numba compiled
    second = run()
    assert second["hit"] and second["reason"] is None and second["compiled"] == []
    assert second["key"] == first["key"]
    assert oct(os.stat(run.cache).st_mode & 0o777) == oct(0o700)  # private to the user


def test_a_script_edited_above_its_graph_compiles_nothing(run):
    """The key leaves out creation sites: the graph built two lines lower is the same entry, its compiled code is
    loaded, and the module (source and file) names the new lines."""
    first = run()
    run.script.write_text("# edited\n\n" + SCRIPT)
    moved = run()
    assert moved["hit"] and moved["compiled"] == [] and moved["key"] == first["key"]
    lines = {k + 1 for k, text in enumerate(SCRIPT.splitlines()) if text.startswith(("x = ", "y = "))}
    sites = lambda source: {int(n) for n in re.findall(r"graph\.py:(\d+)\b", source)}  # noqa: E731
    assert sites(first["source"]) == lines and sites(moved["source"]) == {n + 2 for n in lines}
    assert open(moved["path"]).read() == moved["source"]


def test_misses_say_why(run):
    run()
    changed = run("float32")
    assert not changed["hit"]
    assert "input 0 changed (float64(None, 3) -> float32(None, 3))" in changed["reason"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_corrupted_numba_entry_is_recompiled_with_one_warning(run, damage):
    first = run()
    pycache = os.path.join(os.path.dirname(first["path"]), "__pycache__")
    names = [n for n in os.listdir(pycache) if n.endswith((".nbc", ".nbi"))]
    assert names
    for name in names:
        path = os.path.join(pycache, name)
        content = open(path, "rb").read()
        with open(path, "wb") as file:
            file.write({"truncate": content[: len(content) // 2], "garbage": os.urandom(len(content)),
                        "empty": b""}[damage])
    again = run()
    assert not again["hit"] and "corrupted" in again["reason"]
    assert len([w for w in again["warnings"] if "recompiled" in w]) == 1
    healed = run()
    assert healed["hit"]


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_corrupted_entry_of_a_helper_kernel_is_recompiled_with_one_warning(run, damage):
    run()
    pycache = run.cache / "numba" / "kernels" / "__pycache__"
    names = [n for n in os.listdir(pycache) if n.startswith("nn_") and ".softmax_middle-" in n]
    assert names  # the graph's softmax helper was cached in its kernel file's entry
    for name in names:
        path = pycache / name
        content = path.read_bytes()
        path.write_bytes(content[: len(content) // 2] if damage == "truncate" else os.urandom(len(content)))
    again = run()
    assert not again["hit"] and "corrupted" in again["reason"]
    assert len([w for w in again["warnings"] if "recompiled" in w]) == 1
    assert run()["hit"]


def test_a_damaged_helper_kernel_file_is_written_again(run):
    run()
    kernels = run.cache / "numba" / "kernels"
    (path,) = [p for p in kernels.iterdir() if p.name.startswith("nn_")]  # kernels/nn.py's file
    with open(path, "a") as file:
        file.write("\nraise SystemExit('damaged')\n")
    run()
    assert "raise SystemExit('damaged')" not in path.read_text()


SHARING_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import symgraph as sg
    x = sg.placeholder((None, 4), "float64", name="x")
    first = sg.function([x], sg.nn.softmax(x, axis=1), backend="numba")
    second = sg.function([x], sg.nn.softmax(2.0 * x, axis=1) + 1.0, backend="numba")
    value = np.arange(8.0).reshape(2, 4)
    first(value)
    second(value)
    print(json.dumps({"first": first.cache_info.compiled, "second": second.cache_info.compiled,
                      "same": first._program._module.softmax_middle is second._program._module.softmax_middle,
                      "source": second.source}))
""")


def test_graphs_share_their_helper_kernels(tmp_path):
    """A helper is loaded from one kernel file by every module that calls it: compiled once, by the first graph (in
    a fresh process: this one may have loaded the helper already)."""
    script = tmp_path / "sharing.py"
    script.write_text(SHARING_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, SYMGRAPH_CACHE_DIR=str(tmp_path / "cache")))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "softmax_middle" in report["first"]
    assert "softmax_middle" not in report["second"] and report["second"]  # its own stages only
    assert report["same"]
    assert "softmax_middle = _kernels('nn', " in report["source"]


def test_a_damaged_module_file_is_written_again_with_one_warning(run):
    first = run()
    with open(first["path"], "a") as file:
        file.write("\nraise SystemExit('damaged')\n")
    again = run()
    assert not again["hit"] and again["reason"].startswith("entry corrupted")
    assert "raise SystemExit('damaged')" not in open(again["path"]).read()
    assert len([w for w in again["warnings"] if "written again" in w]) == 1, again["warnings"]


@pytest.mark.parametrize("stale, reason", [
    ("older-symgraph", "the symgraph version changed (0.0.1 -> "),
    ("older-lowering", "a lowering or helper kernel of symgraph's Numba backend changed"),
])
def test_a_stale_entry_is_compiled_again_and_says_why(run, stale, reason):
    old = run("float64", stale)
    assert not old["hit"] and old["reason"].startswith("no entry")
    again = run()
    assert not again["hit"] and again["reason"].startswith(reason), again["reason"]
    assert again["compiled"] and again["key"] != old["key"]
    assert run()["hit"]


def test_a_read_only_cache_directory_runs_uncached_with_one_warning(run, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write to read-only directories (root)")
        report = run("float64", "", "twice", cache_dir=locked)
        assert len([w for w in report["warnings"] if "cannot be written" in w]) == 1, report["warnings"]
    finally:
        locked.chmod(stat.S_IRWXU)


def test_a_cache_directory_that_cannot_be_created_runs_uncached(run, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    report = run("float64", "", "twice", cache_dir=blocker / "cache")  # two functions, one warning
    assert len([w for w in report["warnings"] if "cannot be written" in w]) == 1, report["warnings"]


def test_processes_compiling_the_same_graph_at_once_all_get_correct_functions(run):
    env = dict(os.environ, SYMGRAPH_CACHE_DIR=str(run.cache))
    script = os.path.join(os.path.dirname(str(run.cache)), "graph.py")
    processes = [subprocess.Popen([sys.executable, script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env) for _ in range(4)]
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        np.testing.assert_allclose(json.loads(out.strip().splitlines()[-1])["value"], EXPECTED, rtol=1e-6)
    assert run()["hit"]
