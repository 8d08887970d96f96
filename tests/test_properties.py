"""Property tests: malformed input to the data, basis, encoding and neuron entry points gets a clear error
(ValueError/TypeError naming the argument) or a finite, documented result; never NaN, never a silent change
in the number of spikes. Examples per entry point: docs/reliability.md."""
import math
import tempfile
from pathlib import Path

import jax
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
    MEDIUM,
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
from probsnn import basis, encoding
from probsnn.datasets import load_npz
from probsnn.neurons.layers import feedforward_layer, init_feedforward, init_recurrent, recurrent_layer
from probsnn.neurons.lif import alif_params, lif_neuron, lif_params
from probsnn.neurons.snu import asnu_params, snu_neuron, snu_params

COUNTS = np.array([[0, 1], [2, 0], [0, 0], [1, 1], [0, 3], [1, 0], [0, 0], [4, 1]])  # T=8, N=2

# ============================================================================ SpikeData
counts_arrays = st.lists(st.lists(st.integers(0, 5), min_size=2, max_size=2), min_size=1, max_size=12).map(np.array)


@CHEAP
@given(counts=counts_arrays)
def test_spikedata_keeps_every_spike(counts):
    data = ps.SpikeData(counts, dt=0.01)
    assert data.counts.shape == counts.shape
    np.testing.assert_array_equal(data.n_spikes, counts.sum(axis=0))


@CHEAP
@given(index=st.integers(0, 15), value=st.one_of(BAD_ARRAY_ENTRY, st.integers(-10, -1).map(float),
                                                  st.floats(0.01, 10).filter(lambda x: x != int(x))))
def test_spikedata_bad_count_entry(index, value):
    expect_error(lambda: ps.SpikeData(plant(COUNTS, index, value), dt=0.01), ["counts"])


@CHEAP
@given(counts=st.one_of(
    st.just(np.zeros((0, 2))), st.just(np.zeros((3, 0))), st.just(np.zeros((2, 2, 2))), st.just(np.float64(3.0)),
    st.just(np.array([["1", "0"], ["0", "1"]])), st.just(np.array([[1, 0], [0, 1]], dtype=object)),
    st.just(np.array([[1 + 1j, 0]])), st.just("counts"), st.just(None)))
def test_spikedata_bad_counts_array(counts):
    expect_error(lambda: ps.SpikeData(counts, dt=0.01), ["counts"])


@CHEAP
@given(raster=st.lists(st.lists(st.booleans(), min_size=2, max_size=2), min_size=1, max_size=10).map(np.array))
def test_spikedata_bool_raster_keeps_spikes_or_refuses(raster):
    """A bool raster is either read as 0/1 counts (every spike kept) or refused with an error naming counts."""
    data = expect_error_or_finite(lambda: ps.SpikeData(raster, dt=0.01), ["counts"])
    if data is not None:
        np.testing.assert_array_equal(data.n_spikes, raster.sum(axis=0))


@CHEAP
@given(dt=BAD_POSITIVE_FLOAT)
def test_spikedata_bad_dt(dt):
    expect_error(lambda: ps.SpikeData(COUNTS, dt=dt), ["dt"])


@CHEAP
@given(t_start=st.one_of(NON_FINITE, st.sampled_from(["abc", None, [0.0]])))
def test_spikedata_bad_t_start(t_start):
    expect_error(lambda: ps.SpikeData(COUNTS, dt=0.01, t_start=t_start), ["t_start"])


@CHEAP
@given(n_rows=st.integers(0, 20).filter(lambda n: n != 8), extra=st.integers(0, 2))
def test_spikedata_misaligned_stimulus(n_rows, extra):
    stimulus = np.zeros((n_rows, 1 + extra))
    expect_error(lambda: ps.SpikeData(COUNTS, dt=0.01, stimulus=stimulus), ["stimulus"])


@CHEAP
@given(index=st.integers(0, 7), value=BAD_ARRAY_ENTRY)
def test_spikedata_non_finite_stimulus(index, value):
    expect_error(lambda: ps.SpikeData(COUNTS, dt=0.01, stimulus=plant(np.zeros(8), index, value)), ["stimulus"])


