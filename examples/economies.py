"""Economies beyond one lognormal market: fat tails, withdrawals, regimes, inflation.

Loads a retiree's plan (``examples/problems/retirement_withdrawals.yaml``: yearly
withdrawals that can bankrupt the plan, Student-t yearly returns), solves it exactly,
shows what the economy changes against the lognormal market of the same mean and
volatility without inflation risk, scores simple strategies and a PPO agent against the
optimum on the same simulated markets, with each one's probability of bankruptcy
(docs/economies.md). Any problem file works: ``regime_market.yaml`` (a calm and a
stressed market regime), or one with an ``inflation:`` section.

    python examples/economies.py                          # ~1-2 minutes on 2 cores
    python examples/economies.py --trajectories 50000     # the paper's training budget
    python examples/economies.py --problem examples/problems/regime_market.yaml
    python examples/economies.py --problem my_plan.yaml --paths 200000
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from gbwm_sb3 import SB3Policy, evaluate, learn_paper, load_problem, make_preset_model, solve_dp
from gbwm_sb3.cli.arguments import int_in
from gbwm_sb3.evaluation.strategies import BuyAndHold, GreedyGoals
from gbwm_sb3.problem.market import LognormalMarket

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problem", type=Path,
                        default=HERE / "problems" / "retirement_withdrawals.yaml")
    parser.add_argument("--paths", type=int_in(2, 10_000_000), default=50_000,
                        help="simulated markets (default 50000)")
    parser.add_argument("--trajectories", type=int_in(0, 10_000_000), default=10_000,
                        help="PPO training budget (0: skip training; default 10000)")
    parser.add_argument("--seed", type=int_in(0, 2**31 - 1), default=0)
    args = parser.parse_args()

    problem = load_problem(args.problem)
    lognormal = dataclasses.replace(problem, market=LognormalMarket(), inflation=None)
    exact = solve_dp(problem)
    print(f"{args.problem.name}: {problem.market.describe()}")
    if problem.inflation is not None:
        print(f"inflation: {problem.inflation.describe()}")
    print(f"optimum: {exact.expected_utility:.4f} of {problem.total_utility:g} "
          f"(the same plan in a lognormal market without inflation risk: "
          f"{solve_dp(lognormal).expected_utility:.4f})")

    policies = {"DP (optimal)": exact, "greedy goals, DP portfolios": GreedyGoals(exact),
                "buy and hold #2": BuyAndHold(1, problem=problem)}
    if args.trajectories:
        model = make_preset_model("tuned", problem=problem, seed=args.seed,
                                  decision_goal_head="general")
        learn_paper(model, args.trajectories)
        policies[f"PPO, tuned preset, {args.trajectories:,} trajectories"] = \
            SB3Policy(model, problem)
    report = evaluate(policies, problem, n_paths=args.paths, seed=args.seed)
    print(report)


if __name__ == "__main__":
    main()
