"""Validated, immutable description of one goals-based wealth management problem.

A :class:`GBWMProblem` holds everything that defines the decision problem:
the horizon ``T``, the initial wealth ``W0``, the goals (time and one or more
(cost, utility) levels), the yearly infusions (savings, or withdrawals when
negative), the efficient-frontier portfolios (mean, volatility) and the market
model, the law of the yearly shock (:mod:`gbwm_sb3.problem.market`; lognormal by
default). Every field is checked where
it enters, so downstream code (envs, the DP solver, the evaluator) can trust it
and never sees a NaN.

Each year's choices form a list of :class:`Decision` s (:meth:`GBWMProblem.decisions`):
the cartesian product of the options (skip, level 1, ..., level L) of the goals
due that year, in the order the goals are stored (goals sorted by time, goals of
one year in the order given), the last goal varying fastest. Decision 0 is
"take nothing". A problem of the paper's family (at most one all-or-nothing goal
a year, no infusions, the lognormal market) has the decisions (skip, take) in every
goal year.
"""

from __future__ import annotations

import itertools
import math
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from gbwm_sb3.common.limits import MAX_HORIZON
from gbwm_sb3.problem.inflation import InflationModel
from gbwm_sb3.problem.market import LognormalMarket, Market

__all__ = [
    "Goal",
    "Decision",
    "MAX_DECISIONS_PER_YEAR",
    "MAX_HORIZON",
    "MAX_AMOUNT",
    "MIN_POSITIVE_AMOUNT",
    "MAX_UTILITY",
    "MAX_PORTFOLIO_MEAN",
    "MAX_VOLATILITY",
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
#: The largest number of decisions (product of the due goals' options) allowed in one year.
MAX_DECISIONS_PER_YEAR = 256
#: The largest amount of money (wealth, a goal level's cost, a year's savings) in the
#: problem's units. Sums over goals and years, and growth over the horizon, stay finite in
#: float64 far beyond it; 1e15 is a quadrillion dollars counted in dollars.
MAX_AMOUNT = 1e15
#: The smallest positive amount of money (a smaller one is 0 to every computation here:
#: the DP's grid spans from 1% of the smallest amount to the largest, in log-wealth).
MIN_POSITIVE_AMOUNT = 1e-9
#: The largest utility of one goal level.
MAX_UTILITY = 1e12
#: The largest absolute yearly mean return of a portfolio (1 = 100% a year).
MAX_PORTFOLIO_MEAN = 1.0
#: The largest yearly volatility of a portfolio (2 = 200% a year); 0 is a riskless asset.
MAX_VOLATILITY = 2.0

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 6
_SHORT.maxlevel = 3


def _short(value: object) -> str:
    """A bounded repr for error messages: never renders more than a few items of a value."""
    return _SHORT.repr(value)


def _finite_float(value: object, name: str, *, minimum: float | None = None,
                  strictly_positive: bool = False, maximum: float | None = None) -> float:
    """Convert ``value`` to float, raising a ValueError naming ``name`` if it is not allowed.

    Booleans are refused: ``True`` is not an amount of money.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a real number, got {_short(value)}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {_short(value)}")
    if strictly_positive and number <= 0.0:
        raise ValueError(f"{name} must be > 0, got {_short(value)}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {_short(value)}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum:g}, got {_short(value)}")
    return number


def _signed_amount(value: object, name: str) -> float:
    """An amount that may be negative: 0, or of magnitude in [MIN_POSITIVE_AMOUNT, MAX_AMOUNT]."""
    allowed = f"a number in [-{MAX_AMOUNT:g}, {MAX_AMOUNT:g}]"
    number = _finite_float(value, name)
    if abs(number) > MAX_AMOUNT:
        raise ValueError(f"{name} must be {allowed}, got {_short(value)}")
    if 0.0 < abs(number) < MIN_POSITIVE_AMOUNT:
        raise ValueError(f"{name} must be 0 or of magnitude >= {MIN_POSITIVE_AMOUNT:g} (smaller "
                         f"amounts cannot be computed with), got {_short(value)}")
    return number


def _amount(value: object, name: str, *, positive: bool = False) -> float:
    """An amount of money: 0 (unless ``positive``) or in [MIN_POSITIVE_AMOUNT, MAX_AMOUNT]."""
    number = _finite_float(value, name, minimum=0.0, maximum=MAX_AMOUNT,
                           strictly_positive=positive)
    if 0.0 < number < MIN_POSITIVE_AMOUNT:
        allowed = "" if positive else "0 or "
        raise ValueError(f"{name} must be {allowed}>= {MIN_POSITIVE_AMOUNT:g} (smaller amounts "
                         f"cannot be computed with), got {_short(value)}")
    return number


@dataclass(frozen=True)
class Goal:
    """One goal due at year ``time``.

    All-or-nothing: ``Goal(time, cost, utility)``. With levels:
    ``Goal(time, levels=[(cost_1, utility_1), ..., (cost_L, utility_L)])``; at most
    one level is taken (level k = the k-th pair, in the order given). ``cost`` and
    ``utility`` of a goal with levels are those of its last level. ``levels`` of an
    all-or-nothing goal is ``((cost, utility),)``.

    ``nominal=True`` (a problem with stochastic inflation only): the costs are fixed in money
    of the year they are paid (a price agreed today), not indexed to prices; see
    :class:`GBWMProblem`.
    """

    # Stored as validated: ``cost`` and ``utility`` are always set (those of the last level)
    # and ``levels`` always holds the pairs, however the goal was given.
    time: int
    cost: float
    utility: float
    name: str | None
    levels: tuple[tuple[float, float], ...]
    nominal: bool = field(default=False, repr=False)

    def __init__(self, time: int, cost: float | None = None, utility: float | None = None,
                 name: str | None = None,
                 levels: Iterable[tuple[float, float]] | None = None,
                 nominal: bool = False) -> None:
        object.__setattr__(self, "name", name)
        if not isinstance(nominal, (bool, np.bool_)):
            raise ValueError(f"goal nominal must be true or false, got {_short(nominal)}")
        object.__setattr__(self, "nominal", bool(nominal))
        try:
            integral = not isinstance(time, bool) and float(time).is_integer()
        except (TypeError, ValueError):
            integral = False
        if not integral:
            raise ValueError(f"goal time must be an integer year, got {_short(time)}")
        object.__setattr__(self, "time", int(time))
        pairs: tuple[tuple[float, float], ...]
        names: tuple[str, ...]
        if levels is None:
            if cost is None or utility is None:
                raise ValueError(
                    "a goal needs either cost= and utility= (all-or-nothing) or levels= "
                    f"(a list of (cost, utility) pairs); got cost={_short(cost)}, "
                    f"utility={_short(utility)}"
                )
            pairs = ((cost, utility),)
            names = ("goal cost", "goal utility")
        else:
            if cost is not None or utility is not None:
                raise ValueError(
                    "give a goal either cost= and utility= or levels=, not both; got "
                    f"cost={_short(cost)}, utility={_short(utility)}, "
                    f"levels={_short(levels)}"
                )
            if isinstance(levels, (str, bytes)) or not isinstance(levels, Iterable):
                raise ValueError(
                    f"goal levels must be a list of (cost, utility) pairs, got {_short(levels)}"
                )
            pairs = tuple(itertools.islice(levels, MAX_DECISIONS_PER_YEAR))
            if len(pairs) >= MAX_DECISIONS_PER_YEAR:
                raise ValueError(f"goal levels: at most {MAX_DECISIONS_PER_YEAR - 1} levels are "
                                 "allowed (a year has at most "
                                 f"{MAX_DECISIONS_PER_YEAR} decisions)")
            if not pairs:
                raise ValueError("goal levels must contain at least 1 (cost, utility) pair, got 0")
            names = ()
        checked = []
        for k, level in enumerate(pairs, start=1):
            try:
                cost, utility = level
            except (TypeError, ValueError):
                raise ValueError(
                    f"goal level {k} must be a (cost, utility) pair, got {_short(level)}"
                ) from None
            cost_name, utility_name = names or (f"goal level {k} cost", f"goal level {k} utility")
            checked.append((_amount(cost, cost_name),
                            _finite_float(utility, utility_name, minimum=0.0,
                                          maximum=MAX_UTILITY)))
        object.__setattr__(self, "levels", tuple(checked))
        object.__setattr__(self, "cost", checked[-1][0])
        object.__setattr__(self, "utility", checked[-1][1])

    @property
    def num_levels(self) -> int:
        """Number of levels ``L`` (1 for an all-or-nothing goal)."""
        return len(self.levels)

    @property
    def max_utility(self) -> float:
        """The largest utility any level of the goal gives."""
        return max(u for _, u in self.levels)

    @property
    def label(self) -> str:
        """``name`` if given, else ``"t=<time>"``."""
        return self.name if self.name else f"t={self.time}"


@dataclass(frozen=True)
class Decision:
    """One choice in a year: a level (0 = skipped) for each goal due that year.

    ``levels[i]`` refers to ``goals[i]`` (the year's goals in the problem's order);
    ``cost`` and ``utility`` are the totals of the chosen levels.
    """

    index: int
    levels: tuple[int, ...]
    cost: float
    utility: float
    goals: tuple[Goal, ...] = field(repr=False, default=())

    @property
    def goals_taken(self) -> int:
        """How many goals this decision takes (at any level)."""
        return sum(1 for level in self.levels if level > 0)


@dataclass(frozen=True)
class Portfolios:
    """The ``n`` portfolios an investor may hold for a year: GBM mean and volatility each."""

    means: tuple[float, ...]
    volatilities: tuple[float, ...]

    def __init__(self, means: Iterable[float], volatilities: Iterable[float]) -> None:
        mean_values = tuple(
            _finite_float(m, f"portfolio mean [{i}]", minimum=-MAX_PORTFOLIO_MEAN,
                          maximum=MAX_PORTFOLIO_MEAN) for i, m in enumerate(means)
        )
        vol_values = tuple(
            _finite_float(s, f"portfolio volatility [{i}]", minimum=0.0, maximum=MAX_VOLATILITY)
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
    """One investor's problem: horizon, initial wealth, goals, infusions, portfolios, market.

    ``horizon`` is ``T`` in years; goals may sit at any integer time in ``0..T``,
    several in one year, as long as no year has more than
    :data:`MAX_DECISIONS_PER_YEAR` decisions. ``infusions`` is the cash added at
    the start of years ``0..T-1``: a sequence of ``T`` amounts or a mapping
    ``{year: amount}`` (missing years 0); stored as a tuple of length ``T``, or
    ``()`` when all are 0. ``unit`` only labels money amounts (e.g. ``1e4``
    for the seeds' dollar figures); it is not used in the maths.

    A negative infusion is a withdrawal (a required spending, at least ``-MAX_AMOUNT``).
    Bankruptcy rule: if the cash at hand ``W + I(t)`` of a year ``t`` is below zero, the
    investor is bankrupt: wealth is 0 from then on and no further goal is taken (later
    infusions do not revive the plan). Cash of exactly 0 is not bankruptcy.

    ``market`` is the law of the yearly shock of every portfolio's log return
    (:class:`~gbwm_sb3.problem.market.LognormalMarket`, the default, or
    :class:`~gbwm_sb3.problem.market.StudentTMarket`).

    ``survival`` (optional, a survival table): ``survival[t]`` is the probability that the
    investor, alive at year ``t``, lives to year ``t + 1`` (independent of the markets); a
    sequence of ``T`` probabilities in [0, 1] or a mapping ``{year: probability}`` (missing
    years 1), stored as ``()`` when every year is certain. The plan ends at death: no goal
    is taken from then on.

    ``inflation`` (optional, :class:`~gbwm_sb3.problem.inflation.InflationModel`):
    stochastic AR(1) inflation; every amount is then in today's money (indexed), wealth is
    read in real terms, and the year's inflation is state the investor observes.

    Nominal amounts (with ``inflation`` only): a goal marked ``Goal(..., nominal=True)`` and
    ``nominal_infusions`` (a cash flow beside ``infusions``, in the same forms: ``T``
    amounts or ``{year: amount}``, negative for a payment) are fixed in money of the year
    they are paid (a mortgage payment, a level pension), not indexed: in today's money they
    are worth ``amount / P_t``, so the state needs the price level ``P_t`` as well as the
    rate (three dimensions; the DP refuses them, :mod:`gbwm_sb3.envs.dynamics` simulates
    them). A year's cash at hand is ``W + I(t) + N(t) / P_t``, and its bankruptcy rule is
    the one above.
    """

    horizon: int
    initial_wealth: float
    goals: tuple[Goal, ...]
    portfolios: Portfolios = field(default_factory=paper_portfolios)
    unit: float = 1.0
    infusions: tuple[float, ...] = ()
    market: Market = LognormalMarket()
    survival: tuple[float, ...] = ()
    inflation: InflationModel | None = None
    nominal_infusions: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        raw: object = self.horizon  # as given: an integer, or a float with an integral value
        if not ((isinstance(raw, (int, np.integer)) and not isinstance(raw, bool))
                or (isinstance(raw, float) and raw.is_integer())):
            raise ValueError(f"horizon must be an integer in 1..{MAX_HORIZON} (years), got "
                             f"{_short(raw)}")
        horizon = int(raw)
        if not 1 <= horizon <= MAX_HORIZON:
            raise ValueError(f"horizon must be an integer in 1..{MAX_HORIZON} (years), got "
                             f"{_short(self.horizon)}")
        object.__setattr__(self, "horizon", horizon)
        object.__setattr__(
            self,
            "initial_wealth",
            _amount(self.initial_wealth, "initial_wealth", positive=True),
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
        options_by_year: dict[int, int] = {}
        for goal in goals:
            if not 0 <= goal.time <= horizon:
                raise ValueError(
                    f"goal time must be in 0..{horizon} (the horizon), got {goal.time}"
                )
            options_by_year[goal.time] = options_by_year.get(goal.time, 1) * (goal.num_levels + 1)
        for year, count in sorted(options_by_year.items()):
            if count > MAX_DECISIONS_PER_YEAR:
                raise ValueError(
                    f"goals: year {year} has {count} decisions (the product of each goal's "
                    f"levels + 1); at most {MAX_DECISIONS_PER_YEAR} are allowed"
                )
        object.__setattr__(self, "goals", tuple(sorted(goals, key=lambda g: g.time)))
        object.__setattr__(self, "infusions", _checked_infusions(self.infusions, horizon))
        if not isinstance(self.market, Market):
            raise ValueError("market must be a Market (LognormalMarket(), StudentTMarket, "
                             "EmpiricalMarket or RegimeMarket), got "
                             f"{type(self.market).__name__}")
        self.market.check_portfolios(self.portfolios)
        if self.inflation is not None:
            if not isinstance(self.inflation, InflationModel):
                raise ValueError("inflation must be an InflationModel or None, got "
                                 f"{type(self.inflation).__name__}")
            self.inflation.check_portfolios(len(self.portfolios))
        object.__setattr__(self, "survival", _checked_survival(self.survival, horizon))
        object.__setattr__(self, "nominal_infusions",
                           _checked_infusions(self.nominal_infusions, horizon,
                                              "nominal_infusions"))
        if self.inflation is None and (self.nominal_infusions
                                       or any(g.nominal for g in self.goals)):
            field_name = "nominal_infusions" if self.nominal_infusions else "goal nominal"
            raise ValueError(f"{field_name}: nominal amounts need stochastic inflation "
                             "(inflation=InflationModel(...)); without it every amount is "
                             "already fixed in money")

    # ----- the problem class -----
    @property
    def in_paper_family(self) -> bool:
        """At most one all-or-nothing goal a year, no infusions and the lognormal market
        (the paper's setting).

        Such a problem keeps the paper's action space ``MultiDiscrete([2, n])`` and
        its 6-feature observation.
        """
        if self.infusions or self.survival or not isinstance(self.market, LognormalMarket) \
                or self.inflation is not None:
            return False
        times = [g.time for g in self.goals]
        return len(set(times)) == len(times) and all(g.num_levels == 1 for g in self.goals)

    def goals_at(self, t: int) -> tuple[Goal, ...]:
        """The goals due at year ``t``, in the problem's order."""
        return tuple(g for g in self.goals if g.time == t)

    def decisions(self, t: int) -> tuple[Decision, ...]:
        """The decisions of year ``t`` (decision 0 = take nothing), see the module docstring."""
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) \
                or not 0 <= t <= self.horizon:
            raise ValueError(f"t must be an integer in 0..{self.horizon}, got {_short(t)}")
        return _decisions(self, int(t))

    @property
    def max_decisions(self) -> int:
        """``K``: the largest number of decisions in any year (2 for the paper family)."""
        if self.in_paper_family:
            return 2
        return max(len(self.decisions(t)) for t in range(self.horizon + 1))

    @property
    def survival_by_time(self) -> np.ndarray:
        """Probability of living from year ``t`` to ``t + 1``, for ``t = 0..T`` (1 at ``T``
        and in every year without a survival table), shape (T+1,)."""
        values = np.ones(self.horizon + 1)
        if self.survival:
            values[: self.horizon] = self.survival
        return values

    @property
    def infusion_by_time(self) -> np.ndarray:
        """Infusion at each time ``0..T`` (0 at ``T`` and where there is none), shape (T+1,)."""
        values = np.zeros(self.horizon + 1)
        if self.infusions:
            values[: self.horizon] = self.infusions
        return values

    @property
    def has_nominal_amounts(self) -> bool:
        """Whether some goal cost or infusion is nominal (fixed in money of its year)."""
        return bool(self.nominal_infusions) or any(g.nominal for g in self.goals)

    @property
    def nominal_infusion_by_time(self) -> np.ndarray:
        """Nominal infusion at each time ``0..T`` (money of that year; 0 at ``T`` and where
        there is none), shape (T+1,)."""
        values = np.zeros(self.horizon + 1)
        if self.nominal_infusions:
            values[: self.horizon] = self.nominal_infusions
        return values

    @property
    def goal_labels(self) -> tuple[str, ...]:
        """One label per goal: its time (``"8"``) when alone in its year and unnamed,
        its name when the name is unique, else ``"<time>.<k>"`` (k-th goal of the year)."""
        names = [g.name for g in self.goals if g.name]
        labels = []
        for goal in self.goals:
            same_year = self.goals_at(goal.time)
            if goal.name and names.count(goal.name) == 1:
                labels.append(goal.name)
            elif len(same_year) == 1:
                labels.append(str(goal.time))
            else:
                labels.append(f"{goal.time}.{same_year.index(goal)}")
        return tuple(labels)

    # ----- derived per-year arrays (cheap; recomputed on demand) -----
    @property
    def num_portfolios(self) -> int:
        """Number of portfolios ``n``."""
        return len(self.portfolios)

    @property
    def goal_times(self) -> tuple[int, ...]:
        """Sorted goal times (a year with several goals appears once per goal)."""
        return tuple(g.time for g in self.goals)

    @property
    def cost_by_time(self) -> np.ndarray:
        """Total cost of the goals (top levels) at each time ``0..T``, shape (T+1,)."""
        costs = np.zeros(self.horizon + 1)
        for g in self.goals:
            costs[g.time] += g.cost
        return costs

    @property
    def utility_by_time(self) -> np.ndarray:
        """Total utility of the goals (top levels) at each time ``0..T``, shape (T+1,)."""
        utilities = np.zeros(self.horizon + 1)
        for g in self.goals:
            utilities[g.time] += g.utility
        return utilities

    @property
    def has_goal(self) -> np.ndarray:
        """Boolean mask of the times ``0..T`` that carry a goal, shape (T+1,)."""
        mask = np.zeros(self.horizon + 1, dtype=bool)
        mask[list(self.goal_times)] = True
        return mask

    @property
    def total_utility(self) -> float:
        """Sum over goals of the best level's utility: an upper bound on any policy's reward."""
        return float(sum(g.max_utility for g in self.goals))

    def scaled(self, factor: float) -> GBWMProblem:
        """The same problem with wealth, every cost and infusion multiplied by ``factor``
        (the same portfolios and market)."""
        factor = _finite_float(factor, "factor", strictly_positive=True)
        goals = []
        for g in self.goals:
            if g.num_levels == 1:
                goals.append(Goal(time=g.time, cost=g.cost * factor, utility=g.utility,
                                  name=g.name, nominal=g.nominal))
            else:
                goals.append(Goal(time=g.time, name=g.name, nominal=g.nominal,
                                  levels=[(c * factor, u) for c, u in g.levels]))
        return GBWMProblem(
            horizon=self.horizon,
            initial_wealth=self.initial_wealth * factor,
            goals=tuple(goals),
            portfolios=self.portfolios,
            unit=self.unit * factor,
            infusions=tuple(i * factor for i in self.infusions),
            market=self.market,
            survival=self.survival,
            inflation=self.inflation,
            nominal_infusions=tuple(i * factor for i in self.nominal_infusions),
        )


def _checked_survival(survival: object, horizon: int) -> tuple[float, ...]:
    """``survival`` as a tuple of ``T`` probabilities, or ``()`` when every year is certain."""
    if survival is None:
        return ()
    values = [1.0] * horizon
    if isinstance(survival, Mapping):
        for year, probability in survival.items():
            if isinstance(year, bool) or not isinstance(year, (int, np.integer)) \
                    or not 0 <= year < horizon:
                raise ValueError(f"survival: year must be an integer in 0..{horizon - 1}, got "
                                 f"{_short(year)}")
            values[int(year)] = _probability(probability, f"survival[{year}]")
    else:
        if isinstance(survival, (str, bytes)) or not isinstance(survival, Iterable):
            raise ValueError(f"survival must be a list of {horizon} probabilities or a mapping "
                             f"year -> probability, got {_short(survival)}")
        items = list(survival)
        if items and len(items) != horizon:
            raise ValueError(f"survival must have one probability per year 0..T-1, i.e. "
                             f"length {horizon}, got {len(items)}")
        for i, probability in enumerate(items):
            values[i] = _probability(probability, f"survival[{i}]")
    return tuple(values) if any(v < 1.0 for v in values) else ()


def _probability(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {_short(value)}")
    return float(value)


def _checked_infusions(infusions: object, horizon: int, name: str = "infusions"
                       ) -> tuple[float, ...]:
    """Infusions as a length-``horizon`` tuple (``()`` when all are 0), validated; each is
    0 or of magnitude in [MIN_POSITIVE_AMOUNT, MAX_AMOUNT] (negative: a withdrawal)."""
    if infusions is None:
        return ()
    if isinstance(infusions, Mapping):
        values = [0.0] * horizon
        for year, amount in infusions.items():
            ok = not isinstance(year, bool) and isinstance(year, (int, np.integer))
            if not ok or not 0 <= int(year) < horizon:
                raise ValueError(
                    f"{name}: year must be an integer in 0..{horizon - 1} (infusions come at "
                    f"the start of years 0..T-1), got {_short(year)}"
                )
            values[int(year)] = _signed_amount(amount, f"{name}[{year}]")
    else:
        if isinstance(infusions, (str, bytes)) or not isinstance(infusions, Iterable):
            raise ValueError(
                f"{name} must be a list of {horizon} amounts or a mapping year -> amount, "
                f"got {_short(infusions)}"
            )
        items = list(infusions)
        if not items:
            return ()
        if len(items) != horizon:
            raise ValueError(
                f"{name} must have one amount per year 0..T-1, i.e. length {horizon}, "
                f"got length {len(items)}"
            )
        values = [_signed_amount(v, f"{name}[{i}]") for i, v in enumerate(items)]
    return tuple(values) if any(v != 0.0 for v in values) else ()


@lru_cache(maxsize=256)
def _decisions(problem: GBWMProblem, t: int) -> tuple[Decision, ...]:
    goals = problem.goals_at(t)
    decisions = []
    for index, levels in enumerate(itertools.product(*(range(g.num_levels + 1) for g in goals))):
        cost = sum(g.levels[k - 1][0] for g, k in zip(goals, levels, strict=True) if k)
        utility = sum(g.levels[k - 1][1] for g, k in zip(goals, levels, strict=True) if k)
        decisions.append(Decision(index, tuple(levels), float(cost), float(utility), goals))
    return tuple(decisions)


def paper_problem(num_goals: int = 4, unit: float = 1.0,
                  portfolios: Portfolios | None = None) -> GBWMProblem:
    """The paper's problem family.

    ``T = 16``; ``num_goals`` in {1, 2, 4, 8, 16} goals at ``t_k = k * 16 / NG``;
    ``C(t) = 10 * 1.08^t``, ``U(t) = 10 + t``, ``W0 = 12 * NG^0.85``, all money
    multiplied by ``unit`` (``unit=1e4`` gives the seeds' dollars: W0 = 389,881
    for 4 goals).
    """
    if isinstance(num_goals, bool) or num_goals not in PAPER_NUM_GOALS:
        raise ValueError(f"num_goals must be one of {PAPER_NUM_GOALS}, got {_short(num_goals)}")
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
        raise ValueError(f"{name} must be a sequence of real numbers, got "
                         f"{_short(values)}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must contain only finite numbers, got {_short(values)}")
    return array
