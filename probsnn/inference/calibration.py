r"""Calibration: of predictive probabilities (ECE, NLL, reliability) and of inference itself (SBC, coverage).

Classification read-outs
    For predicted class probabilities :math:`p_{nk}` and labels :math:`y_n`, the confidence is
    :math:`c_n = \max_k p_{nk}` and the prediction :math:`\hat y_n = \arg\max_k p_{nk}`. With the confidences
    binned into ``M`` equal-width bins :math:`B_m`,

    .. math::
        \mathrm{ECE} = \sum_m \frac{|B_m|}{n} \bigl|\mathrm{acc}(B_m) - \mathrm{conf}(B_m)\bigr|,
        \qquad \mathrm{NLL} = -\frac1n \sum_n \log p_{n y_n}

    (Naeini et al. 2015; Guo et al. 2017). :func:`reliability_diagram` plots accuracy against confidence
    per bin. :func:`rate_decoder_probabilities` turns posterior predictive spike counts of a read-out layer
    into class probabilities (the class whose neuron fires most, or fires first, averaged over posterior
    draws; ties split evenly).

Inference
    Simulation-based calibration (Talts et al. 2018): for parameters :math:`\theta^\ast` drawn from the prior
    and data simulated from them, the rank of :math:`\theta^\ast` among :math:`L` (roughly independent)
    posterior draws is uniform on :math:`\{0, \dots, L\}` exactly when the posterior is correct.
    :func:`sbc_ranks` computes the ranks, :func:`rank_uniformity_test` a chi-square test of uniformity over
    equal-width rank bins, and :func:`interval_coverage` the fraction of central credible intervals that
    contain the truth.
"""
from __future__ import annotations

import numpy as np

__all__ = ["expected_calibration_error", "negative_log_likelihood", "reliability_curve", "reliability_diagram",
           "rate_decoder_probabilities", "first_spike_decoder_probabilities", "sbc_ranks",
           "rank_uniformity_test", "interval_coverage"]


def _check_probs(probabilities, labels):
    probabilities = np.asarray(probabilities, dtype=float)
    labels = np.asarray(labels)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must have shape (n_examples, n_classes), got {probabilities.shape}.")
    if labels.shape != (probabilities.shape[0],):
        raise ValueError(f"labels must have shape ({probabilities.shape[0]},), got {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0 or labels.max(initial=0) >= probabilities.shape[1]:
        raise ValueError(f"labels must be integers in [0, {probabilities.shape[1]}), got values "
                         f"{np.unique(labels)[:10]}.")
    if not np.all(np.isfinite(probabilities)) or probabilities.min() < 0:
        raise ValueError("probabilities must be finite and non-negative.")
    sums = probabilities.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        raise ValueError(f"each row of probabilities must sum to 1 (got sums from {sums.min():.4g} to "
                         f"{sums.max():.4g}); normalise them first.")
    return probabilities, labels


def _check_bins(n_bins):
    if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}.")
    return int(n_bins)


def reliability_curve(probabilities, labels, n_bins: int = 10) -> dict:
    """Per confidence bin: ``count``, mean ``confidence``, ``accuracy`` (NaN for empty bins) and ``edges``."""
    probabilities, labels = _check_probs(probabilities, labels)
    n_bins = _check_bins(n_bins)
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
    """ECE with ``n_bins`` equal-width confidence bins (Guo et al. 2017, eq. 3)."""
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


def reliability_diagram(probabilities, labels, n_bins: int = 10, ax=None, title: str = ""):
    """Accuracy against confidence per bin, with the diagonal of perfect calibration and the ECE/NLL."""
    import matplotlib.pyplot as plt

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


def _check_counts(counts):
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 3:
        raise ValueError(f"counts must have shape (n_draws, n_examples, n_classes), got {counts.shape}.")
    return counts


def rate_decoder_probabilities(counts) -> np.ndarray:
    """Class probabilities from read-out spike counts ``(n_draws, n_examples, n_classes)``.

    Each posterior(-predictive) draw votes for the class whose read-out neuron spiked most (ties share the
    vote); the probability of a class is its share of the votes.
    """
    counts = _check_counts(counts)
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
    from scipy import stats

    ranks = np.asarray(ranks).ravel()
    n_bins = _check_bins(n_bins)
    if (n_draws + 1) % n_bins:
        raise ValueError(f"n_draws + 1 = {n_draws + 1} must be divisible by n_bins = {n_bins}.")
    if ranks.min() < 0 or ranks.max() > n_draws:
        raise ValueError(f"ranks must lie in 0..{n_draws}.")
    counts = np.bincount(ranks * n_bins // (n_draws + 1), minlength=n_bins)
    statistic, p_value = stats.chisquare(counts)
    return float(statistic), float(p_value), counts


def interval_coverage(truth, draws, level: float = 0.9) -> np.ndarray:
    """Whether the central ``level`` credible interval of ``draws`` (axis 1) contains ``truth``; bool array."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}.")
    truth = np.asarray(truth, dtype=float)
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != truth.ndim + 1 or draws.shape[0] != truth.shape[0]:
        raise ValueError(f"draws must have shape (n_datasets, L, ...) matching truth {truth.shape}, got {draws.shape}.")
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=1)
    return (truth >= lo) & (truth <= hi)
