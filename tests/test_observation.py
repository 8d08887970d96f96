"""Observation models (probsnn.neurons.observation): score against jax.grad, inverse link against the mean,
log-probabilities against SciPy's distributions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from probsnn.neurons.observation import BernoulliObservation, PoissonObservation, make_observation

LAWS = [PoissonObservation("exp"), PoissonObservation("softplus"), BernoulliObservation(1.0),
        BernoulliObservation(0.4)]


@pytest.mark.parametrize("law", LAWS, ids=["poisson-exp", "poisson-softplus", "bernoulli-1", "bernoulli-0.4"])
def test_score_is_the_gradient_of_the_log_probability(law):
    rng = np.random.default_rng(0)
    potential = jnp.asarray(rng.normal(size=50))
    counts = jnp.asarray(rng.poisson(1.0, size=50) if law.name == "poisson" else rng.random(50) < 0.4, float)
    autodiff = jax.grad(lambda u: jnp.sum(law.log_prob(counts, u)))(potential)
    np.testing.assert_allclose(law.score(counts, potential), autodiff, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("law", LAWS, ids=["poisson-exp", "poisson-softplus", "bernoulli-1", "bernoulli-0.4"])
def test_inverse_link_inverts_the_mean(law):
    low, high = law.mean_bounds
    means = np.linspace(0.05, 0.95, 7) if high == 1.0 else np.linspace(0.01, 30.0, 7)
    assert np.all((means > low) & (means < high))
    np.testing.assert_allclose(law.mean(jnp.asarray(law.inverse_link(means))), means, rtol=1e-10)


def test_log_probabilities_match_scipy():
    rng = np.random.default_rng(1)
    u = rng.normal(size=40)
    counts = rng.poisson(np.exp(u))
    np.testing.assert_allclose(PoissonObservation("exp").log_prob(jnp.asarray(counts, float), jnp.asarray(u)),
                               stats.poisson.logpmf(counts, np.exp(u)), rtol=1e-10)
    rate = np.log1p(np.exp(u))
    np.testing.assert_allclose(PoissonObservation("softplus").log_prob(jnp.asarray(counts, float), jnp.asarray(u)),
                               stats.poisson.logpmf(counts, rate), rtol=1e-10)
    spikes = (rng.random(40) < 0.5).astype(float)
    p = 1 / (1 + np.exp(-u / 0.7))
    np.testing.assert_allclose(BernoulliObservation(0.7).log_prob(jnp.asarray(spikes), jnp.asarray(u)),
                               stats.bernoulli.logpmf(spikes, p), rtol=1e-10)


def test_bad_observation_arguments():
    with pytest.raises(ValueError, match="observation must be one of"):
        make_observation("cauchy")
    with pytest.raises(ValueError, match="link"):
        PoissonObservation("identity")
    with pytest.raises(ValueError, match="temperature"):
        BernoulliObservation(0.0)


def test_safe_potential_bound_is_where_the_mean_reaches_the_count_maximum():
    from probsnn.data import MAX_COUNT_PER_BIN

    for law in (PoissonObservation("exp"), PoissonObservation("softplus")):
        bound = law.safe_potential_bound
        np.testing.assert_allclose(float(law.mean(jnp.asarray(bound))), MAX_COUNT_PER_BIN, rtol=1e-12)
    np.testing.assert_allclose(PoissonObservation("exp").safe_potential_bound, 24 * np.log(2.0), rtol=1e-15)
    assert BernoulliObservation(0.5).safe_potential_bound == np.inf


def test_softplus_inverse_link_does_not_overflow_for_large_means():
    law = PoissonObservation("softplus")
    means = np.array([1e-6, 0.3, 5.0, 40.0, 800.0, 1e7])
    with np.errstate(over="raise"):
        potential = law.inverse_link(means)
    np.testing.assert_allclose(np.asarray(law.mean(jnp.asarray(potential))), means, rtol=1e-12)
