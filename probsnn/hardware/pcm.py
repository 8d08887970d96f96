r"""Statistical model of phase-change-memory (PCM) devices: programming noise, drift, 1/f read noise.

The model is the one of Nandakumar et al. (2019) and Joshi et al., *Accurate deep neural network
inference using computational phase-change memory*, Nat. Commun. 11:2473 (2020), as implemented by
IBM's aihwkit (``PCMLikeNoiseModel``). For a device programmed to the target conductance
:math:`g_T \in [0, g_\max]` with :math:`r = g_T / g_\max`:

Programming noise (Joshi et al. 2020, Methods, fitted polynomial, in uS for :math:`g_\max = 25`\ uS)

.. math::

    g_\text{prog} = \max\bigl(0,\; g_T + \sigma_\text{prog}(r)\,\xi\bigr),\qquad
    \sigma_\text{prog}(r) = (c_0 + c_1 r + c_2 r^2)\, g_\max / 25, \quad \xi \sim \mathcal N(0,1),

with :math:`(c_0, c_1, c_2) = (0.26348, 1.9650, -1.1731)`.

Conductance drift with a per-device exponent :math:`\nu` (Joshi et al. 2020, Fig. 2)

.. math::

    g_\text{drift}(t) = g_\text{prog} \Bigl(\frac{t + t_0}{t_0}\Bigr)^{-\nu},\qquad
    \nu = \max(\nu_\min, \mu_\nu(r) + \sigma_\nu(r)\,\zeta),

    \mu_\nu = \operatorname{clip}(-0.0155 \ln r + 0.0244,\, 0.049,\, 0.1),\qquad
    \sigma_\nu = \operatorname{clip}(-0.0125 \ln r - 0.0059,\, 0.008,\, 0.045),

where :math:`t` is the time elapsed since the first read :math:`t_0 = 20` s after programming
(aihwkit's ``t_inference``; ``t = 0`` is "right after programming").

Accumulated 1/f read noise (Joshi et al. 2020, Methods)

.. math::

    g(t) = \max\Bigl(0,\; g_\text{drift}(t) + |g_\text{drift}(t)|\, Q_s(r_p)\,
    \sqrt{\ln\frac{t + t_0 + t_\text{read}}{2\, t_\text{read}}}\;\eta\Bigr),\qquad
    Q_s(r_p) = \min\bigl(0.2,\; 0.0088 / \max(r_p, 10^{-3})^{0.65}\bigr),

with :math:`r_p = |g_\text{prog}|/g_\max`, :math:`t_\text{read} = 250` ns and :math:`\eta \sim \mathcal N(0,1)`.

Beyond the Joshi model (all off by default): a finite number of programmable conductance levels,
multiplicative device-to-device variability of the programmed conductance, and stuck-at faults
(devices stuck at 0, "stuck-off", or at :math:`g_\max`, "stuck-on"; stuck devices neither drift nor
show read noise). Every constant is a field of :class:`PCMConfig`.

All functions are pure; :class:`PCMConfig` is a frozen (hashable) dataclass so it can be a static
argument of ``jax.jit``. Conductances are in microsiemens, times in seconds.
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_float, check_int, finite_array, positive_float

__all__ = [
    "PCMConfig",
    "PCMDevices",
    "programming_noise_std",
    "drift_exponent_distribution",
    "read_noise_coefficient",
    "quantise_levels",
    "program_devices",
    "read_devices",
    "simulate_conductance",
    "quantise_uniform",
    "ONE_HOUR",
    "ONE_DAY",
    "ONE_YEAR",
]

ONE_HOUR = 3600.0
ONE_DAY = 86400.0
ONE_YEAR = 365.25 * 86400.0


@dataclasses.dataclass(frozen=True)
class PCMConfig:
    """Every constant of the PCM model. Defaults are those of Joshi et al. (2020) / aihwkit.

    Parameters
    ----------
    g_max : float
        Maximal programmable conductance in uS (25 uS; Joshi et al. 2020).
    prog_noise_coeffs : (c0, c1, c2)
        Programming-noise polynomial in uS at ``g_max = 25`` (0.26348, 1.9650, -1.1731; Joshi et al. 2020).
    prog_noise_scale : float
        Multiplier of the programming noise (1 = the model; 0 = off).
    t0 : float
        Time of the first read after programming, reference for drift (20 s; Joshi et al. 2020).
    t_read : float
        Read duration entering the 1/f noise (250 ns; Joshi et al. 2020 / aihwkit).
    drift_mu_coeffs, drift_mu_bounds : (a, b), (lo, hi)
        :math:`\\mu_\\nu = \\mathrm{clip}(a \\ln r + b, lo, hi)`; (-0.0155, 0.0244), (0.049, 0.1).
    drift_sigma_coeffs, drift_sigma_bounds : (a, b), (lo, hi)
        :math:`\\sigma_\\nu = \\mathrm{clip}(a \\ln r + b, lo, hi)`; (-0.0125, -0.0059), (0.008, 0.045).
    nu_min : float
        Lower bound of the sampled drift exponent (0, aihwkit clamps negative exponents).
    drift_scale : float
        Multiplier of the drift exponent (1 = the model; 0 = no drift).
    read_noise_q_coeff, read_noise_q_exponent, read_noise_q_max, read_noise_r_min : float
        :math:`Q_s = \\min(q_\\max, q / \\max(r_p, r_\\min)^{e})` with (0.0088, 0.65, 0.2, 1e-3).
    read_noise_scale : float
        Multiplier of the read noise (1 = the model; 0 = off).
    n_levels : int or None
        Number of programmable conductance levels in ``[0, g_max]`` (None = continuous, the Joshi model).
    d2d_sigma : float
        Relative std of a per-device multiplicative gain on the programmed conductance (0 = off).
    p_stuck_off, p_stuck_on : float
        Probabilities that a device is stuck at 0 or at ``g_max`` (0 = off).
    """

    g_max: float = 25.0
    prog_noise_coeffs: tuple = (0.26348, 1.9650, -1.1731)
    prog_noise_scale: float = 1.0
    t0: float = 20.0
    t_read: float = 250e-9
    drift_mu_coeffs: tuple = (-0.0155, 0.0244)
    drift_mu_bounds: tuple = (0.049, 0.1)
    drift_sigma_coeffs: tuple = (-0.0125, -0.0059)
    drift_sigma_bounds: tuple = (0.008, 0.045)
    nu_min: float = 0.0
    drift_scale: float = 1.0
    read_noise_q_coeff: float = 0.0088
    read_noise_q_exponent: float = 0.65
    read_noise_q_max: float = 0.2
    read_noise_r_min: float = 1e-3
    read_noise_scale: float = 1.0
    n_levels: Any = None
    d2d_sigma: float = 0.0
    p_stuck_off: float = 0.0
    p_stuck_on: float = 0.0

    def __post_init__(self):
        for name in ("g_max", "t0", "t_read", "read_noise_q_coeff", "read_noise_r_min", "read_noise_q_max"):
            positive_float(f"PCMConfig.{name}", getattr(self, name))
        for name in ("prog_noise_scale", "drift_scale", "read_noise_scale", "d2d_sigma", "read_noise_q_exponent"):
            check_float(f"PCMConfig.{name}", getattr(self, name), low=0.0)
        for name, size in (("prog_noise_coeffs", 3), ("drift_mu_coeffs", 2), ("drift_mu_bounds", 2),
                           ("drift_sigma_coeffs", 2), ("drift_sigma_bounds", 2)):
            values = finite_array(f"PCMConfig.{name}", getattr(self, name))
            if values.shape != (size,):
                raise ValueError(f"PCMConfig.{name} must hold {size} numbers"
                                 f"{' (c0, c1, c2)' if size == 3 else ' (a pair)'}, got {getattr(self, name)!r}.")
        for name in ("drift_mu_bounds", "drift_sigma_bounds"):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise ValueError(f"PCMConfig.{name} must be (low, high) with low <= high, got {(lo, hi)}.")
        for name in ("p_stuck_off", "p_stuck_on"):
            check_float(f"PCMConfig.{name} (a probability)", getattr(self, name), 0.0, 1.0)
        if self.p_stuck_off + self.p_stuck_on > 1.0:
            raise ValueError("PCMConfig.p_stuck_off + p_stuck_on must not exceed 1.")
        if self.n_levels is not None:
            check_int("PCMConfig.n_levels (None for continuous conductances)", self.n_levels, minimum=2)

    @classmethod
    def noise_free(cls, **changes) -> "PCMConfig":
        """Ideal devices: no programming noise, no drift, no read noise (other fields at their defaults)."""
        base = dict(prog_noise_scale=0.0, drift_scale=0.0, read_noise_scale=0.0)
        base.update(changes)
        return cls(**base)


class PCMDevices(NamedTuple):
    """State of programmed devices (all arrays of the same shape).

    ``g_prog``: programmed conductance (uS); ``nu``: drift exponent; ``stuck``: bool mask of stuck
    devices; ``stuck_value``: the conductance a stuck device holds (0 or ``g_max``).
    """

    g_prog: Any
    nu: Any
    stuck: Any
    stuck_value: Any


def programming_noise_std(g_target, config: PCMConfig = PCMConfig()):
    r""":math:`\sigma_\text{prog}(r) = (c_0 + c_1 r + c_2 r^2)\, g_\max/25` (uS), times ``prog_noise_scale``."""
    r = jnp.asarray(g_target) / config.g_max
    c0, c1, c2 = config.prog_noise_coeffs
    return config.prog_noise_scale * (c0 + c1 * r + c2 * r * r) * config.g_max / 25.0


def drift_exponent_distribution(g_target, config: PCMConfig = PCMConfig()):
    r"""Mean and std of the drift exponent, :math:`(\mu_\nu(r), \sigma_\nu(r))`, times ``drift_scale``.

    :math:`\ln r` is taken at :math:`\max(r, 10^{-12})` so that :math:`r = 0` gives the clip bounds.
    """
    r = jnp.maximum(jnp.asarray(g_target) / config.g_max, 1e-12)
    log_r = jnp.log(r)
    a, b = config.drift_mu_coeffs
    mu = jnp.clip(a * log_r + b, *config.drift_mu_bounds)
    a, b = config.drift_sigma_coeffs
    sigma = jnp.clip(a * log_r + b, *config.drift_sigma_bounds)
    return config.drift_scale * mu, config.drift_scale * sigma


def read_noise_coefficient(g_prog, config: PCMConfig = PCMConfig()):
    r""":math:`Q_s(r_p) = \min(0.2, 0.0088 / \max(r_p, 10^{-3})^{0.65})` with :math:`r_p = |g_\text{prog}|/g_\max`."""
    r = jnp.maximum(jnp.abs(jnp.asarray(g_prog)) / config.g_max, config.read_noise_r_min)
    return jnp.minimum(config.read_noise_q_coeff / r**config.read_noise_q_exponent, config.read_noise_q_max)


def quantise_levels(g_target, config: PCMConfig = PCMConfig()):
    """Round target conductances to the nearest of ``n_levels`` equidistant levels in ``[0, g_max]``."""
    g_target = jnp.asarray(g_target)
    if config.n_levels is None:
        return g_target
    step = config.g_max / (config.n_levels - 1)
    return jnp.round(g_target / step) * step


def quantise_uniform(x, bits, bound):
    r"""Uniform mid-tread quantiser of a DAC/ADC with ``bits`` bits over ``[-bound, bound]``.

    :math:`q(x) = \Delta \cdot \mathrm{round}(\mathrm{clip}(x, -b, b)/\Delta)`,
    :math:`\Delta = b/(2^{\text{bits}-1}-1)`.
    Saturation at :math:`\pm b` is the converter's physical behaviour (aihwkit ``inp_bound``/``out_bound``).
    ``bits=None`` returns ``x`` unchanged.
    """
    if bits is None:
        return x
    levels = 2 ** (int(bits) - 1) - 1
    step = bound / levels
    return jnp.round(jnp.clip(x, -bound, bound) / step) * step


def _check_targets(g_target, config):
    if isinstance(g_target, jax.core.Tracer):  # traced values: skip the concrete checks
        return
    arr = finite_array("g_target (target conductances, uS)", g_target)
    if np.any(arr < 0) or np.any(arr > config.g_max * (1 + 1e-12)):
        raise ValueError(
            f"target conductances g_target must lie in [0, g_max = {config.g_max}] uS, got range "
            f"[{arr.min():.4g}, {arr.max():.4g}]; map weights with probsnn.hardware.crossbar.map_weights."
        )


def _check_time(t):
    if not isinstance(t, jax.core.Tracer):
        check_float("t (time after programming, seconds)", t, low=0.0)


def _program(key, g_target, config):
    k_noise, k_nu, k_d2d, k_stuck = jax.random.split(key, 4)
    g_target = jnp.asarray(g_target, dtype=jnp.result_type(float))
    g_level = quantise_levels(g_target, config)
    shape, dtype = g_level.shape, g_level.dtype
    g_prog = g_level + programming_noise_std(g_level, config) * jax.random.normal(k_noise, shape, dtype)
    if config.d2d_sigma > 0:
        g_prog = g_prog * (1.0 + config.d2d_sigma * jax.random.normal(k_d2d, shape, dtype))
    g_prog = jnp.maximum(g_prog, 0.0)
    mu_nu, sigma_nu = drift_exponent_distribution(g_level, config)
    nu = jnp.maximum(mu_nu + sigma_nu * jax.random.normal(k_nu, shape, dtype), config.nu_min * config.drift_scale)
    u = jax.random.uniform(k_stuck, shape, dtype)
    stuck_off = u < config.p_stuck_off
    stuck_on = (u >= config.p_stuck_off) & (u < config.p_stuck_off + config.p_stuck_on)
    stuck = stuck_off | stuck_on
    stuck_value = jnp.where(stuck_on, config.g_max, 0.0).astype(dtype)
    return PCMDevices(g_prog, nu, stuck, stuck_value)


_program_jit = jax.jit(_program, static_argnums=2)


def program_devices(key, g_target, config: PCMConfig = PCMConfig()) -> PCMDevices:
    """Program devices to ``g_target`` (uS, in ``[0, g_max]``): level quantisation, variability, noise, faults.

    Returns the :class:`PCMDevices` state; :func:`read_devices` reads it at a time after programming.
    """
    if not isinstance(config, PCMConfig):
        raise ValueError(f"config must be a PCMConfig, got {type(config).__name__}.")
    _check_targets(g_target, config)
    return _program_jit(key, g_target, config)


def _read(key, devices, t, config):
    g_prog, nu = devices.g_prog, devices.nu
    dtype = g_prog.dtype
    t_eff = jnp.asarray(t, dtype) + config.t0
    g_drift = g_prog * (t_eff / config.t0) ** (-nu)
    q_s = read_noise_coefficient(g_prog, config)
    sig = config.read_noise_scale * q_s * jnp.sqrt(jnp.log((t_eff + config.t_read) / (2.0 * config.t_read)))
    g = g_drift + jnp.abs(g_drift) * sig * jax.random.normal(key, g_prog.shape, dtype)
    g = jnp.maximum(g, 0.0)
    return jnp.where(devices.stuck, devices.stuck_value, g)


_read_jit = jax.jit(_read, static_argnums=3)


def read_devices(key, devices: PCMDevices, t, config: PCMConfig = PCMConfig()):
    r"""Conductances (uS) read ``t`` seconds after programming: drift :math:`((t+t_0)/t_0)^{-\nu}` and 1/f noise."""
    if not isinstance(devices, PCMDevices):
        raise ValueError(f"devices must be PCMDevices from program_devices, got {type(devices).__name__}.")
    _check_time(t)
    return _read_jit(key, devices, t, config)


def simulate_conductance(key, g_target, t, config: PCMConfig = PCMConfig()):
    """Program devices to ``g_target`` and read them once at time ``t`` (seconds after programming)."""
    k_prog, k_read = jax.random.split(key)
    return read_devices(k_read, program_devices(k_prog, g_target, config), t, config)
