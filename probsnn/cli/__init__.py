"""The ``probsnn`` command line, one module per sub-command.

* ``probsnn fit`` (:mod:`probsnn.cli.fit`): GLM fits of a recording and a report folder; with
  ``--posterior laplace|nuts|svi`` also the posterior report of :mod:`probsnn.cli.posterior`;
* ``probsnn report FIT`` (:mod:`probsnn.cli.report`): the report of a fit drawn again from its ``fit.nc``;
* ``probsnn simulate FIT`` (:mod:`probsnn.cli.simulate`): spike trains drawn from a fitted network;
* ``probsnn stream`` (:mod:`probsnn.cli.stream`): online next-step prediction of a CSV column;
* ``probsnn rl`` (:mod:`probsnn.cli.rl`): a first-to-spike policy trained with REINFORCE.

Each module's ``add_parser(subparsers)`` registers a parser whose ``func(args)`` returns the exit status.
Every expected failure is printed as one line on stderr, ``probsnn <command>: error: ...``, with exit status 2:
a command line that argparse refuses (an unknown option, a value of the wrong type or out of range: the value
types name the option and what they expect), a :class:`CLIError`, ``ValueError``, ``TypeError`` or an
``OSError`` (a file that cannot be read or written; the line names the path). An interrupt exits with status
130. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import sys

from .. import __version__
from . import fit, report, rl, simulate, stream
from ._common import ArgumentParser, CLIError, UsageError

__all__ = ["main", "build_parser", "CLIError"]

_COMMANDS = ("fit", "report", "simulate", "stream", "rl")  # the names the modules below register


def build_parser() -> ArgumentParser:
    """The ``probsnn`` parser with the ``fit``, ``report``, ``simulate``, ``stream`` and ``rl`` sub-commands (usage
    errors: one line)."""
    parser = ArgumentParser(prog="probsnn", description="Probabilistic spiking neural networks.")
    parser.add_argument("--version", action="version", version=f"probsnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (fit, report, simulate, stream, rl):
        command.add_parser(sub)
    return parser


def _os_error_line(err: OSError) -> str:
    """``OSError`` as one line that names the path(s) involved."""
    paths = [str(p) for p in (err.filename, getattr(err, "filename2", None)) if p is not None]
    if not paths:  # raised with a message of its own, e.g. FileNotFoundError("no such file: ...")
        return str(err) or type(err).__name__
    return f"{err.strerror or type(err).__name__}: {' -> '.join(paths)}"


def main(argv=None) -> int:
    """Run ``probsnn`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        prog, message = err.prog, err.message.strip()
        if prog == parser.prog:  # e.g. unrecognized arguments, reported by the top parser: name the command
            command = next((a for a in (sys.argv[1:] if argv is None else argv) if a in _COMMANDS), None)
            prog = f"{prog} {command}" if command else prog
        print(f"{prog}: error: {message}{'' if message.endswith('.') else '.'} See '{prog} --help'.", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (CLIError, ValueError, TypeError) as err:
        print(f"probsnn {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # FileNotFoundError, PermissionError, a full disk, ...
        print(f"probsnn {args.command}: error: {_os_error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"probsnn {args.command}: interrupted", file=sys.stderr)
        return 130
