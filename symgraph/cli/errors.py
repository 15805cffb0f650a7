"""The command line's error: what was wrong with the arguments or files, printed as one line."""

from symgraph.errors import SymgraphError


class CliError(SymgraphError, ValueError):
    """A bad argument or file found by the command line itself; ``symgraph`` prints it as ``symgraph: error: ...``."""
