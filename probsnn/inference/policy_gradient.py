r"""First-to-spike control policies trained by policy-gradient reinforcement learning.

The approach of Rosenfeld, Simeone & Rajendran, "Learning first-to-spike policies for neuromorphic control
using policy gradients" (IEEE SPAWC 2019, arXiv:1810.09977). At every environment step the observation
``o`` is encoded into input spike trains ``x_{1:T}`` (:class:`OneHotEncoder`, :class:`PopulationEncoder`),
a GLM spiking network (:class:`~probsnn.GLMNetwork`; the first ``A`` neurons are the
*output* neurons, one per action, optional latent neurons follow) runs for at most ``T`` bins, and the first
output neuron to spike selects the action.

**The policy.** Each neuron spikes with :math:`P(s_{i,t}=1) = \sigma(u_{i,t}/\tau)` (the GLM Bernoulli
neuron, :mod:`probsnn.neurons.glm`). The decision time is
:math:`t^\star = \min\{t : \sum_{a<A} s_{a,t} > 0\}`. The action is then drawn **uniformly among the output
neurons that spike in bin** :math:`t^\star` (exact tie rule). When no output neuron spikes within ``T`` bins
(no-spike rule) the action is either a configurable default action (``no_spike=a``) or uniform over the
``A`` actions (``no_spike="uniform"``). Both rules enter the policy's probability, so

.. math::
    \pi_\theta(a \mid o) = \sum_{s_{1:t^\star}} \prod_{t \le t^\star}\prod_i p_\theta(s_{i,t}\mid u_{i,t})
                           \; \rho(a \mid s_{t^\star}),

where :math:`\rho` is the tie / no-spike distribution, which does not depend on :math:`\theta`. The
log-probability of the sampled *decision* (spike path up to :math:`t^\star` and action) is
:math:`\sum_{t\le t^\star}\sum_i \log p_\theta(s_{i,t}\mid u_{i,t}) + \log\rho(a\mid s_{t^\star})` and its
gradient is the sum of the **local** three-factor scores
:math:`\frac{s_{i,t}-\sigma(u_{i,t}/\tau)}{\tau}\,\vec x_{j,t}` of :meth:`probsnn.GLMNetwork.local_score`
over :math:`t \le t^\star` (``t^\star = T`` when nothing spiked). Spikes after the decision are never used.

**REINFORCE** (Williams 1992). Along an episode with per-step rewards
:math:`\tilde r_k = r_k - \lambda\, n_k` (``n_k`` spikes emitted by the network up to the decision of step
``k``, ``lambda`` the ``spike_penalty``), the discounted reward-to-go is
:math:`R_k = \sum_{j\ge k}\gamma^{j-k}\tilde r_j` and the ascent direction

.. math::
    \Delta = \sum_k G_k\,(R_k - b_k), \qquad G_k = \nabla_\theta \log \pi_\theta(\text{decision}_k),

averaged over a batch of episodes (the common discounted-REINFORCE form without the :math:`\gamma^k` factor;
exact for :math:`\gamma = 1`). Baselines :math:`b_k`: none, a moving average of the batch's returns
(``baseline="moving"``) or a learned linear value :math:`b_k = v^\top\phi(o_k) + c` of the encoder's firing
probabilities, fitted by least squares to the returns with Optax (``baseline="learned"``). Both baselines
are fixed during a batch, so the estimate stays unbiased.

* ``variant="episode"``: the scores :math:`G_k` of an episode are stored and combined with the returns at
  the end (batch gradient).
* ``variant="online"``: an eligibility trace :math:`z_k = \gamma\kappa\, z_{k-1} + G_k` and the running
  update :math:`\Delta \mathrel{+}= \tilde r_k z_k - b_k G_k` are carried through the episode, so memory is
  constant in the episode length. With ``trace_decay`` :math:`\kappa = 1` it equals the episode variant
  exactly (:math:`\sum_k \tilde r_k z_k = \sum_k G_k R_k`); :math:`\kappa < 1` truncates credit assignment
  (biased, lower variance). This is a three-factor rule: reward (minus baseline) x eligibility
  (post-synaptic error x pre-synaptic trace).

The parameters ascend :math:`\Delta` through any Optax optimiser (default Adam).

References
----------
Rosenfeld, Simeone & Rajendran (2019), arXiv:1810.09977. Williams (1992), "Simple statistical
gradient-following algorithms for connectionist reinforcement learning", Machine Learning 8:229-256.
Jang, Simeone, Gardner & Gruning (2019), IEEE Signal Processing Magazine 36(6):64-77.
"""
from __future__ import annotations

