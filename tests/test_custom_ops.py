"""User-defined ops (issue 15): sg.custom_op, sg.op_from_graph, and the gradient helpers clip_gradient and
scale_gradient, on both backends.

Values are compared with NumPy formulas written here, gradients with central differences (sg.testing.check_grads)
and with closed forms. The op table (tests/op_table.py, rows of family "custom") runs the per-op suites on them too;
this file tests what is particular to ops defined by users: the Numba lowerings and the call back into Python, the
disk cache keyed by the user's functions, merging, inlining, gradient overrides, sg.stats, and the errors. Numba
compiles are slow, so the compiled functions are shared between tests where the graph is the same.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.special

import symgraph as sg
from symgraph.backends.numba.program import LoweringError, module_name
from symgraph.ops.custom import GraphOp

pytestmark = pytest.mark.filterwarnings("ignore::symgraph.PythonCallbackWarning")

RNG = np.random.default_rng(0)
THIS_FILE = __file__.rsplit("/", 1)[-1]
X = RNG.standard_normal((4, 3))
A, B = RNG.standard_normal((4, 3)), RNG.standard_normal((5, 3))


def line_of(marker: str) -> int:
    """The line of this file that holds ``marker`` (in a comment), for asserting the lines errors name."""
    with open(__file__) as file:
        return next(k for k, line in enumerate(file, 1) if marker in line and "line_of" not in line)


# -- ops shared by the tests ----------------------------------------------------------------------------------------

def swish_numpy(x, beta=1.0):
    return (x * scipy.special.expit(beta * x)).astype(x.dtype)


def swish_scalar(x, beta=1.0):
    return x / (1.0 + math.exp(-beta * x))


def swish_grad(inputs, output, g, beta=1.0):
    (x,) = inputs
    s = sg.sigmoid(beta * x)
    return [g * (s + beta * x * s * (1 - s))]


def swish_reference(x, beta):
    return x / (1 + np.exp(-beta * x))


def swish_derivative(x, beta):
    s = 1 / (1 + np.exp(-beta * x))
    return s + beta * x * s * (1 - s)


swish = sg.custom_op(swish_numpy, name="swish", grad=swish_grad, numba=swish_scalar, elementwise=True)
swish_python = sg.custom_op(swish_numpy, name="swish_python", grad=swish_grad, elementwise=True)


def sqdist_numpy(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def sqdist_kernel(a, b, out):
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            total = 0.0
            for k in range(a.shape[1]):
                d = a[i, k] - b[j, k]
                total += d * d
            out[i, j] = total


def sqdist_grad(inputs, output, g):
    a, b = inputs
    rows, cols = sg.sum(g, axis=1, keepdims=True), sg.sum(g, axis=0, keepdims=True)
    return [2 * (a * rows - g @ b), 2 * (b * sg.transpose(cols) - sg.transpose(g) @ a)]


sqdist = sg.custom_op(sqdist_numpy, shape=lambda a, b: (a[0], b[0]), grad=sqdist_grad, numba=sqdist_kernel,
                      flops=lambda inputs, output: 3 * output[0] * output[1] * inputs[0][1])


@pytest.fixture(scope="module")
def swish_graph():
    """swish (lowered) and swish_python (called back) of one input, their gradients, compiled on both backends."""
    x = sg.placeholder((None, 3), "float64", name="x")
    lowered, called = swish(x, beta=1.5), swish_python(x, beta=1.5)
    gradients = sg.grad(sg.sum(lowered * lowered) + sg.sum(called), x)
    outputs = [lowered, called, gradients]
    return x, outputs, {backend: sg.function([x], outputs, backend=backend) for backend in ("numpy", "numba")}


@pytest.fixture(scope="module")
def sqdist_graph():
    a = sg.placeholder((None, 3), "float64", name="a")
    b = sg.placeholder((None, 3), "float64", name="b")
    d = sqdist(a, b)
    outputs = [d, *sg.grad(sg.sum(sg.sqrt(d + 1)), [a, b])]
    return a, b, outputs, sg.function([a, b], outputs, backend="numba")


# -- custom_op: values, gradients, printing -------------------------------------------------------------------------

def test_custom_op_values_and_gradients_to_second_order():
    x = sg.placeholder((4, 3), "float64", name="x")
    y = swish(x, beta=1.5)
    np.testing.assert_allclose(y.eval({x: X}), swish_reference(X, 1.5), rtol=1e-12)
    np.testing.assert_allclose(sg.grad(sg.sum(y), x).eval({x: X}), swish_derivative(X, 1.5), rtol=1e-12)
    sg.testing.check_grads(sg.sum(y * y), [x], {x: X}, order=2)  # the rule's nodes are differentiable again


def test_custom_op_with_a_shape_rule_values_and_gradients():
    a, b = sg.placeholder((None, 3), "float64", name="a"), sg.placeholder((None, 3), "float64", name="b")
    d = sqdist(a, b)
    assert d.shape == (None, None)
    expected = np.array([[np.sum((p - q) ** 2) for q in B] for p in A])
    np.testing.assert_allclose(d.eval({a: A, b: B}), expected, rtol=1e-12)
    sg.testing.check_grads(sg.sum(sg.sqrt(d + 1)), [a, b], {a: A, b: B}, order=2)


def test_custom_op_prints_with_its_name_and_attributes():
    x = sg.placeholder((2,), name="x")
    node = swish(x, beta=2.0, name="act")  # printed node
    assert node.op.name == "swish" and str(node.op) == "swish{beta=2.0}"
    assert repr(node) == f"<swish 'act' shape=(2,) dtype=float32 at {__file__}:{line_of('# printed node')}>"
    assert "defined at" in repr(swish) and "swish" in repr(swish)
    assert node.dtype == np.float32 and swish(sg.placeholder((2,), "float64")).dtype == np.float64


def test_decorator_form_takes_the_function_name_and_defaults():
    @sg.custom_op(elementwise=True, grad=lambda inputs, output, g: [g / sg.square(1 + abs(inputs[0]))])
    def softsign(x):
        return x / (1 + np.abs(x))

    x = sg.placeholder((5,), "float64", name="x")
    node = softsign(x)
    assert node.op.name == "softsign" and node.shape == (5,)
    values = RNG.standard_normal(5)
    np.testing.assert_allclose(node.eval({x: values}), values / (1 + np.abs(values)))
    sg.testing.check_grads(sg.sum(softsign(x) * x), [x], {x: values}, order=2)


def test_elementwise_custom_ops_broadcast_and_sum_gradients_back():
    scaled = sg.custom_op(lambda a, b: a * b, name="scaled", elementwise=True,
                          grad=lambda inputs, output, g: [g * inputs[1], g * inputs[0]])
    a, b = sg.placeholder((3, 4), "float64", name="a"), sg.placeholder((4,), "float64", name="b")
    node = scaled(a, b)
    assert node.shape == (3, 4)
    av, bv = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    grad_b = sg.grad(sg.sum(node), b)
    assert grad_b.shape == (4,)
    np.testing.assert_allclose(grad_b.eval({a: av, b: bv}), av.sum(0))
    sg.testing.check_grads(sg.sum(node * node), [a, b], {a: av, b: bv}, order=2)


def test_attributes_are_part_of_the_op():
    x = sg.placeholder((2,), name="x")
    assert swish(x, beta=1.5).op == swish(x, beta=1.5).op
    assert hash(swish(x, beta=1.5).op) == hash(swish(x, beta=1.5).op)
    assert swish(x, beta=1.5).op != swish(x, beta=2.0).op
    assert swish(x, beta=1).op != swish(x, beta=1.0).op  # an int and a float are different attributes
    assert len({swish(x).op, swish(x).op, swish_python(x).op}) == 2
    with pytest.raises(TypeError, match=rf"swish: attribute beta=array.*must be a number.*\n  at .*{THIS_FILE}:"):
        swish(x, beta=np.ones(2))
    with pytest.raises(sg.DTypeError, match=rf"^swish: .*\n  at .*{THIS_FILE}:\d+$"):
        swish("abc")


# -- merging ------------------------------------------------------------------------------------------------------

def test_nodes_of_one_custom_op_with_equal_inputs_and_attributes_merge():
    x = sg.placeholder((3,), "float64", name="x")
    same = sg.sum(swish(x, beta=1.5)) + sg.sum(swish(x, beta=1.5))
    other_beta = sg.sum(swish(x, beta=1.5)) + sg.sum(swish(x, beta=2.0))
    twin = sg.custom_op(swish_numpy, name="swish", elementwise=True)  # same function and name: another op
    other_definition = sg.sum(swish(x)) + sg.sum(twin(x))
    counts = []
    for cost in (same, other_beta, other_definition):
        optimized, report = sg.optimize(cost, passes=["merge"])
        counts.append(sum(n.op.name == "swish" for n in sg.toposort(optimized)))
    assert counts == [1, 2, 2]
    values = RNG.standard_normal(3)
    np.testing.assert_allclose(sg.optimize(same)[0].eval({x: values}), 2 * swish_reference(values, 1.5).sum())


def test_nodes_of_one_op_from_graph_with_equal_inputs_merge():
    p = sg.placeholder((3,), "float64", name="p")
    packed = sg.op_from_graph([p], sg.exp(p) * 2, name="doubled_exp")
    x, y = sg.placeholder((3,), "float64", name="x"), sg.placeholder((3,), "float64", name="y")
    cost = sg.sum(packed(x)) + sg.sum(packed(x)) + sg.sum(packed(y))
    merged, _ = sg.optimize(cost, passes=["merge"])
    assert sum(isinstance(n.op, GraphOp) for n in sg.toposort(merged)) == 2
    assert packed(x).op == packed(y).op and hash(packed(x).op) == hash(packed(y).op)


# -- the Numba backend ----------------------------------------------------------------------------------------------

def test_numba_runs_lowered_and_called_back_custom_ops_like_the_numpy_backend(swish_graph):
    x, outputs, functions = swish_graph
    numba_values, numpy_values = functions["numba"](X), functions["numpy"](X)
    np.testing.assert_allclose(numpy_values[0], swish_reference(X, 1.5), rtol=1e-12)
    np.testing.assert_allclose(numpy_values[2], 2 * swish_reference(X, 1.5) * swish_derivative(X, 1.5)
                               + swish_derivative(X, 1.5), rtol=1e-12)
    for got, expected in zip(numba_values, numpy_values):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_a_lowered_elementwise_op_is_fused_into_a_compiled_loop(swish_graph):
    source = swish_graph[2]["numba"].source
    entry = swish.kernel_name()
    stage = re.search(r"@numba\.njit[^\n]*\ndef stage_\d+\([^)]*\):\n(?:    .*\n)*?.*" + entry + r"\(x\[i0, i1\], "
                      r"beta=1\.5\)", source)
    assert stage, "the scalar lowering is called inside an @njit loop"
    assert re.search(rf"^{entry} = _kernels\('{entry}', '[0-9a-f]{{16}}'\)\.{entry}$", source, re.M)


def test_a_custom_op_without_lowering_runs_in_python_and_is_named(swish_graph):
    function = swish_graph[2]["numba"]
    info = function.cache_info
    assert len(info.python_ops) == 1 and "custom op 'swish_python'" in info.python_ops[0]
    assert "calls its NumPy function" in info.python_ops[0] and f"{THIS_FILE}:" in info.python_ops[0]
    assert "runs in Python: custom op 'swish_python'" in str(info)
    source = function.source
    assert re.search(r"^def run\(x, .*swish_python_compute\):$", source, re.M)
    call = re.search(r"^def (stage_\d+)\(.*swish_python_compute\):\n    \"\"\".*run by Python", source, re.M)
    assert call and f"@numba.njit" not in source.split(f"def {call.group(1)}")[0].rsplit("\n\n\n", 1)[-1]
    assert "- swish_python_compute: the NumPy function of custom op 'swish_python'" in source


def test_the_python_call_back_warns_once_per_op():
    once = sg.custom_op(swish_numpy, name="warned_once", elementwise=True)
    x = sg.placeholder((None,), "float64", name="x")
    with pytest.warns(sg.PythonCallbackWarning, match=r"custom op 'warned_once' .* has no Numba lowering: "
                                                      r"backend='numba' calls its NumPy function") as caught:
        f = sg.function([x], once(x), backend="numba")  # warning at the sg.function call
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = sg.function([x], [once(x) * 2], backend="numba")
    values = RNG.standard_normal(6)
    np.testing.assert_allclose(f(values), swish_reference(values, 1.0))
    np.testing.assert_allclose(g(values)[0], 2 * swish_reference(values, 1.0))


def test_an_array_kernel_with_unknown_sizes_calls_the_shape_rule_from_the_plan(sqdist_graph):
    a, b, outputs, function = sqdist_graph
    expected = sg.function([a, b], outputs, backend="numpy")
    for rows in (4, 1, 0):
        for got, want in zip(function(A[:rows], B), expected(A[:rows], B)):
            np.testing.assert_allclose(got, want, rtol=1e-12)
    source = function.source
    assert re.search(r"^def _plan\(a, b, sqdist_numpy_shape\):$", source, re.M)
    assert re.search(r"custom_shape\(_NODES\[\d+\], sqdist_numpy_shape, \(s_a, s_b, \), \{\}, \(None, None\)\)",
                     source)
    assert function.cache_info.python_ops == []  # the shape rule is Python, the op itself is compiled


def test_a_fully_static_shape_needs_no_shape_rule_at_run_time():
    a, b = sg.placeholder((4, 3), "float64", name="a"), sg.placeholder((5, 3), "float64", name="b")
    function = sg.function([a, b], sqdist(a, b), backend="numba")
    assert "sqdist_numpy_shape" not in function.source and "s_sqdist_numpy_1 = (4, 5)" in function.source
    np.testing.assert_allclose(function(A, B), sqdist_numpy(A, B), rtol=1e-12)


def test_generated_modules_run_without_symgraph_given_the_python_functions(swish_graph, sqdist_graph, tmp_path):
    """The module of the swish graph takes the NumPy function of swish_python (and nothing else of the user's); the
    module of sqdist takes its shape rule. Both run with symgraph unimportable, the functions coming from a module
    of their own, as the user's code would provide them."""
    (tmp_path / "user_functions.py").write_text(textwrap.dedent("""
        import numpy as np
        import scipy.special

        def swish_numpy(x, beta=1.0):
            return (x * scipy.special.expit(beta * x)).astype(x.dtype)

        def sqdist_shape(a, b):
            return (a[0], b[0])
        """))
    swish_function, sqdist_function = swish_graph[2]["numba"], sqdist_graph[3]
    cases = [(swish_function, [X], "[user_functions.swish_numpy]"),
             (sqdist_function, [A, B], "[user_functions.sqdist_shape]")]
    for k, (function, inputs, callbacks) in enumerate(cases):
        program = function._program
        arguments = inputs + [v.value for v in program.variables] + [c.value for c in program.constants]
        np.savez(tmp_path / f"args{k}.npz", *arguments)
        script = f"""
import importlib.util, sys
import numpy as np
sys.path.insert(0, {str(tmp_path)!r})
import user_functions
sys.modules['symgraph'] = None  # any import of symgraph fails
name = {module_name(function.source_path)!r}
spec = importlib.util.spec_from_file_location(name, {function.source_path!r})
module = importlib.util.module_from_spec(spec); sys.modules[name] = module; spec.loader.exec_module(module)
data = np.load({str(tmp_path / f'args{k}.npz')!r})
values = module.run(*[data[f'arr_{{j}}'] for j in range({len(arguments)})], *{callbacks})
np.save({str(tmp_path / f'out{k}.npy')!r}, values[0])
"""
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        np.testing.assert_allclose(np.load(tmp_path / f"out{k}.npy"), function(*inputs)[0], rtol=1e-12)


# -- the disk cache is keyed by the user's functions ----------------------------------------------------------------

def _scaled_op(scale, lowered):
    """A custom op named "scaled_by" whose functions compute x * scale (a closure: its source stays the same)."""
    def compute(x):
        return x * scale

    def lowering(x):
        return x * scale

    return sg.custom_op(compute, name="scaled_by", elementwise=True, numba=lowering if lowered else None)


@pytest.mark.parametrize("lowered", [True, False], ids=["numba-lowering", "python-function"])
def test_the_cache_key_changes_when_the_users_function_changes(lowered):
    x = sg.placeholder((None,), "float64", name="x")
    values = RNG.standard_normal(5)
    infos = []
    for scale in (2.0, 2.0, 3.0):  # each compiled and run before the next is built
        function = sg.function([x], _scaled_op(scale, lowered)(x), backend="numba")
        np.testing.assert_allclose(function(values), values * scale)
        infos.append(function.cache_info)
    first, same, changed = infos
    assert same.key == first.key and same.hit and same.compiled == []  # the same function: found, nothing compiled
    assert changed.key != first.key and not changed.hit
    role = "compute, numba" if lowered else "compute"  # both close over the scale
    assert re.fullmatch(rf"the functions of a custom op changed \(scaled_by at .*{THIS_FILE}:\d+: {role}\)",
                        changed.reason), changed.reason


def test_a_lowering_is_copied_with_the_numbers_and_functions_it_reads():
    x = sg.placeholder((None,), "float64", name="x")
    function = sg.function([x], helper_using_op(x), backend="numba")
    values = RNG.standard_normal(5)
    np.testing.assert_allclose(function(values), np.tanh(values) * OFFSET_SCALE + 1.0)
    kernels = os.path.join(os.path.dirname(os.path.dirname(function.cache_info.path)), "kernels")
    (name,) = [name for name in os.listdir(kernels) if name.startswith(helper_using_op.kernel_name() + "_")]
    with open(os.path.join(kernels, name)) as file:
        text = file.read()
    assert "OFFSET_SCALE = 0.75" in text and "def _offset(value):" in text and "import math" in text
    assert re.search(rf"def {helper_using_op.kernel_name()}\(x\):\n    return _offset\(math.tanh\(x\) \* "
                     r"OFFSET_SCALE\)", text)


def test_an_njit_function_is_a_lowering_too_and_numpy_scalars_keep_their_type():
    import numba

    @numba.njit
    def halved(x):
        return x * HALF

    op = sg.custom_op(lambda x: x * HALF, name="halved", elementwise=True, numba=halved)
    preamble, (definition,) = op.numba_source
    assert preamble == ["HALF = np.float32(0.5)"] and definition.startswith(f"def {op.kernel_name()}(x):")
    x = sg.placeholder((None,), "float32", name="x")
    function = sg.function([x], op(x), backend="numba")
    values = RNG.standard_normal(5).astype(np.float32)
    np.testing.assert_array_equal(function(values), values * np.float32(0.5))


HALF = np.float32(0.5)
OFFSET_SCALE = 0.75


def _offset(value):
    return value + 1.0


def _tanh_scaled(x):
    return _offset(math.tanh(x) * OFFSET_SCALE)


helper_using_op = sg.custom_op(lambda x: np.tanh(x) * OFFSET_SCALE + 1.0, name="helper_using", elementwise=True,
                               numba=_tanh_scaled)


# -- errors ---------------------------------------------------------------------------------------------------------

def _bad_shape_op(result):
    return sg.custom_op(lambda x: x, name="bad_shape", shape=lambda x: result)  # bad shape rule


@pytest.mark.parametrize("result", [["a"], (-1,), (2.5,), 3, None, (True,)])
def test_bad_shape_rule_results_name_the_op_the_rule_and_the_users_line(result):
    op = _bad_shape_op(result)
    x = sg.placeholder((3,), name="x")
    with pytest.raises(sg.ShapeError) as info:
        op(x)  # applied here
    message = str(info.value)
    assert message.startswith("bad_shape: custom op 'bad_shape' (defined at ")
    assert f"its shape rule ({__file__}:{line_of('# bad shape rule')}) returned" in message
    assert "a shape rule returns a tuple of non-negative ints" in message
    assert message.endswith(f"at {__file__}:{line_of('# applied here')}")


def test_rules_that_raise_or_return_a_bad_dtype_name_the_op():
    x = sg.placeholder((3,), name="x")
    raising = sg.custom_op(lambda x: x, name="raising", shape=lambda x: (x[0] // 0,))
    with pytest.raises(sg.ShapeError, match=r"custom op 'raising' .*: its shape rule \(.*\) raised "
                                            r"TypeError: unsupported operand"):
        raising(sg.placeholder((None,), name="y"))
    with pytest.raises(sg.ShapeError, match=r"its shape rule \(.*\) raised ZeroDivisionError"):
        raising(x)
    half = sg.custom_op(lambda x: x.astype(np.float16), name="half", dtype=lambda d: np.float16)
    with pytest.raises(sg.DTypeError, match=r"half: custom op 'half' .*: its dtype rule \(.*\) returned "
                                            r"<class 'numpy.float16'>"):
        half(x)
    with pytest.raises(sg.ShapeError, match="has no inputs, so its shape comes from a shape rule"):
        sg.custom_op(lambda: np.zeros(3), name="no_inputs")()


def _op_with_grad(rule):
    return sg.custom_op(lambda x: x * 2, name="doubling", grad=rule)


def _packed_with_override(override):
    p = sg.placeholder((3,), "float64", name="p")
    return sg.op_from_graph([p], p * 2, grad_override=override, name="packed")


CUSTOM_OWNER = "custom op 'doubling' (defined at", "its gradient rule ("
GRAPH_OWNER = "op_from_graph 'packed' (defined at", "its grad_override ("


@pytest.mark.parametrize("make,owner,problem", [
    (lambda: _op_with_grad(lambda inputs, output, g: [g, g]), CUSTOM_OWNER, "returned 2 gradients for 1 inputs"),
    (lambda: _op_with_grad(lambda inputs, output, g: g), CUSTOM_OWNER,
     "returned Node .* it returns a list with one gradient node"),
    (lambda: _op_with_grad(lambda inputs, output, g: [sg.sum(g)]), CUSTOM_OWNER,
     r"gave input 0 a gradient of shape \(\); expected \(3,\)"),
    (lambda: _op_with_grad(lambda inputs, output, g: [np.ones(3)]), CUSTOM_OWNER,
     "returned ndarray .* as the gradient of input 0; return a node"),
    (lambda: _op_with_grad(None), (CUSTOM_OWNER[0], "has no gradient rule"), "give grad= to sg.custom_op"),
    (lambda: _packed_with_override(lambda inputs, outputs, grads: []), GRAPH_OWNER,
     "returned 0 gradients for 1 inputs"),
    (lambda: _packed_with_override(lambda inputs, outputs, grads: [sg.sum(grads[0])]), GRAPH_OWNER,
     r"gave input 0 a gradient of shape \(\)"),
])
def test_bad_gradient_rules_and_overrides_name_the_op_and_the_users_line(make, owner, problem):
    op = make()
    x = sg.placeholder((3,), "float64", name="x")
    cost = sg.sum(op(x))
    with pytest.raises(sg.GradientError, match=problem) as info:
        sg.grad(cost, x)  # differentiated here
    message = str(info.value)
    assert all(part in message for part in owner) and f"{op.name} node (shape (3,), float64)" in message
    assert message.endswith(f"at {__file__}:{line_of('# differentiated here')}")


def test_a_numpy_function_returning_the_wrong_dtype_or_shape_fails_naming_the_node():
    wrong_dtype = sg.custom_op(lambda x: x.astype(np.float32), name="wrong_dtype", elementwise=True)
    wrong_shape = sg.custom_op(lambda x: x[:-1], name="wrong_shape", elementwise=True)
    x = sg.placeholder((None,), "float64", name="x")
    values = RNG.standard_normal(4)
    for op, problem in ((wrong_dtype, "returned float32 values, but the op's dtype is float64"),
                        (wrong_shape, r"returned shape \(3,\), but the shape rule gives \(4,\)")):
        for backend in ("numpy", "numba"):
            function = sg.function([x], op(x, name="checked"), backend=backend)
            with pytest.raises(sg.EvaluationError, match=problem) as info:
                function(values)
            assert f"{op.name} node 'checked' (shape (None,), float64) created at {__file__}" in str(info.value)


def test_a_shape_rule_contradicting_the_static_shape_at_run_time_is_an_evaluation_error():
    grows = sg.custom_op(lambda x: np.zeros(len(x) + 1), name="grows", shape=lambda x: (None,))
    x = sg.placeholder((None,), "float64", name="x")
    function = sg.function([x], grows(x), backend="numba")
    with pytest.raises(sg.EvaluationError, match=r"grows node .*: its shape rule returned \(None,\) for inputs of "
                                                  r"shapes \(\(4,\),\); at run time it must return"):
        function(np.zeros(4))


def test_op_names_must_be_identifiers_other_than_symgraphs_ops():
    for name, problem in (("exp", "is the name of a symgraph op"), ("my op", "is not a Python identifier"),
                          ("class", "is not a Python identifier"), ("placeholder", "is the name of a symgraph op")):
        with pytest.raises(ValueError, match=problem):
            sg.custom_op(np.exp, name=name)
        with pytest.raises(ValueError, match=problem):
            sg.op_from_graph([p := sg.placeholder(())], p, name=name)
    with pytest.raises(ValueError, match="has no name of its own: pass name="):
        sg.custom_op(lambda x: x)
    with pytest.raises(ValueError, match="an elementwise op has the broadcast shape"):
        sg.custom_op(np.exp, name="e", shape=lambda x: x, elementwise=True)


TABLE = np.arange(3.0)


def test_numba_lowerings_that_cannot_be_copied_are_refused_where_defined():
    def reads_array(x):
        return x + TABLE[0]

    def uses_os(x):
        return x + len(os.sep)

    for lowering, problem in ((reads_array, "it reads 'TABLE', a ndarray"),
                              (uses_os, "it uses the module 'os'")):
        with pytest.raises(TypeError, match=rf"sg.custom_op 'copied': its Numba lowering \(.*\) cannot be copied "
                                            rf"into generated code: {problem}.*\n  at .*{THIS_FILE}:\d+$"):
            sg.custom_op(np.negative, name="copied", numba=lowering, elementwise=True)


def test_a_lowering_numba_cannot_compile_is_a_lowering_error_naming_the_op():
    def not_numba(x):
        return x.no_such_attribute

    broken = sg.custom_op(np.negative, name="broken", numba=not_numba, elementwise=True)
    x = sg.placeholder((None,), "float64", name="x")
    function = sg.function([x], broken(x), backend="numba")
    with pytest.raises(LoweringError, match=r"Numba could not compile the generated module .*, which calls the Numba "
                                            r"lowerings of custom ops:\n  custom op 'broken' \(defined at .*\): "
                                            r"numba=.*test_custom_ops.py:\d+\nNumba said: "):
        function(np.ones(3))


# -- op_from_graph --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dense_layer():
    """tanh(x @ W + b) packaged as one op reading two variables; applied to an input; the plain graph too."""
    x = sg.placeholder((None, 3), "float64", name="x")
    W = sg.variable(RNG.standard_normal((3, 2)), name="W")
    b = sg.variable(RNG.standard_normal(2), name="b")
    layer = sg.op_from_graph([x], sg.tanh(x @ W + b), name="tanh_layer")
    inputs = sg.placeholder((None, 3), "float64", name="inputs")
    return inputs, W, b, layer, layer(inputs)


def test_an_op_from_graph_prints_as_one_node(dense_layer):
    inputs, W, b, layer, node = dense_layer
    assert node.op.name == "tanh_layer" and str(node.op) == "tanh_layer"
    assert node.inputs == (inputs, W, b)  # the variables it reads are implicit inputs
    assert [n.op.name for n in sg.toposort(node)] == ["placeholder", "variable", "variable", "tanh_layer"]
    assert node.shape == (None, 2) and node.dtype == np.float64
    assert layer(sg.placeholder((7, 3), "float64")).shape == (7, 2)  # shapes follow the inputs given
    np.testing.assert_allclose(node.eval({inputs: X}), np.tanh(X @ W.value + b.value), rtol=1e-12)


def test_an_op_from_graph_gradient_is_its_subgraphs_own(dense_layer):
    inputs, W, b, layer, node = dense_layer
    sg.testing.check_grads(sg.sum(node * node), [inputs, W, b], {inputs: X}, order=2)
    h = np.tanh(X @ W.value + b.value)
    gradients = sg.evaluate(sg.grad(sg.sum(node), [inputs, W, b]), {inputs: X})
    for got, expected in zip(gradients, [(1 - h ** 2) @ W.value.T, X.T @ (1 - h ** 2), (1 - h ** 2).sum(0)]):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
@pytest.mark.parametrize("optimize", [False, True])
def test_an_op_from_graph_is_inlined_before_a_backend_runs_it(dense_layer, backend_name, optimize):
    inputs, W, b, layer, node = dense_layer
    outputs = [node, *sg.grad(sg.sum(node * node), [W, b])]
    function = sg.function([inputs], outputs, backend=backend_name, optimize=optimize)
    program = function._program
    scheduled = sg.toposort(program.outputs)
    assert not any(isinstance(n.op, GraphOp) for n in scheduled) and any(n.op.name == "tanh" for n in scheduled)
    if optimize:
        assert function.report.rule_counts["inline_op_from_graph"] >= 1
    h = np.tanh(X @ W.value + b.value)
    local = 2 * h * (1 - h ** 2)
    for got, expected in zip(function(X), [h, X.T @ local, local.sum(0)]):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def _straight_through_round():
    p = sg.placeholder((None,), "float64", name="p")
    return sg.op_from_graph([p], sg.floor(p + 0.5), grad_override=lambda inputs, outputs, grads: [grads[0]],
                            name="round_ste")


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
def test_a_gradient_override_is_kept_through_optimization(backend_name):
    """A straight-through round: the forward rounds, the gradient passes as if it were the identity, also when the
    optimizer re-derives the gradient from a stabilized cost (log(sigmoid) -> -softplus(-x))."""
    round_ste = _straight_through_round()
    x = sg.placeholder((None,), "float64", name="x")
    w = sg.variable(np.array(0.7), name="w")
    rounded = round_ste(x)
    cost = sg.sum(sg.log(sg.sigmoid(rounded * w)))
    gradient = sg.grad(cost, x)
    values = np.array([-1.3, -0.2, 0.4, 2.6])
    r = np.floor(values + 0.5)
    expected = 0.7 * (1 - 1 / (1 + np.exp(-0.7 * r)))  # d log sigmoid(r w) / dr, times dr/dx = 1
    function = sg.function([x], [rounded, gradient], backend=backend_name, optimize=True)
    assert function.report.rule_counts["rederive_gradient"] >= 1
    got_rounded, got_gradient = function(values)
    np.testing.assert_array_equal(got_rounded, r)
    np.testing.assert_allclose(got_gradient, expected, rtol=1e-12)
    np.testing.assert_allclose(gradient.eval({x: values}), expected, rtol=1e-12)


def test_a_multi_output_op_from_graph_and_its_gradients():
    p = sg.placeholder((3,), "float64", name="p")
    seen = []

    def override(inputs, outputs, grads):
        seen.append([g is None for g in grads])
        return [grads[0] * 10 if grads[0] is not None else grads[1] * 100]

    plain = sg.op_from_graph([p], [p * 2, sg.sin(p)], name="pair")
    overridden = sg.op_from_graph([p], [p * 2, sg.sin(p)], grad_override=override, name="pair_override")
    x = sg.placeholder((3,), "float64", name="x")
    doubled, sine = plain(x, name="pair")
    assert str(doubled.op) == "pair{output=0}" and str(sine.op) == "pair{output=1}"
    assert doubled.name == "pair_0" and sine.name == "pair_1"
    values = RNG.standard_normal(3)
    cost = sg.sum(doubled) + sg.sum(sine * sine)
    np.testing.assert_allclose(sg.grad(cost, x).eval({x: values}), 2 + 2 * np.sin(values) * np.cos(values))
    sg.testing.check_grads(cost, [x], {x: values}, order=2)
    first, second = overridden(x)
    np.testing.assert_allclose(sg.grad(sg.sum(first) + sg.sum(second * 3), x).eval({x: values}), 10 + 300)
    assert sorted(seen) == [[False, True], [True, False]]


def test_nested_ops_from_graphs_are_inlined_completely():
    p = sg.placeholder((None,), "float64", name="p")
    inner = sg.op_from_graph([p], sg.exp(p), name="inner")
    q = sg.placeholder((None,), "float64", name="q")
    outer = sg.op_from_graph([q], inner(q) + 1, name="outer")
    x = sg.placeholder((None,), "float64", name="x")
    node = outer(x)
    values = RNG.standard_normal(4)
    np.testing.assert_allclose(node.eval({x: values}), np.exp(values) + 1)
    function = sg.function([x], [node, sg.grad(sg.sum(node), x)], optimize=False, backend="numpy")
    assert not any(isinstance(n.op, GraphOp) for n in sg.toposort(function._program.outputs))
    value, gradient = function(values)
    np.testing.assert_allclose(value, np.exp(values) + 1, rtol=1e-12)
    np.testing.assert_allclose(gradient, np.exp(values), rtol=1e-12)


def test_an_op_from_graph_carries_the_updates_its_subgraph_implies():
    p = sg.placeholder((None,), "float64", name="p")
    dropped = sg.op_from_graph([p], sg.nn.dropout(p, 0.5, training=True, seed=3), name="dropped")
    x = sg.placeholder((None,), "float64", name="x")
    node = dropped(x)
    assert len(node.implied_updates) == 1
    function = sg.function([x], node, backend="numpy")
    masks = [function(np.ones(64)) for _ in range(2)]
    assert not np.array_equal(masks[0], masks[1])  # the stream advanced between the calls
    for mask in masks:
        assert set(np.unique(mask)) <= {0.0, 2.0} and 0 < np.count_nonzero(mask) < 64


def test_op_from_graph_refuses_bad_definitions_and_inputs():
    p, q = sg.placeholder((3,), name="p"), sg.placeholder((3,), name="q")
    with pytest.raises(ValueError, match=r"the outputs depend on placeholders that are not among the inputs:\n"
                                         r"    placeholder node 'q'"):
        sg.op_from_graph([p], p + q)
    with pytest.raises(TypeError, match="inputs must be a placeholder or a list of placeholders"):
        sg.op_from_graph([p * 2], p)
    packed = sg.op_from_graph([p], p * 2, name="twice")
    with pytest.raises(TypeError, match=rf"twice: takes 1 inputs \(its placeholders p\), got 2\n  at .*{THIS_FILE}"):
        packed(p, q)
    with pytest.raises(sg.DTypeError, match=r"twice: input 0 has dtype float64, but twice takes float32 there"):
        packed(sg.placeholder((3,), "float64"))
    with pytest.raises(sg.ShapeError, match=r"twice: input 0 has shape \(4,\), but twice takes \(3,\) there"):
        packed(sg.placeholder((4,)))
    assert packed(np.ones(3, np.float32)).shape == (3,)
    with pytest.raises(sg.ShapeError, match=r"twice: input 0 has shape \(\), but twice takes \(3,\) there"):
        packed(2.0)  # a Python scalar takes the placeholder's dtype, and has its own shape


# -- clip_gradient and scale_gradient -------------------------------------------------------------------------------

@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
def test_clip_and_scale_gradient_are_identities_with_their_own_gradients(backend_name):
    x = sg.placeholder((None,), "float64", name="x")
    c = sg.placeholder((None,), "float64", name="c")
    clipped, scaled = sg.clip_gradient(x, -0.5, 1.0), sg.scale_gradient(x, -3.0)
    cost = sg.sum(clipped * c) + sg.sum(sg.square(scaled))
    grad_of_clip = sg.grad(sg.sum(clipped * c), x)
    grad_of_both = sg.grad(cost, x)
    # gradients of gradients see the scaling again: the gradient -3 * 2 * scaled reads x through scale_gradient,
    # so d/dx <gradient, c> = (-3) * (-3) * 2 * c
    second = sg.grad(sg.sum(sg.grad(sg.sum(sg.square(scaled)), x) * c), x)
    function = sg.function([x, c], [clipped, scaled, grad_of_clip, grad_of_both, second], backend=backend_name)
    values, cotangent = np.array([1.0, -2.0, 0.5, 3.0]), np.array([2.0, -0.2, -4.0, 0.7])
    got = function(values, cotangent)
    expected_clip = np.clip(cotangent, -0.5, 1.0)
    for result, expected in zip(got, [values, values, expected_clip, expected_clip - 6 * values, 18 * cotangent]):
        np.testing.assert_allclose(result, expected, rtol=1e-12)


# -- sg.stats -------------------------------------------------------------------------------------------------------

def test_stats_counts_custom_ops_by_their_rules_and_reports_unknown_costs(dense_layer):
    unknown = sg.custom_op(lambda x: np.cumsum(x), name="running_total")
    x = sg.placeholder((None, 3), "float64", name="x")
    stats = sg.stats(sg.sum(unknown(x)) + sg.sum(swish(x)), {x: (4, 3)})
    assert stats.unknown_flops == {"running_total": 1}
    assert stats.flops_by_op == {"add": 1, "sum": 24, "swish": 12}  # swish: 1 per element, as elementwise ops
    assert "FLOPs not counted, unknown (no FLOP rule): running_total (1 node)" in str(stats)
    a, b = sg.placeholder((4, 3), "float64"), sg.placeholder((5, 3), "float64")
    assert sg.stats(sqdist(a, b)).flops == 3 * 4 * 5 * 3
    inputs, W, b, layer, node = dense_layer
    packed = sg.stats(node, {inputs: (8, 3)})
    plain = sg.stats(sg.tanh(inputs @ W + b), {inputs: (8, 3)})
    assert packed.flops == plain.flops == 2 * 8 * 3 * 2 + 8 * 2 + 8 * 2
    assert packed.flops_by_op == {"tanh_layer": plain.flops}
