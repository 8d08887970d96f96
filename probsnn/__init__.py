r"""probsnn: probabilistic programming for spiking neural networks on JAX and NumPyro.

A spiking network is a generative model over spike trains. A GLM spiking neuron fires in bin ``t`` with a
probability (Bernoulli) or rate (Poisson) set by its membrane potential

    u_{i,t} = sum_j (a_ij * s_j)_{t-1} + (k_i * x)_t + gamma_i,

where every kernel is a linear combination of basis functions. One network class, :class:`GLMNetwork`, holds
visible and latent neurons and evaluates the same parameters in two modes: *parallel* (all spikes observed: a
design matrix and one contraction) and *sequential* (a pure step function under ``lax.scan``). Every learner
works on those parameters:

* maximum likelihood / MAP (:func:`fit_map`), Laplace (:func:`laplace_posterior`), NUTS (:func:`fit_nuts`) and
  SVI (:func:`fit_svi`) on the NumPyro model :func:`models.glm_network`, with ArviZ output; ridge and smoothing
  strengths chosen per neuron by maximising the Laplace evidence (:func:`fit_evidence`); sparse connectivity by
  Lasso, elastic-net and group-Lasso penalties and their paths (:func:`fit_penalised`, :func:`penalised_path`);
* online variational learning with local three-factor rules and latent neurons (:class:`ThreeFactorVI`,
  :class:`StreamingPredictor`);
* Langevin synaptic sampling, a posterior over synapses with rewiring (:func:`synaptic_sampling`);
* first-to-spike control policies trained by policy gradient (:class:`FirstToSpikePolicy`,
  :class:`Reinforce`).

Deterministic LIF / ALIF / SNU networks, surrogate-gradient BPTT, e-prop, OSTL and STDP are its limiting cases
(:mod:`probsnn.neurons`, :mod:`probsnn.inference`); :mod:`probsnn.conversion` turns ANNs into rate and
few-spike SNNs; :mod:`probsnn.hardware` realises weights on binary stochastic synapses and PCM crossbars;
:mod:`probsnn.nir` exports networks to the Neuromorphic Intermediate Representation (NIR) and loads NIR graphs.

Subpackages and modules, lowest layer first: ``data``/``datasets``/``loaders``, ``basis``/``covariates``,
``checkpoint``, ``encoding`` -> ``neurons`` -> ``models`` -> ``diagnostics`` -> ``inference`` -> ``fitfile``,
``plots``, ``conversion``, ``hardware``, ``streaming``, ``envs`` -> ``nir`` -> ``cli``. Nothing imports upward.
"""

from . import (
    basis,
    conversion,
    covariates,
    data,
    datasets,
    diagnostics,
    encoding,
    envs,
    fitfile,
    hardware,
    inference,
    loaders,
    models,
    neurons,
    nir,
    plots,
    regularisers,
    streaming,
    surrogates,
)
from ._version import __version__ as __version__

# data and bases
from .basis import Basis, causal_convolve

# checkpoints of learner state
from .checkpoint import load_checkpoint, read_checkpoint_config, save_checkpoint

# covariate bases: tuning curves to position, speed, head direction, phase
from .covariates import CovariateBasis, bspline, covariate_design, cyclic_bspline, fourier, mspline
from .data import ContinuousData, SpikeData

# diagnostics
from .diagnostics import ConvergenceWarning, check_convergence, expected_calibration_error, negative_log_likelihood

# encoders and decoders
from .encoding import OneHotEncoder, PopulationEncoder

# fitted networks kept on disk
from .fitfile import Fit, FitFileError, load_fit, save_fit

# figures, hardware, streaming
from .hardware import PCMConfig, realise_weights

# inference: deterministic networks
from .inference.bptt import classification_loss, fit_bptt, membrane_cross_entropy, project_neuron_params, run_network

# inference: dispersion of the negative binomial, Gamma and Gaussian laws
from .inference.dispersion import DispersionResult, fit_dispersion
from .inference.eprop import EpropParams, eprop_gradient, init_eprop

# inference: batch and Bayesian
from .inference.evidence import EvidenceResult, evidence_curve, fit_evidence, laplace_log_evidence
from .inference.laplace import laplace_posterior
from .inference.map import MAPResult, fit_map
from .inference.mcmc import fit_nuts
from .inference.ostl import ostl_gradient

# inference: sparse fits
from .inference.penalised import (
    ElasticNet,
    GroupLasso,
    Lasso,
    PenalisedPath,
    PenalisedResult,
    fit_penalised,
    penalised_path,
)

# inference: online, sampling and control
from .inference.policy_gradient import FirstToSpikePolicy, Reinforce
from .inference.svi import fit_svi
from .inference.synaptic_sampling import (
    LangevinDivergenceError,
    SynapticSampler,
    retraction_probability,
    synaptic_sampling,
)
from .inference.three_factor import ThreeFactorState, ThreeFactorVI

