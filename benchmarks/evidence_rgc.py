"""Evidence-chosen ridge against 5-fold blocked cross-validation on the primate RGC recordings.

Coupled Poisson GLM of the 4 RGCs (25-tap stimulus filter, 20-bin history/coupling filters, identity bases as in
Pillow's tutorial; 106 weights per cell). For each training length (the first 10% and the first 80% of the
recording), the ridge precision is chosen per cell

* by ``fit_evidence`` (MacKay's fixed point on the Laplace evidence: a handful of warm-started fits), and
* by 5-fold blocked cross-validation over 11 ridges (logspace(-1, 4)): 55 fits, then one refit at each cell's best,

and both are scored on the last 20% (held-out bits/spike against the training mean rate). Skips without the data.

Run: ``.venv/bin/python benchmarks/evidence_rgc.py`` (about 5 minutes on 2 cores). Times are wall-clock medians
of one run each (no peers: this compares two ways of choosing the ridge in probsnn).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import probsnn as ps  # noqa: E402
from probsnn import basis, datasets, diagnostics  # noqa: E402

RGC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rgc" / "rgc_pillow.npz"
RIDGES = np.logspace(-1, 4, 11)
N_FOLDS = 5


def network():
    return ps.GLMNetwork(4, stimulus_basis=basis.identity(25, lag_offset=0),
                         history_basis=basis.identity(20, lag_offset=1), coupling=True)


def blocked_cv(net, train):
    """Held-out log-likelihood per (ridge, cell), summed over 5 contiguous blocks of the training data."""
    edges = np.linspace(0, train.n_bins, N_FOLDS + 1).astype(int)
    score = np.zeros((RIDGES.size, net.n_neurons))
    for k in range(N_FOLDS):
        held = train.time_slice(edges[k], edges[k + 1])
        parts = [train.time_slice(a, b) for a, b in ((0, edges[k]), (edges[k + 1], train.n_bins)) if b > a]
        counts = np.concatenate([p.counts for p in parts])
        stimulus = np.concatenate([p.stimulus for p in parts])
        fold_train = ps.SpikeData(counts, dt=train.dt, stimulus=stimulus, neuron_names=train.neuron_names)
        design = net.design_matrix(fold_train)
        fit = None
        for g, ridge in enumerate(RIDGES):
            fit = ps.fit_map(net, fold_train, prior=ps.GaussianPrior(ridge=float(ridge)), design=design,
                             init=None if fit is None else fit.params, progress=False)
            score[g] += np.asarray(net.log_likelihood(fit.params, held, per="neuron"))
    return score


def main():
    if not RGC.exists():
        print(f"skipped: no RGC data at {RGC}")
        return
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"threads: JAX/XLA default on {os.cpu_count()} cores; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    rgc = datasets.load_pillow_rgc(RGC)
    _, test = rgc.split(0.8)
    net = network()
    worst = np.inf
    for fraction in (0.1, 0.8):
        train = rgc.time_slice(0, int(fraction * rgc.n_bins))
        rate = train.counts.mean(axis=0)
        ps.fit_map(net, train.time_slice(0, 2000), prior=ps.GaussianPrior(ridge=1.0), progress=False)  # compile

        start = time.perf_counter()
        evidence = ps.fit_evidence(net, train)
        evidence_time = time.perf_counter() - start
        evidence_bits = diagnostics.bits_per_spike(net, evidence.fit.params, test, reference_rate=rate)

        start = time.perf_counter()
        score = blocked_cv(net, train)
        best = RIDGES[np.argmax(score, axis=0)]
        cv_fit = ps.fit_map(net, train, prior=[ps.GaussianPrior(ridge=float(r)) for r in best], progress=False)
        cv_time = time.perf_counter() - start
        cv_bits = diagnostics.bits_per_spike(net, cv_fit.params, test, reference_rate=rate)

        print(f"\ntraining on the first {fraction:.0%} ({train.n_bins} bins); held-out: the last 20% ({test.n_bins})")
        print(f"{'cell':10s} {'evidence ridge':>15s} {'bits/spike':>11s} {'CV ridge':>10s} {'bits/spike':>11s}")
        for i, name in enumerate(rgc.neuron_names):
            print(f"{name:10s} {evidence.ridge[i]:15.3g} {evidence_bits[i]:11.4f} {best[i]:10.3g} {cv_bits[i]:11.4f}")
        print(f"time: evidence {evidence_time:.1f} s ({evidence.n_iterations} iterations), "
              f"5-fold CV x {RIDGES.size} ridges {cv_time:.1f} s")
        worst = min(worst, float(np.min(evidence_bits - cv_bits)))
    print(f"min_bits_per_spike_evidence_minus_cv={worst:+.4f}")


if __name__ == "__main__":
    sys.exit(main())
