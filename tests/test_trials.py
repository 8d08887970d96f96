"""Trials (concatenated segments) and partially recorded units: SpikeData, design, likelihood, fits, simulation.

References: per-trial fits of each trial as its own SpikeData, brute-force loops over bins and lags, and
statsmodels' Poisson GLM on the observed rows only.
"""
import numpy as np
import pytest

from probsnn import SpikeData


# ------------------------------------------------------------------------------------------ SpikeData
def test_from_spike_times_bins_each_trial_on_its_own_grid():
    """Against np.histogram per trial: counts are the concatenated trials, gaps not binned."""
    rng = np.random.default_rng(1)
    trials = [(0.0, 0.3), (0.45, 0.85), (1.0, 1.2)]
    trains = [np.sort(rng.uniform(0.0, 1.5, size=n)) for n in (40, 25)]
    data = SpikeData.from_spike_times(trains, dt=0.01, t_start=0.0, t_stop=1.5, trials=trials)
    assert data.trial_starts == (0, 30, 70) and data.n_bins == 90 and data.n_trials == 3
    for i, train in enumerate(trains):
        reference = np.concatenate([np.histogram(train, a + 0.01 * np.arange(round((b - a) / 0.01) + 1))[0]
                                    for a, b in trials])
        np.testing.assert_array_equal(data.counts[:, i], reference)
    assert [s.stop - s.start for s in data.trial_slices()] == [30, 40, 20]
    np.testing.assert_array_equal(np.bincount(data.trial_index), [30, 40, 20])
    assert [t.n_bins for t in data.trials()] == [30, 40, 20]
    assert "trials=3" in repr(data)


def test_unit_intervals_give_the_observed_mask():
    data = SpikeData.from_spike_times([[0.05, 0.55], [0.35, 0.61]], dt=0.1, t_start=0.0, t_stop=1.0,
                                      unit_intervals=[None, [(0.3, 0.7)]])
    np.testing.assert_array_equal(data.observed[:, 1], (np.arange(10) >= 3) & (np.arange(10) < 7))
    assert data.observed[:, 0].all()
    np.testing.assert_array_equal(data.n_observed_bins, [10, 4])
    np.testing.assert_allclose(data.mean_rates, [2 / 1.0, 2 / 0.4])  # over the observed bins
    assert "observed=70.0%" in repr(data)


def test_slices_splits_and_folds_keep_trials_and_mask():
    counts = np.zeros((12, 2), int)
    counts[:, 0] = np.arange(12) % 2
    observed = np.ones((12, 2), bool)
    observed[:5, 1] = False
    data = SpikeData(counts, dt=0.01, stimulus=np.arange(12.0), trial_starts=[0, 4, 9], observed=observed)
    part = data.time_slice(2, 11)
    assert part.trial_starts == (0, 2, 7)
    np.testing.assert_array_equal(part.observed, observed[2:11])
    np.testing.assert_array_equal(part.stimulus[:, 0], np.arange(2.0, 11.0))
    train, test = data.split(0.5)  # bin 6 -> the nearest trial start (4)
    assert (train.n_bins, test.n_bins) == (4, 8) and test.trial_starts == (0, 5)
    train, test = data.split(0.5, by="trial")  # round(1.5) = 2 trials
    assert (train.n_bins, test.n_bins) == (9, 3) and train.trial_starts == (0, 4)
    lengths = [4, 5, 3]
    for by, n_folds in (("trial", 3), ("trial", 2), ("block", 2), ("block", 3)):
        held = []
        for fold_train, fold_test in data.folds(n_folds, by=by):
            assert fold_train.n_bins + fold_test.n_bins == 12
            for part in (fold_train, fold_test):  # every piece is a whole trial: lengths from the original ones
                pieces = np.diff(part.trial_bounds).tolist()
                assert all(p in lengths for p in pieces), (by, n_folds, pieces)
            held.append(fold_test.stimulus[:, 0])
        np.testing.assert_array_equal(np.sort(np.concatenate(held)), np.arange(12.0))  # each bin held out once
    # a continuous recording is cut into blocks, and the training part restarts at the junction
    blocks = list(SpikeData(counts, dt=0.01).folds(3, by="block"))
    assert blocks[1][0].trial_starts == (0, 4) and blocks[1][1].n_bins == 4


