r"""Synaptic sampling with latent neurons: the three-factor learning signal as the likelihood gradient.

When a network has latent (hidden) neurons, the likelihood of the recorded visible spikes
:math:`p(x \mid \theta) = \sum_h p(x, h \mid \theta)` is a sum over all latent spike paths and its gradient is
not available in closed form. Following the variational view of the three-factor rule
(:mod:`probsnn.inference.three_factor`; Rezende, Wierstra & Gerstner 2011; Jang et al. 2019), the latent spikes
are drawn from the network's own causal conditional :math:`q_w(h) = \prod_t \prod_{i \in H} p(h_{i,t}\mid
u_{i,t})` and the log-likelihood is replaced by the evidence lower bound

.. math::
    \mathcal L(w) = \mathbb E_{q_w(h)}\Big[\sum_t \sum_{i \in V} \log p(x_{i,t} \mid u_{i,t})\Big]
    \;\le\; \log p(x \mid w).

The synaptic-sampling SDE of Kappel et al. (2015) then becomes

.. math::
    d\theta = \beta\Big(\nabla_\theta \log p_{\rm prior}(\theta)
              + J_w(\theta)^\top \widehat{\nabla_w \mathcal L}\Big)dt + \sqrt{2\beta T}\, dW,

where :math:`\widehat{\nabla_w \mathcal L}` is the three-factor estimate of one example
(:meth:`probsnn.inference.three_factor.ThreeFactorVI.episode_update`): for a visible neuron's synapses the summed
local scores :math:`\sum_t (x_{i,t} - \sigma(u_{i,t}))\,\vec s_{j,t}`, for a latent neuron's synapses the global
learning signal times its eligibility, :math:`(L - b)\sum_t (h_{i,t} - \sigma(u_{i,t}))\,\vec s_{j,t}` with
:math:`L = \sum_t \ell_t` and a baseline :math:`b` that does not depend on the current sample (a running mean of
the example's past learning signals for ``n_samples = 1``, the leave-one-out mean for ``n_samples > 1``). It is an
unbiased estimate of :math:`\nabla_w\mathcal L` (tested against exact enumeration of the latent paths in
``tests/test_latent_sampling.py``). :math:`J_w(\theta)` is the Jacobian of the weight map (identity for
``"signed"``, :math:`e^{\theta-\theta_0}[\theta>0]` for the retraction mapping of
:mod:`probsnn.inference.synaptic_sampling`), applied with :func:`jax.vjp`. Several examples (episodes) add up
their bounds; a mini-batch of ``batch_size`` examples is scaled by ``n_examples / batch_size`` (unbiased).

With these unbiased gradient estimates the Euler-Maruyama chain is stochastic-gradient Langevin dynamics, whose
stationary distribution is :math:`\propto [p_{\rm prior}(\theta)\, e^{\sum_e \mathcal L_e(w(\theta))}]^{1/T}`
up to :math:`O(h)` discretisation and gradient-noise terms. With ``multi_sample="iw"`` and ``n_samples = K`` the
importance-weighted bound :math:`\mathcal L_K` (tighter, :math:`\to \log p(x\mid w)` as :math:`K \to \infty`)
replaces :math:`\mathcal L`. With no latent neurons the estimate is exactly :math:`\nabla_w \log p(x\mid w)`.

References
----------
Kappel, Habenschuss, Legenstein & Maass (2015), PLoS Comput Biol 11(11):e1004485.
Jang, Simeone, Gardner & Gruning (2019), IEEE Signal Processing Magazine 36(6):64-77.
Rezende, Wierstra & Gerstner (2011), NeurIPS 24. Welling & Teh (2011), ICML.
"""
from __future__ import annotations

import warnings
from functools import cached_property
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..neurons.glm import GLMParams
from ..neurons.latent import LatentGLMNetwork
from .synaptic_sampling import (
    LangevinDivergenceError, _check_int, _check_positive, resolve_theta_prior, retraction_weights,
)
from .three_factor import ThreeFactorVI

__all__ = ["LatentSynapticSampler", "LatentSamplerState", "latent_synaptic_sampling"]


