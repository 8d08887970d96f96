r"""Fitted GLM networks kept on disk: one self-describing netCDF file per fit, read back exactly.

:func:`save_fit` writes a network, its fitted parameters (a MAP fit, plain :class:`~probsnn.GLMParams`, or the
``InferenceData`` of :func:`~probsnn.fit_nuts`, :func:`~probsnn.fit_svi` or :func:`~probsnn.laplace_posterior`)
and optionally the data it was fitted to; :func:`load_fit` returns a :class:`Fit` whose network and parameters
give the same log-likelihood, predicted rates and standard errors, bit for bit. The file is an ArviZ
``InferenceData`` netCDF file (HDF5, written with ``h5netcdf``), readable by ``arviz.from_netcdf`` or
``xarray.open_dataset(path, group=...)`` without probsnn. No Python object is pickled: every entry is an array,
a number or a string.

Layout (format ``probsnn-fit``, version 1)
------------------------------------------
* root attributes: ``probsnn_format`` (``"probsnn-fit"``), ``probsnn_format_version`` (1), ``probsnn_version``,
  ``method`` (``map``, ``laplace``, ``nuts``, ``svi``, ``params``), ``point_estimate`` (``map``,
  ``posterior_mean`` or ``given``), the data's ``data_dt``, ``data_t_start``, ``data_n_bins`` when data were
  saved, and ``summary_json``, the caller's metadata as a JSON text;
* ``network``: the complete specification. Variables ``stimulus_basis_matrix`` (``stimulus_basis_lag``,
  ``stimulus_basis``) and ``history_basis_matrix`` (``history_basis_lag``, ``history_basis``) with the lags
  as coordinates, ``coupling_mask`` (``neuron``, ``presynaptic``), ``stimulus_mask`` (``neuron``,
  ``stimulus_dim``); attributes ``n_visible``, ``n_latent``, ``n_stimulus_dims``, ``observation``,
  ``temperature``, ``link``, and each basis's ``*_lag_offset`` and ``*_name``; the neuron names are the
  ``neuron`` coordinate;
* ``point_estimate``: ``stimulus_weights``, ``coupling_weights``, ``bias`` (the MAP or the posterior mean) and,
  for a MAP fit, its Laplace ``covariance`` (``neuron``, ``feature``, ``feature_column``: :math:`H_i^{-1}` of
  each neuron's flat weights, features named by :meth:`~probsnn.GLMNetwork.feature_names`), the
  ``*_standard_error`` of each parameter and the fit's per-neuron diagnostics (``log_likelihood_per_neuron``,
  ``converged``, ``n_iterations``, ...);
* ``posterior``: the draws (``chain``, ``draw``, ...) with the filters in lag space; for a MAP fit one chain
  of one draw, the MAP itself. Coordinates as in :mod:`probsnn.inference.idata` (neuron, basis and lag
  names). The other groups of a given ``InferenceData`` (``sample_stats``, ``log_likelihood``,
  ``posterior_predictive``) are kept;
* ``observed_data`` (``obs``, ``time`` x ``neuron``; ``trial_start`` and the ``observed`` mask when the data have
  trials or partly recorded units) and ``constant_data`` (``stimulus``): the data, when given;
* ``extras``: named arrays stored beside the fit by the caller (``probsnn fit`` keeps its report's figure data
  there), with dimensions ``<name>_dim_<k>``.

A file of another format version, or a netCDF file that is not a probsnn fit, is refused by :func:`load_fit`
with a one-line :class:`FitFileError` naming the file.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .basis import Basis
from .data import SpikeData
from .inference.idata import _SITE_DIMS, coords_for, posterior_filters
from .inference.map import MAPResult, filter_standard_errors
from .neurons.glm import GLMNetwork, GLMParams

__all__ = ["save_fit", "load_fit", "Fit", "FitFileError", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "probsnn-fit"
FORMAT_VERSION = 1
_SITES = GLMParams._fields
_MAP_DIAGNOSTICS = ("log_likelihood_per_neuron", "log_posterior_per_neuron", "converged", "n_iterations",
                    "newton_decrement")


class FitFileError(ValueError):
    """A file that :func:`load_fit` cannot read as a probsnn fit (one line, naming the file)."""


@dataclass(frozen=True, eq=False)
class Fit:
    """A fitted network read back by :func:`load_fit`.

    Attributes
    ----------
    network : GLMNetwork
        Rebuilt exactly: bases, lag offsets, masks, observation, neuron names, stimulus dimensions.
    params : GLMParams
        The point estimate: the MAP, the posterior mean of the draws, or the parameters given to
        :func:`save_fit` (see ``point_estimate``).
    point_estimate : str
        ``"map"``, ``"posterior_mean"`` or ``"given"``.
    method : str
        How the fit was made: ``"map"``, ``"laplace"``, ``"nuts"``, ``"svi"`` or ``"params"``.
    covariance : ndarray (N, F, F) or None
        Laplace covariance of each neuron's flat weights (MAP fits only).
    standard_errors : GLMParams or None
        Square roots of the covariance diagonals, in the shape of the parameters (MAP fits only).
    posterior : arviz.InferenceData or None
        The draws and the other groups of the saved ``InferenceData`` (for a MAP fit: one draw, the MAP).
    data : SpikeData or None
        The data saved with the fit.
    summary : dict
        Metadata: the format, its version, the probsnn version that wrote the file, ``method``,
        ``point_estimate``, the data's ``dt``/``t_start``/``n_bins`` and the caller's ``summary``.
    extras : dict of ndarray
        The named arrays saved with ``extras=``.
    map_diagnostics : dict of ndarray
        For a MAP fit: ``log_likelihood_per_neuron``, ``log_posterior_per_neuron``, ``converged``,
        ``n_iterations``, ``newton_decrement`` and ``solver``.
    """

    network: GLMNetwork
    params: GLMParams
    point_estimate: str
    method: str
    covariance: np.ndarray | None = None
    standard_errors: GLMParams | None = None
    posterior: object | None = None
    data: SpikeData | None = None
    summary: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)
    map_diagnostics: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        draws = ""
        if self.posterior is not None and "posterior" in self.posterior.groups():
            post = self.posterior.posterior
            draws = f", draws={post.sizes['chain']}x{post.sizes['draw']}"
        data = "" if self.data is None else f", data={self.data.n_bins} bins"
        return (f"Fit(method={self.method!r}, point_estimate={self.point_estimate!r}, network={self.network!r}"
                f"{draws}{data}, covariance={'yes' if self.covariance is not None else 'no'})")

    def filter_standard_errors(self) -> dict:
        """Pointwise standard errors of the filters in lag space (:func:`probsnn.inference.map.filter_standard_errors`);
        empty when the fit has no covariance."""
        return {} if self.covariance is None else filter_standard_errors(self.network, self.covariance)

    def map_result(self) -> MAPResult:
        """The :class:`~probsnn.MAPResult` of a MAP fit, as :func:`~probsnn.fit_map` returned it."""
        if self.point_estimate != "map" or not self.map_diagnostics:
            raise ValueError(f"this fit holds a {self.point_estimate} point estimate, not a MAP fit: no MAPResult.")
        d = self.map_diagnostics
        return MAPResult(params=self.params, log_likelihood=float(np.sum(d["log_likelihood_per_neuron"])),
                         log_likelihood_per_neuron=d["log_likelihood_per_neuron"],
                         log_posterior_per_neuron=d["log_posterior_per_neuron"], converged=d["converged"],
                         n_iterations=d["n_iterations"], newton_decrement=d["newton_decrement"],
                         solver=list(d["solver"]), covariance=self.covariance, standard_errors=self.standard_errors)


# ================================================================== writing
def _network_dataset(net: GLMNetwork):
    import xarray as xr

    coords = {"neuron": list(net.neuron_names), "presynaptic": list(net.neuron_names),
              "stimulus_dim": np.arange(net.n_stimulus_dims)}
    variables = {"coupling_mask": (("neuron", "presynaptic"), net.coupling_mask.astype(np.int8)),
                 "stimulus_mask": (("neuron", "stimulus_dim"), net.stimulus_mask.astype(np.int8)),
                 "visible": (("neuron",), net.visible_mask.astype(np.int8))}
    observation = net.observation
    if observation.name not in ("poisson", "bernoulli"):
        raise TypeError(f"save_fit stores Poisson and Bernoulli observations, got {type(observation).__name__}.")
    attrs = dict(n_visible=net.n_visible, n_latent=net.n_latent, n_stimulus_dims=net.n_stimulus_dims,
                 observation=observation.name, temperature=float(getattr(observation, "temperature", 1.0)),
                 link=str(getattr(observation, "link", "exp")), trial_edges=net.trial_edges)
    for kind, basis in (("stimulus", net.stimulus_basis), ("history", net.history_basis)):
        attrs[f"has_{kind}_basis"] = int(basis is not None)
        if basis is None:
            continue
        coords[f"{kind}_basis_lag"] = basis.lags
        coords[f"{kind}_basis"] = np.arange(basis.n_basis)
        variables[f"{kind}_basis_matrix"] = ((f"{kind}_basis_lag", f"{kind}_basis"), basis.matrix)
        attrs[f"{kind}_basis_lag_offset"] = basis.lag_offset
        attrs[f"{kind}_basis_name"] = basis.name
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _point_dataset(net: GLMNetwork, params: GLMParams, kind: str, fit: MAPResult | None):
    import xarray as xr

    coords = {k: v for k, v in coords_for(net).items() if not k.endswith("_lag")}
    variables = {}
    for site, value in zip(_SITES, params):
        if np.size(value) or site == "bias":
            variables[site] = (_SITE_DIMS[site], np.asarray(value))
    if fit is not None:
        coords["feature"] = net.feature_names()
        coords["feature_column"] = net.feature_names()
        variables["covariance"] = (("neuron", "feature", "feature_column"), np.asarray(fit.covariance))
        for site, value in zip(_SITES, fit.standard_errors):
            if np.size(value) or site == "bias":
                variables[f"{site}_standard_error"] = (_SITE_DIMS[site], np.asarray(value))
        for name in _MAP_DIAGNOSTICS:
            value = np.asarray(getattr(fit, name))
            variables[name] = (("neuron",), value.astype(np.int8) if value.dtype == bool else value)
        variables["solver"] = (("neuron",), np.asarray(fit.solver, dtype=str))
    return xr.Dataset(variables, coords=coords, attrs=dict(kind=kind))


def _single_draw(net: GLMNetwork, params: GLMParams):
    """The ``posterior`` group of a point fit: one chain of one draw."""
    import arviz as az

    draws = {site: np.asarray(value)[None, None] for site, value in zip(_SITES, params) if np.size(value)}
    draws["bias"] = np.asarray(params.bias)[None, None]
    batched = GLMParams(*(np.asarray(v)[None, None] for v in params))
    draws.update(posterior_filters(net, batched))
    dims = {k: v for k, v in _SITE_DIMS.items() if k in draws}
    return az.from_dict(posterior=draws, coords=coords_for(net), dims=dims).posterior


def _data_groups(data: SpikeData):
    import xarray as xr

    times = data.t_start + data.dt * np.arange(data.n_bins)
    variables = {"obs": (("time", "neuron"), np.asarray(data.counts))}
    if data.trial_starts is not None:  # bins where each trial of a concatenated recording begins
        variables["trial_start"] = (("trial",), np.asarray(data.trial_starts, np.int64))
    if data.observed is not None:  # the bins where each unit was recorded
        variables["observed"] = (("time", "neuron"), data.observed.astype(np.int8))
    groups = {"observed_data": xr.Dataset(variables, coords={"time": times, "neuron": list(data.neuron_names)})}
    if data.stimulus is not None:
        groups["constant_data"] = xr.Dataset({"stimulus": (("time", "stimulus_dim"), np.asarray(data.stimulus))},
                                             coords={"time": times})
    return groups


def _extras_dataset(extras: dict):
    import xarray as xr

    variables = {}
    for name, value in extras.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"extras keys must be non-empty names without '/', got {name!r}.")
        value = np.asarray(value)
        if value.dtype == object:
            raise TypeError(f"extras[{name!r}] is an array of Python objects; give numbers or strings.")
        variables[name] = ([f"{name}_dim_{k}" for k in range(value.ndim)], value)
    return xr.Dataset(variables)


def _posterior_mean(net: GLMNetwork, posterior) -> GLMParams:
    sites = {site: np.asarray(posterior[site].values).mean(axis=(0, 1)) for site in _SITES if site in posterior}
    n, dtype = net.n_neurons, np.asarray(posterior["bias"].values).dtype
    shapes = dict(stimulus_weights=(n, net.n_stimulus_dims, net.n_stimulus_basis),
                  coupling_weights=(n, n, net.n_history_basis), bias=(n,))
    return GLMParams(*(sites.get(site, np.zeros(shapes[site], dtype)) for site in _SITES))


def save_fit(path, network: GLMNetwork, result, data: SpikeData | None = None, *, posterior=None,
             summary: dict | None = None, extras: dict | None = None, keep_log_likelihood: bool = True):
    """Write a fitted network to one netCDF file (layout: module docstring); returns its path.

    The file is written to a temporary file in the same folder and renamed into place, so an existing file
    is replaced only by a complete one.

    Parameters
    ----------
    path : str or Path
        The file to write (conventionally ``*.nc``).
    network : GLMNetwork
        The fitted network.
    result : MAPResult, GLMParams or arviz.InferenceData
        A MAP fit (stored with its Laplace covariance and diagnostics), parameters, or the draws of
        :func:`~probsnn.fit_nuts` / :func:`~probsnn.fit_svi` / :func:`~probsnn.laplace_posterior` (the point
        estimate is then their posterior mean).
    data : SpikeData, optional
        The data the network was fitted to; stored as ``observed_data``/``constant_data`` and rebuilt by
        :func:`load_fit`.
    posterior : arviz.InferenceData, optional
        Draws to store beside a MAP fit (e.g. the Laplace draws of :func:`~probsnn.laplace_posterior` at it).
    summary : dict, optional
        JSON-serialisable metadata, returned in ``Fit.summary["summary"]``.
    extras : dict of array_like, optional
        Named arrays (numbers or strings) stored in the ``extras`` group.
    keep_log_likelihood : bool
        Keep the pointwise ``log_likelihood`` group of an ``InferenceData`` (it may be large: draws x bins x
        neurons); False drops it.

    Raises
    ------
    TypeError
        For a network, result or posterior of the wrong type, or an observation model other than Poisson or
        Bernoulli.
    ValueError
        When the parameters or data do not fit the network, or ``summary`` is not JSON-serialisable.
    """
    import arviz as az
    import xarray as xr

    if not isinstance(network, GLMNetwork):
        raise TypeError(f"network must be a probsnn.GLMNetwork, got {type(network).__name__}.")
    fit = result if isinstance(result, MAPResult) else None
    if posterior is not None and not isinstance(posterior, az.InferenceData):
        raise TypeError(f"posterior must be an arviz.InferenceData, got {type(posterior).__name__}.")
    if isinstance(result, az.InferenceData):
        if posterior is not None:
            raise ValueError("give the draws either as result or as posterior=, not both.")
        posterior, params, kind = result, None, "posterior_mean"
        if "posterior" not in result.groups() or "bias" not in result.posterior:
            raise ValueError("result is an InferenceData without the posterior draws of a GLM network "
                             "(posterior.bias); pass the output of fit_nuts, fit_svi or laplace_posterior.")
        method = str(result.attrs.get("method", "posterior"))
    elif isinstance(result, (MAPResult, GLMParams)):
        params = network.check_params(result.params if fit is not None else result)
        kind, method = ("map", "map") if fit is not None else ("given", "params")
        if posterior is not None:
            method = str(posterior.attrs.get("method", method))
    else:
        raise TypeError("result must be a probsnn.MAPResult, GLMParams or arviz.InferenceData, got "
                        f"{type(result).__name__}.")
    if data is not None:
        if not isinstance(data, SpikeData):
            raise TypeError(f"data must be a probsnn.SpikeData, got {type(data).__name__}.")
        if network.n_latent == 0:
            network.check_data(data)
        elif data.n_neurons != network.n_visible:
            raise ValueError(f"data has {data.n_neurons} neurons, the network {network.n_visible} visible ones.")
    try:
        summary_json = json.dumps(summary or {})
    except (TypeError, ValueError) as err:
        raise ValueError(f"summary must be JSON-serialisable: {err}") from None

    groups = {"network": _network_dataset(network)}
    if posterior is not None:
        for name in posterior.groups():
            if name == "log_likelihood" and not keep_log_likelihood:
                continue
            if name in ("observed_data", "constant_data") and data is not None:
                continue
            groups[name] = getattr(posterior, name)
        if params is None:
            params = network.check_params(_posterior_mean(network, posterior.posterior))
    else:
        groups["posterior"] = _single_draw(network, params)
    groups["point_estimate"] = _point_dataset(network, params, kind, fit)
    if data is not None:
        groups.update(_data_groups(data))
    if extras:
        groups["extras"] = _extras_dataset(extras)
    attrs = dict(probsnn_format=FORMAT_NAME, probsnn_format_version=FORMAT_VERSION,
                 probsnn_version=_version(), method=method, point_estimate=kind, summary_json=summary_json,
                 description="a fitted probsnn GLM network; read it with probsnn.load_fit")
    if data is not None:
        attrs.update(data_dt=float(data.dt), data_t_start=float(data.t_start), data_n_bins=int(data.n_bins))
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the network/point_estimate/extras groups are probsnn's own
        idata = az.InferenceData(attrs=attrs, **{k: v for k, v in groups.items() if isinstance(v, xr.Dataset)})
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        idata.to_netcdf(temporary, engine="h5netcdf")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _version() -> str:
    from ._version import __version__

    return __version__


# ================================================================== reading
def _check_format(path: Path) -> dict:
    """The root attributes of ``path``, after checking that it is a probsnn fit of this format version."""
    import h5netcdf

    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with h5netcdf.File(path, mode="r") as handle:
            attrs = {k: handle.attrs[k] for k in handle.attrs}
            groups = set(handle.groups)
    except OSError:
        raise FitFileError(f"{path} is not a probsnn fit file: it is not a netCDF-4 (HDF5) file at all; write "
                           "fits with probsnn.save_fit or probsnn fit.") from None
    if attrs.get("probsnn_format") != FORMAT_NAME:
        raise FitFileError(f"{path} is a netCDF file but not a probsnn fit (no probsnn_format='{FORMAT_NAME}' "
                           "attribute); write fits with probsnn.save_fit or probsnn fit.")
    version = attrs.get("probsnn_format_version")
    if not isinstance(version, (int, np.integer)) or int(version) != FORMAT_VERSION:
        raise FitFileError(f"{path} is a probsnn fit of format version {version}, but this probsnn "
                           f"({_version()}) reads version {FORMAT_VERSION} only; read it with the probsnn version "
                           f"that wrote it ({attrs.get('probsnn_version', 'unknown')}) or fit again.")
    missing = {"network", "point_estimate", "posterior"} - groups
    if missing:
        raise FitFileError(f"{path} is a probsnn fit file without its {sorted(missing)} group(s): it is damaged; "
                           "fit again.")
    return attrs


def _network_from(ds) -> GLMNetwork:
    a = ds.attrs
    bases = {}
    for kind in ("stimulus", "history"):
        bases[kind] = None
        if int(a[f"has_{kind}_basis"]):
            bases[kind] = Basis(np.asarray(ds[f"{kind}_basis_matrix"].values), int(a[f"{kind}_basis_lag_offset"]),
                                str(a[f"{kind}_basis_name"]))
    return GLMNetwork(int(a["n_visible"]), int(a["n_latent"]), stimulus_basis=bases["stimulus"],
                      history_basis=bases["history"], n_stimulus_dims=int(a["n_stimulus_dims"]),
                      observation=str(a["observation"]), temperature=float(a["temperature"]), link=str(a["link"]),
                      coupling_mask=np.asarray(ds["coupling_mask"].values, bool),
                      stimulus_mask=np.asarray(ds["stimulus_mask"].values, bool).reshape(
                          int(a["n_visible"]) + int(a["n_latent"]), int(a["n_stimulus_dims"])),
                      neuron_names=[str(v) for v in ds["neuron"].values],
                      trial_edges=str(a.get("trial_edges", "zero-pad")))


def _params_from(net: GLMNetwork, ds, suffix: str = "") -> GLMParams:
    n = net.n_neurons
    shapes = dict(stimulus_weights=(n, net.n_stimulus_dims, net.n_stimulus_basis),
                  coupling_weights=(n, n, net.n_history_basis), bias=(n,))
    dtype = ds[f"bias{suffix}"].dtype
    return GLMParams(*(np.asarray(ds[f"{site}{suffix}"].values) if f"{site}{suffix}" in ds
                       else np.zeros(shapes[site], dtype) for site in _SITES))


def load_fit(path) -> Fit:
    """Read a file written by :func:`save_fit` (or ``probsnn fit``) back into a :class:`Fit`.

    Raises
    ------
    FileNotFoundError
        When there is no file at ``path``.
    FitFileError
        A ``ValueError`` with one line naming the file: it is not a netCDF file, not a probsnn fit, a fit of
        another format version, or damaged.
    """
    import arviz as az

    path = Path(path)
    attrs = _check_format(path)
    with warnings.catch_warnings(), az.rc_context({"data.load": "eager"}):
        warnings.simplefilter("ignore", UserWarning)
        idata = az.from_netcdf(path, engine="h5netcdf")
    groups = {name: getattr(idata, name) for name in idata.groups()}
    try:
        net = _network_from(groups.pop("network"))
        point = groups.pop("point_estimate")
        params = _params_from(net, point)
    except (KeyError, ValueError, TypeError) as err:
        raise FitFileError(f"{path} is a probsnn fit file whose network or point estimate cannot be read ({err}): "
                           "it is damaged; fit again.") from None
    covariance = standard_errors = None
    diagnostics = {}
    if "covariance" in point:
        covariance = np.asarray(point["covariance"].values)
        standard_errors = _params_from(net, point, "_standard_error")
        diagnostics = {name: np.asarray(point[name].values) for name in _MAP_DIAGNOSTICS}
        diagnostics["converged"] = diagnostics["converged"].astype(bool)
        diagnostics["solver"] = [str(v) for v in point["solver"].values]
    data = None
    if "observed_data" in groups and "data_dt" in attrs:
        stimulus = groups["constant_data"]["stimulus"].values if "constant_data" in groups else None
        recorded = groups["observed_data"]
        observed = recorded["obs"]
        data = SpikeData(np.asarray(observed.values), float(attrs["data_dt"]),
                         None if stimulus is None else np.asarray(stimulus),
                         tuple(str(v) for v in observed.coords["neuron"].values), float(attrs["data_t_start"]),
                         trial_starts=(tuple(int(k) for k in recorded["trial_start"].values)
                                       if "trial_start" in recorded else None),
                         observed=np.asarray(recorded["observed"].values, bool) if "observed" in recorded else None)
    extras = {k: np.asarray(v.values) for k, v in groups.pop("extras").data_vars.items()} if "extras" in groups else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        posterior = az.InferenceData(**groups)
    posterior.attrs.update({k: v for k, v in attrs.items() if k != "summary_json"})
    summary = dict(format=str(attrs["probsnn_format"]), format_version=int(attrs["probsnn_format_version"]),
                   probsnn_version=str(attrs.get("probsnn_version", "")), method=str(attrs["method"]),
                   point_estimate=str(attrs["point_estimate"]), summary=json.loads(str(attrs["summary_json"])))
    if data is not None:
        summary.update(dt=data.dt, t_start=data.t_start, n_bins=data.n_bins)
    return Fit(network=net, params=params, point_estimate=str(attrs["point_estimate"]), method=str(attrs["method"]),
               covariance=covariance, standard_errors=standard_errors, posterior=posterior, data=data,
               summary=summary, extras=extras, map_diagnostics=diagnostics)

