"""Inspecting graphs and their derivatives, on the lecture notes' examples.

1. The computational graph f = (x + y) z and its gradients, as a tree, as math and as LaTeX.
2. The logistic unit sigmoid(w x + b) with a squared-error cost: the gradient graph before and after sg.optimize,
   with each rewrite that fired.
3. The 2-layer MLP (ReLU, softmax cross-entropy): its optimized gradient printed so that it reads line by line as
   the backprop equations, the provenance of each adjoint, and the cost model of forward against gradient.
Pictures (SVG, and an HTML page with a tooltip per node) are written to --out when Graphviz's `dot` is installed.
"""

import argparse
import os

import numpy as np

import symgraph as sg
from common import HelpFormatter


def heading(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 100 - len(text)))


def textbook_graph():
    """The notes' (x + y) z: a tree, math, LaTeX, and the three partial derivatives."""
    x, y, z = (sg.placeholder((), "float64", name=n) for n in "xyz")
    q = sg.add(x, y, name="q")
    f = sg.mul(q, z, name="f")
    heading("f = (x + y) z as a tree")
    sg.debugprint(f)
    heading("its gradients as math (df/dx = z, df/dy = z, df/dz = x + y)")
    gradients = sg.grad(f, [x, y, z])
    print(sg.pprint(gradients))
    print("after sg.optimize:", ", ".join(f"df/d{n} = {sg.pprint(g)}" for n, g in zip("xyz", sg.optimize(gradients)[0])))
    heading("as LaTeX")
    print("f      :", sg.latex(f))
    for wrt, gradient in zip("xyz", gradients):
        print(f"df/d{wrt}  :", sg.latex(gradient))
    values = sg.evaluate([f] + gradients, {"x": -2.0, "y": 5.0, "z": -4.0})
    print("at x=-2, y=5, z=-4 (the notes' numbers): f, df/dx, df/dy, df/dz =", [float(v) for v in values])
    return [f] + gradients


def logistic_unit():
    """sigmoid(w x + b) with a squared error: the gradient before and after the optimizer."""
    x = sg.placeholder((), "float64", name="x")
    t = sg.placeholder((), "float64", name="t")
    w = sg.variable(np.float64(0.5), name="w")
    b = sg.variable(np.float64(-0.25), name="b")
    s = sg.sigmoid(w * x + b, name="s")
    cost = sg.mul(0.5, sg.square(s - t), name="cost")
    gradients = sg.grad(cost, [w, b])
    heading("logistic unit: the cost and dcost/dw as built by sg.grad")
    print(sg.pprint([cost] + gradients))
    print("dcost/dw in sympy:", sg.to_sympy(gradients[0]))
    optimized, report = sg.optimize([cost] + gradients)
    heading("logistic unit: before and after sg.optimize, and the rules that fired")
    print(report.before_after())
    return report


def mlp_gradient():
    """The 2-layer MLP: its optimized gradient as backprop equations, provenance and costs."""
    rng = np.random.default_rng(0)
    x = sg.placeholder((None, 4), name="x")
    y = sg.placeholder((None,), "int64", name="y")
    W1 = sg.variable(rng.standard_normal((4, 5)).astype(np.float32), name="W1")
    b1 = sg.variable(np.zeros(5, np.float32), name="b1")
    W2 = sg.variable(rng.standard_normal((5, 3)).astype(np.float32), name="W2")
    b2 = sg.variable(np.zeros(3, np.float32), name="b2")
    z1 = sg.add(x @ W1, b1, name="z1")
    h1 = sg.relu(z1, name="h1")
    z2 = sg.add(h1 @ W2, b2, name="z2")
    cost = sg.nn.softmax_cross_entropy(z2, y, name="cost")
    params = [W1, b1, W2, b2]
    gradients, _ = sg.optimize(sg.grad(cost, params))
    heading("MLP: the optimized gradient, to read against the backprop equations of the notes")
    print(sg.pprint(gradients))
    print("  delta2 = (softmax(z2) - onehot(y)) / N;  dW2 = h1.T delta2;  db2 = sum(delta2)")
    print("  delta1 = (delta2 W2.T) * relu'(z1);       dW1 = x.T delta1;   db1 = sum(delta1)")
    heading("MLP: where each matmul of the gradient comes from (provenance)")
    for node in sg.toposort(gradients):
        if node.op.name == "matmul" and node.provenance is not None:
            operands = " @ ".join(f"{i.op.name}{list(i.shape)}" for i in node.inputs)
            print(f"  {operands:<40} {node.provenance}")
    heading("MLP 784-500-10 at batch 64: the cost model of forward against gradient")
    big_x = sg.placeholder((None, 784), name="x")
    W1 = sg.variable(np.zeros((784, 500), np.float32), name="W1")
    W2 = sg.variable(np.zeros((500, 10), np.float32), name="W2")
    big_cost = sg.nn.softmax_cross_entropy(sg.relu(big_x @ W1) @ W2, y, name="cost")
    stats = sg.stats([big_cost] + sg.grad(big_cost, [W1, W2]), input_shapes={"x": (64, 784), "y": (64,)})
    print(stats)
    return [cost] + gradients


def pictures(out: str, textbook, report, mlp) -> None:
    heading(f"pictures in {out}")
    os.makedirs(out, exist_ok=True)
    try:
        sg.render(textbook, os.path.join(out, "textbook_gradient.svg"))
        sg.render(report, os.path.join(out, "logistic_optimized.svg"))
        sg.render(mlp, os.path.join(out, "mlp_gradient.svg"), highlight=mlp[1:])
        sg.render(mlp, os.path.join(out, "mlp_gradient.html"))
    except sg.GraphvizError as error:
        print(f"no pictures: {str(error).splitlines()[0]}")
        return
    for name in sorted(os.listdir(out)):
        print(f"  {os.path.join(out, name)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--out", default="inspect_output", help="directory for the pictures")
    parser.add_argument("--no-pictures", action="store_true", help="print only; draw no pictures")
    args = parser.parse_args(argv)
    textbook = textbook_graph()
    report = logistic_unit()
    mlp = mlp_gradient()
    if not args.no_pictures:
        pictures(args.out, textbook, report, mlp)


if __name__ == "__main__":
    main()
