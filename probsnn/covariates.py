r"""Bases over covariates: tuning curves to position, speed, head direction or phase.

A GLM neuron's response to a behavioural covariate :math:`x` (position, speed, an angle) is a smooth function
:math:`f(x)` written as a weighted sum of basis functions,

.. math::  \log \lambda_t = \gamma + f(x_t), \qquad f(x) = \sum_j w_j\, \phi_j(x),

so the fit stays a GLM: the design block is the basis evaluated at every bin, ``X[t, j] = phi_j(x_t)``, and
the weights are fitted like any other. Unlike the lag bases of :mod:`probsnn.basis` (which filter a signal's
past), these bases act on the covariate's *current value*.

Bases (each a :class:`CovariateBasis` with ``n_basis``, ``n_inputs`` and ``evaluate(x1, ..., xk)``):

* :func:`bspline`: B-splines of a given order on a knot vector (Cox-de Boor recursion), a partition of
  unity on its bounds;
* :func:`mspline`: the same splines normalised to unit integral (Ramsay 1988);
* :func:`cyclic_bspline`: periodic B-splines for angles and phases (uniform knots wrapped around the period);
* :func:`fourier`: cosines and sines of the first harmonics of a period.

Composition builds multi-covariate fields, one input column per component:

* ``a + b`` (:class:`AdditiveBasis`): columns of ``a`` then of ``b``, :math:`f(x, y) = f_a(x) + f_b(y)`;
* ``a * b`` (:class:`MultiplicativeBasis`): the row-wise tensor product,
  :math:`\phi_{ij}(x, y) = \phi^a_i(x)\, \phi^b_j(y)`, e.g. a 2-D place field over position ``(x, y)``.

:func:`covariate_design` evaluates a basis on the covariates of a recording; the block is fitted as the
stimulus of a :class:`~probsnn.GLMNetwork` with an instantaneous filter, one weight per column::

    design = covariate_design(bspline(8, bounds=(0, 1)) * bspline(8, bounds=(0, 1)), position)   # [T, 64]
    data = SpikeData(counts, dt, stimulus=design)
    net = GLMNetwork(1, stimulus_basis=basis.identity(1, lag_offset=0), n_stimulus_dims=design.shape[1],
                     history_basis=None)
    fit = fit_map(net, data, prior=GaussianPrior(ridge=1.0))

B-splines sum to one on their bounds, so a spline block and the GLM's bias column are collinear: fit with a
ridge (or smoothing) prior on the stimulus weights, which makes the maximum unique.

Evaluation is written in JAX: ``evaluate`` is differentiable in the covariates and may be traced (the checks
of the values then run only on concrete inputs).

References
----------
de Boor, C. (1972). On calculating with B-splines. Journal of Approximation Theory 6, 50-62.
Ramsay, J. O. (1988). Monotone regression splines in action. Statistical Science 3, 425-441 (M-splines).
Eilers, P. H. C. & Marx, B. D. (1996). Flexible smoothing with B-splines and penalties. Statistical Science 11,
89-121.
Hardcastle, K., Maheswaranathan, N., Ganguli, S. & Giocomo, L. M. (2017). A multiplexed, heterogeneous, and
adaptive code for navigation in medial entorhinal cortex. Neuron 94, 375-387 (GLMs over position, head
direction and speed).
"""
from __future__ import annotations

import abc
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_float, concrete, finite_array, first_index, positive_int

__all__ = [
    "CovariateBasis",
    "BSplineBasis",
    "MSplineBasis",
    "CyclicBSplineBasis",
    "FourierBasis",
    "AdditiveBasis",
    "MultiplicativeBasis",
    "bspline",
    "mspline",
    "cyclic_bspline",
    "fourier",
    "covariate_design",
]


