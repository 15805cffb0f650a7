"""Simplify maximal elementwise regions with sympy, under time limits, keeping a result only if it is smaller and
computes the same thing everywhere.

A region is a tree of floating-point elementwise nodes whose inner nodes feed only the region; its leaves (anything
else, including nodes shared with the rest of the graph) become sympy symbols, 0-d constants become numbers. The
region is turned into a sympy expression, ``sympy.simplify``-ed, and rebuilt from the original leaves when the rebuilt
form has fewer ops.

Some of sympy's identities (even for real symbols) hold only on part of the domain: sqrt(x)**2 = x and exp(log x) = x
only for x >= 0, log(x) - log(x) = 0 and x*y/y = x not where the original is undefined. So a candidate is compared
with the region's own ops (NumPy, float64) at sample points that include negatives, zero, the edges +-1, small and
large magnitudes, and, for leaves that may be non-finite (anything but inputs, finite constants and total ops of
them, see ``always_finite``), infinities and NaN: its values and its derivatives must have the same NaN/inf pattern
exactly and agree to rounding elsewhere, and at large magnitudes it must be finite wherever the original is. A NaN
never becomes a number, so a removable singularity (x*y/y at y = 0) stays.
"""

from __future__ import annotations

import functools
import itertools
import time
from functools import reduce

import numpy as np
import sympy

from symgraph import autodiff
from symgraph.graph import Constant, Node, apply, placeholder, toposort
from symgraph.passes import time_limit
from symgraph.passes.patterns import always_finite
from symgraph.passes.rewrite import rebuild
from symgraph.ops import (
    abs as abs_, add, broadcast_like, broadcast_to, cos, div, exp, expm1, log, log1p, mul, neg, pow as pow_,
    reciprocal, relu, sigmoid, sin, softplus, sqrt, square, sub, tanh, zeros_like,
)
from symgraph.ops import sum as sum_

TIME_BUDGET = 0.5  # seconds of sympy work per sg.optimize call; regions beyond it are left as they are
REGION_TIME_LIMIT = 0.25  # seconds for one region; sympy is interrupted there (SIGALRM, main thread only)
MIN_REGION_OPS, MAX_REGION_OPS, MAX_LEAVES = 3, 24, 8
# Off the main thread sympy cannot be interrupted; regions this small simplify in well under REGION_TIME_LIMIT.
MAX_UNINTERRUPTIBLE_OPS = 8
CACHE_LIMIT = 4096
# Sample values of a leaf: the domain edges of log, sqrt, division and powers, and beyond them.
FINITE_EDGES = (0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 1e-3, -1e-3)
NON_FINITE = (np.inf, -np.inf, np.nan)
LARGE = (30.0, -30.0, 1e3, -1e3, 1e8, -1e8)
GRID_LIMIT, RANDOM_POINTS, CONTINUOUS_POINTS, LARGE_POINTS = 4096, 2048, 256, 256

# Ops sympy knows natively: (arity, graph node -> sympy expression of the inputs' expressions).
NATIVE = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b, "neg": lambda a: -a, "square": lambda a: a ** 2, "sqrt": sympy.sqrt,
    "reciprocal": lambda a: 1 / a, "exp": sympy.exp, "log": sympy.log, "abs": sympy.Abs, "sin": sympy.sin,
    "cos": sympy.cos, "tanh": sympy.tanh,
}
# Ops kept opaque (their stable forms matter): sympy sees an undefined function of that name.
OPAQUE = {"sigmoid": sigmoid, "softplus": softplus, "relu": relu, "log1p": log1p, "expm1": expm1}
OPAQUE_FUNCTIONS = {name: sympy.Function(name) for name in OPAQUE}
SYMPY_TO_GRAPH = {sympy.exp: exp, sympy.log: log, sympy.Abs: abs_, sympy.sin: sin, sympy.cos: cos, sympy.tanh: tanh}
FLOATS = (np.dtype("float32"), np.dtype("float64"))

_cache: dict = {}


class Budget:
    """Seconds of sympy work left for one sg.optimize call."""

    def __init__(self, seconds: float | None = None):
        self.left = TIME_BUDGET if seconds is None else seconds
        self.skipped = 0


