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
  its defaults (diagonal mass matrix adapted in NumPyro's windows, target acceptance 0.8, tree depth 10) and
  the same numbers of warm-up iterations, draws and chains, with two head starts that probsnn gives itself:
  it starts at the posterior mode, and its diagonal inverse mass matrix starts at the exact posterior
  variances (the Laplace diagonal) instead of the identity. Without them, its first warm-up window runs
  with unit masses against posterior SDs of 0.01-0.05, every tree hits depth 10 (1023 gradients a draw),
  and at 100,000 bins the warm-up alone takes hours.

How the naive sampler is timed. At 100,000 bins one gradient of the scan model costs about a second, and
NUTS with a diagonal mass matrix takes tens of gradients per draw here, so running it to the end takes
hours. Its Markov chain depends only on the potential's values, not on how they are computed, so the
benchmark runs the *same* kernel (same settings, start and keys) on the probsnn potential of the identical
posterior (the "twin"; log densities at the mode are printed and agree), which yields the naive sampler's
draws, tree sizes and ESS. Its sampling time is the number of gradients it needs times the time of one
gradient of the scan model for all chains (vectorised chains advance in lock step, so an iteration costs
the longest of the chains' trajectories). The scan sampler itself runs the first ``--naive-check-draws``
draws from the twin's adapted state with the same key: its trajectories have the same lengths and its
draws equal the twin's to floating-point error. The time per gradient is the smaller of a standalone
value-and-gradient call and those check draws' wall time per gradient (compilation included), so the
estimate errs in the naive sampler's favour. A second line reports the
ratio with the kernel held fixed (both with probsnn's dense Laplace mass matrix): then the draws are the
same and only the likelihood's cost differs, the gradient-time ratio.

Both use float64 and vectorised chains in this one process. Warm-up (including compilation) is reported
separately from sampling; ESS/s is ArviZ's minimum bulk ESS over all 510 parameters divided by the sampling
time (for probsnn measured, including one compilation of the sampling loop). Last line: ``ess_per_s_ratio=…``.

Run: ``python benchmarks/nuts.py [--bins 100000 --warmup 100 --samples 500 --naive-samples 200
--naive-check-draws 2]`` (``make bench-nuts``; about 25 minutes on 2 cores, most of it the twin's many
gradients).
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
from numpyro.infer.util import log_density, potential_energy  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import glm_fit  # noqa: E402

import probsnn as ps  # noqa: E402
from probsnn.inference import fit_nuts  # noqa: E402
from probsnn.inference.laplace import mode_and_covariance, resolve_priors  # noqa: E402
from probsnn.inference.mcmc import laplace_inverse_mass  # noqa: E402
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


def gradient_seconds(value_and_grad_fn, params, repeats=3):
    """Median wall time of one jitted call of a value-and-gradient function (after one compiling call)."""
    fn = jax.jit(value_and_grad_fn)
    jax.block_until_ready(fn(params))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(params))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def report(name, chains, warmup, draws, warmup_s, sampling_s, leapfrog, ess, timed="measured"):
    per_draw = leapfrog / (chains * draws)
    print(f"{name:<9}: {chains} chains x ({warmup} warm-up + {draws} draws); warm-up {warmup_s:.1f} s, "
          f"sampling {sampling_s:.1f} s ({timed}); {per_draw:.1f} leapfrog steps/draw, "
          f"{sampling_s / (leapfrog / chains) * 1e3:.1f} ms per leapfrog step of a chain; min bulk ESS {ess:.0f}, "
          f"ESS/s {ess / sampling_s:.3g}", flush=True)
    return ess / sampling_s


def batched_value_and_grad(model, model_args, model_kwargs):
    """One leapfrog step of vectorised chains: value and gradient of a model's potential, mapped over the
    leading chain axis of the parameters."""
    return jax.vmap(jax.value_and_grad(lambda z: potential_energy(model, model_args, model_kwargs, z)))


def lockstep_gradients(num_steps) -> int:
    """Gradients that vectorised chains cost: they advance in lock step, so an iteration costs the longest
    trajectory among the chains (``num_steps`` is ``[chain, draw]``)."""
    return int(np.asarray(num_steps).max(axis=0).sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bins", type=int, default=glm_fit.N_BINS)
    parser.add_argument("--warmup", type=int, default=100, help="warm-up iterations, the same for both")
    parser.add_argument("--samples", type=int, default=500, help="probsnn draws per chain")
    parser.add_argument("--naive-samples", type=int, default=200,
                        help="naive draws per chain (ESS/s is a rate; fewer keeps the twin's run short)")
    parser.add_argument("--naive-check-draws", type=int, default=2,
                        help="draws the naive scan sampler runs itself, to check it retraces its fast twin")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--progress", action="store_true", help="progress bars (on stderr)")
    args = parser.parse_args()
    for name in ("warmup", "samples", "naive_samples", "chains"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0 <= args.naive_check_draws <= args.naive_samples:
        raise SystemExit(f"--naive-check-draws must lie in [0, --naive-samples], got {args.naive_check_draws}")
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

    # ---- the two models are the same posterior
    priors = resolve_priors(None)
    fit, covariance = mode_and_covariance(net, data, priors, design=design)
    posterior_variances = np.diag(laplace_inverse_mass(net, np.asarray(covariance), SITES))
    start = {"coupling_weights": jnp.asarray(fit.params.coupling_weights), "bias": jnp.asarray(fit.params.bias)}
    counts = jnp.asarray(data.counts, jnp.float64)
    kmat = jnp.asarray(net.history_basis.matrix)
    fast_args, fast_kwargs = (design, counts), dict(net=net, priors=priors)
    lp_naive, _ = log_density(naive_model, (counts, kmat), {}, start)
    lp_fast, _ = log_density(glm_network, fast_args, fast_kwargs, start)
    print(f"log density at the mode: probsnn model {float(lp_fast):.6f}, naive scan model {float(lp_naive):.6f}",
          flush=True)
    batched_start = jax.tree.map(lambda x: jnp.broadcast_to(x, (args.chains,) + x.shape), start)
    fast_step = batched_value_and_grad(glm_network, fast_args, fast_kwargs)
    naive_step = batched_value_and_grad(naive_model, (counts, kmat), {})
    step_fast = gradient_seconds(fast_step, batched_start)
    step_naive = gradient_seconds(naive_step, batched_start)
    print(f"one leapfrog gradient of {args.chains} vectorised chains: probsnn model {step_fast * 1e3:.1f} ms, "
          f"naive scan model {step_naive * 1e3:.1f} ms (x{step_naive / step_fast:.1f})", flush=True)

    # ---- naive NUTS (NumPyro defaults), run as its fast twin: the same kernel on the probsnn potential
    def nuts_defaults(model, num_samples):
        kernel = NUTS(model, init_strategy=init_to_value(values=start),
                      inverse_mass_matrix={tuple(sorted(SITES)): jnp.asarray(posterior_variances)})
        return MCMC(kernel, num_warmup=args.warmup,
                    num_samples=num_samples, num_chains=args.chains, chain_method="vectorized",
                    progress_bar=args.progress)

    twin = nuts_defaults(glm_network, args.naive_samples)
    t0 = time.perf_counter()
    twin.warmup(jax.random.PRNGKey(1), *fast_args, collect_warmup=True, extra_fields=("num_steps",),
                **fast_kwargs)
    warm_state = twin.post_warmup_state
    jax.block_until_ready(warm_state)
    warmup_lockstep = lockstep_gradients(twin.get_extra_fields(group_by_chain=True)["num_steps"])
    t1 = time.perf_counter()
    sample_key = jax.random.PRNGKey(2)
    twin.run(sample_key, *fast_args, extra_fields=("num_steps",), **fast_kwargs)
    twin_samples = twin.get_samples(group_by_chain=True)
    jax.block_until_ready(twin_samples)
    t2 = time.perf_counter()
    steps = np.asarray(twin.get_extra_fields(group_by_chain=True)["num_steps"])  # [chain, draw]
    lockstep_steps = lockstep_gradients(steps)
    ess_naive = min_bulk_ess(twin_samples)
    print(f"naive twin: {args.chains} chains x ({args.warmup} warm-up + {args.naive_samples} draws) on the fast "
          f"potential in {t1 - t0:.1f} + {t2 - t1:.1f} s; {steps.mean():.1f} leapfrog steps/draw, {lockstep_steps} "
          f"lock-step gradients while sampling; min bulk ESS {ess_naive:.0f}", flush=True)

    # ---- the naive scan sampler itself, from the twin's adapted state and the same key, for a few draws
    step_naive_used, how = step_naive, "standalone value-and-gradient"
    if args.naive_check_draws:
        naive = nuts_defaults(naive_model, args.naive_check_draws)
        potential, gradient = naive_step(warm_state.z)
        naive.post_warmup_state = warm_state._replace(potential_energy=potential, z_grad=gradient)
        t3 = time.perf_counter()
        naive.run(sample_key, counts, kmat, extra_fields=("num_steps",))
        naive_samples = naive.get_samples(group_by_chain=True)
        jax.block_until_ready(naive_samples)
        t4 = time.perf_counter()
        k = args.naive_check_draws
        gap = max(float(np.max(np.abs(np.asarray(naive_samples[s]) - np.asarray(twin_samples[s])[:, :k])))
                  for s in SITES)
        naive_steps = np.asarray(naive.get_extra_fields(group_by_chain=True)["num_steps"])
        check_lockstep = lockstep_gradients(naive_steps)
        same_steps = np.array_equal(naive_steps, steps[:, :k])
        in_loop = (t4 - t3) / check_lockstep
        print(f"naive scan sampler, {k} draws from the twin's adapted state: {t4 - t3:.1f} s including compilation "
              f"for {check_lockstep} lock-step gradients ({in_loop * 1e3:.0f} ms each; standalone "
              f"{step_naive * 1e3:.0f} ms); trajectories {'identical' if same_steps else 'DIFFERENT'} in length, "
              f"draws equal to the twin's within {gap:.1e}", flush=True)
        if in_loop < step_naive:
            step_naive_used, how = in_loop, "check draws' wall time incl. compilation"
    # the smaller of the two per-gradient times: the estimate errs in the naive sampler's favour
    rate_n = report("naive", args.chains, args.warmup, args.naive_samples, warmup_lockstep * step_naive_used,
                    lockstep_steps * step_naive_used, int(steps.sum()), ess_naive,
                    timed=f"lock-step gradients x {step_naive_used * 1e3:.0f} ms, from the {how}")
    print(f"same kernel (probsnn's dense Laplace mass for both): identical draws, ESS/s ratio ~ gradient-time "
          f"ratio {step_naive / step_fast:.1f}")
    print(f"ess_per_s_ratio={rate_p / rate_n:.1f}")


if __name__ == "__main__":
    main()
