"""Held-out results of several weights side by side, grouped by the acceptance envelope.

    python benchmarks/held_out_table.py \\
        "PPO, lookahead 8=docs/results/pretrained-shipped-imitation/held-out-50/ppo-weights" \\
        "shipped, lookahead 1=docs/results/pretrained-shipped-imitation/held-out-50/shipped"

Each argument is ``LABEL=DIR``, DIR an ``envelope_probe.py`` (or ``benchmark_pretrained.py
--family``) output folder holding ``results.jsonl``; all must score the same problems.
The groups are placed by the first run's ``scope`` (inside or outside its weights'
acceptance envelope), so every column scores the same problems; "under 0.95" counts the
problems below 0.95 of the DP optimum.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def records(folder: Path) -> dict[str, dict]:
    """The run's records by problem name."""
    lines = (folder / "results.jsonl").read_text().splitlines()
    return {r["name"]: r for r in map(json.loads, lines)}


def _family(name: str) -> str:
    return name.rsplit("-", 1)[0]


def _run(text: str) -> tuple[str, Path]:
    label, sep, folder = text.partition("=")
    if not sep or not label or not (Path(folder) / "results.jsonl").is_file():
        raise argparse.ArgumentTypeError(f"expected LABEL=DIR with DIR/results.jsonl, got "
                                         f"{text!r}")
    return label, Path(folder)


def table(runs: dict[str, dict[str, dict]]) -> list[str]:
    """The markdown rows: mean / lowest / count under 0.95 per group and run."""
    first = next(iter(runs.values()))
    scored = [n for n, r in first.items() if r["efficiency"] is not None]
    accepted = [n for n in scored if first[n]["scope"] == "inside"]
    groups = {
        "accepted": accepted,
        "of which the seeded families": [
            n for n in accepted if _family(n) != "meta_rl_full_range"],
        "of which `META_RL_FULL_RANGE`": [
            n for n in accepted if _family(n) == "meta_rl_full_range"],
        "refused (scored anyway)": [n for n in scored if first[n]["scope"] != "inside"],
        "the meta-RL range (`meta_rl_draws` and `META_RL_FULL_RANGE`), all": [
            n for n in scored if _family(n) in ("meta_rl_draws", "meta_rl_full_range")],
    }
    lines = ["| problems | count | " + " | ".join(f"{label}: mean / lowest / under 0.95"
                                                 for label in runs) + " |",
             "|---|---|" + "---|" * len(runs)]
    for group, names in groups.items():
        if not names:
            continue
        cells = []
        for run in runs.values():
            values = np.array([run[n]["efficiency"] for n in names])
            cells.append(f"{values.mean():.4f} / {values.min():.4f} / {(values < 0.95).sum()}")
        lines.append(f"| {group} | {len(names)} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=_run, metavar="LABEL=DIR")
    args = parser.parse_args(argv)
    runs = {label: records(folder) for label, folder in args.runs}
    names = [set(run) for run in runs.values()]
    if any(other != names[0] for other in names[1:]):
        parser.error("the runs score different problems")
    print("\n".join(table(runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
