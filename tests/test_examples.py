"""Every example runs end to end (in a short mode where it has one) and reaches its stated result."""

import argparse
import importlib.util
import os
import pathlib
import struct
import subprocess
import sys
import types

import numpy as np
import pytest
import symgraph as sg

from symgraph import datasets
from symgraph.datasets import find_mnist

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
BENCHMARKS = EXAMPLES.parent / "benchmarks"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_xor_hand_set_weights_and_training(capsys):
    outputs, probabilities = load_example("xor").main(["--steps", "600", "--log-every", "300"])
    np.testing.assert_array_equal(outputs, [0, 1, 1, 0])
    np.testing.assert_array_equal(probabilities > 0.5, [False, True, True, False])
    printed = capsys.readouterr().out
    assert "loss" in printed and "accuracy: 100%" in printed


def test_optimize_input_descends_on_the_image(capsys):
    first_loss, last_loss = load_example("optimize_input").main(["--steps", "40"])
    assert last_loss < 0.8 * first_loss  # measured 1.571 -> 1.065
    assert "loss fell from" in capsys.readouterr().out


def test_examples_have_help_showing_every_default():
    scripts = [s for s in sorted(EXAMPLES.glob("*.py")) if s.name != "common.py"]  # common.py: shared, not a script
    assert len(scripts) >= 5
    for script in scripts + [BENCHMARKS / "mnist_accuracy.py"]:
        result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "COLUMNS": "200"})
        assert result.returncode == 0 and "usage" in result.stdout, (script, result.stderr)
        options = result.stdout.split("options:")[1]
        option_lines = [line for line in options.splitlines() if line.startswith("  -") and "--help" not in line]
        assert option_lines and options.count("(default: ") == len(option_lines), (script, options)


# ---------------------------------------------------------------- training examples, short mode

sys.path.insert(0, str(EXAMPLES))  # the training examples import their shared `common` module


@pytest.fixture(scope="module")
def mnist_dir():
    """$SYMGRAPH_DATA/mnist when it holds MNIST (CI sets SYMGRAPH_DATA to shared/data); skip otherwise."""
    root = os.environ.get("SYMGRAPH_DATA")
    if not root:
        pytest.skip("SYMGRAPH_DATA is not set (CI sets it to shared/data)")
    directory = find_mnist(pathlib.Path(root) / "mnist")
    if directory is None or directory != pathlib.Path(root) / "mnist":
        pytest.skip(f"no MNIST files in {root}/mnist")
    return str(directory)


def run_training(name, argv):
    history, test_accuracy = load_example(name).main(argv + ["--no-progress"])
    losses = [loss for _, loss, _ in history]
    return losses, test_accuracy


def test_mlp_on_an_mnist_subset_learns(mnist_dir, capsys):
    losses, test_accuracy = run_training("mlp_mnist", ["--dataset", "mnist", "--data-dir", mnist_dir, "--epochs", "3",
                                                       "--train-limit", "3000", "--test-limit", "1000"])
    assert losses[0] > losses[1] > losses[2]
    assert test_accuracy > 0.78  # measured 82.2% (a 3,000-image subset; the full 5-epoch run is marked slow)
    printed = capsys.readouterr().out
    assert "dataset: MNIST, 3000 training and 1000 test images" in printed
    assert "test accuracy" in printed and "training examples/sec" in printed


def test_mlp_sigmoid_on_digits_learns():
    losses, test_accuracy = run_training("mlp_mnist", ["--dataset", "digits", "--activation", "sigmoid",
                                                       "--lr", "0.5", "--epochs", "10"])
    assert losses[-1] < 0.5 * losses[0]
    assert test_accuracy > 0.82  # measured 86.9%


def test_cnn_on_an_mnist_subset_learns(mnist_dir):
    losses, test_accuracy = run_training("cnn_mnist", ["--dataset", "mnist", "--data-dir", mnist_dir,
                                                       "--train-limit", "4000", "--test-limit", "500"])
    assert losses[0] < np.log(10)  # the mean over the epoch is already below chance level
    assert test_accuracy > 0.85  # measured 92.0% after one epoch on 4,000 images


@pytest.mark.parametrize("name,argv", [("mlp_mnist", ["--epochs", "3"]),
                                       ("cnn_mnist", ["--epochs", "1", "--train-limit", "640", "--test-limit", "100"]),
                                       ("custom_op", ["--epochs", "2"])])
