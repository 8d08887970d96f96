r"""Langevin synaptic sampling: a posterior over synapses, temperature, and rewiring.

Synaptic sampling (Kappel, Habenschuss, Legenstein & Maass 2015) lets the synaptic parameters
:math:`\theta` of a network follow the stochastic differential equation

.. math::
    d\theta = \beta\,\Big(\nabla_\theta \log p_{\rm prior}(\theta) + \nabla_\theta \log p(x \mid \theta)\Big)\,dt
              + \sqrt{2 \beta T}\; dW,

whose stationary distribution is :math:`p^*(\theta) \propto p(\theta \mid x)^{1/T}`: at temperature
:math:`T = 1` the posterior, at :math:`T < 1` a sharpened and at :math:`T > 1` a flattened version of it.
It is integrated with the Euler-Maruyama scheme (step :math:`h = \beta\,\Delta t`, ``step_size``)

.. math::
    \theta_{k+1} = \theta_k + h\, \widehat{\nabla \log p}(\theta_k) + \sqrt{2 h T}\; \xi_k,
    \qquad \xi_k \sim \mathcal N(0, I),

which is stochastic-gradient Langevin dynamics (Welling & Teh 2011): the update is BlackJAX's
overdamped-Langevin diffusion (:func:`blackjax.sgmcmc.diffusions.overdamped_langevin`, the building block of
``blackjax.sgld``), which has exactly this form with the same temperature convention. The gradient is either the
full-data gradient (recorded spikes, where the GLM likelihood is one contraction over a precomputed design
matrix) or an unbiased mini-batch estimate :math:`\nabla\log p_{\rm prior} + \tfrac{T_{\rm bins}}{B}
\sum_{t \in \mathcal B} \nabla \log p(x_t \mid \theta)` over ``B`` random bins or over consecutive blocks
(streaming, online use). Bins of a GLM with observed spikes are conditionally independent given the design
matrix, so this estimate is unbiased.

**Step size.** Euler-Maruyama has no Metropolis correction, so its stationary distribution is biased by
:math:`O(h)`. For a Gaussian target with precision :math:`A` the chain's stationary covariance is
:math:`(A - hA^2/2)^{-1} = \Sigma + \tfrac h2 I + O(h^2)`, and the stability limit is :math:`h < 2/\lambda_{\max}(A)`.
The measured bias on a small model (a table over ``h``, and a 1-D analogue across the retraction kink) is in
``docs/synaptic_sampling.md``; ``test_step_size_bias_is_first_order`` checks the :math:`O(h)` law. Use
:math:`h \lesssim 0.1/\lambda_{\max}` for posterior summaries.

**Parametrisations.** ``"signed"`` (:math:`w = \theta`) or ``"retraction"`` (Kappel et al. 2015, Eq. 6:
:math:`w = \max(0, e^{\theta-\theta_0} - e^{-\theta_0})`, synapses that retract at :math:`\theta \le 0` and may
re-form): :class:`probsnn.models.synapses.SynapseParametrisation`, the same map the NumPyro model
:func:`probsnn.models.glm_network` takes as its ``parametrisation`` argument.

**Priors.** Pluggable: one scalar NumPyro distribution with real support for every parameter, a
:class:`probsnn.GLMPriors` (one per group; the default, ``N(0, 1)`` on weights and ``N(0, 5)`` on biases, the
priors of :func:`probsnn.models.glm_network`, so at ``T = 1`` with the signed parametrisation the sampler targets
exactly that model's posterior), or any callable ``log_prior(theta_groups) -> scalar``. Priors are on
:math:`\theta` (for the retraction parametrisation, the Gaussian prior on :math:`\theta` of Kappel et al.).

**Output.** :func:`synaptic_sampling` returns an :class:`arviz.InferenceData` whose posterior holds the free
parameters per group (``theta_stimulus``, ``theta_coupling``, ``theta_bias``, the same site names as the
NumPyro reference model :meth:`SynapticSampler.numpyro_model`, so NUTS and Langevin runs compare directly)
and the effective weights in the layout of :class:`probsnn.GLMParams` (``stimulus_weights``,
``coupling_weights``, ``bias``); ``sample_stats`` holds ``lp`` (the untempered log posterior),
``log_likelihood`` (with latent neurons: ``learning_signal``, the mean summed visible log-likelihood of the
sampled paths), ``retracted_fraction`` (the fraction of retracted synapses at each draw, i.e. over time),
``n_retracted`` and ``diverging``.

**Divergence.** Every step checks that the gradient and the new parameters are finite and below
``divergence_threshold`` in magnitude. A chain that fails is frozen at its last good state and flagged; by
default :func:`synaptic_sampling` then raises :class:`LangevinDivergenceError` naming the chain and the step
(``on_divergence="warn"`` returns the run with ``diverging`` flags instead). No NaNs are ever returned.

**Latent neurons.** With hidden neurons the likelihood of the recorded visible spikes
:math:`p(x \mid \theta) = \sum_h p(x, h \mid \theta)` has no closed-form gradient. Following the variational view
of the three-factor rule (:mod:`probsnn.inference.three_factor`; Rezende, Wierstra & Gerstner 2011; Jang et al.
2019) the latent spikes are drawn from the network's own causal conditional :math:`q_w(h)` and the
log-likelihood is replaced by the evidence lower bound
:math:`\mathcal L(w) = \mathbb E_{q_w(h)}[\sum_t \sum_{i \in V} \log p(x_{i,t} \mid u_{i,t})] \le \log p(x \mid w)`.
The drift's likelihood part is then :math:`J_w(\theta)^\top \widehat{\nabla_w \mathcal L}`, the three-factor
estimate of one example (:meth:`probsnn.ThreeFactorVI.episode_update`; the Jacobian of the weight map applied
with :func:`jax.vjp`), with a baseline that does not depend on the current sample (a running mean of the
example's past learning signals for ``n_samples = 1``, the leave-one-out mean for ``n_samples > 1``): an unbiased
estimate of :math:`\nabla_\theta \mathcal L` (tested against exact enumeration of the latent paths in
``tests/test_latent_sampling.py``). Examples add up their bounds; a mini-batch of ``batch_size`` examples is
scaled by ``n_examples / batch_size``. The chain's stationary distribution is then
:math:`\propto [p_{\rm prior}(\theta)\, e^{\sum_e \mathcal L_e(w(\theta))}]^{1/T}` up to :math:`O(h)` and
gradient-noise terms; ``multi_sample="iw"`` replaces :math:`\mathcal L` by the tighter ``K``-sample
importance-weighted bound. Without latent neurons the estimate is exactly :math:`\nabla_w \log p(x\mid w)`.
Both cases share one chain driver, one kernel and one InferenceData layout.

References
----------
Kappel, Habenschuss, Legenstein & Maass (2015), "Network plasticity as Bayesian inference", PLoS Comput Biol
11(11):e1004485; and "Synaptic sampling: a Bayesian approach to neural network plasticity and rewiring",
NeurIPS 28. Rezende, Wierstra & Gerstner (2011), NeurIPS 24. Jang, Simeone, Gardner & Gruning
(2019), IEEE Signal Processing Magazine 36(6):64-77. Welling & Teh (2011), "Bayesian learning via stochastic
gradient Langevin dynamics", ICML.
Cabezas et al. (2024), "BlackJAX: composable Bayesian inference in JAX", arXiv:2402.10797.
"""
from __future__ import annotations

