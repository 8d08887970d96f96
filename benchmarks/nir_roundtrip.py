"""Peer round trip through NIR files: probsnn -> NIR -> snnTorch, and snnTorch -> NIR -> probsnn.

Both sides build dense -> LIF (recurrent or not) -> dense -> CubaLIF networks (reset to zero, per-neuron leaks,
float32), write them with ``nir.write``, read them with ``nir.read``, import them into the other simulator and run
both on the same Bernoulli input spikes, step by step. Each row prints the output-layer spike counts and the number
of mismatching (time, sample, neuron) bins; the last line sums the rows that test probsnn (target 0) and repeats
the rows that go through snnTorch's importer of recurrent graphs, with snnTorch's own export -> import of its
RLeaky network as the control: with snnTorch 1.0.0 and nirtorch 2.6 that importer runs the layer input through
the recurrent weights (the generated code is ``w_rec(input + previous spikes)``), so it mismatches for snnTorch's
own graphs as it does for probsnn's; a last row runs that wiring in probsnn and matches snnTorch's import.

snnTorch's NIR import and export assume dt = 1e-4 (hard-coded), so the probsnn side uses ``dt=1e-4``; snnTorch
needs one threshold per neuron (a scalar threshold fails NIR's shape check) and imports only uniform thresholds.
Reset by subtraction is not compared: snnTorch exports ``Leaky`` as a NIR ``LIF`` (reset to zero) whatever its reset
mechanism, and its importer does not read probsnn's LI/Threshold/Scale subtraction subgraph.

Needs torch, snnTorch and nirtorch beside probsnn and nir, in a separate environment::

    python3 -m venv .venv-bench && .venv-bench/bin/pip install torch==2.13.0 snntorch nirtorch nir -e .
    .venv-bench/bin/python benchmarks/nir_roundtrip.py [--steps 100] [--batch 16]
"""
import argparse
import contextlib
import io
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import nir
import numpy as np
import snntorch as snn
import snntorch.utils
import torch
from snntorch.export_nir import export_to_nir
from snntorch.import_nir import import_from_nir

import probsnn.nir as pnir
from probsnn.inference.bptt import run_network
from probsnn.neurons.layers import FeedForwardParams, RecurrentParams
from probsnn.neurons.lif import lif_neuron, lif_params

DT = 1e-4  # snnTorch's NIR import/export time step
N_IN, N_HIDDEN, N_OUT = 12, 32, 10


def _probsnn_network(key, recurrent):
    """dense -> LIF (recurrent or not) -> dense -> CubaLIF, reset to zero, per-neuron leaks, float32."""
    keys = jax.random.split(key, 6)
    w_in = 2.0 * jax.random.normal(keys[0], (N_IN, N_HIDDEN)) / np.sqrt(N_IN)
    w_rec = 0.5 * jax.random.normal(keys[1], (N_HIDDEN, N_HIDDEN)) / np.sqrt(N_HIDDEN)
    w_out = 3.0 * jax.random.normal(keys[2], (N_HIDDEN, N_OUT)) / np.sqrt(N_HIDDEN)
    hidden = lif_params(N_HIDDEN, leak=jax.random.uniform(keys[3], (N_HIDDEN,), minval=0.6, maxval=0.98),
                        threshold=0.8)
    out = pnir.cuba_lif_params(N_OUT, jax.random.uniform(keys[4], (N_OUT,), minval=0.3, maxval=0.8),
                               jax.random.uniform(keys[5], (N_OUT,), minval=0.6, maxval=0.98), threshold=1.0)
    first = RecurrentParams(w_in, w_rec, hidden) if recurrent else FeedForwardParams(w_in, hidden)
    return [(lif_neuron(reset="zero"), first), (pnir.cuba_lif_neuron(), FeedForwardParams(w_out, out))]


def _run_torch(module, x):
    """Run an imported snnTorch graph module step by step on ``x`` ``[T, B, n]``; the output spikes ``[T, B, m]``."""
    state, outputs = None, []
    with torch.no_grad():
        for x_t in torch.from_numpy(np.asarray(x)):
            out, state = module(x_t, state)
            outputs.append(out[0] if isinstance(out, tuple) else out)
    return torch.stack(outputs).numpy()


def _read_in_order(path, order):
    """``nir.read(path)`` with the nodes listed in ``order`` (the writer's). ``nir.read`` lists them alphabetically,
    and snnTorch's importer (nirtorch 2.6) then fails to build recurrent layers ("'GraphModule' object has no
    attribute 'items'"); the order of the nodes carries no meaning in NIR."""
    graph = nir.read(path)
    return nir.NIRGraph(nodes={name: graph.nodes[name] for name in order}, edges=list(graph.edges),
                        metadata=dict(graph.metadata), type_check=False)


