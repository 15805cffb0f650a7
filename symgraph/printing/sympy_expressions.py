"""The sympy side of ``sg.to_sympy``, ``sg.latex`` and ``sg.from_sympy`` (``sympy_io`` is the public, light side).

A node of shape (3, 4) is written as its element [i, j]: an expression in the index symbols ``sympy.Idx("i", 3)``
and ``sympy.Idx("j", 4)``. Placeholders and variables of rank > 0 are ``sympy.IndexedBase`` arrays indexed by the
indices of the axes they are broadcast along (x[i], and x[i, 0] for a size-1 axis, which is always indexed by 0);
reductions and matmul are ``sympy.Sum``/``sympy.Product`` over new indices (p, q, ..., one per reducing node). An
axis of unknown size runs over a dimension symbol named after the leaf it comes from (n_x), and an unknown dimension
is taken to have the full size of the result along it, not to be a broadcast 1. Inside sums, where is the
``sympy_bridge.where`` function rather than a Piecewise (see there). The ops' forms are ``symgraph.sympy_bridge``'s.

Imports sympy: ``sympy_io`` imports this module inside its functions.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import sympy
from sympy.printing.latex import LatexPrinter

from symgraph import ops
from symgraph.errors import SympyConversionError
from symgraph.graph import Constant, Node, Placeholder, Variable, constant, toposort, user_site
from symgraph.ops.custom import GraphOp, inline_graph_ops
from symgraph.sympy_bridge import (ConstantArray, GraphBuilder, NO_FORM, OP_FORMS, cast_form, clip_form,
                                   integer_remainder_form, scale_gradient, where, where_form)

FREE_INDEX_NAMES = ("i", "j", "k", "l", "m")
BOUND_INDEX_NAMES = ("p", "q", "r", "s", "t", "u")
# Ops whose value is their first input's, read at other positions (broadcast, size-1 axes added or removed, axes
# permuted); their other inputs only give shapes.
REARRANGING = frozenset({"broadcast_to", "broadcast_like", "expand_dims", "squeeze", "reshape", "reshape_like",
                         "transpose"})
REDUCING = frozenset({"sum", "mean", "prod", "sum_to", "matmul", "logsumexp"})
# Ops whose element is its input's at the same index over a sum of exponentials along one axis.
NORMALIZING = frozenset({"softmax", "log_softmax"})
CROSS_ENTROPY = "softmax_cross_entropy"  # -sum_p t[p] log_softmax(z)[p] over the last axis
SHAPE_ONLY = frozenset({"zeros_like", "size"})
SUPPORTED = frozenset(OP_FORMS) | REARRANGING | REDUCING | NORMALIZING | SHAPE_ONLY | {"cast", "scale_gradient",
                                                                                  CROSS_ENTROPY}
LEAF_ASSUMPTIONS = {"f": {"real": True}, "i": {"integer": True}, "u": {"integer": True, "nonnegative": True}}
SCOPE = ("scalar and elementwise ops (all but isnan, isinf and isfinite), stop_gradient and scale_gradient, sum, "
         "mean, prod and logsumexp, softmax, log_softmax and softmax_cross_entropy with probability targets, "
         "broadcasting, reshapes that add or remove size-1 axes, "
         "transpose, matmul and op_from_graph ops (as their subgraphs)")


class SympyForm(NamedTuple):
    """What ``sympy_form`` returns: the expression, the symbol (or IndexedBase) of each placeholder and variable, the
    index of each axis of the node (0 for a size-1 axis) and its float dtype (None for others): ``from_sympy(*form)``
    rebuilds the node's shape and dtype."""

    expression: object
    symbols: dict
    indices: tuple
    dtype: np.dtype | None


def sympy_form(root: Node, caller: str = "sg.to_sympy") -> SympyForm:
    if any(isinstance(node.op, GraphOp) for node in toposort([root])):
        (root,) = inline_graph_ops([root])  # an op_from_graph op is the math of its subgraph
    converter = _Converter(root, caller)
    indices = converter.free_indices(root)
    expression = converter.convert(root, indices)
    symbols = {converter.leaf_forms[id(leaf)]: leaf for leaf in converter.leaves}
    return SympyForm(expression, symbols, indices, root.dtype if root.dtype.kind == "f" else None)


