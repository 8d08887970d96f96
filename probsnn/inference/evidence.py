r"""Regularisation chosen by evidence: empirical Bayes for the ridge and smoothing strengths of a GLM.

A Gaussian prior with precision :math:`A_i = \sum_k \alpha_{ik} A_k` on neuron :math:`i`'s weights (the ridge
:math:`A_{\text{ridge}} = I` and the smoothing :math:`A_{\text{smooth}} = M^\top D^\top D M` of
:class:`probsnn.models.GaussianPrior`, the bias flat unless given a fixed precision) has a marginal likelihood
(evidence) that the Laplace approximation around the MAP point :math:`\hat w_i` gives in closed form
(MacKay 1992, "Bayesian interpolation"; for GLMs of spike trains, Park & Pillow 2011):

.. math::
    \log p(s_i \mid \alpha_i) \approx \log p(s_i \mid \hat w_i) - \tfrac12 \hat w_i^\top A_i \hat w_i
        + \tfrac12 \log\det{}^{+} A_i - \tfrac12 \log\det H_i + \tfrac{u}{2} \log 2\pi ,

with :math:`H_i = X^\top \operatorname{diag}(-\ell''_i) X + A_i` the negative Hessian of the log posterior,
:math:`\log\det^+` the log pseudo-determinant over the penalised subspace and :math:`u` the number of free,
unpenalised weights (the flat-prior directions; the term does not depend on :math:`\alpha`). Setting its
derivative in :math:`\alpha_{ik}` to zero, with the dependence of :math:`H_i` on :math:`\hat w_i` neglected, gives
MacKay's fixed point

.. math::
    \alpha_{ik} \leftarrow \frac{\gamma_{ik}}{\hat w_i^\top A_k \hat w_i}, \qquad
    \gamma_{ik} = \alpha_{ik} \operatorname{tr}(A_i^{+} A_k) - \alpha_{ik} \operatorname{tr}(H_i^{-1} A_k) ,

(for the ridge alone :math:`\gamma_i = p - \alpha_i \operatorname{tr} H_i^{-1}`, the number of well-determined
weights). Each update refits the MAP point (Newton, warm-started), so choosing the strengths costs a handful of
fits instead of the ``K x grid`` fits of cross-validation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_float, positive_float, positive_int
from ..data import SpikeData
from ..models.priors import GaussianPrior
from ..neurons.glm import GLMNetwork
from .map import MAPResult, fit_map

__all__ = ["EvidenceResult", "laplace_log_evidence", "fit_evidence", "evidence_curve"]

_STRENGTHS = ("ridge", "smoothing")


@dataclass
class EvidenceResult:
    """Result of :func:`fit_evidence`.

    Attributes
    ----------
    fit : MAPResult
        The MAP fit at the chosen strengths.
    ridge, smoothing : ndarray (N,)
        The chosen precisions per neuron (a strength that was not optimised keeps its given value).
    priors : list of GaussianPrior
        One prior per neuron at the chosen strengths: ``fit_map(net, data, prior=result.priors)`` reproduces
        ``fit``.
    log_evidence : ndarray (N,)
        Laplace log evidence per neuron at the chosen strengths (nats).
    well_determined : ndarray (N,)
        :math:`\\gamma_i` summed over the optimised strengths: the effective number of weights the data determine.
    n_iterations : int
        Fixed-point iterations run.
    converged : ndarray of bool (N,)
        The relative change of every optimised strength fell below ``tol``.
    history : list of dict
        Per iteration: ``ridge``, ``smoothing`` and ``log_evidence`` arrays.
    """

    fit: MAPResult
    ridge: np.ndarray
    smoothing: np.ndarray
    priors: list
    log_evidence: np.ndarray
    well_determined: np.ndarray
    n_iterations: int
    converged: np.ndarray
    history: list


def _components(net: GLMNetwork, prior: GaussianPrior) -> dict:
    """Unit-strength precision matrices ``[F, F]`` of each strength (and the fixed bias part)."""
    unit = dict(stimulus_only=prior.stimulus_only)
    return {
        "ridge": GaussianPrior(ridge=1.0, **unit).precision_matrix(net),
        "smoothing": GaussianPrior(smoothing=1.0, **unit).precision_matrix(net),
        "bias": GaussianPrior(bias=prior.bias).precision_matrix(net),
    }


def _neuron_priors(base: GaussianPrior, ridge, smoothing) -> list:
    return [GaussianPrior(ridge=float(r), smoothing=float(s), bias=base.bias, stimulus_only=base.stimulus_only)
            for r, s in zip(ridge, smoothing)]


def _log_pseudo_det_and_pinv(matrix: np.ndarray):
    """``log det+`` and the pseudo-inverse of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh(matrix)
    keep = values > 1e-10 * max(values.max(initial=0.0), 1e-300)
    inverse = (vectors[:, keep] / values[keep]) @ vectors[:, keep].T
    return float(np.sum(np.log(values[keep]))), inverse, int(keep.sum())


