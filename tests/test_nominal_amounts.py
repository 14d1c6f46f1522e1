"""Nominal amounts under stochastic inflation: goal costs and savings fixed in money of the
day, deflated by each path's price level in every simulator."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from general_problems import small_general_problem
from gymnasium.utils import seeding

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.envs import GBWMEnv
from gbwm_sb3.envs.dynamics import (
    cash_at,
    decision_mask,
    has_nominal,
    has_withdrawals,
    price_levels,
    problem_table,
    rollout,
    year_costs,
)
from gbwm_sb3.envs.observation import encode_observation
from gbwm_sb3.envs.vec_env import GBWMVecEnv
from gbwm_sb3.evaluation import BuyAndHold, GreedyGoals, evaluate, inflation_paths
from gbwm_sb3.plots import policy_grid
from gbwm_sb3.problem import InflationModel
from gbwm_sb3.problem.files import dump_problem_text, problem_from_dict, problem_to_dict
from gbwm_sb3.problem.model import GBWMProblem, Goal, paper_portfolios

MODEL = InflationModel(mean=0.03, persistence=0.8, volatility=0.02, initial=0.05,
                       correlation=(0.3, -0.2, 0.5))
BASE = small_general_problem()
# the car nominal, the savings of years 0 and 1 nominal, and a nominal payment in year 3
# beside that year's indexed savings; the rest indexed
MIXED = dataclasses.replace(
    BASE, inflation=MODEL, infusions=(0.0, 0.0, 2.0, 2.0, 0.0, 0.0),
    nominal_infusions={0: 1.0, 1: 1.0, 3: -0.5},
    goals=tuple(Goal(g.time, levels=g.levels, name=g.name, nominal=g.name == "car")
                for g in BASE.goals))


def _nominal_copy(problem: GBWMProblem, inflation: InflationModel) -> GBWMProblem:
    """``problem`` with ``inflation`` and every amount nominal."""
    goals = tuple(Goal(g.time, levels=g.levels, name=g.name, nominal=True)
                  for g in problem.goals)
    return dataclasses.replace(problem, goals=goals, inflation=inflation, infusions=(),
                               nominal_infusions=problem.infusions)


class InMoneyOfTheDay:
    """A policy of a problem without inflation, acting on nominal wealth ``w P_t``."""

    def __init__(self, policy: object) -> None:
        self.policy = policy

    def act(self, t: int, wealth: np.ndarray, price_level: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        assert price_level is not None
        return self.policy.act(t, wealth * price_level)  # type: ignore[attr-defined]


class LevelAware:
    """Takes the costliest affordable-looking decision index 1; holds portfolio 1 below a
    price level of 1.05 and 2 above; records the levels it was told."""

    def __init__(self) -> None:
        self.told: dict[int, list[np.ndarray]] = {}

    def act(self, t: int, wealth: np.ndarray, inflation: np.ndarray | None = None,
            price_level: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        assert inflation is not None and price_level is not None
        self.told.setdefault(t, []).append(np.array(price_level, copy=True))
        n = np.shape(wealth)[0]
        return np.ones(n, dtype=np.intp), np.where(price_level > 1.05, 2, 1).astype(np.intp)


# ----------------------------------------------------------------------------- the model
def test_nominal_amounts_need_inflation_and_valid_amounts() -> None:
    with pytest.raises(ValueError, match="nominal_infusions: nominal amounts need stochastic"):
        dataclasses.replace(BASE, nominal_infusions={0: 1.0})
    with pytest.raises(ValueError, match="goal nominal: nominal amounts need stochastic"):
        dataclasses.replace(BASE, goals=(Goal(2, 4.0, 3.0, nominal=True),))
    with pytest.raises(ValueError, match=r"nominal_infusions: year must be an integer in 0..5"):
        dataclasses.replace(BASE, inflation=MODEL, nominal_infusions={6: 1.0})
    with pytest.raises(ValueError, match=r"nominal_infusions must have one amount per year"):
        dataclasses.replace(BASE, inflation=MODEL, nominal_infusions=(1.0, 2.0))
    with pytest.raises(ValueError, match=r"nominal_infusions\[1\] must be finite"):
        dataclasses.replace(BASE, inflation=MODEL, nominal_infusions={1: float("nan")})
    with pytest.raises(ValueError, match="goal nominal must be true or false"):
        Goal(2, 4.0, 3.0, nominal="yes")  # type: ignore[arg-type]
    assert MIXED.nominal_infusions == (1.0, 1.0, 0.0, -0.5, 0.0, 0.0)
    assert MIXED.has_nominal_amounts
    np.testing.assert_array_equal(MIXED.nominal_infusion_by_time, [1, 1, 0, -0.5, 0, 0, 0])
    assert not dataclasses.replace(BASE, inflation=MODEL).has_nominal_amounts
    assert not dataclasses.replace(BASE, inflation=MODEL, nominal_infusions=[0.0] * 6
                                   ).has_nominal_amounts
    scaled = MIXED.scaled(2.0)
    assert scaled.nominal_infusions == (2.0, 2.0, 0.0, -1.0, 0.0, 0.0)
    assert [g.nominal for g in scaled.goals] == [g.nominal for g in MIXED.goals]


def test_the_dp_refuses_nominal_amounts_with_the_reason() -> None:
    with pytest.raises(ValueError, match="nominal amounts .* price level a state variable"):
        solve_dp(MIXED)


def test_problem_files_read_and_write_nominal_amounts() -> None:
    data = problem_to_dict(MIXED)
    assert data["nominal_savings"] == [{"amount": 1.0, "from": 0, "to": 1},
                                       {"amount": -0.5, "from": 3, "to": 3}]
    assert [g.get("nominal", False) for g in data["goals"]] == [g.nominal for g in MIXED.goals]
    assert problem_from_dict(yaml.safe_load(yaml.safe_dump(data))) == MIXED
    assert problem_from_dict(yaml.safe_load(dump_problem_text(MIXED))) == MIXED
    per_year = problem_from_dict(dict(data, nominal_savings=[1, 1, 0, -0.5, 0, 0]))
    assert per_year == MIXED
    without = {k: v for k, v in data.items() if k != "inflation"}
    with pytest.raises(ValueError, match=r"nominal_savings: needs an `inflation` section"):
        problem_from_dict(without)
    without.pop("nominal_savings")
    with pytest.raises(ValueError, match=r"goals\[0\]\.nominal: needs an `inflation`"):
        problem_from_dict(without)
    with pytest.raises(ValueError, match=r"nominal_savings\[1\]\.from: must be an integer"):
        problem_from_dict(dict(data, nominal_savings=[{"amount": 1}, {"amount": 1, "from": 9}]))
    with pytest.raises(ValueError, match=r"nominal_savings: a per-year list must have one"):
        problem_from_dict(dict(data, nominal_savings=[1, 2]))
    goals = [dict(data["goals"][0], nominal="yes")] + data["goals"][1:]
    with pytest.raises(ValueError, match=r"goals\[0\]\.nominal: must be true or false"):
        problem_from_dict(dict(data, goals=goals))


# ----------------------------------------------------------------------------- the kernel
def test_costs_and_savings_are_deflated_by_the_price_level() -> None:
    table = problem_table(MIXED)
    assert has_nominal(table) and not has_nominal(problem_table(BASE))
    written = table.decision_cost[0, 2]
    np.testing.assert_array_equal(year_costs(table, 0, 2, np.array([1.0]))[0], written)
    costs = year_costs(table, 0, 2, np.array([1.25, 2.0]))
    for d in MIXED.decisions(2):
        car = 4.0 if d.levels[0] else 0.0  # the nominal part
        for row, level in enumerate((1.25, 2.0)):
            assert costs[row, d.index] == pytest.approx(d.cost - car + car / level, rel=1e-15)
    with pytest.raises(ValueError, match="nominal amounts: the year needs each trajectory's "
                                         "price level"):
        decision_mask(table, 0, 2, np.array([10.0]))
    # year 2: indexed savings 2.0, so cash 3.5; the car costs 4 at P = 1, 3 at P = 4/3
    mask = decision_mask(table, 0, 2, np.array([1.5, 1.5]), np.array([1.0, 4.0 / 3.0]))
    car_only = next(d.index for d in MIXED.decisions(2) if d.levels == (1, 0))
    assert not mask[0, car_only] and mask[1, car_only]
    # year 1: nominal savings 1.0 at P = 2 add 0.5 of today's money; year 3: indexed savings
    # 2.0 and a nominal payment 0.5, 0.25 of today's money at P = 2
    levels = np.array([1.0, 2.0])
    np.testing.assert_allclose(cash_at(table, 0, 1, np.array([3.0, 3.0]), levels),
                               [4.0, 3.5], rtol=1e-15)
    np.testing.assert_allclose(cash_at(table, 0, 3, np.array([3.0, 3.0]), levels),
                               [4.5, 4.75], rtol=1e-15)


def test_every_amount_nominal_is_the_plan_without_inflation_in_money_of_the_day() -> None:
    """With every amount nominal and returns uncorrelated with inflation, real wealth times
    the price level follows the plan without inflation path by path: the same decisions,
    the same utility."""
    plain = dataclasses.replace(BASE, infusions=(1.0, -0.5, 2.0, 2.0, 0.0, 0.0))
    assert has_withdrawals(problem_table(_nominal_copy(plain, MODEL)))
    model = InflationModel(mean=0.03, persistence=0.8, volatility=0.03, correlation=0.0)
    nominal = _nominal_copy(plain, model)
    solution = solve_dp(plain)
    rng = np.random.default_rng(7)
    horizon, n = plain.horizon, 4000
    normals = rng.standard_normal((horizon, n))
    eps = rng.standard_normal((horizon, n))
    rates = model.rate_paths(eps)
    levels = price_levels(rates)
    seen: list[np.ndarray] = []
    utility, _ = rollout(problem_table(plain), solution, normals,
                         observe=lambda year: seen.append(year.wealth))
    real: list[np.ndarray] = []
    utility_nominal, _ = rollout(problem_table(nominal), InMoneyOfTheDay(solution), normals,
                                 inflation=(eps, rates),
                                 observe=lambda year: real.append(year.wealth))
    same = utility == utility_nominal
    assert same.mean() > 0.995  # rounding may flip a near-tie of portfolios on a few paths
    np.testing.assert_allclose((np.array(real) * levels[:horizon])[:, same],
                               np.array(seen)[:, same], rtol=1e-9)


def test_every_amount_nominal_scores_the_optimum_without_inflation() -> None:
    """Correlated with returns or not, each portfolio's nominal return keeps its law: the
    plan's optimum in money of the day is the DP's of the plan without inflation."""
    plain = paper_portfolios_problem()
    model = InflationModel(mean=0.03, persistence=0.85, volatility=0.02, correlation=-0.3)
    solution = solve_dp(plain)
    report = evaluate({"dp": InMoneyOfTheDay(solution)}, _nominal_copy(plain, model),
                      n_paths=20_000, seed=2)
    result = report["dp"]
    assert abs(result.mean_utility - solution.expected_utility) < 3.0 * result.std_error


def paper_portfolios_problem() -> GBWMProblem:
    return GBWMProblem(horizon=10, initial_wealth=100.0, portfolios=paper_portfolios(),
                       goals=(Goal(4, 40.0, 10.0),
                              Goal(7, levels=[(40.0, 20.0), (70.0, 32.0)]),
                              Goal(10, 90.0, 14.0)),
                       infusions={2: 10.0, 5: -8.0})


# ----------------------------------------------------------------------------- simulators
def test_env_one_year_by_hand_deflates_the_nominal_savings() -> None:
    """Year 1 of MIXED: nominal savings of 1.0 at ``P_1`` and the real return."""
    env = GBWMEnv(problem=MIXED)
    env.queue_normal_draws([0.4, -0.3])
    env.reset(seed=3)
    env.step(np.array([0, 0]))
    level, wealth = env.price_level, env.wealth
    assert level is not None and level > 1.0
    eps = seeding.np_random(3)[0].standard_normal(2)
    rate_2 = MODEL.next_rate(MODEL.next_rate(MODEL.initial_rate, eps[0]), eps[1])
    _, _, _, _, info = env.step(np.array([0, 1]))
    rho, mu, sigma = -0.2, 0.06, 0.1
    shock = rho * eps[1] + math.sqrt(1.0 - rho * rho) * -0.3
    cash = wealth + 1.0 / level
    expected = cash * math.exp(mu - sigma**2 / 2 + sigma * shock - float(rate_2))
    assert info["wealth"] == pytest.approx(expected, rel=1e-12)


def test_envs_follow_the_kernel_on_nominal_amounts() -> None:
    """GBWMEnv and GBWMVecEnv move real wealth as ``rollout`` does on the same draws, and
    their action masks read the deflated costs."""
    horizon, n_envs, seed = MIXED.horizon, 32, 4
    env = GBWMVecEnv(n_envs, problem=MIXED, seed=seed, step_info=True)
    env.reset()
    rng = np.random.default_rng(seed)
    policy = LevelAware()
    normals, innovations, wealth, levels = [], [], [env.wealth], [env.price_level]
    table = problem_table(MIXED)
    for t in range(horizon):
        masks = env.action_masks()
        k = env.num_decisions
        np.testing.assert_array_equal(
            masks[:, 1:k], decision_mask(table, 0, t, env.wealth, env.price_level)[:, 1:k])
        decision, portfolio = policy.act(t, env.wealth, env.inflation, env.price_level)
        env.step(np.stack([np.minimum(decision, k - 1), portfolio], axis=1))
        normals.append(MIXED.market.draw_shocks(rng, n_envs))
        innovations.append(rng.standard_normal(n_envs))
        if t + 1 < horizon:
            wealth.append(env.wealth)
            levels.append(env.price_level)
    eps = np.array(innovations)
    rates = MODEL.rate_paths(eps)
    np.testing.assert_allclose(np.array(levels), price_levels(rates)[:horizon], rtol=1e-13)
    seen: list[np.ndarray] = []
    replay = LevelAware()
    rollout(table, replay, np.array(normals), inflation=(eps, rates),
            observe=lambda year: seen.append(year.wealth))
    np.testing.assert_allclose(np.array(seen), np.array(wealth), rtol=1e-12)
    for t in range(horizon):
        np.testing.assert_allclose(replay.told[t][0], levels[t], rtol=1e-13)


def test_observation_reads_amounts_in_todays_money() -> None:
    """At a price level of 1 the observation is that of the same plan with every amount
    indexed; at P > 1 the next goal's cost is the deflated one."""
    indexed = dataclasses.replace(MIXED, nominal_infusions=(), goals=BASE.goals,
                                  infusions=(1.0, 1.0, 2.0, 1.5, 0.0, 0.0))
    wealth = np.array([5.0, 9.0])
    for t in range(MIXED.horizon):
        np.testing.assert_array_equal(
            encode_observation(problem_table(MIXED), t, wealth, True, None, 0.03, 1.0),
            encode_observation(problem_table(indexed), t, wealth, True, None, 0.03))
    with pytest.raises(ValueError, match="needs the price level"):
        encode_observation(problem_table(MIXED), 0, wealth, inflation=0.03)
    with pytest.raises(ValueError, match="price_level must be None"):
        encode_observation(problem_table(indexed), 0, wealth, inflation=0.03, price_level=1.0)
    with pytest.raises(ValueError, match="price_level must be finite and positive"):
        encode_observation(problem_table(MIXED), 0, wealth, inflation=0.03, price_level=0.0)
    # year 1: the next goals are the car (nominal, 4) and college (indexed, 6) at t = 2
    obs = encode_observation(problem_table(MIXED), 1, wealth, inflation=0.03,
                             price_level=np.array([2.0, 2.0]))
    cash = wealth + 1.0 / 2.0  # year 1's nominal savings
    np.testing.assert_allclose(obs[:, 3], np.log(cash / (4.0 / 2.0 + 6.0)), rtol=1e-6)