def index_order_key(index) -> tuple:
    """The default order of free indices in from_sympy: to_sympy's names in its order (i, j, ..., i5, i6), then by
    name."""
    name = str(index)
    if name in FREE_INDEX_NAMES:
        return (0, FREE_INDEX_NAMES.index(name), "")
    if name[:1] == "i" and name[1:].isdigit():
        return (0, int(name[1:]), "")
    return (1, 0, name)


def free_indices_of(expr) -> list:
    """The indices an expression's value depends on: those of its Indexed atoms that no Sum or Product binds."""
    found: list = []

    def visit(e, bound):
        if isinstance(e, sympy.Indexed):
            found.extend(i for i in e.indices if not i.is_Integer and i not in bound and i not in found)
            return
        if isinstance(e, (sympy.Sum, sympy.Product)):
            inner = bound | {limit[0] for limit in e.limits}
            visit(e.function, inner)
            return
        for arg in e.args:
            visit(arg, bound)

    visit(expr, frozenset())
    return found


class _Converter:
    """The sympy forms of the nodes under one root, each for one tuple of index expressions (memoized)."""

    def __init__(self, root: Node, caller: str):
        order = toposort([root])
        for node in order:
            reason = _unsupported(node)
            if reason is not None:
                raise SympyConversionError(f"{caller}: sympy cannot express {node.describe()}: {reason} "
                                           f"(to_sympy covers {SCOPE})\n  at {user_site()}")
        self.leaves = [n for n in order if isinstance(n, (Placeholder, Variable))]
        self.leaf_forms = _leaf_forms(self.leaves)
        self.names_in_use = {str(form) for form in self.leaf_forms.values()}
        self.memo: dict = {}
        self.dimension_symbols: dict = {}
        self.bound: dict = {}
        self.bound_indices: set = set()
        self.bound_names = _index_names(BOUND_INDEX_NAMES, "p", self.names_in_use)

    # -- indices and sizes ------------------------------------------------------------------------------------------
    def free_indices(self, node: Node) -> tuple:
        names = _index_names(FREE_INDEX_NAMES, "i", self.names_in_use)
        return tuple(sympy.S.Zero if d == 1 else sympy.Idx(next(names), self.size(node, axis))
                     for axis, d in enumerate(node.shape))

    def size(self, node: Node, axis: int):
        """The size of an axis: its static size, or the dimension symbol of the leaf axis it comes from."""
        if node.shape[axis] is not None:
            return node.shape[axis]
        key = (id(node), axis)
        if key not in self.dimension_symbols:
            self.dimension_symbols[key] = self._dimension_symbol(node, axis)
        return self.dimension_symbols[key]

    def _dimension_symbol(self, node: Node, axis: int):
        if isinstance(node, Placeholder):
            unknown = [a for a, d in enumerate(node.shape) if d is None]
            suffix = "" if len(unknown) == 1 else str(axis)
            return sympy.Symbol(f"n_{self.leaf_forms[id(node)]}{suffix}", integer=True, positive=True)
        for position, sources in enumerate(_sources(node)):
            source = node.inputs[position]
            for input_axis, output_axis in enumerate(sources):
                if output_axis == axis and source.shape[input_axis] is None:
                    return self.size(source, input_axis)
        raise AssertionError(f"no input axis gives the unknown axis {axis} of {node.describe()}")

    def _bound_indices(self, node: Node, groups) -> list:
        """The new indices of a reducing node, one per group of input axes, named apart from the leaves and from every
        other node's: sympy does not always respect the scope of a Sum's index (Piecewise merges equal conditions
        through it), so an index is never reused, even where it could be."""
        if id(node) not in self.bound:
            self.bound[id(node)] = [sympy.Idx(next(self.bound_names), self.size(node.inputs[group[0][0]], group[0][1]))
                                    for group in groups]
            self.bound_indices.update(self.bound[id(node)])
        return self.bound[id(node)]

    # -- conversion -------------------------------------------------------------------------------------------------
    def convert(self, node: Node, index: tuple):
        key = (id(node), index)
        if key not in self.memo:
            self.memo[key] = self._form(node, index)
        return self.memo[key]

    def _form(self, node: Node, index: tuple):
        if isinstance(node, Constant):
            return _constant_form(node, index)
        if isinstance(node, (Placeholder, Variable)):
            form = self.leaf_forms[id(node)]
            return form[index] if index else form
        name = node.op.name
        sources = _sources(node)
        groups = _bound_groups(node, sources)
        bound = self._bound_indices(node, groups)
        if name == CROSS_ENTROPY:
            return self._cross_entropy(node, index, bound)
        bound_at = {member: b for group, b in zip(groups, bound) for member in group}
        args = []
        for position in _value_inputs(node):
            x = node.inputs[position]
            x_index = tuple(index[s] if s is not None else bound_at.get((position, a), sympy.S.Zero)
                            for a, s in enumerate(sources[position]))
            args.append(self.convert(x, x_index))
        in_sum = any(i in self.bound_indices for i in index)
        if name == "where":
            return where_form(*args, in_sum=in_sum, boolean=node.dtype.kind == "b")
        if name == "clip":
            return clip_form(*args, boolean=node.dtype.kind == "b")
        if name in ("mod", "fmod") and node.dtype.kind in "iu":
            return integer_remainder_form(OP_FORMS[name](*args), args[1], in_sum)
        if name in OP_FORMS:
            return OP_FORMS[name](*args)
        if name == "scale_gradient":
            return scale_gradient(args[0], number_form(node.op.k, np.dtype(np.float64)))
        if name == "cast":
            return cast_form(args[0], node.inputs[0].dtype, node.dtype, in_sum)
        if name in REARRANGING:
            return args[0]
        if name == "zeros_like":
            return sympy.false if node.dtype.kind == "b" else sympy.S.Zero
        if name == "size":
            return self._count(node.inputs[0], node.op.axes)
        if name in NORMALIZING:
            return self._normalized(node, index, args[0], bound)
        summand = args[0] * args[1] if name == "matmul" else sympy.exp(args[0]) if name == "logsumexp" else args[0]
        used = [b for b in bound if summand.has(b)]
        repeats = sympy.Mul(*[b.upper + 1 for b in bound if b not in used])  # a summand constant along an index
        if name == "prod":
            result = (sympy.Product(summand, *used) if used else summand) ** repeats
        else:
            result = (sympy.Sum(summand, *used) if used else summand) * repeats
            if name == "mean":
                result = result / self._count(node.inputs[0], node.op.axes)
            if name == "logsumexp":
                result = sympy.log(result)
        return result.doit() if used and result.is_number else result  # a sum of constants is a number

    def _cross_entropy(self, node: Node, index: tuple, bound):
        """-sum_p t[p] (z[p] - log sum_q e^z[q]) over the last axis (p and q; index 0 for a size-1 axis)."""
        logits, targets = node.inputs
        p, q = bound if bound else (sympy.S.Zero, sympy.S.Zero)
        normalizer = sympy.exp(self.convert(logits, index + (q,)))
        if bound:
            normalizer = sympy.Sum(normalizer, q)
        loss = self.convert(targets, index + (p,)) * (self.convert(logits, index + (p,)) - sympy.log(normalizer))
        return -(sympy.Sum(loss, p) if bound else loss)

    def _normalized(self, node: Node, index: tuple, value, bound):
        """softmax: e^x[i] / sum_p e^x[p]; log_softmax: x[i] - log sum_p e^x[p] (p along the op's axis)."""
        axis = node.op.axis
        if bound:
            along = index[:axis] + (bound[0],) + index[axis + 1:]
            total = sympy.Sum(sympy.exp(self.convert(node.inputs[0], along)), bound[0])
        else:  # a size-1 axis: the sum has the one term
            total = sympy.exp(value)
        return sympy.exp(value) / total if node.op.name == "softmax" else value - sympy.log(total)

    def _count(self, x: Node, axes):
        """How many elements a reduction of x over ``axes`` (None: all) combines."""
        sizes = [self.size(x, a) for a in (range(x.ndim) if axes is None else axes)]
        return sympy.Mul(*[sympy.sympify(s) for s in sizes])


