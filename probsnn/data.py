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

from ._checks import check_finite_entries, check_float, first_index, positive_scalar

__all__ = ["SpikeData", "MAX_COUNT_PER_BIN", "SPIKE_TIME_TOLERANCE"]

#: The largest spike count per bin :class:`SpikeData` accepts: ``2**24 = 16_777_216``, the largest integer from
#: which every smaller one is exactly a float32 (JAX's default precision). Recorded counts are orders of
#: magnitude below it; a larger count is an overflow (e.g. a runaway simulation) or not a spike count.
MAX_COUNT_PER_BIN = 2**24

#: Relative tolerance of :meth:`SpikeData.from_spike_times` at bin edges: a spike time that lies within
#: ``SPIKE_TIME_TOLERANCE * max(1, (|t| + |t_start|) / dt)`` bins below a bin edge counts in the bin that starts
#: at that edge, so that a decimal time on an edge (0.7 s with dt = 0.01 s, where ``0.7 / 0.01`` is
#: 69.99999999999999 in floating point) lands in the bin the decimal numbers say (70). The rounding of
#: ``(t - t_start) / dt`` in float64 is a few ulps (~1e-16 relative), far inside the tolerance, while a real spike
#: just before an edge stays in its bin: in the primate RGC recording (20 min, 8.34 ms frames) spikes lie 15 ns
#: before a frame edge (1.8e-6 of a bin), which a tolerance of 1e-9 relative (1.2 us at 20 min) would have moved.
SPIKE_TIME_TOLERANCE = 1e-12


def _is_scalar(x) -> bool:
    """True for a number (Python or NumPy scalar, 0-d array); False for a sequence or array of any length."""
    if isinstance(x, np.ndarray):
        return x.ndim == 0
    return np.isscalar(x) or not hasattr(x, "__len__")


def _check_finite(name: str, array: np.ndarray) -> None:
    check_finite_entries(name, array, "; remove or impute them before building SpikeData")


def _check_time(name: str, value) -> float:
    """A time in seconds: one finite number (NaN, inf and arrays refused)."""
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be one finite number (seconds), got an array of shape {np.shape(value)}.")
    return check_float(f"{name} (seconds)", value)


@dataclass(frozen=True)
class SpikeData:
    """Binned spike counts ``[T, N]`` (time-major), bin width, and optional stimulus ``[T, D]``.

    Parameters
    ----------
    counts : array_like, shape (T, N) or (T,)
        Spike counts per bin; non-negative integers up to :data:`MAX_COUNT_PER_BIN` (``2**24``). Floats that
        are whole numbers are accepted, and so is a bool raster (True/False as 1/0 spikes).
        A 1-D array is one neuron.
    dt : float
        Bin width in seconds, a positive scalar.
    stimulus : array_like, shape (T, D) or (T,), optional
        Stimulus or covariates aligned with the bins (row ``t`` is the stimulus in bin ``t``).
    neuron_names : sequence of str, optional
        One name per neuron; defaults to ``"n0", "n1", ...``.
    t_start : float
        Time of the left edge of bin 0 in seconds (finite).

    Raises
    ------
    ValueError
        On non-finite, negative, non-integer or too large (above ``MAX_COUNT_PER_BIN``) counts, a ``dt``
        that is not a positive scalar, a non-finite ``t_start``, a stimulus whose length differs from the
        counts, or a wrong number of names.
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
        if counts.dtype == np.bool_:
            counts = counts.astype(np.int64)  # a spike raster: True is one spike
        if not np.issubdtype(counts.dtype, np.number) or np.issubdtype(counts.dtype, np.complexfloating):
            raise ValueError(f"counts must be real numbers (or a bool spike raster), got dtype {counts.dtype}.")
        _check_finite("counts", counts)
        negative = counts < 0
        if negative.any():
            t, n = first_index(negative)
            raise ValueError(f"counts must be >= 0; found {counts[t, n]} at bin {t}, neuron {n}.")
        fractional = counts != np.round(counts)
        if fractional.any():
            t, n = first_index(fractional)
            raise ValueError(f"counts must be whole numbers; found {counts[t, n]} at bin {t}, neuron {n}.")
        too_large = counts > MAX_COUNT_PER_BIN
        if too_large.any():
            t, n = first_index(too_large)
            raise ValueError(
                f"counts must be at most MAX_COUNT_PER_BIN = 2**24 = {MAX_COUNT_PER_BIN} spikes per bin; found "
                f"{counts[t, n]} at bin {t}, neuron {n}. Such a count is an overflow (e.g. the output of an "
                "explosive, runaway network simulation), not a recording."
            )
        counts = counts.astype(np.float64) if np.issubdtype(counts.dtype, np.floating) else counts.astype(np.int64)

        dt = positive_scalar("dt (bin width in seconds)", self.dt)
        t_start = _check_time("t_start", self.t_start)

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
        object.__setattr__(self, "t_start", t_start)

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
        is ``round((t_stop - t_start) / dt)``, which must tile the interval to within 1e-9 of a bin. A spike's
        bin is ``floor((t - t_start) / dt)`` computed robustly to rounding: a time within
        :data:`SPIKE_TIME_TOLERANCE` (relative, 1e-12) below an edge counts in the bin that starts there, so a
        decimal time on an edge lands where exact decimal arithmetic puts it (0.7 s, ``dt = 0.01``: bin 70).

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
        dt = positive_scalar("dt (bin width in seconds)", dt)
        t_start, t_stop = _check_time("t_start", t_start), _check_time("t_stop", t_stop)
        if t_stop <= t_start:
            raise ValueError(f"need t_start < t_stop, got t_start={t_start!r}, t_stop={t_stop!r}.")
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
            # bin k = [t_start + k dt, t_start + (k+1) dt); the tolerance absorbs the rounding of t / dt
            position = (train - t_start) / dt
            tolerance = SPIKE_TIME_TOLERANCE * np.maximum(1.0, (np.abs(train) + abs(t_start)) / dt)
            bins = np.floor(position + tolerance).astype(np.int64)
            counts[:, neuron] = np.bincount(np.clip(bins, 0, n_bins - 1), minlength=n_bins)
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
            t, n = first_index(multi)
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
