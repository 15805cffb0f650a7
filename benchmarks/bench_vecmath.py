"""Milliseconds per million elements of the vectorizable math kernels (kernels/vecmath.py) in a Numba loop, against
NumPy on arrays, a Numba loop calling np.* on scalars (what generated loops did before) and PyTorch when installed;
then the elementwise graph sum(tanh(x*a + b) * sigmoid(x) + exp(-x*x)) and its hand-derived gradient in one loop,
and the same graph compiled by symgraph (its generated loop sums in blocks whose partials are combined pairwise).

Everything runs on one thread (Numba loops and NumPy ufuncs are serial, torch is set to one thread). Prints figures,
medians of --repeats runs (the machine may be shared); asserts nothing, but prints how far each result is from
NumPy's in float64. Run: python benchmarks/bench_vecmath.py
"""

import argparse
import ast
import importlib.util
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.special

from symgraph.backends.numba import codegen
from symgraph.backends.numba.kernels import vecmath

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # a peer for comparison only (the "peers" extra)
    torch = None

FUNCTIONS = ("exp", "log", "log1p", "expm1", "tanh", "sigmoid", "softplus")
INPUT_RANGES = {"exp": (-80, 80), "log": (1e-3, 1e3), "log1p": (-0.9, 10), "expm1": (-10, 10), "tanh": (-5, 5),
                "sigmoid": (-20, 20), "softplus": (-20, 20)}
SCALAR_NUMPY = {"sigmoid": "{one} / ({one} + np.exp(-{x}))", "softplus": "np.logaddexp({x}, {zero})"}
ARRAY_NUMPY = {"sigmoid": scipy.special.expit, "softplus": lambda x: np.logaddexp(x, x.dtype.type(0))}

GRAPH = '''
def graph_{kind}_{bits}(x, a, b, grad):
    """sum(tanh(x*a + b) * sigmoid(x) + exp(-x*x)); grad = its derivative in x."""
    one, two = np.float{bits}(1.0), np.float{bits}(2.0)
    total = np.float{bits}(0.0)
    for i in range(x.size):
        xi = x[i]
        t = {tanh}
        s = {sigmoid}
        e = {exp}
        total += t * s + e
        grad[i] = a * (one - t * t) * s + t * s * (one - s) - two * xi * e
    return total
'''


def module_source():
    """vecmath's functions decorated as generated modules decorate them, and the loops timed here."""
    source = Path(vecmath.__file__).read_text()
    pieces = ["import numba\nimport numpy as np\n", f"FASTMATH = {codegen.FASTMATH}\n"]
    for function in ast.parse(source).body:
        if isinstance(function, ast.FunctionDef):
            pieces.append(f"@{codegen.NJIT}\n{ast.get_source_segment(source, function)}\n")
    for bits in (32, 64):
        one, zero = f"np.float{bits}(1.0)", f"np.float{bits}(0.0)"
        for name in FUNCTIONS:
            scalar = SCALAR_NUMPY.get(name, "np.{name}({x})").format(name=name, x="x[i]", one=one, zero=zero)
            pieces.append(f"@{codegen.NJIT}\ndef vecmath_{name}_{bits}(x, out):\n"
                          f"    for i in range(x.size):\n        out[i] = {name}_f{bits}(x[i])\n")
            pieces.append(f"@{codegen.NJIT}\ndef scalar_{name}_{bits}(x, out):\n"
                          f"    for i in range(x.size):\n        out[i] = {scalar}\n")
        pieces.append(f"@{codegen.NJIT}" + GRAPH.format(
            kind="vecmath", bits=bits, tanh=f"tanh_f{bits}(xi * a + b)", sigmoid=f"sigmoid_f{bits}(xi)",
            exp=f"exp_f{bits}(-xi * xi)"))
        pieces.append(f"@{codegen.NJIT}" + GRAPH.format(
            kind="scalar", bits=bits, tanh="np.tanh(xi * a + b)", sigmoid="one / (one + np.exp(-xi))",
            exp="np.exp(-xi * xi)"))
    return "\n\n".join(pieces)


