"""Tuning with Optuna on real storage: SQLite studies shared by processes, presets export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason='tuning is an extra: pip install "gbwm-sb3[tune]"')

from gbwm_sb3.cli.main import main  # noqa: E402
from gbwm_sb3.experiments import tuning  # noqa: E402
from gbwm_sb3.ppo import registry  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"
# Tiny trials: one rollout of 64 trajectories (the rest of the search space is searched).
TINY = ["--n-trajectories", "64", "--seeds", "1", "--eval-paths", "500",
        "--fix", "n_trajectories_per_rollout=64"]


def _gbwm(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    environment = dict(os.environ, PYTHONPATH=str(SRC), **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "gbwm_sb3.cli", *args], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def fresh_registry(monkeypatch):
    """Presets registered by a test stay in that test."""
    monkeypatch.setattr(registry, "PRESETS", dict(registry.PRESETS))
    monkeypatch.setattr(registry, "_LOADED_FILES", [])
    monkeypatch.delenv("GBWM_PRESETS", raising=False)


# ------------------------------------------------------------------------------ search space
def test_known_points_are_the_presets():
    """The first trials of a study are the paper and tuned presets, exactly."""
    from gbwm_sb3.ppo.hyperparams import resolve_hyperparams

    for name, point in tuning.KNOWN_POINTS.items():
        overrides = tuning.params_to_overrides(point)
        preset = registry.get_preset(name)
        for key, value in preset.overrides.items():
            if key == "decision_goal_head":  # no effect on the paper problems studied
                assert value == "crowded" and "decision_goal_head" not in overrides, name
                continue
            if key == "portfolio_given_goal" and not isinstance(value, bool):
                # rows per decision from N >= 3 decisions a year: none on the paper problems
                assert value >= 3 and overrides[key] is False, name
                continue
            if key == "n_minibatches":  # the same minibatch on the paper's 16-year horizon
                rollout_steps = overrides["n_trajectories_per_rollout"] * 16
                assert overrides["batch_size"] * value == rollout_steps, name
                continue
            assert overrides[key] == value, (name, key)
        hp = resolve_hyperparams(**{k: v for k, v in overrides.items()
                                    if k in registry.HYPERPARAMETER_NAMES})
        assert hp["net_arch"] == {"pi": [64, 64], "vf": [64, 64]}
        assert overrides["learning_rate_schedule"] == "linear"
        assert overrides.get("portfolio_degree") == preset.overrides.get("portfolio_degree")
        assert overrides["reward_scale"] == preset.overrides.get("reward_scale")
        for key, spec in tuning.SEARCH_SPACE.items():  # inside the search space
            if spec[0] == "categorical":
                assert point[key] in spec[1]
            else:
                assert spec[1] <= point[key] <= spec[2]


def test_settings_are_validated():
    with pytest.raises(ValueError, match="problems must be a non-empty list"):
        tuning.TuneSettings(problems=())
    with pytest.raises(ValueError, match="seeds must be an integer >= 1"):
        tuning.TuneSettings(problems=("paper:1",), seeds=0)
    with pytest.raises(ValueError, match="sampler must be one of nsga2, tpe"):
        tuning.TuneSettings(problems=("paper:1",), sampler="cmaes")


# ------------------------------------------------------------------------------ CLI validation
@pytest.mark.parametrize("args, message", [
    (["--study", "s", "--trials", "0"], "--trials: must be an integer in [1, 100000]"),
    (["--study", "s", "--trials", "1", "--workers", "0"], "--workers: must be an integer in"),
    (["--study", "s", "--trials", "1", "--seeds", "x"], "--seeds: must be an integer"),
    (["--study", "s", "--trials", "1", "--sampler", "cmaes"], "--sampler: invalid choice"),
    (["--study", "s", "--storage", "nonsense", "--show"], "--storage: must be an SQLAlchemy URL"),
    (["--study", "s", "--trials", "1", "--heartbeat", "0"], "--heartbeat: must be a number in"),
    (["--study", " ", "--show"], "--study: must be a non-empty name"),
    (["--study", "s", "--show", "--fix", "n_epoch=4"], "--fix: fixed parameter 'n_epoch' is"),
    (["--study", "s", "--show", "--fix", "n_epochs=0.5"], "n_epochs=0.5: expected an integer"),
    (["--study", "s", "--show", "--fix", "n_epochs"], "--fix: expected NAME=VALUE"),
])
def test_cli_options_are_validated(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--study", "s"], "nothing to do: give --trials N"),
    (["--study", "s", "--trial", "3", "--show"], "--trial selects the trial for --export-preset"),
    (["--study", "s", "--export-preset", "Bad Name"], "--export-preset must be lower-case"),
    (["--study", "s", "--trials", "1"], "PROBLEM is needed to run trials"),
    (["paper:3", "--study", "s", "--trials", "1"], "paper:3"),
    (["--study", "missing", "--show"], "--study 'missing': no such study"),
])
def test_cli_usage_errors(args, message, capsys, tmp_path):
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert main(["tune", *args, "--storage", storage]) == 2
    assert message in capsys.readouterr().err


def test_joining_a_study_with_other_settings_is_refused(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    settings = tuning.TuneSettings(problems=("paper:1",), n_trajectories=64, seeds=1,
                                   n_eval_paths=500)
    tuning.load_study(tuning.make_storage(storage), "s", settings)
    assert main(["tune", "paper:2", "--study", "s", "--storage", storage, "--trials", "1",
                 *TINY]) == 2
    err = capsys.readouterr().err
    assert "study 's' was created with other settings" in err
    assert "problems: study has ['paper:1'], asked ['paper:2']" in err


# ------------------------------------------------------------------------------ SQLite studies
def test_two_tune_processes_share_one_sqlite_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = ["tune", "paper:1", "--study", "shared", "--storage", storage, "--trials", "3",
            "--population", "4", *TINY]
    first, second = _gbwm(*args), _gbwm(*args)
    outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs

    assert optuna.study.get_all_study_names(storage) == ["shared"]
    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.trials
    assert len(trials) == 6  # 3 + 3: nothing lost, nothing counted twice
    assert sorted(t.number for t in trials) == list(range(6))
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    for trial in trials:
        efficiency, seconds = trial.values
        assert 0.0 < efficiency <= 1.2 and seconds > 0.0
        assert trial.user_attrs["efficiency"] == efficiency
    # The process that created the study queued the paper and tuned presets, once.
    assert [t.user_attrs.get("origin") for t in trials].count("known") == 2


def test_tpe_study_with_pruning_runs(tmp_path):
    storage = f"sqlite:///{tmp_path / 'tpe.db'}"
    assert main(["tune", "paper:1", "--study", "t", "--storage", storage, "--trials", "3",
                 "--sampler", "tpe", "--population", "2", *TINY, "--n-trajectories", "256",
                 ]) == 0
    study = optuna.load_study(study_name="t", storage=storage)
    assert len(study.directions) == 1
    assert {t.state.name for t in study.trials} <= {"COMPLETE", "PRUNED"}
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert complete and all(len(t.intermediate_values) == 4 for t in complete)


def test_show_and_export_round_trip(tmp_path, capsys, fresh_registry):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    assert main(["tune", "paper:1", "paper:2", "--study", "s", "--storage", storage,
                 "--trials", "2", *TINY]) == 0
    out = tmp_path / "front"
    presets_file = tmp_path / "presets.json"
    assert main(["tune", "--study", "s", "--storage", storage, "--show", "--out", str(out),
                 "--export-preset", "mine", "--trial", "1",
                 "--preset-file", str(presets_file)]) == 0
    printed = capsys.readouterr().out
    assert "| trial | efficiency | train s | paper:1 | paper:2 |" in printed
    for name in ("front.csv", "trials.csv", "front.json", "front.md", "front.png"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "front.json").read_text())
    assert summary["states"] == {"complete": 2}

    # Trial 1 is the enqueued `tuned` preset: the exported preset has its settings.
    data = json.loads(presets_file.read_text())
    entry = data["presets"]["mine"]
    assert entry["source"]["trial"] == 1 and entry["fast"] is True
    assert entry["overrides"]["n_epochs"] == 16 and entry["overrides"]["portfolio_degree"] == 2
    assert entry["overrides"]["n_trajectories_per_rollout"] == 64  # held by --fix
    assert main(["tune", "--study", "s", "--storage", storage, "--export-preset", "mine",
                 "--preset-file", str(presets_file)]) == 2
    assert "already holds a preset 'mine'" in capsys.readouterr().err

    # Usable everywhere presets are: make_preset_model, a sweep, `gbwm train`.
    from gbwm_sb3.experiments.sweep import SweepConfig, make_jobs, run_sweep
    from gbwm_sb3.ppo.presets import make_preset_model

    registry.load_presets(presets_file)
    model = make_preset_model("mine")
    assert model.n_epochs == 16 and model.batch_size == 960 and model.n_envs == 64
    jobs = make_jobs([SweepConfig("mine", "mine")], [1],
                     [0], n_trajectories=64, n_eval_paths=500)
    outcome = run_sweep(jobs, tmp_path / "runs.jsonl", workers=1, progress=False)
    assert outcome.ran == 1 and not outcome.failures
    assert outcome.records[0]["preset_fingerprint"].startswith("mine:")
    train = _gbwm("train", "paper:1", "--preset", "mine", "--out", str(tmp_path / "model"),
                  "--trajectories", "64", "--eval-paths", "200", "--no-progress",
                  env={"GBWM_PRESETS": str(presets_file)})
    output = train.communicate(timeout=300)[0]
    assert train.returncode == 0, output
    assert "Training preset 'mine'" in output


def test_presets_file_errors(tmp_path, fresh_registry):
    bad = tmp_path / "bad.json"
    bad.write_text('{"presets": {}}')
    with pytest.raises(ValueError, match="must be a JSON object with \"format\""):
        registry.load_presets(bad)
    clash = tmp_path / "clash.json"
    clash.write_text(json.dumps({"format": registry.PRESETS_FILE_FORMAT, "presets": {
        "paper": {"description": "x", "overrides": {"n_epochs": 8}}}}))
    with pytest.raises(ValueError, match="'paper' is a built-in preset name"):
        registry.load_presets(clash)
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"format": registry.PRESETS_FILE_FORMAT, "presets": {
        "x": {"description": "x", "overrides": {"n_epoch": 8}}}}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['n_epoch'\]"):
        registry.load_presets(unknown)