def test_evaluate_tells_price_levels_and_scores_benchmarks() -> None:
    policy = LevelAware()
    report = evaluate({"aware": policy, "hold": BuyAndHold(1, problem=MIXED),
                       "greedy": GreedyGoals(BuyAndHold(2, problem=MIXED), problem=MIXED)},
                      MIXED, n_paths=3000, seed=5)
    assert report.reference is None
    rates = inflation_paths(MODEL, 5, MIXED.horizon, 0, 3000)[1]
    levels = price_levels(rates)
    for t in range(MIXED.horizon):
        np.testing.assert_allclose(np.concatenate(policy.told[t]), levels[t], rtol=1e-13)
    for name in ("aware", "hold", "greedy"):
        assert 0.0 < report[name].mean_utility < MIXED.total_utility


def test_policy_grid_reads_decisions_at_the_planned_price_levels() -> None:
    policy = LevelAware()
    wealth = np.linspace(1.0, 30.0, 7)
    portfolio, _ = policy_grid(MIXED, policy, wealth)
    planned = MODEL.planned_price_levels(MIXED.horizon)
    assert planned[0] == 1.0 and planned[1] == pytest.approx(math.exp(
        MODEL.mean + MODEL.persistence * (MODEL.initial - MODEL.mean)))
    for t in range(MIXED.horizon):
        np.testing.assert_array_equal(policy.told[t][0], planned[t])
        assert (portfolio[t] == (2 if planned[t] > 1.05 else 1)).all()


