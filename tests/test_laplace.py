"""Laplace posterior (probsnn.inference.laplace): exactness on a Gaussian-prior model and SBC coverage."""
import numpy as np
import pytest
from _bayes_helpers import flat_truth_and_draws, sbc_problem

import probsnn as ps
from probsnn.diagnostics import interval_coverage, rank_uniformity_test, sbc_ranks
from probsnn.inference import laplace_posterior


@pytest.fixture(scope="module")
def problem():
    return sbc_problem(n_datasets=100, n_bins=200, seed=0)


def test_laplace_coverage_over_100_datasets(problem):
    """Reported beside NUTS: the Laplace approximation on 200-bin Bernoulli datasets covers ~90%."""
    net, priors, truth, data = problem
    idata = laplace_posterior(net, data, priors=priors, num_samples=99, log_likelihood=None)
    t, draws = flat_truth_and_draws(net, truth, idata)
    coverage = interval_coverage(t, draws, 0.9).mean()
    p_value = rank_uniformity_test(sbc_ranks(t, draws), 99)[1]
    print(f"Laplace 90% coverage {coverage:.3f}, SBC chi-square p {p_value:.3g}")
    assert 0.8 <= coverage <= 0.97


def test_mode_is_the_posterior_mode_and_covariance_the_inverse_hessian(problem):
    """Checked on one neuron against jax.grad / jax.hessian of the model's log joint."""
    import jax
    import jax.numpy as jnp

    from probsnn.inference.laplace import mode_and_covariance, resolve_priors

    net, priors, truth, data = problem
    fit, cov = mode_and_covariance(net, data, resolve_priors(priors))
    design = net.design_matrix(data)
    y = jnp.asarray(data.counts[:, 0])

    def log_joint(w):  # w = (stim0, stim1, bias) of neuron 0, N(0,1) priors
        u = design @ w
        return jnp.sum(y * u - jax.nn.softplus(u)) - 0.5 * jnp.sum(w**2)

    w0 = jnp.asarray(np.asarray(net.flatten(fit.params))[0])
    assert float(jnp.max(jnp.abs(jax.grad(log_joint)(w0)))) < 1e-6
    np.testing.assert_allclose(cov[0], np.linalg.inv(-np.asarray(jax.hessian(log_joint)(w0))), rtol=1e-6)


def test_from_a_map_result(problem):
    net, priors, truth, data = problem
    fit = ps.fit_map(net, data, prior=ps.GaussianPrior(ridge=1.0, bias=1.0), progress=False)
    idata = laplace_posterior(net, data, fit=fit, num_samples=1000, num_chains=2, log_likelihood=None, seed=1)
    assert idata.posterior.sizes["chain"] == 2 and idata.posterior.sizes["draw"] == 1000
    sd = idata.posterior["bias"].std(("chain", "draw")).values
    # the sample sd of 2000 draws has relative sd 1/sqrt(2 * 2000) = 1.6%; 10% is > 6 of them (100 neurons)
    np.testing.assert_allclose(sd, np.asarray(fit.standard_errors.bias), rtol=0.1)
    # independent draws split into chains: R-hat about 1, ESS about the number of draws
    summary = ps.diagnostics.check_convergence(idata, warn=False)
    assert summary["max_rhat"] < 1.02 and summary["min_ess_bulk"] > 1000
    with pytest.raises(TypeError):
        laplace_posterior(net, data, fit="map")
    with pytest.raises(ValueError, match="num_samples"):
        laplace_posterior(net, data, fit=fit, num_samples=1)
    with pytest.raises(ValueError, match="num_chains"):
        laplace_posterior(net, data, fit=fit, num_chains=0)
    other = ps.GLMNetwork(net.n_neurons, stimulus_basis=net.stimulus_basis,
                          history_basis=ps.basis.raised_cosine_log(2, 6), observation="bernoulli")
    with pytest.raises(ValueError, match="another network"):  # a MAP fit of a network with other shapes
        laplace_posterior(other, data, fit=fit)
