"""Tables II and III of the paper: sensitivity of RL efficiency to hyperparameters.

One parameter at a time moves away from the base case (Ntraj 50,000, 64 neurons,
M 4800 trajectories per rollout, learning rate 0.01, clip 0.5):

    Ntraj 25k / 100k, neurons 32 / 128, M 2400 / 7200, lr 0.005 / 0.05, clip 0.25 / 0.75

Runs are appended to the runs file as they finish (resumable); the tables go to
``sensitivity.csv/.json/.md/.png`` in ``out``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gbwm_sb3.experiments.options import SweepOptions
from gbwm_sb3.experiments.reporting import (
    PAPER_SENSITIVITY,
    TableColumn,
    fmt,
    markdown_table,
    write_csv,
    write_json,
)
from gbwm_sb3.experiments.sweep import SweepConfig, SweepJob, make_jobs, summarize

__all__ = ["reproduce_sensitivity", "VARIANTS", "BASE_VALUES", "PARAMETERS"]

BASE_TRAJECTORIES = 50_000

# (parameter, value, overrides of the preset, training budget in trajectories)
VARIANTS: list[tuple[str, float, dict, int]] = [
    ("n_trajectories", 25_000, {}, 25_000),
    ("n_trajectories", 50_000, {}, BASE_TRAJECTORIES),
    ("n_trajectories", 100_000, {}, 100_000),
    ("n_neurons", 32, {"net_arch": [32, 32]}, BASE_TRAJECTORIES),
    ("n_neurons", 128, {"net_arch": [128, 128]}, BASE_TRAJECTORIES),
    ("n_trajectories_per_rollout", 2400, {"n_trajectories_per_rollout": 2400},
     BASE_TRAJECTORIES),
    ("n_trajectories_per_rollout", 7200, {"n_trajectories_per_rollout": 7200},
     BASE_TRAJECTORIES),
    ("learning_rate", 0.005, {"learning_rate": 0.005}, BASE_TRAJECTORIES),
    ("learning_rate", 0.05, {"learning_rate": 0.05}, BASE_TRAJECTORIES),
    ("clip_range", 0.25, {"clip_range": 0.25}, BASE_TRAJECTORIES),
    ("clip_range", 0.75, {"clip_range": 0.75}, BASE_TRAJECTORIES),
]
BASE_VALUES = {"n_trajectories": 50_000, "n_neurons": 64, "n_trajectories_per_rollout": 4800,
               "learning_rate": 0.01, "clip_range": 0.5}


def variant_name(parameter: str, value: float) -> str:
    """The configuration name of one variant, e.g. ``learning_rate=0.005``."""
    return f"{parameter}={value:g}"


def build_jobs(options: SweepOptions, preset: str, parameters: Sequence[str]
               ) -> tuple[list[SweepJob], dict[str, tuple[str, float]]]:
    """The base case and each variant of ``parameters``; variant name -> (parameter, value)."""
    jobs: list[SweepJob] = []
    names: dict[str, tuple[str, float]] = {}
    base = SweepConfig("base", preset=preset)
    jobs += make_jobs([base], options.goals, options.seeds, BASE_TRAJECTORIES,
                      n_eval_paths=options.eval_paths)
    for parameter, value, overrides, budget in VARIANTS:
        if parameter not in parameters or value == BASE_VALUES[parameter]:
            continue
        name = variant_name(parameter, value)
        names[name] = (parameter, value)
        config = SweepConfig(name, preset=preset, overrides=overrides)
        jobs += make_jobs([config], options.goals, options.seeds, budget,
                          n_eval_paths=options.eval_paths)
    # Interleave so that a partial sweep covers every row: order by seed first.
    jobs.sort(key=lambda job: job.seed)
    return jobs, names


def table_rows(summary: list[dict], parameters: Sequence[str]) -> list[dict]:
    """One row per (parameter, value), with ours and the paper's efficiency per NG."""
    by_key = {(r["config"], r["num_goals"]): r for r in summary}
    rows = []
    for parameter in parameters:
        values = sorted({BASE_VALUES[parameter]} | {v for p, v, _, _ in VARIANTS if p == parameter})
        for value in values:
            config = "base" if value == BASE_VALUES[parameter] else variant_name(parameter, value)
            row: dict = {"parameter": parameter, "value": value}
            for ng in sorted({k[1] for k in by_key}):
                stats = by_key.get((config, ng))
                if stats is None:
                    continue
                row[f"NG{ng}_mean"] = stats["mean"]
                row[f"NG{ng}_ci"] = stats["ci_high"] - stats["mean"]
                row[f"NG{ng}_n"] = stats["n"]
                row[f"NG{ng}_paper"] = PAPER_SENSITIVITY.get((parameter, value), {}).get(ng)
                row[f"NG{ng}_seconds"] = stats["mean_train_seconds"]
            rows.append(row)
    return rows


