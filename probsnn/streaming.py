r"""Streaming next-step prediction with a latent GLM network trained online by the three-factor rule.

A scalar stream :math:`y_1, y_2, \dots` is quantised into ``C`` bins; bin :math:`c_t` is the one-hot spike
pattern :math:`x_t` of ``C`` visible neurons, which are clamped to it. Before :math:`y_t` arrives, the
network (visible + latent neurons, :class:`~probsnn.GLMNetwork`) gives the predictive
probability of every bin: conditioned on exactly one visible spike, independent Bernoulli neurons give

.. math:: P(c_t = c \mid \text{past}) = \frac{1}{K}\sum_{k=1}^K \mathrm{softmax}_c\big(u^{(k)}_{c,t}/\tau\big),

averaged over the ``K`` latent samples of the learner. Then :math:`x_t` is observed and the learner
(:class:`~probsnn.inference.three_factor.ThreeFactorVI`) makes one local update. Memory is constant in the
stream length. :meth:`StreamingPredictor.save` / :meth:`StreamingPredictor.load` checkpoint everything
(parameters, optimiser, eligibility traces, recurrent state, step count, random key), so an interrupted
run resumes and produces exactly the same predictions as an uninterrupted one. A checkpoint is data only
(a NumPy ``.npz`` archive read with ``allow_pickle=False``, with a SHA-256 checksum): loading one never
executes code.

Sources: any iterable of numbers, a NumPy array, or a CSV column (:func:`read_csv_column`). The CLI
sub-command ``probsnn stream`` wraps :meth:`StreamingPredictor.run`.
"""
from __future__ import annotations

import csv
import math
from functools import partial
from pathlib import Path
from typing import Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import basis as basis_module
from ._checks import check_float, check_int, non_negative_int, positive_float, positive_int
from .checkpoint import load_checkpoint, save_checkpoint
from .inference.three_factor import ThreeFactorVI
from .neurons.glm import GLMNetwork

__all__ = ["StreamingPredictor", "Prediction", "read_csv_column", "iterate_source", "persistence_log_loss"]

_CHECKPOINT_KIND = "StreamingPredictor"  # file layout: probsnn.checkpoint (format version 2, as in earlier releases)
_KEY_SPEC = jax.ShapeDtypeStruct((2,), np.uint32)  # the key of every predictor: jax.random.PRNGKey(seed)
_TREES = ("params", "opt_state", "state")  # the learner-state pytrees of a checkpoint, in order
_CONFIG_KEYS = ("baseline", "edges", "init_scale", "kappa", "learning_rate", "n_basis", "n_latent", "n_samples",
                "seed", "window")


class Prediction(NamedTuple):
    """One step of a stream: the predictive distribution made *before* ``value`` was seen, and its log-loss."""

    step: int
    value: float
    bin: int
    probabilities: np.ndarray
    log_loss: float


