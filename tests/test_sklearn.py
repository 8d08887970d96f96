"""probsnn.sklearn: the estimator against fit_map and scikit-learn's PoissonRegressor, grid search with blocked
folds against cross_validate_ridge on SpikeData.folds, the blocked splitter, the 1-SE rule, the estimator checks."""
import numpy as np
import pytest
from _glm_helpers import make_network
from sklearn import config_context
from sklearn.linear_model import PoissonRegressor
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import check_estimator

import probsnn as ps
from probsnn import basis
from probsnn.sklearn import (
    BasisTransformer,
    BlockedKFold,
    PopulationGLM,
    cross_validate_ridge,
    one_standard_error_choice,
)

_CONTINUOUS_Y = ("feeds continuous (non-integer) or negative targets: y must be spike counts, whole numbers >= 0 "
                 "(SpikeData refuses others, so the fit does too)")
_NEEDS_SPIKES = ("calls predict(X) alone: the default model has spike-history kernels, so predict needs the spikes "
                 "y whose past it conditions on (predict(X, y))")
_CAUSAL = ("the causal filters make each bin's prediction depend on the rows before it, so predictions change "
           "with the order of the rows or on a subset of them (a time series is not exchangeable)")

#: Every generic check that PopulationGLM() fails, and why; the other 33 of check_estimator's 50 pass (one is skipped
#: by scikit-learn without SCIPY_ARRAY_API). docs/model_selection.md lists the same.
EXPECTED_FAILED_CHECKS = {
    "check_n_features_in_after_fitting": _CONTINUOUS_Y,
    "check_regressors_train": _CONTINUOUS_Y,
    "check_regressor_data_not_an_array": _CONTINUOUS_Y,
    "check_regressor_multioutput": _CONTINUOUS_Y,
    "check_regressors_no_decision_function": _CONTINUOUS_Y,
    "check_fit_idempotent": _CONTINUOUS_Y,
    "check_fit_check_is_fitted": _CONTINUOUS_Y,
    "check_n_features_in": _CONTINUOUS_Y,
    "check_estimators_dtypes": _NEEDS_SPIKES,
    "check_dtype_object": _NEEDS_SPIKES,
    "check_estimators_pickle": _NEEDS_SPIKES,
    "check_f_contiguous_array_estimator": _NEEDS_SPIKES,
    "check_supervised_y_2d": _NEEDS_SPIKES,
    "check_regressors_int": _NEEDS_SPIKES,
    "check_dict_unchanged": _NEEDS_SPIKES,
    "check_methods_sample_order_invariance": _NEEDS_SPIKES + "; and " + _CAUSAL,
    "check_methods_subset_invariance": _NEEDS_SPIKES + "; and " + _CAUSAL,
}


@pytest.mark.slow
def test_estimator_checks_fail_exactly_the_listed_checks():
    """check_estimator runs every generic check; exactly the listed ones fail (for the listed reasons)."""
    results = check_estimator(PopulationGLM(), on_fail=None, on_skip=None)
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    assert failed == set(EXPECTED_FAILED_CHECKS)
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    assert {"check_requires_y_none", "check_estimators_nan_inf", "check_complex_data", "check_fit2d_predict1d",
            "check_estimators_empty_data_messages", "check_get_params_invariance", "check_no_attributes_set_in_init",
            "check_parameters_default_constructible"} <= passed


@pytest.fixture(scope="module")
def simulated():
    net, params, data = make_network("poisson", n_neurons=2, n_bins=3000, seed=1)
    return net, data


