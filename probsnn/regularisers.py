r"""Activity regularisers for surrogate-gradient training.

Both follow Zenke & Vogels (Neural Computation 33, 2021), who combine an upper bound on population
firing with a lower bound per neuron, and add a membrane-voltage penalty so that neurons pushed silent
by a rate penalty are not locked in hyperpolarisation (where the surrogate gradient vanishes).

Arrays are time-major, ``[T, ..., N]``: the rate of neuron ``n`` is the mean of ``spikes[..., n]`` over
time and every leading (batch) axis.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ._checks import check_float

__all__ = ["spike_rate_regulariser", "membrane_regulariser", "firing_rates"]


def _check_activity(name, array):
    shape = np.shape(array)
    if len(shape) < 2:
        raise ValueError(f"{name} must be time-major with at least 2 axes [T, ..., N], got shape {shape}.")
    if shape[0] < 1 or shape[-1] < 1:
        raise ValueError(f"{name} must have at least one time step and one neuron, got shape {shape}.")


def firing_rates(spikes):
    """Per-neuron rate (spikes per bin), the mean of ``spikes[T, ..., N]`` over all axes but the last."""
    _check_activity("spikes", spikes)
    spikes = jnp.asarray(spikes)
    return jnp.mean(spikes.reshape(-1, spikes.shape[-1]), axis=0)


def _optional_float(name, value):
    """``None``, or ``value`` as a finite float."""
    return None if value is None else check_float(name, value)


def spike_rate_regulariser(spikes, lower=None, upper=None, target=None):
    r"""Penalty on per-neuron firing rates :math:`r_n = \langle s_{t,n} \rangle_{t,\mathrm{batch}}`.

    .. math::

        R = \frac1N \sum_n \big[\max(0, \ell - r_n)^2 + \max(0, r_n - u)^2 + (r_n - r^*)^2\big]

    where each term is present only when its bound (``lower`` :math:`\ell`, ``upper`` :math:`u`,
    ``target`` :math:`r^*`, in spikes per bin) is given.

    Raises
    ------
    ValueError
        When no bound is given, a bound is negative, or ``lower > upper``.
    """
    _check_activity("spikes", spikes)
    lower, upper, target = (_optional_float(n, v) for n, v in (("lower", lower), ("upper", upper), ("target", target)))
    if lower is None and upper is None and target is None:
        raise ValueError("give at least one of lower, upper or target (spikes per bin).")
    for name, value in (("lower", lower), ("upper", upper), ("target", target)):
        if value is not None and value < 0:
            raise ValueError(f"{name} must be a non-negative rate (spikes per bin), got {value}.")
    if lower is not None and upper is not None and lower > upper:
        raise ValueError(f"lower ({lower}) must not exceed upper ({upper}).")
    rates = firing_rates(spikes)
    penalty = jnp.zeros_like(rates)
    if lower is not None:
        penalty = penalty + jnp.maximum(0.0, lower - rates) ** 2
    if upper is not None:
        penalty = penalty + jnp.maximum(0.0, rates - upper) ** 2
    if target is not None:
        penalty = penalty + (rates - target) ** 2
    return jnp.mean(penalty)


def membrane_regulariser(membrane, lower, upper=None):
    r"""Penalty keeping membrane potentials out of deep hyperpolarisation (and optionally bounded above).

    .. math::

        R = \frac{1}{T B N}\sum_{t,b,n} \big[\max(0, \ell - v_{t,b,n})^2 + \max(0, v_{t,b,n} - u)^2\big]

    Parameters
    ----------
    membrane : array, shape (T, ..., N)
    lower : float
        Potentials below :math:`\ell` are pulled up (e.g. ``-threshold``).
    upper : float, optional
        Potentials above :math:`u` are pulled down.
    """
    _check_activity("membrane", membrane)
    lower = check_float("lower", lower)
    upper = _optional_float("upper", upper)
    if upper is not None and lower > upper:
        raise ValueError(f"lower ({lower}) must not exceed upper ({upper}).")
    membrane = jnp.asarray(membrane)
    penalty = jnp.maximum(0.0, lower - membrane) ** 2
    if upper is not None:
        penalty = penalty + jnp.maximum(0.0, membrane - upper) ** 2
    return jnp.mean(penalty)
