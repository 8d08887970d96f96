"""``probsnn report FIT``: draw the report of a ``probsnn fit`` run again from its fit file alone.

``FIT`` is the ``fit.nc`` that ``probsnn fit`` writes into its report folder (see :func:`probsnn.load_fit`).
The report (filters.png, raster_rate.png, ks.png, params.npz, summary.json and, for a fit with a posterior,
posterior_filters_*.png, credible_bands.npz, convergence.json, loo.json) is written into the output folder
with the tables printed as ``probsnn fit`` printed them: the same function draws it in both commands, from the
figure data, table rows and options the fit file holds. No recording is read and nothing is fitted again. When
the output folder is not the one holding FIT, a copy of FIT is written there too, so the new folder is a
complete report. As with ``probsnn fit``, summary.json says "incomplete" until the report is finished.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ._common import CLIError, HelpFormatter, check_output_folder, create_output_folder, plain_text, read_fit

__all__ = ["add_parser", "run"]


def run(args) -> int:
    """Read the fit file, check it holds a ``probsnn fit`` report, write the report; returns the exit status."""
    from .fit import FIT_FILE, mark_incomplete, write_report

    path = Path(args.fit)
    out = check_output_folder("--out", args.out if args.out is not None else path.parent)
    fit = read_fit("FIT", path)
    report = fit.summary["summary"].get("report")
    if report is None:
        raise CLIError(f"{path} is a probsnn fit without the report data of `probsnn fit` (it was written by "
                       "probsnn.save_fit); use probsnn.load_fit in Python, or `probsnn simulate` on it.")
    create_output_folder("--out", out)
    mark_incomplete(out, report["options"], "probsnn report")
    copy = out / FIT_FILE
    if not (copy.exists() and copy.resolve() == path.resolve()):
        shutil.copyfile(path, copy)
    return write_report(fit, out)


def add_parser(subparsers) -> None:
    """Register ``probsnn report``."""
    parser = subparsers.add_parser("report", help="draw the figures and tables of a fit report again from its "
                                                  "fit.nc file",
                                   description=plain_text(__doc__), formatter_class=HelpFormatter)
    parser.add_argument("fit", metavar="FIT", help="the fit.nc file written by probsnn fit")
    parser.add_argument("--out", default=None,
                        help="report folder, new or existing (default: the folder that holds FIT)")
    parser.set_defaults(func=run)

