r"""Emulated PCM crossbars: differential-pair weight mapping, realising any pytree of weights, training.

Mapping (Joshi et al., Nat. Commun. 11:2473, 2020; aihwkit). A weight array :math:`W` is scaled by
:math:`w_\max = \max |W|` (per array, or per output column) and held by a differential pair of PCM
devices, :math:`g^+ = g_\max \max(W, 0)/w_\max`, :math:`g^- = g_\max \max(-W, 0)/w_\max`, read back as

.. math::

    \hat W(t) = \alpha(t)\, \frac{w_\max}{g_\max}\, \bigl(g^+(t) - g^-(t)\bigr),

with the devices following :mod:`probsnn.hardware.pcm`. Global drift compensation (Joshi et al. 2020;
aihwkit ``GlobalDriftCompensation``): right after programming the response of the array to a probe
input of ones is recorded, :math:`c_0 = \sum_k |(\mathbf 1^\top \hat W(0))_k|`, and at read time
:math:`\alpha(t) = c_0 / \sum_k |(\mathbf 1^\top \hat W_\text{raw}(t))_k|` (one scalar per array;
without compensation :math:`\alpha = 1`).

Any network is run "on" the crossbar by realising the weight leaves of its parameter pytree
(:func:`realise_weights`; by default every floating array with two or more dimensions) and calling the
network's own forward function with the result, so GLM, LIF, SNU and converted networks all work
unchanged. :func:`analog_matmul` adds DAC/ADC quantisation to a product with realised weights.

Training: hardware-aware training (:func:`inject_programming_noise`, :func:`train_hardware_aware`)
adds Gaussian weight noise with the std of the PCM programming noise at each weight's conductance,
scaled by ``noise_scale`` (Joshi et al. 2020 inject noise during training so that the network becomes
robust to it). Hardware-in-the-loop fine-tuning (:func:`finetune_hardware_in_the_loop`) evaluates the
loss and its gradient on weights realised on the emulated hardware at a chosen time and applies the
gradient to the ideal weights (straight-through: :math:`\partial L/\partial W \approx \partial L/\partial
\hat W`), reprogramming the devices at every step.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import check_int, finite_array, positive_float, positive_int
from .pcm import PCMConfig, PCMDevices, _check_time, _program_jit, _read_jit, programming_noise_std, quantise_uniform

__all__ = [
    "ProgrammedWeights",
    "default_is_weight",
    "map_weights",
    "unmap_weights",
    "program_weights",
    "read_weights",
    "realise_weights",
    "analog_matmul",
    "inject_programming_noise",
    "train_hardware_aware",
    "finetune_hardware_in_the_loop",
]


class ProgrammedWeights(NamedTuple):
    """A weight array programmed on a differential pair of device arrays.

    ``plus``/``minus``: :class:`~probsnn.hardware.pcm.PCMDevices`; ``scale``: weight units per uS
    (:math:`w_\\max/g_\\max`, scalar or per column); ``reference``: the probe response :math:`c_0` recorded
    right after programming (for global drift compensation).
    """

    plus: PCMDevices
    minus: PCMDevices
    scale: Any
    reference: Any


def default_is_weight(path, leaf) -> bool:
    """Default selection of the leaves held on the crossbar: floating arrays with ``ndim >= 2``."""
    return (hasattr(leaf, "ndim") and hasattr(leaf, "dtype") and leaf.ndim >= 2
            and np.issubdtype(np.dtype(leaf.dtype), np.floating))


def _is_programmed(x):
    return isinstance(x, ProgrammedWeights)


def map_weights(weights, config: PCMConfig = PCMConfig(), per_column: bool = False):
    r"""Differential-pair targets ``(g_plus, g_minus, scale)`` with :math:`W = \text{scale}\,(g^+ - g^-)`.

    ``scale`` is :math:`\max|W|/g_\max` over the whole array (or over each output column, the last axis,
    if ``per_column``); an all-zero array (column) gets scale :math:`1/g_\max`.
    """
    if not isinstance(weights, jax.core.Tracer):
        finite_array("weights", weights)
    weights = jnp.asarray(weights)
    if per_column:
        w_max = jnp.max(jnp.abs(weights.reshape(-1, weights.shape[-1])), axis=0)
    else:
        w_max = jnp.max(jnp.abs(weights))
    w_max = jnp.where(w_max > 0, w_max, 1.0)
    g = weights / w_max * config.g_max
    return jnp.maximum(g, 0.0), jnp.maximum(-g, 0.0), w_max / config.g_max


def unmap_weights(g_plus, g_minus, scale):
    r""":math:`W = \text{scale}\,(g^+ - g^-)`."""
    return scale * (g_plus - g_minus)


def _probe_response(weights):
    return jnp.sum(jnp.abs(jnp.sum(weights.reshape(-1, weights.shape[-1]), axis=0)))


def _check_config(config):
    if not isinstance(config, PCMConfig):
        raise ValueError(f"config must be a probsnn.hardware.PCMConfig, got {type(config).__name__}.")


def _check_leaf(path, leaf):
    finite_array(f"weights at {jax.tree_util.keystr(path)} (to be programmed)", leaf)


def program_weights(key, params, config: PCMConfig = PCMConfig(), is_weight: Callable = default_is_weight,
                    per_column: bool = False):
    """Program the weight leaves of ``params`` (any pytree) on emulated PCM differential pairs.

    Returns the same pytree with every selected leaf replaced by :class:`ProgrammedWeights`; other leaves
    (biases, leaks, thresholds) stay digital and unchanged. ``is_weight(path, leaf)`` selects the leaves.
    """
    _check_config(config)
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(params)
    if not any(is_weight(p, leaf) for p, leaf in leaves_with_path):
        raise ValueError("no leaf of params was selected as weights (by default: float arrays with ndim >= 2), "
                         "so nothing would be programmed; pass float weight matrices, or is_weight=... to choose them.")
    out = []
    for index, (path, leaf) in enumerate(leaves_with_path):
        if not is_weight(path, leaf):
            out.append(leaf)
            continue
        _check_leaf(path, leaf)
        k_plus, k_minus, k_ref_p, k_ref_m = jax.random.split(jax.random.fold_in(key, index), 4)
        g_plus, g_minus, scale = map_weights(leaf, config, per_column)
        plus = _program_jit(k_plus, g_plus, config)
        minus = _program_jit(k_minus, g_minus, config)
        w0 = unmap_weights(_read_jit(k_ref_p, plus, 0.0, config), _read_jit(k_ref_m, minus, 0.0, config), scale)
        out.append(ProgrammedWeights(plus, minus, scale, _probe_response(w0)))
    return jax.tree_util.tree_unflatten(treedef, out)


def read_weights(key, programmed, t, config: PCMConfig = PCMConfig(), drift_compensation: bool = True):
    """Read programmed weights ``t`` seconds after programming (drift, read noise, optional compensation).

    Returns a pytree of the original structure with realised weight arrays.
    """
    _check_config(config)
    _check_time(t)
    leaves, treedef = jax.tree_util.tree_flatten(programmed, is_leaf=_is_programmed)
    out = []
    for index, leaf in enumerate(leaves):
        if not _is_programmed(leaf):
            out.append(leaf)
            continue
        k_plus, k_minus = jax.random.split(jax.random.fold_in(key, index))
        w = unmap_weights(_read_jit(k_plus, leaf.plus, t, config), _read_jit(k_minus, leaf.minus, t, config),
                          leaf.scale)
        if drift_compensation:
            response = _probe_response(w)
            w = w * jnp.where(response > 0, leaf.reference / response, 1.0)
        out.append(w)
    return jax.tree_util.tree_unflatten(treedef, out)


def realise_weights(key, params, t, config: PCMConfig = PCMConfig(), drift_compensation: bool = True,
                    is_weight: Callable = default_is_weight, per_column: bool = False):
    """Program ``params``' weights and read them at time ``t``: the network as the hardware holds it then."""
    k_prog, k_read = jax.random.split(key)
    programmed = program_weights(k_prog, params, config, is_weight, per_column)
    return read_weights(k_read, programmed, t, config, drift_compensation)