def _index_names(preferred, prefix: str, taken):
    """Index names: the preferred ones, then prefix5, prefix6, ..., skipping those taken."""
    candidates = itertools.chain(preferred, (f"{prefix}{k}" for k in itertools.count(len(preferred))))
    return (name for name in candidates if name not in taken)


# -- how each op reads its inputs -----------------------------------------------------------------------------------

def _sources(node: Node) -> list:
    """For each input, for each of its axes: the output axis whose index it takes, or None (index 0 for a size-1
    axis, else an index that the op sums or multiplies over)."""
    name, inputs = node.op.name, node.inputs
    if name in ("expand_dims", "squeeze", "transpose", "reshape", "reshape_like"):
        return [_rearranged(node)] + [tuple(range(i.ndim)) for i in inputs[1:]]
    if name in ("sum", "mean", "prod", "logsumexp"):
        x, reduced = inputs[0], node.op.axes
        reduced = range(x.ndim) if reduced is None else reduced
        kept = [a for a in range(x.ndim) if a not in reduced]
        return [tuple(None if a in reduced else (a if node.op.keepdims else kept.index(a)) for a in range(x.ndim))]
    if name == "sum_to":
        x, reference = inputs
        lead = x.ndim - reference.ndim
        summed = [a < lead or (reference.shape[a - lead] == 1 and x.shape[a] != 1) for a in range(x.ndim)]
        return [tuple(None if summed[a] else a - lead for a in range(x.ndim)), tuple(range(reference.ndim))]
    if name == "matmul":
        return _matmul_sources(node)
    if name == CROSS_ENTROPY:
        return [tuple(range(x.ndim - 1)) + (None,) for x in inputs]
    if name == "size":
        return [(None,) * inputs[0].ndim]
    return [_broadcast_sources(x, node.shape) for x in inputs]


