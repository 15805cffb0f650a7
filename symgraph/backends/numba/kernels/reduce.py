"""Reduction helpers for generated modules: argmax/argmin over the middle axis of an (outer, n, inner) view."""

import numpy as np


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
