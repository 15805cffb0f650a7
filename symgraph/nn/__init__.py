"""``sg.nn``: neural-network ops, activations and losses.

Ops with gradient rules of their own live in ``symgraph.ops.nn`` (softmax family, fused cross-entropies); the
activations and losses here that are short compositions of existing ops are written as such, so that their
gradients come from the rules of the ops they use.
"""

from symgraph.nn.activations import elu, leaky_relu, maxout, prelu
from symgraph.nn.normalization import batch_norm
from symgraph.nn.stochastic import dropout
from symgraph.nn.losses import l1_penalty, l2_penalty, mae, mse, sigmoid_cross_entropy
from symgraph.ops.conv import avg_pool2d, conv2d, convolve2d, max_pool2d
from symgraph.ops.elementwise import abs, relu, sigmoid, tanh
from symgraph.ops.nn import log_softmax, logsumexp, softmax, softmax_cross_entropy

__all__ = [
    "conv2d", "convolve2d", "max_pool2d", "avg_pool2d",
    "softmax", "log_softmax", "logsumexp",
    "softmax_cross_entropy", "sigmoid_cross_entropy", "mse", "mae", "l1_penalty", "l2_penalty",
    "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "abs", "maxout", "elu",
    "dropout", "batch_norm",
]
