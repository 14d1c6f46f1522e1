"""The year-by-year mechanics of the GBWM problem, vectorised over trajectories.

One implementation shared by the single env, the vectorised env and the
evaluator, so that all three agree to the last bit on the same draws.

A year ``t < T``: the cash at hand is ``A = W + I(t)``; decision ``d`` (an index
into ``problem.decisions(t)``) is taken when its cost is at most ``A``, else
nothing is taken; ``A`` minus the cost grows in the chosen portfolio. At ``T``
the affordable decision with the highest utility is taken automatically (ties:
the cheaper, then the lower index). For the paper's family (decisions skip /
take, no infusions) this is the paper's mechanics, computed by the same
arithmetic as before the general class existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gbwm_sb3.problem.model import GBWMProblem

__all__ = ["ProblemArrays", "problem_arrays", "apply_goal", "apply_decision",
           "best_affordable_decision", "best_final_decision", "goals_in_decision",
           "grow_wealth", "step_year", "ProblemTable", "step_years"]


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
    general: bool  # False: the paper's family (skip / take, no infusions)
    num_decisions: int  # K, decisions in the largest year
    decision_cost: np.ndarray  # (T+1, K), inf where a decision does not exist
    decision_utility: np.ndarray  # (T+1, K), 0 where it does not exist
    decision_goals: np.ndarray  # (T+1, K) goals taken by each decision
    decisions_per_year: np.ndarray  # (T+1,) number of decisions
    infusions: np.ndarray  # (T+1,) I(t), 0 at T
    future_infusions: np.ndarray  # (T+1,) sum of I(s) for s > t
    final_order: np.ndarray  # decisions at T, best first (utility, then cost)


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
    general = not problem.in_paper_family
    k = problem.max_decisions
    decision_cost = np.full((problem.horizon + 1, k), np.inf)
    decision_utility = np.zeros((problem.horizon + 1, k))
    decision_goals = np.zeros((problem.horizon + 1, k), dtype=np.int64)
    per_year = np.zeros(problem.horizon + 1, dtype=np.int64)
    for t in range(problem.horizon + 1):
        year = problem.decisions(t)
        per_year[t] = len(year)
        for d in year:
            decision_cost[t, d.index] = d.cost
            decision_utility[t, d.index] = d.utility
            decision_goals[t, d.index] = d.goals_taken
    final = problem.decisions(problem.horizon)
    final_order = np.array(sorted(range(len(final)),
                                  key=lambda i: (-final[i].utility, final[i].cost, i)))
    infusions = problem.infusion_by_time
    future = np.concatenate([np.cumsum(infusions[::-1])[::-1][1:], [0.0]])
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
        goals_offered_by=np.cumsum(_goal_counts(problem)),
        general=general,
        num_decisions=k,
        decision_cost=decision_cost,
        decision_utility=decision_utility,
        decision_goals=decision_goals,
        decisions_per_year=per_year,
        infusions=infusions,
        future_infusions=future,
        final_order=final_order,
    )
    for array in (arrays.costs, arrays.utilities, arrays.has_goal, arrays.log_drifts,
                  arrays.volatilities, arrays.next_cost, arrays.next_goal_time,
                  arrays.remaining_cost, arrays.goals_offered_by, decision_cost,
                  decision_utility, decision_goals, per_year, infusions, future, final_order):
        array.setflags(write=False)
    return arrays


def _goal_counts(problem: GBWMProblem) -> np.ndarray:
    """Number of goals due at each time ``0..T``."""
    counts = np.zeros(problem.horizon + 1, dtype=np.int64)
    for goal in problem.goals:
        counts[goal.time] += 1
    return counts


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


def apply_decision(arrays: ProblemArrays, t: int, wealth: np.ndarray, decision: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year ``t`` < T of the general class: add ``I(t)``, take ``decision`` where affordable.

    Returns ``(cash_after, reward, applied)``, ``applied`` the decision index
    actually taken (0 where the asked one costs more than the cash or does not exist).
    """
    cash = wealth + arrays.infusions[t] if arrays.infusions[t] else wealth
    cost = arrays.decision_cost[t][decision]
    taken = cost <= cash
    applied = np.where(taken, decision, 0)
    cash_after = cash - np.where(taken, cost, 0.0)
    reward = np.where(taken, arrays.decision_utility[t][applied], 0.0)
    return cash_after, reward, applied


def best_final_decision(arrays: ProblemArrays, wealth: np.ndarray) -> np.ndarray:
    """The decision taken automatically at ``T``: affordable, most utility, then cheapest."""
    order = arrays.final_order
    affordable = arrays.decision_cost[arrays.horizon][order][None, :] <= wealth[:, None]
    return order[np.argmax(affordable, axis=1)]


