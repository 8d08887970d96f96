r"""Few-spike (FS) neurons (Stockl & Maass, *Nat. Mach. Intell.* 3:230-238, 2021).

An FS-neuron encodes an analog input :math:`x` in at most :math:`K` spikes. With :math:`v(1) = x`,

.. math::

    z(t) = H\big(v(t) - T(t)\big), \qquad v(t+1) = v(t) - h(t)\, z(t), \qquad
    \hat f(x) = \sum_{t=1}^{K} d(t)\, z(t),

for :math:`t = 1..K`, with per-step thresholds :math:`T(t)`, reset amounts :math:`h(t)` and output
weights :math:`d(t)` (the next layer receives the spikes weighted by :math:`d(t)`). Fitting the
parameters to an activation function and converting networks to FS-neurons is
:mod:`probsnn.conversion.fewspike`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import concrete
from ..surrogates import heaviside

__all__ = ["FSParams", "check_fs_params", "fs_neuron"]


class FSParams(NamedTuple):
    """FS-neuron parameters, each of shape (K,): ``threshold`` T(t), ``reset`` h(t), ``weight`` d(t)."""

    threshold: Any
    reset: Any
    weight: Any


def check_fs_params(params: FSParams) -> FSParams:
    """Validate :class:`FSParams` (three finite arrays of one shape (K,), K >= 1); returns them."""
    if not isinstance(params, FSParams):
        raise ValueError(f"expected FSParams(threshold, reset, weight), got {type(params).__name__}.")
    shapes = {np.shape(p) for p in params}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1 or next(iter(shapes))[0] < 1:
        raise ValueError("threshold, reset and weight must all have shape (K,), K >= 1; "
                         f"got {[np.shape(p) for p in params]}.")
    for p in params:
        arr = concrete(p)
        if arr is not None and not np.all(np.isfinite(arr)):
            raise ValueError("FS parameters must be finite.")
    return params


def fs_neuron(params: FSParams, x, spike_fn=None):
    r"""Run the FS-neuron on ``x`` (any shape): returns :math:`(\hat f(x), z)` with spikes ``z`` ``[K, *x.shape]``."""
    spike_fn = heaviside if spike_fn is None else spike_fn

    def body(v, p):
        t_, h_, d_ = p
        z = spike_fn(v - t_)
        return v - h_ * z, (z, d_ * z)

    _, (z, out) = jax.lax.scan(body, jnp.asarray(x), tuple(params))
    return out.sum(0), z
