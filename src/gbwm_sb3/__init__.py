"""gbwm-sb3: goals-based wealth management on Stable-Baselines3."""

from __future__ import annotations

from .frontier import EfficientFrontier, efficient_frontier
from .problem import Goal, GBWMProblem, Portfolios, paper_portfolios, paper_problem

__all__ = [
    "Goal",
    "GBWMProblem",
    "Portfolios",
    "paper_portfolios",
    "paper_problem",
    "EfficientFrontier",
    "efficient_frontier",
]

__version__ = "0.1.0"
