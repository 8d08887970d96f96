"""Neuron models as pure step functions over NamedTuple parameters and state."""
from .glm import GLMNetwork, GLMParams
from . import lif, snu
from .latent import LatentGLMNetwork, LatentState, StepInput, StepOutput
