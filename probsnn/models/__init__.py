"""NumPyro programs over probsnn networks: the GLM network model (one model, optionally reparametrised by a
synaptic parametrisation), the latent-neuron model and guide, and the priors."""
from . import glm, latent, priors, sparsity, synapses
from .glm import glm_network
from .latent import latent_glm_guide, latent_glm_model, latent_svi
from .priors import GaussianPrior, GLMPriors
from .sparsity import HierarchicalNormalPrior, HorseshoePrior, LaplacePrior, StructuredPrior
from .synapses import SynapseParametrisation, resolve_theta_prior, retraction_weights

__all__ = [
    # models
    "glm_network", "latent_glm_model", "latent_glm_guide", "latent_svi",
    # priors
    "GLMPriors", "GaussianPrior", "StructuredPrior", "HorseshoePrior", "LaplacePrior", "HierarchicalNormalPrior",
    # synaptic parametrisations
    "SynapseParametrisation", "retraction_weights", "resolve_theta_prior",
    # modules
    "glm", "latent", "priors", "sparsity", "synapses",
]
