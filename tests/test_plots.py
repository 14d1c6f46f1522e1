"""Plots: the data behind them is right, and every figure writes PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gbwm_sb3 import paper_problem
from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.evaluation.strategies import BuyAndHold, GreedyGoals
from gbwm_sb3.experiments.reporting import PAPER_FIGURE2
from gbwm_sb3.plots import (
    goal_success_probabilities,
    plot_efficiency_by_goals,
    plot_goal_success,
    plot_policy_heatmaps,
    plot_training_curves,
    plot_wealth_fan,
    policy_grid,
    read_progress_csv,
    save_figure,
    simulate_paths,
)

PROBLEM = paper_problem(4)


@pytest.fixture(scope="module")
def dp():
    return solve_dp(PROBLEM)


def written(paths: list[Path]) -> list[str]:
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in paths[1].read_bytes()[:2000]
    return [p.name for p in paths]


def test_simulated_paths_are_the_evaluators_markets(dp) -> None:
    paths = simulate_paths(PROBLEM, dp, n_paths=4000, seed=5)
    report = evaluate({"dp": dp}, PROBLEM, n_paths=4000, seed=5)
    assert paths.utility.mean() == pytest.approx(report["dp"].mean_utility, rel=1e-12)
    success = goal_success_probabilities(PROBLEM, paths)
    expected = [report["dp"].goal_success[str(t)] for t in PROBLEM.goal_times]
    np.testing.assert_allclose(success, expected, rtol=1e-12)
    assert paths.wealth.shape == (17, 4000)
    assert np.all(paths.wealth[0] == PROBLEM.initial_wealth)


def test_policy_grid_categories() -> None:
    wealth = np.array([1.0, 13.0, 14.0, 100.0])  # goal at t=4 costs 13.6
    greedy = GreedyGoals(BuyAndHold(portfolio=3, seed=0))
    portfolio, goal = policy_grid(PROBLEM, greedy, wealth)
    assert portfolio.shape == goal.shape == (16, 4)
    assert np.all(portfolio == 3)
    np.testing.assert_array_equal(goal[4], [1, 1, 3, 3])  # unaffordable, unaffordable, taken
    assert np.all(goal[[0, 1, 2, 3, 5]] == 0)  # no goal in those years


def test_every_figure_writes_png_and_svg(tmp_path: Path, dp) -> None:
    coin = BuyAndHold(seed=0)
    assert written(save_figure(plot_policy_heatmaps(PROBLEM, {"dp": dp, "hold": coin},
                                                    n_wealth=40), tmp_path / "heat"))
    assert written(save_figure(plot_wealth_fan(PROBLEM, dp, n_paths=500, name="dp"),
                               tmp_path / "fan"))
    success = {"dp": [0.7, 0.8, 0.85, 0.84], "hold": [0.5, 0.5, 0.46, 0.77]}
    assert written(save_figure(plot_goal_success(PROBLEM, success), tmp_path / "goals"))
    progress = {"time/total_timesteps": [100.0, 200.0, 300.0],
                "gbwm/mean_episode_utility": [40.0, 50.0, 60.0],
                "gbwm/efficiency": [np.nan, 0.9, 0.95]}
    assert written(save_figure(plot_training_curves(progress, horizon=16), tmp_path / "curves"))
    assert written(save_figure(plot_efficiency_by_goals(PAPER_FIGURE2, PAPER_FIGURE2),
                               tmp_path / "fig2"))


def test_progress_csv(tmp_path: Path) -> None:
    path = tmp_path / "progress.csv"
    path.write_text("time/total_timesteps,gbwm/efficiency,note\n16,,x\n32,0.5,y\n")
    data = read_progress_csv(path)
    np.testing.assert_array_equal(data["time/total_timesteps"], [16, 32])
    assert np.isnan(data["gbwm/efficiency"][0]) and data["gbwm/efficiency"][1] == 0.5
    plot_training_curves(path, horizon=16)
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="no rows"):
        read_progress_csv(tmp_path / "empty.csv")


def test_validation(tmp_path: Path, dp) -> None:
    with pytest.raises(ValueError, match="4 probabilities in"):
        plot_goal_success(PROBLEM, {"dp": [0.5, 1.2, 0.1, 0.1]})
    with pytest.raises(ValueError, match="act"):
        plot_policy_heatmaps(PROBLEM, {"x": object()})
    with pytest.raises(ValueError, match="wealth_range"):
        plot_policy_heatmaps(PROBLEM, {"dp": dp}, wealth_range=(10.0, 1.0))
    with pytest.raises(ValueError, match="n_paths must be an integer >= 1"):
        simulate_paths(PROBLEM, dp, n_paths=0)
    with pytest.raises(ValueError, match="time/total_timesteps"):
        plot_training_curves({"gbwm/efficiency": [1.0]})
    with pytest.raises(ValueError, match="formats"):
        save_figure(plot_efficiency_by_goals({"rl": {4: 0.9}}), tmp_path / "x", formats=("gif",))
