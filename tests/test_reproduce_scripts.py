"""The reproduction scripts of examples/: option checks, a real tiny sweep, and tables from runs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from gbwm_sb3.experiments.sweep import ResultsFile, SweepConfig, _record

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", ["reproduce_table1", "reproduce_figure2",
                                    "reproduce_sensitivity", "reproduce_ablation"])
@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "--seeds: must be an integer >= 1, got 0"),
    (["--goals", "3"], "--goals must be among 1, 2, 4, 8, 16, got [3]"),
    (["--eval-paths", "ten"], "--eval-paths: must be an integer >= 1, got 'ten'"),
    (["--workers", "-1"], "--workers: must be an integer >= 1, got -1"),
])
def test_bad_options_are_named_with_their_range(script: str, argv: list[str], message: str,
                                                capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        load_script(script).parse_args(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_preset_is_refused(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        load_script("reproduce_table1").parse_args(["--preset", "papr"])
    assert "invalid choice: 'papr'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="preset of config 'x' must be one of paper"):
        SweepConfig("x", preset="papr")


def test_table1_trains_scores_and_writes_every_output(tmp_path: Path) -> None:
    """One real run (one rollout of the paper preset on NG = 1) through the whole script."""
    script = load_script("reproduce_table1")
    argv = ["--goals", "1", "--seeds", "1", "--trajectories", "100", "--eval-paths", "2000",
            "--workers", "1", "--no-progress", "--out", str(tmp_path)]
    assert script.main(argv) == 0
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
    assert script.main(argv) == 0
    assert len(ResultsFile(tmp_path / "runs.jsonl").load()) == 1


def _fake_results(jobs: list, path: Path, efficiency_of) -> None:
    store = ResultsFile(path)
    for job in jobs:
        store.append(_record(job, efficiency_of(job)))


def test_sensitivity_table_from_saved_runs(tmp_path: Path) -> None:
    """--report-only builds Tables II/III from the runs file: our means beside the paper's."""
    script = load_script("reproduce_sensitivity")
    argv = ["--goals", "4", "--seeds", "2", "--parameters", "learning_rate", "--out",
            str(tmp_path), "--report-only", "--no-progress"]
    jobs, _ = script.build_jobs(script.parse_args(argv))
    assert sorted({(job.config, job.n_trajectories) for job in jobs}) == [
        ("base", 50_000), ("learning_rate=0.005", 50_000), ("learning_rate=0.05", 50_000)]
    value = {"base": 0.95, "learning_rate=0.005": 0.93, "learning_rate=0.05": 0.80}
    _fake_results(jobs, tmp_path / "runs.jsonl",
                  lambda job: {"efficiency": value[job.config] + 0.002 * job.seed,
                               "train_seconds": 1.0})
    assert script.main(argv) == 0
    table = (tmp_path / "sensitivity.md").read_text()
    assert "0.951 ± 0.013 (0.961)" in table  # base: mean of 0.950, 0.952; paper NG=4 0.961
    assert "0.801 ± 0.013 (0.911)" in table  # lr 0.05
    assert (tmp_path / "sensitivity.png").stat().st_size > 0


def test_figure2_table_from_saved_runs(tmp_path: Path) -> None:
    script = load_script("reproduce_figure2")
    argv = ["--goals", "2", "--seeds", "2", "--out", str(tmp_path), "--report-only",
            "--no-progress"]
    args = script.parse_args(argv)
    from gbwm_sb3.experiments.sweep import BENCHMARK_POLICIES, make_jobs

    jobs = make_jobs([SweepConfig(args.preset, preset=args.preset)], args.goals,
                     range(2), args.trajectories, n_eval_paths=args.eval_paths, benchmarks=True)
    _fake_results(jobs, tmp_path / "runs.jsonl", lambda job: {
        "efficiency": 0.96 + 0.01 * job.seed, "train_seconds": 1.0,
        "benchmark_efficiency": {name: 0.5 + 0.1 * i for i, name in
                                 enumerate(BENCHMARK_POLICIES)}})
    assert script.main(argv) == 0
    rows = json.loads((tmp_path / "figure2.json").read_text())["rows"]
    by_strategy = {row["strategy"]: row for row in rows}
    assert by_strategy["rl"]["NG2_mean"] == pytest.approx(0.965)
    assert by_strategy["random"]["NG2_mean"] == pytest.approx(0.7)
    assert by_strategy["random"]["NG2_paper"] == pytest.approx(0.73)
    assert (tmp_path / "figure2.png").stat().st_size > 0
