"""Property tests of the GLM network and its learners: malformed input gets a clear error naming the argument
(ValueError/TypeError) or a finite, documented result. Examples per entry point: docs/reliability.md."""
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from _property_helpers import (
    BAD_ARRAY_ENTRY,
    BAD_NON_NEGATIVE_INT,
    BAD_OPTION,
    BAD_POSITIVE_FLOAT,
    BAD_POSITIVE_INT,
    BAD_UNIT_FLOAT,
    CHEAP,
    JITTED,
    NON_FINITE,
    NOT_A_NUMBER,
    assert_finite,
    expect_error,
    expect_error_or_finite,
    plant,
)
from hypothesis import given
from hypothesis import strategies as st

import probsnn as ps
from probsnn import basis
from probsnn.envs.gridworld import windy_gridworld

STIM_BASIS = basis.raised_cosine_linear(2, 4, lag_offset=0)
HIST_BASIS = basis.raised_cosine_log(2, 5)
NET = ps.GLMNetwork(2, stimulus_basis=STIM_BASIS, history_basis=HIST_BASIS)
BERNOULLI = ps.GLMNetwork(2, stimulus_basis=STIM_BASIS, history_basis=HIST_BASIS, observation="bernoulli")
_rng = np.random.default_rng(0)
STIMULUS = _rng.normal(size=(60, 1))
COUNTS = _rng.poisson(0.3, size=(60, 2))
DATA = ps.SpikeData(COUNTS, dt=0.01, stimulus=STIMULUS)
BINARY = ps.SpikeData(np.minimum(COUNTS, 1), dt=0.01, stimulus=STIMULUS)
PARAMS = NET.init_params(jax.random.PRNGKey(0), bias=-1.0)
KEY = jax.random.PRNGKey(0)


def bad_params(field_index, entry, value):
    """PARAMS with ``value`` planted at flat position ``entry`` of field ``field_index``."""
    fields = list(PARAMS)
    fields[field_index] = jnp.asarray(plant(np.asarray(fields[field_index]), entry, value))
    return ps.GLMParams(*fields)


bad_glm_params = st.builds(bad_params, st.integers(0, 2), st.integers(0, 20), BAD_ARRAY_ENTRY)


# ============================================================================ GLMNetwork
@CHEAP
@given(n=BAD_NON_NEGATIVE_INT, temperature=BAD_POSITIVE_FLOAT, link=BAD_OPTION, observation=BAD_OPTION)
def test_glm_network_bad_arguments(n, temperature, link, observation):
    expect_error(lambda: ps.GLMNetwork(n), ["n_visible"])
    expect_error(lambda: ps.GLMNetwork(1, n), ["n_latent"])
    expect_error(lambda: ps.GLMNetwork(0, 0), ["n_visible"])
    expect_error(lambda: ps.GLMNetwork(2, observation="bernoulli", temperature=temperature), ["temperature"])
    expect_error(lambda: ps.GLMNetwork(2, link=link), ["link"])
    expect_error(lambda: ps.GLMNetwork(2, observation=observation), ["observation"])


@CHEAP
@given(shape=st.tuples(st.integers(0, 4), st.integers(0, 4)).filter(lambda s: s != (2, 2)),
       not_a_basis=st.sampled_from([np.eye(3), "log", 3, [[1.0]]]))
def test_glm_network_bad_masks_and_bases(shape, not_a_basis):
    expect_error(lambda: ps.GLMNetwork(2, history_basis=HIST_BASIS, coupling_mask=np.ones(shape, bool)),
                 ["coupling_mask"])
    expect_error(lambda: ps.GLMNetwork(2, stimulus_basis=STIM_BASIS, stimulus_mask=np.ones(shape + (1,), bool)),
                 ["stimulus_mask"])
    expect_error(lambda: ps.GLMNetwork(2, history_basis=not_a_basis), ["history_basis"])
    expect_error(lambda: ps.GLMNetwork(2, stimulus_basis=not_a_basis), ["stimulus_basis"])
    expect_error(lambda: ps.GLMNetwork(2, history_basis=HIST_BASIS.with_lag_offset(0)), ["lag_offset"])


