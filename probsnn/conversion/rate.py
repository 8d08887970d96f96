r"""Rate-based ANN-to-SNN conversion with data-based normalisation (Rueckauer et al. 2017).

Rueckauer, Lungu, Hu, Pfeiffer & Liu, "Conversion of continuous-valued deep networks to efficient
event-driven networks for image classification", *Front. Neurosci.* 11:682 (2017).

Every ReLU unit of the analog network becomes a non-leaky integrate-and-fire neuron of
:mod:`probsnn.neurons.lif` (leak :math:`\alpha = 1`, threshold :math:`\vartheta = 1`, reset by
subtraction), driven by the layer's linear input plus its bias as a constant current:

.. math::

    v^l_t = v^l_{t-1} + W^l s^{l-1}_t + b^l - \vartheta\, s^l_{t-1}, \qquad s^l_t = H(v^l_t - \vartheta).

Summing over :math:`T` steps, the firing rate :math:`r^l = \tfrac1T\sum_t s^l_t` satisfies
:math:`r^l = W^l r^{l-1} + b^l - (v^l_T - v^l_0)/T`, i.e. it equals the ReLU activation
:math:`\max(0, W^l r^{l-1} + b^l)` up to an error :math:`O(1/T)` *as long as the activation is at most
1* (one spike per step). **Data-based normalisation** enforces that: with :math:`\lambda^l` the
``percentile``-th percentile (99.9 by default) of the positive activations of layer :math:`l` on a
normalisation set,

.. math::

    \tilde W^l = W^l\, \frac{\lambda^{l-1}}{\lambda^l}, \qquad \tilde b^l = \frac{b^l}{\lambda^l},
    \qquad \lambda^0 = 1,

so the rates approximate :math:`a^l/\lambda^l \in [0, 1]` (the top 0.1 % are clipped, which is more
robust than the maximum). ``schedule="layer"`` uses one :math:`\lambda` per layer (the paper);
``schedule="channel"`` one per output channel/unit (a finer variant).

Inputs are analog currents (the input vector injected every step; Rueckauer et al. Sec. 2.2.1) or
Poisson/Bernoulli spike trains with :math:`P(s^0_t=1) = x` (inputs in [0, 1]). Average pooling is linear
and is applied to the spikes; max pooling passes the spikes of the unit with the highest spike count so
far in each window (the gating of Rueckauer et al. Sec. 2.2.3). The output layer integrates its input
currents without spiking (``readout="membrane"``, the time-averaged potential estimates the logits) or
spikes (``readout="spikes"``, class = most spikes).

The initial membrane is :math:`v_0 = 0.5\vartheta` by default, which turns the :math:`1/T` truncation
of the rate code into rounding (halves the worst-case error; Bu et al., ICLR 2022); set
``initial_membrane=0`` for the original scheme.

Counting: a *synaptic operation* (SynOp) is one accumulate triggered by one non-zero input event
(spike, or analog value) at one target; the analog network's cost is its multiply-accumulates (MACs).
"""
from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_float, positive_int
from ..neurons.lif import LIFParams, LIFState, lif_step
from ..surrogates import heaviside
from .ann import (
    PARAMETRIC,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    ann_activations,
    check_inputs,
    check_network,
    count_macs,
    layer_linear,
)

__all__ = [
    "RateSNN",
    "RateRun",
    "normalisation_scales",
    "normalise_layers",
    "convert_rate",
    "run_rate_snn",
    "accuracy_vs_time",
    "conversion_report",
]


class RateSNN(NamedTuple):
    """A rate-converted network: the scaled ``layers`` (IF neurons, threshold 1) and how they were made.

    ``scales`` are the :math:`\\lambda^l` per parametric layer (scalars or per-channel arrays; ``None`` when
    not normalised), ``input_shape`` the per-sample input shape.
    """

    layers: tuple
    input_shape: tuple
    scales: tuple
    percentile: Any
    schedule: str


class RateRun(NamedTuple):
    """Result of :func:`run_rate_snn`.

    Attributes
    ----------
    scores : ndarray [T, B, C]
        Readout after each step: the running mean of the output potential increments (``"membrane"``)
        or the cumulative output spike counts (``"spikes"``); ``argmax`` over C is the prediction.
    spikes_per_neuron : ndarray [n_spiking_layers]
        Spikes per neuron per sample over the whole run, for each spiking layer (input spikes excluded).
    synops : ndarray [n_parametric_layers]
        Synaptic operations per sample over the run, per parametric layer (events x fan-out).
    input_events_are_analog : bool
        True for analog input: the first layer's operations are then multiply-accumulates.
    """

    scores: Any
    spikes_per_neuron: Any
    synops: Any
    input_events_are_analog: bool


