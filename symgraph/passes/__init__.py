"""Graph rewrites: merge, constant folding, algebraic simplification, numerical stabilization, dead-node pruning."""

from symgraph.passes.pipeline import DEFAULT_PIPELINE, PASSES, RewriteCheckError, optimize

__all__ = ["optimize", "PASSES", "DEFAULT_PIPELINE", "RewriteCheckError"]
