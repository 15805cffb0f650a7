"""symgraph's MLP and CNN examples against PyTorch on the same recipe, measured in the same run.

Both frameworks start from the same initial weights (PyTorch's default scheme, drawn once and copied into both) and
see the same minibatches in the same order; the test accuracies after each epoch are printed side by side.
Needs the full MNIST (set SYMGRAPH_DATA or --data-dir) and torch==2.13.0 (the `peers` extra).

    python benchmarks/mnist_accuracy.py --model mlp --epochs 5
    python benchmarks/mnist_accuracy.py --model cnn --epochs 1
"""

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "examples"))

import cnn_mnist  # noqa: E402
import mlp_mnist  # noqa: E402
import symgraph as sg  # noqa: E402
from common import HelpFormatter, accuracy  # noqa: E402
from symgraph import datasets  # noqa: E402


def torch_model(model: str, params):
    """The same architecture in PyTorch, with symgraph's initial parameter values copied in."""
    import torch
    from torch import nn

    if model == "mlp":
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 500), nn.ReLU(), nn.Linear(500, 10))
        targets = [net[1].weight, net[1].bias, net[3].weight, net[3].bias]
    else:
        net = nn.Sequential(nn.Unflatten(1, (1, 28)), nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(3136, 1024), nn.ReLU(), nn.Linear(1024, 10))
        targets = [net[1].weight, net[1].bias, net[4].weight, net[4].bias, net[8].weight, net[8].bias,
                   net[10].weight, net[10].bias]
    with torch.no_grad():
        for target, param in zip(targets, params):
            value = param.value.T if param.ndim == 2 else param.value  # dense weights: (in, out) here, (out, in) there
            target.copy_(torch.from_numpy(np.array(value, order="C")))  # a writable copy: variable values are read-only
    return net


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp", help="the example to compare")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (when not given: 5 for mlp, 1 for cnn)")
    parser.add_argument("--data-dir", default=None, help="directory holding the MNIST IDX files")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the batch order")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    epochs = args.epochs or (5 if args.model == "mlp" else 1)
    lr, momentum = (0.1, 0.0) if args.model == "mlp" else (0.05, 0.9)
    train_x, train_y = datasets.load_mnist(args.data_dir, split="train")
    test_x, test_y = datasets.load_mnist(args.data_dir, split="test")

    if args.model == "mlp":
        step, predict, _ = mlp_mnist.build((28, 28), sg.relu, lr, args.seed, backend="numpy")
    else:
        step, predict, _ = cnn_mnist.build((28, 28), lr, momentum, args.seed, backend="numpy")
    net = torch_model(args.model, sg.trainable_variables(step.outputs))
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)

    def torch_predict(images):
        with torch.no_grad():
            return net(torch.from_numpy(images)).numpy()

    rng_sg, rng_torch = np.random.default_rng(args.seed), np.random.default_rng(args.seed)
    print(f"{args.model}: SGD lr {lr} momentum {momentum}, batch 64, {epochs} epochs, same initial weights and batches")
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        for images, labels in sg.minibatches([train_x, train_y], 64, rng_sg):
            step(images, labels)
        sg_seconds = time.perf_counter() - start
        start = time.perf_counter()
        for images, labels in sg.minibatches([train_x, train_y], 64, rng_torch):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(images)), torch.from_numpy(labels))
            loss.backward()
            optimizer.step()
        torch_seconds = time.perf_counter() - start
        ours, theirs = accuracy(predict, test_x, test_y, 1000), accuracy(torch_predict, test_x, test_y, 1000)
        print(f"epoch {epoch}: test accuracy symgraph {ours:.2%}, PyTorch {theirs:.2%} "
              f"(difference {100 * (ours - theirs):+.2f} points); epoch time symgraph (NumPy backend) "
              f"{sg_seconds:.1f} s, PyTorch {torch_seconds:.1f} s")


if __name__ == "__main__":
    main()
