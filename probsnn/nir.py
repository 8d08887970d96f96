r"""Neuromorphic interchange: export probsnn spiking networks to NIR graphs and load NIR graphs as probsnn networks.

NIR, the Neuromorphic Intermediate Representation (Pedersen et al., *Nat. Commun.* 15:8122, 2024;
``pip install 'probsnn[nir]'``), describes a network as a graph of continuous-time nodes. Its neurons obey

.. math::

    \tau\, \dot v = (v_\text{leak} - v) + R\, I \quad\text{(LI, LIF)}, \qquad \dot v = R\, I \quad\text{(I, IF)},

with a spike :math:`z = 1` when :math:`v > v_\text{thr}`, after which :math:`v \leftarrow v_\text{reset}`
(LIF, IF; CubaLIF adds the synaptic current :math:`\tau_\text{syn} \dot I = -I + w_\text{in} S`).
probsnn's neurons are discrete-time, one bin of width :math:`\Delta t` per step
(:mod:`probsnn.neurons.lif`): :math:`v_t = \alpha v_{t-1} + I_t` plus the reset. The two are linked by the
forward-Euler step that NIR's reference implementations (snnTorch, Norse, Spyx) use,

.. math::

    v_t = v_{t-1} + \frac{\Delta t}{\tau}\bigl(v_\text{leak} - v_{t-1} + R\, I_t\bigr)
        = \Bigl(1 - \frac{\Delta t}{\tau}\Bigr) v_{t-1} + \frac{\Delta t}{\tau} v_\text{leak}
          + \frac{\Delta t\, R}{\tau} I_t,

so the mapping is :math:`\tau = \Delta t / (1 - \alpha)`, :math:`R = \tau / \Delta t` (the input current adds
with weight exactly 1, as in probsnn), :math:`v_\text{leak} = 0`, :math:`v_\text{thr} = \vartheta`,
:math:`v_\text{reset} = 0`; a layer with :math:`\alpha = 1` is an IF (integrator) node with :math:`R = 1/\Delta t`.
CubaLIF: :math:`I_t = \alpha_\text{syn} I_{t-1} + S_t` (:math:`\tau_\text{syn} = \Delta t/(1-\alpha_\text{syn})`,
:math:`w_\text{in} = \tau_\text{syn}/\Delta t`), then :math:`v_t` as above with the *new* current :math:`I_t`
(the order of snnTorch's ``Synaptic``). :math:`\Delta t` is recorded in the graph metadata (``"dt"``). The
parameters are computed in float64 and the file holds them in float64, so that :func:`load` recovers the
float32 leaks, thresholds and weights exactly and the round trip gives bit-identical float32 spikes.
Spiking is strict, :math:`v > v_\text{thr}`, in NIR and in probsnn (:mod:`probsnn.surrogates`).

Resets. probsnn's reset to zero, :math:`v_t = \alpha v_{t-1}(1 - s_{t-1}) + I_t`, is exactly NIR's
:math:`v \leftarrow 0` after a spike (LIF/IF/CubaLIF nodes). The reset by subtraction,
:math:`v_t = \alpha v_{t-1} + I_t - \vartheta s_{t-1}`, has no NIR neuron node; it is exported as the
equivalent subgraph LI (or I when :math:`\alpha = 1`) :math:`\to` Threshold :math:`\vartheta`, with a Scale
node :math:`-\vartheta` feeding the spikes back onto the integrator's input (a graph cycle, so delayed by
one step: exactly :math:`-\vartheta s_{t-1}`). ``reset="none"`` is LI/I :math:`\to` Threshold without the
feedback. :func:`load` recognises these subgraphs and gives the probsnn LIF neuron back.

Cycles (recurrent layers) carry a one-step delay: inside a strongly connected component a node reads the
previous step's output of every node that comes after it in the component's order (the recurrent current
:math:`s_{t-1} V` of :func:`~probsnn.neurons.layers.recurrent_layer`). Feed-forward parts run bin-parallel:
linear and convolutional nodes act on all bins at once, neurons run their ``lax.scan``; this is the
computation of :func:`~probsnn.neurons.layers.feedforward_layer`, bit for bit.

Nested NIR graphs (snnTorch's recurrent subgraphs) are inlined on load. :func:`with_escape_noise` (or
``load(..., temperature=T, key=key)``) turns the spiking neurons into their stochastic GLM limit,
:math:`P(s_t = 1) = \sigma((v_t - \vartheta)/T)`. Converted networks: rate-converted SNNs export
(:func:`network_from_rate_snn`), few-spike networks are refused; weights realised on an emulated crossbar export
with their device model in the node metadata (:func:`crossbar_metadata`). ``docs/nir.md`` has the details.

Layout: NIR is channels-first, per sample (``(C, H, W)``; weights ``(out, in)``); probsnn's dense weights are
``(n_in, n_out)`` and :func:`run` takes time-major inputs ``[T, batch, *shape]``.
"""
from __future__ import annotations

import graphlib
import importlib
import math
from dataclasses import asdict, is_dataclass
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from ._checks import check_finite_entries, positive_scalar
from .conversion.ann import AvgPool2D, Conv2D, Dense, MaxPool2D, check_network
from .conversion.ann import Flatten as DenseFlatten
from .conversion.fewspike import FSNetwork
from .conversion.rate import RateSNN
from .neurons.base import DECAY_BOUNDS, POSITIVE_BOUNDS, Neuron, check_per_neuron_params, per_neuron_params
from .neurons.layers import FeedForwardParams, RecurrentParams
from .neurons.lif import LIFParams, lif_neuron, lif_step
from .surrogates import get_surrogate

__all__ = [
    # probsnn-side graph nodes
    "Input", "Output", "Affine", "Conv", "Pool", "Flatten", "Scale", "Threshold", "Neurons", "NIRNetwork",
    # neurons NIR has and probsnn did not
    "LIParams", "LIState", "li_neuron", "li_params", "CubaLIFParams", "CubaLIFState", "cuba_lif_neuron",
    "cuba_lif_params",
    # building, interchange, running
    "network_from_layers", "network_from_rate_snn", "crossbar_metadata", "export", "load", "run",
    # the stochastic (GLM) limit
    "with_escape_noise", "EscapeNoiseState",
]

_INSTALL_HINT = "NIR interchange needs the optional 'nir' package: pip install 'probsnn[nir]'"


def _nir():
    """The ``nir`` package, imported on first use (an optional extra)."""
    try:
        return importlib.import_module("nir")
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error


# ------------------------------------------------------------------------------------------ nodes
class Input(NamedTuple):
    """Graph input; ``shape`` is the per-sample shape (``(n,)`` or channels-first ``(C, H, W)``)."""

    shape: tuple


class Output(NamedTuple):
    """Graph output: passes its (summed) input through; ``shape`` per sample."""

    shape: tuple


class Affine(NamedTuple):
    """Dense map :math:`y = x W + b`, ``weights`` ``(n_in, n_out)`` (probsnn orientation), ``bias`` or None."""

    weights: Any
    bias: Any = None


class Conv(NamedTuple):
    """Cross-correlation over 1 or 2 spatial axes, channels-first (NIR ``Conv1d``/``Conv2d``, PyTorch layout).

    ``weights`` ``(C_out, C_in / groups, *kernel)``, ``bias`` ``(C_out,)`` or None, ``stride`` and ``dilation``
    tuples (one per spatial axis), ``padding`` a tuple of symmetric paddings or ``"same"``/``"valid"``,
    ``input_shape`` the spatial input shape.
    """

    weights: Any
    bias: Any
    stride: tuple
    padding: Any
    dilation: tuple
    groups: int
    input_shape: tuple


class Pool(NamedTuple):
    """2-D sum or average pooling (``kind`` ``"sum"``/``"avg"``), channels-first; average counts padding."""

    kind: str
    kernel_size: tuple
    stride: tuple
    padding: tuple


