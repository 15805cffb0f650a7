"""Exception types. Each is a subclass of a builtin so callers can catch ValueError / TypeError as usual."""


class SymgraphError(Exception):
    """Base class of every error symgraph raises on purpose."""


class ShapeError(SymgraphError, ValueError):
    """Shapes that cannot work together: detected when a node is built, or when fed values contradict it."""


class DTypeError(SymgraphError, TypeError):
    """An unsupported dtype, or a value whose dtype cannot be used where it was given."""


class FeedError(SymgraphError, ValueError):
    """A feed dict that does not match the graph: missing, unknown or ill-shaped feeds."""


class EvaluationError(SymgraphError, ValueError):
    """A node failed while computing its value (for example an index out of range at run time)."""


class GradientError(SymgraphError, ValueError):
    """A gradient that cannot be built: non-scalar cost, disconnected or non-differentiable inputs."""


class GraphvizError(SymgraphError, RuntimeError):
    """Drawing a picture needs Graphviz's ``dot`` program, and it is not installed (or it failed)."""


class PythonCallbackWarning(RuntimeWarning):
    """A compiled backend runs part of a graph in Python: a custom op without a Numba lowering (warned once per op)."""


class FormatError(SymgraphError, ValueError):
    """A saved file that cannot be read: truncated, malformed, of an unknown version, or forged (``sg.load``,
    ``sg.load_variables``). Loading raises nothing else for a bad file's content."""


class SympyConversionError(SymgraphError, ValueError):
    """A graph or an expression the other side cannot express: an op with no sympy form (``sg.to_sympy``), a sympy
    function no op computes or a symbol with no node (``sg.from_sympy``)."""
