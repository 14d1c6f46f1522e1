"""Two family benchmark runs side by side, split by one acceptance envelope.

    python benchmarks/compare_family_results.py BEFORE/results.jsonl AFTER/results.jsonl \
        [--labels A B] [--weights DIR]

Both files come from ``examples/benchmark_pretrained.py --family ...`` (every problem
scored, inside its envelope or beyond it) on the same problems and markets. Each problem
is placed by the acceptance envelope of ``--weights`` (default: the shipped weights), so
the two runs are compared on the same problems whatever envelope each was scored under.
Prints, per family, the mean and lowest efficiency of each run over the accepted
problems, the refused ones and all, and how many accepted problems score under 0.95.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from gbwm_sb3.pretrained.families import FAMILY_NAMES, family_problems
from gbwm_sb3.pretrained.loading import accepted_envelope


def _read(path: Path) -> dict[str, float]:
    out = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("efficiency") is not None:
            out[record["name"]] = float(record["efficiency"])
    return out


def _cell(values: list[float]) -> str:
    if not values:
        return "| | "
    return f"| {np.mean(values):.4f} | {np.min(values):.4f} "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--labels", nargs=2, default=("before", "after"))
    parser.add_argument("--weights", type=Path, default=None)
    args = parser.parse_args(argv)
    runs = [_read(args.before), _read(args.after)]
    envelope = accepted_envelope(args.weights)
    accepted = {item.name: not envelope.contains(item.problem) for item in family_problems()}
    a, b = args.labels
    print(f"| family | accepted | {a}: mean | min | {b}: mean | min | {a} < 0.95 | "
          f"{b} < 0.95 | refused | {a}: mean | min | {b}: mean | min |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for family in (*FAMILY_NAMES, "all"):
        names = [n for n in accepted if (family == "all" or n.rsplit("-", 1)[0] == family)
                 and all(n in run for run in runs)]
        inside = [n for n in names if accepted[n]]
        outside = [n for n in names if not accepted[n]]
        row = f"| {family} | {len(inside)} "
        row += "".join(_cell([run[n] for n in inside]) for run in runs)
        row += "".join(f"| {sum(run[n] < 0.95 for n in inside)} " for run in runs)
        row += f"| {len(outside)} " + "".join(_cell([run[n] for n in outside]) for run in runs)
        print(row + "|")
    return 0


if __name__ == "__main__":
    sys.exit(main())
