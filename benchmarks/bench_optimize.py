"""How long sg.optimize takes as graphs grow (the goal: about a second or less for 10,000 nodes, linear scaling).

Builds the training graph of a deep MLP chain (forward, gradients and SGD updates) and optimizes it with the default
pipeline. Prints figures; asserts nothing. Run: python benchmarks/bench_optimize.py
"""

import argparse
import time

import numpy as np

import symgraph as sg
from symgraph.graph import toposort


def training_graph(layers: int, width: int = 8):
    x = sg.placeholder((None, width), name="x")
    h = x
    for k in range(layers):
        w = sg.variable(np.full((width, width), 0.01, np.float32), name=f"w{k}")
        h = sg.tanh(h @ w + 0.0) * 1.0  # the identities give the simplifier work
    cost = sg.mean(sg.square(h))
    updates = sg.optim.SGD(0.1).updates(cost, sg.trainable_variables(cost))
    return [cost] + list(updates.values())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'layers':>7} {'nodes before':>13} {'nodes after':>12} {'seconds':>8} {'us/node':>8}")
    for layers in (125, 250, 500, 1000):
        outputs = training_graph(layers)
        before = len(toposort(outputs))
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            optimized, report = sg.optimize(outputs)
            best = min(best, time.perf_counter() - start)
        print(f"{layers:>7} {before:>13} {report.nodes_after:>12} {best:>8.3f} {best / before * 1e6:>8.1f}")


if __name__ == "__main__":
    main()
