r"""Recordings from the formats of the field, read into :class:`~probsnn.data.SpikeData`.

* :func:`load_nwb` reads a Neurodata Without Borders file (pynwb): the ``Units`` table (all units, those with a
  quality label such as ``"good"``, or listed ids or names) and, optionally, stimulus or behaviour
  ``TimeSeries`` resampled onto the bins; :func:`read_nwb_intervals` reads its trials, epochs or any other
  interval table as ``(start, stop)`` pairs.
* :func:`load_phy` reads a Kilosort / phy output folder (``spike_times.npy``, ``spike_clusters.npy``,
  ``params.py``, ``cluster_group.tsv`` or ``cluster_KSLabel.tsv``).
* :func:`from_neo` and :func:`from_pynapple` take neo spike trains and pynapple ``TsGroup`` objects already in
  memory; :func:`to_pynapple_rates` hands fitted rates back to pynapple as a ``TsdFrame``.
* :func:`load_recording` recognises a file or folder by its content (HDF5 signature, phy files, zip signature)
  and calls the matching reader.

Binning is :meth:`SpikeData.from_spike_times`'s: bin ``k`` is ``[t_start + k dt, t_start + (k + 1) dt)``, with
exact-decimal edges. Continuous signals (stimulus, behaviour) are resampled onto the same bins by one rule,
the **bin mean with sample-and-hold**:

.. math::

    x_k = \frac{1}{|S_k|} \sum_{i \in S_k} x(s_i), \qquad S_k = \{i : t_k \le s_i < t_{k+1}\},

the mean of the samples whose time falls in bin ``k`` (assigned to bins with the same exact-decimal edges as
spikes); a bin that holds no sample takes the last sample before it (zero-order hold, as a stimulus frame is
shown until the next). A bin before the first sample, or after the last sample's interval, has no value and is
refused with an error, never filled with NaN. When samples and bins share a clock (one frame per bin) this
returns the samples unchanged.

pynwb, pynapple and neo are optional extras (``pip install 'probsnn[nwb]'``, ``[pynapple]``, ``[neo]``),
imported only inside the function that needs them. Files are read as data only: ``np.load`` with
``allow_pickle=False`` and ``params.py`` parsed with :func:`ast.literal_eval`, never executed.
"""
from __future__ import annotations

import ast
import csv
import importlib
from pathlib import Path
from typing import Sequence

import numpy as np

from ._checks import check_finite_entries, check_float, positive_scalar
from .data import SPIKE_TIME_TOLERANCE, SpikeData
from .datasets import load_npz

__all__ = [
    "load_nwb",
    "read_nwb_intervals",
    "load_phy",
    "from_neo",
    "from_pynapple",
    "to_pynapple_rates",
    "load_recording",
]

#: The 8-byte signature that opens an HDF5 file (NWB 2 files are HDF5); HDF5 allows the superblock at byte 0 or
#: at 512, 1024, 2048, ... when a user block precedes it.
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")


