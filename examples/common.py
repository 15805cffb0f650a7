"""Shared pieces of the training examples: dataset choice and the training loop with progress and metrics."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import symgraph as sg
from symgraph import datasets

try:
    from tqdm import tqdm
except ImportError:  # the examples extra installs tqdm; without it, progress is printed per epoch only
    tqdm = None


# Set by data_parallel(): this process's rank (only rank 0 prints) and the world when several processes train.
RANK, WORLD = 0, None


def data_parallel():
    """The world communicator when this script was started by ``mpiexec -n N`` with N > 1 (data-parallel training:
    every process steps on its part of each global batch), else None (one process; mpi4py is not imported)."""
    global RANK, WORLD
    launched = max(int(os.environ.get(name, "1") or 1) for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE"))
    if launched > 1:
        try:
            from symgraph import distributed
        except ImportError as error:
            raise SystemExit(f"started by mpiexec with {launched} processes, but {error}") from None
        WORLD, RANK = distributed.world(), distributed.rank()
    return WORLD


def say(*args, **kwargs) -> None:
    """print, on rank 0 only."""
    if RANK == 0:
        print(*args, **kwargs)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """--help keeps the docstring's line breaks and shows every option's default."""


def add_training_arguments(parser: argparse.ArgumentParser, epochs: int, lr: float, batch_size: int = 64) -> None:
    parser.add_argument("--dataset", choices=["auto", "mnist", "digits"], default="auto",
                        help="auto: MNIST if found locally or downloadable, else scikit-learn's bundled digits")
    parser.add_argument("--data-dir", default=None,
                        help="directory holding the MNIST IDX files, searched before $SYMGRAPH_DATA/mnist and the cache")
    parser.add_argument("--epochs", type=int, default=epochs, help="passes over the training set")
    parser.add_argument("--batch-size", type=int, default=batch_size,
                        help="examples per SGD step (under mpiexec -n N: the global batch, split across the N processes)")
    parser.add_argument("--lr", type=float, default=lr, help="learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the batch order")
    parser.add_argument("--train-limit", type=int, default=None,
                        help="use only the first N training examples (all when not given)")
    parser.add_argument("--test-limit", type=int, default=None, help="use only the first N test examples (all when not given)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numpy",
                        help="numba: the whole training step compiled (cached on disk); numpy: the reference interpreter")


def load_dataset(args):
    """(train_images, train_labels, test_images, test_labels, name); images are float32 (N, H, W) in [0, 1]."""
    choice, why = args.dataset, ""
    if choice == "auto":
        choice = "mnist" if datasets.find_mnist(args.data_dir) is not None or _mnist_downloadable(args) else "digits"
        why = " (--dataset auto: MNIST is not on disk and could not be downloaded)" if choice == "digits" else ""
    if choice == "mnist":
        try:
            train = datasets.load_mnist(args.data_dir, split="train")
            test = datasets.load_mnist(args.data_dir, split="test")
        except datasets.DatasetNotFoundError as error:
            raise SystemExit(f"{error}\nOr run with --dataset digits (no download needed).") from None
        name = "MNIST"
    else:
        images, labels = datasets.load_digits()
        order = np.random.default_rng(1234).permutation(len(labels))  # a fixed split: 1437 train, 360 test
        cut = len(labels) - 360
        train = images[order[:cut]], labels[order[:cut]]
        test = images[order[cut:]], labels[order[cut:]]
        name = "digits (8x8, scikit-learn)"
    train = tuple(a[:args.train_limit] for a in train)
    test = tuple(a[:args.test_limit] for a in test)
    say(f"dataset: {name}, {len(train[1])} training and {len(test[1])} test images of {train[0].shape[1:]}{why}")
    return train[0], train[1], test[0], test[1], name


def _mnist_downloadable(args) -> bool:
    try:
        datasets.load_mnist(args.data_dir, split="test")
        return True
    except OSError:
        return False


def train(step, predict, train_data, test_data, epochs: int, batch_size: int, seed: int, progress: bool = True,
          params=None):
    """Run ``epochs`` of shuffled minibatch steps; print per-epoch loss and accuracy, then test accuracy.

    ``step`` is the training function (``step(images, labels) -> loss`` applies one update); each epoch runs in one
    ``step.epoch`` call. ``predict(images) -> logits``. Returns the history of (epoch, mean loss, train accuracy) and
    the final test accuracy. The examples/sec printed at the end measure the training steps alone, not the accuracy
    passes. Data-parallel (``data_parallel()`` found a world; ``step`` was built with ``allreduce=`` it): ``params``
    start from rank 0's values, every process steps on its shard of each global batch of ``batch_size``, and only
    rank 0 computes accuracies and prints (the others wait for it in their next step).
    """
    if WORLD is not None:
        from symgraph import distributed

        distributed.broadcast_variables(params, WORLD)
    rng = np.random.default_rng(seed)
    images, labels = train_data
    history = []
    seen, training_seconds = 0, 0.0
    test_accuracy = None  # on ranks other than 0, which compute no accuracies
    for epoch in range(1, epochs + 1):
        total_batches = -(-len(labels) // batch_size)
        bar = tqdm(total=total_batches, desc=f"epoch {epoch}/{epochs}", unit="step", leave=False) \
            if progress and tqdm is not None and RANK == 0 else None
        started = time.perf_counter()
        losses = step.epoch([images, labels], batch_size, rng, progress=bar, shard=WORLD)
        training_seconds += time.perf_counter() - started
        if bar is not None:
            bar.close()
        seen += len(labels)
        loss = _mean_loss(losses)
        if RANK == 0:
            correct = accuracy(predict, images, labels, batch_size=1000)
            history.append((epoch, loss, correct))
            print(f"epoch {epoch}: loss {loss:.4f}, train accuracy {correct:.2%}")
    if RANK == 0:
        test_accuracy = accuracy(predict, *test_data, batch_size=1000)
        processes = f" on {WORLD.Get_size()} processes" if WORLD is not None else ""
        print(f"test accuracy {test_accuracy:.2%}; {seen / max(training_seconds, 1e-9):.0f} training examples/sec"
              f"{processes}")
    return history, test_accuracy


def _mean_loss(losses) -> float:
    """The epoch's mean of the per-step losses: of this process's shards, averaged over every process."""
    mean = float(np.mean([float(np.mean(value)) for value in losses]))
    if WORLD is None:
        return mean
    from symgraph import distributed

    return float(distributed.allreduce_sum(WORLD, np.array(mean))) / WORLD.Get_size()


def accuracy(predict, images, labels, batch_size: int) -> float:
    correct = 0
    for start in range(0, len(labels), batch_size):
        logits = predict(images[start:start + batch_size])
        correct += int(np.sum(np.argmax(logits, axis=1) == labels[start:start + batch_size]))
    return correct / max(len(labels), 1)
