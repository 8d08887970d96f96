r"""Sparse GLM fits: Lasso, elastic-net and group-Lasso penalties, fitted by proximal Newton, with their paths.

Per neuron :math:`i` the fit minimises, over the flat weights :math:`w_i` (:meth:`probsnn.GLMNetwork.flatten`),

.. math::
    F_i(w) = -\sum_t m_{t,i} \log p\bigl(s_{i,t} \mid x_t^\top w\bigr) + \tfrac12 w^\top P w
             + \lambda \sum_{g} c_g \lVert w_g \rVert_2 + \tfrac{\lambda (1-\rho)}{2} \lVert w_{\rm pen} \rVert_2^2 ,

with :math:`m` the likelihood weight (:meth:`probsnn.GLMNetwork.likelihood_weight`), :math:`P` an optional
:class:`probsnn.models.GaussianPrior` ridge, and the penalised blocks :math:`g` and their weights :math:`c_g`:

* :class:`Lasso` (Tibshirani 1996): every filter weight is its own block, :math:`c_g = 1`;
* :class:`ElasticNet` (Zou & Hastie 2005): the same blocks with :math:`c_g = \rho` (``l1_ratio``) plus the ridge
  term :math:`\lambda(1-\rho)/2` on the penalised weights (the glmnet / statsmodels parametrisation);
* :class:`GroupLasso` (Yuan & Lin 2006): one block per coupling kernel :math:`j \to i` (the ``n_history_basis``
  weights of presynaptic neuron :math:`j`), optionally one per stimulus dimension, :math:`c_g = \sqrt{|g|}`.

The bias is never penalised. The solver is **proximal Newton** (Lee, Sun & Saunders 2014, SIAM J. Optim.
24:1420), written here because no maintained JAX library provides a proximal solver (Optax has no proximal
operators; Optimistix has no proximal gradient method; JAXopt is deprecated). At :math:`w` it minimises the
quadratic model of the smooth part plus the exact penalty,

.. math::
    z = \arg\min_z\; G^\top (z - w) + \tfrac12 (z-w)^\top H (z-w) + \lambda \sum_g c_g \lVert z_g \rVert ,
    \qquad H = X^\top \operatorname{diag}(-\ell'') X + P + \lambda(1-\rho) I_{\rm pen},

by exact block coordinate descent (every block, penalised or not, is minimised exactly in turn: for a
penalised block :math:`z_g = 0` when :math:`\lVert c \rVert \le \lambda c_g`, else
:math:`z_g = -(A + \mu I)^{-1} c` with :math:`A = H_{gg}`, :math:`c` the block's linear coefficient and
:math:`\mu > 0` the root of :math:`\mu \lVert (A+\mu I)^{-1} c \rVert = \lambda c_g`, found by Newton's method on
:math:`1/\lVert (A + \mu I)^{-1} c\rVert - \mu / (\lambda c_g)`, which is concave; for one weight this is soft
thresholding). Then a backtracking line search on the true objective accepts
:math:`w + t (z - w)` when :math:`F(w + t d) \le F(w) + 10^{-4} t \Delta`, with
:math:`\Delta = G^\top d + h(z) - h(w) \le 0` the predicted decrease. The iteration stops when
:math:`-\Delta \le` ``tol`` nats for every neuron. Everything is vectorised over neurons with static shapes
and jitted; the design is shared by all neurons.

The path (:func:`penalised_path`) runs from the largest strength down, each fit warm-started at the previous one.
Above :math:`\lambda_{\max,i} = \max_g \lVert \nabla_g f_i(\hat w^0_i) \rVert / c_g` (:math:`\hat w^0_i` the fit of
the unpenalised weights alone, e.g. the bias-only fit) every penalised weight of neuron :math:`i` is zero: the
KKT conditions of the zero solution.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_float, one_of, positive_float, positive_int
from ..data import SpikeData
from ..diagnostics import ConvergenceWarning
from ..models.priors import GaussianPrior
from ..neurons.glm import GLMNetwork, GLMParams, weighted
from .map import (
    _check_prior,
    _diverging,
    _initial_weights,
    _loglik_derivatives,
    _negative_hessian,
    _penalty,
    _prior_gradient,
)

__all__ = ["Lasso", "ElasticNet", "GroupLasso", "PenalisedResult", "PenalisedPath", "fit_penalised",
           "penalised_path"]


# ------------------------------------------------------------------------------------ penalties
def _check_self_history(owner: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}.self_history must be True (penalise each neuron's self-history kernel) or False "
                        f"(leave it free), got {value!r}.")
    return bool(value)


@dataclass(frozen=True)
class Lasso:
    r"""L1 penalty :math:`\lambda \sum_k |w_k|` on every filter weight (stimulus and coupling; never the bias).

    Parameters
    ----------
    strength : float
        :math:`\lambda \ge 0`, in nats per unit weight (the log-likelihood is a sum over bins, not a mean:
        statsmodels' ``alpha`` is ``strength / n_bins``).
    self_history : bool
        Penalise the self-history (refractory) kernels too (default); ``False`` leaves them free.
    """

    strength: float
    self_history: bool = True

    def __post_init__(self):
        check_float("Lasso.strength", self.strength, low=0.0)
        _check_self_history("Lasso", self.self_history)


@dataclass(frozen=True)
class ElasticNet:
    r"""Elastic net :math:`\lambda \bigl(\rho \lVert w \rVert_1 + \tfrac{1-\rho}{2} \lVert w \rVert_2^2\bigr)` on
    the filter weights (never the bias), :math:`\rho` = ``l1_ratio`` (Zou & Hastie 2005; statsmodels' ``L1_wt``).

    Parameters
    ----------
    strength : float
        :math:`\lambda \ge 0` (statsmodels' ``alpha`` times the number of bins).
    l1_ratio : float
        :math:`\rho \in (0, 1]`; 1 is the Lasso. (For a pure ridge use a :class:`~probsnn.models.GaussianPrior`.)
    self_history : bool
        Penalise the self-history kernels too (default).
    """

    strength: float
    l1_ratio: float = 0.5
    self_history: bool = True

    def __post_init__(self):
        check_float("ElasticNet.strength", self.strength, low=0.0)
        check_float("ElasticNet.l1_ratio", self.l1_ratio, low=0.0, high=1.0, low_open=True,
                    fix=" Use l1_ratio=1 for the Lasso; for a pure ridge use prior=GaussianPrior(ridge=...).")
        _check_self_history("ElasticNet", self.self_history)


@dataclass(frozen=True)
class GroupLasso:
    r"""Group Lasso :math:`\lambda \sum_g \sqrt{|g|}\, \lVert w_g \rVert_2` (Yuan & Lin 2006): whole kernels are
    selected or dropped together.

    Parameters
    ----------
    strength : float
        :math:`\lambda \ge 0`.
    groups : {"coupling", "filters"}
        ``"coupling"``: one group per coupling kernel :math:`j \to i` (the ``n_history_basis`` weights of
        presynaptic neuron ``j``), stimulus filters unpenalised; ``"filters"``: also one group per stimulus
        dimension (its ``n_stimulus_basis`` weights). The bias is never penalised.
    self_history : bool
        Penalise the self-history kernels :math:`i \to i` too (default); ``False`` leaves them free, the usual
        choice for connectivity (refractoriness is always there).
    """

    strength: float
    groups: str = "coupling"
    self_history: bool = True

    def __post_init__(self):
        check_float("GroupLasso.strength", self.strength, low=0.0)
        one_of("GroupLasso.groups", self.groups, ("coupling", "filters"))
        _check_self_history("GroupLasso", self.self_history)


_PENALTIES = (Lasso, ElasticNet, GroupLasso)


def _check_penalty(penalty):
    if not isinstance(penalty, _PENALTIES):
        raise TypeError(f"penalty must be a probsnn Lasso, ElasticNet or GroupLasso (e.g. GroupLasso(strength=10.0)), "
                        f"got {type(penalty).__name__}.")
    return penalty


@dataclass(frozen=True)
class _Blocks:
    """The block layout of a penalty on one network: ``index [K, B]`` (padding points at the dummy feature F),
    ``pad [K, B]`` (1 on real entries), ``unit [N, K]`` (the weight :math:`c_g` per unit strength; 0 for an
    unpenalised block), ``ridge [N, F]`` (the elastic net's ridge per unit strength) and ``penalised [N, F]``."""

    index: np.ndarray
    pad: np.ndarray
    unit: np.ndarray
    ridge: np.ndarray
    penalised: np.ndarray


def _blocks(net: GLMNetwork, penalty) -> _Blocks:
    n, ds, bs, bh = net.n_neurons, net.n_stimulus_dims, net.n_stimulus_basis, net.n_history_basis
    n_features = net.n_features
    mask = np.asarray(net.feature_mask, bool)
    # which features each neuron's penalty touches: filters (not the bias), minus the self-history if asked
    penalised = mask.copy()
    penalised[:, -1] = False
    self_columns = ds * bs + np.arange(n)[:, None] * bh + np.arange(bh)[None, :]  # [N, bh]
    if not penalty.self_history:
        penalised[np.arange(n)[:, None], self_columns] = False
    if isinstance(penalty, GroupLasso):
        stimulus = [list(range(d * bs, (d + 1) * bs)) for d in range(ds)] if bs else []
        coupling = [list(range(ds * bs + j * bh, ds * bs + (j + 1) * bh)) for j in range(n)] if bh else []
        if penalty.groups == "coupling":
            penalised[:, : ds * bs] = False
        groups = stimulus + coupling + [[n_features - 1]]
        width = max(len(g) for g in groups)
        index = np.full((len(groups), width), n_features)
        pad = np.zeros((len(groups), width))
        for k, g in enumerate(groups):
            index[k, : len(g)] = g
            pad[k, : len(g)] = 1.0
        first = np.array([g[0] for g in groups])
        sizes = np.array([[mask[i, g].sum() for g in groups] for i in range(n)])
        unit = np.where(penalised[:, first], np.sqrt(sizes), 0.0)
        ridge = np.zeros((n, n_features))
    else:
        index = np.arange(n_features)[:, None]
        pad = np.ones((n_features, 1))
        rho = penalty.l1_ratio if isinstance(penalty, ElasticNet) else 1.0
        unit = np.where(penalised, rho, 0.0)
        ridge = np.where(penalised, 1.0 - rho, 0.0)
    return _Blocks(index=index, pad=pad, unit=unit, ridge=ridge, penalised=penalised)


# ------------------------------------------------------------------------------------ jitted pieces
def _block_norms(weights, index, pad):
    """``||w_g||`` per neuron and block, ``[N, K]`` (``weights [N, F]``; the padding column is appended here)."""
    padded = jnp.concatenate([weights, jnp.zeros_like(weights[:, :1])], axis=1)
    return jnp.sqrt(jnp.sum((padded[:, index] * pad) ** 2, axis=2))


def _nonsmooth(weights, index, pad, block_weight):
    """``sum_g lambda c_g ||w_g||`` per neuron."""
    return jnp.sum(block_weight * _block_norms(weights, index, pad), axis=1)


def _smooth_objective(design, counts, weights, precision, weight, observation):
    """Negative log-likelihood (up to count-only terms) plus ``w'Pw/2`` per neuron."""
    potential = design @ weights.T
    return -weighted(observation.unnormalised_log_prob(counts, potential), weight).sum(axis=0) + _penalty(
        weights, precision)


def _block_solution(a, c, lam, n_newton=60):
    r"""Exact minimiser ``u`` of ``c'u + u'Au/2 + lam ||u||`` per neuron (``a [N, B, B]`` positive semidefinite,
    ``c [N, B]``, ``lam [N]`` >= 0): 0 when ``||c|| <= lam > 0``, else ``-(A + mu I)^{-1} c`` with ``mu`` the root
    of ``mu ||(A + mu I)^{-1} c|| = lam`` (``mu = 0`` when ``lam = 0``)."""
    values, vectors = jnp.linalg.eigh(a)
    values = jnp.maximum(values, 1e-12 * jnp.max(values, axis=1, keepdims=True) + 1e-300)
    chat = jnp.einsum("nab,na->nb", vectors, c)
    norm_c = jnp.linalg.norm(c, axis=1)
    solve = (lam > 0) & (norm_c > lam)
    safe_lam = jnp.where(solve, lam, 1.0)
    # mu* <= lam e_max / (||c|| - lam), where h(mu) = 1/||p(mu)|| - mu/lam <= 0; Newton on the concave h from there
    # decreases monotonically to the root.
    mu = jnp.where(solve, safe_lam * jnp.max(values, axis=1) / jnp.where(solve, norm_c - lam, 1.0), 0.0)

    def newton(_, mu):
        shifted = values + mu[:, None]
        norm_p = jnp.sqrt(jnp.sum(chat**2 / shifted**2, axis=1))
        norm_p = jnp.where(norm_p > 0, norm_p, 1.0)
        h = 1.0 / norm_p - mu / safe_lam
        slope = jnp.sum(chat**2 / shifted**3, axis=1) / norm_p**3 - 1.0 / safe_lam
        return jnp.where(solve, jnp.maximum(mu - h / jnp.where(slope < 0, slope, -1.0 / safe_lam), 0.0), 0.0)

    mu = jax.lax.fori_loop(0, n_newton, newton, mu)
    u = -jnp.einsum("nba,na->nb", vectors, chat / (values + mu[:, None]))
    return jnp.where(((lam > 0) & ~solve)[:, None], 0.0, u)


def _coordinate_descent(hessian, gradient, weights, index, pad, block_weight, max_sweeps, inner_tol):
    """Exact block coordinate descent on the quadratic model ``G'(z-w) + (z-w)'H(z-w)/2 + sum lam_g ||z_g||``,
    started at ``z = w``; returns ``z`` and the sweeps run."""
    n, f = weights.shape
    hessian = jnp.pad(hessian, ((0, 0), (0, 1), (0, 1)))  # the padding feature F: zero rows and columns
    z = jnp.pad(weights, ((0, 0), (0, 1)))
    start = z
    residual = jnp.pad(gradient, ((0, 0), (0, 1)))  # the model's gradient G + H(z - w), at z = w
    blocks = hessian[:, index[:, :, None], index[:, None, :]]  # [N, K, B, B]
    eye = jnp.eye(index.shape[1], dtype=hessian.dtype)
    outer = pad[:, :, None] * pad[:, None, :]
    blocks = blocks * outer + (1.0 - outer) * eye  # identity on the padding

    def block_update(k, state):
        z, residual, change = state
        idx, mask = index[k], pad[k]
        zb, rb, a = z[:, idx], residual[:, idx], blocks[:, k]
        c = rb - jnp.einsum("nab,nb->na", a, zb)
        u = _block_solution(a, c * mask, block_weight[:, k]) * mask
        step = u - zb
        residual = residual + jnp.einsum("nfb,nb->nf", hessian[:, :, idx], step)
        z = z.at[:, idx].set(u)
        return z, residual, jnp.maximum(change, jnp.max(jnp.abs(step), axis=1))

    def sweep(state):
        k, z, residual, _ = state
        z, residual, change = jax.lax.fori_loop(0, index.shape[0], block_update,
                                                (z, residual, jnp.zeros(n, z.dtype)))
        return k + 1, z, residual, change

    def not_done(state):
        k, z, _, change = state
        target = inner_tol * jnp.max(jnp.abs(z - start), axis=1) + 1e-15 * (1.0 + jnp.max(jnp.abs(z), axis=1))
        return (k < max_sweeps) & jnp.any(change > target)

    state = (0, z, residual, jnp.full(n, jnp.inf, z.dtype))
    k, z, _, _ = jax.lax.while_loop(not_done, sweep, state)
    return z[:, :f], k


@partial(jax.jit, static_argnames=("observation", "max_sweeps", "max_halvings"))
def _prox_newton_step(design, hessian_design, counts, weights, precision, maskf, active, weight, index, pad,
                      block_weight, observation, max_sweeps=500, max_halvings=40):
    potential = design @ weights.T
    _, first, second = _loglik_derivatives(observation, counts, potential, weight)
    gradient = -(first.T @ design - _prior_gradient(weights, precision)) * maskf
    hessian = _negative_hessian(hessian_design, -second, precision, maskf, active, work_dtype=design.dtype)
    # a converged neuron's Hessian is not formed: give it the identity and no gradient (its model is solved at once)
    hessian = jnp.where(active[:, None, None], hessian, jnp.eye(weights.shape[1], dtype=hessian.dtype))
    gradient = gradient * active[:, None]
    target, sweeps = _coordinate_descent(hessian, gradient, weights, index, pad, block_weight, max_sweeps, 1e-3)
    target = target * maskf
    direction = target - weights
    h_now = _nonsmooth(weights, index, pad, block_weight)
    objective = _smooth_objective(design, counts, weights, precision, weight, observation) + h_now
    decrease = jnp.sum(gradient * direction, axis=1) + _nonsmooth(target, index, pad, block_weight) - h_now

    def evaluate(step):
        new = weights + step[:, None] * direction
        value = (_smooth_objective(design, counts, new, precision, weight, observation)
                 + _nonsmooth(new, index, pad, block_weight))
        return jnp.where(jnp.isfinite(value), value, jnp.inf)

    def accepted(halvings, value):  # Armijo on the predicted decrease; a tiny one is inside the quadratic region
        sufficient = value <= objective + 1e-4 * 0.5**halvings * decrease
        return ~active | sufficient | (-decrease < 1e-12 * (1.0 + jnp.abs(objective)))

    def backtrack(state):  # halve the step of every neuron whose step is not yet accepted
        halvings, value = state
        halvings = halvings + ~accepted(halvings, value)
        return halvings, evaluate(0.5**halvings)

    state = (jnp.zeros(objective.shape, int), evaluate(jnp.ones_like(objective)))
    halvings, value = jax.lax.while_loop(
        lambda state: jnp.any(~accepted(*state) & (state[0] < max_halvings)), backtrack, state)
    ok = accepted(halvings, value) & active & jnp.isfinite(decrease)
    step = jnp.where(ok, 0.5**halvings, 0.0)
    # a full step lands on the model's minimiser, whose zeros are exact; keep them so
    new_weights = jnp.where((step == 1.0)[:, None], target, weights + step[:, None] * direction)
    return new_weights, -decrease, ok, direction


@partial(jax.jit, static_argnames=("observation",))
def _optimality(design, counts, weights, precision, maskf, weight, index, pad, block_weight, observation):
    """Smooth-part gradient ``[N, F]`` and the KKT residual per neuron and block ``[N, K]``: for a nonzero block
    ``||G_g + lam_g w_g / ||w_g|| ||``, for a zero one ``max(||G_g|| - lam_g, 0)``."""
    potential = design @ weights.T
    _, first, _ = _loglik_derivatives(observation, counts, potential, weight)
    gradient = -(first.T @ design - _prior_gradient(weights, precision)) * maskf
    padded_w = jnp.pad(weights, ((0, 0), (0, 1)))[:, index] * pad
    padded_g = jnp.pad(gradient, ((0, 0), (0, 1)))[:, index] * pad
    norms = jnp.linalg.norm(padded_w, axis=2)
    nonzero = norms > 0
    unit = padded_w / jnp.where(nonzero, norms, 1.0)[:, :, None]
    residual = jnp.where(nonzero, jnp.linalg.norm(padded_g + block_weight[:, :, None] * unit, axis=2),
                         jnp.maximum(jnp.linalg.norm(padded_g, axis=2) - block_weight, 0.0))
    return gradient, residual


# ------------------------------------------------------------------------------------ results
@dataclass
class PenalisedResult:
    """Result of :func:`fit_penalised`.

    Attributes
    ----------
    params : GLMParams
        The penalised estimate (exact zeros where the penalty removed a weight or kernel).
    penalty : Lasso, ElasticNet or GroupLasso
    log_likelihood : float
        Total log-likelihood at ``params`` (nats, including ``-log s!`` for Poisson).
    log_likelihood_per_neuron : ndarray (N,)
    objective : ndarray (N,)
        The maximised objective per neuron: log-likelihood minus the ridge and the sparsity penalty.
    converged : ndarray of bool (N,)
        The predicted decrease of the last proximal Newton step fell below ``tol``, and no weight diverges (a weight
        on the standardised feature scale above ``1e3``, as in :func:`probsnn.fit_map`: an unpenalised weight on
        separable data has no finite optimum).
    n_iterations : ndarray of int (N,)
        Proximal Newton iterations.
    optimality : ndarray (N,)
        Largest KKT residual over the blocks of each neuron (nats per unit weight; 0 at the exact optimum), see
        :func:`fit_penalised`.
    active : ndarray of bool (N, F)
        Nonzero entries of each neuron's flat weights (the bias included).
    connections : ndarray of bool (N, N)
        ``[i, j]``: the coupling kernel :math:`j \\to i` has a nonzero weight (the diagonal is the self-history).
    max_strength : ndarray (N,) or None
        Per neuron the smallest strength at which every penalised weight is zero (:func:`penalised_path` fills it).
    """

    params: GLMParams
    penalty: object
    log_likelihood: float
    log_likelihood_per_neuron: np.ndarray
    objective: np.ndarray
    converged: np.ndarray
    n_iterations: np.ndarray
    optimality: np.ndarray
    active: np.ndarray
    connections: np.ndarray
    max_strength: np.ndarray | None = None


@dataclass
class PenalisedPath:
    """Result of :func:`penalised_path`: one warm-started fit per strength, largest strength first.

    Attributes
    ----------
    strengths : ndarray (G,)
    params : GLMParams
        Stacked over strengths: ``stimulus_weights [G, N, D, B_s]``, ``coupling_weights [G, N, N, B_h]``,
        ``bias [G, N]``.
    log_likelihood_per_neuron, objective, optimality : ndarray (G, N)
    converged : ndarray of bool (G, N)
    n_active : ndarray of int (G, N)
        Nonzero free weights per neuron (the bias included): the degrees of freedom of the Lasso (Zou, Hastie &
        Tibshirani 2007) and the count used by :attr:`bic`.
    connections : ndarray of bool (G, N, N)
    max_strength : ndarray (N,)
        :math:`\\lambda_{\\max,i}`, the KKT bound: at or above it every penalised weight of neuron ``i`` is zero.
    n_bins : ndarray (N,)
        Bins in each neuron's likelihood (the sum of its likelihood weight).
    refit_log_likelihood_per_neuron : ndarray (G, N) or None
        Log-likelihood of the refit on each strength's support without the sparsity penalty (``refit=True``).
    """

    strengths: np.ndarray
    params: GLMParams
    log_likelihood_per_neuron: np.ndarray
    objective: np.ndarray
    optimality: np.ndarray
    converged: np.ndarray
    n_active: np.ndarray
    connections: np.ndarray
    max_strength: np.ndarray
    n_bins: np.ndarray
    refit_log_likelihood_per_neuron: np.ndarray | None = None

    @property
    def bic(self) -> np.ndarray:
        r"""Bayesian information criterion per strength and neuron, ``[G, N]``:
        :math:`-2 \log p(s_i \mid \tilde w_i(\lambda)) + k_i(\lambda) \log n_i`, with :math:`k_i` the nonzero
        weights (:attr:`n_active`), :math:`n_i` the bins (Schwarz 1978) and :math:`\tilde w_i(\lambda)` the refit
        without the sparsity penalty on the strength's support (post-Lasso, Belloni & Chernozhukov 2013; the
        penalised fit's own log-likelihood when the path was run with ``refit=False``, which shrinks and so
        under-selects)."""
        loglik = (self.log_likelihood_per_neuron if self.refit_log_likelihood_per_neuron is None
                  else self.refit_log_likelihood_per_neuron)
        return -2.0 * loglik + self.n_active * np.log(self.n_bins)[None, :]

    def best_index(self, criterion: str = "bic") -> np.ndarray:
        """Per neuron, the index of the strength that minimises ``criterion`` (only ``"bic"``)."""
        one_of("criterion", criterion, ("bic",))
        return np.argmin(self.bic, axis=0)

    def select(self, criterion: str = "bic") -> GLMParams:
        """The parameters at each neuron's own best strength (:meth:`best_index`): one row of the path per neuron."""
        best = self.best_index(criterion)
        rows = np.arange(best.size)
        return GLMParams(*(np.asarray(p)[best, rows] for p in self.params))

    def selected_connections(self, criterion: str = "bic") -> np.ndarray:
        """``[N, N]`` bool: the kernels :math:`j \\to i` present at each neuron's best strength."""
        best = self.best_index(criterion)
        return self.connections[best, np.arange(best.size)]


# ------------------------------------------------------------------------------------ the solver
class _Problem:
    """The arrays of one network, data, penalty layout and prior, prepared once (validated at the boundary)."""

    def __init__(self, net: GLMNetwork, data: SpikeData, penalty, prior, design):
        net.check_data(data, design=design)
        self.net = net
        self.penalty = _check_penalty(penalty)
        self.precision_np = _check_prior(prior, net)
        self.weight_np = net.likelihood_weight(data)
        dtype = jnp.result_type(float)
        self.dtype = dtype
        self.design = net.design_matrix(data) if design is None else jnp.asarray(design, dtype)
        self.counts = jnp.asarray(data.counts, dtype)
        # float32 Hessians in a float64 fit (as fit_map's fast_hessian): they only set the step, the gradient and
        # the stopping test stay in float64, so the optimum is the same
        self.hessian_design = self.design.astype(jnp.float32) if dtype == jnp.float64 else self.design
        self.weight = None if self.weight_np is None else jnp.asarray(self.weight_np, dtype)
        self.blocks = _blocks(net, penalty)
        self.index = jnp.asarray(self.blocks.index)
        self.pad = jnp.asarray(self.blocks.pad, dtype)
        self.maskf = jnp.asarray(net.feature_mask, dtype)
        self.n_bins = (np.full(net.n_neurons, float(data.n_bins)) if self.weight_np is None
                       else self.weight_np.sum(axis=0))
        self.data = data

    def start(self, init) -> jax.Array:
        if init is None:
            return jnp.asarray(_initial_weights(self.net, self.data, self.precision_np, self.weight_np), self.dtype)
        if self.weight_np is not None:
            _initial_weights(self.net, self.data, self.precision_np, self.weight_np)  # refuses unobserved neurons
        return self.net.flatten(self.net.check_params(init)).astype(self.dtype)

    def precision(self, strength: float):
        """The smooth quadratic part: the prior precision plus the elastic net's ridge ``[N, F, F]``."""
        ridge = strength * self.blocks.ridge
        precision = self.precision_np if self.precision_np.ndim == 3 else self.precision_np[None]
        return jnp.asarray(precision + ridge[:, :, None] * np.eye(self.net.n_features)[None], self.dtype)

    def solve(self, weights, strength, tol, max_iter, bar=None, maskf=None, block_weight=None):
        """Proximal Newton from ``weights``: float32 Hessians first (in a float64 fit), then float64 ones from
        there, whose steps converge quadratically (the step taken at a decrease below ``tol`` leaves the point
        accurate to about ``tol**2``)."""
        maskf = self.maskf if maskf is None else maskf
        block_weight = jnp.asarray(strength * self.blocks.unit if block_weight is None else block_weight, self.dtype)
        precision = self.precision(strength)
        n = self.net.n_neurons
        n_iterations = np.zeros(n, int)
        decrease = np.full(n, np.inf)
        direction = jnp.zeros_like(weights)
        passes = [self.hessian_design, self.design] if self.hessian_design is not self.design else [self.design]
        for hessian_design in passes:
            active = np.ones(n, bool)
            for _ in range(max_iter - int(n_iterations.max())):
                weights, step_decrease, moved, step_direction = _prox_newton_step(
                    self.design, hessian_design, self.counts, weights * maskf, precision, maskf,
                    jnp.asarray(active), self.weight, self.index, self.pad, block_weight, self.net.observation)
                n_iterations += active
                decrease = np.where(active, np.asarray(step_decrease), decrease)
                direction = jnp.where(jnp.asarray(active)[:, None], step_direction, direction)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(max_decrease=f"{np.max(np.where(active, decrease, 0.0)):.2e}")
                active &= (decrease > tol) & np.asarray(moved)  # converged, or the line search found no descent
                if not active.any():
                    break
        return weights, decrease <= tol, n_iterations, precision, block_weight, direction

    def result(self, weights, strength, converged, n_iterations, precision, block_weight, direction,
               max_strength=None):
        net = self.net
        # unpenalised weights on (quasi-)separable data have no finite optimum: fit_map's test, along the last
        # proximal Newton direction (the smooth objective still rising at 1, 4 and 16 steps), or a weight beyond 1e3
        diverging, _ = _diverging(self.design, self.counts, weights, direction, precision, self.maskf, self.weight,
                                  net.observation)
        converged = np.asarray(converged) & ~diverging
        _, residual = _optimality(self.design, self.counts, weights, precision, self.maskf, self.weight, self.index,
                                  self.pad, block_weight, net.observation)
        loglik = self.log_likelihood(weights)
        objective = (loglik - _penalty(weights, precision) - _nonsmooth(weights, self.index, self.pad, block_weight))
        w = np.asarray(weights)
        active = (w != 0) & np.asarray(net.feature_mask)
        ds, bs, bh = net.n_stimulus_dims, net.n_stimulus_basis, net.n_history_basis
        coupling = active[:, ds * bs : ds * bs + net.n_neurons * bh].reshape(net.n_neurons, net.n_neurons, bh)
        return PenalisedResult(
            params=net.unflatten(weights),
            penalty=dataclasses.replace(self.penalty, strength=float(strength)),
            log_likelihood=float(jnp.sum(loglik)),
            log_likelihood_per_neuron=np.asarray(loglik),
            objective=np.asarray(objective),
            converged=converged,
            n_iterations=np.asarray(n_iterations),
            optimality=np.asarray(jnp.max(residual, axis=1)),
            active=active,
            connections=coupling.any(axis=2),
            max_strength=max_strength,
        )

    def log_likelihood(self, weights):
        """Log-likelihood per neuron (nats, all terms)."""
        return weighted(self.net.observation.log_prob(self.counts, self.design @ weights.T), self.weight).sum(axis=0)

    def max_strength(self, tol, max_iter) -> np.ndarray:
        """:math:`\\lambda_{\\max}` per neuron: the KKT bound at the fit of the unpenalised weights alone."""
        penalised = self.blocks.penalised
        free = jnp.asarray(np.asarray(self.net.feature_mask) & ~penalised, self.dtype)
        zero = jnp.zeros((self.net.n_neurons, self.index.shape[0]), self.dtype)
        null, *_ = self.solve(self.start(None) * free, 0.0, tol, max_iter, maskf=free, block_weight=zero)
        precision = self.precision(0.0)
        gradient, _ = _optimality(self.design, self.counts, null, precision, self.maskf, self.weight, self.index,
                                  self.pad, zero, self.net.observation)
        norms = np.asarray(_block_norms(gradient, self.index, self.pad))
        unit = self.blocks.unit
        ratio = np.where(unit > 0, norms / np.where(unit > 0, unit, 1.0), 0.0)
        return ratio.max(axis=1)


def _check_tolerances(tol, max_iter):
    dtype = jnp.result_type(float)
    if tol is None:
        tol = 1e-10 if dtype == jnp.float64 else 1e-4
    return positive_float("tol", tol), positive_int("max_iter", max_iter)


def fit_penalised(net: GLMNetwork, data: SpikeData, penalty, prior: GaussianPrior | list | None = None,
                  init: GLMParams | None = None, tol: float | None = None, max_iter: int = 100, design=None,
                  progress: bool | None = None) -> PenalisedResult:
    r"""Fit a GLM network with a sparsity penalty (Lasso, elastic net or group Lasso) by proximal Newton.

    Parameters
    ----------
    net : GLMNetwork
    data : SpikeData
    penalty : Lasso, ElasticNet or GroupLasso
        The penalty and its strength (see the module docstring for the objective).
    prior : GaussianPrior or list of GaussianPrior, optional
        An extra Gaussian (ridge / smoothing) prior, shared or one per neuron, as in :func:`probsnn.fit_map`.
    init : GLMParams, optional
        Starting point (warm start); by default zero filters and the homogeneous-rate bias.
    tol : float, optional
        Stop when the predicted decrease :math:`-\Delta` of every neuron's proximal Newton step is below ``tol``
        nats (default ``1e-10`` in float64, ``1e-4`` in float32).
    max_iter : int
        Maximum proximal Newton iterations.
    design : array, optional
        A precomputed ``net.design_matrix(data)``.
    progress : bool, optional
        Show a progress bar (default: when writing to a terminal).

    Returns
    -------
    PenalisedResult
        ``optimality`` is the KKT residual: with :math:`G = \nabla f` the gradient of the smooth part (negative
        log-likelihood plus ridge) and :math:`\lambda_g = \lambda c_g`, the optimum satisfies
        :math:`G_g = -\lambda_g w_g / \lVert w_g \rVert` on every nonzero block and
        :math:`\lVert G_g \rVert \le \lambda_g` on every zero one.

    Raises
    ------
    TypeError
        ``penalty`` is not a Lasso, ElasticNet or GroupLasso, or ``prior`` not a GaussianPrior (list).
    ValueError
        Bad strengths, ``tol`` or ``max_iter``; non-finite data or design (before any jitted code).
    """
    _check_penalty(penalty)
    tol, max_iter = _check_tolerances(tol, max_iter)
    problem = _Problem(net, data, penalty, prior, design)
    weights = problem.start(init)
    from tqdm.auto import tqdm

    bar = tqdm(total=max_iter, desc="prox-Newton", disable=(None if progress is None else not progress), leave=False)
    solution = problem.solve(weights, penalty.strength, tol, max_iter, bar)
    bar.close()
    result = problem.result(*solution[:1], penalty.strength, *solution[1:])
    _warn_unconverged(net, result.converged[None], "fit_penalised")
    return result


def _warn_unconverged(net, converged, who):
    """One ConvergenceWarning naming the neurons that did not converge (``converged [G, N]``)."""
    if not converged.all():
        bad = [net.neuron_names[i] for i in np.flatnonzero(~converged.all(axis=0))]
        warnings.warn(
            f"{who} did not converge for neuron(s) {bad}: max_iter was reached, or a weight the penalty leaves free "
            "(the bias, a self-history kernel with self_history=False, an unpenalised stimulus filter) grows without "
            "bound on (quasi-)separable data. Fix: penalise it (self_history=True, groups='filters'), add a prior "
            "(prior=GaussianPrior(ridge=1.0)), or raise max_iter.",
            ConvergenceWarning,
            stacklevel=3,
        )


def penalised_path(net: GLMNetwork, data: SpikeData, penalty, strengths=None, n_strengths: int = 20,
                   min_ratio: float = 1e-3, prior: GaussianPrior | list | None = None, tol: float | None = None,
                   max_iter: int = 100, design=None, refit: bool = True,
                   progress: bool | None = None) -> PenalisedPath:
    r"""The regularisation path: :func:`fit_penalised` over decreasing strengths, each fit warm-started.

    Parameters
    ----------
    net, data, prior, tol, max_iter, design
        As in :func:`fit_penalised`.
    penalty : Lasso, ElasticNet or GroupLasso
        The penalty's kind and settings; its ``strength`` is replaced by each grid value.
    strengths : sequence of float, optional
        Strengths from largest to smallest (strictly decreasing, >= 0). By default ``n_strengths`` values
        log-spaced from :math:`\max_i \lambda_{\max,i}` (every penalised weight zero) down to ``min_ratio`` times it.
    n_strengths : int
    min_ratio : float
        In (0, 1): the smallest default strength as a fraction of the largest.
    refit : bool
        Also refit each strength's support without the sparsity penalty (the prior kept), for
        :attr:`PenalisedPath.bic` (one more Newton fit per strength).
    progress : bool, optional
        Show a progress bar over the strengths.

    Returns
    -------
    PenalisedPath
        With :attr:`PenalisedPath.bic` and :meth:`PenalisedPath.select` to choose a strength per neuron.
    """
    _check_penalty(penalty)
    tol, max_iter = _check_tolerances(tol, max_iter)
    problem = _Problem(net, data, penalty, prior, design)
    max_strength = problem.max_strength(tol, max_iter)
    if strengths is None:
        n_strengths = positive_int("n_strengths", n_strengths)
        min_ratio = check_float("min_ratio", min_ratio, low=0.0, high=1.0, low_open=True, high_open=True)
        top = float(max_strength.max())
        if top <= 0:
            raise ValueError("penalised_path: every neuron's penalised weights are already zero without a penalty "
                             "(max_strength is 0), so there is no path; pass strengths explicitly.")
        strengths = np.geomspace(top, top * min_ratio, n_strengths)
    else:
        strengths = np.asarray([check_float("strengths entry", s, low=0.0) for s in np.ravel(strengths)])
        if strengths.size == 0 or np.any(np.diff(strengths) >= 0):
            raise ValueError(f"strengths must be a non-empty, strictly decreasing sequence (largest first, for warm "
                             f"starts), got {strengths!r}; e.g. pass np.sort(strengths)[::-1].")
    from tqdm.auto import tqdm

    weights = problem.start(None)
    fits, refit_loglik = [], []
    unpenalised = np.asarray(net.feature_mask) & ~problem.blocks.penalised
    zero = jnp.zeros_like(jnp.asarray(problem.blocks.unit, problem.dtype))
    for strength in tqdm(strengths, desc="path", disable=(None if progress is None else not progress), leave=False):
        solution = problem.solve(weights, float(strength), tol, max_iter)
        weights = solution[0]
        fit = problem.result(weights, float(strength), *solution[1:], max_strength=max_strength)
        fits.append(fit)
        if refit:  # the fit with the prior alone on this strength's support (post-Lasso)
            support = jnp.asarray(fit.active | unpenalised, problem.dtype)
            refitted, *_ = problem.solve(weights * support, 0.0, tol, max_iter, maskf=support, block_weight=zero)
            refit_loglik.append(np.asarray(problem.log_likelihood(refitted)))
    _warn_unconverged(net, np.stack([f.converged for f in fits]), "penalised_path")
    return PenalisedPath(
        strengths=strengths,
        params=GLMParams(*(np.stack([np.asarray(getattr(f.params, name)) for f in fits])
                           for name in GLMParams._fields)),
        log_likelihood_per_neuron=np.stack([f.log_likelihood_per_neuron for f in fits]),
        objective=np.stack([f.objective for f in fits]),
        optimality=np.stack([f.optimality for f in fits]),
        converged=np.stack([f.converged for f in fits]),
        n_active=np.stack([f.active.sum(axis=1) for f in fits]),
        connections=np.stack([f.connections for f in fits]),
        max_strength=max_strength,
        n_bins=problem.n_bins,
        refit_log_likelihood_per_neuron=np.stack(refit_loglik) if refit else None,
    )
