"""A fixed benchmark suite of GBWM problems for a policy pretrained on many clients.

A policy trained once on sampled clients (GBWM-SPEC section 6) is judged on problems it
never saw in training. :func:`benchmark_suite` returns the same list on every call,
66 problems in four categories (:data:`SUITE_CATEGORIES`), every one inside
:data:`~gbwm_sb3.problem.sampler.DEFAULT_ENVELOPE`:

- ``paper`` (5): the paper's family, NG = 1, 2, 4, 8, 16 (:func:`paper_problem`);
- ``example`` (2): the example problem files that lie inside the envelope and are not
  the paper's family (``examples/problems/client_asset_classes.yaml`` and
  ``family_plan.yaml``), shipped as package data in ``suite_problems/``;
  ``listed_portfolios`` has 4 portfolios (the envelope needs 5 to 20) and the
  ``paper_ng*`` files are the paper family in dollars;
- ``sampled`` (43): draws of :func:`sample_problem` in six groups (:data:`SAMPLED_GROUPS`),
  each a sub-envelope of the default one so the suite reaches its corners: 20 draws from
  the whole envelope, 4 with a 40-year horizon and 15 to 20 goals, 5 underfunded
  (funding ratio 0.25 to 0.5), 5 overfunded (2 to 4), 4 steady savers (savings rate
  0.1 to 1 of W0, always saving) and 5 crowded ones (10 to 20 goals within 2 to 8
  years, so several goals and many decisions a year);
- ``out_of_distribution`` (16): goals and savings drawn like the sampler's, invested
  in capital markets the sampler never draws (:data:`OOD_MARKETS`: equity volatility
  30-38%, negative real returns, equity premiums of 8-12%, negatively correlated
  equities, cash plus one risky asset, five assets, a leveraged or a truncated
  frontier, ...), each with a reason it lies outside the sampler's asset ranges;
  W0 (and the savings with it) is set for a funding ratio log-uniform in 0.5 to 2.

Seeds. Training draws its problems from ``MultiProblemVecEnv(..., seed=s)``, i.e. from
``SeedSequence(s)`` with integer seeds ``s`` below ``2**64`` (derived from
``SeedSequence([seed, stage])``). The suite draws from
``SeedSequence(SUITE_ENTROPY, spawn_key=(group, draw))`` with the fixed 128-bit
:data:`SUITE_ENTROPY`, whose top 32-bit word is not 0: no integer seed below ``2**96``
and no pair ``[seed, stage]`` with ``seed < 2**64`` and ``stage < 2**32`` has the same
entropy, so the suite's problems are not among the training problems.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from gbwm_sb3.problem.files import load_problem
from gbwm_sb3.problem.frontier import EfficientFrontier
from gbwm_sb3.problem.model import PAPER_NUM_GOALS, GBWMProblem, Portfolios, paper_problem
from gbwm_sb3.problem.sampler import (
    DEFAULT_ENVELOPE,
    ProblemEnvelope,
    funding_ratio,
    sample_problem,
    savings_rate,
)

__all__ = [
    "BenchmarkProblem",
    "SUITE_CATEGORIES",
    "SUITE_ENTROPY",
    "SampledGroup",
    "SAMPLED_GROUPS",
    "Market",
    "OOD_MARKETS",
    "SAMPLER_ASSET_RANGES",
    "market_outside_sampler",
    "with_portfolios",
    "benchmark_suite",
    "suite_summary",
]

SUITE_CATEGORIES = ("paper", "example", "sampled", "out_of_distribution")

#: Entropy of every draw of the suite (the first 128 bits of the fractional part of
#: sqrt(2)); above 2**96, so no training seed (see the module docstring) shares it.
SUITE_ENTROPY = 0x6A09E667F3BCC908B2FB1366EA957D3E

#: The package-data problem files of the ``example`` category, in suite order.
EXAMPLE_FILES = ("client_asset_classes.yaml", "family_plan.yaml")


@dataclass(frozen=True)
class BenchmarkProblem:
    """One problem of the suite: a unique ``name``, its ``category`` and the problem."""

    name: str
    category: str
    problem: GBWMProblem


@dataclass(frozen=True)
class SampledGroup:
    """``count`` draws of :func:`sample_problem` inside ``envelope`` (a part of the default)."""

    name: str
    count: int
    envelope: ProblemEnvelope


#: The ``sampled`` category: (group, draws, sub-envelope), drawn in this order.
SAMPLED_GROUPS = (
    SampledGroup("any", 20, DEFAULT_ENVELOPE),
    SampledGroup("long", 4, ProblemEnvelope(horizon=(40, 40), num_goals=(15, 20))),
    SampledGroup("underfunded", 5, ProblemEnvelope(funding_ratio=(0.25, 0.5))),
    SampledGroup("overfunded", 5, ProblemEnvelope(funding_ratio=(2.0, 4.0))),
    SampledGroup("savers", 4, ProblemEnvelope(savings_rate=(0.1, 1.0),
                                              no_savings_probability=0.0)),
    SampledGroup("crowded", 5, ProblemEnvelope(horizon=(2, 8), num_goals=(10, 20))),
)

#: The sampler's capital-market ranges (step 7 of :mod:`gbwm_sb3.problem.sampler`):
#: asset count, the bond-like asset's mean and volatility, the equity-like assets'
#: premium over the bond mean and volatility, and the correlations.
SAMPLER_ASSET_RANGES = {
    "assets": (2, 4),
    "bond_mean": (0.01, 0.06),
    "bond_volatility": (0.02, 0.08),
    "equity_premium": (0.02, 0.07),
    "equity_volatility": (0.12, 0.25),
    "bond_equity_correlation": (-0.3, 0.3),
    "equity_equity_correlation": (0.5, 0.9),
}


@dataclass(frozen=True)
class Market:
    """Capital-market assumptions: asset means, volatilities and correlations.

    Asset 0 is the low-risk (bond- or cash-like) asset. ``top_mean_factor`` places the
    riskiest portfolio's mean at ``min_mean + factor * (max asset mean - min_mean)`` on
    the frontier (1: the highest asset mean, as the sampler does; above 1: a leveraged
    frontier with short sales; below 1: only the cautious part of the frontier).
    """

    name: str
    description: str
    means: tuple[float, ...]
    volatilities: tuple[float, ...]
    correlation: tuple[tuple[float, ...], ...]
    n_portfolios: int
    top_mean_factor: float = 1.0

    @property
    def covariance(self) -> np.ndarray:
        """The covariance matrix of the asset returns."""
        vols = np.asarray(self.volatilities)
        return np.asarray(self.correlation) * np.outer(vols, vols)

    def portfolios(self) -> Portfolios:
        """``n_portfolios`` efficient portfolios, means equally spaced (see the class)."""
        frontier = EfficientFrontier(self.means, self.covariance)
        top = frontier.min_mean + self.top_mean_factor * (max(self.means) - frontier.min_mean)
        return frontier.portfolios(self.n_portfolios, (frontier.min_mean, top))


def _corr(n: int, bond_equity: Sequence[float], equity_equity: float = 0.7
          ) -> tuple[tuple[float, ...], ...]:
    """A correlation matrix: asset 0 against each equity, one value among the equities."""
    matrix = np.full((n, n), equity_equity)
    np.fill_diagonal(matrix, 1.0)
    matrix[0, 1:] = matrix[1:, 0] = bond_equity
    return tuple(tuple(float(v) for v in row) for row in matrix)


#: The ``out_of_distribution`` category's markets, each outside the sampler's ranges in
#: the way its description says (:func:`market_outside_sampler` lists how).
OOD_MARKETS = (
    Market("high-vol-equity", "one equity at 34% volatility",
           (0.03, 0.09), (0.05, 0.34), _corr(2, [0.1]), 10),
    Market("high-vol-equities-5p", "two equities at 30% and 38% volatility, 5 portfolios",
           (0.035, 0.085, 0.10), (0.05, 0.30, 0.38), _corr(3, [0.0, 0.0], 0.7), 5),
    Market("very-high-vol-20p", "bonds at 10% and equities at 36% volatility, 20 portfolios",
           (0.04, 0.10), (0.10, 0.36), _corr(2, [0.2]), 20),
    Market("low-return", "negative real bond return (-1%) and a 1.5% equity premium",
           (-0.01, 0.005), (0.04, 0.15), _corr(2, [0.1]), 12),
    Market("negative-real-rates", "bonds at -2% with two equities at 0% and 1%",
           (-0.02, 0.0, 0.01), (0.03, 0.14, 0.18), _corr(3, [0.0, 0.1], 0.7), 15),
    Market("high-premium", "an 11% equity premium",
           (0.03, 0.14), (0.05, 0.22), _corr(2, [0.0]), 10),
    Market("high-premium-three-equities", "equity premiums of 8% to 12%, 20 portfolios",
           (0.04, 0.12, 0.15, 0.16), (0.06, 0.20, 0.24, 0.25),
           _corr(4, [0.0, 0.1, -0.1], 0.6), 20),
    Market("negatively-correlated-equities", "two equities correlated at -0.4, 20 portfolios",
           (0.03, 0.08, 0.09), (0.05, 0.18, 0.20), _corr(3, [0.0, 0.1], -0.4), 20),
    Market("cash-and-one-risky", "cash at 0.7% volatility and one equity",
           (0.02, 0.07), (0.007, 0.18), _corr(2, [0.0]), 8),
    Market("cash-and-one-risky-5p", "cash at 0.6% volatility and one 30%-volatility equity",
           (0.01, 0.08), (0.006, 0.30), _corr(2, [0.0]), 5),
    Market("emerging-markets", "local bonds at 12% and equities at 30% volatility",
           (0.07, 0.13), (0.12, 0.30), _corr(2, [0.4]), 10),
    Market("positive-stock-bond-correlation", "bonds and equities correlated at 0.6",
           (0.03, 0.07, 0.075), (0.07, 0.17, 0.20), _corr(3, [0.6, 0.6], 0.8), 12),
    Market("five-assets", "bonds and four equity classes (the sampler has at most 4 assets)",
           (0.03, 0.065, 0.07, 0.075, 0.08), (0.05, 0.15, 0.17, 0.19, 0.22),
           _corr(5, [0.0, 0.05, -0.05, 0.1], 0.7), 15),
    Market("low-vol-world", "bonds at 1% and equities at 8% volatility",
           (0.02, 0.05), (0.01, 0.08), _corr(2, [0.1]), 10),
    Market("leveraged-frontier", "the frontier's span of means extended 60% past the top "
           "asset mean (leverage)",
           (0.03, 0.08), (0.05, 0.16), _corr(2, [0.0]), 12, top_mean_factor=1.6),
    Market("cautious-frontier", "only the cautious quarter of the frontier, 5 portfolios",
           (0.035, 0.075, 0.08), (0.05, 0.16, 0.18), _corr(3, [0.0, 0.0], 0.8), 5,
           top_mean_factor=0.25),
)


def market_outside_sampler(market: Market) -> list[str]:
    """How ``market`` lies outside the sampler's capital-market ranges ([] if it does not).

    One line per asset count, mean, premium, volatility or correlation outside
    :data:`SAMPLER_ASSET_RANGES`, and one if the frontier does not end at the highest
    asset mean.
    """
    ranges = SAMPLER_ASSET_RANGES
    reasons = []

    def check(label: str, key: str, value: float) -> None:
        lo, hi = ranges[key]
        if not lo <= value <= hi:
            reasons.append(f"{label} {value:g} outside the sampler's {key} {lo:g}..{hi:g}")

    n = len(market.means)
    check("asset count", "assets", n)
    check("asset 0 mean", "bond_mean", market.means[0])
    check("asset 0 volatility", "bond_volatility", market.volatilities[0])
    for i in range(1, n):
        check(f"asset {i} premium", "equity_premium", market.means[i] - market.means[0])
        check(f"asset {i} volatility", "equity_volatility", market.volatilities[i])
        check(f"correlation 0/{i}", "bond_equity_correlation", market.correlation[0][i])
        for j in range(i + 1, n):
            check(f"correlation {i}/{j}", "equity_equity_correlation", market.correlation[i][j])
    if market.top_mean_factor != 1.0:
        reasons.append(f"frontier ends at {market.top_mean_factor:g} of the way to the "
                       "highest asset mean (the sampler: at it)")
    return reasons


def _rng(group: int, draw: int) -> np.random.Generator:
    """The generator of one draw of the suite (see the module docstring)."""
    return np.random.default_rng(np.random.SeedSequence(SUITE_ENTROPY, spawn_key=(group, draw)))


def _paper() -> list[BenchmarkProblem]:
    return [BenchmarkProblem(f"paper-ng{ng}", "paper", paper_problem(ng))
            for ng in PAPER_NUM_GOALS]


def _examples() -> list[BenchmarkProblem]:
    folder = resources.files("gbwm_sb3.pretrained").joinpath("suite_problems")
    suite = []
    for filename in EXAMPLE_FILES:
        with resources.as_file(folder.joinpath(filename)) as path:
            problem = load_problem(path)
        stem = filename.rsplit(".", 1)[0].replace("_", "-")
        suite.append(BenchmarkProblem(f"example-{stem}", "example", problem))
    return suite


def _sampled() -> list[BenchmarkProblem]:
    suite = []
    for group, spec in enumerate(SAMPLED_GROUPS):
        for draw in range(spec.count):
            problem = sample_problem(_rng(group, draw), spec.envelope)
            suite.append(BenchmarkProblem(f"sampled-{spec.name}-{draw + 1:02d}", "sampled",
                                          problem))
    return suite


def with_portfolios(problem: GBWMProblem, portfolios: Portfolios,
                    target_funding_ratio: float) -> GBWMProblem:
    """``problem`` invested in ``portfolios``, W0 and infusions rescaled together so that
    its funding ratio is ``target_funding_ratio`` (the savings rate is unchanged).

    The funding ratio discounts at the lowest-volatility portfolio's mean, so new
    portfolios change it; W0 follows the target.
    """
    moved = dataclasses.replace(problem, portfolios=portfolios)
    factor = target_funding_ratio / funding_ratio(moved)
    return dataclasses.replace(moved, initial_wealth=moved.initial_wealth * factor,
                               infusions=tuple(v * factor for v in moved.infusions))


#: Funding ratios of the ``out_of_distribution`` problems are log-uniform in this range,
#: so that the market, not a very rich or very poor client, makes them hard.
OOD_FUNDING_RATIO = (0.5, 2.0)


def _out_of_distribution() -> list[BenchmarkProblem]:
    """Goals and savings of one sampler draw per market, the market replaced, W0 set by a
    funding ratio drawn log-uniform in :data:`OOD_FUNDING_RATIO` from the same generator."""
    group = len(SAMPLED_GROUPS)
    lo, hi = (math.log(v) for v in OOD_FUNDING_RATIO)
    suite = []
    for draw, market in enumerate(OOD_MARKETS):
        rng = _rng(group, draw)
        drawn = sample_problem(rng)
        target = math.exp(rng.uniform(lo, hi))
        problem = with_portfolios(drawn, market.portfolios(), target)
        suite.append(BenchmarkProblem(f"ood-{market.name}", "out_of_distribution", problem))
    return suite


@lru_cache(maxsize=1)
def _build() -> tuple[BenchmarkProblem, ...]:
    suite = (*_paper(), *_examples(), *_sampled(), *_out_of_distribution())
    for item in suite:
        reasons = DEFAULT_ENVELOPE.contains(item.problem)
        if reasons:  # a change of the envelope or the sampler, caught where it shows
            raise RuntimeError(f"suite problem {item.name} lies outside DEFAULT_ENVELOPE: "
                               + "; ".join(reasons))
    return suite


def benchmark_suite(categories: Iterable[str] | str | None = None) -> list[BenchmarkProblem]:
    """The benchmark problems (all, or those of ``categories``), in suite order.

    The same list on every call; see the module docstring for what each category holds.
    """
    if categories is None:
        wanted = set(SUITE_CATEGORIES)
    else:
        wanted = {categories} if isinstance(categories, str) else set(categories)
        unknown = sorted(str(c) for c in wanted - set(SUITE_CATEGORIES))
        if unknown:
            raise ValueError(f"categories must be among {', '.join(SUITE_CATEGORIES)}; "
                             f"got {', '.join(unknown)}")
    return [item for item in _build() if item.category in wanted]


def suite_summary(suite: Sequence[BenchmarkProblem]) -> str:
    """A markdown table of ``suite``: one row a problem, its size and its money ratios."""
    lines = ["| name | category | horizon | goals | max decisions a year | portfolios "
             "| funding ratio | savings rate |", "|---|---|---|---|---|---|---|---|"]
    for item in suite:
        p = item.problem
        lines.append(f"| {item.name} | {item.category} | {p.horizon} | {len(p.goals)} "
                     f"| {p.max_decisions} | {p.num_portfolios} "
                     f"| {funding_ratio(p):.3g} | {savings_rate(p):.3g} |")
    return "\n".join(lines)
