"""Bases and causal convolution, checked against a direct NumPy loop."""
import numpy as np
import pytest

from probsnn import basis


def direct_convolution(signal, matrix, lag_offset):
    T, C = signal.shape
    L, B = matrix.shape
    out = np.zeros((T, C, B))
    for t in range(T):
        for l in range(L):
            s = t - l - lag_offset
            if s >= 0:
                out[t] += signal[s][:, None] * matrix[l][None, :]
    return out


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("lag_offset", [0, 1, 3])
def test_causal_convolve_matches_loop(method, lag_offset):
    rng = np.random.default_rng(1)
    signal = rng.poisson(0.3, size=(120, 3)).astype(float)
    b = basis.Basis(rng.normal(size=(17, 4)), lag_offset=lag_offset)
    got = np.asarray(basis.causal_convolve(signal, b, method=method))
    np.testing.assert_allclose(got, direct_convolution(signal, b.matrix, lag_offset), atol=1e-10)


def test_history_features_exclude_current_bin():
    signal = np.zeros((10, 1))
    signal[4] = 1.0
    feats = np.asarray(basis.causal_convolve(signal, basis.identity(3, lag_offset=1)))[:, 0, :]
    assert feats[4].sum() == 0  # the spike in bin 4 does not see itself
    np.testing.assert_array_equal(feats[5:8], np.eye(3))


def test_log_raised_cosines_tile_and_end_at_zero():
    b = basis.raised_cosine_log(6, 80)
    m = b.matrix
    assert m.shape == (80, 6)
    assert np.all(m >= 0) and np.all(m <= 1)
    np.testing.assert_allclose(m[-1], 0.0, atol=1e-12)
    peaks = np.argmax(m, axis=0)
    assert np.all(np.diff(peaks) > 0)  # peaks in order
    assert np.all(np.diff(np.diff(peaks)) >= 0)  # and spreading out on a log axis
    # each bump spans four spacings: away from the ends the bumps sum to a constant (2)
    np.testing.assert_allclose(m[peaks[1] : peaks[-2] + 1].sum(axis=1), 2.0, atol=1e-12)


def test_linear_raised_cosines_partition_of_unity():
    m = basis.raised_cosine_linear(5, 61).matrix
    peaks = np.argmax(m, axis=0)
    np.testing.assert_allclose(m[peaks[1] : peaks[-2] + 1].sum(axis=1), 2.0, atol=1e-12)
    np.testing.assert_allclose(np.diff(peaks), 10)


def test_exponential_is_leak_power():
    b = basis.exponential(20, decays=[0.9, 0.5])
    np.testing.assert_allclose(b.matrix[:, 0], 0.9 ** np.arange(20))
    b2 = basis.exponential(20, time_constants=[-1 / np.log(0.9)])
    np.testing.assert_allclose(b2.matrix[:, 0], b.matrix[:, 0])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: basis.raised_cosine_log(0, 10), "n_basis"),
        (lambda: basis.raised_cosine_log(3, 10, stretch=0), "stretch"),
        (lambda: basis.raised_cosine_linear(3, 0), "window"),
        (lambda: basis.exponential(10), "exactly one"),
        (lambda: basis.exponential(10, decays=[1.5]), "decays"),
        (lambda: basis.exponential(10, time_constants=[-2.0]), "time_constants"),
        (lambda: basis.Basis(np.zeros((3, 2)), lag_offset=-1), "lag_offset"),
        (lambda: basis.Basis(np.array([[np.nan]])), "finite"),
        (lambda: basis.causal_convolve(np.zeros(5), basis.identity(2), method="wavelet"), "method"),
    ],
)
def test_bad_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
