"""Dropout: inverted dropout driven by a random stream whose state lives in the graph."""

from __future__ import annotations

from symgraph.graph import Node, as_node, builder
from symgraph.nn.arguments import argument_error, number_in, optional_seed, training_mode
from symgraph.ops import where
from symgraph.ops.random import RandomStream, random_uniform_like


@builder
def dropout(x, rate: float, training=True, seed: int | None = None, stream: RandomStream | None = None,
            name=None) -> Node:
    """Zero each element with probability ``rate`` and scale the rest by 1 / (1 - rate) (inverted dropout).

    ``training`` is a Python bool or a bool scalar node (so one graph can serve training and inference). The mask is
    fresh at every call of a compiled function and reproducible from ``seed`` (or from the given ``stream``).
    """
    x = as_node(x)
    rate = number_in(rate, "dropout: rate", x, 0.0, 1.0, high_open=True)
    training = training_mode(training, "dropout", x)
    seed = optional_seed(seed, "dropout: seed", x)
    if stream is not None and not isinstance(stream, RandomStream):
        raise argument_error("dropout: stream must be a RandomStream or None", stream, x)
    if training is False or rate == 0.0:
        return x
    keep = random_uniform_like(x, stream, seed, dtype=x.dtype) >= rate
    dropped = where(keep, x * (1.0 / (1.0 - rate)), 0, name=name if training is True else None)
    if training is True:
        return dropped
    return where(training, dropped, x, name=name)
