"""Independent problem families: how the pretrained policy does on problems made by other rules.

The benchmark suite (:mod:`gbwm_sb3.pretrained.suite`, but for the paper's family and two
example files) and the validation problems that picked the shipped weights are drawn by
the package's own sampler (:func:`~gbwm_sb3.problem.sampler.sample_problem`), so their
figures are in-distribution.
The families here are written from how people state goals (a wish list with priorities,
options such as "basic / standard / full", an income for every year of retirement,
everything happening in one year, a plan for a lifetime) and from published problems,
with their own random rules; none calls the sampler, so every family is labelled
``independent``. Some of their problems lie outside the envelope the weights were trained
for (:data:`~gbwm_sb3.problem.sampler.DEFAULT_ENVELOPE`), some outside the wider envelope
the pretrained policy accepts (:data:`~gbwm_sb3.pretrained.loading.ACCEPTED_ENVELOPE`): it
refuses those, and :mod:`gbwm_sb3.pretrained.family_benchmark` scores them separately,
beyond the envelope.

Each :class:`ProblemFamily` has a name, a one-paragraph description and a fixed seed
list; ``family.problem(seed)`` is deterministic (the same seed gives the same problem,
in any process). Draws use ``numpy.random.SeedSequence(FAMILY_ENTROPY,
spawn_key=(crc32(name), seed))``, with the fixed 128-bit :data:`FAMILY_ENTROPY` (the first
128 bits of the fractional part of sqrt(3)), whose top 32-bit word is not 0: no integer
training seed below ``2**96``, no pair ``[seed, stage]`` of a pretraining run, and not the
suite's entropy (sqrt(2)) gives the same stream.

Rules shared by the families (money in thousands, in today's terms unless said):

- **Costs**: a goal's cost is stated in today's money, log-uniform in a family's range,
  and grows with the plan's inflation (uniform in 1.5%-3.5% a year; ``meta_rl_draws``:
  0-4%): ``cost(t) = today * (1 + inflation)^t``.
- **Utilities** are priorities, not prices: each goal is a *need* (utility uniform in
  60-100), a *want* (25-60) or a *wish* (5-25), with probabilities 0.35, 0.40, 0.25,
  independent of its cost (families below change this rule where they say so).
- **Options**: a goal with options has a basic level (cost 40-60% of the full one,
  utility 50-70% of the full one), optionally a standard level (65-85% of the cost,
  75-90% of the utility) and the full level.
- **Savings**: where a family has them, a constant yearly amount (a share of W0) from
  year 0 to a stated last year.
- **Funding**: W0 (and the savings with it) is set so that the funding ratio
  (:func:`~gbwm_sb3.problem.sampler.funding_ratio`: resources over the present value of
  the goals' full costs) is a value drawn in the family's range.
- **Markets**: one of the :data:`HOUSE_VIEWS`, capital-market assumptions of the kind
  advisers publish (2 to 5 asset classes, cash to emerging-market equities), with 6 to
  20 portfolios (uniform) on the efficient frontier (:mod:`gbwm_sb3.problem.frontier`)
  from the minimum-variance mean to the highest asset mean.

The families (:data:`FAMILIES`, 20 seeds each but ``published``; each one's
``description`` gives every range):

- ``utility_unrelated``: T 8-35, 3-10 goals in distinct years; utility a priority score
  uniform in 5-100 drawn without the cost (even seeds) or ``100 (cheapest / cost)^a``,
  a in 0.5-1, with lognormal noise (odd seeds: the cheapest goals matter most); funding
  0.4-1.5.
- ``dominated_levels``: T 8-30, 3-8 goals of 2-3 options; half the goals get an
  overpriced option (dearer than the full level, less utility), a near-tie (within 2%
  of the full level in cost and utility) or a basic level worth 98-100% of the full
  one; options listed in a random order in half the goals; funding 0.5-1.5.
- ``crowded_years``: T 3-20; one year before T holds 3-4 goals with options, 27-64
  decisions (:data:`CROWDED_LEVEL_PATTERNS` in turn); a second busy year in a third of
  the plans, 0-5 single goals elsewhere; funding 0.3-1.2.
- ``retirement_income``: T spread over 20-60; an income goal in each of the last 10-30
  years (utility 10 a year, optionally falling, optionally an essential level), savings
  in every working year, an earlier goal in half the plans; funding 0.4-1.2.
- ``long_horizon``: T spread over 41-100; 2-14 goals and a bequest at T; funding 0.3-1.0.
- ``volatile_or_flat_frontiers``: the riskiest portfolio's volatility spread
  log-uniformly over 3%-50% (:func:`volatility_frontier`); T 5-30, 2-8 goals; funding
  0.5-1.5.
- ``underfunded``: funding ratio spread log-uniformly over 0.1-0.3; T 5-35, 3-10 goal
  years, some with two goals.
- ``published``: the paper's family (NG = 1..16), Das et al. (2020) with C(t) = 0..+5
  and the four rows of Das et al. (2022) (GBWM-SPEC section 8), not random.
- ``meta_rl_draws``: shaped like the 2026 meta-RL test set (GBWM-SPEC section 6): T = 3 +
  97 Beta(1.3, 2.3) (mean about 38), a goal every year over the last 5-60 years in 40% of
  the plans, else 1-40 goals; savings in every other seed; funding 0.3-2.

Not in :data:`FAMILIES`: :data:`META_RL_FULL_RANGE`, the same kind of problems spread
evenly over horizons 1-100, 1-60 goals (a goal every year in a fifth of the plans),
funding ratios 0.1-4, frontiers topping out at 15-50% volatility and up to 64 decisions a
year, for ``benchmarks/envelope_probe.py`` (the measurements behind the acceptance
envelope).
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from gbwm_sb3.pretrained.suite import BenchmarkProblem, Market
from gbwm_sb3.problem.frontier import PAPER_ASSET_COVARIANCE, PAPER_ASSET_MEANS, EfficientFrontier
from gbwm_sb3.problem.model import (
    PAPER_NUM_GOALS,
    GBWMProblem,
    Goal,
    Portfolios,
    paper_portfolios,
    paper_problem,
)
from gbwm_sb3.problem.sampler import funding_ratio

__all__ = [
    "FAMILY_ENTROPY",
    "N_SEEDS",
    "ProblemFamily",
    "FAMILIES",
    "FAMILY_NAMES",
    "HOUSE_VIEWS",
    "CROWDED_LEVEL_PATTERNS",
    "family",
    "family_problems",
    "family_rng",
    "at_funding_ratio",
    "META_RL_FULL_RANGE",
]

#: Entropy of every draw of the families: the first 128 bits of the fractional part of
#: sqrt(3) (the suite's is sqrt(2)); above 2**96, so no training seed shares it.
FAMILY_ENTROPY = 0xBB67AE8584CAA73B25742D7078B83B89

#: Problems of each drawn family (seeds 0..N_SEEDS-1).
N_SEEDS = 20

#: Priority tiers: (name, probability, utility range).
PRIORITY_TIERS = (("need", 0.35, (60.0, 100.0)), ("want", 0.40, (25.0, 60.0)),
                  ("wish", 0.25, (5.0, 25.0)))

Generator = Callable[[np.random.Generator, int], GBWMProblem]


@dataclass(frozen=True)
class ProblemFamily:
    """A named, seeded generator of problems.

    ``generate(rng, index)`` draws one problem from ``rng`` (``index``: the seed's place in
    ``seeds``, used by families that spread a quantity evenly over their problems);
    ``independent`` is True when the family does not use the package's sampler.
    """

    name: str
    description: str
    seeds: tuple[int, ...]
    generate: Generator = dataclasses.field(repr=False)
    independent: bool = True

    def problem(self, seed: int) -> GBWMProblem:
        """The family's problem for ``seed`` (deterministic)."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        index = self.seeds.index(int(seed)) if int(seed) in self.seeds else int(seed)
        return self.generate(family_rng(self.name, int(seed)), index)

    def problem_name(self, seed: int) -> str:
        """The benchmark name of the problem of ``seed``: ``<family>-<seed, two digits>``."""
        return f"{self.name}-{int(seed):02d}"

    def problems(self) -> list[BenchmarkProblem]:
        """One :class:`BenchmarkProblem` per seed (category: the family's name)."""
        return [BenchmarkProblem(self.problem_name(s), self.name, self.problem(s))
                for s in self.seeds]


