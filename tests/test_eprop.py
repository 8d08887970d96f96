"""E-prop (Bellec et al. 2020) equals autodiff of the network with the documented stop-gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn.inference.eprop import eprop_forward, eprop_gradient, eprop_reference_loss, init_eprop
from probsnn.neurons.lif import alif_neuron, alif_params, lif_neuron, lif_params
from probsnn.neurons.snu import snu_neuron, snu_params

T, B, N_IN, N, N_OUT = 20, 2, 5, 6, 2
X = (jax.random.uniform(jax.random.PRNGKey(0), (T, B, N_IN)) < 0.3).astype(float)
TARGETS = jax.random.normal(jax.random.PRNGKey(1), (T, B, N_OUT))


def squared_error(y, target):
    return 0.5 * jnp.sum((y - target) ** 2)


def _close(got, want):
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-12 * (1 + float(jnp.max(jnp.abs(b)))))


@pytest.mark.parametrize(
    "neuron, neuron_params, kappa",
    [
        (lif_neuron(detach_reset=True), lif_params(N, 0.8, 0.6), 0.0),
        (lif_neuron(detach_reset=True), lif_params(N, 0.8, 0.6), 0.7),
        (alif_neuron(detach_reset=True), alif_params(N, 0.8, 0.6, 0.9, 0.3), 0.7),
        (lif_neuron(), lif_params(N, 0.8, 0.6), 0.5),
    ],
    ids=["lif", "lif_leaky_readout", "alif", "lif_reset_grad"],
)
def test_symmetric_eprop_equals_autodiff_with_stop_gradients(neuron, neuron_params, kappa):
    params = init_eprop(jax.random.PRNGKey(2), N_IN, N_OUT, neuron_params, input_scale=3.0, recurrent_scale=1.0)
    loss, grads = eprop_gradient(neuron, params, X, TARGETS, squared_error, readout_decay=kappa)
    ref_loss, ref = jax.value_and_grad(
        lambda p: eprop_reference_loss(neuron, p, X, TARGETS, squared_error, kappa)
    )(params)
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-12)
    _close(grads, ref)
    states, _ = eprop_forward(neuron, params, X, kappa)
    assert float(states.spikes.mean()) > 0.05


def test_eprop_is_not_full_bptt():
    # without the stop-gradient on recurrent spikes autodiff differs: e-prop is an approximation of BPTT
    neuron = lif_neuron(detach_reset=True)
    params = init_eprop(jax.random.PRNGKey(2), N_IN, N_OUT, lif_params(N, 0.8, 0.6), 3.0, 1.5)
    _, grads = eprop_gradient(neuron, params, X, TARGETS, squared_error)
    full = jax.grad(
        lambda p: jnp.sum(
            jax.vmap(squared_error)(eprop_forward(neuron, p, X, 0.0, stop_recurrent_gradient=False)[1], TARGETS)
        )
    )(params)
    assert not np.allclose(grads.input_weights, full.input_weights, atol=1e-8)
    np.testing.assert_allclose(grads.output_weights, full.output_weights, atol=1e-10)  # readout exact


def test_random_feedback():
    neuron = lif_neuron(detach_reset=True)
    params = init_eprop(jax.random.PRNGKey(2), N_IN, N_OUT, lif_params(N, 0.8, 0.6), 3.0, 1.0)
    _, sym = eprop_gradient(neuron, params, X, TARGETS, squared_error)
    # feedback equal to the output weights reproduces symmetric e-prop; a random one changes hidden updates only
    _, same = eprop_gradient(neuron, params, X, TARGETS, squared_error, feedback=params.output_weights)
    _close(same, sym)
    feedback = jax.random.normal(jax.random.PRNGKey(9), (N, N_OUT))
    _, rnd = eprop_gradient(neuron, params, X, TARGETS, squared_error, feedback=feedback)
    np.testing.assert_allclose(rnd.output_weights, sym.output_weights, atol=1e-12)
    assert not np.allclose(rnd.input_weights, sym.input_weights)


def test_validation():
    params = init_eprop(jax.random.PRNGKey(2), N_IN, N_OUT, lif_params(N))
    neuron = lif_neuron(detach_reset=True)
    with pytest.raises(ValueError, match="readout_decay"):
        eprop_gradient(neuron, params, X, TARGETS, squared_error, readout_decay=1.0)
    with pytest.raises(ValueError, match="feedback"):
        eprop_gradient(neuron, params, X, TARGETS, squared_error, feedback=jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="feedback"):
        eprop_gradient(neuron, params, X, TARGETS, squared_error, feedback="random")
    with pytest.raises(ValueError, match="recurrent_weights"):
        eprop_gradient(neuron, params._replace(recurrent_weights=jnp.zeros((2, 2))), X, TARGETS, squared_error)
    with pytest.raises(ValueError, match="element-wise"):
        eprop_gradient(snu_neuron(lateral_inhibition=True), params._replace(neuron=snu_params(N)), X, TARGETS,
                       squared_error)
    with pytest.raises(ValueError, match="expect"):
        eprop_gradient(neuron, params, X[..., :2], TARGETS, squared_error)
    with pytest.raises(ValueError, match="EpropParams"):
        eprop_gradient(neuron, tuple(params), X, TARGETS, squared_error)
