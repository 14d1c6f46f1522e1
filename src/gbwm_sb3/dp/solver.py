"""Backward Bellman recursion: ``solve_dp`` and the solvers of one wealth state, of market
regimes and of stochastic inflation (see :mod:`gbwm_sb3.dp` for the method)."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from gbwm_sb3.common.limits import check_float, check_horizon, check_int
from gbwm_sb3.dp.grid import (
    DEFAULT_GRID_DENSITY,
    DEFAULT_INFLATION_NODES,
    MAX_INFLATION_QUADRATURE,
    grid_bounds,
    inflation_quadrature_for,
    plan_grid,
    rate_grid,
)
from gbwm_sb3.dp.jumps import (
    Jump,
    affordability_jumps,
    largest_per_cell,
    scaled_jumps,
    scaled_representation,
    value_jumps,
)
from gbwm_sb3.dp.solutions import (
    DPSolution,
    InflationDPSolution,
    RegimeDPSolution,
    best_decisions,
    bracket,
)
from gbwm_sb3.dp.transitions import (
    NORMAL_LAW,
    Kernels,
    Law,
    Representation,
    best_continuation,
    hermite_best,
    off_grid,
    on_grid,
    sharp_view,
    smooth_choice,
)
from gbwm_sb3.envs.dynamics import (
    ProblemTable,
    apply_decisions,
    decision_mask,
    problem_table,
    take_final,
)
from gbwm_sb3.problem.market import LognormalMarket
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.regimes import RegimeMarket


def solve_dp(problem: GBWMProblem, *, grid_density: float = DEFAULT_GRID_DENSITY,
             refine: bool = True,
             grid_points: int | None = None, wealth_floor: float = 1e-2,
             upper_sigmas: float = 5.0, tail_sigmas: float = 7.0,
             inflation_nodes: int = DEFAULT_INFLATION_NODES,
             inflation_quadrature: int | None = None
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
    inflation_nodes, inflation_quadrature: with stochastic inflation, the rate grid's
        nodes (default 13) and the Gauss-Hermite nodes of the year's innovation (default
        None: 7, more where a portfolio's correlation with inflation needs them,
        ``inflation_quadrature_for``).
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
    reason = beyond_dp(problem)
    if reason is not None:
        raise ValueError(reason)
    x_low, x_high = grid_bounds(problem, problem_table(problem), wealth_floor, upper_sigmas)
    grid, sharp = plan_grid(problem, x_low, x_high, grid_density, grid_points, refine)
    if problem.inflation is None:
        return solve_one_state(problem, grid, sharp, tail_sigmas, start)
    nodes = check_int(inflation_nodes, "inflation_nodes", 3, 401)
    quadrature = (inflation_quadrature_for(problem) if inflation_quadrature is None else
                  check_int(inflation_quadrature, "inflation_quadrature", 1,
                            MAX_INFLATION_QUADRATURE))
    return solve_inflation(problem, grid, sharp, tail_sigmas, start, nodes, quadrature)


def beyond_dp(problem: GBWMProblem) -> str | None:
    """Why the problem's state has more dimensions than the DP solves (None when it has
    at most one beyond wealth): nominal amounts under inflation (the price level), or
    inflation with market regimes or a fat-tailed market. Such plans are for a trained
    policy (``gbwm train`` trains them without the DP's efficiency callback)."""
    if problem.has_nominal_amounts:
        return ("nominal amounts (a goal with nominal=True or nominal_infusions) make the "
                "price level a state variable beside wealth and the inflation rate: the "
                "dynamic programme does not go there (train a policy instead; with every "
                "amount nominal the plan is the one without the inflation model, in money "
                "of the day)")
    if problem.inflation is not None and (problem.market.regime_count > 1
                                          or not isinstance(problem.market, LognormalMarket)):
        return ("stochastic inflation is solved with the lognormal market only: inflation "
                "with market regimes or fat tails has two or more state variables beyond "
                "wealth (train a policy instead)")
    return None


def regime_kernels(problem: GBWMProblem, h: float, tail_sigmas: float,
                    sharp_portfolios: np.ndarray, span: float) -> list[Kernels]:
    """The transition kernels of each market regime (one for a market without regimes):
    regime ``r``'s log-drifts ``mu_rj - sigma_rj^2 / 2`` and volatilities ``sigma_rj``,
    normal."""
    portfolios = problem.portfolios
    market = problem.market
    if not isinstance(market, RegimeMarket):
        law: Law | list[Law] = Law(market)
        if market.per_portfolio:  # multi-asset rows: each portfolio its own law
            law = [Law(market.portfolio_law(j)) for j in range(len(portfolios))]
        return [Kernels(portfolios.log_drifts, portfolios.volatility_array, h, tail_sigmas,
                         sharp_portfolios, law, span)]
    refuse_sharp(sharp_portfolios, "a regime market's dynamic programme (in some regime)")
    drifts, volatilities = market.regime_moments(portfolios)
    return [Kernels(drift, volatility, h, tail_sigmas, sharp_portfolios, NORMAL_LAW, span)
            for drift, volatility in zip(drifts, volatilities, strict=True)]


def refuse_sharp(sharp_portfolios: np.ndarray, solver: str) -> None:
    """A ValueError naming the first near-riskless (sharp) portfolio: the solvers with a
    state beyond wealth mix value functions and do not track the sharp view's jumps."""
    if sharp_portfolios.any():
        worst = int(np.flatnonzero(sharp_portfolios)[0])
        raise ValueError(
            f"portfolio {worst} is too close to riskless for {solver}: give portfolios with "
            "volatility of at least a few grid steps (or raise grid_density)")


def solve_one_state(problem: GBWMProblem,
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
    kernels_by_regime = regime_kernels(problem, h, tail_sigmas, sharp_portfolios,
                                       float(log_grid[-1] - x_low) + h)
    regimes = len(kernels_by_regime)
    transition = (problem.market.transition_matrix
                  if isinstance(problem.market, RegimeMarket) else np.ones((1, 1)))
    n = problem.num_portfolios

    value = np.zeros((regimes, horizon + 1, grid_size))
    decision_policy = np.zeros((regimes, horizon + 1, grid_size), dtype=np.intp)
    portfolio_policy = np.zeros((regimes, horizon + 1, grid_size), dtype=np.intp)
    continuation = np.empty((regimes, horizon, grid_size, n))
    continuation_slope = np.empty((regimes, horizon, grid_size, n))
    choice = np.empty((regimes, horizon, grid_size), dtype=np.intp)

    sharp = bool(kernels_by_regime[0].sharp_columns.size)
    jumps_by_year: dict[int, tuple[Jump, ...]] = {}  # one regime when sharp

    representations: dict[tuple[int, int], Representation] = {}
    survival = problem.survival_by_time
    continued: dict[tuple[int, int], Representation] = {}

    def continuing(r: int, t: int) -> Representation:
        """What year ``t`` in regime ``r`` continues into: ``V_{t+1}`` (mixed over next
        year's regimes) times the probability of living to ``t + 1`` (the plan ends at
        death; the same representation without a survival table or regimes)."""
        if regimes > 1:
            if (r, t) not in continued:
                mixed = np.einsum("r,rg->g", transition[r], value[:, t + 1]) * survival[t]
                continued[r, t] = Representation(mixed, representation(0, t + 1).jumps)
            return continued[r, t]
        if survival[t] == 1.0:
            return representation(r, t + 1)
        if (r, t) not in continued:
            continued[r, t] = scaled_representation(representation(r, t + 1),
                                                    float(survival[t]), log_grid,
                                                    jumps_by_year.get(t + 1))
        return continued[r, t]

    def representation(r: int, t: int) -> Representation:
        if (r, t) in representations:
            return representations[r, t]
        if not sharp:
            rep = Representation(value[r, t], affordability_jumps(table, t, log_grid))
        else:
            moved = largest_per_cell(jumps_by_year[t])
            rep = Representation(value[r, t], tuple((j.cell, j.place) for j in moved),
                                  sharp_view(value[r, t], log_grid, jumps_by_year[t]))
        representations[r, t] = rep
        return rep

    for r in range(regimes):
        _, value[r, horizon], decision_policy[r, horizon] = take_final(table, 0, wealth_grid)
    if sharp:
        jumps_by_year[horizon] = value_jumps(
            table, horizon, log_grid, kernels_by_regime[0], (),
            lambda w: take_final(table, 0, w)[1])
    for t in range(horizon - 1, -1, -1):
        for r, kernels in enumerate(kernels_by_regime):
            next_value = continuing(r, t)
            q, dq = on_grid(next_value, kernels, log_grid)
            continuation[r, t], continuation_slope[r, t] = q, dq
            choice[r, t] = smooth_choice(q, kernels)

            def best_after(x: np.ndarray, _: object = None, r: int = r, t: int = t,
                           kernels: Kernels = kernels, next_value: Representation = next_value
                           ) -> tuple[np.ndarray, np.ndarray]:
                return best_continuation(continuation[r, t], continuation_slope[r, t],
                                          choice[r, t], kernels, next_value, x_low, x)

            decision, portfolio, v = best_decisions(table, t, wealth_grid, best_after)
            value[r, t], decision_policy[r, t], portfolio_policy[r, t] = v, decision, portfolio
            if sharp:
                jumps_by_year[t] = value_jumps(
                    table, t, log_grid, kernels, scaled_jumps(jumps_by_year[t + 1],
                                                               survival[t]),
                    lambda w, best_after=best_after, t=t: best_decisions(
                        table, t, w, best_after)[2])

    take_policy = decision_policy > 0
    for array in (wealth_grid, value, take_policy, portfolio_policy, continuation,
                  continuation_slope, decision_policy, choice):
        array.setflags(write=False)
    solutions = [DPSolution(
        problem=problem,
        expected_utility=value_at_initial_wealth(problem, table, continuing(r, 0), kernels,
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
    ) for r, kernels in enumerate(kernels_by_regime)]
    if regimes == 1:
        return solutions[0]
    return RegimeDPSolution.of(problem, tuple(solutions), time.perf_counter() - start)


def solve_inflation(problem: GBWMProblem,
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
    refuse_sharp(sharp_portfolios, "the inflation dynamic programme (given the year's "
                 "inflation innovation: volatility times sqrt(1 - correlation^2))")
    table = problem_table(problem)
    grid_density, grid_size, h, log_grid, wealth_grid = grid
    x_low = float(log_grid[0])
    horizon, n = problem.horizon, problem.num_portfolios
    span = float(log_grid[-1] - x_low) + h
    rates = rate_grid(problem, nodes)
    points, weights = hermegauss(quadrature)
    weights = weights / weights.sum()
    sigma = problem.portfolios.volatility_array
    rho = model.correlations(n)
    residual = sigma * np.sqrt(1.0 - rho * rho)
    plans = []  # per node: (mixing node, weight, kernels) for each quadrature point
    for rate in rates:
        following = model.next_rate(rate, points)
        below, toward = bracket(rates, following)
        plans.append([(int(k), float(w), float(q_weight), Kernels(
            problem.portfolios.log_drifts + sigma * rho * eps - nxt, residual, h, tail_sigmas,
            sharp_portfolios, NORMAL_LAW, span))
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
        jumps = affordability_jumps(table, t + 1, log_grid)
        for i, plan in enumerate(plans):
            q = continuation[t, i]
            dq = continuation_slope[t, i]
            for k, share, q_weight, kernels in plan:
                mixed = survival[t] * (value[t + 1, k]
                                       + share * (value[t + 1, k + 1] - value[t + 1, k]))
                part, part_slope = on_grid(Representation(mixed, jumps), kernels, log_grid)
                q += q_weight * part
                dq += q_weight * part_slope
            choice = q.argmax(axis=1)

            def best_after(x: np.ndarray, _: object = None, q: np.ndarray = q,
                           dq: np.ndarray = dq, choice: np.ndarray = choice
                           ) -> tuple[np.ndarray, np.ndarray]:
                return hermite_best(q, dq, choice, x_low, h, x)

            decision, portfolio, v = best_decisions(table, t, wealth_grid, best_after)
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


def value_at_initial_wealth(problem: GBWMProblem, table: ProblemTable,
                                     rep: Representation, kernels: Kernels, x0: float) -> float:
    """Optimal value at the exact W0: exact transitions from each decision's exact cash."""
    wealth = np.array([problem.initial_wealth])
    affordable = decision_mask(table, 0, 0, wealth)[0]
    best = -np.inf
    for d in range(int(table.decisions_per_year[0, 0])):
        if not affordable[d]:
            continue
        cash_after = float(apply_decisions(table, 0, 0, wealth, np.array([d]))[0][0])
        source = math.log(cash_after) if cash_after > 0.0 else x0 - 1e3
        cont = float(off_grid(rep, kernels, x0, np.array([max(source, x0 - 1e3)])).max())
        best = max(best, float(table.decision_utility[0, 0, d]) + cont)
    return best if best > -np.inf else 0.0  # -inf: bankrupt at the start (W0 + I(0) < 0)
