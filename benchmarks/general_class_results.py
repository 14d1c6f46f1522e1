"""Efficiency of a training preset on the general-class benchmark problems, against DP.

For each problem (``--problems``, default all four) and seed, trains the preset for
``--trajectories`` episodes, scores the deterministic policy against the exact DP
optimum on ``--paths`` common-random-number paths and appends one JSON line to
``--out``. Runs already in the file are skipped, so an interrupted run resumes.

    python benchmarks/general_class_results.py --preset tuned --seeds 0 1 2 3 4 \\
        --out docs/results/general/runs.jsonl
    python benchmarks/general_class_results.py --summary docs/results/general/runs.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from gbwm_sb3.common.threads import configure_torch_threads
from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.evaluation.strategies import SB3Policy
from gbwm_sb3.ppo.presets import learn_paper, make_preset_model
from gbwm_sb3.problem.files import load_problem
from gbwm_sb3.problem.model import GBWMProblem, Goal

FAMILY_PLAN = Path(__file__).resolve().parents[1] / "examples" / "problems" / "family_plan.yaml"


def concurrent_goals() -> GBWMProblem:
    """The paper's 8-goal calendar with a second, smaller goal in every goal year (K = 4)."""
    goals = []
    for t in range(2, 17, 2):
        goals.append(Goal(t, 10.0 * 1.08**t, 10.0 + t))
        goals.append(Goal(t, 6.0 * 1.08**t, 5.0 + t / 2))
    return GBWMProblem(horizon=16, initial_wealth=12.0 * 8**0.85 * 1.5, goals=tuple(goals))


def partial_goals() -> GBWMProblem:
    """The paper's 4-goal calendar, each goal with three levels (K = 4)."""
    goals = tuple(
        Goal(t, levels=[(0.5 * 10 * 1.08**t, 0.45 * (10 + t)),
                        (0.75 * 10 * 1.08**t, 0.75 * (10 + t)),
                        (10 * 1.08**t, 10.0 + t)])
        for t in (4, 8, 12, 16))
    return GBWMProblem(horizon=16, initial_wealth=12.0 * 4**0.85, goals=goals)


def savings_plan() -> GBWMProblem:
    """Goals every 4 years over 20 years, yearly savings in years 0..11, a partial goal at T."""
    goals = [Goal(t, 10.0 * 1.08**t, 10.0 + t) for t in (4, 8, 12, 16)]
    goals.append(Goal(20, levels=[(25.0, 15.0), (50.0, 30.0)], name="retirement"))
    return GBWMProblem(horizon=20, initial_wealth=15.0, goals=tuple(goals),
                       infusions={t: 3.0 for t in range(12)})


GENERAL_BENCHMARKS = {
    "concurrent_goals": concurrent_goals,
    "partial_goals": partial_goals,
    "savings_plan": savings_plan,
    "family_plan": lambda: load_problem(FAMILY_PLAN),
}


def general_benchmark(name: str) -> GBWMProblem:
    """The benchmark problem called ``name`` (a key of GENERAL_BENCHMARKS)."""
    return GENERAL_BENCHMARKS[name]()


# Runs recorded before the minibatch was stored used the tuned preset's minibatch of then.
_EARLIER_BATCH_SIZE = 960


def _key(row: dict) -> tuple:
    """A run's identity: problem, preset, seed, budget and minibatch size."""
    return (row["problem"], row["preset"], row["seed"], row["trajectories"],
            row.get("batch_size", _EARLIER_BATCH_SIZE))


def _done(path: Path) -> set[tuple]:
    if not path.is_file():
        return set()
    return {_key(json.loads(line)) for line in path.read_text().splitlines() if line.strip()}


def run(args: argparse.Namespace) -> None:
    configure_torch_threads()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _done(out)
    for name in args.problems:
        problem = general_benchmark(name)
        dp = None
        for seed in args.seeds:
            start = time.perf_counter()
            model = make_preset_model(args.preset, problem=problem, seed=seed)
            key = (name, args.preset, seed, args.trajectories, model.batch_size)
            if key in done:
                continue
            if dp is None:
                dp = solve_dp(problem)
                start = time.perf_counter()
                model = make_preset_model(args.preset, problem=problem, seed=seed)
            learn_paper(model, n_trajectories=args.trajectories)
            train_seconds = time.perf_counter() - start
            report = evaluate({"dp": dp, "rl": SB3Policy(model, problem)}, problem,
                              n_paths=args.paths, seed=args.eval_seed)
            row = {"problem": name, "preset": args.preset, "seed": seed,
                   "trajectories": args.trajectories, "batch_size": model.batch_size,
                   "paths": args.paths,
                   "eval_seed": args.eval_seed, "dp_expected_utility": dp.expected_utility,
                   "dp_mean_utility": report["dp"].mean_utility,
                   "rl_mean_utility": report["rl"].mean_utility,
                   "efficiency": report["rl"].efficiency,
                   "efficiency_ci": list(report["rl"].efficiency_ci),
                   "train_seconds": round(train_seconds, 1)}
            with out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


def summary(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    groups: dict[tuple[str, str, int, int], list[dict]] = {}
    for row in rows:
        key = (row["problem"], row["preset"], row["trajectories"],
               row.get("batch_size", _EARLIER_BATCH_SIZE))
        groups.setdefault(key, []).append(row)
    print("| problem | preset | trajectories | minibatch | seeds | mean efficiency | min | max | "
          "DP expected utility |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (problem, preset, trajectories, batch), group in sorted(groups.items()):
        eff = [r["efficiency"] for r in group]
        print(f"| {problem} | {preset} | {trajectories:,} | {batch} | {len(eff)} | "
              f"{statistics.mean(eff):.4f} | {min(eff):.4f} | {max(eff):.4f} | "
              f"{group[0]['dp_expected_utility']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=list(GENERAL_BENCHMARKS),
                        choices=list(GENERAL_BENCHMARKS))
    parser.add_argument("--preset", default="tuned")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--trajectories", type=int, default=50_000)
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--eval-seed", type=int, default=12345)
    parser.add_argument("--out", default="docs/results/general/runs.jsonl")
    parser.add_argument("--summary", default=None, help="print the table of a runs file")
    args = parser.parse_args()
    if args.summary:
        summary(Path(args.summary))
    else:
        run(args)


if __name__ == "__main__":
    main()
