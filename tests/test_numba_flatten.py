"""Source-level inlining of kernel helpers (symgraph/backends/numba/flatten.py): flattened functions compute what the
functions they come from compute, call none of the module's other functions, and refuse helpers they cannot inline."""

import ast

import pytest

from symgraph.backends.numba.flatten import flattened_function

MODULE = '''
def pick(condition, a, b):
    return a if condition else b


def halves(n):
    """Two halves of n, the second carrying the odd unit."""
    low = n // 2
    return low, n - low


def clamp(value, bound):
    value = pick(value > bound, bound, value)
    return value


def combine(x, y):
    """A helper calling helpers, with its arguments made of calls."""
    low, high = halves(clamp(x * 3, 40) + clamp(y, 7))
    low_1 = low * 10
    return pick(x > y, low_1 + high, high - low_1) + clamp(low_1, 25)
'''


def _functions(sources):
    namespace = {}
    for source in sources:
        exec(source, namespace)
    return namespace


def test_flattened_functions_compute_what_the_originals_compute():
    original = _functions([MODULE])
    flat = _functions(["def pick(condition, a, b):\n    return a if condition else b\n"]
                      + [flattened_function(MODULE, name, {"pick"}) for name in ("halves", "clamp", "combine")])
    for x in range(-5, 30, 3):
        for y in range(-4, 12, 5):
            assert flat["combine"](x, y) == original["combine"](x, y), (x, y)
            assert flat["halves"](x) == original["halves"](x)
            assert flat["clamp"](x, y) == original["clamp"](x, y)


def test_flattened_functions_call_only_what_is_provided():
    """No call of the module's other functions is left; ``pick``, provided, stays a call; names are kept apart
    (combine's own low_1 is not the inlined helpers' locals); docstrings stay."""
    trees = {name: ast.parse(flattened_function(MODULE, name, {"pick"})).body[0]
             for name in ("halves", "clamp", "combine")}
    for name, tree in trees.items():
        called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert called <= {"pick"}, (name, called)
    assert ast.get_docstring(trees["combine"]) == "A helper calling helpers, with its arguments made of calls."


@pytest.mark.parametrize("helper, message", [
    ("def branchy(x):\n    if x > 0:\n        return x\n    return -x\n", "only assignments followed by one return"),
    ("def looping(x):\n    for i in range(3):\n        x = x + i\n    return x\n", "only assignments followed"),
    ("def defaults(x, y=2):\n    return x * y\n", "passing every parameter by position"),
])
def test_helpers_that_cannot_be_inlined_are_refused_by_name(helper, message):
    name = helper.split("(")[0][4:]
    caller = f"\n\ndef caller(x):\n    return {name}(x) + 1\n"
    with pytest.raises(ValueError, match=message) as error:
        flattened_function(helper + caller, "caller", set())
    assert name in str(error.value)
