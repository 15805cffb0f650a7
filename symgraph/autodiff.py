"""Symbol-to-symbol differentiation: gradients are new graphs built from ordinary nodes.

Reverse accumulation walks the forward graph in reverse topological order. Each op's ``grad`` rule builds the
vector-Jacobian product for its inputs, reusing forward nodes; contributions from several consumers are summed, and
gradients of broadcasting ops are summed back to each input's shape here, in one place (``unbroadcast``). Because the
result is a graph, it can be evaluated, optimized, compiled and differentiated again: ``jvp``, ``hessian`` and
``hvp`` are built that way.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from symgraph import dtypes
from symgraph.errors import GradientError
from symgraph.graph import Constant, Node, as_node, format_shape, toposort, user_site
from symgraph.ops import add, cast, index, mul, reshape, stack, sum, zeros_like
from symgraph.ops.shape import unbroadcast

_DISCONNECTED_CHOICES = ("raise", "zero", "none")


@dataclass(frozen=True)
class GradientOrigin:
    """How a gradient node was made: reverse accumulation from ``outputs`` seeded with ``seeds``, for ``wrt``.

    The optimizer uses it to re-derive a gradient after stabilizing the outputs, so that the gradient follows the
    stable ops' rules (softmax - onehot) instead of differentiating an unstable expression step by step.
    """

    outputs: tuple
    seeds: tuple
    wrt: Node

    def key(self) -> tuple:
        """Gradients with equal keys come from one reverse pass and can be re-derived together."""
        return tuple(id(o) for o in self.outputs) + tuple(id(s) for s in self.seeds)


def rederive(origins: Sequence[GradientOrigin], outputs: Sequence[Node]) -> list[Node]:
    """The gradients described by ``origins`` (all sharing seeds) again, from new ``outputs``, in one reverse pass."""
    return _reverse_accumulate(list(outputs), list(origins[0].seeds), [o.wrt for o in origins], "zero",
                               "re-derivation")


_ORIGINS: "weakref.WeakKeyDictionary[Node, GradientOrigin]" = weakref.WeakKeyDictionary()


def gradient_origin(node: Node) -> GradientOrigin | None:
    """The origin of a node that sg.grad (or vjp, jvp, ...) returned, or None for any other node."""
    return _ORIGINS.get(node)


def grad(cost: Node, wrt, disconnected: str = "raise"):
    """The gradient of a scalar ``cost`` with respect to ``wrt`` (a node or a list), as new graph nodes.

    Each gradient has the shape and dtype of its ``wrt``. A ``wrt`` the cost does not depend on raises, unless
    ``disconnected`` is ``"zero"`` (zeros are returned) or ``"none"`` (None is returned).
    """
    _check_node(cost, "the cost")
    if cost.ndim != 0:
        raise GradientError(
            f"sg.grad needs a scalar cost, but the cost has shape {format_shape(cost.shape)} ({cost.describe()}); "
            "reduce it (e.g. sg.sum or sg.mean), or use sg.vjp / sg.jacobian for non-scalar outputs"
        )
    return vjp(cost, wrt, np.ones((), dtype=cost.dtype), disconnected=disconnected)


def vjp(y: Node, wrt, v, disconnected: str = "raise"):
    """The vector-Jacobian product v^T (dy/dwrt) (Theano's Lop) for ``y`` of any shape; ``v`` has y's shape."""
    _check_node(y, "the output")
    v = _cotangent(y, v, "v")
    return _with_wrt_structure(wrt, lambda nodes: _reverse_accumulate([y], [v], nodes, disconnected, "sg.vjp"))


def jvp(y: Node, wrt, v):
    """The Jacobian-vector product (dy/dwrt) v (Theano's Rop), built symbolically by the double-vjp trick.

    ``wrt`` is a node or a list of nodes and ``v`` one tangent (or a list, one per node) of the same shapes. The
    vjp u -> u^T J is linear in u, so differentiating <u^T J, v> with respect to u gives J v.
    """
    _check_node(y, "the output")
    wrt_list = [wrt] if isinstance(wrt, Node) else list(wrt)
    v_list = [v] if isinstance(wrt, Node) else list(v)
    if len(v_list) != len(wrt_list):
        raise GradientError(f"sg.jvp: {len(wrt_list)} wrt nodes but {len(v_list)} tangents")
    tangents = [_cotangent(x, t, f"tangent {k}") for k, (x, t) in enumerate(zip(wrt_list, v_list))]
    u = zeros_like(y, name="jvp_dummy")  # the value is irrelevant: only the linear dependence on u is used
    pullbacks = _reverse_accumulate([y], [u], wrt_list, "zero", "sg.jvp")
    inner = None
    for pullback, tangent in zip(pullbacks, tangents):
        term = sum(mul(pullback, tangent))
        inner = term if inner is None else add(inner, term)
    (result,) = _reverse_accumulate([inner], [as_node(np.ones((), inner.dtype))], [u], "zero", "sg.jvp")
    return result


def jacobian(y: Node, x: Node) -> Node:
    """The Jacobian dy/dx as a graph of shape ``y.shape + x.shape`` (for vectors: the matrix J[i, j] = dy_i/dx_j).

    Built one row per element of y, so y's size must be known statically.
    """
    _check_node(y, "the output")
    _check_node(x, "wrt")
    size = None if any(d is None for d in y.shape) else int(np.prod(y.shape, dtype=np.int64))
    if size is None:
        raise GradientError(f"sg.jacobian needs an output of static size; {y.describe()} has unknown dimensions")
    flat = reshape(y, (size,)) if y.ndim != 1 else y
    rows = [_reverse_accumulate([index(flat, i)], [as_node(np.ones((), y.dtype))], [x], "zero", "sg.jacobian")[0]
            for i in range(size)]
    if not rows:
        raise GradientError(f"sg.jacobian of an empty output ({y.describe()})")
    return reshape(stack(rows, axis=0), tuple(y.shape) + _static_shape_or_minus_one(x))


def hessian(cost: Node, x: Node) -> Node:
    """The Hessian of a scalar cost with respect to x, shape ``x.shape + x.shape`` (the Jacobian of the gradient)."""
    return jacobian(grad(cost, x), x)


def hvp(cost: Node, x: Node, v) -> Node:
    """The Hessian-vector product H v, by differentiating <grad(cost, x), v>: the Hessian is never formed."""
    g = grad(cost, x)
    v = _cotangent(x, v, "v")
    return grad(sum(mul(g, v)), x)


# -- reverse accumulation -------------------------------------------------------------------------------------------

def _reverse_accumulate(outputs: Sequence[Node], seeds: Sequence[Node], wrt: Sequence[Node], disconnected: str,
                        caller: str) -> list:
    if disconnected not in _DISCONNECTED_CHOICES:
        raise ValueError(f"disconnected must be one of {_DISCONNECTED_CHOICES}, got {disconnected!r}")
    for x in wrt:
        _check_wrt(x, caller)
    order = toposort(list(outputs))
    wanted = _depends_on(order, wrt)
    contributions: dict[int, list[Node]] = {}
    for output, seed in zip(outputs, seeds):
        if id(output) in wanted:
            contributions.setdefault(id(output), []).append(seed)
    totals: dict[int, Node] = {}
    for node in reversed(order):
        pending = contributions.pop(id(node), None)
        if pending is None:
            continue
        total = _sum_all(pending)
        totals[id(node)] = total
        if node.inputs and _carries_gradient(node):
            _propagate(node, total, wanted, contributions)
    results = [_result_for(x, totals, order, disconnected, caller) for x in wrt]
    forward = {id(n) for n in order}
    for x, result in zip(wrt, results):
        if result is not None and id(result) not in forward and result not in _ORIGINS:
            _ORIGINS[result] = GradientOrigin(tuple(outputs), tuple(seeds), x)
    return results


def _propagate(node: Node, total: Node, wanted: set, contributions: dict) -> None:
    input_grads = node.op.grad(node, total)
    if len(input_grads) != len(node.inputs):
        raise GradientError(f"the {node.op.name} gradient rule returned {len(input_grads)} gradients for "
                            f"{len(node.inputs)} inputs ({node.describe()})")
    for position, (x, g) in enumerate(zip(node.inputs, input_grads)):
        if g is None or id(x) not in wanted or not _carries_gradient(x):
            continue
        if node.op.broadcasts:
            g = unbroadcast(g, x, node.op.broadcast_peers(node, position))
        if g.ndim != x.ndim or any(a is not None and b is not None and a != b for a, b in zip(g.shape, x.shape)):
            raise GradientError(f"the {node.op.name} gradient rule gave input {position} a gradient of shape "
                                f"{format_shape(g.shape)} for an input of shape {format_shape(x.shape)} "
                                f"({node.describe()})")
        if g.dtype != x.dtype:
            g = cast(g, x.dtype)
        contributions.setdefault(id(x), []).append(g)


def _depends_on(order: Sequence[Node], wrt: Sequence[Node]) -> set:
    """Ids of the nodes in ``order`` that are, or depend on, a wrt node: only they need gradients."""
    wanted = {id(x) for x in wrt}
    for node in order:
        if any(id(i) in wanted for i in node.inputs):
            wanted.add(id(node))
    return wanted


def _sum_all(terms: list[Node]) -> Node:
    total = terms[0]
    for term in terms[1:]:
        total = add(total, term)
    return total


def _carries_gradient(node: Node) -> bool:
    return node.dtype.kind == "f"


def _result_for(x: Node, totals: dict, order, disconnected: str, caller: str):
    if id(x) in totals:
        return totals[id(x)]
    if any(n is x for n in order):
        return zeros_like(x)  # connected only through ops that pass no gradient (floor, argmax, ...): zero
    if disconnected == "zero":
        return zeros_like(x)
    if disconnected == "none":
        return None
    raise GradientError(
        f"{caller}: the output does not depend on {x.describe()}; pass disconnected='zero' or 'none' to allow it\n"
        f"  at {user_site()}"
    )


# -- argument checks ------------------------------------------------------------------------------------------------

def _check_node(node, what: str) -> None:
    if not isinstance(node, Node):
        raise TypeError(f"{what} must be a node, got {type(node).__name__} {node!r:.60}")
    if not dtypes.is_float(node.dtype):
        raise GradientError(f"{what} must be floating-point to be differentiated, got {node.describe()}")


def _check_wrt(x, caller: str) -> None:
    if not isinstance(x, Node):
        raise TypeError(f"{caller}: wrt must be a node or a list of nodes, got {type(x).__name__} {x!r:.60}")
    if isinstance(x, Constant):
        raise GradientError(f"{caller}: cannot differentiate with respect to a constant ({x.describe()}); "
                            "use sg.variable or sg.placeholder for values you differentiate by")
    if not dtypes.is_float(x.dtype):
        raise GradientError(f"{caller}: cannot differentiate with respect to {x.describe()}: its dtype "
                            f"{x.dtype} is not floating-point")


def _cotangent(like: Node, v, what: str) -> Node:
    v = as_node(v, [like])
    if v.ndim != like.ndim or any(a is not None and b is not None and a != b for a, b in zip(v.shape, like.shape)):
        raise GradientError(f"{what} has shape {format_shape(v.shape)} but must have the shape of {like.describe()}")
    return cast(v, like.dtype) if v.dtype != like.dtype else v


def _with_wrt_structure(wrt, compute):
    if isinstance(wrt, Node):
        return compute([wrt])[0]
    if not isinstance(wrt, (list, tuple)):
        raise TypeError(f"wrt must be a node or a list of nodes, got {type(wrt).__name__}")
    return compute(list(wrt))


def _static_shape_or_minus_one(x: Node) -> tuple:
    unknown = [d for d in x.shape if d is None]
    if len(unknown) > 1:
        raise GradientError(f"sg.jacobian needs wrt with at most one unknown dimension ({x.describe()})")
    return tuple(-1 if d is None else d for d in x.shape)
