r"""NumPyro model and guide of a visible + latent GLM network, for SVI with ``TraceGraph_ELBO``.

The generic reference path for the objective of :mod:`probsnn.inference.three_factor`: the model samples
latent spikes ``h_t`` (sites ``"h_0" ... "h_{T-1}"``) and observes the visible spikes ``x_t`` (sites
``"x_t"``), each from ``Bernoulli(sigmoid(u_t / temperature))`` of a
:class:`~probsnn.GLMNetwork` with Bernoulli neurons; the guide samples the same latent sites from the *same*
causal conditional with the *same* ``numpyro.param`` weights. Hence :math:`\log p(h) - \log q(h) = 0` and the
ELBO is :math:`\mathbb E_q[\log p(x \mid h)]`, the objective of the three-factor rule. ``TraceGraph_ELBO``
gives its score-function gradient (the latent sites are discrete, not reparameterisable), with Rao-Blackwellised
downstream costs; :class:`~probsnn.inference.three_factor.ThreeFactorVI` is the fast, local, online form.

The time loop is a Python loop (one site per bin, as ``TraceGraph_ELBO`` needs the dependency graph), so this
path is meant for short sequences (tens of bins): a reference, not the workhorse.

Parameter sites (``numpyro.param``): ``"stimulus_weights"``, ``"coupling_weights"``, ``"bias"``, the fields of
:class:`~probsnn.neurons.glm.GLMParams`.

References
----------
Jang, Simeone, Gardner & Gruning (2019), IEEE Signal Processing Magazine 36(6):64-77.
Schulman, Heess, Weber & Abbeel (2015), "Gradient estimation using stochastic computation graphs", NeurIPS.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpyro

from .._checks import positive_int
from ..neurons.glm import GLMNetwork, GLMParams

__all__ = ["latent_glm_model", "latent_glm_guide", "latent_svi"]


def _params(net: GLMNetwork, init_params: GLMParams | None) -> GLMParams:
    init = net.init_params() if init_params is None else init_params
    return GLMParams(*(numpyro.param(name, value) for name, value in zip(GLMParams._fields, init)))


def _run(net, params, stimulus, visible, observe_visible: bool):
    state = net.init_state(jnp.result_type(params.bias.dtype))
    nv = net.n_visible
    law = net.observation.numpyro_distribution
    for t in range(stimulus.shape[0]):
        stimulus_trace, spike_trace, window = net.traces(state, stimulus[t])
        u = net.potential_from_traces(params, stimulus_trace, spike_trace)
        parts = []
        if nv:
            x_t = jnp.asarray(visible[t], u.dtype)
            if observe_visible:
                numpyro.sample(f"x_{t}", law(u[:nv]).to_event(1), obs=x_t)
            parts.append(x_t)
        if net.n_latent:
            parts.append(numpyro.sample(f"h_{t}", law(u[nv:]).to_event(1)).astype(u.dtype))
        state = net.next_state(state, window, jnp.concatenate(parts))


def latent_glm_model(stimulus, visible, *, net: GLMNetwork, init_params: GLMParams | None = None):
    """Model: latent spikes ``h_t`` sampled, visible spikes ``x_t`` observed
    (``stimulus [T, D]``, ``visible [T, N_v]``)."""
    _run(net, _params(net, init_params), stimulus, visible, observe_visible=True)


def latent_glm_guide(stimulus, visible, *, net: GLMNetwork, init_params: GLMParams | None = None):
    """Guide: the model's own causal conditional of the latent spikes, with the same parameters."""
    _run(net, _params(net, init_params), stimulus, visible, observe_visible=False)


def latent_svi(net: GLMNetwork, optimizer=None, num_particles: int = 1, init_params: GLMParams | None = None):
    """A ``numpyro.infer.SVI`` over :func:`latent_glm_model` / :func:`latent_glm_guide` with ``TraceGraph_ELBO``.

    ``svi.init(key, stimulus, visible)`` and ``svi.update(state, stimulus, visible)`` then work as usual;
    ``svi.get_params(state)`` returns a dict with the GLMParams fields.
    """
    from functools import partial

    from numpyro.infer import SVI, TraceGraph_ELBO

    if not isinstance(net, GLMNetwork):
        raise TypeError(f"net must be a probsnn.GLMNetwork, got {type(net).__name__}.")
    num_particles = positive_int("num_particles", num_particles)
    optimizer = optimizer if optimizer is not None else numpyro.optim.Adam(0.01)
    model = partial(latent_glm_model, net=net, init_params=init_params)
    guide = partial(latent_glm_guide, net=net, init_params=init_params)
    return SVI(model, guide, optimizer, loss=TraceGraph_ELBO(num_particles=int(num_particles)))