def test_fit_equals_fit_map_and_predict_score_equal_the_network(simulated):
    net, data = simulated
    glm = PopulationGLM(stimulus_basis="raised_cosine_linear", stimulus_basis_size=3, stimulus_window=10,
                        history_basis_size=4, history_window=30, ridge=2.0).fit(data.stimulus, data.counts)
    result = ps.fit_map(net, data, prior=ps.GaussianPrior(ridge=2.0))
    weights = np.asarray(net.flatten(result.params))
    np.testing.assert_allclose(glm.coef_, weights[:, :-1], rtol=0, atol=1e-10)
    np.testing.assert_allclose(glm.intercept_, weights[:, -1], rtol=0, atol=1e-10)
    assert glm.n_features_in_ == 1 and glm.coef_.shape == (2, net.n_features - 1)
    expected = np.asarray(net.observation.mean(net.potential(result.params, data)))
    np.testing.assert_allclose(glm.predict(data.stimulus, data.counts), expected, rtol=1e-9)
    score = float(net.log_likelihood(result.params, data)) / (data.n_bins * data.n_neurons)
    np.testing.assert_allclose(glm.score(data.stimulus, data.counts), score, rtol=1e-10)
    with pytest.raises(ValueError, match="spike-history kernels"):
        glm.predict(data.stimulus)
    with pytest.raises(ValueError, match="y must be spike counts"):
        glm.fit(data.stimulus, data.counts + 0.5)
    with pytest.raises(ValueError, match="ridge"):
        PopulationGLM(ridge=-1.0).fit(data.stimulus, data.counts)


def test_stimulus_only_poisson_model_matches_scikit_learn_poisson_regressor():
    """Identity basis of one lag, no history: a Poisson GLM on the columns of X; sklearn's alpha = ridge / T."""
    rng = np.random.default_rng(0)
    n_bins, ridge = 4000, 30.0
    X = rng.normal(size=(n_bins, 3))
    y = rng.poisson(np.exp(-1.0 + X @ np.array([0.4, -0.3, 0.2])))
    glm = PopulationGLM(stimulus_basis="identity", stimulus_window=1, history_basis_size=0, ridge=ridge).fit(X, y)
    reference = PoissonRegressor(alpha=ridge / n_bins, solver="newton-cholesky", tol=1e-12, max_iter=500).fit(X, y)
    np.testing.assert_allclose(glm.coef_, reference.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(glm.intercept_, reference.intercept_, rtol=1e-6)
    np.testing.assert_allclose(glm.predict(X), reference.predict(X), rtol=1e-6)  # no history: X alone


def test_grid_search_with_blocked_folds_equals_cross_validate_ridge_on_spike_data_folds(simulated):
    """GridSearchCV over ridge and basis size (BlockedKFold, time_index restarting the filters at the junction)
    scores every fold as cross_validate_ridge does on SpikeData.folds, and picks the best mean."""
    net, data = simulated
    ridges, sizes, n_folds = [1.0, 300.0], [2, 3], 3
    base = PopulationGLM(stimulus_basis="raised_cosine_linear", stimulus_window=10, history_basis_size=4,
                         history_window=30)
    search = GridSearchCV(base, {"ridge": ridges, "stimulus_basis_size": sizes}, cv=BlockedKFold(n_folds),
                          refit=False)
    search.fit(data.stimulus, data.counts, time_index=np.arange(data.n_bins))
    results = search.cv_results_
    best = (-np.inf, None)
    for size in sizes:
        size_net = ps.GLMNetwork(2, stimulus_basis=basis.raised_cosine_linear(size, 10, lag_offset=0),
                                 history_basis=net.history_basis)
        curve = cross_validate_ridge(size_net, data, ridges, n_folds=n_folds, by="block")
        for g, ridge in enumerate(ridges):
            row = [k for k, p in enumerate(results["params"]) if p == {"ridge": ridge, "stimulus_basis_size": size}]
            folds = [results[f"split{k}_test_score"][row[0]] for k in range(n_folds)]
            np.testing.assert_allclose(folds, curve.fold_scores[:, g, :].mean(axis=1), rtol=1e-7)
            if curve.mean[g].mean() > best[0]:
                best = (curve.mean[g].mean(), {"ridge": ridge, "stimulus_basis_size": size})
    assert search.best_params_ == best[1]


def test_basis_transformer_pipeline_equals_the_built_in_basis_under_cross_val_score(simulated):
    _, data = simulated
    X, y, cv = data.stimulus, data.counts, BlockedKFold(3)
    pipeline = Pipeline([("basis", BasisTransformer("raised_cosine_log", n_basis=3, window=8)),
                         ("glm", PopulationGLM(stimulus_basis="identity", stimulus_window=1, history_window=30))])
    built_in = PopulationGLM(stimulus_basis="raised_cosine_log", stimulus_basis_size=3, stimulus_window=8,
                             history_window=30)
    np.testing.assert_allclose(cross_val_score(pipeline, X, y, cv=cv), cross_val_score(built_in, X, y, cv=cv),
                               rtol=1e-8)
    search = GridSearchCV(pipeline, {"basis__window": [8, 14], "glm__ridge": [1.0, 100.0]}, cv=cv, refit=False)
    search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert search.best_params_ == search.cv_results_["params"][int(np.argmax(scores))]
    features = BasisTransformer("identity", window=3).fit(X).transform(X)
    np.testing.assert_array_equal(features[2:, 2], X[:-2, 0])  # column b is the stimulus b bins back
    np.testing.assert_array_equal(features[:2, 2], 0.0)


def test_blocked_kfold_is_contiguous_unshuffled_and_never_cuts_a_trial():
    rng = np.random.default_rng(5)
    n_bins = 1000
    starts = np.concatenate([[0], np.sort(rng.choice(np.arange(1, n_bins), 29, replace=False))])
    X = np.zeros((n_bins, 1))
    trial = np.repeat(np.arange(starts.size), np.diff(np.append(starts, n_bins)))
    for splitter, groups in ((BlockedKFold(4, trial_starts=starts), None), (BlockedKFold(4), trial)):
        splits = list(splitter.split(X, groups=groups))
        assert len(splits) == splitter.get_n_splits() == 4
        tests = [test for _, test in splits]
        np.testing.assert_array_equal(np.concatenate(tests), np.arange(n_bins))  # in order, each bin once
        for train, test in splits:
            np.testing.assert_array_equal(np.diff(test), 1)  # one contiguous block
            np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(n_bins))
            assert test[0] in starts and (test[-1] + 1 == n_bins or test[-1] + 1 in starts)  # whole trials
        assert [t.tolist() for t in tests] == [t.tolist() for _, t in splitter.split(X, groups=groups)]
    data = ps.SpikeData(np.zeros((n_bins, 1)), dt=0.001, stimulus=np.arange(n_bins), trial_starts=starts)
    from_folds = [test.stimulus[:, 0].astype(int).tolist() for _, test in data.folds(4, by="block")]
    assert from_folds == [t.tolist() for t in tests]  # the rule of SpikeData.folds(by="block")
    with pytest.raises(ValueError, match="n_splits"):
        BlockedKFold(1).get_n_splits()


