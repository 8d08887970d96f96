"""``save_fit`` / ``load_fit``: a fitted network read back from its netCDF file gives the same numbers, bit for bit.

For MAP, Laplace and NUTS fits the loaded network and parameters reproduce the log-likelihood, the predicted
rates, the standard errors and the data of every report figure (filters and their bands, credible bands)
exactly; files of another format version and netCDF files that are not fits are refused in one line.
"""
import warnings

import h5netcdf
import jax
import numpy as np
import pytest
import xarray as xr

import probsnn as ps
from probsnn import basis
from probsnn.inference.idata import filter_credible_bands


@pytest.fixture(scope="module")
def x64():
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


@pytest.fixture(scope="module")
def coupled(x64):
    """Two coupled neurons with a stimulus, 3000 bins, and their MAP fit."""
    from _glm_helpers import make_network

    net, _, data = make_network("poisson", n_neurons=2, n_bins=3000, seed=4)
    fit = ps.fit_map(net, data, prior=ps.GaussianPrior(ridge=0.1), progress=False)
    return net, data, fit


def _same_params(a, b):
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))


def _same_network(a, b):
    assert (a.n_visible, a.n_latent, a.n_stimulus_dims, a.neuron_names) == (b.n_visible, b.n_latent,
                                                                           b.n_stimulus_dims, b.neuron_names)
    assert a.observation == b.observation
    for x, y in ((a.stimulus_basis, b.stimulus_basis), (a.history_basis, b.history_basis)):
        assert (x is None) == (y is None)
        if x is not None:
            assert np.array_equal(x.matrix, y.matrix) and x.lag_offset == y.lag_offset and x.name == y.name
    assert np.array_equal(a.coupling_mask, b.coupling_mask) and np.array_equal(a.stimulus_mask, b.stimulus_mask)


def test_map_fit_round_trip_is_exact(coupled, tmp_path):
    net, data, fit = coupled
    path = ps.save_fit(tmp_path / "fit.nc", net, fit, data, summary={"note": "map"}, extras={"x": np.arange(4.0)})
    loaded = ps.load_fit(path)
    _same_network(net, loaded.network)
    assert loaded.point_estimate == "map" and loaded.method == "map"
    assert _same_params(fit.params, loaded.params)
    # the data come back as they were: counts, stimulus, bin width, start, names
    assert np.array_equal(loaded.data.counts, data.counts) and np.array_equal(loaded.data.stimulus, data.stimulus)
    assert (loaded.data.dt, loaded.data.t_start, loaded.data.neuron_names) == (data.dt, data.t_start,
                                                                               data.neuron_names)
    # log-likelihood and predictions of the loaded network on the loaded data: identical
    assert float(loaded.network.log_likelihood(loaded.params, loaded.data)) == float(net.log_likelihood(fit.params,
                                                                                                         data))
    assert np.array_equal(loaded.network.predicted_rate(loaded.params, loaded.data),
                          net.predicted_rate(fit.params, data))
    # the Laplace covariance, the standard errors, and the figure data of the filter plot (filters, SE bands)
    assert np.array_equal(loaded.covariance, fit.covariance)
    assert _same_params(loaded.standard_errors, fit.standard_errors)
    for key, value in fit.filter_standard_errors(net).items():
        assert np.array_equal(loaded.filter_standard_errors()[key], value)
    for key, value in net.filters(fit.params).items():
        assert np.array_equal(loaded.network.filters(loaded.params)[key], value)
    again = loaded.map_result()
    assert again.log_likelihood == pytest.approx(fit.log_likelihood, rel=1e-12)
    assert np.array_equal(again.converged, fit.converged) and again.solver == list(fit.solver)
    # the posterior group of a MAP fit: one chain of one draw, the MAP itself
    post = loaded.posterior.posterior
    assert post.sizes["chain"] == post.sizes["draw"] == 1
    assert np.array_equal(post["coupling_weights"].values[0, 0], np.asarray(fit.params.coupling_weights))
    assert list(post.coords["neuron"].values) == list(net.neuron_names)
    assert loaded.summary["summary"] == {"note": "map"}
    assert loaded.summary["format_version"] == ps.fitfile.FORMAT_VERSION
    assert np.array_equal(loaded.extras["x"], np.arange(4.0))


