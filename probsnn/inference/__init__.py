"""Ways to learn network parameters: MAP, Bayesian inference, online rules, BPTT, ..."""
from .map import MAPResult, fit_map
from .laplace import laplace_posterior
from .mcmc import fit_nuts
from .svi import fit_svi
from . import bptt, eprop, ostl
from .stdp import STDPParams, WindowedSTDPParams, run_stdp, stdp_step, windowed_stdp_update
from .three_factor import ThreeFactorState, ThreeFactorVI
from .policy_gradient import FirstToSpikePolicy, Reinforce
from .synaptic_sampling import LangevinDivergenceError, SynapticSampler, synaptic_sampling
