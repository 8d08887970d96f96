r"""Surrogate gradients for the Heaviside spike nonlinearity.

A deterministic spiking neuron emits :math:`s = H(x)` with :math:`x = v - \vartheta` the distance of the
membrane potential to threshold. :math:`H` has zero derivative almost everywhere, so gradient-based
training replaces :math:`H'(x)` in the backward pass by a smooth *pseudo-derivative* :math:`\psi(x)`
while the forward pass keeps the exact step (Neftci, Mostafa & Zenke, IEEE Signal Process. Mag. 2019).

Every factory below returns a ``jax.custom_vjp`` function ``spike(x)`` with forward value
:math:`H(x) = 1[x > 0]` (in the dtype of ``x``) and backward pass ``g -> g * psi(x)``:

================  ==============================================================  =========================
factory           pseudo-derivative :math:`\psi(x)`                               reference
================  ==============================================================  =========================
fast_sigmoid      :math:`1 / (1 + \beta |x|)^2`                                    Zenke & Ganguli 2018
                                                                                   (SuperSpike)
atan              :math:`(\alpha/2) / (1 + (\pi \alpha x / 2)^2)`                  Fang et al. 2021
triangular        :math:`\gamma \max(0, 1 - |x| / w)`                               Bellec et al. 2018
                                                                                   (gamma=0.3, w=1)
straight_through  :math:`1`                                                         Bengio et al. 2013
================  ==============================================================  =========================

The step is strict (:math:`H(0) = 0`), as in snnTorch and Norse. The surrogate hyper-parameters are
fixed Python floats closed over by the factory; they are not differentiated.
"""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from ._checks import positive_float

__all__ = [
    "heaviside",
    "make_spike_function",
    "fast_sigmoid",
    "superspike",
    "atan",
    "triangular",
    "straight_through",
    "get_surrogate",
]


def heaviside(x):
    """Strict step :math:`H(x) = 1[x > 0]` in the dtype of ``x`` (no custom gradient: derivative 0)."""
    x = jnp.asarray(x)
    return (x > 0).astype(x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.result_type(float))


def make_spike_function(pseudo_derivative: Callable, name: str = "custom") -> Callable:
    r"""Build ``spike(x)``: forward :math:`H(x)`, backward ``g * pseudo_derivative(x)``.

    Parameters
    ----------
    pseudo_derivative : callable
        Elementwise :math:`\psi(x)` used in place of :math:`H'(x) = \delta(x)`.
    name : str
        Label stored as ``spike.surrogate_name``.

    Returns
    -------
    spike : callable
        A ``jax.custom_vjp`` function, usable under ``jit``, ``grad``, ``vmap`` and ``jvp``-free code.
    """
    if not callable(pseudo_derivative):
        raise ValueError("pseudo_derivative must be a callable x -> psi(x).")

    @jax.custom_vjp
    def spike(x):
        return heaviside(x)

    def forward(x):
        return heaviside(x), x

    def backward(x, g):
        return (g * jnp.asarray(pseudo_derivative(x), g.dtype),)

    spike.defvjp(forward, backward)
    # jacfwd / jvp are used by the online learners (OSTL, e-prop); custom_vjp functions do not support
    # forward mode, so expose a custom_jvp twin with the same surrogate for them.

    @jax.custom_jvp
    def spike_jvp(x):
        return heaviside(x)

    @spike_jvp.defjvp
    def _spike_jvp_rule(primals, tangents):
        (x,), (dx,) = primals, tangents
        return heaviside(x), jnp.asarray(pseudo_derivative(x), jnp.result_type(dx)) * dx

    spike = _SpikeFunction(spike, spike_jvp, pseudo_derivative, name)
    return spike


class _SpikeFunction:
    """A Heaviside with a surrogate gradient in reverse mode (custom_vjp) and forward mode (custom_jvp).

    Calling it uses the ``custom_jvp`` form, which JAX transposes for reverse mode, so ``jax.grad``,
    ``jax.jacfwd`` and ``jax.jvp`` all see the same pseudo-derivative; ``.vjp_only`` is the pure
    ``custom_vjp`` form (slightly leaner reverse pass, no forward mode).
    """

    def __init__(self, vjp_fn, jvp_fn, pseudo_derivative, name):
        self.vjp_only = vjp_fn
        self._jvp_fn = jvp_fn
        self.pseudo_derivative = pseudo_derivative
        self.surrogate_name = name

    def __call__(self, x):
        return self._jvp_fn(x)

    def __repr__(self):
        return f"<spike function with {self.surrogate_name} surrogate>"


def fast_sigmoid(slope: float = 25.0):
    r"""SuperSpike / fast-sigmoid surrogate, :math:`\psi(x) = 1/(1+\beta|x|)^2` (Zenke & Ganguli 2018).

    ``slope`` is :math:`\beta`; snnTorch's ``surrogate.fast_sigmoid`` default is 25.
    """
    beta = positive_float("slope", slope)
    return make_spike_function(lambda x: 1.0 / (1.0 + beta * jnp.abs(x)) ** 2, f"fast_sigmoid(slope={beta})")


superspike = fast_sigmoid


def atan(alpha: float = 2.0):
    r"""Arctangent surrogate, :math:`\psi(x) = (\alpha/2) / (1 + (\pi\alpha x/2)^2)`.

    The derivative of :math:`\tfrac{1}{\pi}\arctan(\pi\alpha x/2) + \tfrac12` (Fang et al., ICCV 2021).
    """
    a = positive_float("alpha", alpha)
    return make_spike_function(lambda x: (a / 2.0) / (1.0 + (math.pi * a * x / 2.0) ** 2), f"atan(alpha={a})")


def triangular(width: float = 1.0, scale: float = 0.3):
    r"""Triangular (piecewise-linear) surrogate, :math:`\psi(x) = \gamma \max(0, 1 - |x|/w)`.

    Bellec et al. (NeurIPS 2018) use :math:`\gamma = 0.3`, :math:`w = 1` on the threshold-normalised
    potential.
    """
    w = positive_float("width", width)
    gamma = positive_float("scale", scale)
    return make_spike_function(
        lambda x: gamma * jnp.maximum(0.0, 1.0 - jnp.abs(x) / w), f"triangular(width={w}, scale={gamma})"
    )


def straight_through():
    r"""Straight-through estimator, :math:`\psi(x) = 1` (Bengio, Leonard & Courville 2013)."""
    return make_spike_function(lambda x: jnp.ones_like(x), "straight_through")


_FACTORIES = {
    "fast_sigmoid": fast_sigmoid,
    "superspike": fast_sigmoid,
    "atan": atan,
    "triangular": triangular,
    "straight_through": straight_through,
}


def get_surrogate(spike_fn=None):
    """Resolve ``spike_fn``: ``None`` -> ``fast_sigmoid()``, a name -> its factory's default, a callable as is."""
    if spike_fn is None:
        return fast_sigmoid()
    if isinstance(spike_fn, str):
        if spike_fn not in _FACTORIES:
            raise ValueError(f"unknown surrogate {spike_fn!r}; choose one of {sorted(_FACTORIES)} or pass a callable.")
        return _FACTORIES[spike_fn]()
    if not callable(spike_fn):
        raise ValueError(f"spike_fn must be a surrogate name or a callable, got {type(spike_fn).__name__}.")
    return spike_fn
