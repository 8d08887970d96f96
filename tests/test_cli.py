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
    (["--dt", "0.002"], "--dt applies to the default grasshopper recording only"),
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
