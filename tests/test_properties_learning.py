"""Property tests of the deterministic-SNN learners (BPTT, e-prop, OSTL, STDP), ANN-to-SNN conversion (rate,
few-spike) and the hardware models (binary synapses, PCM, crossbar): malformed input gets a clear error naming
the argument (ValueError/TypeError) or a finite, documented result. Examples per entry point:
docs/reliability.md."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _property_helpers import (
    BAD_NON_NEGATIVE_FLOAT,
    BAD_OPTION,
    BAD_POSITIVE_FLOAT,
    BAD_POSITIVE_INT,
    BAD_UNIT_FLOAT,
    CHEAP,
    JITTED,
    MEDIUM,
    NON_FINITE,
    NOT_A_NUMBER,
    RECOMPILED,
    assert_finite,
    expect_error,
    expect_error_or_finite,
    plant,
)
from hypothesis import given
from hypothesis import strategies as st

from probsnn._checks import check_float, check_int, finite_array
from probsnn.conversion import Dense, convert_rate, fit_fs_neuron, init_mlp, run_rate_snn
from probsnn.conversion.ann import check_inputs as check_batch
from probsnn.hardware import (
    PCMConfig,
    WTAConfig,
    analog_matmul,
    binary_stdp_update,
    init_wta,
    map_weights,
    program_devices,
    program_weights,
    read_devices,
    train_wta,
)
from probsnn.inference.bptt import classification_loss, fit_bptt
from probsnn.inference.eprop import eprop_forward, eprop_gradient, init_eprop
from probsnn.inference.ostl import ostl_gradient
from probsnn.inference.stdp import STDPParams, WindowedSTDPParams, run_stdp, windowed_stdp_update
from probsnn.neurons.layers import check_inputs as check_time_major
from probsnn.neurons.layers import init_feedforward
from probsnn.neurons.lif import lif_neuron, lif_params

KEY = jax.random.PRNGKey(0)
T, B, N_IN, N, N_OUT = 6, 2, 3, 4, 2
X = (jax.random.uniform(KEY, (T, B, N_IN)) < 0.4).astype(float)
TARGETS = jnp.zeros((T, B, N_OUT))
LIF = lif_neuron(detach_reset=True)
EPROP = init_eprop(KEY, N_IN, N_OUT, lif_params(N, 0.8, 0.6))
LAYER = init_feedforward(KEY, N_IN, lif_params(N, 0.8, 0.6), 2.0)


def squared_error(y, target):
    return 0.5 * jnp.sum((y - target) ** 2)


def membrane_loss(state, target):
    return 0.5 * jnp.sum((state.membrane - target) ** 2)


#: inputs [T, B, n_in] that are malformed: a NaN/inf entry, the wrong rank or width, no time step, strings
BAD_INPUTS = st.one_of(
    st.builds(lambda i, v: plant(np.asarray(X), i, v), st.integers(0, T * B * N_IN - 1), NON_FINITE),
    st.sampled_from([np.zeros((T, N_IN)), np.zeros((T, B, N_IN + 1)), np.zeros((0, B, N_IN)),
                     np.full((T, B, N_IN), "a"), np.zeros((T, B, 1, N_IN))]))
#: targets whose leading (time) axis is not T, or not an array at all
BAD_TARGETS = st.one_of(st.integers(0, 2 * T).filter(lambda n: n != T).map(lambda n: jnp.zeros((n, B, N_OUT))),
                        st.sampled_from([jnp.zeros(()), "targets"]))


# ============================================================================ shared helpers (_checks)
@CHEAP
@given(value=st.one_of(st.binary(max_size=4), st.sampled_from([b"1", b"0.5", bytearray(b"1")])))
def test_checks_refuse_bytes(value):
    expect_error(lambda: check_float("x", value), ["x"])
    expect_error(lambda: check_int("n", value), ["n"])
    expect_error(lambda: finite_array("a", value), ["a"])


@CHEAP
@given(value=st.one_of(st.text(max_size=4), st.sampled_from([["1.0", "2"], np.array(["1"]), [None], [1, "a"]])))
def test_finite_array_refuses_strings_numpy_would_parse(value):
    expect_error(lambda: finite_array("a", value), ["a"])


# ============================================================================ BPTT
@CHEAP
@given(n_epochs=BAD_POSITIVE_INT, batches=st.sampled_from([None, 3, "batches"]),
       loss=st.sampled_from([None, "loss", 3]))
def test_fit_bptt_bad_arguments(n_epochs, batches, loss):
    loss_fn = classification_loss([LIF])
    expect_error(lambda: fit_bptt(loss_fn, [LAYER], [], n_epochs=n_epochs), ["n_epochs"])
    expect_error(lambda: fit_bptt(loss_fn, [LAYER], batches), ["batches"])
    expect_error(lambda: fit_bptt(loss, [LAYER], [(X, np.zeros(B, int))]), ["loss_fn"])
    expect_error(lambda: fit_bptt(loss_fn, [LAYER], [(X, np.zeros(B, int))], project="clip"), ["project"])


@RECOMPILED
@given(index=st.integers(0, T * B * N_IN - 1), value=NON_FINITE)
def test_fit_bptt_non_finite_inputs(index, value):
    """NaN inputs reach the loss through the user's loss_fn: refused by the layer's input check, never NaN
    parameters."""
    batch = (plant(np.asarray(X), index, value), np.zeros(B, int))
    expect_error(lambda: fit_bptt(classification_loss([LIF]), [LAYER], [batch], optax.sgd(0.1)),
                 ["inputs", "loss"], errors=(ValueError, TypeError, FloatingPointError))


@RECOMPILED
@given(learning_rate=st.floats(1e-4, 1e8))
def test_fit_bptt_any_learning_rate_finite_or_error(learning_rate):
    batch = (np.asarray(X), np.zeros(B, int))
    out = expect_error_or_finite(lambda: fit_bptt(classification_loss([LIF]), [LAYER], [batch] * 2,
                                                  optax.sgd(learning_rate)),
                                 ["learning rate", "loss"], errors=(FloatingPointError,))
    if out is not None:
        assert out[1].shape == (2,)


# ============================================================================ e-prop
@CHEAP
@given(count=BAD_POSITIVE_INT, scale=st.one_of(NON_FINITE, NOT_A_NUMBER, st.floats(max_value=-1e-9)))
def test_init_eprop_bad_arguments(count, scale):
    neuron_params = lif_params(N, 0.8, 0.6)
    expect_error(lambda: init_eprop(KEY, count, N_OUT, neuron_params), ["n_inputs"])
    expect_error(lambda: init_eprop(KEY, N_IN, count, neuron_params), ["n_outputs"])
    expect_error(lambda: init_eprop(KEY, N_IN, N_OUT, neuron_params, input_scale=scale), ["input_scale"])
    expect_error(lambda: init_eprop(KEY, N_IN, N_OUT, neuron_params, recurrent_scale=scale), ["recurrent_scale"])


@CHEAP
@given(scale=st.floats(0, 10))
def test_init_eprop_finite(scale):
    params = init_eprop(KEY, N_IN, N_OUT, lif_params(N, 0.8, 0.6), input_scale=scale, recurrent_scale=scale)
    assert_finite(params)
    assert np.all(np.diag(np.asarray(params.recurrent_weights)) == 0)


@MEDIUM
@given(inputs=BAD_INPUTS, decay=BAD_UNIT_FLOAT.filter(lambda d: d != 1.0).map(lambda d: 1.0 if d is None else d))
def test_eprop_bad_inputs_and_readout_decay(inputs, decay):
    expect_error(lambda: eprop_forward(LIF, EPROP, inputs), ["inputs"])
    expect_error(lambda: eprop_gradient(LIF, EPROP, inputs, TARGETS, squared_error), ["inputs"])
    expect_error(lambda: eprop_forward(LIF, EPROP, X, readout_decay=decay), ["readout_decay"])
    expect_error(lambda: eprop_gradient(LIF, EPROP, X, TARGETS, squared_error, readout_decay="a"),
                 ["readout_decay"])


@CHEAP
@given(targets=BAD_TARGETS, feedback=st.sampled_from(["random", None, np.zeros((N, N_OUT + 1)), 3.0]))
def test_eprop_misaligned_targets_or_bad_feedback(targets, feedback):
    expect_error(lambda: eprop_gradient(LIF, EPROP, X, targets, squared_error), ["targets"])
    expect_error(lambda: eprop_gradient(LIF, EPROP, X, TARGETS, squared_error, feedback=feedback), ["feedback"])
    expect_error(lambda: eprop_gradient(LIF, EPROP, X, TARGETS, "loss"), ["step_loss"])
    expect_error(lambda: eprop_gradient("lif", EPROP, X, TARGETS, squared_error), ["neuron"])


@RECOMPILED
@given(scale=st.floats(0, 1e3), decay=st.floats(0, 0.99))
def test_eprop_large_inputs_finite(scale, decay):
    loss, grads = eprop_gradient(LIF, EPROP, scale * X, TARGETS, squared_error, readout_decay=decay)
    assert_finite((loss, grads))


# ============================================================================ OSTL
@MEDIUM
@given(inputs=BAD_INPUTS, targets=BAD_TARGETS.map(lambda t: t if np.ndim(t) != 3 else jnp.zeros(t.shape[:2] + (N,))))
def test_ostl_bad_inputs_and_targets(inputs, targets):
    expect_error(lambda: ostl_gradient([LIF], [LAYER], inputs, jnp.zeros((T, B, N)), membrane_loss), ["inputs"])
    expect_error(lambda: ostl_gradient([LIF], [LAYER], X, targets, membrane_loss), ["targets"])
    expect_error(lambda: ostl_gradient([LIF], [LAYER], X, jnp.zeros((T, B, N)), None), ["step_loss"])
    expect_error(lambda: ostl_gradient(LIF, [LAYER], X, jnp.zeros((T, B, N)), membrane_loss), ["neuron"])


@RECOMPILED
@given(scale=st.floats(0, 1e3))
def test_ostl_large_inputs_finite(scale):
    loss, grads = ostl_gradient([LIF], [LAYER], scale * X, jnp.zeros((T, B, N)), membrane_loss)
    assert_finite((loss, grads))


# ============================================================================ STDP
@CHEAP
@given(amplitude=BAD_NON_NEGATIVE_FLOAT, tau=BAD_POSITIVE_FLOAT, bound=st.one_of(NON_FINITE, NOT_A_NUMBER),
       option=BAD_OPTION)
def test_stdp_params_bad(amplitude, tau, bound, option):
    for name in ("a_plus", "a_minus"):
        expect_error(lambda: STDPParams(**{name: amplitude}), [name])
    for name in ("tau_plus", "tau_minus"):
        expect_error(lambda: STDPParams(**{name: tau}), [name])
    for name in ("w_min", "w_max"):
        expect_error(lambda: STDPParams(**{name: bound}), [name])
    expect_error(lambda: STDPParams(w_min=1.0, w_max=0.5), ["w_min"])
    expect_error(lambda: STDPParams(weight_dependence=option), ["weight_dependence"])
    expect_error(lambda: STDPParams(pairing=option), ["pairing"])


@CHEAP
@given(amplitude=BAD_UNIT_FLOAT, tau=st.one_of(NOT_A_NUMBER, st.just(math.nan), st.floats(max_value=0.0)),
       window=st.one_of(NOT_A_NUMBER, st.just(math.nan), st.floats(max_value=-1e-9)),
       option=BAD_OPTION.filter(lambda o: o not in ("exp", "box")))
def test_windowed_stdp_params_bad(amplitude, tau, window, option):
    for name in ("a_pot", "a_dep"):
        expect_error(lambda: WindowedSTDPParams(**{name: amplitude}), [name])
    expect_error(lambda: WindowedSTDPParams(tau=tau), ["tau"])
    expect_error(lambda: WindowedSTDPParams(window=window), ["window"])
    expect_error(lambda: WindowedSTDPParams(kernel=option), ["kernel"])


PRE = (np.random.default_rng(0).random((20, 3)) < 0.3).astype(float)
POST = (np.random.default_rng(1).random((20, 2)) < 0.3).astype(float)
W = np.full((2, 3), 0.5)

#: a spike train [20, n] with one malformed entry: NaN/inf, negative, not 0/1
bad_train_entry = st.sampled_from([math.nan, math.inf, -1.0, 0.5, 2.0])


@CHEAP
@given(which=st.sampled_from(["pre_train", "post_train", "weights"]), index=st.integers(0, 59), value=bad_train_entry)
def test_run_stdp_bad_spike_trains_or_weights(which, index, value):
    args = {"weights": W, "pre_train": PRE, "post_train": POST}
    if which == "weights":
        if not math.isfinite(value) or value < 0:
            args["weights"] = plant(W, index, value)
        else:
            return  # any finite weight is a weight
    else:
        args[which] = plant(args[which], index, value)
    expect_error(lambda: run_stdp(STDPParams(), **args), [which])


@CHEAP
@given(shape=st.sampled_from([(20,), (19, 3), (20, 4), (20, 3, 1), (0, 3)]))
def test_run_stdp_misaligned_trains(shape):
    expect_error(lambda: run_stdp(STDPParams(), W, np.zeros(shape), POST), ["pre_train", "spike trains", "weights"])
    expect_error(lambda: run_stdp("stdp", W, PRE, POST), ["params"])


@JITTED
@given(dependence=st.sampled_from(["additive", "multiplicative"]), pairing=st.sampled_from(["all", "nearest"]),
       a=st.floats(0, 10))
def test_run_stdp_weights_stay_bounded(dependence, pairing, a):
    params = STDPParams(a_plus=a, a_minus=a, weight_dependence=dependence, pairing=pairing)
    weights, traces = run_stdp(params, W, PRE, POST)
    assert_finite((weights, traces))
    if dependence == "additive":
        assert np.all((np.asarray(weights) >= 0) & (np.asarray(weights) <= 1))


@CHEAP
@given(time=st.sampled_from([np.array([math.nan, 0.0, 1.0]), np.array([-1.0, 0.0, 1.0]), np.zeros(2), "t"]),
       post=st.sampled_from([np.array([0.5, 1.0]), np.array([math.nan, 0.0]), np.zeros(3), "s"]))
def test_windowed_stdp_update_bad_inputs(time, post):
    params = WindowedSTDPParams()
    expect_error(lambda: windowed_stdp_update(params, W, time, np.ones(2)), ["time_since_pre"])
    expect_error(lambda: windowed_stdp_update(params, W, np.zeros(3), post), ["post_spikes"])
    expect_error(lambda: windowed_stdp_update(params, plant(W, 0, 1.5), np.zeros(3), np.ones(2)), ["weights"])


# ============================================================================ binary synapses, WTA
@CHEAP
@given(scale=BAD_UNIT_FLOAT, weights=st.sampled_from([np.full((2, 3), 0.5), np.full((2, 3), math.nan),
                                                     np.full((2, 3, 2), 2.0), np.zeros(3), "w"]))
def test_binary_stdp_update_bad_arguments(scale, weights):
    params = WindowedSTDPParams()
    binary = np.ones((2, 3))
    expect_error(lambda: binary_stdp_update(KEY, params, binary, np.zeros(3), np.ones(2), scale=scale), ["scale"])
    expect_error(lambda: binary_stdp_update(KEY, params, weights, np.zeros(3), np.ones(2)), ["weights"])
    expect_error(lambda: binary_stdp_update(KEY, params, binary, np.array([math.nan, 0, 0]), np.ones(2)),
                 ["time_since_pre"])
    expect_error(lambda: binary_stdp_update(KEY, params, binary, np.zeros(3), np.array([2.0, 0.0])),
                 ["post_spikes"])
    expect_error(lambda: binary_stdp_update(KEY, "params", binary, np.zeros(3), np.ones(2)), ["params"])


@RECOMPILED
@given(scale=st.floats(0, 1), devices=st.integers(1, 3))
def test_binary_stdp_update_stays_binary(scale, devices):
    weights = np.zeros((2, 3, devices)) if devices > 1 else np.zeros((2, 3))
    out = np.asarray(binary_stdp_update(KEY, WindowedSTDPParams(), weights, np.array([0.0, 5.0, np.inf]),
                                        np.ones(2), scale=scale))
    assert out.shape == weights.shape and set(np.unique(out)) <= {0.0, 1.0}


@CHEAP
@given(count=BAD_POSITIVE_INT, rate=BAD_UNIT_FLOAT.filter(lambda r: r != 1.0), positive=BAD_POSITIVE_FLOAT,
       non_negative=BAD_NON_NEGATIVE_FLOAT, option=BAD_OPTION.filter(lambda o: o not in ("binary", "analog")))
def test_wta_config_bad(count, rate, positive, non_negative, option):
    for name in ("n_neurons", "n_bins", "devices_per_synapse"):
        expect_error(lambda: WTAConfig(**{name: count}), [name])
    for name in ("input_rate", "leak", "anneal_to"):
        expect_error(lambda: WTAConfig(**{name: rate if rate is not None else 0.0}), [name])
    for name in ("threshold", "threshold_tau"):
        expect_error(lambda: WTAConfig(**{name: positive}), [name])
    expect_error(lambda: WTAConfig(threshold_increment=non_negative), ["threshold_increment"])
    expect_error(lambda: WTAConfig(rule=option), ["rule"])
    expect_error(lambda: WTAConfig(signed="yes"), ["signed"])
    expect_error(lambda: WTAConfig(stdp="box"), ["stdp"])


CONFIG = WTAConfig(n_neurons=3, n_bins=4)
WTA = init_wta(KEY, 4, CONFIG)


@CHEAP
@given(images=st.one_of(
    st.builds(lambda i, v: plant(np.full((5, 4), 0.5), i, v), st.integers(0, 19),
              st.sampled_from([math.nan, math.inf, -0.1, 1.5])),
    st.sampled_from([np.zeros((5, 3)), np.zeros(4), np.zeros((0, 4)), np.full((5, 4), "a")])),
    n_epochs=BAD_POSITIVE_INT, mean=st.one_of(BAD_UNIT_FLOAT))
def test_wta_bad_images_epochs_mean(images, n_epochs, mean):
    expect_error(lambda: train_wta(KEY, WTA, images, CONFIG), ["image"])
    expect_error(lambda: train_wta(KEY, WTA, np.full((5, 4), 0.5), CONFIG, n_epochs=n_epochs), ["n_epochs"])
    expect_error(lambda: init_wta(KEY, 4, CONFIG, mean_weight=mean), ["mean_weight"])
    expect_error(lambda: init_wta(KEY, 4, "config"), ["config"])


# ============================================================================ PCM, crossbar
@CHEAP
@given(positive=BAD_POSITIVE_FLOAT, non_negative=BAD_NON_NEGATIVE_FLOAT, probability=BAD_UNIT_FLOAT,
       levels=st.one_of(st.integers(-3, 1), NOT_A_NUMBER.filter(lambda v: v is not None), NON_FINITE))
def test_pcm_config_bad(positive, non_negative, probability, levels):
    for name in ("g_max", "t0", "t_read", "read_noise_q_coeff"):
        expect_error(lambda: PCMConfig(**{name: positive}), [name])
    for name in ("prog_noise_scale", "drift_scale", "read_noise_scale", "d2d_sigma"):
        expect_error(lambda: PCMConfig(**{name: non_negative}), [name])
    for name in ("p_stuck_off", "p_stuck_on"):
        expect_error(lambda: PCMConfig(**{name: probability}), [name])
    expect_error(lambda: PCMConfig(n_levels=levels), ["n_levels"])
    expect_error(lambda: PCMConfig(drift_mu_bounds=("a", 1.0)), ["drift_mu_bounds"])
    expect_error(lambda: PCMConfig(prog_noise_coeffs=(1.0, math.nan, 0.0)), ["prog_noise_coeffs"])


@CHEAP
@given(targets=st.one_of(st.builds(lambda i, v: plant(np.full(6, 10.0), i, v), st.integers(0, 5),
                                   st.sampled_from([math.nan, math.inf, -1.0, 1e3])),
                         st.sampled_from([np.full(3, "a"), "g"])),
       t=st.one_of(NON_FINITE, NOT_A_NUMBER.filter(lambda v: not isinstance(v, (list, tuple, dict))),
                   st.floats(max_value=-1e-9)))
def test_pcm_devices_bad_targets_or_time(targets, t):
    expect_error(lambda: program_devices(KEY, targets), ["target", "g_target"])
    devices = program_devices(KEY, np.full(6, 10.0))
    expect_error(lambda: read_devices(KEY, devices, t), ["time", "t"])


@JITTED
@given(t=st.floats(0, 1e9))
def test_pcm_read_finite(t):
    devices = program_devices(KEY, np.linspace(0, PCMConfig().g_max, 6))
    assert_finite(read_devices(KEY, devices, t))


@CHEAP
@given(weights=st.one_of(st.builds(lambda i, v: plant(np.ones((3, 2)), i, v), st.integers(0, 5), NON_FINITE),
                         st.sampled_from([np.full((3, 2), "a"), "w"])),
       bits=st.one_of(st.integers(-3, 0), st.floats(0.5, 3.5).filter(lambda b: b != int(b)), NON_FINITE))
def test_crossbar_bad_weights_and_bits(weights, bits):
    expect_error(lambda: map_weights(weights), ["weights"])
    expect_error(lambda: program_weights(KEY, {"w": weights}), ["weights"])
    expect_error(lambda: analog_matmul(np.ones((1, 3)), weights), ["weights"])
    expect_error(lambda: analog_matmul(np.ones((1, 3)), np.ones((3, 2)), dac_bits=bits), ["dac_bits"])
    expect_error(lambda: analog_matmul(np.ones((1, 3)), np.ones((3, 2)), adc_bits=bits), ["adc_bits"])
    expect_error(lambda: analog_matmul(np.full((1, 3), math.nan), np.ones((3, 2))), ["x"])
    expect_error(lambda: analog_matmul(np.ones((1, 4)), np.ones((3, 2))), ["x", "weights"])


@JITTED
@given(scale=st.floats(0, 1e6), bits=st.sampled_from([None, 2, 8]))
def test_analog_matmul_finite(scale, bits):
    assert_finite(analog_matmul(scale * np.ones((2, 3)), np.ones((3, 2)), dac_bits=bits, adc_bits=bits))


# ============================================================================ conversion
MLP = init_mlp(KEY, [4, 5, 3])
X_NORM = np.random.default_rng(0).random((8, 4))
SNN = convert_rate(MLP, X_NORM)


@CHEAP
@given(x=st.one_of(
    st.builds(lambda i, v: plant(X_NORM, i, v), st.integers(0, 31), NON_FINITE),
    st.sampled_from([np.zeros(4), np.zeros((0, 4)), np.zeros((8, 5)), np.full((8, 4), "a"), "x", None,
                     [[1.0, "a", 2.0, 3.0]]])))
def test_conversion_check_inputs_and_rate_bad_batch(x):
    expect_error(lambda: check_batch(x, (4,)), ["inputs"])
    expect_error(lambda: convert_rate(MLP, x), ["inputs", "x_norm"])
    expect_error(lambda: run_rate_snn(SNN, x, 4), ["inputs", "x"])


@CHEAP
@given(inputs=st.sampled_from([np.full((2, 1, 3), "a"), np.array([[[None, 1.0, 2.0]]], dtype=object), "x"]))
def test_layers_check_inputs_on_strings(inputs):
    expect_error(lambda: check_time_major(inputs, 3), ["inputs"])


@CHEAP
@given(percentile=st.one_of(NON_FINITE, NOT_A_NUMBER, st.floats(max_value=0.0), st.floats(min_value=100.001)),
       option=BAD_OPTION, n_steps=BAD_POSITIVE_INT, membrane=BAD_UNIT_FLOAT.filter(lambda v: v != 1.0))
def test_rate_conversion_bad_options(percentile, option, n_steps, membrane):
    expect_error(lambda: convert_rate(MLP, X_NORM, percentile=percentile), ["percentile"])
    expect_error(lambda: convert_rate(MLP, X_NORM, schedule=option), ["schedule"])
    expect_error(lambda: run_rate_snn(SNN, X_NORM, n_steps), ["n_steps"])
    expect_error(lambda: run_rate_snn(SNN, X_NORM, 4, input_mode=option), ["input_mode"])
    expect_error(lambda: run_rate_snn(SNN, X_NORM, 4, readout=option), ["readout"])
    expect_error(lambda: run_rate_snn(SNN, X_NORM, 4, initial_membrane=membrane if membrane is not None else 1.0),
                 ["initial_membrane"])
    if n_steps is not None:  # None: the whole batch at once (the default)
        expect_error(lambda: run_rate_snn(SNN, X_NORM, 4, batch_size=n_steps), ["batch_size"])
    expect_error(lambda: run_rate_snn(SNN, -X_NORM, 4), ["non-negative"])
    expect_error(lambda: run_rate_snn(SNN, 2 * X_NORM, 4, input_mode="poisson", key=KEY), ["poisson"])
    expect_error(lambda: convert_rate([Dense(np.ones((4, 3)), np.zeros(3), "silu")], X_NORM), ["relu", "silu"])


@JITTED
@given(scale=st.floats(0, 1e6))
def test_run_rate_snn_large_inputs_finite(scale):
    run = run_rate_snn(SNN, scale * X_NORM, 4)
    assert_finite(run)


@CHEAP
@given(activation=BAD_OPTION.filter(lambda a: a not in ("relu", "leaky_relu", "silu", "sigmoid")),
       count=BAD_POSITIVE_INT, rate=BAD_POSITIVE_FLOAT, penalty=BAD_NON_NEGATIVE_FLOAT,
       samples=st.one_of(st.builds(lambda i, v: plant(np.linspace(-2, 2, 8), i, v), st.integers(0, 7), NON_FINITE),
                         st.sampled_from([np.zeros(1), np.array([]), np.full(4, "a"), "samples"])),
       other=st.one_of(NON_FINITE, NOT_A_NUMBER))
def test_fit_fs_neuron_bad_arguments(activation, count, rate, penalty, samples, other):
    expect_error(lambda: fit_fs_neuron(activation, 2), ["activation", "relu"])
    for name in ("n_restarts", "n_iterations", "n_grid"):
        expect_error(lambda: fit_fs_neuron("relu", 2, **{name: count}), [name])
    expect_error(lambda: fit_fs_neuron("relu", count), ["n_steps_k"])
    expect_error(lambda: fit_fs_neuron("relu", 2, learning_rate=rate), ["learning_rate"])
    expect_error(lambda: fit_fs_neuron("relu", 2, surrogate_slope=rate), ["surrogate_slope"])
    expect_error(lambda: fit_fs_neuron("relu", 2, spike_penalty=penalty), ["spike_penalty"])
    expect_error(lambda: fit_fs_neuron("relu", 2, samples=samples), ["samples"])
    expect_error(lambda: fit_fs_neuron("leaky_relu", 2, negative_slope=other), ["negative_slope"])
    expect_error(lambda: fit_fs_neuron("relu", 2, seed=other), ["seed"])


@RECOMPILED
@given(learning_rate=st.sampled_from([1e-3, 1.0, 1e6]))
def test_fit_fs_neuron_finite_or_divergence(learning_rate):
    fit = expect_error_or_finite(lambda: fit_fs_neuron("relu", 2, n_restarts=1, n_iterations=5, n_grid=16,
                                                       learning_rate=learning_rate),
                                 ["learning_rate"], errors=(FloatingPointError, ValueError))
    if fit is not None:
        assert np.isfinite(fit.mse) and fit.params.threshold.shape == (2,)
