"""SHD-sized LIF network throughput: probsnn vs snnTorch (CPU, 1 thread and default) vs Spyx, one run.

Workload (issue 7): 700 -> 256 -> 20 LIF neurons (reset by subtraction, beta = 0.9, threshold 1), T = 100,
batch 64, Bernoulli(0.05) input spikes, loss = cross-entropy of the time-averaged output membrane,
float32. "fwd" is the loss; "fwdbwd" is the loss and its gradient with respect to both weight matrices.
Every timing is the median over repeats after warm-up; compile time is reported separately.

The peak is the dense-matmul FLOP rate JAX reaches on this machine (the best median over square float32
matmuls of size 512, 1024 and 2048),
and ``peak_fraction`` is the useful matmul FLOP rate of probsnn's forward+backward pass divided by it
(the forward-only fraction is printed above the last line).

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


def median_time(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((T, B, N_IN)) < INPUT_RATE).astype(np.float32)
    labels = rng.integers(0, N_OUT, B)
    w1 = (rng.normal(0, 1, (N_IN, N_HID)) * 3.0 / np.sqrt(N_IN * INPUT_RATE)).astype(np.float32)
    w2 = (rng.normal(0, 1, (N_HID, N_OUT)) * 2.0 / np.sqrt(N_HID * 0.1)).astype(np.float32)
    return x, labels, w1, w2


# ----------------------------------------------------------------------------------------------- JAX
def bench_matmul_peak(repeats):
    import jax
    import jax.numpy as jnp

    f = jax.jit(jnp.matmul)
    rates = {}
    for n in (512, 1024, 2048):
        a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
        b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
        f(a, b).block_until_ready()
        rates[n] = 2.0 * n**3 / median_time(lambda: f(a, b).block_until_ready(), repeats)
    return max(rates.values()), rates


def bench_probsnn(x, labels, w1, w2, repeats, unroll):
    import jax
    import jax.numpy as jnp

    from probsnn.inference.bptt import membrane_cross_entropy, run_network
    from probsnn.neurons.lif import FeedForwardParams, lif_neuron, lif_params

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

    fwd = jax.jit(lambda w, x, y: loss(w, x, y)[0])
    fwdbwd = jax.jit(jax.value_and_grad(lambda w, x, y: loss(w, x, y)[0]))
    weights = (params[0].weights, params[1].weights)
    out = {}
    for name, f in (("fwd", fwd), ("fwdbwd", fwdbwd)):
        start = time.perf_counter()
        jax.block_until_ready(f(weights, xj, yj))
        out[name + "_compile"] = time.perf_counter() - start
        out[name] = median_time(lambda: jax.block_until_ready(f(weights, xj, yj)), repeats)
    states = jax.jit(lambda w, x, y: loss(w, x, y)[1])(weights, xj, yj)
    out["hidden_rate"] = float(states[0].spikes.mean())
    out["out_membrane"] = np.asarray(states[1].membrane)
    out["loss"] = float(fwd(weights, xj, yj))
    return out


def bench_spyx(x, labels, w1, w2, repeats):
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

    fwd = jax.jit(loss)
    fwdbwd = jax.jit(jax.value_and_grad(loss))
    out = {}
    for name, f in (("fwd", fwd), ("fwdbwd", fwdbwd)):
        start = time.perf_counter()
        jax.block_until_ready(f(state, xj, yj))
        out[name + "_compile"] = time.perf_counter() - start
        out[name] = median_time(lambda: jax.block_until_ready(f(state, xj, yj)), repeats)
    return out


# ----------------------------------------------------------------------------------------------- torch
def bench_snntorch(x, labels, w1, w2, repeats, threads):
    import snntorch as snn
    import torch

    torch.set_num_threads(threads)
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

    out = {"fwd": median_time(fwd, repeats), "fwdbwd": median_time(fwdbwd, repeats)}
    with torch.no_grad():
        loss, membrane = forward()
    out["loss"] = float(loss)
    out["out_membrane"] = membrane.numpy()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--unroll", type=int, default=1, help="lax.scan unroll factor for probsnn")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 15

    x, labels, w1, w2 = make_data()
    matmul_flops = 2.0 * T * B * (N_IN * N_HID + N_HID * N_OUT)
    # backward: dW1 = X^T dI1 (input gradient of layer 1 not needed), dW2 and dS1 for layer 2
    fwdbwd_flops = matmul_flops + 2.0 * T * B * N_IN * N_HID + 2 * 2.0 * T * B * N_HID * N_OUT

    import jax

    print(f"devices: {jax.devices()}  cpu_count={os.cpu_count()}  jax {jax.__version__}")
    peak, rates = bench_matmul_peak(repeats)
    sizes = ", ".join(f"{n}^3: {r / 1e9:.0f}" for n, r in rates.items())
    print(f"JAX dense float32 matmul rates (GFLOP/s) {sizes}; peak = {peak / 1e9:.1f} GFLOP/s")

    res = {"probsnn": bench_probsnn(x, labels, w1, w2, repeats, args.unroll)}
    try:
        res["spyx"] = bench_spyx(x, labels, w1, w2, repeats)
    except ImportError as err:
        print(f"Spyx not available ({err}); install it in .venv-bench (see benchmarks/README_snn.md)")
    try:
        import torch

        default_threads = torch.get_num_threads()
        res["snntorch_1thread"] = bench_snntorch(x, labels, w1, w2, repeats, 1)
        res["snntorch_default"] = bench_snntorch(x, labels, w1, w2, repeats, default_threads)
        torch.set_num_threads(default_threads)
        ref = res["snntorch_1thread"]["out_membrane"]
        diff = np.max(np.abs(ref - res["probsnn"]["out_membrane"]))
        print(
            f"same network check: snnTorch loss {res['snntorch_1thread']['loss']:.6f} vs probsnn loss "
            f"{res['probsnn']['loss']:.6f}; max |output membrane difference| {diff:.2e} (float32)"
        )
    except ImportError as err:
        print(f"snnTorch not available ({err})")

    p = res["probsnn"]
    print(f"probsnn hidden firing rate: {p['hidden_rate']:.3f} spikes/bin")
    print(f"{'library':<18}{'fwd ms':>10}{'fwdbwd ms':>12}{'compile fwd s':>15}{'compile fwdbwd s':>18}")
    for name, r in res.items():
        cf = f"{r['fwd_compile']:.2f}" if "fwd_compile" in r else "-"
        cb = f"{r['fwdbwd_compile']:.2f}" if "fwdbwd_compile" in r else "-"
        print(f"{name:<18}{1e3 * r['fwd']:>10.2f}{1e3 * r['fwdbwd']:>12.2f}{cf:>15}{cb:>18}")

    fwd_fraction = matmul_flops / p["fwd"] / peak
    fwdbwd_fraction = fwdbwd_flops / p["fwdbwd"] / peak
    print(f"probsnn FLOP-rate fraction of the JAX matmul peak: fwd {fwd_fraction:.2f}, fwd+bwd {fwdbwd_fraction:.2f}")

    def ratio(peer, key):
        if peer == "snntorch":
            times = [res[k][key] for k in ("snntorch_1thread", "snntorch_default") if k in res]
            return min(times) / p[key] if times else float("nan")
        return res[peer][key] / p[key] if peer in res else float("nan")

    print(
        f"fwd_vs_snntorch={ratio('snntorch', 'fwd'):.2f} fwdbwd_vs_snntorch={ratio('snntorch', 'fwdbwd'):.2f} "
        f"fwd_vs_spyx={ratio('spyx', 'fwd'):.2f} fwdbwd_vs_spyx={ratio('spyx', 'fwdbwd'):.2f} "
        f"peak_fraction={fwdbwd_fraction:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
