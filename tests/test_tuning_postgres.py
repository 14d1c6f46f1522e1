"""Tuning on a real PostgreSQL server started for the test: shared studies, a killed worker.

The server runs from a temporary folder (initdb + pg_ctl), listens on 127.0.0.1 on a
free port only, and is stopped and deleted at the end. PostgreSQL refuses to run as
root, so as root the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import SQLAlchemyError

optuna = pytest.importorskip("optuna", reason='tuning is an extra: pip install "gbwm-sb3[tune]"')
pytest.importorskip("psycopg", reason='PostgreSQL driver: pip install "gbwm-sb3[tune]"')

SRC = Path(__file__).resolve().parents[1] / "src"
TINY = ["--n-trajectories", "64", "--seeds", "1", "--eval-paths", "500",
        "--fix", "n_trajectories_per_rollout=64", "--heartbeat", "1"]


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """URL of a throwaway PostgreSQL server (trust authentication, 127.0.0.1 only)."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        reason = "PostgreSQL server not installed (initdb not found; apt-get install postgresql)"
        print(f"SKIPPED: {reason}", file=sys.stderr)
        pytest.skip(reason)
    prefix: list[str] = []
    folder = tempfile.mkdtemp(prefix="gbwm-pg-")
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(folder, "data")
    port = _free_port()
    log = os.path.join(folder, "server.log")

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, cwd=folder)

    try:
        run(str(bin_dir / "initdb"), "-D", data, "-U", "gbwm", "--auth=trust", "-E", "UTF8")
        run(str(bin_dir / "pg_ctl"), "-D", data, "-l", log, "-w", "-t", "60", "start", "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off")
        yield f"postgresql+psycopg://gbwm@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", data, "-m", "immediate",
                        "-w", "stop"], capture_output=True, cwd=folder)
        shutil.rmtree(folder, ignore_errors=True)


def _trials(url: str, study: str) -> list:
    """The study's trials, read on a connection closed afterwards."""
    storage = optuna.storages.RDBStorage(url)
    try:
        return optuna.load_study(study_name=study, storage=storage).trials
    finally:
        storage.engine.dispose()


def _gbwm(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.Popen([sys.executable, "-m", "gbwm_sb3.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def test_two_workers_share_a_postgres_study(postgres_url):
    tune = _gbwm("tune", "paper:1", "--study", "two", "--storage", postgres_url,
                 "--trials", "4", "--workers", "2", *TINY)
    output = tune.communicate(timeout=300)[0]
    assert tune.returncode == 0, output
    trials = _trials(postgres_url, "two")
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both workers ran trials


def test_a_worker_killed_mid_trial_leaves_the_study_consistent(postgres_url, tmp_path):
    # Trials of a few seconds (20 updates of 16 epochs) to catch one running.
    worker = _gbwm("tune", "paper:1", "--study", "killed", "--storage", postgres_url,
                   "--trials", "50", *TINY, "--n-trajectories", "1280", "--fix", "n_epochs=16",
                   "--fix", "batch_size=256")
    deadline = time.monotonic() + 240
    running = None
    while time.monotonic() < deadline and worker.poll() is None:
        try:
            trials = _trials(postgres_url, "killed")
        except (KeyError, SQLAlchemyError):  # not created yet, or being created
            trials = []
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        running = [t for t in trials if t.state.name == "RUNNING"]
        if len(complete) >= 2 and running:
            break
        time.sleep(0.05)
    assert running, "no trial was seen running after two completed ones"
    os.killpg(worker.pid, signal.SIGKILL)  # no chance to report the trial
    worker.communicate()
    before = {t.number: t for t in _trials(postgres_url, "killed")}
    killed = [t.number for t in before.values() if t.state.name == "RUNNING"]
    assert killed == [running[0].number]

    time.sleep(3.5)  # past the grace period of 3 missed 1-second heartbeats
    show = _gbwm("tune", "--study", "killed", "--storage", postgres_url, "--show",
                 "--out", str(tmp_path / "front"), "--heartbeat", "1")
    output = show.communicate(timeout=120)[0]
    assert show.returncode == 0, output
    after = {t.number: t for t in _trials(postgres_url, "killed")}
    assert set(after) == set(before)
    assert after[killed[0]].state.name == "FAIL"
    for number, trial in before.items():
        if trial.state.name == "COMPLETE":  # every completed trial kept as it was
            assert after[number].state.name == "COMPLETE"
            assert after[number].values == trial.values
    assert "1 fail" in output
