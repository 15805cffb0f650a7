"""One training step (forward, backward, SGD update) of the lecture's MLP and CNN, and an elementwise graph with its
gradient, on symgraph's two backends and on the peers that are installed, side by side in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_step.py --threads 2

The driver lives in the package, ``symgraph/benchmarking.py`` (its docstring says what is measured and how), so that
``symgraph bench`` runs it from an installed symgraph; this script runs the same driver with the same options on
the checkout it belongs to. Prints figures; asserts nothing.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's symgraph

from symgraph.benchmarking import (  # noqa: E402  (re-exported for bench_epoch.py and other scripts)
    LR, SYSTEMS, WORKLOADS, available, data_of, flops, initial_weights, main, symgraph_function, symgraph_step,
)

__all__ = ["LR", "SYSTEMS", "WORKLOADS", "available", "data_of", "flops", "initial_weights", "main",
           "symgraph_function", "symgraph_step"]

if __name__ == "__main__":
    main()