# -------------------------------------------------------------------------------------- validation
def _check_rate_convertible(layers):
    parametric = [i for i, l in enumerate(layers) if isinstance(l, PARAMETRIC)]
    last = parametric[-1]
    if last != len(layers) - 1:
        raise ValueError("the last layer must be Dense or Conv2D (the output); "
                         "pooling/flatten after it is not supported.")
    for i in parametric:
        act = layers[i].activation
        if i != last and act != "relu":
            raise ValueError(
                f"layer {i}: rate conversion with integrate-and-fire neurons implements only 'relu' hidden units, "
                f"got {act!r}; use probsnn.conversion.convert_fewspike for leaky_relu/silu/sigmoid networks."
            )
        if i == last and act not in ("linear", "relu"):
            raise ValueError(
                f"output layer {i}: activation {act!r} cannot be rate-coded; use 'linear' logits (or 'relu')."
            )
    return parametric


# -------------------------------------------------------------------------------------- normalisation
def normalisation_scales(layers: Sequence, x_norm, percentile: float = 99.9, schedule: str = "layer") -> list:
    """:math:`\\lambda^l`: the ``percentile`` of the positive activations of every parametric layer.

    Parameters
    ----------
    layers : sequence of layers
    x_norm : array [B, ...]
        Normalisation set (e.g. a few hundred training inputs).
    percentile : float in (0, 100]
        99.9 (Rueckauer et al. 2017); 100 is the maximum (Diehl et al. 2015).
    schedule : {"layer", "channel"}
        One scale per layer, or one per output channel (last axis) of every hidden layer; the output layer
        always gets a single scale, since per-class scales would change the argmax read-out.

    Returns
    -------
    list with one scale per parametric layer (float, or array of shape (C,) for ``"channel"``). A layer
    (channel) that is never positive on ``x_norm`` gets scale 1: it is silent in the ANN and stays so.
    """
    p = check_float("percentile", percentile, 0.0, 100.0, low_open=True)
    if schedule not in ("layer", "channel"):
        raise ValueError(f"schedule must be 'layer' or 'channel', got {schedule!r}.")
    x = check_inputs(x_norm)
    check_network(layers, x.shape[1:])
    acts = ann_activations(tuple(layers), jnp.asarray(x))
    scales = []
    last_parametric = max(i for i, layer in enumerate(layers) if isinstance(layer, PARAMETRIC))
    for i, (layer, a) in enumerate(zip(layers, acts)):
        if not isinstance(layer, PARAMETRIC):
            continue
        a = np.asarray(a)
        # The output layer is read out by its argmax: per-class scales would change the decision, so it
        # always gets one scale.
        if schedule == "layer" or i == last_parametric:
            pos = a[a > 0]
            scales.append(float(np.percentile(pos, p)) if pos.size else 1.0)
        else:
            flat = a.reshape(-1, a.shape[-1])
            lam = np.ones(flat.shape[-1])
            for c in range(flat.shape[-1]):
                pos = flat[:, c][flat[:, c] > 0]
                if pos.size:
                    lam[c] = np.percentile(pos, p)
            scales.append(lam)
    return scales


def normalise_layers(layers: Sequence, scales: Sequence, input_shape) -> list:
    """Rescale weights and biases: :math:`\\tilde W^l = W^l \\lambda^{l-1}/\\lambda^l`,
    :math:`\\tilde b^l = b^l/\\lambda^l`.

    The input scale :math:`\\lambda^0` is 1; per-channel scales are carried through pools and ``Flatten``.
    """
    shapes = check_network(layers, input_shape)
    in_shapes = [tuple(input_shape)] + shapes[:-1]
    prev = np.ones(())  # scale of the current activations, broadcastable to their per-sample shape
    out, k = [], 0
    for layer, shape_in in zip(layers, in_shapes):
        if isinstance(layer, Dense):
            lam = np.asarray(scales[k], float)
            k += 1
            prev_vec = np.broadcast_to(prev, shape_in).reshape(-1)
            w = (np.asarray(layer.weights) * prev_vec[:, None]
                 / np.broadcast_to(lam, (np.shape(layer.weights)[1],))[None, :])
            out.append(Dense(jnp.asarray(w), jnp.asarray(np.asarray(layer.bias) / lam), layer.activation,
                             layer.negative_slope))
            prev = lam
        elif isinstance(layer, Conv2D):
            lam = np.asarray(scales[k], float)
            k += 1
            prev_c = np.broadcast_to(prev, shape_in)
            if prev_c.ndim == 3 and not np.all(prev_c == prev_c[:1, :1, :]):
                raise ValueError("per-position input scales cannot be folded into a convolution kernel.")
            prev_c = prev_c[0, 0, :] if prev_c.ndim == 3 else prev_c
            kern = (np.asarray(layer.kernel) * prev_c[None, None, :, None]
                    / np.broadcast_to(lam, (np.shape(layer.kernel)[3],)))
            out.append(
                Conv2D(jnp.asarray(kern), jnp.asarray(np.asarray(layer.bias) / lam), layer.activation,
                       layer.stride, layer.padding, layer.negative_slope)
            )
            prev = lam
        else:
            if isinstance(layer, Flatten):
                prev = np.broadcast_to(prev, shape_in).reshape(-1)
            out.append(layer)
    return out


