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

This module finds the regions and spends the time budget; ``sympy_forms`` does the sympy work and the comparison. It
is imported (with sympy, about 0.6 s) when the first region is found, so graphs without one never import sympy.
A region for which sympy found nothing simpler, in its time limits, is recorded on disk (an empty file under
``<cache>/sympy/``, named by a hash of the region and of symgraph's, sympy's and NumPy's code): the next process
building the same graph (a training script run again) leaves it as it is without importing sympy.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from symgraph import cache_dir
from symgraph.graph import Constant, Node, attributed_to, toposort
from symgraph.passes import time_limit
from symgraph.passes.patterns import always_finite
from symgraph.passes.rewrite import rebuild
from symgraph.ops import add, broadcast_like, broadcast_to, zeros_like

TIME_BUDGET = 0.5  # seconds of sympy work per sg.optimize call; regions beyond it are left as they are
REGION_TIME_LIMIT = 0.25  # seconds for one region; sympy is interrupted there (SIGALRM, main thread only)
MIN_REGION_OPS, MAX_REGION_OPS, MAX_LEAVES = 3, 24, 8
# Off the main thread sympy cannot be interrupted; regions this small simplify in well under REGION_TIME_LIMIT.
MAX_UNINTERRUPTIBLE_OPS = 8
CACHE_LIMIT = 4096

# Ops sympy simplifies in their sympy forms (``symgraph.sympy_bridge.OP_FORMS``). tan and the inverse trigonometric
# and hyperbolic functions are here: sympy's identities for them (tan(atan x) = x, cos(asin x) = sqrt(1 - x^2)) hold
# on their real domains, and the candidate check rejects those that hold on less (acos x + asin x = pi/2 is not NaN
# for |x| > 1; it is sampled at +-2, +-3), and simplify takes about as long with them as with sin and cos (0.02-0.08 s
# a region). rsqrt is x^(-1/2), a power like sqrt.
NATIVE_OPS = frozenset({
    "add", "sub", "mul", "div", "pow", "neg", "square", "sqrt", "reciprocal", "exp", "log", "abs", "sin", "cos", "tanh",
    "tan", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "rsqrt",
})
# Ops kept opaque: sympy sees an undefined function of that name, so only identities around them apply (f(x) - f(x)
# = 0, distributing over f(x)), never a rewrite of the function itself. Their computed forms matter and the sample
# points could not tell a worse one: sigmoid, softplus, logaddexp, logit, log1p, expm1 and hypot are written to avoid
# overflow or cancellation (logaddexp as log(e^a + e^b) overflows at a = 710); sympy writes erfc(-x) as 2 - erfc(x)
# on sight, which is 0 for x < -6 where erfc(-x) is 1e-17 and less, yet agrees to rounding at every sample point
# (erf goes with it: erf + erfc = 1 would bring the same loss); exp2, log2, log10 are exact at powers of
# their base where 2^x = e^(x ln 2) and log(x)/log(2) are not; cbrt's real form sign(x) |x|^(1/3) and fmod's
# sign(a) Mod(|a|, |b|) would come back as more ops. Mod and Min/Max (mod, fmod, clip, relu) are discontinuous or
# kinked, and sympy's rules for them (Mod(a + b, b) = Mod(a, b)) are exact only in exact arithmetic. arctan2 is
# NumPy's (0 at the origin and a signed angle for -0.0), where sympy's atan2(0, 0) is nan. sinh and cosh: sympy
# simplifies hyperbolic functions through their exponential forms, 0.1-0.3 s for a small region (tanh's cost too),
# about the region time limit, for identities (sinh/cosh = tanh) that seldom shorten a graph.
STABLE_OPS = frozenset({
    "sigmoid", "softplus", "relu", "log1p", "expm1", "logaddexp", "logit", "hypot", "erf", "erfc", "exp2", "log2",
    "log10", "cbrt", "mod", "fmod", "clip", "arctan2", "sinh", "cosh",
})
# isnan, isinf and isfinite give bools (never in a float region) and have no sympy form (``sympy_bridge.NO_FORM``).
FLOATS = (np.dtype("float32"), np.dtype("float64"))

_cache: dict = {}
VERDICTS_ON_DISK = True  # regions with nothing simpler, recorded under <cache>/sympy (the test suite turns it off)


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
            with attributed_to(node):
                replacement = _simplify_root(node, consumers, mapping, budget)
            if replacement is not None:
                context.record("sympy_region", current, replacement)
                current = replacement
        mapping[id(node)] = current
    return [mapping[id(o)] for o in outputs]


def _in_region(node: Node) -> bool:
    return (node.op.name in NATIVE_OPS or node.op.name in STABLE_OPS) and node.dtype in FLOATS


def is_leaf(node: Node, root: Node, consumers) -> bool:
    """Whether ``node``, met below ``root``, is a leaf of root's region (a number or a symbol) rather than an op."""
    return node is not root and not (_in_region(node) and consumers.get(id(node), 0) == 1)


def _collect(root: Node, consumers):
    """The region under ``root``: its op nodes (post-order) and its leaves, or None when too big."""
    ops, leaves, leaf_index = [], [], {}
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            ops.append(node)
            continue
        if is_leaf(node, root, consumers):
            if not is_number(node) and id(node) not in leaf_index:
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


def is_number(node: Node) -> bool:
    """Whether a leaf is a 0-d numeric constant (a sympy number, not a symbol)."""
    return isinstance(node, Constant) and node.value.ndim == 0 and node.dtype.kind in "fiub"


def _region_key(root: Node, consumers, leaf_index) -> tuple:
    """A hashable description of the region's structure (leaves by position, numbers by value)."""
    def key(node):
        if is_leaf(node, root, consumers):
            if is_number(node):
                return ("number", node.value.item())
            return ("leaf", leaf_index[id(node)])
        return (node.op.name,) + tuple(key(i) for i in node.inputs)
    return key(root)


def _simplify_root(root: Node, consumers, mapping, budget: Budget) -> Node | None:
    collected = _collect(root, consumers)
    if collected is None:
        return None
    ops, leaves, leaf_index = collected
    finite = tuple(always_finite(leaf) for leaf in leaves)
    key = (_region_key(root, consumers, leaf_index), finite)
    if key not in _cache and _verdict_recorded(key):
        _cache[key] = None
    if key in _cache:
        candidate = _cache[key]
    else:
        interruptible = time_limit.available()
        if budget.left <= 0 or (not interruptible and len(ops) > MAX_UNINTERRUPTIBLE_OPS):
            budget.skipped += 1
            return None
        from symgraph.passes import sympy_forms  # imports sympy: only now that there is a region to simplify

        sympy_forms.import_what_sympy_imports_on_first_use()
        started = time.perf_counter()
        find = functools.partial(sympy_forms.find_candidate, root, consumers, leaves, leaf_index, finite, len(ops))
        limit = min(budget.left, REGION_TIME_LIMIT)
        candidate = time_limit.call_with_time_limit(limit, find) if interruptible else find()
        budget.left -= time.perf_counter() - started
        if candidate is time_limit.TIMED_OUT:
            budget.skipped += 1
            candidate = None
        elif candidate is None:
            _record_verdict(key)
        if len(_cache) >= CACHE_LIMIT:
            _cache.clear()
        _cache[key] = candidate
    if candidate is None:
        return None
    from symgraph.passes import sympy_forms

    new_leaves = [mapping[id(leaf)] for leaf in leaves]
    return _fit(sympy_forms.from_sympy(candidate, new_leaves), root, new_leaves)


def _verdict_path(key) -> str:
    """Where the verdict "nothing simpler" on a region is recorded."""
    digest = hashlib.sha256(repr((key, _code_identity())).encode()).hexdigest()
    return os.path.join(cache_dir.cache_root(), "sympy", digest)


@functools.cache
def _code_identity() -> tuple:
    """What a verdict depends on besides its region: sympy's and NumPy's versions and symgraph's code (the pass, the
    sympy bridge, and the ops whose NumPy values check a candidate): a hash of every source file of the package."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return metadata.version("sympy"), np.__version__, digest.hexdigest()


def _verdict_recorded(key) -> bool:
    return VERDICTS_ON_DISK and os.path.exists(_verdict_path(key))


def _record_verdict(key) -> None:
    """Record that sympy found nothing simpler for the region (an empty file, created exclusively); a cache
    directory that cannot be written only means the next process tries the region again."""
    if not VERDICTS_ON_DISK:
        return
    path = _verdict_path(key)
    try:
        cache_dir.private_directories(os.path.dirname(path))
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError:  # FileExistsError: another process recorded it first
        pass


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
