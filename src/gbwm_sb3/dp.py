"""The exact optimum of a GBWM problem by dynamic programming (Bellman recursion).

One solver for the whole class (several goals a year, goals with levels, infusions; see
``GBWMProblem.decisions``); the paper's family is the case of two decisions, skip or
take, in each goal year. Wealth is the state. Method (the paper's DP benchmark):

* Wealth lives on a grid uniform in log-wealth, ``x_i = x_0 + i h`` with
  ``h = 1 / grid_density``. The grid runs from ``wealth_floor`` times the smaller of W0
  and the cheapest decision (and the smallest withdrawal) up to the larger of W0 (plus
  the savings) and the dearest decision, grown at the best portfolio's log-drift plus
  ``upper_sigmas`` times the largest volatility times sqrt(T).
* At ``t < T`` the value is the best over the year's affordable decisions ``d`` of
  ``u_d + C_t(W + I(t) - c_d)``, ``C_t`` the best continuation over the portfolios; at
  ``T``, the utility of the best affordable decision (taken automatically). Where a
  withdrawal (``I(t) < 0``) exceeds wealth, the cash ``W + I(t)`` is negative: bankruptcy,
  worth 0 (no decision, not even decision 0, is affordable; nothing is taken afterwards).
* ``V_{t+1}`` is represented as piecewise constant on the grid's cells (cell ``i``
  holds ``V_{t+1}(x_i)``; the end cells extend to +-infinity). Cell boundaries are the
  midpoints between grid points, except where a decision becomes affordable
  (``W = c_d - I(t)``, bankruptcy's end ``W = -I(t)`` included): that boundary is moved
  to its exact place, so the jump of ``V`` sits where it belongs instead of being rounded
  by half a cell.
* The continuation of each portfolio from every grid point is a convolution of CDF
  differences of the law of next year's log-wealth ``x + mu_j - sigma_j^2/2 +
  sigma_j Z`` at the cell boundaries (exact for the piecewise-constant value), with its
  exact derivative; ``Z`` follows the problem's market (:mod:`gbwm_sb3.problem.market`:
  normal, or Student-t scaled to unit variance, whose kernels reach as far as the grid:
  see ``_Kernels``). At off-grid post-decision wealth it is read by cubic Hermite
  interpolation, as ``act`` reads it. The value at ``W0`` uses exact transitions from
  each decision's exact post-decision wealth.
* Near-riskless portfolios (cash; volatility down to 0) are *sharp*: see
  ``SHARP_WIDTH_STEPS`` and ``_value_jumps``; narrow ones refine the grid (``refine``).
  In a Student-t market a sharp portfolio's own transitions use the normal law of the
  same variance (its spread over the whole horizon is below half a grid step).

``DPSolution.act`` evaluates the optimal decision at any wealth, not only on the grid,
from the continuation values at the exact post-decision wealth; only the portfolios
between those optimal at the two neighbouring grid points are candidates (identical to
the full argmax in tests). Monte Carlo simulation of ``act`` reproduces
``expected_utility`` within noise (tests/test_dp.py, tests/test_dp_riskless.py,
tests/test_dp_economies.py).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

from gbwm_sb3.common.limits import DP_MAX_GRID_POINTS, check_float, check_horizon
from gbwm_sb3.envs.dynamics import (
    ProblemTable,
    affordability_thresholds,
    apply_decisions,
    decision_mask,
    problem_table,
    take_final,
)
from gbwm_sb3.problem.market import LognormalMarket, Market
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.regimes import RegimeMarket

__all__ = ["DPSolution", "RegimeDPSolution", "InflationDPSolution", "solve_dp",
           "DEFAULT_GRID_DENSITY", "DEFAULT_INFLATION_NODES", "DEFAULT_INFLATION_QUADRATURE"]

#: Grid points per unit of log-wealth (h = 0.02). Refining it 8-fold changes the
#: paper family's optimum by < 0.1% (docs/dp_evaluation.md has the refinement table).
DEFAULT_GRID_DENSITY = 50.0
#: A portfolio is *sharp* when its volatility over the whole horizon, ``sigma sqrt(T)``, is
#: below this many grid steps: cash, T-bills, a riskless asset (volatility 0, deterministic
#: growth). The jumps of the value it carries stay steps or steep ramps, which the solver
#: tracks exactly (``_value_jumps``, ``_sharp_continuation``).
SHARP_WIDTH_STEPS = 0.5
#: Other portfolios need a volatility of at least this many grid steps for the Gaussian
#: kernels on the grid to be accurate; with ``refine`` the grid is refined until a narrower
#: one is ``REFINED_VOLATILITY_STEPS`` steps wide (at most ``MAX_REFINED_DENSITY`` points
#: per unit of log-wealth and ``MAX_REFINED_POINTS`` points).
SMOOTH_VOLATILITY_STEPS = 1.0
REFINED_VOLATILITY_STEPS = 2.0
MAX_REFINED_DENSITY = 1000.0
MAX_REFINED_POINTS = 40_000
_SQRT_2PI = math.sqrt(2.0 * math.pi)
#: Inflation nodes of the DP's rate grid, and Gauss-Hermite nodes of the year's inflation
#: innovation (defaults; ``solve_dp(inflation_nodes=, inflation_quadrature=)``).
DEFAULT_INFLATION_NODES = 13
DEFAULT_INFLATION_QUADRATURE = 7
#: The rate grid spans the long-run mean +- this many long-run standard deviations (and
#: the initial rate).
INFLATION_GRID_SPREAD = 4.5


def _check_wealth(wealth: object) -> np.ndarray:
    """1-D float64 wealth; ValueError unless every value is finite and >= 0."""
    array = np.atleast_1d(np.asarray(wealth, dtype=np.float64))
    if array.ndim != 1:
        raise ValueError(f"wealth must be a 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array) & (array >= 0.0)):
        raise ValueError("wealth must contain only finite values >= 0")
    return array


class _Law:
    """The law of the standardised shock ``Z`` as the solver's formulas read it.

    Every transition is an integral against the law of ``Z`` (the market's, unit
    variance): cell probabilities from its ``cdf``, upper tails from :meth:`above_minus`,
    slopes from its density ``shape(z) / norm``, hinges from its upper partial mean. The
    normal law keeps the expressions of the normal-only solver, and a symmetric law reads
    ``P(Z > -x)`` as ``F(x)`` as before, so a lognormal problem is solved bit for bit as
    before. ``reach(k, scale, limit)``: the log-wealth distance within which a transition
    of spread ``scale`` is integrated, ``k`` spreads for the normal law; another law
    reaches its quantile of the same tail mass (on either side), at most ``limit`` (beyond
    which the value is constant, so the rest of the mass is counted at the window's end).
    """

    def __init__(self, market: Market) -> None:
        self.market = market
        self.normal = isinstance(market, LognormalMarket)
        self.symmetric = self.normal or market.symmetric
        self.norm = _SQRT_2PI if self.normal else 1.0
        self._quantiles: dict[float, float] = {}

    def cdf(self, z: np.ndarray) -> np.ndarray:
        return ndtr(z) if self.normal else self.market.cdf(z)

    def above_minus(self, x: np.ndarray) -> np.ndarray:
        """``P(Z > -x)`` (``F(x)`` for a symmetric law)."""
        if self.symmetric:
            return self.cdf(x)
        return self.market.survival(-np.asarray(x, dtype=np.float64))

    def shape(self, z: np.ndarray) -> np.ndarray:
        """The density times ``norm``."""
        return np.exp(-0.5 * z * z) if self.normal else self.market.pdf(z)

    def hinge_gap(self, z: np.ndarray) -> np.ndarray:
        """``E[max(z + Z, 0)] - max(z, 0)``: what the shock adds to a hinge at distance z
        (``z P(Z > -z) + E[Z 1{Z > -z}] - max(z, 0)``)."""
        if self.normal:
            return z * ndtr(z) + np.exp(-0.5 * z * z) / _SQRT_2PI - np.maximum(z, 0.0)
        return z * self.above_minus(z) + self.market.upper_mean(-z) - np.maximum(z, 0.0)

    def quantile(self, normal_sigmas: float) -> float:
        """The shock with as little mass beyond it as the normal law beyond
        ``normal_sigmas`` (``normal_sigmas`` itself for the normal law)."""
        if normal_sigmas not in self._quantiles:
            self._quantiles[normal_sigmas] = self.market.tail_quantile(normal_sigmas)
        return self._quantiles[normal_sigmas]

    def reach(self, normal_sigmas: float, scale: float, limit: float = math.inf) -> float:
        if self.normal:
            return normal_sigmas * scale
        return min(self.quantile(normal_sigmas) * scale, limit)


_NORMAL_LAW = _Law(LognormalMarket())


@dataclass(frozen=True)
class _Representation:
    """A value function on the grid plus where its jumps sit."""

    values: np.ndarray  # (G,)
    # (k, log-wealth): the boundary between cells k-1 and k moved to where the value jumps
    jumps: tuple[tuple[int, float], ...] = ()
    # the value as every portfolio reads it where some portfolio is sharp
    sharp: _SharpView | None = None


@dataclass(frozen=True, eq=False)
class _SharpView:
    """A value function as :func:`_sharp_continuation` reads it: the sum of its steps,
    ``size Phi((x - b) / w)`` (``size 1{x >= b}`` where ``w = 0``), and of a continuous
    remainder, linear between knots (the grid points and exact samples of the value around
    each step), constant beyond the last knots."""

    knot_x: np.ndarray  # (K,) sorted log-wealth
    knot_v: np.ndarray  # (K,) remainder there
    step_x: np.ndarray  # (J,) sorted log-wealth of the steps
    step_size: np.ndarray  # (J,)
    step_width: np.ndarray  # (J,)
    # the remainder as a sum of hinges max(x - k, 0) (slope changes at each knot), and
    # split as the grid-only interpolation (G,) plus the hinges near the extra knots
    # (empty in a view of the steps alone, which only :meth:`steps_at` reads)
    knot_delta: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (K,)
    grid_delta: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (G,)
    extra_x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    extra_delta: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def steps_at(self, at: np.ndarray, sigma: float, law: _Law = _NORMAL_LAW) -> np.ndarray:
        """``sum_i size_i P(at + sigma Z >= b_i + w_i Z_i)``: the steps seen from ``at``.

        ``Z`` follows ``law``; a ramp's own ``Z_i`` is normal, and ``sigma Z - w_i Z_i``
        is read as ``law`` with spread ``sqrt(w_i^2 + sigma^2)`` (exact for the normal law
        and for steps; ramps are narrower than half a grid step)."""
        total = np.concatenate([[0.0], np.cumsum(self.step_size)])
        out = total[np.searchsorted(self.step_x, at, side="right")]
        spread = np.sqrt(self.step_width**2 + sigma**2)
        if not spread.any():
            return out
        reach = law.reach(_SHARP_TAIL_SIGMAS, float(spread.max()))
        rows, i = _pairs(np.searchsorted(self.step_x, at - reach, side="left"),
                         np.searchsorted(self.step_x, at + reach, side="right"))
        distance = at[rows] - self.step_x[i]
        width = spread[i]
        with np.errstate(divide="ignore", invalid="ignore"):
            smooth = law.above_minus(distance / np.where(width > 0.0, width, 1.0))
        above = np.where(width > 0.0, smooth, distance >= 0.0)
        out += np.bincount(rows, self.step_size[i] * (above - (distance >= 0.0)),
                           minlength=at.shape[0])
        return out

    def step_density(self, at: np.ndarray, sigma: float, law: _Law = _NORMAL_LAW
                     ) -> np.ndarray:
        """Derivative of :meth:`steps_at` in ``at`` (``sigma > 0``)."""
        out = np.zeros(at.shape)
        spread = np.sqrt(self.step_width**2 + sigma**2)
        if not spread.size:
            return out
        reach = law.reach(_SHARP_TAIL_SIGMAS, float(spread.max()))
        rows, i = _pairs(np.searchsorted(self.step_x, at - reach, side="left"),
                         np.searchsorted(self.step_x, at + reach, side="right"))
        z = (at[rows] - self.step_x[i]) / spread[i]
        out += np.bincount(rows, self.step_size[i] * law.shape(z)
                           / (law.norm * spread[i]), minlength=at.shape[0])
        return out


def _pairs(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (row, index) with ``low[row] <= index < high[row]``, flattened (row-major)."""
    counts = np.maximum(high - low, 0)
    rows = np.repeat(np.arange(low.shape[0]), counts)
    starts = np.cumsum(counts) - counts
    index = np.arange(rows.shape[0]) - np.repeat(starts - low, counts)
    return rows, index


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
    kernels: _Kernels | None = field(repr=False, default=None)
    next_values: tuple[_Representation, ...] = field(repr=False, default=())

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
        values = _hermite_columns(self.continuation[t], self.continuation_slope[t], x0,
                                  1.0 / self.grid_density, log_wealth)
        kernels = self.kernels
        if kernels is not None and kernels.sharp_columns.size:
            values[:, kernels.sharp_columns] = _off_grid(
                self.next_values[t], kernels, x0, log_wealth, kernels.sharp_columns)
        return values

    def _best_continuation(self, t: int, log_wealth: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Best continuation value and its portfolio at post-goal log-wealth, (N,) each.

        See :func:`_best_continuation`.
        """
        choice, kernels = self.portfolio_choice, self.kernels
        if choice is None or kernels is None:
            raise ValueError("this solution has no portfolio choice and kernels (solve_dp gives "
                             "them)")
        return _best_continuation(self.continuation[t], self.continuation_slope[t],
                                  choice[t], kernels, self.next_values[t],
                                  math.log(self.wealth_grid[0]), log_wealth)

    def act(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Optimal ``(take, portfolio)`` at year ``t`` for pre-goal wealth (any values, 1-D).

        For the general class ``take`` is the decision index into ``problem.decisions(t)``.
        """
        horizon = self.problem.horizon
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t <= horizon:
            raise ValueError(f"t must be an integer in 0..{horizon}, got {t!r}")
        wealth = _check_wealth(wealth)
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
        return _best_decisions(table, t, wealth, lambda x, _: self._best_continuation(t, x))

    def portfolio_given(self, t: int, post_goal_wealth: np.ndarray) -> np.ndarray:
        """Optimal portfolio at year ``t`` < T once the goal decision is made (any decision).

        Hybrid strategies use it: after another policy's goal decision, this is
        the best portfolio for the wealth actually left.
        """
        horizon = self.problem.horizon
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < horizon:
            raise ValueError(f"t must be an integer in 0..{horizon - 1}, got {t!r}")
        wealth = _check_wealth(post_goal_wealth)
        with np.errstate(divide="ignore"):
            log_w = np.log(np.maximum(wealth, 0.0))
        return self._best_continuation(t, log_w)[1].astype(np.intp)

    def value_at(self, t: int, wealth: np.ndarray) -> np.ndarray:
        """Optimal value at year ``t`` < T for any pre-goal wealth (interpolated continuation)."""
        if self.general:
            horizon = self.problem.horizon
            if isinstance(t, bool) or not isinstance(t, (int, np.integer)) \
                    or not 0 <= t <= horizon:
                raise ValueError(f"t must be an integer in 0..{horizon}, got {t!r}")
            return self._decide(int(t), _check_wealth(wealth))[2]
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
        wealth = _check_wealth(wealth)
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
        below, weight = _bracket(self.rate_grid, rates)
        x0, h = math.log(self.wealth_grid[0]), 1.0 / self.grid_density
        out = np.empty((log_wealth.shape[0], self.continuation.shape[-1]))
        for node in np.unique(below):
            rows = np.flatnonzero(below == node)
            low = _hermite_columns(self.continuation[t, node], self.continuation_slope[t, node],
                                   x0, h, log_wealth[rows])
            high = _hermite_columns(self.continuation[t, node + 1],
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

        return _best_decisions(table, t, wealth, continuation)

    def act(self, t: int, wealth: np.ndarray, inflation: object = None
            ) -> tuple[np.ndarray, np.ndarray]:
        """Optimal ``(decision, portfolio)`` at year ``t`` for real pre-decision wealth and
        the year's inflation rate ``inflation`` (one, or one per path)."""
        horizon = self.problem.horizon
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t <= horizon:
            raise ValueError(f"t must be an integer in 0..{horizon}, got {t!r}")
        wealth = _check_wealth(wealth)
        decision, portfolio, _ = self._decide(int(t), wealth, self._rates(wealth, inflation))
        return decision, portfolio

    def value_at(self, t: int, wealth: np.ndarray, inflation: object = None) -> np.ndarray:
        """Optimal value ``V_t(w, pi)`` for any real pre-decision wealth and rate."""
        wealth = _check_wealth(wealth)
        return self._decide(int(t), wealth, self._rates(wealth, inflation))[2]


def _bracket(nodes: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each value, the node below it (``0..M-2``) and its weight toward the node above
    (in [0, 1]; clamped beyond the ends: the value function is flat in the rate there)."""
    below = np.clip(np.searchsorted(nodes, values, side="right") - 1, 0, nodes.shape[0] - 2)
    weight = (values - nodes[below]) / (nodes[below + 1] - nodes[below])
    return below, np.clip(weight, 0.0, 1.0)


def _best_continuation(q: np.ndarray, dq: np.ndarray, choice: np.ndarray, kernels: _Kernels,
                       next_value: _Representation, x0: float, log_wealth: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Best continuation value and its portfolio at post-decision log-wealth, (N,) each.

    The smooth portfolios by :func:`_hermite_best` (``choice``: the best smooth portfolio
    at each grid point); the sharp ones exactly from ``next_value`` (``V_{t+1}``). Ties go
    to the lower portfolio index, as ``argmax`` does.
    """
    sharp = kernels.sharp_columns
    if sharp.size < kernels.sharp.shape[0]:
        best_value, best_portfolio = _hermite_best(q, dq, choice, x0, kernels.h, log_wealth,
                                                   None if not sharp.size else kernels.sharp)
    else:
        best_value = np.full(log_wealth.shape, -np.inf)
        best_portfolio = np.zeros(log_wealth.shape, dtype=np.intp)
    if sharp.size:
        exact = _off_grid(next_value, kernels, x0, log_wealth, sharp)
        for c, j in enumerate(sharp):
            better = (exact[:, c] > best_value) | ((exact[:, c] == best_value)
                                                   & (j < best_portfolio))
            best_value[better] = exact[better, c]
            best_portfolio[better] = j
    return best_value, best_portfolio


def _hermite_columns(q: np.ndarray, dq: np.ndarray, x0: float, h: float,
                     log_wealth: np.ndarray) -> np.ndarray:
    """Cubic Hermite interpolation of every column of ``q`` (G, n) with slopes ``dq`` at
    post-decision log-wealth, (N, n) (clamped to the grid)."""
    grid_size = q.shape[0]
    position = np.clip((log_wealth - x0) / h, 0.0, grid_size - 1.0)
    left = np.minimum(position.astype(np.intp), grid_size - 2)
    s = (position - left)[:, None]
    q0, q1 = q[left], q[left + 1]
    d0, d1 = dq[left] * h, dq[left + 1] * h
    s2, s3 = s * s, s * s * s
    return ((2 * s3 - 3 * s2 + 1) * q0 + (s3 - 2 * s2 + s) * d0
            + (-2 * s3 + 3 * s2) * q1 + (s3 - s2) * d1)


def _smooth_choice(q: np.ndarray, kernels: _Kernels) -> np.ndarray:
    """Index of the best smooth portfolio at each grid point, (G,) (0 if none is smooth)."""
    if not kernels.sharp_columns.size:
        return q.argmax(axis=1)
    if not kernels.smooth_columns.size:
        return np.zeros(q.shape[0], dtype=np.intp)
    return kernels.smooth_columns[q[:, kernels.smooth_columns].argmax(axis=1)]


def _hermite_best(q: np.ndarray, dq: np.ndarray, choice: np.ndarray, x0: float, h: float,
                  log_wealth: np.ndarray, excluded: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Best continuation value and its portfolio at post-goal log-wealth, (N,) each.

    Candidates are the portfolios from the one optimal at the grid point on
    the left to the one optimal on the right (portfolios are ordered along
    the frontier, and the optimal one moves through them as wealth moves);
    each is evaluated by cubic Hermite interpolation of ``q`` (G, n) with slopes
    ``dq`` and the best is kept. Where both grid points agree (almost everywhere)
    only one is evaluated. Portfolios marked in ``excluded`` (n,) are skipped.
    """
    grid_size = q.shape[0]
    position = np.clip((log_wealth - x0) / h, 0.0, grid_size - 1.0)
    left = np.minimum(position.astype(np.intp), grid_size - 2)
    s = position - left
    s2 = s * s
    s3 = s2 * s
    weights = (2 * s3 - 3 * s2 + 1, (s3 - 2 * s2 + s) * h, 3 * s2 - 2 * s3, (s3 - s2) * h)
    right = left + 1
    lowest = np.minimum(choice[left], choice[right])
    span = np.abs(choice[left] - choice[right])

    def hermite(rows: np.ndarray | slice, candidate: np.ndarray) -> np.ndarray:
        lft, rgt = left[rows], right[rows]
        return (weights[0][rows] * q[lft, candidate] + weights[1][rows] * dq[lft, candidate]
                + weights[2][rows] * q[rgt, candidate] + weights[3][rows] * dq[rgt, candidate])

    best_portfolio = lowest.copy()
    best_value = hermite(slice(None), lowest)
    for offset in range(1, int(span.max(initial=0)) + 1):
        rows = np.flatnonzero(span >= offset)
        candidate = lowest[rows] + offset
        if excluded is not None:
            keep = ~excluded[candidate]
            rows, candidate = rows[keep], candidate[keep]
        value = hermite(rows, candidate)
        better = value > best_value[rows]
        best_value[rows[better]] = value[better]
        best_portfolio[rows[better]] = candidate[better]
    return best_value, best_portfolio


def _probability_below(bound_minus_mean: np.ndarray, sigma: float, law: _Law = _NORMAL_LAW
                       ) -> np.ndarray:
    """``P(mean + sigma Z < bound)`` from ``bound - mean``; ``sigma = 0`` is deterministic growth.

    With ``sigma = 0`` wealth that lands exactly on a boundary counts as above it (a goal
    whose cost equals the wealth is affordable), as in the envs.
    """
    if sigma > 0.0:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return law.cdf(bound_minus_mean / sigma)
    return (np.asarray(bound_minus_mean) > 0.0).astype(np.float64)


def _probability_above(mean_minus_bound: np.ndarray, sigma: float, law: _Law = _NORMAL_LAW
                       ) -> np.ndarray:
    """``P(mean + sigma Z >= bound)`` from ``mean - bound`` (see :func:`_probability_below`)."""
    if sigma > 0.0:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return law.above_minus(mean_minus_bound / sigma)
    return (np.asarray(mean_minus_bound) >= 0.0).astype(np.float64)


class _Kernels:
    """Per-portfolio transition kernels on the uniform log grid.

    ``sharp`` marks the sharp portfolios (see ``SHARP_WIDTH_STEPS``; none by default).
    The convolution of the piecewise-constant value with so narrow a kernel would be a
    staircase at the grid's scale: each year would round wealth to a grid cell, a bias
    that adds up over the horizon, and the cubic interpolation of ``act`` could not follow
    it. Where a portfolio is sharp, every portfolio reads the value through its sharp view
    instead (:func:`_read_view`).

    ``law`` is the market's law of the shock (:class:`_Law`). Kernels reach
    ``tail_sigmas`` standard deviations for the normal law (the mass beyond, 1.3e-12 a
    side, is left out, as it always was); a fat-tailed law reaches its quantile of the
    same tail mass, at most ``span`` (the grid's width in log-wealth), and the mass beyond
    is counted in the end cells: beyond ``span`` the value is constant, so that is exact.
    Sharp portfolios read the normal law of the same variance (see :meth:`law_of`).
    """

    def __init__(self, log_drifts: np.ndarray, sigmas: np.ndarray, h: float,
                 tail_sigmas: float, sharp: np.ndarray | None = None,
                 law: _Law = _NORMAL_LAW, span: float = math.inf) -> None:
        self.log_drifts = log_drifts
        self.sigmas = sigmas
        self.h = h
        self.law = law
        self.sharp = np.zeros(sigmas.shape, dtype=bool) if sharp is None else sharp
        self.smooth_columns = np.flatnonzero(~self.sharp)
        self.sharp_columns = np.flatnonzero(self.sharp)
        if law.normal:
            reach = tail_sigmas * sigmas + np.abs(log_drifts)
        else:
            reach = np.minimum(law.quantile(tail_sigmas) * sigmas, span) + np.abs(log_drifts)
        self.half_widths = np.ceil(reach / h).astype(int) + 1
        self.pad = int(2 * self.half_widths.max() + 2)
        self.cell_kernels = []  # probability of landing in cell i + d, d = -L..L (reversed)
        self.slope_kernels = []  # density at boundary i + d - 1/2 (for the derivative)
        for j, (m, s, half, sharp) in enumerate(zip(log_drifts, sigmas, self.half_widths,
                                                    self.sharp, strict=True)):
            column_law = self.law_of(j)
            d = np.arange(-half, half + 1, dtype=np.float64)
            upper = _probability_below((d + 0.5) * h - m, s, column_law)
            lower = _probability_below((d - 0.5) * h - m, s, column_law)
            if not column_law.normal:  # the tails, in the end cells
                lower[0], upper[-1] = 0.0, 1.0
            self.cell_kernels.append((upper - lower)[::-1].copy())
            if sharp:
                self.slope_kernels.append(np.zeros_like(d))
                continue
            z = ((d - 0.5) * h - m) / s
            self.slope_kernels.append((column_law.shape(z) / (column_law.norm * s))[::-1]
                                      .copy())

    def law_of(self, j: int | np.integer) -> _Law:
        """The law portfolio ``j``'s transitions are integrated against: the market's, but
        the normal law of the same variance for a sharp portfolio, whose spread over the
        whole horizon is below half a grid step (the difference is below the grid's
        resolution; its steps and hinges are then integrated in closed form within a few
        spreads)."""
        return _NORMAL_LAW if self.sharp[j] else self.law


def _on_grid(rep: _Representation, kernels: _Kernels, log_grid: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Continuation value and its log-wealth derivative from every grid point, (G, n) each."""
    values = rep.values
    grid_size = values.shape[0]
    n = kernels.sigmas.shape[0]
    q = np.empty((grid_size, n))
    dq = np.empty((grid_size, n))
    if rep.sharp is not None:  # every portfolio reads the value the same way
        for j in range(n):
            q[:, j], dq[:, j] = _read_view_on_grid(rep.sharp, log_grid,
                                                   float(kernels.log_drifts[j]),
                                                   float(kernels.sigmas[j]), kernels.law_of(j))
        return q, dq
    jumps = np.zeros(grid_size + 1)
    jumps[1:grid_size] = np.diff(values)  # D_k at boundary k (between cells k-1 and k)
    for j in range(n):
        half = kernels.half_widths[j]
        padded = np.concatenate([np.full(half, values[0]), values, np.full(half, values[-1])])
        q[:, j] = np.convolve(padded, kernels.cell_kernels[j], mode="valid")
        padded_jumps = np.concatenate([np.zeros(half), jumps[:grid_size], np.zeros(half)])
        # slope at x_i: sum_k D_k phi((x_i + m - b_k)/s)/s with b_k = x_i - (i - k + 1/2) h
        dq[:, j] = np.convolve(padded_jumps, kernels.slope_kernels[j], mode="valid")
    for k, jump_log in rep.jumps:
        _moved_boundary_correction(values, k, jump_log, kernels, log_grid, q, dq, log_grid[0])
    return q, dq


def _moved_boundary_correction(values: np.ndarray, k: int, jump_log: float, kernels: _Kernels,
                               sources: np.ndarray, q: np.ndarray, dq: np.ndarray | None,
                               x0: float, columns: np.ndarray | None = None) -> None:
    """Shift the boundary between cells k-1 and k from the midpoint to ``jump_log`` (in place).

    ``q`` holds the portfolios ``columns`` (default: all).
    """
    jump = values[k] - values[k - 1]
    midpoint = x0 + (k - 0.5) * kernels.h
    columns = np.arange(kernels.sigmas.shape[0]) if columns is None else columns
    for c, j in enumerate(columns):
        mean = sources + kernels.log_drifts[j]
        s = float(kernels.sigmas[j])
        law = kernels.law_of(j)
        q[:, c] += jump * (_probability_above(mean - jump_log, s, law)
                           - _probability_above(mean - midpoint, s, law))
        if dq is not None and not kernels.sharp[j]:
            z_new = (mean - jump_log) / s
            z_mid = (mean - midpoint) / s
            dq[:, c] += jump * (law.shape(z_new) - law.shape(z_mid)) / (law.norm * s)


def _off_grid(rep: _Representation, kernels: _Kernels, x0: float, sources: np.ndarray,
              columns: np.ndarray | None = None) -> np.ndarray:
    """Continuation value from arbitrary post-goal log-wealth ``sources``, exact.

    Returns (S, n), or (S, len(columns)) for the portfolios ``columns``.
    """
    columns = np.arange(kernels.sigmas.shape[0]) if columns is None else columns
    out = np.empty((sources.shape[0], len(columns)))
    if rep.sharp is not None:  # every portfolio reads the value the same way
        for c, j in enumerate(columns):
            out[:, c] = _sharp_continuation(rep, kernels, sources, int(j))
        return out
    values = rep.values
    grid_size = values.shape[0]
    pad = kernels.pad
    padded = np.concatenate([np.full(pad, values[0]), values, np.full(pad, values[-1])])
    h = kernels.h
    for c, j in enumerate(columns):
        m, s, half = kernels.log_drifts[j], float(kernels.sigmas[j]), kernels.half_widths[j]
        # clamp far outside the grid, where the value is the (constant) end cell's
        lo = x0 - (pad - half - 1) * h
        hi = x0 + (grid_size - 1 + pad - half - 1) * h
        mean = np.clip(sources + m, lo, hi)
        centre = np.rint((mean - x0) / h).astype(np.intp) + pad  # padded cell index
        offsets = np.arange(-half, half + 2)  # boundary offsets
        cells = centre[:, None] + offsets[None, :-1]
        # boundary below cell c is at x0 + (c - pad - 1/2) h
        bounds = x0 + (centre[:, None] + offsets[None, :] - pad - 0.5) * h
        cdf = _probability_below(bounds - mean[:, None], s, kernels.law_of(j))
        prob = np.diff(cdf, axis=1)
        out[:, c] = np.einsum("ij,ij->i", prob, padded[cells])
        # mass beyond the window lies in constant regions at this point's scale
        out[:, c] += cdf[:, 0] * padded[cells[:, 0]] + (1.0 - cdf[:, -1]) * padded[cells[:, -1]]
    for k, jump_log in rep.jumps:
        _moved_boundary_correction(values, k, jump_log, kernels, sources, out, None, x0, columns)
    return out


def _sharp_continuation(rep: _Representation, kernels: _Kernels, sources: np.ndarray,
                        j: int) -> np.ndarray:
    """Continuation value of portfolio ``j`` from log-wealth ``sources`` read from
    ``rep.sharp`` (see :func:`_read_view`), (S,)."""
    view = rep.sharp
    if view is None:
        raise RuntimeError("a sharp portfolio needs the value's sharp view")
    return _read_view(view, sources + kernels.log_drifts[j], float(kernels.sigmas[j]),
                      law=kernels.law_of(j))[0]


def _read_view(view: _SharpView, landing: np.ndarray, sigma: float, slope: bool = False,
               law: _Law = _NORMAL_LAW) -> tuple[np.ndarray, np.ndarray | None]:
    """``E[V(y + sigma Z)]`` at each ``y`` of ``landing`` (and its derivative if ``slope``).

    Integrates the view (steps plus a piecewise-linear remainder) exactly against
    ``law``: a step of width ``w`` becomes one of width ``sqrt(w^2 + sigma^2)``, the
    remainder, a sum of hinges ``delta_k max(x - k, 0)``, gains ``delta_k sigma
    gap((y - k) / sigma)`` from each knot within ``_SHARP_TAIL_SIGMAS`` standard deviations
    of the normal law, or the same tail mass of another (:meth:`_Law.hinge_gap`; beyond,
    the gap is below 1e-16). Exact for ``sigma = 0`` (a riskless portfolio) given the
    knots; the derivative is 0 there.
    """
    sigma = sigma if sigma >= _NEGLIGIBLE_SPREAD else 0.0
    out = np.interp(landing, view.knot_x, view.knot_v) + view.steps_at(landing, sigma, law)
    if sigma == 0.0:
        return out, (np.zeros(landing.shape) if slope else None)
    farthest = (float(max(landing.max() - view.knot_x[0], view.knot_x[-1] - landing.min()))
                if landing.size and not law.normal else 0.0)
    reach = law.reach(_SHARP_TAIL_SIGMAS, sigma, farthest + 1.0)
    gap, below = _near_hinges(view.knot_x, view.knot_delta, landing, sigma, reach, slope, law)
    out += gap
    if not slope:
        return out, None
    # slope of the remainder: the hinges at or below y, smoothed near y
    slopes = np.concatenate([[0.0], np.cumsum(view.knot_delta)])
    derivative = slopes[np.searchsorted(view.knot_x, landing, side="right")] + below
    return out, derivative + view.step_density(landing, sigma, law)


def _read_view_on_grid(view: _SharpView, log_grid: np.ndarray, drift: float, sigma: float,
                       law: _Law = _NORMAL_LAW) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_read_view` from every grid point (landing at ``x_i + drift``), with slopes.

    The grid's hinges are one convolution (the grid is uniform); only the hinges near the
    extra knots are summed one by one.
    """
    landing = log_grid + drift
    if sigma < _NEGLIGIBLE_SPREAD:
        return _read_view(view, landing, 0.0, slope=True)  # type: ignore[return-value]
    h = float(log_grid[1] - log_grid[0])
    # every knot is within the grid: a wider reach adds nothing
    reach = law.reach(_SHARP_TAIL_SIGMAS, sigma, float(log_grid[-1] - log_grid[0]) + h)
    half = int(math.ceil((reach + abs(drift)) / h)) + 1
    z = (np.arange(-half, half + 1) * h + drift) / sigma  # (y_i - x_c) / sigma for i - c = n
    size = log_grid.shape[0]
    out = np.interp(landing, view.knot_x, view.knot_v) + view.steps_at(landing, sigma, law)
    out += np.convolve(view.grid_delta, sigma * law.hinge_gap(z))[half:half + size]
    derivative = np.convolve(view.grid_delta, law.above_minus(z) - (z >= 0.0))[half:half + size]
    gap, below = _near_hinges(view.extra_x, view.extra_delta, landing, sigma, reach, True, law)
    out += gap
    slopes = np.concatenate([[0.0], np.cumsum(view.knot_delta)])
    derivative += slopes[np.searchsorted(view.knot_x, landing, side="right")] + below
    return out, derivative + view.step_density(landing, sigma, law)


def _near_hinges(knots: np.ndarray, delta: np.ndarray, at: np.ndarray, sigma: float,
                 reach: float, slope: bool, law: _Law = _NORMAL_LAW
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``sum_k delta_k sigma gap((at - k) / sigma)`` over the knots within ``reach`` of each
    point, and (if ``slope``) its derivative ``sum_k delta_k (F(.) - 1{at >= k})``."""
    rows, k = _pairs(np.searchsorted(knots, at - reach, side="left"),
                     np.searchsorted(knots, at + reach, side="right"))
    z = (at[rows] - knots[k]) / sigma
    gap = np.bincount(rows, delta[k] * sigma * law.hinge_gap(z), minlength=at.shape[0])
    if not slope:
        return gap, np.zeros(0)
    below = np.bincount(rows, delta[k] * (law.above_minus(z) - (z >= 0.0)),
                        minlength=at.shape[0])
    return gap, below


#: Standard deviations beyond which a sharp portfolio's landing law is taken as its tail.
_SHARP_TAIL_SIGMAS = 8.0
#: Spreads in log-wealth below this are read as 0: far below the resolution of float64
#: log-wealth, where a volatility of 1e-300 and a riskless asset cannot be told apart.
_NEGLIGIBLE_SPREAD = 1e-12
#: Knots that sample a ramp of width ``w`` (in widths from its centre): exact values of the
#: value function there, so that the remainder follows whatever differs from a smoothed
#: step (a step under a max with another portfolio's value).
_RAMP_KNOTS = np.linspace(-4.0, 4.0, 17)


def _sharp_view(values: np.ndarray, log_grid: np.ndarray, jumps: tuple[_Jump, ...]
                ) -> _SharpView:
    """The sharp view of a value with grid values ``values`` and the jumps ``jumps``."""
    ordered = sorted(jumps, key=lambda jump: jump.place)
    steps = _SharpView(np.zeros(0), np.zeros(0),
                       np.array([jump.place for jump in ordered], dtype=np.float64),
                       np.array([jump.size for jump in ordered], dtype=np.float64),
                       np.array([jump.width for jump in ordered], dtype=np.float64))
    x = np.concatenate([log_grid, *(jump.knot_x for jump in ordered)])
    v = np.concatenate([values, *(jump.knot_v for jump in ordered)])
    inside = (x >= log_grid[0]) & (x <= log_grid[-1])
    knot_x, first = np.unique(x[inside], return_index=True)
    knot_v = v[inside][first] - steps.steps_at(knot_x, 0.0)
    knot_delta = _slope_changes(knot_x, knot_v)
    on_grid = np.searchsorted(knot_x, log_grid)  # the grid points are knots
    grid_delta = _slope_changes(log_grid, knot_v[on_grid])
    extra = knot_delta.copy()
    extra[on_grid] -= grid_delta
    near = np.flatnonzero(extra)
    return _SharpView(knot_x, knot_v, steps.step_x, steps.step_size, steps.step_width,
                      knot_delta, grid_delta, knot_x[near], extra[near])


def _slope_changes(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Slope change at each knot of the piecewise-linear (constant beyond the ends) function
    through ``(x, v)``: the coefficients of its hinges ``max(x - x_k, 0)``."""
    slopes = np.concatenate([[0.0], np.diff(v) / np.diff(x), [0.0]])
    return np.diff(slopes)


def _jump_index(log_grid: np.ndarray, log_cost: float) -> int:
    """Boundary index k (cells k-1 | k) that brackets ``log_cost``; -1 if outside the grid."""
    k = int(np.searchsorted(log_grid, log_cost, side="left"))
    return k if 0 < k < log_grid.shape[0] else -1


def solve_dp(problem: GBWMProblem, *, grid_density: float = DEFAULT_GRID_DENSITY,
             refine: bool = True,
             grid_points: int | None = None, wealth_floor: float = 1e-2,
             upper_sigmas: float = 5.0, tail_sigmas: float = 7.0,
             inflation_nodes: int = DEFAULT_INFLATION_NODES,
             inflation_quadrature: int = DEFAULT_INFLATION_QUADRATURE
             ) -> DPSolution | RegimeDPSolution | InflationDPSolution:
    """Solve ``problem`` exactly (up to the grid) by backward Bellman recursion.

    Parameters
    ----------
    grid_density: grid points per unit of log-wealth (default 50, i.e. 2% steps).
    refine: raise the density where a portfolio's small volatility needs it
        (``SMOOTH_VOLATILITY_STEPS``; a riskless or near-riskless one is solved exactly on any
        grid). ``False`` keeps the grid as given, as earlier versions did.
    grid_points: if given, the total number of grid points (overrides ``grid_density``
        and ``refine``).
    wealth_floor: bottom of the grid as a fraction of min(W0, cheapest goal cost).
    upper_sigmas: top of the grid in standard deviations of log-wealth over the horizon.
    tail_sigmas: transition probabilities are computed within +-``tail_sigmas`` sigma
        (lognormal market); a fat-tailed market reaches as far as its quantile with the
        same tail mass, at most the grid's width, and counts the rest in the end cells.
    """
    if not isinstance(problem, GBWMProblem):
        raise ValueError(f"problem must be a GBWMProblem, got {type(problem).__name__}")
    check_horizon(problem.horizon)
    wealth_floor = check_float(wealth_floor, "wealth_floor", 1e-8, 0.5)
    upper_sigmas = check_float(upper_sigmas, "upper_sigmas", 1.0, 20.0)
    tail_sigmas = check_float(tail_sigmas, "tail_sigmas", 3.0, 12.0)
    start = time.perf_counter()
    if not isinstance(refine, bool):
        raise ValueError(f"refine must be True or False, got {refine!r}")
    x_low, x_high = _grid_bounds(problem, problem_table(problem), wealth_floor, upper_sigmas)
    grid, sharp = _plan_grid(problem, x_low, x_high, grid_density, grid_points, refine)
    if problem.inflation is None:
        return _solve(problem, grid, sharp, tail_sigmas, start)
    if problem.market.regime_count > 1 or not isinstance(problem.market, LognormalMarket):
        raise ValueError("stochastic inflation is solved with the lognormal market only: "
                         "inflation with market regimes or fat tails has two or more state "
                         "variables beyond wealth (train a policy instead)")
    nodes = _integer(inflation_nodes, "inflation_nodes", 3, 401)
    quadrature = _integer(inflation_quadrature, "inflation_quadrature", 1, 61)
    return _solve_inflation(problem, grid, sharp, tail_sigmas, start, nodes, quadrature)


def _integer(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def _best_decisions(table: ProblemTable, t: int, wealth: np.ndarray, continuation
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
    for d in range(int(table.decisions_per_year[0, t])):
        idx = np.flatnonzero(affordable[:, d])
        if idx.size == 0:
            continue
        cash_after = apply_decisions(table, 0, t, wealth[idx], np.full(idx.size, d))[0]
        with np.errstate(divide="ignore"):
            log_post = np.log(np.maximum(cash_after, 0.0))
        value, portfolio = continuation(log_post, idx)
        value = value + table.decision_utility[0, t, d]
        better = value >= best_value[idx]
        chosen = idx[better]
        best_value[chosen] = value[better]
        best_decision[chosen] = d
        best_portfolio[chosen] = portfolio[better]
    return best_decision, best_portfolio, best_value


def _grid_bounds(problem: GBWMProblem, table: ProblemTable, wealth_floor: float,
                         upper_sigmas: float) -> tuple[float, float]:
    """Log-wealth range of the grid (see the module docstring): decision costs, W0 and
    the savings, and the growth the portfolios allow over the horizon."""
    costs = table.decision_cost[np.isfinite(table.decision_cost)]
    costs = costs[costs > 0.0]
    w0 = problem.initial_wealth
    low = wealth_floor * (min(w0, float(costs.min())) if costs.size else w0)
    withdrawals = -table.infusions[table.infusions < 0.0]
    if withdrawals.size:  # the bankruptcy thresholds W = -I(t) lie on the grid
        low = min(low, wealth_floor * float(withdrawals.min()))
    savings = float(np.maximum(table.infusions, 0.0).sum())
    high_base = max(w0 + savings, float(costs.max()) if costs.size else w0)
    drifts, volatilities = _regime_moments(problem)  # the best regime's growth
    drift, volatility = float(drifts.max()), float(volatilities.max())
    if problem.inflation is not None:  # real returns: less the (lowest likely) inflation
        mean, spread = problem.inflation.stationary_moments()
        drift -= min(mean - INFLATION_GRID_SPREAD * spread, problem.inflation.initial_rate)
        volatility += problem.inflation.volatility
    growth = max(0.0, drift) * problem.horizon
    growth += upper_sigmas * volatility * math.sqrt(problem.horizon)
    return math.log(low), math.log(high_base) + growth


def _affordability_jumps(table: ProblemTable, t: int, log_grid: np.ndarray
                        ) -> tuple[tuple[int, float], ...]:
    """Boundaries where ``V_t`` may jump (a decision becomes affordable, or, after a
    withdrawal, the cash stops being negative: decision 0 at ``W = -I(t)``), one per cell."""
    thresholds = affordability_thresholds(table, 0, t, first=0)
    jumps: dict[int, float] = {}
    for threshold in thresholds[thresholds > 0.0]:
        k = _jump_index(log_grid, math.log(threshold))
        if k > 0 and k not in jumps:
            jumps[k] = math.log(threshold)
    return tuple(sorted(jumps.items()))


#: Log-wealth distance below a candidate step at which ``_value_jumps`` samples the value,
#: and the smallest rise (relative to the value's scale) it keeps as a jump.
_JUMP_PROBE = 1e-9
_JUMP_TOLERANCE = 1e-9


@dataclass(frozen=True)
class _Jump:
    """A jump of ``V_t`` at log-wealth ``place``: a step (``width`` 0) or a steep ramp."""

    cell: int  # boundary index k of the grid cell it sits in (x_{k-1} < place <= x_k)
    place: float
    width: float  # standard deviation in log-wealth of a ramp; 0 for a step
    size: float  # rise across it
    knot_x: np.ndarray  # where the value was sampled around it (log-wealth)
    knot_v: np.ndarray  # the value there


#: Largest number of jumps tracked in one year (the largest kept); bounds the work of a
#: problem whose thresholds multiply year after year.
_MAX_TRACKED_JUMPS = 1024


def _value_jumps(table: ProblemTable, t: int, log_grid: np.ndarray, kernels: _Kernels,
                 next_jumps: tuple[_Jump, ...], value_of) -> tuple[_Jump, ...]:
    """Where ``V_t`` jumps (needed only where some portfolio is sharp).

    ``V_t`` jumps where a decision becomes affordable (a step), and a sharp portfolio
    ``j`` carries each jump of ``V_{t+1}`` at ``b`` (width ``w``) back to post-decision
    log-wealth ``y = b - m_j``, widened to ``sqrt(w^2 + s_j^2)``: ``V_t`` jumps at wealth
    ``c_d - I(t) + exp(y)`` for each decision ``d``, its width scaled by the derivative of
    log-wealth. Each candidate is sampled with ``value_of(wealth)``: just either side of a
    step, across a ramp at ``_RAMP_KNOTS`` widths; candidates that do not rise are dropped.
    """
    count = int(table.decisions_per_year[0, t])
    offsets = table.decision_cost[0, t, :count] - table.infusions[0, t]
    own = offsets[offsets > 0.0]  # decision 0's is the bankruptcy threshold -I(t) > 0
    points, widths = [np.log(own)], [np.zeros(own.size)]
    if next_jumps:
        places = np.array([jump.place for jump in next_jumps])
        next_widths = np.array([jump.width for jump in next_jumps])
        for j in kernels.sharp_columns:
            y = places - kernels.log_drifts[j]
            width = np.sqrt(next_widths**2 + float(kernels.sigmas[j]) ** 2)
            width[width < _NEGLIGIBLE_SPREAD] = 0.0
            wealth = offsets[:, None] + np.exp(y)[None, :]
            ok = (wealth > 0.0) & np.isfinite(wealth)
            new_width = width[None, :] * (np.exp(y)[None, :] / np.where(ok, wealth, 1.0))
            points.append(np.log(wealth[ok]))
            widths.append(new_width[ok])
    point_array, width_array = np.concatenate(points), np.concatenate(widths)
    inside = (point_array > log_grid[0]) & (point_array <= log_grid[-1])
    pairs = np.unique(np.column_stack([point_array[inside], width_array[inside]]), axis=0)
    if not pairs.size:
        return ()
    result: list[_Jump] = []
    for is_ramp in (False, True):
        chosen = pairs[(pairs[:, 1] > 0.0) == is_ramp]
        if not chosen.size:
            continue
        place, width = chosen[:, 0], chosen[:, 1]
        if is_ramp:
            knot_x = place[:, None] + width[:, None] * _RAMP_KNOTS[None, :]
            sample_x = knot_x
        else:
            # steps closer than two probes are one step (sampled below the first and above
            # the last), sampled a hair above: exp(log(c)) may round to just below c
            first = np.concatenate([[True], np.diff(place) > 2.0 * _JUMP_PROBE])
            last = np.concatenate([first[1:], [True]])
            place, width = place[first], width[first]
            knot_x = np.column_stack([place - _JUMP_PROBE, place])
            sample_x = np.column_stack([knot_x[:, 0],
                                        chosen[last, 0] + 1e-3 * _JUMP_PROBE])
        knot_v = value_of(np.exp(sample_x.ravel())).reshape(knot_x.shape)
        size = knot_v[:, -1] - knot_v[:, 0]
        scale = max(1.0, float(np.abs(knot_v).max(initial=0.0)))
        for i in np.flatnonzero(size > _JUMP_TOLERANCE * scale):
            result.append(_Jump(_jump_index(log_grid, float(place[i])), float(place[i]),
                                float(width[i]), float(size[i]), knot_x[i], knot_v[i]))
    if len(result) > _MAX_TRACKED_JUMPS:
        result = sorted(result, key=lambda jump: -jump.size)[:_MAX_TRACKED_JUMPS]
    return tuple(sorted(result, key=lambda jump: jump.place))


def _largest_per_cell(jumps: tuple[_Jump, ...]) -> tuple[_Jump, ...]:
    """One jump per grid cell, the largest: the boundaries the smooth portfolios move."""
    best: dict[int, _Jump] = {}
    for jump in jumps:
        if jump.cell > 0 and (jump.cell not in best or jump.size > best[jump.cell].size):
            best[jump.cell] = jump
    return tuple(best[k] for k in sorted(best))


def _log_wealth_grid(x_low: float, x_high: float, grid_density: float,
                     grid_points: int | None) -> tuple[float, int, float, np.ndarray, np.ndarray]:
    """The evenly spaced log-wealth grid over [x_low, ...]: ``grid_points`` points, else
    ``grid_density`` points per unit of log-wealth (validated; at most
    ``DP_MAX_GRID_POINTS``).

    Returns (density, size, spacing h, log-wealth grid, wealth grid).
    """
    if grid_points is not None:
        if isinstance(grid_points, bool) or not isinstance(grid_points, (int, np.integer)) \
                or not 10 <= grid_points <= DP_MAX_GRID_POINTS:
            raise ValueError(f"grid_points must be an integer in [10, {DP_MAX_GRID_POINTS}], "
                             f"got {grid_points!r}")
        grid_size = int(grid_points)
        grid_density = (grid_size - 1) / (x_high - x_low)
    else:
        grid_density = check_float(grid_density, "grid_density", 2.0, 10_000.0)
        grid_size = int(math.ceil((x_high - x_low) * grid_density)) + 1
        if grid_size > DP_MAX_GRID_POINTS:
            span = x_high - x_low
            raise ValueError(
                f"grid_density={grid_density:g} needs {grid_size:,} grid points for this "
                f"problem's wealth range (log-wealth {x_low:.3g} to {x_high:.3g}, i.e. wealth "
                f"{math.exp(x_low):.3g} to {math.exp(x_high):.3g}); at most "
                f"{DP_MAX_GRID_POINTS:,} are allowed: use grid_density <= "
                f"{(DP_MAX_GRID_POINTS - 1) / span:.4g}")
    h = 1.0 / grid_density
    log_grid = x_low + h * np.arange(grid_size)
    return grid_density, grid_size, h, log_grid, np.exp(log_grid)


def _plan_grid(problem: GBWMProblem, x_low: float, x_high: float, grid_density: float,
               grid_points: int | None, refine: bool
               ) -> tuple[tuple[float, int, float, np.ndarray, np.ndarray], np.ndarray]:
    """The grid (see :func:`_log_wealth_grid`) and which portfolios are sharp.

    With ``refine``, a portfolio that is neither sharp nor ``SMOOTH_VOLATILITY_STEPS`` grid
    steps wide gets the grid refined until it is ``REFINED_VOLATILITY_STEPS`` steps wide;
    where the refinement caps stop short of one step, it is tracked as sharp.
    """
    auto = refine and grid_points is None
    grid = _log_wealth_grid(x_low, x_high, grid_density, grid_points)
    h = grid[2]
    # each portfolio's narrowest volatility over the regimes (its own without regimes)
    sigmas = _regime_moments(problem)[1].min(axis=0)
    sharp = sigmas * math.sqrt(problem.horizon) < SHARP_WIDTH_STEPS * h
    narrow = ~sharp & (sigmas < SMOOTH_VOLATILITY_STEPS * h)
    if auto and narrow.any():
        refined = min(REFINED_VOLATILITY_STEPS / float(sigmas[narrow].min()), MAX_REFINED_DENSITY,
                      (MAX_REFINED_POINTS - 1) / (x_high - x_low))
        if refined > grid[0]:
            grid = _log_wealth_grid(x_low, x_high, refined, None)
        # those still too narrow for the caps are tracked as sharp (exact at any width)
        sharp = sharp | (narrow & (sigmas < SMOOTH_VOLATILITY_STEPS * grid[2]))
    return grid, sharp


def _regime_kernels(problem: GBWMProblem, h: float, tail_sigmas: float,
                    sharp_portfolios: np.ndarray, span: float) -> list[_Kernels]:
    """The transition kernels of each market regime (one for a market without regimes):
    regime ``r``'s log-drifts ``mu_rj - sigma_rj^2 / 2`` and volatilities ``sigma_rj``,
    normal."""
    portfolios = problem.portfolios
    market = problem.market
    if not isinstance(market, RegimeMarket):
        return [_Kernels(portfolios.log_drifts, portfolios.volatility_array, h, tail_sigmas,
                         sharp_portfolios, _Law(market), span)]
    _refuse_sharp(sharp_portfolios, "a regime market's dynamic programme (in some regime)")
    drifts, volatilities = market.regime_moments(portfolios)
    return [_Kernels(drift, volatility, h, tail_sigmas, sharp_portfolios, _NORMAL_LAW, span)
            for drift, volatility in zip(drifts, volatilities, strict=True)]


def _refuse_sharp(sharp_portfolios: np.ndarray, solver: str) -> None:
    """A ValueError naming the first near-riskless (sharp) portfolio: the solvers with a
    state beyond wealth mix value functions and do not track the sharp view's jumps."""
    if sharp_portfolios.any():
        worst = int(np.flatnonzero(sharp_portfolios)[0])
        raise ValueError(
            f"portfolio {worst} is too close to riskless for {solver}: give portfolios with "
            "volatility of at least a few grid steps (or raise grid_density)")


def _regime_moments(problem: GBWMProblem) -> tuple[np.ndarray, np.ndarray]:
    """Each regime's log-drifts and volatilities, (R, n) each (R = 1 without regimes)."""
    portfolios = problem.portfolios
    if isinstance(problem.market, RegimeMarket):
        return problem.market.regime_moments(portfolios)
    return portfolios.log_drifts[None, :], portfolios.volatility_array[None, :]


def _solve(problem: GBWMProblem,
                   grid: tuple[float, int, float, np.ndarray, np.ndarray], sharp_portfolios:
                   np.ndarray, tail_sigmas: float, start: float
           ) -> DPSolution | RegimeDPSolution:
    """``solve_dp`` on ``grid`` (see the module docstring): one value function per market
    regime, each year's continuation in regime ``r`` reading the mixture of next year's
    regimes by row ``r`` of the transition matrix."""
    table = problem_table(problem)
    grid_density, grid_size, h, log_grid, wealth_grid = grid
    x_low = float(log_grid[0])
    horizon = problem.horizon
    regime_kernels = _regime_kernels(problem, h, tail_sigmas, sharp_portfolios,
                                     float(log_grid[-1] - x_low) + h)
    regimes = len(regime_kernels)
    transition = (problem.market.transition_matrix
                  if isinstance(problem.market, RegimeMarket) else np.ones((1, 1)))
    n = problem.num_portfolios

    value = np.zeros((regimes, horizon + 1, grid_size))
    decision_policy = np.zeros((regimes, horizon + 1, grid_size), dtype=np.intp)
    portfolio_policy = np.zeros((regimes, horizon + 1, grid_size), dtype=np.intp)
    continuation = np.empty((regimes, horizon, grid_size, n))
    continuation_slope = np.empty((regimes, horizon, grid_size, n))
    choice = np.empty((regimes, horizon, grid_size), dtype=np.intp)

    sharp = bool(regime_kernels[0].sharp_columns.size)
    jumps_by_year: dict[int, tuple[_Jump, ...]] = {}  # one regime when sharp

    representations: dict[tuple[int, int], _Representation] = {}
    survival = problem.survival_by_time
    continued: dict[tuple[int, int], _Representation] = {}

    def continuing(r: int, t: int) -> _Representation:
        """What year ``t`` in regime ``r`` continues into: ``V_{t+1}`` (mixed over next
        year's regimes) times the probability of living to ``t + 1`` (the plan ends at
        death; the same representation without a survival table or regimes)."""
        if regimes > 1:
            if (r, t) not in continued:
                mixed = np.einsum("r,rg->g", transition[r], value[:, t + 1]) * survival[t]
                continued[r, t] = _Representation(mixed, representation(0, t + 1).jumps)
            return continued[r, t]
        if survival[t] == 1.0:
            return representation(r, t + 1)
        if (r, t) not in continued:
            continued[r, t] = _scaled(representation(r, t + 1), float(survival[t]), log_grid,
                                      jumps_by_year.get(t + 1))
        return continued[r, t]

    def representation(r: int, t: int) -> _Representation:
        if (r, t) in representations:
            return representations[r, t]
        if not sharp:
            rep = _Representation(value[r, t], _affordability_jumps(table, t, log_grid))
        else:
            moved = _largest_per_cell(jumps_by_year[t])
            rep = _Representation(value[r, t], tuple((j.cell, j.place) for j in moved),
                                  _sharp_view(value[r, t], log_grid, jumps_by_year[t]))
        representations[r, t] = rep
        return rep

    for r in range(regimes):
        _, value[r, horizon], decision_policy[r, horizon] = take_final(table, 0, wealth_grid)
    if sharp:
        jumps_by_year[horizon] = _value_jumps(
            table, horizon, log_grid, regime_kernels[0], (),
            lambda w: take_final(table, 0, w)[1])
    for t in range(horizon - 1, -1, -1):
        for r, kernels in enumerate(regime_kernels):
            next_value = continuing(r, t)
            q, dq = _on_grid(next_value, kernels, log_grid)
            continuation[r, t], continuation_slope[r, t] = q, dq
            choice[r, t] = _smooth_choice(q, kernels)

            def best_after(x: np.ndarray, _: object = None, r: int = r, t: int = t,
                           kernels: _Kernels = kernels, next_value: _Representation = next_value
                           ) -> tuple[np.ndarray, np.ndarray]:
                return _best_continuation(continuation[r, t], continuation_slope[r, t],
                                          choice[r, t], kernels, next_value, x_low, x)

            decision, portfolio, v = _best_decisions(table, t, wealth_grid, best_after)
            value[r, t], decision_policy[r, t], portfolio_policy[r, t] = v, decision, portfolio
            if sharp:
                jumps_by_year[t] = _value_jumps(
                    table, t, log_grid, kernels, _scaled_jumps(jumps_by_year[t + 1],
                                                               survival[t]),
                    lambda w, best_after=best_after, t=t: _best_decisions(
                        table, t, w, best_after)[2])

    take_policy = decision_policy > 0
    for array in (wealth_grid, value, take_policy, portfolio_policy, continuation,
                  continuation_slope, decision_policy, choice):
        array.setflags(write=False)
    solutions = [DPSolution(
        problem=problem,
        expected_utility=_value_at_initial_wealth(problem, table, continuing(r, 0), kernels,
                                                  x_low),
        wealth_grid=wealth_grid,
        value=value[r],
        take_policy=take_policy[r],
        portfolio_policy=portfolio_policy[r],
        continuation=continuation[r],
        continuation_slope=continuation_slope[r],
        portfolio_choice=choice[r],
        grid_density=float(grid_density),
        solve_seconds=time.perf_counter() - start,
        decision_policy=decision_policy[r],
        kernels=kernels,
        next_values=tuple(continuing(r, t) for t in range(horizon)),
    ) for r, kernels in enumerate(regime_kernels)]
    if regimes == 1:
        return solutions[0]
    return RegimeDPSolution.of(problem, tuple(solutions), time.perf_counter() - start)


def _rate_grid(problem: GBWMProblem, nodes: int) -> np.ndarray:
    """Equally spaced inflation nodes over the long-run mean +- ``INFLATION_GRID_SPREAD``
    long-run standard deviations, widened to hold the initial rate."""
    model = problem.inflation
    if model is None:
        raise ValueError("the problem has no inflation model")
    mean, spread = model.stationary_moments()
    spread = max(spread, 1e-4)  # a deterministic rate still needs a (narrow) grid
    low = min(mean - INFLATION_GRID_SPREAD * spread, model.initial_rate)
    high = max(mean + INFLATION_GRID_SPREAD * spread, model.initial_rate)
    return np.linspace(low, high, nodes)


def _solve_inflation(problem: GBWMProblem,
                     grid: tuple[float, int, float, np.ndarray, np.ndarray],
                     sharp_portfolios: np.ndarray, tail_sigmas: float, start: float,
                     nodes: int, quadrature: int) -> InflationDPSolution:
    """``solve_dp`` of a problem with stochastic inflation: ``V_t(w, pi_i)`` on the real
    wealth grid at each inflation node. Given the year's innovation ``eps_q`` (Gauss-Hermite
    node), next year's rate is ``pi' = pibar + phi (pi_i - pibar) + s eps_q`` and portfolio
    ``j``'s real log-return is normal with mean ``mu_j - sigma_j^2/2 + sigma_j rho_j eps_q -
    pi'`` and volatility ``sigma_j sqrt(1 - rho_j^2)``: the one-dimensional kernels on
    ``V_{t+1}(., pi')``, linear between the two nodes around ``pi'``."""
    from numpy.polynomial.hermite_e import hermegauss

    model = problem.inflation
    if model is None:
        raise ValueError("the problem has no inflation model")
    _refuse_sharp(sharp_portfolios, "the inflation dynamic programme")
    table = problem_table(problem)
    grid_density, grid_size, h, log_grid, wealth_grid = grid
    x_low = float(log_grid[0])
    horizon, n = problem.horizon, problem.num_portfolios
    span = float(log_grid[-1] - x_low) + h
    rates = _rate_grid(problem, nodes)
    points, weights = hermegauss(quadrature)
    weights = weights / weights.sum()
    sigma = problem.portfolios.volatility_array
    rho = model.correlations(n)
    residual = sigma * np.sqrt(1.0 - rho * rho)
    plans = []  # per node: (mixing node, weight, kernels) for each quadrature point
    for rate in rates:
        following = model.next_rate(rate, points)
        below, toward = _bracket(rates, following)
        plans.append([(int(k), float(w), float(q_weight), _Kernels(
            problem.portfolios.log_drifts + sigma * rho * eps - nxt, residual, h, tail_sigmas,
            sharp_portfolios, _NORMAL_LAW, span))
            for k, w, q_weight, eps, nxt in zip(below, toward, weights, points, following,
                                                strict=True)])
    survival = problem.survival_by_time
    value = np.zeros((horizon + 1, nodes, grid_size))
    decision_policy = np.zeros((horizon + 1, nodes, grid_size), dtype=np.intp)
    portfolio_policy = np.zeros((horizon + 1, nodes, grid_size), dtype=np.intp)
    continuation = np.zeros((horizon, nodes, grid_size, n))
    continuation_slope = np.zeros((horizon, nodes, grid_size, n))
    _, final_value, final_decision = take_final(table, 0, wealth_grid)
    value[horizon], decision_policy[horizon] = final_value, final_decision
    for t in range(horizon - 1, -1, -1):
        jumps = _affordability_jumps(table, t + 1, log_grid)
        for i, plan in enumerate(plans):
            q = continuation[t, i]
            dq = continuation_slope[t, i]
            for k, share, q_weight, kernels in plan:
                mixed = survival[t] * (value[t + 1, k]
                                       + share * (value[t + 1, k + 1] - value[t + 1, k]))
                part, part_slope = _on_grid(_Representation(mixed, jumps), kernels, log_grid)
                q += q_weight * part
                dq += q_weight * part_slope
            choice = q.argmax(axis=1)

            def best_after(x: np.ndarray, _: object = None, q: np.ndarray = q,
                           dq: np.ndarray = dq, choice: np.ndarray = choice
                           ) -> tuple[np.ndarray, np.ndarray]:
                return _hermite_best(q, dq, choice, x_low, h, x)

            decision, portfolio, v = _best_decisions(table, t, wealth_grid, best_after)
            value[t, i], decision_policy[t, i], portfolio_policy[t, i] = v, decision, portfolio
    for array in (wealth_grid, value, decision_policy, portfolio_policy, continuation,
                  continuation_slope):
        array.setflags(write=False)
    solution = InflationDPSolution(
        problem=problem, expected_utility=0.0, wealth_grid=wealth_grid, rate_grid=rates,
        value=value, decision_policy=decision_policy, portfolio_policy=portfolio_policy,
        continuation=continuation, continuation_slope=continuation_slope,
        grid_density=float(grid_density), quadrature_nodes=quadrature)
    initial = solution.value_at(0, np.array([problem.initial_wealth]), model.initial_rate)
    return dataclasses.replace(solution, expected_utility=float(initial[0]),
                               solve_seconds=time.perf_counter() - start)


def _scaled_jumps(jumps: tuple[_Jump, ...], factor: float) -> tuple[_Jump, ...]:
    """``jumps`` of a value multiplied by ``factor``."""
    if factor == 1.0:
        return jumps
    return tuple(dataclasses.replace(j, size=j.size * factor, knot_v=j.knot_v * factor)
                 for j in jumps)


def _scaled(rep: _Representation, factor: float, log_grid: np.ndarray,
            jumps: tuple[_Jump, ...] | None) -> _Representation:
    """``rep`` multiplied by ``factor`` (a survival probability): values, and the sharp view
    rebuilt from the scaled jumps; the jumps stay where they are."""
    values = rep.values * factor
    if rep.sharp is None or jumps is None:
        return _Representation(values, rep.jumps)
    return _Representation(values, rep.jumps,
                           _sharp_view(values, log_grid, _scaled_jumps(jumps, factor)))


def _value_at_initial_wealth(problem: GBWMProblem, table: ProblemTable,
                                     rep: _Representation, kernels: _Kernels, x0: float) -> float:
    """Optimal value at the exact W0: exact transitions from each decision's exact cash."""
    wealth = np.array([problem.initial_wealth])
    affordable = decision_mask(table, 0, 0, wealth)[0]
    best = -np.inf
    for d in range(int(table.decisions_per_year[0, 0])):
        if not affordable[d]:
            continue
        cash_after = float(apply_decisions(table, 0, 0, wealth, np.array([d]))[0][0])
        source = math.log(cash_after) if cash_after > 0.0 else x0 - 1e3
        cont = float(_off_grid(rep, kernels, x0, np.array([max(source, x0 - 1e3)])).max())
        best = max(best, float(table.decision_utility[0, 0, d]) + cont)
    return best if best > -np.inf else 0.0  # -inf: bankrupt at the start (W0 + I(0) < 0)
