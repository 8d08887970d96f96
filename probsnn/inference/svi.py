r"""Variational inference over GLM network weights with NumPyro's SVI and an Optax optimiser.

Maximises the evidence lower bound

.. math::
    \mathcal L(\phi) = \mathbb E_{q_\phi(w)}\bigl[\log p(s, w) - \log q_\phi(w)\bigr]
    \le \log p(s)

(Kingma & Welling 2014; Ranganath et al. 2014) by stochastic gradient ascent with reparametrised draws, on
the parallel-in-time NumPyro model :func:`probsnn.models.glm_network`. Guides: ``"normal"``
(mean-field, ``AutoNormal``), ``"mvn"`` (full-rank Gaussian, ``AutoMultivariateNormal``),
``"lowrank"`` (``AutoLowRankMultivariateNormal``), or ``"delta"`` (MAP point mass), or any NumPyro guide.
The result is ``num_samples`` draws from the fitted guide as ``arviz.InferenceData``.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from .._checks import check_int, one_of, positive_float, positive_int
from ..diagnostics import ConvergenceWarning
from .idata import init_values_from_map, to_inference_data
from .laplace import resolve_priors

__all__ = ["fit_svi"]

_GUIDES = ("normal", "mvn", "lowrank", "delta")


def _make_guide(guide, model, init_strategy):
    from numpyro.infer import autoguide

    if callable(guide) and not isinstance(guide, str):
        return guide
    table = {"normal": autoguide.AutoNormal, "mvn": autoguide.AutoMultivariateNormal,
             "lowrank": autoguide.AutoLowRankMultivariateNormal, "delta": autoguide.AutoDelta}
    if guide not in table:
        raise ValueError(f"guide must be one of {_GUIDES} or a NumPyro guide, got {guide!r}.")
    kwargs = dict(init_loc_fn=init_strategy)
    if guide in ("normal", "mvn", "lowrank"):
        kwargs["init_scale"] = 0.01
    return table[guide](model, **kwargs)


def _raise_diverged(losses, learning_rate, num_steps):
    """The optimiser diverged (a NaN/inf ELBO or guide parameters): one ValueError, before NumPyro draws from an
    invalid guide."""
    bad = np.flatnonzero(~np.isfinite(losses))
    where = (f"the ELBO became non-finite at step {int(bad[0])} of {num_steps}" if bad.size
             else "the guide's parameters became non-finite")
    raise ValueError(
        f"fit_svi diverged: {where} (learning_rate={learning_rate:g}); Adam's steps are too large for this "
        f"posterior. Lower learning_rate (the default is 0.01) and, if needed, raise "
        "num_steps."
    )


def fit_svi(net, data, priors=None, *, guide="mvn", num_steps: int = 2000, learning_rate: float = 0.01,
            num_particles: int = 1, num_samples: int = 1000, seed: int = 0, init="map",
            log_likelihood="bin", posterior_predictive: bool = False, design=None, progress=None,
            warn: bool = True):
    r"""Fit a variational posterior over a GLM network's weights; returns ``arviz.InferenceData``.

    Parameters
    ----------
    net : GLMNetwork
    data : SpikeData
    priors : GLMPriors or GaussianPrior, optional
    guide : {"mvn", "normal", "lowrank", "delta"} or a NumPyro guide
    num_steps : int
        Optimisation steps (Optax Adam with ``learning_rate``).
    num_particles : int
        Monte Carlo draws per ELBO estimate (``Trace_ELBO``).
    num_samples : int
        Draws from the fitted guide in the returned posterior (one chain).
    init : "map" or None
        Start the guide's location at a weakly regularised MAP fit (fast convergence) or NumPyro's default.
    log_likelihood, posterior_predictive, design, progress : as in :func:`probsnn.fit_nuts`.
    warn : bool
        Warn when the ELBO is still improving by more than 1 nat per 100 steps at the end.

    Raises
    ------
    ValueError
        On bad arguments or data (before any fitting), and when the optimisation diverges (a non-finite ELBO,
        typically a too large ``learning_rate``): the message gives the step and says to lower
        ``learning_rate``; nothing is drawn from the broken guide.

    Returns
    -------
    arviz.InferenceData
        ``attrs`` hold ``method="svi"``, ``guide``, ``final_elbo`` and ``fit_time_s``; the ELBO trace is
        in ``sample_stats`` attrs as ``elbo_trace`` (every 10th step).
    """
    import jax
    import jax.numpy as jnp
    import optax
    from numpyro.infer import SVI, Predictive, Trace_ELBO, init_to_value

    from ..models.glm import glm_network
    from ..models.priors import GaussianPrior
    from .map import fit_map

    net.check_data(data, design=design)
    num_steps = positive_int("num_steps", num_steps)
    num_particles = positive_int("num_particles", num_particles)
    num_samples = check_int("num_samples", num_samples, minimum=2)
    learning_rate = positive_float("learning_rate", learning_rate)
    one_of("init", init, ("map", None))
    if isinstance(guide, str) and guide not in _GUIDES:  # before any fitting
        raise ValueError(f"guide must be one of {_GUIDES} or a NumPyro guide, got {guide!r}.")
    priors_r = resolve_priors(priors)
    dtype = jnp.result_type(float)
    design = net.design_matrix(data) if design is None else jnp.asarray(design, dtype)
    counts = jnp.asarray(data.counts, dtype)
    weight = net.likelihood_weight(data)
    model_kwargs = dict(net=net, priors=priors_r, weight=None if weight is None else jnp.asarray(weight, dtype))

    init_strategy = None
    if init == "map":
        start = fit_map(net, data, prior=GaussianPrior(ridge=1.0, bias=1e-2), design=design, progress=False,
                        warn=False).params
        init_strategy = init_to_value(values=init_values_from_map(priors_r, start, dtype))
    else:
        from numpyro.infer import init_to_median

        init_strategy = init_to_median
    guide_name = guide if isinstance(guide, str) else type(guide).__name__
    guide = _make_guide(guide, glm_network, init_strategy)
    svi = SVI(glm_network, guide, optax.adam(learning_rate), loss=Trace_ELBO(num_particles=num_particles))
    key_fit, key_draw = jax.random.split(jax.random.PRNGKey(seed))
    show = progress if progress is not None else False
    t0 = time.perf_counter()
    result = svi.run(key_fit, num_steps, design, counts, progress_bar=bool(show), **model_kwargs)
    losses = np.asarray(result.losses)
    fit_time = time.perf_counter() - t0
    params_finite = all(bool(np.all(np.isfinite(np.asarray(v)))) for v in jax.tree.leaves(result.params))
    if not (np.all(np.isfinite(losses)) and params_finite):
        _raise_diverged(losses, learning_rate, num_steps)
    if warn:
        if len(losses) >= 200 and (np.mean(losses[-200:-100]) - np.mean(losses[-100:])) > 1.0:
            warnings.warn("SVI: the ELBO was still improving at the end; raise num_steps.", ConvergenceWarning,
                          stacklevel=2)
    from numpyro import handlers

    trace = handlers.trace(handlers.seed(glm_network, 0)).get_trace(design, counts, **model_kwargs)
    sites = [name for name, site in trace.items()
             if (site["type"] == "sample" and not site["is_observed"]) or site["type"] == "deterministic"]
    latent = Predictive(guide, params=result.params, num_samples=num_samples)(key_draw, design, counts,
                                                                               **model_kwargs)
    latent = {k: v for k, v in latent.items() if k in sites}
    draws = Predictive(glm_network, posterior_samples=latent, return_sites=sites)(key_draw, design, counts,
                                                                                  **model_kwargs)
    draws = {k: np.asarray(v)[None] for k, v in draws.items() if k in sites}
    idata = to_inference_data(net, data, draws, design=design, priors=priors_r, log_likelihood=log_likelihood,
                              posterior_predictive=posterior_predictive, seed=seed,
                              attrs=dict(method="svi", guide=guide_name, final_elbo=float(-np.mean(losses[-50:])),
                                         fit_time_s=fit_time, num_steps=num_steps))
    idata.sample_stats.attrs["elbo_trace"] = (-losses[::10]).tolist()
    return idata
