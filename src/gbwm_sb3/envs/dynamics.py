"""The year-by-year mechanics of the GBWM problem, vectorised over trajectories.

One implementation shared by the single env, the vectorised env and the
evaluator, so that all three agree to the last bit on the same draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gbwm_sb3.problem.model import GBWMProblem

__all__ = ["ProblemArrays", "problem_arrays", "apply_goal", "grow_wealth", "step_year"]


@dataclass(frozen=True, eq=False)
class ProblemArrays:
    """Per-year numpy arrays of a problem, computed once (index = year 0..T)."""

    horizon: int
    initial_wealth: float
    costs: np.ndarray
    utilities: np.ndarray
    has_goal: np.ndarray
    log_drifts: np.ndarray
    volatilities: np.ndarray
    next_cost: np.ndarray  # cost of the first goal at or after each year (nan if none)
    next_goal_time: np.ndarray  # year of the first goal at or after each year (nan if none)
    remaining_cost: np.ndarray  # total cost of the goals at or after each year
    goals_offered_by: np.ndarray  # number of goals at times <= t, shape (T+1,)


@lru_cache(maxsize=64)
def problem_arrays(problem: GBWMProblem) -> ProblemArrays:
    """The cached per-year arrays of ``problem``."""
    costs = problem.cost_by_time
    has_goal = problem.has_goal
    next_cost = np.full(problem.horizon + 1, np.nan)
    next_goal_time = np.full(problem.horizon + 1, np.nan)
    upcoming, upcoming_time = np.nan, np.nan
    for t in range(problem.horizon, -1, -1):
        if has_goal[t]:
            upcoming, upcoming_time = costs[t], float(t)
        next_cost[t] = upcoming
        next_goal_time[t] = upcoming_time
    remaining_cost = np.cumsum(np.where(has_goal, costs, 0.0)[::-1])[::-1].copy()
    arrays = ProblemArrays(
        horizon=problem.horizon,
        initial_wealth=problem.initial_wealth,
        costs=costs,
        utilities=problem.utility_by_time,
        has_goal=has_goal,
        log_drifts=problem.portfolios.log_drifts,
        volatilities=problem.portfolios.volatility_array,
        next_cost=next_cost,
        next_goal_time=next_goal_time,
        remaining_cost=remaining_cost,
        goals_offered_by=np.cumsum(has_goal),
    )
    for array in (arrays.costs, arrays.utilities, arrays.has_goal, arrays.log_drifts,
                  arrays.volatilities, arrays.next_cost, arrays.next_goal_time,
                  arrays.remaining_cost, arrays.goals_offered_by):
        array.setflags(write=False)
    return arrays


def apply_goal(arrays: ProblemArrays, t: int, wealth: np.ndarray,
               take: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Take this year's goal where asked and affordable.

    Returns ``(wealth_after, reward, taken)``; a take with no goal or too
    little wealth is a no-op.
    """
    if not arrays.has_goal[t]:
        return wealth, np.zeros_like(wealth), np.zeros(wealth.shape, dtype=bool)
    taken = (np.asarray(take) != 0) & (wealth >= arrays.costs[t])
    wealth_after = np.where(taken, wealth - arrays.costs[t], wealth)
    return wealth_after, taken * arrays.utilities[t], taken


def grow_wealth(arrays: ProblemArrays, wealth: np.ndarray, portfolio: np.ndarray,
                normal_draws: np.ndarray) -> np.ndarray:
    """One year of geometric Brownian motion in the chosen portfolios."""
    sigma = arrays.volatilities[portfolio]
    return wealth * np.exp(arrays.log_drifts[portfolio] + sigma * normal_draws)


def step_year(arrays: ProblemArrays, t: int, wealth: np.ndarray, take: np.ndarray,
              portfolio: np.ndarray, normal_draws: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Year ``t`` (< T): goal decision, then growth; at ``t + 1 == T`` the final take is automatic.

    Returns ``(next_wealth, reward, taken_now, taken_at_horizon)``; the
    horizon's automatic take is included in ``reward``.
    """
    wealth, reward, taken = apply_goal(arrays, t, wealth, take)
    wealth = grow_wealth(arrays, wealth, portfolio, normal_draws)
    if t + 1 == arrays.horizon:
        wealth, final_reward, taken_final = apply_goal(
            arrays, arrays.horizon, wealth, np.ones(wealth.shape, dtype=bool)
        )
        reward = reward + final_reward
    else:
        taken_final = np.zeros(wealth.shape, dtype=bool)
    return wealth, reward, taken, taken_final
