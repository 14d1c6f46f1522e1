"""Reading a tuning study: its Pareto front as tables and a plot, and trials as presets.

The study is one made by :mod:`gbwm_sb3.experiments.tuning` (``gbwm tune``); its
settings say which problems, budget and seeds its efficiencies and times are for.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gbwm_sb3.experiments.tuning import (
    KNOWN_POINTS,
    SEARCH_SPACE,
    params_to_overrides,
    study_settings,
)
from gbwm_sb3.ppo.registry import Preset

__all__ = [
    "choose_trial",
    "completed_rows",
    "describe_counts",
    "format_front",
    "front_rows",
    "plot_front",
    "preset_from_trial",
    "state_counts",
    "trial_source",
    "write_front",
]


def _row(trial: Any) -> dict[str, Any]:
    attrs = trial.user_attrs
    return {"trial": trial.number,
            "efficiency": attrs.get("efficiency", trial.values[0] if trial.values else None),
            "train_seconds": attrs.get("train_seconds"),
            "efficiency_by_problem": {k: sum(v) / len(v) for k, v in
                                      attrs.get("efficiency_by_problem", {}).items()},
            "origin": _known_name(trial.params) or attrs.get("origin", "sampled"),
            "params": dict(trial.params),
            "overrides": attrs.get("overrides", params_to_overrides(trial.params))}


def front_rows(study: Any) -> list[dict[str, Any]]:
    """The Pareto-optimal trials (NSGA-II) or the best trial (TPE), by training time."""
    if len(study.directions) == 1:
        complete = [t for t in study.trials if t.state.name == "COMPLETE"]
        best = [study.best_trial] if complete else []
        return [_row(t) for t in best]
    rows = [_row(t) for t in study.best_trials]
    return sorted(rows, key=lambda r: (r["train_seconds"], -r["efficiency"]))


def completed_rows(study: Any) -> list[dict[str, Any]]:
    """One row per completed trial (number, objectives, settings)."""
    return [_row(t) for t in study.trials if t.state.name == "COMPLETE"]


def state_counts(study: Any) -> dict[str, int]:
    """Trials per state (complete, fail, pruned, running, waiting)."""
    counts: dict[str, int] = {}
    for trial in study.trials:
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
    return counts


def format_front(study: Any) -> str:
    """A markdown table of the front."""
    rows = front_rows(study)
    problems = study_settings(study).problems
    header = ["trial", "efficiency", "train s", *problems, "origin", "configuration"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        per = [f"{r['efficiency_by_problem'].get(p, math.nan):.4f}" for p in problems]
        config = ", ".join(f"{k}={_short(v)}" for k, v in sorted(r["params"].items()))
        lines.append(f"| {r['trial']} | {r['efficiency']:.4f} | {r['train_seconds']:.1f} | "
                     + " | ".join(per) + f" | {r['origin']} | {config} |")
    return "\n".join(lines)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _known_name(params: Mapping[str, Any]) -> str | None:
    """``"paper"``/``"tuned"`` when ``params`` is that preset's point of the space."""
    return next((name for name, point in KNOWN_POINTS.items() if dict(point) == dict(params)),
                None)