@CHEAP
@given(value=st.one_of(NON_FINITE, st.sampled_from(["1.0", None, [1.0, 2.0, 3.0]])))
def test_init_params_bad_scale_or_bias(value):
    expect_error(lambda: NET.init_params(bias=value), ["bias"])
    expect_error(lambda: NET.init_params(KEY, scale=value), ["scale"])


@CHEAP
@given(bias=st.floats(-30, 30), scale=st.floats(0, 10))
def test_init_params_finite(bias, scale):
    params = NET.init_params(KEY, scale=scale, bias=bias)
    assert_finite(params)
    NET.check_params(params)


@CHEAP
@given(data=st.sampled_from([
    ps.SpikeData(COUNTS[:, :1], dt=0.01, stimulus=STIMULUS),  # wrong number of neurons
    ps.SpikeData(COUNTS, dt=0.01),  # no stimulus
    ps.SpikeData(COUNTS, dt=0.01, stimulus=np.hstack([STIMULUS, STIMULUS])),  # two stimulus dims
    COUNTS, None, "data"]))
def test_design_matrix_mismatched_data(data):
    expect_error(lambda: NET.design_matrix(data), ["neurons", "stimulus", "data"])


@CHEAP
@given(counts=st.integers(2, 9), index=st.integers(0, 119))
def test_bernoulli_needs_binary_spikes(counts, index):
    data = ps.SpikeData(plant(np.minimum(COUNTS, 1), index, counts), dt=0.01, stimulus=STIMULUS)
    expect_error(lambda: BERNOULLI.design_matrix(data), ["binary"])
    expect_error(lambda: BERNOULLI.log_likelihood(BERNOULLI.init_params(), data), ["binary"])


@JITTED
@given(n_bins=st.integers(1, 6))
def test_design_matrix_shorter_than_window_is_finite(n_bins):
    """Fewer bins than the basis window: zero-padded history (documented), finite features."""
    data = DATA.time_slice(0, n_bins)
    design = NET.design_matrix(data)
    assert design.shape == (n_bins, NET.n_features)
    assert_finite(design)


@CHEAP
@given(params=bad_glm_params)
def test_log_likelihood_non_finite_params(params):
    expect_error(lambda: NET.log_likelihood(params, DATA), ["params"])


@CHEAP
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3)).filter(lambda s: s != (2,)),
       per=BAD_OPTION.filter(lambda p: p not in ("total", "neuron", "bin")))
def test_log_likelihood_wrong_shapes_and_per(shape, per):
    expect_error(lambda: NET.log_likelihood(PARAMS._replace(bias=jnp.zeros(shape)), DATA), ["bias"])
    expect_error(lambda: NET.log_likelihood(PARAMS, DATA, per=per), ["per"])
    expect_error(lambda: NET.log_likelihood(tuple(PARAMS), DATA), ["params"])


@JITTED
@given(bias=st.floats(-20, 3), coupling=st.floats(-5, 0.5))
def test_log_likelihood_finite(bias, coupling):
    params = PARAMS._replace(bias=jnp.full(2, bias), coupling_weights=jnp.full_like(PARAMS.coupling_weights, coupling))
    assert np.isfinite(float(NET.log_likelihood(params, DATA)))


@CHEAP
@given(n_steps=BAD_POSITIVE_INT)
def test_simulate_bad_n_steps(n_steps):
    net = ps.GLMNetwork(2, history_basis=HIST_BASIS)
    expect_error(lambda: net.simulate(net.init_params(), KEY, n_steps=n_steps), ["n_steps"])


