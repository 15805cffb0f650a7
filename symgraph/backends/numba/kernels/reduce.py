"""Reduction helpers for generated modules: the accumulation of sums, argmax/argmin over the middle axis of an
(outer, n, inner) view."""

import numpy as np


def accumulate(total, value):
    """total + value, with the kernels' reassociation: inlined into a loop, it lets the sum run in vector lanes of
    partial sums (faster, and more accurate than one serial sum), while the loop's other operations keep their
    order."""
    return total + value


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
