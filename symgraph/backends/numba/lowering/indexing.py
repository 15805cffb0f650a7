"""Lowerings of symgraph.ops.indexing.

Basic indexing (ints, slices, new axes) is a view: absorbed into loops as an index remapping where the slice bounds
are static, else an array view. Indexing with integer arrays is a gather loop over the result (NumPy's advanced
indexing rules: the arrays broadcast together, and their axes go first when they are not adjacent); its adjoint
``index_grad`` is the same loop adding into zeros (repeated indices accumulate, as ``np.add.at``). Indices are
bounds-checked at run time.
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


# -- advanced indexing: gather and scatter-add loops -----------------------------------------------------------------

def _layout(template, x_ndim):
    """For each x axis, how it is indexed: ("slice", item, result axis), ("int", value) or ("array", k), plus the
    result axes of the broadcast array dimensions (NumPy's rule: after the basic axes before the first array when
    the arrays are adjacent, else first)."""
    advanced = [p for p, item in enumerate(template) if item[0] in ("array", "int")]
    if not advanced:  # basic indexing: the result axes follow the slices and new axes in order
        return [], True, [p for p, item in enumerate(template) if item[0] in ("slice", "newaxis")], []
    contiguous = advanced == list(range(advanced[0], advanced[-1] + 1))
    before = [p for p, item in enumerate(template) if item[0] in ("slice", "newaxis") and p < advanced[0]]
    after = [p for p, item in enumerate(template) if item[0] in ("slice", "newaxis") and p > advanced[0]]
    return advanced, contiguous, before, after


def _index_loops(ctx, template, x_shape, x_sizes: str, arrays, array_nodes, result: str, result_rank: int, body,
                 out_of_bounds: str = "an index is out of bounds for its axis"):
    """Loops over the result of ``x[template]`` calling ``body(x_index, result_index)`` in the innermost loop."""
    advanced, contiguous, before, after = _layout(template, len(x_shape))
    broadcast_rank = max((n.ndim for n in array_nodes), default=0)
    x_rank = len(x_shape)
    indexed_axes = sum(1 for item in template if item[0] != "newaxis")
    rest = x_rank - indexed_axes
    # result axes: [before][broadcast][after][rest] when the arrays are adjacent, else [broadcast][before][after][rest]
    order = (before + ["B"] + after) if contiguous else (["B"] + before + after)
    result_axis_of, next_axis, broadcast_axes = {}, 0, []
    for entry in order:
        if entry == "B":
            broadcast_axes = [f"r{next_axis + k}" for k in range(broadcast_rank)]
            next_axis += broadcast_rank
        else:
            result_axis_of[entry] = f"r{next_axis}"
            next_axis += 1
    rest_axes = [f"r{next_axis + k}" for k in range(rest)]
    lines, x_index, checks, axis = [], [], [], 0
    for position, item in enumerate(template):
        if item[0] == "newaxis":
            continue
        size = f"{x_sizes}[{axis}]"
        if item[0] == "int":
            value = ctx.local(f"i_{axis}")
            lines.append(f"{value} = {item[1]} + {size} if {item[1]} < 0 else {item[1]}")
            lines.append(f"if {value} < 0 or {value} >= {size}:")
            lines.append(f"    raise ValueError({ctx.error(out_of_bounds)})")
            x_index.append(value)
        elif item[0] == "slice":
            _, start, stop, step = item
            step = 1 if step is None else step
            first = ctx.local(f"first_{axis}")
            helper = ctx.helper("indexing", "slice_first_length")
            lines.append(f"{first}, _ = {helper}({size}, {start or 0}, {stop or 0}, {step}, {start is not None}, "
                         f"{stop is not None})")
            x_index.append(f"{first} + {step} * {result_axis_of[position]}")
        else:
            k = item[1]
            node = array_nodes[k]
            lead = broadcast_rank - node.ndim
            element = [("0" if d == 1 else broadcast_axes[lead + j]) for j, d in enumerate(node.shape)]
            element = [e if d is not None or e == "0" else f"({e} if {arrays[k]}.shape[{j}] != 1 else 0)"
                       for j, (d, e) in enumerate(zip(node.shape, element))]
            checks.append((f"j_{axis}", f"{arrays[k]}[{', '.join(element) or '()'}]", size))
            x_index.append(f"j_{axis}")
        axis += 1
    x_index.extend(rest_axes)
    for k in range(result_rank):
        lines.append("    " * k + f"for r{k} in range({result}.shape[{k}]):")
    indent = "    " * result_rank
    for name, element, size in checks:  # NumPy's rule: negative indices count from the end; others must fit
        lines.append(f"{indent}{name} = {element}")
        lines.append(f"{indent}if {name} < 0:")
        lines.append(f"{indent}    {name} += {size}")
        lines.append(f"{indent}if {name} < 0 or {name} >= {size}:")
        lines.append(f"{indent}    raise ValueError({ctx.error(out_of_bounds)})")
    result_index = [f"r{k}" for k in range(result_rank)]
    lines.append(indent + body(x_index, result_index))
    return lines


def _gather_emit(node, args, out, ctx):
    x, *arrays = args
    return _index_loops(ctx, node.op.template, node.inputs[0].shape, f"{x}.shape", arrays, node.inputs[1:], out,
                        node.ndim, lambda xi, ri: f"{out}[{', '.join(ri) or '()'}] = {x}[{', '.join(xi) or '()'}]")


GATHER = CallLowering(_index_shape, _gather_emit)


def _index_lowering(op):
    return GATHER if any(item[0] == "array" for item in op.template) else BASIC_INDEX


register_choice(_index_lowering, ix.Index)


def _index_grad_shape(node, shapes, ctx):
    x, g, *arrays = shapes
    helper = ctx.plan_helper("index_shapes", "index_grad_shape")
    return f"{helper}({ctx.what(node)}, {x}, {g}, {node.op.template!r}, [{', '.join(arrays)}])"


def _index_grad_emit(node, args, out, ctx):
    x, g, *arrays = args
    accumulate = "+=" if any(item[0] == "array" for item in node.op.template) else "="
    lines = [fill(out, node, ctx.literal(0, node.dtype))]
    return lines + _index_loops(ctx, node.op.template, node.inputs[0].shape, f"{out}.shape", arrays, node.inputs[2:],
                                g, node.inputs[1].ndim,
                                lambda xi, ri: f"{out}[{', '.join(xi) or '()'}] {accumulate} "
                                               f"{g}[{', '.join(ri) or '()'}]")


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