class Flatten(NamedTuple):
    """Flatten per-sample axes ``start_dim..end_dim`` (NIR convention: axis 0 is the first non-batch axis)."""

    input_shape: tuple
    start_dim: int = 0
    end_dim: int = -1


class Scale(NamedTuple):
    """Elementwise :math:`y = x \\odot s` (``scale`` of the per-sample shape)."""

    scale: Any


class Threshold(NamedTuple):
    """Spike :math:`y = H(x - \\vartheta)`, strict (``threshold`` of the per-sample shape)."""

    threshold: Any


class Neurons(NamedTuple):
    """A population of probsnn neurons run over time: ``neuron`` (a :class:`~probsnn.neurons.base.Neuron`),
    its per-neuron ``params`` (flat, ``(N,)`` each), the per-sample ``shape`` (``prod(shape) == N``).

    ``input_scale`` and ``bias`` (``(N,)`` or None) enter the current as :math:`c \\odot I_t + b`; they appear
    only when a foreign NIR graph has :math:`\\Delta t R/\\tau \\neq 1` or :math:`v_\\text{leak} \\neq 0`.
    The node outputs the spikes, or the membrane for a leaky integrator (:func:`li_neuron`).
    """

    neuron: Neuron
    params: Any
    shape: tuple
    input_scale: Any = None
    bias: Any = None


class NIRNetwork(NamedTuple):
    """A network graph: ``nodes`` (name -> node, in insertion order), ``edges`` (``(source, target)`` pairs; the
    inputs of a node are summed in edge order), ``dt`` (bin width, None when not known) and ``metadata``."""

    nodes: dict
    edges: tuple
    dt: Any = None
    metadata: Any = None


# ------------------------------------------------------------------------------------------ neurons
class LIParams(NamedTuple):
    """Leaky-integrator parameters: ``leak`` :math:`\\alpha \\in (0, 1]`, shape (N,)."""

    leak: Any


class LIState(NamedTuple):
    """Leaky-integrator state: ``membrane`` :math:`v_t`; ``spikes`` are always 0 (it never fires)."""

    membrane: Any
    spikes: Any


class CubaLIFParams(NamedTuple):
    """Current-based LIF: ``synaptic_decay`` :math:`\\alpha_\\text{syn}`, ``leak`` :math:`\\alpha` (both in
    (0, 1]) and ``threshold`` :math:`\\vartheta > 0`, shape (N,) each."""

    synaptic_decay: Any
    leak: Any
    threshold: Any


class CubaLIFState(NamedTuple):
    """Current-based LIF state: ``synaptic`` current, ``membrane`` and ``spikes``."""

    synaptic: Any
    membrane: Any
    spikes: Any


_LI_BOUNDS = (("leak", DECAY_BOUNDS),)
_CUBA_BOUNDS = (("synaptic_decay", DECAY_BOUNDS), ("leak", DECAY_BOUNDS), ("threshold", POSITIVE_BOUNDS))


def _zeros_state(cls, params, batch_shape):
    leaf = params[0]
    shape = tuple(batch_shape) + tuple(np.shape(leaf))
    return cls(*(jnp.zeros(shape, jnp.result_type(leaf)) for _ in cls._fields))


def li_params(n_neurons: int, leak=0.9, dtype=None) -> LIParams:
    """Per-neuron :class:`LIParams` from a scalar or an array (validated)."""
    return check_per_neuron_params(per_neuron_params(LIParams, n_neurons, (leak,), dtype), LIParams, _LI_BOUNDS)


def li_neuron() -> Neuron:
    r"""Leaky integrator (NIR ``LI``; ``I`` when :math:`\alpha = 1`): :math:`v_t = \alpha v_{t-1} + I_t`, no spikes.

    The non-spiking read-out of a spiking network; its output is the membrane.
    """

    def step(params, state, current):
        membrane = params.leak * state.membrane + current
        return LIState(membrane, state.spikes), state.spikes

    return Neuron("LI", step, lambda params, batch_shape=(): _zeros_state(LIState, params, batch_shape),
                  lambda p: check_per_neuron_params(p, LIParams, _LI_BOUNDS), True)


def cuba_lif_params(n_neurons: int, synaptic_decay=0.8, leak=0.9, threshold=1.0, dtype=None) -> CubaLIFParams:
    """Per-neuron :class:`CubaLIFParams` from scalars or arrays (validated)."""
    values = (synaptic_decay, leak, threshold)
    return check_per_neuron_params(per_neuron_params(CubaLIFParams, n_neurons, values, dtype), CubaLIFParams,
                                   _CUBA_BOUNDS)


def cuba_lif_neuron(spike_fn=None) -> Neuron:
    r"""Current-based LIF with reset to zero (NIR ``CubaLIF``):

    .. math::

        I_t = \alpha_\text{syn} I_{t-1} + x_t, \qquad v_t = \alpha v_{t-1} (1 - s_{t-1}) + I_t, \qquad
        s_t = H(v_t - \vartheta),

    the forward-Euler discretisation of NIR's equations with :math:`R = \tau_\text{mem}/\Delta t` and
    :math:`w_\text{in} = \tau_\text{syn}/\Delta t` (module docstring). ``spike_fn``: a surrogate of
    :mod:`probsnn.surrogates` (its forward value is the strict step).
    """
    spike_fn = get_surrogate(spike_fn)

    def step(params, state, current):
        synaptic = params.synaptic_decay * state.synaptic + current
        membrane = params.leak * state.membrane * (1.0 - state.spikes) + synaptic
        spikes = spike_fn(membrane - params.threshold)
        return CubaLIFState(synaptic, membrane, spikes), spikes

    return Neuron("CubaLIF", step, lambda params, batch_shape=(): _zeros_state(CubaLIFState, params, batch_shape),
                  lambda p: check_per_neuron_params(p, CubaLIFParams, _CUBA_BOUNDS), True)


def _neuron_kind(neuron: Neuron) -> str:
    kinds = {"LIF(reset=zero)": "lif_zero", "LIF(reset=subtract)": "lif_subtract", "LIF(reset=none)": "lif_none",
             "LI": "li", "CubaLIF": "cuba_lif"}
    if not isinstance(neuron, Neuron) or neuron.name not in kinds:
        name = neuron.name if isinstance(neuron, Neuron) else type(neuron).__name__
        raise ValueError(
            f"neuron {name!r} has no NIR node; NIR exports lif_neuron(reset='zero'|'subtract'|'none'), li_neuron() "
            "and cuba_lif_neuron() (ALIF, SNU and few-spike neurons have adaptive or time-varying dynamics that "
            "NIR cannot express)."
        )
    return kinds[neuron.name]


