"""symgraph bench: time one training step of the lecture's MLP and CNN on both backends and on the installed peers.

The driver of ``symgraph/benchmarking.py`` (also ``benchmarks/bench_step.py``): every measurement in a fresh process
pinned to --threads cores, systems interleaved over --rounds rounds, medians printed as a table. Run it with
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE symgraph bench``) on
machines that set them; peers come from ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse

from symgraph import benchmarking


def add_arguments(parser: argparse.ArgumentParser) -> None:
    benchmarking.add_arguments(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    benchmarking.run(args)
    return 0
