"""Synaptic sampling with latent neurons (probsnn.inference.synaptic_sampling, three-factor drift).

Reference: exact enumeration of all latent spike paths of a tiny network (as in tests/test_three_factor.py) gives
the exact bound L(w(theta)) and, through jax.grad, its exact gradient in theta; the three-factor drift must be an
unbiased estimate of it (mean of many independent estimates within 3 standard errors).
"""
import itertools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn import SpikeData, basis
from probsnn.inference.synaptic_sampling import LangevinDivergenceError, SynapticSampler, synaptic_sampling
from probsnn.neurons.glm import GLMNetwork, GLMParams

T = 4


def _problem():
    """1 input, 1 visible, 2 latent neurons, T = 4 (2^8 latent paths), two examples."""
    net = GLMNetwork(1, 2, history_basis=basis.identity(2), n_stimulus_dims=1,
                     stimulus_basis=basis.identity(2, lag_offset=0), observation="bernoulli")
    stimuli = jnp.array([[[1.0], [0.0], [1.0], [1.0]], [[0.0], [1.0], [1.0], [0.0]]])
    visibles = jnp.array([[[0.0], [1.0], [1.0], [0.0]], [[1.0], [0.0], [1.0], [1.0]]])
    return net, stimuli, visibles


def _theta(net, sampler, shift=0.4, scale=0.8, seed=3):
    """Free parameters with some retractable entries below 0 (retracted) and some above."""
    p = net.init_params(jax.random.PRNGKey(seed), scale=scale, bias=-0.3)
    flat = net.flatten(p._replace(stimulus_weights=p.stimulus_weights + shift,
                                  coupling_weights=p.coupling_weights + shift))
    return {g: flat[idx] for g, idx in sampler.synapses.indices.items()}


def _exact_bound(net, sampler, theta, stimulus, visible):
    """ELBO E_q[log p(x | h)] of one example by enumerating every latent path (q = the causal conditional)."""
    paths = np.array(list(itertools.product([0.0, 1.0], repeat=T * net.n_latent))).reshape(-1, T, net.n_latent)
    vis = np.broadcast_to(np.asarray(visible), (paths.shape[0], T, net.n_visible))
    spikes = jnp.asarray(np.concatenate([vis, paths], axis=2))
    w = sampler.weights(theta)
    lp = jax.vmap(lambda s: net._log_prob_jit(w, stimulus, s, net.init_state()))(spikes)
    ell, logq = lp[:, :, : net.n_visible].sum((1, 2)), lp[:, :, net.n_visible:].sum((1, 2))
    return jnp.sum(jnp.exp(logq) * ell), jnp.sum(jnp.exp(logq))


def _flat(tree):
    return jnp.concatenate([jnp.ravel(x) for x in jax.tree_util.tree_leaves(tree)])


@pytest.mark.parametrize("parametrisation", ["retraction", "signed"])
def test_drift_likelihood_part_is_unbiased_for_exact_gradient(parametrisation):
    net, stimuli, visibles = _problem()
    sampler = SynapticSampler(net, parametrisation=parametrisation, theta0=1.0)
    theta = _theta(net, sampler)
    if parametrisation == "retraction":
        assert 0 < int(sampler.n_retracted(theta)) < sampler.n_synapses  # both sides of the kink are exercised

    def exact_total(t):
        return sum(_exact_bound(net, sampler, t, s, v)[0] for s, v in zip(stimuli, visibles))

    # the enumeration covers every latent path: q sums to 1 on each example
    assert all(np.isclose(float(_exact_bound(net, sampler, theta, s, v)[1]), 1.0) for s, v in zip(stimuli, visibles))

    exact = _flat(jax.grad(exact_total)(theta))
    prior_grad = _flat(jax.grad(sampler.log_prior)(theta))
    baselines = jnp.array([-2.0, -3.0])  # fixed baselines (independent of the samples) keep it unbiased
    n = 20000

    @jax.jit
    @jax.vmap
    def estimate(key):
        drift, _ = sampler.drift(theta, key, (stimuli, visibles), baselines, 1.0)
        return _flat(drift) - prior_grad

    samples = np.asarray(estimate(jax.random.split(jax.random.PRNGKey(7), n)))
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(n)
    # entries that cannot move (retracted synapses under the retraction map) have exactly zero gradient
    fixed = se == 0
    np.testing.assert_allclose(mean[fixed], np.asarray(exact)[fixed], atol=1e-12)
    live = se > 0
    z = np.abs(mean[live] - np.asarray(exact)[live]) / se[live]
    print("max |z| over", live.sum(), "live coordinates:", z.max())
    assert np.all(z < 3.0), np.round(z, 2)
    assert np.max(np.abs(np.asarray(exact)[live]) / se[live]) > 10  # the test has power


