r"""Encoders from analog values to spike trains, and decoders from spike trains back to values or classes.

All spike trains are time-major ``[T, ..., C]``.

Encoders
--------
* :func:`rate_bernoulli`: ``s_t ~ Bernoulli(p_min + (p_max - p_min) v)`` i.i.d. over ``t`` (rate code).
* :func:`rate_poisson`: ``s_t ~ Poisson(rate_max * v * dt)`` counts per bin.
* :func:`latency`: one spike at ``t = round((1 - v) (T - 1))``: larger values spike earlier
  (time-to-first-spike code, Thorpe et al. 2001); values below ``threshold`` do not spike.
* :func:`population`: Gaussian receptive fields ``r_c(v) = exp(-(v - mu_c)^2 / (2 sigma^2))`` over ``C`` centres,
  rate-coded (Pouget, Dayan & Zemel 2000).

Decoders
--------
* :func:`rate_decode`: the class whose neuron spiked most (ties broken by the lowest index, or by ``scores``).
* :func:`first_to_spike_decode`: the class whose neuron spiked first (Bagheri, Simeone & Rajendran 2018);
  ``-1`` when none spiked.
* :func:`population_decode`: the spike-count-weighted mean of the receptive-field centres.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["rate_bernoulli", "rate_poisson", "latency", "population", "rate_decode", "first_to_spike_decode",
           "population_decode", "population_centres"]


def _traced(x) -> bool:
    """True inside jit/vmap, where the value checks of the public boundary cannot run."""
    return isinstance(x, jax.core.Tracer)


def _unit_values(values, name="values"):
    values = jnp.asarray(values)
    if _traced(values):
        return values
    if not bool(jnp.all(jnp.isfinite(values))):
        raise ValueError(f"{name} must be finite.")
    if bool(jnp.any(values < 0)) or bool(jnp.any(values > 1)):
        raise ValueError(f"{name} must lie in [0, 1]; rescale them first (e.g. values / values.max()).")
    return values


def _check_steps(n_steps):
    if int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}.")
    return int(n_steps)


def rate_bernoulli(key, values, n_steps: int, p_max: float = 1.0, p_min: float = 0.0, dtype=None):
    """Bernoulli rate code: ``[n_steps, *values.shape]`` spikes with ``P(spike) = p_min + (p_max - p_min) v``.

    ``values`` must lie in ``[0, 1]``.
    """
    values = _unit_values(values)
    n_steps = _check_steps(n_steps)
    if not (0.0 <= p_min <= p_max <= 1.0):
        raise ValueError(f"need 0 <= p_min <= p_max <= 1, got p_min={p_min}, p_max={p_max}.")
    prob = p_min + (p_max - p_min) * values
    spikes = jax.random.bernoulli(key, prob, (n_steps,) + values.shape)
    return spikes.astype(dtype or jnp.result_type(float))


def rate_poisson(key, values, n_steps: int, max_rate: float, dt: float, dtype=None):
    """Poisson rate code: counts per bin ``~ Poisson(max_rate * v * dt)``, shape ``[n_steps, *values.shape]``."""
    values = _unit_values(values)
    n_steps = _check_steps(n_steps)
    if not (max_rate > 0 and dt > 0):
        raise ValueError(f"max_rate and dt must be positive, got {max_rate}, {dt}.")
    counts = jax.random.poisson(key, max_rate * dt * values, (n_steps,) + values.shape)
    return counts.astype(dtype or jnp.result_type(float))


def latency(values, n_steps: int, threshold: float = 0.0, dtype=None):
    """Time-to-first-spike code: one spike at bin ``round((1 - v) (n_steps - 1))``; none when ``v <= threshold``."""
    values = _unit_values(values)
    n_steps = _check_steps(n_steps)
    times = jnp.round((1.0 - values) * (n_steps - 1)).astype(jnp.int32)
    spikes = (jnp.arange(n_steps).reshape((n_steps,) + (1,) * values.ndim) == times[None]) & (values > threshold)[None]
    return spikes.astype(dtype or jnp.result_type(float))


def population_centres(n_neurons: int, low: float = 0.0, high: float = 1.0):
    """Evenly spaced receptive-field centres and the width ``sigma`` = their spacing."""
    if int(n_neurons) != n_neurons or n_neurons < 2:
        raise ValueError(f"a population needs at least 2 neurons, got {n_neurons!r}.")
    if not high > low:
        raise ValueError(f"need high > low, got low={low}, high={high}.")
    centres = np.linspace(low, high, int(n_neurons))
    return centres, float(centres[1] - centres[0])


def population(key, values, n_steps: int, n_neurons: int, low: float = 0.0, high: float = 1.0, width=None,
               p_max: float = 1.0, dtype=None):
    """Gaussian receptive-field population code, rate-coded: spikes ``[n_steps, *values.shape, n_neurons]``.

    Neuron ``c`` fires with probability ``p_max exp(-(v - mu_c)^2 / (2 width^2))``; ``values`` are clipped to
    never clipped: they must lie in ``[low, high]``.
    """
    values = jnp.asarray(values)
    if not _traced(values) and bool(jnp.any(values < low)) or bool(jnp.any(values > high)) or not bool(jnp.all(jnp.isfinite(values))):
        raise ValueError(f"values must be finite and lie in [low, high] = [{low}, {high}].")
    centres, spacing = population_centres(n_neurons, low, high)
    width = spacing if width is None else float(width)
    if not width > 0:
        raise ValueError(f"width must be positive, got {width}.")
    prob = p_max * jnp.exp(-0.5 * ((values[..., None] - jnp.asarray(centres)) / width) ** 2)
    return rate_bernoulli(key, prob, n_steps, 1.0, 0.0, dtype)


def rate_decode(spikes, scores=None):
    """Class with the most spikes over time (``spikes [T, ..., C]`` -> ``[...]``).

    Ties are broken by ``scores`` ``[..., C]`` when given (e.g. summed firing probabilities), else the lowest index.
    """
    spikes = jnp.asarray(spikes)
    counts = spikes.sum(0)
    if scores is not None:
        scores = jnp.asarray(scores)
        span = jnp.max(jnp.abs(scores)) + 1.0
        counts = counts + 0.5 * scores / span  # strictly less than one spike: only breaks ties
    return jnp.argmax(counts, axis=-1)


def first_to_spike_decode(spikes):
    """Class of the neuron that spiked first (``spikes [T, ..., C]`` -> ``[...]``); ``-1`` if none spiked.

    Simultaneous first spikes are resolved to the lowest index.
    """
    spikes = jnp.asarray(spikes)
    n_steps = spikes.shape[0]
    t = jnp.arange(n_steps).reshape((n_steps,) + (1,) * (spikes.ndim - 1))
    first = jnp.min(jnp.where(spikes > 0, t, n_steps), axis=0)  # [..., C]
    winner = jnp.argmin(first, axis=-1)
    return jnp.where(jnp.min(first, axis=-1) < n_steps, winner, -1)


def population_decode(spikes, centres):
    """Spike-count-weighted mean of the centres (``spikes [T, ..., C]`` -> ``[...]``); NaN-free: raises if silent."""
    counts = jnp.asarray(spikes).sum(0)
    total = counts.sum(-1)
    if not _traced(total) and bool(jnp.any(total == 0)):
        raise ValueError("population_decode: some populations never spiked; use more time steps or a larger p_max.")
    return counts @ jnp.asarray(centres, counts.dtype) / total
