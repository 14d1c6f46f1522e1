"""Train the documented PPO configuration on the paper's 4-goal problem and score it.

Trains ``paper_ppo`` (50,000 trajectories), solves the exact optimum by dynamic
programming, and evaluates both on the same 100,000 simulated markets (common
random numbers). Prints the RL efficiency (RL mean utility / DP mean utility),
the paper's headline metric.

    python examples/quickstart.py [--num-goals 4] [--seed 0] [--preset paper] [--stock]
"""

from __future__ import annotations

import argparse
import time

from gbwm_sb3 import SB3Policy, evaluate, paper_ppo, paper_problem, solve_dp
from gbwm_sb3.presets import paper_total_timesteps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-goals", type=int, default=4, choices=(1, 2, 4, 8, 16))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trajectories", type=int, default=50_000,
                        help="training budget in trajectories (default 50,000, the paper's)")
    parser.add_argument("--paths", type=int, default=100_000,
                        help="Monte Carlo paths for the evaluation (default 100,000)")
    parser.add_argument("--stock", action="store_true",
                        help="use stock SB3 PPO.train() instead of the fast update path")
    args = parser.parse_args()
    if args.trajectories < 1:
        parser.error(f"--trajectories must be >= 1, got {args.trajectories}")
    if args.paths < 1:
        parser.error(f"--paths must be >= 1, got {args.paths}")

    problem = paper_problem(args.num_goals)
    model = paper_ppo(problem=problem, seed=args.seed, fast=not args.stock)
    start = time.perf_counter()
    model.learn(total_timesteps=paper_total_timesteps(problem, args.trajectories))
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    optimum = solve_dp(problem)
    dp_seconds = time.perf_counter() - start
    report = evaluate(
        {"DP": optimum, "RL (PPO)": SB3Policy(model, problem)},
        problem, n_paths=args.paths, seed=12345,
    )
    print(report)
    rl = report["RL (PPO)"]
    print(
        f"\nNG={args.num_goals} seed={args.seed}: trained in {train_seconds:.1f} s, "
        f"DP solved in {dp_seconds:.2f} s; RL efficiency = {rl.efficiency:.4f} "
        f"(DP optimum {optimum.expected_utility:.3f}, paper's Table I mean "
        f"{ {1: 0.974, 2: 0.948, 4: 0.961, 8: 0.978, 16: 0.978}[args.num_goals] })"
    )


if __name__ == "__main__":
    main()
