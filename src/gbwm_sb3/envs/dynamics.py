"""One year of the GBWM problem, written once: the problem table and the year kernel.

Every simulator of the package (``GBWMEnv``, ``GBWMVecEnv``, ``MultiProblemVecEnv``, the
evaluator, the plots, the pretrained lookahead) and the DP read problems through a
:class:`ProblemTable` and move wealth through the functions below, so they agree to the
last bit on the same draws. One problem is a table of one row (:func:`problem_table`).

A year ``t < T`` (GBWM-SPEC sections 1 and 5), each step one function:

1. **cash** (:func:`cash_at`): ``A = W + I(t)``; an infusion may be negative (a
   withdrawal): where ``A < 0`` the investor is **bankrupt**, wealth 0 from then on and
   no further goals. The plan also ends at death (a survival table, :func:`has_mortality`;
   death during year ``t`` comes after its decision). An ended plan is one ``ended`` flag
   per trajectory that :func:`apply_decisions`, :func:`step_years` and :func:`rollout`
   carry;
2. **affordability** (:func:`decision_mask`): decision ``d`` of the year is affordable
   where it exists and its cost is at most ``A``;
3. **apply a decision** (:func:`apply_decisions`): the asked decision is taken where it
   is affordable, else nothing (decision 0); its utility is the reward, ``A`` minus its
   cost is left;
4. **one year of returns** (:func:`grow`): what is left grows in the chosen portfolio,
   ``exp(mu_j - sigma_j^2 / 2 + sigma_j Z)``;
5. at ``T`` (:func:`take_final`): the affordable decision with the most utility is taken
   automatically (ties: the cheaper, then the lower index).

:func:`step_years` composes 1-5 for one year of many trajectories (the vectorised envs);
:func:`rollout` runs a policy over the whole horizon (the evaluator, the plots, tests of
the DP). A new per-year cash flow or a new state variable belongs here. For the paper's
family (decisions skip / take, no infusions) this is the paper's mechanics.

A market with regimes (:class:`~gbwm_sb3.problem.regimes.RegimeMarket`) changes the
year's returns (:func:`grow` reads the moments of each trajectory's regime of the year,
which the simulators carry; their draws are the innovations ``N``) and what the policy
sees: a policy whose ``act`` has a ``regime`` parameter (:func:`sees_regime`) is called
``act(t, wealth, regime=...)`` with each path's regime of
the year; any other policy ``act(t, wealth)`` (:func:`call_policy`).

Stochastic inflation (:class:`~gbwm_sb3.problem.inflation.InflationModel`) makes wealth
real (today's money): :func:`grow` correlates the year's inflation innovation ``eps`` with
the portfolio's shock and divides by ``exp(pi_{t+1})``; the simulators carry each path's
rate ``pi_t`` (:func:`next_inflation`), and a policy whose ``act`` has an ``inflation``
parameter (:func:`sees_inflation`) is called with each path's current rate
(``act(t, wealth, inflation=...)``; with regimes too, both). Each optional input
(:data:`POLICY_INPUTS`) is passed only to a policy that takes it (:func:`policy_inputs`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.regimes import MAX_REGIMES, RegimeMarket

__all__ = ["ProblemTable", "problem_table", "cash_at", "decision_mask", "any_affordable",
           "affordability_thresholds", "apply_decisions", "has_withdrawals", "has_mortality",
           "can_end", "deaths_from_uniforms", "dies",
           "grow", "take_final", "best_affordable_decision", "goals_in_decision",
           "step_years", "step_year", "YearOutcome", "rollout", "sees_regime", "next_inflation",
           "call_policy", "sees_inflation", "policy_inputs", "accepted_inputs", "POLICY_INPUTS",
           "deflation", "has_nominal", "year_costs", "price_levels", "portfolio_shocks"]

RowIndex = int | np.ndarray


class ProblemTable:
    """Problems as arrays, one row each, padded to common shapes.

    Row ``p`` holds problem ``p``; years are padded to ``time_steps`` (at least the longest
    horizon + 1), decisions to ``max_decisions`` (padding: cost ``inf``, never affordable)
    and portfolios to ``max_portfolios``. :meth:`write` replaces rows in place, so a pool
    of problems can be refreshed while other rows are in use. Memory: about
    ``18 * time_steps * max_decisions`` bytes a row (47 KB for 41 x 64).

    Per row: ``horizon``, ``initial_wealth``, ``total_utility`` (at least 1e-300),
    ``num_decisions`` (``K`` of the problem: decisions in its largest year),
    ``paper_family``, ``regime_count`` (market regimes, 1 without),
    ``num_portfolios``, ``means``, ``volatilities``, ``log_drifts``.
    Per row and year: ``decision_cost`` / ``decision_utility`` / ``decision_goals``
    (goals a decision takes) per decision, ``decisions_per_year``, ``infusions`` (0 at
    ``T``), ``survival`` (probability of living to the next year; 1 without a survival
    table), ``future_infusions`` (sum over later years), ``has_goal``, ``next_cost`` /
    ``next_goal_time`` (the first goal year at or after ``t``; nan if none),
    ``remaining_cost`` (top-level cost of the goals at or after ``t``) and
    ``goals_offered_by`` (goals at times ``<= t``). ``final_order``: the decisions at
    ``T``, best first. Amounts are as written: with nominal amounts (``has_nominal``) the
    nominal parts are kept beside them (``nominal_cost``, ``nominal_infusions``, ...) and
    :func:`year_costs` / :func:`cash_at` deflate them by the price level.
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
        years = (self.size, self.time_steps)
        self.problems: list[GBWMProblem | None] = [None] * self.size
        self.horizon = np.ones(self.size, dtype=np.int64)
        self.initial_wealth = np.ones(self.size)
        self.total_utility = np.ones(self.size)
        self.num_decisions = np.ones(self.size, dtype=np.int64)
        self.paper_family = np.zeros(self.size, dtype=bool)
        self.regime_count = np.ones(self.size, dtype=np.int64)
        self.decision_cost = np.full(shape, np.inf)
        self.decision_utility = np.zeros(shape)
        self.decision_goals = np.zeros(shape, dtype=np.int16)
        self.decisions_per_year = np.ones(years, dtype=np.int64)
        self.infusions = np.zeros(years)
        self.survival = np.ones(years)
        self.future_infusions = np.zeros(years)
        self.has_goal = np.zeros(years, dtype=bool)
        self.next_cost = np.full(years, np.nan)
        self.next_goal_time = np.full(years, np.nan)
        self.remaining_cost = np.zeros(years)
        self.goals_offered_by = np.zeros(years, dtype=np.int64)
        self.final_order = np.zeros((self.size, self.max_decisions), dtype=np.int64)
        self.num_portfolios = np.ones(self.size, dtype=np.int64)
        self.means = np.zeros((self.size, self.max_portfolios))
        self.volatilities = np.ones((self.size, self.max_portfolios))
        self.log_drifts = np.zeros((self.size, self.max_portfolios))
        # (size, regimes, portfolios): each regime's log-drifts and volatilities; made when
        # the first problem with market regimes is written
        self.regime_log_drifts: np.ndarray | None = None
        self.regime_volatilities: np.ndarray | None = None
        # stochastic inflation (problem.inflation): whether a row has it, the AR(1)'s
        # long-run mean, persistence, volatility and initial rate, and each portfolio's
        # correlation with the inflation innovation
        self.has_inflation = np.zeros(self.size, dtype=bool)
        self.inflation_mean = np.zeros(self.size)
        self.inflation_persistence = np.zeros(self.size)
        self.inflation_volatility = np.zeros(self.size)
        self.inflation_initial = np.zeros(self.size)
        self.inflation_correlation = np.zeros((self.size, self.max_portfolios))
        # nominal amounts (problem.has_nominal_amounts): whether a row has them, whether its
        # cash flows can turn negative at some price level, and the nominal part of each
        # decision's cost, each year's infusion (``infusions`` holds both parts, as
        # written), and the next-goal / remaining-cost / future-infusion summaries (made
        # when the first such problem is written); in today's money a nominal amount is
        # worth amount / P_t
        self.has_nominal = np.zeros(self.size, dtype=bool)
        self.nominal_withdrawals = np.zeros(self.size, dtype=bool)
        self.nominal_cost: np.ndarray | None = None
        self.nominal_infusions: np.ndarray | None = None
        self.nominal_next_cost: np.ndarray | None = None
        self.nominal_remaining_cost: np.ndarray | None = None
        self.nominal_future_infusions: np.ndarray | None = None
        # a market with a law per portfolio (multi-asset rows of EmpiricalMarket): each
        # row's mixture components (0: the market's draws are every portfolio's shock),
        # bandwidth and sorted centres per portfolio, (size, portfolios, components), made
        # (or widened) when such a problem is written
        self.shock_components = np.zeros(self.size, dtype=np.int64)
        self.shock_width = np.zeros(self.size)
        self.shock_centres: np.ndarray | None = None

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
            max_decisions or max(p.max_decisions for p in problems),
            max_portfolios or max(p.num_portfolios for p in problems),
        )
        table.write(np.arange(len(problems)), problems)
        return table

    def write(self, rows: np.ndarray | list[int], problems: list[GBWMProblem]) -> None:
        """Store ``problems[i]`` in row ``rows[i]``, raising a ValueError if one does not fit."""
        for row, problem in zip(np.asarray(rows, dtype=np.int64).tolist(), problems, strict=True):
            self._check_fits(problem)
            self._write_row(row, problem)

    def _check_fits(self, problem: GBWMProblem) -> None:
        k, n = problem.max_decisions, problem.num_portfolios
        if problem.horizon + 1 > self.time_steps:
            raise ValueError(f"horizon: {problem.horizon} years do not fit a table of "
                             f"{self.time_steps - 1} years at most")
        if k > self.max_decisions:
            raise ValueError(f"decisions: {k} in one year do not fit a table of at most "
                             f"{self.max_decisions}")
        if n > self.max_portfolios:
            raise ValueError(f"portfolios: {n} do not fit a table of at most "
                             f"{self.max_portfolios}")

    def _write_regimes(self, row: int, problem: GBWMProblem) -> None:
        """Each regime's moments of a problem with market regimes (nothing otherwise)."""
        market = problem.market
        if not isinstance(market, RegimeMarket):
            return
        if self.regime_log_drifts is None or self.regime_volatilities is None:
            shape = (self.size, MAX_REGIMES, self.max_portfolios)
            self.regime_log_drifts, self.regime_volatilities = np.zeros(shape), np.ones(shape)
        drifts, volatilities = market.regime_moments(problem.portfolios)
        count, n = drifts.shape
        self.regime_log_drifts[row, :count, :n] = drifts
        self.regime_volatilities[row, :count, :n] = volatilities

    def _write_inflation(self, row: int, problem: GBWMProblem) -> None:
        """The AR(1) inflation of a problem with stochastic inflation (zeros otherwise)."""
        model = problem.inflation
        self.has_inflation[row] = model is not None
        self.inflation_correlation[row] = 0.0
        if model is None:
            self.inflation_mean[row] = self.inflation_persistence[row] = 0.0
            self.inflation_volatility[row] = self.inflation_initial[row] = 0.0
            return
        self.inflation_mean[row] = model.mean
        self.inflation_persistence[row] = model.persistence
        self.inflation_volatility[row] = model.volatility
        self.inflation_initial[row] = model.initial_rate
        self.inflation_correlation[row, :problem.num_portfolios] = model.correlations(
            problem.num_portfolios)

    def _write_bootstrap(self, row: int, problem: GBWMProblem) -> None:
        """The per-portfolio mixtures of a market with a law per portfolio (none else)."""
        centres = problem.market.bootstrap_centres()
        self.shock_components[row] = 0 if centres is None else centres.shape[1]
        if centres is None:
            return
        self.shock_width[row] = float(getattr(problem.market, "width", 0.0))
        count = centres.shape[1]
        if self.shock_centres is None or self.shock_centres.shape[2] < count:
            wider = np.zeros((self.size, self.max_portfolios, count))
            if self.shock_centres is not None:
                wider[:, :, : self.shock_centres.shape[2]] = self.shock_centres
            self.shock_centres = wider
        self.shock_centres[row] = 0.0
        self.shock_centres[row, : centres.shape[0], :count] = centres

    def _write_nominal(self, row: int, problem: GBWMProblem) -> None:
        """The nominal parts of a problem's amounts (zeros for a row without them)."""
        self.has_nominal[row] = problem.has_nominal_amounts
        indexed, nominal = problem.infusion_by_time, problem.nominal_infusion_by_time
        self.nominal_withdrawals[row] = bool(min(indexed.min(), nominal.min()) < 0.0)
        if not problem.has_nominal_amounts:
            if self.nominal_cost is not None:
                for values in self._nominal_arrays():
                    values[row] = 0.0
            return
        if self.nominal_cost is None:
            years = (self.size, self.time_steps)
            self.nominal_cost = np.zeros((*years, self.max_decisions))
            self.nominal_infusions = np.zeros(years)
            self.nominal_next_cost = np.zeros(years)
            self.nominal_remaining_cost = np.zeros(years)
            self.nominal_future_infusions = np.zeros(years)
        cost, infusions, next_cost, remaining, future = self._nominal_arrays()
        t1 = problem.horizon + 1
        for values in (cost, infusions, next_cost, remaining, future):
            values[row] = 0.0
        for t in range(t1):
            for d in problem.decisions(t):
                cost[row, t, d.index] = sum(
                    g.levels[k - 1][0] for g, k in zip(d.goals, d.levels, strict=True)
                    if k and g.nominal)
        by_year = np.zeros(t1)
        for goal in problem.goals:
            if goal.nominal:
                by_year[goal.time] += goal.cost
        infusions[row, :t1] = nominal
        has_goal = problem.has_goal
        upcoming = 0.0
        for t in range(problem.horizon, -1, -1):
            if has_goal[t]:
                upcoming = by_year[t]
            next_cost[row, t] = upcoming
        remaining[row, :t1] = np.cumsum(by_year[::-1])[::-1]
        future[row, :t1] = np.concatenate([np.cumsum(nominal[::-1])[::-1][1:], [0.0]])

    def _nominal_arrays(self) -> tuple[np.ndarray, ...]:
        """The nominal-part arrays (made by :meth:`_write_nominal`)."""
        arrays = (self.nominal_cost, self.nominal_infusions, self.nominal_next_cost,
                  self.nominal_remaining_cost, self.nominal_future_infusions)
        assert all(a is not None for a in arrays)
        return arrays  # type: ignore[return-value]

    def _write_row(self, row: int, problem: GBWMProblem) -> None:
        horizon, n = problem.horizon, problem.num_portfolios
        t1 = horizon + 1
        self.problems[row] = problem
        self.horizon[row] = horizon
        self.initial_wealth[row] = problem.initial_wealth
        self.total_utility[row] = max(problem.total_utility, 1e-300)
        self.num_decisions[row] = problem.max_decisions
        self.paper_family[row] = problem.in_paper_family
        self.regime_count[row] = problem.market.regime_count
        self._write_regimes(row, problem)
        self._write_inflation(row, problem)
        self._write_nominal(row, problem)
        self._write_bootstrap(row, problem)
        self.decision_cost[row] = np.inf
        self.decision_utility[row] = 0.0
        self.decision_goals[row] = 0
        self.decisions_per_year[row] = 1
        for t in range(t1):
            year = problem.decisions(t)
            self.decisions_per_year[row, t] = len(year)
            for d in year:
                self.decision_cost[row, t, d.index] = d.cost
                self.decision_utility[row, t, d.index] = d.utility
                self.decision_goals[row, t, d.index] = d.goals_taken
        final = problem.decisions(horizon)
        order = sorted(range(len(final)), key=lambda i: (-final[i].utility, final[i].cost, i))
        self.final_order[row] = np.arange(self.max_decisions)
        self.final_order[row, : len(order)] = order
        # as written: indexed and nominal together (the nominal part is worth that at P = 1)
        infusions = problem.infusion_by_time + problem.nominal_infusion_by_time
        self.infusions[row] = 0.0
        self.infusions[row, :t1] = infusions
        self.survival[row] = 1.0
        self.survival[row, :t1] = problem.survival_by_time
        self.future_infusions[row] = 0.0
        self.future_infusions[row, :t1] = np.concatenate(
            [np.cumsum(infusions[::-1])[::-1][1:], [0.0]])
        self._write_goal_years(row, problem)
        self.num_portfolios[row] = n
        self.means[row] = 0.0
        self.means[row, :n] = problem.portfolios.mean_array
        self.volatilities[row] = 1.0
        self.volatilities[row, :n] = problem.portfolios.volatility_array
        self.log_drifts[row] = 0.0
        self.log_drifts[row, :n] = problem.portfolios.log_drifts

    def _write_goal_years(self, row: int, problem: GBWMProblem) -> None:
        """The goal-year summaries the observations read (next goal, remaining cost)."""
        t1 = problem.horizon + 1
        costs, has_goal = problem.cost_by_time, problem.has_goal
        counts = np.zeros(t1, dtype=np.int64)
        for goal in problem.goals:
            counts[goal.time] += 1
        next_cost, next_time = np.full(t1, np.nan), np.full(t1, np.nan)
        upcoming, upcoming_time = np.nan, np.nan
        for t in range(problem.horizon, -1, -1):
            if has_goal[t]:
                upcoming, upcoming_time = costs[t], float(t)
            next_cost[t], next_time[t] = upcoming, upcoming_time
        self.has_goal[row] = False
        self.has_goal[row, :t1] = has_goal
        self.next_cost[row] = np.nan
        self.next_cost[row, :t1] = next_cost
        self.next_goal_time[row] = np.nan
        self.next_goal_time[row, :t1] = next_time
        self.remaining_cost[row] = 0.0
        self.remaining_cost[row, :t1] = np.cumsum(np.where(has_goal, costs, 0.0)[::-1])[::-1]
        self.goals_offered_by[row] = 0
        self.goals_offered_by[row, :t1] = np.cumsum(counts)

    def freeze(self) -> ProblemTable:
        """Make every array read-only (the cached one-problem tables are shared)."""
        for value in vars(self).values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
        return self


