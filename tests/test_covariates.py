"""Covariate bases (probsnn.covariates) against SciPy's B-splines, quadrature, and simulated tuning curves."""
from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy.integrate import quad_vec
from scipy.interpolate import BSpline

from probsnn import GaussianPrior, GLMNetwork, SpikeData, fit_map
from probsnn.basis import identity
from probsnn.covariates import (
    AdditiveBasis,
    MultiplicativeBasis,
    bspline,
    covariate_design,
    cyclic_bspline,
    fourier,
    mspline,
)

KNOT_CASES = [
    # (n_basis, order, knots or None for uniform on (-1, 2))
    (6, 1, None),
    (7, 2, None),
    (8, 3, None),
    (9, 4, None),
    (10, 5, None),
    # clamped, non-uniform interior knots (as from quantiles of a covariate)
    (7, 4, np.r_[[0.0] * 4, 0.1, 0.35, 0.4, [1.0] * 4]),
    # an interior knot repeated twice (a kink), quadratic
    (6, 3, np.r_[[0.0] * 3, 0.3, 0.5, 0.5, [1.0] * 3]),
    # unclamped (evenly spaced, extending past the domain), cubic
    (6, 4, np.arange(10.0)),
]


def _domain_grid(basis, n=401):
    low, high = basis.bounds
    return np.r_[np.linspace(low, high, n), low, high]


def _scipy_design(x, knots, order):
    return BSpline.design_matrix(x, knots, order - 1).toarray()


