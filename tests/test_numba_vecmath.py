"""The vectorizable math kernels (symgraph/backends/numba/kernels/vecmath.py) against NumPy and SciPy.

The kernels are compiled as generated modules compile them: copied from the kernel module's source into a module
file of their own, decorated with the code generator's @njit (error_model="numpy", its fastmath flags), and called
from a loop ``out[i] = f(x[i])``. Results are compared with the correctly rounded value (the NumPy/SciPy function
computed in float64 for float32 results, in 80-bit long double for float64 results, then rounded), and with the
NumPy/SciPy function computed in the result's dtype; errors are counted in ulps, the distance between the two
floats' positions in the ordered set of floats.
"""

import ast
import importlib.util
import re
import types
import warnings

import llvmlite.binding as llvm
import numba
import numpy as np
import pytest
import scipy.special

from symgraph.backends.numba import codegen
from symgraph.backends.numba.kernels import vecmath

FUNCTIONS = ("exp", "log", "log1p", "expm1", "tanh", "sigmoid", "softplus", "cbrt")
DTYPES = (np.float32, np.float64)
MAX_ULPS = {np.float32: 2, np.float64: 2}  # against the correctly rounded value: the module docstring's claim
LIBRARY_ULPS = 4  # against a library computing in the same dtype: our error plus the library's own
# The active range sampled uniformly, besides random bit patterns over every float.
RANGES = {"exp": (-110, 100), "log": (0, 100), "log1p": (-1, 10), "expm1": (-20, 20), "tanh": (-12, 12),
          "sigmoid": (-40, 40), "softplus": (-40, 40), "cbrt": (-10, 10)}
# Intervals where every float32 is checked: thresholds, denormal results, switches between formulas.
INTERVALS = {
    "exp": [(-104.0, -87.0), (88.0, 89.0), (0.3, 0.4)],
    "log": [(0.0, 1.1754944e-38), (0.7, 1.45)],
    "log1p": [(-0.5, -0.25), (0.4, 0.45), (-1.0, -0.99)],
    "expm1": [(0.3, 0.4), (-0.4, -0.3), (88.0, 89.0)],
    "tanh": [(0.6, 0.65), (8.0, 9.5), (0.001, 0.002)],
    "sigmoid": [(-89.0, -86.0), (-1.0, -0.5)],
    "softplus": [(-104.0, -86.0), (-1.5, -0.5)],
    "cbrt": [(0.9, 1.9), (-1e-39, -1e-45), (2e38, 3.4028235e38)],
}


REFERENCES = {"exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "tanh": np.tanh,
              "sigmoid": scipy.special.expit, "softplus": lambda x: np.logaddexp(x, x.dtype.type(0)),
              "cbrt": np.cbrt}


def reference(name, x):
    """The correctly rounded value in x's dtype: the function computed in a wider type (float64 for float32,
    80-bit long double for float64) and rounded. sigmoid is 0 where exp(-x) overflows in x's dtype, as expit
    computes it in that dtype (1 / (1 + exp(-x)))."""
    with np.errstate(all="ignore"):
        wide = x.astype(np.float64 if x.dtype == np.float32 else np.longdouble)
        value = REFERENCES[name](wide)
        if name == "sigmoid":
            value = np.where(np.exp(-wide).astype(x.dtype) == np.inf, 0.0, value)
        return np.asarray(value).astype(x.dtype)


def library(name, x):
    """NumPy's (SciPy's) own result in x's dtype."""
    with np.errstate(all="ignore"):
        return np.asarray(REFERENCES[name](x)).astype(x.dtype)


def require_correctly_rounded_reference(dtype):
    if dtype == np.float64 and np.finfo(np.longdouble).nmant < 63:
        pytest.skip("long double is no wider than float64 here: no correctly rounded float64 reference")


