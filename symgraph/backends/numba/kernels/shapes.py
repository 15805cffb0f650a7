"""Run-time shape rules used by generated modules' plan functions (plain Python, copied into each module).

Each takes ``what``, the description of the node being planned, so that a failure names the node and the user's
line; they raise ValueError, which symgraph turns into a ShapeError.
"""


def broadcast_shapes(what, *shapes):
    """NumPy broadcasting of concrete shapes."""
    ndim = max(len(s) for s in shapes)
    result = []
    for axis in range(-ndim, 0):
        size = 1
        for shape in shapes:
            if len(shape) >= -axis and shape[axis] != 1:
                if size != 1 and shape[axis] != size:
                    listed = " and ".join(str(tuple(s)) for s in shapes)
                    raise ValueError(f"{what}: shapes {listed} cannot be broadcast together at run time")
                size = shape[axis]
        result.append(size)
    return tuple(result)


def expect_shape(what, shape, static):
    """``shape``, checked against a static shape (None: any size)."""
    if len(shape) != len(static) or any(e is not None and e != d for d, e in zip(shape, static)):
        raise ValueError(f"{what}: got shape {tuple(shape)} at run time, which contradicts its static shape")
    return tuple(shape)


def matmul_shape(what, a, b):
    """NumPy matmul's result shape (1-D operands are vectors, leading dimensions broadcast)."""
    inner_a = a[-1]
    inner_b = b[0] if len(b) == 1 else b[-2]
    if inner_a != inner_b:
        raise ValueError(f"{what}: inner dimensions differ at run time: {tuple(a)} @ {tuple(b)} "
                         f"({inner_a} != {inner_b})")
    batch = broadcast_shapes(what, a[:-2], b[:-2]) if len(a) > 2 or len(b) > 2 else ()
    core = ((a[-2],) if len(a) > 1 else ()) + ((b[-1],) if len(b) > 1 else ())
    return batch + core


def reduced_shape(shape, axes, keepdims):
    """The shape left by reducing ``axes`` (None: all)."""
    reduced = range(len(shape)) if axes is None else axes
    if keepdims:
        return tuple(1 if i in reduced else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in reduced)


def reduced_count(shape, axes):
    """How many elements each reduction over ``axes`` combines."""
    count = 1
    for axis in (range(len(shape)) if axes is None else axes):
        count *= shape[axis]
    return count


def reshape_shape(what, shape, target):
    """NumPy reshape's result, with at most one -1 in ``target``."""
    size = 1
    for d in shape:
        size *= d
    rest = 1
    for d in target:
        if d != -1:
            rest *= d
    if -1 in target:
        if rest == 0 or size % rest:
            raise ValueError(f"{what}: cannot reshape {tuple(shape)} into {tuple(target)} at run time")
        return tuple(size // rest if d == -1 else d for d in target)
    if size != rest:
        raise ValueError(f"{what}: cannot reshape {tuple(shape)} (size {size}) into {tuple(target)} at run time")
    return tuple(target)


def squeeze_shape(what, shape, axes):
    for axis in axes:
        if shape[axis] != 1:
            raise ValueError(f"{what}: cannot squeeze axis {axis} of size {shape[axis]} at run time")
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def same_shape(what, a, b):
    """``a``, checked to equal ``b`` (for ops whose inputs must match exactly)."""
    if tuple(a) != tuple(b):
        raise ValueError(f"{what}: shapes {tuple(a)} and {tuple(b)} differ at run time")
    return tuple(a)


def slice_length(size, start, stop, step):
    return len(range(*slice(start, stop, step).indices(size)))


def broadcast_to(what, shape, target):
    if broadcast_shapes(what, shape, target) != tuple(target):
        raise ValueError(f"{what}: cannot broadcast {tuple(shape)} to {tuple(target)} at run time")
    return tuple(target)


def expand_dims_shape(shape, axes):
    result = list(shape)
    for axis in axes:
        result.insert(axis, 1)
    return tuple(result)


def sum_to_shape(what, shape, target):
    """``target``, checked to broadcast to ``shape`` (the reference of a sum_to)."""
    if broadcast_shapes(what, shape, target) != tuple(shape):
        raise ValueError(f"{what}: {tuple(target)} does not broadcast to {tuple(shape)} at run time")
    return tuple(target)
