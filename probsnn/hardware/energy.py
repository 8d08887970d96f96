r"""Operation and energy accounts for spiking runs: spikes, synaptic events, estimated energy.

For a layer :math:`l` with fan-out :math:`F_l` (the number of synapses each of its spikes drives) and
spike trains :math:`s^{(l)}_{t,b,i}`:

.. math::

    N_\text{spikes} = \sum_l \sum_{t,b,i} s^{(l)}_{t,b,i}, \qquad
    N_\text{syn} = \sum_l F_l \sum_{t,b,i} s^{(l)}_{t,b,i},

(event-driven synaptic operations: each spike touches the :math:`F_l` synapses it drives; entries
are spike counts, 0/1 for binary spikes), neuron updates :math:`N_\text{upd} = \sum_l T B n_l` for the neurons
that receive the layer's output, and dense multiply-accumulates :math:`N_\text{MAC} = \sum_l T B n_l F_l`
(what a clock-driven, non-event-driven implementation performs). The estimated energy is

.. math::

    E = e_\text{spike} N_\text{spikes} + e_\text{syn} N_\text{syn} + e_\text{upd} N_\text{upd}
        + e_\text{MAC} N_\text{MAC}

with energies per operation in pJ set by the user (:class:`EnergyCosts`). Published figures to choose
from include, e.g., Loihi's per-operation energies (Davies et al., IEEE Micro 38:82, 2018) and the
45 nm arithmetic energies of Horowitz (ISSCC 2014); probsnn ships no default because they depend on
the hardware and technology node.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import numpy as np

from .._checks import check_float, non_negative_int

__all__ = ["OperationCounts", "EnergyCosts", "count_operations", "estimate_energy"]


class OperationCounts(NamedTuple):
    """Counts of a run: ``spikes``, ``synaptic_events``, ``neuron_updates``, ``dense_macs`` (floats)."""

    spikes: float
    synaptic_events: float
    neuron_updates: float
    dense_macs: float

    def __add__(self, other):  # accumulate over runs
        if not isinstance(other, OperationCounts):
            return NotImplemented
        return OperationCounts(*(a + b for a, b in zip(self, other)))


@dataclasses.dataclass(frozen=True)
class EnergyCosts:
    """Energy per operation in picojoules (all >= 0; set them for your hardware)."""

    pj_per_spike: float = 0.0
    pj_per_synaptic_event: float = 0.0
    pj_per_neuron_update: float = 0.0
    pj_per_mac: float = 0.0

    def __post_init__(self):
        for field in dataclasses.fields(self):
            check_float(f"EnergyCosts.{field.name} (pJ)", getattr(self, field.name), low=0.0)


def count_operations(spike_trains: Sequence, fan_outs: Sequence[int]) -> OperationCounts:
    """Count operations of a run from the spike trains of each layer that sends spikes.

    Parameters
    ----------
    spike_trains : sequence of arrays ``[T, ..., n_l]``
        Spikes (0/1, or spike counts) emitted by each sending layer (include the input layer if its
        spikes drive synapses). A non-zero entry is one spike event (counts > 1 count as that many).
    fan_outs : sequence of int
        Synapses driven by one spike of each layer (e.g. the next layer's width for a dense layer).
    """
    if len(spike_trains) != len(fan_outs):
        raise ValueError(f"got {len(spike_trains)} spike trains but {len(fan_outs)} fan-outs; give one per layer.")
    spikes = events = updates = macs = 0.0
    for i, (train, fan_out) in enumerate(zip(spike_trains, fan_outs)):
        arr = np.asarray(train)
        if arr.ndim < 2:
            raise ValueError(f"spike train {i} must be time-major [T, ..., n], got shape {arr.shape}.")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"spike train {i} must hold finite non-negative spike counts.")
        non_negative_int(f"fan_outs[{i}]", fan_out)
        n_spikes = float(arr.sum())
        spikes += n_spikes
        events += n_spikes * fan_out
        slots = float(arr.size)  # T * batch * n_l sending neurons
        updates += slots / arr.shape[-1] * fan_out  # the receiving neurons, once per bin and sample
        macs += slots * fan_out
    return OperationCounts(spikes, events, updates, macs)


def estimate_energy(counts: OperationCounts, costs: EnergyCosts) -> dict:
    """Energy in pJ per operation type and in total: ``{"spikes", "synaptic_events", ..., "total"}``."""
    if not isinstance(counts, OperationCounts):
        raise ValueError("counts must be OperationCounts from count_operations.")
    if not isinstance(costs, EnergyCosts):
        raise ValueError("costs must be EnergyCosts(pj_per_spike=..., pj_per_synaptic_event=..., ...).")
    out = {
        "spikes": counts.spikes * costs.pj_per_spike,
        "synaptic_events": counts.synaptic_events * costs.pj_per_synaptic_event,
        "neuron_updates": counts.neuron_updates * costs.pj_per_neuron_update,
        "dense_macs": counts.dense_macs * costs.pj_per_mac,
    }
    out["total"] = sum(out.values())
    return out
