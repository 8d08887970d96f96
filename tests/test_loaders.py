"""Loaders: one set of spike trains written as NWB, phy, neo, pynapple and .npz reads back as one SpikeData.

The spike trains lie on the ticks of a 20 kHz clock and the bins are 100 ticks wide, so the reference counts
are exact integer arithmetic on the sample indices (``sample // 100``), independent of any float binning.
The stimulus is sampled at 1 kHz, five samples per bin; its reference is the mean of each block of five.
"""
import dataclasses
import sys
from datetime import datetime, timezone

import numpy as np
import pytest

import probsnn as ps
from probsnn import basis, datasets

pynwb = pytest.importorskip("pynwb")
nap = pytest.importorskip("pynapple")
neo = pytest.importorskip("neo")
pq = pytest.importorskip("quantities")

SAMPLE_RATE = 20_000  # Hz: the phy clock
SAMPLES_PER_BIN = 100
DT = SAMPLES_PER_BIN / SAMPLE_RATE  # 5 ms
N_BINS = 2000  # 10 s
DURATION = N_BINS * DT
STIMULUS_RATE = 1000.0  # Hz, 5 samples per bin
UNIT_IDS = (3, 5, 8, 11)
QUALITY = ("good", "good", "noise", "good")
GOOD = [0, 1, 3]  # rows of the good units


