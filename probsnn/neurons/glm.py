r"""GLM spiking neurons and networks: generative models over spike trains.

Neuron :math:`i` has the membrane potential (Pillow et al. 2008; Jang et al. 2019)

.. math::
    u_{i,t} = \sum_{d} (k_{id} * x_d)_t + \sum_{j} (a_{ij} * s_j)_{t} + \gamma_i,
    \qquad k_{id}(\ell) = \sum_b w^{\rm stim}_{idb}\, \phi^{\rm stim}_b(\ell),
    \quad a_{ij}(\ell) = \sum_b w^{\rm coup}_{ijb}\, \phi^{\rm hist}_b(\ell),

where the history basis starts at lag 1, so the spike-history part only sees bins up to ``t - 1``; the
diagonal :math:`a_{ii}` is the self-history (refractory) kernel, the off-diagonal entries are couplings.
Given the potential, the spike count in bin :math:`t` is

* Bernoulli: :math:`s_{i,t} \sim \mathrm{Bernoulli}(\sigma(u_{i,t} / \mathrm{temperature}))`;
* Poisson: :math:`s_{i,t} \sim \mathrm{Poisson}(f(u_{i,t}))` with :math:`f = \exp` or softplus (counts per bin).

When every spike that feeds the potential is observed, :math:`u` for all bins is a causal convolution
followed by one contraction (:meth:`GLMNetwork.design_matrix`, :meth:`GLMNetwork.potential`): no scan.
:meth:`GLMNetwork.simulate` samples autoregressively with ``lax.scan``.

References
----------
Pillow et al. (2008), Nature 454:995. Jang, Simeone, Gardner & Gruning (2019), "An introduction to
probabilistic spiking neural networks", IEEE Signal Processing Magazine 36(6):64-77.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.util import validate_sample

from ..basis import Basis, causal_convolve
from ..data import SpikeData

__all__ = ["GLMParams", "GLMNetwork", "PoissonObservation", "BernoulliObservation", "PoissonLogRate"]


class GLMParams(NamedTuple):
    """Parameters of a GLM network (a pytree).

    Attributes
    ----------
    stimulus_weights : array, shape (N, D, n_stimulus_basis)
        ``[i, d, b]``: weight of stimulus basis ``b`` in the filter from stimulus dimension ``d`` to neuron ``i``.
    coupling_weights : array, shape (N, N, n_history_basis)
        ``[i, j, b]``: weight of history basis ``b`` in the kernel from neuron ``j`` to neuron ``i``;
        ``j == i`` is the self-history (refractory) kernel.
    bias : array, shape (N,)
        :math:`\\gamma_i`, the baseline potential.
    """

    stimulus_weights: jax.Array
    coupling_weights: jax.Array
    bias: jax.Array


# ------------------------------------------------------------------------------ observation models
class PoissonLogRate(dist.Distribution):
    r"""Poisson counts parametrised by the log rate :math:`\eta`: the exp-link GLM's spike-count law.

    .. math::
        \log p(y \mid \eta) = y\,\eta - e^{\eta} - \log y!

    The same law as ``numpyro.distributions.Poisson(jnp.exp(eta))``, without the ``log(exp(eta))`` and
    ``xlogy`` that the rate form puts into every log-density gradient (NUTS and SVI evaluate it
    thousands of times over ``T x N`` bins; this form makes such a gradient about 1.5x cheaper).
    """

    arg_constraints = {"log_rate": constraints.real}
    support = constraints.nonnegative_integer
    is_discrete = True

    def __init__(self, log_rate, *, validate_args=None):
        self.log_rate = log_rate
        super().__init__(batch_shape=jnp.shape(log_rate), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        return jax.random.poisson(key, jnp.exp(self.log_rate), shape=sample_shape + self.batch_shape)

    @validate_sample
    def log_prob(self, value):
        return PoissonObservation("exp").log_prob(jnp.asarray(value), self.log_rate)

    @property
    def mean(self):
        return jnp.exp(self.log_rate)

    @property
    def variance(self):
        return jnp.exp(self.log_rate)


@dataclass(frozen=True)
class PoissonObservation:
    r"""Poisson spike counts with rate per bin :math:`\lambda = f(u)`, ``link`` ``"exp"`` or ``"softplus"``.

    :math:`\log p(y \mid u) = y \log\lambda - \lambda - \log y!`
    """

    link: str = "exp"
    name = "poisson"

    def __post_init__(self):
        if self.link not in ("exp", "softplus"):
            raise ValueError(f"Poisson link must be 'exp' or 'softplus', got {self.link!r}.")

    def mean(self, potential):
        return jnp.exp(potential) if self.link == "exp" else jax.nn.softplus(potential)

    def log_prob(self, counts, potential):
        return self.unnormalised_log_prob(counts, potential) - jax.scipy.special.gammaln(counts + 1.0)

    def unnormalised_log_prob(self, counts, potential):
        """``log p(counts | potential)`` without ``-log(counts!)``, a term that does not depend on the
        potential (optimisers compare and differentiate this cheaper form)."""
        counts = counts.astype(potential.dtype)
        if self.link == "exp":
            log_rate, rate = potential, jnp.exp(potential)
        else:
            rate = jax.nn.softplus(potential)
            log_rate = jnp.log(rate)
        return counts * log_rate - rate

    def sample(self, key, potential):
        return jax.random.poisson(key, self.mean(potential)).astype(potential.dtype)

    def numpyro_distribution(self, potential):
        """The NumPyro distribution of the counts given the potential (:class:`PoissonLogRate` for the exp link)."""
        if self.link == "exp":
            return PoissonLogRate(potential)
        return dist.Poisson(self.mean(potential))


@dataclass(frozen=True)
class BernoulliObservation:
    r"""At most one spike per bin: :math:`P(s=1 \mid u) = \sigma(u / \mathrm{temperature})`.

    :math:`\log p(s \mid u) = s\,z - \mathrm{softplus}(z)`, :math:`z = u / \mathrm{temperature}`.
    As the temperature goes to 0 the neuron fires deterministically when :math:`u > 0`.
    """

    temperature: float = 1.0
    name = "bernoulli"

    def __post_init__(self):
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a positive finite number, got {self.temperature!r}.")

    def mean(self, potential):
        return jax.nn.sigmoid(potential / self.temperature)

    def log_prob(self, counts, potential):
        logits = potential / self.temperature
        return counts.astype(potential.dtype) * logits - jax.nn.softplus(logits)

    def unnormalised_log_prob(self, counts, potential):
        """The Bernoulli log-probability has no count-only term: the same as :meth:`log_prob`."""
        return self.log_prob(counts, potential)

    def sample(self, key, potential):
        return jax.random.bernoulli(key, self.mean(potential)).astype(potential.dtype)

    def numpyro_distribution(self, potential):
        return dist.Bernoulli(logits=potential / self.temperature)


def make_observation(observation, temperature: float = 1.0, link: str = "exp"):
    """An observation model from a name (``"poisson"``, ``"bernoulli"``) or an instance."""
    if isinstance(observation, (PoissonObservation, BernoulliObservation)):
        return observation
    if observation == "poisson":
        return PoissonObservation(link=link)
    if observation == "bernoulli":
        return BernoulliObservation(temperature=temperature)
    raise ValueError(f"observation must be 'poisson' or 'bernoulli', got {observation!r}.")


# ------------------------------------------------------------------------------ jitted kernels
@jax.jit
def _potential(design, flat_weights):
    return design @ flat_weights.T


@partial(jax.jit, static_argnames=("observation",))
def _log_likelihood_terms(design, counts, flat_weights, observation):
    return observation.log_prob(counts, design @ flat_weights.T)


# ------------------------------------------------------------------------------ the network
class GLMNetwork:
    """A network of GLM spiking neurons with basis-expanded stimulus, coupling and history filters.

    Parameters
    ----------
    n_neurons : int
    stimulus_basis : Basis, optional
        Basis of the stimulus filters; ``None`` for no stimulus. Its lag offset may be 0 (the filter sees
        the current frame).
    history_basis : Basis, optional
        Basis of the self-history and coupling kernels; its lag offset must be >= 1. ``None`` for an
        inhomogeneous-Poisson (LNP) model.
    n_stimulus_dims : int, optional
        Number of stimulus columns ``D``; defaults to 1 when a stimulus basis is given.
    observation : {"poisson", "bernoulli"} or an observation instance
    temperature : float
        Bernoulli temperature (ignored for Poisson).
    link : {"exp", "softplus"}
        Poisson link (ignored for Bernoulli).
    coupling : bool
        Whether neurons are coupled to each other (off-diagonal kernels).
    self_history : bool
        Whether each neuron has a self-history (refractory) kernel.
    coupling_mask : array_like of bool, shape (N, N), optional
        ``[i, j]`` True where the kernel from ``j`` to ``i`` is free; overrides ``coupling`` and
        ``self_history``.
    stimulus_mask : array_like of bool, shape (N, D), optional
        ``[i, d]`` True where neuron ``i`` sees stimulus dimension ``d`` (default all).
    neuron_names : sequence of str, optional
    """

    def __init__(
        self,
        n_neurons: int,
        stimulus_basis: Basis | None = None,
        history_basis: Basis | None = None,
        n_stimulus_dims: int | None = None,
        observation="poisson",
        temperature: float = 1.0,
        link: str = "exp",
        coupling: bool = True,
        self_history: bool = True,
        coupling_mask=None,
        stimulus_mask=None,
        neuron_names=None,
    ):
        if int(n_neurons) != n_neurons or n_neurons < 1:
            raise ValueError(f"n_neurons must be a positive integer, got {n_neurons!r}.")
        self.n_neurons = int(n_neurons)
        for name, basis in (("stimulus_basis", stimulus_basis), ("history_basis", history_basis)):
            if basis is not None and not isinstance(basis, Basis):
                raise TypeError(f"{name} must be a probsnn.basis.Basis or None, got {type(basis).__name__}.")
        if history_basis is not None and history_basis.lag_offset < 1:
            raise ValueError(
                "history_basis.lag_offset must be >= 1: a spike cannot feed the potential of its own bin. "
                "Build it with lag_offset=1."
            )
        self.stimulus_basis = stimulus_basis
        self.history_basis = history_basis
        if n_stimulus_dims is None:
            n_stimulus_dims = 1 if stimulus_basis is not None else 0
        if int(n_stimulus_dims) != n_stimulus_dims or n_stimulus_dims < 0:
            raise ValueError(f"n_stimulus_dims must be a non-negative integer, got {n_stimulus_dims!r}.")
        if n_stimulus_dims > 0 and stimulus_basis is None:
            raise ValueError("n_stimulus_dims > 0 needs a stimulus_basis.")
        self.n_stimulus_dims = int(n_stimulus_dims)
        self.observation = make_observation(observation, temperature, link)

        n = self.n_neurons
        if coupling_mask is None:
            coupling_mask = np.ones((n, n), bool) if coupling else np.zeros((n, n), bool)
            np.fill_diagonal(coupling_mask, bool(self_history))
        coupling_mask = np.asarray(coupling_mask, dtype=bool)
        if coupling_mask.shape != (n, n):
            raise ValueError(f"coupling_mask must have shape ({n}, {n}), got {coupling_mask.shape}.")
        if history_basis is None:
            coupling_mask = np.zeros((n, n), bool)
        if stimulus_mask is None:
            stimulus_mask = np.ones((n, self.n_stimulus_dims), bool)
        stimulus_mask = np.asarray(stimulus_mask, dtype=bool)
        if stimulus_mask.shape != (n, self.n_stimulus_dims):
            raise ValueError(f"stimulus_mask must have shape ({n}, {self.n_stimulus_dims}), got {stimulus_mask.shape}.")
        self.coupling_mask = coupling_mask
        self.stimulus_mask = stimulus_mask
        names = tuple(neuron_names) if neuron_names is not None else tuple(f"n{i}" for i in range(n))
        if len(names) != n:
            raise ValueError(f"got {len(names)} neuron names for {n} neurons.")
        self.neuron_names = names

    # -------------------------------------------------------------- sizes and layout
    @property
    def n_stimulus_basis(self) -> int:
        return 0 if self.stimulus_basis is None else self.stimulus_basis.n_basis

    @property
    def n_history_basis(self) -> int:
        return 0 if self.history_basis is None else self.history_basis.n_basis

    @property
    def n_features(self) -> int:
        """Length of one neuron's flat weight vector: stimulus, history of every neuron, bias."""
        return self.n_stimulus_dims * self.n_stimulus_basis + self.n_neurons * self.n_history_basis + 1

    @cached_property
    def feature_mask(self) -> np.ndarray:
        """Bool ``[N, F]``: which entries of each neuron's flat weight vector are free parameters."""
        n = self.n_neurons
        stim = np.repeat(self.stimulus_mask[:, :, None], self.n_stimulus_basis, axis=2).reshape(n, -1)
        coup = np.repeat(self.coupling_mask[:, :, None], self.n_history_basis, axis=2).reshape(n, -1)
        return np.concatenate([stim, coup, np.ones((n, 1), bool)], axis=1)

    @property
    def n_free_parameters(self) -> int:
        return int(self.feature_mask.sum())

    def feature_names(self) -> list[str]:
        names = [f"stim[{d}]:b{b}" for d in range(self.n_stimulus_dims) for b in range(self.n_stimulus_basis)]
        names += [f"hist[{self.neuron_names[j]}]:b{b}" for j in range(self.n_neurons) for b in range(self.n_history_basis)]
        return names + ["bias"]

    def __repr__(self) -> str:
        return (
            f"GLMNetwork(n_neurons={self.n_neurons}, observation={self.observation}, "
            f"stimulus_basis={self.stimulus_basis}, history_basis={self.history_basis}, "
            f"free parameters={self.n_free_parameters})"
        )

    # -------------------------------------------------------------- parameters
    def init_params(self, bias=0.0, dtype=None) -> GLMParams:
        """All filter weights zero and the given bias (a scalar or one value per neuron)."""
        dtype = dtype or jnp.result_type(float)
        n = self.n_neurons
        bias = jnp.broadcast_to(jnp.asarray(bias, dtype), (n,))
        return GLMParams(
            stimulus_weights=jnp.zeros((n, self.n_stimulus_dims, self.n_stimulus_basis), dtype),
            coupling_weights=jnp.zeros((n, n, self.n_history_basis), dtype),
            bias=bias,
        )

    def check_params(self, params: GLMParams) -> GLMParams:
        """Validate shapes and finiteness of a parameter pytree (raises ValueError)."""
        if not isinstance(params, GLMParams):
            raise TypeError(f"params must be GLMParams, got {type(params).__name__}.")
        expected = self.init_params()
        for field, value, ref in zip(GLMParams._fields, params, expected):
            shape = jnp.shape(value)
            if shape != ref.shape:
                raise ValueError(f"params.{field} has shape {shape}, expected {ref.shape} for this network.")
            if not bool(jnp.all(jnp.isfinite(value))):
                raise ValueError(f"params.{field} contains non-finite values.")
        return params

    def flatten(self, params: GLMParams):
        """Per-neuron flat weight vectors ``[N, F]`` (masked entries forced to zero)."""
        n = self.n_neurons
        flat = jnp.concatenate(
            [params.stimulus_weights.reshape(n, -1), params.coupling_weights.reshape(n, -1), params.bias[:, None]],
            axis=1,
        )
        return flat * jnp.asarray(self.feature_mask, flat.dtype)

    def unflatten(self, flat) -> GLMParams:
        """Inverse of :meth:`flatten`."""
        n, ds, bs, bh = self.n_neurons, self.n_stimulus_dims, self.n_stimulus_basis, self.n_history_basis
        n_stim = ds * bs
        return GLMParams(
            stimulus_weights=flat[:, :n_stim].reshape(n, ds, bs),
            coupling_weights=flat[:, n_stim : n_stim + n * bh].reshape(n, n, bh),
            bias=flat[:, -1],
        )

    def filters(self, params: GLMParams) -> dict:
        """Filters in lag space: ``stimulus`` ``[N, D, L_s]``, ``coupling`` ``[N, N, L_h]`` and their lags."""
        out = {}
        if self.stimulus_basis is not None:
            out["stimulus"] = np.asarray(self.stimulus_basis.kernel(params.stimulus_weights))
            out["stimulus_lags"] = self.stimulus_basis.lags
        if self.history_basis is not None:
            out["coupling"] = np.asarray(self.history_basis.kernel(params.coupling_weights))
            out["coupling_lags"] = self.history_basis.lags
        return out

    # -------------------------------------------------------------- data and design
    def check_data(self, data: SpikeData) -> SpikeData:
        """Check that ``data`` fits this network (neurons, stimulus dims, binary spikes for Bernoulli)."""
        if not isinstance(data, SpikeData):
            raise TypeError(f"data must be a probsnn.SpikeData, got {type(data).__name__}.")
        if data.n_neurons != self.n_neurons:
            raise ValueError(f"data has {data.n_neurons} neurons but the network has {self.n_neurons}.")
        if data.n_stimulus_dims != self.n_stimulus_dims:
            raise ValueError(
                f"data has {data.n_stimulus_dims} stimulus dimensions but the network expects "
                f"{self.n_stimulus_dims}; pass n_stimulus_dims={data.n_stimulus_dims} or fix the stimulus."
            )
        if self.observation.name == "bernoulli":
            data.check_binary()
        return data

    def design_matrix(self, data: SpikeData, method: str = "auto"):
        r"""The features shared by all neurons, ``[T, F]``: convolve once, reuse for every neuron.

        Columns: stimulus dimension ``d`` filtered by stimulus basis ``b`` (``d``-major), the spike train of
        neuron ``j`` filtered by history basis ``b`` (``j``-major), and a column of ones. The potential of
        every neuron is then ``u = X @ W.T`` with ``W = flatten(params)``.
        """
        self.check_data(data)
        dtype = jnp.result_type(float)
        blocks = []
        n_bins = data.n_bins
        if self.n_stimulus_dims > 0:
            blocks.append(causal_convolve(jnp.asarray(data.stimulus, dtype), self.stimulus_basis, method).reshape(n_bins, -1))
        if self.history_basis is not None:
            blocks.append(causal_convolve(jnp.asarray(data.counts, dtype), self.history_basis, method).reshape(n_bins, -1))
        blocks.append(jnp.ones((n_bins, 1), dtype))
        return jnp.concatenate(blocks, axis=1)

    # -------------------------------------------------------------- likelihood
    def potential(self, params: GLMParams, data: SpikeData, design=None):
        """Membrane potentials ``[T, N]`` given observed spikes (parallel in time)."""
        design = self.design_matrix(data) if design is None else design
        return _potential(design, self.flatten(self.check_params(params)))

    def log_likelihood(self, params: GLMParams, data: SpikeData, per: str = "total", design=None):
        r"""Log-likelihood :math:`\sum_{t,i} \log p(s_{i,t} \mid u_{i,t})` of observed spikes.

        Parameters
        ----------
        per : {"total", "neuron", "bin"}
            Return a scalar, a ``[N]`` vector, or the ``[T, N]`` terms.
        design : array, optional
            A precomputed :meth:`design_matrix` for ``data`` (saves the convolution).
        """
        if per not in ("total", "neuron", "bin"):
            raise ValueError(f"per must be 'total', 'neuron' or 'bin', got {per!r}.")
        design = self.design_matrix(data) if design is None else design
        terms = _log_likelihood_terms(design, jnp.asarray(data.counts), self.flatten(self.check_params(params)),
                                      self.observation)
        if per == "bin":
            return terms
        return terms.sum(axis=0) if per == "neuron" else terms.sum()

    def predicted_rate(self, params: GLMParams, data: SpikeData, design=None):
        """Conditional intensity in Hz, ``[T, N]``: expected spikes per bin / dt, given the observed past."""
        return np.asarray(self.observation.mean(self.potential(params, data, design))) / data.dt

    # -------------------------------------------------------------- generative sampling
    @cached_property
    def _simulate_jit(self):
        observation = self.observation
        offset = 1 if self.history_basis is None else self.history_basis.lag_offset
        history_matrix = None if self.history_basis is None else jnp.asarray(self.history_basis.matrix)

        def run(params, key, stimulus_drive, initial_history):
            dtype = stimulus_drive.dtype
            if history_matrix is None:
                kernels = jnp.zeros((1, self.n_neurons, self.n_neurons), dtype)
            else:
                # kernels[l, i, j]: weight of s_j at lag l + offset on u_i.
                kernels = jnp.einsum("lb,ijb->lij", history_matrix.astype(dtype), params.coupling_weights)
                kernels = kernels * jnp.asarray(self.coupling_mask, dtype)[None]
            n_lags = kernels.shape[0]

            def step(history, inputs):
                drive, step_key = inputs
                # history[k] = s_{t-1-k}; kernel row l acts on s_{t-l-offset} = history[l + offset - 1]
                recent = history[offset - 1 : offset - 1 + n_lags]
                u = drive + params.bias + jnp.einsum("lij,lj->i", kernels, recent)
                spikes = observation.sample(step_key, u)
                history = jnp.concatenate([spikes[None], history[:-1]], axis=0)
                return history, (spikes, u)

            keys = jax.random.split(key, stimulus_drive.shape[0])
            _, (spikes, potentials) = jax.lax.scan(step, initial_history, (stimulus_drive, keys))
            return spikes, potentials

        return jax.jit(run)

    def simulate(self, params: GLMParams, key, n_steps: int | None = None, stimulus=None, initial_history=None):
        r"""Sample spike trains autoregressively (``lax.scan`` over time).

        At every step :math:`u_t` is computed from the sampled past, then :math:`s_t \sim p(\cdot \mid u_t)`.

        Parameters
        ----------
        params : GLMParams
        key : jax.random.PRNGKey
        n_steps : int, optional
            Number of bins; defaults to the stimulus length.
        stimulus : array_like, shape (T, D), optional
            Required when the network has stimulus filters.
        initial_history : array_like, shape (L, N), optional
            Spikes before the first bin, most recent first (``[0]`` is the bin just before); zeros by default.

        Returns
        -------
        spikes : jax.Array, shape (T, N)
        potentials : jax.Array, shape (T, N)
        """
        self.check_params(params)
        dtype = jnp.result_type(float)
        if self.n_stimulus_dims > 0:
            if stimulus is None:
                raise ValueError("this network has stimulus filters: pass stimulus of shape (T, D).")
            stimulus = np.asarray(stimulus, dtype=np.float64)
            stimulus = stimulus[:, None] if stimulus.ndim == 1 else stimulus
            if stimulus.ndim != 2 or stimulus.shape[1] != self.n_stimulus_dims or not np.all(np.isfinite(stimulus)):
                raise ValueError(f"stimulus must be finite with shape (T, {self.n_stimulus_dims}), got {stimulus.shape}.")
            if n_steps is None:
                n_steps = stimulus.shape[0]
            if stimulus.shape[0] != n_steps:
                raise ValueError(f"stimulus has {stimulus.shape[0]} bins but n_steps={n_steps}.")
            features = causal_convolve(jnp.asarray(stimulus, dtype), self.stimulus_basis)
            weights = params.stimulus_weights * jnp.asarray(self.stimulus_mask, dtype)[:, :, None]
            drive = jnp.einsum("tdb,idb->ti", features, weights)
        else:
            if stimulus is not None:
                raise ValueError("this network has no stimulus filters; do not pass a stimulus.")
            if n_steps is None or int(n_steps) != n_steps or n_steps < 1:
                raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}.")
            drive = jnp.zeros((int(n_steps), self.n_neurons), dtype)
        n_buffer = 1 if self.history_basis is None else self.history_basis.n_lags + self.history_basis.lag_offset - 1
        history = jnp.zeros((n_buffer, self.n_neurons), dtype)
        if initial_history is not None:
            initial_history = jnp.asarray(initial_history, dtype)
            if initial_history.ndim != 2 or initial_history.shape[1] != self.n_neurons:
                raise ValueError(f"initial_history must have shape (L, {self.n_neurons}), got {initial_history.shape}.")
            k = min(n_buffer, initial_history.shape[0])
            history = history.at[:k].set(initial_history[:k])
        params = GLMParams(*(jnp.asarray(p, dtype) for p in params))
        return self._simulate_jit(params, key, drive, history)

    def simulate_data(self, params: GLMParams, key, n_steps: int | None = None, stimulus=None, dt: float = 0.001) -> SpikeData:
        """:meth:`simulate` wrapped as :class:`SpikeData` (with the stimulus attached)."""
        spikes, _ = self.simulate(params, key, n_steps, stimulus)
        return SpikeData(np.asarray(spikes), dt=dt, stimulus=stimulus, neuron_names=self.neuron_names)

    # -------------------------------------------------------------- NumPyro model
    def model(self, design, counts=None, priors=None):
        """The NumPyro model of this network (see :func:`probsnn.models.glm_network`)."""
        from ..models.glm import glm_network

        return glm_network(design, counts, net=self, priors=priors)