# ------------------------------------------------------------------------------------------ shapes
def _conv_output_shape(node: Conv, shape) -> tuple:
    c_in, spatial = shape[0], tuple(shape[1:])
    weights_shape = np.shape(node.weights)
    if c_in != weights_shape[1] * node.groups or len(spatial) != len(weights_shape) - 2:
        raise ValueError(f"a Conv node with weights {weights_shape} (groups {node.groups}) cannot take inputs of "
                         f"shape {tuple(shape)}; expected ({weights_shape[1] * node.groups}, <spatial>).")
    out = []
    for i, n in enumerate(spatial):
        k, s, d = weights_shape[2 + i], node.stride[i], node.dilation[i]
        if node.padding == "same":
            out.append(n)
            continue
        p = 0 if node.padding == "valid" else node.padding[i]
        out.append((n + 2 * p - d * (k - 1) - 1) // s + 1)
    return (weights_shape[0], *out)


def _output_shape(node, shape) -> tuple:
    if isinstance(node, (Input, Output)):
        return tuple(node.shape)
    if isinstance(node, Affine):
        return (np.shape(node.weights)[1],)
    if isinstance(node, Conv):
        return _conv_output_shape(node, shape)
    if isinstance(node, Pool):
        c, h, w = shape
        return (c,) + tuple((n + 2 * p - k) // s + 1 for n, p, k, s in
                            zip((h, w), node.padding, node.kernel_size, node.stride))
    if isinstance(node, Flatten):
        shape = tuple(shape)
        end = node.end_dim % len(shape)
        return shape[:node.start_dim] + (int(np.prod(shape[node.start_dim:end + 1])),) + shape[end + 1:]
    if isinstance(node, Neurons):
        return tuple(node.shape)
    return tuple(np.shape(node[0]))  # Scale, Threshold


# ------------------------------------------------------------------------------------------ building
def _chain(nodes, edges, name, node, previous):
    nodes[name] = node
    edges.append((previous, name))
    return name


def network_from_layers(layers: Sequence, input_shape=None, dt=None) -> NIRNetwork:
    """A sequential probsnn network as an :class:`NIRNetwork` (``input`` -> layers -> ``output``).

    Parameters
    ----------
    layers : sequence
        Each item is ``(neuron, FeedForwardParams)`` (dense weights then the neurons), ``(neuron,
        RecurrentParams)`` (adds the recurrent weights :math:`V` from the neurons back onto their input: a cycle),
        ``(neuron, neuron_params)`` (neurons acting elementwise on the previous node's output, e.g. after a
        convolution; ``N`` = its size), or a node (:class:`Affine`, :class:`Conv`, :class:`Pool`,
        :class:`Flatten`, :class:`Scale`, :class:`Threshold`). Layer ``k``'s nodes are named ``"k.linear"``,
        ``"k.neurons"`` and ``"k.recurrent"`` (a bare node: ``"k.<type>"``).
    input_shape : tuple, optional
        Per-sample input shape; inferred from a first dense layer or convolution.
    dt : float, optional
        Bin width, kept in the network (used by :func:`export` when not given there).
    """
    if isinstance(layers, (tuple, list)) and len(layers) == 2 and isinstance(layers[0], Neuron):
        layers = [layers]
    if not isinstance(layers, (tuple, list)) or not layers:
        raise ValueError("layers must be a non-empty sequence of (neuron, params) pairs or graph nodes.")
    if input_shape is None:
        first = layers[0]
        if isinstance(first, tuple) and len(first) == 2 and isinstance(first[1], (FeedForwardParams, RecurrentParams)):
            input_shape = (np.shape(first[1].weights)[0],)
        elif isinstance(first, Affine):
            input_shape = (np.shape(first.weights)[0],)
        elif isinstance(first, Conv):
            input_shape = (np.shape(first.weights)[1] * first.groups, *first.input_shape)
        else:
            raise ValueError("input_shape is needed when the first layer is not dense or convolutional.")
    nodes, edges = {"input": Input(tuple(int(s) for s in input_shape))}, []
    previous, shape = "input", nodes["input"].shape
    for k, layer in enumerate(layers):
        if isinstance(layer, (Affine, Conv, Pool, Flatten, Scale, Threshold)):
            previous = _chain(nodes, edges, f"{k}_{type(layer).__name__.lower()}", layer, previous)
            shape = _output_shape(layer, shape)
            continue
        if not (isinstance(layer, tuple) and len(layer) == 2 and isinstance(layer[0], Neuron)):
            raise ValueError(f"layer {k} must be a (neuron, params) pair or a graph node, got {type(layer).__name__}.")
        neuron, params = layer
        _neuron_kind(neuron)
        if isinstance(params, (FeedForwardParams, RecurrentParams)):
            weights = params.weights
            if np.ndim(weights) != 2 or shape != (np.shape(weights)[0],):
                raise ValueError(f"layer {k}: weights of shape {np.shape(weights)} do not fit inputs of shape {shape}.")
            previous = _chain(nodes, edges, f"{k}_linear", Affine(weights), previous)
            shape = (np.shape(weights)[1],)
            neuron_params = params.neuron
        else:
            neuron_params = params
        neuron.check_params(neuron_params)
        n = np.shape(neuron_params[0])[0]
        if n != int(np.prod(shape)):
            raise ValueError(f"layer {k}: {n} neurons for inputs of shape {shape} ({int(np.prod(shape))} values).")
        name = _chain(nodes, edges, f"{k}.neurons", Neurons(neuron, neuron_params, shape), previous)
        if isinstance(params, RecurrentParams):
            if np.shape(params.recurrent_weights) != (n, n):
                raise ValueError(f"layer {k}: recurrent_weights must have shape ({n}, {n}), "
                                 f"got {np.shape(params.recurrent_weights)}.")
            nodes[f"{k}.recurrent"] = Affine(params.recurrent_weights)
            edges += [(name, f"{k}.recurrent"), (f"{k}.recurrent", name)]
        previous = name
    nodes["output"] = Output(shape)
    edges.append((previous, "output"))
    return NIRNetwork(nodes, tuple(edges), dt, {})


def _integrate_and_fire_subtract(nodes, edges, name, shape, threshold, reset_amount, previous):
    """IF neurons with reset by subtraction as generic nodes: integrator -> Threshold, Scale feedback."""
    n = int(np.prod(shape))
    nodes[f"{name}.membrane"] = Neurons(li_neuron(), LIParams(jnp.ones((n,))), shape)
    nodes[name] = Threshold(jnp.full(shape, threshold))
    nodes[f"{name}.reset"] = Scale(jnp.full(shape, -reset_amount))
    edges += [(previous, f"{name}.membrane"), (f"{name}.membrane", name), (name, f"{name}.reset"),
              (f"{name}.reset", f"{name}.membrane")]
    return name


def _same_padding(n, k, s):
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def network_from_rate_snn(snn: RateSNN, initial_membrane: float = 0.5, readout: str = "membrane",
                          dt=None) -> NIRNetwork:
    r"""A rate-converted network (:func:`probsnn.conversion.convert_rate`) as an :class:`NIRNetwork`.

    Hidden units are IF neurons with reset by subtraction, threshold :math:`\vartheta = 1` and initial membrane
    :math:`v_0 = ` ``initial_membrane`` :math:`\cdot\vartheta` (as :func:`~probsnn.conversion.run_rate_snn`).
    NIR has no initial state, so :math:`v_0` is folded into the threshold: without leak,
    :math:`v_t - v_0` obeys the same recursion from 0 and spikes when it exceeds :math:`\vartheta - v_0`; the
    subtraction stays :math:`\vartheta`. The output layer is its linear current (``readout="membrane"``: the
    running mean over steps is :func:`~probsnn.conversion.run_rate_snn`'s score) or IF neurons as well
    (``"spikes"``). Layout: channels-first (``[T, B, C, H, W]`` inputs); dense weights after a flatten are
    permuted from probsnn's ``(H, W, C)`` order. The input is injected every step (analog current or spikes).
    Max pooling is refused (it gates spikes by running counts, which NIR cannot express).
    """
    if not isinstance(snn, RateSNN):
        raise ValueError(f"snn must be a RateSNN from convert_rate, got {type(snn).__name__}.")
    if readout not in ("membrane", "spikes"):
        raise ValueError(f"readout must be 'membrane' or 'spikes', got {readout!r}.")
    v0 = float(initial_membrane)
    if not 0.0 <= v0 < 1.0:
        raise ValueError(f"initial_membrane must lie in [0, 1) (a fraction of the threshold), "
                         f"got {initial_membrane!r}.")
    layers = snn.layers
    shapes = check_network(layers, snn.input_shape)
    in_shapes = [tuple(snn.input_shape)] + shapes[:-1]
    last = max(i for i, layer in enumerate(layers) if isinstance(layer, (Dense, Conv2D)))

    def channels_first(shape):
        return (shape[2], shape[0], shape[1]) if len(shape) == 3 else tuple(shape)

    nodes, edges = {"input": Input(channels_first(snn.input_shape))}, []
    previous, flatten_perm = "input", None
    for i, (layer, shape_in, shape_out) in enumerate(zip(layers, in_shapes, shapes)):
        if isinstance(layer, MaxPool2D):
            raise ValueError(f"layer {i}: MaxPool2D gates spikes by running spike counts and has no NIR node; convert "
                             "an average-pooling network (AvgPool2D) instead.")
        if isinstance(layer, DenseFlatten):
            if len(shape_in) == 3:
                flatten_perm = np.arange(int(np.prod(shape_in))).reshape(shape_in).transpose(2, 0, 1).reshape(-1)
                previous = _chain(nodes, edges, f"{i}_flatten", Flatten(channels_first(shape_in)), previous)
            continue
        if isinstance(layer, AvgPool2D):
            s = int(layer.size)
            previous = _chain(nodes, edges, f"{i}_pool", Pool("avg", (s, s), (s, s), (0, 0)), previous)
            continue
        if isinstance(layer, Dense):
            weights = np.asarray(layer.weights)
            if flatten_perm is not None:
                weights = weights[flatten_perm]
                flatten_perm = None
            linear = Affine(jnp.asarray(weights, jnp.result_type(layer.weights)), layer.bias)
        else:
            k, s = np.shape(layer.kernel), int(layer.stride)
            if layer.padding == "SAME":
                pads = [_same_padding(n, kk, s) for n, kk in zip(shape_in[:2], k[:2])]
                if any(lo != hi for lo, hi in pads):
                    raise ValueError(f"layer {i}: 'SAME' padding with stride {s} pads asymmetrically {pads}; NIR "
                                     "convolutions pad symmetrically. Use stride 1 or 'VALID'.")
                padding = tuple(lo for lo, _ in pads)
            else:
                padding = (0, 0)
            kernel = jnp.transpose(jnp.asarray(layer.kernel), (3, 2, 0, 1))
            linear = Conv(kernel, layer.bias, (s, s), padding, (1, 1), 1, tuple(shape_in[:2]))
        previous = _chain(nodes, edges, f"{i}_linear", linear, previous)
        if i != last or readout == "spikes":
            previous = _integrate_and_fire_subtract(nodes, edges, f"{i}.neurons", channels_first(shape_out),
                                                    1.0 - v0, 1.0, previous)
    nodes["output"] = Output(channels_first(shapes[-1]))
    edges.append((previous, "output"))
    return NIRNetwork(nodes, tuple(edges), dt, {"probsnn.source": "RateSNN",
                                                "probsnn.initial_membrane": v0, "probsnn.readout": readout})


def crossbar_metadata(config=None, t=None, drift_compensation: bool = True, per_column: bool = False) -> dict:
    """Node metadata describing weights realised on an emulated PCM crossbar
    (:func:`probsnn.hardware.realise_weights`): the :class:`~probsnn.hardware.PCMConfig` fields, the read time
    ``t`` in seconds, drift compensation and per-column mapping. Pass it as ``weight_metadata`` to :func:`export`.
    """
    from .hardware.pcm import PCMConfig

    config = PCMConfig() if config is None else config
    if not is_dataclass(config):
        raise ValueError(f"config must be a PCMConfig, got {type(config).__name__}.")
    meta = {"hardware": "pcm_crossbar_differential_pair", "drift_compensation": bool(drift_compensation),
            "per_column": bool(per_column)}
    if t is not None:
        meta["read_time_s"] = positive_scalar("t", t)
    for key, value in asdict(config).items():
        if value is None:
            continue
        meta[f"pcm.{key}"] = np.asarray(value, float) if isinstance(value, (tuple, list)) else value
    return meta


# ------------------------------------------------------------------------------------------ export
def _np64(x):
    return np.asarray(x, np.float64)


_NO_LEAK_TAU_IN_BINS = 2.0**60  # the time constant, in bins, of a neuron without leak in a leaky layer


def _solve_exactly(guess, forward, target, max_ulps: int = 16):
    """``guess`` nudged by up to ``max_ulps`` float64 ulps, entry by entry, until ``forward(x) == target`` exactly
    (the float64 time constants from which :func:`load`'s formulas give the probsnn values back bit for bit)."""
    guess = np.array(guess, np.float64)
    target = np.broadcast_to(np.asarray(target, np.float64), guess.shape)
    best = guess.copy()
    solved = forward(best) == target
    for direction in (np.inf, -np.inf):
        candidate = guess.copy()
        for _ in range(max_ulps):
            candidate = np.nextafter(candidate, direction)
            good = ~solved & (forward(candidate) == target)
            best[good] = candidate[good]
            solved |= good
    return best


def _neurons_to_nir(nir, name, node: Neurons, dt, nodes, edges, meta):
    """NIR nodes of a :class:`Neurons` node; returns (entry node name, exit node name)."""
    kind = _neuron_kind(node.neuron)
    shape = tuple(node.shape)
    n = int(np.prod(shape))
    scale = np.ones(n) if node.input_scale is None else _np64(node.input_scale)
    bias = np.zeros(n) if node.bias is None else _np64(node.bias)

    def per_neuron(x):
        return np.broadcast_to(_np64(x), (n,)).reshape(shape).copy()

    def leaky(leak, what):
        leak = _np64(leak)
        if np.all(leak == 1.0):
            return None
        # A layer mixing leaky neurons with some of no leak (e.g. leaks learned up to the bound 1): the latter get
        # tau = 2**60 dt, whose forward-Euler decay 1 - dt / tau = 1 - 2**-60 is 1 to a thousandth of float64's
        # resolution (it rounds to exactly 1 in float64 and float32), so every reader runs them without leak.
        guess = np.where(leak == 1.0, dt * _NO_LEAK_TAU_IN_BINS, dt / np.where(leak == 1.0, 0.5, 1.0 - leak))
        return _solve_exactly(guess, lambda tau: 1.0 - dt / tau, leak)

    def membrane_node(leak):
        tau = leaky(leak, "leak")
        if tau is None:
            if np.any(bias != 0):
                raise ValueError(f"node {name!r}: a constant input current on non-leaky neurons has no NIR I/IF "
                                 "parameter; put it into the preceding Affine bias.")
            return None, per_neuron(_solve_exactly(scale / dt, lambda r: dt * r, scale))
        r = _solve_exactly(scale * tau / dt, lambda r: dt * r / tau, scale)
        v_leak = _solve_exactly(bias * tau / dt, lambda v: dt * v / tau, bias)
        return per_neuron(tau), (per_neuron(r), per_neuron(v_leak))

    p = node.params
    if kind in ("lif_zero", "cuba_lif"):
        thr = per_neuron(p.threshold)
        tau, rest = membrane_node(p.leak)
        if kind == "lif_zero" and tau is None:
            nodes[name] = nir.IF(r=rest, v_threshold=thr, v_reset=np.zeros(shape), metadata=meta)
        elif kind == "lif_zero":
            nodes[name] = nir.LIF(tau=tau, r=rest[0], v_leak=rest[1], v_threshold=thr, v_reset=np.zeros(shape),
                                  metadata=meta)
        else:
            tau_syn = leaky(p.synaptic_decay, "synaptic_decay")
            if tau is None or tau_syn is None:
                raise ValueError(f"node {name!r}: NIR's CubaLIF needs leak < 1 and synaptic_decay < 1 (finite time "
                                 "constants).")
            nodes[name] = nir.CubaLIF(tau_syn=per_neuron(tau_syn), tau_mem=tau, r=rest[0], v_leak=rest[1],
                                      v_threshold=thr, v_reset=np.zeros(shape),
                                      w_in=per_neuron(_solve_exactly(tau_syn / dt, lambda w: dt * w / tau_syn, 1.0)),
                                      metadata=meta)
        return name, name
    tau, rest = membrane_node(p.leak)
    membrane = f"{name}.membrane" if kind in ("lif_subtract", "lif_none") else name
    if tau is None:
        nodes[membrane] = nir.I(r=rest, metadata=meta)
    else:
        nodes[membrane] = nir.LI(tau=tau, r=rest[0], v_leak=rest[1], metadata=meta)
    if kind == "li":
        return name, name
    nodes[name] = nir.Threshold(threshold=per_neuron(p.threshold))
    edges.append((membrane, name))
    if kind == "lif_subtract":
        nodes[f"{name}.reset"] = nir.Scale(scale=-per_neuron(p.threshold))
        edges += [(name, f"{name}.reset"), (f"{name}.reset", membrane)]
    return membrane, name


def _array(x, dtype=None):
    return np.asarray(x) if dtype is None else np.asarray(x, dtype)


def export(network, dt=None, *, weight_metadata: dict | None = None, metadata: dict | None = None,
           initial_membrane: float = 0.5, readout: str = "membrane", type_check: bool = True):
    r"""Export a probsnn network as a ``nir.NIRGraph`` (write it with ``nir.write(path, graph)``).

    Parameters
    ----------
    network : NIRNetwork, sequence of layers (see :func:`network_from_layers`) or RateSNN
        A rate-converted network goes through :func:`network_from_rate_snn` (``initial_membrane``, ``readout``).
        Few-spike networks are refused (their neurons have per-step thresholds and resets, and the layers run
        one after the other, :math:`K` steps each; NIR has no such node).
    dt : float
        Bin width :math:`\Delta t` (> 0), in the time unit of the time constants; recorded as
        ``graph.metadata["dt"]``. Defaults to ``network.dt``.
    weight_metadata : dict, optional
        Recorded in the metadata of every weight node (Affine/Linear/Conv), e.g. :func:`crossbar_metadata`
        for weights realised on emulated hardware.
    metadata : dict, optional
        Extra graph metadata.

    Returns
    -------
    nir.NIRGraph. Neurons map as in the module docstring: LIF reset to zero -> ``LIF`` (``IF`` when
    :math:`\alpha = 1`), :func:`cuba_lif_neuron` -> ``CubaLIF``, :func:`li_neuron` -> ``LI`` (``I``), reset by
    subtraction -> LI/I + Threshold + Scale feedback cycle, ``reset="none"`` -> LI/I + Threshold. Dense weights
    become ``Linear`` (``Affine`` with a bias), transposed to NIR's ``(out, in)``.
    """
    nir = _nir()
    if isinstance(network, FSNetwork):
        raise ValueError("few-spike networks cannot be exported to NIR: FS neurons have per-step thresholds, resets "
                         "and output weights over K steps, run layer after layer, which no NIR node expresses. Export "
                         "the rate-converted network (convert_rate) or a trained LIF network instead.")
    if isinstance(network, RateSNN):
        network = network_from_rate_snn(network, initial_membrane, readout, dt)
    elif not isinstance(network, NIRNetwork):
        network = network_from_layers(network, dt=dt)
    dt = network.dt if dt is None else dt
    if dt is None:
        raise ValueError("dt (the bin width, > 0) is needed to turn the discrete leaks into NIR time constants.")
    dt = positive_scalar("dt", dt)
    weight_meta = dict(weight_metadata or {})
    nodes, edges, entry, exit_ = {}, [], {}, {}
    for name, node in network.nodes.items():
        meta = {}
        if isinstance(node, Input):
            nodes[name] = nir.Input(input_type=np.array(node.shape))
        elif isinstance(node, Output):
            nodes[name] = nir.Output(output_type=np.array(node.shape))
        elif isinstance(node, Affine):
            weight = _array(node.weights).T.copy()
            if node.bias is None:
                nodes[name] = nir.Linear(weight=weight, metadata=dict(weight_meta))
            else:
                nodes[name] = nir.Affine(weight=weight, bias=_array(node.bias), metadata=dict(weight_meta))
        elif isinstance(node, Conv):
            weights = _array(node.weights)
            bias = np.zeros(weights.shape[0], weights.dtype) if node.bias is None else _array(node.bias)
            padding = node.padding if isinstance(node.padding, str) else tuple(int(p) for p in node.padding)
            if weights.ndim == 3:
                nodes[name] = nir.Conv1d(input_shape=int(node.input_shape[0]), weight=weights,
                                         stride=int(node.stride[0]),
                                         padding=padding if isinstance(padding, str) else padding[0],
                                         dilation=int(node.dilation[0]), groups=int(node.groups), bias=bias,
                                         metadata=dict(weight_meta))
            else:
                nodes[name] = nir.Conv2d(input_shape=tuple(int(s) for s in node.input_shape), weight=weights,
                                         stride=tuple(node.stride), padding=padding, dilation=tuple(node.dilation),
                                         groups=int(node.groups), bias=bias, metadata=dict(weight_meta))
        elif isinstance(node, Pool):
            cls = nir.SumPool2d if node.kind == "sum" else nir.AvgPool2d
            nodes[name] = cls(kernel_size=np.array(node.kernel_size), stride=np.array(node.stride),
                              padding=np.array(node.padding))
        elif isinstance(node, Flatten):
            nodes[name] = nir.Flatten(input_type={"input": np.array(node.input_shape)}, start_dim=node.start_dim,
                                      end_dim=node.end_dim)
        elif isinstance(node, Scale):
            nodes[name] = nir.Scale(scale=_np64(node.scale))
        elif isinstance(node, Threshold):
            nodes[name] = nir.Threshold(threshold=_np64(node.threshold))
        elif isinstance(node, Neurons):
            entry[name], exit_[name] = _neurons_to_nir(nir, name, node, dt, nodes, edges, meta)
            continue
        else:
            raise ValueError(f"node {name!r} of type {type(node).__name__} has no NIR counterpart.")
        entry[name] = exit_[name] = name
    edges += [(exit_[a], entry[b]) for a, b in network.edges]
    floats = [leaf for node in network.nodes.values() if not isinstance(node, (Input, Output))
              for leaf in jax.tree_util.tree_leaves(node.params if isinstance(node, Neurons) else node)
              if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating)]
    graph_meta = {"dt": dt, "time_discretisation": "forward_euler", "source": "probsnn",
                  "probsnn.dtype": str(jnp.result_type(*floats)) if floats else str(jnp.result_type(float))}
    graph_meta.update({k: v for k, v in (network.metadata or {}).items() if k != "dt"})
    graph_meta.update(metadata or {})
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph_meta, type_check=type_check)


