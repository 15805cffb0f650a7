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
from symgraph.errors import GradientError, SymgraphError
from symgraph.graph import (
    Constant, Node, Placeholder, Provenance, Variable, as_node, format_shape, provenance, record_provenance, toposort,
    user_site,
)
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


def rederive(outputs: Sequence[Node], seeds: Sequence[Node], wrt: Sequence[Node]) -> list[Node]:
    """Gradients of new ``outputs`` (seeded with ``seeds``) with respect to ``wrt``, in one reverse pass: the optimizer
    re-derives a gradient from its rewritten cost. Every ``wrt`` must be part of the new outputs' graph."""
    return _reverse_accumulate(list(outputs), list(seeds), list(wrt), "raise", "gradient re-derivation")


_ORIGINS: "weakref.WeakKeyDictionary[Node, GradientOrigin]" = weakref.WeakKeyDictionary()


def gradient_origin(node: Node) -> GradientOrigin | None:
    """The origin of a node that sg.grad (or vjp, jvp, ...) returned, or None for any other node."""
    return _ORIGINS.get(node)


def record_gradient_origin(node: Node, origin: GradientOrigin) -> None:
    """Record that ``node`` is a gradient a reverse pass returned (sg.load restores a saved graph's origins, so that
    sg.optimize re-derives its gradients as it would the original's)."""
    _ORIGINS[node] = origin


def gradient_of(node: Node) -> Node | None:
    """The forward node whose adjoint a node of a reverse pass computes or helps compute (printers and generated code
    say "grad of ..."), or None for a node no reverse pass created."""
    origin = provenance(node)
    return origin.wrt if origin is not None else None


def _mark_gradient_nodes(gradient: Node, origin: Provenance, forward: set) -> None:
    """Record ``origin`` on the nodes that building ``gradient`` created: those reachable from it that are neither
    forward nodes nor recorded already."""
    stack = [gradient]
    while stack:
        node = stack.pop()
        if id(node) in forward or provenance(node) is not None or isinstance(node, (Placeholder, Variable)):
            continue  # placeholders and variables are never built by a rule (a disconnected wrt: zeros_like(wrt))
        record_provenance(node, origin)
        stack.extend(node.inputs)


def grad(cost: Node, wrt, disconnected: str = "raise"):
    """The gradient of a scalar ``cost`` with respect to ``wrt`` (a node or a list), as new graph nodes.

    Each gradient has the shape and dtype of its ``wrt``. A ``wrt`` the cost does not depend on raises, unless
    ``disconnected`` is ``"zero"`` (zeros are returned) or ``"none"`` (None is returned).
    """
    return _grad(cost, wrt, disconnected, "sg.grad")


def vjp(y: Node, wrt, v, disconnected: str = "raise"):
    """The vector-Jacobian product v^T (dy/dwrt) (Theano's Lop) for ``y`` of any shape; ``v`` has y's shape."""
    return _vjp(y, wrt, v, disconnected, "sg.vjp")


def jvp(y: Node, wrt, v):
    """The Jacobian-vector product (dy/dwrt) v (Theano's Rop), built symbolically by the double-vjp trick.

    ``wrt`` is a node or a list of nodes and ``v`` one tangent (or a list, one per node) of the same shapes. The
    vjp u -> u^T J is linear in u, so differentiating <u^T J, v> with respect to u gives J v.
    """
    caller = "sg.jvp"
    _check_node(y, "the output", caller)
    wrt_list = _wrt_list(wrt, caller)
    if not isinstance(wrt, Node) and not isinstance(v, (list, tuple)):
        raise TypeError(f"{caller}: wrt is a list, so v must be a list of tangents (one per wrt node), got "
                        f"{type(v).__name__} {v!r:.60}\n  at {user_site()}")
    v_list = [v] if isinstance(wrt, Node) else list(v)
    if len(v_list) != len(wrt_list):
        raise GradientError(f"{caller}: {len(wrt_list)} wrt nodes but {len(v_list)} tangents\n  at {user_site()}")
    tangents = [_cotangent(x, t, f"tangent {k}", caller) for k, (x, t) in enumerate(zip(wrt_list, v_list))]
    u = zeros_like(y, name="jvp_dummy")  # the value is irrelevant: only the linear dependence on u is used
    pullbacks = _reverse_accumulate([y], [u], wrt_list, "zero", caller)
    inner = None
    for pullback, tangent in zip(pullbacks, tangents):
        term = sum(mul(pullback, tangent))
        inner = term if inner is None else add(inner, term)
    (result,) = _reverse_accumulate([inner], [as_node(np.ones((), inner.dtype))], [u], "zero", caller)
    return result


