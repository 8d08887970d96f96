r"""Online variational learning of visible + latent GLM networks with local three-factor rules.

The model is a :class:`~probsnn.GLMNetwork` with visible spikes ``x`` (clamped to data)
and latent spikes ``h``. The variational distribution of the latents is the model's own causal conditional
:math:`q_\theta(h) = \prod_t \prod_{i \in H} p(h_{i,t} \mid u_{i,t})`, so the ELBO reduces to the expected
visible log-likelihood (Rezende, Wierstra & Gerstner 2011; Jang, Simeone, Gardner & Gruning 2019):

.. math::
    \mathcal L(\theta) = \mathbb E_{q_\theta(h)}\Big[\sum_t \ell_t\Big], \qquad
    \ell_t = \sum_{i \in V} \log p(x_{i,t} \mid u_{i,t}).

Its gradient has two parts: for visible neurons the pathwise term
:math:`\mathbb E_q[\sum_t \nabla \log p(x_t \mid u_t)]`, for latent neurons the score-function term
:math:`\mathbb E_q[(\sum_t \ell_t)\sum_t \nabla \log q(h_t \mid u_t)]`. For a Bernoulli GLM neuron both
per-step gradients factorise into a *local* product, post-synaptic error (the observation model's score,
:meth:`~probsnn.neurons.observation.BernoulliObservation.score`) times pre-synaptic trace
(:meth:`probsnn.GLMNetwork.local_score`):

.. math::
    \frac{\partial \log p(s_{i,t} \mid u_{i,t})}{\partial w_{ijb}}
      = \frac{s_{i,t} - \sigma(u_{i,t}/\tau)}{\tau}\; \vec s_{j,t,b}.

**Streaming rule** (Jang et al. 2019, Sec. "Training"; :meth:`ThreeFactorVI.online_step`), per step:

.. math::
    e_{ijb,t} &= \kappa\, e_{ijb,t-1} + (1-\kappa)\, \frac{s_{i,t} - \sigma(u_{i,t}/\tau)}{\tau} \vec s_{j,t,b}
        && \text{(eligibility trace)}\\
    l_t &= \kappa\, l_{t-1} + (1-\kappa)\,(\ell_t + r_t) && \text{(global learning signal; } r_t \text{ reward)}\\
    \Delta w_{ijb} &= e_{ijb,t} \;(i \in V), \qquad \Delta w_{ijb} = (l_t - b_{ijb,t})\, e_{ijb,t}\; (i \in H),

with the per-parameter variance-reducing baseline :math:`b = \langle l\, e^2\rangle / \langle e^2\rangle`
(moving averages). The parameters ascend ``Delta`` through any Optax optimiser (``optax.sgd(lr)`` gives
``theta <- theta + lr * Delta``). With ``kappa = 0`` the update is exactly the per-step score-function gradient
:math:`\nabla_\theta[\log p(x_t \mid u_t) + \mathrm{sg}(\ell_t) \log q(h_t \mid u_t)]`.

**Episode (batch) rule** (:meth:`ThreeFactorVI.episode_update`): over one example of length ``T`` the same local
factors are summed, :math:`G = \sum_t \nabla\log p(s_t\mid u_t)` and :math:`L = \sum_t \ell_t` (the
``kappa -> 1`` limit, up to a constant absorbed in the learning rate), and
``Delta = G_V + (L - b) G_H`` is an unbiased estimate of :math:`\nabla \mathcal L` whenever ``b`` does not depend
on the current sample. Memory is constant in ``T`` in both rules (running sums, not stored paths).

**Multi-sample variants** (Jang & Simeone 2021): ``K`` latent paths per example.
``"mean"``: the mean of ``K`` single-sample estimates with the leave-one-out baseline
:math:`b_k = \frac{1}{K-1}\sum_{j\ne k} L^j` (unbiased for :math:`\nabla\mathcal L`). ``"iw"``: the
importance-weighted bound :math:`\mathcal L_K = \mathbb E[\log \frac1K \sum_k e^{L^k}]` (weights
:math:`p(x\mid h^k)` since ``q`` is the prior of the latents), estimated by
``Delta = sum_k [softmax(L)_k G^k_V + (f - b_k) G^k_H]`` with :math:`f = \log\frac1K\sum_k e^{L^k}` and the
VIMCO leave-one-out baseline (Mnih & Rezende 2016), unbiased for :math:`\nabla \mathcal L_K`.

References
----------
Jang, Simeone, Gardner & Gruning (2019), IEEE Signal Processing Magazine 36(6):64-77.
Jang & Simeone (2021), "Multi-sample online learning for spiking neural networks based on generalized
expectation maximization", ICASSP / arXiv:2102.03280.
Rezende, Wierstra & Gerstner (2011), NeurIPS 24. Mnih & Rezende (2016), "Variational inference for Monte
Carlo objectives", ICML.
"""
from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import check_float, concrete, one_of, positive_float, positive_int, trial_restarts
from ..checkpoint import checkpoint_options, fingerprint, resume_checkpoint, run_in_chunks, save_checkpoint
from ..neurons.glm import GLMNetwork, GLMParams, GLMState, StepInput

