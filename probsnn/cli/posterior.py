"""The posterior report of ``probsnn fit --posterior laplace|nuts|svi``, on top of the MAP fits.

For every model the CLI fitted (stimulus-only, +history, +coupling), :func:`posterior_report` draws from
the Laplace approximation at the MAP fit (:func:`probsnn.laplace_posterior`, cheap: no refit), or runs NUTS
(:func:`probsnn.fit_nuts`) or SVI (:func:`probsnn.fit_svi`) on the training data with the same Gaussian
prior as the MAP fit (``--ridge``), then writes to the report folder

* ``posterior_filters_<model>.png``: posterior mean filters with 90% credible bands, and their numbers in
  ``credible_bands.npz`` (keys ``<model>__<stimulus|coupling>_filter__<mean|lower|upper|lags>``);
* ``loo.json`` and a printed table: PSIS-LOO (ArviZ ``compare``) of the models, with the log-likelihood
  summed over blocks of bins (leave-one-segment-out; per-bin for short recordings);
* ``convergence.json`` and a printed line per model: max R-hat, min bulk/tail ESS, divergences (NUTS and
  Laplace, whose independent draws are split into two chains; SVI draws come from the fitted guide, so
  R-hat/ESS say nothing about the fit and are not reported: its ELBO is, in ``convergence.json``).

Defaults are kept fast: a few hundred draws, two vectorised chains.
"""
from __future__ import annotations

import json
import sys
import warnings

import numpy as np

from ..inference.idata import filter_credible_bands
from ..plots import plot_posterior_filters

__all__ = ["posterior_report"]

NUM_WARMUP, NUM_SAMPLES, NUM_CHAINS = 300, 300, 2


def posterior_report(args, results: dict, out) -> dict:
    """Run the posterior fits for the CLI and write credible bands, the LOO table and R-hat/ESS summary.

    Parameters
    ----------
    args : argparse.Namespace
        The ``probsnn fit`` options (``posterior``, ``ridge``, ``seed``, ``quiet``).
    results : dict
        Per model name: ``net``, ``fit`` (MAPResult) and ``train`` (SpikeData), as built by ``probsnn fit``.
    out : pathlib.Path
        The report folder.

    Returns
    -------
    dict with ``idata`` (per model), ``loo`` (rows of the comparison) and ``convergence`` (per model).
    """
    import arviz as az

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
        fig = plot_posterior_filters(net, idata, dt=train.dt, title=f"{name} model: posterior ({method}), 90% bands")
        fig.savefig(out / f"posterior_filters_{name}.png", dpi=110)
        import matplotlib.pyplot as plt

        plt.close(fig)
    np.savez(out / "credible_bands.npz", **bands)
    if method != "svi":
        print(f"{'model':<10}{'max R-hat':>11}{'min ESS bulk':>14}{'min ESS tail':>14}{'divergences':>13}")
        for name, s in convergence.items():
            print(f"{name:<10}{s['max_rhat']:>11.4f}{s['min_ess_bulk']:>14.0f}{s['min_ess_tail']:>14.0f}{s['divergences']:>13d}")
    (out / "convergence.json").write_text(json.dumps(dict(method=method, models=convergence), indent=2))
    # LOO needs the same pointwise layout for every model
    var = {name: ("obs" if "obs" in idata.log_likelihood else "obs_blocks") for name, idata in idatas.items()}
    loo_rows = {}
    if len(set(var.values())) == 1 and idatas:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if len(idatas) > 1:
                table = az.compare(idatas, ic="loo", var_name=next(iter(var.values())))
            else:  # one model: its PSIS-LOO row, in the same table layout
                name, idata = next(iter(idatas.items()))
                loo = az.loo(idata, var_name=var[name])
                table = {name: dict(rank=0, elpd_loo=float(loo.elpd_loo), se=float(loo.se), elpd_diff=0.0, dse=0.0,
                                    p_loo=float(loo.p_loo), weight=1.0)}.items()
        rows = table.iterrows() if hasattr(table, "iterrows") else table
        print(f"{'model':<10}{'rank':>5}{'elpd_loo':>14}{'se':>10}{'elpd_diff':>12}{'dse':>10}{'p_loo':>9}")
        for name, row in rows:
            print(f"{name:<10}{int(row['rank']):>5}{row['elpd_loo']:>14.1f}{row['se']:>10.1f}{row['elpd_diff']:>12.1f}"
                  f"{row['dse']:>10.1f}{row['p_loo']:>9.1f}")
            loo_rows[name] = {k: float(row[k])
                              for k in ("rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight")}
            loo_rows[name]["pareto_k_warning"] = bool(row.get("warning", False))
        unreliable = [name for name, row in loo_rows.items() if row["pareto_k_warning"]]
        if unreliable:
            print(f"warning: PSIS-LOO is unreliable for {unreliable} (Pareto k > 0.7 for some blocks: the posterior "
                  "draws change those blocks' likelihood too much). Do not rank these models by this table; use "
                  "--posterior nuts, more data per block, or a tighter prior (--ridge).", file=sys.stderr)
    (out / "loo.json").write_text(
        json.dumps(dict(method=method, pointwise=list(set(var.values())), models=loo_rows), indent=2)
    )
    print(f"posterior report: posterior_filters_*.png, credible_bands.npz, loo.json, convergence.json in {out}/",
          file=sys.stderr)
    return dict(idata=idatas, loo=loo_rows, convergence=convergence)
