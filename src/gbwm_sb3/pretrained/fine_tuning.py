"""``fine_tune``: continue PPO from the pretrained weights on one client's problem.

The pretrained network is copied (the cached one is never modified) into a PPO model
over a :class:`~gbwm_sb3.envs.multi_problem_vec_env.MultiProblemVecEnv` holding only
the client's problem; each rollout is ``n_envs`` whole trajectories (``n_steps = T``).
"""

from __future__ import annotations

import copy
import math
import os
import time
from typing import cast

import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import set_random_seed

from gbwm_sb3.common.limits import check_int
from gbwm_sb3.envs.multi_problem_vec_env import MultiProblemVecEnv
from gbwm_sb3.pretrained.advisor import PretrainedPolicy
from gbwm_sb3.pretrained.loading import bind_policy, pretrained_network, pretrained_policy
from gbwm_sb3.pretrained.lookahead import DEFAULT_CANDIDATES
from gbwm_sb3.pretrained.policy import UniversalGBWMPolicy
from gbwm_sb3.problem.model import GBWMProblem

__all__ = ["fine_tune", "FINE_TUNE_DEFAULTS"]

#: PPO settings of :func:`fine_tune` (each can be overridden by keyword).
FINE_TUNE_DEFAULTS = {"learning_rate": 1e-3, "n_epochs": 4, "minibatches": 8,
                      "ent_coef": 0.0, "clip_range": 0.2, "gae_lambda": 0.95}


class _Deadline(BaseCallback):
    def __init__(self, deadline: float | None) -> None:
        super().__init__()
        self.deadline = deadline

    def _on_step(self) -> bool:
        return self.deadline is None or time.time() < self.deadline


def fine_tune(problem: GBWMProblem, n_trajectories: int, *,
              weights: str | os.PathLike[str] | None = None, seed: int = 0,
              n_envs: int | None = None, time_budget_s: float | None = None,
              threads: int | None = 1, lookahead: int = DEFAULT_CANDIDATES,
              **ppo: float) -> PretrainedPolicy:
    """A policy for ``problem``: the pretrained network after PPO on ``n_trajectories``.

    - ``n_envs``: trajectories per rollout (default ``min(n_trajectories, 512)``: many
      small updates, which is what a short time budget needs);
    - ``time_budget_s``: stop once this much wall time has passed since the call
      (checked at every step; a rollout cut short is not trained on);
    - ``threads``: PyTorch intra-op threads during fine-tuning (None: leave as is);
    - ``lookahead``: decisions the fine-tuned critic compares a year, as in
      :func:`~gbwm_sb3.pretrained.loading.pretrained_policy` (1: none);
    - ``**ppo``: ``learning_rate``, ``n_epochs``, ``minibatches``, ``ent_coef``,
      ``clip_range``, ``gae_lambda`` (defaults in :data:`FINE_TUNE_DEFAULTS`).

    Same seed, same problem, same weights: same result (without a time budget).
    """
    started = time.time()
    base = pretrained_policy(problem, weights, lookahead=lookahead)  # checks the envelope
    n_trajectories = check_int(n_trajectories, "n_trajectories", 1, exact=True)
    n_envs = check_int(min(n_trajectories, 512) if n_envs is None else n_envs, "n_envs", 1,
                       exact=True)
    seed = check_int(seed, "seed", 0, exact=True)
    if time_budget_s is not None and (isinstance(time_budget_s, bool)
                                      or not isinstance(time_budget_s, (int, float))
                                      or not math.isfinite(time_budget_s)
                                      or time_budget_s <= 0):
        raise ValueError(f"time_budget_s must be a number > 0, got {time_budget_s!r}")
    unknown = sorted(set(ppo) - set(FINE_TUNE_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown fine-tuning settings: {', '.join(unknown)} (allowed: "
                         f"{', '.join(FINE_TUNE_DEFAULTS)})")
    settings = {**FINE_TUNE_DEFAULTS, **ppo}
    if threads is not None:
        th.set_num_threads(check_int(threads, "threads", 1, exact=True))
    horizon = problem.horizon
    rollout = n_envs * horizon
    minibatches = check_int(int(settings["minibatches"]), "minibatches", 1, exact=True)
    batch_size = max(2, rollout // minibatches)
    network: UniversalGBWMPolicy = pretrained_network(weights)
    set_random_seed(seed)
    env = MultiProblemVecEnv(n_envs, problems=[problem], seed=seed)
    model = PPO(UniversalGBWMPolicy, env, learning_rate=float(settings["learning_rate"]),
                n_steps=horizon, batch_size=batch_size, n_epochs=int(settings["n_epochs"]),
                gamma=1.0, gae_lambda=float(settings["gae_lambda"]),
                clip_range=float(settings["clip_range"]), ent_coef=float(settings["ent_coef"]),
                device="cpu", policy_kwargs={"embedding": tuple(network.embedding),
                                             "head": network.head,
                                             "value": tuple(network.value),
                                             "activation_fn": network.activation_fn})
    model.policy.load_state_dict(copy.deepcopy(network.state_dict()))
    total = n_trajectories * horizon
    model.learn(total, callback=_Deadline(None if time_budget_s is None
                                          else started + time_budget_s))
    model.policy.set_training_mode(False)
    # the model was built as PPO(UniversalGBWMPolicy, ...) above
    return bind_policy(cast(UniversalGBWMPolicy, model.policy), base.problem, lookahead=lookahead)