@pytest.mark.parametrize("trial_starts, message", [
    ([1, 5], r"trial_starts\[0\] must be 0"),
    ([0, 5, 5], "strictly increasing"),
    ([0, 7, 3], "strictly increasing"),
    ([0, 10], "must be < the number of bins"),
    ([0, 2.5], "integer bin indices"),
    (3, "1-D sequence"),
    ([[0, 2]], "1-D"),
])
def test_bad_trial_starts_raise(trial_starts, message):
    with pytest.raises(ValueError, match=message):
        SpikeData(np.zeros((10, 1)), dt=0.01, trial_starts=trial_starts)


def test_bad_observed_raise():
    counts = np.zeros((4, 2), int)
    counts[2, 1] = 3
    observed = np.ones((4, 2), bool)
    observed[2, 1] = False
    with pytest.raises(ValueError, match=r"found 3 spike\(s\) at bin 2, neuron 1"):
        SpikeData(counts, dt=0.01, observed=observed)
    with pytest.raises(ValueError, match="shape of counts"):
        SpikeData(counts, dt=0.01, observed=np.ones((4, 3), bool))
    with pytest.raises(ValueError, match="bool mask"):
        SpikeData(counts, dt=0.01, observed=np.full((4, 2), 0.5))
    assert SpikeData(counts, dt=0.01, observed=np.ones((4, 2), int)).observed is None  # all observed


@pytest.mark.parametrize("kwargs, message", [
    (dict(trials=[(0.0, 0.3), (0.2, 0.5)]), "non-overlapping"),
    (dict(trials=[(0.5, 0.7), (0.0, 0.3)]), "non-overlapping"),
    (dict(trials=[(0.0, 0.25)]), r"trials\[0\].*not a whole number of bins"),
    (dict(trials=[(0.5, 1.2)]), "outside the recording interval"),
    (dict(trials=[(0.3, 0.2)]), "stop <= start"),
    (dict(trials=[0.0, 0.3]), r"\(start, stop\) pairs"),
    (dict(trials=[(0.0, np.nan)]), "non-finite"),
    (dict(trials=[(0.0, 0.3)], stimulus=np.zeros(10)), "the trials hold 3"),
    (dict(unit_intervals=[[(0.0, 0.3)]]), "one list of"),
    (dict(unit_intervals=[[(0.0, 0.35)], None]), r"edge inside bin 3"),
    (dict(unit_intervals=[[(0.3, 0.8)], None]), r"spike_times\[0\]\[0\] = 0.15 lies outside the intervals"),
])
def test_bad_trials_and_unit_intervals_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpikeData.from_spike_times([[0.15, 0.45], [0.6]], dt=0.1, t_start=0.0, t_stop=1.0, **kwargs)


def test_split_and_folds_refuse_what_would_cut_a_trial():
    data = SpikeData(np.zeros((10, 1)), dt=0.01, trial_starts=[0, 6])
    with pytest.raises(ValueError, match="at least n_folds=3 trials"):
        data.folds(3, by="trial")
    with pytest.raises(ValueError, match="non-empty blocks of whole trials"):
        data.folds(3, by="block")
    with pytest.raises(ValueError, match="several trials"):
        SpikeData(np.zeros((10, 1)), dt=0.01).split(0.5, by="trial")
    with pytest.raises(ValueError, match="by must be one of"):
        data.split(0.5, by="bins")


# ------------------------------------------------------------------------------------------ GLM helpers
def _network(trial_edges="zero-pad", stimulus=True, coupling=True, history_window=12, observation="poisson"):
    from probsnn import GLMNetwork, basis

    return GLMNetwork(2, stimulus_basis=basis.raised_cosine_linear(2, 5, lag_offset=0) if stimulus else None,
                      history_basis=basis.raised_cosine_log(3, history_window), coupling=coupling,
                      trial_edges=trial_edges, observation=observation)


def _history_params(net, seed=0, self_weight=-1.0, bias=-2.5):
    """Strong self-history (refractory for ``self_weight < 0``, excitatory for ``> 0``) and weak coupling: history
    that crossed a trial boundary would change the next trial's potentials by O(1)."""
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    coupling = rng.normal(0.0, 0.1, net.param_mask.coupling_weights.shape)
    coupling[[0, 1], [0, 1]] += self_weight
    return net.init_params(bias=bias)._replace(
        stimulus_weights=jnp.asarray(rng.normal(0.0, 0.4, net.param_mask.stimulus_weights.shape)),
        coupling_weights=jnp.asarray(coupling * net.param_mask.coupling_weights))


