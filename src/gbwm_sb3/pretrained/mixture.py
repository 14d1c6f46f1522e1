"""The broader training mixture of DP-teacher pretraining (:mod:`.distillation`).

The PPO pretraining draws from the sampler's :data:`~gbwm_sb3.problem.sampler.DEFAULT_ENVELOPE`.
The teacher mixture widens it in the directions the pretrained policy is asked to cover
and the sampler leaves thin, always through the sampler itself and two perturbations of
its draws (no rule of :mod:`gbwm_sb3.pretrained.families` is used, so those families stay
held out):

1. :data:`TEACHER_ENVELOPE`: horizons 1-60 years, 1-40 goals, funding ratios 0.1-4,
   portfolio volatilities up to 0.5 (the sampler's other ranges unchanged);
2. with probability :data:`UTILITY_NOISE_SHARE`, noisier utilities: every goal's
   utilities (all its levels together) multiplied by ``exp(s Z)``, ``s`` uniform in
   [0.3, 1.2] per problem, so that utility and cost are further apart than the sampler's
   noise of 0.3 makes them;
3. with probability :data:`FRONTIER_SHARE`, a rescaled frontier: each portfolio's
   volatility times ``k`` and its mean's excess over the lowest mean times ``k``, ``k``
   log-uniform in [0.2, 2.5] (flat to steep frontiers; the lowest mean, and so the
   funding ratio, unchanged), ``k`` capped so every portfolio stays inside the envelope
   and no volatility falls below :data:`FRONTIER_FLOOR` (near-riskless portfolios with
   dozens of decisions a year make the exact DP slow, minutes instead of a second); a
   frontier that no scale keeps inside both bounds is left as drawn.

The **wide** mixture (``mixture="wide"``) reaches the whole acceptance envelope of the
shipped weights instead: :data:`WIDE_ENVELOPE` (horizons 1-100 years, 1-60 goals, funding
ratios 0.1-4, volatilities up to 0.5), the same two perturbations, and a rescaled frontier
may fall to the envelope's lowest volatility (0.005) where no year has more than
:data:`FLAT_FRONTIER_MAX_DECISIONS` decisions (the exact DP stays fast there), so that
frontiers topping out at 3-5% volatility are drawn too.

The **blend** (``mixture="blend"``) draws half its problems as the PPO pretraining does
(``sample_problem`` from ``DEFAULT_ENVELOPE``, unperturbed) and half from the wide mixture,
so that a run widening what a network has seen keeps seeing what it was trained on.

The **dominant** mixture (``mixture="dominant"``) draws as the blend does, then, with
probability :data:`DOMINANT_SHARE`, makes one goal dominant (:func:`dominant_goal`): a goal
picked uniformly has all its utilities scaled so that its top level is worth ``q`` times
the other goals' top levels together, ``q`` log-uniform in [1, 4]. It was made to test
whether the pretrained network's lowest problems (a goal worth most of the plan that the
optimum secures) come from such goals being rare in training; they do not (the shipped
network scores the same on sampler problems with and without a dominant goal, and
training on this mixture left those problems unchanged; docs/pretrained.md, "Where the
gap is"). The rule is stated on the sampler's draws, not on any benchmark problem.

The **few-goals** mixture (``mixture="few_goals"``) draws as the blend does, then replaces
a share :data:`FEW_GOALS_SHARE` of the draws with one from :data:`FEW_GOALS_ENVELOPE`
(1-4 goals, funding ratios 0.1-1, horizons 1-40, volatilities up to 0.5) with the wide
mixture's two perturbations. The blend holds few such plans (2-3 goals at a funding ratio
under 0.5 are 2.4% of its draws), and that is where the pretrained network's gap to the
optimum is largest: whether to secure the next goal or take risk for the goals after it
turns on a few costs against the client's wealth. The rule is stated on the sampler's
envelope, not on any benchmark problem.

The **near-ties** mixture (``mixture="near_ties"``) draws as the few-goals mixture does,
then, with probability :data:`NEAR_TIES_SHARE`, re-values every goal's partial levels
(:func:`revalued_levels`): the sampler gives a level costing a fraction ``f`` of the full
level the utility ``U f^c`` with ``c`` in [0.3, 1]; here each goal with levels draws its
own ``c`` uniform in [-0.15, 0.3], so a cheaper level is worth almost as much as a dearer
one (``c`` near 0) or more (``c`` below 0: the dearer level is dominated). The pretrained
network's errors on such options are choosing between levels whose utilities are nearly
tied at very different costs; the sampler's ``c`` of at least 0.3 never draws them. The
rule is stated on the sampler's level construction, not on any benchmark problem.

The **underfunded** mixture (``mixture="underfunded"``) draws only plans the client cannot
fully afford: the wide mixture with funding ratios 0.1-0.5
(:data:`UNDERFUNDED_ENVELOPE`), a share :data:`FEW_GOALS_SHARE` of them from the
few-goals envelope at the same funding ratios, with the wide mixture's two perturbations.
It is for a network meant for underfunded clients only (the shipped acceptance envelope
stops at 0.25); the rule is stated on the sampler's envelope.

Same generator, same problems; numpy only.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios
from gbwm_sb3.problem.sampler import DEFAULT_ENVELOPE, ProblemEnvelope, sample_problem

__all__ = ["TEACHER_ENVELOPE", "WIDE_ENVELOPE", "MIXTURES", "FLAT_FRONTIER_MAX_DECISIONS",
           "UTILITY_NOISE_SHARE", "FRONTIER_SHARE", "FRONTIER_FLOOR", "BLEND_SAMPLER_SHARE",
           "MIXTURE_VALIDATION_SEED", "DOMINANT_SHARE", "FEW_GOALS_ENVELOPE", "FEW_GOALS_SHARE",
           "NEAR_TIES_SHARE", "UNDERFUNDED_ENVELOPE", "UNDERFUNDED_FEW_GOALS_ENVELOPE",
           "dominant_goal", "mixture_envelope", "mixture_problem",
           "mixture_problems", "noisier_utilities", "rescaled_frontier", "revalued_levels"]

TEACHER_ENVELOPE = ProblemEnvelope(horizon=(1, 60), num_goals=(1, 40), funding_ratio=(0.1, 4.0),
                                   portfolio_volatility=(0.005, 0.5))
#: The wide mixture's envelope: the shipped weights' acceptance envelope, with funding
#: ratios down to 0.1.
WIDE_ENVELOPE = ProblemEnvelope(horizon=(1, 100), num_goals=(1, 60), funding_ratio=(0.1, 4.0),
                                portfolio_volatility=(0.005, 0.5))
#: The few-goals mixture's own draws: few goals, underfunded to just funded.
FEW_GOALS_ENVELOPE = ProblemEnvelope(horizon=(1, 40), num_goals=(1, 4), funding_ratio=(0.1, 1.0),
                                     portfolio_volatility=(0.005, 0.5))
#: Share of the few-goals mixture's draws made from :data:`FEW_GOALS_ENVELOPE`.
FEW_GOALS_SHARE = 0.35
#: The underfunded mixture's envelope: the wide one with funding ratios 0.1-0.5 only.
UNDERFUNDED_ENVELOPE = replace(WIDE_ENVELOPE, funding_ratio=(0.1, 0.5))
#: Its few-goals draws (a share :data:`FEW_GOALS_SHARE` of them): 1-4 goals, 1-40 years.
UNDERFUNDED_FEW_GOALS_ENVELOPE = replace(FEW_GOALS_ENVELOPE, funding_ratio=(0.1, 0.5))
#: The mixtures :func:`mixture_problem` draws from, by name, with their envelopes.
MIXTURES = {"teacher": TEACHER_ENVELOPE, "wide": WIDE_ENVELOPE, "blend": WIDE_ENVELOPE,
            "dominant": WIDE_ENVELOPE, "few_goals": WIDE_ENVELOPE,
            "near_ties": WIDE_ENVELOPE, "underfunded": UNDERFUNDED_ENVELOPE}
#: Share of the blend's draws made as the PPO pretraining makes them.
BLEND_SAMPLER_SHARE = 0.5
#: Seed domain of the mixtures' validation problems.
MIXTURE_VALIDATION_SEED = 7_100_003
#: In the wide mixture, a rescaled frontier may go below :data:`FRONTIER_FLOOR` (down to the
#: envelope's lowest volatility) only where no year has more decisions than this.
FLAT_FRONTIER_MAX_DECISIONS = 8
UTILITY_NOISE_SHARE = 0.35
FRONTIER_SHARE = 0.3
#: Lowest volatility a rescaled frontier may reach.
FRONTIER_FLOOR = 0.02
_FRONTIER_SCALE = (0.2, 2.5)
_UTILITY_NOISE = (0.3, 1.2)
#: Share of the dominant mixture's draws in which one goal is made dominant.
DOMINANT_SHARE = 0.35
_DOMINANCE = (1.0, 4.0)
#: Share of the near-ties mixture's draws whose partial levels are re-valued.
NEAR_TIES_SHARE = 0.35
_LEVEL_CONCAVITY = (-0.15, 0.3)


def noisier_utilities(problem: GBWMProblem, rng: np.random.Generator) -> GBWMProblem:
    """``problem`` with each goal's utilities multiplied by one lognormal factor (item 2)."""
    spread = rng.uniform(*_UTILITY_NOISE)
    factors = np.exp(spread * rng.standard_normal(len(problem.goals)))
    goals = tuple(_scaled_goal(goal, float(f)) for goal, f in zip(problem.goals, factors,
                                                                  strict=True))
    return replace(problem, goals=goals)


