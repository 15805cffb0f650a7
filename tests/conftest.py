"""Shared test configuration: the backends that the op-table suites run on.

Any test taking a ``backend`` argument runs once per entry of BACKENDS (a parametrization rather than a fixture, so
that hypothesis tests take it too). Adding a backend is adding its ``sg.function`` name here.
"""

import pytest

import symgraph as sg

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
    """Compiled modules go to one directory of this test session (per xdist worker), never the user's cache; a
    function that one test file compiled is found by the next. Tests of the cache itself set their own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYMGRAPH_CACHE_DIR", str(tmp_path_factory.mktemp("numba-cache")))
        yield
