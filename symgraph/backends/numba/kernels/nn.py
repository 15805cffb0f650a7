"""Softmax-family kernels for generated modules, following scipy.special's formulas step by step (the NumPy
reference's) so that infinities and NaN come out where the reference puts them.

Arrays arrive as C-contiguous (outer, n, inner) views: each row x[o, :, k] is one softmax (or one reduction).
Everything is computed in the arrays' dtype, as the reference computes (float32 stays float32).
"""

import numpy as np

INLINED = ("row_max", "shift_row", "logsumexp_row")


def row_max(row):
    """The largest value of a non-empty row, NaN if the row holds one (as np.max)."""
    largest = row[0]
    for j in range(1, row.size):
        value = row[j]
        if value > largest or value != value:
            largest = value
    return largest


def shift_row(row, shifted):
    """shifted = row - shift, with scipy's log_softmax shift (the maximum, 0 when it is not finite); returns the
    log-normalizer log(sum(exp(shifted))) of a non-empty row.

    Callers subtract the normalizer from ``shifted`` in a later pass over memory: written as one expression,
    (row - shift) - normalizer, fastmath's reassociation may compute row - (shift + normalizer), which loses the
    normalizer in the rounding of a large shift.
    """
    zero = row.dtype.type(0)
    shift = row_max(row)
    if not np.isfinite(shift):
        shift = zero
    total = zero
    for j in range(row.size):
        value = row[j] - shift
        shifted[j] = value
        total += np.exp(value)
    return np.log(total)


def softmax_middle(x, out):
    """out[o, :, k] = softmax(x[o, :, k]): exp(x - max) / sum, NaN for rows holding NaN or an infinite maximum."""
    outer, n, inner = x.shape
    if n == 0:
        return
    zero = x.dtype.type(0)
    for o in range(outer):
        for k in range(inner):
            row, result = x[o, :, k], out[o, :, k]
            largest = row_max(row)
            total = zero
            for j in range(n):
                shifted = np.exp(row[j] - largest)
                result[j] = shifted
                total += shifted
            for j in range(n):
                result[j] = result[j] / total


def log_softmax_middle(x, out):
    """out[o, :, k] = log_softmax(x[o, :, k]) = (x - shift) - log(sum(exp(x - shift)))."""
    outer, n, inner = x.shape
    if n == 0:
        return
    for o in range(outer):
        for k in range(inner):
            result = out[o, :, k]
            normalizer = shift_row(x[o, :, k], result)
            for j in range(n):
                result[j] -= normalizer


def logsumexp_row(row):
    """scipy's logsumexp of a row: NaN if it holds NaN, +inf if it holds +inf, -inf if empty or all -inf; else
    max + log1p(s / m) + log(m), where m counts the maxima and s sums exp(x - max) over the other elements."""
    zero, one = row.dtype.type(0), row.dtype.type(1)
    if row.size == 0:
        return row.dtype.type(-np.inf)
    largest = row_max(row)
    if not np.isfinite(largest):
        return largest  # NaN, +inf, or the -inf of a row of -inf
    ties, rest = zero, zero
    for j in range(row.size):
        if row[j] == largest:
            ties += one
        else:
            rest += np.exp(row[j] - largest)
    return np.log1p(rest / ties) + np.log(ties) + largest


def logsumexp_middle(x, out):
    """out[o, k] = logsumexp(x[o, :, k])."""
    outer, n, inner = x.shape
    for o in range(outer):
        for k in range(inner):
            out[o, k] = logsumexp_row(x[o, :, k])


def sparse_softmax_cross_entropy_rows(logits, labels, out, shifted):
    """out[r] = -log_softmax(logits[r])[labels[r]] for logits (rows, classes); returns -1, or the first row whose
    label is outside [0, classes) (the caller raises: a message naming the node cannot be formatted here).
    ``shifted`` (classes values of the logits' dtype) is shift_row's buffer: the caller allocates it, since an array
    allocated in compiled code costs a cold start ~0.1 s of compiling np.empty."""
    rows, classes = logits.shape
    for r in range(rows):
        label = labels[r]
        if label < 0 or label >= classes:
            return r
        normalizer = shift_row(logits[r], shifted)
        out[r] = -(shifted[label] - normalizer)
    return -1


def softmax_cross_entropy_rows(logits, targets, out, shifted):
    """out[r] = -sum(targets[r] * log_softmax(logits[r])): log_softmax in the logits' dtype, the products and their
    sum in out's (the promoted) dtype; 0 * -inf gives NaN, as in the reference. ``shifted``: as in
    sparse_softmax_cross_entropy_rows."""
    rows, classes = logits.shape
    zero = out.dtype.type(0)
    for r in range(rows):
        total = zero
        if classes:
            normalizer = shift_row(logits[r], shifted)
            for j in range(classes):
                log_probability = shifted[j] - normalizer
                total += out.dtype.type(targets[r, j]) * out.dtype.type(log_probability)
        out[r] = -total