def dominant_goal(problem: GBWMProblem, rng: np.random.Generator) -> GBWMProblem:
    """``problem`` with one goal, picked uniformly, worth ``q`` times the others together.

    All the goal's levels are scaled by one factor, so that its top level's utility is
    ``q`` (log-uniform in [1, 4]) times the sum of the other goals' top levels; costs,
    times and the other goals are unchanged. A problem with one goal (or no utility to
    scale against) is returned as it is.
    """
    if len(problem.goals) < 2:
        return problem
    index = int(rng.integers(len(problem.goals)))
    q = math.exp(rng.uniform(math.log(_DOMINANCE[0]), math.log(_DOMINANCE[1])))
    others = sum(max(u for _, u in goal.levels)
                 for i, goal in enumerate(problem.goals) if i != index)
    goal = problem.goals[index]
    top = max(u for _, u in goal.levels)
    if top <= 0 or others <= 0:
        return problem
    factor = q * others / top
    goals = tuple(_scaled_goal(g, factor) if i == index else g
                  for i, g in enumerate(problem.goals))
    return replace(problem, goals=goals)


def revalued_levels(problem: GBWMProblem, rng: np.random.Generator) -> GBWMProblem:
    """``problem`` with each goal's partial levels worth ``U f^c``, ``c`` uniform in
    [-0.15, 0.3] per goal (the module docstring, near-ties mixture).

    ``U`` is the goal's most expensive level's utility and ``f`` a level's cost over that
    level's cost; costs, times and goals of one level are unchanged.
    """
    goals = []
    for goal in problem.goals:
        if goal.num_levels == 1:
            goals.append(goal)
            continue
        concavity = rng.uniform(*_LEVEL_CONCAVITY)
        full_cost, full_utility = max(goal.levels)
        levels = [(cost, full_utility * (cost / full_cost) ** concavity)
                  for cost, _ in goal.levels]
        goals.append(Goal(goal.time, name=goal.name, levels=levels))
    return replace(problem, goals=tuple(goals))


