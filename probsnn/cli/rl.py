"""``probsnn rl``: train a first-to-spike policy with REINFORCE on a built-in environment and report.

Example: ``probsnn rl --env windy --seeds 5 --iterations 200`` prints, per seed, one JSON line with the
greedy episode length from the fixed start and the spikes per decision, then the mean over seeds.
``--checkpoint run.ckpt`` makes the run resumable: interrupted (Ctrl-C) and started again with the same
options, it continues where it stopped and prints exactly what an uninterrupted run prints.

``--out DIR`` keeps the results: after each seed, ``policy_seed<k>.npz`` (data only: the trained policy's
weights ``stimulus_weights``, ``coupling_weights``, ``bias``, and that seed's training metrics per update,
``curve_<metric>``), and at the end ``learning_curve.csv`` (seed, update and every metric: mean return of the
batch, episode length, spikes per decision, ...) and ``learning_curve.png`` (the return per update of every
seed). A progress bar of the updates goes to stderr when stderr is a terminal (``--quiet``: never); it never
goes to stdout or to the files of ``--out``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ._common import CLIError, HelpFormatter, check_output_folder, create_output_folder, plain_text

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
    out = None if args.out is None else check_output_folder("--out", args.out)
    trainer, evaluator, n_eval = _build(args)
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    command = {k: getattr(args, k) for k in _COMMAND_KEYS}
    first_seed, lines = (0, []) if checkpoint is None else _resume_point(checkpoint, command)
    if checkpoint is not None and checkpoint.exists():
        print(f"resuming from {checkpoint} at seed {first_seed}", file=sys.stderr)
    for line in lines:
        print(line)
    if out is not None:
        create_output_folder("--out", out)
    from tqdm.auto import tqdm

    for seed in range(first_seed, args.seeds):
        options = {} if checkpoint is None else dict(
            checkpoint=checkpoint, checkpoint_every=every, resume=seed == first_seed,
            checkpoint_info={"command": command, "seed": seed, "rows": lines})
        with tqdm(total=args.iterations, desc=f"seed {seed}", unit="update", file=sys.stderr, leave=False,
                  disable=True if args.quiet else None) as bar:  # None: only when stderr is a terminal

            def advance(iteration, state, metrics, bar=bar):
                bar.update(iteration - bar.n)

            ts, history = trainer.train(jax.random.PRNGKey(seed), args.iterations, chunk=chunk, callback=advance,
                                        **options)
        if out is not None:
            np.savez(out / f"policy_seed{seed}.npz", **{f: np.asarray(v) for f, v in zip(ts.params._fields, ts.params)},
                     **{f"curve_{k}": np.asarray(v) for k, v in history.items()})
        greedy = evaluator.evaluate(ts.params, jax.random.PRNGKey(10_000 + seed), n_episodes=n_eval, greedy=True)
        sampled = evaluator.evaluate(ts.params, jax.random.PRNGKey(20_000 + seed), n_episodes=n_eval, greedy=False)
        row = {"seed": seed, "greedy_episode_length": greedy["episode_length"], "greedy_return": greedy["return"],
               "sampled_return": sampled["return"], "spikes_per_decision": sampled["spikes_per_decision"],
               "decision_time": sampled["decision_time"], "final_train_return": float(history["return"][-1])}
        lines = lines + [json.dumps(row)]
        print(lines[-1])
    if out is not None:
        _write_learning_curve(out, args.seeds)
    results = [json.loads(line) for line in lines]
    summary = {k: float(np.mean([r[k] for r in results])) for k in results[0] if k != "seed"}
    print(f"env={args.env} seeds={args.seeds} mean_greedy_episode_length={summary['greedy_episode_length']:.2f} "
          f"mean_greedy_return={summary['greedy_return']:.2f} spikes_per_decision={summary['spikes_per_decision']:.3f} "
          f"decision_time={summary['decision_time']:.3f}")
    return 0


def _write_learning_curve(out: Path, n_seeds: int) -> None:
    """``learning_curve.csv`` and ``.png`` from the ``policy_seed<k>.npz`` files of every seed in ``out``."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..datasets import read_npz_arrays

    curves = []
    for seed in range(n_seeds):
        path = out / f"policy_seed{seed}.npz"
        if not path.exists():
            raise CLIError(f"--out {out}: {path.name} is missing (each seed of a resumed run wrote its policy "
                           "there); give the --out of the interrupted run, or start over without --checkpoint.")
        arrays = read_npz_arrays(path)
        curves.append({k[len("curve_"):]: np.asarray(v) for k, v in arrays.items() if k.startswith("curve_")})
    metrics = sorted(curves[0])
    with (out / "learning_curve.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["seed", "update"] + metrics)
        for seed, curve in enumerate(curves):
            for i in range(len(curve[metrics[0]])):
                writer.writerow([seed, i + 1] + [repr(float(curve[m][i])) for m in metrics])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for seed, curve in enumerate(curves):
        ax.plot(np.arange(1, len(curve["return"]) + 1), curve["return"], lw=1, label=f"seed {seed}")
    ax.set(xlabel="update", ylabel="mean return of the batch", title="probsnn rl: learning curve")
    if len(curves) <= 10:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "learning_curve.png", dpi=110)
    plt.close(fig)


