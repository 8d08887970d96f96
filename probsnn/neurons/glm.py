r"""GLM spiking networks of visible and latent neurons: generative models over spike trains.

The network has ``N = N_v + N_h`` GLM neurons, the ``N_v`` visible (recorded) ones first. Neuron :math:`i` has
the membrane potential (Pillow et al. 2008; Jang, Simeone, Gardner & Gruning 2019, eq. 3)

.. math::
    u_{i,t} = \gamma_i + \sum_{d} \sum_b w^{\rm stim}_{idb}\, \vec x_{d,t,b}
              + \sum_{j} \sum_b w^{\rm coup}_{ijb}\, \vec s_{j,t,b},
    \qquad \vec s_{j,t,b} = \sum_{\ell} \phi^{\rm hist}_b(\ell)\, s_{j,t-\ell},
    \quad \vec x_{d,t,b} = \sum_{\ell} \phi^{\rm stim}_b(\ell)\, x_{d,t-\ell},

so the stimulus filter is :math:`k_{id}(\ell) = \sum_b w^{\rm stim}_{idb}\phi^{\rm stim}_b(\ell)` and the coupling
kernel :math:`a_{ij}(\ell) = \sum_b w^{\rm coup}_{ijb}\phi^{\rm hist}_b(\ell)`. The history basis starts at lag 1,
so a spike cannot feed the potential of its own bin; the diagonal :math:`a_{ii}` is the self-history
(refractory) kernel. Given the potential, the spike count in bin :math:`t` follows the network's observation
model (:mod:`probsnn.neurons.observation`): Bernoulli :math:`\sigma(u/\tau)` or Poisson :math:`f(u)`.

One parametrisation, two evaluation modes (ARCHITECTURE.md, principles 2 and 3):

* **parallel** (:meth:`GLMNetwork.design_matrix`, :meth:`~GLMNetwork.potential`,
  :meth:`~GLMNetwork.log_likelihood`): when every spike that feeds the potential is observed, the potential of
  all bins is one causal convolution of the data with the bases followed by one contraction, no scan. MAP,
  Laplace, NUTS and SVI use it.
* **sequential** (:meth:`~GLMNetwork.init_state`, :meth:`~GLMNetwork.step`, :meth:`~GLMNetwork.forced_step`,
  :meth:`~GLMNetwork.sample`, :meth:`~GLMNetwork.log_prob_sequence`, :meth:`~GLMNetwork.simulate`): a pure step
  function over a NamedTuple state holding the last bins of stimulus and spikes, run by ``lax.scan``; memory is
  constant in the length of the stream. Sampling, latent neurons, three-factor VI, first-to-spike policies and
  streaming use it. Visible neurons may be *clamped* to data; latent neurons are sampled from their causal
  conditional :math:`p(h_t \mid u_t)`, the variational distribution of the three-factor rule.

The two modes compute the same potentials (tested to 1e-10 in float64).

Trials and partially recorded units (:class:`~probsnn.SpikeData` ``trial_starts`` and ``observed``): every
filter restarts at a trial start (the design is the convolution of each trial with a zero past, and the
sequential mode resets its state there), and the likelihood is the weighted sum
:math:`\sum_{t,i} m_{t,i} \log p(s_{i,t} \mid u_{i,t})` with the 0/1 weights :math:`m` of
:meth:`GLMNetwork.likelihood_weight`: the ``observed`` mask, and with ``trial_edges="drop"`` also zero for the
bins whose filters reach past a trial start or into a presynaptic unit's unobserved bins. Without trials,
mask or dropped edges the weight is ``None`` and nothing extra is computed.

References
----------
Pillow et al. (2008), Nature 454:995. Jang, Simeone, Gardner & Gruning (2019), "An introduction to
probabilistic spiking neural networks", IEEE Signal Processing Magazine 36(6):64-77. Rezende, Wierstra &
Gerstner (2011), "Variational learning for recurrent spiking networks", NeurIPS 24.
"""
from __future__ import annotations

import warnings
from functools import cached_property, partial
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import (
    check_finite_entries,
    check_float,
    concrete,
    finite_array,
    first_index,
    first_non_finite,
    non_negative_int,
    one_of,
    positive_int,
    trial_restarts,
)
from ..basis import Basis, causal_convolve
from ..data import MAX_COUNT_PER_BIN, ContinuousData, SpikeData
from .observation import make_observation

__all__ = ["GLMParams", "GLMState", "StepInput", "StepOutput", "GLMNetwork", "LatentGLMNetwork"]


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


class GLMState(NamedTuple):
    """Recurrent state of the sequential mode: the last bins of stimulus and spikes, most recent first.

    Attributes
    ----------
    stimulus_history : array, shape (L_s + offset_s - 1, D)
        ``stimulus_history[k]`` is the stimulus ``x_{t-1-k}``.
    spike_history : array, shape (L_h + offset_h - 1, N)
        ``spike_history[k]`` is ``s_{t-1-k}``.
    """

    stimulus_history: jax.Array
    spike_history: jax.Array


