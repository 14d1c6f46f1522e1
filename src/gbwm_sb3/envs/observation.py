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
                              after ``t`` (``I(t+1) + ... + I(T-1)``), capped at LOG_CLIP;
                              with withdrawals F may be negative: floored at -LOG_CLIP.
7. ``log_resources_to_remaining_cost`` log((A + F) / C_left), clipped to
                              [-LOG_CLIP, LOG_CLIP] (0.0 if no goal is left; A + F
                              floored at ``WEALTH_FLOOR * W0``).
8 .. 8+K-1. ``decision_affordable_k``  1.0 if decision k exists at ``t < T`` and
                              costs at most ``A`` (decision 0 always at ``t < T``).

With ``decision_features=True`` (general class) ``K`` blocks of
``DECISION_FEATURES`` follow, one per decision (zeros where the decision does not exist
or ``t = T``), so that a goal head can score every decision from its own features with
shared weights (``GBWMPolicy(decision_goal_head=True)``):

- ``cost_to_cash``          c_d / A, capped at ``COST_RATIO_CAP``;
- ``utility_share``         u_d / U_left, U_left the top-level utility of the goals at
                            or after ``t``;
- ``log_funding_after``     log((A - c_d + F) / C_after), C_after the top-level cost of
                            the goals after ``t``, clipped to [-LOG_CLIP, LOG_CLIP]
                            (LOG_CLIP when none is left, -LOG_CLIP when unaffordable);
- ``goals_share``           goals the decision takes / goals due at ``t``;
- ``level_share``           mean over the year's goals of level taken / levels offered.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from gbwm_sb3.envs.dynamics import ProblemTable, any_affordable, decision_mask, has_withdrawals
from gbwm_sb3.problem.model import GBWMProblem

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
    "DECISION_FEATURES",
    "COST_RATIO_CAP",
    "decision_features_size",
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
#: Features of each decision (``decision_features=True``), see the module docstring.
DECISION_FEATURES = ("cost_to_cash", "utility_share", "log_funding_after", "goals_share",
                     "level_share")
#: Cap of ``cost_to_cash``.
COST_RATIO_CAP = 4.0
WEALTH_FLOOR = 1e-3
LOG_CLIP = 7.0
#: Smallest ``F / A`` feature 6 reads: withdrawals ahead larger than the cash give -LOG_CLIP.
_FUTURE_FLOOR = math.expm1(-LOG_CLIP)
_DECISION_LOW = np.array([0.0, 0.0, -LOG_CLIP, 0.0, 0.0], dtype=np.float32)
_DECISION_HIGH = np.array([COST_RATIO_CAP, 1.0, LOG_CLIP, 1.0, 1.0], dtype=np.float32)


def decision_features_size(num_decisions: int) -> int:
    """Length of the decision-feature block for ``K = num_decisions`` decisions."""
    return num_decisions * len(DECISION_FEATURES)


def _check_decision_features(table: ProblemTable | None, decision_features: bool) -> bool:
    if not isinstance(decision_features, (bool, np.bool_)):
        raise ValueError(f"decision_features must be True or False, got {decision_features!r}")
    if decision_features and (table is None or table.paper_family[0]):
        raise ValueError("decision_features=True needs a problem of the general class (the "
                         "paper's family keeps its 6-feature observation)")
    return bool(decision_features)


def observation_size(table: ProblemTable | None = None, decision_features: bool = False) -> int:
    """Length of the observation: 6 for the paper family, ``8 + K`` for the general class
    (``8 + K + 5 K`` with ``decision_features``)."""
    if table is None or table.paper_family[0]:
        _check_decision_features(table, decision_features)
        return OBSERVATION_DIM
    k = int(table.num_decisions[0])
    extra = decision_features_size(k) if _check_decision_features(table, decision_features) \
        else 0
    return DECISION_FLAGS_START + k + extra


