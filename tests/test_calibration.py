"""Calibration metrics (probsnn.diagnostics) and the reliability diagram (probsnn.plots) against hand-computed
values."""
import numpy as np
import pytest

from probsnn import diagnostics as cal
from probsnn import plots


def test_ece_and_nll_hand_computed():
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.55, 0.45]])
    y = np.array([0, 1, 1, 0])
    # bins of width 0.5: confidences 0.9, 0.8, 0.7, 0.55 all fall in (0.5, 1]; acc 3/4, conf 0.7375
    assert cal.expected_calibration_error(p, y, n_bins=2) == pytest.approx(abs(0.75 - 0.7375))
    # 10 bins: (0.8,0.9]: conf .9 correct; (0.7,0.8]: .8 wrong; (0.6,0.7]: .7 correct; (0.5,0.6]: .55 correct
    expected = (abs(1 - 0.9) + abs(0 - 0.8) + abs(1 - 0.7) + abs(1 - 0.55)) / 4
    assert cal.expected_calibration_error(p, y, n_bins=10) == pytest.approx(expected)
    assert cal.negative_log_likelihood(p, y) == pytest.approx(-np.mean(np.log([0.9, 0.2, 0.7, 0.55])))


def test_calibrated_probabilities_have_small_ece():
    rng = np.random.default_rng(0)
    q = rng.uniform(0.5, 1.0, 20000)
    y = (rng.uniform(size=q.size) > q).astype(int)  # class 0 with probability q: calibrated by construction
    p = np.stack([q, 1 - q], axis=1)
    # ECE of a calibrated predictor is only sampling noise: about sqrt(q(1-q)/n_bin) per bin, ~0.01 here
    assert cal.expected_calibration_error(p, y, n_bins=10) < 0.02
    over = np.stack([np.minimum(q + 0.2, 1.0), 1 - np.minimum(q + 0.2, 1.0)], axis=1)
    assert cal.expected_calibration_error(over, y, n_bins=10) > 0.1


def test_decoders_vote_over_draws():
    counts = np.array([[[3, 1]], [[0, 2]], [[1, 1]], [[5, 0]]])  # 4 draws, 1 example, 2 classes
    np.testing.assert_allclose(cal.rate_decoder_probabilities(counts), [[0.625, 0.375]])
    times = np.array([[[0.01, np.inf]], [[np.inf, np.inf]]])
    np.testing.assert_allclose(cal.first_spike_decoder_probabilities(times), [[0.75, 0.25]])


def test_sbc_helpers():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(500,))
    draws = truth[:, None] * 0 + rng.normal(size=(500, 99))  # posterior = prior, truth from the prior
    ranks = cal.sbc_ranks(truth, draws)
    assert ranks.min() >= 0 and ranks.max() <= 99
    assert cal.rank_uniformity_test(ranks, 99)[1] > 0.01
    assert cal.interval_coverage(truth, draws, 0.9).mean() == pytest.approx(0.9, abs=3 * np.sqrt(0.09 / 500) + 0.02)
    narrow = 0.2 * rng.normal(size=(500, 99))
    assert cal.rank_uniformity_test(cal.sbc_ranks(truth, narrow), 99)[1] < 1e-6


@pytest.mark.parametrize("p, y, match", [
    (np.array([0.5, 0.5]), np.array([0]), "shape"),
    (np.array([[0.5, 0.6]]), np.array([0]), "sum to 1"),
    (np.array([[0.5, 0.5]]), np.array([2]), "labels"),
])
def test_bad_inputs_raise(p, y, match):
    with pytest.raises(ValueError, match=match):
        cal.expected_calibration_error(p, y)


def test_reliability_diagram_draws():
    import matplotlib

    matplotlib.use("Agg")
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    fig = plots.reliability_diagram(p, np.array([0, 1]))
    assert "ECE" in fig.axes[0].get_title()
