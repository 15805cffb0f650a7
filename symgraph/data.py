"""Feeding data: shuffled minibatches from a seeded generator."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from symgraph.graph import user_site
from symgraph.init import as_generator


def minibatches(arrays: Sequence[np.ndarray] | np.ndarray, batch_size: int, rng=None, shuffle: bool = True,
                drop_last: bool = False, shard=None) -> Iterator:
    """Yield aligned slices of ``arrays`` along their first axis, in a fresh random order per call when ``shuffle``.

    ``arrays`` is a list or tuple of arrays of one length (each batch is then a tuple, one slice per array), or a
    single ndarray (each batch is then a slice of it). ``rng`` is a seed or a numpy Generator; passing the same
    Generator every epoch gives a new, reproducible order each epoch. Arguments are checked when this is called,
    not when the first batch is drawn.

    ``shard``: for data-parallel training, ``(index, count)`` or a communicator (its rank and size). Every process
    draws the same global batches of ``batch_size`` (the same order as one process with the same ``rng``, which
    must then be a seed or an equally seeded Generator) and takes part ``index`` of ``count`` of each: contiguous
    parts whose sizes differ by at most one, larger ones first (``np.array_split``), disjoint and together the
    whole batch. Every process yields the same number of batches; a part may be empty when a batch has fewer
    examples than processes.
    """
    single = isinstance(arrays, np.ndarray)
    arrays = _check_arrays([arrays] if single else arrays)
    batch_size = check_batch_size(batch_size)
    shuffle, drop_last = check_flag(shuffle, "shuffle"), check_flag(drop_last, "drop_last")
    part = check_shard(shard, rng, shuffle)
    order, stop = epoch_order(len(arrays[0]), batch_size, rng, shuffle, drop_last, "minibatches")
    return _batches(arrays, order, batch_size, stop, single, part)


def epoch_order(count: int, batch_size: int, rng, shuffle: bool, drop_last: bool, caller: str):
    """The example order of one epoch and where its batches stop: what ``minibatches`` draws, shared by
    ``Function.epoch`` so that both visit the same batches for the same generator state."""
    generator = as_generator(rng, caller)  # checked even when unused, so that a wrong rng never passes
    order = generator.permutation(count) if shuffle else np.arange(count)
    stop = count - count % batch_size if drop_last else count
    return order, stop


def _batches(arrays, order, batch_size, stop, single, part) -> Iterator:
    for start in range(0, stop, batch_size):
        chosen = shard_of(order[start:start + batch_size], part)
        yield arrays[0][chosen] if single else tuple(a[chosen] for a in arrays)


def shard_of(batch: np.ndarray, part: tuple[int, int] | None) -> np.ndarray:
    """Part ``index`` of ``count`` of a batch's example indices (``np.array_split``'s), or the batch when None."""
    if part is None:
        return batch
    index, count = part
    base, extra = divmod(len(batch), count)
    start = index * base + min(index, extra)
    return batch[start:start + base + (index < extra)]


def check_shard(shard, rng, shuffle: bool, caller: str = "minibatches") -> tuple[int, int] | None:
    """``shard`` as (index, count), from a pair or a communicator (anything with Get_rank and Get_size)."""
    if shard is None:
        return None
    if callable(getattr(shard, "Get_rank", None)) and callable(getattr(shard, "Get_size", None)):
        index, count = shard.Get_rank(), shard.Get_size()
    elif isinstance(shard, tuple) and len(shard) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in shard):
        index, count = (int(v) for v in shard)
    else:
        raise TypeError(f"{caller}: shard must be None, an (index, count) pair of ints or a communicator, got "
                        f"{type(shard).__name__} {shard!r:.60}, at {user_site()}")
    if not 0 <= index < count:
        raise ValueError(f"{caller}: shard=({index}, {count}) needs 0 <= index < count, at {user_site()}")
    if shuffle and rng is None and count > 1:
        raise ValueError(f"{caller}: shard= splits one global order across processes, so every process must draw "
                         f"it from the same seed: pass rng= (a seed, or a Generator seeded alike everywhere), at "
                         f"{user_site()}")
    return index, count


def _check_arrays(arrays) -> list[np.ndarray]:
    if not isinstance(arrays, (list, tuple)):
        raise TypeError(f"minibatches: arrays must be an ndarray or a list or tuple of arrays, got "
                        f"{type(arrays).__name__}, at {user_site()}")
    if not arrays:
        raise ValueError(f"minibatches: arrays is empty: pass at least one array, at {user_site()}")
    converted = []
    for position, a in enumerate(arrays):
        try:
            a = np.asarray(a)
        except (TypeError, ValueError) as error:  # a ragged list, a symbolic node
            raise ValueError(f"minibatches: array {position} is not an array ({error}), at {user_site()}") from None
        if a.ndim == 0:
            raise ValueError(f"minibatches: array {position} is a scalar; batches are slices along a first axis, "
                             f"at {user_site()}")
        converted.append(a)
    lengths = [len(a) for a in converted]
    if any(length != lengths[0] for length in lengths):
        raise ValueError(f"minibatches: arrays have different lengths: {lengths}, at {user_site()}")
    return converted


def check_flag(value, what: str, caller: str = "minibatches") -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{caller}: {what} must be True or False, got {type(value).__name__} {value!r:.60}, "
                        f"at {user_site()}")
    return bool(value)


def check_batch_size(batch_size, caller: str = "minibatches") -> int:
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"{caller}: batch_size must be a positive int, got {batch_size!r} "
                        f"({type(batch_size).__name__}), at {user_site()}")
    if batch_size < 1:
        raise ValueError(f"{caller}: batch_size must be positive, got {batch_size}, at {user_site()}")
    return int(batch_size)