# ---------------------------------------------------------------------------------------- the abstract basis
class CovariateBasis(abc.ABC):
    """A set of basis functions over one or more covariates.

    Attributes
    ----------
    n_basis : int
        Number of basis functions (columns of :meth:`evaluate`).
    n_inputs : int
        Number of covariate columns :meth:`evaluate` takes.
    label : str
        A description used in ``repr`` and error messages.
    """

    n_basis: int
    n_inputs: int
    label: str

    def evaluate(self, *covariates):
        r"""The basis at every sample: ``out[t, j] = phi_j(x1[t], ..., xk[t])``.

        Parameters
        ----------
        *covariates : array_like, shape (T,)
            One array per input (``n_inputs`` of them), in the order the basis was composed.

        Returns
        -------
        jax.Array, shape (T, n_basis)

        Raises
        ------
        ValueError
            If the number of covariates differs from ``n_inputs``, they are not 1-D of one length, hold
            NaN/inf, or (when concrete) lie outside the bounds of a non-periodic basis.
        """
        if len(covariates) != self.n_inputs:
            raise ValueError(f"{self.label} takes {self.n_inputs} covariate(s) (one 1-D array per input), got "
                             f"{len(covariates)}; for one (T, {self.n_inputs}) array use "
                             "covariate_design(basis, covariates).")
        columns = []
        for index, x in enumerate(covariates):
            name = f"covariate {index} of {self.label}"
            values = concrete(x)
            if values is not None:
                values = finite_array(name, values, ndim=1)
                x = values
            x = jnp.asarray(x)
            if x.ndim != 1:
                raise ValueError(f"{name} must be 1-dimensional (one value per bin), got shape {x.shape}.")
            if columns and x.shape[0] != columns[0].shape[0]:
                raise ValueError(f"covariates of {self.label} must have one length, got {columns[0].shape[0]} "
                                 f"and {x.shape[0]} (covariate {index}).")
            columns.append(x)
        self._check_domain(columns)
        return self._evaluate([jnp.asarray(x, jnp.result_type(x.dtype, float)) for x in columns])

    @abc.abstractmethod
    def _evaluate(self, columns):
        """``[T, n_basis]`` from ``n_inputs`` float arrays ``[T]`` already checked."""

    def _check_domain(self, columns) -> None:
        """Raise a ValueError for concrete values outside the basis's domain (default: any value is fine)."""

    def __add__(self, other):
        if not isinstance(other, CovariateBasis):
            return NotImplemented
        return AdditiveBasis(self, other)

    def __mul__(self, other):
        if not isinstance(other, CovariateBasis):
            return NotImplemented
        return MultiplicativeBasis(self, other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r}, n_basis={self.n_basis}, n_inputs={self.n_inputs})"


# ---------------------------------------------------------------------------------------- splines
@partial(jax.jit, static_argnames="order")
def _bspline_columns(x, knots, order: int):
    r"""Cox-de Boor recursion: every B-spline of ``order`` on ``knots`` at ``x`` (``[T]``), ``[T, m - order]``.

    .. math::
        B_{i,1}(x) = [t_i \le x < t_{i+1}], \qquad
        B_{i,k}(x) = \frac{x - t_i}{t_{i+k-1} - t_i} B_{i,k-1}(x) + \frac{t_{i+k} - x}{t_{i+k} - t_{i+1}}
        B_{i+1,k-1}(x),

    with 0/0 taken as 0. The order-1 indicator picks the knot interval of ``x`` among the active ones,
    ``[t_{k-1}, t_n]`` with ``n = m - k``; the right end ``x = t_n`` belongs to the last interval.
    """
    m = knots.shape[0]
    t = knots.astype(x.dtype)
    interval = jnp.clip(jnp.searchsorted(t, x, side="right") - 1, order - 1, m - order - 1)
    values = (interval[:, None] == jnp.arange(m - 1)[None, :]).astype(x.dtype)

    def inverse(width):
        return jnp.where(width > 0, 1.0 / jnp.where(width > 0, width, 1.0), 0.0)

    for k in range(2, order + 1):
        left = (x[:, None] - t[:m - k]) * inverse(t[k - 1:m - 1] - t[:m - k])
        right = (t[k:] - x[:, None]) * inverse(t[k:] - t[1:m - k + 1])
        values = left * values[:, :-1] + right * values[:, 1:]
    return values


def _check_order(order) -> int:
    return positive_int("order (spline degree + 1; 4 is cubic)", order)


def _check_bounds(bounds, what: str) -> tuple[float, float]:
    if bounds is None or isinstance(bounds, (str, bytes)) or np.ndim(bounds) != 1 or len(bounds) != 2:
        raise ValueError(f"bounds of {what} must be a pair (low, high) of finite numbers, got {bounds!r}.")
    low = check_float(f"bounds[0] of {what}", bounds[0])
    high = check_float(f"bounds[1] of {what}", bounds[1], low=low, low_open=True,
                       fix=" The upper bound must exceed the lower one.")
    return low, high


