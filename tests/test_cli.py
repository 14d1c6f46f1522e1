"""The ``gbwm`` command line on a tiny problem with very short training."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gbwm_sb3 import paper_problem
from gbwm_sb3.cli.main import main
from gbwm_sb3.dp import solve_dp
from gbwm_sb3.model_io import load_model_safely, read_manifest
from gbwm_sb3.problem.files import load_problem

TINY = """\
horizon: 4
initial_wealth: 10.0
goals:
  - {time: 2, cost: 6.0, utility: 5, name: early}
  - {time: 4, cost: 8.0, utility: 10, name: late}
portfolios:
  - {mean: 0.02, volatility: 0.03}
  - {mean: 0.06, volatility: 0.10}
  - {mean: 0.09, volatility: 0.20}
"""
TRAIN = ["--trajectories", "256", "--rollout-trajectories", "64", "--eval-paths", "400",
         "--eval-every", "1", "--no-progress"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("problems") / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def trained(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "tiny_run"
    assert main(["train", str(tiny), "--seed", "1", "--out", str(out), *TRAIN]) == 0
    return out


@pytest.mark.parametrize("command", [[], ["solve"], ["train"], ["evaluate"], ["plot"],
                                     ["reproduce"], ["reproduce", "table1"],
                                     ["reproduce", "ablation"], ["advise"],
                                     ["fine-tune"]])
def test_help_on_every_command(command: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: gbwm" in capsys.readouterr().out


def test_solve(tiny: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["solve", str(tiny), "--paths", "2000"]) == 0
    out = capsys.readouterr().out
    optimum = solve_dp(load_problem(tiny)).expected_utility
    assert f"Optimal expected utility: {optimum:.4f}" in out
    assert "First-year decision" in out and "early" in out and "late" in out

    assert main(["solve", "paper:2", "--json", "--paths", "2000"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["expected_utility"] == pytest.approx(solve_dp(paper_problem(2))
                                                       .expected_utility)
    assert [g["time"] for g in result["goal_success"]] == [8, 16]
    assert all(0.0 <= g["probability"] <= 1.0 for g in result["goal_success"])
    assert 1 <= result["first_year"]["portfolio"] <= 15


def test_solve_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["solve", "paper:3"]) == 2
    assert "paper:1, paper:2, paper:4, paper:8, paper:16" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("cost: 8.0", "cost: -8.0"))
    assert main(["solve", str(bad)]) == 2
    assert "bad.yaml: goals[1].cost: must be a number in [0, 1e+15]" in capsys.readouterr().err
    assert main(["solve", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    for option, value, message in [("--paths", "1", "argument --paths: must be an integer in"),
                                   ("--seed", "-3", "argument --seed: must be an integer >= 0"),
                                   ("--grid-density", "nan", "argument --grid-density")]:
        with pytest.raises(SystemExit) as info:
            main(["solve", "paper:1", option, value])
        assert info.value.code == 2
        assert message in capsys.readouterr().err


def test_train_saves_a_safe_model_directory(trained: Path, tiny: Path) -> None:
    names = {p.name for p in trained.iterdir()}
    assert {"manifest.json", "problem.yaml", "policy.pt", "model.zip", "logs", "best"} <= names
    manifest = read_manifest(trained)
    assert manifest["preset"] == "paper"
    metrics = manifest["metrics"]
    assert 0.0 < metrics["efficiency"] <= 1.05
    assert metrics["trajectories"] >= 256 and metrics["eval_paths"] == 400
    assert len(metrics["evaluation_history"]) >= 4
    model, problem = load_model_safely(trained)
    assert problem == load_problem(tiny)
    assert model.n_envs == 64
    assert (trained / "logs" / "progress.csv").read_text().count("gbwm/efficiency") == 1
    load_model_safely(trained / "best")


def test_train_refuses_to_overwrite(trained: Path, tiny: Path,
                                    capsys: pytest.CaptureFixture) -> None:
    before = (trained / "policy.pt").read_bytes()
    assert main(["train", str(tiny), "--out", str(trained), *TRAIN]) == 2
    assert "--force" in capsys.readouterr().err
    assert (trained / "policy.pt").read_bytes() == before


def test_train_force_and_option_errors(tiny: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["train", str(tiny), "--out", str(out), "--force", "--seed", "2", *TRAIN]) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert read_manifest(out)["extra"]["train_seed"] == 2
    for args, message in [(["--trajectories", "0"], "argument --trajectories"),
                          (["--preset", "bogus"], "argument --preset: invalid choice"),
                          (["--eval-every", "x"], "argument --eval-every: must be an integer")]:
        with pytest.raises(SystemExit):
            main(["train", str(tiny), "--out", str(tmp_path / "x"), *args])
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(tiny)])
    assert "--out" in capsys.readouterr().err
    hopeless = tmp_path / "hopeless.yaml"
    hopeless.write_text(TINY.replace("cost: 6.0", "cost: 600.0").replace("cost: 8.0",
                                                                         "cost: 800.0"))
    assert main(["train", str(hopeless), "--out", str(tmp_path / "h"), *TRAIN]) == 2
    assert "nothing to train for" in capsys.readouterr().err
    assert not (tmp_path / "h").exists()


def test_evaluate(trained: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", str(trained), "--paths", "2000"]) == 0
    out = capsys.readouterr().out
    for label in ("DP (optimum)", "RL (PPO)", "Greedy goals + RL portfolios",
                  "Buy-and-hold + coin-flip goals", "Random portfolios + coin-flip goals",
                  "RL goals + DP portfolios", "DP goals + RL portfolios"):
        assert label in out
    saved = json.loads((trained / "evaluation.json").read_text())
    results = saved["report"]["results"]
    assert results["dp"]["efficiency"] == pytest.approx(1.0)
    assert results["rl"]["efficiency"] == pytest.approx(
        results["rl"]["mean_utility"] / results["dp"]["mean_utility"])
    assert main(["evaluate", str(trained), "--paths", "500", "--json", "--no-save"]) == 0
    assert json.loads(capsys.readouterr().out)["report"]["n_paths"] == 500


def test_evaluate_with_the_critic_lookahead(trained: Path, capsys: pytest.CaptureFixture
                                           ) -> None:
    manifest = json.loads((trained / "manifest.json").read_text())
    assert manifest["extra"]["reward_scale"] == 1.0  # the paper preset trains unscaled
    assert main(["evaluate", str(trained), "--paths", "500", "--lookahead", "2", "--json",
                 "--no-save"]) == 0
    results = json.loads(capsys.readouterr().out)["report"]["results"]
    assert results["rl_critic_lookahead"]["efficiency"] is not None
    with pytest.raises(SystemExit):
        main(["evaluate", str(trained), "--lookahead", "65"])
    assert "--lookahead: must be an integer in [0, 64], got 65" in capsys.readouterr().err


def test_evaluate_rejects_non_model_directories(tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "manifest.json: missing" in capsys.readouterr().err


def test_plot(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "pictures"
    assert main(["plot", str(trained), "--out", str(out), "--paths", "500"]) == 0
    names = {p.name for p in out.iterdir()}
    for stem in ("policy_heatmaps", "wealth_fan_rl", "wealth_fan_dp", "goal_success",
                 "training_curves", "efficiency"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names
    assert main(["plot", str(trained), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err


def test_reproduce_runs_in_the_package_from_any_folder(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`gbwm reproduce` needs no source checkout: an empty working folder is enough."""
    monkeypatch.chdir(tmp_path)
    argv = ["reproduce", "table1", "--seeds", "1", "--goals", "1", "--trajectories", "100",
            "--eval-paths", "500", "--workers", "1", "--no-progress"]
    assert main(argv) == 0
    out = tmp_path / "gbwm-results" / "table1"
    assert {"table1.md", "table1.json", "table1.csv", "table1.png", "runs.jsonl"} <= {
        p.name for p in out.iterdir()}
    with pytest.raises(SystemExit):
        main(["reproduce", "table2"])


