"""``import symgraph`` leaves its heavy dependencies unimported: they load when a graph first needs them."""

import ast
import os
import subprocess
import sys

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("sympy", "scipy.special", "numba", "networkx")


def heavy_modules_after(code: str) -> list[str]:
    """Which of HEAVY a fresh interpreter has imported after running ``code`` (from the repository's root)."""
    listing = f"import sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", f"{code}\n{listing}"], cwd=REPOSITORY, capture_output=True,
                            text=True, check=True)
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_import_symgraph_imports_no_heavy_dependency():
    assert heavy_modules_after("import symgraph") == []


def test_scipy_special_is_imported_when_an_op_needing_it_is_evaluated():
    assert heavy_modules_after("import numpy as np, symgraph as sg\n"
                               "print(sg.evaluate(sg.relu(sg.constant(np.zeros(3)))))") == []
    assert heavy_modules_after("import numpy as np, symgraph as sg\n"
                               "print(sg.evaluate(sg.sigmoid(sg.constant(np.zeros(3)))))") == ["scipy.special"]


def test_sympy_is_imported_only_for_a_graph_with_an_elementwise_region():
    without_region = ("import numpy as np, symgraph as sg\n"
                      "x = sg.placeholder((None, 8), name='x'); W = sg.variable(np.zeros((8, 2), np.float32))\n"
                      "y = sg.mean(sg.relu(x @ W))\n"
                      "f = sg.function([x], y, updates={W: W - 0.1 * sg.grad(y, W)}, backend='numpy')\n"
                      "print(f(np.ones((4, 8), np.float32)))")
    assert heavy_modules_after(without_region) == []
    with_region = ("import symgraph as sg\n"
                   "x, y, z = (sg.placeholder((3,), 'float64', name=n) for n in 'xyz')\n"
                   "new, report = sg.optimize((x * y + x * z) - x * (y + z), passes=['simplify'])\n"
                   "assert report.rule_counts['sympy_region'] == 1, report")
    assert heavy_modules_after(with_region) == ["sympy"]
