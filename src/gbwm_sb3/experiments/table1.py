"""Table I of the paper: mean RL efficiency and runtime per run for NG = 1, 2, 4, 8, 16.

Each run trains a preset on a paper problem with the base-case budget (50,000
trajectories), scores the argmax policy against dynamic programming on 100,000
common-random-number paths, and is appended to the runs file at once (resumable).
Writes ``table1.csv``, ``table1.json``, ``table1.md`` and ``table1.png`` to ``out``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gbwm_sb3.experiments.options import SweepOptions
from gbwm_sb3.experiments.reporting import (
    PAPER_TABLE1,
    TableColumn,
    fmt,
    markdown_table,
    paper_interval,
    write_csv,
    write_json,
)
from gbwm_sb3.experiments.sweep import SweepConfig, make_jobs, summarize

__all__ = ["reproduce_table1", "table_rows", "COLUMNS"]


def table_rows(summary: list[dict], trajectories: int) -> list[dict]:
    """Summary rows with the paper's numbers beside ours (paper only at its base budget)."""
    rows = []
    for row in sorted(summary, key=lambda r: (r["config"], r["num_goals"])):
        ng = row["num_goals"]
        out = dict(row)
        if ng in PAPER_TABLE1 and trajectories == 50_000:
            mean, sd, seconds = PAPER_TABLE1[ng]
            low, high = paper_interval(ng)
            out.update(paper_mean=mean, paper_sd=sd, paper_seconds=seconds,
                       paper_ci_low=low, paper_ci_high=high, diff_vs_paper=row["mean"] - mean)
        rows.append(out)
    return rows


COLUMNS: list[TableColumn] = [
    ("config", "preset", str), ("num_goals", "NG", str), ("n", "runs", str),
    ("mean", "mean eff.", fmt(".4f")), ("median", "median", fmt(".4f")),
    ("sd", "sd", fmt(".4f")), ("skewness", "skew", fmt(".2f")), ("min", "min", fmt(".4f")),
    ("ci_low", "95% CI low", fmt(".4f")), ("ci_high", "95% CI high", fmt(".4f")),
    ("mean_train_seconds", "s/run", fmt(".1f")),
    ("paper_mean", "paper mean", fmt(".3f")), ("paper_sd", "paper sd", fmt(".4f")),
    ("paper_ci_low", "paper 95% low", fmt(".4f")), ("paper_ci_high", "paper 95% high", fmt(".4f")),
    ("paper_seconds", "paper s/run (M2)", fmt(".1f")),
    ("diff_vs_paper", "ours - paper", fmt("+.4f")),
]


def plot(rows: list[dict], path: Path) -> None:
    """Bars of mean efficiency per NG and preset beside the published values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    configs = sorted({r["config"] for r in rows})
    width = 0.8 / (len(configs) + 1)
    goals = sorted({r["num_goals"] for r in rows})
    xs = range(len(goals))
    paper = [PAPER_TABLE1.get(ng, (float("nan"),) * 3)[0] for ng in goals]
    paper_err = [1.96 * PAPER_TABLE1[ng][1] / 30 ** 0.5 if ng in PAPER_TABLE1 else 0
                 for ng in goals]
    ax.bar([x - 0.4 + width / 2 for x in xs], paper, width, yerr=paper_err, capsize=3,
           label="published (30 runs)", color="0.7")
    for i, config in enumerate(configs):
        by_ng = {r["num_goals"]: r for r in rows if r["config"] == config}
        means = [by_ng[ng]["mean"] if ng in by_ng else float("nan") for ng in goals]
        errs = [(by_ng[ng]["ci_high"] - by_ng[ng]["mean"]) if ng in by_ng and by_ng[ng]["n"] > 1
                else 0 for ng in goals]
        n = max((by_ng[ng]["n"] for ng in by_ng), default=0)
        ax.bar([x - 0.4 + width * (i + 1.5) for x in xs], means, width, yerr=errs, capsize=3,
               label=f"{config} preset ({n} runs)")
    ax.set_xticks(list(xs), [str(ng) for ng in goals])
    ax.set_xlabel("number of goals")
    ax.set_ylabel("mean efficiency vs DP (95% CI)")
    lowest = min((r["mean"] for r in rows), default=0.9)
    ax.set_ylim(min(0.9, lowest - 0.02), 1.0)
    ax.axhline(0.98, color="k", lw=0.6, ls="--")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Table I: RL efficiency against the DP optimum")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def reproduce_table1(options: SweepOptions, presets: Sequence[str] = ("paper",)) -> int:
    """Run (or resume) Table I for ``presets`` and write its tables; the exit status."""
    configs = [SweepConfig(name, preset=name) for name in presets]
    jobs = make_jobs(configs, options.goals, options.seeds, options.trajectories,
                     n_eval_paths=options.eval_paths)
    outcome = options.execute(jobs, "Table I")
    if outcome is None:
        return 130
    rows = table_rows(summarize(outcome.records), options.trajectories)
    out = options.out
    write_csv(rows, out / "table1.csv")
    write_json({"command": options.command, "trajectories": options.trajectories,
                "eval_paths": options.eval_paths, "rows": rows}, out / "table1.json")
    table = markdown_table(rows, COLUMNS)
    (out / "table1.md").write_text(
        f"# Table I: RL efficiency against DP ({options.trajectories:,} trajectories per run)\n\n"
        + table + "\nCI: Student-t 95% interval of the mean over runs. Paper interval: "
        "paper mean +- 1.96 sd / sqrt(30). Runtimes measured on this machine under the stated "
        "worker count; the paper's on a Mac mini M2.\n")
    if rows:
        plot(rows, out / "table1.png")
    print(table)
    return 1 if outcome.failures else 0
