"""The common-random-number evaluator: draws, statistics, efficiency, JSON, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gbwm_sb3 import paper_problem, solve_dp
from gbwm_sb3.envs.dynamics import problem_table, step_year
from gbwm_sb3.evaluation.evaluator import DRAW_BLOCK, EvaluationReport, evaluate, normal_draws
from gbwm_sb3.evaluation.strategies import BuyAndHold, GreedyGoals, Hybrid, RandomPolicy

PROBLEM = paper_problem(4)


@pytest.fixture(scope="module")
def dp():
    return solve_dp(PROBLEM)


class RecordingPolicy:
    """Holds portfolio ``j`` and takes every goal; records the wealth it is shown."""

    def __init__(self, portfolio: int = 3) -> None:
        self.portfolio = portfolio
        self.seen: list[tuple[int, np.ndarray]] = []

    def act(self, t, wealth):
        self.seen.append((t, wealth.copy()))
        return np.ones(wealth.shape, dtype=bool), np.full(wealth.shape, self.portfolio)


def test_normal_draws_do_not_depend_on_slicing():
    whole = normal_draws(7, 16, 0, 3 * DRAW_BLOCK + 100)
    assert whole.shape == (16, 3 * DRAW_BLOCK + 100)
    for start, stop in ((0, 10), (DRAW_BLOCK - 5, DRAW_BLOCK + 5), (100, 2 * DRAW_BLOCK + 37)):
        np.testing.assert_array_equal(normal_draws(7, 16, start, stop), whole[:, start:stop])
    assert not np.array_equal(normal_draws(8, 16, 0, 10), whole[:, :10])
    assert abs(whole.mean()) < 0.01 and abs(whole.std() - 1.0) < 0.01


def test_matches_a_hand_simulation_on_the_same_draws():
    report = evaluate({"hold #4": RecordingPolicy(3)}, PROBLEM, n_paths=5000, seed=4,
                      chunk_size=1234)
    table = problem_table(PROBLEM)
    draws = normal_draws(4, PROBLEM.horizon, 0, 5000)
    wealth = np.full(5000, PROBLEM.initial_wealth)
    total = np.zeros(5000)
    taken_by_time = {}
    for t in range(PROBLEM.horizon):
        wealth, reward, taken, final = step_year(table, t, wealth, np.ones(5000, bool),
                                                 np.full(5000, 3), draws[t])
        total += reward
        taken_by_time[t] = (taken > 0).mean()
        taken_by_time[PROBLEM.horizon] = (final > 0).mean()
    result = report["hold #4"]
    assert result.mean_utility == pytest.approx(total.mean(), rel=1e-12)
    assert result.std_error == pytest.approx(total.std(ddof=1) / math.sqrt(5000), rel=1e-9)
    assert result.terminal_wealth_mean == pytest.approx(wealth.mean(), rel=1e-12)
    assert result.terminal_wealth_quantiles["0.5"] == pytest.approx(np.median(wealth))
    for t in PROBLEM.goal_times:
        assert result.goal_success[str(t)] == pytest.approx(taken_by_time[t])
    assert result.goals_taken_mean == pytest.approx(sum(taken_by_time[t]
                                                        for t in PROBLEM.goal_times))
    assert result.efficiency is None  # no DP among the policies


def test_every_policy_sees_the_same_draws(dp):
    a, b = RecordingPolicy(3), RecordingPolicy(3)
    report = evaluate({"a": a, "DP": dp, "b": b}, PROBLEM, n_paths=3000, seed=2,
                      chunk_size=1000)
    for (ta, wa), (tb, wb) in zip(a.seen, b.seen, strict=True):
        assert ta == tb
        np.testing.assert_array_equal(wa, wb)
    assert report["a"].mean_utility == report["b"].mean_utility
    assert report["a"].difference_mean == report["b"].difference_mean
    assert list(report) == ["a", "DP", "b"]  # the caller's order
    assert report.reference == "DP"
    assert report["DP"].efficiency == 1.0 and report["DP"].difference_mean == 0.0


@pytest.mark.parametrize("chunk_size", [777, DRAW_BLOCK, 50_000])
def test_results_do_not_depend_on_chunk_size(dp, chunk_size):
    def policies():
        return {"DP": dp, "random": RandomPolicy(PROBLEM, seed=1),
                "B&H": BuyAndHold(seed=2), "greedy": GreedyGoals(dp)}

    base = evaluate(policies(), PROBLEM, n_paths=20_000, seed=9, chunk_size=20_000)
    other = evaluate(policies(), PROBLEM, n_paths=20_000, seed=9, chunk_size=chunk_size)
    for name in base:
        assert other[name].mean_utility == base[name].mean_utility, name
        assert other[name].terminal_wealth_quantiles == base[name].terminal_wealth_quantiles


def test_prefix_consistency_across_n_paths():
    """Path k's market does not depend on how many paths are simulated."""
    small = RecordingPolicy()
    large = RecordingPolicy()
    evaluate({"p": small}, PROBLEM, n_paths=100, seed=1)
    evaluate({"p": large}, PROBLEM, n_paths=10_000, seed=1)
    np.testing.assert_array_equal(small.seen[-1][1], large.seen[-1][1][:100])


