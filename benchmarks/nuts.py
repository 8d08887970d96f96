"""NUTS effective samples per second: probsnn (parallel-in-time likelihood) vs a naive NumPyro NUTS.

Workload: the foundation benchmark's coupled Poisson network (``benchmarks/glm_fit.py`` ``workload()``:
10 neurons, 100,000 bins, self-history and coupling filters of 5 log raised cosines over 50 bins, 51
parameters per neuron, 510 in all), simulated from its fixed ground truth. ``--bins`` < 100,000 keeps the
first bins of the same recording (for quick checks only).

* probsnn: ``fit_nuts`` (design computed once, so every gradient is one contraction ``X @ W.T`` over the
  design; chains start at the posterior mode with the Laplace covariance as a fixed dense inverse mass
  matrix; only the step size is adapted during warm-up).
* naive: the textbook NumPyro model with the same sample sites and priors (coupling weights Normal(0, 1),
  bias Normal(0, 5)), whose likelihood runs a ``lax.scan`` over time that keeps a buffer of the last 50 bins
  of spikes and computes each bin's potential from the lag-space kernels, step by step. NumPyro's NUTS with
  its defaults (diagonal mass matrix adapted in NumPyro's windows, target acceptance 0.8, tree depth 10),
  the same number of warm-up iterations and chains, and, to spare it the slow transient from a random start,
  the same starting point (the posterior mode): a head start probsnn gives itself, given to both.

Both use float64 and vectorised chains in this one process. Warm-up (including compilation) is timed
separately from sampling; ESS/s is ArviZ's minimum bulk ESS over all 510 parameters divided by the sampling
time (which includes one compilation of the sampling loop for both). The naive sampler may run fewer draws
(``--naive-samples``: ESS/s is a rate); what each ran is printed. Last line: ``ess_per_s_ratio=…``.

Run: ``python benchmarks/nuts.py [--bins 100000 --warmup 100 --samples 500 --naive-samples 100]``.
The naive sampler costs seconds per gradient at 100,000 bins, so its part dominates the run time.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import arviz as az  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from numpyro.infer import MCMC, NUTS, init_to_value  # noqa: E402
from numpyro.infer.util import log_density  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import glm_fit  # noqa: E402

import probsnn as ps  # noqa: E402
from probsnn.inference import fit_nuts  # noqa: E402
from probsnn.inference.laplace import mode_and_covariance, resolve_priors  # noqa: E402
from probsnn.models.glm import glm_network  # noqa: E402

N_BASIS = glm_fit.N_BASIS
SITES = ("coupling_weights", "bias")


def workload(n_bins: int = glm_fit.N_BINS):
    """The foundation benchmark's network and data; ``n_bins`` < 100,000 keeps the first bins."""
    net, data = glm_fit.workload()
    if not 1 <= n_bins <= data.n_bins:
        raise SystemExit(f"--bins must lie in [1, {data.n_bins}], got {n_bins}")
    if n_bins < data.n_bins:
        data = ps.SpikeData(np.asarray(data.counts)[:n_bins], dt=data.dt)
    return net, data


def naive_model(counts, kernel_matrix):
    """Textbook model: potentials computed bin by bin in a scan over a buffer of past spikes.

    ``kernel_matrix[l, b]`` is basis function ``b`` at lag ``l + 1``; the kernels in lag space are formed
    once per evaluation, then every bin applies all N x N kernels to the buffer of the last L bins.
    """
    n = counts.shape[1]
    w = numpyro.sample("coupling_weights", dist.Normal(0.0, 1.0).expand((n, n, N_BASIS)).to_event(3))
    b = numpyro.sample("bias", dist.Normal(0.0, 5.0).expand((n,)).to_event(1))
    kernels = jnp.einsum("ijb,lb->ijl", w, kernel_matrix)  # [N, N, L], lag l+1

    def step(buffer, y):  # buffer[l] = spikes at lag l+1
        u = b + jnp.einsum("ijl,lj->i", kernels, buffer)
        ll = jnp.sum(y * u - jnp.exp(u) - jax.scipy.special.gammaln(y + 1.0))
        return jnp.concatenate([y[None], buffer[:-1]]), ll

    _, ll = jax.lax.scan(step, jnp.zeros((kernel_matrix.shape[0], n)), counts)
    numpyro.factor("obs", ll.sum())


def min_bulk_ess(posterior: dict) -> float:
    """ArviZ's bulk ESS, minimum over every entry of the sites in ``SITES`` (arrays ``[chain, draw, ...]``)."""
    idata = az.from_dict(posterior={k: np.asarray(posterior[k]) for k in SITES})
    ess = az.ess(idata, method="bulk")
    return float(min(np.min(ess[v].values) for v in SITES))


