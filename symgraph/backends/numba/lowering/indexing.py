"""Lowerings of symgraph.ops.indexing.

Basic indexing (ints, slices, new axes) is a view: absorbed into loops as an index remapping where the slice bounds
are static, else an array view. Indexing with integer arrays is a gather that NumPy's own advanced indexing runs,
vectorized, in the call stage (a loop written out there would run in Python, element by element); its adjoint
``index_grad`` adds into zeros with ``np.add.at`` (repeated indices accumulate). NumPy bounds-checks the indices; an
index out of bounds is the node's error.
"""

from __future__ import annotations

from symgraph.backends.numba.lowering import (
    CallLowering, ScalarLowering, ViewLowering, fill, register, register_choice,
)
from symgraph.ops import indexing as ix


def _index_shape(node, shapes, ctx):
    x, *arrays = shapes
    helper = ctx.plan_helper("index_shapes", "index_shape")
    return f"{helper}({ctx.what(node)}, {x}, {node.op.template!r}, [{', '.join(arrays)}])"


# -- basic indexing: a view ------------------------------------------------------------------------------------------

def _static_slice(item, size):
    """(first, step) of a slice when its normalization is known statically (None otherwise)."""
    _, start, stop, step = item
    step = 1 if step is None else step
    if size is not None:
        first, _, _ = slice(start, stop, step).indices(size)
        return first, step
    if step > 0 and (start is None or start >= 0) and (stop is None or stop >= 0):
        return (start or 0), step
    return None


def _basic_index_map(node, index):
    """x's index for ``node``'s element at ``index``, or None when a bound depends on a size known only at run time."""
    x = node.inputs[0]
    mapped, position, axis = [], 0, 0
    for item in node.op.template:
        if item[0] == "newaxis":
            position += 1
            continue
        size = x.shape[axis]
        if item[0] == "int":
            value = item[1]
            if value < 0:
                if size is None:
                    return None
                value += size
            mapped.append(str(value))
        else:
            bounds = _static_slice(item, size)
            if bounds is None:
                return None
            first, step = bounds
            term = index[position] if step == 1 else f"{step} * {index[position]}"
            mapped.append(term if first == 0 else f"{first} + {term}")
            position += 1
        axis += 1
    mapped.extend(index[position:])
    return tuple(mapped)


def _basic_index_array(node, arg, ctx):
    key, new_axes, position = [], [], 0
    for item in node.op.template:
        if item[0] == "newaxis":
            new_axes.append(position)
            position += 1
        elif item[0] == "int":
            key.append(str(item[1]))
        else:
            start, stop, step = ("" if v is None else str(v) for v in item[1:])
            key.append(f"{start}:{stop}" + (f":{step}" if step else ""))
            position += 1
    view = f"{arg}[{', '.join(key)}]" if key else arg
    for axis in new_axes:
        view = f"np.expand_dims({view}, {axis})"
    return view


BASIC_INDEX = ViewLowering(_index_shape, _basic_index_map, _basic_index_array)


# -- advanced indexing: gather and scatter-add, vectorized by NumPy in the call stage ---------------------------------

def _numpy_key(template, arrays) -> str:
    """The index expression of ``template`` with the index-array arguments ``arrays``, as NumPy reads it."""
    items = []
    for item in template:
        if item[0] == "newaxis":
            items.append("None")
        elif item[0] == "int":
            items.append(str(item[1]))
        elif item[0] == "slice":
            start, stop, step = ("" if v is None else str(v) for v in item[1:])
            items.append(f"{start}:{stop}" + (f":{step}" if step else ""))
        else:
            items.append(arrays[item[1]])
    return ", ".join(items) + ("," if len(items) == 1 else "")


def _checked(statement: str, ctx) -> list:
    """``statement``, with NumPy's IndexError (an index out of bounds) raised as the node's error."""
    message = ctx.error("an index is out of bounds for its axis")
    return ["try:", f"    {statement}", "except IndexError as error:",
            f"    raise ValueError({message} + ' (' + str(error) + ')') from None"]


def _gather_emit(node, args, out, ctx):
    x, *arrays = args
    return _checked(f"{out}[...] = {x}[{_numpy_key(node.op.template, arrays)}]", ctx)


