"""GLMNetwork: the parallel likelihood against statsmodels and a direct loop; simulate vs likelihood."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import statsmodels.api as sm
from _glm_helpers import make_network
from scipy import stats

import probsnn as ps
from probsnn import basis


def loop_potential(net, params, data):
    """u[t, i] by explicit sums over lags (independent of the convolution code)."""
    filters = net.filters(params)
    T, N = data.counts.shape
    u = np.tile(np.asarray(params.bias), (T, 1)).astype(float)
    for t in range(T):
        for l, lag in enumerate(filters.get("stimulus_lags", [])):
            if t - lag >= 0:
                u[t] += filters["stimulus"][:, :, l] @ data.stimulus[t - lag]
        for l, lag in enumerate(filters.get("coupling_lags", [])):
            if t - lag >= 0:
                u[t] += (filters["coupling"][:, :, l] * net.coupling_mask) @ data.counts[t - lag]
    return u


@pytest.mark.parametrize("observation", ["poisson", "bernoulli"])
def test_potential_matches_direct_sums(observation):
    net, params, data = make_network(observation, n_bins=300)
    np.testing.assert_allclose(np.asarray(net.potential(params, data)), loop_potential(net, params, data), atol=1e-10)


@pytest.mark.parametrize("observation, family",
                         [("poisson", sm.families.Poisson()), ("bernoulli", sm.families.Binomial())])
def test_log_likelihood_matches_statsmodels(observation, family):
    net, params, data = make_network(observation, n_bins=3000)
    design = np.asarray(net.design_matrix(data))
    weights = np.asarray(net.flatten(params))
    ours = np.asarray(net.log_likelihood(params, data, per="neuron"))
    for i in range(net.n_neurons):
        reference = sm.GLM(data.counts[:, i], design, family=family).loglike(weights[i])
        np.testing.assert_allclose(ours[i], reference, rtol=1e-10)
    np.testing.assert_allclose(float(net.log_likelihood(params, data)), ours.sum(), rtol=1e-12)


@pytest.mark.parametrize("observation", ["poisson", "bernoulli"])
def test_simulated_potentials_equal_parallel_potentials(observation):
    """The scan sampler and the convolve-then-contract likelihood compute the same u for the same spikes."""
    net, params, _ = make_network(observation, n_bins=10)
    stimulus = np.random.default_rng(5).normal(size=(2000, 1))
    spikes, potentials = net.simulate(params, jax.random.PRNGKey(3), stimulus=stimulus)
    data = ps.SpikeData(np.asarray(spikes), dt=0.001, stimulus=stimulus)
    np.testing.assert_allclose(np.asarray(net.potential(params, data)), np.asarray(potentials), atol=1e-10)


def calibration_chi2(counts, expected, variance, n_groups=10):
    """Chi-square of observed vs expected spike counts in bins grouped by the model's intensity."""
    order = np.argsort(expected)
    groups = np.array_split(order, n_groups)
    z = [(counts[g].sum() - expected[g].sum()) / np.sqrt(variance[g].sum()) for g in groups]
    statistic = float(np.sum(np.square(z)))
    return statistic, stats.chi2.sf(statistic, n_groups)


@pytest.mark.parametrize("observation", ["poisson", "bernoulli"])
def test_simulate_is_calibrated_against_log_likelihood(observation):
    """Empirical spike frequencies of sampled trains match the conditional intensity the likelihood uses.

    Given the past, s_t - E[s_t | past] is a martingale difference, so grouped sums are asymptotically normal
    with variance sum Var[s_t | past]; the chi-square over 10 groups must not reject at 0.1%. The same test
    must reject a model whose bias is off by 0.15 (power check: the test can fail).
    """
    net, params, data = make_network(observation, n_bins=60_000, seed=11)
    mean = np.asarray(net.observation.mean(net.potential(params, data)))
    variance = mean * (1 - mean) if observation == "bernoulli" else mean
    for i in range(net.n_neurons):
        _, p_value = calibration_chi2(data.counts[:, i], mean[:, i], variance[:, i])
        assert p_value > 1e-3, f"neuron {i}: simulated spikes inconsistent with the likelihood (p={p_value:.2g})"
    wrong = params._replace(bias=params.bias + 0.15)
    wrong_mean = np.asarray(net.observation.mean(net.potential(wrong, data)))
    wrong_var = wrong_mean * (1 - wrong_mean) if observation == "bernoulli" else wrong_mean
    _, p_wrong = calibration_chi2(data.counts[:, 0], wrong_mean[:, 0], wrong_var[:, 0])
    assert p_wrong < 1e-3


def test_masks_remove_connections():
    mask = np.array([[True, False], [True, True]])
    net = ps.GLMNetwork(2, history_basis=basis.identity(3), coupling_mask=mask)
    params = net.init_params()._replace(coupling_weights=jnp.ones((2, 2, 3)))
    flat = np.asarray(net.flatten(params))
    assert flat[0, 3:6].sum() == 0 and flat[1, 0:6].sum() == 6
    assert net.n_free_parameters == 3 * 3 + 2


