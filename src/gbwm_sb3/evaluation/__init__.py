"""Scoring policies against the exact optimum on common random numbers.

- :mod:`~gbwm_sb3.evaluation.strategies`: the policy protocol ``act(t, wealth)``, the trained
  SB3 model as such a policy (``SB3Policy``) and the paper's benchmark strategies;
- :mod:`~gbwm_sb3.evaluation.critic_lookahead`: ``CriticLookahead``, a trained model's policy
  improved by one step of lookahead with its own critic over the problem's one-year law;
- :mod:`~gbwm_sb3.evaluation.evaluator`: ``evaluate``, every policy on the same normal draws
  (and market regimes, ``market_paths``, and inflation, ``inflation_paths``), with paired
  confidence intervals against the DP policy;
- :mod:`~gbwm_sb3.evaluation.callback`: ``GBWMEvalCallback``, the same scoring during training
  (imported on first use: it needs Stable-Baselines3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gbwm_sb3.common.lazy import lazy_exports
from gbwm_sb3.evaluation.critic_lookahead import CriticLookahead
from gbwm_sb3.evaluation.evaluator import (
    EvaluationReport,
    PolicyResult,
    evaluate,
    inflation_innovations,
    inflation_paths,
    market_paths,
    market_shocks,
    normal_draws,
    regime_uniforms,
)
from gbwm_sb3.evaluation.strategies import (
    BuyAndHold,
    GBWMPolicyLike,
    GreedyGoals,
    Hybrid,
    RandomPolicy,
    SB3Policy,
)

__all__ = [
    "EvaluationReport",
    "PolicyResult",
    "evaluate",
    "normal_draws",
    "market_shocks",
    "market_paths",
    "regime_uniforms",
    "inflation_paths",
    "inflation_innovations",
    "GBWMPolicyLike",
    "SB3Policy",
    "GreedyGoals",
    "BuyAndHold",
    "RandomPolicy",
    "Hybrid",
    "CriticLookahead",
    "GBWMEvalCallback",
]

__getattr__, __dir__ = lazy_exports(
    __name__, {"GBWMEvalCallback": "gbwm_sb3.evaluation.callback"}, globals())

if TYPE_CHECKING:  # pragma: no cover
    from gbwm_sb3.evaluation.callback import GBWMEvalCallback  # noqa: F401
