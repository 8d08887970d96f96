r"""The Laplace approximation of a GLM network's posterior, as ``arviz.InferenceData``.

Around the posterior mode :math:`\hat w_i` of each neuron's flat weights (neurons are conditionally
independent given the observed spikes),

.. math::
    w_i \mid s \approx \mathcal N\!\bigl(\hat w_i,\; H_i^{-1}\bigr), \qquad
    H_i = X^\top \operatorname{diag}(-\ell''_i) X + P ,

with :math:`P` the prior precision (MacKay 1992; for GLMs e.g. Pillow et al. 2008, Paninski 2004). For a
model whose site priors are zero-mean Normals (plus an optional :class:`GaussianPrior` penalty) the mode
and Hessian are exact for that model: :math:`P = \operatorname{diag}(1/\sigma^2) + P_{\rm penalty}`.
Masked (absent) connections keep their prior. A :class:`~probsnn.MAPResult` can also be turned into draws
directly (its ``covariance`` is :math:`H^{-1}`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .._checks import check_int, positive_int
from ..models.priors import GaussianPrior, GLMPriors

__all__ = ["laplace_posterior", "gaussian_precision", "resolve_priors"]

VAGUE_SCALE = 100.0


@dataclass(frozen=True)
class _MatrixPrior(GaussianPrior):
    """A Gaussian prior given by its full per-neuron precision matrix (internal: feeds fit_map)."""

    matrix: object = field(default=None, compare=False)

    def precision_matrix(self, net) -> np.ndarray:
        return np.asarray(self.matrix)


def resolve_priors(priors) -> GLMPriors:
    """``GLMPriors`` from ``None`` (defaults), a ``GLMPriors`` or a ``GaussianPrior``.

    A :class:`GaussianPrior` (the penalty used by :func:`fit_map`) becomes a model with vague proper
    ``Normal(0, 100)`` site priors plus the penalty as a factor, so the posterior is proper even where the
    penalty is flat (e.g. the bias, masked connections).
    """
    import numpyro.distributions as dist

    if priors is None:
        return GLMPriors().resolved()
    if isinstance(priors, GaussianPrior):
        vague = dist.Normal(0.0, VAGUE_SCALE)
        return GLMPriors(vague, vague, vague, priors).resolved()
    if isinstance(priors, GLMPriors):
        return priors.resolved()
    raise TypeError("priors must be None, a probsnn.GLMPriors or a probsnn.GaussianPrior, "
                    f"got {type(priors).__name__}.")


def _normal_scale(prior):
    """The scale of a zero-mean scalar Normal prior, else None."""
    import numpyro.distributions as dist

    if type(prior) is dist.Normal and np.ndim(prior.loc) == 0 and float(prior.loc) == 0.0:
        return float(prior.scale)
    return None


def gaussian_precision(net, priors: GLMPriors):
    """Per-neuron prior precision ``[F, F]`` and prior variances of every flat entry ``[F]``, or ``None``.

    ``None`` when a site prior is not a zero-mean Normal (then the model is not Gaussian a priori).
    """
    priors = resolve_priors(priors)
    scales = [_normal_scale(p) for p in priors[:3]]
    if any(s is None for s in scales):
        return None
    s_stim, s_coup, s_bias = scales
    n_stim = net.n_stimulus_dims * net.n_stimulus_basis
    n_hist = net.n_neurons * net.n_history_basis
    variances = np.concatenate([np.full(n_stim, s_stim**2), np.full(n_hist, s_coup**2), [s_bias**2]])
    precision = np.diag(1.0 / variances)
    if priors.penalty is not None:
        precision = precision + priors.penalty.precision_matrix(net)
    return precision, variances


def mode_and_covariance(net, data, priors, design=None, progress=False):
    """Exact posterior mode and Laplace covariance ``[N, F, F]`` (masked entries: prior variance)."""
    from .map import fit_map

    exact = gaussian_precision(net, priors)
    if exact is None:
        raise ValueError(
            "the Laplace approximation needs zero-mean Normal site priors (optionally with a GaussianPrior "
            "penalty); for sparsity or hierarchical priors use fit_nuts or fit_svi."
        )
    precision, variances = exact
    fit = fit_map(net, data, prior=_MatrixPrior(matrix=precision), design=design, progress=progress)
    cov = np.array(fit.covariance)
    mask = np.asarray(net.feature_mask)
    for i in range(net.n_neurons):
        off = np.flatnonzero(~mask[i])
        cov[i, off, off] = variances[off]
    return fit, cov


def _unflatten_batched(net, flat):
    n, ds, bs, bh = net.n_neurons, net.n_stimulus_dims, net.n_stimulus_basis, net.n_history_basis
    n_stim = ds * bs
    batch = flat.shape[:-2]
    out = {}
    if n_stim > 0:
        out["stimulus_weights"] = flat[..., :n_stim].reshape(batch + (n, ds, bs))
    if bh > 0:
        out["coupling_weights"] = flat[..., n_stim : n_stim + n * bh].reshape(batch + (n, n, bh))
    out["bias"] = flat[..., -1]
    return out


def laplace_posterior(net, data, fit=None, priors=None, *, num_samples: int = 1000, num_chains: int = 1,
                      seed: int = 0, log_likelihood="bin", posterior_predictive: bool = False, design=None,
                      progress=None):
    r"""Draws from the Laplace approximation :math:`\mathcal N(\hat w, H^{-1})`, as ``InferenceData``.

    Parameters
    ----------
    net : GLMNetwork
    data : SpikeData
    fit : MAPResult, optional
        Use this MAP fit's mode and covariance (entries it did not estimate, i.e. masked connections, are
        set to zero). Without it, the mode and Hessian of the NumPyro model with ``priors`` are computed,
        which needs zero-mean Normal site priors.
    priors : GLMPriors or GaussianPrior, optional
    num_samples : int
        Draws per chain.
    num_chains : int
        Independent draws are split into this many "chains" (``(num_chains, num_samples)``), so that
        ArviZ's split R-hat and ESS (:func:`probsnn.diagnostics.check_convergence`) can be reported beside
        NUTS; for exact independent draws R-hat is about 1 and the ESS about the number of draws.
    seed : int
    log_likelihood, posterior_predictive : see :func:`probsnn.inference.idata.to_inference_data`

    Returns
    -------
    arviz.InferenceData
        ``num_chains`` chains of independent draws; ``attrs["method"] == "laplace"``.
    """
    from .idata import _check_block, to_inference_data
    from .map import MAPResult

    net.check_data(data, design=design)
    num_samples = check_int("num_samples", num_samples, minimum=2)
    num_chains = positive_int("num_chains", num_chains)
    seed = check_int("seed", seed, minimum=0)
    _check_block(log_likelihood, data.n_bins)  # before the (possibly long) fit, not after it
    if fit is not None and not isinstance(fit, MAPResult):
        raise TypeError(f"fit must be a probsnn.MAPResult, got {type(fit).__name__}.")
    start = time.perf_counter()
    priors_r = resolve_priors(priors)
    design = net.design_matrix(data) if design is None else design
    if fit is None:
        fit, cov = mode_and_covariance(net, data, priors_r, design=design, progress=progress)
    else:
        if not isinstance(fit, MAPResult):
            raise TypeError(f"fit must be a probsnn.MAPResult, got {type(fit).__name__}.")
        cov = np.asarray(fit.covariance)
        if cov.shape != (net.n_neurons, net.n_features, net.n_features):
            raise ValueError(f"fit.covariance has shape {cov.shape}; this fit belongs to another network.")
        if not np.all(np.isfinite(cov)):
            raise ValueError("fit.covariance is not finite (singular Hessian); add a prior to the MAP fit.")
    mode = np.asarray(net.flatten(fit.params))
    rng = np.random.default_rng(seed)
    flat = np.empty((num_chains, num_samples) + mode.shape)
    for i in range(net.n_neurons):
        c = cov[i]
        eigval, eigvec = np.linalg.eigh(0.5 * (c + c.T))
        root = eigvec * np.sqrt(np.maximum(eigval, 0.0))
        flat[:, :, i, :] = mode[i] + rng.standard_normal((num_chains, num_samples, mode.shape[1])) @ root.T
    draws = _unflatten_batched(net, flat)
    return to_inference_data(net, data, draws, design=design, priors=priors_r, log_likelihood=log_likelihood,
                             posterior_predictive=posterior_predictive, seed=seed,
                             attrs=dict(method="laplace", runtime_s=time.perf_counter() - start))
