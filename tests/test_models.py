"""The NumPyro GLM model: its log density equals our likelihood plus the priors; NumPyro tools run on it."""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import Predictive
from numpyro.infer.util import log_density, log_likelihood

import probsnn as ps

from _glm_helpers import make_network


@pytest.mark.parametrize("observation", ["poisson", "bernoulli"])
def test_model_log_density_is_likelihood_plus_priors(observation):
    net, params, data = make_network(observation, n_bins=2000)
    design = net.design_matrix(data)
    penalty = ps.GaussianPrior(smoothing=3.0)
    priors = ps.GLMPriors(stimulus=dist.Normal(0, 2.0), coupling=dist.Laplace(0, 0.5), bias=dist.Normal(-2, 3), penalty=penalty)
    values = params._asdict()
    got, _ = log_density(net.model, (design,), {"counts": jnp.asarray(data.counts), "priors": priors}, values)
    flat = net.flatten(params)
    expected = (
        net.log_likelihood(params, data)
        + dist.Normal(0, 2.0).log_prob(params.stimulus_weights).sum()
        + dist.Laplace(0, 0.5).log_prob(params.coupling_weights).sum()
        + dist.Normal(-2, 3).log_prob(params.bias).sum()
        - 0.5 * jnp.einsum("nf,fg,ng->", flat, jnp.asarray(penalty.precision_matrix(net)), flat)
    )
    np.testing.assert_allclose(float(got), float(expected), rtol=1e-10)


def test_numpyro_log_likelihood_and_predictive_work_on_the_model():
    net, params, data = make_network("poisson", n_bins=1500)
    design = net.design_matrix(data)
    samples = {k: jnp.stack([v, v]) for k, v in params._asdict().items()}
    ll = log_likelihood(net.model, samples, design, jnp.asarray(data.counts))["obs"]
    np.testing.assert_allclose(np.asarray(ll[0]), np.asarray(net.log_likelihood(params, data, per="bin")), rtol=1e-10)
    predictive = Predictive(net.model, posterior_samples=samples)(jax.random.PRNGKey(0), design)
    assert predictive["obs"].shape == (2, 1500, 3)
    # one-step-ahead predictive counts have the model's conditional means
    mean = np.asarray(net.observation.mean(net.potential(params, data)))
    draws = Predictive(net.model, posterior_samples={k: jnp.repeat(v[None], 200, 0) for k, v in params._asdict().items()})(
        jax.random.PRNGKey(1), design)["obs"]
    total = np.asarray(draws).sum(axis=(1, 2))
    assert abs(total.mean() - mean.sum()) < 4 * np.sqrt(mean.sum() / 200)


def test_bad_priors_raise():
    net, params, data = make_network("poisson", n_bins=100)
    design = net.design_matrix(data)
    with pytest.raises(TypeError, match="numpyro distribution"):
        numpyro.handlers.seed(net.model, 0)(design, priors=ps.GLMPriors(stimulus=1.0))
    with pytest.raises(ValueError, match="scalar"):
        numpyro.handlers.seed(net.model, 0)(design, priors=ps.GLMPriors(bias=dist.MultivariateNormal(jnp.zeros(2), jnp.eye(2))))
