"""Operation counts and energy estimates against hand counts."""
import numpy as np
import pytest

from probsnn.hardware.energy import EnergyCosts, OperationCounts, count_operations, estimate_energy


def test_counts_and_energy_hand_computed():
    # layer 0: T=3, batch 2, 4 neurons, 5 spikes, fan-out 10; layer 1: T=3, batch 2, 10 neurons, 2 spikes, fan-out 2
    s0 = np.zeros((3, 2, 4)); s0[0, 0, :3] = 1; s0[2, 1, 1:3] = 1
    s1 = np.zeros((3, 2, 10)); s1[1, 0, 4] = 1; s1[2, 1, 9] = 1
    counts = count_operations([s0, s1], [10, 2])
    assert counts == OperationCounts(spikes=7.0, synaptic_events=5 * 10 + 2 * 2, neuron_updates=6 * 10 + 6 * 2,
                                     dense_macs=24 * 10 + 60 * 2)
    energy = estimate_energy(counts, EnergyCosts(pj_per_spike=1.0, pj_per_synaptic_event=0.5,
                                                 pj_per_neuron_update=2.0, pj_per_mac=0.1))
    assert energy["spikes"] == 7.0
    assert energy["synaptic_events"] == 27.0
    assert energy["neuron_updates"] == 144.0
    assert energy["dense_macs"] == pytest.approx(36.0)
    assert energy["total"] == pytest.approx(7 + 27 + 144 + 36.0)
    assert (counts + counts).spikes == 14.0


def test_spike_counts_weighted():
    counts = count_operations([np.array([[2.0, 0.0], [1.0, 3.0]])], [4])
    assert counts.spikes == 6.0 and counts.synaptic_events == 24.0


@pytest.mark.parametrize(
    "trains, fan_outs, match",
    [
        ([np.zeros((3, 2))], [1, 2], "one per layer"),
        ([np.array([[-1.0, 0.0]])], [1], "non-negative"),
        ([np.zeros(3)], [1], "time-major"),
        ([np.zeros((3, 2))], [1.5], "fan_outs"),
    ],
)
def test_bad_inputs_raise(trains, fan_outs, match):
    with pytest.raises(ValueError, match=match):
        count_operations(trains, fan_outs)


def test_bad_costs_raise():
    with pytest.raises(ValueError, match="pj_per_spike"):
        EnergyCosts(pj_per_spike=-1.0)
