"""Spike data: a validated, time-major container of binned spike counts and covariates.

Everything in probsnn that consumes recorded spikes takes a :class:`SpikeData`. Its constructor is the
public boundary where input is checked: NaN/inf, negative or non-integer counts, mismatched lengths,
unsorted or out-of-range spike times all raise :class:`ValueError` saying what is wrong and where.
Nothing is clipped or dropped silently.

A recording may be made of **trials** (contiguous segments, e.g. the stimulus presentations of an
experiment, concatenated bin by bin: ``trial_starts``) and its units may be recorded in only part of it
(``observed``, a ``[T, N]`` mask of the bins where each unit was recorded). Models restart every filter at a
trial start (no history reaches across a boundary) and leave unobserved bins out of the likelihood; the
splits and cross-validation folds here (:meth:`SpikeData.split`, :meth:`SpikeData.folds`) never cut a trial.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from ._checks import (
    check_finite_entries,
    check_float,
    check_int,
    check_trial_starts,
    first_index,
    one_of,
    positive_scalar,
)

__all__ = ["SpikeData", "ContinuousData", "MAX_COUNT_PER_BIN", "SPIKE_TIME_TOLERANCE"]

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


def _whole_bins(span: float, dt: float, what: str, fix: str) -> int:
    """``span / dt`` as an int when it is a whole number of bins (to 1e-9 of a bin), else a ValueError."""
    n_float = span / dt
    n = int(round(n_float))
    if n < 1 or abs(n_float - n) > 1e-9 * max(1.0, n_float):
        raise ValueError(f"{what} / dt = {n_float:.6f} is not a whole number of bins; {fix}.")
    return n


def _bin_of(train: np.ndarray, start: float, dt: float) -> np.ndarray:
    """Bin ``floor((t - start) / dt)`` of each spike, robust to rounding (see :data:`SPIKE_TIME_TOLERANCE`)."""
    position = (train - start) / dt
    tolerance = SPIKE_TIME_TOLERANCE * np.maximum(1.0, (np.abs(train) + abs(start)) / dt)
    return np.floor(position + tolerance).astype(np.int64)


def _check_intervals(name: str, intervals, example: str) -> np.ndarray:
    """``intervals`` as a ``(K, 2)`` float array of sorted, non-overlapping ``(start, stop)`` pairs (seconds)."""
    try:
        pairs = np.asarray(intervals, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of (start, stop) pairs in seconds, e.g. {example}; "
                         f"got {intervals!r}.") from None
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty sequence of (start, stop) pairs in seconds, e.g. {example}; "
                         f"got an array of shape {pairs.shape}.")
    _check_finite(name, pairs)
    empty = pairs[:, 1] <= pairs[:, 0]
    if empty.any():
        k = int(np.argmax(empty))
        raise ValueError(f"{name}[{k}] = ({pairs[k, 0]}, {pairs[k, 1]}) has stop <= start; each interval needs "
                         "start < stop.")
    overlap = pairs[1:, 0] < pairs[:-1, 1]
    if overlap.any():
        k = int(np.argmax(overlap))
        raise ValueError(f"{name} must be sorted and non-overlapping: {name}[{k + 1}] starts at {pairs[k + 1, 0]}, "
                         f"before {name}[{k}] ends at {pairs[k, 1]}. Sort the intervals and merge overlapping ones.")
    return pairs


def _check_observed(observed, counts: np.ndarray) -> np.ndarray | None:
    """``observed`` as a bool ``(T, N)`` array (None when every bin is observed)."""
    if observed is None:
        return None
    mask = np.asarray(observed)
    if mask.ndim == 1 and counts.shape[1] == 1:
        mask = mask[:, None]
    if mask.shape != counts.shape:
        raise ValueError(f"observed must have the shape of counts, {counts.shape} (bins, neurons), got "
                         f"{mask.shape}.")
    if mask.dtype != np.bool_:
        numeric = np.issubdtype(mask.dtype, np.number) and not np.iscomplexobj(mask)
        if not numeric or not np.all((mask == 0) | (mask == 1)):
            raise ValueError(f"observed must be a bool mask (True where the unit was recorded), got dtype "
                             f"{mask.dtype}" + (" with values other than 0 and 1." if numeric else "."))
        mask = mask.astype(bool)
    spikes_unobserved = ~mask & (counts != 0)
    if spikes_unobserved.any():
        t, n = first_index(spikes_unobserved)
        raise ValueError(
            f"counts must be 0 where observed is False (the unit was not recorded there, so its bins hold no "
            f"counts); found {counts[t, n]} spike(s) at bin {t}, neuron {n} ({int(spikes_unobserved.sum())} such "
            "bins). Mark those bins observed, or remove the spikes."
        )
    return None if mask.all() else mask.copy()


@dataclass(frozen=True)
class SpikeData:
    """Binned spike counts ``[T, N]`` (time-major), bin width, and optional stimulus ``[T, D]``; optionally made of
    trials and with units recorded in part of the bins only.

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
    trial_starts : sequence of int, optional
        Bin index where each trial (a contiguous segment: the bins of the trials are concatenated) begins:
        the first is 0, they increase strictly, and all are below ``T``. Stored as a tuple of ints; ``None``
        (and ``[0]``) is one trial. Every model restarts its filters at a trial start: no spike history or
        stimulus filter reaches across a boundary.
    observed : array_like of bool, shape (T, N), optional
        True where the unit was recorded. A unit present in part of the session only is masked in the other
        bins, not zero-filled: those bins leave the likelihood. Counts there must be 0. ``None`` (and an
        all-True mask, stored as ``None``) is every bin observed.

    Raises
    ------
    ValueError
        On non-finite, negative, non-integer or too large (above ``MAX_COUNT_PER_BIN``) counts, a ``dt``
        that is not a positive scalar, a non-finite ``t_start``, a stimulus whose length differs from the
        counts, a wrong number of names, ``trial_starts`` that do not start at 0, do not increase or reach past
        the data, or an ``observed`` mask of the wrong shape or with spikes in unobserved bins.
    """

    counts: np.ndarray
    dt: float
    stimulus: np.ndarray | None = None
    neuron_names: tuple[str, ...] = field(default=())
    t_start: float = 0.0
    trial_starts: tuple[int, ...] | None = None
    observed: np.ndarray | None = None

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
        counts = self._check_values(counts)

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
        object.__setattr__(self, "trial_starts", check_trial_starts("trial_starts", self.trial_starts, counts.shape[0]))
        object.__setattr__(self, "observed", _check_observed(self.observed, counts))

    @staticmethod
    def _check_values(counts: np.ndarray) -> np.ndarray:
        """Spike counts: whole numbers in ``[0, MAX_COUNT_PER_BIN]``, stored as int64 (float64 when given as
        floats). :class:`ContinuousData` overrides this to accept any finite real value."""
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
        return counts.astype(np.float64) if np.issubdtype(counts.dtype, np.floating) else counts.astype(np.int64)

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
        trials: Sequence[tuple[float, float]] | None = None,
        unit_intervals: Sequence[Sequence[tuple[float, float]] | None] | None = None,
    ) -> "SpikeData":
        """Bin spike times (seconds) into counts on the grid ``t_start + k * dt`` (or on each trial's grid).

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
            Stimulus already sampled on the same bins (with ``trials``: on the concatenated bins of the trials).
        neuron_names : sequence of str, optional
        trials : sequence of (start, stop) pairs in seconds, optional
            The trials: sorted, non-overlapping, each a whole number of bins long and inside
            ``[t_start, t_stop]``. Trial ``k`` is binned on its own grid ``start_k + j dt``; the counts are the
            concatenation of the binned trials and ``trial_starts`` marks where each begins. The gaps between
            trials are not part of the data: spikes there are not binned. ``t_start`` of the result is the
            start of the first trial.
        unit_intervals : sequence (one entry per neuron) of lists of (start, stop) pairs in seconds, optional
            The intervals in which each unit was recorded (``None`` for a unit recorded throughout); a bin is
            observed for the unit when it lies inside one of them (the ``observed`` mask). Interval edges must
            fall on bin edges or outside the binned bins, and every spike of the unit must lie inside its
            intervals.

        Raises
        ------
        ValueError
            If spike times are non-finite, unsorted, or outside ``[t_start, t_stop)``, the interval is not a
            whole number of bins, a trial is not a whole number of bins, unsorted, overlapping or outside the
            recording, an interval of ``unit_intervals`` cuts a bin, or a spike lies outside its unit's
            intervals.
        """
        dt = positive_scalar("dt (bin width in seconds)", dt)
        t_start, t_stop = _check_time("t_start", t_start), _check_time("t_stop", t_stop)
        if t_stop <= t_start:
            raise ValueError(f"need t_start < t_stop, got t_start={t_start!r}, t_stop={t_stop!r}.")
        _whole_bins(t_stop - t_start, dt, "(t_stop - t_start)", "choose t_stop = t_start + n * dt")
        if trials is None:
            segments = np.array([[t_start, t_stop]])
        else:
            segments = _check_intervals("trials", trials, "[(0.0, 1.0), (2.0, 3.0)]")
            outside = (segments[:, 0] < t_start) | (segments[:, 1] > t_stop)
            if outside.any():
                k = int(np.argmax(outside))
                raise ValueError(f"trials[{k}] = ({segments[k, 0]}, {segments[k, 1]}) lies outside the recording "
                                 f"interval [{t_start}, {t_stop}); widen the interval or drop the trial.")
        lengths = [_whole_bins(stop - start, dt, f"trials[{k}] = ({start}, {stop}): (stop - start)",
                               "choose stop = start + n * dt") if trials is not None
                   else _whole_bins(stop - start, dt, "(t_stop - t_start)", "choose t_stop = t_start + n * dt")
                   for k, (start, stop) in enumerate(segments)]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        n_bins = int(offsets[-1])
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
        if unit_intervals is not None:
            if _is_scalar(unit_intervals) or len(unit_intervals) != len(trains):
                raise ValueError(f"unit_intervals must hold one list of (start, stop) intervals per neuron "
                                 f"({len(trains)}), or None for a unit recorded throughout; got {unit_intervals!r}.")
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
            # bin k = [start + k dt, start + (k+1) dt) of each trial; the tolerance absorbs the rounding of t / dt
            for (start, stop), offset, length in zip(segments, offsets, lengths):
                inside = train[(train >= start) & (train < stop)]
                bins = np.clip(_bin_of(inside, start, dt), 0, length - 1)
                counts[offset : offset + length, neuron] = np.bincount(bins, minlength=length)
        observed = None
        if unit_intervals is not None:
            left = np.concatenate([start + np.arange(length) * dt for (start, _), length in zip(segments, lengths)])
            observed = cls._observed_from_intervals(unit_intervals, trains, left, dt)
        if stimulus is not None and trials is not None and np.shape(stimulus)[:1] != (n_bins,):
            raise ValueError(f"stimulus has {np.shape(stimulus)[:1]} bins but the trials hold {n_bins} (the "
                             f"concatenation of the binned trials, {lengths} bins each): sample the stimulus on the "
                             "trials' bins only.")
        return cls(counts=counts, dt=dt, stimulus=stimulus, neuron_names=tuple(neuron_names or ()),
                   t_start=float(segments[0, 0]), trial_starts=tuple(int(k) for k in offsets[:-1]),
                   observed=observed)

    @staticmethod
    def _observed_from_intervals(unit_intervals, trains, left: np.ndarray, dt: float) -> np.ndarray:
        """The ``[T, N]`` mask of bins (left edges ``left``) inside each unit's recorded intervals."""
        right = left + dt
        tolerance = 1e-9 * dt
        observed = np.zeros((left.size, len(trains)), bool)
        for neuron, (intervals, train) in enumerate(zip(unit_intervals, trains)):
            if intervals is None:
                observed[:, neuron] = True
                continue
            name = f"unit_intervals[{neuron}]"
            pairs = _check_intervals(name, intervals, "[(0.0, 2.5), (4.0, 10.0)]")
            for k, (start, stop) in enumerate(pairs):
                covered = (left >= start - tolerance) & (right <= stop + tolerance)
                partial = ((np.minimum(right, stop) - np.maximum(left, start)) > tolerance) & ~covered
                if partial.any():
                    t = int(np.argmax(partial))
                    raise ValueError(f"{name}[{k}] = ({start}, {stop}) has an edge inside bin {t} [{left[t]}, "
                                     f"{right[t]}); put the edges of the recorded intervals on bin edges.")
                observed[covered, neuron] = True
            recorded = np.zeros(train.shape, bool)
            for start, stop in pairs:
                recorded |= (train >= start) & (train < stop)
            if not recorded.all():
                k = int(np.argmax(~recorded))
                raise ValueError(f"spike_times[{neuron}][{k}] = {train[k]} lies outside the intervals in which unit "
                                 f"{neuron} was recorded ({name}); fix the intervals or remove the spike.")
        return observed

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
        """Length of the data in seconds (the binned trials only, gaps excluded)."""
        return self.n_bins * self.dt

    @property
    def n_spikes(self) -> np.ndarray:
        """Spike count per neuron, shape ``(N,)``."""
        return self.counts.sum(axis=0)

    @property
    def mean_rates(self) -> np.ndarray:
        """Mean firing rate per neuron in Hz (over its observed bins)."""
        return self.n_spikes / (self.n_observed_bins * self.dt)

    @property
    def n_observed_bins(self) -> np.ndarray:
        """Observed bins per neuron, shape ``(N,)`` (every bin without an ``observed`` mask)."""
        if self.observed is None:
            return np.full(self.n_neurons, self.n_bins)
        return self.observed.sum(axis=0)

    @property
    def is_binary(self) -> bool:
        return bool(self.counts.max() <= 1)

    @property
    def n_trials(self) -> int:
        return 1 if self.trial_starts is None else len(self.trial_starts)

    @property
    def trial_bounds(self) -> np.ndarray:
        """Bin edges of the trials, ``(n_trials + 1,)``: trial ``k`` is bins ``bounds[k]:bounds[k + 1]``."""
        return np.asarray((self.trial_starts or (0,)) + (self.n_bins,), dtype=np.int64)

    def trial_slices(self) -> list[slice]:
        """One ``slice`` of bins per trial."""
        bounds = self.trial_bounds
        return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]

    @property
    def trial_index(self) -> np.ndarray:
        """The trial of every bin, ``(T,)`` ints."""
        return np.repeat(np.arange(self.n_trials), np.diff(self.trial_bounds))

    def trials(self) -> list["SpikeData"]:
        """Each trial as its own SpikeData (``t_start`` shifted by the trial's first bin)."""
        return [self.time_slice(s.start, s.stop) for s in self.trial_slices()]

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
        """Bins ``start:stop`` as a new SpikeData (``t_start`` shifted accordingly; trials and mask kept, a trial
        cut by ``start`` begins at the new bin 0)."""
        if not (0 <= start < stop <= self.n_bins):
            raise ValueError(f"need 0 <= start < stop <= {self.n_bins}, got start={start}, stop={stop}.")
        return self._segments([(start, stop)])

    def _segments(self, segments) -> "SpikeData":
        """The concatenation of the bin ranges ``segments`` (sorted ``(start, stop)`` pairs): each range begins a
        trial, and so does every trial start inside it."""
        rows = np.concatenate([np.arange(a, b) for a, b in segments])
        starts, offset = [], 0
        for a, b in segments:
            inner = [k - a for k in (self.trial_starts or ()) if a < k < b]
            starts += [offset] + [offset + k for k in inner]
            offset += b - a
        return type(self)(
            counts=self.counts[rows],
            dt=self.dt,
            stimulus=None if self.stimulus is None else self.stimulus[rows],
            neuron_names=self.neuron_names,
            t_start=self.t_start + segments[0][0] * self.dt,
            trial_starts=starts,
            observed=None if self.observed is None else self.observed[rows],
        )

    def split(self, train_fraction: float = 0.8, by: str = "time") -> tuple["SpikeData", "SpikeData"]:
        """Split into a training and a held-out part, never inside a trial.

        Parameters
        ----------
        train_fraction : float in (0, 1)
        by : {"time", "trial"}
            ``"time"``: the first ``train_fraction`` of the bins for training, the rest held out; with several
            trials the cut moves to the trial start nearest to that bin (a continuous recording, one trial, is
            cut at the bin itself). ``"trial"``: the first ``round(train_fraction * n_trials)`` trials for
            training (needs two trials or more).
        """
        train_fraction = check_float("train_fraction", train_fraction, 0.0, 1.0, low_open=True, high_open=True)
        one_of("by", by, ("time", "trial"))
        if by == "trial":
            n_train = int(round(self.n_trials * train_fraction))
            if self.n_trials < 2:
                raise ValueError("split(by='trial') needs data of several trials; this one is one trial (give "
                                 "trial_starts, or split by='time').")
            if not 1 <= n_train < self.n_trials:
                raise ValueError(f"train_fraction={train_fraction} leaves an empty part of {self.n_trials} trials.")
            cut = int(self.trial_bounds[n_train])
        else:
            cut = int(round(self.n_bins * train_fraction))
            if self.n_trials > 1:
                inner = self.trial_bounds[1:-1]
                cut = int(inner[np.argmin(np.abs(inner - cut))])
            if cut < 1 or cut >= self.n_bins:
                raise ValueError(f"train_fraction={train_fraction} leaves an empty part of {self.n_bins} bins.")
        return self.time_slice(0, cut), self.time_slice(cut, self.n_bins)

    def folds(self, n_folds: int = 5, by: str = "trial") -> Iterator[tuple["SpikeData", "SpikeData"]]:
        """Cross-validation folds ``(train, test)`` that never cut a trial.

        Parameters
        ----------
        n_folds : int >= 2
        by : {"trial", "block"}
            ``"trial"``: trial ``k`` is held out in fold ``k % n_folds`` (round robin; needs ``n_trials >=
            n_folds``). ``"block"``: fold ``k`` holds out one contiguous block of about ``T / n_folds`` bins,
            its edges moved to the nearest trial starts (a continuous recording, one trial, is cut into
            blocks at the bins themselves).

        Returns
        -------
        iterator of (SpikeData, SpikeData)
            The training data is the concatenation of the other trials or blocks, with a trial start at every
            junction, so no history crosses the held-out part. Arguments are checked when ``folds`` is called.
        """
        n_folds = check_int("n_folds", n_folds, minimum=2)
        one_of("by", by, ("trial", "block"))
        bounds = self.trial_bounds
        if by == "trial":
            if self.n_trials < n_folds:
                raise ValueError(f"folds(by='trial') needs at least n_folds={n_folds} trials, the data has "
                                 f"{self.n_trials}; use fewer folds or by='block'.")
            held_out = [np.arange(k, self.n_trials, n_folds) for k in range(n_folds)]
            ranges = [(int(bounds[j]), int(bounds[j + 1])) for j in range(self.n_trials)]
            test_sets = [[ranges[j] for j in trials] for trials in held_out]
        else:
            edges = np.round(np.arange(n_folds + 1) * self.n_bins / n_folds).astype(np.int64)
            if self.n_trials > 1:
                edges = np.array([bounds[np.argmin(np.abs(bounds - e))] for e in edges])
            if np.any(np.diff(edges) <= 0):
                raise ValueError(f"cannot cut {self.n_bins} bins ({self.n_trials} trial(s)) into n_folds={n_folds} "
                                 "non-empty blocks of whole trials; use fewer folds" +
                                 (" or by='trial'." if self.n_trials > 1 else "."))
            test_sets = [[(int(edges[k]), int(edges[k + 1]))] for k in range(n_folds)]
        return ((self._segments(_complement(test, self.n_bins)), self._segments(test)) for test in test_sets)

    def __repr__(self) -> str:
        stim = f", stimulus dims={self.n_stimulus_dims}" if self.stimulus is not None else ""
        trials = f", trials={self.n_trials}" if self.trial_starts is not None else ""
        observed = (f", observed={self.observed.mean():.1%} of unit-bins" if self.observed is not None else "")
        return (
            f"SpikeData(T={self.n_bins} bins of {self.dt * 1e3:g} ms, N={self.n_neurons} "
            f"{list(self.neuron_names)}, spikes={self.n_spikes.tolist()}{stim}{trials}{observed})"
        )


