"""``probsnn simulate FIT``: draw spike trains from a fitted network.

The network and parameters of FIT (a fit.nc from probsnn fit, or any file of probsnn.save_fit) run freely for
--steps bins: in every bin each neuron's potential is computed from the spikes drawn so far (its own and, when
coupled, the others'), and its spike count is drawn from the fitted observation model (the generative model,
probsnn.GLMNetwork.simulate). A network with stimulus filters is driven by the first --steps bins of the
stimulus saved with the fit. The --out folder receives

* spikes.npz: counts (bins x neurons), dt, neuron_names and the stimulus when there is one; it loads with
  probsnn.datasets.load_npz, and probsnn fit --data reads it;
* raster.png: the simulated spikes above the model's conditional intensity (Hz) given them, for the first second;

and the mean rate of every neuron is printed, beside that of the data the network was fitted to when the
file holds them. A fit on trials is simulated trial by trial (the history restarts at each of the data's trial
starts within --steps, and spikes.npz records them). The same seed gives the same spikes.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ._common import (
    CLIError,
    HelpFormatter,
    check_output_folder,
    create_output_folder,
    integer,
    number,
    plain_text,
    read_fit,
)

__all__ = ["add_parser", "run"]


def run(args) -> int:
    """Simulate the fitted network, write spikes.npz and raster.png, print the mean rates; returns 0."""
    import jax

    from .. import plots

    out = check_output_folder("--out", args.out)
    fit = read_fit("FIT", args.fit)
    net, data = fit.network, fit.data
    if net.n_latent:
        raise CLIError(f"{args.fit}: the network has latent neurons; simulate it in Python with "
                       "GLMNetwork.simulate (this command writes the recorded neurons only).")
    stimulus = None
    if net.n_stimulus_dims > 0:
        if data is None or data.stimulus is None:
            raise CLIError(f"{args.fit}: the network has stimulus filters but the file holds no stimulus to drive "
                           "it; save the fit with its data (probsnn.save_fit(..., data=...)).")
        if args.steps > data.n_bins:
            raise CLIError(f"--steps {args.steps}: the network is driven by the stimulus saved with the fit, which "
                           f"has {data.n_bins} bins; give --steps <= {data.n_bins}.")
        stimulus = np.asarray(data.stimulus[: args.steps])
    dt = fit.summary.get("dt", float(args.dt) if args.dt is not None else None)
    if dt is None:
        raise CLIError(f"{args.fit} holds no data, so no bin width: give --dt in seconds.")
    create_output_folder("--out", out)
    # a fit on trials is simulated trial by trial: the history restarts at each of the data's trial starts
    trial_starts = None
    if data is not None and data.trial_starts is not None:
        trial_starts = [k for k in data.trial_starts if k < args.steps]
    simulated = net.simulate_data(fit.params, jax.random.PRNGKey(args.seed), n_steps=args.steps, stimulus=stimulus,
                                  dt=dt, trial_starts=trial_starts)
    arrays = dict(counts=simulated.counts, dt=np.float64(dt), neuron_names=np.asarray(net.neuron_names, dtype=str))
    if simulated.trial_starts is not None:
        arrays["trial_starts"] = np.asarray(simulated.trial_starts)
    if stimulus is not None:
        arrays["stimulus"] = stimulus
    np.savez(Path(out) / "spikes.npz", **arrays)
    rate = net.predicted_rate(fit.params, simulated)
    fig = plots.plot_raster_rate(simulated, rate, title=f"simulated from {args.fit} (seed {args.seed})")
    fig.savefig(Path(out) / "raster.png", dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    print(f"{'neuron':<16}{'simulated rate (Hz)':>20}{'data rate (Hz)':>16}")
    for i, name in enumerate(net.neuron_names):
        fitted = f"{data.counts[:, i].mean() / data.dt:>16.3f}" if data is not None else f"{'-':>16}"
        print(f"{name:<16}{simulated.counts[:, i].mean() / dt:>20.3f}{fitted}")
    print(f"simulated {args.steps} bins of {dt * 1e3:g} ms: spikes.npz and raster.png in {out}/", file=sys.stderr)
    return 0


def add_parser(subparsers) -> None:
    """Register ``probsnn simulate``."""
    parser = subparsers.add_parser("simulate", help="draw spike trains from a fitted network (fit.nc)",
                                   description=plain_text(__doc__), formatter_class=HelpFormatter)
    parser.add_argument("fit", metavar="FIT", help="a fit file: the fit.nc of probsnn fit or of probsnn.save_fit")
    parser.add_argument("--steps", type=integer("--steps", 1), default=10_000,
                        help="number of time bins to simulate, >= 1")
    parser.add_argument("--seed", type=integer("--seed", 0, 2**32 - 1), default=0,
                        help="seed of the random spikes, 0..2**32-1")
    parser.add_argument("--out", default="probsnn-simulation",
                        help="output folder, new or existing, for spikes.npz and raster.png")
    parser.add_argument("--dt", type=number("--dt", 0.0, low_open=True), default=None,
                        help="bin width in seconds (default: that of the data saved with the fit; needed only "
                             "when the file holds no data)")
    parser.set_defaults(func=run)