def _broadcast_sources(x: Node, shape) -> tuple:
    lead = len(shape) - x.ndim
    return tuple(None if d == 1 and shape[lead + a] != 1 else lead + a for a, d in enumerate(x.shape))


def _rearranged(node: Node) -> tuple:
    x, name = node.inputs[0], node.op.name
    if name == "expand_dims":
        return tuple(a for a in range(node.ndim) if a not in node.op.axes)
    if name == "squeeze":
        return tuple(None if a in node.op.axes else a - sum(s < a for s in node.op.axes) for a in range(x.ndim))
    if name == "transpose":
        return tuple(node.op.axes.index(a) for a in range(x.ndim))
    return _size_one_reshape(x.shape, node.shape)


def _size_one_reshape(before, after) -> tuple | None:
    """A reshape that only adds or removes size-1 axes, as sources; None for one that regroups elements."""
    kept_before = [a for a, d in enumerate(before) if d != 1]
    kept_after = [a for a, d in enumerate(after) if d != 1]
    if [before[a] for a in kept_before] != [after[a] for a in kept_after]:
        return None
    target = dict(zip(kept_before, kept_after))
    return tuple(target.get(a) for a in range(len(before)))


def _matmul_sources(node: Node) -> list:
    a, b = node.inputs
    batch = node.ndim - (a.ndim > 1) - (b.ndim > 1)

    def batch_part(x):
        lead = batch - (x.ndim - 2)
        return tuple(None if d == 1 and node.shape[lead + k] != 1 else lead + k for k, d in enumerate(x.shape[:-2]))

    a_sources = (None,) if a.ndim == 1 else batch_part(a) + (batch, None)
    b_sources = (None,) if b.ndim == 1 else batch_part(b) + (None, node.ndim - 1)
    return [a_sources, b_sources]


def _bound_groups(node: Node, sources) -> list:
    """The input axes each new (summation or product) index runs along: a matmul's inner axes share one."""
    if node.op.name == "matmul":
        a, b = node.inputs
        inner = (0, a.ndim - 1), (1, b.ndim - 2 if b.ndim > 1 else 0)
        return [list(inner)] if a.shape[-1] != 1 else []
    if node.op.name == CROSS_ENTROPY:
        logits, targets = node.inputs
        last = logits.ndim - 1
        return [[(0, last), (1, last)], [(0, last)]] if logits.shape[-1] != 1 else []
    if node.op.name in NORMALIZING:
        axis = node.op.axis
        return [[(0, axis)]] if node.inputs[0].shape[axis] != 1 else []
    if node.op.name not in REDUCING:
        return []
    x = node.inputs[0]
    return [[(0, a)] for a, s in enumerate(sources[0]) if s is None and x.shape[a] != 1]