def _evidence_terms(net: GLMNetwork, fit: MAPResult, components: dict, ridge, smoothing):
    """Per neuron: the Laplace log evidence and, per strength, ``(alpha tr(A+ A_k) - alpha tr(H^-1 A_k),
    w^T A_k w)``."""
    weights = np.asarray(net.flatten(fit.params), dtype=np.float64)
    mask = np.asarray(net.feature_mask, bool)
    log_evidence = np.zeros(net.n_neurons)
    terms = {name: np.zeros((net.n_neurons, 2)) for name in _STRENGTHS}
    for i in range(net.n_neurons):
        free = np.flatnonzero(mask[i])
        w = weights[i, free]
        parts = {name: components[name][np.ix_(free, free)] for name in ("ridge", "smoothing", "bias")}
        strengths = {"ridge": ridge[i], "smoothing": smoothing[i]}
        precision = parts["bias"] + sum(strengths[k] * parts[k] for k in _STRENGTHS)
        covariance = fit.covariance[i][np.ix_(free, free)]
        sign, log_det_covariance = np.linalg.slogdet(covariance)
        if sign <= 0 or not np.isfinite(log_det_covariance):
            log_evidence[i] = np.nan
            continue
        log_det_prior, prior_inverse, rank = _log_pseudo_det_and_pinv(precision)
        log_evidence[i] = (fit.log_likelihood_per_neuron[i] - 0.5 * w @ precision @ w + 0.5 * log_det_prior
                           + 0.5 * log_det_covariance + 0.5 * (free.size - rank) * np.log(2 * np.pi))
        for name in _STRENGTHS:
            alpha = strengths[name]
            gamma = alpha * (np.sum(prior_inverse * parts[name]) - np.sum(covariance * parts[name]))
            terms[name][i] = gamma, w @ parts[name] @ w
    return log_evidence, terms


def laplace_log_evidence(net: GLMNetwork, data: SpikeData, prior, fit: MAPResult | None = None,
                         design=None) -> np.ndarray:
    r"""Laplace approximation to each neuron's log marginal likelihood :math:`\log p(s_i \mid \alpha_i)` (nats).

    Parameters
    ----------
    net : GLMNetwork
    data : SpikeData
    prior : GaussianPrior or sequence of GaussianPrior
        The prior (one for all neurons, or one per neuron); it must be proper on the penalised weights (a
        positive ridge, or a smoothing prior); weights it leaves unpenalised (the bias, unless given a precision)
        get a flat prior, which adds a constant that does not depend on the strengths.
    fit : MAPResult, optional
        ``fit_map(net, data, prior=prior)``, if already computed.
    design : array, optional
        A precomputed ``net.design_matrix(data)``.

    Returns
    -------
    ndarray (N,)
        See the module docstring for the formula. NaN for a neuron whose Hessian is not positive definite.
    """
    priors = _as_neuron_priors(prior, net)
    if fit is None:
        fit = fit_map(net, data, prior=priors, design=design, progress=False)
    base = priors[0]
    ridge = np.array([p.ridge for p in priors])
    smoothing = np.array([p.smoothing for p in priors])
    return _evidence_terms(net, fit, _components(net, base), ridge, smoothing)[0]


