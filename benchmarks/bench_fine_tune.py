"""Fine-tuning from the pretrained weights against training from scratch, at equal wall time.

    nice -n 10 .venv/bin/python benchmarks/bench_fine_tune.py [--goals 4 16] [--seeds 3]
        [--budgets 5 10 15 30] [--weights DIR] [--paths 100000] [--lookahead K]

For each paper problem and seed: the ``paper`` and ``tuned`` presets trained from scratch
on the paper's budget (50,000 trajectories; their wall time is measured), the zero-shot
pretrained policy, and ``fine_tune`` stopped after each wall-time budget (seconds since
the call, network copy and env included). Every policy is scored against the DP optimum
on the same ``--paths`` markets. ``--lookahead K``: the zero-shot and fine-tuned policies
compare their K likeliest decisions with the critic (default: the weights' own, as
``pretrained_policy``; 1: the network's own decisions). Prints one row per (problem,
method): median efficiency and median wall time over the seeds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch as th

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation import evaluate
from gbwm_sb3.evaluation.strategies import SB3Policy
from gbwm_sb3.ppo.presets import learn_paper, make_preset_model
from gbwm_sb3.pretrained import fine_tune, pretrained_policy
from gbwm_sb3.problem import paper_problem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--goals", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budgets", type=float, nargs="+", default=[5.0, 10.0, 15.0, 30.0])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lookahead", type=int, default=None)
    parser.add_argument("--no-scratch", action="store_true",
                        help="skip the from-scratch presets (fine-tuning and zero-shot only)")
    args = parser.parse_args()
    th.set_num_threads(args.threads)
    print(f"{'NG':>3}  {'method':<28}{'efficiency':>11}{'wall s':>9}   per seed")
    for ng in args.goals:
        problem = paper_problem(ng)
        dp = solve_dp(problem)
        rows: dict[str, list[tuple[float, float]]] = {}

        def score(policy, name: str, seconds: float, problem=problem, dp=dp,
                  rows=rows) -> None:
            report = evaluate({"dp": dp, name: policy}, problem, n_paths=args.paths, seed=0)
            rows.setdefault(name, []).append((report[name].efficiency, seconds))

        start = time.perf_counter()
        zero = pretrained_policy(problem, args.weights, lookahead=args.lookahead)
        score(zero, "zero-shot", time.perf_counter() - start)
        for seed in range(args.seeds):
            for preset in () if args.no_scratch else ("paper", "tuned"):
                start = time.perf_counter()
                model = make_preset_model(preset, problem=problem, seed=seed)
                learn_paper(model, 50_000)
                seconds = time.perf_counter() - start
                score(SB3Policy(model, problem), f"scratch {preset} (50k traj.)", seconds)
            for budget in args.budgets:
                start = time.perf_counter()
                tuned = fine_tune(problem, 10**7, weights=args.weights, seed=seed,
                                  time_budget_s=budget, threads=args.threads,
                                  lookahead=args.lookahead)
                score(tuned, f"fine-tune {budget:g} s", time.perf_counter() - start)
        for name, values in rows.items():
            eff = statistics.median(v[0] for v in values)
            wall = statistics.median(v[1] for v in values)
            each = " ".join(f"{v[0]:.4f}" for v in values)
            print(f"{ng:>3}  {name:<28}{eff:>11.4f}{wall:>9.1f}   {each}", flush=True)


if __name__ == "__main__":
    main()