import itertools
from functools import cached_property
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import check_float, check_int, one_of, positive_float, positive_int
from ..basis import Basis, identity
from ..checkpoint import checkpoint_options, fingerprint, resume_checkpoint, save_checkpoint
from ..neurons.glm import GLMNetwork, GLMParams, StepInput

__all__ = [
    "FirstToSpikePolicy", "Decision", "Trajectory", "Reinforce",
    "TrainState", "discounted_returns",
]


# ============================================================================================ policy
class Decision(NamedTuple):
    """One first-to-spike decision.

    Attributes
    ----------
    action : int array  chosen action
    log_prob : float  ``log`` probability of the spike path up to the decision bin plus ``log rho(a | s)``
    score : GLMParams  gradient of ``log_prob`` (sum of local three-factor scores up to the decision bin)
    decision_time : int  number of bins used (``t* + 1``; ``T`` when no output spiked)
    n_spikes : float  spikes emitted by the network (outputs and latents) in those bins
    spiked : bool  whether an output neuron spiked within ``T``
    """

    action: jax.Array
    log_prob: jax.Array
    score: GLMParams
    decision_time: jax.Array
    n_spikes: jax.Array
    spiked: jax.Array


class FirstToSpikePolicy:
    """Encoder -> GLM spiking network (outputs first, optional latents) -> first-to-spike race.

    Parameters
    ----------
    encoder : OneHotEncoder or PopulationEncoder (anything with ``n_inputs``, ``encode``, ``probabilities``,
        ``features``)
    n_actions : int  number of output neurons (one per action)
    n_steps : int  maximum decision time ``T`` (bins)
    n_latent : int  latent (hidden) neurons, sampled freely and part of the spike path
    history_basis : Basis  coupling / self-history basis (default: ``identity(1)``, one lag)
    input_basis : Basis  input filter basis (default ``identity(1, lag_offset=0)``: ``x_t`` drives ``u_t``)
    temperature : float  Bernoulli temperature
    no_spike : "uniform" or int  action when no output spikes within ``T``
    coupling_mask, input_mask : optional masks of the :class:`~probsnn.GLMNetwork` (``input_mask`` is its
        ``stimulus_mask``)
    """

    def __init__(self, encoder, n_actions: int, n_steps: int, n_latent: int = 0, history_basis: Basis | None = None,
                 input_basis: Basis | None = None, temperature: float = 1.0, no_spike="uniform",
                 coupling_mask=None, input_mask=None):
        n_actions = check_int("n_actions", n_actions, minimum=2)
        n_steps = positive_int("n_steps (the maximum decision time T)", n_steps)
        temperature = positive_float("temperature", temperature)
        if not (isinstance(no_spike, str) and no_spike == "uniform"):
            no_spike = check_int("no_spike", no_spike, minimum=0, maximum=n_actions - 1,
                                 fix=" Pass 'uniform' or an action index.")
        for attr in ("n_inputs", "encode", "probabilities", "features"):
            if not hasattr(encoder, attr):
                raise TypeError(f"encoder lacks '{attr}'; use OneHotEncoder or PopulationEncoder.")
        self.encoder = encoder
        self.n_actions, self.n_steps, self.no_spike = int(n_actions), int(n_steps), no_spike
        self.net = GLMNetwork(
            self.n_actions, n_latent,
            history_basis=history_basis if history_basis is not None else identity(1),
            stimulus_basis=input_basis if input_basis is not None else identity(1, lag_offset=0),
            n_stimulus_dims=encoder.n_inputs, observation="bernoulli", temperature=temperature,
            coupling_mask=coupling_mask, stimulus_mask=input_mask)

    def __repr__(self) -> str:
        return (f"FirstToSpikePolicy(n_actions={self.n_actions}, T={self.n_steps}, n_latent={self.net.n_latent}, "
                f"no_spike={self.no_spike!r}, encoder={self.encoder})")

    def init_params(self, key=None, scale: float = 0.1, bias: float = -2.0) -> GLMParams:
        """Network parameters (:meth:`probsnn.GLMNetwork.init_params`); a negative bias makes early spikes rare."""
        return self.net.init_params(key, scale=scale, bias=bias)

    # ---------------------------------------------------------------- the race on given input spikes
    def race(self, params: GLMParams, key, inputs) -> Decision:
        """Run the network on input spikes ``[T, D]`` and decide (pure; jit/vmap/grad friendly)."""
        net, n_act = self.net, self.n_actions
        dtype = params.bias.dtype
        k_net, k_tie = jax.random.split(key)
        keys = jax.random.split(k_net, self.n_steps)
        zeros = jax.tree.map(jnp.zeros_like, params)

        def body(carry, xs):
            state, done, score, logp, n_spk, t_first, first = carry
            x, k, t = xs
            state, out = net.step(params, state, StepInput(x, None, k))
            active = (~done).astype(dtype)
            score = jax.tree.map(lambda a, g: a + active * g, score, net.local_score(out))
            logp = logp + active * jnp.sum(out.log_prob)
            n_spk = n_spk + active * jnp.sum(out.spikes)
            fired_now = jnp.any(out.spikes[:n_act] > 0) & ~done
            t_first = jnp.where(fired_now, t, t_first)
            first = jnp.where(fired_now, out.spikes[:n_act], first)
            return (state, done | fired_now, score, logp, n_spk, t_first, first), None

        init = (net.init_state(dtype), jnp.array(False), zeros, jnp.zeros((), dtype), jnp.zeros((), dtype),
                jnp.int32(self.n_steps - 1), jnp.zeros((n_act,), dtype))
        (_, spiked, score, logp, n_spk, t_first, first), _ = jax.lax.scan(
            body, init, (inputs, keys, jnp.arange(self.n_steps, dtype=jnp.int32)))
        n_first = jnp.sum(first)
        tie_choice = jax.random.categorical(k_tie, jnp.where(first > 0, 0.0, -jnp.inf))
        if self.no_spike == "uniform":
            none_choice = jax.random.randint(k_tie, (), 0, n_act)
            none_logp = -jnp.log(jnp.asarray(n_act, dtype))
        else:
            none_choice = jnp.int32(self.no_spike)
            none_logp = jnp.zeros((), dtype)
        action = jnp.where(spiked, tie_choice, none_choice).astype(jnp.int32)
        logp = logp + jnp.where(spiked, -jnp.log(jnp.maximum(n_first, 1.0)), none_logp)
        return Decision(action, logp, score, t_first + 1, n_spk, spiked)

    def check_inputs(self, params: GLMParams, observation) -> None:
        """Validate concrete inputs of :meth:`decide`: ``params`` of this network's shapes and finite, and an
        ``observation`` the encoder can code (a state index in ``[0, n_states)`` for a one-hot encoder; finite
        values of the encoder's shape otherwise). Traced values (under ``jax.jit``/``vmap``) pass unchecked.

        A population encoder's ``[low, high]`` is the span of its receptive fields, not a hard range (values
        outside fire its tail neurons less, see :class:`~probsnn.encoding.PopulationEncoder`), so it is not
        enforced.
        """
        from .._checks import check_finite_entries, check_int, concrete

        self.net.check_params(params)
        value = concrete(observation)
        if value is None:
            return
        n_states = getattr(self.encoder, "n_states", None)
        if n_states is not None:  # a discrete observation: a state index
            if value.ndim != 0:
                raise ValueError(f"observation must be one state index (an integer in [0, {n_states})), got an "
                                 f"array of shape {value.shape}.")
            check_int("observation (state index)", value.item(), minimum=0, maximum=n_states - 1)
            return
        if value.dtype.kind not in "biuf":
            raise ValueError(f"observation must be numbers, got dtype {value.dtype}.")
        low = getattr(self.encoder, "low", None)
        if low is not None and value.shape != np.shape(low) and not (value.ndim == 0 and np.size(low) == 1):
            raise ValueError(f"observation must have shape {np.shape(low)} (one value per encoded dimension), "
                             f"got shape {value.shape}.")
        check_finite_entries("observation", value)

    def decide(self, params: GLMParams, key, observation) -> Decision:
        """Encode ``observation`` (fresh network state per decision) and run the race.

        Concrete inputs are validated first (:meth:`check_inputs`); traced ones (under ``jax.jit``) are not.
        """
        self.check_inputs(params, observation)
        k_enc, k_race = jax.random.split(key)
        inputs = self.encoder.encode(k_enc, observation, self.n_steps).astype(params.bias.dtype)
        return self.race(params, k_race, inputs)

    # ---------------------------------------------------------------- exact probabilities (no latents)
    @cached_property
    def _subsets(self):
        rows = [s for s in itertools.product((0.0, 1.0), repeat=self.n_actions) if sum(s) > 0]
        return np.asarray(rows)

    def output_potentials(self, params: GLMParams, inputs):
        """Potentials ``[T, A + H]`` of every neuron on a *silent* network (the potentials before the decision)."""
        net = self.net
        silent = jnp.zeros((net.n_neurons,), params.bias.dtype)

        def body(state, x):
            state, out = net.forced_step(params, state, x, silent)
            return state, out.potential

        return jax.lax.scan(body, net.init_state(params.bias.dtype), inputs)[1]

    def action_probabilities(self, params: GLMParams, inputs):
        r"""Exact :math:`\pi(a)` for input spikes ``[T, D]`` (networks without latent neurons), ``[A]``.

        Before the decision no output has spiked, so every output's potential is input + bias only and the
        outputs race independently with :math:`p_{a,t} = \sigma(u_{a,t}/\tau)`:

        .. math::
            \pi(a) = \sum_t \prod_{t'<t}\prod_i (1-p_{i,t'}) \sum_{S \ni a} \frac{1}{|S|}
                     \prod_{i\in S} p_{i,t}\prod_{i\notin S}(1-p_{i,t}) \; + \; \rho_0(a)\prod_{t,i}(1-p_{i,t}),

        with :math:`\rho_0` the no-spike rule. Enumerates the :math:`2^A - 1` simultaneous-spike sets.
        """
        if self.net.n_latent:
            raise ValueError("exact action probabilities need a policy without latent neurons; "
                             "estimate them by sampling decide() instead.")
        u = self.output_potentials(params, inputs)[:, : self.n_actions]
        p = self.net.observation.mean(u)  # [T, A]
        sets = jnp.asarray(self._subsets, p.dtype)  # [S, A]
        log_p, log_q = jnp.log(p), jnp.log1p(-p)
        set_prob = jnp.exp(sets @ log_p.T + (1 - sets) @ log_q.T)  # [S, T]
        silent_step = jnp.exp(jnp.sum(log_q, axis=1))  # [T]
        survive = jnp.concatenate([jnp.ones((1,), p.dtype), jnp.cumprod(silent_step)[:-1]])
        share = sets / jnp.sum(sets, axis=1, keepdims=True)  # [S, A]
        probs = jnp.einsum("t,st,sa->a", survive, set_prob, share)
        none = jnp.prod(silent_step)
        if self.no_spike == "uniform":
            rho = jnp.full((self.n_actions,), 1.0 / self.n_actions, p.dtype)
        else:
            rho = jax.nn.one_hot(self.no_spike, self.n_actions, dtype=p.dtype)
        return probs + none * rho

    def greedy_action(self, params: GLMParams, key, observation, n_votes: int = 64):
        """Most probable action: exact (:meth:`action_probabilities` on the encoder's mean input) without
        latents, else the most frequent action over ``n_votes`` sampled races."""
        self.check_inputs(params, observation)
        if self.net.n_latent == 0:
            prob = self.encoder.probabilities(observation).astype(params.bias.dtype)
            inputs = jnp.broadcast_to(prob, (self.n_steps,) + prob.shape)
            return jnp.argmax(self.action_probabilities(params, inputs)).astype(jnp.int32)
        actions = jax.vmap(lambda k: self.decide(params, k, observation).action)(jax.random.split(key, n_votes))
        return jnp.argmax(jnp.bincount(actions, length=self.n_actions)).astype(jnp.int32)


