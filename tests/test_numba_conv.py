"""The Numba lowerings of convolution and pooling (symgraph/backends/numba/lowering/conv.py) against the NumPy backend.

Every compiled module costs a Numba compilation of its kernels, so all the cases of one dtype are outputs of one
program (its "suite"; the convolution kernels take the geometry as arguments, so one compiled kernel serves every
case), fed many times: unknown batch and spatial sizes, a batch of one, integer-valued inputs (ties in max pooling),
NaN and inf, and shapes the plan must refuse.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import symgraph as sg
from symgraph.backends.numba import NumbaProgram
from symgraph.backends.numba.lowering import LOWERINGS
from symgraph.graph import Op
from symgraph.ops import conv

RNG = np.random.default_rng(0)
TOLERANCE = {"float32": 2e-5, "float64": 1e-12}  # relative to each value and to the array's largest finite value


class Section:
    """A group of cases in a suite: placeholders, outputs, and ``arrays(**options)`` giving feeds for them."""

    def __init__(self, placeholders, outputs, arrays):
        self.placeholders, self.outputs, self.arrays = placeholders, outputs, arrays


class Suite:
    """The sections of one dtype compiled into one program; ``run`` feeds one section (the others get their default
    feeds) and returns its outputs from the Numba program and from the NumPy backend."""

    def __init__(self, sections: dict):
        self.sections = sections
        placeholders = [p for section in sections.values() for p in section.placeholders]
        outputs = [o for section in sections.values() for o in section.outputs]
        self.program = NumbaProgram(outputs, placeholders)

    def compute(self, name, arrays):
        feeds, values = {}, []
        for key, section in self.sections.items():
            feeds.update(zip(map(id, section.placeholders), arrays if key == name else section.arrays()))
        results = iter(self.program.compute(feeds))
        for key, section in self.sections.items():
            chosen = [next(results) for _ in section.outputs]
            if key == name:
                values = chosen
        return values

    def run(self, name, arrays):
        section = self.sections[name]
        return self.compute(name, arrays), sg.evaluate(section.outputs, dict(zip(section.placeholders, arrays)))


_SUITES: dict = {}


def suite(dtype) -> Suite:
    """The suite of ``dtype``, compiled once per test session."""
    if dtype not in _SUITES:
        names = ("conv", "pool", "errors", "network") if dtype == "float32" else ("conv", "pool", "mixed")
        _SUITES[dtype] = Suite({name: SECTIONS[name](dtype) for name in names})
    return _SUITES[dtype]


def assert_matches(got, expected, dtype, exact=False):
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if exact:
        np.testing.assert_array_equal(got, expected)
    else:
        finite = np.abs(expected[np.isfinite(expected)])
        scale = max(finite.max(initial=0), 1.0)  # sums in float32 cancel: errors scale with the terms, not the sum
        np.testing.assert_allclose(got, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * scale, equal_nan=True)


def normal(shape):
    return RNG.standard_normal(shape)


def test_every_op_of_the_conv_module_is_lowered():
    classes = [c for c in vars(conv).values() if isinstance(c, type) and issubclass(c, Op) and "name" in vars(c)]
    assert {c.__name__ for c in classes} == {"Conv2d", "Conv2dBackpropInput", "Conv2dBackpropFilter", "MaxPool2d",
                                             "MaxPool2dGrad", "MaxPool2dGather", "AvgPool2d", "AvgPool2dGrad"}
    assert all(c in LOWERINGS for c in classes)


# -- convolutions ---------------------------------------------------------------------------------------------------

# (x shape, w shape, geometry, which dimensions the placeholders leave unknown besides the batch): both im2col layouts
# (few channels: rows; many: channels-last), strides, dilations, every padding form, odd sizes, unknown kernels
CONV_CASES = [
    ((2, 1, 9, 9), (3, 1, 3, 3), dict(padding="same"), "spatial"),
    ((2, 3, 7, 6), (4, 3, 3, 2), dict(stride=2, padding="same"), "spatial"),
    ((2, 5, 7, 7), (3, 5, 3, 3), dict(padding="valid", dilation=2), ""),
    ((1, 2, 6, 5), (3, 2, 2, 2), dict(padding="full", dilation=2), "kernel"),
    ((2, 6, 5, 5), (2, 6, 3, 3), dict(padding=1), "spatial"),
    ((2, 2, 5, 7), (2, 2, 3, 2), dict(padding=((1, 0), (0, 2)), stride=(2, 1)), "spatial"),
    ((1, 4, 8, 9), (5, 4, 2, 3), dict(padding=(2, 0), stride=(1, 2), dilation=(2, 1)), ""),
    ((3, 16, 5, 5), (4, 16, 5, 5), dict(padding="same"), ""),
]


def _placeholder(shape, unknown, axes, dtype, name):
    """A placeholder whose batch dimension and those named in ``unknown`` (spatial, kernel) are None."""
    static = tuple(None if axes[k] == "batch" or (axes[k] and axes[k] in unknown) else d for k, d in enumerate(shape))
    return sg.placeholder(static, dtype, name=name)


def conv_section(dtype) -> Section:
    """conv2d and both backprop ops of every case, from placeholders x, w, g."""
    placeholders, outputs = [], []
    for x_shape, w_shape, geometry, unknown in CONV_CASES:
        x = _placeholder(x_shape, unknown, ("batch", "", "spatial", "spatial"), dtype, "x")
        w = _placeholder(w_shape, unknown, ("", "", "kernel", "kernel"), dtype, "w")
        y = sg.nn.conv2d(x, w, **geometry)
        g = sg.placeholder(y.shape, dtype, name="g")
        placeholders += [x, w, g]
        outputs += [y, conv.conv2d_backprop_input(g, w, x, **geometry),
                    conv.conv2d_backprop_filter(x, g, w, **geometry)]

    def arrays(batch=None, values=normal):
        result = []
        for x_shape, w_shape, geometry, _ in CONV_CASES:
            x_shape = (batch or x_shape[0],) + x_shape[1:]
            g_shape = sg.nn.conv2d(np.zeros(x_shape), np.zeros(w_shape), **geometry).shape
            result += [values(x_shape), values(w_shape), values(g_shape)]
        return [a.astype(dtype) for a in result]

    return Section(placeholders, outputs, arrays)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_convolutions_match_the_numpy_backend(dtype):
    section = suite(dtype).sections["conv"]
    for batch in (None, 1):
        got, expected = suite(dtype).run("conv", section.arrays(batch))
        for value, reference in zip(got, expected):
            assert_matches(value, reference, dtype)


def test_convolutions_of_integer_values_are_exact():
    arrays = suite("float64").sections["conv"].arrays(values=lambda shape: RNG.integers(-3, 4, shape))
    got, expected = suite("float64").run("conv", arrays)
    for value, reference in zip(got, expected):
        assert_matches(value, reference, "float64", exact=True)


def with_specials(specials, fraction):
    """Normal values with about ``fraction`` of them replaced by each of ``specials``."""
    def values(shape):
        array = RNG.standard_normal(shape)
        flat = array.reshape(-1)
        for special in specials:
            flat[RNG.integers(0, flat.size, max(1, int(flat.size * fraction)))] = special
        return array
    return values


def test_nan_and_inf_propagate_through_convolutions_as_in_the_numpy_backend():
    arrays = suite("float32").sections["conv"].arrays(values=with_specials((np.nan, np.inf), 0.05))
    got, expected = suite("float32").run("conv", arrays)
    assert any(np.isnan(r).any() for r in expected) and any(np.isinf(r).any() for r in expected)
    for value, reference in zip(got, expected):
        np.testing.assert_array_equal(np.isnan(value), np.isnan(reference))
        np.testing.assert_array_equal(np.isposinf(value), np.isposinf(reference))
        assert_matches(value, reference, "float32")


def mixed_section(dtype) -> Section:
    """float32 filters with float64 data: the filters are cast (NumPy promotion)."""
    x = sg.placeholder((None, 3, 6, 7), "float64", name="x")
    w = sg.placeholder((2, 3, 3, 3), "float32", name="w")
    g = sg.placeholder((None, 2, 6, 7), "float64", name="g")
    outputs = [sg.nn.conv2d(x, w, padding="same"), conv.conv2d_backprop_input(g, w, x, padding="same"),
               conv.conv2d_backprop_filter(x, g, w, padding="same")]
    shapes = (((2, 3, 6, 7), "float64"), ((2, 3, 3, 3), "float32"), ((2, 2, 6, 7), "float64"))
    return Section([x, w, g], outputs, lambda: [normal(s).astype(t) for s, t in shapes])


def test_mixed_dtypes_compute_in_the_promoted_dtype():
    got, expected = suite("float64").run("mixed", suite("float64").sections["mixed"].arrays())
    assert [value.dtype for value in got] == [np.float64] * 3
    for value, reference in zip(got, expected):
        assert_matches(value, reference, "float64")


# -- pooling --------------------------------------------------------------------------------------------------------

POOL_CASES = [  # (x shape, pooling arguments): two kernel sizes (float64: one), as kernels are compiled for each size
    ((2, 3, 8, 8), dict(kernel=2)),
    ((1, 2, 5, 6), dict(kernel=2, stride=1, padding=1)),
    ((2, 2, 7, 9), dict(kernel=(3, 2), stride=(2, 1), padding=(1, 1))),
    ((2, 1, 8, 7), dict(kernel=(3, 2), stride=(2, 3), padding=(1, 0))),
]


def pool_section(dtype) -> Section:
    """Per case: max_pool2d(x), max_pool2d_grad(x, g), max_pool2d_gather(x, h), avg_pool2d(x), avg_pool2d_grad(g)."""
    placeholders, outputs = [], []
    cases = POOL_CASES if dtype == "float32" else POOL_CASES[2:]
    for x_shape, pool in cases:
        x, h, g = (sg.placeholder((None, x_shape[1], None, None), dtype, name=name) for name in "xhg")
        placeholders += [x, h, g]
        outputs += [sg.nn.max_pool2d(x, **pool), conv.max_pool2d_grad(x, g, **pool), conv.max_pool2d_gather(x, h, **pool),
                    sg.nn.avg_pool2d(x, **pool), conv.avg_pool2d_grad(g, x, **pool)]

    def arrays(batch=None, values=normal):
        result = []
        for x_shape, pool in cases:
            x_shape = (batch or x_shape[0],) + x_shape[1:]
            result += [values(x_shape), values(x_shape), values(sg.nn.max_pool2d(np.zeros(x_shape), **pool).shape)]
        return [a.astype(dtype) for a in result]

    return Section(placeholders, outputs, arrays)


EXACT_POOLING = (0, 2)  # positions among a case's 5 outputs of max_pool2d and max_pool2d_gather: values copied


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pooling_matches_the_numpy_backend(dtype):
    section = suite(dtype).sections["pool"]
    for batch in (None, 1):
        got, expected = suite(dtype).run("pool", section.arrays(batch))
        for k, (value, reference) in enumerate(zip(got, expected)):
            assert_matches(value, reference, dtype, exact=k % 5 in EXACT_POOLING)


@pytest.mark.parametrize("values", [lambda shape: RNG.integers(-2, 3, shape), lambda shape: np.full(shape, -np.inf),
                                    np.zeros], ids=["ties", "minus_inf", "zeros"])
def test_max_pooling_ties_go_to_the_first_maximum_as_in_the_numpy_backend(values):
    """Integer values (many ties), all -inf (the padding ties with every element: the first tap wins, so windows
    starting in the padding send nothing back), all equal. Sums of integers are exact too."""
    got, expected = suite("float32").run("pool", suite("float32").sections["pool"].arrays(values=values))
    for k, (value, reference) in enumerate(zip(got, expected)):
        if k % 5 in (0, 1, 2):
            assert_matches(value, reference, "float32", exact=True)


def test_nan_and_inf_propagate_through_pooling_as_in_the_numpy_backend():
    arrays = suite("float32").sections["pool"].arrays(values=with_specials((np.nan, np.inf, -np.inf), 0.1))
    got, expected = suite("float32").run("pool", arrays)
    assert any(np.isnan(r).any() for r in expected[::5])
    for k, (value, reference) in enumerate(zip(got, expected)):
        assert_matches(value, reference, "float32", exact=k % 5 in EXACT_POOLING)


# -- gradients of a small network -----------------------------------------------------------------------------------

def network_section(dtype) -> Section:
    """The gradients of a conv + pool network's loss with respect to its input and both filters. The input is NHWC
    data transposed to NCHW: the kernels read a strided view."""
    nhwc = sg.placeholder((None, None, None, 2), dtype, name="nhwc")
    x = sg.transpose(nhwc, (0, 3, 1, 2))
    w1 = sg.variable(RNG.standard_normal((4, 2, 3, 3)).astype(dtype), name="w1")
    w2 = sg.variable(RNG.standard_normal((3, 4, 2, 2)).astype(dtype), name="w2")
    h = sg.nn.max_pool2d(sg.tanh(sg.nn.conv2d(x, w1, padding="same")), 2, padding=1)
    y = sg.nn.avg_pool2d(sg.nn.conv2d(h, w2, stride=2, dilation=(1, 2), padding="full"), 2, stride=1)
    # the second term's gradient reaches conv2d_backprop_* as a broadcast view (zero strides)
    loss = sg.sum(sg.square(y)) + sg.sum(sg.square(sg.sum(sg.nn.conv2d(h, w2), axis=(2, 3))))
    return Section([nhwc], sg.grad(loss, [x, w1, w2]), lambda shape=(3, 9, 10, 2): [normal(shape).astype(dtype)])


def test_gradients_of_a_conv_pool_network_match_the_numpy_backend():
    for shape in ((3, 9, 10, 2), (1, 7, 7, 2)):
        got, expected = suite("float32").run("network", suite("float32").sections["network"].arrays(shape))
        for value, reference in zip(got, expected):
            assert_matches(value, reference, "float32")


# -- run-time shape errors ------------------------------------------------------------------------------------------

GOOD = {"images": (2, 1, 8, 8), "grad": (2, 4, 8, 8), "images2": (2, 1, 8, 8), "p": (2, 2, 6, 6),
        "pg": (2, 2, 3, 3), "ph": (2, 2, 6, 6)}


def error_section(dtype) -> Section:
    """One placeholder per check: feeding all but one of them well triggers exactly that check."""
    x, g, x2, p, pg, ph = (sg.placeholder((None, None, None, None), dtype, name=name) for name in GOOD)
    w = sg.variable(np.ones((4, 1, 5, 5), dtype), name="filters")
    outputs = [sg.nn.conv2d(x, w, name="conv"), conv.conv2d_backprop_input(g, w, x, padding="same", name="conv_dx"),
               conv.conv2d_backprop_filter(x2, g, w, padding="same", name="conv_dw"),
               sg.nn.max_pool2d(p, (3, 2), name="pool"), conv.max_pool2d_grad(p, pg, 2, name="pool_grad"),
               conv.max_pool2d_gather(p, ph, 2, name="pool_gather"), conv.avg_pool2d_grad(pg, p, 2, name="avg_grad")]
    placeholders = [x, g, x2, p, pg, ph]
    return Section(placeholders, outputs, lambda bad=None, shape=None: [
        np.ones(shape if p.name == bad else GOOD[p.name], dtype) for p in placeholders])


ERRORS = [  # (the placeholder fed a bad shape, that shape, the node named, the message)
    ("images", (2, 28, 28, 1), "conv2d node 'conv'", "the input of shape (2, 28, 28, 1) has 28 channels along axis 1 "
     "(NCHW) but the filter of shape (4, 1, 5, 5) (OIHW) expects 1 (looks like NHWC data?"),
    ("images", (2, 1, 4, 8), "conv2d node 'conv'", "the kernel's height 5 is larger than the padded input's 4"),
    ("grad", (2, 4, 8, 7), "conv2d_backprop_input node 'conv_dx'",
     "the gradient's width and the convolution output's differ at run time: 8 != 7"),
    ("grad", (3, 4, 8, 8), "conv2d_backprop_input node 'conv_dx'",
     "the gradient's and the input's batch sizes differ at run time: 3 != 2"),
    ("images2", (3, 1, 8, 8), "conv2d_backprop_filter node 'conv_dw'",
     "the input's and the gradient's batch sizes differ at run time: 3 != 2"),
    ("p", (2, 2, 2, 6), "max_pool2d node 'pool'", "the kernel's height 3 is larger than the padded input's 2"),
    ("pg", (2, 2, 3, 2), "max_pool2d_grad node 'pool_grad'",
     "the gradient's shape (2, 2, 3, 2) and the pooled shape (2, 2, 3, 3) of the input (2, 2, 6, 6) differ"),
    ("ph", (2, 2, 6, 5), "max_pool2d_gather node 'pool_gather'",
     "the input's and the values' shapes differ at run time: (2, 2, 6, 6) != (2, 2, 6, 5)"),
]


@pytest.mark.parametrize("name, shape, node, message", ERRORS, ids=[f"{e[2].split()[0]}-{e[0]}" for e in ERRORS])
def test_run_time_shape_errors_name_the_node_and_the_line(name, shape, node, message):
    section = suite("float32").sections["errors"]
    suite("float32").compute("errors", section.arrays())  # well fed: no error
    bad = section.arrays(name, shape)
    with pytest.raises(sg.SymgraphError) as reference:  # the NumPy backend's error: the same class is expected
        sg.evaluate(section.outputs, dict(zip(section.placeholders, bad)))
    with pytest.raises(type(reference.value), match=re.escape(message)) as error:
        suite("float32").compute("errors", bad)
    assert node in str(error.value) and "test_numba_conv.py:" in str(error.value)


SECTIONS = {"conv": conv_section, "pool": pool_section, "mixed": mixed_section, "network": network_section,
            "errors": error_section}


def test_convolutions_over_runs_of_images_match_the_numpy_backend():
    """The channels-last layout takes one GEMM per run of images (about 1024 output pixels): 13 images of 14x14
    run in chunks of 6 and a tail of 1 (stride 1), 13 of 7x7 in chunks of 13 (stride 2)."""
    rng = np.random.default_rng(5)
    x = sg.placeholder((None, 8, 14, 14), "float64", name="x")
    w = sg.placeholder((6, 8, 3, 3), "float64", name="w")
    g = sg.placeholder((None, 6, 14, 14), "float64", name="g")
    g2 = sg.placeholder((None, 6, 7, 7), "float64", name="g2")
    outputs = [sg.nn.conv2d(x, w, padding="same"), conv.conv2d_backprop_input(g, w, x, padding="same"),
               conv.conv2d_backprop_filter(x, g, w, padding="same"), sg.nn.conv2d(x, w, stride=2, padding="same"),
               conv.conv2d_backprop_input(g2, w, x, stride=2, padding="same"),
               conv.conv2d_backprop_filter(x, g2, w, stride=2, padding="same")]
    arrays = [rng.standard_normal(shape) for shape in [(13, 8, 14, 14), (6, 8, 3, 3), (13, 6, 14, 14), (13, 6, 7, 7)]]
    got = sg.function([x, w, g, g2], outputs, backend="numba", optimize=False)(*arrays)
    expected = sg.function([x, w, g, g2], outputs, backend="numpy", optimize=False)(*arrays)
    for value, reference in zip(got, expected):
        np.testing.assert_allclose(value, reference, rtol=1e-10, atol=1e-10)
