"""Real spike recordings.

* :func:`load_grasshopper` reads the locust (grasshopper) auditory receptor recordings that ship inside
  the ``nitime`` wheel (Rokem, Watzl, Gollisch, Stemmler, Herz & Samengo 2006, J. Neurophysiol. 95:2541):
  two cells, each driven by its own 10 s Gaussian amplitude-modulated sound stimulus sampled at 20 kHz.
  This is probsnn's embedded default data.
* :func:`load_pillow_rgc` reads the primate retinal ganglion cell recordings of Pillow's GLM tutorial
  (Uzzell & Chichilnisky 2004; Pillow et al. 2005, 2008) from a path the user supplies. That data may not
  be redistributed; probsnn never ships or downloads it.
"""
from __future__ import annotations

import struct
import zipfile
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

from .data import SpikeData

__all__ = ["load_grasshopper", "load_pillow_rgc", "load_npz", "read_npz_arrays"]

_GRASSHOPPER_STIMULUS_DT = 50e-6  # seconds per stimulus sample (the files' first column is time in us)


_OFFSETS_FIX = (
    "spike_offsets must hold N + 1 integers for N neurons: 0, then the running spike counts, ending at "
    "len(spike_times), e.g. np.concatenate([[0], np.cumsum([len(train) for train in trains])])."
)


