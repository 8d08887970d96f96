r"""scikit-learn interface: the population GLM as an estimator, bases as a transformer, blocked cross-validation.

:class:`PopulationGLM` wraps :class:`probsnn.GLMNetwork` and :func:`probsnn.fit_map` behind the scikit-learn
estimator API (``fit``/``predict``/``score``, ``get_params``/``set_params``), so that its hyper-parameters
(ridge, basis sizes and windows) can be chosen with :class:`~sklearn.model_selection.GridSearchCV` and
:func:`~sklearn.model_selection.cross_val_score`. ``X`` ``[T, D]`` is the stimulus (or any covariates) and ``y``
``[T, N]`` the spike counts of ``N`` neurons in the same bins; the fit maximises, per neuron,

.. math::
    \sum_t \log p\bigl(y_{t,i} \mid u_{t,i}\bigr) - \tfrac{\lambda}{2}\, |w_i|^2, \qquad
    u_{t,i} = \gamma_i + \sum_{d,b} w^{\rm stim}_{idb}\, (\phi^{\rm stim}_b * x_d)_t
              + \sum_{j,b} w^{\rm coup}_{ijb}\, (\phi^{\rm hist}_b * y_j)_{t-1},

the GLM of Pillow et al. (2008) (:mod:`probsnn.neurons.glm`). Because the potential depends on the spikes' own
past, ``score(X, y)`` and ``predict(X, y)`` evaluate the model *given* ``y``'s past: the held-out score of
cross-validation is the one-step-ahead (conditional) log-likelihood of the held-out spikes, the standard
criterion for point-process GLMs.

Time series must not be shuffled nor split inside a trial: :class:`BlockedKFold` holds out contiguous blocks
(edges moved to trial starts), and the ``time_index``/``trial`` arguments of ``fit``, ``score``, ``predict`` and
:meth:`BasisTransformer.transform` restart every filter where the rows are not consecutive bins of one trial
(the junction a held-out block leaves in the training rows). :func:`cross_validate_ridge` is the same
procedure on a :class:`probsnn.SpikeData` (its :meth:`~probsnn.SpikeData.folds`) for a given network, with the
choice by the best held-out score and by the one-standard-error rule (Hastie, Tibshirani & Friedman 2009,
*The Elements of Statistical Learning*, sec. 7.10).

scikit-learn is an optional dependency (``pip install 'probsnn[sklearn]'``); this module is not imported by
``import probsnn``: ``from probsnn.sklearn import PopulationGLM``.

References
----------
Pillow et al. (2008), Nature 454:995. Hastie, Tibshirani & Friedman (2009), The Elements of Statistical
Learning, 2nd ed., sec. 7.10. Bergmeir & Benitez (2012), "On the use of cross-validation for time series
predictor evaluation", Information Sciences 191:192-213 (blocked cross-validation).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

try:
    from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
    from sklearn.model_selection import BaseCrossValidator
    from sklearn.utils.validation import check_array, check_is_fitted, validate_data
except ImportError as error:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("probsnn.sklearn needs scikit-learn >= 1.6: pip install 'probsnn[sklearn]'") from error

from . import basis as basis_module
from ._checks import check_float, check_int, check_trial_starts, finite_array, non_negative_int, one_of
from .data import SpikeData
from .inference.map import fit_map
from .models.priors import GaussianPrior
from .neurons.glm import GLMNetwork

__all__ = [
    "PopulationGLM",
    "BasisTransformer",
    "BlockedKFold",
    "RidgeCVResult",
    "cross_validate_ridge",
    "one_standard_error_choice",
    "segment_starts",
]

_BASES = ("raised_cosine_log", "raised_cosine_linear", "identity")


# ------------------------------------------------------------------------------------ shared pieces
def make_basis(kind: str, n_basis: int, window: int, lag_offset: int) -> basis_module.Basis:
    """A :mod:`probsnn.basis` basis by name: ``"raised_cosine_log"``, ``"raised_cosine_linear"`` (``n_basis``
    functions over ``window`` lags) or ``"identity"`` (one weight per lag: ``n_basis`` is ``window``)."""
    one_of("basis", kind, _BASES)
    if kind == "identity":
        return basis_module.identity(window, lag_offset=lag_offset)
    if kind == "raised_cosine_linear":
        return basis_module.raised_cosine_linear(n_basis, window, lag_offset=lag_offset)
    return basis_module.raised_cosine_log(n_basis, window, lag_offset=lag_offset)


def segment_starts(n_rows: int, time_index=None, trial=None) -> tuple[int, ...] | None:
    """Rows where the filters restart: row 0, every row that does not follow the previous one in time
    (``time_index[t] != time_index[t - 1] + 1``) and every row whose ``trial`` label differs from the previous
    row's. In the form of :attr:`probsnn.SpikeData.trial_starts` (``None``: one contiguous segment).

    Parameters
    ----------
    n_rows : int
    time_index : array_like of int, shape (n_rows,), optional
        The bin of every row in the recording (e.g. ``np.arange(T)`` of the full data, sliced by the
        cross-validation split as any per-sample argument); ``None``: the rows are consecutive bins.
    trial : array_like, shape (n_rows,), optional
        The trial of every row (e.g. :attr:`probsnn.SpikeData.trial_index`); ``None``: one trial.
    """
    new = np.zeros(n_rows, bool)
    new[:1] = True
    if time_index is not None:
        index = finite_array("time_index", time_index, shape=(n_rows,), dtype=None)
        if index.dtype.kind not in "iuf" or (index.dtype.kind == "f" and not np.all(index == np.round(index))):
            raise ValueError(f"time_index must hold integer bin indices (the bin of every row in the recording, e.g. "
                             f"np.arange(T)), got dtype {index.dtype}.")
        new[1:] |= np.diff(index) != 1
    if trial is not None:
        labels = np.asarray(trial)
        if labels.shape != (n_rows,):
            raise ValueError(f"trial must hold one label per row, shape ({n_rows},), got {labels.shape}.")
        new[1:] |= labels[1:] != labels[:-1]
    return check_trial_starts("segment starts", np.flatnonzero(new), n_rows)


def _check_ridge(ridge) -> np.ndarray:
    """A precision ``>= 0``: one number, or one per neuron (a 1-D array)."""
    values = np.atleast_1d(np.asarray(ridge, dtype=object))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"ridge must be one precision >= 0 or one per neuron (1-D), got {ridge!r}.")
    return np.array([check_float("ridge (a precision)", r, low=0.0) for r in values])


def _priors(ridge: np.ndarray, n_neurons: int):
    """``None`` (maximum likelihood), one GaussianPrior, or one per neuron."""
    if ridge.size == 1:
        return None if ridge[0] == 0 else GaussianPrior(ridge=float(ridge[0]))
    if ridge.size != n_neurons:
        raise ValueError(f"ridge has {ridge.size} entries but y has {n_neurons} neurons: give one precision, or "
                         "one per neuron.")
    return [GaussianPrior(ridge=float(r)) for r in ridge]


# ------------------------------------------------------------------------------------ the estimator
class PopulationGLM(RegressorMixin, BaseEstimator):
    r"""The population GLM of spiking neurons (:class:`probsnn.GLMNetwork` fitted by :func:`probsnn.fit_map`) as
    a scikit-learn estimator.

    Parameters
    ----------
    observation : {"poisson", "bernoulli"}
        The spike-count law (:mod:`probsnn.neurons.observation`).
    link : {"exp", "softplus"}
        Poisson link (ignored for Bernoulli).
    stimulus_basis : {"raised_cosine_log", "raised_cosine_linear", "identity"}
        Basis of the stimulus filters (lag offset 0: a filter sees the current frame). ``"identity"`` with
        ``stimulus_window=1`` uses the columns of ``X`` as they are (a plain GLM on ``X``, e.g. after a
        :class:`BasisTransformer` in a :class:`~sklearn.pipeline.Pipeline`).
    stimulus_basis_size : int
        Number of stimulus basis functions (ignored by ``"identity"``, which has ``stimulus_window``).
    stimulus_window : int
        Lags (bins) the stimulus filters cover.
    history_basis_size : int
        Number of log raised cosines (Pillow et al. 2008) of the spike-history and coupling kernels (lag offset
        1); 0 for no history (an LNP model: ``predict`` then needs no spikes).
    history_window : int
        Lags (bins) the history kernels cover.
    coupling : bool
        Couple the neurons to each other (off-diagonal kernels); each always has its self-history kernel.
    ridge : float or array of shape (N,)
        Precision :math:`\lambda` of the Gaussian prior on the filter weights (the bias is free), one for all
        neurons or one per neuron; 0 is maximum likelihood. scikit-learn's ``PoissonRegressor(alpha=...)``,
        which minimises ``deviance / (2 T) + alpha / 2 |w|^2``, is ``ridge = alpha * T``.
    dt : float
        Bin width in seconds (for :meth:`predict_rate`).

    Attributes
    ----------
    coef_ : ndarray, shape (N, F - 1), or (F - 1,) for 1-D ``y``
        Each neuron's weights in the order of :meth:`probsnn.GLMNetwork.flatten`: stimulus (dimension-major,
        then basis), history of every neuron (neuron-major, then basis); the bias is ``intercept_``.
    intercept_ : ndarray, shape (N,), or float for 1-D ``y``
    n_features_in_ : int
        Columns of ``X`` (stimulus dimensions ``D``).
    network_ : GLMNetwork
    params_ : GLMParams
    fit_result_ : MAPResult
        Convergence flags, Laplace covariance and standard errors of the fit.

    Notes
    -----
    **The spikes' own past.** With history kernels the potential of bin :math:`t` depends on the spikes before
    it, so :meth:`predict` and :meth:`score` take the spikes ``y`` and condition on their past: ``score(X, y)``
    is the mean conditional log-likelihood of ``y`` given ``X`` and ``y``'s past, which is what
    ``GridSearchCV``/``cross_val_score`` call on each held-out fold. Every filter starts from a silent past at
    the first row (zero-padding), and again wherever ``time_index``/``trial`` say the rows are not consecutive
    bins of one trial (:func:`segment_starts`). Pass ``time_index=np.arange(T)`` (and ``trial=``) to
    ``GridSearchCV.fit``/``cross_validate(params=...)``: they are per-sample arguments, sliced with the split,
    so the training rows on either side of a held-out block do not feed each other's history. Without
    metadata routing scikit-learn passes them to ``fit`` only; with
    ``sklearn.set_config(enable_metadata_routing=True)`` and
    ``PopulationGLM().set_fit_request(time_index=True).set_score_request(time_index=True)`` to ``score`` too.

    **Targets.** ``y`` must be spike counts: non-negative whole numbers (0/1 for Bernoulli), as
    :class:`probsnn.SpikeData` demands. The estimator tags say so (``target_tags.positive_only``,
    ``required``, ``multi_output``); generic estimator checks that feed continuous targets fail by design
    (``tests/test_sklearn.py`` lists them with the reasons).
    """

    def __init__(self, observation="poisson", link="exp", stimulus_basis="raised_cosine_log",
                 stimulus_basis_size=4, stimulus_window=10, history_basis_size=4, history_window=20,
                 coupling=True, ridge=1.0, dt=1.0):
        self.observation = observation
        self.link = link
        self.stimulus_basis = stimulus_basis
        self.stimulus_basis_size = stimulus_basis_size
        self.stimulus_window = stimulus_window
        self.history_basis_size = history_basis_size
        self.history_window = history_window
        self.coupling = coupling
        self.ridge = ridge
        self.dt = dt

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.positive_only = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.allow_nan = False
        return tags

    # -------------------------------------------------------------- building blocks
    def _network(self, n_neurons: int, n_stimulus_dims: int) -> GLMNetwork:
        one_of("stimulus_basis", self.stimulus_basis, _BASES)
        history_size = non_negative_int("history_basis_size", self.history_basis_size)
        stimulus = None
        if n_stimulus_dims > 0:
            stimulus = make_basis(self.stimulus_basis, self.stimulus_basis_size, self.stimulus_window, 0)
        history = None
        if history_size > 0:
            history = basis_module.raised_cosine_log(history_size, self.history_window, lag_offset=1)
        return GLMNetwork(n_neurons, stimulus_basis=stimulus, history_basis=history,
                          n_stimulus_dims=n_stimulus_dims, observation=self.observation, link=self.link,
                          coupling=bool(self.coupling))

    def _validate(self, X, y, reset: bool):
        """``X`` ``[T, D]`` and ``y`` checked by scikit-learn's ``validate_data`` (``X`` None: no stimulus
        columns; ``y`` None: only ``X``)."""
        if X is None:
            if y is None:
                raise ValueError("X is None: give the stimulus [T, D], or y so that the number of bins is known.")
            y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
            if reset:
                self.n_features_in_ = 0
            elif self.n_features_in_ != 0:
                raise ValueError(f"X is None but the model was fitted with {self.n_features_in_} stimulus columns; "
                                 "pass the stimulus.")
            return np.zeros((y.shape[0], 0)), y
        if y is None:
            return validate_data(self, X, reset=reset, dtype=np.float64), None
        return validate_data(self, X, y, reset=reset, multi_output=True, y_numeric=True, dtype=np.float64)

    def _data(self, X, y, time_index, trial, reset: bool) -> SpikeData:
        """``(X, y)`` as the SpikeData of the fit (``y`` checked as spike counts, naming ``y``)."""
        if y is None and X is not None:  # scikit-learn's message for an estimator that requires y
            validate_data(self, X, y, reset=reset)
        X, counts = self._validate(X, y, reset)
        if counts.ndim not in (1, 2):
            raise ValueError(f"y must be spike counts of shape (T,) or (T, N), got shape {counts.shape}.")
        if not reset:
            expected = (X.shape[0], self.network_.n_neurons) if self._y_2d_ else (X.shape[0],)
            if counts.shape != expected:
                raise ValueError(f"y has shape {counts.shape} but the model was fitted to spike counts of shape "
                                 f"{expected} (rows, neurons); pass the counts of the same neurons.")
        try:
            return SpikeData(counts, dt=self.dt, stimulus=X if X.shape[1] else None,
                             trial_starts=segment_starts(X.shape[0], time_index, trial))
        except ValueError as error:
            raise ValueError(f"y must be spike counts (whole numbers >= 0 per bin): {error}") from None

    # -------------------------------------------------------------- estimator API
    def fit(self, X, y, *, time_index=None, trial=None):
        """Fit the GLM to spike counts ``y`` ``[T, N]`` (or ``[T]``) given the stimulus ``X`` ``[T, D]``.

        Parameters
        ----------
        X : array_like, shape (T, D), or None
            Stimulus or covariates; ``None`` for a model of spike history only (no stimulus filters).
        y : array_like, shape (T, N) or (T,)
            Spike counts.
        time_index, trial : array_like, shape (T,), optional
            Where the filters restart (:func:`segment_starts`).

        Returns
        -------
        self
        """
        data = self._data(X, y, time_index, trial, reset=True)
        self._y_2d_ = np.ndim(y) == 2
        net = self._network(data.n_neurons, data.n_stimulus_dims)
        prior = _priors(_check_ridge(self.ridge), data.n_neurons)
        self.network_ = net
        self.fit_result_ = fit_map(net, data, prior=prior, progress=False)
        self.params_ = self.fit_result_.params
        weights = np.asarray(net.flatten(self.params_), dtype=np.float64)
        self.coef_ = weights[:, :-1] if self._y_2d_ else weights[0, :-1]
        self.intercept_ = weights[:, -1] if self._y_2d_ else float(weights[0, -1])
        return self

    def _fitted_data(self, X, y, time_index, trial) -> SpikeData:
        check_is_fitted(self)
        if y is None:
            X, _ = self._validate(X, None, reset=False)
            if self.network_.history_basis is not None:
                raise ValueError("this model has spike-history kernels (history_basis_size > 0): pass the spikes "
                                 "y [T, N] whose past the prediction conditions on, predict(X, y).")
            y = np.zeros((X.shape[0], self.network_.n_neurons) if self._y_2d_ else X.shape[0], np.int64)
        return self._data(X, y, time_index, trial, reset=False)

    def predict(self, X, y=None, *, time_index=None, trial=None):
        """Expected spike counts per bin, ``E[y_t | X, y_{<t}]``, shape of ``y`` (``(T, N)`` or ``(T,)``).

        Parameters
        ----------
        X : array_like, shape (T, D), or None
        y : array_like, shape (T, N) or (T,), optional
            The observed spikes whose past feeds the history kernels; required when the model has any
            (``history_basis_size > 0``). Bin ``t``'s own count never enters its prediction.
        time_index, trial : array_like, shape (T,), optional
            Where the filters restart (:func:`segment_starts`).
        """
        data = self._fitted_data(X, y, time_index, trial)
        mean = np.asarray(self.network_.observation.mean(self.network_.potential(self.params_, data)))
        return mean if self._y_2d_ else mean[:, 0]

    def predict_rate(self, X, y=None, *, time_index=None, trial=None):
        """:meth:`predict` in Hz (expected spikes per bin / ``dt``)."""
        return self.predict(X, y, time_index=time_index, trial=trial) / self.dt

    def score(self, X, y, *, time_index=None, trial=None):
        r"""Mean conditional log-likelihood per bin and neuron (nats), :math:`\frac{1}{TN}\sum_{t,i}
        \log p(y_{t,i} \mid X, y_{<t})`, including the :math:`-\log y!` of Poisson counts. Higher is better (the
        ``GridSearchCV`` criterion); for held-out rows it is the one-step-ahead predictive log-likelihood.

        Parameters
        ----------
        X : array_like, shape (T, D), or None
        y : array_like, shape (T, N) or (T,)
            Spike counts (required: the score is their likelihood).
        time_index, trial : array_like, shape (T,), optional
            Where the filters restart (:func:`segment_starts`).
        """
        check_is_fitted(self)
        data = self._data(X, y, time_index, trial, reset=False)
        return float(self.network_.log_likelihood(self.params_, data)) / (data.n_bins * data.n_neurons)


# ------------------------------------------------------------------------------------ the basis transformer
class BasisTransformer(TransformerMixin, BaseEstimator):
    r"""Causal convolution of every column of ``X`` with a basis: ``[T, D] -> [T, D * n_basis]``.

    Column ``d * n_basis + b`` is :math:`\sum_\ell \phi_b(\ell)\, x_{t - \ell - \ell_0, d}` (zero before the first
    row and before every restart, :func:`probsnn.basis.causal_convolve`), the stimulus block of
    :meth:`probsnn.GLMNetwork.design_matrix`. In a :class:`~sklearn.pipeline.Pipeline` before
    ``PopulationGLM(stimulus_basis="identity", stimulus_window=1)`` it makes the basis (``n_basis``,
    ``window``) a grid-searchable step.

    Parameters
    ----------
    basis : {"raised_cosine_log", "raised_cosine_linear", "identity"}
        :mod:`probsnn.basis` family (``"identity"`` has ``window`` functions, one per lag).
    n_basis : int
    window : int
        Lags (bins) the basis covers.
    lag_offset : int
        Lag of the first row: 0 (default) lets a filter see the current frame.

    Notes
    -----
    ``transform`` treats its rows as consecutive bins unless ``time_index``/``trial`` say otherwise
    (:func:`segment_starts`). A ``Pipeline`` inside ``GridSearchCV`` passes only ``X``: the first ``window`` rows
    after the junction a held-out block leaves in the training rows then see the rows before the block as
    their past (no held-out data enters the fit).
    """

    def __init__(self, basis="raised_cosine_log", n_basis=4, window=10, lag_offset=0):
        self.basis = basis
        self.n_basis = n_basis
        self.window = window
        self.lag_offset = lag_offset

    def fit(self, X, y=None):
        """Validate ``X`` and build the basis (``basis_``); ``y`` is ignored."""
        validate_data(self, X, dtype=np.float64)
        self.basis_ = make_basis(self.basis, self.n_basis, self.window,
                                 check_int("lag_offset", self.lag_offset, minimum=0))
        return self

    def transform(self, X, *, time_index=None, trial=None):
        """The filtered columns ``[T, D * n_basis]`` (column ``d``-major, then basis)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        starts = segment_starts(X.shape[0], time_index, trial)
        features = basis_module.causal_convolve(X, self.basis_, trial_starts=starts)
        return np.asarray(features, dtype=np.float64).reshape(X.shape[0], -1)

    def get_feature_names_out(self, input_features=None):
        """``x{d}:b{b}`` (or ``{input_feature}:b{b}``) for every output column."""
        check_is_fitted(self)
        names = (input_features if input_features is not None
                 else getattr(self, "feature_names_in_", [f"x{d}" for d in range(self.n_features_in_)]))
        return np.array([f"{name}:b{b}" for name in names for b in range(self.basis_.n_basis)], dtype=object)


