"""Data-only, versioned checkpoints of learner state (pytrees of arrays, a random key, a step count).

One file format for every long-running learner of probsnn (:class:`~probsnn.StreamingPredictor`,
:meth:`~probsnn.inference.three_factor.ThreeFactorVI.run`, :meth:`~probsnn.inference.policy_gradient.Reinforce.train`,
:func:`~probsnn.inference.synaptic_sampling.synaptic_sampling`, :func:`~probsnn.inference.bptt.fit_bptt`).
A checkpoint is a NumPy ``.npz`` archive of plain arrays (no object arrays; it is read with
``allow_pickle=False``, so loading one never executes code) holding

* ``format``: ``"probsnn.<kind> checkpoint"``, ``kind`` naming the learner; ``version``: the format version;
* ``config``: a JSON object (the learner's settings and whatever the learner needs to check that a file belongs
  to the run being resumed);
* ``n_steps``: the progress count (steps, updates or draws completed, as the learner defines it);
* ``key`` and ``key_impl``: the data of a JAX random key (``uint32``) and the name of its implementation for a
  typed key (``""`` for a raw ``uint32`` key), when one is saved;
* for each named pytree ``<tree>``: ``<tree>_paths``, the ``jax.tree_util.keystr`` paths of its leaves, and
  ``<tree>_<i>``, its ``i``-th leaf (``jax.tree_util`` order; typed random keys as their key data);
* ``checksum``: the SHA-256 of all the other entries (names, dtypes, shapes and bytes).

:func:`save_checkpoint` writes atomically (a temporary file next to the target, flushed to disk, then renamed
into place; Ctrl-C is held back while it writes), so an interrupted save leaves the previous checkpoint intact.
:func:`load_checkpoint` rebuilds the trees on the structures of freshly initialised ones (``like``) and checks
the number, paths, shapes and dtypes of the leaves; every problem with a file is one ``ValueError`` that names
the file.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import non_negative_int, positive_int
from .datasets import read_npz_arrays

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint_config", "resume_checkpoint", "checkpoint_options",
           "run_in_chunks", "Checkpoint", "fingerprint", "CHECKPOINT_VERSION"]

CHECKPOINT_VERSION = 2  # 1 was a serialised Python object stream (no longer read: loading one can execute code)
_RESERVED = ("format", "version", "config", "n_steps", "key", "key_impl", "checksum")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_FORMAT = re.compile(r"probsnn\.(\w+) checkpoint\Z")


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` returns (unpacks as ``config, trees, key, step``)."""

    config: dict
    trees: dict
    key: jax.Array | None
    step: int


def _format(kind: str) -> str:
    return f"probsnn.{kind} checkpoint"


def _is_typed_key(leaf) -> bool:
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)


def _leaf_array(leaf) -> np.ndarray:
    """A leaf as a NumPy array (a typed random key as its ``uint32`` data)."""
    if _is_typed_key(leaf):
        leaf = jax.random.key_data(leaf)
    return np.asarray(jax.device_get(leaf))


def _checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 (hex) over the names, dtypes, shapes and bytes of ``arrays``, in sorted name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def fingerprint(*trees) -> str:
    """SHA-256 (hex) of the structure and the leaves (dtypes, shapes, bytes) of ``trees``.

    Stored in a checkpoint's config, it lets a learner check that a file belongs to the run being resumed
    (same data, same initial state, same random key) before it continues from it.
    """
    leaves, treedef = jax.tree_util.tree_flatten(trees)
    arrays = {f"{i:06d}": _leaf_array(leaf) for i, leaf in enumerate(leaves)}
    arrays["treedef"] = np.array(str(treedef))
    return _checksum(arrays)


