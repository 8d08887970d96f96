"""``probsnn fit --posterior {laplace,nuts}``: credible bands on filters, a LOO table, an R-hat/ESS summary."""
import json
import warnings

import arviz as az
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
    # the LOO table: printed and saved, one row per model; a ranking only when every Pareto k is acceptable
    assert "elpd_loo" in printed
    loo = json.loads((out / "loo.json").read_text())
    assert loo["method"] == method and set(loo["models"]) == set(models)
    assert all(np.isfinite(row["elpd_loo"]) and row["se"] > 0 for row in loo["models"].values())
    reliable = all(row["max_pareto_k"] <= row["pareto_k_threshold"] for row in loo["models"].values())
    if reliable:
        assert loo["comparison"] == ("ranked" if len(models) > 1 else "single model")
        assert "elpd_diff" in printed
        ranks = sorted(row["rank"] for row in loo["models"].values())
        assert ranks == list(range(len(models)))
    else:  # no rank, difference or weight, printed or stored; the reason and the way out instead
        assert loo["comparison"] == "withheld" and "--posterior nuts" in loo["reason"]
        assert "rank" not in printed and "elpd_diff" not in printed
        for row in loo["models"].values():
            assert not {"rank", "elpd_diff", "dse", "weight"} & set(row)
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
    captured = capsys.readouterr()
    printed = captured.out
    bands = _check_report(out, printed, ["history", "coupled"], "laplace")
    # per-bin PSIS-LOO of this short recording has Pareto k > 1 (ArviZ's own estimate, recomputed here):
    # the comparison is withheld, and said so on stderr beside the elpd estimates
    loo = json.loads((out / "loo.json").read_text())
    assert loo["comparison"] == "withheld"
    assert all(row["max_pareto_k"] > 1 and row["pareto_k_warning"] for row in loo["models"].values())
    assert "model comparison withheld" in captured.err and "--posterior nuts" in captured.err
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


def _normal_mean_idata(y, sd, rng):
    """Draws of ``mu`` from the exact posterior of ``y_i ~ N(mu, 1)`` (flat prior), scored under ``N(mu, sd)``."""
    from scipy.stats import norm

    mu = rng.normal(y.mean(), 1 / np.sqrt(y.size), size=(2, 250))
    return az.from_dict(posterior={"mu": mu}, log_likelihood={"obs": norm.logpdf(y, mu[..., None], sd)})


def test_loo_comparison_ranks_reliable_estimates_as_arviz_compare(capsys):
    rng = np.random.default_rng(0)
    y = rng.normal(size=100)
    idatas = {"sd2": _normal_mean_idata(y, 2.0, rng), "sd1": _normal_mean_idata(y, 1.0, rng)}
    result = posterior_cli.loo_comparison(idatas, "obs")
    assert result["comparison"] == "ranked" and result["reason"] is None
    assert list(result["models"]) == ["sd1", "sd2"]  # best first: the data are N(0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's own deprecation warnings
        reference = az.compare(idatas, ic="loo", var_name="obs")
    for name, row in reference.iterrows():
        mine = result["models"][name]
        assert mine["rank"] == row["rank"] and not mine["pareto_k_warning"]
        for key in ("elpd_loo", "se", "elpd_diff", "dse", "weight", "p_loo"):
            assert np.isclose(mine[key], row[key], rtol=1e-10, atol=1e-12), key
    posterior_cli._print_loo(result)
    printed = capsys.readouterr()
    assert "rank" in printed.out and "elpd_diff" in printed.out and "withheld" not in printed.err


def test_loo_comparison_withholds_the_ranking_when_a_pareto_k_is_high(capsys):
    """Ten points and an outlier at 8: leaving the outlier out moves the posterior too far (k > 1 by ArviZ)."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=10)
    y[0] = 8.0
    idatas = {"sd1": _normal_mean_idata(y, 1.0, rng), "sd2": _normal_mean_idata(y, 2.0, rng)}
    with pytest.warns(UserWarning):
        reference = az.loo(idatas["sd1"], var_name="obs", pointwise=True)
    assert reference.warning and np.max(reference.pareto_k) > 1
    result = posterior_cli.loo_comparison(idatas, "obs")
    assert result["comparison"] == "withheld" and "'sd1'" in result["reason"] and "--posterior nuts" in result["reason"]
    sd1 = result["models"]["sd1"]
    assert sd1["pareto_k_warning"] and sd1["max_pareto_k"] == pytest.approx(float(np.max(reference.pareto_k)))
    assert sd1["elpd_loo"] == pytest.approx(float(reference.elpd_loo))
    assert not any({"rank", "elpd_diff", "dse", "weight"} & set(row) for row in result["models"].values())
    posterior_cli._print_loo(result)
    printed = capsys.readouterr()
    assert "elpd_loo" in printed.out and "rank" not in printed.out and "elpd_diff" not in printed.out
    assert "model comparison withheld" in printed.err
