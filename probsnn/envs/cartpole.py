r"""Cart-pole balancing in pure JAX (Barto, Sutton & Anderson 1983; the dynamics of Gym's ``CartPole``).

State :math:`(x, \dot x, \theta, \dot\theta)`; action 0 pushes left, 1 pushes right with force
:math:`F = \pm 10` N. With :math:`m_c = 1`, :math:`m_p = 0.1`, half-pole length :math:`l = 0.5`,
:math:`g = 9.8` (Florian 2007, "Correct equations for the dynamics of the cart-pole system"):

.. math::
    \ddot\theta = \frac{g\sin\theta - \cos\theta\,\frac{F + m_p l \dot\theta^2 \sin\theta}{m_c + m_p}}
                       {l\,\big(\tfrac43 - \frac{m_p \cos^2\theta}{m_c + m_p}\big)},\qquad
    \ddot x = \frac{F + m_p l(\dot\theta^2\sin\theta - \ddot\theta\cos\theta)}{m_c + m_p},

integrated by explicit Euler with :math:`\Delta t = 0.02` s. Reward +1 per step; the episode terminates when
:math:`|x| > 2.4` or :math:`|\theta| > 12^\circ` and is truncated after ``max_steps`` (200, as in
``CartPole-v0``, whose "solved" threshold is a mean return >= 195 over 100 episodes). The start state is
uniform in :math:`[-0.05, 0.05]^4`.

The observation is the continuous state (float array of 4); spike encoders live in
:mod:`probsnn.encoding` (:class:`~probsnn.encoding.PopulationEncoder`).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._checks import positive_float, positive_int

__all__ = ["CartPole", "CartPoleState"]


class CartPoleState(NamedTuple):
    """Physical state ``[x, x_dot, theta, theta_dot]`` and the step counter."""

    physics: jax.Array
    t: jax.Array


class CartPole:
    """Cart-pole balancing with the classic constants; pure ``reset``/``step`` (jit/vmap friendly)."""

    n_actions = 2
    observation_kind = "continuous"
    observation_dim = 4
    # typical ranges of the state while balancing, used to place encoder receptive fields
    observation_low = (-2.4, -3.0, -0.21, -3.5)
    observation_high = (2.4, 3.0, 0.21, 3.5)

    def __init__(self, max_steps: int = 200, gravity=9.8, cart_mass=1.0, pole_mass=0.1, half_length=0.5,
                 force=10.0, dt=0.02, x_limit=2.4, theta_limit=12 * 2 * 3.141592653589793 / 360):
        self.max_steps = positive_int("max_steps", max_steps)
        self.gravity = positive_float("gravity", gravity)
        self.cart_mass = positive_float("cart_mass", cart_mass)
        self.pole_mass = positive_float("pole_mass", pole_mass)
        self.half_length = positive_float("half_length", half_length)
        self.force = positive_float("force", force)
        self.dt = positive_float("dt", dt)
        self.x_limit = positive_float("x_limit", x_limit)
        self.theta_limit = positive_float("theta_limit", theta_limit)

    def __repr__(self) -> str:
        return f"CartPole(max_steps={self.max_steps}, dt={self.dt})"

    def reset(self, key):
        """Uniform start in ``[-0.05, 0.05]^4``."""
        physics = jax.random.uniform(key, (4,), jnp.result_type(float), -0.05, 0.05)
        state = CartPoleState(physics, jnp.int32(0))
        return state, physics

    def derivatives(self, physics, action):
        """``(x_dot, x_ddot, theta_dot, theta_ddot)`` for the push ``action`` (0 left, 1 right)."""
        x, x_dot, theta, theta_dot = physics
        force = jnp.where(action == 1, self.force, -self.force)
        total = self.cart_mass + self.pole_mass
        cos, sin = jnp.cos(theta), jnp.sin(theta)
        temp = (force + self.pole_mass * self.half_length * theta_dot**2 * sin) / total
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.half_length * (4.0 / 3.0 - self.pole_mass * cos**2 / total))
        x_acc = temp - self.pole_mass * self.half_length * theta_acc * cos / total
        return jnp.stack([x_dot, x_acc, theta_dot, theta_acc])

    def step(self, state: CartPoleState, action, key=None):
        """Explicit Euler step; reward 1; terminate outside the limits, truncate at ``max_steps``."""
        physics = state.physics + self.dt * self.derivatives(state.physics, action)
        t = state.t + 1
        terminated = (jnp.abs(physics[0]) > self.x_limit) | (jnp.abs(physics[2]) > self.theta_limit)
        truncated = (t >= self.max_steps) & ~terminated
        new = CartPoleState(physics, t.astype(jnp.int32))
        return new, physics, jnp.asarray(1.0, physics.dtype), terminated, truncated, {}
