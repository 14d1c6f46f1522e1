"""``gbwm reproduce EXPERIMENT``: the paper's Table I, Tables II/III, Figure 2, the ablation.

Every experiment takes the same sweep options (seeds, goals, budget, evaluation paths,
workers, engine, output folder, results file, progress, report-only), checked where they
enter; the work is done by :mod:`gbwm_sb3.experiments`, so it runs from any folder with
only the installed package.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gbwm_sb3.cli.arguments import CLIError, int_in
from gbwm_sb3.cli.checks import check_output_dir, check_output_file
from gbwm_sb3.common.limits import MAX_PATHS, MAX_SEED, MAX_SEEDS, MAX_TRAJECTORIES, MAX_WORKERS
from gbwm_sb3.experiments.engines import ENGINES
from gbwm_sb3.ppo.registry import preset_names
from gbwm_sb3.problem.model import PAPER_NUM_GOALS

__all__ = ["EXPERIMENTS", "add_reproduce_parser", "add_sweep_arguments", "cmd_reproduce"]

#: experiment -> (help, default seeds, default goals)
EXPERIMENTS: dict[str, tuple[str, int, tuple[int, ...]]] = {
    "table1": ("Table I: mean efficiency and runtime per run, NG = 1..16", 30, PAPER_NUM_GOALS),
    "sensitivity": ("Tables II and III: one hyperparameter at a time", 30, PAPER_NUM_GOALS),
    "figure2": ("Figure 2: RL against the benchmark strategies and hybrids", 30,
                PAPER_NUM_GOALS),
    "ablation": ("what each change of the tuned preset is worth", 10, (2, 4)),
}


def _path(text: str) -> Path:
    """A non-empty path (``Path("")`` would be the current folder)."""
    if not text.strip() or "\x00" in text:
        raise argparse.ArgumentTypeError(f"must be a non-empty path, got {text!r}")
    return Path(text)


def add_sweep_arguments(parser: argparse.ArgumentParser, *, seeds: int, goals: Sequence[int],
                        out: str, trajectories: bool = True) -> None:
    """Add the options every experiment shares, with these defaults.

    ``trajectories=False`` leaves out ``--trajectories`` (for experiments whose rows set
    the budget themselves).
    """
    parser.add_argument("--seeds", type=int_in(1, at_most=MAX_SEEDS), default=seeds,
                        help=f"training runs per cell (default {seeds}; the paper: 30)")
    parser.add_argument("--first-seed", type=int_in(0, at_most=MAX_SEED), default=0,
                        help="the first training seed (seeds FIRST..FIRST+SEEDS-1)")
    parser.add_argument("--goals", type=int_in(1), nargs="+", default=list(goals),
                        help="numbers of goals of the paper problems to run "
                             f"(among {', '.join(map(str, PAPER_NUM_GOALS))})")
    if trajectories:
        parser.add_argument("--trajectories", type=int_in(1, at_most=MAX_TRAJECTORIES),
                            default=50_000,
                            help="training budget in trajectories per run (default 50,000)")
    parser.add_argument("--eval-paths", type=int_in(1, at_most=MAX_PATHS), default=100_000,
                        help="common-random-number paths each model is scored on")
    parser.add_argument("--workers", type=int_in(1, at_most=MAX_WORKERS), default=None,
                        help="worker processes (default: the number of cores)")
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="where runs execute: local processes (default) or a Ray cluster")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address (with --engine ray; default: a local one)")
    parser.add_argument("--out", type=_path, default=Path(out), help=f"output folder ({out})")
    parser.add_argument("--results", type=_path, default=None,
                        help="runs file (default: <out>/runs.jsonl); experiments may share one")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: rebuild the tables from the runs already saved")


def add_reproduce_parser(commands: Any) -> None:
    """Add ``reproduce`` with one sub-command per experiment to the ``gbwm`` parser."""
    reproduce = commands.add_parser(
        "reproduce", help="run the paper's experiments (Table I, II/III, Figure 2, ablation)",
        description="Train and score the runs of one of the paper's experiments and write its "
                    "tables (CSV, JSON, markdown, PNG). Every run is appended to a results file "
                    "the moment it finishes: run the same command again to resume.")
    experiments = reproduce.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    presets = preset_names()
    for name, (help_text, seeds, goals) in EXPERIMENTS.items():
        parser = experiments.add_parser(name, help=help_text, description=help_text)
        if name == "table1":
            parser.add_argument("--preset", nargs="+", default=["paper"], choices=presets,
                                help="preset name(s), set side by side (e.g. paper tuned)")
        elif name in ("sensitivity", "figure2"):
            parser.add_argument("--preset", default="paper", choices=presets)
        if name == "sensitivity":
            from gbwm_sb3.experiments.sensitivity import PARAMETERS

            parser.add_argument("--parameters", nargs="+", default=list(PARAMETERS),
                                choices=PARAMETERS, help="which rows to run")
        if name == "ablation":
            from gbwm_sb3.experiments.ablation import ABLATIONS

            parser.add_argument("--configs", nargs="+", default=list(ABLATIONS),
                                choices=list(ABLATIONS))
        add_sweep_arguments(parser, seeds=seeds, goals=goals, out=f"gbwm-results/{name}",
                            trajectories=name != "sensitivity")
        parser.set_defaults(func=cmd_reproduce)


def sweep_options(args: argparse.Namespace) -> Any:
    """The :class:`~gbwm_sb3.experiments.options.SweepOptions` of parsed arguments."""
    from gbwm_sb3.experiments.options import SweepOptions

    return SweepOptions(
        seeds=range(args.first_seed, args.first_seed + args.seeds), goals=args.goals,
        out=args.out, trajectories=getattr(args, "trajectories", 50_000),
        eval_paths=args.eval_paths, workers=args.workers, results=args.results,
        progress=not args.no_progress, report_only=args.report_only, engine=args.engine,
        address=args.address)


def _runner(args: argparse.Namespace) -> Callable[[Any], int]:
    import gbwm_sb3.experiments as experiments

    if args.experiment == "table1":
        return lambda options: experiments.reproduce_table1(options, presets=args.preset)
    if args.experiment == "sensitivity":
        return lambda options: experiments.reproduce_sensitivity(
            options, preset=args.preset, parameters=args.parameters)
    if args.experiment == "figure2":
        return lambda options: experiments.reproduce_figure2(options, preset=args.preset)
    return lambda options: experiments.reproduce_ablation(options, configs=args.configs)


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Run the chosen experiment; ValueErrors from the options become usage errors."""
    bad = [ng for ng in args.goals if ng not in PAPER_NUM_GOALS]
    if bad:
        raise CLIError(f"--goals must be among {', '.join(map(str, PAPER_NUM_GOALS))}, "
                       f"got {bad}")
    if args.address is not None and args.engine != "ray":
        raise CLIError("--address needs --engine ray")
    last = args.first_seed + args.seeds - 1
    if last > MAX_SEED:
        raise CLIError(f"--first-seed + --seeds - 1 must be at most {MAX_SEED} (the largest "
                       f"seed), got {args.first_seed} + {args.seeds} - 1 = {last}")
    check_output_dir(args.out, force=True, option="--out")
    check_output_file(args.results or args.out / "runs.jsonl", "--results")
    try:
        return _runner(args)(sweep_options(args))
    except ValueError as exc:
        raise CLIError(str(exc)) from None