# ------------------------------------------------------------------------------------ blocked splitter
def _block_edges(n_bins: int, n_blocks: int, trial_starts) -> np.ndarray:
    """Edges of ``n_blocks`` contiguous blocks of about ``n_bins / n_blocks`` bins, moved to the nearest trial
    start when there are trials (the rule of :meth:`probsnn.SpikeData.folds` ``by="block"``)."""
    edges = np.round(np.arange(n_blocks + 1) * n_bins / n_blocks).astype(np.int64)
    if trial_starts is not None:
        bounds = np.asarray(tuple(trial_starts) + (n_bins,))
        edges = np.array([bounds[np.argmin(np.abs(bounds - e))] for e in edges])
    if np.any(np.diff(edges) <= 0):
        raise ValueError(f"cannot cut {n_bins} bins ({1 if trial_starts is None else len(trial_starts)} trial(s)) "
                         f"into n_splits={n_blocks} non-empty blocks of whole trials; use fewer splits.")
    return edges


class BlockedKFold(BaseCrossValidator):
    """K-fold cross-validation for time series: fold ``k`` holds out the ``k``-th contiguous block of bins.

    Never shuffled. The ``n_splits`` blocks have about ``T / n_splits`` bins each; with trials their edges move to
    the nearest trial start, so that no trial is cut (the rule of :meth:`probsnn.SpikeData.folds` with
    ``by="block"``). The training rows are all the others, in order; pass ``time_index`` to the estimator so
    that its filters restart at the junction (:class:`PopulationGLM`).

    Parameters
    ----------
    n_splits : int >= 2
    trial_starts : sequence of int, optional
        Bins where the trials begin (first 0), as :attr:`probsnn.SpikeData.trial_starts`. ``split``'s ``groups``
        (the trial label of every bin, e.g. :attr:`probsnn.SpikeData.trial_index`) is the alternative.
    """

    def __init__(self, n_splits=5, trial_starts=None):
        self.n_splits = n_splits
        self.trial_starts = trial_starts

    def get_n_splits(self, X=None, y=None, groups=None):
        """The number of folds, ``n_splits``."""
        return check_int("n_splits", self.n_splits, minimum=2)

    def _iter_test_indices(self, X=None, y=None, groups=None):
        n_bins = len(X)
        n_splits = self.get_n_splits()
        starts = check_trial_starts("trial_starts", self.trial_starts, n_bins)
        if groups is not None:
            from_groups = segment_starts(n_bins, trial=np.asarray(groups))
            if starts is not None and from_groups != starts:
                raise ValueError("BlockedKFold: trial_starts and groups disagree on where the trials begin; give one.")
            starts = from_groups
        edges = _block_edges(n_bins, n_splits, starts)
        for k in range(n_splits):
            yield np.arange(edges[k], edges[k + 1])


