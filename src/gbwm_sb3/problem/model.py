"""Validated, immutable description of one goals-based wealth management problem.

A :class:`GBWMProblem` holds everything that defines the decision problem of
the problem: the horizon ``T``, the initial wealth ``W0``, the goals (time,
cost, utility) and the efficient-frontier portfolios (mean, volatility).
Every field is checked where it enters, so downstream code (envs, the DP
solver, the evaluator) can trust it and never sees a NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Goal",
    "Portfolios",
    "GBWMProblem",
    "PAPER_NUM_GOALS",
    "PAPER_HORIZON",
    "paper_portfolios",
    "paper_problem",
]

PAPER_HORIZON = 16
PAPER_NUM_GOALS = (1, 2, 4, 8, 16)
_PAPER_MEAN_RANGE = (0.052632, 0.088636)
_PAPER_MIN_VOLATILITY = 0.037351
_PAPER_FRONTIER_CURVATURE = 28.389157


def _finite_float(value: object, name: str, *, minimum: float | None = None,
                  strictly_positive: bool = False) -> float:
    """Convert ``value`` to float, raising a ValueError naming ``name`` if it is not allowed."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if strictly_positive and number <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return number


@dataclass(frozen=True)
class Goal:
    """One goal: available at year ``time``, it costs ``cost`` and is worth ``utility``."""

    time: int
    cost: float
    utility: float
    name: str | None = None

    def __post_init__(self) -> None:
        try:
            integral = not isinstance(self.time, bool) and float(self.time).is_integer()
        except (TypeError, ValueError):
            integral = False
        if not integral:
            raise ValueError(f"goal time must be an integer year, got {self.time!r}")
        object.__setattr__(self, "time", int(self.time))
        object.__setattr__(self, "cost", _finite_float(self.cost, "goal cost", minimum=0.0))
        object.__setattr__(
            self, "utility", _finite_float(self.utility, "goal utility", minimum=0.0)
        )


@dataclass(frozen=True)
class Portfolios:
    """The ``n`` portfolios an investor may hold for a year: GBM mean and volatility each."""

    means: tuple[float, ...]
    volatilities: tuple[float, ...]

    def __init__(self, means: Iterable[float], volatilities: Iterable[float]) -> None:
        mean_values = tuple(
            _finite_float(m, f"portfolio mean [{i}]") for i, m in enumerate(means)
        )
        vol_values = tuple(
            _finite_float(s, f"portfolio volatility [{i}]", strictly_positive=True)
            for i, s in enumerate(volatilities)
        )
        if len(mean_values) == 0:
            raise ValueError("portfolios must contain at least 1 portfolio, got 0")
        if len(mean_values) != len(vol_values):
            raise ValueError(
                "portfolio means and volatilities must have the same length, got "
                f"{len(mean_values)} means and {len(vol_values)} volatilities"
            )
        object.__setattr__(self, "means", mean_values)
        object.__setattr__(self, "volatilities", vol_values)

    def __len__(self) -> int:
        return len(self.means)

    @property
    def mean_array(self) -> np.ndarray:
        """Means as a float64 array of shape (n,)."""
        return np.asarray(self.means, dtype=np.float64)

    @property
    def volatility_array(self) -> np.ndarray:
        """Volatilities as a float64 array of shape (n,)."""
        return np.asarray(self.volatilities, dtype=np.float64)

    @property
    def log_drifts(self) -> np.ndarray:
        """Per-portfolio drift of log-wealth, ``mu - sigma^2 / 2``, shape (n,)."""
        return self.mean_array - 0.5 * self.volatility_array**2


def paper_portfolios() -> Portfolios:
    """The paper's 15 efficient-frontier portfolios (the paper's portfolio table)."""
    lo, hi = _PAPER_MEAN_RANGE
    means = np.linspace(lo, hi, 15)
    vols = np.sqrt(_PAPER_FRONTIER_CURVATURE * (means - lo) ** 2 + _PAPER_MIN_VOLATILITY**2)
    return Portfolios(means=means.tolist(), volatilities=vols.tolist())


