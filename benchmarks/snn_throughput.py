"""SHD-sized LIF network throughput: probsnn vs snnTorch (CPU, 1 thread and default) vs Spyx, one run.

Workload: 700 -> 256 -> 20 LIF neurons (reset by subtraction, beta = 0.9, threshold 1), T = 100,
batch 64, Bernoulli(0.05) input spikes, loss = cross-entropy of the time-averaged output membrane,
float32. "fwd" is the loss; "fwdbwd" is the loss and its gradient with respect to both weight matrices.

Timing: every library (and the matmul peak) is first built and compiled (compile time reported
separately); then ``--rounds`` rounds each time every case ``repeats`` times after one warm-up call, so
a change in machine load during the run affects all libraries alike. The tables report the median over
all rounds of wall-clock time, and of process CPU time (all threads) as a load-independent check. The
load average is printed at the start and end.

The peak is the dense-matmul FLOP rate JAX reaches on this machine (the best median over square float32
matmuls of size 512, 1024 and 2048, timed in the same rounds), and ``peak_fraction`` is the useful
matmul FLOP rate of probsnn's forward+backward pass divided by it (the forward-only fraction is
printed above the last line). Useful FLOPs: forward ``2 T B (700*256 + 256*20)``; backward adds the
weight gradients ``X^T dI1`` (``2 T B 700*256``) and ``S1^T dI2`` and the hidden-spike gradient
``dI2 W2^T`` (``2 x 2 T B 256*20``); the input gradient of layer 1 is not needed.

Run (the peers live in a separate venv so the main one keeps its jax)::

    .venv-bench/bin/python benchmarks/snn_throughput.py            # full run
    .venv-bench/bin/python benchmarks/snn_throughput.py --quick    # fewer repeats

The last line is ``fwd_vs_snntorch=... fwdbwd_vs_snntorch=... fwd_vs_spyx=... fwdbwd_vs_spyx=...
peak_fraction=...``; ratios are peer time / probsnn time (> 1 means probsnn is faster), against the
faster of snnTorch's two thread settings.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

T, B, N_IN, N_HID, N_OUT = 100, 64, 700, 256, 20
BETA, THRESHOLD, INPUT_RATE = 0.9, 1.0, 0.05
MATMUL_SIZES = (512, 1024, 2048)


def time_calls(fn, repeats, warmup=2):
    """Wall-clock and process-CPU seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def compile_and_wrap(jitted, *args):
    """(first-call seconds, a no-argument callable that runs ``jitted(*args)`` to completion)."""
    import jax

    start = time.perf_counter()
    jax.block_until_ready(jitted(*args))
    return time.perf_counter() - start, lambda: jax.block_until_ready(jitted(*args))


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((T, B, N_IN)) < INPUT_RATE).astype(np.float32)
    labels = rng.integers(0, N_OUT, B)
    w1 = (rng.normal(0, 1, (N_IN, N_HID)) * 3.0 / np.sqrt(N_IN * INPUT_RATE)).astype(np.float32)
    w2 = (rng.normal(0, 1, (N_HID, N_OUT)) * 2.0 / np.sqrt(N_HID * 0.1)).astype(np.float32)
    return x, labels, w1, w2


# ----------------------------------------------------------------------------------------------- JAX
def bench_matmul_peak():
    """Callables for jitted square float32 matmuls of size 512, 1024 and 2048, keyed by size."""
    import jax
    import jax.numpy as jnp

    f = jax.jit(jnp.matmul)
    calls = {}
    for n in MATMUL_SIZES:
        a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
        b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
        calls[n] = compile_and_wrap(f, a, b)[1]
    return calls


def bench_probsnn(x, labels, w1, w2, unroll):
    """probsnn's library path: ``run_network`` of two feed-forward LIF layers, jitted loss / value_and_grad."""
    import jax
    import jax.numpy as jnp

    from probsnn.inference.bptt import membrane_cross_entropy, run_network
    from probsnn.neurons.layers import FeedForwardParams
    from probsnn.neurons.lif import lif_neuron, lif_params

    neurons = [lif_neuron("subtract"), lif_neuron("subtract")]
    params = [
        FeedForwardParams(jnp.asarray(w1), lif_params(N_HID, BETA, THRESHOLD, dtype=jnp.float32)),
        FeedForwardParams(jnp.asarray(w2), lif_params(N_OUT, BETA, THRESHOLD, dtype=jnp.float32)),
    ]
    xj, yj = jnp.asarray(x), jnp.asarray(labels)

    def loss(weights, x, y):
        p = [params[0]._replace(weights=weights[0]), params[1]._replace(weights=weights[1])]
        states = run_network(neurons, p, x, unroll=unroll)
        return membrane_cross_entropy(states[-1].membrane, y), states

    weights = (params[0].weights, params[1].weights)
    fwd = jax.jit(lambda w, x, y: loss(w, x, y)[0])
    fwdbwd = jax.jit(jax.value_and_grad(lambda w, x, y: loss(w, x, y)[0]))
    out = {}
    for name, f in (("fwd", fwd), ("fwdbwd", fwdbwd)):
        out[name + "_compile"], out[name] = compile_and_wrap(f, weights, xj, yj)
    states = jax.jit(lambda w, x, y: loss(w, x, y)[1])(weights, xj, yj)
    out["hidden_rate"] = float(states[0].spikes.mean())
    out["out_membrane"] = np.asarray(states[1].membrane)
    out["loss"] = float(fwd(weights, xj, yj))
    return out


