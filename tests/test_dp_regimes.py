"""The DP of a regime-switching market: one value function per observed regime.

Checked against closed cases (identical regimes are the lognormal market; absorbing
regimes are lognormal markets with shifted moments), a halved grid step, and a simulation
of the DP's own policy written here in a few lines of numpy, apart from the package's
simulators.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gbwm_sb3.dp import DPSolution, RegimeDPSolution, solve_dp
from gbwm_sb3.problem import RegimeMarket, load_problem, save_problem, two_regime_us_market
from gbwm_sb3.problem.files import ProblemFileError
from gbwm_sb3.problem.market import MarketError, market_from_mapping
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios, paper_problem

US = two_regime_us_market()
#: Bull and bear markets given per portfolio (the same weights, other moments): in the bear
#: regime bonds gain a little and the equity-heavy portfolios lose, with higher volatility.
BULL_BEAR = RegimeMarket(
    transition=((0.85, 0.15), (0.35, 0.65)),
    portfolios=(Portfolios([0.035, 0.07, 0.10, 0.13], [0.035, 0.07, 0.11, 0.16]),
                Portfolios([0.045, 0.02, -0.03, -0.08], [0.05, 0.10, 0.18, 0.28])),
    names=("bull", "bear"))


def with_market(problem: GBWMProblem, market: RegimeMarket) -> GBWMProblem:
    return dataclasses.replace(problem, market=market)


def levels_and_savings() -> GBWMProblem:
    """A general-class problem: goals with levels, two goals in one year, savings and a
    withdrawal."""
    return GBWMProblem(
        horizon=12, initial_wealth=60.0,
        goals=(Goal(3, levels=((10.0, 8.0), (18.0, 12.0))), Goal(6, 25.0, 15.0),
               Goal(6, 8.0, 6.0), Goal(12, levels=((30.0, 20.0), (60.0, 30.0)))),
        infusions=[0.0, 5.0, 5.0, 5.0, -3.0, -3.0] + [2.0] * 6,
        portfolios=Portfolios([0.03, 0.05, 0.07, 0.09], [0.04, 0.08, 0.14, 0.22]))


def simulate(solution: RegimeDPSolution, n_paths: int, seed: int) -> tuple[float, float]:
    """Mean utility and its standard error of ``solution.act`` on ``n_paths`` markets: the
    regime chain from the initial regime by the transition matrix; shocks
    ``m_r + s_r N``; cash ``W + I(t)``, below 0 bankrupt for good; the asked decision if
    affordable; growth ``exp(mu - sigma^2/2 + sigma Z)``; at ``T`` the best affordable."""
    problem = solution.problem
    market = problem.market
    assert isinstance(market, RegimeMarket)
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(market.transition_matrix, axis=1)
    if market.portfolios is None:  # one factor: Z = m_r + s_r N
        sigma = problem.portfolios.volatility_array
        drift = (problem.portfolios.log_drifts[None, :]
                 + sigma[None, :] * np.array(market.shock_means)[:, None])
        vol = sigma[None, :] * np.array(market.shock_volatilities)[:, None]
    else:
        drift = np.stack([np.array(p.means) - np.array(p.volatilities) ** 2 / 2
                          for p in market.portfolios])
        vol = np.stack([np.array(p.volatilities) for p in market.portfolios])
    regime = np.full(n_paths, market.initial_index)
    wealth = np.full(n_paths, problem.initial_wealth)
    alive = np.ones(n_paths, dtype=bool)
    total = np.zeros(n_paths)
    for t in range(problem.horizon):
        shocks = rng.standard_normal(n_paths)
        cash = wealth + problem.infusion_by_time[t]
        alive &= cash >= 0.0
        decision, portfolio = solution.act(t, wealth, regime=regime)
        decisions = problem.decisions(t)
        cost = np.array([d.cost for d in decisions])[decision]
        taken = alive & (cost <= cash)
        total += np.where(taken, np.array([d.utility for d in decisions])[decision], 0.0)
        left = np.where(taken, cash - cost, cash)
        growth = drift[regime, portfolio] + vol[regime, portfolio] * shocks
        wealth = np.where(alive, left * np.exp(growth), 0.0)
        u = rng.random(n_paths)
        regime = np.minimum((u[:, None] >= cumulative[regime]).sum(axis=1),
                            market.regime_count - 1)
    final = np.zeros(n_paths)
    for d in problem.decisions(problem.horizon):
        final = np.where(alive & (wealth >= d.cost), np.maximum(final, d.utility), final)
    total += final
    return float(total.mean()), float(total.std(ddof=1) / math.sqrt(n_paths))


def test_identical_regimes_are_the_lognormal_market() -> None:
    """Up to the rounding of mixing next year's equal values by a row of probabilities."""
    problem = paper_problem(4)
    same = RegimeMarket(((0.3, 0.7), (0.6, 0.4)), (0.0, 0.0), (1.0, 1.0))
    solution = solve_dp(with_market(problem, same))
    assert isinstance(solution, RegimeDPSolution)
    lognormal = solve_dp(problem)
    assert solution.expected_utility == pytest.approx(lognormal.expected_utility, rel=1e-12)
    for regime in solution.regimes:
        np.testing.assert_allclose(regime.value, lognormal.value, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("start", [0, 1])
def test_absorbing_regimes_are_lognormal_markets_with_shifted_moments(start: int) -> None:
    """Regimes that never change: regime ``r`` is the lognormal market whose portfolios have
    volatility ``sigma s_r`` and log-drift ``mu - sigma^2 / 2 + sigma m_r``."""
    problem = levels_and_savings()
    market = RegimeMarket(((1.0, 0.0), (0.0, 1.0)), (0.4, -0.8), (0.8, 1.3),
                          initial_regime=start)
    solution = solve_dp(with_market(problem, market), grid_points=3000)
    sigma, mu = problem.portfolios.volatility_array, problem.portfolios.mean_array
    m, s = market.shock_means[start], market.shock_volatilities[start]
    shifted_sigma = sigma * s
    shifted_mu = mu - sigma**2 / 2 + sigma * m + shifted_sigma**2 / 2
    lognormal = dataclasses.replace(problem, portfolios=Portfolios(shifted_mu, shifted_sigma))
    expected = solve_dp(lognormal, grid_points=3000).expected_utility
    assert solution.expected_utility == pytest.approx(expected, rel=2e-3)


@pytest.mark.parametrize("make", [lambda: paper_problem(4), levels_and_savings])
def test_halving_the_grid_step_changes_the_optimum_by_at_most_a_tenth_of_a_percent(
        make) -> None:
    problem = with_market(make(), US)
    coarse = solve_dp(problem).expected_utility
    fine = solve_dp(problem, grid_density=100.0).expected_utility
    assert abs(fine - coarse) <= 1e-3 * fine


@pytest.mark.parametrize("make, market", [
    (lambda: paper_problem(4), US), (levels_and_savings, US),
    (levels_and_savings, BULL_BEAR)], ids=["paper-factor", "general-factor", "general-bull-bear"])
def test_the_optimum_agrees_with_a_simulation_of_its_own_policy(make, market) -> None:
    solution = solve_dp(with_market(make(), market))
    assert isinstance(solution, RegimeDPSolution)
    mean, error = simulate(solution, 100_000, seed=7)
    assert abs(mean - solution.expected_utility) < 3.0 * error


def test_knowing_the_regime_is_worth_something() -> None:
    """The regimes make returns predictable: starting calm beats starting stressed, and the
    optimum with regimes beats the lognormal market of the same long-run moments."""
    problem = paper_problem(4)
    solution = solve_dp(with_market(problem, US))
    assert isinstance(solution, RegimeDPSolution)
    values = solution.regime_values()
    assert values["calm"] > values["stressed"]
    assert values["calm"] > solve_dp(problem).expected_utility
    # in the stressed regime the optimum holds the safest portfolio over the middle of the
    # wealth range, and a riskier one in the calm regime
    wealth = np.array([problem.initial_wealth])
    _, calm = solution.act(0, wealth, regime=0)
    _, stressed = solution.act(0, wealth, regime=1)
    assert stressed[0] < calm[0]


def test_act_needs_a_valid_regime() -> None:
    solution = solve_dp(with_market(paper_problem(2), US))
    assert isinstance(solution, RegimeDPSolution)
    wealth = np.array([50.0, 80.0])
    with pytest.raises(ValueError, match="regime is required"):
        solution.act(0, wealth)
    with pytest.raises(ValueError, match=r"integers in 0\.\.1"):
        solution.act(0, wealth, regime=np.array([0, 2]))
    with pytest.raises(ValueError, match="one per path"):
        solution.act(0, wealth, regime=np.array([0, 1, 0]))
    decision, portfolio = solution.act(0, wealth, regime=1)
    assert decision.shape == portfolio.shape == (2,)
    assert isinstance(solution.regimes[1], DPSolution)
    np.testing.assert_array_equal(portfolio, solution.regimes[1].act(0, wealth)[1])


@pytest.mark.parametrize("kwargs, field", [
    ({"transition": ((0.5, 0.4), (0.1, 0.9))}, "transition[0]"),
    ({"transition": ((1.2, -0.2), (0.1, 0.9))}, "transition[0][0]"),
    ({"transition": ((1.0,),)}, "transition"),
    ({"transition": ((0.5, 0.5, 0.0), (0.5, 0.5))}, "transition[0]"),
    ({"shock_means": (0.0, 9.0)}, "shock_means[1]"),
    ({"shock_means": (0.0,)}, "shock_means"),
    ({"shock_volatilities": (1.0, 0.0)}, "shock_volatilities[1]"),
    ({"shock_volatilities": (1.0, float("nan"))}, "shock_volatilities[1]"),
    ({"names": ("a", "a")}, "names"),
    ({"initial_regime": 2}, "initial_regime"),
    ({"initial_regime": "boom"}, "initial_regime"),
])
def test_a_bad_regime_market_names_the_field(kwargs: dict, field: str) -> None:
    arguments = {"transition": ((0.9, 0.1), (0.4, 0.6)), "shock_means": (0.3, -1.2),
                 "shock_volatilities": (0.7, 1.1), **kwargs}
    with pytest.raises(MarketError) as caught:
        RegimeMarket(**arguments)
    assert caught.value.field == field


def test_the_preset_keeps_the_long_run_moments() -> None:
    mean, volatility = US.long_run_moments()
    assert mean == pytest.approx(0.0, abs=1e-12)
    assert volatility == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(US.stationary_distribution(), [0.8, 0.2], atol=1e-12)


def test_problem_files_round_trip_and_locate_errors(tmp_path) -> None:
    problem = with_market(levels_and_savings(), two_regime_us_market("stressed"))
    path = tmp_path / "regimes.yaml"
    save_problem(problem, path)
    loaded = load_problem(path)
    assert loaded.market == problem.market
    assert market_from_mapping(problem.market.to_mapping()) == problem.market
    text = path.read_text().replace("0.9", "0.95", 1)
    path.write_text(text)
    with pytest.raises(ProblemFileError, match=r"market\.transition\[0\]"):
        load_problem(path)


def test_a_riskless_portfolio_is_refused_with_regimes() -> None:
    problem = GBWMProblem(horizon=5, initial_wealth=100.0, goals=(Goal(5, 90.0, 1.0),),
                          portfolios=Portfolios([0.02, 0.07], [0.0, 0.15]), market=US)
    with pytest.raises(ValueError, match="portfolio 0"):
        solve_dp(problem)


def test_regimes_given_per_portfolio() -> None:
    """The per-portfolio form: a factor market written out per portfolio gives the same
    optimum; the moments must list the problem's portfolios; files keep them."""
    problem = levels_and_savings()
    drifts, vols = US.regime_moments(problem.portfolios)
    written_out = RegimeMarket(
        US.transition, portfolios=tuple(Portfolios(d + v**2 / 2, v) for d, v in
                                        zip(drifts, vols, strict=True)), names=US.names)
    assert solve_dp(with_market(problem, written_out)).expected_utility == pytest.approx(
        solve_dp(with_market(problem, US)).expected_utility, rel=1e-12)
    with pytest.raises(ValueError, match="each regime lists 4 portfolios, the problem has 15"):
        with_market(paper_problem(2), BULL_BEAR)
    assert market_from_mapping(BULL_BEAR.to_mapping()) == BULL_BEAR
    with pytest.raises(MarketError, match="not both"):
        RegimeMarket(US.transition, US.shock_means, US.shock_volatilities,
                     portfolios=BULL_BEAR.portfolios)
    with pytest.raises(MarketError, match="not neither"):
        RegimeMarket(US.transition)
    with pytest.raises(MarketError) as caught:
        RegimeMarket(US.transition, portfolios=({"means": [0.1], "vol": [0.1]},
                                                {"means": [0.1], "volatilities": [0.1]}))
    assert caught.value.field == "portfolios[0]"


def test_the_year_kernel_reads_each_paths_regime() -> None:
    """``grow(..., regime=)``: wealth * exp(mu_rj - sigma_rj^2 / 2 + sigma_rj N)."""
    from gbwm_sb3.envs.dynamics import grow, problem_table

    problem = with_market(levels_and_savings(), BULL_BEAR)
    table = problem_table(problem)
    wealth = np.array([10.0, 20.0, 30.0, 40.0])
    portfolio = np.array([0, 3, 3, 1])
    regime = np.array([0, 0, 1, 1])
    normals = np.array([0.5, -1.0, 0.2, 1.5])
    assert BULL_BEAR.portfolios is not None
    expected = [w * math.exp(BULL_BEAR.portfolios[r].means[j]
                             - BULL_BEAR.portfolios[r].volatilities[j] ** 2 / 2
                             + BULL_BEAR.portfolios[r].volatilities[j] * z)
                for w, j, r, z in zip(wealth, portfolio, regime, normals, strict=True)]
    np.testing.assert_allclose(grow(table, 0, wealth, portfolio, normals, regime), expected,
                               rtol=1e-14)


def test_evaluate_scores_the_optimum_at_its_value() -> None:
    """The package's evaluator (its regime stream, the kernel, the DP's ``act`` told each
    path's regime) against the optimum: within 3 standard errors."""
    from gbwm_sb3.evaluation import evaluate

    problem = with_market(levels_and_savings(), BULL_BEAR)
    solution = solve_dp(problem)
    report = evaluate({"dp": solution}, problem, n_paths=100_000, seed=3)
    result = report["dp"]
    assert abs(result.mean_utility - solution.expected_utility) < 3.0 * result.std_error


def test_heatmaps_are_drawn_per_regime() -> None:
    """The optimum de-risks in the stressed regime: its portfolio map differs from the calm
    one, and each figure names the regime it shows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gbwm_sb3.plots import plot_policy_heatmaps, policy_grid

    problem = with_market(paper_problem(4), US)
    solution = solve_dp(problem)
    wealth = np.geomspace(5.0, 200.0, 40)
    calm, _ = policy_grid(problem, solution, wealth, regime=0)
    stressed, _ = policy_grid(problem, solution, wealth, regime=1)
    assert stressed.mean() < calm.mean()
    figure = plot_policy_heatmaps(problem, {"DP": solution}, regime=1, n_wealth=20)
    assert "stressed regime" in figure.axes[0].get_title()
    plt.close(figure)
