"""``probsnn fit``: fit GLM spiking models to spike data and write a report.

``probsnn fit`` with no argument fits the embedded grasshopper receptor recording (shipped by nitime);
``--data PATH`` fits a user's ``.npz`` (see :func:`probsnn.datasets.load_npz`) or the Pillow RGC files.
It fits a stimulus-only (LNP) model, a model with spike history and, for several neurons, a coupled
model; prints train and held-out bits/spike, the time-rescaling KS statistic and AIC per neuron; and
writes a report folder (filters with ±2 SE bands, raster vs predicted rate, KS plot, parameters as
``.npz`` and a JSON summary). Bad files or options give a one-line error and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ._common import CLIError, cells, positive

__all__ = ["add_parser", "run"]


def _load(args):
    from .. import datasets

    if args.data is None:
        return (datasets.load_grasshopper(recording=args.recording, dt=args.dt or 0.001),
                f"grasshopper receptor {args.recording} (nitime)")
    path = Path(args.data)
    if not path.exists():
        raise CLIError(f"--data {path}: no such file or folder")
    if path.is_dir() or path.suffix == ".mat":
        folder = path if path.is_dir() else path.parent
        data = datasets.load_pillow_rgc(folder, cells=args.cells)
        return data, f"Pillow RGC recordings ({folder})"
    if path.suffix != ".npz":
        raise CLIError(f"--data {path}: expected an .npz file or a data_RGCs folder of .mat files")
    data = datasets.load_npz(path)
    if args.cells is not None:
        data = type(data)(data.counts[:, args.cells], data.dt, data.stimulus,
                          tuple(data.neuron_names[c] for c in args.cells), data.t_start)
    return data, str(path)


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
    """Fit the models, print the table and write the report folder; returns the exit status."""
    import jax

    jax.config.update("jax_enable_x64", not args.float32)
    from tqdm.auto import tqdm

    from .. import diagnostics, plots
    from ..inference.map import fit_map
    from ..models.priors import GaussianPrior
    from ..neurons.glm import GLMNetwork

    data, source = _load(args)
    if not 0 < args.test_fraction < 1:
        raise CLIError(f"--test-fraction must lie strictly between 0 and 1, got {args.test_fraction}")
    if args.observation == "bernoulli" and not data.is_binary:
        raise CLIError("--observation bernoulli needs at most one spike per bin; use a smaller --dt or poisson")
    train, test = data.split(1.0 - args.test_fraction)
    for name, part in (("training", train), ("held-out", test)):
        if np.any(part.n_spikes == 0):
            empty = [n for n, c in zip(part.neuron_names, part.n_spikes) if c == 0]
            raise CLIError(f"neuron(s) {empty} have no spikes in the {name} part; drop them with --cells")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"probsnn fit: {source}", file=sys.stderr)
    print(f"  {data}", file=sys.stderr)
    print(f"  train {train.n_bins} bins, held-out {test.n_bins} bins "
          f"(last {args.test_fraction:.0%} of the recording)", file=sys.stderr)

    if not (np.isfinite(args.ridge) and args.ridge >= 0):
        raise CLIError(f"--ridge must be >= 0, got {args.ridge}")
    prior = GaussianPrior(ridge=args.ridge) if args.ridge > 0 else None
    train_rate = train.counts.mean(axis=0)
    results, rows, saved = {}, [], {}
    specs = _model_specs(data, args)
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

    # the table
    header = (f"{'model':<10}{'neuron':<16}{'bits/spk train':>15}{'bits/spk test':>15}"
              f"{'KS (test)':>11}{'KS p':>9}{'AIC':>12}{'conv':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['model']:<10}{r['neuron']:<16}{r['train_bits_per_spike']:>15.3f}{r['test_bits_per_spike']:>15.3f}"
              f"{r['ks_statistic']:>11.3f}{r['ks_pvalue']:>9.2g}{r['aic']:>12.1f}"
              f"{'yes' if r['converged'] else 'NO':>6}")

    if args.posterior is not None:
        # Posterior on top of the MAP fits (Laplace, NUTS or SVI): credible bands, LOO, R-hat/ESS.
        from .posterior import posterior_report

        posterior_report(args, results, out)

    best = specs[-1][0]
    res = results[best]
    net, fit = res["net"], res["fit"]
    title = f"{best} model, {source}"
    fig = plots.plot_filters(net, fit.params, fit.filter_standard_errors(net), dt=data.dt, title=title)
    fig.savefig(out / "filters.png", dpi=120)
    rate = net.predicted_rate(fit.params, res["test"])
    fig = plots.plot_raster_rate(res["test"], rate, title=f"held-out data: {title}")
    fig.savefig(out / "raster_rate.png", dpi=120)
    fig = plots.plot_ks(res["ks"], data.neuron_names, title=f"time-rescaling KS, held-out data ({best} model)")
    fig.savefig(out / "ks.png", dpi=120)
    np.savez(out / "params.npz", **{k.replace("/", "__"): v for k, v in saved.items()})
    summary = dict(source=source, n_bins=data.n_bins, dt=data.dt, neurons=list(data.neuron_names),
                   test_fraction=args.test_fraction, observation=args.observation, basis=args.basis,
                   ridge=args.ridge, rows=rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"report written to {out}/ (filters.png, raster_rate.png, ks.png, params.npz, summary.json)", file=sys.stderr)
    if not all(r["converged"] for r in rows):
        print("warning: some fits did not converge (see the 'conv' column)", file=sys.stderr)
    return 0


def add_parser(subparsers) -> None:
    """Register ``probsnn fit``."""
    fit = subparsers.add_parser("fit", help="fit GLM spiking models to spike data and write a report",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("--data", help="an .npz of spike counts/times, or the Pillow data_RGCs folder / .npz "
                                    "(default: the grasshopper receptor recording shipped with nitime)")
    fit.add_argument("--recording", type=int, choices=(1, 2), default=1, help="grasshopper recording (default 1)")
    fit.add_argument("--cells", type=cells, help="0-based neuron indices to keep, e.g. 0,2")
    fit.add_argument("--dt", type=positive(float), help="bin width in seconds for the default data (default 0.001)")
    fit.add_argument("--out", default="probsnn-report", help="report folder (default ./probsnn-report)")
    fit.add_argument("--observation", choices=("poisson", "bernoulli"), default="poisson")
    fit.add_argument("--basis", choices=("log-cosine", "identity"), default="log-cosine",
                     help="filter basis: log-time raised cosines (default) or one weight per lag")
    fit.add_argument("--stimulus-basis", type=positive(int), default=8, help="stimulus basis functions (default 8)")
    fit.add_argument("--history-basis", type=positive(int), default=8, help="history basis functions (default 8)")
    fit.add_argument("--stimulus-window", type=positive(float), default=0.03,
                     help="stimulus filter length, s (default 0.03)")
    fit.add_argument("--history-window", type=positive(float), default=0.05,
                     help="history filter length, s (default 0.05)")
    fit.add_argument("--test-fraction", type=float, default=0.2, help="held-out fraction at the end (default 0.2)")
    fit.add_argument("--ridge", type=float, default=0.01,
                     help="precision of a Gaussian prior on filter weights (default 0.01, i.e. sd 10: keeps "
                          "refractory weights finite; 0 for pure maximum likelihood)")
    fit.add_argument("--seed", type=int, default=0, help="seed of the randomised KS test")
    fit.add_argument("--float32", action="store_true", help="compute in float32 (default float64)")
    fit.add_argument("--quiet", action="store_true", help="no progress bars")
    fit.add_argument("--posterior", choices=("laplace", "nuts", "svi"), default=None,
                     help="add a posterior report (credible bands, PSIS-LOO table, R-hat/ESS): Laplace draws at "
                          "the MAP, NUTS or SVI (default: none; the MAP fit's Laplace standard errors are always "
                          "in params.npz)")
    fit.set_defaults(func=run)
