"""The `probsnn fit` command: the default job end to end, and one-line errors for bad input.

Bad options, data that do not fit them and report folders that cannot be written are refused in one line with
exit status 2, before any fitting and without leaving a folder; an interrupted run leaves no summary that
passes for a finished one. (The `probsnn stream` options are covered here too; its runs in test_streaming.py.)
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from probsnn import cli


def test_fit_default_data_writes_the_report(tmp_path, capsys):
    out = tmp_path / "report"
    assert cli.main(["fit", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "bits/spk test" in printed and "history" in printed
    for name in ("filters.png", "raster_rate.png", "ks.png", "params.npz", "summary.json"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["model"]: r for r in summary["rows"]}
    assert set(rows) == {"stimulus", "history"}
    assert all(r["converged"] for r in rows.values())
    # spike history adds information on held-out data as well as on the training data
    assert rows["history"]["test_bits_per_spike"] > rows["stimulus"]["test_bits_per_spike"] > 0
    with np.load(out / "params.npz") as params:
        assert params["history__coupling_weights"].shape == (1, 1, 8)
        assert np.all(params["history__coupling_weights_se"] > 0)


def test_fit_user_npz_with_coupling(tmp_path, capsys):

    from _glm_helpers import make_network

    net, _, data = make_network("poisson", n_bins=4000, seed=1)
    np.savez(tmp_path / "rec.npz", counts=data.counts, dt=data.dt, stimulus=data.stimulus)
    assert cli.main(["fit", "--data", str(tmp_path / "rec.npz"), "--out", str(tmp_path / "r"), "--quiet",
                     "--stimulus-window", "0.01", "--history-window", "0.03", "--stimulus-basis", "3",
                     "--history-basis", "4"]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert {r["model"] for r in summary["rows"]} == {"stimulus", "history", "coupled"}
    # the summary is written last and says the run finished, listing the files it wrote
    assert summary["status"] == "complete"
    assert sorted(summary["files"]) == sorted(p.name for p in (tmp_path / "r").iterdir())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit", "--data", "/no/such/file.npz"], "no such file"),
        (["fit", "--test-fraction", "1.5"], "test-fraction"),
        (["fit", "--ridge", "-1"], "ridge"),
        (["fit", "--history-window", "0.001"], "shorter than two bins"),
    ],
)
def test_bad_options_give_one_line_errors(argv, message, tmp_path, capsys):
    assert cli.main(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "".join(err)


def test_bad_file_gives_one_line_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not an npz")
    result = subprocess.run([sys.executable, "-m", "probsnn.cli", "fit", "--data", str(bad), "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "error" in result.stderr.strip().splitlines()[-1]


# ------------------------------------------------------------------ checks before any work, one-line errors
@pytest.fixture(scope="module")
def one_neuron(tmp_path_factory):
    """A small one-neuron recording (2000 bins of 1 ms, no stimulus): loads in milliseconds."""
    path = tmp_path_factory.mktemp("data") / "one.npz"
    counts = np.random.default_rng(3).poisson(0.05, size=(2000, 1))
    np.savez(path, counts=counts, dt=0.001)
    return path


@pytest.fixture
def no_fitting(monkeypatch):
    """Any call of fit_map fails the test: the checks must all come before fitting."""
    from probsnn.inference import map as map_module

    def fit_map(*args, **kwargs):
        raise AssertionError("fit_map was called")

    monkeypatch.setattr(map_module, "fit_map", fit_map)


def _one_error_line(capsys, command="fit"):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"probsnn {command}: error: "), err
    return lines[0]


@pytest.mark.parametrize("where, message", [
    ("file", "is an existing file, not a folder"),
    ("file/report", "is a file, not a folder"),
    ("file/a/b", "is a file, not a folder"),
])
def test_out_that_is_or_is_under_a_file_fails_before_fitting(where, message, one_neuron, tmp_path, capsys,
                                                             no_fitting):
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / where
    assert cli.main(["fit", "--data", str(one_neuron), "--out", str(out), "--quiet"]) == 2
    line = _one_error_line(capsys)
    assert f"--out {out}" in line and message in line
    assert (tmp_path / "file").read_text() == "not a folder"


def test_out_where_no_file_can_be_written_fails_before_fitting_and_leaves_no_folder(one_neuron, tmp_path, capsys,
                                                                                    no_fitting, monkeypatch):
    """A location where folders can be made but no file written (as a read-only place is for a non-root user)."""
    from probsnn.cli import _common

    def refused(dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr(_common.tempfile, "TemporaryFile", refused)
    out = tmp_path / "new" / "report"
    assert cli.main(["fit", "--data", str(one_neuron), "--out", str(out), "--quiet"]) == 2
    line = _one_error_line(capsys)
    assert f"--out {out}: cannot write the report there (Permission denied)" in line
    assert not (tmp_path / "new").exists()


def test_out_under_a_read_only_folder_fails_before_fitting(one_neuron, tmp_path, capsys, no_fitting, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root may write anywhere: make access() answer as it does for other users
        access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode: access(path, mode) and Path(path) != locked)
    try:
        assert cli.main(["fit", "--data", str(one_neuron), "--out", str(locked / "report"), "--quiet"]) == 2
        assert f"cannot write in {locked} (permission denied)" in _one_error_line(capsys)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_os_errors_are_one_line_naming_the_path_and_other_errors_stay_tracebacks(one_neuron, tmp_path, capsys,
                                                                                 monkeypatch):
    from probsnn.inference import map as map_module

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "r" / "params.npz"))

    monkeypatch.setattr(map_module, "fit_map", disk_full)
    assert cli.main(["fit", "--data", str(one_neuron), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err  # the run's header lines, then the error as one line
    assert err.strip().splitlines()[-1] == (f"probsnn fit: error: No space left on device: "
                                            f"{tmp_path / 'r' / 'params.npz'}")
    assert "Traceback" not in err

    def bug(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(map_module, "fit_map", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["fit", "--data", str(one_neuron), "--out", str(tmp_path / "r"), "--quiet"])


@pytest.mark.parametrize("argv, message", [
    # --cells: checked against the data (one neuron: valid indices 0..0), no negative or repeated index
    (["--cells", "5"], "--cells 5: index 5 is out of range; the data hold 1 neuron, so the valid indices are 0..0"),
    (["--cells", "0,1"], "the valid indices are 0..0"),
    (["--cells", "-1"], "--cells takes 0-based neuron indices (integers >= 0) separated by commas"),
    (["--cells", "0,0"], "--cells lists neuron 0 twice"),
    (["--cells", "a"], "--cells takes 0-based neuron indices"),
    # each numeric option names itself, says what it expects and quotes the value
    (["--seed", "abc"], "--seed must be an integer >= 0 <= 4294967295, got 'abc'"),
    (["--seed", "-1"], "--seed must be an integer >= 0"),
    (["--dt", "abc"], "--dt must be a finite number in (0, inf), got 'abc'"),
    (["--test-fraction", "0"], "--test-fraction must be a finite number in (0, 1), got 0.0"),
    (["--test-fraction", "1"], "--test-fraction must be a finite number in (0, 1), got 1.0"),
    (["--test-fraction", "x"], "--test-fraction must be a finite number in (0, 1), got 'x'"),
    (["--ridge", "-0.5"], "--ridge must be a finite number in [0, inf), got -0.5"),
    (["--ridge", "nan"], "--ridge must be a finite number"),
    (["--stimulus-basis", "0"], "--stimulus-basis must be an integer >= 1, got 0"),
    (["--history-basis", "2.5"], "--history-basis must be an integer >= 1, got '2.5'"),
    (["--stimulus-window", "inf"], "--stimulus-window must be a finite number in (0, inf), got inf"),
    (["--history-window", "-0.01"], "--history-window must be a finite number in (0, inf), got -0.01"),
    (["--recording", "x"], "--recording must be an integer, got 'x'"),
    # options that need the data, and options --data makes meaningless
    (["--history-window", "0.001"], "--history-window=1 ms is shorter than two bins of 1 ms"),
    (["--dt", "0.002"], "--dt applies to recordings of spike times (NWB, phy, the default recording)"),
    (["--recording", "2"], "--recording applies to the default grasshopper recording only"),
    (["--units", "good"], "--units does not apply to an .npz file"),
    (["--trials"], "--trials does not apply to an .npz file"),
    (["--observation", "bernoulli", "--ridge", "-1"], "--ridge must be"),
    (["--bogus"], "unrecognized arguments: --bogus. See 'probsnn fit --help'."),
])
def test_bad_options_give_one_line_and_leave_no_folder(argv, message, one_neuron, tmp_path, capsys, no_fitting):
    out = tmp_path / "new" / "report"
    assert cli.main(["fit", "--data", str(one_neuron), "--out", str(out), "--quiet", *argv]) == 2
    line = _one_error_line(capsys)
    assert message in line, line
    assert not (tmp_path / "new").exists()


def test_stream_options_and_outputs_are_checked_before_reading(tmp_path, capsys):
    """`probsnn stream`: --max-steps, --seed, ... checked at parse time; --out a folder or in a missing one."""
    missing = tmp_path / "no-such.csv"  # never read: every case fails before
    for argv, message in [
        (["--max-steps", "-1"], "--max-steps must be an integer >= 1, got -1"),
        (["--seed", "abc"], "--seed must be an integer >= 0 <= 4294967295, got 'abc'"),
        (["--bins", "abc"], "--bins must be an integer >= 2, got 'abc'"),
        (["--kappa", "nan"], "--kappa must be a finite number in [0, 1), got nan"),
        (["--every", "1.5"], "--every must be an integer >= 1, got '1.5'"),
        (["--out", str(tmp_path)], f"--out {tmp_path}: this is a folder; give a file name"),
        (["--out", str(tmp_path / "a" / "p.csv")], f"the folder {tmp_path / 'a'} does not exist"),
        (["--checkpoint", str(tmp_path / "a" / "c.npz")], f"the folder {tmp_path / 'a'} does not exist"),
    ]:
        assert cli.main(["stream", str(missing), *argv]) == 2
        line = _one_error_line(capsys, "stream")
        assert message in line and "islice" not in line, line
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_run_leaves_no_summary_that_looks_complete(one_neuron, tmp_path, capsys, monkeypatch):
    """A folder holding an earlier run's summary, then a run interrupted while fitting."""
    from probsnn.inference import map as map_module

    out = tmp_path / "report"
    out.mkdir()
    old = dict(status="complete", source="an earlier recording", rows=[dict(model="history", neuron="n0")])
    (out / "summary.json").write_text(json.dumps(old))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(map_module, "fit_map", interrupted)
    assert cli.main(["fit", "--data", str(one_neuron), "--out", str(out), "--quiet"]) == 130
    assert "interrupted" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "incomplete" and "rows" not in summary
    assert summary["source"] == str(one_neuron)
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]  # no temporary file left


