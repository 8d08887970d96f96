"""probsnn: probabilistic programming for spiking neural networks on JAX and NumPyro.

The public API is re-exported here; see README.md for the list.
"""

__version__ = "0.1.0"

# --- GLM foundation (issue 2) ---
from . import basis, datasets, diagnostics, models
from .basis import Basis, causal_convolve
from .data import SpikeData
from .inference.map import ConvergenceWarning, MAPResult, fit_map
from .models.priors import GaussianPrior, GLMPriors
from .neurons.glm import BernoulliObservation, GLMNetwork, GLMParams, PoissonObservation

# --- deterministic limits (issue 7) ---

# --- stochastic hardware (issue 9) ---

# --- other issues ---
