"""Lowering of symgraph.ops.custom: a custom op's own Numba lowering, or an explicit call back into Python.

- With ``numba=`` and ``elementwise=True``, the lowering is a scalar function, called per element inside the fused
  loops (LLVM inlines it there, so it fuses with its neighbours as a built-in elementwise op does).
- With ``numba=`` otherwise, it is an array kernel ``kernel(*inputs, out, **attributes)`` filling ``out``, called
  from a Python stage as symgraph's own helper kernels are.
- Without ``numba=``, a Python stage calls the op's NumPy function at every call and checks its result: the
  program names the op in ``f.cache_info.python_ops`` and warns once per op.

A lowering is copied by source (``symgraph.ops.source.copy_source``) into a kernel file of its own,
``<cache>/numba/kernels/custom_<name>_<hash>_<digest>.py``, compiled with the loops' options (fastmath "contract"
only). The digest hashes the file, the generated module names it, and the module's key hashes the module: a changed
lowering is a new file, a new module and a new key, and the module still runs with NumPy and Numba alone.

The Python functions a module calls (NumPy functions, and shape rules of outputs whose static shape has sizes known
only at run time) cannot be copied: they are arguments of the module's ``run``, after the constants, and the module
names each with the hash of its source (so that the key changes with them too). That is where a generated module
stops being self-contained: run by hand, it needs those functions from your code.
"""

from __future__ import annotations

import hashlib
import weakref

import numpy as np

from symgraph.backends.numba.lowering import CallLowering, ScalarLowering, register_choice
from symgraph.backends.numba.lowering.elementwise import broadcast_shape
from symgraph.ops.custom import CustomOp

_LOWERINGS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # definition -> its lowering
_KERNEL_FILES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # definition -> (entry, KernelFile)


def attribute_literal(value) -> str:
    """An attribute as an expression valid in the module's Python code and in its @njit code."""
    if isinstance(value, tuple):
        return "(" + "".join(f"{attribute_literal(item)}, " for item in value) + ")"
    if isinstance(value, float) and not np.isfinite(value):
        return "np.nan" if np.isnan(value) else ("np.inf" if value > 0 else "-np.inf")
    return repr(value)


def _keywords(node) -> list[str]:
    return [f"{key}={attribute_literal(value)}" for key, value in node.op.items]


def _attributes_dict(node) -> str:
    return "{" + ", ".join(f"{key!r}: {attribute_literal(value)}" for key, value in node.op.items) + "}"


def kernel_file(definition):
    """The name and kernel file of a custom op's Numba lowering (its copied source, each function @njit)."""
    entry = _KERNEL_FILES.get(definition)
    if entry is None:
        from symgraph.backends.numba.codegen import LOOP_FASTMATH, LOOP_NJIT, KernelFile

        preamble, functions = definition.numba_source
        name = definition.kernel_name()
        source = (f'"""The Numba lowering of custom op {definition.name!r}, copied from its definition: loaded by '
                  f'generated modules."""\n\nimport numba\nimport numpy as np\n'
                  + "".join(f"{line}\n" for line in preamble) + f"\nLOOP_FASTMATH = {LOOP_FASTMATH}\n\n\n"
                  + "\n\n\n".join(f"@{LOOP_NJIT}\n{text}" for text in functions) + "\n")
        digest = hashlib.sha256(source.encode()).hexdigest()[:16]
        entry = _KERNEL_FILES[definition] = (name, KernelFile(name, source, digest))
    return entry


def _scalar_expr(node, args, ctx, index):
    name = ctx.custom_kernel(*kernel_file(node.op.definition))
    return f"{name}({', '.join(list(args) + _keywords(node))})"


def _kernel_emit(node, args, out, ctx):
    name = ctx.custom_kernel(*kernel_file(node.op.definition))
    return [f"{name}({', '.join(list(args) + [out] + _keywords(node))})"]


def _python_emit(node, args, out, ctx):
    definition = node.op.definition
    function = ctx.callback(("compute", definition), f"{definition.name}_compute", definition.compute,
                            f"the NumPy function of {definition.describe()}", definition.digests["compute"])
    call = ctx.plan_helper("callbacks", "custom_call")
    arguments = "(" + "".join(f"{a}, " for a in args) + ")"
    return [f"{call}({ctx.what(node)}, {function}, {arguments}, {_attributes_dict(node)}, {out})"]


def _shape(node, shapes, ctx):
    """A static shape that is fully known is the run-time shape; otherwise the shape rule computes it."""
    definition = node.op.definition
    if None not in node.shape:
        return repr(tuple(node.shape))
    if definition.shape_rule is None:
        return shapes[0]  # the default rule: the first input's shape
    rule = ctx.callback(("shape", definition), f"{definition.name}_shape", definition.shape_rule,
                        f"the shape rule of {definition.describe()}", definition.digests["shape"])
    check = ctx.plan_helper("callbacks", "custom_shape")
    arguments = "(" + "".join(f"{s}, " for s in shapes) + ")"
    return f"{check}({ctx.what(node)}, {rule}, {arguments}, {_attributes_dict(node)}, {tuple(node.shape)!r})"


def _lowering(definition):
    if definition.numba is not None and definition.elementwise:
        return ScalarLowering(_scalar_expr, broadcast_shape)
    if definition.numba is not None:
        return CallLowering(_shape, _kernel_emit)
    return CallLowering(broadcast_shape if definition.elementwise else _shape, _python_emit)


def _choose(op: CustomOp):
    lowering = _LOWERINGS.get(op.definition)
    if lowering is None:
        lowering = _LOWERINGS[op.definition] = _lowering(op.definition)
    return lowering


def runs_in_python(op) -> bool:
    """Whether the Numba backend calls this op's NumPy function from Python (a custom op without a lowering)."""
    return isinstance(op, CustomOp) and op.definition.numba is None


register_choice(_choose, CustomOp)