# ---------------------------------------------------------------------------------------------------- shared helpers
def _import_optional(module: str, needed_by: str, extra: str):
    """``import module``, or an ImportError naming the function that needs it and the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{needed_by} needs {module}: pip install 'probsnn[{extra}]'") from err


def _unit_name(unit_id) -> str:
    """The neuron name of a unit id in every loader: ``unit5`` for NWB unit id, phy cluster or TsGroup key 5."""
    return f"unit{unit_id}"


def _text(values) -> list[str]:
    return [value.decode() if isinstance(value, bytes) else str(value) for value in values]


def _neuron_names(ids: Sequence, name_column: str | None, columns: Sequence[str], read_column, where: str):
    """``"unit<id>"`` for each id, or the values of the column ``name_column`` (read by ``read_column``)."""
    if name_column is None:
        return [_unit_name(unit_id) for unit_id in ids]
    if name_column not in columns:
        raise ValueError(f"name_column={name_column!r} is not a column of {where}; its columns are {list(columns)}.")
    return _text(read_column(name_column))


def _bin_index(times: np.ndarray, t_start: float, dt: float) -> np.ndarray:
    """Bin of each time on the grid ``t_start + k dt``, with the edge tolerance of ``SpikeData.from_spike_times``."""
    tolerance = SPIKE_TIME_TOLERANCE * np.maximum(1.0, (np.abs(times) + abs(t_start)) / dt)
    return np.floor((times - t_start) / dt + tolerance).astype(np.int64)


def _window(t_start, t_stop) -> tuple[float, float | None]:
    """The checked window: ``t_start`` (default 0.0) and ``t_stop`` (None: decided by the loader)."""
    start = 0.0 if t_start is None else check_float("t_start (seconds)", t_start)
    stop = None if t_stop is None else check_float("t_stop (seconds)", t_stop)
    if stop is not None and stop <= start:
        raise ValueError(f"need t_start < t_stop, got t_start={start!r}, t_stop={stop!r}.")
    return start, stop


def _end_of_last_spike_bin(trains: Sequence[np.ndarray], t_start: float, dt: float) -> float:
    """The end of the bin that holds the latest spike of ``trains`` (one bin when there is no spike)."""
    last = max((float(np.max(train)) for train in trains if train.size), default=t_start)
    return t_start + (int(_bin_index(np.array([last]), t_start, dt)[0]) + 1) * dt


def _whole_bins_end(t_start: float, t_end: float, dt: float, what: str) -> float:
    """``t_start + n dt`` for the largest whole number ``n`` of bins that ends at or before ``t_end``."""
    n_bins = int(_bin_index(np.array([t_end]), t_start, dt)[0])
    if n_bins < 1:
        raise ValueError(f"{what} ends at {t_end} s, less than one bin (dt = {dt} s) after t_start = {t_start} s; "
                         "give a smaller dt or a later t_stop.")
    return t_start + n_bins * dt


def _covering_bins_end(t_start: float, t_end: float, trains: Sequence[np.ndarray], dt: float) -> float:
    """The end of the fewest whole bins from ``t_start`` that reach ``t_end`` and hold every spike of ``trains``.

    A ``t_end`` within the edge tolerance of a bin edge ends there; a partial last bin is extended to a whole one.
    """
    tolerance = SPIKE_TIME_TOLERANCE * max(1.0, (abs(t_end) + abs(t_start)) / dt)
    n_bins = max(int(np.ceil((t_end - t_start) / dt - tolerance)), 1)
    return max(t_start + n_bins * dt, _end_of_last_spike_bin(trains, t_start, dt))


def _in_window(name: str, train: np.ndarray, lower: float | None, start: float, stop: float | None,
               dt: float) -> np.ndarray:
    """The spikes of neuron ``name``'s ``train`` from ``lower`` (no cut when None) to ``stop`` (no cut when None),
    in stored order, after checking that every spike time is finite (a NaN would otherwise fall out of the window).

    The upper cut is the bins': a spike is kept when its bin (exact-decimal edges from ``start``) is before
    ``stop``, so a time a rounding error below the edge ``stop`` is cut as it would be by binning past it.
    """
    train = np.asarray(train, dtype=np.float64).ravel()
    check_finite_entries(f"the spike times of {name}", train, "; the recording is damaged")
    keep = np.ones(train.shape, dtype=bool)
    if lower is not None:
        keep &= train >= lower
    if stop is not None:
        keep &= (train < stop) & (_bin_index(train, start, dt) < int(round((stop - start) / dt)))
    return train[keep]


def _select_units(ids: Sequence, units, labels: Sequence[str] | None, label_source: str,
                  names: Sequence[str]) -> list[int]:
    """Row positions of the units to keep.

    ``units`` is None (every unit), a string (the units whose label in ``labels`` equals it, e.g. ``"good"``), or
    a sequence of unit ids (integers) and/or neuron names (strings), kept in the order given.
    """
    ids = [int(i) for i in ids]
    if units is None:
        return list(range(len(ids)))
    if isinstance(units, str):
        if labels is None:
            raise ValueError(f"units={units!r} selects units by a quality label, but {label_source}; "
                             "pass units=None for every unit or a list of unit ids.")
        selected = [row for row, label in enumerate(labels) if label == units]
        if not selected:
            raise ValueError(f"units={units!r}: no unit has that label in {label_source} (labels found: "
                             f"{sorted(set(labels))}).")
        return selected
    if np.ndim(units) != 1 or isinstance(units, (bytes, dict)):
        raise TypeError(f"units must be None, a quality label such as 'good', or a list of unit ids or names, "
                        f"got {units!r}.")
    position_of_id = {unit_id: row for row, unit_id in enumerate(ids)}
    position_of_name = {name: row for row, name in enumerate(names)}
    selected = []
    for unit in units:
        if isinstance(unit, str):
            row = position_of_name.get(unit)
        elif isinstance(unit, (int, np.integer)) and not isinstance(unit, (bool, np.bool_)):
            row = position_of_id.get(int(unit))
        else:
            raise TypeError(f"units holds {unit!r} ({type(unit).__name__}); give unit ids (int) or names (str).")
        if row is None:
            raise ValueError(f"units: no unit {unit!r} in the recording; its unit ids are {ids} and its names "
                             f"{list(names)}.")
        if row in selected:
            raise ValueError(f"units lists unit {unit!r} twice.")
        selected.append(row)
    if not selected:
        raise ValueError("units is an empty list; pass units=None for every unit.")
    return selected


def _resample(name: str, sample_times: np.ndarray, read_values, t_start: float, dt: float, n_bins: int,
              sample_interval: float) -> np.ndarray:
    """Bin mean with sample-and-hold of a sampled signal onto ``n_bins`` bins from ``t_start`` (see module doc).

    ``read_values(i0, i1)`` returns samples ``i0:i1`` as an array ``(i1 - i0, ...)``, so that only the samples
    the bins need are read from a file. ``sample_interval`` is how long the last sample lasts.
    """
    sample_times = np.asarray(sample_times, dtype=np.float64)
    if sample_times.ndim != 1 or sample_times.size == 0:
        raise ValueError(f"{name} has no samples (sample times of shape {sample_times.shape}).")
    check_finite_entries(f"{name} sample times", sample_times)
    if np.any(np.diff(sample_times) < 0):
        k = int(np.argmax(np.diff(sample_times) < 0))
        raise ValueError(f"{name} sample times are not sorted: sample {k + 1} ({sample_times[k + 1]} s) comes "
                         f"before sample {k} ({sample_times[k]} s).")
    bins = _bin_index(sample_times, t_start, dt)
    if bins[0] > 0:
        raise ValueError(f"{name} starts at {sample_times[0]} s, after the first bin [{t_start}, {t_start + dt}) "
                         "begins: that bin has no value. Start the window (t_start, epochs) at or after "
                         f"{sample_times[0]} s.")
    end = sample_times[-1] + sample_interval
    if int(_bin_index(np.array([end]), t_start, dt)[0]) < n_bins:
        raise ValueError(f"{name} ends at {end} s (last sample + one sample interval), before the last bin ends "
                         f"at {t_start + n_bins * dt} s: the later bins have no value. End the window (t_stop, "
                         f"epochs) at or before {end} s.")
    first = max(int(np.searchsorted(bins, 0, side="left")) - 1, 0)  # the sample held into bin 0, if needed
    stop = int(np.searchsorted(bins, n_bins, side="left"))
    values = np.asarray(read_values(first, stop), dtype=np.float64)
    values = values.reshape(len(values), -1)
    check_finite_entries(name, values, "; a signal must be finite where the bins read it")
    bins = bins[first:stop]
    inside = bins >= 0
    sums = np.zeros((n_bins, values.shape[1]))
    np.add.at(sums, bins[inside], values[inside])
    n_samples = np.bincount(bins[inside], minlength=n_bins)
    # the last sample before bin k is the one just before the first sample with bin >= k
    held = values[np.searchsorted(bins, np.arange(n_bins), side="left") - 1]
    filled = n_samples > 0
    return np.where(filled[:, None], sums / np.maximum(n_samples, 1)[:, None], held)


def _sample_interval(name: str, sample_times: np.ndarray) -> float:
    """The typical interval of irregular samples: the median difference of their times."""
    if len(sample_times) < 2:
        raise ValueError(f"{name} has a single sample and no rate: it cannot be resampled onto bins.")
    return float(np.median(np.diff(sample_times)))


# ---------------------------------------------------------------------------------------------------------- NWB
def _is_hdf5(path: Path) -> bool:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        offset = 0
        while offset + len(_HDF5_SIGNATURE) <= size:
            handle.seek(offset)
            if handle.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else 2 * offset
    return False


def _open_nwb(path, needed_by: str):
    """An open ``NWBHDF5IO`` (mode "r") for ``path`` after checking it is an HDF5 file."""
    pynwb = _import_optional("pynwb", needed_by, "nwb")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such NWB file: {path}")
    if not _is_hdf5(path):
        raise ValueError(f"{path} is not an NWB file: it has no HDF5 signature. {needed_by} reads NWB 2 files "
                         "(HDF5); for other recordings see probsnn.load_recording.")
    try:
        return pynwb.NWBHDF5IO(str(path), mode="r", load_namespaces=True)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"cannot open {path} as an NWB file: {err}") from err


def _find_time_series(nwbfile, pynwb, name: str):
    """The TimeSeries called ``name`` (or ``"module/name"``) anywhere in the file: stimulus, acquisition, processing."""
    series = [obj for obj in nwbfile.objects.values() if isinstance(obj, pynwb.TimeSeries)]

    def path_of(obj) -> str:
        return f"{obj.parent.name}/{obj.name}" if obj.parent is not None else obj.name

    matches = [obj for obj in series if name in (obj.name, path_of(obj))]
    if not matches:
        raise ValueError(f"stimulus: no TimeSeries {name!r} in the file; its TimeSeries are "
                         f"{sorted(path_of(obj) for obj in series)}.")
    if len(matches) > 1:
        raise ValueError(f"stimulus: {name!r} names several TimeSeries ({sorted(path_of(obj) for obj in matches)}); "
                         "give the one you mean as 'parent/name'.")
    return matches[0]


def _series_clock(series) -> tuple[np.ndarray, float]:
    """Sample times of a pynwb TimeSeries (its timestamps, or starting_time + i / rate) and its sample interval."""
    name = f"TimeSeries {series.name!r}"
    if series.timestamps is not None:
        sample_times = np.asarray(series.timestamps[:], dtype=np.float64)
        if len(sample_times) != len(series.data):
            raise ValueError(f"{name} has {len(series.data)} samples but {len(sample_times)} timestamps.")
        return sample_times, _sample_interval(name, sample_times)
    rate = positive_scalar(f"{name} rate (Hz)", series.rate)
    return float(series.starting_time or 0.0) + np.arange(len(series.data)) / rate, 1.0 / rate


def _time_series_on_bins(series, t_start: float, dt: float, n_bins: int) -> np.ndarray:
    """A pynwb TimeSeries (data * conversion + offset) resampled onto the bins, reading only the samples needed."""
    sample_times, interval = _series_clock(series)
    conversion = float(series.conversion) if series.conversion is not None else 1.0
    offset = float(getattr(series, "offset", 0.0) or 0.0)

    def read_values(i0, i1):
        return np.asarray(series.data[i0:i1], dtype=np.float64) * conversion + offset

    return _resample(f"TimeSeries {series.name!r}", sample_times, read_values, t_start, dt, n_bins, interval)


def load_nwb(
    path,
    dt: float,
    units=None,
    quality_column: str = "quality",
    stimulus: str | Sequence[str] = (),
    t_start: float | None = None,
    t_stop: float | None = None,
    name_column: str | None = None,
    trials: str | None = None,
) -> SpikeData:
    """Spikes of an NWB file's ``Units`` table, binned, with optional stimulus or behaviour signals and trials.

    The file is opened read-only (``NWBHDF5IO(path, mode="r")``) and read lazily: the ragged ``spike_times``
    index is read whole (one integer per unit), then only the selected units' slices of the spike-time data.

    Units with an ``obs_intervals`` column (the times each unit was recorded, NWB's standard column) are masked
    outside them (``observed``; the likelihood leaves those bins out): a bin that overlaps a recorded interval
    counts as observed, so no recorded spike is lost; a spike outside its unit's intervals is an error.

    Parameters
    ----------
    path : str or Path
        An NWB 2 (HDF5) file.
    dt : float
        Bin width in seconds.
    units : None, str or sequence
        ``None``: every unit. A string: the units whose ``quality_column`` equals it (``"good"``). A sequence of
        unit ids (the table's ``id``, integers) and/or names (strings, see ``name_column``), in the order wanted.
    quality_column : str
        The Units column holding the curation label, read when ``units`` is a string.
    stimulus : str or sequence of str
        Names of TimeSeries (in ``stimulus``, ``acquisition`` or a processing module; ``"module/name"`` when a
        name is ambiguous) resampled onto the bins by the bin mean with sample-and-hold (module docstring), data
        scaled as ``data * conversion + offset``. Their columns are concatenated in the order given.
    t_start : float, optional
        Left edge of bin 0 (seconds in the file's clock); default 0.0.
    t_stop : float, optional
        End of the last bin; default the end of the first stimulus' samples rounded down to whole bins, or,
        without stimulus, the end of the bin holding the latest selected spike. An explicit window
        ``[t_start, t_stop)`` counts only the spikes inside it; with the defaults every spike must lie inside.
    name_column : str, optional
        A Units column of unique unit names (e.g. ``"unit_name"``) to use as neuron names; default ``"unit<id>"``.
    trials : str, optional
        The name of an interval table (``"trials"``, ``"epochs"``, ...; see :func:`read_nwb_intervals`) whose
        intervals become the trials of the result: each trial is binned on its own grid from its start time and
        keeps its whole bins (``floor((stop - start) / dt)``: a final partial bin is dropped), the trials are
        concatenated (``trial_starts``), every filter restarts at each, and spikes and stimulus samples between
        trials are not part of the data. Not with ``t_start``/``t_stop`` (the trials are the window).

    Returns
    -------
    SpikeData
        One neuron per selected unit, ``neuron_names`` as above, ``stimulus`` ``[T, D]`` or None, and
        ``trial_starts`` with ``trials``.

    Raises
    ------
    ImportError
        When pynwb is not installed (``pip install 'probsnn[nwb]'``).
    ValueError
        For a file that is not HDF5/NWB, a file without Units, an unknown unit, label, column or TimeSeries, or a
        window the stimulus does not cover.
    """
    dt = positive_scalar("dt (bin width in seconds)", dt)
    start, stop = _window(t_start, t_stop)
    names_wanted = (stimulus,) if isinstance(stimulus, str) else tuple(stimulus)
    if trials is not None and (not isinstance(trials, str) or t_start is not None or t_stop is not None):
        raise ValueError(f"trials must name an interval table of the file (e.g. 'trials'), without t_start/t_stop "
                         f"(the trials are the window); got trials={trials!r}, t_start={t_start!r}, "
                         f"t_stop={t_stop!r}.")
    pynwb = _import_optional("pynwb", "load_nwb", "nwb")
    if trials is not None:
        return _load_nwb_trials(path, dt, units, quality_column, names_wanted, name_column, trials, pynwb)
    with _open_nwb(path, "load_nwb") as io:
        nwbfile = io.read()
        table = nwbfile.units
        names, rows, unit_spikes = _nwb_units(path, table, units, quality_column, name_column)
        lower = None if t_start is None else start  # a default window must hold every spike: no lower cut
        trains = [_in_window(names[row], unit_spikes(row), lower, start, stop, dt) for row in rows]

        series = [_find_time_series(nwbfile, pynwb, name) for name in names_wanted]
        if t_stop is None and series:
            sample_times, interval = _series_clock(series[0])
            stop = _whole_bins_end(start, sample_times[-1] + interval, dt, f"TimeSeries {series[0].name!r}")
        elif t_stop is None:
            stop = _end_of_last_spike_bin(trains, start, dt)
        n_bins = int(round((stop - start) / dt))
        signals = [_time_series_on_bins(s, start, dt, n_bins) for s in series]
        unit_intervals = _unit_intervals(table, rows, [(start, n_bins)], dt)
    return SpikeData.from_spike_times(
        trains, dt, start, stop, stimulus=np.concatenate(signals, axis=1) if signals else None,
        neuron_names=[names[row] for row in rows], unit_intervals=unit_intervals,
    )


def _nwb_units(path, table, units, quality_column: str, name_column: str | None):
    """The Units table's neuron names, the rows of the selected ``units`` and a reader of one row's spike times
    (only that row's slice of the concatenated spike-time data is read)."""
    if table is None:
        raise ValueError(f"{path} has no Units table: it holds no sorted spikes.")
    if "spike_times" not in table.colnames:
        raise ValueError(f"{path}: its Units table has no spike_times column (columns: {list(table.colnames)}).")
    ids = np.asarray(table.id.data[:], dtype=np.int64)
    names = _neuron_names(ids, name_column, table.colnames, lambda column: table[column].data[:], "the Units table")
    labels, source = None, ""
    if isinstance(units, str):
        if quality_column in table.colnames:
            labels = _text(table[quality_column].data[:])
        source = (f"the Units column {quality_column!r}" if labels is not None else
                  f"the Units table has no column quality_column={quality_column!r} (columns: "
                  f"{list(table.colnames)})")
    rows = _select_units(ids, units, labels, source, names)
    index = table["spike_times"]  # VectorIndex: ends of each unit's slice of the concatenated spike times
    ends = np.asarray(index.data[:], dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1]])

    def unit_spikes(row):
        return np.asarray(index.target.data[starts[row]:ends[row]], dtype=np.float64)

    return names, rows, unit_spikes


def _inside_trials(train: np.ndarray, grid, dt: float) -> np.ndarray:
    """The spikes of ``train`` inside the whole bins of a trial of ``grid``: those between trials are no data."""
    inside = np.zeros(train.shape, bool)
    for begin, n_bins in grid:
        inside |= (train >= begin) & (train < begin + n_bins * dt)
    return train[inside]


def _trials_data(trains, grid, dt: float, stimulus, names, unit_intervals=None) -> SpikeData:
    """The trials of ``grid`` (per trial its start and whole bins), concatenated, as :class:`SpikeData`."""
    first, last = grid[0][0], grid[-1][0] + grid[-1][1] * dt
    stop = first + int(np.ceil((last - first) / dt - 1e-9)) * dt
    return SpikeData.from_spike_times(trains, dt, first, stop, stimulus=stimulus, neuron_names=names,
                                      unit_intervals=unit_intervals,
                                      trials=[(begin, begin + n_bins * dt) for begin, n_bins in grid])


def _observed_intervals(intervals: np.ndarray, grid, dt: float) -> list[tuple[float, float]]:
    """A unit's recorded intervals (NWB ``obs_intervals``) on the bins: every bin of the ``grid`` (per trial its
    start and number of bins) that overlaps an interval counts as observed (a bin only partly recorded is kept,
    so that no recorded spike is lost), returned as runs of whole bins ``(left edge, right edge)``."""
    runs = []
    for begin, n_bins in grid:
        left = begin + np.arange(n_bins) * dt
        overlap = np.zeros(n_bins, bool)
        for start, stop in np.asarray(intervals, np.float64).reshape(-1, 2):
            overlap |= (np.minimum(left + dt, stop) - np.maximum(left, start)) > 0
        edges = np.flatnonzero(np.diff(np.concatenate([[0], overlap.astype(np.int8), [0]])))
        runs += [(float(left[a]), float(begin + b * dt)) for a, b in zip(edges[::2], edges[1::2])]
    return runs


def _unit_intervals(table, rows, grid, dt: float):
    """``unit_intervals`` for :meth:`SpikeData.from_spike_times` from the Units' ``obs_intervals`` column (None
    when the table has none: every unit recorded throughout)."""
    if "obs_intervals" not in table.colnames:
        return None
    column = table["obs_intervals"]
    return [_observed_intervals(np.asarray(column[row]), grid, dt) for row in rows]


def _trial_grid(bounds: np.ndarray, dt: float, table: str) -> list[tuple[float, int]]:
    """Per interval: its start and its number of whole bins (an interval shorter than one bin is an error)."""
    grid = []
    for k, (begin, end) in enumerate(bounds):
        n_bins = int(np.floor((end - begin) / dt + 1e-9))
        if n_bins < 1:
            raise ValueError(f"{table} interval {k} ({begin} to {end} s) is shorter than one bin of dt={dt} s; "
                             "choose a smaller dt or drop the interval.")
        grid.append((float(begin), n_bins))
    order = np.argsort([g[0] for g in grid], kind="stable")
    if not np.array_equal(order, np.arange(len(grid))):
        raise ValueError(f"the {table} intervals are not sorted by start time.")
    return grid


def _load_nwb_trials(path, dt, units, quality_column, names_wanted, name_column, table, pynwb) -> SpikeData:
    """:func:`load_nwb` with ``trials``: every trial binned from its own start, the trials concatenated."""
    grid = _trial_grid(read_nwb_intervals(path, table), dt, table)
    with _open_nwb(path, "load_nwb") as io:
        nwbfile = io.read()
        names, rows, unit_spikes = _nwb_units(path, nwbfile.units, units, quality_column, name_column)
        trains = [_inside_trials(unit_spikes(row), grid, dt) for row in rows]
        series = [_find_time_series(nwbfile, pynwb, name) for name in names_wanted]
        signals = [np.concatenate([_time_series_on_bins(s, begin, dt, n_bins) for begin, n_bins in grid])
                   for s in series]
        unit_intervals = _unit_intervals(nwbfile.units, rows, grid, dt)
    return _trials_data(trains, grid, dt, np.concatenate(signals, axis=1) if signals else None,
                        [names[row] for row in rows], unit_intervals)


def read_nwb_intervals(path, table: str = "trials", columns: Sequence[str] = ()):
    """The ``(start, stop)`` times of an NWB interval table: ``trials``, ``epochs`` or any other by name.

    Parameters
    ----------
    path : str or Path
        An NWB 2 (HDF5) file.
    table : str
        ``"trials"``, ``"epochs"``, ``"invalid_times"`` or the name of any other TimeIntervals table.
    columns : sequence of str
        Further columns to return (e.g. ``("stimulus_type",)``).

    Returns
    -------
    ndarray, shape (n, 2)
        ``start_time`` and ``stop_time`` of each interval in seconds, in the table's order; when ``columns``
        is given, a tuple ``(intervals, {column: values})`` (a ragged column as a list of arrays).
    """
    io = _open_nwb(path, "read_nwb_intervals")
    from hdmf.common.table import VectorIndex  # hdmf comes with pynwb

    with io:
        nwbfile = io.read()
        tables = dict(nwbfile.intervals or {})
        if table not in tables:
            raise ValueError(f"table={table!r}: {path} has no such interval table; its tables are {sorted(tables)}.")
        intervals = tables[table]
        bounds = np.column_stack([np.asarray(intervals["start_time"].data[:], dtype=np.float64),
                                  np.asarray(intervals["stop_time"].data[:], dtype=np.float64)]).reshape(-1, 2)
        check_finite_entries(f"{table} start/stop times", bounds)
        backwards = bounds[:, 1] < bounds[:, 0]
        if backwards.any():
            k = int(np.argmax(backwards))
            raise ValueError(f"{path}: {table} interval {k} stops ({bounds[k, 1]} s) before it starts "
                             f"({bounds[k, 0]} s).")
        extra = {}
        for column in columns:
            if column not in intervals.colnames:
                raise ValueError(f"columns: {table} has no column {column!r}; its columns are "
                                 f"{list(intervals.colnames)}.")
            values = intervals[column]
            ragged = isinstance(values, VectorIndex)
            extra[column] = [np.asarray(v) for v in values[:]] if ragged else np.asarray(values.data[:])
    return (bounds, extra) if columns else bounds


# ---------------------------------------------------------------------------------------------------------- phy
def _read_params(path: Path) -> dict:
    """The assignments of phy's ``params.py`` as data: each statement must be ``name = literal``."""
    text = path.read_text()
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as err:
        raise ValueError(f"{path} is not a readable params.py ({err.msg}, line {err.lineno}).") from err
    params = {}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring or comment string
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"{path}, line {node.lineno}: params.py is read as data, so each line must be "
                             "'name = literal' (a number, string, list, ...); this statement is not.")
        try:
            params[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError as err:
            raise ValueError(f"{path}, line {node.lineno}: the value of {node.targets[0].id} is not a literal "
                             "(params.py is read as data, never executed).") from err
    return params


def _read_cluster_labels(folder: Path) -> tuple[dict[int, str], str] | tuple[None, str]:
    """``{cluster id: label}`` from ``cluster_group.tsv`` (manual curation) or else ``cluster_KSLabel.tsv``."""
    for filename, column in (("cluster_group.tsv", "group"), ("cluster_KSLabel.tsv", "KSLabel")):
        path = folder / filename
        if not path.is_file():
            continue
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            fields = reader.fieldnames or []
            id_column = next((c for c in ("cluster_id", "id") if c in fields), None)
            if id_column is None or column not in fields:
                raise ValueError(f"{path} must have the columns 'cluster_id' and {column!r}, got {fields}.")
            labels = {}
            for line, row in enumerate(reader, start=2):
                try:
                    labels[int(row[id_column])] = row[column].strip()
                except (TypeError, ValueError) as err:
                    raise ValueError(f"{path}, line {line}: cluster id {row[id_column]!r} is not an integer.") from err
        return labels, f"{path.name}"
    return None, f"{folder} has neither cluster_group.tsv nor cluster_KSLabel.tsv"


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as err:
        raise ValueError(f"cannot read {path} as a .npy array of numbers ({err}); probsnn never unpickles.") from err


def _as_samples(name: str, values: np.ndarray) -> np.ndarray:
    """A phy column of integers (shape (n,) or (n, 1)) as int64, refusing other shapes, fractions and negatives."""
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one entry per spike), got shape {values.shape}.")
    if values.dtype.kind == "f":
        check_finite_entries(name, values)
        if np.any(values != np.round(values)):
            raise ValueError(f"{name} must hold integers, got fractional values.")
    elif values.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got dtype {values.dtype}.")
    values = values.astype(np.int64)
    if values.size and values.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {values.min()}.")
    return values


def load_phy(folder, dt: float, units="good", t_start: float | None = None,
             t_stop: float | None = None) -> SpikeData:
    """Spikes of a Kilosort / phy output folder, one neuron per cluster, binned.

    Spike ``j`` is at ``spike_times[j] / sample_rate`` seconds (``spike_times.npy`` in samples, ``sample_rate``
    from ``params.py``) in cluster ``spike_clusters[j]`` (``spike_clusters.npy``; ``spike_templates.npy`` when
    the folder was never curated).

    Parameters
    ----------
    folder : str or Path
        The folder holding ``spike_times.npy``, ``spike_clusters.npy`` and ``params.py``.
    dt : float
        Bin width in seconds.
    units : str, None or sequence of int
        ``"good"`` (default): the clusters labelled good in ``cluster_group.tsv`` (manual curation) or, without
        it, ``cluster_KSLabel.tsv``; any other label the same way (``"mua"``). ``None``: every cluster with spikes.
        A sequence of cluster ids (or names ``"unit<id>"``), in the order wanted. A labelled cluster without
        spikes (merged away) is not a unit.
    t_start, t_stop : float, optional
        The window in seconds; default from 0 to the end of the bin holding the latest selected spike.

    Returns
    -------
    SpikeData
        Neuron names ``"unit<cluster id>"``.
    """
    dt = positive_scalar("dt (bin width in seconds)", dt)
    start, stop = _window(t_start, t_stop)
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no phy folder at {folder}.")
    clusters_file = folder / "spike_clusters.npy"
    if not clusters_file.is_file():
        clusters_file = folder / "spike_templates.npy"
    missing = [p.name for p in (folder / "spike_times.npy", clusters_file, folder / "params.py") if not p.is_file()]
    if missing:
        raise ValueError(f"{folder} is not a phy / Kilosort folder: it lacks {missing} (spike_times.npy, "
                         "spike_clusters.npy or spike_templates.npy, and params.py are needed).")
    params = _read_params(folder / "params.py")
    if "sample_rate" not in params:
        raise ValueError(f"{folder / 'params.py'} sets no sample_rate (it sets {sorted(params)}).")
    sample_rate = positive_scalar(f"sample_rate in {folder / 'params.py'} (Hz)", params["sample_rate"])
    samples = _as_samples(str(folder / "spike_times.npy"), _load_npy(folder / "spike_times.npy"))
    clusters = _as_samples(str(clusters_file), _load_npy(clusters_file))
    if len(samples) != len(clusters):
        raise ValueError(f"{folder}: spike_times.npy has {len(samples)} spikes but {clusters_file.name} has "
                         f"{len(clusters)} entries; they must be one per spike.")
    ids, counts = np.unique(clusters, return_counts=True)
    names = [_unit_name(i) for i in ids]
    labels, source = _read_cluster_labels(folder) if isinstance(units, str) else (None, "")
    rows = _select_units(ids, units, None if labels is None else [labels.get(int(i), "unsorted") for i in ids],
                         source, names)
    order = np.argsort(clusters, kind="stable")  # spikes grouped by cluster, time order kept within each
    offsets = np.concatenate([[0], np.cumsum(counts)])
    lower = None if t_start is None else start  # a default window must hold every spike: no lower cut
    trains = [_in_window(names[row], samples[order[offsets[row]:offsets[row + 1]]] / sample_rate, lower, start, stop,
                         dt) for row in rows]
    stop = _end_of_last_spike_bin(trains, start, dt) if stop is None else stop
    return SpikeData.from_spike_times(trains, dt, start, stop, neuron_names=[names[row] for row in rows])


# ---------------------------------------------------------------------------------------------------------- neo
def _seconds(name: str, value, quantities) -> float:
    """A time in seconds from a quantities Quantity (any time unit) or a plain number (seconds)."""
    if isinstance(value, quantities.Quantity):
        try:
            value = value.rescale(quantities.s).magnitude
        except ValueError as err:
            raise ValueError(f"{name} must be a time, got {value!r} ({err}).") from err
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be one time, got an array of shape {np.shape(value)}.")
    return check_float(f"{name} (seconds)", value)


def from_neo(segment_or_spiketrains, dt: float, t_start=None, t_stop=None) -> SpikeData:
    """Spikes of a neo ``Segment`` (its ``spiketrains``) or of a list of ``neo.SpikeTrain``, binned.

    Times are converted to seconds with quantities (``train.rescale("s")``), whatever unit the trains carry.

    Parameters
    ----------
    segment_or_spiketrains : neo.Segment or sequence of neo.SpikeTrain
    dt : float or quantities.Quantity
        Bin width (a plain number is seconds).
    t_start, t_stop : float or quantities.Quantity, optional
        The window (a plain number is seconds); spikes outside it are not counted. Default: the earliest
        ``t_start`` of the trains, and their latest ``t_stop`` rounded up to whole bins (and past a spike at
        ``t_stop`` itself), so that every spike is counted; the last bin may reach past ``t_stop`` by less than
        ``dt``.

    Returns
    -------
    SpikeData
        Neuron names from each train's ``name``, or ``"unit<i>"`` for an unnamed train ``i``.
    """
    neo = _import_optional("neo", "from_neo", "neo")
    quantities = _import_optional("quantities", "from_neo", "neo")
    if isinstance(dt, quantities.Quantity):
        dt = _seconds("dt", dt, quantities)
    dt = positive_scalar("dt (bin width in seconds)", dt)
    if isinstance(segment_or_spiketrains, neo.Segment):
        trains = list(segment_or_spiketrains.spiketrains)
    elif isinstance(segment_or_spiketrains, neo.Block):
        raise TypeError("from_neo takes one neo.Segment (e.g. block.segments[0]) or a list of SpikeTrain, "
                        "got a neo.Block.")
    elif isinstance(segment_or_spiketrains, neo.SpikeTrain):
        trains = [segment_or_spiketrains]
    elif isinstance(segment_or_spiketrains, (list, tuple)):
        trains = list(segment_or_spiketrains)
    else:
        raise TypeError(f"segment_or_spiketrains must be a neo.Segment or a list of neo.SpikeTrain, got "
                        f"{type(segment_or_spiketrains).__name__}.")
    if not trains:
        raise ValueError("segment_or_spiketrains holds no spike train.")
    for i, train in enumerate(trains):
        if not isinstance(train, neo.SpikeTrain):
            raise TypeError(f"segment_or_spiketrains[{i}] is a {type(train).__name__}, not a neo.SpikeTrain.")
    times = [np.asarray(train.rescale(quantities.s).magnitude, dtype=np.float64).ravel() for train in trains]
    names = [train.name if train.name else _unit_name(i) for i, train in enumerate(trains)]
    start = (min(_seconds(f"spike train {i} t_start", tr.t_start, quantities) for i, tr in enumerate(trains))
             if t_start is None else _seconds("t_start", t_start, quantities))
    stop = None if t_stop is None else _seconds("t_stop", t_stop, quantities)
    counted = [_in_window(name, train, start, start, stop, dt) for name, train in zip(names, times)]
    if stop is None:
        end = max(_seconds(f"spike train {i} t_stop", tr.t_stop, quantities) for i, tr in enumerate(trains))
        stop = _covering_bins_end(start, end, counted, dt)
    return SpikeData.from_spike_times(counted, dt, start, stop, neuron_names=names)


# ----------------------------------------------------------------------------------------------------- pynapple
def _covariates_on_bins(nap, covariates, t_start: float, dt: float, n_bins: int) -> np.ndarray | None:
    if covariates is None:
        return None
    signals = covariates if isinstance(covariates, (list, tuple)) else [covariates]
    columns = []
    for i, signal in enumerate(signals):
        if not isinstance(signal, (nap.Tsd, nap.TsdFrame, nap.TsdTensor)):
            raise TypeError(f"covariates must be a pynapple Tsd or TsdFrame (or a list of them); item {i} is a "
                            f"{type(signal).__name__}.")
        name = f"covariates[{i}]"
        times = np.asarray(signal.t, dtype=np.float64)
        values = np.asarray(signal.values, dtype=np.float64)
        columns.append(_resample(name, times, lambda i0, i1, v=values: v[i0:i1], t_start, dt, n_bins,
                                 _sample_interval(name, times)))
    return np.concatenate(columns, axis=1)


def from_pynapple(units, dt: float, covariates=None, epochs=None, name_column: str | None = None) -> SpikeData:
    """Spikes of a pynapple ``TsGroup``, binned, with covariates (``Tsd``/``TsdFrame``) resampled onto the bins.

    pynapple stores times rounded to its time precision (1e-9 s by default); the bins use those times.

    Parameters
    ----------
    units : pynapple.TsGroup
        One neuron per key, in the group's key order.
    dt : float
        Bin width in seconds.
    covariates : pynapple.Tsd or TsdFrame, or a list of them, optional
        Resampled by the bin mean with sample-and-hold (module docstring); columns concatenated in order.
    epochs : pynapple.IntervalSet, optional
        One interval: the window ``[start, end)``, its end rounded down to whole bins; spikes outside it are not
        counted. Several intervals: the trials of the result, each binned from its start and keeping its whole
        bins, concatenated with their ``trial_starts`` (as :func:`load_nwb` with ``trials``); spikes and covariate
        samples between them are not part of the data. Default: the group's ``time_support`` from its first
        start to its last end, rounded up to whole bins and extended to the bin of the latest spike, so that
        every spike is counted (the last bin may reach past the support by less than ``dt``).
    name_column : str, optional
        A metadata column of the group (``units.set_info(name=...)``) holding neuron names; default
        ``"unit<key>"``.

    Returns
    -------
    SpikeData
    """
    nap = _import_optional("pynapple", "from_pynapple", "pynapple")
    dt = positive_scalar("dt (bin width in seconds)", dt)
    if not isinstance(units, nap.TsGroup):
        raise TypeError(f"units must be a pynapple.TsGroup, got {type(units).__name__}.")
    keys = list(units.keys())
    names = _neuron_names(keys, name_column, units.metadata_columns,
                          lambda column: units.get_info(column).loc[keys], "the TsGroup's metadata")
    times = [np.asarray(units[key].t, dtype=np.float64) for key in keys]
    if epochs is None:
        support = units.time_support
        start = float(support.start[0])
        stop = _covering_bins_end(start, float(support.end[-1]), times, dt)
    else:
        if not isinstance(epochs, nap.IntervalSet):
            raise TypeError(f"epochs must be a pynapple.IntervalSet, got {type(epochs).__name__}.")
        if len(epochs) > 1:
            return _pynapple_trials(nap, names, times, dt, covariates, epochs)
        start = float(epochs.start[0])
        stop = _whole_bins_end(start, float(epochs.end[0]), dt, "epochs")
    trains = [_in_window(name, train, start, start, stop, dt) for name, train in zip(names, times)]
    n_bins = int(round((stop - start) / dt))
    return SpikeData.from_spike_times(trains, dt, start, stop, neuron_names=names,
                                      stimulus=_covariates_on_bins(nap, covariates, start, dt, n_bins))


def _pynapple_trials(nap, names, times, dt, covariates, epochs) -> SpikeData:
    """:func:`from_pynapple` with several epochs: every epoch a trial binned from its start."""
    grid = _trial_grid(np.column_stack([np.asarray(epochs.start, np.float64), np.asarray(epochs.end, np.float64)]),
                       dt, "epochs")
    stimulus = None
    if covariates is not None:
        stimulus = np.concatenate([_covariates_on_bins(nap, covariates, begin, dt, n_bins) for begin, n_bins in grid])
    return _trials_data([_inside_trials(train, grid, dt) for train in times], grid, dt, stimulus, names)


def to_pynapple_rates(rates, data: SpikeData):
    """Rates ``[T, N]`` on ``data``'s bins as a pynapple ``TsdFrame`` indexed by the bin centres.

    Parameters
    ----------
    rates : array_like, shape (T, N) or (T,)
        One value per bin and neuron (e.g. a fitted rate in Hz), in the units the caller chose.
    data : SpikeData
        The bins: row ``k`` is stamped ``t_start + (k + 1/2) dt``; the columns are ``data.neuron_names``.

    Returns
    -------
    pynapple.TsdFrame
        With ``time_support`` the recording ``[t_start, t_start + T dt)``.
    """
    nap = _import_optional("pynapple", "to_pynapple_rates", "pynapple")
    if not isinstance(data, SpikeData):
        raise TypeError(f"data must be a SpikeData, got {type(data).__name__}.")
    rates = np.asarray(rates, dtype=np.float64)
    if rates.ndim == 1:
        rates = rates[:, None]
    if rates.shape != data.counts.shape:
        raise ValueError(f"rates must have shape (T, N) = {data.counts.shape} of data, got {rates.shape}.")
    check_finite_entries("rates", rates)
    centres = data.t_start + (np.arange(data.n_bins) + 0.5) * data.dt
    support = nap.IntervalSet(start=data.t_start, end=data.t_start + data.n_bins * data.dt)
    return nap.TsdFrame(t=centres, d=rates, columns=list(data.neuron_names), time_support=support)


# ------------------------------------------------------------------------------------------------ any recording
def load_recording(path, dt: float | None = None, **options) -> SpikeData:
    """A recording read by what it is: an NWB file, a phy / Kilosort folder or a probsnn ``.npz``.

    * a file that starts with the HDF5 signature: :func:`load_nwb` ``(path, dt, **options)``;
    * a folder holding ``spike_times.npy`` and ``params.py``: :func:`load_phy` ``(path, dt, **options)``;
    * a file that starts with the zip signature: :func:`probsnn.datasets.load_npz` (already binned: ``dt``
      must be None or the file's own, and no options are taken).

    The extension is not trusted: a file named ``.nwb`` that is not HDF5 is refused.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    ValueError
        Anything else (a folder that is not phy output, a text file, ...), naming what was found.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "spike_times.npy").is_file() and (path / "params.py").is_file():
            return load_phy(path, _required_dt(dt, path), **options)
        raise ValueError(f"{path} is a folder but not phy / Kilosort output (it needs spike_times.npy and "
                         "params.py); give an .nwb file, a phy folder or an .npz file.")
    if not path.is_file():
        raise FileNotFoundError(f"no recording at {path}.")
    if _is_hdf5(path):
        return load_nwb(path, _required_dt(dt, path), **options)
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith(_ZIP_SIGNATURES):
        if options:
            raise TypeError(f"{path} is an .npz recording, which takes no options; got {sorted(options)}.")
        data = load_npz(path)
        if dt is not None and abs(positive_scalar("dt", dt) - data.dt) > 1e-12 * data.dt:
            raise ValueError(f"dt={dt!r}, but {path} is already binned at dt={data.dt}; pass dt=None or "
                             f"dt={data.dt} (an .npz recording is not re-binned).")
        return data
    raise ValueError(f"{path} is not a recording probsnn reads: it is neither HDF5 (NWB), a zip archive (.npz), "
                     "nor a phy folder (file starts with " + repr(head) + ").")


def _required_dt(dt, path: Path) -> float:
    if dt is None:
        raise ValueError(f"dt is needed to bin the spike times of {path}: pass dt=<bin width in seconds>.")
    return dt
