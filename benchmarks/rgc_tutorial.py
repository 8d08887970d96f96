"""Pillow GLM tutorial on the shared primate RGC recordings: training and held-out bits/spike per cell.

Reads ../shared/data/rgc/rgc_pillow.npz (never copied or shipped; see its README for the terms). Identity
bases as in the tutorial (25 stimulus taps including the current frame, 20 history/coupling taps), ML fits.
Training numbers use all 144051 bins (the tutorial's convention); held-out numbers fit the first 80% and
score the last 20% against the training mean rate. Last line: cell 3 training bits/spike of the three models.

Run: ``python benchmarks/rgc_tutorial.py [path/to/rgc_pillow.npz]``
"""
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import probsnn as ps  # noqa: E402
from probsnn import basis, datasets, diagnostics  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "rgc" / "rgc_pillow.npz"


def networks():
    stim, hist = basis.identity(25, lag_offset=0), basis.identity(20, lag_offset=1)
    return {
        "stim": ps.GLMNetwork(4, stimulus_basis=stim),
        "hist": ps.GLMNetwork(4, stimulus_basis=stim, history_basis=hist, coupling=False),
        "coupled": ps.GLMNetwork(4, stimulus_basis=stim, history_basis=hist, coupling=True),
    }


def main():
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not path.exists():
        sys.exit(f"no RGC data at {path}")
    data = datasets.load_pillow_rgc(path)
    train, test = data.split(0.8)
    rate = train.counts.mean(axis=0)
    table = {}
    for name, net in networks().items():
        start = time.perf_counter()
        full = ps.fit_map(net, data, progress=False)
        split = ps.fit_map(net, train, progress=False)
        table[name] = (
            diagnostics.bits_per_spike(net, full.params, data),
            diagnostics.bits_per_spike(net, split.params, test, reference_rate=rate),
            2 * net.feature_mask.sum(axis=1) - 2 * full.log_likelihood_per_neuron,
        )
        print(f"{name}: fitted in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print(f"{'cell':<12}{'model':<9}{'train bits/spk':>15}{'held-out bits/spk':>19}{'dAIC':>10}")
    for i, cell in enumerate(data.neuron_names):
        for name in table:
            train_bits, test_bits, aic = table[name]
            print(f"{cell:<12}{name:<9}{train_bits[i]:>15.3f}{test_bits[i]:>19.3f}"
                  f"{aic[i] - table['coupled'][2][i]:>10.1f}")
    print("cell3 train bits/spike stim={:.3f} hist={:.3f} coupled={:.3f}".format(*(table[m][0][2] for m in table)))


if __name__ == "__main__":
    main()
