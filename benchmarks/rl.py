"""Environment steps per second of jitted, vmapped batches of first-to-spike episodes.

Peers in the same run: the same policy + windy grid world stepped one decision at a time from Python
(jitted decide and env.step, no vmap), i.e. the per-step loop a Gymnasium-style agent would run.
Reports medians after warm-up and compile time separately; last line ``env_steps_per_s=...``.

    .venv/bin/python benchmarks/rl.py [--batch 256] [--repeats 5]
"""
import argparse
import time

import jax
import numpy as np

from probsnn.encoding import OneHotEncoder
from probsnn.envs import windy_gridworld
from probsnn.inference.policy_gradient import FirstToSpikePolicy, Reinforce


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n-steps", type=int, default=5)
    args = ap.parse_args()

    env = windy_gridworld(max_steps=200, random_start=True)
    policy = FirstToSpikePolicy(OneHotEncoder(env.n_states), 4, n_steps=args.n_steps)
    trainer = Reinforce(policy, env, batch_size=args.batch)
    params = policy.init_params(jax.random.PRNGKey(0))

    run = jax.jit(jax.vmap(lambda k: trainer.episode(params, k)[0].valid.sum()))
    keys = jax.random.split(jax.random.PRNGKey(1), args.batch)
    t0 = time.perf_counter()
    jax.block_until_ready(run(keys))
    compile_s = time.perf_counter() - t0
    times, steps = [], 0
    for r in range(args.repeats):
        keys = jax.random.split(jax.random.PRNGKey(2 + r), args.batch)
        t0 = time.perf_counter()
        n = run(keys).block_until_ready()
        times.append(time.perf_counter() - t0)
        steps = int(n.sum())
    batched = steps / np.median(times)

    # peer: Python loop, one jitted decision + env step at a time
    decide = jax.jit(policy.decide)
    step = jax.jit(env.step)
    state, obs = env.reset(jax.random.PRNGKey(3))
    key = jax.random.PRNGKey(4)
    a = decide(params, key, obs).action
    jax.block_until_ready(step(state, a))
    n_loop, t0 = 0, time.perf_counter()
    while n_loop < 300:
        key, sub = jax.random.split(key)
        a = decide(params, sub, obs).action
        state, obs, r, term, trunc, _ = step(state, a)
        n_loop += 1
        if bool(term | trunc):
            state, obs = env.reset(sub)
    jax.block_until_ready(obs)
    loop = n_loop / (time.perf_counter() - t0)

    print(f"windy grid world, T={args.n_steps}, batch={args.batch}: compile {compile_s:.2f} s, "
          f"median {np.median(times) * 1e3:.1f} ms per batch of episodes ({steps} env steps)")
    print(f"python-loop peer: {loop:.0f} env_steps/s; batched/loop ratio = {batched / loop:.1f}x")
    print(f"env_steps_per_s={batched:.0f} ratio_vs_python_loop={batched / loop:.1f}")


if __name__ == "__main__":
    main()
