"""The lecture notes' MLP on MNIST: 784-500-10, sigmoid or ReLU hidden units, softmax cross-entropy, plain SGD.

The recipe matches the PyTorch reference it is compared with: PyTorch's default initialisation (uniform in
+-1/sqrt(fan_in) for weights and biases), SGD lr 0.1, batch 64, shuffled every epoch.
"""

import argparse

import symgraph as sg
from symgraph.cli import models
from common import HelpFormatter, add_training_arguments, data_parallel, load_dataset, train


def build(image_shape, activation, lr, seed, backend="numba", comm=None):
    """The training step, the predictor and the parameters; ``activation`` is a callable or a layer activation name
    ("relu"); ``comm``: data-parallel over that communicator (the gradients averaged over the global batch)."""
    model = models.mlp(image_shape, activation, seed)  # the model `symgraph train mlp` trains
    updates = sg.optim.SGD(lr).updates(model.loss, model.parameters, allreduce=comm)
    step = sg.function([model.images, model.labels], model.loss, updates=updates, backend=backend)
    predict = sg.function([model.images], model.logits, backend=backend)
    return step, predict, model.parameters


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add_training_arguments(parser, epochs=5, lr=0.1)
    parser.add_argument("--activation", choices=["relu", "sigmoid"], default="relu", help="hidden units")
    args = parser.parse_args(argv)
    comm = data_parallel()  # the world under mpiexec -n N (N > 1), else None
    train_images, train_labels, test_images, test_labels, _ = load_dataset(args)
    step, predict, params = build(train_images.shape[1:], args.activation, args.lr, args.seed, args.backend, comm)
    return train(step, predict, (train_images, train_labels), (test_images, test_labels), args.epochs,
                 args.batch_size, args.seed, progress=not args.no_progress, params=params)


if __name__ == "__main__":
    main()