def simplify_regions(outputs, context) -> list[Node]:
    """The pass: replace each region root by a smaller sympy-simplified equivalent where one is found."""
    nodes = toposort(list(outputs))
    consumers: dict[int, int] = {}
    for node in nodes:
        for i in node.inputs:
            consumers[id(i)] = consumers.get(id(i), 0) + 1
    for o in outputs:
        consumers[id(o)] = consumers.get(id(o), 0) + 2  # an output is never an inner node
    inner = {id(i) for node in nodes if _in_region(node) for i in node.inputs
             if _in_region(i) and consumers.get(id(i)) == 1}
    budget = getattr(context, "sympy_budget", None) or Budget()
    mapping: dict[int, Node] = {}
    for node in nodes:
        current = rebuild(node, [mapping[id(i)] for i in node.inputs])
        if _in_region(node) and id(node) not in inner:
            replacement = _simplify_root(node, consumers, mapping, budget)
            if replacement is not None:
                context.record("sympy_region", current, replacement)
                current = replacement
        mapping[id(node)] = current
    return [mapping[id(o)] for o in outputs]


def _in_region(node: Node) -> bool:
    return (node.op.name in NATIVE or node.op.name in OPAQUE) and node.dtype in FLOATS


def _collect(root: Node, consumers):
    """The region under ``root``: its op nodes (post-order) and its leaves, or None when too big."""
    ops, leaves, leaf_index = [], [], {}
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            ops.append(node)
            continue
        inner = node is root or (_in_region(node) and consumers.get(id(node), 0) == 1)
        if not inner:
            if not _is_number(node) and id(node) not in leaf_index:
                leaf_index[id(node)] = len(leaves)
                leaves.append(node)
            continue
        stack.append((node, True))
        stack.extend((i, False) for i in reversed(node.inputs))
        if len(ops) + len(stack) > 4 * MAX_REGION_OPS:
            return None
    if not MIN_REGION_OPS <= len(ops) <= MAX_REGION_OPS or len(leaves) > MAX_LEAVES:
        return None
    return ops, leaves, leaf_index


def _is_number(node: Node) -> bool:
    return isinstance(node, Constant) and node.value.ndim == 0 and node.dtype.kind in "fiub"


def _region_key(root: Node, consumers, leaf_index) -> tuple:
    """A hashable description of the region's structure (leaves by position, numbers by value)."""
    def key(node):
        if node is not root and not (_in_region(node) and consumers.get(id(node), 0) == 1):
            if _is_number(node):
                return ("number", node.value.item())
            return ("leaf", leaf_index[id(node)])
        return (node.op.name,) + tuple(key(i) for i in node.inputs)
    return key(root)


def _to_sympy(root: Node, consumers, leaf_index, symbols):
    def convert(node):
        if node is not root and not (_in_region(node) and consumers.get(id(node), 0) == 1):
            if _is_number(node):
                return sympy.nsimplify(node.value.item(), rational=True) if node.dtype.kind == "f" \
                    else sympy.Integer(node.value.item())
            return symbols[leaf_index[id(node)]]
        args = [convert(i) for i in node.inputs]
        if node.op.name in NATIVE:
            return NATIVE[node.op.name](*args)
        return OPAQUE_FUNCTIONS[node.op.name](*args)
    return convert(root)


def _simplify_root(root: Node, consumers, mapping, budget: Budget) -> Node | None:
    collected = _collect(root, consumers)
    if collected is None:
        return None
    ops, leaves, leaf_index = collected
    finite = tuple(always_finite(leaf) for leaf in leaves)
    key = (_region_key(root, consumers, leaf_index), finite)
    if key in _cache:
        candidate = _cache[key]
    else:
        interruptible = time_limit.available()
        if budget.left <= 0 or (not interruptible and len(ops) > MAX_UNINTERRUPTIBLE_OPS):
            budget.skipped += 1
            return None
        _import_what_sympy_imports_on_first_use()
        started = time.perf_counter()
        find = functools.partial(_find_candidate, root, consumers, leaves, leaf_index, finite, len(ops))
        limit = min(budget.left, REGION_TIME_LIMIT)
        candidate = time_limit.call_with_time_limit(limit, find) if interruptible else find()
        budget.left -= time.perf_counter() - started
        if candidate is time_limit.TIMED_OUT:
            budget.skipped += 1
            candidate = None
        if len(_cache) >= CACHE_LIMIT:
            _cache.clear()
        _cache[key] = candidate
    if candidate is None:
        return None
    new_leaves = [mapping[id(leaf)] for leaf in leaves]
    return _fit(_from_sympy(candidate, new_leaves), root, new_leaves)


@functools.cache
def _import_what_sympy_imports_on_first_use() -> None:
    """sympy.simplify imports sympy.physics.units the first time it runs (about half a second): done before any time
    limit starts, so that the first region is not over its limit for that alone."""
    import sympy.physics.units  # noqa: F401


