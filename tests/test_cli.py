"""The ``symgraph`` command line end to end: train (progress, metrics, checkpoints, Ctrl-C, exact resume), show (every
format, gradients), bench, --help of every command, and bad arguments and files as one-line errors.

Runs are short (the bundled digits, one to three epochs, BLAS on one thread). Most run in this process through
``main([...])``; the entry point itself (``python -m symgraph``), a real SIGINT and a PATH without Graphviz run in
subprocesses.
"""

import fcntl
import io
import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib

import numpy as np
import pytest

import symgraph as sg
from symgraph.cli import main, train as train_command
from symgraph.io import container

ROOT = pathlib.Path(__file__).resolve().parent.parent
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1"}
QUICK = ["--dataset", "digits", "--no-progress", "--threads", "1"]


@pytest.fixture(autouse=True)
def restore_threads():
    """``--threads 1`` in this process sets sg.set_num_threads(1): give the other tests their count back."""
    before = sg.get_num_threads()
    yield
    sg.set_num_threads(before)


def run_cli(args, cwd, timeout=120):
    """``python -m symgraph ARGS`` in a fresh process running this checkout."""
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "symgraph", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def assert_one_line_error(status, err, *fragments, code=None):
    assert status != 0 if code is None else status == code
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symgraph: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def saved_variables(path) -> dict:
    """name -> array of every tensor of a graph file or a checkpoint."""
    _, tensors = container.read(str(path))
    return {name: np.array(array) for name, array in tensors.items()}


def assert_bitwise_equal(first: dict, second: dict):
    assert sorted(first) == sorted(second)
    for name in first:
        assert first[name].dtype == second[name].dtype and first[name].tobytes() == second[name].tobytes(), name


# -- entry points and --help ----------------------------------------------------------------------------------------

