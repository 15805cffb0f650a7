"""Indexing helpers for generated modules: slice normalization, checked indices, one_hot."""


def slice_first_length(size, start, stop, step, has_start, has_stop):
    """Python's slice(start, stop, step).indices(size) as (first index, length); the step is unchanged."""
    if step > 0:
        lower, upper = 0, size
    else:
        lower, upper = -1, size - 1
    if has_start:
        first = max(start + size, lower) if start < 0 else min(start, upper)
    else:
        first = upper if step < 0 else lower
    if has_stop:
        last = max(stop + size, lower) if stop < 0 else min(stop, upper)
    else:
        last = lower if step < 0 else upper
    if step > 0:
        length = (last - first + step - 1) // step if last > first else 0
    else:
        length = (first - last - step - 1) // (-step) if first > last else 0
    return first, length


def one_hot_into(labels, out):
    """out[k, :] = one_hot(labels[k]) for flat labels and a (labels.size, depth) output; 1 if a label is out of
    range (the generated code then raises naming the node)."""
    depth = out.shape[1]
    for k in range(labels.size):
        label = labels[k]
        if label < 0 or label >= depth:
            return 1
        for j in range(depth):
            out[k, j] = 0
        out[k, label] = 1
    return 0
