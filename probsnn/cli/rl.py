"""``probsnn rl``: train a first-to-spike policy with REINFORCE on a built-in environment and report.

Example: ``probsnn rl --env windy --seeds 5 --iterations 200`` prints, per seed, one JSON line with the
greedy episode length from the fixed start and the spikes per decision, then the mean over seeds.
``--checkpoint run.ckpt`` makes the run resumable: interrupted (Ctrl-C) and started again with the same
options, it continues where it stopped and prints exactly what an uninterrupted run prints.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ._common import CLIError

__all__ = ["add_parser", "run"]


def _build(args):
    from ..encoding import OneHotEncoder, PopulationEncoder
    from ..envs import CartPole, gridworld, windy_gridworld
    from ..inference.policy_gradient import FirstToSpikePolicy, Reinforce

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


_COMMAND_KEYS = ("env", "iterations", "seeds", "n_steps", "latent", "batch_size", "learning_rate", "gamma", "horizon",
                 "baseline", "variant", "spike_penalty", "no_spike", "chunk")


def _resume_point(path: Path, command: dict) -> tuple[int, list[str]]:
    """``(seed, printed rows)`` of the checkpoint at ``path`` of this command; ``(0, [])`` when there is none."""
    from ..checkpoint import read_checkpoint_config

    if not path.exists():
        return 0, []
    config, _ = read_checkpoint_config(path, "Reinforce")
    info = config.get("info")
    if not isinstance(info, dict) or not {"command", "seed", "rows"} <= set(info):
        raise CLIError(f"--checkpoint {path} is a Reinforce checkpoint, but not one of `probsnn rl`; give another "
                       "path.")
    if info["command"] != command:
        differ = sorted(k for k in command if info["command"].get(k) != command[k])
        raise CLIError(f"--checkpoint {path} is the checkpoint of another `probsnn rl` command (options {differ} "
                       "differ); repeat the interrupted command, or give another path to start over.")
    return int(info["seed"]), [str(row) for row in info["rows"]]


def run(args) -> int:
    """Train and evaluate one policy per seed, print a JSON line per seed and the means; returns 0.

    With ``--checkpoint`` the training state is written at the first end of a ``--chunk`` of updates after
    each ``--checkpoint-every`` updates, at the end of each seed and on Ctrl-C (exit status 130); the same
    command then resumes from it: it prints the lines of the seeds already done again and continues, so that
    its output is byte-identical to that of an uninterrupted run (with or without ``--checkpoint``).

    Raises
    ------
    ValueError
        For a bad option (naming it and the value) or a damaged checkpoint.
    CLIError
        When ``--checkpoint`` holds the checkpoint of another command.
    """
    import jax
    import numpy as np

    from .._checks import positive_int

    positive_int("--iterations", args.iterations)
    positive_int("--seeds", args.seeds)
    chunk = positive_int("--chunk", args.chunk)
    every = None if args.checkpoint_every is None else positive_int("--checkpoint-every", args.checkpoint_every)
    if every is not None and not args.checkpoint:
        raise CLIError("--checkpoint-every needs --checkpoint PATH (the file to write and resume from).")
    trainer, evaluator, n_eval = _build(args)
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    command = {k: getattr(args, k) for k in _COMMAND_KEYS}
    first_seed, lines = (0, []) if checkpoint is None else _resume_point(checkpoint, command)
    if checkpoint is not None and checkpoint.exists():
        print(f"resuming from {checkpoint} at seed {first_seed}", file=sys.stderr)
    for line in lines:
        print(line)
    for seed in range(first_seed, args.seeds):
        options = {} if checkpoint is None else dict(
            checkpoint=checkpoint, checkpoint_every=every, resume=seed == first_seed,
            checkpoint_info={"command": command, "seed": seed, "rows": lines})
        ts, history = trainer.train(jax.random.PRNGKey(seed), args.iterations, chunk=chunk, **options)
        greedy = evaluator.evaluate(ts.params, jax.random.PRNGKey(10_000 + seed), n_episodes=n_eval, greedy=True)
        sampled = evaluator.evaluate(ts.params, jax.random.PRNGKey(20_000 + seed), n_episodes=n_eval, greedy=False)
        row = {"seed": seed, "greedy_episode_length": greedy["episode_length"], "greedy_return": greedy["return"],
               "sampled_return": sampled["return"], "spikes_per_decision": sampled["spikes_per_decision"],
               "decision_time": sampled["decision_time"], "final_train_return": float(history["return"][-1])}
        lines = lines + [json.dumps(row)]
        print(lines[-1])
    results = [json.loads(line) for line in lines]
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
    p.add_argument("--checkpoint", help="checkpoint file (data-only .npz): resumed from when present, written "
                                        "during training, after each seed and on Ctrl-C")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="updates between checkpoints, written at the end of a chunk (default: every chunk)")
    p.add_argument("--chunk", type=int, default=50,
                   help="updates per compiled chunk (default 50); each chunk draws its own random key, so the "
                        "results depend on it (not on checkpointing or interrupts)")
    p.set_defaults(func=run)
