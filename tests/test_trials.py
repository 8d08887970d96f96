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