def test_tiny_ppo_on_nominal_amounts_trains_and_needs_the_price_level() -> None:
    from gbwm_sb3.evaluation import SB3Policy
    from gbwm_sb3.ppo import paper_ppo

    model = paper_ppo(problem=MIXED, n_trajectories_per_rollout=64, batch_size=128, seed=0)
    model.learn(2 * 64 * MIXED.horizon)
    policy = SB3Policy(model, MIXED)
    with pytest.raises(ValueError, match="price level"):
        policy.act(0, np.array([10.0]), inflation=np.array([0.03]))
    report = evaluate({"ppo": policy, "hold": BuyAndHold(1, problem=MIXED)}, MIXED,
                      n_paths=2000)
    assert 0.0 < report["ppo"].mean_utility <= MIXED.total_utility


def test_tables_without_nominal_amounts_have_no_nominal_arrays() -> None:
    table = problem_table(dataclasses.replace(BASE, inflation=MODEL))
    assert table.nominal_cost is None and not has_nominal(table)


# ----------------------------------------------------------------------------- the CLI
TINY_NOMINAL = """\
horizon: 4
initial_wealth: 10.0
goals:
  - {time: 2, cost: 6.0, utility: 5, name: early, nominal: true}
  - {time: 4, cost: 8.0, utility: 10, name: late}
savings: [{amount: 1.0, from: 0, to: 3}]
nominal_savings: [{amount: -0.5, from: 0, to: 3}]
inflation: {mean: 0.03, persistence: 0.8, volatility: 0.02}
portfolios:
  - {mean: 0.02, volatility: 0.03}
  - {mean: 0.06, volatility: 0.10}
  - {mean: 0.09, volatility: 0.20}
"""


