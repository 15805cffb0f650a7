"""Constant folding: a node whose inputs are all constants is evaluated once and becomes a constant.

Results larger than ``FOLD_LIMIT`` elements are left as computations, so folding never materializes huge arrays
(``broadcast_to(0.0, (4096, 4096))`` stays a cheap broadcast).
"""

from __future__ import annotations

import numpy as np

from symgraph.graph import Constant, Node
from symgraph.ops.base import known_size

FOLD_LIMIT = 1 << 16


def fold_constants(node: Node) -> Node | None:
    """op(constants...) -> constant(value), for results of at most FOLD_LIMIT elements."""
    if (not node.inputs or not all(isinstance(i, Constant) for i in node.inputs) or node.implied_updates
            or node.op.collective):  # a collective's value comes from the other processes at run time
        return None
    size = known_size(node.shape)
    if size is None or size > FOLD_LIMIT:
        return None
    with np.errstate(all="ignore"):
        try:
            value = np.asarray(node.op.compute(*[i.value for i in node.inputs]))
        except Exception:  # noqa: BLE001 - a run-time error (bad label, say) is reported when the graph runs
            return None
    if value.dtype != node.dtype or value.shape != node.shape:
        return None
    value = np.array(value, copy=True)
    value.flags.writeable = False
    return Constant(value, node.name, node.site)
