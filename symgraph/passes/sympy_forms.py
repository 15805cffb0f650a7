"""The sympy side of the sympy-region pass (``sympy_regions``): a region as a sympy expression, its simplified forms,
their graphs over the region's leaves, and the comparison of each candidate with the region's own ops.

Imported by ``sympy_regions`` once it finds a region, so that ``import symgraph`` does not import sympy.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import sympy
from sympy.core.function import UndefinedFunction

from symgraph import autodiff
from symgraph.backends.numpy import evaluate
from symgraph.graph import Constant, Node, apply, placeholder
from symgraph.ops import sum as sum_
from symgraph.passes.sympy_regions import NATIVE_OPS, STABLE_OPS, is_leaf, is_number
from symgraph.sympy_bridge import FUNCTION_OPS, build_graph, op_form

# Sample values of a leaf: the domain edges of log, sqrt, division and powers, and beyond them.
FINITE_EDGES = (0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 1e-3, -1e-3)
NON_FINITE = (np.inf, -np.inf, np.nan)
LARGE = (30.0, -30.0, 1e3, -1e3, 1e8, -1e8)
GRID_LIMIT, RANDOM_POINTS, CONTINUOUS_POINTS, LARGE_POINTS = 4096, 2048, 256, 256

# The sympy functions of the native region ops (the others are written with Add, Mul and Pow).
NATIVE_FUNCTIONS = frozenset(function for function, op_name in FUNCTION_OPS.items() if op_name in NATIVE_OPS)


@functools.cache
def import_what_sympy_imports_on_first_use() -> None:
    """sympy.simplify imports sympy.physics.units the first time it runs (about half a second): done before any time
    limit starts, so that the first region is not over its limit for that alone."""
    import sympy.physics.units  # noqa: F401


def _to_sympy(root: Node, consumers, leaf_index, symbols):
    def convert(node):
        if is_leaf(node, root, consumers):
            if is_number(node):
                return sympy.nsimplify(node.value.item(), rational=True) if node.dtype.kind == "f" \
                    else sympy.Integer(node.value.item())
            return symbols[leaf_index[id(node)]]
        return op_form(node.op.name, [convert(i) for i in node.inputs], opaque=STABLE_OPS)
    return convert(root)


def find_candidate(root, consumers, leaves, leaf_index, finite, op_count):
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
        return _count_built_ops(from_sympy(expr, leaves), leaves)
    except Exception:  # a form our ops cannot build with these leaves' types
        return None


def _representable(expr) -> bool:
    if expr.is_Number:
        return bool(expr.is_real) and expr.is_finite is not False
    if expr.is_Symbol:
        return True
    if isinstance(expr, (sympy.Add, sympy.Mul, sympy.Pow)) or expr.func in NATIVE_FUNCTIONS or _is_stable(expr):
        return all(_representable(a) for a in expr.args)
    return False


def _is_stable(expr) -> bool:
    """Whether ``expr`` is one of the region's stable ops, which sympy sees as undefined functions of their name."""
    return isinstance(expr.func, UndefinedFunction) and expr.func.__name__ in STABLE_OPS


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


def from_sympy(expr, leaves):
    """The graph of a representable sympy expression over ``leaves`` (symbol x_k is leaves[k]), or a number."""
    return build_graph(expr, lambda symbol: leaves[int(symbol.name[1:])])


def _equivalent(root, consumers, leaf_index, finite, candidate) -> bool:
    """Whether ``candidate`` computes the region's values and derivatives at the sample points (``_same_results``)."""
    domain, large = _sample_points(finite)
    points = np.concatenate([domain, large], axis=1)
    stand_ins = [placeholder((points.shape[1],), "float64", name=f"x{k}") for k in range(len(finite))]
    try:
        original = _region_copy(root, consumers, leaf_index, stand_ins)
        rebuilt = from_sympy(candidate, stand_ins)
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
        if is_leaf(node, root, consumers):
            if is_number(node):
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
