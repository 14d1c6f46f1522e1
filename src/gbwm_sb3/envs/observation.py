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

Problems of the general class (several goals a year, goals with levels,
infusions; ``problem.in_paper_family`` False) use the cash at hand
``A = W + I(t)`` in place of ``W`` in features 1-5 (``goal_affordable`` then
says whether any decision other than "take nothing" is affordable; the costs
in features 3 and 5 are those of the goals' top levels) and append
``GENERAL_EXTRA_FEATURES`` and then ``K`` decision flags:

6. ``log_future_infusions_to_cash``  log(1 + F / A), F the infusions of the years
                              after ``t`` (``I(t+1) + ... + I(T-1)``), capped at LOG_CLIP.
7. ``log_resources_to_remaining_cost`` log((A + F) / C_left), clipped to
                              [-LOG_CLIP, LOG_CLIP] (0.0 if no goal is left).
8 .. 8+K-1. ``decision_affordable_k``  1.0 if decision k exists at ``t < T`` and
                              costs at most ``A`` (decision 0 always at ``t < T``).
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
    "observation_size",
    "GENERAL_EXTRA_FEATURES",
    "DECISION_FLAGS_START",
    "decision_affordable",
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
GENERAL_EXTRA_FEATURES = (
    "log_future_infusions_to_cash",
    "log_resources_to_remaining_cost",
)
#: Index of the first decision flag in a general-class observation.
DECISION_FLAGS_START = OBSERVATION_DIM + len(GENERAL_EXTRA_FEATURES)
WEALTH_FLOOR = 1e-3
LOG_CLIP = 7.0


def observation_size(arrays: ProblemArrays | None = None) -> int:
    """Length of the observation: 6 for the paper family, ``8 + K`` for the general class."""
    if arrays is None or not arrays.general:
        return OBSERVATION_DIM
    return DECISION_FLAGS_START + arrays.num_decisions


def observation_bounds(arrays: ProblemArrays | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of each feature (for the Box observation space)."""
    low = np.array([0.0, np.log(WEALTH_FLOOR), 0.0, -LOG_CLIP, 0.0, -LOG_CLIP],
                   dtype=np.float32)
    high = np.array([1.0, LOG_CLIP, 1.0, LOG_CLIP, 1.0, LOG_CLIP], dtype=np.float32)
    if arrays is None or not arrays.general:
        return low, high
    k = arrays.num_decisions
    low = np.concatenate([low, [0.0, -LOG_CLIP], np.zeros(k)]).astype(np.float32)
    high = np.concatenate([high, [LOG_CLIP, LOG_CLIP], np.ones(k)]).astype(np.float32)
    return low, high


def decision_affordable(arrays: ProblemArrays, t: int, wealth: np.ndarray) -> np.ndarray:
    """(len(wealth), K) bool: the decisions that exist at ``t < T`` and cost at most the cash.

    Works for both families (paper: columns skip, take); all False at ``t = T``.
    """
    wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
    if t >= arrays.horizon:
        return np.zeros((wealth.shape[0], arrays.num_decisions), dtype=bool)
    cash = wealth + arrays.infusions[t]
    return arrays.decision_cost[t][None, :] <= cash[:, None]


def goal_affordable(arrays: ProblemArrays, t: int, wealth: np.ndarray) -> np.ndarray:
    """Where the goal decision at year ``t`` has an effect (goal present, affordable, t < T)."""
    if t >= arrays.horizon or not arrays.has_goal[t]:
        return np.zeros(np.shape(wealth), dtype=bool)
    if arrays.general:
        return decision_affordable(arrays, t, wealth)[:, 1:].any(axis=1).reshape(np.shape(wealth))
    return np.asarray(wealth) >= arrays.costs[t]


def encode_observation(arrays: ProblemArrays, t: int, wealth: np.ndarray) -> np.ndarray:
    """Observations of shape (len(wealth), observation_size) for year ``t`` and pre-goal wealth."""
    wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
    if arrays.general:
        return _encode_general(arrays, t, wealth)
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


def _encode_general(arrays: ProblemArrays, t: int, wealth: np.ndarray) -> np.ndarray:
    """The general-class observation (see the module docstring)."""
    year = min(t, arrays.horizon)
    cash = wealth + arrays.infusions[year]
    obs = np.empty((wealth.shape[0], observation_size(arrays)), dtype=np.float32)
    safe_cash = np.maximum(cash, WEALTH_FLOOR * arrays.initial_wealth)
    obs[:, 0] = t / arrays.horizon
    obs[:, 1] = np.minimum(np.log(safe_cash / arrays.initial_wealth), LOG_CLIP)
    flags = decision_affordable(arrays, t, wealth)
    obs[:, 2] = flags[:, 1:].any(axis=1)
    obs[:, 3] = _log_ratio_to(safe_cash, arrays.next_cost[year])
    next_time = arrays.next_goal_time[year]
    obs[:, 4] = (next_time - t) / arrays.horizon if np.isfinite(next_time) else 0.0
    obs[:, 5] = _log_ratio_to(safe_cash, arrays.remaining_cost[year])
    future = arrays.future_infusions[year]
    obs[:, 6] = np.minimum(np.log1p(future / safe_cash), LOG_CLIP)
    obs[:, 7] = _log_ratio_to(safe_cash + future, arrays.remaining_cost[year])
    obs[:, DECISION_FLAGS_START:] = flags
    return obs


def _log_ratio_to(wealth: np.ndarray, amount: float) -> np.ndarray | float:
    """log(wealth / amount) clipped to [-LOG_CLIP, LOG_CLIP]; 0.0 when there is no amount."""
    if not (np.isfinite(amount) and amount > 0.0):
        return 0.0
    return np.clip(np.log(wealth / amount), -LOG_CLIP, LOG_CLIP)
