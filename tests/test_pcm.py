"""PCM statistical model against independent references (SciPy quadrature over the model's distributions)."""
import math

import jax
import numpy as np
import pytest
from scipy import integrate, stats

from probsnn.hardware.pcm import (
    ONE_DAY,
    ONE_HOUR,
    ONE_YEAR,
    PCMConfig,
    program_devices,
    quantise_levels,
    quantise_uniform,
    read_devices,
    simulate_conductance,
)

G_MAX = 25.0


def _reference_moments(r, t):
    """E[g]/g_T and std(g)/g_max from the model equations, by numerical integration (no emulator code).

    g = g_p * D * (1 + s(t) Q(g_p) eta) with g_p ~ N(g_T, sigma_prog(r)^2), D = ((t+t0)/t0)^(-max(nu, 0)),
    nu ~ N(mu_nu(r), sigma_nu(r)^2), eta ~ N(0, 1), all independent. The clamps g_p >= 0 and g >= 0 are
    ignored: at r >= 0.1 they act beyond 5 standard deviations (probability < 1e-6).
    """
    g_t = r * G_MAX
    sigma_p = (0.26348 + 1.9650 * r - 1.1731 * r**2) * G_MAX / 25.0
    mu_nu = min(max(-0.0155 * math.log(r) + 0.0244, 0.049), 0.1)
    sd_nu = min(max(-0.0125 * math.log(r) - 0.0059, 0.008), 0.045)
    log_ratio = math.log((t + 20.0) / 20.0)
    s_t = math.sqrt(math.log((t + 20.0 + 250e-9) / (2 * 250e-9)))

    def drift_moment(k):
        f = lambda nu: math.exp(-k * log_ratio * max(nu, 0.0)) * stats.norm.pdf(nu, mu_nu, sd_nu)
        lo, hi = mu_nu - 10 * sd_nu, mu_nu + 10 * sd_nu
        return integrate.quad(f, lo, hi, points=[0.0] if lo < 0 < hi else None, limit=200)[0]

    def q_s(g):
        return min(0.2, 0.0088 / max(abs(g) / G_MAX, 1e-3) ** 0.65)

    pdf = lambda g: stats.norm.pdf(g, g_t, sigma_p)
    lo, hi = g_t - 10 * sigma_p, g_t + 10 * sigma_p
    m1_prog = integrate.quad(lambda g: g * pdf(g), lo, hi, limit=200)[0]
    m2 = integrate.quad(lambda g: g * g * (1 + (s_t * q_s(g)) ** 2) * pdf(g), lo, hi, limit=200)[0]
    mean = m1_prog * drift_moment(1)
    second = m2 * drift_moment(2)
    return mean / g_t, math.sqrt(second - mean**2) / G_MAX


@pytest.fixture(scope="module")
def programmed():
    cfg = PCMConfig()
    out = {}
    for i, r in enumerate((0.1, 0.5, 1.0)):
        out[r] = program_devices(jax.random.PRNGKey(i), np.full(1_000_000, r * G_MAX), cfg)
    return cfg, out


@pytest.mark.parametrize("t", [0.0, ONE_HOUR, ONE_DAY, ONE_YEAR])
@pytest.mark.parametrize("r", [0.1, 0.5, 1.0])
def test_million_device_statistics_match_model(programmed, r, t):
    cfg, devices = programmed
    g = np.asarray(read_devices(jax.random.PRNGKey(100 + int(10 * r)), devices[r], t, cfg))
    ref_mean, ref_std = _reference_moments(r, t)
    mean = g.mean() / (r * G_MAX)
    std = g.std() / G_MAX
    assert mean == pytest.approx(ref_mean, rel=0.01)
    assert std == pytest.approx(ref_std, rel=0.03)


def test_mean_drift_factor_quoted_in_joshi_2020():
    # r >= 0.33: mu_nu = 0.049 (lower clip), sigma_nu = 0.008 -> E[D] = exp(-mu L + sigma^2 L^2 / 2).
    cfg = PCMConfig(prog_noise_scale=0.0, read_noise_scale=0.0)
    for t, expected in ((ONE_HOUR, 0.776), (ONE_DAY, 0.665), (ONE_YEAR, 0.500)):
        g = simulate_conductance(jax.random.PRNGKey(3), np.full(400_000, 0.5 * G_MAX), t, cfg)
        assert float(np.mean(g)) / (0.5 * G_MAX) == pytest.approx(expected, abs=1.5e-3)


def test_noise_free_devices_hold_their_targets_exactly():
    targets = np.linspace(0, G_MAX, 101)
    g = simulate_conductance(jax.random.PRNGKey(0), targets, ONE_YEAR, PCMConfig.noise_free())
    np.testing.assert_array_equal(np.asarray(g), targets)


def test_levels_and_stuck_faults():
    cfg = PCMConfig.noise_free(n_levels=5, p_stuck_off=0.1, p_stuck_on=0.05)
    np.testing.assert_allclose(quantise_levels(np.array([0.0, 3.0, 7.0, 24.0]), cfg), [0.0, 0.0, 6.25, 25.0])
    n = 200_000
    g = np.asarray(simulate_conductance(jax.random.PRNGKey(1), np.full(n, 12.5), ONE_DAY, cfg))
    # binomial 3-sigma on the fault frequencies
    for value, p in ((0.0, 0.1), (25.0, 0.05)):
        frac = np.mean(g == value)
        assert abs(frac - p) < 3 * math.sqrt(p * (1 - p) / n)
    assert np.all((g == 0.0) | (g == 25.0) | (g == 12.5))


def test_device_to_device_variability_adds_relative_spread():
    cfg = PCMConfig.noise_free(d2d_sigma=0.05)
    g = np.asarray(simulate_conductance(jax.random.PRNGKey(2), np.full(200_000, 20.0), 0.0, cfg))
    assert g.std() / 20.0 == pytest.approx(0.05, rel=0.01)


def test_uniform_quantiser():
    x = np.array([-2.0, -0.5, 0.004, 0.3, 1.0])
    q = np.asarray(quantise_uniform(x, 8, 1.0))
    step = 1.0 / 127
    np.testing.assert_allclose(q, np.clip(np.round(np.clip(x, -1, 1) / step) * step, -1, 1))
    assert np.max(np.abs(q - np.clip(x, -1, 1))) <= step / 2 + 1e-15


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(g_max=-1.0), "g_max"),
        (dict(p_stuck_off=1.5), "p_stuck_off"),
        (dict(n_levels=1), "n_levels"),
        (dict(drift_mu_bounds=(0.2, 0.1)), "drift_mu_bounds"),
    ],
)
def test_bad_config_raises(bad, match):
    with pytest.raises(ValueError, match=match):
        PCMConfig(**bad)


def test_bad_targets_and_times_raise():
    with pytest.raises(ValueError, match="g_max"):
        program_devices(jax.random.PRNGKey(0), np.array([30.0]))
    devices = program_devices(jax.random.PRNGKey(0), np.array([3.0]))
    with pytest.raises(ValueError, match="time"):
        read_devices(jax.random.PRNGKey(0), devices, -1.0)
