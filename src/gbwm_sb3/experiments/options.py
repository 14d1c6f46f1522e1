"""What every reproduction experiment shares: seeds, problems, budget, where results go.

:class:`SweepOptions` is filled by the command line (``gbwm reproduce ...``) or by code;
:meth:`SweepOptions.execute` runs (or, with ``report_only``, only collects) the jobs of
an experiment through :func:`gbwm_sb3.experiments.sweep.run_sweep`.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gbwm_sb3.common.limits import (
    MAX_PATHS,
    MAX_SEED,
    MAX_SEEDS,
    MAX_TRAJECTORIES,
    MAX_WORKERS,
    check_int,
)
from gbwm_sb3.experiments.sweep import SweepJob, SweepOutcome, run_sweep
from gbwm_sb3.problem.model import PAPER_NUM_GOALS

__all__ = ["SweepOptions"]


@dataclass
class SweepOptions:
    """Options of one reproduction run (validated on construction).

    ``seeds``: the training seeds; ``goals``: the paper problems (NG) to run;
    ``trajectories``: training budget per run; ``eval_paths``: common-random-number
    paths each model is scored on; ``workers``: processes (None: one per core);
    ``out``: output folder; ``results``: the runs file (default ``out/runs.jsonl``);
    ``report_only``: train nothing, rebuild the tables from saved runs; ``engine`` and
    ``address``: where the runs execute (see ``run_sweep``); ``command``: the command
    line recorded in the outputs. Sizes are bounded by :mod:`gbwm_sb3.common.limits`:
    at most ``MAX_SEEDS`` seeds, each in ``[0, MAX_SEED]``; ``trajectories`` at most
    ``MAX_TRAJECTORIES``; ``eval_paths`` at most ``MAX_PATHS``; ``workers`` at most
    ``MAX_WORKERS``.
    """

    seeds: Sequence[int]
    goals: Sequence[int] = PAPER_NUM_GOALS
    out: Path = Path("gbwm-results")
    trajectories: int = 50_000
    eval_paths: int = 100_000
    workers: int | None = None
    results: Path | None = None
    progress: bool = True
    report_only: bool = False
    engine: str = "local"
    address: str | None = None
    command: str = field(default_factory=lambda: " ".join(sys.argv))

    def __post_init__(self) -> None:
        # at most one seed too many is read: a huge range or an endless iterator is refused
        self.seeds = list(itertools.islice(self.seeds, MAX_SEEDS + 1))
        if len(self.seeds) > MAX_SEEDS:
            raise ValueError(f"seeds must hold at most {MAX_SEEDS:,} seeds")
        self.goals = list(self.goals)
        if not self.seeds:
            raise ValueError("seeds must hold at least one seed")
        self.seeds = [check_int(seed, "each seed", 0, MAX_SEED) for seed in self.seeds]
        self.trajectories = check_int(self.trajectories, "trajectories", 1, MAX_TRAJECTORIES)
        self.eval_paths = check_int(self.eval_paths, "eval_paths", 1, MAX_PATHS)
        if self.workers is not None:
            self.workers = check_int(self.workers, "workers", 1, MAX_WORKERS)
        bad = [ng for ng in self.goals if ng not in PAPER_NUM_GOALS]
        if bad or not self.goals:
            raise ValueError(f"goals must be among {', '.join(map(str, PAPER_NUM_GOALS))}, "
                             f"got {self.goals}")
        self.out = Path(self.out)
        self.results = Path(self.results) if self.results is not None else None

    @property
    def results_path(self) -> Path:
        """The runs file: ``results`` or ``out/runs.jsonl``."""
        return self.results or self.out / "runs.jsonl"

    def execute(self, jobs: Sequence[SweepJob], description: str) -> SweepOutcome | None:
        """Run (or only collect) ``jobs``; ``None`` after Ctrl-C.

        Failed runs are printed to stderr; they are not saved, so the next run retries them.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        try:
            outcome = run_sweep(jobs, self.results_path, workers=self.workers,
                                progress=self.progress, description=description,
                                run=not self.report_only, engine=self.engine,
                                address=self.address)
        except KeyboardInterrupt:
            return None
        for failure in outcome.failures:
            print(failure, file=sys.stderr)
        return outcome
