"""Rate conversion (Rueckauer et al. 2017) on the digits MLP, IF dynamics and refusals."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from probsnn.conversion import (
    Dense,
    accuracy_vs_time,
    ann_accuracy,
    ann_activations,
    conversion_report,
    convert_rate,
    fit_classifier,
    init_cnn,
    init_mlp,
    layers_from_arrays,
    run_rate_snn,
)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    xtr, xte, ytr, yte = train_test_split(d.data / 16.0, d.target, test_size=0.3, random_state=0, stratify=d.target)
    layers = fit_classifier(init_mlp(jax.random.PRNGKey(0), [64, 100, 10]), xtr, ytr, n_epochs=40, seed=0)
    return layers, xtr, xte, ytr, yte


def test_rate_conversion_within_one_point_at_16_steps_and_normalisation_matters(digits):
    layers, xtr, xte, ytr, yte = digits
    analog = ann_accuracy(layers, xte, yte)
    snn = convert_rate(layers, xtr[:300], percentile=99.9)
    acc = accuracy_vs_time(run_rate_snn(snn, xte, 512), yte)
    assert analog - acc[15] <= 0.01
    raw = convert_rate(layers, normalise=False, input_shape=(64,))
    acc_raw = accuracy_vs_time(run_rate_snn(raw, xte, 512), yte)
    assert analog - acc_raw[-1] >= 0.01  # without normalisation the saturated IF neurons keep a gap
    report = conversion_report(layers, run_rate_snn(snn, xte, 16), yte, (64,), analog)
    assert report["ann_macs"] == 64 * 100 + 100 * 10
    assert 0 < report["spikes_per_neuron"][0] <= 16


def test_if_rates_match_normalised_relu_activations(digits):
    # analytic: r = clip(a / lambda, 0, 1) + O(1/T) for one layer with analog input, here |error| <= 1/T
    layers, xtr, xte, _, _ = digits
    hidden = [layers[0], Dense(jnp.eye(100), jnp.zeros(100), "linear")]
    snn = convert_rate(hidden, xtr[:300])
    n_steps = 200
    run = run_rate_snn(snn, xte[:50], n_steps, initial_membrane=0.0)
    # readout of identity output = mean hidden spikes scaled by 1/lambda_out
    rates = run.scores[-1] * snn.scales[1] / snn.scales[0]
    target = np.clip(np.asarray(ann_activations(tuple(layers[:1]), jnp.asarray(xte[:50]))[0]) / snn.scales[0], 0, 1)
    assert np.max(np.abs(rates - target)) <= 1.0 / n_steps + 1e-9


def test_if_trajectory_by_hand():
    # one IF neuron, threshold 1, reset by subtraction, constant current 0.4, v0 = 0:
    # v = 0.4, 0.8, 1.2 (spike), 0.6, 1.0 (no spike, strict), 1.4 (spike) -> spikes at steps 3 and 6
    layers = [Dense(jnp.array([[1.0]]), jnp.array([0.0]), "relu"),
              Dense(jnp.array([[1.0]]), jnp.array([0.0]), "linear")]
    snn = convert_rate(layers, normalise=False, input_shape=(1,))
    run = run_rate_snn(snn, np.array([[0.4]]), 6, initial_membrane=0.0)
    out_per_step = np.diff(np.concatenate([[0.0], run.scores[:, 0, 0] * np.arange(1, 7)]))
    np.testing.assert_allclose(out_per_step, [0, 0, 1, 0, 0, 1], atol=1e-12)


def test_cnn_with_avg_and_max_pool_converts():
    d = load_digits()
    x = (d.data / 16.0).reshape(-1, 8, 8, 1)[:400]
    y = d.target[:400]
    for pool in ("avg", "max"):
        layers = fit_classifier(init_cnn(jax.random.PRNGKey(1), (8, 8, 1), pool=pool), x[:300], y[:300], n_epochs=6)
        snn = convert_rate(layers, x[:200])
        acc = accuracy_vs_time(run_rate_snn(snn, x[300:], 64), y[300:])[-1]
        assert ann_accuracy(layers, x[300:], y[300:]) - acc <= 0.05


def test_poisson_input_runs_and_is_reproducible(digits):
    layers, xtr, xte, _, yte = digits
    snn = convert_rate(layers, xtr[:300])
    a = run_rate_snn(snn, xte[:40], 64, input_mode="poisson", key=jax.random.PRNGKey(3))
    b = run_rate_snn(snn, xte[:40], 64, input_mode="poisson", key=jax.random.PRNGKey(3))
    np.testing.assert_array_equal(a.scores, b.scores)
    assert accuracy_vs_time(a, yte[:40])[-1] >= 0.85


def test_refusals(digits):
    layers, xtr, *_ = digits
    silu = [Dense(layers[0].weights, layers[0].bias, "silu"), layers[1]]
    with pytest.raises(ValueError, match="convert_fewspike"):
        convert_rate(silu, xtr[:10])
    with pytest.raises(ValueError, match="softmax"):
        convert_rate([layers[0], Dense(layers[1].weights, layers[1].bias, "softmax")], xtr[:10])
    with pytest.raises(ValueError, match="fold"):
        layers_from_arrays([{"type": "batchnorm"}])
    with pytest.raises(ValueError, match="tanh"):
        convert_rate([Dense(layers[0].weights, layers[0].bias, "tanh"), layers[1]], xtr[:10])
    snn = convert_rate(layers, xtr[:10])
    with pytest.raises(ValueError, match="non-negative"):
        run_rate_snn(snn, -xtr[:2], 4)
    with pytest.raises(ValueError, match="key"):
        run_rate_snn(snn, xtr[:2], 4, input_mode="poisson")
    with pytest.raises(ValueError, match="percentile"):
        convert_rate(layers, xtr[:10], percentile=0)
    with pytest.raises(ValueError, match="Flatten"):
        convert_rate([Dense(jnp.ones((64, 2)), jnp.zeros(2), "linear")], xtr[:10].reshape(-1, 8, 8, 1))
    imported = layers_from_arrays([{"type": "dense", "weights": np.asarray(l.weights), "bias": np.asarray(l.bias),
                                    "activation": l.activation} for l in layers])
    assert ann_accuracy(imported, xtr, digits[3]) == ann_accuracy(layers, xtr, digits[3])


def test_channel_schedule_scales_hidden_units_but_keeps_one_output_scale(digits):
    """Per-channel scales equal each hidden unit's 99.9th percentile; the output layer keeps one scale, so
    the normalised ANN makes exactly the original decisions (a positive per-layer factor keeps the argmax)."""
    from probsnn.conversion import normalisation_scales, normalise_layers

    layers, xtr, xte, _, _ = digits
    scales = normalisation_scales(layers, xtr[:300], schedule="channel")
    hidden = np.asarray(ann_activations(tuple(layers), jnp.asarray(xtr[:300]))[0])
    unit = int(np.argmax((hidden > 0).sum(axis=0)))  # the most often active hidden unit
    positive = hidden[:, unit][hidden[:, unit] > 0]
    assert scales[0].shape == (100,) and np.isclose(scales[0][unit], np.percentile(positive, 99.9))
    assert np.ndim(scales[-1]) == 0
    normalised = normalise_layers(layers, scales, (64,))
    original = np.argmax(np.asarray(ann_activations(tuple(layers), jnp.asarray(xte))[-1]), axis=1)
    rescaled = np.argmax(np.asarray(ann_activations(tuple(normalised), jnp.asarray(xte))[-1]), axis=1)
    np.testing.assert_array_equal(rescaled, original)