def _knot_vector(n_basis: int, order: int, bounds, knots, what: str) -> np.ndarray:
    """The full knot vector (length ``n_basis + order``): clamped uniform, or the one given, checked."""
    if isinstance(knots, str):
        if knots != "uniform":
            raise ValueError(f"knots of {what} must be 'uniform' or an array of the full knot vector "
                             f"(n_basis + order = {n_basis + order} non-decreasing values), got {knots!r}.")
        if n_basis < order:
            raise ValueError(f"n_basis of {what} must be >= order ({order}) with uniform knots, got {n_basis}.")
        low, high = _check_bounds(bounds, what)
        interior = np.linspace(low, high, n_basis - order + 2)[1:-1]
        return np.concatenate([np.full(order, low), interior, np.full(order, high)])
    t = finite_array(f"knots of {what}", knots, ndim=1)
    if t.size != n_basis + order:
        raise ValueError(f"knots of {what} must hold n_basis + order = {n_basis + order} values (the full knot "
                         f"vector), got {t.size}.")
    bad = first_index(np.diff(t) < 0)
    if bad is not None:
        raise ValueError(f"knots of {what} must be non-decreasing, got knots[{bad[0]}] = {t[bad[0]]} > "
                         f"knots[{bad[0] + 1}] = {t[bad[0] + 1]}.")
    empty = first_index(t[order:] <= t[:-order])
    if empty is not None:
        i = empty[0]
        raise ValueError(f"knots of {what}: basis function {i} has zero width (knots[{i}] = knots[{i + order}] = "
                         f"{t[i]}); a knot may repeat at most order = {order} times.")
    domain = (float(t[order - 1]), float(t[n_basis]))
    if bounds is not None and _check_bounds(bounds, what) != domain:
        raise ValueError(f"bounds of {what} must be None or (knots[order - 1], knots[n_basis]) = {domain} with "
                         f"an explicit knot vector, got {tuple(bounds)!r}.")
    return t


class BSplineBasis(CovariateBasis):
    r"""B-splines :math:`B_{j,k}` of order :math:`k` on a knot vector :math:`t_0 \le \dots \le t_{n+k-1}`.

    Built by :func:`bspline`; evaluated by the Cox-de Boor recursion (:func:`_bspline_columns`) on the domain
    :math:`[t_{k-1}, t_n]`, where :math:`\sum_j B_{j,k}(x) = 1`. A value outside the domain is a ValueError:
    splines are not extrapolated.
    """

    def __init__(self, n_basis: int, order: int, knots: np.ndarray, label: str):
        self.n_basis, self.order, self.n_inputs, self.label = n_basis, order, 1, label
        self.knots = np.asarray(knots, np.float64)
        self.knots.setflags(write=False)

    @property
    def bounds(self) -> tuple[float, float]:
        """The domain ``(t[order - 1], t[n_basis])``."""
        return float(self.knots[self.order - 1]), float(self.knots[self.n_basis])

    def _check_domain(self, columns) -> None:
        values = concrete(columns[0])
        if values is None:
            return
        low, high = self.bounds
        outside = first_index((values < low) | (values > high))
        if outside is not None:
            i = outside[0]
            raise ValueError(f"covariate of {self.label} must lie in its bounds [{low:g}, {high:g}], got "
                             f"{float(values[i])!r} at index {i}; widen bounds= (splines are not extrapolated).")

    def _evaluate(self, columns):
        return _bspline_columns(columns[0], jnp.asarray(self.knots), self.order)


class MSplineBasis(BSplineBasis):
    r"""M-splines: B-splines scaled to unit integral (Ramsay 1988),

    .. math::  M_{j,k}(x) = \frac{k}{t_{j+k} - t_j} B_{j,k}(x), \qquad \int M_{j,k}(x)\, dx = 1,

    since :math:`\int B_{j,k} = (t_{j+k} - t_j)/k`. Built by :func:`mspline`.
    """

    def _evaluate(self, columns):
        scale = self.order / (self.knots[self.order:] - self.knots[:-self.order])
        return super()._evaluate(columns) * jnp.asarray(scale, columns[0].dtype)


