"""Steps per second of MultiProblemVecEnv (many problems) against GBWMVecEnv (one problem).

Both envs step ``--envs`` trajectories with random valid actions (the multi-problem env
reads its action masks); the timed loop includes choosing the actions. The
multi-problem env is timed with the pool renewed as episodes end
(``--new-problems-per-step``, default 4) and with a fixed pool (0).

    python examples/multi_problem_env_speed.py [--envs 4800] [--steps 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gbwm_sb3.envs.multi_problem_vec_env import MultiProblemVecEnv
from gbwm_sb3.envs.universal_observation import K_MAX
from gbwm_sb3.envs.vec_env import GBWMVecEnv


def _time_multi(envs: int, steps: int, seed: int, renew: int) -> tuple[float, float]:
    start = time.perf_counter()
    env = MultiProblemVecEnv(envs, seed=seed, new_problems_per_step=renew)
    env.reset()
    built = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(steps):
        masks = env.action_masks()
        decisions = (rng.random((envs, K_MAX)) * masks[:, :K_MAX]).argmax(axis=1)
        portfolios = (rng.random(envs) * masks[:, K_MAX:].sum(axis=1)).astype(np.int64)
        env.step(np.stack([decisions, portfolios], axis=1))
    return envs * steps / (time.perf_counter() - start), built


def _time_single(envs: int, steps: int, seed: int) -> float:
    env = GBWMVecEnv(envs, seed=seed)
    env.reset()
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(steps):
        masks = env.action_masks()
        take = masks[:, 1] & (rng.random(envs) < 0.5)
        env.step(np.stack([take.astype(np.int64), rng.integers(0, 15, envs)], axis=1))
    return envs * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=4800)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for renew in (4, 0):
        rate, built = _time_multi(args.envs, args.steps, args.seed, renew)
        print(f"MultiProblemVecEnv, {args.envs} trajectories, new_problems_per_step={renew}: "
              f"{rate:,.0f} steps/s (pool of 1024 problems built in {built:.1f} s)")
    rate = _time_single(args.envs, args.steps, args.seed)
    print(f"GBWMVecEnv, {args.envs} trajectories of the paper's 4-goal problem: "
          f"{rate:,.0f} steps/s")


if __name__ == "__main__":
    main()
