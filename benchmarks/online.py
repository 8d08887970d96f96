"""Speed of one online three-factor step vs the same update computed with ``jax.grad`` over a window.

Workload: a recurrent :class:`~probsnn.GLMNetwork` of 1,000 Bernoulli neurons
(100 visible clamped to random target spikes, 900 latent), all-to-all coupling with 5 log raised-cosine basis
functions over 20 bins (5 million synaptic weights), float32.

* probsnn: :meth:`ThreeFactorVI.online_step` (jitted): one network step, local traces ``e <- kappa e + (1-kappa)
  error x pre-trace``, learning signal, update direction (no baseline, K = 1).
* autodiff peer: the same update direction obtained by ``jax.grad`` of the kappa-discounted surrogate
  ``sum_{t'} (1-kappa) kappa^{t-t'} [log p(x_t' | u_t') + sg(l_t) log q(h_t' | u_t')]`` with the potentials recomputed
  by a ``lax.scan`` over the last ``W`` steps from a buffer of spikes (what reverse-mode AD needs without the
  forward-mode traces); ``W`` is chosen so that ``kappa^W < 1e-3``. The two updates are compared (max relative
  difference printed) to show they compute the same thing.

Compile time is reported separately; per-step times are medians over repeats after warm-up. The last line is
``steps_per_s=… ratio_vs_autodiff=…`` (ratio = autodiff time / three-factor time; > 1 means the local rule is faster).

Run: ``python benchmarks/online.py [--steps 30] [--neurons 1000]``.
"""
from __future__ import annotations

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from probsnn import basis
from probsnn.inference.three_factor import ThreeFactorVI
from probsnn.neurons.glm import GLMNetwork, GLMState


def build(n_neurons: int, kappa: float):
    n_visible = n_neurons // 10
    net = GLMNetwork(n_visible, n_neurons - n_visible, history_basis=basis.raised_cosine_log(5, 20),
                     observation="bernoulli")
    params = net.init_params(jax.random.PRNGKey(0), scale=0.3 / math.sqrt(n_neurons), bias=-2.0, dtype=jnp.float32)
    learner = ThreeFactorVI(net, kappa=kappa, baseline=False)
    return net, params, learner