def test_one_standard_error_rule_picks_the_largest_ridge_within_one_se_of_the_best():
    ridges = np.array([0.1, 1.0, 10.0, 100.0, 1000.0])
    mean = np.array([[-1.00, -2.0], [-0.90, -1.2], [-0.95, -1.0], [-0.99, -1.1], [-1.50, -1.3]])
    standard_error = np.array([[0.02, 0.1], [0.1, 0.1], [0.05, 0.05], [0.3, 0.3], [0.01, 0.1]])
    best, one_se = one_standard_error_choice(ridges, mean, standard_error)
    np.testing.assert_array_equal(best, [1.0, 10.0])
    # neuron 0: best -0.90 +- 0.1 -> threshold -1.00: ridges 0.1, 1, 10, 100 qualify, not 1000 (-1.5)
    # neuron 1: best -1.0 +- 0.05 -> threshold -1.05: ridge 10 only (100 has -1.1 < -1.05)
    np.testing.assert_array_equal(one_se, [100.0, 10.0])
    assert one_standard_error_choice(ridges, mean[:, 0], standard_error[:, 0]) == (1.0, 100.0)


def test_cross_validate_ridge_by_trial_reports_a_curve_per_neuron(simulated):
    net, data = simulated
    trials = ps.SpikeData(data.counts, dt=data.dt, stimulus=data.stimulus, trial_starts=np.arange(0, 3000, 500))
    curve = cross_validate_ridge(net, trials, [1.0, 1e5], n_folds=3, by="trial")
    assert curve.fold_scores.shape == (3, 2, 2) and curve.mean.shape == curve.standard_error.shape == (2, 2)
    np.testing.assert_allclose(curve.standard_error, curve.fold_scores.std(axis=0, ddof=1) / np.sqrt(3))
    # a huge ridge shrinks every filter to zero: the held-out score falls for neuron 0 (strong self-history)
    assert curve.mean[0, 0] > curve.mean[1, 0]
    assert curve.best_ridge[0] == 1.0