import warnings
from functools import cached_property
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_float, finite_array, non_negative_int, one_of, positive_float, positive_int
from ..checkpoint import checkpoint_options, fingerprint, resume_checkpoint, run_in_chunks, save_checkpoint
from ..data import SpikeData
from ..models.glm import glm_network
from ..models.synapses import GROUPS, SynapseParametrisation, resolve_theta_prior, retraction_weights
from ..neurons.glm import GLMNetwork, GLMParams
from .three_factor import ThreeFactorVI

__all__ = [
    "LangevinDivergenceError",
    "SynapticSampler",
    "SamplerState",
    "retraction_weights",
    "synaptic_sampling",
    "retraction_probability",
    "last_theta",
]


_CHECKPOINT_KIND = "SynapticSampler"


class LangevinDivergenceError(RuntimeError):
    """A Langevin chain produced non-finite or exploding parameters (reduce ``step_size`` or the temperature)."""


class SamplerState(NamedTuple):
    """State of one Langevin chain (a pytree, carried through ``lax.scan``).

    Attributes
    ----------
    theta : dict of str -> array
        Free parameters per group (``"stimulus"``, ``"coupling"``, ``"bias"``), each ``[K_group]``.
    key : jax PRNG key
    step : int array
        Number of steps taken.
    baseline : array [E]
        Running mean of each example's learning signal (latent neurons, ``n_samples = 1``); empty otherwise.
    diverged : bool array
        Whether the chain has diverged (it is then frozen at its last good state).
    divergence_step : int array
        The step at which it diverged (``-1`` if it has not).
    """

    theta: dict
    key: jax.Array
    step: jax.Array
    baseline: jax.Array
    diverged: jax.Array
    divergence_step: jax.Array


