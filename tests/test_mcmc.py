"""NUTS over GLM networks (probsnn.inference.mcmc): exactness, calibration (SBC), InferenceData, errors."""
import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _bayes_helpers import flat_truth_and_draws, sbc_problem

import probsnn as ps
from probsnn import basis
from probsnn.diagnostics import ConvergenceWarning, interval_coverage, rank_uniformity_test, sbc_ranks
from probsnn.inference import fit_nuts
from probsnn.inference.mcmc import laplace_inverse_mass


@pytest.fixture(scope="module")
def small_network():
    net = ps.GLMNetwork(2, stimulus_basis=basis.raised_cosine_log(2, 5, lag_offset=0),
                        history_basis=basis.raised_cosine_log(2, 8), neuron_names=("left", "right"))
    coupling = np.zeros((2, 2, 2))
    coupling[0, 0] = coupling[1, 1] = [-2.0, -0.5]
    coupling[0, 1] = [0.8, 0.3]
    truth = net.init_params(bias=-2.5)._replace(coupling_weights=jnp.asarray(coupling),
                                                stimulus_weights=jnp.full((2, 1, 2), 0.4))
    stim = np.random.default_rng(3).normal(size=(1500, 1))
    data = net.simulate_data(truth, jax.random.PRNGKey(3), n_steps=1500, stimulus=stim)
    return net, data


@pytest.fixture(scope="module")
def small_idata(small_network):
    net, data = small_network
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit_nuts(net, data, num_warmup=150, num_samples=150, num_chains=2, posterior_predictive=True,
                        progress=False)


def test_bias_only_posterior_matches_quadrature():
    """One Poisson neuron with only a bias b ~ N(0, 5): p(b | y) ∝ exp(S b - T e^b - b²/50) exactly, so the
    NUTS mean and sd are checked against numerical quadrature (mean within 4 Monte Carlo SE)."""
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.1, size=(400, 1)).astype(float)
    data = ps.SpikeData(counts, dt=0.001)
    net = ps.GLMNetwork(1)
    idata = fit_nuts(net, data, num_warmup=200, num_samples=500, num_chains=2, progress=False, log_likelihood=None)
    grid = np.linspace(-6, 1, 20001)
    logp = counts.sum() * grid - len(counts) * np.exp(grid) - grid**2 / 50
    weights = np.exp(logp - logp.max())
    weights /= weights.sum()
    mean = np.sum(weights * grid)
    sd = np.sqrt(np.sum(weights * (grid - mean) ** 2))
    draws = idata.posterior["bias"].values.ravel()
    mcse = float(az.mcse(idata, var_names=["bias"])["bias"].values.ravel()[0])
    assert abs(draws.mean() - mean) < 4 * mcse
    assert draws.std() == pytest.approx(sd, rel=0.12)


def test_sbc_ranks_uniform_and_90pc_coverage_over_100_datasets():
    """Simulation-based calibration (Talts et al. 2018) over 100 datasets simulated from the prior of a tiny
    Bernoulli GLM (2 stimulus weights + bias, 200 bins each). The datasets are the 100 uncoupled neurons of
    one network, so one vectorised NUTS run fits all of them (their posteriors are independent)."""
    net, priors, truth, data = sbc_problem(n_datasets=100, n_bins=200, seed=0)
    idata = fit_nuts(net, data, priors, num_warmup=150, num_samples=198, thinning=2, num_chains=1,
                     log_likelihood=None, progress=False, warn=False)
    t, draws = flat_truth_and_draws(net, truth, idata)
    assert draws.shape == (100, 99, 3)
    ranks = sbc_ranks(t, draws)
    for k in range(3):
        _, p_value, _ = rank_uniformity_test(ranks[:, k], n_draws=99, n_bins=10)
        assert p_value > 0.01, f"parameter {k}: ranks not uniform (p={p_value:.3g})"
    _, p_pooled, _ = rank_uniformity_test(ranks, n_draws=99, n_bins=10)
    assert p_pooled > 0.01
    coverage = interval_coverage(t, draws, level=0.9).mean()
    print(f"NUTS 90% interval coverage over 300 parameters: {coverage:.3f}")
    assert 0.85 <= coverage <= 0.95


def test_inference_data_groups_coords_and_pointwise_log_likelihood(small_network, small_idata):
    net, data = small_network
    idata = small_idata
    for group in ("posterior", "sample_stats", "log_likelihood", "observed_data", "posterior_predictive"):
        assert group in idata.groups(), group
    post = idata.posterior
    assert list(post["coupling_weights"].dims) == ["chain", "draw", "neuron", "presynaptic", "history_basis"]
    assert list(post.coords["neuron"].values) == ["left", "right"]
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 150
    assert {"diverging", "energy", "tree_depth", "step_size", "lp"} <= set(idata.sample_stats.data_vars)
    # pointwise log-likelihood of one draw equals the network's own per-bin log-likelihood
    params = ps.GLMParams(*(jnp.asarray(post[k].values[1, 7])
                            for k in ("stimulus_weights", "coupling_weights", "bias")))
    expected = np.asarray(net.log_likelihood(params, data, per="bin"))
    np.testing.assert_allclose(idata.log_likelihood["obs"].values[1, 7], expected, rtol=1e-10, atol=1e-10)
    # filters in lag space are the basis expansion of the weights (at the lags the basis covers)
    covered = np.any(net.history_basis.matrix != 0, axis=1)
    np.testing.assert_allclose(post["coupling_filter"].values[1, 7], net.filters(params)["coupling"][..., covered],
                               atol=1e-12)
    # posterior predictive rate of a draw is the conditional intensity given the observed past
    np.testing.assert_allclose(idata.posterior_predictive["rate"].values[1, 7], net.predicted_rate(params, data),
                               rtol=1e-10)
    np.testing.assert_array_equal(idata.observed_data["obs"].values, data.counts)
    # lp is the log joint: log-likelihood + log prior (N(0,1) filters, N(0,5) bias)
    from scipy import stats

    prior = (stats.norm(0, 1).logpdf(np.asarray(params.stimulus_weights)).sum()
             + stats.norm(0, 1).logpdf(np.asarray(params.coupling_weights)).sum()
             + stats.norm(0, 5).logpdf(np.asarray(params.bias)).sum())
    assert idata.sample_stats["lp"].values[1, 7] == pytest.approx(expected.sum() + prior, rel=1e-10)
    assert az.loo(idata).elpd_loo < 0


