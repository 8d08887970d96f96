"""``probsnn fit``: fit GLM spiking models to spike data and write a report.

``probsnn fit`` with no argument fits the embedded grasshopper receptor recording (shipped by nitime);
``--data PATH`` fits a user's recording, recognised by what it is: an NWB file (its Units table; choose units
with ``--units``, stimulus or behaviour TimeSeries with ``--stimulus``, trials with ``--trials``; bins of ``--dt``),
a phy / Kilosort folder (``--units good`` by default), an ``.npz`` (see :func:`probsnn.datasets.load_npz`), or the
Pillow RGC files. With trials, every filter restarts at each trial and the held-out part is the last trials.
It fits a stimulus-only (LNP) model, a model with spike history and, for several neurons, a coupled
model; prints train and held-out bits/spike, the time-rescaling KS statistic and AIC per neuron; and
writes a report folder (filters with ±2 SE bands, raster vs predicted rate, KS plot, parameters as
``.npz``, a JSON summary and ``fit.nc``).

``fit.nc`` keeps the fit: the network and MAP fit of the last (richest) model with its Laplace covariance, its
posterior draws with ``--posterior``, the training data, and the data of every figure and table of the report
(:func:`probsnn.save_fit`; read it with :func:`probsnn.load_fit`). The report is drawn from that file, so
``probsnn report fit.nc`` draws the same report again without the recording, and ``probsnn simulate fit.nc``
draws spike trains from the fitted network.

Everything is checked before any fitting and before the report folder is created: each option's value
(type and range), ``--cells`` against the neurons of the data (distinct indices in 0..n-1), the filter
windows against the bin width, and the report folder (it must be a folder, new or existing, that can be
created and written). Bad files or options give a one-line error and exit status 2, and leave no folder.

``summary.json`` tells whether the folder holds a finished run: a run writing into a folder first replaces
any ``summary.json`` there by one with ``"status": "incomplete"`` (and no results), and writes the full
summary, with ``"status": "complete"`` and the list of files the run wrote, only at the very end, atomically
(a temporary file renamed into place). After an interrupted or failed run the folder therefore holds an
``incomplete`` summary, never a previous run's summary that would pass for this one.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ._common import (
    CLIError,
    HelpFormatter,
    cells,
    check_output_folder,
    create_output_folder,
    integer,
    number,
    plain_text,
    write_json_atomic,
)

__all__ = ["add_parser", "run", "write_report", "mark_incomplete", "FIT_FILE"]


_RECORDING_OPTIONS = (("--units", "units"), ("--stimulus", "stimulus"), ("--trials", "trials"),
                      ("--quality-column", "quality_column"))


def _recording_options(args, kind: str) -> dict:
    """The loader options given on the command line, refused where the data kind does not take them."""
    takes = {"nwb": {"units", "stimulus", "trials", "quality_column"}, "phy": {"units"}}.get(kind, set())
    given = {name: getattr(args, name, None) for _, name in _RECORDING_OPTIONS}
    for option, name in _RECORDING_OPTIONS:
        if given[name] is not None and name not in takes:
            what = {"nwb": "an NWB file", "phy": "a phy folder", "npz": "an .npz file",
                    "rgc": "the Pillow RGC files"}.get(kind, kind)
            raise CLIError(f"{option} does not apply to {what} (it applies to NWB files"
                           + (" and phy folders" if name == "units" else "") + ")")
    options = {name: value for name, value in given.items() if value is not None}
    if "units" in options:
        units = options["units"]
        if units == "all":
            options["units"] = None
        elif "," in units or units.lstrip("-").isdigit():
            options["units"] = [int(u) if u.lstrip("-").isdigit() else u for u in units.split(",") if u]
    if "stimulus" in options:
        options["stimulus"] = [name for name in options["stimulus"].split(",") if name]
    return options


def _recording_kind(path: Path) -> str:
    """What ``--data`` names: "rgc" (the Pillow data_RGCs folder or a .mat in it), "phy", "nwb" or "npz"."""
    from ..loaders import _is_hdf5

    if path.suffix == ".mat" or (path.is_dir() and (path / "Stim.mat").exists()):
        return "rgc"
    if path.is_dir():
        return "phy"
    return "nwb" if _is_hdf5(path) else "npz"


def _load(args):
    from .. import datasets, loaders

    if args.data is None:
        _recording_options(args, "the default grasshopper recording")
        data = datasets.load_grasshopper(recording=args.recording or 1, dt=args.dt or 0.001)
        return _select_cells(data, args.cells), f"grasshopper receptor {args.recording or 1} (nitime)"
    path = Path(args.data)
    if not path.exists():
        raise CLIError(f"--data {path}: no such file or folder")
    kind = _recording_kind(path)
    options = _recording_options(args, kind)
    if kind in ("rgc", "npz") and args.dt is not None:
        raise CLIError(f"--dt applies to recordings of spike times (NWB, phy, the default recording); the --data "
                       f"{kind} file brings its own bins (drop --dt)")
    if kind == "rgc":
        folder = path if path.is_dir() else path.parent
        data, source = datasets.load_pillow_rgc(folder), f"Pillow RGC recordings ({folder})"
    elif kind == "npz":
        data, source = datasets.load_npz(path), str(path)
    else:
        dt = args.dt if args.dt is not None else 0.001
        data = (loaders.load_nwb if kind == "nwb" else loaders.load_phy)(path, dt, **options)  # kind known here
        described = ", ".join(f"{k}={v}" for k, v in options.items())
        source = f"{path} ({'NWB' if kind == 'nwb' else 'phy'}, dt={dt:g} s{', ' + described if described else ''})"
    return _select_cells(data, args.cells), source


def _select_cells(data, selected):
    """The neurons ``selected`` (distinct 0-based indices, checked against the data), or all when None."""
    if selected is None:
        return data
    n = data.n_neurons
    outside = [c for c in selected if not 0 <= c < n]
    if outside:
        held = f"{n} neuron{'s' if n != 1 else ''}"
        raise CLIError(f"--cells {','.join(map(str, selected))}: index {outside[0]} is out of range; the data hold "
                       f"{held}, so the valid indices are 0..{n - 1}.")
    if len(set(selected)) != len(selected):
        raise CLIError(f"--cells {','.join(map(str, selected))}: give each neuron index once.")
    names = tuple(data.neuron_names[c] for c in selected) if data.neuron_names else ()
    observed = None if data.observed is None else data.observed[:, selected]
    return type(data)(data.counts[:, selected], data.dt, data.stimulus, names, data.t_start,
                      trial_starts=data.trial_starts, observed=observed)


def _check_options(args) -> Path:
    """Check the options that need no data (also when ``run`` is called with a hand-made namespace).

    Returns the report folder, checked creatable and writable but not created.
    """
    if not (isinstance(args.test_fraction, (int, float)) and 0 < args.test_fraction < 1):
        raise CLIError(f"--test-fraction must lie strictly between 0 and 1, got {args.test_fraction}")
    if not (isinstance(args.ridge, (int, float)) and np.isfinite(args.ridge) and args.ridge >= 0):
        raise CLIError(f"--ridge must be a finite number >= 0, got {args.ridge}")
    if args.data is not None and args.recording is not None:
        raise CLIError("--recording applies to the default grasshopper recording only; the --data file brings its "
                       "own neurons (drop it, or drop --data).")
    return check_output_folder("--out", args.out)


def _bins(seconds: float, dt: float, name: str) -> int:
    n = int(round(seconds / dt))
    if n < 2:
        raise CLIError(f"{name}={seconds * 1e3:g} ms is shorter than two bins of {dt * 1e3:g} ms")
    return n


def _model_specs(data, args):
    from .. import basis as B

    if args.basis == "identity":
        stim_basis = B.identity(_bins(args.stimulus_window, data.dt, "--stimulus-window"), lag_offset=0)
        hist_basis = B.identity(_bins(args.history_window, data.dt, "--history-window"), lag_offset=1)
    else:
        stim_basis = B.raised_cosine_log(args.stimulus_basis, _bins(args.stimulus_window, data.dt, "--stimulus-window"),
                                         stretch=2.0, lag_offset=0)
        hist_basis = B.raised_cosine_log(args.history_basis, _bins(args.history_window, data.dt, "--history-window"),
                                         lag_offset=1)
    has_stim = data.stimulus is not None
    specs = []
    if has_stim:
        specs.append(("stimulus", dict(stimulus_basis=stim_basis, history_basis=None)))
    specs.append(("history", dict(stimulus_basis=stim_basis if has_stim else None, history_basis=hist_basis,
                                  coupling=False)))
    if data.n_neurons > 1:
        specs.append(("coupled", dict(stimulus_basis=stim_basis if has_stim else None, history_basis=hist_basis,
                                      coupling=True)))
    return specs


def run(args) -> int:
    """Fit the models, print the table and write the report folder; returns the exit status.

    All checks (options, data, ``--cells``, filter windows, the report folder) come before the folder is
    created and before any fitting; a failed check raises :class:`CLIError` and leaves nothing behind.
    """
    out = _check_options(args)
    import jax

    jax.config.update("jax_enable_x64", not args.float32)
    from tqdm.auto import tqdm

    from .. import diagnostics
    from ..fitfile import load_fit, save_fit
    from ..inference.map import fit_map
    from ..models.priors import GaussianPrior
    from ..neurons.glm import GLMNetwork

    data, source = _load(args)
    if args.observation == "bernoulli" and not data.is_binary:
        raise CLIError("--observation bernoulli needs at most one spike per bin; use --observation poisson (or, "
                       "for the default recording, a smaller --dt)")
    train, test = data.split(1.0 - args.test_fraction)
    for name, part in (("training", train), ("held-out", test)):
        if np.any(part.n_spikes == 0):
            empty = [n for n, c in zip(part.neuron_names, part.n_spikes) if c == 0]
            raise CLIError(f"neuron(s) {empty} have no spikes in the {name} part; drop them with --cells")
    specs = _model_specs(data, args)
    # every check passed: now (and only now) the report folder is created, and marked as holding no finished run
    create_output_folder("--out", out)
    options = dict(source=source, test_fraction=args.test_fraction, observation=args.observation, basis=args.basis,
                   ridge=args.ridge, posterior=args.posterior)
    mark_incomplete(out, options, "probsnn fit")
    print(f"probsnn fit: {source}", file=sys.stderr)
    print(f"  {data}", file=sys.stderr)
    print(f"  train {train.n_bins} bins, held-out {test.n_bins} bins "
          f"(last {args.test_fraction:.0%} of the recording)", file=sys.stderr)

    prior = GaussianPrior(ridge=args.ridge) if args.ridge > 0 else None
    train_rate = train.counts.mean(axis=0)
    results, rows, saved = {}, [], {}
    for name, spec in tqdm(specs, desc="models", disable=args.quiet, file=sys.stderr):
        net = GLMNetwork(data.n_neurons,
                         n_stimulus_dims=data.n_stimulus_dims if spec["stimulus_basis"] is not None else 0,
                         observation=args.observation, neuron_names=data.neuron_names, **spec)
        train_m = (train if spec["stimulus_basis"] is not None
                   else type(train)(train.counts, train.dt, None, train.neuron_names, train.t_start))
        test_m = (test if spec["stimulus_basis"] is not None
                  else type(test)(test.counts, test.dt, None, test.neuron_names, test.t_start))
        start = time.perf_counter()
        fit = fit_map(net, train_m, prior=prior, progress=False if args.quiet else None)
        elapsed = time.perf_counter() - start
        bits_train = diagnostics.bits_per_spike(net, fit.params, train_m)
        bits_test = diagnostics.bits_per_spike(net, fit.params, test_m, reference_rate=train_rate)
        ks = diagnostics.time_rescaling_ks(net, fit.params, test_m, seed=args.seed)
        n_params = net.feature_mask.sum(axis=1)
        aic = 2 * n_params - 2 * fit.log_likelihood_per_neuron
        results[name] = dict(net=net, fit=fit, ks=ks, train=train_m, test=test_m)
        for i, neuron in enumerate(data.neuron_names):
            rows.append(dict(model=name, neuron=neuron, train_bits_per_spike=float(bits_train[i]),
                             test_bits_per_spike=float(bits_test[i]), ks_statistic=float(ks.statistic[i]),
                             ks_pvalue=float(ks.pvalue[i]), aic=float(aic[i]), n_parameters=int(n_params[i]),
                             converged=bool(fit.converged[i]), fit_seconds=elapsed))
        saved[f"{name}/stimulus_weights"] = np.asarray(fit.params.stimulus_weights)
        saved[f"{name}/coupling_weights"] = np.asarray(fit.params.coupling_weights)
        saved[f"{name}/bias"] = np.asarray(fit.params.bias)
        for field, value in zip(("stimulus_weights", "coupling_weights", "bias"), fit.standard_errors):
            saved[f"{name}/{field}_se"] = np.asarray(value)

    posterior = None
    if args.posterior is not None:
        # Posterior on top of the MAP fits (Laplace, NUTS or SVI): credible bands, LOO, R-hat/ESS.
        from .posterior import posterior_fits

        posterior = posterior_fits(args, results)

    best = specs[-1][0]
    res = results[best]
    extras = {f"params__{k.replace('/', '__')}": v for k, v in saved.items()}
    extras.update(test_counts=np.asarray(res["test"].counts),
                  test_rate=res["net"].predicted_rate(res["fit"].params, res["test"]),
                  ks_statistic=res["ks"].statistic, ks_pvalue=res["ks"].pvalue,
                  ks_rescaled=np.concatenate([np.asarray(z, float) for z in res["ks"].rescaled]),
                  ks_neuron=np.repeat(np.arange(data.n_neurons), [len(z) for z in res["ks"].rescaled]))
    report = dict(options=options, best=best, source=source, n_bins=data.n_bins, dt=data.dt,
                  neurons=list(data.neuron_names), test_t_start=res["test"].t_start, rows=rows)
    idata = None
    if posterior is not None:
        extras.update({f"bands__{k}": v for k, v in posterior["bands"].items()})
        report.update(posterior=dict(method=posterior["method"], convergence=posterior["convergence"],
                                     loo=posterior["loo"]))
        idata = posterior["idata"].get(best)
    save_fit(out / FIT_FILE, res["net"], res["fit"], res["train"], posterior=idata, summary=dict(report=report),
             extras=extras, keep_log_likelihood=False)
    return write_report(load_fit(out / FIT_FILE), out)


FIT_FILE = "fit.nc"
REPORT_FILES = ("filters.png", "raster_rate.png", "ks.png", "params.npz", FIT_FILE, "summary.json")


def mark_incomplete(out: Path, options: dict, command: str) -> None:
    """Replace any ``summary.json`` in ``out`` by one that says the folder holds no finished run (yet)."""
    write_json_atomic(out / "summary.json", dict(
        status="incomplete", **options,
        note=f"{command} started writing this folder and has not finished (interrupted or failed): the other "
             "files here may be from an earlier run. The full summary replaces this one when a run finishes."))


def write_report(fit, out: Path) -> int:
    """Draw every figure and table of the fit report of ``fit`` (a :class:`probsnn.Fit` that ``probsnn fit`` wrote)
    into the folder ``out``, print the tables, and write ``summary.json`` last; returns the exit status.

    ``probsnn fit`` calls it on the file it has just written, ``probsnn report`` on a file it is given, so both
    write the same report: the fit file holds the table rows, the options, the data's bins and every figure's
    data (held-out counts and predicted rates, the rescaled intervals of the KS test, the credible bands).
    """
    from .. import plots
    from ..data import SpikeData
    from ..diagnostics import KSResult

    report, extras = fit.summary["summary"]["report"], fit.extras
    rows, net, dt, names = report["rows"], fit.network, report["dt"], report["neurons"]
    _print_table(rows)
    written = []
    if "posterior" in report:
        from .posterior import write_posterior_report

        post = report["posterior"]
        bands = {k[len("bands__"):]: v for k, v in extras.items() if k.startswith("bands__")}
        written = write_posterior_report(out, post["method"], bands, post["convergence"], post["loo"], names, dt)
    import matplotlib.pyplot as plt

    best, source = report["best"], report["source"]
    title = f"{best} model, {source}"
    fig = plots.plot_filters(net, fit.params, fit.filter_standard_errors(), dt=dt, title=title)
    fig.savefig(out / "filters.png", dpi=120)
    test = SpikeData(extras["test_counts"], dt, None, tuple(names), report["test_t_start"])
    fig = plots.plot_raster_rate(test, extras["test_rate"], title=f"held-out data: {title}")
    fig.savefig(out / "raster_rate.png", dpi=120)
    ks = KSResult(extras["ks_statistic"], extras["ks_pvalue"],
                  [extras["ks_rescaled"][extras["ks_neuron"] == i] for i in range(len(names))])
    fig = plots.plot_ks(ks, names, title=f"time-rescaling KS, held-out data ({best} model)")
    fig.savefig(out / "ks.png", dpi=120)
    plt.close("all")
    np.savez(out / "params.npz", **{k[len("params__"):]: v for k, v in extras.items() if k.startswith("params__")})
    files = list(REPORT_FILES) + written
    summary = dict(status="complete", **report["options"], n_bins=report["n_bins"], dt=dt, neurons=names,
                   files=files, rows=rows)
    write_json_atomic(out / "summary.json", summary)  # last: its "complete" status vouches for the files
    print(f"report written to {out}/ ({', '.join(REPORT_FILES)})", file=sys.stderr)
    if not all(r["converged"] for r in rows):
        print("warning: some fits did not converge (see the 'conv' column)", file=sys.stderr)
    return 0


def _print_table(rows) -> None:
    header = (f"{'model':<10}{'neuron':<16}{'bits/spk train':>15}{'bits/spk test':>15}"
              f"{'KS (test)':>11}{'KS p':>9}{'AIC':>12}{'conv':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['model']:<10}{r['neuron']:<16}{r['train_bits_per_spike']:>15.3f}{r['test_bits_per_spike']:>15.3f}"
              f"{r['ks_statistic']:>11.3f}{r['ks_pvalue']:>9.2g}{r['aic']:>12.1f}"
              f"{'yes' if r['converged'] else 'NO':>6}")


def add_parser(subparsers) -> None:
    """Register ``probsnn fit``: every numeric option has a type that checks it (one-line errors)."""
    fit = subparsers.add_parser("fit", help="fit GLM spiking models to spike data and write a report",
                                description=plain_text(__doc__), formatter_class=HelpFormatter)
    fit.add_argument("--data", help="an .npz of spike counts/times, or the Pillow data_RGCs folder / .npz "
                                    "(default: the grasshopper receptor recording shipped with nitime)")
    fit.add_argument("--recording", type=integer("--recording"), choices=(1, 2), default=None,
                     help="grasshopper recording, 1 or 2 (default 1; not with --data)")
    fit.add_argument("--cells", type=cells,
                     help="distinct 0-based neuron indices to keep, e.g. 0,2 (checked against the data: 0..n-1; "
                          "default: all neurons)")
    fit.add_argument("--dt", type=number("--dt", 0.0, low_open=True),
                     help="bin width in seconds for recordings of spike times: the default recording, an NWB file "
                          "or a phy folder (default 0.001; not for an .npz or the RGC files, which are binned)")
    fit.add_argument("--units",
                     help="units of an NWB file or phy folder: a curation label (e.g. good: the units whose quality "
                          "column, or phy's cluster_group.tsv / cluster_KSLabel.tsv, says so), all, or a "
                          "comma-separated list of unit ids or names (default: all units of an NWB file, the good "
                          "units of a phy folder)")
    fit.add_argument("--quality-column",
                     help="the NWB Units column holding the curation label that --units matches (default quality)")
    fit.add_argument("--stimulus",
                     help="comma-separated names of NWB TimeSeries (stimulus or behaviour) to use as the stimulus, "
                          "resampled to the bins by the bin mean (default: none)")
    fit.add_argument("--trials", nargs="?", const="trials", default=None,
                     help="use an NWB interval table as trials (default table when given without a name: trials): "
                          "each trial is binned from its start, filters restart at every trial, and the held-out "
                          "part is the last trials (default: one continuous recording)")
    fit.add_argument("--out", default="probsnn-report",
                     help="report folder, new or existing (default ./probsnn-report); checked writable before any "
                          "fitting and created only once every option is checked. Its summary.json says "
                          '"status": "incomplete" while a run writes the folder and "complete" (written last, '
                          "atomically) once the run has finished")
    fit.add_argument("--observation", choices=("poisson", "bernoulli"), default="poisson",
                     help="spike-count law: Poisson counts, or Bernoulli (at most one spike per bin)")
    fit.add_argument("--basis", choices=("log-cosine", "identity"), default="log-cosine",
                     help="filter basis: log-time raised cosines (default) or one weight per lag")
    fit.add_argument("--stimulus-basis", type=integer("--stimulus-basis", 1), default=8,
                     help="stimulus basis functions, >= 1 (default 8)")
    fit.add_argument("--history-basis", type=integer("--history-basis", 1), default=8,
                     help="history basis functions, >= 1 (default 8)")
    fit.add_argument("--stimulus-window", type=number("--stimulus-window", 0.0, low_open=True), default=0.03,
                     help="stimulus filter length, s, at least two bins (default 0.03)")
    fit.add_argument("--history-window", type=number("--history-window", 0.0, low_open=True), default=0.05,
                     help="history filter length, s, at least two bins (default 0.05)")
    fit.add_argument("--test-fraction", type=number("--test-fraction", 0.0, 1.0, low_open=True, high_open=True),
                     default=0.2, help="held-out fraction at the end, in (0, 1) (default 0.2)")
    fit.add_argument("--ridge", type=number("--ridge", 0.0), default=0.01,
                     help="precision of a Gaussian prior on filter weights, >= 0 (default 0.01, i.e. sd 10: keeps "
                          "refractory weights finite; 0 for pure maximum likelihood)")
    fit.add_argument("--seed", type=integer("--seed", 0, 2**32 - 1), default=0,
                     help="seed of the randomised KS test and of the posterior draws, 0..2**32-1 (default 0)")
    fit.add_argument("--float32", action="store_true", help="compute in float32 (default float64)")
    fit.add_argument("--quiet", action="store_true", help="no progress bars on stderr (default: progress bars)")
    fit.add_argument("--posterior", choices=("laplace", "nuts", "svi"), default=None,
                     help="add a posterior report (credible bands, PSIS-LOO table, R-hat/ESS): Laplace draws at "
                          "the MAP, NUTS or SVI (default: none; the MAP fit's Laplace standard errors are always "
                          "in params.npz). The models are ranked only when PSIS-LOO is reliable for all of them "
                          "(no Pareto k above the ArviZ threshold); otherwise their elpd estimates are reported "
                          "and the ranking is withheld")
    fit.set_defaults(func=run)
