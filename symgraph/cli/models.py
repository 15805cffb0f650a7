"""The lecture notes' models and the data they train on, shared by ``symgraph train`` and the examples.

The MLP is pixels-500-10 (784-500-10 on MNIST) with ReLU (or sigmoid) hidden units; the CNN is conv 32 5x5 same,
ReLU, 2x2 max-pool, conv 64 5x5 same, ReLU, 2x2 max-pool, fc 1024 ReLU, fc 10. Both end in softmax cross-entropy
and use PyTorch's default initialisation (uniform in +-1/sqrt(fan_in) for weights and biases), so that a run compares
with the same recipe in PyTorch (benchmarks/mnist_accuracy.py). Layers have fixed names (fc1, conv1, ...), so a
model built again in another process has the same variable names, which is how checkpoints match variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph import datasets, layers, nn, optim
from symgraph.graph import Node, Placeholder, placeholder, trainable_variables
from symgraph.ops import expand_dims, relu, reshape

MODELS = ("mlp", "cnn")
OPTIMIZERS = ("sgd", "momentum", "adam")
DATASETS = ("auto", "mnist", "digits")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "adam": 0.001}  # the lecture's recipes; Adam's usual rate
MOMENTUM = 0.9
DIGITS_TEST_EXAMPLES = 360  # the fixed split of the 1,797 digits: 1,437 to train, 360 to test
_SCHEME = dict(init="fan_in_uniform", bias_init="fan_in_uniform")


@dataclass(frozen=True)
class Model:
    """A classifier's graph: ``images`` (N, H, W) float32 and ``labels`` (N,) int64 in, ``logits`` (N, 10) and the
    mean softmax cross-entropy ``loss`` out."""

    images: Placeholder
    labels: Placeholder
    logits: Node
    loss: Node

    @property
    def parameters(self) -> list:
        return trainable_variables(self.loss)


def mlp(image_shape, activation="relu", seed: int = 0, hidden: int = 500) -> Model:
    """The lecture's MLP on images of ``image_shape`` (H, W): pixels-``hidden``-10, ``activation`` a layer activation
    name ("relu", "sigmoid") or a callable."""
    images, labels = _inputs(image_shape)
    pixels = int(np.prod(image_shape))
    x = layers.dense(reshape(images, (-1, pixels)), hidden, activation=activation, name="fc1", rng=seed, **_SCHEME)
    logits = layers.dense(x, 10, name="fc2", rng=seed + 1, **_SCHEME)
    return Model(images, labels, logits, nn.softmax_cross_entropy(logits, labels, name="loss"))


def cnn(image_shape, seed: int = 0) -> Model:
    """The lecture's CNN on images of ``image_shape`` (H, W), read as NCHW with one channel."""
    images, labels = _inputs(image_shape)
    x = expand_dims(images, 1)
    x = nn.max_pool2d(layers.conv2d(x, 32, 5, padding="same", activation=relu, name="conv1", rng=seed, **_SCHEME), 2)
    x = nn.max_pool2d(layers.conv2d(x, 64, 5, padding="same", activation=relu, name="conv2", rng=seed + 1,
                                    **_SCHEME), 2)
    features = x.shape[1] * x.shape[2] * x.shape[3]
    x = layers.dense(reshape(x, (-1, features)), 1024, activation=relu, name="fc1", rng=seed + 2, **_SCHEME)
    logits = layers.dense(x, 10, name="fc2", rng=seed + 3, **_SCHEME)
    return Model(images, labels, logits, nn.softmax_cross_entropy(logits, labels, name="loss"))


def build_model(name: str, image_shape, seed: int = 0, activation="relu") -> Model:
    """``mlp`` or ``cnn`` by name (``activation`` is the MLP's)."""
    if name == "mlp":
        return mlp(image_shape, activation, seed)
    if name == "cnn":
        return cnn(image_shape, seed)
    raise ValueError(f"unknown model {name!r}; the models are {', '.join(MODELS)}")


def make_optimizer(name: str, lr: float | None = None, momentum: float = MOMENTUM) -> optim.Optimizer:
    """``sgd`` (plain), ``momentum`` (SGD with ``momentum``) or ``adam``; ``lr`` None takes DEFAULT_LR's."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; the optimizers are {', '.join(OPTIMIZERS)}")
    lr = DEFAULT_LR[name] if lr is None else lr
    if name == "adam":
        return optim.Adam(lr)
    return optim.SGD(lr, momentum=momentum if name == "momentum" else 0.0)


def _inputs(image_shape) -> tuple[Placeholder, Placeholder]:
    return (placeholder((None,) + tuple(image_shape), name="images"), placeholder((None,), "int64", name="labels"))


# -- data -----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Data:
    """Training and test images (float32 (N, H, W) in [0, 1]) and labels (int64), with the data set's name and, for
    ``auto``, why it chose what it chose (else "")."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    name: str
    note: str = ""

    def summary(self) -> str:
        return (f"dataset: {self.name}, {len(self.train_labels)} training and {len(self.test_labels)} test images of "
                f"{self.train_images.shape[1:]}{self.note}")


def load_data(choice: str = "auto", data_dir=None, train_limit: int | None = None,
              test_limit: int | None = None) -> Data:
    """The data set ``choice`` names: ``mnist`` (found on disk or downloaded: ``datasets.load_mnist``), ``digits``
    (scikit-learn's bundled 8x8 digits, no download; a fixed split of 1,437 training and 360 test images) or
    ``auto`` (MNIST when found locally or downloadable, else digits). ``train_limit``/``test_limit`` keep the first N
    examples. Raises ``datasets.DatasetNotFoundError`` when ``mnist`` is asked for and neither found nor downloaded.
    """
    if choice not in DATASETS:
        raise ValueError(f"unknown dataset {choice!r}; the choices are {', '.join(DATASETS)}")
    note = ""
    if choice == "auto":
        choice = "mnist" if datasets.find_mnist(data_dir) is not None or _mnist_downloadable(data_dir) else "digits"
        note = " (--dataset auto: MNIST is not on disk and could not be downloaded)" if choice == "digits" else ""
    if choice == "mnist":
        train = datasets.load_mnist(data_dir, split="train")
        test = datasets.load_mnist(data_dir, split="test")
        name = "MNIST"
    else:
        images, labels = datasets.load_digits()
        order = np.random.default_rng(1234).permutation(len(labels))
        cut = len(labels) - DIGITS_TEST_EXAMPLES
        train = images[order[:cut]], labels[order[:cut]]
        test = images[order[cut:]], labels[order[cut:]]
        name = "digits (8x8, scikit-learn)"
    train = tuple(a[:train_limit] for a in train)
    test = tuple(a[:test_limit] for a in test)
    return Data(train[0], train[1], test[0], test[1], name, note)


def _mnist_downloadable(data_dir) -> bool:
    try:
        datasets.load_mnist(data_dir, split="test")
        return True
    except OSError:
        return False