def test_nuts_agrees_with_the_laplace_posterior_on_a_coupled_network(small_network, small_idata):
    """With 1500 bins the posterior is close to Gaussian: NUTS means agree with the exact posterior mode
    to well within a posterior sd, and R-hat is near 1."""
    net, data = small_network
    from probsnn.inference.laplace import mode_and_covariance, resolve_priors

    fit, cov = mode_and_covariance(net, data, resolve_priors(None))
    post = small_idata.posterior
    for field, mode in zip(("stimulus_weights", "coupling_weights", "bias"), fit.params):
        mean = post[field].mean(("chain", "draw")).values
        sd = post[field].std(("chain", "draw")).values
        assert np.all(np.abs(mean - np.asarray(mode)) < 0.35 * sd + 1e-3), field
    assert small_idata.attrs["convergence_max_rhat"] < 1.05
    assert small_idata.attrs["convergence_divergences"] == 0


def test_laplace_inverse_mass_follows_numpyro_site_order(small_network):
    """The mass matrix must be laid out as NumPyro ravels the sites (sorted names, C order)."""
    from jax.flatten_util import ravel_pytree

    net, _ = small_network
    n, f = net.n_neurons, net.n_features
    cov = np.arange(n * f * f, dtype=float).reshape(n, f, f)
    mass = laplace_inverse_mass(net, cov, ["stimulus_weights", "coupling_weights", "bias"])
    index = np.arange(n * f, dtype=float).reshape(n, f)
    p = net.unflatten(jnp.asarray(index))
    order, _ = ravel_pytree({"stimulus_weights": p.stimulus_weights, "coupling_weights": p.coupling_weights,
                             "bias": p.bias})
    order = np.asarray(order).astype(int)
    full = np.zeros((n * f, n * f))
    for i in range(n):
        full[i * f:(i + 1) * f, i * f:(i + 1) * f] = cov[i]
    np.testing.assert_array_equal(mass, full[np.ix_(order, order)])


def test_short_chains_raise_a_convergence_warning(small_network):
    net, data = small_network
    with pytest.warns(ConvergenceWarning, match="ESS"):
        fit_nuts(net, data, num_warmup=10, num_samples=10, num_chains=2, progress=False, log_likelihood=None)


@pytest.mark.parametrize("kwargs, match", [
    (dict(chain_method="threads"), "chain_method"),
    (dict(num_samples=0), "num_samples"),
    (dict(target_accept_prob=1.5), "target_accept_prob"),
    (dict(mass="full"), "mass"),
    (dict(init="median"), "init"),
    (dict(log_likelihood="neuron"), "log_likelihood"),
])
def test_bad_arguments_raise(small_network, kwargs, match):
    net, data = small_network
    with pytest.raises(ValueError, match=match):
        fit_nuts(net, data, **{**dict(num_warmup=5, num_samples=5, progress=False), **kwargs})


def test_bad_priors_and_data_raise(small_network):
    net, data = small_network
    from probsnn.models import HorseshoePrior

    with pytest.raises(TypeError, match="priors"):
        fit_nuts(net, data, priors="normal")
    with pytest.raises(ValueError, match="laplace"):
        fit_nuts(net, data, ps.GLMPriors(coupling=HorseshoePrior()), mass="laplace")
    other = ps.SpikeData(data.counts[:, :1], dt=data.dt, stimulus=data.stimulus)
    with pytest.raises(ValueError, match="neurons"):
        fit_nuts(net, other)


def test_rhat_is_defined_for_every_stored_filter_entry(small_network, small_idata):
    """Raised cosines vanish at their last lag: the stored filters leave such lags out, so no posterior entry is
    a constant with an undefined (NaN) R-hat."""
    net, _ = small_network
    assert not np.any(net.history_basis.matrix[-1])  # the basis really has an all-zero lag
    rhat = az.rhat(small_idata, var_names=["stimulus_filter", "coupling_filter"])
    for name in ("stimulus_filter", "coupling_filter"):
        assert np.all(np.isfinite(rhat[name].values)), name
    lags = small_idata.posterior["coupling_filter"].coords["history_lag"].values
    np.testing.assert_array_equal(lags, net.history_basis.lags[np.any(net.history_basis.matrix != 0, axis=1)])
