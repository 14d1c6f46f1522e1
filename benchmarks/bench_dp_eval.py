"""Timings of the DP solver and the common-random-number evaluator.

    python benchmarks/bench_dp_eval.py [--repeats 5] [--skip-million]

Prints, for the paper's problem family: solve_dp time (median of ``--repeats``
runs) and grid size per NG, then evaluate() time and peak traced memory for
five policies (DP, greedy + DP portfolios, buy-and-hold #8, random, DP goals +
buy-and-hold portfolio) over 100,000 and 1,000,000 paths. Then solve_dp on a
problem of the general class: 40 years, 20 goals (up to 4 in a year, up to 3
levels each), yearly savings for 30 years; and 100 years with a goal every year.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

from gbwm_sb3 import paper_problem, solve_dp
from gbwm_sb3.dp import DPSolution
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.evaluation.strategies import BuyAndHold, GreedyGoals, Hybrid, RandomPolicy
from gbwm_sb3.problem.model import GBWMProblem, Goal


def timed_solve(problem: GBWMProblem, repeats: int) -> tuple[DPSolution, float, float]:
    """``solve_dp(problem)`` run ``repeats`` times: the solution and the median and
    shortest wall time in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        solution = solve_dp(problem)
        times.append(time.perf_counter() - start)
    return solution, statistics.median(times), min(times)


def bench_solve(repeats: int) -> None:
    print("| NG | grid points | solve_dp median (s) | min (s) | expected utility |")
    print("|---|---|---|---|---|")
    for num_goals in (1, 2, 4, 8, 16):
        problem = paper_problem(num_goals)
        solution, median, fastest = timed_solve(problem, repeats)
        print(f"| {num_goals} | {solution.wealth_grid.size} | {median:.3f} | "
              f"{fastest:.3f} | {solution.expected_utility:.3f} |")


# Goal years of the general-class problem: 20 goals, at most 4 in one year.
_GENERAL_YEARS = (2, 2, 2, 2, 5, 5, 5, 9, 9, 12, 15, 15, 15, 15, 20, 20, 25, 30, 35, 40)


def general_problem_40_years() -> GBWMProblem:
    """40 years, 20 goals with 1-3 levels (up to 4 goals in a year), savings of 1 a year for
    years 0..29, the paper's portfolios."""
    goals = []
    for i, t in enumerate(_GENERAL_YEARS):
        cost, utility = 10.0 * 1.05**t * (0.5 + 0.25 * (i % 3)), 10.0 + t / 2
        levels = 1 + i % 3
        goals.append(Goal(t, levels=[(cost * (k + 1) / levels, utility * (k + 2) / (levels + 1))
                                     for k in range(levels)]))
    return GBWMProblem(horizon=40, initial_wealth=30.0, goals=tuple(goals),
                       infusions=[1.0] * 30 + [0.0] * 10)


def bench_general_solve(repeats: int) -> None:
    problem = general_problem_40_years()
    solution, median, fastest = timed_solve(problem, repeats)
    print("\nsolve_dp, general class: T = 40, 20 goals (up to 4 a year, up to 3 levels), "
          f"savings in years 0..29; {problem.max_decisions} decisions in the largest year")
    print("| grid points | solve_dp median (s) | min (s) | expected utility |")
    print("|---|---|---|---|")
    print(f"| {solution.wealth_grid.size} | {median:.3f} | {fastest:.3f} | "
          f"{solution.expected_utility:.3f} |")


def long_horizon_problems() -> dict[str, GBWMProblem]:
    """100 years with a goal every year (cost 8, utility 1, W0 200, the paper's portfolios):
    the paper's family, and the same with savings of 1 a year (the general class)."""
    goals = tuple(Goal(t, 8.0, 1.0) for t in range(1, 101))
    return {"T = 100, a goal every year": GBWMProblem(horizon=100, initial_wealth=200.0,
                                                      goals=goals),
            "the same with savings of 1 a year": GBWMProblem(
                horizon=100, initial_wealth=200.0, goals=goals, infusions=[1.0] * 100)}


def bench_long_horizon(repeats: int) -> None:
    print("\nsolve_dp, long horizons")
    print("| problem | grid points | solve_dp median (s) | min (s) | expected utility |")
    print("|---|---|---|---|---|")
    for name, problem in long_horizon_problems().items():
        solution, median, fastest = timed_solve(problem, repeats)
        print(f"| {name} | {solution.wealth_grid.size} | {median:.3f} | "
              f"{fastest:.3f} | {solution.expected_utility:.4f} |")


def bench_evaluate(num_goals: int, path_counts: list[int]) -> None:
    problem = paper_problem(num_goals)
    dp = solve_dp(problem)
    print(f"\nevaluate(), NG = {num_goals}, five policies")
    print("| paths | seconds | peak traced memory (MB) | per-policy seconds |")
    print("|---|---|---|---|")
    for n_paths in path_counts:
        policies = {
            "DP": dp,
            "greedy": GreedyGoals(dp),
            "buy-and-hold #8": BuyAndHold(seed=1),
            "random": RandomPolicy(problem, seed=2),
            "DP goals + #8": Hybrid(dp, BuyAndHold()),
        }
        tracemalloc.start()
        start = time.perf_counter()
        report = evaluate(policies, problem, n_paths=n_paths, seed=0)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        per = ", ".join(f"{r.name} {r.seconds:.2f}" for r in report.results.values())
        print(f"| {n_paths:,} | {seconds:.2f} | {peak / 1e6:.0f} | {per} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--num-goals", type=int, default=4, choices=(1, 2, 4, 8, 16))
    parser.add_argument("--skip-million", action="store_true")
    parser.add_argument("--general-only", action="store_true",
                        help="only the general-class solve_dp timing")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.general_only:
        bench_general_solve(args.repeats)
        bench_long_horizon(args.repeats)
        return
    bench_solve(args.repeats)
    bench_general_solve(args.repeats)
    bench_long_horizon(args.repeats)
    bench_evaluate(args.num_goals, [100_000] if args.skip_million else [100_000, 1_000_000])


if __name__ == "__main__":
    main()