@dataclass(frozen=True)
class GBWMProblem:
    """One investor's problem: horizon, initial wealth, goals and portfolios.

    ``horizon`` is ``T`` in years; goals may sit at any integer time in
    ``0..T`` (at most one per year). ``unit`` only labels money amounts
    (e.g. ``1e4`` for the seeds' dollar figures); it is not used in the maths.
    """

    horizon: int
    initial_wealth: float
    goals: tuple[Goal, ...]
    portfolios: Portfolios = field(default_factory=paper_portfolios)
    unit: float = 1.0

    def __post_init__(self) -> None:
        horizon = self.horizon
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)):
            if not (isinstance(horizon, float) and horizon.is_integer()):
                raise ValueError(f"horizon must be a positive integer (years), got {horizon!r}")
        horizon = int(horizon)
        if horizon < 1:
            raise ValueError(f"horizon must be a positive integer (years), got {self.horizon!r}")
        object.__setattr__(self, "horizon", horizon)
        object.__setattr__(
            self,
            "initial_wealth",
            _finite_float(self.initial_wealth, "initial_wealth", strictly_positive=True),
        )
        object.__setattr__(self, "unit", _finite_float(self.unit, "unit", strictly_positive=True))
        if not isinstance(self.portfolios, Portfolios):
            raise ValueError(
                f"portfolios must be a Portfolios instance, got {type(self.portfolios).__name__}"
            )
        goals = []
        for goal in self.goals:
            if not isinstance(goal, Goal):
                if isinstance(goal, dict):
                    goal = Goal(**goal)
                else:
                    goal = Goal(*goal)
            goals.append(goal)
        seen: set[int] = set()
        for goal in goals:
            if not 0 <= goal.time <= horizon:
                raise ValueError(
                    f"goal time must be in 0..{horizon} (the horizon), got {goal.time}"
                )
            if goal.time in seen:
                raise ValueError(
                    f"goals: two goals at time {goal.time}; at most one goal per year is allowed"
                )
            seen.add(goal.time)
        object.__setattr__(self, "goals", tuple(sorted(goals, key=lambda g: g.time)))

    # ----- derived per-year arrays (cheap; recomputed on demand) -----
    @property
    def num_portfolios(self) -> int:
        """Number of portfolios ``n``."""
        return len(self.portfolios)

    @property
    def goal_times(self) -> tuple[int, ...]:
        """Sorted goal times."""
        return tuple(g.time for g in self.goals)

    @property
    def cost_by_time(self) -> np.ndarray:
        """Cost of the goal at each time ``0..T`` (0 where there is no goal), shape (T+1,)."""
        costs = np.zeros(self.horizon + 1)
        for g in self.goals:
            costs[g.time] = g.cost
        return costs

    @property
    def utility_by_time(self) -> np.ndarray:
        """Utility of the goal at each time ``0..T`` (0 where there is no goal), shape (T+1,)."""
        utilities = np.zeros(self.horizon + 1)
        for g in self.goals:
            utilities[g.time] = g.utility
        return utilities

    @property
    def has_goal(self) -> np.ndarray:
        """Boolean mask of the times ``0..T`` that carry a goal, shape (T+1,)."""
        mask = np.zeros(self.horizon + 1, dtype=bool)
        mask[list(self.goal_times)] = True
        return mask

    @property
    def total_utility(self) -> float:
        """Sum of all goals' utilities: an upper bound on any policy's reward."""
        return float(sum(g.utility for g in self.goals))

    def scaled(self, factor: float) -> GBWMProblem:
        """The same problem with wealth and every cost multiplied by ``factor`` (unit change)."""
        factor = _finite_float(factor, "factor", strictly_positive=True)
        return GBWMProblem(
            horizon=self.horizon,
            initial_wealth=self.initial_wealth * factor,
            goals=tuple(
                Goal(time=g.time, cost=g.cost * factor, utility=g.utility, name=g.name)
                for g in self.goals
            ),
            portfolios=self.portfolios,
            unit=self.unit * factor,
        )


def paper_problem(num_goals: int = 4, unit: float = 1.0,
                  portfolios: Portfolios | None = None) -> GBWMProblem:
    """The paper's problem family.

    ``T = 16``; ``num_goals`` in {1, 2, 4, 8, 16} goals at ``t_k = k * 16 / NG``;
    ``C(t) = 10 * 1.08^t``, ``U(t) = 10 + t``, ``W0 = 12 * NG^0.85``, all money
    multiplied by ``unit`` (``unit=1e4`` gives the seeds' dollars: W0 = 389,881
    for 4 goals).
    """
    if isinstance(num_goals, bool) or num_goals not in PAPER_NUM_GOALS:
        raise ValueError(f"num_goals must be one of {PAPER_NUM_GOALS}, got {num_goals!r}")
    num_goals = int(num_goals)
    unit = _finite_float(unit, "unit", strictly_positive=True)
    spacing = PAPER_HORIZON // num_goals
    goals = tuple(
        Goal(time=t, cost=10.0 * 1.08**t * unit, utility=10.0 + t)
        for t in range(spacing, PAPER_HORIZON + 1, spacing)
    )
    return GBWMProblem(
        horizon=PAPER_HORIZON,
        initial_wealth=12.0 * num_goals**0.85 * unit,
        goals=goals,
        portfolios=portfolios if portfolios is not None else paper_portfolios(),
        unit=unit,
    )


def as_float_sequence(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    """A 1-D float64 array from ``values``, raising a ValueError naming ``name`` otherwise."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of real numbers, got {values!r}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must contain only finite numbers, got {values!r}")
    return array