# ------------------------------------------------------------------------------------ ridge by cross-validation
@dataclass
class RidgeCVResult:
    """Result of :func:`cross_validate_ridge`.

    Attributes
    ----------
    ridge : ndarray (G,)
        The grid of ridge precisions.
    fold_scores : ndarray (K, G, N)
        Held-out log-likelihood per bin (nats) of each fold, ridge and neuron.
    mean, standard_error : ndarray (G, N)
        Mean over the folds and its standard error, ``std(ddof=1) / sqrt(K)``.
    best_ridge : ndarray (N,)
        Per neuron, the ridge of the largest mean held-out score.
    one_se_ridge : ndarray (N,)
        Per neuron, the largest ridge whose mean lies within one standard error of the best (the 1-SE rule).
    """

    ridge: np.ndarray
    fold_scores: np.ndarray
    mean: np.ndarray
    standard_error: np.ndarray
    best_ridge: np.ndarray
    one_se_ridge: np.ndarray


def one_standard_error_choice(ridges, mean, standard_error):
    r"""The ridge of the best mean score and the one of the one-standard-error rule, per neuron.

    With :math:`g^* = \arg\max_g \bar s_g`, the 1-SE rule takes the most regularised model that is not
    distinguishable from the best: the largest ridge :math:`\lambda_g` with :math:`\bar s_g \ge \bar s_{g^*} -
    \mathrm{SE}_{g^*}` (Hastie, Tibshirani & Friedman 2009, sec. 7.10).

    Parameters
    ----------
    ridges : array_like (G,)
    mean, standard_error : array_like (G,) or (G, N)

    Returns
    -------
    best_ridge, one_se_ridge : ndarray (N,) (or floats for 1-D ``mean``)
    """
    ridges = finite_array("ridges", ridges, ndim=1)
    mean = finite_array("mean", mean)
    standard_error = finite_array("standard_error", standard_error, shape=mean.shape)
    if mean.shape[:1] != ridges.shape:
        raise ValueError(f"mean must have one row per ridge ({ridges.size}), got shape {mean.shape}.")
    one_d = mean.ndim == 1
    mean, standard_error = mean.reshape(ridges.size, -1), standard_error.reshape(ridges.size, -1)
    best = np.argmax(mean, axis=0)
    columns = np.arange(mean.shape[1])
    threshold = mean[best, columns] - standard_error[best, columns]
    within = mean >= threshold[None, :]
    one_se = np.where(within, ridges[:, None], -np.inf).max(axis=0)
    best_ridge = ridges[best]
    return (float(best_ridge[0]), float(one_se[0])) if one_d else (best_ridge, one_se)


