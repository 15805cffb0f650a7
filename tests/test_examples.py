"""Every example runs end to end (in a short mode where it has one) and reaches its stated result."""

import importlib.util
import pathlib
import subprocess
import sys

import numpy as np

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


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


def test_examples_have_help():
    for script in sorted(EXAMPLES.glob("*.py")):
        result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and "usage" in result.stdout, (script, result.stderr)
