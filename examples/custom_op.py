"""A new activation defined with sg.custom_op, with its own gradient and Numba lowering, trained in an MLP.

Mish (Misra 2019), mish(x) = x * tanh(softplus(x)), is not one of symgraph's ops. It is defined here from three
pieces: its NumPy function (the reference, run by the NumPy backend), its gradient rule as symgraph nodes
(so the gradient is a graph, and differentiable again), and a scalar Numba function that the Numba backend fuses
into its loops. The gradient rule is checked against finite differences, then an MLP with Mish hidden units trains
on the digits (or MNIST) with the whole step compiled by the Numba backend.
"""

import argparse
import math

import numpy as np

import symgraph as sg
from common import HelpFormatter, add_training_arguments, load_dataset, train


def mish_numpy(x):
    """The reference: x * tanh(softplus(x)), softplus computed without overflow."""
    return (x * np.tanh(np.logaddexp(x, 0))).astype(x.dtype)


def mish_scalar(x):
    """The Numba lowering, one element at a time (compiled into the fused loops)."""
    softplus = max(x, 0.0) + math.log1p(math.exp(-abs(x)))
    return x * math.tanh(softplus)


def mish_grad(inputs, output, output_grad):
    """d mish / dx = tanh(sp) + x * sigmoid(x) * (1 - tanh(sp)^2), with sp = softplus(x)."""
    (x,) = inputs
    t = sg.tanh(sg.softplus(x))
    return [output_grad * (t + x * sg.sigmoid(x) * (1 - t * t))]


mish = sg.custom_op(mish_numpy, grad=mish_grad, numba=mish_scalar, elementwise=True, name="mish")


def check_gradient():
    """The hand-written gradient against central differences, to second order."""
    x = sg.placeholder((7,), "float64", name="x")
    sg.testing.check_grads(sg.sum(mish(x) * mish(x)), [x], {x: np.linspace(-4, 4, 7)}, order=2)
    print("mish's gradient rule matches finite differences (first and second order)")


def build(image_shape, hidden, lr, seed, backend):
    """The training step and the predictor of an MLP pixels-hidden-10 with Mish hidden units."""
    pixels = image_shape[0] * image_shape[1]
    images = sg.placeholder((None,) + tuple(image_shape), name="images")
    labels = sg.placeholder((None,), "int64", name="labels")
    x = sg.reshape(images, (-1, pixels))
    h = sg.layers.dense(x, hidden, activation=mish, name="fc1", init="he_normal", rng=seed)
    logits = sg.layers.dense(h, 10, name="fc2", init="glorot_uniform", rng=seed + 1)
    loss = sg.nn.softmax_cross_entropy(logits, labels)
    updates = sg.optim.SGD(lr, momentum=0.9).updates(loss, sg.trainable_variables(loss))
    step = sg.function([images, labels], loss, updates=updates, backend=backend)
    predict = sg.function([images], logits, backend=backend)
    return step, predict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add_training_arguments(parser, epochs=8, lr=0.05, batch_size=32)
    parser.add_argument("--hidden", type=int, default=64, help="hidden units")
    parser.set_defaults(dataset="digits", backend="numba")
    args = parser.parse_args(argv)
    check_gradient()
    train_images, train_labels, test_images, test_labels, _ = load_dataset(args)
    step, predict = build(train_images.shape[1:], args.hidden, args.lr, args.seed, args.backend)
    if step.cache_info is not None:
        print(f"compiled ({step.cache_info}); custom ops run in Python: {step.cache_info.python_ops or 'none'}")
    return train(step, predict, (train_images, train_labels), (test_images, test_labels), args.epochs,
                 args.batch_size, args.seed, progress=not args.no_progress)


if __name__ == "__main__":
    main()
