"""Loaders: nitime's grasshopper recordings, Pillow's RGC files (.mat folder and .npz), user .npz."""
import numpy as np
import pytest
from scipy.io import savemat

from probsnn import datasets


def test_grasshopper_recordings():
    data = datasets.load_grasshopper(1, dt=0.001)
    assert data.n_bins == 10_000 and data.n_neurons == 1
    assert data.n_spikes[0] == 929  # every spike of the file, none dropped
    assert data.is_binary
    np.testing.assert_allclose(data.stimulus.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.stimulus.std(), 1.0)
    raw = datasets.load_grasshopper(2, dt=0.0005, standardize=False)
    assert raw.n_bins == 20_000 and raw.n_spikes[0] == 868
    # bin averages of the 20 kHz stimulus: the first bin averages the first 10 samples of the file
    from importlib import resources

    table = np.loadtxt(str(resources.files("nitime") / "data" / "grasshopper_stimulus2.txt"))
    np.testing.assert_allclose(raw.stimulus[0, 0], table[:10, 1].mean())


@pytest.mark.parametrize("kwargs, message", [(dict(recording=3), "recording"), (dict(dt=0.00012), "multiple of 50 us")])
def test_grasshopper_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        datasets.load_grasshopper(**kwargs)


def _fake_rgc(tmp_path):
    rng = np.random.default_rng(0)
    frame_dt = 0.00834
    stim = rng.choice([-0.48, 0.48], size=500)
    trains = [np.sort(rng.uniform(0, 500 * frame_dt, size=n)) for n in (40, 30, 60, 50)]
    folder = tmp_path / "data_RGCs"
    folder.mkdir()
    savemat(folder / "Stim.mat", {"Stim": stim[:, None]})
    savemat(folder / "stimtimes.mat", {"stimtimes": ((np.arange(500) + 1) * frame_dt)[:, None]})
    cells = np.empty((1, 4), dtype=object)
    for i, train in enumerate(trains):
        cells[0, i] = train[:, None]
    savemat(folder / "SpTimes.mat", {"SpTimes": cells})
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in trains])])
    np.savez(tmp_path / "rgc.npz", stim=stim, stim_times=(np.arange(500) + 1) * frame_dt, frame_dt=frame_dt,
             spike_times=np.concatenate(trains), spike_offsets=offsets, cell_ids=np.arange(1, 5),
             cell_types=np.array(["OFF", "OFF", "ON", "ON"]))
    return folder, tmp_path / "rgc.npz", trains, stim, frame_dt


def test_pillow_loader_reads_mat_folder_and_npz_identically(tmp_path):
    folder, npz, trains, stim, frame_dt = _fake_rgc(tmp_path)
    from_mat = datasets.load_pillow_rgc(folder)
    from_npz = datasets.load_pillow_rgc(npz)
    np.testing.assert_array_equal(from_mat.counts, from_npz.counts)
    edges = np.arange(501) * frame_dt
    for i, train in enumerate(trains):
        np.testing.assert_array_equal(from_npz.counts[:, i], np.histogram(train, edges)[0])
    np.testing.assert_array_equal(from_npz.stimulus[:, 0], stim)
    assert from_npz.neuron_names == ("cell1-OFF", "cell2-OFF", "cell3-ON", "cell4-ON")
    assert datasets.load_pillow_rgc(npz, cells=[2]).neuron_names == ("cell3-ON",)
    with pytest.raises(ValueError, match="out of range"):
        datasets.load_pillow_rgc(npz, cells=[4])


def test_load_npz_layouts_and_errors(tmp_path):
    counts = np.random.default_rng(1).poisson(0.2, size=(100, 2))
    np.savez(tmp_path / "counts.npz", counts=counts, dt=0.002, neuron_names=np.array(["a", "b"]))
    data = datasets.load_npz(tmp_path / "counts.npz")
    np.testing.assert_array_equal(data.counts, counts)
    assert data.neuron_names == ("a", "b") and data.dt == 0.002
    np.savez(tmp_path / "times.npz", spike_times=np.array([0.01, 0.05, 0.02]), spike_offsets=np.array([0, 2, 3]),
             dt=0.01, t_stop=0.1)
    times = datasets.load_npz(tmp_path / "times.npz")
    assert times.n_spikes.tolist() == [2, 1]
    np.savez(tmp_path / "bad.npz", something=np.zeros(3), dt=0.1)
    with pytest.raises(ValueError, match="expected 'counts'"):
        datasets.load_npz(tmp_path / "bad.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot read"):
        datasets.load_npz(tmp_path / "garbage.npz")
    with pytest.raises(FileNotFoundError):
        datasets.load_npz(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    "offsets, why",
    [
        ([0, 2], "end at len"),                 # 2 of 5 spikes would be loaded
        ([0, 4, 2, 5], "non-decreasing"),       # spikes 2..3 would be loaded twice (7 spikes)
        ([0.0, 2.5, 5.0], "integers"),          # 2.5 would be truncated to 2
        ([1, 3, 5], "start at 0"),              # spike 0 would be dropped
        ([0, 3, 7], "end at len"),              # past the end: slicing would silently stop at 5
        ([5], "at least 2"),
        (np.array([[0, 5]]), "1-D"),
        (np.array([False, True]), "integers"),
    ],
)
def test_load_npz_refuses_bad_spike_offsets(tmp_path, offsets, why):
    path = tmp_path / "times.npz"
    np.savez(path, spike_times=np.array([0.1, 0.2, 0.3, 0.4, 0.5]), spike_offsets=np.asarray(offsets),
             dt=0.01, t_stop=1.0)
    with pytest.raises(ValueError, match=why) as info:
        datasets.load_npz(path)
    message = str(info.value)
    assert str(path) in message and "'spike_offsets'" in message and "np.cumsum" in message


