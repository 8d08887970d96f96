"""Surrogate-gradient BPTT: the network, the loss, the gradient and Optax training."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from probsnn.inference.bptt import (
    accuracy,
    classification_loss,
    fit_bptt,
    membrane_cross_entropy,
    project_neuron_params,
    run_network,
)
from probsnn.neurons.layers import init_feedforward, init_recurrent
from probsnn.neurons.lif import LIFState, lif_neuron, lif_params, lif_step


def test_membrane_cross_entropy_hand_computed():
    membrane = jnp.array([[[1.0, 3.0]], [[3.0, 1.0]], [[2.0, 5.0]]])  # mean logits [2, 3]
    expected = -np.log(np.exp(3.0) / (np.exp(2.0) + np.exp(3.0)))
    assert float(membrane_cross_entropy(membrane, jnp.array([1]))) == pytest.approx(expected, rel=1e-12)
    assert float(accuracy(membrane, jnp.array([1]))) == 1.0


def test_bptt_gradient_is_the_unrolled_chain_rule():
    # one LIF neuron, two steps, hand-derived gradient of L = v_2 w.r.t. the input weight w (x = 1, 1):
    # v1 = w, s1 = H(w - theta), v2 = alpha w + w - theta s1 -> dL/dw = alpha + 1 - theta psi(w - theta)
    alpha, theta, w = 0.6, 1.0, 1.1
    params = [init_feedforward(jax.random.PRNGKey(0), 1, lif_params(1, alpha, theta))]
    params[0] = params[0]._replace(weights=jnp.array([[w]]))
    x = jnp.ones((2, 1, 1))
    grad = jax.grad(lambda p: run_network([lif_neuron()], p, x)[0].membrane[-1].sum())(params)[0].weights
    psi = 1.0 / (1 + 25 * abs(w - theta)) ** 2
    assert float(grad[0, 0]) == pytest.approx(alpha + 1 - theta * psi, rel=1e-12)


def test_run_network_stacks_layers():
    x = (jax.random.uniform(jax.random.PRNGKey(1), (20, 2, 5)) < 0.4).astype(float)
    p1 = init_recurrent(jax.random.PRNGKey(2), 5, lif_params(6, 0.9, 0.5), 2.0)
    p2 = init_feedforward(jax.random.PRNGKey(3), 6, lif_params(3, 0.9, 0.5), 2.0)
    states = run_network([lif_neuron(), lif_neuron()], [p1, p2], x)
    state = LIFState(jnp.zeros((2, 3)), jnp.zeros((2, 3)))
    for t in range(20):
        state, _ = lif_step(p2.neuron, state, states[0].spikes[t] @ p2.weights)
        np.testing.assert_allclose(states[1].membrane[t], state.membrane, atol=1e-12)
    with pytest.raises(ValueError, match="expects 7 inputs"):
        run_network([lif_neuron(), lif_neuron()], [p1, init_feedforward(jax.random.PRNGKey(3), 7, lif_params(3))], x)
    with pytest.raises(ValueError, match="one per layer"):
        run_network([lif_neuron()], [p1, p2], x)


def test_fit_bptt_learns_a_rate_coded_task():
    # class = which half of the inputs fires more; 2-layer LIF network, Adam
    rng = np.random.default_rng(0)
    n, T = 128, 20
    labels = rng.integers(0, 2, n)
    rates = np.where(np.repeat(labels[:, None] == np.array([[0, 1]]), 5, axis=1), 0.5, 0.05)
    x = jnp.asarray((rng.random((T, n, 10)) < rates[None]).astype(float))
    neurons = [lif_neuron(), lif_neuron("none")]
    params = [
        init_feedforward(jax.random.PRNGKey(0), 10, lif_params(16, 0.9, 1.0), 2.0),
        init_feedforward(jax.random.PRNGKey(1), 16, lif_params(2, 0.9, 1.0), 1.0),
    ]
    loss = classification_loss(neurons)
    before = float(loss(params, x, jnp.asarray(labels)))
    batches = [(x[:, i : i + 32], jnp.asarray(labels[i : i + 32])) for i in range(0, n, 32)]
    trained, losses = fit_bptt(loss, params, batches, optax.adam(0.05), n_epochs=15, project=project_neuron_params)
    after = float(loss(trained, x, jnp.asarray(labels)))
    assert after < 0.5 * before
    states = run_network(neurons, trained, x)
    assert float(accuracy(states[-1].membrane, jnp.asarray(labels))) > 0.9
    with pytest.raises(ValueError, match="n_epochs"):
        fit_bptt(loss, params, batches, n_epochs=0)


def test_project_neuron_params():
    layer = init_feedforward(jax.random.PRNGKey(0), 2, lif_params(3))
    layer = layer._replace(neuron=layer.neuron._replace(leak=jnp.array([1.3, 0.5, -0.2]),
                                                        threshold=jnp.array([-1.0, 0.5, 2.0])))
    projected = project_neuron_params([layer])[0]
    np.testing.assert_allclose(projected.neuron.leak, [1.0, 0.5, 1e-3])
    np.testing.assert_allclose(projected.neuron.threshold, [1e-3, 0.5, 2.0])
    np.testing.assert_array_equal(projected.weights, layer.weights)
