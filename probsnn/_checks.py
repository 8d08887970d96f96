"""Validation helpers shared by every public entry point.

Checks run at the public boundary, on concrete (non-traced) values, before any jitted code: a bad argument
gets one clear ``ValueError``/``TypeError`` that names it, says what was expected and what was given. Under
``jax.jit`` the array checks are skipped for traced values (:func:`concrete`), never turned into errors.
"""
from __future__ import annotations

import math

import jax
import numpy as np

__all__ = [
    "concrete",
    "check_int",
    "positive_int",
    "non_negative_int",
    "check_float",
    "positive_float",
    "one_of",
    "finite_array",
    "first_index",
    "first_non_finite",
    "check_finite_entries",
    "positive_scalar",
    "check_binary_entries",
    "check_callable",
    "check_time_axis",
    "check_trial_starts",
    "trial_restarts",
]


def concrete(x):
    """``np.ndarray`` of ``x`` when it is a concrete value, ``None`` when it is traced (under jit/grad/vmap)."""
    if isinstance(x, jax.core.Tracer):
        return None
    try:
        return np.asarray(x)
    except (TypeError, jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def check_int(name: str, value, minimum: int | None = 1, maximum: int | None = None, fix: str = "") -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]`` (either bound may be None); bools, strings and bytes
    are refused. ``fix`` is appended to the message (e.g. ``" Use episode_update for ..."``)."""
    bounds = (f" >= {minimum}" if minimum is not None else "") + (f" <= {maximum}" if maximum is not None else "")
    message = f"{name} must be an integer{bounds}, got {value!r}.{fix}"
    if isinstance(value, (bool, np.bool_, str, bytes, bytearray)):
        raise ValueError(message)
    try:
        as_int = int(value)
        exact = as_int == value
    except (TypeError, ValueError, OverflowError):
        raise ValueError(message) from None
    if not exact or (minimum is not None and as_int < minimum) or (maximum is not None and as_int > maximum):
        raise ValueError(message)
    return as_int


def positive_int(name: str, value) -> int:
    """``value`` as an ``int >= 1``."""
    return check_int(name, value, minimum=1)


def non_negative_int(name: str, value) -> int:
    """``value`` as an ``int >= 0``."""
    return check_int(name, value, minimum=0)


def check_float(name: str, value, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False, fix: str = "", allow_inf: bool = False) -> float:
    """``value`` as a finite ``float`` in the interval given by ``low``/``high`` (open ends as asked); bools,
    strings and bytes are refused. ``allow_inf`` also accepts +-inf inside the interval (never NaN). ``fix``
    is appended to the message."""
    left = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
    right = "" if high is None else f"{high:g}" + (")" if high_open else "]")
    where = f" in {left or '(-inf'}, {right or 'inf)'}" if (low is not None or high is not None) else ""
    kind = "a number (inf allowed, not NaN)" if allow_inf else "a finite number"
    message = f"{name} must be {kind}{where}, got {value!r}.{fix}"
    if isinstance(value, (bool, np.bool_, str, bytes, bytearray)):
        raise ValueError(message)
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if math.isnan(as_float) or (math.isinf(as_float) and not allow_inf):
        raise ValueError(message)
    if low is not None and (as_float < low or (low_open and as_float == low)):
        raise ValueError(message)
    if high is not None and (as_float > high or (high_open and as_float == high)):
        raise ValueError(message)
    return as_float


def positive_float(name: str, value) -> float:
    """``value`` as a finite ``float > 0``."""
    return check_float(name, value, low=0.0, low_open=True)


def one_of(name: str, value, options):
    """``value`` when it is one of ``options``; otherwise a ``ValueError`` listing them."""
    if isinstance(value, str) or value is None or isinstance(value, (bool, int, float)):
        if value in tuple(options):
            return value
    raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}.")


def finite_array(name: str, value, shape: tuple | None = None, ndim: int | None = None, dtype=float) -> np.ndarray:
    """``value`` as a NumPy array of ``dtype`` (``None``: its own numeric dtype), checked finite and
    (optionally) of a shape or rank.

    ``shape`` may hold ``None`` for a free axis, e.g. ``(None, 3)`` for ``(T, 3)``. Strings and bytes (also
    arrays of them, which NumPy would parse as numbers) are refused.
    """
    given = type(value).__name__ + (f" of dtype {value.dtype}" if hasattr(value, "dtype") else "")
    message = f"{name} must be an array of numbers, got {given}."
    try:
        if isinstance(value, (str, bytes, bytearray)):
            raise ValueError(message)
        raw = np.asarray(value)
        if raw.dtype.kind in "USV" or (raw.dtype.kind == "O" and not _numbers_only(raw)) or (
                raw.dtype.kind == "c" and np.dtype(dtype).kind != "c"):
            raise ValueError(message)
        target = dtype if dtype is not None else (float if raw.dtype.kind == "O" else raw.dtype)
        array = raw.astype(target, copy=False)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {array.shape}.")
    if shape is not None:
        if array.ndim != len(shape) or any(s is not None and a != s for a, s in zip(array.shape, shape)):
            want = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
            raise ValueError(f"{name} must have shape {want}, got {array.shape}.")
    if array.dtype.kind in "fc":
        check_finite_entries(name, array)
    return array


def _numbers_only(array: np.ndarray) -> bool:
    """True when an object array holds only real numbers (no strings, None, bools or containers)."""
    return all(
        isinstance(x, (int, float, np.number)) and not isinstance(x, (bool, np.bool_)) for x in array.ravel())


def first_index(mask) -> tuple[int, ...] | None:
    """Index (a tuple, one entry per axis) of the first True entry of ``mask`` in C order; None when none is."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return None
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask.ravel())), mask.shape))


