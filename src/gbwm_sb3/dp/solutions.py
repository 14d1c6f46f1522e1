"""The solved problems: optimal value and policy tables with a vectorised ``act``, for one
wealth state, per market regime, and over (real wealth, inflation rate)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from gbwm_sb3.dp.grid import (
    DEFAULT_GRID_DENSITY,
)
from gbwm_sb3.dp.transitions import (
    Kernels,
    Representation,
    best_continuation,
    hermite_columns,
    off_grid,
)
from gbwm_sb3.envs.dynamics import (
    ProblemTable,
    apply_decisions,
    decision_mask,
    problem_table,
    take_final,
)
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.regimes import RegimeMarket


def check_wealth(wealth: object) -> np.ndarray:
    """1-D float64 wealth; ValueError unless every value is finite and >= 0."""
    array = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
    if array.ndim != 1:
        raise ValueError(f"wealth must be a 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array) & (array >= 0.0)):
        raise ValueError("wealth must contain only finite values >= 0")
    return array


def _log_wealth(wealth: object) -> np.ndarray:
    """``log`` of checked wealth values (``-inf`` at 0)."""
    with np.errstate(divide="ignore"):
        return np.log(np.maximum(check_wealth(wealth), 0.0))


@dataclass(frozen=True, eq=False)
class DPSolution:
    """The solved problem: optimal value and policy tables plus a vectorised ``act``.

    Attributes
    ----------
    problem: the problem solved.
    expected_utility: optimal expected total utility at the exact initial wealth.
    wealth_grid: (G,) log-spaced wealth grid.
    value: (T+1, G) optimal value ``V_t(W)`` of pre-goal wealth ``W`` at year ``t``.
    take_policy: (T+1, G) bool, optimal goal decision (False where no goal or unaffordable);
        for the general class: whether the optimal decision takes anything.
    portfolio_policy: (T+1, G) int, optimal 0-based portfolio (row T is 0: no choice).
    continuation: (T, G, n) expected value of ``V_{t+1}`` after holding portfolio ``j``
        from post-goal wealth ``wealth_grid[i]`` at year ``t``.
    """

    problem: GBWMProblem
    expected_utility: float
    wealth_grid: np.ndarray
    value: np.ndarray
    take_policy: np.ndarray
    portfolio_policy: np.ndarray
    continuation: np.ndarray
    continuation_slope: np.ndarray = field(repr=False)
    # (T, G) argmax_j continuation
    portfolio_choice: np.ndarray | None = field(repr=False, default=None)
    grid_density: float = DEFAULT_GRID_DENSITY
    solve_seconds: float = 0.0
    decision_policy: np.ndarray | None = field(repr=False, default=None)  # (T+1, G) general class
    # the transition kernels and V_{t+1} of each year t < T, for the exact continuation of
    # sharp (near-riskless) portfolios
    kernels: Kernels | None = field(repr=False, default=None)
    next_values: tuple[Representation, ...] = field(repr=False, default=())

    @property
    def general(self) -> bool:
        """Whether the problem is of the general class (``act`` returns decision indices)."""
        return not self.problem.in_paper_family

    @property
    def log_grid(self) -> np.ndarray:
        """``log(wealth_grid)``."""
        return np.log(self.wealth_grid)

    def _continuation_at(self, t: int, log_wealth: np.ndarray) -> np.ndarray:
        """Continuation value per portfolio at post-goal log-wealth, (N, n).

        Cubic Hermite for the smooth portfolios, exact for the sharp ones.
        """
        x0 = math.log(self.wealth_grid[0])
        values = hermite_columns(self.continuation[t], self.continuation_slope[t], x0,
                                  1.0 / self.grid_density, log_wealth)
        kernels = self.kernels
        if kernels is not None and kernels.sharp_columns.size:
            values[:, kernels.sharp_columns] = off_grid(
                self.next_values[t], kernels, x0, log_wealth, kernels.sharp_columns)
        return values

    def _best_continuation(self, t: int, log_wealth: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Best continuation value and its portfolio at post-goal log-wealth, (N,) each.

        See :func:`best_continuation`.
        """
        choice, kernels = self.portfolio_choice, self.kernels
        if choice is None or kernels is None:
            raise ValueError("this solution has no portfolio choice and kernels (solve_dp gives "
                             "them)")
        return best_continuation(self.continuation[t], self.continuation_slope[t],
                                  choice[t], kernels, self.next_values[t],
                                  math.log(self.wealth_grid[0]), log_wealth)

    def act(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Optimal ``(take, portfolio)`` at year ``t`` for pre-goal wealth (any values, 1-D).

        For the general class ``take`` is the decision index into ``problem.decisions(t)``.
        """
        horizon = self.problem.horizon
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t <= horizon:
            raise ValueError(f"t must be an integer in 0..{horizon}, got {t!r}")
        wealth = check_wealth(wealth)
        if self.general:
            decision, portfolio, _ = self._decide(int(t), wealth)
            return decision, portfolio
        cost = self.problem.cost_by_time[t]
        has_goal = bool(self.problem.has_goal[t])
        affordable = (wealth >= cost) if has_goal else np.zeros(wealth.shape, dtype=bool)
        if t == horizon:
            return affordable, np.zeros(wealth.shape, dtype=np.intp)
        with np.errstate(divide="ignore"):
            log_w = np.log(np.maximum(wealth, 0.0))
        keep_value, keep_best = self._best_continuation(t, log_w)
        take = np.zeros(wealth.shape, dtype=bool)
        portfolio = keep_best
        if has_goal and affordable.any():
            idx = np.flatnonzero(affordable)
            with np.errstate(divide="ignore"):
                log_post = np.log(wealth[idx] - cost)
            after_value, after_best = self._best_continuation(t, log_post)
            take_value = self.problem.utility_by_time[t] + after_value
            chosen = take_value >= keep_value[idx]
            take[idx] = chosen
            portfolio = portfolio.copy()
            portfolio[idx[chosen]] = after_best[chosen]
        return take, portfolio.astype(np.intp)

    def _decide(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """General class: best decision, its portfolio and the value, for pre-decision wealth."""
        table = problem_table(self.problem)
        if t == self.problem.horizon:
            _, utility, decision = take_final(table, 0, wealth)
            return decision, np.zeros(wealth.shape, dtype=np.intp), utility
        return best_decisions(table, t, wealth, lambda x, _: self._best_continuation(t, x))

    def _decision_year(self, t: object) -> int:
        """``t`` as an int, a year with a decision (0..T-1), else ValueError."""
        horizon = self.problem.horizon
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < horizon:
            raise ValueError(f"t must be an integer in 0..{horizon - 1}, got {t!r}")
        return int(t)

    def decision_values(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The value of every decision of year ``t`` < T and its best portfolio.

        Returns ``(values, portfolios)``, shape (n, K_t) each for ``K_t`` =
        ``len(problem.decisions(t))`` (2 for the paper's family: skip, take): the optimal
        expected utility from pre-goal ``wealth`` when decision ``d`` is taken now and the
        optimal policy followed after (``-inf`` where ``d`` is not affordable), and the
        portfolio that attains it. ``values.max(axis=1)`` is :meth:`value_at`; the gaps
        to it are what each other decision gives up (a teacher's soft targets).
        """
        year = self._decision_year(t)
        wealth = check_wealth(wealth)
        table = problem_table(self.problem)
        count = int(table.decisions_per_year[0, year])
        values = np.full((wealth.shape[0], count), -np.inf)
        portfolios = np.zeros((wealth.shape[0], count), dtype=np.intp)
        affordable = decision_mask(table, 0, year, wealth)
        for d, idx, value, portfolio in decision_terms(
                table, year, wealth, affordable, lambda x, _: self._best_continuation(year, x)):
            values[idx, d] = value
            portfolios[idx, d] = portfolio
        return values, portfolios

    def portfolio_values(self, t: int, post_goal_wealth: np.ndarray) -> np.ndarray:
        """The optimal expected utility of years ``t + 1..T`` when each portfolio is held
        in year ``t`` < T from ``post_goal_wealth``, shape (n, N) (its argmax is
        :meth:`portfolio_given`, up to ties)."""
        return self._continuation_at(self._decision_year(t), _log_wealth(post_goal_wealth))

    def portfolio_given(self, t: int, post_goal_wealth: np.ndarray) -> np.ndarray:
        """Optimal portfolio at year ``t`` < T once the goal decision is made (any decision).

        Hybrid strategies use it: after another policy's goal decision, this is
        the best portfolio for the wealth actually left.
        """
        year = self._decision_year(t)
        return self._best_continuation(year, _log_wealth(post_goal_wealth))[1].astype(np.intp)

    def value_at(self, t: int, wealth: np.ndarray) -> np.ndarray:
        """Optimal value at year ``t`` < T for any pre-goal wealth (interpolated continuation)."""
        if self.general:
            horizon = self.problem.horizon
            if isinstance(t, bool) or not isinstance(t, (int, np.integer)) \
                    or not 0 <= t <= horizon:
                raise ValueError(f"t must be an integer in 0..{horizon}, got {t!r}")
            return self._decide(int(t), check_wealth(wealth))[2]
        take, portfolio = self.act(t, wealth)
        wealth = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
        post = np.where(take, wealth - self.problem.cost_by_time[t], wealth)
        with np.errstate(divide="ignore"):
            cont, _ = self._best_continuation(t, np.log(np.maximum(post, 0.0)))
        return cont + take * self.problem.utility_by_time[t]


@dataclass(frozen=True, eq=False)
class RegimeDPSolution:
    """The solved problem of a regime market: one :class:`DPSolution` per regime.

    ``regimes[r]`` holds the value and policy tables of the years spent in regime ``r``
    (its continuation reads next year's regimes by row ``r`` of the transition matrix);
    ``act(t, wealth, regime)`` picks each path's. ``expected_utility`` is the optimum from
    the market's initial regime at W0.
    """

    problem: GBWMProblem
    regimes: tuple[DPSolution, ...]
    expected_utility: float
    solve_seconds: float = 0.0

    @classmethod
    def of(cls, problem: GBWMProblem, regimes: tuple[DPSolution, ...], seconds: float
           ) -> RegimeDPSolution:
        market = problem.market
        start = market.initial_index if isinstance(market, RegimeMarket) else 0
        return cls(problem, regimes, regimes[start].expected_utility, seconds)

    @property
    def general(self) -> bool:
        """Always True: a regime problem is of the general class (decision indices)."""
        return True

    @property
    def wealth_grid(self) -> np.ndarray:
        return self.regimes[0].wealth_grid

    @property
    def grid_density(self) -> float:
        return self.regimes[0].grid_density

    @property
    def value(self) -> np.ndarray:
        """(R, T+1, G): ``V_t(W, r)`` on the grid."""
        return np.stack([solution.value for solution in self.regimes])

    def regime_values(self) -> dict[str, float]:
        """The optimum at W0 starting in each regime, by regime name."""
        market = self.problem.market
        names = market.names if isinstance(market, RegimeMarket) else ("market",)
        return {name: solution.expected_utility
                for name, solution in zip(names, self.regimes, strict=True)}

    def _regime_of(self, wealth: np.ndarray, regime: object) -> np.ndarray:
        count = len(self.regimes)
        if regime is None:
            raise ValueError(f"regime is required for a problem with {count} market regimes "
                             f"(an integer in 0..{count - 1} per path)")
        array = np.asarray(regime)
        if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"regime must hold integers in 0..{count - 1}, got dtype "
                             f"{array.dtype}")
        if array.size and (array.min() < 0 or array.max() >= count):
            raise ValueError(f"regime must hold integers in 0..{count - 1}, got range "
                             f"[{array.min()}, {array.max()}]")
        try:
            return np.broadcast_to(array, wealth.shape).astype(np.intp)
        except ValueError:
            raise ValueError(f"regime must be one integer or one per path (shape "
                             f"{wealth.shape}), got shape {array.shape}") from None

    def _by_regime(self, method: str, t: int, wealth: object, regime: object,
                   outputs: int) -> tuple[np.ndarray, ...]:
        wealth = check_wealth(wealth)
        regimes = self._regime_of(wealth, regime)
        results: list[np.ndarray] = []
        for r, solution in enumerate(self.regimes):
            rows = np.flatnonzero(regimes == r)
            if rows.size == 0 and r + 1 < len(self.regimes):
                continue
            answer = getattr(solution, method)(t, wealth[rows])
            answer = answer if isinstance(answer, tuple) else (answer,)
            if not results:
                results = [np.empty(wealth.shape, dtype=a.dtype) for a in answer]
            for out, part in zip(results, answer, strict=True):
                out[rows] = part
        return tuple(results[:outputs])

    def act(self, t: int, wealth: np.ndarray, regime: object = None
            ) -> tuple[np.ndarray, np.ndarray]:
        """Optimal ``(decision, portfolio)`` at year ``t`` for pre-decision wealth in
        ``regime`` (one integer, or one per path)."""
        decision, portfolio = self._by_regime("act", t, wealth, regime, 2)
        return decision, portfolio

    def value_at(self, t: int, wealth: np.ndarray, regime: object = None) -> np.ndarray:
        """Optimal value ``V_t(W, r)`` for any pre-decision wealth."""
        return self._by_regime("value_at", t, wealth, regime, 1)[0]

    def portfolio_given(self, t: int, post_goal_wealth: np.ndarray, regime: object = None
                        ) -> np.ndarray:
        """Optimal portfolio at year ``t`` < T once the decision is made, in ``regime``."""
        return self._by_regime("portfolio_given", t, post_goal_wealth, regime, 1)[0]


