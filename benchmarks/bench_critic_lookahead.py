"""The paper's problems: each preset's trained policy, and the same model improved by one step
of lookahead with its own critic (``CriticLookahead``), on the same markets.

    nice -n 10 .venv/bin/python benchmarks/bench_critic_lookahead.py [--goals 1 2 4 8 16] \\
        [--presets paper tuned] [--seeds 3] [--paths 100000] \\
        [--out docs/results/critic-lookahead]

For every problem, preset and seed: train at the paper's budget (50,000 trajectories),
then score the argmax policy (``SB3Policy``, as the paper does) and ``CriticLookahead``
with the model's own goal decision (``decisions=1``: only the portfolio is chosen by the
critic) and with its four likeliest decisions (the default) against the DP optimum on
``--paths`` common markets (seed 0, as Table I). One JSON line per run in
``--out``/results.jsonl (the run resumes); prints the table of means and lowest values.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation import CriticLookahead, SB3Policy, evaluate
from gbwm_sb3.ppo.presets import learn_paper, make_preset_model
from gbwm_sb3.problem.model import paper_problem

COLUMNS = ("efficiency", "efficiency_lookahead_1", "efficiency_lookahead")


def run(goals: int, preset: str, seed: int, paths: int, dp: Any) -> dict[str, Any]:
    problem = paper_problem(goals)
    started = time.perf_counter()
    model = make_preset_model(preset, problem=problem, seed=seed)
    learn_paper(model, 50_000)
    seconds = time.perf_counter() - started
    report = evaluate({"dp": dp, "rl": SB3Policy(model, problem),
                       "lookahead_1": CriticLookahead(model, problem, decisions=1),
                       "lookahead": CriticLookahead(model, problem)},
                      problem, n_paths=paths, seed=0)
    return {"goals": goals, "preset": preset, "seed": seed, "paths": paths,
            "efficiency": report["rl"].efficiency,
            "efficiency_lookahead_1": report["lookahead_1"].efficiency,
            "efficiency_lookahead": report["lookahead"].efficiency,
            "efficiency_lookahead_ci": list(report["lookahead"].efficiency_ci or []),
            "train_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--goals", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--presets", nargs="+", default=["paper", "tuned"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("docs/results/critic-lookahead"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    done: dict[tuple[int, str, int], dict[str, Any]] = {}
    if results.exists():
        for line in results.read_text().splitlines():
            record = json.loads(line)
            done[(record["goals"], record["preset"], record["seed"])] = record
    for goals in args.goals:
        dp = solve_dp(paper_problem(goals))
        for preset in args.presets:
            for seed in range(args.seeds):
                if (goals, preset, seed) in done:
                    continue
                record = run(goals, preset, seed, args.paths, dp)
                done[(goals, preset, seed)] = record
                with results.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(json.dumps(record), flush=True)
    print("\n| NG | preset | seeds | argmax policy: mean / lowest | + lookahead, own decision "
          "| + lookahead, 4 decisions |\n|---|---|---|---|---|---|")
    for goals in args.goals:
        for preset in args.presets:
            rows = [r for k, r in done.items() if k[:2] == (goals, preset)]
            if rows:
                cells = [f"{statistics.mean(r[c] for r in rows):.4f} / "
                         f"{min(r[c] for r in rows):.4f}" for c in COLUMNS]
                print(f"| {goals} | {preset} | {len(rows)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