def _value_inputs(node: Node) -> range:
    """The inputs whose values the op reads (the others give only shapes)."""
    if node.op.name in SHAPE_ONLY:
        return range(0)
    if node.op.name in ("broadcast_like", "reshape_like", "sum_to"):
        return range(1)
    return range(len(node.inputs))


def _unsupported(node: Node) -> str | None:
    """Why sympy cannot express ``node``, or None when it can."""
    if isinstance(node, (Constant, Placeholder, Variable)):
        return None
    name = node.op.name
    if name in NO_FORM:
        return f"{name} has no sympy form: {NO_FORM[name]}"
    if name not in SUPPORTED:
        return f"sympy has no form for {name}"
    if name in ("reshape", "reshape_like") and _size_one_reshape(node.inputs[0].shape, node.shape) is None:
        return "this reshape regroups elements (only reshapes that add or remove size-1 axes are elementwise)"
    return None


# -- leaves ---------------------------------------------------------------------------------------------------------

def _leaf_forms(leaves) -> dict:
    """A symbol (rank 0) or IndexedBase per placeholder and variable, named after it: a name used twice gets a
    suffix (x, x_2), unnamed leaves get placeholder_0, variable_0, ... in schedule order. Float leaves are real,
    integer leaves integer; bool leaves are plain symbols (sympy reads them as conditions)."""
    taken = {leaf.name for leaf in leaves if leaf.name}
    forms = {}
    for leaf in leaves:
        if leaf.name is None:
            name = _first_unused(leaf.op.name + "_{}", 0, taken)
        elif leaf.name in {str(f) for f in forms.values()}:
            name = _first_unused(leaf.name + "_{}", 2, taken)
        else:
            name = leaf.name
        taken.add(name)
        assumptions = LEAF_ASSUMPTIONS.get(leaf.dtype.kind, {})
        kind = sympy.Symbol if leaf.ndim == 0 else sympy.IndexedBase
        forms[id(leaf)] = kind(name, **assumptions)
    return forms


def _first_unused(pattern: str, start: int, taken) -> str:
    return next(pattern.format(k) for k in itertools.count(start) if pattern.format(k) not in taken)


def number_form(value, dtype: np.dtype):
    """A constant's element as a sympy number: bools true/false, ints exactly, floats as the shortest decimal that
    rounds to them in their dtype (0.1 -> 1/10), infinities oo and -oo, NaN nan."""
    if dtype.kind == "b":
        return sympy.true if value else sympy.false
    if dtype.kind in "iu":
        return sympy.Integer(int(value))
    if np.isnan(value):
        return sympy.nan
    if np.isinf(value):
        return sympy.oo if value > 0 else -sympy.oo
    return sympy.Rational(str(dtype.type(value)))


def _constant_form(node: Constant, index: tuple):
    """A constant whose elements are all equal is that number; any other is a sympy Array indexed like a leaf."""
    values = node.value
    if values.size == 0:
        return sympy.S.Zero  # an element of an empty array is never computed
    first = values.flat[0]
    if np.array_equal(values, np.full_like(values, first), equal_nan=values.dtype.kind == "f"):
        return number_form(first, node.dtype)
    return ConstantArray([number_form(v, node.dtype) for v in values.flat], values.shape)[index]


# -- LaTeX ----------------------------------------------------------------------------------------------------------

class GraphLatexPrinter(LatexPrinter):
    """sympy's LaTeX, with indices printed as their names (not their ranges) and log1p, expm1 as the math they are."""

    def _print_Idx(self, expr):
        return self._print(expr.label)

    def _needs_mul_brackets(self, expr, first=False, last=False) -> bool:
        # sympy brackets every factor containing a Sum; a function's own parentheses already delimit it.
        if isinstance(expr, sympy.Mod):  # a mod b is written infix: in a product it needs its brackets
            return True
        if expr.is_Function and not isinstance(expr, (sympy.Piecewise, where)):
            return False
        return super()._needs_mul_brackets(expr, first=first, last=last)

    def _print_log1p(self, expr, exp=None):
        return self._print(sympy.log(sympy.Add(1, expr.args[0], evaluate=False), evaluate=False), exp=exp)

    def _print_exp2(self, expr, exp=None):
        power = sympy.Pow(2, expr.args[0], evaluate=False)
        return self._print(power) if exp is None else rf"\left({self._print(power)}\right)^{{{exp}}}"

    def _print_log2(self, expr, exp=None):
        return self._logarithm(2, expr, exp)

    def _print_log10(self, expr, exp=None):
        return self._logarithm(10, expr, exp)

    def _logarithm(self, base: int, expr, exp=None) -> str:
        power = f"^{{{exp}}}" if exp is not None else ""
        return rf"\log_{{{base}}}{power}{{\left({self._print(expr.args[0])} \right)}}"

    def _print_expm1(self, expr, exp=None):
        inner = self._print(sympy.Add(sympy.exp(expr.args[0]), -1, evaluate=False))
        return rf"\left({inner}\right)" + (f"^{{{exp}}}" if exp is not None else "")


