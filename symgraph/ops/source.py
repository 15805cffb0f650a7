"""The source of user functions: where they are defined, digests that key caches, and self-contained copies.

A custom op's Numba lowering is copied by source into a file that generated modules load (so that they keep running
with NumPy and Numba alone, and Numba caches the code under a name that changes with the source). ``copy_source``
makes that copy: the function's definition (a ``def`` or a ``lambda``, decorators removed), the functions it calls,
the modules it uses (numpy, math, cmath, numba) and the numbers it reads from globals or closures. Anything else it
reads (an array, an object) cannot be copied, and is refused with a message naming it.
"""

from __future__ import annotations

import ast
import builtins
import dis
import hashlib
import inspect
import linecache
import marshal
import types

import numpy as np

COPYABLE_MODULES = ("numpy", "math", "cmath", "numba")


class SourceError(TypeError):
    """A function that cannot be copied into a generated module (no source, or it reads what cannot be copied)."""


def python_function(function) -> types.FunctionType:
    """The Python function behind ``function`` (an @numba.njit dispatcher's ``py_func``)."""
    function = getattr(function, "py_func", function)
    if not isinstance(function, types.FunctionType):
        raise SourceError(f"{function!r} is not a Python function (def or lambda)")
    return function


def site_of(function) -> str:
    """``file:line`` of a function's definition (a callable object's class, a builtin's name)."""
    inner = getattr(function, "py_func", function)
    code = getattr(inner, "__code__", None)
    if code is None:
        return getattr(inner, "__qualname__", None) or getattr(inner, "__name__", None) or type(inner).__qualname__
    return f"{code.co_filename}:{code.co_firstlineno}"


def digest(function) -> str:
    """A hash of a function's definition: its source where Python can find it, else its bytecode, with the numbers
    its closure holds (they change what it computes without changing its text)."""
    hasher = hashlib.sha256()
    inner = getattr(function, "py_func", function)
    if isinstance(inner, types.FunctionType):
        try:
            hasher.update(ast.unparse(definition_node(inner, "function")).encode())
        except SourceError:
            hasher.update(marshal.dumps(inner.__code__))
        for cell in inner.__closure__ or ():
            value = cell.cell_contents
            hasher.update(repr(value if _is_number(value) else type(value).__qualname__).encode())
        hasher.update(repr(inner.__defaults__).encode())
    else:
        hasher.update(repr(type(inner).__qualname__).encode() + repr(getattr(inner, "__qualname__", "")).encode())
    return hasher.hexdigest()[:16]


def definition_node(function: types.FunctionType, name: str) -> ast.FunctionDef:
    """The function's definition as an ``ast.FunctionDef`` named ``name``, without decorators (a lambda becomes
    ``def name(args): return body``), found in its file by first line, name and arguments (lambdas on one line told
    apart by the names and constants they use)."""
    code = function.__code__
    filename = code.co_filename
    lines = linecache.getlines(filename, function.__globals__)
    if not lines:
        raise SourceError(f"the source of {function.__qualname__} is not available (defined in {filename}, "
                          "which cannot be read: an interactive session or exec); define it in a file")
    try:
        tree = ast.parse("".join(lines), filename)
    except SyntaxError as error:
        raise SourceError(f"{filename} cannot be parsed ({error}); has it changed since it was imported?") from None
    candidates = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.Lambda))
                  and _starts_at(node, code) and _same_arguments(node, code)]
    if len(candidates) > 1:
        candidates = [node for node in candidates if _same_names(node, code)]
    if len(candidates) == 1:
        return _as_function_def(candidates[0], name)
    where = f"{filename}:{code.co_firstlineno}"
    if candidates:
        raise SourceError(f"{where} holds several lambdas like {function.__qualname__}: write it as a def")
    raise SourceError(f"the source of {function.__qualname__} ({where}) is not where its code says: has the file "
                      "changed since it was imported?")


def _starts_at(node, code: types.CodeType) -> bool:
    if isinstance(node, ast.Lambda):
        return code.co_name == "<lambda>" and node.lineno == code.co_firstlineno
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return node.name == code.co_name and first == code.co_firstlineno


def _same_arguments(node, code: types.CodeType) -> bool:
    arguments = node.args
    names = [a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]
    names += [a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None]
    return names == list(code.co_varnames[:len(names)])


