"""Empirical multi-asset rows: portfolios as asset weights, a law of its own for each.

The DP is checked against a simulation written here that draws whole rows of the table,
as the model states it (each year a row, every portfolio's return from that row), not
through the package's per-portfolio reading of one normal draw.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.special import ndtr
from test_dp_economies import simulate

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.envs import GBWMEnv
from gbwm_sb3.envs.dynamics import portfolio_shocks, problem_table
from gbwm_sb3.evaluation import evaluate
from gbwm_sb3.problem import EmpiricalMarket, load_problem, save_problem
from gbwm_sb3.problem.empirical import mixture_components
from gbwm_sb3.problem.files import ProblemFileError
from gbwm_sb3.problem.market import MarketError, market_from_mapping
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios


def asset_rows(years: int = 96, seed: int = 7) -> np.ndarray:
    """Bonds (thin tails) and equities (a crash state 15% of the time), seeded."""
    rng = np.random.default_rng(seed)
    crash = rng.random(years) < 0.15
    equity = np.where(crash, rng.normal(-0.22, 0.12, years), rng.normal(0.12, 0.12, years))
    bonds = rng.normal(0.035, 0.04, years) + np.where(crash, 0.03, 0.0)
    return np.column_stack([bonds, np.maximum(equity, -0.8)])


WEIGHTS = ((1.0, 0.0), (0.7, 0.3), (0.4, 0.6), (0.0, 1.0))
MARKET = EmpiricalMarket(asset_rows().tolist(), weights=WEIGHTS, source="seeded rows")
PORTFOLIOS = MARKET.table_portfolios()


def plan(market: EmpiricalMarket = MARKET) -> GBWMProblem:
    return GBWMProblem(horizon=10, initial_wealth=100.0, market=market,
                       portfolios=PORTFOLIOS if market.weights else Portfolios(
                           PORTFOLIOS.means, PORTFOLIOS.volatilities),
                       goals=(Goal(4, 40.0, 10.0),
                              Goal(7, levels=[(40.0, 20.0), (70.0, 32.0)]),
                              Goal(10, 90.0, 14.0)),
                       infusions={2: 10.0, 5: -8.0})


def simulate_rows(solution, n_paths: int, seed: int) -> tuple[float, float]:
    """Mean utility and its standard error of ``solution.act`` (``simulate`` of
    test_dp_economies) with whole rows: each year one row ``K`` of the table and one
    normal ``N`` per path; portfolio ``j``'s shock is ``a x_jK + b N``, from its own
    row's return."""
    market = solution.problem.market
    logs = np.log(np.array(market.weights) @ (1.0 + np.array(market.returns)).T)
    standard = (logs - logs.mean(axis=1, keepdims=True)) / logs.std(axis=1, keepdims=True)
    a, b = math.sqrt(1.0 - market.width**2), market.width

    def shocks_of(rng: np.random.Generator, portfolio: np.ndarray) -> np.ndarray:
        row = rng.integers(0, standard.shape[1], portfolio.shape[0])
        return a * standard[portfolio, row] + b * rng.standard_normal(portfolio.shape[0])

    mean, std_error, _ = simulate(solution, n_paths, seed, shocks_of)
    return mean, std_error


# ----------------------------------------------------------------------------- the law
def test_each_portfolio_has_the_law_of_its_own_returns() -> None:
    rows = asset_rows()
    for j, weights in enumerate(WEIGHTS):
        series = np.array(weights) @ (1.0 + rows).T - 1.0
        own = EmpiricalMarket(tuple(series.tolist()), MARKET.width)
        np.testing.assert_allclose(MARKET.portfolio_law(j).points, own.points, rtol=1e-12,
                                   atol=1e-12)
    skews = [float(((law.points / law.points.std()) ** 3).mean())
             for law in (MARKET.portfolio_law(j) for j in range(4))]
    assert skews[3] < -0.5 < skews[0]  # the equities' crashes; the bonds hardly skewed
    logs = np.log(np.array(WEIGHTS) @ (1.0 + rows).T)
    np.testing.assert_allclose(PORTFOLIOS.volatility_array, logs.std(axis=1), rtol=1e-12)
    np.testing.assert_allclose(PORTFOLIOS.log_drifts, logs.mean(axis=1), rtol=1e-12)
    assert "96 yearly rows of 2 assets" in MARKET.describe()


