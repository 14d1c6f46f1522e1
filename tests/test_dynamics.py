"""The year kernel: one problem table and one definition of a year for every simulator."""

from __future__ import annotations

import numpy as np
import pytest
from general_problems import random_general_problem, small_general_problem

from gbwm_sb3.envs.dynamics import (
    ProblemTable,
    YearOutcome,
    affordability_thresholds,
    decision_mask,
    problem_table,
    rollout,
    step_year,
    step_years,
)
from gbwm_sb3.problem.model import paper_problem

PROBLEMS = [paper_problem(4), paper_problem(8), small_general_problem()] + [
    random_general_problem(np.random.default_rng(seed)) for seed in range(3)]


def test_trajectories_of_many_problems_step_as_each_problem_alone() -> None:
    """A shared table with a row and a year per trajectory gives, bit for bit, what each
    problem's own one-row table gives."""
    table = ProblemTable.from_problems(PROBLEMS)
    rng = np.random.default_rng(0)
    n = 400
    rows = rng.integers(0, len(PROBLEMS), n)
    t = np.array([rng.integers(0, PROBLEMS[r].horizon) for r in rows])
    wealth = rng.uniform(0.0, 150.0, n)
    decision = np.array([rng.integers(0, PROBLEMS[r].max_decisions) for r in rows])
    portfolio = np.array([rng.integers(0, PROBLEMS[r].num_portfolios) for r in rows])
    shocks = rng.standard_normal(n)
    together = step_years(table, rows, t, wealth, decision, portfolio, shocks)
    for i in range(n):
        alone = step_year(problem_table(PROBLEMS[rows[i]]), int(t[i]), wealth[i:i + 1],
                          decision[i:i + 1], portfolio[i:i + 1], shocks[i:i + 1])
        for got, expected in zip(together, alone, strict=True):
            assert got[i] == expected[0]


def test_decision_mask_is_exists_and_costs_at_most_the_cash() -> None:
    problem = small_general_problem()
    table = problem_table(problem)
    wealth = np.linspace(0.0, 20.0, 81)
    for t in range(problem.horizon):
        cash = wealth + problem.infusion_by_time[t]
        expected = np.zeros((wealth.size, table.max_decisions), dtype=bool)
        for d in problem.decisions(t):
            expected[:, d.index] = d.cost <= cash
        np.testing.assert_array_equal(decision_mask(table, 0, t, wealth), expected)
    assert not decision_mask(table, 0, problem.horizon, wealth).any()


def test_decisions_become_affordable_at_their_thresholds() -> None:
    """Just above each threshold ``cost - I(t)`` the decisions of that cost are affordable,
    just below they are not (the thresholds are where the value and the policy jump)."""
    problem = small_general_problem()
    table = problem_table(problem)
    for t in range(problem.horizon):
        offsets = table.decision_cost[0, t] - table.infusions[0, t]
        for threshold in affordability_thresholds(table, 0, t, first=1):
            here = np.isclose(offsets, threshold, rtol=1e-12, atol=0.0)
            above = decision_mask(table, 0, t, np.array([threshold * (1 + 1e-9)]))[0]
            below = decision_mask(table, 0, t, np.array([threshold * (1 - 1e-9)]))[0]
            assert above[here].all() and not below[here].any()


class _Recorded:
    """A fixed random policy over decision indices and portfolios (seeded per year)."""

    def __init__(self, problem_k: int, n: int) -> None:
        self.k, self.n = problem_k, n

    def act(self, t: int, wealth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(t)
        return rng.integers(0, self.k, wealth.size), rng.integers(0, self.n, wealth.size)


@pytest.mark.parametrize("problem", PROBLEMS[::2], ids=lambda p: f"T{p.horizon}")
def test_rollout_is_the_year_kernel_applied_year_after_year(problem) -> None:
    table = problem_table(problem)
    shocks = np.random.default_rng(1).standard_normal((problem.horizon, 300))
    policy = _Recorded(problem.max_decisions, problem.num_portfolios)
    seen: list[YearOutcome] = []
    total, terminal = rollout(table, policy, shocks, observe=seen.append)
    wealth = np.full(300, problem.initial_wealth)
    expected_total = np.zeros(300)
    for t in range(problem.horizon):
        decision, portfolio = policy.act(t, wealth)
        np.testing.assert_array_equal(seen[t].wealth, wealth)
        wealth, reward, applied, final = step_year(table, t, wealth, decision, portfolio,
                                                   shocks[t])
        expected_total += reward
        np.testing.assert_array_equal(seen[t].applied, applied)
        assert (seen[t].final is None) == (t + 1 < problem.horizon)
    np.testing.assert_array_equal(seen[-1].final, final)
    np.testing.assert_array_equal(total, expected_total)
    np.testing.assert_array_equal(terminal, wealth)


def test_problem_table_is_cached_and_read_only() -> None:
    problem = small_general_problem()
    table = problem_table(problem)
    assert problem_table(problem) is table
    with pytest.raises(ValueError):
        table.decision_cost[0, 0, 0] = 1.0


def test_a_problem_that_does_not_fit_the_table_is_refused_naming_the_field() -> None:
    table = ProblemTable(1, time_steps=5, max_decisions=2, max_portfolios=20)
    with pytest.raises(ValueError, match="horizon: 16 years"):
        table.write([0], [paper_problem(4)])
    with pytest.raises(ValueError, match="decisions: 6"):
        ProblemTable(1, time_steps=8, max_decisions=2, max_portfolios=20).write(
            [0], [small_general_problem()])