def read_csv_column(path, column) -> np.ndarray:
    """The numbers of one CSV column (by header name, or 0-based index when an int); raises on bad cells."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such CSV file")
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"{path} is empty.")
    header = rows[0]
    if isinstance(column, str) and not column.lstrip("-").isdigit():
        if column not in header:
            raise ValueError(f"column {column!r} not in the CSV header {header}.")
        index, body = header.index(column), rows[1:]
    else:
        index = int(column)
        try:  # a header row is skipped when its cell in this column is not a number
            float(header[index])
            body = rows
        except ValueError:
            body = rows[1:]
        except IndexError:
            raise ValueError(f"column index {index} out of range for {len(header)} columns.") from None
    values = []
    for line, row in enumerate(body, start=2 if body is not rows else 1):
        try:
            values.append(float(row[index]))
        except (ValueError, IndexError):
            raise ValueError(f"{path}: line {line}: column {column!r} is not a number ({row!r}).") from None
    return np.asarray(values)


def iterate_source(source) -> Iterator[float]:
    """Numbers from a NumPy array (1-D), a CSV path given as ``(path, column)``, or any iterable."""
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], (str, Path)):
        source = read_csv_column(*source)
    if isinstance(source, np.ndarray):
        if source.ndim != 1:
            raise ValueError(f"a stream array must be 1-D, got shape {source.shape}.")
    for value in source:
        yield float(value)


class StreamingPredictor:
    """Online next-step predictor of a quantised scalar stream (visible one-hot bins + latent neurons).

    Parameters
    ----------
    edges : array_like
        Increasing inner bin edges: ``C = len(edges) + 1`` bins, ``bin = searchsorted(edges, y, side="right")``.
    n_latent : int
        Latent neurons (>= 0).
    window, n_basis : int
        History kernels: ``n_basis`` log raised cosines over ``window`` bins (both >= 1).
    learning_rate : float
        Adam step size (finite, > 0): the optimiser is ``optax.adam(learning_rate)``.
    kappa, n_samples, baseline : see :class:`~probsnn.inference.three_factor.ThreeFactorVI`
        ``kappa`` in ``[0, 1)``, ``n_samples >= 1``, ``baseline`` a bool.
    init_scale : float
        Standard deviation of the initial weights (finite, >= 0).
    seed : int

    Raises
    ------
    ValueError
        For an invalid argument, naming it and the value given (checked before any compiled code runs).

    Notes
    -----
    A checkpoint (:meth:`save`) holds, as plain arrays in a NumPy ``.npz`` archive: the leaves of the
    parameters, of the Adam state and of the learner state (recurrent spike history, eligibility traces,
    learning signal, baseline statistics), the random key data, the step count ``n_steps``, the configuration
    above as a JSON string, a format version and a SHA-256 checksum of all of them.
    """

    def __init__(self, edges, n_latent: int = 8, window: int = 6, n_basis: int = 3, learning_rate: float = 0.01,
                 kappa: float = 0.5, n_samples: int = 4, baseline: bool = True, init_scale: float = 0.1, seed: int = 0):
        try:
            edges = np.asarray(edges, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"edges must be a 1-D array of numbers, got {edges!r}.") from None
        if edges.ndim != 1 or edges.size < 1 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
            raise ValueError("edges must be a 1-D, finite, strictly increasing array with at least one edge.")
        if not isinstance(baseline, (bool, np.bool_)):
            raise ValueError(f"baseline must be True or False, got {baseline!r}.")
        self.config = dict(edges=edges.tolist(), n_latent=non_negative_int("n_latent", n_latent),
                           window=positive_int("window", window), n_basis=positive_int("n_basis", n_basis),
                           learning_rate=positive_float("learning_rate", learning_rate),
                           kappa=check_float("kappa", kappa, 0.0, 1.0, high_open=True),
                           n_samples=positive_int("n_samples", n_samples), baseline=bool(baseline),
                           init_scale=check_float("init_scale", init_scale, low=0.0),
                           seed=check_int("seed", seed, minimum=None))
        self.edges = edges
        self.n_bins = edges.size + 1
        self.net, self.learner = _network_and_learner(self._signature)
        key = jax.random.PRNGKey(self.config["seed"])
        init_key, self.key = jax.random.split(key)
        self.params = self.net.init_params(init_key, scale=self.config["init_scale"],
                                           bias=-math.log(self.n_bins - 1.0))
        self.opt_state, self.state = self.learner.init(self.params)
        self.n_steps = 0

    @classmethod
    def with_quantile_bins(cls, values, n_bins: int, **kwargs) -> "StreamingPredictor":
        """Bins with equal counts on ``values`` (e.g. a warm-up segment of the stream).

        ``values`` must be a non-empty 1-D array of finite numbers; a NaN or inf is reported with its position.
        """
        try:
            values = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"the warm-up values must be numbers, got {type(values).__name__}.") from None
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"the warm-up values must be a non-empty 1-D sequence, got shape {values.shape}.")
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            what = "NaN" if np.isnan(values[i]) else f"{values[i]} (not finite)"
            raise ValueError(f"the warm-up values contain {what} at position {i} "
                             f"({bad.size} non-finite in all); drop or impute them before choosing the bins.")
        n_bins = check_int("n_bins", n_bins, minimum=2)
        edges = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1]))
        return cls(edges, **kwargs)

    def bin_of(self, value: float) -> int:
        return int(np.searchsorted(self.edges, value, side="right"))

    @property
    def _signature(self) -> tuple:
        """The configuration that fixes the compiled program (the seed and initial scale only change values)."""
        return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(self.config.items())
                     if k not in ("seed", "init_scale"))

    def update(self, value: float) -> Prediction:
        """Predict the bin of ``value`` from the past, then learn from it; returns the :class:`Prediction`."""
        value = check_float(f"stream value at step {self.n_steps}", value,
                            fix=" Pass one finite number per call; drop or impute NaN/inf/missing values first.")
        c = self.bin_of(value)
        visible = jnp.zeros(self.n_bins, self.params.bias.dtype).at[c].set(1.0)
        key = jax.random.fold_in(self.key, self.n_steps)
        params, opt_state, state, probs = _predict_and_learn(
            self._signature, self.params, self.opt_state, self.state, visible, key
        )
        probs = np.asarray(probs)
        pred = Prediction(self.n_steps, float(value), c, probs, float(-np.log(max(probs[c], 1e-300))))
        self.params, self.opt_state, self.state, self.n_steps = params, opt_state, state, self.n_steps + 1
        return pred

    def snapshot(self) -> tuple:
        """The learner state now, as immutable references (cheap): :meth:`restore` goes back to it."""
        return (self.params, self.opt_state, self.state, self.key, self.n_steps)

    def restore(self, snapshot: tuple) -> None:
        """Go back to a :meth:`snapshot` (e.g. the last complete step when an update was interrupted)."""
        self.params, self.opt_state, self.state, self.key, self.n_steps = snapshot

    def run(self, source, checkpoint=None, checkpoint_every: int | None = None, skip_consumed: bool = True
            ) -> Iterator[Prediction]:
        """Yield a :class:`Prediction` per value of ``source``.

        Parameters
        ----------
        source : array_like, iterable or ``(csv_path, column)``
            The stream (see :func:`iterate_source`).
        checkpoint : path, optional
            Where to :meth:`save` the state: every ``checkpoint_every`` steps (after the consumer took the
            prediction of the step) and at the end of the source.
        checkpoint_every : int, optional
            Steps between checkpoints (>= 1); None: only at the end.
        skip_consumed : bool
            When resuming (``n_steps > 0``), skip the first ``n_steps`` values of the source (they were learned
            before the checkpoint).
        """
        if checkpoint_every is not None:
            checkpoint_every = positive_int("checkpoint_every", checkpoint_every)
        start = self.n_steps if skip_consumed else 0
        for index, value in enumerate(iterate_source(source)):
            if index < start:
                continue
            yield self.update(value)
            if checkpoint is not None and checkpoint_every and self.n_steps % checkpoint_every == 0:
                self.save(checkpoint)
        if checkpoint is not None:
            self.save(checkpoint)

    # ------------------------------------------------------------------ checkpoints
    def save(self, path) -> Path:
        """Write everything needed to resume, as a data-only NumPy ``.npz`` archive (:func:`probsnn.save_checkpoint`).

        The write is atomic (a temporary file next to ``path`` is renamed into place), so an interrupted save
        leaves the previous checkpoint intact. ``path`` is used as given (no ``.npz`` suffix is added).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
            ``path``.

        Notes
        -----
        A checkpoint of kind ``"StreamingPredictor"`` (layout: :mod:`probsnn.checkpoint`): ``config`` holds the
        constructor arguments, ``n_steps`` the steps learned, ``key`` the PRNG key data, and the trees
        ``params``, ``opt_state`` and ``state``.
        """
        trees = {name: getattr(self, name) for name in _TREES}
        return save_checkpoint(path, _CHECKPOINT_KIND, self.config, trees, key=self.key, step=self.n_steps)

    @classmethod
    def load(cls, path) -> "StreamingPredictor":
        """Rebuild a predictor from :meth:`save`; it continues exactly where it stopped.

        The file is read with ``np.load(path, allow_pickle=False)`` (no code runs). The trees are rebuilt on the
        structure of a freshly initialised predictor of the saved configuration; the number, paths, shapes and
        dtypes of the leaves must match it.

        Raises
        ------
        FileNotFoundError
            When ``path`` does not exist.
        ValueError
            When the file is truncated or corrupted (bad CRC or checksum), not a probsnn streaming checkpoint
            (any other ``.npz``, text, a version-1 checkpoint, a checkpoint of another learner), of another format
            version, or inconsistent with its configuration; the message names the file and the problem.
        """
        path = Path(path)
        fresh = []

        def like(config, step):
            if sorted(config) != sorted(_CONFIG_KEYS):
                raise ValueError(f"{path}: the config entry must hold the keys {list(_CONFIG_KEYS)}.")
            try:
                fresh.append(cls(**config))
            except (TypeError, ValueError) as err:
                raise ValueError(f"{path}: invalid configuration: {err}") from None
            return {name: getattr(fresh[0], name) for name in _TREES}

        _, trees, key, n_steps = load_checkpoint(path, _CHECKPOINT_KIND, like, key_like=_KEY_SPEC)
        self = fresh[0]
        self.params, self.opt_state, self.state = (trees[name] for name in _TREES)
        self.key, self.n_steps = key, n_steps
        return self


def _network_and_learner(signature: tuple):
    """The visible (one-hot bins) + latent network and its three-factor learner for a configuration."""
    config = dict(signature)
    history = basis_module.raised_cosine_log(config["n_basis"], config["window"])
    net = GLMNetwork(len(config["edges"]) + 1, config["n_latent"], history_basis=history, observation="bernoulli")
    learner = ThreeFactorVI(net, optimizer=optax.adam(config["learning_rate"]), kappa=config["kappa"],
                            n_samples=config["n_samples"], baseline=config["baseline"])
    return net, learner


@partial(jax.jit, static_argnums=0)
def _predict_and_learn(signature, params, opt_state, state, visible, key):
    """One step: the predictive distribution over the bins from the past, then the three-factor update.

    Compiled once per configuration ``signature`` (a static argument, so JAX's own cache reuses it across
    predictors of the same configuration)."""
    net, learner = _network_and_learner(signature)

    def predictive(net_state):
        stimulus_trace, spike_trace, _ = net.traces(net_state, jnp.zeros((0,), visible.dtype))
        u = net.potential_from_traces(params, stimulus_trace, spike_trace)
        return jax.nn.softmax(u[: net.n_visible] / net.observation.temperature)

    probs = jnp.mean(jax.vmap(predictive)(state.net_state), axis=0)
    params, opt_state, state, _ = learner.update(params, opt_state, state, jnp.zeros((0,), visible.dtype), visible, key)
    return params, opt_state, state, probs


def persistence_log_loss(bins: np.ndarray, n_bins: int, prior_count: float = 1.0) -> np.ndarray:
    """Log-loss of the probabilistic persistence forecast, step by step.

    The forecast puts probability ``p`` on the last bin and ``(1 - p) / (C - 1)`` on each other bin, with ``p``
    the running (Laplace-smoothed) frequency with which the bin stayed the same so far: the best forecast of
    this form that uses only the past. Step 0 is uniform.
    """
    bins = np.asarray(bins, dtype=int)
    out = np.empty(bins.size)
    stays, moves = prior_count, prior_count
    out[0] = math.log(n_bins)
    for t in range(1, bins.size):
        p = stays / (stays + moves)
        same = bins[t] == bins[t - 1]
        out[t] = -math.log(p if same else (1 - p) / (n_bins - 1))
        stays, moves = stays + same, moves + (not same)
    return out
