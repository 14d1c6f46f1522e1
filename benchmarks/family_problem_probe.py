"""A few named family problems scored for several weights, side by side.

    python benchmarks/family_problem_probe.py --weights DIR [DIR ...] \
        [--problems published-13 volatile_or_flat_frontiers-00 ...] [--paths 10000] \
        [--lookahead K|auto]

A quick look at how a run's stages move on chosen problems of
:mod:`gbwm_sb3.pretrained.families` (default: the lowest ones of the shipped weights,
whose failure is that the policy keeps a risky portfolio where the optimum secures a
goal, or picks the wrong budget under nearly certain wealth). The problems are scored
with each weights' own lookahead (or ``--lookahead``) and without the envelope check,
against the DP on the same markets. Problems looked at this way count as seen: the full
family benchmark (``examples/benchmark_pretrained.py --family``) and the held-out seeds
are the measure.
"""

from __future__ import annotations

import argparse
import sys

import torch as th

from gbwm_sb3.cli.arguments import int_in, lookahead_option
from gbwm_sb3.pretrained.benchmark import benchmark_problem
from gbwm_sb3.pretrained.families import family_problems
from gbwm_sb3.pretrained.loading import bind_policy, recommended_lookahead
from gbwm_sb3.pretrained.weights import load_network

LOWEST = ("published-11", "published-12", "published-13", "published-14",
          "volatile_or_flat_frontiers-00", "volatile_or_flat_frontiers-02",
          "utility_unrelated-06", "dominated_levels-03")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", nargs="+", required=True)
    parser.add_argument("--problems", nargs="+", default=list(LOWEST))
    parser.add_argument("--paths", type=int_in(2, 10**7), default=10_000)
    parser.add_argument("--lookahead", type=lookahead_option, default=None,
                        help="1-64 or auto (default: the weights' own)")
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    items = {item.name: item for item in family_problems()}
    unknown = [name for name in args.problems if name not in items]
    if unknown:
        parser.error(f"--problems: unknown problem(s) {', '.join(unknown)}")
    print("| weights | " + " | ".join(args.problems) + " |")
    print("|---|" + "---|" * len(args.problems))
    for weights in args.weights:
        network = load_network(weights)
        lookahead = args.lookahead or recommended_lookahead(weights)
        cells = []

        def factory(problem, network=network, lookahead=lookahead):  # bound per weights
            return bind_policy(network, problem, lookahead=lookahead)

        for name in args.problems:
            record = benchmark_problem(items[name], factory, args.paths, 0)
            efficiency = record["efficiency"]  # None where the optimum funds nothing
            cells.append("n/a" if efficiency is None else f"{efficiency:.3f}")
        print(f"| {weights} (lookahead {lookahead}) | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
