r"""Observation models: the law of a neuron's spike count given its membrane potential.

An observation model is all a learner knows about the noise (as NeMoS's ``observation_models``): each one owns

* ``log_prob(counts, potential)``: :math:`\log p(s \mid u)`, and ``unnormalised_log_prob`` without the terms that
  depend on the counts only;
* ``mean(potential)``: :math:`E[s \mid u]`, the inverse link, in spikes per bin;
* ``score(counts, potential)``: :math:`\partial \log p(s \mid u) / \partial u`, the post-synaptic error of every
  local learning rule (three-factor VI, policy gradient, streaming);
* ``inverse_link(mean)``: the potential with that mean (for initial intercepts), and ``mean_bounds``, the open
  interval a mean must lie in;
* ``sample(key, potential)`` and ``numpyro_distribution(potential)``;
* ``safe_potential_bound``: the potential above which the mean count exceeds
  :data:`probsnn.data.MAX_COUNT_PER_BIN` (``2**24``) spikes per bin, i.e. the sampled counts overflow what a
  recording can hold (``inf`` for Bernoulli, whose counts are bounded).

MAP fitting, NUTS, SVI, Laplace, synaptic sampling and the online rules call these; none of them branches on
the family.

References
----------
Pillow et al. (2008), Nature 454:995 (Poisson GLM). Jang, Simeone, Gardner & Gruning (2019), IEEE Signal
Processing Magazine 36(6):64-77 (Bernoulli GLM neurons and their local learning rules).
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

from .._checks import one_of, positive_float
from ..data import MAX_COUNT_PER_BIN

__all__ = ["PoissonObservation", "BernoulliObservation", "PoissonLogRate", "make_observation"]


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


def make_observation(observation, temperature: float = 1.0, link: str = "exp"):
    """An observation model from a name (``"poisson"``, ``"bernoulli"``) or an instance."""
    if isinstance(observation, (PoissonObservation, BernoulliObservation)):
        return observation
    one_of("observation", observation, ("poisson", "bernoulli"))
    if observation == "poisson":
        return PoissonObservation(link=link)
    return BernoulliObservation(temperature=temperature)
