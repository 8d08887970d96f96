r"""Posterior draws of GLM network parameters as :class:`arviz.InferenceData`.

Every Bayesian fit in probsnn (:func:`probsnn.fit_nuts`, :func:`probsnn.fit_svi`,
:func:`probsnn.laplace_posterior`) returns an ``InferenceData`` built here, with

* ``posterior``: the sample sites ``stimulus_weights`` ``(neuron, stimulus_dim, stimulus_basis)``,
  ``coupling_weights`` ``(neuron, presynaptic, history_basis)``, ``bias`` ``(neuron)``, any
  hyper-parameters of the prior, and the filters in lag space
  (:math:`\kappa(\ell) = \sum_b w_b \phi_b(\ell)`): ``stimulus_filter`` ``(neuron, stimulus_dim, stimulus_lag)``
  and ``coupling_filter`` ``(neuron, presynaptic, history_lag)``; masked (absent) connections are zero;
* ``log_likelihood``: ``obs`` with the pointwise log-likelihood :math:`\log p(s_{i,t} \mid u_{i,t})` per
  ``(time, neuron)``, or summed over consecutive blocks of bins (``(block, neuron)``, "leave one segment
  out" for PSIS-LOO on long recordings); bins outside the likelihood (unobserved, or an edge dropped by
  ``trial_edges="drop"``: :meth:`~probsnn.GLMNetwork.likelihood_weight`) hold 0, so the pointwise terms sum to
  the model's log-likelihood;
* ``sample_stats``: sampler statistics where the method has them (NUTS: ``diverging``, ``tree_depth``,
  ``energy``, ``step_size``, ...), and for every method ``lp``, the log joint density of the draw;
* ``observed_data``: ``obs``, the spike counts ``(time, neuron)``;
* ``posterior_predictive`` (on request): ``obs`` drawn from the observation model at the posterior
  potentials given the observed past (one-step-ahead predictive), and ``rate`` (spikes per second).

Coordinates are named after the network's neurons, basis functions and lags, so ``az.summary`` and
``az.plot_forest`` read naturally.

Summaries of a posterior over a network (drawn by :mod:`probsnn.plots`):

* :func:`filter_credible_bands`: posterior mean and central credible band of every filter in lag space;
* :func:`coupling_strength_intervals`: which couplings are credibly non-zero. For every kernel ``j -> i``
  the integrated coupling :math:`\bar\kappa_{ij} = \sum_\ell \kappa_{ij}(\ell)` (the net log-gain of ``i``'s
  rate per spike of ``j``), its posterior mean, central credible interval and the posterior probability
  that it is positive;
* :func:`simulate_posterior_predictive`: replicates
  :math:`s^{\rm rep} \sim \int p(s^{\rm rep} \mid w)\, p(w \mid s)\, dw` for posterior predictive checks
  (Gelman, Meng & Stern 1996), free-running: each feeds back its own spikes, a stronger check than the
  one-step-ahead ``posterior_predictive`` group. Their statistics are in :mod:`probsnn.diagnostics`.
"""
from __future__ import annotations

import numpy as np

from .._checks import check_int
from ..diagnostics import central_interval

__all__ = ["to_inference_data", "draws_to_params", "posterior_filters", "init_values_from_map",
           "filter_credible_bands", "coupling_strength_intervals", "simulate_posterior_predictive"]

_SITE_DIMS = {
    "stimulus_weights": ["neuron", "stimulus_dim", "stimulus_basis"],
    "coupling_weights": ["neuron", "presynaptic", "history_basis"],
    "bias": ["neuron"],
    "stimulus_filter": ["neuron", "stimulus_dim", "stimulus_lag"],
    "coupling_filter": ["neuron", "presynaptic", "history_lag"],
}


