r"""Discrete-time leaky integrate-and-fire (LIF) and adaptive LIF (ALIF) neurons.

LIF (one bin per step; reset by subtraction, as in snnTorch ``Leaky(reset_mechanism="subtract")``)

.. math::

    v_t = \alpha\, v_{t-1} + I_t - \vartheta\, s_{t-1}, \qquad s_t = H(v_t - \vartheta),

or reset to zero, :math:`v_t = \alpha\, v_{t-1} (1 - s_{t-1}) + I_t`. The leak :math:`\alpha \in (0, 1]`
and the threshold :math:`\vartheta > 0` are per-neuron learnable parameters. Unrolling the
subtractive reset gives :math:`v_t = \sum_{l\ge0} \alpha^l (I_{t-l} - \vartheta s_{t-1-l})`, i.e. the
potential of a GLM neuron with exponential stimulus and self-history kernels; with
:math:`P(s_t = 1) = \sigma((v_t - \vartheta)/T)` and temperature :math:`T \to 0` the GLM neuron
becomes this LIF neuron (Gerstner et al., *Neuronal Dynamics* 2014, ch. 9; tested in
``tests/test_limits.py``).

Adaptive LIF (Bellec et al., NeurIPS 2018 and Nat. Commun. 11:3625, 2020; the after-hyperpolarisation
current of Loihi's adaptive neurons, Davies et al. 2018) adds a spike-triggered trace :math:`a_t`:

.. math::

    a_t &= \rho\, a_{t-1} + s_{t-1}, \\
    v_t &= \alpha\, v_{t-1} + I_t - \vartheta\, s_{t-1} - \gamma\, a_t, \\
    s_t &= H(v_t - \vartheta - \beta\, a_t),

with adaptive-threshold strength :math:`\beta \ge 0` and AHP-current strength :math:`\gamma \ge 0`.

In the forward pass :math:`H` is the exact step; its derivative in the backward pass is the surrogate of
:mod:`probsnn.surrogates` (fast sigmoid by default). ``detach_reset=True`` stops the gradient through
the reset term (Zenke & Vogels 2021; Bellec et al. 2020 use it in e-prop).

Both are :class:`~probsnn.neurons.base.Neuron` types; the layers of :mod:`probsnn.neurons.layers` run
them. Speed: for LIF the recursion over time is :func:`lif_scan`, a ``jax.custom_vjp`` whose reverse
pass is the element-wise adjoint recursion with the surrogate derivative
(:mod:`probsnn.neurons.lif_adjoint`; one reverse ``lax.scan``, no per-step autodiff residuals). It gives
the same values and gradients as ``jax.grad`` of the plain scan (``tests/test_lif_fast.py``);
``lif_neuron(..., fused_scan=False)`` selects the plain scan. Reverse mode only.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..surrogates import get_surrogate
from .base import (
    DECAY_BOUNDS,
    NON_NEGATIVE_BOUNDS,
    POSITIVE_BOUNDS,
    Neuron,
    check_per_neuron_params,
    per_neuron_params,
    zeros_initial_state,
)
from .lif_adjoint import fused_lif_recursion

__all__ = ["LIFParams", "LIFState", "check_lif_params", "lif_params", "lif_step", "lif_neuron", "lif_scan",
           "ALIFParams", "ALIFState", "check_alif_params", "alif_params", "alif_step", "alif_neuron"]

_LIF_BOUNDS = (("leak", DECAY_BOUNDS), ("threshold", POSITIVE_BOUNDS))
_ALIF_BOUNDS = _LIF_BOUNDS + (
    ("adaptation_decay", DECAY_BOUNDS),
    ("adaptation_strength", NON_NEGATIVE_BOUNDS),
    ("ahp_strength", NON_NEGATIVE_BOUNDS),
)


# --------------------------------------------------------------------------------------------------- LIF
class LIFParams(NamedTuple):
    """Per-neuron LIF parameters: ``leak`` :math:`\\alpha \\in (0,1]` and ``threshold`` :math:`\\vartheta>0`,
    shape (N,)."""

    leak: Any
    threshold: Any


class LIFState(NamedTuple):
    """LIF state: ``membrane`` :math:`v_t` and ``spikes`` :math:`s_t`, shape (..., N)."""

    membrane: Any
    spikes: Any


def check_lif_params(params: LIFParams) -> LIFParams:
    """Validate :class:`LIFParams` (``0 < leak <= 1``, ``threshold > 0``, one entry per neuron); returns them."""
    return check_per_neuron_params(params, LIFParams, _LIF_BOUNDS)


def lif_params(n_neurons: int, leak=0.9, threshold=1.0, dtype=None) -> LIFParams:
    """Per-neuron :class:`LIFParams` from scalars or arrays (validated)."""
    return check_lif_params(per_neuron_params(LIFParams, n_neurons, (leak, threshold), dtype))


_RESETS = ("subtract", "zero", "none")


def lif_step(params: LIFParams, state: LIFState, current, *, spike_fn=None, reset="subtract", detach_reset=False):
    r"""One LIF bin: :math:`v_t = \alpha v_{t-1} + I_t - \vartheta s_{t-1}` (``reset="subtract"``),
    :math:`v_t = \alpha v_{t-1}(1 - s_{t-1}) + I_t` (``"zero"``) or no reset (``"none"``);
    :math:`s_t = H(v_t - \vartheta)`.

    Returns ``(LIFState(v_t, s_t), s_t)``. Pure and elementwise; broadcasts over leading axes.
    """
    spike_fn = get_surrogate(spike_fn)
    previous = jax.lax.stop_gradient(state.spikes) if detach_reset else state.spikes
    if reset == "subtract":
        membrane = params.leak * state.membrane + current - params.threshold * previous
    elif reset == "zero":
        membrane = params.leak * state.membrane * (1.0 - previous) + current
    elif reset == "none":
        membrane = params.leak * state.membrane + current
    else:
        raise ValueError(f"reset must be one of {_RESETS}, got {reset!r}.")
    spikes = spike_fn(membrane - params.threshold)
    return LIFState(membrane, spikes), spikes


def lif_neuron(reset: str = "subtract", spike_fn=None, detach_reset: bool = False, fused_scan: bool = True) -> Neuron:
    """The LIF :class:`~probsnn.neurons.base.Neuron` with the given reset mode and surrogate (see :func:`lif_step`).

    With ``fused_scan=True`` (default) and a surrogate from :mod:`probsnn.surrogates` (anything with a
    ``pseudo_derivative``), feed-forward layers run the recursion with :func:`lif_scan`, whose reverse
    pass is hand-written (same values and gradients as ``jax.grad`` of the plain ``lax.scan``, faster,
    but reverse mode only). ``fused_scan=False`` keeps the plain ``lax.scan`` of :func:`lif_step` (the
    reference for tests; OSTL and e-prop use ``step`` directly).
    """
    if reset not in _RESETS:
        raise ValueError(f"reset must be one of {_RESETS}, got {reset!r}.")
    spike_fn = get_surrogate(spike_fn)

    def step(params, state, current):
        return lif_step(params, state, current, spike_fn=spike_fn, reset=reset, detach_reset=detach_reset)

    scan = None
    pseudo_derivative = getattr(spike_fn, "pseudo_derivative", None)
    if fused_scan and callable(pseudo_derivative):

        def scan(params, currents, initial_state, unroll=1):
            return lif_scan(
                params, currents, initial_state, pseudo_derivative=pseudo_derivative, reset=reset,
                detach_reset=detach_reset, unroll=unroll,
            )

    return Neuron(f"LIF(reset={reset})", step, zeros_initial_state(LIFState), check_lif_params, True, scan)


# --------------------------------------------------------------------------------------------------- fused LIF scan
def lif_scan(params: LIFParams, currents, initial_state: LIFState, *, pseudo_derivative=None, reset="subtract",
             detach_reset=False, unroll: int = 1) -> LIFState:
    r"""LIF recursion over all bins, ``lax.scan`` forward and a hand-written reverse pass (``jax.custom_vjp``).

    Forward: :func:`lif_step` for :math:`t = 0..T-1` on ``currents`` ``[T, ..., N]``, returning the
    stacked ``LIFState(membrane, spikes)``. Only the membrane is stacked inside the loop (the spikes are
    :math:`H(v_t - \vartheta)` for all bins at once); the reverse pass keeps just the membrane, the
    spikes, the parameters and the initial state.

    Reverse: with :math:`\psi_t = \psi(v_t - \vartheta)` the surrogate derivative of :math:`s_t` and
    :math:`a_t = \partial v_{t+1}/\partial v_t`, :math:`b_t = \partial v_{t+1}/\partial s_t` the local
    derivatives of the next bin (subtract: :math:`a = \alpha`, :math:`b = -\vartheta`; zero:
    :math:`a_t = \alpha (1 - s_t)`, :math:`b_t = -\alpha v_t`; none: :math:`a = \alpha`, :math:`b = 0`;
    :math:`b = 0` with ``detach_reset``), the adjoints :math:`\bar v_t = dL/dv_t` and
    :math:`\bar s_t = dL/ds_t` obey the element-wise linear recursion (backwards in time,
    :math:`\bar v_T = 0`)

    .. math::

        \bar s_t = g^s_t + b_t \bar v_{t+1}, \qquad
        \bar v_t = g^v_t + \psi_t \bar s_t + a_t \bar v_{t+1},

    where :math:`g^v, g^s` are the cotangents of the outputs. Then :math:`\bar I_t = \bar v_t`,
    :math:`\bar\alpha = \sum \bar v_t\, \partial v_t/\partial\alpha` (:math:`v_{t-1}`, or
    :math:`v_{t-1}(1-s_{t-1})` for the reset to zero) and
    :math:`\bar\vartheta = -\sum \psi_t \bar s_t - \sum \bar v_t s_{t-1}` (the last term for the
    subtractive reset), summed over time and batch. One reverse ``lax.scan`` runs this recursion bin by
    bin (so each bin's coefficients are computed in cache) and accumulates the parameter sums in its
    carry; zero output cotangents (``symbolic_zeros``) and parameter gradients nobody asked for are
    skipped. This is the exact chain rule of the unrolled :func:`lif_step` (``tests/test_lif_fast.py``
    checks it against ``jax.grad``), with the stored trajectory instead of autodiff's per-step residuals.
    The surrogate-gradient BPTT it implements is that of Neftci, Mostafa & Zenke (IEEE Signal Process.
    Mag. 36:51, 2019).

    Parameters
    ----------
    params : LIFParams
        Per-neuron ``leak`` and ``threshold``, shape (N,).
    currents : array ``[T, ..., N]``
    initial_state : LIFState
        Shape ``[..., N]``.
    pseudo_derivative : callable, optional
        :math:`\psi(x)` of the surrogate (``spike_fn.pseudo_derivative``; default fast sigmoid, slope 25).
    reset : {"subtract", "zero", "none"}
    detach_reset : bool
    unroll : int
        ``lax.scan`` unroll factor of the forward and reverse recursions.

    Returns
    -------
    LIFState of stacked ``membrane`` and ``spikes``, ``[T, ..., N]``.
    """
    if reset not in _RESETS:
        raise ValueError(f"reset must be one of {_RESETS}, got {reset!r}.")
    if pseudo_derivative is None:
        pseudo_derivative = get_surrogate(None).pseudo_derivative
    # one dtype and explicit shapes inside the custom_vjp; JAX differentiates these casts and broadcasts
    dtype = jnp.result_type(params.leak, params.threshold, currents, initial_state.membrane, initial_state.spikes)
    currents = jnp.asarray(currents, dtype)
    state_shape = jnp.broadcast_shapes(currents.shape[1:], *(np.shape(x) for x in initial_state))
    currents = jnp.broadcast_to(currents, currents.shape[:1] + state_shape)
    n = state_shape[-1:]
    params = tuple(jnp.broadcast_to(jnp.asarray(p, dtype), n) for p in (params.leak, params.threshold))
    initial_state = tuple(jnp.broadcast_to(jnp.asarray(x, dtype), state_shape) for x in initial_state)
    membrane, spikes = fused_lif_recursion(
        pseudo_derivative, reset, bool(detach_reset), int(unroll), params, currents, initial_state
    )
    return LIFState(membrane, spikes)


# --------------------------------------------------------------------------------------------------- ALIF
class ALIFParams(NamedTuple):
    r"""Per-neuron adaptive-LIF parameters, shape (N,) each.

    ``leak`` :math:`\alpha\in(0,1]`, ``threshold`` :math:`\vartheta>0`, ``adaptation_decay``
    :math:`\rho\in(0,1]`, ``adaptation_strength`` :math:`\beta\ge0` (threshold adaptation),
    ``ahp_strength`` :math:`\gamma\ge0` (after-hyperpolarisation current).
    """

    leak: Any
    threshold: Any
    adaptation_decay: Any
    adaptation_strength: Any
    ahp_strength: Any


class ALIFState(NamedTuple):
    """ALIF state: ``membrane`` :math:`v_t`, ``adaptation`` :math:`a_t`, ``spikes`` :math:`s_t`."""

    membrane: Any
    adaptation: Any
    spikes: Any


def check_alif_params(params: ALIFParams) -> ALIFParams:
    """Validate :class:`ALIFParams` (decays in (0, 1], ``threshold > 0``, strengths >= 0); returns them."""
    return check_per_neuron_params(params, ALIFParams, _ALIF_BOUNDS)


def alif_params(
    n_neurons: int, leak=0.9, threshold=1.0, adaptation_decay=0.95, adaptation_strength=0.2, ahp_strength=0.0,
    dtype=None
) -> ALIFParams:
    """Per-neuron :class:`ALIFParams` from scalars or arrays (validated)."""
    values = (leak, threshold, adaptation_decay, adaptation_strength, ahp_strength)
    return check_alif_params(per_neuron_params(ALIFParams, n_neurons, values, dtype))


def alif_step(params: ALIFParams, state: ALIFState, current, *, spike_fn=None, detach_reset=False):
    r"""One adaptive-LIF bin (see the module docstring):
    :math:`a_t = \rho a_{t-1} + s_{t-1}`, :math:`v_t = \alpha v_{t-1} + I_t - \vartheta s_{t-1} - \gamma a_t`,
    :math:`s_t = H(v_t - \vartheta - \beta a_t)`. Returns ``(ALIFState, s_t)``.
    """
    spike_fn = get_surrogate(spike_fn)
    previous = state.spikes
    reset_spikes = jax.lax.stop_gradient(previous) if detach_reset else previous
    adaptation = params.adaptation_decay * state.adaptation + previous
    membrane = (
        params.leak * state.membrane + current - params.threshold * reset_spikes - params.ahp_strength * adaptation
    )
    spikes = spike_fn(membrane - params.threshold - params.adaptation_strength * adaptation)
    return ALIFState(membrane, adaptation, spikes), spikes


def alif_neuron(spike_fn=None, detach_reset: bool = False) -> Neuron:
    """The adaptive-LIF :class:`~probsnn.neurons.base.Neuron` (see :func:`alif_step`)."""
    spike_fn = get_surrogate(spike_fn)

    def step(params, state, current):
        return alif_step(params, state, current, spike_fn=spike_fn, detach_reset=detach_reset)

    return Neuron("ALIF", step, zeros_initial_state(ALIFState), check_alif_params, True)