def test_time_index_is_routed_to_fit_and_score_with_metadata_routing(simulated):
    """With metadata routing, time_index reaches fit and score, sliced with each fold; the test block is one
    contiguous segment, so the scores equal those of time_index passed to fit alone (no routing)."""
    _, data = simulated
    X, y, cv, time_index = data.stimulus, data.counts, BlockedKFold(3), np.arange(data.n_bins)
    glm = PopulationGLM(stimulus_basis="raised_cosine_log", stimulus_basis_size=3, stimulus_window=8, history_window=30)
    plain = cross_val_score(glm, X, y, cv=cv, params={"time_index": time_index})
    with config_context(enable_metadata_routing=True):
        routed_glm = glm.set_fit_request(time_index=True).set_score_request(time_index=True)
        routed = cross_val_score(routed_glm, X, y, cv=cv, params={"time_index": time_index})
    np.testing.assert_allclose(routed, plain, rtol=1e-10)
    contiguous = cross_val_score(glm, X, y, cv=cv)  # without time_index the junction feeds the history
    assert np.abs(contiguous[1] - plain[1]) > 0 and np.allclose(contiguous[[0, 2]], plain[[0, 2]], rtol=1e-10)


def test_history_only_model_takes_x_none(simulated):
    """X=None: spike history and coupling only, the fit of GLMNetwork without a stimulus basis."""
    net, data = simulated
    glm = PopulationGLM(history_basis_size=4, history_window=30, ridge=0.0).fit(None, data.counts)
    history_net = ps.GLMNetwork(2, history_basis=net.history_basis)
    result = ps.fit_map(history_net, ps.SpikeData(data.counts, dt=data.dt))
    np.testing.assert_allclose(glm.coef_, np.asarray(history_net.flatten(result.params))[:, :-1], atol=1e-10)
    assert glm.n_features_in_ == 0 and glm.predict(None, data.counts).shape == data.counts.shape
    with pytest.raises(ValueError, match="stimulus columns"):
        PopulationGLM(history_window=30).fit(data.stimulus, data.counts).score(None, data.counts)


def test_stimulus_only_bernoulli_model_matches_scikit_learn_logistic_regression():
    """Bernoulli (logistic) neuron: LogisticRegression minimises C * sum(log loss) + |w|^2 / 2, so ridge = 1 / C."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 2))
    y = (rng.random(3000) < 1 / (1 + np.exp(1.0 - X @ np.array([0.8, -0.5])))).astype(int)
    glm = PopulationGLM(observation="bernoulli", stimulus_basis="identity", stimulus_window=1, history_basis_size=0,
                        ridge=4.0).fit(X, y)
    reference = LogisticRegression(C=1 / 4.0, solver="newton-cholesky", tol=1e-12, max_iter=500).fit(X, y)
    np.testing.assert_allclose(glm.coef_, reference.coef_[0], rtol=1e-6)
    np.testing.assert_allclose(glm.intercept_, reference.intercept_[0], rtol=1e-6)
    np.testing.assert_allclose(glm.predict(X), reference.predict_proba(X)[:, 1], rtol=1e-6)


def test_segment_starts_restart_at_jumps_and_trial_changes():
    from probsnn.sklearn import segment_starts

    assert segment_starts(6) is None
    assert segment_starts(6, time_index=[0, 1, 2, 5, 6, 7]) == (0, 3)
    assert segment_starts(6, time_index=[0, 1, 2, 3, 4, 5], trial=[0, 0, 1, 1, 1, 2]) == (0, 2, 5)
    with pytest.raises(ValueError, match="time_index"):
        segment_starts(3, time_index=[0.0, 1.5, 2.0])
    with pytest.raises(ValueError, match="time_index"):
        segment_starts(2, time_index=[True, False])
    with pytest.raises(ValueError, match="trial"):
        segment_starts(3, trial=[0, 1])