def coords_for(net, data=None, n_blocks=None, block=None) -> dict:
    """ArviZ coordinates named after the network's neurons, basis functions and lags."""
    coords = {"neuron": list(net.neuron_names), "presynaptic": list(net.neuron_names),
              "stimulus_dim": list(range(net.n_stimulus_dims))}
    if net.stimulus_basis is not None:
        name = net.stimulus_basis.name or "stim"
        coords["stimulus_basis"] = [f"{name}[{b}]" for b in range(net.n_stimulus_basis)]
        coords["stimulus_lag"] = [int(v) for v in np.asarray(net.stimulus_basis.lags)[_support(net.stimulus_basis)]]
    else:
        coords["stimulus_basis"] = []
        coords["stimulus_lag"] = []
    if net.history_basis is not None:
        name = net.history_basis.name or "hist"
        coords["history_basis"] = [f"{name}[{b}]" for b in range(net.n_history_basis)]
        coords["history_lag"] = [int(v) for v in np.asarray(net.history_basis.lags)[_support(net.history_basis)]]
    else:
        coords["history_basis"] = []
        coords["history_lag"] = []
    if data is not None:
        coords["time"] = (data.t_start + data.dt * np.arange(data.n_bins)).tolist()
    if n_blocks is not None:
        coords["block"] = (np.arange(n_blocks) * block).tolist()  # first bin of each block
    return coords


def draws_to_params(net, draws: dict, batch_shape):
    """A :class:`GLMParams` whose leaves have leading ``batch_shape`` (zero-size sites filled with zeros)."""
    import jax.numpy as jnp

    from ..neurons.glm import GLMParams

    n = net.n_neurons
    shapes = {"stimulus_weights": (n, net.n_stimulus_dims, net.n_stimulus_basis),
              "coupling_weights": (n, n, net.n_history_basis), "bias": (n,)}
    leaves = []
    for field in GLMParams._fields:
        if field in draws:
            leaves.append(jnp.asarray(draws[field]))
        else:
            leaves.append(jnp.zeros(tuple(batch_shape) + shapes[field]))
    return GLMParams(*leaves)


def _support(basis) -> np.ndarray:
    """Bool ``[L]``: the lags where some basis function is non-zero (elsewhere every filter is identically 0)."""
    return np.any(np.asarray(basis.matrix) != 0, axis=1)


def posterior_filters(net, params) -> dict:
    """Filters in lag space for batched params (masked connections zero), at the lags the basis covers: a lag
    where every basis function is zero holds no information (its filter value is 0 in every draw), so it is
    left out rather than stored as a constant whose R-hat is undefined."""
    out = {}
    if net.stimulus_basis is not None and net.n_stimulus_dims > 0:
        w = np.asarray(params.stimulus_weights) * net.stimulus_mask[:, :, None]
        matrix = np.asarray(net.stimulus_basis.matrix)[_support(net.stimulus_basis)]
        out["stimulus_filter"] = np.einsum("...ndb,lb->...ndl", w, matrix)
    if net.history_basis is not None:
        w = np.asarray(params.coupling_weights) * net.coupling_mask[:, :, None]
        matrix = np.asarray(net.history_basis.matrix)[_support(net.history_basis)]
        out["coupling_filter"] = np.einsum("...njb,lb->...njl", w, matrix)
    return out


def _check_block(log_likelihood, n_bins):
    """Block size in bins of the pointwise log-likelihood (None: none is stored), checked against ``n_bins``.

    Only ``None`` and ``False`` mean "none" (an identity test: ``0`` and ``0.0`` equal ``False`` but are block
    sizes, refused as below 1).
    """
    if log_likelihood is None or (isinstance(log_likelihood, (bool, np.bool_)) and not log_likelihood):
        return None
    if log_likelihood in ("bin", True):
        return 1
    number = isinstance(log_likelihood, (int, float, np.integer, np.floating))
    if number and not isinstance(log_likelihood, (bool, np.bool_)) and not log_likelihood >= 1:
        raise ValueError(f"log_likelihood block size must be between 1 and the number of bins ({n_bins}), "
                         f"got {log_likelihood}.")
    if isinstance(log_likelihood, (int, np.integer)) and not isinstance(log_likelihood, bool):
        if not 1 <= log_likelihood <= n_bins:
            raise ValueError(f"log_likelihood block size must be between 1 and the number of bins ({n_bins}), "
                             f"got {log_likelihood}.")
        return int(log_likelihood)
    raise ValueError(f"log_likelihood must be 'bin', a block size in bins (int), or None; got {log_likelihood!r}.")