def test_laplace_draws_round_trip_with_their_bands(coupled, tmp_path):
    net, data, fit = coupled
    idata = ps.laplace_posterior(net, data, fit=fit, num_samples=40, num_chains=2, seed=1)
    loaded = ps.load_fit(ps.save_fit(tmp_path / "laplace.nc", net, fit, data, posterior=idata))
    assert loaded.method == "laplace" and loaded.point_estimate == "map"
    assert _same_params(loaded.params, fit.params) and _same_params(loaded.standard_errors, fit.standard_errors)
    for var in ("stimulus_weights", "coupling_weights", "bias", "coupling_filter"):
        assert np.array_equal(loaded.posterior.posterior[var].values, idata.posterior[var].values)
    assert np.array_equal(loaded.posterior.log_likelihood["obs"].values, idata.log_likelihood["obs"].values)
    # the figure data of the posterior-filter plot: the credible bands
    bands, again = filter_credible_bands(idata), filter_credible_bands(loaded.posterior)
    for var in bands:
        for key in bands[var]:
            assert np.array_equal(bands[var][key], again[var][key])
    # the pointwise log-likelihood (draws x bins x neurons) can be left out of the file
    small = ps.load_fit(ps.save_fit(tmp_path / "small.nc", net, fit, data, posterior=idata, keep_log_likelihood=False))
    assert "log_likelihood" not in small.posterior.groups() and "posterior" in small.posterior.groups()


