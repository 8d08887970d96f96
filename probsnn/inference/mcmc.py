r"""Posterior sampling of GLM network parameters with NumPyro's No-U-Turn sampler.

The target is the NumPyro model :func:`probsnn.models.glm_network`,

.. math::
    p(w \mid s) \propto p(w) \prod_{t,i} p\bigl(s_{i,t} \mid u_{i,t}\bigr), \qquad u = X W^\top ,

whose likelihood is parallel in time: the design :math:`X` (observed spikes and stimulus convolved with
the bases) is computed once, so every log-density gradient is one contraction over the design and no scan
over time (Hoffman & Gelman 2014 for NUTS; Pillow et al. 2008 for the model).

Preconditioning. For Gaussian site priors the posterior of a GLM with many bins is close to the Laplace
approximation :math:`\mathcal N(\hat w, H^{-1})`; by default (``mass="laplace"``) the chains start at the exact
mode and use the Laplace covariance (block-diagonal over neurons) as a fixed dense inverse mass matrix,
with the step size still adapted during warm-up. This makes the sampler's geometry nearly isotropic, so
NUTS needs few leapfrog steps per effectively independent draw. ``mass="diag"`` / ``"dense"`` use NumPyro's
own windowed adaptation instead (the default for structured sparsity / hierarchical priors).

Convergence diagnostics (split R-hat, bulk ESS, divergences) are computed with ArviZ after sampling
(:func:`probsnn.diagnostics.check_convergence`) and surfaced as :class:`ConvergenceWarning` warnings.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from .._checks import check_float, check_int, one_of, positive_int
from ..data import SpikeData
from ..diagnostics import check_convergence
from .idata import _check_block, init_values_from_map, to_inference_data
from .laplace import gaussian_precision, mode_and_covariance, resolve_priors

__all__ = ["fit_nuts"]

_CHAIN_METHODS = ("parallel", "sequential", "vectorized")
_MASS = ("laplace", "diag", "dense")


def laplace_inverse_mass(net, covariance, present_sites) -> np.ndarray:
    """The Laplace covariance ``[N, F, F]`` rearranged into NumPyro's flat order of the sample sites.

    NumPyro ravels the sites of one mass-matrix block in sorted name order (``bias``,
    ``coupling_weights``, ``stimulus_weights``), each in C order; the per-neuron flat layout of
    :meth:`GLMNetwork.flatten` is mapped onto it by tracking entry indices through :meth:`unflatten`.
    """
    n, f = net.n_neurons, net.n_features
    index = np.arange(n * f, dtype=float).reshape(n, f)
    sites = dict(zip(("stimulus_weights", "coupling_weights", "bias"), net.unflatten(index)))
    order = np.concatenate([np.asarray(sites[name]).ravel() for name in sorted(present_sites)]).astype(int)
    full = np.zeros((n * f, n * f))
    for i in range(n):
        full[i * f : (i + 1) * f, i * f : (i + 1) * f] = covariance[i]
    return full[np.ix_(order, order)]


def fit_nuts(net, data: SpikeData, priors=None, *, num_warmup: int = 500, num_samples: int = 500,
             num_chains: int = 2, chain_method: str = "vectorized", seed: int = 0, mass: str | None = None,
             init="map", target_accept_prob: float = 0.8, max_tree_depth: int = 10, thinning: int = 1,
             log_likelihood="bin", posterior_predictive: bool = False, design=None, progress=None,
             warn: bool = True, float64: bool | None = None):
    r"""Sample the posterior over a GLM network's weights with NUTS; returns ``arviz.InferenceData``.

    Parameters
    ----------
    net : GLMNetwork
    data : SpikeData
    priors : GLMPriors or GaussianPrior, optional
        Priors of the NumPyro model (default ``GLMPriors()``: Normal(0, 1) filters, Normal(0, 5) bias).
        A :class:`GaussianPrior` is used as a penalty on top of vague Normal(0, 100) site priors.
    num_warmup, num_samples, num_chains : int
    chain_method : {"vectorized", "parallel", "sequential"}
        How chains run (``parallel`` needs several JAX devices).
    seed : int
    mass : {"laplace", "diag", "dense"}, optional
        Inverse mass matrix: the exact Laplace covariance (fixed; default for Gaussian priors) or NumPyro's
        adapted diagonal / dense matrix (default for structured priors).
    init : "map", GLMParams, MAPResult or None
        Where chains start: the posterior mode (``"map"``; for non-Gaussian priors, a weakly regularised MAP),
        given parameters, or NumPyro's default (uniform in ``(-2, 2)`` on the unconstrained space).
    target_accept_prob : float in (0, 1)
    max_tree_depth : int
        NUTS builds trajectories of at most ``2**max_tree_depth - 1`` leapfrog steps. With the Laplace mass
        matrix the whitened posterior is close to a standard normal and trajectories of about pi (15 steps)
        make draws antithetic: excellent bulk ESS for means, poor ESS for magnitudes (the tail half of
        rank-normalised R-hat). ``3`` (7 steps, about pi / 2) halves the cost per draw and balances both;
        it is what the RGC acceptance test uses to reach R-hat < 1.01 on 424 weights.
    thinning : int
    log_likelihood : "bin", int or None
        Pointwise log-likelihood for LOO/WAIC per bin, summed over blocks of this many bins, or none.
    posterior_predictive : bool
        Add one-step-ahead posterior predictive counts and rates.
    design : array, optional
        ``net.design_matrix(data)``, if already computed.
    progress : bool, optional
        Progress bar (default: when writing to a terminal).
    warn : bool
        Warn (:class:`ConvergenceWarning`) on R-hat > 1.01, bulk ESS < 100 or divergences.
    float64 : bool, optional
        ``True`` switches JAX to float64 (``numpyro.enable_x64``) before anything is built.

    Returns
    -------
    arviz.InferenceData
        Groups ``posterior``, ``sample_stats``, ``log_likelihood``, ``observed_data`` (and
        ``posterior_predictive``); ``attrs`` hold ``method``, ``sampling_time_s`` (after compilation and
        warm-up are excluded: see ``warmup_time_s``), ``num_leapfrog`` and the convergence summary.
    """
    import jax
    import jax.numpy as jnp
    import numpyro
    from numpyro.infer import MCMC, NUTS, init_to_value

    from ..models.glm import glm_network
    from ..neurons.glm import GLMParams
    from .map import MAPResult, fit_map

    if float64:
        numpyro.enable_x64()
    net.check_data(data, design=design)
    num_warmup = check_int("num_warmup", num_warmup, minimum=0)
    num_samples = positive_int("num_samples", num_samples)
    num_chains = positive_int("num_chains", num_chains)
    thinning = positive_int("thinning", thinning)
    max_tree_depth = positive_int("max_tree_depth", max_tree_depth)
    one_of("chain_method", chain_method, _CHAIN_METHODS)
    check_float("target_accept_prob", target_accept_prob, 0.0, 1.0, low_open=True, high_open=True)
    seed = check_int("seed", seed, minimum=None)  # before the MAP start and the sampler, not at PRNGKey(seed)
    _check_block(log_likelihood, data.n_bins)
    priors_r = resolve_priors(priors)
    gaussian = gaussian_precision(net, priors_r) is not None
    if mass is None:
        mass = "laplace" if gaussian else "diag"
    one_of("mass", mass, _MASS)
    if mass == "laplace" and not gaussian:
        raise ValueError("mass='laplace' needs zero-mean Normal site priors (optionally with a GaussianPrior "
                         "penalty); use mass='diag' or 'dense' for other priors.")
    if chain_method == "parallel" and jax.local_device_count() < num_chains:
        warnings.warn(f"chain_method='parallel' needs {num_chains} devices but JAX sees "
                      f"{jax.local_device_count()}; NumPyro will run the chains sequentially.", UserWarning,
                      stacklevel=2)

    dtype = jnp.result_type(float)
    design = net.design_matrix(data) if design is None else jnp.asarray(design, dtype)
    if design.shape != (data.n_bins, net.n_features):
        raise ValueError(f"design has shape {design.shape}, expected {(data.n_bins, net.n_features)}.")
    counts = jnp.asarray(data.counts, dtype)
    weight = net.likelihood_weight(data)
    weight = None if weight is None else jnp.asarray(weight, dtype)

    # ---- starting point and preconditioner
    start_params, inverse_mass = None, None
    if mass == "laplace":
        fit, cov = mode_and_covariance(net, data, priors_r, design=design, progress=False)
        start_params = fit.params
        present = [name for name, value in zip(GLMParams._fields, fit.params) if np.size(value) > 0]
        inverse_mass = {tuple(sorted(present)): jnp.asarray(laplace_inverse_mass(net, cov, present), dtype)}
    if isinstance(init, MAPResult):
        start_params = init.params
    elif isinstance(init, GLMParams):
        start_params = net.check_params(init)
    elif init == "map":
        if start_params is None:
            from ..models.priors import GaussianPrior

            start_params = fit_map(net, data, prior=GaussianPrior(ridge=1.0, bias=1e-2), design=design,
                                   progress=False, warn=False).params
    elif init is not None:
        raise ValueError(f"init must be 'map', GLMParams, a MAPResult or None, got {init!r}.")
    init_strategy = numpyro.infer.init_to_uniform
    if start_params is not None and init is not None:
        init_strategy = init_to_value(values=init_values_from_map(priors_r, start_params, dtype))

    kernel = NUTS(glm_network, inverse_mass_matrix=inverse_mass, adapt_mass_matrix=(mass != "laplace"),
                  dense_mass=(mass in ("dense", "laplace")), target_accept_prob=target_accept_prob,
                  max_tree_depth=max_tree_depth, init_strategy=init_strategy)
    show = progress if progress is not None else None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*There are not enough devices.*")
        mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                    chain_method=chain_method, thinning=thinning,
                    progress_bar=(show if show is not None else _is_terminal()))
        key = jax.random.PRNGKey(seed)
        t0 = time.perf_counter()
        mcmc.warmup(key, design, counts, net=net, priors=priors_r, weight=weight, collect_warmup=False)
        jax.block_until_ready(mcmc.last_state)
        t1 = time.perf_counter()
        mcmc.run(mcmc.post_warmup_state.rng_key, design, counts, net=net, priors=priors_r, weight=weight,
                 extra_fields=("diverging", "num_steps", "energy", "adapt_state.step_size", "accept_prob"))
        samples = mcmc.get_samples(group_by_chain=True)
        jax.block_until_ready(samples)
        t2 = time.perf_counter()
    extra = mcmc.get_extra_fields(group_by_chain=True)
    num_steps = np.asarray(extra["num_steps"])
    stats = dict(diverging=np.asarray(extra["diverging"]), n_steps=num_steps,
                 tree_depth=np.floor(np.log2(np.maximum(num_steps, 1))).astype(int) + 1,
                 energy=np.asarray(extra["energy"]), step_size=np.asarray(extra["adapt_state.step_size"]),
                 acceptance_rate=np.asarray(extra["accept_prob"]))
    draws = {k: np.asarray(v) for k, v in samples.items()}
    idata = to_inference_data(net, data, draws, design=design, priors=priors_r, sample_stats=stats,
                              log_likelihood=log_likelihood, posterior_predictive=posterior_predictive, seed=seed,
                              attrs=dict(method="nuts", mass=mass, warmup_time_s=t1 - t0, sampling_time_s=t2 - t1,
                                         num_leapfrog=int(num_steps.sum()), num_chains=num_chains,
                                         chain_method=chain_method))
    summary = check_convergence(idata, warn=warn)
    idata.attrs.update({f"convergence_{k}": v for k, v in summary.items()})
    return idata


def _is_terminal() -> bool:
    import sys

    return bool(getattr(sys.stderr, "isatty", lambda: False)())