@CHEAP
@given(names=st.lists(st.text(max_size=3), max_size=4))
def test_spikedata_neuron_names(names):
    """Two unique names are accepted; any other list raises naming the names."""
    if len(names) == 2 and len(set(names)) == 2:
        assert ps.SpikeData(COUNTS, dt=0.01, neuron_names=names).neuron_names == tuple(names)
    elif names:
        expect_error(lambda: ps.SpikeData(COUNTS, dt=0.01, neuron_names=names), ["name"])


spike_trains = st.lists(st.lists(st.floats(0.0, 0.999, allow_nan=False), max_size=8).map(sorted),
                        min_size=1, max_size=3)


@CHEAP
@given(trains=spike_trains)
def test_from_spike_times_keeps_every_spike(trains):
    data = ps.SpikeData.from_spike_times(trains, dt=0.01, t_start=0.0, t_stop=1.0)
    assert data.n_bins == 100
    np.testing.assert_array_equal(data.n_spikes, [len(t) for t in trains])


@CHEAP
@given(trains=spike_trains.filter(lambda ts: any(ts)), which=st.integers(0, 20),
       value=st.one_of(BAD_ARRAY_ENTRY, st.floats(-5.0, -1e-6), st.floats(1.0, 5.0)))
def test_from_spike_times_bad_spike_time(trains, which, value):
    trains = [list(t) for t in trains]
    full = [i for i, t in enumerate(trains) if t]
    neuron = full[which % len(full)]
    trains[neuron][which % len(trains[neuron])] = value
    expect_error(lambda: ps.SpikeData.from_spike_times(trains, dt=0.01, t_start=0.0, t_stop=1.0), ["spike_times"])


@CHEAP
@given(dt=BAD_POSITIVE_FLOAT)
def test_from_spike_times_bad_dt(dt):
    expect_error(lambda: ps.SpikeData.from_spike_times([[0.1]], dt=dt, t_start=0.0, t_stop=1.0), ["dt"])


@CHEAP
@given(t_start=st.one_of(NON_FINITE, st.floats(1.0, 10.0)), t_stop=st.one_of(NON_FINITE, st.floats(-5.0, 1.0)))
def test_from_spike_times_bad_interval(t_start, t_stop):
    expect_error(lambda: ps.SpikeData.from_spike_times([[]], dt=0.01, t_start=t_start, t_stop=t_stop),
                 ["t_start", "t_stop"])


@CHEAP
@given(spike_times=st.sampled_from([0.5, None, "0.1", [[0.1], 0.2], []]))
def test_from_spike_times_bad_container(spike_times):
    expect_error(lambda: ps.SpikeData.from_spike_times(spike_times, dt=0.01, t_start=0.0, t_stop=1.0),
                 ["spike_times"])


@MEDIUM
@given(case=st.sampled_from(["nan_counts", "negative_counts", "fractional_counts", "no_dt", "nan_dt",
                             "misaligned_stimulus", "bad_offsets", "decreasing_offsets", "nan_times", "no_keys"]))
def test_load_npz_malformed_file(case):
    arrays = {
        "nan_counts": dict(counts=plant(COUNTS, 3, math.nan), dt=0.01),
        "negative_counts": dict(counts=plant(COUNTS, 3, -1), dt=0.01),
        "fractional_counts": dict(counts=plant(COUNTS, 3, 0.5), dt=0.01),
        "no_dt": dict(counts=COUNTS),
        "nan_dt": dict(counts=COUNTS, dt=math.nan),
        "misaligned_stimulus": dict(counts=COUNTS, dt=0.01, stimulus=np.zeros((5, 1))),
        "bad_offsets": dict(spike_times=np.array([0.1, 0.2]), spike_offsets=np.array([0, 5]), dt=0.01, t_stop=1.0),
        "decreasing_offsets": dict(spike_times=np.array([0.1, 0.2]), spike_offsets=np.array([0, 2, 1, 2]),
                                   dt=0.01, t_stop=1.0),
        "nan_times": dict(spike_times=np.array([0.1, math.nan]), spike_offsets=np.array([0, 2]), dt=0.01,
                          t_stop=1.0),
        "no_keys": dict(something=np.zeros(3)),
    }[case]
    names = {"nan_counts": ["counts"], "negative_counts": ["counts"], "fractional_counts": ["counts"],
             "no_dt": ["dt"], "nan_dt": ["dt"], "misaligned_stimulus": ["stimulus"],
             "bad_offsets": ["spike_offsets"], "decreasing_offsets": ["spike_offsets"],
             "nan_times": ["spike_times"], "no_keys": ["keys", "dt"]}[case]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "recording.npz"
        np.savez(path, **arrays)
        expect_error(lambda: load_npz(path), names)