def convert_rate(layers: Sequence, x_norm=None, percentile: float = 99.9, schedule: str = "layer",
                 normalise: bool = True, input_shape=None) -> RateSNN:
    """Convert a ReLU network to an IF-neuron rate SNN (Rueckauer et al. 2017).

    Parameters
    ----------
    layers : sequence of layers (hidden activations ``"relu"``, output ``"linear"`` or ``"relu"``)
    x_norm : array [B, ...], optional
        Normalisation set; required when ``normalise`` is True.
    percentile, schedule : see :func:`normalisation_scales`.
    normalise : bool
        False keeps the raw weights with threshold 1 (the un-normalised baseline, which saturates).
    input_shape : tuple, optional
        Per-sample input shape; taken from ``x_norm`` when given.
    """
    if normalise:
        if x_norm is None:
            raise ValueError("data-based normalisation needs a normalisation set x_norm (or pass normalise=False).")
        x = check_inputs(x_norm)
        input_shape = x.shape[1:]
    elif input_shape is None:
        if x_norm is None:
            raise ValueError("give input_shape (or x_norm) so the network can be checked.")
        input_shape = check_inputs(x_norm).shape[1:]
    input_shape = tuple(int(s) for s in input_shape)
    check_network(layers, input_shape)
    _check_rate_convertible(layers)
    if normalise:
        scales = normalisation_scales(layers, x, percentile, schedule)
        new_layers = normalise_layers(layers, scales, input_shape)
        p = check_float("percentile", percentile, 0.0, 100.0, low_open=True)
    else:
        scales, new_layers, p = None, list(layers), None
    return RateSNN(tuple(new_layers), input_shape, tuple(scales) if scales is not None else None, p, schedule)


# -------------------------------------------------------------------------------------- simulation
def _fanout(layer, shape_in):
    """Fan-out of each input element of ``layer`` (number of targets it reaches), shape ``shape_in``."""
    if isinstance(layer, Dense):
        return np.full(shape_in, float(np.shape(layer.weights)[1]))
    if isinstance(layer, Conv2D):
        with jax.ensure_compile_time_eval():
            ones = Conv2D(jnp.ones(np.shape(layer.kernel)), jnp.zeros(np.shape(layer.bias)), "linear",
                          layer.stride, layer.padding)
            x0 = jnp.zeros((1,) + tuple(shape_in))
            out, vjp = jax.vjp(lambda x: layer_linear(ones, x), x0)
            return np.asarray(vjp(jnp.ones_like(out))[0][0])
    return np.ones(shape_in)


