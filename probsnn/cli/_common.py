"""What the sub-commands share: the one-line error :class:`CLIError` and argparse value types."""
from __future__ import annotations

import argparse

__all__ = ["CLIError", "cells", "positive"]


class CLIError(Exception):
    """An error that is reported to the user as one line, with exit status 2."""


def cells(text: str) -> list[int]:
    """``--cells 0,2``: 0-based neuron indices separated by commas."""
    try:
        return [int(c) for c in text.split(",") if c.strip() != ""]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--cells takes 0-based indices separated by commas, got {text!r}") from err


def positive(kind):
    """An argparse type: ``kind(text)`` (``int`` or ``float``), which must be > 0."""

    def parse(text):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse
