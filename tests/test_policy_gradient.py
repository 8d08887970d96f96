"""Tests of the first-to-spike policy and REINFORCE (probsnn.inference.policy_gradient).

References used: exact enumeration of every spike path of a tiny network (the policy's action probabilities
and the expected return), central finite differences of that exact expected return, jax.grad of the path
log-probability, a hand-computed discounted return, and breadth-first search for the grid-world optimum.
"""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn.basis import identity
from probsnn.encoding import OneHotEncoder, PopulationEncoder
from probsnn.envs import CartPole, windy_gridworld
from probsnn.inference.policy_gradient import FirstToSpikePolicy, Reinforce, discounted_returns


def tiny_policy(no_spike="uniform", n_latent=1, n_steps=3):
    return FirstToSpikePolicy(OneHotEncoder(2), n_actions=2, n_steps=n_steps, n_latent=n_latent,
                              history_basis=identity(2), no_spike=no_spike)


def tiny_params(policy, seed=3):
    params = policy.net.init_params(jax.random.PRNGKey(seed), scale=0.8, bias=-0.6)
    return params


def path_table(policy, rewards, spike_penalty):
    """All 2^(N T) spike paths and, per path, the tie/no-spike action distribution and the shaped reward."""
    n_act, T, n = policy.n_actions, policy.n_steps, policy.net.n_neurons
    paths = np.array(list(itertools.product((0.0, 1.0), repeat=n * T))).reshape(-1, T, n)
    rows = []
    for s in paths:
        outs = s[:, :n_act]
        fired = np.nonzero(outs.sum(1) > 0)[0]
        if fired.size:
            tau = fired[0]
            rho = outs[tau] / outs[tau].sum()
        else:
            tau = T - 1
            rho = (np.full(n_act, 1.0 / n_act) if policy.no_spike == "uniform"
                   else np.eye(n_act)[policy.no_spike])
        rows.append(np.concatenate([rho, [rho @ rewards - spike_penalty * s[: tau + 1].sum()]]))
    return jnp.asarray(paths), jnp.asarray(np.array(rows))


def enumerate_paths(policy, params, inputs, rewards, spike_penalty, table=None):
    """Exact action probabilities and expected shaped reward by summing over every spike path."""
    paths, rows = path_table(policy, rewards, spike_penalty) if table is None else table
    logp = jax.vmap(lambda s: jnp.sum(policy.net.log_prob_sequence(params, inputs, s)))(paths)
    prob = jnp.exp(logp)
    n_act = policy.n_actions
    return prob @ rows[:, :n_act], prob @ rows[:, n_act], float(jnp.sum(prob))


@pytest.mark.parametrize("no_spike", ["uniform", 1])
def test_score_function_gradient_matches_finite_differences_of_exact_return(no_spike):
    policy = tiny_policy(no_spike)
    params = tiny_params(policy)
    obs = 0
    inputs = policy.encoder.encode(None, obs, policy.n_steps)
    rewards = np.array([1.0, -0.5])
    penalty = 0.1

    table = path_table(policy, rewards, penalty)
    net = policy.net

    @jax.jit
    def exact_return(p):
        logp = jax.vmap(lambda s: jnp.sum(net._log_prob_jit(p, inputs, s, net.init_state())))(table[0])
        return jnp.exp(logp) @ table[1][:, policy.n_actions]

    _, j0, total = enumerate_paths(policy, params, inputs, rewards, penalty, table)
    assert total == pytest.approx(1.0, abs=1e-12)

    # central finite differences of the exact expected return, every free parameter
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    h = 1e-5
    fd = np.zeros(flat.size)
    for k in range(flat.size):
        e = np.zeros(flat.size)
        e[k] = h
        fd[k] = (exact_return(unravel(flat + e)) - exact_return(unravel(flat - e))) / (2 * h)

    # score-function (REINFORCE) estimator with a constant baseline
    n_samples = 40000
    baseline = 0.2

    @jax.jit
    def estimates(keys):
        def one(k):
            d = policy.decide(params, k, obs)
            shaped = jnp.asarray(rewards)[d.action] - penalty * d.n_spikes
            return (shaped - baseline) * jax.flatten_util.ravel_pytree(d.score)[0]

        return jax.vmap(one)(keys)

    samples = np.asarray(estimates(jax.random.split(jax.random.PRNGKey(0), n_samples)))
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(n_samples)
    # weights of the silent input channel and output self-history (no output spikes before the decision)
    # have zero gradient; the rest must be non-trivial
    assert np.sum(np.abs(fd) > 1e-3) >= 10
    assert np.all(np.abs(mean - fd) < 3.0 * se + 1e-8), (np.abs(mean - fd) / se, mean, fd)


