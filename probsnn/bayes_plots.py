r"""Posterior predictive checks and posterior summaries of GLM networks, with their plots.

A posterior predictive check (Gelman, Meng & Stern 1996; Gelman et al. BDA3 ch. 6) compares a statistic
:math:`T(s)` of the observed spike trains with its distribution under replicated data
:math:`s^{\rm rep} \sim p(s^{\rm rep} \mid s) = \int p(s^{\rm rep} \mid w)\, p(w \mid s)\, dw`. Here the
replicates are *free-running* simulations of the network (:func:`simulate_posterior_predictive`: every
replicate uses one posterior draw of the weights and feeds back its own spikes, given the recorded
stimulus), which is a stronger check than the one-step-ahead predictive stored in
``idata.posterior_predictive``. The statistics are

* spike counts per neuron, :func:`spike_counts`;
* the inter-spike-interval (ISI) distribution, :func:`interspike_intervals` and :func:`isi_histogram`
  (spikes in the same bin are ``counts`` spikes at the bin's time, i.e. zero intervals);
* the peri-stimulus time histogram (PSTH), :func:`psth`: with ``trial_length`` the recording is cut into
  repeated trials of a frozen stimulus and averaged across them,
  :math:`\mathrm{PSTH}(t) = \frac{1}{R\,\Delta}\sum_r \sum_{t' \in \text{window}(t)} s_{r,t'}`; without it, the
  firing rate in consecutive windows of ``bin_width`` seconds.

:func:`coupling_strength_intervals` summarises which couplings are credibly non-zero: for every kernel
``j -> i`` the integrated coupling :math:`\bar\kappa_{ij} = \sum_\ell \kappa_{ij}(\ell)` (the net log-gain of
``i``'s rate per spike of ``j``), its posterior mean, central credible interval and the posterior
probability that it is positive.

The plotting functions return Matplotlib figures and draw the numbers computed by these functions, so
what is plotted is what is tested.
"""
from __future__ import annotations

import numpy as np

from .plots import _pyplot

__all__ = [
    "spike_counts", "interspike_intervals", "isi_histogram", "psth", "simulate_posterior_predictive",
    "coupling_strength_intervals", "filter_credible_bands", "plot_count_ppc", "plot_isi_ppc", "plot_psth_ppc", "plot_rate_bands",
    "plot_coupling_intervals", "plot_posterior_filters",
]


def _check_counts(counts, name="counts"):
    counts = np.asarray(counts)
    if counts.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (T, N) or (n_draws, T, N), got {counts.shape}.")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValueError(f"{name} must hold non-negative integer spike counts.")
    return counts.astype(np.int64)


def _check_dt(dt):
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive bin width in seconds, got {dt!r}.")
    return float(dt)


def _level(level):
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}.")
    return float(level)


# ---------------------------------------------------------------- statistics
def spike_counts(counts) -> np.ndarray:
    """Total spikes per neuron: ``(N,)`` for ``(T, N)`` counts, ``(S, N)`` for ``(S, T, N)`` replicates."""
    counts = _check_counts(counts)
    return counts.sum(axis=-2)


def interspike_intervals(counts, dt: float) -> list:
    """Inter-spike intervals in seconds, one array per neuron, from binned counts ``(T, N)``.

    A bin holding ``c`` spikes contributes ``c`` spikes at its time, so ``c - 1`` zero intervals.
    """
    counts = _check_counts(counts)
    if counts.ndim != 2:
        raise ValueError(f"counts must have shape (T, N), got {counts.shape}.")
    dt = _check_dt(dt)
    out = []
    for i in range(counts.shape[1]):
        times = np.repeat(np.arange(counts.shape[0]), counts[:, i]) * dt
        out.append(np.diff(times))
    return out