def _same_names(node, code: types.CodeType) -> bool:
    """Whether a lambda's body uses the global and attribute names and the constants that the code does."""
    body = node.body if isinstance(node, ast.Lambda) else node
    used = {n.id for n in ast.walk(body) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(body) if isinstance(n, ast.Attribute)}
    constants = {repr(n.value) for n in ast.walk(body) if isinstance(n, ast.Constant)}
    return set(code.co_names) <= used and constants <= {repr(c) for c in code.co_consts} | {"None"}


def _as_function_def(node, name: str) -> ast.FunctionDef:
    if isinstance(node, ast.Lambda):
        body = [ast.Return(value=node.body)]
        definition = ast.FunctionDef(name=name, args=node.args, body=body, decorator_list=[], returns=None,
                                     type_comment=None)
    else:
        definition = ast.FunctionDef(name=name, args=node.args, body=node.body, decorator_list=[],
                                     returns=None, type_comment=None)
    return ast.fix_missing_locations(definition)


def copy_source(function, entry: str) -> tuple[list[str], list[str]]:
    """A self-contained copy of ``function`` under the name ``entry``: (preamble lines: imports and numbers,
    function definitions: ``entry`` last, the functions it calls before it). Raises SourceError naming what it reads
    that cannot be copied."""
    preamble: dict[str, str] = {}
    definitions: dict[str, str] = {}
    origins: dict[str, object] = {}

    def visit(current, name: str) -> None:
        current = python_function(current)
        origins[name] = current
        definitions[name] = None  # reserved: a function calling itself is not visited twice
        for global_name, value in _read_names(current):
            if global_name in origins:
                if origins[global_name] is not _unwrapped(value) and not _same_number(origins[global_name], value):
                    raise SourceError(f"two different values are named {global_name!r} in the functions copied")
                continue
            origins[global_name] = _unwrapped(value)
            if isinstance(value, types.ModuleType):
                preamble[global_name] = _import_line(global_name, value, current)
            elif _is_number(value):
                preamble[global_name] = f"{global_name} = {_number_literal(value)}"
            elif isinstance(_unwrapped(value), types.FunctionType):
                visit(value, global_name)
            else:
                raise SourceError(f"it reads {global_name!r}, a {type(value).__name__} ({site_of(current)}): a "
                                  "Numba lowering is copied into generated code, so it may only use numpy, math, "
                                  "cmath, numba, numbers and functions of that kind; pass other values as the "
                                  "op's attributes or inputs")
        definitions[name] = ast.unparse(definition_node(current, name))

    visit(function, entry)
    ordered = [text for name, text in definitions.items() if name != entry] + [definitions[entry]]
    return list(preamble.values()), ordered


def _unwrapped(value):
    return getattr(value, "py_func", value)


def _read_names(function: types.FunctionType) -> list[tuple[str, object]]:
    """(name, value) for every global or closure variable the function (and code nested in it) reads; builtins
    that are not shadowed are left out."""
    found: dict[str, object] = {}
    closure = dict(zip(function.__code__.co_freevars, (c.cell_contents for c in function.__closure__ or ())))
    for code in _code_objects(function.__code__):
        for instruction in dis.get_instructions(code):
            if instruction.opname == "LOAD_GLOBAL":
                name = instruction.argval
                if name in function.__globals__:
                    found[name] = function.__globals__[name]
                elif not hasattr(builtins, name):
                    raise SourceError(f"it reads {name!r}, which is not defined ({site_of(function)})")
            elif instruction.opname == "LOAD_DEREF" and instruction.argval in closure:
                found[instruction.argval] = closure[instruction.argval]
    return list(found.items())


def _code_objects(code: types.CodeType):
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _code_objects(constant)


def _import_line(name: str, module: types.ModuleType, function) -> str:
    root = module.__name__
    if root not in COPYABLE_MODULES:
        raise SourceError(f"it uses the module {root!r} ({site_of(function)}); a Numba lowering may use "
                          f"{', '.join(COPYABLE_MODULES)} only")
    return f"import {root}" if name == root else f"import {root} as {name}"


def _is_number(value) -> bool:
    return isinstance(value, (bool, int, float, complex, np.bool_, np.integer, np.floating))


def _same_number(a, b) -> bool:
    return _is_number(a) and _is_number(b) and type(a) is type(b) and repr(a) == repr(b)


def _number_literal(value) -> str:
    """A Python expression of the number (NumPy scalars keep their type: np.float32(0.5))."""
    if isinstance(value, np.generic):
        inner = _number_literal(value.item())
        return f"np.{type(value).__name__}({inner})"  # a kernel file imports numpy as np
    if isinstance(value, float) and not np.isfinite(value):
        return f"float({str(value)!r})"
    return repr(value)
