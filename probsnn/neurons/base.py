"""The neuron protocol, and the per-neuron parameter checks and broadcasts shared by the neuron types.

A neuron type is a :class:`Neuron`: a NamedTuple of pure functions ``step(params, state, current) ->
(state, spikes)``, ``initial_state(params, batch_shape)`` and ``check_params(params)``. Parameters are
NamedTuples of per-neuron vectors, shape (N,); states are NamedTuples of arrays ``[..., N]`` with a
``spikes`` field. The layers of :mod:`probsnn.neurons.layers` unroll any neuron with ``lax.scan``,
time-major; the learners (BPTT, e-prop, OSTL) only use these three functions.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax.numpy as jnp
import numpy as np

from .._checks import concrete, positive_int

__all__ = ["Neuron", "DECAY_BOUNDS", "POSITIVE_BOUNDS", "NON_NEGATIVE_BOUNDS", "check_per_neuron_params",
           "per_neuron_params", "zeros_initial_state"]


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
        but with a hand-written reverse pass (:func:`probsnn.neurons.lif.lif_scan`). Layers use it for
        feed-forward inputs; None means ``lax.scan`` of ``step``.
    """

    name: str
    step: Callable
    initial_state: Callable
    check_params: Callable
    elementwise: bool = True
    scan: Callable | None = None


# Bounds of per-neuron parameters, as keyword arguments of ``_check_vector``.
DECAY_BOUNDS = dict(low=0.0, high=1.0)  # (0, 1]
POSITIVE_BOUNDS = dict(low=0.0)  # (0, inf)
NON_NEGATIVE_BOUNDS = dict(low=0.0, low_open=False)  # [0, inf)


def _check_vector(name, value, n=None, low=None, high=None, low_open=True, high_closed=True):
    arr = concrete(value)
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


def check_per_neuron_params(params, cls, bounds):
    """Check that ``params`` is a ``cls`` whose fields are 1-D, equally long and within ``bounds``.

    ``bounds`` is a sequence of ``(field, kwargs)`` with the bounds of each field (e.g.
    :data:`DECAY_BOUNDS`; ``{}`` for finite only); the first field fixes the number of neurons.
    Returns ``params``.
    """
    if not isinstance(params, cls):
        raise ValueError(f"expected {cls.__name__}({', '.join(cls._fields)}), got {type(params).__name__}.")
    first = getattr(params, bounds[0][0])
    n = np.shape(first)[0] if np.ndim(first) == 1 else None
    for name, limits in bounds:
        _check_vector(name, getattr(params, name), n=n, **limits)
    return params


def per_neuron_params(cls, n_neurons, values, dtype):
    """``cls`` with every field a length-``n_neurons`` vector (scalars broadcast), validated by the caller."""
    n = positive_int("n_neurons", n_neurons)
    dtype = dtype or jnp.result_type(float)
    for name, value in zip(cls._fields, values):
        array = concrete(value)
        if isinstance(value, (bool, np.bool_, str)) or (array is not None and array.dtype.kind not in "iuf"):
            raise ValueError(f"{name} must be a number or a ({n},) array of numbers, got {value!r}.")
        if np.ndim(value) not in (0, 1) or (np.ndim(value) == 1 and np.shape(value)[0] != n):
            raise ValueError(f"{name} must be a scalar or have shape ({n},), got shape {np.shape(value)}.")
    return cls(*(jnp.full((n,), v, dtype) if np.ndim(v) == 0 else jnp.asarray(v, dtype) for v in values))


def zeros_initial_state(state_cls):
    """``initial_state(params, batch_shape=())``: a ``state_cls`` of zeros, shape ``[*batch_shape, N]``.

    ``N`` and the dtype are those of the first parameter field.
    """

    def initial_state(params, batch_shape=()):
        leaf = params[0]
        shape = tuple(batch_shape) + tuple(np.shape(leaf))
        dtype = jnp.result_type(leaf)
        return state_cls(*(jnp.zeros(shape, dtype) for _ in state_cls._fields))

    return initial_state
