"""Input checks at public boundaries owned by other modules' classes: FirstToSpikePolicy.decide and
StreamingPredictor.with_quantile_bins refuse concrete inputs that would silently give a meaningless result."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn.basis import identity
from probsnn.encoding import OneHotEncoder, PopulationEncoder
from probsnn.inference.policy_gradient import FirstToSpikePolicy
from probsnn.streaming import StreamingPredictor


def _policy(encoder):
    return FirstToSpikePolicy(encoder, n_actions=2, n_steps=3, history_basis=identity(1))


def test_first_to_spike_decide_refuses_bad_concrete_inputs_and_still_runs_under_jit():
    """Before: a NaN parameter, a NaN or out-of-range state, or a NaN continuous observation all returned an
    action (one_hot of an invalid index is all zeros: the race then ignores the input)."""
    key = jax.random.PRNGKey(0)
    one_hot = _policy(OneHotEncoder(3))
    params = one_hot.init_params(jax.random.PRNGKey(1))
    one_hot.check_inputs(params, 2)
    for state in (3, -1, 1.5, np.nan, np.array([0, 1])):
        with pytest.raises(ValueError, match="observation"):
            one_hot.decide(params, key, state)
    with pytest.raises(ValueError, match=r"observation \(state index\) must be an integer >= 0 <= 2, got 3"):
        one_hot.decide(params, key, 3)
    with pytest.raises(ValueError, match=r"params.bias contains 1 non-finite value"):
        one_hot.decide(params._replace(bias=params.bias.at[1].set(jnp.nan)), key, 0)
    with pytest.raises(ValueError, match="observation"):
        one_hot.greedy_action(params, key, 7)

    population = _policy(PopulationEncoder([-1.0, 0.0], [1.0, 2.0], n_per_dim=3, stochastic=False))
    params = population.init_params(jax.random.PRNGKey(2))
    population.check_inputs(params, np.array([0.3, 5.0]))  # beyond the receptive fields' span: their tails fire
    with pytest.raises(ValueError, match=r"observation contains 1 non-finite value\(s\) .*\(nan\) at index \(1,\)"):
        population.decide(params, key, np.array([0.3, np.nan]))
    with pytest.raises(ValueError, match=r"observation must have shape \(2,\)"):
        population.decide(params, key, np.array([0.3, 0.1, 0.2]))

    # traced values are not checked (they cannot be): the jitted decision still runs
    decision = jax.jit(population.decide)(params, key, jnp.array([0.3, 1.0]))
    assert 0 <= int(decision.action) < 2 and np.isfinite(float(decision.log_prob))


def test_quantile_bins_name_the_first_non_finite_warm_up_value():
    with pytest.raises(ValueError, match=r"warm-up values contain NaN at position 2 \(2 non-finite"):
        StreamingPredictor.with_quantile_bins([0.1, 0.5, np.nan, 0.7, np.nan], 3)
    with pytest.raises(ValueError, match=r"warm-up values contain inf \(not finite\) at position 0"):
        StreamingPredictor.with_quantile_bins([np.inf, 0.5, 0.7], 3)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        StreamingPredictor.with_quantile_bins([], 3)
