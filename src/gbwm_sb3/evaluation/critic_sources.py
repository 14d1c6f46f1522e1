"""The trained networks a :class:`~gbwm_sb3.evaluation.CriticLookahead` reads: their own
actions, their likeliest goal decisions and their critic, behind one small interface.

- :class:`ModelCritic`: an SB3 ``PPO`` / ``MaskablePPO`` model trained on the problem's
  env (``GBWMPolicy``; observations of :mod:`gbwm_sb3.envs.observation`);
- a network that brings its own (``network.critic_source()``): the pretrained policy,
  zero-shot or fine-tuned (:class:`gbwm_sb3.pretrained.critic.PretrainedCritic`).
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import numpy as np

from gbwm_sb3.envs.dynamics import problem_table
from gbwm_sb3.envs.observation import decision_affordable, encode_observation
from gbwm_sb3.evaluation.strategies import SB3Policy
from gbwm_sb3.problem.model import GBWMProblem

__all__ = ["CriticSource", "ModelCritic", "critic_source",
           "model_reward_scale", "rank_decisions"]

#: Observations per critic pass.
_ROWS_PER_PASS = 1 << 18


class CriticSource(Protocol):
    """What the lookahead needs from a trained network."""

    reward_scale: float  # the critic's units: rewards times this
    gamma: float

    def own(self, t: int, wealth: np.ndarray, regime: np.ndarray | None,
            inflation: np.ndarray | None, price_level: np.ndarray | None) -> np.ndarray:
        """The network's own goal decisions (indices), shape (N,)."""

    def ranked(self, t: int, wealth: np.ndarray, count: int, regime: np.ndarray | None,
               inflation: np.ndarray | None, price_level: np.ndarray | None) -> np.ndarray:
        """(N, count) affordable decision indices, likeliest first (the network's own in
        column 0; repeated where fewer are affordable)."""

    def values(self, t: int, wealth: np.ndarray, regime: np.ndarray | None,
               rate: np.ndarray | None, price_level: np.ndarray | None) -> np.ndarray:
        """The critic's estimate at year ``t`` for each row, shape (N,) float64."""


def _checked_scale(reward_scale: Any) -> float:
    ok = isinstance(reward_scale, (int, float, np.floating)) and not isinstance(
        reward_scale, bool)
    if not ok or not np.isfinite(reward_scale) or reward_scale <= 0:
        raise ValueError(f"reward_scale must be a finite number > 0, got {reward_scale!r}")
    return float(reward_scale)


def rank_decisions(probabilities: np.ndarray, affordable: np.ndarray, own: np.ndarray,
          count: int) -> np.ndarray:
    """The ``count`` likeliest affordable decisions, ``own`` first."""
    affordable = affordable.copy()
    affordable[:, 0] = True
    scores = np.where(affordable, probabilities, -1.0)
    count = min(count, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :count]
    ranked = np.take_along_axis(scores, order, axis=1)
    order = np.where(ranked >= 0.0, order, own[:, None])
    order[:, 0] = own
    return order


def model_reward_scale(model: Any) -> float:
    """The reward scale of ``model``'s training env (a ``GBWMVecEnv``, possibly wrapped);
    a ValueError naming ``reward_scale`` when the model has none (loaded from disk)."""
    env = model.get_env() if callable(getattr(model, "get_env", None)) else None
    found = getattr(env, "reward_scale", None) if env is not None else None
    if found is None and env is not None and hasattr(env, "get_attr"):
        try:
            found = env.get_attr("reward_scale")[0]
        except (AttributeError, IndexError):
            found = None
    if found is None:
        raise ValueError(
            "reward_scale: the model has no GBWMVecEnv to read it from (a model loaded "
            "from disk); pass the scale it trained with (the tuned preset: "
            "1 / problem.total_utility, the paper: 1.0)")
    return float(found)


class ModelCritic:
    """An SB3 model trained on ``problem``'s env. ``reward_scale``: what its rewards were
    multiplied by in training; None reads it from the model's env (a ``GBWMVecEnv``)."""

    def __init__(self, model: Any, problem: GBWMProblem,
                 reward_scale: float | None = None) -> None:
        self._policy = SB3Policy(model, problem)
        self.model, self.problem = model, problem
        self._table = problem_table(problem)
        self._decision_features = bool(getattr(model.policy, "decision_features", False))
        self.reward_scale = _checked_scale(
            model_reward_scale(model) if reward_scale is None else reward_scale)
        self.gamma = float(getattr(model, "gamma", 1.0))

    def own(self, t: int, wealth: np.ndarray, regime: np.ndarray | None,
            inflation: np.ndarray | None, price_level: np.ndarray | None) -> np.ndarray:
        take, _ = self._policy.act(t, wealth, regime, inflation, price_level)
        return np.asarray(take).astype(np.intp)

    def ranked(self, t: int, wealth: np.ndarray, count: int, regime: np.ndarray | None,
               inflation: np.ndarray | None, price_level: np.ndarray | None) -> np.ndarray:
        own = self.own(t, wealth, regime, inflation, price_level)
        probabilities = self._policy.goal_probabilities(t, wealth, regime, inflation,
                                                        price_level)
        affordable = decision_affordable(self._table, t, wealth, price_level)
        return rank_decisions(probabilities, affordable, own, count)

    def values(self, t: int, wealth: np.ndarray, regime: np.ndarray | None,
               rate: np.ndarray | None, price_level: np.ndarray | None) -> np.ndarray:
        import torch as th

        obs = encode_observation(self._table, t, wealth, self._decision_features, regime,
                                 rate, price_level)
        policy = self.model.policy
        out = np.empty(obs.shape[0])
        with th.no_grad():
            for start in range(0, obs.shape[0], _ROWS_PER_PASS):
                part = th.as_tensor(obs[start:start + _ROWS_PER_PASS], device=policy.device)
                out[start:start + _ROWS_PER_PASS] = policy.predict_values(part).cpu().numpy(
                    ).astype(np.float64).ravel()
        return out


def critic_source(network: Any, problem: GBWMProblem,
                  reward_scale: float | None = None) -> CriticSource:
    """The :class:`CriticSource` of ``network``: its own ``critic_source()`` where it has
    one (the pretrained policy: :class:`gbwm_sb3.pretrained.critic.PretrainedCritic`),
    else a :class:`ModelCritic` of an SB3 model trained on ``problem``."""
    make = getattr(network, "critic_source", None)
    if not callable(make):
        return ModelCritic(network, problem, reward_scale)
    if reward_scale is not None:
        raise ValueError("reward_scale: this network's critic states its own units; leave "
                         "reward_scale out")
    source = make()
    bound = getattr(network, "problem", problem)
    if bound is not problem and bound != problem:
        raise ValueError("problem: the network acts for another problem; pass the problem it "
                         "was made for")
    return cast(CriticSource, source)