def _as_neuron_priors(prior, net: GLMNetwork) -> list:
    if isinstance(prior, GaussianPrior):
        return [prior] * net.n_neurons
    priors = list(prior) if isinstance(prior, (list, tuple)) else None
    if priors is None or len(priors) != net.n_neurons or not all(isinstance(p, GaussianPrior) for p in priors):
        raise TypeError(f"prior must be a GaussianPrior or a list of {net.n_neurons} GaussianPriors (one per "
                        f"neuron), got {type(prior).__name__}.")
    first = priors[0]
    if any(p.stimulus_only != first.stimulus_only or p.bias != first.bias for p in priors):
        raise ValueError("the per-neuron priors must share stimulus_only and the bias precision.")
    return priors


def fit_evidence(net: GLMNetwork, data: SpikeData, prior: GaussianPrior | None = None,
                 optimise=("ridge",), max_iter: int = 50, tol: float = 1e-4, design=None,
                 progress: bool | None = None) -> EvidenceResult:
    r"""Choose ridge (and smoothing) strengths per neuron by maximising the Laplace evidence (MacKay 1992).

    Parameters
    ----------
    net : GLMNetwork
    data : SpikeData
    prior : GaussianPrior, optional
        Starting strengths and the fixed parts (bias precision, ``stimulus_only``); default
        ``GaussianPrior(ridge=1.0)``. An optimised strength must start positive.
    optimise : sequence of {"ridge", "smoothing"}
        The strengths to choose; the others keep their values from ``prior``.
    max_iter : int
        Maximum fixed-point iterations (each refits the MAP point, warm-started).
    tol : float
        Stop when every optimised strength changes by less than this fraction.
    design : array, optional
        A precomputed ``net.design_matrix(data)`` (computed once otherwise).
    progress : bool, optional
        Show a progress bar over iterations (default: when writing to a terminal).

    Returns
    -------
    EvidenceResult

    Notes
    -----
    The update is the fixed point of the module docstring. It ignores the change of the Hessian with the mode,
    so its limit differs from the exact maximiser of the Laplace evidence by terms of order :math:`1/T`; the
    evidence is flat there (tests compare both).
    """
    prior = GaussianPrior(ridge=1.0) if prior is None else prior
    if not isinstance(prior, GaussianPrior):
        raise TypeError(f"prior must be a probsnn.models.GaussianPrior, got {type(prior).__name__}.")
    optimise = (optimise,) if isinstance(optimise, str) else tuple(optimise)
    if not optimise or any(name not in _STRENGTHS for name in optimise) or len(set(optimise)) != len(optimise):
        raise ValueError(f"optimise must name one or both of {_STRENGTHS}, got {optimise!r}.")
    for name in optimise:
        if getattr(prior, name) <= 0:
            raise ValueError(f"prior.{name} must start positive to be optimised (the fixed point keeps a zero "
                             f"strength at zero), got {getattr(prior, name)}; e.g. GaussianPrior({name}=1.0).")
    max_iter = positive_int("max_iter", max_iter)
    tol = positive_float("tol", tol)
    net.check_data(data, design=design)
    design = net.design_matrix(data) if design is None else design
    components = _components(net, prior)
    strengths = {"ridge": np.full(net.n_neurons, float(prior.ridge)),
                 "smoothing": np.full(net.n_neurons, float(prior.smoothing))}

    from tqdm.auto import tqdm

    fit = None
    history = []
    converged = np.zeros(net.n_neurons, bool)
    bar = tqdm(total=max_iter, desc="evidence", disable=(None if progress is None else not progress), leave=False)
    n_iterations = 0
    for n_iterations in range(1, max_iter + 1):
        priors = _neuron_priors(prior, strengths["ridge"], strengths["smoothing"])
        fit = fit_map(net, data, prior=priors, init=None if fit is None else fit.params, design=design,
                      progress=False)
        log_evidence, terms = _evidence_terms(net, fit, components, strengths["ridge"], strengths["smoothing"])
        history.append({"ridge": strengths["ridge"].copy(), "smoothing": strengths["smoothing"].copy(),
                        "log_evidence": log_evidence})
        change = np.zeros(net.n_neurons)
        for name in optimise:
            gamma, energy = terms[name].T
            new = np.where(energy > 0, gamma / np.maximum(energy, 1e-300), np.inf)
            if not np.all(np.isfinite(new) & (new > 0)):
                bad = int(np.argmax(~(np.isfinite(new) & (new > 0))))
                raise ValueError(
                    f"fit_evidence: the {name} strength of neuron {net.neuron_names[bad]!r} left the positive "
                    f"reals (gamma={gamma[bad]:.3g}, w'Aw={energy[bad]:.3g}): the data carry no evidence for "
                    f"any filter under this prior (all weights shrink to zero). Fix the {name} strength by hand "
                    "or simplify the model."
                )
            change = np.maximum(change, np.abs(new / strengths[name] - 1.0))
            strengths[name] = new
        bar.update(1)
        bar.set_postfix(max_change=f"{change.max():.1e}")
        converged = change < tol
        if converged.all():
            break
    bar.close()
    priors = _neuron_priors(prior, strengths["ridge"], strengths["smoothing"])
    fit = fit_map(net, data, prior=priors, init=fit.params, design=design, progress=False)
    log_evidence, terms = _evidence_terms(net, fit, components, strengths["ridge"], strengths["smoothing"])
    well_determined = sum(terms[name][:, 0] for name in optimise)
    return EvidenceResult(fit=fit, ridge=strengths["ridge"], smoothing=strengths["smoothing"], priors=priors,
                          log_evidence=log_evidence, well_determined=well_determined, n_iterations=n_iterations,
                          converged=converged, history=history)