@lru_cache(maxsize=64)
def problem_table(problem: GBWMProblem) -> ProblemTable:
    """The cached, read-only one-row table of ``problem`` (row 0)."""
    return ProblemTable.from_problems([problem]).freeze()


# ----------------------------------------------------------------------------- the year
def deflation(price_level: np.ndarray) -> np.ndarray:
    """``1 / P - 1``: what a nominal amount of 1 gains in today's money at price level ``P``
    (an amount as written plus its nominal part times this is its value today)."""
    return 1.0 / np.asarray(price_level, dtype=np.float64) - 1.0


def has_nominal(table: ProblemTable, rows: RowIndex = 0) -> bool:
    """Whether some of ``rows`` has nominal amounts (the kernel then needs the price level)."""
    return table.nominal_cost is not None and bool(np.any(table.has_nominal[rows]))


def _needs_price_level(table: ProblemTable, rows: RowIndex,
                       price_level: np.ndarray | None) -> bool:
    """Whether amounts must be deflated: the rows have nominal amounts (then ``price_level``
    is required) and a price level is given."""
    if table.nominal_cost is None or not np.any(table.has_nominal[rows]):
        return False
    if price_level is None:
        raise ValueError("the problem has nominal amounts: the year needs each trajectory's "
                         "price level (price_level=)")
    return True


