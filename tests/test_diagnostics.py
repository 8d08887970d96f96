"""Diagnostics: bits/spike by hand, homogeneous likelihood in closed form, time-rescaling KS (size and power)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _glm_helpers import make_network
from scipy import stats
from scipy.special import gammaln

import probsnn as ps
from probsnn import basis, diagnostics


def test_homogeneous_log_likelihood_closed_form():
    counts = np.array([[0, 1], [2, 0], [1, 1], [0, 0]])
    rate = counts.mean(axis=0)
    expected = (counts * np.log(rate) - rate - gammaln(counts + 1)).sum(axis=0)
    got = diagnostics.homogeneous_log_likelihood(counts, ps.PoissonObservation())
    np.testing.assert_allclose(got, expected)
    binary = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    p = binary.mean(axis=0)
    np.testing.assert_allclose(
        diagnostics.homogeneous_log_likelihood(binary, ps.BernoulliObservation()),
        (binary * np.log(p) + (1 - binary) * np.log(1 - p)).sum(axis=0),
    )


def test_bits_per_spike_definition_and_zero_for_homogeneous_model():
    net, params, data = make_network("poisson", n_bins=5000)
    bits = diagnostics.bits_per_spike(net, params, data)
    model_ll = np.asarray(net.log_likelihood(params, data, per="neuron"))
    reference = diagnostics.homogeneous_log_likelihood(data.counts, net.observation)
    np.testing.assert_allclose(bits, (model_ll - reference) / (data.n_spikes * np.log(2)))
    # a homogeneous model at the empirical rate carries exactly zero information
    flat = net.init_params(bias=jnp.log(jnp.asarray(data.counts.mean(axis=0))))
    np.testing.assert_allclose(diagnostics.bits_per_spike(net, flat, data), 0.0, atol=1e-12)


@pytest.mark.parametrize("observation", ["poisson", "bernoulli"])
def test_ks_accepts_the_true_model_and_rejects_a_wrong_one(observation):
    """Size: over 20 independent simulated data sets (3 neurons each), KS p-values under the true model are
    Uniform(0, 1). Power: a homogeneous model of the strongly refractory data is rejected."""
    net, params, data = make_network(observation, n_bins=40_000, seed=21)
    rng = np.random.default_rng(0)
    pvalues = []
    for seed in range(20):
        stimulus = rng.normal(size=(6000, 1))
        sample = net.simulate_data(params, jax.random.PRNGKey(100 + seed), stimulus=stimulus)
        pvalues.extend(diagnostics.time_rescaling_ks(net, params, sample, seed=seed).pvalue)
    pvalues = np.asarray(pvalues)
    assert pvalues.min() > 1e-5  # P(min of 60 uniforms < 1e-5) = 6e-4
    assert stats.kstest(pvalues, "uniform").pvalue > 1e-3
    flat = net.init_params(bias=float(np.log(data.counts.mean())) if observation == "poisson" else -3.0)
    wrong = diagnostics.time_rescaling_ks(net, flat, data, seed=0)
    assert np.all(wrong.pvalue < 1e-3)


def test_ks_discrete_correction_matters_for_high_rates():
    """At high per-bin spike probability, the uncorrected (continuous) transform is biased; ours is not."""
    net = ps.GLMNetwork(1, history_basis=basis.identity(2), observation="bernoulli")
    params = net.init_params(bias=0.5)._replace(coupling_weights=jnp.array([[[-1.0, -0.5]]]))
    data = net.simulate_data(params, jax.random.PRNGKey(0), n_steps=30_000)
    result = diagnostics.time_rescaling_ks(net, params, data, seed=1)
    assert result.pvalue[0] > 1e-3
    p = np.asarray(net.observation.mean(net.potential(params, data)))[:, 0]
    spikes = np.flatnonzero(data.counts[:, 0])
    cumulative = np.concatenate([[0], np.cumsum(p)])
    naive = 1 - np.exp(-(cumulative[spikes[1:]] - cumulative[spikes[:-1]]))
    assert stats.kstest(naive, "uniform").pvalue < 1e-6


def test_smoothed_rate_preserves_counts():
    counts = np.zeros((1000, 1))
    counts[500] = 1
    rate = diagnostics.smoothed_rate(counts, dt=0.001, width=0.01)
    np.testing.assert_allclose(rate.sum() * 0.001, 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="width"):
        diagnostics.smoothed_rate(counts, dt=0.001, width=0)


def test_bits_per_spike_refuses_silent_neurons():
    net, params, data = make_network("poisson", n_bins=100)
    silent = ps.SpikeData(np.zeros((100, 3)), dt=0.001, stimulus=data.stimulus)
    with pytest.raises(ValueError):
        diagnostics.bits_per_spike(net, params, silent)