# ============================================================================================ rollouts
class Trajectory(NamedTuple):
    """Per-step records of one episode (leading axis: step ``k < horizon``; steps after the end are masked)."""

    valid: jax.Array  # bool, step k happened
    reward: jax.Array  # environment reward
    shaped_reward: jax.Array  # reward - spike_penalty * n_spikes (the optimised reward)
    features: jax.Array  # encoder features of o_k (for the learned baseline)
    decision_time: jax.Array
    n_spikes: jax.Array
    spiked: jax.Array
    action: jax.Array


def discounted_returns(rewards, valid, gamma: float):
    """Reward-to-go :math:`R_k = \\sum_{j \\ge k} \\gamma^{j-k} r_j` over valid steps (reverse ``lax.scan``)."""
    def body(acc, xs):
        r, v = xs
        acc = v * (r + gamma * acc)
        return acc, acc

    return jax.lax.scan(body, jnp.zeros((), rewards.dtype), (rewards, valid.astype(rewards.dtype)), reverse=True)[1]


_CHECKPOINT_KIND = "Reinforce"


class BaselineState(NamedTuple):
    value_weights: jax.Array  # [F + 1] (last entry: constant)
    value_opt_state: optax.OptState
    moving_average: jax.Array


class TrainState(NamedTuple):
    """State of :meth:`Reinforce.train`: policy parameters, optimiser state, baseline and update count (a pytree;
    :meth:`Reinforce.train` checkpoints it with :mod:`probsnn.checkpoint`)."""

    params: GLMParams
    opt_state: optax.OptState
    baseline: BaselineState
    iteration: jax.Array


