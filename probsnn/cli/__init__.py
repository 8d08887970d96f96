"""The ``probsnn`` command line, one module per sub-command.

* ``probsnn fit`` (:mod:`probsnn.cli.fit`): GLM fits of a recording and a report folder; with
  ``--posterior laplace|nuts|svi`` also the posterior report of :mod:`probsnn.cli.posterior`;
* ``probsnn stream`` (:mod:`probsnn.cli.stream`): online next-step prediction of a CSV column;
* ``probsnn rl`` (:mod:`probsnn.cli.rl`): a first-to-spike policy trained with REINFORCE.

Each module's ``add_parser(subparsers)`` registers a parser whose ``func(args)`` returns the exit status.
A :class:`CLIError`, ``ValueError``, ``FileNotFoundError`` or ``TypeError`` raised by a command is printed
as one line, ``probsnn <command>: error: ...``, with exit status 2; an interrupt exits with status 130.
"""
from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import fit, rl, stream
from ._common import CLIError

__all__ = ["main", "build_parser", "CLIError"]


def build_parser() -> argparse.ArgumentParser:
    """The ``probsnn`` parser with the ``fit``, ``stream`` and ``rl`` sub-commands."""
    parser = argparse.ArgumentParser(prog="probsnn", description="Probabilistic spiking neural networks.")
    parser.add_argument("--version", action="version", version=f"probsnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (fit, stream, rl):
        command.add_parser(sub)
    return parser


def main(argv=None) -> int:
    """Run ``probsnn`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CLIError, ValueError, FileNotFoundError, TypeError) as err:
        print(f"probsnn {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"probsnn {args.command}: interrupted", file=sys.stderr)
        return 130
