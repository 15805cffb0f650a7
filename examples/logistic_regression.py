"""Multinomial logistic regression (softmax regression) on MNIST or the bundled digits: one dense layer."""

import argparse

import symgraph as sg
from common import HelpFormatter, add_training_arguments, load_dataset, train


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add_training_arguments(parser, epochs=3, lr=0.5, batch_size=100)
    parser.add_argument("--l2", type=float, default=1e-4, help="L2 penalty (lambda / 2 * ||W||^2)")
    args = parser.parse_args(argv)
    train_images, train_labels, test_images, test_labels, _ = load_dataset(args)
    height, width = train_images.shape[1:]
    images = sg.placeholder((None, height, width), name="images")
    labels = sg.placeholder((None,), "int64", name="labels")
    logits = sg.layers.dense(sg.reshape(images, (-1, height * width)), 10, name="softmax", init="zeros")
    weights, bias = sg.trainable_variables(logits)
    loss = sg.nn.softmax_cross_entropy(logits, labels) + sg.nn.l2_penalty([weights], args.l2)
    step = sg.function([images, labels], loss, updates=sg.optim.SGD(args.lr).updates(loss, [weights, bias]),
                       backend=args.backend)
    predict = sg.function([images], logits, backend=args.backend)
    return train(step, predict, (train_images, train_labels), (test_images, test_labels), args.epochs,
                 args.batch_size, args.seed, progress=not args.no_progress)


if __name__ == "__main__":
    main()
