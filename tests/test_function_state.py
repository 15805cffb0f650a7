"""sg.function and state: threaded calls with updates are atomic, updates apply all or none, every argument is
checked against its placeholder, and compiled functions refuse to be copied or pickled."""

import copy
import pickle
import sys
import threading

import numpy as np
import pytest

import symgraph as sg


@pytest.fixture
def eager_thread_switching():
    """Switch threads every microsecond, so that an unprotected read-compute-assign would interleave."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def run_threads(target, threads: int, calls: int) -> list:
    """Call ``target()`` ``calls`` times in each of ``threads`` threads started together; return every result."""
    results, errors = [], []
    start = threading.Barrier(threads)

    def work():
        start.wait()
        try:
            results.extend(target() for _ in range(calls))
        except BaseException as error:  # reported in the main thread
            errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    return results


# -- atomic calls ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("threads", [4, 8])
def test_a_counter_incremented_from_threads_counts_every_call(eager_thread_switching, threads):
    counter = sg.variable(np.int64(0), name="counter", trainable=False)
    increment = sg.function([], counter, updates={counter: counter + 1}, backend="numpy")
    seen = run_threads(increment, threads, 300)
    assert int(counter.value) == threads * 300
    # each call returned the value before its own increment: every value from 0 once
    assert sorted(int(v) for v in seen) == list(range(threads * 300))


def test_two_functions_updating_one_variable_serialize(eager_thread_switching):
    total = sg.variable(np.int64(0), name="total", trainable=False)
    other = sg.variable(np.int64(0), name="other", trainable=False)
    add_one = sg.function([], [], updates={total: total + 1}, backend="numpy")
    add_ten = sg.function([], [], updates=[(other, other + 1), (total, total + 10)], backend="numpy")  # a different lock order
    calls = [add_one, add_ten] * 2
    counter = iter(range(10 ** 6))
    lock = threading.Lock()

    def alternate():
        with lock:
            k = next(counter)
        return calls[k % 4]()

    run_threads(alternate, 4, 200)
    assert int(total.value) == 400 * 1 + 400 * 10 and int(other.value) == 400
    total.assign(np.int64(5))        # assign takes the same lock and is seen by later calls
    add_one()
    assert int(total.value) == 6


def test_an_optimizer_counts_every_threaded_step_and_matches_the_sequential_trajectory(eager_thread_switching):
    target = np.array([1.0, -2.0, 0.5])
    w = sg.variable(np.zeros(3), name="w")
    optimizer = sg.optim.SGD(0.05)
    cost = sg.sum(sg.square(w - target))
    step = sg.function([], cost, updates=optimizer.updates(cost, [w]), backend="numpy")
    run_threads(step, 4, 10)
    assert int(optimizer.iterations.value) == 40
    # every step applies the same map w <- w - lr * 2 (w - target), so the order does not matter
    expected = np.zeros(3)
    for _ in range(40):
        expected = expected - 0.05 * 2 * (expected - target)
    np.testing.assert_allclose(w.value, expected, rtol=1e-12)


def test_threaded_dropout_masks_are_those_of_consecutive_calls(eager_thread_switching):
    def compiled():
        x = sg.placeholder((64,), name="x")
        return sg.function([x], sg.nn.dropout(x, 0.5, seed=7) > 0, backend="numpy")

    ones = np.ones(64, np.float32)
    threaded_f = compiled()
    threaded = run_threads(lambda: threaded_f(ones).tobytes(), 4, 25)
    sequential_f = compiled()
    sequential = [sequential_f(ones).tobytes() for _ in range(100)]
    assert len(set(sequential)) == 100
    assert sorted(threaded) == sorted(sequential)   # no mask repeated, none skipped


def test_a_function_without_updates_takes_no_lock():
    v = sg.variable(np.array([1.0, 2.0]), name="v")
    read = sg.function([], v * 2, backend="numpy")
    bump = sg.function([], [], updates={v: v + 1}, backend="numpy")
    outcome = {}
    with v.lock:   # another thread holds the variable's lock
        reader = threading.Thread(target=lambda: outcome.setdefault("read", read()))
        writer = threading.Thread(target=bump)
        writer.start()
        reader.start()
        reader.join(timeout=60)                      # a deadlock guard, not a timing measure
        assert not reader.is_alive(), "a function without updates waited for a variable lock"
        assert outcome["read"].tolist() == [2.0, 4.0]
        assert v.value.tolist() == [1.0, 2.0]        # the update waits for the lock
    writer.join()
    assert v.value.tolist() == [2.0, 3.0]


# -- all updates or none --------------------------------------------------------------------------------------------

def test_a_refused_update_value_leaves_every_variable_unchanged():
    steps = sg.variable(np.int64(0), name="steps", trainable=False)
    w = sg.variable(np.zeros(2), name="w")
    x = sg.placeholder((None,), "float64", name="x")
    for updates in ({steps: steps + 1, w: x}, {w: x, steps: steps + 1}):
        f = sg.function([x], sg.sum(x), updates=updates, backend="numpy")
        with pytest.raises(sg.ShapeError, match=r"update of variable node 'w'.*expected shape \(2,\), got \(3,\)"):
            f(np.ones(3))
        assert int(steps.value) == 0 and w.value.tolist() == [0.0, 0.0]
    assert float(f(np.array([4.0, 5.0]))) == 9.0
    assert int(steps.value) == 1 and w.value.tolist() == [4.0, 5.0]


def test_updates_are_stored_read_only_and_unaliased():
    w = sg.variable(np.zeros((2, 3), np.float32), name="w")
    f = sg.function([], [w + 1, w.T], updates={w: w + 1}, backend="numpy")
    first, transposed = f()
    assert not w.value.flags.writeable and w.value.flags.c_contiguous
    assert not np.shares_memory(first, w.value) and not np.shares_memory(transposed, w.value)
    first += 100.0
    np.testing.assert_array_equal(w.value, np.ones((2, 3)))
    with pytest.raises(ValueError):
        w.value[0, 0] = 5.0


# -- every argument is checked ----------------------------------------------------------------------------------------

def test_every_input_is_checked_even_if_the_outputs_do_not_need_it():
    x = sg.placeholder((2,), name="x")
    unused = sg.placeholder((2,), name="unused")
    f = sg.function([x, unused], x * 2, backend="numpy")
    np.testing.assert_array_equal(f(np.ones(2, np.float32), np.zeros(2, np.float32)), [2.0, 2.0])
    with pytest.raises(sg.DTypeError, match=r"placeholder node 'unused'.*str 'garbage'"):
        f(np.ones(2, np.float32), "garbage")
    with pytest.raises(sg.ShapeError, match=r"placeholder node 'unused'.*expected shape \(2,\), got \(5,\)"):
        f(np.ones(2, np.float32), np.zeros(5, np.float32))
    with pytest.raises(sg.DTypeError, match=r"placeholder node 'unused'.*got float64"):
        f(np.ones(2, np.float32), np.zeros(2))


# -- copying and pickling ---------------------------------------------------------------------------------------------

def test_a_compiled_function_refuses_copying_and_pickling():
    v = sg.variable(np.zeros(2), name="v")
    f = sg.function([], v + 1, updates={v: v + 1}, backend="numpy")
    with pytest.raises(TypeError, match=r"sg.save"):
        pickle.dumps(f)
    with pytest.raises(TypeError, match=r"sg.function"):
        copy.copy(f)
    with pytest.raises(TypeError, match=r"sg.function"):
        copy.deepcopy([f])
    f()
    assert v.value.tolist() == [1.0, 1.0]   # still works
