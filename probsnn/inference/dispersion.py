r"""The dispersion of an observation model, estimated with the weights of a GLM network.

Three laws of :mod:`probsnn.neurons.observation` carry a dispersion that :func:`~probsnn.fit_map` keeps fixed:
the negative binomial's :math:`\alpha` (variance :math:`\mu + \alpha\mu^2`), the Gamma's :math:`\phi` (variance
:math:`\phi\mu^2`) and the Gaussian's variance :math:`\sigma^2`. :func:`fit_dispersion` estimates one per
neuron, the way statsmodels does by default:

* **negative binomial**, by maximum likelihood jointly with the weights (statsmodels'
  ``discrete_model.NegativeBinomial``; Cameron & Trivedi 2013, sec. 3.3): per neuron, the negative
  log-likelihood (plus the prior's penalty) in :math:`(w_i, \log\alpha_i)` is minimised by SciPy's
  ``trust-exact`` Newton method with the exact gradient and Hessian from JAX, and the standard errors of
  :math:`w_i` and :math:`\alpha_i` come from the inverse of that joint Hessian;
* **Gamma and Gaussian**, by Pearson's moment estimate (statsmodels ``GLM``'s default ``scale="X2"``;
  McCullagh & Nelder 1989, sec. 8.3)

  .. math::
      \hat\phi_i = \frac{1}{n_i - p_i} \sum_t m_{t,i} \frac{(y_{t,i} - \hat\mu_{t,i})^2}{V(\hat\mu_{t,i})},

  with :math:`V(\mu) = \mu^2` (Gamma) or 1 (Gaussian: the residual variance :math:`\mathrm{RSS}/(n - p)`),
  :math:`n_i` the bins in the likelihood and :math:`p_i` the free weights. Without a prior the weights do not
  depend on :math:`\phi`; with one, fit and estimate alternate until :math:`\phi` settles (a fixed point:
  the weights maximise the posterior at :math:`\hat\phi`, and :math:`\hat\phi` is Pearson's estimate at them).

For the negative binomial the weights are then refitted by :func:`~probsnn.fit_map` at the estimated
dispersion (warm-started); for Gamma and Gaussian the fit at dispersion 1 is moved to the estimate exactly
(covariance times :math:`\hat\phi`). Either way the result's ``fit`` carries the Laplace covariance at the
estimated dispersion: for Gamma and Gaussian the statsmodels standard errors (scaled by the dispersion).
"""
from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_int, positive_float
from ..data import SpikeData
from ..diagnostics import ConvergenceWarning
from ..models.priors import GaussianPrior
from ..neurons.glm import GLMNetwork, GLMParams, weighted
from ..neurons.observation import (
    GammaObservation,
    GaussianObservation,
    NegativeBinomialObservation,
    negative_binomial_log_prob,
)
from .laplace import _MatrixPrior
from .map import MAPResult, _check_prior, _initial_weights, fit_map

__all__ = ["fit_dispersion", "DispersionResult", "pearson_dispersion"]

#: Below this maximum-likelihood alpha the counts show no overdispersion: the negative binomial is Poisson.
POISSON_LIMIT = 1e-8
#: The joint Newton fit has converged when its decrement g^T H^-1 g / 2 is below this many nats.
NEWTON_DECREMENT_TOL = 1e-7


@dataclass
class DispersionResult:
    """Result of :func:`fit_dispersion`.

    Attributes
    ----------
    net : GLMNetwork
        A copy of the network whose observation model holds the estimated dispersions (one per neuron).
    fit : MAPResult
        :func:`~probsnn.fit_map` of ``net`` at the estimated dispersion: weights, log-likelihood, and the Laplace
        covariance *given* the dispersion.
    dispersion : ndarray (N,)
        :math:`\\hat\\alpha` (negative binomial), :math:`\\hat\\phi` (Gamma) or :math:`\\hat\\sigma^2` (Gaussian).
    dispersion_standard_error : ndarray (N,)
        From the joint Hessian (negative binomial); NaN for the moment estimates.
    standard_errors : GLMParams
        Of the weights, allowing for the estimated dispersion: from the joint inverse Hessian of
        :math:`(w, \\alpha)` (negative binomial; statsmodels ``NegativeBinomial``'s ``bse``), else
        ``fit.standard_errors`` (statsmodels ``GLM``'s ``bse``, which condition on the scale too).
    method : str
        ``"maximum likelihood"`` or ``"pearson"``.
    n_iterations : ndarray of int (N,)
        Joint Newton iterations (negative binomial) or fit/estimate rounds (Pearson) per neuron.
    """

    net: GLMNetwork
    fit: MAPResult
    dispersion: np.ndarray
    dispersion_standard_error: np.ndarray
    standard_errors: GLMParams
    method: str
    n_iterations: np.ndarray

    @property
    def params(self) -> GLMParams:
        return self.fit.params


