r"""Grid worlds in pure JAX: the windy grid world of Sutton & Barto and a grid world without wind.

The windy grid world (Sutton & Barto, *Reinforcement Learning: An Introduction*, 2nd ed., Example 6.5) is a
7 x 10 grid. The agent starts in cell (row 3, column 0) and must reach the goal (row 3, column 7); every step
costs a reward of -1 until the goal is reached (undiscounted). Four actions move one cell
(0 = up, 1 = right, 2 = down, 3 = left). In columns 3-8 a wind pushes the agent upward by the column's
strength ``(0, 0, 0, 1, 1, 1, 2, 2, 1, 0)``, evaluated in the column the agent moves *from*:

.. math::
    r_{t+1} = \mathrm{clip}(r_t + \Delta r(a_t) - w(c_t),\ 0,\ 6), \qquad
    c_{t+1} = \mathrm{clip}(c_t + \Delta c(a_t),\ 0,\ 9).

(The clip is the grid's wall, part of the dynamics, not a repair of bad input.) The shortest path takes
15 steps (Sutton & Barto, Fig. in Example 6.5). Setting the wind to zero gives the plain grid world
(shortest path 7 steps for the same start and goal).

All functions are pure and jit/vmap friendly: ``reset(key) -> (state, obs)``,
``step(state, action, key) -> (state, obs, reward, terminated, truncated, info)``. The observation is the
integer cell index ``row * n_cols + col``. Episodes are truncated after ``max_steps`` steps.

``random_start=True`` gives *exploring starts* (Sutton & Barto, Sec. 5.3): every episode starts in a cell drawn
uniformly from the non-goal cells. A uniformly random policy needs a median of about 4,300 steps to reach the
windy goal from the fixed start, so policy-gradient training from scratch uses exploring starts, and the
trained policy is evaluated from the fixed start.
"""
from __future__ import annotations

from collections import deque
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_float, non_negative_int, positive_int

__all__ = ["GridState", "GridWorld", "windy_gridworld", "gridworld", "shortest_path_length"]

WINDY_WIND = (0, 0, 0, 1, 1, 1, 2, 2, 1, 0)
# action -> (d_row, d_col): up, right, down, left
_MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]], dtype=np.int32)


class GridState(NamedTuple):
    """Environment state: the agent's cell and the number of steps taken."""

    row: jax.Array
    col: jax.Array
    t: jax.Array


