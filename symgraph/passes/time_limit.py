"""Run a function under a wall-clock limit on the main thread, interrupting it with SIGALRM.

CPython runs a Python signal handler between bytecodes of the main thread, wherever they are. An exception raised
there inside a garbage-collector callback, a finalizer or a weakref callback is swallowed ("Exception ignored in
...") and the work would run on uncapped. So the interrupt is made robust:

- while a collection runs its callbacks (tracked by a callback first and one last in ``gc.callbacks``) the handler
  does not raise; the collection's last callback re-arms the timer to fire just after it;
- nor does it raise while a module is being imported (an interrupted import leaves half a module behind, to be
  imported again the next time, and interrupted again): the next repetition of the timer comes after the import;
- an interrupt swallowed anywhere else reaches ``sys.unraisablehook``, which re-arms the timer at once and keeps the
  interrupt out of the program's warnings;
- the timer repeats every ``RETRY_INTERVAL`` until the work stops, and work that ran past the limit is discarded
  even if it finished.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
import time
from typing import Callable

TIMED_OUT = object()  # what call_with_time_limit returns when the limit was reached
RETRY_INTERVAL = 0.005  # seconds between repeated interrupts once the limit has passed
PROMPTLY = 1e-5  # seconds: "as soon as possible" for a re-armed timer


class _Interrupted(BaseException):  # not an Exception: the broad handlers of the interrupted code must let it through
    pass


def available() -> bool:
    """Interrupting needs setitimer and the main thread (signal handlers run only there)."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


class _Limit:
    """The state shared by the handler, the gc callbacks and the unraisable hook of one limited call."""

    def __init__(self, previous_hook):
        self.armed = True
        self.fired = False  # the limit was reached (an interrupt was raised or deferred)
        self.deferred = False  # the limit was reached during a collection: interrupt once it ends
        self.in_collection = False
        self.previous_hook = previous_hook

    def interrupt(self, signum, frame):
        if not self.armed:
            return
        self.fired = True
        if self.in_collection:
            self.deferred = True
            return
        if not _importing(frame):
            raise _Interrupted

    def collection_starts(self, phase, info):
        if phase == "start":
            self.in_collection = True

    def collection_ends(self, phase, info):
        if phase == "stop":
            self.in_collection = False
            if self.deferred and self.armed:
                self.deferred = False
                signal.setitimer(signal.ITIMER_REAL, PROMPTLY, RETRY_INTERVAL)

    def unraisable(self, info):
        if isinstance(info.exc_value, _Interrupted):
            if self.armed:
                signal.setitimer(signal.ITIMER_REAL, PROMPTLY, RETRY_INTERVAL)
            return
        self.previous_hook(info)


def _importing(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def call_with_time_limit(seconds: float, function: Callable):
    """``function()``, or TIMED_OUT once ``seconds`` have passed. Main thread only (see ``available``). The program's
    own SIGALRM handler, timer, unraisable hook and gc callbacks are restored afterwards."""
    started = time.monotonic()
    limit = _Limit(sys.unraisablehook)
    previous_handler = signal.signal(signal.SIGALRM, limit.interrupt)
    sys.unraisablehook = limit.unraisable
    gc.callbacks.insert(0, limit.collection_starts)
    gc.callbacks.append(limit.collection_ends)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3), RETRY_INTERVAL)
    try:
        try:
            result = function()
        finally:
            limit.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Interrupted:
        return TIMED_OUT
    finally:
        gc.callbacks.remove(limit.collection_starts)
        gc.callbacks.remove(limit.collection_ends)
        sys.unraisablehook = limit.previous_hook
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay > 0:
            remaining = previous_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-6), previous_interval)
    return TIMED_OUT if limit.fired else result
