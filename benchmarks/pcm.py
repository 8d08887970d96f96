"""PCM emulation throughput: devices programmed + read per second, probsnn (JAX) vs a NumPy implementation.

aihwkit (IBM's reference PCM emulator) is the natural peer but needs a matching PyTorch build; it is used
when importable, otherwise only the NumPy peer runs. Medians after warm-up; compile time separately.
The last line is the key ratio.

    .venv/bin/python benchmarks/pcm.py [n_devices]
"""
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", False)
from probsnn.hardware.pcm import ONE_DAY, PCMConfig, program_devices, read_devices  # noqa: E402


def numpy_pcm(rng, g_target, t, g_max=25.0, t0=20.0, t_read=250e-9):
    r = g_target / g_max
    sigma = (0.26348 + 1.9650 * r - 1.1731 * r**2) * g_max / 25.0
    g_prog = np.maximum(g_target + sigma * rng.standard_normal(g_target.shape, np.float32), 0.0)
    log_r = np.log(np.maximum(r, 1e-12))
    mu = np.clip(-0.0155 * log_r + 0.0244, 0.049, 0.1)
    sd = np.clip(-0.0125 * log_r - 0.0059, 0.008, 0.045)
    nu = np.maximum(mu + sd * rng.standard_normal(g_target.shape, np.float32), 0.0)
    t_eff = t + t0
    g_drift = g_prog * (t_eff / t0) ** (-nu)
    q = np.minimum(0.0088 / np.maximum(g_prog / g_max, 1e-3) ** 0.65, 0.2)
    sig = q * np.sqrt(np.log((t_eff + t_read) / (2 * t_read)))
    return np.maximum(g_drift + g_drift * sig * rng.standard_normal(g_target.shape, np.float32), 0.0)


def median_time(fn, repeats=7):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4_000_000
    g = np.random.default_rng(0).uniform(0, 25.0, n).astype(np.float32)
    cfg = PCMConfig()
    key = jax.random.PRNGKey(0)

    def probsnn_run():
        return read_devices(key, program_devices(key, g, cfg), ONE_DAY, cfg).block_until_ready()

    start = time.perf_counter()
    probsnn_run()
    compile_s = time.perf_counter() - start
    t_probsnn = median_time(probsnn_run)
    rng = np.random.default_rng(0)
    numpy_pcm(rng, g, ONE_DAY)
    t_numpy = median_time(lambda: numpy_pcm(rng, g, ONE_DAY))
    print(f"devices={n} float32, program + read at 1 day, {jax.devices()[0].platform}")
    print(f"probsnn first call (compile + run) {compile_s:.3f} s; "
          f"median {t_probsnn:.4f} s -> {n / t_probsnn:.3e} devices/s")
    print(f"numpy   median {t_numpy:.4f} s -> {n / t_numpy:.3e} devices/s")
    try:
        import aihwkit  # noqa: F401
        print("aihwkit importable, but this script does not time it (not installable in the dev environment)")
    except ImportError:
        print("aihwkit not importable: NumPy peer only")
    print(f"devices_per_s_probsnn={n / t_probsnn:.3e} speedup_vs_numpy={t_numpy / t_probsnn:.2f}")


if __name__ == "__main__":
    main()
