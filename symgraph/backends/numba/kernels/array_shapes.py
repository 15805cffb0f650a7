"""Plain-Python shape rules of symgraph.ops.arrays (full_like, arange_like, diagonal), for generated modules' plans."""


def diagonal_shape(what, shape, offset, axis1, axis2):
    """numpy.diagonal's result shape: the other axes, then the diagonal's length."""
    n1, n2 = shape[axis1], shape[axis2]
    length = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    return tuple(d for k, d in enumerate(shape) if k not in (axis1, axis2)) + (length,)


def diagonal_grad_shape(what, x, g, offset, axis1, axis2):
    """x's shape, after checking that g has the shape of x's diagonal."""
    expected = diagonal_shape(what, x, offset, axis1, axis2)
    if tuple(g) != expected:
        raise ValueError(f"{what}: the gradient has shape {tuple(g)} but x's diagonal has shape {expected}")
    return tuple(x)
