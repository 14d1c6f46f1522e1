"""The wealth grid of the dynamic programme (and the inflation nodes of the
two-dimensional one): its bounds, density and refinement (see :mod:`gbwm_sb3.dp`)."""

from __future__ import annotations

import math

import numpy as np

from gbwm_sb3.common.limits import DP_MAX_GRID_POINTS, check_float
from gbwm_sb3.envs.dynamics import (
    ProblemTable,
)
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.regimes import RegimeMarket

#: Grid points per unit of log-wealth (h = 0.02). Refining it 8-fold changes the
#: paper family's optimum by < 0.1% (docs/dp_evaluation.md has the refinement table).
DEFAULT_GRID_DENSITY = 50.0


#: A portfolio is *sharp* when its volatility over the whole horizon, ``sigma sqrt(T)``, is
#: below this many grid steps: cash, T-bills, a riskless asset (volatility 0, deterministic
#: growth). The jumps of the value it carries stay steps or steep ramps, which the solver
#: tracks exactly (``value_jumps``, ``sharp_continuation``).
SHARP_WIDTH_STEPS = 0.5


#: Other portfolios need a volatility of at least this many grid steps for the Gaussian
#: kernels on the grid to be accurate; with ``refine`` the grid is refined until a narrower
#: one is ``REFINED_VOLATILITY_STEPS`` steps wide (at most ``MAX_REFINED_DENSITY`` points
#: per unit of log-wealth and ``MAX_REFINED_POINTS`` points).
SMOOTH_VOLATILITY_STEPS = 1.0


REFINED_VOLATILITY_STEPS = 2.0


MAX_REFINED_DENSITY = 1000.0


MAX_REFINED_POINTS = 40_000


#: Inflation nodes of the DP's rate grid, and Gauss-Hermite nodes of the year's inflation
#: innovation (defaults; ``solve_dp(inflation_nodes=, inflation_quadrature=)``).
DEFAULT_INFLATION_NODES = 13


DEFAULT_INFLATION_QUADRATURE = 7
#: The most Gauss-Hermite nodes of the inflation innovation ``solve_dp`` accepts.
MAX_INFLATION_QUADRATURE = 61


def inflation_quadrature_for(problem: GBWMProblem) -> int:
    """Gauss-Hermite nodes for the inflation innovation: the default, or more where a
    portfolio moves closely with inflation. Given the innovation a portfolio keeps a
    volatility ``sigma sqrt(1 - rho^2)`` while the nodes shift its return by about
    ``sigma |rho|`` over ``pi / sqrt(2 Q)``: ``Q >= rho^2 / (2 (1 - rho^2))`` keeps the
    kernel wider than a third of that spacing, so the return's law is not read as a few
    lumps (7 up to |rho| = 0.966; 25 at 0.99, where 7 nodes put the optimum 0.3% above
    what its policy earns; at most :data:`MAX_INFLATION_QUADRATURE`)."""
    model = problem.inflation
    if model is None:
        return DEFAULT_INFLATION_QUADRATURE
    largest = float(np.abs(model.correlations(problem.num_portfolios)).max())
    if largest >= 1.0:
        return MAX_INFLATION_QUADRATURE
    needed = math.ceil(largest * largest / (2.0 * (1.0 - largest * largest)))
    return int(min(max(DEFAULT_INFLATION_QUADRATURE, needed), MAX_INFLATION_QUADRATURE))


#: The rate grid spans the long-run mean +- this many long-run standard deviations (and
#: the initial rate).
INFLATION_GRID_SPREAD = 4.5


def grid_bounds(problem: GBWMProblem, table: ProblemTable, wealth_floor: float,
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
    drifts, volatilities = regime_moments(problem)  # the best regime's growth
    drift, volatility = float(drifts.max()), float(volatilities.max())
    if problem.inflation is not None:  # real returns: less the (lowest likely) inflation
        mean, spread = problem.inflation.stationary_moments()
        drift -= min(mean - INFLATION_GRID_SPREAD * spread, problem.inflation.initial_rate)
        volatility += problem.inflation.volatility
    growth = max(0.0, drift) * problem.horizon
    growth += upper_sigmas * volatility * math.sqrt(problem.horizon)
    return math.log(low), math.log(high_base) + growth


def log_wealth_grid(x_low: float, x_high: float, grid_density: float,
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


def plan_grid(problem: GBWMProblem, x_low: float, x_high: float, grid_density: float,
               grid_points: int | None, refine: bool
               ) -> tuple[tuple[float, int, float, np.ndarray, np.ndarray], np.ndarray]:
    """The grid (see :func:`log_wealth_grid`) and which portfolios are sharp.

    With ``refine``, a portfolio that is neither sharp nor ``SMOOTH_VOLATILITY_STEPS`` grid
    steps wide gets the grid refined until it is ``REFINED_VOLATILITY_STEPS`` steps wide;
    where the refinement caps stop short of one step, it is tracked as sharp.
    """
    auto = refine and grid_points is None
    grid = log_wealth_grid(x_low, x_high, grid_density, grid_points)
    h = grid[2]
    sigmas = kernel_volatilities(problem)
    sharp = sigmas * math.sqrt(problem.horizon) < SHARP_WIDTH_STEPS * h
    narrow = ~sharp & (sigmas < SMOOTH_VOLATILITY_STEPS * h)
    if auto and narrow.any():
        refined = min(REFINED_VOLATILITY_STEPS / float(sigmas[narrow].min()), MAX_REFINED_DENSITY,
                      (MAX_REFINED_POINTS - 1) / (x_high - x_low))
        if refined > grid[0]:
            grid = log_wealth_grid(x_low, x_high, refined, None)
        # those still too narrow for the caps are tracked as sharp (exact at any width)
        sharp = sharp | (narrow & (sigmas < SMOOTH_VOLATILITY_STEPS * grid[2]))
    return grid, sharp


def kernel_volatilities(problem: GBWMProblem) -> np.ndarray:
    """Each portfolio's narrowest volatility of a year's transition kernel: its own, the
    narrowest over the regimes, or, with stochastic inflation, what is left beside the
    inflation innovation the solver conditions on, ``sigma_j sqrt(1 - rho_j^2)`` (a
    portfolio moving almost one for one with inflation is nearly riskless given it)."""
    sigmas = regime_moments(problem)[1].min(axis=0)
    if problem.inflation is not None:
        rho = problem.inflation.correlations(problem.num_portfolios)
        sigmas = sigmas * np.sqrt(1.0 - rho * rho)
    return sigmas


def regime_moments(problem: GBWMProblem) -> tuple[np.ndarray, np.ndarray]:
    """Each regime's log-drifts and volatilities, (R, n) each (R = 1 without regimes)."""
    portfolios = problem.portfolios
    if isinstance(problem.market, RegimeMarket):
        return problem.market.regime_moments(portfolios)
    return portfolios.log_drifts[None, :], portfolios.volatility_array[None, :]


def rate_grid(problem: GBWMProblem, nodes: int) -> np.ndarray:
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
