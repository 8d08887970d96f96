"""Few-spike neurons (Stockl & Maass 2021): hand trajectory, shipped fits, save/load, FS-ReLU digits, pipelining."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from probsnn.conversion import (
    Dense,
    ann_accuracy,
    convert_fewspike,
    fit_classifier,
    fit_fs_neuron,
    init_mlp,
    load_fs_params,
    pretrained_fs,
    run_fs_network,
    run_fs_pipelined,
    save_fs_params,
)
from probsnn.neurons.fewspike import FSParams, fs_neuron


def test_fs_neuron_hand_trajectory():
    # K=3, T=(1, 0.5, 0.25), h=T, d=(4, 2, 1): x=1.3 -> v=1.3 spike, 0.3 no, 0.3 spike -> 4 + 1 = 5
    p = FSParams(jnp.array([1.0, 0.5, 0.25]), jnp.array([1.0, 0.5, 0.25]), jnp.array([4.0, 2.0, 1.0]))
    out, z = fs_neuron(p, jnp.array([1.3, 0.2]))
    np.testing.assert_allclose(np.asarray(z)[:, 0], [1, 0, 1])
    np.testing.assert_allclose(np.asarray(out), [5.0, 0.0])


@pytest.mark.parametrize("activation,k,max_mse,max_spikes", [("silu", 16, 0.003, 2.5), ("sigmoid", 12, 0.0004, None)])
def test_shipped_fits_on_fresh_standard_normal_samples(activation, k, max_mse, max_spikes):
    fit = pretrained_fs(activation, k)
    x = np.random.default_rng(123).standard_normal(200_000)
    out, z = fs_neuron(FSParams(*map(jnp.asarray, fit.params)), jnp.asarray(x))
    f = x / (1 + np.exp(-x)) if activation == "silu" else 1 / (1 + np.exp(-x))
    err = (np.asarray(out) - f) ** 2
    # Monte-Carlo estimate: bound the MSE with 3 standard errors
    assert err.mean() + 3 * err.std() / np.sqrt(x.size) <= max_mse
    if max_spikes is not None:
        n = np.asarray(z).sum(0)
        assert n.mean() + 3 * n.std() / np.sqrt(x.size) <= max_spikes


def test_fit_improves_and_save_load_roundtrip(tmp_path):
    fit = fit_fs_neuron("sigmoid", 6, n_restarts=2, n_iterations=300, n_grid=512)
    const = np.mean((1 / (1 + np.exp(-np.random.default_rng(0).standard_normal(10000))) - 0.5) ** 2)
    assert fit.mse < 0.2 * const  # far better than the best constant
    save_fs_params(tmp_path / "f.npz", fit)
    back = load_fs_params(tmp_path / "f.npz")
    for a, b in zip(fit.params, back.params):
        np.testing.assert_array_equal(a, b)
    assert back.activation == "sigmoid" and back.mse == fit.mse


def test_fs_relu_digits_within_half_point_k6_and_pipelined_equal():
    d = load_digits()
    xtr, xte, ytr, yte = train_test_split(d.data / 16.0, d.target, test_size=0.3, random_state=0, stratify=d.target)
    layers = fit_classifier(init_mlp(jax.random.PRNGKey(0), [64, 100, 10]), xtr, ytr, n_epochs=40, seed=0)
    pre = np.asarray(xtr[:300] @ layers[0].weights + layers[0].bias).ravel()
    samples = np.random.default_rng(0).choice(pre, 4000, replace=False)
    fit = fit_fs_neuron("relu", 6, samples=samples, spike_penalty=0.01, n_restarts=4, n_iterations=1000)
    net = convert_fewspike(layers, {"relu": fit}, (64,))
    logits, spikes, synops, macs = run_fs_network(net, xte)
    analog = ann_accuracy(layers, xte, yte)
    assert analog - np.mean(logits.argmax(-1) == yte) <= 0.005
    assert spikes[0] < 2.0
    piped, n_steps = run_fs_pipelined(net, xte[:4])
    np.testing.assert_allclose(piped, logits[:4], atol=1e-12)
    assert n_steps == (4 + 2 - 1) * 6


def test_refusals():
    layers = init_mlp(jax.random.PRNGKey(0), [4, 3, 2])
    fit = pretrained_fs("silu", 16)
    with pytest.raises(ValueError, match="no FS fit was given"):
        convert_fewspike(layers, {"silu": fit}, (4,))
    with pytest.raises(ValueError, match="emulates"):
        convert_fewspike(layers, [fit], (4,))
    with pytest.raises(ValueError, match="linear"):
        convert_fewspike([layers[0], Dense(layers[1].weights, layers[1].bias, "relu")], {"relu": fit}, (4,))
    with pytest.raises(ValueError, match="relu/leaky_relu/silu/sigmoid"):
        fit_fs_neuron("tanh", 4)
    with pytest.raises(ValueError, match="no shipped"):
        pretrained_fs("relu", 3)