class SynapticSampler:
    """Target and Langevin kernel of synaptic sampling for one :class:`probsnn.GLMNetwork`.

    Parameters
    ----------
    net : probsnn.GLMNetwork
        Without latent neurons the likelihood gradient is exact (observed spikes, the parallel mode); with latent
        neurons it is the three-factor estimate (the sequential mode).
    prior : numpyro Distribution, probsnn.GLMPriors, or callable, optional
        Prior on :math:`\\theta` (:func:`probsnn.models.synapses.resolve_theta_prior`). A scalar NumPyro
        distribution (real support) is applied to every free parameter; a :class:`~probsnn.GLMPriors` gives one
        distribution per group; a callable maps the dict of group vectors to a scalar log density.
        Default: ``GLMPriors()`` (``N(0, 1)`` weights, ``N(0, 5)`` bias).
    parametrisation, theta0, retract
        The weight map (:class:`probsnn.models.synapses.SynapseParametrisation`).
    n_samples : int
        Latent paths per example and step (``K``; latent neurons only).
    multi_sample : {"mean", "iw"}
        ``"mean"``: the ELBO; ``"iw"``: the ``K``-sample importance-weighted bound (latent neurons only).
    baseline_decay : float in [0, 1)
        Decay of the per-example running-mean baseline (latent neurons, ``n_samples = 1``).
    """

    def __init__(self, net: GLMNetwork, prior=None, parametrisation: str = "signed", theta0: float = 3.0,
                 retract="synapses", n_samples: int = 1, multi_sample: str = "mean", baseline_decay: float = 0.9):
        if not isinstance(net, GLMNetwork):
            raise TypeError(f"net must be a probsnn.GLMNetwork, got {type(net).__name__}.")
        self.net = net
        self.synapses = SynapseParametrisation(net, parametrisation, theta0, retract)
        self.prior_spec = prior
        self.prior = resolve_theta_prior(prior)
        self.latent = net.n_latent > 0
        self.n_samples = positive_int("n_samples", n_samples)
        self.baseline_decay = check_float("baseline_decay", baseline_decay, 0.0, 1.0, high_open=True)
        # the three-factor estimator (its optimiser is unused here: Langevin does the update)
        self.learner = ThreeFactorVI(net, n_samples=self.n_samples, multi_sample=multi_sample, baseline=False)

    parametrisation = property(lambda self: self.synapses.parametrisation)
    theta0 = property(lambda self: self.synapses.theta0)
    sizes = property(lambda self: self.synapses.sizes)
    indices = property(lambda self: self.synapses.indices)
    n_synapses = property(lambda self: self.synapses.n_synapses)

    def weights(self, theta: dict) -> GLMParams:
        """The effective network parameters for the group vectors ``theta``."""
        return self.synapses.weights(theta)

    def n_retracted(self, theta: dict):
        """Number of retracted synapses (``theta <= 0`` among the entries under the retraction mapping)."""
        return self.synapses.n_retracted(theta)

    # ---------------------------------------------------------------- densities
    def log_prior(self, theta: dict):
        r""":math:`\log p_{\rm prior}(\theta)` (summed over the free parameters)."""
        return self.synapses.log_prior(self.prior, theta)

    def log_likelihood(self, theta: dict, design, counts):
        r""":math:`\sum_{t,i} \log p(x_{i,t} \mid u_{i,t})` with :math:`u = X W(\theta)^\top` (all spikes observed)."""
        potential = design @ self.synapses.weights_flat(theta).T
        return jnp.sum(self.net.observation.log_prob(counts, potential))

    def log_posterior(self, theta: dict, design, counts):
        """Untempered log posterior (up to a constant): log prior + full log-likelihood."""
        return self.log_prior(theta) + self.log_likelihood(theta, design, counts)

    def numpyro_model(self, design, counts=None, temperature: float = 1.0):
        r"""The NumPyro model of the same target, tempered (:math:`p(\theta \mid x)^{1/T}`, a NUTS reference):
        :func:`probsnn.models.glm_network` under this sampler's parametrisation."""
        return glm_network(design, counts, net=self.net, priors=self.prior_spec, parametrisation=self.synapses,
                           temperature=temperature)

    # ---------------------------------------------------------------- the drift
    def likelihood_gradient(self, theta: dict, key, stimulus, visible, baseline=0.0):
        r"""Three-factor estimate of :math:`\nabla_\theta \mathcal L(w(\theta))` for one example; ``(grad, L)``.

        ``grad`` is :math:`J_w(\theta)^\top \widehat{\nabla_w\mathcal L}`, ``L`` the mean learning signal (summed
        visible log-likelihood) of the ``K`` paths. ``baseline`` (``K = 1`` only) must not depend on this call's
        samples.
        """
        weights, vjp = jax.vjp(self.synapses.weights, theta)
        delta, info = self.learner.episode_update(weights, key, stimulus, visible, baseline=baseline)
        (grad,) = vjp(delta)
        return grad, jnp.mean(info["L"])

    def drift(self, theta: dict, key, batch, baselines, likelihood_scale):
        r"""``grad log prior + likelihood_scale * (likelihood gradient on the batch)``; ``(drift, signals)``.

        ``batch`` is ``(design, counts)`` rows of observed bins (exact gradient; ``signals`` the batch
        log-likelihood) or, with latent neurons, ``(stimuli [B, T, D], visibles [B, T, N_v])`` examples
        (three-factor estimates with per-example ``baselines`` ``[B]``; ``signals`` ``[B]``).
        """
        if not self.latent:
            design, counts = batch

            def log_density(t):
                loglik = self.log_likelihood(t, design, counts)
                return self.log_prior(t) + likelihood_scale * loglik, loglik

            drift, loglik = jax.grad(log_density, has_aux=True)(theta)
            return drift, loglik
        stimuli, visibles = batch
        keys = jax.random.split(key, stimuli.shape[0])
        grads, signals = jax.vmap(lambda k, s, v, b: self.likelihood_gradient(theta, k, s, v, b))(
            keys, stimuli, visibles, baselines)
        prior_grad = jax.grad(self.log_prior)(theta)
        drift = jax.tree.map(lambda p, g: p + likelihood_scale * jnp.sum(g, axis=0), prior_grad, grads)
        return drift, signals

    def _batch(self, key, data, step, batch_size, batching):
        """The step's batch, its index into the examples (latent neurons) and the likelihood scale."""
        first, second = data
        n_units = first.shape[0]  # bins, or examples with latent neurons
        if batch_size is None or (self.latent and batch_size == n_units):
            return data, jnp.arange(n_units), 1.0
        scale = n_units / batch_size
        if self.latent:
            index = jax.random.choice(key, n_units, (batch_size,), replace=False)
        elif batching == "random":
            index = jax.random.randint(key, (batch_size,), 0, n_units)
        else:
            start = (step % (n_units // batch_size)) * batch_size
            return ((jax.lax.dynamic_slice_in_dim(first, start, batch_size, 0),
                     jax.lax.dynamic_slice_in_dim(second, start, batch_size, 0)), None, scale)
        return (first[index], second[index]), index, scale

    def step(self, state: SamplerState, data, step_size, temperature, divergence_threshold, batch_size=None,
             batching="random"):
        r"""One Euler-Maruyama step :math:`\theta \leftarrow \theta + h\,\widehat{\rm drift} + \sqrt{2hT}\xi` (pure).

        Uses BlackJAX's overdamped-Langevin diffusion. If the drift or the new :math:`\theta` is non-finite, or
        :math:`|\theta|` exceeds ``divergence_threshold``, the chain keeps its last state and is flagged as
        diverged. Returns ``(state, signal)``.
        """
        from blackjax.sgmcmc.diffusions import overdamped_langevin

        if self.latent:
            key, batch_key, drift_key, noise_key = jax.random.split(state.key, 4)
        else:
            batch_key, key = jax.random.split(state.key)
            key, noise_key = jax.random.split(key)
            drift_key = None
        batch, index, scale = self._batch(batch_key, data, state.step, batch_size, batching)
        baselines = state.baseline[index] if self.latent else None
        drift, signals = self.drift(state.theta, drift_key, batch, baselines, scale)
        proposal = overdamped_langevin()(noise_key, state.theta, drift, step_size, temperature)
        ok = jnp.array(True)
        for leaf in jax.tree_util.tree_leaves(drift) + jax.tree_util.tree_leaves(proposal):
            ok = ok & jnp.all(jnp.isfinite(leaf))
        for leaf in jax.tree_util.tree_leaves(proposal):
            ok = ok & jnp.all(jnp.abs(leaf) < divergence_threshold)
        accept = ok & ~state.diverged
        theta = jax.tree.map(lambda new, old: jnp.where(accept, new, old), proposal, state.theta)
        baseline = state.baseline
        if self.latent:
            decay = self.baseline_decay
            updated = jnp.where(state.step == 0, signals, decay * baseline[index] + (1 - decay) * signals)
            baseline = baseline.at[index].set(jnp.where(accept, updated, baseline[index]))
        newly = ~ok & ~state.diverged
        state = SamplerState(theta, key, state.step + 1, baseline, state.diverged | ~ok,
                             jnp.where(newly, state.step + 1, state.divergence_step))
        return state, jnp.mean(signals)

    def _draw_stats(self, state: SamplerState, data, signal):
        stats = {"n_retracted": self.n_retracted(state.theta), "diverging": state.diverged}
        if self.latent:
            stats["learning_signal"] = signal
        else:
            loglik = self.log_likelihood(state.theta, *data)
            stats.update(lp=self.log_prior(state.theta) + loglik, log_likelihood=loglik)
        return stats

    @cached_property
    def _run_jit(self):
        """jitted ``(state, data, step_size, temperature, threshold, ...) -> (state, (draws, stats))`` over chains."""

        def run(state, data, step_size, temperature, divergence_threshold, n_draws, thin, batch_size, batching):
            def one_step(s, _):
                return self.step(s, data, step_size, temperature, divergence_threshold, batch_size, batching)

            def one_draw(s, _):
                s, signals = jax.lax.scan(one_step, s, None, length=thin)
                return s, (s.theta, self._draw_stats(s, data, signals[-1]))

            return jax.vmap(lambda s: jax.lax.scan(one_draw, s, None, length=n_draws))(state)

        return jax.jit(run, static_argnames=("n_draws", "thin", "batch_size", "batching"))


# -------------------------------------------------------------------------------------- public entry point
def _init_theta(sampler: SynapticSampler, init, n_chains, key, dtype):
    """Group vectors ``[C, K]`` per group from ``init`` (None, InferenceData, GLMParams, or a dict)."""
    sizes, retracted = sampler.synapses.sizes, sampler.synapses.retracted_in_group
    if init is None:
        out = {}
        for g, k in zip(GROUPS, jax.random.split(key, len(GROUPS))):
            value = 0.1 * jax.random.normal(k, (n_chains, sizes[g]), dtype)
            if g != "bias" and retracted[g].any():
                # start retractable synapses just inside the existing (w > 0) region
                value = jnp.where(jnp.asarray(retracted[g]), jnp.abs(value) + 0.5, value)
            out[g] = value
        return out
    if hasattr(init, "posterior"):
        previous = last_theta(init)
        for g, v in previous.items():
            if v.shape != (n_chains, sizes[g]):
                raise ValueError(f"init InferenceData has theta_{g} of shape {v.shape} (chains, entries); expected "
                                 f"({n_chains}, {sizes[g]}) for this sampler and n_chains.")
        return {g: jnp.asarray(v, dtype) for g, v in previous.items()}
    if isinstance(init, GLMParams):
        single = sampler.synapses.theta_from_params(init)
        return {g: jnp.broadcast_to(jnp.asarray(v, dtype), (n_chains, sizes[g])) for g, v in single.items()}
    if isinstance(init, dict):
        out = {}
        for g in GROUPS:
            value = finite_array(f"init[{g!r}]", init.get(g, init.get(f"theta_{g}", np.zeros(sizes[g]))))
            if value.shape[-1:] != (sizes[g],) or value.ndim > 2:
                raise ValueError(f"init[{g!r}] must have shape ({sizes[g]},) or (n_chains, {sizes[g]}), "
                                 f"got {value.shape}.")
            out[g] = jnp.broadcast_to(jnp.asarray(value, dtype), (n_chains, sizes[g]))
        return out
    raise TypeError("init must be None, an InferenceData from synaptic_sampling, a GLMParams, or a dict of "
                    f"group vectors; got {type(init).__name__}.")


def last_theta(idata) -> dict:
    """The last draw of every chain, ``{group: [C, K]}``, from a :func:`synaptic_sampling` InferenceData
    (to continue)."""
    n_chains = idata.posterior.sizes["chain"]
    out = {}
    for g in GROUPS:
        name = f"theta_{g}"
        out[g] = np.asarray(idata.posterior[name].values[:, -1]) if name in idata.posterior else np.zeros((n_chains, 0))
    return out


def retraction_probability(idata, group: str = "coupling"):
    """Posterior probability that each synapse of ``group`` is retracted, pooled over chains and draws.

    A synapse (the kernel ``pre -> post``, ``stim[d] -> post`` for the stimulus) is retracted when every one of
    its retractable entries has :math:`\\theta \\le 0`, so its whole kernel is zero. For a
    :func:`synaptic_sampling` result the entries are grouped by synapse through their labels
    (``"post<-pre:bK"``) and restricted to those under the retraction map; for any other InferenceData with
    ``theta_<group>`` in its posterior (e.g. NUTS on :meth:`SynapticSampler.numpyro_model`) each entry counts as
    its own synapse.

    Returns
    -------
    xarray.DataArray, dims ``("synapse",)``
        ``P(retracted)`` per synapse, labelled ``"post<-pre"`` where the labels are known.
    """
    import xarray as xr

    one_of("group", group, ("stimulus", "coupling"))
    values = idata.posterior[f"theta_{group}"]
    retracted = np.asarray(values.values <= 0).reshape(-1, values.shape[-1])
    labels = np.asarray(values.coords[values.dims[-1]].values)
    if labels.dtype.kind not in "US" or not all(":b" in str(label) for label in labels):
        return xr.DataArray(retracted.mean(axis=0), dims=("synapse",))
    under_map = np.asarray(idata.attrs.get(f"retractable_{group}", np.ones(len(labels))), bool)
    synapses = [str(label).rsplit(":b", 1)[0] for label in labels]
    names = list(dict.fromkeys(s for s, r in zip(synapses, under_map) if r))
    probs = [np.all(retracted[:, [k for k, (s, r) in enumerate(zip(synapses, under_map)) if s == name and r]], axis=1)
             .mean() for name in names]
    return xr.DataArray(np.asarray(probs, float), dims=("synapse",), coords={"synapse": names})


def _as_batches(net: GLMNetwork, data, design):
    """The sampler's data: ``(design, counts)`` rows (all spikes observed) or ``(stimuli, visibles)`` examples."""
    if isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], SpikeData):
        if not net.n_latent:
            raise TypeError("(stimuli, visibles) arrays are for networks with latent neurons; pass a SpikeData of "
                            "the recorded spikes (or a list of trials) for a fully visible network.")
        stimuli = finite_array("stimuli", data[0])
        visibles = finite_array("visibles", data[1])
        if stimuli.ndim == 2:
            stimuli, visibles = stimuli[None], visibles[None]
        if stimuli.ndim != 3 or stimuli.shape[2] != net.n_stimulus_dims:
            raise ValueError(f"stimuli must have shape (E, T, {net.n_stimulus_dims}), got {stimuli.shape}.")
        if visibles.shape != stimuli.shape[:2] + (net.n_visible,):
            raise ValueError(f"visibles must have shape {stimuli.shape[:2] + (net.n_visible,)}, got {visibles.shape}.")
        if net.observation.mean_bounds[1] == 1.0 and not np.all((visibles == 0) | (visibles == 1)):
            raise ValueError("visibles must be 0/1 spikes for Bernoulli neurons.")
        return stimuli, visibles
    trials = list(data) if isinstance(data, (list, tuple)) else [data]
    if not trials or not all(isinstance(t, SpikeData) for t in trials):
        raise TypeError("data must be a probsnn.SpikeData, a list of SpikeData trials or examples, or (for a network "
                        f"with latent neurons) a (stimuli, visibles) pair of arrays; got {type(data).__name__}.")
    if net.n_latent:
        for t in trials:
            if t.trial_starts is not None or t.observed is not None:
                raise ValueError(
                    "synaptic sampling of a network with latent neurons takes examples without trial_starts or an "
                    "observed mask (its sequential three-factor estimates do not reset at trial starts nor skip "
                    "unobserved bins); pass the trials as a list of equally long examples, data.trials(), of "
                    "fully observed units."
                )
        lengths = {t.n_bins for t in trials}
        if len(lengths) > 1:
            raise ValueError("examples for a latent-neuron network must have equal lengths, "
                             f"got {sorted(lengths)} bins.")
        for t in trials:
            if t.n_neurons != net.n_visible:
                raise ValueError(f"data has {t.n_neurons} neurons but the network has {net.n_visible} visible ones.")
            if net.observation.mean_bounds[1] == 1.0:
                t.check_binary()
        stimuli = np.stack([np.zeros((t.n_bins, 0)) if t.stimulus is None else np.asarray(t.stimulus, float)
                            for t in trials])
        visibles = np.stack([np.asarray(t.counts, float) for t in trials])
        return _as_batches(net, (stimuli, visibles), None)
    dtype = jnp.result_type(float)
    if design is not None:
        if len(trials) != 1:
            raise ValueError("a precomputed design is for one SpikeData; drop design= for a list of trials.")
        design = jnp.asarray(design, dtype)
        if design.shape != (trials[0].n_bins, net.n_features):
            raise ValueError(f"design must have shape ({trials[0].n_bins}, {net.n_features}), got {design.shape}.")
    else:  # one design per trial, so spike history does not leak across trial boundaries
        design = jnp.concatenate([net.design_matrix(t) for t in trials], axis=0)
    for t in trials:
        net.check_data(t)
        if net.likelihood_weight(t) is not None:
            raise ValueError(
                "synaptic_sampling does not weight its likelihood: data with an observed mask, or a network with "
                "trial_edges='drop', are refused. Trials with zero-padded edges (trial_starts, the default "
                "trial_edges='zero-pad') are supported; for masked units use fit_nuts or fit_svi."
            )
    counts = jnp.concatenate([jnp.asarray(t.counts, dtype) for t in trials], axis=0)
    return design, counts


