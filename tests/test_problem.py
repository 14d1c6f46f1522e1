"""GBWMProblem validation and the paper's problem family."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gbwm_sb3 import GBWMProblem, Goal, Portfolios, paper_problem
from gbwm_sb3.problem import paper_portfolios
from gbwm_sb3.problem.model import PAPER_HORIZON, PAPER_NUM_GOALS

# The paper's portfolio table: (mu, sigma) for portfolios #1..#15.
SPEC_TABLE = [
    (0.052632, 0.037351), (0.055204, 0.039785), (0.057775, 0.046326), (0.060347, 0.055542),
    (0.062919, 0.066327), (0.065491, 0.078032), (0.068062, 0.090302), (0.070634, 0.102933),
    (0.073206, 0.115808), (0.075777, 0.128854), (0.078349, 0.142024), (0.080921, 0.155286),
    (0.083493, 0.168619), (0.086064, 0.182006), (0.088636, 0.195437),
]


def make(**overrides):
    """A small valid problem with ``overrides`` applied."""
    fields = dict(
        horizon=4,
        initial_wealth=10.0,
        goals=(Goal(time=2, cost=5.0, utility=3.0), Goal(time=4, cost=6.0, utility=4.0)),
        portfolios=Portfolios(means=[0.03, 0.06], volatilities=[0.05, 0.15]),
    )
    fields.update(overrides)
    return GBWMProblem(**fields)


# ----- valid construction -----
def test_valid_problem_fields_and_derived_arrays():
    p = make(goals=(Goal(time=4, cost=6.0, utility=4.0), Goal(time=0, cost=1.0, utility=2.0)))
    assert p.horizon == 4 and p.initial_wealth == 10.0
    assert p.goal_times == (0, 4)  # sorted, time 0 allowed
    np.testing.assert_array_equal(p.cost_by_time, [1.0, 0, 0, 0, 6.0])
    np.testing.assert_array_equal(p.utility_by_time, [2.0, 0, 0, 0, 4.0])
    np.testing.assert_array_equal(p.has_goal, [True, False, False, False, True])
    assert p.num_portfolios == 2 and p.total_utility == 6.0


def test_problem_is_hashable_and_frozen():
    assert hash(make()) == hash(make())
    assert make() == make()
    with pytest.raises(AttributeError):
        make().horizon = 5  # type: ignore[misc]


def test_goals_given_as_tuples_or_dicts():
    p = make(goals=[(2, 5.0, 3.0), {"time": 4, "cost": 6.0, "utility": 4.0}])
    assert p.goal_times == (2, 4)


def test_zero_cost_and_zero_utility_goals_are_allowed():
    p = make(goals=(Goal(time=1, cost=0.0, utility=0.0),))
    assert p.cost_by_time[1] == 0.0


# ----- validation: each error names its field -----
@pytest.mark.parametrize("horizon", [0, -3, 2.5, "16", None, True])
def test_bad_horizon(horizon):
    with pytest.raises(ValueError, match="horizon"):
        make(horizon=horizon, goals=())


def test_integer_valued_float_horizon_accepted():
    assert make(horizon=4.0).horizon == 4


@pytest.mark.parametrize("wealth", [0.0, -1.0, math.nan, math.inf, "abc"])
def test_bad_initial_wealth(wealth):
    with pytest.raises(ValueError, match="initial_wealth"):
        make(initial_wealth=wealth)


@pytest.mark.parametrize("time", [-1, 5, 100])
def test_goal_time_outside_horizon(time):
    with pytest.raises(ValueError, match=r"goal time must be in 0\.\.4"):
        make(goals=(Goal(time=time, cost=1.0, utility=1.0),))


@pytest.mark.parametrize("time", [2.5, math.nan, math.inf, "x", None, True])
def test_non_integer_goal_time(time):
    with pytest.raises(ValueError, match="goal time"):
        Goal(time=time, cost=1.0, utility=1.0)


def test_two_goals_at_one_time_give_the_product_of_their_options():
    problem = make(goals=(Goal(time=2, cost=1.0, utility=1.0), Goal(time=2, cost=2.0, utility=2.5)))
    decisions = problem.decisions(2)
    assert [d.levels for d in decisions] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [d.cost for d in decisions] == [0.0, 2.0, 1.0, 3.0]
    assert [d.utility for d in decisions] == [0.0, 2.5, 1.0, 3.5]
    assert not problem.in_paper_family and problem.max_decisions == 4


@pytest.mark.parametrize("field", ["cost", "utility"])
@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf, -math.inf])
def test_bad_cost_or_utility(field, value):
    kwargs = {"time": 1, "cost": 1.0, "utility": 1.0, field: value}
    with pytest.raises(ValueError, match=f"goal {field}"):
        Goal(**kwargs)


def test_no_portfolios():
    with pytest.raises(ValueError, match="at least 1 portfolio"):
        Portfolios(means=[], volatilities=[])


@pytest.mark.parametrize("vol", [-0.1, -1e-300, 2.5, math.nan, math.inf, True])
def test_bad_volatility(vol):
    with pytest.raises(ValueError, match=r"portfolio volatility \[1\]"):
        Portfolios(means=[0.03, 0.05], volatilities=[0.1, vol])


def test_riskless_portfolio_is_allowed():
    portfolios = Portfolios(means=[0.02, 0.05], volatilities=[0.0, 0.1])
    assert portfolios.volatilities == (0.0, 0.1)
    assert portfolios.log_drifts[0] == 0.02


@pytest.mark.parametrize(("field", "kwargs"), [
    ("initial_wealth", {"initial_wealth": 1e16}),
    ("initial_wealth", {"initial_wealth": True}),
    ("horizon", {"horizon": 10**6}),
    ("infusions\\[1\\]", {"infusions": [0.0, 1e308, 0.0, 0.0]}),
    ("infusions\\[0\\]", {"infusions": [True, 0.0, 0.0, 0.0]}),
])
def test_amounts_and_sizes_are_bounded(field, kwargs):
    """Money, utilities and the horizon have documented bounds, so totals stay finite."""
    base = {"horizon": 4, "initial_wealth": 10.0, "goals": (Goal(2, 5.0, 1.0),)}
    with pytest.raises(ValueError, match=field):
        GBWMProblem(**{**base, **kwargs})


def test_goal_amounts_are_bounded():
    with pytest.raises(ValueError, match="goal cost must be <= 1e"):
        Goal(2, 1.7e308, 1.0)
    with pytest.raises(ValueError, match="goal utility must be <= 1e"):
        Goal(2, 1.0, 1e308)
    with pytest.raises(ValueError, match="goal level 2 cost must be <= 1e"):
        Goal(2, levels=[(1.0, 1.0), (1e308, 2.0)])
    with pytest.raises(ValueError, match="goal cost must be a real number"):
        Goal(2, True, 1.0)


@pytest.mark.parametrize("mean", [-1.5, 2.0])
def test_mean_bounds(mean):
    with pytest.raises(ValueError, match=r"portfolio mean \[0\] must be"):
        Portfolios(means=[mean], volatilities=[0.1])


def test_error_messages_are_bounded():
    """A huge value is never rendered whole into an error message."""
    huge = list(range(10**6))
    with pytest.raises(ValueError) as info:
        Goal(2, huge, 1.0)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("mean", [math.nan, math.inf])
def test_bad_mean(mean):
    with pytest.raises(ValueError, match=r"portfolio mean \[0\]"):
        Portfolios(means=[mean], volatilities=[0.1])


def test_mismatched_portfolio_lengths():
    with pytest.raises(ValueError, match="same length"):
        Portfolios(means=[0.03, 0.05], volatilities=[0.1])


def test_portfolios_must_be_portfolios_instance():
    with pytest.raises(ValueError, match="portfolios"):
        make(portfolios=[(0.03, 0.1)])


@pytest.mark.parametrize("num_goals", [0, 3, 5, 32, -4, True, "4", 2.5])
def test_paper_problem_rejects_num_goals(num_goals):
    with pytest.raises(ValueError, match=r"num_goals must be one of \(1, 2, 4, 8, 16\)"):
        paper_problem(num_goals)


@pytest.mark.parametrize("unit", [0.0, -1.0, math.nan])
def test_paper_problem_rejects_unit(unit):
    with pytest.raises(ValueError, match="unit"):
        paper_problem(4, unit=unit)


@pytest.mark.parametrize("factor", [0.0, -2.0, math.nan])
def test_scaled_rejects_factor(factor):
    with pytest.raises(ValueError, match="factor"):
        make().scaled(factor)


# ----- the paper's numbers -----
def test_paper_problem_seed_dollar_figures():
    p = paper_problem(4, unit=1e4)
    assert round(p.initial_wealth) == 389_881
    assert p.goal_times == (4, 8, 12, 16)
    assert [round(g.cost) for g in p.goals] == [136_049, 185_093, 251_817, 342_594]
    assert [g.utility for g in p.goals] == [14.0, 18.0, 22.0, 26.0]
    assert p.unit == 1e4


@pytest.mark.parametrize("num_goals", PAPER_NUM_GOALS)
def test_paper_problem_family(num_goals):
    p = paper_problem(num_goals)
    assert p.horizon == PAPER_HORIZON == 16
    spacing = 16 // num_goals
    assert p.goal_times == tuple(range(spacing, 17, spacing))
    assert 0 not in p.goal_times and 16 in p.goal_times
    assert p.initial_wealth == pytest.approx(12.0 * num_goals**0.85, rel=1e-12)
    for g in p.goals:
        assert g.cost == pytest.approx(10.0 * 1.08**g.time, rel=1e-12)
        assert g.utility == 10.0 + g.time
    assert p.num_portfolios == 15


def test_paper_problem_accepts_numpy_and_integral_float_num_goals():
    assert paper_problem(np.int64(8)) == paper_problem(8)
    assert paper_problem(4.0) == paper_problem(4)


def test_scaled_changes_only_money():
    p = paper_problem(4)
    q = p.scaled(1e4)
    assert q.initial_wealth == pytest.approx(p.initial_wealth * 1e4)
    assert [g.cost for g in q.goals] == pytest.approx([g.cost * 1e4 for g in p.goals])
    assert [g.utility for g in q.goals] == [g.utility for g in p.goals]
    assert q.portfolios == p.portfolios and q.unit == 1e4


def test_paper_portfolios_match_spec_table():
    ports = paper_portfolios()
    assert len(ports) == 15
    np.testing.assert_allclose(ports.mean_array, [m for m, _ in SPEC_TABLE], atol=1e-6)
    np.testing.assert_allclose(ports.volatility_array, [s for _, s in SPEC_TABLE], atol=1e-6)
    np.testing.assert_allclose(ports.log_drifts, ports.mean_array - ports.volatility_array**2 / 2)