def analog_matmul(x, weights, weight_bound=None, dac_bits=None, adc_bits=None, adc_bound: float = 12.0):
    r"""Crossbar product :math:`y = x W` with DAC/ADC quantisation (aihwkit's "abs_max" noise management).

    Each input row is scaled by :math:`m = \max_j |x_j|`, quantised by a ``dac_bits`` DAC over [-1, 1],
    multiplied with :math:`W / w_b` (``weight_bound`` :math:`w_b`, the weight held at :math:`g_\max`;
    default :math:`\max|W|`), the result quantised by an ``adc_bits`` ADC over ``[-adc_bound, adc_bound]``
    and scaled back by :math:`m\, w_b`. ``None`` bits leave that converter ideal.
    """
    for name, bits in (("dac_bits", dac_bits), ("adc_bits", adc_bits)):
        if bits is not None:
            check_int(f"{name} (None for an ideal converter)", bits, minimum=2)
    adc_bound = positive_float("adc_bound", adc_bound)
    for name, value in (("x", x), ("weights", weights)):
        if not isinstance(value, jax.core.Tracer):
            finite_array(name, value)
    x = jnp.asarray(x)
    weights = jnp.asarray(weights)
    if np.ndim(weights) != 2 or np.ndim(x) < 1:
        raise ValueError(f"analog_matmul needs x [..., n_in] and weights [n_in, n_out], got shapes {np.shape(x)} "
                         f"and {np.shape(weights)}.")
    if np.shape(x)[-1] != np.shape(weights)[0]:
        raise ValueError(f"x has {np.shape(x)[-1]} features but weights expect {np.shape(weights)[0]} inputs.")
    if weight_bound is None:
        weight_bound = jnp.max(jnp.abs(weights))
    weight_bound = jnp.where(weight_bound > 0, weight_bound, 1.0)
    m = jnp.max(jnp.abs(x), axis=-1, keepdims=True)
    m = jnp.where(m > 0, m, 1.0)
    x_q = quantise_uniform(x / m, dac_bits, 1.0)
    y = quantise_uniform(x_q @ (weights / weight_bound), adc_bits, adc_bound)
    return y * m * weight_bound