def test_score_is_gradient_of_path_log_probability():
    policy = tiny_policy(n_latent=2, n_steps=5)
    params = tiny_params(policy, seed=5)
    keys = jax.random.split(jax.random.PRNGKey(0), 5)
    grad = jax.jit(jax.vmap(lambda k: jax.grad(lambda p: policy.decide(p, k, 1).log_prob)(params)))(keys)
    score = jax.jit(jax.vmap(lambda k: policy.decide(params, k, 1).score))(keys)
    for g, s in zip(grad, score):
        np.testing.assert_allclose(s, g, atol=1e-12)


@pytest.mark.parametrize("no_spike", ["uniform", 0])
def test_exact_action_probabilities_match_enumeration_and_sampling(no_spike):
    policy = FirstToSpikePolicy(OneHotEncoder(2), n_actions=3, n_steps=3, history_basis=identity(2),
                                no_spike=no_spike)
    params = policy.net.init_params(jax.random.PRNGKey(1), scale=0.8, bias=-1.0)
    inputs = policy.encoder.encode(None, 1, policy.n_steps)
    closed = policy.action_probabilities(params, inputs)
    enumerated, _, _ = enumerate_paths(policy, params, inputs, np.zeros(3), 0.0)
    np.testing.assert_allclose(closed, enumerated, atol=1e-12)
    n = 20000
    actions = jax.jit(jax.vmap(lambda k: policy.decide(params, k, 1).action))(
        jax.random.split(jax.random.PRNGKey(2), n)
    )
    freq = np.bincount(np.asarray(actions), minlength=3) / n
    se = np.sqrt(closed * (1 - closed) / n)
    assert np.all(np.abs(freq - closed) < 4 * se)


def test_discounted_returns_by_hand():
    r = jnp.array([1.0, 2.0, 3.0, 5.0])
    valid = jnp.array([True, True, True, False])
    expected = [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0, 0.0]
    np.testing.assert_allclose(discounted_returns(r * valid, valid, 0.5), expected)


def test_online_trace_update_equals_episode_update():
    env = windy_gridworld(max_steps=12, random_start=True)
    policy = FirstToSpikePolicy(OneHotEncoder(env.n_states), 4, n_steps=4, n_latent=1)
    kwargs = dict(gamma=0.9, baseline="learned", spike_penalty=0.05)
    episode = Reinforce(policy, env, variant="episode", **kwargs)
    online = Reinforce(policy, env, variant="online", **kwargs)
    ts = episode.init(jax.random.PRNGKey(0))
    base = ts.baseline._replace(value_weights=jax.random.normal(jax.random.PRNGKey(1), ts.baseline.value_weights.shape))
    params = policy.init_params(jax.random.PRNGKey(2), scale=0.5, bias=-1.0)
    keys = jax.random.split(jax.random.PRNGKey(10), 3)

    @jax.jit
    def both(keys):
        return (jax.vmap(lambda k: episode.episode_gradient(params, base, k))(keys),
                jax.vmap(lambda k: online.online_gradient(params, base, k))(keys))

    (d_ep, traj_ep), (d_on, traj_on) = both(keys)
    np.testing.assert_array_equal(traj_ep.action, traj_on.action)
    for a, b in zip(d_ep, d_on):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    assert float(jnp.sum(jnp.abs(d_ep.stimulus_weights))) > 0