def best_affordable_decision(arrays: ProblemArrays, t: int, wealth: np.ndarray) -> np.ndarray:
    """At year ``t``: the affordable decision (cash ``W + I(t)``) with the most utility,
    ties to the cheaper. At ``T`` this is the automatic choice."""
    if t == arrays.horizon:
        return best_final_decision(arrays, wealth)
    cash = wealth + arrays.infusions[t]
    count = int(arrays.decisions_per_year[t])
    utility, cost = arrays.decision_utility[t][:count], arrays.decision_cost[t][:count]
    order = np.array(sorted(range(count), key=lambda i: (-utility[i], cost[i], i)))
    affordable = cost[order][None, :] <= cash[:, None]
    return order[np.argmax(affordable, axis=1)]


def goals_in_decision(arrays: ProblemArrays, t: int, applied: np.ndarray) -> np.ndarray:
    """Goals taken by the decisions ``applied`` at year ``t`` (0/1 for the paper family)."""
    if not arrays.general:
        return np.asarray(applied, dtype=np.int64)
    return arrays.decision_goals[t][applied]


def step_year(arrays: ProblemArrays, t: int, wealth: np.ndarray, take: np.ndarray,
              portfolio: np.ndarray, normal_draws: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Year ``t`` (< T): goal decision, then growth; at ``t + 1 == T`` the final take is automatic.

    ``take`` is the decision index (for the paper family a take flag). Returns
    ``(next_wealth, reward, taken_now, taken_at_horizon)``; the horizon's automatic
    take is included in ``reward``. For the paper family ``taken_*`` are booleans,
    for the general class the decision indices applied (0 = nothing).
    """
    if arrays.general:
        return _step_year_general(arrays, t, wealth, take, portfolio, normal_draws)
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


def _step_year_general(arrays: ProblemArrays, t: int, wealth: np.ndarray, decision: np.ndarray,
                       portfolio: np.ndarray, normal_draws: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    decision = np.asarray(decision).astype(np.intp)
    wealth, reward, applied = apply_decision(arrays, t, wealth, decision)
    wealth = grow_wealth(arrays, wealth, portfolio, normal_draws)
    if t + 1 == arrays.horizon:
        final = best_final_decision(arrays, wealth)
        wealth = wealth - arrays.decision_cost[arrays.horizon][final]
        reward = reward + arrays.decision_utility[arrays.horizon][final]
    else:
        final = np.zeros(wealth.shape, dtype=np.intp)
    return wealth, reward, applied, final


class ProblemTable:
    """Many problems padded to common shapes, so trajectories of different problems step together.

    Row ``p`` holds problem ``p``; years are padded to ``time_steps`` (at least the
    longest horizon + 1), decisions to ``max_decisions`` (padding: cost ``inf``, never
    affordable) and portfolios to ``max_portfolios``. :meth:`write` replaces rows in
    place, so a pool of problems can be refreshed while other rows are in use. The
    mechanics (:func:`step_years`) are those of :func:`step_year` for the general class.
    Memory: about ``16 * time_steps * max_decisions`` bytes a row (42 KB for 41 x 64).
    """

    def __init__(self, size: int, time_steps: int, max_decisions: int,
                 max_portfolios: int) -> None:
        for name, value in (("size", size), ("time_steps", time_steps),
                            ("max_decisions", max_decisions), ("max_portfolios", max_portfolios)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.size, self.time_steps = int(size), int(time_steps)
        self.max_decisions, self.max_portfolios = int(max_decisions), int(max_portfolios)
        shape = (self.size, self.time_steps, self.max_decisions)
        self.problems: list[GBWMProblem | None] = [None] * self.size
        self.horizon = np.ones(self.size, dtype=np.int64)
        self.initial_wealth = np.ones(self.size)
        self.total_utility = np.ones(self.size)  # best total utility (1e-300 if none)
        self.decision_cost = np.full(shape, np.inf)
        self.decision_utility = np.zeros(shape)
        self.decisions_per_year = np.ones((self.size, self.time_steps), dtype=np.int64)
        self.infusions = np.zeros((self.size, self.time_steps))
        self.final_order = np.zeros((self.size, self.max_decisions), dtype=np.int64)
        self.num_portfolios = np.ones(self.size, dtype=np.int64)
        self.means = np.zeros((self.size, self.max_portfolios))
        self.volatilities = np.ones((self.size, self.max_portfolios))
        self.log_drifts = np.zeros((self.size, self.max_portfolios))

    @classmethod
    def from_problems(cls, problems: list[GBWMProblem], max_decisions: int | None = None,
                      max_portfolios: int | None = None,
                      time_steps: int | None = None) -> ProblemTable:
        """A table holding ``problems`` (shapes: the largest the problems need unless given)."""
        if not problems:
            raise ValueError("problems must contain at least 1 problem, got 0")
        table = cls(
            len(problems),
            time_steps or max(p.horizon for p in problems) + 1,
            max_decisions or max(problem_arrays(p).num_decisions for p in problems),
            max_portfolios or max(p.num_portfolios for p in problems),
        )
        table.write(np.arange(len(problems)), problems)
        return table

    def write(self, rows: np.ndarray | list[int], problems: list[GBWMProblem]) -> None:
        """Store ``problems[i]`` in row ``rows[i]``, raising a ValueError if one does not fit."""
        for row, problem in zip(np.asarray(rows, dtype=np.int64).tolist(), problems, strict=True):
            arrays = problem_arrays(problem)
            k, n = arrays.num_decisions, problem.num_portfolios
            if problem.horizon + 1 > self.time_steps:
                raise ValueError(f"horizon: {problem.horizon} years do not fit a table of "
                                 f"{self.time_steps - 1} years at most")
            if k > self.max_decisions:
                raise ValueError(f"decisions: {k} in one year do not fit a table of at most "
                                 f"{self.max_decisions}")
            if n > self.max_portfolios:
                raise ValueError(f"portfolios: {n} do not fit a table of at most "
                                 f"{self.max_portfolios}")
            t1 = problem.horizon + 1
            self.problems[row] = problem
            self.horizon[row] = problem.horizon
            self.initial_wealth[row] = problem.initial_wealth
            self.total_utility[row] = max(problem.total_utility, 1e-300)
            self.decision_cost[row] = np.inf
            self.decision_cost[row, :t1, :k] = arrays.decision_cost
            self.decision_utility[row] = 0.0
            self.decision_utility[row, :t1, :k] = arrays.decision_utility
            self.decisions_per_year[row] = 1
            self.decisions_per_year[row, :t1] = arrays.decisions_per_year
            self.infusions[row] = 0.0
            self.infusions[row, :t1] = arrays.infusions
            order = arrays.final_order
            self.final_order[row] = np.arange(self.max_decisions)
            self.final_order[row, : order.size] = order
            self.num_portfolios[row] = n
            self.means[row] = 0.0
            self.means[row, :n] = problem.portfolios.mean_array
            self.volatilities[row] = 1.0
            self.volatilities[row, :n] = arrays.volatilities
            self.log_drifts[row] = 0.0
            self.log_drifts[row, :n] = arrays.log_drifts


def step_years(table: ProblemTable, rows: np.ndarray, t: np.ndarray, wealth: np.ndarray,
               decision: np.ndarray, portfolio: np.ndarray, normal_draws: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One year for trajectories of different problems (row ``rows[i]``, year ``t[i] < T``).

    The arithmetic of :func:`step_year` for the general class, element by element:
    add ``I(t)``, take the decision where affordable (else nothing), grow the rest in
    the portfolio; where ``t + 1 == T`` take the automatic choice at ``T``. Returns
    ``(next_wealth, reward, applied, final)`` (decision indices; ``final`` 0 where
    ``T`` was not reached).
    """
    decision = np.asarray(decision).astype(np.intp)
    portfolio = np.asarray(portfolio).astype(np.intp)
    cash = wealth + table.infusions[rows, t]
    cost = table.decision_cost[rows, t, decision]
    taken = cost <= cash
    applied = np.where(taken, decision, 0)
    cash_after = cash - np.where(taken, cost, 0.0)
    reward = np.where(taken, table.decision_utility[rows, t, applied], 0.0)
    sigma = table.volatilities[rows, portfolio]
    next_wealth = cash_after * np.exp(table.log_drifts[rows, portfolio] + sigma * normal_draws)
    final = np.zeros(wealth.shape, dtype=np.intp)
    ending = np.flatnonzero(t + 1 == table.horizon[rows])
    if ending.size:
        end_rows = rows[ending]
        end_t = table.horizon[end_rows]
        order = table.final_order[end_rows]
        costs = table.decision_cost[end_rows, end_t]
        ordered = np.take_along_axis(costs, order, axis=1)
        chosen = order[np.arange(ending.size), np.argmax(ordered <= next_wealth[ending, None],
                                                         axis=1)]
        final[ending] = chosen
        next_wealth[ending] = next_wealth[ending] - costs[np.arange(ending.size), chosen]
        reward[ending] = reward[ending] + table.decision_utility[end_rows, end_t, chosen]
    return next_wealth, reward, applied, final
