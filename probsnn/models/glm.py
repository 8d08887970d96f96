r"""The GLM spiking network as a NumPyro program (priors + likelihood).

.. math::
    w^{\rm stim} \sim p_{\rm stim}, \quad w^{\rm coup} \sim p_{\rm coup}, \quad \gamma \sim p_{\rm bias},
    \qquad s_{i,t} \mid u_{i,t} \sim p(\cdot \mid u_{i,t}), \quad u = X W^\top,

where ``X`` is the network's design matrix (the observed spikes and stimulus convolved with the bases,
:meth:`probsnn.GLMNetwork.design_matrix`). The likelihood is therefore parallel in time: one contraction,
no scan, so a gradient costs about one pass over the design. The ``obs`` site holds the spike counts, and
every NumPyro tool (``Predictive``, ``NUTS``, ``SVI``, ``log_likelihood``) works on the model directly.
Masked (absent) connections are multiplied out; their weights keep their prior.

The same model under a synaptic parametrisation (:class:`probsnn.models.synapses.SynapseParametrisation`, e.g.
the retraction map of synaptic sampling) samples the free parameters :math:`\theta` instead of the weights and
may be tempered, :math:`p(\theta \mid x)^{1/T}`: the reference posterior of Langevin synaptic sampling, written
once.
"""
from __future__ import annotations

from contextlib import nullcontext

import jax.numpy as jnp
import numpyro
from numpyro.handlers import mask, scale

from .._checks import concrete, positive_float
from ..neurons.glm import GLMParams
from .priors import GLMPriors
from .sparsity import StructuredPrior
from .synapses import GROUPS, SynapseParametrisation, resolve_theta_prior

__all__ = ["glm_network"]


def _sample_weights(name, prior, shape):
    if 0 in shape:
        return jnp.zeros(shape)
    if isinstance(prior, StructuredPrior):  # horseshoe, hierarchical, ...: samples its own sites
        return prior.sample(name, shape)
    return numpyro.sample(name, prior.expand(shape).to_event(len(shape)))


def _weights(net, priors):
    """Flat weights ``[N, F]`` with the weights themselves as sample sites."""
    priors = (priors or GLMPriors()).resolved()
    n = net.n_neurons
    params = GLMParams(
        stimulus_weights=_sample_weights("stimulus_weights", priors.stimulus,
                                         (n, net.n_stimulus_dims, net.n_stimulus_basis)),
        coupling_weights=_sample_weights("coupling_weights", priors.coupling, (n, n, net.n_history_basis)),
        bias=_sample_weights("bias", priors.bias, (n,)),
    )
    flat = net.flatten(params)
    if priors.penalty is not None:
        precision = jnp.asarray(priors.penalty.precision_matrix(net))
        numpyro.factor("penalty", -0.5 * jnp.einsum("nf,fg,ng->", flat, precision, flat))
    return flat


def _reparametrised_weights(parametrisation: SynapseParametrisation, priors):
    """Flat weights ``[N, F]`` with the free parameters ``theta_<group>`` as sample sites."""
    prior = resolve_theta_prior(priors)
    if not isinstance(prior, dict):
        raise ValueError("a reparametrised glm_network needs distribution priors (a callable prior has no "
                         "NumPyro form).")
    theta = {}
    for g in GROUPS:
        size = parametrisation.sizes[g]
        theta[g] = (numpyro.sample(f"theta_{g}", prior[g].expand((size,)).to_event(1)) if size
                    else jnp.zeros((0,)))
    flat = parametrisation.weights_flat(theta)
    for name, value in zip(GLMParams._fields, parametrisation.net.unflatten(flat)):
        numpyro.deterministic(name, value)
    return flat


def glm_network(design, counts=None, *, net, priors=None, parametrisation: SynapseParametrisation | None = None,
                temperature=1.0, weight=None):
    """NumPyro model of a GLM network.

    Parameters
    ----------
    design : array, shape (T, F)
        ``net.design_matrix(data)``.
    counts : array, shape (T, N), optional
        Observed spike counts (the ``obs`` site); ``None`` to sample them (one-step-ahead predictive).
    net : probsnn.GLMNetwork
    priors : GLMPriors, optional
        Scalar NumPyro distributions (expanded per weight) or, for ``stimulus`` and ``coupling``,
        structured priors from :mod:`probsnn.models.sparsity` (horseshoe, Laplace, hierarchical). Under a
        ``parametrisation`` these are priors on ``theta`` (scalar, real support; see
        :func:`~probsnn.models.synapses.resolve_theta_prior`).
    parametrisation : SynapseParametrisation, optional
        Sample the free parameters ``theta`` of this map (sites ``theta_stimulus``, ``theta_coupling``,
        ``theta_bias``; the weights become deterministic sites) instead of the weights.
    temperature : float
        Temper the whole model, density :math:`\\propto p(\\cdot \\mid x)^{1/T}` (``numpyro.handlers.scale``).
    weight : array, shape (T, N), optional
        The 0/1 likelihood weight, ``net.likelihood_weight(data)`` (trials' dropped edges, unobserved bins):
        the ``obs`` terms where it is 0 are masked out of the density (``numpyro.handlers.mask``). ``None``
        (all observed) adds nothing.

    Sample sites: ``stimulus_weights`` ``[N, D, Bs]``, ``coupling_weights`` ``[N, N, Bh]``, ``bias``
    ``[N]``, ``obs`` ``[T, N]``; deterministic site ``potential`` is not recorded (it is ``T x N``).
    """
    if parametrisation is not None and parametrisation.net is not net:
        raise ValueError("parametrisation was built for a different network.")
    if concrete(temperature) is not None:
        positive_float("temperature", temperature)
    untempered = isinstance(temperature, (int, float)) and temperature == 1.0
    with nullcontext() if untempered else scale(scale=1.0 / temperature):
        flat = _weights(net, priors) if parametrisation is None else _reparametrised_weights(parametrisation, priors)
        potential = design @ flat.T
        with numpyro.plate("neurons", net.n_neurons, dim=-1), numpyro.plate("time", design.shape[0], dim=-2):
            with nullcontext() if weight is None else mask(mask=jnp.asarray(weight) > 0):
                numpyro.sample("obs", net.observation.numpyro_distribution(potential), obs=counts)
