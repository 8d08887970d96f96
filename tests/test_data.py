"""SpikeData: binning against np.histogram, splitting, and strict validation (property-based)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from probsnn import SpikeData
from probsnn.data import MAX_COUNT_PER_BIN


def test_from_spike_times_matches_histogram():
    rng = np.random.default_rng(0)
    dt, t_start, t_stop = 0.002, 0.5, 2.5
    trains = [np.sort(rng.uniform(t_start, t_stop, size=n)) for n in (50, 0, 200)]
    data = SpikeData.from_spike_times(trains, dt=dt, t_start=t_start, t_stop=t_stop)
    edges = t_start + np.arange(data.n_bins + 1) * dt
    for i, train in enumerate(trains):
        np.testing.assert_array_equal(data.counts[:, i], np.histogram(train, edges)[0])
    assert data.n_bins == 1000 and data.n_neurons == 3
    np.testing.assert_array_equal(data.n_spikes, [50, 0, 200])
    np.testing.assert_allclose(data.mean_rates, np.array([50, 0, 200]) / 2.0)


def test_bin_edges_are_half_open():
    data = SpikeData.from_spike_times([np.array([0.0, 0.001, 0.0019999, 0.002])], dt=0.001, t_start=0.0, t_stop=0.003)
    np.testing.assert_array_equal(data.counts[:, 0], [1, 2, 1])


def test_split_and_slice_keep_alignment():
    counts = np.arange(20).reshape(10, 2) % 3
    stim = np.arange(10.0)
    data = SpikeData(counts, dt=0.01, stimulus=stim)
    train, test = data.split(0.7)
    assert train.n_bins == 7 and test.n_bins == 3
    np.testing.assert_array_equal(test.counts, counts[7:])
    np.testing.assert_array_equal(test.stimulus[:, 0], stim[7:])
    assert test.t_start == pytest.approx(0.07)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(counts=np.array([[0, 1], [np.nan, 0]]), dt=0.1), "non-finite"),
        (dict(counts=np.array([[0, -1]]), dt=0.1), ">= 0"),
        (dict(counts=np.array([[0.5, 1]]), dt=0.1), "whole numbers"),
        (dict(counts=np.zeros((3, 2)), dt=0.0), "dt"),
        (dict(counts=np.zeros((3, 2)), dt=0.1, stimulus=np.zeros(4)), "aligned"),
        (dict(counts=np.zeros((3, 2)), dt=0.1, stimulus=np.array([0, np.inf, 0])), "non-finite"),
        (dict(counts=np.zeros((3, 2)), dt=0.1, neuron_names=("a",)), "names"),
        (dict(counts=np.zeros((3, 2, 1)), dt=0.1), "shape"),
    ],
)
def test_bad_arrays_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpikeData(**kwargs)


@pytest.mark.parametrize(
    "trains, message",
    [
        ([np.array([0.3, 0.2])], "not sorted"),
        ([np.array([0.2, 1.5])], "outside"),
        ([np.array([-0.1])], "outside"),
        ([np.array([0.1, np.nan])], "non-finite"),
    ],
)
def test_bad_spike_times_raise(trains, message):
    with pytest.raises(ValueError, match=message):
        SpikeData.from_spike_times(trains, dt=0.01, t_start=0.0, t_stop=1.0)


def test_interval_must_be_whole_bins():
    with pytest.raises(ValueError, match="whole number of bins"):
        SpikeData.from_spike_times([np.array([0.1])], dt=0.3, t_start=0.0, t_stop=1.0)


def test_check_binary_names_the_bin():
    data = SpikeData(np.array([[0, 1], [2, 0]]), dt=0.1, neuron_names=("a", "b"))
    with pytest.raises(ValueError, match="bin 1 of neuron 'a'"):
        data.check_binary()


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
                  elements=st.floats(allow_nan=True, allow_infinity=True, width=64)))
def test_any_invalid_counts_raise_and_valid_ones_pass(counts):
    valid = (np.all(np.isfinite(counts)) and np.all(counts >= 0) and np.all(counts == np.round(counts))
             and np.all(counts <= MAX_COUNT_PER_BIN))
    if valid:
        data = SpikeData(counts, dt=0.01)
        np.testing.assert_array_equal(data.counts, counts)  # nothing clipped or changed
    else:
        with pytest.raises(ValueError):
            SpikeData(counts, dt=0.01)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1.0, max_value=2.0, allow_nan=False), min_size=1, max_size=30))
def test_any_spike_times_are_binned_exactly_or_refused(times):
    times = np.asarray(times)
    ok = np.all(np.diff(times) >= 0) and times.min() >= 0.0 and times.max() < 1.0
    if ok:
        data = SpikeData.from_spike_times([times], dt=0.01, t_start=0.0, t_stop=1.0)
        assert data.counts.sum() == len(times)  # no spike dropped
    else:
        with pytest.raises(ValueError):
            SpikeData.from_spike_times([times], dt=0.01, t_start=0.0, t_stop=1.0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40))
def test_any_length_mismatch_raises(n_counts, n_stimulus):
    if n_counts == n_stimulus:
        assert SpikeData(np.zeros((n_counts, 1)), dt=0.01, stimulus=np.zeros(n_stimulus)).n_bins == n_counts
    else:
        with pytest.raises(ValueError, match="aligned"):
            SpikeData(np.zeros((n_counts, 1)), dt=0.01, stimulus=np.zeros(n_stimulus))


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.int64, st.tuples(st.integers(1, 30), st.integers(1, 4)), elements=st.integers(0, 3)))
def test_bernoulli_models_refuse_any_multi_spike_bin(counts):
    from probsnn import GLMNetwork, basis

    data = SpikeData(counts, dt=0.01)
    net = GLMNetwork(counts.shape[1], history_basis=basis.identity(2), observation="bernoulli")
    if counts.max() <= 1:
        net.check_data(data)
    else:
        with pytest.raises(ValueError, match="binary spikes"):
            net.check_data(data)


def test_flat_list_of_numbers_is_one_neuron():
    data = SpikeData.from_spike_times([0.1, 0.5, 0.7], 0.01, 0, 1)
    assert data.n_neurons == 1 and data.n_bins == 100
    np.testing.assert_array_equal(data.n_spikes, [3])
    mid_bin = SpikeData.from_spike_times([0.105, 0.505, 0.705], 0.01, 0, 1)
    np.testing.assert_array_equal(np.flatnonzero(mid_bin.counts[:, 0]), [10, 50, 70])
    # the same spikes as an array, and as a list holding one list, give the same data
    for same in (np.array([0.1, 0.5, 0.7]), [[0.1, 0.5, 0.7]], [np.array([0.1, 0.5, 0.7])]):
        np.testing.assert_array_equal(SpikeData.from_spike_times(same, 0.01, 0, 1).counts, data.counts)


def test_list_of_lists_is_one_list_per_neuron():
    data = SpikeData.from_spike_times([[0.1, 0.5], [], [0.7]], 0.01, 0, 1)
    assert data.n_neurons == 3
    np.testing.assert_array_equal(data.n_spikes, [2, 0, 1])


@pytest.mark.parametrize("spike_times", [[0.1, [0.2, 0.3]], 0.5])
def test_mixed_or_scalar_spike_times_raise(spike_times):
    with pytest.raises(ValueError, match="spike_times"):
        SpikeData.from_spike_times(spike_times, 0.01, 0, 1)


def test_spike_times_on_decimal_edges_land_in_the_exact_decimal_bin():
    """floor((t - t_start) / dt) in exact decimal arithmetic (fractions.Fraction) is the reference: a spike at
    0.7 s with dt = 0.01 s is in bin 70, although 0.7 / 0.01 == 69.99999999999999 in floating point."""
    from fractions import Fraction

    assert SpikeData.from_spike_times([0.7], dt=0.01, t_start=0.0, t_stop=1.0).counts[70, 0] == 1
    rng = np.random.default_rng(0)
    for dt_text, t_start_text, n_bins in (("0.01", "0", 100), ("0.001", "0.3", 2000), ("0.1", "-1.7", 50),
                                          ("0.005", "12.25", 400), ("0.0025", "0", 4000)):
        dt, t_start = Fraction(dt_text), Fraction(t_start_text)
        # decimal spike times on a 0.1 ms grid: many lie exactly on bin edges
        steps = np.sort(rng.integers(0, int(n_bins * dt * 10_000), size=300))
        texts = [str(t_start + Fraction(int(k), 10_000)) for k in steps]
        exact = [Fraction(t) for t in texts]
        times = np.array([float(t) for t in exact])
        data = SpikeData.from_spike_times([times], dt=float(dt), t_start=float(t_start),
                                          t_stop=float(t_start + n_bins * dt))
        reference = np.bincount([int((t - t_start) // dt) for t in exact], minlength=n_bins)
        np.testing.assert_array_equal(data.counts[:, 0], reference, err_msg=f"dt={dt_text}, t_start={t_start_text}")


def test_spikes_just_before_an_edge_of_a_long_recording_stay_in_their_bin():
    """The edge tolerance absorbs float rounding only: in a 20-minute recording with 8.34 ms frames (the RGC data's
    frame interval), spikes 15 ns and 65 ns before a frame edge (2e-6 and 8e-6 of a bin; the RGC recording holds
    such spikes) stay in the earlier bin, as exact arithmetic on the float values (fractions.Fraction) says."""
    from fractions import Fraction

    dt, n_bins = 0.008340605, 144051
    edges = np.array([1000, 70_000, 143_000, 144_050])
    times = np.sort(np.concatenate([edges * dt - 15e-9, edges * dt - 65e-9, edges * dt + 15e-9]))
    data = SpikeData.from_spike_times([times], dt=dt, t_start=0.0, t_stop=n_bins * dt)
    reference = np.bincount([int(Fraction(t) // Fraction(dt)) for t in times], minlength=n_bins)
    np.testing.assert_array_equal(data.counts[:, 0], reference)
    assert data.counts[edges - 1, 0].tolist() == [2, 2, 2, 2]


def test_t_start_must_be_finite_and_dt_a_positive_scalar():
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match="t_start"):
            SpikeData(np.zeros((3, 1)), dt=0.01, t_start=bad)
        with pytest.raises(ValueError, match="t_start"):
            SpikeData.from_spike_times([[0.1]], dt=0.01, t_start=bad, t_stop=1.0)
    for bad in (np.array([0.01, 0.02]), [0.01], np.array([0.01])):
        with pytest.raises(ValueError, match="dt .*must be a positive scalar"):
            SpikeData(np.zeros((3, 1)), dt=bad)
        with pytest.raises(ValueError, match="dt .*must be a positive scalar"):
            SpikeData.from_spike_times([[0.1]], dt=bad, t_start=0.0, t_stop=1.0)


def test_bool_raster_is_accepted_as_zero_one_counts():
    raster = np.array([[True, False], [False, False], [True, True]])
    data = SpikeData(raster, dt=0.01)
    np.testing.assert_array_equal(data.counts, raster.astype(int))
    assert data.counts.dtype == np.int64 and data.is_binary


def test_counts_beyond_the_documented_maximum_are_refused():
    """A runaway simulation's int64-maximum counts (9.2e18) are not a recording; 2**24 itself is accepted."""
    SpikeData(np.array([[MAX_COUNT_PER_BIN]]), dt=0.01)
    for bad in (np.array([[0, 2**63 - 1]], dtype=np.int64), np.array([[9.223372036854776e18]]),
                np.array([[MAX_COUNT_PER_BIN + 1.0]])):
        with pytest.raises(ValueError, match=r"at most MAX_COUNT_PER_BIN .* at bin 0, neuron \d.*explosive"):
            SpikeData(bad, dt=0.01)