def test_console_script_and_module_entry_point(tmp_path):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"symgraph": "symgraph.cli:main"}
    result = run_cli(["--help"], tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("usage: symgraph ")
    for command in ("train", "show", "bench"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["train", "show", "bench"])
def test_every_subcommand_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: symgraph {command} ")
    expected = {"train": ["--dataset", "--epochs", "--batch-size", "--lr", "--optimizer", "--backend", "--checkpoint",
                          "--resume", "--seed", "--save"],
                "show": ["--grad", "--optimize", "--format", "-o"],
                "bench": ["--threads", "--rounds", "--steps", "--workloads", "--systems"]}[command]
    for option in expected:
        assert option in out, option


# -- train ----------------------------------------------------------------------------------------------------------

def test_train_mlp_from_the_module_entry_point(tmp_path):
    result = run_cli(["train", "mlp", *QUICK, "--epochs", "1", "--save", "mlp.sg"], tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "dataset: digits (8x8, scikit-learn), 1437 training and 360 test images of (8, 8)"
    assert lines[1].startswith("epoch 1: loss ") and ", train accuracy " in lines[1]
    assert lines[2].startswith("test accuracy ") and lines[2].endswith(" training examples/sec")
    test_accuracy = float(lines[2].split()[2].rstrip("%;")) / 100
    assert test_accuracy > 0.6  # measured 70.56% after one epoch (SGD lr 0.1); chance is 10%
    assert lines[3] == "saved the trained graph to mlp.sg"
    assert not (tmp_path / "checkpoints").exists()  # nothing but what was asked for
    inputs, outputs, variables = sg.load(tmp_path / "mlp.sg")
    assert [p.name for p in inputs] == ["images", "labels"] and [v.name for v in variables] == \
        ["fc1/W", "fc1/b", "fc2/W", "fc2/b"]
    assert sg.read_metadata(tmp_path / "mlp.sg")["test_accuracy"] == pytest.approx(test_accuracy, abs=1e-4)


def test_train_cnn_learns_and_saves(tmp_path, capsys):
    graph = tmp_path / "cnn.sg"
    assert main(["train", "cnn", *QUICK, "--epochs", "2", "--test-limit", "200", "--save", str(graph)]) == 0
    out = capsys.readouterr().out
    losses = [float(out.split(f"epoch {k}: loss ")[1].split(",")[0]) for k in (1, 2)]
    assert losses[1] < 0.7 * losses[0]  # measured 2.264 -> 1.409
    test_accuracy = float(out.split("test accuracy ")[1].split("%")[0]) / 100
    assert test_accuracy > 0.65  # measured 79.5% (momentum SGD, lr 0.05, two epochs of 1,437 digits)
    inputs, (logits, cost), variables = sg.load(graph)
    assert [v.name for v in variables] == ["conv1/W", "conv1/b", "conv2/W", "conv2/b", "fc1/W", "fc1/b", "fc2/W",
                                           "fc2/b"]
    assert variables[0].shape == (32, 1, 5, 5) and variables[2].shape == (64, 32, 5, 5)
    assert variables[4].shape == (64 * 2 * 2, 1024)  # 8x8 pooled twice: 2x2 by 64 channels


def test_progress_bar_with_tqdm_and_per_epoch_lines_without(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tqdm")
    arguments = ["train", "mlp", "--dataset", "digits", "--threads", "1", "--epochs", "1", "--train-limit", "128"]
    assert main(arguments) == 0
    captured = capsys.readouterr()
    assert "epoch 1/1" in captured.err and "step" in captured.err  # tqdm's bar, on standard error
    assert "epoch 1: loss" in captured.out
    monkeypatch.setattr(train_command, "tqdm", None)  # as without tqdm installed
    assert main(arguments + ["--log-every", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert [line.split(":")[0] for line in lines[1:4]] == ["epoch 1 step 1/2", "epoch 1 step 2/2", "epoch 1"]


def test_epoch_checkpoints_hold_every_updated_variable_and_the_position(tmp_path, capsys):
    directory = tmp_path / "run"
    assert main(["train", "mlp", *QUICK, "--epochs", "1", "--optimizer", "adam", "--train-limit", "200",
                 "--checkpoint", str(directory)]) == 0
    path = directory / "checkpoint.safetensors"
    entries = saved_variables(path)
    parameters = ["fc1/W", "fc1/b", "fc2/W", "fc2/b"]
    assert sorted(entries) == sorted(parameters + [f"{p}/{m}" for p in parameters for m in ("m", "v")] +
                                     ["iterations"])
    assert entries["iterations"] == 4  # ceil(200 / 64) Adam steps
    metadata = sg.read_metadata(path)
    assert metadata["run"] == {"format": "symgraph.train", "version": 1, "model": "mlp", "dataset": "digits",
                               "train_limit": 200, "batch_size": 64, "optimizer": "adam", "lr": 0.001, "seed": 0}
    position = metadata["position"]
    assert position["epoch"] == 2 and position["step"] == 0 and position["losses"] == []
    order = np.random.default_rng(0)
    order.permutation(200)  # epoch 1's order: the checkpoint holds the generator's state after it
    state = order.bit_generator.state  # 128-bit integers as strings, for JSON readers with 53-bit numbers
    assert position["order_rng"] == {"bit_generator": "PCG64", "state": str(state["state"]["state"]),
                                     "inc": str(state["state"]["inc"]), "has_uint32": state["has_uint32"],
                                     "uinteger": state["uinteger"]}
    assert metadata["variables"]["parameters"] == parameters
    assert sorted(metadata["variables"]["optimizer_state"]) == sorted(set(entries) - set(parameters))
    assert main(["show", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"checkpoint {path}: 13 variables" in out and "  fc1/W/m  (64, 500) float32" in out


REFERENCES = {}


def resume_reference(tmp_path_factory, optimizer, epochs=3):
    """An ``epochs``-epoch run on 480 digits, batch 16 (30 steps an epoch): its graph file's and final checkpoint's
    tensors (made once per optimizer and epoch count)."""
    if (optimizer, epochs) not in REFERENCES:
        REFERENCES[optimizer, epochs] = _reference_run(tmp_path_factory, optimizer, epochs)
    return REFERENCES[optimizer, epochs]


def _reference_run(tmp_path_factory, optimizer, epochs):
    directory = tmp_path_factory.mktemp(f"reference-{optimizer}-{epochs}")
    assert main(["train", "mlp", *QUICK, "--optimizer", optimizer, "--seed", "7", "--epochs", str(epochs),
                 "--batch-size", "16", "--train-limit", "480", "--checkpoint", str(directory / "checkpoints"),
                 "--save", str(directory / "model.sg")]) == 0
    return saved_variables(directory / "model.sg"), saved_variables(directory / "checkpoints/checkpoint.safetensors")


RUN = ["--seed", "7", "--batch-size", "16", "--train-limit", "480"]


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_resume_after_a_finished_run_equals_a_longer_run(optimizer, tmp_path, tmp_path_factory, capsys):
    reference_graph, reference_checkpoint = resume_reference(tmp_path_factory, optimizer)
    capsys.readouterr()
    checkpoints = str(tmp_path / "checkpoints")
    assert main(["train", "mlp", *QUICK, "--optimizer", optimizer, *RUN, "--epochs", "2",
                 "--checkpoint", checkpoints]) == 0
    assert main(["train", "mlp", *QUICK, "--optimizer", optimizer, *RUN, "--epochs", "3", "--checkpoint",
                 checkpoints, "--resume", "--save", str(tmp_path / "model.sg")]) == 0
    resumed_output = capsys.readouterr().out.split("saved the trained graph")[0].split("test accuracy")[-2]
    assert "epoch 3: loss" in resumed_output and "epoch 2:" not in resumed_output  # trains epoch 3 alone
    assert_bitwise_equal(saved_variables(tmp_path / "model.sg"), reference_graph)
    assert_bitwise_equal(saved_variables(tmp_path / "checkpoints/checkpoint.safetensors"), reference_checkpoint)


def bounded_pipe(capacity: int) -> tuple[int, int]:
    """(read end, write end) of a pipe whose writer blocks once ``capacity`` bytes are unread (Linux's F_SETPIPE_SZ;
    the system's default size elsewhere): a child printing into it runs at most that far ahead of its reader."""
    reader, writer = os.pipe()
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        fcntl.fcntl(writer, fcntl.F_SETPIPE_SZ, capacity)
    return reader, writer


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_sigint_saves_a_checkpoint_and_resume_gives_the_uninterrupted_parameters(optimizer, tmp_path,
                                                                                 tmp_path_factory, monkeypatch):
    """A real SIGINT once the run is in epoch 2 (its data order is not the first one), then --resume with the command
    the message prints: bitwise the parameters and optimizer state of the uninterrupted run. The run logs every step
    into a pipe of one page, so it is at most ~130 steps past the line that triggers the signal (on a loaded machine
    a 64 KiB pipe let it run 48 steps on, into epoch 3): 8 epochs leave it room to stop before the end."""
    epochs = 8
    arguments = ["train", "mlp", *QUICK, "--optimizer", optimizer, *RUN, "--epochs", str(epochs), "--log-every", "1",
                 "--save", "model.sg"]
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT)}
    reader, writer = bounded_pipe(4096)
    process = subprocess.Popen([sys.executable, "-m", "symgraph", *arguments], cwd=tmp_path, stdout=writer,
                               stderr=subprocess.PIPE, text=True, env=env)
    os.close(writer)
    with open(reader) as stdout:
        for line in stdout:
            if line.startswith("epoch 2 step 3/30"):
                process.send_signal(signal.SIGINT)
                break
        out = stdout.read()
    err = process.stderr.read()
    process.wait(timeout=60)
    process.stderr.close()
    assert process.returncode == 130, (out, err)
    assert err == ""  # no traceback, nothing else
    message = out.strip().splitlines()[-1]
    stopped = re.fullmatch(r"interrupted in epoch (\d+) after step (\d+) of 30: checkpoint saved to "
                           r"checkpoints/mlp/checkpoint\.safetensors; resume with: (symgraph train mlp .*)", message)
    assert stopped, message
    epoch, step = int(stopped[1]), int(stopped[2])
    assert (epoch, step) >= (2, 3) and epoch <= epochs and step < 30
    metadata = sg.read_metadata(tmp_path / "checkpoints/mlp/checkpoint.safetensors")
    assert (metadata["position"]["epoch"], metadata["position"]["step"]) == (epoch, step)
    assert len(metadata["position"]["losses"]) == step
    command = shlex.split(message.split("resume with: ")[1])
    assert command[:2] == ["symgraph", "train"] and command[-1] == "--resume"
    reference_graph, reference_checkpoint = resume_reference(tmp_path_factory, optimizer, epochs)
    monkeypatch.chdir(tmp_path)  # the printed command's paths are relative to where the run started
    assert main(command[1:]) == 0
    assert_bitwise_equal(saved_variables(tmp_path / "model.sg"), reference_graph)
    # the command names the checkpoint directory, so the resumed run wrote epoch checkpoints there too
    assert_bitwise_equal(saved_variables(tmp_path / "checkpoints/mlp/checkpoint.safetensors"), reference_checkpoint)


def test_resume_on_the_numba_backend_equals_an_uninterrupted_numba_run(tmp_path, capsys):
    arguments = ["train", "mlp", *QUICK, "--backend", "numba", "--optimizer", "momentum", *RUN]
    assert main(arguments + ["--epochs", "2", "--save", str(tmp_path / "reference.sg")]) == 0
    checkpoints = str(tmp_path / "checkpoints")
    assert main(arguments + ["--epochs", "1", "--checkpoint", checkpoints]) == 0
    assert main(arguments + ["--epochs", "2", "--checkpoint", checkpoints, "--resume",
                             "--save", str(tmp_path / "resumed.sg")]) == 0
    assert_bitwise_equal(saved_variables(tmp_path / "resumed.sg"), saved_variables(tmp_path / "reference.sg"))


def test_resume_refuses_another_run_a_missing_checkpoint_and_nothing_left_to_do(tmp_path, capsys):
    checkpoints = str(tmp_path / "checkpoints")
    base = ["train", "mlp", *QUICK, "--train-limit", "64", "--checkpoint", checkpoints]
    assert main(base + ["--resume"]) == 1
    assert_one_line_error(1, capsys.readouterr().err, "--resume: no checkpoint at ", "checkpoint.safetensors")
    assert main(base + ["--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(base + ["--epochs", "2", "--resume", "--batch-size", "32"]) == 1
    assert_one_line_error(1, capsys.readouterr().err, "--batch-size 64, this run has --batch-size 32")
    assert main(base + ["--epochs", "1", "--resume"]) == 1
    assert_one_line_error(1, capsys.readouterr().err, "has done 1 epochs", "pass --epochs 2 or more")
    path = tmp_path / "checkpoints/checkpoint.safetensors"
    path.write_bytes(path.read_bytes()[:-100])  # truncated
    assert main(base + ["--epochs", "2", "--resume"]) == 1
    assert_one_line_error(1, capsys.readouterr().err, str(path))


def test_interrupt_before_training_is_one_line(monkeypatch, capsys):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_command, "load_data", interrupted)
    assert main(["train", "mlp", "--dataset", "digits"]) == 130
    assert capsys.readouterr().err == "symgraph: interrupted\n"


# -- bad arguments --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("arguments,fragment", [
    ([], "the following arguments are required: COMMAND"),
    (["fly"], "invalid choice: 'fly'"),
    (["train"], "the following arguments are required: model"),
    (["train", "rnn"], "invalid choice: 'rnn'"),
    (["train", "mlp", "--epochs", "0"], "argument --epochs: invalid positive integer value: '0'"),
    (["train", "mlp", "--lr", "-1"], "argument --lr: invalid non-negative number value: '-1'"),
    (["train", "mlp", "--lr", "nan"], "argument --lr: invalid non-negative number value: 'nan'"),
    (["train", "mlp", "--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
    (["train", "mlp", "--backend", "jax"], "argument --backend: invalid choice: 'jax'"),
    (["train", "mlp", "--batch-size", "x"], "argument --batch-size: invalid positive integer value: 'x'"),
    (["train", "mlp", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["show"], "the following arguments are required: FILE"),
    (["show", "f.sg", "--format", "gif"], "argument --format: invalid choice: 'gif'"),
    (["bench", "--systems", "matlab"], "argument --systems: invalid choice: 'matlab'"),
])
def test_bad_arguments_are_one_line_errors(arguments, fragment, capsys):
    status = main(arguments)
    assert_one_line_error(status, capsys.readouterr().err, fragment, "--help", code=2)


def test_bad_arguments_from_the_module_entry_point_have_no_traceback(tmp_path):
    result = run_cli(["train", "mlp", "--epochs", "-3"], tmp_path)
    assert_one_line_error(result.returncode, result.stderr, "--epochs", code=2)
    result = run_cli(["show", "missing.sg"], tmp_path)
    assert_one_line_error(result.returncode, result.stderr, "missing.sg: no such file", code=1)


def test_missing_mnist_is_one_line(tmp_path, monkeypatch, capsys):
    from symgraph import datasets

    monkeypatch.delenv("SYMGRAPH_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", ("http://127.0.0.1:9/",))  # the discard port: nothing answers
    assert main(["train", "mlp", "--dataset", "mnist", "--data-dir", str(tmp_path)]) == 1
    assert_one_line_error(1, capsys.readouterr().err, "MNIST train files not found",
                          "Or run with --dataset digits (no download needed).")


# -- show -----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_files(tmp_path_factory):
    """A trained MLP's graph file (64 digits, one epoch) and the notes' f = (x + y) z as a graph file."""
    directory = tmp_path_factory.mktemp("show")
    before = sg.get_num_threads()
    assert main(["train", "mlp", *QUICK, "--epochs", "1", "--train-limit", "64",
                 "--save", str(directory / "mlp.sg")]) == 0
    sg.set_num_threads(before)
    x, y, z = (sg.placeholder((), "float64", name=n) for n in "xyz")
    sg.save(directory / "f.sg", sg.mul(x + y, z, name="f"))
    return directory


def test_show_prints_a_graph_as_a_tree_as_math_and_as_dot(saved_files, capsys):
    path = str(saved_files / "mlp.sg")
    assert main(["show", path]) == 0
    tree = capsys.readouterr().out
    assert tree == sg.debugprint(list(sg.load(path)[1]), file=io.StringIO())
    assert "variable [id H] 'fc1/W' (64, 500) float32 at models.py:" in tree  # sites: the model's lines
    assert main(["show", path, "--format", "math"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "loss = mean(sparse_softmax_cross_entropy(out0, labels))"
    assert main(["show", path, "--format", "dot", "-o", str(saved_files / "mlp.dot")]) == 0
    assert capsys.readouterr().out == f"wrote {saved_files / 'mlp.dot'}\n"
    assert (saved_files / "mlp.dot").read_text().startswith("digraph")


def test_show_gradients_of_the_cost(saved_files, capsys):
    f = str(saved_files / "f.sg")
    for name, expected in (("x", "z"), ("y", "z"), ("z", "x + y")):  # d((x + y) z): the notes' example
        assert main(["show", f, "--grad", name, "--optimize", "--format", "latex"]) == 0
        assert capsys.readouterr().out == expected + "\n"
    assert main(["show", f, "--format", "latex"]) == 0
    assert capsys.readouterr().out == "z \\left(x + y\\right)\n"
    mlp = str(saved_files / "mlp.sg")
    assert main(["show", mlp, "--grad", "fc2/b", "--optimize", "--format", "math"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("sum(") and "(softmax(t1) - one_hot(labels, 10)), axis=0)" in last  # delta2 summed
    assert main(["show", mlp, "--grad", "fc3/W"]) == 1
    assert_one_line_error(1, capsys.readouterr().err, "--grad fc3/W: ", "no variable or placeholder of that name",
                          "fc1/W, fc1/b, fc2/W, fc2/b, images, labels")
    assert main(["show", mlp, "--format", "latex"]) == 1  # softmax cross-entropy has no sympy form
    assert_one_line_error(1, capsys.readouterr().err, "sg.latex: sympy cannot express")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed (apt install "
                                                          "graphviz): svg and png need it")
def test_show_draws_svg_and_png(saved_files, capsys):
    path = str(saved_files / "mlp.sg")
    assert main(["show", path, "--grad", "fc1/W", "--format", "svg"]) == 0
    assert capsys.readouterr().out == f"wrote {saved_files / 'mlp.svg'}\n"
    assert (saved_files / "mlp.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert main(["show", path, "--format", "png", "-o", str(saved_files / "picture.png")]) == 0
    assert (saved_files / "picture.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert main(["show", path, "--format", "png", "-o", str(saved_files / "picture.svg")]) == 1
    assert_one_line_error(1, capsys.readouterr().err, "--format png writes a .png file")


def test_show_without_graphviz_says_how_to_install_it(saved_files, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    result = subprocess.run([sys.executable, "-m", "symgraph", "show", str(saved_files / "mlp.sg"), "--format",
                             "svg"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PATH": str(empty), "PYTHONPATH": str(ROOT)})
    assert_one_line_error(result.returncode, result.stderr, "--format svg needs Graphviz's dot program",
                          "apt install graphviz", code=1)


def test_show_refuses_corrupt_and_foreign_files_in_one_line(saved_files, tmp_path, capsys):
    good = (saved_files / "mlp.sg").read_bytes()
    cases = {"garbage.sg": b"not a safetensors file at all",
             "truncated.sg": good[:len(good) // 2],
             "flipped.sg": good[:8] + b"[" + good[9:],  # the JSON header no longer parses
             "empty.sg": b""}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        assert main(["show", str(tmp_path / name)]) == 1
        assert_one_line_error(1, capsys.readouterr().err, str(tmp_path / name))
    assert main(["show", str(tmp_path)]) == 1  # a directory
    assert_one_line_error(1, capsys.readouterr().err, "no such file")


# -- bench ----------------------------------------------------------------------------------------------------------

def test_bench_runs_one_tiny_measurement(tmp_path):
    result = run_cli(["bench", "--workloads", "mlp32", "--systems", "symgraph-numpy", "--rounds", "1", "--steps", "2",
                      "--threads", "1"], tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("float32 GEMM peak (1024^3, NumPy's BLAS, 1 threads): ")
    row = next(line for line in lines if line.startswith("mlp32"))
    assert row.split()[1] == "symgraph-numpy" and float(row.split()[2]) > 0  # ms per step
    header = next(line for line in lines if line.startswith("workload"))
    assert header.split()[-2:] == ["step", "MB"]
    assert 0 < float(row.split()[-1]) < float(row.split()[-2])  # the steps' own memory, within the process's peak
    assert "round 1 of 1 done" in result.stderr


def test_bench_measures_numbas_floor_for_a_warm_first_call(tmp_path):
    """The floor the benchmark prints beside the warm first calls: a new process loading one cached Numba function
    (the second process finds what the first compiled)."""
    from symgraph.benchmarking import run_worker

    compiled = run_worker("numba-floor", "elementwise", 1, 1, str(tmp_path))
    assert "error" not in compiled, compiled
    (entry,) = (tmp_path / "__pycache__").glob("numba_floor.doubled-*.nbc")  # Numba's cache of the function
    written = entry.stat().st_mtime_ns
    loaded = run_worker("numba-floor", "elementwise", 1, 1, str(tmp_path))
    assert "error" not in loaded and loaded["first_call_s"] > 0, loaded
    assert entry.stat().st_mtime_ns == written  # loaded, not compiled again
