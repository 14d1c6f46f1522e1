"""The pretrained network's critic against the optimum's value, on one suite problem.

    nice -n 10 .venv/bin/python benchmarks/critic_value_profile.py sampled-savers-03 \\
        --years 13 15 16 [--fine-tune-seconds 60] [--low 2 --high 40 --points 25]

For a problem of the benchmark suite (``gbwm_sb3.pretrained.suite``, by name) this
prints, at each wealth of a log-spaced grid and each year asked for, the DP's value
``V(t, W)`` and portfolio, and the critic's value (in the DP's units: the network
predicts values as fractions of the problem's total utility) and portfolio of the
zero-shot policy and, with ``--fine-tune-seconds``, of ``fine_tune`` after that many
seconds (seed 0). Then the efficiencies on 20,000 common markets (seed 0) of those
policies and of each acting through ``CriticLookahead``. A critic that is smooth where
the optimum's value steps (at a goal level's cost in the goal year) cannot rank the
portfolios that decide whether the cost is reached.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch as th

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation import CriticLookahead, evaluate
from gbwm_sb3.pretrained import fine_tune, pretrained_policy
from gbwm_sb3.pretrained.suite import benchmark_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("problem", help="a suite problem's name, e.g. sampled-savers-03")
    parser.add_argument("--years", type=int, nargs="+", required=True)
    parser.add_argument("--fine-tune-seconds", type=float, default=0.0)
    parser.add_argument("--low", type=float, default=2.0)
    parser.add_argument("--high", type=float, default=40.0)
    parser.add_argument("--points", type=int, default=25)
    args = parser.parse_args()
    th.set_num_threads(1)
    items = {item.name: item for item in benchmark_suite()}
    if args.problem not in items:
        parser.error(f"argument problem: {args.problem!r} is not a suite problem")
    problem = items[args.problem].problem
    for year in args.years:
        if not 0 <= year < problem.horizon:
            parser.error(f"argument --years: {year} is outside 0..{problem.horizon - 1}")
    dp = solve_dp(problem)
    policies = {"zero-shot": pretrained_policy(problem)}
    if args.fine_tune_seconds > 0:
        policies["fine-tuned"] = fine_tune(problem, 10**9, seed=0,
                                           time_budget_s=args.fine_tune_seconds,
                                           critic_lookahead=False)
    wealth = np.exp(np.linspace(np.log(args.low), np.log(args.high), args.points))
    scale = problem.total_utility
    cells = np.searchsorted(dp.wealth_grid, wealth).clip(0, dp.wealth_grid.size - 1)
    for year in args.years:
        print(f"year {year}: wealth, DP value and portfolio, then per policy critic value "
              f"x total utility and portfolio")
        dp_value = np.interp(np.log(wealth), np.log(dp.wealth_grid), dp.value[year])
        columns = [(policy.scorer().values(year, wealth) * scale, policy.act(year, wealth)[1])
                   for policy in policies.values()]
        for i, w in enumerate(wealth):
            row = " ".join(f"{name} {values[i]:7.3f} {held[i]:2d}"
                           for name, (values, held) in zip(policies, columns, strict=True))
            print(f"  {w:8.2f}  DP {dp_value[i]:7.3f} {dp.portfolio_policy[year][cells[i]]:2d}"
                  f"  {row}")
    scored = {"dp": dp, **policies,
              **{f"{name} + critic lookahead": CriticLookahead(policy, problem)
                 for name, policy in policies.items()}}
    report = evaluate(scored, problem, n_paths=20_000, seed=0)
    for name in report:
        print(f"{name:<34}{report[name].efficiency:.4f}")


if __name__ == "__main__":
    main()
