r"""Spiking layers: dense feed-forward and recurrent layers that unroll any neuron type over time.

A layer holds its weights and the per-neuron parameters of its :class:`~probsnn.neurons.base.Neuron`
(LIF, ALIF, SNU, ...). Inputs are time-major, ``[T, ..., n_in]``; the input current of a feed-forward
layer is :math:`I_t = x_t W`, that of a recurrent layer :math:`I_t = x_t W + s_{t-1} V`, and the neuron
recursion runs with ``lax.scan`` (:func:`feedforward_layer`, :func:`recurrent_layer`).

Speed: a feed-forward layer computes the input currents of all bins as one matrix product
(:func:`input_currents`), so only the element-wise recursion is sequential; for LIF that recursion is
the fused :func:`~probsnn.neurons.lif.lif_scan` with its hand-written reverse pass. Both are
reverse-mode only (``jax.custom_vjp``).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_finite_entries, check_float, concrete, positive_int
from .base import Neuron

__all__ = ["FeedForwardParams", "RecurrentParams", "check_inputs", "input_currents", "feedforward_layer",
           "recurrent_layer", "init_feedforward", "init_recurrent"]


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
    arr = concrete(inputs)
    if arr is not None:
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"inputs must be real numbers (spikes or currents), got dtype {arr.dtype}.")
        check_finite_entries("inputs", arr, fix="; inputs must be finite")


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
    neuron's fused ``scan`` when it has one (LIF: :func:`~probsnn.neurons.lif.lif_scan`), else ``lax.scan`` of
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


def _n_neurons(neuron_params) -> int:
    """Number of neurons of per-neuron parameters (a NamedTuple of ``(N,)`` arrays, e.g. ``lif_params(N)``)."""
    leaves = jax.tree_util.tree_leaves(neuron_params)
    if not hasattr(neuron_params, "_fields") or not leaves or np.ndim(leaves[0]) != 1:
        raise ValueError(f"neuron_params must be per-neuron parameters such as lif_params(n_neurons), got "
                         f"{type(neuron_params).__name__}.")
    return int(np.shape(leaves[0])[0])


def init_feedforward(key, n_inputs: int, neuron_params, weight_scale: float = 1.0, dtype=None) -> FeedForwardParams:
    """Dense layer with weights :math:`\\mathcal N(0, \\text{scale}^2/n_\\text{in})` and the given neuron params."""
    n_inputs = positive_int("n_inputs", n_inputs)
    weight_scale = check_float("weight_scale", weight_scale, low=0.0)
    n = _n_neurons(neuron_params)
    dtype = dtype or jnp.result_type(float)
    return FeedForwardParams(_weights(key, n_inputs, n, weight_scale, dtype), neuron_params)


def init_recurrent(
    key, n_inputs: int, neuron_params, weight_scale: float = 1.0, recurrent_scale: float = 0.5, dtype=None
) -> RecurrentParams:
    """Recurrent layer; recurrent weights :math:`\\mathcal N(0, \\text{rscale}^2/N)` with a zero diagonal."""
    n_inputs = positive_int("n_inputs", n_inputs)
    weight_scale = check_float("weight_scale", weight_scale, low=0.0)
    recurrent_scale = check_float("recurrent_scale", recurrent_scale, low=0.0)
    n = _n_neurons(neuron_params)
    dtype = dtype or jnp.result_type(float)
    k1, k2 = jax.random.split(key)
    recurrent = _weights(k2, n, n, recurrent_scale, dtype) * (1.0 - jnp.eye(n, dtype=dtype))
    return RecurrentParams(_weights(k1, n_inputs, n, weight_scale, dtype), recurrent, neuron_params)