def family_rng(name: str, seed: int) -> np.random.Generator:
    """The generator of problem ``seed`` of family ``name`` (see the module docstring)."""
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence(FAMILY_ENTROPY, spawn_key=(key, seed)))


# ----------------------------------------------------------------------------- shared rules
def _corr(n: int, pairs: dict[tuple[int, int], float]) -> tuple[tuple[float, ...], ...]:
    matrix = np.eye(n)
    for (i, j), value in pairs.items():
        matrix[i, j] = matrix[j, i] = value
    return tuple(tuple(float(v) for v in row) for row in matrix)


def _paper_view() -> Market:
    cov = np.asarray(PAPER_ASSET_COVARIANCE)
    vols = np.sqrt(np.diag(cov))
    corr = cov / np.outer(vols, vols)
    return Market("paper-inputs", "the paper's bonds, US and international stocks",
                  PAPER_ASSET_MEANS, tuple(float(v) for v in vols),
                  tuple(tuple(float(v) for v in row) for row in corr), 15)


#: Capital-market assumptions the families invest in (``n_portfolios`` is replaced by a
#: draw of 6 to 20).
HOUSE_VIEWS = (
    _paper_view(),
    Market("bonds-and-stocks", "aggregate bonds and one equity index",
           (0.035, 0.075), (0.055, 0.16), _corr(2, {(0, 1): 0.1}), 10),
    Market("global-five", "cash, bonds, US, international and emerging-market equities",
           (0.025, 0.035, 0.07, 0.075, 0.09), (0.01, 0.05, 0.16, 0.17, 0.24),
           _corr(5, {(0, 1): 0.1, (0, 2): 0.0, (0, 3): 0.0, (0, 4): 0.0, (1, 2): 0.0,
                     (1, 3): 0.05, (1, 4): 0.1, (2, 3): 0.8, (2, 4): 0.7, (3, 4): 0.75}), 10),
    Market("low-rates", "low bond yields, two equity classes",
           (0.015, 0.055, 0.06), (0.04, 0.15, 0.17),
           _corr(3, {(0, 1): -0.2, (0, 2): -0.15, (1, 2): 0.8}), 10),
    Market("high-rates", "high bond yields and one equity index",
           (0.05, 0.09), (0.07, 0.18), _corr(2, {(0, 1): 0.2}), 10),
    Market("real-assets", "bonds, equities, real estate and commodities",
           (0.035, 0.075, 0.07, 0.05), (0.06, 0.16, 0.20, 0.18),
           _corr(4, {(0, 1): 0.1, (0, 2): 0.2, (0, 3): -0.1, (1, 2): 0.6, (1, 3): 0.3,
                     (2, 3): 0.3}), 10),
)


