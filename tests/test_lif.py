"""LIF / ALIF neurons and layers: hand-computed trajectories, gradients, validation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn.neurons.layers import (
    FeedForwardParams,
    RecurrentParams,
    feedforward_layer,
    init_feedforward,
    init_recurrent,
    recurrent_layer,
)
from probsnn.neurons.lif import (
    LIFParams,
    LIFState,
    alif_neuron,
    alif_params,
    lif_neuron,
    lif_params,
    lif_step,
)

CURRENTS = jnp.array([0.6, 0.6, 0.6, 0.0, 1.5])[:, None]


def _run(neuron, params, currents):
    state = neuron.initial_state(params, ())
    out = []
    for current in currents:
        state, _ = neuron.step(params, state, current)
        out.append(state)
    return out


def test_lif_subtractive_reset_hand_computed():
    # alpha = 0.5, theta = 1: v = .6, .9, 1.05 (spike), .525 - 1 = -.475, -.2375 + 1.5 = 1.2625 (spike)
    states = _run(lif_neuron("subtract"), lif_params(1, 0.5, 1.0), CURRENTS)
    np.testing.assert_allclose([float(s.membrane[0]) for s in states], [0.6, 0.9, 1.05, -0.475, 1.2625], atol=1e-12)
    np.testing.assert_array_equal([float(s.spikes[0]) for s in states], [0, 0, 1, 0, 1])


def test_lif_reset_to_zero_hand_computed():
    states = _run(lif_neuron("zero"), lif_params(1, 0.5, 1.0), CURRENTS)
    np.testing.assert_allclose([float(s.membrane[0]) for s in states], [0.6, 0.9, 1.05, 0.0, 1.5], atol=1e-12)
    np.testing.assert_array_equal([float(s.spikes[0]) for s in states], [0, 0, 1, 0, 1])


def test_alif_hand_computed():
    # alpha=.5 theta=1 rho=.5 beta=.5 gamma=.1, I = 1.2, .8, .8, .8
    # t0: a=0, v=1.2, spike;  t1: a=1, v=.6+.8-1-.1=.3, thr 1.5;  t2: a=.5, v=.15+.8-.05=.9, thr 1.25
    # t3: a=.25, v=.45+.8-.025=1.225, thr 1.125 -> spike
    params = alif_params(1, 0.5, 1.0, 0.5, 0.5, 0.1)
    states = _run(alif_neuron(), params, jnp.array([1.2, 0.8, 0.8, 0.8])[:, None])
    np.testing.assert_allclose([float(s.adaptation[0]) for s in states], [0, 1, 0.5, 0.25], atol=1e-12)
    np.testing.assert_allclose([float(s.membrane[0]) for s in states], [1.2, 0.3, 0.9, 1.225], atol=1e-12)
    np.testing.assert_array_equal([float(s.spikes[0]) for s in states], [1, 0, 0, 1])


def test_alif_without_adaptation_is_lif():
    currents = jax.random.uniform(jax.random.PRNGKey(0), (60, 3), minval=-0.2, maxval=0.8)
    lif = _run(lif_neuron(), lif_params(3, 0.8, 1.0), currents)
    alif = _run(alif_neuron(), alif_params(3, 0.8, 1.0, 0.9, 0.0, 0.0), currents)
    np.testing.assert_allclose([s.membrane for s in lif], [s.membrane for s in alif], atol=1e-12)


def test_feedforward_layer_matches_stepwise_loop():
    key = jax.random.PRNGKey(1)
    x = (jax.random.uniform(key, (40, 2, 7)) < 0.3).astype(float)
    params = init_feedforward(jax.random.PRNGKey(2), 7, lif_params(5, 0.9, 0.5), weight_scale=2.0)
    _, states = feedforward_layer(lif_neuron(), params, x)
    state = LIFState(jnp.zeros((2, 5)), jnp.zeros((2, 5)))
    for t in range(40):
        state, _ = lif_step(params.neuron, state, x[t] @ params.weights)
        np.testing.assert_allclose(states.membrane[t], state.membrane, atol=1e-12)
        np.testing.assert_array_equal(states.spikes[t], state.spikes)
    assert 0 < float(states.spikes.mean()) < 1


def test_recurrent_layer_matches_stepwise_loop():
    x = (jax.random.uniform(jax.random.PRNGKey(3), (30, 2, 4)) < 0.4).astype(float)
    params = init_recurrent(jax.random.PRNGKey(4), 4, lif_params(6, 0.85, 0.6), weight_scale=2.0, recurrent_scale=1.0)
    _, states = recurrent_layer(lif_neuron(), params, x)
    state = LIFState(jnp.zeros((2, 6)), jnp.zeros((2, 6)))
    for t in range(30):
        state, _ = lif_step(params.neuron, state, x[t] @ params.weights + state.spikes @ params.recurrent_weights)
        np.testing.assert_allclose(states.membrane[t], state.membrane, atol=1e-12)
    np.testing.assert_array_equal(np.diag(params.recurrent_weights), 0.0)


def test_learnable_leak_gradient_matches_finite_differences():
    # without reset the membrane is smooth in the leak: d/d alpha sum_t v_t checked by central differences
    currents = jax.random.normal(jax.random.PRNGKey(5), (25, 3))
    neuron = lif_neuron("none")

    def total(leak):
        params = LIFParams(leak, jnp.ones(3))
        state = neuron.initial_state(params, ())
        acc = 0.0
        for c in currents:
            state, _ = neuron.step(params, state, c)
            acc = acc + jnp.sum(state.membrane**2)
        return acc

    leak = jnp.array([0.5, 0.8, 0.95])
    g = jax.grad(total)(leak)
    for i in range(3):
        e = jnp.zeros(3).at[i].set(1e-6)
        fd = (total(leak + e) - total(leak - e)) / 2e-6
        assert float(g[i]) == pytest.approx(float(fd), rel=1e-6)


def test_threshold_gradient_uses_surrogate():
    # one step from v=0: s = H(I - theta); ds/dtheta = -psi(I - theta) with psi the fast sigmoid (slope 25)
    params = LIFParams(jnp.array([0.9]), jnp.array([1.0]))
    state = LIFState(jnp.zeros(1), jnp.zeros(1))
    g = jax.grad(lambda th: lif_step(LIFParams(params.leak, th), state, jnp.array([0.8]))[1].sum())(params.threshold)
    assert float(g[0]) == pytest.approx(-1.0 / (1 + 25 * 0.2) ** 2, rel=1e-12)


def test_detach_reset_removes_reset_gradient():
    params = lif_params(1, 0.5, 1.0)
    start = LIFState(jnp.array([0.0]), jnp.array([1.0]))
    f = lambda s, detach: (
        lif_step(params, LIFState(start.membrane, s), jnp.array([0.3]), detach_reset=detach)[0].membrane.sum()
    )
    assert float(jax.grad(f)(start.spikes, False)[0]) == pytest.approx(-1.0)
    assert float(jax.grad(f)(start.spikes, True)[0]) == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(leak=0.0), "leak must be > 0"),
        (dict(leak=1.2), "leak must be <= 1"),
        (dict(threshold=0.0), "threshold must be > 0"),
        (dict(threshold=-1.0), "threshold must be > 0"),
        (dict(leak=float("nan")), "finite"),
    ],
)
def test_bad_lif_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lif_params(3, **kwargs)


def test_bad_alif_parameters_raise():
    with pytest.raises(ValueError, match="adaptation_decay"):
        alif_params(2, adaptation_decay=1.5)
    with pytest.raises(ValueError, match="adaptation_strength"):
        alif_params(2, adaptation_strength=-0.1)
    with pytest.raises(ValueError, match="reset"):
        lif_neuron("soft")


def test_mismatched_shapes_raise():
    params = init_feedforward(jax.random.PRNGKey(0), 5, lif_params(4))
    with pytest.raises(ValueError, match="expect 5"):
        feedforward_layer(lif_neuron(), params, jnp.zeros((10, 2, 6)))
    with pytest.raises(ValueError, match="time-major"):
        feedforward_layer(lif_neuron(), params, jnp.zeros(5))
    bad = FeedForwardParams(params.weights, LIFParams(jnp.full(3, 0.9), jnp.ones(3)))
    with pytest.raises(ValueError, match="shape \\(4,\\)"):
        feedforward_layer(lif_neuron(), bad, jnp.zeros((10, 2, 5)))
    bad = FeedForwardParams(params.weights, LIFParams(jnp.full(4, 0.9), jnp.ones(3)))
    with pytest.raises(ValueError, match="threshold has 3 entries"):
        feedforward_layer(lif_neuron(), bad, jnp.zeros((10, 2, 5)))
    rec = init_recurrent(jax.random.PRNGKey(0), 5, lif_params(4))
    with pytest.raises(ValueError, match="recurrent_weights"):
        recurrent_layer(lif_neuron(), RecurrentParams(rec.weights, jnp.zeros((3, 3)), rec.neuron), jnp.zeros((4, 1, 5)))
    with pytest.raises(ValueError, match="finite"):
        feedforward_layer(lif_neuron(), params, jnp.full((3, 1, 5), jnp.nan))
