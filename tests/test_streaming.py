"""Tests of probsnn.streaming: sources, predictive probabilities, learning, checkpoint/resume, and `probsnn stream`."""
import argparse
import json
import math
import re
import zipfile

import jax
import numpy as np
import pytest

from probsnn import checkpoint, streaming
from probsnn.cli import main as cli_main
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
    path = tmp_path / "ckpt.npz"
    part = []
    for p in first.run(values, checkpoint=path, checkpoint_every=10):
        part.append(p)
        if len(part) == 23:
            break  # interrupted after step 23; the last checkpoint is at step 20
    resumed = StreamingPredictor.load(path)
    assert resumed.n_steps == 20
    rest = list(resumed.run(values))
    assert [p.step for p in rest] == list(range(20, 40))
    assert np.array_equal(np.stack([p.probabilities for p in rest]), np.stack([p.probabilities for p in ref[20:]]))
    for a, b in zip(jax.tree_util.tree_leaves(resumed.params), jax.tree_util.tree_leaves(straight.params)):
        assert np.array_equal(a, b)
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
    with pytest.raises(ValueError, match="stream value at step 0 must be a finite number"):
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
    ckpt, out = tmp_path / "c.ckpt", tmp_path / "pred.csv"
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


# ---------------------------------------------------------------------- data-only checkpoints
def _trained(n=15, **kwargs):
    pred = StreamingPredictor([1.0, 2.0], **{**SMALL, **kwargs})
    for value in _periodic(n):
        pred.update(value)
    return pred


def _state_leaves(pred):
    return jax.tree_util.tree_leaves((pred.params, pred.opt_state, pred.state)) + [pred.key, pred.n_steps]


@pytest.mark.parametrize("k", [1, 17, 39])
def test_resume_is_bit_exact(tmp_path, k):
    """N steps in one go == k steps, save, load, N - k steps: every probability and every state leaf equal."""
    values = _periodic(40) + np.linspace(0, 0.3, 40)
    straight = StreamingPredictor([1.0, 2.0], learning_rate=0.05, **SMALL)
    ref = np.stack([straight.update(v).probabilities for v in values])
    first = StreamingPredictor([1.0, 2.0], learning_rate=0.05, **SMALL)
    head = [first.update(v).probabilities for v in values[:k]]
    path = first.save(tmp_path / "state.ckpt")
    assert path == tmp_path / "state.ckpt" and not (tmp_path / "state.ckpt.npz").exists()
    assert not (tmp_path / "state.ckpt.tmp").exists()  # renamed into place
    resumed = StreamingPredictor.load(path)
    assert resumed.n_steps == k and resumed.config == first.config
    assert all(np.array_equal(a, b) for a, b in zip(_state_leaves(resumed), _state_leaves(first)))
    tail = [resumed.update(v).probabilities for v in values[k:]]
    assert np.array_equal(np.stack(head + tail), ref)
    assert all(np.array_equal(a, b) for a, b in zip(_state_leaves(resumed), _state_leaves(straight)))


def test_checkpoint_is_a_data_only_npz_with_config_version_and_checksum(tmp_path):
    pred = _trained()
    path = pred.save(tmp_path / "c.ckpt")
    assert zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as archive:  # no object arrays anywhere
        arrays = {name: archive[name] for name in archive.files}
    assert all(a.dtype != object for a in arrays.values())
    assert int(arrays["version"]) == 2 and int(arrays["n_steps"]) == 15
    assert json.loads(str(arrays["config"])) == pred.config
    assert len(str(arrays["checksum"])) == 64
    n_params = len(jax.tree_util.tree_leaves(pred.params))
    assert arrays["params_paths"].shape == (n_params,)
    assert np.array_equal(arrays["params_0"], np.asarray(jax.tree_util.tree_leaves(pred.params)[0]))


def _expect_bad(path, match):
    with pytest.raises(ValueError, match=match) as info:
        StreamingPredictor.load(path)
    message = str(info.value)
    assert str(path) in message
    # one error, without the zipfile / unpickling exception chained to it
    assert info.value.__cause__ is None and (info.value.__context__ is None or info.value.__suppress_context__)
    return message


