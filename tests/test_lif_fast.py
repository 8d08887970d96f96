"""The fused LIF recursion (``lif_scan``, hand-written reverse pass) against ``jax.grad`` of the plain scan.

Reference: the same layer with ``lif_neuron(..., fused_scan=False)``, i.e. ``lax.scan`` of ``lif_step``
differentiated by JAX. Float64 (tests/conftest.py enables x64): both compute the same chain rule, so they
agree to a few ulps (rtol 1e-12 over 30 bins); float32: to float32 round-off (rtol 2e-5).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn.inference.bptt import membrane_cross_entropy, run_network
from probsnn.neurons.layers import feedforward_layer, init_feedforward, input_currents
from probsnn.neurons.lif import (
    ALIFParams,
    LIFParams,
    LIFState,
    check_alif_params,
    check_lif_params,
    lif_neuron,
    lif_params,
    lif_scan,
)

T, B, N_IN, N = 30, 3, 8, 5


def _problem(dtype):
    x = (jax.random.uniform(jax.random.PRNGKey(0), (T, B, N_IN)) < 0.3).astype(dtype)
    layer = init_feedforward(jax.random.PRNGKey(1), N_IN, lif_params(N, 0.8, 0.7, dtype=dtype), 2.0, dtype=dtype)
    # a non-trivial initial state, so its gradient is checked too
    state0 = LIFState(jnp.full((B, N), 0.3, dtype), (jnp.arange(B * N).reshape(B, N) % 2).astype(dtype))
    target = jax.random.normal(jax.random.PRNGKey(2), (T, B, N), dtype)
    return x, layer, state0, target


def _loss(neuron, x, target):
    # reads the membrane, the spikes and the final state, so every cotangent path is exercised
    def loss(layer, state0):
        final, states = feedforward_layer(neuron, layer, x, initial_state=state0)
        return (
            jnp.sum(jnp.sin(states.membrane) * target)
            + jnp.sum(states.spikes * target**2)
            + jnp.sum(final.membrane**2)
        )

    return loss


def _assert_trees_close(a, b, rtol):
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        scale = float(jnp.max(jnp.abs(v))) + 1e-30
        np.testing.assert_allclose(np.asarray(u) / scale, np.asarray(v) / scale, rtol=0, atol=rtol)


@pytest.mark.parametrize(
    "reset, detach_reset, spike_fn",
    [(reset, detach, None) for reset in ("subtract", "zero", "none") for detach in (False, True)]
    + [("subtract", False, name) for name in ("atan", "triangular", "straight_through")]
    + [("zero", False, "triangular")],
)
def test_fused_gradient_equals_autodiff_float64(reset, detach_reset, spike_fn):
    x, layer, state0, target = _problem(jnp.float64)
    fused = lif_neuron(reset, spike_fn, detach_reset)
    plain = lif_neuron(reset, spike_fn, detach_reset, fused_scan=False)
    assert fused.scan is not None and plain.scan is None
    value, grads = jax.value_and_grad(_loss(fused, x, target), argnums=(0, 1))(layer, state0)
    ref_value, ref_grads = jax.value_and_grad(_loss(plain, x, target), argnums=(0, 1))(layer, state0)
    assert float(value) == pytest.approx(float(ref_value), rel=1e-13)
    # weights, leak, threshold, initial membrane, initial spikes
    _assert_trees_close(grads, ref_grads, 1e-12)
    assert float(jnp.max(jnp.abs(grads[0].neuron.threshold))) > 0  # the surrogate path is exercised


@pytest.mark.parametrize("reset", ["subtract"])
def test_fused_gradient_equals_autodiff_float32(reset):
    x, layer, state0, target = _problem(jnp.float32)
    grads = jax.grad(_loss(lif_neuron(reset), x, target), argnums=(0, 1))(layer, state0)
    ref = jax.grad(_loss(lif_neuron(reset, fused_scan=False), x, target), argnums=(0, 1))(layer, state0)
    _assert_trees_close(grads, ref, 2e-5)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(grads))


def test_forward_values_equal_the_stepwise_neuron():
    x, layer, state0, _ = _problem(jnp.float64)
    _, fused = jax.jit(lambda l: feedforward_layer(lif_neuron(), l, x, initial_state=state0))(layer)
    _, plain = feedforward_layer(lif_neuron(fused_scan=False), layer, x, initial_state=state0)
    np.testing.assert_allclose(fused.membrane, plain.membrane, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(fused.spikes, plain.spikes)
    assert 0 < float(fused.spikes.mean()) < 1


@pytest.mark.parametrize("read", ["membrane", "spikes"])
def test_one_unused_output_and_weight_only_gradient(read):
    # a hidden layer's membrane (or an output layer's spikes) is unused: its cotangent is a symbolic zero
    x, layer, state0, target = _problem(jnp.float64)

    def loss(weights, neuron):
        _, states = feedforward_layer(neuron, layer._replace(weights=weights), x, initial_state=state0)
        return jnp.sum(getattr(states, read) * target)

    g = jax.jit(jax.grad(loss), static_argnums=1)(layer.weights, lif_neuron())
    ref = jax.grad(loss)(layer.weights, lif_neuron(fused_scan=False))
    _assert_trees_close(g, ref, 1e-12)


def test_two_layer_network_gradient_under_jit():
    # the benchmark's structure in miniature: run_network + membrane cross-entropy, jitted
    x = (jax.random.uniform(jax.random.PRNGKey(3), (20, 4, 12)) < 0.2).astype(jnp.float64)
    labels = jnp.array([0, 1, 2, 0])
    params = [
        init_feedforward(jax.random.PRNGKey(4), 12, lif_params(7, 0.9, 0.5), 2.0),
        init_feedforward(jax.random.PRNGKey(5), 7, lif_params(3, 0.9, 0.5), 2.0),
    ]

    def grads(fused):
        neurons = [lif_neuron(fused_scan=fused), lif_neuron(fused_scan=fused)]
        loss = lambda p, x, y: membrane_cross_entropy(run_network(neurons, p, x)[-1].membrane, y)
        return jax.jit(jax.grad(loss))(params, x, labels)

    _assert_trees_close(grads(True), grads(False), 1e-12)


def test_lif_scan_direct_call_broadcasts_and_casts():
    currents = jax.random.normal(jax.random.PRNGKey(6), (10, 2, 3), jnp.float32)
    params = LIFParams(jnp.array([0.9, 0.8, 0.7]), jnp.array([0.5, 0.5, 0.5]))  # float64
    state0 = LIFState(jnp.zeros(3), jnp.zeros(3))  # unbatched initial state, broadcast over the batch
    states = lif_scan(params, currents, state0)
    assert states.membrane.shape == (10, 2, 3) and states.membrane.dtype == jnp.float64
    g = jax.grad(lambda s: jnp.sum(lif_scan(params, currents, s).membrane))(state0)
    assert g.membrane.shape == (3,) and g.membrane.dtype == state0.membrane.dtype
    with pytest.raises(ValueError, match="reset"):
        lif_scan(params, currents, state0, reset="soft")


def test_plain_callable_surrogate_falls_back_to_the_plain_scan():
    neuron = lif_neuron(spike_fn=lambda v: (v > 0).astype(v.dtype))  # no pseudo_derivative
    assert neuron.scan is None
    x, layer, state0, _ = _problem(jnp.float64)
    _, states = feedforward_layer(neuron, layer, x, initial_state=state0)
    _, ref = feedforward_layer(lif_neuron(), layer, x, initial_state=state0)
    np.testing.assert_array_equal(states.spikes, ref.spikes)


def test_input_currents_is_one_product_over_all_bins():
    x = jax.random.normal(jax.random.PRNGKey(7), (6, 4, 5))
    w = jax.random.normal(jax.random.PRNGKey(8), (5, 3))
    ct = jax.random.normal(jax.random.PRNGKey(9), (6, 4, 3))
    np.testing.assert_allclose(input_currents(x, w), np.einsum("tbi,in->tbn", x, w), rtol=1e-12)
    g_x, g_w = jax.grad(lambda x, w: jnp.sum(input_currents(x, w) * ct), argnums=(0, 1))(x, w)
    np.testing.assert_allclose(g_w, np.asarray(x).reshape(-1, 5).T @ np.asarray(ct).reshape(-1, 3), rtol=1e-12)
    np.testing.assert_allclose(g_x, np.einsum("tbn,in->tbi", ct, w), rtol=1e-12)


def test_shared_parameter_validation():
    with pytest.raises(ValueError, match=r"expected LIFParams\(leak, threshold\)"):
        check_lif_params((jnp.ones(2), jnp.ones(2)))
    with pytest.raises(ValueError, match="expected ALIFParams"):
        check_alif_params(LIFParams(jnp.ones(2), jnp.ones(2)))
    with pytest.raises(ValueError, match="ahp_strength must be >= 0"):
        check_alif_params(ALIFParams(*(jnp.full(2, v) for v in (0.9, 1.0, 0.9, 0.1, -0.5))))
    with pytest.raises(ValueError, match="threshold has 3 entries"):
        check_lif_params(LIFParams(jnp.full(2, 0.9), jnp.ones(3)))
    with pytest.raises(ValueError, match=r"leak must be a scalar or have shape \(4,\)"):
        lif_params(4, leak=jnp.full(3, 0.9))