def markdown(rows: list[dict], goals: list[int]) -> str:
    """The markdown table: mean +- 95% half-width (paper) per NG."""
    def pm(row: dict, ng: int) -> str:
        mean, half = row.get(f"NG{ng}_mean"), row.get(f"NG{ng}_ci")
        if mean is None:
            return ""
        paper = row.get(f"NG{ng}_paper")
        text = f"{mean:.3f}" + (f" ± {half:.3f}" if half == half else "")
        return text + (f" ({paper:.3f})" if paper is not None else "")

    columns: list[TableColumn] = [("parameter", "parameter", str), ("value", "value", fmt("g"))]
    table_rows_ = []
    for row in rows:
        cells = {"parameter": row["parameter"], "value": row["value"]}
        for ng in goals:
            cells[f"NG{ng}"] = pm(row, ng)
        table_rows_.append(cells)
    columns += [(f"NG{ng}", f"NG={ng}: ours ± 95% CI (paper)", str) for ng in goals]
    return markdown_table(table_rows_, columns)


def plot(rows: list[dict], goals: list[int], path: Path) -> None:
    """One panel per parameter: efficiency against its value, paper dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parameters = list(dict.fromkeys(r["parameter"] for r in rows))
    fig, axes = plt.subplots(1, len(parameters), figsize=(3.2 * len(parameters), 3.4),
                             squeeze=False, sharey=True)
    for ax, parameter in zip(axes[0], parameters, strict=True):
        subset = [r for r in rows if r["parameter"] == parameter]
        labels = [f"{r['value']:g}" for r in subset]
        for ng in goals:
            means = [r.get(f"NG{ng}_mean", float("nan")) for r in subset]
            errs = [r.get(f"NG{ng}_ci", 0.0) for r in subset]
            errs = [e if e == e else 0.0 for e in errs]
            line = ax.errorbar(labels, means, yerr=errs, marker="o", capsize=2, label=f"NG={ng}")
            paper = [r.get(f"NG{ng}_paper") for r in subset]
            ax.plot(labels, [p if p is not None else float("nan") for p in paper], ls=":",
                    marker="x", color=line[0].get_color())
        ax.set_title(parameter, fontsize=9)
    axes[0][0].set_ylabel("mean efficiency (dotted: paper)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: The parameters the tables vary (one row group each).
PARAMETERS: tuple[str, ...] = tuple(sorted(BASE_VALUES))


def reproduce_sensitivity(options: SweepOptions, preset: str = "paper",
                          parameters: Sequence[str] = PARAMETERS) -> int:
    """Run (or resume) the sensitivity sweep and write its tables; the exit status."""
    unknown = sorted(set(parameters) - set(PARAMETERS))
    if unknown or not parameters:
        raise ValueError(f"parameters must be among {', '.join(PARAMETERS)}, "
                         f"got {list(parameters)}")
    jobs, _ = build_jobs(options, preset, parameters)
    outcome = options.execute(jobs, "sensitivity")
    if outcome is None:
        return 130
    summary = summarize(outcome.records)
    rows = table_rows(summary, parameters)
    out = options.out
    write_csv(rows, out / "sensitivity.csv")
    write_json({"command": options.command, "preset": preset, "summary": summary,
                "rows": rows}, out / "sensitivity.json")
    table = markdown(rows, sorted(options.goals))
    (out / "sensitivity.md").write_text(
        f"# Tables II/III: sensitivity ({preset} preset)\n\n" + table
        + "\nOurs: mean efficiency ± Student-t 95% half-width over runs; paper in brackets.\n")
    plot(rows, sorted(options.goals), out / "sensitivity.png")
    print(table)
    return 1 if outcome.failures else 0
