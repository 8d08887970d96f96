"""Shared pieces of the property tests (tests/test_properties*.py): malformed-input strategies and the
two outcomes a public entry point may give a malformed input."""
import math

import jax
import numpy as np
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

# Validation-only paths are cheap: many examples. Paths that run jitted code: few, with fixed shapes.
CHEAP = settings(max_examples=100, deadline=None, derandomize=True)
MEDIUM = settings(max_examples=30, deadline=None, derandomize=True)
JITTED = settings(max_examples=8, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])  # each example runs a (cached) jitted kernel
# Paths that trace and compile afresh for every example (a scan over a Python closure, a new optimiser): 3.
RECOMPILED = settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

# A known defect (strict xfail): a few examples, no shrinking (the reproducer is in the xfail reason).
XFAIL = settings(max_examples=5, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                 report_multiple_bugs=False)

NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
# Things that are not numbers at all: strings, None, containers, objects, bools (refused as numbers).
NOT_A_NUMBER = st.sampled_from(["1.0", "abc", None, [1.0, 2.0], (), {}, object(), True, False, 1j])

#: malformed values for a strictly positive float (step size, learning rate, bin width, time constant)
BAD_POSITIVE_FLOAT = st.one_of(NON_FINITE, NOT_A_NUMBER, st.floats(max_value=0.0, allow_nan=False,
                                                                     allow_infinity=False))
#: malformed values for a non-negative float
BAD_NON_NEGATIVE_FLOAT = st.one_of(NON_FINITE, NOT_A_NUMBER,
                                   st.floats(max_value=-1e-12, allow_nan=False, allow_infinity=False))
#: malformed values for a float in [0, 1) or (0, 1] or [0, 1]: everything outside [0, 1], plus non-numbers
BAD_UNIT_FLOAT = st.one_of(NON_FINITE, NOT_A_NUMBER, st.floats(max_value=-1e-9, allow_nan=False,
                                                               allow_infinity=False),
                           st.floats(min_value=1.0 + 1e-9, allow_nan=False, allow_infinity=False))
#: malformed values for a positive integer count (bins, steps, neurons, samples)
BAD_POSITIVE_INT = st.one_of(NON_FINITE, NOT_A_NUMBER, st.integers(max_value=0),
                             st.floats(min_value=0.01, max_value=1e6, allow_nan=False).filter(
                                 lambda x: x != int(x)))
#: malformed values for a non-negative integer
BAD_NON_NEGATIVE_INT = st.one_of(NON_FINITE, NOT_A_NUMBER, st.integers(max_value=-1),
                                 st.floats(min_value=0.01, max_value=1e6, allow_nan=False).filter(
                                     lambda x: x != int(x)))
#: malformed option strings
BAD_OPTION = st.one_of(st.text(min_size=0, max_size=8).filter(lambda s: s not in ("auto", "direct", "fft")),
                       st.sampled_from([None, 1, 1.5, object()]))
#: a value to plant in an otherwise valid float array
BAD_ARRAY_ENTRY = st.sampled_from([math.nan, math.inf, -math.inf])


def names_in(err: BaseException, names) -> bool:
    message = str(err).lower()
    return any(name.lower() in message for name in names)


def expect_error(call, names, errors=(ValueError, TypeError)):
    """``call()`` must raise one of ``errors`` whose message names one of ``names``."""
    try:
        out = call()
    except errors as err:
        assert names_in(err, names), f"error does not name any of {names}: {type(err).__name__}: {err}"
        return err
    raise AssertionError(f"no error; returned {type(out).__name__}: {str(out)[:200]}")


def assert_finite(tree, what="result"):
    for leaf in jax.tree_util.tree_leaves(tree):
        array = np.asarray(leaf)
        if array.dtype.kind in "fc":
            assert np.all(np.isfinite(array)), f"{what} holds non-finite values"


def expect_error_or_finite(call, names, errors=(ValueError, TypeError)):
    """``call()`` either raises a clear error naming one of ``names``, or returns finite values.

    Returns the result, or None when it raised.
    """
    try:
        out = call()
    except errors as err:
        assert names_in(err, names), f"error does not name any of {names}: {type(err).__name__}: {err}"
        return None
    assert_finite(out)
    return out


def plant(array: np.ndarray, index: int, value):
    """A float copy of ``array`` with ``value`` at flat position ``index % size``."""
    out = np.array(array, dtype=float)
    out.flat[index % out.size] = value
    return out