def test_reusing_a_random_policy_gives_the_same_result():
    policy = RandomPolicy(PROBLEM, seed=3)
    first = evaluate({"r": policy}, PROBLEM, n_paths=5000, seed=1)["r"].mean_utility
    second = evaluate({"r": policy}, PROBLEM, n_paths=5000, seed=1)["r"].mean_utility
    assert first == second


def test_efficiency_and_paired_confidence_interval(dp):
    report = evaluate({"DP": dp, "B&H": BuyAndHold(seed=1)}, PROBLEM, n_paths=20_000, seed=3)
    bh = report["B&H"]
    assert bh.efficiency == pytest.approx(bh.mean_utility / report["DP"].mean_utility)
    lo, hi = bh.efficiency_ci
    assert lo < bh.efficiency < hi
    # paired CI is narrower than one treating the two samples as independent
    independent = math.hypot(bh.std_error, report["DP"].std_error) / report["DP"].mean_utility
    assert (hi - lo) / 2 < 1.96 * independent
    assert bh.difference_mean == pytest.approx(bh.mean_utility - report["DP"].mean_utility)


def test_paper_figure2_benchmarks_for_four_goals(dp):
    """Buy-and-hold #8 and random with coin-flip goals: ~0.72 and ~0.70 of DP (Figure 2)."""
    report = evaluate({"DP": dp, "buy-and-hold": BuyAndHold(seed=1),
                       "random": RandomPolicy(PROBLEM, seed=2)}, PROBLEM, n_paths=100_000)
    assert abs(report["buy-and-hold"].efficiency - 0.72) < 0.02
    assert abs(report["random"].efficiency - 0.70) < 0.02
    assert abs(report["DP"].mean_utility - dp.expected_utility) < 3 * report["DP"].std_error


def test_reference_selection(dp):
    policies = {"bh": BuyAndHold(), "optimum": dp}
    assert evaluate(policies, PROBLEM, n_paths=100).reference == "optimum"
    assert evaluate(policies, PROBLEM, n_paths=100, reference=None).reference is None
    report = evaluate(policies, PROBLEM, n_paths=100, reference="bh")
    assert report.reference == "bh" and report["bh"].efficiency == 1.0
    with pytest.raises(ValueError, match="reference"):
        evaluate(policies, PROBLEM, n_paths=100, reference="DP")


def test_report_prints_and_round_trips_json(dp):
    report = evaluate({"DP": dp, "greedy": GreedyGoals(dp),
                       "DP goals + #8": Hybrid(dp, BuyAndHold())}, PROBLEM, n_paths=2000)
    text = str(report)
    assert "| DP |" in text and "greedy" in text and "efficiency" in text
    assert "goal t=16" in report.to_markdown(per_goal=True)
    again = EvaluationReport.from_json(report.to_json())
    assert again.to_dict() == report.to_dict()
    assert again["greedy"].efficiency_ci == report["greedy"].efficiency_ci
    assert str(again) == text


class BadShape:
    def act(self, t, wealth):
        return np.zeros(3, dtype=bool), np.zeros(3, dtype=int)


class BadPortfolio:
    def act(self, t, wealth):
        return np.zeros(wealth.shape, dtype=bool), np.full(wealth.shape, 15)


@pytest.mark.parametrize("kwargs,field", [
    ({"policies": {}}, "policies"),
    ({"policies": {"x": object()}}, "act"),
    ({"policies": {"": BuyAndHold()}}, "names"),
    ({"n_paths": 0}, "n_paths"),
    ({"n_paths": 10.5}, "n_paths"),
    ({"seed": -1}, "seed"),
    ({"chunk_size": 0}, "chunk_size"),
    ({"problem": "paper"}, "problem"),
    ({"policies": {"bad": BadShape()}}, "shape"),
    ({"policies": {"bad": BadPortfolio()}}, "portfolio"),
])
def test_validation_errors(kwargs, field):
    args = {"policies": {"bh": BuyAndHold()}, "problem": PROBLEM, "n_paths": 100}
    args.update(kwargs)
    with pytest.raises(ValueError, match=field):
        evaluate(**args)


def test_policy_for_another_problem_is_rejected(dp):
    with pytest.raises(ValueError, match="different problem"):
        evaluate({"DP": dp}, paper_problem(2), n_paths=100)


@pytest.mark.slow
def test_million_paths_fit_in_memory(dp):
    import tracemalloc

    tracemalloc.start()
    evaluate({"DP": dp, "B&H": BuyAndHold()}, PROBLEM, n_paths=1_000_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1e9