@dataclass(frozen=True, eq=False)
class InflationDPSolution:
    """The solved problem of stochastic inflation: the optimum over ``(t, w, pi)``, real
    wealth ``w`` (today's money) and the year's inflation rate ``pi``.

    ``value[t, i]`` and the continuation tables sit on the wealth grid at each node
    ``rate_grid[i]``; between nodes ``act`` and ``value_at`` interpolate the continuation
    linearly in the rate. ``expected_utility`` is the optimum at ``(W0, pi_0)``.
    """

    problem: GBWMProblem
    expected_utility: float
    wealth_grid: np.ndarray  # (G,) real wealth
    rate_grid: np.ndarray  # (M,) inflation nodes
    value: np.ndarray  # (T+1, M, G)
    decision_policy: np.ndarray  # (T+1, M, G)
    portfolio_policy: np.ndarray  # (T+1, M, G)
    continuation: np.ndarray = field(repr=False)  # (T, M, G, n)
    continuation_slope: np.ndarray = field(repr=False)
    grid_density: float = DEFAULT_GRID_DENSITY
    quadrature_nodes: int = 0
    solve_seconds: float = 0.0

    @property
    def general(self) -> bool:
        """Always True: an inflation problem is of the general class (decision indices)."""
        return True

    def _rates(self, wealth: np.ndarray, inflation: object) -> np.ndarray:
        if inflation is None:
            raise ValueError("inflation is required for a problem with stochastic inflation "
                             "(each path's current yearly rate)")
        rates = np.asarray(inflation, dtype=np.float64)
        if not np.all(np.isfinite(rates)):
            raise ValueError("inflation must hold finite yearly rates")
        try:
            return np.broadcast_to(rates, wealth.shape)
        except ValueError:
            raise ValueError(f"inflation must be one rate or one per path (shape "
                             f"{wealth.shape}), got shape {rates.shape}") from None

    def _continuation(self, t: int, rates: np.ndarray, log_wealth: np.ndarray) -> np.ndarray:
        """Continuation value per portfolio (N, n), linear in the rate between nodes."""
        below, weight = bracket(self.rate_grid, rates)
        x0, h = math.log(self.wealth_grid[0]), 1.0 / self.grid_density
        out = np.empty((log_wealth.shape[0], self.continuation.shape[-1]))
        for node in np.unique(below):
            rows = np.flatnonzero(below == node)
            low = hermite_columns(self.continuation[t, node], self.continuation_slope[t, node],
                                   x0, h, log_wealth[rows])
            high = hermite_columns(self.continuation[t, node + 1],
                                    self.continuation_slope[t, node + 1], x0, h,
                                    log_wealth[rows])
            out[rows] = low + weight[rows, None] * (high - low)
        return out

    def _decide(self, t: int, wealth: np.ndarray, rates: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        table = problem_table(self.problem)
        if t == self.problem.horizon:
            _, utility, decision = take_final(table, 0, wealth)
            return decision, np.zeros(wealth.shape, dtype=np.intp), utility

        def continuation(log_post: np.ndarray, rows: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
            values = self._continuation(t, rates[rows], log_post)
            return values.max(axis=1), values.argmax(axis=1)

        return best_decisions(table, t, wealth, continuation)

    def act(self, t: int, wealth: np.ndarray, inflation: object = None
            ) -> tuple[np.ndarray, np.ndarray]:
        """Optimal ``(decision, portfolio)`` at year ``t`` for real pre-decision wealth and
        the year's inflation rate ``inflation`` (one, or one per path)."""
        horizon = self.problem.horizon
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t <= horizon:
            raise ValueError(f"t must be an integer in 0..{horizon}, got {t!r}")
        wealth = check_wealth(wealth)
        decision, portfolio, _ = self._decide(int(t), wealth, self._rates(wealth, inflation))
        return decision, portfolio

    def value_at(self, t: int, wealth: np.ndarray, inflation: object = None) -> np.ndarray:
        """Optimal value ``V_t(w, pi)`` for any real pre-decision wealth and rate."""
        wealth = check_wealth(wealth)
        return self._decide(int(t), wealth, self._rates(wealth, inflation))[2]


def bracket(nodes: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each value, the node below it (``0..M-2``) and its weight toward the node above
    (in [0, 1]; clamped beyond the ends: the value function is flat in the rate there)."""
    below = np.clip(np.searchsorted(nodes, values, side="right") - 1, 0, nodes.shape[0] - 2)
    weight = (values - nodes[below]) / (nodes[below + 1] - nodes[below])
    return below, np.clip(weight, 0.0, 1.0)


def decision_terms(table: ProblemTable, t: int, wealth: np.ndarray, affordable: np.ndarray,
                   continuation: Callable[[np.ndarray, np.ndarray],
                                          tuple[np.ndarray, np.ndarray]]
                   ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """``(d, rows, value, portfolio)`` for each decision ``d`` of year ``t`` < T that some
    ``wealth`` can afford (``affordable``: :func:`decision_mask`): the rows that can, the
    decision's utility plus ``continuation`` (see :func:`best_decisions`) after it, and
    the portfolio the continuation holds."""
    for d in range(int(table.decisions_per_year[0, t])):
        idx = np.flatnonzero(affordable[:, d])
        if idx.size == 0:
            continue
        cash_after = apply_decisions(table, 0, t, wealth[idx], np.full(idx.size, d))[0]
        with np.errstate(divide="ignore"):
            log_post = np.log(np.maximum(cash_after, 0.0))
        value, portfolio = continuation(log_post, idx)
        yield d, idx, value + table.decision_utility[0, t, d], portfolio


def best_decisions(table: ProblemTable, t: int, wealth: np.ndarray, continuation
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best decision at ``t`` < T, its portfolio and value; ``continuation(log_wealth,
    rows)`` gives (value, portfolio) after the decision of the trajectories ``rows`` (of
    ``wealth``) that can afford it. Ties go to the later decision.

    Bankruptcy: where the cash ``W + I(t)`` is below 0 (a withdrawal larger than wealth)
    not even decision 0 (cost 0) is affordable; the value there is 0 (nothing more is
    taken), with decision 0 and portfolio 0.
    """
    affordable = decision_mask(table, 0, t, wealth)
    best_value = np.full(wealth.shape, -np.inf)
    best_decision = np.zeros(wealth.shape, dtype=np.intp)
    best_portfolio = np.zeros(wealth.shape, dtype=np.intp)
    bankrupt = ~affordable[:, 0]
    if bankrupt.any():
        best_value[bankrupt] = 0.0
    for d, idx, value, portfolio in decision_terms(table, t, wealth, affordable, continuation):
        better = value >= best_value[idx]
        chosen = idx[better]
        best_value[chosen] = value[better]
        best_decision[chosen] = d
        best_portfolio[chosen] = portfolio[better]
    return best_decision, best_portfolio, best_value