def isi_histogram(counts, dt: float, edges) -> np.ndarray:
    """ISI histogram per neuron on ``edges`` (seconds), normalised to a density (integrates to the fraction
    of intervals inside the edges); ``(N, B)`` for ``(T, N)`` counts, ``(S, N, B)`` for replicates.

    Each row equals ``np.histogram(isi, edges)[0] / (len(isi) * np.diff(edges))`` (zeros when there is no
    interval).
    """
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("edges must be a strictly increasing 1-d array of at least two bin edges (seconds).")
    counts = _check_counts(counts)
    batch = counts if counts.ndim == 3 else counts[None]
    out = np.zeros((batch.shape[0], batch.shape[2], edges.size - 1))
    for s, one in enumerate(batch):
        for i, isi in enumerate(interspike_intervals(one, dt)):
            if isi.size:
                out[s, i] = np.histogram(isi, edges)[0] / (isi.size * np.diff(edges))
    return out if counts.ndim == 3 else out[0]


def psth(counts, dt: float, bin_width: float, trial_length: int | None = None):
    """Peri-stimulus time histogram in spikes/s.

    Parameters
    ----------
    counts : array (T, N) or (S, T, N)
    dt : float
        Bin width of ``counts`` in seconds.
    bin_width : float
        Width of the PSTH windows in seconds (a whole number of bins).
    trial_length : int, optional
        Bins per trial when the recording is ``R`` repeats of a frozen stimulus (``T`` must be a multiple);
        the PSTH is then averaged over trials. Without it, the rate in consecutive windows of the recording.

    Returns
    -------
    times : array (W,)
        Start of each window in seconds (from trial onset, or from the recording's start).
    rate : array (W, N) or (S, W, N)
    """
    counts = _check_counts(counts)
    dt = _check_dt(dt)
    width = int(round(bin_width / dt))
    if width < 1 or abs(width * dt - bin_width) > 1e-9 * max(1.0, bin_width):
        raise ValueError(f"bin_width must be a positive multiple of dt={dt}, got {bin_width!r}.")
    batch = counts if counts.ndim == 3 else counts[None]
    n_bins = batch.shape[1]
    if trial_length is not None:
        if int(trial_length) != trial_length or trial_length < width or n_bins % int(trial_length):
            raise ValueError(f"trial_length must be an integer >= the window ({width} bins) that divides the "
                             f"number of bins ({n_bins}), got {trial_length!r}.")
        trial_length = int(trial_length)
        batch = batch.reshape(batch.shape[0], n_bins // trial_length, trial_length, -1).mean(axis=1)
        n_bins = trial_length
    n_windows = n_bins // width
    if n_windows < 1:
        raise ValueError(f"bin_width ({width} bins) is longer than the data ({n_bins} bins).")
    rate = batch[:, : n_windows * width].reshape(batch.shape[0], n_windows, width, -1).sum(axis=2) / (width * dt)
    times = np.arange(n_windows) * width * dt
    return times, (rate if counts.ndim == 3 else rate[0])


def _select_draws(idata, num_draws, seed):
    post = idata.posterior
    total = post.sizes["chain"] * post.sizes["draw"]
    if int(num_draws) != num_draws or not 1 <= num_draws <= total:
        raise ValueError(f"num_draws must be an integer in [1, {total}] (the posterior's draws), got {num_draws!r}.")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=int(num_draws), replace=False))


