"""Scan kernels for generated modules: running sums and products and the linear recurrence along the middle axis of
C-contiguous (outer, n, inner) views, one pass in order (NumPy's cumsum and cumprod add and multiply in order too).
The inner loop runs over the contiguous last axis, so the lanes of independent scans vectorize."""


def cumsum_middle(x, out, reverse):
    """out[:, j] = x[:, 0] + ... + x[:, j] (reverse: x[:, j] + ... + x[:, n - 1]), in out's dtype."""
    outer, n, inner = x.shape
    for i in range(outer):
        for step in range(n):
            j = n - 1 - step if reverse else step
            for k in range(inner):
                if step == 0:
                    out[i, j, k] = x[i, j, k]
                else:
                    out[i, j, k] = out[i, j + 1 if reverse else j - 1, k] + x[i, j, k]


def cumprod_middle(x, out):
    """out[:, j] = x[:, 0] * ... * x[:, j], in out's dtype."""
    outer, n, inner = x.shape
    for i in range(outer):
        for k in range(inner):
            if n:
                out[i, 0, k] = x[i, 0, k]
        for j in range(1, n):
            for k in range(inner):
                out[i, j, k] = out[i, j - 1, k] * x[i, j, k]


def linear_recurrence_middle(a, b, out, reverse):
    """out[:, j] = b[:, j] + a[:, j] * out[:, j - 1] (reverse: b[:, j] + a[:, j + 1] * out[:, j + 1])."""
    outer, n, inner = b.shape
    for i in range(outer):
        for step in range(n):
            j = n - 1 - step if reverse else step
            for k in range(inner):
                if step == 0:
                    out[i, j, k] = b[i, j, k]
                elif reverse:
                    out[i, j, k] = b[i, j, k] + a[i, j + 1, k] * out[i, j + 1, k]
                else:
                    out[i, j, k] = b[i, j, k] + a[i, j, k] * out[i, j - 1, k]
