r"""Analog networks for conversion: a framework-neutral layer list, its forward pass, and Optax training.

An analog network (ANN) is a Python sequence of layers, applied left to right to a batch ``x``
(``[B, n]`` for dense inputs, ``[B, H, W, C]`` for images, NHWC):

============  =====================================================================================
layer         computation
============  =====================================================================================
``Dense``     :math:`a = f(x W + b)`, ``weights`` ``(n_in, n_out)``, ``bias`` ``(n_out,)``
``Conv2D``    :math:`a = f(x \star K + b)`, ``kernel`` ``(kh, kw, c_in, c_out)`` (HWIO), stride, padding
``AvgPool2D`` mean over non-overlapping ``size x size`` windows
``MaxPool2D`` max over non-overlapping ``size x size`` windows
``Flatten``   ``[B, H, W, C] -> [B, H*W*C]``
============  =====================================================================================

with activation :math:`f` one of ``"relu"`` :math:`\max(0,u)`, ``"leaky_relu"``
:math:`\max(0,u) + \alpha\min(0,u)`, ``"silu"`` :math:`u\,\sigma(u)` (Elfwing et al. 2018; Swish),
``"sigmoid"`` :math:`\sigma(u)` or ``"linear"`` (the output logits). A network trained in any framework
is imported with :func:`layers_from_arrays` from plain arrays (e.g. PyTorch ``Linear.weight.T``);
anything else (batch-norm, softmax, tanh, GELU, overlapping pools, ...) is refused with a message that
says how to rewrite it, never approximated silently.

Layers are JAX pytrees (``jax.tree_util.register_dataclass``): the arrays are leaves and the
activation/stride/padding are static, so ``jax.grad`` and Optax work on a layer list directly.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import concrete, finite_array, positive_int

__all__ = [
    "ACTIVATIONS",
    "Dense",
    "Conv2D",
    "AvgPool2D",
    "MaxPool2D",
    "Flatten",
    "activate",
    "check_network",
    "layer_linear",
    "ann_forward",
    "ann_activations",
    "ann_accuracy",
    "layers_from_arrays",
    "init_mlp",
    "init_cnn",
    "fit_classifier",
    "count_macs",
]

ACTIVATIONS = ("relu", "leaky_relu", "silu", "sigmoid", "linear")


def _register(cls, data, meta):
    return jax.tree_util.register_dataclass(dataclasses.dataclass(frozen=True)(cls), data_fields=data, meta_fields=meta)


class Dense:
    """Fully connected layer :math:`f(xW + b)`; ``weights`` ``(n_in, n_out)``, ``bias`` ``(n_out,)``."""

    weights: Any
    bias: Any
    activation: str = "relu"
    negative_slope: float = 0.01


class Conv2D:
    """2-D convolution (NHWC input, HWIO ``kernel``), :math:`f(x \\star K + b)`; ``padding`` "SAME"/"VALID"."""

    kernel: Any
    bias: Any
    activation: str = "relu"
    stride: int = 1
    padding: str = "SAME"
    negative_slope: float = 0.01


class AvgPool2D:
    """Average over non-overlapping ``size x size`` windows (NHWC)."""

    size: int = 2


class MaxPool2D:
    """Maximum over non-overlapping ``size x size`` windows (NHWC)."""

    size: int = 2


class Flatten:
    """``[B, H, W, C] -> [B, H*W*C]`` (row-major, like ``numpy.reshape``)."""


Dense = _register(Dense, ["weights", "bias"], ["activation", "negative_slope"])
Conv2D = _register(Conv2D, ["kernel", "bias"], ["activation", "stride", "padding", "negative_slope"])
AvgPool2D = _register(AvgPool2D, [], ["size"])
MaxPool2D = _register(MaxPool2D, [], ["size"])
Flatten = _register(Flatten, [], [])

PARAMETRIC = (Dense, Conv2D)
LAYER_TYPES = (Dense, Conv2D, AvgPool2D, MaxPool2D, Flatten)


def activate(name: str, u, negative_slope: float = 0.01):
    """Apply activation ``name`` (one of :data:`ACTIVATIONS`) to ``u``."""
    if name == "relu":
        return jnp.maximum(u, 0.0)
    if name == "leaky_relu":
        return jnp.where(u > 0, u, negative_slope * u)
    if name == "silu":
        return u * jax.nn.sigmoid(u)
    if name == "sigmoid":
        return jax.nn.sigmoid(u)
    if name == "linear":
        return u
    raise ValueError(f"unknown activation {name!r}; supported: {ACTIVATIONS}.")


# ----------------------------------------------------------------------------------------- validation
_REFUSED_HINTS = {
    "softmax": "drop the final softmax (argmax and cross-entropy logits are unchanged) and use 'linear'",
    "tanh": "tanh is not convertible here; retrain with 'silu' or 'sigmoid' (few-spike) or 'relu' (rate)",
    "gelu": "GELU is not convertible here; retrain with 'silu' (close to GELU) and use few-spike conversion",
    "elu": "ELU is not convertible here; retrain with 'leaky_relu' or 'silu'",
}


def _check_activation(index: int, name) -> None:
    if name not in ACTIVATIONS:
        hint = _REFUSED_HINTS.get(str(name).lower(), f"supported activations are {ACTIVATIONS}")
        raise ValueError(f"layer {index}: activation {name!r} cannot be converted; {hint}.")


def check_network(layers: Sequence, input_shape: Sequence[int]) -> list[tuple[int, ...]]:
    """Validate a layer list for inputs of per-sample shape ``input_shape``; returns per-layer output shapes.

    Raises ``ValueError`` naming the offending layer for: unknown layer types, unsupported activations,
    mismatched shapes, non-finite parameters, overlapping/uneven pools and a non-linear last layer output
    that is not ``"linear"``/``"relu"``.
    """
    if isinstance(layers, LAYER_TYPES) or len(layers) == 0:
        raise ValueError("layers must be a non-empty sequence of Dense/Conv2D/AvgPool2D/MaxPool2D/Flatten layers.")
    shape = tuple(int(s) for s in input_shape)
    shapes = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, LAYER_TYPES):
            name = type(layer).__name__
            hint = (
                "fold batch-normalisation into the preceding layer's weights and bias first"
                if "norm" in name.lower()
                else "supported layers are Dense, Conv2D, AvgPool2D, MaxPool2D and Flatten"
            )
            raise ValueError(f"layer {i} of type {name} cannot be converted; {hint}.")
        if isinstance(layer, Dense):
            _check_activation(i, layer.activation)
            w, b = np.shape(layer.weights), np.shape(layer.bias)
            if len(shape) != 1:
                raise ValueError(f"layer {i} (Dense) receives inputs of shape {shape}; insert Flatten() before it.")
            if len(w) != 2 or w[0] != shape[0] or b != (w[1],):
                raise ValueError(
                    f"layer {i} (Dense): weights {w} and bias {b} do not fit inputs of size {shape[0]}; "
                    f"expected weights ({shape[0]}, n_out) and bias (n_out,)."
                )
            shape = (w[1],)
        elif isinstance(layer, Conv2D):
            _check_activation(i, layer.activation)
            k, b = np.shape(layer.kernel), np.shape(layer.bias)
            if len(shape) != 3:
                raise ValueError(f"layer {i} (Conv2D) needs [H, W, C] inputs, got per-sample shape {shape}.")
            if len(k) != 4 or k[2] != shape[2] or b != (k[3],):
                raise ValueError(
                    f"layer {i} (Conv2D): kernel {k} (HWIO) and bias {b} do not fit {shape[2]} input channels."
                )
            if layer.padding not in ("SAME", "VALID") or int(layer.stride) < 1:
                raise ValueError(f"layer {i} (Conv2D): padding must be 'SAME' or 'VALID' and stride >= 1.")
            s = int(layer.stride)
            if layer.padding == "SAME":
                h, wd = math.ceil(shape[0] / s), math.ceil(shape[1] / s)
            else:
                h, wd = (shape[0] - k[0]) // s + 1, (shape[1] - k[1]) // s + 1
            if h < 1 or wd < 1:
                raise ValueError(f"layer {i} (Conv2D): kernel {k[:2]} is larger than the input {shape[:2]}.")
            shape = (h, wd, k[3])
        elif isinstance(layer, (AvgPool2D, MaxPool2D)):
            size = int(layer.size)
            if len(shape) != 3 or size < 1 or shape[0] % size or shape[1] % size:
                raise ValueError(
                    f"layer {i} ({type(layer).__name__}, size {layer.size}) needs [H, W, C] inputs with H and W "
                    f"divisible by the window (non-overlapping pools only); got {shape}."
                )
            shape = (shape[0] // size, shape[1] // size, shape[2])
        elif isinstance(layer, Flatten):
            shape = (int(np.prod(shape)),)
        for leaf in jax.tree_util.tree_leaves(layer):
            arr = concrete(leaf)
            if arr is not None and not np.all(np.isfinite(arr)):
                raise ValueError(f"layer {i} has non-finite parameters.")
        shapes.append(shape)
    last = [l for l in layers if isinstance(l, PARAMETRIC)]
    if not last:
        raise ValueError("the network has no Dense or Conv2D layer.")
    return shapes


def check_inputs(x, input_shape=None) -> np.ndarray:
    """Plain NumPy check of a batch ``x`` ``[B, ...]``: finite, at least 2-D; returns it as an array."""
    arr = finite_array("inputs", x, dtype=None)
    if arr.ndim < 2 or arr.shape[0] < 1:
        raise ValueError(f"inputs must be a batch [B, ...] with B >= 1, got shape {arr.shape}.")
    if input_shape is not None and tuple(arr.shape[1:]) != tuple(input_shape):
        raise ValueError(f"inputs have per-sample shape {arr.shape[1:]}, the network expects {tuple(input_shape)}.")
    return arr


# ----------------------------------------------------------------------------------------- forward
def layer_linear(layer, x):
    """The linear part of a layer on a batch (``[B, ...]`` or ``[T, B, ...]`` via leading axes).

    ``Dense``: :math:`xW + b`; ``Conv2D``: :math:`x \\star K + b`; pools and ``Flatten`` act on the
    last three (one) axes. Max-pooling is not linear and is handled by the callers.
    """
    if isinstance(layer, Dense):
        return x @ layer.weights + layer.bias
    if isinstance(layer, Conv2D):
        lead = x.shape[:-3]
        flat = x.reshape((-1,) + x.shape[-3:])
        s = int(layer.stride)
        out = jax.lax.conv_general_dilated(
            flat, layer.kernel, (s, s), layer.padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return (out + layer.bias).reshape(lead + out.shape[1:])
    if isinstance(layer, AvgPool2D):
        return _pool(x, int(layer.size), jnp.mean)
    if isinstance(layer, MaxPool2D):
        return _pool(x, int(layer.size), jnp.max)
    if isinstance(layer, Flatten):
        return x.reshape(x.shape[:-3] + (-1,)) if x.ndim >= 4 else x
    raise ValueError(f"cannot apply layer of type {type(layer).__name__}.")


def _pool(x, size, reduce):
    h, w, c = x.shape[-3:]
    blocks = x.reshape(x.shape[:-3] + (h // size, size, w // size, size, c))
    return reduce(blocks, axis=(-4, -2))


def ann_forward(layers: Sequence, x):
    """Analog forward pass; returns the output of the last layer (logits when it is ``"linear"``)."""
    for layer in layers:
        x = layer_linear(layer, x)
        if isinstance(layer, PARAMETRIC):
            x = activate(layer.activation, x, layer.negative_slope)
    return x


def ann_activations(layers: Sequence, x) -> list:
    """Per-layer outputs (post-activation for Dense/Conv2D) of the analog forward pass."""
    outs = []
    for layer in layers:
        x = layer_linear(layer, x)
        if isinstance(layer, PARAMETRIC):
            x = activate(layer.activation, x, layer.negative_slope)
        outs.append(x)
    return outs


def ann_accuracy(layers: Sequence, x, labels) -> float:
    """Fraction of samples whose output peaks at the integer label."""
    x = check_inputs(x)
    check_network(layers, x.shape[1:])
    logits = _jit_forward(tuple(layers), jnp.asarray(x))
    return float(np.mean(np.argmax(np.asarray(logits), axis=-1) == np.asarray(labels)))


@jax.jit
def _jit_forward(layers, x):
    return ann_forward(layers, x)


def count_macs(layers: Sequence, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one analog forward pass (Dense and Conv2D layers; pools are not counted)."""
    shapes = check_network(layers, input_shape)
    macs = 0
    for layer, out_shape in zip(layers, shapes):
        if isinstance(layer, Dense):
            macs += int(np.prod(np.shape(layer.weights)))
        elif isinstance(layer, Conv2D):
            kh, kw, cin, cout = np.shape(layer.kernel)
            macs += int(out_shape[0] * out_shape[1] * cout * kh * kw * cin)
    return macs


