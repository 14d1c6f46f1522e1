"""A survival table: the plan ends at death. The DP, the simulators and problem files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.envs import GBWMEnv, GBWMVecEnv
from gbwm_sb3.evaluation import evaluate
from gbwm_sb3.evaluation.strategies import BuyAndHold
from gbwm_sb3.problem.files import load_problem, save_problem
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios

PORTFOLIOS = Portfolios(means=[0.03, 0.06, 0.09], volatilities=[0.02, 0.1, 0.2])


def two_goals(survival=(), portfolios=PORTFOLIOS) -> GBWMProblem:
    """A goal at 4 and a larger, dearer one at 10; W0 just short of both."""
    return GBWMProblem(horizon=10, initial_wealth=100.0,
                       goals=(Goal(4, 45.0, 10.0), Goal(10, 90.0, 14.0)),
                       portfolios=portfolios, survival=survival)


def test_survival_is_validated_and_read_from_files(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"survival\[2\] must be a probability in \[0, 1\]"):
        two_goals(survival=[0.9] * 2 + [1.5] + [0.9] * 7)
    with pytest.raises(ValueError, match="one probability per year 0..T-1, i.e. length 10"):
        two_goals(survival=[0.9] * 3)
    assert two_goals(survival=[1.0] * 10).survival == ()  # certain: no table
    problem = two_goals(survival={7: 0.8, 8: 0.8})
    assert problem.survival_by_time.tolist() == [1.0] * 7 + [0.8, 0.8, 1.0, 1.0]
    assert not problem.in_paper_family
    path = tmp_path / "p.yaml"
    save_problem(problem, path)
    assert "survival:" in path.read_text()
    assert load_problem(path) == problem
    path.write_text(path.read_text().replace("survival: [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, "
                                             "0.8, 0.8, 1.0]",
                                             "survival: [{probability: 0.8, from: 7, to: 8}]"))
    assert load_problem(path) == problem
    path.write_text(path.read_text().replace("probability: 0.8", "probability: 2"))
    with pytest.raises(ValueError, match=r"survival\[0\].probability: must be a number in "
                                         r"\[0, 1\]"):
        load_problem(path)


def test_a_single_final_goal_is_worth_the_survival_probability_times_as_much() -> None:
    """Death is independent of markets and decisions: with one goal at T the optimal policy
    is unchanged and the value is scaled by the probability of living to T."""
    survival = [0.97, 0.99, 0.9, 0.95, 1.0, 0.98]
    base = GBWMProblem(horizon=6, initial_wealth=50.0, goals=(Goal(6, 60.0, 1.0),),
                       portfolios=PORTFOLIOS)
    mortal = GBWMProblem(horizon=6, initial_wealth=50.0, goals=(Goal(6, 60.0, 1.0),),
                         portfolios=PORTFOLIOS, survival=survival)
    a, b = solve_dp(base), solve_dp(mortal)
    assert b.expected_utility == pytest.approx(math.prod(survival) * a.expected_utility,
                                               rel=1e-12)
    wealth = np.linspace(20.0, 90.0, 50)
    for t in range(6):
        np.testing.assert_array_equal(a.act(t, wealth)[1], b.act(t, wealth)[1])


@pytest.mark.parametrize("portfolios", [PORTFOLIOS, Portfolios(means=[0.02, 0.07],
                                                               volatilities=[0.0, 0.15])],
                         ids=["smooth", "with_cash"])
def test_dp_value_matches_a_simulation_of_its_own_policy(portfolios) -> None:
    problem = two_goals(survival=[0.97] * 4 + [0.85] * 6, portfolios=portfolios)
    dp = solve_dp(problem)
    report = evaluate({"dp": dp}, problem, n_paths=100_000, seed=3)
    result = report["dp"]
    assert abs(result.mean_utility - dp.expected_utility) < 3 * result.std_error
    # a shorter life makes the early goal worth more: the optimum takes it more often
    # (among those alive at year 4, a share 0.97^4 of the paths)
    immortal = evaluate({"dp": solve_dp(two_goals(portfolios=portfolios))},
                        two_goals(portfolios=portfolios), n_paths=100_000, seed=3)
    taken_alive = result.goal_success["4"] / 0.97**4
    assert taken_alive > immortal["dp"].goal_success["4"] + 0.02
    assert result.bankruptcy_probability is None  # no withdrawals


def test_deaths_are_common_random_numbers_and_end_the_plan() -> None:
    problem = two_goals(survival=[0.9] * 10)
    report = evaluate({"a": BuyAndHold(2, seed=0, problem=problem),
                       "b": BuyAndHold(2, seed=0, problem=problem)}, problem, n_paths=20_000)
    assert report["a"].mean_utility == report["b"].mean_utility
    # no goal after death: the final goal is reached by at most the survivors
    assert report["a"].goal_success["10"] <= 0.9**10 + 3 * math.sqrt(0.9**10 * 0.65 / 20_000)


def test_envs_end_the_plan_at_death() -> None:
    problem = two_goals(survival=[0.8] * 10)
    vec = GBWMVecEnv(20_000, problem=problem, seed=4, step_info=True)
    vec.reset()
    for _ in range(problem.horizon - 1):
        _, rewards, _, infos = vec.step(np.tile([0, 2], (20_000, 1)))
    alive = vec.alive
    assert abs(alive.mean() - 0.8**9) < 4 * math.sqrt(0.8**9 * (1 - 0.8**9) / 20_000)
    assert np.all(vec.wealth[~alive] == 0.0)
    assert [info["alive"] for info in infos[:50]] == alive[:50].tolist()
    _, rewards, _, _ = vec.step(np.tile([0, 2], (20_000, 1)))  # T: automatic take
    assert np.all(rewards[~alive] == 0.0)
    env = GBWMEnv(problem=problem)
    env.reset(seed=0)
    seen = []
    for _ in range(problem.horizon):
        _, reward, _, _, info = env.step(np.array([0, 2]))
        seen.append(info["alive"])
        if not info["alive"]:
            assert reward == 0.0 and env.wealth == 0.0
    assert seen == sorted(seen, reverse=True)  # once dead, always dead