@pytest.mark.parametrize("n_basis, order, knots", KNOT_CASES)
def test_bspline_matches_scipy_design_matrix_and_sums_to_one(n_basis, order, knots):
    basis = bspline(n_basis, order, bounds=(-1.0, 2.0)) if knots is None else bspline(n_basis, order, knots=knots)
    x = _domain_grid(basis)
    values = np.asarray(basis.evaluate(x))
    assert values.shape == (x.size, n_basis)
    np.testing.assert_allclose(values, _scipy_design(x, basis.knots, order), rtol=0, atol=1e-12)
    np.testing.assert_allclose(values.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert values.min() >= 0.0


@pytest.mark.parametrize("n_basis, order, knots", KNOT_CASES[1:6])
def test_mspline_integrates_to_one_and_is_a_scaled_scipy_bspline(n_basis, order, knots):
    basis = mspline(n_basis, order, bounds=(-1.0, 2.0)) if knots is None else mspline(n_basis, order, knots=knots)
    low, high = basis.bounds
    integrals, error = quad_vec(lambda s: np.asarray(basis.evaluate(np.array([s])))[0], low, high,
                                points=np.unique(basis.knots), epsabs=1e-13, epsrel=1e-13)
    np.testing.assert_allclose(integrals, 1.0, rtol=0, atol=1e-10)
    x = np.linspace(low, high, 401)[:-1]  # basis_element is right-open: leave out the right end
    values, t = np.asarray(basis.evaluate(x)), basis.knots
    for j in range(n_basis):  # each M-spline is its B-spline element (scipy) over (t_{j+k} - t_j) / k
        element = BSpline.basis_element(t[j:j + order + 1], extrapolate=False)
        reference = np.nan_to_num(element(x)) * order / (t[j + order] - t[j])
        np.testing.assert_allclose(values[:, j], reference, rtol=0, atol=1e-12)


def test_bspline_derivative_matches_scipy():
    basis = bspline(8, 4, knots=np.r_[[0.0] * 4, 0.2, 0.3, 0.6, 0.7, [1.0] * 4])
    x = np.linspace(0.01, 0.99, 57)
    jacobian = jax.vmap(jax.jacfwd(lambda s: basis.evaluate(s[None])[0]))(x)  # [T, n_basis]
    for j in range(basis.n_basis):
        reference = BSpline(basis.knots, np.eye(basis.n_basis)[j], 3).derivative()(x)
        np.testing.assert_allclose(np.asarray(jacobian[:, j]), reference, rtol=0, atol=1e-10)


@pytest.mark.parametrize("n_basis, order, bounds", [(6, 4, None), (8, 3, (-np.pi, np.pi)), (5, 2, (0.0, 1.0)),
                                                    (7, 5, (2.0, 5.0)), (4, 1, (0.0, 1.0))])
def test_cyclic_bspline_is_the_periodic_extension_of_scipy_elements(n_basis, order, bounds):
    basis = cyclic_bspline(n_basis, order) if bounds is None else cyclic_bspline(n_basis, order, bounds=bounds)
    low, high = basis.bounds
    period, spacing = high - low, (high - low) / n_basis
    x = np.linspace(low - 2 * period, high + period, 1201) + 1e-3 * np.sqrt(2)  # off the knots (order 1 jumps)
    values = np.asarray(basis.evaluate(x))
    shift = max(order // 2 - 1, 0)
    reference = np.zeros_like(values)
    for j in range(n_basis):
        knots = low + spacing * (j + shift - order + 1 + np.arange(order + 1))
        element = BSpline.basis_element(knots, extrapolate=False)
        for m in range(-4, 5):  # sum over periods: C_j(x) = sum_m B_j(x + m P)
            reference[:, j] += np.nan_to_num(element(x + m * period))
    np.testing.assert_allclose(values, reference, rtol=0, atol=1e-12)
    np.testing.assert_allclose(values.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(basis.evaluate(x + 3 * period)), values, rtol=0, atol=1e-10)
    if order % 2 == 0:  # even orders: column j peaks at a + j h
        np.testing.assert_array_equal(np.argmax(np.asarray(basis.evaluate(low + spacing * np.arange(n_basis))),
                                                axis=1), np.arange(n_basis))


def _derivative(basis, order: int):
    """``x -> d^order/dx^order basis.evaluate(x)`` for each sample (rows are independent: one JVP per order)."""
    function = basis.evaluate
    for _ in range(order):
        function = (lambda f: lambda x: jax.jvp(f, (x,), (jax.numpy.ones_like(x),))[1])(function)
    return function


def test_cyclic_bspline_value_and_derivatives_are_continuous_at_the_wrap():
    basis = cyclic_bspline(6, 4)  # cubic: C^2
    eps = 1e-7
    # just below 2 pi, just above 0; then just below and above the knot pi/3
    x = np.array([2 * np.pi - eps, eps, np.pi / 3 - eps, np.pi / 3 + eps])
    for order, tol in ((0, 1e-6), (1, 1e-5), (2, 1e-4)):
        values = np.asarray(_derivative(basis, order)(x))
        np.testing.assert_allclose(values[0], values[1], rtol=0, atol=tol)
    # the test has power: the third derivative of a cubic spline jumps at a knot
    third = np.asarray(_derivative(basis, 3)(x))
    assert np.abs(third[2] - third[3]).max() > 1.0
    # the wrap 0 = 2 pi is an ordinary knot: its jump is the one at pi/3, one function along
    np.testing.assert_allclose(np.roll(third[1] - third[0], 1), third[3] - third[2], rtol=1e-6, atol=0)


def test_fourier_columns_and_orthogonality():
    basis = fourier(3, period=2.0)
    x = np.arange(64) * 2.0 / 64
    values = np.asarray(basis.evaluate(x))
    expected = np.stack([f(2 * np.pi * m * x / 2.0) for m in (1, 2, 3) for f in (np.cos, np.sin)], axis=1)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(values.T @ values * 2 / x.size, np.eye(6), rtol=0, atol=1e-12)


def test_composition_concatenates_and_tensors_columns():
    a, b, c = bspline(5, 3, bounds=(0, 1)), cyclic_bspline(4, 2), fourier(2)
    rng = np.random.default_rng(0)
    x, y, z = rng.uniform(0, 1, 50), rng.uniform(-10, 10, 50), rng.uniform(0, 7, 50)
    A, B, C = (np.asarray(basis.evaluate(v)) for basis, v in ((a, x), (b, y), (c, z)))
    added = a + b + c
    assert isinstance(added, AdditiveBasis) and len(added.components) == 3
    assert (added.n_basis, added.n_inputs) == (5 + 4 + 4, 3)
    np.testing.assert_allclose(np.asarray(added.evaluate(x, y, z)), np.hstack([A, B, C]), rtol=0, atol=1e-14)
    product = a * b * c
    assert isinstance(product, MultiplicativeBasis) and (product.n_basis, product.n_inputs) == (80, 3)
    np.testing.assert_allclose(np.asarray(product.evaluate(x, y, z)),
                               np.einsum("ti,tj,tk->tijk", A, B, C).reshape(50, -1), rtol=0, atol=1e-14)
    mixed = a * b + c  # a joint field over (x, y) plus a tuning to z
    np.testing.assert_allclose(np.asarray(mixed.evaluate(x, y, z)),
                               np.hstack([np.einsum("ti,tj->tij", A, B).reshape(50, -1), C]), rtol=0, atol=1e-14)
    np.testing.assert_allclose(covariate_design(mixed, np.stack([x, y, z], axis=1)),
                               np.asarray(mixed.evaluate(x, y, z)), rtol=0, atol=0)
    np.testing.assert_allclose(covariate_design(a, x), A, rtol=0, atol=0)


def test_bad_input_is_refused_with_the_argument_named():
    basis = bspline(6, bounds=(0, 1))
    with pytest.raises(ValueError, match=r"bounds \[0, 1\].*1.5 at index 2"):
        basis.evaluate(np.array([0.2, 0.3, 1.5]))
    with pytest.raises(ValueError, match="non-finite"):
        basis.evaluate(np.array([0.2, np.nan]))
    with pytest.raises(ValueError, match="takes 2 covariate"):
        (basis * basis).evaluate(np.array([0.2]))
    with pytest.raises(ValueError, match="one length"):
        (basis + basis).evaluate(np.array([0.2]), np.array([0.2, 0.3]))
    with pytest.raises(ValueError, match=r"shape \(T, 2\)"):
        covariate_design(basis * basis, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="bounds of bspline"):
        bspline(6)
    with pytest.raises(ValueError, match=">= order"):
        bspline(3, order=4, bounds=(0, 1))
    with pytest.raises(ValueError, match="non-decreasing"):
        bspline(2, order=2, knots=[0, 1, 0.5, 2])
    with pytest.raises(ValueError, match="zero width"):
        bspline(3, order=2, knots=[0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="n_basis \\+ order"):
        bspline(3, order=2, knots=[0, 0, 1, 1])
    with pytest.raises(ValueError, match="not both"):
        cyclic_bspline(6, period=1.0, bounds=(0, 1))
    with pytest.raises(ValueError, match="period"):
        fourier(2, period=-1.0)
    with pytest.raises(TypeError, match="CovariateBasis"):
        covariate_design(identity(3), np.zeros(4))


def _fit_covariate_glm(design, counts, ridge):
    """A Poisson GLM on a covariate design block: one instantaneous weight per column, plus the bias."""
    data = SpikeData(counts, 0.02, stimulus=design)
    net = GLMNetwork(1, stimulus_basis=identity(1, lag_offset=0), n_stimulus_dims=design.shape[1],
                     history_basis=None)
    fit = fit_map(net, data, prior=GaussianPrior(ridge=ridge))
    assert bool(fit.converged[0])
    return np.asarray(fit.params.stimulus_weights[0, :, 0]), float(fit.params.bias[0])


def test_tensor_bspline_place_field_is_recovered_from_a_random_walk():
    rng = np.random.default_rng(1)
    n_bins = 4000
    position = np.empty((n_bins, 2))
    position[0] = 0.5
    for t in range(1, n_bins):  # a random walk reflected at the walls of the unit box
        step = np.abs(position[t - 1] + rng.normal(0.0, 0.08, 2))
        position[t] = 1.0 - np.abs(1.0 - step)

    def true_log_rate(p):
        return np.log(0.05) + 3.5 * np.exp(-np.sum((p - [0.6, 0.35]) ** 2, axis=-1) / (2 * 0.15 ** 2))

    counts = rng.poisson(np.exp(true_log_rate(position)))
    basis = bspline(7, bounds=(0, 1)) * bspline(7, bounds=(0, 1))
    weights, bias = _fit_covariate_glm(covariate_design(basis, position), counts, ridge=1.0)
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 40), np.linspace(0, 1, 40), indexing="ij"), -1).reshape(-1, 2)
    fitted = np.exp(bias + covariate_design(basis, grid) @ weights)
    correlation = np.corrcoef(fitted, np.exp(true_log_rate(grid)))[0, 1]
    assert correlation > 0.95, correlation