def test_without_latent_neurons_the_three_factor_estimate_is_the_exact_drift():
    """n_latent = 0: the three-factor estimate is deterministic and equals the exact drift of the parallel mode
    (jax.grad of log prior + log p(x | w) over the examples' design matrices)."""
    net = GLMNetwork(2, history_basis=basis.identity(2), n_stimulus_dims=1,
                     stimulus_basis=basis.identity(1, lag_offset=0), observation="bernoulli")
    sampler = SynapticSampler(net, parametrisation="retraction", theta0=1.0)
    theta = _theta(net, sampler, shift=0.3, scale=0.7, seed=0)
    stimuli = np.asarray(np.random.default_rng(0).random((3, 6, 1)) < 0.5, float)
    visibles = np.asarray(np.random.default_rng(1).random((3, 6, 2)) < 0.4, float)
    trials = [SpikeData(v, 0.001, stimulus=s) for s, v in zip(stimuli, visibles)]
    design = jnp.concatenate([net.design_matrix(t) for t in trials])
    exact, _ = sampler.drift(theta, None, (design, jnp.asarray(visibles.reshape(-1, 2))), None, 1.0)

    def log_post(t):
        w = sampler.weights(t)
        return sampler.log_prior(t) + sum(net.log_joint(w, s, v) for s, v in zip(stimuli, visibles))

    np.testing.assert_allclose(_flat(exact), _flat(jax.grad(log_post)(theta)), rtol=1e-10, atol=1e-12)
    estimates = [sampler.likelihood_gradient(theta, jax.random.PRNGKey(k), s, v)[0]
                 for k, (s, v) in enumerate(zip(stimuli, visibles))]
    three_factor = jax.tree.map(lambda p, *g: p + sum(g), jax.grad(sampler.log_prior)(theta), *estimates)
    np.testing.assert_allclose(_flat(three_factor), _flat(exact), rtol=1e-10, atol=1e-12)


def test_latent_sampling_runs_returns_inference_data_and_learns():
    """A short run: InferenceData layout, masked weights stay 0, retracted fraction consistent, no divergence,
    and the visible learning signal improves over the start (the chain moves to the posterior)."""
    net, stimuli, visibles = _problem()
    stimuli, visibles = jnp.tile(stimuli, (4, 1, 1)), jnp.tile(visibles, (4, 1, 1))
    sampler = SynapticSampler(net, parametrisation="retraction", theta0=1.0)
    idata = synaptic_sampling(net, (stimuli, visibles), n_steps=400, step_size=0.01, thin=10, n_chains=4,
                              batch_size=4, seed=0, sampler=sampler)
    post = idata.posterior
    # the same layout as without latent neurons: free entries per group, labelled per synapse
    assert post["theta_coupling"].shape == (4, 40, 9 * 2) and post["theta_stimulus"].shape == (4, 40, 3 * 2)
    assert post["coupling_weights"].shape == (4, 40, 3, 3, 2)
    params = GLMParams(*(jnp.asarray(post[f].values) for f in GLMParams._fields))
    n_ret = 0
    for group in ("stimulus", "coupling"):
        theta = post[f"theta_{group}"].values
        under_map = sampler.synapses.retracted_in_group[group]
        rows, cols = sampler.synapses.indices[group]
        flat = np.asarray(jax.vmap(jax.vmap(net.flatten))(params))
        weights = flat[..., rows, cols]
        assert np.all(weights[..., under_map][theta[..., under_map] <= 0] == 0)
        n_ret = n_ret + (theta[..., under_map] <= 0).sum(-1)
    np.testing.assert_array_equal(idata.sample_stats["n_retracted"].values, n_ret)
    np.testing.assert_allclose(idata.sample_stats["retracted_fraction"].values, n_ret / (6 * 2 + 3 * 2))
    assert not idata.sample_stats["diverging"].values.any()
    signal = idata.sample_stats["learning_signal"].values
    assert signal[:, -10:].mean() > signal[:, :3].mean()


