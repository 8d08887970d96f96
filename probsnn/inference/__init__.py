"""Ways to learn network parameters: MAP, Bayesian inference, online rules, BPTT, ..."""
from .map import MAPResult, fit_map
