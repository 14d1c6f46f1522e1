"""The reproductions (``gbwm reproduce``, examples/reproduce_*.py): option checks, a real
tiny sweep, and tables built from saved runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gbwm_sb3.cli import main
from gbwm_sb3.experiments.figure2 import reproduce_figure2
from gbwm_sb3.experiments.options import SweepOptions
from gbwm_sb3.experiments.sensitivity import build_jobs, reproduce_sensitivity
from gbwm_sb3.experiments.sweep import (
    BENCHMARK_POLICIES,
    ResultsFile,
    SweepConfig,
    _record,
    make_jobs,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("experiment", ["table1", "figure2", "sensitivity", "ablation"])
@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "--seeds: must be an integer >= 1, got 0"),
    (["--goals", "3"], "--goals must be among 1, 2, 4, 8, 16, got [3]"),
    (["--eval-paths", "ten"], "--eval-paths: must be an integer >= 1, got 'ten'"),
    (["--workers", "-1"], "--workers: must be an integer >= 1, got -1"),
    (["--engine", "spark"], "--engine: invalid choice: 'spark'"),
    (["--address", "127.0.0.1:6379"], "--address needs --engine ray"),
])
def test_bad_options_are_named_with_their_range(experiment: str, argv: list[str], message: str,
                                                capsys: pytest.CaptureFixture) -> None:
    try:
        status = main(["reproduce", experiment, "--no-progress", *argv])
    except SystemExit as info:  # argparse's own errors
        status = info.code
    assert status == 2
    assert message in capsys.readouterr().err


def test_unknown_preset_is_refused(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["reproduce", "table1", "--preset", "papr"])
    assert "invalid choice: 'papr'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="config 'x': preset must be one of paper"):
        SweepConfig("x", preset="papr")


def test_options_are_validated_in_code_too(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="goals must be among 1, 2, 4, 8, 16"):
        SweepOptions(seeds=[0], goals=[3], out=tmp_path)
    with pytest.raises(ValueError, match="seeds must hold at least one seed"):
        SweepOptions(seeds=[], out=tmp_path)
    with pytest.raises(ValueError, match="parameters must be among"):
        reproduce_sensitivity(SweepOptions(seeds=[0], out=tmp_path), parameters=["gamma"])


def test_table1_script_trains_scores_and_writes_every_output(tmp_path: Path) -> None:
    """One real run (one rollout of the paper preset on NG = 1) through the example script."""
    argv = ["--goals", "1", "--seeds", "1", "--trajectories", "100", "--eval-paths", "2000",
            "--workers", "1", "--no-progress", "--out", str(tmp_path)]
    script = [sys.executable, str(EXAMPLES / "reproduce_table1.py"), *argv]
    result = subprocess.run(script, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    for name in ("table1.csv", "table1.json", "table1.md", "table1.png", "runs.jsonl"):
        assert (tmp_path / name).stat().st_size > 0, name
    rows = json.loads((tmp_path / "table1.json").read_text())["rows"]
    assert [(r["config"], r["num_goals"], r["n"]) for r in rows] == [("paper", 1, 1)]
    record = ResultsFile(tmp_path / "runs.jsonl").load()[0]
    assert 0.3 < record["efficiency"] <= 1.01
    assert rows[0]["mean"] == pytest.approx(record["efficiency"])
    # The paper's numbers are shown only at the paper's budget.
    assert "paper_mean" not in rows[0]
    # A rerun trains nothing: the run is already in the results file.
    assert main(["reproduce", "table1", *argv]) == 0
    assert len(ResultsFile(tmp_path / "runs.jsonl").load()) == 1


def _fake_results(jobs: list, path: Path, efficiency_of) -> None:
    store = ResultsFile(path)
    for job in jobs:
        store.append(_record(job, efficiency_of(job)))


def test_sensitivity_table_from_saved_runs(tmp_path: Path) -> None:
    """--report-only builds Tables II/III from the runs file: our means beside the paper's."""
    options = SweepOptions(seeds=range(2), goals=[4], out=tmp_path, report_only=True,
                           progress=False)
    jobs, _ = build_jobs(options, "paper", ["learning_rate"])
    assert sorted({(job.config, job.n_trajectories) for job in jobs}) == [
        ("base", 50_000), ("learning_rate=0.005", 50_000), ("learning_rate=0.05", 50_000)]
    value = {"base": 0.95, "learning_rate=0.005": 0.93, "learning_rate=0.05": 0.80}
    _fake_results(jobs, tmp_path / "runs.jsonl",
                  lambda job: {"efficiency": value[job.config] + 0.002 * job.seed,
                               "train_seconds": 1.0})
    argv = ["reproduce", "sensitivity", "--goals", "4", "--seeds", "2", "--parameters",
            "learning_rate", "--out", str(tmp_path), "--report-only", "--no-progress"]
    assert main(argv) == 0
    table = (tmp_path / "sensitivity.md").read_text()
    assert "0.951 ± 0.013 (0.961)" in table  # base: mean of 0.950, 0.952; paper NG=4 0.961
    assert "0.801 ± 0.013 (0.911)" in table  # lr 0.05
    assert (tmp_path / "sensitivity.png").stat().st_size > 0


def test_figure2_table_from_saved_runs(tmp_path: Path) -> None:
    options = SweepOptions(seeds=range(2), goals=[2], out=tmp_path, report_only=True,
                           progress=False)
    jobs = make_jobs([SweepConfig("paper", preset="paper")], [2], range(2), 50_000,
                     n_eval_paths=100_000, benchmarks=True)
    _fake_results(jobs, tmp_path / "runs.jsonl", lambda job: {
        "efficiency": 0.96 + 0.01 * job.seed, "train_seconds": 1.0,
        "benchmark_efficiency": {name: 0.5 + 0.1 * i for i, name in
                                 enumerate(BENCHMARK_POLICIES)}})
    assert reproduce_figure2(options) == 0
    rows = json.loads((tmp_path / "figure2.json").read_text())["rows"]
    by_strategy = {row["strategy"]: row for row in rows}
    assert by_strategy["rl"]["NG2_mean"] == pytest.approx(0.965)
    assert by_strategy["random"]["NG2_mean"] == pytest.approx(0.7)
    assert by_strategy["random"]["NG2_paper"] == pytest.approx(0.73)
    assert (tmp_path / "figure2.png").stat().st_size > 0
