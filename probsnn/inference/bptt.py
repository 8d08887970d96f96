r"""Surrogate-gradient backpropagation through time (BPTT) for deterministic spiking networks.

A network is a stack of layers (:class:`~probsnn.neurons.layers.FeedForwardParams` or
:class:`~probsnn.neurons.layers.RecurrentParams`), each with its :class:`~probsnn.neurons.base.Neuron`
type; :func:`run_network` unrolls it with ``lax.scan`` layer by layer. The gradient of a loss is the
exact reverse-mode derivative of the unrolled computation (``jax.grad``), with the Heaviside
derivative replaced by the surrogate (Neftci, Mostafa & Zenke 2019). Optimisation uses Optax.

Feed-forward layers compute the input currents of all bins as one matrix product, and LIF layers run
the fused :func:`~probsnn.neurons.lif.lif_scan` whose hand-written reverse pass equals ``jax.grad`` of the
unrolled recursion; so :func:`fit_bptt` on LIF networks gets the fast path without any option
(``benchmarks/snn_throughput.py``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import check_callable, positive_int
from ..checkpoint import checkpoint_options, fingerprint, resume_checkpoint, save_checkpoint
from ..neurons.base import Neuron
from ..neurons.layers import FeedForwardParams, RecurrentParams, feedforward_layer, recurrent_layer

__all__ = ["run_network", "membrane_cross_entropy", "classification_loss", "fit_bptt", "accuracy",
           "project_neuron_params"]

_CHECKPOINT_KIND = "fit_bptt"


def _check_network(neurons, params):
    if isinstance(neurons, Neuron):
        raise ValueError("neurons must be a sequence with one Neuron per layer, e.g. [lif_neuron(), lif_neuron()].")
    if len(neurons) != len(params) or len(params) == 0:
        raise ValueError(f"got {len(neurons)} neuron types for {len(params)} layers; give one per layer (>= 1).")
    for i in range(1, len(params)):
        n_prev = np.shape(params[i - 1].weights)[1]
        if np.shape(params[i].weights)[0] != n_prev:
            raise ValueError(
                f"layer {i} expects {np.shape(params[i].weights)[0]} inputs but layer {i - 1} has {n_prev} neurons."
            )


def run_network(neurons: Sequence[Neuron], params: Sequence, inputs, unroll: int = 1):
    """Run a layer stack over ``inputs`` ``[T, ..., n_in]``; returns the list of stacked states per layer."""
    _check_network(neurons, params)
    states = []
    x = inputs
    for neuron, layer in zip(neurons, params):
        if isinstance(layer, RecurrentParams):
            _, layer_states = recurrent_layer(neuron, layer, x, unroll=unroll)
        elif isinstance(layer, FeedForwardParams):
            _, layer_states = feedforward_layer(neuron, layer, x, unroll=unroll)
        else:
            raise ValueError(f"layer params must be FeedForwardParams or RecurrentParams, got {type(layer).__name__}.")
        states.append(layer_states)
        x = layer_states.spikes
    return states


def membrane_cross_entropy(membrane, labels):
    r"""Cross-entropy of the time-averaged output membrane, :math:`\ell = -\log \mathrm{softmax}(\bar v)_y`.

    ``membrane`` ``[T, B, C]``, integer ``labels`` ``[B]``; returns the batch mean.
    """
    logits = jnp.mean(membrane, axis=0)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def accuracy(membrane, labels):
    """Fraction of samples whose time-averaged output membrane peaks at the label."""
    return jnp.mean(jnp.argmax(jnp.mean(membrane, axis=0), axis=-1) == labels)


def classification_loss(neurons: Sequence[Neuron], rate_penalty: Callable | None = None) -> Callable:
    """``loss(params, inputs, labels)``: :func:`membrane_cross_entropy` of the last layer (+ optional penalty).

    ``rate_penalty(states)`` receives the list of per-layer states (e.g. a
    :func:`probsnn.regularisers.spike_rate_regulariser` on hidden spikes).
    """

    def loss(params, inputs, labels):
        states = run_network(neurons, params, inputs)
        value = membrane_cross_entropy(states[-1].membrane, labels)
        if rate_penalty is not None:
            value = value + rate_penalty(states)
        return value

    return loss


def fit_bptt(loss_fn: Callable, params, batches, optimizer=None, n_epochs: int = 1, project: Callable | None = None,
             *, checkpoint=None, checkpoint_every: int | None = None, resume: bool = False):
    """Minimise ``loss_fn(params, *batch)`` by BPTT (``jax.value_and_grad``) with an Optax optimiser.

    Parameters
    ----------
    loss_fn : callable
    params : pytree
    batches : callable or sequence
        A sequence of argument tuples, or ``batches(epoch)`` returning one (to resume exactly, it must return
        the same batches for the same epoch).
    optimizer : optax.GradientTransformation, optional
        Default ``optax.adam(1e-3)``.
    n_epochs : int
    project : callable, optional
        Applied to the parameters after each update (e.g. clip leaks into (0, 1]).
    checkpoint : path, optional
        Write the parameters, the optimiser state, the position (epoch, batch) and the losses so far to this
        file (:mod:`probsnn.checkpoint`, kind ``"fit_bptt"``): every ``checkpoint_every`` updates, at the end,
        and on ``KeyboardInterrupt`` (with the state after the last complete update; the interrupt is then
        raised again).
    checkpoint_every : int, optional
        Updates between checkpoints (>= 1); default: at the end of each epoch.
    resume : bool
        Continue from ``checkpoint`` when the file exists (from the start otherwise), skipping the batches
        already used. The call must repeat the interrupted one (same initial parameters, optimiser state and
        ``n_epochs``, checked through the fingerprints the file holds); the result is then bit-for-bit that of
        an uninterrupted call.

    Returns
    -------
    params, losses : the trained parameters and the per-update losses (NumPy array).
    """
    n_epochs = positive_int("n_epochs", n_epochs)
    check_callable("loss_fn", loss_fn, "loss_fn(params, *batch) -> scalar")
    check_callable("project", project, "project(params) -> params", optional=True)
    if not callable(batches) and (isinstance(batches, (str, bytes)) or not hasattr(batches, "__iter__")):
        raise TypeError(f"batches must be a sequence of argument tuples or a callable batches(epoch), got "
                        f"{type(batches).__name__}.")
    path, every, resume = checkpoint_options(checkpoint, checkpoint_every, resume)
    optimizer = optimizer if optimizer is not None else optax.adam(1e-3)
    opt_state = optimizer.init(params)

    @jax.jit
    def update(params, opt_state, *batch):
        value, grads = jax.value_and_grad(loss_fn)(params, *batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        if project is not None:
            params = project(params)
        return params, opt_state, value

    losses, first_epoch, first_batch = [], 0, 0
    config = None
    if path is not None:
        config = {"n_epochs": n_epochs, "start": fingerprint(params, opt_state), "loss_dtype": None}
        if resume:
            def like(saved_config, step):
                dtype = np.dtype(saved_config.get("loss_dtype") or np.float32)
                return {"params": params, "opt_state": opt_state, "position": np.zeros(2, np.int64),
                        "losses": np.zeros(step, dtype)}

            saved = resume_checkpoint(path, _CHECKPOINT_KIND, config, like, ignore=("loss_dtype",))
            if saved is not None:
                params, opt_state = saved.trees["params"], saved.trees["opt_state"]
                first_epoch, first_batch = (int(i) for i in saved.trees["position"])
                losses = list(saved.trees["losses"])
                config["loss_dtype"] = saved.config["loss_dtype"]

    def save(progress):
        p, o, epoch, index, n_updates = progress
        values = np.asarray(jax.device_get(losses[:n_updates]))
        if values.size:
            config["loss_dtype"] = values.dtype.str
        values = values.astype(config["loss_dtype"] or np.float32)
        trees = {"params": p, "opt_state": o, "position": np.array([epoch, index], np.int64), "losses": values}
        save_checkpoint(path, _CHECKPOINT_KIND, config, trees, step=n_updates)

    # progress: (params, opt_state, epoch, next batch, updates done), replaced in one assignment per update
    progress = (params, opt_state, first_epoch, first_batch, len(losses))
    try:
        for epoch in range(first_epoch, n_epochs):
            epoch_batches = batches(epoch) if callable(batches) else batches
            index = -1
            for index, batch in enumerate(epoch_batches):
                if epoch == first_epoch and index < first_batch:
                    continue
                p, o, value = update(progress[0], progress[1], *batch)
                losses.append(value)
                progress = (p, o, epoch, index + 1, progress[4] + 1)
                if path is not None and every is not None and progress[4] % every == 0:
                    save(progress)
            progress = progress[:2] + (epoch + 1, 0, progress[4])
            if path is not None and (every is None or epoch + 1 == n_epochs):
                save(progress)
    except KeyboardInterrupt:
        if path is not None:
            save(progress)
        raise
    params = progress[0]
    losses = np.asarray(jax.device_get(losses))
    if not np.all(np.isfinite(losses)):
        raise FloatingPointError("BPTT produced a non-finite loss; lower the learning rate or check the inputs.")
    return params, losses


_DECAYS = ("leak", "adaptation_decay")
_POSITIVE = ("threshold",)
_NON_NEGATIVE = ("adaptation_strength", "ahp_strength")


def project_neuron_params(params, min_decay: float = 1e-3, min_threshold: float = 1e-3):
    """Projection onto the valid set after a gradient step (pass as ``fit_bptt(..., project=...)``).

    Learnable leaks and adaptation decays are clipped into ``[min_decay, 1]``, thresholds to
    ``>= min_threshold``, adaptation/AHP strengths to ``>= 0``. This is an explicit, opt-in constraint of
    projected gradient descent; nothing is clipped unless it is used.
    """
    if not (0.0 < min_decay <= 1.0) or not min_threshold > 0.0:
        raise ValueError("min_decay must lie in (0, 1] and min_threshold must be > 0.")

    def project_layer(layer):
        neuron = layer.neuron
        if not hasattr(neuron, "_fields"):
            return layer
        updates = {}
        for field in neuron._fields:
            value = getattr(neuron, field)
            if field in _DECAYS:
                updates[field] = jnp.clip(value, min_decay, 1.0)
            elif field in _POSITIVE:
                updates[field] = jnp.maximum(value, min_threshold)
            elif field in _NON_NEGATIVE:
                updates[field] = jnp.maximum(value, 0.0)
        return layer._replace(neuron=neuron._replace(**updates))

    if hasattr(params, "neuron"):
        return project_layer(params)
    return type(params)(project_layer(layer) for layer in params)
