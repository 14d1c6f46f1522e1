"""Problem files: exact round trips, the example files, and an error for each class of bad file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gbwm_sb3 import GBWMProblem, Goal, Portfolios, paper_problem
from gbwm_sb3.problem import efficient_frontier
from gbwm_sb3.problem.files import (
    ProblemFileError,
    load_problem,
    problem_to_dict,
    read_problem_file,
    resolve_problem,
    save_problem,
)
from gbwm_sb3.problem.frontier import PAPER_ASSET_COVARIANCE, PAPER_ASSET_MEANS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "problems"

GOOD = """\
horizon: 10
initial_wealth: 100.0
goals:
  - {time: 5, cost: 60.0, utility: 10.0, name: car}
  - {time: 10, cost: 80.0, utility: 20.0}
portfolios:
  means: [0.03, 0.06]
  volatilities: [0.05, 0.15]
"""


def write(tmp_path: Path, text: str, name: str = "problem.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
@pytest.mark.parametrize("num_goals", [1, 2, 4, 8, 16])
def test_paper_family_round_trips_exactly(tmp_path: Path, suffix: str, num_goals: int) -> None:
    problem = paper_problem(num_goals, unit=1e4)
    path = save_problem(problem, tmp_path / f"p{suffix}")
    assert load_problem(path) == problem


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_awkward_floats_and_names_round_trip_exactly(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(0)
    goals = tuple(
        Goal(time=t, cost=float(c), utility=float(u), name=n)
        for t, c, u, n in zip(
            (0, 3, 7, 11),
            rng.lognormal(0, 8, 4),
            (1e-300, 0.1 + 0.2, 9.87654321e11, 3.0),
            (None, "1e5", "yes", "null"),
            strict=True,
        )
    )
    portfolios = Portfolios(means=(-0.01, 1 / 3, 2.5e-8),
                            volatilities=(math.pi / 100, 1e-5, 0.3))
    problem = GBWMProblem(horizon=11, initial_wealth=float(rng.lognormal(3, 5)), goals=goals,
                          portfolios=portfolios, unit=1 / 7)
    loaded = load_problem(save_problem(problem, tmp_path / f"odd{suffix}"))
    assert loaded == problem
    assert [g.name for g in loaded.goals] == [None, "1e5", "yes", "null"]


def test_save_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    path = write(tmp_path, "keep me")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_problem(paper_problem(4), path)
    assert path.read_text() == "keep me"
    save_problem(paper_problem(4), path, overwrite=True)
    assert load_problem(path) == paper_problem(4)


def test_save_rejects_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.yaml, \.yml, \.json"):
        save_problem(paper_problem(4), tmp_path / "p.txt")


def test_problem_to_dict_is_json_serialisable() -> None:
    data = problem_to_dict(paper_problem(2), name="x")
    assert json.loads(json.dumps(data))["goals"][0]["time"] == 8


# ----------------------------------------------------------------------------- accepted forms
def test_minimal_yaml_and_json(tmp_path: Path) -> None:
    problem = load_problem(write(tmp_path, GOOD))
    assert problem.horizon == 10 and problem.goals[0].name == "car"
    assert problem.portfolios.means == (0.03, 0.06)
    as_json = json.dumps(problem_to_dict(problem))
    assert load_problem(write(tmp_path, as_json, "p.json")) == problem


def test_listed_portfolio_forms_agree(tmp_path: Path) -> None:
    listed = GOOD.replace(
        "  means: [0.03, 0.06]\n  volatilities: [0.05, 0.15]\n",
        "  - {mean: 0.03, volatility: 0.05}\n  - {mean: 0.06, volatility: 0.15}\n",
    )
    assert load_problem(write(tmp_path, listed)) == load_problem(write(tmp_path, GOOD, "b.yaml"))


def test_yaml_exponent_without_dot_is_a_number(tmp_path: Path) -> None:
    text = GOOD.replace("initial_wealth: 100.0", "initial_wealth: 1e2")
    assert load_problem(write(tmp_path, text)).initial_wealth == 100.0


def test_asset_classes_build_the_frontier(tmp_path: Path) -> None:
    text = f"""\
