"""Data-parallel training on MPI (issue 14): 2 processes under mpiexec end where one process on the whole batches
ends; failures on one rank end the job with a clear error; mismatched models are refused at start.

The 2-process runs are subprocesses (``mpiexec -n 2 python tests/mpi_worker.py ...``), skipped with the reason when
mpi4py or mpiexec is absent (``pip install -e ".[mpi]"`` installs both). Sharding runs in this process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

import symgraph as sg

import mpi_worker
from test_cli import assert_bitwise_equal, saved_variables  # (the CLI's tests compare their files the same way)

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpi_worker.py")

try:
    import mpi4py  # noqa: F401
    MISSING = None if shutil.which("mpiexec") else "mpiexec is not on PATH (pip install -e '.[mpi]' brings it)"
except ImportError:
    MISSING = "mpi4py is not installed (pip install -e '.[mpi]')"
# MPICH's launcher (the mpich wheel's) writes each rank's streams to its own files; others share one pipe.
HYDRA = MISSING is None and "HYDRA" in subprocess.run(["mpiexec", "--version"], capture_output=True,
                                                      text=True).stdout
needs_mpi = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

TOLERANCE = {"float64": 1e-12, "float32": 1e-6}


REPOSITORY = os.path.dirname(os.path.dirname(WORKER))


def mpiexec(*args, timeout: float = 300, processes: int = 2, script: str = WORKER):
    """Run ``script`` (the worker) on ``processes`` processes with one thread each, this checkout's symgraph first on
    the path; (return code, output, seconds). The output is each rank's stdout and stderr in rank order, then the
    launcher's own: ranks writing at once interleave character by character on a shared pipe."""
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([REPOSITORY, os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory() as folder:
        launcher = []
        if processes > 1:
            launcher = ["mpiexec", "-n", str(processes)]
            if HYDRA:
                launcher += ["-outfile-pattern", os.path.join(folder, "%r.out"),
                             "-errfile-pattern", os.path.join(folder, "%r.err")]
        started = time.monotonic()
        done = subprocess.run(launcher + [sys.executable, script, *args], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=os.path.dirname(script))
        seconds = time.monotonic() - started
        ranks = "".join(_read(os.path.join(folder, f"{rank}.{stream}"))
                        for rank in range(processes) for stream in ("out", "err"))
    return done.returncode, ranks + done.stdout + done.stderr, seconds


def _read(path: str) -> str:
    if not os.path.exists(path):
        return ""
    with open(path) as file:
        return file.read()


def single_process(case: dict) -> list[np.ndarray]:
    """The reference: rank 0's initial values, one process, whole batches, the same order, no allreduce."""
    step, params = mpi_worker.build(case["model"], case["dtype"], case["optimizer"], seed=100, backend="numpy")
    images, labels = mpi_worker.data(case["dtype"])
    step.epoch([images, labels], mpi_worker.BATCH, rng=3)
    return [p.value for p in params]


# Every optimizer in both dtypes on the MLP, every optimizer on the CNN, and one case of each model on Numba (its
# compiles dominate this file's time on a fresh cache).
CASES = [dict(model="mlp", dtype=d, optimizer=o, backend="numpy") for d in ("float64", "float32")
         for o in ("sgd", "momentum", "adam")]
CASES += [dict(model="cnn", dtype="float64", optimizer=o, backend="numpy") for o in ("sgd", "momentum", "adam")]
CASES += [dict(model="cnn", dtype="float32", optimizer="adam", backend="numpy"),
          dict(model="mlp", dtype="float64", optimizer="adam", backend="numba"),
          dict(model="cnn", dtype="float32", optimizer="momentum", backend="numba")]
for k, c in enumerate(CASES):
    c["name"] = f"{k}-{c['model']}-{c['dtype']}-{c['optimizer']}-{c['backend']}"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Every case trained by 2 processes in one mpiexec run: {rank: {name: parameters}}."""
    if MISSING:
        pytest.skip(MISSING)
    out = str(tmp_path_factory.mktemp("distributed") / "params")
    code, output, _ = mpiexec("train", out, json.dumps(CASES), timeout=900)
    assert code == 0, output
    ranks = {}
    for r in (0, 1):
        with np.load(f"{out}.rank{r}.npz") as saved:
            ranks[r] = {name: [saved[f"{name}/{k}"] for k in range(sum(key.startswith(name + "/") for key in saved))]
                        for name in (c["name"] for c in CASES)}
    return ranks


@needs_mpi
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_two_processes_on_half_batches_end_as_one_process_on_whole_batches(trained, case):
    """Equal parameters after an epoch of SGD / momentum / Adam steps whose last global batch (5 examples) splits
    unevenly (3 and 2); both ranks hold the very same bits."""
    expected = single_process(case)
    tolerance = TOLERANCE[case["dtype"]]
    for rank in (0, 1):
        got = trained[rank][case["name"]]
        assert len(got) == len(expected) and len(got) >= 4
        for value, reference in zip(got, expected):
            assert value.dtype == reference.dtype
            np.testing.assert_allclose(value, reference, rtol=tolerance, atol=tolerance * np.abs(reference).max())
    for a, b in zip(trained[0][case["name"]], trained[1][case["name"]]):
        assert np.array_equal(a, b)


@needs_mpi
def test_a_killed_rank_ends_the_job_with_an_error():
    code, output, seconds = mpiexec("kill", "-", "20", timeout=120)
    assert code != 0 and seconds < 60, output
    assert "BAD TERMINATION" in output and "Killed" in output, output  # mpiexec (Hydra) names the killed rank
    assert "the epoch ended although rank 1 failed" not in output


@needs_mpi
def test_a_stalled_rank_makes_the_others_stop_at_the_deadline():
    """A rank that stops (SIGSTOP) without dying: only the others' deadline can end the job."""
    code, output, seconds = mpiexec("stall", "-", "3", timeout=120)
    assert code != 0, output
    assert "rank 0 of 2: the allreduce of" in output and "did not complete within 3 s" in output, output
    assert "aborting the job (MPI_Abort)" in output, output
    assert 3 <= seconds < 60


@needs_mpi
def test_an_exception_on_one_rank_aborts_the_job_with_its_traceback():
    code, output, seconds = mpiexec("raise", "-", "60", timeout=120)
    assert code != 0, output
    assert "RuntimeError: rank 1 fails on purpose in the middle of the epoch" in output, output
    assert "uncaught RuntimeError on rank 1 of 2; aborting the job (MPI_Abort)" in output, output
    assert seconds < 40  # well before rank 0's 60 s deadline: the abort, not the timeout, ended it


@needs_mpi
def test_mismatched_models_are_refused_at_start_naming_the_first_difference():
    code, output, _ = mpiexec("mismatch", "-", timeout=120)
    assert code != 0, output
    assert ("DistributedError: the processes built different models: variable 0 is 'fc1/W' (36, 12) float64 on "
            "rank 0 but 'fc1/W' (36, 13) float64 on rank 1") in output, output


@needs_mpi
@pytest.mark.parametrize("example", ["mlp_mnist.py", "cnn_mnist.py"])
def test_the_examples_train_data_parallel_under_mpiexec_as_one_process_does(example):
    """mpiexec -n 2 python examples/X.py: only rank 0 prints, and it prints what one process prints (the losses
    to rounding: each is the mean of the per-step losses of every rank's shards)."""
    script = os.path.join(REPOSITORY, "examples", example)
    arguments = ["--dataset", "digits", "--epochs", "1", "--train-limit", "150", "--test-limit", "100",
                 "--batch-size", "32", "--no-progress"]
    results = {}
    for processes in (1, 2):
        code, output, _ = mpiexec(*arguments, processes=processes, script=script, timeout=300)
        assert code == 0, output
        results[processes] = output.strip().splitlines()
    one, two = results[1], results[2]
    assert len(two) == len(one) == 3 and two[0] == one[0]  # the dataset line, once
    assert two[1].split(", train accuracy")[1] == one[1].split(", train accuracy")[1]
    assert float(two[1].split("loss ")[1].split(",")[0]) == pytest.approx(float(one[1].split("loss ")[1].split(",")[0]),
                                                                          abs=2e-4)
    assert two[2].split(";")[0] == one[2].split(";")[0] and two[2].endswith("training examples/sec on 2 processes")


# -- mpiexec -n 2 symgraph train: the command line's loop, data-parallel ------------------------------------------

CLI_RUN = ["train", "mlp", "--dataset", "digits", "--train-limit", "480", "--test-limit", "100", "--batch-size", "16",
           "--seed", "3", "--no-progress", "--threads", "1"]
ONE_THREAD = dict(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")


def symgraph_train(*args, processes: int, cwd, timeout: float = 300):
    """``[mpiexec -n P] python -m symgraph ARGS`` running this checkout in ``cwd``: (return code, stdout, stderr)."""
    env = dict(os.environ, **ONE_THREAD, PYTHONPATH=os.pathsep.join([REPOSITORY, os.environ.get("PYTHONPATH", "")]))
    launcher = ["mpiexec", "-n", str(processes)] if processes > 1 else []
    done = subprocess.run(launcher + [sys.executable, "-m", "symgraph", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)
    return done.returncode, done.stdout, done.stderr


def assert_close(got: dict, expected: dict):
    """float32 parameters equal to rounding: within 1e-6 of the largest entry of each."""
    assert sorted(got) == sorted(expected) and len(got) >= 4
    for name in expected:
        assert got[name].dtype == expected[name].dtype == np.float32, name
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-6 * np.abs(expected[name]).max(),
                                   err_msg=name)


@pytest.fixture
def restore_threads():
    """``main([... "--threads", "1"])`` in this process sets sg.set_num_threads(1): give the other tests theirs."""
    before = sg.get_num_threads()
    yield
    sg.set_num_threads(before)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """The uninterrupted reference: 2 epochs of `mpiexec -n 2 symgraph train mlp` (30 global batches of 16 each),
    with epoch checkpoints: (directory, stdout)."""
    if MISSING:
        pytest.skip(MISSING)
    directory = tmp_path_factory.mktemp("two-processes")
    code, out, err = symgraph_train(*CLI_RUN, "--epochs", "2", "--checkpoint", "checkpoints", "--save", "model.sg",
                                    processes=2, cwd=directory)
    assert code == 0 and err == "", (out, err)
    return directory, out


@needs_mpi
def test_mpiexec_symgraph_train_saves_what_one_process_saves(two_process_run, tmp_path, capsys, monkeypatch,
                                                               restore_threads):
    """--batch-size is the global batch: 2 processes on halves of every batch save one process's parameters (to
    float32 rounding); only rank 0 printed, the lines one process prints (losses to rounding)."""
    from symgraph.cli import main

    directory, two = two_process_run
    monkeypatch.chdir(tmp_path)
    code = main([*CLI_RUN, "--epochs", "2", "--save", "model.sg"])
    one = capsys.readouterr().out
    assert code == 0
    assert_close(saved_variables(directory / "model.sg"), saved_variables(tmp_path / "model.sg"))
    one, two = one.strip().splitlines(), two.strip().splitlines()
    assert len(two) == len(one) == 5 and two[0] == one[0] and two[4] == one[4]  # the dataset line, the saved line
    for a, b in zip(one[1:3], two[1:3]):  # the epochs: the global mean loss, rank 0's accuracy
        assert a.split(", ")[1] == b.split(", ")[1]
        assert float(b.split("loss ")[1].split(",")[0]) == pytest.approx(float(a.split("loss ")[1].split(",")[0]),
                                                                          abs=2e-4)
    assert two[3].split(";")[0] == one[3].split(";")[0] and two[3].endswith("training examples/sec on 2 processes")


@needs_mpi
def test_a_two_process_checkpoint_resumes_with_two_processes_bitwise(two_process_run, tmp_path):
    """Epoch 1's checkpoint of 2 processes, resumed by 2 processes for epoch 2: the uninterrupted run's bits."""
    directory, _ = two_process_run
    code, out, err = symgraph_train(*CLI_RUN, "--epochs", "1", "--checkpoint", "checkpoints", processes=2,
                                    cwd=tmp_path)
    assert code == 0 and err == "", (out, err)
    code, out, err = symgraph_train(*CLI_RUN, "--epochs", "2", "--checkpoint", "checkpoints", "--resume", "--save",
                                    "model.sg", processes=2, cwd=tmp_path)
    assert code == 0 and err == "", (out, err)
    assert "epoch 2: loss" in out and "epoch 1:" not in out
    assert_bitwise_equal(saved_variables(tmp_path / "model.sg"), saved_variables(directory / "model.sg"))
    assert_bitwise_equal(saved_variables(tmp_path / "checkpoints/checkpoint.safetensors"),
                         saved_variables(directory / "checkpoints/checkpoint.safetensors"))


SIGINT_EPOCHS = 40  # 1200 steps of ~1 ms: the signal, sent at step 3, has over a second to reach the ranks


@needs_mpi
def test_sigint_to_mpiexec_stops_every_rank_at_one_step_and_resumes(tmp_path, monkeypatch, restore_threads):
    """A real Ctrl-C to mpiexec (it forwards SIGINT to both ranks, each at its own step): exit 130, one message, a
    checkpoint whose position both ranks agreed on; the printed command resumes it on 2 processes to the bits of the
    uninterrupted run, and one process resumes it too (to rounding). The run is long (SIGINT_EPOCHS) because nothing
    holds the ranks back while the signal is on its way: mpiexec reads their output whatever this test reads (a
    bounded pipe, as test_cli's SIGINT test uses, made mpiexec die of SIGPIPE), and with the 2 epochs of the other
    tests' reference a loaded machine could finish the run first."""
    from symgraph.cli import main

    directory = tmp_path / "uninterrupted"
    directory.mkdir()
    epochs = ["--epochs", str(SIGINT_EPOCHS)]
    code, out, err = symgraph_train(*CLI_RUN, *epochs, "--save", "model.sg", processes=2, cwd=directory)
    assert code == 0 and err == "", (out, err)
    env = dict(os.environ, **ONE_THREAD, PYTHONPATH=os.pathsep.join([REPOSITORY, os.environ.get("PYTHONPATH", "")]))
    arguments = [*CLI_RUN, *epochs, "--log-every", "3", "--save", "model.sg"]
    process = subprocess.Popen(["mpiexec", "-n", "2", sys.executable, "-m", "symgraph", *arguments], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    printed = []
    for line in process.stdout:
        printed.append(line)
        if line.startswith("epoch 1 step 3/30"):
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=120)
    out = "".join(printed) + out
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in out + err and "symgraph: error" not in out + err, (out, err)
    messages = [line for line in out.splitlines() if line.startswith("interrupted in epoch")]
    assert len(messages) == 1, out
    assert " of 30: checkpoint saved to checkpoints/mlp/checkpoint.safetensors; resume with: mpiexec -n 2 symgraph " \
        "train mlp " in messages[0], messages[0]
    checkpoint = tmp_path / "checkpoints/mlp/checkpoint.safetensors"
    position = sg.read_metadata(checkpoint)["position"]
    assert 3 <= position["step"] + 30 * (position["epoch"] - 1) < 30 * SIGINT_EPOCHS
    assert len(position["losses"]) == position["step"]
    assert not os.path.exists(tmp_path / "model.sg")
    shutil.copy(checkpoint, tmp_path / "for-one-process.safetensors")
    command = messages[0].split("resume with: ")[1].split()
    assert command[:5] == ["mpiexec", "-n", "2", "symgraph", "train"] and command[-1] == "--resume"
    done = subprocess.run(["mpiexec", "-n", "2", sys.executable, "-m", "symgraph", *command[4:]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0 and done.stderr == "", (done.stdout, done.stderr)
    assert_bitwise_equal(saved_variables(tmp_path / "model.sg"), saved_variables(directory / "model.sg"))
    # The same checkpoint resumed by one process: the parameters of the 2-process run to rounding.
    (tmp_path / "one").mkdir()
    shutil.copy(tmp_path / "for-one-process.safetensors", tmp_path / "one/checkpoint.safetensors")
    monkeypatch.chdir(tmp_path)
    assert main([*CLI_RUN, *epochs, "--checkpoint", "one", "--resume", "--save", "one.sg"]) == 0
    assert_close(saved_variables(tmp_path / "one.sg"), saved_variables(directory / "model.sg"))


# -- in this process: shards, the optimizer's arguments, saving ----------------------------------------------------

@pytest.mark.parametrize("count", [1, 2, 3, 5])
@pytest.mark.parametrize("drop_last", [False, True])
def test_shards_split_every_global_batch_into_disjoint_parts(count, drop_last):
    """Part r of every batch, for r = 0..count-1, concatenated in rank order, is that batch of one process: the same
    global order, disjoint parts, sizes that differ by at most one (larger first)."""
    data = np.arange(23)
    whole = list(sg.minibatches(data, 7, rng=5, drop_last=drop_last))
    parts = [list(sg.minibatches(data, 7, rng=5, drop_last=drop_last, shard=(r, count))) for r in range(count)]
    assert all(len(p) == len(whole) for p in parts)
    for k, batch in enumerate(whole):
        pieces = [p[k] for p in parts]
        assert np.array_equal(np.concatenate(pieces), batch)
        sizes = [len(piece) for piece in pieces]
        assert sizes == sorted(sizes, reverse=True) and sizes[0] - sizes[-1] <= 1
        assert sizes == [len(a) for a in np.array_split(batch, count)]


def test_epoch_steps_on_its_shard_of_every_batch():
    x = sg.placeholder((None,), "int64", name="x")
    f = sg.function([x], sg.sum(x), backend="numpy")
    data = np.arange(10) * 10
    assert f.epoch([data], 4, rng=1, shard=(1, 2)).tolist() == [sum(b) for b in sg.minibatches(data, 4, rng=1,
                                                                                                 shard=(1, 2))]
    with pytest.raises(ValueError, match=r"Function.epoch: shard= splits one global order .* pass rng="):
        f.epoch([data], 4, shard=(0, 2))
    fixed = sg.placeholder((4,), "int64", name="fixed")
    with pytest.raises(sg.ShapeError, match="shard= gives each process a part of every batch"):
        sg.function([fixed], sg.sum(fixed), backend="numpy").epoch([data[:8]], 4, rng=0, shard=(0, 2))


@pytest.mark.parametrize("shard, error, match", [
    ((2, 2), ValueError, r"shard=\(2, 2\) needs 0 <= index < count"),
    ((0, 0), ValueError, r"shard=\(0, 0\) needs 0 <= index < count"),
    ((0.0, 2), TypeError, "shard must be None, an"),
    ([0, 2], TypeError, "shard must be None, an"),
    ((True, 2), TypeError, "shard must be None, an"),
    ("world", TypeError, "shard must be None, an"),
])
def test_bad_shards_are_refused(shard, error, match):
    with pytest.raises(error, match=f"^minibatches: {match}"):
        sg.minibatches(np.arange(4), 2, rng=0, shard=shard)


@needs_mpi
def test_shard_takes_a_communicator():
    from symgraph import distributed

    world = distributed.world()
    assert [b.tolist() for b in sg.minibatches(np.arange(5), 2, rng=0, shard=world)] == \
        [b.tolist() for b in sg.minibatches(np.arange(5), 2, rng=0)]


@needs_mpi
def test_one_process_with_allreduce_trains_as_without_it():
    """In a world of one, the packed, scaled and unpacked gradients are the plain ones (to rounding), on both
    backends; the step holds ONE allreduce, of every gradient and the example count."""
    from symgraph import distributed

    case = dict(model="mlp", dtype="float64", optimizer="adam")
    expected = single_process(dict(case, backend="numpy"))
    for backend in ("numpy", "numba"):
        step, params = mpi_worker.build(case["model"], case["dtype"], case["optimizer"], seed=100, backend=backend,
                                        comm=distributed.world())
        reductions = [n for n in sg.toposort(step.outputs + [e for _, e in step.updates]) if n.op.name == "allreduce"]
        assert len(reductions) == 1 and reductions[0].shape == (sum(p.value.size for p in params) + 1,)
        step.epoch(list(mpi_worker.data("float64")), mpi_worker.BATCH, rng=3)
        for value, reference in zip([p.value for p in params], expected):
            np.testing.assert_allclose(value, reference, rtol=1e-12, atol=1e-12 * np.abs(reference).max())
        if backend == "numba":
            assert step.source.count("# ---- segment") == 2 and "# ---- in Python, between segments: allreduce" \
                in step.source


@needs_mpi
def test_optimizer_arguments_of_a_data_parallel_step():
    from symgraph import distributed

    x = sg.placeholder((None, 3), "float64", name="x")
    w = sg.variable(np.ones(3), name="w")
    cost = sg.mean(x @ w)
    with pytest.raises(ValueError, match="SGD.updates: examples= counts the local batch .* needs allreduce="):
        sg.optim.SGD(0.1).updates(cost, [w], examples=4)
    with pytest.raises(TypeError, match="SGD.updates: allreduce: comm must be an mpi4py communicator"):
        sg.optim.SGD(0.1).updates(cost, [w], allreduce="world")
    with pytest.raises(TypeError, match="SGD.updates: examples must be an int or a scalar node"):
        sg.optim.SGD(0.1).updates(cost, [w], allreduce=distributed.world(), examples=2.5)
    with pytest.raises(ValueError, match="SGD.updates: with allreduce=, the cost must read a batch placeholder"):
        sg.optim.SGD(0.1).updates(sg.sum(w * w), [w], allreduce=distributed.world())
    for examples in (4, sg.ops.size(x, axis=0)):
        w.assign(np.ones(3))
        f = sg.function([x], cost, updates=sg.optim.SGD(0.1).updates(cost, [w], allreduce=distributed.world(),
                                                                     examples=examples), backend="numpy")
        f(np.arange(12.0).reshape(4, 3))
        np.testing.assert_allclose(w.value, 1 - 0.1 * np.arange(12.0).reshape(4, 3).mean(axis=0), rtol=1e-15)


@needs_mpi
def test_a_graph_with_an_allreduce_saves_as_one_over_the_world_at_load_time(tmp_path):
    """A communicator cannot be written to a file: the world's allreduce is saved as "world" and loads over the
    world of the loading job (here, a world of one; the save scenario below loads it in a world of two)."""
    from mpi4py import MPI

    x = sg.placeholder((3,), "float64", name="x")
    sg.save(tmp_path / "g.safetensors", sg.ops.collective.allreduce(x * 2.0, MPI.COMM_WORLD), [x])
    (loaded_x,), loaded, _ = sg.load(tmp_path / "g.safetensors")
    assert loaded.op.comm == sg.ops.collective.Communicator(MPI.COMM_WORLD)
    assert sg.debugprint(loaded, file=None).startswith("allreduce{comm=world}")
    np.testing.assert_array_equal(sg.evaluate(loaded, {loaded_x: np.arange(3.0)}), [0.0, 2.0, 4.0])


@needs_mpi
def test_saving_refuses_other_communicators_and_loads_over_the_world_of_two(tmp_path):
    code, output, _ = mpiexec("save", str(tmp_path / "g.safetensors"), timeout=120)
    assert code == 0, output
    for rank in (0, 1):
        assert (f"rank {rank}: sg.save: cannot save allreduce node (shape (3,), float64) created at "
                in output), output
        assert "is communicator(size=1), a communicator other than the world" in output, output
        assert f"rank {rank}: loaded over the world: [0.0, 3.0, 6.0]" in output, output  # (0 + 1) * 3 * [0, 1, 2]


# -- detecting an MPI launch (without mpi4py) ----------------------------------------------------------------------

def test_a_launch_is_detected_from_the_launchers_environment_without_importing_mpi4py():
    from symgraph.cli import CliError
    from symgraph.cli.parallel import launched_size

    assert launched_size({}) == 1 and launched_size({"PMI_SIZE": "1"}) == 1
    assert launched_size({"PMI_SIZE": "3"}) == 3 and launched_size({"OMPI_COMM_WORLD_SIZE": "4"}) == 4
    assert launched_size({"PMIX_SIZE": "2", "PMI_SIZE": ""}) == 2
    with pytest.raises(CliError, match=r"\$PMI_SIZE is 'two', not a number of processes"):
        launched_size({"PMI_SIZE": "two"})
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")}
    code = ("import sys; from symgraph.cli import main; from symgraph.cli.parallel import processes; "
            "assert processes().size == 1 and not processes().parallel; "
            "assert main(['train', 'mlp', '--dataset', 'digits', '--epochs', '1', '--train-limit', '64', "
            "'--no-progress']) == 0; assert 'mpi4py' not in sys.modules, 'mpi4py imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(env, PYTHONPATH=REPOSITORY, **ONE_THREAD))
    assert done.returncode == 0, done.stderr


def test_a_data_parallel_trainer_refuses_a_step_without_allreduce_or_parameters():
    from symgraph.cli.parallel import Processes
    from symgraph.cli.train import check_data_parallel_step

    x = sg.placeholder((None, 3), "float64", name="x")
    w = sg.variable(np.ones(3), name="w")
    cost = sg.mean(x @ w)
    step = sg.function([x], cost, updates=sg.optim.SGD(0.1).updates(cost, [w]), backend="numpy")
    two = Processes(comm=object(), rank=0, size=2)
    with pytest.raises(ValueError, match="data-parallel on 2 processes, but the training step has no allreduce: "
                                         r"build its updates with opt.updates\(cost, params, allreduce=comm\)"):
        check_data_parallel_step(step, [w], two)
    with pytest.raises(ValueError, match="data-parallel on 2 processes, but no parameters= to broadcast"):
        check_data_parallel_step(step, None, two)
