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
Measured on the small model of ``tests/test_synaptic_sampling.py`` (two Bernoulli neurons coupled to each other,
120 bins, retraction parametrisation with :math:`\theta_0 = 1`, exact moments by 2-D quadrature; 64 chains of
100 time units each, common random numbers across rows, :math:`\pm` ArviZ ESS-based MCSE):

=======  ==================  ==================  ===================  ===================  ================
h        mean err theta_c0   mean err theta_c1   var err theta_b0     var err theta_b1     P(retr.) err c0/c1
=======  ==================  ==================  ===================  ===================  ================
0.04     -0.116 +- 0.015     -0.029 +- 0.011     +0.0442 +- 0.0017    +0.0406 +- 0.0013    +0.041 / +0.006
0.02     -0.037 +- 0.016     -0.026 +- 0.010     +0.0125 +- 0.0008    +0.0145 +- 0.0006    +0.008 / +0.009
0.01     -0.022 +- 0.015     -0.006 +- 0.011     +0.0050 +- 0.0005    +0.0060 +- 0.0004    +0.005 / -0.000
0.005    -0.034 +- 0.016     -0.004 +- 0.011     +0.0027 +- 0.0004    +0.0031 +- 0.0003    +0.012 / -0.003
=======  ==================  ==================  ===================  ===================  ================

(exact: means 0.563 / -0.400, bias variances 0.0560 / 0.0432, retraction probabilities 0.207 / 0.672). The
variance error shrinks linearly with h and for :math:`h \le 0.01` is close to the Gaussian :math:`h/2` per coordinate;
the mean errors are below 1-2 MCSE for :math:`h \le 0.01`. The retraction kink (a jump of the drift at
:math:`\theta = 0`) does not spoil the first order: on the 1-D analogue :math:`\log p = -\theta^2/2 - 2w(\theta)`
(8192 chains) the mean error is -0.0056, -0.0030, -0.0017, -0.0012 (+- 0.0005) and the variance error
0.0208, 0.0105, 0.0057, 0.0028 for h = 0.04, 0.02, 0.01, 0.005. ``test_step_size_bias_is_first_order`` checks
the :math:`O(h)` law (increasing excess variance, linear extrapolation to zero at :math:`h \to 0`). Use
:math:`h \lesssim 0.1/\lambda_{\max}` for posterior summaries; ``h = 0.005`` on the small model.

**Parametrisations.** ``"signed"``: the weight is the parameter, :math:`w = \theta`. ``"retraction"``
(Kappel et al. 2015, Eq. 6; excitatory synapses that can disappear and re-form):

.. math::
    w = \max\!\big(0,\; e^{\theta - \theta_0} - e^{-\theta_0}\big),

so a synapse whose :math:`\theta` falls below 0 is *retracted* (:math:`w = 0`, the likelihood gradient vanishes
and :math:`\theta` diffuses under the prior alone) and may later re-form when :math:`\theta` crosses 0 again
(rewiring). The mapping applies to the entries selected by ``retract`` (by default every *synapse*: the
stimulus weights and the couplings between different neurons); self-history (refractory) kernels and biases
stay signed.

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
``log_likelihood``, ``retracted_fraction`` (the fraction of retracted synapses at each draw, i.e. over time),
``n_retracted`` and ``diverging``.

**Divergence.** Every step checks that the gradient and the new parameters are finite and below
``divergence_threshold`` in magnitude. A chain that fails is frozen at its last good state and flagged; by
default :func:`synaptic_sampling` then raises :class:`LangevinDivergenceError` naming the chain and the step
(``on_divergence="warn"`` returns the run with ``diverging`` flags instead). No NaNs are ever returned.

**Latent neurons.** Networks with hidden neurons (:class:`probsnn.neurons.latent.LatentGLMNetwork`) are sampled
by :func:`probsnn.inference.latent_sampling.latent_synaptic_sampling`, which uses the three-factor learning signal
of :mod:`probsnn.inference.three_factor` as the (unbiased) estimate of the likelihood-bound gradient.

