"""One training step (forward, backward, SGD update) of the lecture's MLP and CNN, and an elementwise graph with its
gradient, on symgraph's two backends and on the peers that are installed, side by side in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE symgraph bench --threads 2

(or ``python benchmarks/bench_step.py``, the same driver.)

Workloads (float32, same data and initial weights for every system): the MLP 784-500-10 (ReLU, softmax
cross-entropy) at batch 32, 128 and 512; the CNN of the notes (conv 32 5x5 same, ReLU, 2x2 max-pool, conv 64 5x5
same, ReLU, 2x2 max-pool, fc 1024 ReLU, fc 10) at batch 16 and 64; and sum(tanh(x*a + b) * sigmoid(x) + exp(-x*x))
with its gradient on 1,000,000 floats. Systems: symgraph numba, symgraph numpy, a hand-written NumPy backprop, and,
when installed (`pip install -e ".[bench]"`), PyTorch eager, jax.jit and PyTensor (mode="NUMBA").

Every measurement runs in a fresh process pinned to ``--threads`` cores with every library's threads set to that
number; systems are interleaved over ``--rounds`` rounds and the table shows medians. The first-call columns time
graph building, compilation and the first step: "cold" with an empty compilation cache, "warm" with the cache the
previous process left. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (set on these machines; they halve GEMM on AVX-512
CPUs) should be unset in this command alone, as above; the BLAS kernels in use are printed, and the machine's float32
GEMM peak is measured in the same run with the same kernel. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)
PACKAGE_ROOT = os.path.dirname(os.path.dirname(HERE))  # the directory holding this symgraph package
# A worker loads this file alone, not the symgraph package: a torch or JAX worker then imports no symgraph, and a
# symgraph worker's first-call time includes importing symgraph. It imports symgraph from PACKAGE_ROOT, so every
# worker measures the symgraph that the driver runs.
WORKER_CODE = ("import importlib.util, sys; sys.path.insert(0, {root!r}); "
               "spec = importlib.util.spec_from_file_location('symgraph_bench_worker', {here!r}); "
               "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
               "module.main(sys.argv[1:])")
SYSTEMS = ("symgraph-numba", "symgraph-numpy", "numpy", "torch", "jax", "pytensor")
WORKLOADS = ("mlp32", "mlp128", "mlp512", "cnn16", "cnn64", "elementwise")
LR = 0.01
ELEMENTS = 1_000_000
CNN_LAYERS = ((1, 32, 28), (32, 64, 14))  # (in channels, out channels, spatial size) of the two 5x5 convolutions


# -- workloads: data, initial weights, FLOP counts -------------------------------------------------------------------

def batch_of(workload: str) -> int:
    return int(workload[3:]) if workload.startswith(("mlp", "cnn")) else ELEMENTS


def initial_weights(workload: str):
    """PyTorch's default scheme (uniform +-1/sqrt(fan_in)), seeded: identical for every system."""
    import numpy as np

    rng = np.random.default_rng(0)

    def uniform(shape, fan_in):
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    if workload.startswith("mlp"):
        return {"W1": uniform((784, 500), 784), "b1": uniform((500,), 784), "W2": uniform((500, 10), 500),
                "b2": uniform((10,), 500)}
    if workload.startswith("cnn"):
        return {"K1": uniform((32, 1, 5, 5), 25), "c1": uniform((32,), 25), "K2": uniform((64, 32, 5, 5), 800),
                "c2": uniform((64,), 800), "W3": uniform((3136, 1024), 3136), "b3": uniform((1024,), 3136),
                "W4": uniform((1024, 10), 1024), "b4": uniform((10,), 1024)}
    return {}


def data_of(workload: str):
    import numpy as np

    rng = np.random.default_rng(1)
    batch = batch_of(workload)
    if workload.startswith("mlp"):
        return rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, batch)
    if workload.startswith("cnn"):
        return rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)
    return (rng.standard_normal(ELEMENTS).astype(np.float32),)