def simulate_posterior_predictive(net, idata, *, stimulus=None, n_steps: int | None = None, num_draws: int = 50,
                                  seed: int = 0) -> np.ndarray:
    """Free-running replicated spike trains ``(num_draws, T, N)``, one per posterior draw of the weights.

    Each replicate runs :meth:`probsnn.GLMNetwork.simulate` (autoregressive sampling, its own spikes fed back)
    with one posterior draw, chosen at random without replacement from ``idata.posterior``.

    Parameters
    ----------
    net : GLMNetwork
        The network ``idata`` was fitted with.
    idata : arviz.InferenceData
    stimulus : array (T, D), optional
        Required when the network has stimulus filters (e.g. ``data.stimulus``).
    n_steps : int, optional
        Number of bins (defaults to the stimulus length).
    num_draws : int
    seed : int

    Raises
    ------
    RuntimeError
        When a replicate diverges (runaway excitation of a Poisson network).
    """
    import jax

    from .inference.convert import draws_to_params

    index = _select_draws(idata, num_draws, seed)
    post = idata.posterior
    sites = {k: np.asarray(post[k].values).reshape((-1,) + post[k].shape[2:])[index]
             for k in ("stimulus_weights", "coupling_weights", "bias") if k in post}
    params = draws_to_params(net, sites, (len(index),))
    keys = jax.random.split(jax.random.PRNGKey(seed), len(index))
    out = []
    for s in range(len(index)):
        one = jax.tree_util.tree_map(lambda leaf, s=s: leaf[s], params)
        spikes, _ = net.simulate(one, keys[s], n_steps=n_steps, stimulus=stimulus)
        spikes = np.asarray(spikes)
        if not np.all(np.isfinite(spikes)) or spikes.max(initial=0) > 1e9:
            raise RuntimeError(
                f"the free-running simulation of posterior draw {int(index[s])} diverged (runaway excitation: "
                "a Poisson GLM with an exp link and excitatory history can explode when its own spikes feed "
                "back). Use a Bernoulli observation, a stronger prior on the history filters, or the "
                "one-step-ahead predictive (posterior_predictive=True).")
        out.append(spikes)
    return np.stack(out).astype(np.int64)


def coupling_strength_intervals(idata, level: float = 0.9, truth=None):
    """Integrated coupling kernels ``sum_lag coupling_filter[i, j, lag]``: which are credibly non-zero.

    Parameters
    ----------
    idata : arviz.InferenceData
        With ``coupling_filter`` ``(neuron, presynaptic, history_lag)`` in the posterior.
    level : float
        Central credible level.
    truth : array (N, N, L), optional
        True coupling filters (lag space), e.g. of a simulation, added as a ``truth`` column.

    Returns
    -------
    list of dict
        One row per off-diagonal kernel ``j -> i``: ``post``, ``pre``, ``mean``, ``lower``, ``upper``,
        ``p_positive`` and ``credibly_nonzero`` (the interval excludes 0), plus ``truth`` if given.
    """
    level = _level(level)
    if "coupling_filter" not in idata.posterior:
        raise ValueError("idata.posterior has no coupling_filter: the network has no history basis.")
    filt = idata.posterior["coupling_filter"]
    values = np.asarray(filt.values)  # [C, S, N, N, L]
    strength = values.sum(axis=-1).reshape((-1,) + values.shape[2:4])  # [M, N, N]
    names = [str(v) for v in filt.coords["neuron"].values]
    lo, hi = np.quantile(strength, [(1 - level) / 2, (1 + level) / 2], axis=0)
    if truth is not None:
        truth = np.asarray(truth, dtype=float)
        if truth.shape != values.shape[2:]:
            raise ValueError(f"truth must have shape {values.shape[2:]} (neuron, presynaptic, lag), got {truth.shape}.")
        true_strength = truth.sum(axis=-1)
    rows = []
    n = strength.shape[1]
    for i in range(n):
        for j in range(n):
            if i == j or not np.any(strength[:, i, j]):
                continue  # self-history kernels and absent connections
            row = dict(post=names[i], pre=names[j], mean=float(strength[:, i, j].mean()), lower=float(lo[i, j]),
                       upper=float(hi[i, j]), p_positive=float(np.mean(strength[:, i, j] > 0)),
                       credibly_nonzero=bool(lo[i, j] > 0 or hi[i, j] < 0))
            if truth is not None:
                row["truth"] = float(true_strength[i, j])
            rows.append(row)
    return rows


def filter_credible_bands(idata, level: float = 0.9) -> dict:
    """Posterior mean and central ``level`` credible band of every filter in lag space.

    Returns
    -------
    dict
        For ``stimulus_filter`` ``(neuron, stimulus_dim, lag)`` and ``coupling_filter``
        ``(neuron, presynaptic, lag)`` when present: ``{"mean", "lower", "upper", "lags"}`` arrays (lags in
        bins). Masked (absent) kernels are all zero.
    """
    level = _level(level)
    post = idata.posterior
    out = {}
    for var, lag_dim in (("stimulus_filter", "stimulus_lag"), ("coupling_filter", "history_lag")):
        if var not in post:
            continue
        values = np.asarray(post[var].values)
        values = values.reshape((-1,) + values.shape[2:])  # [M, N, D, L]
        lower, upper = np.quantile(values, [(1 - level) / 2, (1 + level) / 2], axis=0)
        out[var] = dict(mean=values.mean(axis=0), lower=lower, upper=upper,
                        lags=np.asarray(post.coords[lag_dim].values))
    return out


