"""The posterior report of ``probsnn fit --posterior laplace|nuts|svi``, on top of the MAP fits.

For every model the CLI fitted (stimulus-only, +history, +coupling), :func:`posterior_report` draws from
the Laplace approximation at the MAP fit (:func:`probsnn.laplace_posterior`, cheap: no refit), or runs NUTS
(:func:`probsnn.fit_nuts`) or SVI (:func:`probsnn.fit_svi`) on the training data with the same Gaussian
prior as the MAP fit (``--ridge``), then writes to the report folder

* ``posterior_filters_<model>.png``: posterior mean filters with 90% credible bands, and their numbers in
  ``credible_bands.npz`` (keys ``<model>__<stimulus|coupling>_filter__<mean|lower|upper|lags>``);
* ``loo.json`` and a printed table: PSIS-LOO of each model, with the log-likelihood summed over blocks of
  bins (leave-one-segment-out; per-bin for short recordings), and the models ranked by ArviZ ``compare``
  (rank, elpd difference, weight) only when the estimates are reliable: when some Pareto k exceeds ArviZ's
  threshold (at most 0.7) for any model, no ranking is printed or stored (``"comparison": "withheld"``),
  only each model's elpd estimate, its largest Pareto k and the reason, with what to do instead
  (:func:`loo_comparison`);
* ``convergence.json`` and a printed line per model: max R-hat, min bulk/tail ESS, divergences (NUTS and
  Laplace, whose independent draws are split into two chains; SVI draws come from the fitted guide, so
  R-hat/ESS say nothing about the fit and are not reported: its ELBO is, in ``convergence.json``).

Defaults are kept fast: a few hundred draws, two vectorised chains.
"""
from __future__ import annotations

import sys
import warnings

import numpy as np

from ..inference.idata import filter_credible_bands
from ._common import write_json_atomic

__all__ = ["posterior_fits", "write_posterior_report", "posterior_report", "loo_comparison"]

NUM_WARMUP, NUM_SAMPLES, NUM_CHAINS = 300, 300, 2