def year_costs(table: ProblemTable, rows: RowIndex, t: RowIndex,
               price_level: np.ndarray | None = None) -> np.ndarray:
    """Each decision's cost at year ``t`` in today's money: (K,) as written, or
    (trajectories, K) where nominal costs are deflated by each trajectory's ``price_level``
    (required for a problem with nominal amounts)."""
    costs = table.decision_cost[rows, t]
    if not _needs_price_level(table, rows, price_level):
        return costs
    assert table.nominal_cost is not None and price_level is not None
    scale = deflation(price_level)
    return costs + table.nominal_cost[rows, t] * scale[:, None]


def cash_at(table: ProblemTable, rows: RowIndex, t: RowIndex, wealth: np.ndarray,
            price_level: np.ndarray | None = None) -> np.ndarray:
    """Cash at hand ``A = W + I(t)`` (the infusion arrives before the year's decision; a
    nominal infusion is deflated by ``price_level``)."""
    infusion = table.infusions[rows, t]
    if _needs_price_level(table, rows, price_level):
        assert table.nominal_infusions is not None and price_level is not None
        return wealth + (infusion + table.nominal_infusions[rows, t] * deflation(price_level))
    if np.ndim(infusion) == 0 and infusion == 0.0:
        return wealth
    return wealth + infusion


