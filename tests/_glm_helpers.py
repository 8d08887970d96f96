"""Small simulated GLM networks shared by the GLM tests."""
import jax
import jax.numpy as jnp
import numpy as np

import probsnn as ps
from probsnn import basis


def make_network(observation="poisson", n_neurons=3, n_bins=20_000, seed=0, coupling_scale=0.1, **kwargs):
    """A network with stimulus and coupling filters, parameters, and data simulated from it."""
    rng = np.random.default_rng(seed)
    net = ps.GLMNetwork(
        n_neurons,
        stimulus_basis=basis.raised_cosine_linear(3, 10, lag_offset=0),
        history_basis=basis.raised_cosine_log(4, 30),
        observation=observation,
        **kwargs,
    )
    params = net.init_params(bias=-3.0)
    coupling = rng.normal(0, coupling_scale, params.coupling_weights.shape)
    coupling[np.arange(n_neurons), np.arange(n_neurons)] += np.array([-2.0, -1.0, 0.0, 0.0])
    params = params._replace(
        stimulus_weights=jnp.asarray(rng.normal(0, 0.5, params.stimulus_weights.shape)),
        coupling_weights=jnp.asarray(coupling),
    )
    stimulus = rng.normal(size=(n_bins, 1))
    data = net.simulate_data(params, jax.random.PRNGKey(seed), stimulus=stimulus)
    return net, params, data