def gradient_seconds(potential_fn, params, repeats=3):
    """Median wall time of one jitted value-and-gradient of a potential (after one compiling call)."""
    fn = jax.jit(jax.value_and_grad(potential_fn))
    jax.block_until_ready(fn(params))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(params))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def report(name, chains, warmup, draws, warmup_s, sampling_s, leapfrog, ess):
    per_draw = leapfrog / (chains * draws)
    print(f"{name:<9}: {chains} chains x ({warmup} warm-up + {draws} draws); warm-up+compile {warmup_s:.1f} s, "
          f"sampling {sampling_s:.1f} s; {per_draw:.1f} leapfrog steps/draw, "
          f"{sampling_s / (leapfrog / chains) * 1e3:.1f} ms per leapfrog step of a chain; min bulk ESS {ess:.0f}, "
          f"ESS/s {ess / sampling_s:.3g}", flush=True)
    return ess / sampling_s


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bins", type=int, default=glm_fit.N_BINS)
    parser.add_argument("--warmup", type=int, default=100, help="warm-up iterations, the same for both")
    parser.add_argument("--samples", type=int, default=500, help="probsnn draws per chain")
    parser.add_argument("--naive-samples", type=int, default=100, help="naive draws per chain")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--progress", action="store_true", help="progress bars (on stderr)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    net, data = workload(args.bins)
    print(f"workload: {net.n_neurons} coupled Poisson neurons, {data.n_bins} bins, {N_BASIS} log raised cosines "
          f"over {net.history_basis.n_lags} bins, {net.n_free_parameters} parameters; float64, "
          f"chain_method='vectorized', {jax.local_device_count()} JAX device(s), load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)

    # ---- probsnn
    design = net.design_matrix(data)
    idata = fit_nuts(net, data, num_warmup=args.warmup, num_samples=args.samples, num_chains=args.chains,
                     chain_method="vectorized", log_likelihood=None, design=design,
                     progress=args.progress, warn=False)
    posterior = {k: idata.posterior[k].values for k in SITES}
    rate_p = report("probsnn", args.chains, args.warmup, args.samples, idata.attrs["warmup_time_s"],
                    idata.attrs["sampling_time_s"], idata.attrs["num_leapfrog"], min_bulk_ess(posterior))

    # ---- naive, started at the same posterior mode
    priors = resolve_priors(None)
    fit, _ = mode_and_covariance(net, data, priors, design=design)
    start = {"coupling_weights": jnp.asarray(fit.params.coupling_weights), "bias": jnp.asarray(fit.params.bias)}
    counts = jnp.asarray(data.counts, jnp.float64)
    kmat = jnp.asarray(net.history_basis.matrix)
    # the two models are the same posterior: compare log densities at the start
    lp_naive, _ = log_density(naive_model, (counts, kmat), {}, start)
    lp_probsnn, _ = log_density(glm_network, (design, counts), dict(net=net, priors=priors), start)
    print(f"log density at the mode: probsnn model {float(lp_probsnn):.6f}, naive scan model {float(lp_naive):.6f}",
          flush=True)
    from numpyro.infer.util import potential_energy

    grad_p = gradient_seconds(lambda z: potential_energy(glm_network, (design, counts), dict(net=net, priors=priors), z),
                              start)
    grad_n = gradient_seconds(lambda z: potential_energy(naive_model, (counts, kmat), {}, z), start)
    print(f"one value-and-gradient of the log density (one chain): probsnn {grad_p * 1e3:.1f} ms, naive scan "
          f"{grad_n * 1e3:.1f} ms (x{grad_n / grad_p:.1f})", flush=True)
    mcmc = MCMC(NUTS(naive_model, init_strategy=init_to_value(values=start)), num_warmup=args.warmup,
                num_samples=args.naive_samples, num_chains=args.chains, chain_method="vectorized",
                progress_bar=args.progress)
    t0 = time.perf_counter()
    mcmc.warmup(jax.random.PRNGKey(1), counts, kmat, collect_warmup=False)
    jax.block_until_ready(mcmc.last_state)
    t1 = time.perf_counter()
    mcmc.run(mcmc.post_warmup_state.rng_key, counts, kmat, extra_fields=("num_steps",))
    samples = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(samples)
    t2 = time.perf_counter()
    steps = int(np.asarray(mcmc.get_extra_fields()["num_steps"]).sum())
    rate_n = report("naive", args.chains, args.warmup, args.naive_samples, t1 - t0, t2 - t1, steps,
                    min_bulk_ess(samples))
    print(f"ess_per_s_ratio={rate_p / rate_n:.1f}")


if __name__ == "__main__":
    main()