def _brute_force_terms(net, params, data):
    """log p(s_{i,t} | u_{i,t}) by explicit loops over bins, neurons and lags, each trial with a zero past."""
    from scipy.special import gammaln

    filters = net.filters(params)
    bias = np.asarray(params.bias)
    terms = np.zeros(data.counts.shape)
    for trial in data.trial_slices():
        counts, stimulus = data.counts[trial], None if data.stimulus is None else data.stimulus[trial]
        for t in range(counts.shape[0]):
            for i in range(net.n_neurons):
                u = bias[i]
                if stimulus is not None:
                    for k, lag in enumerate(filters["stimulus_lags"]):
                        if t - lag >= 0:
                            u += filters["stimulus"][i, :, k] @ stimulus[t - lag]
                for k, lag in enumerate(filters["coupling_lags"]):
                    if t - lag >= 0:
                        u += filters["coupling"][i, :, k] @ counts[t - lag]
                s = counts[t, i]
                terms[trial.start + t, i] = s * u - np.exp(u) - gammaln(s + 1)
    return terms


def _brute_force_drop_weight(net, data):
    """1 where no filter of neuron i reaches before its trial's start or into an unobserved bin of a coupled neuron."""
    observed = np.ones(data.counts.shape, bool) if data.observed is None else data.observed
    weight = observed.astype(float)
    lags = net.history_basis.lags
    for trial in data.trial_slices():
        for t in range(trial.start, trial.stop):
            for i in range(net.n_neurons):
                if t - trial.start < net.window:
                    weight[t, i] = 0.0
                    continue
                for j in np.flatnonzero(net.coupling_mask[i]):
                    if not all(observed[t - lag, j] for lag in lags):
                        weight[t, i] = 0.0
    return weight


def _simulated_trials(net, params, lengths, seed=0):
    import jax

    rng = np.random.default_rng(seed)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    stimulus = rng.normal(size=(int(np.sum(lengths)), 1)) if net.n_stimulus_dims else None
    return net.simulate_data(params, jax.random.PRNGKey(seed), n_steps=int(np.sum(lengths)), stimulus=stimulus,
                             dt=0.001, trial_starts=starts)


# ------------------------------------------------------------------------------------------ likelihood and fits
@pytest.mark.parametrize("method, n_lags", [("direct", 7), ("fft", 300)])
def test_causal_convolve_restarts_at_trial_starts(method, n_lags):
    """One convolution of the concatenated trials equals each trial convolved on its own (zero past)."""
    from probsnn import basis, causal_convolve

    rng = np.random.default_rng(7)
    signal = rng.normal(size=(900, 2))
    starts = [0, 250, 260, 700]
    base = basis.raised_cosine_log(3, n_lags)
    joined = np.asarray(causal_convolve(signal, base, method, trial_starts=starts))
    bounds = starts + [900]
    separate = np.concatenate([np.asarray(causal_convolve(signal[a:b], base, "direct"))
                               for a, b in zip(bounds[:-1], bounds[1:])])
    np.testing.assert_allclose(joined, separate, atol=1e-10)
    assert np.abs(joined - np.asarray(causal_convolve(signal, base, method))).max() > 0.1


def test_fit_on_concatenated_trials_is_the_fit_of_the_separate_trials():
    """fit_map on trials with boundaries maximises the sum of per-trial log-likelihoods (each trial its own
    SpikeData): equal values at the optimum and a zero gradient of the per-trial sum there. Without the boundaries
    history crosses from one trial into the next and the log-likelihood differs by far more than 1e-8."""
    from probsnn import SpikeData, fit_map

    net = _network()
    data = _simulated_trials(net, _history_params(net), [700, 500, 800], seed=1)
    assert data.n_trials == 3
    fit = fit_map(net, data)
    assert fit.converged.all()
    pieces = data.trials()
    designs = [net.design_matrix(piece) for piece in pieces]
    per_trial = sum(float(net.log_likelihood(fit.params, piece, design=d)) for piece, d in zip(pieces, designs))
    assert abs(fit.log_likelihood - per_trial) < 1e-8
    # the gradient of the per-trial sum, sum_k X_k^T (s_k - exp(X_k w)) for the Poisson exp link, vanishes there
    weights = np.asarray(net.flatten(fit.params))
    gradient = sum(np.asarray(d).T @ (piece.counts - np.exp(np.asarray(d) @ weights.T))
                   for piece, d in zip(pieces, designs))
    assert np.max(np.abs(gradient * net.feature_mask.T)) < 1e-6
    # power: the same bins without boundaries
    joined = SpikeData(data.counts, dt=data.dt, stimulus=data.stimulus)
    difference = abs(float(net.log_likelihood(fit.params, joined)) - per_trial)
    assert difference > 1.0, difference
    refit = fit_map(net, joined)
    assert abs(refit.log_likelihood - per_trial) > 1e-3