def kernel_name(name, dtype):
    return f"{name}_f{np.dtype(dtype).itemsize * 8}"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Each kernel and a ``loop_<kernel>(x, out)`` over it, decorated as generated loops are, in a module holding
    the kernel file that generated modules load (the kernel flattened, decorated as they decorate helpers), loaded
    from a file (Numba's cache=True needs one)."""
    folder = tmp_path_factory.mktemp("vecmath")
    loops = {}
    for name in FUNCTIONS:
        for dtype in DTYPES:
            kernel = kernel_name(name, dtype)
            path = folder / f"loop_{kernel}.py"
            path.write_text(codegen.kernel_file("vecmath", kernel)[1].source
                            + f"\n\nLOOP_FASTMATH = {codegen.LOOP_FASTMATH}\n\n\n@{codegen.LOOP_NJIT}\n"
                            + f"def loop_{kernel}(x, out):\n    for i in range(x.size):\n        out[i] = {kernel}(x[i])\n")
            spec = importlib.util.spec_from_file_location(f"loop_{kernel}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loops[f"loop_{kernel}"], loops[kernel] = getattr(module, f"loop_{kernel}"), getattr(module, kernel)
    return types.SimpleNamespace(**loops)


def run(generated, name, x):
    """The kernel applied to every element of x by its compiled loop."""
    out = np.empty_like(x)
    getattr(generated, "loop_" + kernel_name(name, x.dtype))(x, out)
    return out


def ordinal(values):
    """Each float's position in the ordered set of floats of its dtype (-0 and +0 share position 0)."""
    signed = np.int32 if values.dtype == np.float32 else np.int64
    bits = values.view(signed).astype(np.int64)
    magnitude = bits & np.int64(np.iinfo(signed).max)
    return np.where(bits < 0, -magnitude, magnitude)


def ulp_distance(got, expected):
    """Distance in ulps; two NaNs are equal, NaN against a number is infinitely far."""
    both_nan = np.isnan(got) & np.isnan(expected)
    distance = np.abs(ordinal(got) - ordinal(expected))
    distance[np.isnan(got) != np.isnan(expected)] = np.iinfo(np.int64).max
    distance[both_nan] = 0
    return distance


def assert_within_ulps(name, x, got, expected, limit):
    distance = ulp_distance(got, expected)
    worst = int(np.argmax(distance))
    assert distance[worst] <= limit, (
        f"{kernel_name(name, x.dtype)}({x[worst]!r}) = {got[worst]!r}, expected {expected[worst]!r}: "
        f"{distance[worst]} ulps (limit {limit}); {np.count_nonzero(distance > limit)} of {x.size} inputs over")


def every_float32(low, high):
    """Every float32 in [low, high], an interval on one side of zero."""
    assert low * high >= 0, (low, high)
    ends = np.array([low, high], np.float32).view(np.int32).astype(np.int64)
    assert ends.max() - ends.min() <= 1 << 24, "keep each interval to 16M floats (memory)"
    return np.arange(ends.min(), ends.max() + 1, dtype=np.int64).astype(np.int32).view(np.float32)


def dense_samples(name, dtype, seed):
    """Random bit patterns (every magnitude, infinities and NaNs), then uniform samples of the function's active
    range: a million of each."""
    rng = np.random.default_rng(seed)
    signed = np.int32 if dtype == np.float32 else np.int64
    bits = rng.integers(np.iinfo(signed).min, np.iinfo(signed).max, 1 << 20, dtype=signed, endpoint=True)
    patterns = bits.view(dtype)
    low, high = RANGES[name]
    uniform = rng.uniform(low, high, 1 << 20).astype(dtype)
    return np.concatenate([patterns, uniform])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_dense_samples_within_stated_ulps(generated, name, dtype):
    require_correctly_rounded_reference(dtype)
    x = dense_samples(name, dtype, seed=FUNCTIONS.index(name))
    assert_within_ulps(name, x, run(generated, name, x), reference(name, x), MAX_ULPS[dtype])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_float32_of_the_delicate_intervals(generated, name):
    for low, high in INTERVALS[name]:
        x = every_float32(low, high)
        assert_within_ulps(name, x, run(generated, name, x), reference(name, x), MAX_ULPS[np.float32])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_exp_overflows_and_underflows_where_the_correctly_rounded_value_does(generated, dtype):
    require_correctly_rounded_reference(dtype)
    if dtype == np.float32:
        edges = [every_float32(88.7, 88.8), every_float32(-103.9, -104.0)]
    else:  # every float64 around the edges is too many: the nearest hundred thousand on each side
        edges = [np.nextafter(np.float64(709.782712893384), np.inf) + np.arange(-50000, 50000) * 2.0 ** -43,
                 np.float64(-745.1332191019412) + np.arange(-50000, 50000) * 2.0 ** -43]
    for x in edges:
        got, expected = run(generated, "exp", x), reference("exp", x)
        assert 0 < np.count_nonzero(np.isinf(expected) | (expected == 0)) < x.size  # the edge is inside
        np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
        np.testing.assert_array_equal(got == 0, expected == 0)


SPECIALS = [  # (function, input, expected): NumPy/SciPy give the same in both dtypes
    ("exp", np.nan, np.nan), ("exp", np.inf, np.inf), ("exp", -np.inf, 0.0), ("exp", 0.0, 1.0),
    ("exp", -0.0, 1.0), ("exp", 1e4, np.inf), ("exp", -1e4, 0.0),
    ("log", np.nan, np.nan), ("log", 0.0, -np.inf), ("log", -0.0, -np.inf), ("log", -1.0, np.nan),
    ("log", -np.inf, np.nan), ("log", np.inf, np.inf), ("log", 1.0, 0.0),
    ("log1p", np.nan, np.nan), ("log1p", -1.0, -np.inf), ("log1p", -2.0, np.nan), ("log1p", np.inf, np.inf),
    ("log1p", -np.inf, np.nan), ("log1p", 0.0, 0.0), ("log1p", -0.0, -0.0),
    ("expm1", np.nan, np.nan), ("expm1", np.inf, np.inf), ("expm1", -np.inf, -1.0), ("expm1", 0.0, 0.0),
    ("expm1", -0.0, -0.0), ("expm1", 1e4, np.inf), ("expm1", -1e4, -1.0),
    ("tanh", np.nan, np.nan), ("tanh", np.inf, 1.0), ("tanh", -np.inf, -1.0), ("tanh", 0.0, 0.0),
    ("tanh", -0.0, -0.0), ("tanh", 1e4, 1.0), ("tanh", -1e4, -1.0),
    ("sigmoid", np.nan, np.nan), ("sigmoid", np.inf, 1.0), ("sigmoid", -np.inf, 0.0), ("sigmoid", 0.0, 0.5),
    ("sigmoid", 1000.0, 1.0), ("sigmoid", -1000.0, 0.0),
    ("softplus", np.nan, np.nan), ("softplus", np.inf, np.inf), ("softplus", -np.inf, 0.0),
    ("softplus", 1000.0, 1000.0), ("softplus", -1000.0, 0.0), ("softplus", 0.0, np.log(2.0)),
    ("cbrt", np.nan, np.nan), ("cbrt", np.inf, np.inf), ("cbrt", -np.inf, -np.inf), ("cbrt", 0.0, 0.0),
    ("cbrt", -0.0, -0.0), ("cbrt", 8.0, 2.0), ("cbrt", -0.125, -0.5), ("cbrt", 1.0, 1.0),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, value, expected", SPECIALS)
def test_special_values_exactly(generated, name, value, expected, dtype):
    x = np.array([value], dtype)
    got = run(generated, name, x)[0]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        numpy_value = library(name, x)[0]
    for claimed in (dtype(expected), numpy_value):
        assert (np.isnan(got) and np.isnan(claimed)) or (got == claimed and np.signbit(got) == np.signbit(claimed)), (
            f"{kernel_name(name, dtype)}({value!r}) = {got!r}, expected {claimed!r}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["log", "log1p", "expm1", "tanh", "exp", "cbrt"])
def test_denormal_inputs(generated, name, dtype):
    require_correctly_rounded_reference(dtype)
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([tiny, -tiny, 3 * tiny, np.finfo(dtype).smallest_normal / 3], dtype)
    if name == "log":
        x = np.abs(x)
    got, expected = run(generated, name, x), reference(name, x)
    assert_within_ulps(name, x, got, expected, MAX_ULPS[dtype])
    if name not in ("exp", "log", "cbrt"):  # f(x) = x for tiny x: exactly, with its sign
        np.testing.assert_array_equal(got, x)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(x))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_float64_agrees_with_numpy(generated, name):
    x = dense_samples(name, np.float64, seed=10 + FUNCTIONS.index(name))
    assert_within_ulps(name, x, run(generated, name, x), library(name, x), LIBRARY_ULPS)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_matches_scipy_expit_and_logaddexp_in_their_dtype(generated, name, dtype):
    """sigmoid against scipy.special.expit (the NumPy backend's reference), softplus against np.logaddexp(x, 0),
    computed in the same dtype; sigmoid is 0 exactly where expit is."""
    x = np.concatenate([np.linspace(-800, 800, 400001), every_float32(-89.0, -88.0)]).astype(dtype)
    got, expected = run(generated, name, x), library(name, x)
    assert expected.dtype == dtype
    if name == "sigmoid":
        np.testing.assert_array_equal(got == 0, expected == 0)
    assert_within_ulps(name, x, got, expected, LIBRARY_ULPS)


def _native_ir(dispatcher):
    """The LLVM IR of the compiled function itself, without Numba's Python wrappers."""
    ir = dispatcher.inspect_llvm(dispatcher.signatures[0])
    bodies = re.findall(r"^define [^\n]*\n.*?^}", ir, flags=re.S | re.M)
    return "\n".join(b for b in bodies if "cpython" not in b.split("\n")[0] and "cfunc" not in b.split("\n")[0])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_kernels_compute_in_their_dtype(generated, name, dtype):
    kernel = getattr(generated, kernel_name(name, dtype))
    kernel.compile((numba.from_dtype(np.dtype(dtype)),))  # no CPython wrapper (compiled callers only): not called
    signature = kernel.signatures[0]
    assert kernel.overloads[signature].signature.return_type == numba.from_dtype(np.dtype(dtype))
    if dtype == np.float32:
        ir = _native_ir(kernel)
        assert "double" not in ir, f"{kernel_name(name, dtype)} widens to float64:\n{ir}"


def _host_has_avx2():
    return bool(llvm.get_host_cpu_features().get("avx2", False))


@pytest.mark.skipif(not _host_has_avx2(), reason="the CPU has no AVX2: the loops are not expected to use ymm/zmm vectors")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_loops_are_vectorized(generated, name, dtype):
    """The kernel is inlined into the loop and the loop vectorized: packed multiplies or FMAs on ymm registers, or
    zmm where the CPU has AVX-512 (vmulps/vfmadd...ps for float32, ...pd for float64); a kernel too costly to
    inline stays a scalar call."""
    loop = getattr(generated, "loop_" + kernel_name(name, dtype))
    x = np.ones(64, dtype)
    loop(x, np.empty_like(x))
    assembly = loop.inspect_asm(loop.signatures[0])
    suffix = "ps" if dtype == np.float32 else "pd"
    packed = re.findall(rf"\b(?:vmul{suffix}|vfn?m(?:add|sub)\d+{suffix})\s+[^\n]*[yz]mm", assembly)
    assert len(packed) >= 8, f"loop_{kernel_name(name, dtype)} has {len(packed)} packed ymm/zmm multiplies"


def test_kernel_module_is_only_undecorated_functions():
    """Generated modules copy functions by name and import only numpy: the kernel module can hold nothing else, and
    calls no builtins (Python's min and max would each compile as a function of their own)."""
    tree = ast.parse(open(vecmath.__file__).read())
    docstring, imports, functions = tree.body[0], tree.body[1:2], tree.body[2:]
    assert isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant)
    assert [ast.unparse(i) for i in imports] == ["import numpy as np"]
    assert functions and all(isinstance(f, ast.FunctionDef) and not f.decorator_list for f in functions)
    names = {f.name for f in functions}
    assert {kernel_name(n, d) for n in FUNCTIONS for d in DTYPES} <= names
    for function in functions:
        local = {a.arg for a in function.args.args} | {
            t.id for node in ast.walk(function) if isinstance(node, ast.Assign)
            for t in ast.walk(node) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
        used = {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        assert used <= local | names | {"np"}, (function.name, used - local - names)


def test_each_kernel_compiles_as_one_function(tmp_path):
    """Kernel files hold flat kernels: compiling a loop over one, in a module of its own, compiles the loop and the
    kernel alone (its helpers written out in it, selects and bit casts as instructions), nothing of the chain of
    helpers it is written as."""
    path = tmp_path / "flat_softplus.py"
    path.write_text(codegen.kernel_file("vecmath", "softplus_f32")[1].source
                    + f"\n\nLOOP_FASTMATH = {codegen.LOOP_FASTMATH}\n\n\n@{codegen.LOOP_NJIT}\n"
                    + "def loop(x, out):\n    for i in range(x.size):\n        out[i] = softplus_f32(x[i])\n")
    spec = importlib.util.spec_from_file_location("flat_softplus", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    compiled = []

    class Listener(numba.core.event.Listener):
        def on_start(self, event):
            compiled.append(event.data["dispatcher"].py_func.__name__)

        def on_end(self, event):
            pass

    listener = Listener()
    numba.core.event.register("numba:compile", listener)
    try:
        x = np.linspace(-3, 3, 7, dtype=np.float32)
        out = np.empty_like(x)
        module.loop(x, out)
    finally:
        numba.core.event.unregister("numba:compile", listener)
    assert compiled == ["loop", "softplus_f32"], compiled
    np.testing.assert_allclose(out, np.logaddexp(x, np.float32(0)), rtol=1e-6)