def first_non_finite(values) -> tuple[int, ...] | None:
    """Index of the first NaN/inf entry of a concrete array in C order; None when every entry is finite (or
    the dtype cannot hold NaN). One reduction first, with no temporary: NaN and inf propagate into the sum."""
    values = np.asarray(values)
    if values.dtype.kind not in "fc":
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(values)):
            return None
    return first_index(~np.isfinite(values))


def check_finite_entries(name: str, array, fix: str = "") -> None:
    """Raise a ``ValueError`` naming ``name`` and the index and value of its first NaN/inf entry, if any.

    ``array`` must be concrete (a NumPy or JAX array of real or complex numbers); ``fix`` is appended to the
    message (e.g. ``"; remove or impute them"``). One pass over the data: for checks at the boundary only.
    """
    values = np.asarray(array)
    where = first_non_finite(values)
    if where is not None:
        raise ValueError(
            f"{name} contains {int(np.sum(~np.isfinite(values)))} non-finite value(s) (NaN or inf), the first "
            f"({values[where]}) at index {where}{fix}."
        )


def positive_scalar(name: str, value) -> float:
    """``value`` as a finite ``float > 0``; an array (even of one element) is refused as not a scalar."""
    if isinstance(value, (list, tuple)) or (hasattr(value, "shape") and np.shape(value) != ()):
        raise ValueError(f"{name} must be a positive scalar (one number), got an array of shape {np.shape(value)}.")
    return positive_float(name, value)


def check_callable(name: str, value, signature: str, optional: bool = False):
    """``value`` when it is callable (or None, if ``optional``); otherwise a ``TypeError`` naming ``name`` and
    the expected ``signature`` (e.g. ``"step_loss(y_t, target_t) -> scalar"``)."""
    if callable(value) or (optional and value is None):
        return value
    none = " or None" if optional else ""
    raise TypeError(f"{name} must be a callable {signature}{none}, got {type(value).__name__}.")


def check_time_axis(name: str, tree, n_steps: int) -> None:
    """Every leaf of the pytree ``tree`` must be an array of numbers whose leading (time) axis has ``n_steps``
    entries, aligned with the inputs; a ``ValueError`` naming ``name`` otherwise. Traced leaves are checked
    by shape only."""
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError(f"{name} must hold arrays with a leading time axis of {n_steps} steps, got {tree!r}.")
    for leaf in leaves:
        if isinstance(leaf, (str, bytes)) or (not isinstance(leaf, jax.core.Tracer)
                                              and np.asarray(leaf).dtype.kind not in "biufc"):
            raise ValueError(f"{name} must be arrays of numbers, got {type(leaf).__name__}.")
        shape = np.shape(leaf)
        if len(shape) == 0 or shape[0] != n_steps:
            raise ValueError(f"{name} must have a leading time axis of {n_steps} steps (one target per input "
                             f"step), got shape {shape}.")


def check_binary_entries(name: str, array, fix: str = "") -> None:
    """Raise a ``ValueError`` naming ``name`` and the index and value of its first entry that is not 0 or 1
    (NaN included), if any. ``array`` must be concrete; ``fix`` is appended to the message."""
    values = np.asarray(array)
    if values.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold 0/1 spikes (numbers), got dtype {values.dtype}.")
    where = first_index(~((values == 0) | (values == 1)))
    if where is not None:
        raise ValueError(f"{name} must hold 0/1 spikes, but {name}{list(where)} = {values[where]}{fix}.")


def check_trial_starts(name: str, value, n_bins: int) -> tuple[int, ...] | None:
    """``value``, the bins where each trial of a concatenated recording begins, as a tuple of ints: the first 0,
    strictly increasing, all below ``n_bins``. ``None`` (and a lone ``[0]``) is one trial: ``None``."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, dict)) or np.ndim(value) == 0:
        raise ValueError(f"{name} must be a 1-D sequence of bin indices (first 0), e.g. [0, 100, 250]; got "
                         f"{value!r}.")
    starts = np.asarray(value)
    if starts.ndim != 1 or starts.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of bin indices, got shape {starts.shape}.")
    if starts.dtype == np.bool_ or not np.issubdtype(starts.dtype, np.number) or np.iscomplexobj(starts):
        raise ValueError(f"{name} must hold integer bin indices, got dtype {starts.dtype}.")
    if starts.dtype.kind == "f":
        bad = ~np.isfinite(starts) | (starts != np.round(starts))
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(f"{name} must hold integer bin indices; {name}[{k}] = {starts[k]}.")
    starts = starts.astype(np.int64)
    if starts[0] != 0:
        raise ValueError(f"{name}[0] must be 0 (the first trial begins at bin 0), got {starts[0]}; prepend 0.")
    decreasing = np.diff(starts) <= 0
    if decreasing.any():
        k = int(np.argmax(decreasing))
        raise ValueError(f"{name} must be strictly increasing (every trial has at least one bin): {name}[{k + 1}] "
                         f"= {starts[k + 1]} <= {name}[{k}] = {starts[k]}. Sort them and remove duplicates.")
    if starts[-1] >= n_bins:
        raise ValueError(f"{name}[-1] = {starts[-1]} must be < the number of bins ({n_bins}): a trial cannot start "
                         "after the data end.")
    return None if starts.size == 1 else tuple(int(k) for k in starts)


def trial_restarts(name: str, value, n_bins: int) -> np.ndarray | None:
    """Bool ``(n_bins,)`` flags, True at every trial start after the first, from ``value`` checked by
    :func:`check_trial_starts`: where a sequential model resets its state. None for one trial."""
    starts = check_trial_starts(name, value, n_bins)
    if starts is None:
        return None
    restart = np.zeros(n_bins, bool)
    restart[list(starts[1:])] = True
    return restart
