"""The op table: one ``OpInfo`` row per op, driving the value, gradient and backend-parity suites.

PyTorch's OpInfo is the model. A row names the op's builder and class, its NumPy reference, an input domain per
argument, the dtype combinations NumPy semantics are checked on, sample inputs (shapes and attributes: size-1
broadcasting, 0-d, empty where valid; every sample also runs with unknown dimensions unless it says otherwise),
gradient cases (which inputs, their domain, order 1 or 2) or the documented reason there are none, and error inputs
(the error class and a message fragment). ``tests/test_op_values.py`` and ``tests/test_grad_ops.py`` read it, per
backend (``tests/conftest.py``): a new op or a new backend gets every test from one row.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.special

import symgraph as sg
from symgraph.graph import apply, builder as graph_builder
from symgraph.ops import conv, elementwise as ew, indexing, linalg, nn, random, reduce, shape as shape_ops
from symgraph.ops import arrays  # shape, indexing and creation (issue 15)
from symgraph.ops import scan  # reductions, scans and products (issue 15)

FLOATS = ("float32", "float64")
INTS = ("int32", "int64")
ALL = FLOATS + INTS + ("bool",)
ALL_PAIRS = tuple((a, b) for a in ALL for b in ALL)
SHAPES = ((), (1,), (5,), (3, 4), (2, 1, 3), (0, 3))
LIKE_DTYPES = tuple((d, d) for d in ALL) + (("float64", "int32"), ("bool", "float32"))  # x and a shape reference


# -- input generation -----------------------------------------------------------------------------------------------

# domain -> (float low, float high, int low, int high); bool inputs are random, all True in the "no zero" domains.
RANGES = {
    "real": (-3.0, 3.0, -9, 9),
    "positive": (0.1, 3.0, 1, 9),
    "nonzero": (0.2, 3.0, 1, 9),  # and a random sign
    "above_minus_one": (-0.9, 3.0, 0, 9),
    "exponent": (-2.0, 2.0, 0, 3),  # integer powers must not be negative in NumPy
    "discrete": (-2, 2, -2, 2),  # small integers, also as floats: ties for comparisons, maximum, argmax, pooling
    "unit": (-0.9, 0.9, -1, 1),
    "above_one": (1.1, 4.0, 1, 9),  # arccosh: the integers include its edge, 1
    "probability": (0.05, 0.95, 0, 1),  # logit: the integers are its edges, 0 and 1
    "lower": (-0.8, -0.3, -3, -1),  # clip's bounds: some of x's values are below lower, some above upper
    "upper": (0.3, 0.8, 1, 3),
}


def distinct(shape, dtype, rng):
    """Magnitudes distinct and at least 0.1, random signs: clear of kinks (abs, relu) and ties (max, pooling)."""
    size = int(np.prod(shape, dtype=np.int64))
    magnitude = (rng.permutation(size) + 1).reshape(shape) / max(size, 1) + 0.1
    return (magnitude * rng.choice([-1.0, 1.0], shape)).astype(dtype)


def probabilities(shape, dtype, rng):
    """Non-negative rows summing to 1 along the last axis (cross-entropy targets)."""
    values = rng.uniform(0.1, 1.0, shape)
    return (values / values.sum(axis=-1, keepdims=True)).astype(dtype)


def huge(shape, dtype, rng):
    """Arguments where naive formulas overflow (sigmoid, softplus)."""
    return rng.choice([-800.0, -50.0, 0.0, 50.0, 800.0], shape).astype(dtype)


SPECIAL_FLOATS = (np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -3.0, 1e-30)


def specials(shape, dtype, rng):
    """Special values in order, repeated to fill ``shape``: for floats NaN, +-inf, +-0, the domain edges +-1 (arcsin,
    arctanh, arccosh, logit) and beyond them, a tiny value; for integers 0, +-1, small values and the range's ends
    (where a remainder by -1 overflows); both bools."""
    if dtype.kind == "f":
        values = SPECIAL_FLOATS
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = (0, 1, -1, 2, -2, 7, -7, 3, -3, int(info.min), int(info.max), int(info.min) + 1)
    else:
        values = (False, True)
    return np.resize(np.array(values, dtype), shape)


def below(bound):
    """Integers in [0, bound): labels of ``bound`` classes, indices into an axis of size ``bound``."""
    return lambda shape, dtype, rng: rng.integers(0, bound, size=shape).astype(dtype)


def fixed(value):
    """Always ``value`` (a flag input that selects a mode)."""
    return lambda shape, dtype, rng: np.full(shape, value, dtype)


def stream_state(shape, dtype, rng):
    """A random stream's state [seed, calls] (shape (2,))."""
    return np.array([rng.integers(0, 2**62), rng.integers(0, 5)], dtype=dtype)


def sample(shape, dtype, domain="real", rng=None):
    """Random values of ``dtype`` and ``shape`` in ``domain`` (a RANGES name or a function (shape, dtype, rng))."""
    rng = np.random.default_rng(0) if rng is None else rng
    dtype, shape = np.dtype(dtype), tuple(shape)
    if callable(domain):
        return np.asarray(domain(shape, dtype, rng), dtype=dtype)
    if domain == "distinct":
        return distinct(shape, dtype, rng)
    if dtype == np.bool_:
        return np.ones(shape, bool) if domain in ("positive", "nonzero") else rng.random(shape) < 0.5
    flo, fhi, ilo, ihi = RANGES[domain]
    if dtype.kind == "i" or domain == "discrete":
        values = rng.integers(ilo, ihi + 1, size=shape)
    else:
        values = rng.uniform(flo, fhi, size=shape)
    if domain == "nonzero":
        values = values * rng.choice([-1, 1], size=shape)
    return np.asarray(values).astype(dtype)


# -- the row -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    """Sample inputs: one shape per input and the attributes passed to the builder and the reference alike."""

    shapes: tuple
    kwargs: dict = field(default_factory=dict)
    all_dtypes: bool = False  # check the row's whole dtype matrix here (else its uniform combinations)
    unknown: bool = True  # also build from placeholders with unknown (None) dimensions
    domains: tuple | None = None  # overrides the row's domains

    @property
    def id(self) -> str:
        shapes = "-".join("x".join(map(str, s)) or "0d" for s in self.shapes)
        attrs = ",".join(f"{k}={_short(v)}" for k, v in self.kwargs.items())
        return f"{shapes}[{attrs}]" if attrs else shapes


@dataclass(frozen=True)
class GradCase:
    """A gradient check: inputs ``wrt`` (positions; float64) against central differences up to ``order``."""

    shapes: tuple
    kwargs: dict = field(default_factory=dict)
    wrt: tuple | None = None  # None: every input
    domains: tuple | None = None  # overrides the row's domains ("distinct" by default: no kinks, no ties)
    dtypes: tuple | None = None  # of the inputs not differentiated (labels, conditions, indices)
    order: int = 2
    tolerance: dict = field(default_factory=dict)  # check_grads' eps, rtol, atol
    unknown: bool = False  # placeholders with unknown dimensions: run-time-shaped gradient ops


@dataclass(frozen=True)
class ErrorCase:
    """Inputs the op must refuse: the error class and a fragment of its message, at build or at run time."""

    inputs: tuple  # arrays (their shape and dtype make the placeholders; their values are fed when="run")
    error: type
    match: str
    kwargs: dict = field(default_factory=dict)
    when: str = "build"
    build: Callable | None = None  # overrides the row's build
    unknown: bool = False  # placeholders with unknown dimensions (sizes that contradict each other when fed)


@dataclass(frozen=True)
class OpInfo:
    """One op: how to build it, its NumPy reference, and the inputs every suite checks it on."""

    name: str
    op: type | None  # the op class the row builds (None: a composition of other rows' ops)
    builder: Callable | None  # the public builder this row covers (None: an internal op built with apply)
    reference: Callable  # NumPy reference: reference(*arrays, **kwargs)
    domains: tuple  # per input (the last repeats for variadic ops)
    dtypes: tuple  # dtype combinations (the last repeats, see input_dtypes); NumPy's outcome decides acceptance
    samples: tuple
    grads: tuple | str  # GradCases, or why there are none
    errors: tuple = ()
    build: Callable | None = None  # build(*nodes, **kwargs); the builder by default
    uniform_dtypes: tuple | None = None  # combinations checked at every sample; default: those of one dtype
    static_shape: Callable | None = None  # README rule: static output shape from static input shapes (and kwargs)
    operator: Callable | None = None  # the Python operator that builds the op
    tolerance: dict = field(default_factory=dict)  # dtype name -> rtol (= atol) overriding the default
    family: str = ""

    def make(self, *nodes, **kwargs):
        return (self.build or self.builder)(*nodes, **kwargs)

    def domain(self, position, sample=None):
        domains = (sample.domains if sample is not None and sample.domains else None) or self.domains
        return domains[min(position, len(domains) - 1)]

    def combos_at(self, sample):
        if sample.all_dtypes or (sample is self.samples[0] and not any(s.all_dtypes for s in self.samples)):
            return self.dtypes
        if self.uniform_dtypes is not None:
            return self.uniform_dtypes
        return tuple(c for c in self.dtypes if len(set(c)) == 1) or self.dtypes


def S(*shapes, all_dtypes=False, unknown=True, domains=None, **kwargs) -> Sample:
    return Sample(tuple(shapes), kwargs, all_dtypes, unknown, domains)


def G(*shapes, wrt=None, domains=None, dtypes=None, order=2, tolerance=None, unknown=False, **kwargs) -> GradCase:
    return GradCase(tuple(shapes), kwargs, wrt, domains, dtypes, order, tolerance or {}, unknown)


def E(error, match, *inputs, when="build", build=None, unknown=False, **kwargs) -> ErrorCase:
    return ErrorCase(tuple(inputs), error, match, kwargs, when, build, unknown)


def spec(shape, dtype="float32"):
    """An input of this shape and dtype (for errors raised at build time only its type matters)."""
    return np.zeros(shape, dtype)


def _short(value):
    if isinstance(value, np.dtype):
        return value.name
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    return repr(value).replace(" ", "")


def input_dtypes(combo, count):
    """The dtypes of ``count`` inputs from a combination: its last dtype repeats (a 1-tuple applies to all)."""
    return (tuple(combo) + tuple(combo[-1:]) * count)[:count]


# -- static shape rules (the README's): used to check inference with unknown dimensions ------------------------------

def static_broadcast(*shapes):
    """None against a known size n != 1 gives n; against None or 1, None."""
    ndim = max((len(s) for s in shapes), default=0)
    result = []
    for axis in range(-ndim, 0):
        dims = [s[axis] for s in shapes if len(s) >= -axis]
        known = {d for d in dims if d is not None and d != 1}
        result.append(known.pop() if known else (None if None in dims else 1))
    return tuple(result)


def _elementwise_shape(*shapes, **_):
    return static_broadcast(*shapes)


def _axes_of(axis, ndim):
    if axis is None:
        return set(range(ndim))
    return {a % ndim for a in (axis if isinstance(axis, (tuple, list)) else (axis,))}


def _reduced_shape(shape, axis=None, keepdims=False, **_):
    axes = _axes_of(axis, len(shape))
    return tuple(1 if k in axes else d for k, d in enumerate(shape) if keepdims or k not in axes)


def _matmul_shape(a, b):
    core = (a[-2:-1] if len(a) > 1 else ()) + (b[-1:] if len(b) > 1 else ())
    return static_broadcast(a[:-2], b[:-2]) + core


def _concatenate_shape(*shapes, axis=0, **_):
    axis %= len(shapes[0])
    merged = [next((d for d in dims if d is not None), None) for dims in zip(*shapes)]
    sizes = [s[axis] for s in shapes]
    merged[axis] = None if None in sizes else sum(sizes)
    return tuple(merged)


def _stack_shape(*shapes, axis=0, **_):
    merged = [next((d for d in dims if d is not None), None) for dims in zip(*shapes)]
    merged.insert(axis % (len(merged) + 1), len(shapes))
    return tuple(merged)


