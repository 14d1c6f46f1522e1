"""Tests for the resumable sweep runner (with fast fake job functions)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from gbwm_sb3.experiments.sweep import ResultsFile, SweepConfig, make_jobs, run_sweep, summarize

CONFIGS = [SweepConfig("paper"), SweepConfig("small", overrides={"learning_rate": 0.005})]


def fake_job(job) -> dict:
    """Stands in for training: deterministic numbers, and a log of what actually ran."""
    log = os.environ.get("FAKE_JOB_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(job.key + "\n")
    if job.seed == 99:
        raise RuntimeError("diverged")
    return {"efficiency": 0.9 + 0.01 * job.seed + 0.001 * job.num_goals, "train_seconds": 0.5}


def test_make_jobs_is_the_full_grid_seed_major() -> None:
    jobs = make_jobs(CONFIGS, [2, 4], range(3), n_trajectories=1000)
    assert len(jobs) == 2 * 2 * 3
    assert len({job.key for job in jobs}) == len(jobs)
    assert [job.seed for job in jobs[:4]] == [0, 0, 0, 0]
    assert jobs[1].overrides == {} and jobs[2].overrides == {"learning_rate": 0.005}


@pytest.mark.parametrize("kwargs, field", [
    ({"num_goals": [0]}, "num_goals"),
    ({"seeds": [-1]}, "seeds"),
    ({"n_trajectories": 0}, "n_trajectories"),
    ({"configs": []}, "configs"),
])
def test_make_jobs_rejects_bad_input(kwargs: dict, field: str) -> None:
    args = {"configs": CONFIGS, "num_goals": [2], "seeds": [0], "n_trajectories": 100, **kwargs}
    with pytest.raises(ValueError, match=field):
        make_jobs(**args)


def test_config_rejects_unserialisable_overrides() -> None:
    with pytest.raises(ValueError, match="JSON"):
        SweepConfig("bad", overrides={"activation_fn": object()})


def test_key_depends_on_overrides_and_budget() -> None:
    a = make_jobs([SweepConfig("c", overrides={"x": 1})], [2], [0], 100)[0]
    b = make_jobs([SweepConfig("c", overrides={"x": 2})], [2], [0], 100)[0]
    c = make_jobs([SweepConfig("c", overrides={"x": 1})], [2], [0], 200)[0]
    assert len({a.key, b.key, c.key}) == 3


def test_rerun_skips_finished_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "ran.log"
    monkeypatch.setenv("FAKE_JOB_LOG", str(log))
    results = tmp_path / "results.jsonl"
    jobs = make_jobs(CONFIGS, [2, 4], range(2), n_trajectories=100)
    first = run_sweep(jobs, results, job_fn=fake_job, workers=0, progress=False)
    assert first.ran == len(jobs) and first.skipped == 0 and not first.failures
    assert len(log.read_text().split()) == len(jobs)
    record = next(r for r in first.records if r["config"] == "small" and r["seed"] == 1)
    assert record["overrides"] == {"learning_rate": 0.005}
    assert record["efficiency"] == pytest.approx(0.9 + 0.01 + 0.001 * record["num_goals"])

    more = make_jobs(CONFIGS, [2, 4], range(3), n_trajectories=100)
    second = run_sweep(more, results, job_fn=fake_job, workers=0, progress=False)
    assert second.skipped == len(jobs) and second.ran == len(more) - len(jobs)
    ran = log.read_text().split()
    assert len(ran) == len(more) and len(set(ran)) == len(more)  # nothing ran twice
    assert len(second.records) == len(more)


def test_failed_job_is_reported_not_saved_and_retried(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "results.jsonl"
    jobs = make_jobs([SweepConfig("paper")], [2], [0, 99], n_trajectories=100)
    outcome = run_sweep(jobs, results, job_fn=fake_job, workers=0, progress=False)
    assert len(outcome.failures) == 1 and "diverged" in outcome.failures[0].traceback
    assert [r["seed"] for r in ResultsFile(results).load()] == [0]
    log = tmp_path / "ran.log"
    monkeypatch.setenv("FAKE_JOB_LOG", str(log))
    run_sweep(jobs, results, job_fn=fake_job, workers=0, progress=False)
    assert log.read_text().split() == [jobs[1].key]  # only the failed one is retried


def test_cut_short_last_line_is_skipped_and_never_damages_records(tmp_path: Path) -> None:
    store = ResultsFile(tmp_path / "r.jsonl")
    store.append({"key": "a", "efficiency": 0.97})
    with store.path.open("ab") as handle:
        handle.write(b'{"key": "b", "effic')  # a write interrupted by a crash
    assert [r["key"] for r in store.load()] == ["a"]
    store.append({"key": "b", "efficiency": 0.98})
    assert [r["key"] for r in store.load()] == ["a", "b"]
    assert store.path.read_bytes().startswith(b'{"efficiency": 0.97, "key": "a"}\n{"key": "b"')


def test_summary_statistics_match_numpy_and_scipy() -> None:
    values = [0.95, 0.97, 0.99, 0.96, 0.985]
    records = [{"config": "p", "num_goals": 2, "efficiency": v, "train_seconds": 10.0 + i}
               for i, v in enumerate(values)]
    records.append({"config": "p", "num_goals": 4, "efficiency": 0.9, "train_seconds": 1.0})
    rows = {row["num_goals"]: row for row in summarize(records)}
    row = rows[2]
    v = np.array(values)
    half = stats.t.ppf(0.975, 4) * v.std(ddof=1) / math.sqrt(5)
    assert row["n"] == 5
    assert row["mean"] == pytest.approx(v.mean())
    assert row["median"] == pytest.approx(0.97)
    assert row["sd"] == pytest.approx(v.std(ddof=1))
    assert row["skewness"] == pytest.approx(stats.skew(v, bias=False))
    assert (row["min"], row["max"]) == (0.95, 0.99)
    assert row["ci_low"] == pytest.approx(v.mean() - half)
    assert row["ci_high"] == pytest.approx(v.mean() + half)
    assert row["mean_train_seconds"] == pytest.approx(12.0)
    assert rows[4]["n"] == 1 and math.isnan(rows[4]["sd"])


SWEEP_SCRIPT = """
import os, signal, sys, time
from gbwm_sb3.experiments.sweep import SweepConfig, make_jobs, run_sweep