def bspline(n_basis: int, order: int = 4, bounds=None, knots="uniform") -> BSplineBasis:
    r"""B-spline basis over one covariate (Cox-de Boor recursion, de Boor 1972).

    .. math::
        B_{j,1}(x) = [t_j \le x < t_{j+1}], \qquad
        B_{j,k}(x) = \frac{x - t_j}{t_{j+k-1} - t_j} B_{j,k-1}(x) + \frac{t_{j+k} - x}{t_{j+k} - t_{j+1}}
        B_{j+1,k-1}(x).

    Each :math:`B_{j,k}` is a piecewise polynomial of degree :math:`k - 1`, non-negative, supported on
    :math:`[t_j, t_{j+k}]`, and the basis sums to one on the domain :math:`[t_{k-1}, t_n]`.

    Parameters
    ----------
    n_basis : int
        Number of basis functions :math:`n`.
    order : int
        Spline order :math:`k` (degree + 1): 1 piecewise constant, 2 linear, 4 cubic.
    bounds : (float, float), optional
        Domain of the covariate; required with ``knots="uniform"``. With an explicit knot vector it is
        ``(knots[order - 1], knots[n_basis])`` and may be left out.
    knots : "uniform" or array_like
        ``"uniform"``: clamped knots, ``order`` copies of each bound and ``n_basis - order`` equally spaced
        interior knots (needs ``n_basis >= order``). An array: the full non-decreasing knot vector
        (``n_basis + order`` values, no knot repeated more than ``order`` times), e.g. interior knots at
        quantiles of the covariate, as in ``scipy.interpolate.BSpline``.

    Returns
    -------
    BSplineBasis
        ``evaluate(x)`` is ``[T, n_basis]``; values outside ``bounds`` raise a ValueError.
    """
    n_basis, order = positive_int("n_basis", n_basis), _check_order(order)
    what = f"bspline(n_basis={n_basis}, order={order})"
    return BSplineBasis(n_basis, order, _knot_vector(n_basis, order, bounds, knots, what), what)


def mspline(n_basis: int, order: int = 4, bounds=None, knots="uniform") -> MSplineBasis:
    r"""M-spline basis: B-splines normalised to unit integral (Ramsay 1988).

    .. math::  M_{j,k}(x) = \frac{k}{t_{j+k} - t_j} B_{j,k}(x), \qquad \int M_{j,k}(x)\, dx = 1.

    Parameters are those of :func:`bspline`. M-splines are densities over the covariate (each a smooth bump
    of unit mass); they do not sum to one.
    """
    n_basis, order = positive_int("n_basis", n_basis), _check_order(order)
    what = f"mspline(n_basis={n_basis}, order={order})"
    return MSplineBasis(n_basis, order, _knot_vector(n_basis, order, bounds, knots, what), what)