def _house_view(rng: np.random.Generator) -> Portfolios:
    view = HOUSE_VIEWS[int(rng.integers(len(HOUSE_VIEWS)))]
    return dataclasses.replace(view, n_portfolios=int(rng.integers(6, 21))).portfolios()


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _spread(rng: np.random.Generator, index: int, count: int, lo: float, hi: float,
            log: bool = False) -> float:
    """A value in stratum ``index % count`` of ``[lo, hi]`` (uniform, or log-uniform)."""
    u = (index % count + rng.uniform()) / count
    if log:
        return float(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))
    return float(lo + u * (hi - lo))


def _priority(rng: np.random.Generator) -> float:
    """A goal's utility from its priority tier (need, want or wish)."""
    tier = int(rng.choice(len(PRIORITY_TIERS), p=[p for _, p, _ in PRIORITY_TIERS]))
    lo, hi = PRIORITY_TIERS[tier][2]
    return float(rng.uniform(lo, hi))


def _options(rng: np.random.Generator, cost: float, utility: float,
             count: int) -> list[tuple[float, float]]:
    """``count`` (1-3) levels: basic, (standard,) full; see the module docstring."""
    if count == 1:
        return [(cost, utility)]
    basic = (cost * rng.uniform(0.4, 0.6), utility * rng.uniform(0.5, 0.7))
    if count == 2:
        return [basic, (cost, utility)]
    standard = (cost * rng.uniform(0.65, 0.85), utility * rng.uniform(0.75, 0.9))
    return [basic, standard, (cost, utility)]


def _goal(time: int, levels: Sequence[tuple[float, float]], name: str | None = None) -> Goal:
    if len(levels) == 1:
        return Goal(time=time, cost=float(levels[0][0]), utility=float(levels[0][1]),
                    name=name)
    return Goal(time=time, levels=[(float(c), float(u)) for c, u in levels], name=name)


def _savings(rng: np.random.Generator, horizon: int, probability: float,
             rate: tuple[float, float], last: tuple[float, float] = (0.3, 1.0)
             ) -> tuple[float, ...]:
    """Yearly savings as a share of W0 (W0 = 1 before funding), or none."""
    if rng.uniform() >= probability:
        return ()
    amount = _log_uniform(rng, *rate)
    years = max(1, min(horizon, int(round(horizon * rng.uniform(*last)))))
    return tuple([amount] * years + [0.0] * (horizon - years))


def at_funding_ratio(problem: GBWMProblem, target: float) -> GBWMProblem:
    """``problem`` with W0 and every infusion multiplied by one factor so that its funding
    ratio (:func:`~gbwm_sb3.problem.sampler.funding_ratio`) is ``target``."""
    factor = target / funding_ratio(problem)
    return dataclasses.replace(problem, initial_wealth=problem.initial_wealth * factor,
                               infusions=tuple(v * factor for v in problem.infusions))


def _plan(horizon: int, goals: Iterable[Goal], portfolios: Portfolios,
          infusions: tuple[float, ...], target_funding: float) -> GBWMProblem:
    problem = GBWMProblem(horizon=horizon, initial_wealth=1.0, goals=tuple(goals),
                          portfolios=portfolios, infusions=infusions)
    return at_funding_ratio(problem, target_funding)