# ------------------------------------------------------------------------------------------ load
def _scalar(value):
    value = np.asarray(value)
    return value.item() if value.size == 1 else value


def _tuple(value, n):
    value = np.atleast_1d(np.asarray(value, int))
    return tuple(int(v) for v in (np.broadcast_to(value, (n,)) if value.size == 1 else value))


def _vec(x, n):
    """A NIR parameter (scalar, ``(n,)`` or the neurons' shape) as a flat float64 vector ``(n,)``."""
    x = _np64(x)
    return np.broadcast_to(x.reshape(-1) if x.size > 1 else x, (n,))


def _input_scale_and_bias(scale, bias, n, dtype):
    """Float64 current scale and bias as ``dtype`` arrays; None where they are exactly 1 and 0 in ``dtype``."""
    scale, bias = np.asarray(_vec(scale, n), dtype), np.asarray(_vec(bias, n), dtype)
    return (None if np.all(scale == 1) else jnp.asarray(scale)), (None if np.all(bias == 0) else jnp.asarray(bias))


def _neuron_shape(*params):
    shapes = {np.shape(p) for p in params if np.size(p) > 1}
    if len(shapes) > 1:
        raise ValueError(f"neuron parameters of different shapes {sorted(shapes)}.")
    return tuple(int(s) for s in (shapes.pop() if shapes else np.shape(params[0]) or (1,)))