def test_training_on_the_numba_backend_follows_the_numpy_backend(name, argv, tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAPH_CACHE_DIR", str(tmp_path))
    argv = ["--dataset", "digits"] + argv
    numba_losses, numba_accuracy = run_training(name, argv + ["--backend", "numba"])
    numpy_losses, numpy_accuracy = run_training(name, argv + ["--backend", "numpy"])
    np.testing.assert_allclose(numba_losses, numpy_losses, rtol=1e-4)
    assert numba_accuracy == pytest.approx(numpy_accuracy, abs=0.01)


def test_custom_op_example_trains_with_its_own_activation_on_numba(capsys):
    losses, test_accuracy = run_training("custom_op", ["--dataset", "digits", "--epochs", "3"])
    assert losses[-1] < 0.3 * losses[0]  # measured 1.129 -> 0.178
    assert test_accuracy > 0.85  # measured 91.4%
    printed = capsys.readouterr().out
    assert "mish's gradient rule matches finite differences" in printed
    assert "custom ops run in Python: none" in printed  # the activation is compiled, not called back


def test_logistic_regression_on_digits_learns():
    losses, test_accuracy = run_training("logistic_regression", ["--dataset", "digits", "--epochs", "10"])
    assert all(a > b for a, b in zip(losses, losses[1:]))
    assert test_accuracy > 0.9  # measured 93.1%


def test_auto_dataset_falls_back_to_digits_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SYMGRAPH_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # an empty cache
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", ("http://127.0.0.1:9/",))  # the discard port: nothing answers
    common = load_example("common")
    parser = argparse.ArgumentParser()
    common.add_training_arguments(parser, epochs=1, lr=0.1)
    train_x, train_y, test_x, test_y, name = common.load_dataset(parser.parse_args(["--dataset", "auto"]))
    assert name.startswith("digits") and train_x.shape == (1437, 8, 8) and test_x.shape == (360, 8, 8)
    printed = capsys.readouterr().out
    assert "dataset: digits" in printed and "MNIST is not on disk and could not be downloaded" in printed
    assert list(tmp_path.iterdir()) == []  # no empty ~/.cache/symgraph/mnist left behind


def test_missing_mnist_exits_with_the_places_searched(tmp_path, monkeypatch):
    monkeypatch.delenv("SYMGRAPH_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", ("http://127.0.0.1:9/",))
    common = load_example("common")
    parser = argparse.ArgumentParser()
    common.add_training_arguments(parser, epochs=1, lr=0.1)
    with pytest.raises(SystemExit) as caught:
        common.load_dataset(parser.parse_args(["--dataset", "mnist"]))
    message = str(caught.value.code)
    assert "MNIST train files not found" in message and str(tmp_path) in message
    assert message.endswith("Or run with --dataset digits (no download needed).")


def test_auto_dataset_prefers_local_mnist(mnist_dir, capsys):
    common = load_example("common")
    parser = argparse.ArgumentParser()
    common.add_training_arguments(parser, epochs=1, lr=0.1)
    args = parser.parse_args(["--dataset", "auto", "--data-dir", mnist_dir, "--train-limit", "10", "--test-limit", "5"])
    train_x, train_y, test_x, test_y, name = common.load_dataset(args)
    assert name == "MNIST" and train_x.shape == (10, 28, 28) and test_y.shape == (5,)
    assert "dataset: MNIST" in capsys.readouterr().out


def test_examples_per_second_count_training_steps_only(monkeypatch, capsys):
    """A fake clock: the first step takes 5 s (it compiles), the others 1 s, each prediction 1000 s: the first step
    is reported on its own, and the 90 examples of the 9 steps after it give 10/s."""
    common = load_example("common")
    from symgraph.cli import train as training_loop  # the loop the examples share with `symgraph train`

    clock, steps = [0.0], [0]
    monkeypatch.setattr(training_loop, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))

    def step(images, labels):
        steps[0] += 1
        clock[0] += 5.0 if steps[0] == 1 else 1.0
        return np.float32(0.5)

    def predict(images):
        clock[0] += 1000.0
        return np.zeros((len(images), 10), np.float32)

    rng = np.random.default_rng(0)
    train_data = rng.standard_normal((50, 2, 2)).astype(np.float32), rng.integers(0, 10, 50)
    common.train(step, predict, train_data, train_data, epochs=2, batch_size=10, seed=0, progress=False)
    assert capsys.readouterr().out.splitlines()[-1].endswith("; first step 5.00 s, then 10 training examples/sec")
    # one step in all: its rate is all there is
    common.train(step, predict, (train_data[0][:10], train_data[1][:10]), train_data, epochs=1, batch_size=10,
                 seed=0, progress=False)
    assert capsys.readouterr().out.splitlines()[-1].endswith("; 10 training examples/sec")