def test_init_flatten_unflatten_roundtrip():
    net, params, _ = make_network(n_bins=10)
    back = net.unflatten(net.flatten(params))
    for a, b in zip(params, back):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ps.GLMNetwork(0), "n_neurons"),
        (lambda: ps.GLMNetwork(2, history_basis=basis.identity(3, lag_offset=0)), "lag_offset"),
        (lambda: ps.GLMNetwork(2, observation="gaussian"), "observation"),
        (lambda: ps.GLMNetwork(2, observation="bernoulli", temperature=0.0), "temperature"),
        (lambda: ps.GLMNetwork(2, link="identity"), "link"),
        (lambda: ps.GLMNetwork(2, history_basis=basis.identity(3), coupling_mask=np.ones((3, 3))), "coupling_mask"),
        (lambda: ps.GLMNetwork(2, n_stimulus_dims=1), "stimulus_basis"),
    ],
)
def test_bad_configuration_raises(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_params_and_data_raise():
    net, params, data = make_network(n_bins=50)
    with pytest.raises(ValueError, match="shape"):
        net.log_likelihood(params._replace(bias=jnp.zeros(5)), data)
    with pytest.raises(ValueError, match="non-finite"):
        net.log_likelihood(params._replace(bias=params.bias.at[0].set(jnp.nan)), data)
    with pytest.raises(ValueError, match="neurons"):
        net.log_likelihood(params, ps.SpikeData(np.zeros((50, 2)), dt=0.001, stimulus=np.zeros(50)))
    with pytest.raises(ValueError, match="stimulus dimensions"):
        net.log_likelihood(params, ps.SpikeData(np.zeros((50, 3)), dt=0.001))
    bern = ps.GLMNetwork(3, history_basis=basis.identity(2), observation="bernoulli")
    with pytest.raises(ValueError, match="binary"):
        bern.log_likelihood(bern.init_params(), ps.SpikeData(np.full((5, 3), 2), dt=0.001))
    with pytest.raises(ValueError, match="stimulus"):
        net.simulate(params, jax.random.PRNGKey(0), n_steps=10)


@pytest.mark.parametrize("observation", [ps.PoissonObservation("exp"), ps.PoissonObservation("softplus"),
                                         ps.BernoulliObservation(0.5)])
def test_unnormalised_log_prob_differs_only_by_the_count_term(observation):
    """Newton's method uses log p without -log(k!): the difference must not depend on the potential."""
    from scipy.special import gammaln

    counts = jnp.array([0.0, 1.0, 0.0, 1.0, 0.0]) if observation.name == "bernoulli" else jnp.array([0.0, 1, 2, 5, 3])
    potential = jnp.linspace(-2.0, 1.5, 5)
    gap = observation.log_prob(counts, potential) - observation.unnormalised_log_prob(counts, potential)
    expected = 0.0 if observation.name == "bernoulli" else -gammaln(np.asarray(counts) + 1.0)
    np.testing.assert_allclose(gap, expected, atol=1e-12)


def test_poisson_log_rate_is_numpyros_poisson_of_the_exp_rate():
    """The exp-link count law of the NumPyro model: log-probabilities and their gradients equal NumPyro's
    ``Poisson(exp(eta))``, and draws have the Poisson mean and variance (within 4 standard errors)."""
    import numpyro.distributions as dist

    log_rate = jnp.linspace(-3.0, 2.0, 11)
    counts = jnp.arange(11.0) % 5
    ours = lambda eta: ps.PoissonLogRate(eta).log_prob(counts).sum()  # noqa: E731
    numpyros = lambda eta: dist.Poisson(jnp.exp(eta)).log_prob(counts).sum()  # noqa: E731
    np.testing.assert_allclose(ps.PoissonLogRate(log_rate).log_prob(counts),
                               dist.Poisson(jnp.exp(log_rate)).log_prob(counts), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jax.grad(ours)(log_rate), jax.grad(numpyros)(log_rate), rtol=1e-12, atol=1e-12)
    assert isinstance(ps.PoissonObservation("exp").numpyro_distribution(log_rate), ps.PoissonLogRate)

    eta, n = 0.7, 40_000
    draws = np.asarray(ps.PoissonLogRate(jnp.full(n, eta)).sample(jax.random.PRNGKey(0)), float)
    rate = np.exp(eta)
    assert abs(draws.mean() - rate) < 4 * np.sqrt(rate / n)
    # Var of the sample variance of a Poisson: (mu4 - sigma^4) / n with mu4 = rate (1 + 3 rate)
    assert abs(draws.var() - rate) < 4 * np.sqrt((rate * (1 + 3 * rate) - rate**2) / n)
    with pytest.warns(UserWarning, match="Out-of-support"):  # NumPyro's support check, as for its Poisson
        assert np.all(np.isneginf(ps.PoissonLogRate(log_rate, validate_args=True).log_prob(jnp.full(11, -1.0))))