def test_console_entry_point_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "gbwm_sb3.cli", "--version"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("gbwm-sb3 ")


@pytest.mark.parametrize("preset", ["paper", "tuned"])
def test_commands_print_no_warnings(preset: str, tiny: Path, tmp_path: Path) -> None:
    """solve, train, evaluate and plot in a fresh process: nothing on stderr a user cannot act on.

    The rollout here is 64 trajectories x 4 years = 256 steps: the paper preset's minibatch
    of 256 divides it, and the tuned preset splits it into equal minibatches.
    """
    out = tmp_path / "run"
    train = ["train", str(tiny), "--out", str(out), "--preset", preset, *TRAIN]
    script = (
        "import sys\nfrom gbwm_sb3.cli import main\n"
        f"problem, out = {str(tiny)!r}, {str(out)!r}\n"
        "for argv in (['solve', problem, '--paths', '500'],\n"
        f"             {train!r},\n"
        "             ['evaluate', out, '--paths', '500'],\n"
        "             ['plot', out, '--paths', '500']):\n"
        "    assert main(argv) == 0, argv\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr


def test_a_regime_market_plan_trains_evaluates_and_plots_each_regime(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The CLI on a problem file with a `market: {model: regimes}` section: `solve` prints
    each regime's optimum, `plot` draws the policy maps of the other regime too."""
    plan = tmp_path / "regimes.yaml"
    plan.write_text(TINY + "market: {model: regimes, transition: [[0.8, 0.2], [0.5, 0.5]], "
                           "shock_means: [0.2, -0.8], shock_volatilities: [0.8, 1.2], "
                           "names: [calm, stressed]}\n")
    assert main(["solve", str(plan), "--paths", "500"]) == 0
    assert "Optimum starting in each regime: calm" in capsys.readouterr().out
    run = tmp_path / "run"
    assert main(["train", str(plan), "--seed", "1", "--out", str(run), *TRAIN]) == 0
    out = tmp_path / "pictures"
    assert main(["plot", str(run), "--out", str(out), "--paths", "300", "--formats",
                 "png"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"policy_heatmaps.png", "policy_heatmaps_stressed.png"} <= names
