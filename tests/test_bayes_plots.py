"""Posterior predictive statistics (probsnn.diagnostics), posterior summaries (probsnn.inference.idata) and their
figures (probsnn.plots): the plotted numbers against NumPy."""
import jax
import matplotlib
import numpy as np
import pytest

import probsnn as ps
from probsnn import basis, diagnostics, plots
from probsnn.inference.idata import (
    coupling_strength_intervals,
    filter_credible_bands,
    simulate_posterior_predictive,
    to_inference_data,
)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(0)
    c = (rng.uniform(size=(3000, 2)) < 0.05).astype(int)
    c[100, 0] = 2  # two spikes in one bin: one zero interval
    return c


def test_isi_histogram_equals_numpy(counts):
    dt, edges = 0.001, np.arange(0, 0.101, 0.005)
    isi = diagnostics.interspike_intervals(counts, dt)
    for i in range(2):
        times = np.repeat(np.arange(counts.shape[0]), counts[:, i]) * dt
        np.testing.assert_allclose(isi[i], np.diff(times))
    assert np.sum(isi[0] == 0) == 1
    hist = diagnostics.isi_histogram(counts, dt, edges)
    for i in range(2):
        expected = np.histogram(isi[i], edges)[0] / (isi[i].size * np.diff(edges))
        np.testing.assert_allclose(hist[i], expected)
        np.testing.assert_allclose(hist[i], np.histogram(isi[i], edges, density=True)[0]
                                   * np.mean((isi[i] >= edges[0]) & (isi[i] <= edges[-1])))
    # batched replicates give the same rows; the plot draws exactly these numbers
    replicated = np.stack([counts, counts[::-1]])
    batch = diagnostics.isi_histogram(replicated, dt, edges)
    np.testing.assert_allclose(batch[0], hist)
    fig = plots.plot_isi_ppc(counts, replicated, dt, edges)
    observed_line = [line for line in fig.axes[0].lines if line.get_label() == "observed"][0]
    np.testing.assert_allclose(observed_line.get_ydata()[:-1], hist[0])
    median_line = [line for line in fig.axes[1].lines if line.get_label() == "replicated median"][0]
    np.testing.assert_allclose(median_line.get_ydata()[:-1], np.median(batch[:, 1], axis=0))


def test_psth_and_counts_by_hand(counts):
    dt = 0.001
    times, rate = diagnostics.psth(counts, dt, bin_width=0.01, trial_length=500)
    trials = counts.reshape(6, 500, 2).mean(axis=0)
    np.testing.assert_allclose(rate, trials.reshape(50, 10, 2).sum(axis=1) / 0.01)
    np.testing.assert_allclose(times, np.arange(50) * 0.01)
    _, rate_all = diagnostics.psth(counts, dt, bin_width=0.1)
    np.testing.assert_allclose(rate_all, counts.reshape(30, 100, 2).sum(axis=1) / 0.1)
    replicated = np.stack([counts, np.roll(counts, 7, axis=0), counts[::-1]])
    np.testing.assert_array_equal(diagnostics.spike_counts(replicated), replicated.sum(axis=1))
    fig = plots.plot_count_ppc(counts, replicated)
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, np.histogram(replicated.sum(axis=1)[:, 0], bins="auto")[0])
    fig = plots.plot_psth_ppc(counts, replicated, dt, 0.01, trial_length=500)
    observed = [line for line in fig.axes[1].lines if line.get_label() == "observed"][0]
    np.testing.assert_allclose(observed.get_ydata(), rate[:, 1])


def _idata_with_coupling(draws):
    import arviz as az

    return az.from_dict(posterior={"coupling_filter": draws},
                        coords={"neuron": ["a", "b"], "presynaptic": ["a", "b"], "history_lag": [1, 2, 3]},
                        dims={"coupling_filter": ["neuron", "presynaptic", "history_lag"]})


