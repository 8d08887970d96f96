r"""Binary stochastic synapses with stochastic STDP, and a winner-take-all network that learns prototypes.

A binary synapse holds :math:`w \in \{0, 1\}` (read as :math:`\{0, 1\}` or, with ``signed=True``,
:math:`\{-1, +1\}`). Stochastic STDP (Suri et al., *IEEE Trans. Electron Devices* 60:2402, 2013;
Querlioz et al., *IEEE Trans. Nanotechnol.* 12:288, 2013; Yousefzadeh et al., *Front. Neurosci.*
12:665, 2018): at a post-synaptic spike of neuron :math:`i`, each synapse :math:`ij`

* whose pre-synaptic neuron fired :math:`\Delta t_j \le W` bins before is set to 1 with probability
  :math:`p^\text{pot}_{ij} = \gamma_\text{pot}\, k(\Delta t_j)`, :math:`k = e^{-\Delta t/\tau_\text{pot}}`
  (or 1 for a box window);
* otherwise is set to 0 with probability :math:`p^\text{dep} = \gamma_\text{dep}`.

Its expected update is exactly the deterministic soft-bound rule
:func:`probsnn.inference.stdp.windowed_stdp_update` (the analog STDP it is compared against):

.. math::

    \mathbb E[w'_{ij} - w_{ij} \mid w_{ij}] = [\Delta t_j \le W]\, p^\text{pot}_{ij} (1 - w_{ij})
    - [\Delta t_j > W]\, \gamma_\text{dep}\, w_{ij},

which is affine in :math:`w`, so it also holds for :math:`w \sim \mathrm{Bernoulli}(\bar w)` with
:math:`\bar w` in place of :math:`w`. With probabilities 0 or 1 the stochastic rule is deterministic and
equals the analog rule on binary weights.

The winner-take-all network (Querlioz et al. 2013; Diehl & Cook, *Front. Comput. Neurosci.* 9:99, 2015)
has ``N`` leaky integrators :math:`u_{i,t} = \lambda u_{i,t-1} + \sum_j w_{ij} s_{j,t}`; in each bin the
neuron with the largest :math:`u_i - \vartheta_i > 0` fires (with ``signed=True`` the synapse
contributes :math:`2 w_{ij} - 1`), all potentials are reset to 0 (lateral
inhibition), and the winner's adaptive threshold grows by :math:`\vartheta_+` (homeostasis, relaxing to
:math:`\vartheta_0` with time constant :math:`\tau_\vartheta`). Inputs are Bernoulli rate codes of
intensities in [0, 1]. Only the winner's synapses learn.

On binarised 8x8 digits (400 neurons, benchmarks/binary_stdp_digits.py) single binary devices reach ~82%
test accuracy against ~91% for analog STDP tuned over the same grid; compound synapses of 64 devices
(quasi-analog) reach ~90%. A single device's state is a Bernoulli sample of the analog weight, so its
prototypes are noisy and cannot encode "uninformative pixel".
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_float, concrete, finite_array, one_of, positive_float, positive_int
from ..inference.stdp import WindowedSTDPParams, check_post_triggered, window_kernel, windowed_stdp_update

__all__ = [
    "switching_probabilities",
    "binary_stdp_update",
    "expected_binary_stdp_update",
    "binary_weight_values",
    "WTAConfig",
    "WTAParams",
    "WTAState",
    "init_wta",
    "synaptic_weights",
    "wta_step",
    "train_wta",
    "wta_responses",
]


def switching_probabilities(params: WindowedSTDPParams, time_since_pre, post_spikes):
    """``(p_set_one, p_set_zero)``, each ``[n_post, n_pre]``: the switching probabilities of each synapse.

    ``time_since_pre`` ``[n_pre]`` (bins since the last pre spike, ``inf`` if none), ``post_spikes`` ``[n_post]``.
    """
    in_window, k = window_kernel(params, time_since_pre)
    post = jnp.asarray(post_spikes)[:, None]
    p_one = post * jnp.where(in_window, params.a_pot * k, 0.0)[None, :]
    p_zero = post * jnp.where(in_window, 0.0, params.a_dep)[None, :]
    return p_one, p_zero


def binary_stdp_update(key, params: WindowedSTDPParams, weights, time_since_pre, post_spikes, scale=1.0):
    r"""One stochastic STDP event on binary ``weights`` ``[n_post, n_pre]`` (values 0/1); returns new weights.

    One uniform draw :math:`u_{ij}` per synapse: set to 1 if :math:`u_{ij} < p^\text{pot}_{ij}`, to 0 if
    :math:`u_{ij} < p^\text{dep}_{ij}` (the two are never both non-zero for the same synapse).
    ``weights`` of shape ``[n_post, n_pre, K]`` are compound synapses of K binary devices (Bill &
    Legenstein, Front. Neurosci. 8:412, 2014), each switching independently with the same probabilities.
    ``scale`` in [0, 1] multiplies both probabilities (annealing); the expected update is then ``scale``
    times the deterministic one.
    """
    check_post_triggered(params, weights, time_since_pre, post_spikes, binary_weights=True)
    if concrete(scale) is not None:
        check_float("scale (annealing factor of the switching probabilities)", scale, 0.0, 1.0)
    p_one, p_zero = switching_probabilities(params, time_since_pre, post_spikes)
    p_one, p_zero = scale * p_one, scale * p_zero
    if jnp.ndim(weights) == 3:  # compound synapses: [n_post, n_pre, devices], each device switches independently
        p_one, p_zero = p_one[..., None], p_zero[..., None]
    u = jax.random.uniform(key, jnp.shape(weights), jnp.result_type(weights))
    weights = jnp.where(u < p_one, 1.0, weights)
    return jnp.where(u < p_zero, 0.0, weights).astype(jnp.result_type(weights))


def expected_binary_stdp_update(params: WindowedSTDPParams, mean_weights, time_since_pre, post_spikes):
    r""":math:`\mathbb E[w']` for :math:`w \sim \mathrm{Bernoulli}(\bar w)`:
    :math:`\bar w + p^\text{pot}(1-\bar w) - p^\text{dep}\bar w`."""
    p_one, p_zero = switching_probabilities(params, time_since_pre, post_spikes)
    return mean_weights + p_one * (1.0 - mean_weights) - p_zero * mean_weights


def binary_weight_values(weights, signed: bool = False):
    """The value a binary synapse contributes: ``w`` in {0, 1}, or ``2 w - 1`` in {-1, +1} if ``signed``."""
    weights = jnp.asarray(weights)
    return 2.0 * weights - 1.0 if signed else weights


# ------------------------------------------------------------------------------------------ WTA network
@dataclasses.dataclass(frozen=True)
class WTAConfig:
    """Winner-take-all network constants (time in bins).

    ``n_neurons``: output neurons; ``n_bins``: bins per sample presentation; ``input_rate``: spike
    probability per bin of an input of intensity 1; ``leak`` :math:`\\lambda \\in (0, 1]`;
    ``threshold``: :math:`\\vartheta_0`; ``threshold_increment``: :math:`\\vartheta_+`; ``threshold_tau``:
    relaxation time of the adaptive threshold (bins); ``rule``: ``"binary"`` (stochastic STDP on
    {0, 1} synapses) or ``"analog"`` (deterministic :func:`~probsnn.inference.stdp.windowed_stdp_update`);
    ``devices_per_synapse``: K binary devices per synapse for the binary rule (the synaptic weight is
    their mean; K = 1 is a single binary synapse); ``signed``: synapses contribute :math:`2w - 1`
    (so {0, 1} reads as {-1, +1}) instead of :math:`w`;
    ``anneal_to``: the learning amplitudes (switching probabilities) are multiplied by
    :math:`a^{k/(n-1)}`, :math:`a` = ``anneal_to``, at presentation :math:`k` of :math:`n`
    (geometric annealing from 1; 1 = no annealing), for either rule;
    ``stdp``: the :class:`~probsnn.inference.stdp.WindowedSTDPParams`.
    """

    n_neurons: int = 50
    n_bins: int = 30
    input_rate: float = 0.2
    leak: float = 1.0
    threshold: float = 6.0
    threshold_increment: float = 0.5
    threshold_tau: float = 3000.0
    rule: str = "binary"
    signed: bool = False
    devices_per_synapse: int = 1
    anneal_to: float = 1.0
    stdp: WindowedSTDPParams = WindowedSTDPParams(a_pot=0.1, a_dep=0.05, tau=20.0, window=10.0, kernel="box")

    def __post_init__(self):
        for name in ("n_neurons", "n_bins", "devices_per_synapse"):
            positive_int(f"WTAConfig.{name}", getattr(self, name))
        check_float("WTAConfig.input_rate", self.input_rate, 0.0, 1.0, low_open=True)
        check_float("WTAConfig.leak", self.leak, 0.0, 1.0, low_open=True)
        positive_float("WTAConfig.threshold", self.threshold)
        check_float("WTAConfig.threshold_increment", self.threshold_increment, low=0.0)
        positive_float("WTAConfig.threshold_tau (bins)", self.threshold_tau)
        one_of("WTAConfig.rule", self.rule, ("binary", "analog"))
        if not isinstance(self.signed, (bool, np.bool_)):
            raise ValueError(f"WTAConfig.signed must be True or False, got {self.signed!r}.")
        check_float("WTAConfig.anneal_to", self.anneal_to, 0.0, 1.0, low_open=True)
        if not isinstance(self.stdp, WindowedSTDPParams):
            raise ValueError("WTAConfig.stdp must be a probsnn.inference.stdp.WindowedSTDPParams, got "
                             f"{type(self.stdp).__name__}.")


class WTAParams(NamedTuple):
    """``weights`` ``[N, n_in]`` in [0, 1] (binary rule: ``[N, n_in, K]`` in {0, 1}); ``thresholds`` ``[N]``."""

    weights: Any
    thresholds: Any


class WTAState(NamedTuple):
    """``membrane`` ``[N]``; ``time_since_pre`` ``[n_in]`` (bins since the last input spike, inf if none)."""

    membrane: Any
    time_since_pre: Any


def init_wta(key, n_inputs: int, config: WTAConfig, mean_weight: float = 0.5) -> WTAParams:
    """Random initial weights: Bernoulli(``mean_weight``) for the binary rule, U(0, 2 ``mean_weight``) for analog."""
    n_inputs = positive_int("n_inputs", n_inputs)
    if not isinstance(config, WTAConfig):
        raise ValueError(f"config must be a WTAConfig, got {type(config).__name__}.")
    check_float("mean_weight", mean_weight, 0.0, 0.5, low_open=True)
    shape = (config.n_neurons, int(n_inputs))
    dtype = jnp.result_type(float)
    if config.rule == "binary":
        w = jax.random.bernoulli(key, mean_weight, shape + (config.devices_per_synapse,)).astype(dtype)
    else:
        w = jax.random.uniform(key, shape, dtype, 0.0, 2.0 * mean_weight)
    return WTAParams(w, jnp.full((config.n_neurons,), config.threshold, dtype))


def synaptic_weights(params: WTAParams):
    """Effective synaptic weights ``[N, n_in]``: the weights, or the mean over the devices of compound synapses."""
    w = params.weights
    return jnp.mean(w, axis=-1) if jnp.ndim(w) == 3 else w


def wta_step(config: WTAConfig, params: WTAParams, state: WTAState, pre_spikes):
    """One bin of the WTA network: ``(state, post_spikes)``; at most one neuron (the winner) spikes."""
    values = binary_weight_values(synaptic_weights(params), config.signed)
    return _wta_bin(config, values, params.thresholds, state, pre_spikes)


def _wta_bin(config, values, thresholds, state, pre_spikes):
    membrane = config.leak * state.membrane + values @ pre_spikes
    margin = membrane - thresholds
    winner = jnp.argmax(margin)
    fired = margin[winner] > 0
    post = jnp.zeros_like(membrane).at[winner].set(fired.astype(membrane.dtype))
    membrane = jnp.where(fired, jnp.zeros_like(membrane), membrane)
    time_since_pre = jnp.where(pre_spikes > 0, 0.0, state.time_since_pre + 1.0)
    return WTAState(membrane, time_since_pre), post


def _present(config, params, key, intensities, learn, scale=1.0):
    k_in, k_learn = jax.random.split(key)
    n_in = intensities.shape[-1]
    dtype = params.weights.dtype
    spikes = jax.random.bernoulli(k_in, config.input_rate * intensities, (config.n_bins, n_in)).astype(dtype)
    state = WTAState(jnp.zeros((config.n_neurons,), dtype), jnp.full((n_in,), jnp.inf, dtype))
    decay = math.exp(-1.0 / config.threshold_tau)
    # effective synaptic values [N, n_in], kept in step with the (compound) weights: only the winner's row changes
    values = binary_weight_values(synaptic_weights(params), config.signed)

    def body(carry, inputs):
        params, values, state = carry
        pre, k = inputs
        state, post = _wta_bin(config, values, params.thresholds, state, pre)
        if learn:
            # only the winner (at most one neuron per bin) can learn: update its row alone
            winner = jnp.argmax(post)
            row, fired = params.weights[winner][None], post[winner][None]
            if config.rule == "binary":
                row = binary_stdp_update(k, config.stdp, row, state.time_since_pre, fired, scale)
            else:
                row = row + scale * (windowed_stdp_update(config.stdp, row, state.time_since_pre, fired) - row)
            w = params.weights.at[winner].set(row[0])
            row_values = binary_weight_values(jnp.mean(row[0], axis=-1) if row.ndim == 3 else row[0], config.signed)
            values = values.at[winner].set(row_values)
            theta = config.threshold + decay * (params.thresholds - config.threshold)
            theta = theta + config.threshold_increment * post
            params = WTAParams(w, theta)
        return (params, values, state), post

    keys = jax.random.split(k_learn, config.n_bins)
    (params, _, _), posts = jax.lax.scan(body, (params, values, state), (spikes, keys))
    return params, posts.sum(axis=0)


def _check_images(images, n_inputs=None):
    arr = finite_array("images", images, ndim=2)
    if n_inputs is not None and arr.shape[1] != n_inputs:
        raise ValueError(f"images have {arr.shape[1]} inputs but the network has {n_inputs}.")
    if arr.shape[0] == 0:
        raise ValueError("images must hold at least one sample [n_samples >= 1, n_inputs], got none.")
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"image intensities must lie in [0, 1] (divide 8x8 digits by 16), got range "
                         f"[{arr.min()}, {arr.max()}].")


def _check_params(params, config):
    if not isinstance(params, WTAParams):
        raise ValueError(f"params must be WTAParams (see init_wta), got {type(params).__name__}.")
    expected = 3 if config.rule == "binary" else 2
    if np.ndim(params.weights) != expected:
        raise ValueError(
            f"the {config.rule!r} rule needs weights with {expected} dimensions, got shape {np.shape(params.weights)}; "
            "create them with init_wta(key, n_inputs, config)."
        )
    if np.shape(params.thresholds) != (np.shape(params.weights)[0],):
        raise ValueError("thresholds must have one entry per neuron.")


def train_wta(key, params: WTAParams, images, config: WTAConfig, n_epochs: int = 1) -> WTAParams:
    """Unsupervised learning: present ``images`` ``[n, n_in]`` (shuffled each epoch) with STDP on."""
    _check_images(images, np.shape(params.weights)[1])
    _check_params(params, config)
    n_epochs = positive_int("n_epochs", n_epochs)
    images = jnp.asarray(images, params.weights.dtype)
    return _train_jit(key, params, images, config, int(n_epochs))


def _train(key, params, images, config, n_epochs):
    n = images.shape[0]
    # learning amplitudes annealed geometrically over all presentations, from 1 to config.anneal_to
    progress = jnp.arange(n_epochs * n, dtype=params.weights.dtype) / max(n_epochs * n - 1, 1)
    scales = (config.anneal_to ** progress).reshape(n_epochs, n)

    def epoch(params, inputs):
        k, epoch_scales = inputs
        k_perm, k_samples = jax.random.split(k)
        order = jax.random.permutation(k_perm, n)

        def sample(params, inputs):
            x, ks, scale = inputs
            params, _ = _present(config, params, ks, x, learn=True, scale=scale)
            return params, None

        params, _ = jax.lax.scan(sample, params, (images[order], jax.random.split(k_samples, n), epoch_scales))
        return params, None

    params, _ = jax.lax.scan(epoch, params, (jax.random.split(key, n_epochs), scales))
    return params


_train_jit = jax.jit(_train, static_argnums=(3, 4))


def _responses(key, params, images, config):
    keys = jax.random.split(key, images.shape[0])
    return jax.vmap(lambda x, k: _present(config, params, k, x, learn=False)[1])(images, keys)


_responses_jit = jax.jit(_responses, static_argnums=3)


def wta_responses(key, params: WTAParams, images, config: WTAConfig):
    """Spike counts ``[n, N]`` of the frozen network for each image (no learning)."""
    _check_images(images, np.shape(params.weights)[1])
    _check_params(params, config)
    return _responses_jit(key, params, jnp.asarray(images, params.weights.dtype), config)

