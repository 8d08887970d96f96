r"""NUTS on the shared primate RGC recordings (Pillow GLM tutorial; skips when the data are absent).

The four cells under the tutorial's two history models, fitted to the first 24,000 bins (3.3 min) of the
recording with identity bases (25 stimulus taps including the current frame, 20 history / coupling taps):

* ``hist``: per cell a stimulus filter, a self-history filter and a bias (46 parameters, 184 in all);
* ``coupled``: the same plus coupling filters from the other three cells (106 per cell, 424 in all).

Priors are vague, Normal(0, 10) on every weight, so the posterior mode is the tutorial's
maximum-likelihood fit up to a ridge of precision 0.01 (:func:`probsnn.fit_map` with that ridge is the exact
mode). Checks: posterior means agree with the MAP fit, every R-hat < 1.01, and PSIS-LOO (ArviZ) prefers
the coupled model, as the tutorial's AIC does (on the same bins).
"""
import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

import probsnn as ps
from probsnn import basis, datasets
from probsnn.inference import fit_nuts
from probsnn.inference.map import ConvergenceWarning

N_BINS = 24_000
PRIOR_SCALE = 10.0
SITES = ("stimulus_weights", "coupling_weights", "bias")


def tutorial_network(names, coupled):
    return ps.GLMNetwork(4, stimulus_basis=basis.identity(25, lag_offset=0),
                         history_basis=basis.identity(20, lag_offset=1), coupling=coupled, neuron_names=names)


def second_order_mean_shift(design, mode, covariance):
    r"""Posterior mean minus mode to second order for a Poisson GLM with exponential link.

    Expanding the log posterior to third order around the mode, :math:`\log p(\hat w + d) \approx {\rm const}
    - \tfrac12 d^\top H d + \tfrac16 \sum T_{jkl} d_j d_k d_l`, gives :math:`E[d_i] \approx \tfrac12 \sum_{jkl}
    \Sigma_{ij} T_{jkl} \Sigma_{kl}` with :math:`\Sigma = H^{-1}`. The Gaussian priors have no third
    derivative and the Poisson log-likelihood has :math:`T_{jkl} = -\sum_t \lambda_t x_{tj} x_{tk} x_{tl}`,
    so :math:`E[w] - \hat w \approx -\tfrac12 \Sigma X^\top (\lambda \odot h)`, :math:`h_t = x_t^\top \Sigma x_t`
    (the standard Laplace / Tierney-Kadane correction; it is O(SD^2 x skew) as the posterior SD shrinks).
    """
    rate = np.exp(design @ mode)
    leverage = np.einsum("tf,fg,tg->t", design, covariance, design)
    return -0.5 * covariance @ (design.T @ (rate * leverage))


@pytest.fixture(scope="module")
def fits(rgc_path):
    data = datasets.load_pillow_rgc(rgc_path).time_slice(0, N_BINS)
    vague = dist.Normal(0.0, PRIOR_SCALE)
    priors = ps.GLMPriors(vague, vague, vague)
    out = {}
    for name in ("hist", "coupled"):
        net = tutorial_network(data.neuron_names, coupled=(name == "coupled"))
        design = net.design_matrix(data)
        fit = ps.fit_map(net, data, prior=ps.GaussianPrior(ridge=PRIOR_SCALE**-2, bias=PRIOR_SCALE**-2),
                         design=design, progress=False)
        assert fit.converged.all()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # R-hat, ESS and divergences are asserted below
            idata = fit_nuts(net, data, priors, num_warmup=150, num_samples=600, num_chains=6,
                             chain_method="vectorized", log_likelihood=50, design=design, progress=False)
        out[name] = (net, data, design, fit, idata)
    return out


def _flat_draws(net, idata):
    """Draws of every neuron's flat weights ``[chain, draw, N, F]``."""
    post = idata.posterior
    params = ps.GLMParams(*(jnp.asarray(post[k].values) for k in SITES))
    return np.asarray(jax.vmap(jax.vmap(net.flatten))(params))


