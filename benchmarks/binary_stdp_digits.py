"""Binary stochastic STDP vs analog STDP in the same winner-take-all network on scikit-learn's 8x8 digits.

Both rules are tuned over the same grid (same budget): learning amplitude gamma (gamma_pot = gamma_dep),
annealing of the amplitudes to ``anneal_to`` x their initial value, and the homeostatic threshold
increment. The network (neurons, inputs, thresholds, bins, presentations) is the same for every entry.
For each rule the best grid entry is reported (mean test accuracy over seeds, with the binomial standard
error sqrt(p (1 - p) / n_test) of one run's test accuracy); then compound synapses of 64 binary devices
(Bill & Legenstein 2014) are run at both optima for comparison. Every variant starts from the same synapses.

    nice -n 5 .venv/bin/python benchmarks/binary_stdp_digits.py [--quick]

``--quick`` runs a 2-entry grid (a few minutes on 2 cores); the full grid takes ~15 min on 2 shared cores.
``--compound-only``: the compound rows at the two optima; ``--analog-as-binary``: the best analog weights
rounded or Bernoulli-sampled to binary (what a single device could at best hold / holds on average).
"""
import dataclasses
import itertools
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
from sklearn.datasets import load_digits  # noqa: E402

from probsnn.encoding import assign_labels, predict_labels  # noqa: E402
from probsnn.hardware.binary import (  # noqa: E402
    WTAConfig,
    WTAParams,
    init_wta,
    synaptic_weights,
    train_wta,
    wta_responses,
)
from probsnn.inference.stdp import WindowedSTDPParams  # noqa: E402

NETWORK = dict(n_neurons=400, n_bins=30, input_rate=0.6, threshold=8.0, signed=True)  # shared by every entry
N_EPOCHS = 3
SEEDS = (0, 1)


def digits_split():
    digits = load_digits()
    x, y = (digits.data / 16.0 > 0.5).astype(float), digits.target
    order = np.random.default_rng(0).permutation(len(y))
    return x[order[:1200]], y[order[:1200]], x[order[1200:]], y[order[1200:]]


def accuracy(rule, gamma, anneal_to, threshold_increment, seed, data, devices=1):
    x_tr, y_tr, x_te, y_te = data
    stdp = WindowedSTDPParams(a_pot=gamma, a_dep=gamma, tau=20.0, window=10.0, kernel="box")
    cfg = WTAConfig(rule=rule, stdp=stdp, anneal_to=anneal_to, threshold_increment=threshold_increment,
                    devices_per_synapse=devices, **NETWORK)
    # the same initial synapses for every variant: one Bernoulli(1/2) state per synapse, held by the single
    # device, by all the devices of a compound synapse, or as the analog weight
    single = dataclasses.replace(cfg, rule="binary", devices_per_synapse=1)
    params = init_wta(jax.random.PRNGKey(10 * seed + 1), x_tr.shape[1], single)
    if rule == "analog":
        params = WTAParams(synaptic_weights(params), params.thresholds)
    elif devices > 1:
        params = WTAParams(jnp.repeat(params.weights, devices, axis=-1), params.thresholds)
    params = train_wta(jax.random.PRNGKey(10 * seed + 2), params, x_tr, cfg, N_EPOCHS)
    labels = assign_labels(wta_responses(jax.random.PRNGKey(3), params, x_tr, cfg), y_tr, 10)
    pred = predict_labels(wta_responses(jax.random.PRNGKey(4), params, x_te, cfg), labels, 10)
    return float(np.mean(pred == y_te))


