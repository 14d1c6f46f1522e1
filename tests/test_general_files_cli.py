"""Problem files and the command line for the general class (levels, savings, shared years)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from general_problems import small_general_problem

from gbwm_sb3.cli.main import main
from gbwm_sb3.dp import solve_dp
from gbwm_sb3.problem.files import (
    dump_problem_text,
    load_problem,
    problem_from_dict,
    save_problem,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "problems"
GENERAL = """\
horizon: 6
initial_wealth: 10.0
savings:
  - {amount: 1.0, from: 0, to: 1}
  - {amount: 2.0, from: 2, to: 3}
goals:
  - {time: 2, cost: 4.0, utility: 3.0, name: car}
  - name: college
    time: 2
    levels: [{cost: 3.0, utility: 2.0}, [6.0, 5.0]]
  - {time: 4, cost: 8.0, utility: 6.0}
  - {time: 6, name: retire, levels: [[5.0, 3.0], [10.0, 7.0]]}
portfolios:
  - {mean: 0.03, volatility: 0.02}
  - {mean: 0.06, volatility: 0.1}
  - {mean: 0.09, volatility: 0.2}
"""
TRAIN = ["--trajectories", "256", "--rollout-trajectories", "128", "--eval-paths", "400",
         "--eval-every", "1", "--no-progress"]


@pytest.fixture(scope="module")
def general_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("problems") / "general.yaml"
    path.write_text(GENERAL)
    return path


def test_file_with_levels_savings_and_a_shared_year_loads(general_file: Path) -> None:
    assert load_problem(general_file) == small_general_problem()


def test_per_year_savings_list_equals_the_ranges(general_file: Path) -> None:
    text = GENERAL.replace("  - {amount: 1.0, from: 0, to: 1}\n  - {amount: 2.0, from: 2, "
                           "to: 3}\n", "  [1.0, 1.0, 2.0, 2.0, 0.0, 0.0]\n")
    import yaml

    assert problem_from_dict(yaml.safe_load(text)) == small_general_problem()


def test_overlapping_savings_ranges_add_up() -> None:
    import yaml

    text = GENERAL.replace("{amount: 2.0, from: 2, to: 3}", "{amount: 0.5, from: 1, to: 2}")
    assert problem_from_dict(yaml.safe_load(text)).infusions == (1.0, 1.5, 0.5, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_general_problem_round_trips(tmp_path: Path, suffix: str) -> None:
    problem = small_general_problem(1e4)
    path = save_problem(problem, tmp_path / f"p{suffix}")
    assert load_problem(path) == problem
    text = dump_problem_text(problem)
    assert "savings:" in text and "levels:" in text
    assert "{amount: 10000.0, from: 0, to: 1}" in text


def test_family_plan_example_is_of_the_general_class() -> None:
    problem = load_problem(EXAMPLES / "family_plan.yaml")
    assert not problem.in_paper_family
    assert len(problem.goals_at(3)) == 2  # two goals in one year
    assert any(g.num_levels > 1 for g in problem.goals)  # a partial goal
    assert problem.infusions[:20] == (12000.0,) * 20 and sum(problem.infusions[20:]) == 0.0
    assert sum(1 for g in problem.goals if g.time >= 20) == 11  # retirement income


def test_solve_prints_odds_per_goal_and_level(general_file: Path, capsys) -> None:
    assert main(["solve", str(general_file), "--paths", "4000"]) == 0
    out = capsys.readouterr().out
    optimum = solve_dp(load_problem(general_file)).expected_utility
    assert f"Optimal expected utility: {optimum:.4f}" in out
    assert "  level 2" in out and "college" in out and "Savings:" in out
    assert main(["solve", str(general_file), "--paths", "4000", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    college = next(g for g in data["goal_success"] if g["label"] == "college")
    assert [level["level"] for level in college["levels"]] == [1, 2]
    assert college["probability"] == pytest.approx(
        sum(level["probability"] for level in college["levels"]), abs=1e-12)
    assert data["first_year"]["levels"] == []  # no goal at t = 0


def test_train_evaluate_plot_on_a_general_problem(general_file: Path, tmp_path: Path,
                                                  capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", str(general_file), "--out", str(out), *TRAIN]) == 0
    assert main(["evaluate", str(out), "--paths", "2000"]) == 0
    text = capsys.readouterr().out
    assert "RL (PPO)" in text and "DP (optimum)" in text
    assert main(["plot", str(out), "--paths", "2000"]) == 0
    assert (out / "plots" / "policy_heatmaps.png").is_file()
    assert (out / "plots" / "wealth_fan_rl.png").is_file()
