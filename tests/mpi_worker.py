"""What tests/test_distributed.py runs under ``mpiexec -n 2 python tests/mpi_worker.py SCENARIO OUT [CASES]``.

Scenarios:
- ``train``: for each case of the JSON list CASES, build the model with a seed of its own per rank (so that only
  ``broadcast_variables`` can make them start equal), train it data-parallel for one epoch of global batches
  (``f.epoch(..., shard=comm)``), and write every rank's parameters to ``OUT.rank<r>.npz``.
- ``kill``: rank 1 kills itself (SIGKILL) in the middle of an epoch; ``stall``: rank 1 stops itself (SIGSTOP), so
  only the others' deadline can end the job; ``raise``: rank 1 raises an exception in the middle of an epoch.
- ``mismatch``: rank 1 builds a hidden layer of another width; broadcast_variables must refuse.
- ``save``: saving an allreduce over a communicator other than the world is refused; one over the world loads over
  the world of this job.

``build`` and ``data`` are also the test's single-process reference, so both sides build the same graphs.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's symgraph

import symgraph as sg  # noqa: E402

EXAMPLES, BATCH = 21, 8  # two full global batches and a last one of 5: uneven shards (3 and 2) at the end
IMAGE = (6, 6)


def data(dtype: str, count: int = EXAMPLES):
    rng = np.random.default_rng(7)
    return rng.normal(size=(count,) + IMAGE).astype(dtype), rng.integers(0, 5, size=count).astype(np.int64)


def optimizer(name: str):
    return {"sgd": lambda: sg.optim.SGD(0.1), "momentum": lambda: sg.optim.SGD(0.05, momentum=0.9),
            "adam": lambda: sg.optim.Adam(0.01)}[name]()


def build(model: str, dtype: str, optimizer_name: str, seed: int, backend: str, comm=None, hidden: int = 12):
    """(step, params): a small MLP or CNN's training step, data-parallel over ``comm`` when given."""
    sg.layers.reset_names()
    images = sg.placeholder((None,) + IMAGE, dtype, name="images")
    labels = sg.placeholder((None,), "int64", name="labels")
    if model == "mlp":
        x = sg.layers.dense(sg.reshape(images, (-1, IMAGE[0] * IMAGE[1])), hidden, activation=sg.tanh, name="fc1",
                            rng=seed)
    else:
        x = sg.expand_dims(images, 1)
        x = sg.nn.max_pool2d(sg.layers.conv2d(x, 3, 3, activation=sg.relu, name="conv1", rng=seed), 2)
        x = sg.layers.conv2d(x, 4, 3, activation=sg.tanh, name="conv2", rng=seed + 1)
        x = sg.reshape(x, (-1, 4 * 3 * 3))
    logits = sg.layers.dense(x, 5, name="out", rng=seed + 2)
    cost = sg.nn.softmax_cross_entropy(logits, labels)
    params = sg.trainable_variables(cost)
    updates = optimizer(optimizer_name).updates(cost, params, allreduce=comm)
    return sg.function([images, labels], cost, updates=updates, backend=backend), params


def train(out: str, cases: list, comm, distributed) -> None:
    results = {}
    for case in cases:
        step, params = build(case["model"], case["dtype"], case["optimizer"], seed=100 + comm.rank,
                             backend=case["backend"], comm=comm)
        distributed.broadcast_variables(params, comm)
        images, labels = data(case["dtype"])
        step.epoch([images, labels], BATCH, rng=3, shard=comm)
        for k, p in enumerate(params):
            results[f"{case['name']}/{k}"] = p.value
    np.savez(f"{out}.rank{comm.rank}.npz", **results)


def failing(scenario: str, comm, distributed) -> None:
    """An epoch of many small steps in which rank 1 fails after a few."""
    step, params = build("mlp", "float64", "sgd", seed=comm.rank, backend="numpy", comm=comm)
    distributed.broadcast_variables(params, comm)
    images, labels = data("float64", 4000)
    steps = 0

    def fail_at_the_third_update():
        nonlocal steps
        steps += 1
        if steps == 3 and comm.rank == 1:
            if scenario == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            elif scenario == "stall":
                os.kill(os.getpid(), signal.SIGSTOP)
            else:
                raise RuntimeError("rank 1 fails on purpose in the middle of the epoch")

    class Failing:
        def update(self, count):
            fail_at_the_third_update()

    step.epoch([images, labels], 2, rng=0, shard=comm, progress=Failing())  # updates every 20 steps
    print(f"rank {comm.rank}: the epoch ended although rank 1 failed", flush=True)


def saving(path: str, comm) -> None:
    """Saving an allreduce over a communicator of this rank alone is refused; one over the world, saved by rank 0,
    loads on every rank over the world of this job and sums across it."""
    x = sg.placeholder((3,), "float64", name="x")
    alone = comm.Split(comm.rank)
    try:
        sg.save(path + ".alone", sg.ops.collective.allreduce(x, alone), [x])
    except ValueError as error:
        print(f"rank {comm.rank}: {error}", flush=True)
    alone.Free()
    if comm.rank == 0:
        sg.save(path, sg.ops.collective.allreduce(x * 3.0, comm), [x])
    comm.Barrier()
    (loaded_x,), loaded, _ = sg.load(path)
    value = sg.evaluate(loaded, {loaded_x: np.arange(3.0) * comm.rank})
    print(f"rank {comm.rank}: loaded over the world: {value.tolist()}", flush=True)


def main(argv) -> None:
    scenario, out = argv[0], argv[1]
    from symgraph import distributed

    comm = distributed.world()
    if scenario == "train":
        train(out, json.loads(argv[2]), comm, distributed)
    elif scenario == "save":
        saving(out, comm)
    elif scenario == "mismatch":
        _, params = build("mlp", "float64", "sgd", seed=0, backend="numpy", comm=comm,
                          hidden=12 if comm.rank == 0 else 13)
        distributed.broadcast_variables(params, comm)
    else:
        distributed.set_timeout(float(argv[2]))
        failing(scenario, comm, distributed)


if __name__ == "__main__":
    main(sys.argv[1:])
