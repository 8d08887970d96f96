r"""Priors over GLM network parameters.

:class:`GaussianPrior` is the zero-mean Gaussian prior used by MAP fitting (as a quadratic penalty) and,
as a ``numpyro.factor``, by the NumPyro model. Per neuron its precision matrix over the flat weight vector
(stimulus weights, coupling weights, bias; see :meth:`probsnn.GLMNetwork.flatten`) is

.. math::
    P = \lambda_{\rm ridge} I_{\rm filters}
        + \lambda_{\rm smooth} \sum_{\rm filters} M^\top D^\top D M + \lambda_{\rm bias} e e^\top,

where :math:`M` is the basis matrix of each filter and :math:`D` the first-difference operator over lags,
so the smoothing term penalises :math:`\sum_\ell (\kappa(\ell+1) - \kappa(\ell))^2` of each filter
:math:`\kappa = M w` in lag space (the smoothing prior of Pillow's GLM tutorial). The log-density is
:math:`-\tfrac12 w^\top P w` up to a constant (improper along directions with zero precision, e.g. an
unpenalised bias).

:class:`GLMPriors` collects the proper priors of the NumPyro model's sample sites.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .._checks import check_float

__all__ = ["GaussianPrior", "GLMPriors"]


@dataclass(frozen=True)
class GaussianPrior:
    """Zero-mean Gaussian (ridge + smoothing) prior; strengths are precisions (>= 0).

    Parameters
    ----------
    ridge : float
        Precision of every filter weight (L2 penalty ``ridge / 2 * |w|^2``); the bias is not included.
    smoothing : float
        Precision of the first differences of each filter over lags (in lag space).
    bias : float
        Precision of the bias (0: flat).
    stimulus_only : bool
        Apply ridge and smoothing to the stimulus filters only (history/coupling unpenalised).
    """

    ridge: float = 0.0
    smoothing: float = 0.0
    bias: float = 0.0
    stimulus_only: bool = False

    def __post_init__(self):
        for name in ("ridge", "smoothing", "bias"):
            check_float(f"GaussianPrior.{name} (a precision)", getattr(self, name), low=0.0)

    def precision_matrix(self, net) -> np.ndarray:
        """The per-neuron precision ``[F, F]`` for network ``net`` (the same for every neuron)."""
        blocks = []
        for basis, n_filters, penalised in (
            (net.stimulus_basis, net.n_stimulus_dims, True),
            (net.history_basis, net.n_neurons if net.history_basis is not None else 0, not self.stimulus_only),
        ):
            if basis is None or n_filters == 0:
                continue
            size = basis.n_basis
            block = np.zeros((size, size))
            if penalised:
                block += self.ridge * np.eye(size)
                if self.smoothing > 0 and basis.n_lags > 1:
                    diff = np.diff(basis.matrix, axis=0)  # D M: first differences of each basis function
                    block += self.smoothing * diff.T @ diff
            blocks.extend([block] * n_filters)
        blocks.append(np.array([[self.bias]]))
        size = sum(b.shape[0] for b in blocks)
        precision = np.zeros((size, size))
        start = 0
        for block in blocks:
            k = block.shape[0]
            precision[start : start + k, start : start + k] = block
            start += k
        return precision


def _default(scale):
    import numpyro.distributions as dist

    return dist.Normal(0.0, scale)


class GLMPriors(NamedTuple):
    """Priors of the NumPyro GLM model's sample sites (scalar NumPyro distributions, expanded per entry).

    ``None`` entries take the defaults: Normal(0, 1) on stimulus and coupling weights, Normal(0, 5) on
    the bias. ``stimulus`` and ``coupling`` may also be structured priors from :mod:`probsnn.models.sparsity`
    (:class:`~probsnn.models.sparsity.HorseshoePrior`, :class:`~probsnn.models.sparsity.LaplacePrior`,
    :class:`~probsnn.models.sparsity.HierarchicalNormalPrior`). ``penalty`` adds a :class:`GaussianPrior`
    (e.g. smoothing) on top as a ``numpyro.factor``.
    """

    stimulus: object = None
    coupling: object = None
    bias: object = None
    penalty: GaussianPrior | None = None

    def resolved(self) -> "GLMPriors":
        import numpyro.distributions as dist

        out = GLMPriors(
            self.stimulus if self.stimulus is not None else _default(1.0),
            self.coupling if self.coupling is not None else _default(1.0),
            self.bias if self.bias is not None else _default(5.0),
            self.penalty,
        )
        from .sparsity import StructuredPrior

        for name, prior in zip(("stimulus", "coupling", "bias"), out[:3]):
            if isinstance(prior, StructuredPrior) and name != "bias":
                continue
            if not isinstance(prior, dist.Distribution):
                raise TypeError(f"GLMPriors.{name} must be a numpyro distribution, got {type(prior).__name__}.")
            for arg, constraint in getattr(prior, "arg_constraints", {}).items():
                value = getattr(prior, arg, None)
                if value is None:
                    continue
                if not bool(np.all(np.asarray(constraint(value)))):
                    raise ValueError(
                        f"GLMPriors.{name}: {type(prior).__name__} has an invalid {arg}={np.asarray(value)!r} "
                        f"(must satisfy {constraint}); e.g. scales must be positive."
                    )
            if prior.event_shape != () or prior.batch_shape != ():
                raise ValueError(
                    f"GLMPriors.{name} must be a scalar (univariate) distribution that is expanded per weight; "
                    f"got batch shape {prior.batch_shape} and event shape {prior.event_shape}. For per-weight "
                    f"structure use a structured prior (probsnn.models.sparsity) or a GaussianPrior penalty."
                )
        if self.penalty is not None and not isinstance(self.penalty, GaussianPrior):
            raise TypeError(f"GLMPriors.penalty must be a GaussianPrior, got {type(self.penalty).__name__}.")
        return out
