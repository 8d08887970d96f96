r"""Basis functions for spike-train filters, and causal convolution with them.

Every filter of a GLM spiking neuron (stimulus filter ``k``, coupling and self-history kernels ``a`` and
``b``) is a linear combination of basis functions over time lags,

.. math::  \mathrm{kernel}(\ell) = \sum_{j} w_j\, \phi_j(\ell - \ell_0), \qquad \ell = \ell_0, \dots, \ell_0 + L - 1,

where :math:`\ell_0` is the lag offset: ``1`` for spike-history and coupling filters (a spike cannot
cause itself in the same bin) and ``0`` for a stimulus filter that sees the current frame.

A :class:`Basis` is the matrix ``[L, n_basis]`` (row ``l`` holds :math:`\phi_j(l)` at lag ``l + lag_offset``)
plus its lag offset. :func:`causal_convolve` turns a time-major signal ``[T, C]`` into features
``[T, C, n_basis]``:

.. math::  F[t, c, j] = \sum_{l=0}^{L-1} \phi_j(l)\, x[t - l - \ell_0, c] \qquad (x[t<0] = 0).

For a signal made of trials (segments concatenated in time) the convolution restarts at every trial start
``t_k``: the past before ``t_k`` is zero, so no filter reaches across a boundary.

References
----------
Pillow, J. W., Shlens, J., Paninski, L., Sher, A., Litke, A. M., Chichilnisky, E. J. & Simoncelli, E. P.
(2008). Spatio-temporal correlations and visual signalling in a complete neuronal population. Nature 454,
995-999 (log-time raised cosines, Supplementary Methods).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_float, check_trial_starts, concrete, non_negative_int, one_of, positive_float, positive_int

__all__ = [
    "Basis",
    "raised_cosine_log",
    "raised_cosine_linear",
    "exponential",
    "identity",
    "causal_convolve",
]


@dataclass(frozen=True, eq=False)
class Basis:
    """A set of basis functions over time lags.

    Parameters
    ----------
    matrix : ndarray, shape (n_lags, n_basis)
        ``matrix[l, j]`` is basis function ``j`` at lag ``l + lag_offset`` (in bins).
    lag_offset : int
        Lag of the first row: 1 excludes the current bin (history, coupling), 0 includes it (stimulus).
    name : str
        A label used in reports and plots.
    """

    matrix: np.ndarray
    lag_offset: int = 1
    name: str = "basis"

    def __post_init__(self) -> None:
        try:
            matrix = np.asarray(self.matrix, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"a basis matrix must be an array of numbers, got {type(self.matrix).__name__}.") from None
        if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 1:
            raise ValueError(f"a basis matrix must have shape (n_lags, n_basis), got {matrix.shape}.")
        if not np.all(np.isfinite(matrix)):
            raise ValueError("a basis matrix must be finite.")
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "lag_offset", non_negative_int("lag_offset", self.lag_offset))

    @property
    def n_lags(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_basis(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def reach(self) -> int:
        """How many bins into the past the basis reaches: ``lag_offset + n_lags - 1``."""
        return self.lag_offset + self.n_lags - 1

    @property
    def lags(self) -> np.ndarray:
        """Lag of every row, in bins."""
        return np.arange(self.n_lags) + self.lag_offset

    def kernel(self, weights):
        """The filter ``matrix @ weights`` over lags; ``weights`` has the basis on its last axis."""
        return jnp.einsum("lj,...j->...l", self.matrix, weights)

    def with_lag_offset(self, lag_offset: int) -> "Basis":
        return Basis(self.matrix, lag_offset, self.name)

    def __repr__(self) -> str:
        return f"Basis({self.name!r}, n_lags={self.n_lags}, n_basis={self.n_basis}, lag_offset={self.lag_offset})"


def _raised_cosines(warped_lags: np.ndarray, centres: np.ndarray, spacing: float) -> np.ndarray:
    phase = np.clip((warped_lags[:, None] - centres[None, :]) * np.pi / (2.0 * spacing), -np.pi, np.pi)
    return 0.5 * (1.0 + np.cos(phase))


def raised_cosine_log(
    n_basis: int, window: int, first_peak: float = 0.0, stretch: float = 1.0, lag_offset: int = 1
) -> Basis:
    r"""Raised cosines on a log-time axis (Pillow et al. 2008).

    .. math::
        \phi_j(\ell) = \tfrac12\bigl(1 + \cos\bigl(\mathrm{clip}\bigl(\tfrac{\pi}{2\Delta}(\log(\ell + b) - c_j),
        -\pi, \pi\bigr)\bigr)\bigr)

    with centres :math:`c_j = \log(\ell_{\rm first} + b) + j\Delta` and the spacing :math:`\Delta` chosen
    so that the last cosine returns to zero at the end of the window, ``l = window - 1``. Each function
    spans four spacings, so away from the first and last centres the functions sum to a constant (2). Narrow
    bumps at short lags resolve refractoriness; wide ones at long lags save parameters.

    Parameters
    ----------
    n_basis : int
        Number of basis functions.
    window : int
        Number of lags (rows) the basis covers.
    first_peak : float
        Lag (bins, relative to the offset) of the first peak; 0 puts it on the first row.
    stretch : float
        :math:`b > 0`, the log offset: small values stretch short lags more strongly.
    lag_offset : int
        See :class:`Basis`.
    """
    n_basis, window = positive_int("n_basis", n_basis), positive_int("window (number of lags)", window)
    stretch = positive_float("stretch", stretch)
    first_peak = check_float(f"first_peak (bins; window={window})", first_peak, 0.0, window - 1, high_open=True)
    lags = np.arange(window, dtype=np.float64)
    start = np.log(first_peak + stretch)
    spacing = (np.log(window - 1 + stretch) - start) / (n_basis + 1) if window > 1 else 1.0
    centres = start + spacing * np.arange(n_basis)
    matrix = _raised_cosines(np.log(lags + stretch), centres, spacing)
    return Basis(matrix, lag_offset, f"log raised cosine ({n_basis})")


def raised_cosine_linear(n_basis: int, window: int, lag_offset: int = 1) -> Basis:
    r"""Raised cosines equally spaced on a linear time axis.

    .. math:: \phi_j(\ell) = \tfrac12\bigl(1 + \cos(\mathrm{clip}(\tfrac{\pi}{2\Delta}(\ell - j\Delta),
        -\pi, \pi))\bigr),
        \qquad \Delta = \frac{L - 1}{n + 1}.
    """
    n_basis, window = positive_int("n_basis", n_basis), positive_int("window (number of lags)", window)
    lags = np.arange(window, dtype=np.float64)
    spacing = (window - 1) / (n_basis + 1) if window > 1 else 1.0
    matrix = _raised_cosines(lags, spacing * np.arange(n_basis), spacing)
    return Basis(matrix, lag_offset, f"linear raised cosine ({n_basis})")


def exponential(
    window: int, time_constants=None, decays=None, lag_offset: int = 1
) -> Basis:
    r"""Exponentially decaying kernels :math:`\phi_j(\ell) = \exp(-\ell/\tau_j) = \alpha_j^{\ell}`.

    Give either ``time_constants`` :math:`\tau_j` (in bins) or ``decays`` :math:`\alpha_j \in (0, 1]`.
    With ``decays=[alpha]`` and a LIF leak ``alpha`` this is the membrane's impulse response, which makes
    a LIF neuron a limiting case of the GLM neuron.
    """
    if (time_constants is None) == (decays is None):
        raise ValueError("give exactly one of time_constants (bins) or decays (per-bin factors in (0, 1]).")
    if decays is None:
        taus = np.atleast_1d(np.asarray(time_constants, dtype=np.float64))
        if taus.ndim != 1 or not np.all(np.isfinite(taus)) or np.any(taus <= 0):
            raise ValueError(f"time_constants must be positive and finite, got {time_constants!r}.")
        decays_arr = np.exp(-1.0 / taus)
    else:
        decays_arr = np.atleast_1d(np.asarray(decays, dtype=np.float64))
        if decays_arr.ndim != 1 or np.any(~(decays_arr > 0)) or np.any(decays_arr > 1):
            raise ValueError(f"decays must lie in (0, 1], got {decays!r}.")
    positive_int("n_basis (number of decays)", decays_arr.size)
    window = positive_int("window (number of lags)", window)
    lags = np.arange(window, dtype=np.float64)
    matrix = decays_arr[None, :] ** lags[:, None]
    return Basis(matrix, lag_offset, f"exponential ({len(decays_arr)})")


def identity(window: int, lag_offset: int = 1) -> Basis:
    """One weight per lag bin (no smoothing): the basis of the Pillow GLM tutorial."""
    window = positive_int("window (number of lags)", window)
    return Basis(np.eye(window), lag_offset, f"identity ({window})")


# ---------------------------------------------------------------------------------------- convolution
@partial(jax.jit, static_argnames=("lag_offset", "method"))
def _causal_convolve(signal, matrix, lag_offset: int, method: str):
    n_bins, n_channels = signal.shape
    n_lags, n_basis = matrix.shape
    dtype = jnp.result_type(signal.dtype, matrix.dtype, jnp.float32)
    signal = signal.astype(dtype)
    matrix = matrix.astype(dtype)
    if method == "fft":
        # Zero-padded FFT: linear (not circular) convolution of the kernel (offset by lag_offset) with x.
        size = int(2 ** np.ceil(np.log2(n_bins + n_lags + lag_offset)))
        kernel = jnp.zeros((size, n_basis), dtype).at[lag_offset : lag_offset + n_lags].set(matrix)
        spectrum = jnp.fft.rfft(signal, n=size, axis=0)[:, :, None] * jnp.fft.rfft(kernel, n=size, axis=0)[:, None, :]
        return jnp.fft.irfft(spectrum, n=size, axis=0)[:n_bins].astype(dtype)
    # Direct: a depthwise 1-D convolution (each channel is a batch item, each basis an output channel).
    shifted = jnp.concatenate([jnp.zeros((n_lags - 1 + lag_offset, n_channels), dtype), signal[: n_bins - lag_offset]])
    lhs = shifted.T[:, None, :]  # [C, 1, T + L - 1]
    rhs = jnp.flip(matrix, axis=0).T[:, None, :]  # [B, 1, L]: correlation with a flipped kernel is convolution
    out = jax.lax.conv_general_dilated(lhs, rhs, window_strides=(1,), padding="VALID",
                                       precision=jax.lax.Precision.HIGHEST)
    return jnp.transpose(out, (2, 0, 1))  # [T, C, B]


def _check_signal(signal):
    """``signal`` as a ``(T, C)`` JAX array with ``T, C >= 1``, checked numeric and finite when concrete."""
    array = concrete(signal)
    if array is not None and (array.dtype.kind not in "biuf"):
        raise ValueError(f"signal must be an array of real numbers, got dtype {array.dtype}.")
    signal = jnp.asarray(signal)
    if signal.ndim == 1:
        signal = signal[:, None]
    if signal.ndim != 2 or signal.shape[0] < 1 or signal.shape[1] < 1:
        raise ValueError(f"signal must have shape (T, C) with T, C >= 1 (time-major), got {signal.shape}.")
    if array is not None and not np.all(np.isfinite(array)):
        raise ValueError("signal contains non-finite values (NaN or inf); the filtered features would be NaN.")
    return signal


def causal_convolve(signal, basis: Basis, method: str = "auto", trial_starts=None):
    r"""Causal convolution of a time-major signal with every function of a basis.

    .. math:: F[t, c, j] = \sum_{l=0}^{L-1} \phi_j(l)\, x[t - l - \ell_0, c]
        \qquad (x[t'] = 0 \text{ for } t' \text{ before the trial of } t)

    Parameters
    ----------
    signal : array_like, shape (T, C) or (T,)
        Spike counts or stimulus, time-major.
    basis : Basis
    method : {"auto", "direct", "fft"}
        ``"direct"`` is a depthwise convolution (cost ``T C L n``); ``"fft"`` a zero-padded FFT
        (cost ``C n T log T``), better for long windows. ``"auto"`` picks FFT for windows over 256 lags.
    trial_starts : sequence of int, optional
        Bins where a trial begins (first 0, increasing, as :attr:`probsnn.SpikeData.trial_starts`): the
        convolution restarts there with a zero past. It is computed in one pass over the signal with
        ``basis.reach`` zero rows inserted before every trial start, so the cost grows by those rows only.

    Returns
    -------
    jax.Array, shape (T, C, n_basis)

    Raises
    ------
    ValueError
        If ``signal`` (when concrete) is not numeric, holds NaN or inf, or is not ``(T, C)`` with ``T, C >= 1``.
    """
    if not isinstance(basis, Basis):
        raise TypeError(f"basis must be a probsnn.basis.Basis, got {type(basis).__name__}.")
    one_of("method", method, ("auto", "direct", "fft"))
    signal = _check_signal(signal)
    if method == "auto":
        method = "fft" if basis.n_lags > 256 else "direct"
    starts = check_trial_starts("trial_starts", trial_starts, signal.shape[0])
    if starts is not None and basis.reach > 0:
        # one convolution of the trials separated by `reach` zero rows: no lag reaches the previous trial
        n_bins = signal.shape[0]
        trial = np.repeat(np.arange(len(starts)), np.diff(starts + (n_bins,)))
        rows = np.arange(n_bins) + trial * basis.reach
        padded = jnp.zeros((rows[-1] + 1, signal.shape[1]), signal.dtype).at[rows].set(signal)
        return causal_convolve(padded, basis, method)[rows]
    if basis.lag_offset >= signal.shape[0]:
        return jnp.zeros(signal.shape + (basis.n_basis,), jnp.result_type(signal.dtype, jnp.float32))
    return _causal_convolve(signal, jnp.asarray(basis.matrix), basis.lag_offset, method)
