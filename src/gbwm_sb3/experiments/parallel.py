"""Run independent jobs (training runs, evaluations) in worker processes.

One process per core with one torch thread each: the networks here are small
and dominated by per-operation overhead, so two single-threaded runs on two
cores finish in about the time of one, while one run on two threads does not.

``run_parallel`` yields ``(job, result)`` pairs in completion order. A job
that raises does not stop the others: its result is a :class:`JobFailure`
carrying the job and the worker's formatted traceback. Workers ignore SIGINT;
on Ctrl-C (or when the caller stops iterating) the parent cancels the pending
jobs and terminates the workers, and on Linux a worker whose parent is killed
outright is terminated by the kernel, so no orphan processes keep training.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["JobFailure", "run_parallel", "default_workers", "SINGLE_THREAD_ENV", "call_job",
           "check_workers", "temporary_environment"]

J = TypeVar("J")
R = TypeVar("R")

# Thread-pool sizes read by the numeric libraries when they start up.
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "GBWM_TORCH_THREADS": "1",
}


@dataclass(frozen=True)
class JobFailure:
    """The outcome of a job that raised: which job, what was raised, and where."""

    job: Any
    error_type: str
    message: str
    traceback: str

    def __str__(self) -> str:
        return f"job {self.job!r} failed with {self.error_type}: {self.message}\n{self.traceback}"


def default_workers() -> int:
    """The number of usable cores (the default worker count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _exit_with_parent() -> None:
    """Linux: have the kernel send SIGTERM to this worker when its parent dies.

    Without it, a parent killed by SIGKILL or SIGTERM (no chance to clean up) would
    leave its workers training to the end of their current jobs as orphans.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no prctl: rely on the parent
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _worker_init() -> None:
    """Per-worker setup: single-threaded numerics, SIGINT left to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    os.environ.update(SINGLE_THREAD_ENV)
    from gbwm_sb3.common.threads import configure_torch_threads

    configure_torch_threads(1)


def call_job(fn: Callable[[Any], Any], job: Any) -> tuple[bool, Any]:
    """Run ``fn(job)`` in a worker; exceptions come back as a formatted traceback."""
    try:
        return True, fn(job)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, not swallowed
        return False, (type(exc).__name__, str(exc), traceback.format_exc())


@contextmanager
def temporary_environment(overrides: dict[str, str]) -> Iterator[None]:
    """Temporarily set environment variables (inherited by processes started inside)."""
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_workers(workers: int | None) -> int:
    """``workers`` as a count of processes (``None``: :func:`default_workers`; 0: inline)."""
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0 (0 = run in this process), "
                         f"got {workers!r}")
    return workers


def _run_inline(fn: Callable[[J], R], jobs: list[J]) -> Iterator[tuple[J, R | JobFailure]]:
    """``workers=0``: run the jobs one after another in this process (debugging, tests)."""
    from gbwm_sb3.common.threads import configure_torch_threads

    configure_torch_threads(1)
    for job in jobs:
        ok, payload = call_job(fn, job)
        yield job, (payload if ok else JobFailure(job, *payload))


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Cancel pending jobs and stop the worker processes now."""
    processes = list(getattr(executor, "_processes", {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():  # pragma: no cover - a worker ignoring SIGTERM
            process.kill()
            process.join(timeout=5)


def run_parallel(fn: Callable[[J], R], jobs: Iterable[J], workers: int | None = None,
                 ) -> Iterator[tuple[J, R | JobFailure]]:
    """Run ``fn(job)`` for every job in worker processes; yield ``(job, result)`` as each ends.

    ``fn`` and the jobs must be picklable (``fn`` a module-level function). Workers are
    started with the ``spawn`` method (safe with torch) and one numeric thread each.
    ``workers`` defaults to the number of usable cores; ``0`` runs the jobs in this
    process. A job that raises yields a :class:`JobFailure` instead of a result.
    """
    jobs = list(jobs)
    n_workers = check_workers(workers)
    if not jobs:
        return
    if n_workers == 0:
        yield from _run_inline(fn, jobs)
        return
    n_workers = min(n_workers, len(jobs))
    context = multiprocessing.get_context("spawn")
    executor = ProcessPoolExecutor(max_workers=n_workers, mp_context=context,
                                   initializer=_worker_init)
    finished = False
    try:
        # Workers start during submit(); they inherit the single-thread environment
        # before torch or numpy is imported in them.
        with temporary_environment(SINGLE_THREAD_ENV):
            pending: dict[Future, J] = {executor.submit(call_job, fn, job): job for job in jobs}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    ok, payload = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker died (killed, out of memory)
                    yield job, JobFailure(job, type(exc).__name__, str(exc),
                                          traceback.format_exc())
                    continue
                yield job, (payload if ok else JobFailure(job, *payload))
        finished = True
    finally:
        if finished:
            executor.shutdown(wait=True)
        else:  # Ctrl-C, an error in the caller, or the caller stopped iterating
            _terminate(executor)
