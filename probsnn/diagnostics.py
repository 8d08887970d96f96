r"""Diagnostics: goodness of fit, posterior predictive statistics, calibration and MCMC convergence.

Goodness of fit of a fitted network
    Bits per spike (single-spike information; Brenner et al. 2000, as in Pillow's GLM tutorial),

    .. math:: I = \frac{\log p(s \mid \hat\theta) - \log p(s \mid \bar\lambda)}{n_{\rm spikes} \ln 2},

    the log-likelihood gain over a homogeneous model with the constant rate :math:`\bar\lambda`
    (:func:`bits_per_spike`, :func:`homogeneous_log_likelihood`).

    Time-rescaling theorem (Brown, Barbieri, Ventura, Kass & Frank 2002; :func:`time_rescaling_ks`): if the
    model's conditional intensity is right, the rescaled inter-spike intervals
    :math:`\tau_k = \int_{t_{k-1}}^{t_k}\lambda(t)\,dt` are i.i.d. Exp(1), so :math:`z_k = 1 - e^{-\tau_k}` are
    Uniform(0, 1), tested with Kolmogorov-Smirnov. For binned models the exact spike times within a bin are
    unknown; we use the randomised discrete-time correction of Haslinger, Pipa & Brown (2010): for Bernoulli
    bins with spike probability :math:`p_t`,

    .. math:: \tau_k = \sum_{t_{k-1} < t < t_k} q_t + \delta_k, \quad q_t = -\log(1 - p_t),
        \quad \delta_k = -\log\bigl(1 - r_k (1 - e^{-q_{t_k}})\bigr), \; r_k \sim U(0, 1);

    for Poisson counts the intensity is taken as constant within each bin and the spikes of a bin are placed
    at uniform random positions in it (exact for a piecewise-constant-rate Poisson process).

Statistics of spike trains (for posterior predictive checks, Gelman, Meng & Stern 1996)
    Spike counts per neuron (:func:`spike_counts`); inter-spike intervals (:func:`interspike_intervals`,
    :func:`isi_histogram`; ``c`` spikes in one bin are ``c`` spikes at the bin's time, i.e. zero intervals);
    the peri-stimulus time histogram (:func:`psth`): with ``trial_length`` the recording is cut into repeated
    trials of a frozen stimulus and averaged across them,
    :math:`\mathrm{PSTH}(t) = \frac{1}{R\,\Delta}\sum_r \sum_{t' \in \text{window}(t)} s_{r,t'}`; without it,
    the firing rate in consecutive windows. Each works on observed counts ``(T, N)`` and on replicates
    ``(S, T, N)`` alike (replicates: :func:`probsnn.inference.idata.simulate_posterior_predictive`).

Calibration of predictive probabilities
    For predicted class probabilities :math:`p_{nk}` and labels :math:`y_n`, the confidence is
    :math:`c_n = \max_k p_{nk}` and the prediction :math:`\hat y_n = \arg\max_k p_{nk}`. With the confidences
    binned into ``M`` equal-width bins :math:`B_m`,

    .. math::
        \mathrm{ECE} = \sum_m \frac{|B_m|}{n} \bigl|\mathrm{acc}(B_m) - \mathrm{conf}(B_m)\bigr|,
        \qquad \mathrm{NLL} = -\frac1n \sum_n \log p_{n y_n}

    (Naeini et al. 2015; Guo et al. 2017): :func:`reliability_curve`, :func:`expected_calibration_error`,
    :func:`negative_log_likelihood` (the figure is :func:`probsnn.plots.reliability_diagram`).
    :func:`rate_decoder_probabilities` and :func:`first_spike_decoder_probabilities` turn posterior
    predictive read-outs into class probabilities (the class whose neuron fires most, or first, averaged
    over draws; ties split evenly).

Calibration of inference
    Simulation-based calibration (Talts et al. 2018): for parameters :math:`\theta^\ast` drawn from the prior
    and data simulated from them, the rank of :math:`\theta^\ast` among :math:`L` (roughly independent)
    posterior draws is uniform on :math:`\{0, \dots, L\}` exactly when the posterior is correct.
    :func:`sbc_ranks` computes the ranks, :func:`rank_uniformity_test` a chi-square test of uniformity over
    equal-width rank bins, and :func:`interval_coverage` the fraction of central credible intervals that
    contain the truth.

MCMC convergence
    :func:`check_convergence`: split R-hat, bulk/tail ESS (Vehtari et al. 2021, with ArviZ) and divergences
    of an ``InferenceData``, with a :class:`ConvergenceWarning` when they look bad.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ._checks import check_float, check_int, positive_float, positive_int
from .data import SpikeData

__all__ = [
    "homogeneous_log_likelihood", "bits_per_spike", "time_rescaling_ks", "KSResult", "smoothed_rate",
    "spike_counts", "interspike_intervals", "isi_histogram", "psth",
    "reliability_curve", "expected_calibration_error", "negative_log_likelihood", "rate_decoder_probabilities",
    "first_spike_decoder_probabilities", "sbc_ranks", "rank_uniformity_test", "interval_coverage",
    "central_interval", "ConvergenceWarning", "check_convergence",
]


class ConvergenceWarning(UserWarning):
    """A fit stopped before meeting its convergence criterion."""


# ---------------------------------------------------------------- goodness of fit
def homogeneous_log_likelihood(counts, observation, rate_per_bin=None, weight=None) -> np.ndarray:
    """Log-likelihood per neuron of a constant-rate model (the rate defaults to the counts' own mean).

    Parameters
    ----------
    counts : array (T, N)
    observation : observation model of the network (Poisson or Bernoulli)
    rate_per_bin : array (N,), optional
        Expected spikes per bin of the reference model, e.g. the training mean for held-out data.
    weight : array (T, N), optional
        0/1 likelihood weight (:meth:`probsnn.GLMNetwork.likelihood_weight`): only bins with weight 1 count,
        in the terms and in the default mean.
    """
    if observation.name not in ("poisson", "bernoulli"):
        raise TypeError(f"the homogeneous reference (and bits per spike) is a Poisson or Bernoulli spike model, "
                        f"but the observation is {observation.name!r}; compare the log-likelihoods of fitted "
                        "models (net.log_likelihood) instead.")
    counts = np.asarray(counts, dtype=np.float64)
    if rate_per_bin is not None:
        mean = np.asarray(rate_per_bin, dtype=np.float64)
    elif weight is None:
        mean = counts.mean(axis=0)
    else:
        mean = (counts * weight).sum(axis=0) / np.maximum(weight.sum(axis=0), 1.0)
    if np.any(mean <= 0):
        raise ValueError("the homogeneous reference rate must be > 0 for every neuron (a neuron without spikes?).")
    if observation.name == "bernoulli":
        if np.any(mean >= 1):
            raise ValueError("a Bernoulli reference rate must be < 1 spike per bin.")
        terms = counts * np.log(mean) + (1 - counts) * np.log1p(-mean)
    else:
        from scipy.special import gammaln

        terms = counts * np.log(mean) - mean - gammaln(counts + 1)
    return (terms if weight is None else terms * weight).sum(axis=0)


def bits_per_spike(net, params, data: SpikeData, reference_rate=None, design=None) -> np.ndarray:
    """Single-spike information (bits/spike) of the model per neuron, against a homogeneous rate.

    Parameters
    ----------
    net, params
        The fitted network and its parameters.
    data : SpikeData
        The data to score (training or held-out).
    reference_rate : array (N,), optional
        Spikes per bin of the homogeneous reference; by default the mean of ``data`` itself (the
        tutorial's training-set convention). For held-out data pass the training mean.

    Only the bins of the likelihood count (:meth:`~probsnn.GLMNetwork.likelihood_weight`: observed bins, trial
    edges kept unless ``trial_edges="drop"``), in the model, the reference and the number of spikes.
    """
    model_ll = np.asarray(net.log_likelihood(params, data, per="neuron", design=design))
    weight = net.likelihood_weight(data)
    reference_ll = homogeneous_log_likelihood(data.counts, net.observation, reference_rate, weight)
    n_spikes = (data.n_spikes if weight is None else (data.counts * weight).sum(axis=0)).astype(np.float64)
    if np.any(n_spikes == 0):
        raise ValueError("bits per spike is undefined for a neuron without spikes in the data.")
    return (model_ll - reference_ll) / (n_spikes * np.log(2.0))


@dataclass
class KSResult:
    """Time-rescaling Kolmogorov-Smirnov test per neuron.

    Attributes
    ----------
    statistic, pvalue : ndarray (N,)
        KS distance of the rescaled ISIs from Uniform(0, 1) and its p-value.
    rescaled : list of ndarray
        The uniform-transformed rescaled intervals ``z_k`` per neuron (for KS plots).
    """

    statistic: np.ndarray
    pvalue: np.ndarray
    rescaled: list

    def confidence_band(self, neuron: int, level: float = 0.95) -> float:
        """Half-width of the KS acceptance band around the diagonal (asymptotic, ~1.36/sqrt(n) at 95%)."""
        n = len(self.rescaled[neuron])
        return float(stats.kstwo.ppf(level, n)) if n > 0 else np.nan


def _rescaled_intervals(counts: np.ndarray, expected: np.ndarray, bernoulli: bool, rng) -> np.ndarray:
    """Rescaled inter-spike intervals for one neuron, randomised within bins (see module docstring)."""
    if bernoulli:
        p = np.clip(expected, 0.0, 1.0 - 1e-15)
        q = -np.log1p(-p)
        spike_bins = np.flatnonzero(counts > 0)
        cumulative = np.concatenate([[0.0], np.cumsum(q)])  # cumulative[t] = sum of q before bin t
        r = rng.uniform(size=len(spike_bins))
        within = -np.log1p(-r * (1.0 - np.exp(-q[spike_bins])))
        # tau_k = sum of q over the bins strictly between spikes k-1 and k, plus delta_k of the spike bin
        taus = cumulative[spike_bins[1:]] - cumulative[spike_bins[:-1] + 1] + within[1:]
    else:
        lam = expected
        cumulative = np.concatenate([[0.0], np.cumsum(lam)])
        reps = counts.astype(int)
        spike_bins = np.repeat(np.arange(len(counts)), reps)
        offsets = rng.uniform(size=len(spike_bins))
        # sort positions within each bin so several spikes in one bin are ordered
        order = np.lexsort((offsets, spike_bins))
        spike_bins, offsets = spike_bins[order], offsets[order]
        times = cumulative[spike_bins] + offsets * lam[spike_bins]
        taus = np.diff(times)
    return 1.0 - np.exp(-taus)


def _likelihood_runs(weight, trial_bounds) -> list[tuple[int, int]]:
    """Contiguous runs ``(start, stop)`` of bins with weight 1 (one neuron's column), cut at trial boundaries."""
    inside = np.concatenate([[False], np.asarray(weight) > 0, [False]])
    changes = np.flatnonzero(np.diff(inside.astype(np.int8)))
    cuts = np.asarray(trial_bounds)
    runs = []
    for a, b in zip(changes[::2], changes[1::2]):
        edges = [a] + [int(c) for c in cuts if a < c < b] + [b]
        runs += list(zip(edges[:-1], edges[1:]))
    return runs


def time_rescaling_ks(net, params, data: SpikeData, seed: int = 0, design=None) -> KSResult:
    """Time-rescaling KS goodness-of-fit test of a fitted network on ``data`` (see module docstring).

    With trials or a likelihood weight (:meth:`~probsnn.GLMNetwork.likelihood_weight`) the rescaled intervals
    are taken within each trial's run of bins in the likelihood only: no interval spans a trial boundary or an
    unobserved stretch.
    """
    expected = np.asarray(net.observation.mean(net.potential(params, data, design)), dtype=np.float64)
    rng = np.random.default_rng(seed)
    bernoulli = net.observation.name == "bernoulli"
    weight = net.likelihood_weight(data)
    statistics, pvalues, rescaled = [], [], []
    for i in range(data.n_neurons):
        if weight is None and data.trial_starts is None:
            z = _rescaled_intervals(data.counts[:, i], expected[:, i], bernoulli, rng)
        else:
            runs = _likelihood_runs(np.ones(data.n_bins) if weight is None else weight[:, i], data.trial_bounds)
            z = np.concatenate([np.zeros(0)] + [_rescaled_intervals(data.counts[a:b, i], expected[a:b, i],
                                                                    bernoulli, rng) for a, b in runs])
        rescaled.append(z)
        if len(z) < 2:
            statistics.append(np.nan)
            pvalues.append(np.nan)
            continue
        result = stats.kstest(z, "uniform")
        statistics.append(result.statistic)
        pvalues.append(result.pvalue)
    return KSResult(np.asarray(statistics), np.asarray(pvalues), rescaled)


def smoothed_rate(counts, dt: float, width: float = 0.01) -> np.ndarray:
    """Firing rate in Hz, smoothed with a Gaussian kernel of standard deviation ``width`` seconds.

    For PSTH-style comparison of observed spikes with the model's predicted rate.
    """
    from scipy.ndimage import gaussian_filter1d

    width = positive_float("width (kernel standard deviation, seconds)", width)
    counts = np.asarray(counts, dtype=np.float64)
    return gaussian_filter1d(counts, sigma=width / dt, axis=0, mode="nearest") / dt


# ---------------------------------------------------------------- statistics of spike trains
def _check_spike_counts(counts, name="counts"):
    counts = np.asarray(counts)
    if counts.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (T, N) or (n_draws, T, N), got {counts.shape}.")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValueError(f"{name} must hold non-negative integer spike counts.")
    return counts.astype(np.int64)


def spike_counts(counts) -> np.ndarray:
    """Total spikes per neuron: ``(N,)`` for ``(T, N)`` counts, ``(S, N)`` for ``(S, T, N)`` replicates."""
    counts = _check_spike_counts(counts)
    return counts.sum(axis=-2)


def interspike_intervals(counts, dt: float) -> list:
    """Inter-spike intervals in seconds, one array per neuron, from binned counts ``(T, N)``.

    A bin holding ``c`` spikes contributes ``c`` spikes at its time, so ``c - 1`` zero intervals.
    """
    counts = _check_spike_counts(counts)
    if counts.ndim != 2:
        raise ValueError(f"counts must have shape (T, N), got {counts.shape}.")
    dt = positive_float("dt (bin width in seconds)", dt)
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
    counts = _check_spike_counts(counts)
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
    counts = _check_spike_counts(counts)
    dt = positive_float("dt (bin width in seconds)", dt)
    width = int(round(bin_width / dt))
    if width < 1 or abs(width * dt - bin_width) > 1e-9 * max(1.0, bin_width):
        raise ValueError(f"bin_width must be a positive multiple of dt={dt}, got {bin_width!r}.")
    batch = counts if counts.ndim == 3 else counts[None]
    n_bins = batch.shape[1]
    if trial_length is not None:
        trial_length = check_int(f"trial_length (bins per trial, at least the window of {width} bins)", trial_length,
                                 minimum=width)
        if n_bins % trial_length:
            raise ValueError(f"trial_length={trial_length} must divide the number of bins ({n_bins}): the recording "
                             "must be a whole number of trials.")
        batch = batch.reshape(batch.shape[0], n_bins // trial_length, trial_length, -1).mean(axis=1)
        n_bins = trial_length
    n_windows = n_bins // width
    if n_windows < 1:
        raise ValueError(f"bin_width ({width} bins) is longer than the data ({n_bins} bins).")
    rate = batch[:, : n_windows * width].reshape(batch.shape[0], n_windows, width, -1).sum(axis=2) / (width * dt)
    times = np.arange(n_windows) * width * dt
    return times, (rate if counts.ndim == 3 else rate[0])


# ---------------------------------------------------------------- calibration of predictive probabilities
def _check_probs(probabilities, labels):
    probabilities = np.asarray(probabilities, dtype=float)
    labels = np.asarray(labels)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must have shape (n_examples, n_classes), got {probabilities.shape}.")
    if labels.shape != (probabilities.shape[0],):
        raise ValueError(f"labels must have shape ({probabilities.shape[0]},), got {labels.shape}.")
    if (not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0
            or labels.max(initial=0) >= probabilities.shape[1]):
        raise ValueError(f"labels must be integers in [0, {probabilities.shape[1]}), got values "
                         f"{np.unique(labels)[:10]}.")
    if not np.all(np.isfinite(probabilities)) or probabilities.min() < 0:
        raise ValueError("probabilities must be finite and non-negative.")
    sums = probabilities.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        raise ValueError(f"each row of probabilities must sum to 1 (got sums from {sums.min():.4g} to "
                         f"{sums.max():.4g}); normalise them first.")
    return probabilities, labels


def reliability_curve(probabilities, labels, n_bins: int = 10) -> dict:
    """Per confidence bin: ``count``, mean ``confidence``, ``accuracy`` (NaN for empty bins) and ``edges``.

    Bins are the ``n_bins`` equal-width intervals ``(a, b]`` of :math:`c_n = \\max_k p_{nk}` (the first also
    holds 0).
    """
    probabilities, labels = _check_probs(probabilities, labels)
    n_bins = positive_int("n_bins", n_bins)
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)  # bins (a, b]
    count = np.bincount(which, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(which, confidence, n_bins) / count
        acc = np.bincount(which, correct, n_bins) / count
    return dict(edges=edges, count=count, confidence=conf, accuracy=acc)


def expected_calibration_error(probabilities, labels, n_bins: int = 10) -> float:
    """ECE with ``n_bins`` equal-width confidence bins (Guo et al. 2017, eq. 3; see the module docstring)."""
    curve = reliability_curve(probabilities, labels, n_bins)
    filled = curve["count"] > 0
    weights = curve["count"][filled] / curve["count"].sum()
    return float(np.sum(weights * np.abs(curve["accuracy"][filled] - curve["confidence"][filled])))


def negative_log_likelihood(probabilities, labels, eps: float = 0.0) -> float:
    """Mean :math:`-\\log p_{n y_n}` in nats; a zero probability on the true class gives ``inf`` unless ``eps``."""
    probabilities, labels = _check_probs(probabilities, labels)
    p = probabilities[np.arange(len(labels)), labels]
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log(np.maximum(p, eps) if eps > 0 else p)))


def rate_decoder_probabilities(counts) -> np.ndarray:
    """Class probabilities from read-out spike counts ``(n_draws, n_examples, n_classes)``.

    Each posterior(-predictive) draw votes for the class whose read-out neuron spiked most (ties share the
    vote); the probability of a class is its share of the votes.
    """
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 3:
        raise ValueError(f"counts must have shape (n_draws, n_examples, n_classes), got {counts.shape}.")
    winners = counts == counts.max(axis=2, keepdims=True)
    votes = winners / winners.sum(axis=2, keepdims=True)
    return votes.mean(axis=0)


def first_spike_decoder_probabilities(spike_times) -> np.ndarray:
    """Class probabilities from first-spike times ``(n_draws, n_examples, n_classes)`` (``inf``: no spike).

    Each draw votes for the read-out neuron that fired first (ties, including no spike at all, share the vote).
    """
    times = np.asarray(spike_times, dtype=float)
    if times.ndim != 3 or np.any(np.isnan(times)):
        raise ValueError("spike_times must be a (n_draws, n_examples, n_classes) array without NaN (inf: no spike).")
    winners = times == times.min(axis=2, keepdims=True)
    votes = winners / winners.sum(axis=2, keepdims=True)
    return votes.mean(axis=0)


# ---------------------------------------------------------------- calibration of inference
def sbc_ranks(truth, draws) -> np.ndarray:
    """Rank of each true value among posterior draws: ``#{draws < truth}``, in ``0..L``.

    Parameters
    ----------
    truth : array (n_datasets, ...)
    draws : array (n_datasets, L, ...)
        ``L`` posterior draws per dataset (thin the chains so that they are roughly independent).
    """
    truth = np.asarray(truth, dtype=float)
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != truth.ndim + 1 or draws.shape[0] != truth.shape[0] or draws.shape[2:] != truth.shape[1:]:
        raise ValueError(f"draws must have shape (n_datasets, L, ...) matching truth {truth.shape}, got {draws.shape}.")
    return np.sum(draws < truth[:, None], axis=1)


def rank_uniformity_test(ranks, n_draws: int, n_bins: int = 10):
    """Chi-square test that SBC ranks (in ``0..n_draws``) are uniform, over ``n_bins`` equal rank bins.

    Returns ``(statistic, p_value, bin_counts)``. ``n_draws + 1`` must be divisible by ``n_bins`` so every
    bin holds the same number of rank values.
    """
    ranks = np.asarray(ranks).ravel()
    n_draws = positive_int("n_draws", n_draws)
    n_bins = positive_int("n_bins", n_bins)
    if (n_draws + 1) % n_bins:
        raise ValueError(f"n_draws + 1 = {n_draws + 1} must be divisible by n_bins = {n_bins}.")
    if ranks.min() < 0 or ranks.max() > n_draws:
        raise ValueError(f"ranks must lie in 0..{n_draws}.")
    counts = np.bincount(ranks * n_bins // (n_draws + 1), minlength=n_bins)
    statistic, p_value = stats.chisquare(counts)
    return float(statistic), float(p_value), counts


def central_interval(draws, level: float = 0.9, axis: int = 0) -> np.ndarray:
    r"""The central ``level`` interval of ``draws`` along ``axis``: ``[lower, upper]``, the quantiles
    :math:`(1 - \mathrm{level})/2` and :math:`(1 + \mathrm{level})/2` (stacked on a new first axis)."""
    level = check_float("level", level, 0.0, 1.0, low_open=True, high_open=True)
    return np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=axis)


def interval_coverage(truth, draws, level: float = 0.9) -> np.ndarray:
    """Whether the central ``level`` credible interval of ``draws`` (axis 1) contains ``truth``; bool array."""
    truth = np.asarray(truth, dtype=float)
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != truth.ndim + 1 or draws.shape[0] != truth.shape[0]:
        raise ValueError(f"draws must have shape (n_datasets, L, ...) matching truth {truth.shape}, got {draws.shape}.")
    lo, hi = central_interval(draws, level, axis=1)
    return (truth >= lo) & (truth <= hi)


# ---------------------------------------------------------------- MCMC convergence
def check_convergence(idata, rhat_max: float = 1.01, ess_min: float = 100.0, warn: bool = True) -> dict:
    """Largest split R-hat, smallest bulk ESS and number of divergences; warn when they look bad.

    Parameters
    ----------
    idata : arviz.InferenceData
    rhat_max : float
        Warn when any R-hat exceeds this (Vehtari et al. 2021 recommend 1.01).
    ess_min : float
        Warn when any bulk ESS is below this.
    warn : bool
        Emit a :class:`ConvergenceWarning` listing the problems.

    Returns
    -------
    dict with ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail``, ``divergences``, ``ok``.
    """
    import arviz as az

    var_names = [v for v in idata.posterior.data_vars if not v.endswith("_filter")]
    n_chains = idata.posterior.sizes["chain"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ess_bulk = az.ess(idata, var_names=var_names, method="bulk")
        ess_tail = az.ess(idata, var_names=var_names, method="tail")
        rhat = az.rhat(idata, var_names=var_names) if n_chains > 1 else None

    def extreme(ds, fn):
        values = [np.asarray(ds[v]).ravel() for v in ds.data_vars]
        values = np.concatenate(values) if values else np.array([np.nan])
        values = values[np.isfinite(values)]
        return float(fn(values)) if values.size else float("nan")

    out = dict(
        max_rhat=extreme(rhat, np.max) if rhat is not None else float("nan"),
        min_ess_bulk=extreme(ess_bulk, np.min),
        min_ess_tail=extreme(ess_tail, np.min),
        divergences=int(np.asarray(idata.sample_stats["diverging"]).sum()) if "diverging" in idata.sample_stats else 0,
    )
    problems = []
    if n_chains > 1 and not out["max_rhat"] <= rhat_max:
        problems.append(f"max R-hat {out['max_rhat']:.4f} > {rhat_max}")
    if not out["min_ess_bulk"] >= ess_min:
        problems.append(f"min bulk ESS {out['min_ess_bulk']:.0f} < {ess_min:.0f}")
    if out["divergences"] > 0:
        problems.append(f"{out['divergences']} divergent transitions")
    out["ok"] = not problems
    if problems and warn:
        warnings.warn("NUTS: " + "; ".join(problems) + ". Run longer chains (num_warmup/num_samples), raise "
                      "target_accept_prob, or reparametrise the prior.", ConvergenceWarning, stacklevel=3)
    return out
