r"""Discrete-time leaky integrate-and-fire (LIF) and adaptive LIF (ALIF) neurons, and spiking layers.

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

A neuron type is a :class:`Neuron`: a NamedTuple of pure functions ``step(params, state, current) ->
(state, spikes)``, ``initial_state(params, batch_shape)`` and ``check_params(params)``. Layers
(:func:`feedforward_layer`, :func:`recurrent_layer`) unroll any neuron with ``lax.scan``, time-major.

Speed: a feed-forward layer computes the input currents of all bins as one matrix product
(:func:`input_currents`), so only the element-wise recursion is sequential; for LIF that recursion is
:func:`lif_scan`, a ``jax.custom_vjp`` whose reverse pass is the element-wise adjoint recursion with the
surrogate derivative (one reverse ``lax.scan``, no per-step autodiff residuals). It gives the same values
and gradients as ``jax.grad`` of the plain scan (``tests/test_lif_fast.py``); ``lif_neuron(...,
fused_scan=False)`` selects the plain scan. Both are reverse-mode only, like :func:`input_currents`.
"""
from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..surrogates import get_surrogate, heaviside

__all__ = [
    "Neuron",
    "LIFParams",
    "LIFState",
    "ALIFParams",
    "ALIFState",
    "lif_neuron",
    "alif_neuron",
    "lif_step",
    "alif_step",
    "FeedForwardParams",
    "RecurrentParams",
    "feedforward_layer",
    "recurrent_layer",
    "init_feedforward",
    "init_recurrent",
    "check_inputs",
    "input_currents",
    "lif_scan",
]


class Neuron(NamedTuple):
    """A neuron type as pure functions (a pytree-free description; pass it as a static argument).

    Attributes
    ----------
    name : str
    step : callable
        ``step(params, state, current) -> (new_state, spikes)``; every state has a ``spikes`` field.
    initial_state : callable
        ``initial_state(params, batch_shape) -> state`` (zeros).
    check_params : callable
        ``check_params(params) -> params``; raises ``ValueError`` on bad values or shapes.
    elementwise : bool
        True when neuron ``n``'s update reads only neuron ``n``'s state and current (then OSTL is exact
        for a single layer); False for e.g. LI-SNU, whose reset reads the whole layer.
    scan : callable or None
        Optional fused recursion over time, ``scan(params, currents, initial_state, unroll) -> states``
        (``currents`` ``[T, ..., N]``, states stacked over time), numerically the ``lax.scan`` of ``step``
        but with a hand-written reverse pass (:func:`lif_scan`). Layers use it for feed-forward inputs;
        None means ``lax.scan`` of ``step``.
    """

    name: str
    step: Callable
    initial_state: Callable
    check_params: Callable
    elementwise: bool = True
    scan: Callable | None = None


