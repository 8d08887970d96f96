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


def test_population_under_jit_matches_eager():
    """Regression: the value check of ``population`` once raised TracerBoolConversionError under jit."""
    key, values = jax.random.PRNGKey(3), jnp.array([[0.1, 0.55], [0.9, 1.0]])
    eager = encoding.population(key, values, 6, n_neurons=4, p_max=0.8)
    jitted = jax.jit(lambda k, v: encoding.population(k, v, 6, n_neurons=4, p_max=0.8))(key, values)
    assert jitted.shape == (6, 2, 2, 4)
    np.testing.assert_array_equal(jitted, eager)
    with pytest.raises(ValueError, match="low, high"):  # the eager call still validates
        encoding.population(key, jnp.array([-0.1]), 6, n_neurons=4)


@pytest.mark.parametrize("encode", [
    lambda k, v: encoding.rate_bernoulli(k, v, 5, p_max=0.7, p_min=0.1),
    lambda k, v: encoding.rate_poisson(k, v, 5, max_rate=80.0, dt=0.01),
    lambda k, v: encoding.latency(v, 5, threshold=0.2),
], ids=["rate_bernoulli", "rate_poisson", "latency"])
def test_encoders_under_jit_match_eager(encode):
    key, values = jax.random.PRNGKey(4), jnp.array([0.0, 0.3, 0.8, 1.0])
    np.testing.assert_array_equal(jax.jit(encode)(key, values), encode(key, values))


def test_population_decode_under_jit_matches_eager():
    spikes = encoding.population(jax.random.PRNGKey(5), jnp.array([0.2, 0.7]), 200, n_neurons=5)
    centres, _ = encoding.population_centres(5)
    np.testing.assert_allclose(jax.jit(encoding.population_decode)(spikes, centres),
                               encoding.population_decode(spikes, centres), rtol=1e-6)


def test_population_centres_per_dimension():
    centres, width = encoding.population_centres(5, -1.0, 1.0)
    np.testing.assert_allclose(centres, [-1.0, -0.5, 0.0, 0.5, 1.0])
    assert width == 0.5
    centres, widths = encoding.population_centres(3, [0.0, -2.0], [1.0, 2.0])
    np.testing.assert_allclose(centres, [[0.0, 0.5, 1.0], [-2.0, 0.0, 2.0]])
    np.testing.assert_allclose(widths, [0.5, 2.0])
    with pytest.raises(ValueError, match="n_neurons"):
        encoding.population_centres(1)
    with pytest.raises(ValueError, match="low < high"):
        encoding.population_centres(3, 1.0, 1.0)


def test_one_hot_encoder_rate_code():
    encoder = encoding.OneHotEncoder(4, rate=0.3)
    np.testing.assert_allclose(encoder.probabilities(2), [0.0, 0.0, 0.3, 0.0])
    key = jax.random.PRNGKey(6)
    spikes = encoder.encode(key, 2, 3000)
    assert spikes.shape == (3000, 4) and np.all(np.asarray(spikes)[:, [0, 1, 3]] == 0)
    assert abs(float(spikes[:, 2].mean()) - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 3000)
    # the stochastic encoder is the Bernoulli rate code of its probabilities
    np.testing.assert_array_equal(spikes, encoding.rate_bernoulli(key, encoder.probabilities(2), 3000))
    deterministic = encoding.OneHotEncoder(4)
    np.testing.assert_array_equal(deterministic.encode(None, 1, 2), [[0, 1, 0, 0], [0, 1, 0, 0]])


def test_population_encoder_gaussian_receptive_fields():
    low, high = np.array([-1.0, 0.0]), np.array([1.0, 4.0])
    encoder = encoding.PopulationEncoder(low, high, n_per_dim=5, p_max=0.9)
    assert encoder.n_inputs == 10
    observation = np.array([0.3, 5.0])  # the second lies outside its range: not clipped
    expected = [
        0.9 * np.exp(-0.5 * ((observation[d] - np.linspace(low[d], high[d], 5)) / ((high[d] - low[d]) / 4)) ** 2)
        for d in range(2)
    ]
    np.testing.assert_allclose(encoder.probabilities(jnp.asarray(observation)), np.concatenate(expected), rtol=1e-6)
    # one dimension of the encoder is the functional population code of the same range
    centres, width = encoding.population_centres(5, -1.0, 1.0)
    np.testing.assert_allclose(encoder.probabilities(jnp.array([0.3, 2.0]))[:5],
                               0.9 * np.exp(-0.5 * ((0.3 - centres) / width) ** 2), rtol=1e-6)
    analog = encoding.PopulationEncoder(low, high, n_per_dim=5, stochastic=False)
    current = analog.encode(None, jnp.asarray(observation), 3)
    assert current.shape == (3, 10)
    np.testing.assert_array_equal(current[0], analog.probabilities(jnp.asarray(observation)))
    np.testing.assert_array_equal(current[0], current[2])


def test_observation_encoders_reject_bad_arguments():
    with pytest.raises(ValueError, match="n_states"):
        encoding.OneHotEncoder(0)
    with pytest.raises(ValueError, match=r"rate .*\(0, 1\]"):
        encoding.OneHotEncoder(3, rate=1.5)
    with pytest.raises(ValueError, match="1-d of equal length"):
        encoding.PopulationEncoder([0.0, 0.0], [1.0])
    with pytest.raises(ValueError, match="low < high"):
        encoding.PopulationEncoder([0.0, np.nan], [1.0, 1.0])
    with pytest.raises(ValueError, match="n_per_dim"):
        encoding.PopulationEncoder([0.0], [1.0], n_per_dim=1)
    with pytest.raises(ValueError, match="p_max"):
        encoding.PopulationEncoder([0.0], [1.0], p_max=0.0)


def test_assign_and_predict_labels_on_hand_made_responses():
    # neurons 0, 1 answer class 0, neuron 2 class 1, neuron 3 class 2
    responses = np.array([[5, 4, 0, 0],
                          [6, 3, 1, 0],
                          [0, 1, 7, 1],
                          [1, 0, 1, 3]])
    labels = np.array([0, 0, 1, 2])
    neuron_labels = encoding.assign_labels(responses, labels, 4)  # class 3 has no samples: mean response 0
    np.testing.assert_array_equal(neuron_labels, [0, 0, 1, 2])
    np.testing.assert_array_equal(encoding.predict_labels(responses, neuron_labels, 4), [0, 0, 1, 2])
    # a class without neurons never wins (score -inf), even against all-zero responses
    np.testing.assert_array_equal(encoding.predict_labels(np.zeros((1, 4)), neuron_labels, 4), [0])
    with pytest.raises(ValueError, match="responses but"):
        encoding.assign_labels(responses, labels[:3], 4)
    with pytest.raises(ValueError, match="n_classes"):
        encoding.assign_labels(responses, labels, 0)
    with pytest.raises(ValueError, match="one label per neuron"):
        encoding.predict_labels(responses, neuron_labels[:3], 4)