def bench_spyx(x, labels, w1, w2):
    """Spyx 1.0 (Flax NNX): ``Sequential(Linear, LIF, Linear, LIF)`` stepped by ``lax.scan``, jitted."""
    import jax
    import jax.numpy as jnp
    import optax
    import spyx
    from flax import nnx

    rngs = nnx.Rngs(0)
    model = spyx.nn.Sequential(
        nnx.Linear(N_IN, N_HID, use_bias=False, rngs=rngs),
        spyx.nn.LIF((N_HID,), beta=BETA, threshold=THRESHOLD, rngs=rngs),
        nnx.Linear(N_HID, N_OUT, use_bias=False, rngs=rngs),
        spyx.nn.LIF((N_OUT,), beta=BETA, threshold=THRESHOLD, rngs=rngs),
    )
    model.layers[0].kernel.value = jnp.asarray(w1)
    model.layers[2].kernel.value = jnp.asarray(w2)
    graphdef, state = nnx.split(model)
    xj, yj = jnp.asarray(x), jnp.asarray(labels)

    def loss(state, x, y):
        m = nnx.merge(graphdef, state)

        def step(carry, x_t):
            _, new = m(x_t, carry)
            return new, new[-1]  # the output LIF's membrane

        _, membrane = jax.lax.scan(step, m.initial_state(x.shape[1]), x)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(membrane.mean(0), y))

    out = {}
    for name, f in (("fwd", jax.jit(loss)), ("fwdbwd", jax.jit(jax.value_and_grad(loss)))):
        out[name + "_compile"], out[name] = compile_and_wrap(f, state, xj, yj)
    return out


