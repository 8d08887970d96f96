r"""Hybrid conversion + fine-tuning (Rathi, Srinivasan, Panda & Roy, ICLR 2020).

After rate conversion (:func:`probsnn.conversion.convert_rate`) the converted SNN is trained for a few
epochs at a small number of time steps :math:`T` with surrogate-gradient backpropagation through time:
the loss is the cross-entropy of the time-averaged output potential,
:math:`\ell = -\log\mathrm{softmax}\big(\tfrac1T\sum_t (W^L s^{L-1}_t + b^L)\big)_y`, differentiated
through the unrolled IF dynamics of :func:`probsnn.conversion.rate.simulate` (``lax.scan``) with the
Heaviside derivative replaced by a surrogate (:mod:`probsnn.surrogates`); weights and biases are
updated with Optax Adam. The conversion provides the initialisation, so a few epochs suffice.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..surrogates import get_surrogate
from .ann import check_inputs
from .rate import RateSNN, simulate

__all__ = ["fine_tune_rate_snn"]


def fine_tune_rate_snn(snn: RateSNN, x, labels, n_steps: int = 4, n_epochs: int = 5, batch_size: int = 64,
                       learning_rate: float = 1e-3, initial_membrane: float = 0.5, spike_fn="triangular",
                       seed: int = 0) -> RateSNN:
    """Fine-tune a converted rate SNN at ``n_steps`` time steps with surrogate-gradient BPTT (analog input).

    Returns a new :class:`RateSNN` with the trained weights and biases (thresholds stay 1).
    """
    if not isinstance(snn, RateSNN):
        raise ValueError(f"snn must be a RateSNN from convert_rate, got {type(snn).__name__}.")
    x = check_inputs(x, snn.input_shape)
    labels = np.asarray(labels)
    if labels.shape != (x.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers of shape ({x.shape[0]},).")
    if np.any(x < 0):
        raise ValueError("inputs must be non-negative analog currents.")
    for name, v in (("n_steps", n_steps), ("n_epochs", n_epochs), ("batch_size", batch_size)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}.")
    spike = get_surrogate(spike_fn)
    shape = snn.input_shape

    def loss_fn(layers, xb, yb):
        outs, _, _ = simulate(layers, shape, xb, int(n_steps), readout="membrane",
                              initial_membrane=initial_membrane, spike_fn=spike)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(jnp.mean(outs, axis=0), yb))

    optimizer = optax.adam(learning_rate)
    params = snn.layers
    opt_state = optimizer.init(params)

    @jax.jit
    def update(params, opt_state, xb, yb):
        grads = jax.grad(loss_fn)(params, xb, yb)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    rng = np.random.default_rng(seed)
    bs = min(int(batch_size), x.shape[0])
    for _ in range(int(n_epochs)):
        perm = rng.permutation(x.shape[0])
        for start in range(0, x.shape[0] - bs + 1, bs):
            idx = perm[start:start + bs]
            params, opt_state = update(params, opt_state, jnp.asarray(x[idx]), jnp.asarray(labels[idx]))
    return snn._replace(layers=tuple(params))