def flops(workload: str) -> float | None:
    """Multiply-adds x 2 of the step's products (forward, and backward without the data's gradient)."""
    batch = batch_of(workload)
    if workload.startswith("mlp"):
        return 2.0 * batch * (784 * 500 * 2 + 500 * 10 * 3)
    if workload.startswith("cnn"):
        total = 0.0
        for k, (c, o, size) in enumerate(CNN_LAYERS):
            conv = 2.0 * batch * size * size * o * c * 25
            total += conv * (2 if k == 0 else 3)  # forward, filter gradient, input gradient (not of the data)
        return total + 2.0 * batch * (3136 * 1024 * 3 + 1024 * 10 * 3)
    return None


# -- the systems: each builds ``step()`` running one training step on the workload ----------------------------------

def symgraph_step(workload, backend):
    return symgraph_steps(workload, backend)[0]


def symgraph_steps(workload, backend):
    """The step, and for the MLP and CNN (whose batch size is free) a step on the first example alone, which
    compiles everything the step runs while allocating next to nothing (None for the elementwise graph)."""
    f, data = symgraph_function(workload, backend)
    one_example = (lambda: f(*(d[:1] for d in data))) if workload != "elementwise" else None
    return (lambda: f(*data)), one_example


def symgraph_function(workload, backend):
    """The compiled training step (for elementwise: the value and gradient) and the arrays it takes."""
    import symgraph as sg

    weights = {name: sg.variable(value, name=name) for name, value in initial_weights(workload).items()}
    data = data_of(workload)
    if workload == "elementwise":
        x = sg.placeholder((ELEMENTS,), name="x")
        total = sg.sum(sg.tanh(x * 0.5 + 0.1) * sg.sigmoid(x) + sg.exp(-x * x))
        return sg.function([x], [total, sg.grad(total, x)], backend=backend), data
    labels = sg.placeholder((None,), "int64", name="labels")
    if workload.startswith("mlp"):
        x = sg.placeholder((None, 784), name="x")
        h = sg.relu(x @ weights["W1"] + weights["b1"])
        logits = h @ weights["W2"] + weights["b2"]
    else:
        x = sg.placeholder((None, 1, 28, 28), name="x")
        h = x
        for k, (kernel, bias) in enumerate((("K1", "c1"), ("K2", "c2"))):
            h = sg.nn.conv2d(h, weights[kernel], padding="same") + sg.reshape(weights[bias], (-1, 1, 1))
            h = sg.nn.max_pool2d(sg.relu(h), 2)
        h = sg.relu(sg.reshape(h, (-1, 3136)) @ weights["W3"] + weights["b3"])
        logits = h @ weights["W4"] + weights["b4"]
    loss = sg.nn.softmax_cross_entropy(logits, labels)
    updates = sg.optim.SGD(LR).updates(loss, list(weights.values()))
    return sg.function([x, labels], loss, updates=updates, backend=backend), data


