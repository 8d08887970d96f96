"""NUTS effective samples per second: probsnn (parallel-in-time likelihood) vs a naive NumPyro NUTS.

Workload: the foundation benchmark's coupled Poisson network (10 neurons, 5 log raised-cosine history
basis functions over 50 bins, 51 parameters per neuron), ``--bins`` bins (default 20,000) simulated from
a fixed ground truth.

* probsnn: ``fit_nuts`` (design computed once, one contraction per gradient, Laplace-preconditioned mass).
* naive: the textbook NumPyro model, the same priors, whose likelihood runs a ``lax.scan`` over time
  that keeps a buffer of the last 50 bins of spikes and computes each bin's potential step by step; NumPyro
  NUTS with its default diagonal mass adaptation.

Both run the same number of warm-up/sampling iterations and chains in this process; compile+warm-up time is
reported separately from sampling time. ESS is ArviZ's minimum bulk ESS over all parameters; ESS/s uses
sampling time. Last line: ``ess_per_s_ratio=…``.

Run: ``python benchmarks/nuts.py [--bins 20000 --warmup 300 --samples 300]``.
"""
from __future__ import annotations

import argparse
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import arviz as az  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

import probsnn as ps  # noqa: E402
from probsnn import basis  # noqa: E402
from probsnn.inference import fit_nuts  # noqa: E402

N_NEURONS, N_BASIS, WINDOW = 10, 5, 50


def workload(n_bins, seed=0):
    rng = np.random.default_rng(seed)
    net = ps.GLMNetwork(N_NEURONS, history_basis=basis.raised_cosine_log(N_BASIS, WINDOW))
    coupling = rng.normal(0.0, 0.15, (N_NEURONS, N_NEURONS, N_BASIS))
    coupling[np.arange(N_NEURONS), np.arange(N_NEURONS)] = [-3.0, -1.0, -0.3, 0.0, 0.0]
    truth = net.init_params(bias=np.log(0.02))._replace(coupling_weights=jnp.asarray(coupling))
    return net, net.simulate_data(truth, jax.random.PRNGKey(seed), n_steps=n_bins)


def naive_model(counts, kernel_matrix):
    """Textbook model: potentials computed bin by bin in a scan over a buffer of past spikes."""
    n = counts.shape[1]
    w = numpyro.sample("coupling_weights", dist.Normal(0, 1).expand((n, n, N_BASIS)).to_event(3))
    b = numpyro.sample("bias", dist.Normal(0, 5).expand((n,)).to_event(1))
    kernels = jnp.einsum("ijb,lb->ijl", w, kernel_matrix)  # [N, N, L], lag l+1

    def step(buffer, y):  # buffer[l] = spikes at lag l+1
        u = b + jnp.einsum("ijl,lj->i", kernels, buffer)
        ll = jnp.sum(y * u - jnp.exp(u) - jax.scipy.special.gammaln(y + 1))
        return jnp.concatenate([y[None], buffer[:-1]]), ll

    _, ll = jax.lax.scan(step, jnp.zeros((kernel_matrix.shape[0], n)), counts)
    numpyro.factor("obs", ll.sum())


def min_ess(samples):
    idata = az.from_dict(posterior={k: np.asarray(v) for k, v in samples.items()})
    ess = az.ess(idata)
    return float(min(np.min(ess[v].values) for v in ess.data_vars))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bins", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--chains", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    net, data = workload(args.bins)
    print(f"workload: {N_NEURONS} coupled Poisson neurons, {args.bins} bins, {net.n_free_parameters} parameters; "
          f"{args.chains} chains x ({args.warmup} warm-up + {args.samples} draws)")

    idata = fit_nuts(net, data, num_warmup=args.warmup, num_samples=args.samples, num_chains=args.chains,
                     log_likelihood=None, progress=False, warn=False)
    ess_p = min(float(np.min(az.ess(idata, var_names=[v])[v].values)) for v in ("coupling_weights", "bias"))
    t_p = idata.attrs["sampling_time_s"]
    print(f"probsnn fit_nuts : warm-up+compile {idata.attrs['warmup_time_s']:.1f} s, sampling {t_p:.2f} s, "
          f"min bulk ESS {ess_p:.0f}, ESS/s {ess_p / t_p:.1f}, leapfrog steps {idata.attrs['num_leapfrog']}")

    kmat = jnp.asarray(net.history_basis.matrix)
    counts = jnp.asarray(data.counts)
    mcmc = MCMC(NUTS(naive_model), num_warmup=args.warmup, num_samples=args.samples, num_chains=args.chains,
                chain_method="vectorized", progress_bar=False)
    t0 = time.perf_counter()
    mcmc.warmup(jax.random.PRNGKey(0), counts, kmat, collect_warmup=False)
    jax.block_until_ready(mcmc.last_state)
    t1 = time.perf_counter()
    mcmc.run(mcmc.post_warmup_state.rng_key, counts, kmat, extra_fields=("num_steps",))
    samples = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(samples)
    t_n = time.perf_counter() - t1
    ess_n = min_ess(samples)
    steps = int(np.asarray(mcmc.get_extra_fields()["num_steps"]).sum())
    print(f"naive scan NUTS  : warm-up+compile {t1 - t0:.1f} s, sampling {t_n:.2f} s, min bulk ESS {ess_n:.0f}, "
          f"ESS/s {ess_n / t_n:.2f}, leapfrog steps {steps}")
    print("note: sampling times include one compilation of the sampling loop for both methods")
    print(f"ess_per_s_ratio={(ess_p / t_p) / (ess_n / t_n):.1f}")


if __name__ == "__main__":
    main()
