"""Sweep engines: validation, and a real Ray cluster running and resuming a sweep."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from gbwm_sb3.experiments import engines
from gbwm_sb3.experiments.engines import check_engine, run_jobs
from gbwm_sb3.experiments.sweep import SweepConfig, make_jobs, run_sweep, train_and_evaluate

SRC = Path(__file__).resolve().parents[1] / "src"


def _jobs(seeds: int = 1) -> list:
    config = SweepConfig("tiny", "paper", {"n_trajectories_per_rollout": 64})
    return make_jobs([config], [1, 2], range(seeds), n_trajectories=256, n_eval_paths=2000)


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("engine, address, message", [
    ("dask", None, "engine must be one of local, ray"),
    ("local", "127.0.0.1:6379", "address is only used with engine='ray'"),
    ("ray", "  ", "address must be 'auto'"),
])
def test_engine_and_address_are_validated(engine, address, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        check_engine(engine, address)
    with pytest.raises(ValueError, match=message):
        run_sweep(_jobs(), tmp_path / "r.jsonl", engine=engine, address=address)
    assert not (tmp_path / "r.jsonl").exists()


def test_ray_rejects_zero_workers():
    with pytest.raises(ValueError, match="workers must be >= 1 with engine='ray'"):
        list(run_jobs(abs, [1], engine="ray", workers=0))


def test_missing_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees without Ray
    with pytest.raises(ImportError, match=r'pip install "gbwm-sb3\[ray\]"'):
        list(run_jobs(abs, [1], engine="ray"))


def test_local_engine_passes_loaded_presets_files_to_workers(tmp_path, monkeypatch):
    monkeypatch.delenv("GBWM_PRESETS", raising=False)
    monkeypatch.setattr(engines, "loaded_presets_files", lambda: [str(tmp_path / "p.json")])
    results = dict(run_jobs(os.getenv, ["GBWM_PRESETS"], engine="local", workers=1))
    assert results == {"GBWM_PRESETS": str(tmp_path / "p.json")}
    assert "GBWM_PRESETS" not in os.environ


# ------------------------------------------------------------------------------ Ray cluster
def test_ray_without_address_starts_and_stops_a_local_cluster(monkeypatch):
    """No address: a new local cluster for the call (never one found on the machine), its
    tasks on one numeric thread; Ray is shut down afterwards."""
    ray = pytest.importorskip("ray", reason='Ray is an extra: pip install "gbwm-sb3[ray]"')
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")  # a cluster that does not exist
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.delenv("GBWM_TORCH_THREADS", raising=False)
    temp = tempfile.mkdtemp(prefix="gbwm-ray-", dir="/tmp")  # Ray's session files
    monkeypatch.setenv("RAY_TMPDIR", temp)
    try:
        results = dict(run_jobs(os.getenv, ["GBWM_TORCH_THREADS", "OMP_NUM_THREADS"],
                                engine="ray", workers=1))
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    assert results == {"GBWM_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1"}
    assert not ray.is_initialized()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_processes(session: int, title: bytes = b"") -> list[int]:
    """Processes of the session ``session`` (the test cluster's) whose command line
    starts with ``title``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (os.getsid(int(entry.name)) == session
                    and (entry / "cmdline").read_bytes().startswith(title)):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.fixture(scope="module")
def ray_cluster():
    """A 2-CPU Ray cluster started with `ray start --head` in a temporary folder."""
    pytest.importorskip("ray", reason='Ray is an extra: pip install "gbwm-sb3[ray]"')
    ray_bin = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    temp = tempfile.mkdtemp(prefix="gbwm-ray-", dir="/tmp")  # short: Unix socket paths
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(SRC), RAY_AUTH_MODE="disabled",
               RAY_USAGE_STATS_ENABLED="0")
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", "--num-cpus", "2", "--port", str(port),
         "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
         "--temp-dir", temp, "--disable-usage-stats"],
        env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    lines = []
    for line in head.stdout:
        lines.append(line)
        if "Ray runtime started" in line:
            break
    else:
        pytest.fail("ray start --head failed:\n" + "".join(lines))
    try:
        yield f"127.0.0.1:{port}", env, head.pid
    finally:
        for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 10)):
            try:
                os.killpg(head.pid, sig)
            except ProcessLookupError:
                break
            try:
                head.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        try:  # the cluster's services share the head's process group
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in _session_processes(head.pid):  # its workers have groups of their own
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        head.stdout.close()
        shutil.rmtree(temp, ignore_errors=True)


DRIVER = textwrap.dedent("""
    import sys
    from gbwm_sb3.experiments.sweep import SweepConfig, make_jobs, run_sweep, train_and_evaluate
    config = SweepConfig("tiny", "paper", {"n_trajectories_per_rollout": 64})
    jobs = make_jobs([config], [1, 2], range(3), n_trajectories=256, n_eval_paths=2000)
    outcome = run_sweep(jobs, sys.argv[1], engine="ray", address=sys.argv[2])
    print("RAN", outcome.ran, "SKIPPED", outcome.skipped, "FAILED", len(outcome.failures))
""")


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True) if path.exists() else []


def test_ray_sweep_resumes_after_the_driver_is_killed(ray_cluster, tmp_path):
    address, env, _ = ray_cluster
    results = tmp_path / "runs.jsonl"
    command = [sys.executable, "-c", DRIVER, str(results), address]
    driver = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while not _lines(results) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver, with no chance to clean up
    driver.wait()
    before = _lines(results)
    assert 1 <= len(before) < 6, "the first run should land before the sweep ends"

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    after = _lines(results)
    assert after[:len(before)] == before  # finished records untouched
    keys = Counter(json.loads(line)["key"] for line in after)
    assert sorted(keys) == sorted(job.key for job in make_jobs(
        [SweepConfig("tiny", "paper", {"n_trajectories_per_rollout": 64})], [1, 2], range(3),
        n_trajectories=256, n_eval_paths=2000))
    assert set(keys.values()) == {1}  # every job exactly once
    assert f"RAN {6 - len(before)} SKIPPED {len(before)} FAILED 0" in rerun.stdout
    assert "6/6" in rerun.stderr  # the progress bar counted the resumed runs to the end

    # A run on Ray gives the record the same job gives in this process.
    job = _jobs()[1]
    record = next(json.loads(line) for line in after if json.loads(line)["key"] == job.key)
    assert train_and_evaluate(job)["efficiency"] == record["efficiency"]


def _task_processes(session: int) -> list[int]:
    """Processes of the test cluster (session ``session``) running one of our Ray tasks."""
    return _session_processes(session, b"ray::_ray_job")


def test_a_killed_ray_worker_loses_no_run(ray_cluster, tmp_path):
    """A worker killed mid-run: Ray runs its job again; every job is saved exactly once."""
    address, env, session = ray_cluster
    results = tmp_path / "runs.jsonl"
    command = [sys.executable, "-c", DRIVER, str(results), address]
    driver = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    killed = None
    while killed is None and driver.poll() is None and time.monotonic() < deadline:
        running = _task_processes(session)
        if running:
            killed = running[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    output = driver.communicate(timeout=300)[0]
    assert killed is not None, "no Ray task was seen running"
    assert driver.returncode == 0, output
    assert "RAN 6 SKIPPED 0 FAILED 0" in output
    keys = Counter(json.loads(line)["key"] for line in _lines(results))
    assert len(keys) == 6 and set(keys.values()) == {1}
