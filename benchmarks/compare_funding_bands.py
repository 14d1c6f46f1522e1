"""Benchmark runs side by side by funding-ratio band, on the problems every run scored.

    python benchmarks/compare_funding_bands.py A/results.jsonl B/results.jsonl [...] \
        [--labels A B ...]

Every file is a ``results.jsonl`` of ``benchmarks/envelope_probe.py`` or
``examples/benchmark_pretrained.py`` (each record holds the problem's ``funding_ratio``
and ``efficiency``) scored on the same problems and markets. Prints, per funding-ratio
band (the client's wealth and savings over the goals' cost, both discounted), each run's
mean and lowest efficiency and how many problems score under 0.95, then the bands
together: under 0.25 (outside the shipped acceptance envelope), 0.25-0.5, under 0.5, 0.5
and over, all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from compare_family_results import checked_runs  # a sibling script

#: (label, lower bound inclusive, upper bound exclusive).
BANDS = (("0.10-0.15", 0.0, 0.15), ("0.15-0.20", 0.15, 0.2), ("0.20-0.25", 0.2, 0.25),
         ("0.25-0.35", 0.25, 0.35), ("0.35-0.50", 0.35, 0.5), ("0.50-1", 0.5, 1.0),
         ("1 and over", 1.0, np.inf), ("under 0.25", 0.0, 0.25), ("0.25-0.50", 0.25, 0.5),
         ("under 0.50", 0.0, 0.5), ("0.50 and over", 0.5, np.inf), ("all", 0.0, np.inf))


def read_results(path: Path) -> dict[str, tuple[float, float]]:
    """``name -> (funding ratio, efficiency)`` of the scored records of one file."""
    out = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("efficiency") is not None:
            out[record["name"]] = (float(record["funding_ratio"]), float(record["efficiency"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, nargs="+", metavar="RESULTS_JSONL")
    parser.add_argument("--labels", nargs="+", default=None,
                        help="one per results file (default: each file's folder name)")
    args = parser.parse_args(argv)
    labels = checked_runs(parser, args.results, args.labels)
    runs = [read_results(path) for path in args.results]
    common = sorted(set.intersection(*(set(run) for run in runs)))
    print(f"{len(common)} problems scored by every run; per run: mean / lowest / under 0.95\n")
    print("| funding ratio | problems | " + " | ".join(labels) + " |")
    print("|---|---|" + "---|" * len(runs))
    for label, low, high in BANDS:
        names = [n for n in common if low <= runs[0][n][0] < high]
        if not names:
            continue
        cells = []
        for run in runs:
            values = np.array([run[n][1] for n in names])
            cells.append(f"{values.mean():.4f} / {values.min():.3f} / {(values < 0.95).sum()}")
        print(f"| {label} | {len(names)} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
