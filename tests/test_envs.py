"""Tests of probsnn.envs against independent references (BFS optimum, hand-computed moves, Euler physics)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn.envs import CartPole, GridWorld, gridworld, windy_gridworld


def test_windy_optimum_is_15_and_plain_is_7():
    assert windy_gridworld().shortest_path_length() == 15
    assert gridworld().shortest_path_length() == 7


def test_windy_optimal_action_sequence_by_hand():
    # Sutton & Barto's optimal path: right x9, down x4, left x2 = 15 steps
    env = windy_gridworld()
    step = jax.jit(env.step)
    state, obs = env.reset()
    actions = [1] * 9 + [2] * 4 + [3] * 2
    total = 0.0
    for k, a in enumerate(actions):
        state, obs, r, term, trunc, _ = step(state, a)
        total += float(r)
        assert bool(term) == (k == len(actions) - 1)
    assert (int(state.row), int(state.col)) == (3, 7) and total == -15


def test_wind_uses_current_column_and_walls():
    env = windy_gridworld()
    from probsnn.envs.gridworld import GridState
    s = GridState(jnp.int32(3), jnp.int32(6), jnp.int32(0))  # wind 2 in column 6
    new, *_ = env.step(s, 1)  # move right into column 7
    assert (int(new.row), int(new.col)) == (1, 7)
    s = GridState(jnp.int32(0), jnp.int32(0), jnp.int32(0))
    new, *_ = env.step(s, 0)
    assert (int(new.row), int(new.col)) == (0, 0)


def test_truncation_and_exploring_starts():
    env = windy_gridworld(max_steps=3, random_start=True)
    starts = jax.vmap(lambda k: env.reset(k)[1])(jax.random.split(jax.random.PRNGKey(0), 4000))
    goal = 3 * 10 + 7
    assert not np.any(np.asarray(starts) == goal)
    counts = np.bincount(np.asarray(starts), minlength=70)
    others = np.delete(counts, goal)
    expected = 4000 / 69  # uniform over the 69 non-goal cells; binomial sd ~ sqrt(expected)
    assert np.all(np.abs(others - expected) < 5 * np.sqrt(expected))
    state, _ = env.reset(jax.random.PRNGKey(1))
    state = state._replace(row=jnp.int32(0), col=jnp.int32(0))
    for k in range(3):
        state, _, _, term, trunc, _ = env.step(state, 3)
    assert bool(trunc) and not bool(term)


def test_grid_validation():
    with pytest.raises(ValueError, match="outside"):
        GridWorld(start=(9, 0))
    with pytest.raises(ValueError, match="wind"):
        GridWorld(wind=(1, 2))
    with pytest.raises(ValueError, match="key"):
        windy_gridworld(random_start=True).reset()
    with pytest.raises(ValueError, match="n_rows"):
        GridWorld(n_rows=0)
    with pytest.raises(ValueError, match="max_steps"):
        GridWorld(max_steps=2.5)
    with pytest.raises(ValueError, match=r"wind\[3\]"):
        GridWorld(wind=(0, 0, 0, -1, 0, 0, 0, 0, 0, 0))
    with pytest.raises(ValueError, match="step_reward"):
        GridWorld(step_reward=float("nan"))


def test_cartpole_step_matches_hand_euler():
    env = CartPole()
    state, obs = env.reset(jax.random.PRNGKey(0))
    x, xd, th, thd = map(float, obs)
    new, obs2, r, term, trunc, _ = env.step(state, 1)
    # Florian (2007) / Gym equations, written out independently
    total, ml = 1.1, 0.1 * 0.5
    temp = (10.0 + ml * thd**2 * math.sin(th)) / total
    thacc = (9.8 * math.sin(th) - math.cos(th) * temp) / (0.5 * (4 / 3 - 0.1 * math.cos(th) ** 2 / total))
    xacc = temp - ml * thacc * math.cos(th) / total
    expected = [x + 0.02 * xd, xd + 0.02 * xacc, th + 0.02 * thd, thd + 0.02 * thacc]
    np.testing.assert_allclose(obs2, expected, rtol=1e-12)
    assert float(r) == 1.0 and not bool(term)


def test_cartpole_falls_under_constant_push_and_vmaps():
    env = CartPole(max_steps=500)

    def run(key):
        state, _ = env.reset(key)

        def body(carry, _):
            state, done, n = carry
            state, _, _, term, trunc, _ = env.step(state, 1)
            return (state, done | term, n + (~done)), None

        return jax.lax.scan(body, (state, False, 0), None, length=200)[0][2]

    lengths = jax.jit(jax.vmap(run))(jax.random.split(jax.random.PRNGKey(0), 8))
    assert np.all(np.asarray(lengths) < 60)  # always pushing right tips the pole within ~1 s
    with pytest.raises(ValueError, match="max_steps"):
        CartPole(max_steps=0)
    with pytest.raises(ValueError, match="dt"):
        CartPole(dt=0.0)
    with pytest.raises(ValueError, match="pole_mass"):
        CartPole(pole_mass=-0.1)


def test_gymnasium_adapter_cartpole():
    pytest.importorskip("gymnasium")
    from probsnn.encoding import PopulationEncoder
    from probsnn.envs.gymnasium_adapter import GymnasiumAdapter
    from probsnn.inference.policy_gradient import FirstToSpikePolicy

    adapter = GymnasiumAdapter("CartPole-v1")
    env = CartPole()
    policy = FirstToSpikePolicy(PopulationEncoder(env.observation_low, env.observation_high, 5), 2, n_steps=3)
    total, steps, spikes = adapter.run_episode(policy, policy.init_params(), jax.random.PRNGKey(0), seed=0)
    assert total == steps and steps >= 1 and spikes >= 0