# ----------------------------------------------------------------------------------------- import
def layers_from_arrays(specs: Sequence[dict]) -> list:
    """Build a layer list from framework-neutral dictionaries of arrays.

    Each entry is ``{"type": "dense", "weights": (n_in, n_out), "bias": (n_out,), "activation": ...}``,
    ``{"type": "conv2d", "kernel": (kh, kw, c_in, c_out), "bias", "activation", "stride", "padding"}``,
    ``{"type": "avgpool", "size": 2}``, ``{"type": "maxpool", "size": 2}`` or ``{"type": "flatten"}``.
    Unknown types (``"batchnorm"``, ``"dropout"``, ...) are refused with a message.
    """
    layers = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or "type" not in spec:
            raise ValueError(f"layer spec {i} must be a dict with a 'type' key, got {spec!r}.")
        kind = str(spec["type"]).lower()
        extra = {k: v for k, v in spec.items() if k not in ("type",)}
        try:
            if kind == "dense":
                layers.append(
                    Dense(jnp.asarray(extra.pop("weights")), jnp.asarray(extra.pop("bias")),
                          extra.pop("activation", "relu"), float(extra.pop("negative_slope", 0.01)))
                )
            elif kind == "conv2d":
                layers.append(
                    Conv2D(jnp.asarray(extra.pop("kernel")), jnp.asarray(extra.pop("bias")),
                           extra.pop("activation", "relu"), int(extra.pop("stride", 1)),
                           str(extra.pop("padding", "SAME")).upper(), float(extra.pop("negative_slope", 0.01)))
                )
            elif kind == "avgpool":
                layers.append(AvgPool2D(int(extra.pop("size", 2))))
            elif kind == "maxpool":
                layers.append(MaxPool2D(int(extra.pop("size", 2))))
            elif kind == "flatten":
                layers.append(Flatten())
            elif kind == "dropout":
                raise ValueError(f"layer spec {i}: drop 'dropout' layers before conversion (identity at inference).")
            elif "norm" in kind:
                raise ValueError(
                    f"layer spec {i}: {kind!r} cannot be converted; "
                    "fold it into the preceding layer's weights and bias."
                )
            else:
                raise ValueError(
                    f"layer spec {i}: unknown layer type {kind!r}; supported: dense, conv2d, avgpool, maxpool, flatten."
                )
        except KeyError as err:
            raise ValueError(f"layer spec {i} ({kind}) is missing the entry {err.args[0]!r}.") from None
        if extra:
            raise ValueError(f"layer spec {i} ({kind}) has unknown entries {sorted(extra)}.")
    return layers