def write_synthetic_mnist(directory: pathlib.Path, train_count: int, test_count: int, seed: int = 0) -> None:
    """Both splits as raw IDX files of random pixels and labels (the format load_mnist reads)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", train_count), ("test", test_count)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        for base, array in zip(datasets.MNIST_FILES[split], (images, labels)):
            header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            (directory / base).write_bytes(header + array.tobytes())


def test_accuracy_benchmark_runs_without_torch_warnings(tmp_path):
    """benchmarks/mnist_accuracy.py end to end for both models on a tiny synthetic MNIST, warnings made errors (in a
    fresh process: torch reports its non-writable-array warning once per process)."""
    pytest.importorskip("torch")
    write_synthetic_mnist(tmp_path / "mnist", train_count=96, test_count=40)
    data_dir = str(tmp_path / "mnist")
    runs = "".join(f"mnist_accuracy.main(['--model', '{model}', '--epochs', '1', '--data-dir', {data_dir!r}]);"
                   for model in ("mlp", "cnn"))
    code = f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); import mnist_accuracy; {runs}"
    result = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True, text=True,
                            timeout=600, env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "not writable" not in result.stderr and "Warning" not in result.stderr, result.stderr
    assert result.stdout.count("epoch 1: test accuracy symgraph") == 2, result.stdout


# ---------------------------------------------------------------- full runs (python -m pytest -m slow)

@pytest.mark.slow
def test_mlp_full_mnist_reaches_the_reference_accuracy(mnist_dir):
    """PyTorch on this recipe: 96.9% after 5 epochs (benchmarks/mnist_accuracy.py prints both side by side)."""
    _, test_accuracy = run_training("mlp_mnist", ["--dataset", "mnist", "--data-dir", mnist_dir, "--epochs", "5"])
    assert test_accuracy >= 0.966


@pytest.mark.slow
def test_cnn_full_mnist_reaches_the_reference_accuracy(mnist_dir):
    """PyTorch on this recipe: 98.8% after 1 epoch in the issue's run; from the same initial weights and batches as
    symgraph, PyTorch 2.13.0 gave 97.90 / 98.67 / 98.47 / 98.79% for seeds 0-3 and symgraph 98.42 / 98.60 / 98.60 /
    98.87% (benchmarks/mnist_accuracy.py). One epoch's accuracy varies by about a point with the seed, hence 98%."""
    _, test_accuracy = run_training("cnn_mnist", ["--dataset", "mnist", "--data-dir", mnist_dir, "--epochs", "1"])
    assert test_accuracy >= 0.98


def test_ci_installs_torch_for_the_cross_checks():
    """.ci/run installs the test-peers extra (the pinned CPU torch) before the README's test command, so the PyTorch
    cross-checks run in CI instead of skipping; under CI=true torch must therefore be importable."""
    import tomllib

    root = EXAMPLES.parent
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["test-peers"] == ["torch==2.13.0"] and "torch==2.13.0" in extras["peers"]
    script = (root / ".ci" / "run").read_text()
    readme_command = 'pip install -e ".[test]" && python -m pytest -q'
    assert readme_command in (root / "README.md").read_text()
    assert -1 < script.index('pip install --quiet -e ".[test-peers]"') < script.index(readme_command)
    if os.environ.get("CI") == "true":
        import torch

        assert torch.__version__.split("+")[0] == "2.13.0"


def test_inspect_gradients_prints_the_lecture_graphs_and_backprop(capsys, tmp_path):
    load_example("inspect_gradients").main(["--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "f, df/dx, df/dy, df/dz = [-12.0, -4.0, -4.0, 3.0]" in out  # the notes' (x + y) z example
    assert "after sg.optimize: df/dx = z, df/dy = z, df/dz = x + y" in out
    assert "df/dz  : x + y" in out and "f      : z \\left(x + y\\right)" in out
    assert "let d_z1 = where(z1 > 0.0, d_z2 @ W2.T, 0.0)\nd_W1 = x.T @ d_z1" in out  # reads as backprop
    assert "d cost / d W1 through matmul" in out
    assert "gradient/forward 1.013" in out
    if "no pictures" not in out:
        assert (tmp_path / "mlp_gradient.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