@CHEAP
@given(stimulus=st.one_of(
    st.integers(0, 19).map(lambda i: plant(np.zeros((20, 1)), i, math.nan)), st.just(np.full((20, 1), math.inf)),
    st.just(np.zeros((20, 2))), st.just(np.zeros((2, 3, 1)))),
    n_steps=st.sampled_from([None, 19]))
def test_simulate_bad_stimulus(stimulus, n_steps):
    expect_error(lambda: NET.simulate(PARAMS, KEY, n_steps=n_steps, stimulus=stimulus), ["stimulus"])


@CHEAP
@given(stimulus=st.sampled_from([np.array([["a"]] * 20), np.array([[None]] * 20, dtype=object)]))
def test_simulate_non_numeric_stimulus(stimulus):
    expect_error(lambda: NET.simulate(PARAMS, KEY, stimulus=stimulus), ["stimulus"])


@CHEAP
@given(history=st.sampled_from([np.zeros((3, 3)), np.zeros(3), np.zeros((2, 2, 2))]), params=bad_glm_params)
def test_simulate_bad_history_or_params(history, params):
    expect_error(lambda: NET.simulate(PARAMS, KEY, stimulus=STIMULUS[:20], initial_history=history),
                 ["initial_history"])
    expect_error(lambda: NET.simulate(params, KEY, stimulus=STIMULUS[:20]), ["params"])


@JITTED
@given(bias=st.floats(-10, 1), self_weight=st.floats(-5, 0))
def test_simulate_finite_binary_bernoulli(bias, self_weight):
    params = BERNOULLI.init_params(bias=bias)
    params = params._replace(coupling_weights=params.coupling_weights + self_weight)
    spikes, potential = BERNOULLI.simulate(params, KEY, stimulus=STIMULUS[:20])
    assert_finite((spikes, potential))
    assert set(np.unique(np.asarray(spikes))) <= {0.0, 1.0}


@JITTED
@given(bias=st.floats(0, 5), coupling=st.floats(1.0, 5.0))
def test_simulate_poisson_runaway_raises_or_is_spike_data(bias, coupling):
    """Excitatory coupling with the exp link: either an error naming the runaway and the fix (the default,
    on_explosion='raise'), or counts a recording can hold; never int64-saturated counts returned silently."""
    params = PARAMS._replace(bias=jnp.full(2, bias), coupling_weights=jnp.full_like(PARAMS.coupling_weights, coupling))
    try:
        spikes, potential = NET.simulate(params, KEY, stimulus=STIMULUS)
    except ValueError as err:
        assert "simulate" in str(err) and "explosive" in str(err) and "coupling_weights" in str(err)
        return
    assert_finite((spikes, potential))
    assert np.asarray(spikes).max() <= 2**24, "counts beyond MAX_COUNT_PER_BIN returned without an error"


@CHEAP
@given(option=BAD_OPTION.filter(lambda o: o not in ("raise", "warn")))
def test_simulate_bad_on_explosion(option):
    expect_error(lambda: NET.simulate(PARAMS, KEY, stimulus=STIMULUS[:20], on_explosion=option), ["on_explosion"])


# ============================================================================ fit_map
@CHEAP
@given(max_iter=BAD_POSITIVE_INT, tol=BAD_POSITIVE_FLOAT.filter(lambda t: t is not None))  # None: the default
def test_fit_map_bad_iterations_and_tolerance(max_iter, tol):
    expect_error(lambda: ps.fit_map(NET, DATA, max_iter=max_iter), ["max_iter"])
    expect_error(lambda: ps.fit_map(NET, DATA, tol=tol), ["tol"])


@CHEAP
@given(prior=st.sampled_from(["ridge", 1.0, {"ridge": 1.0}, object()]), init=bad_glm_params)
def test_fit_map_bad_prior_or_init(prior, init):
    expect_error(lambda: ps.fit_map(NET, DATA, prior=prior), ["prior"])
    expect_error(lambda: ps.fit_map(NET, DATA, init=init), ["params"])