__all__ = ["ThreeFactorVI", "ThreeFactorState", "episode_statistics"]


class ThreeFactorState(NamedTuple):
    """State of the streaming learner (constant size, independent of the stream length).

    Attributes
    ----------
    net_state : GLMState with a leading axis K (one recurrent state per latent sample)
    eligibility : GLMParams with a leading axis K (filtered local gradients)
    learning_signal : array (K,)  filtered ``l_t`` per sample
    baseline_num, baseline_den : GLMParams  moving averages of ``l e^2`` and ``e^2``
    n_steps : int array  steps processed so far
    """

    net_state: GLMState
    eligibility: GLMParams
    learning_signal: jax.Array
    baseline_num: GLMParams
    baseline_den: GLMParams
    n_steps: jax.Array


def episode_statistics(net: GLMNetwork, params: GLMParams, key, stimulus, visible, reward=None,
                       likelihood_weight: float = 1.0):
    """Run one example with clamped visible spikes; return the running sums ``(G, L, spikes)``.

    ``G`` (GLMParams) is the sum over time of :meth:`~probsnn.GLMNetwork.local_score`, ``L`` the summed learning signal
    ``sum_t (ell_t + r_t)``. Memory is constant in ``T`` (only the sums and the recurrent state are carried);
    the sampled spikes are returned as a scan output for inspection.
    """
    vis = jnp.asarray(net.visible_mask, params.bias.dtype)
    if reward is None:
        reward = jnp.zeros(stimulus.shape[0], params.bias.dtype)
    zeros = jax.tree.map(jnp.zeros_like, params)

    def body(carry, xs):
        state, grad_sum, signal = carry
        stim, x, r, k = xs
        state, out = net.step(params, state, StepInput(stim, x, k))
        grad_sum = jax.tree.map(jnp.add, grad_sum, net.local_score(out))
        signal = signal + likelihood_weight * jnp.sum(out.log_prob * vis) + r
        return (state, grad_sum, signal), out.spikes

    keys = jax.random.split(key, stimulus.shape[0])
    init = (net.init_state(params.bias.dtype), zeros, jnp.zeros((), params.bias.dtype))
    (_, grad_sum, signal), spikes = jax.lax.scan(body, init, (stimulus, visible, reward, keys))
    return grad_sum, signal, spikes


