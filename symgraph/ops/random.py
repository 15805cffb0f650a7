"""Random numbers inside graphs: a stream's state is a variable, and every compiled call advances it.

A ``RandomStream`` holds an int64 variable [seed, calls]. Its draws are ``random_uniform`` nodes that read that state
and carry the implied update calls += 1, so each call of a compiled function sees fresh numbers while a run is
reproducible from the seed. Numbers come from NumPy's counter-based Philox generator: the key is the seed and the
counter holds the call number and the draw's salt (its position among the stream's draws), so draws are independent.
``evaluate`` applies no updates: evaluating twice gives the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from symgraph import dtypes
from symgraph.graph import Node, Op, apply, as_node, variable
from symgraph.ops.base import no_flops, require_dtype_kind


@dataclass(frozen=True)
class RandomUniform(Op):
    """Uniform [0, 1) numbers shaped like ``like`` at run time, from the stream state [seed, calls]."""

    salt: int
    dtype: np.dtype
    name: ClassVar[str] = "random_uniform"
    flops = no_flops  # Philox is integer work, not floating-point arithmetic

    def infer(self, state, like):
        return like.shape, self.dtype

    def compute(self, state, like):
        seed, calls = (int(v) for v in state)
        counter = np.array([0, 0, calls, self.salt], dtype=np.uint64)
        generator = np.random.Generator(np.random.Philox(key=seed & (2**64 - 1), counter=counter))
        return generator.random(np.shape(like), dtype=self.dtype)

    def grad(self, node, g):
        return [None, None]  # random numbers do not depend on the values of their inputs


class RandomStream:
    """A seeded source of random nodes whose state lives in the graph as a variable."""

    def __init__(self, seed: int | None = None, name: str = "random_stream"):
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**63)
        self.seed = int(seed)
        self.state = variable(np.array([self.seed, 0], dtype=np.int64), name=f"{name}/state", trainable=False)
        self._advanced = self.state + np.array([0, 1], dtype=np.int64)
        self._draws = 0

    def uniform(self, like: Node, dtype=None, name=None) -> Node:
        """Uniform [0, 1) numbers with the run-time shape of ``like``, fresh at every compiled call."""
        like = as_node(like)
        dtype = dtypes.as_dtype(dtype) if dtype is not None else (like.dtype if like.dtype.kind == "f" else
                                                                   dtypes.float32)
        op = RandomUniform(self._draws, dtype)
        self._draws += 1
        return apply(op, self.state, like, name=name, implied_updates=((self.state, self._advanced),))


def random_uniform_like(like, stream: RandomStream | None = None, seed: int | None = None, dtype=None) -> Node:
    """Uniform [0, 1) numbers shaped like ``like``, from ``stream`` or from a new stream seeded with ``seed``."""
    stream = stream if stream is not None else RandomStream(seed)
    node = stream.uniform(like, dtype)
    require_dtype_kind(node, "f", "random numbers")
    return node
