r"""Goodness of fit for spiking models: log-likelihood, bits per spike, time-rescaling KS test, rates.

Bits per spike (single-spike information; Brenner et al. 2000, as in Pillow's GLM tutorial):

.. math:: I = \frac{\log p(s \mid \hat\theta) - \log p(s \mid \bar\lambda)}{n_{\rm spikes} \ln 2},

the log-likelihood gain over a homogeneous model with the constant rate :math:`\bar\lambda`.

Time-rescaling theorem (Brown, Barbieri, Ventura, Kass & Frank 2002): if the model's conditional
intensity is right, the rescaled inter-spike intervals :math:`\tau_k = \int_{t_{k-1}}^{t_k}\lambda(t)\,dt`
are i.i.d. Exp(1), so :math:`z_k = 1 - e^{-\tau_k}` are Uniform(0, 1), tested with Kolmogorov-Smirnov.
For binned models the exact spike times within a bin are unknown; we use the randomised discrete-time
correction of Haslinger, Pipa & Brown (2010): for Bernoulli bins with spike probability :math:`p_t`,

.. math:: \tau_k = \sum_{t_{k-1} < t < t_k} q_t + \delta_k, \quad q_t = -\log(1 - p_t),
    \quad \delta_k = -\log\bigl(1 - r_k (1 - e^{-q_{t_k}})\bigr), \; r_k \sim U(0, 1);

for Poisson counts the intensity is taken as constant within each bin and the spikes of a bin are placed
at uniform random positions in it (exact for a piecewise-constant-rate Poisson process).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .data import SpikeData

__all__ = [
    "homogeneous_log_likelihood",
    "bits_per_spike",
    "time_rescaling_ks",
    "KSResult",
    "smoothed_rate",
]


def homogeneous_log_likelihood(counts, observation, rate_per_bin=None) -> np.ndarray:
    """Log-likelihood per neuron of a constant-rate model (the rate defaults to the counts' own mean).

    Parameters
    ----------
    counts : array (T, N)
    observation : observation model of the network (Poisson or Bernoulli)
    rate_per_bin : array (N,), optional
        Expected spikes per bin of the reference model, e.g. the training mean for held-out data.
    """
    counts = np.asarray(counts, dtype=np.float64)
    mean = counts.mean(axis=0) if rate_per_bin is None else np.asarray(rate_per_bin, dtype=np.float64)
    if np.any(mean <= 0):
        raise ValueError("the homogeneous reference rate must be > 0 for every neuron (a neuron without spikes?).")
    if observation.name == "bernoulli":
        if np.any(mean >= 1):
            raise ValueError("a Bernoulli reference rate must be < 1 spike per bin.")
        return (counts * np.log(mean) + (1 - counts) * np.log1p(-mean)).sum(axis=0)
    from scipy.special import gammaln

    return (counts * np.log(mean) - mean - gammaln(counts + 1)).sum(axis=0)


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
    """
    model_ll = np.asarray(net.log_likelihood(params, data, per="neuron", design=design))
    reference_ll = homogeneous_log_likelihood(data.counts, net.observation, reference_rate)
    n_spikes = data.n_spikes.astype(np.float64)
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


def time_rescaling_ks(net, params, data: SpikeData, seed: int = 0, design=None) -> KSResult:
    """Time-rescaling KS goodness-of-fit test of a fitted network on ``data`` (see module docstring)."""
    expected = np.asarray(net.observation.mean(net.potential(params, data, design)), dtype=np.float64)
    rng = np.random.default_rng(seed)
    bernoulli = net.observation.name == "bernoulli"
    statistics, pvalues, rescaled = [], [], []
    for i in range(data.n_neurons):
        z = _rescaled_intervals(data.counts[:, i], expected[:, i], bernoulli, rng)
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

    if not width > 0:
        raise ValueError(f"width must be > 0 seconds, got {width!r}.")
    counts = np.asarray(counts, dtype=np.float64)
    return gaussian_filter1d(counts, sigma=width / dt, axis=0, mode="nearest") / dt