def _affordable(cost: np.ndarray, cash: np.ndarray) -> np.ndarray:
    """The affordability rule: a decision is affordable where its cost is at most the cash."""
    return cost <= cash


def decision_mask(table: ProblemTable, rows: RowIndex, t: RowIndex,
                  wealth: np.ndarray, price_level: np.ndarray | None = None) -> np.ndarray:
    """(len(wealth), K) bool: the decisions of year ``t`` that exist and are affordable.

    ``rows`` and ``t`` are one row and year for all trajectories or one per trajectory.
    All False at (or after) the horizon, where nothing is decided. ``price_level``: each
    trajectory's ``P_t`` (required for a problem with nominal amounts).
    """
    wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
    if np.ndim(t) == 0 and np.ndim(rows) == 0 and t >= table.horizon[rows]:
        return np.zeros((wealth.shape[0], table.max_decisions), dtype=bool)
    costs = year_costs(table, rows, t, price_level)
    cash = cash_at(table, rows, t, wealth, price_level)
    if costs.ndim == 1:  # one year for all: compare as (K, n), far faster for a small K
        return _affordable(costs[:, None], cash[None, :]).T
    return _affordable(costs, cash[:, None])


def any_affordable(table: ProblemTable, row: int, t: int, wealth: np.ndarray,
                   price_level: np.ndarray | None = None) -> np.ndarray:
    """Where some decision other than "take nothing" is affordable at year ``t < T`` (the
    cheapest is), shape of ``wealth``."""
    if _needs_price_level(table, row, price_level):
        assert price_level is not None
        wealth = np.asarray(wealth, dtype=np.float64)
        flat = decision_mask(table, row, t, wealth.reshape(-1),
                             np.broadcast_to(price_level, wealth.shape).reshape(-1))
        return flat[:, 1:].any(axis=1).reshape(wealth.shape)
    cheapest = table.decision_cost[row, t, 1:].min()
    return _affordable(cheapest, cash_at(table, row, t, wealth))


def affordability_thresholds(table: ProblemTable, row: int, t: int,
                             first: int = 0) -> np.ndarray:
    """The wealths ``W`` at year ``t`` at which decisions ``first..`` become affordable
    (``cost - I(t)``), sorted and unique: where the value and the policy may jump (amounts
    as written: a problem with nominal amounts has no fixed thresholds)."""
    count = int(table.decisions_per_year[row, t])
    cost = table.decision_cost[row, t, first:count]
    return np.unique(cost[np.isfinite(cost)] - table.infusions[row, t])