class Reinforce:
    """REINFORCE with a baseline for a :class:`FirstToSpikePolicy` on a pure-JAX environment.

    Parameters
    ----------
    policy : FirstToSpikePolicy
    env : environment with ``reset(key)``, ``step(state, action, key)``, ``max_steps`` (the horizon)
    optimizer : optax.GradientTransformation (default ``optax.adam(learning_rate)``)
    batch_size : int  episodes per update (a vmapped batch)
    gamma : float  discount
    baseline : "learned" | "moving" | "none"
    baseline_decay : float  moving-average factor
    value_learning_rate : float  Adam step of the learned value (one step per batch)
    variant : "episode" | "online"  (see the module docstring)
    trace_decay : float  ``kappa`` of the online eligibility trace (1: exact)
    spike_penalty : float  reward cost per network spike up to each decision
    """

    def __init__(self, policy: FirstToSpikePolicy, env, optimizer=None, learning_rate: float = 0.05,
                 batch_size: int = 32, gamma: float = 1.0, baseline: str = "learned", baseline_decay: float = 0.9,
                 value_learning_rate: float = 0.1, variant: str = "episode", trace_decay: float = 1.0,
                 spike_penalty: float = 0.0):
        if not isinstance(policy, FirstToSpikePolicy):
            raise TypeError(f"policy must be a FirstToSpikePolicy, got {type(policy).__name__}.")
        for attr in ("reset", "step", "max_steps", "n_actions"):
            if not hasattr(env, attr):
                raise TypeError(f"env lacks '{attr}' (needs the probsnn.envs reset/step interface).")
        if env.n_actions != policy.n_actions:
            raise ValueError(f"env has {env.n_actions} actions but the policy has {policy.n_actions} output neurons.")
        batch_size = positive_int("batch_size", batch_size)
        gamma = check_float("gamma", gamma, 0.0, 1.0)
        one_of("baseline", baseline, ("learned", "moving", "none"))
        one_of("variant", variant, ("episode", "online"))
        baseline_decay = check_float("baseline_decay", baseline_decay, 0.0, 1.0, high_open=True)
        trace_decay = check_float("trace_decay", trace_decay, 0.0, 1.0)
        spike_penalty = check_float("spike_penalty", spike_penalty, low=0.0)
        if optimizer is None:
            learning_rate = positive_float("learning_rate (Adam step size of the policy)", learning_rate)
        value_learning_rate = positive_float("value_learning_rate (Adam step size of the learned value)",
                                             value_learning_rate)
        self.policy, self.env = policy, env
        self.optimizer = optimizer if optimizer is not None else optax.adam(learning_rate)
        self.value_optimizer = optax.adam(value_learning_rate)
        self.batch_size, self.gamma, self.baseline = int(batch_size), float(gamma), baseline
        self.baseline_decay, self.variant = float(baseline_decay), variant
        self.trace_decay, self.spike_penalty = float(trace_decay), float(spike_penalty)
        self.horizon = int(env.max_steps)

    def __repr__(self) -> str:
        return (f"Reinforce(variant={self.variant!r}, baseline={self.baseline!r}, gamma={self.gamma}, "
                f"batch_size={self.batch_size}, spike_penalty={self.spike_penalty}, horizon={self.horizon})")

    # ---------------------------------------------------------------- state
    def init(self, key, params: GLMParams | None = None) -> TrainState:
        """Fresh training state (``params`` from :meth:`FirstToSpikePolicy.init_params` unless given)."""
        if params is None:
            params = self.policy.init_params(key)
        else:
            self.policy.net.check_params(params)
        n_feat = self.policy.encoder.n_inputs + 1
        value = jnp.zeros((n_feat,), params.bias.dtype)
        base = BaselineState(value, self.value_optimizer.init(value), jnp.zeros((), params.bias.dtype))
        return TrainState(params, self.optimizer.init(params), base, jnp.int32(0))

    def _baseline_values(self, baseline: BaselineState, features):
        if self.baseline == "learned":
            return features @ baseline.value_weights[:-1] + baseline.value_weights[-1]
        if self.baseline == "moving":
            return jnp.broadcast_to(baseline.moving_average, features.shape[:-1])
        return jnp.zeros(features.shape[:-1], features.dtype)

    # ---------------------------------------------------------------- one episode
    def _step_episode(self, params, carry, key, act):
        env = self.env
        env_state, obs, done = carry
        k_dec, k_env = jax.random.split(key)
        decision = act(params, k_dec, obs)
        new_state, new_obs, reward, terminated, truncated, _ = env.step(env_state, decision.action, k_env)
        keep = lambda new, old: jnp.where(done, old, new)  # noqa: E731  (freeze the finished episode)
        new_state = jax.tree.map(keep, new_state, env_state)
        new_obs = keep(new_obs, obs)
        valid = ~done
        dtype = params.bias.dtype
        shaped = jnp.asarray(reward, dtype) - self.spike_penalty * decision.n_spikes
        feats = self.policy.encoder.features(obs).astype(dtype)
        record = Trajectory(valid, valid * jnp.asarray(reward, dtype), valid * shaped, feats, decision.decision_time,
                            decision.n_spikes, decision.spiked, decision.action)
        return (new_state, new_obs, done | terminated | truncated), decision, record

    def episode(self, params: GLMParams, key):
        """Sample one episode: ``(Trajectory, scores)`` with per-step scores ``G_k`` (GLMParams, leading axis)."""
        k_reset, k_steps = jax.random.split(key)
        env_state, obs = self.env.reset(k_reset)

        def body(carry, k):
            carry, decision, record = self._step_episode(params, carry, k, self.policy.decide)
            return carry, (record, jax.tree.map(lambda g: record.valid * g, decision.score))

        init = (env_state, obs, jnp.array(False))
        _, (traj, scores) = jax.lax.scan(body, init, jax.random.split(k_steps, self.horizon))
        return traj, scores

    def episode_gradient(self, params: GLMParams, baseline: BaselineState, key):
        """Episode-level REINFORCE estimate ``sum_k G_k (R_k - b_k)`` and the trajectory."""
        traj, scores = self.episode(params, key)
        returns = discounted_returns(traj.shaped_reward, traj.valid, self.gamma)
        weight = traj.valid * (returns - self._baseline_values(baseline, traj.features))
        delta = jax.tree.map(lambda g: jnp.tensordot(weight, g, axes=1), scores)
        return delta, traj

    def online_gradient(self, params: GLMParams, baseline: BaselineState, key):
        """Online eligibility-trace estimate (constant memory in the episode length) and the trajectory.

        ``z_k = gamma * kappa * z_{k-1} + G_k``, ``Delta += r~_k z_k - b_k G_k``.
        """
        k_reset, k_steps = jax.random.split(key)
        env_state, obs = self.env.reset(k_reset)
        zeros = jax.tree.map(jnp.zeros_like, params)
        decay = self.gamma * self.trace_decay

        def body(carry, k):
            env_carry, trace, delta = carry
            env_carry, decision, record = self._step_episode(params, env_carry, k, self.policy.decide)
            g = jax.tree.map(lambda s: record.valid * s, decision.score)
            b = self._baseline_values(baseline, record.features[None])[0]
            trace = jax.tree.map(lambda z, s: decay * z + s, trace, g)
            delta = jax.tree.map(lambda d, z, s: d + record.shaped_reward * z - record.valid * b * s, delta, trace, g)
            return (env_carry, trace, delta), record

        init = ((env_state, obs, jnp.array(False)), zeros, zeros)
        (_, _, delta), traj = jax.lax.scan(body, init, jax.random.split(k_steps, self.horizon))
        return delta, traj

    # ---------------------------------------------------------------- batch update
    def _update(self, ts: TrainState, key):
        grad_fn = self.episode_gradient if self.variant == "episode" else self.online_gradient
        keys = jax.random.split(key, self.batch_size)
        deltas, traj = jax.vmap(lambda k: grad_fn(ts.params, ts.baseline, k))(keys)
        delta = jax.tree.map(lambda d: jnp.mean(d, axis=0), deltas)
        updates, opt_state = self.optimizer.update(jax.tree.map(jnp.negative, delta), ts.opt_state, ts.params)
        params = optax.apply_updates(ts.params, updates)
        baseline = self._update_baseline(ts.baseline, traj)
        return TrainState(params, opt_state, baseline, ts.iteration + 1), self._metrics(traj)

    def _update_baseline(self, base: BaselineState, traj: Trajectory) -> BaselineState:
        returns = jax.vmap(lambda r, v: discounted_returns(r, v, self.gamma))(traj.shaped_reward, traj.valid)
        valid = traj.valid.astype(returns.dtype)
        n_valid = jnp.maximum(jnp.sum(valid), 1.0)
        mean_return = jnp.sum(valid * returns) / n_valid
        moving = self.baseline_decay * base.moving_average + (1 - self.baseline_decay) * mean_return
        moving = jnp.where(base.moving_average == 0, mean_return, moving)

        def loss(w):
            pred = traj.features @ w[:-1] + w[-1]
            return 0.5 * jnp.sum(valid * (pred - returns) ** 2) / n_valid

        grads = jax.grad(loss)(base.value_weights)
        upd, vstate = self.value_optimizer.update(grads, base.value_opt_state, base.value_weights)
        return BaselineState(optax.apply_updates(base.value_weights, upd), vstate, moving)

    @staticmethod
    def _metrics(traj: Trajectory):
        valid = traj.valid.astype(traj.reward.dtype)
        n_dec = jnp.maximum(jnp.sum(valid), 1.0)
        return {
            "return": jnp.mean(jnp.sum(traj.reward, axis=1)),
            "episode_length": jnp.mean(jnp.sum(valid, axis=1)),
            "spikes_per_decision": jnp.sum(valid * traj.n_spikes) / n_dec,
            "decision_time": jnp.sum(valid * traj.decision_time) / n_dec,
            "no_spike_fraction": jnp.sum(valid * (~traj.spiked)) / n_dec,
        }

    @cached_property
    def update(self):
        """Jitted ``update(train_state, key) -> (train_state, metrics)``: one batch of episodes, one step."""
        return jax.jit(self._update)

    @cached_property
    def _train_chunk(self):
        def run(ts, keys):
            return jax.lax.scan(self._update, ts, keys)

        return jax.jit(run)

    def train(self, key, n_iterations: int, train_state: TrainState | None = None, chunk: int = 50,
              callback=None, *, checkpoint=None, checkpoint_every: int | None = None, resume: bool = False,
              checkpoint_info=None):
        """Run ``n_iterations`` updates (``lax.scan`` over chunks of ``chunk``); returns ``(TrainState, history)``.

        Parameters
        ----------
        key : jax random key
        n_iterations : int
            Updates (>= 1).
        train_state : TrainState, optional
            Start from it (default: :meth:`init` with a key split from ``key``).
        chunk : int
            Updates per compiled ``lax.scan`` (>= 1); the result does not depend on it being interrupted.
        callback : callable, optional
            ``callback(iteration, train_state, metrics_chunk)``, called after each chunk.
        checkpoint : path, optional
            Write the training state, the random key and the history so far to this file
            (:mod:`probsnn.checkpoint`, kind ``"Reinforce"``): after the first chunk that completes
            ``checkpoint_every`` updates since the last write, at the end, and on ``KeyboardInterrupt`` (with
            the state after the last complete chunk; the interrupt is then raised again).
        checkpoint_every : int, optional
            Updates between checkpoints (>= 1; written at chunk boundaries); default ``chunk``.
        resume : bool
            Continue from ``checkpoint`` when the file exists (from the start otherwise). The call must repeat
            the interrupted one (same key, ``n_iterations``, ``chunk``, initial state and trainer settings,
            checked through the fingerprints the file holds); the result is then bit-for-bit that of an
            uninterrupted call.
        checkpoint_info : JSON-serialisable, optional
            Stored in the checkpoint's config under ``"info"`` (not compared on resume), e.g. the progress of a
            caller's outer loop; read it back with :func:`probsnn.read_checkpoint_config`.

        Returns
        -------
        train_state : TrainState
        history : dict of str -> ndarray
            The metrics (batch means) of every update, arrays of length ``n_iterations``.
        """
        n_iterations = positive_int("n_iterations", n_iterations)
        chunk = positive_int("chunk (updates per lax.scan chunk)", chunk)
        path, every, resume = checkpoint_options(checkpoint, checkpoint_every, resume)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None, got {type(callback).__name__}.")
        every = chunk if every is None else every
        k_init, key = jax.random.split(key)
        ts = self.init(k_init) if train_state is None else train_state
        done, config, history = 0, None, None
        if path is not None:
            history = self._empty_history(ts, n_iterations)
            config = {"n_iterations": n_iterations, "chunk": chunk, "trainer": repr(self), "policy": repr(self.policy),
                      "key": fingerprint(key), "start": fingerprint(ts), "info": checkpoint_info}
            if resume:
                saved = resume_checkpoint(path, _CHECKPOINT_KIND, config, {"train_state": ts, "history": history},
                                          key_like=key, ignore=("info",))
                if saved is not None:
                    ts, key, done = saved.trees["train_state"], saved.key, saved.step
                    history = {name: np.array(value) for name, value in saved.trees["history"].items()}

        def save(progress):
            state, current_key, step = progress
            save_checkpoint(path, _CHECKPOINT_KIND, config, {"train_state": state, "history": history},
                            key=current_key, step=step)

        progress, saved_at = (ts, key, done), done  # progress: replaced in one assignment after each chunk
        try:
            while progress[2] < n_iterations:
                ts, key, done = progress
                size = min(chunk, n_iterations - done)
                key, sub = jax.random.split(key)
                ts, metrics = self._train_chunk(ts, jax.random.split(sub, size))
                metrics_now = jax.device_get(metrics)
                if history is None:
                    history = {name: np.zeros((n_iterations,) + value.shape[1:], value.dtype)
                               for name, value in metrics_now.items()}
                for name, value in metrics_now.items():
                    history[name][done:done + size] = value
                progress = (ts, key, done + size)
                if path is not None and (done + size - saved_at >= every or done + size == n_iterations):
                    save(progress)
                    saved_at = done + size
                if callback is not None:
                    callback(done + size, ts, metrics)
        except KeyboardInterrupt:
            if path is not None:
                save(progress)
            raise
        return progress[0], history

    def _empty_history(self, ts: TrainState, n_iterations: int) -> dict:
        """Zero arrays of the metrics of ``n_iterations`` updates (shapes and dtypes from a trace, nothing runs)."""
        spec = jax.eval_shape(lambda state, keys: jax.lax.scan(self._update, state, keys), ts,
                              jax.random.split(jax.random.PRNGKey(0), 1))[1]
        return {name: np.zeros((n_iterations,) + leaf.shape[1:], leaf.dtype) for name, leaf in spec.items()}

    # ---------------------------------------------------------------- evaluation
    @cached_property
    def _evaluate_jit(self):
        def run(params, keys, greedy):
            def act(p, k, obs):
                decision = self.policy.decide(p, k, obs)
                if greedy:
                    decision = decision._replace(action=self.policy.greedy_action(p, k, obs))
                return decision

            def one(key):
                k_reset, k_steps = jax.random.split(key)
                env_state, obs = self.env.reset(k_reset)

                def body(carry, k):
                    carry, _, record = self._step_episode(params, carry, k, act)
                    return carry, record

                return jax.lax.scan(body, (env_state, obs, jnp.array(False)),
                                    jax.random.split(k_steps, self.horizon))[1]

            return self._metrics(jax.vmap(one)(keys))

        return jax.jit(run, static_argnums=2)

    def evaluate(self, params: GLMParams, key, n_episodes: int = 10, greedy: bool = True):
        """Mean return, episode length, spikes per decision ... over ``n_episodes`` (``greedy``: most probable
        action, see :meth:`FirstToSpikePolicy.greedy_action`; spikes are those of a sampled race on the same state)."""
        n_episodes = positive_int("n_episodes", n_episodes)
        self.policy.net.check_params(params)
        metrics = self._evaluate_jit(params, jax.random.split(key, int(n_episodes)), bool(greedy))
        return {k: float(v) for k, v in metrics.items()}
