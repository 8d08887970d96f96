"""Same seed, same result: every learner run twice in one process with the same seed gives exactly equal arrays.

And, where the result depends on the seed (sampling, random initialisation, random data), another seed gives a
different result, so that a learner which ignored its seed, or drew from a global state, would fail. Problems
are tiny; the ThreeFactorVI, Reinforce and synaptic-sampling problems are those of test_checkpoint (their
compiled scans are shared when both files run).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from test_checkpoint import LANGEVIN, langevin_problem, reinforce_problem, three_factor_problem

import probsnn as ps
from probsnn import basis
from probsnn.inference.bptt import fit_bptt
from probsnn.inference.eprop import eprop_gradient, init_eprop
from probsnn.inference.ostl import ostl_gradient
from probsnn.inference.stdp import STDPParams, run_stdp
from probsnn.inference.synaptic_sampling import synaptic_sampling
from probsnn.neurons.layers import init_feedforward
from probsnn.neurons.lif import lif_neuron, lif_params


def _glm_problem(seed=0):
    """One Bernoulli neuron with self-history (2 weights + bias), 60 bins simulated with ``seed``."""
    net = ps.GLMNetwork(1, history_basis=basis.identity(1), observation="bernoulli")
    true = net.init_params(bias=-1.0)._replace(coupling_weights=jnp.array([[[0.8]]]))
    return net, net.simulate_data(true, jax.random.PRNGKey(100 + seed), n_steps=60)


def _posterior(idata):
    return {name: value.values for name, value in idata.posterior.data_vars.items()}


def _fit_map(seed):
    net, data = _glm_problem()  # deterministic: the same data for every seed
    fit = ps.fit_map(net, data, prior=None, progress=False)
    return fit.params, fit.standard_errors


def _fit_laplace(seed):
    net, data = _glm_problem()
    return _posterior(ps.laplace_posterior(net, data, num_samples=20, seed=seed, log_likelihood=None,
                                           progress=False))


def _fit_svi(seed):
    net, data = _glm_problem()
    # a point-mass guide compiles in a fraction of the time of "normal"; the seed sets its random start
    return _posterior(ps.fit_svi(net, data, guide="delta", num_steps=10, num_samples=5, seed=seed, init=None,
                                 log_likelihood=None, progress=False, warn=False))


def _fit_nuts(seed):
    net, data = _glm_problem()
    # no warm-up and a diagonal mass: one compiled sampler per call (the seed still sets the start and every draw)
    return _posterior(ps.fit_nuts(net, data, num_warmup=0, num_samples=5, num_chains=1, seed=seed, init=None,
                                  mass="diag", max_tree_depth=3, log_likelihood=None, progress=False, warn=False))


def _synaptic_sampling(seed):
    net, data, sampler = langevin_problem()
    return _posterior(synaptic_sampling(net, data, seed=seed, sampler=sampler, **LANGEVIN))


def _three_factor(seed):
    learner, params, visible = three_factor_problem()
    opt_state, state = learner.init(params)
    return learner.run(params, opt_state, state, np.zeros((28, 0)), visible, jax.random.PRNGKey(seed))


def _reinforce(seed):
    return reinforce_problem().train(jax.random.PRNGKey(seed), 8, chunk=2)


def _streaming(seed):
    predictor = ps.StreamingPredictor([1.0, 2.0], n_latent=2, n_samples=2, window=2, n_basis=1, seed=seed)
    values = np.tile([0.5, 1.5, 2.5, 1.5], 5)
    return [predictor.update(v).probabilities for v in values], predictor.snapshot()


def _bptt(seed):
    rng = np.random.default_rng(0)
    data = [(jnp.asarray(rng.normal(size=(4, 3))), jnp.asarray(rng.normal(size=4))) for _ in range(2)]
    key_a, key_b = jax.random.split(jax.random.PRNGKey(seed))
    params = {"a": jax.random.normal(key_a, (3, 2)), "b": jax.random.normal(key_b, (2,))}
    return fit_bptt(lambda w, x, y: jnp.mean((jnp.tanh(x @ w["a"]) @ w["b"] - y) ** 2), params, data,
                    optax.adam(0.1), n_epochs=2)


_SPIKES = (jax.random.uniform(jax.random.PRNGKey(0), (12, 2, 3)) < 0.4).astype(float)
_TARGETS = jax.random.normal(jax.random.PRNGKey(1), (12, 2, 2))


def _squared_error(y, target):
    return 0.5 * jnp.sum((y - target) ** 2)


def _eprop(seed):
    params = init_eprop(jax.random.PRNGKey(seed), 3, 2, lif_params(4, 0.8, 0.6), input_scale=3.0)
    return eprop_gradient(lif_neuron(detach_reset=True), params, _SPIKES, _TARGETS, _squared_error)


def _ostl(seed):
    params = [init_feedforward(jax.random.PRNGKey(seed), 3, lif_params(2, 0.8, 0.6), 3.0)]
    return ostl_gradient([lif_neuron(detach_reset=True)], params, _SPIKES, _TARGETS,
                         lambda state, target: _squared_error(state.membrane, target))


def _stdp(seed):
    pre, post = (jax.random.uniform(k, (200, n)) < 0.1 for k, n in zip(jax.random.split(jax.random.PRNGKey(seed)),
                                                                         (3, 2)))
    return run_stdp(STDPParams(), jnp.full((2, 3), 0.5), pre.astype(float), post.astype(float))


def _simulate(seed):
    net, _ = _glm_problem()
    params = net.init_params(bias=-1.0)._replace(coupling_weights=jnp.array([[[0.8]]]))
    return net.simulate(params, jax.random.PRNGKey(seed), n_steps=50)


LEARNERS = {  # name: (run(seed) -> arrays, whether another seed must change the result)
    "fit_map": (_fit_map, False), "fit_laplace": (_fit_laplace, True), "fit_svi": (_fit_svi, True),
    "fit_nuts": (_fit_nuts, True), "synaptic_sampling": (_synaptic_sampling, True),
    "ThreeFactorVI": (_three_factor, True), "Reinforce": (_reinforce, True), "StreamingPredictor": (_streaming, True),
    "fit_bptt": (_bptt, True), "e-prop": (_eprop, True), "OSTL": (_ostl, True), "STDP": (_stdp, True),
    "simulate": (_simulate, True),
}


def _leaves(result) -> list[np.ndarray]:
    leaves = jax.tree_util.tree_leaves(result)
    assert leaves, "the learner returned no arrays"
    return [np.asarray(jax.random.key_data(leaf) if jnp.issubdtype(getattr(leaf, "dtype", float),
                                                                    jax.dtypes.prng_key) else leaf)
            for leaf in leaves]


def _identical(a, b) -> bool:
    return len(a) == len(b) and all(x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y, equal_nan=True)
                                    for x, y in zip(a, b))


@pytest.mark.parametrize("name", list(LEARNERS))
def test_same_seed_same_result_and_another_seed_another_result(name):
    run, stochastic = LEARNERS[name]
    first, again = _leaves(run(0)), _leaves(run(0))
    assert _identical(first, again), f"{name}: two runs with seed 0 differ"
    if stochastic:
        other = _leaves(run(1))
        assert not _identical(first, other), f"{name}: seeds 0 and 1 give the same result (is the seed used?)"
