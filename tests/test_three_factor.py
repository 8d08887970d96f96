"""Tests of the three-factor online VI learner against exact enumeration and jax.grad."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn import basis
from probsnn.inference.three_factor import ThreeFactorVI
from probsnn.neurons.glm import GLMNetwork, GLMParams

T = 4


def _small_problem():
    """1 input, 1 visible, 2 latent neurons (visible first), T = 4: 2^8 latent paths."""
    net = GLMNetwork(1, 2, history_basis=basis.identity(2), n_stimulus_dims=1,
                     stimulus_basis=basis.identity(2, lag_offset=0), observation="bernoulli")
    params = net.init_params(jax.random.PRNGKey(3), scale=0.8, bias=-0.3)
    stimulus = jnp.array([[1.0], [0.0], [1.0], [1.0]])
    visible = jnp.array([[0.0], [1.0], [1.0], [0.0]])
    return net, params, stimulus, visible


def _all_paths(net, visible):
    paths = np.array(list(itertools.product([0.0, 1.0], repeat=T * net.n_latent))).reshape(-1, T, net.n_latent)
    vis = np.broadcast_to(np.asarray(visible), (paths.shape[0], T, net.n_visible))
    return jnp.asarray(np.concatenate([vis, paths], axis=2))


def _path_terms(net, params, stimulus, spikes):
    """(L = log p(x | h), log q(h)) of every enumerated path."""
    lp = jax.vmap(lambda s: net._log_prob_jit(params, stimulus, s, net.init_state()))(spikes)
    return lp[:, :, : net.n_visible].sum((1, 2)), lp[:, :, net.n_visible:].sum((1, 2))


def _flat(tree):
    return jnp.concatenate([jnp.ravel(x) for x in tree])


def _check_within_3se(samples, exact):
    samples = np.asarray(samples)
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(samples.shape[0])
    exact = np.asarray(exact)
    free = se > 0
    # parameters with zero variance (none here) must match exactly
    np.testing.assert_allclose(mean[~free], exact[~free], atol=1e-12)
    z = np.abs(mean[free] - exact[free]) / se[free]
    assert np.all(z < 3.0), f"max |z| = {z.max():.2f} at {np.argmax(z)}; z = {np.round(z, 2)}"
    # and the estimate is informative: the exact gradient is far from zero relative to the SE somewhere
    assert np.max(np.abs(exact[free]) / se[free]) > 10


def test_local_score_equals_autodiff():
    net, params, stimulus, visible = _small_problem()
    _, out = net.sample(params, jax.random.PRNGKey(0), stimulus, visible)
    spikes = out.spikes
    for t in range(T):
        def lp(p):
            return net._log_prob_jit(p, stimulus, spikes, net.init_state())[t]
        jac = jax.jacrev(lp)(params)
        step_out = jax.tree_util.tree_map(lambda a: a[t], out)
        score = net.local_score(step_out)
        # the score of neuron i only touches row i: compare the full per-neuron-summed jacobian
        total = jax.tree_util.tree_map(lambda j: j.sum(0), jac)
        np.testing.assert_allclose(_flat(score), _flat(total), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("observation", ["poisson", "softplus"])
def test_local_score_equals_autodiff_for_count_observations(observation):
    """The post-synaptic error is the observation model's score: Poisson exp and softplus links too."""
    from probsnn.neurons.observation import PoissonObservation

    law = PoissonObservation("softplus" if observation == "softplus" else "exp")
    net = GLMNetwork(2, 1, history_basis=basis.raised_cosine_log(2, 5), n_stimulus_dims=1,
                     stimulus_basis=basis.identity(2, lag_offset=0), observation=law)
    params = net.init_params(jax.random.PRNGKey(1), scale=0.4, bias=-0.5)
    stimulus = jnp.asarray(np.random.default_rng(2).normal(size=(6, 1)))
    _, out = net.sample(params, jax.random.PRNGKey(3), stimulus)
    for t in range(6):
        jac = jax.jacrev(lambda p: net._log_prob_jit(p, stimulus, out.spikes, net.init_state())[t])(params)
        total = jax.tree_util.tree_map(lambda j: j.sum(0), jac)
        score = net.local_score(jax.tree_util.tree_map(lambda a: a[t], out))
        np.testing.assert_allclose(_flat(score), _flat(total), rtol=1e-10, atol=1e-12)


def test_single_sample_episode_update_is_unbiased_for_exact_elbo_gradient():
    net, params, stimulus, visible = _small_problem()
    spikes = _all_paths(net, visible)

    def elbo(p):
        ell, logq = _path_terms(net, p, stimulus, spikes)
        return jnp.sum(jnp.exp(logq) * ell)

    exact = _flat(jax.grad(elbo)(params))
    assert np.isclose(float(jnp.sum(jnp.exp(_path_terms(net, params, stimulus, spikes)[1]))), 1.0)
    learner = ThreeFactorVI(net, n_samples=1)
    n = 40000
    for base in (0.0, -2.5):  # any baseline independent of the current sample keeps it unbiased
        keys = jax.random.split(jax.random.PRNGKey(11), n)
        deltas = jax.jit(jax.vmap(lambda k: _flat(learner.episode_update(params, k, stimulus, visible,
                                                                           baseline=base)[0])))(keys)
        _check_within_3se(deltas, exact)