def analog_weights_as_binary(gamma=0.3, anneal_to=0.05, threshold_increment=0.5, seeds=SEEDS):
    """Train analog STDP, then replace each weight by a binary one: rounded (w > 1/2) or sampled (Bernoulli(w))."""
    x_tr, y_tr, x_te, y_te = digits_split()
    stdp = WindowedSTDPParams(a_pot=gamma, a_dep=gamma, tau=20.0, window=10.0, kernel="box")
    cfg = WTAConfig(rule="analog", stdp=stdp, anneal_to=anneal_to, threshold_increment=threshold_increment, **NETWORK)

    def test_accuracy(params):
        labels = assign_labels(wta_responses(jax.random.PRNGKey(3), params, x_tr, cfg), y_tr, 10)
        pred = predict_labels(wta_responses(jax.random.PRNGKey(4), params, x_te, cfg), labels, 10)
        return float(np.mean(pred == y_te))

    for seed in seeds:
        init = init_wta(jax.random.PRNGKey(10 * seed + 1), x_tr.shape[1], dataclasses.replace(cfg, rule="binary"))
        params = WTAParams(synaptic_weights(init), init.thresholds)
        params = train_wta(jax.random.PRNGKey(10 * seed + 2), params, x_tr, cfg, N_EPOCHS)
        w = params.weights
        rounded = test_accuracy(WTAParams((w > 0.5).astype(w.dtype), params.thresholds))
        sampled = [test_accuracy(WTAParams(jax.random.bernoulli(jax.random.PRNGKey(100 + s), w).astype(w.dtype),
                                           params.thresholds)) for s in range(2)]
        print(f"seed {seed}: analog {100 * test_accuracy(params):.1f}%, "
              f"weights rounded to binary {100 * rounded:.1f}%, "
              f"Bernoulli-sampled {[round(100 * a, 1) for a in sampled]}%", flush=True)


def fmt(accs, n_test):
    p = float(np.mean(accs))
    se = np.sqrt(p * (1 - p) / n_test)
    return f"{100 * p:5.1f}% (binomial SE {100 * se:.1f}, seeds {[round(100 * a, 1) for a in accs]})"


def main(quick=False):
    data = digits_split()
    n_test = len(data[3])
    if quick:
        grid = [(0.1, 1.0, 2.0), (0.2, 0.05, 2.0)]
    else:
        grid = list(itertools.product((0.02, 0.1, 0.3), (1.0, 0.05), (0.5, 2.0)))
    results = {}
    for rule in ("analog", "binary"):
        for entry in grid:
            start = time.perf_counter()
            accs = [accuracy(rule, *entry, seed, data) for seed in SEEDS]
            results[rule, entry] = accs
            print(f"{rule:6s} gamma={entry[0]:<5} anneal_to={entry[1]:<5} theta+={entry[2]:<4}: {fmt(accs, n_test)}"
                  f"  [{time.perf_counter() - start:.0f} s]", flush=True)
    best = {rule: max(grid, key=lambda e: np.mean(results[rule, e])) for rule in ("analog", "binary")}
    compound = {rule: [accuracy("binary", *best[rule], seed, data, devices=64) for seed in SEEDS]
                for rule in ("binary", "analog")}
    print(f"\nnetwork: {NETWORK}, {N_EPOCHS} epochs x 1200 digits, {n_test} test digits")
    print(f"analog STDP (best {best['analog']}):              {fmt(results['analog', best['analog']], n_test)}")
    print(f"binary, 1 device/synapse (best {best['binary']}): {fmt(results['binary', best['binary']], n_test)}")
    print(f"binary, 64-device compound synapses, at the single-device optimum: {fmt(compound['binary'], n_test)}")
    print(f"binary, 64-device compound synapses, at the analog optimum:        {fmt(compound['analog'], n_test)}")
    gap = np.mean(results["analog", best["analog"]]) - np.mean(results["binary", best["binary"]])
    print(f"single-device gap to analog (best vs best): {100 * gap:.1f} points")


if __name__ == "__main__":
    if "--analog-as-binary" in sys.argv:
        analog_weights_as_binary()
    elif "--compound-only" in sys.argv:  # the compound rows alone, at the optima found by the full grid
        data = digits_split()
        for entry in ((0.1, 1.0, 2.0), (0.3, 0.05, 0.5)):
            accs = [accuracy("binary", *entry, seed, data, devices=64) for seed in SEEDS]
            print(f"compound (64 devices) gamma, anneal_to, theta+ = {entry}: {fmt(accs, len(data[3]))}", flush=True)
    else:
        main(quick="--quick" in sys.argv)