def jacobian(y: Node, x: Node) -> Node:
    """The Jacobian dy/dx as a graph of shape ``y.shape + x.shape`` (for vectors: the matrix J[i, j] = dy_i/dx_j).

    Built one row per element of y, so y's size must be known statically.
    """
    return _jacobian(y, x, "sg.jacobian")


def hessian(cost: Node, x: Node) -> Node:
    """The Hessian of a scalar cost with respect to x, shape ``x.shape + x.shape`` (the Jacobian of the gradient)."""
    _check_wrt(x, "sg.hessian")
    return _jacobian(_grad(cost, x, "raise", "sg.hessian"), x, "sg.hessian")


def hvp(cost: Node, x: Node, v) -> Node:
    """The Hessian-vector product H v, by differentiating <grad(cost, x), v>: the Hessian is never formed."""
    _check_wrt(x, "sg.hvp")
    g = _grad(cost, x, "raise", "sg.hvp")
    v = _cotangent(x, v, "v", "sg.hvp")
    return _grad(sum(mul(g, v)), x, "raise", "sg.hvp")


def _grad(cost, wrt, disconnected: str, caller: str):
    _check_node(cost, "the cost", caller)
    if cost.ndim != 0:
        raise GradientError(
            f"{caller} needs a scalar cost, but the cost has shape {format_shape(cost.shape)} ({cost.describe()}); "
            f"reduce it (e.g. sg.sum or sg.mean), or use sg.vjp / sg.jacobian for non-scalar outputs\n"
            f"  at {user_site()}"
        )
    return _vjp(cost, wrt, np.ones((), dtype=cost.dtype), disconnected, caller)


def _vjp(y, wrt, v, disconnected: str, caller: str):
    _check_node(y, "the output", caller)
    v = _cotangent(y, v, "v", caller)
    nodes = _wrt_list(wrt, caller)
    results = _reverse_accumulate([y], [v], nodes, disconnected, caller)
    return results[0] if isinstance(wrt, Node) else results


def _jacobian(y: Node, x: Node, caller: str) -> Node:
    _check_node(y, "the output", caller)
    _check_wrt(x, caller)
    size = None if any(d is None for d in y.shape) else int(np.prod(y.shape, dtype=np.int64))
    if size is None:
        raise GradientError(f"{caller} needs an output of static size; {y.describe()} has unknown dimensions\n"
                            f"  at {user_site()}")
    if size == 0:
        raise GradientError(f"{caller} of an empty output ({y.describe()})\n  at {user_site()}")
    flat = reshape(y, (size,)) if y.ndim != 1 else y
    rows = [_reverse_accumulate([index(flat, i)], [as_node(np.ones((), y.dtype))], [x], "zero", caller)[0]
            for i in range(size)]
    return reshape(stack(rows, axis=0), tuple(y.shape) + _static_shape_or_minus_one(x, caller))


# -- reverse accumulation -------------------------------------------------------------------------------------------

def _reverse_accumulate(outputs: Sequence[Node], seeds: Sequence[Node], wrt: Sequence[Node], disconnected: str,
                        caller: str) -> list:
    if not isinstance(disconnected, str) or disconnected not in _DISCONNECTED_CHOICES:
        raise ValueError(f"{caller}: disconnected must be one of {_DISCONNECTED_CHOICES}, got "
                         f"{type(disconnected).__name__} {disconnected!r:.60}\n  at {user_site()}")
    for x in wrt:
        _check_wrt(x, caller)
    order = toposort(list(outputs))
    wanted = _depends_on(order, wrt)
    contributions: dict[int, list[Node]] = {}
    for output, seed in zip(outputs, seeds):
        if id(output) in wanted:
            contributions.setdefault(id(output), []).append(seed)
    totals: dict[int, Node] = {}
    forward = {id(n) for n in order} | {id(s) for s in seeds} | {id(x) for x in wrt}
    for node in reversed(order):
        pending = contributions.pop(id(node), None)
        if pending is None:
            continue
        total = _sum_all(pending)
        totals[id(node)] = total
        _mark_gradient_nodes(total, Provenance(outputs[0], node, None), forward)
        if node.inputs and _carries_gradient(node):
            _propagate(node, total, wanted, contributions, outputs[0], forward)
    results = [_result_for(x, totals, order, disconnected, caller) for x in wrt]
    for x, result in zip(wrt, results):
        if result is not None:
            _mark_gradient_nodes(result, Provenance(outputs[0], x, None), forward)
        if result is not None and id(result) not in forward and result not in _ORIGINS:
            _ORIGINS[result] = GradientOrigin(tuple(outputs), tuple(seeds), x)
    return results


