"""Pair-based STDP with traces against explicit pair enumeration and hand-computed updates."""
import math

import numpy as np
import pytest

from probsnn.inference.stdp import (
    STDPParams,
    WindowedSTDPParams,
    pair_sum_reference,
    run_stdp,
    windowed_stdp_update,
)


def test_additive_all_to_all_equals_pair_enumeration():
    rng = np.random.default_rng(0)
    pre = (rng.random((60, 5)) < 0.15).astype(float)
    post = (rng.random((60, 3)) < 0.15).astype(float)
    params = STDPParams(a_plus=0.01, a_minus=0.012, tau_plus=7.0, tau_minus=11.0, w_min=-1e6, w_max=1e6)
    w, _ = run_stdp(params, np.zeros((3, 5)), pre, post)
    np.testing.assert_allclose(np.asarray(w), pair_sum_reference(params, pre, post), rtol=1e-12, atol=1e-15)


def test_single_pair_window_shape():
    params = STDPParams(a_plus=0.01, a_minus=0.02, tau_plus=5.0, tau_minus=10.0, w_min=-1.0, w_max=1.0)
    for lag in (-6, -1, 0, 2, 9):
        pre, post = np.zeros((20, 1)), np.zeros((20, 1))
        pre[10, 0], post[10 + lag, 0] = 1.0, 1.0
        w, _ = run_stdp(params, np.zeros((1, 1)), pre, post)
        expected = 0.01 * math.exp(-lag / 5.0) if lag >= 0 else -0.02 * math.exp(lag / 10.0)
        assert float(w[0, 0]) == pytest.approx(expected, rel=1e-12)


def test_nearest_pairing_counts_only_the_last_pre_spike():
    params = STDPParams(a_plus=0.1, a_minus=0.0, tau_plus=4.0, pairing="nearest", w_min=-1, w_max=1)
    pre, post = np.zeros((10, 1)), np.zeros((10, 1))
    pre[[1, 3], 0] = 1.0
    post[6, 0] = 1.0
    w, _ = run_stdp(params, np.zeros((1, 1)), pre, post)
    assert float(w[0, 0]) == pytest.approx(0.1 * math.exp(-3 / 4.0), rel=1e-12)
    params_all = STDPParams(a_plus=0.1, a_minus=0.0, tau_plus=4.0, w_min=-1, w_max=1)
    w_all, _ = run_stdp(params_all, np.zeros((1, 1)), pre, post)
    assert float(w_all[0, 0]) == pytest.approx(0.1 * (math.exp(-3 / 4.0) + math.exp(-5 / 4.0)), rel=1e-12)


def test_multiplicative_soft_bounds_and_additive_hard_bounds():
    pre, post = np.zeros((5, 1)), np.zeros((5, 1))
    pre[0, 0], post[3, 0] = 1.0, 1.0
    soft = STDPParams(a_plus=0.2, a_minus=0.1, tau_plus=10.0, weight_dependence="multiplicative")
    w, _ = run_stdp(soft, np.full((1, 1), 0.25), pre, post)
    assert float(w[0, 0]) == pytest.approx(0.25 + 0.2 * 0.75 * math.exp(-0.3), rel=1e-12)
    hard = STDPParams(a_plus=0.5, a_minus=0.1, tau_plus=10.0)
    w, _ = run_stdp(hard, np.full((1, 1), 0.9), pre, post)
    assert float(w[0, 0]) == 1.0


def test_windowed_rule_hand_computed():
    params = WindowedSTDPParams(a_pot=0.5, a_dep=0.25, tau=2.0, window=3.0, kernel="exp")
    w = np.array([[0.2, 0.6, 0.4], [0.5, 0.5, 0.5]])
    dt = np.array([0.0, 2.0, np.inf])
    new = np.asarray(windowed_stdp_update(params, w, dt, np.array([1.0, 0.0])))
    expected_row0 = [0.2 + 0.5 * 0.8, 0.6 + 0.5 * math.exp(-1.0) * 0.4, 0.4 - 0.25 * 0.4]
    np.testing.assert_allclose(new[0], expected_row0, rtol=1e-12)
    np.testing.assert_array_equal(new[1], w[1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tau_plus=0.0), "tau_plus"),
        (dict(a_plus=-1.0), "a_plus"),
        (dict(w_min=1.0, w_max=0.0), "w_min < w_max"),
        (dict(weight_dependence="power"), "weight_dependence"),
    ],
)
def test_bad_params_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        STDPParams(**kwargs)


def test_bad_trains_raise():
    with pytest.raises(ValueError, match="n_post"):
        run_stdp(STDPParams(), np.zeros((2, 3)), np.zeros((4, 3)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="a_pot"):
        WindowedSTDPParams(a_pot=1.5)
