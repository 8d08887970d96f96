"""probsnn.checkpoint: the data-only checkpoint format, and interrupt/resume of every long-running learner.

Each learner is interrupted (a ``KeyboardInterrupt`` raised inside its loop, as Ctrl-C would) after a few chunks,
resumed from its checkpoint with the same call, and compared with an uninterrupted run with exact equality of
every array. Damaged and foreign files must each give one ``ValueError`` naming the file.
"""
from __future__ import annotations

import functools
import json
import signal

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import probsnn as ps
from probsnn import basis, checkpoint
from probsnn.checkpoint import load_checkpoint, read_checkpoint_config, save_checkpoint
from probsnn.encoding import OneHotEncoder
from probsnn.envs import gridworld
from probsnn.inference.bptt import fit_bptt
from probsnn.inference.policy_gradient import FirstToSpikePolicy, Reinforce
from probsnn.inference.synaptic_sampling import SynapticSampler, synaptic_sampling
from probsnn.inference.three_factor import ThreeFactorVI


def _equal_trees(a, b) -> bool:
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(
        np.asarray(x).dtype == np.asarray(y).dtype and np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
        for x, y in zip(la, lb))


class _InterruptOnCall:
    """Wraps a jitted function: raises KeyboardInterrupt at call number ``at`` (1-based), instead of running it."""

    def __init__(self, function, at):
        self.function, self.at, self.calls = function, at, 0

    def __call__(self, *args, **kwargs):
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves((args, kwargs))):
            return self.function(*args, **kwargs)  # traced for shapes (jax.eval_shape): not a run
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.function(*args, **kwargs)


# ------------------------------------------------------------------------------------------ the format
def _sample_trees():
    params = {"w": jnp.arange(6.0, dtype=jnp.float32).reshape(2, 3), "b": (jnp.int32(3), np.array([True, False]))}
    return {"params": params, "opt": optax.adam(0.1).init(params["w"]), "keys": jax.random.key(4)}


def test_round_trip_is_bit_exact_and_atomic(tmp_path):
    trees = _sample_trees()
    key = jax.random.split(jax.random.PRNGKey(7))[1]
    path = save_checkpoint(tmp_path / "run.ckpt", "Demo", {"a": 1, "nested": [1.5, "x"]}, trees, key=key, step=5)
    assert path == tmp_path / "run.ckpt" and not (tmp_path / "run.ckpt.tmp").exists()
    like = jax.tree.map(lambda leaf: leaf, _sample_trees())
    config, loaded, loaded_key, step = load_checkpoint(path, "Demo", like, key_like=key)
    assert config == {"a": 1, "nested": [1.5, "x"]} and step == 5
    assert _equal_trees(loaded["params"], trees["params"]) and _equal_trees(loaded["opt"], trees["opt"])
    assert jnp.issubdtype(loaded["keys"].dtype, jax.dtypes.prng_key)  # a typed key comes back typed
    assert np.array_equal(jax.random.key_data(loaded["keys"]), jax.random.key_data(trees["keys"]))
    assert np.array_equal(loaded_key, key)
    assert read_checkpoint_config(path, "Demo") == (config, 5)
    with np.load(path, allow_pickle=False) as archive:  # data only
        assert all(archive[name].dtype != object for name in archive.files)


def test_a_save_holds_ctrl_c_back_until_the_file_is_complete(tmp_path):
    path = tmp_path / "c.ckpt"
    save_checkpoint(path, "Demo", {}, {"x": np.zeros(3)})
    with pytest.raises(KeyboardInterrupt):
        with checkpoint._sigint_held_back():
            signal.raise_signal(signal.SIGINT)
            save_checkpoint(path, "Demo", {"new": True}, {"x": np.ones(3)})
    assert read_checkpoint_config(path, "Demo")[0] == {"new": True}


def _expect_one_line_error(path, match, kind="Demo", like=None):
    with pytest.raises(ValueError, match=match) as info:
        load_checkpoint(path, kind, _sample_trees() if like is None else like)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert info.value.__cause__ is None and (info.value.__context__ is None or info.value.__suppress_context__)


