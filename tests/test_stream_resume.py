"""`probsnn stream` interrupted (SIGINT, SIGKILL) at random moments and resumed gives the same --out as one run.

Each run is a subprocess of ``python -m probsnn.cli stream`` on a 300-value CSV with ``--checkpoint`` and ``--out``;
the signal goes once the process has written a random number of new rows, and the same command is repeated until
it completes. The final --out must be byte-identical to an uninterrupted run's (no row twice, none missing), for
``--every`` values that do not divide the stopping points.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
N_VALUES = 300


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The subprocesses' environment: this checkout first, CPU, float32, and a shared compilation cache (each
    run then only pays the imports)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), JAX_PLATFORMS="cpu",
               JAX_COMPILATION_CACHE_DIR=str(tmp_path_factory.mktemp("jax_cache")),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    env.pop("JAX_ENABLE_X64", None)
    return env


def _command(csv_path, out, ckpt, every):
    return [sys.executable, "-m", "probsnn.cli", "stream", str(csv_path), "--column", "value", "--bins", "4",
            "--warmup", "50", "--latent", "3", "--samples", "2", "--checkpoint", str(ckpt), "--every", str(every),
            "--out", str(out)]


def _rows(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.fixture(scope="module")
def stream_csv(tmp_path_factory):
    rng = np.random.default_rng(3)
    values = np.tile([0.5, 1.5, 2.5, 1.5], N_VALUES)[:N_VALUES] + 0.4 * rng.standard_normal(N_VALUES)
    path = tmp_path_factory.mktemp("stream") / "s.csv"
    path.write_text("value\n" + "\n".join(f"{v:.6f}" for v in values) + "\n")
    return path


@pytest.fixture(scope="module")
def reference(stream_csv, env):
    out, ckpt = stream_csv.with_name("ref.csv"), stream_csv.with_name("ref.ckpt")
    done = subprocess.run(_command(stream_csv, out, ckpt, 50), env=env, cwd=REPO_ROOT, capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    data = out.read_bytes()
    assert data.count(b"\n") == N_VALUES + 1
    return data


@pytest.mark.parametrize("every, seed", [(7, 0), (13, 1)])
def test_interrupted_and_resumed_stream_matches_an_uninterrupted_run(stream_csv, reference, env, tmp_path, every,
                                                                      seed):
    rng = random.Random(seed)
    out, ckpt = tmp_path / "pred.csv", tmp_path / "run.ckpt"
    command = _command(stream_csv, out, ckpt, every)
    # SIGINT: checkpoint on the way out; SIGKILL: the rows written after the last checkpoint are left in --out
    signals = [signal.SIGINT, signal.SIGKILL] if seed == 0 else [signal.SIGINT, signal.SIGINT]
    interrupted, stopped_at = 0, []
    for attempt in range(12):
        process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        if signals:
            start = _rows(out)
            target = min(start + rng.randint(3, 80), N_VALUES)
            deadline = time.monotonic() + 90
            while process.poll() is None and _rows(out) < target and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.01))
            if process.poll() is None:
                process.send_signal(signals[0])
        _, err = process.communicate(timeout=120)
        if process.returncode == 0:
            break
        expected = 130 if signals[0] == signal.SIGINT else -signal.SIGKILL
        assert process.returncode == expected, err.decode()
        interrupted += 1
        stopped_at.append(_rows(out) - 1)
        signals.pop(0)
    assert process.returncode == 0, err.decode()
    assert interrupted >= 1, "no run was interrupted: the stream ended before the signal"
    assert out.read_bytes() == reference, f"interrupted at rows {stopped_at}"
