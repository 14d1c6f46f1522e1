"""``fine_tune``: continue PPO from the pretrained weights on one client's problem.

The pretrained network is copied (the cached one is never modified) into a PPO model
over a :class:`~gbwm_sb3.envs.multi_problem_vec_env.MultiProblemVecEnv` holding only
the client's problem; each rollout is ``n_envs`` whole trajectories (``n_steps = T``).

PPO on one problem does not improve every update: a step can move the network to a
worse policy, and the last network need not be the best one. ``fine_tune`` therefore
compares the policy (with its lookahead, as it will act) with the best network so far
(at first the zero-shot one) on ``holdout_paths`` simulated markets of a held-out seed,
at regular points of training and at the end, and a network replaces the best only where
it beats it there by more than ``HOLDOUT_MARGIN`` paired standard errors, so that market
noise does not pick a worse network. The held-out markets are never the ones
``evaluate`` uses by default (seed 0). With ``holdout_paths=0`` the last network is
returned.

The fine-tuned critic often ranks portfolios better than the portfolio head picks them
(PPO's advantages carry a whole year's market noise), but not always: on problems where
the critic is too smooth at a goal's cost it ranks them worse. So, on the same held-out
markets, the best network acting through
:class:`~gbwm_sb3.evaluation.CriticLookahead` is compared with the network acting
alone, and the lookahead is kept only where it is better by the same margin
(``critic_lookahead=None``, the default; True or False fix the choice).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.utils import set_random_seed

from gbwm_sb3.common.limits import MAX_PATHS, check_int
from gbwm_sb3.envs.multi_problem_vec_env import MultiProblemVecEnv
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.pretrained.advisor import PretrainedPolicy
from gbwm_sb3.pretrained.loading import (
    DEFAULT_WEIGHTS,
    accepted_envelope,
    bind_policy,
    checked_policy,
    pretrained_network,
    recommended_lookahead,
)
from gbwm_sb3.pretrained.policy import INPUT_FLAGS, UniversalGBWMPolicy
from gbwm_sb3.pretrained.weights import read_weights_manifest
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.sampler import ProblemEnvelope

__all__ = ["fine_tune", "fine_tune_envelope", "FINE_TUNE_DEFAULTS", "FINE_TUNE_MIN_FUNDING_RATIO",
           "HOLDOUT_SEED"]

#: The lowest funding ratio :func:`fine_tune` accepts, whatever the weights' acceptance
#: envelope says (docs/pretrained.md, "Fine-tuning underfunded clients").
FINE_TUNE_MIN_FUNDING_RATIO = 0.1

#: Seed of the held-out markets ``fine_tune`` selects its network on (not ``evaluate``'s
#: default 0).
HOLDOUT_SEED = 7_919_001
#: A network replaces the best one when its held-out mean utility is higher by more than
#: this many standard errors of the paired difference.
HOLDOUT_MARGIN = 2.0

#: PPO settings of :func:`fine_tune` (each can be overridden by keyword).
FINE_TUNE_DEFAULTS = {"learning_rate": 1e-3, "n_epochs": 4, "minibatches": 8,
                      "ent_coef": 0.0, "clip_range": 0.2, "gae_lambda": 0.95}


class _Deadline(BaseCallback):
    def __init__(self, deadline: float | None) -> None:
        super().__init__()
        self.deadline = deadline

    def _on_step(self) -> bool:
        return self.deadline is None or time.time() < self.deadline


#: A comparison on the held-out markets: (the best network's mean utility, the
#: candidate's mean utility, the standard error of their paired difference).
Comparison = Callable[[UniversalGBWMPolicy, UniversalGBWMPolicy], tuple[float, float, float]]


class _KeepBest(BaseCallback):
    """Every ``every`` rollouts (after the update) and at the end, compares the network
    with the best so far on the held-out markets and keeps a copy when it is better by
    more than ``HOLDOUT_MARGIN`` paired standard errors; ``scores`` records (steps, held-out
    mean utility, adopted)."""

    def __init__(self, compare: Comparison, every: int, start: UniversalGBWMPolicy,
                 zero_shot: float) -> None:
        super().__init__()
        self.compare, self.every = compare, every
        self.best = start
        self.scores: list[tuple[int, float, bool]] = [(0, zero_shot, True)]
        self._rollouts = 0

    def _on_step(self) -> bool:
        return True

    def _check(self) -> None:
        policy = cast(UniversalGBWMPolicy, self.model.policy)
        policy.set_training_mode(False)
        best, candidate, error = self.compare(self.best, policy)
        adopted = candidate - best > HOLDOUT_MARGIN * error
        self.scores.append((int(self.num_timesteps), candidate, adopted))
        if adopted:
            self.best = copy.deepcopy(policy)

    def _on_rollout_start(self) -> None:  # the previous rollout has been trained on
        self._rollouts += 1
        if self._rollouts > 1 and (self._rollouts - 1) % self.every == 0:
            self._check()

    def _on_training_end(self) -> None:
        if not self.scores or self.scores[-1][0] != self.num_timesteps:
            self._check()


def fine_tune_envelope(weights: str | os.PathLike[str] | None = None) -> ProblemEnvelope:
    """The problems :func:`fine_tune` accepts with ``weights`` (default: the shipped ones).

    The weights' acceptance envelope (:func:`~gbwm_sb3.pretrained.loading.accepted_envelope`)
    with funding ratios down to :data:`FINE_TUNE_MIN_FUNDING_RATIO`. The acceptance envelope
    stops where the zero-shot policy was measured to do well; fine-tuning trains on the
    client's own problem and keeps the zero-shot network unless a trained one beats it on
    held-out markets, so it only needs a problem the network can read and improve on.
    """
    accepted = accepted_envelope(weights)
    low, high = accepted.funding_ratio
    return dataclasses.replace(accepted,
                               funding_ratio=(min(low, FINE_TUNE_MIN_FUNDING_RATIO), high))


def fine_tune(problem: GBWMProblem, n_trajectories: int, *,
              weights: str | os.PathLike[str] | None = None, seed: int = 0,
              n_envs: int | None = None, time_budget_s: float | None = None,
              threads: int | None = 1, lookahead: int | None = None,
              holdout_paths: int = 20_000, holdout_every: int = 4,
              critic_lookahead: bool | None = None, progress_bar: bool = False,
              **ppo: float) -> PretrainedPolicy:
    """A policy for ``problem``: the pretrained network after PPO on ``n_trajectories``.

    ``problem`` must lie inside :func:`fine_tune_envelope` of ``weights`` (else
    :class:`~gbwm_sb3.pretrained.loading.OutsideEnvelopeError` names each field outside it).

    - ``n_envs``: trajectories per rollout (default ``min(n_trajectories, 512)``: many
      small updates, which is what a short time budget needs);
    - ``time_budget_s``: stop once this much wall time has passed since the call
      (checked at every step; a rollout cut short is not trained on);
    - ``threads``: PyTorch intra-op threads during fine-tuning (None: leave as is);
    - ``lookahead``: decisions the fine-tuned critic compares a year, as in
      :func:`~gbwm_sb3.pretrained.loading.pretrained_policy` (1: none; None: the
      weights' own);
    - ``holdout_paths``: simulated markets (seed :data:`HOLDOUT_SEED`) on which the network
      every ``holdout_every`` rollouts and at the end is compared with the best so far (at
      first the zero-shot one); the best is returned, so the result is never below the
      zero-shot policy on those markets (0: no selection, the last network);
    - ``critic_lookahead``: act through :class:`~gbwm_sb3.evaluation.CriticLookahead`
      with the fine-tuned critic (comparing ``lookahead`` decisions and every portfolio;
      :meth:`PretrainedPolicy.with_critic_lookahead`): None decides on the held-out
      markets after training (kept only where better by ``HOLDOUT_MARGIN`` paired
      standard errors; the network alone when ``holdout_paths=0``), True or False fix it;
    - ``**ppo``: ``learning_rate``, ``n_epochs``, ``minibatches``, ``ent_coef``,
      ``clip_range``, ``gae_lambda`` (defaults in :data:`FINE_TUNE_DEFAULTS`);
    - ``progress_bar``: SB3's progress bar during training.

    Same seed, same problem, same weights: same result (without a time budget). The
    returned policy's ``fine_tune_scores`` lists (environment steps, held-out mean
    utility, adopted as the best) for every network scored, and its
    ``fine_tune_critic_check`` the lookahead's comparison (held-out mean utility without
    and with it, adopted; None where not compared), and its ``fine_tune_record`` what was
    asked and done (weights, budget, seed, trajectories trained, seconds). The comparisons
    at the end come after the time budget. Save the result with
    :func:`~gbwm_sb3.pretrained.client_policy.save_client_policy`.
    """
    started = time.time()
    if lookahead is None:
        lookahead = recommended_lookahead(weights)
    lookahead = check_int(lookahead, "lookahead", 1, 64, style="dots")  # "auto" refused
    base = checked_policy(problem, weights, fine_tune_envelope(weights), "fine_tune accepts",
                          lookahead=lookahead)
    n_trajectories = check_int(n_trajectories, "n_trajectories", 1, exact=True)
    n_envs = check_int(min(n_trajectories, 512) if n_envs is None else n_envs, "n_envs", 1,
                       exact=True)
    seed = check_int(seed, "seed", 0, exact=True)
    if time_budget_s is not None and (isinstance(time_budget_s, bool)
                                      or not isinstance(time_budget_s, (int, float))
                                      or not math.isfinite(time_budget_s)
                                      or time_budget_s <= 0):
        raise ValueError(f"time_budget_s must be a number > 0, got {time_budget_s!r}")
    holdout_paths = check_int(holdout_paths, "holdout_paths", 0, MAX_PATHS, exact=True)
    holdout_every = check_int(holdout_every, "holdout_every", 1, exact=True)
    if critic_lookahead is not None and not isinstance(critic_lookahead, bool):
        raise ValueError(f"critic_lookahead must be True, False or None (decide on the "
                         f"held-out markets), got {critic_lookahead!r}")
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
                                             "activation_fn": network.activation_fn,
                                             **{flag: getattr(network, flag)
                                                for flag in INPUT_FLAGS}})
    model.policy.load_state_dict(copy.deepcopy(network.state_dict()))
    total = n_trajectories * horizon
    callbacks: list[BaseCallback] = [_Deadline(None if time_budget_s is None
                                               else started + time_budget_s)]
    keep: _KeepBest | None = None
    def held_out(best: PretrainedPolicy, candidate: PretrainedPolicy
                 ) -> tuple[float, float, float]:
        report = evaluate({"best": best, "candidate": candidate}, base.problem,
                          n_paths=holdout_paths, seed=HOLDOUT_SEED, reference="best")
        error = report["candidate"].difference_std_error
        return (report["best"].mean_utility, report["candidate"].mean_utility,
                0.0 if error is None else error)

    if holdout_paths:
        def compare(best: UniversalGBWMPolicy, candidate: UniversalGBWMPolicy
                    ) -> tuple[float, float, float]:
            return held_out(bind_policy(best, base.problem, lookahead=lookahead),
                            bind_policy(candidate, base.problem, lookahead=lookahead))

        # the model was built as PPO(UniversalGBWMPolicy, ...) above
        start = copy.deepcopy(cast(UniversalGBWMPolicy, model.policy))
        start.set_training_mode(False)
        zero_shot = evaluate({"policy": bind_policy(start, base.problem, lookahead=lookahead)},
                             base.problem, n_paths=holdout_paths, seed=HOLDOUT_SEED,
                             reference=None)["policy"].mean_utility
        keep = _KeepBest(compare, holdout_every, start, zero_shot)
        callbacks.append(keep)
    model.learn(total, callback=CallbackList(callbacks), progress_bar=bool(progress_bar))
    policy = cast(UniversalGBWMPolicy, model.policy)
    if keep is not None:
        policy.load_state_dict(keep.best.state_dict())
    policy.set_training_mode(False)
    bound = bind_policy(policy, base.problem, lookahead=lookahead)
    bound.fine_tune_scores = [] if keep is None else list(keep.scores)
    source = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    bound.fine_tune_record = {
        "weights_directory": str(source.resolve()),
        "weights_sha256": read_weights_manifest(source)["sha256"],
        "n_trajectories": n_trajectories, "seed": seed, "n_envs": n_envs,
        "time_budget_s": time_budget_s, "lookahead": lookahead,
        "holdout_paths": holdout_paths, "holdout_every": holdout_every,
        "settings": dict(settings),
        "trajectories": int(model.num_timesteps // horizon),
        "seconds": round(time.time() - started, 3)}
    if critic_lookahead is True:
        return bound.with_critic_lookahead()
    if critic_lookahead is None and holdout_paths:
        improved = bound.with_critic_lookahead()
        alone, with_critic, error = held_out(bound, improved)
        adopted = with_critic - alone > HOLDOUT_MARGIN * error
        (improved if adopted else bound).fine_tune_critic_check = (alone, with_critic,
                                                                   adopted)
        if adopted:
            return improved
    return bound
