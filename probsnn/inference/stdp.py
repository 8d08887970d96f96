r"""Spike-timing-dependent plasticity (STDP) with traces, as pure functions.

Pair-based STDP (Song, Miller & Abbott, *Nat. Neurosci.* 3:919, 2000), in the trace formulation of
Morrison, Diesmann & Gerstner (*Biol. Cybern.* 98:459, 2008). Each pre-synaptic neuron :math:`j` keeps
a trace :math:`x_j` and each post-synaptic neuron :math:`i` a trace :math:`y_i`; per time bin

.. math::

    x_{j,t} &= e^{-\Delta t/\tau_+}\, x_{j,t-1} + s^\text{pre}_{j,t}, \qquad
    y_{i,t} = e^{-\Delta t/\tau_-}\, y_{i,t-1} + s^\text{post}_{i,t}, \\
    \Delta w_{ij,t} &= A_+\, f_+(w_{ij})\, s^\text{post}_{i,t}\, x_{j,t}
                     \;-\; A_-\, f_-(w_{ij})\, s^\text{pre}_{j,t}\, e^{-\Delta t/\tau_-} y_{i,t-1},

so that, summed over a spike train, every pair (pre at :math:`t_j`, post at :math:`t_i`) contributes
:math:`A_+ e^{-(t_i-t_j)/\tau_+}` if :math:`t_j \le t_i` and :math:`-A_- e^{-(t_j-t_i)/\tau_-}` if
:math:`t_i < t_j` ("all-to-all" pairing; simultaneous spikes count as causal). With
``pairing="nearest"`` the traces are reset to 1 by a spike instead of incremented, so only the
nearest preceding spike counts. Weight dependence: ``"additive"`` (Song et al. 2000:
:math:`f_\pm = 1`, weights then kept in :math:`[w_\min, w_\max]` by the rule's hard bounds) or
``"multiplicative"`` (soft bounds, :math:`f_+ = w_\max - w`, :math:`f_- = w - w_\min`; van Rossum et
al. 2000).

:func:`windowed_stdp_update` is the post-triggered soft-bound rule used in winner-take-all learning
(Querlioz et al., *IEEE Trans. Nanotechnol.* 12:288, 2013): at a post-synaptic spike, a synapse whose
pre-synaptic neuron fired within the window is potentiated towards 1 and every other synapse is
depressed towards 0. It is the expected update of the binary stochastic rule of
:mod:`probsnn.hardware.binary` (Suri et al. 2013; Yousefzadeh et al. 2018).

Weights are ``[n_post, n_pre]``; spike arrays are time-major ``[T, n_pre]`` / ``[T, n_post]``.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import (
    check_binary_entries,
    check_finite_entries,
    check_float,
    concrete,
    finite_array,
    one_of,
    positive_float,
)

__all__ = [
    "STDPParams",
    "STDPTraces",
    "init_traces",
    "stdp_step",
    "run_stdp",
    "pair_sum_reference",
    "WindowedSTDPParams",
    "window_kernel",
    "windowed_stdp_update",
    "check_post_triggered",
]


@dataclasses.dataclass(frozen=True)
class STDPParams:
    """Pair-based STDP constants (defaults: Song et al. 2000, with ``a_minus/a_plus = 1.05``).

    ``a_plus``, ``a_minus``: amplitudes (> = 0); ``tau_plus``, ``tau_minus``: trace time constants in
    bins (> 0; 20 ms at 1 ms bins); ``w_min < w_max``: weight bounds; ``weight_dependence``:
    ``"additive"`` or ``"multiplicative"``; ``pairing``: ``"all"`` (all-to-all) or ``"nearest"``.
    """

    a_plus: float = 0.005
    a_minus: float = 0.00525
    tau_plus: float = 20.0
    tau_minus: float = 20.0
    w_min: float = 0.0
    w_max: float = 1.0
    weight_dependence: str = "additive"
    pairing: str = "all"

    def __post_init__(self):
        for name in ("a_plus", "a_minus"):
            check_float(f"STDPParams.{name}", getattr(self, name), low=0.0)
        for name in ("tau_plus", "tau_minus"):
            positive_float(f"STDPParams.{name} (a time constant in bins)", getattr(self, name))
        w_min = check_float("STDPParams.w_min", self.w_min)
        if not w_min < check_float("STDPParams.w_max", self.w_max):
            raise ValueError(f"STDPParams needs w_min < w_max, got {self.w_min} and {self.w_max}.")
        one_of("STDPParams.weight_dependence", self.weight_dependence, ("additive", "multiplicative"))
        one_of("STDPParams.pairing", self.pairing, ("all", "nearest"))


class STDPTraces(NamedTuple):
    """Pre-synaptic traces ``pre`` ``[n_pre]`` and post-synaptic traces ``post`` ``[n_post]``."""

    pre: Any
    post: Any


def init_traces(n_pre: int, n_post: int, dtype=None) -> STDPTraces:
    """Zero traces."""
    dtype = dtype or jnp.result_type(float)
    return STDPTraces(jnp.zeros((n_pre,), dtype), jnp.zeros((n_post,), dtype))


def _advance(trace, spikes, decay, pairing):
    if pairing == "all":
        return decay * trace + spikes
    return jnp.where(spikes > 0, 1.0, decay * trace)


def stdp_step(params: STDPParams, weights, traces: STDPTraces, pre_spikes, post_spikes):
    """One bin of pair-based STDP; returns ``(weights, traces)`` (see the module equations).

    The additive rule keeps weights in ``[w_min, w_max]`` (the rule's hard bounds, Song et al. 2000).
    """
    pre = _advance(traces.pre, pre_spikes, math.exp(-1.0 / params.tau_plus), params.pairing)
    decay_minus = math.exp(-1.0 / params.tau_minus)
    post_before = decay_minus * traces.post  # post trace at this bin, before this bin's post spikes
    if params.weight_dependence == "additive":
        f_plus = f_minus = 1.0
    else:
        f_plus, f_minus = params.w_max - weights, weights - params.w_min
    dw = params.a_plus * f_plus * jnp.outer(post_spikes, pre) - params.a_minus * f_minus * jnp.outer(
        post_before, pre_spikes
    )
    weights = weights + dw
    if params.weight_dependence == "additive":
        weights = jnp.clip(weights, params.w_min, params.w_max)
    post = _advance(traces.post, post_spikes, decay_minus, params.pairing)
    return weights, STDPTraces(pre, post)


def _check_trains(weights, pre_train, post_train):
    w, pre, post = (np.shape(a) if not isinstance(a, (str, bytes)) else () for a in (weights, pre_train, post_train))
    if len(w) != 2:
        raise ValueError(f"weights must be [n_post, n_pre], got shape {w}.")
    if len(pre) != 2 or len(post) != 2 or pre[0] != post[0] or pre[0] == 0:
        raise ValueError(f"spike trains pre_train [T, n_pre] and post_train [T, n_post] must be time-major with "
                         f"equal T >= 1, got {pre}, {post}.")
    if pre[1] != w[1] or post[1] != w[0]:
        raise ValueError(f"weights {w} must be [n_post={post[1]}, n_pre={pre[1]}].")
    for name, value in (("pre_train", pre_train), ("post_train", post_train)):
        value = concrete(value)
        if value is not None:
            check_binary_entries(name, value, fix="; pass 0/1 spike trains (a bin holds at most one spike)")
    value = concrete(weights)
    if value is not None:
        finite_array("weights", value)


def run_stdp(params: STDPParams, weights, pre_train, post_train, traces: STDPTraces | None = None):
    """Apply STDP over whole spike trains ``[T, n_pre]``, ``[T, n_post]`` with ``lax.scan``.

    Returns ``(weights, traces)`` after the last bin.
    """
    if not isinstance(params, STDPParams):
        raise ValueError(f"params must be STDPParams, got {type(params).__name__}.")
    _check_trains(weights, pre_train, post_train)
    value = concrete(weights)
    if value is not None and np.any((value < params.w_min) | (value > params.w_max)):
        raise ValueError(f"weights must lie in [w_min, w_max] = [{params.w_min}, {params.w_max}] (the rule's "
                         f"bounds), got range [{value.min()}, {value.max()}]; clip them or widen the bounds.")
    weights = jnp.asarray(weights)
    if traces is None:
        traces = init_traces(weights.shape[1], weights.shape[0], weights.dtype)

    def body(carry, spikes):
        w, tr = carry
        return stdp_step(params, w, tr, *spikes), None

    (weights, traces), _ = jax.lax.scan(
        body, (weights, traces), (jnp.asarray(pre_train, weights.dtype), jnp.asarray(post_train, weights.dtype))
    )
    return weights, traces


def pair_sum_reference(params: STDPParams, pre_train, post_train):
    r"""Total additive all-to-all weight change by explicit enumeration of spike pairs (NumPy, no bounds).

    :math:`\Delta w_{ij} = \sum_{t_i, t_j} [t_j \le t_i] A_+ e^{-(t_i - t_j)/\tau_+}
    - [t_i < t_j] A_- e^{-(t_j - t_i)/\tau_-}`. An independent reference for tests.
    """
    pre_train, post_train = np.asarray(pre_train), np.asarray(post_train)
    dw = np.zeros((post_train.shape[1], pre_train.shape[1]))
    for i in range(post_train.shape[1]):
        for j in range(pre_train.shape[1]):
            for ti in np.flatnonzero(post_train[:, i]):
                for tj in np.flatnonzero(pre_train[:, j]):
                    if tj <= ti:
                        dw[i, j] += params.a_plus * math.exp(-(ti - tj) / params.tau_plus)
                    else:
                        dw[i, j] -= params.a_minus * math.exp(-(tj - ti) / params.tau_minus)
    return dw


@dataclasses.dataclass(frozen=True)
class WindowedSTDPParams:
    r"""Post-triggered soft-bound STDP for weights in :math:`[0, 1]`.

    ``a_pot``: potentiation amplitude :math:`\gamma_\text{pot}\in[0,1]`; ``a_dep``: depression amplitude
    :math:`\gamma_\text{dep}\in[0,1]`; ``tau``: decay of the potentiation kernel (bins; ``inf`` = flat);
    ``window``: a pre spike at most ``window`` bins before the post spike is "in the window";
    ``kernel``: ``"exp"`` (:math:`k(\Delta t) = e^{-\Delta t/\tau}`) or ``"box"`` (:math:`k = 1`).
    """

    a_pot: float = 0.1
    a_dep: float = 0.05
    tau: float = 5.0
    window: float = 10.0
    kernel: str = "exp"

    def __post_init__(self):
        for name in ("a_pot", "a_dep"):
            check_float(f"WindowedSTDPParams.{name} (a probability/amplitude)", getattr(self, name), 0.0, 1.0)
        check_float("WindowedSTDPParams.tau (bins; inf for a flat kernel)", self.tau, low=0.0, low_open=True,
                    allow_inf=True)
        check_float("WindowedSTDPParams.window (bins)", self.window, low=0.0, allow_inf=True)
        one_of("WindowedSTDPParams.kernel", self.kernel, ("exp", "box"))


def check_post_triggered(params: WindowedSTDPParams, weights, time_since_pre, post_spikes,
                         binary_weights: bool = False) -> None:
    """Validate the arguments of a post-triggered STDP event (concrete values only; traced ones, inside a
    jitted network, are left alone): ``weights`` ``[n_post, n_pre]`` (``[n_post, n_pre, K]`` for binary
    compound synapses) in [0, 1] (0/1 if ``binary_weights``), ``time_since_pre`` ``[n_pre]`` >= 0 (``inf``
    for no spike yet, never NaN) and ``post_spikes`` ``[n_post]`` 0/1."""
    if not isinstance(params, WindowedSTDPParams):
        raise ValueError(f"params must be WindowedSTDPParams, got {type(params).__name__}.")
    ranks = (2, 3) if binary_weights else (2,)
    shape = np.shape(weights) if not isinstance(weights, (str, bytes)) else ()
    if len(shape) not in ranks:
        devices = " (or [n_post, n_pre, K] devices)" if binary_weights else ""
        raise ValueError(f"weights must be [n_post, n_pre]{devices}, got shape {shape}.")
    n_post, n_pre = shape[:2]
    for name, value, want in (("time_since_pre", time_since_pre, n_pre), ("post_spikes", post_spikes, n_post)):
        if isinstance(value, (str, bytes)) or np.shape(value) != (want,):
            raise ValueError(f"{name} must have shape ({want},) for weights of shape {shape}, got "
                             f"{np.shape(value) if not isinstance(value, (str, bytes)) else repr(value)}.")
    time_since_pre, post_spikes, weights = concrete(time_since_pre), concrete(post_spikes), concrete(weights)
    if time_since_pre is not None:
        time_since_pre = finite_array("time_since_pre", np.where(np.isposinf(time_since_pre), 0.0, time_since_pre))
        if np.any(time_since_pre < 0):
            raise ValueError("time_since_pre must be >= 0 bins since the last pre spike (inf if none), got "
                             f"{time_since_pre.min()}.")
    if post_spikes is not None:
        check_binary_entries("post_spikes", post_spikes)
    if weights is not None and binary_weights:
        check_binary_entries("weights", weights, fix="; binary synapses hold 0 or 1")
    elif weights is not None:
        check_finite_entries("weights", weights)
        if np.any((weights < 0) | (weights > 1)):
            raise ValueError(f"weights must lie in [0, 1] for soft-bound STDP, got range [{weights.min()}, "
                             f"{weights.max()}].")


def window_kernel(params: WindowedSTDPParams, time_since_pre):
    """``(in_window, k)``: whether the last pre spike is within the window, and the kernel value there."""
    time_since_pre = jnp.asarray(time_since_pre)
    in_window = time_since_pre <= params.window
    if params.kernel == "box":
        k = jnp.ones_like(time_since_pre)
    else:
        k = jnp.exp(-jnp.where(in_window, time_since_pre, 0.0) / params.tau)
    return in_window, k


def windowed_stdp_update(params: WindowedSTDPParams, weights, time_since_pre, post_spikes):
    r"""Deterministic post-triggered STDP, :math:`w \in [0,1]`, ``weights`` ``[n_post, n_pre]``:

    .. math::

        \Delta w_{ij} = s^\text{post}_i \bigl( [\Delta t_j \le W]\, \gamma_\text{pot}\, k(\Delta t_j)\,(1 - w_{ij})
        - [\Delta t_j > W]\, \gamma_\text{dep}\, w_{ij} \bigr),

    with :math:`\Delta t_j` the bins since pre neuron :math:`j`'s last spike (``inf`` if none).
    Returns the new weights (they stay in [0, 1] without clipping).
    """
    check_post_triggered(params, weights, time_since_pre, post_spikes)
    in_window, k = window_kernel(params, time_since_pre)
    post = jnp.asarray(post_spikes)[:, None]
    dw = jnp.where(in_window[None, :], params.a_pot * k[None, :] * (1.0 - weights), -params.a_dep * weights)
    return weights + post * dw