**Checks** (``tests/test_synaptic_sampling.py``). At ``T = 1`` and ``T = 2`` on the small model the Langevin
means agree with NumPyro NUTS on :meth:`SynapticSampler.numpyro_model` within 2 combined ESS-based MCSE
(ArviZ, both samplers, in quadrature), the per-coordinate Wasserstein-1 distance is below 0.08 posterior sd,
and the retraction probabilities agree within 0.02 (and all three agree with exact quadrature). NUTS needs a
1000-step warm-up there: with 300 its MCSE understated the error of the bias means (rms z against quadrature
1.7 over 6 seeds, 1.0 over 8 seeds with 1000 warm-up steps); the Langevin MCSE is calibrated (rms z 1.0 over 8
independent groups of 16 chains at ``h = 0.005``).

References
----------
Kappel, Habenschuss, Legenstein & Maass (2015), "Network plasticity as Bayesian inference", PLoS Comput Biol
11(11):e1004485; and "Synaptic sampling: a Bayesian approach to neural network plasticity and rewiring",
NeurIPS 28. Welling & Teh (2011), "Bayesian learning via stochastic gradient Langevin dynamics", ICML.
Cabezas et al. (2024), "BlackJAX: composable Bayesian inference in JAX", arXiv:2402.10797.
"""
from __future__ import annotations

import warnings
from functools import cached_property
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..data import SpikeData
from ..models.priors import GLMPriors
from ..neurons.glm import GLMNetwork, GLMParams

__all__ = [
    "GROUPS",
    "LangevinDivergenceError",
    "SynapticSampler",
    "SamplerState",
    "retraction_weights",
    "synaptic_sampling",
    "retraction_probability",
    "last_theta",
]

GROUPS = ("stimulus", "coupling", "bias")
PARAMETRISATIONS = ("signed", "retraction")


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
    diverged : bool array
        Whether the chain has diverged (it is then frozen at its last good state).
    divergence_step : int array
        The step at which it diverged (``-1`` if it has not).
    """

    theta: dict
    key: jax.Array
    step: jax.Array
    diverged: jax.Array
    divergence_step: jax.Array


def retraction_weights(theta, theta0):
    r"""The retraction mapping :math:`w = \max(0, e^{\theta-\theta_0} - e^{-\theta_0})` (Kappel et al. 2015).

    ``w = 0`` exactly for :math:`\theta \le 0` (retracted synapse), ``w = 1 - e^{-\theta_0}`` at
    :math:`\theta = \theta_0`, and ``dw/dtheta = exp(theta - theta0)`` for :math:`\theta > 0`.
    """
    return jnp.maximum(0.0, jnp.exp(theta - theta0) - jnp.exp(-theta0))