def read_npz_arrays(path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive at ``path``, read eagerly with ``allow_pickle=False`` (data only).

    A file that is not an ``.npz`` archive (empty, a text file or ``.npy`` renamed ``.npz``, a zip archive of
    other files), a truncated or corrupted archive (bad CRC, broken compressed data, early end of file), or
    one holding pickled objects gets one ``ValueError`` naming the file and saying which of these it is;
    shared by every reader of ``.npz`` files in probsnn.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(6)
    not_npz = (f"cannot read {path}: it is not a .npz archive ({{why}}); save the data with "
               "np.savez(path, counts=..., dt=...).")
    if not head:
        raise ValueError(f"cannot read {path}: the file is empty, not a .npz archive; re-save it with np.savez.")
    if head.startswith(b"\x93NUMPY"):
        raise ValueError(
            f"cannot read {path}: it is a single .npy array, not a .npz archive of named arrays; "
            "save the data with np.savez(path, counts=..., dt=...)."
        )
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        if len(head) < 4 and head.startswith(b"PK") and b"PK\x03\x04".startswith(head):
            raise ValueError(f"cannot read {path}: the .npz archive is truncated or corrupted (the file ends "
                             "inside its zip signature); re-save or re-copy the file.")
        raise ValueError(not_npz.format(why="no zip signature: a text or other file renamed '.npz'?"))
    try:
        with np.load(path, allow_pickle=False) as archive:
            others = [name for name in archive.zip.namelist() if not name.endswith(".npy")]
            if others:
                raise ValueError(not_npz.format(why=f"a zip archive holding {others[0]!r}, which is not a .npy "
                                                    "array"))
            arrays = {}
            for key in archive.files:
                try:
                    member = archive[key]  # NumPy returns the raw bytes of a member without the .npy header
                    if isinstance(member, bytes):
                        raise ValueError("no .npy header")
                    arrays[key] = np.asarray(member)
                except ValueError as err:
                    if "allow_pickle" in str(err):  # NumPy refused an object array
                        raise ValueError(f"cannot read {path}: its array {key!r} holds pickled Python objects "
                                         f"({err}); probsnn never unpickles: store plain numeric or string "
                                         "arrays.") from err
                    raise ValueError(not_npz.format(why=f"its member {key + '.npy'!r} is not a valid .npy "
                                                        f"array: {err}")) from err
            return arrays
    except (zipfile.BadZipFile, zlib.error, EOFError, struct.error, KeyError, NotImplementedError,
            UnicodeDecodeError) as err:
        raise ValueError(
            f"cannot read {path}: the .npz archive is truncated or corrupted "
            f"({type(err).__module__}.{type(err).__name__}: {err}); "
            "re-save or re-copy the file."
        ) from err
    except OSError as err:
        raise ValueError(f"cannot read {path} as an .npz archive: {err}") from err


def _split_trains(path: Path, times: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    """``spike_times`` cut at ``spike_offsets`` into one train per neuron, after checking the offsets."""
    times = np.asarray(times)
    offsets = np.asarray(offsets)
    if times.ndim != 1:
        raise ValueError(f"{path}: 'spike_times' must be 1-D (all neurons' spikes concatenated), "
                         f"got shape {times.shape}.")

    def bad(why: str) -> ValueError:
        return ValueError(f"{path}: 'spike_offsets' {why}. {_OFFSETS_FIX}")

    if offsets.ndim != 1 or offsets.size < 2:
        raise bad(f"must be 1-D with at least 2 entries, got shape {offsets.shape}")
    if offsets.dtype.kind == "f":
        if not np.all(np.isfinite(offsets)) or np.any(offsets != np.round(offsets)):
            raise bad(f"must be integers, got {offsets.tolist()}")
    elif offsets.dtype.kind not in "iu":
        raise bad(f"must be integers, got dtype {offsets.dtype}")
    offsets = offsets.astype(np.int64)
    if offsets[0] != 0:
        raise bad(f"must start at 0, got {offsets[0]}")
    if np.any(np.diff(offsets) < 0):
        k = int(np.argmax(np.diff(offsets) < 0))
        raise bad(f"must be non-decreasing, but entry {k + 1} ({offsets[k + 1]}) is below entry {k} ({offsets[k]})")
    if offsets[-1] != len(times):
        raise bad(f"must end at len(spike_times) = {len(times)}, got {offsets[-1]}")
    return [times[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def _nitime_file(name: str) -> Path:
    try:
        return Path(str(resources.files("nitime") / "data" / name))
    except ModuleNotFoundError as err:  # pragma: no cover - nitime is a dependency
        raise ModuleNotFoundError("load_grasshopper needs the nitime package: pip install nitime") from err


def load_grasshopper(recording: int = 1, dt: float = 0.001, standardize: bool = True) -> SpikeData:
    """Grasshopper auditory receptor: spikes and the sound-amplitude stimulus, binned to ``dt``.

    Parameters
    ----------
    recording : {1, 2}
        Recording 1 (stimulus cut-off 200 Hz, 929 spikes) or 2 (cut-off 800 Hz, 868 spikes); each lasts
        10 s. The two were recorded with different stimuli, so they are separate data sets, not a
        population.
    dt : float
        Bin width in seconds; a multiple of the 50 us stimulus sampling interval.
    standardize : bool
        Return the stimulus with zero mean and unit variance (its mean is absorbed by the bias). With
        ``False`` the raw amplitude values of the file are returned (averaged within each bin).

    Returns
    -------
    SpikeData
        One neuron; ``stimulus`` is the bin-averaged stimulus ``[T, 1]``.
    """
    if recording not in (1, 2):
        raise ValueError(f"recording must be 1 or 2, got {recording!r}.")
    ratio = dt / _GRASSHOPPER_STIMULUS_DT
    if not (dt > 0 and abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1):
        raise ValueError(f"dt must be a positive multiple of 50 us (5e-5 s), got {dt!r}.")
    samples_per_bin = int(round(ratio))
    stimulus_table = np.loadtxt(_nitime_file(f"grasshopper_stimulus{recording}.txt"))
    spike_times = np.loadtxt(_nitime_file(f"grasshopper_spike_times{recording}.txt"), comments="#") * 1e-6
    stimulus = stimulus_table[:, 1]
    n_bins = len(stimulus) // samples_per_bin
    stimulus = stimulus[: n_bins * samples_per_bin].reshape(n_bins, samples_per_bin).mean(axis=1)
    if standardize:
        stimulus = (stimulus - stimulus.mean()) / stimulus.std()
    t_stop = n_bins * dt
    spike_times = spike_times[spike_times < t_stop]  # the recording's last partial bin, if dt does not divide 10 s
    return SpikeData.from_spike_times(
        [np.sort(spike_times)], dt=dt, t_start=0.0, t_stop=t_stop, stimulus=stimulus[:, None],
        neuron_names=(f"receptor{recording}",),
    )


def load_pillow_rgc(path, cells=None) -> SpikeData:
    """Primate parasol RGCs under full-field binary white noise (Pillow GLM tutorial data).

    Spikes are binned on the stimulus frames, bin ``k = [k dt, (k+1) dt)`` with ``dt`` the frame interval
    (8.34 ms), exactly as the tutorial does, so bin ``k`` is paired with stimulus frame ``k``.

    Parameters
    ----------
    path : str or Path
        Either the ``.npz`` re-packaging (keys ``stim``, ``frame_dt``, ``spike_times``, ``spike_offsets``,
        ``cell_ids``, ``cell_types``) or the tutorial's ``data_RGCs`` folder holding ``Stim.mat``,
        ``stimtimes.mat`` and ``SpTimes.mat``.
    cells : sequence of int, optional
        0-based indices of the cells to keep (default: all four).

    Returns
    -------
    SpikeData
        Counts ``[144051, n_cells]``, stimulus ``[144051, 1]``, names like ``"cell3-ON"``.
    """
    path = Path(path)
    if path.is_dir():
        try:
            from scipy.io import loadmat

            stim = loadmat(path / "Stim.mat")["Stim"].ravel().astype(np.float64)
            stim_times = loadmat(path / "stimtimes.mat")["stimtimes"].ravel().astype(np.float64)
            cell_array = loadmat(path / "SpTimes.mat")["SpTimes"].ravel()
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(f"{path} is not a readable data_RGCs folder "
                             f"(Stim.mat, stimtimes.mat, SpTimes.mat): {err}") from err
        trains = [np.asarray(c, dtype=np.float64).ravel() for c in cell_array]
        frame_dt = float(np.median(np.diff(stim_times)))
        ids = np.arange(1, len(trains) + 1)
        types = np.array(["OFF", "OFF", "ON", "ON"][: len(trains)])
    elif path.is_file():
        f = read_npz_arrays(path)
        try:
            stim = np.asarray(f["stim"], dtype=np.float64)
            frame_dt = float(f["frame_dt"])
            times, offsets = np.asarray(f["spike_times"]), np.asarray(f["spike_offsets"])
            ids, types = np.asarray(f["cell_ids"]), np.asarray(f["cell_types"]).astype(str)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path} is not a readable Pillow RGC .npz file: {err}") from err
        trains = _split_trains(path, times, offsets)
    else:
        raise FileNotFoundError(f"no RGC data at {path}: give the .npz file or the data_RGCs folder.")
    selected = list(range(len(trains))) if cells is None else list(cells)
    for c in selected:
        if not 0 <= c < len(trains):
            raise ValueError(f"cell index {c} out of range: the data hold {len(trains)} cells (0-based indices).")
    n_frames = len(stim)
    return SpikeData.from_spike_times(
        [np.sort(trains[c]) for c in selected], dt=frame_dt, t_start=0.0, t_stop=n_frames * frame_dt,
        stimulus=stim[:, None], neuron_names=tuple(f"cell{ids[c]}-{types[c]}" for c in selected),
    )


def load_npz(path) -> SpikeData:
    """A user's recording from ``.npz``.

    Accepted layouts (no pickles):

    * ``counts`` ``[T, N]`` and ``dt``; optional ``stimulus`` ``[T, D]``, ``neuron_names`` and ``trial_starts``
      (the bins where each trial of a concatenated recording begins, first 0; see :class:`SpikeData`);
    * ``spike_times`` (concatenated, seconds) with ``spike_offsets`` ``[N + 1]``, ``dt``, ``t_stop``;
      optional ``t_start``, ``stimulus``, ``neuron_names``. Neuron ``i``'s spikes are
      ``spike_times[spike_offsets[i]:spike_offsets[i + 1]]``, so the offsets must be integers that start
      at 0, never decrease and end at ``len(spike_times)``;
    * the Pillow RGC re-packaging (keys ``stim``, ``frame_dt``, ...), read by :func:`load_pillow_rgc`.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        Naming the file: it is not an ``.npz`` archive, it is truncated or corrupted, it holds pickled
        objects (never loaded), its keys fit no layout, or its ``spike_offsets`` are invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    f = read_npz_arrays(path)
    keys = set(f)
    if {"stim", "frame_dt", "spike_times", "spike_offsets"} <= keys:
        return load_pillow_rgc(path)
    names = tuple(str(n) for n in f["neuron_names"]) if "neuron_names" in keys else ()
    stimulus = np.asarray(f["stimulus"]) if "stimulus" in keys else None
    if "dt" not in keys:
        raise ValueError(f"{path} has no 'dt' (bin width in seconds).")
    dt = float(f["dt"])
    if "counts" in keys:
        trial_starts = np.asarray(f["trial_starts"]) if "trial_starts" in keys else None
        return SpikeData(np.asarray(f["counts"]), dt=dt, stimulus=stimulus, neuron_names=names,
                         trial_starts=trial_starts)
    if {"spike_times", "spike_offsets", "t_stop"} <= keys:
        trains = _split_trains(path, f["spike_times"], f["spike_offsets"])
        t_start = float(f["t_start"]) if "t_start" in keys else 0.0
        return SpikeData.from_spike_times(trains, dt, t_start, float(f["t_stop"]), stimulus, names)
    raise ValueError(
        f"{path} holds keys {sorted(keys)}; expected 'counts' + 'dt', or 'spike_times' + 'spike_offsets' + "
        "'dt' + 't_stop' (see probsnn.datasets.load_npz)."
    )