def probsnn_to_snntorch(x, key, path, recurrent):
    layers = _probsnn_network(key, recurrent)
    network = pnir.network_from_layers(layers)
    want = np.asarray(pnir.run(network, x)["1.neurons"])
    assert np.array_equal(np.asarray(run_network([n for n, _ in layers], [p for _, p in layers], x)[0].spikes),
                          np.asarray(pnir.run(network, x)["0.neurons"]))
    graph = pnir.export(network, DT)
    nir.write(path, graph)
    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch's importer prints progress
        module = import_from_nir(_read_in_order(path, list(graph.nodes)))
    return want, _run_torch(module, x)


def snntorch_wiring_check(x, key, path):
    """snnTorch's import of the recurrent graph against probsnn running the wiring snnTorch generates,
    ``w_rec(input + previous spikes)`` (the diagnosis of the mismatch of the recurrent rows)."""
    _, imported = probsnn_to_snntorch(x, key, path, True)
    network = pnir.network_from_layers(_probsnn_network(key, True))
    edges = [e for e in network.edges if e != ("0_linear", "0.neurons")] + [("0_linear", "0.recurrent")]
    return np.asarray(pnir.run(network._replace(edges=tuple(edges)), x)["1.neurons"]), imported


def _snntorch_network(seed):
    torch.manual_seed(seed)
    rleaky = snn.RLeaky(beta=torch.rand(N_HIDDEN) * 0.38 + 0.6, threshold=torch.full((N_HIDDEN,), 0.8),
                        linear_features=N_HIDDEN, reset_mechanism="zero", reset_delay=False, init_hidden=True)
    net = torch.nn.Sequential(
        torch.nn.Linear(N_IN, N_HIDDEN, bias=False), rleaky, torch.nn.Linear(N_HIDDEN, N_OUT, bias=False),
        snn.Synaptic(alpha=torch.rand(N_OUT) * 0.5 + 0.3, beta=torch.rand(N_OUT) * 0.38 + 0.6,
                     threshold=torch.full((N_OUT,), 1.0), reset_mechanism="zero", reset_delay=False, init_hidden=True),
    )
    with torch.no_grad():
        rleaky.recurrent.weight.mul_(0.5)
        rleaky.recurrent.bias.zero_()
        net[0].weight.mul_(2.0)
        net[2].weight.mul_(3.0)
    return net


def _run_snntorch(net, x):
    snn.utils.reset(net)
    with torch.no_grad():
        out = torch.stack([net(x_t) for x_t in torch.from_numpy(np.asarray(x))]).numpy()
    snn.utils.reset(net)
    return out


def snntorch_round_trip(x, seed, path):
    """Control: snnTorch's own export -> file -> import of its recurrent network."""
    net = _snntorch_network(seed)
    want = _run_snntorch(net, x)
    graph = export_to_nir(net, torch.zeros(1, N_IN), ignore_dims=[0])
    nir.write(path, graph)
    with contextlib.redirect_stdout(io.StringIO()):
        module = import_from_nir(_read_in_order(path, list(graph.nodes)))
    return want, _run_torch(module, x)


def snntorch_to_probsnn(x, seed, path):
    net = _snntorch_network(seed)
    want = _run_snntorch(net, x)
    nir.write(path, export_to_nir(net, torch.zeros(1, N_IN), ignore_dims=[0]))
    network = pnir.load(path, dt=DT, dtype=jnp.float32)
    outputs = pnir.run(network, x)
    last = [a for a, b in network.edges if b == "output"][0]
    return want, np.asarray(outputs[last])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    key = jax.random.PRNGKey(args.seed)
    k1 = jax.random.fold_in(key, 1)
    x = np.asarray(jax.random.uniform(key, (args.steps, args.batch, N_IN)) < 0.3, np.float32)
    rows = {
        "probsnn -> NIR -> snnTorch, feed-forward LIF + CubaLIF": lambda p: probsnn_to_snntorch(x, k1, p, False),
        "snnTorch -> NIR -> probsnn, RLeaky + Synaptic": lambda p: snntorch_to_probsnn(x, args.seed, p),
        "probsnn -> NIR -> snnTorch, recurrent LIF + CubaLIF": lambda p: probsnn_to_snntorch(x, k1, p, True),
        "control: snnTorch -> NIR -> snnTorch, RLeaky + Synaptic": lambda p: snntorch_round_trip(x, args.seed, p),
        "diagnosis: snnTorch's recurrent import vs probsnn running w_rec(input + previous spikes)":
            lambda p: snntorch_wiring_check(x, k1, p),
    }
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, fn) in enumerate(rows.items()):
            want, got = fn(Path(tmp) / f"{i}.nir")
            counts[name] = int(np.sum(want != got))
            print(f"{name}: {int(want.sum())} source spikes, {int(got.sum())} imported spikes, "
                  f"{counts[name]} mismatching bins of {want.size}")
    names = list(rows)
    print(f"mismatching bins: {counts[names[0]] + counts[names[1]]} (probsnn -> snnTorch feed-forward, snnTorch -> "
          f"probsnn recurrent); snnTorch's importer of recurrent graphs: {counts[names[2]]} for probsnn's, "
          f"{counts[names[3]]} for snnTorch's own ({counts[names[4]]} against its generated wiring)")

if __name__ == "__main__":
    main()
