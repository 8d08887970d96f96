"""Tests of probsnn.streaming: sources, predictive probabilities, learning, checkpoint/resume, and `probsnn stream`."""
import argparse
import math

import jax
import numpy as np
import pytest

from probsnn import streaming
from probsnn.cli import stream as stream_cli
from probsnn.streaming import StreamingPredictor, persistence_log_loss, read_csv_column

SMALL = dict(n_latent=3, window=4, n_basis=2, n_samples=2, seed=1)


def _periodic(n):
    return np.tile([0.5, 1.5, 2.5], n // 3 + 1)[:n]


def test_predictions_are_distributions_and_learning_beats_uniform_on_a_cycle():
    pred = StreamingPredictor([1.0, 2.0], learning_rate=0.05, **SMALL)
    out = list(pred.run(_periodic(300)))
    probs = np.stack([o.probabilities for o in out])
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    losses = np.array([o.log_loss for o in out])
    np.testing.assert_allclose(losses, -np.log(probs[np.arange(300), [o.bin for o in out]]), rtol=1e-5)
    assert [o.bin for o in out[:3]] == [0, 1, 2]
    # the cycle 0 -> 1 -> 2 is learned: the last 100 steps are far better than chance (log 3 = 1.10 nats)
    assert losses[-100:].mean() < 0.35
    # and better than probabilistic persistence, which never predicts a change well here
    assert losses[-100:].mean() < persistence_log_loss(np.array([o.bin for o in out]), 3)[-100:].mean()


def test_checkpoint_resume_reproduces_an_uninterrupted_run(tmp_path):
    values = _periodic(40) + np.linspace(0, 0.3, 40)
    straight = StreamingPredictor([1.0, 2.0], **SMALL)
    ref = list(straight.run(values))
    first = StreamingPredictor([1.0, 2.0], **SMALL)
    path = tmp_path / "ckpt.pkl"
    part = []
    for p in first.run(values, checkpoint=path, checkpoint_every=10):
        part.append(p)
        if len(part) == 23:
            break  # interrupted after step 23; the last checkpoint is at step 20
    resumed = StreamingPredictor.load(path)
    assert resumed.n_steps == 20
    rest = list(resumed.run(values))
    assert [p.step for p in rest] == list(range(20, 40))
    np.testing.assert_allclose(np.stack([p.probabilities for p in rest]),
                               np.stack([p.probabilities for p in ref[20:]]), rtol=1e-12, atol=1e-12)
    for a, b in zip(jax.tree_util.tree_leaves(resumed.params), jax.tree_util.tree_leaves(straight.params)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    # the checkpoint does not grow with the stream
    size_20 = path.stat().st_size
    resumed.save(path)
    assert path.stat().st_size == size_20


def test_sources_csv_array_iterator(tmp_path):
    csv_path = tmp_path / "s.csv"
    csv_path.write_text("year,value\n1,3.0\n2,4.5\n3,1.0\n")
    np.testing.assert_array_equal(read_csv_column(csv_path, "value"), [3.0, 4.5, 1.0])
    np.testing.assert_array_equal(read_csv_column(csv_path, 1), [3.0, 4.5, 1.0])
    assert list(streaming.iterate_source((str(csv_path), "value"))) == [3.0, 4.5, 1.0]
    assert list(streaming.iterate_source(iter([1, 2]))) == [1.0, 2.0]
    with pytest.raises(ValueError, match="not in the CSV header"):
        read_csv_column(csv_path, "nope")
    bad = tmp_path / "bad.csv"
    bad.write_text("v\n1\nx\n")
    with pytest.raises(ValueError, match="line 3"):
        read_csv_column(bad, "v")
    with pytest.raises(ValueError, match="1-D"):
        list(streaming.iterate_source(np.zeros((2, 2))))
    with pytest.raises(ValueError, match="strictly increasing"):
        StreamingPredictor([2.0, 1.0])
    with pytest.raises(ValueError, match="not finite"):
        StreamingPredictor([1.0], **SMALL).update(math.nan)


def test_persistence_log_loss_by_hand():
    # bins 0,0,1 with C = 2: step0 log 2; step1 p=1/2 stay -> log 2; step2 p = 2/3, moved -> -log(1/3)
    np.testing.assert_allclose(persistence_log_loss(np.array([0, 0, 1]), 2), [math.log(2), math.log(2), math.log(3)])


def test_stream_cli_with_checkpoint_resume(tmp_path, capsys):
    csv_path = tmp_path / "s.csv"
    csv_path.write_text("value\n" + "\n".join(str(v) for v in _periodic(30)) + "\n")
    parser = argparse.ArgumentParser(prog="probsnn")
    sub = parser.add_subparsers(dest="command")
    stream_cli.add_parser(sub)
    ckpt, out = tmp_path / "c.pkl", tmp_path / "pred.csv"
    common = [str(csv_path), "--column", "value", "--bins", "3", "--warmup", "30", "--latent", "2", "--samples", "1",
              "--checkpoint", str(ckpt), "--out", str(out)]
    args = parser.parse_args(["stream", *common, "--max-steps", "12"])
    assert args.func(args) == 0
    assert StreamingPredictor.load(ckpt).n_steps == 12
    args = parser.parse_args(["stream", *common])
    assert args.func(args) == 0
    lines = out.read_text().strip().splitlines()
    assert lines[0].startswith("step,value,bin") and len(lines) == 31
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(30))
    assert "steps=30" in capsys.readouterr().err
