"""Every figure of probsnn: MAP fits (:func:`plot_filters`, :func:`plot_raster_rate`, :func:`plot_ks`),
posteriors (:func:`plot_posterior_filters`, :func:`plot_rate_bands`, :func:`plot_coupling_intervals`),
posterior predictive checks (:func:`plot_count_ppc`, :func:`plot_isi_ppc`, :func:`plot_psth_ppc`) and
calibration (:func:`reliability_diagram`).

The figures draw the numbers computed in :mod:`probsnn.diagnostics` and :mod:`probsnn.inference.idata`, so
what is plotted is what is tested. Every function returns a :class:`matplotlib.figure.Figure` and never
calls ``plt.show()``; save it with ``fig.savefig(path)``. Matplotlib is imported lazily with the
non-interactive Agg backend when no backend has been chosen yet.
"""
from __future__ import annotations

import numpy as np

from .diagnostics import (
    central_interval,
    expected_calibration_error,
    isi_histogram,
    negative_log_likelihood,
    psth,
    reliability_curve,
    smoothed_rate,
    spike_counts,
)
from .inference.idata import filter_credible_bands

__all__ = [
    "plot_filters", "plot_raster_rate", "plot_ks", "plot_posterior_filters", "plot_filter_bands", "plot_rate_bands",
    "plot_coupling_intervals", "plot_count_ppc", "plot_isi_ppc", "plot_psth_ppc", "reliability_diagram",
]


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


