"""Negative binomial, Gamma and Gaussian observation models and fit_dispersion: log-probabilities against SciPy,
scores against jax.grad, fits against statsmodels (NegativeBinomial, GLM Gamma) and least squares."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

import probsnn as ps
from probsnn.neurons.observation import make_observation

N_BINS = 400
TRUE_WEIGHTS = np.array([0.5, -0.3, 0.4])  # two stimulus columns, then the bias


def _regression(observation):
    """A network whose potential is ``X w`` with ``X = [x1, x2, 1]``: a plain GLM, as statsmodels fits it."""
    return ps.GLMNetwork(1, stimulus_basis=ps.Basis(np.ones((1, 1)), 0), n_stimulus_dims=2, observation=observation)


def _design(seed):
    x = np.random.default_rng(seed).normal(size=(N_BINS, 2))
    return x, np.column_stack([x, np.ones(N_BINS)])


def _flat(net, params):
    return np.asarray(net.flatten(params))[0]


@pytest.fixture(scope="module")
def negative_binomial_fit():
    x, design = _design(0)
    alpha = 0.6
    mean = np.exp(design @ TRUE_WEIGHTS)
    counts = np.random.default_rng(1).negative_binomial(1 / alpha, 1 / (1 + alpha * mean))
    data = ps.SpikeData(counts, dt=0.01, stimulus=x)
    return data, design, counts, ps.fit_dispersion(_regression("negative_binomial"), data)


LAWS = {
    "negative-binomial": ps.NegativeBinomialObservation(0.7),
    "gamma": ps.GammaObservation(0.4),
    "gaussian": ps.GaussianObservation(2.0),
}


def _responses(name, potential, rng):
    mean = np.exp(potential)
    if name == "negative-binomial":
        return rng.negative_binomial(1 / 0.7, 1 / (1 + 0.7 * mean)).astype(float)
    if name == "gamma":
        return rng.gamma(1 / 0.4, 0.4 * mean)
    return potential + rng.normal(size=potential.shape) * np.sqrt(2.0)


def test_log_probabilities_match_scipy():
    rng = np.random.default_rng(2)
    u = rng.normal(size=60)
    mean = np.exp(u)
    for name, law in LAWS.items():
        y = _responses(name, u, rng)
        reference = {
            "negative-binomial": lambda: stats.nbinom.logpmf(y, 1 / 0.7, 1 / (1 + 0.7 * mean)),
            "gamma": lambda: stats.gamma.logpdf(y, a=1 / 0.4, scale=0.4 * mean),
            "gaussian": lambda: stats.norm.logpdf(y, u, np.sqrt(2.0)),
        }[name]()
        np.testing.assert_allclose(law.log_prob(jnp.asarray(y), jnp.asarray(u)), reference, rtol=1e-12, atol=1e-12,
                                   err_msg=name)
        # the count-only terms left out of the unnormalised form do not depend on the potential
        gap = law.log_prob(jnp.asarray(y), jnp.asarray(u)) - law.unnormalised_log_prob(jnp.asarray(y), jnp.asarray(u))
        shifted = law.log_prob(jnp.asarray(y), jnp.asarray(u + 0.3)) - law.unnormalised_log_prob(
            jnp.asarray(y), jnp.asarray(u + 0.3))
        np.testing.assert_allclose(gap, shifted, rtol=1e-12, atol=1e-12, err_msg=name)
        # the NumPyro law the models sample (NUTS, SVI) is the same law
        np.testing.assert_allclose(law.numpyro_distribution(jnp.asarray(u)).log_prob(jnp.asarray(y)), reference,
                                   rtol=1e-10, atol=1e-10, err_msg=name)


def test_one_dispersion_per_neuron_broadcasts_over_bins():
    rng = np.random.default_rng(3)
    u = rng.normal(size=(20, 2))
    y = rng.poisson(np.exp(u)).astype(float)
    law = ps.NegativeBinomialObservation((0.2, 1.5))
    for j, alpha in enumerate((0.2, 1.5)):
        mean = np.exp(u[:, j])
        np.testing.assert_allclose(law.log_prob(jnp.asarray(y), jnp.asarray(u))[:, j],
                                   stats.nbinom.logpmf(y[:, j], 1 / alpha, 1 / (1 + alpha * mean)), rtol=1e-12)


@pytest.mark.parametrize("name", list(LAWS))
def test_score_is_the_gradient_of_the_log_probability(name):
    law, rng = LAWS[name], np.random.default_rng(4)
    u = jnp.asarray(rng.normal(size=50))
    y = jnp.asarray(_responses(name, np.asarray(u), rng))
    autodiff = jax.grad(lambda v: jnp.sum(law.log_prob(y, v)))(u)
    np.testing.assert_allclose(law.score(y, u), autodiff, rtol=1e-12, atol=1e-12)
    means = np.linspace(0.05, 30.0, 7) if name != "gaussian" else np.linspace(-5.0, 5.0, 7)
    np.testing.assert_allclose(law.mean(jnp.asarray(law.inverse_link(means))), means, rtol=1e-12)


def test_sampling_has_the_laws_mean_and_variance():
    key, n = jax.random.PRNGKey(0), 20_000
    u = jnp.full((n,), 1.0)
    mu = np.e
    for name, law, variance in (("negative-binomial", LAWS["negative-binomial"], mu + 0.7 * mu**2),
                                ("gamma", LAWS["gamma"], 0.4 * mu**2), ("gaussian", LAWS["gaussian"], 2.0)):
        draws = np.asarray(law.sample(key, u))
        mean = mu if name != "gaussian" else 1.0
        centred = draws - draws.mean()
        variance_se = np.sqrt((np.mean(centred**4) - np.mean(centred**2) ** 2) / n)  # of the sample variance
        assert abs(draws.mean() - mean) < 5 * np.sqrt(variance / n), name
        assert abs(draws.var() - variance) < 5 * variance_se, name


def test_negative_binomial_fit_equals_statsmodels(negative_binomial_fit):
    data, design, counts, result = negative_binomial_fit
    reference = sm.NegativeBinomial(counts, design).fit(method="newton", tol=1e-12, maxiter=100, disp=0)
    net = result.net
    np.testing.assert_allclose(_flat(net, result.params), reference.params[:3], rtol=0, atol=1e-6)
    np.testing.assert_allclose(result.dispersion, reference.params[3], rtol=0, atol=1e-6)
    # joint (weights, alpha) standard errors: statsmodels' bse (measured agreement ~1e-10)
    np.testing.assert_allclose(_flat(net, result.standard_errors), reference.bse[:3], rtol=1e-6)
    np.testing.assert_allclose(result.dispersion_standard_error, reference.bse[3], rtol=1e-6)
    # at the fitted alpha, fit_map's Laplace standard errors are the GLM's, given alpha (observed information)
    fixed = sm.GLM(counts, design, family=sm.families.NegativeBinomial(alpha=result.dispersion[0])).fit(
        method="newton", tol=1e-12)
    np.testing.assert_allclose(_flat(net, result.fit.params), fixed.params, rtol=0, atol=1e-6)
    np.testing.assert_allclose(_flat(net, result.fit.standard_errors), fixed.bse, rtol=1e-6)
    np.testing.assert_allclose(result.fit.log_likelihood, reference.llf, rtol=1e-10)
    assert isinstance(net.observation, ps.NegativeBinomialObservation) and result.method == "maximum likelihood"


def test_negative_binomial_network_in_laplace_posterior(negative_binomial_fit):
    data, _, _, result = negative_binomial_fit
    idata = ps.laplace_posterior(result.net, data, fit=result.fit, num_samples=4000, log_likelihood=False)
    draws = idata.posterior["stimulus_weights"].values.reshape(4000, 2)
    se = np.asarray(result.fit.standard_errors.stimulus_weights).ravel()
    # draws from N(w, H^-1): sample mean within 5 standard errors of the mean, sample sd within 5% of the SE
    assert np.all(np.abs(draws.mean(axis=0) - np.asarray(result.params.stimulus_weights).ravel())
                  < 5 * se / np.sqrt(4000))
    np.testing.assert_allclose(draws.std(axis=0), se, rtol=0.05)


def test_gamma_fit_equals_statsmodels():
    x, design = _design(5)
    phi = 0.5
    y = np.random.default_rng(6).gamma(1 / phi, phi * np.exp(design @ TRUE_WEIGHTS))
    result = ps.fit_dispersion(_regression("gamma"), ps.ContinuousData(y, dt=0.01, stimulus=x))
    # statsmodels' Newton fit uses the observed information, as the Laplace approximation does (its default IRLS
    # uses the expected one, whose standard errors differ by ~2% here); scale is Pearson's chi2 / (n - p)
    reference = sm.GLM(y, design, family=sm.families.Gamma(link=sm.families.links.Log())).fit(method="newton",
                                                                                               tol=1e-12)
    net = result.net
    np.testing.assert_allclose(_flat(net, result.params), reference.params, rtol=0, atol=1e-6)
    np.testing.assert_allclose(result.dispersion, reference.scale, rtol=1e-6)
    np.testing.assert_allclose(_flat(net, result.standard_errors), reference.bse, rtol=1e-2)
    np.testing.assert_allclose(_flat(net, result.fit.standard_errors), reference.bse, rtol=1e-6)
    np.testing.assert_allclose(result.fit.log_likelihood, reference.llf, rtol=1e-10)
    assert result.method == "pearson" and np.isnan(result.dispersion_standard_error).all()


def test_gaussian_fit_is_least_squares():
    x, design = _design(7)
    y = design @ TRUE_WEIGHTS + 0.7 * np.random.default_rng(8).normal(size=N_BINS)
    result = ps.fit_dispersion(_regression("gaussian"), ps.ContinuousData(y, dt=0.01, stimulus=x))
    weights, rss, *_ = np.linalg.lstsq(design, y, rcond=None)
    np.testing.assert_allclose(_flat(result.net, result.params), weights, rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.dispersion, rss / (N_BINS - 3), rtol=1e-9)
    ols = sm.OLS(y, design).fit()
    np.testing.assert_allclose(_flat(result.net, result.standard_errors), ols.bse, rtol=1e-6)


def test_continuous_data_and_the_laws_refuse_what_they_cannot_hold():
    x, _ = _design(9)
    values = np.random.default_rng(10).normal(size=N_BINS)
    data = ps.ContinuousData(values, dt=0.01, stimulus=x)
    assert isinstance(data.time_slice(10, 50), ps.ContinuousData) and data.values is data.counts
    with pytest.raises(ValueError, match="whole numbers"):
        ps.SpikeData(np.abs(values), dt=0.01, stimulus=x)  # SpikeData still holds counts only
    for name in ("poisson", "negative_binomial"):
        with pytest.raises(ValueError, match="ContinuousData"):
            ps.fit_map(_regression(name), data)
    with pytest.raises(ValueError, match="positive values"):
        ps.fit_map(_regression("gamma"), data)
    with pytest.raises(TypeError, match="has none"):
        ps.fit_dispersion(_regression("poisson"), ps.SpikeData(np.ones(N_BINS), dt=0.01, stimulus=x))
    with pytest.raises(ValueError, match="2 dispersions"):
        _regression(ps.GaussianObservation((1.0, 2.0))).check_data(data)
    with pytest.raises(ValueError, match="dispersion"):
        ps.NegativeBinomialObservation(-1.0)
    with pytest.raises(ValueError, match="variance"):
        make_observation("gaussian", dispersion=0.0)
    assert make_observation("gamma", dispersion=0.3) == ps.GammaObservation(0.3)


def test_gaussian_autoregression_simulates_continuous_data_and_fits_by_least_squares():
    net = ps.GLMNetwork(1, history_basis=ps.basis.identity(1), observation="gaussian")
    params = ps.GLMParams(jnp.zeros((1, 0, 0)), jnp.full((1, 1, 1), 0.6), jnp.array([0.2]))
    data = net.simulate_data(params, jax.random.PRNGKey(1), n_steps=N_BINS, dt=0.01)
    assert isinstance(data, ps.ContinuousData)  # real values: SpikeData would refuse them
    fit = ps.fit_map(net, data)
    y = data.values[:, 0]
    lagged = np.column_stack([np.concatenate([[0.0], y[:-1]]), np.ones(N_BINS)])  # zero past before bin 0
    weights, *_ = np.linalg.lstsq(lagged, y, rcond=None)
    np.testing.assert_allclose([fit.params.coupling_weights[0, 0, 0], fit.params.bias[0]], weights, rtol=0,
                               atol=1e-9)


def test_gamma_dispersion_with_a_prior_is_a_fixed_point():
    x, design = _design(11)
    y = np.random.default_rng(12).gamma(2.0, 0.5 * np.exp(design @ TRUE_WEIGHTS))
    data = ps.ContinuousData(y, dt=0.01, stimulus=x)
    prior = ps.GaussianPrior(ridge=50.0)
    result = ps.fit_dispersion(_regression("gamma"), data, prior=prior)
    assert result.n_iterations[0] > 1  # the weights depend on the dispersion through the prior: it alternated
    # the weights are fit_map's posterior mode at the estimated dispersion, whose Pearson estimate it is
    direct = ps.fit_map(result.net, data, prior=prior)
    np.testing.assert_allclose(_flat(result.net, result.params), _flat(result.net, direct.params), rtol=0, atol=1e-8)
    np.testing.assert_allclose(_flat(result.net, result.standard_errors), _flat(result.net, direct.standard_errors),
                               rtol=1e-7)
    np.testing.assert_allclose(result.fit.log_posterior_per_neuron, direct.log_posterior_per_neuron, rtol=1e-10)
    residual = (y - np.exp(design @ _flat(result.net, result.params))) / np.exp(design @ _flat(result.net,
                                                                                               result.params))
    np.testing.assert_allclose(result.dispersion, np.sum(residual**2) / (N_BINS - 3), rtol=1e-8)