@pytest.fixture(scope="module")
def recording():
    """Spike samples per unit (sorted), the stimulus samples, and the exact reference counts and stimulus."""
    rng = np.random.default_rng(0)
    samples = [np.sort(rng.choice(N_BINS * SAMPLES_PER_BIN, size=n, replace=False)) for n in (300, 450, 200, 380)]
    samples[1][0] = 0  # a spike on the first edge, t = 0
    samples[3][-1] = N_BINS * SAMPLES_PER_BIN - 1  # one tick before the end
    samples[3] = np.sort(samples[3])
    stimulus = rng.normal(size=int(DURATION * STIMULUS_RATE))
    counts = np.stack([np.bincount(s // SAMPLES_PER_BIN, minlength=N_BINS) for s in samples], axis=1)
    return dict(samples=samples, times=[s / SAMPLE_RATE for s in samples], stimulus=stimulus, counts=counts,
                binned_stimulus=stimulus.reshape(N_BINS, -1).mean(axis=1, keepdims=True))


@pytest.fixture(scope="module")
def nwb_path(recording, tmp_path_factory):
    nwbfile = pynwb.NWBFile(session_description="loader test", identifier="probsnn-test",
                            session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwbfile.add_unit_column("quality", "curation label")
    for unit_id, train, label in zip(UNIT_IDS, recording["times"], QUALITY):
        nwbfile.add_unit(spike_times=train, id=unit_id, quality=label)
    nwbfile.add_stimulus(pynwb.TimeSeries(name="stim", data=recording["stimulus"], unit="a.u.", starting_time=0.0,
                                          rate=STIMULUS_RATE))
    speed = np.arange(N_BINS // 2, dtype=float)  # behaviour at 100 Hz: one sample every two bins
    module = nwbfile.create_processing_module("behavior", "running")
    module.add(pynwb.TimeSeries(name="speed", data=speed, unit="cm/s", timestamps=np.arange(N_BINS // 2) * 0.01))
    nwbfile.add_trial_column("contrast", "stimulus contrast")
    for start, stop, contrast in ((0.0, 2.5, 0.5), (3.0, 6.25, 1.0), (7.0, 9.5, 0.25)):
        nwbfile.add_trial(start_time=start, stop_time=stop, contrast=contrast)
    path = tmp_path_factory.mktemp("nwb") / "session.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def write_phy(folder, recording, labels_file="cluster_group.tsv"):
    folder.mkdir(parents=True, exist_ok=True)
    samples = np.concatenate(recording["samples"])
    clusters = np.concatenate([np.full(len(s), unit_id) for unit_id, s in zip(UNIT_IDS, recording["samples"])])
    order = np.argsort(samples, kind="stable")  # phy's files are in time order over all clusters
    np.save(folder / "spike_times.npy", samples[order].astype(np.uint64)[:, None])  # Kilosort's (n, 1) layout
    np.save(folder / "spike_clusters.npy", clusters[order].astype(np.int32))
    (folder / "params.py").write_text(
        "dat_path = r'recording.bin'\nn_channels_dat = 385\ndtype = 'int16'\noffset = 0\n"
        f"sample_rate = {float(SAMPLE_RATE)}\nhp_filtered = False\n")
    column = "group" if labels_file == "cluster_group.tsv" else "KSLabel"
    rows = "".join(f"{unit_id}\t{label}\n" for unit_id, label in zip(UNIT_IDS, QUALITY))
    (folder / labels_file).write_text(f"cluster_id\t{column}\n{rows}")
    return folder


@pytest.fixture(scope="module")
def phy_folder(recording, tmp_path_factory):
    return write_phy(tmp_path_factory.mktemp("phy") / "sorting", recording)


def good_segment(recording):
    segment = neo.Segment()
    for row in GOOD:
        segment.spiketrains.append(neo.SpikeTrain(recording["times"][row] * pq.s, t_start=0.0 * pq.s,
                                                  t_stop=DURATION * pq.s, name=f"unit{UNIT_IDS[row]}"))
    return segment


def good_group(recording):
    return nap.TsGroup({UNIT_IDS[row]: nap.Ts(t=recording["times"][row]) for row in GOOD},
                       time_support=nap.IntervalSet(0.0, DURATION))


def stimulus_tsd(recording):
    return nap.Tsd(t=np.arange(len(recording["stimulus"])) / STIMULUS_RATE, d=recording["stimulus"])


@pytest.fixture(scope="module")
def npz_path(recording, tmp_path_factory):
    """The same data in probsnn's own .npz layout (spike_times + spike_offsets), written without the loaders."""
    trains = [recording["times"][row] for row in GOOD]
    path = tmp_path_factory.mktemp("npz") / "session.npz"
    np.savez(path, spike_times=np.concatenate(trains), spike_offsets=np.cumsum([0] + [len(t) for t in trains]),
             dt=DT, t_stop=DURATION, stimulus=recording["binned_stimulus"],
             neuron_names=np.array([f"unit{UNIT_IDS[row]}" for row in GOOD]))
    return path


@pytest.fixture(scope="module")
def loaded(recording, nwb_path, phy_folder, npz_path):
    return {
        "nwb": ps.load_nwb(nwb_path, DT, units="good", stimulus="stim"),
        "phy": ps.load_phy(phy_folder, DT, units="good", t_stop=DURATION),
        "neo": ps.from_neo(good_segment(recording), DT),
        "pynapple": ps.from_pynapple(good_group(recording), DT, covariates=stimulus_tsd(recording)),
        "npz": datasets.load_npz(npz_path),
        "recording(nwb)": ps.load_recording(nwb_path, DT, units="good", stimulus="stim"),
        "recording(phy)": ps.load_recording(phy_folder, DT, t_stop=DURATION),
        "recording(npz)": ps.load_recording(npz_path),
    }


def test_every_format_reads_the_exact_counts_names_and_stimulus(recording, loaded):
    names = tuple(f"unit{UNIT_IDS[row]}" for row in GOOD)
    for source, data in loaded.items():
        np.testing.assert_array_equal(data.counts, recording["counts"][:, GOOD], err_msg=source)
        assert data.neuron_names == names, source
        assert data.dt == DT and data.t_start == 0.0 and data.n_bins == N_BINS, source
        if data.stimulus is not None:
            np.testing.assert_allclose(data.stimulus, recording["binned_stimulus"], rtol=1e-13, atol=1e-15,
                                       err_msg=source)
    with_stimulus = [source for source, data in loaded.items() if data.stimulus is not None]
    assert set(with_stimulus) == {"nwb", "pynapple", "npz", "recording(nwb)", "recording(npz)"}


def glm_network():
    """The fits' network: 3 neurons, stimulus and history filters; one shape, so one compilation for the file."""
    return ps.GLMNetwork(3, stimulus_basis=basis.raised_cosine_linear(3, 8, lag_offset=0),
                         history_basis=basis.raised_cosine_log(3, 20))


def test_map_fits_reach_the_npz_optimum(loaded):
    """phy and neo carry no stimulus, so they get the .npz's beside their spikes."""
    net = glm_network()
    reference = ps.fit_map(net, loaded["npz"], progress=False)
    assert reference.converged.all()
    for source in ("nwb", "pynapple", "phy", "neo"):
        data = loaded[source]
        if data.stimulus is None:
            data = dataclasses.replace(data, stimulus=loaded["npz"].stimulus)
        fit = ps.fit_map(net, data, progress=False)
        np.testing.assert_allclose(fit.log_likelihood, reference.log_likelihood, rtol=1e-10, err_msg=source)


def test_nwb_unit_selection_by_label_id_and_name(recording, nwb_path):
    every = ps.load_nwb(nwb_path, DT, t_stop=DURATION)
    assert every.neuron_names == ("unit3", "unit5", "unit8", "unit11")
    np.testing.assert_array_equal(every.counts, recording["counts"])
    noise = ps.load_nwb(nwb_path, DT, units="noise", t_stop=DURATION)
    np.testing.assert_array_equal(noise.counts[:, 0], recording["counts"][:, 2])
    chosen = ps.load_nwb(nwb_path, DT, units=[11, "unit3"], t_stop=DURATION)  # an id and a name, in that order
    assert chosen.neuron_names == ("unit11", "unit3")
    np.testing.assert_array_equal(chosen.counts, recording["counts"][:, [3, 0]])


def test_nwb_window_counts_only_the_spikes_inside(recording, nwb_path):
    data = ps.load_nwb(nwb_path, DT, units=[5], t_start=1.0, t_stop=3.0, stimulus="stim")
    first, last = int(1.0 / DT), int(3.0 / DT)
    assert data.t_start == 1.0 and data.n_bins == last - first
    np.testing.assert_array_equal(data.counts[:, 0], recording["counts"][first:last, 1])
    np.testing.assert_allclose(data.stimulus, recording["binned_stimulus"][first:last], rtol=1e-13)


def test_behaviour_slower_than_the_bins_is_held(nwb_path):
    """speed is sampled every 10 ms (two bins): bin 2k holds sample k and bin 2k + 1 keeps it (zero-order hold)."""
    data = ps.load_nwb(nwb_path, DT, units=[3], stimulus=["behavior/speed", "stim"], t_stop=DURATION)
    speed = np.arange(N_BINS // 2, dtype=float)
    np.testing.assert_array_equal(data.stimulus[:, 0], np.repeat(speed, 2))
    assert data.n_stimulus_dims == 2


def test_irregular_samples_resampled_by_bin_mean_and_hold_match_integer_arithmetic(recording):
    """Covariate samples at random ticks of a 10 kHz clock (50 ticks a bin): the reference is computed on the
    integer ticks, the mean of the samples with tick in [50 k, 50 k + 50), else the last sample before."""
    rng = np.random.default_rng(2)
    ticks = np.sort(rng.choice(N_BINS * 50, size=1500, replace=False))
    ticks[0], ticks[-1] = 0, N_BINS * 50 - 1  # the samples span the recording
    values = rng.normal(size=(len(ticks), 2))
    expected = np.empty((N_BINS, 2))
    for k in range(N_BINS):
        inside = (ticks >= 50 * k) & (ticks < 50 * (k + 1))
        expected[k] = values[inside].mean(axis=0) if inside.any() else values[ticks < 50 * k][-1]
    covariate = nap.TsdFrame(t=ticks / 10_000, d=values, columns=["x", "y"])
    data = ps.from_pynapple(good_group(recording), DT, covariates=[covariate, stimulus_tsd(recording)])
    np.testing.assert_allclose(data.stimulus[:, :2], expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(data.stimulus[:, 2:], recording["binned_stimulus"], rtol=1e-13)


def test_nwb_reads_only_the_selected_units_spike_times(nwb_path, monkeypatch):
    import h5py

    reads = []
    original = h5py.Dataset.__getitem__

    def logged(dataset, key):
        if dataset.name == "/units/spike_times":
            reads.append(key)
        return original(dataset, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", logged)
    ps.load_nwb(nwb_path, DT, units=[8], t_stop=DURATION)
    with pynwb.NWBHDF5IO(str(nwb_path), "r") as io:
        ends = io.read().units["spike_times"].data[:]
    assert reads == [slice(ends[1], ends[2])]  # unit 8 is row 2: one slice of the spike times, nothing else


def test_default_windows_count_every_spike():
    """A recording end off the bin grid is rounded up, and a spike at neo's t_stop itself is still counted."""
    train = neo.SpikeTrain([0.001, 0.0123] * pq.s, t_stop=0.0123 * pq.s)
    np.testing.assert_array_equal(ps.from_neo([train], DT).counts[:, 0], [1, 0, 1])
    group = nap.TsGroup({0: nap.Ts(t=np.array([0.001, 0.0123]))})  # time_support [0.001, 0.0123]
    data = ps.from_pynapple(group, DT)
    assert data.t_start == 0.001
    np.testing.assert_array_equal(data.counts[:, 0], [1, 0, 1])


def test_stimulus_that_does_not_cover_the_window_is_refused(nwb_path):
    with pytest.raises(ValueError, match="ends at .* before the last bin ends"):
        ps.load_nwb(nwb_path, DT, stimulus="stim", t_stop=DURATION + 1.0)
    with pytest.raises(ValueError, match="no TimeSeries 'running'.*behavior/speed"):
        ps.load_nwb(nwb_path, DT, stimulus="running")


def test_nwb_trials_read_as_intervals(nwb_path):
    trials = ps.read_nwb_intervals(nwb_path)
    np.testing.assert_array_equal(trials, [[0.0, 2.5], [3.0, 6.25], [7.0, 9.5]])
    bounds, columns = ps.read_nwb_intervals(nwb_path, "trials", columns=["contrast"])
    np.testing.assert_array_equal(bounds, trials)
    np.testing.assert_array_equal(columns["contrast"], [0.5, 1.0, 0.25])
    with pytest.raises(ValueError, match="no such interval table; its tables are \\['trials'\\]"):
        ps.read_nwb_intervals(nwb_path, "epochs")
    with pytest.raises(ValueError, match="no column 'orientation'"):
        ps.read_nwb_intervals(nwb_path, columns=["orientation"])


def test_nwb_trials_become_the_trials_of_the_data(recording, nwb_path):
    """trials='trials': the bins of each trial (0-2.5 s, 3-6.25 s, 7-9.5 s: 500, 650 and 500 bins of 5 ms) are the
    data, concatenated, with the trial starts marked; counts and stimulus equal the integer-tick reference cut
    at the same bins, and the spikes between trials are left out."""
    data = ps.load_nwb(nwb_path, DT, units="good", stimulus="stim", trials="trials")
    pieces = [(0, 500), (600, 1250), (1400, 1900)]
    counts = np.concatenate([recording["counts"][a:b][:, GOOD] for a, b in pieces])
    stimulus = np.concatenate([recording["binned_stimulus"][a:b] for a, b in pieces])
    assert data.trial_starts == (0, 500, 1150) and data.n_trials == 3
    np.testing.assert_array_equal(data.counts, counts)
    np.testing.assert_allclose(data.stimulus, stimulus, rtol=1e-12, atol=1e-12)
    assert data.t_start == 0.0 and data.neuron_names == ("unit3", "unit5", "unit11")
    with pytest.raises(ValueError, match="trials must name an interval table"):
        ps.load_nwb(nwb_path, DT, trials="trials", t_stop=5.0)
    with pytest.raises(ValueError, match="no such interval table"):
        ps.load_nwb(nwb_path, DT, trials="epochs")


def test_nwb_units_recorded_in_part_of_the_session_are_masked_not_zero_filled(tmp_path):
    """obs_intervals: the bins outside a unit's recorded intervals are unobserved (left out of the likelihood), a
    bin that overlaps an interval is observed; with trials, each trial's bins are masked the same way. The fit's
    log-likelihood equals statsmodels' Poisson GLM on the observed bins only."""
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    nwbfile = pynwb.NWBFile(session_description="partial units", identifier="probsnn-obs",
                            session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    always = np.sort(rng.uniform(0, 10, 400))
    late = np.sort(rng.uniform(4.0, 10, 250))  # recorded from 4.003 s on: bin 800 (4.000-4.005 s) overlaps
    nwbfile.add_unit(spike_times=always, obs_intervals=[[0.0, 10.0]])
    nwbfile.add_unit(spike_times=late, obs_intervals=[[4.003, 10.0]])
    path = tmp_path / "partial.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    data = ps.load_nwb(path, DT, t_stop=10.0)
    assert data.observed is not None and data.observed[:, 0].all()
    assert not data.observed[:800, 1].any() and data.observed[800:, 1].all()
    net = ps.GLMNetwork(2, history_basis=basis.raised_cosine_log(2, 10), coupling=False)
    fit = ps.fit_map(net, data, progress=False)
    design = np.asarray(net.design_matrix(data))
    keep = data.observed[:, 1]
    columns = np.flatnonzero(np.asarray(net.feature_mask)[1])
    reference = sm.GLM(data.counts[keep, 1], design[keep][:, columns], family=sm.families.Poisson()).fit(tol=1e-12)
    assert fit.log_likelihood_per_neuron[1] == pytest.approx(reference.llf, rel=1e-9)
    # with trials (0-3 s and 3.5-8 s): the second unit is unobserved in trial 0 and from bin 100 of trial 1 on
    # (3.5 s + 100 bins = 4.0 s, the bin that overlaps 4.003 s) observed
    nwbfile = pynwb.NWBFile(session_description="partial units", identifier="probsnn-obs2",
                            session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwbfile.add_unit(spike_times=always, obs_intervals=[[0.0, 10.0]])
    nwbfile.add_unit(spike_times=late, obs_intervals=[[4.003, 10.0]])
    for start, stop in ((0.0, 3.0), (3.5, 8.0)):
        nwbfile.add_trial(start_time=start, stop_time=stop)
    with pynwb.NWBHDF5IO(str(tmp_path / "trials.nwb"), "w") as io:
        io.write(nwbfile)
    by_trial = ps.load_nwb(tmp_path / "trials.nwb", DT, trials="trials")
    assert by_trial.trial_starts == (0, 600) and by_trial.n_bins == 1500
    assert not by_trial.observed[:700, 1].any() and by_trial.observed[700:, 1].all()


def test_nwb_epochs_with_their_ragged_tags(tmp_path):
    nwbfile = pynwb.NWBFile(session_description="epochs", identifier="epochs",
                            session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwbfile.add_epoch(start_time=0.0, stop_time=1.5, tags=["baseline"])
    nwbfile.add_epoch(start_time=2.0, stop_time=4.0, tags=["drug", "late"])
    path = tmp_path / "epochs.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    bounds, columns = ps.read_nwb_intervals(path, "epochs", columns=["tags"])
    np.testing.assert_array_equal(bounds, [[0.0, 1.5], [2.0, 4.0]])
    assert [list(tags) for tags in columns["tags"]] == [["baseline"], ["drug", "late"]]
    with pytest.raises(ValueError, match="has no Units table"):
        ps.load_nwb(path, DT)


def test_nwb_bad_units_are_refused_with_the_choices(nwb_path):
    with pytest.raises(ValueError, match=r"no unit 4 in the recording; its unit ids are \[3, 5, 8, 11\]"):
        ps.load_nwb(nwb_path, DT, units=[3, 4])
    with pytest.raises(ValueError, match=r"units='great'.*labels found: \['good', 'noise'\]"):
        ps.load_nwb(nwb_path, DT, units="great")
    with pytest.raises(ValueError, match="no column quality_column='curation'"):
        ps.load_nwb(nwb_path, DT, units="good", quality_column="curation")
    with pytest.raises(TypeError, match="unit ids"):
        ps.load_nwb(nwb_path, DT, units=[3.0])
    with pytest.raises(ValueError, match=r"name_column='label' is not a column of the Units table; its columns "
                                         r"are \['quality', 'spike_times'\]"):
        ps.load_nwb(nwb_path, DT, name_column="label")
    with pytest.raises(ValueError, match="dt"):
        ps.load_nwb(nwb_path, -0.001)


def test_a_file_that_is_not_nwb_is_refused(tmp_path):
    fake = tmp_path / "session.nwb"
    fake.write_text("not an HDF5 file\n")
    with pytest.raises(ValueError, match="not an NWB file: it has no HDF5 signature"):
        ps.load_nwb(fake, DT)
    with pytest.raises(ValueError, match="neither HDF5 \\(NWB\\), a zip archive \\(.npz\\), nor a phy folder"):
        ps.load_recording(fake, DT)
    with pytest.raises(FileNotFoundError):
        ps.load_recording(tmp_path / "missing.nwb", DT)
    with pytest.raises(ValueError, match="folder but not phy"):
        ps.load_recording(tmp_path, DT)


def test_load_recording_npz_is_not_rebinned(npz_path):
    with pytest.raises(ValueError, match="already binned at dt=0.005"):
        ps.load_recording(npz_path, 0.001)
    with pytest.raises(TypeError, match="takes no options"):
        ps.load_recording(npz_path, units="good")


def test_load_recording_needs_dt_to_bin_spike_times(phy_folder, nwb_path):
    for path in (phy_folder, nwb_path):
        with pytest.raises(ValueError, match="dt is needed to bin the spike times"):
            ps.load_recording(path)


def test_phy_units_and_labels(recording, tmp_path):
    folder = write_phy(tmp_path / "ks", recording, labels_file="cluster_KSLabel.tsv")
    good = ps.load_phy(folder, DT, t_stop=DURATION)  # Kilosort's own labels when there is no manual curation
    np.testing.assert_array_equal(good.counts, recording["counts"][:, GOOD])
    every = ps.load_phy(folder, DT, units=None)
    assert every.neuron_names == ("unit3", "unit5", "unit8", "unit11")
    np.testing.assert_array_equal(every.counts, recording["counts"])  # the last spike is in the last bin
    (folder / "cluster_KSLabel.tsv").unlink()
    with pytest.raises(ValueError, match="neither cluster_group.tsv nor cluster_KSLabel.tsv"):
        ps.load_phy(folder, DT)
    with pytest.raises(ValueError, match=r"no unit 7 .*unit ids are \[3, 5, 8, 11\]"):
        ps.load_phy(folder, DT, units=[3, 7])


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "params.py").unlink(), r"lacks \['params.py'\]"),
    (lambda f: (f / "params.py").write_text("import os\nsample_rate = 30000.\n"), "line 1: params.py is read as data"),
    (lambda f: (f / "params.py").write_text("sample_rate = float('3e4')\n"), "sample_rate is not a literal"),
    (lambda f: (f / "params.py").write_text("dtype = 'int16'\n"), "sets no sample_rate"),
    (lambda f: (f / "params.py").write_text("sample_rate = -1\n"), "sample_rate .* must be a finite number"),
    (lambda f: np.save(f / "spike_clusters.npy", np.zeros(3, np.int32)), "must be one per spike"),
    (lambda f: np.save(f / "spike_times.npy", np.array([0.5, 1.0])), "must hold integers"),
    (lambda f: np.save(f / "spike_times.npy", np.array([{"a": 1}], dtype=object)), "never unpickles"),
    (lambda f: (f / "cluster_group.tsv").write_text("id\tlabel\n3\tgood\n"), "must have the columns"),
])
def test_bad_phy_folders_are_refused(recording, tmp_path, damage, message):
    folder = write_phy(tmp_path / "ks", recording)
    damage(folder)
    with pytest.raises(ValueError, match=message):
        ps.load_phy(folder, DT)


def test_params_py_is_never_executed(recording, tmp_path):
    folder = write_phy(tmp_path / "ks", recording)
    marker = tmp_path / "executed"
    (folder / "params.py").write_text(f"sample_rate = 20000.0\nopen({str(marker)!r}, 'w').close()\n")
    with pytest.raises(ValueError, match="line 2"):
        ps.load_phy(folder, DT)
    assert not marker.exists()


def test_neo_times_in_milliseconds_are_converted(recording):
    train = neo.SpikeTrain(recording["samples"][0] / 20.0 * pq.ms, t_start=0.0 * pq.ms,
                           t_stop=DURATION * 1000.0 * pq.ms)
    data = ps.from_neo([train], 5.0 * pq.ms)  # dt as a quantity too
    np.testing.assert_array_equal(data.counts[:, 0], recording["counts"][:, 0])
    assert data.neuron_names == ("unit0",)
    half = ps.from_neo([train], DT, t_start=1000.0 * pq.ms, t_stop=2.0)
    np.testing.assert_array_equal(half.counts[:, 0], recording["counts"][200:400, 0])
    with pytest.raises(ValueError, match="t_stop must be a time"):
        ps.from_neo([train], DT, t_stop=2.0 * pq.mV)
    with pytest.raises(TypeError, match="not a neo.SpikeTrain"):
        ps.from_neo([recording["times"][0]], DT)
    with pytest.raises(TypeError, match="a neo.Segment or a list of neo.SpikeTrain, got ndarray"):
        ps.from_neo(recording["times"][0], DT)


def test_pynapple_epochs_names_and_rates_back(recording):
    group = good_group(recording)
    group.set_info(label=["a", "b", "c"])
    epoch = nap.IntervalSet(start=2.0, end=4.0)
    data = ps.from_pynapple(group, DT, covariates=stimulus_tsd(recording), epochs=epoch, name_column="label")
    assert data.neuron_names == ("a", "b", "c") and data.t_start == 2.0 and data.n_bins == 400
    np.testing.assert_array_equal(data.counts, recording["counts"][400:800][:, GOOD])
    np.testing.assert_allclose(data.stimulus, recording["binned_stimulus"][400:800], rtol=1e-13)
    # several epochs are the trials: each binned from its start, the same bins as the NWB trials table gives
    by_epoch = ps.from_pynapple(group, DT, covariates=stimulus_tsd(recording),
                                epochs=nap.IntervalSet(start=[0.0, 3.0, 7.0], end=[2.5, 6.25, 9.5]))
    nwb_trials_reference = np.concatenate([recording["counts"][a:b][:, GOOD] for a, b in ((0, 500), (600, 1250),
                                                                                        (1400, 1900))])
    assert by_epoch.trial_starts == (0, 500, 1150)
    np.testing.assert_array_equal(by_epoch.counts, nwb_trials_reference)
    with pytest.raises(TypeError, match="TsGroup"):
        ps.from_pynapple(recording["times"], DT)

    rates = np.random.default_rng(1).uniform(size=data.counts.shape)
    frame = ps.to_pynapple_rates(rates, data)
    assert isinstance(frame, nap.TsdFrame) and list(frame.columns) == ["a", "b", "c"]
    np.testing.assert_allclose(frame.t, 2.0 + (np.arange(400) + 0.5) * DT, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(frame.values, rates)
    with pytest.raises(ValueError, match=r"rates must have shape \(T, N\) = \(400, 3\)"):
        ps.to_pynapple_rates(rates[:, :2], data)


@pytest.mark.parametrize("module, call, extra", [
    ("pynwb", lambda: ps.load_nwb("x.nwb", DT), "nwb"),
    ("pynwb", lambda: ps.read_nwb_intervals("x.nwb"), "nwb"),
    ("pynapple", lambda: ps.from_pynapple(None, DT), "pynapple"),
    ("pynapple", lambda: ps.to_pynapple_rates(None, None), "pynapple"),
    ("neo", lambda: ps.from_neo([], DT), "neo"),
])
def test_a_missing_extra_names_the_pip_install(monkeypatch, module, call, extra):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    with pytest.raises(ImportError, match=rf"needs {module}: pip install 'probsnn\[{extra}\]'"):
        call()


# ------------------------------------------------------------------------------------------- the real recording
RGC_CELLS = [0, 2, 3]
RGC_FRAMES = N_BINS  # 17 s of the 20 min recording, the shape of the fits above


def test_rgc_recording_round_trips_through_nwb_and_fits_the_same(rgc_path, tmp_path):
    """Pillow's RGC data written as NWB (three cells, 17 s, never saved outside tmp_path) reads back identical."""
    arrays = datasets.read_npz_arrays(rgc_path)
    offsets = arrays["spike_offsets"]
    trains = [arrays["spike_times"][offsets[c]:offsets[c + 1]] for c in RGC_CELLS]
    frame_dt = float(arrays["frame_dt"])
    direct = datasets.load_pillow_rgc(rgc_path, cells=RGC_CELLS).time_slice(0, RGC_FRAMES)

    nwbfile = pynwb.NWBFile(session_description="rgc", identifier="rgc",
                            session_start_time=datetime(2005, 1, 1, tzinfo=timezone.utc))
    nwbfile.add_unit_column("unit_name", "cell id and type")
    for cell, train in zip(RGC_CELLS, trains):
        nwbfile.add_unit(spike_times=train, unit_name=direct.neuron_names[RGC_CELLS.index(cell)])
    nwbfile.add_stimulus(pynwb.TimeSeries(name="stim", data=arrays["stim"], unit="contrast", starting_time=0.0,
                                          rate=1.0 / frame_dt))
    path = tmp_path / "rgc.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)

    data = ps.load_nwb(path, frame_dt, stimulus="stim", t_stop=RGC_FRAMES * frame_dt, name_column="unit_name")
    assert data.neuron_names == direct.neuron_names and data.dt == direct.dt
    np.testing.assert_array_equal(data.counts, direct.counts)
    np.testing.assert_array_equal(data.stimulus, direct.stimulus)

    net = glm_network()
    fit, reference = ps.fit_map(net, data, progress=False), ps.fit_map(net, direct, progress=False)
    assert reference.converged.all()
    np.testing.assert_allclose(fit.log_likelihood, reference.log_likelihood, rtol=1e-10)
    np.testing.assert_allclose(net.flatten(fit.params), net.flatten(reference.params), rtol=1e-8, atol=1e-10)


def test_a_new_users_nwb_session_through_the_command_line(nwb_path, tmp_path, capsys):
    """probsnn fit --data session.nwb --units good --trials --stimulus stim, then probsnn report and probsnn
    simulate of its fit.nc: each exits 0 and writes what its help says; the fit keeps the three good units, the
    trials and the stimulus, and the simulation restarts at the trials within its bins."""
    import json

    from probsnn import cli

    out = tmp_path / "r"
    assert cli.main(["fit", "--data", str(nwb_path), "--units", "good", "--trials", "--stimulus", "stim",
                     "--dt", str(DT), "--stimulus-basis", "3", "--history-basis", "3", "--out", str(out),
                     "--quiet"]) == 0
    table = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert {"fit.nc", "summary.json", "params.npz", "filters.png"} <= set(summary["files"])
    fit = ps.load_fit(out / "fit.nc")
    assert fit.network.neuron_names == ("unit3", "unit5", "unit11") and fit.network.n_stimulus_dims == 1
    assert fit.data.trial_starts == (0, 500)  # the training part: the first two trials (the third is held out)
    assert cli.main(["report", str(out / "fit.nc"), "--out", str(tmp_path / "again")]) == 0
    assert capsys.readouterr().out == table
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(p.name for p in out.iterdir())
    assert cli.main(["simulate", str(out / "fit.nc"), "--steps", "900", "--seed", "1", "--out",
                     str(tmp_path / "sim")]) == 0
    simulated = datasets.load_npz(tmp_path / "sim" / "spikes.npz")
    assert simulated.counts.shape == (900, 3) and simulated.trial_starts == (0, 500)
    assert (tmp_path / "sim" / "raster.png").stat().st_size > 0
    # options that do not fit the data kind are refused in one line, before any work
    assert cli.main(["fit", "--data", str(nwb_path), "--units", "good", "--recording", "1",
                     "--out", str(tmp_path / "x")]) == 2
    assert "--recording applies to the default" in capsys.readouterr().err
    assert cli.main(["fit", "--trials", "--out", str(tmp_path / "y")]) == 2
    assert "--trials does not apply" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