def test_cyclic_bspline_recovers_a_von_mises_head_direction_cell():
    rng = np.random.default_rng(2)
    n_bins = 3000
    heading = np.cumsum(rng.normal(0.0, 0.3, n_bins)) % (2 * np.pi) - np.pi  # angles in [-pi, pi)
    preferred, concentration = 0.2, 2.0  # close to the wrap of the basis's period [0, 2 pi)

    def true_rate(theta):
        return 0.02 * np.exp(concentration * np.cos(theta - preferred))

    counts = rng.poisson(true_rate(heading))
    basis = cyclic_bspline(8, 4)
    weights, bias = _fit_covariate_glm(covariate_design(basis, heading), counts, ridge=0.5)
    grid = np.linspace(0, 2 * np.pi, 181)
    fitted = np.exp(bias + covariate_design(basis, grid) @ weights)
    assert np.corrcoef(fitted, true_rate(grid))[0, 1] > 0.95
    np.testing.assert_allclose(fitted[0], fitted[-1], rtol=1e-12)  # the same value at 0 and 2 pi
    # and no kink: the slope of the fitted log-rate just after 0 equals the one just before 2 pi
    jacobian = jax.vmap(jax.jacfwd(lambda s: basis.evaluate(s[None])[0]))(np.array([1e-9, 2 * np.pi - 1e-9]))
    slope_after_zero, slope_before_two_pi = np.asarray(jacobian) @ weights
    assert abs(slope_after_zero) > 0.1  # the tuning curve is steep there (preferred direction 0.2)
    np.testing.assert_allclose(slope_after_zero, slope_before_two_pi, rtol=1e-6)
