"""Deterministic limits: LIF is the temperature -> 0 limit of the Bernoulli GLM neuron with a reset kernel.

LIF (reset by subtraction): v_t = alpha v_{t-1} + I_t - theta s_{t-1}, s_t = H(v_t - theta), I_t = x_t W.
Unrolled: v_t - theta = sum_l alpha^l I_{t-l} + sum_l (-theta) alpha^l s_{t-1-l} - theta, i.e. the GLM
potential u_t with exponential stimulus kernel alpha^l (lag offset 0, weight W), self-history kernel
alpha^l (lag offset 1, weight -theta) and bias -theta. P(spike) = sigmoid(u / temperature) -> H(u).
"""
import jax
import jax.numpy as jnp
import numpy as np

from probsnn.basis import exponential
from probsnn.neurons.glm import GLMNetwork, GLMParams
from probsnn.neurons.layers import FeedForwardParams, feedforward_layer
from probsnn.neurons.lif import lif_neuron, lif_params

ALPHA, WINDOW, T, D, N = 0.8, 160, 400, 3, 4  # 0.8**160 ~ 3e-16: the truncated kernel is exact in float64
THETA = np.array([1.0, 0.7, 1.3, 0.9])


_GLM_CACHE = {}


def _lif_and_glm(temperature):
    rng = np.random.default_rng(0)
    stimulus = (rng.random((T, D)) < 0.3).astype(float)
    weights = rng.normal(0.0, 0.8, (D, N)) + 0.3
    lif_layer = FeedForwardParams(jnp.asarray(weights), lif_params(N, ALPHA, THETA))
    _, states = feedforward_layer(lif_neuron("subtract"), lif_layer, jnp.asarray(stimulus)[:, None, :])
    net = GLMNetwork(
        N,
        stimulus_basis=exponential(WINDOW, decays=[ALPHA], lag_offset=0),
        history_basis=exponential(WINDOW, decays=[ALPHA], lag_offset=1),
        n_stimulus_dims=D,
        observation="bernoulli",
        temperature=temperature,
        coupling=False,
        self_history=True,
    )
    coupling = np.zeros((N, N, 1))
    coupling[np.arange(N), np.arange(N), 0] = -THETA
    params = GLMParams(jnp.asarray(weights.T[:, :, None]), jnp.asarray(coupling), jnp.asarray(-THETA))
    _GLM_CACHE.update(net=net, params=params, stimulus=stimulus)
    spikes, potentials = net.simulate(params, jax.random.PRNGKey(1), T, stimulus)
    return states, np.asarray(spikes), np.asarray(potentials)


def test_lif_is_the_zero_temperature_limit_of_the_glm():
    states, glm_spikes, glm_potential = _lif_and_glm(temperature=1e-9)
    lif_spikes = np.asarray(states.spikes[:, 0])
    lif_distance = np.asarray(states.membrane[:, 0]) - THETA
    assert lif_spikes.sum() > 50  # a real spiking regime, not a silent one
    # same potentials along the same spike train, hence the same spikes
    np.testing.assert_allclose(glm_potential, lif_distance, atol=1e-10)
    np.testing.assert_array_equal(glm_spikes, lif_spikes)
    # the chance that any bin differs is bounded by sum_t sigmoid(-|u_t| / temperature)
    assert np.min(np.abs(lif_distance)) > 1e-6


def test_agreement_probability_at_finite_temperature():
    # At temperature tau the GLM reproduces the whole LIF train with probability prod_t sigmoid(|u_t| / tau),
    # u_t = v_t - theta along the LIF trajectory (each bin agrees independently given an agreeing past).
    states, _, _ = _lif_and_glm(temperature=1e-9)
    distance = np.abs(np.asarray(states.membrane[:, 0]) - THETA)

    def p_agree(tau):
        return float(np.exp(-np.sum(np.logaddexp(0.0, -distance / tau))))

    low, high = 1e-4, 1.0  # bisect for tau with p_agree = 0.5
    for _ in range(60):
        mid = np.sqrt(low * high)
        low, high = (mid, high) if p_agree(mid) > 0.5 else (low, mid)
    tau = float(np.sqrt(low * high))
    expected = p_agree(tau)
    n_runs = 300
    _, glm_spikes, _ = _lif_and_glm(tau)  # also builds the network once
    net_agree = 0
    net, params, stimulus = _GLM_CACHE["net"], _GLM_CACHE["params"], _GLM_CACHE["stimulus"]
    lif_spikes = np.asarray(states.spikes[:, 0])
    for seed in range(n_runs):
        spikes, _ = net.simulate(params, jax.random.PRNGKey(100 + seed), T, stimulus)
        net_agree += bool(np.array_equal(np.asarray(spikes), lif_spikes))
    se = np.sqrt(expected * (1 - expected) / n_runs)
    assert abs(net_agree / n_runs - expected) < 4 * se
    # and colder is more faithful: p_agree is monotone and -> 1
    assert p_agree(tau / 10) > expected and p_agree(1e-6) > 1 - 1e-9