@contextmanager
def _sigint_held_back():
    """Hold Ctrl-C back while the body runs (main thread only), then deliver it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        if callable(previous):
            previous(signal.SIGINT, received[0])
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt


def save_checkpoint(path, kind: str, config: dict, trees: Mapping[str, object], key=None, step: int = 0) -> Path:
    """Write a checkpoint (see the module docstring for the layout), atomically.

    Parameters
    ----------
    path : str or Path
        Used as given (no ``.npz`` suffix is added); ``path + ".tmp"`` is the temporary file.
    kind : str
        The learner, e.g. ``"Reinforce"`` (letters, digits, ``_``); :func:`load_checkpoint` refuses a file of
        another kind.
    config : dict
        JSON-serialisable settings.
    trees : dict of str -> pytree
        The learner state; names are letters, digits and ``_`` and must not be one of the fixed entries.
    key : jax random key, optional
    step : int
        The progress count (>= 0).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    if not isinstance(kind, str) or not re.fullmatch(r"\w+", kind):
        raise ValueError(f"kind must be a name of letters, digits and '_', got {kind!r}.")
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}.")
    try:
        config_text = json.dumps(config, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError) as err:
        raise TypeError(f"config must be JSON-serialisable: {err}") from None
    step = non_negative_int("step", step)
    arrays = {"format": np.array(_format(kind)), "version": np.array(CHECKPOINT_VERSION, np.int64),
              "config": np.array(config_text), "n_steps": np.array(step, np.int64)}
    if key is not None:
        arrays["key"] = _leaf_array(key)
        arrays["key_impl"] = np.array(str(jax.random.key_impl(key)) if _is_typed_key(key) else "")
    for name, tree in trees.items():
        if not isinstance(name, str) or not _NAME.match(name) or name in _RESERVED:
            raise ValueError(f"tree name {name!r}: use letters, digits and '_', not one of {list(_RESERVED)}.")
        leaves = jax.tree_util.tree_leaves_with_path(tree)
        arrays[f"{name}_paths"] = np.array([jax.tree_util.keystr(p) for p, _ in leaves], dtype=str)
        for i, (_, leaf) in enumerate(leaves):
            arrays[f"{name}_{i}"] = _leaf_array(leaf)
    arrays["checksum"] = np.array(_checksum(arrays))
    tmp = path.with_name(path.name + ".tmp")
    with _sigint_held_back():
        with tmp.open("wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    return path


def _read_verified(path: Path, kind: str) -> tuple[dict, dict, int]:
    """``(arrays, config, step)`` of a checkpoint of ``kind`` whose format, version and checksum are good."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        arrays = read_npz_arrays(path)
    except ValueError as err:
        raise ValueError(f"{err} Not a valid probsnn {kind} checkpoint (version-1 checkpoints, serialised Python "
                         "objects, are no longer read).") from None

    def bad(problem):
        return ValueError(f"{path}: {problem}")

    found = arrays.get("format")
    found = str(found) if found is not None and found.shape == () and found.dtype.kind == "U" else None
    if found != _format(kind):
        other = _FORMAT.match(found or "")
        what = f" (it is a probsnn {other.group(1)} checkpoint)" if other else " (no 'format' entry naming it)"
        raise bad(f"not a probsnn {kind} checkpoint{what}.")
    version = arrays.get("version")
    if version is None or version.shape != () or version.dtype.kind not in "iu":
        raise bad("checkpoint without a valid format version.")
    if int(version) != CHECKPOINT_VERSION:
        raise bad(f"checkpoint format version {int(version)}, this probsnn reads version {CHECKPOINT_VERSION}.")
    missing = [k for k in ("config", "n_steps", "checksum") if k not in arrays]
    if missing:
        raise bad(f"checkpoint lacks the entries {missing}.")
    stored = arrays.pop("checksum")
    if stored.shape != () or stored.dtype.kind != "U" or str(stored) != _checksum(arrays):
        raise bad("checksum mismatch: the checkpoint is corrupted.")
    try:
        config = json.loads(str(arrays["config"]))
    except ValueError:
        raise bad("the config entry is not valid JSON.") from None
    if not isinstance(config, dict):
        raise bad("the config entry is not a JSON object.")
    step = arrays["n_steps"]
    if step.shape != () or step.dtype.kind not in "iu" or int(step) < 0:
        raise bad(f"n_steps must be a non-negative integer scalar, got {step!r}.")
    return arrays, config, int(step)


def read_checkpoint_config(path, kind: str) -> tuple[dict, int]:
    """``(config, step)`` of a checkpoint of ``kind``, after the format, version and checksum checks."""
    _, config, step = _read_verified(Path(path), kind)
    return config, step


def _spec(array) -> str:
    return f"{array.dtype}{list(array.shape)}"


def load_checkpoint(path, kind: str, like: Mapping[str, object] | Callable[[dict, int], Mapping[str, object]],
                    key_like=None) -> Checkpoint:
    """Read a checkpoint of ``kind`` written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or Path
    kind : str
        The learner kind the file must hold.
    like : dict of str -> pytree, or callable ``(config, step) -> dict``
        Freshly initialised trees of the same structure (a function of the saved config and step for trees
        whose shapes depend on them): every tree of the file is rebuilt on the structure of the tree of the same
        name, and must have exactly its leaves (number, ``keystr`` paths, shapes, dtypes). Leaves that are typed
        random keys are rebuilt as keys of the same implementation.
    key_like : jax random key or jax.ShapeDtypeStruct (of a raw ``uint32`` key), optional
        When given, the file must hold a key of its shape (typed or raw as it is).

    Returns
    -------
    Checkpoint
        ``(config, trees, key, step)``; ``key`` is None when the file holds none.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        One line naming the file: not a ``.npz`` archive, truncated or corrupted (bad CRC or checksum), a
        foreign archive or a checkpoint of another kind, another format version, or trees that do not match
        ``like``.
    """
    return _load(Path(path), kind, like, key_like)


def _load(path: Path, kind: str, like, key_like, check_config: Callable[[dict], None] | None = None) -> Checkpoint:
    """:func:`load_checkpoint`, with ``check_config(config)`` called before any tree is rebuilt."""
    arrays, config, step = _read_verified(path, kind)

    def bad(problem):
        return ValueError(f"{path}: {problem}")

    if check_config is not None:
        check_config(config)
    if callable(like):
        like = like(config, step)
    trees = {}
    for name, fresh_tree in like.items():
        fresh_leaves, treedef = jax.tree_util.tree_flatten_with_path(fresh_tree)
        want = [jax.tree_util.keystr(p) for p, _ in fresh_leaves]
        paths = arrays.get(f"{name}_paths")
        if paths is None or paths.ndim != 1 or paths.tolist() != want:
            raise bad(f"the leaves of {name} do not match this configuration (expected {len(want)}: {want}).")
        leaves = []
        for i, (_, fresh) in enumerate(fresh_leaves):
            saved, expected = arrays.get(f"{name}_{i}"), _leaf_array(fresh)
            if saved is None or saved.shape != expected.shape or saved.dtype != expected.dtype:
                got = "missing" if saved is None else _spec(saved)
                raise bad(f"{name}{want[i]}: expected {_spec(expected)}, got {got}.")
            if _is_typed_key(fresh):
                leaves.append(jax.random.wrap_key_data(jnp.asarray(saved), impl=str(jax.random.key_impl(fresh))))
            elif isinstance(fresh, np.ndarray) or np.isscalar(fresh):
                leaves.append(saved)
            else:
                leaves.append(jnp.asarray(saved))
        prefix = f"{name}_"
        extra = [k for k in arrays if k.startswith(prefix) and k[len(prefix):].isdigit()
                 and int(k[len(prefix):]) >= len(fresh_leaves)]
        if extra:
            raise bad(f"{name} has {len(fresh_leaves) + len(extra)} leaves, expected {len(fresh_leaves)}.")
        trees[name] = jax.tree_util.tree_unflatten(treedef, leaves)
    unknown = sorted(k[: -len("_paths")] for k in arrays if k.endswith("_paths") and k[: -len("_paths")] not in like)
    if unknown:
        raise bad(f"holds the trees {unknown}, which this {kind} does not have (expected {sorted(like)}).")
    key = None
    if "key" in arrays:
        data, impl = arrays["key"], arrays.get("key_impl")
        impl = "" if impl is None else str(impl)
        if key_like is not None:
            if isinstance(key_like, jax.ShapeDtypeStruct) and not _is_typed_key(key_like):
                expected, typed = np.zeros(key_like.shape, key_like.dtype), ""
            else:
                expected = _leaf_array(key_like)
                typed = str(jax.random.key_impl(key_like)) if _is_typed_key(key_like) else ""
            if data.shape != expected.shape or data.dtype != expected.dtype or (impl and impl != typed):
                raise bad(f"key: expected {_spec(expected)}, got {_spec(data)}.")
            impl = typed
        if data.dtype != np.uint32:
            raise bad(f"key: expected uint32 key data, got {_spec(data)}.")
        try:
            key = jax.random.wrap_key_data(jnp.asarray(data), impl=impl) if impl else jnp.asarray(data)
        except (TypeError, ValueError) as err:
            raise bad(f"key: not valid {impl} key data ({err}).") from None
    elif key_like is not None:
        raise bad("checkpoint lacks the random key.")
    return Checkpoint(config, trees, key, step)


def checkpoint_options(checkpoint, checkpoint_every, resume) -> tuple[Path | None, int | None, bool]:
    """Validate the ``checkpoint``, ``checkpoint_every`` and ``resume`` arguments of a learner's long loop.

    ``checkpoint`` is None or a path (str or ``os.PathLike``); ``checkpoint_every`` None or an int >= 1;
    ``resume`` a bool. ``checkpoint_every`` and ``resume=True`` need a ``checkpoint``.
    """
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a path (str or pathlib.Path) or None, got {type(checkpoint).__name__}.")
    if checkpoint_every is not None:
        checkpoint_every = positive_int("checkpoint_every", checkpoint_every)
    if not isinstance(resume, (bool, np.bool_)):
        raise ValueError(f"resume must be True or False, got {resume!r}.")
    if checkpoint is None and (checkpoint_every is not None or resume):
        raise ValueError("checkpoint_every and resume=True need checkpoint=<path> (the file to write and resume "
                         "from).")
    return (None if checkpoint is None else Path(checkpoint)), checkpoint_every, bool(resume)


def resume_checkpoint(path, kind: str, config: dict, like, key_like=None, ignore=()) -> Checkpoint | None:
    """The checkpoint at ``path`` if it exists (None otherwise), after checking that it belongs to this run.

    The saved config must equal ``config`` (the settings, data fingerprints and random key of the run being
    resumed), except for the entries named in ``ignore``; otherwise one ``ValueError`` names the file and the
    entries that differ.
    """
    path = Path(path)
    if not path.exists():
        return None
    expected = json.loads(json.dumps(config, sort_keys=True))

    def check(saved):
        differ = sorted(k for k in set(saved) | set(expected) if k not in ignore and saved.get(k) != expected.get(k))
        if differ:
            raise ValueError(f"{path}: a checkpoint of another run (its {differ} differ from this call's); give the "
                             "arguments of the interrupted run, another checkpoint path, or resume=False to start "
                             "over.")

    return _load(path, kind, like, key_like, check)


def run_in_chunks(progress: tuple, n_total: int, advance: Callable[[tuple], tuple], save: Callable[[tuple], None]):
    """The checkpointed loop of a learner: ``progress = advance(progress)`` until ``n_total`` steps are done.

    ``progress`` is a tuple whose last entry is the number of steps done; ``advance`` runs one chunk and returns
    the new tuple, which replaces the old in one assignment. ``save(progress)`` is called after each chunk and,
    on ``KeyboardInterrupt``, with the progress after the last complete chunk; the interrupt is then raised
    again. Returns the final progress.
    """
    try:
        while progress[-1] < n_total:
            progress = advance(progress)
            save(progress)
    except KeyboardInterrupt:
        save(progress)
        raise
    return progress