# ----------------------------------------------------------------------------------------- training
def init_mlp(key, sizes: Sequence[int], activation: str = "relu", dtype=None) -> list:
    """MLP ``sizes[0] -> ... -> sizes[-1]`` with He-normal weights, zero biases and a linear output."""
    _check_activation(0, activation)
    if len(sizes) < 2:
        raise ValueError(f"sizes must list >= 2 positive integers, got {sizes!r}.")
    sizes = [positive_int(f"sizes[{i}]", s) for i, s in enumerate(sizes)]
    dtype = dtype or jnp.result_type(float)
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        act = "linear" if i == len(sizes) - 2 else activation
        w = jax.random.normal(k, (n_in, n_out), dtype) * math.sqrt(2.0 / n_in)
        layers.append(Dense(w, jnp.zeros((n_out,), dtype), act))
    return layers


def init_cnn(key, input_shape, channels: int = 8, n_hidden: int = 32, n_classes: int = 10,
             activation: str = "relu", pool: str = "avg", dtype=None) -> list:
    """Small CNN: 3x3 conv (``channels``) -> 2x2 pool (``"avg"``/``"max"``) -> Flatten -> Dense(n_hidden) -> Dense."""
    _check_activation(0, activation)
    if pool not in ("avg", "max"):
        raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}.")
    h, w, c = input_shape
    dtype = dtype or jnp.result_type(float)
    k1, k2, k3 = jax.random.split(key, 3)
    kernel = jax.random.normal(k1, (3, 3, c, channels), dtype) * math.sqrt(2.0 / (9 * c))
    n_flat = (h // 2) * (w // 2) * channels
    return [
        Conv2D(kernel, jnp.zeros((channels,), dtype), activation),
        AvgPool2D(2) if pool == "avg" else MaxPool2D(2),
        Flatten(),
        Dense(jax.random.normal(k2, (n_flat, n_hidden), dtype) * math.sqrt(2.0 / n_flat),
              jnp.zeros((n_hidden,), dtype), activation),
        Dense(jax.random.normal(k3, (n_hidden, n_classes), dtype) * math.sqrt(2.0 / n_hidden),
              jnp.zeros((n_classes,), dtype), "linear"),
    ]


def fit_classifier(layers: Sequence, x, labels, n_epochs: int = 50, batch_size: int = 64,
                   learning_rate: float = 3e-3, weight_decay: float = 1e-4, seed: int = 0) -> list:
    """Train a layer list with softmax cross-entropy and Optax AdamW (mini-batches, fixed seed).

    Returns the trained layer list (same structure). Deterministic given ``seed``.
    """
    x = check_inputs(x)
    labels = np.asarray(labels)
    check_network(layers, x.shape[1:])
    if labels.shape != (x.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers of shape ({x.shape[0]},), got {labels.dtype} {labels.shape}.")
    n_epochs, batch_size = positive_int("n_epochs", n_epochs), positive_int("batch_size", batch_size)
    params = tuple(layers)
    optimizer = optax.adamw(learning_rate, weight_decay=weight_decay)
    opt_state = optimizer.init(params)

    def loss_fn(p, xb, yb):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(ann_forward(p, xb), yb))

    n = x.shape[0]
    n_batches = max(n // batch_size, 1)
    bs = min(batch_size, n)

    @jax.jit
    def epoch(carry, perm):
        def step(c, idx):
            p, s = c
            xb, yb = jnp.asarray(x)[idx], jnp.asarray(labels)[idx]
            grads = jax.grad(loss_fn)(p, xb, yb)
            updates, s = optimizer.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), None

        carry, _ = jax.lax.scan(step, carry, perm[: n_batches * bs].reshape(n_batches, bs))
        return carry

    rng = np.random.default_rng(seed)
    carry = (params, opt_state)
    for _ in range(int(n_epochs)):
        carry = epoch(carry, jnp.asarray(rng.permutation(n)))
    return list(carry[0])