GATHER = CallLowering(_index_shape, _gather_emit)


def _index_lowering(op):
    return GATHER if any(item[0] == "array" for item in op.template) else BASIC_INDEX


register_choice(_index_lowering, ix.Index)


def _index_grad_shape(node, shapes, ctx):
    x, g, *arrays = shapes
    helper = ctx.plan_helper("index_shapes", "index_grad_shape")
    return f"{helper}({ctx.what(node)}, {x}, {g}, {node.op.template!r}, [{', '.join(arrays)}])"


def _index_grad_emit(node, args, out, ctx):
    """Zeros, then g added at out[key]: np.add.at when index arrays may repeat an element (they accumulate), a
    plain assignment for basic indexing, which never selects an element twice."""
    x, g, *arrays = args
    key = _numpy_key(node.op.template, arrays)
    scatter = f"np.add.at({out}, np.s_[{key}], {g})" if arrays else f"{out}[{key}] = {g}"
    return [fill(out, node, ctx.literal(0, node.dtype))] + _checked(scatter, ctx)


register(CallLowering(_index_grad_shape, _index_grad_emit), ix.IndexGrad)


# -- one_hot, zeros_like ---------------------------------------------------------------------------------------------

def _one_hot_emit(node, args, out, ctx):
    (labels,) = args
    depth = node.op.depth
    flat = f"np.ascontiguousarray({labels}).reshape({labels}.size)"
    call = f"{ctx.helper('indexing', 'one_hot_into')}({flat}, {out}.reshape(({out}.size // {depth}, {depth})))"
    return [f"if {call}:", f"    raise ValueError({ctx.error(node, f'a label is outside [0, {depth})')})"]


register(CallLowering(lambda node, shapes, ctx: f"tuple({shapes[0]}) + ({node.op.depth},)", _one_hot_emit), ix.OneHot)

register(ScalarLowering(lambda node, args, ctx, index: ctx.literal(0, node.dtype), lambda node, shapes, ctx: shapes[0],
                        input_maps=lambda node, index: [None], closed=True), ix.ZerosLike)


# -- concatenate, stack and the concatenation's gradient parts -------------------------------------------------------

def _concatenate_shape(node, shapes, ctx):
    helper = ctx.plan_helper("index_shapes", "concatenate_shape")
    return f"{helper}({ctx.what(node)}, [{', '.join(shapes)}], {node.op.axis})"


def _concatenate_emit(node, args, out, ctx):
    axis = node.op.axis
    offset = ctx.local("offset")
    lines = [f"{offset} = 0"]
    lead = ":, " * axis
    for x in args:
        lines.append(f"{out}[{lead}{offset}:{offset} + {x}.shape[{axis}]] = {x}")
        lines.append(f"{offset} += {x}.shape[{axis}]")
    return lines


register(CallLowering(_concatenate_shape, _concatenate_emit), ix.Concatenate)


def _stack_shape(node, shapes, ctx):
    helper = ctx.plan_helper("index_shapes", "stack_shape")
    return f"{helper}({ctx.what(node)}, [{', '.join(shapes)}], {node.op.axis})"


def _stack_emit(node, args, out, ctx):
    lead = ":, " * node.op.axis
    return [f"{out}[{lead}{k}] = {x}" for k, x in enumerate(args)]


register(CallLowering(_stack_shape, _stack_emit), ix.Stack)


def _concatenate_part_shape(node, shapes, ctx):
    g, *inputs = shapes
    helper = ctx.plan_helper("index_shapes", "concatenate_part_shape")
    return f"{helper}({ctx.what(node)}, {g}, [{', '.join(inputs)}], {node.op.axis}, {node.op.part})"


def _concatenate_part_array(node, arg, ctx):
    axis, part = node.op.axis, node.op.part
    inputs = node.inputs[1:]
    start = " + ".join(f"{ctx.shape_of(inputs[k])}[{axis}]" for k in range(part)) or "0"
    stop = f"{start} + {ctx.shape_of(inputs[part])}[{axis}]"
    return f"{arg}[{':, ' * axis}{start}:{stop}]"


register(ViewLowering(_concatenate_part_shape, lambda node, index: None, _concatenate_part_array),
         ix.ConcatenatePart)