class GridWorld:
    """A deterministic grid world with optional column-wise upward wind.

    Parameters
    ----------
    n_rows, n_cols : int
        Grid size.
    start, goal : (row, col)
        Start and goal cells.
    wind : sequence of int, length ``n_cols``
        Upward push per column (0 = no wind).
    max_steps : int
        Episodes are truncated after this many steps.
    step_reward : float
        Reward of every step (``-1``: the return is minus the episode length).
    random_start : bool
        Exploring starts: draw the start cell uniformly from the non-goal cells at every reset.
    """

    n_actions = 4
    observation_kind = "discrete"

    def __init__(self, n_rows=7, n_cols=10, start=(3, 0), goal=(3, 7), wind=None, max_steps=200, step_reward=-1.0,
                 random_start=False):
        self.n_rows, self.n_cols = positive_int("n_rows", n_rows), positive_int("n_cols", n_cols)
        self.max_steps = positive_int("max_steps", max_steps)
        wind = (0,) * self.n_cols if wind is None else tuple(wind)
        if len(wind) != self.n_cols:
            raise ValueError(f"wind needs one entry per column ({self.n_cols}), got {len(wind)}.")
        wind = tuple(non_negative_int(f"wind[{c}] (upward push)", w) for c, w in enumerate(wind))
        for name, cell in (("start", start), ("goal", goal)):
            r, c = cell
            if not (0 <= r < self.n_rows and 0 <= c < self.n_cols):
                raise ValueError(f"{name} {cell} lies outside the {self.n_rows}x{self.n_cols} grid.")
        if tuple(start) == tuple(goal):
            raise ValueError("start and goal must differ.")
        self.start, self.goal, self.wind = tuple(map(int, start)), tuple(map(int, goal)), wind
        self.step_reward = check_float("step_reward", step_reward)
        self.random_start = bool(random_start)

    @property
    def n_states(self) -> int:
        return self.n_rows * self.n_cols

    def __repr__(self) -> str:
        return (f"GridWorld({self.n_rows}x{self.n_cols}, start={self.start}, goal={self.goal}, wind={self.wind}, "
                f"max_steps={self.max_steps}, random_start={self.random_start})")

    def observe(self, state: GridState):
        """Cell index ``row * n_cols + col`` (int32)."""
        return (state.row * self.n_cols + state.col).astype(jnp.int32)

    def reset(self, key=None):
        """Start cell (fixed, or uniform over non-goal cells with ``random_start``), step counter 0."""
        if self.random_start:
            if key is None:
                raise ValueError("random_start=True needs a PRNG key in reset(key).")
            goal = self.goal[0] * self.n_cols + self.goal[1]
            index = jax.random.randint(key, (), 0, self.n_states - 1)
            index = jnp.where(index >= goal, index + 1, index).astype(jnp.int32)
            state = GridState(index // self.n_cols, index % self.n_cols, jnp.int32(0))
        else:
            state = GridState(jnp.int32(self.start[0]), jnp.int32(self.start[1]), jnp.int32(0))
        return state, self.observe(state)

    def with_fixed_start(self) -> "GridWorld":
        """The same world with the fixed start cell (for evaluating a policy trained with exploring starts)."""
        return GridWorld(self.n_rows, self.n_cols, self.start, self.goal, self.wind, self.max_steps,
                         self.step_reward, random_start=False)

    def step(self, state: GridState, action, key=None):
        """Move, apply the wind of the current column, stop at the walls; reward ``step_reward`` per step."""
        moves = jnp.asarray(_MOVES)
        wind = jnp.asarray(self.wind, jnp.int32)
        d = moves[action]
        row = jnp.clip(state.row + d[0] - wind[state.col], 0, self.n_rows - 1)
        col = jnp.clip(state.col + d[1], 0, self.n_cols - 1)
        t = state.t + 1
        new = GridState(row.astype(jnp.int32), col.astype(jnp.int32), t.astype(jnp.int32))
        terminated = (row == self.goal[0]) & (col == self.goal[1])
        truncated = (t >= self.max_steps) & ~terminated
        reward = jnp.asarray(self.step_reward)
        return new, self.observe(new), reward, terminated, truncated, {}

    def shortest_path_length(self) -> int:
        """Optimal episode length by breadth-first search over the deterministic dynamics (NumPy)."""
        return shortest_path_length(self)


def shortest_path_length(env: GridWorld) -> int:
    """Breadth-first search for the fewest steps from start to goal (independent of the JAX step)."""
    seen = {env.start: 0}
    queue = deque([env.start])
    while queue:
        r, c = queue.popleft()
        if (r, c) == env.goal:
            return seen[(r, c)]
        for dr, dc in _MOVES:
            nr = min(max(r + int(dr) - env.wind[c], 0), env.n_rows - 1)
            nc = min(max(c + int(dc), 0), env.n_cols - 1)
            if (nr, nc) not in seen:
                seen[(nr, nc)] = seen[(r, c)] + 1
                queue.append((nr, nc))
    raise ValueError("the goal cannot be reached from the start.")


def windy_gridworld(max_steps: int = 200, random_start: bool = False) -> GridWorld:
    """Sutton & Barto's windy grid world (7x10, start (3,0), goal (3,7), optimum 15 steps)."""
    return GridWorld(7, 10, (3, 0), (3, 7), WINDY_WIND, max_steps=max_steps, random_start=random_start)


def gridworld(max_steps: int = 200, random_start: bool = False) -> GridWorld:
    """The same 7x10 grid without wind (optimum 7 steps)."""
    return GridWorld(7, 10, (3, 0), (3, 7), None, max_steps=max_steps, random_start=random_start)
