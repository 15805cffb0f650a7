"""How many threads symgraph's kernels use: BLAS (both OpenBLAS libraries in the process), Numba, and the thread
pool that runs large fused loops in block ranges (chunked stages, ``backends/numba/chunking.py``).

The default is one thread, or ``SYMGRAPH_NUM_THREADS`` / ``NUMBA_NUM_THREADS`` when set: on a 2-core machine shared
with another busy process, two OpenBLAS threads made a CNN training step 30-50x slower (their workers spin waiting
for each other), while one thread stayed within 1.6x of the best quiet-machine time. ``sg.set_num_threads(n)`` raises
it for a machine you have to yourself. Limits are set through threadpoolctl on the libraries already loaded, and
again whenever a compiled function is created (BLAS libraries load lazily).
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np

from symgraph.graph import user_site

_ENV_VARIABLES = ("SYMGRAPH_NUM_THREADS", "NUMBA_NUM_THREADS")
_lock = threading.Lock()
_requested: int | None = None


# BLAS libraries and Numba take the count as a C int: a larger one fails inside ctypes, after it was recorded.
MAX_THREADS = 2 ** 31 - 1


def _from_environment() -> int:
    for name in _ENV_VARIABLES:
        value = os.environ.get(name)
        if value:
            try:
                count = int(value)
            except ValueError:
                raise ValueError(f"{name}={value!r} is not a whole number of threads") from None
            if 1 <= count <= MAX_THREADS:
                return count
            raise ValueError(f"{name}={value!r}: the number of threads must be in [1, {MAX_THREADS}]")
    return 1


def get_num_threads() -> int:
    """The number of threads kernels may use (BLAS included)."""
    return _requested if _requested is not None else _from_environment()


def set_num_threads(n: int) -> None:
    """Let symgraph's kernels use ``n`` threads: BLAS libraries (NumPy's and SciPy's OpenBLAS), Numba, and large
    fused loops, whose block ranges then run on up to ``n`` threads (from the next call of a compiled function).

    ``n`` is a Python or NumPy int in [1, MAX_THREADS]; anything else raises ValueError naming set_num_threads and
    the caller's line, before anything changes. If the libraries refuse the limit, the previous one stays recorded.
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_THREADS:
        raise ValueError(f"set_num_threads needs a whole number of threads in [1, {MAX_THREADS}], got "
                         f"{type(n).__name__} {n!r:.60}\n  at {user_site()}")
    global _requested
    with _lock:
        previous, _requested = _requested, int(n)
        try:
            apply()
        except BaseException:
            _requested = previous
            raise


def apply() -> None:
    """Limit the loaded BLAS libraries (NumPy's, whose matmul the compiled functions call, and SciPy's, which Numba's
    linear algebra calls) and Numba's threads."""
    from threadpoolctl import ThreadpoolController

    count = get_num_threads()
    controller = ThreadpoolController()
    for library in controller.lib_controllers:
        if library.user_api == "blas":
            library.set_num_threads(count)
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))


_kernels_limited = False


def limit_kernels_once() -> None:
    """Apply the limit to the BLAS libraries that compiled functions call, the first time one is created."""
    global _kernels_limited
    if not _kernels_limited:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the library so that it can be limited)

        apply()
        _kernels_limited = True