def _complement(ranges, n_bins: int) -> list[tuple[int, int]]:
    """The bin ranges of ``0:n_bins`` outside the sorted, disjoint ``ranges``."""
    out, previous = [], 0
    for a, b in ranges:
        if a > previous:
            out.append((previous, a))
        previous = b
    if previous < n_bins:
        out.append((previous, n_bins))
    return out


@dataclass(frozen=True)
class ContinuousData(SpikeData):
    """Continuous responses ``[T, N]`` per bin (e.g. calcium fluorescence, LFP power, firing rates): a
    :class:`SpikeData` whose ``counts`` hold any finite real values instead of whole spike counts.

    Everything else (``dt``, ``stimulus``, names, ``trial_starts``, ``observed``: values must be 0 where
    unobserved) is validated as for :class:`SpikeData`, and slicing, ``split`` and ``folds`` return
    ``ContinuousData``. Fit it with a continuous observation model (``observation="gamma"`` or
    ``"gaussian"``, :mod:`probsnn.neurons.observation`); the discrete ones (Poisson, Bernoulli, negative
    binomial) refuse it. History filters of a :class:`~probsnn.GLMNetwork` then filter past values (an
    autoregressive model).

    Parameters
    ----------
    counts : array_like, shape (T, N) or (T,)
        The responses per bin (finite real numbers), stored as float64; also available as :attr:`values`.
    """

    @staticmethod
    def _check_values(counts: np.ndarray) -> np.ndarray:
        """Any finite real value (finiteness is checked by :class:`SpikeData`), stored as float64."""
        return counts.astype(np.float64)

    @property
    def values(self) -> np.ndarray:
        """The responses ``[T, N]`` (the same array as ``counts``)."""
        return self.counts