def _scaled_goal(goal: Goal, factor: float) -> Goal:
    if len(goal.levels) == 1:
        return Goal(goal.time, goal.cost, goal.utility * factor, name=goal.name)
    return Goal(goal.time, name=goal.name,
                levels=[(cost, utility * factor) for cost, utility in goal.levels])


def rescaled_frontier(problem: GBWMProblem, rng: np.random.Generator,
                      envelope: ProblemEnvelope = TEACHER_ENVELOPE,
                      floor: float = FRONTIER_FLOOR) -> GBWMProblem:
    """``problem`` on a flatter or steeper frontier (item 3), inside ``envelope``, no
    volatility under ``floor``."""
    means = problem.portfolios.mean_array
    vols = problem.portfolios.volatility_array
    low = float(means.min())
    excess = means - low
    scale = math.exp(rng.uniform(math.log(_FRONTIER_SCALE[0]), math.log(_FRONTIER_SCALE[1])))
    vol_lo, vol_hi = envelope.portfolio_volatility
    scale = min(scale, vol_hi / float(vols.max()))
    if excess.max() > 0:
        scale = min(scale, (envelope.portfolio_mean[1] - low) / float(excess.max()))
    low_scale = max(vol_lo, floor) / float(vols.min())
    if low_scale > scale and (low_scale * float(vols.max()) > vol_hi
                              or low + low_scale * float(excess.max())
                              > envelope.portfolio_mean[1]):
        return problem  # no scale keeps this frontier inside the envelope above the floor
    scale = max(scale, low_scale)
    portfolios = Portfolios(low + excess * scale, vols * scale)
    return replace(problem, portfolios=portfolios)


