"""What the sub-commands share: one-line errors, argparse value types and checks of output locations.

* :class:`CLIError`: an expected failure, printed as one line with exit status 2;
* :class:`ArgumentParser`: argparse whose usage errors are one line too (no usage block);
* :func:`integer`, :func:`number`, :func:`cells`: argparse types that name the option, say what was expected
  and what was given (built on :mod:`probsnn._checks`);
* :func:`check_output_folder`, :func:`create_output_folder`, :func:`check_output_file`: refuse an output
  location that cannot be created or written before any work is done, and create nothing while doing so;
* :func:`read_fit`: a fit file read with :func:`probsnn.load_fit`, JAX set to the precision of its parameters;
* :class:`HelpFormatter` and :func:`plain_text`: help texts in plain words, every option with its default;
* :func:`write_json_atomic`: a JSON file written to a temporary file and renamed into place, so a reader never
  sees half of it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from pathlib import Path

from .._checks import check_float, check_int

__all__ = ["CLIError", "UsageError", "ArgumentParser", "cells", "integer", "number", "check_output_folder",
           "create_output_folder", "check_output_file", "write_json_atomic", "read_fit", "HelpFormatter",
           "plain_text"]


class CLIError(Exception):
    """An error that is reported to the user as one line, with exit status 2."""


class UsageError(Exception):
    """A command line that argparse refuses: ``prog`` (e.g. ``probsnn fit``) and the one-line ``message``."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog, self.message = prog, message


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` whose usage errors raise :class:`UsageError` instead of printing the usage.

    The ``probsnn`` entry point prints them as one line, ``probsnn <command>: error: ...``, with exit status 2.
    Sub-parsers made by ``add_subparsers`` are of the same class.
    """

    def error(self, message):
        # "argument --bins: --bins must be ..." -> "--bins must be ..." (the value types name their option)
        match = re.match(r"argument (\S+?)(?:/\S+)?: (.*)", message, re.S)
        if match and match.group(2).startswith(match.group(1) + " "):
            message = match.group(2)
        raise UsageError(self.prog, message)


def integer(option: str, minimum: int | None = None, maximum: int | None = None):
    """An argparse type: the text as an ``int`` in ``[minimum, maximum]`` (either bound may be None).

    A bad value gives ``"<option> must be an integer >= <minimum>, got '<text>'."``.
    """

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = text  # check_int refuses it and quotes it
        try:
            return check_int(option, value, minimum=minimum, maximum=maximum)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = "integer"
    return parse


def number(option: str, low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False):
    """An argparse type: the text as a finite ``float`` in the interval given by ``low``/``high``.

    A bad value (not a number, NaN, inf, outside the interval) gives
    ``"<option> must be a finite number in (<low>, <high>), got <value>."``.
    """

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = text
        try:
            return check_float(option, value, low, high, low_open=low_open, high_open=high_open)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = "number"
    return parse


def cells(text: str) -> list[int]:
    """``--cells 0,2``: distinct 0-based neuron indices (integers >= 0) separated by commas.

    The upper end of the range (the number of neurons) is checked once the data are loaded.
    """
    parts = [c.strip() for c in text.split(",") if c.strip() != ""]
    if not parts:
        raise argparse.ArgumentTypeError(f"--cells takes 0-based neuron indices separated by commas, e.g. 0,2; "
                                         f"got {text!r}.")
    indices = []
    for part in parts:
        try:
            index = int(part)
        except ValueError:
            index = -1
        if index < 0:
            raise argparse.ArgumentTypeError(f"--cells takes 0-based neuron indices (integers >= 0) separated by "
                                             f"commas, e.g. 0,2; got {part!r} in {text!r}.")
        if index in indices:
            raise argparse.ArgumentTypeError(f"--cells lists neuron {index} twice in {text!r}: give each index once.")
        indices.append(index)
    return indices


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (``.`` or the root at worst)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_output_folder(option: str, path) -> Path:
    """Refuse a report folder that cannot be created or written; creates nothing.

    The folder may exist (then it must be a writable folder) or not (then its nearest existing ancestor must
    be a folder in which this user may create entries).

    Raises
    ------
    CLIError
        Naming ``option``, the path and the reason (an existing file, a parent that is a file, no permission).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CLIError(f"{option} {path}: this is an existing file, not a folder; give a new or existing folder "
                       "for the report.")
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise CLIError(f"{option} {path}: cannot create a folder there, {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CLIError(f"{option} {path}: cannot write in {existing} (permission denied); give a writable folder.")
    return path


def create_output_folder(option: str, path) -> Path:
    """Create the report folder (and missing parents) and make sure a file can be written in it.

    When it cannot, the folders this call created are removed again and a :class:`CLIError` names the path.
    """
    path = Path(path)
    check_output_folder(option, path)
    missing = []  # the folders this call creates, deepest first
    folder = path
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        for created in missing:
            try:
                created.rmdir()
            except OSError:
                pass
        raise CLIError(f"{option} {path}: cannot write the report there ({err.strerror or err}).") from err
    return path


def check_output_file(option: str, path, in_place: bool = True) -> Path:
    """Refuse an output file that cannot be written: an existing folder, or a missing or unwritable parent.

    ``in_place``: the file is opened for writing (an existing one must then be writable itself); otherwise it
    is replaced by renaming a new file over it, which only needs a writable folder. Creates nothing.
    """
    path = Path(path)
    if path.is_dir():
        raise CLIError(f"{option} {path}: this is a folder; give a file name.")
    parent = path.parent
    if not parent.exists():
        raise CLIError(f"{option} {path}: the folder {parent} does not exist.")
    if not parent.is_dir():
        raise CLIError(f"{option} {path}: {parent} is a file, not a folder.")
    if not os.access(parent, os.W_OK | os.X_OK) or (in_place and path.exists() and not os.access(path, os.W_OK)):
        raise CLIError(f"{option} {path}: permission denied; give a writable location.")
    return path


def write_json_atomic(path, obj) -> Path:
    """Write ``obj`` as indented JSON to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(json.dumps(obj, indent=2))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_fit(option: str, path):
    """The :class:`probsnn.Fit` in the file ``path`` (``option`` names the argument in errors), with JAX's
    precision set to that of its parameters (float64 fits are evaluated in float64, float32 fits in float32)."""
    import jax

    from ..fitfile import load_fit

    path = Path(path)
    if not path.is_file():
        raise CLIError(f"{option} {path}: no such file" + ("; give the fit.nc file in it" if path.is_dir() else ""))
    fit = load_fit(path)
    jax.config.update("jax_enable_x64", fit.params.bias.dtype == "float64")
    return fit


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` of the sub-commands: the description as written (paragraphs and lists kept), and every option
    followed by its default (unless its help already says it in words: "default ...")."""

    def _get_help_string(self, action):
        if "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


_ROLE = re.compile(r":[a-z]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")


def plain_text(doc: str) -> str:
    """A module docstring as plain words for ``--help``: reST roles (``:func:`probsnn.load_fit```) become their
    target, double back-quotes and ``**`` emphasis are dropped."""
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1] if "~" in m.group(0) else m.group(1), doc)
    return text.replace("``", "").replace("**", "").strip()