def _pointwise(net, design, counts, flat, block, weight=None, batch=64):
    """Per-draw log-likelihood ``[S, T, N]`` or block sums ``[S, T // block, N]`` (trailing bins dropped), times
    the likelihood weight (None: all ones)."""
    import jax

    from ..neurons.glm import weighted

    n_bins = design.shape[0]
    n_blocks = n_bins // block
    observation = net.observation

    @jax.jit
    def one(w):
        terms = weighted(observation.log_prob(counts, design @ w.T), weight)
        if block == 1:
            return terms
        return terms[: n_blocks * block].reshape(n_blocks, block, -1).sum(axis=1)

    return np.asarray(jax.lax.map(one, flat, batch_size=min(batch, flat.shape[0])))


def _log_joint(net, design, counts, draws, priors, weight=None, batch=64):
    """Log joint density of each draw ``[S]`` under the NumPyro model (``lp``)."""
    import jax
    from numpyro.infer.util import log_density

    from ..models.glm import glm_network

    def one(draw):
        value, _ = log_density(glm_network, (design, counts), dict(net=net, priors=priors, weight=weight), draw)
        return value

    n = next(iter(draws.values())).shape[0]
    return np.asarray(jax.lax.map(jax.jit(one), draws, batch_size=min(batch, n)))


def to_inference_data(net, data, draws: dict, *, design=None, priors=None, sample_stats=None,
                      log_likelihood="bin", posterior_predictive=False, seed=0, attrs=None,
                      compute_lp=True):
    """Build the ``InferenceData`` of a fit from posterior draws.

    Parameters
    ----------
    net : GLMNetwork
    data : SpikeData
    draws : dict of arrays
        Sample-site values with leading ``(chain, draw)`` dimensions (sites of the NumPyro model
        :func:`probsnn.models.glm_network`, including hyper-parameter sites of structured priors).
    design : array (T, F), optional
    priors : GLMPriors, optional
        Used for ``lp`` in ``sample_stats``.
    sample_stats : dict of arrays (chain, draw), optional
    log_likelihood : "bin", int or None
        Pointwise log-likelihood per bin, summed over blocks of this many bins, or not stored.
    posterior_predictive : bool
        Also draw one-step-ahead predictive spike counts and rates.
    """
    import arviz as az
    import jax
    import jax.numpy as jnp

    from ..models.priors import GLMPriors

    draws = {k: np.asarray(v) for k, v in draws.items()}
    chains, n_draws = next(iter(draws.values())).shape[:2]
    block = _check_block(log_likelihood, data.n_bins)
    design = net.design_matrix(data) if design is None else jnp.asarray(design)
    counts = jnp.asarray(data.counts, design.dtype)
    weight = net.likelihood_weight(data)
    weight = None if weight is None else jnp.asarray(weight, design.dtype)
    params = draws_to_params(net, draws, (chains, n_draws))
    flat = jax.vmap(jax.vmap(net.flatten))(params)  # [C, S, N, F]
    flat_s = flat.reshape((chains * n_draws,) + flat.shape[2:])

    posterior = dict(draws)
    posterior.update(posterior_filters(net, params))
    stats = {k: np.asarray(v) for k, v in (sample_stats or {}).items()}
    if compute_lp:
        site_draws = {k: jnp.asarray(v).reshape((chains * n_draws,) + v.shape[2:]) for k, v in draws.items()
                      if not k.endswith("_filter")}
        stats["lp"] = _log_joint(net, design, counts, site_draws, priors or GLMPriors(),
                                 weight).reshape(chains, n_draws)

    groups = dict(posterior=posterior, sample_stats=stats or None,
                  observed_data={"obs": np.asarray(data.counts)})
    dims = dict(_SITE_DIMS)
    dims["obs"] = ["time", "neuron"]
    n_blocks = None
    if block is not None:
        ll = _pointwise(net, design, counts, flat_s, block, weight)
        ll = ll.reshape((chains, n_draws) + ll.shape[1:])
        if block > 1:
            n_blocks = ll.shape[2]
            groups["log_likelihood"] = {"obs_blocks": ll}
            dims["obs_blocks"] = ["block", "neuron"]
        else:
            groups["log_likelihood"] = {"obs": ll}
    if posterior_predictive:
        potential = jnp.einsum("tf,snf->stn", design, flat_s)
        keys = jax.random.split(jax.random.PRNGKey(seed), chains * n_draws)
        counts_pp = jax.vmap(net.observation.sample)(keys, potential)
        shape = (chains, n_draws, data.n_bins, net.n_neurons)
        groups["posterior_predictive"] = {
            "obs": np.asarray(counts_pp).reshape(shape),
            "rate": np.asarray(net.observation.mean(potential)).reshape(shape) / data.dt,
        }
        dims["rate"] = ["time", "neuron"]
    coords = coords_for(net, data, n_blocks, block)
    present = set()
    for group in groups.values():
        if group:
            present |= set(group)
    dims = {k: v for k, v in dims.items() if k in present}
    attrs = dict(attrs or {})
    attrs.setdefault("inference_library", "numpyro")
    attrs["probsnn_observation"] = net.observation.name
    if block is not None:
        attrs["log_likelihood_block_bins"] = int(block)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return az.from_dict(**groups, coords=coords, dims=dims, attrs=attrs)


