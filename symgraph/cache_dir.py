"""Where symgraph keeps what it computes once per machine: ``SYMGRAPH_CACHE_DIR``, else ``~/.cache/symgraph``.

The Numba backend keeps generated modules and compiled code under ``numba/`` (``backends/numba/cache.py``); the
optimizer keeps under ``sympy/`` the regions sympy found nothing simpler for (``passes/sympy_regions.py``).
"""

from __future__ import annotations

import os

CACHE_ENV = "SYMGRAPH_CACHE_DIR"


def cache_root() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "symgraph")


def private_directories(path: str) -> None:
    """Create ``path`` and any missing parents readable by the user alone (makedirs applies its mode to the leaf
    only, and the umask may widen nothing but can narrow it)."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
            os.chmod(directory, 0o700)
        except FileExistsError:  # another process made it meanwhile
            pass
