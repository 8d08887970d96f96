"""Ways to learn network parameters: MAP, Bayesian inference, online rules, BPTT, ..."""