# ---------------------------------------------------------------- posteriors and predictive checks
def plot_count_ppc(observed_counts, replicated_counts, names=None, ax=None, title: str = ""):
    """Histogram of replicated total spike counts per neuron with the observed count (vertical line).

    The bars are ``np.histogram(spike_counts(replicated_counts)[:, i], bins="auto")``; the posterior
    predictive p-value :math:`\\Pr(T(s^{\\rm rep}) \\ge T(s))` is shown in each panel's title.
    """
    plt = _pyplot()
    observed = spike_counts(observed_counts)
    replicated = spike_counts(replicated_counts)
    if replicated.ndim != 2 or replicated.shape[1] != observed.shape[0]:
        raise ValueError("replicated_counts must have shape (S, T, N) with the observed counts' N.")
    n = observed.shape[0]
    names = names or [f"n{i}" for i in range(n)]
    if ax is None:
        fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.4), squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(ax)
        fig = axes[0].figure
    for i in range(n):
        heights, edges = np.histogram(replicated[:, i], bins="auto")
        axes[i].bar(edges[:-1], heights, width=np.diff(edges), align="edge", color="C0", alpha=0.6,
                    label="replicated")
        axes[i].axvline(observed[i], color="k", lw=2, label="observed")
        p = float(np.mean(replicated[:, i] >= observed[i]))
        axes[i].set(title=f"{names[i]}: p = {p:.2f}", xlabel="spike count")
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_isi_ppc(observed_counts, replicated_counts, dt: float, edges, names=None, level: float = 0.9,
                 title: str = ""):
    """Observed ISI density (steps) against the replicates' median and central ``level`` band, per neuron."""
    plt = _pyplot()
    observed = isi_histogram(observed_counts, dt, edges)  # [N, B]
    replicated = isi_histogram(replicated_counts, dt, edges)  # [S, N, B]
    edges = np.asarray(edges, dtype=float)
    n = observed.shape[0]
    names = names or [f"n{i}" for i in range(n)]
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 2.5), squeeze=False)
    ms = edges * 1e3
    for i in range(n):
        ax = axes[0, i]
        lo, hi = central_interval(replicated[:, i], level)
        ax.fill_between(ms, np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post", color="C0", alpha=0.3,
                        label=f"replicated {level:.0%}")
        ax.step(ms, np.append(np.median(replicated[:, i], axis=0), np.nan), where="post", color="C0",
                label="replicated median")
        ax.step(ms, np.append(observed[i], observed[i][-1]), where="post", color="k", label="observed")
        ax.set(title=names[i], xlabel="ISI (ms)", ylabel="density (1/s)")
    axes[0, 0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_psth_ppc(observed_counts, replicated_counts, dt: float, bin_width: float, trial_length=None, names=None,
                  level: float = 0.9, title: str = ""):
    """Observed PSTH against the replicates' mean and central ``level`` band, one panel per neuron."""
    plt = _pyplot()
    times, observed = psth(observed_counts, dt, bin_width, trial_length)
    _, replicated = psth(replicated_counts, dt, bin_width, trial_length)
    n = observed.shape[1]
    names = names or [f"n{i}" for i in range(n)]
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.8 * n), squeeze=False, sharex=True)
    centre = times + 0.5 * bin_width
    for i in range(n):
        ax = axes[i, 0]
        lo, hi = central_interval(replicated[:, :, i], level)
        ax.fill_between(centre, lo, hi, color="C0", alpha=0.3, label=f"replicated {level:.0%}")
        ax.plot(centre, replicated[:, :, i].mean(axis=0), color="C0", label="replicated mean")
        ax.plot(centre, observed[:, i], color="k", lw=1, label="observed")
        ax.set(ylabel=f"{names[i]} (Hz)")
    axes[-1, 0].set_xlabel("time from trial onset (s)" if trial_length else "time (s)")
    axes[0, 0].legend(fontsize=7, ncol=3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_rate_bands(idata, data, window=None, level: float = 0.9, neuron: int = 0, ax=None, title: str = ""):
    """Posterior predictive firing rate (conditional intensity, Hz) with a central ``level`` credible band.

    Uses ``idata.posterior_predictive["rate"]`` (fit with ``posterior_predictive=True``); observed spikes
    are drawn as ticks. ``window`` is ``(start_bin, stop_bin)``.
    """
    plt = _pyplot()
    if not hasattr(idata, "posterior_predictive") or "rate" not in idata.posterior_predictive:
        raise ValueError("idata has no posterior_predictive rate: fit with posterior_predictive=True.")
    rate = np.asarray(idata.posterior_predictive["rate"].values)[..., neuron]  # [C, S, T]
    rate = rate.reshape(-1, rate.shape[-1])
    start, stop = window if window is not None else (0, rate.shape[1])
    if not 0 <= start < stop <= rate.shape[1]:
        raise ValueError(f"window must satisfy 0 <= start < stop <= {rate.shape[1]}, got {window!r}.")
    t = data.t_start + data.dt * np.arange(start, stop)
    lo, hi = central_interval(rate[:, start:stop], level)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 2.5))
    ax.fill_between(t, lo, hi, color="C1", alpha=0.35, label=f"{level:.0%} credible band")
    ax.plot(t, rate[:, start:stop].mean(axis=0), color="C1", lw=1, label="posterior mean rate")
    spikes = np.flatnonzero(np.asarray(data.counts)[start:stop, neuron])
    top = float(np.max(hi)) if hi.size else 1.0
    ax.plot(t[spikes], np.full(spikes.shape, 1.05 * top), "|", color="k", ms=6, label="observed spikes")
    ax.set(xlabel="time (s)", ylabel="rate (Hz)", title=title or "posterior predictive firing rate")
    ax.legend(fontsize=7, loc="upper right")
    return ax.figure


