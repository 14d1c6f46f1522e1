"""Compare pretrained weights on the validation problems, to pick which to ship.

The validation problems (``gbwm_sb3.pretrained.training.validation_problems``: sampled
clients in their own seed domain and paper-like clients with another ``W0``) are
disjoint from the benchmark suite, so weights are picked here and the suite is run
once on the pick. Every set of weights is scored on the same simulated markets as the
DP optimum of each problem (common random numbers); prints the efficiency per problem
and the mean and minimum of each set.

    python examples/compare_pretrained.py --weights runs/a/best runs/b/stages/stage-004 \\
        --paths 10000
    python examples/compare_pretrained.py --weights runs/a/stages/* --paths 4000
    python examples/compare_pretrained.py --lookahead 1 4 --paths 2000   # shipped weights
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch as th

from gbwm_sb3.cli.arguments import int_in
from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.pretrained.loading import DEFAULT_WEIGHTS, bind_policy
from gbwm_sb3.pretrained.training import PAPER_LIKE_VALIDATION, validation_problems
from gbwm_sb3.pretrained.weights import load_network


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, nargs="+", default=[DEFAULT_WEIGHTS],
                        help="weights folders (default: the shipped ones)")
    parser.add_argument("--problems", type=int_in(0, 1000), default=24,
                        help="sampled validation problems (default 24)")
    parser.add_argument("--paper-like", type=int_in(0, len(PAPER_LIKE_VALIDATION)),
                        default=len(PAPER_LIKE_VALIDATION),
                        help="paper-like validation problems (default all)")
    parser.add_argument("--paths", type=int_in(2, 10**8), default=10_000)
    parser.add_argument("--seed", type=int_in(0, 2**63 - 1), default=1)
    parser.add_argument("--lookahead", type=int_in(1, 64), nargs="+", default=[1],
                        metavar="K", help="score each set of weights with each of these "
                                          "lookaheads (default 1: the network's own decisions)")
    args = parser.parse_args(argv)
    for folder in args.weights:
        if not (folder / "manifest.json").exists():
            parser.error(f"argument --weights: {folder} holds no manifest.json")
    th.set_num_threads(1)
    problems = validation_problems(args.problems, args.paper_like)
    if not problems:
        parser.error("no validation problems: give --problems or --paper-like above 0")
    networks = {str(folder): load_network(folder) for folder in args.weights}
    variants = [(name, k) for name in networks for k in args.lookahead]
    names = [name if len(args.lookahead) == 1 else f"{name} lookahead {k}"
             for name, k in variants]
    table = np.zeros((len(problems), len(names)))
    started = time.perf_counter()
    for i, problem in enumerate(problems):
        policies: dict[str, object] = {"dp": solve_dp(problem)}
        policies.update({label: bind_policy(networks[name], problem, lookahead=k)
                         for label, (name, k) in zip(names, variants, strict=True)})
        report = evaluate(policies, problem, n_paths=args.paths, seed=args.seed)
        table[i] = [report[name].efficiency for name in names]
        print(f"problem {i + 1:>3}/{len(problems)}  T={problem.horizon:<3} goals="
              f"{len(problem.goals):<3} " + " ".join(f"{e:.4f}" for e in table[i]), flush=True)
    print(f"\n{len(problems)} validation problems, {args.paths:,} paths each, "
          f"{time.perf_counter() - started:.0f} s")
    print(f"{'weights':<60}{'mean':>8}{'min':>8}{'paper-like':>12}")
    paper = slice(args.problems, None)
    for j, name in enumerate(names):
        paper_mean = table[paper, j].mean() if args.paper_like else float("nan")
        print(f"{name[-60:]:<60}{table[:, j].mean():>8.4f}{table[:, j].min():>8.4f}"
              f"{paper_mean:>12.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
