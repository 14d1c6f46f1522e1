"""The decision problem: goals, portfolios, the investor's horizon and wealth.

- :mod:`~gbwm_sb3.problem.model`: ``GBWMProblem``, ``Goal``, ``Decision``, ``Portfolios`` and
  the paper's problem family (validated, immutable; numpy only);
- :mod:`~gbwm_sb3.problem.market`: the market model, the law of the yearly shock
  (``LognormalMarket``, the default, and the fat-tailed ``StudentTMarket``);
- :mod:`~gbwm_sb3.problem.empirical`: ``EmpiricalMarket``, a smoothed bootstrap of a table of
  historical yearly returns;
- :mod:`~gbwm_sb3.problem.inflation`: ``InflationModel``, stochastic AR(1) inflation with indexed
  amounts;
- :mod:`~gbwm_sb3.problem.regimes`: ``RegimeMarket``, observed market regimes switching by
  a Markov chain;
- :mod:`~gbwm_sb3.problem.frontier`: the Markowitz efficient frontier from asset means and a
  covariance matrix;
- :mod:`~gbwm_sb3.problem.files`: YAML/JSON problem files;
- :mod:`~gbwm_sb3.problem.sampler`: ``ProblemEnvelope`` and seeded random problems inside it.

Nothing here imports PyTorch or Stable-Baselines3.
"""

from __future__ import annotations

from gbwm_sb3.problem.empirical import EmpiricalMarket
from gbwm_sb3.problem.files import load_problem, save_problem
from gbwm_sb3.problem.frontier import EfficientFrontier, efficient_frontier
from gbwm_sb3.problem.inflation import (
    InflationModel,
    fit_inflation,
    us_cpi_inflation,
    us_inflation,
)
from gbwm_sb3.problem.market import LognormalMarket, Market, StudentTMarket, market_from_mapping
from gbwm_sb3.problem.model import (
    MAX_DECISIONS_PER_YEAR,
    PAPER_NUM_GOALS,
    Decision,
    GBWMProblem,
    Goal,
    Portfolios,
    paper_portfolios,
    paper_problem,
)
from gbwm_sb3.problem.regimes import RegimeMarket, two_regime_us_market
from gbwm_sb3.problem.sampler import (
    DEFAULT_ENVELOPE,
    ProblemEnvelope,
    sample_problem,
    sample_problems,
)

__all__ = [
    "MAX_DECISIONS_PER_YEAR",
    "PAPER_NUM_GOALS",
    "Decision",
    "GBWMProblem",
    "Goal",
    "Portfolios",
    "paper_portfolios",
    "paper_problem",
    "EfficientFrontier",
    "efficient_frontier",
    "Market",
    "LognormalMarket",
    "StudentTMarket",
    "RegimeMarket",
    "EmpiricalMarket",
    "InflationModel",
    "us_inflation",
    "us_cpi_inflation",
    "fit_inflation",
    "two_regime_us_market",
    "market_from_mapping",
    "load_problem",
    "save_problem",
    "DEFAULT_ENVELOPE",
    "ProblemEnvelope",
    "sample_problem",
    "sample_problems",
]
