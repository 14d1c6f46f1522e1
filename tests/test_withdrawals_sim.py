"""Simulating withdrawals (bankruptcy) and fat-tailed markets: the kernel, the envs, evaluate."""

from __future__ import annotations

import numpy as np
import pytest

from gbwm_sb3.envs import GBWMEnv, GBWMVecEnv
from gbwm_sb3.envs.dynamics import problem_table, rollout, step_year
from gbwm_sb3.evaluation import evaluate, market_shocks, normal_draws
from gbwm_sb3.problem.market import LognormalMarket, StudentTMarket
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios
from gbwm_sb3.problem.sampler import DEFAULT_ENVELOPE

PORTFOLIOS = Portfolios(means=[0.03, 0.08], volatilities=[0.01, 0.25])


def withdrawal_problem(market=None) -> GBWMProblem:
    """T = 6: a withdrawal of 4 in years 1-3, savings of 5 in year 4, goals at 2 and 6."""
    kwargs = {} if market is None else {"market": market}
    return GBWMProblem(horizon=6, initial_wealth=14.0,
                       goals=(Goal(2, 1.0, 2.0), Goal(6, 0.5, 5.0)),
                       portfolios=PORTFOLIOS, infusions=[0.0, -4.0, -4.0, -4.0, 5.0, 0.0],
                       **kwargs)


class _Hold:
    def __init__(self, portfolio: int, decision: int = 0) -> None:
        self.portfolio, self.decision = portfolio, decision

    def act(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.full(wealth.shape, self.decision),
                np.full(wealth.shape, self.portfolio, dtype=np.intp))


def test_a_withdrawal_larger_than_the_cash_is_absorbing_bankruptcy() -> None:
    problem = withdrawal_problem()
    table = problem_table(problem)
    ended = np.zeros(3, dtype=bool)
    wealth = np.array([3.0, 4.0, 30.0])  # year 1: cash -1, 0, 26
    shocks = np.zeros(3)
    wealth, reward, applied, _ = step_year(table, 1, wealth, np.zeros(3), np.zeros(3),
                                           shocks, ended)
    np.testing.assert_array_equal(ended, [True, False, False])
    assert wealth[0] == 0.0 and wealth[1] == 0.0 and wealth[2] > 0.0
    # year 2: the goal costs 1; the bankrupt path takes nothing, the one at 0 is short of
    # cash (0 - 4 < 0) and goes bankrupt too
    wealth, reward, applied, _ = step_year(table, 2, wealth, np.ones(3), np.zeros(3),
                                           shocks, ended)
    np.testing.assert_array_equal(ended, [True, True, False])
    np.testing.assert_array_equal(applied, [0, 0, 1])
    np.testing.assert_array_equal(reward, [0.0, 0.0, 2.0])
    wealth, *_ = step_year(table, 3, wealth, np.zeros(3), np.zeros(3), shocks, ended)
    # year 4 brings savings of 5, which a bankrupt plan does not receive
    wealth, *_ = step_year(table, 4, wealth, np.zeros(3), np.zeros(3), shocks, ended)
    assert wealth[0] == 0.0 and wealth[1] == 0.0
    # at T the goal costs 0.5: nothing for the bankrupt paths
    wealth, reward, _, final = step_year(table, 5, wealth, np.zeros(3), np.zeros(3), shocks,
                                         ended)
    np.testing.assert_array_equal(final, [0, 0, 1])
    np.testing.assert_array_equal(reward, [0.0, 0.0, 5.0])


def test_evaluate_reports_the_probability_of_bankruptcy() -> None:
    problem = withdrawal_problem()
    policies = {"safe": _Hold(0), "risky": _Hold(1)}
    report = evaluate(policies, problem, n_paths=4000, seed=3)
    seen = {}
    for name, policy in policies.items():
        shocks = market_shocks(problem.market, 3, problem.horizon, 0, 4000)
        last = []
        rollout(problem_table(problem), policy, shocks, observe=last.append)
        seen[name] = float(last[-1].ended.mean())
        assert report[name].bankruptcy_probability == pytest.approx(seen[name], abs=0.0)
    assert seen["safe"] == 0.0 < seen["risky"] < 1.0  # cash at 3% pays 3 x 4 from 14
    assert "P(bankrupt)" in str(report)
    plain = evaluate({"safe": _Hold(0)}, GBWMProblem(horizon=3, initial_wealth=10.0,
                                                     goals=(Goal(3, 5.0, 1.0),),
                                                     portfolios=PORTFOLIOS), n_paths=100)
    assert plain["safe"].bankruptcy_probability is None and "P(bankrupt)" not in str(plain)


