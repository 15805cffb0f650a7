"""The memory plan: intermediate values share slabs when their lifetimes do not overlap.

Lifetimes are measured in kernel positions: a value lives from the kernel that writes it to the last kernel that
reads it. Values of one dtype whose lifetimes are disjoint share a slab (a flat array as large as the largest of
them); sizes are known only at run time, so the assignment is made on static estimates and each slab's size is
the maximum of its values' run-time sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ESTIMATED_UNKNOWN_DIM = 64  # a batch dimension's typical size, for choosing between slabs only


@dataclass
class Slab:
    dtype: object
    values: list = field(default_factory=list)  # nodes placed in this slab
    busy_until: int = -1
    estimate: int = 0


def estimated_size(shape) -> int:
    size = 1
    for d in shape:
        size *= ESTIMATED_UNKNOWN_DIM if d is None else d
    return size


def assign_slabs(lifetimes: list) -> list:
    """``lifetimes``: (node, first kernel, last kernel). Returns slabs; a slab's values never live at the same time."""
    slabs: list[Slab] = []
    for node, first, last in sorted(lifetimes, key=lambda item: (item[1], -estimated_size(item[0].shape))):
        size = estimated_size(node.shape)
        free = [s for s in slabs if s.dtype == node.dtype and s.busy_until < first]
        if free:
            slab = min(free, key=lambda s: abs(s.estimate - size))
        else:
            slab = Slab(node.dtype)
            slabs.append(slab)
        slab.values.append(node)
        slab.busy_until = max(last, first)
        slab.estimate = max(slab.estimate, size)
    return slabs
