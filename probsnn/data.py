"""Spike data: a validated, time-major container of binned spike counts and covariates.

Everything in probsnn that consumes recorded spikes takes a :class:`SpikeData`. Its constructor is the
public boundary where input is checked: NaN/inf, negative or non-integer counts, mismatched lengths,
unsorted or out-of-range spike times all raise :class:`ValueError` saying what is wrong and where.
Nothing is clipped or dropped silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ._checks import check_float, positive_float

__all__ = ["SpikeData"]


def _first_bad_index(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _is_scalar(x) -> bool:
    """True for a number (Python or NumPy scalar, 0-d array); False for a sequence or array of any length."""
    if isinstance(x, np.ndarray):
        return x.ndim == 0
    return np.isscalar(x) or not hasattr(x, "__len__")


def _check_finite(name: str, array: np.ndarray) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or inf), the first at index "
            f"{_first_bad_index(bad)}; remove or impute them before building SpikeData."
        )


@dataclass(frozen=True)
class SpikeData:
    """Binned spike counts ``[T, N]`` (time-major), bin width, and optional stimulus ``[T, D]``.

    Parameters
    ----------
    counts : array_like, shape (T, N) or (T,)
        Spike counts per bin; non-negative integers (floats that are whole numbers are accepted).
        A 1-D array is one neuron.
    dt : float
        Bin width in seconds.
    stimulus : array_like, shape (T, D) or (T,), optional
        Stimulus or covariates aligned with the bins (row ``t`` is the stimulus in bin ``t``).
    neuron_names : sequence of str, optional
        One name per neuron; defaults to ``"n0", "n1", ...``.
    t_start : float
        Time of the left edge of bin 0 in seconds.

    Raises
    ------
    ValueError
        On non-finite, negative or non-integer counts, a non-positive ``dt``, a stimulus whose length
        differs from the counts, or a wrong number of names.
    """

    counts: np.ndarray
    dt: float
    stimulus: np.ndarray | None = None
    neuron_names: tuple[str, ...] = field(default=())
    t_start: float = 0.0

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts)
        if counts.ndim == 1:
            counts = counts[:, None]
        if counts.ndim != 2:
            raise ValueError(f"counts must have shape (T, N) (time-major), got shape {counts.shape}.")
        if counts.shape[0] == 0 or counts.shape[1] == 0:
            raise ValueError(f"counts must have at least one bin and one neuron, got shape {counts.shape}.")
        if not np.issubdtype(counts.dtype, np.number) or np.issubdtype(counts.dtype, np.complexfloating):
            raise ValueError(f"counts must be real numbers, got dtype {counts.dtype}.")
        _check_finite("counts", counts)
        negative = counts < 0
        if negative.any():
            t, n = _first_bad_index(negative)
            raise ValueError(f"counts must be >= 0; found {counts[t, n]} at bin {t}, neuron {n}.")
        fractional = counts != np.round(counts)
        if fractional.any():
            t, n = _first_bad_index(fractional)
            raise ValueError(f"counts must be whole numbers; found {counts[t, n]} at bin {t}, neuron {n}.")
        counts = counts.astype(np.float64) if np.issubdtype(counts.dtype, np.floating) else counts.astype(np.int64)

        dt = positive_float("dt (bin width in seconds)", self.dt)

        stimulus = self.stimulus
        if stimulus is not None:
            stimulus = np.asarray(stimulus, dtype=np.float64)
            if stimulus.ndim == 1:
                stimulus = stimulus[:, None]
            if stimulus.ndim != 2:
                raise ValueError(f"stimulus must have shape (T, D), got shape {stimulus.shape}.")
            if stimulus.shape[0] != counts.shape[0]:
                raise ValueError(
                    f"stimulus has {stimulus.shape[0]} bins but counts have {counts.shape[0]}; "
                    "they must be aligned bin by bin."
                )
            _check_finite("stimulus", stimulus)

        names = tuple(self.neuron_names) if self.neuron_names else tuple(f"n{i}" for i in range(counts.shape[1]))
        if len(names) != counts.shape[1]:
            raise ValueError(f"got {len(names)} neuron names for {counts.shape[1]} neurons.")
        if len(set(names)) != len(names):
            raise ValueError(f"neuron names must be unique, got {names}.")

        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "dt", dt)
        object.__setattr__(self, "stimulus", stimulus)
        object.__setattr__(self, "neuron_names", names)
        object.__setattr__(self, "t_start", float(self.t_start))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_spike_times(
        cls,
        spike_times: Sequence[Sequence[float]] | np.ndarray,
        dt: float,
        t_start: float,
        t_stop: float,
        stimulus: np.ndarray | None = None,
        neuron_names: Sequence[str] | None = None,
    ) -> "SpikeData":
        """Bin spike times (seconds) into counts on the grid ``t_start + k * dt``.

        Bin ``k`` is the half-open interval ``[t_start + k dt, t_start + (k + 1) dt)``; the number of bins
        is ``round((t_stop - t_start) / dt)``, which must tile the interval to within 1e-9 of a bin.

        Parameters
        ----------
        spike_times : sequence of 1-D arrays, or a flat sequence of numbers
            One sorted array (or list) of spike times (seconds) per neuron, e.g. ``[[0.1, 0.5], [0.2]]`` for
            two neurons. A single 1-D array or a flat list of numbers, e.g. ``[0.1, 0.5, 0.7]``, is one
            neuron's spike times.
        dt : float
            Bin width in seconds.
        t_start, t_stop : float
            Recording interval; every spike must satisfy ``t_start <= t < t_stop``.
        stimulus : array_like, shape (T, D), optional
            Stimulus already sampled on the same bins.
        neuron_names : sequence of str, optional

        Raises
        ------
        ValueError
            If spike times are non-finite, unsorted, or outside ``[t_start, t_stop)``, or the interval is
            not a whole number of bins.
        """
        dt = positive_float("dt (bin width in seconds)", dt)
        if not (np.isfinite(t_start) and np.isfinite(t_stop)) or t_stop <= t_start:
            raise ValueError(f"need finite t_start < t_stop, got t_start={t_start!r}, t_stop={t_stop!r}.")
        n_bins_float = (t_stop - t_start) / dt
        n_bins = int(round(n_bins_float))
        if n_bins < 1 or abs(n_bins_float - n_bins) > 1e-9 * max(1.0, n_bins_float):
            raise ValueError(
                f"(t_stop - t_start) / dt = {n_bins_float:.6f} is not a whole number of bins; "
                "choose t_stop = t_start + n * dt."
            )
        if isinstance(spike_times, np.ndarray) and spike_times.dtype != object and spike_times.ndim == 1:
            spike_times = [spike_times]
        elif _is_scalar(spike_times):
            raise ValueError(
                f"spike_times must be a list of spike times (one neuron) or a list of lists (one per neuron), "
                f"got {spike_times!r}."
            )
        else:
            spike_times = list(spike_times)
            is_scalar = [_is_scalar(train) for train in spike_times]
            if spike_times and all(is_scalar):
                spike_times = [np.asarray(spike_times, dtype=np.float64)]  # a flat list of numbers: one neuron
            elif any(is_scalar):
                raise ValueError(
                    "spike_times mixes numbers and sequences: give a flat list of numbers for one neuron, "
                    "or a list of lists (one list of spike times per neuron)."
                )
        trains = [np.asarray(train, dtype=np.float64).ravel() for train in spike_times]
        if not trains:
            raise ValueError("spike_times is empty: give one array of spike times per neuron.")
        counts = np.zeros((n_bins, len(trains)), dtype=np.int64)
        edges = t_start + np.arange(n_bins + 1) * dt
        for neuron, train in enumerate(trains):
            if train.size == 0:
                continue
            _check_finite(f"spike_times[{neuron}]", train)
            if np.any(np.diff(train) < 0):
                k = int(np.argmax(np.diff(train) < 0))
                raise ValueError(
                    f"spike_times[{neuron}] is not sorted: spike {k + 1} ({train[k + 1]}) comes before "
                    f"spike {k} ({train[k]}). Sort each neuron's spike times."
                )
            outside = (train < t_start) | (train >= t_stop)
            if outside.any():
                k = int(np.argmax(outside))
                raise ValueError(
                    f"spike_times[{neuron}][{k}] = {train[k]} lies outside the recording interval "
                    f"[{t_start}, {t_stop}); widen the interval or remove the spike explicitly."
                )
            # bin k = [edges[k], edges[k+1]), the convention of np.histogram with these edges
            bins = np.searchsorted(edges, train, side="right") - 1
            counts[:, neuron] = np.bincount(np.minimum(bins, n_bins - 1), minlength=n_bins)
        return cls(counts=counts, dt=dt, stimulus=stimulus, neuron_names=tuple(neuron_names or ()), t_start=t_start)

    # ------------------------------------------------------------------ properties
    @property
    def n_bins(self) -> int:
        return int(self.counts.shape[0])

    @property
    def n_neurons(self) -> int:
        return int(self.counts.shape[1])

    @property
    def n_stimulus_dims(self) -> int:
        return 0 if self.stimulus is None else int(self.stimulus.shape[1])

    @property
    def duration(self) -> float:
        """Length of the recording in seconds."""
        return self.n_bins * self.dt

    @property
    def n_spikes(self) -> np.ndarray:
        """Spike count per neuron, shape ``(N,)``."""
        return self.counts.sum(axis=0)

    @property
    def mean_rates(self) -> np.ndarray:
        """Mean firing rate per neuron in Hz."""
        return self.n_spikes / self.duration

    @property
    def is_binary(self) -> bool:
        return bool(self.counts.max() <= 1)

    def check_binary(self) -> None:
        """Raise if any bin holds more than one spike (a Bernoulli model needs 0/1 counts)."""
        multi = self.counts > 1
        if multi.any():
            t, n = _first_bad_index(multi)
            raise ValueError(
                f"a Bernoulli observation model needs binary spikes, but bin {t} of neuron "
                f"{self.neuron_names[n]!r} holds {self.counts[t, n]} spikes ({int(multi.sum())} such bins). "
                "Use a smaller dt, or observation='poisson'."
            )

    # ------------------------------------------------------------------ slicing
    def time_slice(self, start: int, stop: int) -> "SpikeData":
        """Bins ``start:stop`` as a new SpikeData (``t_start`` shifted accordingly)."""
        if not (0 <= start < stop <= self.n_bins):
            raise ValueError(f"need 0 <= start < stop <= {self.n_bins}, got start={start}, stop={stop}.")
        return SpikeData(
            counts=self.counts[start:stop],
            dt=self.dt,
            stimulus=None if self.stimulus is None else self.stimulus[start:stop],
            neuron_names=self.neuron_names,
            t_start=self.t_start + start * self.dt,
        )

    def split(self, train_fraction: float = 0.8) -> tuple["SpikeData", "SpikeData"]:
        """Split by time: the first ``train_fraction`` of bins for training, the rest held out."""
        train_fraction = check_float("train_fraction", train_fraction, 0.0, 1.0, low_open=True, high_open=True)
        cut = int(round(self.n_bins * train_fraction))
        if cut < 1 or cut >= self.n_bins:
            raise ValueError(f"train_fraction={train_fraction} leaves an empty part of {self.n_bins} bins.")
        return self.time_slice(0, cut), self.time_slice(cut, self.n_bins)

    def __repr__(self) -> str:
        stim = f", stimulus dims={self.n_stimulus_dims}" if self.stimulus is not None else ""
        return (
            f"SpikeData(T={self.n_bins} bins of {self.dt * 1e3:g} ms, N={self.n_neurons} "
            f"{list(self.neuron_names)}, spikes={self.n_spikes.tolist()}{stim})"
        )