def _check_reset(name, node, v_reset):
    if np.any(_np64(v_reset) != 0):
        raise ValueError(f"NIR node {name!r} ({type(node).__name__}) resets to v_reset != 0; probsnn neurons reset "
                         "to 0. Shift the potentials (v_leak - v_reset, v_threshold - v_reset) before loading.")


def _node_from_nir(nir, name, node, dt, dtype):
    if isinstance(node, nir.Input):
        return Input(tuple(int(s) for s in np.atleast_1d(node.input_type["input"])))
    if isinstance(node, nir.Output):
        return Output(tuple(int(s) for s in np.atleast_1d(node.output_type["output"])))
    if isinstance(node, nir.Affine):
        return Affine(jnp.asarray(np.asarray(node.weight).T, dtype), jnp.asarray(node.bias, dtype))
    if isinstance(node, nir.Linear):
        return Affine(jnp.asarray(np.asarray(node.weight).T, dtype))
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        weights = np.asarray(node.weight)
        nd = weights.ndim - 2
        padding = _scalar(node.padding)
        padding = padding.decode() if isinstance(padding, bytes) else padding
        padding = padding if isinstance(padding, str) else _tuple(padding, nd)
        input_shape = () if node.input_shape is None else _tuple(node.input_shape, nd)
        return Conv(jnp.asarray(weights, dtype), jnp.asarray(node.bias, dtype), _tuple(node.stride, nd), padding,
                    _tuple(node.dilation, nd), int(_scalar(node.groups)), input_shape)
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        return Pool("sum" if isinstance(node, nir.SumPool2d) else "avg", _tuple(node.kernel_size, 2),
                    _tuple(node.stride, 2), _tuple(node.padding, 2))
    if isinstance(node, nir.Flatten):
        shape = node.input_type["input"]
        if shape is None:
            raise ValueError(f"NIR Flatten node {name!r} has no input_type; read the graph with type_check=True (the "
                             "default of nir.read) so that NIR infers it.")
        return Flatten(tuple(int(s) for s in shape), int(node.start_dim), int(node.end_dim))
    if isinstance(node, nir.Scale):
        return Scale(jnp.asarray(node.scale, dtype))
    if isinstance(node, nir.Threshold):
        return Threshold(jnp.asarray(node.threshold, dtype))
    if isinstance(node, (nir.LIF, nir.LI, nir.CubaLIF)):
        tau = node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau
        shape = _neuron_shape(tau, node.r, node.v_leak)
        n = int(np.prod(shape))
        tau = _vec(tau, n)
        if np.any(~(tau > dt)):
            raise ValueError(f"NIR node {name!r}: forward Euler with dt = {dt} needs tau > dt (leak 1 - dt/tau in "
                             f"(0, 1)); got min tau {tau.min()}. Load with a smaller dt.")
        leak = jnp.asarray(1.0 - dt / tau, dtype)
        scale = dt * _vec(node.r, n) / tau
        bias = dt * _vec(node.v_leak, n) / tau
        if isinstance(node, nir.LI):
            return Neurons(li_neuron(), LIParams(leak), shape, *_input_scale_and_bias(scale, bias, n, dtype))
        _check_reset(name, node, node.v_reset)
        threshold = jnp.asarray(_vec(node.v_threshold, n), dtype)
        if isinstance(node, nir.LIF):
            return Neurons(lif_neuron(reset="zero"), LIFParams(leak, threshold), shape,
                           *_input_scale_and_bias(scale, bias, n, dtype))
        tau_syn, w_in = _vec(node.tau_syn, n), _vec(node.w_in, n)
        if np.any(~(tau_syn > dt)):
            raise ValueError(f"NIR node {name!r}: forward Euler with dt = {dt} needs tau_syn > dt; got min tau_syn "
                             f"{tau_syn.min()}. Load with a smaller dt.")
        synaptic_decay = jnp.asarray(1.0 - dt / tau_syn, dtype)
        # the synaptic current is I_t = a_syn I_{t-1} + (dt w_in / tau_syn) x_t and enters v with dt R / tau_mem:
        # both input scales multiply the input; v_leak enters the membrane, i.e. the current after the synapse
        if np.any(bias != 0):
            raise ValueError(f"NIR node {name!r}: CubaLIF with v_leak != 0 is not supported (probsnn's CubaLIF has no "
                             "membrane bias).")
        return Neurons(cuba_lif_neuron(), CubaLIFParams(synaptic_decay, leak, threshold), shape,
                       *_input_scale_and_bias(scale * dt * w_in / tau_syn, 0.0, n, dtype))
    if isinstance(node, (nir.IF, nir.I)):
        shape = _neuron_shape(node.r)
        n = int(np.prod(shape))
        scale = dt * _vec(node.r, n)
        ones = jnp.ones((n,), dtype)
        if isinstance(node, nir.I):
            return Neurons(li_neuron(), LIParams(ones), shape, *_input_scale_and_bias(scale, 0.0, n, dtype))
        _check_reset(name, node, node.v_reset)
        return Neurons(lif_neuron(reset="zero"), LIFParams(ones, jnp.asarray(_vec(node.v_threshold, n), dtype)), shape,
                       *_input_scale_and_bias(scale, 0.0, n, dtype))
    raise ValueError(f"NIR node {name!r} of type {type(node).__name__} is not supported by probsnn.nir; supported: "
                     "Input, Output, Affine, Linear, Scale, Threshold, Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten, "
                     "LI, I, LIF, IF, CubaLIF.")


