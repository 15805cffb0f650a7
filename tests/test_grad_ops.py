"""Every op's gradient rule against central finite differences (float64), to second order.

GRADIENT_CASES has an entry per op class: cases to check, or the documented reason it passes no gradient. The
contract test fails the day an op is added without a gradient rule and an entry here.
"""

import dataclasses

import numpy as np
import pytest

import symgraph as sg
import symgraph.ops.conv  # noqa: F401  (registers the conv and pool ops)
import symgraph.ops.random  # noqa: F401
from symgraph.graph import Leaf, Op
from symgraph.ops.reduce import size
from symgraph.ops.shape import broadcast_like, sum_to
from symgraph.testing import check_grads

rng = np.random.default_rng(42)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


def signed(*shape):
    """Values away from 0 (kinks of abs, relu, sign) and from each other (ties of max, maximum)."""
    magnitude = rng.permutation(np.arange(1, int(np.prod(shape)) + 1)).reshape(shape) / np.prod(shape) + 0.1
    return magnitude * rng.choice([-1.0, 1.0], shape)


def unit_interval(*shape):
    return rng.uniform(-0.9, 0.9, shape)


# op class name -> list of (builder taking variables, input arrays), or a string: why no gradient is checked here.
GRADIENT_CASES = {
    "Neg": [(sg.neg, [signed(3, 4)])],
    "Abs": [(sg.abs, [signed(3, 4)])],
    "Exp": [(sg.exp, [signed(3, 4)])],
    "Log": [(sg.log, [positive(3, 4)])],
    "Log1p": [(sg.log1p, [positive(3, 4)])],
    "Expm1": [(sg.expm1, [signed(3, 4)])],
    "Sqrt": [(sg.sqrt, [positive(3, 4)])],
    "Square": [(sg.square, [signed(3, 4)])],
    "Reciprocal": [(sg.reciprocal, [positive(3, 4)])],
    "Sin": [(sg.sin, [signed(3, 4)])],
    "Cos": [(sg.cos, [signed(3, 4)])],
    "Tanh": [(sg.tanh, [signed(3, 4)])],
    "Sigmoid": [(sg.sigmoid, [signed(3, 4)])],
    "Relu": [(sg.relu, [signed(3, 4)])],
    "Softplus": [(sg.softplus, [signed(3, 4)])],
    "Add": [(sg.add, [signed(3, 4), signed(4)])],
    "Sub": [(sg.sub, [signed(3, 1), signed(1, 4)])],
    "Mul": [(sg.mul, [signed(3, 4), signed(3, 4)]), (sg.mul, [signed(2, 1, 3), signed(4, 1)])],
    "Div": [(sg.div, [signed(3, 4), positive(3, 4)]), (sg.div, [signed(3, 4), positive(4)])],
    "Pow": [(sg.pow, [positive(3, 4), signed(3, 4)]), (lambda a: a ** 3, [signed(3, 4)])],
    "Maximum": [(sg.maximum, [signed(3, 4), signed(3, 4)])],
    "Minimum": [(sg.minimum, [signed(3, 4), signed(4)])],
    "Where": [(lambda a, b: sg.where(a > 0, a * b, b), [signed(3, 4), signed(3, 4)])],
    # Through float32 the function is only float32-accurate: finite differences need a larger step and tolerance.
    "Cast": [(lambda a: sg.cast(sg.cast(a, "float32"), "float64"), [signed(3)], dict(eps=1e-3, rtol=1e-3))],
    "Sum": [(lambda a: sg.sum(a, axis=1), [signed(3, 4)]), (lambda a: sg.sum(a, (0, 2), keepdims=True),
                                                             [signed(2, 3, 4)])],
    "Mean": [(lambda a: sg.mean(a, axis=0), [signed(3, 4)]), (sg.mean, [signed(2, 3)])],
    "Max": [(lambda a: sg.max(a, axis=1), [signed(3, 4)]), (sg.max, [signed(3, 4)])],
    "Min": [(lambda a: sg.min(a, axis=0, keepdims=True), [signed(3, 4)])],
    "Prod": [(lambda a: sg.prod(a, axis=1), [positive(3, 4)]), (sg.prod, [signed(2, 3)])],
    "Matmul": [(sg.matmul, [signed(3, 4), signed(4, 2)]), (sg.matmul, [signed(2, 3, 4), signed(4)])],
    "Transpose": [(lambda a: sg.transpose(a, (2, 0, 1)), [signed(2, 3, 4)])],
    "Reshape": [(lambda a: sg.reshape(a, (4, -1)), [signed(2, 3, 4)])],
    "ReshapeLike": "exercised through reshape gradients with several unknown dimensions in test_autodiff",
    "ExpandDims": [(lambda a: sg.expand_dims(a, (0, 2)), [signed(3, 4)])],
    "Squeeze": [(lambda a: sg.squeeze(a), [signed(3, 1, 4)])],
    "BroadcastTo": [(lambda a: sg.broadcast_to(a, (2, 3, 4)), [signed(3, 1)])],
    "BroadcastLike": [(lambda a, b: broadcast_like(a, b) * b, [signed(4), signed(3, 4)])],
    "SumTo": [(lambda a, b: sum_to(a, b) * b, [signed(3, 4), signed(1, 4)])],
    "Index": [(lambda a: a[1:, ::2], [signed(3, 4)]), (lambda a: a[[0, 2, 2], 1], [signed(3, 4)])],
    "IndexGrad": [(lambda a: sg.grad(sg.sum(sg.sin(a[[0, 0, 2]])), a), [signed(3, 4)])],
    "Concatenate": [(lambda a, b: sg.concatenate([a, b], axis=1), [signed(3, 2), signed(3, 4)])],
    "ConcatenatePart": "the gradient of concatenate with unknown sizes; checked in test_autodiff",
    "Stack": [(lambda a, b: sg.stack([a, b], axis=1), [signed(3, 4), signed(3, 4)])],
    "Softmax": [(lambda a: sg.nn.softmax(a, 0), [signed(3, 4)])],
    "LogSoftmax": [(sg.nn.log_softmax, [signed(3, 4)])],
    "LogSumExp": [(lambda a: sg.nn.logsumexp(a, 1), [signed(3, 4)])],
    "SparseSoftmaxCrossEntropy": [(lambda a: sg.nn.softmax_cross_entropy(a, np.array([0, 3, 1]), "none"),
                                   [signed(3, 4)])],
    "SoftmaxCrossEntropy": [(lambda a, t: sg.nn.softmax_cross_entropy(a, t, "none"),
                             [signed(3, 4), positive(3, 4) / 4])],
    "Conv2d": "second-order finite-difference checks for every padding, stride and dilation in test_conv",
    "Conv2dBackpropInput": "checked directly to second order in test_conv",
    "Conv2dBackpropFilter": "checked directly to second order in test_conv",
    "MaxPool2d": "checked to second order in test_conv",
    "MaxPool2dGrad": "checked in test_conv",
    "MaxPool2dGather": "checked in test_conv",
    "AvgPool2d": "checked to second order in test_conv",
    "AvgPool2dGrad": "checked in test_conv",
    # No gradient flows: piecewise-constant outputs, integer or boolean results, shapes, or by definition.
    "Sign": "piecewise constant: zero gradient",
    "Floor": "piecewise constant: zero gradient",
    "Ceil": "piecewise constant: zero gradient",
    "Less": "boolean output", "LessEqual": "boolean output", "Greater": "boolean output",
    "GreaterEqual": "boolean output", "Equal": "boolean output", "NotEqual": "boolean output",
    "Argmax": "integer output", "Argmin": "integer output", "OneHot": "integer labels in",
    "Size": "depends only on the shape", "ZerosLike": "depends only on the shape",
    "StopGradient": "no gradient by definition", "RandomUniform": "random numbers do not depend on inputs",
}


