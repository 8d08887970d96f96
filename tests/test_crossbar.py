"""Crossbar mapping, realisation of arbitrary networks, drift compensation and hardware-aware training."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from probsnn.hardware.crossbar import (
    ProgrammedWeights,
    analog_matmul,
    finetune_hardware_in_the_loop,
    inject_programming_noise,
    map_weights,
    program_weights,
    read_weights,
    realise_weights,
    train_hardware_aware,
    unmap_weights,
)
from probsnn.hardware.pcm import ONE_YEAR, PCMConfig, programming_noise_std
from probsnn.neurons.layers import FeedForwardParams, feedforward_layer
from probsnn.neurons.lif import lif_neuron, lif_params


def test_differential_mapping_round_trip():
    w = jax.random.normal(jax.random.PRNGKey(0), (7, 5))
    g_plus, g_minus, scale = map_weights(w)
    assert float(jnp.max(g_plus)) <= 25.0 and float(jnp.min(g_minus)) >= 0.0
    assert float(jnp.max(jnp.abs(g_plus - g_minus))) == pytest.approx(25.0)
    assert np.all(np.asarray(g_plus * g_minus) == 0)  # one device of each pair is at 0
    np.testing.assert_allclose(unmap_weights(g_plus, g_minus, scale), w, rtol=1e-14, atol=1e-15)
    g_plus, g_minus, scale = map_weights(w, per_column=True)
    np.testing.assert_allclose(jnp.max(jnp.abs(g_plus - g_minus), axis=0), 25.0)
    np.testing.assert_allclose(unmap_weights(g_plus, g_minus, scale), w, rtol=1e-14, atol=1e-15)


def _lif_net(key):
    k1, k2 = jax.random.split(key)
    return {
        "hidden": FeedForwardParams(jax.random.normal(k1, (6, 8)), lif_params(8, leak=0.8, threshold=0.7)),
        "out": jax.random.normal(k2, (8, 3)),
        "bias": jnp.array([0.1, -0.2, 0.3]),
    }


def test_noise_free_crossbar_reproduces_the_network_exactly():
    params = _lif_net(jax.random.PRNGKey(1))
    inputs = (jax.random.uniform(jax.random.PRNGKey(2), (20, 4, 6)) < 0.4).astype(jnp.float64)
    realised = realise_weights(jax.random.PRNGKey(3), params, ONE_YEAR, PCMConfig.noise_free())
    assert jax.tree_util.tree_structure(realised) == jax.tree_util.tree_structure(params)
    for a, b in zip(jax.tree_util.tree_leaves(realised), jax.tree_util.tree_leaves(params)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    _, ideal = feedforward_layer(lif_neuron(), params["hidden"], inputs)
    _, hw = feedforward_layer(lif_neuron(), realised["hidden"], inputs)
    np.testing.assert_array_equal(np.asarray(hw.spikes), np.asarray(ideal.spikes))
    # biases, leaks and thresholds stay digital (untouched)
    assert realised["bias"] is params["bias"]
    assert realised["hidden"].neuron.leak is params["hidden"].neuron.leak
    assert realised["hidden"].neuron.threshold is params["hidden"].neuron.threshold


def test_global_drift_compensation_restores_the_probe_response():
    w = jax.random.normal(jax.random.PRNGKey(4), (200, 50))
    cfg = PCMConfig(prog_noise_scale=0.0, read_noise_scale=0.0)
    programmed = program_weights(jax.random.PRNGKey(5), {"w": w}, cfg)
    assert isinstance(programmed["w"], ProgrammedWeights)
    raw = read_weights(jax.random.PRNGKey(6), programmed, ONE_YEAR, cfg, drift_compensation=False)["w"]
    comp = read_weights(jax.random.PRNGKey(6), programmed, ONE_YEAR, cfg, drift_compensation=True)["w"]
    # probe (all-ones input) response magnitude equals the one recorded right after programming
    probe = lambda m: float(jnp.sum(jnp.abs(jnp.sum(m, axis=0))))
    assert probe(comp) == pytest.approx(probe(w), rel=1e-12)
    # raw weights drift down by ~0.5 for large conductances; compensation brings the scale back to ~1
    big = np.abs(np.asarray(w)) > 0.5 * float(jnp.max(jnp.abs(w)))
    assert np.mean(np.asarray(raw)[big] / np.asarray(w)[big]) == pytest.approx(0.5, abs=0.02)
    ratio = np.sum(np.asarray(comp) * np.asarray(w)) / np.sum(np.asarray(w) ** 2)
    assert ratio == pytest.approx(1.0, abs=0.05)


def test_analog_matmul_quantisation():
    x = jax.random.uniform(jax.random.PRNGKey(7), (5, 30), minval=-1.0, maxval=2.0)
    w = jax.random.normal(jax.random.PRNGKey(8), (30, 4))
    np.testing.assert_allclose(analog_matmul(x, w), x @ w, rtol=1e-12)
    y = analog_matmul(x, w, dac_bits=8)
    # each input is off by at most half a DAC step (max|x| / 127 / 2): |dy| <= sum_j |W_j| * step / 2
    step = np.max(np.abs(np.asarray(x)), axis=1, keepdims=True) / 127
    bound = step / 2 * np.sum(np.abs(np.asarray(w)), axis=0)[None, :]
    assert np.all(np.abs(np.asarray(y - x @ w)) <= bound + 1e-12)
    y_adc = analog_matmul(x, w, adc_bits=4, adc_bound=2.0)
    m = np.max(np.abs(np.asarray(x)), axis=1, keepdims=True) * float(jnp.max(jnp.abs(w)))
    levels = np.asarray(y_adc) / m / (2.0 / 7)
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-9)
    assert np.all(np.abs(levels) <= 7 + 1e-9)


def test_noise_injection_matches_programming_noise_and_passes_gradients():
    w = jnp.full((400, 500), 0.5).at[0, 0].set(1.0)  # w_max = 1 -> g = 12.5 uS for the bulk
    noisy = inject_programming_noise(jax.random.PRNGKey(9), {"w": w})["w"]
    cfg = PCMConfig()
    expected = math.sqrt(float(programming_noise_std(12.5, cfg)) ** 2
                         + float(programming_noise_std(0.0, cfg)) ** 2) / 25
    sd = float(jnp.std(noisy - w))
    assert sd == pytest.approx(expected, rel=3 * math.sqrt(0.5 / w.size) + 1e-3)
    grad = jax.grad(lambda p: jnp.sum(inject_programming_noise(jax.random.PRNGKey(0), p)["w"] * 2.0))({"w": w})
    np.testing.assert_array_equal(np.asarray(grad["w"]), 2.0)


def test_hardware_in_the_loop_finetuning_reduces_the_loss_on_hardware():
    x = jax.random.normal(jax.random.PRNGKey(10), (64, 10))
    w_true = jax.random.normal(jax.random.PRNGKey(11), (10, 3))
    y = x @ w_true
    loss = lambda p, x, y: jnp.mean((x @ p["w"] - y) ** 2)
    start = {"w": w_true + 0.3 * jax.random.normal(jax.random.PRNGKey(12), (10, 3))}
    cfg = PCMConfig()
    _, losses = finetune_hardware_in_the_loop(loss, start, jax.random.PRNGKey(13), ONE_YEAR, 60,
                                              optax.adam(2e-2), cfg, batches=[(x, y)])
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])


# ------------------------------------------------------------------- digits LIF network on PCM (1 year)
T_BINS, HIDDEN = 8, 128
LIF = lif_params(HIDDEN, leak=0.9, threshold=1.0)  # fixed, digital neuron parameters


def _forward(params, x):
    inputs = jnp.broadcast_to(x, (T_BINS,) + x.shape)
    _, states = feedforward_layer(lif_neuron(), FeedForwardParams(params["w_in"], LIF), inputs)
    return states.spikes.mean(0) @ params["w_out"] + params["b_out"]


def _loss(params, x, y):
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(_forward(params, x), y))


_accuracy = jax.jit(lambda p, x, y: jnp.mean(jnp.argmax(_forward(p, x), -1) == y))


@pytest.fixture(scope="module")
def digits_network():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = digits.data / 16.0, digits.target
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:1300], order[1300:]
    params = {
        "w_in": 0.3 * jax.random.normal(jax.random.PRNGKey(0), (64, HIDDEN)),
        "w_out": 0.1 * jax.random.normal(jax.random.PRNGKey(1), (HIDDEN, 10)),
        "b_out": jnp.zeros(10),
    }
    batches = [(x[train][i:i + 100], y[train][i:i + 100]) for i in range(0, 1300, 100)]
    params, _ = train_hardware_aware(_loss, params, jax.random.PRNGKey(2), 300, optax.adam(1e-2),
                                     noise_scale=0.0, batches=batches)
    return params, x[test], y[test]


def test_digits_network_on_pcm_after_one_year(digits_network):
    params, x, y = digits_network
    analog = float(_accuracy(params, x, y))
    cfg = PCMConfig()
    acc = {c: np.array([float(_accuracy(realise_weights(jax.random.PRNGKey(s), params, ONE_YEAR, cfg, c), x, y))
                        for s in range(20)]) for c in (True, False)}
    print(f"analog={analog:.4f} 1y compensated={acc[True].mean():.4f}+-{acc[True].std():.4f} "
          f"uncompensated={acc[False].mean():.4f}+-{acc[False].std():.4f}")
    assert analog >= 0.975
    assert acc[True].mean() >= 0.965
    assert acc[True].std() < acc[False].std()


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="no leaf"):
        program_weights(jax.random.PRNGKey(0), {"b": jnp.ones(3)})
    with pytest.raises(ValueError, match="finite"):
        program_weights(jax.random.PRNGKey(0), {"w": jnp.array([[jnp.nan, 1.0]])})
    with pytest.raises(ValueError, match="time"):
        realise_weights(jax.random.PRNGKey(0), {"w": jnp.ones((2, 2))}, -5.0)
    with pytest.raises(ValueError, match="features"):
        analog_matmul(jnp.ones((2, 3)), jnp.ones((4, 2)))
    with pytest.raises(ValueError, match="PCMConfig"):
        program_weights(jax.random.PRNGKey(0), {"w": jnp.ones((2, 2))}, config="pcm")
