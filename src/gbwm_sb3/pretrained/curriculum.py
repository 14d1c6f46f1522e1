"""A gap-driven curriculum for PPO pretraining: train more where the policy is furthest
from the optimum.

Training problems are grouped in bands by their number of goals and their funding ratio
(:data:`CURRICULUM_BANDS`: 1, 2-3, 4-7 and 8 or more goals, times funding ratios under
0.5, 0.5-1 and over 1). Before each stage:

1. :func:`measure_band_gaps` draws ``per_band`` fresh problems of every band from the
   run's own draw (a draw is kept when its goal count and funding ratio fall in the band;
   the draw itself is unchanged), solves each with the DP and estimates the current
   network's gap to the optimum from the regrets of its own greedy decisions (the
   performance-difference estimate of :func:`gbwm_sb3.pretrained.distillation.teach`:
   no outcome noise, so a few problems rank the bands);
2. :func:`band_weights` makes the stage's draw: a share ``share`` of the problems from
   bands picked in proportion to their mean gap, the rest drawn as the run draws them
   (:func:`curriculum_sampler`).

The bands are stated on the problems' size and funding only, not on any benchmark
family's rules. Seeded: the same network, draw and seed give the same gaps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch as th

from gbwm_sb3.pretrained.distillation import DistillConfig, teach
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.sampler import funding_ratio

__all__ = ["CurriculumBand", "CURRICULUM_BANDS", "CURRICULUM_SEED", "MAX_BAND_ATTEMPTS",
           "band_draw", "band_weights", "curriculum_sampler", "measure_band_gaps"]

#: Seed domain of the problems the gaps are measured on (apart from the training draws).
CURRICULUM_SEED = 7_300_011
#: Draws tried before a band is declared out of the draw's reach (a band holding 1% of
#: the draws is missed with probability e^-20).
MAX_BAND_ATTEMPTS = 2_000
#: Paths of the network's greedy policy per problem in the gap estimate.
GAP_PATHS = 48

ProblemDraw = Callable[[np.random.Generator], GBWMProblem]


@dataclass(frozen=True)
class CurriculumBand:
    """Problems with ``goals[0] <= number of goals <= goals[1]`` and
    ``funding[0] <= funding ratio < funding[1]``."""

    goals: tuple[int, int]
    funding: tuple[float, float]

    @property
    def name(self) -> str:
        """A short label, e.g. ``goals 2-3, funding 0.5-1``."""
        g0, g1 = self.goals
        goals = f"{g0}" if g0 == g1 else (f"{g0}+" if g1 >= 1000 else f"{g0}-{g1}")
        f0, f1 = self.funding
        funding = f"<{f1:g}" if f0 <= 0 else (f">={f0:g}" if math.isinf(f1) else f"{f0:g}-{f1:g}")
        return f"goals {goals}, funding {funding}"

    def contains(self, problem: GBWMProblem) -> bool:
        """Whether ``problem`` lies in the band."""
        ratio = funding_ratio(problem)
        return (self.goals[0] <= len(problem.goals) <= self.goals[1]
                and self.funding[0] <= ratio < self.funding[1])


CURRICULUM_BANDS: tuple[CurriculumBand, ...] = tuple(
    CurriculumBand(goals, funding)
    for goals in ((1, 1), (2, 3), (4, 7), (8, 1000))
    for funding in ((0.0, 0.5), (0.5, 1.0), (1.0, math.inf)))


def band_draw(draw: ProblemDraw, band: CurriculumBand, rng: np.random.Generator
              ) -> GBWMProblem | None:
    """A problem of ``draw`` inside ``band`` (rejection), or None after
    :data:`MAX_BAND_ATTEMPTS` draws outside it."""
    for _ in range(MAX_BAND_ATTEMPTS):
        problem = draw(rng)
        if band.contains(problem):
            return problem
    return None


def measure_band_gaps(network: UniversalGBWMPolicy, draw: ProblemDraw,
                      bands: Sequence[CurriculumBand], per_band: int, seed: int
                      ) -> list[float | None]:
    """The network's mean gap to the optimum (a fraction of the optimum) on ``per_band``
    fresh problems of each band; None for a band the draw does not reach."""
    estimate = DistillConfig(paths_per_problem=GAP_PATHS, expert_share=0.0, explore=0.0,
                             states_per_problem=1)
    gaps: list[float | None] = []
    for index, band in enumerate(bands):
        rng = np.random.default_rng(np.random.SeedSequence([seed, CURRICULUM_SEED, index]))
        values = []
        for _ in range(per_band):
            problem = band_draw(draw, band, rng)
            if problem is None:
                break
            with th.no_grad():
                values.append(teach(problem, network, estimate, rng)[1])
        gaps.append(float(np.mean(values)) if values else None)
    return gaps


def band_weights(gaps: Sequence[float | None]) -> list[float]:
    """Probabilities of picking each band for a curriculum draw: proportional to its gap
    (bands out of reach or with no gap get 0; all equal when no band has a gap)."""
    values = np.array([max(g, 0.0) if g is not None and math.isfinite(g) else 0.0
                       for g in gaps])
    if values.sum() <= 0:
        reachable = np.array([g is not None for g in gaps], dtype=float)
        return (reachable / max(reachable.sum(), 1.0)).tolist()
    return (values / values.sum()).tolist()


def curriculum_sampler(draw: ProblemDraw, bands: Sequence[CurriculumBand],
                       weights: Sequence[float], share: float) -> ProblemDraw:
    """The stage's draw: with probability ``share`` a problem of a band picked with
    ``weights``, otherwise ``draw``'s own."""
    probabilities = np.asarray(weights, dtype=float)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be a number in [0, 1], got {share!r}")
    if probabilities.size != len(bands) or probabilities.sum() <= 0:
        share = 0.0
    else:
        probabilities = probabilities / probabilities.sum()

    def sample(rng: np.random.Generator) -> GBWMProblem:
        if share > 0 and rng.uniform() < share:
            band = bands[int(rng.choice(len(bands), p=probabilities))]
            problem = band_draw(draw, band, rng)
            if problem is not None:
                return problem
        return draw(rng)

    return sample