def _propagate(node: Node, total: Node, wanted: set, contributions: dict, output: Node, forward: set) -> None:
    """Apply ``node``'s gradient rule to its adjoint ``total``, adding each input's term to ``contributions`` and
    recording on the new nodes that they come from that rule."""
    for position, (x, g) in enumerate(zip(node.inputs, apply_rule(node, total))):
        if g is None or id(x) not in wanted or not _carries_gradient(x):
            continue
        g = gradient_for_input(node, position, g)
        _mark_gradient_nodes(g, Provenance(output, x, node), forward)
        contributions.setdefault(id(x), []).append(g)


def apply_rule(node: Node, output_grad: Node) -> list:
    """The gradients ``node``'s op rule gives its inputs for ``output_grad``, one per input (None where no gradient
    flows); GradientError for a rule that returns another number of gradients."""
    input_grads = node.op.grad(node, output_grad)
    if len(input_grads) != len(node.inputs):
        raise GradientError(f"the {node.op.name} gradient rule returned {len(input_grads)} gradients for "
                            f"{len(node.inputs)} inputs ({node.describe()})")
    return list(input_grads)


def gradient_for_input(node: Node, position: int, g: Node) -> Node:
    """A rule's gradient ``g`` for input ``position`` as reverse accumulation adds it up: summed back over the axes
    a broadcasting op broadcast that input along, checked against the input's shape (GradientError) and cast to its
    dtype."""
    x = node.inputs[position]
    if node.op.broadcasts:
        g = unbroadcast(g, x, node.op.broadcast_peers(node, position))
    if g.ndim != x.ndim or any(a is not None and b is not None and a != b for a, b in zip(g.shape, x.shape)):
        raise GradientError(f"the {node.op.name} gradient rule gave input {position} a gradient of shape "
                            f"{format_shape(g.shape)} for an input of shape {format_shape(x.shape)} "
                            f"({node.describe()})")
    return cast(g, x.dtype) if g.dtype != x.dtype else g


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
    remedy = "; pass disconnected='zero' or 'none' to allow it" if caller in ("sg.grad", "sg.vjp") else ""
    raise GradientError(f"{caller}: the output does not depend on {x.describe()}{remedy}\n  at {user_site()}")


# -- argument checks ------------------------------------------------------------------------------------------------

def _check_node(node, what: str, caller: str) -> None:
    if not isinstance(node, Node):
        raise TypeError(f"{caller}: {what} must be a node, got {type(node).__name__} {node!r:.60}\n  at {user_site()}")
    if not dtypes.is_float(node.dtype):
        raise GradientError(f"{caller}: {what} must be floating-point to be differentiated, got {node.describe()}\n"
                            f"  at {user_site()}")


def _check_wrt(x, caller: str) -> None:
    if not isinstance(x, Node):
        raise TypeError(f"{caller}: wrt must be a node or a list of nodes, got {type(x).__name__} {x!r:.60}\n"
                        f"  at {user_site()}")
    if isinstance(x, Constant):
        raise GradientError(f"{caller}: cannot differentiate with respect to a constant ({x.describe()}); "
                            f"use sg.variable or sg.placeholder for values you differentiate by\n  at {user_site()}")
    if not dtypes.is_float(x.dtype):
        raise GradientError(f"{caller}: cannot differentiate with respect to {x.describe()}: its dtype "
                            f"{x.dtype} is not floating-point\n  at {user_site()}")


def _cotangent(like: Node, v, what: str, caller: str) -> Node:
    try:
        v = as_node(v, [like])
    except SymgraphError as error:
        raise type(error)(f"{caller}: {what}: {error}\n  at {user_site()}") from None
    if v.ndim != like.ndim or any(a is not None and b is not None and a != b for a, b in zip(v.shape, like.shape)):
        raise GradientError(f"{caller}: {what} has shape {format_shape(v.shape)} but must have the shape of "
                            f"{like.describe()}\n  at {user_site()}")
    return cast(v, like.dtype) if v.dtype != like.dtype else v


def _wrt_list(wrt, caller: str) -> list:
    if isinstance(wrt, Node):
        return [wrt]
    if not isinstance(wrt, (list, tuple)):
        raise TypeError(f"{caller}: wrt must be a node or a list of nodes, got {type(wrt).__name__} {wrt!r:.60}\n"
                        f"  at {user_site()}")
    for x in wrt:
        _check_wrt(x, caller)
    return list(wrt)


def _static_shape_or_minus_one(x: Node, caller: str) -> tuple:
    unknown = [d for d in x.shape if d is None]
    if len(unknown) > 1:
        raise GradientError(f"{caller} needs wrt with at most one unknown dimension ({x.describe()})\n"
                            f"  at {user_site()}")
    return tuple(-1 if d is None else d for d in x.shape)
