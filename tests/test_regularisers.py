"""Rate and membrane regularisers against hand-computed values."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn.regularisers import firing_rates, membrane_regulariser, spike_rate_regulariser

# T=4, B=1, N=3: rates 0.75, 0.25, 0.0
SPIKES = jnp.array([[[1, 0, 0]], [[1, 1, 0]], [[0, 0, 0]], [[1, 0, 0]]], dtype=float)


def test_firing_rates():
    np.testing.assert_allclose(firing_rates(SPIKES), [0.75, 0.25, 0.0])


def test_rate_bounds_hand_computed():
    # lower 0.1: only neuron 3 is below (0.1^2); upper 0.5: neuron 1 above (0.25^2)
    value = spike_rate_regulariser(SPIKES, lower=0.1, upper=0.5)
    assert float(value) == pytest.approx((0.1**2 + 0.25**2) / 3, rel=1e-12)
    value = spike_rate_regulariser(SPIKES, target=0.25)
    assert float(value) == pytest.approx((0.5**2 + 0 + 0.25**2) / 3, rel=1e-12)


def test_rate_gradient_matches_finite_differences():
    soft = jax.random.uniform(jax.random.PRNGKey(0), (5, 2, 3))
    f = lambda s: spike_rate_regulariser(s, lower=0.45, upper=0.55)
    g = jax.grad(f)(soft)
    e = jnp.zeros_like(soft).at[1, 0, 2].set(1e-6)
    fd = (f(soft + e) - f(soft - e)) / 2e-6
    assert float(g[1, 0, 2]) == pytest.approx(float(fd), rel=1e-5, abs=1e-10)


def test_membrane_regulariser_hand_computed():
    v = jnp.array([[[-3.0, 0.5]], [[2.0, -0.5]]])
    # lower -1: (-3) contributes 2^2; upper 1.5: 2.0 contributes 0.5^2
    assert float(membrane_regulariser(v, lower=-1.0, upper=1.5)) == pytest.approx((4.0 + 0.25) / 4)
    assert float(membrane_regulariser(v, lower=-1.0)) == pytest.approx(1.0)
    # the gradient pulls hyperpolarised potentials up (negative derivative)
    assert float(jax.grad(lambda v: membrane_regulariser(v, lower=-1.0))(v)[0, 0, 0]) < 0


def test_validation():
    with pytest.raises(ValueError, match="at least one"):
        spike_rate_regulariser(SPIKES)
    with pytest.raises(ValueError, match="must not exceed"):
        spike_rate_regulariser(SPIKES, lower=0.5, upper=0.1)
    with pytest.raises(ValueError, match="non-negative"):
        spike_rate_regulariser(SPIKES, target=-0.1)
    with pytest.raises(ValueError, match="time-major"):
        spike_rate_regulariser(jnp.ones(3), lower=0.1)
    with pytest.raises(ValueError, match="finite"):
        membrane_regulariser(SPIKES, lower=float("nan"))