# ------------------------------------------------------------------ fit.nc, probsnn report, probsnn simulate
def _report_files(folder):
    """Every file of a report folder, compared by content: JSON parsed, .npz arrays, anything else as bytes."""
    contents = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".json":
            contents[path.name] = json.loads(path.read_text())
        elif path.suffix == ".npz":
            with np.load(path) as f:
                contents[path.name] = {k: f[k] for k in f.files}
        elif path.suffix == ".png":
            contents[path.name] = path.read_bytes()
    return contents


def test_report_draws_the_fit_report_again_from_fit_nc_alone(tmp_path, capsys):
    """Two neurons (history and coupled models) with a Laplace posterior; the recording is gone before the report."""
    from _glm_helpers import make_network

    _, _, data = make_network("poisson", n_neurons=2, n_bins=2500, seed=5)
    recording = tmp_path / "rec.npz"
    np.savez(recording, counts=data.counts, dt=data.dt)
    first = tmp_path / "first"
    assert cli.main(["fit", "--data", str(recording), "--out", str(first), "--quiet", "--history-window", "0.02",
                     "--history-basis", "3", "--posterior", "laplace"]) == 0
    fit_table = capsys.readouterr().out
    assert (first / "fit.nc").stat().st_size > 0
    recording.unlink()
    alone = tmp_path / "alone"
    alone.mkdir()
    (first / "fit.nc").rename(alone / "fit.nc")
    second = tmp_path / "second"
    assert cli.main(["report", str(alone / "fit.nc"), "--out", str(second)]) == 0
    assert capsys.readouterr().out == fit_table  # the same tables: MAP fits, R-hat/ESS, PSIS-LOO
    names = sorted(p.name for p in second.iterdir())
    assert names == sorted([p.name for p in first.iterdir()] + ["fit.nc"])
    assert names == sorted(json.loads((second / "summary.json").read_text())["files"])
    before, after = _report_files(first), _report_files(second)
    assert before.keys() == after.keys() and {"loo.json", "credible_bands.npz", "filters.png"} <= set(after)
    for name, value in before.items():
        if isinstance(value, dict) and name.endswith(".npz"):
            assert value.keys() == after[name].keys()
            assert all(np.array_equal(v, after[name][k]) for k, v in value.items()), name
        else:
            assert value == after[name], name