@pytest.mark.parametrize("model", ["hist", "coupled"])
def test_nuts_posterior_means_agree_with_the_map_fit(fits, model):
    r"""Each posterior mean equals the MAP estimate plus its second-order mean-mode shift to within
    4 Monte Carlo standard errors (ArviZ ``mcse``), plus 5% of the posterior SD for the neglected
    third-order terms (O(SD^3 x kurtosis), far smaller than the shift itself here). The shift,
    :func:`second_order_mean_shift`, is what separates a posterior mean from the mode under a weak prior:
    it is O(SD^2 x skew), largest for the rarely informed history taps. Without it the means still lie
    within 0.5 SD of the MAP."""
    net, data, design, fit, idata = fits[model]
    flat = _flat_draws(net, idata)
    for cell in range(net.n_neurons):
        free = np.asarray(net.feature_mask)[cell]
        draws = flat[:, :, cell, free]
        mean, sd = draws.mean(axis=(0, 1)), draws.std(axis=(0, 1))
        mcse = az.mcse(az.convert_to_dataset(draws))["x"].values
        mode = np.asarray(net.flatten(fit.params))[cell][free]
        covariance = np.asarray(fit.covariance)[cell][np.ix_(free, free)]
        shift = second_order_mean_shift(np.asarray(design)[:, free], mode, covariance)
        z = (mean - mode - shift) / (mcse + 0.05 * sd / 4)
        assert np.all(np.abs(z) < 4), f"cell {cell}: worst standardised error {np.abs(z).max():.2f}"
        assert np.all(np.abs(mean - mode) < 0.5 * sd)
        # the Laplace SDs agree with the posterior SDs to within the skew of the rarely informed taps
        np.testing.assert_allclose(sd, np.sqrt(np.diag(covariance)), rtol=0.25)


@pytest.mark.parametrize("model", ["hist", "coupled"])
def test_every_r_hat_below_1_01(fits, model):
    """Rank-normalised split R-hat (ArviZ) of every free weight of every cell (masked connections, which the
    model multiplies by zero and leaves at their prior, are not parameters of the tutorial's model)."""
    net, idata = fits[model][0], fits[model][4]
    free = np.asarray(net.feature_mask)
    draws = _flat_draws(net, idata)[:, :, free]
    rhat = az.rhat(az.convert_to_dataset(draws))["x"].values
    assert rhat.size == free.sum()
    assert rhat.max() < 1.01, f"{model}: max R-hat {rhat.max():.4f} at free weight {rhat.argmax()}"
    assert idata.attrs["convergence_divergences"] == 0


def test_loo_prefers_the_coupled_model_as_aic_does(fits):
    """PSIS-LOO over blocks of 50 bins of each cell (leave-one-segment-out, 480 segments x 4 cells). The
    coupled model must rank first by more than 4 SE of the difference, as the tutorial's AIC ranks it; both
    criteria estimate the expected out-of-sample log predictive density, so the LOO difference also agrees
    with half the AIC difference to within 4 SE, and cell by cell the two criteria prefer the same model."""
    aic, compare = {}, {}
    for name, (net, data, design, fit, idata) in fits.items():
        aic[name] = 2 * net.feature_mask.sum(axis=1) - 2 * fit.log_likelihood_per_neuron
        compare[name] = az.InferenceData(posterior=idata.posterior, log_likelihood=idata.log_likelihood)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare(compare, ic="loo")
        loo = {name: az.loo(compare[name], pointwise=True) for name in compare}
    assert table.index[0] == "coupled"
    assert table.loc["hist", "elpd_diff"] > 4 * table.loc["hist", "dse"]
    for name in loo:  # PSIS is reliable for (almost) every left-out segment
        assert np.mean(np.asarray(loo[name].pareto_k) > 0.7) < 0.01, name
    delta_elpd = loo["coupled"].elpd_loo - loo["hist"].elpd_loo
    delta_aic = aic["hist"] - aic["coupled"]
    assert abs(delta_elpd - delta_aic.sum() / 2) < 4 * table.loc["hist", "dse"]
    per_cell = (loo["coupled"].loo_i - loo["hist"].loo_i).sum("block").values
    np.testing.assert_array_equal(np.sign(per_cell), np.sign(delta_aic))
