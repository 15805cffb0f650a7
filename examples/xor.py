"""The XOR network of the lecture notes (Goodfellow et al., ch. 6), as a static symgraph graph.

First the hand-set solution: h = relu(X W + c), y = h w + b with W=[[1,1],[1,1]], c=[0,-1], w=[1,-2], b=0,
which computes XOR exactly. Run with --help for options.
"""

import argparse

import numpy as np

import symgraph as sg

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
TARGETS = np.array([0, 1, 1, 0], dtype=np.float32)


def hand_set_network(x):
    weights = sg.constant([[1.0, 1.0], [1.0, 1.0]], name="W")
    hidden_bias = sg.constant([0.0, -1.0], name="c")
    output_weights = sg.constant([1.0, -2.0], name="w")
    output_bias = sg.constant(0.0, name="b")
    hidden = sg.relu(x @ weights + hidden_bias)
    return hidden @ output_weights + output_bias


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    x = sg.placeholder((None, 2), name="x")
    y = hand_set_network(x)
    outputs = y.eval({x: INPUTS})
    print("hand-set weights:", outputs.tolist(), "expected:", TARGETS.tolist())
    if not np.array_equal(outputs, TARGETS):
        raise SystemExit("the hand-set XOR network gave the wrong answer")
    return outputs


if __name__ == "__main__":
    main()