def latex(expression) -> str:
    return GraphLatexPrinter().doprint(expression)


# -- from sympy -----------------------------------------------------------------------------------------------------

def from_sympy(expr, symbols: dict, indices=None, dtype=None) -> Node:
    lookup = _lookup(symbols)
    floats = [n.dtype for n in symbols.values() if n.dtype.kind == "f"]
    float_dtype = dtype if dtype is not None else np.result_type(*floats) if floats else None
    free = free_indices_of(expr)
    if indices is None:
        order = sorted(free, key=index_order_key)
    else:
        order = [i for i in indices if i != 0]
        stray = [i for i in free if i not in order]
        if stray:
            raise SympyConversionError(f"sg.from_sympy: the expression depends on the index {stray[0]}, which is "
                                       f"not among indices={tuple(indices)}\n  at {user_site()}")
    builder = GraphBuilder(lookup, float_dtype, order)
    try:
        term = builder.result(expr)
    except SympyConversionError as error:
        raise SympyConversionError(f"sg.from_sympy: {error}\n  at {user_site()}") from None
    value = term.value if isinstance(term.value, Node) else _constant(term.value, float_dtype or np.float32)
    if indices is None or term.labels is None:
        return value
    return _shaped(value, term.labels, tuple(indices), builder)


def _lookup(symbols: dict):
    """Symbol or IndexedBase -> node: by the object itself, by its label, or by its name (a str key)."""
    table = {}
    for key, node in symbols.items():
        if not isinstance(node, Node):
            raise TypeError(f"sg.from_sympy: the mapping's values must be nodes, got {type(node).__name__} for "
                            f"{key}\n  at {user_site()}")
        if not isinstance(key, (str, sympy.Symbol, sympy.IndexedBase)):
            raise TypeError(f"sg.from_sympy: the mapping's keys must be sympy symbols, IndexedBases or names, got "
                            f"{type(key).__name__} {key!r:.60}\n  at {user_site()}")
        table[key] = node

    def lookup(atom):
        for key in (atom, getattr(atom, "label", None), str(atom)):
            if key is not None and key in table:
                return table[key]
        return None

    return lookup


def _constant(value, float_dtype) -> Node:
    if isinstance(value, bool):
        return constant(value)
    return constant(value, float_dtype)


def _shaped(value: Node, labels: tuple, indices: tuple, builder: GraphBuilder) -> Node:
    """The result with one axis per entry of ``indices``, in that order (GraphBuilder ranked its axes so): size 1 for
    a 0, broadcast along an index the expression does not depend on."""
    missing = tuple(k for k, index in enumerate(indices) if index not in labels)
    if missing:
        value = ops.expand_dims(value, missing)
    for k, index in enumerate(indices):
        if index in labels or index == 0:
            continue
        line = tuple(-1 if j == k else 1 for j in range(len(indices)))
        size = index.upper + 1 if isinstance(index, sympy.Idx) and index.upper is not None else None
        if size is not None and size.is_Integer:
            value = ops.add(value, np.zeros([int(size) if d == -1 else 1 for d in line], value.dtype))
        elif size in builder.dimensions:
            array, axis = builder.dimensions[size]
            along_axis = ops.index(array, tuple(slice(None) if a == axis else 0 for a in range(array.ndim)))
            value = ops.add(value, ops.reshape(ops.zeros_like(along_axis, value.dtype), line))
        else:
            raise SympyConversionError(f"sg.from_sympy: the expression does not depend on the index {index}, whose "
                                       f"range is unknown: give it one (sympy.Idx('{index}', size))\n"
                                       f"  at {user_site()}")
    return value
