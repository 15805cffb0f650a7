"""Whole training epochs, progress bar included: symgraph's ``step.epoch`` against a PyTorch eager loop.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_epoch.py --threads 2

One epoch of 60,000 MNIST-shaped images (random pixels and labels, the same for every system) of the lecture MLP at
batch 32 and of the CNN at batch 64, the models and initial weights of ``bench_step.py``. Each system runs in its own
process pinned to ``--threads`` cores, draws a tqdm bar (to a null stream, so the terminal stays readable; the bar's
work is still done), shuffles with its own generator and trains one epoch after a warm-up epoch on a tenth of the
data (compilation is not timed). Prints the wall time per epoch and the ratio to symgraph's. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import bench_step

HERE = os.path.abspath(__file__)
SYSTEMS = ("symgraph-numba", "torch")
WORKLOADS = {"mlp": 32, "cnn": 64}


def data(workload: str, images: int):
    import numpy as np

    rng = np.random.default_rng(2)
    shape = (images, 784) if workload == "mlp" else (images, 1, 28, 28)
    return rng.random(shape, dtype=np.float32), rng.integers(0, 10, images)


def symgraph_epoch(workload: str, threads: int):
    """The step of bench_step (same graph), run an epoch at a time by ``Function.epoch``."""
    import symgraph as sg

    sg.set_num_threads(threads)
    step, _ = bench_step.symgraph_function(f"{workload}{WORKLOADS[workload]}", "numba")

    def epoch(images, labels, rng, bar):
        return step.epoch([images, labels], WORKLOADS[workload], rng, progress=bar)
    return epoch


def torch_epoch(workload: str, threads: int):
    """bench_step's PyTorch eager model, over shuffled minibatches."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    w = {k: torch.tensor(v, requires_grad=True) for k, v in bench_step.initial_weights(f"{workload}1").items()}
    params = list(w.values())

    def forward(x):
        if workload == "mlp":
            return F.relu(x @ w["W1"] + w["b1"]) @ w["W2"] + w["b2"]
        h = F.max_pool2d(F.relu(F.conv2d(x, w["K1"], w["c1"], padding=2)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w["K2"], w["c2"], padding=2)), 2)
        return F.relu(h.reshape(len(x), -1) @ w["W3"] + w["b3"]) @ w["W4"] + w["b4"]

    def epoch(images, labels, rng, bar):
        x_all, y_all = torch.from_numpy(images), torch.from_numpy(labels)
        order = torch.from_numpy(rng.permutation(len(labels)))
        losses = []
        batch = WORKLOADS[workload]
        for start in range(0, len(labels), batch):
            chosen = order[start:start + batch]
            loss = F.cross_entropy(forward(x_all[chosen]), y_all[chosen])
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p.sub_(bench_step.LR * g)
            losses.append(loss.item())
            bar.update(1)
        return np.array(losses)
    return epoch


def worker(system: str, workload: str, threads: int, images: int) -> dict:
    import numpy as np
    from tqdm import tqdm

    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:threads]))
    epoch = symgraph_epoch(workload, threads) if system.startswith("symgraph") else torch_epoch(workload, threads)
    x, y = data(workload, images)
    steps = -(-images // WORKLOADS[workload])
    with open(os.devnull, "w") as null:
        rng = np.random.default_rng(0)
        warm = max(WORKLOADS[workload], images // 10)
        with tqdm(total=-(-warm // WORKLOADS[workload]), file=null) as bar:
            epoch(x[:warm], y[:warm], rng, bar)
        started = time.perf_counter()
        with tqdm(total=steps, file=null, desc="epoch") as bar:
            losses = epoch(x, y, rng, bar)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "steps": steps, "mean_loss": float(np.mean(losses))}


def run_worker(system, workload, threads, images):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update({name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                "NUMBA_NUM_THREADS", "SYMGRAPH_NUM_THREADS")})
    command = [sys.executable, HERE, "--worker", system, workload, "--threads", str(threads), "--images", str(images)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=7200)
    if result.returncode != 0:
        return {"error": ((result.stderr.strip().splitlines() or ["failed"])[-1])[:100]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="cores and threads every system may use")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of all systems, interleaved")
    parser.add_argument("--images", type=int, default=60_000, help="images per epoch")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--worker", nargs=2, metavar=("SYSTEM", "WORKLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, args.threads, args.images)))
        return None
    systems = [s for s in SYSTEMS if bench_step.available(s)]
    results = {(w, s): [] for w in args.workloads for s in systems}
    for _ in range(args.rounds):
        for workload in args.workloads:
            for system in systems:
                results[(workload, system)].append(run_worker(system, workload, args.threads, args.images))
    print(f"\none epoch of {args.images} images, tqdm bar included, {args.threads} threads: seconds (median of "
          f"{args.rounds} rounds), ratio to symgraph-numba, ms per step")
    for workload in args.workloads:
        runs = {s: [r["seconds"] for r in results[(workload, s)] if "seconds" in r] for s in systems}
        base = statistics.median(runs["symgraph-numba"]) if runs.get("symgraph-numba") else None
        for system in systems:
            if not runs[system]:
                print(f"{workload} b{WORKLOADS[workload]:<4} {system:<15} n/a: {results[(workload, system)][0]}")
                continue
            seconds = statistics.median(runs[system])
            steps = results[(workload, system)][0]["steps"]
            ratio = f"{seconds / base:6.2f}" if base else ""
            print(f"{workload} b{WORKLOADS[workload]:<4} {system:<15} {seconds:8.2f} s {ratio:>6} "
                  f"{1e3 * seconds / steps:8.2f} ms/step")
    return results


if __name__ == "__main__":
    main()