def test_cli_trains_evaluates_and_plots_a_plan_beyond_the_dp(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``gbwm solve`` refuses the plan with the reason; ``gbwm train`` trains it without
    the DP's callback, ``gbwm evaluate`` scores it against the benchmarks with no
    efficiency, and ``gbwm plot`` draws the RL policy alone."""
    from gbwm_sb3.cli.main import main
    from gbwm_sb3.model_io import read_manifest

    problem = tmp_path / "nominal.yaml"
    problem.write_text(TINY_NOMINAL)
    assert main(["solve", str(problem)]) == 2
    assert "nominal amounts" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main(["train", str(problem), "--out", str(out), "--trajectories", "256",
                 "--rollout-trajectories", "64", "--eval-paths", "400", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "The exact DP does not go here: nominal amounts" in captured.err
    assert "buy-and-hold with coin-flip goals" in captured.out
    metrics = read_manifest(out)["metrics"]
    assert metrics["efficiency"] is None and metrics["dp_expected_utility"] is None
    assert 0.0 < metrics["mean_utility"] <= 15.0
    assert 0.0 < metrics["buy_and_hold_mean_utility"] <= 15.0
    assert not (out / "best").exists()
    assert main(["evaluate", str(out), "--paths", "400", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["report"]
    assert "dp" not in report["results"] and report["reference"] is None
    assert set(report["results"]) == {"rl", "greedy_goals_rl_portfolios",
                                      "buy_and_hold_coin_flip", "random"}
    assert main(["plot", str(out), "--paths", "400", "--formats", "png"]) == 0
    written = {Path(line).name for line in capsys.readouterr().out.split()}
    assert {"policy_heatmaps.png", "wealth_fan_rl.png", "goal_success.png",
            "policy_heatmaps_inflation_low.png", "policy_heatmaps_inflation_high.png"} <= written
    assert "wealth_fan_dp.png" not in written and "efficiency.png" not in written


def test_a_nominal_payment_can_bankrupt_and_inflation_erodes_it() -> None:
    """Indexed savings beside a larger nominal payment: bankruptcy is reported, and the
    same plan under higher inflation (the payment worth less in today's money) goes
    bankrupt less often and reaches more."""
    def plan(mean: float) -> GBWMProblem:
        return GBWMProblem(horizon=8, initial_wealth=8.0, portfolios=paper_portfolios(),
                           goals=(Goal(8, 2.0, 1.0),), infusions=[1.0] * 8,
                           nominal_infusions=[-2.2] * 8,
                           inflation=InflationModel(mean=mean, persistence=0.5,
                                                    volatility=0.01))
    assert has_withdrawals(problem_table(plan(0.02)))
    low, high = (evaluate({"hold": BuyAndHold(3, problem=plan(mean))}, plan(mean),
                          n_paths=20_000, seed=3)["hold"] for mean in (0.0, 0.08))
    assert low.bankruptcy_probability is not None and high.bankruptcy_probability is not None
    assert low.bankruptcy_probability > 0.2  # 0.43 with this seed
    assert high.bankruptcy_probability < low.bankruptcy_probability - 0.1  # 0.0
    assert high.mean_utility > low.mean_utility + 0.1  # 0.38 against 0.05
