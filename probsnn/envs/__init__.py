"""Small control environments with a pure-JAX ``reset``/``step`` interface (episodes jit and vmap).

``reset(key) -> (state, observation)``; ``step(state, action, key) -> (state, observation, reward, terminated,
truncated, info)``. :mod:`probsnn.envs.gymnasium_adapter` wraps a Gymnasium environment (imported lazily).
"""
from .cartpole import CartPole, CartPoleState
from .gridworld import GridState, GridWorld, gridworld, shortest_path_length, windy_gridworld

__all__ = ["CartPole", "CartPoleState", "GridState", "GridWorld", "gridworld", "shortest_path_length",
           "windy_gridworld"]
