"""``probsnn fit --posterior {laplace,nuts}``: credible bands on filters, a LOO table, an R-hat/ESS summary."""
import json

import numpy as np
import pytest

from probsnn import cli
from probsnn.cli import posterior as posterior_cli

ARGS = ["--quiet", "--stimulus-window", "0.005", "--history-window", "0.02", "--stimulus-basis", "2",
        "--history-basis", "3"]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    from _glm_helpers import make_network

    _, _, data = make_network("poisson", n_neurons=2, n_bins=3000, seed=2)
    path = tmp_path_factory.mktemp("data") / "rec.npz"
    np.savez(path, counts=data.counts, dt=data.dt, stimulus=data.stimulus)
    return path


def _check_report(out, printed, models, method):
    for name in models:
        assert (out / f"posterior_filters_{name}.png").stat().st_size > 0
    # the LOO table: printed and saved, one row per model
    assert "elpd_loo" in printed and "elpd_diff" in printed
    loo = json.loads((out / "loo.json").read_text())
    assert loo["method"] == method and set(loo["models"]) == set(models)
    ranks = sorted(row["rank"] for row in loo["models"].values())
    assert ranks == list(range(len(models)))
    assert all(np.isfinite(row["elpd_loo"]) and row["se"] > 0 for row in loo["models"].values())
    # the R-hat / ESS summary: printed and saved
    assert "max R-hat" in printed and "min ESS bulk" in printed
    convergence = json.loads((out / "convergence.json").read_text())["models"]
    assert set(convergence) == set(models)
    for row in convergence.values():
        assert 0.9 < row["max_rhat"] < 1.2 and row["min_ess_bulk"] > 10 and row["divergences"] == 0
    # credible bands on the filters: lower <= mean <= upper, with a positive width for free kernels
    with np.load(out / "credible_bands.npz") as bands:
        bands = dict(bands)
    for name in models:
        for var in ("stimulus_filter", "coupling_filter"):
            key = f"{name}__{var}__"
            if key + "mean" not in bands:
                continue
            lower, mean, upper = bands[key + "lower"], bands[key + "mean"], bands[key + "upper"]
            assert np.all(lower <= mean + 1e-12) and np.all(mean <= upper + 1e-12)
            free = np.any(mean != 0, axis=-1)  # present kernels (masked ones are all zero)
            assert np.all((upper - lower).max(axis=-1)[free] > 0)
    return bands


def test_fit_posterior_laplace_report(recording, tmp_path, capsys):
    """Two neurons without stimulus: the history and coupled models, compared by LOO."""
    out = tmp_path / "laplace"
    with np.load(recording) as f:
        np.savez(tmp_path / "spikes.npz", counts=f["counts"], dt=f["dt"])
    assert cli.main(["fit", "--data", str(tmp_path / "spikes.npz"), "--out", str(out), "--posterior", "laplace"]
                    + ARGS) == 0
    printed = capsys.readouterr().out
    bands = _check_report(out, printed, ["history", "coupled"], "laplace")
    # the Laplace draws are centred on the MAP fit: the band's mean is the MAP filter (Monte Carlo error only)
    from probsnn import basis as B

    hist = B.raised_cosine_log(3, 20, lag_offset=1)
    with np.load(out / "params.npz") as params:
        map_filter = np.einsum("ijb,lb->ijl", params["coupled__coupling_weights"], np.asarray(hist.matrix))
    covered = np.isin(hist.lags, bands["coupled__coupling_filter__lags"])  # the lags the basis covers
    assert covered.sum() == len(bands["coupled__coupling_filter__lags"]) < len(hist.lags)
    map_filter = map_filter[..., covered]
    mean = bands["coupled__coupling_filter__mean"]
    half_width = 0.5 * (bands["coupled__coupling_filter__upper"] - bands["coupled__coupling_filter__lower"])
    mc_se = half_width / 1.645 / np.sqrt(posterior_cli.NUM_SAMPLES * posterior_cli.NUM_CHAINS)
    assert np.all(np.abs(mean - map_filter) <= 5 * mc_se + 1e-9)


def test_fit_posterior_nuts_report(recording, tmp_path, capsys, monkeypatch):
    """Tiny settings: one neuron without stimulus, so a single model (history) and one short NUTS run."""
    monkeypatch.setattr(posterior_cli, "NUM_WARMUP", 60)
    monkeypatch.setattr(posterior_cli, "NUM_SAMPLES", 60)
    out = tmp_path / "nuts"
    with np.load(recording) as f:
        np.savez(tmp_path / "spikes.npz", counts=f["counts"][:, :1], dt=f["dt"])
    assert cli.main(["fit", "--data", str(tmp_path / "spikes.npz"), "--out", str(out), "--posterior", "nuts"]
                    + ARGS) == 0
    printed = capsys.readouterr().out
    _check_report(out, printed, ["history"], "nuts")


def test_posterior_report_rejects_unknown_methods(tmp_path):
    import argparse

    with pytest.raises(ValueError, match="laplace, nuts or svi"):
        posterior_cli.posterior_report(argparse.Namespace(posterior="mcmc"), {}, tmp_path)
