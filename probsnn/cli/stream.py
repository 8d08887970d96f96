"""``probsnn stream``: online next-step prediction of a CSV column, with checkpoint/resume.

Wraps :class:`probsnn.StreamingPredictor` (quantile bins set on the first ``--warmup`` values); one CSV line
of predictions per step goes to stdout or ``--out``. Every option is checked (type and range, and that
``--out`` and ``--checkpoint`` can be written) before the CSV is read; a bad one gives a one-line error and
exit status 2.

With ``--checkpoint`` the run can be interrupted and resumed: the checkpoint (a data-only ``.npz``, see
:meth:`probsnn.StreamingPredictor.save`) is written every ``--every`` steps, at the end, and when the run is
interrupted (Ctrl-C: after the last complete row, exit status 130). On resume, ``--out`` is cut back to its
header plus the ``n_steps`` rows the checkpoint covers (rows written after the last checkpoint are dropped)
and the run continues, so the final ``--out`` is byte-identical to that of an uninterrupted run.

At the end a summary goes to stderr: the mean log-loss (nats) of the steps of this run, beside two baselines
scored on the same steps: the uniform forecast (log of the number of bins) and probabilistic persistence
(probability p on the last bin, p the running frequency with which the bin stayed the same;
probsnn.streaming.persistence_log_loss). ``--plot forecast.png`` draws the stream, the predictive distribution
of every step with the observed bin, and the running mean log-loss of the three. A progress bar of the steps
goes to stderr when stderr is a terminal (``--quiet``: never); it never goes to stdout or to ``--out``.
"""
from __future__ import annotations

import csv
import io
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from .._checks import check_float, check_int, non_negative_int, positive_float, positive_int
from ..streaming import StreamingPredictor, persistence_log_loss, read_csv_column
from ._common import CLIError, HelpFormatter, check_output_file, integer, number, plain_text

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Register ``probsnn stream``."""
    parser = subparsers.add_parser(
        "stream", help="online next-step prediction of a CSV column with latent spiking neurons (three-factor VI)",
        description=plain_text(__doc__), formatter_class=HelpFormatter)
    parser.add_argument("csv", help="CSV file")
    parser.add_argument("--column", default="0", help="column name or 0-based index")
    parser.add_argument("--bins", type=integer("--bins", 2), default=6,
                        help="number of quantile bins, >= 2 (default 6)")
    parser.add_argument("--warmup", type=integer("--warmup", 1), default=50,
                        help="values used to set the quantile bin edges, >= 1 (default 50, the first ones of the "
                             "stream)")
    parser.add_argument("--latent", type=integer("--latent", 0), default=8, help="latent neurons, >= 0 (default 8)")
    parser.add_argument("--samples", type=integer("--samples", 1), default=4, help="latent samples K, >= 1 (default 4)")
    parser.add_argument("--kappa", type=number("--kappa", 0.0, 1.0, high_open=True), default=0.5,
                        help="eligibility / learning-signal factor, in [0, 1) (default 0.5)")
    parser.add_argument("--lr", type=number("--lr", 0.0, low_open=True), default=0.01,
                        help="Adam learning rate, > 0 (default 0.01)")
    parser.add_argument("--seed", type=integer("--seed", 0, 2**32 - 1), default=0,
                        help="seed of the initial weights and latent samples, 0..2**32-1 (default 0)")
    parser.add_argument("--checkpoint", help="checkpoint file: resumed from when present, written during the run, "
                                             "at the end and on Ctrl-C (its folder must exist and be writable; "
                                             "default: none)")
    parser.add_argument("--every", type=integer("--every", 1), default=100,
                        help="checkpoint every N steps, >= 1 (default 100)")
    parser.add_argument("--max-steps", type=integer("--max-steps", 1),
                        help="stop after this many new steps, >= 1, to split a long run (default: to the end)")
    parser.add_argument("--out", help="write predictions to this CSV instead of stdout (its folder must exist and be "
                                      "writable; default: stdout)")
    parser.add_argument("--plot", help="draw the forecasts of this run into this PNG file (its folder must exist and "
                                       "be writable; default: no plot)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar (default: a progress bar on stderr when it is a terminal)")
    parser.set_defaults(func=run)


def _header(n_bins: int) -> list[str]:
    return ["step", "value", "bin", "p_bin", "log_loss"] + [f"p{c}" for c in range(n_bins)]


def _row_bytes(cells: list) -> bytes:
    """One CSV line (``\\r\\n``-terminated, as :func:`csv.writer` writes it) as UTF-8 bytes."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue().encode()


