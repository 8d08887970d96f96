"""NumPyro model functions (priors + likelihood) over probsnn networks."""
from .glm import glm_network
from .priors import GaussianPrior, GLMPriors
from .sparsity import HierarchicalNormalPrior, HorseshoePrior, LaplacePrior, StructuredPrior