def numpy_step(workload):
    """Backprop written by hand with NumPy (im2col convolutions), updating the weights in place."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    w = initial_weights(workload)
    data = data_of(workload)

    def softmax_xent_grad(logits, labels):
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        probabilities = exp / exp.sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(probabilities[np.arange(len(labels)), labels]))
        probabilities[np.arange(len(labels)), labels] -= 1
        return loss, probabilities / len(labels)

    if workload == "elementwise":
        (x,) = data

        def step():
            t = np.tanh(x * 0.5 + 0.1)
            s = 1 / (1 + np.exp(-x))
            e = np.exp(-x * x)
            total = np.sum(t * s + e)
            grad = (1 - t * t) * 0.5 * s + t * s * (1 - s) - 2 * x * e
            return total, grad
        return step

    if workload.startswith("mlp"):
        x, labels = data

        def step():
            z1 = x @ w["W1"] + w["b1"]
            h = np.maximum(z1, 0)
            loss, g2 = softmax_xent_grad(h @ w["W2"] + w["b2"], labels)
            g1 = (g2 @ w["W2"].T) * (z1 > 0)
            for name, grad in (("W2", h.T @ g2), ("b2", g2.sum(0)), ("W1", x.T @ g1), ("b1", g1.sum(0))):
                w[name] -= LR * grad
            return loss
        return step

    x, labels = data

    def conv(x, k):  # same padding, 5x5, stride 1: im2col (N H W, C 25) @ (C 25, O)
        n, c, size, _ = x.shape
        padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
        cols = sliding_window_view(padded, (5, 5), axis=(2, 3)).transpose(0, 2, 3, 1, 4, 5).reshape(-1, c * 25)
        out = cols @ k.reshape(k.shape[0], -1).T
        return out.reshape(n, size, size, -1).transpose(0, 3, 1, 2), cols

    def conv_backward(g, k, cols, x_shape, need_input):
        n, o, size, _ = g.shape
        g_rows = g.transpose(0, 2, 3, 1).reshape(-1, o)
        grad_k = (g_rows.T @ cols).reshape(k.shape)
        if not need_input:
            return grad_k, None
        c = x_shape[1]
        grad_cols = (g_rows @ k.reshape(o, -1)).reshape(n, size, size, c, 5, 5)
        padded = np.zeros((n, c, size + 4, size + 4), np.float32)
        for p in range(5):
            for q in range(5):
                padded[:, :, p:p + size, q:q + size] += grad_cols[:, :, :, :, p, q].transpose(0, 3, 1, 2)
        return grad_k, padded[:, :, 2:-2, 2:-2]

    def pool(h):
        n, c, size, _ = h.shape
        blocks = h.reshape(n, c, size // 2, 2, size // 2, 2)
        out = blocks.max(axis=(3, 5))
        first = (blocks == out[:, :, :, None, :, None])  # ties: every maximum (rare with random data)
        return out, first

    def pool_backward(g, first):
        return (first * g[:, :, :, None, :, None]).reshape(first.shape[0], first.shape[1], first.shape[2] * 2, -1)

    def step():
        z1, cols1 = conv(x, w["K1"])
        a1 = np.maximum(z1 + w["c1"][:, None, None], 0)
        p1, first1 = pool(a1)
        z2, cols2 = conv(p1, w["K2"])
        a2 = np.maximum(z2 + w["c2"][:, None, None], 0)
        p2, first2 = pool(a2)
        flat = p2.reshape(len(x), -1)
        z3 = flat @ w["W3"] + w["b3"]
        h3 = np.maximum(z3, 0)
        loss, g4 = softmax_xent_grad(h3 @ w["W4"] + w["b4"], labels)
        g3 = (g4 @ w["W4"].T) * (z3 > 0)
        g_p2 = (g3 @ w["W3"].T).reshape(p2.shape)
        g_z2 = pool_backward(g_p2, first2) * (a2 > 0)
        grad_k2, g_p1 = conv_backward(g_z2, w["K2"], cols2, p1.shape, True)
        g_z1 = pool_backward(g_p1, first1) * (a1 > 0)
        grad_k1, _ = conv_backward(g_z1, w["K1"], cols1, x.shape, False)
        grads = {"W4": h3.T @ g4, "b4": g4.sum(0), "W3": flat.T @ g3, "b3": g3.sum(0), "K2": grad_k2,
                 "c2": g_z2.sum((0, 2, 3)), "K1": grad_k1, "c1": g_z1.sum((0, 2, 3))}
        for name, grad in grads.items():
            w[name] -= LR * grad
        return loss
    return step


def torch_step(workload, threads):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    w = {k: torch.tensor(v, requires_grad=True) for k, v in initial_weights(workload).items()}
    data = [torch.from_numpy(a.copy()) for a in data_of(workload)]
    if workload == "elementwise":
        x = data[0].requires_grad_()

        def step():
            total = torch.sum(torch.tanh(x * 0.5 + 0.1) * torch.sigmoid(x) + torch.exp(-x * x))
            (grad,) = torch.autograd.grad(total, x)
            return total.item(), grad
        return step
    x, labels = data

    def forward():
        if workload.startswith("mlp"):
            return F.relu(x @ w["W1"] + w["b1"]) @ w["W2"] + w["b2"]
        h = F.max_pool2d(F.relu(F.conv2d(x, w["K1"], w["c1"], padding=2)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w["K2"], w["c2"], padding=2)), 2)
        return F.relu(h.reshape(len(x), -1) @ w["W3"] + w["b3"]) @ w["W4"] + w["b4"]

    params = list(w.values())

    def step():
        loss = F.cross_entropy(forward(), labels)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(LR * g)
        return loss.item()
    return step


def jax_step(workload):
    import jax
    import jax.numpy as jnp

    w = {k: jnp.asarray(v) for k, v in initial_weights(workload).items()}
    data = [jnp.asarray(a) for a in data_of(workload)]
    if workload == "elementwise":
        def total(x):
            return jnp.sum(jnp.tanh(x * 0.5 + 0.1) * jax.nn.sigmoid(x) + jnp.exp(-x * x))
        run = jax.jit(jax.value_and_grad(total))
        return lambda: jax.block_until_ready(run(*data))

    def forward(w, x):
        if workload.startswith("mlp"):
            return jax.nn.relu(x @ w["W1"] + w["b1"]) @ w["W2"] + w["b2"]
        h = x
        for kernel, bias in (("K1", "c1"), ("K2", "c2")):
            h = jax.lax.conv_general_dilated(h, w[kernel], (1, 1), "SAME") + w[bias][:, None, None]
            h = jax.lax.reduce_window(jax.nn.relu(h), -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        return jax.nn.relu(h.reshape(x.shape[0], -1) @ w["W3"] + w["b3"]) @ w["W4"] + w["b4"]

    def loss_of(w, x, labels):
        logits = forward(w, x)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))

    @jax.jit
    def update(w, x, labels):
        loss, grads = jax.value_and_grad(loss_of)(w, x, labels)
        return loss, jax.tree_util.tree_map(lambda p, g: p - LR * g, w, grads)

    state = {"w": w}

    def step():
        loss, state["w"] = update(state["w"], *data)
        return float(loss)
    return step


def pytensor_step(workload):
    import numpy as np
    import pytensor
    import pytensor.tensor as pt

    if workload.startswith("cnn"):
        raise RuntimeError("no convolution op in PyTensor's Numba mode")
    data = data_of(workload)
    if workload == "elementwise":
        x = pt.vector("x", dtype="float32")
        total = pt.sum(pt.tanh(x * np.float32(0.5) + np.float32(0.1)) * pt.sigmoid(x) + pt.exp(-x * x))
        f = pytensor.function([x], [total, pytensor.grad(total, x)], mode="NUMBA")
        return lambda: f(*data)
    shared = {k: pytensor.shared(v, name=k) for k, v in initial_weights(workload).items()}
    x = pt.matrix("x", dtype="float32")
    labels = pt.vector("labels", dtype="int64")
    logits = pt.maximum(x @ shared["W1"] + shared["b1"], 0) @ shared["W2"] + shared["b2"]
    log_probabilities = logits - pt.logsumexp(logits, axis=1, keepdims=True)
    loss = -pt.mean(log_probabilities[pt.arange(labels.shape[0]), labels])
    grads = pytensor.grad(loss, list(shared.values()))
    updates = [(p, p - np.float32(LR) * g) for p, g in zip(shared.values(), grads)]
    f = pytensor.function([x, labels], loss, updates=updates, mode="NUMBA")
    return lambda: f(*data)


NUMBA_FLOOR_MODULE = """import numba