def _inflated(today: float, year: int, inflation: float) -> float:
    return float(today * (1.0 + inflation) ** year)


def _years(rng: np.random.Generator, count: int, horizon: int) -> list[int]:
    """``count`` distinct goal years from 1..horizon (sorted)."""
    count = min(count, horizon)
    return sorted(int(y) for y in rng.choice(np.arange(1, horizon + 1), size=count,
                                             replace=False))


# ----------------------------------------------------------------------------- the families
def _utility_unrelated(rng: np.random.Generator, index: int) -> GBWMProblem:
    horizon = int(rng.integers(8, 36))
    years = _years(rng, int(rng.integers(3, 11)), horizon)
    inflation = rng.uniform(0.015, 0.035)
    today = np.array([_log_uniform(rng, 10.0, 200.0) for _ in years])
    if index % 2 == 0:  # priority scores out of 100, drawn without looking at the cost
        utilities = rng.uniform(5.0, 100.0, len(years))
    else:  # the cheapest goals matter most
        power = rng.uniform(0.5, 1.0)
        utilities = 100.0 * (today.min() / today) ** power * np.exp(0.2 * rng.standard_normal(
            len(years)))
    goals = []
    for year, cost, utility in zip(years, today, utilities, strict=True):
        count = 2 if rng.uniform() < 0.3 else 1
        goals.append(_goal(year, _options(rng, _inflated(cost, year, inflation),
                                          float(utility), count)))
    return _plan(horizon, goals, _house_view(rng),
                 _savings(rng, horizon, 0.5, (0.02, 0.10), (0.5, 1.0)),
                 _log_uniform(rng, 0.4, 1.5))