def _fuse_spiking(nodes: dict, edges: list) -> None:
    """Replace the LI/I -> Threshold (+ Scale -thr feedback) subgraphs by probsnn LIF neurons, in place."""
    for name in [k for k, v in nodes.items() if isinstance(v, Threshold)]:
        preds = [a for a, b in edges if b == name]
        if len(preds) != 1 or not isinstance(nodes[preds[0]], Neurons) or nodes[preds[0]].neuron.name != "LI":
            continue
        membrane = preds[0]
        if [b for a, b in edges if a == membrane] != [name]:
            continue
        integrator, threshold = nodes[membrane], nodes[name].threshold
        if tuple(np.shape(threshold)) != tuple(integrator.shape):
            continue
        feedback = [a for a, b in edges if b == membrane and isinstance(nodes[a], Scale)
                    and [x for x, y in edges if y == a] == [name] and [y for x, y in edges if x == a] == [membrane]]
        reset = "none"
        if feedback:
            scale = np.asarray(nodes[feedback[0]].scale)
            if np.shape(scale) != np.shape(threshold) or not np.array_equal(scale, -np.asarray(threshold)):
                continue
            reset = "subtract"
        params = LIFParams(integrator.params.leak, jnp.reshape(threshold, (-1,)))
        nodes[name] = Neurons(lif_neuron(reset=reset), params, integrator.shape, integrator.input_scale,
                              integrator.bias)
        drop = {membrane, *feedback}
        rewired = []
        for a, b in edges:
            if a in drop and b in drop | {name} or (a == name and b in drop):
                continue
            rewired.append((name if a in drop else a, name if b in drop else b))
        edges[:] = rewired
        for k in drop:
            del nodes[k]


def _inline_subgraphs(nir, graph, prefix=""):
    """The nodes and edges of ``graph`` with every nested ``NIRGraph`` inlined (names ``"outer.inner"``); the
    Input/Output nodes of a subgraph become pass-through nodes (as snnTorch exports ``RLeaky``/``RSynaptic``)."""
    nodes, edges = {}, []
    inner_inputs, inner_outputs = {}, {}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _inline_subgraphs(nir, node, f"{prefix}{name}.")
            for sub_name, sub in node.nodes.items():
                full = f"{prefix}{name}.{sub_name}"
                if isinstance(sub, nir.Input):
                    sub_nodes[full] = nir.Output(output_type=sub.input_type["input"])
                    inner_inputs.setdefault(name, []).append(full)
                elif isinstance(sub, nir.Output):
                    inner_outputs.setdefault(name, []).append(full)
            nodes.update(sub_nodes)
            edges += sub_edges
        else:
            nodes[prefix + name] = node
    for a, b in graph.edges:
        sources = inner_outputs.get(a, [prefix + a])
        targets = inner_inputs.get(b, [prefix + b])
        if len(sources) != 1 or len(targets) != 1:
            raise ValueError(f"the edge ({a!r}, {b!r}) joins a nested graph with several inputs or outputs; "
                             "flatten it before loading.")
        edges.append((sources[0], targets[0]))
    return nodes, edges