@pytest.mark.parametrize("mode,k", [("iw", 2), ("mean", 3)])
def test_multi_sample_episode_update_is_unbiased_for_its_objective(mode, k):
    net, params, stimulus, visible = _small_problem()
    spikes = _all_paths(net, visible)

    if mode == "iw":
        def objective(p):  # L_2 = E[log (e^{L1} + e^{L2}) / 2], exact double sum over 256^2 path pairs
            ell, logq = _path_terms(net, p, stimulus, spikes)
            pair_lme = jnp.logaddexp(ell[:, None], ell[None, :]) - jnp.log(2.0)
            return jnp.sum(jnp.exp(logq[:, None] + logq[None, :]) * pair_lme)
    else:
        def objective(p):  # the mean of K single-sample ELBOs is the ELBO
            ell, logq = _path_terms(net, p, stimulus, spikes)
            return jnp.sum(jnp.exp(logq) * ell)

    exact = _flat(jax.grad(objective)(params))
    learner = ThreeFactorVI(net, n_samples=k, multi_sample=mode)
    n = 20000
    keys = jax.random.split(jax.random.PRNGKey(5), n)
    deltas = jax.jit(jax.vmap(lambda kk: _flat(learner.episode_update(params, kk, stimulus, visible)[0])))(keys)
    _check_within_3se(deltas, exact)
    if mode == "iw":  # the IW bound is tighter than the ELBO, and its gradient differs from the ELBO's
        ell, logq = _path_terms(net, params, stimulus, spikes)
        assert float(objective(params)) > float(jnp.sum(jnp.exp(logq) * ell))


def test_kappa_zero_equals_per_step_score_function_gradient():
    net, params, stimulus, visible = _small_problem()
    learner = ThreeFactorVI(net, kappa=0.0, baseline=False)
    _, state = learner.init(params)
    keys = jax.random.split(jax.random.PRNGKey(2), T)
    deltas, spikes = [], []
    for t in range(T):
        state, delta, out = learner.online_step(params, state, stimulus[t], visible[t], keys[t])
        deltas.append(delta)
        spikes.append(out.spikes[0])
    spikes = jnp.stack(spikes)
    v = net.n_visible
    for t in range(T):
        def surrogate(p):
            lp = net._log_prob_jit(p, stimulus, spikes, net.init_state())[t]
            ell = jnp.sum(lp[:v])
            return ell + jax.lax.stop_gradient(ell) * jnp.sum(lp[v:])
        np.testing.assert_allclose(_flat(deltas[t]), _flat(jax.grad(surrogate)(params)), rtol=1e-12, atol=1e-13)


def test_streaming_traces_follow_their_recursions():
    """Eligibility and learning signal obey e_t = k e_{t-1} + (1-k) g_t and l_t = k l_{t-1} + (1-k) ell_t."""
    net, params, stimulus, visible = _small_problem()
    kappa = 0.7
    learner = ThreeFactorVI(net, kappa=kappa, baseline=False)
    _, state = learner.init(params)
    e = jax.tree_util.tree_map(jnp.zeros_like, params)
    l = 0.0
    keys = jax.random.split(jax.random.PRNGKey(4), T)
    for t in range(T):
        state, delta, out = learner.online_step(params, state, stimulus[t], visible[t], keys[t])
        o = jax.tree_util.tree_map(lambda a: a[0], out)
        e = jax.tree_util.tree_map(lambda a, g: kappa * a + (1 - kappa) * g, e, net.local_score(o))
        l = kappa * l + (1 - kappa) * float(o.log_prob[0])
        expected = GLMParams(*[np.concatenate([np.asarray(x)[:1], l * np.asarray(x)[1:]]) for x in e])
        np.testing.assert_allclose(_flat(delta), _flat(expected), rtol=1e-12, atol=1e-14)


def test_streaming_memory_is_constant_in_stream_length():
    net = GLMNetwork(3, 4, history_basis=basis.raised_cosine_log(3, 10), n_stimulus_dims=2,
                     stimulus_basis=basis.identity(2, 0), observation="bernoulli")
    params = net.init_params(jax.random.PRNGKey(0))
    learner = ThreeFactorVI(net, kappa=0.9, n_samples=2)
    sizes = []
    for t_len in (50, 500):
        opt_state, state = learner.init(params)
        rng = np.random.default_rng(0)
        stim = rng.random((t_len, 2)) < 0.3
        vis = rng.random((t_len, 3)) < 0.2
        p, opt_state, state, _ = learner.run(params, opt_state, state, stim, vis, jax.random.PRNGKey(1))
        leaves = jax.tree_util.tree_leaves((p, opt_state, state))
        sizes.append((sum(x.size for x in leaves), [x.shape for x in leaves]))
        assert int(state.n_steps) == t_len
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in leaves)
    assert sizes[0] == sizes[1]