@pytest.mark.parametrize("z", [-2.0, -1.0, 0.0, 0.8, 2.5])
def test_one_normal_draw_gives_every_portfolio_its_law(z: float) -> None:
    """``mixture_components`` reads each portfolio's mixture exactly from one normal."""
    normal = np.random.default_rng(3).standard_normal(1_000_000)
    centres = MARKET.bootstrap_centres()
    assert centres is not None and centres.shape == (4, 96)
    component, offset = mixture_components(normal, centres.shape[1])
    for j in range(4):
        shocks = centres[j][component] + MARKET.width * offset
        expected = float(MARKET.portfolio_law(j).cdf(z))
        spread = math.sqrt(expected * (1 - expected) / normal.size)
        assert (shocks <= z).mean() == pytest.approx(expected, abs=4 * spread + 1e-6)


def test_far_tails_stay_finite_and_ordered() -> None:
    centres = MARKET.bootstrap_centres()
    assert centres is not None
    normal = np.array([-12.0, -8.5, -3.0, 0.0, 3.0, 8.5, 12.0])
    component, offset = mixture_components(normal, centres.shape[1])
    shocks = centres[3][component] + MARKET.width * offset
    assert np.all(np.isfinite(shocks)) and np.all(np.abs(offset) < 40.0)
    assert shocks[0] < shocks[1] < centres[3][0] and shocks[-1] > shocks[-2] > centres[3][-1]
    assert component[0] == component[1] == 0
    assert component[-1] == component[-2] == centres.shape[1] - 1
    # N = 0 puts Phi(N) 96 exactly on a component's edge: resolved at 2^-53, not infinite
    assert abs(offset[3]) < 8.3


# ----------------------------------------------------------------------------- the DP
def test_dp_value_is_what_its_own_policy_earns_on_whole_rows() -> None:
    solution = solve_dp(plan())
    mean, std_error = simulate_rows(solution, 200_000, seed=11)
    assert abs(solution.expected_utility - mean) < 3.0 * std_error, (
        solution.expected_utility, mean, std_error)


def test_evaluate_agrees_with_the_dp() -> None:
    solution = solve_dp(plan())
    result = evaluate({"dp": solution}, plan(), n_paths=100_000, seed=4)["dp"]
    assert abs(solution.expected_utility - result.mean_utility) < 3.0 * result.std_error


def test_grid_convergence() -> None:
    coarse = solve_dp(plan()).expected_utility
    fine = solve_dp(plan(), grid_density=100).expected_utility
    assert abs(coarse / fine - 1.0) < 1e-3, (coarse, fine)


def test_one_asset_is_the_one_series_market() -> None:
    """A table of one asset held by every portfolio gives the one-series market's law to
    every portfolio, and the same optimum."""
    column = asset_rows()[:, 1]
    single = EmpiricalMarket(tuple(column.tolist()))
    rows = EmpiricalMarket(column[:, None].tolist(), weights=((1.0,),) * 4)
    base = plan()
    one = solve_dp(dataclasses.replace(base, market=single)).expected_utility
    many = solve_dp(dataclasses.replace(base, market=rows)).expected_utility
    assert many == pytest.approx(one, rel=1e-12)


def test_the_portfolios_laws_matter() -> None:
    """The same moments with normal returns give another optimum: the shapes are not lost
    on the way to the DP."""
    from gbwm_sb3.problem.market import LognormalMarket

    lognormal = dataclasses.replace(plan(), market=LognormalMarket())
    assert solve_dp(plan()).expected_utility != pytest.approx(
        solve_dp(lognormal).expected_utility, rel=2e-3)