def test_simulate_draws_spikes_at_the_fitted_rate(tmp_path, capsys):
    """A refractory neuron simulated from a known network, fitted, then simulated from its fit: the simulated mean
    rate matches the rate of the data the model was fitted to, within 4 standard errors (batch means of both)."""
    import jax

    import probsnn as ps
    from probsnn import basis

    net = ps.GLMNetwork(1, history_basis=basis.raised_cosine_log(3, 20))
    truth = net.init_params(bias=-3.0)._replace(coupling_weights=np.array([[[-2.0, -1.0, 0.0]]]))
    data = net.simulate_data(truth, jax.random.PRNGKey(0), n_steps=10_000)
    np.savez(tmp_path / "rec.npz", counts=data.counts, dt=data.dt)
    assert cli.main(["fit", "--data", str(tmp_path / "rec.npz"), "--out", str(tmp_path / "fit"), "--quiet",
                     "--history-window", "0.02", "--history-basis", "3"]) == 0
    steps = 40_000
    assert cli.main(["simulate", str(tmp_path / "fit" / "fit.nc"), "--steps", str(steps), "--seed", "3", "--out",
                     str(tmp_path / "sim")]) == 0
    assert "simulated rate (Hz)" in capsys.readouterr().out
    simulated = ps.datasets.load_npz(tmp_path / "sim" / "spikes.npz")
    assert simulated.counts.shape == (steps, 1) and simulated.dt == data.dt
    assert (tmp_path / "sim" / "raster.png").stat().st_size > 0
    train = data.counts[:8000, 0]  # the part fitted (--test-fraction 0.2)

    def mean_and_se(x, n_batches=20):
        batches = x[: len(x) // n_batches * n_batches].reshape(n_batches, -1).mean(axis=1)
        return x.mean(), batches.std(ddof=1) / np.sqrt(n_batches)

    (m_sim, se_sim), (m_fit, se_fit) = mean_and_se(simulated.counts[:, 0]), mean_and_se(train)
    assert abs(m_sim - m_fit) < 4 * np.hypot(se_sim, se_fit), (m_sim, m_fit, se_sim, se_fit)
    # the same seed draws the same spikes
    assert cli.main(["simulate", str(tmp_path / "fit" / "fit.nc"), "--steps", "500", "--seed", "3", "--out",
                     str(tmp_path / "again")]) == 0
    assert np.array_equal(ps.datasets.load_npz(tmp_path / "again" / "spikes.npz").counts, simulated.counts[:500])


def test_report_and_simulate_refuse_files_that_are_no_fit(tmp_path, capsys):
    import h5netcdf
    import xarray as xr

    import probsnn as ps

    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"t": ("x", np.arange(3.0))}).to_netcdf(foreign, engine="h5netcdf")
    net = ps.GLMNetwork(1, history_basis=ps.basis.raised_cosine_log(2, 5))
    newer = ps.save_fit(tmp_path / "newer.nc", net, net.init_params())
    with h5netcdf.File(newer, "a") as handle:
        handle.attrs["probsnn_format_version"] = 2
    for command in ("report", "simulate"):
        for path, message in ((foreign, "is a netCDF file but not a probsnn fit"),
                              (newer, "is a probsnn fit of format version 2, but this probsnn"),
                              (tmp_path / "none.nc", "no such file")):
            assert cli.main([command, str(path), "--out", str(tmp_path / "out")]) == 2
            line = _one_error_line(capsys, command)
            assert str(path) in line and message in line, line
    assert not (tmp_path / "out").exists()


