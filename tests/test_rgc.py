"""Reproduce Pillow's GLM tutorial numbers on the shared primate RGC recordings (skips when absent).

Identity bases as in the tutorial: a 25-tap stimulus filter including the current frame, 20-bin spike
history / coupling filters excluding the current bin, one bias, exponential Poisson GLM fitted by maximum
likelihood on all 144051 bins; single-spike information on the training data. Reference values: the table in
../shared/data/rgc/README.md (cell 3 is the tutorial's own; the other cells were re-derived there with
statsmodels).
"""
import numpy as np
import pytest

import probsnn as ps
from probsnn import basis, datasets, diagnostics

# cell: (stim, +history, +coupling) bits/spike; delta-AIC (stim, hist) relative to coupled
REFERENCE_BITS = {0: (1.42, 1.58, 1.60), 1: (1.34, 1.53, 1.62), 2: (1.11, 1.19, 1.20), 3: (1.68, 1.78, 1.81)}
REFERENCE_DELTA_AIC = {0: (7929.9, 772.9), 1: (8182.1, 2400.9), 2: (6685.3, 1110.8), 3: (7562.9, 1774.2)}


def tutorial_networks(n_neurons):
    stim = basis.identity(25, lag_offset=0)
    hist = basis.identity(20, lag_offset=1)
    return {
        "stim": ps.GLMNetwork(n_neurons, stimulus_basis=stim),
        "hist": ps.GLMNetwork(n_neurons, stimulus_basis=stim, history_basis=hist, coupling=False),
        "coupled": ps.GLMNetwork(n_neurons, stimulus_basis=stim, history_basis=hist, coupling=True),
    }


@pytest.fixture(scope="module")
def rgc(rgc_path):
    return datasets.load_pillow_rgc(rgc_path)


def test_loader_matches_the_data_readme(rgc):
    assert rgc.n_bins == 144051 and rgc.n_neurons == 4
    np.testing.assert_array_equal(rgc.n_spikes, [31528, 21553, 49954, 43126])
    np.testing.assert_array_equal(rgc.counts.max(axis=0), [3, 3, 4, 4])
    assert rgc.dt == pytest.approx(0.008340605)


def test_tutorial_bits_per_spike_and_aic(rgc):
    bits, aic = {}, {}
    for name, net in tutorial_networks(4).items():
        fit = ps.fit_map(net, rgc, progress=False)
        assert fit.converged.all()
        bits[name] = diagnostics.bits_per_spike(net, fit.params, rgc)
        aic[name] = 2 * net.feature_mask.sum(axis=1) - 2 * fit.log_likelihood_per_neuron
    for cell, reference in REFERENCE_BITS.items():
        got = (bits["stim"][cell], bits["hist"][cell], bits["coupled"][cell])
        np.testing.assert_allclose(got, reference, atol=0.01, err_msg=f"cell {cell + 1}")
        delta = (aic["stim"][cell] - aic["coupled"][cell], aic["hist"][cell] - aic["coupled"][cell])
        np.testing.assert_allclose(delta, REFERENCE_DELTA_AIC[cell], atol=0.5, err_msg=f"cell {cell + 1}")


def test_held_out_bits_per_spike_on_a_time_split(rgc):
    """Fit on the first 80%, score the last 20% against the training mean rate: held-out information is
    positive, below but close to the training value, and history still helps out of sample."""
    train, test = rgc.split(0.8)
    rate = train.counts.mean(axis=0)
    held_out = {}
    for name, net in tutorial_networks(4).items():
        if name == "coupled":
            continue
        fit = ps.fit_map(net, train, progress=False)
        held_out[name] = diagnostics.bits_per_spike(net, fit.params, test, reference_rate=rate)
        train_bits = diagnostics.bits_per_spike(net, fit.params, train)
        assert np.all(held_out[name] > 0.5)
        assert np.all(np.abs(held_out[name] - train_bits) < 0.15)
    assert np.all(held_out["hist"] > held_out["stim"])