# Ctrl-C raises KeyboardInterrupt as in a terminal, even if the test runner was started
# in the background (where shells start children with SIGINT ignored).
signal.signal(signal.SIGINT, signal.default_int_handler)

def slow_job(job):
    with open(os.environ["FAKE_JOB_LOG"], "a") as handle:
        handle.write(job.key + "\\n")
    time.sleep(float(os.environ.get("FAKE_JOB_SECONDS", "0.3")))
    return {"efficiency": 0.95 + 0.001 * job.seed, "train_seconds": 0.3}

if __name__ == "__main__":
    jobs = make_jobs([SweepConfig("paper")], [2, 4], range(8), n_trajectories=100)
    try:
        outcome = run_sweep(jobs, sys.argv[1], job_fn=slow_job, workers=2, progress=True)
    except KeyboardInterrupt:
        sys.exit(130)
    print("done", outcome.ran, outcome.skipped, flush=True)
"""


def _start_sweep(script: Path, results: Path, log: Path, seconds: float) -> subprocess.Popen:
    env = {**os.environ, "FAKE_JOB_LOG": str(log), "FAKE_JOB_SECONDS": str(seconds)}
    return subprocess.Popen([sys.executable, str(script), str(results)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for_lines(path: Path, count: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {count} lines")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_sweep_loses_no_finished_run_and_resumes(tmp_path: Path, sig: int) -> None:
    script = tmp_path / "sweep_script.py"
    script.write_text(textwrap.dedent(SWEEP_SCRIPT))
    results = tmp_path / "results.jsonl"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"

    proc = _start_sweep(script, results, first_log, seconds=0.3)
    try:
        _wait_for_lines(results, 4, proc)
        os.killpg(proc.pid, sig)  # SIGINT to the group = Ctrl-C in a terminal
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "interrupted" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    before = results.read_bytes()
    saved = [record["key"] for record in ResultsFile(results).load()]
    assert 4 <= len(saved) < 16

    proc = _start_sweep(script, results, second_log, seconds=0.0)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.split() == ["done", str(16 - len(saved)), str(len(saved))]
    after = results.read_bytes()
    assert after.startswith(before)  # appended to, never truncated or rewritten
    final = [json.loads(line)["key"] for line in after.splitlines()]
    assert len(final) == len(set(final)) == 16  # every run exactly once
    rerun = set(second_log.read_text().split())
    assert not rerun & set(saved)  # no finished run was redone


def test_real_training_job_end_to_end(tmp_path: Path) -> None:
    """The default job on a tiny budget: trains, scores against DP, saves one record."""
    config = SweepConfig("tiny", overrides={"n_trajectories_per_rollout": 64, "batch_size": 64,
                                            "activation_fn": "relu"})
    jobs = make_jobs([config], [2], [0], n_trajectories=256, n_eval_paths=2000, benchmarks=True)
    outcome = run_sweep(jobs, tmp_path / "r.jsonl", workers=0, progress=False)
    assert not outcome.failures, outcome.failures
    (record,) = outcome.records
    assert 0.0 < record["efficiency"] <= 1.05
    assert record["efficiency"] == pytest.approx(record["rl_utility"] / record["dp_utility"])
    assert 30.0 < record["dp_utility"] < 40.0  # the paper: about 35.0 for NG = 2
    assert record["total_timesteps"] == 256 * 16
    assert set(record["benchmark_efficiency"]) == {
        "greedy_goals_rl_portfolios", "buy_and_hold_coin_flip", "random",
        "dp_portfolios_rl_goals", "rl_portfolios_dp_goals"}
    assert 0.5 < record["benchmark_efficiency"]["random"] < 0.9


def test_key_changes_when_a_preset_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    from gbwm_sb3.ppo import registry

    before = make_jobs([SweepConfig("t", preset="tuned")], [2], [0], 100)[0]
    changed = registry.Preset("tuned", "test", {**registry.TUNED_HYPERPARAMS, "gae_lambda": 0.5})
    monkeypatch.setitem(registry.PRESETS, "tuned", changed)
    after = make_jobs([SweepConfig("t", preset="tuned")], [2], [0], 100)[0]
    assert before.key != after.key
    assert before.preset_fingerprint.startswith("tuned:")


def test_key_changes_when_the_observation_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs trained on another observation layout are not taken for runs of this one."""
    from gbwm_sb3.envs import observation

    before = make_jobs([SweepConfig("p", preset="paper")], [2], [0], 100)[0]
    monkeypatch.setattr(observation, "OBSERVATION_FEATURES", observation.OBSERVATION_FEATURES[:4])
    after = make_jobs([SweepConfig("p", preset="paper")], [2], [0], 100)[0]
    assert before.key != after.key


def test_report_only_runs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "results.jsonl"
    jobs = make_jobs([SweepConfig("paper")], [2], [0, 1, 2], n_trajectories=100)
    run_sweep(jobs[:2], results, job_fn=fake_job, workers=0, progress=False)
    log = tmp_path / "ran.log"
    monkeypatch.setenv("FAKE_JOB_LOG", str(log))
    outcome = run_sweep(jobs, results, job_fn=fake_job, workers=0, progress=False, run=False)
    assert not log.exists()
    assert sorted(r["seed"] for r in outcome.records) == [0, 1] and outcome.ran == 0