def _with_observation(net: GLMNetwork, observation) -> GLMNetwork:
    """A shallow copy of ``net`` with another observation model (cached compiled functions dropped)."""
    out = copy.copy(net)
    for name in [k for k in vars(out) if isinstance(getattr(type(out), k, None), cached_property)]:
        del out.__dict__[name]
    out.observation = observation
    return out


@jax.jit
def _negative_binomial_objective(theta, design, counts, weight, precision, pinned, n_bins):
    """Negative log-likelihood of one neuron in ``theta = (w, log alpha)`` plus the penalty ``w P w / 2``, per bin
    of the likelihood (``n_bins``: a scale at which SciPy's tolerances are relative); ``pinned`` (1 on masked
    features) holds absent weights at 0."""
    w, log_alpha = theta[:-1], theta[-1]
    terms = negative_binomial_log_prob(counts, design @ w, jnp.exp(log_alpha))
    total = -jnp.sum(weighted(terms, weight)) + 0.5 * w @ precision @ w + 0.5 * jnp.sum(pinned * w**2)
    return total / n_bins


_objective_gradient = jax.jit(jax.grad(_negative_binomial_objective))
_objective_hessian = jax.jit(jax.hessian(_negative_binomial_objective))


def _starting_dispersion(data: SpikeData, weight) -> np.ndarray:
    """Moment estimate of alpha of a homogeneous NB, ``(var - mean) / mean^2``, where it is positive; 0.1 (a
    mild overdispersion, only a starting point) elsewhere."""
    counts = data.counts.astype(np.float64)
    w = np.ones_like(counts) if weight is None else weight
    n = w.sum(axis=0)
    mean = (w * counts).sum(axis=0) / n
    var = (w * (counts - mean) ** 2).sum(axis=0) / n
    alpha = (var - mean) / mean**2
    return np.where(alpha > 1e-3, alpha, 0.1)


def _negative_binomial(net, data, prior, design, tol, max_iter, progress):
    from scipy.optimize import minimize

    weight_np = net.likelihood_weight(data)
    start = _starting_dispersion(data, weight_np)
    design = jnp.asarray(net.design_matrix(data) if design is None else design, jnp.float64)
    counts = jnp.asarray(data.counts, jnp.float64)
    precision = _check_prior(prior, net)
    mask = np.asarray(net.feature_mask)
    weights0 = _initial_weights(net, data, precision, weight_np)  # the homogeneous model: bias log(mean)
    n, f = weights0.shape
    alpha, alpha_se = np.empty(n), np.empty(n)
    weights, joint_se = np.empty((n, f)), np.zeros((n, f))
    n_iterations = np.zeros(n, int)
    for i in range(n):
        args = (design, counts[:, i], None if weight_np is None else jnp.asarray(weight_np[:, i]),
                jnp.asarray(precision[i] if precision.ndim == 3 else precision),
                jnp.asarray(~mask[i], jnp.float64),
                float(data.n_bins if weight_np is None else weight_np[:, i].sum()))
        theta0 = np.append(weights0[i], np.log(start[i]))
        result = minimize(lambda t: float(_negative_binomial_objective(jnp.asarray(t), *args)), theta0,
                          jac=lambda t: np.asarray(_objective_gradient(jnp.asarray(t), *args)),
                          hess=lambda t: np.asarray(_objective_hessian(jnp.asarray(t), *args)),
                          method="trust-exact", options=dict(gtol=tol, maxiter=max_iter))
        n_iterations[i] = result.nit
        weights[i], alpha[i] = result.x[:-1] * mask[i], np.exp(result.x[-1])
        gradient = np.asarray(_objective_gradient(jnp.asarray(result.x), *args)) * args[-1]
        hessian = np.asarray(_objective_hessian(jnp.asarray(result.x), *args)) * args[-1]
        free = np.append(np.flatnonzero(mask[i]), f)
        try:
            covariance = np.linalg.inv(hessian[np.ix_(free, free)])
        except np.linalg.LinAlgError:  # flat in log(alpha) at the Poisson limit: no standard errors
            covariance = np.full((free.size, free.size), np.nan)
        # converged: SciPy's gradient test, or (where its trust region stalls on rounding at the optimum) the
        # Newton decrement g^T H^-1 g / 2 below fit_map's float64 tolerance, in nats
        decrement = 0.5 * gradient[free] @ covariance @ gradient[free]
        if not (result.success or decrement <= NEWTON_DECREMENT_TOL or alpha[i] < POISSON_LIMIT):
            warnings.warn(f"fit_dispersion: the joint Newton fit of neuron {net.neuron_names[i]!r} did not "
                          f"converge ({result.message}; Newton decrement {decrement:.3g} nats); its dispersion is "
                          "unreliable." + (f" alpha = {alpha[i]:.3g} is heading to 0: the counts are not "
                                           "overdispersed, fit them with observation='poisson'."
                                           if alpha[i] < 1e-3 else ""), ConvergenceWarning, stacklevel=3)
        se = np.sqrt(np.where(np.diag(covariance) >= 0, np.diag(covariance), np.nan))
        joint_se[i, free[:-1]] = se[:-1]
        alpha_se[i] = alpha[i] * se[-1]  # delta method: d alpha = alpha d log(alpha)
    if np.any(alpha < POISSON_LIMIT):
        bad = [net.neuron_names[i] for i in np.flatnonzero(alpha < POISSON_LIMIT)]
        warnings.warn(f"fit_dispersion: neuron(s) {bad} show no overdispersion (maximum-likelihood alpha below "
                      f"{POISSON_LIMIT:g}, at the Poisson limit; no standard error for it); fit them with "
                      "observation='poisson'.", ConvergenceWarning, stacklevel=3)
    # an alpha that underflowed to 0 is kept as the smallest positive float in the law (the warning says why)
    fitted = _with_observation(net, NegativeBinomialObservation(tuple(np.maximum(alpha, np.finfo(float).tiny))))
    fit = fit_map(fitted, data, prior=prior, init=net.unflatten(jnp.asarray(weights)), design=design,
                  progress=progress)
    return DispersionResult(fitted, fit, alpha, alpha_se, net.unflatten(jnp.asarray(joint_se)),
                            "maximum likelihood", n_iterations)


