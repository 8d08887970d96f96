"""Tests of the GLM network's sequential mode (visible + latent neurons, probsnn.neurons.glm), its agreement with the
parallel mode, and the latent-neuron NumPyro SVI path (probsnn.models.latent)."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn import SpikeData, basis
from probsnn.basis import causal_convolve
from probsnn.neurons.glm import GLMNetwork, GLMParams, LatentGLMNetwork, StepInput


def _net(**kwargs):
    cm = np.ones((4, 4), bool)
    cm[0, 3] = False  # a missing edge 3 -> 0
    return GLMNetwork(2, 2, history_basis=basis.raised_cosine_log(3, 8), n_stimulus_dims=2,
                      stimulus_basis=basis.identity(3, 0), observation="bernoulli", coupling_mask=cm, **kwargs)


def _reference_potential(net, params, stimulus, spikes):
    """Potentials from causal convolutions of the whole path (parallel in time, no scan)."""
    xin = causal_convolve(stimulus, net.stimulus_basis)  # [T, D, B]
    xs = causal_convolve(spikes, net.history_basis)  # [T, N, B]
    m = net.param_mask
    return (params.bias + jnp.einsum("tdb,idb->ti", xin, params.stimulus_weights * m.stimulus_weights)
            + jnp.einsum("tjb,ijb->ti", xs, params.coupling_weights * m.coupling_weights))


def test_sampled_potentials_match_convolution_reference_and_clamping():
    net = _net(temperature=0.7)
    params = net.init_params(jax.random.PRNGKey(0), scale=1.0, bias=-0.5)
    rng = np.random.default_rng(0)
    stimulus = (rng.random((20, 2)) < 0.4).astype(float)
    visible = (rng.random((20, 2)) < 0.3).astype(float)
    _, out = net.sample(params, jax.random.PRNGKey(1), stimulus, visible)
    np.testing.assert_array_equal(np.asarray(out.spikes[:, :2]), visible)  # visible clamped
    u_ref = _reference_potential(net, params, jnp.asarray(stimulus), out.spikes)
    np.testing.assert_allclose(out.potential, u_ref, rtol=1e-10, atol=1e-12)
    z = u_ref / 0.7
    np.testing.assert_allclose(out.log_prob, out.spikes * z - jax.nn.softplus(z), rtol=1e-10, atol=1e-12)
    # the masked edge 3 -> 0 has no effect even with a non-zero weight
    params2 = params._replace(coupling_weights=params.coupling_weights.at[0, 3].set(5.0))
    lp1 = net.log_prob_sequence(params, stimulus, out.spikes)
    lp2 = net.log_prob_sequence(params2, stimulus, out.spikes)
    np.testing.assert_array_equal(lp1, lp2)


@pytest.mark.parametrize("observation", ["bernoulli", "poisson"])
def test_sequential_and_parallel_modes_agree(observation):
    """The two evaluation modes of one network: potentials to 1e-10, log-likelihoods to 1e-8 (float64)."""
    hist = basis.raised_cosine_log(3, 8)
    stim_basis = basis.raised_cosine_linear(2, 4, lag_offset=0)
    net = GLMNetwork(3, stimulus_basis=stim_basis, history_basis=hist, n_stimulus_dims=1, observation=observation,
                     temperature=1.3)
    # Poisson: weights small enough that the free-running simulation does not explode (it did at 0.7)
    params = net.init_params(jax.random.PRNGKey(4), scale=0.7 if observation == "bernoulli" else 0.1, bias=-1.0)
    rng = np.random.default_rng(1)
    stimulus = rng.normal(size=(60, 1))
    spikes = (rng.random((60, 3)) < 0.3).astype(float)
    data = SpikeData(spikes, 0.001, stimulus=stimulus)
    sequential = net.log_prob_sequence(params, stimulus, spikes)
    np.testing.assert_allclose(sequential, net.log_likelihood(params, data, per="bin"), rtol=1e-8, atol=1e-10)
    # clamping every neuron in the sequential mode reproduces the parallel potentials
    _, out = net.sample(params, jax.random.PRNGKey(0), stimulus, spikes)
    np.testing.assert_allclose(out.potential, net.potential(params, data), rtol=1e-10, atol=1e-12)
    # free-running simulation: the parallel potential of the simulated path is the one the simulation used
    simulated, potentials = net.simulate(params, jax.random.PRNGKey(2), stimulus=stimulus)
    replay = SpikeData(np.asarray(simulated), 0.001, stimulus=stimulus)
    np.testing.assert_allclose(potentials, net.potential(params, replay), rtol=1e-10, atol=1e-12)


def test_deprecated_latent_alias_builds_the_same_network():
    hist = basis.raised_cosine_log(3, 8)
    with pytest.warns(DeprecationWarning, match="GLMNetwork"):
        old = LatentGLMNetwork(2, 1, hist, n_inputs=1, input_basis=basis.identity(2, 0), temperature=0.5)
    new = GLMNetwork(2, 1, history_basis=hist, stimulus_basis=basis.identity(2, 0), n_stimulus_dims=1,
                     observation="bernoulli", temperature=0.5)
    params = new.init_params(jax.random.PRNGKey(0), scale=0.5)
    stimulus, spikes = np.ones((7, 1)), (np.arange(21).reshape(7, 3) % 4 == 0).astype(float)
    np.testing.assert_array_equal(old.log_prob_sequence(params, stimulus, spikes),
                                  new.log_prob_sequence(params, stimulus, spikes))


def test_latent_network_needs_sequential_mode_for_visible_recordings():
    net = GLMNetwork(2, 1, history_basis=basis.identity(2), observation="bernoulli")
    with pytest.raises(ValueError, match="sequential mode"):
        net.design_matrix(SpikeData(np.zeros((10, 2)), 0.001))


def test_simulate_and_step_work_under_jit():
    """Validation reads concrete values only, so the public methods can be jitted."""
    net = GLMNetwork(2, history_basis=basis.identity(3), stimulus_basis=basis.identity(2, 0), observation="poisson")
    params = net.init_params(jax.random.PRNGKey(1), scale=0.3, bias=-1.0)
    stimulus = jnp.ones((12, 1))
    eager = net.simulate(params, jax.random.PRNGKey(5), stimulus=stimulus)
    jitted = jax.jit(lambda p, s: net.simulate(p, jax.random.PRNGKey(5), stimulus=s))(params, stimulus)
    for a, b in zip(eager, jitted):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_joint_probability_normalises_over_all_paths_and_sampling_matches_it():
    net = GLMNetwork(1, 1, history_basis=basis.identity(2), observation="bernoulli")
    params = net.init_params(jax.random.PRNGKey(2), scale=1.5, bias=-0.2)
    n_steps = 3
    paths = jnp.asarray(np.array(list(itertools.product([0.0, 1.0], repeat=2 * n_steps))).reshape(-1, n_steps, 2))
    stim = jnp.zeros((n_steps, 0))
    logp = jax.vmap(lambda s: net.log_joint(params, stim, s))(paths)
    probs = np.exp(np.asarray(logp))
    assert abs(probs.sum() - 1.0) < 1e-12
    # free-running samples hit the 64 paths with the enumerated probabilities: chi-square goodness of fit,
    # cells with expected count < 5 pooled
    from scipy import stats

    n = 20000
    keys = jax.random.split(jax.random.PRNGKey(3), n)
    samples = jax.vmap(lambda k: net.sample(params, k, stim)[1].spikes)(keys)
    index = np.asarray((samples.reshape(n, -1) * 2 ** np.arange(2 * n_steps - 1, -1, -1)).sum(1), int)
    counts = np.bincount(index, minlength=64)
    expected = probs * n
    big = expected >= 5
    observed = np.append(counts[big], counts[~big].sum())
    expect = np.append(expected[big], expected[~big].sum())
    assert stats.chisquare(observed, expect).pvalue > 1e-3


def test_step_is_pure_and_validation_errors():
    net = _net()
    params = net.init_params(jax.random.PRNGKey(0))
    state = net.init_state()
    inp = StepInput(jnp.ones(2), jnp.zeros(2), jax.random.PRNGKey(0))
    s1, o1 = jax.jit(net.step)(params, state, inp)
    s2, o2 = net.step(params, state, inp)
    np.testing.assert_array_equal(o1.spikes, o2.spikes)
    assert s1.spike_history.shape == state.spike_history.shape
    with pytest.raises(ValueError, match="coupling_mask"):
        GLMNetwork(2, 2, history_basis=basis.identity(2), coupling_mask=np.ones((3, 3)))
    with pytest.raises(ValueError, match="lag_offset"):
        GLMNetwork(2, 2, history_basis=basis.identity(2, lag_offset=0))
    with pytest.raises(ValueError, match="at least one neuron"):
        GLMNetwork(0, 0, history_basis=basis.identity(2))
    with pytest.raises(ValueError, match="stimulus must have shape"):
        net.sample(params, jax.random.PRNGKey(0), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="visible spikes must have shape"):
        net.sample(params, jax.random.PRNGKey(0), np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="params.bias has shape"):
        net.check_params(params._replace(bias=jnp.zeros(3)))


def test_numpyro_tracegraph_gradient_is_unbiased_and_svi_raises_elbo():
    import numpyro
    from numpyro.infer import TraceGraph_ELBO

    from probsnn.models.latent import latent_glm_guide, latent_glm_model, latent_svi

    net = GLMNetwork(1, 2, history_basis=basis.identity(2), n_stimulus_dims=1,
                     stimulus_basis=basis.identity(2, lag_offset=0), observation="bernoulli")
    params = net.init_params(jax.random.PRNGKey(3), scale=0.8, bias=-0.3)
    stimulus = jnp.array([[1.0], [0.0], [1.0], [1.0]])
    visible = jnp.array([[0.0], [1.0], [1.0], [0.0]])
    n_steps = 4
    paths = np.array(list(itertools.product([0.0, 1.0], repeat=2 * n_steps))).reshape(-1, n_steps, 2)
    spikes = jnp.asarray(np.concatenate([np.broadcast_to(np.asarray(visible), (256, n_steps, 1)), paths], 2))

    def exact_elbo(p):
        lp = jax.vmap(lambda s: net.log_prob_sequence(p, stimulus, s))(spikes)
        return jnp.sum(jnp.exp(lp[:, :, 1:].sum((1, 2))) * lp[:, :, :1].sum((1, 2)))

    exact = jnp.concatenate([jnp.ravel(x) for x in jax.grad(exact_elbo)(params)])
    elbo = TraceGraph_ELBO()
    param_map = dict(zip(GLMParams._fields, params))

    def grad_one(key):
        g = jax.grad(
            lambda p: -elbo.loss(key, p, latent_glm_model, latent_glm_guide, stimulus, visible, net=net)
        )(param_map)
        return jnp.concatenate([jnp.ravel(g[f]) for f in GLMParams._fields])

    grads = np.asarray(jax.jit(jax.vmap(grad_one))(jax.random.split(jax.random.PRNGKey(0), 10000)))
    se = grads.std(0, ddof=1) / np.sqrt(grads.shape[0])
    assert np.all(np.abs(grads.mean(0) - np.asarray(exact)) < 3 * se)

    svi = latent_svi(net, optimizer=numpyro.optim.Adam(0.05), num_particles=8, init_params=params)
    state = svi.init(jax.random.PRNGKey(1), stimulus, visible)
    update = jax.jit(svi.update)
    for _ in range(60):
        state, _ = update(state, stimulus, visible)
    fitted = GLMParams(**svi.get_params(state))
    assert float(exact_elbo(fitted)) > float(exact_elbo(params)) + 0.5