def _concrete_op_classes():
    found, stack = set(), [Op]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            stack.append(sub)
            if dataclasses.is_dataclass(sub) and sub is not Leaf and isinstance(sub.__dict__.get("name"), str):
                found.add(sub)
    return found


def test_every_op_has_a_gradient_rule_and_an_entry_here():
    for cls in _concrete_op_classes():
        assert "grad" in {k for c in cls.__mro__ if c is not Op for k in vars(c)}, f"{cls.__name__} has no grad rule"
        assert cls.__name__ in GRADIENT_CASES, f"{cls.__name__} has no gradient test entry"
    assert set(GRADIENT_CASES) <= {c.__name__ for c in _concrete_op_classes()}


CASES = [(name, k, case) for name, cases in GRADIENT_CASES.items() if not isinstance(cases, str)
         for k, case in enumerate(cases)]


@pytest.mark.parametrize("name,k,case", CASES, ids=[f"{n}-{k}" for n, k, _ in CASES])
def test_gradient_matches_finite_differences_to_second_order(name, k, case):
    build, arrays, *options = case
    tolerances = {"rtol": 1e-5, "atol": 1e-6, **(options[0] if options else {})}
    variables = [sg.variable(a, name=f"input{i}") for i, a in enumerate(arrays)]
    output = build(*variables)
    # A smooth scalar of the output with a non-trivial Hessian, so second-order checks see every path.
    cost = sg.sum(sg.sin(output) * output)
    check_grads(cost, variables, order=2, **tolerances)


def test_size_op_value():
    x = sg.placeholder((None, 3), "float64", name="x")
    assert int(size(x, 0).eval({x: np.zeros((5, 3))})) == 5
