r"""The Spiking Neural Unit (SNU) family of Wozniak et al., Nature Machine Intelligence 2:325 (2020).

An SNU layer with input current :math:`I_t` (``W x_t``, plus ``H y_{t-1}`` when recurrent) computes

.. math::

    s_t = g\big(I_t + l(\tau) \odot s_{t-1} \odot (1 - y_{t-1})\big), \qquad y_t = h(s_t + b),

with :math:`g = \mathrm{ReLU}`, the leak :math:`l(\tau) = 1 - \Delta t/\tau \in (0, 1]`, a per-neuron bias
:math:`b` (the threshold is :math:`-b`) and the output nonlinearity

* SNU: :math:`h = H` (a step, with a surrogate gradient) -- a LIF neuron with reset to zero;
* soft SNU (sSNU): :math:`h = \sigma` -- the firing *probability* of a stochastic unit that spikes with
  :math:`P(y_t = 1) = \sigma(s_t + b)`, i.e. its one-step mean field;
* LI-SNU (lateral inhibition): the reset gate is the per-sample maximum over the layer,
  :math:`s_t = g(I_t + l \odot s_{t-1} (1 - \max_j y_{t-1,j}))`: a spike anywhere in the layer resets all
  neurons, which sparsifies activity;
* a-SNU (adaptive): :math:`a_t = \rho a_{t-1} + y_{t-1}`, :math:`y_t = h(s_t + b - \beta a_t)`.

The state is ``SNUState(membrane=s_t, spikes=y_t)`` (``ASNUState`` adds ``adaptation``); see
:class:`probsnn.neurons.base.Neuron` for how neuron types plug into layers and learners.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..surrogates import get_surrogate
from .base import (
    DECAY_BOUNDS,
    NON_NEGATIVE_BOUNDS,
    Neuron,
    check_per_neuron_params,
    per_neuron_params,
    zeros_initial_state,
)

__all__ = [
    "SNUParams",
    "SNUState",
    "ASNUParams",
    "ASNUState",
    "snu_step",
    "asnu_step",
    "snu_neuron",
    "asnu_neuron",
    "snu_params",
    "asnu_params",
]


class SNUParams(NamedTuple):
    r"""Per-neuron SNU parameters, shape (N,): ``leak`` :math:`l(\tau)\in(0,1]` and ``bias`` :math:`b`."""

    leak: Any
    bias: Any


class SNUState(NamedTuple):
    """SNU state: ``membrane`` :math:`s_t` and output ``spikes`` :math:`y_t` (soft values for sSNU)."""

    membrane: Any
    spikes: Any


class ASNUParams(NamedTuple):
    r"""a-SNU parameters: ``leak``, ``bias``, ``adaptation_decay`` :math:`\rho\in(0,1]`,
    ``adaptation_strength`` :math:`\beta\ge0`."""

    leak: Any
    bias: Any
    adaptation_decay: Any
    adaptation_strength: Any


class ASNUState(NamedTuple):
    membrane: Any
    adaptation: Any
    spikes: Any


def _check_snu(params, soft):
    if not isinstance(params, (SNUParams, ASNUParams)):
        raise ValueError(f"expected SNUParams or ASNUParams, got {type(params).__name__}.")
    # the threshold is -b; unless soft, a non-negative bias would make a unit with s_t = 0 spike (or sit on the step).
    bias = {} if soft else dict(high=0.0, high_closed=False)
    bounds = (("leak", DECAY_BOUNDS), ("bias", bias))
    if isinstance(params, ASNUParams):
        bounds += (("adaptation_decay", DECAY_BOUNDS), ("adaptation_strength", NON_NEGATIVE_BOUNDS))
    return check_per_neuron_params(params, type(params), bounds)


def _output_fn(soft, spike_fn):
    return jax.nn.sigmoid if soft else get_surrogate(spike_fn)


def snu_step(params: SNUParams, state: SNUState, current, *, soft=False, lateral_inhibition=False, spike_fn=None):
    r"""One SNU bin: :math:`s_t = \mathrm{ReLU}(I_t + l\, s_{t-1}(1 - r_{t-1}))`, :math:`y_t = h(s_t + b)`.

    :math:`r_{t-1} = y_{t-1}` (SNU/sSNU) or :math:`\max_j y_{t-1,j}` over the last axis
    (``lateral_inhibition=True``, LI-SNU). :math:`h` is the step with a surrogate gradient, or the sigmoid
    when ``soft=True``. Returns ``(SNUState(s_t, y_t), y_t)``.
    """
    h = _output_fn(soft, spike_fn)
    gate = jnp.max(state.spikes, axis=-1, keepdims=True) if lateral_inhibition else state.spikes
    membrane = jax.nn.relu(current + params.leak * state.membrane * (1.0 - gate))
    spikes = h(membrane + params.bias)
    return SNUState(membrane, spikes), spikes


def asnu_step(params: ASNUParams, state: ASNUState, current, *, soft=False, spike_fn=None):
    r"""One adaptive-SNU bin: :math:`a_t = \rho a_{t-1} + y_{t-1}`,
    :math:`s_t = \mathrm{ReLU}(I_t + l\, s_{t-1}(1 - y_{t-1}))`, :math:`y_t = h(s_t + b - \beta a_t)`.
    """
    h = _output_fn(soft, spike_fn)
    adaptation = params.adaptation_decay * state.adaptation + state.spikes
    membrane = jax.nn.relu(current + params.leak * state.membrane * (1.0 - state.spikes))
    spikes = h(membrane + params.bias - params.adaptation_strength * adaptation)
    return ASNUState(membrane, adaptation, spikes), spikes


def snu_neuron(soft: bool = False, lateral_inhibition: bool = False, spike_fn=None) -> Neuron:
    """The SNU :class:`~probsnn.neurons.base.Neuron`: SNU, sSNU (``soft``) or LI-SNU (``lateral_inhibition``)."""
    spike_fn = None if soft else get_surrogate(spike_fn)

    def step(params, state, current):
        return snu_step(params, state, current, soft=soft, lateral_inhibition=lateral_inhibition, spike_fn=spike_fn)

    name = ("LI-" if lateral_inhibition else "") + ("sSNU" if soft else "SNU")
    return Neuron(name, step, zeros_initial_state(SNUState), lambda p: _check_snu(p, soft), not lateral_inhibition)


def asnu_neuron(soft: bool = False, spike_fn=None) -> Neuron:
    """The adaptive a-SNU :class:`~probsnn.neurons.base.Neuron`."""
    spike_fn = None if soft else get_surrogate(spike_fn)

    def step(params, state, current):
        return asnu_step(params, state, current, soft=soft, spike_fn=spike_fn)

    name = "a-sSNU" if soft else "a-SNU"
    return Neuron(name, step, zeros_initial_state(ASNUState), lambda p: _check_snu(p, soft), True)


def snu_params(n_neurons: int, leak=0.8, bias=-1.0, soft=False, dtype=None) -> SNUParams:
    """Per-neuron :class:`SNUParams` from scalars or arrays (validated; ``bias < 0`` unless ``soft``)."""
    return _check_snu(per_neuron_params(SNUParams, n_neurons, (leak, bias), dtype), soft)


def asnu_params(n_neurons: int, leak=0.8, bias=-1.0, adaptation_decay=0.9, adaptation_strength=0.5, soft=False,
                dtype=None):
    """Per-neuron :class:`ASNUParams` from scalars or arrays (validated)."""
    values = (leak, bias, adaptation_decay, adaptation_strength)
    return _check_snu(per_neuron_params(ASNUParams, n_neurons, values, dtype), soft)