def _find_candidate(root, consumers, leaves, leaf_index, finite, op_count):
    """The smallest sympy form that rebuilds into fewer ops and computes what the region does; else None."""
    symbols = sympy.symbols(f"x0:{len(leaves)}", real=True)
    original = _to_sympy(root, consumers, leaf_index, symbols)
    try:
        simplified = sympy.simplify(original)
    except Exception:  # sympy gives up on some expressions (recursion, unsupported forms): keep the original
        simplified = original
    # sympy's automatic canonicalization alone (x*y - y*x -> 0) may already be the smaller form.
    counted = [(_built_op_count(candidate, leaves), k, candidate) for k, candidate in enumerate((original, simplified))]
    for count, _, candidate in sorted(c for c in counted if c[0] is not None and c[0] < op_count):
        if _equivalent(root, consumers, leaf_index, finite, candidate):
            return candidate
    return None


def _built_op_count(expr, leaves) -> int | None:
    """How many op nodes ``expr`` rebuilds into, or None when our ops cannot express it."""
    if not _representable(expr):
        return None
    try:
        return _count_built_ops(_from_sympy(expr, leaves), leaves)
    except Exception:  # a form our ops cannot build with these leaves' types
        return None


def _representable(expr) -> bool:
    if expr.is_Number:
        return bool(expr.is_real) and expr.is_finite is not False
    if expr.is_Symbol:
        return True
    if isinstance(expr, (sympy.Add, sympy.Mul, sympy.Pow)) or expr.func in SYMPY_TO_GRAPH or \
            expr.func in OPAQUE_FUNCTIONS.values():
        return all(_representable(a) for a in expr.args)
    return False


def _count_built_ops(result, leaves) -> int:
    """Op nodes of ``result`` above ``leaves`` (0-d constants from numbers are not ops)."""
    if not isinstance(result, Node):
        return 0
    stop = {id(leaf) for leaf in leaves}
    seen, stack, count = set(), [result], 0
    while stack:
        node = stack.pop()
        if id(node) in seen or id(node) in stop or isinstance(node, Constant):
            continue
        seen.add(id(node))
        count += 1
        stack.extend(node.inputs)
    return count


def _coefficient(expr):
    return expr.as_coeff_Mul()[0]


def _is_negative_term(term) -> bool:
    return _coefficient(term) < 0


def _without_sign(term):
    coefficient, rest = term.as_coeff_Mul()
    if coefficient < 0:
        return rest if coefficient == -1 else -coefficient * rest
    return term


def _split_fraction(expr):
    """Factors of a product: (numerator factors, denominator factors), the sign left out of both."""
    numerator, denominator = [], []
    for factor in expr.args:
        if factor.is_Number:
            if factor < 0:
                factor = -factor
            if factor == 1:
                continue
            p, q = sympy.fraction(factor)
            if p != 1:
                numerator.append(p)
            if q != 1:
                denominator.append(q)
        elif isinstance(factor, sympy.Pow) and factor.exp.is_Number and factor.exp < 0:
            denominator.append(factor.base ** -factor.exp)
        else:
            numerator.append(factor)
    return numerator, denominator


def _power_op(exponent):
    """The unary op for x ** exponent where there is one (square, sqrt, reciprocal), else None."""
    return {2: square, sympy.Rational(1, 2): sqrt, -1: reciprocal}.get(exponent)


def _from_sympy(expr, leaves):
    """The graph of a representable sympy expression over ``leaves`` (symbol x_k is leaves[k])."""
    if expr.is_Symbol:
        return leaves[int(expr.name[1:])]
    if expr.is_Number:
        return float(expr)
    if isinstance(expr, sympy.Add):
        positive = [_from_sympy(a, leaves) for a in expr.args if not _is_negative_term(a)]
        negative = [_from_sympy(_without_sign(a), leaves) for a in expr.args if _is_negative_term(a)]
        if not positive:
            return neg(reduce(add, negative))
        total = reduce(add, positive)
        return reduce(sub, negative, total)
    if isinstance(expr, sympy.Mul):
        numerator, denominator = _split_fraction(expr)
        top = reduce(mul, [_from_sympy(f, leaves) for f in numerator]) if numerator else 1.0
        if denominator:
            top = div(top, reduce(mul, [_from_sympy(f, leaves) for f in denominator]))
        return neg(top) if _coefficient(expr) < 0 else top
    if isinstance(expr, sympy.Pow):
        base = _from_sympy(expr.base, leaves)
        unary = _power_op(expr.exp)
        if unary is not None:
            return unary(base)
        return pow_(base, _from_sympy(expr.exp, leaves))
    args = [_from_sympy(a, leaves) for a in expr.args]
    if expr.func in SYMPY_TO_GRAPH:
        return SYMPY_TO_GRAPH[expr.func](*args)
    return OPAQUE[str(expr.func)](*args)