def test_coupling_strength_intervals_and_filter_bands():
    rng = np.random.default_rng(1)
    draws = rng.normal(0.0, 0.1, (2, 500, 2, 2, 3))
    draws[..., 1, 0, :] += 0.5  # a -> b clearly positive; b -> a about zero
    idata = _idata_with_coupling(draws)
    truth = np.zeros((2, 2, 3))
    truth[1, 0] = 0.5
    rows = {(r["pre"], r["post"]): r for r in coupling_strength_intervals(idata, 0.9, truth=truth)}
    assert set(rows) == {("a", "b"), ("b", "a")}  # self-history kernels are left out
    strength = draws.sum(axis=-1).reshape(-1, 2, 2)
    lo, hi = np.quantile(strength[:, 1, 0], [0.05, 0.95])
    assert rows["a", "b"]["lower"] == pytest.approx(lo) and rows["a", "b"]["upper"] == pytest.approx(hi)
    assert rows["a", "b"]["credibly_nonzero"] and rows["a", "b"]["truth"] == pytest.approx(1.5)
    assert rows["a", "b"]["p_positive"] == pytest.approx(np.mean(strength[:, 1, 0] > 0))
    assert rows["b", "a"]["credibly_nonzero"] == bool(np.quantile(strength[:, 0, 1], 0.05) > 0
                                                      or np.quantile(strength[:, 0, 1], 0.95) < 0)
    bands = filter_credible_bands(idata, 0.8)["coupling_filter"]
    flat = draws.reshape((-1, 2, 2, 3))
    np.testing.assert_allclose(bands["lower"], np.quantile(flat, 0.1, axis=0))
    np.testing.assert_allclose(bands["upper"], np.quantile(flat, 0.9, axis=0))
    np.testing.assert_allclose(bands["mean"], flat.mean(axis=0))
    with pytest.raises(ValueError, match="truth"):
        coupling_strength_intervals(idata, 0.9, truth=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="level"):
        filter_credible_bands(idata, 1.5)


def test_posterior_predictive_replicates_are_network_simulations():
    """A posterior whose draws all equal the truth replicates exactly net.simulate with the same keys."""
    net = ps.GLMNetwork(2, history_basis=basis.raised_cosine_log(2, 10), observation="bernoulli")
    truth = net.init_params(bias=-2.0)
    data = net.simulate_data(truth, jax.random.PRNGKey(0), n_steps=200)
    draws = {"coupling_weights": np.broadcast_to(np.asarray(truth.coupling_weights) - 0.5, (1, 4, 2, 2, 2)),
             "bias": np.full((1, 4, 2), -2.0)}
    idata = to_inference_data(net, data, draws, log_likelihood=None, compute_lp=False)
    rep = simulate_posterior_predictive(net, idata, n_steps=200, num_draws=3, seed=5)
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    params = truth._replace(coupling_weights=truth.coupling_weights - 0.5)
    for s in range(3):
        np.testing.assert_array_equal(rep[s], np.asarray(net.simulate(params, keys[s], n_steps=200)[0]))
    with pytest.raises(ValueError, match="num_draws"):
        simulate_posterior_predictive(net, idata, n_steps=200, num_draws=5)



def test_posterior_predictive_of_a_runaway_draw_is_one_runtime_error():
    """A Poisson draw with excitatory history explodes when it runs free: the documented RuntimeError names the
    draw (simulate's explosion check, not a count threshold of its own)."""
    net = ps.GLMNetwork(2, history_basis=basis.raised_cosine_log(2, 5))
    draws = {"coupling_weights": np.full((1, 2, 2, 2, 2), 1.0), "bias": np.zeros((1, 2, 2))}
    data = ps.SpikeData(np.zeros((50, 2), int), dt=0.01)
    idata = to_inference_data(net, data, draws, log_likelihood=None, compute_lp=False)
    with pytest.raises(RuntimeError, match=r"posterior draw \d diverged \(runaway excitation"):
        simulate_posterior_predictive(net, idata, n_steps=60, num_draws=2)

@pytest.mark.parametrize("call, match", [
    (lambda: diagnostics.spike_counts(np.array([[0.5, 1.0]])), "integer"),
    (lambda: diagnostics.isi_histogram(np.zeros((10, 1)), 0.001, [0.01, 0.0]), "edges"),
    (lambda: diagnostics.interspike_intervals(np.zeros((10, 1)), -1.0), "dt"),
    (lambda: diagnostics.psth(np.zeros((100, 1)), 0.001, 0.0105), "bin_width"),
    (lambda: diagnostics.psth(np.zeros((100, 1)), 0.001, 0.01, trial_length=30), "trial_length"),
])
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
