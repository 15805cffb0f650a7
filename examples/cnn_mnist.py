"""The lecture notes' CNN on MNIST: conv 32 5x5 SAME, ReLU, 2x2 max-pool, conv 64 5x5 SAME, ReLU, 2x2 max-pool,
fc 1024 ReLU, fc 10; softmax cross-entropy, SGD with momentum (lr 0.05, momentum 0.9, batch 64).

Initialisation is PyTorch's default (uniform in +-1/sqrt(fan_in)) so that results compare with the PyTorch run.
"""

import argparse

import symgraph as sg
from symgraph.cli import models
from common import HelpFormatter, add_training_arguments, data_parallel, load_dataset, train


def build(image_shape, lr, momentum, seed, backend="numba", comm=None):
    """The training step, the predictor and the parameters; ``comm``: data-parallel over that communicator."""
    model = models.cnn(image_shape, seed)  # the model `symgraph train cnn` trains
    updates = sg.optim.SGD(lr, momentum=momentum).updates(model.loss, model.parameters, allreduce=comm)
    return (sg.function([model.images, model.labels], model.loss, updates=updates, backend=backend),
            sg.function([model.images], model.logits, backend=backend), model.parameters)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add_training_arguments(parser, epochs=1, lr=0.05)
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    args = parser.parse_args(argv)
    comm = data_parallel()  # the world under mpiexec -n N (N > 1), else None
    train_images, train_labels, test_images, test_labels, _ = load_dataset(args)
    step, predict, params = build(train_images.shape[1:], args.lr, args.momentum, args.seed, args.backend, comm)
    return train(step, predict, (train_images, train_labels), (test_images, test_labels), args.epochs,
                 args.batch_size, args.seed, progress=not args.no_progress, params=params)


if __name__ == "__main__":
    main()
