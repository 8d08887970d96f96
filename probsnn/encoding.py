r"""Encoders of values into spike trains, and decoders of spike trains into labels or values.

All spike trains are time-major ``[T, ..., C]``. This module is a bottom layer: it imports nothing from the
neurons, models, inference or hardware packages, which all build on it.

Encoders of values into spikes
------------------------------
* :func:`rate_bernoulli`: ``s_t ~ Bernoulli(p_min + (p_max - p_min) v)`` i.i.d. over ``t`` (rate code).
* :func:`rate_poisson`: ``s_t ~ Poisson(max_rate * v * dt)`` counts per bin.
* :func:`latency`: one spike at ``t = round((1 - v) (T - 1))``: larger values spike earlier
  (time-to-first-spike code, Thorpe et al. 2001); values below ``threshold`` do not spike.
* :func:`population`: Gaussian receptive fields ``r_c(v) = p_max exp(-(v - mu_c)^2 / (2 sigma^2))`` over ``C``
  centres (:func:`population_centres`), rate-coded (Pouget, Dayan & Zemel 2000).
* :class:`OneHotEncoder`, :class:`PopulationEncoder`: the same rate and population codes as objects that map
  one environment observation to input spikes, for first-to-spike policies
  (:mod:`probsnn.inference.policy_gradient`; Rosenfeld, Simeone & Rajendran 2019).

Decoders of spikes into labels or values
----------------------------------------
* :func:`rate_decode`: the class whose neuron spiked most (ties broken by the lowest index, or by ``scores``).
* :func:`first_to_spike_decode`: the class whose neuron spiked first (Bagheri, Simeone & Rajendran 2018);
  ``-1`` when none spiked.
* :func:`population_decode`: the spike-count-weighted mean of the receptive-field centres.
* :func:`assign_labels`, :func:`predict_labels`: label each neuron of an unsupervised network by the class it
  responds to most, then classify by the mean response of each class's neurons (Diehl & Cook 2015).

Validation runs on concrete values only (:func:`probsnn._checks.concrete`): under ``jax.jit``/``vmap`` the
value checks are skipped, never turned into tracer errors.

References
----------
Thorpe, Delorme & Van Rullen (2001), "Spike-based strategies for rapid processing", Neural Networks 14:715-725.
Pouget, Dayan & Zemel (2000), "Information processing with population codes", Nat. Rev. Neurosci. 1:125-132.
Bagheri, Simeone & Rajendran (2018), "Training probabilistic spiking neural networks with first-to-spike
decoding", IEEE ICASSP, arXiv:1710.10704.
Rosenfeld, Simeone & Rajendran (2019), "Learning first-to-spike policies for neuromorphic control using policy
gradients", IEEE SPAWC, arXiv:1810.09977.
Diehl & Cook (2015), "Unsupervised learning of digit recognition using spike-timing-dependent plasticity",
Front. Comput. Neurosci. 9:99.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_float, check_int, concrete, positive_float, positive_int

__all__ = [
    # encoders of values into spikes
    "rate_bernoulli",
    "rate_poisson",
    "latency",
    "population_centres",
    "population",
    "OneHotEncoder",
    "PopulationEncoder",
    # decoders of spikes into labels or values
    "rate_decode",
    "first_to_spike_decode",
    "population_decode",
    "assign_labels",
    "predict_labels",
]


def _numeric(name, value):
    """``value`` as a JAX array, refusing (when concrete) anything that is not an array of real numbers."""
    array = concrete(value)
    if array is not None and array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be an array of real numbers, got {value!r} (dtype {array.dtype}).")
    return jnp.asarray(value)


def _unit_values(values, name="values"):
    """``values`` as a JAX array, checked finite and in ``[0, 1]`` when concrete."""
    values = _numeric(name, values)
    array = concrete(values)
    if array is not None:
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} must be finite.")
        if np.any(array < 0) or np.any(array > 1):
            raise ValueError(f"{name} must lie in [0, 1]; rescale them first (e.g. values / values.max()).")
    return values


# ============================================================================ encoders of values into spikes
def rate_bernoulli(key, values, n_steps: int, p_max: float = 1.0, p_min: float = 0.0, dtype=None):
    r"""Bernoulli rate code: a spike in each bin with a probability affine in the value.

    .. math:: s_{t,i} \sim \mathrm{Bernoulli}\big(p_\min + (p_\max - p_\min)\, v_i\big),
              \quad t = 1, \dots, T \text{ i.i.d.}

    Parameters
    ----------
    key : jax.Array
        PRNG key.
    values : array_like
        Intensities in ``[0, 1]``, any shape.
    n_steps : int
        Number of bins ``T``.
    p_max, p_min : float
        Spike probabilities of ``v = 1`` and ``v = 0``, with ``0 <= p_min <= p_max <= 1``.
    dtype : dtype, optional
        Of the result (default: the default float type).

    Returns
    -------
    jax.Array
        Spikes ``[n_steps, *values.shape]`` in ``{0, 1}``.
    """
    values = _unit_values(values)
    n_steps = positive_int("n_steps", n_steps)
    p_min, p_max = check_float("p_min", p_min, 0.0, 1.0), check_float("p_max", p_max, 0.0, 1.0)
    if p_min > p_max:
        raise ValueError(f"need 0 <= p_min <= p_max <= 1, got p_min={p_min}, p_max={p_max}.")
    prob = p_min + (p_max - p_min) * values
    spikes = jax.random.bernoulli(key, prob, (n_steps,) + values.shape)
    return spikes.astype(dtype or jnp.result_type(float))


def rate_poisson(key, values, n_steps: int, max_rate: float, dt: float, dtype=None):
    r"""Poisson rate code: spike counts per bin of a Poisson process of rate ``max_rate * v``.

    .. math:: n_{t,i} \sim \mathrm{Poisson}(r_\max\, v_i\, \Delta t), \quad t = 1, \dots, T \text{ i.i.d.}

    Parameters
    ----------
    key : jax.Array
        PRNG key.
    values : array_like
        Intensities in ``[0, 1]``, any shape.
    n_steps : int
        Number of bins ``T``.
    max_rate : float
        Rate ``r_max`` of ``v = 1`` (per unit of time), > 0.
    dt : float
        Bin width ``Delta t``, > 0.
    dtype : dtype, optional
        Of the result (default: the default float type).

    Returns
    -------
    jax.Array
        Counts ``[n_steps, *values.shape]``.
    """
    values = _unit_values(values)
    n_steps = positive_int("n_steps", n_steps)
    max_rate, dt = positive_float("max_rate", max_rate), positive_float("dt", dt)
    counts = jax.random.poisson(key, max_rate * dt * values, (n_steps,) + values.shape)
    return counts.astype(dtype or jnp.result_type(float))


def latency(values, n_steps: int, threshold: float = 0.0, dtype=None):
    r"""Time-to-first-spike code (Thorpe et al. 2001): one spike per value, larger values earlier.

    .. math:: s_{t,i} = [\,t = \mathrm{round}((1 - v_i)(T - 1))\,]\,[\,v_i > \vartheta\,],
              \quad t = 0, \dots, T - 1

    Parameters
    ----------
    values : array_like
        Intensities in ``[0, 1]``, any shape.
    n_steps : int
        Number of bins ``T``.
    threshold : float
        ``vartheta``: values ``<= threshold`` do not spike.
    dtype : dtype, optional
        Of the result (default: the default float type).

    Returns
    -------
    jax.Array
        Spikes ``[n_steps, *values.shape]``, at most one per value.
    """
    values = _unit_values(values)
    n_steps = positive_int("n_steps", n_steps)
    times = jnp.round((1.0 - values) * (n_steps - 1)).astype(jnp.int32)
    spikes = (jnp.arange(n_steps).reshape((n_steps,) + (1,) * values.ndim) == times[None]) & (values > threshold)[None]
    return spikes.astype(dtype or jnp.result_type(float))


def population_centres(n_neurons: int, low=0.0, high=1.0):
    r"""Evenly spaced receptive-field centres on ``[low, high]`` and their spacing, the default width.

    .. math:: \mu_c = \mathrm{low} + c\,\sigma, \quad \sigma = \frac{\mathrm{high} - \mathrm{low}}{C - 1},
              \quad c = 0, \dots, C - 1

    Parameters
    ----------
    n_neurons : int
        Number of centres ``C >= 2``.
    low, high : float or array_like
        Range, finite with ``low < high``; arrays (of equal shape) give one range per dimension.

    Returns
    -------
    centres : np.ndarray
        ``[n_neurons]``, or ``[*low.shape, n_neurons]`` for array ranges.
    width : float or np.ndarray
        ``sigma`` (of shape ``low.shape`` for array ranges).
    """
    n_neurons = check_int("n_neurons", n_neurons, minimum=2)
    low, high = np.asarray(low, float), np.asarray(high, float)
    if low.shape != high.shape:
        raise ValueError(f"low and high must have the same shape, got {low.shape} and {high.shape}.")
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(high > low)):
        raise ValueError(f"need finite low < high (in every dimension), got low={low}, high={high}.")
    centres = np.linspace(low, high, n_neurons, axis=-1)
    width = (high - low) / (n_neurons - 1)
    return centres, float(width) if width.ndim == 0 else width


def _gaussian_receptive_fields(values, centres, width, p_max):
    r"""Firing probabilities ``p_max exp(-(v - mu_c)^2 / (2 width^2))``, ``[*values.shape, C]``.

    ``centres`` (and ``width``) broadcast against ``values[..., None]``.
    """
    z = (values[..., None] - centres) / width
    return p_max * jnp.exp(-0.5 * z**2)


def population(key, values, n_steps: int, n_neurons: int, low: float = 0.0, high: float = 1.0, width=None,
               p_max: float = 1.0, dtype=None):
    r"""Gaussian receptive-field population code (Pouget, Dayan & Zemel 2000), rate-coded.

    Each value is represented by ``C`` neurons with centres :math:`\mu_c` (:func:`population_centres`);
    neuron ``c`` spikes in each bin with probability

    .. math:: P(s_{t,i,c} = 1) = p_\max \exp\!\Big(-\frac{(v_i - \mu_c)^2}{2 w^2}\Big)

    (:func:`rate_bernoulli` of these probabilities).

    Parameters
    ----------
    key : jax.Array
        PRNG key.
    values : array_like
        Values in ``[low, high]`` (never clipped), any shape.
    n_steps : int
        Number of bins ``T``.
    n_neurons : int
        Neurons per value ``C >= 2``.
    low, high : float
        Range covered by the centres.
    width : float, optional
        Receptive-field width ``w`` > 0 (default: the spacing of the centres).
    p_max : float
        Peak spike probability.
    dtype : dtype, optional
        Of the result (default: the default float type).

    Returns
    -------
    jax.Array
        Spikes ``[n_steps, *values.shape, n_neurons]``.
    """
    low, high = check_float("low", low), check_float("high", high)
    centres, spacing = population_centres(n_neurons, low, high)
    width = spacing if width is None else positive_float("width", width)
    p_max = check_float("p_max", p_max, 0.0, 1.0, low_open=True)
    n_steps = positive_int("n_steps", n_steps)
    values = _numeric("values", values)
    array = concrete(values)
    if array is not None and not (np.all(np.isfinite(array)) and np.all(array >= low) and np.all(array <= high)):
        raise ValueError(f"values must be finite and lie in [low, high] = [{low}, {high}].")
    prob = _gaussian_receptive_fields(values, jnp.asarray(centres), width, p_max)
    return rate_bernoulli(key, prob, n_steps, 1.0, 0.0, dtype)


class _RateCodedObservation:
    """Shared part of the observation encoders: a per-bin firing probability, rate-coded over ``T`` bins.

    A subclass sets ``n_inputs`` and ``deterministic`` and defines :meth:`probabilities`. When
    ``deterministic`` the input is the probability itself in every bin (one spike per bin where it is 1, or
    an analog current equal to the mean of the rate code); otherwise Bernoulli spikes
    (:func:`rate_bernoulli`).
    """

    n_inputs: int
    deterministic: bool

    def probabilities(self, observation):
        """Per-bin firing probability of every input channel, ``[n_inputs]``."""
        raise NotImplementedError

    def features(self, observation):
        """Features of the learned value baseline: the firing probabilities, ``[n_inputs]``."""
        return self.probabilities(observation)

    def encode(self, key, observation, n_steps: int):
        """Input spikes ``[n_steps, n_inputs]`` (``key`` is unused when ``deterministic``)."""
        prob = self.probabilities(observation)
        if self.deterministic:
            return jnp.broadcast_to(prob, (n_steps,) + prob.shape)
        return rate_bernoulli(key, prob, n_steps, dtype=prob.dtype)


class OneHotEncoder(_RateCodedObservation):
    r"""Rate code of a discrete observation ``o``: only channel ``o`` fires.

    .. math:: P(x_{c,t} = 1 \mid o) = r\,[\,c = o\,], \quad c = 0, \dots, S - 1

    Parameters
    ----------
    n_states : int
        Number of observations ``S`` (and of input channels).
    rate : float
        Spike probability ``r`` in ``(0, 1]`` of the active channel; ``r = 1`` (default) gives a
        deterministic input, one spike per bin on channel ``o``.
    """

    def __init__(self, n_states: int, rate: float = 1.0):
        self.n_states = positive_int("n_states", n_states)
        self.rate = check_float("rate", rate, 0.0, 1.0, low_open=True)
        self.n_inputs = self.n_states
        self.deterministic = self.rate == 1.0

    def __repr__(self) -> str:
        return f"OneHotEncoder(n_states={self.n_states}, rate={self.rate})"

    def probabilities(self, observation):
        """``rate * one_hot(observation)``, ``[n_states]``; a concrete ``observation`` must be a state index in
        ``[0, n_states)`` (a ``ValueError`` otherwise: an out-of-range index is never encoded as silence)."""
        array = concrete(observation)
        if array is not None:
            if array.dtype.kind not in "biuf" or array.ndim != 0:
                raise ValueError(f"observation must be a state index (an integer scalar), got {observation!r}.")
            if not (np.isfinite(array) and array == np.round(array) and 0 <= array < self.n_states):
                raise ValueError(f"observation must be a state index in [0, {self.n_states}), got {observation!r}.")
        return self.rate * jax.nn.one_hot(observation, self.n_states)


class PopulationEncoder(_RateCodedObservation):
    r"""Gaussian receptive-field population rate code of a continuous observation (Pouget et al. 2000).

    Dimension ``d`` is covered by ``C`` = ``n_per_dim`` neurons with centres :math:`\mu_{dc}` evenly spaced
    on ``[low_d, high_d]`` and width :math:`w_d` equal to their spacing (:func:`population_centres`);
    neuron ``(d, c)`` fires in each bin with probability

    .. math:: P(x_{dc,t} = 1 \mid o) = p_\max \exp\!\Big(-\frac{(o_d - \mu_{dc})^2}{2 w_d^2}\Big).

    Values outside the range are *not* clipped: the Gaussian tails simply fire less. This is the encoder of
    the cart-pole experiments of Rosenfeld, Simeone & Rajendran (2019).

    Parameters
    ----------
    low, high : array_like
        ``[D]`` range of each dimension, finite with ``low < high``.
    n_per_dim : int
        Neurons per dimension ``C >= 2``; ``n_inputs = D * C``, ordered dimension-major.
    p_max : float
        Peak spike probability in ``(0, 1]``.
    stochastic : bool
        Bernoulli spikes (default); ``False`` feeds the probability itself (an analog current, the mean of the
        rate code), which makes a policy's action probabilities exactly computable.
    """

    def __init__(self, low, high, n_per_dim: int = 8, p_max: float = 1.0, stochastic: bool = True):
        try:
            low, high = np.atleast_1d(np.asarray(low, float)), np.atleast_1d(np.asarray(high, float))
        except (TypeError, ValueError):
            raise ValueError(f"low and high must be numbers or 1-d arrays of numbers, got low={low!r}, "
                             f"high={high!r}.") from None
        if low.shape != high.shape or low.ndim != 1:
            raise ValueError(f"low and high must be 1-d of equal length, got shapes {low.shape}, {high.shape}.")
        self.n_per_dim = check_int("n_per_dim", n_per_dim, minimum=2)
        self.centres, self.widths = population_centres(self.n_per_dim, low, high)  # [D, C], [D]
        self.low, self.high = low, high
        self.p_max = check_float("p_max", p_max, 0.0, 1.0, low_open=True)
        self.n_inputs = low.size * self.n_per_dim
        self.stochastic = bool(stochastic)
        self.deterministic = not self.stochastic

    def __repr__(self) -> str:
        return (f"PopulationEncoder(dims={self.low.size}, n_per_dim={self.n_per_dim}, p_max={self.p_max}, "
                f"stochastic={self.stochastic})")

    def probabilities(self, observation):
        """Receptive-field firing probabilities ``[D * n_per_dim]`` of the observation ``[D]`` (checked finite and of
        shape ``[D]`` when concrete)."""
        obs = _numeric("observation", observation)
        if jnp.shape(obs) != self.low.shape and not (self.low.size == 1 and jnp.ndim(obs) == 0):
            raise ValueError(f"observation must have shape {self.low.shape} (one value per dimension), "
                             f"got {jnp.shape(obs)}.")
        array = concrete(obs)
        if array is not None and not np.all(np.isfinite(array)):
            raise ValueError(f"observation must be finite, got {observation!r}.")
        obs = jnp.reshape(obs, self.low.shape)
        centres = jnp.asarray(self.centres, obs.dtype)
        widths = jnp.asarray(self.widths, obs.dtype)[:, None]
        return _gaussian_receptive_fields(obs, centres, widths, self.p_max).reshape(-1)


# ================================================================ decoders of spikes into labels or values
def _check_spikes(spikes):
    """``spikes`` ``[T, ..., C]`` (``T, C >= 1``) as a JAX array; when concrete, checked finite and non-negative."""
    spikes = _numeric("spikes", spikes)
    if spikes.ndim < 2 or spikes.shape[0] < 1 or spikes.shape[-1] < 1:
        raise ValueError(f"spikes must be time-major [T, ..., C] with T, C >= 1, got shape {spikes.shape}.")
    array = concrete(spikes)
    if array is not None and not (np.all(np.isfinite(array)) and np.all(array >= 0)):
        raise ValueError("spikes must be finite, non-negative spike counts.")
    return spikes


def rate_decode(spikes, scores=None):
    r"""Rate decoding: the class whose neuron spiked most, :math:`\hat y = \arg\max_c \sum_t s_{t,c}`.

    Parameters
    ----------
    spikes : array_like
        ``[T, ..., C]``.
    scores : array_like, optional
        ``[..., C]`` tie-breakers (e.g. summed firing probabilities); without them ties go to the lowest
        index. They shift the counts by less than half a spike, so they only ever break ties.

    Returns
    -------
    jax.Array
        Classes ``[...]``.
    """
    spikes = _check_spikes(spikes)
    counts = spikes.sum(0)
    if scores is not None:
        scores = jnp.asarray(scores)
        span = jnp.max(jnp.abs(scores)) + 1.0
        counts = counts + 0.5 * scores / span  # strictly less than one spike: only breaks ties
    return jnp.argmax(counts, axis=-1)


def first_to_spike_decode(spikes):
    r"""First-to-spike decoding (Bagheri, Simeone & Rajendran 2018): the class of the earliest spike.

    :math:`\hat y = \arg\min_c t_c` with :math:`t_c = \min\{t : s_{t,c} = 1\}`; simultaneous first spikes go
    to the lowest index, and ``-1`` means no neuron spiked.

    Parameters
    ----------
    spikes : array_like
        ``[T, ..., C]``.

    Returns
    -------
    jax.Array
        Classes ``[...]`` (``-1``: no spike).
    """
    spikes = _check_spikes(spikes)
    n_steps = spikes.shape[0]
    t = jnp.arange(n_steps).reshape((n_steps,) + (1,) * (spikes.ndim - 1))
    first = jnp.min(jnp.where(spikes > 0, t, n_steps), axis=0)  # [..., C]
    winner = jnp.argmin(first, axis=-1)
    return jnp.where(jnp.min(first, axis=-1) < n_steps, winner, -1)


def population_decode(spikes, centres):
    r"""Population decoding: the spike-count-weighted mean of the receptive-field centres.

    .. math:: \hat v = \frac{\sum_c n_c\, \mu_c}{\sum_c n_c}, \qquad n_c = \sum_t s_{t,c}

    Parameters
    ----------
    spikes : array_like
        ``[T, ..., C]``.
    centres : array_like
        ``[C]`` centres :math:`\mu_c` (:func:`population_centres`).

    Returns
    -------
    jax.Array
        Values ``[...]``. Raises (on concrete input) when a population never spiked rather than return NaN.
    """
    counts = _check_spikes(spikes).sum(0)
    total = counts.sum(-1)
    total_array = concrete(total)
    if total_array is not None and np.any(total_array == 0):
        raise ValueError("population_decode: some populations never spiked; use more time steps or a larger p_max.")
    return counts @ jnp.asarray(centres, counts.dtype) / total


def assign_labels(responses, labels, n_classes: int):
    r"""Label each neuron by the class it responds to most (Diehl & Cook 2015).

    .. math:: \ell_i = \arg\max_c \frac{1}{|\{n : y_n = c\}|} \sum_{n : y_n = c} r_{n,i}

    (a class without samples has mean response 0).

    Parameters
    ----------
    responses : array_like
        ``[n, N]`` responses (e.g. spike counts) of ``N`` neurons to ``n`` samples.
    labels : array_like
        ``[n]`` classes of the samples, in ``0 .. n_classes - 1``.
    n_classes : int
        Number of classes.

    Returns
    -------
    np.ndarray
        ``[N]`` label of each neuron.
    """
    n_classes = positive_int("n_classes", n_classes)
    responses, labels = np.asarray(responses), np.asarray(labels)
    if responses.ndim != 2:
        raise ValueError(f"responses must be [n_samples, n_neurons], got shape {responses.shape}.")
    if responses.shape[0] != labels.shape[0]:
        raise ValueError(f"{responses.shape[0]} responses but {labels.shape[0]} labels.")
    means = np.stack([responses[labels == c].mean(axis=0) if np.any(labels == c) else np.zeros(responses.shape[1])
                      for c in range(n_classes)])
    return means.argmax(axis=0)


def predict_labels(responses, neuron_labels, n_classes: int):
    r"""Classify each sample by the mean response of the neurons assigned to each class (Diehl & Cook 2015).

    .. math:: \hat y_n = \arg\max_c \frac{1}{|\{i : \ell_i = c\}|} \sum_{i : \ell_i = c} r_{n,i}

    (a class without neurons scores :math:`-\infty`).

    Parameters
    ----------
    responses : array_like
        ``[n, N]`` responses of the ``N`` neurons to ``n`` samples.
    neuron_labels : array_like
        ``[N]`` label of each neuron (:func:`assign_labels`).
    n_classes : int
        Number of classes.

    Returns
    -------
    np.ndarray
        ``[n]`` predicted classes.
    """
    n_classes = positive_int("n_classes", n_classes)
    responses, neuron_labels = np.asarray(responses), np.asarray(neuron_labels)
    if responses.ndim != 2 or neuron_labels.shape != (responses.shape[1],):
        raise ValueError(f"need responses [n_samples, n_neurons] and one label per neuron, got shapes "
                         f"{responses.shape} and {neuron_labels.shape}.")
    scores = np.full((responses.shape[0], n_classes), -np.inf)
    for c in range(n_classes):
        members = neuron_labels == c
        if np.any(members):
            scores[:, c] = responses[:, members].mean(axis=1)
    return scores.argmax(axis=1)
