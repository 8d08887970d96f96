"""Neuron models: the GLM network (visible and latent neurons, parallel and sequential modes), its observation
models, and the deterministic neurons (LIF, ALIF, SNU) as pure step functions over NamedTuple parameters."""
from . import lif, observation, snu
from .glm import GLMNetwork, GLMParams, GLMState, LatentGLMNetwork, StepInput, StepOutput
from .observation import BernoulliObservation, PoissonLogRate, PoissonObservation

__all__ = ["GLMNetwork", "GLMParams", "GLMState", "LatentGLMNetwork", "StepInput", "StepOutput",
           "BernoulliObservation", "PoissonLogRate", "PoissonObservation", "lif", "observation", "snu"]