def plot_front(study: Any) -> Any:
    """Efficiency against training time of every completed trial; the front joined.

    The efficiency axis starts a little below the front; trials further down are
    counted in the legend.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = completed_rows(study)
    front = front_rows(study)
    low = min(r["efficiency"] for r in front) - 0.03
    high = max(r["efficiency"] for r in rows) + 0.005
    below = sum(r["efficiency"] < low for r in rows)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ax.scatter([r["train_seconds"] for r in rows], [r["efficiency"] for r in rows],
               s=18, color="0.6",
               label="trials" + (f" ({below} below the axis)" if below else ""))
    ax.plot([r["train_seconds"] for r in front], [r["efficiency"] for r in front],
            "o-", color="C0", label="Pareto front")
    for r in rows:
        name = _known_name(r["params"])
        if name is not None:
            ax.scatter([r["train_seconds"]], [r["efficiency"]], s=60, marker="s",
                       facecolors="none", edgecolors="C3")
            ax.annotate(f"{name} preset (#{r['trial']})", (r["train_seconds"], r["efficiency"]),
                        textcoords="offset points", xytext=(5, -12), fontsize=8, color="C3")
    for i, r in enumerate(front):
        ax.annotate(f"#{r['trial']}", (r["train_seconds"], r["efficiency"]),
                    textcoords="offset points", xytext=(-4, 6 if i % 2 else -13), fontsize=8,
                    color="C0")
    settings = study_settings(study)
    ax.set_ylim(low, high)
    ax.set_xlabel("training wall time per run (s)")
    ax.set_ylabel("efficiency against DP (mean)")
    ax.set_title(f"{study.study_name}: {', '.join(settings.problems)}, "
                 f"{settings.n_trajectories:,} trajectories, {settings.seeds} seeds",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def write_front(study: Any, out_dir: str | os.PathLike[str],
                command: str | None = None) -> list[Path]:
    """Write front.csv, front.json, front.md and front.png (all trials: trials.csv)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    front = front_rows(study)
    rows = completed_rows(study)
    written = []
    for name, data in (("front.csv", front), ("trials.csv", rows)):
        path = out / name
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            keys = sorted(SEARCH_SPACE)
            writer.writerow(["trial", "efficiency", "train_seconds", "origin", *keys])
            for r in data:
                writer.writerow([r["trial"], f"{r['efficiency']:.6f}",
                                 f"{r['train_seconds']:.3f}", r["origin"],
                                 *[r["params"].get(k) for k in keys]])
        written.append(path)
    summary = {"study": study.study_name, "settings": study_settings(study).to_attrs(),
               "states": state_counts(study), "command": command, "front": front}
    (out / "front.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    text = [f"# Tuning study `{study.study_name}`", ""]
    if command:
        text += ["```", command, "```", ""]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(state_counts(study).items()))
    text += [f"Trials: {counts}.", "", format_front(study), ""]
    (out / "front.md").write_text("\n".join(text))
    fig = plot_front(study)
    fig.savefig(out / "front.png", dpi=120)
    written += [out / "front.json", out / "front.md", out / "front.png"]
    return written


def choose_trial(study: Any, trial_number: int | None = None) -> int:
    """``trial_number`` if it is a completed trial, else (None) the most efficient
    trial on the front."""
    complete = {t.number for t in study.trials if t.state.name == "COMPLETE"}
    if trial_number is None:
        front = front_rows(study)
        if not front:
            raise ValueError(f"study {study.study_name!r} has no completed trial to export")
        return int(max(front, key=lambda r: r["efficiency"])["trial"])
    if trial_number not in complete:
        raise ValueError(f"trial {trial_number} of study {study.study_name!r} is not a "
                         f"completed trial (completed: {sorted(complete) or 'none'})")
    return trial_number


def preset_from_trial(study: Any, name: str, trial_number: int | None = None) -> Preset:
    """The configuration of a completed trial as a preset (``paper`` plus overrides);
    default trial: :func:`choose_trial`'s."""
    trial_number = choose_trial(study, trial_number)
    row = _row(study.trials[trial_number])
    settings = study_settings(study)
    description = (f"study {study.study_name} trial {trial_number}: efficiency "
                   f"{row['efficiency']:.4f} on {', '.join(settings.problems)} "
                   f"({settings.seeds} seed{'s' if settings.seeds != 1 else ''}), "
                   f"{row['train_seconds']:.1f} s per run")
    return Preset(name, description, row["overrides"], fast=True)


def trial_source(study: Any, trial_number: int) -> dict[str, Any]:
    """Where an exported preset came from (stored beside it in the presets file)."""
    trial = study.trials[trial_number]
    return {"study": study.study_name, "trial": trial_number, "values": trial.values,
            "settings": study_settings(study).to_attrs(), "params": dict(trial.params)}


def describe_counts(study: Any) -> str:
    """E.g. ``"18 trials (17 complete, 1 fail)"``."""
    counts = state_counts(study)
    return f"{len(study.trials)} trials (" + ", ".join(
        f"{n} {s}" for s, n in sorted(counts.items())) + ")"

