"""GLMNetwork: the parallel likelihood against statsmodels and a direct loop; simulate vs likelihood."""
import warnings

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
        (lambda: ps.GLMNetwork(2, observation="cauchy"), "observation"),
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


def _runaway_network():
    """Two Poisson neurons that excite themselves and each other: every spike raises the rate further."""
    net = ps.GLMNetwork(2, history_basis=basis.raised_cosine_log(2, 5))
    return net, net.init_params(bias=0.0)._replace(coupling_weights=jnp.full((2, 2, 2), 1.0))


def test_simulating_an_explosive_network_raises_or_warns_simulate_data_raises_and_jit_still_runs():
    """Unchecked, the counts saturate at the int64 maximum (9.2e18) a few bins in; simulate raises (or, with
    on_explosion='warn', warns and returns the path) and simulate_data raises, naming the cause and the fix."""
    net, params = _runaway_network()
    with pytest.raises(ValueError, match=r"simulate: the network is explosive .* at bin \d+ neuron 'n\d'.*"
                                         r"coupling_weights smaller.*on_explosion='warn'"):
        net.simulate(params, jax.random.PRNGKey(0), n_steps=60)
    with pytest.raises(ValueError, match="on_explosion"):
        net.simulate(params, jax.random.PRNGKey(0), n_steps=60, on_explosion="ignore")
    with pytest.warns(RuntimeWarning, match=r"explosive .* at bin \d+ neuron 'n\d'.*coupling_weights smaller"):
        spikes, _ = net.simulate(params, jax.random.PRNGKey(0), n_steps=60, on_explosion="warn")
    assert float(jnp.max(spikes)) > 2**24  # returned as sampled, for inspection
    with pytest.raises(ValueError, match="explosive"):
        net.simulate_data(params, jax.random.PRNGKey(0), n_steps=60)
    # under jit the outputs are traced: nothing is checked, and the traced program still runs
    spikes, _ = jax.jit(lambda p, k: net.simulate(p, k, n_steps=60))(params, jax.random.PRNGKey(0))
    assert float(jnp.max(spikes)) > 2**24
    # a stable network (inhibitory self-history) simulates as before, without a warning
    stable = params._replace(coupling_weights=jnp.asarray(np.diag([-1.0, -1.0])[:, :, None] * np.ones(2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spikes, potentials = net.simulate(stable, jax.random.PRNGKey(0), n_steps=60)
    assert np.all(np.asarray(potentials) <= 0.0) and np.all(np.isfinite(np.asarray(spikes)))


def test_non_finite_design_or_data_is_refused_at_every_fitter_with_its_position(monkeypatch):
    """fit_map, laplace_posterior, fit_nuts and fit_svi share GLMNetwork.check_data: a NaN/inf in a given
    design, or in counts or stimulus edited in place after SpikeData checked them, is reported with the argument
    and the index of the first bad entry, before any jitted code (the jitted pieces are replaced by tripwires)."""
    import probsnn.inference.map as map_module
    from probsnn import fit_map, fit_nuts, fit_svi, laplace_posterior

    def tripwire(*args, **kwargs):
        raise AssertionError("jitted fitting code ran before the input check")

    for name in ("_newton_loop", "_curvature", "_objective", "fit_map"):
        monkeypatch.setattr(map_module, name, tripwire)
    rng = np.random.default_rng(0)
    net = ps.GLMNetwork(3, stimulus_basis=basis.raised_cosine_linear(3, 10, lag_offset=0),
                        history_basis=basis.raised_cosine_log(4, 30))
    data = ps.SpikeData(rng.poisson(0.2, (60, 3)), dt=0.001, stimulus=rng.normal(size=(60, 1)))
    design = np.array(net.design_matrix(data))
    design[7, 2] = np.nan
    design[9, 0] = np.inf
    for fit in (fit_map, laplace_posterior, fit_nuts, fit_svi):
        with pytest.raises(ValueError, match=r"design contains a non-finite value \(nan\) at index \(7, 2\): bin 7, "
                                             r"feature 2 \('stim\[0\]:b2'\)"):
            fit(net, data, design=design)
    with pytest.raises(ValueError, match=r"design has shape \(60, 3\)"):
        fit_map(net, data, design=design[:, :3])
    edited = ps.SpikeData(np.array(data.counts, float), dt=data.dt, stimulus=data.stimulus)
    edited.counts[11, 1] = np.nan
    for fit in (fit_map, laplace_posterior, fit_nuts, fit_svi):
        with pytest.raises(ValueError, match=r"data.counts contains 1 non-finite value\(s\).* at index \(11, 1\)"):
            fit(net, edited)
    edited = ps.SpikeData(data.counts, dt=data.dt, stimulus=np.array(data.stimulus))
    edited.stimulus[3, 0] = -np.inf
    with pytest.raises(ValueError, match=r"data.stimulus contains 1 non-finite .*\(-inf\) at index \(3, 0\)"):
        fit_map(net, edited)
