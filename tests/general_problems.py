"""Small problems of the general class shared by the tests."""

from __future__ import annotations

from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios


def small_general_problem(scale: float = 1.0) -> GBWMProblem:
    """T = 6: two goals at t = 2 (one with two levels), a goal at 4, a partial goal at T,
    yearly savings in years 0..3. K = 6 (t = 2: 2 x 3 decisions)."""
    return GBWMProblem(
        horizon=6,
        initial_wealth=10.0 * scale,
        goals=(
            Goal(2, 4.0 * scale, 3.0, name="car"),
            Goal(2, levels=[(3.0 * scale, 2.0), (6.0 * scale, 5.0)], name="college"),
            Goal(4, 8.0 * scale, 6.0),
            Goal(6, levels=[(5.0 * scale, 3.0), (10.0 * scale, 7.0)], name="retire"),
        ),
        portfolios=Portfolios(means=[0.03, 0.06, 0.09], volatilities=[0.02, 0.1, 0.2]),
        infusions=[1.0 * scale, 1.0 * scale, 2.0 * scale, 2.0 * scale, 0.0, 0.0],
    )