horizon: 16
initial_wealth: 38.99
goals: [{{time: 16, cost: 34.26, utility: 26}}]
asset_classes:
  names: [bonds, stocks, international]
  means: {list(PAPER_ASSET_MEANS)}
  covariance: {[list(r) for r in PAPER_ASSET_COVARIANCE]}
  n_portfolios: 15
  mean_range: [0.052632, 0.088636]
"""
    loaded = read_problem_file(write(tmp_path, text))
    expected = efficient_frontier(PAPER_ASSET_MEANS, PAPER_ASSET_COVARIANCE, 15,
                                  (0.052632, 0.088636))
    assert loaded.problem.portfolios == expected
    assert loaded.asset_names == ("bonds", "stocks", "international")


def test_paper_shorthand_and_specs(tmp_path: Path) -> None:
    path = write(tmp_path, "name: mine\npaper: {num_goals: 8, unit: 10000}\n")
    assert load_problem(path) == paper_problem(8, unit=1e4)
    assert load_problem(write(tmp_path, "paper: 2\n", "b.yaml")) == paper_problem(2)
    assert resolve_problem("paper:16") == paper_problem(16)
    assert resolve_problem("paper:4:10000") == paper_problem(4, unit=1e4)
    assert resolve_problem(str(path)) == paper_problem(8, unit=1e4)
    for bad in ("paper:3", "paper:x", "paper:4:-1", "paper:4:1:2", "paper:"):
        with pytest.raises(ValueError, match="paper:1, paper:2, paper:4, paper:8, paper:16"):
            resolve_problem(bad)


def test_example_files_load_and_paper_files_match_the_paper() -> None:
    files = sorted(EXAMPLES.glob("*.y*ml")) + sorted(EXAMPLES.glob("*.json"))
    assert len(files) >= 7
    for path in files:
        assert isinstance(load_problem(path), GBWMProblem)
    for ng in (1, 2, 4, 8, 16):
        assert load_problem(EXAMPLES / f"paper_ng{ng}.yaml") == paper_problem(ng, unit=1e4)
    client = read_problem_file(EXAMPLES / "client_asset_classes.yaml")
    assert all(goal.name for goal in client.problem.goals)
    assert client.asset_names is not None


# ----------------------------------------------------------------------------- bad files
def patch(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


BAD_FILES = {
    # name: (text, field path in the message, what the message says is allowed)
    "not a mapping": ("- 1\n- 2\n", "<top level>", "must be a mapping"),
    "empty file": ("", "<top level>", "must be a mapping"),
    "unknown top field": (GOOD + "colour: red\n", "colour", "allowed fields are"),
    "missing horizon": (patch("horizon: 10\n", ""), "horizon", "missing required field"),
    "missing goals": (GOOD.split("goals:")[0] + "portfolios: {means: [0.1], volatilities: [0.1]}\n",
                      "goals", "missing required field"),
    "horizon string": (patch("horizon: 10", "horizon: ten"), "horizon", "integer >= 1"),
    "horizon float": (patch("horizon: 10", "horizon: 10.5"), "horizon", "integer >= 1"),
    "horizon bool": (patch("horizon: 10", "horizon: true"), "horizon", "integer >= 1"),
    "horizon zero": (patch("horizon: 10", "horizon: 0"), "horizon", "integer >= 1"),
    "wealth negative": (patch("initial_wealth: 100.0", "initial_wealth: -5"),
                        "initial_wealth", "number in (0, 1e+15]"),
    "wealth nan": (patch("initial_wealth: 100.0", "initial_wealth: .nan"),
                   "initial_wealth", "finite"),
    "wealth null": (patch("initial_wealth: 100.0", "initial_wealth:"),
                    "initial_wealth", "null"),
    "unit zero": (GOOD + "unit: 0\n", "unit", "number > 0"),
    "currency number": (GOOD + "currency: 5\n", "currency", "non-empty string"),
    "goals not a list": (patch(
        "goals:\n  - {time: 5, cost: 60.0, utility: 10.0, name: car}\n"
        "  - {time: 10, cost: 80.0, utility: 20.0}\n", "goals: 3\n"),
        "goals", "must be a list of goals"),
    "goals empty": (patch(
        "goals:\n  - {time: 5, cost: 60.0, utility: 10.0, name: car}\n"
        "  - {time: 10, cost: 80.0, utility: 20.0}\n", "goals: []\n"),
        "goals", "at least 1"),
    "goal not a mapping": (patch("  - {time: 10, cost: 80.0, utility: 20.0}", "  - 7"),
                           "goals[1]", "must be a mapping"),
    "goal missing cost": (patch("{time: 10, cost: 80.0, utility: 20.0}",
                                "{time: 10, utility: 20.0}"), "goals[1].cost", "missing"),
    "goal unknown field": (patch("utility: 20.0}", "utility: 20.0, when: 3}"),
                           "goals[1].when", "allowed fields are time, cost, utility, name"),
    "negative cost": (patch("cost: 80.0", "cost: -80.0"), "goals[1].cost",
                      "number in [0, 1e+15]"),
    "infinite cost": (patch("cost: 80.0", "cost: .inf"), "goals[1].cost", "finite"),
    "negative utility": (patch("utility: 20.0", "utility: -1"), "goals[1].utility",
                         "number in [0, 1e+12]"),
    "string cost": (patch("cost: 80.0", "cost: '80'"), "goals[1].cost", "must be a number"),
    "goal beyond horizon": (patch("time: 10,", "time: 11,"), "goals[1].time", "0..10"),
    "goal before start": (patch("time: 5,", "time: -1,"), "goals[0].time", "0..10"),
    "goal fractional time": (patch("time: 5,", "time: 5.5,"), "goals[0].time", "integer"),
    "levels empty": (patch("{time: 10, cost: 80.0, utility: 20.0}", "{time: 10, levels: []}"),
                     "goals[1].levels", "at least 1"),
    "levels negative cost": (patch("{time: 10, cost: 80.0, utility: 20.0}",
                                   "{time: 10, levels: [{cost: 5, utility: 1}, "
                                   "{cost: -8, utility: 2}]}"),
                             "goals[1].levels[1].cost", "number in [0, 1e+15]"),
    "levels nan utility": (patch("{time: 10, cost: 80.0, utility: 20.0}",
                                 "{time: 10, levels: [[5, .nan]]}"),
                           "goals[1].levels[0].utility", "finite"),
    "levels and cost": (patch("{time: 10, cost: 80.0, utility: 20.0}",
                              "{time: 10, cost: 80.0, levels: [[5, 1]]}"),
                        "goals[1].cost", "not both"),
    "level unknown field": (patch("{time: 10, cost: 80.0, utility: 20.0}",
                                  "{time: 10, levels: [{cost: 5, value: 1}]}"),
                            "goals[1].levels[0].value", "allowed fields are cost, utility"),
    "too many decisions": (patch("{time: 10, cost: 80.0, utility: 20.0}",
                                 "{time: 10, levels: [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], "
                                 "[6, 6], [7, 7], [8, 8], [9, 9], [10, 10], [11, 11], [12, 12], "
                                 "[13, 13], [14, 14], [15, 15], [16, 16]]}\n"
                                 "  - {time: 10, levels: [[1, 1], [2, 2], [3, 3], [4, 4], "
                                 "[5, 5], [6, 6], [7, 7], [8, 8], [9, 9], [10, 10], [11, 11], "
                                 "[12, 12], [13, 13], [14, 14], [15, 15]]}"),
                           "", "at most 256"),
    "savings wrong length": (GOOD + "savings: [1, 2, 3]\n", "savings", "one amount per year"),
    "savings beyond the largest withdrawal": (GOOD + "savings: [{amount: -2e15, from: 0, to: 3}]\n",
                                              "savings[0].amount", "number in [-1e+15, 1e+15]"),
    "savings tiny withdrawal": (GOOD + "savings: [1, 1, 1, 1, 1, -1e-12, 1, 1, 1, 1]\n",
                                "savings[5]", "magnitude at least 1e-09"),
    "market unknown model": (GOOD + "market: {model: gbm}\n", "market.model",
                             "one of lognormal, student_t"),
    "market degrees of freedom": (GOOD + "market: {model: student_t, degrees_of_freedom: 1.5}\n",
                                  "market.degrees_of_freedom", "number in (2, 1000]"),
    "savings year beyond horizon": (GOOD + "savings: [{amount: 5, from: 2, to: 10}]\n",
                                    "savings[0].to", "2..9"),
    "savings year negative": (GOOD + "savings: [{amount: 5, from: -1}]\n",
                              "savings[0].from", "0..9"),
    "savings infinite": (GOOD + "savings: [{amount: .inf}]\n", "savings[0].amount", "finite"),
    "savings unknown field": (GOOD + "savings: [{amount: 5, until: 3}]\n", "savings[0].until",
                              "allowed fields are amount, from, to"),
    "goal empty name": (patch("name: car", "name: ''"), "goals[0].name", "non-empty string"),
    "vol negative": (patch("[0.05, 0.15]", "[0.05, -0.15]"), "portfolios.volatilities[1]",
                     "number in [0, 2]"),
    "vol too large": (patch("[0.05, 0.15]", "[0.05, 2.5]"), "portfolios.volatilities[1]",
                      "number in [0, 2]"),
    "length mismatch": (patch("[0.05, 0.15]", "[0.05]"), "portfolios.volatilities",
                        "one volatility per mean"),
    "no means": (patch("  means: [0.03, 0.06]\n", ""), "portfolios.means", "missing"),
    "means not list": (patch("[0.03, 0.06]", "0.03"), "portfolios.means", "list of numbers"),
    "means empty": (patch("[0.03, 0.06]", "[]"), "portfolios.means", "at least 1"),
    "listed portfolio missing vol": (patch(
        "  means: [0.03, 0.06]\n  volatilities: [0.05, 0.15]\n", "  - {mean: 0.03}\n"),
        "portfolios[0].volatility", "missing"),
    "no portfolios": (GOOD.split("portfolios:")[0], "portfolios", "asset_classes"),
    "both portfolio forms": (GOOD + "asset_classes: {means: [0.1, 0.2], covariance: [[1, 0], "
                             "[0, 1]]}\n", "asset_classes", "not both"),
    "paper with goals": ("paper: 4\nhorizon: 16\n", "horizon", "cannot be combined with `paper`"),
    "paper bad ng": ("paper: {num_goals: 3}\n", "paper.num_goals", "1, 2, 4, 8, 16"),
    "paper bad field": ("paper: {num_goals: 4, goals: 1}\n", "paper.goals", "allowed fields"),
    "duplicate key": (GOOD + "horizon: 12\n", "", "duplicate key 'horizon'"),
    "yaml syntax": ("horizon: [1, 2\n", "", "not valid YAML"),
}

ASSETS = """\
horizon: 10
initial_wealth: 100.0
goals: [{time: 10, cost: 80.0, utility: 20.0}]
asset_classes:
  names: [bonds, stocks]
  means: [0.03, 0.08]
  covariance: [[0.0025, 0.001], [0.001, 0.04]]
