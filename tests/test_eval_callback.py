"""GBWMEvalCallback: efficiency against DP on fixed paths, in the logger; best model kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.logger import configure

from gbwm_sb3 import paper_problem
from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation.callback import GBWMEvalCallback
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.evaluation.strategies import SB3Policy
from gbwm_sb3.model_io import load_model_safely, read_manifest
from gbwm_sb3.plots import read_progress_csv
from gbwm_sb3.ppo.presets import paper_ppo

PROBLEM = paper_problem(2)
PATHS, SEED = 3000, 7


def small_model():
    return paper_ppo(problem=PROBLEM, fast=False, seed=1, n_trajectories_per_rollout=128,
                     batch_size=128)


def test_logs_efficiency_and_keeps_the_best_model(tmp_path: Path) -> None:
    model = small_model()
    model.set_logger(configure(str(tmp_path / "log"), ["csv"]))
    dp = solve_dp(PROBLEM)
    callback = GBWMEvalCallback(eval_every=1, n_paths=PATHS, seed=SEED, dp_solution=dp,
                                best_model_dir=tmp_path / "best", preset_name="paper")
    model.learn(128 * PROBLEM.horizon * 3, callback=callback)

    # After updates 1 and 2 (at the next rollout's start) and after the last one.
    steps = [h["timesteps"] for h in callback.history]
    assert steps == [2048.0, 4096.0, 6144.0]
    final = callback.history[-1]["efficiency"]
    report = evaluate({"dp": dp, "rl": SB3Policy(model, PROBLEM)}, PROBLEM, n_paths=PATHS,
                      seed=SEED)
    assert final == pytest.approx(report["rl"].efficiency, rel=1e-12)
    assert all(0.0 < h["efficiency"] <= 1.05 for h in callback.history)

    progress = read_progress_csv(tmp_path / "log" / "progress.csv")
    logged = progress["gbwm/efficiency"][np.isfinite(progress["gbwm/efficiency"])]
    np.testing.assert_allclose(logged, [h["efficiency"] for h in callback.history])

    best = max(h["efficiency"] for h in callback.history)
    assert callback.best_efficiency == best
    loaded, problem = load_model_safely(tmp_path / "best")
    assert read_manifest(tmp_path / "best")["metrics"]["efficiency"] == pytest.approx(best)
    again = evaluate({"dp": dp, "rl": SB3Policy(loaded, problem)}, problem, n_paths=PATHS,
                     seed=SEED)
    assert again["rl"].efficiency == pytest.approx(best, rel=1e-12)


def test_eval_every_and_no_saving(tmp_path: Path) -> None:
    model = small_model()
    callback = GBWMEvalCallback(eval_every=2, n_paths=500, seed=0)
    model.learn(128 * PROBLEM.horizon * 5, callback=callback)
    # After updates 2 and 4 (at the next rollout's start) and after the last one (5).
    assert [h["timesteps"] for h in callback.history] == [4096.0, 8192.0, 10240.0]
    assert callback.problem == PROBLEM
    assert not any(tmp_path.iterdir())


def test_refuses_an_existing_best_model_dir(tmp_path: Path) -> None:
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "keep.txt").write_text("mine")
    callback = GBWMEvalCallback(n_paths=200, best_model_dir=tmp_path / "best")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        small_model().learn(128 * PROBLEM.horizon, callback=callback)
    assert (tmp_path / "best" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("kwargs, message", [
    ({"eval_every": 0}, "eval_every must be an integer >= 1"),
    ({"n_paths": 1.5}, "n_paths must be an integer >= 1"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"problem": "paper"}, "problem must be a GBWMProblem"),
])
def test_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GBWMEvalCallback(**kwargs)