@numba.njit(cache=True)
def doubled(x, out):
    for i in range(x.shape[0]):
        out[i] = 2 * x[i]
"""


def numba_floor_step(cache_dir):
    """One cached Numba function, from a file in ``cache_dir``: what any Numba-based system's first call in a new
    process costs at least (importing Numba, which imports SciPy's linear algebra, and its typing and lowering
    registries, loaded with the first cached function)."""
    import importlib.util

    import numpy as np

    path = os.path.join(cache_dir, "numba_floor.py")
    if not os.path.exists(path):
        with open(path, "w") as file:
            file.write(NUMBA_FLOOR_MODULE)
    spec = importlib.util.spec_from_file_location("numba_floor", path)
    module = sys.modules["numba_floor"] = importlib.util.module_from_spec(spec)  # Numba's cache imports it by name
    spec.loader.exec_module(module)
    x, out = np.ones(8, np.float32), np.empty(8, np.float32)
    return lambda: module.doubled(x, out)


def gemm_peak_step():
    """A 1024^3 float32 GEMM through NumPy's BLAS (the library the Numba backend's matmuls call)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.random((1024, 1024), dtype=np.float32)
    b = rng.random((1024, 1024), dtype=np.float32)
    out = np.empty((1024, 1024), np.float32)
    return lambda: np.matmul(a, b, out=out)


# -- the worker: one system, one workload, in this process -----------------------------------------------------------

