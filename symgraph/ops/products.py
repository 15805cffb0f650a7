"""Tensor products as compositions of existing ops: einsum, tensordot, inner, outer.

They build no op of their own: each is lowered, when the graph is built, to transposes, reshapes and matmul (BLAS
on the Numba backend) where the contraction allows, and to a broadcast multiply and a sum otherwise. Their gradients,
printing, optimization, saving and Numba code are those of the ops they are made of.

An einsum contracts its operands left to right. Each operand first loses its repeated labels (a diagonal, by
integer-array indexing, which needs the label's size known when the graph is built) and the labels no other
operand and no output has (summed). A pair of operands then shares batch labels (kept), contracted labels (summed)
and has labels of its own: with some contracted label and a label of its own on either side, it is a batched matmul
(batch, M, K) @ (batch, K, N), each group of labels merged by a reshape, which needs the sizes of a group of two or
more labels known (a lone label may be unknown); otherwise (an outer product, a batched dot product, or sizes
unknown where a reshape needs them) the pair is multiplied with broadcasting and summed over the contracted labels.
Size-1 dimensions broadcast against any size, as NumPy's einsum lets them, where the 1 is known when the graph is
built (an unknown size fed as 1 against a contracted label is matmul's EvaluationError). The result has NumPy's
einsum dtype (the operands' promoted dtype: int32 stays int32, bool products are logical).
"""

from __future__ import annotations

import string
from typing import Sequence

import numpy as np

from symgraph.errors import ShapeError
from symgraph.graph import Node, apply, as_nodes, builder, format_shape, user_site
from symgraph.ops.base import known_size, normalize_axis
from symgraph.ops.elementwise import cast, mul
from symgraph.ops.indexing import index
from symgraph.ops.linalg import matmul
from symgraph.ops.reduce import sum
from symgraph.ops.shape import expand_dims, reshape, squeeze, transpose

LETTERS = frozenset(string.ascii_letters)


class Term:
    """A node and the label of each of its axes (einsum letters, or tuples for ellipsis and tensordot axes)."""

    def __init__(self, node: Node, labels: Sequence):
        self.node, self.labels = node, list(labels)

    def size(self, label):
        return self.node.shape[self.labels.index(label)]

    def arranged(self, order: Sequence) -> Node:
        """The node with its axes in ``order`` (its labels, permuted), and size-1 axes for the labels it lacks."""
        present = [label for label in order if label in self.labels]
        node = self.node
        permutation = tuple(self.labels.index(label) for label in present)
        if permutation != tuple(range(len(permutation))):
            node = transpose(node, permutation)
        missing = tuple(k for k, label in enumerate(order) if label not in self.labels)
        return expand_dims(node, missing) if missing else node


def _refuse(message: str):
    raise ValueError(f"einsum: {message}\n  at {user_site()}")


def _parse_term(term: str, ndim: int, ellipsis_rank: int | None, position: int) -> list:
    """The labels of one operand's subscripts: letters, and ("...", k) for its ellipsis dimensions, numbered from
    the right end of the broadcast ellipsis (of rank ``ellipsis_rank``)."""
    if term.count("...") > 1 or "." in term.replace("...", ""):
        _refuse(f"operand {position}'s subscripts {term!r} hold more than one ellipsis or a stray '.'")
    bad = [c for c in term.replace("...", "") if c not in LETTERS]
    if bad:
        _refuse(f"subscripts are letters a-z, A-Z and '...'; operand {position}'s {term!r} holds {bad[0]!r}")
    head, dots, tail = term.partition("...")
    explicit = len(head) + len(tail)
    if not dots:
        if explicit != ndim:
            raise ShapeError(f"operand {position} has {ndim} dimensions but its subscripts {term!r} name {explicit}")
        return list(term)
    if explicit > ndim:
        raise ShapeError(f"operand {position} has {ndim} dimensions but its subscripts {term!r} name {explicit} "
                         "besides the ellipsis")
    width = ndim - explicit
    return list(head) + [("...", ellipsis_rank - width + k) for k in range(width)] + list(tail)


