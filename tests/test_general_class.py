"""The general problem class: several goals a year, goals with levels, infusions.

Model validation, the mechanics (hand-computed trajectories), the envs, the
observation, the DP against brute force, the evaluator and the strategies.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from general_problems import random_general_problem, small_general_problem
from scipy.special import ndtr

from gbwm_sb3 import GBWMEnv, GBWMVecEnv, evaluate
from gbwm_sb3.dp import solve_dp
from gbwm_sb3.envs.dynamics import problem_table
from gbwm_sb3.envs.observation import DECISION_FLAGS_START, encode_observation
from gbwm_sb3.evaluation.strategies import BuyAndHold, GreedyGoals, Hybrid, RandomPolicy
from gbwm_sb3.problem.model import MAX_DECISIONS_PER_YEAR, GBWMProblem, Goal, Portfolios

ONE_PORTFOLIO = Portfolios(means=[0.05], volatilities=[0.1])
GROWTH = math.exp(0.05 - 0.5 * 0.1**2)  # one year at Z = 0


def make(**kwargs) -> GBWMProblem:
    base = dict(horizon=4, initial_wealth=10.0, goals=(Goal(2, 5.0, 1.0),),
                portfolios=ONE_PORTFOLIO)
    return GBWMProblem(**{**base, **kwargs})


# ----------------------------------------------------------------------------- model
@pytest.mark.parametrize("value", [-2e15, -1e-10, math.nan, math.inf, -math.inf])
def test_bad_infusion_amount_is_refused(value):
    """A negative infusion is a withdrawal; beyond -MAX_AMOUNT, or too small to compute
    with, it is refused."""
    with pytest.raises(ValueError, match=r"infusions\[1\]"):
        make(infusions=[0.0, value, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"infusions\[2\]"):
        make(infusions={2: value})


@pytest.mark.parametrize("length", [1, 3, 5])
def test_infusions_of_the_wrong_length_are_refused(length):
    with pytest.raises(ValueError, match="length 4"):
        make(infusions=[1.0] * length)


@pytest.mark.parametrize("year", [-1, 4, 7, 1.5, "2", True])
def test_infusion_year_outside_the_horizon_is_refused(year):
    with pytest.raises(ValueError, match=r"infusions: year must be an integer in 0\.\.3"):
        make(infusions={year: 1.0})


@pytest.mark.parametrize("field", ["cost", "utility"])
@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf])
def test_bad_level_is_refused(field, value):
    level = {"cost": 1.0, "utility": 1.0, field: value}
    with pytest.raises(ValueError, match=f"goal level 2 {field}"):
        Goal(3, levels=[(1.0, 1.0), (level["cost"], level["utility"])])


def test_empty_level_list_and_mixed_forms_are_refused():
    with pytest.raises(ValueError, match="at least 1"):
        Goal(3, levels=[])
    with pytest.raises(ValueError, match="not both"):
        Goal(3, cost=1.0, utility=1.0, levels=[(1.0, 1.0)])
    with pytest.raises(ValueError, match="either cost= and utility="):
        Goal(3, cost=1.0)
    with pytest.raises(ValueError, match=r"level 1 must be a \(cost, utility\) pair"):
        Goal(3, levels=[(1.0, 2.0, 3.0)])


def test_too_many_decisions_in_a_year_are_refused():
    goals = [Goal(2, levels=[(1.0, 1.0)] * 3)] * 4  # 4^4 = 256: allowed
    assert make(goals=goals).max_decisions == MAX_DECISIONS_PER_YEAR
    with pytest.raises(ValueError, match=r"year 2 has 512 decisions.*at most 256"):
        make(goals=goals + [Goal(2, 1.0, 1.0)])


def test_decisions_are_the_product_of_the_goals_options_in_order():
    problem = small_general_problem()
    year = problem.decisions(2)
    assert [d.levels for d in year] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert [d.cost for d in year] == [0.0, 3.0, 6.0, 4.0, 7.0, 10.0]
    assert [d.utility for d in year] == [0.0, 2.0, 5.0, 3.0, 5.0, 8.0]
    assert [g.name for g in year[0].goals] == ["car", "college"]
    assert [d.levels for d in problem.decisions(1)] == [()]
    assert problem.max_decisions == 6 and not problem.in_paper_family
    assert problem.total_utility == 3.0 + 5.0 + 6.0 + 7.0
    assert problem.goal_labels == ("car", "college", "4", "retire")


def test_infusions_mapping_and_list_agree_and_zero_infusions_are_none():
    assert make(infusions={1: 2.0}).infusions == (0.0, 2.0, 0.0, 0.0)
    assert make(infusions={1: 2.0}) == make(infusions=[0, 2, 0, 0])
    assert make(infusions=[0, 0, 0, 0]).infusions == ()
    assert make(infusions=[0, 0, 0, 0]).in_paper_family


def test_scaled_multiplies_infusions_and_level_costs():
    problem = small_general_problem()
    scaled = problem.scaled(1e4)
    expected = small_general_problem(1e4)
    assert scaled.goals == expected.goals and scaled.infusions == expected.infusions
    assert scaled.initial_wealth == expected.initial_wealth and scaled.unit == 1e4


# ----------------------------------------------------------------------------- mechanics
def hand_problem() -> GBWMProblem:
    return GBWMProblem(
        horizon=3, initial_wealth=10.0, portfolios=ONE_PORTFOLIO,
        goals=(Goal(0, 3.0, 2.0, name="A"), Goal(0, levels=[(2.0, 1.0), (5.0, 4.0)], name="B"),
               Goal(1, 100.0, 9.0, name="C"),
               Goal(3, levels=[(4.0, 3.0), (8.0, 5.0)], name="D"), Goal(3, 1.0, 1.0, name="E")),
        infusions=[1.0, 2.0, 0.0],
    )


def test_hand_computed_trajectory():
    """Two goals in a year (one at level 2), an infusion, an unaffordable decision, and the
    automatic best choice at T."""
    env = GBWMEnv(problem=hand_problem())
    assert env.action_space.nvec.tolist() == [6, 1]  # t = 0 and T: 2 x 3 decisions
    env.queue_normal_draws([0.0, 0.0, 0.0])
    env.reset(seed=0)
    # t = 0: cash 10 + 1; take A and B level 2 (decision (1, 2) = index 5): cost 8, utility 6
    _, reward, _, _, info = env.step(np.array([5, 0]))
    assert reward == 6.0 and info["levels"] == {"A": 1, "B": 2} and info["decision"] == 5
    assert env.wealth == pytest.approx(3.0 * GROWTH, rel=1e-14)
    # t = 1: cash 3 g + 2; C costs 100: unaffordable, nothing is taken
    _, reward, _, _, info = env.step(np.array([1, 0]))
    assert reward == 0.0 and info["levels"] == {"C": 0} and info["decision"] == 0
    assert env.wealth == pytest.approx((3.0 * GROWTH + 2.0) * GROWTH, rel=1e-14)
    # t = 2, then T: wealth ~5.62 affords D level 1 + E (cost 5, utility 4), not D level 2
    _, reward, terminated, _, info = env.step(np.array([0, 0]))
    final = (3.0 * GROWTH + 2.0) * GROWTH**2
    assert terminated and reward == 4.0
    assert info["levels"] == {"D": 1, "E": 1} and info["final_decision"] == 3
    assert env.wealth == pytest.approx(final - 5.0, rel=1e-12)
    assert info["utility"] == 10.0 and info["goals_taken"] == 4 and info["goals_offered"] == 5


def test_automatic_choice_at_the_horizon_breaks_ties_to_the_cheaper():
    problem = GBWMProblem(horizon=1, initial_wealth=6.0 / GROWTH, portfolios=ONE_PORTFOLIO,
                          goals=(Goal(1, 5.0, 3.0, name="X"), Goal(1, 2.0, 3.0, name="Y")))
    env = GBWMEnv(problem=problem)
    env.queue_normal_draws([0.0])
    env.reset()
    _, reward, _, _, info = env.step(np.array([0, 0]))
    assert reward == 3.0 and info["levels"] == {"X": 0, "Y": 1}
    assert env.wealth == pytest.approx(4.0, rel=1e-12)


def test_action_masks_forbid_missing_and_unaffordable_decisions():
    env = GBWMEnv(problem=hand_problem())
    env.reset()
    # t = 0, cash 11: decisions (0,0) (0,1) (0,2) (1,0) (1,1) (1,2) cost 0 2 5 3 5 8: all fine
    assert env.action_masks()[:6].tolist() == [True] * 6
    env.queue_normal_draws([0.0])
    env.step(np.array([5, 0]))
    # t = 1, cash ~5.1: decision 1 (C, cost 100) unaffordable; decisions 2..5 do not exist
    assert env.action_masks()[:6].tolist() == [True, False, False, False, False, False]
    obs = env._observation()
    assert obs[DECISION_FLAGS_START:].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert obs[2] == 0.0  # no decision other than "nothing" is affordable


def test_out_of_range_decision_is_refused_with_its_range():
    env = GBWMEnv(problem=hand_problem())
    env.reset()
    with pytest.raises(ValueError, match=r"decision index\) must be in 0\.\.5, got 6"):
        env.step(np.array([6, 0]))


def test_vec_env_equals_env_on_the_same_draws():
    problem = small_general_problem()
    n = 40
    rng = np.random.default_rng(3)
    draws = rng.standard_normal((problem.horizon, n))
    actions = np.stack([rng.integers(0, 6, (problem.horizon, n)),
                        rng.integers(0, 3, (problem.horizon, n))], axis=2)
    vec = GBWMVecEnv(n, problem=problem, seed=0, step_info=True)
    vec.queue_normal_draws(draws)
    vec_obs = [vec.reset()]
    vec_rewards, vec_infos = [], []
    for t in range(problem.horizon):
        obs, rewards, _, infos = vec.step(actions[t])
        vec_obs.append(np.stack([i["terminal_observation"] for i in infos])
                       if t + 1 == problem.horizon else obs)
        vec_rewards.append(rewards)
        vec_infos.append(infos)
    for i in range(n):
        env = GBWMEnv(problem=problem)
        env.queue_normal_draws(draws[:, i])
        obs, _ = env.reset()
        np.testing.assert_array_equal(obs, vec_obs[0][i])
        for t in range(problem.horizon):
            obs, reward, _, _, info = env.step(actions[t, i])
            np.testing.assert_array_equal(obs, vec_obs[t + 1][i])
            assert np.float32(reward) == vec_rewards[t][i]
            assert info["goals_taken"] == vec_infos[t][i]["goals_taken"]
            assert info["wealth"] == vec_infos[t][i]["wealth"]


def test_vec_env_masks_equal_env_masks():
    problem = small_general_problem()
    vec = GBWMVecEnv(16, problem=problem, seed=1)
    vec.reset()
    rng = np.random.default_rng(0)
    for _ in range(problem.horizon):
        wealth, t = vec.wealth, vec.time
        masks = vec.action_masks()
        for i in range(16):
            env = GBWMEnv(problem=problem)
            env.reset()
            env._t, env._wealth = t, wealth[i]
            np.testing.assert_array_equal(env.action_masks(), masks[i])
        vec.step(np.stack([rng.integers(0, 6, 16), rng.integers(0, 3, 16)], axis=1))


def test_observation_is_scale_invariant_with_infusions():
    problem, scaled = small_general_problem(), small_general_problem().scaled(1e4)
    rng = np.random.default_rng(5)
    draws = rng.standard_normal(problem.horizon)
    actions = [np.array([a, p]) for a, p in zip(rng.integers(0, 6, problem.horizon),
                                                   rng.integers(0, 3, problem.horizon),
                                                   strict=True)]
    trajectories = []
    for p in (problem, scaled):
        env = GBWMEnv(problem=p)
        env.queue_normal_draws(draws)
        obs, _ = env.reset()
        seen, rewards = [obs], []
        for action in actions:
            obs, reward, *_ = env.step(action)
            seen.append(obs)
            rewards.append(reward)
        trajectories.append((np.stack(seen), rewards))
    np.testing.assert_array_equal(trajectories[0][0], trajectories[1][0])
    assert trajectories[0][1] == trajectories[1][1]
    assert trajectories[0][0].shape[1] == DECISION_FLAGS_START + 6


def test_observation_reports_future_savings():
    problem = small_general_problem()
    obs = encode_observation(problem_table(problem), 1, np.array([8.0]))[0]
    cash = 8.0 + 1.0
    future = 2.0 + 2.0  # I(2) + I(3)
    assert obs[6] == pytest.approx(math.log1p(future / cash), rel=1e-6)
    remaining = 4.0 + 6.0 + 8.0 + 10.0  # top levels of the goals at t >= 1
    assert obs[7] == pytest.approx(math.log((cash + future) / remaining), rel=1e-6)


# ----------------------------------------------------------------------------- DP
def _brute_force_value(problem: GBWMProblem) -> float:
    """Exact optimum of a T = 2 problem by enumerating decisions and portfolios: the last
    year in closed form (normal CDF), the first by quadrature over Z."""
    assert problem.horizon == 2
    infusion = problem.infusion_by_time
    drifts = problem.portfolios.log_drifts
    sigmas = problem.portfolios.volatility_array
    final = problem.decisions(2)
    # V_2 is a step function: best utility among decisions with cost <= W
    thresholds = sorted({d.cost for d in final})
    levels = [max(d.utility for d in final if d.cost <= c) for c in thresholds]

    def expected_v2(x: np.ndarray, j: int) -> np.ndarray:
        total = np.full(x.shape, levels[0])
        for k in range(1, len(thresholds)):
            with np.errstate(divide="ignore"):
                z = (np.log(np.maximum(x, 1e-300)) + drifts[j] - math.log(thresholds[k]))
            total = total + (levels[k] - levels[k - 1]) * ndtr(z / sigmas[j])
        return total

    def v1(wealth: np.ndarray) -> np.ndarray:
        cash = wealth + infusion[1]
        best = np.full(wealth.shape, -np.inf)
        for d in problem.decisions(1):
            ok = cash >= d.cost
            for j in range(problem.num_portfolios):
                value = d.utility + expected_v2(np.where(ok, cash - d.cost, 1.0), j)
                best = np.where(ok, np.maximum(best, value), best)
        return best

    z = np.linspace(-9.0, 9.0, 180_001)
    weights = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) * (z[1] - z[0])
    cash0 = problem.initial_wealth + infusion[0]
    best = -np.inf
    for d in problem.decisions(0):
        if d.cost > cash0:
            continue
        for j in range(problem.num_portfolios):
            wealth1 = (cash0 - d.cost) * np.exp(drifts[j] + sigmas[j] * z)
            best = max(best, d.utility + float((v1(wealth1) * weights).sum()))
    return best


TWO_PORTFOLIOS = Portfolios(means=[0.04, 0.09], volatilities=[0.03, 0.2])
TINY_PROBLEMS = {
    "concurrent": GBWMProblem(
        horizon=2, initial_wealth=10.0, portfolios=TWO_PORTFOLIOS,
        goals=(Goal(0, 2.0, 1.0), Goal(0, 3.0, 2.0), Goal(1, 4.0, 3.0), Goal(1, 1.0, 0.5),
               Goal(2, 5.0, 4.0), Goal(2, 2.0, 1.5))),
    "partial": GBWMProblem(
        horizon=2, initial_wealth=8.0, portfolios=TWO_PORTFOLIOS,
        goals=(Goal(1, levels=[(2.0, 1.0), (4.0, 3.0), (7.0, 4.0)]),
               Goal(2, levels=[(3.0, 2.0), (6.0, 5.0)]))),
    "infusions": GBWMProblem(
        horizon=2, initial_wealth=3.0, portfolios=TWO_PORTFOLIOS,
        goals=(Goal(1, levels=[(3.0, 2.0), (6.0, 4.0)]), Goal(1, 2.0, 1.0),
               Goal(2, levels=[(4.0, 3.0), (9.0, 6.0)])),
        infusions=[2.0, 3.0]),
}


@pytest.mark.parametrize("name", sorted(TINY_PROBLEMS))
def test_dp_matches_brute_force_on_tiny_problems(name):
    problem = TINY_PROBLEMS[name]
    exact = _brute_force_value(problem)
    solution = solve_dp(problem, grid_density=200)
    assert solution.expected_utility == pytest.approx(exact, rel=1e-4)


def test_dp_policy_simulates_to_its_expected_utility():
    problem = small_general_problem()
    solution = solve_dp(problem)
    result = evaluate({"dp": solution}, problem, n_paths=100_000, seed=4)["dp"]
    assert abs(result.mean_utility - solution.expected_utility) < 4 * result.std_error


def test_dp_act_agrees_with_its_tables_and_value():
    problem = small_general_problem()
    solution = solve_dp(problem)
    grid = solution.wealth_grid[::37]
    for t in range(problem.horizon):
        decision, portfolio = solution.act(t, grid)
        assert decision.dtype.kind == "i"
        np.testing.assert_array_equal(decision, solution.decision_policy[t, ::37])
        np.testing.assert_allclose(solution.value_at(t, grid), solution.value[t, ::37],
                                   rtol=1e-9, atol=1e-9)
    decision, _ = solution.act(problem.horizon, np.array([4.0, 7.0, 12.0]))
    assert decision.tolist() == [0, 1, 2]  # retire: level 1 costs 5, level 2 costs 10


@pytest.mark.slow
def test_dp_is_within_a_tenth_of_a_percent_of_the_grid_converged_value():
    rng = np.random.default_rng(2026)
    for _ in range(20):
        problem = random_general_problem(rng)
        value = solve_dp(problem).expected_utility
        converged = solve_dp(problem, grid_density=800).expected_utility
        assert value == pytest.approx(converged, rel=1e-3), problem


# ----------------------------------------------------------------------------- evaluation
def test_evaluation_reports_success_per_goal_and_level():
    problem = small_general_problem()
    dp = solve_dp(problem)
    report = evaluate({"dp": dp, "greedy": GreedyGoals(dp)}, problem, n_paths=20_000, seed=1)
    assert report.goal_keys() == ["car", "college", "4", "retire"]
    for name in ("dp", "greedy"):
        result = report[name]
        for key, goal in zip(report.goal_keys(), problem.goals, strict=True):
            levels = result.level_success[key]
            assert len(levels) == goal.num_levels
            assert sum(levels) == pytest.approx(result.goal_success[key], abs=1e-12)
    assert report["greedy"].efficiency < 1.0
    assert "goal college" in report.to_markdown(per_goal=True)


def test_greedy_takes_the_affordable_decision_with_the_most_utility():
    problem = small_general_problem()
    greedy = GreedyGoals(solve_dp(problem))
    # t = 2, cash W + 2: decisions cost 0 3 6 4 7 10, utility 0 2 5 3 5 8
    decision, _ = greedy.act(2, np.array([0.5, 2.0, 4.5, 5.5, 8.0]))
    assert decision.tolist() == [0, 3, 2, 2, 5]  # cash 7.5: 2 and 4 give 5, 2 is cheaper


@pytest.mark.parametrize("make_strategy", [
    lambda p: BuyAndHold(portfolio=1, take_probability=0.7, seed=3, problem=p),
    lambda p: RandomPolicy(p, take_probability=0.7, seed=3),
])
def test_coin_flip_strategies_draw_among_affordable_decisions(make_strategy):
    problem = small_general_problem()
    strategy = make_strategy(problem)
    wealth = np.full(20_000, 3.5)  # cash 5.5 at t = 2: decisions 1 (cost 3) and 3 (cost 4)
    decision, _ = strategy.act(2, wealth)
    counts = np.bincount(decision, minlength=6)
    assert counts[2] == 0 and counts[4:].sum() == 0
    assert counts[0] / wealth.size == pytest.approx(0.3, abs=0.02)
    for d in (1, 3):
        assert counts[d] / wealth.size == pytest.approx(0.35, abs=0.02)


def test_hybrid_passes_decisions_through_to_the_dp_portfolios():
    problem = small_general_problem()
    dp = solve_dp(problem)
    hybrid = Hybrid(goals_from=dp, portfolios_from=dp)
    report = evaluate({"dp": dp, "hybrid": hybrid}, problem, n_paths=5_000, seed=2)
    assert report["hybrid"].mean_utility == pytest.approx(report["dp"].mean_utility, rel=1e-3)


def test_hybrid_keeps_decision_indices_whatever_the_portfolio_source():
    problem = small_general_problem()
    dp = solve_dp(problem)
    hybrid = Hybrid(goals_from=dp, portfolios_from=BuyAndHold(portfolio=1))
    wealth = np.array([8.0, 20.0])  # cash 10 and 22 at t = 2: the DP takes decision 5
    decision, portfolio = hybrid.act(2, wealth)
    np.testing.assert_array_equal(decision, dp.act(2, wealth)[0])
    assert decision.max() > 1 and portfolio.tolist() == [1, 1]