def worker(system: str, workload: str, threads: int, steps: int) -> dict:
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:threads]))
    started = time.perf_counter()
    one_example = None
    if system == "gemm-peak":
        step = gemm_peak_step()
    elif system == "numba-floor":
        step = numba_floor_step(os.environ["SYMGRAPH_CACHE_DIR"])
    elif system.startswith("symgraph"):
        import symgraph as sg

        sg.set_num_threads(threads)
        step, one_example = symgraph_steps(workload, system.split("-")[1])
    elif system == "numpy":
        step = numpy_step(workload)
    elif system == "torch":
        step = torch_step(workload, threads)
    elif system == "jax":
        step = jax_step(workload)
    else:
        step = pytensor_step(workload)
    # The step's own memory (buffers, temporaries, outputs): the peak of what NumPy arrays hold during the first step,
    # above what they held before it, once a step on one example has compiled and loaded all the code (tracemalloc
    # counts NumPy's data allocations, the Numba backend's buffers included: its driver allocates them with NumPy;
    # tracing a step's few hundred allocations costs microseconds). Numba's and LLVM's ~120 MB, the same whatever
    # the step allocates, are in the process's peak RSS.
    step_mb = None
    if one_example is not None:
        import tracemalloc

        one_example()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        step()
        step_mb = (tracemalloc.get_traced_memory()[1] - before) / 2 ** 20
        tracemalloc.stop()
    else:
        step()
    first_call = time.perf_counter() - started
    times = []
    deadline = time.perf_counter() + 20.0
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
        if time.perf_counter() > deadline and len(times) >= 5:
            break
    import resource

    from threadpoolctl import threadpool_info

    kernels = sorted({f"{os.path.basename(i['filepath'])}: {i.get('architecture')} x{i['num_threads']}"
                      for i in threadpool_info() if i["user_api"] == "blas"})
    return {"median_ms": 1e3 * statistics.median(times), "first_call_s": first_call,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "blas": kernels,
            "step_mb": step_mb}


def run_worker(system, workload, threads, steps, cache_dir):
    # PYTHONDONTWRITEBYTECODE (set on these machines) would compile symgraph's sources at every import, ~0.2 s of each
    # first call that a user's installation, with its bytecode, does not pay (the driver compiles it first).
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "PYTHONDONTWRITEBYTECODE")}
    env.update({name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                "NUMBA_NUM_THREADS", "SYMGRAPH_NUM_THREADS")})
    env["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} " \
                       f"intra_op_parallelism_threads={threads}"
    env["SYMGRAPH_CACHE_DIR"] = cache_dir
    # base_compiledir, not compiledir: PyTensor keeps its Numba cache in base_compiledir/numba (~/.pytensor/numba)
    env["PYTENSOR_FLAGS"] = f"base_compiledir={os.path.join(cache_dir, 'pytensor')}"
    env["JAX_PLATFORMS"] = "cpu"
    command = [sys.executable, "-c", WORKER_CODE.format(root=PACKAGE_ROOT, here=HERE), "--worker", system, workload,
               "--threads", str(threads), "--steps", str(steps)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["failed"])[-1]
        return {"error": last[:100]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def available(system: str) -> bool:
    module = {"torch": "torch", "jax": "jax", "pytensor": "pytensor"}.get(system)
    if module is None:
        return True
    import importlib.util

    return importlib.util.find_spec(module) is not None


# -- the driver ------------------------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The driver's options (``symgraph bench`` and ``benchmarks/bench_step.py`` take the same)."""
    parser.add_argument("--threads", type=int, default=2, help="cores and threads every system may use")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all systems, interleaved")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per process (fewer past 20 s)")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--worker", nargs=2, metavar=("SYSTEM", "WORKLOAD"), help=argparse.SUPPRESS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args):
    """Measure and print the table (or, with ``--worker``, one measurement as JSON); returns the results."""
    if args.worker:
        print(json.dumps(worker(*args.worker, args.threads, args.steps)))
        return None
    systems = [s for s in args.systems if available(s)]
    missing = [s for s in args.systems if s not in systems]
    if missing:
        print(f"not installed (pip install -e '.[bench]'): {', '.join(missing)}")
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(PACKAGE_ROOT, "symgraph")],
                   capture_output=True, check=False)  # bytecode, as an installation has it
    warm_cache = tempfile.mkdtemp(prefix="bench-step-cache-")
    peak = run_worker("gemm-peak", "elementwise", args.threads, 20, warm_cache)
    peak_gflops = 2 * 1024 ** 3 / peak["median_ms"] / 1e6 if "median_ms" in peak else None
    print(f"float32 GEMM peak (1024^3, NumPy's BLAS, {args.threads} threads): {peak_gflops or 0:.0f} GFLOP/s; "
          f"BLAS: {'; '.join(peak.get('blas', []))}")
    if "symgraph-numba" in systems:
        run_worker("numba-floor", "elementwise", args.threads, 1, warm_cache)  # compiles and caches it
        floors = [run_worker("numba-floor", "elementwise", args.threads, 1, warm_cache) for _ in range(3)]
        if all("first_call_s" in floor for floor in floors):
            print(f"Numba's floor for a warm first call (a new process importing Numba and calling one cached "
                  f"function): {statistics.median(f['first_call_s'] for f in floors):.2f} s, peak RSS "
                  f"{max(f['peak_rss_mb'] for f in floors):.0f} MB (what any Numba process holds: compare the RSS "
                  f"column)")
    results = {}
    for workload in args.workloads:
        for system in systems:  # first calls with an empty cache, one process each
            cold = run_worker(system, workload, args.threads, 3, tempfile.mkdtemp(prefix="bench-step-cold-"))
            results[(workload, system)] = {"cold": cold.get("first_call_s"), "runs": [], "error": cold.get("error")}
            if not cold.get("error"):
                run_worker(system, workload, args.threads, 1, warm_cache)  # fills the cache the rounds start from
    for round_ in range(args.rounds):
        for workload in args.workloads:
            for system in systems:
                entry = results[(workload, system)]
                if entry["error"]:
                    continue
                run = run_worker(system, workload, args.threads, args.steps, warm_cache)
                if "error" in run:
                    entry["error"] = run["error"]
                else:
                    entry["runs"].append(run)
        print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr)
    print_table(results, args.workloads, systems, peak_gflops)
    return results