@CHEAP
@given(shape=st.tuples(st.integers(1, 70), st.integers(1, 12)).filter(lambda s: s != (60, NET.n_features)))
def test_fit_map_design_wrong_shape(shape):
    expect_error(lambda: ps.fit_map(NET, DATA, design=np.zeros(shape)), ["design"])


@JITTED
@given(index=st.integers(0, 60 * 9 - 1), value=BAD_ARRAY_ENTRY)
def test_fit_map_non_finite_design(index, value):
    design = plant(np.asarray(NET.design_matrix(DATA)), index, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expect_error(lambda: ps.fit_map(NET, DATA, design=design), ["design"])


@CHEAP
@given(silent=st.integers(0, 1))
def test_fit_map_silent_neuron_needs_a_prior(silent):
    counts = COUNTS.copy()
    counts[:, silent] = 0
    data = ps.SpikeData(counts, dt=0.01, stimulus=STIMULUS)
    expect_error(lambda: ps.fit_map(NET, data), ["spikes", "bias"])


# ============================================================================ laplace_posterior / fit_svi / fit_nuts
# The validation paths only: every case below raises before any fit (the fits are covered by their own tests).
@CHEAP
@given(num_samples=st.one_of(BAD_POSITIVE_INT, st.just(1)), num_chains=BAD_POSITIVE_INT,
       seed=st.one_of(NON_FINITE, NOT_A_NUMBER, st.floats(0.5, 10).filter(lambda x: x != int(x))),
       log_likelihood=st.one_of(st.sampled_from(["pointwise", "all", 0, 0.0, np.int64(0), -3, 61, 1.5, math.nan]),
                                st.integers(61, 10**6)),
       fit=st.sampled_from(["map", 1.0, PARAMS]))
def test_laplace_posterior_bad_arguments(num_samples, num_chains, seed, log_likelihood, fit):
    expect_error(lambda: ps.laplace_posterior(NET, DATA, num_samples=num_samples), ["num_samples"])
    expect_error(lambda: ps.laplace_posterior(NET, DATA, num_chains=num_chains), ["num_chains"])
    expect_error(lambda: ps.laplace_posterior(NET, DATA, seed=seed), ["seed"])
    expect_error(lambda: ps.laplace_posterior(NET, DATA, log_likelihood=log_likelihood), ["log_likelihood"])
    expect_error(lambda: ps.laplace_posterior(NET, DATA, fit=fit), ["fit"])
    expect_error(lambda: ps.laplace_posterior(NET, DATA.counts), ["data"])


@CHEAP
@given(num_steps=BAD_POSITIVE_INT, learning_rate=BAD_POSITIVE_FLOAT, num_particles=BAD_POSITIVE_INT,
       guide=BAD_OPTION.filter(lambda g: g is not None), init=BAD_OPTION.filter(lambda g: g is not None))
def test_fit_svi_bad_arguments(num_steps, learning_rate, num_particles, guide, init):
    expect_error(lambda: ps.fit_svi(NET, DATA, num_steps=num_steps), ["num_steps"])
    expect_error(lambda: ps.fit_svi(NET, DATA, learning_rate=learning_rate), ["learning_rate"])
    expect_error(lambda: ps.fit_svi(NET, DATA, num_particles=num_particles), ["num_particles"])
    expect_error(lambda: ps.fit_svi(NET, DATA, guide=guide), ["guide"])
    expect_error(lambda: ps.fit_svi(NET, DATA, init=init), ["init"])


def test_fit_svi_huge_learning_rate(learning_rate=1e6):
    """A huge Adam step either diverges (one ValueError naming learning_rate, nothing drawn) or gives finite
    draws: never a posterior of NaN draws."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = expect_error_or_finite(
            lambda: ps.fit_svi(NET, DATA, num_steps=20, learning_rate=learning_rate, num_samples=4, init=None,
                               log_likelihood=None, warn=False), ["learning_rate"], errors=(ValueError,))
    if idata is not None:
        assert_finite([idata.posterior[name].values for name in ("bias", "coupling_weights")])


@CHEAP
@given(count=BAD_POSITIVE_INT, warmup=BAD_NON_NEGATIVE_INT, accept=st.one_of(BAD_UNIT_FLOAT, st.sampled_from(
    [0.0, 1.0])), chain_method=BAD_OPTION, mass=BAD_OPTION.filter(lambda m: m is not None),
    seed=st.one_of(NON_FINITE, NOT_A_NUMBER, st.floats(0.5, 10).filter(lambda x: x != int(x))))
def test_fit_nuts_bad_arguments(count, warmup, accept, chain_method, mass, seed):
    for name in ("num_samples", "num_chains", "thinning", "max_tree_depth"):
        expect_error(lambda: ps.fit_nuts(NET, DATA, **{name: count}), [name])
    expect_error(lambda: ps.fit_nuts(NET, DATA, num_warmup=warmup), ["num_warmup"])
    expect_error(lambda: ps.fit_nuts(NET, DATA, target_accept_prob=accept), ["target_accept_prob"])
    expect_error(lambda: ps.fit_nuts(NET, DATA, chain_method=chain_method), ["chain_method"])
    expect_error(lambda: ps.fit_nuts(NET, DATA, mass=mass), ["mass"])
    expect_error(lambda: ps.fit_nuts(NET, DATA, seed=seed), ["seed"])
    expect_error(lambda: ps.fit_nuts(NET, DATA, init="median"), ["init"])
    expect_error(lambda: ps.fit_nuts(NET, DATA, design=np.zeros((3, 3))), ["design"])


# ============================================================================ synaptic sampling
@CHEAP
@given(n_samples=BAD_POSITIVE_INT, decay=BAD_UNIT_FLOAT, theta0=st.one_of(NON_FINITE, NOT_A_NUMBER),
       option=BAD_OPTION)
def test_synaptic_sampler_bad_arguments(n_samples, decay, theta0, option):
    expect_error(lambda: ps.SynapticSampler(NET, n_samples=n_samples), ["n_samples"])
    expect_error(lambda: ps.SynapticSampler(NET, baseline_decay=decay), ["baseline_decay"])
    expect_error(lambda: ps.SynapticSampler(NET, theta0=theta0), ["theta0"])
    expect_error(lambda: ps.SynapticSampler(NET, parametrisation=option), ["parametrisation"])
    expect_error(lambda: ps.SynapticSampler(NET, multi_sample=option), ["multi_sample"])
    expect_error(lambda: ps.SynapticSampler("net"), ["net"])


@CHEAP
@given(count=BAD_POSITIVE_INT, step=BAD_POSITIVE_FLOAT, warmup=BAD_NON_NEGATIVE_INT, option=BAD_OPTION)
def test_synaptic_sampling_bad_arguments(count, step, warmup, option):
    run = lambda **kw: ps.synaptic_sampling(NET, DATA, **{"n_steps": 4, "step_size": 1e-3, "n_chains": 1,  # noqa
                                                          **kw})
    expect_error(lambda: run(n_steps=count), ["n_steps"])
    expect_error(lambda: run(n_chains=count), ["n_chains"])
    expect_error(lambda: run(thin=count), ["thin"])
    expect_error(lambda: run(step_size=step), ["step_size"])
    expect_error(lambda: run(temperature=step), ["temperature"])
    expect_error(lambda: run(n_warmup=warmup), ["n_warmup"])
    expect_error(lambda: run(on_divergence=option), ["on_divergence"])
    expect_error(lambda: run(batching=option), ["batching"])
    expect_error(lambda: run(batch_size=count if count is not None else 0), ["batch_size"])
    expect_error(lambda: run(divergence_threshold=step), ["divergence_threshold"])


@JITTED
@given(step_size=st.floats(1e-6, 1e3))
def test_synaptic_sampling_any_step_size_is_finite_or_divergence(step_size):
    """A (huge) step size gives either finite draws or the documented LangevinDivergenceError."""
    try:
        idata = ps.synaptic_sampling(NET, DATA, n_steps=8, step_size=step_size, n_chains=2, seed=0)
    except ps.LangevinDivergenceError as err:
        assert "step_size" in str(err) or "diverge" in str(err)
        return
    assert_finite([idata.posterior[name].values for name in ("bias", "coupling_weights", "stimulus_weights")])


# ============================================================================ ThreeFactorVI
LATENT = ps.GLMNetwork(2, 1, history_basis=HIST_BASIS, stimulus_basis=STIM_BASIS, observation="bernoulli")
LATENT_PARAMS = LATENT.init_params(KEY, bias=-1.0)
LEARNER = ps.ThreeFactorVI(LATENT)
OPT_STATE, LEARN_STATE = LEARNER.init(LATENT_PARAMS)
VISIBLE = np.minimum(COUNTS[:20], 1).astype(float)


@CHEAP
@given(rate=BAD_POSITIVE_FLOAT, kappa=BAD_UNIT_FLOAT.filter(lambda k: not isinstance(k, bool)),
       n_samples=BAD_POSITIVE_INT, option=BAD_OPTION)
def test_three_factor_vi_bad_arguments(rate, kappa, n_samples, option):
    expect_error(lambda: ps.ThreeFactorVI(LATENT, learning_rate=rate), ["learning_rate"])
    expect_error(lambda: ps.ThreeFactorVI(LATENT, kappa=kappa), ["kappa"])
    expect_error(lambda: ps.ThreeFactorVI(LATENT, n_samples=n_samples), ["n_samples"])
    expect_error(lambda: ps.ThreeFactorVI(LATENT, multi_sample=option), ["multi_sample"])
    expect_error(lambda: ps.ThreeFactorVI("net"), ["net"])


@CHEAP
@given(kappa=st.sampled_from([False, True, np.bool_(False), "0.5", b"0.5"]))
def test_three_factor_vi_bool_kappa(kappa):
    expect_error(lambda: ps.ThreeFactorVI(LATENT, kappa=kappa), ["kappa"])


@CHEAP
@given(case=st.sampled_from(["nan_stimulus", "inf_stimulus", "rank", "misaligned", "wide_visible", "nan_visible",
                             "non_binary", "negative", "nan_reward"]), index=st.integers(0, 39))
def test_three_factor_run_bad_streams(case, index):
    stimulus, visible, rewards = STIMULUS[:20], VISIBLE, None
    name = {"nan_stimulus": "stimulus", "inf_stimulus": "stimulus", "rank": "stimulus"}.get(case, "visible")
    if case == "nan_stimulus":
        stimulus = plant(stimulus, index, math.nan)
    elif case == "inf_stimulus":
        stimulus = plant(stimulus, index, math.inf)
    elif case == "rank":
        stimulus = stimulus[:, 0]
    elif case == "misaligned":
        visible = visible[:-1]
    elif case == "wide_visible":
        visible = np.hstack([visible, visible])
    elif case == "nan_visible":
        visible = plant(visible, index, math.nan)
    elif case == "non_binary":
        visible = plant(visible, index, 2.0)
    elif case == "negative":
        visible = plant(visible, index, -1.0)
    elif case == "nan_reward":
        rewards, name = plant(np.zeros(20), index, math.nan), "reward"
    expect_error(lambda: LEARNER.run(LATENT_PARAMS, OPT_STATE, LEARN_STATE, stimulus, visible, KEY, rewards), [name])


@CHEAP
@given(n=st.integers(0, 40).filter(lambda n: n != 20), extra=st.sampled_from([(), (1,), (2,)]))
def test_three_factor_run_misaligned_rewards(n, extra):
    expect_error(lambda: LEARNER.run(LATENT_PARAMS, OPT_STATE, LEARN_STATE, STIMULUS[:20], VISIBLE, KEY,
                                     np.zeros((n,) + extra)), ["reward"])


@JITTED
@given(scale=st.floats(0, 100))
def test_three_factor_run_finite(scale):
    params, _, _, (spikes, potential) = LEARNER.run(LATENT_PARAMS, OPT_STATE, LEARN_STATE, scale * STIMULUS[:20],
                                                    VISIBLE, KEY)
    assert_finite((params, spikes, potential))
    np.testing.assert_array_equal(np.asarray(spikes)[:, :, :2], np.broadcast_to(VISIBLE[:, None], (20, 1, 2)))


# ============================================================================ first-to-spike policy and REINFORCE
ENV = windy_gridworld(max_steps=8)
POLICY = ps.FirstToSpikePolicy(ps.OneHotEncoder(ENV.n_states), ENV.n_actions, n_steps=4)
POLICY_PARAMS = POLICY.init_params(KEY)


@CHEAP
@given(n_actions=st.integers(-3, 1),
       n_steps=st.one_of(st.integers(-3, 0), st.floats(0.5, 3.5).filter(lambda x: x != int(x))),
       temperature=st.floats(-10, 0), no_spike=st.one_of(st.integers(4, 10), st.integers(-5, -1)))
def test_first_to_spike_policy_bad_numbers(n_actions, n_steps, temperature, no_spike):
    encoder = ps.OneHotEncoder(3)
    expect_error(lambda: ps.FirstToSpikePolicy(encoder, n_actions, 4), ["n_actions"])
    expect_error(lambda: ps.FirstToSpikePolicy(encoder, 4, n_steps), ["n_steps"])
    expect_error(lambda: ps.FirstToSpikePolicy(encoder, 4, 4, temperature=temperature), ["temperature"])
    expect_error(lambda: ps.FirstToSpikePolicy(encoder, 4, 4, no_spike=no_spike), ["no_spike"])
    expect_error(lambda: ps.FirstToSpikePolicy("encoder", 4, 4), ["encoder"])


@CHEAP
@given(value=st.one_of(NOT_A_NUMBER, st.just(math.inf)))
def test_first_to_spike_policy_non_numbers(value):
    encoder = ps.OneHotEncoder(3)
    expect_error(lambda: ps.FirstToSpikePolicy(encoder, value, 4), ["n_actions"])
    expect_error(lambda: ps.FirstToSpikePolicy(encoder, 4, value), ["n_steps"])
    expect_error(lambda: ps.FirstToSpikePolicy(encoder, 4, 4, temperature=value), ["temperature"])


@CHEAP
@given(observation=st.one_of(NON_FINITE, st.integers(ENV.n_states, 10 ** 6), st.integers(-10 ** 6, -1),
                             st.floats(0.01, ENV.n_states - 0.01).filter(lambda x: x != int(x))))
def test_first_to_spike_decide_bad_observation(observation):
    """Refused by OneHotEncoder.probabilities on a concrete observation (an out-of-range state was silence)."""
    expect_error(lambda: POLICY.decide(POLICY_PARAMS, KEY, observation), ["observation"])


@JITTED
@given(state=st.integers(0, ENV.n_states - 1))
def test_first_to_spike_decide_valid_state(state):
    decision = POLICY.decide(POLICY_PARAMS, KEY, state)
    assert 0 <= int(decision.action) < ENV.n_actions
    assert np.isfinite(float(decision.log_prob))


@CHEAP
@given(batch_size=st.integers(-3, 0), gamma=st.one_of(st.floats(-10, -1e-6), st.floats(1 + 1e-6, 10)),
       decay=st.one_of(st.floats(-10, -1e-6), st.floats(1.0, 10)), rate=BAD_POSITIVE_FLOAT, option=BAD_OPTION)
def test_reinforce_bad_numbers(batch_size, gamma, decay, rate, option):
    expect_error(lambda: ps.Reinforce(POLICY, ENV, batch_size=batch_size), ["batch_size"])
    expect_error(lambda: ps.Reinforce(POLICY, ENV, gamma=gamma), ["gamma"])
    expect_error(lambda: ps.Reinforce(POLICY, ENV, baseline_decay=decay), ["baseline_decay"])
    expect_error(lambda: ps.Reinforce(POLICY, ENV, learning_rate=rate), ["learning_rate"])
    expect_error(lambda: ps.Reinforce(POLICY, ENV, value_learning_rate=rate), ["value_learning_rate"])
    expect_error(lambda: ps.Reinforce(POLICY, ENV, baseline=option), ["baseline"])
    expect_error(lambda: ps.Reinforce(POLICY, ENV, variant=option), ["variant"])
    expect_error(lambda: ps.Reinforce(POLICY, "env"), ["env"])


@CHEAP
@given(value=st.one_of(NOT_A_NUMBER, NON_FINITE))
def test_reinforce_non_numbers(value):
    for name in ("batch_size", "gamma", "baseline_decay", "trace_decay", "spike_penalty"):
        expect_error(lambda: ps.Reinforce(POLICY, ENV, **{name: value}), [name])


# ============================================================================ StreamingPredictor
EDGES = np.array([-1.0, 0.0, 1.0])


@CHEAP
@given(edges=st.one_of(st.just([]), st.just([1.0, 0.0]), st.just([0.0, 0.0]), st.just([[0.0, 1.0]]),
                       st.just("edges"), st.just([0.0, math.nan]), st.just([0.0, math.inf]), st.just(None)),
       count=BAD_POSITIVE_INT, latent=BAD_NON_NEGATIVE_INT, rate=BAD_POSITIVE_FLOAT, kappa=BAD_UNIT_FLOAT)
def test_streaming_predictor_bad_arguments(edges, count, latent, rate, kappa):
    expect_error(lambda: ps.StreamingPredictor(edges), ["edges"])
    expect_error(lambda: ps.StreamingPredictor(EDGES, n_latent=latent), ["n_latent"])
    for name in ("window", "n_basis", "n_samples"):
        expect_error(lambda: ps.StreamingPredictor(EDGES, **{name: count}), [name])
    expect_error(lambda: ps.StreamingPredictor(EDGES, learning_rate=rate), ["learning_rate"])
    expect_error(lambda: ps.StreamingPredictor(EDGES, kappa=kappa if kappa != 0.0 else -1.0), ["kappa"])


PREDICTOR = ps.StreamingPredictor(EDGES, n_latent=2, window=3, n_basis=2, n_samples=2)


@CHEAP
@given(value=NON_FINITE)
def test_streaming_update_bad_value(value):
    before = PREDICTOR.n_steps
    expect_error(lambda: PREDICTOR.update(value), ["value"])
    assert PREDICTOR.n_steps == before  # nothing consumed


@CHEAP
@given(value=st.sampled_from(["abc", None, [0.5], np.zeros(2)]))
def test_streaming_update_non_number(value):
    expect_error(lambda: PREDICTOR.update(value), ["value"])


@JITTED
@given(value=st.floats(-1e6, 1e6))
def test_streaming_update_finite(value):
    prediction = PREDICTOR.update(value)
    assert_finite(prediction)
    np.testing.assert_allclose(np.sum(prediction.probabilities), 1.0, rtol=1e-5)


@CHEAP
@given(n_bins=st.one_of(BAD_POSITIVE_INT, st.just(1)))
def test_with_quantile_bins_bad_n_bins(n_bins):
    expect_error(lambda: ps.StreamingPredictor.with_quantile_bins(np.arange(10.0), n_bins), ["n_bins"])


@CHEAP
@given(values=st.one_of(st.integers(0, 9).map(lambda i: plant(np.arange(10.0), i, math.nan)),
                        st.just(np.array([])), st.just(np.array(["a", "b"]))))
def test_with_quantile_bins_bad_values(values):
    expect_error(lambda: ps.StreamingPredictor.with_quantile_bins(values, 3), ["values"])
