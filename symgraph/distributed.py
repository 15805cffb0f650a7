"""Data-parallel training on MPI (mpi4py), with the same result as one process.

Imported only when used (``import symgraph`` never loads mpi4py). Importing it initializes MPI and makes an uncaught
exception on any rank print its traceback and abort the whole job (``MPI_Abort``, as ``python -m mpi4py`` does), so
a failing rank never leaves the others waiting. A training loop becomes data-parallel with one communicator:

    comm = distributed.world()
    updates = opt.updates(cost, params, allreduce=comm)      # local gradients -> ONE allreduce -> the update
    step = sg.function([x, y], cost, updates=updates)
    distributed.broadcast_variables(params, comm)             # every rank starts from rank 0's values
    step.epoch([images, labels], batch_size, rng=seed, shard=comm)   # each rank its part of every global batch

Every wait on the other processes (the gradient allreduce, the broadcast, the start-up check) has a deadline
(``set_timeout``, or ``$SYMGRAPH_MPI_TIMEOUT`` seconds; 300 by default): a rank that stalls or stops taking part makes
the others raise ``DistributedError`` naming the operation, which (uncaught) aborts the job. A rank that dies is
detected by the launcher itself: ``mpiexec`` (MPICH's Hydra) ends the others at once.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Sequence

import numpy as np

try:
    from mpi4py import MPI
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("symgraph.distributed needs mpi4py and an MPI library: pip install -e \".[mpi]\" installs "
                      "both (the mpi4py and mpich wheels); on a cluster, build mpi4py against the site's MPI with "
                      "`env MPICC=$(which mpicc) pip install --no-binary=mpi4py mpi4py`") from error

from symgraph.errors import SymgraphError
from symgraph.graph import Variable, _output_list, user_site
from symgraph.ops.collective import AllReduce, Communicator, allreduce, mean_over_processes

__all__ = ["world", "rank", "size", "allreduce", "broadcast_variables", "check_same_variables", "set_timeout",
           "get_timeout", "DistributedError", "AllReduce", "Communicator", "mean_over_processes", "allreduce_sum"]

TIMEOUT_ENV = "SYMGRAPH_MPI_TIMEOUT"
DEFAULT_TIMEOUT = 300.0
# Seconds between printing an uncaught exception and MPI_Abort: Hydra (mpiexec) kills the job at the abort and drops
# output still in its forwarding pipes (a traceback was cut after its first line when the machine was loaded).
ABORT_GRACE_SECONDS = 0.5


class DistributedError(SymgraphError, RuntimeError):
    """The processes of a job disagree (different models) or one of them stopped taking part (a timeout)."""


def _timeout_from_environment() -> float:
    text = os.environ.get(TIMEOUT_ENV)
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"${TIMEOUT_ENV} must be a number of seconds, got {text!r}") from None
    if not seconds > 0:
        raise ValueError(f"${TIMEOUT_ENV} must be a positive number of seconds, got {text!r}")
    return seconds


_timeout = _timeout_from_environment()


def set_timeout(seconds: float) -> None:
    """How long any collective waits for the other processes before raising DistributedError. It bounds the
    imbalance between ranks too: a rank that evaluates or saves while the others wait in the next step must finish
    within it."""
    global _timeout
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float, np.integer, np.floating)) \
            or not float(seconds) > 0 or not np.isfinite(seconds):
        raise ValueError(f"set_timeout: seconds must be a positive finite number, got {seconds!r}, at {user_site()}")
    _timeout = float(seconds)


def get_timeout() -> float:
    return _timeout


def world():
    """The world communicator: every process that ``mpiexec`` started (one process alone is a world of one)."""
    return MPI.COMM_WORLD


def rank(comm=None) -> int:
    """This process's rank in ``comm`` (the world by default): 0 to size - 1; rank 0 prints and saves."""
    return (comm or MPI.COMM_WORLD).Get_rank()


def size(comm=None) -> int:
    """The number of processes of ``comm`` (the world by default)."""
    return (comm or MPI.COMM_WORLD).Get_size()


def _wait(request, comm, what: str) -> None:
    """Complete a non-blocking request, polling it until the deadline; DistributedError after it."""
    if request.Test():
        return
    deadline = time.monotonic() + _timeout
    polls = 0
    while not request.Test():
        polls += 1
        if polls > 200:  # spin briefly (a step's allreduce is usually ready), then poll every <= 100 us
            if time.monotonic() > deadline:
                raise DistributedError(
                    f"rank {comm.Get_rank()} of {comm.Get_size()}: {what} did not complete within {_timeout:g} s: "
                    f"another process has failed, stalled or stopped calling the training step (set "
                    f"${TIMEOUT_ENV} or symgraph.distributed.set_timeout to wait longer)")
            time.sleep(min(1e-4, 1e-6 * (polls - 200)))