def has_withdrawals(table: ProblemTable, row: int = 0) -> bool:
    """Whether row ``row``'s problem has a negative infusion (a plan that can go bankrupt;
    with nominal amounts, an indexed or a nominal one)."""
    return bool(table.infusions[row].min() < 0.0) or bool(table.nominal_withdrawals[row])


def deaths_from_uniforms(table: ProblemTable, row: int, uniforms: np.ndarray) -> np.ndarray:
    """Deaths (bool, (T, paths)) from uniform draws (T, paths): dead during year ``t`` where
    the draw is at least the probability of surviving it."""
    horizon = int(table.horizon[row])
    return dies(table, row, np.arange(horizon)[:, None], uniforms[:horizon])


def dies(table: ProblemTable, rows: RowIndex, t: RowIndex, uniforms: np.ndarray) -> np.ndarray:
    """The death rule: dead during year ``t`` where the uniform draw is at least the
    probability of surviving that year."""
    return uniforms >= table.survival[rows, t]


def has_mortality(table: ProblemTable, row: int = 0) -> bool:
    """Whether row ``row``'s problem has a survival table (a plan that can end at death)."""
    return bool(table.survival[row].min() < 1.0)


def can_end(table: ProblemTable, row: int = 0) -> bool:
    """Whether a plan of row ``row`` can end before ``T`` (bankruptcy or death)."""
    return has_withdrawals(table, row) or has_mortality(table, row)