def parse_subscripts(subscripts, shapes) -> tuple[list, list]:
    """The labels of each operand and of the output (implicit: the ellipsis, then the letters used once, sorted)."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a str such as 'ij,jk->ik', got {type(subscripts).__name__} "
                        f"{subscripts!r:.60}\n  at {user_site()}")
    spec = subscripts.replace(" ", "")
    if spec.count("->") > 1 or "-" in spec.replace("->", "") or ">" in spec.replace("->", ""):
        _refuse(f"subscripts {subscripts!r:.80} must hold at most one '->'")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        _refuse(f"subscripts {subscripts!r:.80} name {len(terms)} operands, {len(shapes)} were given")
    widths = [len(shape) - len(t.replace("...", "")) for t, shape in zip(terms, shapes) if "..." in t]
    rank = max(widths, default=0)
    labels = [_parse_term(t, len(shape), rank, k) for k, (t, shape) in enumerate(zip(terms, shapes))]
    dots = [("...", k) for k in range(rank)]
    used = [label for term_labels in labels for label in term_labels if label not in dots]
    if not arrow:
        return labels, dots + sorted(label for label in set(used) if used.count(label) == 1)
    if output.count("...") > 1 or "." in output.replace("...", ""):
        _refuse(f"the output's subscripts {output!r} hold more than one ellipsis or a stray '.'")
    letters = output.replace("...", "")
    for k, letter in enumerate(letters):
        if letter not in LETTERS:
            _refuse(f"the output's subscripts {output!r} hold {letter!r}, which is no letter")
        if letter in letters[:k]:
            _refuse(f"the output's subscripts {output!r} repeat {letter!r}")
        if letter not in used:
            _refuse(f"the output's label {letter!r} is no operand's")
    if "..." not in output and any(widths):
        _refuse(f"the operands' ellipsis dimensions need a '...' in the output's subscripts {output!r} (as NumPy's)")
    head, _, tail = output.partition("...")
    return labels, list(head) + (dots if "..." in output else []) + list(tail)


def _check_sizes(terms: list[Term]) -> None:
    """A label's known sizes other than 1 agree across the operands (size 1 broadcasts); else a ShapeError."""
    seen: dict = {}
    for position, term in enumerate(terms):
        for label, size in zip(term.labels, term.node.shape):
            if size in (None, 1):
                continue
            first = seen.setdefault(label, (size, position))
            if first[0] != size:
                name = f"label {label!r}" if isinstance(label, str) else \
                    "an ellipsis dimension" if label[0] == "..." else "a contracted axis"
                raise ShapeError(f"{name} has size {first[0]} in operand {first[1]} and {size} in operand {position}")


def _diagonal(term: Term) -> Term:
    """The term without repeated labels: for each, the diagonal over its axes (last in the result)."""
    while True:
        repeated = next((label for label in term.labels if term.labels.count(label) > 1), None)
        if repeated is None:
            return term
        positions = [k for k, label in enumerate(term.labels) if label == repeated]
        sizes = {term.node.shape[k] for k in positions}
        if None in sizes or len(sizes) > 1:
            raise ShapeError(f"a label repeated within one operand takes a diagonal, which needs its size known and "
                             f"equal on each axis: label {repeated!r} has sizes "
                             f"{[term.node.shape[k] for k in positions]}")
        others = [k for k in range(len(term.labels)) if k not in positions]
        moved = Term(term.node, range(len(term.labels))).arranged(others + positions)
        steps = np.arange(sizes.pop(), dtype=np.int64)
        node = index(moved, (Ellipsis,) + (steps,) * len(positions))
        term = Term(node, [term.labels[k] for k in others] + [repeated])


def _summed(term: Term, keep) -> Term:
    """The term summed over the labels not in ``keep``."""
    axes = tuple(k for k, label in enumerate(term.labels) if label not in keep)
    if not axes:
        return term
    return Term(sum(term.node, axes), [label for label in term.labels if label in keep])


def _unbroadcast(term: Term, other: Term) -> Term:
    """The term without the size-1 axes that broadcast against the other operand's label (NumPy's einsum lets a
    size-1 dimension stand for any size): they leave, as if the label were not the term's."""
    axes = tuple(k for k, (label, size) in enumerate(zip(term.labels, term.node.shape))
                 if size == 1 and label in other.labels and other.size(label) != 1)
    if not axes:
        return term
    return Term(squeeze(term.node, axes), [label for k, label in enumerate(term.labels) if k not in axes])