# ---------------------------------------------------------------- plots
def _band(values, level, axis=0):
    return np.quantile(values, [(1 - level) / 2, (1 + level) / 2], axis=axis)


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
    level = _level(level)
    observed = isi_histogram(observed_counts, dt, edges)  # [N, B]
    replicated = isi_histogram(replicated_counts, dt, edges)  # [S, N, B]
    edges = np.asarray(edges, dtype=float)
    n = observed.shape[0]
    names = names or [f"n{i}" for i in range(n)]
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 2.5), squeeze=False)
    ms = edges * 1e3
    for i in range(n):
        ax = axes[0, i]
        lo, hi = _band(replicated[:, i], level)
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
    level = _level(level)
    times, observed = psth(observed_counts, dt, bin_width, trial_length)
    _, replicated = psth(replicated_counts, dt, bin_width, trial_length)
    n = observed.shape[1]
    names = names or [f"n{i}" for i in range(n)]
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.8 * n), squeeze=False, sharex=True)
    centre = times + 0.5 * bin_width
    for i in range(n):
        ax = axes[i, 0]
        lo, hi = _band(replicated[:, :, i], level)
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
    level = _level(level)
    if not hasattr(idata, "posterior_predictive") or "rate" not in idata.posterior_predictive:
        raise ValueError("idata has no posterior_predictive rate: fit with posterior_predictive=True.")
    rate = np.asarray(idata.posterior_predictive["rate"].values)[..., neuron]  # [C, S, T]
    rate = rate.reshape(-1, rate.shape[-1])
    start, stop = window if window is not None else (0, rate.shape[1])
    if not 0 <= start < stop <= rate.shape[1]:
        raise ValueError(f"window must satisfy 0 <= start < stop <= {rate.shape[1]}, got {window!r}.")
    t = data.t_start + data.dt * np.arange(start, stop)
    lo, hi = _band(rate[:, start:stop], level)
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
    """Forest plot of :func:`coupling_strength_intervals` rows (and the truth, when the rows have it)."""
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
    :func:`probsnn.inference.convert.posterior_filters`) drawn as dashed lines.
    """
    plt = _pyplot()
    level = _level(level)
    post = idata.posterior
    bands = filter_credible_bands(idata, level)
    n = net.n_neurons
    fig, axes = plt.subplots(n, 2, figsize=(9, 2.4 * n), squeeze=False)
    for i in range(n):
        for col, (var, label) in enumerate((("stimulus_filter", "stimulus filter"),
                                            ("coupling_filter", "history / coupling"))):
            ax = axes[i, col]
            if var not in bands:
                ax.set_axis_off()
                continue
            band = bands[var]
            lags = band["lags"] * dt * 1e3
            for m in range(band["mean"].shape[1]):
                if not (np.any(band["mean"][i, m]) or np.any(band["upper"][i, m])):
                    continue  # a masked (absent) kernel
                name = (f"from {post.coords['presynaptic'].values[m]}" if var == "coupling_filter" else f"dim {m}")
                line, = ax.plot(lags, band["mean"][i, m], label=name)
                ax.fill_between(lags, band["lower"][i, m], band["upper"][i, m], color=line.get_color(), alpha=0.25)
                if truth is not None and var in truth:
                    ax.plot(lags, np.asarray(truth[var])[i, m], "--", color=line.get_color(), lw=1)
            ax.axhline(0, color="k", lw=0.5)
            ax.set(title=f"{net.neuron_names[i]}: {label}", xlabel="lag (ms)")
            ax.legend(fontsize=7)
    fig.suptitle(title or f"posterior mean filters, {level:.0%} credible bands")
    fig.tight_layout()
    return fig