class ThreeFactorVI:
    """Online (streaming) and episode (batch) variational learner with local three-factor updates.

    Parameters
    ----------
    net : GLMNetwork
    optimizer : optax.GradientTransformation, optional
        Applied to ``-Delta`` (Optax minimises); default ``optax.sgd(learning_rate)``.
    learning_rate : float
        Used only when ``optimizer`` is None.
    kappa : float in [0, 1)
        Eligibility / learning-signal filter of the streaming rule.
    n_samples : int
        ``K`` latent paths per step / example.
    multi_sample : {"mean", "iw"}
        Combination of the ``K`` samples (see the module docstring).
    baseline : bool
        Use the per-parameter baseline ``<l e^2> / <e^2>`` (streaming) or, with ``K = 1`` in episode mode,
        the same ratio from previous batches; with ``K > 1`` episode mode uses the leave-one-out baseline.
    baseline_decay : float in [0, 1)
        Moving-average factor of the baseline statistics.
    likelihood_weight : float
        Weight of the visible log-likelihood in the learning signal (0 for a pure reward-driven rule).
    """

    def __init__(self, net: GLMNetwork, optimizer=None, learning_rate: float = 0.05, kappa: float = 0.5,
                 n_samples: int = 1, multi_sample: str = "mean", baseline: bool = True, baseline_decay: float = 0.99,
                 likelihood_weight: float = 1.0):
        if not isinstance(net, GLMNetwork):
            raise TypeError(f"net must be a probsnn.GLMNetwork, got {type(net).__name__}.")
        kappa = check_float("kappa", kappa, 0.0, 1.0, high_open=True,
                            fix=" Use episode_update for the kappa -> 1 limit.")
        n_samples = positive_int("n_samples", n_samples)
        one_of("multi_sample", multi_sample, ("mean", "iw"))
        baseline_decay = check_float("baseline_decay", baseline_decay, 0.0, 1.0, high_open=True)
        learning_rate = positive_float("learning_rate", learning_rate)
        self.net = net
        self.optimizer = optimizer if optimizer is not None else optax.sgd(learning_rate)
        self.kappa = float(kappa)
        self.n_samples = int(n_samples)
        self.multi_sample = multi_sample
        self.baseline = bool(baseline)
        self.baseline_decay = float(baseline_decay)
        self.likelihood_weight = float(likelihood_weight)

    def __repr__(self) -> str:
        return (f"ThreeFactorVI(kappa={self.kappa}, n_samples={self.n_samples}, multi_sample={self.multi_sample!r}, "
                f"baseline={self.baseline}, net={self.net})")

    # ------------------------------------------------------------------ state
    def init(self, params: GLMParams):
        """``(opt_state, ThreeFactorState)`` for streaming from a silent past."""
        self.net.check_params(params)
        dtype = params.bias.dtype
        k = self.n_samples
        net_state = jax.tree.map(lambda a: jnp.broadcast_to(a, (k,) + a.shape), self.net.init_state(dtype))
        zeros = jax.tree.map(jnp.zeros_like, params)
        state = ThreeFactorState(
            net_state=net_state,
            eligibility=jax.tree.map(lambda a: jnp.zeros((k,) + a.shape, a.dtype), params),
            learning_signal=jnp.zeros((k,), dtype),
            baseline_num=zeros,
            baseline_den=zeros,
            n_steps=jnp.zeros((), jnp.int32),
        )
        return self.optimizer.init(params), state

    # ------------------------------------------------------------------ the pure streaming update
    def online_step(self, params: GLMParams, state: ThreeFactorState, stimulus, visible, key, reward=0.0):
        """One streaming step: ``-> (new_state, delta, outputs)``, ``delta`` the ascent direction (GLMParams).

        ``outputs`` is the :class:`~probsnn.neurons.glm.StepOutput` of the ``K`` samples (leading axis K).
        Pure: no optimiser involved (see :meth:`update`); reusable with any reward signal.
        """
        net, kappa = self.net, self.kappa
        dtype = params.bias.dtype
        vis = jnp.asarray(net.visible_mask, dtype)
        keys = jax.random.split(key, self.n_samples)
        step = jax.vmap(lambda s, k: net.step(params, s, StepInput(stimulus, visible, k)))
        net_state, out = step(state.net_state, keys)
        score = jax.vmap(net.local_score)(out)  # leading K
        signal_now = self.likelihood_weight * jnp.sum(out.log_prob * vis, axis=-1) + reward  # [K]
        eligibility = jax.tree.map(lambda e, g: kappa * e + (1 - kappa) * g, state.eligibility, score)
        learning_signal = kappa * state.learning_signal + (1 - kappa) * signal_now

        # per-parameter baseline from the statistics so far, then update the statistics
        if self.baseline:
            b = jax.tree.map(lambda n, d: n / (d + 1e-12), state.baseline_num, state.baseline_den)
        else:
            b = jax.tree.map(jnp.zeros_like, params)
        k = self.n_samples
        if self.multi_sample == "iw" and k > 1:
            scale = 1.0 / (1.0 - kappa)
            log_w = learning_signal * scale
            weights = jax.nn.softmax(log_w)
            signal_used = jnp.broadcast_to((jax.nn.logsumexp(log_w) - jnp.log(k)) / scale, (k,))
            vis_weight = weights
            lat_sum = 1.0
        else:
            signal_used = learning_signal
            vis_weight = jnp.full((k,), 1.0 / k, dtype)
            lat_sum = 1.0 / k
        lat = 1.0 - vis

        def combine(e, base):
            # e: [K, N, ...] eligibilities; base: [N, ...] baseline
            visible_part = jnp.sum(_bcast(vis_weight, e) * e, axis=0)
            latent_part = lat_sum * jnp.sum((_bcast(signal_used, e) - base[None]) * e, axis=0)
            return _row_select(visible_part, vis) + _row_select(latent_part, lat)

        delta = jax.tree.map(combine, eligibility, b)
        if self.baseline:
            beta = self.baseline_decay
            e2 = jax.tree.map(lambda e: e * e, eligibility)
            num = jax.tree.map(lambda n, e: beta * n + (1 - beta) * jnp.mean(
                signal_used.reshape((k,) + (1,) * (e.ndim - 1)) * e, axis=0), state.baseline_num, e2)
            den = jax.tree.map(lambda d, e: beta * d + (1 - beta) * jnp.mean(e, axis=0), state.baseline_den, e2)
        else:
            num, den = state.baseline_num, state.baseline_den
        new_state = ThreeFactorState(net_state, eligibility, learning_signal, num, den, state.n_steps + 1)
        return new_state, delta, out

    def apply(self, params: GLMParams, opt_state, delta: GLMParams):
        """Ascend ``delta`` with the optimiser: ``-> (params, opt_state)``."""
        updates, opt_state = self.optimizer.update(jax.tree.map(jnp.negative, delta), opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def update(self, params, opt_state, state: ThreeFactorState, stimulus, visible, key, reward=0.0):
        """Streaming step plus parameter update: ``-> (params, opt_state, state, outputs)``."""
        state, delta, out = self.online_step(params, state, stimulus, visible, key, reward)
        params, opt_state = self.apply(params, opt_state, delta)
        return params, opt_state, state, out

    @cached_property
    def update_jit(self):
        """Jitted :meth:`update` (arguments: params, opt_state, state, stimulus, visible, key, reward)."""
        return jax.jit(self.update)

    def _scan_steps(self, params, opt_state, state, stimulus, visible, rewards, keys, restart=None):
        """``lax.scan`` of :meth:`update` over the steps (one key per step); where ``restart`` (bool per step, or
        None) is True a trial begins: the network's history, the eligibility traces and the learning signal are
        reset to zero first."""
        def body(carry, xs):
            p, o, s = carry
            stim, vis, r, k, new_trial = xs
            if new_trial is not None:
                s = s._replace(**{name: jax.tree.map(lambda leaf: jnp.where(new_trial, jnp.zeros_like(leaf), leaf),
                                                     getattr(s, name))
                                  for name in ("net_state", "eligibility", "learning_signal")})
            p, o, s, out = self.update(p, o, s, stim, vis, k, r)
            return (p, o, s), (out.spikes, out.potential)

        (params, opt_state, state), traj = jax.lax.scan(body, (params, opt_state, state),
                                                          (stimulus, visible, rewards, keys, restart))
        return params, opt_state, state, traj

    @cached_property
    def _run_jit(self):
        def run(params, opt_state, state, stimulus, visible, rewards, key, restart):
            return self._scan_steps(params, opt_state, state, stimulus, visible, rewards,
                                    jax.random.split(key, stimulus.shape[0]), restart)

        return jax.jit(run)

    @cached_property
    def _chunk_jit(self):
        """:meth:`_scan_steps` jitted, for the chunks of a checkpointed :meth:`run`."""
        return jax.jit(self._scan_steps)

    def run(self, params, opt_state, state, stimulus, visible, key, rewards=None, *, checkpoint=None,
            checkpoint_every: int | None = None, resume: bool = False, trial_starts=None):
        """Stream ``T`` steps (``lax.scan``):
        ``-> (params, opt_state, state, (spikes [T, K, N], potential [T, K, N]))``.

        Parameters
        ----------
        params, opt_state, state
            From :meth:`init` (or a previous run).
        stimulus : array (T, D)
        visible : array (T, N_v)
            Spikes that the observation model can produce (0/1 for Bernoulli neurons).
        key : jax random key
            Split into one key per step.
        rewards : array (T,), optional
        trial_starts : sequence of int, optional
            Bins where a trial begins (first 0, as :attr:`probsnn.SpikeData.trial_starts`): at each later one the
            network's history, the eligibility traces and the learning signal restart from zero (the optimiser
            and the baseline statistics carry on), so no history or credit crosses a trial boundary.
        checkpoint : path, optional
            Write the learner state and the trajectory so far to this file (:mod:`probsnn.checkpoint`, kind
            ``"ThreeFactorVI"``): the stream then runs in chunks of ``checkpoint_every`` steps, the file is
            written after each chunk, and, on ``KeyboardInterrupt``, with the state after the last complete
            chunk (then the interrupt is raised again). The file holds the whole trajectory arrays
            (``2 T K N`` numbers), so it is rewritten in full after each chunk; call from Python, not under a
            caller's ``jax.jit``.
        checkpoint_every : int, optional
            Steps per chunk (>= 1); default: all ``T`` (one checkpoint, at the end).
        resume : bool
            Continue from ``checkpoint`` when the file exists (from the start otherwise). The call must be the
            interrupted one (same inputs, initial state, key and ``checkpoint_every``, checked through the
            fingerprints the file holds); the result is then bit-for-bit that of the uninterrupted call.

        Raises
        ------
        ValueError
            For inputs of the wrong shape or values, bad checkpoint arguments, or a checkpoint file that is
            damaged or belongs to another run.
        """
        path, every, resume = checkpoint_options(checkpoint, checkpoint_every, resume)
        net = self.net
        stimulus = jnp.asarray(stimulus, params.bias.dtype)
        visible = jnp.asarray(visible, params.bias.dtype)
        if stimulus.ndim != 2 or stimulus.shape[1] != net.n_stimulus_dims:
            raise ValueError(f"stimulus must have shape (T, {net.n_stimulus_dims}), got {stimulus.shape}.")
        if visible.shape != (stimulus.shape[0], net.n_visible):
            raise ValueError(f"visible must have shape ({stimulus.shape[0]}, {net.n_visible}), got {visible.shape}.")
        if rewards is not None and jnp.shape(rewards) != (stimulus.shape[0],):
            raise ValueError(f"rewards must have shape ({stimulus.shape[0]},), one reward per bin of the stimulus, "
                             f"got shape {jnp.shape(rewards)}; pass None for no reward.")
        _check_stream(net, "stimulus", stimulus, "visible", visible, rewards)
        if rewards is None:
            rewards = jnp.zeros(stimulus.shape[0], params.bias.dtype)
        rewards = jnp.asarray(rewards, params.bias.dtype)
        restart = trial_restarts("trial_starts", trial_starts, stimulus.shape[0])
        restart = None if restart is None else jnp.asarray(restart)
        if path is None:
            return self._run_jit(params, opt_state, state, stimulus, visible, rewards, key, restart)
        return self._run_checkpointed(path, every, resume, params, opt_state, state, stimulus, visible, rewards, key,
                                      restart)

    def _run_checkpointed(self, path, every, resume, params, opt_state, state, stimulus, visible, rewards, key,
                          restart=None):
        """:meth:`run` in chunks of ``every`` steps, saving the state and trajectory after each."""
        n_total = int(stimulus.shape[0])
        every = n_total if every is None else every
        keys = jax.random.split(key, n_total)
        one_step = jax.eval_shape(self._scan_steps, params, opt_state, state, stimulus[:1], visible[:1],
                                  rewards[:1], keys[:1])[3]
        trajectory = tuple(np.zeros((n_total,) + leaf.shape[1:], leaf.dtype) for leaf in one_step)
        config = {"n_steps_total": n_total, "checkpoint_every": every, "learner": repr(self),
                  "start": fingerprint(params, opt_state, state), "data": fingerprint(stimulus, visible, rewards),
                  "key": fingerprint(key)}
        if restart is not None:
            config["trial_starts"] = fingerprint(restart)
        done = 0
        if resume:
            like = {"params": params, "opt_state": opt_state, "state": state, "trajectory": trajectory}
            saved = resume_checkpoint(path, "ThreeFactorVI", config, like)
            if saved is not None:
                params, opt_state, state = (saved.trees[name] for name in ("params", "opt_state", "state"))
                trajectory, done = tuple(np.array(leaf) for leaf in saved.trees["trajectory"]), saved.step

        def save(progress):
            p, o, s, step = progress
            trees = {"params": p, "opt_state": o, "state": s, "trajectory": trajectory}
            save_checkpoint(path, "ThreeFactorVI", config, trees, step=step)

        def advance(progress):
            p, o, s, start = progress
            stop = min(start + every, n_total)
            p, o, s, traj = self._chunk_jit(p, o, s, stimulus[start:stop], visible[start:stop],
                                            rewards[start:stop], keys[start:stop],
                                            None if restart is None else restart[start:stop])
            for buffer, leaf in zip(trajectory, traj):
                buffer[start:stop] = np.asarray(leaf)
            return p, o, s, stop

        params, opt_state, state, _ = run_in_chunks((params, opt_state, state, done), n_total, advance, save)
        return params, opt_state, state, tuple(jnp.asarray(buffer) for buffer in trajectory)

    # ------------------------------------------------------------------ episode (batch) estimator
    def episode_update(self, params: GLMParams, key, stimulus, visible, reward=None, baseline=None):
        """Unbiased estimate of the ELBO gradient (``"mean"``) or of the ``K``-sample bound (``"iw"``) on one example.

        Returns ``(delta, info)`` with ``delta`` the ascent direction (GLMParams) and ``info`` a dict with the
        per-sample summed learning signals ``L`` ``[K]`` and the per-sample summed scores ``G`` (leading K).
        ``baseline`` (GLMParams or scalar, default 0) is used for ``K = 1``; it must not depend on this
        example's samples. With ``K > 1`` the leave-one-out baselines are used.
        """
        net, k = self.net, self.n_samples
        keys = jax.random.split(key, k)
        grads, signals, _ = jax.vmap(lambda kk: episode_statistics(net, params, kk, stimulus, visible, reward,
                                                                   self.likelihood_weight))(keys)
        vis = jnp.asarray(net.visible_mask, params.bias.dtype)
        lat = 1.0 - vis
        if baseline is None:
            baseline = 0.0
        if isinstance(baseline, GLMParams):
            base_tree = baseline
        else:
            base_tree = jax.tree.map(lambda p: jnp.full_like(p, baseline), params)
        if k == 1:
            centred = jax.tree.map(lambda g, b: (signals[0] - b) * g[0], grads, base_tree)
            vis_part = jax.tree.map(lambda g: g[0], grads)
            delta = jax.tree.map(lambda v, c: _row_select(v, vis) + _row_select(c, lat), vis_part, centred)
        elif self.multi_sample == "mean":
            loo = (jnp.sum(signals) - signals) / (k - 1)
            vis_part = jax.tree.map(lambda g: jnp.mean(g, axis=0), grads)
            lat_part = jax.tree.map(lambda g: jnp.mean(_bcast(signals - loo, g) * g, axis=0), grads)
            delta = jax.tree.map(lambda v, c: _row_select(v, vis) + _row_select(c, lat), vis_part, lat_part)
        else:
            f = jax.nn.logsumexp(signals) - jnp.log(k)
            weights = jax.nn.softmax(signals)
            others_mean = (jnp.sum(signals) - signals) / (k - 1)
            # VIMCO: replace L^k by the mean of the others, recompute log-mean-exp
            replaced = jnp.where(jnp.eye(k, dtype=bool), others_mean[:, None], signals[None, :])
            loo = jax.nn.logsumexp(replaced, axis=1) - jnp.log(k)
            vis_part = jax.tree.map(lambda g: jnp.sum(_bcast(weights, g) * g, axis=0), grads)
            lat_part = jax.tree.map(lambda g: jnp.sum(_bcast(f - loo, g) * g, axis=0), grads)
            delta = jax.tree.map(lambda v, c: _row_select(v, vis) + _row_select(c, lat), vis_part, lat_part)
        return delta, {"L": signals, "G": grads}

    @cached_property
    def _batch_jit(self):
        def run(params, opt_state, baseline_stats, key, stimuli, visibles):
            keys = jax.random.split(key, stimuli.shape[0])
            num, den = baseline_stats
            base = (jax.tree.map(lambda n, d: n / (d + 1e-12), num, den) if (self.baseline and self.n_samples == 1)
                    else None)
            deltas, info = jax.vmap(
                lambda kk, s, v: self.episode_update(params, kk, s, v, None, base)
            )(keys, stimuli, visibles)
            delta = jax.tree.map(lambda d: jnp.mean(d, axis=0), deltas)
            if self.baseline and self.n_samples == 1:
                beta = self.baseline_decay
                g2 = jax.tree.map(lambda g: g[:, 0] ** 2, info["G"])
                sig = info["L"][:, 0]
                num = jax.tree.map(lambda n, g: beta * n + (1 - beta) * jnp.mean(_bcast(sig, g) * g, axis=0), num, g2)
                den = jax.tree.map(lambda d, g: beta * d + (1 - beta) * jnp.mean(g, axis=0), den, g2)
            params, opt_state = self.apply(params, opt_state, delta)
            return params, opt_state, (num, den), jnp.mean(info["L"])

        return jax.jit(run)

    def init_batch(self, params: GLMParams):
        """``(opt_state, baseline_stats)`` for :meth:`batch_update`."""
        self.net.check_params(params)
        zeros = jax.tree.map(jnp.zeros_like, params)
        return self.optimizer.init(params), (zeros, zeros)

    def batch_update(self, params, opt_state, baseline_stats, key, stimuli, visibles):
        """One optimiser step on a mini-batch of examples ``stimuli [B, T, D]``, ``visibles [B, T, N_v]``.

        Returns ``(params, opt_state, baseline_stats, mean_learning_signal)``.
        """
        net = self.net
        dtype = params.bias.dtype
        stimuli, visibles = jnp.asarray(stimuli, dtype), jnp.asarray(visibles, dtype)
        if stimuli.ndim != 3 or stimuli.shape[2] != net.n_stimulus_dims:
            raise ValueError(f"stimuli must have shape (B, T, {net.n_stimulus_dims}), got {stimuli.shape}.")
        if visibles.shape != stimuli.shape[:2] + (net.n_visible,):
            raise ValueError(f"visibles must have shape {stimuli.shape[:2] + (net.n_visible,)}, got {visibles.shape}.")
        _check_stream(net, "stimuli", stimuli, "visibles", visibles)
        return self._batch_jit(params, opt_state, baseline_stats, key, stimuli, visibles)


def _check_stream(net: GLMNetwork, stimulus_name: str, stimulus, visible_name: str, visible, rewards=None) -> None:
    """Concrete inputs only (traced ones, under a caller's jit, are left alone): finite stimulus and rewards,
    visible spikes that the observation model can have produced (0/1 for Bernoulli, counts >= 0 otherwise)."""
    for name, value in ((stimulus_name, stimulus), ("rewards", rewards)):
        array = None if value is None else concrete(value)
        if array is not None and array.size and not np.all(np.isfinite(array)):
            index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
            raise ValueError(f"{name} holds a non-finite value ({array[index]}) at index {index}; "
                             "remove or impute NaN/inf before streaming.")
    array = concrete(visible)
    if array is None or not array.size:
        return
    binary = net.observation.mean_bounds[1] == 1.0
    if binary:
        bad = ~((array == 0) | (array == 1))
        want = f"0 or 1 (a Bernoulli network, observation={net.observation.name!r})"
        fix = "binarise the spikes (e.g. counts > 0), use a smaller bin, or a count observation such as 'poisson'"
    else:
        bad = ~np.isfinite(array) | (array < 0) | (array != np.round(array))
        want = "a whole number >= 0 (a spike count)"
        fix = "pass the binned spike counts"
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{visible_name} must hold spikes that are {want}, but {visible_name}{list(index)} = {array[index]} "
            f"({int(bad.sum())} such entries); {fix}."
        )


def _bcast(vector, like):
    """Reshape a ``[K]`` vector to broadcast against ``like`` ``[K, ...]``."""
    return vector.reshape(vector.shape + (1,) * (like.ndim - 1))


def _row_select(leaf, row_weight):
    """Multiply a ``[N, ...]`` leaf by a ``[N]`` row weight."""
    return leaf * row_weight.reshape(row_weight.shape + (1,) * (leaf.ndim - 1))
