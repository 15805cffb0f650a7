"""Reduction helpers for generated modules: the accumulation of sums, argmax/argmin over the middle axis of an
(outer, n, inner) view."""

import numpy as np

# Called by the loops alone, never from Python (compiled without a CPython wrapper).
COMPILED_CALLERS_ONLY = ("accumulate", "sum_blocks", "combine_blocks")


def accumulate(total, value):
    """total + value, with the kernels' reassociation: inlined into a loop, it lets the sum run in vector lanes of
    partial sums (faster, and more accurate than one serial sum), while the loop's other operations keep their
    order."""
    return total + value


COMBINE_BLOCKS = {"product": 1, "maximum": 2, "minimum": 3}  # the ``how`` of combine_blocks ("sum": sum_blocks)


def sum_blocks(parts, blocks):
    """The sum of the first ``blocks`` (> 0) block partials, added pairwise in block order (blocks k and k + step,
    for step = 1, 2, 4, ...): deterministic, and as accurate as NumPy's pairwise sum; overwrites ``parts``. A helper
    rather than loops in each stage: compiled once per machine (0.12 s), not once per graph. Sums (and means) have
    their own, as the most frequent whole-loop reductions: the general combine_blocks compiles in twice the time."""
    step = 1
    while step < blocks:
        for k in range(0, blocks - step, 2 * step):
            parts[k] = parts[k] + parts[k + step]
        step *= 2
    return parts[0]


def combine_blocks(parts, blocks, how):
    """sum_blocks' pairwise order for the other reductions, ``how``: 1 product, 2 maximum, 3 minimum (NaN
    propagates, as in NumPy)."""
    step = 1
    while step < blocks:
        for k in range(0, blocks - step, 2 * step):
            a, b = parts[k], parts[k + step]
            if how == 1:
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