def evidence_curve(net: GLMNetwork, data: SpikeData, ridges, prior: GaussianPrior | None = None,
                   design=None) -> dict:
    """The Laplace log evidence over a grid of ridge strengths (one warm-started fit per strength).

    Parameters
    ----------
    ridges : sequence of float
        Positive ridge precisions, e.g. ``np.logspace(-2, 3, 11)``.
    prior : GaussianPrior, optional
        The other strengths (smoothing, bias, ``stimulus_only``); its ridge is replaced by each grid value.

    Returns
    -------
    dict
        ``"ridge"`` ``[G]`` and ``"log_evidence"`` ``[G, N]``; plot it with :func:`probsnn.plots.evidence_curve`
        or choose ``ridge[argmax]`` per neuron.
    """
    prior = GaussianPrior() if prior is None else prior
    ridges = np.asarray([check_float("ridges entry", r, low=0.0) for r in np.ravel(ridges)])
    if ridges.size == 0 or np.any(ridges <= 0):
        raise ValueError(f"ridges must be a non-empty sequence of positive precisions, got {ridges!r}.")
    net.check_data(data, design=design)
    design = net.design_matrix(data) if design is None else design
    curve, fit = [], None
    for ridge in ridges:
        grid_prior = GaussianPrior(ridge=float(ridge), smoothing=prior.smoothing, bias=prior.bias,
                                   stimulus_only=prior.stimulus_only)
        fit = fit_map(net, data, prior=grid_prior, init=None if fit is None else fit.params, design=design,
                      progress=False)
        curve.append(laplace_log_evidence(net, data, grid_prior, fit=fit))
    return {"ridge": ridges, "log_evidence": np.stack(curve)}