def _max_pool_gate(spikes, counts, size):
    """Pass, per window, the spikes of the unit with the largest spike count so far (first on ties)."""
    h, w, c = spikes.shape[-3:]
    lead = spikes.shape[:-3]

    def windows(a):
        a = a.reshape(lead + (h // size, size, w // size, size, c))
        a = jnp.moveaxis(a, -4, -3)  # (..., H', W', size, size, C)
        return a.reshape(lead + (h // size, w // size, size * size, c))

    idx = jnp.argmax(windows(counts), axis=-2)
    return jnp.take_along_axis(windows(spikes), idx[..., None, :], axis=-2)[..., 0, :]


def simulate(layers: tuple, input_shape: tuple, x, n_steps: int, *, key=None, input_mode: str = "analog",
             readout: str = "membrane", initial_membrane: float = 0.5, spike_fn=None):
    """Pure (jit/grad-compatible) simulation of a rate SNN; see :func:`run_rate_snn` for the public entry.

    Returns ``(readout_per_step [T, B, C], spikes_per_layer [n_spiking] (sum over batch and time),
    synops_per_layer [n_parametric] (sum over batch and time))``. With ``spike_fn`` a surrogate
    spike function the run is differentiable (used by hybrid fine-tuning).
    """
    spike_fn = heaviside if spike_fn is None else spike_fn
    shapes = check_network(layers, input_shape)
    in_shapes = [tuple(input_shape)] + shapes[:-1]
    batch = x.shape[0]
    last = max(i for i, l in enumerate(layers) if isinstance(l, PARAMETRIC))
    spiking = [i for i, l in enumerate(layers) if isinstance(l, PARAMETRIC) and (i != last or readout == "spikes")]
    maxpools = [i for i, l in enumerate(layers) if isinstance(l, MaxPool2D)]
    fanouts = {i: jnp.asarray(_fanout(l, in_shapes[i])) for i, l in enumerate(layers) if isinstance(l, PARAMETRIC)}
    dtype = jnp.result_type(x.dtype, float)

    def lif_params(i):
        ones = jnp.ones(shapes[i], dtype)
        return LIFParams(ones, ones)

    init = {
        "v": {i: LIFState(jnp.full((batch,) + shapes[i], initial_membrane, dtype),
                          jnp.zeros((batch,) + shapes[i], dtype))
              for i in spiking},
        "counts": {i: jnp.zeros((batch,) + in_shapes[i], dtype) for i in maxpools},
    }
    keys = jax.random.split(key, n_steps) if input_mode == "poisson" else jnp.zeros((n_steps,), dtype)

    def body(carry, step_key):
        if input_mode == "poisson":
            h = (jax.random.uniform(step_key, x.shape, dtype) < x).astype(dtype)
        else:
            h = x.astype(dtype)
        new_v, new_counts = {}, {}
        n_spikes, ops = [], []
        out = None
        for i, layer in enumerate(layers):
            if isinstance(layer, PARAMETRIC):
                ops.append(jnp.sum(jnp.where(h != 0, 1.0, 0.0) * fanouts[i]))
                u = layer_linear(layer, h)
                if i in spiking:
                    state, h = lif_step(lif_params(i), carry["v"][i], u, spike_fn=spike_fn, reset="subtract")
                    new_v[i] = state
                    n_spikes.append(jnp.sum(h))
                else:
                    h = u
                if i == last:
                    out = h
            elif isinstance(layer, MaxPool2D):
                counts = carry["counts"][i] + h
                new_counts[i] = counts
                h = _max_pool_gate(h, counts, int(layer.size))
            else:
                h = layer_linear(layer, h)
        return {"v": new_v, "counts": new_counts}, (
            out, jnp.stack(n_spikes) if n_spikes else jnp.zeros((0,)), jnp.stack(ops)
        )

    _, (outs, n_spikes, ops) = jax.lax.scan(body, init, keys)
    return outs, jnp.sum(n_spikes, axis=0), jnp.sum(ops, axis=0)


@partial(jax.jit, static_argnames=("input_shape", "n_steps", "input_mode", "readout"))
def _run_jitted(layers, input_shape, x, n_steps, key, input_mode, readout, initial_membrane):
    """:func:`simulate` compiled once per (input shape, steps, input mode, readout): JAX's cache, keyed by the
    static arguments, reuses it across calls and networks of the same shapes."""
    return simulate(layers, input_shape, x, n_steps, key=key, input_mode=input_mode, readout=readout,
                    initial_membrane=initial_membrane)


def run_rate_snn(snn: RateSNN, x, n_steps: int, input_mode: str = "analog", key=None, readout: str = "membrane",
                 initial_membrane: float = 0.5, batch_size: int | None = None) -> RateRun:
    """Run a converted rate SNN for ``n_steps`` on the batch ``x`` ``[B, ...]``.

    Parameters
    ----------
    snn : RateSNN (from :func:`convert_rate`)
    x : array [B, ...]
        Non-negative analog inputs (``input_mode="analog"``: injected every step as a current) or
        firing probabilities in [0, 1] (``"poisson"``: Bernoulli spikes each step, needs ``key``).
    n_steps : int
    readout : {"membrane", "spikes"}
    initial_membrane : float in [0, 1)
        :math:`v_0` as a fraction of the threshold (0.5 default, 0 as in Rueckauer et al.).
    batch_size : int, optional
        Process ``x`` in chunks of this size (memory); results are identical.
    """
    if not isinstance(snn, RateSNN):
        raise ValueError(f"snn must be a RateSNN from convert_rate, got {type(snn).__name__}.")
    x = check_inputs(x, snn.input_shape)
    n_steps = positive_int("n_steps", n_steps)
    if input_mode not in ("analog", "poisson"):
        raise ValueError(f"input_mode must be 'analog' or 'poisson', got {input_mode!r}.")
    if readout not in ("membrane", "spikes"):
        raise ValueError(f"readout must be 'membrane' or 'spikes', got {readout!r}.")
    if np.any(x < 0):
        raise ValueError("inputs must be non-negative (scale them into [0, 1]); "
                         "negative currents cannot be rate-coded.")
    if input_mode == "poisson":
        if np.any(x > 1):
            raise ValueError("Poisson inputs are firing probabilities and must lie in [0, 1]; rescale x.")
        if key is None:
            raise ValueError("input_mode='poisson' needs a PRNG key (key=jax.random.PRNGKey(seed)).")
    initial_membrane = check_float("initial_membrane (a fraction of the threshold)", initial_membrane, 0.0, 1.0,
                                   high_open=True)
    key = jax.random.PRNGKey(0) if key is None else key
    bs = x.shape[0] if batch_size is None else positive_int("batch_size", batch_size)
    scores, spikes, ops = [], 0.0, 0.0
    for start in range(0, x.shape[0], bs):
        chunk = jnp.asarray(x[start:start + bs])
        key, sub = jax.random.split(key)
        out, s, o = _run_jitted(snn.layers, snn.input_shape, chunk, int(n_steps), sub, input_mode, readout,
                                float(initial_membrane))
        scores.append(np.asarray(out))
        spikes = spikes + np.asarray(s)
        ops = ops + np.asarray(o)
    out = np.concatenate(scores, axis=1)
    if readout == "membrane":
        out = np.cumsum(out, axis=0) / np.arange(1, out.shape[0] + 1)[:, None, None]
    else:
        out = np.cumsum(out, axis=0)
    shapes = check_network(snn.layers, snn.input_shape)
    last = max(i for i, l in enumerate(snn.layers) if isinstance(l, PARAMETRIC))
    n_neurons = np.array([np.prod(shapes[i]) for i, l in enumerate(snn.layers)
                          if isinstance(l, PARAMETRIC) and (i != last or readout == "spikes")], float)
    return RateRun(out, np.asarray(spikes) / (n_neurons * x.shape[0]), np.asarray(ops) / x.shape[0],
                   input_mode == "analog")


def accuracy_vs_time(run: RateRun, labels) -> np.ndarray:
    """Accuracy after each step, ``[T]`` (ties in spike counts resolve to the lowest class index)."""
    labels = np.asarray(labels)
    if labels.shape != (run.scores.shape[1],):
        raise ValueError(f"labels must have shape ({run.scores.shape[1]},), got {labels.shape}.")
    return np.mean(np.argmax(run.scores, axis=-1) == labels[None, :], axis=1)


def conversion_report(ann_layers: Sequence, run: RateRun, labels, input_shape, analog_accuracy: float | None = None,
                      steps: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)) -> dict:
    """Accuracy vs time steps, spikes per neuron and SynOps vs the analog network's MACs.

    ``synops_per_mac`` compares the SNN's operations over the whole run with one analog forward pass;
    with analog input the first layer's operations are multiply-accumulates (``first_layer_macs``).
    """
    acc = accuracy_vs_time(run, labels)
    macs = count_macs(ann_layers, input_shape)
    synops = np.asarray(run.synops, float)
    report = {
        "accuracy_vs_steps": {int(t): float(acc[t - 1]) for t in steps if t <= len(acc)},
        "final_accuracy": float(acc[-1]),
        "n_steps": int(len(acc)),
        "spikes_per_neuron": [float(v) for v in run.spikes_per_neuron],
        "synops_per_layer": [float(v) for v in synops],
        "ann_macs": int(macs),
        "first_layer_macs" if run.input_events_are_analog else "first_layer_synops": float(synops[0]),
        "synops_per_mac": float(synops[1:].sum() / macs) if run.input_events_are_analog else float(synops.sum() / macs),
    }
    if analog_accuracy is not None:
        report["analog_accuracy"] = float(analog_accuracy)
        report["gap_points_final"] = 100.0 * (float(analog_accuracy) - float(acc[-1]))
    return report