def test_env_and_vec_env_go_bankrupt_on_the_same_draws() -> None:
    problem = withdrawal_problem()
    draws = np.tile(np.linspace(-3.0, 1.0, 8), (problem.horizon, 1))
    vec = GBWMVecEnv(8, problem=problem, seed=0, step_info=True)
    vec.reset()
    vec.queue_normal_draws(draws)
    for _ in range(problem.horizon - 1):
        vec.step(np.tile([0, 1], (8, 1)))
    bankrupt_vec = vec.bankrupt
    assert 0 < bankrupt_vec.sum() < 8
    for i in range(8):
        env = GBWMEnv(problem=problem)
        env.reset(seed=0)
        env.queue_normal_draws(draws[:, i])
        for _ in range(problem.horizon - 1):
            obs, _, _, _, info = env.step(np.array([0, 1]))
            assert np.all(np.isfinite(obs)) and env.observation_space.contains(obs)
        assert info["bankrupt"] == bankrupt_vec[i]


def test_student_t_shocks_have_unit_variance_and_fat_tails() -> None:
    lognormal = market_shocks(LognormalMarket(), 5, 4, 0, 10_000)
    np.testing.assert_array_equal(lognormal, normal_draws(5, 4, 0, 10_000))
    shocks = market_shocks(StudentTMarket(5.0), 5, 4, 0, 200_000).ravel()
    assert abs(shocks.mean()) < 0.01 and abs(shocks.var() - 1.0) < 0.05
    kurtosis = float(np.mean(shocks**4))
    assert kurtosis > 5.0  # 3 for the normal law, 9 for t(5) scaled to unit variance
    # a path keeps its shocks whatever the range asked
    np.testing.assert_array_equal(market_shocks(StudentTMarket(5.0), 5, 4, 100, 200),
                                  market_shocks(StudentTMarket(5.0), 5, 4, 0, 200)[:, 100:])


def test_the_envs_draw_the_problem_markets_shocks() -> None:
    problem = withdrawal_problem(StudentTMarket(4.0))
    vec = GBWMVecEnv(20_000, problem=problem, seed=1)
    vec.reset()
    wealth_before = vec.wealth
    vec.step(np.tile([0, 1], (20_000, 1)))  # year 0: no infusion, the volatile portfolio
    z = (np.log(vec.wealth / wealth_before) - problem.portfolios.log_drifts[1]) / 0.25
    assert abs(z.var() - 1.0) < 0.1 and float(np.mean(z**4)) > 5.0
    env = GBWMEnv(problem=problem)
    env.reset(seed=2)
    expected = StudentTMarket(4.0).draw_shock(np.random.default_rng(
        np.random.SeedSequence(2)))  # gymnasium seeds np_random the same way
    env.step(np.array([0, 1]))
    got = (np.log(env.wealth / 14.0) - problem.portfolios.log_drifts[1]) / 0.25
    assert got == pytest.approx(expected, rel=1e-9)


def test_the_pretrained_envelope_refuses_withdrawals_and_other_markets() -> None:
    reasons = DEFAULT_ENVELOPE.contains(withdrawal_problem(StudentTMarket(6.0)))
    assert any(r.startswith("infusions: year 1 has a withdrawal") for r in reasons)
    assert any(r.startswith("market: student_t") for r in reasons)


def test_the_economies_example_runs_and_reports_bankruptcy() -> None:
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "economies.py"
    out = subprocess.run([sys.executable, str(script), "--trajectories", "0", "--paths", "2000"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    assert "student_t" in out and "P(bankrupt)" in out and "DP (optimal) | " in out


def test_cli_trains_and_evaluates_a_plan_with_withdrawals(tmp_path, capsys) -> None:
    from gbwm_sb3.cli.main import main

    plan = tmp_path / "plan.yaml"
    plan.write_text("""\
horizon: 5
initial_wealth: 20.0
goals:
  - {time: 5, cost: 4.0, utility: 5}
savings: [{amount: -4, from: 1, to: 4}]
portfolios:
  - {mean: 0.02, volatility: 0.03}
  - {mean: 0.09, volatility: 0.25}
market: {model: student_t, degrees_of_freedom: 5}
""")
    out = tmp_path / "run"
    assert main(["train", str(plan), "--out", str(out), "--trajectories", "256",
                 "--rollout-trajectories", "64", "--batch-size", "64", "--eval-paths", "400",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--paths", "2000", "--no-save"]) == 0
    printed = capsys.readouterr().out
    assert "P(bankrupt)" in printed.splitlines()[1]
    assert main(["solve", str(plan), "--paths", "2000"]) == 0
    printed = capsys.readouterr().out
    assert "Withdrawals: 16.00" in printed and "probability of bankruptcy" in printed
    assert "Market: student_t" in printed
