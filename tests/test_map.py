"""fit_map: agreement with statsmodels / scikit-learn, autodiff optimality, recovery, convergence reporting."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import statsmodels.api as sm
from _glm_helpers import make_network
from sklearn.linear_model import PoissonRegressor

import probsnn as ps
from probsnn import basis


@pytest.mark.parametrize("observation, family",
                         [("poisson", sm.families.Poisson()), ("bernoulli", sm.families.Binomial())])
def test_ml_fit_matches_statsmodels(observation, family):
    net, _, data = make_network(observation, n_bins=20_000)
    result = ps.fit_map(net, data)
    assert result.converged.all()
    design = np.asarray(net.design_matrix(data))
    weights = np.asarray(net.flatten(result.params))
    se = np.asarray(net.flatten(result.standard_errors))
    for i in range(net.n_neurons):
        ref = sm.GLM(data.counts[:, i], design, family=family).fit(tol=1e-13, maxiter=200)
        np.testing.assert_allclose(weights[i], ref.params, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(result.log_likelihood_per_neuron[i], ref.llf, rtol=1e-10)
        np.testing.assert_allclose(se[i], ref.bse, rtol=1e-5)  # Laplace SEs = statsmodels' Fisher SEs
    np.testing.assert_allclose(result.log_likelihood, result.log_likelihood_per_neuron.sum())


def test_ridge_fit_matches_scikit_learn():
    """sklearn minimises deviance/(2n) + alpha/2 |w|^2 (intercept free): our ridge precision is alpha * n."""
    net, _, data = make_network("poisson", n_bins=10_000, seed=3)
    ridge = 5.0
    result = ps.fit_map(net, data, prior=ps.GaussianPrior(ridge=ridge))
    design = np.asarray(net.design_matrix(data))
    weights = np.asarray(net.flatten(result.params))
    for i in range(net.n_neurons):
        ref = PoissonRegressor(alpha=ridge / data.n_bins, solver="newton-cholesky", tol=1e-12, max_iter=500)
        ref.fit(design[:, :-1], data.counts[:, i])
        np.testing.assert_allclose(weights[i, :-1], ref.coef_, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(weights[i, -1], ref.intercept_, rtol=1e-6)


@pytest.mark.parametrize("link", ["exp", "softplus"])
def test_map_optimum_and_laplace_covariance_by_autodiff(link):
    """At the optimum jax.grad of the log posterior vanishes, and the covariance is inv(-jax.hessian)."""
    net, _, data = make_network("poisson", n_bins=8000, seed=4, link=link)
    prior = ps.GaussianPrior(ridge=0.5, smoothing=2.0, bias=0.01)
    result = ps.fit_map(net, data, prior=prior)
    assert result.converged.all()
    design = net.design_matrix(data)
    precision = jnp.asarray(prior.precision_matrix(net))

    def log_posterior(w, i):
        u = design @ w
        return net.observation.log_prob(jnp.asarray(data.counts[:, i], float), u).sum() - 0.5 * w @ precision @ w

    weights = net.flatten(result.params)
    for i in range(net.n_neurons):
        grad = jax.grad(log_posterior)(weights[i], i)
        assert float(jnp.max(jnp.abs(grad))) < 1e-6
        hessian = jax.hessian(log_posterior)(weights[i], i)
        np.testing.assert_allclose(result.covariance[i], np.linalg.inv(-np.asarray(hessian)), rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(result.log_posterior_per_neuron[i], log_posterior(weights[i], i), rtol=1e-12)


def test_masked_connections_stay_zero_and_match_reduced_statsmodels_fit():
    net0, params, data = make_network("poisson", n_bins=15_000, seed=7)
    mask = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 1]], bool)
    net = ps.GLMNetwork(3, stimulus_basis=net0.stimulus_basis, history_basis=net0.history_basis, coupling_mask=mask)
    result = ps.fit_map(net, data)
    weights = np.asarray(net.flatten(result.params))
    assert np.all(weights[~net.feature_mask] == 0)
    design = np.asarray(net.design_matrix(data))
    for i in range(3):
        free = net.feature_mask[i]
        ref = sm.GLM(data.counts[:, i], design[:, free], family=sm.families.Poisson()).fit(tol=1e-13)
        np.testing.assert_allclose(weights[i, free], ref.params, rtol=1e-6, atol=1e-9)


def test_parameter_recovery_ten_neuron_network():
    """10 coupled neurons, 1e5 bins, 5 log raised cosines: >= 95% of true weights inside the +-3 SE band."""
    rng = np.random.default_rng(2024)
    n = 10
    net = ps.GLMNetwork(n, history_basis=basis.raised_cosine_log(5, 50))
    coupling = rng.normal(0, 0.2, (n, n, 5))
    coupling[np.arange(n), np.arange(n)] = [-2.0, -1.0, -0.5, 0.0, 0.0]
    truth = net.init_params(bias=np.log(0.03))._replace(coupling_weights=jnp.asarray(coupling))
    data = net.simulate_data(truth, jax.random.PRNGKey(7), n_steps=100_000)
    result = ps.fit_map(net, data)
    assert result.converged.all()
    z = ((np.asarray(net.flatten(result.params)) - np.asarray(net.flatten(truth)))
         / np.asarray(net.flatten(result.standard_errors)))
    z = z[net.feature_mask]
    inside = np.mean(np.abs(z) <= 3)
    assert inside >= 0.95, f"only {inside:.1%} of coefficients inside +-3 SE"
    # and the z-scores look standard normal (no systematic bias, SEs not inflated)
    assert abs(np.mean(z)) < 4 / np.sqrt(z.size)
    assert 0.8 < np.std(z) < 1.2


def test_lbfgs_fallback_reaches_the_newton_optimum_and_reuses_its_compiled_step():
    """With max_iter=1 Newton stops early and L-BFGS finishes at the Newton optimum. The L-BFGS step takes the
    data as arguments (not constants closed over, which XLA constant-folded for seconds on big data), so a
    second data set of the same shapes reuses its compiled program."""
    from probsnn.inference.map import _lbfgs_step

    net, _, data = make_network("bernoulli", n_bins=6000, seed=9)
    shifted = ps.SpikeData(np.roll(data.counts, 2500, axis=0), dt=data.dt, stimulus=np.roll(data.stimulus, 2500, 0))
    compiled = []
    for observed in (data, shifted):
        newton = ps.fit_map(net, observed)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the fallback converges, so no warning
            fallback = ps.fit_map(net, observed, max_iter=1)
        compiled.append(_lbfgs_step._cache_size())
        assert all(s == "newton+lbfgs" for s in fallback.solver) and fallback.converged.all()
        np.testing.assert_allclose(np.asarray(net.flatten(fallback.params)), np.asarray(net.flatten(newton.params)),
                                   rtol=1e-6, atol=1e-8)
    assert compiled[0] >= 1 and compiled[1] == compiled[0]


def test_non_convergence_is_reported():
    """Perfectly separable Bernoulli data have no finite MLE: the fit must say so, not pretend."""
    stimulus = np.linspace(-1, 1, 400)[:, None]
    counts = (stimulus[:, 0] > 0).astype(int)
    data = ps.SpikeData(counts, dt=0.001, stimulus=stimulus)
    net = ps.GLMNetwork(1, stimulus_basis=basis.identity(1, lag_offset=0), observation="bernoulli")
    with pytest.warns(ps.ConvergenceWarning, match="did not converge"):
        result = ps.fit_map(net, data, max_iter=20, lbfgs_max_iter=50)
    assert not result.converged[0]


def test_bad_input_raises():
    net, _, data = make_network("poisson", n_bins=200)
    silent = ps.SpikeData(np.zeros((200, 3)), dt=0.001, stimulus=data.stimulus)
    with pytest.raises(ValueError, match="no spikes"):
        ps.fit_map(net, silent)
    with pytest.raises(TypeError, match="GaussianPrior"):
        ps.fit_map(net, data, prior={"ridge": 1.0})
    with pytest.raises(ValueError, match="ridge"):
        ps.GaussianPrior(ridge=-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        ps.fit_map(net, data, max_iter=0)
    with pytest.raises(TypeError, match="SpikeData"):
        ps.fit_map(net, data.counts)


@pytest.mark.parametrize("stimulus", [np.linspace(-1, 1, 400), np.tile([-1.0, 1.0], 200),
                                      np.random.default_rng(0).normal(size=400)],
                         ids=["small-margin", "large-margin", "gaussian"])
def test_separable_data_are_reported_not_converged_and_a_ridge_fixes_them(stimulus):
    """A neuron that spikes exactly when the stimulus is positive: the ML weights diverge to infinity."""
    data = ps.SpikeData((stimulus > 0).astype(int), dt=0.001, stimulus=stimulus[:, None])
    net = ps.GLMNetwork(1, stimulus_basis=basis.identity(1, lag_offset=0), observation="bernoulli")
    with pytest.warns(ps.ConvergenceWarning, match=r"\(quasi-\)separable.*GaussianPrior\(ridge=") as record:
        result = ps.fit_map(net, data)  # default settings: Newton's decrement alone says "converged"
    assert not result.converged[0]
    assert any("did not converge" in str(w.message) for w in record)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ps.ConvergenceWarning)
        ridge = ps.fit_map(net, data, prior=ps.GaussianPrior(ridge=1.0))
    assert ridge.converged.all()
    weights = np.asarray(net.flatten(ridge.params))
    assert np.all(np.isfinite(weights)) and np.abs(weights).max() < 20
    assert ridge.log_likelihood < -1.0  # a finite optimum, not the supremum 0


def test_quasi_separable_feature_is_reported():
    """A covariate that is non-zero only in spike-free bins (quasi-separation): its ML weight is -infinity."""
    rng = np.random.default_rng(5)
    stimulus = rng.normal(size=(3000, 2))
    counts = rng.binomial(1, 1 / (1 + np.exp(-(-1.0 + 0.5 * stimulus[:, 0]))))
    stimulus[:, 1] = 0.0
    silent = np.flatnonzero(counts == 0)[:20]
    stimulus[silent, 1] = 1.0
    data = ps.SpikeData(counts, dt=0.001, stimulus=stimulus)
    net = ps.GLMNetwork(1, stimulus_basis=basis.identity(1, lag_offset=0), observation="bernoulli",
                        n_stimulus_dims=2)
    overlapping = stimulus.copy()
    overlapping[silent[:10], 1] = 0.0
    overlapping[np.flatnonzero(counts == 1)[:10], 1] = 1.0  # the same covariate, now overlapping spikes: finite MLE
    with warnings.catch_warnings():
        warnings.simplefilter("error", ps.ConvergenceWarning)
        assert ps.fit_map(net, ps.SpikeData(counts, dt=0.001, stimulus=overlapping)).converged.all()
    with pytest.warns(ps.ConvergenceWarning, match="separable"):
        result = ps.fit_map(net, data)
    assert not result.converged[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ps.ConvergenceWarning)
        assert ps.fit_map(net, data, prior=ps.GaussianPrior(ridge=1.0)).converged.all()


def _large_count_problem(n_bins=500, seed=0):
    """Poisson counts of ~1e6 per bin with history filters: beyond what float32 resolves (per-bin
    log-likelihood terms of ~1e7 nats; history columns of ~1e6 beside the bias column of 1)."""
    rng = np.random.default_rng(seed)
    stimulus = rng.normal(size=(n_bins, 1))
    net = ps.GLMNetwork(2, stimulus_basis=basis.raised_cosine_linear(3, 10, lag_offset=0),
                        history_basis=basis.raised_cosine_log(2, 5))
    rate = np.exp(13.8 + 0.1 * stimulus[:, 0])
    counts = rng.poisson(np.stack([rate, 0.5 * rate], axis=1))
    return net, ps.SpikeData(counts, dt=0.001, stimulus=stimulus)


def _assert_matches_statsmodels_poisson(net, data, result):
    """Each coefficient within 5% of its standard error of statsmodels' float64 Poisson GLM; SEs to 0.1%."""
    weights = np.asarray(net.flatten(result.params), dtype=np.float64)
    se = np.asarray(net.flatten(result.standard_errors), dtype=np.float64)
    design = np.asarray(net.design_matrix(data))  # float64 here (conftest)
    for i in range(net.n_neurons):
        ref = sm.GLM(data.counts[:, i], design, family=sm.families.Poisson()).fit(tol=1e-13, maxiter=200)
        assert np.all(np.abs(weights[i] - ref.params) < 0.05 * ref.bse), (weights[i], ref.params, ref.bse)
        np.testing.assert_allclose(se[i], ref.bse, rtol=1e-3)


