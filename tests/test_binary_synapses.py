"""Binary stochastic synapses: expected update = analog STDP, binomial switching, deterministic limit, WTA digits."""
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn.encoding import assign_labels, predict_labels
from probsnn.hardware.binary import (
    WTAConfig,
    WTAParams,
    binary_stdp_update,
    binary_weight_values,
    expected_binary_stdp_update,
    init_wta,
    switching_probabilities,
    synaptic_weights,
    train_wta,
    wta_responses,
)
from probsnn.inference.stdp import WindowedSTDPParams, windowed_stdp_update

PARAMS = WindowedSTDPParams(a_pot=0.6, a_dep=0.3, tau=4.0, window=5.0, kernel="exp")
DT = np.array([0.0, 1.0, 3.0, 5.0, 6.0, np.inf])
POST = np.array([1.0, 0.0, 1.0])


def test_expected_update_equals_deterministic_rule():
    mean_w = jax.random.uniform(jax.random.PRNGKey(0), (3, 6))
    np.testing.assert_allclose(
        expected_binary_stdp_update(PARAMS, mean_w, DT, POST), windowed_stdp_update(PARAMS, mean_w, DT, POST),
        rtol=1e-15, atol=1e-15,
    )


def test_monte_carlo_mean_update_within_binomial_error():
    n = 40_000
    mean_w = np.array([[0.2, 0.5, 0.7, 0.4, 0.9, 0.3]] * 3)
    keys = jax.random.split(jax.random.PRNGKey(1), n)

    def one(k):
        k_init, k_update = jax.random.split(k)
        w = jax.random.bernoulli(k_init, mean_w).astype(jnp.float64)
        return binary_stdp_update(k_update, PARAMS, w, DT, POST)

    avg = np.asarray(jnp.mean(jax.vmap(one)(keys), axis=0))
    expected = np.asarray(windowed_stdp_update(PARAMS, mean_w, DT, POST))
    sigma = np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(avg - expected) <= 3 * sigma + 1e-12)


@pytest.mark.parametrize("start", [0.0, 1.0])
def test_switching_frequencies_within_binomial_three_sigma(start):
    n = 20_000
    w = jnp.full((3, 6, n), start)  # compound synapse: n independent devices per synapse
    new = np.asarray(binary_stdp_update(jax.random.PRNGKey(2), PARAMS, w, DT, POST))
    p_one, p_zero = (np.asarray(p) for p in switching_probabilities(PARAMS, DT, POST))
    p = p_one if start == 0.0 else p_zero
    switched = np.mean(new != start, axis=-1)
    assert np.all(np.abs(switched - p) <= 3 * np.sqrt(p * (1 - p) / n) + 1e-12)
    # p_one at dt = 0, 1, 3, 5 is gamma_pot * exp(-dt / tau); outside the window it is 0
    np.testing.assert_allclose(
        p_one[0], [0.6, 0.6 * math.exp(-0.25), 0.6 * math.exp(-0.75), 0.6 * math.exp(-1.25), 0, 0]
    )
    np.testing.assert_allclose(p_zero[0], [0, 0, 0, 0, 0.3, 0.3])
    assert np.all(p_one[1] == 0) and np.all(p_zero[1] == 0)


def test_annealing_scale_multiplies_switching_probabilities():
    n = 20_000
    for start, which in ((0.0, 0), (1.0, 1)):
        new = np.asarray(binary_stdp_update(jax.random.PRNGKey(7), PARAMS, jnp.full((3, 6, n), start), DT, POST, 0.25))
        p = 0.25 * np.asarray(switching_probabilities(PARAMS, DT, POST)[which])
        assert np.all(np.abs(np.mean(new != start, axis=-1) - p) <= 3 * np.sqrt(p * (1 - p) / n) + 1e-12)
    w = jax.random.bernoulli(jax.random.PRNGKey(8), 0.5, (3, 6)).astype(jnp.float64)
    np.testing.assert_array_equal(np.asarray(binary_stdp_update(jax.random.PRNGKey(9), PARAMS, w, DT, POST, 0.0)), w)


@pytest.mark.parametrize("a_pot, a_dep", [(1.0, 1.0), (0.0, 1.0), (1.0, 0.0), (0.0, 0.0)])
def test_probabilities_zero_one_reproduce_deterministic_rule_exactly(a_pot, a_dep):
    params = WindowedSTDPParams(a_pot=a_pot, a_dep=a_dep, tau=4.0, window=3.0, kernel="box")
    w = jax.random.bernoulli(jax.random.PRNGKey(3), 0.5, (3, 6)).astype(jnp.float64)
    stochastic = binary_stdp_update(jax.random.PRNGKey(4), params, w, DT, POST)
    np.testing.assert_array_equal(np.asarray(stochastic), np.asarray(windowed_stdp_update(params, w, DT, POST)))