# ============================================================================ bases
@CHEAP
@given(which=st.sampled_from(["log", "linear", "identity"]), n_basis=BAD_POSITIVE_INT)
def test_basis_bad_n_basis(which, n_basis):
    make = {"log": lambda: basis.raised_cosine_log(n_basis, 10),
            "linear": lambda: basis.raised_cosine_linear(n_basis, 10),
            "identity": lambda: basis.identity(n_basis)}[which]  # the identity's size is its window
    expect_error(make, ["n_basis", "window"])
    expect_error(lambda: basis.exponential(10, time_constants=[]), ["n_basis", "time_constants"])


@CHEAP
@given(which=st.sampled_from(["log", "linear", "exp"]), window=BAD_POSITIVE_INT)
def test_basis_bad_window(which, window):
    make = {"log": lambda: basis.raised_cosine_log(3, window),
            "linear": lambda: basis.raised_cosine_linear(3, window),
            "exp": lambda: basis.exponential(window, time_constants=[2.0])}[which]
    expect_error(make, ["window"])


@CHEAP
@given(stretch=BAD_POSITIVE_FLOAT, first_peak=st.one_of(NON_FINITE, st.floats(-5, -1e-6), st.floats(9.0, 50.0)))
def test_raised_cosine_log_bad_shape_parameters(stretch, first_peak):
    expect_error(lambda: basis.raised_cosine_log(3, 10, stretch=stretch), ["stretch"])
    expect_error(lambda: basis.raised_cosine_log(3, 10, first_peak=first_peak), ["first_peak"])


@CHEAP
@given(taus=st.lists(st.one_of(BAD_POSITIVE_FLOAT.filter(lambda v: isinstance(v, float)), st.floats(0.1, 10)),
                     min_size=1, max_size=4).filter(lambda ts: not all(math.isfinite(t) and t > 0 for t in ts)),
       decays=st.lists(st.one_of(BAD_UNIT_FLOAT.filter(lambda v: isinstance(v, float)), st.floats(0.01, 1.0)),
                       min_size=1, max_size=4).filter(lambda ds: not all(0 < d <= 1 for d in ds)))
def test_exponential_bad_time_constants(taus, decays):
    expect_error(lambda: basis.exponential(10, time_constants=taus), ["time_constants"])
    expect_error(lambda: basis.exponential(10, decays=decays), ["decays"])
    expect_error(lambda: basis.exponential(10), ["time_constants"])


@CHEAP
@given(lag_offset=BAD_NON_NEGATIVE_INT)
def test_basis_bad_lag_offset(lag_offset):
    expect_error(lambda: basis.identity(3, lag_offset=lag_offset), ["lag_offset"])
    expect_error(lambda: basis.Basis(np.eye(3), lag_offset), ["lag_offset"])


@CHEAP
@given(matrix=st.one_of(st.just(np.zeros((0, 2))), st.just(np.zeros(3)), st.just(np.zeros((2, 2, 2))),
                        st.integers(0, 5).map(lambda i: plant(np.eye(3), i, math.nan)),
                        st.just(np.array([["a", "b"]])), st.just(None)))
def test_basis_bad_matrix(matrix):
    expect_error(lambda: basis.Basis(matrix), ["matrix"])


HISTORY = basis.raised_cosine_log(3, 10)