# ----------------------------------------------------------------------------- simulators
def test_env_year_by_hand() -> None:
    """GBWMEnv, one year: the queued normal draw is read in portfolio 3's law."""
    problem = plan()
    env = GBWMEnv(problem=problem)
    normal = -1.3
    env.queue_normal_draws([normal])
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([0, 3]))
    law = MARKET.portfolio_law(3)
    count = len(law.points)
    scaled = float(ndtr(normal)) * count
    k = math.floor(scaled)
    from scipy.special import ndtri

    shock = float(law.points[k]) + MARKET.width * float(ndtri(scaled - k))
    mu, sigma = PORTFOLIOS.means[3], PORTFOLIOS.volatilities[3]
    expected = 100.0 * math.exp(mu - sigma**2 / 2 + sigma * shock)
    assert info["wealth"] == pytest.approx(expected, rel=1e-12)


def test_kernel_reads_shocks_per_portfolio_and_leaves_other_markets_alone() -> None:
    normal = np.linspace(-2, 2, 9)
    table = problem_table(plan())
    mapped = portfolio_shocks(table, 0, np.full(9, 3), normal)
    centres = MARKET.bootstrap_centres()
    assert centres is not None
    component, offset = mixture_components(normal, 96)
    np.testing.assert_array_equal(mapped, centres[3][component] + MARKET.width * offset)
    other = problem_table(dataclasses.replace(plan(), market=EmpiricalMarket(
        tuple(asset_rows()[:, 0].tolist())), portfolios=PORTFOLIOS))
    assert portfolio_shocks(other, 0, np.full(9, 3), normal) is normal


# ----------------------------------------------------------------------------- input
@pytest.mark.parametrize("kwargs, field", [
    ({"weights": ((0.5, 0.4),)}, "weights[0]"),
    ({"weights": ((1.0, 0.0, 0.0),)}, "weights[0]"),
    ({"weights": ((1.2, -0.2),)}, "weights[0][0]"),
    ({"weights": ()}, "weights"),
    ({"returns": [[0.1, 0.2]] * 11 + [[0.1]]}, "returns[11]"),
    ({"returns": [[0.1, -1.0]] + [[0.1, 0.2]] * 11}, "returns[0][1]"),
    ({"returns": [[0.05, 0.1]] * 12, "weights": ((0.5, 0.5),)}, "weights[0]"),
])
def test_bad_rows_and_weights_name_the_field(kwargs: dict, field: str) -> None:
    arguments = {"returns": asset_rows(20).tolist(), "weights": ((0.5, 0.5),), **kwargs}
    with pytest.raises(MarketError) as caught:
        EmpiricalMarket(**arguments)
    assert caught.value.field == field


def test_weights_must_match_the_portfolios() -> None:
    with pytest.raises(ValueError, match="weights lists 4 portfolios, the problem has 2"):
        GBWMProblem(horizon=3, initial_wealth=1.0, goals=(Goal(3, 1.0, 1.0),), market=MARKET,
                    portfolios=Portfolios([0.03, 0.05], [0.05, 0.1]))


def test_problem_files_round_trip_and_locate_errors(tmp_path) -> None:
    problem = plan()
    path = tmp_path / "rows.yaml"
    save_problem(problem, path)
    assert load_problem(path) == problem
    assert market_from_mapping(MARKET.to_mapping()) == MARKET
    text = path.read_text()
    path.write_text(text.replace("weights: [[1.0, 0.0]", "weights: [[0.9, 0.0]"))
    with pytest.raises(ProblemFileError, match=r"market\.weights\[0\]: must sum to 1"):
        load_problem(path)


def test_tiny_ppo_trains_on_multi_asset_rows_and_is_scored() -> None:
    from gbwm_sb3.evaluation import SB3Policy
    from gbwm_sb3.ppo import paper_ppo

    problem = plan()
    model = paper_ppo(problem=problem, n_trajectories_per_rollout=64, batch_size=128, seed=0)
    model.learn(2 * 64 * problem.horizon)
    report = evaluate({"ppo": SB3Policy(model, problem), "dp": solve_dp(problem)}, problem,
                      n_paths=2000)
    assert report.reference == "dp"
    assert report["ppo"].efficiency is not None and 0.3 < report["ppo"].efficiency < 1.05
