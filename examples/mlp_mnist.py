"""The lecture notes' MLP on MNIST: 784-500-10, sigmoid or ReLU hidden units, softmax cross-entropy, plain SGD.

The recipe matches the PyTorch reference it is compared with: PyTorch's default initialisation (uniform in
+-1/sqrt(fan_in) for weights and biases), SGD lr 0.1, batch 64, shuffled every epoch.
"""

import argparse

import symgraph as sg
from common import HelpFormatter, add_training_arguments, data_parallel, load_dataset, train


def build(image_shape, activation, lr, seed, backend="numpy", comm=None):
    """The training step, the predictor and the parameters; ``activation`` is a callable or a layer activation name
    ("relu"); ``comm``: data-parallel over that communicator (the gradients averaged over the global batch)."""
    pixels = image_shape[0] * image_shape[1]
    images = sg.placeholder((None,) + tuple(image_shape), name="images")
    labels = sg.placeholder((None,), "int64", name="labels")
    x = sg.reshape(images, (-1, pixels))
    hidden = sg.layers.dense(x, 500, activation=activation, name="fc1", init="fan_in_uniform",
                             bias_init="fan_in_uniform", rng=seed)
    logits = sg.layers.dense(hidden, 10, name="fc2", init="fan_in_uniform", bias_init="fan_in_uniform", rng=seed + 1)
    loss = sg.nn.softmax_cross_entropy(logits, labels)
    params = sg.trainable_variables(loss)
    updates = sg.optim.SGD(lr).updates(loss, params, allreduce=comm)
    step = sg.function([images, labels], loss, updates=updates, backend=backend)
    predict = sg.function([images], logits, backend=backend)
    return step, predict, params


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