@JITTED
@given(n_bins=st.integers(1, 12))
def test_causal_convolve_short_signal_is_finite_and_shaped(n_bins):
    """A signal shorter than the basis window is documented as zero-padded (x[t<0] = 0): finite, right shape."""
    out = basis.causal_convolve(np.ones((n_bins, 2)), HISTORY)
    assert out.shape == (n_bins, 2, 3)
    assert_finite(out)


@CHEAP
@given(signal=st.one_of(st.integers(0, 15).map(lambda i: plant(np.ones((8, 2)), i, math.nan)),
                        st.just(np.ones((8, 2)) * math.inf), st.just(np.zeros((2, 2, 2))), st.just(np.zeros((0, 2))),
                        st.just(np.array(["a", "b"])), st.just(np.array([1, 2], dtype=object))),
       method=st.sampled_from(["auto", "direct", "fft"]))
def test_causal_convolve_bad_signal(signal, method):
    expect_error(lambda: basis.causal_convolve(signal, HISTORY, method), ["signal"])


@CHEAP
@given(method=BAD_OPTION, not_a_basis=st.sampled_from([None, np.eye(3), "log", 3]))
def test_causal_convolve_bad_method_or_basis(method, not_a_basis):
    expect_error(lambda: basis.causal_convolve(np.ones((8, 2)), HISTORY, method), ["method"])
    expect_error(lambda: basis.causal_convolve(np.ones((8, 2)), not_a_basis), ["basis"])


# ============================================================================ encoders
KEY = jax.random.PRNGKey(0)
VALUES = np.linspace(0.0, 1.0, 4)
bad_unit_values = st.one_of(st.tuples(st.integers(0, 3), BAD_ARRAY_ENTRY).map(lambda a: plant(VALUES, *a)),
                            st.tuples(st.integers(0, 3), st.floats(1.0 + 1e-6, 10.0)).map(lambda a: plant(VALUES, *a)),
                            st.tuples(st.integers(0, 3), st.floats(-10.0, -1e-6)).map(lambda a: plant(VALUES, *a)),
                            st.just(np.array(["a", "b"])), st.just(np.array([0.5, None], dtype=object)))


@CHEAP
@given(values=bad_unit_values, which=st.sampled_from(["bernoulli", "poisson", "latency"]))
def test_encoders_bad_values(values, which):
    call = {"bernoulli": lambda: encoding.rate_bernoulli(KEY, values, 5),
            "poisson": lambda: encoding.rate_poisson(KEY, values, 5, max_rate=100.0, dt=0.001),
            "latency": lambda: encoding.latency(values, 5)}[which]
    expect_error(call, ["values"])


@CHEAP
@given(n_steps=BAD_POSITIVE_INT, which=st.sampled_from(["bernoulli", "poisson", "latency", "population"]))
def test_encoders_bad_n_steps(n_steps, which):
    call = {"bernoulli": lambda: encoding.rate_bernoulli(KEY, VALUES, n_steps),
            "poisson": lambda: encoding.rate_poisson(KEY, VALUES, n_steps, max_rate=100.0, dt=0.001),
            "latency": lambda: encoding.latency(VALUES, n_steps),
            "population": lambda: encoding.population(KEY, VALUES, n_steps, 4)}[which]
    expect_error(call, ["n_steps"])


@CHEAP
@given(p=BAD_UNIT_FLOAT, rate=BAD_POSITIVE_FLOAT)
def test_encoders_bad_probabilities_and_rates(p, rate):
    expect_error(lambda: encoding.rate_bernoulli(KEY, VALUES, 5, p_max=p), ["p_max"])
    expect_error(lambda: encoding.rate_bernoulli(KEY, VALUES, 5, p_min=p), ["p_min"])
    expect_error(lambda: encoding.rate_poisson(KEY, VALUES, 5, max_rate=rate, dt=0.001), ["max_rate"])
    expect_error(lambda: encoding.rate_poisson(KEY, VALUES, 5, max_rate=100.0, dt=rate), ["dt"])
    expect_error(lambda: encoding.population(KEY, VALUES, 5, 4, p_max=p), ["p_max"])
    if rate is not None:  # width=None is the documented default (the spacing of the centres)
        expect_error(lambda: encoding.population(KEY, VALUES, 5, 4, width=rate), ["width"])