def _rewrite(src, dst, fix_checksum=True, **changes):
    with np.load(src, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays.update(changes)
    if fix_checksum:
        arrays.pop("checksum")
        arrays["checksum"] = np.array(checkpoint._checksum(arrays))
    with open(dst, "wb") as handle:
        np.savez(handle, **arrays)
    return dst


def test_damaged_foreign_and_mismatched_files_give_one_value_error_naming_the_file(tmp_path):
    good = save_checkpoint(tmp_path / "good.ckpt", "Demo", {"a": 1}, _sample_trees(), step=2)
    data, bad = good.read_bytes(), tmp_path / "bad.ckpt"
    for size in (0, 3, len(data) // 2, len(data) - 1):  # truncated
        bad.write_bytes(data[:size])
        _expect_one_line_error(bad, "not a .npz archive|truncated or corrupted")
    with open(bad, "wb") as handle:  # a foreign .npz
        np.savez(handle, counts=np.arange(3))
    _expect_one_line_error(bad, "not a probsnn Demo checkpoint .no 'format' entry")
    _expect_one_line_error(_rewrite(good, bad, version=np.array(7, np.int64)), "version 7, this probsnn reads "
                           f"version {checkpoint.CHECKPOINT_VERSION}")
    _expect_one_line_error(_rewrite(good, bad, fix_checksum=False, params_0=np.zeros(2, np.float32)),
                           "checksum mismatch: the checkpoint is corrupted")
    _expect_one_line_error(_rewrite(good, bad, fix_checksum=False, checksum=np.array("0" * 64)), "checksum mismatch")
    other = save_checkpoint(tmp_path / "other.ckpt", "Reinforce", {}, _sample_trees())
    _expect_one_line_error(other, r"not a probsnn Demo checkpoint \(it is a probsnn Reinforce checkpoint\)")
    # trees that do not match the structure they are rebuilt on
    like = _sample_trees()
    like["params"]["w"] = jnp.zeros((3, 2), jnp.float32)
    _expect_one_line_error(good, r"params\['w'\]: expected float32\[3, 2\], got float32\[2, 3\]", like=like)
    _expect_one_line_error(good, "holds the trees \\['keys'\\]",
                           like={k: v for k, v in _sample_trees().items() if k != "keys"})
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.ckpt", "Demo", {})


def test_bad_arguments_of_save_and_of_the_learners_loops(tmp_path):
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_checkpoint(tmp_path / "c", "Demo", {"a": object()}, {})
    with pytest.raises(ValueError, match="tree name 'key'"):
        save_checkpoint(tmp_path / "c", "Demo", {}, {"key": np.zeros(2)})
    for kwargs, match in [(dict(checkpoint_every=0), "checkpoint_every must be an integer >= 1, got 0"),
                          (dict(checkpoint_every=2), "need checkpoint=<path>"),
                          (dict(resume=True), "need checkpoint=<path>"),
                          (dict(checkpoint=tmp_path / "c", resume="yes"), "resume must be True or False")]:
        with pytest.raises(ValueError, match=match):
            checkpoint.checkpoint_options(kwargs.get("checkpoint"), kwargs.get("checkpoint_every"),
                                          kwargs.get("resume", False))
    with pytest.raises(TypeError, match="checkpoint must be a path"):
        checkpoint.checkpoint_options(3, None, False)


# ------------------------------------------------------------------------------------------ ThreeFactorVI
@functools.cache
def three_factor_problem():
    """A tiny learner and stream, shared with test_reproducibility (the compiled scans are reused)."""
    net = ps.GLMNetwork(2, 2, history_basis=basis.identity(2), observation="bernoulli")
    params = net.init_params(jax.random.PRNGKey(0), scale=0.3)
    learner = ThreeFactorVI(net, optimizer=optax.adam(0.05), kappa=0.5, n_samples=2)
    visible = (np.random.default_rng(1).random((28, 2)) < 0.5).astype(float)
    return learner, params, visible


@pytest.fixture(scope="module")
def three_factor():
    return three_factor_problem()


def test_three_factor_run_resumed_after_an_interrupt_is_bit_exact(tmp_path, three_factor):
    learner, params, visible = three_factor
    opt_state, state = learner.init(params)
    args = (params, opt_state, state, np.zeros((28, 0)), visible, jax.random.PRNGKey(2))
    reference = learner.run(*args)  # one lax.scan, no checkpoint
    path = tmp_path / "tf.ckpt"
    real = learner._chunk_jit
    learner.__dict__["_chunk_jit"] = _InterruptOnCall(real, at=3)  # Ctrl-C during the third chunk
    try:
        with pytest.raises(KeyboardInterrupt):
            learner.run(*args, checkpoint=path, checkpoint_every=7)
    finally:
        learner.__dict__["_chunk_jit"] = real
    assert read_checkpoint_config(path, "ThreeFactorVI")[1] == 14  # the two complete chunks
    resumed = learner.run(*args, checkpoint=path, checkpoint_every=7, resume=True)
    assert _equal_trees(resumed, reference)
    # a checkpoint of another run (another key) is refused, naming the file
    other = (*args[:5], jax.random.PRNGKey(3))
    with pytest.raises(ValueError, match=f"{path}: a checkpoint of another run .its \\['key'\\] differ"):
        learner.run(*other, checkpoint=path, checkpoint_every=7, resume=True)
    # a checkpoint of another learner kind
    stream = ps.StreamingPredictor([1.0], n_latent=1, n_samples=1).save(tmp_path / "stream.ckpt")
    with pytest.raises(ValueError, match="not a probsnn ThreeFactorVI checkpoint .it is a probsnn "
                                         "StreamingPredictor checkpoint"):
        learner.run(*args, checkpoint=stream, resume=True)


# ------------------------------------------------------------------------------------------ Reinforce
@functools.cache
def reinforce_problem():
    """A tiny REINFORCE trainer (grid world, 2 episodes per update), shared with test_reproducibility."""
    env = gridworld(max_steps=6, random_start=True)
    policy = FirstToSpikePolicy(OneHotEncoder(env.n_states), env.n_actions, n_steps=2)
    return Reinforce(policy, env, learning_rate=0.1, batch_size=2)


@pytest.fixture(scope="module")
def reinforce():
    return reinforce_problem()


def test_reinforce_train_resumed_after_an_interrupt_is_bit_exact(tmp_path, reinforce):
    key = jax.random.PRNGKey(5)
    reference = reinforce.train(key, 8, chunk=2)
    path = tmp_path / "rl.ckpt"
    real = reinforce._train_chunk
    reinforce.__dict__["_train_chunk"] = _InterruptOnCall(real, at=4)
    try:
        with pytest.raises(KeyboardInterrupt):
            reinforce.train(key, 8, chunk=2, checkpoint=path, checkpoint_every=4, checkpoint_info={"row": 1})
    finally:
        reinforce.__dict__["_train_chunk"] = real
    config, step = read_checkpoint_config(path, "Reinforce")
    assert step == 6 and config["info"] == {"row": 1}  # saved on the interrupt, after the third chunk
    calls = []
    resumed = reinforce.train(key, 8, chunk=2, checkpoint=path, checkpoint_every=4, resume=True,
                              callback=lambda i, ts, m: calls.append(i))
    assert calls == [8]
    assert _equal_trees(resumed, reference)
    with pytest.raises(ValueError, match=r"a checkpoint of another run .its \['n_iterations'\] differ"):
        reinforce.train(key, 10, chunk=2, checkpoint=path, resume=True)


# ------------------------------------------------------------------------------------------ synaptic sampling
LANGEVIN = dict(n_steps=8, n_warmup=4, thin=2, step_size=0.01, n_chains=2)


@functools.cache
def langevin_problem():
    """Two Bernoulli neurons, 40 bins, and their sampler, shared with test_reproducibility."""
    net = ps.GLMNetwork(2, history_basis=basis.identity(1), observation="bernoulli")
    data = net.simulate_data(net.init_params(bias=-1.0), jax.random.PRNGKey(1), n_steps=40)
    return net, data, SynapticSampler(net)


@pytest.fixture(scope="module")
def langevin():
    return langevin_problem()


def test_synaptic_sampling_resumed_after_an_interrupt_is_bit_exact(tmp_path, langevin):
    net, data, sampler = langevin
    kw = dict(LANGEVIN, seed=3, sampler=sampler)
    reference = synaptic_sampling(net, data, **kw)
    path = tmp_path / "ss.ckpt"
    real = sampler._run_jit
    sampler.__dict__["_run_jit"] = _InterruptOnCall(real, at=3)  # warm-up chunk, one sampling chunk, then Ctrl-C
    try:
        with pytest.raises(KeyboardInterrupt):
            synaptic_sampling(net, data, checkpoint=path, checkpoint_every=4, **kw)
    finally:
        sampler.__dict__["_run_jit"] = real
    assert read_checkpoint_config(path, "SynapticSampler")[1] == 4  # draws (of 2 steps) done, warm-up included
    resumed = synaptic_sampling(net, data, checkpoint=path, checkpoint_every=4, resume=True, **kw)
    for group in ("posterior", "sample_stats"):
        for name, value in reference[group].data_vars.items():
            assert np.array_equal(resumed[group][name].values, value.values), name
    with pytest.raises(ValueError, match="checkpoint_every .3. must be a multiple of thin .2."):
        synaptic_sampling(net, data, checkpoint=path, checkpoint_every=3, **kw)


# ------------------------------------------------------------------------------------------ BPTT
def test_fit_bptt_resumed_after_an_interrupt_is_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    data = [(jnp.asarray(rng.normal(size=(4, 3))), jnp.asarray(rng.normal(size=4))) for _ in range(3)]

    def loss(w, x, y):
        return jnp.mean((jnp.tanh(x @ w["a"]) @ w["b"] - y) ** 2)

    params = {"a": jnp.asarray(rng.normal(size=(3, 2))), "b": jnp.asarray(rng.normal(size=2))}
    reference = fit_bptt(loss, params, data, optax.adam(0.1), n_epochs=3)
    path = tmp_path / "bptt.ckpt"
    interrupt = {"at": (1, 2)}

    def batches(epoch):  # Ctrl-C when the second epoch asks for its third batch, once
        for index, batch in enumerate(data):
            if (epoch, index) == interrupt.get("at"):
                del interrupt["at"]
                raise KeyboardInterrupt
            yield batch

    with pytest.raises(KeyboardInterrupt):
        fit_bptt(loss, params, batches, optax.adam(0.1), n_epochs=3, checkpoint=path, checkpoint_every=2)
    assert read_checkpoint_config(path, "fit_bptt")[1] == 5
    resumed = fit_bptt(loss, params, batches, optax.adam(0.1), n_epochs=3, checkpoint=path, resume=True,
                       checkpoint_every=2)
    assert _equal_trees(resumed, reference)
    assert json.loads(json.dumps(read_checkpoint_config(path, "fit_bptt")[0]))["n_epochs"] == 3
