"""OSTL (Bohnstingl et al. 2022): equals the jax.grad BPTT gradient exactly for a single layer."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn.inference.ostl import ostl_gradient, per_step_loss_total
from probsnn.neurons.layers import RecurrentParams, init_feedforward
from probsnn.neurons.lif import alif_neuron, alif_params, lif_neuron, lif_params
from probsnn.neurons.snu import asnu_neuron, asnu_params, snu_neuron, snu_params

T, B, N_IN, N = 20, 2, 5, 4
X = (jax.random.uniform(jax.random.PRNGKey(0), (T, B, N_IN)) < 0.3).astype(float)
TARGETS = jax.random.normal(jax.random.PRNGKey(1), (T, B, N))


def membrane_and_spike_loss(state, target):
    return 0.5 * jnp.sum((state.membrane - target) ** 2) + jnp.sum(state.spikes * target)


CASES = {
    "lif_subtract": (lif_neuron(), lif_params(N, 0.8, 0.7)),
    "lif_zero": (lif_neuron("zero"), lif_params(N, 0.8, 0.7)),
    "alif": (alif_neuron(), alif_params(N, 0.8, 0.7, 0.9, 0.3, 0.1)),
    "snu": (snu_neuron(), snu_params(N, 0.8, -0.7)),
    "ssnu": (snu_neuron(soft=True), snu_params(N, 0.8, -0.7, soft=True)),
    "asnu": (asnu_neuron(), asnu_params(N)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_single_layer_ostl_equals_bptt(case):
    neuron, neuron_params = CASES[case]
    params = [init_feedforward(jax.random.PRNGKey(2), N_IN, neuron_params, weight_scale=3.0)]
    loss, grads = ostl_gradient([neuron], params, X, TARGETS, membrane_and_spike_loss)
    ref_loss, ref = jax.value_and_grad(
        lambda p: per_step_loss_total([neuron], p, X, TARGETS, membrane_and_spike_loss)
    )(params)
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-12)
    for got, want in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(ref)):
        scale = float(jnp.max(jnp.abs(want))) + 1.0
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-12 * scale)
    # the network actually spiked, so the surrogate / reset paths were exercised
    from probsnn.inference.bptt import run_network

    assert float(run_network([neuron], params, X)[0].spikes.mean()) > 0.02


def test_two_layers_top_layer_exact_lower_layer_approximate():
    neurons = [lif_neuron(), lif_neuron()]
    params = [
        init_feedforward(jax.random.PRNGKey(3), N_IN, lif_params(6, 0.8, 0.5), weight_scale=3.0),
        init_feedforward(jax.random.PRNGKey(4), 6, lif_params(N, 0.8, 0.5), weight_scale=2.0),
    ]
    _, grads = ostl_gradient(neurons, params, X, TARGETS, membrane_and_spike_loss)
    ref = jax.grad(lambda p: per_step_loss_total(neurons, p, X, TARGETS, membrane_and_spike_loss))(params)
    # the last layer's learning signal is exact, so its gradient is too
    np.testing.assert_allclose(grads[1].weights, ref[1].weights, atol=1e-10)
    # the lower layer drops temporal cross-layer terms: close in direction, not identical
    a, b = np.ravel(grads[0].weights), np.ravel(ref[0].weights)
    cosine = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert cosine > 0.5
    assert not np.allclose(a, b, atol=1e-8)


def test_validation():
    params = [init_feedforward(jax.random.PRNGKey(2), N_IN, snu_params(N))]
    with pytest.raises(ValueError, match="couples neurons"):
        ostl_gradient([snu_neuron(lateral_inhibition=True)], params, X, TARGETS, membrane_and_spike_loss)
    rec = [RecurrentParams(params[0].weights, jnp.zeros((N, N)), lif_params(N))]
    with pytest.raises(ValueError, match="feed-forward"):
        ostl_gradient([lif_neuron()], rec, X, TARGETS, membrane_and_spike_loss)
    with pytest.raises(ValueError, match="expect"):
        ostl_gradient([snu_neuron()], params, X[..., :3], TARGETS, membrane_and_spike_loss)
    with pytest.raises(ValueError, match="one Neuron per layer"):
        ostl_gradient(snu_neuron(), params, X, TARGETS, membrane_and_spike_loss)
