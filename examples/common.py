"""Shared pieces of the training examples: dataset choice and the training loop with progress and metrics.

Under ``mpiexec -n N`` (N > 1) the examples train data-parallel, as ``symgraph train`` does (the same loop): every
process steps on its shard of each global batch of ``--batch-size``, and only rank 0 prints.
"""

from __future__ import annotations

import argparse

from symgraph import datasets
from symgraph.cli import HelpFormatter  # noqa: F401  (the examples' --help shows every default, as symgraph's does)
from symgraph.cli.models import Data, load_data
from symgraph.cli.parallel import processes
from symgraph.cli.train import Output, Trainer, accuracy, add_data_arguments  # noqa: F401  (accuracy: mnist_accuracy.py)


def add_training_arguments(parser: argparse.ArgumentParser, epochs: int, lr: float, batch_size: int = 64) -> None:
    add_data_arguments(parser)
    parser.add_argument("--epochs", type=int, default=epochs, help="passes over the training set")
    parser.add_argument("--batch-size", type=int, default=batch_size,
                        help="examples per SGD step (under mpiexec -n N: the global batch, split across the N processes)")
    parser.add_argument("--lr", type=float, default=lr, help="learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the batch order")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba",
                        help="numba: the whole training step compiled (cached on disk); numpy: the reference interpreter")


def load_dataset(args):
    """(train_images, train_labels, test_images, test_labels, name); images are float32 (N, H, W) in [0, 1]."""
    try:
        data = load_data(args.dataset, args.data_dir, args.train_limit, args.test_limit)
    except datasets.DatasetNotFoundError as error:
        raise SystemExit(f"{error}\nOr run with --dataset digits (no download needed).") from None
    if processes().root:
        print(data.summary())
    return data.train_images, data.train_labels, data.test_images, data.test_labels, data.name


def data_parallel():
    """The world communicator when ``mpiexec -n N`` (N > 1) started this script, for ``opt.updates(...,
    allreduce=)``; None for one process (mpi4py is then not imported)."""
    return processes().comm


def train(step, predict, train_data, test_data, epochs: int, batch_size: int, seed: int, progress: bool = True,
          params=None):
    """Run ``epochs`` of shuffled minibatch steps; print per-epoch loss and accuracy, then test accuracy.

    ``step(images, labels) -> loss`` applies one update, ``predict(images) -> logits``; the loop is the one of
    ``symgraph train`` (symgraph/cli/train.py), without its checkpoints. Returns the history of (epoch, mean loss,
    train accuracy) and the final test accuracy (None for both accuracies off rank 0). The examples/sec printed at
    the end measure the training steps alone, not the accuracy passes, and leave out the first step (compiling),
    whose time is printed on its own. Data-parallel when ``step`` was built with
    ``allreduce=data_parallel()`` under mpiexec: ``params`` (the model's parameters) start from rank 0's values.
    """
    data = Data(*train_data, *test_data, name="")
    team = processes()
    trainer = Trainer(step, predict, data, batch_size, seed, Output(progress=progress, processes=team),
                      processes=team, parameters=params)
    outcome = trainer.fit(epochs)
    return outcome.history, outcome.test_accuracy
