r"""The GLM spiking network as a NumPyro program (priors + likelihood).

.. math::
    w^{\rm stim} \sim p_{\rm stim}, \quad w^{\rm coup} \sim p_{\rm coup}, \quad \gamma \sim p_{\rm bias},
    \qquad s_{i,t} \mid u_{i,t} \sim p(\cdot \mid u_{i,t}), \quad u = X W^\top,

where ``X`` is the network's design matrix (the observed spikes and stimulus convolved with the bases,
:meth:`probsnn.GLMNetwork.design_matrix`). The likelihood is therefore parallel in time: one contraction,
no scan, so a gradient costs about one pass over the design. The ``obs`` site holds the spike counts, and
every NumPyro tool (``Predictive``, ``NUTS``, ``SVI``, ``log_likelihood``) works on the model directly.
Masked (absent) connections are multiplied out; their weights keep their prior.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpyro

from ..neurons.glm import GLMParams
from .priors import GLMPriors
from .sparsity import StructuredPrior

__all__ = ["glm_network"]


def _sample_weights(name, prior, shape):
    if 0 in shape:
        return jnp.zeros(shape)
    if isinstance(prior, StructuredPrior):  # horseshoe, hierarchical, ...: samples its own sites
        return prior.sample(name, shape)
    return numpyro.sample(name, prior.expand(shape).to_event(len(shape)))


def glm_network(design, counts=None, *, net, priors: GLMPriors | None = None):
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
        structured priors from :mod:`probsnn.models.sparsity` (horseshoe, Laplace, hierarchical).

    Sample sites: ``stimulus_weights`` ``[N, D, Bs]``, ``coupling_weights`` ``[N, N, Bh]``, ``bias``
    ``[N]``, ``obs`` ``[T, N]``; deterministic site ``potential`` is not recorded (it is ``T x N``).
    """
    priors = (priors or GLMPriors()).resolved()
    n = net.n_neurons
    params = GLMParams(
        stimulus_weights=_sample_weights("stimulus_weights", priors.stimulus, (n, net.n_stimulus_dims, net.n_stimulus_basis)),
        coupling_weights=_sample_weights("coupling_weights", priors.coupling, (n, n, net.n_history_basis)),
        bias=_sample_weights("bias", priors.bias, (n,)),
    )
    flat = net.flatten(params)
    if priors.penalty is not None:
        precision = jnp.asarray(priors.penalty.precision_matrix(net))
        numpyro.factor("penalty", -0.5 * jnp.einsum("nf,fg,ng->", flat, precision, flat))
    potential = design @ flat.T
    with numpyro.plate("neurons", n, dim=-1), numpyro.plate("time", design.shape[0], dim=-2):
        numpyro.sample("obs", net.observation.numpyro_distribution(potential), obs=counts)
