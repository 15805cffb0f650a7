"""Dead-node elimination: nodes that no output depends on any more are dropped from the schedule.

Rewrites build new outputs, so a node they replaced is unreachable and never scheduled; this pass makes the
pruning visible: its report compares the graph at the start of the round with the graph now.
"""

from __future__ import annotations

from symgraph.graph import Node, toposort


def eliminate_dead_nodes(outputs, context) -> list[Node]:
    alive = {id(n) for n in toposort(list(outputs))}
    start = toposort(list(context.round_start))
    context.report.nodes_before = len(start)
    context.report.histogram_before.clear()
    for node in start:
        context.report.histogram_before[node.op.name] += 1
    context.report.dropped = sum(id(n) not in alive for n in start)
    return list(outputs)
