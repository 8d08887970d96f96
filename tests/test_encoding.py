"""Tests of probsnn.encoding: encoders against their defining formulas, decoders against hand-made spike trains."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn import encoding


def test_rate_bernoulli_rates_within_standard_errors():
    values = jnp.array([0.0, 0.2, 0.5, 1.0])
    n = 20000
    spikes = encoding.rate_bernoulli(jax.random.PRNGKey(0), values, n, p_max=0.8, p_min=0.05)
    assert spikes.shape == (n, 4)
    p = 0.05 + 0.75 * np.asarray(values)
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(np.asarray(spikes.mean(0)) - p) < 4 * se)
    assert set(np.unique(np.asarray(spikes))) <= {0.0, 1.0}


def test_rate_poisson_mean_and_variance():
    values = jnp.array([0.25, 1.0])
    n = 20000
    counts = np.asarray(encoding.rate_poisson(jax.random.PRNGKey(1), values, n, max_rate=100.0, dt=0.02))
    lam = 100 * 0.02 * np.asarray(values)
    assert np.all(np.abs(counts.mean(0) - lam) < 4 * np.sqrt(lam / n))
    assert np.all(np.abs(counts.var(0) / lam - 1) < 0.05)  # Poisson: variance = mean


def test_latency_first_spike_times_and_threshold():
    values = jnp.array([1.0, 0.5, 0.0, 0.1])
    spikes = np.asarray(encoding.latency(values, 11, threshold=0.05))
    assert spikes.shape == (11, 4)
    np.testing.assert_array_equal(spikes.sum(0), [1, 1, 0, 1])
    assert np.argmax(spikes[:, 0]) == 0 and np.argmax(spikes[:, 1]) == 5 and np.argmax(spikes[:, 3]) == 9
    # first-to-spike decoding of a latency code recovers the largest value
    assert int(encoding.first_to_spike_decode(spikes)) == 0


def test_population_code_rates_and_decoding():
    n = 4000
    spikes = encoding.population(jax.random.PRNGKey(2), jnp.array([0.3]), n, n_neurons=5, p_max=0.9)
    assert spikes.shape == (n, 1, 5)
    centres, width = encoding.population_centres(5)
    p = 0.9 * np.exp(-0.5 * ((0.3 - centres) / width) ** 2)
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(np.asarray(spikes.mean(0))[0] - p) < 4 * se + 1e-12)
    decoded = float(encoding.population_decode(spikes, centres)[0])
    expected = float(p @ centres / p.sum())  # the decoder's large-T limit
    assert abs(decoded - expected) < 0.01


def test_rate_and_first_to_spike_decoders_on_hand_made_trains():
    spikes = np.zeros((5, 2, 3))
    spikes[[0, 1, 2], 0, 2] = 1  # example 0: class 2 spikes 3 times, starting at t=0
    spikes[[3, 4], 0, 1] = 1
    spikes[[1, 2], 1, 0] = 1  # example 1: tie between class 0 and class 1 (2 spikes each)
    spikes[[2, 3], 1, 1] = 1
    np.testing.assert_array_equal(encoding.rate_decode(spikes), [2, 0])
    np.testing.assert_array_equal(encoding.rate_decode(spikes, scores=np.array([[0, 0, 0], [0.1, 0.9, 0]])), [2, 1])
    np.testing.assert_array_equal(encoding.first_to_spike_decode(spikes), [2, 0])
    assert int(encoding.first_to_spike_decode(np.zeros((4, 3)))) == -1


def test_encoders_reject_bad_input():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        encoding.rate_bernoulli(jax.random.PRNGKey(0), jnp.array([1.5]), 3)
    with pytest.raises(ValueError, match="n_steps"):
        encoding.latency(jnp.array([0.5]), 0)
    with pytest.raises(ValueError, match="finite"):
        encoding.rate_poisson(jax.random.PRNGKey(0), jnp.array([np.nan]), 3, 10.0, 0.01)
    with pytest.raises(ValueError, match="low, high"):
        encoding.population(jax.random.PRNGKey(0), jnp.array([2.0]), 3, 4)
    with pytest.raises(ValueError, match="never spiked"):
        encoding.population_decode(np.zeros((3, 4)), np.arange(4.0))
