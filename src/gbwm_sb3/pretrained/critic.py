"""The pretrained network's side of :class:`~gbwm_sb3.evaluation.CriticLookahead`: its greedy
actions, its goal head's likeliest decisions and its value network, for one problem."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PretrainedCritic"]


class PretrainedCritic:
    """The pretrained network acting for one problem (``pretrained_policy`` or
    ``fine_tune``'s result): its greedy actions, its goal head's likeliest decisions and
    its value network, which estimates returns in units of the problem's total utility
    (rewards times ``1 / total utility``, undiscounted)."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.problem = policy.problem
        self.reward_scale = 1.0 / float(self.problem.total_utility)
        self.gamma = 1.0

    def own(self, t: int, wealth: np.ndarray, regime: np.ndarray | None,
            inflation: np.ndarray | None, price_level: np.ndarray | None) -> np.ndarray:
        return np.asarray(self.policy.scorer().actions(t, wealth)[0]).astype(np.intp)

    def ranked(self, t: int, wealth: np.ndarray, count: int, regime: np.ndarray | None,
               inflation: np.ndarray | None, price_level: np.ndarray | None) -> np.ndarray:
        own = self.own(t, wealth, regime, inflation, price_level)
        decisions, _, probabilities = self.policy.scorer().candidates(t, wealth, count)
        ranked = np.where(probabilities > 0, decisions, own[:, None]).astype(np.intp)
        ranked[:, 0] = own
        return ranked

    def values(self, t: int, wealth: np.ndarray, regime: np.ndarray | None,
               rate: np.ndarray | None, price_level: np.ndarray | None) -> np.ndarray:
        return np.asarray(self.policy.scorer().values(t, wealth), dtype=np.float64)