def _rewrite(src, dst, checksum=True, **changes):
    with np.load(src, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays.update(changes)
    arrays.pop("checksum")
    if checksum:
        arrays["checksum"] = np.array(checkpoint._checksum(arrays))
    else:
        with np.load(src, allow_pickle=False) as archive:
            arrays["checksum"] = archive["checksum"]
    with open(dst, "wb") as handle:
        np.savez(handle, **arrays)
    return dst


def test_truncated_corrupted_foreign_and_wrong_version_files_give_one_value_error(tmp_path):
    pred = _trained()
    good = pred.save(tmp_path / "good.ckpt")
    data = good.read_bytes()
    bad = tmp_path / "bad.ckpt"
    for size in (0, 3, 30, len(data) // 3, len(data) // 2, len(data) - 22, len(data) - 1):
        bad.write_bytes(data[:size])
        _expect_bad(bad, "not a .npz archive|truncated or corrupted")
    # a flipped bit inside an array's bytes: the archive's CRC
    leaf = np.asarray(pred.params.coupling_weights).tobytes()
    where = data.index(leaf) + len(leaf) // 2
    bad.write_bytes(data[:where] + bytes([data[where] ^ 0x10]) + data[where + 1:])
    assert "CRC" in _expect_bad(bad, "corrupted")
    # consistent archive, changed value, stale checksum
    changed = np.asarray(pred.params.bias) + 1.0
    _expect_bad(_rewrite(good, bad, checksum=False, params_2=changed), "checksum mismatch")
    # wrong version, foreign archives and files
    _expect_bad(_rewrite(good, bad, version=np.array(3)), "version 3, this probsnn reads version 2")
    _expect_bad(_rewrite(good, bad, format=np.array("something else")), "not a probsnn StreamingPredictor")
    with open(bad, "wb") as handle:
        np.savez(handle, a=np.arange(3))
    _expect_bad(bad, "not a probsnn StreamingPredictor checkpoint")
    with open(bad, "wb") as handle:
        np.save(handle, np.arange(3))
    _expect_bad(bad, "single .npy array")
    bad.write_text("step,value\n0,1.0\n")
    _expect_bad(bad, "not a .npz archive")
    # leaves that do not fit the configuration's trees (shapes, dtypes, number)
    _expect_bad(_rewrite(good, bad, params_2=np.zeros(5, np.asarray(pred.params.bias).dtype)), r"params.*expected")
    _expect_bad(_rewrite(good, bad, params_2=np.asarray(pred.params.bias).astype(np.int32)), r"params.*expected")
    _expect_bad(_rewrite(good, bad, params_3=np.zeros(3)), "params has 4 leaves, expected 3")
    _expect_bad(_rewrite(good, bad, key=np.zeros(3, np.uint32)), "key: expected")
    _expect_bad(_rewrite(good, bad, config=np.array('{"edges": [1.0]}')), "config entry must hold")
    _expect_bad(_rewrite(good, bad, config=np.array("{not json")), "not valid JSON")
    # the good file still loads
    assert StreamingPredictor.load(good).n_steps == 15
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        StreamingPredictor.load(tmp_path / "missing.ckpt")


def test_loading_a_malicious_pickle_runs_no_code(tmp_path):
    """A version-1 style checkpoint is refused unread: this one would create a file when unpickled."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    _expect_bad(evil, "not a .npz archive")
    assert not marker.exists()


def test_predictor_validates_its_arguments_before_compiling():
    for kwargs, name in [(dict(learning_rate=0.0), "learning_rate"), (dict(learning_rate=math.nan), "learning_rate"),
                         (dict(learning_rate=-1e-3), "learning_rate"), (dict(learning_rate=math.inf), "learning_rate"),
                         (dict(n_samples=0), "n_samples"), (dict(window=0), "window"), (dict(n_basis=1.5), "n_basis"),
                         (dict(n_latent=-1), "n_latent"), (dict(kappa=1.0), "kappa"),
                         (dict(init_scale=-1), "init_scale"), (dict(baseline="yes"), "baseline")]:
        with pytest.raises(ValueError, match=name):
            StreamingPredictor([1.0, 2.0], **kwargs)
    with pytest.raises(ValueError, match="n_bins must be an integer >= 2, got 1"):
        StreamingPredictor.with_quantile_bins([1.0, 2.0, 3.0], 1)
    pred = StreamingPredictor([1.0], **SMALL)
    with pytest.raises(ValueError, match="checkpoint_every must be an integer >= 1, got 0"):
        list(pred.run([1.0, 2.0], checkpoint="x", checkpoint_every=0))


# ---------------------------------------------------------------------- `probsnn stream`: output and checkpoint
def _stream_args(csv_path, ckpt, out, *extra):
    return ["stream", str(csv_path), "--column", "value", "--bins", "3", "--warmup", "30", "--latent", "2",
            "--samples", "1", "--checkpoint", str(ckpt), "--out", str(out), *extra]


@pytest.fixture
def cycle_csv(tmp_path):
    csv_path = tmp_path / "s.csv"
    csv_path.write_text("value\n" + "\n".join(str(v) for v in _periodic(40) + np.linspace(0, 0.2, 40)) + "\n")
    return csv_path


def test_stream_cli_refuses_a_pickled_checkpoint_unread(tmp_path, cycle_csv, capsys):
    """`probsnn stream --checkpoint` on a pickle (what a version-1 checkpoint was): one line naming the file,
    exit status 2, and the payload (which would create a file when unpickled) never runs."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    assert cli_main(_stream_args(cycle_csv, evil, tmp_path / "pred.csv")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "not a .npz archive" in err[-1] and str(evil) in err[-1] and "Traceback" not in "".join(err)
    assert not marker.exists()


def test_stream_cli_cuts_rows_written_after_the_last_checkpoint(tmp_path, cycle_csv, capsys):
    """A run killed after step 13 with its checkpoint at step 10: resume drops rows 10-12, then rewrites them."""
    ref_out = tmp_path / "ref.csv"
    assert cli_main(_stream_args(cycle_csv, tmp_path / "ref.ckpt", ref_out, "--every", "4")) == 0
    ckpt, out = tmp_path / "c.ckpt", tmp_path / "pred.csv"
    assert cli_main(_stream_args(cycle_csv, ckpt, out, "--every", "4", "--max-steps", "10")) == 0
    at_10 = ckpt.read_bytes()
    assert cli_main(_stream_args(cycle_csv, ckpt, out, "--every", "4", "--max-steps", "3")) == 0
    ckpt.write_bytes(at_10)
    with out.open("ab") as handle:
        handle.write(b"13,0.5,0,0.3")  # and half a row
    assert out.read_bytes().count(b"\n") == 14
    assert cli_main(_stream_args(cycle_csv, ckpt, out, "--every", "4")) == 0
    assert out.read_bytes() == ref_out.read_bytes()
    # an --out that does not cover the checkpoint is refused
    out.write_bytes(b"".join(ref_out.read_bytes().splitlines(keepends=True)[:5]))
    capsys.readouterr()
    assert cli_main(_stream_args(cycle_csv, ckpt, out)) == 2
    assert "holds 4 complete rows, but the checkpoint" in capsys.readouterr().err


def test_stream_cli_checkpoints_on_keyboard_interrupt(tmp_path, cycle_csv, monkeypatch, capsys):
    ref_out = tmp_path / "ref.csv"
    assert cli_main(_stream_args(cycle_csv, tmp_path / "ref.ckpt", ref_out)) == 0
    ckpt, out = tmp_path / "c.ckpt", tmp_path / "pred.csv"
    update = StreamingPredictor.update

    def interrupted(self, value):
        if self.n_steps == 17:
            update(self, value)  # the state moves on, but the row is never written
            raise KeyboardInterrupt
        return update(self, value)

    monkeypatch.setattr(StreamingPredictor, "update", interrupted)
    assert cli_main(_stream_args(cycle_csv, ckpt, out, "--every", "5")) == 130
    assert "interrupted at step 17" in capsys.readouterr().err
    assert StreamingPredictor.load(ckpt).n_steps == 17
    assert out.read_bytes().count(b"\n") == 18
    monkeypatch.setattr(StreamingPredictor, "update", update)
    assert cli_main(_stream_args(cycle_csv, ckpt, out, "--every", "5")) == 0
    assert out.read_bytes() == ref_out.read_bytes()


@pytest.mark.parametrize("flag, value, message", [
    ("--every", "0", "--every must be an integer >= 1, got 0"),
    ("--max-steps", "0", "--max-steps must be an integer >= 1, got 0"),
    ("--max-steps", "-3", "--max-steps must be an integer >= 1, got -3"),
    ("--lr", "0", r"--lr must be a finite number in \(0, inf\), got 0.0"),
    ("--lr", "nan", "--lr must be a finite number"),
    ("--lr", "-0.1", "--lr must be a finite number"),
    ("--bins", "1", "--bins must be an integer >= 2, got 1"),
    ("--samples", "0", "--samples must be an integer >= 1, got 0"),
    ("--latent", "-1", "--latent must be an integer >= 0, got -1"),
    ("--kappa", "1", r"--kappa must be a finite number in \[0, 1\), got 1.0"),
])
def test_stream_cli_validates_its_options(tmp_path, cycle_csv, capsys, flag, value, message):
    out = tmp_path / "pred.csv"
    assert cli_main(_stream_args(cycle_csv, tmp_path / "c.ckpt", out, flag, value)) == 2
    err = capsys.readouterr().err
    assert err.startswith("probsnn stream: error:") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert not out.exists()
