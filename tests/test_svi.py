"""SVI (probsnn.inference.svi): agreement with the exact Laplace posterior on a Gaussian model; errors."""
import numpy as np
import pytest
from _bayes_helpers import flat_truth_and_draws, sbc_problem

from probsnn.diagnostics import interval_coverage
from probsnn.inference import fit_svi


def test_svi_coverage_and_agreement_with_the_mode():
    """Mean-field SVI on 100 tiny datasets: means match the posterior mode closely; 90% coverage reported."""
    from probsnn.inference.laplace import mode_and_covariance, resolve_priors

    net, priors, truth, data = sbc_problem(n_datasets=100, n_bins=200, seed=0)
    # started at the MAP, the mean-field guide converges in a few hundred steps (600: ELBO flat to < 1 nat)
    idata = fit_svi(net, data, priors, guide="normal", num_steps=600, learning_rate=0.02, num_samples=99,
                    log_likelihood=None)
    t, draws = flat_truth_and_draws(net, truth, idata)
    coverage = interval_coverage(t, draws, 0.9).mean()
    print(f"SVI (mean-field) 90% coverage {coverage:.3f}")
    assert 0.7 <= coverage <= 0.97
    fit, cov = mode_and_covariance(net, data, resolve_priors(priors))
    mean = idata.posterior["bias"].mean(("chain", "draw")).values
    sd_laplace = np.sqrt(cov[:, -1, -1])
    assert np.median(np.abs(mean - np.asarray(fit.params.bias)) / sd_laplace) < 0.3
    assert idata.attrs["method"] == "svi" and "lp" in idata.sample_stats


def test_bad_arguments_raise():
    net, priors, truth, data = sbc_problem(n_datasets=2, n_bins=50, seed=1)
    for kwargs, match in ((dict(guide="laplace"), "guide"), (dict(num_steps=0), "num_steps"),
                          (dict(learning_rate=-1.0), "learning_rate"), (dict(init="zero"), "init")):
        with pytest.raises(ValueError, match=match):
            fit_svi(net, data, priors, **kwargs)


def test_learning_rate_is_checked_before_any_fitting(monkeypatch):
    """A NaN/inf/zero/negative learning rate is refused at the boundary, before MAP init or jitted SVI code."""
    import probsnn.inference.map as map_module

    net, priors, truth, data = sbc_problem(n_datasets=2, n_bins=50, seed=1)

    def no_fit(*args, **kwargs):
        raise AssertionError("fit_map ran before learning_rate was checked")

    monkeypatch.setattr(map_module, "fit_map", no_fit)
    for value in (float("nan"), float("inf"), -float("inf"), 0.0, -1e-3, "0.01", None):
        with pytest.raises(ValueError, match=r"learning_rate must be a finite number in \(0, inf\)"):
            fit_svi(net, data, priors, learning_rate=value)


def test_diverging_learning_rate_ends_with_one_clear_error():
    """learning_rate=1e3 makes the ELBO NaN within a few steps; fit_svi used to warn and then crash inside
    NumPyro (an invalid scale_tril while drawing from the guide). Now: one ValueError naming the step and
    learning_rate, with no NumPyro exception chained to it."""
    net, priors, truth, data = sbc_problem(n_datasets=100, n_bins=200, seed=0)  # the shapes of the first test
    with pytest.raises(ValueError, match=r"diverged: the ELBO became non-finite at step \d+ of 30 "
                                         r"\(learning_rate=1000\).*Lower learning_rate") as info:
        fit_svi(net, data, priors, guide="normal", learning_rate=1e3, num_steps=30, num_samples=99,
                log_likelihood=None)
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert "numpyro" not in "".join(__import__("traceback").format_tb(info.tb))
