"""Neuron models: the GLM network (visible and latent neurons, parallel and sequential modes) and its observation
models; the deterministic neurons (LIF, ALIF, SNU, few-spike) as pure step functions over NamedTuple parameters,
behind one :class:`~probsnn.neurons.base.Neuron` protocol, and the layer loops that run them."""
from . import base, fewspike, glm, layers, lif, observation, snu
from .glm import GLMNetwork, GLMParams, GLMState, LatentGLMNetwork, StepInput, StepOutput
from .observation import BernoulliObservation, PoissonLogRate, PoissonObservation

__all__ = [
    "GLMNetwork", "GLMParams", "GLMState", "StepInput", "StepOutput", "LatentGLMNetwork",
    "BernoulliObservation", "PoissonLogRate", "PoissonObservation",
    "base", "fewspike", "glm", "layers", "lif", "observation", "snu",
]