@pytest.mark.parametrize("trial_edges", ["zero-pad", "drop"])
def test_log_likelihood_with_trials_and_mask_matches_a_brute_force_loop(trial_edges):
    rng = np.random.default_rng(2)
    net = _network(trial_edges, history_window=6)
    params = _history_params(net, seed=2)
    counts = rng.poisson(0.4, size=(70, 2))
    observed = np.ones((70, 2), bool)
    observed[30:41, 1] = False  # unit 1 lost for a while, inside the second trial
    counts[~observed] = 0
    data = SpikeData(counts, dt=0.001, stimulus=rng.normal(size=(70, 1)), trial_starts=[0, 25, 52],
                     observed=observed)
    weight = observed.astype(float) if trial_edges == "zero-pad" else _brute_force_drop_weight(net, data)
    np.testing.assert_array_equal(net.likelihood_weight(data), weight)
    expected = _brute_force_terms(net, params, data) * weight
    np.testing.assert_allclose(np.asarray(net.log_likelihood(params, data, per="bin")), expected, atol=1e-10)
    np.testing.assert_allclose(float(net.log_likelihood(params, data)), expected.sum(), rtol=1e-12)
    if trial_edges == "drop":  # the first `window` bins of each trial, and the bins after unit 1's gap, are out
        assert weight[:6].sum() == 0 and weight[25:31].sum() == 0 and weight[41:47, :].sum() == 0