def load(graph_or_path, dt=None, dtype=None, temperature=None, key=None) -> NIRNetwork:
    r"""Load a NIR graph (a ``nir.NIRGraph`` or a file written by ``nir.write``) as an :class:`NIRNetwork`.

    Parameters
    ----------
    graph_or_path : nir.NIRGraph or path
    dt : float, optional
        Bin width of the discretisation; defaults to ``graph.metadata["dt"]`` (written by :func:`export`).
    dtype : optional
        Floating dtype of the parameters; default ``graph.metadata["probsnn.dtype"]`` (the dtype of the exported
        network), else JAX's default float.
    temperature, key : optional
        Give both to load the stochastic GLM limit (:func:`with_escape_noise`): spiking neurons fire with
        probability :math:`\sigma((v_t - \vartheta)/T)`.

    Returns
    -------
    NIRNetwork, run with :func:`run`. Neuron nodes become probsnn neurons (forward Euler, module docstring):
    ``LIF``/``IF`` -> ``lif_neuron(reset="zero")``, ``LI``/``I`` -> :func:`li_neuron`, ``CubaLIF`` ->
    :func:`cuba_lif_neuron`, LI/I -> Threshold (-> Scale :math:`-\vartheta` back) -> probsnn LIF with
    ``reset="none"`` (``"subtract"``). Nested graphs are inlined (names ``"outer.inner"``); :math:`v_\text{reset}
    \neq 0` is refused.
    """
    nir = _nir()
    graph = graph_or_path if isinstance(graph_or_path, nir.NIRGraph) else nir.read(str(graph_or_path))
    meta = dict(graph.metadata or {})
    if dt is None:
        if "dt" not in meta:
            raise ValueError("the graph has no metadata['dt']; pass dt, the bin width of the forward-Euler steps.")
        dt = float(np.asarray(meta["dt"]))
    dt = positive_scalar("dt", dt)
    if dtype is None:
        stored = meta.get("probsnn.dtype")
        dtype = jnp.dtype(stored.decode() if isinstance(stored, bytes) else stored) if stored is not None \
            else jnp.result_type(float)
    flat_nodes, edges = _inline_subgraphs(nir, graph)
    nodes = {name: _node_from_nir(nir, name, node, dt, dtype) for name, node in flat_nodes.items()}
    _fuse_spiking(nodes, edges)
    meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in meta.items()}
    network = NIRNetwork(nodes, tuple(edges), dt, meta)
    if temperature is None and key is None:
        return network
    if temperature is None or key is None:
        raise ValueError("the stochastic limit needs both temperature (> 0) and key (a JAX PRNG key).")
    return with_escape_noise(network, temperature, key)


# ------------------------------------------------------------------------------------------ escape noise
class EscapeNoiseState(NamedTuple):
    """State of a neuron with escape noise: the deterministic neuron's ``inner`` state and the PRNG ``key``."""

    membrane: Any
    spikes: Any
    inner: Any
    key: Any


def _escape_noise_neuron(neuron: Neuron, temperature: float, key) -> Neuron:
    spiking_kinds = {"LIF(reset=zero)": "zero", "LIF(reset=subtract)": "subtract", "LIF(reset=none)": "none"}

    def step(params, state, current):
        key, sub = jax.random.split(state.key)
        uniform = jax.random.uniform(sub, jnp.shape(current), jnp.result_type(current))

        def spike_fn(x):
            return (uniform < jax.nn.sigmoid(x / temperature)).astype(x.dtype)

        if neuron.name == "CubaLIF":
            synaptic = params.synaptic_decay * state.inner.synaptic + current
            membrane = params.leak * state.inner.membrane * (1.0 - state.inner.spikes) + synaptic
            spikes = spike_fn(membrane - params.threshold)
            inner = CubaLIFState(synaptic, membrane, spikes)
        else:
            inner, spikes = lif_step(params, state.inner, current, spike_fn=spike_fn, reset=spiking_kinds[neuron.name])
        return EscapeNoiseState(inner.membrane, inner.spikes, inner, key), spikes

    def initial_state(params, batch_shape=()):
        inner = neuron.initial_state(params, batch_shape)
        return EscapeNoiseState(inner.membrane, inner.spikes, inner, key)

    return Neuron(f"{neuron.name}+escape(T={temperature:g})", step, initial_state, neuron.check_params, True)


def with_escape_noise(network: NIRNetwork, temperature, key) -> NIRNetwork:
    r"""The network with every spiking neuron made stochastic: the GLM limit of probsnn's LIF at temperature :math:`T`.

    Each LIF/IF/CubaLIF neuron keeps its membrane recursion and reset but spikes with escape noise,

    .. math::

        P(s_t = 1 \mid v_t) = \sigmaigl((v_t - artheta)/Tigr),

    a Bernoulli GLM neuron whose potential is the LIF membrane (Gerstner et al., *Neuronal Dynamics* 2014, ch. 9;
    :mod:`probsnn.neurons.lif`); :math:`T 	o 0` gives the deterministic network back. ``key``: a JAX PRNG key
    (each neuron node folds in its index); the run is then a pure function of the key. Threshold nodes that are
    not part of a fused LIF stay deterministic.
    """
    if not isinstance(network, NIRNetwork):
        raise ValueError(f"network must be an NIRNetwork, got {type(network).__name__}.")
    temperature = positive_scalar("temperature", temperature)
    nodes = {}
    for i, (name, node) in enumerate(network.nodes.items()):
        if isinstance(node, Neurons) and node.neuron.name != "LI":
            _neuron_kind(node.neuron)
            node = node._replace(neuron=_escape_noise_neuron(node.neuron, temperature, jax.random.fold_in(key, i)))
        nodes[name] = node
    return network._replace(nodes=nodes)


# ------------------------------------------------------------------------------------------ run
def _lead(x, nd):
    return x.shape[:x.ndim - nd]


def _apply_stateless(node, x):
    """A stateless node on ``x`` ``[*lead, *shape]`` (any leading axes)."""
    if isinstance(node, (Input, Output)):
        return x
    if isinstance(node, Affine):
        y = jnp.matmul(x, node.weights)
        return y if node.bias is None else y + node.bias
    if isinstance(node, Conv):
        nd = np.ndim(node.weights) - 2
        lead = _lead(x, nd + 1)
        flat = x.reshape((-1,) + x.shape[len(lead):])
        padding = node.padding.upper() if isinstance(node.padding, str) else [(p, p) for p in node.padding]
        spatial = "HW"[:nd] if nd == 2 else "H"
        y = jax.lax.conv_general_dilated(flat, node.weights.astype(x.dtype), node.stride, padding,
                                         rhs_dilation=node.dilation, feature_group_count=node.groups,
                                         dimension_numbers=(f"NC{spatial}", f"OI{spatial}", f"NC{spatial}"))
        if node.bias is not None:
            y = y + node.bias.reshape((-1,) + (1,) * nd)
        return y.reshape(lead + y.shape[1:])
    if isinstance(node, Pool):
        lead = _lead(x, 3)
        window = (1,) * (len(lead) + 1) + tuple(node.kernel_size)
        strides = (1,) * (len(lead) + 1) + tuple(node.stride)
        pads = ((0, 0),) * (len(lead) + 1) + tuple((p, p) for p in node.padding)
        y = jax.lax.reduce_window(x, jnp.zeros((), x.dtype), jax.lax.add, window, strides, pads)
        return y / np.prod(node.kernel_size).astype(x.dtype) if node.kind == "avg" else y
    if isinstance(node, Flatten):
        nd = len(node.input_shape)
        lead = _lead(x, nd)
        return x.reshape(lead + _output_shape(node, x.shape[len(lead):]))
    if isinstance(node, Scale):
        return x * node.scale
    if isinstance(node, Threshold):
        return (x > node.threshold).astype(x.dtype)
    raise ValueError(f"cannot run node of type {type(node).__name__}.")


