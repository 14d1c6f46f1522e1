"""Property-based tests of the Python entry points: any input either builds a problem or is
refused with a ValueError, and every problem that builds has a finite optimum, at most the
utility on offer, and a policy defined at every wealth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios

# hostile numbers: NaN, infinities, huge and tiny magnitudes, negatives, booleans, strings
HOSTILE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-320, 5e-324, 1e-9, 1e15, 1.7e308, -1.0, True, False]),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.text(max_size=5),
    st.none(),
)
MONEY = st.one_of(st.floats(min_value=1e-6, max_value=1e4), st.sampled_from([0.0, 1e-9, 1e6]))
VOLATILITY = st.one_of(st.sampled_from([0.0, 1e-300, 1e-6, 1e-4, 5e-4, 0.002]),
                       st.floats(min_value=0.0, max_value=0.6))


def _build(horizon, wealth, goal_specs, means, vols, savings):
    goals = []
    for time, levels in goal_specs:
        goals.append(Goal(time, levels=levels) if len(levels) > 1
                     else Goal(time, levels[0][0], levels[0][1]))
    return GBWMProblem(horizon=horizon, initial_wealth=wealth, goals=tuple(goals),
                       portfolios=Portfolios(means=means, volatilities=vols),
                       infusions=savings)


@given(horizon=st.one_of(st.integers(-5, 200), HOSTILE), wealth=HOSTILE,
       cost=HOSTILE, utility=HOSTILE, mean=HOSTILE, vol=HOSTILE)
def test_hostile_fields_are_refused_with_a_value_error(horizon, wealth, cost, utility, mean,
                                                       vol) -> None:
    try:
        problem = GBWMProblem(horizon=horizon, initial_wealth=wealth,
                              goals=(Goal(1, cost, utility),),
                              portfolios=Portfolios(means=[mean], volatilities=[vol]))
    except ValueError as exc:
        assert len(str(exc)) < 400  # names the field; never renders a huge value
        return
    assert math.isfinite(problem.initial_wealth) and problem.horizon >= 1
    assert all(math.isfinite(x) for g in problem.goals for level in g.levels for x in level)


@st.composite
def small_problems(draw):
    horizon = draw(st.integers(1, 10))
    specs = []
    for _ in range(draw(st.integers(1, 3))):
        time = draw(st.integers(0, horizon))
        levels = draw(st.lists(st.tuples(MONEY, st.floats(0.0, 100.0)), min_size=1,
                               max_size=3))
        specs.append((time, levels))
    n = draw(st.integers(1, 4))
    means = draw(st.lists(st.floats(-0.05, 0.15), min_size=n, max_size=n))
    vols = draw(st.lists(VOLATILITY, min_size=n, max_size=n))
    savings = draw(st.one_of(st.just(()), st.lists(MONEY, min_size=horizon,
                                                   max_size=horizon)))
    wealth = draw(st.floats(min_value=1e-3, max_value=1e4))
    return horizon, wealth, specs, means, vols, savings


def _check_solution(args) -> None:
    try:
        problem = _build(*args)
    except ValueError:
        return
    solution = solve_dp(problem)
    value = solution.expected_utility
    assert math.isfinite(value)
    assert -1e-9 <= value <= problem.total_utility * (1 + 1e-9) + 1e-9
    wealth = np.array([0.0, 1e-6, problem.initial_wealth, 10 * problem.initial_wealth, 1e12])
    for t in range(problem.horizon + 1):
        decision, portfolio = solution.act(t, wealth)
        assert np.all((portfolio >= 0) & (portfolio < problem.num_portfolios))
        if t < problem.horizon:
            assert np.all(np.isfinite(solution.value_at(t, wealth)))


@given(small_problems())
def test_every_valid_problem_has_a_finite_optimum_and_policy(args) -> None:
    _check_solution(args)


@pytest.mark.slow
@settings(max_examples=300)
@given(small_problems())
def test_every_valid_problem_has_a_finite_optimum_and_policy_long(args) -> None:
    _check_solution(args)
