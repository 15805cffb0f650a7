"""Whether ``mpiexec`` started this process among others, and the processes then: the one place that ``symgraph
train`` and the training examples detect a data-parallel launch.

A process is data-parallel when an MPI launcher started it with more than one process: ``mpiexec -n N`` (N > 1)
sets the world's size in the environment of every process it starts (``PMI_SIZE`` for MPICH's and Intel MPI's
Hydra, ``OMPI_COMM_WORLD_SIZE`` for Open MPI, ``PMIX_SIZE`` for PMIx launchers such as Slurm's ``srun``). Only then
is mpi4py imported (through ``symgraph.distributed``); a plain run, or ``mpiexec -n 1``, never loads it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

from symgraph.cli.errors import CliError

LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")


def launched_size(environ=None) -> int:
    """How many processes an MPI launcher started together with this one, from its environment (1 when none did)."""
    environ = os.environ if environ is None else environ
    sizes = [1]
    for name in LAUNCHER_SIZE_VARIABLES:
        text = environ.get(name, "").strip()
        if text:
            try:
                sizes.append(int(text))
            except ValueError:
                raise CliError(f"${name} is {text!r}, not a number of processes: is this process started by an MPI "
                               f"launcher (mpiexec)?") from None
    return max(sizes)


@dataclass(frozen=True)
class Processes:
    """The processes that train together: ``comm`` (an mpi4py communicator, None for one process alone), this
    process's ``rank`` and their ``size``. Rank 0 is the root: the only one that prints, evaluates and writes."""

    comm: object = None
    rank: int = 0
    size: int = 1

    @property
    def root(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.comm is not None

    def sum(self, values) -> np.ndarray:
        """The elementwise float64 sum of ``values`` over the processes (collective: every process must call it)."""
        values = np.asarray(values, np.float64)
        if self.comm is None:
            return values.copy()
        from symgraph import distributed

        return distributed.allreduce_sum(self.comm, values)

    def broadcast(self, variables) -> None:
        """Give every process rank 0's values of ``variables``, after checking that all hold the same ones
        (``symgraph.distributed.broadcast_variables``); nothing for one process."""
        if self.comm is not None:
            from symgraph import distributed

            distributed.broadcast_variables(list(variables), self.comm)


SINGLE = Processes()


@functools.lru_cache(maxsize=None)
def processes() -> Processes:
    """This job's processes: the MPI world when ``mpiexec -n N`` (N > 1) started this process, else ``SINGLE``
    (without importing mpi4py). CliError when launched by mpiexec but mpi4py is missing."""
    launched = launched_size()
    if launched <= 1:
        return SINGLE
    try:
        from symgraph import distributed
    except ImportError as error:
        raise CliError(f"started by mpiexec with {launched} processes (data-parallel training), but {error}") from None
    world = distributed.world()
    return Processes(world, distributed.rank(world), distributed.size(world))