def _prediction_row(pred) -> bytes:
    return _row_bytes([pred.step, pred.value, pred.bin, f"{pred.probabilities[pred.bin]:.6f}", f"{pred.log_loss:.6f}"]
                      + [f"{p:.6f}" for p in pred.probabilities])


def _cut_output(out: Path, checkpoint, n_steps: int, header: bytes) -> int:
    """Cut ``out`` back to its header and first ``n_steps`` rows (those the checkpoint covers); returns its size."""
    if not out.exists():
        raise CLIError(f"--out {out} does not exist, but the checkpoint {checkpoint} covers {n_steps} steps: give the "
                       "--out of the interrupted run, or delete the checkpoint to start over.")
    offset, rows = 0, -1
    with out.open("rb") as handle:
        first = handle.readline()
        if first != header:
            raise CLIError(f"--out {out} does not start with the header of this stream ({header.decode().strip()}): "
                           "give the --out of the interrupted run, or delete the checkpoint to start over.")
        offset, rows, last = len(first), 0, b""
        while rows < n_steps:
            line = handle.readline()
            if not line.endswith(b"\n"):
                break
            offset, rows, last = offset + len(line), rows + 1, line
    if rows < n_steps or (n_steps and not last.startswith(f"{n_steps - 1},".encode())):
        raise CLIError(f"--out {out} holds {rows} complete rows, but the checkpoint {checkpoint} covers {n_steps} "
                       "steps: give the --out of the interrupted run, or delete the checkpoint to start over.")
    with out.open("r+b") as handle:
        handle.truncate(offset)
    return offset