def allreduce_sum(comm, array: np.ndarray) -> np.ndarray:
    """The elementwise sum of ``array`` over the processes of ``comm``, a fresh array (what AllReduce computes)."""
    send = np.asarray(array, order="C")  # (ascontiguousarray would make a 0-d value 1-d)
    result = np.empty_like(send)
    if comm.Get_size() == 1:
        result[...] = send
        return result
    _wait(comm.Iallreduce(send, result, op=MPI.SUM), comm,
          f"the allreduce of {send.size} {send.dtype} values (the training step's gradients)")
    return result


def _described(variables: Sequence[Variable]) -> list:
    return [[v.name, list(v.shape), v.dtype.name] for v in variables]


def _allgathered_text(comm, text: str, what: str) -> list[str]:
    """Every process's ``text``, in rank order (non-blocking collectives under the deadline; no pickle)."""
    data = np.frombuffer(text.encode(), np.uint8).copy()
    lengths = np.empty(comm.Get_size(), np.int64)
    _wait(comm.Iallgather(np.array([data.size], np.int64), lengths), comm, what)
    gathered = np.empty(int(lengths.sum()), np.uint8)
    _wait(comm.Iallgatherv(data, (gathered, lengths)), comm, what)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return [gathered[offsets[r]:offsets[r + 1]].tobytes().decode() for r in range(comm.Get_size())]


def _text(entry) -> str:
    name, shape, dtype = entry
    return f"{name!r} {tuple(shape)} {dtype}" if name is not None else f"(unnamed) {tuple(shape)} {dtype}"


def check_same_variables(variables: Sequence[Variable], comm=None) -> None:
    """DistributedError on every process unless all hold the same variables (names, shapes, dtypes, in order): the
    message names the first difference. Collective: every process of ``comm`` must call it."""
    variables = _checked_variables(variables, "check_same_variables")
    comm = comm or MPI.COMM_WORLD
    mine = _described(variables)
    texts = _allgathered_text(comm, json.dumps(mine), "the start-up check that every process built the same model")
    reference = json.loads(texts[0])
    for other_rank, text in enumerate(texts[1:], 1):
        other = json.loads(text)
        for k, (a, b) in enumerate(zip(reference, other)):
            if a != b:
                raise DistributedError(f"the processes built different models: variable {k} is {_text(a)} on rank 0 "
                                       f"but {_text(b)} on rank {other_rank}")
        if len(reference) != len(other):
            k = min(len(reference), len(other))
            extra = _text((reference if len(reference) > k else other)[k])
            raise DistributedError(f"the processes built different models: rank 0 has {len(reference)} variables, "
                                   f"rank {other_rank} has {len(other)} (the first one only one of them has: "
                                   f"variable {k}, {extra})")


def broadcast_variables(variables: Sequence[Variable], comm=None, root: int = 0) -> None:
    """Give every process rank ``root``'s values of ``variables`` (the model's parameters), after checking that all
    processes hold the same variables (``check_same_variables``): every process then starts identical, whatever its
    seed. Collective: every process of ``comm`` must call it with its own variables in the same order."""
    variables = _checked_variables(variables, "broadcast_variables")
    comm = comm or MPI.COMM_WORLD
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < comm.Get_size():
        raise ValueError(f"broadcast_variables: root must be a rank of the communicator (0 to "
                         f"{comm.Get_size() - 1}), got {root!r}, at {user_site()}")
    check_same_variables(variables, comm)
    if comm.Get_size() == 1:
        return
    for variable in variables:
        value = np.array(variable.value, order="C", copy=True)
        _wait(comm.Ibcast(value, root=int(root)), comm, f"the broadcast of {variable.describe()} from rank {root}")
        variable.assign(value)


def _checked_variables(variables, caller: str) -> list[Variable]:
    """A variable or a list of them, as a list; TypeError naming ``caller`` otherwise."""
    variables = _output_list(variables, f"symgraph.distributed.{caller}")
    for position, v in enumerate(variables):
        if not isinstance(v, Variable):
            raise TypeError(f"symgraph.distributed.{caller}: item {position} is not a variable: {v.describe()}, at "
                            f"{user_site()}")
    return variables


def _abort_on_uncaught_exception(kind, value, traceback) -> None:
    """An uncaught exception on one rank: print it, then end every process of the job (the others would otherwise
    wait for this one in their next collective)."""
    _previous_hook(kind, value, traceback)
    if MPI.Is_initialized() and not MPI.Is_finalized() and MPI.COMM_WORLD.Get_size() > 1:
        sys.stderr.write(f"symgraph.distributed: uncaught {kind.__name__} on rank {MPI.COMM_WORLD.Get_rank()} of "
                         f"{MPI.COMM_WORLD.Get_size()}; aborting the job (MPI_Abort)\n")
        sys.stderr.flush()
        time.sleep(ABORT_GRACE_SECONDS)  # mpiexec forwards output through pipes: let the traceback get through
        MPI.COMM_WORLD.Abort(1)


_previous_hook = sys.excepthook
sys.excepthook = _abort_on_uncaught_exception
