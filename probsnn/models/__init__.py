"""NumPyro model functions (priors + likelihood) over probsnn networks."""
