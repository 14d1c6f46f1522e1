"""The empirical market (a smoothed bootstrap of yearly returns) and its exact DP.

The law is checked against its own draws; the DP against a simulation of its own policy
written apart from the package's simulators (``simulate`` of test_dp_economies), with a
skewed, fat-tailed table of returns made here from a seeded mixture (a crash regime
15% of the time), so that the solver's asymmetric-law paths are exercised.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from test_dp_economies import simulate, withdrawals

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.problem import EmpiricalMarket, load_problem, save_problem
from gbwm_sb3.problem.files import ProblemFileError
from gbwm_sb3.problem.market import MarketError, market_from_mapping
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios, paper_problem


def skewed_returns(years: int = 96, seed: int = 2024) -> tuple[float, ...]:
    rng = np.random.default_rng(seed)
    crash = rng.random(years) < 0.15
    x = np.where(crash, rng.normal(-1.7, 1.0, years), rng.normal(0.3, 0.8, years))
    return tuple(np.expm1(0.07 + 0.18 * x).tolist())


SKEWED = EmpiricalMarket(skewed_returns(), source="a seeded two-state mixture")


def test_the_law_has_unit_variance_and_the_table_s_shape() -> None:
    draws = SKEWED.draw_shocks(np.random.default_rng(0), 1_000_000)
    assert draws.mean() == pytest.approx(0.0, abs=5e-3)
    assert draws.var() == pytest.approx(1.0, abs=5e-3)
    assert (draws**3).mean() < -0.5  # the crashes: negative skew
    logs = np.log1p(np.array(SKEWED.returns))
    table_skew = float((((logs - logs.mean()) / logs.std()) ** 3).mean())
    assert (draws**3).mean() == pytest.approx(table_skew * (1 - SKEWED.width**2) ** 1.5,
                                              abs=0.03)


@pytest.mark.parametrize("z", [-3.0, -1.0, 0.0, 0.7, 2.5])
def test_distribution_functions_agree_with_draws(z: float) -> None:
    draws = SKEWED.draw_shocks(np.random.default_rng(1), 1_000_000)
    assert float(SKEWED.cdf(z)) == pytest.approx((draws <= z).mean(), abs=2e-3)
    assert float(SKEWED.survival(z)) == pytest.approx(1.0 - float(SKEWED.cdf(z)), abs=1e-12)
    assert float(SKEWED.upper_mean(z)) == pytest.approx((draws * (draws > z)).mean(),
                                                        abs=3e-3)
    h = 1e-5
    slope = (float(SKEWED.cdf(z + h)) - float(SKEWED.cdf(z - h))) / (2 * h)
    assert float(SKEWED.pdf(z)) == pytest.approx(slope, rel=1e-5)


def test_tail_quantile_holds_the_normal_tail_mass_on_the_heavier_side() -> None:
    from scipy.special import ndtr

    q = SKEWED.tail_quantile(7.0)
    mass = float(ndtr(-7.0))
    heavier = max(float(SKEWED.survival(q)), float(SKEWED.cdf(-q)))
    assert heavier == pytest.approx(mass, rel=1e-6)
    assert float(SKEWED.cdf(-q)) > float(SKEWED.survival(q))  # the crash side


def test_value_is_what_its_own_policy_earns() -> None:
    problem = dataclasses.replace(paper_problem(4), market=SKEWED)
    solution = solve_dp(problem, grid_density=100)
    mean, std_error, _ = simulate(solution, 200_000, seed=11)
    assert abs(solution.expected_utility - mean) < 3.0 * std_error, (
        solution.expected_utility, mean, std_error)


def test_withdrawals_with_a_near_riskless_portfolio() -> None:
    """Bankruptcy and a sharp portfolio (cash at 0.2%) beside funds that read the skewed
    law through the sharp view."""
    problem = dataclasses.replace(
        withdrawals(SKEWED, amount=12.0),
        portfolios=Portfolios(means=[0.03, 0.05, 0.07], volatilities=[0.002, 0.08, 0.14]))
    solution = solve_dp(problem)
    assert solution.kernels is not None and solution.kernels.sharp[0]
    mean, std_error, bankrupt = simulate(solution, 200_000, seed=5)
    assert bankrupt > 0.01
    assert abs(solution.expected_utility - mean) < 3.0 * std_error, (
        solution.expected_utility, mean, std_error)


def test_grid_convergence() -> None:
    problem = dataclasses.replace(paper_problem(4), market=SKEWED)
    coarse = solve_dp(problem).expected_utility
    fine = solve_dp(problem, grid_density=100).expected_utility
    assert abs(coarse / fine - 1.0) < 1e-3, (coarse, fine)


def test_a_symmetric_table_is_close_to_the_lognormal_market() -> None:
    """Normal quantiles as the table: the law is the normal one up to the table's
    discreteness, and so is the optimum."""
    from scipy.special import ndtri

    x = ndtri((np.arange(400) + 0.5) / 400)
    market = EmpiricalMarket(tuple(np.expm1(0.05 + 0.15 * x).tolist()))
    value = solve_dp(dataclasses.replace(paper_problem(4), market=market)).expected_utility
    assert value == pytest.approx(solve_dp(paper_problem(4)).expected_utility, rel=2e-3)


@pytest.mark.parametrize("kwargs, field", [
    ({"returns": (0.1,) * 5}, "returns"),
    ({"returns": (0.1,) * 20}, "returns"),
    ({"returns": (0.1, -1.0) + (0.05,) * 10}, "returns[1]"),
    ({"returns": (0.1, float("inf")) + (0.05,) * 10}, "returns[1]"),
    ({"returns": "0.1 0.2"}, "returns"),
    ({"bandwidth": 1.0}, "bandwidth"),
    ({"bandwidth": 0.0}, "bandwidth"),
    ({"source": 3}, "source"),
])
def test_a_bad_table_names_the_field(kwargs: dict, field: str) -> None:
    arguments = {"returns": skewed_returns(20), **kwargs}
    with pytest.raises(MarketError) as caught:
        EmpiricalMarket(**arguments)
    assert caught.value.field == field


def test_problem_files_round_trip_and_locate_errors(tmp_path) -> None:
    problem = GBWMProblem(horizon=8, initial_wealth=50.0, goals=(Goal(8, 70.0, 1.0),),
                          market=EmpiricalMarket(skewed_returns(30), bandwidth=0.3,
                                                 source="test"))
    path = tmp_path / "empirical.yaml"
    save_problem(problem, path)
    assert load_problem(path) == problem
    assert market_from_mapping(problem.market.to_mapping()) == problem.market
    text = path.read_text()
    start = text.index("returns:")
    path.write_text(text[:start] + "returns: [0.1, -1.5" + text[text.index(",", start):])
    with pytest.raises(ProblemFileError, match=r"market\.returns\[1\]"):
        load_problem(path)


def test_draws_are_reproducible() -> None:
    first = SKEWED.draw_shocks(np.random.default_rng(3), (4, 5))
    second = SKEWED.draw_shocks(np.random.default_rng(3), (4, 5))
    np.testing.assert_array_equal(first, second)
    assert math.isfinite(SKEWED.draw_shock(np.random.default_rng(3)))