def pearson_dispersion(net: GLMNetwork, data: SpikeData, params: GLMParams, design=None) -> np.ndarray:
    r"""Pearson's :math:`\chi^2/(n_i - p_i)` per neuron for a Gamma or Gaussian network at ``params`` (see the
    module docstring)."""
    law = net.observation
    mean = np.asarray(law.mean(net.potential(params, data, design)), np.float64)
    weight = net.likelihood_weight(data)
    weight = np.ones_like(mean) if weight is None else weight
    chi2 = (weight * (data.counts - mean) ** 2 / np.asarray(law.unit_variance(mean))).sum(axis=0)
    dof = weight.sum(axis=0) - np.asarray(net.feature_mask).sum(axis=1)
    if np.any(dof <= 0):
        i = int(np.argmax(dof <= 0))
        raise ValueError(f"neuron {net.neuron_names[i]!r} has {int(weight[:, i].sum())} bins in the likelihood "
                         f"for {int(net.feature_mask[i].sum())} weights: no degrees of freedom are left to "
                         "estimate the dispersion; use more data or fewer features.")
    return chi2 / dof


def _rescaled(fit: MAPResult, net: GLMNetwork, data, design, dispersion, precision) -> MAPResult:
    """A fit of the law at dispersion 1 with the prior precision ``dispersion * P`` moved to the law at
    ``dispersion`` with precision ``P``: the same weights (the objective is the same up to the factor
    ``1 / dispersion``), the covariance times ``dispersion`` and the Newton decrement divided by it, and the
    log-likelihood evaluated under the new law."""
    loglik = np.asarray(net.log_likelihood(fit.params, data, per="neuron", design=design), np.float64)
    flat = np.asarray(net.flatten(fit.params), np.float64)
    penalty = 0.5 * np.einsum("nf,nfg,ng->n", flat, np.broadcast_to(precision, fit.covariance.shape), flat)
    root = np.sqrt(dispersion)
    return dataclasses.replace(
        fit, log_likelihood=float(loglik.sum()), log_likelihood_per_neuron=loglik,
        log_posterior_per_neuron=loglik - penalty, newton_decrement=np.asarray(fit.newton_decrement) / dispersion,
        covariance=fit.covariance * dispersion[:, None, None],
        standard_errors=GLMParams(*(jnp.asarray(se) * jnp.asarray(root).reshape((-1,) + (1,) * (se.ndim - 1))
                                    for se in fit.standard_errors)),
    )


