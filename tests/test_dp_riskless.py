"""The DP with a riskless or near-riskless portfolio (cash, T-bills): exact for any
volatility down to 0, for the paper family and for the general class."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import norm

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios, paper_problem

NEAR_RISKLESS = (0.0, 1e-6, 1e-4, 5e-4, 0.002)


def cash_problem(volatility: float, general: bool) -> GBWMProblem:
    """10 years, cash at 3% with ``volatility`` beside funds at 5%/8% and 7%/14%; three
    goals, with levels and three years of savings for the general class."""
    portfolios = Portfolios(means=[0.03, 0.05, 0.07], volatilities=[volatility, 0.08, 0.14])
    if general:
        goals = (Goal(3, levels=[(20.0, 8.0), (30.0, 12.0)]),
                 Goal(6, levels=[(25.0, 10.0), (40.0, 18.0)]),
                 Goal(10, levels=[(30.0, 12.0), (60.0, 32.0)]))
        return GBWMProblem(horizon=10, initial_wealth=50.0, goals=goals, portfolios=portfolios,
                           infusions={0: 5.0, 1: 5.0, 2: 5.0})
    goals = (Goal(3, 20.0, 8.0), Goal(6, 25.0, 10.0), Goal(10, 45.0, 30.0))
    return GBWMProblem(horizon=10, initial_wealth=50.0, goals=goals, portfolios=portfolios)


def _value_and_simulation(problem: GBWMProblem, n_paths: int, seed: int
                          ) -> tuple[float, float, float]:
    solution = solve_dp(problem)
    result = evaluate({"dp": solution}, problem, n_paths=n_paths, seed=seed)["dp"]
    return solution.expected_utility, result.mean_utility, result.std_error


@pytest.mark.parametrize("general", [False, True], ids=["paper family", "general class"])
@pytest.mark.parametrize("volatility", NEAR_RISKLESS)
def test_value_is_what_its_own_policy_earns(volatility: float, general: bool) -> None:
    """The optimum the DP reports is what simulating its own policy earns (3 standard
    errors); before, a near-riskless portfolio gave 67 million for 62 of utility on offer."""
    problem = cash_problem(volatility, general)
    value, simulated, std_error = _value_and_simulation(problem, 100_000, seed=0)
    assert value <= problem.total_utility
    assert abs(value - simulated) < 3.0 * std_error, (value, simulated, std_error)


@pytest.mark.slow
@pytest.mark.parametrize("general", [False, True], ids=["paper family", "general class"])
@pytest.mark.parametrize("volatility", (*NEAR_RISKLESS, 0.005, 0.01))
def test_value_is_what_its_own_policy_earns_on_a_million_markets(volatility: float,
                                                                  general: bool) -> None:
    problem = cash_problem(volatility, general)
    value, simulated, std_error = _value_and_simulation(problem, 1_000_000, seed=11)
    assert abs(value - simulated) < 3.0 * std_error, (value, simulated, std_error)


@pytest.mark.parametrize("general", [False, True], ids=["paper family", "general class"])
def test_optimum_is_continuous_in_the_volatility(general: bool) -> None:
    """Volatilities 0, 1e-300 and 1e-9 are one asset; the optimum moves smoothly up to 2%."""
    values = {v: solve_dp(cash_problem(v, general)).expected_utility
              for v in (0.0, 1e-300, 1e-9, 1e-4, 0.002, 0.01, 0.02)}
    assert values[1e-300] == values[0.0]
    assert values[1e-9] == pytest.approx(values[0.0], rel=1e-4)
    ordered = [values[v] for v in (0.0, 1e-4, 0.002, 0.01, 0.02)]
    assert all(a >= b - 1e-3 * a for a, b in zip(ordered, ordered[1:], strict=False))
    assert ordered[0] - ordered[-1] < 0.05 * ordered[0]
    assert all(math.isfinite(v) for v in values.values())


@pytest.mark.parametrize("wealth", [59.2, 59.3, 59.4])
@pytest.mark.parametrize("volatility", [0.0, 5e-4, 0.002])
def test_one_cash_portfolio_matches_the_closed_form(volatility: float, wealth: float) -> None:
    """Only cash: the goal is reached with probability Phi((log W0 + T m - log C) / (s
    sqrt(T))), a step at W0 = C exp(-T r) for a riskless asset."""
    horizon, cost, utility, mean = 10, 80.0, 10.0, 0.03
    problem = GBWMProblem(horizon=horizon, initial_wealth=wealth,
                          goals=(Goal(horizon, cost, utility),),
                          portfolios=Portfolios(means=[mean], volatilities=[volatility]))
    drift = mean - volatility**2 / 2
    margin = math.log(wealth) + horizon * drift - math.log(cost)
    exact = utility * (norm.cdf(margin / (volatility * math.sqrt(horizon))) if volatility
                       else float(margin >= 0.0))
    assert solve_dp(problem).expected_utility == pytest.approx(exact, rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("volatility", [0.0, 5e-4])
def test_grid_refinement_moves_the_optimum_by_less_than_a_tenth_of_a_percent(
        volatility: float) -> None:
    problem = cash_problem(volatility, general=True)
    coarse = solve_dp(problem).expected_utility
    fine = solve_dp(problem, grid_density=100.0).expected_utility
    assert abs(coarse - fine) <= 1e-3 * fine


def test_paper_problem_with_cash_beside_the_frontier() -> None:
    """Cash added to the paper's 15 portfolios can only help, and the policy uses it."""
    base = paper_problem(4)
    portfolios = base.portfolios
    with_cash = replace(base, portfolios=Portfolios(
        means=[0.02, *portfolios.means], volatilities=[0.0, *portfolios.volatilities]))
    plain, cash = solve_dp(base), solve_dp(with_cash)
    assert cash.expected_utility >= plain.expected_utility - 1e-6 * plain.expected_utility
    report = evaluate({"dp": cash}, with_cash, n_paths=20_000, seed=0)
    assert abs(report["dp"].mean_utility - cash.expected_utility) < 3.0 * report["dp"].std_error
    chosen = np.concatenate([cash.act(t, np.linspace(10.0, 200.0, 50))[1]
                             for t in range(with_cash.horizon)])
    assert (chosen == 0).any()


def test_act_and_values_are_finite_for_any_wealth() -> None:
    solution = solve_dp(cash_problem(0.0, general=True))
    wealth = np.concatenate([[0.0, 1e-300], np.linspace(1.0, 500.0, 200), [1e15]])
    for t in range(solution.problem.horizon):
        decision, portfolio = solution.act(t, wealth)
        assert np.all((portfolio >= 0) & (portfolio < 3))
        assert np.all(np.isfinite(solution.value_at(t, wealth)))
