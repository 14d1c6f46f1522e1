"""Reproduce Figure 2 of the paper: RL against simple strategies and RL/DP hybrids.

For each NG and seed one model is trained (base case) and scored, on the same
100,000 common-random-number paths, with:

- RL (argmax policy), greedy goal-taking with RL's portfolios, buy-and-hold
  portfolio #8 with coin-flip goals, random portfolios and coin-flip goals,
- DP's portfolios with RL's goal decisions, RL's portfolios with DP's goal decisions,

each as efficiency against DP. Runs are appended to ``<out>/runs.jsonl`` (resumable).

    python examples/reproduce_figure2.py --seeds 3 --workers 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from gbwm_sb3.cli.sweep_options import (
    add_sweep_arguments,
    execute_sweep,
    parse_sweep_args,
    seed_range,
)
from gbwm_sb3.experiments.reporting import (
    PAPER_FIGURE2,
    PAPER_NUM_GOALS,
    fmt,
    markdown_table,
    write_csv,
    write_json,
)
from gbwm_sb3.experiments.sweep import BENCHMARK_POLICIES, SweepConfig, make_jobs
from gbwm_sb3.ppo.registry import PRESET_NAMES

STRATEGIES = ("rl", *BENCHMARK_POLICIES)
LABELS = {
    "rl": "RL",
    "greedy_goals_rl_portfolios": "greedy goals + RL portfolios",
    "buy_and_hold_coin_flip": "buy-and-hold #8 + coin-flip goals",
    "random": "random portfolios + coin-flip goals",
    "dp_portfolios_rl_goals": "DP portfolios + RL goals",
    "rl_portfolios_dp_goals": "RL portfolios + DP goals",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="paper", choices=PRESET_NAMES)
    add_sweep_arguments(parser, seeds=30, goals=PAPER_NUM_GOALS, out="docs/results/figure2")
    return parse_sweep_args(parser, argv)


def efficiencies(record: dict) -> dict[str, float]:
    return {"rl": record["efficiency"], **record["benchmark_efficiency"]}


def table_rows(records: list[dict]) -> list[dict]:
    rows = []
    for strategy in STRATEGIES:
        row: dict = {"strategy": strategy, "label": LABELS[strategy]}
        for ng in sorted({r["num_goals"] for r in records}):
            values = np.array([efficiencies(r)[strategy] for r in records
                               if r["num_goals"] == ng])
            row[f"NG{ng}_mean"] = float(values.mean())
            row[f"NG{ng}_sd"] = float(values.std(ddof=1)) if values.size > 1 else float("nan")
            row[f"NG{ng}_n"] = int(values.size)
            row[f"NG{ng}_paper"] = PAPER_FIGURE2[strategy].get(ng)
        rows.append(row)
    return rows


def plot(rows: list[dict], goals: list[int], path: Path, preset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    width = 0.8 / len(rows)
    xs = np.arange(len(goals))
    for i, row in enumerate(rows):
        means = [row.get(f"NG{ng}_mean", np.nan) for ng in goals]
        ax.bar(xs - 0.4 + width * (i + 0.5), means, width, label=row["label"])
        paper = [row.get(f"NG{ng}_paper") or np.nan for ng in goals]
        ax.scatter(xs - 0.4 + width * (i + 0.5), paper, marker="_", s=120, color="k", zorder=3)
    ax.set_xticks(xs, [str(ng) for ng in goals])
    ax.set_xlabel("number of goals")
    ax.set_ylabel("efficiency vs DP (black ticks: paper)")
    ax.set_ylim(0.5, 1.02)
    ax.set_title(f"Figure 2: strategies against the DP optimum ({preset} preset)")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=8,
               frameon=False)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    jobs = make_jobs([SweepConfig(args.preset, preset=args.preset)], args.goals,
                     seed_range(args), args.trajectories, n_eval_paths=args.eval_paths,
                     benchmarks=True)
    outcome = execute_sweep(jobs, args, "Figure 2")
    if outcome is None:
        return 130
    if not outcome.records:
        return 1
    rows = table_rows(outcome.records)
    goals = sorted({r["num_goals"] for r in outcome.records})
    write_csv(rows, args.out / "figure2.csv")
    write_json({"command": " ".join(sys.argv), "preset": args.preset, "rows": rows},
               args.out / "figure2.json")
    columns = [("label", "strategy", str)]
    for ng in goals:
        columns.append((f"NG{ng}_mean", f"NG={ng}", fmt(".3f")))
        columns.append((f"NG{ng}_paper", "paper", fmt(".3f")))
    table = markdown_table(rows, columns)
    (args.out / "figure2.md").write_text(
        f"# Figure 2: efficiency against DP ({args.preset} preset, mean over runs)\n\n" + table)
    plot(rows, goals, args.out / "figure2.png", args.preset)
    print(table)
    return 1 if outcome.failures else 0


if __name__ == "__main__":
    sys.exit(main())
