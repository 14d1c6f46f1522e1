"""Figure 2 of the paper: RL, greedy goals, buy-and-hold, random and two hybrids against DP.

Each run trains a preset on a paper problem and scores, on the same 100,000 paths, the
RL policy and the paper's benchmark strategies (greedy goal-taking with RL portfolios,
buy-and-hold #8 with coin-flip goals, random, DP portfolios + RL goals, RL portfolios +
DP goals). Writes ``figure2.csv/.json/.md/.png`` to ``out``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gbwm_sb3.experiments.options import SweepOptions
from gbwm_sb3.experiments.reporting import (
    PAPER_FIGURE2,
    TableColumn,
    fmt,
    markdown_table,
    write_csv,
    write_json,
)
from gbwm_sb3.experiments.sweep import BENCHMARK_POLICIES, SweepConfig, make_jobs

__all__ = ["reproduce_figure2", "STRATEGIES", "LABELS"]

STRATEGIES = ("rl", *BENCHMARK_POLICIES)
LABELS = {
    "rl": "RL",
    "greedy_goals_rl_portfolios": "greedy goals + RL portfolios",
    "buy_and_hold_coin_flip": "buy-and-hold #8 + coin-flip goals",
    "random": "random portfolios + coin-flip goals",
    "dp_portfolios_rl_goals": "DP portfolios + RL goals",
    "rl_portfolios_dp_goals": "RL portfolios + DP goals",
}


def efficiencies(record: dict) -> dict[str, float]:
    """Efficiency of RL and of each benchmark strategy in one run's record."""
    return {"rl": record["efficiency"], **record["benchmark_efficiency"]}


def table_rows(records: list[dict]) -> list[dict]:
    """One row per strategy: mean, sd and runs per NG, the paper's value beside."""
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
    """Bars per strategy and NG, the paper's values as black ticks."""
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


def reproduce_figure2(options: SweepOptions, preset: str = "paper") -> int:
    """Run (or resume) Figure 2 for ``preset`` and write its table and chart; the exit status."""
    jobs = make_jobs([SweepConfig(preset, preset=preset)], options.goals, options.seeds,
                     options.trajectories, n_eval_paths=options.eval_paths, benchmarks=True)
    outcome = options.execute(jobs, "Figure 2")
    if outcome is None:
        return 130
    if not outcome.records:
        return 1
    rows = table_rows(outcome.records)
    goals = sorted({r["num_goals"] for r in outcome.records})
    out = options.out
    write_csv(rows, out / "figure2.csv")
    write_json({"command": options.command, "preset": preset, "rows": rows},
               out / "figure2.json")
    columns: list[TableColumn] = [("label", "strategy", str)]
    for ng in goals:
        columns.append((f"NG{ng}_mean", f"NG={ng}", fmt(".3f")))
        columns.append((f"NG{ng}_paper", "paper", fmt(".3f")))
    table = markdown_table(rows, columns)
    (out / "figure2.md").write_text(
        f"# Figure 2: efficiency against DP ({preset} preset, mean over runs)\n\n" + table)
    plot(rows, goals, out / "figure2.png", preset)
    print(table)
    return 1 if outcome.failures else 0
