"""The DP with cash and other near-riskless portfolios: accuracy and speed.

    python benchmarks/bench_dp_riskless.py [--paths 1000000] [--blocks 4] [--repeats 5]

Prints (1) for the 10-year problem of ``tests/test_dp_riskless.py`` (cash at 3% beside
funds at 5%/8% and 7%/14%, paper family and general class) the DP's optimum against the
mean utility of its own policy simulated on ``--blocks`` x ``--paths`` common paths, with
the z-score; (2) the optimum at grid densities 50, 100, 200 and 400 and the default's
relative gap to 400; (3) solve_dp times (median of ``--repeats``) with cash beside the
paper's 15 portfolios (NG = 16), a 40-year problem with levels and savings, and 100 years
with a goal every year.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from gbwm_sb3 import paper_problem, solve_dp
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios, paper_portfolios

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bench_dp_eval import timed_solve  # noqa: E402
from test_dp_riskless import cash_problem  # noqa: E402


def bench_accuracy(paths: int, blocks: int) -> None:
    print("| class | cash volatility | DP | simulated | std. error | z |")
    print("|---|---|---|---|---|---|")
    for general in (False, True):
        for volatility in (0.0, 1e-6, 1e-4, 5e-4, 0.002, 0.005, 0.01):
            problem = cash_problem(volatility, general)
            solution = solve_dp(problem)
            results = [evaluate({"dp": solution}, problem, n_paths=paths, seed=100 + k)["dp"]
                       for k in range(blocks)]
            mean = float(np.mean([r.mean_utility for r in results]))
            std_error = math.sqrt(float(np.mean([r.std_error**2 for r in results])) / blocks)
            z = (solution.expected_utility - mean) / std_error
            print(f"| {'general' if general else 'paper'} | {volatility:g} | "
                  f"{solution.expected_utility:.4f} | {mean:.4f} | {std_error:.4f} | "
                  f"{z:+.1f} |", flush=True)


def bench_convergence() -> None:
    print("\n| class | cash volatility | d=50 | 100 | 200 | 400 | 50 vs 400 |")
    print("|---|---|---|---|---|---|---|")
    for general in (False, True):
        for volatility in (0.0, 0.002):
            problem = cash_problem(volatility, general)
            values = [solve_dp(problem, grid_density=d).expected_utility
                      for d in (50.0, 100.0, 200.0, 400.0)]
            gap = (values[0] - values[-1]) / values[-1]
            print(f"| {'general' if general else 'paper'} | {volatility:g} | "
                  + " | ".join(f"{v:.4f}" for v in values) + f" | {gap:+.3%} |", flush=True)


def speed_problems() -> dict[str, GBWMProblem]:
    frontier = paper_portfolios()
    cash = Portfolios(means=[0.02, *frontier.means], volatilities=[0.0, *frontier.volatilities])
    return {
        "paper NG=16 + cash": replace(paper_problem(16), portfolios=cash),
        "T=40, 8 goals with levels, savings + cash": GBWMProblem(
            horizon=40, initial_wealth=50.0,
            goals=tuple(Goal(t, levels=[(20.0 + t, 5.0), (35.0 + 2 * t, 9.0)])
                        for t in range(5, 41, 5)),
            portfolios=cash, infusions=[3.0] * 40),
        "T=100, a goal every year + cash": GBWMProblem(
            horizon=100, initial_wealth=200.0,
            goals=tuple(Goal(t, 8.0, 1.0) for t in range(1, 101)), portfolios=cash),
    }


def bench_speed(repeats: int) -> None:
    print("\n| problem | grid points | solve_dp median (s) | expected utility |")
    print("|---|---|---|---|")
    for name, problem in speed_problems().items():
        solution, median, _ = timed_solve(problem, repeats)
        print(f"| {name} | {solution.wealth_grid.size} | {median:.3f} | "
              f"{solution.expected_utility:.4f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=1_000_000)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    bench_accuracy(args.paths, args.blocks)
    bench_convergence()
    bench_speed(args.repeats)


if __name__ == "__main__":
    main()
