"""Surrogate spike functions: exact step forward, the analytic pseudo-derivative backward."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probsnn import surrogates

X = jnp.array([-2.0, -0.7, -0.1, 0.0, 1e-9, 0.05, 0.5, 3.0])

ANALYTIC = {
    "fast_sigmoid": (surrogates.fast_sigmoid(10.0), lambda x: 1.0 / (1.0 + 10.0 * abs(x)) ** 2),
    "atan": (surrogates.atan(2.0), lambda x: 1.0 / (1.0 + (math.pi * x) ** 2)),
    "triangular": (surrogates.triangular(1.0, 0.3), lambda x: 0.3 * max(0.0, 1.0 - abs(x))),
    "straight_through": (surrogates.straight_through(), lambda x: 1.0),
}


@pytest.mark.parametrize("name", sorted(ANALYTIC))
def test_forward_is_strict_heaviside(name):
    spike, _ = ANALYTIC[name]
    np.testing.assert_array_equal(np.asarray(spike(X)), (np.asarray(X) > 0).astype(float))


@pytest.mark.parametrize("name", sorted(ANALYTIC))
def test_reverse_and_forward_mode_equal_analytic_pseudo_derivative(name):
    spike, psi = ANALYTIC[name]
    expected = np.array([psi(float(x)) for x in X])
    grad = jax.vmap(jax.grad(lambda x: spike(x)))(X)
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-12, atol=1e-15)
    jvp = jax.vmap(jax.jacfwd(lambda x: spike(x)))(X)
    np.testing.assert_allclose(np.asarray(jvp), expected, rtol=1e-12, atol=1e-15)
    # the pure custom_vjp form agrees, and chains with an upstream cotangent
    grad_vjp = jax.grad(lambda x: jnp.sum(3.0 * spike.vjp_only(x)))(X)
    np.testing.assert_allclose(np.asarray(grad_vjp), 3.0 * expected, rtol=1e-12, atol=1e-15)


def test_fast_sigmoid_is_derivative_of_scaled_softsign():
    # psi(x) = d/dx [x / (1 + beta |x|)], checked by central finite differences of that primitive
    beta, h = 25.0, 1e-6
    spike = surrogates.fast_sigmoid(beta)
    for x in [-0.3, -0.01, 0.02, 0.4]:
        prim = lambda z: z / (1.0 + beta * abs(z))
        fd = (prim(x + h) - prim(x - h)) / (2 * h)
        assert abs(float(jax.grad(spike)(x)) - fd) < 1e-6


def test_atan_is_derivative_of_arctan_step():
    alpha, h = 2.0, 1e-6
    spike = surrogates.atan(alpha)
    prim = lambda z: math.atan(math.pi * alpha * z / 2) / math.pi + 0.5
    for x in [-0.5, 0.03, 0.7]:
        fd = (prim(x + h) - prim(x - h)) / (2 * h)
        assert abs(float(jax.grad(spike)(x)) - fd) < 1e-6


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "a"])
def test_bad_hyperparameters_raise(bad):
    with pytest.raises(ValueError, match=r"slope must be a finite number in \(0, inf\)"):
        surrogates.fast_sigmoid(bad)
    with pytest.raises(ValueError):
        surrogates.atan(bad)
    with pytest.raises(ValueError):
        surrogates.triangular(width=bad)


def test_get_surrogate():
    assert "fast_sigmoid" in repr(surrogates.get_surrogate(None))
    assert "atan" in repr(surrogates.get_surrogate("atan"))
    with pytest.raises(ValueError, match="unknown surrogate"):
        surrogates.get_surrogate("sigmoidish")
    with pytest.raises(ValueError):
        surrogates.get_surrogate(3)


def test_works_under_jit_and_vmap():
    spike = surrogates.fast_sigmoid()
    out = jax.jit(jax.vmap(jax.grad(lambda x: spike(x) * x)))(X)
    # d/dx [H(x) x] = H(x) + x psi(x)
    expected = (np.asarray(X) > 0) + np.asarray(X) / (1 + 25 * np.abs(np.asarray(X))) ** 2
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-12)