@pytest.mark.parametrize("trial_edges", ["zero-pad", "drop"])
def test_masked_unit_fit_matches_statsmodels_on_its_observed_rows(trial_edges):
    """A unit recorded only in part of the session: fit_map with the observed mask gives, for every neuron,
    statsmodels' Poisson GLM on that neuron's observed rows of the same design (with dropped edges: the rows the
    brute-force loop keeps)."""
    import statsmodels.api as sm

    from probsnn import fit_map

    net = _network(trial_edges)
    data = _simulated_trials(net, _history_params(net, seed=3), [1000, 1000], seed=3)  # the shapes of the test above
    observed = np.ones(data.counts.shape, bool)
    observed[:800, 1] = False
    counts = np.where(observed, data.counts, 0)
    masked = SpikeData(counts, dt=data.dt, stimulus=data.stimulus, trial_starts=data.trial_starts, observed=observed)
    fit = fit_map(net, masked)
    assert fit.converged.all()
    design = np.asarray(net.design_matrix(masked))
    weights = np.asarray(net.flatten(fit.params))
    keep = observed if trial_edges == "zero-pad" else _brute_force_drop_weight(net, masked) > 0
    for i in range(2):
        rows = keep[:, i]
        reference = sm.GLM(counts[rows, i], design[rows], family=sm.families.Poisson()).fit(tol=1e-13, maxiter=200)
        np.testing.assert_allclose(weights[i], reference.params, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(fit.log_likelihood_per_neuron[i], reference.llf, rtol=1e-10)
    if trial_edges == "drop":
        return
    # power: zero-filling the unobserved bins (no mask) fits the unit to 800 silent bins: a far lower rate
    zero_filled = fit_map(net, SpikeData(counts, dt=data.dt, stimulus=data.stimulus, trial_starts=data.trial_starts))
    assert float(zero_filled.params.bias[1]) < float(fit.params.bias[1]) - 0.5


def test_bits_per_spike_counts_only_the_observed_bins():
    """A unit observed in the last bins only, without stimulus or coupling: its bits/spike on the masked session
    equals that on the slice where it is observed (its own history before is zero in both)."""
    from probsnn import fit_map
    from probsnn.diagnostics import bits_per_spike

    net = _network(stimulus=False, coupling=False)
    data = _simulated_trials(net, _history_params(net, seed=4), [2000], seed=4)
    observed = np.ones(data.counts.shape, bool)
    observed[:800, 0] = False
    masked = SpikeData(np.where(observed, data.counts, 0), dt=data.dt, observed=observed)
    fit = fit_map(net, masked)
    np.testing.assert_allclose(bits_per_spike(net, fit.params, masked)[0],
                               bits_per_spike(net, fit.params, masked.time_slice(800, 2000))[0], rtol=1e-10)


def test_time_rescaling_intervals_stay_inside_trials_and_observed_runs():
    """Rescaled intervals join consecutive spikes of one run of likelihood bins only: each run of n spikes gives
    n - 1 intervals (none spans a trial boundary or the unobserved stretch)."""
    from probsnn.diagnostics import time_rescaling_ks

    rng = np.random.default_rng(6)
    net = _network(stimulus=False)
    counts = (rng.uniform(size=(300, 2)) < 0.2).astype(int)
    observed = np.ones((300, 2), bool)
    observed[120:170, 0] = False
    counts[~observed] = 0
    data = SpikeData(counts, dt=0.001, trial_starts=[0, 100, 200], observed=observed)
    result = time_rescaling_ks(net, _history_params(net)._replace(stimulus_weights=net.init_params().stimulus_weights),
                               data)
    runs = {0: [(0, 100), (100, 120), (170, 200), (200, 300)], 1: [(0, 100), (100, 200), (200, 300)]}
    for i in (0, 1):
        expected = sum(max(int(counts[a:b, i].sum()) - 1, 0) for a, b in runs[i])
        assert len(result.rescaled[i]) == expected
        assert np.all((result.rescaled[i] >= 0) & (result.rescaled[i] <= 1))


def test_fitters_refuse_a_neuron_without_bins_in_the_likelihood():
    from probsnn import fit_map

    net = _network()
    observed = np.ones((50, 2), bool)
    observed[:, 1] = False
    data = SpikeData(np.zeros((50, 2), int) + np.array([1, 0]) * (np.arange(50)[:, None] % 3 == 0),
                     dt=0.001, stimulus=np.zeros((50, 1)), observed=observed)
    with pytest.raises(ValueError, match="neuron 'n1' has no bin in the likelihood"):
        fit_map(net, data)


# ------------------------------------------------------------------------------------------ sequential mode
def test_simulation_history_restarts_at_each_trial():
    """With strong self-excitation and no stimulus, the potential in the first bin of every trial is the bias
    exactly (the baseline rate), and the parallel potentials of the simulated data with its trials reproduce the
    sequential ones; without trial_starts the history carries over."""
    import jax

    net = _network(stimulus=False, observation="bernoulli")  # bounded: strong self-excitation cannot explode
    params = _history_params(net, seed=5, self_weight=1.5, bias=-2.0)
    starts = [0, 150, 300, 450]
    spikes, potentials = net.simulate(params, jax.random.PRNGKey(5), n_steps=600, trial_starts=starts)
    potentials = np.asarray(potentials)
    np.testing.assert_array_equal(potentials[starts], np.broadcast_to(np.asarray(params.bias), (4, 2)))
    data = SpikeData(np.asarray(spikes), dt=0.001, trial_starts=starts)
    np.testing.assert_allclose(np.asarray(net.potential(params, data)), potentials, atol=1e-10)
    _, carried = net.simulate(params, jax.random.PRNGKey(5), n_steps=600)
    assert np.any(np.abs(np.asarray(carried)[starts[1:]] - np.asarray(params.bias)) > 0.1)


def test_three_factor_run_resets_history_and_traces_at_trial_starts():
    import jax

    from probsnn import GLMNetwork, ThreeFactorVI, basis

    net = GLMNetwork(1, 2, history_basis=basis.raised_cosine_log(2, 5), observation="bernoulli")
    params = net.init_params(jax.random.PRNGKey(0), scale=0.5, bias=-1.0)
    learner = ThreeFactorVI(net, learning_rate=1e-9)  # parameters stay (almost) fixed: the potentials show the state
    visible = (np.random.default_rng(0).uniform(size=(80, 1)) < 0.4).astype(float)
    opt_state, state = learner.init(params)
    out = learner.run(params, opt_state, state, np.zeros((80, 0)), visible, jax.random.PRNGKey(1),
                      trial_starts=[0, 30, 55])
    potential = np.asarray(out[3][1])  # [T, K, N]
    np.testing.assert_allclose(potential[[0, 30, 55]], np.broadcast_to(np.asarray(params.bias), (3, 1, 3)),
                               atol=1e-6)
    carried = np.asarray(learner.run(params, opt_state, state, np.zeros((80, 0)), visible,
                                     jax.random.PRNGKey(1))[3][1])
    assert np.any(np.abs(carried[[30, 55]] - np.asarray(params.bias)) > 1e-3)


def test_synaptic_sampling_refuses_weighted_data_and_latent_trials():
    from probsnn import GLMNetwork, basis, synaptic_sampling

    observed = np.ones((40, 2), bool)
    observed[:10, 1] = False
    counts = np.zeros((40, 2), int)
    counts[::4, 0] = 1
    counts[20::5, 1] = 1
    masked = SpikeData(counts, dt=0.001, stimulus=np.zeros((40, 1)), observed=observed)
    with pytest.raises(ValueError, match="does not weight its likelihood"):
        synaptic_sampling(_network(), masked, n_steps=2, step_size=1e-4)
    latent = GLMNetwork(1, 1, history_basis=basis.raised_cosine_log(2, 5), observation="bernoulli")
    with pytest.raises(ValueError, match="without trial_starts or an observed mask"):
        synaptic_sampling(latent, SpikeData(counts[:, :1], dt=0.001, trial_starts=[0, 20]), n_steps=2,
                          step_size=1e-4)


# ------------------------------------------------------------------------------------------ Bayesian fits
def test_bayesian_fits_use_only_the_observed_bins_of_a_masked_unit():
    """One Poisson neuron with only a bias b ~ N(0, 5), recorded in 250 of 400 bins: the posterior is
    p(b | y) ∝ exp(S b - T_obs e^b - b²/50) with S, T_obs over the observed bins (numerical quadrature). NUTS
    (mean within 4 Monte Carlo SE), the Laplace mode and SVI (mean-field Normal) agree with it; zero-filling the
    150 unobserved bins would move the mean by many posterior SDs. The pointwise log-likelihood is 0 in unobserved
    bins and sums to the model's log-likelihood of every draw."""
    import arviz as az
    import jax.numpy as jnp

    from probsnn import GLMNetwork, fit_nuts, fit_svi, laplace_posterior

    rng = np.random.default_rng(0)
    observed = np.arange(400)[:, None] >= 150
    counts = np.where(observed, rng.poisson(0.1, size=(400, 1)), 0)
    data = SpikeData(counts, dt=0.001, observed=observed)
    net = GLMNetwork(1)
    grid = np.linspace(-6, 1, 20001)

    def quadrature(n_bins):
        logp = counts.sum() * grid - n_bins * np.exp(grid) - grid**2 / 50
        w = np.exp(logp - logp.max())
        w /= w.sum()
        mean = np.sum(w * grid)
        return mean, np.sqrt(np.sum(w * (grid - mean) ** 2)), grid[np.argmax(logp)]

    mean, sd, mode = quadrature(250)
    zero_filled_mean, _, _ = quadrature(400)
    assert abs(zero_filled_mean - mean) > 1.5 * sd  # the power of the check
    laplace = laplace_posterior(net, data, num_samples=200, seed=1)
    assert float(np.median(laplace.posterior["bias"].values)) == pytest.approx(mode, abs=0.3 * sd)
    svi = fit_svi(net, data, guide="normal", num_steps=600, num_samples=400, progress=False, warn=False,
                  log_likelihood=None)
    assert abs(float(svi.posterior["bias"].values.mean()) - mean) < 0.25 * sd
    idata = fit_nuts(net, data, num_warmup=100, num_samples=400, num_chains=1, progress=False, warn=False)
    draws = idata.posterior["bias"].values.ravel()
    mcse = float(az.mcse(idata, var_names=["bias"])["bias"].values.ravel()[0])
    assert abs(draws.mean() - mean) < 4 * mcse
    assert draws.std() == pytest.approx(sd, rel=0.12)
    pointwise = idata.log_likelihood["obs"].values  # (chain, draw, time, neuron)
    assert np.all(pointwise[:, :, :150] == 0.0)
    some = idata.posterior["bias"].values[0, :3, 0]
    for k, b in enumerate(some):
        params = net.init_params()._replace(bias=jnp.asarray([b]))
        np.testing.assert_allclose(pointwise[0, k].sum(), float(net.log_likelihood(params, data)), rtol=1e-10)
