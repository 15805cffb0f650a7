"""Time per kernel of a compiled function, like Theano's profiler: ``sg.function(..., profile=True)``.

Each backend reports its own kernels: the NumPy interpreter one per node it computes, the Numba backend one per
generated kernel (a fused loop nest, or a call such as a BLAS GEMM or a convolution). ``print(f.profile)`` shows
them by time spent, with the share of the total and the calls counted.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from symgraph.graph import Node, format_shape


@dataclass
class KernelTime:
    """One kernel: what it computes, how often it ran and the seconds it took in all."""

    label: str
    calls: int
    seconds: float

    @property
    def seconds_per_call(self) -> float:
        return self.seconds / self.calls if self.calls else 0.0


class Profile:
    """The kernels of one function and their times, accumulated over every call since it was created."""

    def __init__(self, backend: str, kernels: list[KernelTime], calls: int):
        self.backend = backend
        self.kernels = sorted(kernels, key=lambda k: -k.seconds)
        self.calls = calls

    @property
    def total_seconds(self) -> float:
        return sum(k.seconds for k in self.kernels)

    def __str__(self) -> str:
        total = self.total_seconds
        lines = [f"{self.backend} profile: {self.calls} call(s), {total * 1e3:.3f} ms in {len(self.kernels)} kernels",
                 f"{'ms total':>10} {'share':>6} {'calls':>6} {'us/call':>9}  kernel"]
        for k in self.kernels:
            share = k.seconds / total if total else 0.0
            lines.append(f"{k.seconds * 1e3:10.3f} {share:6.1%} {k.calls:6d} {k.seconds_per_call * 1e6:9.1f}  {k.label}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Profile {self.backend}: {self.calls} calls, {len(self.kernels)} kernels, {self.total_seconds:.6f} s>"


def node_label(node: Node) -> str:
    """A node as a profile row names it: op, name, shape, dtype and the user's file:line."""
    name = f" {node.name!r}" if node.name else ""
    site = f"{os.path.basename(node.site.filename)}:{node.site.lineno}" if node.site else "?"
    return f"{node.op.name}{name} {format_shape(node.shape)} {node.dtype.name} at {site}"


class Timer:
    """Accumulates seconds and calls per kernel index; safe to share between threads calling one function."""

    def __init__(self, labels: list[str]):
        self.labels = list(labels)
        self.seconds = [0.0] * len(labels)
        self.counts = [0] * len(labels)
        self.calls = 0
        self._lock = threading.Lock()

    clock = staticmethod(time.perf_counter)

    def add(self, times: list[float]) -> None:
        """One call's seconds per kernel (None where a kernel did not run)."""
        with self._lock:
            self.calls += 1
            for k, seconds in enumerate(times):
                if seconds is not None:
                    self.seconds[k] += seconds
                    self.counts[k] += 1

    def profile(self, backend: str) -> Profile:
        with self._lock:
            kernels = [KernelTime(label, calls, seconds)
                       for label, calls, seconds in zip(self.labels, self.counts, self.seconds) if calls]
            return Profile(backend, kernels, self.calls)
