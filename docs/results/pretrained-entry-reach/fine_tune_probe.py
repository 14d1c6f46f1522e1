"""Zero-shot and 60 s ``fine_tune`` scores of several weights on chosen suite problems.

    python docs/results/pretrained-entry-reach/fine_tune_probe.py --weights DIR [DIR ...] \
        [--problems sampled-savers-03] [--seconds 60] [--paths 20000]

Each problem is scored with ``benchmark_problem`` (the DP optimum, 20,000 common markets,
seed 0), the zero-shot policy of each weights directory and ``fine_tune(problem,
200_000, weights=DIR, seed=0, time_budget_s=S)`` beside it. Prints one line per
(problem, weights).
"""

from __future__ import annotations

import argparse
import sys

import torch as th

from gbwm_sb3.pretrained import fine_tune, pretrained_policy
from gbwm_sb3.pretrained.benchmark import benchmark_problem
from gbwm_sb3.pretrained.suite import benchmark_suite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", nargs="+", required=True)
    parser.add_argument("--problems", nargs="+", default=["sampled-savers-03"])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--paths", type=int, default=20_000)
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    suite = {item.name: item for item in benchmark_suite()}
    for name in args.problems:
        for weights in args.weights:
            record = benchmark_problem(
                suite[name], lambda p, w=weights: pretrained_policy(p, weights=w), args.paths,
                0, lambda p, w=weights: fine_tune(p, 200_000, weights=w, seed=0,
                                                  time_budget_s=args.seconds))
            print(f"{name} {weights}: zero-shot {record['efficiency']:.4f}, fine-tuned "
                  f"{args.seconds:.0f} s {record['fine_tuned_efficiency']:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