"""


def patch_assets(old: str, new: str) -> str:
    assert old in ASSETS
    return ASSETS.replace(old, new)


BAD_ASSET_FILES = {
    "not psd": (patch_assets("[[0.0025, 0.001], [0.001, 0.04]]", "[[0.0025, 0.05], [0.05, 0.04]]"),
                "asset_classes.covariance", "positive semi-definite"),
    "not symmetric": (patch_assets("[0.001, 0.04]]", "[0.002, 0.04]]"),
                      "asset_classes.covariance[0][1]", "symmetric"),
    "wrong shape rows": (patch_assets(", [0.001, 0.04]]", "]"), "asset_classes.covariance",
                         "2x2 matrix"),
    "wrong shape cols": (patch_assets("[0.001, 0.04]]", "[0.001, 0.04, 0.0]]"),
                         "asset_classes.covariance[1]", "2 entries"),
    "negative variance": (patch_assets("[[0.0025,", "[[-0.0025,"),
                          "asset_classes.covariance[0][0]", "variance must be > 0"),
    "one asset": (patch_assets("means: [0.03, 0.08]", "means: [0.03]"), "asset_classes.means",
                  "at least 2"),
    "names mismatch": (patch_assets("[bonds, stocks]", "[bonds]"), "asset_classes.names",
                       "each of the 2 assets"),
    "missing covariance": (patch_assets(
        "  covariance: [[0.0025, 0.001], [0.001, 0.04]]\n", ""), "asset_classes.covariance",
        "missing"),
    "mean range below frontier": (ASSETS + "  mean_range: [0.0, 0.08]\n",
                                  "asset_classes.mean_range", "minimum-variance"),
    "mean range reversed": (ASSETS + "  mean_range: [0.08, 0.05]\n",
                            "asset_classes.mean_range", "low <= high"),
    "mean range three numbers": (ASSETS + "  mean_range: [0.05, 0.06, 0.07]\n",
                                 "asset_classes.mean_range", "[low, high]"),
    "n portfolios zero": (ASSETS + "  n_portfolios: 0\n", "asset_classes.n_portfolios",
                          "integer >= 1"),
    "unknown asset field": (ASSETS + "  weights: [1, 2]\n", "asset_classes.weights",
                            "allowed fields are names, means, covariance"),
    "equal means": (patch_assets("means: [0.03, 0.08]", "means: [0.05, 0.05]"),
                    "asset_classes.covariance", "same mean"),
}


@pytest.mark.parametrize("case", sorted({**BAD_FILES, **BAD_ASSET_FILES}))
def test_bad_file_names_file_field_and_rule(tmp_path: Path, case: str) -> None:
    text, field, allowed = {**BAD_FILES, **BAD_ASSET_FILES}[case]
    path = write(tmp_path, text, "client.yaml")
    with pytest.raises(ProblemFileError) as info:
        load_problem(path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert message.startswith(str(path)), message
    if field:
        assert f": {field}:" in message, message
        assert info.value.field == field
    if allowed:
        assert allowed in message, message


def test_json_errors(tmp_path: Path) -> None:
    with pytest.raises(ProblemFileError, match="not valid JSON"):
        load_problem(write(tmp_path, "{horizon: 1}", "p.json"))
    with pytest.raises(ProblemFileError, match="horizon: duplicate key"):
        load_problem(write(tmp_path, '{"horizon": 1, "horizon": 2}', "q.json"))
    data = json.loads(json.dumps(problem_to_dict(paper_problem(4))))
    data["goals"][2]["cost"] = -1
    with pytest.raises(ProblemFileError,
                       match=r"r\.json: goals\[2\]\.cost: must be a number in \[0, 1e\+15\]"):
        load_problem(write(tmp_path, json.dumps(data), "r.json"))


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ProblemFileError, match="no such file"):
        load_problem(tmp_path / "missing.yaml")
    with pytest.raises(ProblemFileError, match="unsupported file type"):
        load_problem(write(tmp_path, GOOD, "p.txt"))
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(ProblemFileError, match="is a directory"):
        load_problem(tmp_path / "dir.yaml")
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00horizon")
    with pytest.raises(ProblemFileError, match="not UTF-8"):
        load_problem(path)
