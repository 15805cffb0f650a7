"""Blocked loops and their parallel run: the Python part, copied into every generated module that has blocked loops.

A blocked loop runs its outermost index in blocks of about ``BLOCK_ITERATIONS`` inner iterations. A reduction over
the whole loop keeps one partial result per block and combines them pairwise in block order afterwards: far more
accurate than one long vectorized sum (a float32 sum of 1M terms: relative error ~5e-5 summed in one pass, NumPy's
pairwise sum ~6e-8), and the result depends on the block boundaries alone, never on how blocks are shared out.

A chunked stage (a blocked loop whose iterations are independent, in a stage of its own) takes the range of blocks
to run: when the run-time work (iterations x cost of one) reaches ``PARALLEL_WORK`` and more than one thread is
allowed, the driver splits its blocks into ranges run at once on a small persistent pool of Python threads (the
compiled stages release the GIL), each range writing its own output elements and block partials; the stage's combine
step runs after all ranges, on the calling thread. Each chunked stage times its split and its serial calls and keeps
to the faster (probing the other now and then): on a machine shared with busy processes, waiting for a descheduled
thread made split calls several times slower than serial ones. No Numba threading layer is involved
(``parallel=True`` triples compile time, and its workqueue layer aborts on concurrent calls), and a result is
bitwise the same however many threads ran it. ``num_threads`` is set by symgraph from ``sg.set_num_threads``; a user
running a generated file alone may set it.

Everything below the imports is copied verbatim into the generated module, which must run without symgraph.
"""

import collections
import queue
import time
import threading

# Iterations of a blocked loop's inner body per block: small enough that each block's vectorized sum stays
# accurate, large enough that the per-block overhead is lost in the noise (both measured: see the benchmarks).
BLOCK_ITERATIONS = 4096
# Work (iterations x cost per iteration, in simple vector operations: lowerings' ``cost``) below which a chunked
# stage runs on the calling thread alone. Measured on a 2-core machine shared with other processes: 2 threads paid
# from ~500k elements of a loop of vector math (tanh, exp, sigmoid: cost 27, work 14M) and lost below ~130k (3.5M);
# loops of a few additions, bound by memory bandwidth, never gained up to 2M elements (work 4M).
PARALLEL_WORK = 8_000_000
RANGES_PER_THREAD = 4  # each range is one call of the stage (a few microseconds of dispatch)
num_threads = 1  # how many threads chunked stages may use (the caller's included)


def _blocking(shape, cost):
    """(rows, blocks, work) of a blocked loop over ``shape`` costing ``cost`` per iteration: the outermost indices
    per block, the number of blocks and the loop's work."""
    inner = 1
    for d in shape[1:]:
        inner *= d
    rows = max(1, BLOCK_ITERATIONS // max(inner, 1))
    return rows, -(-shape[0] // rows), shape[0] * inner * cost


class _Ranges:
    """One call's block ranges of a chunked stage: claimed one by one by the caller and the pool's workers."""

    def __init__(self, stage, args, ranges):
        self.stage, self.args, self.ranges = stage, args, ranges
        self.claimed = 0
        self.finished = 0
        self.errors = [None] * len(ranges)
        self.lock = threading.Lock()
        self.done = threading.Event()

    def work(self):
        while True:
            with self.lock:
                k = self.claimed
                if k == len(self.ranges):
                    return
                self.claimed += 1
            try:
                self.stage(*self.args, *self.ranges[k], False)
            except BaseException as error:  # raised again by the caller, in range order
                self.errors[k] = error
            with self.lock:
                self.finished += 1
                if self.finished == len(self.ranges):
                    self.done.set()


_jobs = queue.SimpleQueue()
_workers = []
_workers_lock = threading.Lock()


def _work_forever():
    while True:
        _jobs.get().work()


# Per chunked stage: the seconds per unit of work of its last few calls run alone and split, and its calls. The
# smaller of the last few is the estimate: a call the system preempted is slow, never fast.
_timings = {}
SAMPLES = 3
PROBE_EVERY = 16  # every so many calls a stage runs the way that is currently slower, to follow the machine's load


def _run_chunked(stage, args, blocking, combines):
    """Run a chunked stage over all its blocks: split into ranges on up to ``num_threads`` threads when its work is
    large enough and splitting has been the faster way lately, then its combine step (reductions' block partials,
    in block order) when it has one. Both ways give bitwise the same results.

    On a machine shared with other busy processes a split call can take several times the serial time (it waits
    for a thread the system has descheduled), so each stage times both ways and keeps to the faster one."""
    rows, blocks, work = blocking
    count = min(num_threads, blocks)
    if count < 2 or work < PARALLEL_WORK:
        stage(*args, 0, blocks, True)
        return
    timing = _timings.get(stage)
    if timing is None:
        timing = _timings[stage] = [collections.deque(maxlen=SAMPLES), collections.deque(maxlen=SAMPLES), 0]
    timing[2] += 1
    if not timing[1] or not timing[0]:
        split = not timing[1]  # split first, then alone, then the faster way
    else:
        split = (min(timing[1]) < min(timing[0])) != (timing[2] % PROBE_EVERY == 0)
    started = time.perf_counter()
    if split:
        new_workers = _run_split(stage, args, blocks, count, combines)
    else:
        stage(*args, 0, blocks, True)
        new_workers = False
    seconds = (time.perf_counter() - started) / work
    if not new_workers:  # a call that started the pool's threads says nothing of what splitting costs
        timing[split].append(seconds)


def _run_split(stage, args, blocks, count, combines):
    """The stage's blocks in ranges run by the caller and ``count - 1`` pool workers, then its combine step; whether
    workers had to be started."""
    with _workers_lock:
        started = len(_workers) < count - 1
        while len(_workers) < count - 1:
            worker = threading.Thread(target=_work_forever, name="symgraph-chunks", daemon=True)
            worker.start()
            _workers.append(worker)
    # Several ranges per thread, claimed as threads come free: on a shared machine a thread scheduled late leaves
    # its share to the others instead of holding up the call.
    pieces = min(blocks, RANGES_PER_THREAD * count)
    bounds = [blocks * k // pieces for k in range(pieces + 1)]
    job = _Ranges(stage, args, [(bounds[k], bounds[k + 1]) for k in range(pieces)])
    for _ in range(count - 1):
        _jobs.put(job)
    job.work()
    job.done.wait()
    for error in job.errors:
        if error is not None:
            raise error
    if combines:
        stage(*args, 0, 0, True)
    return started