# recordings from NWB, phy / Kilosort, neo and pynapple
from .loaders import (
    from_neo,
    from_pynapple,
    load_nwb,
    load_phy,
    load_recording,
    read_nwb_intervals,
    to_pynapple_rates,
)

# NumPyro models and priors
from .models.latent import latent_glm_guide, latent_glm_model, latent_svi
from .models.priors import GaussianPrior, GLMPriors
from .models.sparsity import HierarchicalNormalPrior, HorseshoePrior, LaplacePrior, StructuredPrior
from .models.synapses import SynapseParametrisation, retraction_weights

# deterministic neurons and layers
from .neurons.base import Neuron

# the GLM network and its observation models
from .neurons.glm import GLMNetwork, GLMParams, GLMState, LatentGLMNetwork, StepInput, StepOutput
from .neurons.layers import (
    FeedForwardParams,
    RecurrentParams,
    feedforward_layer,
    init_feedforward,
    init_recurrent,
    input_currents,
    recurrent_layer,
)
from .neurons.lif import ALIFParams, LIFParams, alif_neuron, alif_params, lif_neuron, lif_params, lif_scan
from .neurons.observation import (
    BernoulliObservation,
    GammaObservation,
    GaussianObservation,
    NegativeBinomialObservation,
    PoissonLogRate,
    PoissonObservation,
)
from .neurons.snu import ASNUParams, SNUParams, asnu_neuron, asnu_params, snu_neuron, snu_params
from .plots import reliability_diagram
from .streaming import StreamingPredictor

__all__ = [
    # subpackages and modules
    "basis", "checkpoint", "conversion", "covariates", "data", "datasets", "diagnostics", "encoding", "envs",
    "fitfile", "hardware", "inference", "loaders", "models", "neurons", "nir", "plots", "regularisers", "streaming",
    "surrogates",
    # data and bases
    "SpikeData", "ContinuousData", "Basis", "causal_convolve",
    # covariate bases: tuning curves to position, speed, head direction, phase
    "CovariateBasis", "bspline", "mspline", "cyclic_bspline", "fourier", "covariate_design",
    # recordings from NWB, phy / Kilosort, neo and pynapple
    "load_recording", "load_nwb", "read_nwb_intervals", "load_phy", "from_neo", "from_pynapple", "to_pynapple_rates",
    # checkpoints of learner state
    "save_checkpoint", "load_checkpoint", "read_checkpoint_config",
    # encoders
    "OneHotEncoder", "PopulationEncoder",
    # the GLM network
    "GLMNetwork", "GLMParams", "GLMState", "StepInput", "StepOutput", "LatentGLMNetwork",
    "BernoulliObservation", "PoissonObservation", "PoissonLogRate", "NegativeBinomialObservation",
    "GammaObservation", "GaussianObservation",
    # deterministic neurons and layers
    "Neuron", "LIFParams", "ALIFParams", "lif_neuron", "alif_neuron", "lif_params", "alif_params", "lif_scan",
    "SNUParams", "ASNUParams", "snu_neuron", "asnu_neuron", "snu_params", "asnu_params",
    "FeedForwardParams", "RecurrentParams", "feedforward_layer", "recurrent_layer", "init_feedforward",
    "init_recurrent", "input_currents",
    # NumPyro models and priors
    "GLMPriors", "GaussianPrior", "StructuredPrior", "HorseshoePrior", "LaplacePrior", "HierarchicalNormalPrior",
    "SynapseParametrisation", "retraction_weights", "latent_glm_model", "latent_glm_guide", "latent_svi",
    # diagnostics
    "check_convergence", "expected_calibration_error", "negative_log_likelihood",
    # inference: batch and Bayesian
    "fit_map", "MAPResult", "ConvergenceWarning", "laplace_posterior", "fit_nuts", "fit_svi",
    "fit_evidence", "EvidenceResult", "laplace_log_evidence", "evidence_curve",
    "fit_dispersion", "DispersionResult",
    # inference: sparse fits (Lasso, elastic net, group Lasso)
    "fit_penalised", "penalised_path", "PenalisedResult", "PenalisedPath", "Lasso", "ElasticNet", "GroupLasso",
    # fitted networks kept on disk
    "save_fit", "load_fit", "Fit", "FitFileError",
    # inference: online, sampling and control
    "ThreeFactorVI", "ThreeFactorState", "synaptic_sampling", "SynapticSampler", "retraction_probability",
    "LangevinDivergenceError", "FirstToSpikePolicy", "Reinforce",
    # inference: deterministic networks
    "fit_bptt", "run_network", "classification_loss", "membrane_cross_entropy", "project_neuron_params",
    "eprop_gradient", "init_eprop", "EpropParams", "ostl_gradient",
    # figures, hardware, streaming
    "reliability_diagram", "PCMConfig", "realise_weights", "StreamingPredictor",
]