def test_every_option_of_every_command_has_a_plain_help_line_with_its_default():
    import argparse

    from probsnn.cli._common import HelpFormatter

    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) == {"fit", "report", "simulate", "stream", "rl"}
    for name, command in sub.choices.items():
        text = command.format_help()
        for markup in ("``", ":math:", ":func:", ":class:", ":mod:", ":meth:", ".. "):
            assert markup not in text, (name, markup)
        assert command.formatter_class is HelpFormatter, name
        formatter = HelpFormatter(name)
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, (name, action.dest)
            if action.option_strings:
                assert "default" in formatter._get_help_string(action), (name, action.option_strings)


def test_rl_out_keeps_the_policies_and_the_learning_curve_and_leaves_stdout_alone(tmp_path, capsys):
    import csv

    options = ["rl", "--env", "grid", "--iterations", "6", "--seeds", "2", "--batch-size", "2", "--horizon", "6",
               "--n-steps", "2", "--chunk", "3"]
    out = tmp_path / "rl"
    assert cli.main(options + ["--out", str(out)]) == 0
    plain = capsys.readouterr().out.splitlines()  # --out and the progress bar add nothing to stdout
    assert len(plain) == 3 and plain[2].startswith("env=grid seeds=2 ")
    rows = [json.loads(line) for line in plain[:2]]
    with (out / "learning_curve.csv").open() as handle:
        curve = list(csv.DictReader(handle))
    assert [(int(r["seed"]), int(r["update"])) for r in curve] == [(s, u) for s in range(2) for u in range(1, 7)]
    for seed in range(2):
        last = [r for r in curve if int(r["seed"]) == seed][-1]
        assert float(last["return"]) == rows[seed]["final_train_return"]
        with np.load(out / f"policy_seed{seed}.npz", allow_pickle=False) as policy:
            assert {"stimulus_weights", "coupling_weights", "bias", "curve_return"} <= set(policy.files)
            assert np.all(np.isfinite(policy["stimulus_weights"])) and policy["curve_return"].shape == (6,)
    assert (out / "learning_curve.png").stat().st_size > 0


def test_stream_scores_the_persistence_and_uniform_baselines_on_the_same_steps(tmp_path, capsys):
    import math

    from probsnn.streaming import persistence_log_loss

    series = tmp_path / "series.csv"
    series.write_text("\n".join(f"{math.sin(t / 4):.6f}" for t in range(120)) + "\n")
    out, plot = tmp_path / "pred.csv", tmp_path / "forecast.png"
    assert cli.main(["stream", str(series), "--bins", "4", "--warmup", "20", "--latent", "2", "--out", str(out),
                     "--plot", str(plot)]) == 0
    line = capsys.readouterr().err.strip().splitlines()[-1]
    table = np.genfromtxt(out, delimiter=",", names=True)
    persistence = persistence_log_loss(table["bin"].astype(int), 4).mean()
    assert f"mean_log_loss={table['log_loss'].mean():.4f} nats" in line
    assert f"persistence {persistence:.4f}, uniform {math.log(4):.4f}" in line
    assert plot.stat().st_size > 0