def init_values_from_map(priors, params, dtype=None) -> dict:
    r"""NumPyro initial values of the model's sample sites that reproduce the GLM parameters ``params``.

    Used to start NUTS chains and SVI guides at a MAP fit
    (``numpyro.infer.init_to_value(values=init_values_from_map(priors, fit.params))``). For a scalar site prior
    the value is the weight array itself; a structured prior (:class:`~probsnn.models.sparsity.StructuredPrior`,
    e.g. the non-centred horseshoe :math:`w = \tau \lambda z`) maps the weights onto its own sites with
    :meth:`~probsnn.models.sparsity.StructuredPrior.init_values`. Empty sites (no stimulus or no history basis)
    are skipped, as the model does not sample them.

    Parameters
    ----------
    priors : GLMPriors
        Resolved priors of the model (:func:`probsnn.inference.laplace.resolve_priors`).
    params : GLMParams
        Starting weights, e.g. ``fit_map(...).params``.
    dtype : dtype, optional
        Cast every value to this JAX dtype (default: JAX's default float).

    Returns
    -------
    dict
        Site name -> ``jax.Array``.
    """
    import jax.numpy as jnp

    from ..models.sparsity import StructuredPrior

    dtype = jnp.result_type(float) if dtype is None else dtype
    values = {}
    for name, prior, value in (("stimulus_weights", priors.stimulus, params.stimulus_weights),
                               ("coupling_weights", priors.coupling, params.coupling_weights),
                               ("bias", priors.bias, params.bias)):
        if np.size(value) == 0:
            continue
        if isinstance(prior, StructuredPrior):
            values.update(prior.init_values(name, value))
        else:
            values[name] = value
    return {k: jnp.asarray(v, dtype) for k, v in values.items()}


# ---------------------------------------------------------------- posterior summaries
def filter_credible_bands(idata, level: float = 0.9) -> dict:
    """Posterior mean and central ``level`` credible band of every filter in lag space.

    Returns
    -------
    dict
        For ``stimulus_filter`` ``(neuron, stimulus_dim, lag)`` and ``coupling_filter``
        ``(neuron, presynaptic, lag)`` when present: ``{"mean", "lower", "upper", "lags"}`` arrays (lags in
        bins). Masked (absent) kernels are all zero.
    """
    post = idata.posterior
    out = {}
    for var, lag_dim in (("stimulus_filter", "stimulus_lag"), ("coupling_filter", "history_lag")):
        if var not in post:
            continue
        values = np.asarray(post[var].values)
        values = values.reshape((-1,) + values.shape[2:])  # [M, N, D, L]
        lower, upper = central_interval(values, level)
        out[var] = dict(mean=values.mean(axis=0), lower=lower, upper=upper,
                        lags=np.asarray(post.coords[lag_dim].values))
    return out


