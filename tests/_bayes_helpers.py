"""Shared small problems for the Bayesian-inference tests."""
from __future__ import annotations

import numpy as np


def sbc_problem(n_datasets: int = 100, n_bins: int = 200, seed: int = 0):
    """``n_datasets`` independent tiny Bernoulli GLMs (2 stimulus weights + bias) with parameters drawn from
    their prior, stacked as the uncoupled neurons of one network so that every fit is vectorised over them."""
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist

    import probsnn as ps
    from probsnn import basis

    rng = np.random.default_rng(seed)
    net = ps.GLMNetwork(n_datasets, stimulus_basis=basis.raised_cosine_log(2, 6, lag_offset=0),
                        observation="bernoulli")
    priors = ps.GLMPriors(stimulus=dist.Normal(0.0, 1.0), bias=dist.Normal(0.0, 1.0))
    truth = net.init_params()._replace(
        stimulus_weights=jnp.asarray(rng.normal(0.0, 1.0, (n_datasets, 1, 2))),
        bias=jnp.asarray(rng.normal(0.0, 1.0, n_datasets)),
    )
    stimulus = rng.normal(0.0, 1.0, (n_bins, 1))
    data = net.simulate_data(truth, jax.random.PRNGKey(seed), n_steps=n_bins, stimulus=stimulus)
    return net, priors, truth, data


def flat_truth_and_draws(net, truth, idata):
    """Truth ``[n_datasets, 3]`` and draws ``[n_datasets, L, 3]`` (stimulus weights then bias)."""
    post = idata.posterior
    w = post["stimulus_weights"].values  # [C, S, N, 1, 2]
    b = post["bias"].values  # [C, S, N]
    draws = np.concatenate([w.reshape(w.shape[:3] + (2,)), b[..., None]], axis=-1)
    draws = draws.reshape((-1,) + draws.shape[2:]).transpose(1, 0, 2)
    t = np.concatenate([np.asarray(truth.stimulus_weights).reshape(-1, 2), np.asarray(truth.bias)[:, None]], axis=1)
    return t, draws
