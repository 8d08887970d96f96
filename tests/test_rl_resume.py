"""`probsnn rl --checkpoint` interrupted by SIGINT at random moments and resumed prints what one run prints.

A chain of subprocesses of ``python -m probsnn.cli rl`` (2 seeds, tiny grid world, chunks of 2 updates): each
gets SIGINT a random time after it wrote its first checkpoint, exits with status 130, and the same command is
started again; the stdout of the run that completes must be byte-identical to that of an uninterrupted run
without ``--checkpoint`` (every JSON line, the summary line).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ["--env", "grid", "--iterations", "40", "--seeds", "2", "--batch-size", "2", "--horizon", "8",
           "--n-steps", "2", "--chunk", "2"]


def _env(cache_dir) -> dict:
    """This checkout first, CPU, float32, a shared compilation cache (the later runs only pay the imports)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(cache_dir),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    env.pop("JAX_ENABLE_X64", None)
    return env


def test_rl_interrupted_by_sigint_and_resumed_prints_the_uninterrupted_output(tmp_path):
    env = _env(tmp_path / "jax_cache")
    command = [sys.executable, "-m", "probsnn.cli", "rl", *OPTIONS]
    reference = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, timeout=180)
    assert reference.returncode == 0, reference.stderr.decode()
    assert reference.stdout.count(b"\n") == 3  # two seeds and the summary
    ckpt = tmp_path / "rl.ckpt"
    rng = random.Random(0)
    delays = [rng.uniform(0.0, 0.25) for _ in range(3)]  # three random interrupt times
    interrupted, stderr = [], b""
    for attempt in range(6):
        process = subprocess.Popen(command + ["--checkpoint", str(ckpt)], env=env, cwd=REPO_ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if delays:
            deadline = time.monotonic() + 120
            # the interrupt lands in training: after this process wrote (or replaced) a checkpoint
            before = ckpt.stat().st_mtime_ns if ckpt.exists() else None
            while process.poll() is None and time.monotonic() < deadline and (
                    not ckpt.exists() or ckpt.stat().st_mtime_ns == before):
                time.sleep(0.001)
            time.sleep(delays[0])
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        out, stderr = process.communicate(timeout=180)
        if process.returncode == 0:
            break
        if process.returncode == -signal.SIGINT and out.count(b"\n") == 3:
            break  # the run had finished: the signal came during interpreter shutdown (default handler again)
        assert process.returncode == 130, stderr.decode()
        assert b"interrupted" in stderr
        interrupted.append(delays.pop(0))
    assert process.returncode in (0, -signal.SIGINT), stderr.decode()
    assert interrupted, "no run was interrupted: each ended before its signal"
    assert b"resuming from" in stderr
    assert out == reference.stdout, f"interrupted {len(interrupted)} times, {interrupted} s after a checkpoint"


def test_rl_checkpoint_options_are_checked_before_training(capsys):
    from probsnn.cli import main

    assert main(["rl", *OPTIONS[:4], "--checkpoint-every", "2"]) == 2
    assert "--checkpoint-every needs --checkpoint PATH" in capsys.readouterr().err
    assert main(["rl", *OPTIONS[:4], "--chunk", "0"]) == 2
    assert "--chunk must be an integer >= 1, got 0" in capsys.readouterr().err
