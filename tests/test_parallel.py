"""Tests for the process-pool job runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gbwm_sb3.experiments.parallel import JobFailure, run_parallel


def square(x: int) -> int:
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise RuntimeError(f"bad job {x}")
    return x


def worker_settings(_: int) -> tuple[int, str | None, int]:
    import torch

    return torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS"), os.getpid()


def pid_then_sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A terminated but not yet reaped child is a zombie: count it as gone.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_all_results_arrive_with_their_jobs() -> None:
    results = dict(run_parallel(square, range(6), workers=2))
    assert results == {x: x * x for x in range(6)}


def test_inline_mode_gives_same_results() -> None:
    assert dict(run_parallel(square, [1, 2, 3], workers=0)) == {1: 1, 2: 4, 3: 9}


def test_failing_job_is_reported_and_others_finish() -> None:
    results = dict(run_parallel(fail_on_three, range(5), workers=2))
    assert [results[x] for x in (0, 1, 2, 4)] == [0, 1, 2, 4]
    failure = results[3]
    assert isinstance(failure, JobFailure)
    assert failure.job == 3
    assert failure.error_type == "RuntimeError"
    assert "bad job 3" in failure.message
    assert "fail_on_three" in failure.traceback  # the worker's own traceback
    assert "job 3" in str(failure)


def test_workers_run_one_numeric_thread_each() -> None:
    results = [result for _, result in run_parallel(worker_settings, range(4), workers=2)]
    assert all(threads == 1 for threads, _, _ in results)
    assert all(omp == "1" for _, omp, _ in results)
    assert len({pid for _, _, pid in results}) <= 2
    assert all(pid != os.getpid() for _, _, pid in results)


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_bad_worker_count_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="workers"):
        list(run_parallel(square, [1], workers=bad))  # type: ignore[arg-type]


def test_no_jobs_yields_nothing() -> None:
    assert list(run_parallel(square, [], workers=2)) == []


def test_stopping_early_terminates_workers() -> None:
    iterator = run_parallel(pid_then_sleep, [0.05, 30.0, 30.0], workers=2)
    _, first_pid = next(iterator)
    iterator.close()  # the caller stops: the 30 s jobs must not keep running
    deadline = time.monotonic() + 10
    while _alive(first_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(first_pid)


def test_ctrl_c_stops_the_parent_and_its_workers(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    pid_file = tmp_path / "pids.txt"
    script.write_text(textwrap.dedent(f"""
        import os, signal, sys, time
        from gbwm_sb3.experiments.parallel import run_parallel

        # Ctrl-C as in a terminal, even when started with SIGINT ignored (background).
        signal.signal(signal.SIGINT, signal.default_int_handler)

        def job(seconds):
            with open({str(pid_file)!r}, "a") as handle:
                handle.write(f"{{os.getpid()}}\\n")
            time.sleep(seconds)
            return seconds

        if __name__ == "__main__":
            try:
                for _ in run_parallel(job, [60.0, 60.0, 60.0], workers=2):
                    pass
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(130)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if pid_file.exists() and len(pid_file.read_text().split()) >= 2:
                break
            time.sleep(0.1)
        worker_pids = [int(p) for p in pid_file.read_text().split()]
        assert len(worker_pids) == 2
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in out
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in worker_pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in worker_pids)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_do_not_outlive_a_killed_parent(tmp_path: Path, sig: int) -> None:
    script = tmp_path / "run.py"
    pid_file = tmp_path / "pids.txt"
    script.write_text(textwrap.dedent(f"""
        import os, time
        from gbwm_sb3.experiments.parallel import run_parallel

        def job(seconds):
            with open({str(pid_file)!r}, "a") as handle:
                handle.write(f"{{os.getpid()}}\\n")
            time.sleep(seconds)
            return seconds

        if __name__ == "__main__":
            for _ in run_parallel(job, [60.0, 60.0], workers=2):
                pass
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if pid_file.exists() and len(pid_file.read_text().split()) >= 2:
                break
            time.sleep(0.1)
        worker_pids = [int(p) for p in pid_file.read_text().split()]
        proc.send_signal(sig)  # only the parent: it gets no chance to clean up (SIGKILL)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in worker_pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = [pid for pid in worker_pids if _alive(pid)]
    for pid in alive:  # do not leave a 60 s sleeper behind if the check fails
        os.kill(pid, signal.SIGKILL)
    assert not alive