# ----------------------------------------------------------------------------------------------- helpers
def _concrete(x):
    """``np.ndarray`` of ``x`` when it is a concrete value, None under tracing."""
    try:
        return np.asarray(x)
    except (TypeError, jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _check_vector(name, value, n=None, low=None, high=None, low_open=True, high_closed=True):
    arr = _concrete(value)
    shape = np.shape(value)
    if len(shape) != 1:
        raise ValueError(f"{name} must be a 1-D per-neuron array of shape (N,), got shape {shape}.")
    if n is not None and shape[0] != n:
        raise ValueError(f"{name} has {shape[0]} entries but the layer has {n} neurons; give one per neuron.")
    if arr is None:
        return
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite.")
    if low is not None:
        bad = arr <= low if low_open else arr < low
        if np.any(bad):
            rel = ">" if low_open else ">="
            raise ValueError(f"{name} must be {rel} {low}; got min {arr.min()!r}.")
    if high is not None:
        bad = arr > high if high_closed else arr >= high
        if np.any(bad):
            rel = "<=" if high_closed else "<"
            raise ValueError(f"{name} must be {rel} {high}; got max {arr.max()!r}.")


def _full(value, n, dtype):
    return jnp.full((n,), value, dtype) if np.ndim(value) == 0 else jnp.asarray(value, dtype)


# Bounds of per-neuron parameters, as keyword arguments of ``_check_vector``.
_DECAY = dict(low=0.0, high=1.0)  # (0, 1]
_POSITIVE = dict(low=0.0)  # (0, inf)
_NON_NEGATIVE = dict(low=0.0, low_open=False)  # [0, inf)
_LIF_BOUNDS = (("leak", _DECAY), ("threshold", _POSITIVE))
_ALIF_BOUNDS = _LIF_BOUNDS + (
    ("adaptation_decay", _DECAY),
    ("adaptation_strength", _NON_NEGATIVE),
    ("ahp_strength", _NON_NEGATIVE),
)


def _check_per_neuron(params, cls, bounds):
    """Check that ``params`` is a ``cls`` whose fields are 1-D, equally long and within ``bounds``.

    ``bounds`` is a sequence of ``(field, kwargs)`` with the ``_check_vector`` bounds of each field; the
    first field fixes the number of neurons.
    """
    if not isinstance(params, cls):
        raise ValueError(f"expected {cls.__name__}({', '.join(cls._fields)}), got {type(params).__name__}.")
    first = getattr(params, bounds[0][0])
    n = np.shape(first)[0] if np.ndim(first) == 1 else None
    for name, limits in bounds:
        _check_vector(name, getattr(params, name), n=n, **limits)
    return params


def _per_neuron_params(cls, n_neurons, values, dtype):
    """``cls`` with every field a length-``n_neurons`` vector (scalars broadcast), validated by the caller."""
    if int(n_neurons) != n_neurons or n_neurons < 1:
        raise ValueError(f"n_neurons must be a positive integer, got {n_neurons!r}.")
    n = int(n_neurons)
    dtype = dtype or jnp.result_type(float)
    for name, value in zip(cls._fields, values):
        if np.ndim(value) not in (0, 1) or (np.ndim(value) == 1 and np.shape(value)[0] != n):
            raise ValueError(f"{name} must be a scalar or have shape ({n},), got shape {np.shape(value)}.")
    return cls(*(_full(v, n, dtype) for v in values))


# ----------------------------------------------------------------------------------------------- LIF
class LIFParams(NamedTuple):
    """Per-neuron LIF parameters: ``leak`` :math:`\\alpha \\in (0,1]` and ``threshold`` :math:`\\vartheta>0`, shape (N,)."""

    leak: Any
    threshold: Any


class LIFState(NamedTuple):
    """LIF state: ``membrane`` :math:`v_t` and ``spikes`` :math:`s_t`, shape (..., N)."""

    membrane: Any
    spikes: Any


def check_lif_params(params: LIFParams) -> LIFParams:
    """Validate :class:`LIFParams` (``0 < leak <= 1``, ``threshold > 0``, one entry per neuron); returns them."""
    return _check_per_neuron(params, LIFParams, _LIF_BOUNDS)


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


def _zeros_state(cls, n_fields):
    def initial_state(params, batch_shape=()):
        leaf = params[0]
        shape = tuple(batch_shape) + tuple(np.shape(leaf))
        dtype = jnp.result_type(leaf)
        return cls(*(jnp.zeros(shape, dtype) for _ in range(n_fields)))

    return initial_state


def lif_neuron(reset: str = "subtract", spike_fn=None, detach_reset: bool = False, fused_scan: bool = True) -> Neuron:
    """The LIF :class:`Neuron` with the given reset mode and surrogate (see :func:`lif_step`).

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

    return Neuron(f"LIF(reset={reset})", step, _zeros_state(LIFState, 2), check_lif_params, True, scan)


# ----------------------------------------------------------------------------------------------- fused LIF scan
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
    params = LIFParams(*(jnp.broadcast_to(jnp.asarray(p, dtype), n) for p in (params.leak, params.threshold)))
    initial_state = LIFState(*(jnp.broadcast_to(jnp.asarray(x, dtype), state_shape) for x in initial_state))
    return _lif_scan_vjp(pseudo_derivative, reset, bool(detach_reset), int(unroll), params, currents, initial_state)


def _lif_forward(reset, unroll, params, currents, initial_state):
    leak, threshold = params

    def body(carry, current):
        membrane, spikes = carry
        if reset == "subtract":
            membrane = leak * membrane + current - threshold * spikes
        elif reset == "zero":
            membrane = leak * membrane * (1.0 - spikes) + current
        else:
            membrane = leak * membrane + current
        spikes = heaviside(membrane - threshold)
        return (membrane, spikes), membrane

    _, membrane = jax.lax.scan(body, tuple(initial_state), currents, unroll=unroll)
    # only the membrane is stacked inside the loop; the spikes, the same comparison, are recomputed for
    # all bins at once, which XLA can fuse into their consumers (e.g. the next layer's product)
    return LIFState(membrane, heaviside(membrane - threshold))


@partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3))
def _lif_scan_vjp(pseudo_derivative, reset, detach_reset, unroll, params, currents, initial_state):
    return _lif_forward(reset, unroll, params, currents, initial_state)


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class _Perturbed:
    """Which inputs of :func:`_lif_scan_vjp` need a cotangent (static, decided when differentiating)."""

    params: bool
    initial_state: bool


def _lif_scan_fwd(pseudo_derivative, reset, detach_reset, unroll, params, currents, initial_state):
    # symbolic_zeros=True: every input leaf arrives as CustomVJPPrimal(value, perturbed)
    def value(tree):
        return jax.tree_util.tree_map(lambda leaf: leaf.value, tree, is_leaf=_is_primal)

    def perturbed(tree):
        return any(leaf.perturbed for leaf in jax.tree_util.tree_leaves(tree, is_leaf=_is_primal))

    params_value, initial_value = value(params), value(initial_state)
    states = _lif_forward(reset, unroll, params_value, value(currents), initial_value)
    needs = _Perturbed(perturbed(params), perturbed(initial_state))
    return states, (params_value, initial_value, states, needs)


def _is_primal(leaf):
    return isinstance(leaf, jax.custom_derivatives.CustomVJPPrimal)


def _is_zero(cotangent):
    return isinstance(cotangent, jax.custom_derivatives.SymbolicZero)


def _lif_scan_bwd(pseudo_derivative, reset, detach_reset, unroll, residuals, cotangents):
    (leak, threshold), (v0, s0), (v, s), needs = residuals
    # a symbolic-zero cotangent (output unused, e.g. a hidden layer's membrane) is dropped, not materialised
    g_membrane, g_spikes = (None if _is_zero(g) else g for g in cotangents)
    batch_axes = tuple(range(v0.ndim - 1))

    def next_bin_derivatives(v_t, s_t):
        """(a_t, b_t) = (d v_{t+1} / d v_t, d v_{t+1} / d s_t); b_t is None where it is 0."""
        if reset == "zero":
            return leak * (1.0 - s_t), (None if detach_reset else -leak * v_t)
        return leak, (None if (detach_reset or reset == "none") else -threshold)

    def leak_factor(v_t, s_t):  # d v_{t+1} / d leak
        return v_t * (1.0 - s_t) if reset == "zero" else v_t

    def adjoint(carry, per_bin):
        # bin t, backwards in time; carry: v_bar_{t+1} and the parameter-gradient sums over the bins after t
        v_bar_next, d_leak, d_threshold = carry
        v_t, s_t, gv_t, gs_t = per_bin  # gv_t / gs_t are None for a zero cotangent
        psi = jnp.asarray(pseudo_derivative(v_t - threshold), v_t.dtype)
        a, b = next_bin_derivatives(v_t, s_t)
        s_bar = _add(gs_t, None if b is None else b * v_bar_next)  # None: s_t does not reach the loss
        v_bar = _add(_add(a * v_bar_next, None if s_bar is None else psi * s_bar), gv_t)
        if needs.params:
            d_leak = d_leak + jnp.sum(v_bar_next * leak_factor(v_t, s_t), axis=batch_axes)
            if s_bar is not None:
                d_threshold = d_threshold - jnp.sum(psi * s_bar, axis=batch_axes)
            if reset == "subtract":
                d_threshold = d_threshold - jnp.sum(v_bar_next * s_t, axis=batch_axes)
        return (v_bar, d_leak, d_threshold), v_bar

    zero_params = jnp.zeros_like(leak)
    (v_bar0, d_leak, d_threshold), v_bar = jax.lax.scan(
        adjoint, (jnp.zeros_like(v0), zero_params, zero_params), (v, s, g_membrane, g_spikes),
        reverse=True, unroll=unroll,
    )
    # the first bin reads the initial state (v_{-1}, s_{-1})
    a0, b0 = next_bin_derivatives(v0, s0)
    d_initial = None
    if needs.initial_state:
        d_initial = LIFState(
            jnp.broadcast_to(a0 * v_bar0, v0.shape),
            jnp.zeros_like(s0) if b0 is None else jnp.broadcast_to(b0 * v_bar0, s0.shape),
        )
    d_params = None
    if needs.params:
        d_leak = d_leak + jnp.sum(v_bar0 * leak_factor(v0, s0), axis=batch_axes)
        if reset == "subtract":
            d_threshold = d_threshold - jnp.sum(v_bar0 * s0, axis=batch_axes)
        d_params = LIFParams(d_leak, d_threshold)
    return d_params, v_bar, d_initial


def _add(x, y):
    """``x + y`` where None stands for zero."""
    if x is None:
        return y
    return x if y is None else x + y


_lif_scan_vjp.defvjp(_lif_scan_fwd, _lif_scan_bwd, symbolic_zeros=True)


# ----------------------------------------------------------------------------------------------- ALIF
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
    return _check_per_neuron(params, ALIFParams, _ALIF_BOUNDS)


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
    """The adaptive-LIF :class:`Neuron` (see :func:`alif_step`)."""
    spike_fn = get_surrogate(spike_fn)

    def step(params, state, current):
        return alif_step(params, state, current, spike_fn=spike_fn, detach_reset=detach_reset)

    return Neuron("ALIF", step, _zeros_state(ALIFState, 3), check_alif_params, True)


# ----------------------------------------------------------------------------------------------- layers
class FeedForwardParams(NamedTuple):
    """A dense spiking layer: ``weights`` (n_in, N), input current :math:`I_t = x_t W`; ``neuron`` params."""

    weights: Any
    neuron: Any


class RecurrentParams(NamedTuple):
    """A recurrent spiking layer: :math:`I_t = x_t W + s_{t-1} V` with ``recurrent_weights`` V (N, N)."""

    weights: Any
    recurrent_weights: Any
    neuron: Any


def check_inputs(inputs, n_inputs: int):
    """Validate time-major inputs ``[T, ..., n_inputs]`` (plain NumPy checks, before any jitted code)."""
    shape = np.shape(inputs)
    if len(shape) < 2:
        raise ValueError(f"inputs must be time-major [T, ..., {n_inputs}], got shape {shape}.")
    if shape[-1] != n_inputs:
        raise ValueError(
            f"inputs have {shape[-1]} features on the last axis but the layer weights expect {n_inputs}."
        )
    if shape[0] < 1:
        raise ValueError("inputs must have at least one time step.")
    arr = _concrete(inputs)
    if arr is not None and not np.all(np.isfinite(arr)):
        raise ValueError("inputs must be finite.")


def _check_layer(neuron: Neuron, params, recurrent: bool):
    if not isinstance(neuron, Neuron):
        raise ValueError(f"neuron must be a probsnn Neuron (e.g. lif_neuron()), got {type(neuron).__name__}.")
    w_shape = np.shape(params.weights)
    if len(w_shape) != 2:
        raise ValueError(f"weights must have shape (n_inputs, n_neurons), got {w_shape}.")
    neuron.check_params(params.neuron)
    n = w_shape[1]
    for i, leaf in enumerate(jax.tree_util.tree_leaves(params.neuron)):
        if np.shape(leaf) != (n,):
            raise ValueError(
                f"neuron parameter {i} of {neuron.name} has shape {np.shape(leaf)}; weights have {n} output "
                f"neurons, so every neuron parameter must have shape ({n},)."
            )
    if recurrent and np.shape(params.recurrent_weights) != (n, n):
        raise ValueError(f"recurrent_weights must have shape ({n}, {n}), got {np.shape(params.recurrent_weights)}.")
    return n


@jax.custom_vjp
def input_currents(inputs, weights):
    r"""Input currents :math:`I_t = x_t W` of all bins as one matrix product, ``[T, ..., n_in] @ [n_in, N]``.

    The reverse pass is again one product per operand over all bins: the weight gradient
    :math:`\bar W = X^\top \bar I` with :math:`X` the ``[T * batch, n_in]`` inputs, contracted in place
    (JAX's own transpose of the product makes XLA copy :math:`\bar I` into a transposed layout first),
    and :math:`\bar x_t = \bar I_t W^\top`, which XLA drops when the inputs need no gradient. One
    product rather than time chunks: on the issue-7 workload (6400 x 700 @ 700 x 256) chunks of 320-1600
    rows cost 5-10 % more CPU time (``benchmarks/README_snn.md``). Reverse mode only (``jax.custom_vjp``).
    """
    return jnp.matmul(inputs, weights)


def _input_currents_fwd(inputs, weights):
    return jnp.matmul(inputs, weights), (inputs, weights)


def _input_currents_bwd(residuals, grad):
    inputs, weights = residuals
    flat_inputs = inputs.reshape(-1, inputs.shape[-1])
    flat_grad = grad.reshape(-1, grad.shape[-1])
    d_weights = jnp.matmul(flat_inputs.T, flat_grad).astype(weights.dtype)
    return jnp.matmul(grad, weights.T).astype(inputs.dtype), d_weights


input_currents.defvjp(_input_currents_fwd, _input_currents_bwd)


def _scan_currents(neuron: Neuron, neuron_params, currents, initial_state, unroll):
    if neuron.scan is not None:
        states = neuron.scan(neuron_params, currents, initial_state, unroll)
        return jax.tree_util.tree_map(lambda x: x[-1], states), states

    def body(state, current):
        state, _ = neuron.step(neuron_params, state, current)
        return state, state

    return jax.lax.scan(body, initial_state, currents, unroll=unroll)


def feedforward_layer(neuron: Neuron, params: FeedForwardParams, inputs, initial_state=None, unroll: int = 1):
    r"""Run a dense spiking layer over time-major ``inputs`` ``[T, ..., n_in]``.

    The input currents :math:`I_t = x_t W` of all bins are one matrix product (:func:`input_currents`;
    the inputs are known in advance, so only the neuron recursion is sequential). The recursion is the
    neuron's fused ``scan`` when it has one (LIF: :func:`lif_scan`), else ``lax.scan`` of
    ``neuron.step``; ``unroll`` is the scan's unroll factor.

    Returns
    -------
    final_state, states : the state after the last bin, and all states stacked over time ``[T, ..., N]``
    (``states.spikes`` are the layer's output spikes).
    """
    _check_layer(neuron, params, recurrent=False)
    check_inputs(inputs, np.shape(params.weights)[0])
    inputs = jnp.asarray(inputs)
    if initial_state is None:
        initial_state = neuron.initial_state(params.neuron, inputs.shape[1:-1])
    currents = input_currents(inputs, params.weights)
    return _scan_currents(neuron, params.neuron, currents, initial_state, unroll)


def recurrent_layer(neuron: Neuron, params: RecurrentParams, inputs, initial_state=None, unroll: int = 1):
    r"""Run a recurrent spiking layer, :math:`I_t = x_t W + s_{t-1} V`, over ``inputs`` ``[T, ..., n_in]``.

    The feed-forward part :math:`x_t W` is computed for all bins at once; the recurrent part inside the
    scan. Returns ``(final_state, states)`` like :func:`feedforward_layer`.
    """
    _check_layer(neuron, params, recurrent=True)
    check_inputs(inputs, np.shape(params.weights)[0])
    inputs = jnp.asarray(inputs)
    if initial_state is None:
        initial_state = neuron.initial_state(params.neuron, inputs.shape[1:-1])
    currents = input_currents(inputs, params.weights)

    def body(state, current):
        state, _ = neuron.step(params.neuron, state, current + state.spikes @ params.recurrent_weights)
        return state, state

    return jax.lax.scan(body, initial_state, currents, unroll=unroll)


def _weights(key, n_in, n_out, scale, dtype):
    return scale * jax.random.normal(key, (n_in, n_out), dtype) / math.sqrt(n_in)


def init_feedforward(key, n_inputs: int, neuron_params, weight_scale: float = 1.0, dtype=None) -> FeedForwardParams:
    """Dense layer with weights :math:`\\mathcal N(0, \\text{scale}^2/n_\\text{in})` and the given neuron params."""
    for name, v in (("n_inputs", n_inputs),):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}.")
    n = np.shape(jax.tree_util.tree_leaves(neuron_params)[0])[0]
    dtype = dtype or jnp.result_type(float)
    return FeedForwardParams(_weights(key, int(n_inputs), n, weight_scale, dtype), neuron_params)


def init_recurrent(
    key, n_inputs: int, neuron_params, weight_scale: float = 1.0, recurrent_scale: float = 0.5, dtype=None
) -> RecurrentParams:
    """Recurrent layer; recurrent weights :math:`\\mathcal N(0, \\text{rscale}^2/N)` with a zero diagonal."""
    if int(n_inputs) != n_inputs or n_inputs < 1:
        raise ValueError(f"n_inputs must be a positive integer, got {n_inputs!r}.")
    n = np.shape(jax.tree_util.tree_leaves(neuron_params)[0])[0]
    dtype = dtype or jnp.result_type(float)
    k1, k2 = jax.random.split(key)
    recurrent = _weights(k2, n, n, recurrent_scale, dtype) * (1.0 - jnp.eye(n, dtype=dtype))
    return RecurrentParams(_weights(k1, int(n_inputs), n, weight_scale, dtype), recurrent, neuron_params)


def lif_params(n_neurons: int, leak=0.9, threshold=1.0, dtype=None) -> LIFParams:
    """Per-neuron :class:`LIFParams` from scalars or arrays (validated)."""
    return check_lif_params(_per_neuron_params(LIFParams, n_neurons, (leak, threshold), dtype))


def alif_params(
    n_neurons: int, leak=0.9, threshold=1.0, adaptation_decay=0.95, adaptation_strength=0.2, ahp_strength=0.0, dtype=None
) -> ALIFParams:
    """Per-neuron :class:`ALIFParams` from scalars or arrays (validated)."""
    values = (leak, threshold, adaptation_decay, adaptation_strength, ahp_strength)
    return check_alif_params(_per_neuron_params(ALIFParams, n_neurons, values, dtype))


__all__ += ["lif_params", "alif_params", "check_lif_params", "check_alif_params"]
