"""Engines that run independent jobs: the local process pool and a Ray cluster.

Both yield ``(job, result)`` pairs in completion order, a :class:`JobFailure` in place
of the result of a job that raised, so :func:`gbwm_sb3.experiments.sweep.run_sweep`
can append each record the moment its job ends whatever the engine.

``"local"`` (the default) is :func:`gbwm_sb3.experiments.parallel.run_parallel`.
``"ray"`` runs one Ray task per job, each with one CPU and one torch thread, on the
cluster at ``address`` (``"auto"``: the one started on this machine by ``ray start``;
``None``: a local cluster started for the call and stopped after it). Ray is an extra:
``pip install "gbwm-sb3[ray]"``.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from gbwm_sb3.experiments.parallel import (
    SINGLE_THREAD_ENV,
    JobFailure,
    call_job,
    check_workers,
    run_parallel,
    temporary_environment,
)
from gbwm_sb3.ppo.registry import USER_PRESETS_ENV, loaded_presets_files

__all__ = ["ENGINES", "RAY_INSTALL_HINT", "check_engine", "presets_env", "run_jobs", "run_ray"]

J = TypeVar("J")
R = TypeVar("R")

#: Names accepted by ``engine``.
ENGINES: tuple[str, ...] = ("local", "ray")
RAY_INSTALL_HINT = 'pip install "gbwm-sb3[ray]"'


def check_engine(engine: str, address: str | None = None) -> None:
    """Validate ``engine`` and ``address`` (ValueError naming the argument)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if address is None:
        return
    if engine != "ray":
        raise ValueError(f"address is only used with engine='ray' (the address of a Ray "
                         f"cluster), got address={address!r} with engine={engine!r}")
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"address must be 'auto', 'HOST:PORT' or 'ray://HOST:PORT', "
                         f"got {address!r}")


def run_jobs(fn: Callable[[J], R], jobs: Iterable[J], engine: str = "local",
             workers: int | None = None, address: str | None = None,
             ) -> Iterator[tuple[J, R | JobFailure]]:
    """Run ``fn(job)`` for every job on ``engine``; yield ``(job, result)`` as each ends.

    ``workers``: with ``"local"`` the number of processes (``0``: this process);
    with ``"ray"`` the most jobs in flight at once (default: as many as the cluster
    has CPUs).
    """
    check_engine(engine, address)
    if engine == "ray":
        return run_ray(fn, jobs, address=address, workers=workers)
    return _run_local(fn, jobs, workers)


def presets_env() -> dict[str, str]:
    """``GBWM_PRESETS`` naming every presets file this process knows, so that workers
    register the same presets (empty when there is none)."""
    paths = [p for p in os.environ.get(USER_PRESETS_ENV, "").split(os.pathsep) if p]
    paths += [p for p in loaded_presets_files() if p not in paths]
    return {USER_PRESETS_ENV: os.pathsep.join(paths)} if paths else {}


def _run_local(fn: Callable[[J], R], jobs: Iterable[J], workers: int | None,
               ) -> Iterator[tuple[J, R | JobFailure]]:
    with temporary_environment(presets_env()):  # read by the workers as they start
        yield from run_parallel(fn, jobs, workers=workers)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise ImportError(f"engine='ray' needs Ray, which is not installed ({err}); "
                          f"install it with: {RAY_INSTALL_HINT}") from None
    return ray


def _ray_job(fn: Callable[[Any], Any], job: Any) -> tuple[bool, Any]:
    """The body of one Ray task: one torch thread, then ``fn(job)`` as in the local pool."""
    os.environ.update(SINGLE_THREAD_ENV)
    from gbwm_sb3.common.threads import configure_torch_threads

    configure_torch_threads(1)
    return call_job(fn, job)


def _runtime_env() -> dict[str, Any]:
    """Environment of the Ray workers: one numeric thread, the presets files (which must
    be readable at the same path on every node)."""
    return {"env_vars": {**SINGLE_THREAD_ENV, **presets_env()}}


def run_ray(fn: Callable[[J], R], jobs: Iterable[J], address: str | None = None,
            workers: int | None = None) -> Iterator[tuple[J, R | JobFailure]]:
    """Run ``fn(job)`` as one Ray task per job (1 CPU each); yield results as they end.

    Connects to the cluster at ``address`` (or starts a local one, with ``workers``
    CPUs when given) unless Ray is already initialised in this process. A task whose
    worker dies is retried by Ray once, then reported as a :class:`JobFailure`. When
    the caller stops early (Ctrl-C, an error) the tasks still pending are cancelled.
    """
    jobs = list(jobs)
    check_engine("ray", address)
    if workers is not None:
        workers = check_workers(workers)
        if workers == 0:
            raise ValueError("workers must be >= 1 with engine='ray' (0 means 'in this "
                             "process', which only the local engine does)")
    if not jobs:
        return
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        # "local": a new cluster for this call, never one found on the machine.
        init_kwargs: dict[str, Any] = dict(address=address or "local",
                                           runtime_env=_runtime_env(),
                                           include_dashboard=False, log_to_driver=True,
                                           logging_level=logging.WARNING, configure_logging=True)
        if address is None and workers is not None:
            init_kwargs["num_cpus"] = workers
        ray.init(**init_kwargs)
    remote = ray.remote(num_cpus=1, max_retries=1)(_ray_job)
    limit = len(jobs) if workers is None else workers
    queue = list(reversed(jobs))
    pending: dict[Any, J] = {}
    finished = False
    try:
        fn_ref = ray.put(fn)
        while queue or pending:
            while queue and len(pending) < limit:
                job = queue.pop()
                pending[remote.remote(fn_ref, job)] = job
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                try:
                    ok, payload = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - the task's worker died
                    yield job, JobFailure(job, type(exc).__name__, str(exc),
                                          traceback.format_exc())
                    continue
                yield job, (payload if ok else JobFailure(job, *payload))
        finished = True
    finally:
        if not finished:
            for ref in pending:
                ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()