class StepInput(NamedTuple):
    """What one step consumes.

    Attributes
    ----------
    stimulus : array, shape (D,)
        Exogenous input ``x_t`` (e.g. encoded spikes).
    visible : array, shape (N_v,) or None
        Observed spikes of the visible neurons (clamped); ``None`` lets them run free (sampled).
    key : jax PRNG key
        Randomness for the latent (and free visible) spikes.
    """

    stimulus: jax.Array
    visible: Optional[jax.Array]
    key: jax.Array


class StepOutput(NamedTuple):
    """What one step returns.

    Attributes
    ----------
    spikes : (N,)  spikes of all neurons in this bin (visible clamped or sampled, latent sampled).
    potential : (N,)  membrane potentials ``u_t``.
    log_prob : (N,)  ``log p(s_{i,t} | u_{i,t})`` of each neuron's spike.
    stimulus_trace : (D, B_s)  pre-synaptic stimulus traces that fed ``u_t``.
    spike_trace : (N, B_h)  pre-synaptic spike traces that fed ``u_t``.
    """

    spikes: jax.Array
    potential: jax.Array
    log_prob: jax.Array
    stimulus_trace: jax.Array
    spike_trace: jax.Array


@jax.jit
def _potential(design, flat_weights):
    return design @ flat_weights.T


def weighted(terms, weight):
    """``terms * weight`` (per-bin log-likelihood terms times the 0/1 likelihood weight); ``terms`` itself when
    ``weight`` is None, the fast path of data without trials edges dropped or mask."""
    return terms if weight is None else terms * weight


@partial(jax.jit, static_argnames=("observation",))
def _log_likelihood_terms(design, counts, flat_weights, weight, observation):
    return weighted(observation.log_prob(counts, design @ flat_weights.T), weight)


