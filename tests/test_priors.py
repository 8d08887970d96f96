"""Structured priors (probsnn.models.sparsity) inside the GLM NumPyro model: densities and validation."""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from scipy import stats

import probsnn as ps
from probsnn import basis
from probsnn.models import HierarchicalNormalPrior, HorseshoePrior, LaplacePrior, glm_network


def _net():
    return ps.GLMNetwork(3, history_basis=basis.raised_cosine_log(2, 6))


def _trace(priors, net):
    design = jnp.ones((5, net.n_features))
    return handlers.trace(handlers.seed(glm_network, 0)).get_trace(design, jnp.zeros((5, 3)), net=net, priors=priors)


def test_horseshoe_weights_and_density():
    net = _net()
    tr = _trace(ps.GLMPriors(coupling=HorseshoePrior(global_scale=0.3, diagonal_scale=2.0)), net)
    tau = tr["coupling_weights_global_scale"]["value"]
    lam = tr["coupling_weights_local_scale"]["value"]
    raw = tr["coupling_weights_raw"]["value"]
    w = np.asarray(tr["coupling_weights"]["value"])
    scale = np.array(tau * lam)
    np.fill_diagonal(scale, 2.0)
    np.testing.assert_allclose(w, raw * scale[:, :, None], rtol=1e-12)
    logp = tr["coupling_weights_global_scale"]["fn"].log_prob(tau)
    assert float(logp) == pytest.approx(stats.halfcauchy(scale=0.3).logpdf(float(tau)), rel=1e-10)
    # init_values inverts the parametrisation
    vals = HorseshoePrior(0.3, diagonal_scale=2.0).init_values("c", w)
    s = vals["c_global_scale"] * vals["c_local_scale"]
    np.fill_diagonal(s, 2.0)
    np.testing.assert_allclose(vals["c_raw"] * s[:, :, None], w, rtol=1e-10)


def test_hierarchical_and_laplace_priors():
    net = _net()
    tr = _trace(ps.GLMPriors(coupling=HierarchicalNormalPrior(0.5, 0.2)), net)
    mu = np.asarray(tr["coupling_weights_population_mean"]["value"])
    sigma = np.asarray(tr["coupling_weights_population_spread"]["value"])
    raw = np.asarray(tr["coupling_weights_raw"]["value"])
    np.testing.assert_allclose(np.asarray(tr["coupling_weights"]["value"]), mu + sigma * raw, rtol=1e-12)
    tr = _trace(ps.GLMPriors(coupling=LaplacePrior(0.7)), net)
    w = np.asarray(tr["coupling_weights"]["value"])
    assert float(tr["coupling_weights"]["fn"].log_prob(w)) == pytest.approx(stats.laplace(0, 0.7).logpdf(w).sum())


@pytest.mark.parametrize("make", [lambda: HorseshoePrior(global_scale=-1.0), lambda: HorseshoePrior(diagonal_scale=0),
                                  lambda: LaplacePrior(scale=float("nan")), lambda: HierarchicalNormalPrior(-1, 1),
                                  lambda: ps.GLMPriors(bias=dist.HalfNormal(-1.0)).resolved()])
def test_bad_hyperparameters_raise(make):
    with pytest.raises(ValueError):
        make()


def test_bad_prior_types_raise():
    with pytest.raises(TypeError):
        ps.GLMPriors(coupling="horseshoe").resolved()
    with pytest.raises(TypeError):
        ps.GLMPriors(bias=HorseshoePrior()).resolved()
    with pytest.raises(ValueError, match="scalar"):
        ps.GLMPriors(coupling=dist.MultivariateNormal(jnp.zeros(2), jnp.eye(2))).resolved()
    with pytest.raises(ValueError, match="batch shape"):  # would silently broadcast against the basis axis
        ps.GLMPriors(stimulus=dist.Normal(jnp.zeros(3), 1.0)).resolved()
    with pytest.raises(ValueError, match="scale"):  # negative scale of a site prior
        ps.GLMPriors(coupling=dist.Normal(0.0, -1.0)).resolved()
    with pytest.raises(ValueError, match="ridge"):
        ps.GaussianPrior(ridge=-1.0)


@pytest.mark.parametrize("coupling", [None, HorseshoePrior(0.3, diagonal_scale=2.0), HierarchicalNormalPrior(0.5, 0.2),
                                      LaplacePrior(0.7)])
def test_init_values_from_map_reproduce_the_weights(coupling):
    """The model run at init_values_from_map(params) has exactly params as its weights (any prior)."""
    from probsnn.inference.idata import init_values_from_map
    from probsnn.inference.laplace import resolve_priors

    net = _net()
    rng = np.random.default_rng(0)
    params = net.init_params()._replace(coupling_weights=jnp.asarray(rng.normal(0, 0.5, (3, 3, 2))),
                                        bias=jnp.asarray(rng.normal(size=3)))
    priors = resolve_priors(ps.GLMPriors(coupling=coupling))
    values = init_values_from_map(priors, params)
    assert "stimulus_weights" not in values  # the network has no stimulus: empty sites are skipped
    design = jnp.ones((5, net.n_features))
    tr = handlers.trace(handlers.substitute(handlers.seed(glm_network, 0), values)).get_trace(
        design, jnp.zeros((5, 3)), net=net, priors=priors)
    np.testing.assert_allclose(np.asarray(tr["coupling_weights"]["value"]), np.asarray(params.coupling_weights),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(tr["bias"]["value"]), np.asarray(params.bias), rtol=1e-12)


def test_structured_priors_work_under_jit():
    """NUTS and SVI evaluate the model's log density under jax.jit: every structured prior must trace."""
    from numpyro.infer.util import log_density

    from probsnn.inference.idata import init_values_from_map
    from probsnn.inference.laplace import resolve_priors

    net = _net()
    params = net.init_params()._replace(coupling_weights=jnp.full((3, 3, 2), 0.1))
    design, counts = jnp.ones((5, net.n_features)), jnp.zeros((5, 3))
    for coupling in (HorseshoePrior(0.3), HierarchicalNormalPrior(0.5, 0.2), LaplacePrior(0.7)):
        priors = resolve_priors(ps.GLMPriors(coupling=coupling))
        values = init_values_from_map(priors, params)

        def logp(v, priors=priors):
            return log_density(glm_network, (design, counts), dict(net=net, priors=priors), v)[0]

        assert float(jax.jit(logp)(values)) == pytest.approx(float(logp(values)), rel=1e-12)
