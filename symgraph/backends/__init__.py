"""Backends: an optimized graph in, a program out. ``compute(feeds)`` takes checked feeds (placeholder id to array)
and returns the values of the outputs; ``placeholders`` lists the placeholders the outputs need.

- ``numpy``: the reference interpreter (``symgraph.backends.numpy``), the oracle every other backend is tested against.
- ``numba``: the whole graph compiled into a generated, cached module of fused loops and BLAS calls
  (``symgraph.backends.numba``, imported only when asked for). A graph with collective ops (the allreduce of
  data-parallel training) is compiled as segments with the collectives run between them (``segments.py``).
"""

from __future__ import annotations

BACKENDS = ("numba", "numpy")


def make_program(backend: str, outputs: list, inputs: list, title: str, profile: bool = False):
    """The program of ``backend`` computing ``outputs`` from ``inputs`` (placeholders, in call order); with
    ``profile``, it times its kernels (its ``profile`` property). Nodes of ops from graphs (``sg.op_from_graph``)
    are inlined first, optimized or not, so that every backend runs their subgraphs."""
    from symgraph.ops.custom import inline_graph_ops

    outputs = inline_graph_ops(outputs)
    if backend == "numpy":
        from symgraph.backends.numpy import NumpyProgram

        return NumpyProgram(outputs, profile=profile)
    if backend == "numba":
        from symgraph.backends.numba import NumbaProgram
        from symgraph.backends.segments import SegmentedProgram, has_collectives

        if has_collectives(outputs):
            return SegmentedProgram(outputs, inputs, lambda segment_outputs, segment_inputs, segment_title:
                                    NumbaProgram(segment_outputs, segment_inputs, title=segment_title,
                                                 profile=profile), title=title)
        return NumbaProgram(outputs, inputs, title=title, profile=profile)
    raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