def _merged(node: Node, batch: int, groups: list, split=None) -> Node | None:
    """``node`` (batch axes, then the groups' axes) with each group merged into one axis, or (``split``, a shape per
    trailing axis) each trailing axis split into its shape; None when the reshape is impossible statically (an
    unknown size in a group of two or more, or more than one unknown batch size)."""
    if split is None and all(len(group) == 1 for group in groups):
        return node
    trailing = [d for shape in split for d in shape] if split is not None else [known_size(g) for g in groups]
    batch_shape = list(node.shape[:batch])
    if None in trailing or batch_shape.count(None) > 1:
        return None
    if None in batch_shape:
        if 0 in batch_shape or 0 in trailing:
            return None  # -1 cannot be inferred from a size of 0
        batch_shape[batch_shape.index(None)] = -1
    return reshape(node, tuple(batch_shape) + tuple(trailing))


def _contract_pair(a: Term, b: Term, later) -> Term:
    """a and b contracted over the labels they share that ``later`` (the output's and the remaining operands')
    lacks, keeping the labels ``later`` has."""
    a, b = _unbroadcast(a, b), _unbroadcast(b, a)
    a, b = _summed(a, set(b.labels) | later), _summed(b, set(a.labels) | later)
    batch = [label for label in a.labels if label in b.labels and label in later]
    contracted = [label for label in a.labels if label in b.labels and label not in later]
    own_a = [label for label in a.labels if label not in b.labels]
    own_b = [label for label in b.labels if label not in a.labels]
    result_labels = batch + own_a + own_b
    if contracted and (own_a or own_b):
        product = _as_matmul(a, b, batch, own_a, contracted, own_b)
        if product is not None:
            return Term(product, result_labels)
    order = result_labels + contracted
    product = mul(a.arranged(order), b.arranged(order))
    if contracted:
        product = sum(product, tuple(range(len(result_labels), len(order))))
    return Term(product, result_labels)


def _as_matmul(a: Term, b: Term, batch, own_a, contracted, own_b) -> Node | None:
    """(batch, M, K) @ (batch, K, N), each group of labels merged into one axis (a size-1 axis for an empty M or N),
    the product's M and N split back into own_a and own_b; None when a reshape cannot be built (see _merged)."""
    n = len(batch)
    left = a.arranged(batch + own_a + contracted)
    right = b.arranged(batch + contracted + own_b)
    if not own_a:
        left = expand_dims(left, n)
    if not own_b:
        right = expand_dims(right, right.ndim)
    m = max(len(own_a), 1)
    left = _merged(left, n, [left.shape[n:n + m], left.shape[n + m:]])
    right = _merged(right, n, [right.shape[n:n + len(contracted)], right.shape[n + len(contracted):]])
    if left is None or right is None:
        return None
    product = matmul(left, right)
    if not own_a:
        product = squeeze(product, product.ndim - 2)
    if not own_b:
        product = squeeze(product, product.ndim - 1)
    if len(own_a) > 1 or len(own_b) > 1:  # their sizes are known: the merges above needed them
        split = [tuple(term.size(label) for label in own) for term, own in ((a, own_a), (b, own_b)) if own]
        product = _merged(product, n, [], split=split)
    return product


def contract(nodes: Sequence[Node], labels: Sequence[Sequence], output: Sequence) -> Node:
    """The einsum of ``nodes`` with these axis labels, the output's axes labelled ``output``."""
    terms = [Term(node, term_labels) for node, term_labels in zip(nodes, labels)]
    _check_sizes(terms)
    dtype = np.result_type(*[node.dtype for node in nodes])
    terms = [_diagonal(term) for term in terms]
    wanted = set(output)
    for k, term in enumerate(terms):  # labels that only this operand has and the output lacks are summed first
        others = {label for j, other in enumerate(terms) if j != k for label in other.labels}
        terms[k] = _summed(term, others | wanted)
    result = terms[0]
    for k in range(1, len(terms)):
        later = wanted | {label for term in terms[k + 1:] for label in term.labels}
        result = _contract_pair(result, terms[k], later)
    result = _summed(result, wanted)
    return cast(result.arranged(list(output)), dtype)


