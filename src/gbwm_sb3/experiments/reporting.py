"""The paper's published numbers and writers for sweep results (CSV, JSON, markdown, PNG).

Used by the ``examples/reproduce_*.py`` scripts, so that every table they write
sets our measurements beside the paper's published results in the same way.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "PAPER_NUM_GOALS",
    "PAPER_TABLE1",
    "PAPER_SENSITIVITY",
    "PAPER_FIGURE2",
    "paper_interval",
    "write_csv",
    "write_json",
    "markdown_table",
    "fmt",
]

#: A markdown table column: (row key, header, formatter of the row's value).
TableColumn = tuple[str, str, Callable[[Any], str]]

PAPER_NUM_GOALS = (1, 2, 4, 8, 16)

# Table I: NG -> (mean efficiency over 30 runs, sd over runs, runtime per run in s, Mac mini M2).
PAPER_TABLE1: dict[int, tuple[float, float, float]] = {
    1: (0.974, 0.0080, 32.4),
    2: (0.948, 0.0100, 32.6),
    4: (0.961, 0.0088, 32.5),
    8: (0.978, 0.0051, 32.5),
    16: (0.978, 0.0058, 32.6),
}


def _by_ng(values: Sequence[float]) -> dict[int, float]:
    return dict(zip(PAPER_NUM_GOALS, values, strict=True))


_BASE = _by_ng([PAPER_TABLE1[ng][0] for ng in PAPER_NUM_GOALS])

# Tables II/III: (parameter, value) -> NG -> mean efficiency. The base case is Table I.
PAPER_SENSITIVITY: dict[tuple[str, float], dict[int, float]] = {
    ("n_trajectories", 25_000): _by_ng([0.952, 0.928, 0.939, 0.938, 0.947]),
    ("n_trajectories", 50_000): _BASE,
    ("n_trajectories", 100_000): _by_ng([0.982, 0.962, 0.960, 0.972, 0.971]),
    ("n_neurons", 32): _by_ng([0.974, 0.947, 0.960, 0.975, 0.977]),
    ("n_neurons", 64): _BASE,
    ("n_neurons", 128): _by_ng([0.975, 0.948, 0.965, 0.975, 0.979]),
    ("n_trajectories_per_rollout", 2400): _by_ng([0.977, 0.954, 0.960, 0.969, 0.967]),
    ("n_trajectories_per_rollout", 4800): _BASE,
    ("n_trajectories_per_rollout", 7200): _by_ng([0.971, 0.943, 0.958, 0.967, 0.968]),
    ("learning_rate", 0.005): _by_ng([0.972, 0.944, 0.961, 0.976, 0.977]),
    ("learning_rate", 0.01): _BASE,
    ("learning_rate", 0.05): _by_ng([0.791, 0.859, 0.911, 0.928, 0.934]),
    ("clip_range", 0.25): _by_ng([0.969, 0.945, 0.960, 0.967, 0.972]),
    ("clip_range", 0.5): _BASE,
    ("clip_range", 0.75): _by_ng([0.969, 0.950, 0.964, 0.977, 0.973]),
}

# Figure 2: strategy -> NG -> efficiency against DP (values marked ~ in the paper are read
# off the figure).
PAPER_FIGURE2: dict[str, dict[int, float]] = {
    "rl": _BASE,
    "greedy_goals_rl_portfolios": _by_ng([0.974, 0.930, 0.935, 0.926, 0.903]),
    "buy_and_hold_coin_flip": _by_ng([0.69, 0.76, 0.72, 0.69, 0.68]),
    "random": _by_ng([0.66, 0.73, 0.70, 0.68, 0.67]),
    "dp_portfolios_rl_goals": _by_ng([1.0, 0.986, 0.991, 0.994, 0.991]),
    "rl_portfolios_dp_goals": _by_ng([0.973, 0.955, 0.969, 0.979, 0.984]),
}


def paper_interval(num_goals: int, runs: int = 30, z: float = 1.96) -> tuple[float, float]:
    """The paper's mean +- z * sd / sqrt(runs): where a run of its 30-seed mean could land."""
    mean, sd, _ = PAPER_TABLE1[num_goals]
    half = z * sd / math.sqrt(runs)
    return mean - half, mean + half


def _plain(value: Any) -> Any:
    """JSON/CSV-friendly scalars (NaN becomes None in JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _plain(value.item())
    return value


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Rows (dicts with the same keys, first row's order) as a CSV file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _plain(row.get(k)) for k in columns})
    return path


def write_json(data: Any, path: str | os.PathLike[str]) -> Path:
    """``data`` as indented JSON (NaN written as null)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return _plain(value)

    path.write_text(json.dumps(clean(data), indent=2) + "\n")
    return path


def fmt(spec: str) -> Callable[[Any], str]:
    """A cell formatter: ``format(value, spec)``, blank for None/NaN."""

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return ""
        return format(value, spec)

    return cell


def markdown_table(rows: Sequence[Mapping[str, Any]],
                   columns: Sequence[TableColumn]) -> str:
    """A GitHub markdown table; ``columns`` = (row key, header, formatter)."""
    lines = ["| " + " | ".join(header for _, header, _ in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(f(row.get(key)) for key, _, f in columns) + " |")
    return "\n".join(lines) + "\n"
