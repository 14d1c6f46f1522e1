"""Command-line plumbing shared by the reproduction scripts (``examples/reproduce_*.py``).

Every script takes the same sweep options (seeds, goals, budget, evaluation paths,
workers, output folder, results file, progress, report-only), validates them where
they enter, and runs its jobs through :func:`gbwm_sb3.sweep.run_sweep` the same way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gbwm_sb3.experiments.sweep import SweepJob, SweepOutcome, run_sweep

__all__ = ["add_sweep_arguments", "parse_sweep_args", "seed_range", "results_path",
           "execute_sweep"]


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (the error names the allowed range)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


def add_sweep_arguments(parser: argparse.ArgumentParser, *, seeds: int, goals: Sequence[int],
                        out: str, trajectories: bool = True) -> None:
    """Add the options every reproduction script shares, with these defaults.

    ``trajectories=False`` leaves out ``--trajectories`` (for scripts whose rows
    set the budget themselves).
    """
    parser.add_argument("--seeds", type=_positive_int, default=seeds,
                        help=f"training runs per cell (default {seeds})")
    parser.add_argument("--first-seed", type=_non_negative_int, default=0)
    parser.add_argument("--goals", type=_positive_int, nargs="+", default=list(goals),
                        help="numbers of goals of the paper problems to run")
    if trajectories:
        parser.add_argument("--trajectories", type=_positive_int, default=50_000,
                            help="training budget in trajectories per run")
    parser.add_argument("--eval-paths", type=_positive_int, default=100_000,
                        help="common-random-number paths each model is scored on")
    parser.add_argument("--workers", type=_positive_int, default=None,
                        help="worker processes (default: the number of cores)")
    parser.add_argument("--out", type=Path, default=Path(out), help="output folder")
    parser.add_argument("--results", type=Path, default=None,
                        help="runs file (default: <out>/runs.jsonl); scripts may share one")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: rebuild the tables from the runs already saved")


def parse_sweep_args(parser: argparse.ArgumentParser,
                     argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse, then check what the types alone cannot (the paper's NG values)."""
    args = parser.parse_args(argv)
    from gbwm_sb3.problem.model import PAPER_NUM_GOALS

    bad = [ng for ng in args.goals if ng not in PAPER_NUM_GOALS]
    if bad:
        parser.error(f"--goals must be among {', '.join(map(str, PAPER_NUM_GOALS))}, got {bad}")
    return args


def seed_range(args: argparse.Namespace) -> range:
    """The training seeds ``--first-seed`` .. ``--first-seed + --seeds - 1``."""
    return range(args.first_seed, args.first_seed + args.seeds)


def results_path(args: argparse.Namespace) -> Path:
    """The runs file: ``--results`` or ``<out>/runs.jsonl``."""
    return args.results or args.out / "runs.jsonl"


def execute_sweep(jobs: Sequence[SweepJob], args: argparse.Namespace,
                  description: str) -> SweepOutcome | None:
    """Run (or, with ``--report-only``, only collect) ``jobs``; ``None`` after Ctrl-C.

    Failed runs are printed to stderr; they are not saved, so the next run retries them.
    """
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        outcome = run_sweep(jobs, results_path(args), workers=args.workers,
                            progress=not args.no_progress, description=description,
                            run=not args.report_only)
    except KeyboardInterrupt:
        return None
    for failure in outcome.failures:
        print(failure, file=sys.stderr)
    return outcome
