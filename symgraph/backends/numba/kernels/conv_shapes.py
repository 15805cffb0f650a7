"""Plain-Python shape rules of the convolution and pooling ops, for generated modules' plans.

They mirror ConvGeometry / PoolGeometry of symgraph/ops/conv.py on concrete shapes and raise ValueError naming the node
(``what``) for what the static shape rule could not check.
"""


def conv_check_same(what, first, second, description):
    """``first``, checked to equal ``second`` (the static rule's "<description> differ: a != b")."""
    if first != second:
        raise ValueError(f"{what}: {description} differ at run time: {first} != {second}")
    return first


def conv_window_count(what, axis, spec, size, k, stride, dilation):
    """The output size along one axis: "same" (ceil(size / stride)), "full" or (before, after) padding."""
    axis_name = ("height", "width")[axis]
    if k < 1:
        raise ValueError(f"{what}: the kernel has size {k} along the {axis_name} at run time")
    if spec == "same":
        return -(-size // stride)
    before, after = (dilation * (k - 1),) * 2 if spec == "full" else spec
    span, effective = size + before + after, dilation * (k - 1) + 1
    if span < effective:
        dilated = f" (dilated to {effective})" if dilation > 1 else ""
        raise ValueError(f"{what}: the kernel's {axis_name} {k}{dilated} is larger than the padded input's "
                         f"{span} ({size} + padding {before} + {after}) at run time")
    return (span - effective) // stride + 1


def conv_output_hw(what, in_hw, k_hw, stride, padding, dilation):
    """The convolution's output (height, width) for input sizes ``in_hw`` and kernel sizes ``k_hw``."""
    return tuple(conv_window_count(what, axis, padding if isinstance(padding, str) else padding[axis], in_hw[axis],
                                   k_hw[axis], stride[axis], dilation[axis]) for axis in (0, 1))


def conv2d_shape(what, x, w, stride, padding, dilation):
    """conv2d's output shape (N, O, Ho, Wo); the input's channels must be the filter's."""
    if x[1] != w[1]:
        hint = " (looks like NHWC data? conv2d takes NCHW: x.transpose(0, 3, 1, 2))" if x[3] == w[1] else ""
        raise ValueError(f"{what}: channel mismatch at run time: the input of shape {tuple(x)} has {x[1]} channels "
                         f"along axis 1 (NCHW) but the filter of shape {tuple(w)} (OIHW) expects {w[1]}{hint}")
    return (x[0], w[0]) + conv_output_hw(what, x[2:], w[2:], stride, padding, dilation)


def conv_check_gradient_hw(what, g, x, w, stride, padding, dilation):
    """The gradient's (height, width) must be those of conv2d(x, w)."""
    expected = conv_output_hw(what, x[2:], w[2:], stride, padding, dilation)
    for axis, axis_name in enumerate(("height", "width")):
        conv_check_same(what, expected[axis], g[2 + axis], f"the gradient's {axis_name} and the convolution output's")


def conv2d_backprop_input_shape(what, g, w, x, stride, padding, dilation):
    """The shape of the reference input x, checked against the gradient g and the filter w."""
    conv_check_same(what, g[0], x[0], "the gradient's and the input's batch sizes")
    conv_check_same(what, w[1], x[1], "the filter's and the input's channels")
    conv_check_same(what, g[1], w[0], "the gradient's channels and the filter's output channels")
    conv_check_gradient_hw(what, g, x, w, stride, padding, dilation)
    return tuple(x)


def conv2d_backprop_filter_shape(what, x, g, w, stride, padding, dilation):
    """The shape of the reference filter w, checked against the input x and the gradient g."""
    conv_check_same(what, x[0], g[0], "the input's and the gradient's batch sizes")
    conv_check_same(what, g[1], w[0], "the gradient's channels and the filter's output channels")
    conv_check_same(what, x[1], w[1], "the input's and the filter's channels")
    conv_check_gradient_hw(what, g, x, w, stride, padding, dilation)
    return tuple(w)


def pool_shape(what, x, kernel, stride, padding):
    """The pooled shape (N, C, Ho, Wo) of x: symmetric padding, floor division."""
    return tuple(x[:2]) + tuple(conv_window_count(what, axis, (padding[axis], padding[axis]), x[2 + axis],
                                                  kernel[axis], stride[axis], 1) for axis in (0, 1))


def pool_grad_shape(what, g, x, kernel, stride, padding):
    """x's shape, with the gradient g checked to have the pooled shape of x."""
    pooled = pool_shape(what, x, kernel, stride, padding)
    if tuple(g) != pooled:
        raise ValueError(f"{what}: the gradient's shape {tuple(g)} and the pooled shape {pooled} of the input "
                         f"{tuple(x)} differ at run time")
    return tuple(x)


def pool_gather_shape(what, x, h, kernel, stride, padding):
    """The pooled shape of x, with the values h checked to have x's shape."""
    if tuple(h) != tuple(x):
        raise ValueError(f"{what}: the input's and the values' shapes differ at run time: {tuple(x)} != {tuple(h)}")
    return pool_shape(what, x, kernel, stride, padding)
