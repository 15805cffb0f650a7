"""``sg.save_variables`` and ``sg.load_variables``: checkpoints of variables' values, matched by name.

A checkpoint is a safetensors file with one tensor per variable, named after the variable (so any safetensors
reader sees ``{"dense/W": array, ...}``), and a small document in its metadata holding the user's metadata (an
epoch, a step, a data generator's state). Given a compiled function, the variables are those its updates change:
the parameters, the optimizer's state (momenta, moments, its step counter), random streams and batch_norm's
running statistics, which is what resuming a training run needs. Loading checks every entry (none missing, none
extra, each of its variable's shape and dtype) before assigning any, then assigns them all.
"""

from __future__ import annotations

from symgraph.function import Function
from symgraph.graph import Node, Variable, format_shape, user_site
from symgraph.io import container
from symgraph.io.fields import (
    check_format, check_metadata, check_path, expect_keys, holding_locks, read_metadata_field, text_problem,
)
from symgraph.io.graphs import FORMAT as GRAPH_FORMAT, VARIABLES_FORMAT

VERSION = 1
_NOT_A_CHECKPOINT = {GRAPH_FORMAT: "a saved graph (written by sg.save), not a checkpoint of variables: read it "
                                   "with sg.load(path)"}


def save_variables(path, variables, metadata=None) -> None:
    """Write the current values of ``variables`` to ``path`` (one safetensors file, written atomically: a crash
    leaves the previous checkpoint or this one, never a part).

    ``variables`` is a list of variables with distinct names, or a compiled function (``sg.function``), meaning
    every variable its updates change. ``metadata`` is a dict of JSON values saved alongside (the epoch, the step,
    ``rng.bit_generator.state`` of the generator that orders the data); ``sg.load_variables`` returns it.
    """
    caller = "sg.save_variables"
    path = check_path(path, caller)
    by_name = _named(variables, caller)
    document = {"format": VARIABLES_FORMAT, "version": VERSION}
    user_metadata = check_metadata(metadata, caller)
    if user_metadata:
        document["metadata"] = user_metadata
    with holding_locks(by_name.values()):  # one consistent state: no compiled call is halfway through its updates
        tensors = {name: variable.value for name, variable in by_name.items()}
    container.write_atomically(path, container.encode(tensors, document), caller)


def load_variables(path, variables) -> dict:
    """Assign the values saved at ``path`` to ``variables`` (a list, or a compiled function: the variables its
    updates change), matched by name, and return the checkpoint's metadata (a dict; empty if none was saved).

    Every variable needs an entry of its shape and dtype and every entry a variable: a missing, extra or mis-shaped
    entry raises (ValueError) before any variable changes. A plain safetensors file of tensors named after the
    variables loads too. A corrupt or forged file raises FormatError.
    """
    caller = "sg.load_variables"
    path = check_path(path, caller)
    by_name = _named(variables, caller)
    document, tensors = container.read(path)
    metadata = {}
    if document is not None:
        check_format(document, path, VARIABLES_FORMAT, VERSION, _NOT_A_CHECKPOINT)
        expect_keys(document, ("format", "version"), ("metadata",), f"{path}: the checkpoint document")
        metadata = read_metadata_field(document.get("metadata", {}), path)
    missing = [name for name in by_name if name not in tensors]
    if missing:
        listed = "\n  ".join(by_name[name].describe() for name in missing[:10])
        raise ValueError(f"{caller}: {path} has no entry for {len(missing)} of the variables given:\n  {listed}\n"
                         f"  (its entries: {_names(tensors)}), at {user_site()}")
    extra = [name for name in tensors if name not in by_name]
    if extra:
        raise ValueError(f"{caller}: {path} holds entries that match none of the variables given: {_names(extra)}; "
                         f"pass those variables too (a checkpoint is loaded whole), at {user_site()}")
    for name, variable in by_name.items():
        array = tensors[name]
        if array.shape != variable.shape or array.dtype != variable.dtype:
            raise ValueError(f"{caller}: {path}: the entry {name!r} has shape {format_shape(array.shape)} "
                             f"{array.dtype}, but {variable.describe()} needs {format_shape(variable.shape)} "
                             f"{variable.dtype}, at {user_site()}")
    with holding_locks(by_name.values()):
        for name, variable in by_name.items():
            variable.assign(tensors[name])
    return metadata



def _named(variables, caller: str) -> dict:
    """name -> variable for a list of variables or a compiled function's updated variables; each needs a distinct
    name that a file can hold."""
    if isinstance(variables, Function):
        variables = [variable for variable, _ in variables.updates]
    elif isinstance(variables, Node) or not isinstance(variables, (list, tuple)):
        raise TypeError(f"{caller}: variables must be a list of variables or a compiled function (sg.function), got "
                        f"{type(variables).__name__} {variables!r:.60}, at {user_site()}")
    by_name: dict[str, Variable] = {}
    for position, variable in enumerate(variables):
        if not isinstance(variable, Variable):
            shown = variable.describe() if isinstance(variable, Node) else f"{type(variable).__name__} {variable!r:.60}"
            raise TypeError(f"{caller}: item {position} of variables is {shown}, not a variable, at {user_site()}")
        if variable.name is None:
            raise ValueError(f"{caller}: {variable.describe()} has no name: checkpoints match variables by name "
                             f"(sg.variable(..., name=...)), at {user_site()}")
        problem = text_problem(variable.name, False)
        if problem or variable.name == container.METADATA_KEY:
            raise ValueError(f"{caller}: {variable.describe()} cannot be saved by name: the name "
                             f"{problem or 'is reserved by the safetensors format'}, at {user_site()}")
        other = by_name.get(variable.name)
        if other is variable:
            raise ValueError(f"{caller}: {variable.describe()} is listed twice, at {user_site()}")
        if other is not None:
            raise ValueError(f"{caller}: two variables are named {variable.name!r}:\n  {other.describe()}\n  "
                             f"{variable.describe()}\ncheckpoints match variables by name: give them distinct names "
                             f"(a random stream's state is named after the stream: RandomStream(seed, name=...)), "
                             f"at {user_site()}")
        by_name[variable.name] = variable
    return by_name


def _names(names) -> str:
    names = list(names)
    shown = ", ".join(repr(n)[:60] for n in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "") if names else "none"


def read_checkpoint_metadata(path: str, document) -> dict:
    """The user metadata of a checkpoint document (None for a plain safetensors file: no metadata)."""
    if document is None:
        return {}
    check_format(document, path, VARIABLES_FORMAT, VERSION, _NOT_A_CHECKPOINT)
    return read_metadata_field(document.get("metadata", {}), path)