class GLMNetwork:
    """A network of GLM spiking neurons, visible and latent, with basis-expanded filters and any topology.

    Parameters
    ----------
    n_visible : int
        Recorded (visible) neurons, first in every neuron axis.
    n_latent : int
        Latent (hidden) neurons, after the visible ones; their spikes are never observed, so only the
        sequential mode applies to them (``sample``, three-factor VI, synaptic sampling).
    stimulus_basis : Basis, optional
        Basis of the stimulus filters; ``None`` for no stimulus. Its lag offset may be 0 (the filter sees
        the current frame).
    history_basis : Basis, optional
        Basis of the self-history and coupling kernels; its lag offset must be >= 1. ``None`` for an
        inhomogeneous-Poisson (LNP) model.
    n_stimulus_dims : int, optional
        Number of stimulus columns ``D``; defaults to 1 when a stimulus basis is given.
    observation : {"poisson", "bernoulli", "negative_binomial", "gamma", "gaussian"} or an observation model
        The law of the counts given the potential (:mod:`probsnn.neurons.observation`). By name, the negative
        binomial, Gamma and Gaussian laws have dispersion 1; pass an instance (e.g.
        ``NegativeBinomialObservation(0.3)``) for another, or estimate it with :func:`probsnn.fit_dispersion`.
        ``"gamma"`` and ``"gaussian"`` fit continuous responses held in a :class:`~probsnn.ContinuousData`.
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
        Default ``n0, n1, ...`` for visible and ``h0, h1, ...`` for latent neurons.
    trial_edges : {"zero-pad", "drop"}
        What the model assumes beyond an edge of the data (a trial start, or the start of a presynaptic unit's
        recorded bins, see :class:`~probsnn.SpikeData`): ``"zero-pad"`` (default) takes the past before it as
        no spikes and zero stimulus; ``"drop"`` leaves out of the likelihood every bin whose filters reach past
        it (the first :attr:`window` bins of each trial, and of neuron ``i`` the bins whose history window
        holds an unobserved bin of a neuron coupled into ``i``), i.e. conditions on those bins.
    """

    def __init__(
        self,
        n_visible: int,
        n_latent: int = 0,
        *,
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
        trial_edges: str = "zero-pad",
    ):
        self.trial_edges = one_of("trial_edges", trial_edges, ("zero-pad", "drop"))
        self.n_visible = non_negative_int("n_visible", n_visible)
        self.n_latent = non_negative_int("n_latent", n_latent)
        if self.n_visible + self.n_latent < 1:
            raise ValueError("the network needs at least one neuron: n_visible + n_latent >= 1 "
                             f"(n_neurons), got n_visible={n_visible!r}, n_latent={n_latent!r}.")
        self.n_neurons = self.n_visible + self.n_latent
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
        self.n_stimulus_dims = non_negative_int("n_stimulus_dims", n_stimulus_dims)
        if self.n_stimulus_dims > 0 and stimulus_basis is None:
            raise ValueError("n_stimulus_dims > 0 needs a stimulus_basis.")
        self.observation = make_observation(observation, temperature, link)

        n = self.n_neurons
        if coupling_mask is None:
            coupling_mask = np.ones((n, n), bool) if coupling else np.zeros((n, n), bool)
            np.fill_diagonal(coupling_mask, bool(self_history))
        coupling_mask = np.asarray(coupling_mask, dtype=bool)
        if coupling_mask.shape != (n, n):
            raise ValueError(f"coupling_mask must have shape ({n}, {n}) (post, pre), got {coupling_mask.shape}.")
        if history_basis is None:
            coupling_mask = np.zeros((n, n), bool)
        if stimulus_mask is None:
            stimulus_mask = np.ones((n, self.n_stimulus_dims), bool)
        stimulus_mask = np.asarray(stimulus_mask, dtype=bool)
        if stimulus_mask.shape != (n, self.n_stimulus_dims):
            raise ValueError(f"stimulus_mask must have shape ({n}, {self.n_stimulus_dims}) (neuron, stimulus "
                             f"dimension), got {stimulus_mask.shape}.")
        self.coupling_mask = coupling_mask
        self.stimulus_mask = stimulus_mask
        if neuron_names is None:
            names = tuple(f"n{i}" for i in range(self.n_visible)) + tuple(f"h{i}" for i in range(self.n_latent))
        else:
            names = tuple(neuron_names)
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
    def window(self) -> int:
        """How many past bins the filters reach (the larger of the bases' ``reach``; 0 without filters)."""
        return max([basis.reach for basis in (self.stimulus_basis, self.history_basis) if basis is not None] + [0])

    @property
    def n_features(self) -> int:
        """Length of one neuron's flat weight vector: stimulus, history of every neuron, bias."""
        return self.n_stimulus_dims * self.n_stimulus_basis + self.n_neurons * self.n_history_basis + 1

    @property
    def visible_mask(self) -> np.ndarray:
        """Bool ``[N]``: True for visible neurons."""
        return np.arange(self.n_neurons) < self.n_visible

    @cached_property
    def param_mask(self) -> GLMParams:
        """0/1 float arrays in the shape of the parameters: which weights exist."""
        return GLMParams(
            stimulus_weights=np.repeat(self.stimulus_mask[:, :, None], self.n_stimulus_basis, axis=2).astype(float),
            coupling_weights=np.repeat(self.coupling_mask[:, :, None], self.n_history_basis, axis=2).astype(float),
            bias=np.ones(self.n_neurons),
        )

    @cached_property
    def feature_mask(self) -> np.ndarray:
        """Bool ``[N, F]``: which entries of each neuron's flat weight vector are free parameters."""
        mask, n = self.param_mask, self.n_neurons  # the layout of flatten, in NumPy (any JAX precision)
        return np.concatenate([mask.stimulus_weights.reshape(n, -1), mask.coupling_weights.reshape(n, -1),
                               mask.bias[:, None]], axis=1) > 0

    @property
    def n_free_parameters(self) -> int:
        return int(self.feature_mask.sum())

    def feature_names(self) -> list[str]:
        names = [f"stim[{d}]:b{b}" for d in range(self.n_stimulus_dims) for b in range(self.n_stimulus_basis)]
        names += [f"hist[{self.neuron_names[j]}]:b{b}"
                  for j in range(self.n_neurons) for b in range(self.n_history_basis)]
        return names + ["bias"]

    def __repr__(self) -> str:
        latent = f", n_latent={self.n_latent}" if self.n_latent else ""
        edges = f", trial_edges={self.trial_edges!r}" if self.trial_edges != "zero-pad" else ""
        return (
            f"GLMNetwork(n_visible={self.n_visible}{latent}, observation={self.observation}, "
            f"stimulus_basis={self.stimulus_basis}, history_basis={self.history_basis}, "
            f"free parameters={self.n_free_parameters}{edges})"
        )

    # -------------------------------------------------------------- parameters
    def init_params(self, key=None, scale: float = 0.1, bias=0.0, dtype=None) -> GLMParams:
        """Filter weights ``N(0, scale^2)`` (all zero when ``key`` is None; zero where masked) and the given
        bias (a scalar or one value per neuron). ``scale`` must be a finite number >= 0 and ``bias`` finite."""
        dtype = dtype or jnp.result_type(float)
        n = self.n_neurons
        scale = check_float("scale", scale, low=0.0)
        if not isinstance(bias, jax.core.Tracer):
            bias = finite_array("bias", bias)
            if bias.shape not in ((), (n,)):
                raise ValueError(f"bias must be one number or one per neuron (shape ({n},)), got shape {bias.shape}.")
        shapes = ((n, self.n_stimulus_dims, self.n_stimulus_basis), (n, n, self.n_history_basis))
        if key is None:
            stimulus_weights, coupling_weights = (jnp.zeros(s, dtype) for s in shapes)
        else:
            stimulus_key, coupling_key = jax.random.split(key)
            stimulus_weights = scale * jax.random.normal(stimulus_key, shapes[0], dtype)
            coupling_weights = scale * jax.random.normal(coupling_key, shapes[1], dtype)
        mask = self.param_mask
        return GLMParams(
            stimulus_weights=stimulus_weights * jnp.asarray(mask.stimulus_weights, dtype),
            coupling_weights=coupling_weights * jnp.asarray(mask.coupling_weights, dtype),
            bias=jnp.broadcast_to(jnp.asarray(bias, dtype), (n,)),
        )

    def check_params(self, params: GLMParams) -> GLMParams:
        """Validate shapes, and finiteness where the values are concrete (not traced), raising ValueError."""
        if not isinstance(params, GLMParams):
            raise TypeError(f"params must be GLMParams, got {type(params).__name__}.")
        for field, value, ref in zip(GLMParams._fields, params, self.param_mask):
            shape = jnp.shape(value)
            if shape != ref.shape:
                raise ValueError(f"params.{field} has shape {shape}, expected {ref.shape} for this network.")
            value = concrete(value)
            if value is not None:
                check_finite_entries(f"params.{field}", value)
        return params

    def flatten(self, params: GLMParams):
        """Per-neuron flat weight vectors ``[N, F]`` (masked entries forced to zero)."""
        n = self.n_neurons
        mask = self.param_mask
        stimulus_weights = params.stimulus_weights * jnp.asarray(mask.stimulus_weights, params.stimulus_weights.dtype)
        coupling_weights = params.coupling_weights * jnp.asarray(mask.coupling_weights, params.coupling_weights.dtype)
        return jnp.concatenate([stimulus_weights.reshape(n, -1), coupling_weights.reshape(n, -1), params.bias[:, None]],
                               axis=1)

    def unflatten(self, flat) -> GLMParams:
        """Inverse of :meth:`flatten`; leading axes before the last two (``[..., N, F]``) are kept."""
        n, ds, bs, bh = self.n_neurons, self.n_stimulus_dims, self.n_stimulus_basis, self.n_history_basis
        n_stim = ds * bs
        lead = flat.shape[:-2]
        return GLMParams(
            stimulus_weights=flat[..., :n_stim].reshape(*lead, n, ds, bs),
            coupling_weights=flat[..., n_stim : n_stim + n * bh].reshape(*lead, n, n, bh),
            bias=flat[..., -1],
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

    # ============================================================== parallel mode
    def check_data(self, data: SpikeData, design=None) -> SpikeData:
        """Check that ``data`` fits this network (neurons, stimulus dims, and what the observation model's
        ``check_response`` asks: binary spikes for Bernoulli, counts for the count laws, positive values for Gamma).

        The entry validation of every fitter (``fit_map``, ``fit_laplace``, ``fit_nuts``, ``fit_svi``): it runs
        on concrete values before any jitted code. The counts and stimulus are checked finite again (a
        :class:`SpikeData`'s arrays may have been edited in place since it was built), and a precomputed
        ``design`` (the fitters' ``design=`` argument) must have shape ``(T, n_features)`` and be finite; a NaN or
        inf is reported with the argument's name and the index of its first bad entry.
        """
        if not isinstance(data, SpikeData):
            raise TypeError(f"data must be a probsnn.SpikeData, got {type(data).__name__}.")
        fix = "; remove or impute them (SpikeData refuses them when it is built)"
        check_finite_entries("data.counts", data.counts, fix)
        if data.stimulus is not None:
            check_finite_entries("data.stimulus", data.stimulus, fix)
        if design is not None:
            shape = tuple(np.shape(design))
            if shape != (data.n_bins, self.n_features):
                raise ValueError(f"design has shape {shape}, expected {(data.n_bins, self.n_features)} "
                                 "(bins, features): pass net.design_matrix(data) for this network and data.")
            values = concrete(design)
            bad = None if values is None else first_non_finite(values)
            if bad is not None:
                raise ValueError(
                    f"design contains a non-finite value ({values[bad]}) at index {bad}: bin {bad[0]}, feature "
                    f"{bad[1]} ({self.feature_names()[bad[1]]!r}); pass net.design_matrix(data), or fix the "
                    "data it was computed from."
                )
        if data.n_neurons != self.n_neurons:
            hint = (f" The parallel mode needs every spike that feeds the potential, latent ones included; for "
                    f"recordings of the {self.n_visible} visible neurons use the sequential mode (sample, "
                    f"ThreeFactorVI, synaptic_sampling).") if self.n_latent else ""
            raise ValueError(f"data has {data.n_neurons} neurons but the network has {self.n_neurons}.{hint}")
        if data.n_stimulus_dims != self.n_stimulus_dims:
            raise ValueError(
                f"data has {data.n_stimulus_dims} stimulus dimensions but the network expects "
                f"{self.n_stimulus_dims}; pass n_stimulus_dims={data.n_stimulus_dims} or fix the stimulus."
            )
        self.observation.check_response(data)  # binary spikes for Bernoulli, positive values for Gamma, ...
        return data

    def design_matrix(self, data: SpikeData, method: str = "auto"):
        r"""The features shared by all neurons, ``[T, F]``: convolve once, reuse for every neuron.

        Columns: stimulus dimension ``d`` filtered by stimulus basis ``b`` (``d``-major), the spike train of
        neuron ``j`` filtered by history basis ``b`` (``j``-major), and a column of ones. The potential of
        every neuron is then ``u = X @ W.T`` with ``W = flatten(params)``. With ``data.trial_starts`` every
        convolution restarts at each trial start with a zero past (:func:`probsnn.basis.causal_convolve`).
        """
        self.check_data(data)
        dtype = jnp.result_type(float)
        blocks = []
        n_bins, starts = data.n_bins, data.trial_starts
        if self.n_stimulus_dims > 0:
            blocks.append(causal_convolve(jnp.asarray(data.stimulus, dtype), self.stimulus_basis, method,
                                          starts).reshape(n_bins, -1))
        if self.history_basis is not None:
            blocks.append(causal_convolve(jnp.asarray(data.counts, dtype), self.history_basis, method,
                                          starts).reshape(n_bins, -1))
        blocks.append(jnp.ones((n_bins, 1), dtype))
        return jnp.concatenate(blocks, axis=1)

    def likelihood_weight(self, data: SpikeData):
        r"""The 0/1 weight :math:`m_{t,i}` of every likelihood term, ``[T, N]`` floats, or ``None`` for all ones.

        :math:`m` is ``data.observed``; with ``trial_edges="drop"`` it is also 0 in the first :attr:`window`
        bins of every trial and, for neuron ``i``, in the bins whose history window (lags
        ``history_basis.lags``, within the trial) holds an unobserved bin of a neuron ``j`` coupled into ``i``
        (``coupling_mask[i, j]``). ``None`` (nothing computed) when there is no mask and the edges are zero-padded:
        the fast path. Every fitter, ``log_likelihood`` and the diagnostics use it.
        """
        if self.trial_edges == "zero-pad":
            return None if data.observed is None else data.observed.astype(np.float64)
        observed = np.ones(data.counts.shape, bool) if data.observed is None else data.observed
        weight = observed.copy()
        position = np.arange(data.n_bins) - np.repeat(data.trial_bounds[:-1], np.diff(data.trial_bounds))
        weight[position < self.window] = False
        if data.observed is not None and self.history_basis is not None:
            window = Basis(np.ones((self.history_basis.n_lags, 1)), self.history_basis.lag_offset)
            missing = np.asarray(causal_convolve(np.asarray(~observed, np.float64), window, "direct",
                                                 data.trial_starts))[:, :, 0] > 0.5  # [T, N]: j unobserved in window
            weight &= (missing.astype(np.float64) @ self.coupling_mask.T.astype(np.float64)) < 0.5
        return weight.astype(np.float64)

    def potential(self, params: GLMParams, data: SpikeData, design=None):
        """Membrane potentials ``[T, N]`` given observed spikes (parallel in time)."""
        design = self.design_matrix(data) if design is None else design
        return _potential(design, self.flatten(self.check_params(params)))

    def log_likelihood(self, params: GLMParams, data: SpikeData, per: str = "total", design=None):
        r"""Log-likelihood :math:`\sum_{t,i} m_{t,i} \log p(s_{i,t} \mid u_{i,t})` of observed spikes.

        :math:`m` is :meth:`likelihood_weight` (all ones without trials edges dropped or an ``observed`` mask).

        Parameters
        ----------
        per : {"total", "neuron", "bin"}
            Return a scalar, a ``[N]`` vector, or the ``[T, N]`` terms (zero where :math:`m = 0`).
        design : array, optional
            A precomputed :meth:`design_matrix` for ``data`` (saves the convolution).
        """
        if per not in ("total", "neuron", "bin"):
            raise ValueError(f"per must be 'total', 'neuron' or 'bin', got {per!r}.")
        design = self.design_matrix(data) if design is None else design
        weight = self.likelihood_weight(data)
        terms = _log_likelihood_terms(design, jnp.asarray(data.counts), self.flatten(self.check_params(params)),
                                      None if weight is None else jnp.asarray(weight, design.dtype), self.observation)
        if per == "bin":
            return terms
        return terms.sum(axis=0) if per == "neuron" else terms.sum()

    def predicted_rate(self, params: GLMParams, data: SpikeData, design=None):
        """Conditional intensity in Hz, ``[T, N]``: expected spikes per bin / dt, given the observed past."""
        return np.asarray(self.observation.mean(self.potential(params, data, design))) / data.dt

    # ============================================================== sequential mode
    def init_state(self, dtype=None) -> GLMState:
        """Silent past: no spikes and zero stimulus before the first bin."""
        dtype = dtype or jnp.result_type(float)
        n_stim = 0 if self.stimulus_basis is None else self.stimulus_basis.n_lags + self.stimulus_basis.lag_offset - 1
        n_hist = 0 if self.history_basis is None else self.history_basis.n_lags + self.history_basis.lag_offset - 1
        return GLMState(jnp.zeros((n_stim, self.n_stimulus_dims), dtype), jnp.zeros((n_hist, self.n_neurons), dtype))

    def traces(self, state: GLMState, stimulus):
        r"""Pre-synaptic traces feeding ``u_t``: ``(stimulus_trace [D, B_s], spike_trace [N, B_h], stimulus window)``.

        :math:`\vec x_{d,b} = \sum_l \phi^{\rm stim}_b(l)\, x_{d, t - l - o_s}`,
        :math:`\vec s_{j,b} = \sum_l \phi^{\rm hist}_b(l)\, s_{j, t - l - o_h}`; the same numbers as the columns of
        :meth:`design_matrix` at bin ``t``.
        """
        dtype = state.spike_history.dtype
        window = jnp.concatenate([jnp.asarray(stimulus, dtype).reshape(1, self.n_stimulus_dims),
                                  state.stimulus_history], axis=0)
        if self.stimulus_basis is None:
            stimulus_trace = jnp.zeros((self.n_stimulus_dims, 0), dtype)
        else:
            offset, n_lags = self.stimulus_basis.lag_offset, self.stimulus_basis.n_lags
            stimulus_trace = jnp.einsum("lb,ld->db", jnp.asarray(self.stimulus_basis.matrix, dtype),
                                        window[offset : offset + n_lags])
        if self.history_basis is None:
            spike_trace = jnp.zeros((self.n_neurons, 0), dtype)
        else:
            offset, n_lags = self.history_basis.lag_offset, self.history_basis.n_lags
            spike_trace = jnp.einsum("lb,lj->jb", jnp.asarray(self.history_basis.matrix, dtype),
                                     state.spike_history[offset - 1 : offset - 1 + n_lags])
        return stimulus_trace, spike_trace, window

    def potential_from_traces(self, params: GLMParams, stimulus_trace, spike_trace):
        """``u = bias + sum_db w_stim[i,d,b] x_trace[d,b] + sum_jb w_coup[i,j,b] s_trace[j,b]`` (masked weights)."""
        dtype = spike_trace.dtype
        mask = self.param_mask
        stimulus_weights = params.stimulus_weights * jnp.asarray(mask.stimulus_weights, dtype)
        coupling_weights = params.coupling_weights * jnp.asarray(mask.coupling_weights, dtype)
        return (params.bias + jnp.einsum("idb,db->i", stimulus_weights, stimulus_trace)
                + jnp.einsum("ijb,jb->i", coupling_weights, spike_trace))

    def next_state(self, state: GLMState, window, spikes) -> GLMState:
        """The state of the next bin: shift in this bin's stimulus and spikes."""
        n_stim, n_hist = state.stimulus_history.shape[0], state.spike_history.shape[0]
        return GLMState(window[:n_stim], jnp.concatenate([spikes[None], state.spike_history], axis=0)[:n_hist])

    def step(self, params: GLMParams, state: GLMState, inputs: StepInput):
        """One time bin: ``(state, inputs) -> (new_state, StepOutput)``; pure, jit/vmap/grad friendly.

        Visible neurons take ``inputs.visible`` (when given); the others are sampled from the observation model.
        """
        stimulus_trace, spike_trace, window = self.traces(state, inputs.stimulus)
        u = self.potential_from_traces(params, stimulus_trace, spike_trace)
        sampled = self.observation.sample(inputs.key, u)
        if inputs.visible is not None and self.n_visible > 0:
            spikes = jnp.concatenate([jnp.asarray(inputs.visible, u.dtype), sampled[self.n_visible:]])
        else:
            spikes = sampled
        spikes = jax.lax.stop_gradient(spikes)
        log_prob = self.observation.log_prob(spikes, u)
        return self.next_state(state, window, spikes), StepOutput(spikes, u, log_prob, stimulus_trace, spike_trace)

    def forced_step(self, params: GLMParams, state: GLMState, stimulus, spikes):
        """One bin with *all* spikes given (teacher forcing): ``(new_state, StepOutput)``; differentiable in params."""
        stimulus_trace, spike_trace, window = self.traces(state, stimulus)
        u = self.potential_from_traces(params, stimulus_trace, spike_trace)
        spikes = jnp.asarray(spikes, u.dtype)
        log_prob = self.observation.log_prob(spikes, u)
        return self.next_state(state, window, spikes), StepOutput(spikes, u, log_prob, stimulus_trace, spike_trace)

    def local_score(self, out: StepOutput) -> GLMParams:
        r"""Per-step gradient :math:`\nabla_\theta \log p(s_{i,t}\mid u_{i,t})` of every neuron, as GLMParams.

        The observation's post-synaptic error :math:`\partial_u \log p(s \mid u)` times the pre-synaptic traces
        (outer product); the bias gets the error alone; masked weights get zero. The local factor of every
        three-factor rule (Jang et al. 2019, eq. 14).
        """
        error = self.observation.score(out.spikes, out.potential)
        mask = self.param_mask
        dtype = error.dtype
        return GLMParams(
            stimulus_weights=(error[:, None, None] * out.stimulus_trace[None]
                              * jnp.asarray(mask.stimulus_weights, dtype)),
            coupling_weights=error[:, None, None] * out.spike_trace[None] * jnp.asarray(mask.coupling_weights, dtype),
            bias=error,
        )

    def _check_sequence(self, stimulus, visible, n_steps):
        if stimulus is None:
            if self.n_stimulus_dims > 0:
                raise ValueError("this network has stimulus filters: "
                                 f"pass stimulus of shape (T, {self.n_stimulus_dims}).")
            if n_steps is None:
                raise ValueError("give the stimulus [T, D] or n_steps.")
            stimulus = np.zeros((positive_int("n_steps", n_steps), 0))
        if not isinstance(stimulus, jax.Array):
            stimulus = finite_array("stimulus", stimulus)
            if stimulus.ndim == 1 and self.n_stimulus_dims == 1:
                stimulus = stimulus[:, None]
        if stimulus.ndim != 2 or stimulus.shape[1] != self.n_stimulus_dims:
            raise ValueError(f"stimulus must have shape (T, {self.n_stimulus_dims}), got {stimulus.shape}.")
        values = concrete(stimulus)
        if values is not None:
            check_finite_entries("stimulus", values, fix="; remove or impute them")
        if n_steps is not None and stimulus.shape[0] != n_steps:
            raise ValueError(f"stimulus has {stimulus.shape[0]} bins but n_steps={n_steps}.")
        if visible is not None:
            visible = np.asarray(visible) if not isinstance(visible, jax.Array) else visible
            if visible.shape != (stimulus.shape[0], self.n_visible):
                raise ValueError(f"visible spikes must have shape ({stimulus.shape[0]}, {self.n_visible}), "
                                 f"got {visible.shape}.")
        return stimulus, visible

    def sample(self, params: GLMParams, key, stimulus=None, visible=None, n_steps=None, state=None,
               trial_starts=None):
        """Run the network over ``T`` bins with ``lax.scan``.

        Parameters
        ----------
        stimulus : array (T, D), optional (zeros of length ``n_steps`` when the network has no stimulus)
        visible : array (T, N_v), optional
            Clamp the visible neurons to these spikes (posterior-causal sampling of the latents, the
            variational distribution); ``None`` samples every neuron (the generative model).
        state : GLMState, optional (silent past by default)
        trial_starts : sequence of int, optional
            Bins where a trial begins (first 0, as :attr:`probsnn.SpikeData.trial_starts`): the state is reset
            to the silent past there, so no history crosses a trial boundary (``state`` is the past of the first
            trial only).

        Returns
        -------
        final_state, StepOutput with a leading time axis (``spikes [T, N]``, ``potential``, ``log_prob``, ...)
        """
        self.check_params(params)
        stimulus, visible = self._check_sequence(stimulus, visible, n_steps)
        restart = trial_restarts("trial_starts", trial_starts, stimulus.shape[0])
        dtype = jnp.result_type(float)
        return self._sample_jit(params, key, jnp.asarray(stimulus, dtype),
                                None if visible is None else jnp.asarray(visible, dtype),
                                self.init_state(dtype) if state is None else state, restart)

    @cached_property
    def _sample_jit(self):
        def run(params, key, stimulus, visible, state, restart):
            keys = jax.random.split(key, stimulus.shape[0])

            def body(carry, xs):
                stimulus_t, visible_t, key_t, restart_t = xs  # None where not given (no work in the scan)
                if restart_t is not None:  # a trial starts: back to the silent past
                    carry = jax.tree.map(lambda c: jnp.where(restart_t, jnp.zeros_like(c), c), carry)
                return self.step(params, carry, StepInput(stimulus_t, visible_t, key_t))

            return jax.lax.scan(body, state, (stimulus, visible, keys, restart))

        return jax.jit(run)

    def log_prob_sequence(self, params: GLMParams, stimulus, spikes, state=None):
        r"""``log p(s_{i,t} | u_{i,t})`` for every bin and neuron, ``[T, N]``, all spikes given (``lax.scan``).

        The joint log-probability of a path is the total; the visible rows give :math:`\log p(x \mid h)`
        and the latent rows :math:`\log q(h)` (the causal conditional). Differentiable in ``params``.
        """
        stimulus, _ = self._check_sequence(stimulus, None, None)
        spikes = jnp.asarray(spikes)
        if spikes.shape != (stimulus.shape[0], self.n_neurons):
            raise ValueError(f"spikes must have shape ({stimulus.shape[0]}, {self.n_neurons}), got {spikes.shape}.")
        return self._log_prob_jit(params, jnp.asarray(stimulus), spikes, self.init_state() if state is None else state)

    @cached_property
    def _log_prob_jit(self):
        def run(params, stimulus, spikes, state):
            def body(carry, xs):
                carry, out = self.forced_step(params, carry, *xs)
                return carry, out.log_prob

            return jax.lax.scan(body, state, (stimulus, spikes))[1]

        return jax.jit(run)

    def log_joint(self, params: GLMParams, stimulus, spikes):
        """Total ``log p(s_{1:T})`` of a full spike path given the stimulus (visible and latent)."""
        return jnp.sum(self.log_prob_sequence(params, stimulus, spikes))

    def simulate(self, params: GLMParams, key, n_steps: int | None = None, stimulus=None, initial_history=None,
                 on_explosion: str = "raise", trial_starts=None):
        r"""Sample spike trains autoregressively from the generative model (every neuron free).

        At every step :math:`u_t` is computed from the sampled past, then :math:`s_t \sim p(\cdot \mid u_t)`
        (:meth:`sample` with nothing clamped).

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
        on_explosion : {"raise", "warn"}
            What to do when the network is explosive (below): ``"raise"`` (the default) raises a ``ValueError``;
            ``"warn"`` returns the sampled path for inspection with a ``RuntimeWarning``.
        trial_starts : sequence of int, optional
            Bins where a trial begins (first 0): the history restarts from silence at each (see :meth:`sample`).

        Returns
        -------
        spikes : jax.Array, shape (T, N)
        potentials : jax.Array, shape (T, N)

        Raises
        ------
        ValueError
            When the network is explosive (``on_explosion="raise"``): a potential exceeds the observation's
            ``safe_potential_bound`` (a Poisson mean above ``MAX_COUNT_PER_BIN = 2**24`` spikes per bin, where
            the sampled counts leave the range of a recording and finally saturate at the int64 maximum). The
            message gives the bin, the neuron and the fix. Checked on concrete outputs only: under ``jax.jit``
            nothing is checked (the traced program runs and returns the sampled path).

        Warns
        -----
        RuntimeWarning
            Instead of the error, with ``on_explosion="warn"``: the outputs are returned as sampled (the
            potentials are exact for the sampled path, the counts are not spike data).
        """
        one_of("on_explosion", on_explosion, ("raise", "warn"))
        spikes, potentials = self._simulate(params, key, n_steps, stimulus, initial_history, trial_starts)
        explosion = self._explosion(spikes, potentials)
        if explosion and on_explosion == "raise":
            raise ValueError(f"simulate: {explosion} To inspect the runaway path pass on_explosion='warn'.")
        if explosion:
            warnings.warn(explosion, RuntimeWarning, stacklevel=2)
        return spikes, potentials

    def _simulate(self, params, key, n_steps, stimulus, initial_history, trial_starts=None):
        """:meth:`simulate` without the check of its outputs."""
        if self.n_stimulus_dims == 0 and stimulus is not None:
            raise ValueError("this network has no stimulus filters; do not pass a stimulus.")
        dtype = jnp.result_type(float)
        state = self.init_state(dtype)
        if initial_history is not None:
            initial_history = jnp.asarray(initial_history, dtype)
            if initial_history.ndim != 2 or initial_history.shape[1] != self.n_neurons:
                raise ValueError(f"initial_history must have shape (L, {self.n_neurons}), got {initial_history.shape}.")
            k = min(state.spike_history.shape[0], initial_history.shape[0])
            state = state._replace(spike_history=state.spike_history.at[:k].set(initial_history[:k]))
        params = GLMParams(*(jnp.asarray(p, dtype) for p in self.check_params(params)))
        _, out = self.sample(params, key, stimulus, None, n_steps, state, trial_starts)
        return out.spikes, out.potential

    def _explosion(self, spikes, potentials) -> str:
        """Why a simulated run exploded (empty when it did not): a potential beyond the observation's
        ``safe_potential_bound`` (its mean count would exceed ``MAX_COUNT_PER_BIN``), not finite, or a count above
        that maximum. Checks concrete outputs only (under ``jax.jit`` the values are traced: nothing to check).
        """
        spikes, potentials = concrete(spikes), concrete(potentials)
        if spikes is None or potentials is None:
            return ""
        bound = self.observation.safe_potential_bound
        exploded = ~np.isfinite(potentials) | (potentials > bound) | ~(spikes <= MAX_COUNT_PER_BIN)
        where = first_index(exploded)
        if where is None:
            return ""
        t, i = where
        return (
            f"the network is explosive (runaway excitation): at bin {t} neuron {self.neuron_names[i]!r} has "
            f"potential {potentials[t, i]:.4g} and {spikes[t, i]:.4g} spikes, beyond the safe bound "
            f"{bound:.4g} of the {self.observation.name} observation (a mean of more than MAX_COUNT_PER_BIN = "
            f"2**24 spikes per bin: the counts overflow). Spikes feed back through positive self-history or "
            "coupling weights faster than they decay; make params.coupling_weights smaller (more negative "
            "self-history, weaker positive coupling) or lower the bias and the stimulus weights."
        )

    def simulate_data(self, params: GLMParams, key, n_steps: int | None = None, stimulus=None,
                      dt: float = 0.001, trial_starts=None) -> SpikeData:
        """:meth:`simulate` wrapped as :class:`SpikeData` (a :class:`ContinuousData` for a continuous observation
        model), with the stimulus and ``trial_starts`` attached.

        Raises
        ------
        ValueError
            When the network is explosive (see :meth:`simulate`): its counts are no spike data.
        """
        spikes, potentials = self._simulate(params, key, n_steps, stimulus, None, trial_starts)
        explosion = self._explosion(spikes, potentials)
        if explosion:
            raise ValueError(explosion)
        container = SpikeData if self.observation.discrete else ContinuousData  # Gamma, Gaussian: real values
        return container(np.asarray(spikes), dt=dt, stimulus=stimulus, neuron_names=self.neuron_names,
                         trial_starts=trial_starts)


class LatentGLMNetwork(GLMNetwork):
    """Deprecated alias of :class:`GLMNetwork` with Bernoulli neurons (one release): use
    ``GLMNetwork(n_visible, n_latent, history_basis=..., stimulus_basis=..., n_stimulus_dims=...,
    observation="bernoulli", temperature=...)``. ``n_inputs``/``input_basis``/``input_mask`` are the stimulus
    arguments; the input basis defaulted to the history basis."""

    def __init__(self, n_visible: int, n_latent: int, history_basis: Basis, n_inputs: int = 0,
                 input_basis: Basis | None = None, temperature: float = 1.0, coupling_mask=None, input_mask=None):
        warnings.warn("LatentGLMNetwork is deprecated: use GLMNetwork(n_visible, n_latent, history_basis=..., "
                      "stimulus_basis=..., n_stimulus_dims=..., observation='bernoulli').", DeprecationWarning,
                      stacklevel=2)
        if not isinstance(history_basis, Basis):
            raise TypeError(f"history_basis must be a probsnn.basis.Basis, got {type(history_basis).__name__}.")
        n_inputs = non_negative_int("n_inputs", n_inputs)
        super().__init__(n_visible, n_latent, history_basis=history_basis,
                         stimulus_basis=(input_basis or history_basis) if n_inputs else None,
                         n_stimulus_dims=n_inputs, observation="bernoulli", temperature=temperature,
                         coupling_mask=coupling_mask, stimulus_mask=input_mask)
