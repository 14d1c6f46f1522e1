"""Speed of the pretrained policy: one client's advice, and scoring 100,000 paths.

    nice -n 10 .venv/bin/python benchmarks/bench_pretrained.py [--weights DIR] [--repeats 5]

Prints, for the paper's 4- and 16-goal problems and a 40-year, 20-goal sampled problem:

- ``advice``: median milliseconds of ``pretrained_policy(problem).advise(0, W0)`` after the
  network is loaded (binding the problem included), over ``--calls`` calls;
- ``score``: median seconds of ``evaluate`` on 100,000 paths (``--paths``) with common random
  numbers, the pretrained policy, greedy (``lookahead=1``) and with its default lookahead
  (:class:`~gbwm_sb3.pretrained.lookahead.LookaheadPolicy`), against ``SB3Policy`` on a
  per-problem ``GBWMPolicy`` model (the paper preset's network; its weights do not change
  the time), each run ``--repeats`` times in this process, and their ratios (pretrained /
  per-problem: <= 1 means no slower). The pretrained policies bracket large batches
  (:mod:`gbwm_sb3.pretrained.bracketing`); ``--exact`` also times them with
  ``exact=True`` (every wealth computed) and prints the largest relative difference of
mean utility between the bracketed and the exact policies (same markets).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch as th

from gbwm_sb3.evaluation import evaluate
from gbwm_sb3.evaluation.strategies import SB3Policy
from gbwm_sb3.ppo.presets import paper_ppo
from gbwm_sb3.pretrained import pretrained_network, pretrained_policy
from gbwm_sb3.problem import paper_problem
from gbwm_sb3.problem.sampler import ProblemEnvelope, sample_problem


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--exact", action="store_true",
                        help="also time the policies computing every wealth (slow)")
    args = parser.parse_args()
    th.set_num_threads(1)
    start = time.perf_counter()
    pretrained_network(args.weights)
    print(f"weights loaded in {1000 * (time.perf_counter() - start):.0f} ms")
    big = sample_problem(3, ProblemEnvelope(horizon=(40, 40), num_goals=(20, 20)))
    problems = {"paper NG=4": paper_problem(4), "paper NG=16": paper_problem(16),
                "sampled T=40, 20 goals": big}
    header = (f"{'problem':<24}{'advice ms':>10}{'greedy s':>10}{'lookahead s':>13}"
              f"{'per-problem s':>15}{'greedy ratio':>14}{'lookahead ratio':>17}")
    if args.exact:
        header += f"{'exact greedy s':>16}{'exact lookahead s':>19}{'utility diff':>14}"
    print(header)
    for name, problem in problems.items():
        advice = median_seconds(lambda p=problem: pretrained_policy(p, args.weights).advise(
            0, p.initial_wealth), args.calls)
        policies = [pretrained_policy(problem, args.weights, lookahead=1),
                    pretrained_policy(problem, args.weights),
                    SB3Policy(paper_ppo(problem=problem, seed=0), problem)]
        if args.exact:
            policies += [pretrained_policy(problem, args.weights, lookahead=1, exact=True),
                         pretrained_policy(problem, args.weights, exact=True)]
        times = [median_seconds(lambda p=problem, pol=policy: evaluate(
            {"policy": pol}, p, n_paths=args.paths, seed=0), args.repeats)
            for policy in policies]
        pre, look, per = times[:3]
        line = (f"{name:<24}{1000 * advice:>10.2f}{pre:>10.3f}{look:>13.3f}{per:>15.3f}"
                f"{pre / per:>14.2f}{look / per:>17.2f}")
        if args.exact:
            differing = max(_utility_difference(problem, policies[i], policies[i + 3],
                                                args.paths) for i in (0, 1))
            line += f"{times[3]:>16.3f}{times[4]:>19.3f}{differing:>14.1e}"
        print(line, flush=True)


def _utility_difference(problem, bracketed, exact, paths: int) -> float:
    """|mean utility bracketed / exact - 1| on the same markets."""
    report = evaluate({"bracketed": bracketed, "exact": exact}, problem, n_paths=paths,
                      seed=0, reference=None)
    return abs(report["bracketed"].mean_utility / report["exact"].mean_utility - 1.0)

if __name__ == "__main__":
    main()