class LatentSamplerState(NamedTuple):
    """State of one Langevin chain over a latent network's parameters.

    Attributes
    ----------
    theta : GLMParams
        Free parameters in the layout of the network's weights (masked entries stay 0).
    key : jax PRNG key
    step : int array
    baseline : array [E]
        Running mean of each example's learning signal (baseline of the ``n_samples = 1`` estimator).
    diverged : bool array
    divergence_step : int array
    """

    theta: GLMParams
    key: jax.Array
    step: jax.Array
    baseline: jax.Array
    diverged: jax.Array
    divergence_step: jax.Array


def _tmap(fn, *trees):
    return jax.tree_util.tree_map(fn, *trees)


class LatentSynapticSampler:
    """Target and Langevin kernel of synaptic sampling for a :class:`~probsnn.neurons.latent.LatentGLMNetwork`.

    Parameters
    ----------
    net : LatentGLMNetwork
    prior : numpyro Distribution, GLMPriors or callable, optional
        Prior on :math:`\\theta` (scalar distributions with real support; default ``N(0, 1)`` on weights and
        ``N(0, 5)`` on biases); a callable maps the :class:`~probsnn.GLMParams` of :math:`\\theta` to a scalar.
    parametrisation : {"signed", "retraction"}
    theta0 : float
        Offset of the retraction mapping.
    retract : {"synapses", "coupling", "stimulus"}
        Entries under the retraction mapping: input weights and couplings between different neurons
        (``"synapses"``, default), only couplings between different neurons, or only input weights.
    n_samples : int
        Latent paths per example and step (``K``).
    multi_sample : {"mean", "iw"}
        ``"mean"``: the ELBO; ``"iw"``: the ``K``-sample importance-weighted bound (see the module docstring).
    baseline_decay : float in [0, 1)
        Decay of the per-example running-mean baseline (``n_samples = 1``).
    """

    def __init__(self, net: LatentGLMNetwork, prior=None, parametrisation: str = "signed", theta0: float = 3.0,
                 retract: str = "synapses", n_samples: int = 1, multi_sample: str = "mean",
                 baseline_decay: float = 0.9):
        if not isinstance(net, LatentGLMNetwork):
            raise TypeError(f"net must be a probsnn LatentGLMNetwork, got {type(net).__name__}.")
        if parametrisation not in ("signed", "retraction"):
            raise ValueError(f"parametrisation must be 'signed' or 'retraction', got {parametrisation!r}.")
        if not (0.0 <= baseline_decay < 1.0):
            raise ValueError(f"baseline_decay must be in [0, 1), got {baseline_decay!r}.")
        self.net = net
        self.parametrisation = parametrisation
        self.theta0 = _check_positive("theta0", theta0)
        self.n_samples = _check_int("n_samples", n_samples)
        self.baseline_decay = float(baseline_decay)
        # the three-factor estimator (its optimiser is unused here: Langevin does the update)
        self.learner = ThreeFactorVI(net, n_samples=self.n_samples, multi_sample=multi_sample, baseline=False)
        self.mask = GLMParams(*(np.asarray(m, float) for m in net.param_mask))
        n = net.n_neurons
        between = ~np.eye(n, dtype=bool)[:, :, None]
        stim = self.mask.stimulus_weights > 0
        coup = (self.mask.coupling_weights > 0) & between
        options = {"synapses": (stim, coup), "coupling": (np.zeros_like(stim), coup),
                   "stimulus": (stim, np.zeros_like(coup))}
        if retract not in options:
            raise ValueError(f"retract must be one of {tuple(options)}, got {retract!r}.")
        if parametrisation == "retraction":
            self.retract_mask = GLMParams(*options[retract], np.zeros(n, bool))
        else:
            self.retract_mask = GLMParams(np.zeros_like(stim), np.zeros_like(coup), np.zeros(n, bool))
        self.n_synapses = int(sum(m.sum() for m in self.retract_mask))
        self.prior = self._resolve_prior(prior)

    def _resolve_prior(self, prior):
        resolved = resolve_theta_prior(prior)
        return GLMParams(*resolved.values()) if isinstance(resolved, dict) else resolved

    # ------------------------------------------------------------------ maps and densities
    def weights(self, theta: GLMParams) -> GLMParams:
        """Effective weights: the retraction mapping on the retractable entries, identity elsewhere; masked to 0."""
        def one(t, r, m):
            w = jnp.where(jnp.asarray(r), retraction_weights(t, self.theta0), t) if r.any() else t
            return w * jnp.asarray(m, t.dtype)

        return GLMParams(*(one(t, r, m) for t, r, m in zip(theta, self.retract_mask, self.mask)))

    def log_prior(self, theta: GLMParams):
        r""":math:`\log p_{\rm prior}(\theta)` over the existing (unmasked) entries."""
        if not isinstance(self.prior, GLMParams):
            return self.prior(theta)
        return sum(jnp.sum(d.log_prob(t) * jnp.asarray(m, t.dtype)) for d, t, m in zip(self.prior, theta, self.mask))

    def n_retracted(self, theta: GLMParams):
        """Number of retracted synapses (``theta <= 0`` among the retractable entries)."""
        return sum(jnp.sum((t <= 0) & jnp.asarray(r)) for t, r in zip(theta, self.retract_mask))

    def likelihood_gradient(self, theta: GLMParams, key, stimulus, visible, baseline=0.0):
        r"""Three-factor estimate of :math:`\nabla_\theta \mathcal L(w(\theta))` for one example; ``(grad, L)``.

        ``grad`` is :math:`J_w(\theta)^\top \widehat{\nabla_w\mathcal L}` (GLMParams), ``L`` the mean learning
        signal (summed visible log-likelihood) of the ``K`` paths. ``baseline`` (scalar, ``K = 1`` only) must not
        depend on this call's samples.
        """
        w, vjp = jax.vjp(self.weights, theta)
        delta, info = self.learner.episode_update(w, key, stimulus, visible, baseline=baseline)
        (grad,) = vjp(delta)
        return grad, jnp.mean(info["L"])

    def drift(self, theta: GLMParams, key, stimuli, visibles, baselines, likelihood_scale):
        """``grad log prior + likelihood_scale * sum_e estimate_e`` over a batch ``[B, T, ...]``; ``(drift, L [B])``."""
        keys = jax.random.split(key, stimuli.shape[0])
        grads, signals = jax.vmap(lambda k, s, v, b: self.likelihood_gradient(theta, k, s, v, b))(
            keys, stimuli, visibles, baselines)
        prior_grad = jax.grad(self.log_prior)(theta)
        drift = _tmap(lambda p, g: p + likelihood_scale * jnp.sum(g, axis=0), prior_grad, grads)
        return drift, signals

    def step(self, state: LatentSamplerState, stimuli, visibles, step_size, temperature, divergence_threshold,
             batch_size=None):
        r"""One Euler-Maruyama step :math:`\theta \leftarrow \theta + h\,\widehat{\rm drift} + \sqrt{2hT}\xi` (pure)."""
        from blackjax.sgmcmc.diffusions import overdamped_langevin

        n_examples = stimuli.shape[0]
        key, batch_key, grad_key, noise_key = jax.random.split(state.key, 4)
        if batch_size is None or batch_size == n_examples:
            idx = jnp.arange(n_examples)
            scale = 1.0
        else:
            idx = jax.random.choice(batch_key, n_examples, (batch_size,), replace=False)
            scale = n_examples / batch_size
        drift, signals = self.drift(state.theta, grad_key, stimuli[idx], visibles[idx], state.baseline[idx], scale)
        proposal = overdamped_langevin()(noise_key, state.theta, drift, step_size, temperature)
        proposal = GLMParams(*(p * jnp.asarray(m, p.dtype) for p, m in zip(proposal, self.mask)))
        ok = jnp.array(True)
        for leaf in jax.tree_util.tree_leaves(drift) + jax.tree_util.tree_leaves(proposal):
            ok = ok & jnp.all(jnp.isfinite(leaf))
        for leaf in jax.tree_util.tree_leaves(proposal):
            ok = ok & jnp.all(jnp.abs(leaf) < divergence_threshold)
        accept = ok & ~state.diverged
        theta = _tmap(lambda new, old: jnp.where(accept, new, old), proposal, state.theta)
        decay = self.baseline_decay
        first = state.step == 0
        updated = jnp.where(first, signals, decay * state.baseline[idx] + (1 - decay) * signals)
        baseline = state.baseline.at[idx].set(jnp.where(accept, updated, state.baseline[idx]))
        newly = ~ok & ~state.diverged
        return LatentSamplerState(theta, key, state.step + 1, baseline, state.diverged | ~ok,
                                  jnp.where(newly, state.step + 1, state.divergence_step)), jnp.mean(signals)

    @cached_property
    def _run_jit(self):
        def run(state, stimuli, visibles, step_size, temperature, divergence_threshold, n_draws, thin, batch_size):
            def one_step(s, _):
                return self.step(s, stimuli, visibles, step_size, temperature, divergence_threshold, batch_size)

            def one_draw(s, _):
                s, signals = jax.lax.scan(one_step, s, None, length=thin)
                stats = {"learning_signal": signals[-1], "n_retracted": self.n_retracted(s.theta),
                         "diverging": s.diverged}
                return s, (s.theta, stats)

            return jax.vmap(lambda s: jax.lax.scan(one_draw, s, None, length=n_draws))(state)

        return jax.jit(run, static_argnames=("n_draws", "thin", "batch_size"))


