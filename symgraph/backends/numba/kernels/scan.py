"""Scan kernels for generated modules: running sums and products and the linear recurrence along the middle axis of
C-contiguous (outer, n, inner) views, one pass in order (NumPy's cumsum and cumprod add and multiply in order too).
The innermost loop runs over the contiguous last axis without branches, so independent scans share vector lanes."""


def cumsum_middle(x, out, reverse):
    """out[:, j] = x[:, 0] + ... + x[:, j] (reverse: x[:, j] + ... + x[:, n - 1]), in out's dtype."""
    outer, n, inner = x.shape
    for i in range(outer):
        for step in range(n):
            j = n - 1 - step if reverse else step
            if step == 0:
                for k in range(inner):
                    out[i, j, k] = x[i, j, k]
            else:
                previous = j + 1 if reverse else j - 1
                for k in range(inner):
                    out[i, j, k] = out[i, previous, k] + x[i, j, k]


def cumprod_middle(x, out):
    """out[:, j] = x[:, 0] * ... * x[:, j], in out's dtype."""
    outer, n, inner = x.shape
    for i in range(outer):
        for j in range(n):
            if j == 0:
                for k in range(inner):
                    out[i, 0, k] = x[i, 0, k]
            else:
                for k in range(inner):
                    out[i, j, k] = out[i, j - 1, k] * x[i, j, k]


def linear_recurrence_middle(a, b, out, reverse):
    """out[:, j] = b[:, j] + a[:, j] * out[:, j - 1] (reverse: b[:, j] + a[:, j + 1] * out[:, j + 1])."""
    outer, n, inner = b.shape
    for i in range(outer):
        for step in range(n):
            j = n - 1 - step if reverse else step
            if step == 0:
                for k in range(inner):
                    out[i, j, k] = b[i, j, k]
            else:
                previous = j + 1 if reverse else j - 1
                multiplier = j + 1 if reverse else j  # h_j = b_j + a_{j(+1)} h_{previous}
                for k in range(inner):
                    out[i, j, k] = b[i, j, k] + a[i, multiplier, k] * out[i, previous, k]
