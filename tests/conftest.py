"""Shared test configuration: the backends that the op-table suites run on.

Any test taking a ``backend`` argument runs once per entry of BACKENDS (a parametrization rather than a fixture, so
that hypothesis tests take it too). Adding a backend is adding its ``sg.function`` name here.
"""

import os

import pytest

import symgraph as sg
from symgraph.passes import sympy_regions

BACKENDS = ["numpy"]


class Backend:
    """Runs outputs with feeds through placeholders, so that compiled backends see real inputs, never constants."""

    def __init__(self, name: str):
        self.name = name

    def run(self, inputs, outputs, values):
        """The values of ``outputs`` (a list) with placeholders ``inputs`` fed ``values``, without graph rewrites."""
        function = sg.function(list(inputs), list(outputs), backend=self.name, optimize=False)
        return function(*values)

    def __repr__(self):
        return f"Backend({self.name!r})"


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", [Backend(name) for name in BACKENDS], ids=BACKENDS)


@pytest.fixture(scope="session", autouse=True)
def numba_cache(tmp_path_factory):
    """Compiled modules go to one directory of this test session, never the user's cache: a function or helper
    kernel that one test (or xdist worker, or subprocess) compiled is loaded by the next, as processes share a
    user's cache. Tests of the cache itself set their own."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # xdist: popen-gw0, gw1, ... beside
    directory = shared / "numba-cache"  # symgraph creates it, private to the user
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYMGRAPH_CACHE_DIR", str(directory))
        # Nor are the optimizer's sympy verdicts kept on disk in this process: tests of the sympy pass reset its
        # in-memory cache and expect sympy to run (tests/test_sympy_regions.py turns them on to test them).
        patch.setattr(sympy_regions, "VERDICTS_ON_DISK", False)
        yield