def _check_positive(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.") from None
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    return value


def _check_int(name, value, minimum=1):
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def resolve_theta_prior(prior):
    """The prior on theta: ``{"stimulus", "coupling", "bias"} -> scalar numpyro distribution``, or a callable.

    ``None`` means ``GLMPriors()`` defaults; one distribution is used for every group; ``GLMPriors`` sites must be
    scalar distributions with real support (theta is unconstrained); a callable ``log_prior(theta)`` is returned
    as it is. Shared by :class:`SynapticSampler` and the latent-neuron sampler.
    """
    import numpyro.distributions as dist

    if prior is None:
        prior = GLMPriors()
    if isinstance(prior, dist.Distribution):
        prior = GLMPriors(prior, prior, prior)
    if isinstance(prior, GLMPriors):
        if prior.penalty is not None:
            raise ValueError("GLMPriors.penalty is not supported by synaptic sampling; pass a callable prior "
                             "that includes the quadratic penalty instead.")
        resolved = prior.resolved()
        groups = {}
        for g, d in zip(GROUPS, resolved[:3]):
            if not isinstance(d, dist.Distribution):
                raise ValueError(f"synaptic sampling needs a scalar numpyro distribution for the {g} prior, "
                                 f"got {type(d).__name__} (structured priors are not supported).")
            if d.support is not dist.constraints.real:
                raise ValueError(f"the {g} prior must have real support (theta is unconstrained), got "
                                 f"{type(d).__name__} with support {d.support}.")
            groups[g] = d
        return groups
    if callable(prior):
        return prior
    raise TypeError(f"prior must be a numpyro distribution, GLMPriors or a callable, got {type(prior).__name__}.")


class SynapticSampler:
    """The target of synaptic sampling for one :class:`probsnn.GLMNetwork`: parametrisation, prior, likelihood.

    Parameters
    ----------
    net : probsnn.GLMNetwork
    prior : numpyro Distribution, probsnn.GLMPriors, or callable, optional
        Prior on :math:`\\theta`. A scalar NumPyro distribution (real support) is applied to every free
        parameter; a :class:`~probsnn.GLMPriors` gives one distribution per group (``penalty`` and structured
        priors are not supported here); a callable maps the dict of group vectors to a scalar log density.
        Default: ``GLMPriors()`` (``N(0, 1)`` weights, ``N(0, 5)`` bias).
    parametrisation : {"signed", "retraction"}
    theta0 : float
        Offset :math:`\\theta_0 > 0` of the retraction mapping (ignored for ``"signed"``).
    retract : {"synapses", "coupling", "stimulus", "all_weights"} or bool array [N, F]
        Which entries of the flat weight layout use the retraction mapping: ``"synapses"`` = stimulus weights
        and couplings between different neurons (default), ``"coupling"`` = couplings between different
        neurons, ``"stimulus"``, ``"all_weights"`` = everything but the bias, or an explicit mask.
    """

    def __init__(self, net: GLMNetwork, prior=None, parametrisation: str = "signed", theta0: float = 3.0,
                 retract="synapses"):
        if not isinstance(net, GLMNetwork):
            raise TypeError(f"net must be a probsnn.GLMNetwork, got {type(net).__name__}.")
        if parametrisation not in PARAMETRISATIONS:
            raise ValueError(f"parametrisation must be one of {PARAMETRISATIONS}, got {parametrisation!r}.")
        self.net = net
        self.parametrisation = parametrisation
        self.theta0 = _check_positive("theta0", theta0)
        self._group_of = self._group_layout()
        free = np.asarray(net.feature_mask)
        self.indices = {g: np.nonzero(free & (self._group_of == i)) for i, g in enumerate(GROUPS)}
        self.sizes = {g: int(len(idx[0])) for g, idx in self.indices.items()}
        self.retract_mask = self._retract_mask(retract) if parametrisation == "retraction" else np.zeros_like(free)
        self.retract_mask = self.retract_mask & free
        self.retracted_in_group = {g: self.retract_mask[self.indices[g]] for g in GROUPS}
        self.n_synapses = int(self.retract_mask.sum())
        self.prior = self._resolve_prior(prior)

    # ---------------------------------------------------------------- layout
    def _group_layout(self) -> np.ndarray:
        net = self.net
        n_stim = net.n_stimulus_dims * net.n_stimulus_basis
        n_coup = net.n_neurons * net.n_history_basis
        row = np.array([0] * n_stim + [1] * n_coup + [2])
        return np.broadcast_to(row, (net.n_neurons, net.n_features)).copy()

    def _retract_mask(self, retract) -> np.ndarray:
        net = self.net
        n, f = net.n_neurons, net.n_features
        if isinstance(retract, str):
            n_stim = net.n_stimulus_dims * net.n_stimulus_basis
            stim = self._group_of == 0
            coup = self._group_of == 1
            # presynaptic neuron of each coupling column, to separate self-history from couplings
            pre = np.full(f, -1)
            if net.n_history_basis:
                pre[n_stim : n_stim + n * net.n_history_basis] = np.repeat(np.arange(n), net.n_history_basis)
            between = coup & (pre[None, :] != np.arange(n)[:, None])
            options = {"synapses": stim | between, "coupling": between, "stimulus": stim,
                       "all_weights": stim | coup}
            if retract not in options:
                raise ValueError(f"retract must be one of {tuple(options)} or a bool mask [N, F], got {retract!r}.")
            return options[retract]
        mask = np.asarray(retract)
        if mask.dtype != bool or mask.shape != (n, f):
            raise ValueError(f"a retract mask must be a bool array of shape ({n}, {f}) (net.feature_mask layout), "
                             f"got dtype {mask.dtype} and shape {mask.shape}.")
        if np.any(mask & (self._group_of == 2)):
            raise ValueError("the bias cannot be retracted: unset the last column of the retract mask.")
        return mask.copy()

    def _resolve_prior(self, prior):
        return resolve_theta_prior(prior)

    # ---------------------------------------------------------------- maps
    def weights_flat(self, theta: dict):
        """Flat weights ``[N, F]`` (the :meth:`probsnn.GLMNetwork.flatten` layout) from the group vectors."""
        net = self.net
        dtype = jnp.result_type(*[theta[g].dtype for g in GROUPS]) if theta else jnp.result_type(float)
        flat = jnp.zeros((net.n_neurons, net.n_features), dtype)
        for g in GROUPS:
            if self.sizes[g] == 0:
                continue
            value = theta[g]
            if self.retracted_in_group[g].any():
                value = jnp.where(jnp.asarray(self.retracted_in_group[g]), retraction_weights(value, self.theta0), value)
            flat = flat.at[self.indices[g]].set(value)
        return flat

    def weights(self, theta: dict) -> GLMParams:
        """The effective network parameters :class:`probsnn.GLMParams` for the group vectors ``theta``."""
        return self.net.unflatten(self.weights_flat(theta))

    def theta_from_params(self, params: GLMParams) -> dict:
        """Group vectors from network parameters (inverse mapping; a weight <= 0 under retraction -> theta = 0)."""
        flat = np.asarray(self.net.flatten(self.net.check_params(params)))
        out = {}
        for g in GROUPS:
            value = flat[self.indices[g]]
            r = self.retracted_in_group[g]
            if r.any():
                if np.any(value[r] < 0):
                    raise ValueError(f"{g} weights under the retraction parametrisation must be >= 0; got negative "
                                     f"values (use parametrisation='signed' for signed synapses).")
                positive = np.where(value > 0, value, 0.0)
                inverse = self.theta0 + np.log(positive + np.exp(-self.theta0))
                value = np.where(r, np.where(value > 0, inverse, 0.0), value)
            out[g] = jnp.asarray(value, dtype=jnp.result_type(float))
        return out

    def n_retracted(self, theta: dict):
        """Number of retracted synapses (``theta <= 0`` among the entries under the retraction mapping)."""
        total = jnp.zeros((), jnp.int32)
        for g in GROUPS:
            if self.retracted_in_group[g].any():
                total = total + jnp.sum((theta[g] <= 0) & jnp.asarray(self.retracted_in_group[g]))
        return total

    # ---------------------------------------------------------------- densities
    def log_prior(self, theta: dict):
        r""":math:`\log p_{\rm prior}(\theta)` (summed over the free parameters)."""
        if callable(self.prior) and not isinstance(self.prior, dict):
            return self.prior(theta)
        total = 0.0
        for g in GROUPS:
            if self.sizes[g]:
                total = total + jnp.sum(self.prior[g].log_prob(theta[g]))
        return total

    def log_likelihood(self, theta: dict, design, counts):
        r""":math:`\sum_{t,i} \log p(x_{i,t} \mid u_{i,t})` with :math:`u = X W(\theta)^\top` over the given bins."""
        potential = design @ self.weights_flat(theta).T
        return jnp.sum(self.net.observation.log_prob(counts, potential))

    def log_posterior(self, theta: dict, design, counts):
        """Untempered log posterior (up to a constant): log prior + full log-likelihood."""
        return self.log_prior(theta) + self.log_likelihood(theta, design, counts)

    def numpyro_model(self, design, counts=None, temperature: float = 1.0):
        r"""NumPyro model of the same target, tempered: density :math:`p(\theta \mid x)^{1/T}` (for NUTS references).

        Sites ``theta_stimulus``, ``theta_coupling``, ``theta_bias`` (free entries; skipped when empty), the
        deterministic effective weights ``stimulus_weights``, ``coupling_weights``, ``bias``, and ``obs``; the
        whole model is scaled by ``1 / temperature`` (:func:`numpyro.handlers.scale`). Only scalar-distribution
        priors are supported (not callables).
        """
        import numpyro
        from numpyro.handlers import scale

        if not isinstance(self.prior, dict):
            raise ValueError("numpyro_model needs distribution priors (a callable prior has no NumPyro form).")
        if isinstance(temperature, (int, float)):
            temperature = _check_positive("temperature", temperature)
        with scale(scale=1.0 / temperature):
            theta = {}
            for g in GROUPS:
                if self.sizes[g]:
                    theta[g] = numpyro.sample(f"theta_{g}", self.prior[g].expand((self.sizes[g],)).to_event(1))
                else:
                    theta[g] = jnp.zeros((0,))
            params = self.weights(theta)
            for name, value in zip(GLMParams._fields, params):
                numpyro.deterministic(name, value)
            potential = design @ self.weights_flat(theta).T
            n = self.net.n_neurons
            with numpyro.plate("neurons", n, dim=-1), numpyro.plate("time", design.shape[0], dim=-2):
                numpyro.sample("obs", self.net.observation.numpyro_distribution(potential), obs=counts)

    # ---------------------------------------------------------------- Langevin kernel
    def grad_log_density(self, theta: dict, design, counts, likelihood_scale):
        """Gradient of ``log prior + likelihood_scale * log likelihood(batch)`` (the SGLD estimate)."""
        def fn(t):
            return self.log_prior(t) + likelihood_scale * self.log_likelihood(t, design, counts)

        return jax.grad(fn)(theta)

    def step(self, state: SamplerState, batch, step_size, temperature, likelihood_scale, divergence_threshold):
        r"""One Euler-Maruyama step ``(state, (design_batch, counts_batch)) -> state`` (pure, jit/vmap friendly).

        :math:`\theta \leftarrow \theta + h \hat g + \sqrt{2hT}\,\xi` via BlackJAX's overdamped-Langevin
        diffusion. If the gradient or the new :math:`\theta` is non-finite, or :math:`|\theta|` exceeds
        ``divergence_threshold``, the chain keeps its last state and is flagged as diverged.
        """
        from blackjax.sgmcmc.diffusions import overdamped_langevin

        design, counts = batch
        key, step_key = jax.random.split(state.key)
        grad = self.grad_log_density(state.theta, design, counts, likelihood_scale)
        proposal = overdamped_langevin()(step_key, state.theta, grad, step_size, temperature)
        leaves = jax.tree_util.tree_leaves(grad) + jax.tree_util.tree_leaves(proposal)
        ok = jnp.array(True)
        for leaf in leaves:
            ok = ok & jnp.all(jnp.isfinite(leaf))
        for leaf in jax.tree_util.tree_leaves(proposal):
            ok = ok & jnp.all(jnp.abs(leaf) < divergence_threshold)
        accept = ok & ~state.diverged
        theta = jax.tree_util.tree_map(lambda new, old: jnp.where(accept, new, old), proposal, state.theta)
        newly = ~ok & ~state.diverged
        return SamplerState(
            theta=theta,
            key=key,
            step=state.step + 1,
            diverged=state.diverged | ~ok,
            divergence_step=jnp.where(newly, state.step + 1, state.divergence_step),
        )

    @cached_property
    def _run_jit(self):
        """jitted ``(state, design, counts, step_size, temperature, ...) -> (state, draws)`` vmapped over chains."""

        def run(state, design, counts, step_size, temperature, divergence_threshold, n_draws, thin, batch_size,
                batching):
            n_bins = design.shape[0]
            scale = 1.0 if batch_size is None else n_bins / batch_size

            def batch_at(key, step):
                if batch_size is None:
                    return design, counts
                if batching == "random":
                    idx = jax.random.randint(key, (batch_size,), 0, n_bins)
                    return design[idx], counts[idx]
                start = (step % (n_bins // batch_size)) * batch_size
                return (jax.lax.dynamic_slice_in_dim(design, start, batch_size, 0),
                        jax.lax.dynamic_slice_in_dim(counts, start, batch_size, 0))

            def one_step(s, _):
                batch_key, key = jax.random.split(s.key)
                s = s._replace(key=key)
                s = self.step(s, batch_at(batch_key, s.step), step_size, temperature, scale, divergence_threshold)
                return s, None

            def one_draw(s, _):
                s, _ = jax.lax.scan(one_step, s, None, length=thin)
                loglik = self.log_likelihood(s.theta, design, counts)
                stats = {
                    "lp": self.log_prior(s.theta) + loglik,
                    "log_likelihood": loglik,
                    "n_retracted": self.n_retracted(s.theta),
                    "diverging": s.diverged,
                }
                return s, (s.theta, stats)

            def run_chain(s):
                return jax.lax.scan(one_draw, s, None, length=n_draws)

            return jax.vmap(run_chain)(state)

        return jax.jit(run, static_argnames=("n_draws", "thin", "batch_size", "batching"))


# -------------------------------------------------------------------------------------- public entry point
def _init_theta(sampler: SynapticSampler, init, n_chains, key, dtype):
    """Group vectors ``[C, K]`` per group from ``init`` (None, InferenceData, GLMParams, or a dict)."""
    if init is None:
        keys = jax.random.split(key, len(GROUPS))
        out = {}
        for g, k in zip(GROUPS, keys):
            value = 0.1 * jax.random.normal(k, (n_chains, sampler.sizes[g]), dtype)
            if g != "bias" and sampler.retracted_in_group[g].any():
                # start retractable synapses just inside the existing (w > 0) region
                value = jnp.where(jnp.asarray(sampler.retracted_in_group[g]), jnp.abs(value) + 0.5, value)
            out[g] = value
        return out
    if hasattr(init, "posterior"):
        previous = last_theta(init)
        for g, v in previous.items():
            if v.shape != (n_chains, sampler.sizes[g]):
                raise ValueError(f"init InferenceData has theta_{g} of shape {v.shape} (chains, entries); expected "
                                 f"({n_chains}, {sampler.sizes[g]}) for this sampler and n_chains.")
        return {g: jnp.asarray(v, dtype) for g, v in previous.items()}
    if isinstance(init, GLMParams):
        single = sampler.theta_from_params(init)
        return {g: jnp.broadcast_to(jnp.asarray(v, dtype), (n_chains, sampler.sizes[g])) for g, v in single.items()}
    if isinstance(init, dict):
        out = {}
        for g in GROUPS:
            value = np.asarray(init.get(g, init.get(f"theta_{g}", np.zeros(sampler.sizes[g]))), dtype=float)
            if value.shape[-1:] != (sampler.sizes[g],) or value.ndim > 2:
                raise ValueError(f"init[{g!r}] must have shape ({sampler.sizes[g]},) or (n_chains, "
                                 f"{sampler.sizes[g]}), got {value.shape}.")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"init[{g!r}] contains non-finite values.")
            out[g] = jnp.broadcast_to(jnp.asarray(value, dtype), (n_chains, sampler.sizes[g]))
        return out
    raise TypeError("init must be None, an InferenceData from synaptic_sampling, a GLMParams, or a dict of "
                    f"group vectors; got {type(init).__name__}.")


def last_theta(idata) -> dict:
    """The last draw of every chain, ``{group: [C, K]}``, from a :func:`synaptic_sampling` InferenceData (to continue)."""
    n_chains = idata.posterior.sizes["chain"]
    out = {}
    for g in GROUPS:
        name = f"theta_{g}"
        out[g] = np.asarray(idata.posterior[name].values[:, -1]) if name in idata.posterior else np.zeros((n_chains, 0))
    return out


def retraction_probability(idata, group: str = "coupling") -> np.ndarray:
    """Posterior probability ``P(theta <= 0)`` of each free entry of ``group`` (retracted synapse), pooled over chains.

    Works for any InferenceData with ``theta_<group>`` in its posterior (Langevin or NUTS on
    :meth:`SynapticSampler.numpyro_model`).
    """
    values = np.asarray(idata.posterior[f"theta_{group}"].values)
    return (values <= 0).reshape(-1, values.shape[-1]).mean(axis=0)


def synaptic_sampling(
    net: GLMNetwork,
    data: SpikeData,
    *,
    n_steps: int,
    step_size: float,
    temperature: float = 1.0,
    prior=None,
    parametrisation: str = "signed",
    theta0: float = 3.0,
    retract="synapses",
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
):
    r"""Langevin synaptic sampling of a GLM network's parameters (Kappel et al. 2015); returns InferenceData.

    Integrates :math:`d\theta = \beta\nabla\log p(\theta\mid x)\,dt + \sqrt{2\beta T}\,dW` with Euler-Maruyama
    steps :math:`\theta \leftarrow \theta + h\hat g + \sqrt{2hT}\xi` (``h = step_size`` :math:`=\beta\Delta t`),
    whose stationary distribution is :math:`\propto p(\theta \mid x)^{1/T}` up to an :math:`O(h)` bias.

    Parameters
    ----------
    net : probsnn.GLMNetwork
    data : probsnn.SpikeData
        Recorded spikes (all neurons observed) and stimulus.
    n_steps : int
        Langevin steps after warm-up; one draw is kept every ``thin`` steps (``n_steps`` must be a multiple).
    step_size : float
        :math:`h = \beta\,\Delta t > 0`.
    temperature : float
        :math:`T > 0`; the target is :math:`p(\theta\mid x)^{1/T}`.
    prior, parametrisation, theta0, retract
        See :class:`SynapticSampler`.
    n_chains : int
        Independent chains (vectorised with ``vmap``).
    thin, n_warmup : int
        Thinning and discarded warm-up steps (warm-up uses the same step size).
    batch_size : int, optional
        ``None``: full-data gradients. Otherwise mini-batch gradients over ``batch_size`` bins, scaled by
        ``n_bins / batch_size`` (unbiased).
    batching : {"random", "stream"}
        ``"random"``: bins drawn uniformly with replacement at every step. ``"stream"``: consecutive blocks
        in time order, cycling (online use; ``n_bins`` must be a multiple of ``batch_size``).
    init : None, InferenceData, GLMParams or dict, optional
        Starting point: ``None`` (small random values; retractable synapses start present), the result of an
        earlier run (continues every chain from its last draw), network parameters (e.g. a MAP fit), or a dict
        of group vectors ``{"stimulus"|"coupling"|"bias": [K] or [C, K]}``.
    seed : int
    on_divergence : {"raise", "warn"}
        What to do if a chain diverges (non-finite gradient or parameters, or ``|theta| >
        divergence_threshold``): raise :class:`LangevinDivergenceError`, or warn and return the run with the
        ``diverging`` flags set (the chain is frozen at its last good state, so there are no NaNs; its draws
        after the divergence are not valid samples).
    design : array, optional
        A precomputed ``net.design_matrix(data)``.
    sampler : SynapticSampler, optional
        Reuse a sampler (and its compiled kernels) across calls; overrides ``prior``/``parametrisation``/...

    Returns
    -------
    arviz.InferenceData
        ``posterior``: ``theta_stimulus``, ``theta_coupling``, ``theta_bias`` (free entries) and the effective
        weights ``stimulus_weights``, ``coupling_weights``, ``bias``; ``sample_stats``: ``lp``,
        ``log_likelihood``, ``n_retracted``, ``retracted_fraction``, ``diverging``; ``attrs``: the settings and
        divergence report.
    """
    import arviz as az

    temperature = _check_positive("temperature", temperature)
    step_size = _check_positive("step_size", step_size)
    divergence_threshold = _check_positive("divergence_threshold", divergence_threshold)
    n_steps = _check_int("n_steps", n_steps)
    thin = _check_int("thin", thin)
    n_warmup = _check_int("n_warmup", n_warmup, minimum=0)
    n_chains = _check_int("n_chains", n_chains)
    if n_steps % thin:
        raise ValueError(f"n_steps ({n_steps}) must be a multiple of thin ({thin}).")
    if n_warmup % thin:
        raise ValueError(f"n_warmup ({n_warmup}) must be a multiple of thin ({thin}).")
    if on_divergence not in ("raise", "warn"):
        raise ValueError(f"on_divergence must be 'raise' or 'warn', got {on_divergence!r}.")
    if batching not in ("random", "stream"):
        raise ValueError(f"batching must be 'random' or 'stream', got {batching!r}.")
    if sampler is None:
        sampler = SynapticSampler(net, prior=prior, parametrisation=parametrisation, theta0=theta0, retract=retract)
    elif sampler.net is not net:
        raise ValueError("sampler was built for a different network.")
    net.check_data(data)
    if batch_size is not None:
        batch_size = _check_int("batch_size", batch_size)
        if batch_size > data.n_bins:
            raise ValueError(f"batch_size ({batch_size}) exceeds the number of bins ({data.n_bins}).")
        if batching == "stream" and data.n_bins % batch_size:
            raise ValueError(f"streaming batches need n_bins ({data.n_bins}) to be a multiple of batch_size "
                             f"({batch_size}); trim the data with data.time_slice or pick another batch size.")
    dtype = jnp.result_type(float)
    design = net.design_matrix(data) if design is None else jnp.asarray(design, dtype)
    if design.shape != (data.n_bins, net.n_features):
        raise ValueError(f"design must have shape ({data.n_bins}, {net.n_features}), got {design.shape}.")
    counts = jnp.asarray(data.counts, dtype)

    key = jax.random.PRNGKey(seed)
    init_key, chain_key = jax.random.split(key)
    theta = _init_theta(sampler, init, n_chains, init_key, dtype)
    # validate at the boundary: the starting gradient must be finite
    for c in range(n_chains):
        start = {g: v[c] for g, v in theta.items()}
        grad = sampler.grad_log_density(start, design, counts, 1.0)
        bad = [g for g, v in grad.items() if not bool(jnp.all(jnp.isfinite(v)))]
        if bad:
            raise ValueError(f"the log-posterior gradient is non-finite at the initial parameters of chain {c} "
                             f"(groups {bad}); start from finite parameters where the likelihood is finite.")
    state = SamplerState(
        theta=theta,
        key=jax.random.split(chain_key, n_chains),
        step=jnp.zeros(n_chains, jnp.int32),
        diverged=jnp.zeros(n_chains, bool),
        divergence_step=jnp.full(n_chains, -1, jnp.int32),
    )
    args = (design, counts, step_size, temperature, divergence_threshold)
    if n_warmup:
        state, _ = sampler._run_jit(state, *args, n_draws=n_warmup // thin, thin=thin, batch_size=batch_size,
                                    batching=batching)
    state, (draws, stats) = sampler._run_jit(state, *args, n_draws=n_steps // thin, thin=thin,
                                             batch_size=batch_size, batching=batching)

    diverged = np.asarray(state.diverged)
    if diverged.any():
        chains = np.nonzero(diverged)[0].tolist()
        steps = np.asarray(state.divergence_step)[diverged].tolist()
        message = (f"Langevin synaptic sampling diverged in chain(s) {chains} at step(s) {steps} (counting warm-up): "
                   f"non-finite or exploding (|theta| > {divergence_threshold:g}) parameters or gradient. "
                   f"Reduce step_size (now {step_size:g}) or the temperature (now {temperature:g}).")
        if on_divergence == "raise":
            raise LangevinDivergenceError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)

    posterior, dims = {}, {}
    for g in GROUPS:
        if sampler.sizes[g]:
            posterior[f"theta_{g}"] = np.asarray(draws[g])
            dims[f"theta_{g}"] = [f"{g}_parameter"]
    flat = np.zeros((n_chains, n_steps // thin, net.n_neurons, net.n_features))
    for g in GROUPS:
        if sampler.sizes[g]:
            value = np.asarray(draws[g])
            r = sampler.retracted_in_group[g]
            if r.any():
                value = np.where(r, np.asarray(retraction_weights(value, sampler.theta0)), value)
            flat[:, :, sampler.indices[g][0], sampler.indices[g][1]] = value
    # the GLMParams layout of net.unflatten, with leading [chain, draw] axes
    n, ds, bs, bh = net.n_neurons, net.n_stimulus_dims, net.n_stimulus_basis, net.n_history_basis
    n_stim = ds * bs
    lead = flat.shape[:2]
    posterior["stimulus_weights"] = flat[..., :n_stim].reshape(*lead, n, ds, bs)
    posterior["coupling_weights"] = flat[..., n_stim : n_stim + n * bh].reshape(*lead, n, n, bh)
    posterior["bias"] = flat[..., -1]
    dims.update({"stimulus_weights": ["neuron", "stimulus_dim", "stimulus_basis"],
                 "coupling_weights": ["neuron", "presynaptic", "history_basis"], "bias": ["neuron"]})
    sample_stats = {k: np.asarray(v) for k, v in stats.items()}
    sample_stats["retracted_fraction"] = (sample_stats["n_retracted"] / sampler.n_synapses if sampler.n_synapses
                                          else np.zeros_like(sample_stats["lp"]))
    coords = {"neuron": list(net.neuron_names), "presynaptic": list(net.neuron_names)}
    attrs = {
        "inference_library": "probsnn.synaptic_sampling (BlackJAX overdamped Langevin)",
        "temperature": temperature, "step_size": step_size, "parametrisation": sampler.parametrisation,
        "theta0": sampler.theta0, "n_synapses": sampler.n_synapses, "thin": thin, "n_warmup": n_warmup,
        "batch_size": -1 if batch_size is None else batch_size, "batching": batching,
        "diverged_chains": np.nonzero(diverged)[0].tolist(),
        "divergence_steps": np.asarray(state.divergence_step).tolist(),
    }
    return az.from_dict(posterior=posterior, sample_stats=sample_stats, coords=coords, dims=dims, attrs=attrs)
