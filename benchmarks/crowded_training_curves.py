"""Training curves on a crowded year: efficiency against the DP and the goal head's entropy.

    nice -n 10 .venv/bin/python benchmarks/crowded_training_curves.py --seed 1 \\
        --trajectories 100000 [--decision-goal-head]

The problem: a household of 12 years with three goals of two levels each due in year 7
(27 decisions that year), a car at 3 and a two-level retirement goal at 12 (W0 = 100, the
paper's 15 portfolios). The ``tuned`` preset (optionally with ``decision_goal_head``)
trains for ``--trajectories``; every 4 rollouts ``GBWMEvalCallback`` scores the
deterministic policy against the DP on 10,000 common markets and this script records
the goal head's mean entropy and top probability at year 7 over 40 wealths (60-400). At
the end the policy is scored against the DP on 50,000 common markets (seed 1). Prints one
JSON object: the final efficiency, the curve and the entropies.
"""

from __future__ import annotations

import argparse
import json
import time

import bench_crowded
import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.envs.dynamics import problem_table
from gbwm_sb3.envs.observation import encode_observation
from gbwm_sb3.evaluation import evaluate
from gbwm_sb3.evaluation.callback import GBWMEvalCallback
from gbwm_sb3.evaluation.strategies import SB3Policy
from gbwm_sb3.ppo.presets import learn_paper, make_preset_model
from gbwm_sb3.problem.model import GBWMProblem

CROWDED_YEAR = 7


def household() -> GBWMProblem:
    """Three two-level goals due in year 7: 27 decisions that year."""
    return bench_crowded.household(0)


class GoalEntropy(BaseCallback):
    """Every ``every`` rollouts: the goal head's mean entropy and top probability at ``obs``."""

    def __init__(self, obs: th.Tensor, horizon: int, every: int = 4) -> None:
        super().__init__()
        self.obs, self.horizon, self.every = obs, horizon, every
        self.rows: list[tuple[int, float, float]] = []
        self._rollouts = 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        self._rollouts += 1
        if self._rollouts % self.every == 1:
            with th.no_grad():
                goal = self.model.policy.get_distribution(self.obs).goal
            self.rows.append((int(self.num_timesteps // self.horizon),
                              round(float(goal.entropy().mean()), 3),
                              round(float(goal.probs.max(dim=1).values.mean()), 3)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trajectories", type=int, default=100_000)
    parser.add_argument("--decision-goal-head", action="store_true")
    args = parser.parse_args()
    problem = household()
    model = make_preset_model("tuned", problem=problem, seed=args.seed,
                              decision_goal_head=args.decision_goal_head)
    wealth = np.geomspace(60.0, 400.0, 40)
    obs = th.as_tensor(encode_observation(problem_table(problem), CROWDED_YEAR, wealth,
                                          args.decision_goal_head))
    evaluation = GBWMEvalCallback(eval_every=4, n_paths=10_000)
    entropy = GoalEntropy(obs, problem.horizon)
    started = time.perf_counter()
    learn_paper(model, args.trajectories, callback=CallbackList([evaluation, entropy]))
    seconds = time.perf_counter() - started
    report = evaluate({"dp": solve_dp(problem), "policy": SB3Policy(model, problem)}, problem,
                      n_paths=50_000, seed=1)
    print(json.dumps({
        "seed": args.seed, "decision_goal_head": args.decision_goal_head,
        "trajectories": args.trajectories, "seconds": round(seconds, 1),
        "final_efficiency": round(float(report["policy"].efficiency or 0.0), 4),
        "efficiency": [(int(h["trajectories"]), round(h["efficiency"], 4))
                       for h in evaluation.history],
        "goal_entropy_at_year_7": entropy.rows}))


if __name__ == "__main__":
    main()
