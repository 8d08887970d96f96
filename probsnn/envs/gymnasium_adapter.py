"""Run a first-to-spike policy on a Gymnasium environment (Gymnasium is imported lazily, only here).

Gymnasium environments are stateful Python objects, so episodes run in a Python loop with a jitted
decision per step (no whole-episode jit/vmap, unlike :mod:`probsnn.envs`). Discrete observations are passed
as integers (use :class:`~probsnn.encoding.OneHotEncoder`), Box observations as float arrays
(:class:`~probsnn.encoding.PopulationEncoder`).
"""
from __future__ import annotations

import jax
import numpy as np

__all__ = ["GymnasiumAdapter"]


class GymnasiumAdapter:
    """Wrap ``gymnasium.make(env_id)`` (or an existing env) for :class:`FirstToSpikePolicy` roll-outs."""

    def __init__(self, env, **make_kwargs):
        try:
            import gymnasium
        except ImportError as err:  # pragma: no cover - depends on the user's environment
            raise ImportError("GymnasiumAdapter needs gymnasium: pip install gymnasium") from err
        self.env = gymnasium.make(env, **make_kwargs) if isinstance(env, str) else env
        space = self.env.action_space
        if not isinstance(space, gymnasium.spaces.Discrete):
            raise ValueError(f"first-to-spike policies need a Discrete action space, got {space}.")
        self.n_actions = int(space.n)

    def run_episode(self, policy, params, key, seed: int | None = None, max_steps: int = 10_000):
        """One episode with sampled first-to-spike decisions; returns ``(return, n_steps, spikes_per_decision)``."""
        if policy.n_actions != self.n_actions:
            raise ValueError(f"the policy has {policy.n_actions} outputs, the environment {self.n_actions} actions.")
        decide = jax.jit(policy.decide)
        obs, _ = self.env.reset(seed=seed)
        total, spikes, steps = 0.0, 0.0, 0
        while steps < max_steps:
            key, sub = jax.random.split(key)
            decision = decide(params, sub, np.asarray(obs))
            obs, reward, terminated, truncated, _ = self.env.step(int(decision.action))
            total, spikes, steps = total + float(reward), spikes + float(decision.n_spikes), steps + 1
            if terminated or truncated:
                break
        return total, steps, spikes / max(steps, 1)
