"""The validation problems that pick a pretraining run's best stage.

Sampled problems of the default envelope in a seed domain of their own (the benchmark
suite uses another), then paper-like ones: the paper's goals and frontier with a richer
or poorer client, so that none of them is in the benchmark suite. Shared by the PPO
pretraining (:mod:`.training`) and the DP-teacher pretraining (:mod:`.distillation`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from gbwm_sb3.problem.model import GBWMProblem, paper_problem
from gbwm_sb3.problem.sampler import sample_problems

__all__ = ["VALIDATION_SEED", "PAPER_LIKE_VALIDATION", "efficiency_summary",
           "paper_like_problem", "rounded_efficiencies", "validation_problems"]

#: Seed domain of the validation problems (the benchmark suite uses its own).
VALIDATION_SEED = 7_000_001
#: ``(num_goals, W0 multiplier)`` of the paper-like validation problems: the paper's goals
#: and frontier with a richer or poorer client, so none of them is in the benchmark suite.
PAPER_LIKE_VALIDATION = ((4, 0.8), (4, 1.25), (8, 0.85), (16, 1.2), (2, 0.8), (8, 1.15))


def validation_problems(count: int, paper_like: int = 0) -> list[GBWMProblem]:
    """``count`` problems from the default envelope in the validation seed domain, then
    the first ``paper_like`` of :data:`PAPER_LIKE_VALIDATION`."""
    sampled = sample_problems(count, seed=VALIDATION_SEED) if count else []
    return sampled + [paper_like_problem(ng, scale)
                      for ng, scale in PAPER_LIKE_VALIDATION[:paper_like]]


def paper_like_problem(num_goals: int, wealth_multiplier: float) -> GBWMProblem:
    """The paper's ``num_goals`` problem with ``W0`` multiplied by ``wealth_multiplier``."""
    base = paper_problem(num_goals)
    return replace(base, initial_wealth=base.initial_wealth * wealth_multiplier)


def efficiency_summary(efficiencies: list[float]) -> tuple[float, float]:
    """Mean and minimum of the efficiencies that are defined (NaN, NaN if none is). A
    problem where the optimum funds nothing has none (NaN) and is left out."""
    defined = [e for e in efficiencies if math.isfinite(e)]
    if not defined:
        return math.nan, math.nan
    return float(np.mean(defined)), float(np.min(defined))


def rounded_efficiencies(efficiencies: list[float]) -> list[float | None]:
    """``efficiencies`` rounded to 5 digits for a run's state file, None where undefined."""
    return [round(e, 5) if math.isfinite(e) else None for e in efficiencies]
