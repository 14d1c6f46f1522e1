"""What ``lookahead="auto"`` costs when the policy is bound, with and without the
portfolio shifts.

    nice -n 10 .venv/bin/python benchmarks/bench_self_check.py [--repeats 3]

Prints, for the paper's 4- and 16-goal problems, a 40-year 20-goal sampled problem and a
100-year plan of ``META_RL_FULL_RANGE``, the median seconds over ``--repeats`` runs of
:func:`~gbwm_sb3.pretrained.self_check.self_checked` with the package's shifts
(``SELF_CHECK_SHIFTS``: what ``pretrained_policy(problem, lookahead="auto")`` does) and
with none (the two simulations made before shifts existed), the ratio of the two, and
the median milliseconds of one ``advise`` afterwards. One torch thread; the network is
loaded before timing.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch as th
from bench_pretrained import median_seconds  # a sibling script

from gbwm_sb3.pretrained import pretrained_network
from gbwm_sb3.pretrained.families import META_RL_FULL_RANGE
from gbwm_sb3.pretrained.lookahead import DEFAULT_CANDIDATES
from gbwm_sb3.pretrained.self_check import SELF_CHECK_SHIFTS, self_checked
from gbwm_sb3.problem import paper_problem
from gbwm_sb3.problem.sampler import ProblemEnvelope, sample_problem


def _long_plan() -> tuple[str, Any]:
    seed = next(s for s in range(300, 400) if META_RL_FULL_RANGE.problem(s).horizon >= 90)
    return f"meta_rl_full_range-{seed}", META_RL_FULL_RANGE.problem(seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    network = pretrained_network()
    sampled = sample_problem(np.random.default_rng(7), ProblemEnvelope(horizon=(40, 40),
                                                                       num_goals=(20, 20)))
    problems = [("paper NG=4", paper_problem(4)), ("paper NG=16", paper_problem(16)),
                ("sampled T=40, 20 goals", sampled), _long_plan()]
    print("| problem | T | auto with shifts (s) | without shifts (s) | ratio | advice (ms) |")
    print("|---|---|---|---|---|---|")
    for name, problem in problems:
        with_shifts = median_seconds(
            lambda p=problem: self_checked(network, p, DEFAULT_CANDIDATES), args.repeats)
        without = median_seconds(
            lambda p=problem: self_checked(network, p, DEFAULT_CANDIDATES, shifts=()),
            args.repeats)
        policy = self_checked(network, problem, DEFAULT_CANDIDATES)
        advice = median_seconds(lambda p=policy, w=problem.initial_wealth: p.advise(0, w),
                                 max(args.repeats, 5))
        print(f"| {name} | {problem.horizon} | {with_shifts:.2f} | {without:.2f} "
              f"| {with_shifts / without:.2f} | {1000 * advice:.1f} |", flush=True)
    print(f"(shifts compared: {SELF_CHECK_SHIFTS})")


if __name__ == "__main__":
    main()
