"""The NumPyro GLM model: its log density equals our likelihood plus the priors; NumPyro tools run on it."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from _glm_helpers import make_network
from numpyro.infer import Predictive
from numpyro.infer.util import log_density, log_likelihood

import probsnn as ps
from probsnn.models import glm_network


@pytest.mark.parametrize("observation", ["poisson", "bernoulli"])
def test_model_log_density_is_likelihood_plus_priors(observation):
    net, params, data = make_network(observation, n_bins=2000)
    design = net.design_matrix(data)
    penalty = ps.GaussianPrior(smoothing=3.0)
    priors = ps.GLMPriors(stimulus=dist.Normal(0, 2.0), coupling=dist.Laplace(0, 0.5), bias=dist.Normal(-2, 3),
                          penalty=penalty)
    values = params._asdict()
    got, _ = log_density(partial(glm_network, net=net), (design,),
                         {"counts": jnp.asarray(data.counts), "priors": priors}, values)
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
    ll = log_likelihood(partial(glm_network, net=net), samples, design, jnp.asarray(data.counts))["obs"]
    np.testing.assert_allclose(np.asarray(ll[0]), np.asarray(net.log_likelihood(params, data, per="bin")), rtol=1e-10)
    predictive = Predictive(partial(glm_network, net=net), posterior_samples=samples)(jax.random.PRNGKey(0), design)
    assert predictive["obs"].shape == (2, 1500, 3)
    # one-step-ahead predictive counts have the model's conditional means
    mean = np.asarray(net.observation.mean(net.potential(params, data)))
    draws = Predictive(
        partial(glm_network, net=net),
        posterior_samples={k: jnp.repeat(v[None], 200, 0) for k, v in params._asdict().items()}
    )(jax.random.PRNGKey(1), design)["obs"]
    total = np.asarray(draws).sum(axis=(1, 2))
    assert abs(total.mean() - mean.sum()) < 4 * np.sqrt(mean.sum() / 200)


def test_bad_priors_raise():
    net, params, data = make_network("poisson", n_bins=100)
    design = net.design_matrix(data)
    with pytest.raises(TypeError, match="numpyro distribution"):
        numpyro.handlers.seed(partial(glm_network, net=net), 0)(design, priors=ps.GLMPriors(stimulus=1.0))
    with pytest.raises(ValueError, match="scalar"):
        numpyro.handlers.seed(partial(glm_network, net=net), 0)(
            design, priors=ps.GLMPriors(bias=dist.MultivariateNormal(jnp.zeros(2), jnp.eye(2)))
        )


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_reparametrised_model_is_the_synaptic_sampling_target(temperature):
    """Under the retraction parametrisation the one GLM model's log density is the sampler's log posterior / T."""
    from probsnn.inference.synaptic_sampling import SynapticSampler
    from probsnn.models.synapses import SynapseParametrisation

    net, params, data = make_network("bernoulli", n_bins=800)
    design = net.design_matrix(data)
    synapses = SynapseParametrisation(net, "retraction", theta0=1.5)
    sampler = SynapticSampler(net, parametrisation="retraction", theta0=1.5)
    rng = np.random.default_rng(0)
    theta = {g: jnp.asarray(rng.normal(size=synapses.sizes[g])) for g in ("stimulus", "coupling", "bias")}
    values = {f"theta_{g}": v for g, v in theta.items() if synapses.sizes[g]}
    got, trace = log_density(partial(glm_network, net=net, parametrisation=synapses, temperature=temperature),
                             (design,), {"counts": jnp.asarray(data.counts)}, values)
    expected = sampler.log_posterior(theta, design, jnp.asarray(data.counts)) / temperature
    np.testing.assert_allclose(float(got), float(expected), rtol=1e-10)
    weights = synapses.weights(theta)
    np.testing.assert_allclose(trace["coupling_weights"]["value"], weights.coupling_weights, rtol=1e-12)
    assert np.all(np.asarray(weights.coupling_weights)[np.asarray(synapses.net.param_mask.coupling_weights) == 0] == 0)