def synaptic_sampling(
    net: GLMNetwork,
    data,
    *,
    n_steps: int,
    step_size: float,
    temperature: float = 1.0,
    prior=None,
    parametrisation: str = "signed",
    theta0: float = 3.0,
    retract="synapses",
    n_samples: int = 1,
    multi_sample: str = "mean",
    n_chains: int = 4,
    thin: int = 1,
    n_warmup: int = 0,
    batch_size: int | None = None,
    batching: str = "random",
    init=None,
    seed: int = 0,
    on_divergence: str = "raise",
    divergence_threshold: float = 1e4,
    design=None,
    sampler: SynapticSampler | None = None,
    checkpoint=None,
    checkpoint_every: int | None = None,
    resume: bool = False,
):
    r"""Langevin synaptic sampling of a GLM network's parameters (Kappel et al. 2015); returns InferenceData.

    Integrates :math:`d\theta = \beta\nabla\log p(\theta\mid x)\,dt + \sqrt{2\beta T}\,dW` with Euler-Maruyama
    steps :math:`\theta \leftarrow \theta + h\hat g + \sqrt{2hT}\xi` (``h = step_size`` :math:`=\beta\Delta t`),
    whose stationary distribution is :math:`\propto p(\theta \mid x)^{1/T}` up to an :math:`O(h)` bias (with latent
    neurons, the same for the evidence lower bound; see the module docstring).

    Parameters
    ----------
    net : probsnn.GLMNetwork
    data : SpikeData, list of SpikeData, or (stimuli, visibles)
        Without latent neurons: the recorded spikes of every neuron and the stimulus (a list is a set of trials,
        each with its own history). With latent neurons: the visible neurons' spikes of one example, a list of
        equally long examples, or arrays ``stimuli [E, T, D]`` and ``visibles [E, T, N_v]``.
    n_steps : int
        Langevin steps after warm-up; one draw is kept every ``thin`` steps (``n_steps`` must be a multiple).
    step_size : float
        :math:`h = \beta\,\Delta t > 0`.
    temperature : float
        :math:`T > 0`; the target is :math:`p(\theta\mid x)^{1/T}`.
    prior, parametrisation, theta0, retract, n_samples, multi_sample
        See :class:`SynapticSampler`.
    n_chains : int
        Independent chains (vectorised with ``vmap``).
    thin, n_warmup : int
        Thinning and discarded warm-up steps (warm-up uses the same step size).
    batch_size : int, optional
        ``None``: the whole data at every step. Otherwise mini-batches of ``batch_size`` bins (examples, with
        latent neurons), the likelihood scaled by ``n / batch_size`` (unbiased).
    batching : {"random", "stream"}
        Bins only: ``"random"`` draws them uniformly with replacement at every step; ``"stream"`` takes
        consecutive blocks in time order, cycling (online use; the number of bins must be a multiple of
        ``batch_size``). Examples are always drawn without replacement.
    init : None, InferenceData, GLMParams or dict, optional
        Starting point: ``None`` (small random values; retractable synapses start present), the result of an
        earlier run (continues every chain from its last draw), network parameters (e.g. a MAP fit), or a dict
        of group vectors ``{"stimulus"|"coupling"|"bias": [K] or [C, K]}``.
    seed : int
    on_divergence : {"raise", "warn"}
        What to do if a chain diverges (non-finite drift or parameters, or ``|theta| >
        divergence_threshold``): raise :class:`LangevinDivergenceError`, or warn and return the run with the
        ``diverging`` flags set (the chain is frozen at its last good state, so there are no NaNs; its draws
        after the divergence are not valid samples).
    design : array, optional
        A precomputed ``net.design_matrix(data)`` (one SpikeData, no latent neurons).
    sampler : SynapticSampler, optional
        Reuse a sampler (and its compiled kernels) across calls; overrides ``prior`` ... ``multi_sample``.
    checkpoint : path, optional
        Write the chains' state (parameters, keys, baselines, divergence flags) and the draws so far to this
        file (:mod:`probsnn.checkpoint`, kind ``"SynapticSampler"``): the chains then run in chunks of
        ``checkpoint_every`` steps (warm-up included), the file is written after each chunk and, on
        ``KeyboardInterrupt``, with the state after the last complete chunk (the interrupt is raised again).
        The draws do not depend on the chunks.
    checkpoint_every : int, optional
        Steps per chunk, a multiple of ``thin``; default: all ``n_warmup + n_steps`` (one checkpoint at the end).
    resume : bool
        Continue from ``checkpoint`` when the file exists (from the start otherwise). The call must repeat the
        interrupted one (same data, settings, seed and ``checkpoint_every``, checked through the fingerprints the
        file holds); the result is then bit-for-bit that of an uninterrupted call.

    Returns
    -------
    arviz.InferenceData
        ``posterior``: ``theta_stimulus``, ``theta_coupling``, ``theta_bias`` (free entries, labelled
        ``"post<-pre:bK"``) and the effective weights ``stimulus_weights``, ``coupling_weights``, ``bias``;
        ``sample_stats``: ``lp`` and ``log_likelihood`` (all spikes observed) or ``learning_signal`` (latent
        neurons), ``n_retracted``, ``retracted_fraction``, ``diverging``; ``attrs``: the settings and divergence
        report.
    """
    import arviz as az

    temperature = positive_float("temperature", temperature)
    step_size = positive_float("step_size", step_size)
    divergence_threshold = positive_float("divergence_threshold", divergence_threshold)
    n_steps, thin, n_chains = (positive_int("n_steps", n_steps), positive_int("thin", thin),
                               positive_int("n_chains", n_chains))
    n_warmup = non_negative_int("n_warmup", n_warmup)
    if n_steps % thin or n_warmup % thin:
        raise ValueError(f"n_steps ({n_steps}) and n_warmup ({n_warmup}) must each be a multiple of thin ({thin}).")
    one_of("on_divergence", on_divergence, ("raise", "warn"))
    one_of("batching", batching, ("random", "stream"))
    path, checkpoint_every, resume = checkpoint_options(checkpoint, checkpoint_every, resume)
    if checkpoint_every is not None and checkpoint_every % thin:
        raise ValueError(f"checkpoint_every ({checkpoint_every}) must be a multiple of thin ({thin}): checkpoints "
                         "are written between draws.")
    if sampler is None:
        sampler = SynapticSampler(net, prior=prior, parametrisation=parametrisation, theta0=theta0, retract=retract,
                                  n_samples=n_samples, multi_sample=multi_sample)
    elif sampler.net is not net:
        raise ValueError("sampler was built for a different network.")
    if design is not None and net.n_latent:
        raise ValueError("design= is for networks without latent neurons.")
    batches = _as_batches(net, data, design)
    n_units = batches[0].shape[0]
    unit = "examples" if net.n_latent else "bins"
    if batch_size is not None:
        batch_size = positive_int("batch_size", batch_size)
        if batch_size > n_units:
            raise ValueError(f"batch_size ({batch_size}) exceeds the number of {unit} ({n_units}).")
        if batching == "stream" and not net.n_latent and n_units % batch_size:
            raise ValueError(f"streaming batches need n_bins ({n_units}) to be a multiple of batch_size "
                             f"({batch_size}); trim the data with data.time_slice or pick another batch size.")
    dtype = jnp.result_type(float)
    batches = tuple(jnp.asarray(b, dtype) for b in batches)

    init_key, chain_key = jax.random.split(jax.random.PRNGKey(seed))
    theta = _init_theta(sampler, init, n_chains, init_key, dtype)
    if not net.n_latent:  # validate at the boundary: the starting gradient must be finite
        for c in range(n_chains):
            grad, _ = sampler.drift({g: v[c] for g, v in theta.items()}, None, batches, None, 1.0)
            bad = [g for g, v in grad.items() if not bool(jnp.all(jnp.isfinite(v)))]
            if bad:
                raise ValueError(f"the log-posterior gradient is non-finite at the initial parameters of chain {c} "
                                 f"(groups {bad}); start from finite parameters where the likelihood is finite.")
    state = SamplerState(theta, jax.random.split(chain_key, n_chains), jnp.zeros(n_chains, jnp.int32),
                         jnp.zeros((n_chains, n_units if net.n_latent else 0), dtype), jnp.zeros(n_chains, bool),
                         jnp.full(n_chains, -1, jnp.int32))
    args = (batches, step_size, temperature, divergence_threshold)
    options = dict(thin=thin, batch_size=batch_size, batching=batching)
    if path is not None:
        settings = dict(n_steps=n_steps, n_warmup=n_warmup, thin=thin, n_chains=n_chains, seed=seed,
                        step_size=step_size, temperature=temperature, divergence_threshold=divergence_threshold,
                        batch_size=batch_size, batching=batching, sampler=_sampler_settings(sampler),
                        checkpoint_every=checkpoint_every or n_warmup + n_steps,
                        data=fingerprint(batches), start=fingerprint(state))
        state, (draws, stats) = _run_checkpointed(sampler, state, args, options, settings, path, resume)
    else:
        if n_warmup:
            state, _ = sampler._run_jit(state, *args, n_draws=n_warmup // thin, **options)
        state, (draws, stats) = sampler._run_jit(state, *args, n_draws=n_steps // thin, **options)

    diverged = np.asarray(state.diverged)
    if diverged.any():
        message = (f"Langevin synaptic sampling diverged in chain(s) {np.nonzero(diverged)[0].tolist()} at step(s) "
                   f"{np.asarray(state.divergence_step)[diverged].tolist()} (counting warm-up): non-finite or "
                   f"exploding (|theta| > {divergence_threshold:g}) parameters or drift. Reduce step_size (now "
                   f"{step_size:g}) or the temperature (now {temperature:g}).")
        if on_divergence == "raise":
            raise LangevinDivergenceError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return _inference_data(az, sampler, draws, stats, state, diverged, dict(
        temperature=temperature, step_size=step_size, thin=thin, n_warmup=n_warmup,
        batch_size=-1 if batch_size is None else batch_size, batching=batching))


def _sampler_settings(sampler: SynapticSampler) -> dict:
    """What fixes a sampler's kernel, for the config of a checkpoint (a prior by its type or function name)."""
    prior = sampler.prior_spec
    return dict(parametrisation=sampler.parametrisation, theta0=sampler.theta0, n_samples=sampler.n_samples,
                multi_sample=sampler.learner.multi_sample, baseline_decay=sampler.baseline_decay,
                prior=getattr(prior, "__qualname__", type(prior).__name__), net=repr(sampler.net))


def _run_checkpointed(sampler: SynapticSampler, state, args, options, settings, path, resume):
    """Warm-up and sampling in chunks of ``settings["checkpoint_every"]`` steps, checkpointed after each chunk.

    Returns what the two un-chunked ``_run_jit`` calls return: ``(state, (draws, stats))`` of the sampling phase.
    """
    thin = settings["thin"]
    n_warm, n_total = settings["n_warmup"] // thin, (settings["n_warmup"] + settings["n_steps"]) // thin
    per_chunk = settings["checkpoint_every"] // thin
    spec = jax.eval_shape(lambda s: sampler._run_jit(s, *args, n_draws=1, **options), state)[1]
    n_keep = n_total - n_warm
    draws = jax.tree.map(lambda leaf: np.zeros(leaf.shape[:1] + (n_keep,) + leaf.shape[2:], leaf.dtype), spec)
    done = 0
    if resume:
        saved = resume_checkpoint(path, _CHECKPOINT_KIND, settings, {"state": state, "draws": draws})
        if saved is not None:
            state, done = saved.trees["state"], saved.step
            draws = jax.tree.map(np.array, saved.trees["draws"])

    def save(progress):
        save_checkpoint(path, _CHECKPOINT_KIND, settings, {"state": progress[0], "draws": draws}, step=progress[1])

    def advance(progress):
        current, start = progress
        # chunks end at multiples of checkpoint_every and at the end of the warm-up
        stop = min((start // per_chunk + 1) * per_chunk, n_total, n_warm if start < n_warm else n_total)
        current, chunk = sampler._run_jit(current, *args, n_draws=stop - start, **options)
        if stop > n_warm:
            jax.tree.map(lambda buffer, leaf: buffer.__setitem__(
                (slice(None), slice(start - n_warm, stop - n_warm)), np.asarray(leaf)), draws, chunk)
        return current, stop

    state, _ = run_in_chunks((state, done), n_total, advance, save)
    return state, jax.tree.map(jnp.asarray, draws)


def _inference_data(az, sampler: SynapticSampler, draws, stats, state, diverged, settings):
    """The one InferenceData layout of both cases (observed spikes, latent neurons)."""
    net, synapses = sampler.net, sampler.synapses
    posterior, dims, coords = {}, {}, {"neuron": list(net.neuron_names), "presynaptic": list(net.neuron_names)}
    for g in GROUPS:
        if synapses.sizes[g]:
            posterior[f"theta_{g}"] = np.asarray(draws[g])
            dims[f"theta_{g}"] = [f"{g}_parameter"]
            coords[f"{g}_parameter"] = synapses.labels(g)
    weights = jax.vmap(jax.vmap(synapses.weights))(draws)
    posterior.update({name: np.asarray(value) for name, value in zip(GLMParams._fields, weights)})
    dims.update({"stimulus_weights": ["neuron", "stimulus_dim", "stimulus_basis"],
                 "coupling_weights": ["neuron", "presynaptic", "history_basis"], "bias": ["neuron"]})
    sample_stats = {k: np.asarray(v) for k, v in stats.items()}
    sample_stats["retracted_fraction"] = (sample_stats["n_retracted"] / synapses.n_synapses if synapses.n_synapses
                                          else np.zeros(sample_stats["n_retracted"].shape))
    attrs = {
        "inference_library": "probsnn.synaptic_sampling (BlackJAX overdamped Langevin"
                             + (", three-factor gradients)" if sampler.latent else ")"),
        **settings, "parametrisation": synapses.parametrisation, "theta0": synapses.theta0,
        "n_synapses": synapses.n_synapses, "n_samples": sampler.n_samples,
        "multi_sample": sampler.learner.multi_sample,
        "diverged_chains": np.nonzero(diverged)[0].tolist(),
        "divergence_steps": np.asarray(state.divergence_step).tolist(),
        **{f"retractable_{g}": synapses.retracted_in_group[g].astype(int).tolist() for g in ("stimulus", "coupling")},
    }
    return az.from_dict(posterior=posterior, sample_stats=sample_stats, coords=coords, dims=dims, attrs=attrs)