def test_windy_gridworld_first_to_spike_reaches_optimum():
    """Greedy episode length within 3 steps of the optimum 15 (exploring-start training).

    Two seeds here for the test budget; the 5-seed run is ``probsnn rl --env windy --seeds 5`` (see README).
    """
    train_env = windy_gridworld(max_steps=60, random_start=True)
    eval_env = train_env.with_fixed_start()
    assert eval_env.shortest_path_length() == 15
    policy = FirstToSpikePolicy(OneHotEncoder(train_env.n_states), 4, n_steps=5)
    trainer = Reinforce(policy, train_env, learning_rate=0.1, batch_size=32, baseline="learned",
                        value_learning_rate=0.5)
    evaluator = Reinforce(policy, eval_env)
    lengths, spikes = [], []
    for seed in range(2):
        ts, history = trainer.train(jax.random.PRNGKey(seed), 150, chunk=150)
        result = evaluator.evaluate(ts.params, jax.random.PRNGKey(100 + seed), n_episodes=1, greedy=True)
        lengths.append(result["episode_length"])
        spikes.append(result["spikes_per_decision"])
    print(f"windy grid world greedy lengths {lengths}, spikes/decision {np.mean(spikes):.3f}")
    assert abs(np.mean(lengths) - 15) <= 3
    assert 0 < np.mean(spikes) < 5


def test_cartpole_population_code_reaches_threshold():
    """CartPole-v0 criterion: greedy mean return >= 195 over 100 episodes (200-step cap)."""
    env = CartPole(max_steps=200)
    enc = PopulationEncoder(env.observation_low, env.observation_high, n_per_dim=7)
    policy = FirstToSpikePolicy(enc, 2, n_steps=4)
    trainer = Reinforce(policy, env, learning_rate=0.05, batch_size=16, gamma=0.99, baseline="learned")
    ts, history = trainer.train(jax.random.PRNGKey(0), 75, chunk=75)
    result = trainer.evaluate(ts.params, jax.random.PRNGKey(1), n_episodes=100, greedy=True)
    print("cartpole", result)
    assert result["return"] >= 195


def test_validation_errors():
    enc = OneHotEncoder(3)
    with pytest.raises(ValueError, match="n_actions"):
        FirstToSpikePolicy(enc, 1, 3)
    with pytest.raises(ValueError, match="n_steps"):
        FirstToSpikePolicy(enc, 2, 0)
    with pytest.raises(ValueError, match="no_spike"):
        FirstToSpikePolicy(enc, 2, 3, no_spike=5)
    with pytest.raises(ValueError, match="rate"):
        OneHotEncoder(3, rate=0.0)
    with pytest.raises(ValueError, match="low < high"):
        PopulationEncoder([0.0], [0.0])
    policy = FirstToSpikePolicy(enc, 2, 3, n_latent=1)
    with pytest.raises(ValueError, match="latent"):
        policy.action_probabilities(policy.init_params(), jnp.zeros((3, 3)))
    env = windy_gridworld()
    with pytest.raises(ValueError, match="actions"):
        Reinforce(policy, env)
    policy4 = FirstToSpikePolicy(OneHotEncoder(env.n_states), 4, 3)
    with pytest.raises(ValueError, match="gamma"):
        Reinforce(policy4, env, gamma=1.5)
    with pytest.raises(ValueError, match="baseline"):
        Reinforce(policy4, env, baseline="value")
    with pytest.raises(ValueError, match="variant"):
        Reinforce(policy4, env, variant="batch")
    with pytest.raises(ValueError, match="spike_penalty"):
        Reinforce(policy4, env, spike_penalty=-1.0)


@pytest.mark.parametrize("chunk", [0, -1, 2.5, "10", True])
def test_train_refuses_a_bad_chunk(chunk):
    """chunk=0 used to loop forever (zero updates per chunk)."""
    env = windy_gridworld(max_steps=5)
    trainer = Reinforce(FirstToSpikePolicy(OneHotEncoder(env.n_states), 4, n_steps=3), env, batch_size=2)
    with pytest.raises(ValueError, match=r"chunk .*positive|chunk .*integer"):
        trainer.train(jax.random.PRNGKey(0), 2, chunk=chunk)


@pytest.mark.parametrize("name", ["learning_rate", "value_learning_rate"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0, -0.1, "0.1"])
def test_reinforce_refuses_bad_learning_rates(name, value):
    env = windy_gridworld(max_steps=5)
    policy = FirstToSpikePolicy(OneHotEncoder(env.n_states), 4, n_steps=3)
    with pytest.raises(ValueError, match=rf"^{name} .*must be a finite number in \(0, inf\), got"):
        Reinforce(policy, env, **{name: value})
