"""Saving and loading: graphs (``save``, ``load``) and checkpoints of variables (``save_variables``,
``load_variables``), each one safetensors file written atomically; ``read_metadata`` reads either's user metadata.

Loading never runs code from a file: no pickle, no eval, no import by a name read from it (tests/test_save_load.py
checks this package's source). Ops are rebuilt through an explicit registry (``registry.py``), each checked against
its op's rules; the container's sizes are checked before anything is allocated (``container.py``). Whatever is
wrong with a file's content raises ``FormatError``.
"""

from symgraph.io import container
from symgraph.io.checkpoints import VERSION as VARIABLES_VERSION, load_variables, read_checkpoint_metadata, \
    save_variables
from symgraph.io.fields import check_path
from symgraph.io.graphs import FORMAT as GRAPH_FORMAT, VARIABLES_FORMAT, VERSION as GRAPH_VERSION, load, \
    read_graph_metadata, save


def read_metadata(path) -> dict:
    """The user metadata saved in a graph file (``sg.save``) or a checkpoint (``sg.save_variables``), without
    building the graph or assigning variables; a plain safetensors file has none (``{}``)."""
    path = check_path(path, "sg.read_metadata")
    document, _ = container.read(path, with_data=False)
    if document is None or (isinstance(document, dict) and document.get("format") == VARIABLES_FORMAT):
        return read_checkpoint_metadata(path, document)
    return read_graph_metadata(path, document)


__all__ = ["save", "load", "save_variables", "load_variables", "read_metadata", "GRAPH_FORMAT", "GRAPH_VERSION",
           "VARIABLES_FORMAT", "VARIABLES_VERSION"]
