r"""The fused LIF recursion of :func:`probsnn.neurons.lif.lif_scan` and its hand-written reverse pass.

Forward: one ``lax.scan`` stacking only the membrane. Reverse (``jax.custom_vjp``): the element-wise
adjoint recursion :math:`\bar s_t = g^s_t + b_t \bar v_{t+1}`, :math:`\bar v_t = g^v_t + \psi_t \bar s_t +
a_t \bar v_{t+1}` in one reverse ``lax.scan``, derived in :func:`~probsnn.neurons.lif.lif_scan`
(Neftci, Mostafa & Zenke 2019). Kept apart from the neuron, as Norse keeps its adjoints. Parameters and
states are plain tuples here, ``(leak, threshold)`` and ``(membrane, spikes)``; ``lif_scan`` validates,
casts and broadcasts them and wraps the result in ``LIFState``.
"""
from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp

from ..surrogates import heaviside

__all__ = ["fused_lif_recursion"]


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
    return membrane, heaviside(membrane - threshold)


@partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3))
def fused_lif_recursion(pseudo_derivative, reset, detach_reset, unroll, params, currents, initial_state):
    """``(membrane, spikes)`` over the bins of ``currents`` ``[T, ..., N]`` (inputs prepared by ``lif_scan``)."""
    return _lif_forward(reset, unroll, params, currents, initial_state)


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class _Perturbed:
    """Which inputs of :func:`fused_lif_recursion` need a cotangent (static, decided when differentiating)."""

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
        d_initial = (
            jnp.broadcast_to(a0 * v_bar0, v0.shape),
            jnp.zeros_like(s0) if b0 is None else jnp.broadcast_to(b0 * v_bar0, s0.shape),
        )
    d_params = None
    if needs.params:
        d_leak = d_leak + jnp.sum(v_bar0 * leak_factor(v0, s0), axis=batch_axes)
        if reset == "subtract":
            d_threshold = d_threshold - jnp.sum(v_bar0 * s0, axis=batch_axes)
        d_params = (d_leak, d_threshold)
    return d_params, v_bar, d_initial


def _add(x, y):
    """``x + y`` where None stands for zero."""
    if x is None:
        return y
    return x if y is None else x + y


fused_lif_recursion.defvjp(_lif_scan_fwd, _lif_scan_bwd, symbolic_zeros=True)
