r"""Synaptic parametrisations: free parameters :math:`\theta` of a GLM network and the weights they make.

Synaptic sampling (Kappel, Habenschuss, Legenstein & Maass 2015) and the NumPyro model of the GLM network
share one map from unconstrained parameters :math:`\theta` to the network's weights, so a NumPyro
reference (NUTS) and the Langevin sampler target the same posterior. :math:`\theta` holds the *free*
entries only (existing, unmasked weights), one vector per group (``"stimulus"``, ``"coupling"``,
``"bias"``), in the order of :meth:`probsnn.GLMNetwork.flatten`.

``"signed"``: the weight is the parameter, :math:`w = \theta`. ``"retraction"`` (Kappel et al. 2015, Eq. 6;
excitatory synapses that can disappear and re-form):

.. math::
    w = \max\!\big(0,\; e^{\theta - \theta_0} - e^{-\theta_0}\big),

so a synapse whose :math:`\theta` falls below 0 is *retracted* (:math:`w = 0`, the likelihood gradient vanishes
and :math:`\theta` diffuses under the prior alone) and may re-form when :math:`\theta` crosses 0 again
(rewiring). The mapping applies to the entries selected by ``retract`` (by default every *synapse*: the
stimulus weights and the couplings between different neurons); self-history kernels and biases stay signed.

Priors on :math:`\theta` (:func:`resolve_theta_prior`): one scalar NumPyro distribution with real support for
every parameter, a :class:`probsnn.GLMPriors` (one per group; the default ``N(0, 1)`` on weights and ``N(0, 5)``
on biases), or a callable ``log_prior(theta) -> scalar``.

References
----------
Kappel, Habenschuss, Legenstein & Maass (2015), "Network plasticity as Bayesian inference", PLoS Comput Biol
11(11):e1004485.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from .._checks import one_of, positive_float
from ..neurons.glm import GLMNetwork, GLMParams
from .priors import GLMPriors

__all__ = ["GROUPS", "SynapseParametrisation", "retraction_weights", "resolve_theta_prior"]

GROUPS = ("stimulus", "coupling", "bias")
PARAMETRISATIONS = ("signed", "retraction")


def retraction_weights(theta, theta0):
    r"""The retraction mapping :math:`w = \max(0, e^{\theta-\theta_0} - e^{-\theta_0})` (Kappel et al. 2015).

    ``w = 0`` exactly for :math:`\theta \le 0` (retracted synapse), ``w = 1 - e^{-\theta_0}`` at
    :math:`\theta = \theta_0`, and ``dw/dtheta = exp(theta - theta0)`` for :math:`\theta > 0`.
    """
    return jnp.maximum(0.0, jnp.exp(theta - theta0) - jnp.exp(-theta0))


def resolve_theta_prior(prior):
    """The prior on theta: ``{"stimulus", "coupling", "bias"} -> scalar numpyro distribution``, or a callable.

    ``None`` means ``GLMPriors()`` defaults; one distribution is used for every group; ``GLMPriors`` sites must be
    scalar distributions with real support (theta is unconstrained); a callable ``log_prior(theta)`` is returned
    as it is.
    """
    if prior is None:
        prior = GLMPriors()
    if isinstance(prior, dist.Distribution):
        prior = GLMPriors(prior, prior, prior)
    if isinstance(prior, GLMPriors):
        if prior.penalty is not None:
            raise ValueError("GLMPriors.penalty is not supported on theta; pass a callable prior "
                             "that includes the quadratic penalty instead.")
        groups = {}
        for group, law in zip(GROUPS, prior.resolved()[:3]):
            if not isinstance(law, dist.Distribution):
                raise ValueError(f"a synaptic parametrisation needs a scalar numpyro distribution for the {group} "
                                 f"prior, got {type(law).__name__} (structured priors are not supported).")
            if law.support is not dist.constraints.real:
                raise ValueError(f"the {group} prior must have real support (theta is unconstrained), got "
                                 f"{type(law).__name__} with support {law.support}.")
            groups[group] = law
        return groups
    if callable(prior):
        return prior
    raise TypeError(f"prior must be a numpyro distribution, GLMPriors or a callable, got {type(prior).__name__}.")


class SynapseParametrisation:
    """The map from free parameters ``theta`` (one vector per group) to a network's weights.

    Parameters
    ----------
    net : probsnn.GLMNetwork
    parametrisation : {"signed", "retraction"}
    theta0 : float
        Offset :math:`\\theta_0 > 0` of the retraction mapping (ignored for ``"signed"``).
    retract : {"synapses", "coupling", "stimulus", "all_weights"} or bool array [N, F]
        Which entries of the flat weight layout use the retraction mapping: ``"synapses"`` = stimulus weights
        and couplings between different neurons (default), ``"coupling"`` = couplings between different
        neurons, ``"stimulus"``, ``"all_weights"`` = everything but the bias, or an explicit mask.

    Attributes
    ----------
    indices : dict group -> (rows, columns)
        Positions of the group's free entries in the ``[N, F]`` flat layout.
    sizes : dict group -> int
    retracted_in_group : dict group -> bool array
        Which of the group's free entries are under the retraction mapping.
    n_synapses : int
        Entries under the retraction mapping.
    """

    def __init__(self, net: GLMNetwork, parametrisation: str = "signed", theta0: float = 3.0, retract="synapses"):
        if not isinstance(net, GLMNetwork):
            raise TypeError(f"net must be a probsnn.GLMNetwork, got {type(net).__name__}.")
        self.net = net
        self.parametrisation = one_of("parametrisation", parametrisation, PARAMETRISATIONS)
        self.theta0 = positive_float("theta0", theta0)
        n_stim = net.n_stimulus_dims * net.n_stimulus_basis
        row = np.array([0] * n_stim + [1] * (net.n_neurons * net.n_history_basis) + [2])
        self._group_of = np.broadcast_to(row, (net.n_neurons, net.n_features)).copy()
        free = np.asarray(net.feature_mask)
        self.indices = {g: np.nonzero(free & (self._group_of == i)) for i, g in enumerate(GROUPS)}
        self.sizes = {g: int(len(idx[0])) for g, idx in self.indices.items()}
        retract_mask = self._retract_mask(retract) if parametrisation == "retraction" else np.zeros_like(free)
        self.retract_mask = retract_mask & free
        self.retracted_in_group = {g: self.retract_mask[self.indices[g]] for g in GROUPS}
        self.n_synapses = int(self.retract_mask.sum())

    def _presynaptic(self) -> np.ndarray:
        """``[N, F]``: the presynaptic neuron of each coupling column, the stimulus dimension of each stimulus
        column (as ``-1 - d``), and ``N`` for the bias."""
        net = self.net
        stimulus = -1 - np.repeat(np.arange(net.n_stimulus_dims), net.n_stimulus_basis)
        coupling = np.repeat(np.arange(net.n_neurons), net.n_history_basis)
        row = np.concatenate([stimulus, coupling, [net.n_neurons]])
        return np.broadcast_to(row, (net.n_neurons, net.n_features))

    def _retract_mask(self, retract) -> np.ndarray:
        net = self.net
        n, f = net.n_neurons, net.n_features
        if isinstance(retract, str):
            stim = self._group_of == 0
            coup = self._group_of == 1
            between = coup & (self._presynaptic() != np.arange(n)[:, None])
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

    def labels(self, group: str) -> list[str]:
        """One label per free entry of ``group``: ``"post<-pre:bK"`` (``pre`` a neuron name or ``stim[d]``),
        or the neuron name for the bias."""
        names = self.net.neuron_names
        rows, cols = self.indices[group]
        pre = self._presynaptic()[rows, cols]
        if group == "bias":
            return [names[i] for i in rows]
        n_basis = self.net.n_stimulus_basis if group == "stimulus" else self.net.n_history_basis
        offset = 0 if group == "stimulus" else self.net.n_stimulus_dims * self.net.n_stimulus_basis
        out = []
        for i, j, c in zip(rows, pre, cols):
            source = f"stim[{-1 - j}]" if j < 0 else names[j]
            out.append(f"{names[i]}<-{source}:b{(c - offset) % n_basis}")
        return out

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
                value = jnp.where(jnp.asarray(self.retracted_in_group[g]), retraction_weights(value, self.theta0),
                                  value)
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

    def log_prior(self, prior, theta: dict):
        r""":math:`\log p_{\rm prior}(\theta)` summed over the free parameters, for a :func:`resolve_theta_prior`
        result (a dict of distributions, or a callable)."""
        if not isinstance(prior, dict):
            return prior(theta)
        total = 0.0
        for g in GROUPS:
            if self.sizes[g]:
                total = total + jnp.sum(prior[g].log_prob(theta[g]))
        return total