def _fit(result, root: Node, leaves) -> Node | None:
    """``result`` with root's shape and dtype (broadcast where simplification dropped a leaf), or None."""
    if not isinstance(result, Node):  # a number: the region is constant
        like = next((leaf for leaf in leaves if leaf.shape == root.shape and leaf.dtype == root.dtype), None)
        if all(d is not None for d in root.shape):
            return broadcast_to(np.asarray(result, root.dtype), root.shape)
        return None if like is None else add(zeros_like(like), result)
    if result.dtype != root.dtype:
        return None
    if result.shape == root.shape:
        return result
    if all(d is not None for d in root.shape):
        return broadcast_to(result, root.shape)
    like = next((leaf for leaf in leaves if leaf.shape == root.shape), None)
    return None if like is None else broadcast_like(result, like)


def _equivalent(root, consumers, leaf_index, finite, candidate) -> bool:
    """Whether ``candidate`` computes the region's values and derivatives at the sample points (``_same_results``)."""
    from symgraph.backends.numpy import evaluate

    domain, large = _sample_points(finite)
    points = np.concatenate([domain, large], axis=1)
    stand_ins = [placeholder((points.shape[1],), "float64", name=f"x{k}") for k in range(len(finite))]
    try:
        original = _region_copy(root, consumers, leaf_index, stand_ins)
        rebuilt = _from_sympy(candidate, stand_ins)
        if not isinstance(rebuilt, Node):
            rebuilt = _number_like(rebuilt, points.shape[1])
        pairs = [(original, rebuilt)]
        if stand_ins:
            pairs += zip(*(autodiff.grad(sum_(y), stand_ins, disconnected="zero") for y in (original, rebuilt)))
        values = evaluate([n for pair in pairs for n in pair], dict(zip(stand_ins, points)))
    except Exception:  # a form that cannot be built or evaluated here is not accepted
        return False
    in_domain = np.arange(points.shape[1]) < domain.shape[1]
    return all(_same_results(old, new, in_domain) for old, new in zip(values[::2], values[1::2]))


def _sample_points(finite) -> tuple[np.ndarray, np.ndarray]:
    """(domain points, large points), one row per leaf: every combination of edge values (or many random ones),
    random values in [-3, 3], and large magnitudes for leaves that are certainly finite."""
    rng = np.random.default_rng(0)
    choices = [FINITE_EDGES if is_finite else FINITE_EDGES + NON_FINITE for is_finite in finite]
    if np.prod([len(c) for c in choices]) <= GRID_LIMIT:
        edges = np.array(list(itertools.product(*choices))).T.reshape(len(finite), -1)
    else:
        edges = np.array([rng.choice(c, RANDOM_POINTS) for c in choices])
    continuous = rng.uniform(-3, 3, (len(finite), CONTINUOUS_POINTS))
    large = np.array([rng.choice(LARGE + FINITE_EDGES if is_finite else FINITE_EDGES, LARGE_POINTS)
                      for is_finite in finite]).reshape(len(finite), LARGE_POINTS)
    return np.concatenate([edges, continuous], axis=1), large


def _region_copy(root, consumers, leaf_index, stand_ins) -> Node:
    """The region's ops applied to float64 stand-ins of its leaves (numbers as float64 constants)."""
    def copy(node):
        if node is not root and not (_in_region(node) and consumers.get(id(node), 0) == 1):
            if _is_number(node):
                return _number_like(node.value.item(), ())
            return stand_ins[leaf_index[id(node)]]
        return apply(node.op, *[copy(i) for i in node.inputs])
    return copy(root)


def _number_like(value, shape) -> Constant:
    array = np.full(shape, value, np.float64)
    array.flags.writeable = False
    return Constant(array, None, None)


def _same_results(old, new, in_domain) -> bool:
    """On the domain points: NaN and infinities at the same places, finite values equal to rounding. On the large
    points: finite wherever the original is (a form that overflows sooner is worse)."""
    old, new = np.broadcast_arrays(np.asarray(old, np.float64), np.asarray(new, np.float64))
    old_domain, new_domain = old[..., in_domain], new[..., in_domain]
    for pattern in (np.isnan, np.isposinf, np.isneginf):
        if not np.array_equal(pattern(old_domain), pattern(new_domain)):
            return False
    finite = np.isfinite(old_domain)
    scale = max(1.0, float(np.max(np.abs(old_domain[finite]), initial=0.0)))
    if not np.allclose(new_domain[finite], old_domain[finite], rtol=1e-9, atol=1e-12 * scale):
        return False
    old_large, new_large = old[..., ~in_domain], new[..., ~in_domain]
    return bool(np.all(np.isfinite(new_large[np.isfinite(old_large)])))
