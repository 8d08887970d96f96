r"""Observation models: the law of a neuron's spike count (or continuous response) given its membrane potential.

An observation model is all a learner knows about the noise (as NeMoS's ``observation_models``): each one owns

* ``log_prob(counts, potential)``: :math:`\log p(s \mid u)`, and ``unnormalised_log_prob`` without the terms that
  depend on the counts only;
* ``mean(potential)``: :math:`E[s \mid u]`, the inverse link, in spikes per bin;
* ``score(counts, potential)``: :math:`\partial \log p(s \mid u) / \partial u`, the post-synaptic error of every
  local learning rule (three-factor VI, policy gradient, streaming);
* ``inverse_link(mean)``: the potential with that mean (for initial intercepts), and ``mean_bounds``, the open
  interval a mean must lie in;
* ``sample(key, potential)`` and ``numpyro_distribution(potential)``;
* ``check_response(data)``: refuses data the law cannot hold (non-binary spikes for Bernoulli, a
  :class:`~probsnn.ContinuousData` for a count law, non-positive values for Gamma), called by
  :meth:`probsnn.GLMNetwork.check_data`;
* ``safe_potential_bound``: the potential above which the mean count exceeds
  :data:`probsnn.data.MAX_COUNT_PER_BIN` (``2**24``) spikes per bin, i.e. the sampled counts overflow what a
  recording can hold (``inf`` for Bernoulli, whose counts are bounded).

MAP fitting, NUTS, SVI, Laplace, synaptic sampling and the online rules call these; none of them branches on
the family.

The families: :class:`PoissonObservation` and :class:`BernoulliObservation` (spike counts, no dispersion),
:class:`NegativeBinomialObservation` (overdispersed counts, NB2 with dispersion :math:`\alpha`),
:class:`GammaObservation` (positive continuous responses, dispersion :math:`\phi`) and
:class:`GaussianObservation` (real continuous responses, variance :math:`\sigma^2`). A dispersion is a fixed
part of the law (one value, or one per neuron); :func:`probsnn.fit_dispersion` estimates it.

References
----------
Pillow et al. (2008), Nature 454:995 (Poisson GLM). Jang, Simeone, Gardner & Gruning (2019), IEEE Signal
Processing Magazine 36(6):64-77 (Bernoulli GLM neurons and their local learning rules). Cameron & Trivedi
(2013), Regression Analysis of Count Data, 2nd ed., ch. 3 (NB2). McCullagh & Nelder (1989), Generalized
Linear Models, 2nd ed., ch. 8 (Gamma GLMs, the Pearson dispersion estimate).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.util import validate_sample

from .._checks import first_index, one_of, positive_float
from ..data import MAX_COUNT_PER_BIN, ContinuousData

__all__ = ["PoissonObservation", "BernoulliObservation", "NegativeBinomialObservation", "GammaObservation",
           "GaussianObservation", "PoissonLogRate", "make_observation", "OBSERVATION_NAMES"]

#: The names :func:`make_observation` knows.
OBSERVATION_NAMES = ("poisson", "bernoulli", "negative_binomial", "gamma", "gaussian")


@dataclass(frozen=True)
class PoissonObservation:
    r"""Poisson spike counts with rate per bin :math:`\lambda = f(u)`, ``link`` ``"exp"`` or ``"softplus"``.

    .. math::
        \log p(y \mid u) = y \log\lambda - \lambda - \log y!, \qquad
        \frac{\partial \log p}{\partial u} = \Big(\frac{y}{\lambda} - 1\Big) f'(u)
        \;\; (= y - e^{u} \text{ for the exp link}).
    """

    link: str = "exp"
    name = "poisson"
    #: Counts (:class:`~probsnn.SpikeData`) or continuous values (:class:`~probsnn.ContinuousData`)
    discrete = True
    mean_bounds = (0.0, math.inf)

    def __post_init__(self):
        if self.link not in ("exp", "softplus"):
            raise ValueError(f"Poisson link must be 'exp' or 'softplus', got {self.link!r}.")

    def mean(self, potential):
        return jnp.exp(potential) if self.link == "exp" else jax.nn.softplus(potential)

    @property
    def safe_potential_bound(self) -> float:
        """The potential whose mean is ``MAX_COUNT_PER_BIN`` spikes per bin: ``log(2**24)`` (about 16.6) for
        the exp link, about ``2**24`` for softplus. Above it a network is explosive (its counts overflow)."""
        return float(self.inverse_link(float(MAX_COUNT_PER_BIN)))

    def inverse_link(self, mean):
        """The potential whose mean is ``mean`` (counts per bin > 0): ``log(mean)`` or ``log(expm1(mean))``
        (evaluated as ``mean + log(-expm1(-mean))``, which does not overflow for large means)."""
        mean = np.asarray(mean, dtype=np.float64)
        return np.log(mean) if self.link == "exp" else mean + np.log(-np.expm1(-mean))

    def log_prob(self, counts, potential):
        return self.unnormalised_log_prob(counts, potential) - jax.scipy.special.gammaln(counts + 1.0)

    def unnormalised_log_prob(self, counts, potential):
        """``log p(counts | potential)`` without ``-log(counts!)``, a term that does not depend on the
        potential (optimisers compare and differentiate this cheaper form)."""
        counts = counts.astype(potential.dtype)
        if self.link == "exp":
            log_rate, rate = potential, jnp.exp(potential)
        else:
            rate = jax.nn.softplus(potential)
            log_rate = jnp.log(rate)
        return counts * log_rate - rate

    def score(self, counts, potential):
        r""":math:`\partial \log p(y \mid u) / \partial u`."""
        counts = jnp.asarray(counts, potential.dtype)
        if self.link == "exp":
            return counts - jnp.exp(potential)
        return (counts / jax.nn.softplus(potential) - 1.0) * jax.nn.sigmoid(potential)

    def sample(self, key, potential):
        return jax.random.poisson(key, self.mean(potential)).astype(potential.dtype)

    def check_response(self, data) -> None:
        """Spike counts only: a :class:`~probsnn.ContinuousData` is refused."""
        _refuse_continuous(self, data)

    def numpyro_distribution(self, potential):
        """The NumPyro distribution of the counts given the potential (:class:`PoissonLogRate` for the exp link)."""
        if self.link == "exp":
            return PoissonLogRate(potential)
        return dist.Poisson(self.mean(potential))


@dataclass(frozen=True)
class BernoulliObservation:
    r"""At most one spike per bin: :math:`P(s=1 \mid u) = \sigma(u / \mathrm{temperature})`.

    .. math::
        \log p(s \mid u) = s\,z - \mathrm{softplus}(z), \quad z = u / \tau, \qquad
        \frac{\partial \log p}{\partial u} = \frac{s - \sigma(u/\tau)}{\tau}.

    As the temperature goes to 0 the neuron fires deterministically when :math:`u > 0`.
    """

    temperature: float = 1.0
    name = "bernoulli"
    discrete = True
    mean_bounds = (0.0, 1.0)

    def __post_init__(self):
        positive_float("temperature", self.temperature)

    def mean(self, potential):
        return jax.nn.sigmoid(potential / self.temperature)

    #: Bernoulli counts are 0 or 1 whatever the potential: no potential makes them overflow.
    safe_potential_bound = math.inf

    def inverse_link(self, mean):
        """The potential whose spike probability is ``mean`` in (0, 1): ``temperature * logit(mean)``."""
        mean = np.asarray(mean, dtype=np.float64)
        return self.temperature * np.log(mean / (1.0 - mean))

    def log_prob(self, counts, potential):
        logits = potential / self.temperature
        return counts.astype(potential.dtype) * logits - jax.nn.softplus(logits)

    def unnormalised_log_prob(self, counts, potential):
        """The Bernoulli log-probability has no count-only term: the same as :meth:`log_prob`."""
        return self.log_prob(counts, potential)

    def score(self, counts, potential):
        r""":math:`\partial \log p(s \mid u) / \partial u = (s - \sigma(u/\tau)) / \tau`."""
        counts = jnp.asarray(counts, potential.dtype)
        return (counts - jax.nn.sigmoid(potential / self.temperature)) / self.temperature

    def sample(self, key, potential):
        return jax.random.bernoulli(key, self.mean(potential)).astype(potential.dtype)

    def check_response(self, data) -> None:
        """Binary spikes only (:meth:`probsnn.SpikeData.check_binary`); a :class:`~probsnn.ContinuousData` is
        refused."""
        _refuse_continuous(self, data)
        data.check_binary()

    def numpyro_distribution(self, potential):
        return dist.Bernoulli(logits=potential / self.temperature)


class PoissonLogRate(dist.Distribution):
    r"""Poisson counts parametrised by the log rate :math:`\eta`: the exp-link GLM's spike-count law.

    .. math::
        \log p(y \mid \eta) = y\,\eta - e^{\eta} - \log y!

    The same law as ``numpyro.distributions.Poisson(jnp.exp(eta))``, without the ``log(exp(eta))`` and
    ``xlogy`` that the rate form puts into every log-density gradient (NUTS and SVI evaluate it
    thousands of times over ``T x N`` bins; this form makes such a gradient about 1.5x cheaper).
    """

    arg_constraints = {"log_rate": constraints.real}
    support = constraints.nonnegative_integer
    is_discrete = True

    def __init__(self, log_rate, *, validate_args=None):
        self.log_rate = log_rate
        super().__init__(batch_shape=jnp.shape(log_rate), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        return jax.random.poisson(key, jnp.exp(self.log_rate), shape=sample_shape + self.batch_shape)

    @validate_sample
    def log_prob(self, value):
        return PoissonObservation("exp").log_prob(jnp.asarray(value), self.log_rate)

    @property
    def mean(self):
        return jnp.exp(self.log_rate)

    @property
    def variance(self):
        return jnp.exp(self.log_rate)



def _refuse_continuous(law, data) -> None:
    """A count law cannot hold the real values of a :class:`~probsnn.ContinuousData`."""
    if isinstance(data, ContinuousData):
        raise ValueError(
            f"the {law.name} observation model is a law of spike counts, but data is a ContinuousData (real "
            "values); pass a SpikeData of counts, or use observation='gamma' (positive values) or 'gaussian'."
        )


def _check_dispersion(name: str, value):
    """A positive float, or a tuple of positive floats (one per neuron): hashable, so the law stays a static
    argument of the jitted fitters."""
    if np.ndim(value) == 0:
        return positive_float(name, value)
    values = np.asarray(value, dtype=object).ravel()
    if np.ndim(value) != 1 or values.size == 0:
        raise ValueError(f"{name} must be a positive number or a 1-D sequence of them (one per neuron), "
                         f"got shape {np.shape(value)}.")
    return tuple(positive_float(f"{name}[{i}]", v) for i, v in enumerate(values))


def _check_dispersion_length(law, data) -> None:
    """One dispersion per neuron when the law holds a tuple of them."""
    if isinstance(law.dispersion, tuple) and len(law.dispersion) != data.n_neurons:
        raise ValueError(f"the {law.name} observation has {len(law.dispersion)} dispersions (one per neuron) but "
                         f"data has {data.n_neurons} neurons; give one value, or one per neuron.")


def _as_array(dispersion, dtype):
    return jnp.asarray(dispersion, dtype)


def _negative_binomial_kernel(counts, potential, alpha):
    return counts * potential - (counts + 1.0 / alpha) * jax.nn.softplus(potential + jnp.log(alpha))


def negative_binomial_log_prob(counts, potential, dispersion):
    r"""The NB2 log-probability of :class:`NegativeBinomialObservation` as a function of the dispersion too
    (which may be traced: :func:`probsnn.fit_dispersion` differentiates in it)."""
    counts = jnp.asarray(counts).astype(potential.dtype)
    gammaln = jax.scipy.special.gammaln
    return (_negative_binomial_kernel(counts, potential, dispersion) + counts * jnp.log(dispersion)
            + gammaln(counts + 1.0 / dispersion) - gammaln(1.0 / dispersion) - gammaln(counts + 1.0))


class _LogLinkDispersion:
    """What the negative binomial and Gamma laws share: a validated ``dispersion`` field and the log link."""

    def __post_init__(self):
        object.__setattr__(self, "dispersion", _check_dispersion("dispersion", self.dispersion))

    def with_dispersion(self, dispersion):
        """The same law with another dispersion."""
        return type(self)(dispersion)

    def mean(self, potential):
        return jnp.exp(potential)

    def inverse_link(self, mean):
        """``log(mean)``."""
        return np.log(np.asarray(mean, dtype=np.float64))


@dataclass(frozen=True)
class NegativeBinomialObservation(_LogLinkDispersion):
    r"""Overdispersed spike counts: the negative binomial NB2 law with mean :math:`\mu = e^{u}` and variance
    :math:`\mu + \alpha\mu^2` (Cameron & Trivedi 2013, ch. 3), a Gamma-Poisson mixture.

    .. math::
        \log p(y \mid u) = \log\frac{\Gamma(y + \alpha^{-1})}{\Gamma(\alpha^{-1})\,y!}
        + y \log(\alpha\mu) - (y + \alpha^{-1}) \log(1 + \alpha\mu), \qquad
        \frac{\partial \log p}{\partial u} = \frac{y - \mu}{1 + \alpha\mu}.

    This is ``scipy.stats.nbinom(n=1/alpha, p=1/(1 + alpha mu))``; as :math:`\alpha \to 0` it tends to
    Poisson. With :math:`\alpha` fixed it is a GLM with the (non-canonical) log link, fitted by
    :func:`probsnn.fit_map`; :func:`probsnn.fit_dispersion` estimates :math:`\alpha` by maximum likelihood.

    Parameters
    ----------
    dispersion : float or tuple of float
        :math:`\alpha > 0`, one for all neurons or one per neuron.
    """

    dispersion: float | tuple = 1.0
    name = "negative_binomial"
    discrete = True
    mean_bounds = (0.0, math.inf)


    @property
    def safe_potential_bound(self) -> float:
        """``log(2**24)``: above it the mean count exceeds ``MAX_COUNT_PER_BIN`` (see :class:`PoissonObservation`)."""
        return float(self.inverse_link(float(MAX_COUNT_PER_BIN)))

    def log_prob(self, counts, potential):
        return negative_binomial_log_prob(counts, potential, _as_array(self.dispersion, potential.dtype))

    def unnormalised_log_prob(self, counts, potential):
        r"""``log p`` without the terms free of the potential: :math:`y u - (y + \alpha^{-1})
        \operatorname{softplus}(u + \log\alpha)`."""
        return _negative_binomial_kernel(counts.astype(potential.dtype), potential,
                                         _as_array(self.dispersion, potential.dtype))

    def score(self, counts, potential):
        r""":math:`\partial \log p / \partial u = (y - \mu) / (1 + \alpha\mu)`."""
        counts = jnp.asarray(counts, potential.dtype)
        alpha = _as_array(self.dispersion, potential.dtype)
        return counts - (counts + 1.0 / alpha) * jax.nn.sigmoid(potential + jnp.log(alpha))

    def sample(self, key, potential):
        """Gamma-Poisson: :math:`\\lambda \\sim \\mathrm{Gamma}(\\alpha^{-1}, \\text{scale}=\\alpha\\mu)`,
        :math:`y \\sim \\mathrm{Poisson}(\\lambda)`."""
        alpha = _as_array(self.dispersion, potential.dtype)
        key_rate, key_count = jax.random.split(key)
        shape = 1.0 / alpha
        rate = jax.random.gamma(key_rate, jnp.broadcast_to(shape, potential.shape), dtype=potential.dtype)
        return jax.random.poisson(key_count, rate * alpha * self.mean(potential)).astype(potential.dtype)

    def numpyro_distribution(self, potential):
        """``numpyro.distributions.NegativeBinomial2(mean=exp(u), concentration=1/alpha)``."""
        alpha = _as_array(self.dispersion, potential.dtype)
        return dist.NegativeBinomial2(self.mean(potential), jnp.broadcast_to(1.0 / alpha, potential.shape))

    def check_response(self, data) -> None:
        """Spike counts only (a :class:`~probsnn.ContinuousData` is refused), one dispersion or one per neuron."""
        _refuse_continuous(self, data)
        _check_dispersion_length(self, data)


@dataclass(frozen=True)
class GammaObservation(_LogLinkDispersion):
    r"""Positive continuous responses with mean :math:`\mu = e^{u}` and variance :math:`\phi\mu^2` (a Gamma law of
    shape :math:`\nu = 1/\phi`; McCullagh & Nelder 1989, ch. 8).

    .. math::
        \log p(y \mid u) = \nu\log\nu - \log\Gamma(\nu) + (\nu - 1)\log y - \nu u - \nu y e^{-u}, \qquad
        \frac{\partial \log p}{\partial u} = \nu\,(y e^{-u} - 1).

    This is ``scipy.stats.gamma(a=1/phi, scale=phi * mu)``. The maximum-likelihood weights do not depend on
    :math:`\phi`; the curvature, hence every standard error, scales as :math:`1/\phi`. Data are a
    :class:`~probsnn.ContinuousData` (or counts that are all positive).

    Parameters
    ----------
    dispersion : float or tuple of float
        :math:`\phi > 0` (statsmodels' ``scale``), one for all neurons or one per neuron;
        :func:`probsnn.fit_dispersion` estimates it by Pearson's :math:`\chi^2 / (n - p)`.
    """

    dispersion: float | tuple = 1.0
    name = "gamma"
    discrete = False
    mean_bounds = (0.0, math.inf)
    #: A continuous response has no count to overflow; only non-finite values mark a runaway simulation.
    safe_potential_bound = math.inf


    def unit_variance(self, mean):
        r"""The variance function :math:`V(\mu) = \mu^2` (variance :math:`\phi V(\mu)`)."""
        return mean**2

    def log_prob(self, counts, potential):
        """``log p``; ``-inf`` where a value is not positive."""
        counts = counts.astype(potential.dtype)
        shape = 1.0 / _as_array(self.dispersion, potential.dtype)
        positive = counts > 0
        log_value = jnp.log(jnp.where(positive, counts, 1.0))
        value = (self.unnormalised_log_prob(counts, potential) + shape * jnp.log(shape)
                 - jax.scipy.special.gammaln(shape) + (shape - 1.0) * log_value)
        return jnp.where(positive, value, -jnp.inf)

    def unnormalised_log_prob(self, counts, potential):
        r"""``log p`` without the terms free of the potential: :math:`-\nu (u + y e^{-u})`."""
        counts = counts.astype(potential.dtype)
        shape = 1.0 / _as_array(self.dispersion, potential.dtype)
        return -shape * (potential + counts * jnp.exp(-potential))

    def score(self, counts, potential):
        r""":math:`\partial \log p / \partial u = \nu (y e^{-u} - 1)`."""
        counts = jnp.asarray(counts, potential.dtype)
        shape = 1.0 / _as_array(self.dispersion, potential.dtype)
        return shape * (counts * jnp.exp(-potential) - 1.0)

    def sample(self, key, potential):
        shape = jnp.broadcast_to(1.0 / _as_array(self.dispersion, potential.dtype), potential.shape)
        return jax.random.gamma(key, shape, dtype=potential.dtype) * self.mean(potential) / shape

    def numpyro_distribution(self, potential):
        """``numpyro.distributions.Gamma(concentration=nu, rate=nu / mu)``."""
        shape = jnp.broadcast_to(1.0 / _as_array(self.dispersion, potential.dtype), potential.shape)
        return dist.Gamma(shape, shape * jnp.exp(-potential))

    def check_response(self, data) -> None:
        """Positive values in every bin, and no ``observed`` mask (its unobserved bins hold 0, where the Gamma
        density is 0); one dispersion or one per neuron."""
        _check_dispersion_length(self, data)
        if data.observed is not None:
            raise ValueError("the gamma observation model needs every bin observed (data.observed is None): the "
                             "unobserved bins hold 0, outside the Gamma support. Fit the observed segments only "
                             "(SpikeData.time_slice) or use observation='gaussian'.")
        not_positive = data.counts <= 0
        if not_positive.any():
            t, n = first_index(not_positive)
            raise ValueError(
                f"the gamma observation model needs positive values, but bin {t} of neuron "
                f"{data.neuron_names[n]!r} holds {data.counts[t, n]} ({int(not_positive.sum())} such bins). "
                "Use observation='gaussian', or shift the responses."
            )


@dataclass(frozen=True)
class GaussianObservation:
    r"""Real continuous responses with the identity link: :math:`y \mid u \sim \mathcal N(u, \sigma^2)`.

    .. math::
        \log p(y \mid u) = -\tfrac12\log(2\pi\sigma^2) - \frac{(y - u)^2}{2\sigma^2}, \qquad
        \frac{\partial \log p}{\partial u} = \frac{y - u}{\sigma^2}.

    With :math:`\sigma^2` fixed the maximum-likelihood weights are ordinary least squares (one Newton step of
    :func:`probsnn.fit_map`); the standard errors scale as :math:`\sigma`. Data are a
    :class:`~probsnn.ContinuousData` (or counts).

    Parameters
    ----------
    variance : float or tuple of float
        :math:`\sigma^2 > 0` (the dispersion), one for all neurons or one per neuron;
        :func:`probsnn.fit_dispersion` estimates it as the residual variance :math:`\mathrm{RSS}/(n - p)`.
    """

    variance: float | tuple = 1.0
    name = "gaussian"
    discrete = False
    mean_bounds = (-math.inf, math.inf)
    #: A continuous response has no count to overflow; only non-finite values mark a runaway simulation.
    safe_potential_bound = math.inf

    def __post_init__(self):
        object.__setattr__(self, "variance", _check_dispersion("variance", self.variance))

    @property
    def dispersion(self):
        """The variance :math:`\\sigma^2`."""
        return self.variance

    def with_dispersion(self, dispersion) -> "GaussianObservation":
        """The same law with another variance."""
        return GaussianObservation(dispersion)

    def mean(self, potential):
        return potential

    def unit_variance(self, mean):
        r"""The variance function :math:`V(\mu) = 1` (variance :math:`\sigma^2`)."""
        return jnp.ones_like(mean)

    def inverse_link(self, mean):
        """The identity."""
        return np.asarray(mean, dtype=np.float64)

    def log_prob(self, counts, potential):
        variance = _as_array(self.variance, potential.dtype)
        return self.unnormalised_log_prob(counts, potential) - 0.5 * jnp.log(2.0 * jnp.pi * variance)

    def unnormalised_log_prob(self, counts, potential):
        r"""``log p`` without the constant: :math:`-(y - u)^2 / (2\sigma^2)`."""
        counts = counts.astype(potential.dtype)
        return -0.5 * (counts - potential) ** 2 / _as_array(self.variance, potential.dtype)

    def score(self, counts, potential):
        r""":math:`\partial \log p / \partial u = (y - u) / \sigma^2`."""
        counts = jnp.asarray(counts, potential.dtype)
        return (counts - potential) / _as_array(self.variance, potential.dtype)

    def sample(self, key, potential):
        scale = jnp.sqrt(_as_array(self.variance, potential.dtype))
        return potential + scale * jax.random.normal(key, potential.shape, potential.dtype)

    def numpyro_distribution(self, potential):
        """``numpyro.distributions.Normal(u, sigma)``."""
        scale = jnp.sqrt(_as_array(self.variance, potential.dtype))
        return dist.Normal(potential, jnp.broadcast_to(scale, potential.shape))

    def check_response(self, data) -> None:
        """Any finite value; one variance or one per neuron."""
        _check_dispersion_length(self, data)


_LAWS = (PoissonObservation, BernoulliObservation, NegativeBinomialObservation, GammaObservation,
         GaussianObservation)


def make_observation(observation, temperature: float = 1.0, link: str = "exp", dispersion=1.0):
    """An observation model from a name in :data:`OBSERVATION_NAMES` or an instance (returned as it is).

    ``temperature`` is Bernoulli's, ``link`` Poisson's, ``dispersion`` the negative binomial's :math:`\\alpha`,
    the Gamma's :math:`\\phi` or the Gaussian's variance (each ignored by the other families).
    """
    if isinstance(observation, _LAWS):
        return observation
    one_of("observation", observation, OBSERVATION_NAMES)
    if observation == "poisson":
        return PoissonObservation(link=link)
    if observation == "bernoulli":
        return BernoulliObservation(temperature=temperature)
    return {"negative_binomial": NegativeBinomialObservation, "gamma": GammaObservation,
            "gaussian": GaussianObservation}[observation](dispersion)
