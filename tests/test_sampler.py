"""The problem sampler and its envelope: determinism, coverage, validity, refusals."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from gbwm_sb3.problem.model import MAX_DECISIONS_PER_YEAR, GBWMProblem, Goal, paper_problem
from gbwm_sb3.problem.sampler import (
    DEFAULT_ENVELOPE,
    ProblemEnvelope,
    funding_ratio,
    sample_problem,
    sample_problems,
    savings_rate,
)


@pytest.fixture(scope="module")
def drawn() -> list[GBWMProblem]:
    return sample_problems(500, seed=0)


def _goals_per_year(problem: GBWMProblem) -> int:
    return int(np.bincount([g.time for g in problem.goals]).max())


def test_same_seed_same_problems() -> None:
    assert sample_problems(20, seed=7) == sample_problems(20, seed=7)
    assert sample_problem(3) == sample_problem(np.random.default_rng(3))
    assert sample_problems(5, seed=7) != sample_problems(5, seed=8)


def test_generator_is_advanced() -> None:
    rng = np.random.default_rng(1)
    first, second = sample_problem(rng), sample_problem(rng)
    assert first != second
    assert sample_problems(2, seed=1) == [first, second]


def test_500_draws_are_valid_and_inside(drawn: list[GBWMProblem]) -> None:
    for problem in drawn:
        assert isinstance(problem, GBWMProblem)
        assert DEFAULT_ENVELOPE.contains(problem) == []
        per_year = [len(problem.decisions(t)) for t in range(problem.horizon + 1)]
        assert max(per_year) <= DEFAULT_ENVELOPE.max_decisions_per_year <= MAX_DECISIONS_PER_YEAR
        assert problem.initial_wealth > 0
        assert np.all(np.diff(problem.portfolios.mean_array) > 0)
        assert np.all(np.diff(problem.portfolios.volatility_array) > 0)


def test_draws_reach_the_envelope_extremes(drawn: list[GBWMProblem]) -> None:
    horizons = {p.horizon for p in drawn}
    assert {1, 40} <= horizons
    assert max(len(p.goals) for p in drawn) == 20
    assert min(len(p.goals) for p in drawn) == 1
    assert max(_goals_per_year(p) for p in drawn) == 4
    assert max(g.num_levels for p in drawn for g in p.goals) == 3
    assert any(_goals_per_year(p) == 4 and max(g.num_levels for g in p.goals) == 3
               for p in drawn)
    assert max(p.max_decisions for p in drawn) == 64
    rates = np.array([savings_rate(p) for p in drawn])
    assert np.mean(rates == 0.0) > 0.2 and rates.max() > 0.7
    ratios = np.array([funding_ratio(p) for p in drawn])
    assert ratios.min() < 0.3 and ratios.max() > 3.0
    counts = {p.num_portfolios for p in drawn}
    assert {5, 20} <= counts
    top_means = np.array([p.portfolios.means[-1] for p in drawn])
    assert top_means.min() < 0.06 and top_means.max() > 0.11  # varied capital markets


def test_funding_ratio_and_savings_rate_are_scale_free() -> None:
    problem = sample_problems(30, seed=2)[-1]
    scaled = problem.scaled(1e4)
    assert funding_ratio(scaled) == pytest.approx(funding_ratio(problem), rel=1e-12)
    assert savings_rate(scaled) == pytest.approx(savings_rate(problem), rel=1e-12)


def test_paper_problems_are_inside_the_default_envelope() -> None:
    for num_goals in (1, 2, 4, 8, 16):
        assert DEFAULT_ENVELOPE.contains(paper_problem(num_goals)) == []


def test_contains_names_every_field_and_range() -> None:
    goals = [Goal(time=1, levels=[(1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (4.0, 4.0)])]
    goals += [Goal(time=2, cost=1.0, utility=1.0) for _ in range(5)]
    goals += [Goal(time=t, cost=1.0, utility=1.0) for t in range(3, 45)]
    problem = GBWMProblem(horizon=45, initial_wealth=1e6, goals=goals,
                          portfolios=paper_problem(4).portfolios,
                          infusions=[5e6] + [0.0] * 44)
    reasons = DEFAULT_ENVELOPE.contains(problem)
    text = "\n".join(reasons)
    assert "horizon: 45 years is outside the supported range 1..40 years" in text
    assert "num_goals: 48 is outside the supported range 1..20" in text
    assert "max_goals_per_year: year 2 has 5 goals; at most 4" in text
    assert "max_levels: a goal has 4 levels; at most 3" in text
    assert "savings_rate: 5 is outside the supported range 0..1" in text
    assert any(r.startswith("funding_ratio:") and "0.25..4" in r for r in reasons)
    assert len(reasons) == 6


def test_contains_a_problem_without_goals() -> None:
    problem = GBWMProblem(horizon=5, initial_wealth=10.0, goals=())
    reasons = DEFAULT_ENVELOPE.contains(problem)
    assert reasons == ["num_goals: 0 is outside the supported range 1..20",
                       "funding_ratio: the problem has no goal with a positive cost; "
                       "the funding ratio is undefined"]


def test_contains_portfolios_and_decisions() -> None:
    from gbwm_sb3.problem.model import Portfolios
    goals = [Goal(time=1, levels=[(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]) for _ in range(4)]
    problem = GBWMProblem(horizon=2, initial_wealth=20.0, goals=goals,
                          portfolios=Portfolios(means=[0.05, 0.3], volatilities=[0.1, 0.5]))
    reasons = DEFAULT_ENVELOPE.contains(problem)
    assert any("max_decisions_per_year: year 1 has 256 decisions; at most 64" in r
               for r in reasons)
    assert any("num_portfolios: 2 is outside the supported range 5..20" in r for r in reasons)
    assert any(r.startswith("portfolio_mean:") and "-0.05..0.2" in r for r in reasons)
    assert any(r.startswith("portfolio_volatility:") and "0.005..0.4" in r for r in reasons)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("horizon", (0, 40), "horizon must satisfy 1 <= lo <= hi"),
    ("horizon", (10, 5), "horizon must satisfy"),
    ("num_goals", (1.5, 3), "num_goals must be a pair of integers"),
    ("max_goals_per_year", 0, "max_goals_per_year must be an integer in 1..8"),
    ("max_levels", True, "max_levels must be an integer"),
    ("max_decisions_per_year", 300, "max_decisions_per_year must be an integer in 1..256"),
    ("max_decisions_per_year", 1, "max_decisions_per_year must be an integer in 2..256"),
    ("savings_rate", (-0.1, 1.0), "savings_rate must satisfy 0.0 <= lo"),
    ("no_savings_probability", 1.5, "no_savings_probability must be a number in [0, 1]"),
    ("funding_ratio", (0.0, 2.0), "funding_ratio must have lo > 0"),
    ("num_portfolios", (5,), "num_portfolios must be a pair"),
    ("portfolio_volatility", (0.0, 0.3), "portfolio_volatility must have lo > 0"),
    ("portfolio_mean", (0.0, float("nan")), "portfolio_mean must satisfy"),
])
def test_envelope_validation(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ProblemEnvelope(**{field: value})


def test_envelope_is_frozen_and_goals_must_fit() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_ENVELOPE.horizon = (1, 2)  # type: ignore[misc]
    with pytest.raises(ValueError, match="do not fit in 3 years of at most 1"):
        ProblemEnvelope(horizon=(1, 2), num_goals=(4, 5), max_goals_per_year=1)


def test_narrow_envelope_is_respected() -> None:
    envelope = ProblemEnvelope(horizon=(16, 16), num_goals=(4, 4), max_goals_per_year=1,
                               max_levels=1, savings_rate=(0.0, 0.0), funding_ratio=(1.0, 1.0),
                               num_portfolios=(15, 15))
    for problem in sample_problems(20, seed=5, envelope=envelope):
        assert problem.horizon == 16 and len(problem.goals) == 4
        assert problem.in_paper_family and problem.num_portfolios == 15
        assert funding_ratio(problem) == pytest.approx(1.0)
        assert envelope.contains(problem) == []


def test_many_goals_get_enough_years() -> None:
    envelope = ProblemEnvelope(num_goals=(12, 20), max_goals_per_year=2)
    problems = sample_problems(40, seed=6, envelope=envelope)
    assert min(p.horizon for p in problems) >= 5  # 12 goals need 6 years (0..5) of 2
    assert all(len(p.goals) >= 12 and envelope.contains(p) == [] for p in problems)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="rng_or_seed must be"):
        sample_problem(-1)
    with pytest.raises(ValueError, match="envelope must be a ProblemEnvelope"):
        sample_problem(0, envelope={})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        sample_problems(-2, seed=0)
    with pytest.raises(ValueError, match="problem must be a GBWMProblem, got dict"):
        DEFAULT_ENVELOPE.contains({})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no problem inside it was found"):
        sample_problem(0, ProblemEnvelope(portfolio_mean=(0.5, 0.6)))
