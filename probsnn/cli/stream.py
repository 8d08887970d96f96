"""``probsnn stream``: online next-step prediction of a CSV column, with checkpoint/resume.

Wraps :meth:`probsnn.StreamingPredictor.run` (quantile bins set on the first ``--warmup`` values); one CSV
line of predictions per step goes to stdout or ``--out``.
"""
from __future__ import annotations

import csv
import itertools
import sys
from pathlib import Path

import numpy as np

from ..streaming import StreamingPredictor, read_csv_column

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Register ``probsnn stream``."""
    parser = subparsers.add_parser(
        "stream", help="online next-step prediction of a CSV column with latent spiking neurons (three-factor VI)",
        description="Stream a CSV column through a visible+latent GLM network trained online; prints one line per "
                    "step (step, value, bin, P(bin), log-loss) or writes them to --out; checkpoints to --checkpoint "
                    "and resumes from it when it exists.")
    parser.add_argument("csv", help="CSV file")
    parser.add_argument("--column", default="0", help="column name or 0-based index (default 0)")
    parser.add_argument("--bins", type=int, default=6, help="number of quantile bins (default 6)")
    parser.add_argument("--warmup", type=int, default=50,
                        help="values used to set the quantile bin edges (default 50, the first ones of the stream)")
    parser.add_argument("--latent", type=int, default=8, help="latent neurons (default 8)")
    parser.add_argument("--samples", type=int, default=4, help="latent samples K (default 4)")
    parser.add_argument("--kappa", type=float, default=0.5, help="eligibility / learning-signal factor (default 0.5)")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default 0.01)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", help="checkpoint file: resumed from when present, written during the run")
    parser.add_argument("--every", type=int, default=100, help="checkpoint every N steps (default 100)")
    parser.add_argument("--max-steps", type=int, help="stop after this many new steps (to split a long run)")
    parser.add_argument("--out", help="write predictions to this CSV instead of stdout")
    parser.set_defaults(func=run)


def run(args) -> int:
    """Stream the column, write the predictions and the checkpoint; returns the exit status."""
    values = read_csv_column(args.csv, args.column)
    if values.size < 2:
        raise ValueError(f"{args.csv}: need at least 2 values, got {values.size}.")
    if args.checkpoint and Path(args.checkpoint).exists():
        predictor = StreamingPredictor.load(args.checkpoint)
        print(f"resuming from {args.checkpoint} at step {predictor.n_steps}", file=sys.stderr)
    else:
        warm = values[: max(2, min(args.warmup, values.size))]
        predictor = StreamingPredictor.with_quantile_bins(warm, args.bins, n_latent=args.latent, n_samples=args.samples,
                                                          kappa=args.kappa, learning_rate=args.lr, seed=args.seed)
    stream = predictor.run(values, checkpoint=args.checkpoint, checkpoint_every=args.every)
    if args.max_steps is not None:
        stream = itertools.islice(stream, args.max_steps)
    handle = open(args.out, "a" if predictor.n_steps > 0 and args.out else "w", newline="") if args.out else sys.stdout
    writer = csv.writer(handle)
    if predictor.n_steps == 0:
        writer.writerow(["step", "value", "bin", "p_bin", "log_loss"] + [f"p{c}" for c in range(predictor.n_bins)])
    losses = []
    for pred in stream:
        losses.append(pred.log_loss)
        writer.writerow([pred.step, pred.value, pred.bin, f"{pred.probabilities[pred.bin]:.6f}", f"{pred.log_loss:.6f}"]
                        + [f"{p:.6f}" for p in pred.probabilities])
    if args.checkpoint:
        predictor.save(args.checkpoint)
    if args.out:
        handle.close()
    if losses:
        print(f"steps={predictor.n_steps} mean_log_loss={np.mean(losses):.4f} nats", file=sys.stderr)
    return 0
