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

The problems are the family benchmark's (seeds 0-19) unless ``--seeds LO HI`` and
``--full-range LO HI`` name those of ``benchmarks/envelope_probe.py`` (the seeded
families' seeds LO..HI-1, then META_RL_FULL_RANGE's), for runs of that script:

    python benchmarks/compare_family_results.py A/results.jsonl B/results.jsonl \
        --seeds 70 80 --full-range 360 420
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from envelope_probe import probe_problems  # a sibling script

from gbwm_sb3.cli.arguments import int_in
from gbwm_sb3.pretrained.families import FAMILY_NAMES, family_problems
from gbwm_sb3.pretrained.loading import accepted_envelope
from gbwm_sb3.pretrained.suite import BenchmarkProblem

#: The families ``--seeds`` draws from: every family but the fixed published problems.
SEEDED_FAMILIES = tuple(name for name in FAMILY_NAMES if name != "published")


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


def chosen_problems(seeds: tuple[int, int] | None, full_range: tuple[int, int] | None
                    ) -> list[BenchmarkProblem]:
    """The family benchmark's problems, or with ``seeds`` / ``full_range`` the probe's:
    seeds ``LO..HI-1`` of every seeded family, then of META_RL_FULL_RANGE."""
    if seeds is None and full_range is None:
        return family_problems()
    return probe_problems(SEEDED_FAMILIES if seeds else (), seeds or (0, 0),
                          full_range or (0, 0))


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
    parser.add_argument("--seeds", type=int_in(0), nargs=2, default=None, metavar=("LO", "HI"),
                        help="the problems are seeds LO..HI-1 of the seeded families (as "
                             "envelope_probe.py --seeds; default: the family benchmark's)")
    parser.add_argument("--full-range", type=int_in(0), nargs=2, default=None,
                        metavar=("LO", "HI"),
                        help="and seeds LO..HI-1 of META_RL_FULL_RANGE")
    args = parser.parse_args(argv)
    labels = checked_runs(parser, args.results, args.labels)
    for name in ("seeds", "full_range"):
        span = getattr(args, name)
        if span is not None and span[0] >= span[1]:
            parser.error(f"--{name.replace('_', '-')}: LO must be below HI, got {span}")
    runs = [_read(path) for path in args.results]
    envelope = accepted_envelope(args.weights)
    problems = chosen_problems(args.seeds, args.full_range)
    accepted = {item.name: not envelope.contains(item.problem) for item in problems}
    families = list(dict.fromkeys(item.category for item in problems))
    columns = (["family", "accepted"] + [f"{a}: mean | min" for a in labels]
               + [f"{a} < 0.95" for a in labels] + ["refused"]
               + [f"{a}: mean | min" for a in labels])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * (3 + 5 * len(runs)))
    for group in (*families, "all"):
        names = [n for n in accepted if (group == "all" or n.rsplit("-", 1)[0] == group)
                 and all(n in run for run in runs)]
        inside = [n for n in names if accepted[n]]
        outside = [n for n in names if not accepted[n]]
        row = f"| {group} | {len(inside)} "
        row += "".join(_cell([run[n] for n in inside]) for run in runs)
        row += "".join(f"| {sum(run[n] < 0.95 for n in inside)} " for run in runs)
        row += f"| {len(outside)} " + "".join(_cell([run[n] for n in outside]) for run in runs)
        print(row + "|")
    return 0


if __name__ == "__main__":
    sys.exit(main())
