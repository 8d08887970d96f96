"""The `probsnn fit` command: the default job end to end, and one-line errors for bad input."""
import json
import subprocess
import sys

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