def mixture_envelope(mixture: str) -> ProblemEnvelope:
    """The envelope of the mixture called ``mixture``; ValueError naming the mixtures
    otherwise."""
    if not isinstance(mixture, str) or mixture not in MIXTURES:
        raise ValueError(f"mixture must be one of {', '.join(MIXTURES)}, got {mixture!r}")
    return MIXTURES[mixture]


def mixture_problem(rng: np.random.Generator, mixture: str = "teacher") -> GBWMProblem:
    """One problem of the ``mixture`` (``"teacher"``, ``"wide"``, ``"blend"``,
    ``"dominant"``, ``"few_goals"``, ``"near_ties"`` or ``"underfunded"``; the module
    docstring), drawn with ``rng``."""
    envelope = mixture_envelope(mixture)
    if mixture == "near_ties":
        problem = mixture_problem(rng, "few_goals")
        return revalued_levels(problem, rng) if rng.uniform() < NEAR_TIES_SHARE else problem
    if mixture == "dominant":
        problem = mixture_problem(rng, "blend")
        return dominant_goal(problem, rng) if rng.uniform() < DOMINANT_SHARE else problem
    if mixture == "underfunded":
        if rng.uniform() < FEW_GOALS_SHARE:
            envelope = UNDERFUNDED_FEW_GOALS_ENVELOPE
    if mixture == "few_goals":
        if rng.uniform() >= FEW_GOALS_SHARE:
            return mixture_problem(rng, "blend")
        envelope = FEW_GOALS_ENVELOPE
    if mixture == "blend":
        if rng.uniform() < BLEND_SAMPLER_SHARE:
            return sample_problem(rng, DEFAULT_ENVELOPE)
        mixture = "wide"
    problem = sample_problem(rng, envelope)
    if rng.uniform() < UTILITY_NOISE_SHARE:
        problem = noisier_utilities(problem, rng)
    if rng.uniform() < FRONTIER_SHARE:
        floor = FRONTIER_FLOOR
        if mixture != "teacher" and max(len(problem.decisions(t)) for t in range(problem.horizon)) \
                <= FLAT_FRONTIER_MAX_DECISIONS:
            floor = envelope.portfolio_volatility[0]
        problem = rescaled_frontier(problem, rng, envelope, floor)
    return problem


def mixture_problems(n: int, seed: int, mixture: str = "teacher") -> list[GBWMProblem]:
    """``n`` problems of the ``mixture`` from one generator seeded with ``seed``."""
    mixture_envelope(mixture)
    rng = np.random.default_rng(seed)
    return [mixture_problem(rng, mixture) for _ in range(n)]
