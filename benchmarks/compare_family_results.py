"""Family benchmark runs side by side, split by one acceptance envelope.

    python benchmarks/compare_family_results.py BEFORE/results.jsonl AFTER/results.jsonl \
        [MORE/results.jsonl ...] [--labels A B ...] [--weights DIR]

Every file comes from ``examples/benchmark_pretrained.py --family ...`` (every problem
scored, inside its envelope or beyond it) on the same problems and markets. Each problem
is placed by the acceptance envelope of ``--weights`` (default: the shipped weights), so
the runs are compared on the same problems whatever envelope each was scored under, and
only on the problems every run scored. Prints, per family, the mean and lowest
efficiency of each run over the accepted problems, the refused ones and all, and how
many accepted problems score under 0.95. Labels default to each file's folder name.
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


def checked_runs(parser: argparse.ArgumentParser, results: list[Path],
                 labels: list[str] | None) -> list[str]:
    """One label per results file (default: the file's folder name); a parser error for
    a label count that does not match or a file that does not exist."""
    labels = labels or [path.parent.name or str(path) for path in results]
    if len(labels) != len(results):
        parser.error(f"--labels: {len(labels)} given for {len(results)} results files; "
                     "give one per file")
    missing = [str(path) for path in results if not path.is_file()]
    if missing:
        parser.error(f"results file not found: {', '.join(missing)}")
    return labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, nargs="+", metavar="RESULTS_JSONL")
    parser.add_argument("--labels", nargs="+", default=None,
                        help="one per results file (default: each file's folder name)")
    parser.add_argument("--weights", type=Path, default=None)
    args = parser.parse_args(argv)
    labels = checked_runs(parser, args.results, args.labels)
    runs = [_read(path) for path in args.results]
    envelope = accepted_envelope(args.weights)
    accepted = {item.name: not envelope.contains(item.problem) for item in family_problems()}
    columns = (["family", "accepted"] + [f"{a}: mean | min" for a in labels]
               + [f"{a} < 0.95" for a in labels] + ["refused"]
               + [f"{a}: mean | min" for a in labels])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * (3 + 5 * len(runs)))
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
