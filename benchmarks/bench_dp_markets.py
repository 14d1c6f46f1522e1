"""The DP of regime-switching and empirical markets and of stochastic inflation: grid
convergence and speed.

    .venv/bin/python benchmarks/bench_dp_markets.py [--markets regimes empirical inflation] \
        [--repeats 5]

For four problems under the two-regime preset (``two_regime_us_market``) and under an
empirical market (a seeded, negatively skewed table of 96 yearly returns, as in
tests/test_dp_empirical.py): the optimum (from each starting regime) by grid density (25
to 400 points per unit of log-wealth; the default is 50) and the solve time (median of
``--repeats``) against the same problem in the lognormal market, solved in the same
process. For inflation (the AR(1) of ``us_inflation`` with correlation -0.2): the optimum
by wealth grid density, by inflation nodes and by quadrature nodes, and the solve time,
including the two-dimensional target problem (T = 40, 15 portfolios).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import numpy as np

from gbwm_sb3.dp import RegimeDPSolution, solve_dp
from gbwm_sb3.problem import (
    EmpiricalMarket,
    load_problem,
    two_regime_us_market,
    us_inflation,
)
from gbwm_sb3.problem.market import LognormalMarket
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios, paper_problem

HERE = Path(__file__).resolve().parent
DENSITIES = (25.0, 50.0, 100.0, 200.0, 400.0)


def skewed_market() -> EmpiricalMarket:
    """96 yearly returns of a seeded two-state mixture (a crash state 15% of the time)."""
    rng = np.random.default_rng(2024)
    crash = rng.random(96) < 0.15
    x = np.where(crash, rng.normal(-1.7, 1.0, 96), rng.normal(0.3, 0.8, 96))
    return EmpiricalMarket(tuple(np.expm1(0.07 + 0.18 * x).tolist()))


def problems(market_name: str) -> dict[str, GBWMProblem]:
    us = two_regime_us_market() if market_name == "regimes" else skewed_market()
    general = GBWMProblem(
        horizon=12, initial_wealth=60.0,
        goals=(Goal(3, levels=((10.0, 8.0), (18.0, 12.0))), Goal(6, 25.0, 15.0),
               Goal(6, 8.0, 6.0), Goal(12, levels=((30.0, 20.0), (60.0, 30.0)))),
        infusions=[0.0, 5.0, 5.0, 5.0, -3.0, -3.0] + [2.0] * 6,
        portfolios=Portfolios([0.03, 0.05, 0.07, 0.09], [0.04, 0.08, 0.14, 0.22]))
    return {
        "paper NG = 4": dataclasses.replace(paper_problem(4), market=us),
        "levels, savings, withdrawals (T = 12)": dataclasses.replace(general, market=us),
        "examples/problems/regime_market.yaml": dataclasses.replace(load_problem(
            HERE.parent / "examples" / "problems" / "regime_market.yaml"), market=us),
        "paper NG = 16": dataclasses.replace(paper_problem(16), market=us),
    }


def _median_seconds(problem: GBWMProblem, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        solve_dp(problem)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markets", nargs="+", choices=["regimes", "empirical", "inflation"],
                        default=["regimes", "empirical", "inflation"])
    args = parser.parse_args()
    for market_name in args.markets:
        if market_name == "inflation":
            _report_inflation(args.repeats)
        else:
            _report(market_name, args.repeats)


def _inflation_problems() -> dict[str, GBWMProblem]:
    model = dataclasses.replace(us_inflation(), correlation=-0.2)
    shapes = problems("regimes")
    forty = GBWMProblem(horizon=40, initial_wealth=50.0,
                        goals=tuple(Goal(t, 20.0 + t, 10.0) for t in range(4, 41, 4)),
                        infusions=[3.0] * 20 + [0.0] * 20)
    chosen = {name: shapes[name] for name in ("paper NG = 4",
                                              "levels, savings, withdrawals (T = 12)")}
    chosen["T = 40, 15 portfolios, a goal every 4 years, savings"] = forty
    return {name: dataclasses.replace(p, market=LognormalMarket(), inflation=model)
            for name, p in chosen.items()}


def _report_inflation(repeats: int) -> None:
    print("\n## inflation\n")
    print("| problem | setting | values | default vs finest |\n|---|---|---|---|")
    settings = (("grid_density", (25.0, 50.0, 100.0, 200.0)),
                ("inflation_nodes", (7, 13, 25, 49)),
                ("inflation_quadrature", (4, 7, 13, 25)))
    timing = []
    for name, problem in _inflation_problems().items():
        for setting, values in settings:
            if name.startswith("T = 40") and setting != "inflation_nodes":
                continue
            found = [solve_dp(problem, **{setting: v}).expected_utility for v in values]
            default = solve_dp(problem).expected_utility
            print(f"| {name} | {setting} {', '.join(f'{v:g}' for v in values)} | "
                  + ", ".join(f"{v:.4f}" for v in found)
                  + f" | {default / found[-1] - 1.0:+.3%} |")
        plain = dataclasses.replace(problem, inflation=None)
        timing.append((name, _median_seconds(plain, repeats), _median_seconds(problem, repeats)))
    print(f"\nSolve time, median of {repeats}, default settings:\n")
    print("| problem | lognormal | inflation | ratio |\n|---|---|---|---|")
    for name, plain, inflated in timing:
        print(f"| {name} | {plain * 1e3:.0f} ms | {inflated:.2f} s | {inflated / plain:.0f}x |")


def _report(market_name: str, repeats: int) -> None:
    print(f"\n## {market_name}\n")
    print("| problem | start | " + " | ".join(f"{d:g}" for d in DENSITIES)
          + " | default vs 400 |")
    print("|---|---|" + "---|" * (len(DENSITIES) + 1))
    timing = []
    for name, problem in problems(market_name).items():
        by_density = []
        for density in DENSITIES:
            solution = solve_dp(problem, grid_density=density)
            by_density.append(solution.regime_values() if isinstance(
                solution, RegimeDPSolution) else {"-": solution.expected_utility})
        for regime in by_density[0]:
            values = [v[regime] for v in by_density]
            gap = values[1] / values[-1] - 1.0
            print(f"| {name} | {regime} | " + " | ".join(f"{v:.4f}" for v in values)
                  + f" | {gap:+.3%} |")
        lognormal = dataclasses.replace(problem, market=LognormalMarket())
        timing.append((name, _median_seconds(lognormal, repeats),
                       _median_seconds(problem, repeats)))
    print(f"\nSolve time, median of {repeats}, default density:\n")
    print(f"| problem | lognormal | {market_name} | ratio |\n|---|---|---|---|")
    for name, plain, regimes in timing:
        print(f"| {name} | {plain * 1e3:.0f} ms | {regimes * 1e3:.0f} ms | "
              f"{regimes / plain:.2f}x |")


if __name__ == "__main__":
    main()
