"""How long sg.grad takes on large graphs, and how the gradient graph's size scales with the forward graph's.

Prints figures; asserts nothing (timings on shared machines are noisy). Run: python benchmarks/bench_grad.py
"""

import argparse
import time

import numpy as np

import symgraph as sg
from symgraph.graph import toposort


def mlp_chain(layers: int, width: int = 8):
    """A deep MLP-like chain: matmul, bias add and an activation per layer, then a mean cost."""
    x = sg.placeholder((None, width), "float32", name="x")
    h, params = x, []
    activations = [sg.tanh, sg.sigmoid, sg.relu, sg.softplus]
    for k in range(layers):
        w = sg.variable(np.full((width, width), 0.01, np.float32), name=f"w{k}")
        b = sg.variable(np.zeros(width, np.float32), name=f"b{k}")
        params += [w, b]
        h = activations[k % 4](h @ w + b)
    return sg.mean(sg.square(h)), params


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'layers':>7} {'forward nodes':>14} {'gradient nodes':>15} {'sg.grad seconds':>16} {'us/node':>8}")
    for layers in (500, 1000, 2000, 2500):
        cost, params = mlp_chain(layers)
        forward = len(toposort([cost]))
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            grads = sg.grad(cost, params)
            best = min(best, time.perf_counter() - start)
        total = len(toposort(grads))
        print(f"{layers:>7} {forward:>14} {total:>15} {best:>16.3f} {best / forward * 1e6:>8.1f}")


if __name__ == "__main__":
    main()
