r"""Online spatio-temporal learning (OSTL), Bohnstingl et al., IEEE TNNLS 34:8894 (2022).

OSTL splits the gradient of a loss :math:`E = \sum_t E_t` into a *spatial* learning signal and a
*temporal* eligibility trace. For layer :math:`l` with per-neuron state :math:`h^l_t` (all fields of the
neuron state, e.g. membrane and spikes), input current :math:`I^l_t = x^l_t W^l` and per-neuron
parameters :math:`\theta^l` (leak, threshold, ...):

.. math::

    \epsilon^{l}_{t} = \frac{\partial h^l_t}{\partial h^l_{t-1}}\, \epsilon^{l}_{t-1}
        + \frac{\partial h^l_t}{\partial W^l}, \qquad
    L^l_t = \frac{\partial E_t}{\partial h^l_t}\Big|_{\text{spatial}}, \qquad
    \frac{dE}{dW^l} \approx \sum_t L^l_t\, \epsilon^l_t .

:math:`\partial h_t/\partial h_{t-1}` is block-diagonal over neurons for element-wise neurons (LIF,
ALIF, SNU, sSNU, a-SNU), so the trace for :math:`W^l_{ij}` only involves neuron :math:`j`: it has
shape ``[batch, n_in, N, k]`` (:math:`O(n^2)` memory, constant in the sequence length). The spatial
learning signal :math:`L^l_t` is back-propagated through the layers *at the same time step* only.

For a single layer the temporal recursion is exact (it is real-time recurrent learning restricted to
a diagonal Jacobian, and the Jacobian *is* diagonal), so OSTL equals BPTT to float precision, as
proved in the OSTL paper; for deeper networks OSTL drops the terms where a lower layer's past reaches
the loss through a higher layer's temporal dynamics. Per-step Jacobians are computed with
``jax.jacfwd`` of the neuron's own step function (the surrogate is a ``custom_jvp``), so OSTL uses the
very same neuron model as BPTT.
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_callable, check_time_axis
from ..neurons.base import Neuron
from ..neurons.layers import FeedForwardParams, check_inputs

__all__ = ["ostl_gradient", "per_step_loss_total"]


def _neuron_jacobians(neuron: Neuron, neuron_params, state, current):
    """Per-neuron Jacobians of one step: d h_t / d h_{t-1} [B,N,k,k], d h_t / d I_t [B,N,k], d h_t / d theta [B,N,k,p].

    ``state`` leaves are [B, N], ``current`` is [B, N] and every ``neuron_params`` leaf is [N].
    """
    state_leaves, state_def = jax.tree_util.tree_flatten(state)
    param_leaves, param_def = jax.tree_util.tree_flatten(neuron_params)

    def cell(h, current, theta):
        new_state, _ = neuron.step(
            jax.tree_util.tree_unflatten(param_def, list(theta)),
            jax.tree_util.tree_unflatten(state_def, list(h)),
            current
        )
        return jnp.stack(jax.tree_util.tree_leaves(new_state))

    jac = jax.jacfwd(cell, argnums=(0, 1, 2))
    per_neuron = jax.vmap(jac, in_axes=(0, 0, 1))  # over neurons: h [k] per neuron, theta [p] per neuron
    per_sample = jax.vmap(per_neuron, in_axes=(0, 0, None))  # over the batch: parameters shared
    h = jnp.stack(state_leaves, axis=-1)  # [B, N, k]
    theta = jnp.stack(param_leaves, axis=0)  # [p, N]
    return per_sample(h, current, theta)


def _check_ostl(neurons, params, inputs):
    if isinstance(neurons, Neuron) or not isinstance(neurons, Sequence) or not isinstance(params, Sequence) \
            or len(neurons) != len(params) or len(params) == 0:
        raise ValueError("give neurons (a list, one Neuron per layer) and params (one FeedForwardParams per layer, "
                         f">= 1 layer); got {type(neurons).__name__} and {type(params).__name__}.")
    for i, (neuron, layer) in enumerate(zip(neurons, params)):
        if not isinstance(layer, FeedForwardParams):
            raise ValueError(
                f"OSTL here supports feed-forward layers (FeedForwardParams); layer {i} is {type(layer).__name__}."
            )
        if not isinstance(neuron, Neuron):
            raise ValueError(f"neurons[{i}] must be a probsnn Neuron, got {type(neuron).__name__}.")
        if not neuron.elementwise:
            raise ValueError(
                f"layer {i} uses {neuron.name}, whose update couples neurons within the layer; OSTL's eligibility "
                "traces assume an element-wise neuron. Use BPTT for it."
            )
        neuron.check_params(layer.neuron)
        if i > 0 and np.shape(layer.weights)[0] != np.shape(params[i - 1].weights)[1]:
            raise ValueError(f"layer {i} expects {np.shape(layer.weights)[0]} inputs, "
                             f"layer {i-1} has {np.shape(params[i-1].weights)[1]} neurons.")
    check_inputs(inputs, np.shape(params[0].weights)[0])
    if np.ndim(inputs) != 3:
        raise ValueError(f"inputs must have shape [T, batch, n_in], got {np.shape(inputs)}.")


def per_step_loss_total(neurons, params, inputs, targets, step_loss: Callable):
    r"""Reference loss :math:`E = \sum_t E_t(h^L_t, y^*_t)` by a plain forward pass (differentiate it with
    ``jax.grad`` for the BPTT gradient that :func:`ostl_gradient` reproduces for one layer)."""
    from .bptt import run_network

    states = run_network(neurons, params, inputs)
    return jnp.sum(jax.vmap(step_loss)(states[-1], targets))


def ostl_gradient(neurons: Sequence[Neuron], params: Sequence[FeedForwardParams], inputs, targets, step_loss: Callable):
    r"""OSTL gradient of :math:`E = \sum_t E_t` for a feed-forward stack, computed online in one forward scan.

    Parameters
    ----------
    neurons : sequence of Neuron
        Element-wise neuron types, one per layer.
    params : sequence of FeedForwardParams
    inputs : array, shape (T, B, n_in)
    targets : pytree with leading axis T
        ``targets[t]`` is passed to ``step_loss`` at step ``t``.
    step_loss : callable
        ``step_loss(output_state_t, target_t) -> scalar``: the instantaneous loss :math:`E_t`, a function of
        the last layer's state at ``t`` (e.g. of ``state.membrane`` or ``state.spikes``, batch-summed).

    Returns
    -------
    loss : scalar, :math:`E`
    grads : list of FeedForwardParams, the OSTL gradient (exactly ``jax.grad`` of :math:`E` for one layer).
    """
    _check_ostl(neurons, params, inputs)
    check_callable("step_loss", step_loss, "step_loss(output_state_t, target_t) -> scalar")
    check_time_axis("targets", targets, np.shape(inputs)[0])
    inputs = jnp.asarray(inputs)
    batch = inputs.shape[1]
    n_layers = len(params)
    init_states = [neuron.initial_state(layer.neuron, (batch,)) for neuron, layer in zip(neurons, params)]

    def traces_for(layer, state):
        k = len(jax.tree_util.tree_leaves(state))
        p = len(jax.tree_util.tree_leaves(layer.neuron))
        n_in, n = layer.weights.shape
        dtype = layer.weights.dtype
        return (jnp.zeros((batch, n_in, n, k), dtype), jnp.zeros((batch, n, k, p), dtype))

    init_traces = [traces_for(layer, s) for layer, s in zip(params, init_states)]
    init_grads = [
        (jnp.zeros_like(layer.weights),
         jnp.zeros((layer.weights.shape[1], len(jax.tree_util.tree_leaves(layer.neuron))), layer.weights.dtype))
        for layer in params
    ]

    def forward_with_perturbations(deltas, states, x_t, target_t):
        new_states = []
        x = x_t
        for neuron, layer, state, delta in zip(neurons, params, states, deltas):
            new_state, _ = neuron.step(layer.neuron, state, x @ layer.weights)
            new_state = jax.tree_util.tree_map(jnp.add, new_state, delta)
            new_states.append(new_state)
            x = new_state.spikes
        return step_loss(new_states[-1], target_t), new_states

    spatial = jax.value_and_grad(forward_with_perturbations, has_aux=True)

    def body(carry, inputs_t):
        states, traces, grads, total = carry
        x_t, target_t = inputs_t
        zeros = [jax.tree_util.tree_map(jnp.zeros_like, s) for s in states]
        (loss_t, new_states), signals = spatial(zeros, states, x_t, target_t)
        new_traces, new_grads = [], []
        x = x_t
        for l in range(n_layers):
            neuron, layer = neurons[l], params[l]
            current = x @ layer.weights
            j_h, j_i, j_p = _neuron_jacobians(neuron, layer.neuron, states[l], current)
            trace_w, trace_p = traces[l]
            trace_w = jnp.einsum("bnkl,binl->bink", j_h, trace_w) + jnp.einsum("bnk,bi->bink", j_i, x)
            trace_p = jnp.einsum("bnkl,bnlp->bnkp", j_h, trace_p) + j_p
            signal = jnp.stack(jax.tree_util.tree_leaves(signals[l]), axis=-1)  # [B, N, k]
            grad_w, grad_p = grads[l]
            grad_w = grad_w + jnp.einsum("bink,bnk->in", trace_w, signal)
            grad_p = grad_p + jnp.einsum("bnkp,bnk->np", trace_p, signal)
            new_traces.append((trace_w, trace_p))
            new_grads.append((grad_w, grad_p))
            x = new_states[l].spikes
        return (new_states, new_traces, new_grads, total + loss_t), None

    total0 = jnp.zeros((), inputs.dtype)
    (_, _, grads, total), _ = jax.lax.scan(body, (init_states, init_traces, init_grads, total0), (inputs, targets))
    out = []
    for layer, (grad_w, grad_p) in zip(params, grads):
        leaves, treedef = jax.tree_util.tree_flatten(layer.neuron)
        neuron_grad = jax.tree_util.tree_unflatten(treedef, [grad_p[:, i] for i in range(len(leaves))])
        out.append(FeedForwardParams(grad_w, neuron_grad))
    return total, out