# ----------------------------------------------------------------------------------------------- torch
def bench_snntorch(x, labels, w1, w2):
    """snnTorch 1.0: ``nn.Linear`` + ``snn.Leaky`` stepped from Python (eager PyTorch, the documented loop)."""
    import snntorch as snn
    import torch

    fc1 = torch.nn.Linear(N_IN, N_HID, bias=False)
    fc2 = torch.nn.Linear(N_HID, N_OUT, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(torch.from_numpy(w1.T.copy()))
        fc2.weight.copy_(torch.from_numpy(w2.T.copy()))
    lif1 = snn.Leaky(beta=BETA, threshold=THRESHOLD, reset_mechanism="subtract")
    lif2 = snn.Leaky(beta=BETA, threshold=THRESHOLD, reset_mechanism="subtract")
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels)
    loss_fn = torch.nn.CrossEntropyLoss()

    def forward():
        mem1 = lif1.reset_mem()
        mem2 = lif2.reset_mem()
        mems = []
        for t in range(T):
            spk1, mem1 = lif1(fc1(xt[t]), mem1)
            _, mem2 = lif2(fc2(spk1), mem2)
            mems.append(mem2)
        membrane = torch.stack(mems)
        return loss_fn(membrane.mean(0), yt), membrane

    def fwd():
        with torch.no_grad():
            forward()

    def fwdbwd():
        fc1.zero_grad(set_to_none=True)
        fc2.zero_grad(set_to_none=True)
        loss, _ = forward()
        loss.backward()

    with torch.no_grad():
        loss, membrane = forward()
    return {"fwd": fwd, "fwdbwd": fwdbwd, "loss": float(loss), "out_membrane": membrane.numpy()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--unroll", type=int, default=1, help="lax.scan unroll factor for probsnn")
    parser.add_argument("--rounds", type=int, default=None, help="rounds over all libraries (default 3, quick 2)")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 5
    rounds = args.rounds or (2 if args.quick else 3)

    x, labels, w1, w2 = make_data()
    # useful matmul FLOPs. forward: X W1 and S1 W2; backward: the weight gradients X^T dI1 and S1^T dI2
    # and the hidden-spike gradient dI2 W2^T (layer 1 needs no input gradient)
    matmul_flops = 2.0 * T * B * (N_IN * N_HID + N_HID * N_OUT)
    fwdbwd_flops = matmul_flops + 2.0 * T * B * N_IN * N_HID + 2 * 2.0 * T * B * N_HID * N_OUT

    import jax

    print(f"devices: {jax.devices()}  cpu_count={os.cpu_count()}  jax {jax.__version__}  load {_load()}")
    matmuls = bench_matmul_peak()

    # every library builds its (compiled) callables; timing then runs in rounds over all of them, so a
    # change in machine load during the run affects every library alike
    res = {"probsnn": bench_probsnn(x, labels, w1, w2, args.unroll)}
    setups = {}
    try:
        res["spyx"] = bench_spyx(x, labels, w1, w2)
    except ImportError as err:
        print(f"Spyx not available ({err}); install it in .venv-bench (see benchmarks/README_snn.md)")
    try:
        import torch

        default_threads = torch.get_num_threads()
        snntorch = bench_snntorch(x, labels, w1, w2)
        for name, threads in (("snntorch_1thread", 1), ("snntorch_default", default_threads)):
            res[name] = dict(snntorch)
            setups[name] = lambda threads=threads: torch.set_num_threads(threads)
        diff = np.max(np.abs(snntorch["out_membrane"] - res["probsnn"]["out_membrane"]))
        print(
            f"same network check: snnTorch loss {snntorch['loss']:.6f} vs probsnn loss "
            f"{res['probsnn']['loss']:.6f}; max |output membrane difference| {diff:.2e} (float32)"
        )
    except ImportError as err:
        print(f"snnTorch not available ({err})")

    wall = {(name, key): [] for name in res for key in ("fwd", "fwdbwd")}
    wall.update({("matmul", n): [] for n in matmuls})
    cpu = {k: [] for k in wall}
    for _ in range(rounds):
        for n, call in matmuls.items():
            w, c = time_calls(call, repeats, warmup=1)
            wall["matmul", n] += w
            cpu["matmul", n] += c
        for name, r in res.items():
            setups.get(name, lambda: None)()
            for key in ("fwd", "fwdbwd"):
                w, c = time_calls(r[key], repeats, warmup=1)
                wall[name, key] += w
                cpu[name, key] += c
    if "snntorch_default" in setups:
        torch.set_num_threads(default_threads)
    t = {k: statistics.median(v) for k, v in wall.items()}
    t_cpu = {k: statistics.median(v) for k, v in cpu.items()}

    rates = {n: 2.0 * n**3 / t["matmul", n] for n in matmuls}
    peak = max(rates.values())
    sizes = ", ".join(f"{n}^3: {r / 1e9:.0f}" for n, r in rates.items())
    print(f"JAX dense float32 matmul rates (GFLOP/s) {sizes}; peak = {peak / 1e9:.1f} GFLOP/s")
    p = res["probsnn"]
    print(f"probsnn hidden firing rate: {p['hidden_rate']:.3f} spikes/bin; load {_load()}")
    print(f"median of {rounds} rounds x {repeats} calls; cpu = process CPU time per call (all threads)")
    header = ("library", "fwd ms", "fwd cpu", "fwdbwd ms", "fwdbwd cpu", "compile fwd s", "compile fwdbwd s")
    print(f"{header[0]:<18}" + "".join(f"{h:>12}" for h in header[1:5]) + "".join(f"{h:>18}" for h in header[5:]))
    for name, r in res.items():
        times = [1e3 * d[name, key] for key in ("fwd", "fwdbwd") for d in (t, t_cpu)]
        compiles = [f"{r[k]:.2f}" if k in r else "-" for k in ("fwd_compile", "fwdbwd_compile")]
        print(f"{name:<18}" + "".join(f"{v:>12.2f}" for v in times) + "".join(f"{c:>18}" for c in compiles))

    fwd_fraction = matmul_flops / t["probsnn", "fwd"] / peak
    fwdbwd_fraction = fwdbwd_flops / t["probsnn", "fwdbwd"] / peak
    print(f"probsnn FLOP-rate fraction of the JAX matmul peak: fwd {fwd_fraction:.2f}, fwd+bwd {fwdbwd_fraction:.2f}")

    def ratio(peer, key):
        names = ("snntorch_1thread", "snntorch_default") if peer == "snntorch" else (peer,)
        times = [t[name, key] for name in names if name in res]
        return min(times) / t["probsnn", key] if times else float("nan")

    print(
        f"fwd_vs_snntorch={ratio('snntorch', 'fwd'):.2f} fwdbwd_vs_snntorch={ratio('snntorch', 'fwdbwd'):.2f} "
        f"fwd_vs_spyx={ratio('spyx', 'fwd'):.2f} fwdbwd_vs_spyx={ratio('spyx', 'fwdbwd'):.2f} "
        f"peak_fraction={fwdbwd_fraction:.2f}"
    )


def _load():
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
