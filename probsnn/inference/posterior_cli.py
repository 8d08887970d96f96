"""``probsnn fit --posterior nuts|svi``: full Bayesian inference on top of the CLI's MAP fits.

For every model the CLI fitted (stimulus-only, +history, +coupling), :func:`posterior_report` runs NUTS
(:func:`probsnn.fit_nuts`) or SVI (:func:`probsnn.fit_svi`) on the training data with the same Gaussian
prior as the MAP fit (``--ridge``), then writes to the report folder

* ``posterior_filters_<model>.png``: posterior mean filters with 90% credible bands;
* ``loo.json`` and a printed table: PSIS-LOO (ArviZ ``compare``) of the models, with the log-likelihood
  summed over blocks of bins (leave-one-segment-out; per-bin for short recordings);
* ``convergence.json`` and a printed line per model: max R-hat, min bulk/tail ESS, divergences.

Defaults are kept fast: a few hundred draws, two vectorised chains.
"""
from __future__ import annotations

import json
import sys
import warnings

import numpy as np

__all__ = ["posterior_report", "plot_posterior_filters"]

NUM_WARMUP, NUM_SAMPLES, NUM_CHAINS = 300, 300, 2


def plot_posterior_filters(net, idata, dt: float = 1.0, level: float = 0.9, title: str = ""):
    """Posterior mean filters in lag space with central ``level`` credible bands, one panel per neuron."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    post = idata.posterior
    q = [(1 - level) / 2, (1 + level) / 2]
    n = net.n_neurons
    fig, axes = plt.subplots(n, 2, figsize=(9, 2.4 * n), squeeze=False)
    for i in range(n):
        for col, (var, lag_dim, label) in enumerate((("stimulus_filter", "stimulus_lag", "stimulus filter"),
                                                     ("coupling_filter", "history_lag", "history / coupling"))):
            ax = axes[i, col]
            if var not in post:
                ax.set_axis_off()
                continue
            values = post[var].isel(neuron=i).stack(sample=("chain", "draw")).values  # [M, L, S]
            lags = np.asarray(post.coords[lag_dim].values) * dt * 1e3
            for m in range(values.shape[0]):
                if not np.any(values[m]):
                    continue
                lo, hi = np.quantile(values[m], q, axis=-1)
                name = (f"from {post.coords['presynaptic'].values[m]}" if var == "coupling_filter" else f"dim {m}")
                line, = ax.plot(lags, values[m].mean(axis=-1), label=name)
                ax.fill_between(lags, lo, hi, color=line.get_color(), alpha=0.25)
            ax.axhline(0, color="k", lw=0.5)
            ax.set(title=f"{net.neuron_names[i]}: {label}", xlabel="lag (ms)")
            ax.legend(fontsize=7)
    fig.suptitle(title or f"posterior mean filters, {level:.0%} credible bands")
    fig.tight_layout()
    return fig


def posterior_report(args, results: dict, out) -> dict:
    """Run the posterior fits for the CLI and write credible bands, the LOO table and R-hat/ESS summary."""
    import arviz as az

    from ..models.priors import GaussianPrior
    from .map import ConvergenceWarning
    from .mcmc import check_convergence, fit_nuts
    from .svi import fit_svi

    method = args.posterior
    if method not in ("nuts", "svi"):
        raise ValueError(f"--posterior must be nuts or svi here, got {method!r}.")
    ridge = getattr(args, "ridge", 0.0)
    prior = GaussianPrior(ridge=ridge) if ridge > 0 else GaussianPrior()
    quiet = bool(getattr(args, "quiet", False))
    seed = int(getattr(args, "seed", 0))
    idatas, convergence = {}, {}
    for name, res in results.items():
        net, train = res["net"], res["train"]
        block = 1 if train.n_bins * net.n_neurons * NUM_SAMPLES * NUM_CHAINS <= 2e7 else max(1, train.n_bins // 500)
        print(f"posterior ({method}) of the {name} model ...", file=sys.stderr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if method == "nuts":
                idata = fit_nuts(net, train, prior, num_warmup=NUM_WARMUP, num_samples=NUM_SAMPLES,
                                 num_chains=NUM_CHAINS, seed=seed, log_likelihood=block, progress=not quiet,
                                 warn=False)
            else:
                idata = fit_svi(net, train, prior, guide="mvn", num_steps=1500, num_samples=NUM_SAMPLES * NUM_CHAINS,
                                seed=seed, log_likelihood=block, progress=not quiet, warn=False)
        idatas[name] = idata
        summary = check_convergence(idata, warn=False) if method == "nuts" else {}
        convergence[name] = {k: (v if not isinstance(v, (np.floating, np.integer)) else v.item()) for k, v in summary.items()}
        fig = plot_posterior_filters(net, idata, dt=train.dt, title=f"{name} model: posterior ({method}), 90% bands")
        fig.savefig(out / f"posterior_filters_{name}.png", dpi=110)
        import matplotlib.pyplot as plt

        plt.close(fig)
    if method == "nuts":
        print(f"{'model':<10}{'max R-hat':>11}{'min ESS bulk':>14}{'min ESS tail':>14}{'divergences':>13}")
        for name, s in convergence.items():
            print(f"{name:<10}{s['max_rhat']:>11.4f}{s['min_ess_bulk']:>14.0f}{s['min_ess_tail']:>14.0f}{s['divergences']:>13d}")
        (out / "convergence.json").write_text(json.dumps(convergence, indent=2))
    # LOO needs the same pointwise layout for every model
    var = {name: ("obs" if "obs" in idata.log_likelihood else "obs_blocks") for name, idata in idatas.items()}
    loo_rows = {}
    if len(set(var.values())) == 1 and len(idatas) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = az.compare(idatas, ic="loo", var_name=next(iter(var.values())))
        print(f"{'model':<10}{'rank':>5}{'elpd_loo':>14}{'se':>10}{'elpd_diff':>12}{'dse':>10}{'p_loo':>9}")
        for name, row in table.iterrows():
            print(f"{name:<10}{int(row['rank']):>5}{row['elpd_loo']:>14.1f}{row['se']:>10.1f}{row['elpd_diff']:>12.1f}"
                  f"{row['dse']:>10.1f}{row['p_loo']:>9.1f}")
            loo_rows[name] = {k: float(row[k]) for k in ("rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight")}
    elif len(idatas) == 1:
        name, idata = next(iter(idatas.items()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loo = az.loo(idata, var_name=var[name])
        loo_rows[name] = dict(elpd_loo=float(loo.elpd_loo), se=float(loo.se), p_loo=float(loo.p_loo))
        print(f"{name}: elpd_loo {loo.elpd_loo:.1f} ± {loo.se:.1f}")
    (out / "loo.json").write_text(json.dumps(dict(method=method, pointwise=list(set(var.values())), models=loo_rows), indent=2))
    print(f"posterior report: posterior_filters_*.png, loo.json{', convergence.json' if method == 'nuts' else ''} in {out}/",
          file=sys.stderr)
    return dict(idata=idatas, loo=loo_rows, convergence=convergence)