def test_reward_factor_and_learning_improves_likelihood():
    """A visible neuron learns its firing rate (ELBO rises); with likelihood_weight 0 the reward drives latents."""
    net = GLMNetwork(1, 2, history_basis=basis.identity(1), observation="bernoulli")
    params = net.init_params(jax.random.PRNGKey(0), scale=0.1)
    learner = ThreeFactorVI(net, learning_rate=0.05, kappa=0.5)
    opt_state, state = learner.init(params)
    rng = np.random.default_rng(1)
    vis = (rng.random((3000, 1)) < 0.8).astype(float)
    p, *_ = learner.run(params, opt_state, state, np.zeros((3000, 0)), vis, jax.random.PRNGKey(2))
    # the visible bias converges near logit(0.8) (latent inputs are weak)
    assert abs(float(jax.nn.sigmoid(p.bias[0])) - 0.8) < 0.06
    # reward factor: reward = spike of latent neuron 1 -> its bias increases
    rl = ThreeFactorVI(GLMNetwork(0, 1, history_basis=basis.identity(1), observation="bernoulli"),
                       learning_rate=0.1, kappa=0.5, likelihood_weight=0.0, baseline=False)
    p0 = rl.net.init_params()
    for sign in (1.0, -1.0):
        opt_state, state = rl.init(p0)
        key = jax.random.PRNGKey(0)
        p, reward = p0, 0.0
        for t in range(200):  # delayed reward: r_t = +-spike at t - 1, credited through the eligibility trace
            key, k = jax.random.split(key)
            p, opt_state, state, out = rl.update_jit(p, opt_state, state, jnp.zeros(0), None, k, reward)
            reward = sign * out.spikes[0, 0]
        assert sign * float(p.bias[0]) > 0.5


@pytest.mark.parametrize("bad, match", [(np.nan, "must hold spikes that are 0 or 1"),
                                        (2.0, "must hold spikes that are 0 or 1"),
                                        (-1.0, "0 or 1"), (0.5, "0 or 1")])
def test_run_refuses_non_binary_visible_spikes_of_a_bernoulli_network(bad, match):
    net, params, stimulus, visible = _small_problem()
    learner = ThreeFactorVI(net)
    opt_state, state = learner.init(params)
    visible = np.asarray(visible).copy()
    visible[2, 0] = bad
    with pytest.raises(ValueError, match=match) as info:
        learner.run(params, opt_state, state, stimulus, visible, jax.random.PRNGKey(0))
    assert "visible[2, 0]" in str(info.value) and "binarise" in str(info.value)
    opt_state, baseline_stats = learner.init_batch(params)
    with pytest.raises(ValueError, match=match.replace("visible", "visibles")):
        learner.batch_update(params, opt_state, baseline_stats, jax.random.PRNGKey(0), np.asarray(stimulus)[None],
                             visible[None])


def test_run_refuses_non_finite_stimulus_and_rewards_and_bad_counts():
    net, params, stimulus, visible = _small_problem()
    learner = ThreeFactorVI(net)
    opt_state, state = learner.init(params)
    stim = np.asarray(stimulus).copy()
    stim[1, 0] = np.inf
    with pytest.raises(ValueError, match="stimulus holds a non-finite value"):
        learner.run(params, opt_state, state, stim, visible, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="rewards holds a non-finite value"):
        learner.run(params, opt_state, state, stimulus, visible, jax.random.PRNGKey(0),
                    rewards=np.array([0.0, np.nan, 0.0, 0.0]))
    poisson = GLMNetwork(1, 1, history_basis=basis.identity(1), observation="poisson")
    counting = ThreeFactorVI(poisson)
    p = poisson.init_params()
    opt_state, state = counting.init(p)
    p_ok, *_ = counting.run(p, opt_state, state, np.zeros((4, 0)), np.array([[0.0], [2.0], [1.0], [3.0]]),
                            jax.random.PRNGKey(0))  # counts > 1 are fine for a Poisson network
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(p_ok))
    with pytest.raises(ValueError, match="whole number >= 0"):
        counting.run(p, opt_state, state, np.zeros((4, 0)), np.array([[0.0], [1.5], [1.0], [0.0]]),
                     jax.random.PRNGKey(0))


def test_valid_streams_still_run_and_traced_callers_are_not_checked():
    net, params, stimulus, visible = _small_problem()
    learner = ThreeFactorVI(net)
    opt_state, state = learner.init(params)
    p, *_ = learner.run(params, opt_state, state, stimulus, np.asarray(visible, bool), jax.random.PRNGKey(0))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(p))

    @jax.jit
    def traced(vis):  # under a caller's jit the values are traced: no check, no error
        return learner.run(params, opt_state, state, stimulus, vis, jax.random.PRNGKey(0))[0].bias

    assert traced(jnp.asarray(visible)).shape == params.bias.shape
