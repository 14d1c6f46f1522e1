"""Accuracy of solve_dp on the general class: brute force and grid convergence.

    python benchmarks/general_dp_accuracy.py

Prints the relative error of solve_dp against an independent brute-force value on the
tiny problems of tests/test_general_class.py (densities 50, 200, 400), and the largest
relative difference between the default grid and density 800 over the 20 random
problems of the slow test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from general_problems import random_general_problem  # noqa: E402
from test_general_class import TINY_PROBLEMS, _brute_force_value  # noqa: E402

from gbwm_sb3.dp import solve_dp  # noqa: E402


def main() -> None:
    print("| problem | brute force | density 50 | density 200 | density 400 |")
    print("|---|---|---|---|---|")
    for name, problem in sorted(TINY_PROBLEMS.items()):
        exact = _brute_force_value(problem)
        errors = [solve_dp(problem, grid_density=d).expected_utility / exact - 1
                  for d in (50, 200, 400)]
        print(f"| {name} | {exact:.6f} | " + " | ".join(f"{e:+.1e}" for e in errors) + " |")
    rng = np.random.default_rng(2026)
    worst = 0.0
    for _ in range(20):
        problem = random_general_problem(rng)
        value = solve_dp(problem).expected_utility
        converged = solve_dp(problem, grid_density=800).expected_utility
        worst = max(worst, abs(value / converged - 1))
    print(f"\n20 random problems: max |default / density 800 - 1| = {worst:.2e}")


if __name__ == "__main__":
    main()
