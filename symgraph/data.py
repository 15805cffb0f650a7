"""Feeding data: shuffled minibatches from a seeded generator."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from symgraph.init import as_generator


def minibatches(arrays: Sequence[np.ndarray], batch_size: int, rng=None, shuffle: bool = True,
                drop_last: bool = False) -> Iterator[tuple]:
    """Yield tuples of aligned slices of ``arrays``, in a fresh random order per call when ``shuffle`` is on.

    ``rng`` is a seed or a numpy Generator; passing the same Generator every epoch gives a new, reproducible order
    each epoch.
    """
    arrays = list(arrays)
    count = len(arrays[0])
    if any(len(a) != count for a in arrays):
        raise ValueError(f"arrays have different lengths: {[len(a) for a in arrays]}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = as_generator(rng).permutation(count) if shuffle else np.arange(count)
    stop = count - count % batch_size if drop_last else count
    for start in range(0, stop, batch_size):
        chosen = order[start:start + batch_size]
        yield tuple(a[chosen] for a in arrays)