def observation_bounds(table: ProblemTable | None = None, decision_features: bool = False
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of each feature (for the Box observation space)."""
    low = np.array([0.0, np.log(WEALTH_FLOOR), 0.0, -LOG_CLIP, 0.0, -LOG_CLIP],
                   dtype=np.float32)
    high = np.array([1.0, LOG_CLIP, 1.0, LOG_CLIP, 1.0, LOG_CLIP], dtype=np.float32)
    if table is None or table.paper_family[0]:
        _check_decision_features(table, decision_features)
        return low, high
    k = int(table.num_decisions[0])
    future_low = -LOG_CLIP if has_withdrawals(table) else 0.0
    low = np.concatenate([low, [future_low, -LOG_CLIP], np.zeros(k)]).astype(np.float32)
    high = np.concatenate([high, [LOG_CLIP, LOG_CLIP], np.ones(k)]).astype(np.float32)
    if _check_decision_features(table, decision_features):
        low = np.concatenate([low, np.tile(_DECISION_LOW, k)]).astype(np.float32)
        high = np.concatenate([high, np.tile(_DECISION_HIGH, k)]).astype(np.float32)
    return low, high


def decision_affordable(table: ProblemTable, t: int, wealth: np.ndarray) -> np.ndarray:
    """(len(wealth), K) bool: the decisions that exist at ``t < T`` and cost at most the cash.

    The kernel's :func:`~gbwm_sb3.envs.dynamics.decision_mask` for a one-problem table,
    cut to the problem's ``K`` (paper: columns skip, take); all False at ``t = T``.
    """
    return decision_mask(table, 0, t, wealth)[:, : int(table.num_decisions[0])]


def goal_affordable(table: ProblemTable, t: int, wealth: np.ndarray) -> np.ndarray:
    """Where the goal decision at year ``t`` has an effect: a decision other than "take
    nothing" is affordable (goal present, ``t < T``)."""
    if t >= table.horizon[0] or not table.has_goal[0, t]:
        return np.zeros(np.shape(wealth), dtype=bool)
    return any_affordable(table, 0, t, np.asarray(wealth, dtype=np.float64))


def encode_observation(table: ProblemTable, t: int, wealth: np.ndarray,
                       decision_features: bool = False) -> np.ndarray:
    """Observations of shape (len(wealth), observation_size) for year ``t`` and pre-goal wealth."""
    wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
    if not table.paper_family[0]:
        return _encode_general(table, t, wealth, decision_features)
    horizon, initial = int(table.horizon[0]), float(table.initial_wealth[0])
    obs = np.empty((wealth.shape[0], OBSERVATION_DIM), dtype=np.float32)
    safe_wealth = np.maximum(wealth, WEALTH_FLOOR * initial)
    obs[:, 0] = t / horizon
    obs[:, 1] = np.minimum(np.log(safe_wealth / initial), LOG_CLIP)
    obs[:, 2] = goal_affordable(table, t, wealth)
    year = min(t, horizon)
    obs[:, 3] = _log_ratio_to(safe_wealth, table.next_cost[0, year])
    next_time = table.next_goal_time[0, year]
    obs[:, 4] = (next_time - t) / horizon if np.isfinite(next_time) else 0.0
    obs[:, 5] = _log_ratio_to(safe_wealth, table.remaining_cost[0, year])
    return obs


def _encode_general(table: ProblemTable, t: int, wealth: np.ndarray,
                    decision_features: bool = False) -> np.ndarray:
    """The general-class observation (see the module docstring)."""
    horizon, initial = int(table.horizon[0]), float(table.initial_wealth[0])
    year = min(t, horizon)
    cash = wealth + table.infusions[0, year]
    obs = np.empty((wealth.shape[0], observation_size(table, decision_features)),
                   dtype=np.float32)
    safe_cash = np.maximum(cash, WEALTH_FLOOR * initial)
    obs[:, 0] = t / horizon
    obs[:, 1] = np.minimum(np.log(safe_cash / initial), LOG_CLIP)
    flags = decision_affordable(table, t, wealth)
    obs[:, 2] = flags[:, 1:].any(axis=1)
    obs[:, 3] = _log_ratio_to(safe_cash, table.next_cost[0, year])
    next_time = table.next_goal_time[0, year]
    obs[:, 4] = (next_time - t) / horizon if np.isfinite(next_time) else 0.0
    obs[:, 5] = _log_ratio_to(safe_cash, table.remaining_cost[0, year])
    future = table.future_infusions[0, year]  # negative with withdrawals
    obs[:, 6] = np.minimum(np.log1p(np.maximum(future / safe_cash, _FUTURE_FLOOR)), LOG_CLIP)
    resources = np.maximum(safe_cash + future, WEALTH_FLOOR * initial)
    obs[:, 7] = _log_ratio_to(resources, table.remaining_cost[0, year])
    k = flags.shape[1]
    obs[:, DECISION_FLAGS_START: DECISION_FLAGS_START + k] = flags
    if decision_features:
        obs[:, DECISION_FLAGS_START + k:] = _decision_block(table, t, safe_cash, cash, flags)
    return obs


def _decision_block(table: ProblemTable, t: int, safe_cash: np.ndarray, cash: np.ndarray,
                    affordable: np.ndarray) -> np.ndarray:
    """The ``K x len(DECISION_FEATURES)`` decision features, flattened decision-major."""
    n, k = affordable.shape
    block = np.zeros((n, k, len(DECISION_FEATURES)), dtype=np.float32)
    horizon = int(table.horizon[0])
    if t >= horizon:
        return block.reshape(n, -1)
    problem = table.problems[0]
    assert problem is not None
    shares = _decision_shares(problem)
    cost = table.decision_cost[0, t, :k]
    exists = np.isfinite(cost)
    safe_cost = np.where(exists, cost, 0.0)
    block[:, :, 0] = np.where(exists, np.minimum(safe_cost / safe_cash[:, None],
                                                 COST_RATIO_CAP), 0.0)
    block[:, :, 1] = shares[0][t]
    left_after = table.remaining_cost[0, t + 1]
    if left_after > 0.0:
        resources = np.maximum(cash[:, None] - safe_cost + table.future_infusions[0, t],
                               WEALTH_FLOOR * float(table.initial_wealth[0]))
        funding = np.clip(np.log(resources / left_after), -LOG_CLIP, LOG_CLIP)
    else:
        funding = np.full((n, k), LOG_CLIP)
    block[:, :, 2] = np.where(affordable, funding, np.where(exists, -LOG_CLIP, 0.0))
    block[:, :, 3] = shares[1][t]
    block[:, :, 4] = shares[2][t]
    return block.reshape(n, -1)


@lru_cache(maxsize=64)
def _decision_shares(problem: GBWMProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (year, decision): utility share of what is left, goals share, level share."""
    k = problem.max_decisions
    utility = np.zeros((problem.horizon + 1, k))
    goals = np.zeros((problem.horizon + 1, k))
    levels = np.zeros((problem.horizon + 1, k))
    left = np.cumsum([sum(g.max_utility for g in problem.goals_at(t))
                      for t in range(problem.horizon, -1, -1)])[::-1]
    for t in range(problem.horizon + 1):
        due = problem.goals_at(t)
        for d in problem.decisions(t):
            utility[t, d.index] = d.utility / left[t] if left[t] > 0 else 0.0
            if due:
                goals[t, d.index] = d.goals_taken / len(due)
                levels[t, d.index] = float(np.mean([level / goal.num_levels for goal, level
                                                    in zip(d.goals, d.levels, strict=True)]))
    return utility, goals, levels


def _log_ratio_to(wealth: np.ndarray, amount: float) -> np.ndarray | float:
    """log(wealth / amount) clipped to [-LOG_CLIP, LOG_CLIP]; 0.0 when there is no amount."""
    if not (np.isfinite(amount) and amount > 0.0):
        return 0.0
    return np.clip(np.log(wealth / amount), -LOG_CLIP, LOG_CLIP)