def inject_programming_noise(key, params, config: PCMConfig = PCMConfig(), noise_scale: float = 1.0,
                             is_weight: Callable = default_is_weight):
    r"""Hardware-aware training noise: :math:`\tilde W = W + \mathrm{sg}(\epsilon)`, differentiable in ``W``.

    :math:`\epsilon_{ij} \sim \mathcal N(0, s^2 (\sigma_\text{prog}(g_{ij})^2 + \sigma_\text{prog}(0)^2)
    (w_\max/g_\max)^2)` with :math:`g_{ij} = g_\max |W_{ij}|/w_\max` (the programmed device of the pair;
    the other sits at 0) and :math:`s` = ``noise_scale``. Pure and jittable.
    """
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(params)
    out = []
    for index, (path, leaf) in enumerate(leaves_with_path):
        if not is_weight(path, leaf):
            out.append(leaf)
            continue
        w_max = jax.lax.stop_gradient(jnp.max(jnp.abs(leaf)))
        w_max = jnp.where(w_max > 0, w_max, 1.0)
        g = jax.lax.stop_gradient(jnp.abs(leaf)) / w_max * config.g_max
        sigma = jnp.sqrt(programming_noise_std(g, config) ** 2 + programming_noise_std(0.0, config) ** 2)
        noise = noise_scale * sigma * (w_max / config.g_max) * jax.random.normal(
            jax.random.fold_in(key, index), leaf.shape, leaf.dtype
        )
        out.append(leaf + jax.lax.stop_gradient(noise))
    return jax.tree_util.tree_unflatten(treedef, out)


def _check_training(loss_fn, n_steps):
    if not callable(loss_fn):
        raise ValueError("loss_fn must be a callable loss_fn(params, *batch) -> scalar.")
    positive_int("n_steps", n_steps)


def _batches(batches, n_steps):
    if batches is None:
        return [()] * n_steps
    batches = list(batches)
    if len(batches) == 0:
        raise ValueError("batches must not be empty.")
    return [tuple(batches[i % len(batches)]) for i in range(n_steps)]


def train_hardware_aware(loss_fn: Callable, params, key, n_steps: int, optimizer=None,
                         config: PCMConfig = PCMConfig(), noise_scale: float = 1.0, batches=None,
                         is_weight: Callable = default_is_weight):
    """Hardware-aware training with Optax: each step evaluates ``loss_fn(noisy_params, *batch)``.

    ``batches`` (optional) is a sequence of argument tuples cycled over; the noise is
    :func:`inject_programming_noise`. ``noise_scale = 0`` is plain training. Returns ``(params, losses)``.
    """
    _check_training(loss_fn, n_steps)
    if noise_scale < 0:
        raise ValueError(f"noise_scale must be >= 0, got {noise_scale!r}.")
    optimizer = optimizer or optax.adam(1e-2)
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, k, batch):
        def noisy_loss(p):
            return loss_fn(inject_programming_noise(k, p, config, noise_scale, is_weight), *batch)

        loss, grads = jax.value_and_grad(noisy_loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    losses = []
    for i, batch in enumerate(_batches(batches, int(n_steps))):
        params, opt_state, loss = step(params, opt_state, jax.random.fold_in(key, i), batch)
        losses.append(loss)
    return params, np.asarray(losses)


def finetune_hardware_in_the_loop(loss_fn: Callable, params, key, t, n_steps: int, optimizer=None,
                                  config: PCMConfig = PCMConfig(), drift_compensation: bool = True,
                                  batches=None, is_weight: Callable = default_is_weight):
    """Hardware-in-the-loop fine-tuning: loss and gradient on the weights realised at time ``t``.

    Each step programs the current ideal weights, reads them ``t`` seconds later, evaluates
    ``loss_fn(realised, *batch)`` and its gradient with respect to the realised weights, and applies it
    to the ideal weights with ``optimizer`` (straight-through estimator). Returns ``(params, losses)``.
    """
    _check_training(loss_fn, n_steps)
    _check_time(t)
    optimizer = optimizer or optax.adam(1e-3)
    opt_state = optimizer.init(params)
    value_and_grad = jax.jit(jax.value_and_grad(loss_fn))

    @jax.jit
    def apply(params, opt_state, grads):
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    losses = []
    for i, batch in enumerate(_batches(batches, int(n_steps))):
        realised = realise_weights(jax.random.fold_in(key, i), params, t, config, drift_compensation, is_weight)
        loss, grads = value_and_grad(realised, *batch)
        params, opt_state = apply(params, opt_state, grads)
        losses.append(loss)
    return params, np.asarray(losses)