def test_float32_fit_of_huge_counts_falls_back_to_float64_and_matches_statsmodels():
    """In float32 Newton cannot resolve these data (it used to end with NaN or wrong weights and blame
    separable data); the fit is redone in float64 with a warning saying so, and agrees with statsmodels."""
    net, data = _large_count_problem()
    with jax.enable_x64(False):
        assert jnp.result_type(float) == jnp.float32
        with pytest.warns(ps.ConvergenceWarning, match=r"float32 lost precision .* rerun in float64") as record:
            result = ps.fit_map(net, data, progress=False)
        assert jnp.result_type(float) == jnp.float32  # the global setting is unchanged
    assert not any("separable" in str(w.message) for w in record)
    assert result.converged.all() and all(p.dtype == jnp.float32 for p in result.params)
    _assert_matches_statsmodels_poisson(net, data, result)


def test_float64_fit_whose_float32_hessians_fail_reruns_newton_in_float64():
    """The float64 fit's fast float32 Hessians cannot factor these curvatures: neuron n0 used to come back
    NaN ("did not converge ... Newton decrement [nan]"); Newton is rerun with float64 Hessians instead."""
    net, data = _large_count_problem()
    with pytest.warns(ps.ConvergenceWarning, match=r"float32 Newton Hessians \(fast_hessian=True\) lost precision"):
        result = ps.fit_map(net, data, progress=False)
    assert result.converged.all() and result.solver == ["newton"] * net.n_neurons
    _assert_matches_statsmodels_poisson(net, data, result)
