"""SNU family (Wozniak et al. 2020): hand-computed trajectories, equivalences, mean field, validation."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn.neurons.layers import feedforward_layer, init_feedforward
from probsnn.neurons.lif import lif_neuron, lif_params
from probsnn.neurons.snu import (
    ASNUParams,
    SNUParams,
    SNUState,
    asnu_neuron,
    asnu_params,
    snu_neuron,
    snu_params,
    snu_step,
)


def _run(neuron, params, currents):
    state = neuron.initial_state(params, currents.shape[1:-1])
    out = []
    for current in currents:
        state, _ = neuron.step(params, state, current)
        out.append(state)
    return out


def test_snu_hand_computed():
    # l = .5, b = -1: s = .6, .9, 1.05 (y=1), relu(0 + .5*1.05*(1-1)) = 0, 1.5 (y=1)
    states = _run(snu_neuron(), snu_params(1, 0.5, -1.0), jnp.array([0.6, 0.6, 0.6, 0.0, 1.5])[:, None])
    np.testing.assert_allclose([float(s.membrane[0]) for s in states], [0.6, 0.9, 1.05, 0.0, 1.5], atol=1e-12)
    np.testing.assert_array_equal([float(s.spikes[0]) for s in states], [0, 0, 1, 0, 1])


def test_snu_relu_clips_negative_state():
    states = _run(snu_neuron(), snu_params(1, 0.5, -1.0), jnp.array([0.4, -2.0, 0.3])[:, None])
    np.testing.assert_allclose([float(s.membrane[0]) for s in states], [0.4, 0.0, 0.3], atol=1e-12)


def test_soft_snu_hand_computed():
    l, b, currents = 0.7, -0.5, [0.9, 0.2, -0.1, 1.1]
    s = y = 0.0
    expected = []
    for c in currents:
        s = max(0.0, c + l * s * (1 - y))
        y = 1 / (1 + math.exp(-(s + b)))
        expected.append((s, y))
    states = _run(snu_neuron(soft=True), snu_params(1, l, b, soft=True), jnp.array(currents)[:, None])
    np.testing.assert_allclose([[float(st.membrane[0]), float(st.spikes[0])] for st in states], expected, atol=1e-12)


def test_li_snu_hand_computed():
    # two neurons, l = .5, b = -1; t0: s = [1.2, .5] -> y = [1, 0]; t1: max y = 1 resets BOTH: s = [.3, .3]
    currents = jnp.array([[1.2, 0.5], [0.3, 0.3], [0.3, 0.3]])
    li = _run(snu_neuron(lateral_inhibition=True), snu_params(2, 0.5, -1.0), currents)
    plain = _run(snu_neuron(), snu_params(2, 0.5, -1.0), currents)
    np.testing.assert_allclose(li[1].membrane, [0.3, 0.3], atol=1e-12)
    np.testing.assert_allclose(plain[1].membrane, [0.3, 0.55], atol=1e-12)
    np.testing.assert_allclose(li[2].membrane, [0.45, 0.45], atol=1e-12)
    assert not snu_neuron(lateral_inhibition=True).elementwise


def test_li_snu_gate_is_per_sample():
    currents = jnp.array([[[1.2, 0.5], [0.2, 0.5]], [[0.3, 0.3], [0.3, 0.3]]])  # [T, B, N]
    states = _run(snu_neuron(lateral_inhibition=True), snu_params(2, 0.5, -1.0), currents)
    np.testing.assert_allclose(states[1].membrane[0], [0.3, 0.3], atol=1e-12)  # sample 0 had a spike
    np.testing.assert_allclose(states[1].membrane[1], [0.4, 0.55], atol=1e-12)  # sample 1 did not


def test_asnu_hand_computed():
    # l=.5 b=-1 rho=.5 beta=.5, I = 1.2, .8, .8, .8
    # t0: a=0, s=1.2, y=1; t1: a=1, s=.8, y=H(.8-1-.5)=0; t2: a=.5, s=1.2, y=H(-.05)=0; t3: a=.25, s=1.4, y=1
    states = _run(asnu_neuron(), asnu_params(1, 0.5, -1.0, 0.5, 0.5), jnp.array([1.2, 0.8, 0.8, 0.8])[:, None])
    np.testing.assert_allclose([float(s.adaptation[0]) for s in states], [0, 1, 0.5, 0.25], atol=1e-12)
    np.testing.assert_allclose([float(s.membrane[0]) for s in states], [1.2, 0.8, 1.2, 1.4], atol=1e-12)
    np.testing.assert_array_equal([float(s.spikes[0]) for s in states], [1, 0, 0, 1])


def test_snu_equals_lif_with_reset_to_zero_for_non_negative_input():
    # with currents >= 0 the ReLU is inactive and SNU(l, b) is LIF(alpha=l, theta=-b, reset to zero)
    x = (jax.random.uniform(jax.random.PRNGKey(0), (80, 3, 6)) < 0.3).astype(float)
    layer = init_feedforward(jax.random.PRNGKey(1), 6, lif_params(4, 0.8, 0.7), weight_scale=1.0)
    weights = jnp.abs(layer.weights)
    _, lif_states = feedforward_layer(lif_neuron("zero"), layer._replace(weights=weights), x)
    snu_layer = layer._replace(weights=weights, neuron=snu_params(4, 0.8, -0.7))
    _, snu_states = feedforward_layer(snu_neuron(), snu_layer, x)
    np.testing.assert_array_equal(lif_states.spikes, snu_states.spikes)
    np.testing.assert_allclose(lif_states.membrane, snu_states.membrane, atol=1e-12)
    assert float(lif_states.spikes.sum()) > 10


def test_soft_snu_is_the_mean_field_of_the_stochastic_unit():
    # one step from a given state: a stochastic unit spikes with P = sigmoid(s + b); sSNU outputs that mean.
    params = snu_params(3, 0.6, -0.4, soft=True)
    state = SNUState(jnp.array([0.5, 1.0, 0.1]), jnp.array([0.2, 0.7, 0.0]))
    current = jnp.array([0.3, -0.2, 0.4])
    new_state, y = snu_step(params, state, current, soft=True)
    n = 40000
    samples = jax.random.bernoulli(jax.random.PRNGKey(0), jax.nn.sigmoid(new_state.membrane + params.bias), (n, 3))
    mean = np.asarray(samples.mean(0))
    se = np.sqrt(np.asarray(y) * (1 - np.asarray(y)) / n)
    assert np.all(np.abs(mean - np.asarray(y)) < 4 * se)


def test_validation():
    with pytest.raises(ValueError, match="leak"):
        snu_params(3, leak=0.0)
    with pytest.raises(ValueError, match="bias must be < 0"):
        snu_params(3, bias=0.5)
    snu_params(3, bias=0.5, soft=True)  # a soft SNU may have any finite bias
    with pytest.raises(ValueError, match="adaptation_decay"):
        asnu_params(2, adaptation_decay=0.0)
    with pytest.raises(ValueError, match="expected SNUParams"):
        snu_neuron().check_params((1, 2))
    with pytest.raises(ValueError, match="bias has 2 entries"):
        snu_neuron().check_params(SNUParams(jnp.ones(3) * 0.5, -jnp.ones(2)))
    with pytest.raises(ValueError):
        asnu_neuron().check_params(ASNUParams(jnp.ones(2) * 0.5, -jnp.ones(2), jnp.ones(2) * 0.5, -jnp.ones(2)))