def test_bad_arguments_and_divergence():
    net, stimuli, visibles = _problem()
    kw = dict(n_steps=10, step_size=0.01, n_chains=1)
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="temperature"):
            synaptic_sampling(net, (stimuli, visibles), temperature=bad, **kw)
    with pytest.raises(ValueError, match="visibles must have shape"):
        synaptic_sampling(net, (stimuli, visibles[:, :, :0]), **kw)
    with pytest.raises(ValueError, match="0/1"):
        synaptic_sampling(net, (stimuli, visibles * 2), **kw)
    with pytest.raises(ValueError, match="visible ones"):
        synaptic_sampling(net, SpikeData(np.zeros((4, 3)), 0.001, stimulus=np.zeros((4, 1))), **kw)
    with pytest.raises(ValueError, match="parametrisation"):
        SynapticSampler(net, parametrisation="positive")
    with pytest.raises(TypeError, match="GLMNetwork"):
        SynapticSampler(object())
    sampler = SynapticSampler(net)  # one compiled kernel for both runs
    with pytest.raises(LangevinDivergenceError, match="diverged"):
        synaptic_sampling(net, (stimuli, visibles), n_steps=50, step_size=1e3, n_chains=2, sampler=sampler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idata = synaptic_sampling(net, (stimuli, visibles), n_steps=50, step_size=1e3, n_chains=2,
                                  on_divergence="warn", divergence_threshold=50.0, sampler=sampler)
    assert any("diverged" in str(w.message) for w in caught)
    assert np.all(np.isfinite(idata.posterior["theta_coupling"].values))


def test_examples_as_spike_data_equal_the_array_form():
    """A list of SpikeData examples and the (stimuli, visibles) arrays give the same chain."""
    net, stimuli, visibles = _problem()
    sampler = SynapticSampler(net)
    trials = [SpikeData(np.asarray(v), 0.001, stimulus=np.asarray(s)) for s, v in zip(stimuli, visibles)]
    kw = dict(n_steps=20, step_size=0.01, n_chains=2, thin=2, seed=4, sampler=sampler)
    a = synaptic_sampling(net, trials, **kw).posterior["theta_coupling"].values
    b = synaptic_sampling(net, (stimuli, visibles), **kw).posterior["theta_coupling"].values
    np.testing.assert_array_equal(a, b)


def test_retraction_probability_per_synapse_on_a_latent_result():
    """One value per retractable synapse (kernel pre -> post), pooled over its basis functions: P(all theta <= 0)."""
    from probsnn.inference.synaptic_sampling import retraction_probability

    net, stimuli, visibles = _problem()  # identity(2) history basis: two entries per coupling kernel
    sampler = SynapticSampler(net, parametrisation="retraction", theta0=1.0)
    idata = synaptic_sampling(net, (stimuli, visibles), n_steps=60, step_size=0.01, thin=2, n_chains=2,
                              seed=1, sampler=sampler)
    p = retraction_probability(idata, "coupling")
    names = [f"{post}<-{pre}" for post in net.neuron_names for pre in net.neuron_names if post != pre]
    assert list(p.coords["synapse"].values) == names  # self-history kernels are not synapses
    theta = idata.posterior["theta_coupling"].values.reshape(-1, 9, 2)  # free entries: (post, pre) x basis
    off_diagonal = ~np.eye(3, dtype=bool).ravel()
    expected = np.all(theta[:, off_diagonal] <= 0, axis=-1).mean(axis=0)
    np.testing.assert_allclose(p.values, expected)
    assert retraction_probability(idata, "stimulus").shape == (3,)