def coupling_strength_intervals(idata, level: float = 0.9, truth=None):
    r"""Integrated coupling kernels :math:`\bar\kappa_{ij} = \sum_\ell \kappa_{ij}(\ell)`: which are credibly non-zero.

    Parameters
    ----------
    idata : arviz.InferenceData
        With ``coupling_filter`` ``(neuron, presynaptic, history_lag)`` in the posterior.
    level : float
        Central credible level.
    truth : array (N, N, L), optional
        True coupling filters (lag space), e.g. of a simulation, added as a ``truth`` column.

    Returns
    -------
    list of dict
        One row per off-diagonal kernel ``j -> i``: ``post``, ``pre``, ``mean``, ``lower``, ``upper``,
        ``p_positive`` and ``credibly_nonzero`` (the interval excludes 0), plus ``truth`` if given.
    """
    if "coupling_filter" not in idata.posterior:
        raise ValueError("idata.posterior has no coupling_filter: the network has no history basis.")
    filt = idata.posterior["coupling_filter"]
    values = np.asarray(filt.values)  # [C, S, N, N, L]
    strength = values.sum(axis=-1).reshape((-1,) + values.shape[2:4])  # [M, N, N]
    names = [str(v) for v in filt.coords["neuron"].values]
    lo, hi = central_interval(strength, level)
    if truth is not None:
        truth = np.asarray(truth, dtype=float)
        if truth.shape != values.shape[2:]:
            raise ValueError(f"truth must have shape {values.shape[2:]} (neuron, presynaptic, lag), got {truth.shape}.")
        true_strength = truth.sum(axis=-1)
    rows = []
    n = strength.shape[1]
    for i in range(n):
        for j in range(n):
            if i == j or not np.any(strength[:, i, j]):
                continue  # self-history kernels and absent connections
            row = dict(post=names[i], pre=names[j], mean=float(strength[:, i, j].mean()), lower=float(lo[i, j]),
                       upper=float(hi[i, j]), p_positive=float(np.mean(strength[:, i, j] > 0)),
                       credibly_nonzero=bool(lo[i, j] > 0 or hi[i, j] < 0))
            if truth is not None:
                row["truth"] = float(true_strength[i, j])
            rows.append(row)
    return rows


def simulate_posterior_predictive(net, idata, *, stimulus=None, n_steps: int | None = None, num_draws: int = 50,
                                  seed: int = 0) -> np.ndarray:
    """Free-running replicated spike trains ``(num_draws, T, N)``, one per posterior draw of the weights.

    Each replicate runs :meth:`probsnn.GLMNetwork.simulate` (autoregressive sampling, its own spikes fed back)
    with one posterior draw, chosen at random without replacement from ``idata.posterior``.

    Parameters
    ----------
    net : GLMNetwork
        The network ``idata`` was fitted with.
    idata : arviz.InferenceData
    stimulus : array (T, D), optional
        Required when the network has stimulus filters (e.g. ``data.stimulus``).
    n_steps : int, optional
        Number of bins (defaults to the stimulus length).
    num_draws : int
        At most the number of draws in the posterior.
    seed : int

    Raises
    ------
    RuntimeError
        When a replicate diverges (runaway excitation of a Poisson network).
    """
    import warnings

    import jax

    post = idata.posterior
    total = post.sizes["chain"] * post.sizes["draw"]
    num_draws = check_int(f"num_draws (at most the posterior's {total} draws)", num_draws, minimum=1, maximum=total)
    index = np.sort(np.random.default_rng(seed).choice(total, size=num_draws, replace=False))
    sites = {k: np.asarray(post[k].values).reshape((-1,) + post[k].shape[2:])[index]
             for k in ("stimulus_weights", "coupling_weights", "bias") if k in post}
    params = draws_to_params(net, sites, (len(index),))
    keys = jax.random.split(jax.random.PRNGKey(seed), len(index))
    out = []
    for s in range(len(index)):
        one = jax.tree_util.tree_map(lambda leaf, s=s: leaf[s], params)
        with warnings.catch_warnings(record=True) as caught:  # the explosion warning, turned into the error below
            warnings.simplefilter("always", RuntimeWarning)
            spikes, _ = net.simulate(one, keys[s], n_steps=n_steps, stimulus=stimulus, on_explosion="warn")
        spikes = np.asarray(spikes)
        if any("explosive" in str(w.message) for w in caught) or not np.all(np.isfinite(spikes)):
            raise RuntimeError(
                f"the free-running simulation of posterior draw {int(index[s])} diverged (runaway excitation: "
                "a Poisson GLM with an exp link and excitatory history can explode when its own spikes feed "
                "back). Use a Bernoulli observation, a stronger prior on the history filters, or the "
                "one-step-ahead predictive (posterior_predictive=True).")
        out.append(spikes)
    return np.stack(out).astype(np.int64)
