r"""Structured priors over filter weights: sparsity (horseshoe, Laplace) and hierarchies across neurons.

Each is used in place of a scalar distribution in :class:`probsnn.GLMPriors` (``stimulus=`` or
``coupling=``); the NumPyro model calls ``prior.sample(name, shape)`` and records the weights under the
usual site name (a sample site, or a deterministic site for non-centred parametrisations).

* :class:`LaplacePrior`: i.i.d. :math:`w \sim \mathrm{Laplace}(0, b)` (the Bayesian lasso, Park & Casella
  2008); its MAP is the L1-penalised fit.
* :class:`HorseshoePrior`: a group horseshoe over kernels (Carvalho, Polson & Scott 2010; grouped as in
  Xu et al. 2016). For a weight array of shape ``(N, M, B)`` (``M`` presynaptic neurons or stimulus
  dimensions, ``B`` basis functions), every kernel ``(i, j)`` has one local scale:

  .. math::
      \tau \sim \mathrm{HalfCauchy}(\tau_0), \quad \lambda_{ij} \sim \mathrm{HalfCauchy}(1), \quad
      z_{ijb} \sim \mathcal N(0, 1), \quad w_{ijb} = \tau \lambda_{ij} z_{ijb}

  (non-centred), so whole coupling kernels shrink to zero while strong ones escape shrinkage. Set
  ``exclude_diagonal=True`` to give the self-history kernels a plain ``Normal(0, diagonal_scale)`` prior.
* :class:`HierarchicalNormalPrior`: the same basis weight shares a population distribution across
  neurons, :math:`\mu_{mb} \sim \mathcal N(0, s_\mu)`, :math:`\sigma_b \sim \mathrm{HalfNormal}(s_\sigma)`,
  :math:`w_{imb} = \mu_{mb} + \sigma_b z_{imb}` (non-centred; partial pooling of filters across neurons,
  Gelman et al. BDA3 ch. 5).

All validate their hyper-parameters (positive, finite) on construction and raise ``ValueError`` otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import positive_float

__all__ = ["StructuredPrior", "LaplacePrior", "HorseshoePrior", "HierarchicalNormalPrior"]


class StructuredPrior:
    """Base class: a prior over a whole weight array, sampled by ``sample(name, shape)``."""

    def sample(self, name: str, shape: tuple):  # pragma: no cover - interface
        raise NotImplementedError

    def init_values(self, name: str, weights) -> dict:
        """Values of this prior's sample sites that reproduce ``weights`` (used to start NUTS at a MAP fit)."""
        return {}


@dataclass(frozen=True)
class LaplacePrior(StructuredPrior):
    """i.i.d. ``Laplace(0, scale)`` weights (Bayesian lasso)."""

    scale: float = 1.0

    def __post_init__(self):
        positive_float("LaplacePrior.scale", self.scale)

    def sample(self, name, shape):
        import numpyro
        import numpyro.distributions as dist

        return numpyro.sample(name, dist.Laplace(0.0, self.scale).expand(shape).to_event(len(shape)))

    def init_values(self, name, weights):
        return {name: np.asarray(weights)}


@dataclass(frozen=True)
class HorseshoePrior(StructuredPrior):
    """Group horseshoe over kernels ``(i, j)`` of a ``(N, M, B)`` weight array (non-centred).

    Parameters
    ----------
    global_scale : float
        Scale :math:`\\tau_0` of the half-Cauchy prior on the global shrinkage :math:`\\tau`
        (Piironen & Vehtari 2017 suggest ``p0 / (P - p0) / sqrt(T)``-ish values; 0.1-1 is typical here).
    exclude_diagonal : bool
        Self-history kernels (``i == j``) get ``Normal(0, diagonal_scale)`` instead of shrinkage.
    diagonal_scale : float
    """

    global_scale: float = 1.0
    exclude_diagonal: bool = True
    diagonal_scale: float = 1.0

    def __post_init__(self):
        positive_float("HorseshoePrior.global_scale", self.global_scale)
        positive_float("HorseshoePrior.diagonal_scale", self.diagonal_scale)

    def sample(self, name, shape):
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist

        if len(shape) != 3:
            raise ValueError(f"HorseshoePrior needs a weight array of shape (N, M, B), got shape {shape}.")
        n, m, _ = shape
        tau = numpyro.sample(f"{name}_global_scale", dist.HalfCauchy(self.global_scale))
        lam = numpyro.sample(f"{name}_local_scale", dist.HalfCauchy(1.0).expand((n, m)).to_event(2))
        raw = numpyro.sample(f"{name}_raw", dist.Normal(0.0, 1.0).expand(shape).to_event(3))
        scale = tau * lam  # a traced array under jit (NUTS, SVI): no NumPy conversion here
        if self.exclude_diagonal and n == m:
            scale = jnp.where(jnp.eye(n, dtype=bool), self.diagonal_scale, scale)
        return numpyro.deterministic(name, raw * scale[:, :, None])

    def init_values(self, name, weights):
        weights = np.asarray(weights)
        n, m, _ = weights.shape
        tau = self.global_scale
        lam = np.maximum(np.sqrt(np.mean(weights**2, axis=2)) / tau, 1e-3)
        scale = np.array(tau * lam)
        if self.exclude_diagonal and n == m:
            scale[np.arange(n), np.arange(n)] = self.diagonal_scale
        return {f"{name}_global_scale": np.asarray(tau), f"{name}_local_scale": lam,
                f"{name}_raw": weights / scale[:, :, None]}


@dataclass(frozen=True)
class HierarchicalNormalPrior(StructuredPrior):
    """Partial pooling across neurons: ``w[i, m, b] = mu[m, b] + sigma[b] * z[i, m, b]`` (non-centred).

    Parameters
    ----------
    mean_scale : float
        Scale of the Normal prior on the population mean filter weights ``mu``.
    spread_scale : float
        Scale of the half-Normal prior on the between-neuron spread ``sigma`` of each basis weight.
    """

    mean_scale: float = 1.0
    spread_scale: float = 1.0

    def __post_init__(self):
        positive_float("HierarchicalNormalPrior.mean_scale", self.mean_scale)
        positive_float("HierarchicalNormalPrior.spread_scale", self.spread_scale)

    def sample(self, name, shape):
        import numpyro
        import numpyro.distributions as dist

        if len(shape) != 3:
            raise ValueError(f"HierarchicalNormalPrior needs a weight array of shape (N, M, B), got {shape}.")
        _, m, b = shape
        mu = numpyro.sample(f"{name}_population_mean", dist.Normal(0.0, self.mean_scale).expand((m, b)).to_event(2))
        sigma = numpyro.sample(f"{name}_population_spread", dist.HalfNormal(self.spread_scale).expand((b,)).to_event(1))
        raw = numpyro.sample(f"{name}_raw", dist.Normal(0.0, 1.0).expand(shape).to_event(3))
        return numpyro.deterministic(name, mu + sigma * raw)

    def init_values(self, name, weights):
        weights = np.asarray(weights)
        mu = weights.mean(axis=0)
        sigma = np.maximum(weights.std(axis=(0, 1)), 1e-2)
        return {f"{name}_population_mean": mu, f"{name}_population_spread": sigma,
                f"{name}_raw": (weights - mu) / sigma}