def _reshape_shape(x, shape):
    target = (shape,) if isinstance(shape, int) else tuple(shape)
    known = all(d is not None for d in x)
    size = int(np.prod(x, dtype=np.int64)) if known else None
    rest = int(np.prod([d for d in target if d != -1], dtype=np.int64))
    return tuple((size // rest if known else None) if d == -1 else d for d in target)


def _expand_shape(x, axis):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    result = list(x)
    for a in sorted(a % (len(x) + len(axes)) for a in axes):
        result.insert(a, 1)
    return tuple(result)


# -- NumPy references that are formulas rather than one NumPy call ---------------------------------------------------

def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def np_relu(x):
    return np.where(x > 0, x, 0)


def np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True)) if x.size else x
    return e / np.sum(e, axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    if not x.size:
        return x.copy()
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    result = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return np.asarray(result if keepdims else np.squeeze(result, axis=axis), dtype=x.dtype)


def np_sparse_cross_entropy(logits, labels):
    picked = np.take_along_axis(np_log_softmax(logits), labels[..., None].astype(np.intp), axis=-1)
    return -picked[..., 0]


def np_cross_entropy(logits, targets):
    return -np.sum(targets * np_log_softmax(logits), axis=-1)


def np_one_hot(labels, depth, dtype="float32"):
    return (labels[..., None] == np.arange(depth)).astype(dtype)


def np_flat_adjoint(positions, g, size, dtype):
    """J^T g for a map that reads element ``positions[i]`` of a flattened input into output i (a scatter-add)."""
    total = np.bincount(positions.ravel(), weights=np.asarray(g, np.float64).ravel(), minlength=size)
    return total.astype(dtype)


def np_index_grad(x, g, *arrays, key):
    positions = np.arange(x.size).reshape(x.shape)[fill_key(key, arrays)]
    return np_flat_adjoint(positions, g, x.size, g.dtype).reshape(x.shape)


def np_sum_to(x, like):
    positions = np.broadcast_to(np.arange(like.size).reshape(like.shape), x.shape)
    return np_flat_adjoint(positions, x, like.size, x.dtype).reshape(like.shape)


def np_concatenate_part(g, *parts, axis, part):
    offsets = np.cumsum([0] + [p.shape[axis] for p in parts])
    return np.take(g, np.arange(offsets[part], offsets[part + 1]), axis=axis)


def np_random_uniform(state, like, salt=0, dtype="float32"):
    """The documented stream: Philox keyed by the seed, its counter holding (0, 0, calls, salt)."""
    seed, calls = (int(v) for v in state)
    generator = np.random.Generator(np.random.Philox(key=seed, counter=[0, 0, calls, salt]))
    return generator.random(np.shape(like), dtype=np.dtype(dtype))


@dataclass(frozen=True)
class Take:
    """In an index key: the k-th index-array input."""

    k: int


def fill_key(key, arrays):
    items = key if isinstance(key, tuple) else (key,)
    filled = tuple(arrays[item.k] if isinstance(item, Take) else item for item in items)
    return filled if isinstance(key, tuple) else filled[0]


def build_index_grad(x, g, *arrays, key):
    """index_grad as the gradient of ``x[key]`` builds it (its template made by sg.index)."""
    forward = sg.index(x, fill_key(key, arrays))
    return apply(indexing.IndexGrad(forward.op.template), x, g, *forward.inputs[1:])


# -- convolution and pooling references: direct loops over output positions ----------------------------------------

def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def conv_pads(padding, in_hw, k_hw, stride, dilation):
    """((top, bottom), (left, right)) for a conv2d padding argument, restating the documented rules."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "full":
        return tuple((d * (k - 1),) * 2 for k, d in zip(k_hw, dilation))
    if padding == "same":  # TF: output ceil(n / s); the odd unit of padding goes to the bottom / right
        pads = []
        for n, k, s, d in zip(in_hw, k_hw, stride, dilation):
            total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    if isinstance(padding, int):
        return (padding, padding), (padding, padding)
    if isinstance(padding[0], int):
        return tuple((p, p) for p in padding)
    return tuple(tuple(p) for p in padding)


def _conv_windows(x_shape, k_hw, stride=1, padding="valid", dilation=1):
    """The padded input's shape, the pads, and (i, j, rows, cols) per output position."""
    stride, dilation = _pair(stride), _pair(dilation)
    pads = conv_pads(padding, x_shape[2:], k_hw, stride, dilation)
    padded = x_shape[:2] + tuple(n + sum(p) for n, p in zip(x_shape[2:], pads))
    out = [(padded[2 + a] - dilation[a] * (k_hw[a] - 1) - 1) // stride[a] + 1 for a in (0, 1)]
    positions = [(i, j, slice(i * stride[0], i * stride[0] + dilation[0] * (k_hw[0] - 1) + 1, dilation[0]),
                  slice(j * stride[1], j * stride[1] + dilation[1] * (k_hw[1] - 1) + 1, dilation[1]))
                 for i in range(out[0]) for j in range(out[1])]
    return padded, pads, out, positions


def _pad_to(x, padded_shape, pads, fill=0.0):
    result = np.full(padded_shape, fill, np.float64)
    (top, _), (left, _) = pads
    result[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x
    return result


def _crop(padded, pads, hw):
    (top, _), (left, _) = pads
    return padded[:, :, top:top + hw[0], left:left + hw[1]]


def np_conv2d(x, w, **geometry):
    padded_shape, pads, out, positions = _conv_windows(x.shape, w.shape[2:], **geometry)
    padded = _pad_to(x, padded_shape, pads)
    result = np.zeros((x.shape[0], w.shape[0], *out))
    for i, j, rows, cols in positions:
        result[:, :, i, j] = np.einsum("nchw,ochw->no", padded[:, :, rows, cols], w)
    return result.astype(np.result_type(x, w))


def np_conv2d_backprop_input(g, w, x, **geometry):
    padded_shape, pads, _, positions = _conv_windows(x.shape, w.shape[2:], **geometry)
    padded = np.zeros(padded_shape)
    for i, j, rows, cols in positions:
        padded[:, :, rows, cols] += np.einsum("no,ochw->nchw", g[:, :, i, j], w)
    return _crop(padded, pads, x.shape[2:]).astype(np.result_type(g, w))


def np_conv2d_backprop_filter(x, g, w, **geometry):
    padded_shape, pads, _, positions = _conv_windows(x.shape, w.shape[2:], **geometry)
    padded = _pad_to(x, padded_shape, pads)
    result = np.zeros(w.shape)
    for i, j, rows, cols in positions:
        result += np.einsum("nchw,no->ochw", padded[:, :, rows, cols], g[:, :, i, j])
    return result.astype(np.result_type(x, g))


def _pool_windows(x_shape, kernel, stride=None, padding=0):
    kernel = _pair(kernel)
    stride = kernel if stride is None else _pair(stride)
    pad = _pair(padding)
    return _conv_windows(x_shape, kernel, stride, ((pad[0], pad[0]), (pad[1], pad[1])), 1)


def _first_maxima(window):
    """Per (n, c): the (row, col) of the window's first maximum in row-major order."""
    flat = window.reshape(*window.shape[:2], window.shape[2] * window.shape[3]).argmax(axis=-1)
    return np.divmod(flat, window.shape[3])


def np_convolve2d(a, b, mode="full"):
    """By definition: full[i + p, j + q] += a[i, j] b[p, q]; "same" and "valid" crop it as scipy.signal.convolve2d:
    "same" from row and column (kb - 1) // 2, "valid" where the smaller operand overlaps the larger wholly."""
    full = np.zeros(tuple(m + n - 1 for m, n in zip(a.shape, b.shape)))
    for p in range(b.shape[0]):
        for q in range(b.shape[1]):
            full[p:p + a.shape[0], q:q + a.shape[1]] += a * b[p, q]
    if mode == "same":
        starts, sizes = [(n - 1) // 2 for n in b.shape], a.shape
    elif mode == "valid":
        starts = [min(m, n) - 1 for m, n in zip(a.shape, b.shape)]
        sizes = [abs(m - n) + 1 for m, n in zip(a.shape, b.shape)]
    else:
        starts, sizes = (0, 0), full.shape
    return full[starts[0]:starts[0] + sizes[0], starts[1]:starts[1] + sizes[1]].astype(np.result_type(a, b))


def np_max_pool2d(x, **pool):
    padded_shape, pads, out, positions = _pool_windows(x.shape, **pool)
    padded = _pad_to(x, padded_shape, pads, -np.inf)
    result = np.zeros(x.shape[:2] + tuple(out))
    for i, j, rows, cols in positions:
        result[:, :, i, j] = padded[:, :, rows, cols].max(axis=(2, 3))
    return result.astype(x.dtype)


def np_avg_pool2d(x, **pool):
    padded_shape, pads, out, positions = _pool_windows(x.shape, **pool)
    padded = _pad_to(x, padded_shape, pads)
    result = np.zeros(x.shape[:2] + tuple(out))
    for i, j, rows, cols in positions:
        result[:, :, i, j] = padded[:, :, rows, cols].mean(axis=(2, 3))
    return result.astype(x.dtype)


def np_max_pool2d_grad(x, g, **pool):
    padded_shape, pads, _, positions = _pool_windows(x.shape, **pool)
    padded, result = _pad_to(x, padded_shape, pads, -np.inf), np.zeros(padded_shape)
    n, c = np.indices(x.shape[:2])
    for i, j, rows, cols in positions:
        p, q = _first_maxima(padded[:, :, rows, cols])
        np.add.at(result, (n, c, rows.start + p, cols.start + q), g[:, :, i, j])
    return _crop(result, pads, x.shape[2:]).astype(g.dtype)


def np_max_pool2d_gather(x, h, **pool):
    padded_shape, pads, out, positions = _pool_windows(x.shape, **pool)
    padded, values = _pad_to(x, padded_shape, pads, -np.inf), _pad_to(h, padded_shape, pads)
    n, c = np.indices(x.shape[:2])
    result = np.zeros(x.shape[:2] + tuple(out))
    for i, j, rows, cols in positions:
        p, q = _first_maxima(padded[:, :, rows, cols])
        result[:, :, i, j] = values[n, c, rows.start + p, cols.start + q]
    return result.astype(h.dtype)


def np_avg_pool2d_grad(g, x, **pool):
    padded_shape, pads, _, positions = _pool_windows(x.shape, **pool)
    result = np.zeros(padded_shape)
    for i, j, rows, cols in positions:
        window = result[:, :, rows, cols]
        window += g[:, :, i, j, None, None] / (window.shape[2] * window.shape[3])
    return _crop(result, pads, x.shape[2:]).astype(g.dtype)


# -- rows: unary elementwise ----------------------------------------------------------------------------------------

PIECEWISE_CONSTANT = "piecewise constant: zero gradient (None)"
BOOLEAN_RESULT = "boolean output: no gradient (None)"


def refusal(reference, combos, domains, kwargs=None):
    """An ErrorCase for the first dtype combination NumPy refuses (or would give an unsupported dtype for)."""
    for combo in combos:
        arrays = [sample((2,), d, domain) for d, domain in zip(combo, domains)]
        try:
            with np.errstate(all="ignore"):
                result = np.asarray(reference(*arrays, **(kwargs or {})))
        except TypeError:
            result = None
        if result is None or result.dtype.name not in ALL:
            plural = "s" if len(combo) > 1 else ""
            return (E(sg.DTypeError, f"not defined for dtype{plural} {', '.join(combo)}", *arrays, **(kwargs or {})),)
    return ()


def unary(name, op, reference, domain="real", dtypes=ALL, grads=None, extra=()):
    # NumPy's refusals are the contract for its ufuncs; formulas (sigmoid, relu, softplus) only define values.
    errors = refusal(reference, tuple((d,) for d in ALL), (domain,)) if isinstance(reference, np.ufunc) else ()
    return OpInfo(name, op, getattr(sg, name), reference, (domain,), tuple((d,) for d in dtypes),
                  samples=tuple(S(s) for s in SHAPES) + tuple(extra), grads=grads or (G((3, 4)),), errors=errors,
                  static_shape=_elementwise_shape, operator={"neg": operator.neg, "abs": operator.abs}.get(name),
                  family="unary")


NUMBERS = FLOATS + INTS
UNARY_ROWS = [
    unary("neg", ew.Neg, np.negative),
    unary("abs", ew.Abs, np.abs),
    unary("sign", ew.Sign, np.sign, grads=PIECEWISE_CONSTANT),
    unary("exp", ew.Exp, np.exp),
    unary("log", ew.Log, np.log, "positive", grads=(G((3, 4), domains=("positive",)),)),
    unary("log1p", ew.Log1p, np.log1p, "above_minus_one", grads=(G((3, 4), domains=("positive",)),)),
    unary("expm1", ew.Expm1, np.expm1),
    unary("sqrt", ew.Sqrt, np.sqrt, "positive", grads=(G((3, 4), domains=("positive",)),)),
    unary("square", ew.Square, np.square),
    unary("reciprocal", ew.Reciprocal, np.reciprocal, "nonzero", grads=(G((3, 4), domains=("positive",)),)),
    unary("sin", ew.Sin, np.sin),
    unary("cos", ew.Cos, np.cos),
    unary("tanh", ew.Tanh, np.tanh),
    unary("sigmoid", ew.Sigmoid, np_sigmoid, dtypes=NUMBERS, extra=[S((5,), domains=(huge,))]),
    unary("relu", ew.Relu, np_relu, dtypes=NUMBERS),
    unary("softplus", ew.Softplus, np_softplus, dtypes=NUMBERS, extra=[S((5,), domains=(huge,))]),
    unary("floor", ew.Floor, np.floor, grads=PIECEWISE_CONSTANT),
    unary("ceil", ew.Ceil, np.ceil, grads=PIECEWISE_CONSTANT),
    unary("stop_gradient", ew.StopGradient, np.array, grads="no gradient by definition (identity forward)"),
]

# The functions of issue 15: each also on special values (NaN, infinities, signed zeros, domain edges), which the
# backends must give exactly where NumPy/SciPy do; gradients away from the domain edges (finite differences).
EDGES = [S((len(SPECIAL_FLOATS),), domains=(specials,))]
UNIT_GRADS = (G((3, 4), domains=("unit",)),)
POSITIVE_GRADS = (G((3, 4), domains=("positive",)),)
UNARY_ROWS += [
    unary("tan", ew.Tan, np.tan, extra=EDGES),
    unary("sinh", ew.Sinh, np.sinh, extra=EDGES),
    unary("cosh", ew.Cosh, np.cosh, extra=EDGES),
    unary("arcsin", ew.Arcsin, np.arcsin, "unit", grads=UNIT_GRADS, extra=EDGES),
    unary("arccos", ew.Arccos, np.arccos, "unit", grads=UNIT_GRADS, extra=EDGES),
    unary("arctan", ew.Arctan, np.arctan, extra=EDGES),
    unary("arcsinh", ew.Arcsinh, np.arcsinh, extra=EDGES),
    unary("arccosh", ew.Arccosh, np.arccosh, "above_one", grads=(G((3, 4), domains=("above_one",)),), extra=EDGES),
    unary("arctanh", ew.Arctanh, np.arctanh, "unit", grads=UNIT_GRADS, extra=EDGES),
    unary("exp2", ew.Exp2, np.exp2, extra=EDGES),
    unary("log2", ew.Log2, np.log2, "positive", grads=POSITIVE_GRADS, extra=EDGES),
    unary("log10", ew.Log10, np.log10, "positive", grads=POSITIVE_GRADS, extra=EDGES),
    unary("cbrt", ew.Cbrt, np.cbrt, extra=EDGES),  # the gradient cases' "distinct" values are clear of 0
    unary("rsqrt", ew.Rsqrt, lambda x: 1 / np.sqrt(x), "positive", grads=POSITIVE_GRADS, extra=EDGES),
    unary("logit", ew.Logit, scipy.special.logit, "probability", grads=(G((3, 4), domains=("probability",)),),
          extra=EDGES),
    unary("erf", ew.Erf, scipy.special.erf, extra=EDGES),
    unary("erfc", ew.Erfc, scipy.special.erfc, extra=EDGES),
    unary("isnan", ew.Isnan, np.isnan, specials, grads=BOOLEAN_RESULT),
    unary("isinf", ew.Isinf, np.isinf, specials, grads=BOOLEAN_RESULT),
    unary("isfinite", ew.Isfinite, np.isfinite, specials, grads=BOOLEAN_RESULT),
]


# -- rows: binary elementwise and comparisons -----------------------------------------------------------------------

BROADCAST_PAIRS = [
    S((3, 4), (4,), all_dtypes=True), S((4,), (3, 4), all_dtypes=True), S((), (2, 3)),
    S((3, 4), (3, 4)), S((3, 1), (1, 4)), S((2, 3), ()), S((), ()), S((2, 1, 3), (4, 1)), S((4, 1), (2, 1, 3)),
    S((1,), (5,)), S((5,), (1,)), S((1,), ()), S((), (1,)), S((0, 3), (1, 3)), S((1, 3), (0, 3)), S((0, 3), (3,)),
    S((0, 3), ()), S((1,), (0,)), S((5, 1, 1), (1, 2, 1)),
]
BOOLEAN_OUTPUT = BOOLEAN_RESULT


def binary(name, op, reference, domains=("real", "real"), grads=BOOLEAN_OUTPUT, python_operator=None, extra=()):
    errors = (E(sg.ShapeError, "cannot be broadcast together", spec((3, 4)), spec((3, 3))),)
    return OpInfo(name, op, getattr(sg, name), reference, domains, ALL_PAIRS, tuple(BROADCAST_PAIRS) + tuple(extra),
                  grads, errors + refusal(reference, ALL_PAIRS, domains), static_shape=_elementwise_shape,
                  operator=python_operator, family="binary")


TIES = ("discrete", "discrete")
BINARY_ROWS = [
    binary("add", ew.Add, np.add, grads=(G((3, 4), (4,)),), python_operator=operator.add),
    binary("sub", ew.Sub, np.subtract, grads=(G((3, 1), (1, 4)),), python_operator=operator.sub),
    binary("mul", ew.Mul, np.multiply, grads=(G((3, 4), (3, 4)), G((2, 1, 3), (4, 1))),
           python_operator=operator.mul),
    binary("div", ew.Div, np.true_divide, ("real", "nonzero"), python_operator=operator.truediv,
           grads=(G((3, 4), (3, 4), domains=("distinct", "positive")),
                  G((3, 4), (4,), domains=("distinct", "positive")))),
    binary("pow", ew.Pow, np.power, ("positive", "exponent"), python_operator=operator.pow,
           grads=(G((3, 4), (3, 4), domains=("positive", "distinct")),
                  G((3, 4), (), wrt=(0,), domains=("distinct", fixed(3.0))))),
    binary("maximum", ew.Maximum, np.maximum, TIES, grads=(G((3, 4), (3, 4)),)),
    binary("minimum", ew.Minimum, np.minimum, TIES, grads=(G((3, 4), (4,)),)),
    binary("less", ew.Less, np.less, TIES, python_operator=operator.lt),
    binary("less_equal", ew.LessEqual, np.less_equal, TIES, python_operator=operator.le),
    binary("greater", ew.Greater, np.greater, TIES, python_operator=operator.gt),
    binary("greater_equal", ew.GreaterEqual, np.greater_equal, TIES, python_operator=operator.ge),
    binary("equal", ew.Equal, np.equal, TIES),
    binary("not_equal", ew.NotEqual, np.not_equal, TIES),
]

# Every pair of special values (a column of them against a row), and the gradient cases.
EDGE_PAIRS = [S((len(SPECIAL_FLOATS), 1), (1, len(SPECIAL_FLOATS)), domains=(specials, specials))]
SMOOTH_PAIR_GRADS = (G((3, 4), (3, 4)), G((3, 1), (4,)))
# mod and fmod jump where a / b is an integer: the random values keep every quotient clear of one.
REMAINDER_GRADS = (G((3, 4), (3, 4), domains=("distinct", "nonzero")), G((3, 4), (4,), domains=("distinct", "nonzero")))
BINARY_ROWS += [
    binary("arctan2", ew.Arctan2, np.arctan2, grads=SMOOTH_PAIR_GRADS, extra=EDGE_PAIRS),
    binary("hypot", ew.Hypot, np.hypot, grads=SMOOTH_PAIR_GRADS, extra=EDGE_PAIRS),
    binary("logaddexp", ew.Logaddexp, np.logaddexp, grads=SMOOTH_PAIR_GRADS,
           extra=EDGE_PAIRS + [S((5,), (5,), domains=(huge, huge))]),
    binary("mod", ew.Mod, np.mod, ("real", "nonzero"), grads=REMAINDER_GRADS, extra=EDGE_PAIRS),
    binary("fmod", ew.Fmod, np.fmod, ("real", "nonzero"), grads=REMAINDER_GRADS, extra=EDGE_PAIRS),
]


# -- rows: where and cast -------------------------------------------------------------------------------------------

WHERE_ROW = OpInfo(
    "where", ew.Where, sg.where, np.where, ("real",), tuple(("bool", a, b) for a, b in ALL_PAIRS),
    samples=(S((3, 4), (3, 4), (4,), all_dtypes=True), S((3, 4), (3, 4), (3, 4)), S((3, 1), (1, 4), ()),
             S((3, 1), (4,), ()), S((), (2, 3), (3,)), S((4,), (3, 1), (1,)), S((0, 3), (3,), ()),
             S((0, 2), (2,), (1, 2)), S((2, 1, 3), (4, 1), (1, 1, 1))),
    uniform_dtypes=tuple(("bool", d, d) for d in ALL),
    grads=(G((3, 4), (3, 4), (3, 4), wrt=(1, 2), dtypes=("bool", None, None)),
           G((3, 1), (4,), (), wrt=(1, 2), dtypes=("bool", None, None))),
    errors=(E(sg.DTypeError, "the condition of where must be bool", spec((3,)), spec((3,)), spec((3,))),
            E(sg.ShapeError, "cannot be broadcast together", spec((2,), "bool"), spec((3,)), spec((3,)))),
    static_shape=_elementwise_shape, family="elementwise")

CLIP_ROW = OpInfo(
    # np.clip: hi wins where lo > hi; NaN anywhere gives NaN. Missing bounds (None) are tested in test_elementwise.py.
    "clip", ew.Clip, sg.clip, np.clip, ("real", "lower", "upper"), tuple((x, b, b) for x, b in ALL_PAIRS),
    samples=(S((3, 4), (3, 4), (3, 4), all_dtypes=True), S((3, 4), (), ()), S((3, 1), (1, 4), (4,)),
             S((), (2, 3), (3,)), S((2, 1, 3), (4, 1), (1, 1, 1)), S((0, 3), (), (3,)), S((3, 4), (4,), (0, 1, 1)),
             S((3, 4), (), (), domains=("real", "upper", "lower")),
             S((len(SPECIAL_FLOATS), 1), (1, len(SPECIAL_FLOATS)), (), domains=(specials, specials, "upper")),
             S((len(SPECIAL_FLOATS), 1), (), (1, len(SPECIAL_FLOATS)), domains=(specials, "lower", specials))),
    grads=(G((3, 4), (3, 4), (3, 4), domains=("distinct", "lower", "upper")),
           G((3, 4), (), (), domains=("distinct", "lower", "upper")),
           G((3, 4), (4,), (3, 1), domains=("distinct", "upper", "lower")),  # lo > hi: all of it to hi
           G((3, 4), (3, 4), (), wrt=(0,), domains=("distinct", "lower", "upper"), unknown=True)),
    errors=(E(sg.ShapeError, "cannot be broadcast together", spec((3, 4)), spec((3, 3)), spec(())),
            E(sg.ShapeError, "cannot be broadcast together", spec((3, 4)), spec(()), spec((2, 1)))),
    static_shape=_elementwise_shape, family="elementwise")

CAST_ROW = OpInfo(
    "cast", ew.Cast, sg.cast, lambda x, dtype: x.astype(dtype), ("real",), tuple((d,) for d in ALL),
    samples=tuple(S(shape, dtype=target) for target in ALL for shape in ((3, 4), (), (0, 3))),
    # Through float32 the function is only float32-accurate: finite differences need a larger step and tolerance.
    grads=(G((3,), dtype="float32", tolerance=dict(eps=1e-3, rtol=1e-3, atol=1e-4)),),
    errors=tuple(E(sg.DTypeError, f"dtype {bad} is not supported", spec((2,)), dtype=bad)
                 for bad in ("float16", "int8", "complex64")),
    static_shape=lambda x, dtype: x, family="elementwise")


# -- rows: reductions -----------------------------------------------------------------------------------------------

REDUCTION_AXES = [
    ((2, 3, 4), None), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((2, 3, 4), (0, 2)), ((2, 3, 4), (-1, 0)),
    ((2, 3, 4), (0, 1, 2)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4), ()), ((2, 3, 4), [1]), ((2, 3, 4, 5), (1, 3)),
    ((2, 3, 4, 5), (-4, 2)), ((5,), 0), ((5,), None), ((1, 4), 0), ((), None), ((), ()), ((0, 3), None),
    ((0, 3), 0), ((0, 3), 1), ((3, 0), -1),
]
BAD_AXES = (E(sg.ShapeError, "axis 2 is out of range", spec((2, 3)), axis=2),
            E(sg.ShapeError, "axis -3 is out of range", spec((2, 3)), axis=-3),
            E(sg.ShapeError, "repeated axis", spec((2, 3)), axis=(0, 0)),
            E(sg.ShapeError, "repeated axis", spec((2, 3)), axis=(0, -2)))


def _numpy_axis(function):
    """NumPy's reduction with symgraph's ``axis`` spellings (a list of axes is a tuple)."""
    def reference(x, axis=None, keepdims=False):
        return function(x, axis=tuple(axis) if isinstance(axis, list) else axis, keepdims=keepdims)
    return reference


def no_identity(name):
    """Max, min, argmax and argmin of an empty axis fail when run, naming the node (NumPy refuses them too)."""
    return (E(sg.EvaluationError, f"{name} node", spec((0, 3)), axis=0, when="run"),)


def reduction(name, op, function, domain, grads, errors=()):
    samples = tuple(S(shape, axis=axis, keepdims=keepdims) for shape, axis in REDUCTION_AXES
                    for keepdims in (False, True))
    return OpInfo(name, op, getattr(sg, name), _numpy_axis(function), (domain,), tuple((d,) for d in ALL), samples,
                  grads, BAD_AXES + errors, static_shape=_reduced_shape, family="reduction")


REDUCTION_ROWS = [
    reduction("sum", reduce.Sum, np.sum, "real",
              (G((3, 4), axis=1), G((2, 3, 4), axis=(0, 2), keepdims=True), G((3, 4), axis=0, unknown=True))),
    reduction("mean", reduce.Mean, np.mean, "real", (G((3, 4), axis=0), G((2, 3)), G((3, 4), axis=0, unknown=True))),
    reduction("max", reduce.Max, np.max, "discrete", (G((3, 4), axis=1), G((3, 4))), no_identity("max")),
    reduction("min", reduce.Min, np.min, "discrete", (G((3, 4), axis=0, keepdims=True),), no_identity("min")),
    reduction("prod", reduce.Prod, np.prod, "discrete", (G((3, 4), axis=1, domains=("positive",)), G((2, 3)))),
]

ARG_AXES = [((2, 3, 4), None), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((3, 5), 1), ((5,), 0), ((5,), None),
            ((), None), ((0, 3), 1), ((0, 3), 0), ((0, 3), None)]


def arg_reduction(name, op, function):
    samples = tuple(S(shape, axis=axis, keepdims=keepdims) for shape, axis in ARG_AXES for keepdims in (False, True))
    errors = (E(sg.ShapeError, "zero-dimensional input", spec(()), axis=0),
              E(sg.ShapeError, "axis 2 is out of range", spec((2, 3)), axis=2)) + no_identity(name)
    return OpInfo(name, op, getattr(sg, name), function, ("discrete",), tuple((d,) for d in ALL), samples,
                  "integer output: no gradient (None)", errors, static_shape=_reduced_shape, family="reduction")


ARG_ROWS = [arg_reduction("argmax", reduce.Argmax, np.argmax), arg_reduction("argmin", reduce.Argmin, np.argmin)]


def np_size(x, axis=None):
    axes = range(x.ndim) if axis is None else _axes_of(axis, x.ndim)
    return np.asarray(int(np.prod([x.shape[a] for a in axes], dtype=np.int64)), np.int64)


SIZE_ROW = OpInfo(
    "size", reduce.Size, reduce.size, np_size, ("real",), tuple((d,) for d in ALL),
    samples=(S((2, 3, 4)), S((2, 3, 4), axis=1), S((2, 3, 4), axis=(0, 2)), S((0, 3)), S(())),
    grads="depends only on the input's shape: no gradient (None)", errors=BAD_AXES[:1],
    static_shape=lambda x, axis=None: (), family="reduction")


# -- rows: matmul and the shape ops ---------------------------------------------------------------------------------

MATMUL_ROW = OpInfo(
    "matmul", linalg.Matmul, sg.matmul, np.matmul, ("real", "real"), ALL_PAIRS,
    samples=(S((2, 2, 3), (3, 4), all_dtypes=True), S((3,), (3,)), S((3,), (3, 4)), S((2, 3), (3,)),
             S((2, 3), (3, 4)), S((5, 2, 3), (3, 4)), S((2, 3), (5, 3, 4)), S((5, 2, 3), (5, 3, 4)),
             S((2, 1, 2, 3), (4, 3, 2)), S((2, 1, 2, 3), (3, 3, 1)), S((1, 2, 3), (4, 3, 2)), S((3,), (2, 3, 4)),
             S((2, 2, 3), (3,)), S((1, 3), (3, 1)), S((0, 3), (3, 4)), S((2, 0), (0, 4)), S((0,), (0,)),
             S((0, 2, 3), (3, 4))),
    grads=(G((3, 4), (4, 2)), G((2, 3, 4), (4,)), G((3,), (3, 4)), G((2, 3, 4), (4, 2), unknown=True)),
    errors=(E(sg.ShapeError, "inner dimensions differ", spec((2, 3)), spec((4, 5))),
            E(sg.ShapeError, "inner dimensions differ", spec((3,)), spec((4,))),
            E(sg.ShapeError, "cannot be broadcast together", spec((2, 2, 3)), spec((3, 3, 4))),
            E(sg.ShapeError, "zero-dimensional operands", spec(()), spec((3,)))),
    static_shape=_matmul_shape, operator=operator.matmul, family="linalg")

TRANSPOSE_ROW = OpInfo(
    "transpose", shape_ops.Transpose, sg.transpose, np.transpose, ("real",), tuple((d,) for d in ALL),
    samples=(S((2, 3, 4)), S((2, 3, 4), axes=(1, 0, 2)), S((2, 3, 4), axes=(2, 0, 1)), S((2, 3, 4), axes=(-1, 0, 1)),
             S((2, 3, 4), axes=(0, 1, 2)), S((2, 3)), S((2, 3), axes=(0, 1)), S((5,)), S(()), S((0, 3)),
             S((1, 0, 2), axes=(2, 0, 1))),
    grads=(G((2, 3, 4), axes=(2, 0, 1)),),
    errors=(E(sg.ShapeError, "not a permutation", spec((2, 3, 4)), axes=(0, 1)),
            E(sg.ShapeError, "not a permutation", spec((2, 3, 4)), axes=(0, 0, 1))),
    static_shape=lambda x, axes=None: tuple(reversed(x)) if axes is None else tuple(x[a] for a in axes),
    family="shape")

RESHAPE_ROW = OpInfo(
    "reshape", shape_ops.Reshape, sg.reshape, lambda x, shape: np.reshape(x, shape), ("real",),
    tuple((d,) for d in ALL),
    samples=(S((2, 3, 4), shape=(4, -1)), S((2, 3, 4), shape=-1), S((2, 3, 4), shape=(2, -1, 2)),
             S((2, 3, 4), shape=[6, 4]), S((2, 3, 4), shape=(1, 24, 1)), S((), shape=(1, 1)), S((1,), shape=()),
             S((0, 3), shape=(3, -1)), S((0, 3), shape=(-1,)), S((0, 3), shape=(3, 0))),
    grads=(G((2, 3, 4), shape=(4, -1)), G((2, 3, 4), shape=(-1,), unknown=True)),
    errors=(E(sg.ShapeError, "cannot reshape", spec((2, 3, 4)), shape=(5, -1)),
            E(sg.ShapeError, "only one -1", spec((2, 3, 4)), shape=(-1, -1)),
            E(sg.ShapeError, "cannot reshape", spec((2, 3, 4)), shape=(2, 3)),
            E(sg.ShapeError, "negative dimension", spec((2, 3, 4)), shape=(4, -2)),
            E(sg.ShapeError, "cannot reshape", spec((0, 3)), shape=(0, -1))),  # NumPy refuses it too: -1 is ambiguous
    static_shape=_reshape_shape, family="shape")

EXPAND_DIMS_ROW = OpInfo(
    "expand_dims", shape_ops.ExpandDims, sg.expand_dims, np.expand_dims, ("real",), tuple((d,) for d in ALL),
    samples=(S((3, 4), axis=0), S((3, 4), axis=-1), S((3, 4), axis=(0, 2)), S((3, 4), axis=(1, -1)),
             S((2, 3, 4), axis=(0, 3)), S((), axis=0), S((0, 3), axis=1)),
    grads=(G((3, 4), axis=(0, 2)),),
    errors=(E(sg.ShapeError, "axis 5 is out of range", spec((2, 3, 4)), axis=5),),
    static_shape=_expand_shape, family="shape")

SQUEEZE_ROW = OpInfo(
    # Without axis, squeeze removes the dimensions statically known to be 1: unknown ones stay (documented).
    "squeeze", shape_ops.Squeeze, sg.squeeze, np.squeeze, ("real",), tuple((d,) for d in ALL),
    samples=(S((1, 3, 1), unknown=False), S((1, 3, 1), axis=0), S((1, 3, 1), axis=-1), S((1, 3, 1), axis=(0, 2)),
             S((1, 2, 1, 12), axis=2), S(()), S((1,), unknown=False), S((0, 1), unknown=False)),
    grads=(G((3, 1, 4)),),
    errors=(E(sg.ShapeError, "cannot squeeze axis 0 of size 2", spec((2, 3, 4)), axis=0),),
    family="shape")

BROADCAST_TO_ROW = OpInfo(
    # An unknown dimension may be 1 at run time: (None, 3) broadcasts to (2, 1, 3) as a fed (1, 3) does in NumPy.
    "broadcast_to", shape_ops.BroadcastTo, sg.broadcast_to, np.broadcast_to, ("real",), tuple((d,) for d in ALL),
    samples=(S((3, 1), shape=(2, 3, 4)), S((), shape=(2, 2)), S((1,), shape=5), S((2, 3), shape=(2, 3)),
             S((1,), shape=(0,)), S((0, 1), shape=(2, 0, 3)), S((2, 1, 4), shape=(5, 2, 3, 4)),
             S((1, 3), shape=(4, 1, 3))),
    grads=(G((3, 1), shape=(2, 3, 4)), G((1, 3), shape=(2, 1, 3), unknown=True)),
    errors=(E(sg.ShapeError, "cannot broadcast (2, 3, 4) to (3, 3, 4)", spec((2, 3, 4)), shape=(3, 3, 4)),
            E(sg.ShapeError, "cannot broadcast (2, 3, 4) to (3, 4)", spec((2, 3, 4)), shape=(3, 4)),
            E(sg.ShapeError, "cannot broadcast", spec((3,)), shape=(-1,)),
            E(sg.ShapeError, "cannot broadcast", spec((0,)), shape=(1,)),
            E(sg.ShapeError, "cannot broadcast", spec((2, 1)), shape=(3, 1)),
            E(sg.EvaluationError, "cannot broadcast an array of shape (2, 3) to (1, 3)", spec((2, 3)), shape=(1, 3),
              when="run", unknown=True)),
    static_shape=lambda x, shape: (shape,) if isinstance(shape, int) else tuple(shape), family="shape")


def _joined(function):
    def reference(*xs, axis=0, container=list):
        return function(xs, axis=axis)
    return reference


def _joining(builder):
    def build(*xs, axis=0, container=list):
        return builder(container(xs), axis=axis)
    return build


CONCATENATE_ROW = OpInfo(
    "concatenate", indexing.Concatenate, sg.concatenate, _joined(np.concatenate), ("real",), ALL_PAIRS,
    samples=(S((2, 3), (2, 3), axis=1, all_dtypes=True), S((2, 3), (4, 3)), S((2, 3), (2, 1), axis=-1),
             S((1, 2), (3, 2), (2, 2)), S((2,), (3,), container=tuple), S((0, 3), (2, 3)), S((0, 3), (0, 3)),
             S((2, 3), axis=1), S((2, 3, 4), (1, 3, 4)), S((2, 3, 4), (2, 3, 4), (2, 3, 2), axis=-1)),
    grads=(G((3, 2), (3, 4), axis=1), G((2, 3), (4, 3), unknown=True)),
    errors=(E(sg.ShapeError, "sizes differ along axis 1", spec((2, 3, 4)), spec((2, 4, 4))),
            E(sg.ShapeError, "same rank", spec((2, 3)), spec((3,))),
            E(sg.ShapeError, "zero-dimensional inputs cannot be concatenated", spec(()), spec(())),
            E(TypeError, "non-empty list of nodes", spec((2,)), build=lambda x: sg.concatenate(x)),
            E(TypeError, "non-empty list of nodes", build=lambda: sg.concatenate([]))),
    build=_joining(sg.concatenate), static_shape=_concatenate_shape, family="shape")

STACK_ROW = OpInfo(
    "stack", indexing.Stack, sg.stack, _joined(np.stack), ("real",), ALL_PAIRS,
    samples=(S((2, 3), (2, 3), axis=-1, all_dtypes=True), S((2, 3), (2, 3), (2, 3)), S((2, 3), (2, 3), axis=1),
             S((), (), ()), S((0, 3), (0, 3), axis=1), S((2, 3, 4), (2, 3, 4)), S((2, 3, 4), (2, 3, 4), (2, 3, 4),
                                                                                  axis=-1)),
    grads=(G((3, 4), (3, 4), axis=1),),
    errors=(E(sg.ShapeError, "sizes differ along axis 2", spec((2, 3, 4)), spec((2, 3, 5))),
            E(sg.ShapeError, "axis 3 is out of range", spec((2, 3)), spec((2, 3)), axis=3)),
    build=_joining(sg.stack), static_shape=_stack_shape, family="shape")


# -- rows: indexing, one_hot ----------------------------------------------------------------------------------------

INDEX_DTYPES = tuple((d, "int64") for d in ALL) + (("float32", "int32"),)  # x, then every index array
INDEX_ROW = OpInfo(
    "index", indexing.Index, sg.index, lambda x, *arrays, key: np.asarray(x[fill_key(key, arrays)]), ("real",),
    INDEX_DTYPES, uniform_dtypes=INDEX_DTYPES,
    samples=(S((3, 4), key=(slice(1, 3), slice(None, None, 2))), S((3, 4), key=(None, Ellipsis, 0)),
             S((3, 4), key=(Ellipsis, 1)), S((2, 3, 4), key=(1, slice(None), slice(None, None, -1))),
             S((5,), key=slice(-3, None)), S((), key=(None,)), S((0, 3), key=(slice(None), 1)),
             S((3, 4), key=([0, 2, 2], 1)), S((3, 4), (5,), key=Take(0), domains=("real", below(3))),
             S((3, 4), (2, 3), key=Take(0), domains=("real", below(3))),
             S((3, 4), (2,), (2,), key=(Take(0), Take(1)), domains=("real", below(3))),
             S((3, 4, 5), (2,), key=(slice(None), Take(0), 1), domains=("real", below(4))),
             S((3, 4, 5), (2,), (2,), key=(Take(0), slice(None), Take(1)), domains=("real", below(3)))),
    grads=(G((3, 4), key=(slice(1, None), slice(None, None, 2))), G((3, 4), key=([0, 2, 2], 1)),
           G((3, 4), (4,), key=Take(0), wrt=(0,), domains=("distinct", below(3)), dtypes=(None, "int64"))),
    errors=(E(sg.ShapeError, "index 5 is out of bounds for axis 0 of size 3", spec((3, 4)), key=5),
            E(sg.ShapeError, "too many indices", spec((3, 4)), key=(0, 0, 0)),
            E(sg.ShapeError, "single ellipsis", spec((3, 4)), key=(Ellipsis, Ellipsis)),
            E(sg.ShapeError, "index 3 is out of bounds for axis 0 of size 3", spec((3, 4)), key=([0, 3],)),
            E(sg.DTypeError, "boolean-mask indexing", spec((3,)), key=np.array([True, False, True])),
            E(sg.DTypeError, "index arrays must be integers", spec((3,)), key=np.array([0.0, 1.0])),
            E(sg.DTypeError, "an index array must be integer", spec((3,)), spec((2,), "bool"), key=Take(0),
              build=lambda x, i, key: apply(indexing.Index((("array", 0),)), x, i)),
            E(TypeError, "slice bounds must be ints", spec((3,)), spec(()), key=None,
              build=lambda x, stop, key: x[:stop]),
            E(sg.EvaluationError, "index 5 is out of bounds", spec((3, 4)), np.array([5]), key=Take(0), when="run")),
    build=lambda x, *arrays, key: sg.index(x, fill_key(key, arrays)), family="indexing")

INDEX_GRAD_DTYPES = (("float32", "float32", "int64"), ("float64", "float64", "int64"), ("int32", "float64", "int32"),
                     ("bool", "float32", "int64"))
INDEX_GRAD_ROW = OpInfo(
    # x only gives the shape; repeated indices accumulate (the reference scatters with bincount).
    "index_grad", indexing.IndexGrad, None, np_index_grad, ("real",), INDEX_GRAD_DTYPES,
    uniform_dtypes=INDEX_GRAD_DTYPES,
    samples=(S((3, 4), (2, 2), key=(slice(1, 3), slice(None, None, 2))), S((3, 4), (3,), key=([0, 2, 2], 1)),
             S((3, 4), (5, 4), (5,), key=Take(0), domains=("real", "real", below(3))),
             S((2, 3, 4), (2, 2), (2,), key=(slice(None), Take(0), 1), domains=("real", "real", below(3))),
             S((0, 3), (0,), key=(slice(None), 1))),
    grads=(G((3, 4), (3,), key=([0, 2, 2], 1), wrt=(1,)),
           G((3, 4), (5, 4), (5,), key=Take(0), wrt=(1,), domains=(None, "distinct", below(3)),
             dtypes=(None, None, "int64"))),
    build=build_index_grad, family="indexing")

ONE_HOT_ROW = OpInfo(
    "one_hot", indexing.OneHot, sg.one_hot, np_one_hot, (below(4),), tuple((d,) for d in INTS),
    samples=tuple(S(shape, depth=4, dtype=out) for out in ALL for shape in ((), (5,), (2, 3), (0,), (0, 2)))
    + (S((3,), depth=3, domains=(below(3),)),),
    grads="integer labels: no gradient (None)",
    errors=(E(sg.DTypeError, "one_hot labels must be integer", spec((2,)), depth=3),
            E(ValueError, "depth must be a positive int", spec((2,), "int64"), depth=0),
            E(sg.EvaluationError, "label 3 is outside [0, 3)", np.array([0, 3]), depth=3, when="run"),
            E(sg.EvaluationError, "label -1 is outside [0, 3)", np.array([-1, 0]), depth=3, when="run")),
    static_shape=lambda x, depth, dtype=None: x + (depth,), family="indexing")


# -- rows: the softmax family and the fused cross-entropies (sg.nn) -------------------------------------------------

def _not_float(name, *inputs, **kwargs):
    return E(sg.DTypeError, f"{name} must be floating", *inputs, **kwargs)


SOFTMAX_SAMPLES = (S((3, 4)), S((3, 4), axis=0), S((2, 3, 4), axis=1), S((5,)), S((1,)), S((0, 3)), S((3, 0)))
SOFTMAX_ROW = OpInfo(
    "softmax", nn.Softmax, sg.nn.softmax, np_softmax, ("real",), tuple((d,) for d in FLOATS), SOFTMAX_SAMPLES,
    grads=(G((3, 4), axis=0), G((2, 3))),
    errors=(_not_float("softmax input", spec((3,), "int32")),
            E(sg.ShapeError, "axis -1 is out of range", spec(()))),
    static_shape=lambda x, axis=-1: x, family="nn")

LOG_SOFTMAX_ROW = OpInfo(
    "log_softmax", nn.LogSoftmax, sg.nn.log_softmax, np_log_softmax, ("real",), tuple((d,) for d in FLOATS),
    SOFTMAX_SAMPLES, grads=(G((3, 4)), G((2, 3), axis=0)),
    errors=(_not_float("log_softmax input", spec((3,), "int64")),),
    static_shape=lambda x, axis=-1: x, family="nn")

LOGSUMEXP_ROW = OpInfo(
    "logsumexp", nn.LogSumExp, sg.nn.logsumexp, np_logsumexp, ("real",), tuple((d,) for d in FLOATS),
    samples=(S((3, 4)), S((3, 4), axis=1), S((2, 3, 4), axis=(0, 2)), S((2, 3, 4), axis=-1, keepdims=True),
             S((3, 4), keepdims=True), S((5,), axis=0), S(()), S((0, 3), axis=1)),
    grads=(G((3, 4), axis=1), G((2, 3, 4), axis=(0, 2), keepdims=True)),
    errors=(_not_float("logsumexp input", spec((3,), "int32")), BAD_AXES[0]),
    static_shape=_reduced_shape, family="nn")


def per_example_cross_entropy(logits, labels):
    return sg.nn.softmax_cross_entropy(logits, labels, reduction="none")


SPARSE_CROSS_ENTROPY_ROW = OpInfo(
    "sparse_softmax_cross_entropy", nn.SparseSoftmaxCrossEntropy, sg.nn.softmax_cross_entropy,
    np_sparse_cross_entropy, ("real", below(4)), tuple((f, i) for f in FLOATS for i in INTS),
    samples=(S((3, 4), (3,)), S((2, 3, 5), (2, 3), domains=("real", below(5))), S((4,), ()), S((0, 4), (0,))),
    grads=(G((3, 4), (3,), wrt=(0,), domains=("distinct", below(4)), dtypes=(None, "int64")),),
    errors=(E(sg.ShapeError, "do not match logits", spec((3, 4)), spec((4,), "int64")),
            _not_float("logits", spec((3, 4), "int32"), spec((3,), "int64")),
            E(sg.EvaluationError, "label 4 is outside [0, 4)", spec((2, 4)), np.array([0, 4]), when="run")),
    build=per_example_cross_entropy, static_shape=lambda logits, labels: logits[:-1], family="nn")

CROSS_ENTROPY_ROW = OpInfo(
    "softmax_cross_entropy", nn.SoftmaxCrossEntropy, sg.nn.softmax_cross_entropy, np_cross_entropy,
    ("real", probabilities), tuple((a, b) for a in FLOATS for b in FLOATS),
    samples=(S((3, 4), (3, 4)), S((2, 3, 5), (2, 3, 5)), S((4,), (4,)), S((0, 4), (0, 4))),
    grads=(G((3, 4), (3, 4), domains=("distinct", probabilities)),),
    errors=(E(sg.ShapeError, "do not match logits", spec((3, 4)), spec((3, 5))),
            _not_float("logits", spec((3, 4), "int32"), spec((3, 4)))),
    build=per_example_cross_entropy, static_shape=lambda logits, targets: logits[:-1], family="nn")


# -- rows: convolution and pooling (sg.nn) and their gradient ops ----------------------------------------------------

def conv_shapes(x, w, **geometry):
    """(x, w, g): the shapes of a conv2d's input, filter and output gradient."""
    _, _, out, _ = _conv_windows(x, w[2:], **geometry)
    return x, w, (x[0], w[0], *out)


def pool_shapes(x, **pool):
    """(x, y): the shapes of a pooling's input and output."""
    _, _, out, _ = _pool_windows(x, **pool)
    return x, (*x[:2], *out)


CONV_GEOMETRIES = [  # (x, w, geometry)
    ((2, 3, 5, 5), (4, 3, 3, 3), {}), ((2, 3, 5, 6), (2, 3, 2, 3), dict(stride=2, padding="same")),
    ((1, 2, 6, 5), (3, 2, 2, 2), dict(padding="full", dilation=2)), ((2, 1, 4, 4), (1, 1, 3, 3), dict(padding=1)),
    ((1, 2, 5, 5), (2, 2, 3, 2), dict(padding=((1, 0), (0, 2)), stride=(2, 1))),
    ((1, 1, 3, 3), (2, 1, 3, 3), dict(padding=(2, 0))), ((0, 2, 4, 4), (3, 2, 2, 2), {}),
]
CONV_GRADS = [((1, 2, 4, 4), (2, 2, 2, 2), {}), ((1, 2, 5, 5), (2, 2, 3, 3), dict(stride=2, padding="same")),
              ((1, 1, 5, 4), (1, 1, 2, 2), dict(dilation=2, padding="full"))]
FLOAT_PAIRS = (("float32",), ("float64",), ("float32", "float64"), ("float64", "float32"))
FLOAT_TOLERANCE = {"float32": 1e-5}  # sums of many float32 products


def _conv_samples(order):
    """Samples of conv2d or a backprop op: ``order`` picks (x, w, g) positions for the op's inputs."""
    return tuple(S(*[conv_shapes(x, w, **geometry)[k] for k in order], all_dtypes=(i == 0), **geometry)
                 for i, (x, w, geometry) in enumerate(CONV_GEOMETRIES))


def _conv_grads(order, wrt, unknown=False):
    return tuple(G(*[conv_shapes(x, w, **geometry)[k] for k in order], wrt=wrt, unknown=unknown, **geometry)
                 for x, w, geometry in CONV_GRADS)


CONV_ERRORS = (
    _not_float("the conv2d input", spec((1, 1, 3, 3), "int32"), spec((1, 1, 2, 2))),
    E(sg.ShapeError, "must have rank 4", spec((1, 3, 3)), spec((1, 1, 2, 2))),
    E(sg.ShapeError, "channel mismatch", spec((1, 2, 3, 3)), spec((1, 3, 2, 2))),
    E(sg.ShapeError, "larger than the padded input", spec((1, 1, 2, 2)), spec((1, 1, 3, 3))),
    E(sg.ShapeError, "padding must be one of", spec((1, 1, 3, 3)), spec((1, 1, 2, 2)), padding="wide"),
    E(sg.ShapeError, "stride must be at least 1", spec((1, 1, 3, 3)), spec((1, 1, 2, 2)), stride=0),
)
CONV2D_ROW = OpInfo(
    "conv2d", conv.Conv2d, sg.nn.conv2d, np_conv2d, ("real", "real"), FLOAT_PAIRS, _conv_samples((0, 1)),
    grads=_conv_grads((0, 1), None) + (G((2, 1, 4, 4), (1, 1, 2, 2), unknown=True),), errors=CONV_ERRORS,
    tolerance=FLOAT_TOLERANCE, family="conv")

CONV2D_BACKPROP_INPUT_ROW = OpInfo(
    "conv2d_backprop_input", conv.Conv2dBackpropInput, conv.conv2d_backprop_input, np_conv2d_backprop_input,
    ("real", "real", "real"), FLOAT_PAIRS + (("float64", "float64", "float32"),), _conv_samples((2, 1, 0)),
    grads=_conv_grads((2, 1, 0), (0, 1)) + _conv_grads((2, 1, 0), (0, 1), unknown=True)[:1],
    errors=(E(sg.ShapeError, "the filter's and the input's channels differ", spec((1, 1, 2, 2)),
              spec((1, 2, 2, 2)), spec((1, 1, 3, 3))),
            E(sg.ShapeError, "the gradient's height and the convolution output's differ", spec((1, 1, 3, 2)),
              spec((1, 1, 2, 2)), spec((1, 1, 3, 3)))),
    tolerance=FLOAT_TOLERANCE, family="conv")

CONV2D_BACKPROP_FILTER_ROW = OpInfo(
    "conv2d_backprop_filter", conv.Conv2dBackpropFilter, conv.conv2d_backprop_filter, np_conv2d_backprop_filter,
    ("real", "real", "real"), FLOAT_PAIRS + (("float64", "float64", "float32"),), _conv_samples((0, 2, 1)),
    grads=_conv_grads((0, 2, 1), (0, 1)),
    errors=(E(sg.ShapeError, "the input's and the gradient's batch sizes differ", spec((2, 1, 3, 3)),
              spec((1, 1, 2, 2)), spec((1, 1, 2, 2))),),
    tolerance=FLOAT_TOLERANCE, family="conv")

CONVOLVE2D_ROW = OpInfo(
    # A composition (flip, reshape to NCHW, conv2d, squeeze): its gradient is that of the ops it is built from.
    "convolve2d", None, sg.nn.convolve2d, np_convolve2d, ("real",),
    FLOAT_PAIRS,
    samples=(S((4, 5), (2, 2)), S((4, 5), (2, 2), mode="valid"), S((4, 5), (2, 3), mode="same", unknown=False),
             S((4, 5), (6, 7), mode="valid", unknown=False), S((2, 3), (4, 2)), S((1, 1), (3, 2), mode="same",
                                                                                    unknown=False)),
    grads=(G((4, 5), (2, 3)), G((5, 5), (3, 2), mode="same"), G((3, 4), (4, 5), mode="valid")),
    errors=(E(sg.ShapeError, "takes 2-D arrays", spec((1, 4, 5)), spec((2, 2))),
            E(sg.ShapeError, "at least as large as the other", spec((3, 5)), spec((4, 2)), mode="valid"),
            E(sg.ShapeError, "mode must be one of", spec((3, 5)), spec((2, 2)), mode="circular")),
    tolerance=FLOAT_TOLERANCE, family="conv")

POOLS = [((2, 3, 6, 6), dict(kernel=2)), ((1, 2, 5, 5), dict(kernel=3, stride=2, padding=1)),
         ((2, 1, 4, 6), dict(kernel=(2, 3), stride=(1, 2))), ((1, 1, 5, 5), dict(kernel=3, stride=1, padding=1)),
         ((1, 2, 7, 5), dict(kernel=(3, 2), stride=(2, 1), padding=(1, 1))), ((0, 2, 4, 4), dict(kernel=2)),
         ((1, 2, 5, 7), dict(kernel=2)), ((2, 1, 7, 5), dict(kernel=(3, 2)))]  # windows tiling all but a margin
POOL_GRADS = [((1, 2, 4, 4), dict(kernel=2)), ((1, 1, 5, 5), dict(kernel=3, stride=2, padding=1))]
POOL_ERRORS = (E(sg.ShapeError, "must have rank 4", spec((2, 4, 4)), kernel=2),
               E(sg.ShapeError, "more than half the kernel size", spec((1, 1, 4, 4)), kernel=2, padding=2),
               E(sg.ShapeError, "the pooling kernel must be at least 1", spec((1, 1, 4, 4)), kernel=0))


def _pool_samples(order, domains):
    return tuple(S(*[pool_shapes(x, **pool)[k] for k in order], domains=domains, all_dtypes=(i == 0), **pool)
                 for i, (x, pool) in enumerate(POOLS))


def _pool_grads(order, wrt):
    return tuple(G(*[pool_shapes(x, **pool)[k] for k in order], wrt=wrt, **pool) for x, pool in POOL_GRADS)


MAX_POOL2D_ROW = OpInfo(
    # Ties ("discrete" values): the gradient goes to each window's first maximum in row-major order.
    "max_pool2d", conv.MaxPool2d, sg.nn.max_pool2d, np_max_pool2d, ("discrete",), tuple((d,) for d in FLOATS),
    _pool_samples((0,), None), grads=_pool_grads((0,), None),
    errors=POOL_ERRORS + (_not_float("the max_pool2d input", spec((1, 1, 4, 4), "int64"), kernel=2),),
    family="conv")

MAX_POOL2D_GRAD_ROW = OpInfo(
    "max_pool2d_grad", conv.MaxPool2dGrad, conv.max_pool2d_grad, np_max_pool2d_grad, ("discrete", "real"),
    FLOAT_PAIRS, _pool_samples((0, 1), None),
    grads=_pool_grads((0, 1), (1,)),  # piecewise constant in x (None), linear in g
    errors=(E(sg.ShapeError, "the pooled shape", spec((1, 1, 4, 4)), spec((1, 1, 3, 2)), kernel=2),),
    family="conv")

MAX_POOL2D_GATHER_ROW = OpInfo(
    "max_pool2d_gather", conv.MaxPool2dGather, conv.max_pool2d_gather, np_max_pool2d_gather, ("discrete", "real"),
    FLOAT_PAIRS, _pool_samples((0, 0), None),
    grads=_pool_grads((0, 0), (1,)),  # piecewise constant in x (None), linear in h
    errors=(E(sg.ShapeError, "the input's and the values' shapes differ", spec((1, 1, 4, 4)), spec((1, 1, 4, 3)),
              kernel=2),),
    family="conv")

AVG_POOL2D_ROW = OpInfo(
    "avg_pool2d", conv.AvgPool2d, sg.nn.avg_pool2d, np_avg_pool2d, ("real",), tuple((d,) for d in FLOATS),
    _pool_samples((0,), None), grads=_pool_grads((0,), None),
    errors=POOL_ERRORS[:1] + (_not_float("the avg_pool2d input", spec((1, 1, 4, 4), "int32"), kernel=2),),
    family="conv")

AVG_POOL2D_GRAD_ROW = OpInfo(
    "avg_pool2d_grad", conv.AvgPool2dGrad, conv.avg_pool2d_grad, np_avg_pool2d_grad, ("real", "real"), FLOAT_PAIRS,
    _pool_samples((1, 0), None), grads=_pool_grads((1, 0), (0,)),
    errors=(E(sg.ShapeError, "the pooled shape", spec((1, 1, 3, 3)), spec((1, 1, 4, 4)), kernel=2),),
    family="conv")


# -- rows: run-time checks of sg.nn's losses and batch_norm ---------------------------------------------------------

def np_targets_like(targets, predictions, loss="mse", what="predictions"):
    if targets.shape != predictions.shape:
        raise ValueError(f"{loss}: {what} and targets must have the same shape")
    return targets.copy()


def np_values_per_channel(x, *training, axes):
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    if count == 1 and (not training or bool(training[0])):
        raise ValueError("batch_norm in training mode needs more than 1 value per channel")
    return np.asarray(count, x.dtype)


TARGETS_LIKE_ROW = OpInfo(
    # A loss's targets, checked at run time to have the predictions' shape when unknown sizes leave it open.
    "targets_like", nn.TargetsLike, None, np_targets_like, ("real",), LIKE_DTYPES,
    samples=(S((3, 4), (3, 4), all_dtypes=True), S((5,), (5,)), S((), ()), S((0, 3), (0, 3))),
    grads=(G((3, 4), (3, 4), wrt=(0,)),),  # the identity on the targets; the predictions give only a shape
    errors=(E(sg.EvaluationError, "mse: predictions of shape (3, 1) and targets of shape (3,) must have the same shape",
              spec((3,)), spec((3, 1)), when="run", unknown=True),),
    build=lambda targets, predictions, loss="mse", what="predictions": apply(nn.TargetsLike(loss, what), targets,
                                                                             predictions),
    static_shape=lambda targets, predictions: tuple(t if t is not None else p for t, p in zip(targets, predictions)),
    family="nn")

VALUES_PER_CHANNEL_ROW = OpInfo(
    # batch_norm's count of values per channel; 1 is an error in training mode (always, or when the flag is true).
    "values_per_channel", nn.ValuesPerChannel, None, np_values_per_channel, ("real", fixed(True)),
    tuple((d, "bool") for d in FLOATS),
    samples=(S((4, 3), axes=(0,)), S((2, 3, 4, 4), axes=(0, 2, 3)), S((0, 3), axes=(0,)), S((1, 3), axes=(0,)),
             S((1, 3), (), axes=(0,), domains=("real", fixed(False))), S((1, 3), (), axes=(0,)),
             S((5, 3), (), axes=(0,))),
    grads="depends only on the input's shape and the mode: no gradient (None)",
    errors=(E(sg.EvaluationError, "needs more than 1 value per channel", spec((1, 3, 1, 1)), axes=(0, 2, 3),
              when="run"),),
    build=lambda x, *training, axes: apply(nn.ValuesPerChannel(tuple(axes)), x, *training),
    static_shape=lambda *shapes, axes: (), family="nn")


# -- rows: run-time-shaped ops (the differentiator's, for unknown dimensions) and random numbers --------------------


RESHAPE_LIKE_ROW = OpInfo(
    "reshape_like", shape_ops.ReshapeLike, None, lambda x, like: np.reshape(x, like.shape), ("real",),
    LIKE_DTYPES, samples=(S((2, 3), (3, 2), all_dtypes=True), S((2, 3, 4), (6, 4)), S((0, 3), (3, 0)),
                          S((), (1, 1)), S((4,), (2, 2))),
    grads=(G((2, 3), (3, 2), wrt=(0,)), G((2, 3, 4), (6, 4), wrt=(0,), unknown=True)),
    errors=(E(sg.EvaluationError, "reshape_like node", spec((2, 3)), spec((4, 2)), when="run"),),
    build=lambda x, like: apply(shape_ops.ReshapeLike(), x, like), static_shape=lambda x, like: like,
    family="runtime-shaped")

BROADCAST_LIKE_ROW = OpInfo(
    # sg.ops.broadcast_like builds broadcast_to when the reference's shape is static; the row builds the op itself.
    "broadcast_like", shape_ops.BroadcastLike, shape_ops.broadcast_like, lambda x, like: np.broadcast_to(x, like.shape),
    ("real",), LIKE_DTYPES,
    samples=(S((3, 1), (2, 3, 4), all_dtypes=True), S((), (2, 2)), S((4,), (3, 4)), S((1, 3), (0, 3))),
    grads=(G((4,), (3, 4), wrt=(0,)), G((3, 1), (2, 3, 4), wrt=(0,), unknown=True)),
    errors=(E(sg.ShapeError, "cannot broadcast rank 2 to rank 1", spec((2, 3)), spec((3,))),
            E(sg.ShapeError, "cannot be broadcast together", spec((3,)), spec((2, 4)))),
    build=lambda x, like: apply(shape_ops.BroadcastLike(), x, like), static_shape=_elementwise_shape,
    family="runtime-shaped")

SUM_TO_ROW = OpInfo(
    "sum_to", shape_ops.SumTo, shape_ops.sum_to, np_sum_to, ("real",), LIKE_DTYPES,
    samples=(S((2, 3, 4), (3, 1), all_dtypes=True), S((3, 4), (1, 4)), S((3, 4), ()), S((3, 4), (3, 4)),
             S((0, 3), (3,)), S((2, 3), (1, 1))),
    grads=(G((3, 4), (1, 4), wrt=(0,)), G((2, 3, 4), (3, 1), wrt=(0,), unknown=True)),
    errors=(E(sg.ShapeError, "(2, 4) does not broadcast to (3, 4)", spec((3, 4)), spec((2, 4))),
            E(sg.ShapeError, "(3, 4) does not broadcast to (4,)", spec((4,)), spec((3, 4))),
            E(sg.EvaluationError, "cannot sum an array of shape (3, 4) to shape (2, 4)", spec((3, 4)), spec((2, 4)),
              when="run", unknown=True)),
    static_shape=lambda x, like: like, family="runtime-shaped")

CONCATENATE_PART_ROW = OpInfo(
    "concatenate_part", indexing.ConcatenatePart, None, np_concatenate_part, ("real",), tuple((d,) for d in ALL),
    samples=(S((5, 3), (2, 3), (3, 3), axis=0, part=1), S((2, 7), (2, 3), (2, 4), axis=1, part=0),
             S((4,), (0,), (4,), axis=0, part=1), S((4,), (0,), (4,), axis=0, part=0)),
    grads=(G((5, 3), (2, 3), (3, 3), axis=0, part=1, wrt=(0,)),
           G((2, 7), (2, 3), (2, 4), axis=1, part=1, wrt=(0,), unknown=True)),
    build=lambda g, *parts, axis, part: apply(indexing.ConcatenatePart(axis, part), g, *parts),
    family="runtime-shaped")

ZEROS_LIKE_ROW = OpInfo(
    "zeros_like", indexing.ZerosLike, indexing.zeros_like,
    lambda x, dtype=None: np.zeros(x.shape, x.dtype if dtype is None else dtype), ("real",),
    tuple((d,) for d in ALL), samples=tuple(S(s) for s in SHAPES) + (S((3, 4), dtype="float64"), S((2,), dtype="bool")),
    grads="constant in its input: no gradient (None)", static_shape=lambda x, dtype=None: x,
    family="runtime-shaped")

RANDOM_UNIFORM_ROW = OpInfo(
    "random_uniform", random.RandomUniform, random.random_uniform_like, np_random_uniform, (stream_state, "real"),
    tuple(("int64", d) for d in ALL),
    samples=(S((2,), (3, 4), all_dtypes=True), S((2,), (), salt=3, dtype="float64"), S((2,), (0, 3)),
             S((2,), (2, 1, 3), salt=1)),
    uniform_dtypes=(("int64", "float32"), ("int64", "bool")),
    grads="random numbers do not depend on the values of their inputs: no gradient (None)",
    build=lambda state, like, salt=0, dtype="float32": apply(random.RandomUniform(salt, np.dtype(dtype)), state, like),
    static_shape=lambda state, like, salt=0, dtype=None: like, family="random")


# -- rows: user-defined ops (sg.custom_op, sg.op_from_graph) and the gradient helpers --------------------------------

def _cubic(a, b):
    return a * a * b + b


def _cubic_scalar(a, b):
    return a * a * b + b


def _cubic_grad(inputs, output, g):
    a, b = inputs
    return [g * (2 * a * b), g * (a * a + 1)]


# an elementwise custom op compiled into the loops, and the same op run by the Numba backend in Python
TABLE_CUBIC = sg.custom_op(_cubic, name="table_cubic", grad=_cubic_grad, numba=_cubic_scalar, elementwise=True)
TABLE_CUBIC_PYTHON = sg.custom_op(_cubic, name="table_cubic_python", grad=_cubic_grad, elementwise=True)


def _outer_sum(a, b):
    return a[:, None] + 2 * b[None, :]


def _outer_sum_kernel(a, b, out):
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            out[i, j] = a[i] + 2 * b[j]


def _outer_sum_grad(inputs, output, g):
    return [sg.sum(g, axis=1), 2 * sg.sum(g, axis=0)]


# a custom op of its own shape rule, lowered to an array kernel (unknown sizes: the plan calls the shape rule)
TABLE_OUTER_SUM = sg.custom_op(_outer_sum, name="table_outer_sum", shape=lambda a, b: (a[0], b[0]),
                               grad=_outer_sum_grad, numba=_outer_sum_kernel, flops=1)


def build_op_from_graph(x):
    """x * tanh(x) + x packaged as one op over a placeholder of x's rank and dtype, with every size unknown."""
    p = sg.placeholder((None,) * x.ndim, x.dtype, name="p")
    return sg.op_from_graph([p], sg.tanh(p) * p + p, name="table_graph_op")(x)


CUSTOM_ROWS = [
    OpInfo("custom_op", sg.ops.custom.CustomOp, None, _cubic, ("real", "real"), ALL_PAIRS,
           tuple(BROADCAST_PAIRS[:8]) + (S((0, 3), (3,)),), grads=(G((3, 4), (4,)), G((2, 1, 3), (4, 1))),
           build=TABLE_CUBIC, static_shape=_elementwise_shape, family="custom"),
    OpInfo("custom_op_python", sg.ops.custom.CustomOp, None, _cubic, ("real", "real"), tuple((d, d) for d in ALL),
           (S((3, 4), (4,)), S((), (2, 3)), S((0, 3), (3,))), grads=(G((3, 4), (4,)),),
           build=TABLE_CUBIC_PYTHON, static_shape=_elementwise_shape, family="custom"),
    OpInfo("custom_op_shape_rule", sg.ops.custom.CustomOp, None, _outer_sum, ("real", "real"),
           tuple((d, d) for d in NUMBERS), (S((3,), (4,)), S((1,), (5,)), S((0,), (2,)), S((2,), (0,))),
           grads=(G((3,), (4,)), G((2,), (3,), unknown=True)), build=TABLE_OUTER_SUM,
           static_shape=lambda a, b: a + b, family="custom"),
    OpInfo("op_from_graph", sg.ops.custom.GraphOp, None, lambda x: np.tanh(x) * x + x, ("real",),
           tuple((d,) for d in ALL), tuple(S(s) for s in SHAPES), grads=(G((3, 4)), G((2, 3), unknown=True)),
           build=build_op_from_graph, static_shape=lambda x: x, family="custom"),
    OpInfo("clip_gradient", sg.ops.gradient.ClipGradient, sg.clip_gradient, lambda x, lo, hi: np.array(x),
           ("real",), tuple((d,) for d in ALL), tuple(S(s, lo=-0.5, hi=1.0) for s in SHAPES),
           # the derivative where the clip does not bind (cotangents are standard normal); test_custom_ops.py clips
           grads=(G((3, 4), lo=-10.0, hi=10.0), G((2, 3), lo=-np.inf, hi=np.inf)),
           errors=(E(ValueError, "clip_gradient: lo must be <= hi", spec((3,)), lo=1.0, hi=-1.0),
                   E(ValueError, "clip_gradient: hi must not be NaN", spec((3,)), lo=1.0, hi=float("nan")),
                   E(TypeError, "clip_gradient: lo must be a number", spec((3,)), lo="a", hi=1.0)),
           static_shape=lambda x, lo, hi: x, family="custom"),
    OpInfo("scale_gradient", sg.ops.gradient.ScaleGradient, sg.scale_gradient, lambda x, k: np.array(x),
           ("real",), tuple((d,) for d in ALL), tuple(S(s, k=-2.0) for s in SHAPES),
           grads=(G((3, 4), k=1.0),),  # the derivative at k = 1; test_custom_ops.py checks other scales
           errors=(E(ValueError, "scale_gradient: k must be finite", spec((3,)), k=float("inf")),
                   E(TypeError, "scale_gradient: k must be a number", spec((3,)), k=None)),
           static_shape=lambda x, k: x, family="custom"),
]


# -- rows: collective ops (data-parallel training), in this process's world of one -----------------------------------

try:
    from mpi4py import MPI
except ImportError:  # the mpi extra is absent: symgraph.distributed and its tests skip, and so does this row
    MPI = None
MPI_MISSING = "mpi4py is not installed (pip install -e '.[mpi]'); tests/test_distributed.py skips too"

COLLECTIVE_ROWS = [] if MPI is None else [
    # In a world of one process the sum over processes is x itself, and so is the gradient's allreduce;
    # tests/test_distributed.py checks sums over 2 processes under mpiexec.
    OpInfo("allreduce", sg.ops.collective.AllReduce, sg.ops.collective.allreduce, lambda x: np.array(x), ("real",),
           tuple((d,) for d in FLOATS + INTS), tuple(S(s) for s in SHAPES), grads=(G((3, 4)), G((2, 3), unknown=True)),
           build=lambda x: sg.ops.collective.allreduce(x, MPI.COMM_WORLD),
           errors=(E(sg.DTypeError, "allreduce sums numbers", spec((3,), "bool")),
                   E(TypeError, "allreduce: comm must be an mpi4py communicator", spec((3,)),
                     build=lambda x: sg.ops.collective.allreduce(x, "world"))),
           static_shape=lambda x: x, family="collective"),
]


# -- rows: shape, indexing and creation functions (issue 15) ---------------------------------------------------------

ONE_DTYPE = tuple((d,) for d in ALL)


def _kept(x, **_):
    return x


def _tiled(x, reps):
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    x = (1,) * (len(reps) - len(x)) + tuple(x)
    reps = (1,) * (len(x) - len(reps)) + reps
    return tuple(None if d is None else d * r for d, r in zip(x, reps))


def _repeated(x, repeats, axis=None):
    if axis is None:
        size = None if None in x else int(np.prod(x, dtype=np.int64))
        return (None if size is None else size * repeats,)
    axis %= len(x)
    return tuple((None if d is None else (sum(repeats) if isinstance(repeats, (list, tuple)) else d * repeats))
                 if k == axis else d for k, d in enumerate(x))


def _padded(x, pad_width, mode="constant", **_):
    widths = np.broadcast_to(np.asarray(pad_width), (len(x), 2))
    return tuple(None if d is None else d + int(widths[k].sum()) for k, d in enumerate(x))


def _diagonal_static(x, offset=0, axis1=0, axis2=1):
    axis1, axis2 = axis1 % len(x), axis2 % len(x)
    n1, n2 = x[axis1], x[axis2]
    length = None if None in (n1, n2) else max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    return tuple(d for k, d in enumerate(x) if k not in (axis1, axis2)) + (length,)


def np_scatter_add(x, values, *arrays, key):
    result = x.astype(np.result_type(x, values), copy=True)
    np.add.at(result, fill_key(key, arrays), values)
    return result


def np_index_add(x, source, index, axis):
    return np_scatter_add(x, source, index, key=(slice(None),) * (axis % x.ndim) + (Take(0),))


def np_arange(start, stop=None, step=1, dtype=None):
    if dtype is None:
        dtype = "float32" if any(isinstance(v, float) for v in (start, stop, step)) else "int64"
    return np.arange(start, stop, step, dtype=dtype)


def np_full_like(x, value, dtype=None):
    """numpy.full_like under symgraph's rule for the value (the feed rule): no float for an int dtype (NumPy would
    truncate), no int but 0 and 1 for bool."""
    target = np.dtype(dtype or x.dtype)
    if (target.kind in "iub" and isinstance(value, float)) or (target.kind == "b" and value not in (0, 1)):
        raise TypeError(f"{value!r} is not a {target} value")
    return np.full_like(x, value, dtype)


def np_pad(x, pad_width, mode="constant", constant_values=0):
    """numpy.pad, with the constant values under symgraph's rule (see np_full_like)."""
    for value in np.ravel(np.asarray(constant_values, dtype=object)):
        np_full_like(x.reshape(-1)[:0], value)
    return np.pad(x, pad_width, mode=mode, **({"constant_values": constant_values} if mode == "constant" else {}))


def np_diagonal_grad(x, g, offset, axis1, axis2):
    positions = np.diagonal(np.arange(x.size).reshape(x.shape), offset, axis1, axis2)
    return np_flat_adjoint(positions, g, x.size, g.dtype).reshape(x.shape)


def signed_below(bound):
    """Integers in [-bound, bound): indices counting from either end of an axis of size ``bound``."""
    return lambda shape, dtype, rng: rng.integers(-bound, bound, size=shape).astype(dtype)


INDEXED_DTYPES = tuple((d, "int64") for d in ALL) + (("float64", "int32"),)  # x, then the indices
SCATTER_DTYPES = (("float32", "float32", "int64"), ("float64", "float64", "int32"), ("int32", "int32", "int64"),
                  ("int64", "float32", "int64"), ("bool", "bool", "int64"), ("float32", "float64", "int64"))

ARRAY_ROWS = [
    OpInfo("flatten", None, sg.flatten, np.ravel, ("real",), ONE_DTYPE, tuple(S(s) for s in SHAPES),
           grads=(G((3, 4)), G((2, 3, 2), unknown=True)), static_shape=lambda x: (known_size_or_none(x),),
           family="arrays"),
    OpInfo("ravel", None, sg.ravel, np.ravel, ("real",), ONE_DTYPE, (S((2, 3)), S(())), grads=(G((3, 4)),),
           static_shape=lambda x: (known_size_or_none(x),), family="arrays"),
    OpInfo("moveaxis", None, sg.moveaxis, np.moveaxis, ("real",), ONE_DTYPE,
           (S((2, 3, 4), source=0, destination=-1), S((2, 3, 4), source=(0, 1), destination=(2, 0)),
            S((0, 3), source=1, destination=0), S((5,), source=0, destination=0)),
           grads=(G((2, 3, 4), source=(0, 2), destination=(1, 0)),),
           errors=(E(sg.ShapeError, "the same number of axes", spec((2, 3)), source=(0, 1), destination=0),
                   E(sg.ShapeError, "repeated axis in source", spec((2, 3)), source=(0, 0), destination=(0, 1)),
                   E(sg.ShapeError, "destination 2 is out of range", spec((2, 3)), source=0, destination=2)),
           static_shape=lambda x, source, destination: tuple(
               x[k - 2] for k in np.moveaxis(np.empty(tuple(range(2, len(x) + 2))), source, destination).shape),
           family="arrays"),
    OpInfo("swapaxes", None, sg.swapaxes, np.swapaxes, ("real",), ONE_DTYPE,
           (S((2, 3, 4), axis1=0, axis2=2), S((2, 3), axis1=-1, axis2=0), S((0, 3), axis1=0, axis2=1),
            S((5,), axis1=0, axis2=0)),
           grads=(G((2, 3, 4), axis1=1, axis2=2),),
           errors=(E(sg.ShapeError, "axis2 3 is out of range", spec((2, 3)), axis1=0, axis2=3),),
           family="arrays"),
    OpInfo("flip", None, sg.flip, np.flip, ("real",), ONE_DTYPE,
           (S((2, 3, 4)), S((2, 3, 4), axis=1), S((2, 3, 4), axis=(0, -1)), S((5,)), S(()), S((0, 3), axis=1)),
           grads=(G((2, 3, 4), axis=(0, 2)), G((3, 4), unknown=True)),
           errors=(E(sg.ShapeError, "axis 2 is out of range", spec((2, 3)), axis=2),),
           static_shape=_kept, family="arrays"),
    OpInfo("roll", None, sg.roll, np.roll, ("real",), ONE_DTYPE,
           (S((2, 3, 4), shift=1, axis=2), S((2, 3, 4), shift=-7, axis=1), S((2, 3, 4), shift=(1, 2), axis=(0, 2)),
            S((2, 3, 4), shift=(1, 1), axis=(1, 1)), S((2, 3), shift=4), S((5,), shift=5, axis=0),
            S((0, 3), shift=2, axis=0), S((), shift=3)),
           grads=(G((2, 3, 4), shift=2, axis=1), G((3, 4), shift=-5, unknown=True),
                  G((2, 5), shift=(3, 1), axis=(1, 0), unknown=True)),
           errors=(E(sg.ShapeError, "one shift per axis", spec((2, 3)), shift=(1, 2, 3), axis=(0, 1)),
                   E(sg.ShapeError, "takes one shift", spec((2, 3)), shift=(1, 2)),
                   E(TypeError, "roll: shift must be an int", spec((2, 3)), shift=1.5, axis=0)),
           static_shape=_kept, family="arrays"),
    OpInfo("tile", None, sg.tile, np.tile, ("real",), ONE_DTYPE,
           (S((2, 3), reps=(2, 3)), S((2, 3), reps=2), S((2, 3), reps=(2, 1, 2)), S((4,), reps=(3, 1)),
            S((), reps=3), S((0, 2), reps=(2, 2)), S((2, 3), reps=(0, 1)), S((2, 1, 3), reps=(1, 1, 1))),
           grads=(G((2, 3), reps=(2, 3)), G((2, 3), reps=(2, 1, 2), unknown=True)),
           errors=(E(ValueError, "tile: reps must not be negative", spec((2, 3)), reps=(-1, 1)),
                   E(sg.ShapeError, "reps must be a tuple of ints", spec((2, 3)), reps=(1.5,))),
           static_shape=_tiled, family="arrays"),
    OpInfo("repeat", None, sg.repeat, np.repeat, ("real",), ONE_DTYPE,
           (S((2, 3), repeats=2, axis=1), S((2, 3), repeats=3), S((2, 3, 2), repeats=2, axis=0),
            S((3, 2), repeats=[1, 0, 2], axis=0, unknown=False), S((0, 3), repeats=2, axis=0),
            S((2, 3), repeats=0, axis=1), S((), repeats=2), S((4,), repeats=[2], axis=0)),
           grads=(G((2, 3), repeats=2, axis=0), G((3, 2), repeats=[2, 0, 1], axis=0), G((2, 3), repeats=2,
                                                                                       unknown=True)),
           errors=(E(sg.ShapeError, "2 counts for axis 0 of size 3", spec((3, 2)), repeats=[1, 2], axis=0),
                   E(sg.ShapeError, "needs axis 0 of static size", spec((3, 2)), repeats=[1, 2], axis=0,
                     unknown=True),
                   E(ValueError, "repeat: repeats must not be negative", spec((3,)), repeats=-1),
                   E(TypeError, "repeat: repeats must be an int", spec((3,)), repeats=1.5)),
           static_shape=_repeated, family="arrays"),
    OpInfo("split", None, sg.split, lambda x, parts, pick, axis=0: np.split(x, parts, axis)[pick], ("real",),
           ONE_DTYPE,
           (S((4, 3), parts=2, pick=1), S((2, 6), parts=3, pick=2, axis=1), S((5, 2), parts=[1, 3], pick=1),
            S((5, 2), parts=[1, 3], pick=2), S((5, 2), parts=[2, 9], pick=2), S((0, 3), parts=3, pick=0, axis=0),
            S((2, 3, 4), parts=[2], pick=0, axis=-1)),
           grads=(G((4, 3), parts=2, pick=1), G((2, 6), parts=3, pick=1, axis=1, unknown=True)),
           errors=(E(sg.ShapeError, "does not divide axis 0 of size 5", spec((5, 2)), parts=2, pick=0),
                   E(ValueError, "split: the number of sections must be positive", spec((4,)), parts=0, pick=0)),
           build=lambda x, parts, pick, axis=0: sg.split(x, parts, axis)[pick], family="arrays"),
    OpInfo("pad", None, sg.pad, np_pad, ("real",), ONE_DTYPE,
           (S((2, 3), pad_width=1), S((2, 3), pad_width=((1, 0), (2, 3))), S((2, 3), pad_width=(0, 2)),
            S((2, 3), pad_width=1, constant_values=((1, 2), (0, 1))), S((3,), pad_width=(2, 1), mode="edge"),
            S((2, 3), pad_width=((2, 1), (0, 2)), mode="edge"), S((2, 3), pad_width=((1, 1), (2, 7)), mode="reflect"),
            S((1, 4), pad_width=((3, 2), (0, 0)), mode="reflect"), S((0, 3), pad_width=(1, 2)),
            S((), pad_width=1), S((2, 3), pad_width=0, mode="edge")),
           grads=(G((2, 3), pad_width=((1, 0), (2, 3))), G((3, 4), pad_width=(2, 1), mode="edge"),
                  G((3, 4), pad_width=((2, 1), (1, 5)), mode="reflect"),
                  G((3, 4), pad_width=((2, 1), (1, 5)), mode="reflect", unknown=True),
                  G((3, 4), pad_width=1, mode="edge", unknown=True), G((3, 4), pad_width=(1, 2), unknown=True)),
           errors=(E(ValueError, "pad: mode must be one of", spec((2, 3)), pad_width=1, mode="wrap"),
                   E(ValueError, "pad: pad widths must be non-negative", spec((2, 3)), pad_width=-1),
                   E(ValueError, "does not fit an input of rank 2", spec((2, 3)), pad_width=((1, 2), (1, 2), (3, 4))),
                   E(sg.ShapeError, "cannot extend the empty axis 0", spec((0, 3)), pad_width=1, mode="edge"),
                   E(sg.DTypeError, "pad: constant_values", spec((2,), "int32"), pad_width=1, constant_values=0.5)),
           static_shape=_padded, family="arrays"),
    OpInfo("tril", None, sg.tril, np.tril, ("real",), ONE_DTYPE,
           (S((3, 4)), S((3, 4), k=1), S((2, 4, 3), k=-1), S((4,)), S((0, 3)), S((3, 4), k=-9), S((3, 4), k=7)),
           grads=(G((3, 4), k=1), G((2, 3, 3), k=-1, unknown=True)),
           errors=(E(sg.ShapeError, "tril needs an input with at least one axis", spec(())),
                   E(TypeError, "tril: k must be an int", spec((2, 2)), k=0.5)),
           static_shape=lambda x, k=0: x if len(x) > 1 else x + x, family="arrays"),
    OpInfo("triu", None, sg.triu, np.triu, ("real",), ONE_DTYPE,
           (S((3, 4)), S((3, 4), k=1), S((2, 4, 3), k=-1), S((4,)), S((0, 3))),
           grads=(G((3, 4), k=-1), G((2, 3, 3), k=1, unknown=True)),
           errors=(E(sg.ShapeError, "triu needs an input with at least one axis", spec(())),),
           static_shape=lambda x, k=0: x if len(x) > 1 else x + x, family="arrays"),
    OpInfo("diagonal", arrays.Diagonal, sg.diagonal, np.diagonal, ("real",), ONE_DTYPE,
           (S((3, 4)), S((3, 4), offset=1), S((3, 4), offset=-2), S((2, 3, 4), offset=1, axis1=2, axis2=0),
            S((2, 3, 4), axis1=-1, axis2=1), S((3, 4), offset=5), S((0, 3)), S((3, 4), offset=-3)),
           grads=(G((3, 4), offset=1), G((2, 3, 4), offset=-1, axis1=2, axis2=0, unknown=True)),
           errors=(E(sg.ShapeError, "at least 2 dimensions", spec((3,))),
                   E(sg.ShapeError, "axis1 and axis2 must differ", spec((3, 3)), axis1=0, axis2=-2),
                   E(sg.ShapeError, "axis2 2 is out of range", spec((3, 3)), axis2=2),
                   E(TypeError, "diagonal: offset must be an int", spec((3, 3)), offset=1.0)),
           static_shape=_diagonal_static, family="arrays"),
    OpInfo("diagonal_grad", arrays.DiagonalGrad, None, np_diagonal_grad, ("real", "real"),
           (("float32", "float32"), ("float64", "float64"), ("int32", "float64"), ("bool", "int64")),
           (S((3, 4), (3,), offset=0, axis1=0, axis2=1), S((3, 4), (3,), offset=1, axis1=0, axis2=1),
            S((2, 3, 4), (3, 2), offset=-1, axis1=2, axis2=0), S((0, 3), (0,), offset=0, axis1=0, axis2=1)),
           grads=(G((3, 4), (3,), offset=1, axis1=0, axis2=1, wrt=(1,)),
                  G((2, 3, 4), (3, 2), offset=-1, axis1=2, axis2=0, wrt=(1,), unknown=True)),
           errors=(E(sg.ShapeError, "but x's diagonal has shape (3,)", spec((3, 4)), spec((4,)), offset=0, axis1=0,
                     axis2=1),
                   E(sg.EvaluationError, "but x's diagonal has shape", spec((3, 4)), spec((4,)), offset=0, axis1=0,
                     axis2=1, when="run", unknown=True)),
           build=lambda x, g, offset, axis1, axis2: apply(arrays.DiagonalGrad(offset, axis1, axis2), x, g),
           static_shape=lambda x, g, **_: x, family="arrays"),
    OpInfo("trace", None, sg.trace, np.trace, ("real",), ONE_DTYPE,
           (S((3, 4)), S((3, 4), offset=1), S((2, 3, 4), offset=-1, axis1=1, axis2=2), S((0, 3)), S((3, 4), offset=9)),
           grads=(G((3, 4), offset=-1), G((2, 3, 4), axis1=2, axis2=0, unknown=True)),
           errors=(E(sg.ShapeError, "at least 2 dimensions", spec((3,))),), family="arrays"),
    OpInfo("diag", None, sg.diag, np.diag, ("real",), ONE_DTYPE,
           (S((4,)), S((4,), k=2), S((4,), k=-1), S((3, 4)), S((3, 4), k=1), S((3, 4), k=-2), S((0,)), S((1,), k=-3)),
           grads=(G((4,), k=1), G((3, 4), k=-1), G((3,), k=-2, unknown=True)),
           errors=(E(sg.ShapeError, "diag takes a 1-D or 2-D input", spec((2, 2, 2))),
                   E(sg.ShapeError, "diag takes a 1-D or 2-D input", spec(()))), family="arrays"),
    OpInfo("take_along_axis", None, sg.take_along_axis, np.take_along_axis, ("real", below(4)), INDEXED_DTYPES,
           (S((3, 4), (3, 2), axis=1, all_dtypes=True), S((3, 4), (1, 6), axis=1), S((4, 3), (2, 3), axis=0),
            S((2, 4, 3), (2, 5, 1), axis=1), S((4,), (6,), axis=0),
            S((3, 4), (5,), axis=None, domains=("real", below(12))),
            S((3, 4), (3, 3), axis=-1, domains=("real", signed_below(4))), S((0, 4), (0, 2), axis=1)),
           uniform_dtypes=INDEXED_DTYPES,
           grads=(G((3, 4), (3, 6), axis=1, wrt=(0,), dtypes=(None, "int64")),
                  G((4, 3), (2, 3), axis=0, wrt=(0,), dtypes=(None, "int64"), unknown=True)),
           errors=(E(sg.ShapeError, "must have x's rank 2", spec((3, 4)), spec((3,), "int64"), axis=1),
                   E(sg.DTypeError, "take_along_axis: the indices must be integers", spec((3, 4)), spec((3, 1)),
                     axis=1),
                   E(sg.ShapeError, "takes 1-D indices", spec((3, 4)), spec((3, 1), "int64"), axis=None),
                   E(sg.ShapeError, "axis 2 is out of range", spec((3, 4)), spec((3, 1), "int64"), axis=2)),
           family="arrays"),
    OpInfo("scatter_add", None, sg.scatter_add, np_scatter_add, ("real", "real", below(3)), SCATTER_DTYPES,
           (S((3, 4), (5, 4), (5,), key=Take(0), all_dtypes=True), S((3, 4), (), (6,), key=Take(0)),
            S((3, 4), (4,), (5,), key=Take(0)), S((3, 4), (5,), (5,), key=(Take(0), 2)),
            S((3, 4), (2,), (2,), (2,), key=(Take(0), Take(1)), domains=("real", "real", below(3), below(4))),
            S((3, 4), (3, 2), key=(slice(None), slice(1, 3))), S((3, 4, 2), (3, 3, 2), (3,), key=(slice(None), Take(0)),
                                                                domains=("real", "real", below(4))),
            S((0, 4), (0, 2), key=(slice(None), slice(0, 2)))),
           uniform_dtypes=SCATTER_DTYPES,
           grads=(G((3, 4), (5, 4), (5,), key=Take(0), wrt=(0, 1), dtypes=(None, None, "int64")),
                  G((3, 4), (6,), (6,), (6,), key=(Take(0), Take(1)), wrt=(1,), domains=(None, None, below(3),
                                                                                           below(4)),
                    dtypes=(None, None, "int64", "int64"), unknown=True)),
           errors=(E(sg.ShapeError, "values of shape (3,) do not broadcast to the shape (5, 4) of x[key]", spec((3, 4)),
                     spec((3,)), spec((5,), "int64"), key=Take(0)),
                   E(sg.DTypeError, "index arrays must be integers", spec((3, 4)), spec(()), spec((5,)), key=Take(0))),
           build=lambda x, values, *arrays, key: sg.scatter_add(x, fill_key(key, arrays), values),
           static_shape=lambda x, *shapes, key=None: x, family="arrays"),
    OpInfo("index_add", None, sg.index_add, np_index_add, ("real", "real", below(3)),  # x, source, index
           (("float32", "float32", "int64"), ("float64", "float64", "int32"), ("int64", "int64", "int64"),
            ("int32", "float64", "int64")),
           (S((3, 4), (3, 5), (5,), axis=1, domains=("real", "real", below(4)), all_dtypes=True),
            S((3, 4), (6, 4), (6,), axis=0), S((2, 3, 4), (2, 2, 4), (2,), axis=-2), S((3,), (0,), (0,), axis=0)),
           grads=(G((3, 4), (5, 4), (5,), axis=0, wrt=(0, 1), dtypes=(None, None, "int64")),
                  G((3, 4), (3, 5), (5,), axis=1, wrt=(1,), domains=(None, None, below(4)),
                    dtypes=(None, None, "int64"), unknown=True)),
           errors=(E(sg.ShapeError, "index_add: axis 2 is out of range", spec((3, 4)), spec((3, 2)),
                     spec((2,), "int64"), axis=2),
                   E(sg.DTypeError, "index_add: the index must be integers", spec((3, 4)), spec((2, 4)), spec((2,)),
                     axis=0)),
           build=lambda x, source, index, axis: sg.index_add(x, axis, index, source),
           static_shape=lambda x, *shapes, axis: x, family="arrays"),
    OpInfo("full_like", arrays.FullLike, sg.full_like, np_full_like, ("real",), ONE_DTYPE,
           tuple(S(s, value=2) for s in SHAPES) + (S((3, 4), value=-0.0, dtype="float64"), S((2,), value=True),
                                                   S((2, 3), value=float("nan"), dtype="float32"),
                                                   S((2, 3), value=7, dtype="int32")),
           grads="constant in its input: no gradient (None)",
           errors=(E(sg.DTypeError, "full_like: the fill value", spec((3,), "int64"), value=2.5),
                   E(sg.DTypeError, "full_like: the fill value", spec((3,), "int32"), value=2**40),
                   E(sg.DTypeError, "got str 'a', which is not a number", spec((3,)), value="a")),
           static_shape=lambda x, value, dtype=None: x, family="arrays"),
    OpInfo("ones_like", arrays.FullLike, sg.ones_like, np.ones_like, ("real",), ONE_DTYPE,
           tuple(S(s) for s in SHAPES) + (S((3, 4), dtype="int32"), S((2,), dtype="bool")),
           grads="constant in its input: no gradient (None)",
           static_shape=lambda x, dtype=None: x, family="arrays"),
    OpInfo("full_like_template", arrays.FullLike, None,
           lambda x, value, dtype, shape: np.full(tuple(x.shape[k] if d is None else d for k, d in enumerate(shape)),
                                                 value, dtype),
           ("real",), ONE_DTYPE,
           (S((3, 4), value=1.5, dtype="float32", shape=(None, 2)), S((3, 4), value=-3, dtype="int64", shape=(0, None)),
            S((2,), value=True, dtype="bool", shape=(5,)), S((), value=0.0, dtype="float64", shape=())),
           grads="constant in its input: no gradient (None)",
           errors=(E(sg.ShapeError, "needs a reference of rank 1", spec((3, 4)), value=1.0, dtype="float32",
                     shape=(None,)),),
           build=lambda x, value, dtype, shape: arrays.full_like_shape(x, value, dtype, shape),
           static_shape=lambda x, value, dtype, shape: tuple(x[k] if d is None else d for k, d in enumerate(shape)),
           family="arrays"),
    OpInfo("arange_like", arrays.ArangeLike, None, lambda x, axis: np.arange(x.shape[axis]), ("real",), ONE_DTYPE,
           (S((3, 4), axis=1), S((3, 4), axis=0), S((0, 2), axis=0), S((5,), axis=0)),
           grads="depends only on its input's shape: no gradient (None)",
           build=lambda x, axis: apply(arrays.ArangeLike(axis), x), static_shape=lambda x, axis: (x[axis],),
           family="arrays"),
    OpInfo("zeros", None, sg.zeros, lambda shape, dtype="float32": np.zeros(shape, dtype), ("real",), (("float32",),),
           (S(shape=(2, 3)), S(shape=4, dtype="int32"), S(shape=(), dtype="bool"), S(shape=(0, 2), dtype="float64")),
           grads="no inputs",
           errors=(E(ValueError, "zeros: negative dimensions", shape=(2, -1)),
                   E(TypeError, "zeros: shape must be a tuple", shape=(None, 2)),
                   E(sg.DTypeError, "zeros needs a dtype", shape=(2,), dtype=None)), family="arrays"),
    OpInfo("ones", None, sg.ones, lambda shape, dtype="float32": np.ones(shape, dtype), ("real",), (("float32",),),
           (S(shape=(2, 3)), S(shape=4, dtype="int64"), S(shape=(), dtype="bool")), grads="no inputs",
           errors=(E(TypeError, "ones: shape must be a tuple", shape="3"),), family="arrays"),
    OpInfo("full", None, sg.full, lambda shape, value, dtype=None: np.full(shape, value, dtype or
                                                                          ("float32" if isinstance(value, float)
                                                                           else None)),
           ("real",), (("float32",),),
           (S(shape=(2, 3), value=1.5), S(shape=4, value=7), S(shape=(2,), value=True), S(shape=(), value=2,
                                                                                       dtype="float64")),
           grads="no inputs",
           errors=(E(sg.DTypeError, "full: value", shape=(2,), value=1.5, dtype="int32"),), family="arrays"),
    OpInfo("arange", None, sg.arange, np_arange, ("real",), (("float32",),),
           (S(start=5), S(start=2, stop=9, step=3), S(start=0.0, stop=1.0, step=0.25), S(start=5, stop=1, step=-2),
            S(start=3, stop=3), S(start=1, stop=4, dtype="float64"), S(start=-2, stop=7, step=4, dtype="int32")),
           grads="no inputs",
           errors=(E(ValueError, "arange: step must not be zero", start=0, stop=3, step=0),
                   E(TypeError, "arange: stop must be a number", start=0, stop="3"),
                   E(sg.DTypeError, "arange: dtype bool", start=3, dtype="bool"),
                   E(sg.DTypeError, "would be truncated", start=0.5, stop=3, dtype="int32"),
                   E(ValueError, "do not fit int32", start=0, stop=2**40, step=2**35, dtype="int32")), family="arrays"),
    OpInfo("eye", None, sg.eye, lambda n, m=None, k=0, dtype="float32": np.eye(n, m, k, dtype=dtype), ("real",),
           (("float32",),),
           (S(n=3), S(n=2, m=4, k=1), S(n=4, m=3, k=-2, dtype="int32"), S(n=0), S(n=3, k=5, dtype="bool")),
           grads="no inputs",
           errors=(E(TypeError, "eye: n must be an int", n=2.0), E(ValueError, "eye: m must be in", n=2, m=-1)),
           family="arrays"),
]


def known_size_or_none(shape):
    return None if None in shape else int(np.prod(shape, dtype=np.int64))
# -- rows: reductions, scans and products (issue 15) ----------------------------------------------------------------

def np_var(function):
    """numpy.var or numpy.std with symgraph's ``axis`` spellings."""
    def reference(x, axis=None, ddof=0, keepdims=False):
        return function(x, axis=tuple(axis) if isinstance(axis, list) else axis, ddof=ddof, keepdims=keepdims)
    return reference


def with_zeros(shape, dtype, rng):
    """Distinct values with every third one exactly 0 (cumprod's gradient at zeros)."""
    values = distinct(shape, dtype, rng)
    values.reshape(-1)[::3] = 0
    return values


VARIANCE_AXES = [((2, 3, 4), None), ((2, 3, 4), 1), ((2, 3, 4), (0, 2)), ((2, 3, 4), [1]), ((2, 3, 4), ()),
                 ((5,), 0), ((1, 4), 0), ((), None), ((0, 3), 0), ((0, 3), 1), ((3, 0), None)]
VARIANCE_SAMPLES = tuple(S(shape, axis=axis, ddof=ddof, keepdims=keepdims) for shape, axis in VARIANCE_AXES
                         for ddof in (0, 1) for keepdims in (False, True)) + (
    S((3, 4), axis=1, ddof=1.5), S((3, 4), axis=0, ddof=3), S((3, 4), axis=0, ddof=5), S((3, 4), ddof=-1),
    S((len(SPECIAL_FLOATS),), domains=(specials,)))
DDOF_ERRORS = (E(TypeError, "ddof must be an int or a float", spec((2, 3)), ddof="1"),
               E(ValueError, "ddof must be finite", spec((2, 3)), ddof=float("nan")))


def variance_row(name, function):
    return OpInfo(
        # a composition (mean, sub, square, sum, div; std adds a square root whose gradient at 0 is 0)
        name, None, getattr(sg, name), np_var(function), ("real",), tuple((d,) for d in ALL), VARIANCE_SAMPLES,
        grads=(G((3, 4), axis=1), G((2, 3, 4), axis=(0, 2), ddof=1, keepdims=True), G((5,), ddof=1.5),
               G((3, 4), axis=0, unknown=True), G((2, 3), ddof=1, unknown=True)),
        errors=BAD_AXES + DDOF_ERRORS + (E(TypeError, f"{name}'s keepdims must be True or False", spec((2, 3)),
                                           keepdims="yes"),),
        static_shape=_reduced_shape, family="reduction")


VARIANCE_ROWS = [variance_row("var", np.var), variance_row("std", np.std)]
BOOLEAN_REDUCTION_ROWS = [
    dataclasses.replace(reduction(name, op, function, "discrete", BOOLEAN_RESULT),
                        samples=reduction(name, op, function, "discrete", BOOLEAN_RESULT).samples + (
                            S((len(SPECIAL_FLOATS),), domains=(specials,)),
                            S((len(SPECIAL_FLOATS), 2), axis=0, domains=(specials,))))
    for name, op, function in (("all", reduce.All, np.all), ("any", reduce.Any, np.any))]


def np_logsumexp_weighted(x, b, axis=None, keepdims=False):
    axis = tuple(axis) if isinstance(axis, list) else axis
    return scipy.special.logsumexp(x, axis=axis, b=b, keepdims=keepdims)


def weights(shape, dtype, rng):
    """Weights -2 .. 2 with zeros among them (some sums are negative: NaN, as scipy's)."""
    return np.resize(np.array([0.5, 0, 2, 1, -1, 0, 3], dtype), shape) if dtype.kind != "b" else rng.random(shape) < 0.7


@graph_builder
def logsumexp_weighted(x, b, **kwargs):
    """sg.logsumexp with weights, under the row's name (errors then name both: "logsumexp_weighted: logsumexp: ...")."""
    return sg.logsumexp(x, b=b, **kwargs)


LOGSUMEXP_WEIGHTED_ROW = OpInfo(
    # a composition (a stop-gradient shift, exp, sum, log); the b=None form is the logsumexp op's row
    "logsumexp_weighted", None, sg.logsumexp, np_logsumexp_weighted, ("real", weights),
    (("float32", "float32"), ("float64", "float64"), ("float32", "float64"), ("float64", "int32"),
     ("float32", "int64"), ("float64", "bool")),
    samples=(S((3, 4), (3, 4), all_dtypes=True), S((3, 4), (4,), axis=1), S((4,), (3, 4), axis=0),
             S((2, 3, 4), (3, 1), axis=(0, 2), keepdims=True), S((3, 4), (), axis=-1), S((), ()),
             S((0, 3), (3,), axis=0), S((3, 4), (4,), domains=("real", "positive"), keepdims=True),
             S((5,), (5,), domains=(huge, "positive")), S((len(SPECIAL_FLOATS), 1), (len(SPECIAL_FLOATS), 3), axis=0,
                                                          domains=(specials, weights))),
    grads=(G((3, 4), (4,), axis=1, domains=("distinct", "positive")),
           G((3, 4), (3, 4), domains=("distinct", fixed(0.5))),
           # zero weights: their gradient is the derivative exp(x - result), as finite differences see it
           G((2, 3), (2, 3), axis=0, keepdims=True,
             domains=("distinct", lambda s, d, r: np.array([[1.0, 0.0, 2.0], [0.5, 1.0, 0.0]]))),
           G((3, 4), (4,), axis=1, unknown=True, domains=("distinct", "positive"))),
    errors=(_not_float("logsumexp input", spec((3,), "int32"), spec((3,))),
            E(sg.ShapeError, "cannot be broadcast together", spec((3, 4)), spec((3,))),
            E(sg.ShapeError, "axis 2 is out of range", spec((2, 3)), spec((3,)), axis=2)),
    build=logsumexp_weighted, static_shape=lambda x, b, **kw: _reduced_shape(
        static_broadcast(x, b), **kw), family="reduction")


def np_cumsum(x, axis=None):
    return np.cumsum(x, axis=axis)


def np_reverse_cumsum(x, axis):
    return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)


def np_linear_recurrence(a, b, axis, reverse=False):
    """h = L b line by line, L[k, i] = prod(a[i+1..k]) for i <= k (forward), its transpose with reverse."""
    dtype = np.result_type(a, b)
    a_lines, b_lines = np.moveaxis(a.astype(dtype), axis, -1), np.moveaxis(b.astype(dtype), axis, -1)
    n = b_lines.shape[-1]
    h = np.zeros(b_lines.shape, dtype)
    for line in np.ndindex(b_lines.shape[:-1]):
        L = np.zeros((n, n), dtype)
        for k in range(n):
            for i in range(k + 1):
                L[k, i] = np.prod(a_lines[line][i + 1:k + 1])
        h[line] = (L.T if reverse else L) @ b_lines[line]
    return np.moveaxis(h, -1, axis)


def _scan_shape(x, axis=None, **_):
    if axis is not None:
        return x
    return (None,) if None in x else (int(np.prod(x, dtype=np.int64)),)


SCAN_SAMPLES = (S((3, 4), axis=1), S((3, 4)), S((2, 3, 4), axis=0), S((2, 3, 4), axis=-2), S((5,), axis=0), S(()),
                S((1,), axis=0), S((0, 3), axis=0), S((0, 3), axis=1), S((0, 3)), S((3, 1), axis=1))
SCAN_ERRORS = (E(sg.ShapeError, "axis 2 is out of range", spec((2, 3)), axis=2),
               E(sg.ShapeError, "zero-dimensional input", spec(()), axis=0))
SCAN_ROWS = [
    OpInfo("cumsum", scan.Cumsum, sg.cumsum, np_cumsum, ("real",), tuple((d,) for d in ALL),
           SCAN_SAMPLES + (S((len(SPECIAL_FLOATS),), axis=0, domains=(specials,)),),
           grads=(G((3, 4), axis=1), G((2, 3, 4), axis=0), G((5,)), G((3, 4), axis=1, unknown=True)),
           errors=SCAN_ERRORS, static_shape=_scan_shape, family="scan"),
    OpInfo("cumsum_reverse", scan.Cumsum, None, np_reverse_cumsum, ("real",), tuple((d,) for d in ALL),
           (S((3, 4), axis=1), S((2, 3, 4), axis=0), S((5,), axis=0), S((0, 3), axis=1)),
           grads=(G((3, 4), axis=1), G((2, 3, 4), axis=2, unknown=True)),
           build=lambda x, axis: apply(scan.Cumsum(axis, True), x), static_shape=_scan_shape, family="scan"),
    OpInfo("cumprod", scan.Cumprod, sg.cumprod, lambda x, axis=None: np.cumprod(x, axis=axis), ("discrete",),
           tuple((d,) for d in ALL), SCAN_SAMPLES + (S((len(SPECIAL_FLOATS),), axis=0, domains=(specials,)),),
           # exact zeros in x: the gradient is exact there (no division), to second order
           grads=(G((3, 5), axis=1, domains=(with_zeros,)), G((2, 3, 4), axis=0), G((7,), domains=(with_zeros,)),
                  G((4, 3), axis=0, domains=(fixed(0.0),)), G((3, 4), axis=1, unknown=True, domains=(with_zeros,))),
           errors=SCAN_ERRORS, static_shape=_scan_shape, family="scan"),
    OpInfo("linear_recurrence", scan.LinearRecurrence, None, np_linear_recurrence, ("real", "real"), FLOAT_PAIRS,
           (S((3, 4), (3, 4), axis=1, all_dtypes=True), S((3, 4), (3, 4), axis=1, reverse=True),
            S((2, 3, 4), (2, 3, 4), axis=0), S((2, 3, 4), (2, 3, 4), axis=1, reverse=True), S((5,), (5,), axis=0),
            S((0, 3), (0, 3), axis=0), S((3, 0), (3, 0), axis=0, reverse=True),
            S((5,), (5,), axis=0, domains=(with_zeros, "real"))),
           grads=(G((3, 4), (3, 4), axis=1), G((3, 4), (3, 4), axis=0, reverse=True),
                  G((2, 5), (2, 5), axis=1, domains=(with_zeros, "distinct")),
                  G((2, 3, 4), (2, 3, 4), axis=1, reverse=True, unknown=True)),
           errors=(E(sg.ShapeError, "must have the same shape", spec((3, 4)), spec((3, 5)), axis=0),
                   _not_float("the multipliers of linear_recurrence", spec((3,), "int64"), spec((3,)), axis=0),
                   E(sg.EvaluationError, "differ", spec((3,)), spec((4,)), axis=0, when="run", unknown=True)),
           build=lambda a, b, axis, reverse=False: apply(scan.LinearRecurrence(axis, reverse), a, b),
           static_shape=lambda a, b, **_: tuple(p if p is not None else q for p, q in zip(a, b)), family="scan"),
]


def np_einsum(*arrays, subscripts):
    return np.einsum(subscripts, *arrays)


def build_einsum(*nodes, subscripts):
    return sg.einsum(subscripts, *nodes)


# (shapes, subscripts, unknown): unknown False where static sizes are needed (diagonals) or a size-1 dimension
# broadcasts against a contracted one (with unknown sizes that is matmul's run-time error, NumPy broadcasts)
EINSUM_CASES = [
    (((2, 3), (3, 4)), "ij,jk->ik", True), (((2, 3), (3, 4)), "ij,jk", True), (((2, 3), (2, 3)), "ij,ij->i", True),
    (((3,), (3,)), "i,i", True), (((3,), (2,)), "i,j", True), (((5, 2, 3), (5, 3, 4)), "bij,bjk->bik", True),
    (((3, 3),), "ii", False), (((3, 3),), "ii->i", False), (((3, 3, 2),), "iij->ji", False), (((2, 3),), "ij->", True),
    (((2, 3),), "ba", True), (((2, 1, 3), (4, 3)), "...i,...i", True),
    (((2, 1, 2, 3), (4, 3, 2)), "...ij,...jk->...ik", True), (((2, 1), (2, 3)), "ij,ij->i", True),
    (((2, 1), (3, 4)), "ij,jk", False), (((2, 3, 4), (4, 5), (5, 2)), "abc,cd,de->abe", True),
    (((2, 3, 4, 5), (4, 5, 2, 3)), "abcd,cdef->abef", True), (((2, 3, 4, 5), (5, 4, 2, 3)), "abcd,dcef->feab", True),
    (((4,), (4,), (4,)), "i,i,i", True), (((2, 3), (4, 3), (5, 3)), "ij,kj,lj->ikl", True),
    (((2, 2, 2),), "iii->i", False), (((2, 3), (3, 3)), "ij,jj->i", False), (((2, 3, 4), (4, 3)), "ijk,kj->i", True),
    (((),), "", True), (((), (3,)), ",i", True), (((0, 3),), "ij->", True), (((2, 0), (0, 4)), "ij,jk->ik", True),
    (((2, 3), (3, 4)), "Ab,bc->Ac", True), (((3, 2),), "i...->...", True),
    (((1, 2, 3), (5, 3, 4)), "bij,bjk->bik", True),
    (((2, 3), (3, 4), (4, 5)), "ab,bc,cd->ad", True), (((2, 3), (3, 4)), " ij , jk -> ki ", True),
]
EINSUM_ROW = OpInfo(
    # a composition (transpose, reshape, matmul; or mul and sum; diagonals by indexing; a cast to einsum's dtype)
    "einsum", None, sg.einsum, np_einsum, ("real",),
    tuple((d,) for d in ALL) + (("float32", "int64"), ("int32", "bool"), ("float64", "float32")),
    samples=tuple(S(*shapes, subscripts=sub, unknown=unknown, all_dtypes=(k < 3))
                  for k, (shapes, sub, unknown) in enumerate(EINSUM_CASES)),
    grads=(G((2, 3), (3, 4), subscripts="ij,jk->ik"), G((3, 3), subscripts="ii->i"),
           G((2, 3, 4), (4, 3), subscripts="ijk,kj->i"), G((2, 3), (2, 3), subscripts="ij,ij->i"),
           G((2, 1, 3), (4, 3), subscripts="...i,...i"), G((2, 3), (3, 4), (4, 2), subscripts="ab,bc,cd->ad"),
           G((2, 3, 4, 2), (4, 2, 3), subscripts="abcd,cde->abe"), G((3, 2), (2,), subscripts="ij,j->ji"),
           G((2, 2, 3), (2, 3, 2), subscripts="bij,bjk->bik", unknown=True)),
    errors=(E(sg.ShapeError, "operand 0 has 3 dimensions but its subscripts 'ij' name 2", spec((2, 3, 4)),
              subscripts="ij"),
            E(sg.ShapeError, "label 'j' has size 3 in operand 0 and 4 in operand 1", spec((2, 3)), spec((4, 5)),
              subscripts="ij,jk"),
            E(ValueError, "name 2 operands, 1 were given", spec((2, 3)), subscripts="ij,jk"),
            E(ValueError, "repeat 'i'", spec((2, 3)), subscripts="ij->ii"),
            E(ValueError, "the output's label 'k' is no operand's", spec((2, 3)), subscripts="ij->k"),
            E(ValueError, "need a '...' in the output", spec((2, 3)), subscripts="...j->j"),
            E(ValueError, "holds '1'", spec((2, 3)), subscripts="i1"),
            E(ValueError, "at most one '->'", spec((2, 3)), subscripts="ij->i->j"),
            E(TypeError, "subscripts must be a str", spec((2,)), subscripts=3),
            E(sg.ShapeError, "needs its size known", spec((3, 3)), subscripts="ii->i", unknown=True)),
    build=build_einsum, family="linalg")

TENSORDOT_ROW = OpInfo(
    "tensordot", None, sg.tensordot, lambda a, b, axes=2: np.tensordot(a, b, axes), ("real", "real"), ALL_PAIRS,
    samples=(S((2, 3, 4), (3, 4, 5), all_dtypes=True), S((2, 3), (3, 4), axes=1), S((3,), (3,), axes=1),
             S((2, 3), (4, 5), axes=0), S((2, 3, 4), (4, 3, 2), axes=([1, 2], [1, 0])),
             S((2, 3, 4), (4, 2), axes=([2], [0])), S((0, 3), (3, 4), axes=1), S((3, 2), (2,), axes=((1,), (0,))),
             S((3, 2), (3,), axes=(0, 0)), S((), (), axes=0)),
    grads=(G((2, 3, 4), (3, 4, 2)), G((3, 4), (4, 2), axes=1),
           G((2, 3, 4), (4, 3, 2), axes=([1, 2], [1, 0]), unknown=True)),
    errors=(E(sg.ShapeError, "shape-mismatch for sum", spec((2, 3)), spec((4, 5)), axes=1),
            E(sg.ShapeError, "contracts more dimensions than the operands have", spec((2,)), spec((2,)), axes=2),
            E(TypeError, "axes must be an int or a pair of axis sequences", spec((2,)), spec((2,)), axes="x"),
            E(sg.ShapeError, "repeat an axis", spec((2, 2)), spec((2, 2)), axes=([0, 0], [0, 1])),
            E(sg.ShapeError, "pair 1 axes of the first operand with 2", spec((2, 2)), spec((2, 2)),
              axes=([0], [0, 1]))),
    family="linalg")

INNER_ROW = OpInfo(
    "inner", None, sg.inner, np.inner, ("real", "real"), ALL_PAIRS,
    samples=(S((3,), (3,), all_dtypes=True), S((2, 3), (4, 3)), S((2, 3, 4), (5, 4)), S((), (3,)), S((3,), ()),
             S((0, 3), (2, 3))),
    grads=(G((3,), (3,)), G((2, 3), (4, 3)), G((), (3,)), G((2, 3), (4, 3), unknown=True)),
    errors=(E(sg.ShapeError, "shape-mismatch for sum", spec((2, 3)), spec((2, 4))),), family="linalg")

OUTER_ROW = OpInfo(
    "outer", None, sg.outer, np.outer, ("real", "real"), ALL_PAIRS,
    samples=(S((3,), (4,), all_dtypes=True), S((2, 3), (2,)), S((), (3,)), S((0,), (3,)), S((2, 2), (3, 1))),
    grads=(G((3,), (4,)), G((2, 3), (2,)), G((3,), (2,), unknown=True)), family="linalg")


def np_norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 (NumPy's name)
    return np.linalg.norm(x, ord, tuple(axis) if isinstance(axis, list) else axis, keepdims)


NORM_ROW = OpInfo(
    # a composition (abs, square, pow, sum, max, min, where): the gradient at 0 is 0, as PyTorch's
    "norm", None, sg.linalg.norm, np_norm, ("real",), tuple((d,) for d in ALL),
    samples=tuple(S((5,), ord=p) for p in (None, 2, 1, np.inf, -np.inf, 0, 3, 0.5, -1, -2.5)) + (
        S((5,), ord=-1, domains=("discrete",)), S((5,), ord=0.5, domains=("discrete",)), S((3, 4), axis=1),
        S((3, 4), ord=1, axis=0, keepdims=True), S((3, 4)), S((3, 4), ord="fro"), S((3, 4), ord=1), S((3, 4), ord=-1),
        S((3, 4), ord=np.inf, keepdims=True), S((3, 4), ord=-np.inf, axis=(1, 0)), S((2, 3, 4), axis=(0, 2)),
        S((2, 3, 4)), S((2, 3, 4), ord=1, axis=(2, 0), keepdims=True), S((0, 3), axis=1), S(()),
        S((3, 4), keepdims=True),
        S((len(SPECIAL_FLOATS),), domains=(specials,)), S((len(SPECIAL_FLOATS),), ord=3, domains=(specials,)),
        S((len(SPECIAL_FLOATS),), ord=-2, domains=(specials,)), S((len(SPECIAL_FLOATS),), ord=1, domains=(specials,))),
    grads=(G((5,)), G((3, 4), axis=1), G((3, 4), ord="fro"), G((3, 4), ord=1, axis=0), G((5,), ord=3),
           G((5,), ord=-1.5), G((3, 4), ord=np.inf), G((3, 4), ord=1), G((3, 4), ord=-np.inf, axis=(1, 0)),
           G((4,), ord=0.5), G((2, 3), unknown=True), G((2, 3, 4), axis=(0, 2), keepdims=True)),
    errors=(E(ValueError, "needs an SVD", spec((3, 4)), ord=2), E(ValueError, "needs an SVD", spec((3, 4)), ord="nuc"),
            E(ValueError, "is a matrix norm", spec((3,)), ord="fro"),
            E(sg.ShapeError, "takes a 1-D or 2-D input", spec((2, 3, 4)), ord=1),
            E(TypeError, "ord must be None, a number, 'fro' or 'nuc'", spec((3,)), ord="x"),
            E(ValueError, "is no matrix norm", spec((3, 4)), ord=3),
            E(sg.ShapeError, "names one axis twice", spec((3, 4)), axis=(0, 0)),
            E(sg.ShapeError, "axis 2 is out of range", spec((3, 4)), axis=2),
            E(ValueError, "ord must not be NaN", spec((3,)), ord=float("nan")),
            E(ValueError, "axis must be an int or a pair of ints", spec((2, 3, 4)), axis=(0, 1, 2)),
            E(TypeError, "norm's keepdims must be True or False", spec((3,)), keepdims=1)),
    family="linalg")
PRODUCT_ROWS = [EINSUM_ROW, TENSORDOT_ROW, INNER_ROW, OUTER_ROW, NORM_ROW]



# -- the table ------------------------------------------------------------------------------------------------------

ROWS = {row.name: row for row in [
    *UNARY_ROWS, *BINARY_ROWS, WHERE_ROW, CLIP_ROW, CAST_ROW,
    *REDUCTION_ROWS, *ARG_ROWS, SIZE_ROW,
    MATMUL_ROW, TRANSPOSE_ROW, RESHAPE_ROW, EXPAND_DIMS_ROW, SQUEEZE_ROW, BROADCAST_TO_ROW, CONCATENATE_ROW,
    STACK_ROW, INDEX_ROW, INDEX_GRAD_ROW, ONE_HOT_ROW,
    SOFTMAX_ROW, LOG_SOFTMAX_ROW, LOGSUMEXP_ROW, SPARSE_CROSS_ENTROPY_ROW, CROSS_ENTROPY_ROW, TARGETS_LIKE_ROW,
    VALUES_PER_CHANNEL_ROW,
    CONV2D_ROW, CONV2D_BACKPROP_INPUT_ROW, CONV2D_BACKPROP_FILTER_ROW, CONVOLVE2D_ROW, MAX_POOL2D_ROW,
    MAX_POOL2D_GRAD_ROW, MAX_POOL2D_GATHER_ROW, AVG_POOL2D_ROW, AVG_POOL2D_GRAD_ROW,
    RESHAPE_LIKE_ROW, BROADCAST_LIKE_ROW, SUM_TO_ROW, CONCATENATE_PART_ROW, ZEROS_LIKE_ROW, RANDOM_UNIFORM_ROW,
    *CUSTOM_ROWS, *COLLECTIVE_ROWS,
    *ARRAY_ROWS,  # shape, indexing and creation (issue 15)
    # reductions, scans and products (issue 15)
    *VARIANCE_ROWS, *BOOLEAN_REDUCTION_ROWS, LOGSUMEXP_WEIGHTED_ROW, *SCAN_ROWS, *PRODUCT_ROWS,
]}

# Op classes of symgraph.ops.* that need no row, and why.
NO_ROW = {
    "Leaf": "constants, variables and placeholders have no inputs and no rules (tested in test_graph_eval)",
    **({"AllReduce": MPI_MISSING} if MPI is None else {}),
}


def family(name):
    return [row for row in ROWS.values() if row.family == name]


def value_cases():
    """(row, sample, dtype combination) for every value check of the table."""
    return [(row, s, combo) for row in ROWS.values() for s in row.samples for combo in row.combos_at(s)]


def grad_cases():
    return [(row, k, case) for row in ROWS.values() if not isinstance(row.grads, str)
            for k, case in enumerate(row.grads)]


def error_cases():
    return [(row, k, case) for row in ROWS.values() for k, case in enumerate(row.errors)]