@builder
def einsum(subscripts, *operands, name=None) -> Node:
    """Einstein summation as numpy.einsum(subscripts, *operands): explicit ('ij,jk->ik') or implicit ('ij,jk', the
    labels used once, sorted) output, repeated labels within an operand (diagonals, traces: 'ii->i', 'ii'), '...'
    for broadcast dimensions, size-1 dimensions broadcasting. A composition of transpose, reshape, matmul, mul, sum,
    diagonal indexing and cast (see this module): its gradients, printing and compiled code are theirs."""
    nodes = as_nodes(*operands)
    if not nodes:
        _refuse("takes at least one operand")
    labels, output = parse_subscripts(subscripts, [node.shape for node in nodes])
    return named(contract(nodes, labels, output), name)


def named(node: Node, name) -> Node:
    """The result carrying ``name``: its last op built again with the name (nodes are immutable; the unnamed twin is
    never used), or, for an operand returned as it is, an identity transpose."""
    if name is None:
        return node
    if not node.inputs:
        return transpose(node, tuple(range(node.ndim)), name=name)
    return apply(node.op, *node.inputs, name=name)


def _tensordot_axes(axes, a: Node, b: Node) -> tuple[list, list]:
    """tensordot's ``axes``: an int N (a's last N with b's first N) or a pair of axis sequences (or ints)."""
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, (bool, np.bool_)):
        if not 0 <= axes <= min(a.ndim, b.ndim):
            raise ShapeError(f"axes={axes} contracts more dimensions than the operands have "
                             f"({a.ndim} and {b.ndim})")
        return _matching(list(range(a.ndim - axes, a.ndim)), list(range(int(axes))), a, b)
    if not isinstance(axes, (tuple, list)) or len(axes) != 2:
        raise TypeError(f"tensordot: axes must be an int or a pair of axis sequences, got {type(axes).__name__} "
                        f"{axes!r:.60}\n  at {user_site()}")
    pairs = []
    for which, node in zip(axes, (a, b)):
        items = list(which) if isinstance(which, (tuple, list)) else [which]
        pairs.append([normalize_axis(item, node.ndim, "tensordot axis") for item in items])
    if len(pairs[0]) != len(pairs[1]):
        raise ShapeError(f"axes {axes!r} pair {len(pairs[0])} axes of the first operand with {len(pairs[1])} of the "
                         "second")
    for node, items in zip((a, b), pairs):
        if len(set(items)) != len(items):
            raise ShapeError(f"axes {axes!r} repeat an axis")
    return _matching(pairs[0], pairs[1], a, b)


def _matching(a_axes: list, b_axes: list, a: Node, b: Node) -> tuple[list, list]:
    """The paired axes, once their known sizes are checked equal (tensordot broadcasts no size-1 axis)."""
    for i, j in zip(a_axes, b_axes):
        if a.shape[i] is not None and b.shape[j] is not None and a.shape[i] != b.shape[j]:
            raise ShapeError(f"shape-mismatch for sum: axis {i} of the first operand has size {a.shape[i]}, axis {j} "
                             f"of the second {b.shape[j]}")
    return a_axes, b_axes


@builder
def tensordot(a, b, axes=2, name=None) -> Node:
    """numpy.tensordot: the sum of products over ``axes`` (an int N: a's last N axes with b's first N; or a pair of
    axis sequences), the result's axes a's remaining ones then b's. Lowered to transpose, reshape and matmul (see
    this module)."""
    a, b = as_nodes(a, b)
    a_axes, b_axes = _tensordot_axes(axes, a, b)
    a_labels = [("a", k) for k in range(a.ndim)]
    b_labels = [("b", k) for k in range(b.ndim)]
    for i, j in zip(a_axes, b_axes):
        b_labels[j] = a_labels[i]
    output = [label for k, label in enumerate(a_labels) if k not in a_axes] + \
             [label for k, label in enumerate(b_labels) if k not in b_axes]
    return named(contract([a, b], [a_labels, b_labels], output), name)


@builder
def inner(a, b, name=None) -> Node:
    """numpy.inner: the sum of products over the last axes (a.shape[:-1] + b.shape[:-1]); a times b when either is
    a scalar."""
    a, b = as_nodes(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b, name=name)
    return tensordot(a, b, ([a.ndim - 1], [b.ndim - 1]), name=name)


@builder
def outer(a, b, name=None) -> Node:
    """numpy.outer: a and b flattened, out[i, j] = a[i] * b[j] (a broadcast multiply)."""
    a, b = as_nodes(a, b)
    return mul(expand_dims(reshape(a, (-1,)), 1), expand_dims(reshape(b, (-1,)), 0), name=name)