class _SigintIgnored:
    """Ignore Ctrl-C while the final checkpoint is written (main thread only; elsewhere a no-op)."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def run(args) -> int:
    """Stream the column, write the predictions and the checkpoint.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_parser`. They are checked first, before the CSV is read (``--every``,
        ``--max-steps``, ``--warmup``, ``--samples`` >= 1, ``--bins`` >= 2, ``--latent`` >= 0, ``--lr`` finite
        and > 0, ``--kappa`` in ``[0, 1)``, ``--seed`` in 0..2**32-1; ``--out`` and ``--checkpoint`` not a
        folder, in an existing writable folder). On the command line the same checks run when the options are
        parsed.

    Returns
    -------
    int
        The exit status, 0.

    Raises
    ------
    ValueError
        For a bad option (naming it and the value), CSV or checkpoint.
    CLIError
        When ``--out`` or ``--checkpoint`` cannot be written, or ``--out`` does not match the checkpoint (missing,
        another header, fewer rows than it covers).
    KeyboardInterrupt
        Raised again after the checkpoint of the last complete row is written and ``--out`` cut back to that
        row (the ``probsnn`` entry point then exits with status 130).
    """
    every = positive_int("--every", args.every)
    max_steps = None if args.max_steps is None else positive_int("--max-steps", args.max_steps)
    positive_float("--lr", args.lr)
    check_int("--bins", args.bins, minimum=2)
    positive_int("--warmup", args.warmup)
    non_negative_int("--latent", args.latent)
    positive_int("--samples", args.samples)
    check_float("--kappa", args.kappa, 0.0, 1.0, high_open=True)
    check_int("--seed", args.seed, minimum=0, maximum=2**32 - 1)
    if args.out:
        check_output_file("--out", args.out)
    if args.checkpoint:
        check_output_file("--checkpoint", args.checkpoint, in_place=False)  # saved by renaming a new file over it
    if getattr(args, "plot", None):
        check_output_file("--plot", args.plot, in_place=False)
    values = read_csv_column(args.csv, args.column)
    if values.size < 2:
        raise ValueError(f"{args.csv}: need at least 2 values, got {values.size}.")
    if args.checkpoint and Path(args.checkpoint).exists():
        predictor = StreamingPredictor.load(args.checkpoint)
        if predictor.n_steps > values.size:
            raise CLIError(f"the checkpoint {args.checkpoint} covers {predictor.n_steps} steps, but {args.csv} has "
                           f"only {values.size} values: is it the checkpoint of another stream?")
        print(f"resuming from {args.checkpoint} at step {predictor.n_steps}", file=sys.stderr)
    else:
        warm = values[: max(2, min(args.warmup, values.size))]
        predictor = StreamingPredictor.with_quantile_bins(warm, args.bins, n_latent=args.latent, n_samples=args.samples,
                                                          kappa=args.kappa, learning_rate=args.lr, seed=args.seed)
    header = _row_bytes(_header(predictor.n_bins))
    if args.out:
        out = Path(args.out)
        if predictor.n_steps > 0:
            offset = _cut_output(out, args.checkpoint, predictor.n_steps, header)
            handle = out.open("r+b")
            handle.seek(offset)
        else:
            handle = out.open("wb")
            handle.write(header)
            offset = len(header)
    else:
        sys.stdout.flush()
        handle, offset = getattr(sys.stdout, "buffer", None) or _TextAsBytes(sys.stdout), 0
        if predictor.n_steps == 0:
            handle.write(header)
    end = values.size if max_steps is None else min(values.size, predictor.n_steps + max_steps)
    first, losses, forecasts = predictor.n_steps, [], []
    from tqdm.auto import tqdm

    bar = tqdm(total=end - first, desc="stream", unit="step", file=sys.stderr, leave=False,
               disable=True if getattr(args, "quiet", False) else None)  # None: only when stderr is a terminal
    # ``committed``: the output size and the predictor state after the last complete row, replaced in one
    # assignment, so that whatever an interrupt cuts short, both go back to the same step.
    committed = (offset, predictor.snapshot())
    try:
        try:
            while predictor.n_steps < end:
                pred = predictor.update(values[predictor.n_steps])
                row = _prediction_row(pred)
                handle.write(row)
                handle.flush()
                committed = (committed[0] + len(row), predictor.snapshot())
                losses.append(pred.log_loss)
                forecasts.append(pred.probabilities)
                bar.update(1)
                if args.checkpoint and predictor.n_steps % every == 0:
                    _sync(handle)
                    predictor.save(args.checkpoint)
        except KeyboardInterrupt:
            with _SigintIgnored():
                size, snapshot = committed
                predictor.restore(snapshot)
                if args.out:
                    handle.flush()
                    handle.truncate(size)
                if args.checkpoint:
                    _sync(handle)
                    predictor.save(args.checkpoint)
                    print(f"interrupted at step {predictor.n_steps}; checkpoint {args.checkpoint} written",
                          file=sys.stderr)
            raise
        if args.checkpoint:
            _sync(handle)
            predictor.save(args.checkpoint)
    finally:
        bar.close()
        if args.out:
            handle.close()
        else:
            handle.flush()
    if losses:
        # the baselines' log-loss on the same steps (persistence learns its stay-probability from step 0 on)
        bins = np.array([predictor.bin_of(v) for v in values[: first + len(losses)]])
        persistence = persistence_log_loss(bins, predictor.n_bins)[first:]
        uniform = np.log(predictor.n_bins)
        print(f"steps={predictor.n_steps} mean_log_loss={np.mean(losses):.4f} nats (steps {first}..{end - 1}; "
              f"persistence {persistence.mean():.4f}, uniform {uniform:.4f})", file=sys.stderr)
        if getattr(args, "plot", None):
            _plot_forecasts(args.plot, first, values[first:end], bins[first:], np.array(forecasts),
                            np.array(losses), persistence, uniform)
    return 0


def _plot_forecasts(path, first: int, values, bins, forecasts, losses, persistence, uniform: float) -> None:
    """The stream, the predictive distribution of every step with the observed bin, and running mean log-losses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = first + np.arange(len(values))
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    axes[0].plot(steps, values, color="k", lw=0.8)
    axes[0].set(ylabel="value", title="probsnn stream: next-step forecasts")
    axes[1].imshow(forecasts.T, aspect="auto", origin="lower", cmap="Blues", vmin=0, vmax=1,
                   extent=(steps[0] - 0.5, steps[-1] + 0.5, -0.5, forecasts.shape[1] - 0.5), interpolation="nearest")
    axes[1].plot(steps, bins, ".", color="C3", ms=2, label="observed bin")
    axes[1].set(ylabel="bin (shade: P)")
    axes[1].legend(fontsize=7, loc="upper right")
    count = np.arange(1, len(values) + 1)
    axes[2].plot(steps, np.cumsum(losses) / count, label="model")
    axes[2].plot(steps, np.cumsum(persistence) / count, label="persistence")
    axes[2].axhline(uniform, color="0.5", ls="--", label="uniform")
    axes[2].set(xlabel="step", ylabel="running mean log-loss (nats)")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class _TextAsBytes:
    """A text stream without ``.buffer`` (e.g. a replaced ``sys.stdout``) taking the bytes of the rows."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode())

    def flush(self) -> None:
        self.stream.flush()

    def fileno(self):
        return self.stream.fileno()


def _sync(handle) -> None:
    """Rows on disk before the checkpoint that covers them (a no-op for pipes and terminals)."""
    handle.flush()
    try:
        os.fsync(handle.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass
