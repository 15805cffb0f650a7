"""LLVM instructions that the flattened kernel modules (codegen's FLATTENED_MODULES) call by the names of their
plain-Python stand-ins: kernel files define these in place of the module's functions of the same name.

An intrinsic is typed and lowered inside its caller, so it compiles nothing of its own: a Python ternary, Python's
min/max or a NumPy scalar's ``view`` would each be a function Numba compiles (0.04-0.07 s apiece), and a ternary
written inline can stay a branch, which keeps a loop from being vectorized.
"""

from numba.core import types
from numba.extending import intrinsic


@intrinsic
def branchless(typingctx, condition, if_true, if_false):
    """``if_true if condition else if_false`` as one select instruction (both arms are computed)."""
    result = typingctx.unify_pairs(if_true, if_false)
    if not isinstance(condition, types.Boolean) or not isinstance(result, types.Number):
        return None

    def codegen(context, builder, signature, args):
        condition_value, true_value, false_value = args
        true_value = context.cast(builder, true_value, signature.args[1], signature.return_type)
        false_value = context.cast(builder, false_value, signature.args[2], signature.return_type)
        return builder.select(condition_value, true_value, false_value)

    return result(condition, if_true, if_false), codegen


@intrinsic
def reinterpret(typingctx, value, dtype):
    """The bits of a number read as another number type of the same width (a NumPy scalar's ``view``)."""
    target = getattr(dtype, "instance_type", None)
    if (not isinstance(value, types.Number) or not isinstance(target, types.Number)
            or value.bitwidth != target.bitwidth):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(target))

    return target(value, dtype), codegen
