"""Collective ops: values summed across the processes of an MPI communicator, for data-parallel training.

A collective op is marked ``collective = True`` (see ``Op``): every process of its communicator must compute it, in
the same order, or the others wait for it. Constant folding leaves it alone, and the Numba backend cuts its compiled
program there and runs the collective from Python between compiled segments (``symgraph/backends/segments.py``).

This module never imports mpi4py: a communicator is whatever object the user passes (``symgraph.distributed.world()``
or any mpi4py communicator); the reduction itself runs in ``symgraph.distributed``, which is imported when a
collective first computes.

``mean_over_processes`` is what ``opt.updates(cost, params, allreduce=comm)`` puts between the gradients and the
update: each process's gradients of its local mean cost, times its local example count, packed into one flat buffer
with that count as its last element; ONE allreduce sums the buffer; each gradient is its slice divided by the global
count. Uneven batches (a shorter last batch on some ranks) are so weighted by their examples, and the result is the
gradient of the mean over the global batch, as one process would compute it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np

from symgraph.errors import DTypeError
from symgraph.graph import Node, Op, apply, as_node, builder, user_site
from symgraph.ops.elementwise import cast, greater, where
from symgraph.ops.indexing import concatenate
from symgraph.ops.shape import reshape

WORLD = "world"  # how a saved graph names its communicator: the world of whichever job loads it


class Communicator:
    """A hashable handle on an mpi4py communicator (op attributes compare and hash; mpi4py's communicators do not
    hash). Two handles are equal when they hold the same communicator."""

    __slots__ = ("comm",)

    def __init__(self, comm):
        if isinstance(comm, Communicator):
            comm = comm.comm
        if not all(callable(getattr(comm, method, None)) for method in ("Iallreduce", "Get_size", "Get_rank")):
            raise TypeError(f"comm must be an mpi4py communicator (symgraph.distributed.world(), MPI.COMM_WORLD or "
                            f"one made from it), got {type(comm).__name__} {comm!r:.60}")
        self.comm = comm

    @classmethod
    def world(cls) -> "Communicator":
        """The world communicator of this job (imports symgraph.distributed, hence mpi4py)."""
        from symgraph import distributed

        return cls(distributed.world())

    @property
    def size(self) -> int:
        return self.comm.Get_size()

    def is_world(self) -> bool:
        """Whether this communicator joins the processes of the world in the world's order (COMM_WORLD itself or
        a duplicate of it): what a saved graph's ``"world"`` means when it is loaded."""
        from mpi4py import MPI

        return MPI.Comm.Compare(self.comm, MPI.COMM_WORLD) in (MPI.IDENT, MPI.CONGRUENT)

    def __eq__(self, other) -> bool:
        return isinstance(other, Communicator) and self.comm == other.comm

    def __hash__(self) -> int:
        return hash(("communicator", self.comm.py2f()))

    def __repr__(self) -> str:
        return WORLD if self.is_world() else f"communicator(size={self.size})"


@dataclass(frozen=True)
class AllReduce(Op):
    """The elementwise sum of x over every process of ``comm`` (MPI_Allreduce with MPI_SUM); every process gets it.

    Its gradient is the allreduce of the output gradient: the derivative of the sum of every process's cost."""

    comm: Communicator
    name: ClassVar[str] = "allreduce"
    collective: ClassVar[bool] = True

    def __post_init__(self):
        if isinstance(self.comm, str) and self.comm == WORLD:  # a loaded graph: the world of the loading job
            object.__setattr__(self, "comm", Communicator.world())

    def infer(self, x):
        if x.dtype.kind not in "fi":
            raise DTypeError(f"allreduce sums numbers: x must be floating or integer, got {x.dtype}")
        return x.shape, x.dtype

    def compute(self, x):
        from symgraph import distributed

        return distributed.allreduce_sum(self.comm.comm, np.asarray(x))

    def grad(self, node, g):
        return [apply(AllReduce(self.comm), g)]

    def flops(self, node, input_shapes, output_shape):
        """One addition per element per other process (what a ring or tree allreduce computes per process)."""
        return int(np.prod(output_shape, dtype=np.int64)) * (self.comm.size - 1)


@builder
def allreduce(x, comm, name=None) -> Node:
    """The sum of ``x`` over every process of ``comm`` (an mpi4py communicator), a collective: every process of
    ``comm`` must compute it, in the same order."""
    x = as_node(x)
    try:
        communicator = Communicator(comm)
    except TypeError as error:
        raise TypeError(f"allreduce: {error}, at {user_site()}") from None
    return apply(AllReduce(communicator), x, name=name)


def mean_over_processes(gradients: Sequence[Node], comm, examples) -> list[Node]:
    """The gradients of the mean cost over the global batch, from each process's ``gradients`` of its local mean
    cost over ``examples`` (a scalar node or an int: the local batch's example count), in ONE allreduce of a packed
    buffer (see the module's docstring). Each result has its gradient's shape and dtype."""
    dtype = np.result_type(*[g.dtype for g in gradients])
    count = cast(examples, dtype) if examples.dtype != dtype else examples
    # A rank without examples (a last global batch smaller than the job) has a NaN mean: it contributes zeros.
    has_examples = greater(count, 0)
    flat = [reshape(where(has_examples, (cast(g, dtype) if g.dtype != dtype else g) * count, 0.0), (-1,))
            for g in gradients]
    total = allreduce(concatenate(flat + [reshape(count, (1,))], axis=0), comm, name="gradients_summed")
    global_count = total[-1]
    averaged, start = [], 0
    for g in gradients:
        size = int(np.prod(g.shape, dtype=np.int64))
        piece = reshape(total[start:start + size], g.shape) / global_count
        averaged.append(cast(piece, g.dtype) if g.dtype != dtype else piece)
        start += size
    return averaged