class CyclicBSplineBasis(CovariateBasis):
    r"""Periodic B-splines of order :math:`k` with :math:`n` uniform knots on one period :math:`[a, a + P)`.

    Built by :func:`cyclic_bspline`. With spacing :math:`h = P/n` and the extended uniform knots
    :math:`t_i = a + (i - k + 1) h`, the cyclic functions are the periodic extensions

    .. math::  C_j(x) = \sum_{m \in \mathbb{Z}} B_{j,k}(x + mP), \qquad j = 0, \dots, n - 1,

    evaluated by wrapping :math:`x` into :math:`[a, a + P)` and adding the last :math:`k - 1` extended
    functions onto the first ones. The columns are then ordered so that, for an even order, column ``j``
    peaks at :math:`a + j h` (for an odd order :math:`k \ge 3`, at :math:`a + (j - 1/2) h`). Every
    :math:`C_j` is :math:`C^{k-2}` everywhere, the wrap included, and :math:`\sum_j C_j = 1`. Any finite
    value is accepted (angles are wrapped, not refused).
    """

    def __init__(self, n_basis: int, order: int, bounds: tuple[float, float], label: str):
        self.n_basis, self.order, self.n_inputs, self.label = n_basis, order, 1, label
        self.bounds = bounds
        low, high = bounds
        self.period = high - low
        spacing = self.period / n_basis
        self.knots = low + spacing * (np.arange(n_basis + 2 * order - 1) - (order - 1))
        self.knots.setflags(write=False)

    def _evaluate(self, columns):
        low = self.bounds[0]
        x = low + jnp.mod(columns[0] - low, self.period)
        extended = _bspline_columns(x, jnp.asarray(self.knots), self.order)  # [T, n + k - 1]
        n, wrapped = self.n_basis, self.order - 1
        folded = extended[:, :n].at[:, :wrapped].add(extended[:, n:])
        # extended function j peaks at a + (j + 1 - k/2) h: shift the columns so that j peaks at a + j h
        return jnp.roll(folded, -max(self.order // 2 - 1, 0), axis=1)


def cyclic_bspline(n_basis: int, order: int = 4, period: float | None = None, bounds=None) -> CyclicBSplineBasis:
    r"""Periodic (cyclic) B-spline basis for angles and phases.

    .. math::  C_j(x) = \sum_{m \in \mathbb{Z}} B_{j,k}(x + mP)

    on uniform knots :math:`a + jP/n` (:class:`CyclicBSplineBasis`): smooth across the wrap, a partition of
    unity, each function a shifted copy of the first.

    Parameters
    ----------
    n_basis : int
        Number of functions :math:`n` (one per knot), ``>= order``.
    order : int
        Spline order :math:`k` (4: cubic, continuous with two continuous derivatives).
    period : float, optional
        Period :math:`P`; the period starts at 0. Default :math:`2\pi` (angles in radians).
    bounds : (float, float), optional
        One period ``(a, a + P)`` instead of ``period``, e.g. ``(-pi, pi)``; give one of the two.
    """
    n_basis, order = positive_int("n_basis", n_basis), _check_order(order)
    what = f"cyclic_bspline(n_basis={n_basis}, order={order})"
    if n_basis < order:
        raise ValueError(f"n_basis of {what} must be >= order ({order}), got {n_basis}.")
    if period is not None and bounds is not None:
        raise ValueError(f"give period or bounds of {what}, not both (got period={period!r}, bounds={bounds!r}).")
    if bounds is None:
        bounds = (0.0, 2.0 * math.pi if period is None else check_float(f"period of {what}", period, low=0.0,
                                                                          low_open=True))
    return CyclicBSplineBasis(n_basis, order, _check_bounds(bounds, what), what)


# ---------------------------------------------------------------------------------------- Fourier
class FourierBasis(CovariateBasis):
    r"""Cosines and sines of the first harmonics of a period :math:`P`, built by :func:`fourier`:

    .. math::  \phi_{2m-2}(x) = \cos(2\pi m x / P), \quad \phi_{2m-1}(x) = \sin(2\pi m x / P), \qquad
        m = 1, \dots, M.

    There is no constant column: the GLM's bias is the constant. A von Mises tuning curve
    :math:`\exp(\kappa \cos(x - \mu))` is exactly ``M = 1``.
    """

    def __init__(self, n_frequencies: int, period: float, label: str):
        self.n_frequencies, self.period, self.label = n_frequencies, period, label
        self.n_basis, self.n_inputs = 2 * n_frequencies, 1

    def _evaluate(self, columns):
        x = columns[0]
        harmonics = jnp.arange(1, self.n_frequencies + 1, dtype=x.dtype)
        phase = (2.0 * math.pi / self.period) * x[:, None] * harmonics[None, :]
        return jnp.stack([jnp.cos(phase), jnp.sin(phase)], axis=-1).reshape(x.shape[0], self.n_basis)


def fourier(n_frequencies: int, period: float = 2.0 * math.pi) -> FourierBasis:
    r"""Fourier basis :math:`\cos(2\pi m x/P), \sin(2\pi m x/P)`, :math:`m = 1..M` (``2 M`` columns).

    Parameters
    ----------
    n_frequencies : int
        Number of harmonics :math:`M`.
    period : float
        Period :math:`P` of the covariate (default :math:`2\pi`, radians).
    """
    n_frequencies = positive_int("n_frequencies", n_frequencies)
    period = check_float("period of fourier()", period, low=0.0, low_open=True)
    return FourierBasis(n_frequencies, period, f"fourier(n_frequencies={n_frequencies}, period={period:g})")


# ---------------------------------------------------------------------------------------- composition
class _CompositeBasis(CovariateBasis):
    """Components applied to consecutive slices of the covariates (one or more columns each)."""

    symbol = "?"

    def __init__(self, *components: CovariateBasis):
        flat = []
        for component in components:
            if not isinstance(component, CovariateBasis):
                raise TypeError(f"a composed basis takes CovariateBasis components, got {type(component).__name__}.")
            # (a + b) + c is a + b + c; (a * b) * c is a * b * c
            flat.extend(component.components if type(component) is type(self) else [component])
        self.components = tuple(flat)
        self.n_inputs = sum(c.n_inputs for c in self.components)
        self.label = "(" + f" {self.symbol} ".join(c.label for c in self.components) + ")"

    def _slices(self, columns):
        start = 0
        for component in self.components:
            yield component, columns[start:start + component.n_inputs]
            start += component.n_inputs

    def _check_domain(self, columns) -> None:
        for component, part in self._slices(columns):
            component._check_domain(part)


class AdditiveBasis(_CompositeBasis):
    r"""Sum of bases over different covariates (``a + b``): the columns side by side,

    .. math::  f(x, y) = \sum_i w_i \phi^a_i(x) + \sum_j v_j \phi^b_j(y),

    ``n_basis = n_a + n_b``; ``evaluate(x, y)`` takes the inputs of ``a`` then those of ``b``.
    """

    symbol = "+"

    def __init__(self, *components: CovariateBasis):
        super().__init__(*components)
        self.n_basis = sum(c.n_basis for c in self.components)

    def _evaluate(self, columns):
        return jnp.concatenate([c._evaluate(part) for c, part in self._slices(columns)], axis=1)


class MultiplicativeBasis(_CompositeBasis):
    r"""Row-wise tensor product of bases (``a * b``), for joint fields such as position ``(x, y)``:

    .. math::  \phi_{i n_b + j}(x, y) = \phi^a_i(x)\, \phi^b_j(y),

    ``n_basis = n_a n_b`` (the index of ``a`` varies slowest). The product of two B-spline bases is a tensor
    product spline surface; it still sums to one.
    """

    symbol = "*"

    def __init__(self, *components: CovariateBasis):
        super().__init__(*components)
        self.n_basis = math.prod(c.n_basis for c in self.components)

    def _evaluate(self, columns):
        out = None
        for component, part in self._slices(columns):
            values = component._evaluate(part)
            out = values if out is None else (out[:, :, None] * values[:, None, :]).reshape(values.shape[0], -1)
        return out


# ---------------------------------------------------------------------------------------- design block
def covariate_design(basis: CovariateBasis, covariates) -> np.ndarray:
    r"""The design block ``[T, n_basis]`` of a basis over a recording's covariates.

    ``X[t, j] = phi_j(covariates[t])``. Fit it as the stimulus of a GLM with an instantaneous filter, one
    weight per column: ``SpikeData(counts, dt, stimulus=X)`` and
    ``GLMNetwork(N, stimulus_basis=probsnn.basis.identity(1, lag_offset=0), n_stimulus_dims=X.shape[1])``;
    the fitted ``params.stimulus_weights[i, :, 0]`` are then the weights :math:`w_j` of neuron ``i``.

    Parameters
    ----------
    basis : CovariateBasis
    covariates : array_like, shape (T, n_inputs) or (T,), or a sequence of ``n_inputs`` arrays ``(T,)``
        One column per input of ``basis``, in its composition order (e.g. ``x`` then ``y``).

    Returns
    -------
    numpy.ndarray, shape (T, n_basis)
    """
    if not isinstance(basis, CovariateBasis):
        raise TypeError(f"basis must be a probsnn.covariates.CovariateBasis, got {type(basis).__name__}.")
    if isinstance(covariates, (list, tuple)):
        columns = list(covariates)
    else:
        values = finite_array("covariates", covariates)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2 or values.shape[1] != basis.n_inputs:
            raise ValueError(f"covariates must have shape (T, {basis.n_inputs}) (one column per input of "
                             f"{basis.label}), got {values.shape}.")
        columns = list(values.T)
    return np.asarray(basis.evaluate(*columns))
