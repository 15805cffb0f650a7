"""Plain-Python shape rules of the indexing ops, for generated modules' plans (NumPy's rules, checked)."""


def index_shape(what, x, template, arrays):
    """The shape of x[template] for run-time shapes (``arrays``: the index arrays' shapes)."""
    advanced = any(item[0] == "array" for item in template)
    before, after, parts, positions = [], [], [], []
    axis = 0
    for position, item in enumerate(template):
        kind = item[0]
        if kind == "newaxis":
            (after if positions else before).append(1)
            continue
        if axis >= len(x):
            raise ValueError(f"{what}: too many indices for an input of rank {len(x)}")
        size = x[axis]
        axis += 1
        if kind == "slice":
            (after if positions else before).append(len(range(*slice(*item[1:]).indices(size))))
        elif kind == "int":
            if not -size <= item[1] < size:
                raise ValueError(f"{what}: index {item[1]} is out of bounds for axis {axis - 1} with size {size}")
            if advanced:
                positions.append(position)
                parts.append(())
        else:
            positions.append(position)
            parts.append(tuple(arrays[item[1]]))
    rest = list(x[axis:])
    if not positions:
        return tuple(before + rest)
    ndim = max(len(p) for p in parts)
    broadcast = []
    for k in range(-ndim, 0):
        size = 1
        for part in parts:
            if len(part) >= -k and part[k] != 1:
                if size != 1 and part[k] != size:
                    raise ValueError(f"{what}: index arrays of shapes {parts} cannot be broadcast together")
                size = part[k]
        broadcast.append(size)
    if positions == list(range(positions[0], positions[-1] + 1)):
        return tuple(before + broadcast + after + rest)
    return tuple(broadcast + before + after + rest)


def index_grad_shape(what, x, g, template, arrays):
    """x's shape, after checking that g has the shape of x[template]."""
    expected = index_shape(what, x, template, arrays)
    if tuple(g) != expected:
        raise ValueError(f"{what}: the gradient has shape {tuple(g)} but x[index] has shape {expected}")
    return tuple(x)


def concatenate_shape(what, shapes, axis):
    first = shapes[0]
    for shape in shapes[1:]:
        if len(shape) != len(first) or any(a != b for k, (a, b) in enumerate(zip(shape, first)) if k != axis):
            raise ValueError(f"{what}: shapes {[tuple(s) for s in shapes]} cannot be concatenated along axis {axis}")
    return tuple(sum(s[axis] for s in shapes) if k == axis else d for k, d in enumerate(first))


def concatenate_part_shape(what, g, shapes, axis, part):
    """The shape of input ``part``, after checking that g has the concatenation's shape."""
    if tuple(g) != concatenate_shape(what, shapes, axis):
        raise ValueError(f"{what}: the gradient has shape {tuple(g)}, not the concatenation's")
    return tuple(shapes[part])


def stack_shape(what, shapes, axis):
    first = tuple(shapes[0])
    if any(tuple(s) != first for s in shapes):
        raise ValueError(f"{what}: shapes {[tuple(s) for s in shapes]} differ and cannot be stacked")
    return first[:axis] + (len(shapes),) + first[axis:]
