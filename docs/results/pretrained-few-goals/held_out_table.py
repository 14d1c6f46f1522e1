"""The held-out table of README.md, from the three ``envelope_probe.py`` runs in held-out/.

    python docs/results/pretrained-few-goals/held_out_table.py

Groups are placed by the shipped weights' acceptance envelope (the ``scope`` of the
shipped run), so the three columns score the same problems.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "held-out"
RUNS = {"shipped, lookahead 8": "shipped-la8", "shipped, auto": "shipped-auto",
        "`few-from-entry`, auto": "imitation-few-from-entry-auto"}


def _records(folder: str) -> dict[str, dict]:
    lines = (HERE / folder / "results.jsonl").read_text().splitlines()
    return {r["name"]: r for r in map(json.loads, lines)}


def _family(name: str) -> str:
    return name.rsplit("-", 1)[0]


def main() -> None:
    runs = {label: _records(folder) for label, folder in RUNS.items()}
    shipped = runs["shipped, lookahead 8"]
    scored = [n for n, r in shipped.items() if r["efficiency"] is not None]
    accepted = [n for n in scored if shipped[n]["scope"] == "inside"]
    groups = {
        "accepted by the shipped weights": accepted,
        "of which the eight families, seeds 40-49": [
            n for n in accepted if _family(n) != "meta_rl_full_range"],
        "of which `META_RL_FULL_RANGE`, seeds 180-239": [
            n for n in accepted if _family(n) == "meta_rl_full_range"],
        "refused by the shipped weights (scored anyway)": [
            n for n in scored if shipped[n]["scope"] != "inside"],
        "the meta-RL range (`meta_rl_draws` and `META_RL_FULL_RANGE`), all": [
            n for n in scored if _family(n) in ("meta_rl_draws", "meta_rl_full_range")],
    }
    print("| problems | count | " + " | ".join(f"{label}: mean / lowest / under 0.95"
                                               for label in runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    for group, names in groups.items():
        cells = []
        for records in runs.values():
            values = np.array([records[n]["efficiency"] for n in names])
            cells.append(f"{values.mean():.4f} / {values.min():.4f} / {(values < 0.95).sum()}")
        print(f"| {group} | {len(names)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
