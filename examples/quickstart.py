"""Train PPO on the paper's 4-goal problem and score it against the exact optimum.

For each preset (default: ``paper``, the documented configuration, and ``tuned``),
trains with the paper's budget of 50,000 trajectories, then evaluates the trained
policy (argmax of its final stochastic policy) and the dynamic-programming optimum
on the same 100,000 simulated markets (common random numbers). Prints the RL
efficiency = RL mean utility / DP mean utility, the paper's headline metric, and the
same model improved by one step of lookahead with its own critic (``CriticLookahead``;
``--no-lookahead`` skips it).

    python examples/quickstart.py [--num-goals 4] [--seed 0] [--presets paper tuned]
"""

from __future__ import annotations

import argparse
import time

from gbwm_sb3 import SB3Policy, evaluate, learn_paper, make_preset_model, paper_problem, solve_dp
from gbwm_sb3.evaluation import CriticLookahead
from gbwm_sb3.experiments.reporting import PAPER_TABLE1
from gbwm_sb3.ppo.registry import preset_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-goals", type=int, default=4, choices=sorted(PAPER_TABLE1))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--presets", nargs="+", default=["paper", "tuned"], choices=preset_names())
    parser.add_argument("--trajectories", type=int, default=50_000,
                        help="training budget in trajectories (default 50,000, the paper's)")
    parser.add_argument("--paths", type=int, default=100_000,
                        help="Monte Carlo paths for the evaluation (default 100,000)")
    parser.add_argument("--no-lookahead", action="store_true",
                        help="do not score the models improved by their critic's lookahead")
    args = parser.parse_args()
    if args.trajectories < 1:
        parser.error(f"--trajectories must be >= 1, got {args.trajectories}")
    if args.paths < 1:
        parser.error(f"--paths must be >= 1, got {args.paths}")

    problem = paper_problem(args.num_goals)
    start = time.perf_counter()
    optimum = solve_dp(problem)
    print(f"Paper problem with {args.num_goals} goals: DP optimum {optimum.expected_utility:.3f} "
          f"(solved in {time.perf_counter() - start:.2f} s)")

    policies = {"DP": optimum}
    seconds = {}
    for preset in args.presets:
        model = make_preset_model(preset, problem=problem, seed=args.seed)
        start = time.perf_counter()
        learn_paper(model, n_trajectories=args.trajectories)
        seconds[preset] = time.perf_counter() - start
        print(f"preset {preset!r}: trained on {args.trajectories:,} trajectories in "
              f"{seconds[preset]:.1f} s")
        policies[f"RL ({preset})"] = SB3Policy(model, problem)
        if not args.no_lookahead:
            policies[f"RL ({preset}) + critic lookahead"] = CriticLookahead(model, problem)

    report = evaluate(policies, problem, n_paths=args.paths, seed=12345)
    print()
    print(report)
    print()
    for preset in args.presets:
        result = report[f"RL ({preset})"]
        low, high = result.efficiency_ci
        print(f"RL efficiency, preset {preset!r}, seed {args.seed}: {result.efficiency:.4f} "
              f"(95% CI {low:.4f}-{high:.4f}; trained in {seconds[preset]:.1f} s)")
        if not args.no_lookahead:
            ahead = report[f"RL ({preset}) + critic lookahead"]
            low, high = ahead.efficiency_ci
            print(f"  improved by one step of lookahead with its own critic: "
                  f"{ahead.efficiency:.4f} (95% CI {low:.4f}-{high:.4f})")
    print(f"The paper's Table I (mean of 30 runs) for {args.num_goals} goals: "
          f"{PAPER_TABLE1[args.num_goals][0]:.3f}")


if __name__ == "__main__":
    main()