def cross_validate_ridge(net: GLMNetwork, data: SpikeData, ridges, n_folds: int = 5, by: str = "block",
                         prior: GaussianPrior | None = None) -> RidgeCVResult:
    """K-fold cross-validation of the ridge precision of ``net``: the held-out log-likelihood per neuron.

    For every fold of ``data.folds(n_folds, by)`` (contiguous blocks or whole trials, never a cut trial; the
    training part restarts every filter at the junctions) and every ridge, ``fit_map`` on the training part
    (warm-started from the previous ridge) and the log-likelihood of the held-out part per bin of its likelihood.

    Parameters
    ----------
    net : GLMNetwork
    data : SpikeData
    ridges : sequence of float
        Ridge precisions ``>= 0`` (e.g. ``np.logspace(-1, 4, 11)``).
    n_folds : int >= 2
    by : {"block", "trial"}
        See :meth:`probsnn.SpikeData.folds`.
    prior : GaussianPrior, optional
        The other strengths (smoothing, bias precision, ``stimulus_only``); its ridge is replaced by each grid
        value.

    Returns
    -------
    RidgeCVResult
        Mean and standard error over folds per ridge and neuron, and the choices by the maximum and by the 1-SE
        rule (:func:`one_standard_error_choice`).
    """
    if not isinstance(net, GLMNetwork):
        raise TypeError(f"net must be a probsnn.GLMNetwork, got {type(net).__name__}.")
    prior = GaussianPrior() if prior is None else prior
    if not isinstance(prior, GaussianPrior):
        raise TypeError(f"prior must be a probsnn.models.GaussianPrior, got {type(prior).__name__}.")
    grid = np.array([check_float("ridges entry (a precision)", r, low=0.0) for r in np.ravel(ridges)])
    if grid.size == 0:
        raise ValueError("ridges must be a non-empty sequence of precisions >= 0, e.g. np.logspace(-1, 4, 11).")
    net.check_data(data)
    scores = []
    for train, test in data.folds(n_folds, by=by):
        design = net.design_matrix(train)
        weight = net.likelihood_weight(test)
        n_test = np.full(net.n_neurons, test.n_bins) if weight is None else weight.sum(axis=0)
        fold, fit = [], None
        for ridge in grid:  # warm-started along the grid
            fit = fit_map(net, train, prior=replace(prior, ridge=float(ridge)), design=design, progress=False,
                          init=None if fit is None else fit.params)
            fold.append(np.asarray(net.log_likelihood(fit.params, test, per="neuron")) / n_test)
        scores.append(fold)
    scores = np.asarray(scores, dtype=np.float64)
    mean = scores.mean(axis=0)
    standard_error = scores.std(axis=0, ddof=1) / np.sqrt(scores.shape[0])
    best_ridge, one_se_ridge = one_standard_error_choice(grid, mean, standard_error)
    return RidgeCVResult(ridge=grid, fold_scores=scores, mean=mean, standard_error=standard_error,
                         best_ridge=best_ridge, one_se_ridge=one_se_ridge)