def test_load_npz_accepts_valid_offsets_and_keeps_every_spike(tmp_path):
    path = tmp_path / "times.npz"
    np.savez(path, spike_times=np.array([0.1, 0.2, 0.3, 0.4, 0.5]), spike_offsets=np.array([0.0, 2.0, 2.0, 5.0]),
             dt=0.01, t_stop=1.0)
    data = datasets.load_npz(path)
    assert data.n_spikes.tolist() == [2, 0, 3]


def test_pillow_npz_refuses_bad_spike_offsets(tmp_path):
    _, npz, *_ = _fake_rgc(tmp_path)
    arrays = dict(np.load(npz))
    arrays["spike_offsets"] = arrays["spike_offsets"][:-1]  # the last cell's spikes would be dropped
    np.savez(tmp_path / "short.npz", **arrays)
    for load in (datasets.load_pillow_rgc, datasets.load_npz):
        with pytest.raises(ValueError, match="spike_offsets' must end at len"):
            load(tmp_path / "short.npz")


def _damaged_archives(tmp_path):
    arrays = dict(counts=np.random.default_rng(0).poisson(0.3, size=(2000, 3)), dt=0.001)
    np.savez(tmp_path / "plain.npz", **arrays)
    np.savez_compressed(tmp_path / "packed.npz", **arrays)
    plain, packed = (tmp_path / "plain.npz").read_bytes(), (tmp_path / "packed.npz").read_bytes()
    damaged = {
        "truncated.npz": plain[: len(plain) // 2],          # no central directory: BadZipFile
        "truncated_tail.npz": plain[:-30],
        "empty.npz": b"",
        "text.npz": b"counts,dt\n1,0.001\n",                # a text file renamed .npz
        "array.npz": None,                                  # a single .npy renamed .npz
    }
    body = plain.index(b"\x93NUMPY", plain.index(b"counts.npy"))
    flipped = bytearray(plain)
    flipped[body + 200] ^= 0xFF                            # CRC mismatch in the counts member
    damaged["crc.npz"] = bytes(flipped)
    start = packed.index(b"counts.npy") + len(b"counts.npy")
    scrambled = bytearray(packed)
    scrambled[start + 20 : start + 60] = b"\xff" * 40       # broken deflate stream: zlib.error
    damaged["zlib.npz"] = bytes(scrambled)
    for name, content in damaged.items():
        if content is None:
            np.save(tmp_path / "array.npy", arrays["counts"])
            (tmp_path / "array.npy").rename(tmp_path / name)
        else:
            (tmp_path / name).write_bytes(content)
    return sorted(damaged)


def test_load_npz_damaged_files_give_one_value_error(tmp_path, monkeypatch):
    loads = []
    real_load = np.load

    def spy(*args, **kwargs):
        loads.append(kwargs.get("allow_pickle", False))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    for name in _damaged_archives(tmp_path):
        path = tmp_path / name
        with pytest.raises(ValueError) as info:
            datasets.load_npz(path)
        assert type(info.value) is ValueError, name
        message = str(info.value)
        assert str(path) in message and "pickled data" not in message, (name, message)
        with pytest.raises(ValueError, match="cannot read"):
            datasets.load_pillow_rgc(path)
    assert not any(loads)  # never allow_pickle=True


def test_load_npz_corrupted_member_is_reported_as_corrupted(tmp_path):
    _damaged_archives(tmp_path)
    for name in ("crc.npz", "zlib.npz", "truncated_tail.npz"):
        with pytest.raises(ValueError, match="truncated or corrupted|not an .npz"):
            datasets.load_npz(tmp_path / name)
    with pytest.raises(ValueError, match="text or other file renamed"):
        datasets.load_npz(tmp_path / "text.npz")
    with pytest.raises(ValueError, match="single .npy array"):
        datasets.load_npz(tmp_path / "array.npz")


def test_files_that_are_not_npz_archives_say_so_and_only_pickles_are_called_pickled(tmp_path):
    """A text file that happens to start with "PK", a zip archive of other files, and a zip member without a
    .npy header are not .npz archives (not "truncated", not "pickled"); only object arrays are pickled."""
    import zipfile

    (tmp_path / "pk_text.npz").write_bytes(b"PKG-INFO\nName: probsnn\n")
    with zipfile.ZipFile(tmp_path / "notes.npz", "w") as archive:
        archive.writestr("readme.txt", "counts are in counts.csv")
    with zipfile.ZipFile(tmp_path / "text_member.npz", "w") as archive:
        archive.writestr("counts.npy", "1,0,2\n0,0,1\n")
    for name, why in (("pk_text.npz", "no zip signature"), ("notes.npz", "holding 'readme.txt'"),
                      ("text_member.npz", "member 'counts.npy' is not a valid .npy array")):
        with pytest.raises(ValueError) as info:
            datasets.read_npz_arrays(tmp_path / name)
        message = str(info.value)
        assert "it is not a .npz archive" in message and why in message, (name, message)
        assert "pickle" not in message and "truncated" not in message, (name, message)
    np.savez(tmp_path / "objects.npz", counts=np.array([{"spikes": 1}], dtype=object))
    with pytest.raises(ValueError, match="array 'counts' holds pickled Python objects.*never unpickles"):
        datasets.read_npz_arrays(tmp_path / "objects.npz")
    (tmp_path / "cut.npz").write_bytes(b"PK")  # a real archive cut inside its signature is still "truncated"
    with pytest.raises(ValueError, match="truncated or corrupted"):
        datasets.read_npz_arrays(tmp_path / "cut.npz")