def apply_decisions(table: ProblemTable, rows: RowIndex, t: RowIndex, wealth: np.ndarray,
                    decision: np.ndarray, ended: np.ndarray | None = None,
                    price_level: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add ``I(t)`` and take ``decision`` where affordable (else nothing), year ``t < T``.

    Returns ``(cash_after, reward, applied)``, ``applied`` the decision index actually
    taken (0 where the asked one costs more than the cash or does not exist).
    ``ended`` (bool, per trajectory), when given, flags the plans that have ended and is
    updated in place: a trajectory whose cash is below 0 becomes bankrupt; an ended one
    takes nothing and keeps 0. ``price_level``: each trajectory's ``P_t`` (required for a
    problem with nominal amounts, whose nominal costs and infusions it deflates).
    """
    decision = np.asarray(decision).astype(np.intp)
    if ended is not None:
        decision = np.where(ended, 0, decision)
    cash = cash_at(table, rows, t, wealth, price_level)
    cost = table.decision_cost[rows, t, decision]
    if _needs_price_level(table, rows, price_level):
        assert table.nominal_cost is not None and price_level is not None
        cost = cost + table.nominal_cost[rows, t, decision] * deflation(price_level)
    taken = _affordable(cost, cash)
    applied = np.where(taken, decision, 0)
    cash_after = cash - np.where(taken, cost, 0.0)
    reward = np.where(taken, table.decision_utility[rows, t, applied], 0.0)
    if ended is not None:
        ended |= cash < 0.0
        cash_after = np.where(ended, 0.0, cash_after)
    return cash_after, reward, applied


def grow(table: ProblemTable, rows: RowIndex, wealth: np.ndarray, portfolio: np.ndarray,
         shocks: np.ndarray, regime: np.ndarray | None = None,
         inflation: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """One year of returns: ``wealth * exp(mu_j - sigma_j^2 / 2 + sigma_j Z)``, ``Z = shocks``.

    With market regimes (``regime``: each trajectory's regime this year) the moments are
    the regime's and ``shocks`` the innovations ``N``:
    ``wealth * exp(mu_rj - sigma_rj^2 / 2 + sigma_rj N)``.

    With stochastic inflation (``inflation = (eps, next_rate)``: the year's inflation
    innovation and the rate ``pi_{t+1}`` it gives, :func:`next_inflation`) wealth is real:
    portfolio ``j``'s shock is ``Z_j = rho_j eps + sqrt(1 - rho_j^2) N`` and the result is
    divided by ``exp(pi_{t+1})``.

    A market with a law per portfolio (multi-asset rows) reads portfolio ``j``'s shock
    from the common normal draw ``shocks`` in its own law (:func:`portfolio_shocks`)."""
    portfolio = np.asarray(portfolio).astype(np.intp)
    if table.shock_centres is not None:
        shocks = portfolio_shocks(table, rows, portfolio, shocks)
    if regime is None:
        drift = table.log_drifts[rows, portfolio]
        sigma = table.volatilities[rows, portfolio]
    else:
        if table.regime_log_drifts is None or table.regime_volatilities is None:
            raise ValueError("regime given for a table without market regimes")
        regime = np.asarray(regime).astype(np.intp)
        drift = table.regime_log_drifts[rows, regime, portfolio]
        sigma = table.regime_volatilities[rows, regime, portfolio]
    if inflation is None:
        return wealth * np.exp(drift + sigma * shocks)
    innovation, next_rate = inflation
    rho = table.inflation_correlation[rows, portfolio]
    shock = rho * innovation + np.sqrt(1.0 - rho * rho) * shocks
    return wealth * np.exp(drift + sigma * shock - next_rate)


def portfolio_shocks(table: ProblemTable, rows: RowIndex, portfolio: np.ndarray,
                     normal: np.ndarray) -> np.ndarray:
    """Each trajectory's shock in the law of the portfolio it holds, read from the common
    standard normal draws ``normal`` (:func:`~gbwm_sb3.problem.empirical.mixture_components`);
    ``normal`` itself for rows whose market draws every portfolio's shock."""
    count = table.shock_components[rows]
    if table.shock_centres is None or not np.any(count):
        return normal
    from gbwm_sb3.problem.empirical import mixture_components

    component, offset = mixture_components(normal, np.maximum(count, 1))
    mapped = table.shock_centres[rows, portfolio, component] + table.shock_width[rows] * offset
    return np.where(count > 0, mapped, normal)


def next_inflation(table: ProblemTable, rows: RowIndex, rate: np.ndarray,
                   innovation: np.ndarray) -> np.ndarray:
    """Next year's inflation ``pi_{t+1} = pibar + phi (pi_t - pibar) + s eps``."""
    mean = table.inflation_mean[rows]
    return (mean + table.inflation_persistence[rows] * (rate - mean)
            + table.inflation_volatility[rows] * innovation)


def take_final(table: ProblemTable, rows: RowIndex, wealth: np.ndarray,
               ended: np.ndarray | None = None, price_level: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The automatic choice at ``T``: the affordable decision with the most utility (ties:
    the cheaper, then the lower index); nothing for an ended plan (``ended``).
    ``price_level``: each trajectory's ``P_T`` (required for nominal amounts).
    Returns ``(wealth_after, reward, applied)``."""
    horizon = table.horizon[rows]
    order = table.final_order[rows]
    costs = year_costs(table, rows, horizon, price_level)
    index = np.arange(wealth.shape[0])
    if costs.ndim == 2 and np.ndim(rows) == 0:  # deflated: one cost row per trajectory
        order = np.broadcast_to(order, costs.shape)
    if costs.ndim == 1:
        affordable = _affordable(costs[order][None, :], wealth[:, None])
    else:
        affordable = _affordable(np.take_along_axis(costs, order, axis=1), wealth[:, None])
    if ended is not None:
        affordable &= ~ended[:, None]
    best = np.argmax(affordable, axis=1)
    if costs.ndim == 1:
        chosen = np.where(affordable.any(axis=1), order[best], 0)
        return wealth - costs[chosen], table.decision_utility[rows, horizon][chosen], chosen
    chosen = np.where(affordable.any(axis=1), order[index, best], 0)
    utility = table.decision_utility[rows, horizon]
    return (wealth - costs[index, chosen],
            utility[chosen] if utility.ndim == 1 else utility[index, chosen], chosen)


def best_affordable_decision(table: ProblemTable, row: int, t: int,
                             wealth: np.ndarray, price_level: np.ndarray | None = None
                             ) -> np.ndarray:
    """At year ``t`` of row ``row``: the affordable decision with the most utility (ties:
    the cheaper as written, then the lower index); at ``T`` this is the automatic choice."""
    wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
    if t >= table.horizon[row]:
        return take_final(table, row, wealth, price_level=price_level)[2]
    count = int(table.decisions_per_year[row, t])
    utility = table.decision_utility[row, t, :count]
    cost = table.decision_cost[row, t, :count]
    order = np.lexsort((np.arange(count), cost, -utility))
    affordable = decision_mask(table, row, t, wealth, price_level)[:, order]
    return order[np.argmax(affordable, axis=1)]


def goals_in_decision(table: ProblemTable, rows: RowIndex, t: RowIndex,
                      applied: np.ndarray) -> np.ndarray:
    """Goals taken by the decisions ``applied`` at year ``t`` (0/1 for the paper family)."""
    return table.decision_goals[rows, t, np.asarray(applied).astype(np.intp)].astype(np.int64)


def step_years(table: ProblemTable, rows: RowIndex, t: RowIndex, wealth: np.ndarray,
               decision: np.ndarray, portfolio: np.ndarray, shocks: np.ndarray,
               ended: np.ndarray | None = None, died: np.ndarray | None = None,
               regime: np.ndarray | None = None,
               inflation: tuple[np.ndarray, np.ndarray] | None = None,
               price_level: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One year ``t < T`` for many trajectories: decision, returns, and the automatic take
    at ``T`` where ``t + 1 == T``.

    ``rows`` and ``t`` are one row and year for all trajectories, or one per trajectory
    (trajectories of different problems and years step together). Returns
    ``(next_wealth, reward, applied, final)``: decision indices, ``final`` 0 where ``T``
    was not reached; the automatic take's utility is included in ``reward``. ``ended``:
    the flags of ended plans, updated in place (see :func:`apply_decisions`); ``died``:
    where the investor dies during the year (after its decision), which ends the plan;
    ``regime``: each trajectory's market regime this year; ``inflation``: the year's
    inflation innovation and next rate (see :func:`grow`; wealth is then real);
    ``price_level``: each trajectory's ``P_t`` (required for nominal amounts; the automatic
    take at ``T`` reads ``P_T = P_t exp(pi_T)``).
    """
    cash_after, reward, applied = apply_decisions(table, rows, t, wealth, decision, ended,
                                                  price_level)
    next_wealth = grow(table, rows, cash_after, portfolio, shocks, regime, inflation)
    if ended is not None and died is not None:
        _die(ended, died, next_wealth)
    final = np.zeros(next_wealth.shape, dtype=np.intp)
    next_level = None
    if price_level is not None and inflation is not None:
        next_level = price_level * np.exp(inflation[1])
    if np.ndim(rows) == 0 and np.ndim(t) == 0:
        if t + 1 == table.horizon[rows]:
            next_wealth, final_reward, final = take_final(table, rows, next_wealth, ended,
                                                          next_level)
            reward = reward + final_reward
        return next_wealth, reward, applied, final
    rows_b, t_b = np.broadcast_arrays(rows, t)
    ending = np.flatnonzero(t_b + 1 == table.horizon[rows_b])
    if ending.size:
        after, final_reward, chosen = take_final(
            table, rows_b[ending], next_wealth[ending],
            None if ended is None else ended[ending],
            None if next_level is None else next_level[ending])
        final[ending] = chosen
        next_wealth[ending] = after
        reward[ending] = reward[ending] + final_reward
    return next_wealth, reward, applied, final


def _die(ended: np.ndarray, died: np.ndarray, wealth: np.ndarray) -> None:
    """End the plans of those who die (in place): no wealth, no later goal."""
    ended |= died
    wealth[died] = 0.0


def step_year(table: ProblemTable, t: int, wealth: np.ndarray, decision: np.ndarray,
              portfolio: np.ndarray, shocks: np.ndarray, ended: np.ndarray | None = None,
              died: np.ndarray | None = None, regime: np.ndarray | None = None,
              inflation: tuple[np.ndarray, np.ndarray] | None = None,
              price_level: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`step_years` for the one problem of a one-row table (year ``t`` shared)."""
    return step_years(table, 0, t, wealth, decision, portfolio, shocks, ended, died, regime,
                      inflation, price_level)


# ----------------------------------------------------------------------------- rollout
class _Acts(Protocol):
    def act(self, t: int, wealth: np.ndarray) -> tuple[Any, Any]: ...


#: The optional inputs a policy's ``act`` may take, each by a keyword parameter of this
#: name: the market regime of the year, the current inflation rate ``pi_t`` and the price
#: level ``P_t`` (wealth is real; a problem with nominal amounts needs it).
POLICY_INPUTS = ("regime", "inflation", "price_level")


@lru_cache(maxsize=256)
def _named_inputs(function: Callable[..., Any]) -> frozenset[str]:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # no signature (a builtin): takes none of them
        return frozenset()
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(name for name in POLICY_INPUTS
                     if name in parameters and parameters[name].kind in keyword)


def accepted_inputs(function: Any) -> frozenset[str]:
    """The optional inputs (of :data:`POLICY_INPUTS`) that ``function`` has a parameter
    for (positional-or-keyword or keyword-only); empty for anything without a signature."""
    if not callable(function):
        return frozenset()
    function = getattr(function, "__func__", function)  # one signature per class, not per instance
    try:
        return _named_inputs(function)
    except TypeError:  # an unhashable callable
        return _named_inputs.__wrapped__(function)


def policy_inputs(policy: Any) -> frozenset[str]:
    """The optional inputs ``policy.act`` takes (:func:`accepted_inputs` of it): ``regime``
    (each path's market regime of the year), ``inflation`` (each path's current
    inflation rate ``pi_t``) and ``price_level`` (each path's ``P_t``). A policy without them
    stays valid: it is not told."""
    return accepted_inputs(getattr(policy, "act", None))


def sees_regime(policy: Any) -> bool:
    """Whether ``policy.act`` takes the market regime: it has a parameter named ``regime``
    (``act(t, wealth, regime=None)``). Regime-blind policies (``act(t, wealth)``) stay
    valid: they are simply not told the regime."""
    return "regime" in policy_inputs(policy)


def sees_inflation(policy: Any) -> bool:
    """Whether ``policy.act`` takes the inflation rate: it has a parameter named
    ``inflation`` (``act(t, wealth, inflation=None)``, a float array of each path's current
    rate ``pi_t``). Other policies stay valid: they are simply not told the rate."""
    return "inflation" in policy_inputs(policy)


def call_policy(policy: Any, t: int, wealth: np.ndarray, regime: np.ndarray | None = None,
                sees: bool | None = None, inflation: np.ndarray | None = None,
                inputs: frozenset[str] | None = None,
                price_level: np.ndarray | None = None) -> tuple[Any, Any]:
    """``policy.act(t, wealth, ...)``, passing ``regime``, ``inflation`` (each path's
    current rate ``pi_t``) and ``price_level`` where given and the policy takes them.

    ``inputs``: what the policy takes (by default :func:`policy_inputs`; callers that call
    it every year compute it once); ``sees``, when given, overrides whether it takes the
    regime (the older form)."""
    if regime is None and inflation is None:
        return policy.act(t, wealth)
    taken = policy_inputs(policy) if inputs is None else inputs
    kwargs: dict[str, np.ndarray] = {}
    if regime is not None and (("regime" in taken) if sees is None else sees):
        kwargs["regime"] = regime
    if inflation is not None and "inflation" in taken:
        kwargs["inflation"] = inflation
    if price_level is not None and "price_level" in taken:
        kwargs["price_level"] = price_level
    return policy.act(t, wealth, **kwargs)


@dataclass(frozen=True)
class YearOutcome:
    """What happened in year ``t`` of a :func:`rollout` (arrays over trajectories).

    ``wealth``: before the year's infusion and decision; ``decision`` / ``portfolio``: as
    the policy asked; ``applied``: the decision taken; ``reward``: its utility (plus the
    automatic take's at ``T``); ``grown``: wealth after the year's returns, before the
    automatic take at ``T``; ``final``: the automatic choice at ``T`` (None before);
    ``ended``: the flags of ended plans after the year and ``dead`` of those ended by death
    (None for a plan that cannot end early); ``regime``: the market regime of the year
    (None for a market without regimes); ``inflation``: the inflation rate ``pi_t`` of the
    year, the one the policy saw (None without stochastic inflation; wealth is then real,
    in today's money).
    """

    t: int
    wealth: np.ndarray
    decision: np.ndarray
    portfolio: np.ndarray
    applied: np.ndarray
    reward: np.ndarray
    grown: np.ndarray
    final: np.ndarray | None
    ended: np.ndarray | None = None
    dead: np.ndarray | None = None
    regime: np.ndarray | None = None
    inflation: np.ndarray | None = None


def rollout(table: ProblemTable, policy: _Acts, shocks: np.ndarray, *, row: int = 0,
            check: Callable[[int, np.ndarray, np.ndarray, np.ndarray],
                            tuple[np.ndarray, np.ndarray]] | None = None,
            observe: Callable[[YearOutcome], None] | None = None,
            deaths: np.ndarray | None = None, regimes: np.ndarray | None = None,
            inflation: tuple[np.ndarray, np.ndarray] | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Run ``policy.act`` over the horizon of row ``row`` on ``shocks`` (shape (T, paths)).

    ``deaths`` (bool, (T, paths); a problem with a survival table): where the investor dies
    during each year, drawn by the caller (:func:`deaths_from_uniforms`).

    ``regimes`` (int, (T, paths); a market with regimes): the regime of each year, and
    ``shocks`` the innovations ``N`` (see :func:`grow`); a policy that takes the regime
    (:func:`sees_regime`) is called ``act(t, wealth, regime=regimes[t])``.

    ``inflation`` (a problem with stochastic inflation, required there and refused
    elsewhere): ``(innovations, rates)``, the inflation innovations ``eps`` (T, paths) and
    the rates ``pi_0..pi_T`` they give (T+1, paths; ``InflationModel.rate_paths``). Year
    ``t`` grows with ``(innovations[t], rates[t + 1])`` (see :func:`grow`); a policy that
    takes the rate (:func:`sees_inflation`) is called ``act(t, wealth,
    inflation=rates[t])``. Wealth, in and out, is then real (today's money; the nominal
    amount is wealth times the price level ``exp(rates[1] + ... + rates[t])``). A problem
    with nominal amounts deflates them by that price level, and a policy that takes
    ``price_level`` is told it.

    ``check(t, wealth, decision, portfolio)`` may validate (and convert) the policy's actions;
    ``observe`` receives a :class:`YearOutcome` each year. Returns the total utility and
    the terminal wealth (after the automatic take at ``T``) of every path.
    """
    horizon = int(table.horizon[row])
    if regimes is not None:
        regimes = np.asarray(regimes)
        if regimes.shape[0] < horizon or regimes.shape[1:] != shocks.shape[1:]:
            raise ValueError(f"regimes must have shape ({horizon}, {shocks.shape[1]}) (one "
                             f"regime per year and path), got {regimes.shape}")
    innovations, rates = _checked_inflation(table, row, horizon, shocks, inflation)
    inputs = policy_inputs(policy) if regimes is not None or rates is not None else frozenset()
    levels = price_levels(rates) if rates is not None and has_nominal(table, row) else None
    wealth = np.full(shocks.shape[1], table.initial_wealth[row])
    total = np.zeros(shocks.shape[1])
    ended = np.zeros(shocks.shape[1], dtype=bool) if can_end(table, row) else None
    dead = np.zeros(shocks.shape[1], dtype=bool) if ended is not None else None
    for t in range(horizon):
        regime = None if regimes is None else regimes[t]
        rate = None if rates is None else rates[t]
        level = None if levels is None else levels[t]
        decision, portfolio = call_policy(policy, t, wealth, regime, inflation=rate,
                                          inputs=inputs, price_level=level)
        decision, portfolio = np.asarray(decision), np.asarray(portfolio)
        if check is not None:
            decision, portfolio = check(t, wealth, decision, portfolio)
        if dead is not None and ended is not None and deaths is not None:
            dead |= deaths[t] & ~ended  # died during the year, the plan running at its start
        cash_after, reward, applied = apply_decisions(table, row, t, wealth, decision, ended,
                                                      level)
        year_inflation = None if innovations is None or rates is None else (
            innovations[t], rates[t + 1])
        grown = grow(table, row, cash_after, portfolio, shocks[t], regime, year_inflation)
        if ended is not None and deaths is not None:
            _die(ended, deaths[t], grown)
        final = None
        after = grown
        if t + 1 == horizon:
            after, final_reward, final = take_final(
                table, row, grown, ended, None if levels is None else levels[t + 1])
            reward = reward + final_reward
        total += reward
        if observe is not None:
            observe(YearOutcome(t, wealth, decision, portfolio, applied, reward, grown, final,
                                None if ended is None else ended.copy(),
                                None if dead is None else dead.copy(), regime, rate))
        wealth = after
    return total, wealth


def price_levels(rates: np.ndarray) -> np.ndarray:
    """The price levels ``P_0 = 1``, ``P_{t+1} = P_t exp(pi_{t+1})`` of the rates
    ``pi_0..pi_T`` (rows: years), same shape; computed year by year, as the envs do."""
    rates = np.asarray(rates, dtype=np.float64)
    levels = np.ones_like(rates)
    for t in range(1, rates.shape[0]):
        levels[t] = levels[t - 1] * np.exp(rates[t])
    return levels


def _checked_inflation(table: ProblemTable, row: int, horizon: int, shocks: np.ndarray,
                       inflation: tuple[np.ndarray, np.ndarray] | None
                       ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """:func:`rollout`'s ``inflation`` as float arrays (None, None without), checked against
    the problem (given exactly where it has stochastic inflation) and the shapes."""
    has = bool(table.has_inflation[row])
    if inflation is None:
        if has:
            raise ValueError("the problem has stochastic inflation: give inflation=(innovations, "
                             "rates), the yearly innovations (T, paths) and the rates pi_0..pi_T "
                             "(T+1, paths)")
        return None, None
    if not has:
        raise ValueError("inflation must be None: the problem has no stochastic inflation")
    try:
        innovations, rates = inflation
    except (TypeError, ValueError):
        raise ValueError("inflation must be a pair (innovations, rates)") from None
    innovations = np.asarray(innovations, dtype=np.float64)
    rates = np.asarray(rates, dtype=np.float64)
    paths = shocks.shape[1:]
    if innovations.ndim != 2 or innovations.shape[0] < horizon or innovations.shape[1:] != paths:
        raise ValueError(f"inflation innovations must have shape ({horizon}, {shocks.shape[1]}) "
                         f"(one per year and path), got {innovations.shape}")
    if rates.ndim != 2 or rates.shape[0] < horizon + 1 or rates.shape[1:] != paths:
        raise ValueError(f"inflation rates must have shape ({horizon + 1}, {shocks.shape[1]}) "
                         f"(pi_0..pi_T of each path), got {rates.shape}")
    return innovations, rates