def _neuron_current(node: Neurons, x):
    current = x.reshape(x.shape[:x.ndim - len(node.shape)] + (-1,))
    if node.input_scale is not None:
        current = current * node.input_scale
    if node.bias is not None:
        current = current + node.bias
    return current


def _neuron_output(node: Neurons, states, lead):
    out = states.membrane if node.neuron.name == "LI" else states.spikes
    return out.reshape(lead + tuple(node.shape))


def _run_neurons(node: Neurons, x):
    """Whole-sequence run of a neuron node on ``x`` ``[T, B, *shape]``: the neuron's fused scan or lax.scan."""
    currents = _neuron_current(node, x)
    initial = node.neuron.initial_state(node.params, currents.shape[1:-1])
    if node.neuron.scan is not None:
        states = node.neuron.scan(node.params, currents, initial, 1)
    else:
        def body(state, current):
            state, _ = node.neuron.step(node.params, state, current)
            return state, state

        _, states = jax.lax.scan(body, initial, currents)
    return _neuron_output(node, states, x.shape[:x.ndim - len(node.shape)]), states


def _components(names, edges):
    """Strongly connected components in topological order, each with its members in evaluation order."""
    index = {n: i for i, n in enumerate(names)}
    rows = [index[a] for a, _ in edges]
    cols = [index[b] for _, b in edges]
    adjacency = csr_matrix((np.ones(len(edges)), (rows, cols)), shape=(len(names), len(names)))
    _, labels = connected_components(adjacency, directed=True, connection="strong")
    sorter = graphlib.TopologicalSorter({int(lab): set() for lab in labels})
    for a, b in edges:
        if labels[index[a]] != labels[index[b]]:
            sorter.add(int(labels[index[b]]), int(labels[index[a]]))
    groups = []
    for lab in sorter.static_order():
        members = [n for n in names if labels[index[n]] == lab]
        internal = [(a, b) for a, b in edges if a in members and b in members]
        if len(members) > 1 or internal:
            # depth-first from the members fed from outside the component (edge order), so that the edges closing
            # a cycle point backwards and carry the one-step delay
            fed = [b for a, b in edges if b in members and a not in members]
            order = []
            for start in fed + members:
                stack = [start]
                while stack:
                    n = stack.pop()
                    if n in order:
                        continue
                    order.append(n)
                    stack.extend(reversed([b for a, b in internal if a == n and b not in order]))
            members = order
        groups.append((members, internal))
    return groups


def _check_run_inputs(network, inputs):
    names = [k for k, v in network.nodes.items() if isinstance(v, Input)]
    if not isinstance(inputs, dict):
        if len(names) != 1:
            raise ValueError(f"the network has inputs {names}; pass a dict of input name -> array.")
        inputs = {names[0]: inputs}
    if set(inputs) != set(names):
        raise ValueError(f"inputs must be given for exactly the input nodes {names}, got {sorted(inputs)}.")
    checked = {}
    for name, x in inputs.items():
        shape = tuple(network.nodes[name].shape)
        if np.ndim(x) != len(shape) + 2 or tuple(np.shape(x)[2:]) != shape or np.shape(x)[0] < 1:
            raise ValueError(f"input {name!r} must be time-major [T, batch, {', '.join(map(str, shape))}] with T >= 1, "
                             f"got shape {np.shape(x)}.")
        check_finite_entries(f"input {name!r}", x)
        checked[name] = jnp.asarray(x)
    return checked


def run(network: NIRNetwork, inputs, return_states: bool = False):
    """Run an :class:`NIRNetwork` over time-major ``inputs`` ``[T, batch, *shape]`` (a dict for several inputs).

    Returns a dict node name -> output ``[T, batch, *shape]`` (spikes of spiking neurons, membranes of leaky
    integrators, values of the other nodes); with ``return_states`` also a dict of the stacked neuron states.
    Nodes outside cycles run bin-parallel (as :func:`~probsnn.neurons.layers.feedforward_layer`); the nodes of a
    cycle share one ``lax.scan`` over time, where an edge closing the cycle delivers the previous step's value.
    """
    if not isinstance(network, NIRNetwork):
        raise ValueError(f"network must be an NIRNetwork (from load or network_from_layers), got "
                         f"{type(network).__name__}.")
    inputs = _check_run_inputs(network, inputs)
    names = list(network.nodes)
    edges = list(network.edges)
    outputs, states = dict(inputs), {}

    def summed(name, available):
        terms = [available[a] for a, b in edges if b == name and a in available]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total

    for members, internal in _components(names, edges):
        if len(members) == 1 and not internal:
            name = members[0]
            node = network.nodes[name]
            if isinstance(node, Input):
                continue
            x = summed(name, outputs)
            if isinstance(node, Neurons):
                outputs[name], states[name] = _run_neurons(node, x)
            else:
                outputs[name] = _apply_stateless(node, x)
            continue
        outputs.update(_run_cycle(network, members, internal, edges, outputs, states))
    return (outputs, states) if return_states else outputs


def _run_cycle(network, members, internal, edges, outputs, states):
    """One ``lax.scan`` over time for the nodes of a cycle; the backward edges deliver the previous step."""
    position = {n: i for i, n in enumerate(members)}
    external = {}
    for name in members:
        terms = [outputs[a] for a, b in edges if b == name and a not in position]
        if terms:
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            external[name] = total
    some = next(iter(external.values()))
    batch = some.shape[1:2]
    parameters = [leaf for n in members for leaf in jax.tree_util.tree_leaves(
        network.nodes[n].params if isinstance(network.nodes[n], Neurons) else network.nodes[n])
        if hasattr(leaf, "dtype")]
    dtype = jnp.result_type(*external.values(), *parameters)
    shapes = {}
    for name in members:
        node = network.nodes[name]
        shapes[name] = tuple(node.shape) if isinstance(node, (Neurons, Output)) else None
    # output shapes of stateless members from their external input or their node parameters
    for name in members:
        if shapes[name] is None:
            node = network.nodes[name]
            if isinstance(node, Affine):
                shapes[name] = (np.shape(node.weights)[1],)
            elif isinstance(node, (Scale, Threshold)):
                shapes[name] = tuple(np.shape(node[0]))
            else:
                raise ValueError(f"node {name!r} ({type(node).__name__}) inside a cycle is not supported; cycles "
                                 "may hold neurons, Affine/Linear, Scale and Threshold nodes.")
    initial_out = {n: jnp.zeros(batch + shapes[n], dtype) for n in members}

    def cast_floats(a):  # PRNG keys of stochastic neurons keep their dtype
        return a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    initial_states = {n: jax.tree_util.tree_map(cast_floats, network.nodes[n].neuron.initial_state(
        network.nodes[n].params, batch)) for n in members if isinstance(network.nodes[n], Neurons)}

    def body(carry, ext_t):
        previous, neuron_states = carry
        current, new_states = {}, {}
        for name in members:
            node = network.nodes[name]
            terms = [ext_t[name]] if name in ext_t else []
            for a, b in internal:
                if b == name:
                    terms.append(current[a] if position[a] < position[name] else previous[a])
            x = terms[0]
            for term in terms[1:]:
                x = x + term
            if isinstance(node, Neurons):
                state, _ = node.neuron.step(node.params, neuron_states[name], _neuron_current(node, x))
                new_states[name] = state
                current[name] = _neuron_output(node, state, batch)
            else:
                current[name] = _apply_stateless(node, x)
        return (current, new_states), (current, new_states)

    _, (outs, stacked) = jax.lax.scan(body, (initial_out, initial_states), external)
    states.update(stacked)
    return outs
