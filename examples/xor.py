"""The XOR network of the lecture notes (Goodfellow et al., ch. 6), as static symgraph graphs.

1. The hand-set solution: h = relu(X W + c), y = h w + b with W=[[1,1],[1,1]], c=[0,-1], w=[1,-2], b=0, which
   computes XOR exactly.
2. A 2-2-1 network (tanh hidden layer, sigmoid output) trained from random weights with Adam on the four points,
   through one compiled function that computes the loss, its gradient graph and the parameter updates.
"""

import argparse
import time

import numpy as np

import symgraph as sg
from common import HelpFormatter

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
TARGETS = np.array([0, 1, 1, 0], dtype=np.float32)


def hand_set_network(x):
    weights = sg.constant([[1.0, 1.0], [1.0, 1.0]], name="W")
    hidden_bias = sg.constant([0.0, -1.0], name="c")
    output_weights = sg.constant([1.0, -2.0], name="w")
    output_bias = sg.constant(0.0, name="b")
    hidden = sg.relu(x @ weights + hidden_bias)
    return hidden @ output_weights + output_bias


def train_network(steps: int, lr: float, seed: int, log_every: int):
    rng = np.random.default_rng(seed)
    x = sg.placeholder((None, 2), name="x")
    t = sg.placeholder((None,), name="t")
    w1 = sg.variable(sg.init.glorot_uniform((2, 2), rng), name="w1")
    b1 = sg.variable(sg.init.zeros((2,)), name="b1")
    w2 = sg.variable(sg.init.glorot_uniform((2,), rng), name="w2")
    b2 = sg.variable(sg.init.zeros(()), name="b2")
    logits = sg.tanh(x @ w1 + b1) @ w2 + b2
    loss = sg.mean(sg.softplus(logits) - t * logits)  # binary cross-entropy from logits, stable
    prediction = sg.sigmoid(logits)
    step = sg.function([x, t], loss, updates=sg.optim.Adam(lr).updates(loss, [w1, b1, w2, b2]))
    predict = sg.function([x], prediction)
    start = time.perf_counter()
    for k in range(1, steps + 1):
        value = step(INPUTS, TARGETS)
        if k % log_every == 0 or k == steps:
            print(f"step {k:4d}  loss {float(value):.4f}")
    elapsed = time.perf_counter() - start
    probabilities = predict(INPUTS)
    rounded = [round(float(p), 3) for p in probabilities]
    print(f"trained in {elapsed:.2f} s ({steps / elapsed:.0f} steps/s); probabilities {rounded}")
    return probabilities


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--steps", type=int, default=600, help="Adam steps for the trained network")
    parser.add_argument("--lr", type=float, default=0.05, help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights")
    parser.add_argument("--log-every", type=int, default=100, help="print the loss every N steps")
    args = parser.parse_args(argv)

    x = sg.placeholder((None, 2), name="x")
    outputs = hand_set_network(x).eval({x: INPUTS})
    print("hand-set weights:", outputs.tolist(), "expected:", TARGETS.tolist())
    if not np.array_equal(outputs, TARGETS):
        raise SystemExit("the hand-set XOR network gave the wrong answer")

    probabilities = train_network(args.steps, args.lr, args.seed, args.log_every)
    accuracy = float(np.mean((probabilities > 0.5) == (TARGETS > 0.5)))
    print(f"trained 2-2-1 network accuracy: {accuracy:.0%}")
    return outputs, probabilities


if __name__ == "__main__":
    main()