def load_module(directory):
    path = Path(directory) / "bench_vecmath_kernels.py"
    path.write_text(module_source())
    spec = importlib.util.spec_from_file_location("bench_vecmath_kernels", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def median_ms(call, repeats):
    """Median wall time of call() in milliseconds, after one warm-up call (compilation)."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def relative_error(got, expected):
    with np.errstate(all="ignore"):
        scale = np.maximum(np.abs(expected), np.finfo(expected.dtype).tiny)
        return float(np.nanmax(np.abs(got.astype(np.float64) - expected) / scale))


def torch_time(operation, x, repeats):
    """operation on x as a tensor, in ms; NaN without torch."""
    if torch is None:
        return float("nan")
    tensor = torch.from_numpy(x)
    return median_ms(lambda: operation(tensor), repeats)


def torch_function(name):
    if torch is None:
        return None
    return {"sigmoid": torch.sigmoid, "softplus": torch.nn.functional.softplus}.get(name) or getattr(torch, name)


def function_rows(module, size, repeats, rng):
    print(f"{'function':>10} {'dtype':>8} {'vecmath':>9} {'NumPy':>9} {'np.* loop':>10} {'torch':>9} "
          f"{'vs NumPy':>9} {'max rel. error':>15}")
    for bits in (32, 64):
        dtype = np.dtype(f"float{bits}")
        for name in FUNCTIONS:
            x = rng.uniform(*INPUT_RANGES[name], size).astype(dtype)
            out = np.empty_like(x)
            array_function = ARRAY_NUMPY[name] if name in ARRAY_NUMPY else getattr(np, name)
            fast = median_ms(lambda: getattr(module, f"vecmath_{name}_{bits}")(x, out), repeats)
            error = relative_error(out, array_function(x.astype(np.float64)))
            numpy_ms = median_ms(lambda: array_function(x), repeats)
            scalar = median_ms(lambda: getattr(module, f"scalar_{name}_{bits}")(x, out), repeats)
            peer = torch_time(torch_function(name), x, repeats)
            scale = 1e6 / size
            print(f"{name:>10} {dtype.name:>8} {fast * scale:>9.3f} {numpy_ms * scale:>9.3f} {scalar * scale:>10.3f} "
                  f"{peer * scale:>9.3f} {numpy_ms / fast:>8.1f}x {error:>15.2e}")


def numpy_graph(x, a, b):
    """The graph's value and gradient with NumPy array operations (what the NumPy backend computes)."""
    t = np.tanh(x * a + b)
    s = scipy.special.expit(x)
    e = np.exp(-x * x)
    return np.sum(t * s + e), a * (1 - t * t) * s + t * s * (1 - s) - 2 * x * e


def torch_graph(x, a, b):
    t = torch.tanh(x * a + b)
    s = torch.sigmoid(x)
    e = torch.exp(-x * x)
    return torch.sum(t * s + e), a * (1 - t * t) * s + t * s * (1 - s) - 2 * x * e


def symgraph_graph(dtype, size, a, b):
    """The graph and its gradient as a symgraph function (Numba backend, the process's thread count)."""
    import symgraph as sg

    x = sg.placeholder((size,), dtype.name, name="x")
    total = sg.sum(sg.tanh(x * a + b) * sg.sigmoid(x) + sg.exp(-x * x))
    return sg.function([x], [total, sg.grad(total, x)], backend="numba")


def graph_rows(module, size, repeats, rng):
    print(f"\nsum(tanh(x*a + b) * sigmoid(x) + exp(-x*x)) and its gradient, {size:,} elements, ms; errors against "
          "NumPy in float64 (the gradient's relative to its largest element):")
    print(f"{'dtype':>8} {'vecmath loop':>13} {'np.* loop':>10} {'NumPy':>9} {'torch':>9} {'symgraph':>9} "
          f"{'sum error':>10} {'symgraph sum error':>19} {'NumPy sum error':>16} {'grad error':>11}")
    for bits in (32, 64):
        dtype = np.dtype(f"float{bits}")
        x = rng.uniform(-4, 4, size).astype(dtype)
        a, b = dtype.type(0.7), dtype.type(0.1)
        grad = np.empty_like(x)
        fused = getattr(module, f"graph_vecmath_{bits}")
        fast = median_ms(lambda: fused(x, a, b, grad), repeats)
        total = fused(x, a, b, grad)
        exact_total, exact_grad = numpy_graph(x.astype(np.float64), np.float64(a), np.float64(b))
        numpy_total = numpy_graph(x, a, b)[0]
        scalar = median_ms(lambda: getattr(module, f"graph_scalar_{bits}")(x, a, b, np.empty_like(x)), repeats)
        numpy_ms = median_ms(lambda: numpy_graph(x, a, b), repeats)
        peer = torch_time(lambda t: torch_graph(t, float(a), float(b)), x, repeats)
        compiled = symgraph_graph(dtype, size, a, b)
        symgraph_ms = median_ms(lambda: compiled(x), repeats)
        symgraph_total = compiled(x)[0]
        grad_error = np.max(np.abs(grad - exact_grad)) / np.max(np.abs(exact_grad))
        print(f"{dtype.name:>8} {fast:>13.3f} {scalar:>10.3f} {numpy_ms:>9.3f} {peer:>9.3f} {symgraph_ms:>9.3f} "
              f"{abs(total - exact_total) / abs(exact_total):>10.2e} "
              f"{abs(float(symgraph_total) - exact_total) / abs(exact_total):>19.2e} "
              f"{abs(numpy_total - exact_total) / abs(exact_total):>16.2e} {grad_error:>11.2e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000, help="elements per array")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per figure (the median is printed)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as directory:
        module = load_module(directory)
        print(f"ms per 1M elements, 1 thread, median of {args.repeats} runs of {args.size:,} elements"
              f"{'' if torch else ' (torch not installed)'}; max rel. error: vecmath against NumPy in float64")
        function_rows(module, args.size, args.repeats, rng)
        graph_rows(module, args.size, args.repeats, rng)


if __name__ == "__main__":
    main()
