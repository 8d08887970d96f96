r"""E-prop: eligibility propagation for recurrent spiking networks, Bellec et al., Nat. Commun. 11:3625 (2020).

Network (one recurrent layer of LIF/ALIF neurons and a leaky linear readout):

.. math::

    I_t = x_t W^\text{in} + z_{t-1} W^\text{rec}, \qquad (h_t, z_t) = \text{neuron step}(h_{t-1}, I_t), \qquad
    y_t = \kappa\, y_{t-1} + z_t W^\text{out} + b^\text{out},

loss :math:`E = \sum_t E_t(y_t, y^*_t)`. E-prop computes, online,

.. math::

    \epsilon_t = \frac{\partial h_t}{\partial h_{t-1}}\epsilon_{t-1} + \frac{\partial h_t}{\partial W_{ij}},
    \quad e_t = \frac{\partial z_t}{\partial h_t}\epsilon_t, \quad
    \bar e_t = \kappa \bar e_{t-1} + e_t, \quad
    L_{t,j} = \sum_k B_{jk}\, \frac{\partial E_t}{\partial y_{t,k}}, \quad
    \Delta W_{ij} = \sum_t L_{t,j}\, \bar e_{t,ij},

with feedback :math:`B = W^{\text{out}}` (symmetric e-prop) or a fixed random matrix (random e-prop).
:math:`\partial h_t/\partial h_{t-1}` is the neuron's own (per-neuron) Jacobian, obtained with
``jax.jacfwd`` of the neuron step, so the trace of an ALIF neuron includes its threshold adaptation.

**The stop-gradients that make e-prop an exact gradient.** With symmetric feedback, e-prop equals the
``jax.grad`` of :math:`E` (:func:`eprop_reference_loss`) in a network where

1. the recurrent spikes entering :math:`I_t` are ``stop_gradient(z_{t-1})`` (no credit flows through
   the recurrent weights to other neurons' past), and
2. the reset uses ``stop_gradient(z_{t-1})`` when the neuron is built with ``detach_reset=True``
   (Bellec et al.'s choice; e.g. ``lif_neuron(detach_reset=True)``); without it the reset derivative is
   part of :math:`\partial h_t/\partial h_{t-1}` in both computations.

The readout weights and bias get their exact gradient. Memory is :math:`O(n_\text{in} N + N^2)` per
sample, constant in the sequence length.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_callable, check_float, check_time_axis, positive_int
from ..neurons.base import Neuron
from ..neurons.layers import check_inputs
from .ostl import _neuron_jacobians

__all__ = ["EpropParams", "init_eprop", "eprop_forward", "eprop_reference_loss", "eprop_gradient"]


class EpropParams(NamedTuple):
    """Recurrent spiking network with a leaky readout: ``input_weights`` (n_in, N), ``recurrent_weights``
    (N, N), ``output_weights`` (N, n_out), ``output_bias`` (n_out,), ``neuron`` (per-neuron params)."""

    input_weights: Any
    recurrent_weights: Any
    output_weights: Any
    output_bias: Any
    neuron: Any


def init_eprop(key, n_inputs: int, n_outputs: int, neuron_params, input_scale=1.0, recurrent_scale=0.5, dtype=None):
    """Gaussian weights scaled by fan-in, zero-diagonal recurrent weights, zero output bias."""
    n_inputs, n_outputs = positive_int("n_inputs", n_inputs), positive_int("n_outputs", n_outputs)
    input_scale = check_float("input_scale", input_scale, low=0.0)
    recurrent_scale = check_float("recurrent_scale", recurrent_scale, low=0.0)
    dtype = dtype or jnp.result_type(float)
    n = np.shape(jax.tree_util.tree_leaves(neuron_params)[0])[0]
    k1, k2, k3 = jax.random.split(key, 3)
    w_in = input_scale * jax.random.normal(k1, (n_inputs, n), dtype) / np.sqrt(n_inputs)
    w_rec = recurrent_scale * jax.random.normal(k2, (n, n), dtype) / np.sqrt(n) * (1.0 - jnp.eye(n, dtype=dtype))
    w_out = jax.random.normal(k3, (n, n_outputs), dtype) / np.sqrt(n)
    return EpropParams(w_in, w_rec, w_out, jnp.zeros((n_outputs,), dtype), neuron_params)


def _check(neuron, params, inputs, readout_decay):
    if not isinstance(neuron, Neuron):
        raise ValueError(f"neuron must be a probsnn Neuron, got {type(neuron).__name__}.")
    if not neuron.elementwise:
        raise ValueError(f"{neuron.name} couples neurons in its update; e-prop needs an element-wise neuron.")
    if not isinstance(params, EpropParams):
        raise ValueError(f"params must be EpropParams, got {type(params).__name__}.")
    neuron.check_params(params.neuron)
    n_in, n = np.shape(params.input_weights)
    if np.shape(params.recurrent_weights) != (n, n):
        raise ValueError(f"recurrent_weights must have shape ({n}, {n}), got {np.shape(params.recurrent_weights)}.")
    if len(np.shape(params.output_weights)) != 2 or np.shape(params.output_weights)[0] != n:
        raise ValueError(f"output_weights must have shape ({n}, n_out), got {np.shape(params.output_weights)}.")
    if np.shape(params.output_bias) != (np.shape(params.output_weights)[1],):
        raise ValueError("output_bias must have shape (n_out,).")
    for i, leaf in enumerate(jax.tree_util.tree_leaves(params.neuron)):
        if np.shape(leaf) != (n,):
            raise ValueError(f"neuron parameter {i} has shape {np.shape(leaf)}, expected ({n},).")
    check_inputs(inputs, n_in)
    if np.ndim(inputs) != 3:
        raise ValueError(f"inputs must have shape [T, batch, {n_in}], got {np.shape(inputs)}.")
    return check_float("readout_decay (kappa)", readout_decay, 0.0, 1.0, high_open=True)


def eprop_forward(neuron: Neuron, params: EpropParams, inputs, readout_decay: float = 0.0,
                  stop_recurrent_gradient=True):
    """Run the network; returns ``(states, outputs)`` with ``outputs`` :math:`y_t` of shape ``[T, B, n_out]``.

    ``stop_recurrent_gradient=True`` applies stop-gradient 1 of the module docstring.
    """
    kappa = _check(neuron, params, inputs, readout_decay)
    inputs = jnp.asarray(inputs)
    state0 = neuron.initial_state(params.neuron, inputs.shape[1:2])
    y0 = jnp.zeros(inputs.shape[1:2] + params.output_bias.shape, inputs.dtype)
    currents = inputs @ params.input_weights

    def body(carry, current):
        state, y = carry
        previous = jax.lax.stop_gradient(state.spikes) if stop_recurrent_gradient else state.spikes
        state, spikes = neuron.step(params.neuron, state, current + previous @ params.recurrent_weights)
        y = kappa * y + spikes @ params.output_weights + params.output_bias
        return (state, y), (state, y)

    _, (states, outputs) = jax.lax.scan(body, (state0, y0), currents)
    return states, outputs


def eprop_reference_loss(neuron, params, inputs, targets, step_loss: Callable, readout_decay: float = 0.0):
    r""":math:`E = \sum_t E_t(y_t, y^*_t)` with the documented stop-gradients; ``jax.grad`` of it is e-prop."""
    check_callable("step_loss", step_loss, "step_loss(y_t, target_t) -> scalar")
    check_time_axis("targets", targets, np.shape(inputs)[0] if np.ndim(inputs) else 0)
    _, outputs = eprop_forward(neuron, params, inputs, readout_decay, stop_recurrent_gradient=True)
    return jnp.sum(jax.vmap(step_loss)(outputs, targets))


def eprop_gradient(neuron: Neuron, params: EpropParams, inputs, targets, step_loss: Callable,
                   readout_decay: float = 0.0, feedback="symmetric"):
    r"""E-prop gradient of :math:`E = \sum_t E_t(y_t, y^*_t)`, computed online in one forward scan.

    Parameters
    ----------
    neuron : Neuron
        Element-wise neuron (``lif_neuron(detach_reset=True)`` or ``alif_neuron(detach_reset=True)`` for
        Bellec et al.'s e-prop).
    params : EpropParams
    inputs : array, shape (T, B, n_in)
    targets : pytree with leading axis T
    step_loss : callable
        ``step_loss(y_t, target_t) -> scalar`` (batch-summed), e.g. squared error or cross-entropy.
    readout_decay : float
        :math:`\kappa \in [0, 1)`.
    feedback : "symmetric" or array (N, n_out)
        :math:`B`: the output weights (symmetric e-prop) or a fixed random matrix (random e-prop).

    Returns
    -------
    loss, grads : :math:`E` and an :class:`EpropParams` of gradients.
    """
    kappa = _check(neuron, params, inputs, readout_decay)
    check_callable("step_loss", step_loss, "step_loss(y_t, target_t) -> scalar")
    check_time_axis("targets", targets, np.shape(inputs)[0])
    inputs = jnp.asarray(inputs)
    n_in, n = params.input_weights.shape
    n_out = params.output_weights.shape[1]
    if isinstance(feedback, str):
        if feedback != "symmetric":
            raise ValueError(f"feedback must be 'symmetric' or an (N, n_out) matrix, got {feedback!r}.")
        symmetric = True
    else:
        symmetric = False
        if np.shape(feedback) != (n, n_out):
            raise ValueError(f"a feedback matrix must have shape ({n}, {n_out}), got {np.shape(feedback)}.")
    batch = inputs.shape[1]
    dtype = inputs.dtype
    state0 = neuron.initial_state(params.neuron, (batch,))
    k = len(jax.tree_util.tree_leaves(state0))
    p = len(jax.tree_util.tree_leaves(params.neuron))
    spike_index = list(state0._fields).index("spikes")
    grad_out = jax.grad(step_loss)

    carry0 = dict(
        state=state0,
        y=jnp.zeros((batch, n_out), dtype),
        eps_in=jnp.zeros((batch, n_in, n, k), dtype),
        eps_rec=jnp.zeros((batch, n, n, k), dtype),
        eps_p=jnp.zeros((batch, n, k, p), dtype),
        fe_in=jnp.zeros((batch, n_in, n), dtype),
        fe_rec=jnp.zeros((batch, n, n), dtype),
        fe_p=jnp.zeros((batch, n, p), dtype),
        fz=jnp.zeros((batch, n), dtype),
        fb=jnp.zeros((), dtype),
        g_in=jnp.zeros((n_in, n), dtype),
        g_rec=jnp.zeros((n, n), dtype),
        g_p=jnp.zeros((n, p), dtype),
        g_out=jnp.zeros((n, n_out), dtype),
        g_bias=jnp.zeros((n_out,), dtype),
        loss=jnp.zeros((), dtype),
    )

    def body(c, inputs_t):
        x_t, target_t = inputs_t
        previous = c["state"].spikes
        current = x_t @ params.input_weights + previous @ params.recurrent_weights
        j_h, j_i, j_p = _neuron_jacobians(neuron, params.neuron, c["state"], current)
        state, spikes = neuron.step(params.neuron, c["state"], current)
        y = kappa * c["y"] + spikes @ params.output_weights + params.output_bias
        eps_in = jnp.einsum("bnkl,binl->bink", j_h, c["eps_in"]) + jnp.einsum("bnk,bi->bink", j_i, x_t)
        eps_rec = jnp.einsum("bnkl,binl->bink", j_h, c["eps_rec"]) + jnp.einsum("bnk,bi->bink", j_i, previous)
        eps_p = jnp.einsum("bnkl,bnlp->bnkp", j_h, c["eps_p"]) + j_p
        # eligibility traces e_t = dz_t/dh_t eps_t: the spike component of the state trace; low-pass by kappa.
        fe_in = kappa * c["fe_in"] + eps_in[..., spike_index]
        fe_rec = kappa * c["fe_rec"] + eps_rec[..., spike_index]
        fe_p = kappa * c["fe_p"] + eps_p[:, :, spike_index, :]
        fz = kappa * c["fz"] + spikes
        fb = kappa * c["fb"] + 1.0
        dE_dy = grad_out(y, target_t)  # [B, n_out]
        b_matrix = params.output_weights if symmetric else feedback
        signal = dE_dy @ b_matrix.T  # learning signal L_t [B, N]
        new = dict(
            state=state, y=y, eps_in=eps_in, eps_rec=eps_rec, eps_p=eps_p, fe_in=fe_in, fe_rec=fe_rec, fe_p=fe_p,
            fz=fz, fb=fb,
            g_in=c["g_in"] + jnp.einsum("bn,bin->in", signal, fe_in),
            g_rec=c["g_rec"] + jnp.einsum("bn,bin->in", signal, fe_rec),
            g_p=c["g_p"] + jnp.einsum("bn,bnp->np", signal, fe_p),
            g_out=c["g_out"] + jnp.einsum("bn,bo->no", fz, dE_dy),
            g_bias=c["g_bias"] + fb * jnp.sum(dE_dy, axis=0),
            loss=c["loss"] + step_loss(y, target_t),
        )
        return new, None

    c, _ = jax.lax.scan(body, carry0, (inputs, targets))
    leaves, treedef = jax.tree_util.tree_flatten(params.neuron)
    neuron_grad = jax.tree_util.tree_unflatten(treedef, [c["g_p"][:, i] for i in range(len(leaves))])
    return c["loss"], EpropParams(c["g_in"], c["g_rec"], c["g_out"], c["g_bias"], neuron_grad)