@CHEAP
@given(n_neurons=st.one_of(BAD_POSITIVE_INT, st.just(1)), bound=st.one_of(NON_FINITE, NOT_A_NUMBER))
def test_population_bad_neurons_and_range(n_neurons, bound):
    expect_error(lambda: encoding.population(KEY, VALUES, 5, n_neurons), ["n_neurons"])
    expect_error(lambda: encoding.population(KEY, VALUES, 5, 4, low=bound), ["low"])
    expect_error(lambda: encoding.population(KEY, VALUES, 5, 4, high=bound), ["high"])


@CHEAP
@given(values=st.one_of(st.tuples(st.integers(0, 3), BAD_ARRAY_ENTRY).map(lambda a: plant(VALUES, *a)),
                        st.tuples(st.integers(0, 3), st.floats(1.0 + 1e-6, 10.0)).map(lambda a: plant(VALUES, *a))))
def test_population_bad_values(values):
    expect_error(lambda: encoding.population(KEY, values, 5, 4), ["values"])


@CHEAP
@given(n_states=BAD_POSITIVE_INT, rate=BAD_UNIT_FLOAT.filter(lambda r: r != 0.0))
def test_one_hot_encoder_bad_arguments(n_states, rate):
    expect_error(lambda: ps.OneHotEncoder(n_states), ["n_states"])
    expect_error(lambda: ps.OneHotEncoder(3, rate=rate), ["rate"])


@CHEAP
@given(observation=st.one_of(st.integers(3, 100), st.integers(-100, -1), NON_FINITE, st.floats(0.01, 2.9).filter(
    lambda x: x != int(x)), st.just("1")))
def test_one_hot_encoder_bad_observation(observation):
    """A state index outside [0, n_states) is not silently encoded as no spikes."""
    expect_error(lambda: ps.OneHotEncoder(3).probabilities(observation), ["observation"])


@CHEAP
@given(low=st.one_of(NON_FINITE, NOT_A_NUMBER.filter(lambda v: not isinstance(v, (bool, list))),
                     st.floats(1.0, 10.0)),
       n_per_dim=st.one_of(BAD_POSITIVE_INT, st.just(1)), p_max=BAD_UNIT_FLOAT.filter(lambda r: r != 0.0))
def test_population_encoder_bad_arguments(low, n_per_dim, p_max):
    expect_error(lambda: ps.PopulationEncoder(low, 1.0), ["low"])
    expect_error(lambda: ps.PopulationEncoder(0.0, 1.0, n_per_dim=n_per_dim), ["n_per_dim"])
    expect_error(lambda: ps.PopulationEncoder(0.0, 1.0, p_max=p_max), ["p_max"])


@CHEAP
@given(observation=st.one_of(NON_FINITE, st.just(np.zeros(3)), st.just("x")))
def test_population_encoder_bad_observation(observation):
    expect_error(lambda: ps.PopulationEncoder([0.0, 0.0], [1.0, 1.0]).probabilities(observation), ["observation"])


@CHEAP
@given(spikes=st.one_of(st.just(np.zeros(3)), st.just(np.zeros((0, 3))), st.just(np.zeros((4, 0))),
                        st.integers(0, 11).map(lambda i: plant(np.zeros((4, 3)), i, math.nan)),
                        st.integers(0, 11).map(lambda i: plant(np.zeros((4, 3)), i, -1.0))))
def test_decoders_bad_spikes(spikes):
    expect_error(lambda: encoding.rate_decode(spikes), ["spikes"])
    expect_error(lambda: encoding.first_to_spike_decode(spikes), ["spikes"])


