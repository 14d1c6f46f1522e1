"""Small problems of the general class shared by the tests."""

from __future__ import annotations

import numpy as np

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


RANDOM_PORTFOLIOS = Portfolios(means=[0.03, 0.05, 0.07, 0.09],
                               volatilities=[0.02, 0.06, 0.12, 0.2])


def random_general_problem(rng: np.random.Generator) -> GBWMProblem:
    """T in 4..12, 2-6 goals at random years, half of them with 2-3 levels, savings in
    about 60% of the years."""
    horizon = int(rng.integers(4, 13))
    goals = []
    for _ in range(int(rng.integers(2, 7))):
        t = int(rng.integers(0, horizon + 1))
        base = float(rng.uniform(2.0, 12.0)) * 1.06**t
        if rng.random() < 0.5:
            goals.append(Goal(t, base, float(rng.uniform(1.0, 10.0))))
        else:
            k = int(rng.integers(2, 4))
            costs = np.sort(rng.uniform(0.3, 1.0, k)) * base
            utilities = np.sort(rng.uniform(1.0, 10.0, k))
            goals.append(Goal(t, levels=list(zip(costs.tolist(), utilities.tolist(),
                                                 strict=True))))
    infusions = (rng.uniform(0.0, 2.0, horizon) * (rng.random(horizon) < 0.6)).tolist()
    return GBWMProblem(horizon=horizon, initial_wealth=float(rng.uniform(5.0, 30.0)),
                       goals=tuple(goals), portfolios=RANDOM_PORTFOLIOS, infusions=infusions)
