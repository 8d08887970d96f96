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
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..surrogates import get_surrogate

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
    """

    name: str
    step: Callable
    initial_state: Callable
    check_params: Callable
    elementwise: bool = True


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
    if not isinstance(params, LIFParams):
        raise ValueError(f"expected LIFParams(leak, threshold), got {type(params).__name__}.")
    n = np.shape(params.leak)[0] if np.ndim(params.leak) == 1 else None
    _check_vector("leak", params.leak, low=0.0, high=1.0)
    _check_vector("threshold", params.threshold, n=n, low=0.0)
    return params


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


def lif_neuron(reset: str = "subtract", spike_fn=None, detach_reset: bool = False) -> Neuron:
    """The LIF :class:`Neuron` with the given reset mode and surrogate (see :func:`lif_step`)."""
    if reset not in _RESETS:
        raise ValueError(f"reset must be one of {_RESETS}, got {reset!r}.")
    spike_fn = get_surrogate(spike_fn)

    def step(params, state, current):
        return lif_step(params, state, current, spike_fn=spike_fn, reset=reset, detach_reset=detach_reset)

    return Neuron(f"LIF(reset={reset})", step, _zeros_state(LIFState, 2), check_lif_params, True)


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
    if not isinstance(params, ALIFParams):
        raise ValueError(f"expected ALIFParams, got {type(params).__name__}.")
    n = np.shape(params.leak)[0] if np.ndim(params.leak) == 1 else None
    _check_vector("leak", params.leak, low=0.0, high=1.0)
    _check_vector("threshold", params.threshold, n=n, low=0.0)
    _check_vector("adaptation_decay", params.adaptation_decay, n=n, low=0.0, high=1.0)
    _check_vector("adaptation_strength", params.adaptation_strength, n=n, low=0.0, low_open=False)
    _check_vector("ahp_strength", params.ahp_strength, n=n, low=0.0, low_open=False)
    return params


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


def _time_chunk(n_steps: int, rows_per_step: int, target_rows: int = 320) -> int:
    """Largest divisor of ``n_steps`` whose chunk has at most ``target_rows`` matrix rows (>= 1)."""
    best = 1
    for chunk in range(1, n_steps + 1):
        if n_steps % chunk == 0 and chunk * rows_per_step <= target_rows:
            best = chunk
    return best


@jax.custom_vjp
def input_currents(inputs, weights):
    r"""Input currents :math:`I_t = x_t W` for all bins, ``[T, ..., n_in] @ [n_in, N]``.

    The forward pass runs the product in time chunks of about 320 rows (on CPU a chain of cache-sized
    products is faster than one tall one); the backward pass uses two dense products,
    :math:`\partial W = \sum_t x_t^\top \bar I_t` and :math:`\bar x_t = \bar I_t W^\top`.
    """
    return _chunked_matmul(inputs, weights)


def _chunked_matmul(inputs, weights):
    n_steps = inputs.shape[0]
    rows = int(np.prod(inputs.shape[1:-1], dtype=np.int64)) if inputs.ndim > 2 else 1
    chunk = _time_chunk(n_steps, max(rows, 1))
    if chunk == n_steps or inputs.ndim < 2:
        return jnp.matmul(inputs, weights)
    blocks = inputs.reshape((n_steps // chunk, chunk) + inputs.shape[1:])
    _, out = jax.lax.scan(lambda c, block: (c, jnp.matmul(block, weights)), None, blocks)
    return out.reshape((n_steps,) + out.shape[2:])


def _input_currents_fwd(inputs, weights):
    return _chunked_matmul(inputs, weights), (inputs, weights)


def _input_currents_bwd(residuals, grad):
    inputs, weights = residuals
    flat_in = inputs.reshape(-1, inputs.shape[-1])
    flat_grad = grad.reshape(-1, grad.shape[-1])
    return jnp.matmul(grad, weights.T).astype(inputs.dtype), jnp.matmul(flat_in.T, flat_grad)


input_currents.defvjp(_input_currents_fwd, _input_currents_bwd)


def _scan_currents(neuron: Neuron, neuron_params, currents, initial_state, unroll):
    def body(state, current):
        state, _ = neuron.step(neuron_params, state, current)
        return state, state

    return jax.lax.scan(body, initial_state, currents, unroll=unroll)


def feedforward_layer(neuron: Neuron, params: FeedForwardParams, inputs, initial_state=None, unroll: int = 1):
    r"""Run a dense spiking layer over time-major ``inputs`` ``[T, ..., n_in]``.

    The input currents :math:`I_t = x_t W` of all bins are one matrix product (the inputs are known in
    advance, so only the neuron recursion is sequential), then ``lax.scan`` runs ``neuron.step``.

    Returns
    -------
    final_state, states : the state after the last bin, and all states stacked over time ``[T, ..., N]``
    (``states.spikes`` are the layer's output spikes).
    """
    n = _check_layer(neuron, params, recurrent=False)
    check_inputs(inputs, np.shape(params.weights)[0])
    inputs = jnp.asarray(inputs)
    if initial_state is None:
        initial_state = neuron.initial_state(params.neuron, inputs.shape[1:-1])
    currents = input_currents(inputs, params.weights)
    del n
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
    if int(n_neurons) != n_neurons or n_neurons < 1:
        raise ValueError(f"n_neurons must be a positive integer, got {n_neurons!r}.")
    dtype = dtype or jnp.result_type(float)
    params = LIFParams(_full(leak, int(n_neurons), dtype), _full(threshold, int(n_neurons), dtype))
    check_lif_params(params)
    if np.shape(params.threshold) != (n_neurons,) or np.shape(params.leak) != (n_neurons,):
        raise ValueError(f"leak and threshold must be scalars or shape ({n_neurons},).")
    return params


def alif_params(
    n_neurons: int, leak=0.9, threshold=1.0, adaptation_decay=0.95, adaptation_strength=0.2, ahp_strength=0.0, dtype=None
) -> ALIFParams:
    """Per-neuron :class:`ALIFParams` from scalars or arrays (validated)."""
    if int(n_neurons) != n_neurons or n_neurons < 1:
        raise ValueError(f"n_neurons must be a positive integer, got {n_neurons!r}.")
    dtype = dtype or jnp.result_type(float)
    n = int(n_neurons)
    params = ALIFParams(*(_full(v, n, dtype) for v in (leak, threshold, adaptation_decay, adaptation_strength, ahp_strength)))
    check_alif_params(params)
    if any(np.shape(p) != (n,) for p in params):
        raise ValueError(f"every ALIF parameter must be a scalar or have shape ({n},).")
    return params


__all__ += ["lif_params", "alif_params", "check_lif_params", "check_alif_params"]