# ============================================================================ neurons and layers
@CHEAP
@given(n=BAD_POSITIVE_INT, leak=st.one_of(BAD_UNIT_FLOAT, st.just(0.0)), threshold=BAD_POSITIVE_FLOAT)
def test_lif_alif_params_bad(n, leak, threshold):
    expect_error(lambda: lif_params(n), ["n_neurons"])
    expect_error(lambda: lif_params(3, leak=leak), ["leak"])  # 3 neurons: a 2-vector is malformed too
    expect_error(lambda: lif_params(3, threshold=threshold), ["threshold"])
    expect_error(lambda: alif_params(n), ["n_neurons"])
    expect_error(lambda: alif_params(3, adaptation_decay=leak), ["adaptation_decay"])
    expect_error(lambda: alif_params(3, threshold=threshold), ["threshold"])


@CHEAP
@given(n=BAD_POSITIVE_INT, leak=st.one_of(NON_FINITE, NOT_A_NUMBER, st.floats(-10, -1e-6), st.floats(1 + 1e-6, 10)),
       bias=st.one_of(NON_FINITE, NOT_A_NUMBER))
def test_snu_params_bad(n, leak, bias):
    expect_error(lambda: snu_params(n), ["n_neurons"])
    expect_error(lambda: snu_params(3, leak=leak), ["leak"])
    expect_error(lambda: snu_params(3, bias=bias), ["bias"])
    expect_error(lambda: asnu_params(3, adaptation_decay=leak), ["adaptation_decay"])


@CHEAP
@given(leak=st.lists(st.floats(0.1, 1.0), min_size=1, max_size=4).filter(lambda v: len(v) != 2))
def test_lif_params_wrong_length_vector(leak):
    expect_error(lambda: lif_params(2, leak=np.array(leak)), ["leak"])


LAYER = init_feedforward(jax.random.PRNGKey(0), 3, lif_params(2))
RECURRENT = init_recurrent(jax.random.PRNGKey(0), 3, lif_params(2))
bad_inputs = st.one_of(
    st.integers(0, 17).map(lambda i: plant(np.ones((6, 3)), i, math.nan)),
    st.just(np.ones((6, 3)) * math.inf), st.just(np.ones(3)), st.just(np.ones((6, 4))), st.just(np.ones((0, 3))),
    st.just(np.array([["a", "b", "c"]])))


@MEDIUM
@given(inputs=bad_inputs, which=st.sampled_from(["lif", "snu", "recurrent"]))
def test_layers_bad_inputs(inputs, which):
    if which == "recurrent":
        call = lambda: recurrent_layer(lif_neuron(), RECURRENT, inputs)  # noqa: E731
    elif which == "snu":
        call = lambda: feedforward_layer(snu_neuron(), LAYER._replace(neuron=snu_params(2)), inputs)  # noqa: E731
    else:
        call = lambda: feedforward_layer(lif_neuron(), LAYER, inputs)  # noqa: E731
    expect_error(call, ["inputs"])


@JITTED
@given(scale=st.floats(0.0, 1e3), t=st.integers(1, 4))
def test_feedforward_layer_finite_spikes(scale, t):
    """Any finite input gives finite membranes and 0/1 spikes."""
    _, states = feedforward_layer(lif_neuron(), LAYER, scale * np.ones((t, 3)))
    assert_finite(states)
    assert set(np.unique(np.asarray(states.spikes))) <= {0.0, 1.0}


@CHEAP
@given(n_inputs=BAD_POSITIVE_INT, scale=st.one_of(NON_FINITE, NOT_A_NUMBER, st.floats(-10, -1e-6)))
def test_init_layers_bad(n_inputs, scale):
    expect_error(lambda: init_feedforward(KEY, n_inputs, lif_params(2)), ["n_inputs"])
    expect_error(lambda: init_recurrent(KEY, n_inputs, lif_params(2)), ["n_inputs"])
    expect_error(lambda: init_feedforward(KEY, 3, lif_params(2), weight_scale=scale), ["weight_scale"])
    expect_error(lambda: init_recurrent(KEY, 3, lif_params(2), recurrent_scale=scale), ["recurrent_scale"])
    expect_error(lambda: init_feedforward(KEY, 3, "not params"), ["neuron_params"])


@CHEAP
@given(reset=BAD_OPTION)
def test_lif_neuron_bad_reset(reset):
    expect_error(lambda: lif_neuron(reset), ["reset"])



