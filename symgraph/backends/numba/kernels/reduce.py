"""Reduction helpers for generated modules: the accumulation of sums, argmax/argmin over the middle axis of an
(outer, n, inner) view."""

import numpy as np


def accumulate(total, value):
    """total + value, with the kernels' reassociation: inlined into a loop, it lets the sum run in vector lanes of
    partial sums (faster, and more accurate than one serial sum), while the loop's other operations keep their
    order."""
    return total + value


COMBINE_BLOCKS = {"sum": 0, "product": 1, "maximum": 2, "minimum": 3}  # the ``how`` of combine_blocks


def combine_blocks(parts, blocks, how):
    """The first ``blocks`` (> 0) block partials of a reduction combined pairwise in block order (blocks k and
    k + step, for step = 1, 2, 4, ...): deterministic, and as accurate as NumPy's pairwise sum; overwrites ``parts``.
    ``how``: 0 sum, 1 product, 2 maximum, 3 minimum (NaN propagates, as in NumPy). A helper rather than loops in the
    stage: compiled once per machine, it adds almost nothing to a stage's compile time."""
    step = 1
    while step < blocks:
        for k in range(0, blocks - step, 2 * step):
            a, b = parts[k], parts[k + step]
            if how == 0:
                parts[k] = a + b
            elif how == 1:
                parts[k] = a * b
            elif how == 2:
                parts[k] = np.maximum(a, b)
            else:
                parts[k] = np.minimum(a, b)
        step *= 2
    return parts[0]


def argmax_middle(x):
    """The first index of each maximum along axis 1 (NaN counts as the maximum, as NumPy's argmax)."""
    outer, n, inner = x.shape
    result = np.zeros((outer, inner), np.int64)
    for i in range(outer):
        for k in range(inner):
            best = x[i, 0, k]
            if best != best:
                continue
            for j in range(1, n):
                value = x[i, j, k]
                if value > best or value != value:
                    best = value
                    result[i, k] = j
                    if value != value:
                        break
    return result


def argmin_middle(x):
    """The first index of each minimum along axis 1 (NaN counts as the minimum, as NumPy's argmin)."""
    outer, n, inner = x.shape
    result = np.zeros((outer, inner), np.int64)
    for i in range(outer):
        for k in range(inner):
            best = x[i, 0, k]
            if best != best:
                continue
            for j in range(1, n):
                value = x[i, j, k]
                if value < best or value != value:
                    best = value
                    result[i, k] = j
                    if value != value:
                        break
    return result