def test_wta_binary_path_with_deterministic_switching_equals_analog_network():
    images = np.random.default_rng(0).random((40, 16))
    stdp = WindowedSTDPParams(a_pot=1.0, a_dep=1.0, window=2.0, kernel="box")
    cfg_b = WTAConfig(n_neurons=5, n_bins=10, threshold=2.0, rule="binary", stdp=stdp)
    cfg_a = dataclasses.replace(cfg_b, rule="analog")
    p_b = init_wta(jax.random.PRNGKey(5), 16, cfg_b)
    p_a = WTAParams(synaptic_weights(p_b), p_b.thresholds)
    out_b = train_wta(jax.random.PRNGKey(6), p_b, images, cfg_b, 2)
    out_a = train_wta(jax.random.PRNGKey(6), p_a, images, cfg_a, 2)
    np.testing.assert_array_equal(np.asarray(synaptic_weights(out_b)), np.asarray(out_a.weights))
    np.testing.assert_array_equal(np.asarray(out_b.thresholds), np.asarray(out_a.thresholds))
    assert not np.array_equal(np.asarray(out_a.weights), np.asarray(p_a.weights))  # learning happened


def test_binary_weight_values():
    np.testing.assert_array_equal(binary_weight_values(jnp.array([0.0, 1.0]), signed=True), [-1.0, 1.0])
    np.testing.assert_array_equal(binary_weight_values(jnp.array([0.0, 1.0])), [0.0, 1.0])


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(rule="hebb"), "rule"), (dict(leak=1.5), "leak"), (dict(n_neurons=0), "n_neurons"),
     (dict(devices_per_synapse=0), "devices_per_synapse"), (dict(anneal_to=0.0), "anneal_to")],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WTAConfig(**kwargs)


def test_bad_images_raise():
    cfg = WTAConfig(n_neurons=3)
    params = init_wta(jax.random.PRNGKey(0), 4, cfg)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_wta(jax.random.PRNGKey(0), params, np.full((2, 4), 16.0), cfg)
    with pytest.raises(ValueError, match="inputs"):
        train_wta(jax.random.PRNGKey(0), params, np.zeros((2, 5)), cfg)
    with pytest.raises(ValueError, match="dimensions"):
        train_wta(jax.random.PRNGKey(0), params, np.zeros((2, 4)), dataclasses.replace(cfg, rule="analog"))


@pytest.fixture(scope="module")
def digits_accuracies():
    """Test accuracies of the same WTA network (400 neurons, 8x8 digits binarised, 3 epochs) with three synapses.

    ``analog``: deterministic soft-bound STDP; ``single``: one binary device per synapse (w in {-1, +1}),
    stochastic STDP with the same gamma_pot = gamma_dep = 0.1; ``compound``: 64 such devices per synapse
    (Bill & Legenstein 2014). Same initial synapses, two seeds each. benchmarks/binary_stdp_digits.py tunes
    both rules over the same grid.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.data / 16.0 > 0.5).astype(float), digits.target
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:1200], order[1200:]
    stdp = WindowedSTDPParams(a_pot=0.1, a_dep=0.1, tau=20.0, window=10.0, kernel="box")
    cfg_single = WTAConfig(n_neurons=400, n_bins=30, input_rate=0.6, threshold=8.0, threshold_increment=2.0,
                           signed=True, devices_per_synapse=1, rule="binary", stdp=stdp)
    configs = {"analog": dataclasses.replace(cfg_single, rule="analog"), "single": cfg_single,
               "compound": dataclasses.replace(cfg_single, devices_per_synapse=64)}
    acc = {name: [] for name in configs}
    for seed in range(2):
        p_single = init_wta(jax.random.PRNGKey(10 * seed + 1), 64, cfg_single)
        # the same initial synapses for all three: each state held by the device, by all 64 devices, or as the weight
        inits = {"analog": WTAParams(synaptic_weights(p_single), p_single.thresholds), "single": p_single,
                 "compound": WTAParams(jnp.repeat(p_single.weights, 64, axis=-1), p_single.thresholds)}
        for name, cfg in configs.items():
            p = train_wta(jax.random.PRNGKey(10 * seed + 2), inits[name], x[train], cfg, 3)
            labels = assign_labels(wta_responses(jax.random.PRNGKey(3), p, x[train], cfg), y[train], 10)
            pred = predict_labels(wta_responses(jax.random.PRNGKey(4), p, x[test], cfg), labels, 10)
            acc[name].append(np.mean(pred == y[test]))
    print({k: np.round(v, 4) for k, v in acc.items()})
    return {k: float(np.mean(v)) for k, v in acc.items()}, len(test)


def test_analog_stdp_wta_learns_digits(digits_accuracies):
    acc, _ = digits_accuracies
    assert acc["analog"] >= 0.83


def test_compound_binary_synapses_on_digits_within_five_points_of_analog(digits_accuracies):
    """COMPOUND synapses (64 binary devices each, quasi-analog): within 5 points of analog STDP."""
    acc, _ = digits_accuracies
    assert acc["compound"] >= acc["analog"] - 0.05


def test_single_device_binary_synapses_on_digits(digits_accuracies):
    """ONE binary device per synapse: learns digits, but is NOT within 5 points of analog STDP.

    Measured here: single 81.7% vs analog 86.9% at the same settings (binary's best); 81.7% vs 91.0% against
    analog tuned over the same grid (benchmarks/binary_stdp_digits.py). A single device's state is a
    Bernoulli sample of the analog weight, and even deterministically rounding the best analog weights to
    {-1, +1} loses ~8 points in this network. This test guards the measured level (mean over two seeds;
    binomial SE of one run's accuracy ~1.6 points).
    """
    acc, n_test = digits_accuracies
    assert acc["single"] >= 0.78
    assert acc["single"] >= acc["analog"] - 0.10