def test_nuts_draws_round_trip_and_their_mean_is_the_point(x64, tmp_path):
    """Tiny NUTS (one chain, few draws) of a history-only neuron."""
    net = ps.GLMNetwork(1, history_basis=basis.raised_cosine_log(3, 15))
    counts = np.random.default_rng(0).poisson(0.05, size=(1500, 1))
    data = ps.SpikeData(counts, 0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = ps.fit_nuts(net, data, num_warmup=10, num_samples=10, num_chains=1, max_tree_depth=3,
                            log_likelihood=None, progress=False, warn=False)
    loaded = ps.load_fit(ps.save_fit(tmp_path / "nuts.nc", net, idata, data))
    assert loaded.method == "nuts" and loaded.point_estimate == "posterior_mean"
    assert loaded.covariance is None and loaded.standard_errors is None and loaded.filter_standard_errors() == {}
    assert "sample_stats" in loaded.posterior.groups()
    mean = np.asarray(idata.posterior["coupling_weights"].values).mean(axis=(0, 1))
    assert np.array_equal(loaded.params.coupling_weights, mean)
    assert loaded.params.stimulus_weights.shape == (1, 0, 0)
    for var in ("coupling_weights", "bias", "coupling_filter"):
        assert np.array_equal(loaded.posterior.posterior[var].values, idata.posterior[var].values)
    assert np.array_equal(loaded.posterior.sample_stats["diverging"].values, idata.sample_stats["diverging"].values)
    assert float(loaded.network.log_likelihood(loaded.params, loaded.data)) == float(
        net.log_likelihood(ps.GLMParams(np.zeros((1, 0, 0)), mean, idata.posterior["bias"].values.mean(axis=(0, 1))),
                           data))


def test_every_network_setting_is_rebuilt(x64, tmp_path):
    """Bernoulli with a temperature, latent neurons, masks, a softplus Poisson link: nothing falls back to a default."""
    mask = np.array([[True, False, True], [True, True, False], [False, True, True]])
    net = ps.GLMNetwork(2, 1, history_basis=basis.raised_cosine_log(2, 8, lag_offset=2),
                        stimulus_basis=basis.identity(3, lag_offset=0), n_stimulus_dims=2, observation="bernoulli",
                        temperature=0.5, coupling_mask=mask, stimulus_mask=[[True, False], [True, True], [False, True]],
                        neuron_names=["a", "b", "hidden"])
    params = net.init_params(jax.random.PRNGKey(1), bias=-1.0)
    loaded = ps.load_fit(ps.save_fit(tmp_path / "b.nc", net, params))
    _same_network(net, loaded.network)
    assert loaded.point_estimate == "given" and loaded.data is None and _same_params(loaded.params, params)
    soft = ps.GLMNetwork(1, history_basis=basis.exponential(10, time_constants=[2.0, 5.0]), link="softplus")
    again = ps.load_fit(ps.save_fit(tmp_path / "s.nc", soft, soft.init_params()))
    assert again.network.observation == soft.observation and again.network.observation.link == "softplus"


def test_trials_masks_and_edge_handling_round_trip(x64, tmp_path):
    """A fit on trials with a partly recorded unit and trial_edges='drop': the loaded data keep their trial starts
    and mask, the network its edge handling, so the log-likelihood is identical (without them it differs)."""
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.3, (600, 2))
    observed = np.ones((600, 2), bool)
    observed[:150, 1] = False
    counts[~observed] = 0
    data = ps.SpikeData(counts, dt=0.01, trial_starts=[0, 200, 450], observed=observed)
    net = ps.GLMNetwork(2, history_basis=basis.raised_cosine_log(3, 20), trial_edges="drop")
    fit = ps.fit_map(net, data, prior=ps.GaussianPrior(ridge=1.0), progress=False)
    loaded = ps.load_fit(ps.save_fit(tmp_path / "t.nc", net, fit, data))
    assert loaded.data.trial_starts == (0, 200, 450) and np.array_equal(loaded.data.observed, observed)
    assert loaded.network.trial_edges == "drop"
    same = float(loaded.network.log_likelihood(loaded.params, loaded.data))
    assert same == float(net.log_likelihood(fit.params, data))
    plain = ps.SpikeData(counts, dt=0.01)
    assert abs(float(net.log_likelihood(fit.params, plain)) - same) > 1.0


def test_files_that_are_no_fit_of_this_version_are_refused_in_one_line(coupled, tmp_path):
    net, data, fit = coupled
    path = ps.save_fit(tmp_path / "fit.nc", net, fit.params)
    with h5netcdf.File(path, "a") as handle:
        handle.attrs["probsnn_format_version"] = 99
    with pytest.raises(ps.FitFileError) as err:
        ps.load_fit(path)
    message = str(err.value)
    assert str(path) in message and "format version 99" in message and "reads version 1" in message
    assert "\n" not in message
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"t": ("x", np.arange(3.0))}).to_netcdf(foreign, engine="h5netcdf")
    with pytest.raises(ps.FitFileError, match="is a netCDF file but not a probsnn fit") as err:
        ps.load_fit(foreign)
    assert str(foreign) in str(err.value)
    text = tmp_path / "notes.nc"
    text.write_text("not a netCDF file")
    with pytest.raises(ps.FitFileError, match="not a netCDF-4"):
        ps.load_fit(text)
    with pytest.raises(FileNotFoundError):
        ps.load_fit(tmp_path / "missing.nc")


def test_save_fit_checks_its_arguments(coupled, tmp_path):
    net, data, fit = coupled
    with pytest.raises(TypeError, match="result must be"):
        ps.save_fit(tmp_path / "x.nc", net, {"bias": 1})
    with pytest.raises(ValueError, match="shape"):
        ps.save_fit(tmp_path / "x.nc", net, fit.params._replace(bias=np.zeros(5)))
    with pytest.raises(ValueError, match="JSON"):
        ps.save_fit(tmp_path / "x.nc", net, fit, summary={"f": object()})
    assert not (tmp_path / "x.nc").exists() and list(tmp_path.iterdir()) == []
