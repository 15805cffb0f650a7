"""Testing helpers for users and for symgraph's own tests: finite-difference checks of gradient graphs.

``check_grads`` compares symbolic vector-Jacobian products with central differences along random directions, and
with ``order=2`` does the same for the gradient graph itself (grad of grad), as HIPS autograd's check_grads does.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Mapping, Sequence

import numpy as np

from symgraph.autodiff import vjp
from symgraph.backends.numpy import NumpyProgram
from symgraph.graph import Node, Placeholder, Variable
from symgraph import ops


def check_grads(output: Node, wrt: Sequence[Node] | Node, feed_dict: Mapping | None = None, order: int = 2,
                eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7, seed: int = 0) -> None:
    """Raise AssertionError unless the gradients of ``output`` match central differences.

    ``wrt`` are variables or placeholders (float64 recommended); variables are perturbed through ``assign`` and
    restored, placeholders through the feeds. ``order=2`` also checks the gradient graph's own gradients.
    """
    wrt = [wrt] if isinstance(wrt, Node) else list(wrt)
    rng = np.random.default_rng(seed)
    feeds = dict(feed_dict or {})
    _check_directional(output, wrt, feeds, rng, eps, rtol, atol, label="first order")
    if order >= 2:
        cotangent = rng.standard_normal(_concrete_shape(output, feeds)).astype(output.dtype)
        pullbacks = vjp(output, wrt, cotangent, disconnected="zero")
        weights = [rng.standard_normal(_concrete_shape(x, feeds)).astype(x.dtype) for x in wrt]
        scalar = None
        for pullback, weight in zip(pullbacks, weights):
            term = ops.sum(ops.mul(pullback, weight))
            scalar = term if scalar is None else scalar + term
        _check_directional(scalar, wrt, feeds, rng, eps, rtol, atol, label="second order")


def _check_directional(output, wrt, feeds, rng, eps, rtol, atol, label):
    shapes = [_concrete_shape(x, feeds) for x in wrt]
    directions = [rng.standard_normal(shape) for shape in shapes]
    cotangent = rng.standard_normal(_concrete_shape(output, feeds))
    pullbacks = vjp(output, wrt, cotangent.astype(output.dtype), disconnected="zero")
    pulled = NumpyProgram(pullbacks).run(feeds)
    symbolic = float(sum(np.sum(np.asarray(p, np.float64) * d) for p, d in zip(pulled, directions)))
    program = NumpyProgram([output])
    base = [_current_value(x, feeds) for x in wrt]

    def value_at(step):
        with _perturbed(wrt, base, directions, step, feeds) as moved:
            return program.run(moved)[0].astype(np.float64)

    numeric = float(np.sum((value_at(eps) - value_at(-eps)) / (2 * eps) * cotangent))
    if not np.isclose(symbolic, numeric, rtol=rtol, atol=atol):
        names = ", ".join(x.describe() for x in wrt)
        raise AssertionError(
            f"{label} gradient check failed for {output.describe()} with respect to {names}: "
            f"symbolic directional derivative {symbolic!r}, finite differences {numeric!r}"
        )


def _concrete_shape(node: Node, feeds) -> tuple:
    if isinstance(node, Placeholder):
        return np.shape(_fed(node, feeds))
    if all(d is not None for d in node.shape):
        return node.shape
    return NumpyProgram([node]).run(feeds)[0].shape


def _fed(node: Placeholder, feeds):
    if node in feeds:
        return feeds[node]
    return feeds[node.name]


def _current_value(x: Node, feeds) -> np.ndarray:
    if isinstance(x, Variable):
        return x.value
    if isinstance(x, Placeholder):
        return np.asarray(_fed(x, feeds))
    raise TypeError(f"check_grads perturbs variables and placeholders only, got {x.describe()}")


@contextmanager
def _perturbed(wrt, base, directions, step, feeds):
    moved = dict(feeds)
    try:
        for x, value, direction in zip(wrt, base, directions):
            new_value = (value + step * direction).astype(x.dtype)
            if isinstance(x, Variable):
                x.assign(new_value)
            else:
                moved.pop(x.name, None)
                moved[x] = new_value
        yield moved
    finally:
        for x, value in zip(wrt, base):
            if isinstance(x, Variable):
                x.assign(value)
