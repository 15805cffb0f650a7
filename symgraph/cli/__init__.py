"""The ``symgraph`` command line (also ``python -m symgraph``): ``train``, ``show`` and ``bench``.

``main(argv)`` returns the exit status instead of exiting, so that it can be called from Python. Whatever goes wrong
(a bad argument, a missing or corrupt file, an error of the graph being trained) is one line on standard error,
``symgraph: error: ...``, and a non-zero status: 2 for bad arguments, 1 for the rest, 130 after Ctrl-C. Set
``SYMGRAPH_TRACEBACK=1`` to get the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys

from symgraph.cli import bench, show, train
from symgraph.cli.errors import CliError
from symgraph.errors import SymgraphError

__all__ = ["main", "CliError"]

ARGUMENT_ERROR = 2  # argparse's status for bad arguments


class Parser(argparse.ArgumentParser):
    """argparse, with an argument error as one line naming the subcommand's --help."""

    def error(self, message):
        self.exit(ARGUMENT_ERROR, f"symgraph: error: {message} (see `{self.prog} --help`)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """--help keeps the descriptions' line breaks and shows every option's default."""


def build_parser() -> Parser:
    parser = Parser(prog="symgraph", description="symgraph's command line (also python -m symgraph): train the "
                    "lecture's models, show saved graphs, benchmark a training step.", formatter_class=HelpFormatter)
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    for name, module in (("train", train), ("show", show), ("bench", bench)):
        summary, _, details = (module.__doc__ or "").partition("\n\n")
        sub = commands.add_parser(name, help=summary.split(": ", 1)[-1], description=module.__doc__,
                                  formatter_class=HelpFormatter)
        module.add_arguments(sub)
    return parser


def main(argv=None) -> int:
    """Run ``symgraph`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a bad argument (2, the message already printed)
        return exit_.code if isinstance(exit_.code, int) else 1
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("symgraph: interrupted", file=sys.stderr)
        return train.INTERRUPTED
    except Exception as error:  # noqa: BLE001: every failure is one line, never a traceback
        if os.environ.get("SYMGRAPH_TRACEBACK"):
            raise
        print(f"symgraph: error: {one_line(error)}", file=sys.stderr)
        return 1


def one_line(error: BaseException) -> str:
    """The error's message on one line; errors symgraph raises on purpose (and OS errors) as they are, anything else
    with its type, which says more than a bare message."""
    text = " ".join(part.strip() for part in str(error).splitlines() if part.strip()) or type(error).__name__
    expected = (SymgraphError, OSError, ValueError, TypeError, ImportError)
    return text if isinstance(error, expected) else f"{type(error).__name__}: {text}"

