r"""Few-spike (FS) conversion (Stockl & Maass, *Nat. Mach. Intell.* 3:230-238, 2021).

An FS-neuron (:mod:`probsnn.neurons.fewspike`) encodes an analog input :math:`x` in at most :math:`K`
spikes :math:`z(t)`, :math:`t = 1..K`, and emits :math:`\hat f(x) = \sum_t d(t)\, z(t)`, with per-step
thresholds :math:`T(t)`, reset amounts :math:`h(t)` and output weights :math:`d(t)`. The parameters are
fitted in JAX by minimising

.. math::  \mathbb E_x\big[(\hat f(x) - f(x))^2\big] + \lambda\, \mathbb E_x\Big[\sum_t z(t)\Big]

(spike-count regulariser :math:`\lambda`) with Optax Adam, the Heaviside derivative replaced by a
fast-sigmoid surrogate, from several random restarts (vmapped); the restart with the lowest exact
objective wins. The expectation over a standard-normal input uses a deterministic quantile grid
:math:`x_i = \Phi^{-1}((i + 1/2)/n)`; any other input distribution is given as samples.

In an FS network every hidden activation is replaced by its FS-neuron; layer :math:`l` needs :math:`K`
steps, and in *pipelined* execution layer :math:`l` processes sample :math:`n` while layer :math:`l+1`
processes sample :math:`n-1` (Stockl & Maass, Fig. 1), so a stream of :math:`N` inputs through
:math:`L` layers takes :math:`(N + L - 1) K` steps instead of :math:`N L K`.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.stats import norm

from .._checks import check_float, check_int, finite_array, positive_float, positive_int
from ..neurons.fewspike import FSParams, check_fs_params, fs_neuron
from ..surrogates import heaviside, make_spike_function
from .ann import ACTIVATIONS, PARAMETRIC, MaxPool2D, activate, check_inputs, check_network, count_macs, layer_linear
from .rate import _fanout

__all__ = ["FSFit", "fit_fs_neuron", "save_fs_params", "load_fs_params", "pretrained_fs", "FSNetwork",
           "convert_fewspike", "run_fs_network", "run_fs_pipelined"]

_PACKAGE_DIR = Path(__file__).resolve().parent / "fs_params"


class FSFit(NamedTuple):
    """A fitted FS-neuron: ``params``, the ``activation`` it emulates, its ``mse`` and mean
    ``spikes_per_neuron`` on the fitting distribution, and the ``spike_penalty`` used."""

    params: FSParams
    activation: str
    mse: float
    spikes_per_neuron: float
    spike_penalty: float


def _normal_grid(n):
    return norm.ppf((np.arange(n) + 0.5) / n)


def fit_fs_neuron(activation: str, n_steps_k: int, samples=None, *, spike_penalty: float = 0.0, n_restarts: int = 8,
                  n_iterations: int = 3000, learning_rate: float = 0.01, surrogate_slope: float = 5.0,
                  n_grid: int = 4096, seed: int = 0, negative_slope: float = 0.01) -> FSFit:
    """Fit T(t), h(t), d(t) of a K-step FS-neuron to ``activation`` (see the module docstring).

    Parameters
    ----------
    activation : "relu", "leaky_relu", "silu" or "sigmoid"
    n_steps_k : int, K
    samples : array, optional
        Input samples of the target distribution; default a standard-normal quantile grid of ``n_grid``.
    spike_penalty : float >= 0, the regulariser :math:`\\lambda` on the expected spike count.
    n_restarts, n_iterations, learning_rate, surrogate_slope, seed : optimisation settings (cosine-decayed Adam).
    """
    if not isinstance(activation, str) or activation not in ACTIVATIONS or activation == "linear":
        raise ValueError(f"activation must be one of relu/leaky_relu/silu/sigmoid (what FS-neurons emulate), got "
                         f"{activation!r}.")
    k = positive_int("n_steps_k (K)", n_steps_k)
    spike_penalty = check_float("spike_penalty", spike_penalty, low=0.0)
    n_restarts = positive_int("n_restarts", n_restarts)
    n_iterations = positive_int("n_iterations", n_iterations)
    learning_rate = positive_float("learning_rate", learning_rate)
    surrogate_slope = positive_float("surrogate_slope", surrogate_slope)
    negative_slope = check_float("negative_slope", negative_slope)
    seed = check_int("seed", seed, minimum=0)
    n_grid = positive_int("n_grid", n_grid)
    x = (_normal_grid(n_grid) if samples is None else finite_array("samples", samples)).reshape(-1)
    if x.size < 2:
        raise ValueError(f"samples must be at least 2 finite values, got {x.size}.")
    x = jnp.asarray(x)
    target = activate(activation, x, negative_slope)
    spike = make_spike_function(lambda u: 1.0 / (1.0 + surrogate_slope * jnp.abs(u)) ** 2, "fs_fast_sigmoid")
    lo, hi = float(np.quantile(x, 0.0005)), float(np.quantile(x, 0.9995))
    span = max(hi - lo, 1e-6)

    def objective(p, spike_fn):
        out, z = fs_neuron(FSParams(p["T"], p["h"], p["d"]), x, spike_fn)
        mse = jnp.mean((out - target) ** 2)
        n_spk = jnp.mean(z.sum(0))
        return mse + spike_penalty * n_spk, (mse, n_spk)

    def init(key):
        k1, k2 = jax.random.split(key)
        scale = span * 2.0 ** (-jnp.arange(1, k + 1)) * jnp.exp(0.3 * jax.random.normal(k1, (k,)))
        thr = lo + scale + 0.05 * span * jax.random.normal(k2, (k,))
        d = activate(activation, lo + scale, negative_slope) - activate(activation, jnp.asarray(lo), negative_slope)
        return {"T": thr, "h": scale, "d": d}

    params = jax.vmap(init)(jax.random.split(jax.random.PRNGKey(seed), int(n_restarts)))
    opt = optax.adam(optax.cosine_decay_schedule(learning_rate, int(n_iterations)))
    state = jax.vmap(opt.init)(params)

    @jax.jit
    def run(params, state):
        def step(carry, _):
            p, s = carry
            grads = jax.vmap(jax.grad(lambda q: objective(q, spike)[0]))(p)
            updates, s = jax.vmap(opt.update)(grads, s, p)
            return (optax.apply_updates(p, updates), s), None

        (p, _), _ = jax.lax.scan(step, (params, state), None, length=int(n_iterations))
        return p, jax.vmap(lambda q: objective(q, heaviside))(p)

    params, (loss, (mse, n_spk)) = run(params, state)
    loss = np.asarray(loss)
    if not np.any(np.isfinite(loss)):
        raise FloatingPointError("every FS fit restart diverged; lower learning_rate.")
    best = int(np.nanargmin(loss))
    fitted = FSParams(*(np.asarray(params[n][best]) for n in ("T", "h", "d")))
    return FSFit(fitted, activation, float(mse[best]), float(n_spk[best]), float(spike_penalty))


def save_fs_params(path, fit: FSFit) -> None:
    """Save a fitted FS-neuron to ``.npz``."""
    np.savez(path, threshold=fit.params.threshold, reset=fit.params.reset, weight=fit.params.weight,
             activation=fit.activation, mse=fit.mse, spikes_per_neuron=fit.spikes_per_neuron,
             spike_penalty=fit.spike_penalty)


def load_fs_params(path) -> FSFit:
    """Load an FS-neuron saved by :func:`save_fs_params` (validated)."""
    with np.load(path, allow_pickle=False) as f:
        params = FSParams(f["threshold"], f["reset"], f["weight"])
        check_fs_params(params)
        return FSFit(params, str(f["activation"]), float(f["mse"]), float(f["spikes_per_neuron"]),
                     float(f["spike_penalty"]))


def pretrained_fs(activation: str, n_steps_k: int) -> FSFit:
    """FS-neurons fitted by probsnn on N(0, 1) inputs and shipped with the package (silu K=16, sigmoid K=12).

    Generated by ``python -m probsnn.conversion.fewspike`` (see :func:`_generate_package_fits`).
    """
    path = _PACKAGE_DIR / f"fs_{activation}_k{int(n_steps_k)}.npz"
    if not path.exists():
        have = sorted(p.stem for p in _PACKAGE_DIR.glob("*.npz"))
        raise ValueError(f"no shipped FS fit for {activation} with K={n_steps_k}; available {have}; "
                         "fit one with fit_fs_neuron.")
    return load_fs_params(path)


_PACKAGE_FITS = {("silu", 16): 0.002, ("sigmoid", 12): 0.0001}


def _generate_package_fits():
    _PACKAGE_DIR.mkdir(exist_ok=True)
    for (act, k), lam in _PACKAGE_FITS.items():
        fit = fit_fs_neuron(act, k, spike_penalty=lam, n_restarts=16, n_iterations=4000)
        save_fs_params(_PACKAGE_DIR / f"fs_{act}_k{k}.npz", fit)
        print(act, k, fit.mse, fit.spikes_per_neuron)


# ------------------------------------------------------------------------------------------ networks
class FSNetwork(NamedTuple):
    """An FS-converted network: ``layers`` (the analog ones), one :class:`FSParams` per hidden parametric
    layer in ``fs_params`` (``None`` for the linear output layer) and the per-sample ``input_shape``."""

    layers: tuple
    fs_params: tuple
    input_shape: tuple


def convert_fewspike(layers: Sequence, fits, input_shape) -> FSNetwork:
    """Replace every hidden activation by an FS-neuron.

    ``fits`` maps activation name -> :class:`FSFit` (or is a list with one FSFit per hidden parametric
    layer). The output layer must be ``"linear"``; max-pooling is refused (FS outputs are not rates;
    use average pooling).
    """
    input_shape = tuple(int(s) for s in input_shape)
    check_network(layers, input_shape)
    parametric = [i for i, l in enumerate(layers) if isinstance(l, PARAMETRIC)]
    if parametric[-1] != len(layers) - 1 or layers[-1].activation != "linear":
        raise ValueError("the last layer must be Dense/Conv2D with 'linear' activation (the logits).")
    if any(isinstance(l, MaxPool2D) for l in layers):
        raise ValueError("FS conversion does not support MaxPool2D (max of FS codes is not an FS code); use AvgPool2D.")
    hidden = parametric[:-1]
    if isinstance(fits, dict):
        per_layer = []
        for i in hidden:
            act = layers[i].activation
            if act not in fits:
                raise ValueError(f"layer {i} uses {act!r} but no FS fit was given for it; fits has {sorted(fits)}.")
            per_layer.append(fits[act])
    else:
        per_layer = list(fits)
        if len(per_layer) != len(hidden):
            raise ValueError(f"give one FSFit per hidden parametric layer ({len(hidden)}), got {len(per_layer)}.")
    for i, fit in zip(hidden, per_layer):
        if not isinstance(fit, FSFit):
            raise ValueError(f"fits must hold FSFit objects, got {type(fit).__name__}.")
        if fit.activation != layers[i].activation:
            raise ValueError(f"layer {i} is {layers[i].activation!r} but its FS fit emulates {fit.activation!r}.")
        check_fs_params(fit.params)
    fs = [None] * len(layers)
    for i, fit in zip(hidden, per_layer):
        fs[i] = FSParams(*(jnp.asarray(p) for p in fit.params))
    return FSNetwork(tuple(layers), tuple(fs), input_shape)


def _fs_forward(layers, fs_params, x):
    """Layer-by-layer FS forward; returns the logits and the spikes ``[K, B, ...]`` of each hidden FS layer."""
    spikes, h = [], x
    for layer, fs in zip(layers, fs_params):
        if isinstance(layer, PARAMETRIC):
            u = layer_linear(layer, h)
            if fs is not None:
                h, z = fs_neuron(fs, u)
                spikes.append(z)
            else:
                h = u
        else:
            h = layer_linear(layer, h)
    return h, spikes


_fs_jit = jax.jit(_fs_forward)


def run_fs_network(net: FSNetwork, x):
    """Run an FS network on ``x`` ``[B, ...]`` (layer after layer, K steps each).

    Returns ``(logits [B, C], spikes_per_neuron [n_hidden_layers], synops_per_sample, ann_macs)``, where
    SynOps count each spike (and each non-zero analog input to the first layer) times its fan-out.
    """
    if not isinstance(net, FSNetwork):
        raise ValueError(f"net must be an FSNetwork from convert_fewspike, got {type(net).__name__}.")
    x = check_inputs(x, net.input_shape)
    out, spikes = _fs_jit(net.layers, net.fs_params, jnp.asarray(x))
    spn = np.array([float(np.mean(np.sum(np.asarray(z), axis=0))) for z in spikes])
    shapes = check_network(net.layers, net.input_shape)
    in_shapes = [tuple(net.input_shape)] + shapes[:-1]
    params_idx = [i for i, l in enumerate(net.layers) if isinstance(l, PARAMETRIC)]
    synops = 0.0
    for j, i in enumerate(params_idx):
        fan = _fanout(net.layers[i], in_shapes[i])
        if j == 0:
            events = (np.asarray(x) != 0).astype(float)
        else:
            events = np.sum(np.asarray(spikes[j - 1]), axis=0)
            # the spikes feeding layer i pass through pools/flatten in between: count at the FS layer's own shape
            fan = fan.reshape(-1)
            fan = (np.full(events.shape[1:], float(fan.mean())) if fan.size != np.prod(events.shape[1:])
                   else fan.reshape(events.shape[1:]))
        synops += float(np.sum(events * fan)) / x.shape[0]
    return np.asarray(out), spn, synops, count_macs(net.layers, net.input_shape)


def run_fs_pipelined(net: FSNetwork, x):
    """Pipelined execution over a stream of samples ``x`` ``[N, ...]`` (Stockl & Maass 2021, Fig. 1).

    In phase :math:`p` (K steps) stage :math:`l` (the FS-neurons after parametric layer :math:`l`, and the
    output layer as the last stage) works on sample :math:`p - l`, all stages at once. Returns
    ``(logits [N, C], n_time_steps)`` with ``n_time_steps = (N + L - 1) K``; the logits equal
    :func:`run_fs_network`'s.
    """
    if not isinstance(net, FSNetwork):
        raise ValueError(f"net must be an FSNetwork from convert_fewspike, got {type(net).__name__}.")
    x = np.asarray(check_inputs(x, net.input_shape))
    # stages: consecutive layers ending in an FS-neuron (or the output layer)
    stages, cur = [], []
    for layer, fs in zip(net.layers, net.fs_params):
        cur.append((layer, fs))
        if isinstance(layer, PARAMETRIC):
            stages.append(tuple(cur))
            cur = []
    n_stages, n = len(stages), x.shape[0]
    ks = [int(np.shape(fs.threshold)[0]) for _, fs in (s[-1] for s in stages) if fs is not None]
    k = max(ks) if ks else 1
    outputs = []
    run_stage = [jax.jit(lambda h, st=st: _fs_forward(tuple(l for l, _ in st), tuple(f for _, f in st), h)[0])
                 for st in stages]
    carry = [None] * n_stages  # what each stage produced in the previous phase
    for phase in range(n + n_stages - 1):
        inputs = [jnp.asarray(x[phase:phase + 1]) if phase < n else None] + carry[:-1]
        carry = [run_stage[s](inputs[s]) if inputs[s] is not None else None for s in range(n_stages)]
        if carry[-1] is not None:
            outputs.append(np.asarray(carry[-1]))
    return np.concatenate(outputs, axis=0), (n + n_stages - 1) * k


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    _generate_package_fits()
