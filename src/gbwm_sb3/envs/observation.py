"""The observation the networks see: a small, scale-invariant float32 vector.

Layout (``OBSERVATION_FEATURES``), for year ``t`` and pre-goal wealth ``W``:

0. ``time_fraction``          t / T, in [0, 1].
1. ``log_wealth_ratio``       log(W / W0), with W floored at ``WEALTH_FLOOR * W0`` and
                              the log capped at LOG_CLIP.
2. ``goal_affordable``        1.0 if a goal sits at ``t < T`` and ``W >= C(t)``,
                              i.e. the goal decision has an effect; else 0.0.
3. ``log_wealth_to_next_cost`` log(W / C_next), C_next the cost of the first goal
                              at or after ``t`` (0.0 if none is left), clipped to
                              [-LOG_CLIP, LOG_CLIP].
4. ``years_to_next_goal``     (t_next - t) / T, t_next the year of that goal (0.0 if
                              none is left), in [0, 1].
5. ``log_wealth_to_remaining_cost`` log(W / C_left), C_left the total cost of the
                              goals at or after ``t`` (0.0 if none is left), clipped
                              to [-LOG_CLIP, LOG_CLIP].

Features 4 and 5 put the goal schedule into the observation: how long the
wealth has to grow before the next goal, and how much of everything still on
offer it could pay for. With only ``t / T`` a network has to learn the goal
calendar (a saw-tooth in t for equally spaced goals) from data. With one goal
left feature 5 equals feature 3; a wealth-free variant, log(C_left / C_next),
trained worse with the paper preset (docs/tuning.md).

Every feature is a ratio of money amounts or of years, so multiplying ``W0``
and every cost by the same factor leaves the observation unchanged.
``GBWMPolicy`` reads ``goal_affordable`` to mask the goal head.
"""

from __future__ import annotations

import numpy as np

from gbwm_sb3.envs.dynamics import ProblemArrays

__all__ = [
    "OBSERVATION_FEATURES",
    "OBSERVATION_DIM",
    "GOAL_AFFORDABLE_INDEX",
    "WEALTH_FLOOR",
    "LOG_CLIP",
    "encode_observation",
    "observation_bounds",
]

OBSERVATION_FEATURES = (
    "time_fraction",
    "log_wealth_ratio",
    "goal_affordable",
    "log_wealth_to_next_cost",
    "years_to_next_goal",
    "log_wealth_to_remaining_cost",
)
OBSERVATION_DIM = len(OBSERVATION_FEATURES)
GOAL_AFFORDABLE_INDEX = OBSERVATION_FEATURES.index("goal_affordable")
WEALTH_FLOOR = 1e-3
LOG_CLIP = 7.0


def observation_bounds() -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of each feature (for the Box observation space)."""
    low = np.array([0.0, np.log(WEALTH_FLOOR), 0.0, -LOG_CLIP, 0.0, -LOG_CLIP],
                   dtype=np.float32)
    high = np.array([1.0, LOG_CLIP, 1.0, LOG_CLIP, 1.0, LOG_CLIP], dtype=np.float32)
    return low, high


def goal_affordable(arrays: ProblemArrays, t: int, wealth: np.ndarray) -> np.ndarray:
    """Where the goal decision at year ``t`` has an effect (goal present, affordable, t < T)."""
    if t >= arrays.horizon or not arrays.has_goal[t]:
        return np.zeros(np.shape(wealth), dtype=bool)
    return np.asarray(wealth) >= arrays.costs[t]


def encode_observation(arrays: ProblemArrays, t: int, wealth: np.ndarray) -> np.ndarray:
    """Observations of shape (len(wealth), OBSERVATION_DIM) for year ``t`` and pre-goal wealth."""
    wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
    obs = np.empty((wealth.shape[0], OBSERVATION_DIM), dtype=np.float32)
    safe_wealth = np.maximum(wealth, WEALTH_FLOOR * arrays.initial_wealth)
    obs[:, 0] = t / arrays.horizon
    obs[:, 1] = np.minimum(np.log(safe_wealth / arrays.initial_wealth), LOG_CLIP)
    obs[:, 2] = goal_affordable(arrays, t, wealth)
    year = min(t, arrays.horizon)
    obs[:, 3] = _log_ratio_to(safe_wealth, arrays.next_cost[year])
    next_time = arrays.next_goal_time[year]
    obs[:, 4] = (next_time - t) / arrays.horizon if np.isfinite(next_time) else 0.0
    obs[:, 5] = _log_ratio_to(safe_wealth, arrays.remaining_cost[year])
    return obs


def _log_ratio_to(wealth: np.ndarray, amount: float) -> np.ndarray | float:
    """log(wealth / amount) clipped to [-LOG_CLIP, LOG_CLIP]; 0.0 when there is no amount."""
    if not (np.isfinite(amount) and amount > 0.0):
        return 0.0
    return np.clip(np.log(wealth / amount), -LOG_CLIP, LOG_CLIP)
