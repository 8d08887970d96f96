r"""Maximum-likelihood / MAP fitting of GLM networks by Newton's method, vectorised over neurons.

Given observed spikes, the neurons' conditional likelihoods do not share parameters, so the fit splits
into ``N`` independent concave problems over each neuron's flat weight vector :math:`w_i` (see
:meth:`probsnn.GLMNetwork.flatten`):

.. math::
    \max_{w_i}\; f_i(w_i) = \sum_t \log p\bigl(s_{i,t} \mid x_t^\top w_i\bigr) - \tfrac12 w_i^\top P w_i ,

with the design :math:`X` (rows :math:`x_t`) computed once and shared by all neurons, and :math:`P` the
precision of a :class:`probsnn.models.GaussianPrior` (zero: maximum likelihood). Newton's method uses

.. math::
    g_i = X^\top \ell'_i - P w_i, \qquad
    H_i = X^\top \operatorname{diag}(-\ell''_i) X + P, \qquad
    w_i \leftarrow w_i + \alpha_i H_i^{-1} g_i ,

where :math:`\ell', \ell''` are the first two derivatives of the per-bin log-likelihood in the potential
(obtained with ``jax.jvp`` of ``jax.grad``, so any observation model and link works: this is IRLS for the
canonical links). The step length :math:`\alpha_i` comes from Armijo backtracking per neuron, and the
iteration stops when the Newton decrement :math:`\lambda_i^2/2 = g_i^\top H_i^{-1} g_i / 2` (the predicted
gain in nats) falls below ``tol`` for every neuron. Neurons that do not converge are handed to Optax's
L-BFGS; a neuron that still does not converge is reported (``converged=False`` and a warning).

The Laplace approximation :math:`w_i \mid s \approx \mathcal N(\hat w_i, H_i^{-1})` gives the
covariance and standard errors of every coefficient at no extra cost.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import positive_float, positive_int
from ..data import SpikeData
from ..diagnostics import ConvergenceWarning
from ..models.priors import GaussianPrior
from ..neurons.glm import GLMNetwork, GLMParams, weighted

__all__ = ["fit_map", "MAPResult", "ConvergenceWarning"]


@dataclass
class MAPResult:
    """Result of :func:`fit_map`.

    Attributes
    ----------
    params : GLMParams
        The MAP / ML estimate.
    log_likelihood : float
        Total log-likelihood of the data at ``params`` (nats, including ``-log s!`` for Poisson).
    log_likelihood_per_neuron : ndarray (N,)
    log_posterior_per_neuron : ndarray (N,)
        Log-likelihood minus the prior's quadratic penalty.
    converged : ndarray of bool (N,)
        False where the Newton decrement stayed above ``tol``, and where the objective has no maximum
        (weights diverging on (quasi-)separable data; see :func:`fit_map`).
    n_iterations : ndarray of int (N,)
        Newton iterations (plus L-BFGS iterations where the fallback ran).
    newton_decrement : ndarray (N,)
        Final :math:`\\lambda^2/2` per neuron (nats).
    solver : list of str
        ``"newton"`` or ``"newton+lbfgs"`` per neuron.
    covariance : ndarray (N, F, F)
        Laplace covariance :math:`H_i^{-1}` of each neuron's flat weights (zero for masked entries).
    standard_errors : GLMParams
        Square roots of the covariance diagonals, in the shape of the parameters.
    """

    params: GLMParams
    log_likelihood: float
    log_likelihood_per_neuron: np.ndarray
    log_posterior_per_neuron: np.ndarray
    converged: np.ndarray
    n_iterations: np.ndarray
    newton_decrement: np.ndarray
    solver: list
    covariance: np.ndarray
    standard_errors: GLMParams

    def filter_standard_errors(self, net: GLMNetwork) -> dict:
        r"""Pointwise standard errors of the filters in lag space: :math:`\sqrt{m_\ell^\top \Sigma m_\ell}`."""
        return filter_standard_errors(net, self.covariance)


def filter_standard_errors(net: GLMNetwork, covariance) -> dict:
    r"""Pointwise standard errors of ``net``'s filters in lag space from the per-neuron covariance ``[N, F, F]``.

    The filter at lag :math:`\ell` is :math:`m_\ell^\top w` (``m_l`` a row of the basis matrix), so its standard
    error is :math:`\sqrt{m_\ell^\top \Sigma m_\ell}` with :math:`\Sigma` the covariance block of its weights.
    Returns ``stimulus`` ``[N, D, L_s]`` and ``coupling`` ``[N, N, L_h]`` where the network has them.
    """
    covariance = np.asarray(covariance)
    n, ds, bs, bh = net.n_neurons, net.n_stimulus_dims, net.n_stimulus_basis, net.n_history_basis
    out = {}
    if net.stimulus_basis is not None and ds > 0:
        m = net.stimulus_basis.matrix
        cov = covariance[:, : ds * bs, : ds * bs].reshape(n, ds, bs, ds, bs)
        blocks = np.stack([cov[:, d, :, d, :] for d in range(ds)], axis=1)  # [N, D, B, B]
        out["stimulus"] = np.sqrt(np.maximum(np.einsum("lb,ndbc,lc->ndl", m, blocks, m), 0.0))
    if net.history_basis is not None and bh > 0:
        m = net.history_basis.matrix
        start = ds * bs
        cov = covariance[:, start : start + n * bh, start : start + n * bh].reshape(n, n, bh, n, bh)
        blocks = np.stack([cov[:, j, :, j, :] for j in range(n)], axis=1)  # [N, N, B, B]
        out["coupling"] = np.sqrt(np.maximum(np.einsum("lb,njbc,lc->njl", m, blocks, m), 0.0))
    return out


# ------------------------------------------------------------------------------------ jitted pieces
def _loglik_derivatives(observation, counts, potential, weight):
    """Per-bin log-likelihood (up to count-only terms, which Newton's method never needs) times the likelihood
    weight (None: all ones), and its first two derivatives in the potential."""

    def total(u):
        return weighted(observation.unnormalised_log_prob(counts, u), weight).sum()

    first, second = jax.jvp(jax.grad(total), (potential,), (jnp.ones_like(potential),))
    return weighted(observation.unnormalised_log_prob(counts, potential), weight), first, second


def _prior_gradient(weights, precision):
    """``P_i w_i`` per neuron, for one precision ``[F, F]`` shared by all neurons or one per neuron ``[N, F, F]``."""
    if precision.ndim == 3:
        return jnp.einsum("nfg,ng->nf", precision, weights)
    return weights @ precision


def _penalty(weights, precision):
    """``w_i^T P_i w_i / 2`` per neuron (see :func:`_prior_gradient`)."""
    return 0.5 * jnp.sum(weights * _prior_gradient(weights, precision), axis=1)


@partial(jax.jit, static_argnames=("observation",))
def _objective(design, counts, weights, precision, weight, observation):
    potential = design @ weights.T
    loglik = weighted(observation.log_prob(counts, potential), weight).sum(axis=0)
    return loglik, loglik - _penalty(weights, precision)


_HESSIAN_CHUNK = 4096  # rows per block: a block of the design stays in cache while it is used
# Per neuron, the stacked all-neuron Hessian product runs about this many times faster than a thin one (CPU).
_STACKED_SPEEDUP = 2.5


def _gram_stacked(design, row_weights, accumulate_dtype=None):
    """``X^T diag(d_n) X`` for every neuron ``n`` at once: ``[N, F, F]`` from ``design [T, F]``, ``d [T, N]``.

    All neurons share the design, so each block of rows is used in one product ``X_b^T [d_1 X_b, ..., d_N X_b]``
    (``F x N F``) instead of ``N`` thin ``F x F`` products: the same arithmetic with several times the
    throughput on CPU. Block products run in the design's precision and are summed in ``accumulate_dtype``
    (default: the same), so a float32 design with float64 accumulation keeps the sum's rounding error at the
    level of one block (~1e-6 relative) instead of growing with the number of rows.
    """
    n_rows, n_features = design.shape
    n_neurons = row_weights.shape[1]
    accumulate_dtype = accumulate_dtype or design.dtype

    def block_product(x, d):
        weighted = (x[:, None, :] * d[:, :, None]).reshape(x.shape[0], n_neurons * n_features)
        return (x.T @ weighted).astype(accumulate_dtype)

    n_full = (n_rows // _HESSIAN_CHUNK) * _HESSIAN_CHUNK
    total = jnp.zeros((n_features, n_neurons * n_features), accumulate_dtype)
    if n_full:
        blocks = design[:n_full].reshape(-1, _HESSIAN_CHUNK, n_features)
        block_weights = row_weights[:n_full].reshape(-1, _HESSIAN_CHUNK, n_neurons)
        total, _ = jax.lax.scan(lambda acc, blk: (acc + block_product(*blk), None), total, (blocks, block_weights))
    if n_full < n_rows:
        total = total + block_product(design[n_full:], row_weights[n_full:])
    return total.reshape(n_features, n_neurons, n_features).transpose(1, 0, 2)


def _negative_hessian(design, neg_second, precision, maskf, active=None, work_dtype=None):
    """``X^T diag(-l'') X + P`` per neuron, restricted to free features (identity on masked ones).

    With a float32 ``design`` the ``T x F x F`` products run in single precision (about 2x faster on
    CPU); Newton's method then still converges to the exact optimum, since the gradient stays in the
    working precision and the Hessian only sets the step. Neurons that are not ``active`` (converged) are
    skipped (their Hessian is returned as the prior precision alone). ``design`` may already be a
    lower-precision copy; the result is returned in ``work_dtype`` (default: the precision's dtype).
    """
    work = work_dtype or precision.dtype
    neg_second = neg_second.astype(design.dtype)
    if active is None:
        active = jnp.ones(neg_second.shape[1], bool)
    n_features = design.shape[1]

    def one(args):
        column, is_active = args
        return jax.lax.cond(is_active, lambda: _gram_stacked(design, column[:, None])[0],
                            lambda: jnp.zeros((n_features, n_features), design.dtype))

    # Many neurons active: one stacked product; a few stragglers: one thin product each, skipping the rest.
    n_active = jnp.sum(active)
    hessian = jax.lax.cond(
        n_active * _STACKED_SPEEDUP > neg_second.shape[1],
        lambda: _gram_stacked(design, neg_second * active.astype(design.dtype)[None, :], work),
        lambda: jax.lax.map(one, (neg_second.T, active)).astype(work),
    )
    hessian = hessian + (precision if precision.ndim == 3 else precision[None])
    hessian = hessian * maskf[:, :, None] * maskf[:, None, :]
    return hessian + jax.vmap(jnp.diag)(1.0 - maskf)


def _solve_pd(hessian, rhs):
    """Solve ``H x = b`` per neuron by Cholesky, with Levenberg damping where H is not positive definite.

    The damped factorisation deliberately depends on the first one: two independent batched LAPACK calls in
    one program may run concurrently, and jaxlib's batched kernels then wait on each other's worker threads
    (a deadlock seen on 2-core machines).
    """
    chol = jnp.linalg.cholesky(hessian)
    bad = jnp.any(~jnp.isfinite(chol), axis=(1, 2))
    scale = jnp.max(jnp.abs(jax.vmap(jnp.diag)(hessian)), axis=1)
    shift = jnp.where(bad, 1e-8 * scale + 1e-12, 0.0)
    eye = jnp.eye(hessian.shape[-1], dtype=hessian.dtype)
    chol = jnp.linalg.cholesky(hessian + shift[:, None, None] * eye)
    return jax.vmap(lambda c, b: jax.scipy.linalg.cho_solve((c, True), b))(chol, rhs), chol


@partial(jax.jit, static_argnames=("observation", "max_halvings"))
def _newton_step(design, hessian_design, counts, weights, potential, precision, maskf, active, weight, observation,
                 max_halvings=30):
    loglik_terms, first, second = _loglik_derivatives(observation, counts, potential, weight)
    objective = loglik_terms.sum(axis=0) - _penalty(weights, precision)
    gradient = (first.T @ design - _prior_gradient(weights, precision)) * maskf
    hessian = _negative_hessian(hessian_design, -second, precision, maskf, active)
    direction, _ = _solve_pd(hessian, gradient)
    decrement = jnp.sum(gradient * direction, axis=1)  # lambda^2
    direction_potential = design @ direction.T  # [T, N]

    def evaluate(step):
        new_weights = weights + step[:, None] * direction
        new_potential = potential + step[None, :] * direction_potential
        value = (weighted(observation.unnormalised_log_prob(counts, new_potential), weight).sum(axis=0)
                 - _penalty(new_weights, precision))
        return jnp.where(jnp.isfinite(value), value, -jnp.inf)

    # Armijo backtracking per neuron; a tiny decrement is inside the quadratic region: take the full step.
    def accepted(step, value):
        return (value >= objective + 1e-4 * step * decrement) | (decrement < 1e-9)

    def cond(state):
        k, step, value = state
        return (k < max_halvings) & jnp.any(active & ~accepted(step, value))

    def body(state):
        k, step, value = state
        step = jnp.where(accepted(step, value) | ~active, step, 0.5 * step)
        return k + 1, step, evaluate(step)

    step0 = jnp.ones_like(objective)
    _, step, value = jax.lax.while_loop(cond, body, (0, step0, evaluate(step0)))
    ok = accepted(step, value) & active & jnp.isfinite(decrement)
    step = jnp.where(ok, step, 0.0)
    new_weights = weights + step[:, None] * direction
    new_potential = potential + step[None, :] * direction_potential
    return new_weights, new_potential, objective, 0.5 * decrement, ok


@partial(jax.jit, static_argnames=("observation",))
def _curvature(design, counts, weights, precision, maskf, weight, observation):
    """Gradient, negative Hessian, Newton decrement and Newton direction at ``weights``, in the design's
    precision."""
    potential = design @ weights.T
    _, first, second = _loglik_derivatives(observation, counts, potential, weight)
    gradient = (first.T @ design - _prior_gradient(weights, precision)) * maskf
    hessian = _negative_hessian(design, -second, precision, maskf)
    direction, chol = _solve_pd(hessian, gradient)
    return gradient, hessian, 0.5 * jnp.sum(gradient * direction, axis=1), direction


_LBFGS = optax.lbfgs()


@partial(jax.jit, static_argnames=("observation",))
def _lbfgs_step(design, counts, precision, maskf, weights, state, weight, observation):
    """One Optax L-BFGS step on the summed negative objective. The data are arguments, not constants closed
    over, so XLA does not constant-fold them and one compiled step serves every fit of the same shapes."""

    def loss(w):
        w = w * maskf
        return -_objective(design, counts, w, precision, weight, observation)[1].sum()

    value, grad = optax.value_and_grad_from_state(loss)(weights, state=state)
    updates, state = _LBFGS.update(grad, state, weights, value=value, grad=grad, value_fn=loss)
    return optax.apply_updates(weights, updates), state, jnp.max(jnp.abs(grad * maskf))


def _lbfgs(design, counts, weights, precision, maskf, weight, observation, max_iter, tol):
    """Optax L-BFGS on the summed negative objective (neurons are independent, so this is N problems)."""
    state = _LBFGS.init(weights)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        weights, state, grad_max = _lbfgs_step(design, counts, precision, maskf, weights, state, weight, observation)
        if not bool(jnp.isfinite(grad_max)):
            break
        if float(grad_max) < tol:
            break
    return weights * maskf, n_iter


def _newton_loop(design, hessian_design, counts, weights, precision, maskf, weight, observation, tol, max_iter,
                 bar):
    """Newton iterations until every neuron's decrement is below ``tol`` (or it stalls, or max_iter).

    The step computed at a decrement below ``tol`` is still taken, so the returned point is accurate to
    about ``tol**2`` nats where Newton converges quadratically.
    """
    n_neurons = weights.shape[0]
    potential = design @ weights.T
    active = np.ones(n_neurons, bool)
    stalled = np.zeros(n_neurons, bool)
    n_iterations = np.zeros(n_neurons, int)
    for _ in range(max_iter):
        weights, potential, _, decrement, moved = _newton_step(
            design, hessian_design, counts, weights, potential, precision, maskf, jnp.asarray(active), weight,
            observation)
        n_iterations += active
        decrement = np.asarray(decrement)
        done = decrement <= tol
        stalled |= active & ~np.asarray(moved) & ~done
        if bar is not None:
            bar.update(1)
            bar.set_postfix(max_decrement=f"{np.max(np.where(active, decrement, 0.0)):.2e}")
        active = active & ~done & ~stalled
        if not active.any():
            break
    return weights, n_iterations, stalled


# Divergence to infinity (no maximum: (quasi-)separable data). A neuron is reported as diverging when a weight,
# measured on the feature's RMS scale (|w_j| * rms(x_j), i.e. on standardised features; the bias column has
# rms 1), exceeds DIVERGENCE_BOUND, or when the Newton step d still moves a standardised weight by more than
# _DIVERGENCE_STEP while the objective keeps rising along it, f(w) < f(w + d) < f(w + 4d) < f(w + 16d): at a
# finite maximum the objective along the Newton ray peaks near the first step (its quadratic model peaks at 1).
DIVERGENCE_BOUND = 1e3
_DIVERGENCE_STEP = 1e-3


def _diverging(design, counts, weights, direction, precision, maskf, weight, observation):
    """Per neuron: does the objective increase without bound from the fitted weights along the Newton
    ``direction`` (no finite maximum)?

    Returns ``(diverging [N] bool, largest effective weight [N])``.
    """
    rms = np.sqrt(np.asarray(jnp.mean(design * design, axis=0), dtype=np.float64))
    mask_np = np.asarray(maskf, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64) * mask_np
    largest = np.max(np.abs(w * rms[None, :]), axis=1)
    direction = np.asarray(direction, dtype=np.float64) * mask_np
    direction = np.where(np.isfinite(direction), direction, 0.0)
    step = np.max(np.abs(direction * rms[None, :]), axis=1)
    if not np.any(step > _DIVERGENCE_STEP):  # at a finite optimum the Newton step is tiny: no ray to walk
        return largest > DIVERGENCE_BOUND, largest
    precision_np = np.asarray(precision, dtype=np.float64)
    u = design @ jnp.asarray(w.T, design.dtype)
    du = design @ jnp.asarray(direction.T, design.dtype)
    # the count-only term of the log-probability cancels in every difference below
    terms = {k: weighted(observation.unnormalised_log_prob(counts, u + k * du), weight) for k in (0, 1, 4, 16)}

    def value_change(k_from, k_to):
        # per-bin differences, summed: far less rounding than the difference of two large sums
        change = np.asarray((terms[k_to] - terms[k_from]).sum(axis=0), dtype=np.float64)
        w_from, w_to = w + k_from * direction, w + k_to * direction
        penalty = np.asarray(_penalty(w_to, precision_np)) - np.asarray(_penalty(w_from, precision_np))
        return change - penalty

    rising = (value_change(0, 1) > 0) & (value_change(1, 4) > 0) & (value_change(4, 16) > 0)  # NaN: False
    diverging = (largest > DIVERGENCE_BOUND) | ((step > _DIVERGENCE_STEP) & rising)
    return diverging, largest


# Float32 precision loss. The log-likelihood of large counts (e.g. 1e6 spikes per bin: per-bin terms of 1e7
# nats, which float32 resolves to ~1 nat) and Hessians whose features differ in scale by many orders (history
# columns of such counts beside the bias column of ones) are beyond single precision: the float32 Cholesky
# fails or Newton's steps are noise, and the fit ends with NaN or wrong weights. It is detected once, after the
# Newton loop, from concrete values: non-finite weights, curvature or decrement; a neuron that ended above tol
# although Newton stopped early (stalled line search, or a decrement that passed tol inside the loop but not
# when recomputed), which exhausting max_iter does not count as; and, for a float32 fit, a Jacobi-scaled
# Hessian condition number above _FLOAT32_MAX_CONDITION (float32 holds about 7 digits; at this condition
# number the Newton direction and the Laplace covariance keep about one).
_FLOAT32_MAX_CONDITION = 1e6


def _precision_loss(net, weights, hessian, decrement, tol, stalled, n_iterations, max_iter,
                    check_condition: bool) -> str:
    """Why a fit whose Newton steps ran in float32 cannot be trusted (empty string when it can)."""
    weights, hessian, decrement = (np.asarray(a, dtype=np.float64) for a in (weights, hessian, decrement))
    if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(hessian)) and np.all(np.isfinite(decrement))):
        return "the weights or the curvature (Hessian) became non-finite"
    stopped_early = (decrement > tol) & (np.asarray(stalled) | (np.asarray(n_iterations) < max_iter))
    if stopped_early.any():
        names = [net.neuron_names[i] for i in np.flatnonzero(stopped_early)]
        return (f"Newton stopped above tol={tol:g} for neuron(s) {names} (decrement {decrement[stopped_early]}): "
                "its steps no longer increase the float32 objective")
    if check_condition:
        diagonal = np.einsum("nii->ni", hessian)
        scale = np.where(diagonal > 0, 1.0 / np.sqrt(np.where(diagonal > 0, diagonal, 1.0)), 1.0)
        condition = np.linalg.cond(hessian * scale[:, :, None] * scale[:, None, :])
        if np.any(condition > _FLOAT32_MAX_CONDITION):
            return (f"the Hessian is ill-conditioned for float32 (scaled condition number {np.max(condition):.2e} "
                    f"> {_FLOAT32_MAX_CONDITION:.0e})")
    return ""


def _refit_in_float64(net, data, reason, **kwargs) -> "MAPResult":
    """Run :func:`fit_map` again under ``jax.enable_x64(True)`` (a context manager: float64 only inside it), and
    return the result with parameters and standard errors in float32, the caller's precision."""
    max_count = float(np.max(data.counts))
    if kwargs["warn"]:
        warnings.warn(
            f"fit_map: float32 lost precision on these data ({reason}; largest count {max_count:.6g} per bin), so "
            "the fit was rerun in float64 (inside jax.enable_x64(True)); the returned parameters are that float64 "
            "optimum rounded to float32. To fit in float64 directly, call "
            "jax.config.update('jax_enable_x64', True) at start-up.",
            ConvergenceWarning,
            stacklevel=3,
        )
    init, design = kwargs.pop("init"), kwargs.pop("design")
    with jax.enable_x64(True):
        if init is not None:
            init = GLMParams(*(jnp.asarray(np.asarray(p), jnp.float64) for p in init))
        if design is not None:
            design = jnp.asarray(np.asarray(design), jnp.float64)
        kwargs["fast_hessian"] = False  # float32 Hessians would lose the same precision again
        result = fit_map(net, data, init=init, design=design, **kwargs)
        params = GLMParams(*(np.asarray(p) for p in result.params))
        standard_errors = GLMParams(*(np.asarray(p) for p in result.standard_errors))
    result.params = GLMParams(*(jnp.asarray(p, jnp.float32) for p in params))
    result.standard_errors = GLMParams(*(jnp.asarray(p, jnp.float32) for p in standard_errors))
    return result


# ------------------------------------------------------------------------------------ public API
def _check_prior(prior, net) -> np.ndarray:
    """The prior precision: ``[F, F]`` shared by all neurons, or ``[N, F, F]`` for one prior per neuron."""
    if prior is None:
        return np.zeros((net.n_features, net.n_features))
    if isinstance(prior, GaussianPrior):
        return prior.precision_matrix(net)
    if isinstance(prior, (list, tuple)) and len(prior) == net.n_neurons and all(
            isinstance(p, GaussianPrior) for p in prior):
        return np.stack([p.precision_matrix(net) for p in prior])
    raise TypeError(
        f"prior must be None (maximum likelihood), a probsnn.models.GaussianPrior, or a list of "
        f"{net.n_neurons} GaussianPriors (one per neuron); got {type(prior).__name__}"
        + (f" of length {len(prior)}" if isinstance(prior, (list, tuple)) else "") + "."
    )


def _initial_weights(net: GLMNetwork, data: SpikeData, precision: np.ndarray, weight=None) -> np.ndarray:
    """Zero filters and the bias of a homogeneous model (the ML bias of an intercept-only fit over the bins of
    the likelihood, ``weight``)."""
    if weight is None:
        mean = data.counts.mean(axis=0)
    else:
        n_bins = weight.sum(axis=0)
        if np.any(n_bins == 0):
            i = int(np.argmax(n_bins == 0))
            raise ValueError(
                f"neuron {net.neuron_names[i]!r} has no bin in the likelihood (it is never observed"
                + (f", or every observed bin lies within the window ({net.window} bins) of an edge that "
                   "trial_edges='drop' leaves out" if net.trial_edges == "drop" else "")
                + "); drop the neuron or give it observed bins."
            )
        mean = (data.counts * weight).sum(axis=0) / n_bins
    has_bias_prior = precision[..., -1, -1] > 0  # per neuron when each has its own prior
    observation = net.observation
    low, high = observation.mean_bounds
    degenerate = (mean <= low) | (mean >= high)
    unresolved = degenerate & ~has_bias_prior
    if np.any(unresolved):
        i = int(np.argmax(unresolved))
        what = "no spikes" if mean[i] <= low else "a spike in every bin"
        raise ValueError(
            f"neuron {net.neuron_names[i]!r} has {what} in the data, so its maximum-likelihood bias is "
            "infinite. Drop the neuron, use more data, or give the bias a prior (GaussianPrior(bias=...))."
        )
    bias = observation.inverse_link(np.clip(mean, low + 1e-3, high - 1e-3))
    weights = np.zeros((net.n_neurons, net.n_features))
    weights[:, -1] = bias
    return weights


def fit_map(
    net: GLMNetwork,
    data: SpikeData,
    prior: GaussianPrior | list | None = None,
    init: GLMParams | None = None,
    max_iter: int = 100,
    tol: float | None = None,
    lbfgs_max_iter: int = 2000,
    design=None,
    progress: bool | None = None,
    warn: bool = True,
    fast_hessian: bool = True,
) -> MAPResult:
    r"""Maximum-likelihood or MAP fit of a GLM network to observed spikes, with Laplace standard errors.

    Parameters
    ----------
    net : GLMNetwork
    data : SpikeData
        Observed spikes (and stimulus, if the network has stimulus filters).
    prior : GaussianPrior or list of GaussianPrior, optional
        Ridge / smoothing prior, shared by all neurons or one per neuron (e.g. the strengths chosen by
        :func:`probsnn.fit_evidence`); ``None`` for maximum likelihood.
    init : GLMParams, optional
        Starting point; by default zero filters and the homogeneous-rate bias.
    max_iter : int
        Maximum Newton iterations.
    tol : float, optional
        Convergence threshold on the Newton decrement :math:`\lambda^2/2` in nats (default ``1e-7`` in
        float64, ``1e-4`` in float32). The step taken at the last iteration leaves the returned point
        accurate to about ``tol**2`` nats; ``converged`` reports the decrement recomputed there.
    lbfgs_max_iter : int
        Iterations of the Optax L-BFGS fallback for neurons Newton did not converge.
    design : array, optional
        A precomputed ``net.design_matrix(data)``.
    progress : bool, optional
        Show a progress bar (default: when writing to a terminal).
    warn : bool
        Emit a :class:`ConvergenceWarning` for neurons that did not converge.
        Divergence to infinity is detected too: on (quasi-)separable data (e.g. a Bernoulli neuron that
        spikes exactly when a feature is positive) the likelihood has no maximum, and Newton's decrement
        falls below ``tol`` only because the log-likelihood approaches its supremum as the weights grow.
        Such a neuron is reported with ``converged=False`` and a warning when a weight on the standardised
        feature scale (``|w_j| * rms(x_j)``) exceeds ``DIVERGENCE_BOUND = 1e3``, or when the Newton step
        still moves a standardised weight by more than 1e-3 while the objective keeps rising along it far
        past the step (at 1, 4 and 16 steps; at a finite maximum it peaks near one step). The fix is a
        prior, ``prior=GaussianPrior(ridge=...)``.
    fast_hessian : bool
        In float64, form the Newton Hessians in float32 (about 3x faster); the gradient, the stopping test
        and the final Laplace covariance stay in float64, so the optimum is unchanged. Where float32 Hessians
        cannot resolve the data (see Notes) Newton is rerun with float64 Hessians, with a warning.

    Returns
    -------
    MAPResult

    Raises
    ------
    ValueError
        Before any jitted code, when ``data``'s counts or stimulus, or a given ``design``, hold a NaN or inf
        (the message names the argument and the index of the first bad entry), or ``design`` has the wrong
        shape.

    Notes
    -----
    **Float32.** Some data are beyond single precision, e.g. Poisson counts of ~1e6 per bin (whose
    log-likelihood float32 resolves to ~1 nat per bin) with history filters (features ~1e6 beside the bias
    column of ones). The loss is detected once, after the Newton loop: non-finite weights or curvature, a
    neuron left above ``tol`` although Newton stopped before ``max_iter``, or (in a float32 fit) a
    Jacobi-scaled Hessian condition number above ``1e6``. Then, with a :class:`ConvergenceWarning` that says
    so (when ``warn``):

    * in float64 with ``fast_hessian=True``, Newton is rerun from the start with float64 Hessians;
    * when JAX runs in float32 (its default), the whole fit is rerun in float64, with float64 Hessians, inside
      the ``jax.enable_x64(True)`` context manager. Float64 is enabled only inside that context: the global
      JAX setting is unchanged afterwards, and the result's parameters and standard errors are the float64
      optimum rounded to float32 (covariance and log-likelihoods stay float64 NumPy arrays). A ``tol`` left
      at ``None`` takes the float64 default there.
    """
    given = dict(prior=prior, init=init, max_iter=max_iter, tol=tol, lbfgs_max_iter=lbfgs_max_iter, design=design,
                 progress=progress, warn=warn, fast_hessian=fast_hessian)
    net.check_data(data, design=design)
    max_iter = positive_int("max_iter", max_iter)
    precision_np = _check_prior(prior, net)
    dtype = jnp.result_type(float)
    if tol is None:
        tol = 1e-7 if dtype == jnp.float64 else 1e-4
    tol = positive_float("tol", tol)
    weight_np = net.likelihood_weight(data)
    if weight_np is not None and init is not None:
        _initial_weights(net, data, precision_np, weight_np)  # refuses a neuron without bins in the likelihood
    weight = None if weight_np is None else jnp.asarray(weight_np, dtype)
    if init is None:
        weights = jnp.asarray(_initial_weights(net, data, precision_np, weight_np), dtype)
    else:
        weights = net.flatten(net.check_params(init)).astype(dtype)
    design = net.design_matrix(data) if design is None else jnp.asarray(design, dtype)
    if design.shape != (data.n_bins, net.n_features):
        raise ValueError(f"design has shape {design.shape}, expected {(data.n_bins, net.n_features)}.")
    counts = jnp.asarray(data.counts, dtype)
    precision = jnp.asarray(precision_np, dtype)
    maskf = jnp.asarray(net.feature_mask, dtype)
    observation = net.observation

    from tqdm.auto import tqdm

    hessian_design = design.astype(jnp.float32) if (fast_hessian and dtype == jnp.float64) else design
    bar = tqdm(total=max_iter, desc="Newton", disable=(None if progress is None else not progress), leave=False)
    start = weights
    weights, n_iterations, stalled = _newton_loop(design, hessian_design, counts, weights, precision, maskf,
                                                  weight, observation, tol, max_iter, bar)
    bar.close()

    # The Laplace covariance needs the Hessian in full working precision (float32 block products would cost
    # ~1e-6 relative accuracy), so the final curvature uses the working-precision design.
    _, hessian, decrement, direction = _curvature(design, counts, weights, precision, maskf, weight, observation)
    if hessian_design.dtype != jnp.float64:  # checked once, on the result: nothing added to the Newton loop
        reason = _precision_loss(net, weights, hessian, decrement, tol, stalled, n_iterations, max_iter,
                                 check_condition=dtype != jnp.float64)
        if reason and dtype != jnp.float64:
            return _refit_in_float64(net, data, reason, **given)
        if reason:
            if warn:
                warnings.warn(
                    f"fit_map: the float32 Newton Hessians (fast_hessian=True) lost precision on these data "
                    f"({reason}; largest count {float(np.max(data.counts)):.6g} per bin), so Newton was rerun "
                    "from the start with float64 Hessians. Pass fast_hessian=False to skip the float32 attempt.",
                    ConvergenceWarning,
                    stacklevel=2,
                )
            weights, more_iterations, _ = _newton_loop(design, design, counts, start, precision, maskf,
                                                       weight, observation, tol, max_iter, None)
            n_iterations = n_iterations + more_iterations
            _, hessian, decrement, direction = _curvature(design, counts, weights, precision, maskf, weight,
                                                          observation)
    converged = np.asarray(decrement) <= tol
    solver = ["newton"] * net.n_neurons
    if not converged.all():
        todo = ~converged
        new_weights, n_lbfgs = _lbfgs(
            design, counts, weights, precision, maskf, weight, observation, lbfgs_max_iter, tol=np.sqrt(tol)
        )
        weights = jnp.where(jnp.asarray(todo)[:, None], new_weights, weights)
        _, hessian, decrement, direction = _curvature(design, counts, weights, precision, maskf, weight, observation)
        # L-BFGS ends with a gradient test; polish with a few Newton steps where it is now well inside the basin.
        for _ in range(5):
            weights, _, _, dec, _ = _newton_step(design, design, counts, weights, design @ weights.T, precision,
                                                 maskf, jnp.asarray(todo), weight, observation)
        _, hessian, decrement, direction = _curvature(design, counts, weights, precision, maskf, weight, observation)
        for i in np.flatnonzero(todo):
            solver[i] = "newton+lbfgs"
            n_iterations[i] += n_lbfgs
        converged = np.asarray(decrement) <= tol
    diverging, largest = _diverging(design, counts, weights, direction, precision, maskf, weight, observation)
    if warn and diverging.any():
        bad = [net.neuron_names[i] for i in np.flatnonzero(diverging)]
        warnings.warn(
            f"fit_map did not converge for neuron(s) {bad}: the likelihood has no maximum, because the data are "
            f"(quasi-)separable (the spikes are predicted perfectly by some features, so the weights grow without "
            f"bound while the gradient vanishes and the log-likelihood approaches its supremum; largest weight on "
            f"the standardised-feature scale {largest[diverging]}). The returned weights are arbitrary. Fix: give "
            "a prior, e.g. fit_map(net, data, prior=GaussianPrior(ridge=1.0)), or drop the separating features.",
            ConvergenceWarning,
            stacklevel=2,
        )
    converged = converged & ~diverging
    if warn and not (converged | diverging).all():
        bad = [net.neuron_names[i] for i in np.flatnonzero(~converged & ~diverging)]
        warnings.warn(
            f"fit_map did not converge for neuron(s) {bad} (Newton decrement "
            f"{np.asarray(decrement)[~converged]} > tol={tol}). Separable data or too little data for the "
            "number of parameters are the usual causes: add a prior (GaussianPrior(ridge=...)) or more data.",
            ConvergenceWarning,
            stacklevel=2,
        )

    loglik, logpost = _objective(design, counts, weights, precision, weight, observation)
    hessian_np = np.asarray(hessian, dtype=np.float64)
    mask_np = np.asarray(net.feature_mask)
    covariance = np.zeros_like(hessian_np)
    for i in range(net.n_neurons):
        free = np.flatnonzero(mask_np[i])
        block = hessian_np[i][np.ix_(free, free)]
        try:
            inv = np.linalg.inv(block)
        except np.linalg.LinAlgError:
            inv = np.full_like(block, np.nan)
        covariance[i][np.ix_(free, free)] = inv
    standard_errors = net.unflatten(jnp.asarray(np.sqrt(np.maximum(np.diagonal(covariance, axis1=1, axis2=2), 0.0))))
    return MAPResult(
        params=net.unflatten(weights),
        log_likelihood=float(jnp.sum(loglik)),
        log_likelihood_per_neuron=np.asarray(loglik),
        log_posterior_per_neuron=np.asarray(logpost),
        converged=converged,
        n_iterations=n_iterations,
        newton_decrement=np.asarray(decrement),
        solver=solver,
        covariance=covariance,
        standard_errors=standard_errors,
    )
