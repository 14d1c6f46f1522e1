"""Random GBWM problems from a documented envelope, for training one policy on many clients.

:class:`ProblemEnvelope` describes which problems are supported (horizon, goals,
levels, savings, funding, portfolios); :func:`sample_problem` draws one problem
inside it from a seeded ``numpy.random.Generator``; :meth:`ProblemEnvelope.contains`
lists the reasons a given problem lies outside, each naming the field and the
allowed range. The same seed always gives the same problems. numpy only.

Two summary numbers describe a problem's money, both ratios and so independent of
the money unit (:func:`funding_ratio`, :func:`savings_rate`):

- funding ratio = (W0 + present value of the infusions) / present value of the goal
  costs (top levels), discounted yearly at the mean return of the lowest-volatility
  portfolio: what the client could pay for by investing cautiously;
- savings rate = the largest yearly infusion / W0.

How :func:`sample_problem` draws (each step with the generator given):

1. horizon ``T`` uniform in ``horizon`` (from at least the years that can hold the
   smallest number of goals);
2. number of goals ``G`` uniform in ``num_goals`` (capped by the room the years
   allow); the number of goal years ``Y`` uniform between the fewest that hold ``G``
   goals and ``min(G, years available)``; the ``Y`` years uniform without replacement
   from ``1..T`` (year 0 is added only when ``1..T`` cannot hold them all); each year
   gets one goal, the others go one by one to a uniformly chosen year with room
   (at most ``max_goals_per_year``);
3. levels per goal: 1, 2 or 3 with probabilities 1/2, 1/4, 1/4 (capped by
   ``max_levels``); while a year has more than ``max_decisions_per_year`` decisions,
   the goal of that year with the most levels loses one;
4. top-level cost of a goal at year t: ``10 * (1 + g)^t * exp(0.5 Z)`` with inflation
   ``g`` uniform in [0, 0.05] per problem; utility
   ``10 * (cost / median cost)^b * exp(0.3 Z)`` with ``b`` uniform in [0, 1] per problem
   (from utility unrelated to cost to proportional to it); a goal with ``L`` levels has
   costs ``cost * f_k`` for sorted fractions ``f_1 < ... < f_L = 1`` (the others uniform
   in [0.3, 1)) and utilities ``utility * f_k^c``, ``c`` uniform in [0.3, 1] (partial
   levels give more utility per unit of cost);
5. savings: none with probability ``no_savings_probability``; otherwise a constant
   yearly infusion from year 0 to a last year uniform in ``0..T-1``, at a savings rate
   log-uniform in ``[max(lo, 0.005), hi]`` of ``savings_rate``;
6. funding ratio log-uniform in ``funding_ratio``; ``W0`` follows from it, the costs
   and the infusions;
7. capital markets: 2 to 4 assets (uniform): a bond-like asset (mean uniform in
   [0.01, 0.06], volatility in [0.02, 0.08]) and 1 to 3 equity-like assets (mean = bond
   mean + premium uniform in [0.02, 0.07], volatility in [0.12, 0.25]); correlations
   bond/equity uniform in [-0.3, 0.3], equity/equity in [0.5, 0.9]. ``n`` uniform in
   ``num_portfolios`` efficient portfolios with means equally spaced from the
   minimum-variance mean to the highest asset mean (:mod:`gbwm_sb3.problem.frontier`).
   The paper's inputs (bonds 4.93%, stocks 7.70% and 8.86%) lie inside these ranges.

A draw that falls outside the envelope (possible only through the frontier's
extremes or a non-positive-definite covariance) is discarded and drawn again, so
every returned problem satisfies ``envelope.contains(problem) == []``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from gbwm_sb3.common.limits import check_int
from gbwm_sb3.problem.frontier import EfficientFrontier
from gbwm_sb3.problem.market import LognormalMarket
from gbwm_sb3.problem.model import MAX_DECISIONS_PER_YEAR, GBWMProblem, Goal, Portfolios

__all__ = [
    "ProblemEnvelope",
    "DEFAULT_ENVELOPE",
    "sample_problem",
    "sample_problems",
    "funding_ratio",
    "savings_rate",
    "discount_rate",
]

_MAX_TRIES = 100
_TOLERANCE = 1e-9


def _int_range(value: object, name: str, low: int, high: int) -> tuple[int, int]:
    """Validate an integer range ``(lo, hi)`` with ``low <= lo <= hi <= high``."""
    try:
        first, second = cast(Iterable[object], value)  # not a pair: TypeError or ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (lo, hi), got {value!r}") from None
    if isinstance(first, bool) or not isinstance(first, (int, np.integer)) \
            or isinstance(second, bool) or not isinstance(second, (int, np.integer)):
        raise ValueError(f"{name} must be a pair of integers, got {value!r}")
    lo, hi = int(first), int(second)
    if not low <= lo <= hi <= high:
        raise ValueError(f"{name} must satisfy {low} <= lo <= hi <= {high}, got ({lo}, {hi})")
    return lo, hi


def _float_range(value: object, name: str, low: float, high: float,
                 strictly_positive: bool = False) -> tuple[float, float]:
    """Validate a real range ``(lo, hi)`` with ``low <= lo <= hi <= high``."""
    try:
        lo, hi = (float(v) for v in cast(Iterable[Any], value))  # float() decides
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of real numbers (lo, hi), got {value!r}")\
            from None
    if not (math.isfinite(lo) and math.isfinite(hi) and low <= lo <= hi <= high):
        raise ValueError(f"{name} must satisfy {low} <= lo <= hi <= {high}, got ({lo}, {hi})")
    if strictly_positive and lo <= 0.0:
        raise ValueError(f"{name} must have lo > 0, got ({lo}, {hi})")
    return lo, hi


@dataclass(frozen=True)
class ProblemEnvelope:
    """A set of problems (all bounds inclusive): the ones a policy trained on many clients
    is trained on (:data:`DEFAULT_ENVELOPE`, which :func:`sample_problem` draws from) or
    accepts (the pretrained policy's acceptance envelope).

    - ``horizon``: years ``T`` (default 1..40);
    - ``num_goals``: goals per problem (1..20); ``max_goals_per_year`` (4);
      ``max_levels`` per goal (3); ``max_decisions_per_year`` (64: the product of
      ``levels + 1`` over a year's goals; bounds the width of a padded decision block);
    - ``savings_rate``: the largest yearly infusion / W0 (0..1: none to a full W0 a year);
      ``no_savings_probability`` (0.3): share of draws without infusions;
    - ``funding_ratio``: (W0 + PV infusions) / PV goal costs (0.25..4, badly underfunded to
      overfunded; see :func:`funding_ratio`);
    - ``num_portfolios``: portfolios on the frontier (5..20); ``portfolio_mean`` and
      ``portfolio_volatility``: the range every portfolio's mean and volatility lie in.
    """

    horizon: tuple[int, int] = (1, 40)
    num_goals: tuple[int, int] = (1, 20)
    max_goals_per_year: int = 4
    max_levels: int = 3
    max_decisions_per_year: int = 64
    savings_rate: tuple[float, float] = (0.0, 1.0)
    no_savings_probability: float = 0.3
    funding_ratio: tuple[float, float] = (0.25, 4.0)
    num_portfolios: tuple[int, int] = (5, 20)
    portfolio_mean: tuple[float, float] = (-0.05, 0.2)
    portfolio_volatility: tuple[float, float] = (0.005, 0.4)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "horizon", _int_range(self.horizon, "horizon", 1, 1000))
        set_(self, "num_goals", _int_range(self.num_goals, "num_goals", 1, 1000))
        set_(self, "max_goals_per_year", check_int(
            self.max_goals_per_year, "max_goals_per_year", 1, 8, style="dots"))
        set_(self, "max_levels", check_int(self.max_levels, "max_levels", 1, 8, style="dots"))
        set_(self, "max_decisions_per_year", check_int(
            self.max_decisions_per_year, "max_decisions_per_year", 1, MAX_DECISIONS_PER_YEAR,
            style="dots"))
        if self.max_decisions_per_year < 2:
            raise ValueError(f"max_decisions_per_year must be an integer in "
                             f"2..{MAX_DECISIONS_PER_YEAR}, got {self.max_decisions_per_year}")
        set_(self, "savings_rate", _float_range(self.savings_rate, "savings_rate", 0.0, 100.0))
        p = self.no_savings_probability
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"no_savings_probability must be a number in [0, 1], got {p!r}")
        set_(self, "no_savings_probability", float(p))
        set_(self, "funding_ratio", _float_range(self.funding_ratio, "funding_ratio", 0.0,
                                                 1e6, strictly_positive=True))
        set_(self, "num_portfolios", _int_range(self.num_portfolios, "num_portfolios", 1, 1000))
        set_(self, "portfolio_mean", _float_range(self.portfolio_mean, "portfolio_mean",
                                                  -1.0, 1.0))
        set_(self, "portfolio_volatility", _float_range(
            self.portfolio_volatility, "portfolio_volatility", 0.0, 2.0, strictly_positive=True))
        min_goals = self.num_goals[0]
        room = (self.horizon[1] + 1) * self.max_goals_per_year
        if min_goals > room:
            raise ValueError(
                f"num_goals must allow a problem that fits: at least {min_goals} goals do not "
                f"fit in {self.horizon[1] + 1} years of at most {self.max_goals_per_year}"
            )

    def contains(self, problem: GBWMProblem) -> list[str]:
        """Reasons ``problem`` lies outside the envelope (``[]`` when it is inside).

        Each reason names the field, the problem's value and the allowed range.
        """
        if not isinstance(problem, GBWMProblem):
            raise ValueError(f"problem must be a GBWMProblem, got {type(problem).__name__}")
        reasons: list[str] = []

        def check(name: str, value: float, bounds: tuple[float, float], unit: str = "",
                  fmt: str = "g") -> None:
            lo, hi = bounds
            slack = _TOLERANCE * max(1.0, abs(lo), abs(hi))
            if not lo - slack <= value <= hi + slack:
                reasons.append(f"{name}: {value:{fmt}}{unit} is outside the supported range "
                               f"{lo:{fmt}}..{hi:{fmt}}{unit}")

        check("horizon", problem.horizon, self.horizon, " years")
        check("num_goals", len(problem.goals), self.num_goals)
        per_year = np.bincount(np.array([g.time for g in problem.goals], dtype=np.int64),
                               minlength=1)
        if per_year.max() > self.max_goals_per_year:
            year = int(per_year.argmax())
            reasons.append(f"max_goals_per_year: year {year} has {int(per_year.max())} goals; "
                           f"at most {self.max_goals_per_year} are supported")
        levels = max(g.num_levels for g in problem.goals) if problem.goals else 0
        if levels > self.max_levels:
            reasons.append(f"max_levels: a goal has {levels} levels; at most {self.max_levels} "
                           "are supported")
        decisions: dict[int, int] = {}
        for g in problem.goals:
            decisions[g.time] = decisions.get(g.time, 1) * (g.num_levels + 1)
        if decisions and max(decisions.values()) > self.max_decisions_per_year:
            year = max(decisions, key=decisions.__getitem__)
            reasons.append(f"max_decisions_per_year: year {year} has {decisions[year]} decisions; "
                           f"at most {self.max_decisions_per_year} are supported")
        check("num_portfolios", problem.num_portfolios, self.num_portfolios)
        means = problem.portfolios.mean_array
        vols = problem.portfolios.volatility_array
        for name, values, bounds in (("portfolio_mean", means, self.portfolio_mean),
                                     ("portfolio_volatility", vols, self.portfolio_volatility)):
            lo, hi = bounds
            if values.min() < lo - _TOLERANCE or values.max() > hi + _TOLERANCE:
                reasons.append(f"{name}: values {values.min():.4g}..{values.max():.4g} are "
                               f"outside the supported range {lo:g}..{hi:g}")
        check("savings_rate", savings_rate(problem), self.savings_rate, fmt=".4g")
        if min(problem.infusions, default=0.0) < 0.0:
            year = int(np.argmin(problem.infusions))
            reasons.append(f"infusions: year {year} has a withdrawal "
                           f"({problem.infusions[year]:g}); only savings (amounts >= 0) are "
                           "supported")
        if problem.survival:
            reasons.append("survival: a survival table (the plan ends at death) is not "
                           "supported")
        if not isinstance(problem.market, LognormalMarket):
            reasons.append(f"market: {problem.market.describe()}; only the lognormal market "
                           "is supported")
        if problem.inflation is not None:
            reasons.append(f"inflation: {problem.inflation.describe()}; stochastic inflation "
                           "is not supported")
        if problem.goals and problem.cost_by_time.sum() > 0.0:
            check("funding_ratio", funding_ratio(problem), self.funding_ratio, fmt=".4g")
        else:
            reasons.append("funding_ratio: the problem has no goal with a positive cost; "
                           "the funding ratio is undefined")
        return reasons


#: The training envelope (docs/pretrained.md): what pretraining, its validation problems
#: and the benchmark suite's sampled clients draw from. The pretrained policy
#: accepts more (its acceptance envelope, ``gbwm_sb3.pretrained.loading.ACCEPTED_ENVELOPE``,
#: wider where measured against the DP); changing this changes those draws.
DEFAULT_ENVELOPE = ProblemEnvelope()


def discount_rate(problem: GBWMProblem) -> float:
    """The yearly rate used in :func:`funding_ratio`: mean of the lowest-volatility portfolio."""
    vols = problem.portfolios.volatility_array
    return float(problem.portfolios.mean_array[int(np.argmin(vols))])


def funding_ratio(problem: GBWMProblem) -> float:
    """(W0 + PV of infusions) / PV of the goals' top-level costs, at :func:`discount_rate`.

    ``inf`` when no goal costs anything.
    """
    factors = (1.0 + discount_rate(problem)) ** -np.arange(problem.horizon + 1, dtype=float)
    costs = float(problem.cost_by_time @ factors)
    resources = problem.initial_wealth + float(problem.infusion_by_time @ factors)
    return resources / costs if costs > 0.0 else math.inf


def savings_rate(problem: GBWMProblem) -> float:
    """The largest yearly infusion divided by W0 (0.0 without infusions)."""
    return max(problem.infusions, default=0.0) / problem.initial_wealth


def _generator(rng_or_seed: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    if rng_or_seed is not None and (isinstance(rng_or_seed, bool)
                                    or not isinstance(rng_or_seed, (int, np.integer))
                                    or rng_or_seed < 0):
        raise ValueError("rng_or_seed must be a numpy Generator, None or an integer >= 0, "
                         f"got {rng_or_seed!r}")
    return np.random.default_rng(rng_or_seed)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else float(lo)


def _goal_years(rng: np.random.Generator, envelope: ProblemEnvelope,
                horizon: int) -> list[int]:
    """The year of each goal (step 2 of the module docstring), sorted."""
    per_year_cap = envelope.max_goals_per_year
    lo, hi = envelope.num_goals
    count = int(rng.integers(lo, min(hi, (horizon + 1) * per_year_cap) + 1))
    fewest_years = -(-count // per_year_cap)
    most_years = min(count, horizon + 1)
    num_years = int(rng.integers(fewest_years, most_years + 1))
    if num_years <= horizon:
        years = rng.choice(np.arange(1, horizon + 1), size=num_years, replace=False)
    else:
        years = np.arange(0, horizon + 1)
    counts = np.ones(num_years, dtype=np.int64)
    for _ in range(count - num_years):
        room = np.flatnonzero(counts < per_year_cap)
        counts[room[int(rng.integers(room.size))]] += 1
    return sorted(int(y) for y, c in zip(years, counts, strict=True) for _ in range(c))


def _level_counts(rng: np.random.Generator, envelope: ProblemEnvelope,
                  years: Sequence[int]) -> list[int]:
    """Levels per goal (step 3), respecting ``max_decisions_per_year``."""
    levels = [min(int(rng.choice([1, 2, 3], p=[0.5, 0.25, 0.25])), envelope.max_levels)
              for _ in years]
    for year in set(years):
        members = [i for i, y in enumerate(years) if y == year]
        while math.prod(levels[i] + 1 for i in members) > envelope.max_decisions_per_year:
            widest = max(members, key=lambda i: levels[i])
            levels[widest] -= 1
    return levels


def _portfolios(rng: np.random.Generator, envelope: ProblemEnvelope) -> Portfolios | None:
    """Efficient portfolios of random capital-market assumptions (step 7); None if degenerate."""
    num_assets = int(rng.integers(2, 5))
    bond_mean = rng.uniform(0.01, 0.06)
    means = np.concatenate([[bond_mean], bond_mean + rng.uniform(0.02, 0.07, num_assets - 1)])
    vols = np.concatenate([[rng.uniform(0.02, 0.08)], rng.uniform(0.12, 0.25, num_assets - 1)])
    corr = np.eye(num_assets)
    for i in range(num_assets):
        for j in range(i + 1, num_assets):
            corr[i, j] = corr[j, i] = rng.uniform(-0.3, 0.3) if i == 0 else rng.uniform(0.5, 0.9)
    covariance = corr * np.outer(vols, vols)
    n = int(rng.integers(envelope.num_portfolios[0], envelope.num_portfolios[1] + 1))
    if np.linalg.eigvalsh(covariance)[0] <= 1e-8:
        return None
    try:
        frontier = EfficientFrontier(means, covariance)
        high = float(means.max())
        if frontier.min_mean >= high:
            return None
        return frontier.portfolios(n, (frontier.min_mean, high))
    except ValueError:
        return None


def _draw(rng: np.random.Generator, envelope: ProblemEnvelope) -> GBWMProblem | None:
    fewest_years = -(-envelope.num_goals[0] // envelope.max_goals_per_year)
    shortest = max(envelope.horizon[0], fewest_years - 1)
    horizon = int(rng.integers(shortest, envelope.horizon[1] + 1))
    years = _goal_years(rng, envelope, horizon)
    levels = _level_counts(rng, envelope, years)
    inflation = rng.uniform(0.0, 0.05)
    years_arr = np.asarray(years, dtype=float)
    costs = 10.0 * (1.0 + inflation) ** years_arr * np.exp(0.5 * rng.standard_normal(len(years)))
    elasticity = rng.uniform(0.0, 1.0)
    utilities = 10.0 * (costs / np.median(costs)) ** elasticity \
        * np.exp(0.3 * rng.standard_normal(len(years)))
    goals = []
    for year, cost, utility, count in zip(years, costs, utilities, levels, strict=True):
        if count == 1:
            goals.append(Goal(time=year, cost=float(cost), utility=float(utility)))
            continue
        fractions = np.append(np.sort(rng.uniform(0.3, 1.0, count - 1)), 1.0)
        concavity = rng.uniform(0.3, 1.0)
        goals.append(Goal(time=year, levels=[(float(cost * f), float(utility * f**concavity))
                                             for f in fractions]))
    portfolios = _portfolios(rng, envelope)
    if portfolios is None:
        return None
    rate_lo, rate_hi = envelope.savings_rate
    infusion_years = 0
    rate = 0.0
    if rate_hi > 0.0 and rng.uniform() >= envelope.no_savings_probability:
        rate = _log_uniform(rng, max(rate_lo, min(0.005, rate_hi)), rate_hi)
        infusion_years = int(rng.integers(0, horizon)) + 1
    ratio = _log_uniform(rng, *envelope.funding_ratio)
    vols = portfolios.volatility_array
    factors = (1.0 + portfolios.mean_array[int(np.argmin(vols))]) \
        ** -np.arange(horizon + 1, dtype=float)
    cost_pv = float(sum(c * factors[y] for y, c in zip(years, costs, strict=True)))
    infusion_pv = float(factors[:infusion_years].sum())
    initial_wealth = ratio * cost_pv / (1.0 + rate * infusion_pv)
    infusions = [rate * initial_wealth] * infusion_years + [0.0] * (horizon - infusion_years) \
        if infusion_years else ()
    return GBWMProblem(horizon=horizon, initial_wealth=initial_wealth, goals=tuple(goals),
                       portfolios=portfolios, infusions=tuple(infusions))


def sample_problem(rng_or_seed: np.random.Generator | int | None = None,
                   envelope: ProblemEnvelope = DEFAULT_ENVELOPE) -> GBWMProblem:
    """One random problem inside ``envelope`` (distributions: see the module docstring).

    ``rng_or_seed``: a ``numpy.random.Generator`` (advanced by the draw) or a seed;
    the same seed gives the same problem.
    """
    if not isinstance(envelope, ProblemEnvelope):
        raise ValueError(f"envelope must be a ProblemEnvelope, got {type(envelope).__name__}")
    rng = _generator(rng_or_seed)
    for _ in range(_MAX_TRIES):
        problem = _draw(rng, envelope)
        if problem is not None and not envelope.contains(problem):
            return problem
    raise ValueError(
        f"envelope: no problem inside it was found in {_MAX_TRIES} draws; widen "
        "portfolio_mean / portfolio_volatility or the other ranges"
    )


def sample_problems(n: int, seed: int | None = None,
                    envelope: ProblemEnvelope = DEFAULT_ENVELOPE) -> list[GBWMProblem]:
    """``n`` random problems inside ``envelope``, all from one generator seeded with ``seed``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    rng = _generator(seed)
    return [sample_problem(rng, envelope) for _ in range(int(n))]