def autodiff_update_fn(net, kappa: float, window: int):
    """``(params, buffer, l_prev, key, visible) -> (buffer, l, delta)``; buffer holds the last ``window + L``
    spike vectors (most recent first)."""
    n_hist = net.init_state().spike_history.shape[0]
    empty_inputs = net.init_state(jnp.float32).stimulus_history  # no exogenous inputs in this workload
    vis = jnp.asarray(net.visible_mask, jnp.float32)
    weights = (1 - kappa) * kappa ** jnp.arange(window - 1, -1, -1, dtype=jnp.float32)  # oldest first

    def update(params, buffer, l_prev, key, visible):
        # buffer[k] = s_{t-1-k}, length window + n_hist; forward step t from the most recent history
        state = GLMState(empty_inputs, buffer[:n_hist])
        stimulus_trace, spike_trace, _ = net.traces(state, jnp.zeros((0,), jnp.float32))
        u = net.potential_from_traces(params, stimulus_trace, spike_trace)
        sampled = net.observation.sample(jax.random.split(key, 1)[0], u)  # the key the learner uses for K = 1
        spikes = jnp.concatenate([visible, sampled[net.n_visible:]])
        ell = jnp.sum(net.observation.log_prob(spikes, u) * vis)
        l_now = kappa * l_prev + (1 - kappa) * ell
        buffer = jnp.concatenate([spikes[None], buffer[:-1]], axis=0)
        # window of spikes s_{t-window+1..t} (oldest first) and the history before it
        path = jnp.flip(buffer[:window], axis=0)
        start = GLMState(empty_inputs, buffer[window : window + n_hist])

        def surrogate(p):
            def body(st, s):
                st, out = net.forced_step(p, st, jnp.zeros((0,), jnp.float32), s)
                return st, out.log_prob

            logp = jax.lax.scan(body, start, path)[1]  # [window, N]
            per_step = jnp.sum(logp * vis, 1) + jax.lax.stop_gradient(l_now) * jnp.sum(logp * (1 - vis), 1)
            return jnp.sum(weights * per_step)

        return buffer, l_now, jax.grad(surrogate)(params)

    return jax.jit(update), window + n_hist


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=30, help="timed steps (median) after warm-up")
    parser.add_argument("--kappa", type=float, default=0.8)
    args = parser.parse_args(argv)
    window = int(math.ceil(math.log(1e-3) / math.log(args.kappa)))
    net, params, learner = build(args.neurons, args.kappa)
    print(f"devices: {jax.devices()}  network: {net.n_neurons} neurons ({net.n_visible} visible), "
          f"{net.n_history_basis} basis functions, {params.coupling_weights.size:,} weights, float32")
    rng = np.random.default_rng(0)
    targets = jnp.asarray(rng.random((args.steps + 60, net.n_visible)) < 0.1, jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(1), args.steps + 60)

    # --- three-factor online step
    step = jax.jit(learner.online_step)
    _, state = learner.init(params)
    t0 = time.perf_counter()
    jax.block_until_ready(step(params, state, jnp.zeros((0,), jnp.float32), targets[0], keys[0]))
    compile_tf = time.perf_counter() - t0
    holder = {"state": state, "t": 0}

    def tf_call():
        t = holder["t"]
        holder["state"], delta, out = step(params, holder["state"], jnp.zeros((0,), jnp.float32), targets[t], keys[t])
        holder["t"] = t + 1
        return delta

    for _ in range(window + 5):  # warm-up, also fills the eligibility traces
        tf_call()
    t_tf = median_time(tf_call, args.steps)

    # --- autodiff peer on the same spikes: replay the same keys and targets from the start
    ad_step, buf_len = autodiff_update_fn(net, args.kappa, window)
    buffer = jnp.zeros((buf_len, net.n_neurons), jnp.float32)
    t0 = time.perf_counter()
    jax.block_until_ready(ad_step(params, buffer, jnp.float32(0.0), keys[0], targets[0]))
    compile_ad = time.perf_counter() - t0
    # equivalence check: run both from a silent past for window + 5 steps with the same keys
    _, st = learner.init(params)
    l_prev = jnp.float32(0.0)
    for t in range(window + 5):
        st, delta_tf, _ = step(params, st, jnp.zeros((0,), jnp.float32), targets[t], keys[t])
        buffer, l_prev, delta_ad = ad_step(params, buffer, l_prev, keys[t], targets[t])
    a, b = (np.concatenate([np.ravel(x) for x in jax.device_get(d)]) for d in (delta_tf, delta_ad))
    rel = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
    ad_holder = {"buffer": buffer, "l": l_prev, "t": window + 5}

    def ad_call():
        t = ad_holder["t"] % targets.shape[0]
        ad_holder["buffer"], ad_holder["l"], delta = ad_step(
            params, ad_holder["buffer"], ad_holder["l"], keys[t], targets[t]
        )
        ad_holder["t"] += 1
        return delta

    t_ad = median_time(ad_call, max(5, args.steps // 3))
    print(f"three-factor online step : {t_tf * 1e3:9.2f} ms/step (median of {args.steps}), compile {compile_tf:.1f} s")
    print(f"jax.grad over window W={window}: {t_ad * 1e3:9.2f} ms/step (median of {max(5, args.steps // 3)}), "
          f"compile {compile_ad:.1f} s")
    print(f"same update: max |delta_3f - delta_autodiff| / max |delta_autodiff| = {rel:.2e} "
          f"(truncation kappa^W = {args.kappa ** window:.1e} plus float32 rounding)")
    print(f"steps_per_s={1.0 / t_tf:.1f} ratio_vs_autodiff={t_ad / t_tf:.2f}")


if __name__ == "__main__":
    main()