def _pearson(net, data, prior, design, tol, max_iter, progress):
    """Pearson's estimate, alternating with the weights when there is a prior. At dispersion ``phi`` the
    objective is ``(l_1(w) - phi w^T P w / 2) / phi`` with ``l_1`` the log-likelihood at dispersion 1, so every
    round fits the law at dispersion 1 with the prior ``phi P``: one compiled fit serves all rounds."""
    design = net.design_matrix(data) if design is None else design
    n, f = net.n_neurons, net.n_features
    precision = np.broadcast_to(_check_prior(prior, net), (n, f, f))
    unit = _with_observation(net, net.observation.with_dispersion(1.0))
    dispersion = np.broadcast_to(np.asarray(net.observation.dispersion, np.float64), (n,)).copy()
    fit, n_rounds = None, 0
    for n_rounds in range(1, max_iter + 1):
        scaled = None if prior is None else _MatrixPrior(matrix=dispersion[:, None, None] * precision)
        fit = fit_map(unit, data, prior=scaled, design=design, progress=progress,
                      init=None if fit is None else fit.params)
        new = pearson_dispersion(unit, data, fit.params, design)
        settled = prior is None or np.all(np.abs(new - dispersion) <= tol * new)
        dispersion = new
        if settled:  # without a prior the weights do not depend on the dispersion: one round
            break
    else:
        warnings.warn(f"fit_dispersion: the dispersion did not settle in {max_iter} rounds of fit and estimate "
                      "(relative change above tol); the last estimate is returned.", ConvergenceWarning,
                      stacklevel=3)
    current = _with_observation(net, net.observation.with_dispersion(tuple(dispersion)))
    fit = _rescaled(fit, current, data, design, dispersion, precision)
    return DispersionResult(current, fit, dispersion, np.full(n, np.nan), fit.standard_errors, "pearson",
                            np.full(n, n_rounds))


def fit_dispersion(net: GLMNetwork, data: SpikeData, prior: GaussianPrior | list | None = None, *,
                   design=None, tol: float = 1e-10, max_iter: int = 100,
                   progress: bool | None = None) -> DispersionResult:
    r"""Estimate each neuron's dispersion with its weights, for a negative binomial, Gamma or Gaussian network.

    Negative binomial :math:`\alpha` by joint maximum likelihood, Gamma :math:`\phi` and Gaussian
    :math:`\sigma^2` by Pearson's :math:`\chi^2/(n - p)` (see :mod:`probsnn.inference.dispersion`); then
    :func:`~probsnn.fit_map` at the estimate. Runs in float64 (inside ``jax.enable_x64``).

    Parameters
    ----------
    net : GLMNetwork
        Its observation is a :class:`~probsnn.NegativeBinomialObservation`, :class:`~probsnn.GammaObservation`
        or :class:`~probsnn.GaussianObservation`; the dispersion it holds is ignored (negative binomial) or
        only the first guess (Gamma and Gaussian with a prior).
    data : SpikeData or ContinuousData
    prior : GaussianPrior or list of GaussianPrior, optional
        As for :func:`~probsnn.fit_map` (its penalty is part of the joint objective).
    design : array, optional
        A precomputed ``net.design_matrix(data)``.
    tol : float
        Negative binomial: the gradient norm at which the joint Newton method stops; Pearson with a prior: the
        relative change of the dispersion at which the alternation stops.
    max_iter : int
        Joint Newton iterations per neuron, or fit/estimate rounds.
    progress : bool, optional
        Progress bars of :func:`~probsnn.fit_map`.

    Returns
    -------
    DispersionResult

    Raises
    ------
    TypeError
        When the network's observation has no dispersion (Poisson, Bernoulli).
    """
    laws = (NegativeBinomialObservation, GammaObservation, GaussianObservation)
    if not isinstance(net, GLMNetwork):
        raise TypeError(f"net must be a probsnn.GLMNetwork, got {type(net).__name__}.")
    if not isinstance(net.observation, laws):
        raise TypeError(f"fit_dispersion estimates the dispersion of a negative binomial, Gamma or Gaussian "
                        f"network, but net's observation is {net.observation.name!r}, which has none; build the "
                        "network with observation='negative_binomial', 'gamma' or 'gaussian'.")
    net.check_data(data, design=design)
    tol = positive_float("tol", tol)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    solve = _negative_binomial if isinstance(net.observation, NegativeBinomialObservation) else _pearson
    with jax.enable_x64(True):
        if design is not None:
            design = jnp.asarray(np.asarray(design), jnp.float64)
        return solve(net, data, prior, design, tol, max_iter, progress)
