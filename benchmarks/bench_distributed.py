"""Data-parallel training throughput: images/sec of the MLP (784-500-10) and the lecture CNN for 1 and 2 processes
(one thread each), the allreduce time per step, the scaling efficiency, and the cost model's predictions for
larger jobs from these measurements.

Run: python benchmarks/bench_distributed.py [--backend numba] (it starts ``mpiexec -n 1`` and ``-n 2`` workers
itself; needs the mpi extra). The data is random MNIST-shaped images (throughput does not depend on the values); the
global batch is --batch-size (the examples' 64), split across the processes. Prints figures; asserts nothing
(timings on shared machines are noisy).

Cost model (README, "Scaling out"): a step on N processes takes T_compute / N + T_allreduce(N), where T_compute is
one process's time for the global batch and a ring allreduce of S gradient bytes takes
2 (N - 1) alpha + 2 (N - 1) / N * S / bandwidth (each process sends and receives 2 (N - 1) / N of the bytes);
the efficiency is T_compute / (N * step time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(HERE)
LATENCY = {10: 10e-6, 100: 2e-6}  # seconds per message: Ethernet with TCP (10 Gbit/s) vs an RDMA fabric (100)


def worker(args) -> None:
    """One process of the job: build the example's model data-parallel, time an epoch and the allreduce alone."""
    sys.path.insert(0, os.path.join(REPOSITORY, "examples"))
    import symgraph as sg
    from symgraph import distributed

    sg.set_num_threads(1)
    comm = distributed.world()
    if args.model == "mlp":
        import mlp_mnist

        step, _, params = mlp_mnist.build((28, 28), sg.relu, 0.1, 0, args.backend, comm)
    else:
        import cnn_mnist

        step, _, params = cnn_mnist.build((28, 28), 0.05, 0.9, 0, args.backend, comm)
    distributed.broadcast_variables(params, comm)
    rng = np.random.default_rng(0)
    images = rng.random((args.examples, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, args.examples)
    step.epoch([images[:args.batch_size], labels[:args.batch_size]], args.batch_size, rng=0, shard=comm)  # compiles
    comm.Barrier()
    started = time.perf_counter()
    step.epoch([images, labels], args.batch_size, rng=1, shard=comm)
    comm.Barrier()
    seconds = time.perf_counter() - started
    values = sum(p.value.size for p in params) + 1  # the packed gradients and the example count
    buffer = np.zeros(values, np.float32)
    comm.Barrier()
    started = time.perf_counter()
    for _ in range(args.repeats):
        distributed.allreduce_sum(comm, buffer)
    allreduce = (time.perf_counter() - started) / args.repeats if comm.Get_size() > 1 else 0.0
    if comm.Get_rank() == 0:
        steps = -(-args.examples // args.batch_size)
        print(json.dumps(dict(model=args.model, processes=comm.Get_size(), seconds=seconds, steps=steps,
                              images_per_second=args.examples / seconds, allreduce_seconds=allreduce,
                              gradient_bytes=4 * values)), flush=True)


def run(model: str, processes: int, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([REPOSITORY, os.environ.get("PYTHONPATH", "")]))
    examples = args.mlp_examples if model == "mlp" else args.cnn_examples
    command = ["mpiexec", "-n", str(processes), sys.executable, os.path.abspath(__file__), "--worker", "--model", model,
               "--backend", args.backend, "--examples", str(examples), "--batch-size", str(args.batch_size),
               "--repeats", str(args.repeats)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def predicted_efficiency(compute_seconds: float, gradient_bytes: int, processes: int, gbits: int) -> float:
    """The cost model's efficiency for a step whose global batch takes ``compute_seconds`` on one process."""
    ring = 2 * (processes - 1) * LATENCY[gbits] + 2 * (processes - 1) / processes * gradient_bytes * 8 / (gbits * 1e9)
    return compute_seconds / (processes * (compute_seconds / processes + ring))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp", help=argparse.SUPPRESS)
    parser.add_argument("--examples", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    parser.add_argument("--mlp-examples", type=int, default=19200, help="images per timed MLP epoch")
    parser.add_argument("--cnn-examples", type=int, default=1920, help="images per timed CNN epoch")
    parser.add_argument("--repeats", type=int, default=50, help="allreduces timed alone")
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    results = {(model, n): run(model, n, args) for model in ("mlp", "cnn") for n in (1, 2)}
    print(f"backend {args.backend}, global batch {args.batch_size}, one thread per process\n")
    print("| model | gradient MB | processes | images/s | ms/step | allreduce ms/step | efficiency |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (model, n), r in results.items():
        one = results[(model, 1)]
        efficiency = r["images_per_second"] / (n * one["images_per_second"])
        allreduce = f"{r['allreduce_seconds'] * 1e3:.2f}" if n > 1 else "-"
        print(f"| {model} | {r['gradient_bytes'] / 1e6:.2f} | {n} | {r['images_per_second']:.0f} | "
              f"{r['seconds'] / r['steps'] * 1e3:.2f} | {allreduce} | {efficiency:.0%} |")
    print("\nPredicted efficiency (compute per global batch of 64 measured on 1 process; weak scaling: 64 images per "
          "process, global batch 64 N):")
    print("| model | network | N = 8 | N = 64 | N = 512 | N = 8, global batch 64 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for model in ("mlp", "cnn"):
        one = results[(model, 1)]
        per_batch = one["seconds"] / one["steps"]
        for gbits in (10, 100):
            weak = [predicted_efficiency(per_batch * n, one["gradient_bytes"], n, gbits) for n in (8, 64, 512)]
            strong = predicted_efficiency(per_batch, one["gradient_bytes"], 8, gbits)
            print(f"| {model} | {gbits} Gbit/s | " + " | ".join(f"{e:.0%}" for e in weak) + f" | {strong:.0%} |")
    two = results[("mlp", 2)]
    print(f"\nMeasured allreduce on this machine (shared memory, 2 processes): {two['allreduce_seconds'] * 1e3:.3f} ms "
          f"for {two['gradient_bytes'] / 1e6:.2f} MB = {two['gradient_bytes'] / two['allreduce_seconds'] / 1e9:.2f} "
          f"GB/s effective")


if __name__ == "__main__":
    main()
