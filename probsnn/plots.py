"""Plots for fitted spiking models: filters with error bands, raster vs predicted rate, KS plots.

Every function returns a :class:`matplotlib.figure.Figure` and never calls ``plt.show()``; save it with
``fig.savefig(path)``. Matplotlib is imported lazily with the non-interactive Agg backend when no backend
has been chosen yet.
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_filters", "plot_raster_rate", "plot_ks"]


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        try:
            matplotlib.use("Agg", force=False)
        except Exception:  # pragma: no cover - a GUI backend already in use
            pass
    import matplotlib.pyplot as plt

    return plt


def plot_filters(net, params, standard_errors=None, dt: float = 1.0, n_se: float = 2.0, title: str = ""):
    """Stimulus filters and history/coupling kernels, with ``+- n_se`` standard-error bands.

    Parameters
    ----------
    net : GLMNetwork
    params : GLMParams
    standard_errors : dict, optional
        ``MAPResult.filter_standard_errors(net)``; bands are drawn where given.
    dt : float
        Bin width in seconds (the lag axis is shown in ms).
    """
    plt = _pyplot()
    filters = net.filters(params)
    n = net.n_neurons
    has_stim = "stimulus" in filters
    has_hist = "coupling" in filters
    n_cols = int(has_stim) + int(has_hist)
    if n_cols == 0:
        raise ValueError("this network has no filters to plot (no stimulus or history basis).")
    fig, axes = plt.subplots(n, n_cols, figsize=(4.2 * n_cols, 2.4 * n + 0.6), squeeze=False)
    se = standard_errors or {}
    for i in range(n):
        col = 0
        if has_stim:
            ax = axes[i, col]
            lags = filters["stimulus_lags"] * dt * 1e3
            for d in range(net.n_stimulus_dims):
                k = filters["stimulus"][i, d]
                line, = ax.plot(lags, k, label=f"stimulus {d}" if net.n_stimulus_dims > 1 else None)
                if "stimulus" in se:
                    band = n_se * se["stimulus"][i, d]
                    ax.fill_between(lags, k - band, k + band, color=line.get_color(), alpha=0.25, lw=0)
                span = np.abs(k).max()
                ax.set_ylim(min(ax.get_ylim()[0], -1.5 * span), max(ax.get_ylim()[1], 1.5 * span))
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set_title(f"{net.neuron_names[i]}: stimulus filter", fontsize=9)
            ax.set_xlabel("lag (ms)")
            col += 1
        if has_hist:
            ax = axes[i, col]
            lags = filters["coupling_lags"] * dt * 1e3
            top = 1.0
            for j in range(n):
                if not net.coupling_mask[i, j]:
                    continue
                k = filters["coupling"][i, j]
                label = "self-history" if i == j else f"from {net.neuron_names[j]}"
                line, = ax.plot(lags, np.exp(k), label=label, lw=2.0 if i == j else 1.0)
                if "coupling" in se:
                    band = n_se * se["coupling"][i, j]
                    ax.fill_between(lags, np.exp(k - band), np.exp(k + band), color=line.get_color(), alpha=0.2, lw=0)
                top = max(top, float(np.exp(k).max()))
            ax.axhline(1, color="0.6", lw=0.8)
            ax.set_ylim(0, max(2.0, 1.2 * top))
            ax.set_title(f"{net.neuron_names[i]}: history / coupling gain exp(h)", fontsize=9)
            ax.set_xlabel("lag (ms)")
            if net.coupling_mask[i].any():
                ax.legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(f"{title}  (bands: ±{n_se:g} SE, Laplace)" if se else title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_raster_rate(data, predicted_rate, window=None, smoothing: float = 0.01, title: str = ""):
    """Observed spikes (raster) above the model's predicted rate and the smoothed observed rate.

    Parameters
    ----------
    data : SpikeData
    predicted_rate : array (T, N)
        In Hz, e.g. ``net.predicted_rate(params, data)``.
    window : (start, stop) in seconds, optional
        Time window to show (default: the first second).
    smoothing : float
        Standard deviation (s) of the Gaussian used to smooth the observed spikes.
    """
    from .diagnostics import smoothed_rate

    plt = _pyplot()
    predicted_rate = np.asarray(predicted_rate)
    times = data.t_start + (np.arange(data.n_bins) + 0.5) * data.dt
    start, stop = window if window is not None else (times[0], min(times[-1], times[0] + 1.0))
    sel = (times >= start) & (times <= stop)
    observed = smoothed_rate(data.counts, data.dt, smoothing)
    n = data.n_neurons
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.2 * n + 0.6), squeeze=False, sharex=True)
    for i in range(n):
        ax = axes[i, 0]
        spike_t = times[sel][data.counts[sel, i] > 0]
        top = max(predicted_rate[sel, i].max(), observed[sel, i].max()) * 1.05 + 1e-9
        ax.vlines(spike_t, top, top * 1.15, color="k", lw=0.6, label="spikes")
        ax.plot(times[sel], observed[sel, i], color="0.55", lw=1.0, label=f"observed (σ={smoothing * 1e3:g} ms)")
        ax.plot(times[sel], predicted_rate[sel, i], color="C3", lw=1.0, label="model conditional intensity")
        ax.set_ylabel(f"{data.neuron_names[i]}\nrate (Hz)")
        ax.set_ylim(0, top * 1.2)
    axes[-1, 0].legend(fontsize=7, frameon=False, loc="upper center", ncol=3, bbox_to_anchor=(0.5, -0.35))
    axes[-1, 0].set_xlabel("time (s)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_ks(ks_result, names, title: str = ""):
    """KS plot: empirical CDF of the rescaled intervals against Uniform(0, 1), with the 95% band."""
    plt = _pyplot()
    n = len(names)
    fig, axes = plt.subplots(1, n, figsize=(max(3.4 * n, 5.0), 3.8), squeeze=False)
    for i in range(n):
        ax = axes[0, i]
        z = np.sort(ks_result.rescaled[i])
        if len(z) == 0:
            ax.set_title(f"{names[i]}: no intervals", fontsize=9)
            continue
        model = (np.arange(1, len(z) + 1) - 0.5) / len(z)
        band = ks_result.confidence_band(i)
        ax.plot(model, z, color="C0", lw=1.2)
        ax.plot([0, 1], [0, 1], color="k", lw=0.8)
        ax.plot([0, 1], [band, 1 + band], "k--", lw=0.6)
        ax.plot([0, 1], [-band, 1 - band], "k--", lw=0.6)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("uniform quantile")
        ax.set_ylabel("rescaled ISI quantile")
        ax.set_title(f"{names[i]}: KS={ks_result.statistic[i]:.3f}, p={ks_result.pvalue[i]:.2g}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
