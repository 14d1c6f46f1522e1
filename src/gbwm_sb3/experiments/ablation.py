"""Ablation of the tuned preset: each change measured against the paper preset.

Every configuration trains with the base-case budget (50,000 trajectories) and is
scored against DP on 100,000 common-random-number paths; runs are appended to the runs
file as they finish (resumable). Writes ``ablation.csv/.json/.md`` to ``out``: mean
efficiency, Student-t 95% CI, min over seeds and mean training time, per configuration
and NG, over every saved run of the listed configurations (earlier invocations with more
seeds included).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from gbwm_sb3.experiments.options import SweepOptions
from gbwm_sb3.experiments.reporting import (
    TableColumn,
    fmt,
    markdown_table,
    write_csv,
    write_json,
)
from gbwm_sb3.experiments.sweep import ResultsFile, SweepConfig, make_jobs, summarize

__all__ = ["reproduce_ablation", "ABLATIONS"]

#: name -> (preset, overrides, what it tests); the presets: gbwm_sb3.ppo.registry.
ABLATIONS: dict[str, tuple[str, dict, str]] = {
    "paper": ("paper", {}, "documented hyperparameters (M 4800, 4 epochs, minibatch 256)"),
    "tuned-reward_scale": ("tuned", {"reward_scale": None}, "tuned without the reward scaling"),
    "tuned-epochs": ("tuned", {"n_epochs": 4, "batch_size": 256},
                     "tuned with the paper's 4 epochs of minibatch 256"),
    "tuned-M": ("tuned", {"n_trajectories_per_rollout": 4800},
                "tuned with the paper's 4800 trajectories per rollout"),
    "tuned+gae_lambda_1": ("tuned", {"gae_lambda": 1.0}, "tuned + GAE lambda 1"),
    "tuned-portfolio_degree": ("tuned", {"portfolio_degree": None},
                               "tuned without the quadratic portfolio head"),
    "tuned": ("tuned", {}, "tuned: M 1200, 16 epochs, minibatch 960, rewards / total utility, "
              "quadratic + free portfolio logits"),
}


COLUMNS: list[TableColumn] = [
    ("config", "configuration", str), ("num_goals", "NG", str), ("n", "runs", str),
    ("mean", "mean eff.", fmt(".4f")), ("ci_low", "95% CI low", fmt(".4f")),
    ("ci_high", "95% CI high", fmt(".4f")), ("min", "min", fmt(".4f")), ("sd", "sd", fmt(".4f")),
    ("diff_vs_paper", "vs paper preset", fmt("+.4f")), ("mean_train_seconds", "s/run", fmt(".1f")),
    ("description", "change", str),
]


def reproduce_ablation(options: SweepOptions, configs: Sequence[str] = tuple(ABLATIONS)) -> int:
    """Run (or resume) the ablation of ``configs`` and write its table; the exit status."""
    unknown = [name for name in configs if name not in ABLATIONS]
    if unknown or not configs:
        raise ValueError(f"configs must be among {', '.join(ABLATIONS)}, got {list(configs)}")
    sweep_configs = [SweepConfig(name, preset=ABLATIONS[name][0], overrides=ABLATIONS[name][1])
                     for name in configs]
    jobs = make_jobs(sweep_configs, options.goals, options.seeds, options.trajectories,
                     n_eval_paths=options.eval_paths)
    outcome = options.execute(jobs, "ablation")
    if outcome is None:
        return 130
    # Every saved run of these configurations (same budget, evaluation and preset
    # versions), including seeds beyond ``seeds`` from earlier invocations.
    wanted = {(job.config, job.num_goals, job.preset_fingerprint, job.overrides_json)
              for job in jobs}
    records = [r for r in ResultsFile(options.results_path).load()
               if r.get("n_trajectories") == options.trajectories
               and r.get("n_eval_paths") == options.eval_paths and not r.get("benchmarks")
               and (r["config"], r["num_goals"], r.get("preset_fingerprint", ""),
                    json.dumps(r["overrides"], sort_keys=True, separators=(",", ":")))
               in wanted]
    summary = summarize(records)
    paper = {r["num_goals"]: r["mean"] for r in summary if r["config"] == "paper"}
    order = {name: i for i, name in enumerate(ABLATIONS)}
    rows = []
    for row in sorted(summary, key=lambda r: (r["num_goals"], order[r["config"]])):
        row = dict(row, description=ABLATIONS[row["config"]][2])
        if row["num_goals"] in paper:
            row["diff_vs_paper"] = row["mean"] - paper[row["num_goals"]]
        rows.append(row)
    out = options.out
    write_csv(rows, out / "ablation.csv")
    write_json({"command": options.command, "trajectories": options.trajectories,
                "configs": {k: ABLATIONS[k] for k in configs}, "rows": rows},
               out / "ablation.json")
    table = markdown_table(rows, COLUMNS)
    (out / "ablation.md").write_text(
        f"# Ablation ({options.trajectories:,} trajectories per run)\n\n" + table
        + "\nCI: Student-t 95% interval of the mean over seeds.\n")
    print(table)
    return 1 if outcome.failures else 0