def _dominated_levels(rng: np.random.Generator, index: int) -> GBWMProblem:
    horizon = int(rng.integers(8, 31))
    years = _years(rng, int(rng.integers(3, 9)), horizon)
    inflation = rng.uniform(0.015, 0.035)
    goals = []
    flaws = rng.permutation(len(years))[: max(1, len(years) // 2)]
    for k, year in enumerate(years):
        cost = _inflated(_log_uniform(rng, 10.0, 150.0), year, inflation)
        levels = _options(rng, cost, _priority(rng), int(rng.integers(2, 4)))
        if k in flaws:
            kind = rng.uniform()
            top_cost, top_utility = levels[-1]
            if kind < 0.4:  # an overpriced option: costs more than the full level, gives less
                levels.append((top_cost * rng.uniform(1.05, 1.4),
                               top_utility * rng.uniform(0.6, 0.98)))
            elif kind < 0.7:  # a near-tie: within 2% in cost and in utility of the full level
                levels.append((top_cost * rng.uniform(0.98, 1.02),
                               top_utility * rng.uniform(0.98, 1.02)))
            else:  # the basic level gives as much as the full one
                levels[0] = (levels[0][0], top_utility * rng.uniform(0.98, 1.0))
            if len(levels) > 3:
                levels = [levels[0], *levels[-2:]]
        if rng.uniform() < 0.5:  # options as people list them, not sorted by cost
            levels = [levels[int(i)] for i in rng.permutation(len(levels))]
        goals.append(_goal(year, levels))
    return _plan(horizon, goals, _house_view(rng),
                 _savings(rng, horizon, 0.3, (0.02, 0.10)), _log_uniform(rng, 0.5, 1.5))


#: Levels of the goals of the crowded year; ``prod(levels + 1)`` is 27 to 64 decisions.
CROWDED_LEVEL_PATTERNS = ((2, 2, 2), (3, 2, 2), (3, 3, 2), (3, 3, 3), (2, 2, 1, 1),
                          (2, 2, 2, 1), (3, 2, 1, 1), (3, 3, 1, 1), (3, 1, 1, 1))


def _crowded_years(rng: np.random.Generator, index: int) -> GBWMProblem:
    horizon = int(rng.integers(3, 21))
    inflation = rng.uniform(0.015, 0.035)
    crowded = int(rng.integers(1, horizon))  # a year with a choice (not T)
    pattern = CROWDED_LEVEL_PATTERNS[index % len(CROWDED_LEVEL_PATTERNS)]
    goals = []
    for count in pattern:
        cost = _inflated(_log_uniform(rng, 5.0, 100.0), crowded, inflation)
        goals.append(_goal(crowded, _options(rng, cost, _priority(rng), count)))
    others = [y for y in range(1, horizon + 1) if y != crowded]
    if others and rng.uniform() < 1 / 3:  # a second busy year: two goals with options
        second = int(rng.choice(others))
        others.remove(second)
        for _ in range(2):
            cost = _inflated(_log_uniform(rng, 5.0, 100.0), second, inflation)
            goals.append(_goal(second, _options(rng, cost, _priority(rng), 2)))
    for year in (sorted(int(y) for y in rng.choice(others, size=min(len(others), int(
            rng.integers(0, 6))), replace=False)) if others else []):
        cost = _inflated(_log_uniform(rng, 5.0, 100.0), year, inflation)
        goals.append(_goal(year, _options(rng, cost, _priority(rng), 1)))
    return _plan(horizon, goals, _house_view(rng),
                 _savings(rng, horizon, 0.4, (0.02, 0.15)), _log_uniform(rng, 0.3, 1.2))


def _retirement_income(rng: np.random.Generator, index: int) -> GBWMProblem:
    horizon = int(round(_spread(rng, index, N_SEEDS, 20, 60)))
    retired = int(rng.integers(10, min(30, horizon) + 1))
    first = horizon - retired + 1
    inflation = rng.uniform(0.015, 0.035)
    spending = _log_uniform(rng, 30.0, 120.0)
    with_essential = rng.uniform() < 0.5
    decline = rng.uniform(0.97, 1.0) if rng.uniform() < 0.5 else 1.0
    essential_cost, essential_utility = rng.uniform(0.5, 0.8), rng.uniform(0.6, 0.85)
    goals = []
    for k, year in enumerate(range(first, horizon + 1)):
        cost = _inflated(spending, year, inflation)
        utility = 10.0 * decline**k
        levels = [(cost * essential_cost, utility * essential_utility), (cost, utility)] \
            if with_essential else [(cost, utility)]
        goals.append(_goal(year, levels, name=f"income {year}"))
    if first > 2 and rng.uniform() < 0.5:  # one earlier goal (a home, college)
        year = int(rng.integers(1, first))
        cost = _inflated(spending * rng.uniform(1.0, 4.0), year, inflation)
        goals.append(_goal(year, _options(rng, cost, 10.0 * rng.uniform(0.5, 3.0), 2)))
    working = first  # savings in the working years 0..first-1
    amount = _log_uniform(rng, 0.02, 0.3)
    infusions = tuple([amount] * min(working, horizon) + [0.0] * (horizon - min(working,
                                                                                  horizon)))
    return _plan(horizon, goals, _house_view(rng), infusions, _log_uniform(rng, 0.4, 1.2))


def _long_horizon(rng: np.random.Generator, index: int) -> GBWMProblem:
    horizon = int(round(_spread(rng, index, N_SEEDS, 41, 100)))
    inflation = rng.uniform(0.015, 0.035)
    count = int(rng.integers(3, 16))
    years = _years(rng, count - 1, horizon - 1) + [horizon]  # and a bequest at T
    goals = []
    for year in years[:-1]:
        cost = _inflated(_log_uniform(rng, 20.0, 300.0), year, inflation)
        goals.append(_goal(year, _options(rng, cost, _priority(rng),
                                          int(rng.choice([1, 2, 3], p=[0.6, 0.25, 0.15])))))
    bequest = _inflated(_log_uniform(rng, 100.0, 1000.0), horizon, inflation)
    goals.append(_goal(horizon, _options(rng, bequest, _priority(rng), 2), name="bequest"))
    return _plan(horizon, goals, _house_view(rng),
                 _savings(rng, horizon, 0.6, (0.01, 0.10), (0.2, 0.4)),
                 _log_uniform(rng, 0.3, 1.0))


def volatility_frontier(rng: np.random.Generator, top_volatility: float,
                        n_portfolios: int) -> Portfolios:
    """Efficient portfolios of three assets whose riskiest portfolio has ``top_volatility``.

    A low-risk asset (volatility 10-30% of the top, at most 2%, at least 0.6%), a middle
    and a risky asset (1.2 times the top volatility), risk premia of 0.2-0.45 per unit of
    volatility over the low-risk mean (1-3%); the frontier runs from the minimum-variance
    mean to the mean where its volatility reaches ``top_volatility``.
    """
    low_vol = min(max(top_volatility * rng.uniform(0.1, 0.3), 0.006), 0.02)
    vols = np.array([low_vol, 0.6 * top_volatility, 1.2 * top_volatility])
    sharpe = rng.uniform(0.2, 0.45, 2)
    base = rng.uniform(0.01, 0.03)
    means = np.array([base, base + sharpe[0] * (vols[1] - low_vol),
                      base + sharpe[1] * (vols[2] - low_vol)])
    if means[2] <= means[1]:
        means[1], means[2] = means[2], means[1]
        vols[1], vols[2] = vols[2], vols[1]
    corr = np.array([[1.0, 0.1, 0.0], [0.1, 1.0, 0.6], [0.0, 0.6, 1.0]])
    frontier = EfficientFrontier(means, corr * np.outer(vols, vols))
    lo, hi = frontier.min_mean, float(means.max()) * 1.5
    if frontier.volatility([lo])[0] >= top_volatility:
        raise ValueError("the minimum-variance portfolio is already riskier than the top")
    for _ in range(200):  # bisect for the mean where the frontier reaches top_volatility
        mid = 0.5 * (lo + hi)
        if frontier.volatility([mid])[0] < top_volatility:
            lo = mid
        else:
            hi = mid
    return frontier.portfolios(n_portfolios, (frontier.min_mean, lo))


def _volatile_or_flat_frontiers(rng: np.random.Generator, index: int) -> GBWMProblem:
    top = _spread(rng, index, N_SEEDS, 0.03, 0.5, log=True)
    horizon = int(rng.integers(5, 31))
    years = _years(rng, int(rng.integers(2, 9)), horizon)
    inflation = rng.uniform(0.015, 0.035)
    goals = [_goal(y, _options(rng, _inflated(_log_uniform(rng, 10.0, 150.0), y, inflation),
                               _priority(rng), int(rng.choice([1, 2], p=[0.7, 0.3]))))
             for y in years]
    portfolios = volatility_frontier(rng, top, int(rng.integers(5, 21)))
    return _plan(horizon, goals, portfolios, _savings(rng, horizon, 0.4, (0.02, 0.10)),
                 _log_uniform(rng, 0.5, 1.5))


def _underfunded(rng: np.random.Generator, index: int) -> GBWMProblem:
    target = _spread(rng, index, N_SEEDS, 0.1, 0.3, log=True)
    horizon = int(rng.integers(5, 36))
    inflation = rng.uniform(0.015, 0.035)
    years = _years(rng, int(rng.integers(3, 11)), horizon)
    goals = []
    for year in years:
        for _ in range(2 if rng.uniform() < 0.25 else 1):  # some years hold two wishes
            cost = _inflated(_log_uniform(rng, 10.0, 200.0), year, inflation)
            goals.append(_goal(year, _options(rng, cost, _priority(rng),
                                              2 if rng.uniform() < 0.4 else 1)))
    return _plan(horizon, goals, _house_view(rng),
                 _savings(rng, horizon, 0.5, (0.02, 0.15)), target)


#: Das et al. (2020): the cash flows C(t) at years 1..9 without withdrawals.
DAS_2020_CASH_FLOWS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
#: Das et al. (2022): (costs at t = 5, 10), (utilities).
DAS_2022_ROWS = (((100.0, 150.0), (1000.0, 1000.0)), ((100.0, 150.0), (1000.0, 3000.0)),
                 ((100.0, 150.0), (3000.0, 1000.0)), ((150.0, 100.0), (1000.0, 2000.0)))
_PUBLISHED = ([("paper", ng) for ng in PAPER_NUM_GOALS]
              + [("das2020", c) for c in DAS_2020_CASH_FLOWS]
              + [("das2022", row) for row in range(len(DAS_2022_ROWS))])


def published_problem(index: int) -> GBWMProblem:
    """Problem ``index`` of the ``published`` family (paper NG = 1..16, Das 2020 C = 0..+5,
    Das 2022 rows 1-4, in that order)."""
    kind, value = _PUBLISHED[index]
    if kind == "paper":
        return paper_problem(int(value))
    if kind == "das2020":
        return GBWMProblem(horizon=10, initial_wealth=100.0, goals=(Goal(10, 200.0, 1.0),),
                           portfolios=paper_portfolios(),
                           infusions=(0.0, *[float(value)] * 9) if value else ())
    costs, utilities = DAS_2022_ROWS[int(value)]
    return GBWMProblem(horizon=10, initial_wealth=100.0,
                       goals=(Goal(5, costs[0], utilities[0]), Goal(10, costs[1], utilities[1])),
                       portfolios=paper_portfolios())


def _published(rng: np.random.Generator, index: int) -> GBWMProblem:
    return published_problem(index)


def _meta_rl_draws(rng: np.random.Generator, index: int) -> GBWMProblem:
    horizon = 3 + int(round(97 * rng.beta(1.3, 2.3)))  # 3..100, mean about 38
    inflation = rng.uniform(0.0, 0.04)
    if rng.uniform() < 0.4:  # a goal every year over the last stretch of the plan
        count = int(rng.integers(min(5, horizon), min(60, horizon) + 1))
        years = list(range(horizon - count + 1, horizon + 1))
    else:
        count = min(horizon, max(1, int(round(_log_uniform(rng, 1.0, 40.0)))))
        years = _years(rng, count, horizon)
    goals = []
    for year in years:
        cost = _inflated(float(np.exp(0.5 * rng.standard_normal())) * 20.0, year,
                         inflation)
        goals.append(_goal(year, _options(rng, cost, _priority(rng),
                                          2 if rng.uniform() < 0.3 else 1)))
    infusions = _savings(rng, horizon, 1.0, (0.01, 0.2)) if index % 2 == 0 else ()
    return _plan(horizon, goals, _house_view(rng), infusions, _log_uniform(rng, 0.3, 2.0))


def _meta_rl_full_range(rng: np.random.Generator, index: int) -> GBWMProblem:
    horizon = int(rng.integers(1, 101))
    inflation = rng.uniform(0.0, 0.04)
    if rng.uniform() < 0.2:  # a goal every year (the last 60 years of a longer plan)
        count = min(horizon, 60)
        years = list(range(horizon - count + 1, horizon + 1))
    else:
        count = min(horizon, 60, max(1, int(round(_log_uniform(rng, 1.0, 60.0)))))
        years = _years(rng, count, horizon)
    busy = int(rng.choice(years)) if count <= 58 and rng.uniform() < 0.15 else None
    goals = []
    for year in years:
        patterns = CROWDED_LEVEL_PATTERNS[int(rng.integers(4))] if year == busy \
            else (int(rng.choice([1, 2, 3], p=[0.6, 0.25, 0.15])),)
        for levels in patterns:  # a busy year: three goals with options, 27-64 decisions
            cost = _inflated(float(np.exp(0.5 * rng.standard_normal())) * 20.0, year,
                             inflation)
            goals.append(_goal(year, _options(rng, cost, _priority(rng), levels)))
    if rng.uniform() < 0.5:
        portfolios = _house_view(rng)
    else:
        portfolios = volatility_frontier(rng, rng.uniform(0.15, 0.5), int(rng.integers(5, 21)))
    return _plan(horizon, goals, portfolios, _savings(rng, horizon, 0.5, (0.01, 0.2)),
                 _log_uniform(rng, 0.1, 4.0))


_SEEDS = tuple(range(N_SEEDS))

#: The families, in the order the benchmark runs them.
FAMILIES = (
    ProblemFamily(
        "utility_unrelated",
        "Wish lists whose priorities do not follow the price tag. Horizon 8-35 years, 3-10 "
        "goals in distinct years, today's costs log-uniform in 10-200 (30% with a basic "
        "option); even seeds score each goal's utility uniform in 5-100 independently of "
        "its cost, odd seeds make utility inversely related to cost (100 (cheapest / cost)^a "
        "with a in 0.5-1, times lognormal noise of 0.2): the cheapest goals matter most. "
        "Savings in half the plans (2-10% of W0 a year); funding ratio log-uniform 0.4-1.5.",
        _SEEDS, _utility_unrelated),
    ProblemFamily(
        "dominated_levels",
        "Goals offered as 2 or 3 options (basic, standard, full), with a flaw in half of "
        "them: an overpriced option (5-40% dearer than the full level, 2-40% less utility), "
        "a near-tie (an extra option within 2% of the full level in cost and utility) or a "
        "basic level worth as much as the full one (98-100% of its utility); options are "
        "listed in a random order in half the goals. Horizon 8-30, 3-8 goals, funding "
        "ratio log-uniform 0.5-1.5, savings in 30% of plans.",
        _SEEDS, _dominated_levels),
    ProblemFamily(
        "crowded_years",
        "Everything at once: one year holds 3 or 4 goals with options whose decisions "
        "number 27 to 64 (the levels cycle through CROWDED_LEVEL_PATTERNS), a third of the "
        "plans have a second busy year (two goals with a basic option), and 0-5 single "
        "goals fill other years. Horizon 3-20, today's costs 5-100, utilities by priority "
        "tier; funding ratio log-uniform 0.3-1.2, savings in 40% of plans.",
        _SEEDS, _crowded_years),
    ProblemFamily(
        "retirement_income",
        "An income for every year of retirement: horizon 20-60 (spread over the seeds), a "
        "goal in each of the last 10-30 years (spending of 30-120 a year in today's money, "
        "inflated; utility 10 a year, falling 0-3% a year in half the plans), in half the "
        "plans with an essential level (50-80% of the spending for 60-85% of the utility); "
        "half have one earlier goal (a home or college, with a basic option). Savings of "
        "2-30% of W0 a year in every working year; funding ratio log-uniform 0.4-1.2.",
        _SEEDS, _retirement_income),
    ProblemFamily(
        "long_horizon",
        "Lifetime and multi-generation plans: horizon 41-100 years (spread over the seeds), "
        "2-14 goals at random years (today's costs 20-300, 40% with options) and a bequest "
        "at the horizon (100-1,000 today, with a basic option). Savings in 60% of plans "
        "(1-10% of W0 a year over the first 20-40% of the years); funding ratio log-uniform "
        "0.3-1.0 (discounted at the cautious portfolio's mean: over these horizons the "
        "equity premium compounds).",
        _SEEDS, _long_horizon),
    ProblemFamily(
        "volatile_or_flat_frontiers",
        "The same kind of goals (horizon 5-30, 2-8 goals, 30% with a basic option) invested "
        "on frontiers from very flat to very volatile: the riskiest portfolio's volatility "
        "is spread log-uniformly over 3%-50% across the seeds (volatility_frontier: three "
        "assets built with gbwm_sb3.problem.frontier, risk premia of 0.2-0.45 per unit of "
        "volatility), 5-20 portfolios. Funding ratio log-uniform 0.5-1.5.",
        _SEEDS, _volatile_or_flat_frontiers),
    ProblemFamily(
        "underfunded",
        "Wish lists far beyond the client's means: funding ratio spread log-uniformly over "
        "0.1-0.3 across the seeds; horizon 5-35, 3-10 goal years, a quarter of them with two "
        "goals, 40% of the goals with a basic option; savings in half the plans (2-15% of "
        "W0 a year).",
        _SEEDS, _underfunded),
    ProblemFamily(
        "published",
        "The published problems without withdrawals (GBWM-SPEC section 8): the paper's "
        "family (NG = 1, 2, 4, 8, 16), Das et al. (2020) with cash flows C(t) = 0, +1, ..., "
        "+5 (one goal of 200 at T = 10, W0 = 100, utility 1) and the four two-goal rows of "
        "Das et al. (2022). Not drawn at random; seeds index the list. The paper's family is "
        "also in the in-distribution suite, and paper-like problems (another W0) were among "
        "the validation problems that picked the shipped weights.",
        tuple(range(len(_PUBLISHED))), _published),
    ProblemFamily(
        "meta_rl_draws",
        "Problems shaped like the 2026 meta-RL paper's test set (GBWM-SPEC section 6): "
        "horizon 3 + 97 Beta(1.3, 2.3) (3-100 years, mean about 38); in 40% of plans a goal "
        "every year over the last 5-60 years, else 1-40 goals (log-uniform) in distinct "
        "years; today's costs lognormal around 20, 30% with a basic option, utilities by "
        "priority tier; every other seed has savings (1-20% of W0 a year); funding ratio "
        "log-uniform 0.3-2.",
        _SEEDS, _meta_rl_draws),
)

#: The family names, in :data:`FAMILIES` order.
FAMILY_NAMES = tuple(f.name for f in FAMILIES)

#: Not in :data:`FAMILIES`: draws over the whole range users ask the pretrained policy
#: about, for choosing its acceptance envelope (``benchmarks/envelope_probe.py``).
META_RL_FULL_RANGE = ProblemFamily(
    "meta_rl_full_range",
    "The 2026 meta-RL paper's range (GBWM-SPEC section 6) and beyond, evenly: horizon "
    "uniform in 1-100 years; in 20% of plans a goal every year (the last 60 years of a "
    "longer plan), else 1-60 goals (log-uniform, at most one a year) in distinct years; "
    "in 15% of plans (with at most 58 goals) one goal year holds three goals with 2-3 "
    "options each (27-64 decisions); today's costs lognormal around 20, 1-3 options "
    "(probabilities 0.6, 0.25, 0.15), utilities by priority tier; savings in half the "
    "plans (1-20% of W0 a year); half the plans invest on a house view, half on a "
    "volatility_frontier whose riskiest portfolio has a volatility uniform in 15%-50%; "
    "funding ratio log-uniform 0.1-4.",
    _SEEDS, _meta_rl_full_range)


def family(name: str) -> ProblemFamily:
    """The family called ``name``; ValueError listing the names otherwise."""
    for item in FAMILIES:
        if item.name == name:
            return item
    raise ValueError(f"unknown family {name!r}; the families are {', '.join(FAMILY_NAMES)}")


def family_problems(names: Iterable[str] | str | None = None) -> list[BenchmarkProblem]:
    """The problems of the families ``names`` (all when None; ``"all"`` too), family by
    family in :data:`FAMILIES` order."""
    if names is None:
        wanted = set(FAMILY_NAMES)
    else:
        given = {names} if isinstance(names, str) else set(names)
        unknown = sorted(str(n) for n in given - set(FAMILY_NAMES) - {"all"})
        if unknown:
            raise ValueError(f"unknown famil{'y' if len(unknown) == 1 else 'ies'} "
                             f"{', '.join(map(repr, unknown))}; the families are "
                             f"{', '.join(FAMILY_NAMES)} (or all)")
        wanted = set(FAMILY_NAMES) if "all" in given else given
    return [item for f in FAMILIES if f.name in wanted for item in f.problems()]
