"""Evaluation during training: efficiency against the exact optimum, in SB3's logger.

``GBWMEvalCallback`` solves the problem by dynamic programming once, then every
``eval_every`` PPO iterations scores the deterministic policy (argmax of each
factor, as the paper does) on the same ``n_paths`` simulated markets as the DP
policy (common random numbers), and records

- ``gbwm/efficiency``: mean utility of the policy / mean utility of DP on those paths;
- ``gbwm/eval_mean_utility`` and ``gbwm/dp_mean_utility``: the two means;

in SB3's logger, so they show in TensorBoard next to the training metrics. With
``best_model_dir`` it keeps the best model so far as a safe model directory
(:func:`gbwm_sb3.model_io.save_model`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from stable_baselines3.common.callbacks import BaseCallback

from gbwm_sb3.common.limits import MAX_PATHS, check_int
from gbwm_sb3.problem.model import GBWMProblem

if TYPE_CHECKING:
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO

__all__ = ["GBWMEvalCallback"]


class GBWMEvalCallback(BaseCallback):
    """Every ``eval_every`` iterations, log the policy's efficiency against DP; keep the best.

    Parameters
    ----------
    problem: the problem to evaluate on (default: the training env's problem).
    eval_every: evaluate after every this many PPO updates (and after the last one).
    n_paths: common-random-number paths per evaluation (same paths every time).
    seed: seed of those paths.
    best_model_dir: where to keep the best model (``None``: do not save).
    overwrite: allow ``best_model_dir`` to be an existing non-empty directory.
    preset_name: stored in the saved model's manifest.
    dp_solution: a solved ``DPSolution`` to reuse (default: solved at training start).
    """

    model: PPO | MaskablePPO  # the model trained (what save_model keeps)

    def __init__(self, problem: GBWMProblem | None = None, eval_every: int = 1,
                 n_paths: int = 10_000, seed: int = 12_345,
                 best_model_dir: str | os.PathLike[str] | None = None, overwrite: bool = False,
                 preset_name: str | None = None, dp_solution: Any = None,
                 verbose: int = 0) -> None:
        super().__init__(verbose)
        if problem is not None and not isinstance(problem, GBWMProblem):
            raise ValueError(f"problem must be a GBWMProblem or None, got {type(problem).__name__}")
        self.problem = problem
        self.eval_every = check_int(eval_every, "eval_every", 1, exact=True)
        self.n_paths = check_int(n_paths, "n_paths", 1, exact=True)
        if self.n_paths > MAX_PATHS:
            raise ValueError(f"n_paths must be an integer >= 1 and <= {MAX_PATHS:,} "
                             f"(MAX_PATHS), got {n_paths!r}")
        self.seed = check_int(seed, "seed", 0, exact=True)
        self.best_model_dir = Path(best_model_dir) if best_model_dir is not None else None
        self.overwrite = bool(overwrite)
        self.preset_name = preset_name
        self.dp = dp_solution
        self.dp_mean_utility: float | None = None
        self.best_efficiency = -float("inf")
        self.history: list[dict[str, float]] = []
        self._updates = -1
        self._last_evaluated = -1
        self._saved_once = False

    # ------------------------------------------------------------------ SB3 hooks
    def _on_training_start(self) -> None:
        from gbwm_sb3.dp import solve_dp
        from gbwm_sb3.envs.vec_env import GBWMVecEnv
        from gbwm_sb3.ppo.callbacks import find_gbwm_vec_env

        if self.problem is None:  # the training env's: a single-problem GBWMVecEnv
            self.problem = cast(GBWMVecEnv, find_gbwm_vec_env(self.training_env)).problem
        if self.best_model_dir is not None and not self._saved_once and not self.overwrite:
            target = self.best_model_dir
            if target.exists() and (not target.is_dir() or any(target.iterdir())):
                raise FileExistsError(
                    f"best_model_dir {target} already exists and is not empty; "
                    "pass overwrite=True to replace the model files in it"
                )
        if self.dp is None:
            self.dp = solve_dp(self.problem)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        # Called at the start of each rollout, i.e. after the previous iteration's update.
        self._updates += 1
        if self._updates > 0 and self._updates % self.eval_every == 0:
            self._evaluate()

    def _on_training_end(self) -> None:
        if self._updates >= 0 and self._last_evaluated != self.model.num_timesteps:
            self._evaluate()
            self.logger.dump(self.model.num_timesteps)

    # ------------------------------------------------------------------ evaluation
    def _scores(self) -> tuple[float, float]:
        """(policy mean utility, DP mean utility) on the same fixed paths."""
        from gbwm_sb3.evaluation.evaluator import evaluate
        from gbwm_sb3.evaluation.strategies import SB3Policy

        problem = self._problem()
        policies = {"dp": self.dp, "policy": SB3Policy(self.model, problem)}
        report = evaluate(policies, problem, n_paths=self.n_paths, seed=self.seed)
        return float(report["policy"].mean_utility), float(report["dp"].mean_utility)

    def evaluate_now(self) -> float:
        """Efficiency of the model's current deterministic policy (nothing logged; NaN when
        DP reaches no goal on the evaluation paths)."""
        mean, dp_mean = self._scores()
        return mean / dp_mean if dp_mean > 0.0 else float("nan")

    def _evaluate(self) -> None:
        start = time.perf_counter()
        mean, dp_mean = self._scores()
        self.dp_mean_utility = dp_mean
        # DP reaches no goal on any path: efficiency is undefined (NaN), never "best".
        efficiency = mean / dp_mean if dp_mean > 0.0 else float("nan")
        self._last_evaluated = self.model.num_timesteps
        self.history.append({
            "timesteps": float(self.model.num_timesteps),
            "trajectories": float(self.model.num_timesteps / self._problem().horizon),
            "efficiency": efficiency,
            "mean_utility": mean,
        })
        self.logger.record("gbwm/efficiency", efficiency)
        self.logger.record("gbwm/eval_mean_utility", mean)
        self.logger.record("gbwm/dp_mean_utility", dp_mean)
        if efficiency > self.best_efficiency:
            self.best_efficiency = efficiency
            if self.best_model_dir is not None:
                self._save_best(self.best_model_dir, efficiency, mean)
        self.logger.record("gbwm/best_efficiency", self.best_efficiency)
        if self.verbose:
            print(f"[eval] {self.model.num_timesteps} steps: efficiency {efficiency:.4f} "
                  f"(mean utility {mean:.3f}, DP {dp_mean:.3f}; "
                  f"{time.perf_counter() - start:.2f} s)")

    def _problem(self) -> GBWMProblem:
        """The problem evaluated on: the one given, else the training env's."""
        if self.problem is None:
            raise RuntimeError("GBWMEvalCallback has no problem before training starts; "
                               "pass problem=")
        return self.problem

    def _save_best(self, directory: Path, efficiency: float, mean: float) -> None:
        from gbwm_sb3.model_io import save_model

        save_model(
            self.model, directory, self._problem(), self.preset_name,
            metrics={"efficiency": efficiency, "mean_utility": mean,
                     "dp_mean_utility": self.dp_mean_utility, "eval_paths": self.n_paths,
                     "eval_seed": self.seed, "num_timesteps": int(self.model.num_timesteps)},
            overwrite=self.overwrite or self._saved_once,
        )
        self._saved_once = True