def latent_synaptic_sampling(
    net: LatentGLMNetwork,
    stimuli,
    visibles,
    *,
    n_steps: int,
    step_size: float,
    temperature: float = 1.0,
    prior=None,
    parametrisation: str = "signed",
    theta0: float = 3.0,
    retract: str = "synapses",
    n_samples: int = 1,
    multi_sample: str = "mean",
    n_chains: int = 4,
    thin: int = 1,
    n_warmup: int = 0,
    batch_size: int | None = None,
    init: GLMParams | None = None,
    seed: int = 0,
    on_divergence: str = "raise",
    divergence_threshold: float = 1e4,
    sampler: LatentSynapticSampler | None = None,
):
    r"""Langevin synaptic sampling of a visible + latent GLM network, three-factor likelihood gradients.

    Parameters
    ----------
    net : LatentGLMNetwork
    stimuli : array [E, T, n_inputs]
        Inputs of ``E`` examples (episodes) of ``T`` bins (``[T, n_inputs]`` for one example).
    visibles : array [E, T, n_visible]
        Recorded spikes of the visible neurons (0/1).
    n_steps, step_size, temperature, n_chains, thin, n_warmup, seed, on_divergence, divergence_threshold
        As in :func:`probsnn.inference.synaptic_sampling.synaptic_sampling`.
    prior, parametrisation, theta0, retract, n_samples, multi_sample
        See :class:`LatentSynapticSampler`.
    batch_size : int, optional
        Examples per step (drawn without replacement, scaled by ``E / batch_size``); all by default.
    init : GLMParams, optional
        Starting :math:`\theta` (all chains); default small random values, retractable synapses present.
    sampler : LatentSynapticSampler, optional
        Reuse a sampler (and its compiled kernel); overrides ``prior`` ... ``multi_sample``.

    Returns
    -------
    arviz.InferenceData
        ``posterior``: ``theta_stimulus_weights``, ``theta_coupling_weights``, ``theta_bias`` and the effective
        ``stimulus_weights``, ``coupling_weights``, ``bias``; ``sample_stats``: ``learning_signal`` (mean summed
        visible log-likelihood of the sampled paths at the draw), ``n_retracted``, ``retracted_fraction``,
        ``diverging``.
    """
    import arviz as az

    temperature = _check_positive("temperature", temperature)
    step_size = _check_positive("step_size", step_size)
    divergence_threshold = _check_positive("divergence_threshold", divergence_threshold)
    n_steps, thin, n_chains = _check_int("n_steps", n_steps), _check_int("thin", thin), _check_int("n_chains", n_chains)
    n_warmup = _check_int("n_warmup", n_warmup, minimum=0)
    if n_steps % thin or n_warmup % thin:
        raise ValueError(f"n_steps ({n_steps}) and n_warmup ({n_warmup}) must be multiples of thin ({thin}).")
    if on_divergence not in ("raise", "warn"):
        raise ValueError(f"on_divergence must be 'raise' or 'warn', got {on_divergence!r}.")
    if sampler is None:
        sampler = LatentSynapticSampler(net, prior=prior, parametrisation=parametrisation, theta0=theta0,
                                        retract=retract, n_samples=n_samples, multi_sample=multi_sample)
    elif sampler.net is not net:
        raise ValueError("sampler was built for a different network.")
    dtype = jnp.result_type(float)
    stimuli, visibles = np.asarray(stimuli, float), np.asarray(visibles, float)
    if stimuli.ndim == 2:
        stimuli, visibles = stimuli[None], visibles[None]
    if stimuli.ndim != 3 or stimuli.shape[2] != net.n_inputs:
        raise ValueError(f"stimuli must have shape (E, T, {net.n_inputs}), got {stimuli.shape}.")
    if visibles.shape != stimuli.shape[:2] + (net.n_visible,):
        raise ValueError(f"visibles must have shape {stimuli.shape[:2] + (net.n_visible,)}, got {visibles.shape}.")
    if not (np.all(np.isfinite(stimuli)) and np.all((visibles == 0) | (visibles == 1))):
        raise ValueError("stimuli must be finite and visibles must be 0/1 spikes.")
    if batch_size is not None:
        batch_size = _check_int("batch_size", batch_size)
        if batch_size > stimuli.shape[0]:
            raise ValueError(f"batch_size ({batch_size}) exceeds the number of examples ({stimuli.shape[0]}).")

    key = jax.random.PRNGKey(seed)
    init_key, chain_key = jax.random.split(key)
    if init is None:
        keys = jax.random.split(init_key, 3)
        theta = []
        for k, m, r in zip(keys, sampler.mask, sampler.retract_mask):
            value = 0.1 * jax.random.normal(k, (n_chains,) + m.shape, dtype)
            value = jnp.where(jnp.asarray(r), jnp.abs(value) + 0.5, value)
            theta.append(value * jnp.asarray(m, dtype))
        theta = GLMParams(*theta)
    else:
        net.check_params(init)
        theta = GLMParams(*(jnp.broadcast_to(jnp.asarray(v, dtype) * jnp.asarray(m, dtype), (n_chains,) + m.shape)
                            for v, m in zip(init, sampler.mask)))
    state = LatentSamplerState(theta, jax.random.split(chain_key, n_chains), jnp.zeros(n_chains, jnp.int32),
                               jnp.zeros((n_chains, stimuli.shape[0]), dtype), jnp.zeros(n_chains, bool),
                               jnp.full(n_chains, -1, jnp.int32))
    args = (jnp.asarray(stimuli, dtype), jnp.asarray(visibles, dtype), step_size, temperature, divergence_threshold)
    if n_warmup:
        state, _ = sampler._run_jit(state, *args, n_draws=n_warmup // thin, thin=thin, batch_size=batch_size)
    state, (draws, stats) = sampler._run_jit(state, *args, n_draws=n_steps // thin, thin=thin, batch_size=batch_size)

    diverged = np.asarray(state.diverged)
    if diverged.any():
        message = (f"latent synaptic sampling diverged in chain(s) {np.nonzero(diverged)[0].tolist()} at step(s) "
                   f"{np.asarray(state.divergence_step)[diverged].tolist()}: non-finite or exploding parameters or "
                   f"gradient estimate. Reduce step_size (now {step_size:g}) or the temperature (now {temperature:g}).")
        if on_divergence == "raise":
            raise LangevinDivergenceError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    theta_np = GLMParams(*(np.asarray(v) for v in draws))
    weights = jax.vmap(jax.vmap(sampler.weights))(draws)
    posterior = {f"theta_{name}": v for name, v in zip(GLMParams._fields, theta_np)}
    posterior.update({name: np.asarray(v) for name, v in zip(GLMParams._fields, weights)})
    dims = {}
    for prefix in ("theta_", ""):
        dims[prefix + "stimulus_weights"] = ["neuron", "input", "input_basis"]
        dims[prefix + "coupling_weights"] = ["neuron", "presynaptic", "history_basis"]
        dims[prefix + "bias"] = ["neuron"]
    sample_stats = {k: np.asarray(v) for k, v in stats.items()}
    sample_stats["retracted_fraction"] = (sample_stats["n_retracted"] / sampler.n_synapses if sampler.n_synapses
                                          else np.zeros_like(sample_stats["learning_signal"]))
    attrs = {"inference_library": "probsnn.latent_synaptic_sampling (three-factor gradients, BlackJAX Langevin)",
             "temperature": temperature, "step_size": step_size, "parametrisation": sampler.parametrisation,
             "theta0": sampler.theta0, "n_synapses": sampler.n_synapses, "n_samples": sampler.n_samples,
             "multi_sample": sampler.learner.multi_sample, "thin": thin, "n_warmup": n_warmup,
             "batch_size": -1 if batch_size is None else batch_size,
             "diverged_chains": np.nonzero(diverged)[0].tolist()}
    return az.from_dict(posterior=posterior, sample_stats=sample_stats, dims=dims, attrs=attrs)