def plot_coupling_intervals(rows, level: float = 0.9, ax=None, title: str = ""):
    """Forest plot of :func:`~probsnn.inference.idata.coupling_strength_intervals` rows (and the truth, if given)."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 0.3 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    for k, row in zip(y, rows):
        color = "C3" if row["credibly_nonzero"] else "C0"
        ax.plot([row["lower"], row["upper"]], [k, k], color=color, lw=2)
        ax.plot(row["mean"], k, "o", color=color)
        if "truth" in row:
            ax.plot(row["truth"], k, "x", color="k", ms=7)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_yticks(y, [f"{r['pre']} -> {r['post']}" for r in rows])
    ax.set(xlabel="integrated coupling (sum over lags)",
           title=title or f"couplings: {level:.0%} intervals (red: excludes 0; x: truth)")
    return ax.figure


def plot_posterior_filters(net, idata, dt: float = 1.0, level: float = 0.9, title: str = "", truth=None):
    """Posterior mean filters in lag space with central ``level`` credible bands, one row per neuron.

    ``truth`` (optional) is a dict with ``stimulus_filter`` / ``coupling_filter`` arrays (as in
    :func:`probsnn.inference.idata.posterior_filters`) drawn as dashed lines. Draws :func:`plot_filter_bands`
    of :func:`~probsnn.inference.idata.filter_credible_bands`.
    """
    return plot_filter_bands(filter_credible_bands(idata, level), net.neuron_names, dt=dt,
                             title=title or f"posterior mean filters, {level:.0%} credible bands", truth=truth)


def plot_filter_bands(bands: dict, neuron_names, dt: float = 1.0, title: str = "", truth=None):
    """Mean filters with their bands, one row per neuron: stimulus filters left, history / coupling right.

    Parameters
    ----------
    bands : dict
        As :func:`~probsnn.inference.idata.filter_credible_bands` returns it: for ``stimulus_filter`` and
        ``coupling_filter``, ``{"mean", "lower", "upper", "lags"}`` with ``mean`` of shape ``(neuron, input, lag)``.
        Kernels that are zero everywhere (masked connections) are not drawn.
    neuron_names : sequence of str
        Also the names of the presynaptic neurons of the coupling kernels.
    dt : float
        Bin width in seconds (lags are shown in ms).
    """
    plt = _pyplot()
    n = len(neuron_names)
    fig, axes = plt.subplots(n, 2, figsize=(9, 2.4 * n), squeeze=False)
    for i in range(n):
        for col, (var, label) in enumerate((("stimulus_filter", "stimulus filter"),
                                            ("coupling_filter", "history / coupling"))):
            ax = axes[i, col]
            if var not in bands:
                ax.set_axis_off()
                continue
            band = bands[var]
            lags = np.asarray(band["lags"]) * dt * 1e3
            for m in range(band["mean"].shape[1]):
                if not (np.any(band["mean"][i, m]) or np.any(band["upper"][i, m])):
                    continue  # a masked (absent) kernel
                name = f"from {neuron_names[m]}" if var == "coupling_filter" else f"dim {m}"
                line, = ax.plot(lags, band["mean"][i, m], label=name)
                ax.fill_between(lags, band["lower"][i, m], band["upper"][i, m], color=line.get_color(), alpha=0.25)
                if truth is not None and var in truth:
                    ax.plot(lags, np.asarray(truth[var])[i, m], "--", color=line.get_color(), lw=1)
            ax.axhline(0, color="k", lw=0.5)
            ax.set(title=f"{neuron_names[i]}: {label}", xlabel="lag (ms)")
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- calibration
def reliability_diagram(probabilities, labels, n_bins: int = 10, ax=None, title: str = ""):
    """Accuracy against confidence per bin, with the diagonal of perfect calibration and the ECE/NLL.

    Draws :func:`probsnn.diagnostics.reliability_curve`; the title reports
    :func:`~probsnn.diagnostics.expected_calibration_error` and
    :func:`~probsnn.diagnostics.negative_log_likelihood`.
    """
    plt = _pyplot()
    curve = reliability_curve(probabilities, labels, n_bins)
    ece = expected_calibration_error(probabilities, labels, n_bins)
    nll = negative_log_likelihood(probabilities, labels, eps=1e-12)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    centres = 0.5 * (curve["edges"][1:] + curve["edges"][:-1])
    width = 1.0 / n_bins
    filled = curve["count"] > 0
    ax.bar(centres[filled], curve["accuracy"][filled], width=width * 0.9, color="C0", alpha=0.7, label="accuracy")
    ax.plot(curve["confidence"][filled], curve["accuracy"][filled], "o", color="C1", label="(confidence, accuracy)")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy",
           title=title or f"ECE = {ece:.3f}, NLL = {nll:.3f}")
    ax.legend(loc="upper left", fontsize=8)
    return ax.figure
