"""Several pretraining seeds side by side, and the best of them by validation.

PPO's update runs in one learner, so one pretraining run does not spread over cores; the
runs of different seeds do. :func:`pretrain_seeds` runs
:func:`~gbwm_sb3.pretrained.training.pretrain` once per seed, each in its own directory
``OUT/seed-S``, as independent jobs on the local process pool (``engine="local"``, one
process per seed) or on a Ray cluster (``engine="ray"``, one task per seed;
:mod:`gbwm_sb3.experiments.engines`), each with one PyTorch thread, so each seed's
weights are those of the same run made alone, bit for bit. Every run checkpoints per
stage: calling again with the same arguments resumes the unfinished ones.
:func:`best_seed` picks the run with the best validation score, the choice the shipped
weights were made by.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from gbwm_sb3.experiments.engines import check_engine, run_jobs
from gbwm_sb3.experiments.parallel import JobFailure
from gbwm_sb3.pretrained.training import PretrainConfig, pretrain

__all__ = ["SeedRun", "pretrain_seeds", "best_seed", "seed_directory"]


@dataclass(frozen=True)
class SeedRun:
    """One seed's run: where it is, how far it went and its best validation score."""

    seed: int
    directory: str
    stages: int
    num_timesteps: int
    wall_time_s: float
    best_stage: int | None
    validation_mean: float | None


@dataclass(frozen=True)
class _SeedJob:
    config: PretrainConfig
    directory: str
    max_stages: int | None
    until_stage: int | None

    def __repr__(self) -> str:  # how a failed job is named
        return f"seed {self.config.seed} in {self.directory}"


def seed_directory(out: str | os.PathLike[str], seed: int) -> Path:
    """The run directory of ``seed`` under ``out``."""
    return Path(out) / f"seed-{seed}"


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    values = list(seeds) if isinstance(seeds, (list, tuple)) else None
    if not values:
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    for seed in values:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seeds must be integers >= 0, got {seed!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"seeds must be distinct, got {values}")
    return values


def _run_seed(job: _SeedJob) -> SeedRun:
    """One seed's pretraining (in a worker), its per-stage lines prefixed with the seed."""
    seed = job.config.seed

    def log(line: str) -> None:
        print(f"[seed {seed}] {line}", flush=True)

    state = pretrain(job.config, job.directory, threads=1, progress=False, log=log,
                     max_stages=job.max_stages, until_stage=job.until_stage)
    best = state["best"]
    return SeedRun(seed=seed, directory=job.directory, stages=int(state["stage"]),
                   num_timesteps=int(state["num_timesteps"]),
                   wall_time_s=float(state["wall_time_s"]),
                   best_stage=None if best is None else int(best["stage"]),
                   validation_mean=None if best is None else float(best["validation_mean"]))


def pretrain_seeds(config: PretrainConfig, out: str | os.PathLike[str], seeds: Sequence[int],
                   *, engine: str = "local", workers: int | None = None,
                   address: str | None = None, max_stages: int | None = None,
                   until_stage: int | None = None,
                   log: Callable[[str], None] | None = print) -> list[SeedRun]:
    """Pretrain ``config`` once per seed (``config.seed`` is replaced), side by side.

    ``engine``/``workers``/``address`` as :func:`~gbwm_sb3.experiments.engines.run_jobs`
    (``workers`` default: one per core, or the cluster's CPUs); ``max_stages`` and
    ``until_stage`` as :func:`pretrain`, for every seed. ``log`` gets one line per seed
    as it finishes. Returns the runs in the order of ``seeds``; raises ``RuntimeError``
    naming every seed that failed (the others' runs are kept and resume on the next call).
    """
    if not isinstance(config, PretrainConfig):
        raise ValueError(f"config must be a PretrainConfig, got {type(config).__name__}")
    values = _check_seeds(seeds)
    check_engine(engine, address)
    jobs = [_SeedJob(replace(config, seed=seed), str(seed_directory(out, seed)), max_stages,
                     until_stage) for seed in values]
    runs: dict[int, SeedRun] = {}
    failures: list[str] = []
    for job, result in run_jobs(_run_seed, jobs, engine=engine, workers=workers,
                                address=address):
        if isinstance(result, JobFailure):
            failures.append(f"{job!r}: {result.error_type}: {result.message}")
            continue
        runs[result.seed] = result
        if log is not None:
            score = ("no stage yet" if result.validation_mean is None else
                     f"best stage {result.best_stage}, validation {result.validation_mean:.4f}")
            log(f"seed {result.seed}: {result.stages} stages, {result.num_timesteps:,} steps, "
                f"{result.wall_time_s / 60:.1f} min; {score}")
    if failures:
        raise RuntimeError("pretraining failed for " + "; ".join(failures))
    return [runs[seed] for seed in values]


def best_seed(runs: Sequence[SeedRun]) -> SeedRun:
    """The run with the best validation mean (the lowest seed among equals)."""
    scored = [run for run in runs if run.validation_mean is not None]
    if not scored:
        raise ValueError("no run has a validation score yet (no stage has finished)")
    return max(scored, key=lambda run: (run.validation_mean, -run.seed))
