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
from .neurons.glm import GLMNetwork, GLMParams, GLMState, StepInput, StepOutput
from .neurons.observation import BernoulliObservation, PoissonLogRate, PoissonObservation

# --- deterministic limits (issue 7) ---
from . import regularisers, surrogates
from .inference.bptt import classification_loss, fit_bptt, membrane_cross_entropy, project_neuron_params, run_network
from .inference.eprop import EpropParams, eprop_gradient, init_eprop
from .inference.ostl import ostl_gradient
from .neurons.lif import (
    ALIFParams, FeedForwardParams, LIFParams, Neuron, RecurrentParams, alif_neuron, alif_params,
    feedforward_layer, init_feedforward, init_recurrent, input_currents, lif_neuron, lif_params, lif_scan,
    recurrent_layer,
)
from .neurons.snu import ASNUParams, SNUParams, asnu_neuron, asnu_params, snu_neuron, snu_params

# --- stochastic hardware (issue 9) ---
from . import hardware
from .hardware import PCMConfig, realise_weights

# --- latent neurons and online VI (issue 4) ---
from . import encoding, streaming
from .inference.three_factor import ThreeFactorState, ThreeFactorVI
from .models.latent import latent_glm_guide, latent_glm_model, latent_svi
from .neurons.glm import LatentGLMNetwork
from .streaming import StreamingPredictor

# --- first-to-spike RL (issue 6) ---
from . import envs
from .encoding import OneHotEncoder, PopulationEncoder
from .inference.policy_gradient import FirstToSpikePolicy, Reinforce

# --- Bayesian inference (issue 3) ---
from . import bayes_plots
from .inference.calibration import expected_calibration_error, negative_log_likelihood, reliability_diagram
from .inference.laplace import laplace_posterior
from .inference.mcmc import check_convergence, fit_nuts
from .inference.svi import fit_svi
from .models.sparsity import HierarchicalNormalPrior, HorseshoePrior, LaplacePrior, StructuredPrior

# --- Langevin synaptic sampling (issue 5) ---
from .inference.synaptic_sampling import (
    LangevinDivergenceError, SynapticSampler, retraction_probability, retraction_weights, synaptic_sampling,
)

# --- other issues ---
from . import conversion  # ANN-to-SNN conversion (issue 8)
