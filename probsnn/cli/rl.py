"""``probsnn rl``: train a first-to-spike policy with REINFORCE on a built-in environment and report.

Example: ``probsnn rl --env windy --seeds 5 --iterations 200`` prints, per seed, one JSON line with the
greedy episode length from the fixed start and the spikes per decision, then the mean over seeds.
"""
from __future__ import annotations

import json

__all__ = ["add_parser", "run"]


def _build(args):
    from ..envs import CartPole, gridworld, windy_gridworld
    from ..inference.policy_gradient import FirstToSpikePolicy, OneHotEncoder, PopulationEncoder, Reinforce

    if args.env in ("windy", "grid"):
        make = windy_gridworld if args.env == "windy" else gridworld
        train_env = make(max_steps=args.horizon or 60, random_start=True)
        eval_env = train_env.with_fixed_start()
        encoder = OneHotEncoder(train_env.n_states)
        n_steps, lr, gamma, n_eval = args.n_steps or 5, args.learning_rate or 0.1, args.gamma or 1.0, 1
        batch, vlr = args.batch_size or 32, 0.5
    else:
        train_env = eval_env = CartPole(max_steps=args.horizon or 200)
        encoder = PopulationEncoder(train_env.observation_low, train_env.observation_high, n_per_dim=7)
        n_steps, lr, gamma, n_eval = args.n_steps or 4, args.learning_rate or 0.05, args.gamma or 0.99, 100
        batch, vlr = args.batch_size or 16, 0.1
    no_spike = "uniform" if args.no_spike == "uniform" else int(args.no_spike)
    policy = FirstToSpikePolicy(encoder, train_env.n_actions, n_steps=n_steps, n_latent=args.latent,
                                no_spike=no_spike)
    trainer = Reinforce(policy, train_env, learning_rate=lr, batch_size=batch, gamma=gamma, baseline=args.baseline,
                        value_learning_rate=vlr, variant=args.variant, spike_penalty=args.spike_penalty)
    return trainer, Reinforce(policy, eval_env), n_eval


def run(args) -> int:
    """Train and evaluate one policy per seed, print a JSON line per seed and the means; returns 0."""
    import jax
    import numpy as np

    if args.iterations < 1 or args.seeds < 1:
        raise ValueError("--iterations and --seeds must be >= 1.")
    trainer, evaluator, n_eval = _build(args)
    results = []
    for seed in range(args.seeds):
        ts, history = trainer.train(jax.random.PRNGKey(seed), args.iterations)
        greedy = evaluator.evaluate(ts.params, jax.random.PRNGKey(10_000 + seed), n_episodes=n_eval, greedy=True)
        sampled = evaluator.evaluate(ts.params, jax.random.PRNGKey(20_000 + seed), n_episodes=n_eval, greedy=False)
        row = {"seed": seed, "greedy_episode_length": greedy["episode_length"], "greedy_return": greedy["return"],
               "sampled_return": sampled["return"], "spikes_per_decision": sampled["spikes_per_decision"],
               "decision_time": sampled["decision_time"], "final_train_return": float(history["return"][-1])}
        results.append(row)
        print(json.dumps(row))
    summary = {k: float(np.mean([r[k] for r in results])) for k in results[0] if k != "seed"}
    print(f"env={args.env} seeds={args.seeds} mean_greedy_episode_length={summary['greedy_episode_length']:.2f} "
          f"mean_greedy_return={summary['greedy_return']:.2f} spikes_per_decision={summary['spikes_per_decision']:.3f} "
          f"decision_time={summary['decision_time']:.3f}")
    return 0


def add_parser(subparsers) -> None:
    """Register ``probsnn rl``."""
    p = subparsers.add_parser("rl", help="train a first-to-spike SNN policy with REINFORCE (policy gradient)")
    p.add_argument("--env", choices=("windy", "grid", "cartpole"), default="windy")
    p.add_argument("--iterations", type=int, default=200, help="policy updates per seed")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--n-steps", type=int, default=None, help="maximum decision time T (bins)")
    p.add_argument("--latent", type=int, default=0, help="latent neurons")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--gamma", type=float, default=None)
    p.add_argument("--horizon", type=int, default=None, help="episode step cap")
    p.add_argument("--baseline", choices=("learned", "moving", "none"), default="learned")
    p.add_argument("--variant", choices=("episode", "online"), default="episode")
    p.add_argument("--spike-penalty", type=float, default=0.0)
    p.add_argument("--no-spike", default="uniform", help="'uniform' or a default action index")
    p.set_defaults(func=run)