def print_table(results, workloads, systems, peak_gflops):
    print(f"\nms per step (median of process medians), ratio to symgraph-numba, GFLOP/s (% of GEMM peak), first call "
          f"with an empty / a warm cache (s), peak RSS of the process (MB), and the step's own memory (MB: the peak "
          f"of its NumPy-allocated arrays, buffers included, code compiled before; symgraph's MLP and CNN)")
    header = f"{'workload':<12} {'system':<15} {'ms/step':>9} {'ratio':>7} {'GFLOP/s':>14} {'cold s':>7} " \
             f"{'warm s':>7} {'RSS MB':>7} {'step MB':>7}"
    print(header)
    print("-" * len(header))
    for workload in workloads:
        base = results.get((workload, "symgraph-numba"), {}).get("runs")
        base_ms = statistics.median(r["median_ms"] for r in base) if base else None
        for system in systems:
            entry = results[(workload, system)]
            if entry["error"] and not entry["runs"]:
                print(f"{workload:<12} {system:<15} {'n/a: ' + entry['error']}")
                continue
            ms = statistics.median(r["median_ms"] for r in entry["runs"])
            warm = statistics.median(r["first_call_s"] for r in entry["runs"])
            rss = max(r["peak_rss_mb"] for r in entry["runs"])
            ratio = f"{ms / base_ms:7.2f}" if base_ms else f"{'':>7}"
            work = flops(workload)
            rate = f"{work / ms / 1e6:6.0f} ({100 * work / ms / 1e6 / peak_gflops:3.0f}%)" \
                if work and peak_gflops else f"{'':>14}"
            cold = f"{entry['cold']:7.2f}" if entry["cold"] is not None else f"{'':>7}"
            steps = [r["step_mb"] for r in entry["runs"] if r.get("step_mb") is not None]
            step_mb = f"{max(steps):7.0f}" if steps else f"{'':>7}"
            print(f"{workload:<12} {system:<15} {ms:9.2f} {ratio} {rate:>14} {cold} {warm:7.2f} {rss:7.0f} {step_mb}")


if __name__ == "__main__":
    main()