def add_parser(subparsers) -> None:
    """Register ``probsnn rl``."""
    p = subparsers.add_parser("rl", help="train a first-to-spike SNN policy with REINFORCE (policy gradient)",
                              description=plain_text(__doc__), formatter_class=HelpFormatter)
    p.add_argument("--env", choices=("windy", "grid", "cartpole"), default="windy",
                   help="the environment: windy grid world, plain grid world or cart-pole")
    p.add_argument("--iterations", type=int, default=200, help="policy updates per seed")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds (independent training runs: 0, 1, ...)")
    p.add_argument("--n-steps", type=int, default=None,
                   help="maximum decision time T in bins (default: 5 for the grid worlds, 4 for cart-pole)")
    p.add_argument("--latent", type=int, default=0, help="latent neurons")
    p.add_argument("--batch-size", type=int, default=None,
                   help="episodes per update (default: 32 for the grid worlds, 16 for cart-pole)")
    p.add_argument("--learning-rate", type=float, default=None,
                   help="Adam learning rate (default: 0.1 for the grid worlds, 0.05 for cart-pole)")
    p.add_argument("--gamma", type=float, default=None,
                   help="discount factor (default: 1.0 for the grid worlds, 0.99 for cart-pole)")
    p.add_argument("--horizon", type=int, default=None,
                   help="episode step cap (default: 60 for the grid worlds, 200 for cart-pole)")
    p.add_argument("--baseline", choices=("learned", "moving", "none"), default="learned",
                   help="variance-reducing baseline of the returns: a learned value function, a moving average, "
                        "or none")
    p.add_argument("--variant", choices=("episode", "online"), default="episode",
                   help="gradient estimator: whole episodes, or online eligibility traces")
    p.add_argument("--spike-penalty", type=float, default=0.0, help="reward cost per spike")
    p.add_argument("--no-spike", default="uniform",
                   help="action when no output neuron spikes within T: 'uniform' (a random one) or an action index")
    p.add_argument("--checkpoint", help="checkpoint file (data-only .npz): resumed from when present, written "
                                        "during training, after each seed and on Ctrl-C (default: none)")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="updates between checkpoints, written at the end of a chunk (default: every chunk)")
    p.add_argument("--chunk", type=int, default=50,
                   help="updates per compiled chunk; each chunk draws its own random key, so the results depend "
                        "on it (not on checkpointing or interrupts)")
    p.add_argument("--out", default=None,
                   help="folder for the trained policies (policy_seed<k>.npz) and the learning curve "
                        "(learning_curve.csv, learning_curve.png) (default: none written)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (default: a progress bar on stderr when it is a terminal)")
    p.set_defaults(func=run)
