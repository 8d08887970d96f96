"""Ways to learn network parameters, all on the same parameters of one network.

Batch and Bayesian (parallel mode): :func:`fit_map`, :func:`laplace_posterior`, :func:`fit_nuts`, :func:`fit_svi`
(:func:`fit_dispersion` for the laws with a dispersion) and their ArviZ conversion
(:mod:`probsnn.inference.idata`); sparse fits with Lasso, elastic-net and group-Lasso penalties
(:func:`fit_penalised`, :func:`penalised_path`). Online and sampling (sequential mode):
:class:`ThreeFactorVI`, :func:`synaptic_sampling`, first-to-spike policy gradient (:class:`FirstToSpikePolicy`,
:class:`Reinforce`). Deterministic networks: :mod:`bptt`, :mod:`eprop`, :mod:`ostl`, :mod:`stdp`.
"""
from . import (
    bptt,
    dispersion,
    eprop,
    evidence,
    idata,
    laplace,
    map,
    mcmc,
    ostl,
    penalised,
    policy_gradient,
    stdp,
    svi,
    three_factor,
)
from .dispersion import DispersionResult, fit_dispersion
from .evidence import EvidenceResult, evidence_curve, fit_evidence, laplace_log_evidence
from .laplace import laplace_posterior
from .map import MAPResult, fit_map
from .mcmc import fit_nuts
from .penalised import ElasticNet, GroupLasso, Lasso, PenalisedPath, PenalisedResult, fit_penalised, penalised_path
from .policy_gradient import FirstToSpikePolicy, Reinforce
from .stdp import STDPParams, WindowedSTDPParams, run_stdp, stdp_step, windowed_stdp_update
from .svi import fit_svi
from .synaptic_sampling import LangevinDivergenceError, SynapticSampler, retraction_probability, synaptic_sampling
from .three_factor import ThreeFactorState, ThreeFactorVI

__all__ = [
    # batch and Bayesian
    "fit_map", "MAPResult", "laplace_posterior", "fit_nuts", "fit_svi",
    # regularisation chosen by evidence
    "fit_evidence", "EvidenceResult", "laplace_log_evidence", "evidence_curve",
    # dispersion of the negative binomial, Gamma and Gaussian laws
    "fit_dispersion", "DispersionResult",
    # sparse fits: Lasso, elastic net, group Lasso and their paths
    "fit_penalised", "penalised_path", "PenalisedResult", "PenalisedPath", "Lasso", "ElasticNet", "GroupLasso",
    # online, sampling and control
    "ThreeFactorVI", "ThreeFactorState", "synaptic_sampling", "SynapticSampler", "retraction_probability",
    "LangevinDivergenceError", "FirstToSpikePolicy", "Reinforce",
    # deterministic networks
    "STDPParams", "WindowedSTDPParams", "run_stdp", "stdp_step", "windowed_stdp_update",
    # modules
    "bptt", "dispersion", "eprop", "evidence", "idata", "laplace", "map", "mcmc", "ostl", "penalised",
    "policy_gradient", "stdp",
    "svi", "three_factor",
]
