"""How many threads symgraph's kernels use: BLAS (both OpenBLAS libraries in the process) and Numba.

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

_ENV_VARIABLES = ("SYMGRAPH_NUM_THREADS", "NUMBA_NUM_THREADS")
_lock = threading.Lock()
_requested: int | None = None


def _from_environment() -> int:
    for name in _ENV_VARIABLES:
        value = os.environ.get(name)
        if value:
            try:
                count = int(value)
            except ValueError:
                raise ValueError(f"{name}={value!r} is not a whole number of threads") from None
            if count >= 1:
                return count
            raise ValueError(f"{name}={value!r}: the number of threads must be at least 1")
    return 1


def get_num_threads() -> int:
    """The number of threads kernels may use (BLAS included)."""
    return _requested if _requested is not None else _from_environment()


def set_num_threads(n: int) -> None:
    """Let symgraph's kernels use ``n`` threads: BLAS libraries (NumPy's and SciPy's OpenBLAS) and Numba."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads needs a whole number of threads >= 1, got {n!r}")
    global _requested
    with _lock:
        _requested = n
        apply(all_blas=True)


def apply(all_blas: bool = False) -> None:
    """Limit the loaded BLAS libraries (by default only SciPy's, which compiled kernels call) and Numba's threads."""
    from threadpoolctl import ThreadpoolController

    count = get_num_threads()
    controller = ThreadpoolController()
    for library in controller.lib_controllers:
        if library.user_api == "blas" and (all_blas or _is_scipys(library.filepath)):
            library.set_num_threads(count)
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))


def _is_scipys(path: str) -> bool:
    """SciPy's BLAS (the one Numba's np.dot calls), not NumPy's own copy."""
    return "scipy" in os.path.basename(os.path.dirname(path))


_kernels_limited = False


def limit_kernels_once() -> None:
    """Apply the limit to the BLAS that compiled kernels call, the first time a compiled function is created."""
    global _kernels_limited
    if not _kernels_limited:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the library so that it can be limited)

        apply()
        _kernels_limited = True
