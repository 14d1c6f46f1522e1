"""The DP beyond one lognormal market: Student-t shocks, withdrawals and bankruptcy.

Each value is checked against a simulation of the DP's own policy written here, apart
from the package's simulators: the mechanics of GBWM-SPEC sections 1, 5 and 9 in a few
lines of numpy, on shocks drawn by the market's ``draw_shocks``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gbwm_sb3.dp import DPSolution, solve_dp
from gbwm_sb3.problem.market import LognormalMarket, Market, StudentTMarket
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios, paper_problem

LOGNORMAL = LognormalMarket()


def simulate(solution: DPSolution, n_paths: int, seed: int,
             shocks_of: Callable[[np.random.Generator, np.ndarray], np.ndarray] | None = None
             ) -> tuple[float, float, float]:
    """Mean utility, its standard error and P(bankrupt) of ``solution.act`` on ``n_paths``
    markets: cash ``W + I(t)``; below 0, bankrupt for good (wealth 0, no goals); the
    asked decision if affordable; growth ``exp(mu - sigma^2/2 + sigma Z)``; at ``T`` the
    affordable decision with the most utility. ``shocks_of(rng, portfolio)``: each path's
    ``Z`` of the year for the portfolio it holds (default: the market's draws)."""
    problem = solution.problem
    rng = np.random.default_rng(seed)
    drift, vol = problem.portfolios.log_drifts, problem.portfolios.volatility_array
    infusion = problem.infusion_by_time
    wealth = np.full(n_paths, problem.initial_wealth)
    alive = np.ones(n_paths, dtype=bool)
    total = np.zeros(n_paths)
    for t in range(problem.horizon):
        cash = wealth + infusion[t]
        alive &= cash >= 0.0
        decision, portfolio = solution.act(t, wealth)
        shocks = (problem.market.draw_shocks(rng, n_paths) if shocks_of is None
                  else shocks_of(rng, np.asarray(portfolio)))
        decisions = problem.decisions(t)
        decision = np.asarray(decision).astype(np.intp)  # a take flag for the paper family
        cost = np.array([d.cost for d in decisions])[decision]
        taken = alive & (cost <= cash)
        total += np.where(taken, np.array([d.utility for d in decisions])[decision], 0.0)
        left = np.where(taken, cash - cost, cash)
        wealth = np.where(alive, left * np.exp(drift[portfolio] + vol[portfolio] * shocks), 0.0)
    final = np.zeros(n_paths)
    for d in problem.decisions(problem.horizon):
        final = np.where(alive & (wealth >= d.cost), np.maximum(final, d.utility), final)
    total += final
    return float(total.mean()), float(total.std(ddof=1) / math.sqrt(n_paths)), \
        float(1.0 - alive.mean())


def two_goals(market: Market = LOGNORMAL) -> GBWMProblem:
    """Das et al. (2022), first row: W0 = 100, T = 10, goals (100, 1000) at 5 and
    (150, 1000) at 10, the paper's portfolios."""
    return GBWMProblem(horizon=10, initial_wealth=100.0,
                       goals=(Goal(5, 100.0, 1000.0), Goal(10, 150.0, 1000.0)), market=market)


def withdrawals(market: Market = LOGNORMAL, amount: float = 12.0) -> GBWMProblem:
    """W0 = 100, ``amount`` withdrawn in each of years 1..9 (more than W0 in all), a goal
    of 20 at year 5 and of 30 at 10: about a third of the plans go bankrupt."""
    return GBWMProblem(horizon=10, initial_wealth=100.0,
                       goals=(Goal(5, 20.0, 1.0), Goal(10, 30.0, 2.0)),
                       infusions=[0.0] + [-amount] * 9, market=market)


# ----------------------------------------------------------------------------- Student-t
@pytest.mark.parametrize("nu", [4.0, 10.0])
def test_student_t_value_is_what_its_own_policy_earns(nu: float) -> None:
    problem = two_goals(StudentTMarket(nu))
    solution = solve_dp(problem, grid_density=100)
    mean, std_error, bankrupt = simulate(solution, 200_000, seed=int(nu))
    assert bankrupt == 0.0
    assert abs(solution.expected_utility - mean) < 3.0 * std_error, (
        solution.expected_utility, mean, std_error)


def test_fat_tails_cost_utility() -> None:
    """Same mean and variance of every log return, fatter tails: less expected utility,
    decreasing in the tail weight, and the Student-t law tends to the normal one."""
    values = {nu: solve_dp(dataclasses.replace(paper_problem(4), market=StudentTMarket(nu)))
              .expected_utility for nu in (4.0, 10.0, 1000.0)}
    normal = solve_dp(paper_problem(4)).expected_utility
    assert values[4.0] < values[10.0] < values[1000.0]
    assert values[1000.0] == pytest.approx(normal, rel=5e-4)
    assert values[4.0] < normal * 0.995


@pytest.mark.parametrize("nu", [3.0, 4.0])
def test_student_t_grid_convergence(nu: float) -> None:
    """Density 50 (the default) is within 0.1% of density 100."""
    problem = dataclasses.replace(paper_problem(4), market=StudentTMarket(nu))
    coarse = solve_dp(problem).expected_utility
    fine = solve_dp(problem, grid_density=100).expected_utility
    assert abs(coarse / fine - 1.0) < 1e-3, (coarse, fine)


def test_student_t_with_a_near_riskless_portfolio() -> None:
    """A sharp portfolio (cash at 0.2% volatility) reads the normal law of its variance;
    the value still matches a simulation on Student-t shocks."""
    portfolios = Portfolios(means=[0.03, 0.05, 0.07], volatilities=[0.002, 0.08, 0.14])
    problem = GBWMProblem(horizon=10, initial_wealth=50.0,
                          goals=(Goal(3, 20.0, 8.0), Goal(6, 25.0, 10.0), Goal(10, 45.0, 30.0)),
                          portfolios=portfolios, market=StudentTMarket(4))
    solution = solve_dp(problem)
    assert solution.kernels is not None and solution.kernels.sharp[0]
    mean, std_error, _ = simulate(solution, 200_000, seed=3)
    assert abs(solution.expected_utility - mean) < 3.0 * std_error, (
        solution.expected_utility, mean, std_error)


# ----------------------------------------------------------------------------- withdrawals
@pytest.mark.parametrize("market", [LognormalMarket(), StudentTMarket(4)], ids=str)
def test_withdrawal_value_is_what_its_own_policy_earns(market) -> None:
    problem = withdrawals(market)
    solution = solve_dp(problem)
    mean, std_error, bankrupt = simulate(solution, 200_000, seed=7)
    assert 0.2 < bankrupt < 0.45  # bankruptcy is material
    assert abs(solution.expected_utility - mean) < 3.0 * std_error, (
        solution.expected_utility, mean, std_error)


def test_bankrupt_states_are_worth_nothing_and_decide_nothing() -> None:
    problem = withdrawals()
    solution = solve_dp(problem)
    wealth = np.array([0.0, 5.0, 11.999, 12.0, 40.0])
    for t in range(1, problem.horizon):
        decision, portfolio = solution.act(t, wealth)
        assert decision[:3].tolist() == [0, 0, 0]
        assert np.all((portfolio >= 0) & (portfolio < problem.num_portfolios))
        value = solution.value_at(t, wealth)
        assert value[:3].tolist() == [0.0, 0.0, 0.0]
        assert value[3] >= 0.0 and value[4] > 0.0
        grid = solution.wealth_grid
        assert np.all(solution.value[t][grid < 12.0] == 0.0)
        assert np.all(solution.decision_policy[t][grid < 12.0] == 0)


def test_withdrawals_cost_what_they_take() -> None:
    """More withdrawn, less utility (the plain problem reaches both goals for sure)."""
    values = [solve_dp(withdrawals(amount=a)).expected_utility for a in (6.0, 9.0, 12.0)]
    plain = solve_dp(dataclasses.replace(withdrawals(), infusions=())).expected_utility
    assert plain == pytest.approx(3.0)
    assert plain > values[0] > values[1] > values[2] > 0.0


def test_bankrupt_at_the_start_is_worth_nothing() -> None:
    problem = GBWMProblem(horizon=3, initial_wealth=5.0, goals=(Goal(0, 0.0, 4.0),
                                                                Goal(3, 1.0, 1.0)),
                          infusions=[-6.0, 0.0, 0.0])
    solution = solve_dp(problem)
    assert solution.expected_utility == 0.0
    assert solution.act(0, np.array([5.0]))[0].tolist() == [0]
    solvent = dataclasses.replace(problem, infusions=[-5.0, 0.0, 0.0])  # cash 0: not bankrupt
    assert solve_dp(solvent).expected_utility == pytest.approx(4.0)


# ----------------------------------------------------------------------------- any problem
@st.composite
def economies(draw):
    horizon = draw(st.integers(1, 6))
    money = st.one_of(st.just(0.0), st.floats(1e-3, 40.0))
    goals = tuple(Goal(draw(st.integers(0, horizon)), draw(money), draw(st.floats(0.0, 10.0)))
                  for _ in range(draw(st.integers(1, 3))))
    savings = draw(st.one_of(st.just(()), st.lists(
        st.one_of(st.just(0.0), st.floats(-20.0, 10.0).filter(lambda v: abs(v) >= 1e-6)),
        min_size=horizon, max_size=horizon)))
    n = draw(st.integers(1, 3))
    means = draw(st.lists(st.floats(-0.05, 0.15), min_size=n, max_size=n))
    vols = draw(st.lists(st.sampled_from([0.0, 0.002, 0.05, 0.2, 0.6]), min_size=n, max_size=n))
    market = draw(st.one_of(st.just(LognormalMarket()), st.sampled_from(
        [StudentTMarket(2.05), StudentTMarket(3), StudentTMarket(10), StudentTMarket(1000)])))
    return GBWMProblem(horizon=horizon, initial_wealth=draw(st.floats(0.1, 50.0)), goals=goals,
                       portfolios=Portfolios(means, vols), infusions=savings, market=market)


@given(economies())
def test_every_economy_has_a_finite_optimum_and_policy(problem: GBWMProblem) -> None:
    solution = solve_dp(problem)
    value = solution.expected_utility
    assert math.isfinite(value) and -1e-9 <= value <= problem.total_utility * (1 + 1e-9) + 1e-9
    wealth = np.array([0.0, 1e-6, problem.initial_wealth, 10 * problem.initial_wealth, 1e12])
    for t in range(problem.horizon + 1):
        decision, portfolio = solution.act(t, wealth)
        assert np.all((portfolio >= 0) & (portfolio < problem.num_portfolios))
        if t < problem.horizon:
            assert np.all(np.isfinite(solution.value_at(t, wealth)))


# ----------------------------------------------------------------------------- slow
@pytest.mark.slow
@pytest.mark.parametrize("problem", [two_goals(StudentTMarket(4)), two_goals(StudentTMarket(3)),
                                     withdrawals(StudentTMarket(4)),
                                     dataclasses.replace(paper_problem(8),
                                                         market=StudentTMarket(5))],
                         ids=["two goals nu=4", "two goals nu=3", "withdrawals nu=4",
                              "paper NG=8 nu=5"])
def test_value_is_what_its_own_policy_earns_on_two_million_markets(problem) -> None:
    solution = solve_dp(problem, grid_density=200)
    mean, std_error, _ = simulate(solution, 2_000_000, seed=11)
    assert abs(solution.expected_utility - mean) < 3.0 * std_error, (
        solution.expected_utility, mean, std_error)