def posterior_fits(args, results: dict) -> dict:
    """Run the posterior fits of the CLI's models and summarise them (writes nothing).

    Parameters
    ----------
    args : argparse.Namespace
        The ``probsnn fit`` options (``posterior``, ``ridge``, ``seed``, ``quiet``).
    results : dict
        Per model name: ``net``, ``fit`` (MAPResult) and ``train`` (SpikeData), as built by ``probsnn fit``.

    Returns
    -------
    dict with ``method``, ``idata`` (per model), ``bands`` (the arrays of ``credible_bands.npz``), ``loo`` (the
    content of ``loo.json``: per model the elpd estimate, its largest Pareto k and, only when the comparison is
    reliable, rank, elpd difference and weight; see :func:`loo_comparison`) and ``convergence`` (per model).
    """
    from ..diagnostics import ConvergenceWarning, check_convergence
    from ..inference.laplace import laplace_posterior
    from ..inference.mcmc import fit_nuts
    from ..inference.svi import fit_svi
    from ..models.priors import GaussianPrior

    method = args.posterior
    if method not in ("laplace", "nuts", "svi"):
        raise ValueError(f"--posterior must be laplace, nuts or svi, got {method!r}.")
    ridge = getattr(args, "ridge", 0.0)
    prior = GaussianPrior(ridge=ridge) if ridge > 0 else GaussianPrior()
    quiet = bool(getattr(args, "quiet", False))
    seed = int(getattr(args, "seed", 0))
    idatas, convergence, bands = {}, {}, {}
    for name, res in results.items():
        net, train = res["net"], res["train"]
        block = 1 if train.n_bins * net.n_neurons * NUM_SAMPLES * NUM_CHAINS <= 2e7 else max(1, train.n_bins // 500)
        print(f"posterior ({method}) of the {name} model ...", file=sys.stderr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if method == "laplace":
                try:
                    idata = laplace_posterior(net, train, fit=res["fit"], num_samples=NUM_SAMPLES,
                                              num_chains=NUM_CHAINS, seed=seed, log_likelihood=block)
                except ValueError as err:  # e.g. a singular Hessian of an unregularised fit (--ridge 0)
                    print(f"warning: no Laplace posterior for the {name} model: {err}", file=sys.stderr)
                    continue
            elif method == "nuts":
                idata = fit_nuts(net, train, prior, num_warmup=NUM_WARMUP, num_samples=NUM_SAMPLES,
                                 num_chains=NUM_CHAINS, seed=seed, log_likelihood=block, progress=not quiet,
                                 warn=False)
            else:
                idata = fit_svi(net, train, prior, guide="mvn", num_steps=1500, num_samples=NUM_SAMPLES * NUM_CHAINS,
                                seed=seed, log_likelihood=block, progress=not quiet, warn=False)
        idatas[name] = idata
        if method == "svi":
            summary = dict(final_elbo=float(idata.attrs["final_elbo"]))
        else:
            summary = check_convergence(idata, warn=False)
        convergence[name] = {k: (v if not isinstance(v, (np.floating, np.integer)) else v.item())
                             for k, v in summary.items()}
        for var, band in filter_credible_bands(idata, 0.9).items():
            for key, value in band.items():
                bands[f"{name}__{var}__{key}"] = value
    # LOO needs the same pointwise layout for every model
    var = {name: ("obs" if "obs" in idata.log_likelihood else "obs_blocks") for name, idata in idatas.items()}
    if not idatas:
        loo = dict(comparison="withheld", reason="no model has a posterior", models={})
    elif len(set(var.values())) != 1:
        loo = dict(comparison="withheld", reason="the models' log-likelihoods have different pointwise layouts "
                                                 f"({var}): PSIS-LOO cannot compare them", models={})
    else:
        loo = loo_comparison(idatas, next(iter(var.values())))
    return dict(method=method, idata=idatas, bands=bands, convergence=convergence,
                loo=dict(method=method, pointwise=sorted(set(var.values())), **loo))


def write_posterior_report(out, method: str, bands: dict, convergence: dict, loo: dict, neuron_names,
                           dt: float) -> list:
    """Write and print the posterior report of :func:`posterior_fits`; returns the names of the files written.

    ``bands``, ``convergence`` and ``loo`` are the entries of :func:`posterior_fits`'s result (``probsnn report``
    reads them back from the fit file); ``neuron_names`` and ``dt`` label the figures.
    """
    from ..plots import plot_filter_bands

    models = list(convergence)
    for name in models:
        model_bands = {}
        for key, value in bands.items():
            model, var, field = key.split("__")
            if model == name:
                model_bands.setdefault(var, {})[field] = value
        fig = plot_filter_bands(model_bands, neuron_names, dt=dt,
                                title=f"{name} model: posterior ({method}), 90% bands")
        fig.savefig(out / f"posterior_filters_{name}.png", dpi=110)
        import matplotlib.pyplot as plt

        plt.close(fig)
    np.savez(out / "credible_bands.npz", **bands)
    if method != "svi":
        print(f"{'model':<10}{'max R-hat':>11}{'min ESS bulk':>14}{'min ESS tail':>14}{'divergences':>13}")
        for name, s in convergence.items():
            print(f"{name:<10}{s['max_rhat']:>11.4f}{s['min_ess_bulk']:>14.0f}{s['min_ess_tail']:>14.0f}{s['divergences']:>13d}")
    write_json_atomic(out / "convergence.json", dict(method=method, models=convergence))
    _print_loo(loo)
    write_json_atomic(out / "loo.json", loo)
    print(f"posterior report: posterior_filters_*.png, credible_bands.npz, loo.json, convergence.json in {out}/",
          file=sys.stderr)
    return [f"posterior_filters_{name}.png" for name in models] + ["credible_bands.npz", "convergence.json",
                                                                   "loo.json"]


def posterior_report(args, results: dict, out) -> dict:
    """:func:`posterior_fits` and :func:`write_posterior_report` into the folder ``out``.

    Returns :func:`posterior_fits`'s dict with ``files``, the names of the files written to ``out``.
    """
    fits = posterior_fits(args, results)
    names = next(iter(results.values()))["net"].neuron_names if results else ()
    dt = next(iter(results.values()))["train"].dt if results else 1.0
    fits["files"] = write_posterior_report(out, fits["method"], fits["bands"], fits["convergence"], fits["loo"],
                                           names, dt)
    return fits


def loo_comparison(idatas: dict, var_name: str) -> dict:
    """PSIS-LOO of each model and, only when every estimate is reliable, their ranking (ArviZ ``compare``).

    Parameters
    ----------
    idatas : dict
        Per model name, an ``InferenceData`` with a ``log_likelihood`` group holding ``var_name``.
    var_name : str
        The pointwise log-likelihood variable (``obs``: per bin, ``obs_blocks``: per block of bins).

    Returns
    -------
    dict
        ``models``: per model ``elpd_loo``, ``se``, ``p_loo``, ``max_pareto_k``, ``pareto_k_threshold`` (ArviZ's
        ``min(1 - 1/log10(S), 0.7)`` for ``S`` draws) and ``pareto_k_warning``; when the comparison is reliable
        also ``rank``, ``elpd_diff``, ``dse`` and ``weight``. ``comparison``: ``"ranked"`` (all Pareto k at or
        below the threshold), ``"withheld"`` (some above it: no rank, difference or weight is computed, since
        a ranking from those estimates could be wrong) or ``"single model"`` (nothing to rank). ``reason``: why
        the comparison is withheld, with what to do instead (``None`` otherwise).
    """
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loos = {name: az.loo(idata, var_name=var_name, pointwise=True) for name, idata in idatas.items()}
    models = {}
    for name, loo in loos.items():
        pareto_k = np.asarray(loo.pareto_k)
        threshold = float(getattr(loo, "good_k", 0.7))
        max_k = float(np.nanmax(pareto_k)) if pareto_k.size else float("nan")
        warn = bool(loo.warning) or not np.isfinite(max_k) or max_k > threshold
        models[name] = dict(elpd_loo=float(loo.elpd_loo), se=float(loo.se), p_loo=float(loo.p_loo), max_pareto_k=max_k,
                            pareto_k_threshold=threshold, pareto_k_warning=warn)
    unreliable = [name for name, row in models.items() if row["pareto_k_warning"]]
    if unreliable:
        worst = max(unreliable, key=lambda name: models[name]["max_pareto_k"])
        reason = (f"PSIS-LOO is unreliable for {unreliable}: Pareto k up to {models[worst]['max_pareto_k']:.2f} "
                  f"(threshold {models[worst]['pareto_k_threshold']:.2f}), i.e. leaving out some "
                  f"{'bins' if var_name == 'obs' else 'blocks of bins'} moves the posterior too much for the "
                  "importance-sampling estimate. For a ranking use --posterior nuts, a longer recording, or a "
                  "tighter prior (--ridge)")
        return dict(comparison="withheld", reason=reason, models=models)
    if len(loos) == 1:
        (name,) = models
        models[name].update(rank=0, elpd_diff=0.0, dse=0.0, weight=1.0)
        return dict(comparison="single model", reason=None, models=models)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare(loos, ic="loo")
    for name, row in table.iterrows():
        models[name].update(rank=int(row["rank"]), elpd_diff=float(row["elpd_diff"]), dse=float(row["dse"]),
                            weight=float(row["weight"]))
    models = {name: models[name] for name in table.index}  # best first
    return dict(comparison="ranked", reason=None, models=models)


def _print_loo(loo: dict) -> None:
    """The LOO table on stdout; when the comparison is withheld, the elpd estimates only and the reason on stderr."""
    models = loo["models"]
    if not models:
        print(f"warning: no PSIS-LOO table: {loo['reason']}", file=sys.stderr)
        return
    if loo["comparison"] == "withheld":
        print(f"{'model':<10}{'elpd_loo':>14}{'se':>10}{'p_loo':>9}{'max k':>8}")
        for name, row in models.items():
            print(f"{name:<10}{row['elpd_loo']:>14.1f}{row['se']:>10.1f}{row['p_loo']:>9.1f}{row['max_pareto_k']:>8.2f}")
        print(f"warning: model comparison withheld (no ranking, elpd differences or weights): {loo['reason']}.",
              file=sys.stderr)
        return
    print(f"{'model':<10}{'rank':>5}{'elpd_loo':>14}{'se':>10}{'elpd_diff':>12}{'dse':>10}{'p_loo':>9}{'max k':>8}")
    for name, row in models.items():
        print(f"{name:<10}{row['rank']:>5d}{row['elpd_loo']:>14.1f}{row['se']:>10.1f}{row['elpd_diff']:>12.1f}"
              f"{row['dse']:>10.1f}{row['p_loo']:>9.1f}{row['max_pareto_k']:>8.2f}")
