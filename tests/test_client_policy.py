"""A fine-tuned client policy saved to disk acts as it did, for its own problem only."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from gbwm_sb3 import paper_problem
from gbwm_sb3.cli.main import main
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.pretrained import (
    DEFAULT_WEIGHTS,
    PretrainedPolicy,
    WeightsFileError,
    fine_tune,
    is_client_policy,
    load_client_policy,
    pretrained_policy,
    save_client_policy,
)

PROBLEM = paper_problem(2)


def _actions(policy: PretrainedPolicy) -> list[tuple[np.ndarray, np.ndarray]]:
    wealth = np.geomspace(5.0, 400.0, 257)
    return [policy.act(t, wealth) for t in range(PROBLEM.horizon)]


def _same_actions(a: PretrainedPolicy, b: PretrainedPolicy) -> None:
    for (da, pa), (db, pb) in zip(_actions(a), _actions(b), strict=True):
        np.testing.assert_array_equal(da, db)
        np.testing.assert_array_equal(pa, pb)


@pytest.fixture(scope="module")
def tuned() -> PretrainedPolicy:
    return fine_tune(PROBLEM, 64, n_envs=32, seed=0, holdout_paths=500, holdout_every=1)


@pytest.fixture(scope="module")
def with_critic(tuned: PretrainedPolicy) -> PretrainedPolicy:
    return tuned.with_critic_lookahead(decisions=3)


@pytest.fixture(scope="module")
def saved(tuned: PretrainedPolicy, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_client_policy(tuned, tmp_path_factory.mktemp("client") / "policy",
                              metadata={"note": "paper NG = 2"})


def test_a_saved_policy_acts_as_the_one_saved(tuned: PretrainedPolicy, saved: Path) -> None:
    loaded = load_client_policy(saved, PROBLEM)
    assert loaded.problem == PROBLEM
    _same_actions(tuned, loaded)
    assert loaded.fine_tune_scores == tuned.fine_tune_scores
    assert loaded.fine_tune_critic_check == tuned.fine_tune_critic_check
    assert loaded.fine_tune_record == json.loads(json.dumps(tuned.fine_tune_record))
    report = evaluate({"a": tuned, "b": loaded}, PROBLEM, n_paths=2_000, seed=5, reference=None)
    assert report["a"].mean_utility == report["b"].mean_utility
    # pretrained_policy and a load without the problem give the same policy
    _same_actions(tuned, pretrained_policy(PROBLEM, saved))
    _same_actions(tuned, load_client_policy(saved))


def test_the_critic_lookahead_is_kept(with_critic: PretrainedPolicy, tmp_path: Path) -> None:
    save_client_policy(with_critic, tmp_path / "c")
    loaded = load_client_policy(tmp_path / "c", PROBLEM)
    assert loaded.critic_lookahead is not None and loaded.critic_lookahead.decisions == 3
    _same_actions(with_critic, loaded)
    advice, back = with_critic.advise(3, 60.0), loaded.advise(3, 60.0)
    assert (advice.decision, advice.portfolio) == (back.decision, back.portfolio)


def test_the_record_says_what_fine_tuning_did(tuned: PretrainedPolicy) -> None:
    record = tuned.fine_tune_record
    assert record is not None
    assert record["weights_directory"] == str(DEFAULT_WEIGHTS.resolve())
    assert record["n_trajectories"] == 64 and record["seed"] == 0
    assert record["trajectories"] >= 64 and record["seconds"] > 0


def test_another_problem_is_refused_everywhere(saved: Path) -> None:
    other = paper_problem(4)
    for call in (lambda: load_client_policy(saved, other),
                 lambda: pretrained_policy(other, saved),
                 lambda: pretrained_policy(other, saved, lookahead=1),
                 lambda: fine_tune(other, 8, weights=saved, holdout_paths=0)):
        with pytest.raises(ValueError, match="fine-tuned for another problem.*goals"):
            call()
    richer = dataclasses.replace(PROBLEM, initial_wealth=PROBLEM.initial_wealth * 1.01)
    with pytest.raises(ValueError, match="initial_wealth"):
        load_client_policy(saved, richer)


def test_fine_tuning_continues_from_a_saved_policy(saved: Path) -> None:
    more = fine_tune(PROBLEM, 32, weights=saved, n_envs=32, seed=1, holdout_paths=0)
    assert more.fine_tune_record is not None
    assert more.fine_tune_record["weights_directory"] == str(saved.resolve())


def test_is_client_policy(saved: Path, tmp_path: Path) -> None:
    assert is_client_policy(saved)
    assert not is_client_policy(DEFAULT_WEIGHTS)
    assert not is_client_policy(tmp_path)
    assert not is_client_policy(tmp_path / "missing")
    with pytest.raises(WeightsFileError, match="universal weights, not a client policy"):
        load_client_policy(DEFAULT_WEIGHTS)


def test_nothing_saved_is_overwritten_without_asking(tuned: PretrainedPolicy,
                                                      tmp_path: Path) -> None:
    save_client_policy(tuned, tmp_path / "p")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_client_policy(tuned, tmp_path / "p")
    save_client_policy(tuned, tmp_path / "p", overwrite=True)
    with pytest.raises(ValueError, match="PretrainedPolicy"):
        save_client_policy("policy", tmp_path / "q")  # type: ignore[arg-type]
    sampling = PretrainedPolicy(tuned.network, PROBLEM, deterministic=False)
    with pytest.raises(ValueError, match="deterministic"):
        save_client_policy(sampling, tmp_path / "q")


#: Fields a client policy may leave out (no history, no comparison, no record).
OPTIONAL_FIELDS = ("fine_tune_scores", "fine_tune_critic_check", "fine_tune",
                   "portfolio_shift")


@pytest.mark.parametrize("field, value, message", [
    ("lookahead", 0, "lookahead must be an integer in 1..64"),
    ("critic_lookahead", "3", "critic_lookahead must be an integer in 1..64 or null"),
    ("fine_tune_scores", [[1, "x", True]], "fine_tune_scores: each entry"),
    ("problem", {"horizon": 3}, "client_policy.problem: initial_wealth: missing"),
    ("fine_tune_critic_check", ["a", 1.0, True], "fine_tune_critic_check must be null or"),
    ("fine_tune", [1], "client_policy.fine_tune must be a mapping"),
    ("portfolio_shift", 4, r"client_policy.portfolio_shift must be an integer in -3..3, got 4"),
])
def test_a_malformed_client_policy_names_the_field(saved: Path, tmp_path: Path, field: str,
                                                   value: object, message: str) -> None:
    copy = tmp_path / "bad"
    copy.mkdir()
    for name in ("weights.npz", "manifest.json"):
        (copy / name).write_bytes((saved / name).read_bytes())
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["metadata"]["client_policy"][field] = value
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WeightsFileError, match=message):
        load_client_policy(copy)
    del manifest["metadata"]["client_policy"][field]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    if field not in OPTIONAL_FIELDS:
        with pytest.raises(WeightsFileError, match=f"client_policy.{field} is missing"):
            load_client_policy(copy)


def test_gbwm_fine_tune_then_advise(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "client"
    assert main(["fine-tune", "paper:2", "--out", str(out), "--trajectories", "48",
                 "--paths", "300", "--no-progress", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    scores = result["scores"]
    assert set(scores) == {"dp", "zero_shot", "fine_tuned"}
    assert scores["dp"]["efficiency"] == 1.0
    assert 0.5 < scores["fine_tuned"]["efficiency"] <= 1.0 + 1e-9
    assert is_client_policy(out)
    assert json.loads((out / "manifest.json").read_text())["metadata"]["evaluation"][
        "scores"] == scores
    assert main(["advise", "paper:2", "--weights", str(out), "--json"]) == 0
    advice = json.loads(capsys.readouterr().out)
    assert advice["client_policy"] is True
    expected = load_client_policy(out).advise(0, PROBLEM.initial_wealth)
    assert (advice["decision"], advice["portfolio"]) == (expected.decision, expected.portfolio)
    # another problem, a lookahead, an existing folder: refused with the reason
    assert main(["advise", "paper:4", "--weights", str(out)]) == 2
    assert "fine-tuned for another problem" in capsys.readouterr().err
    assert main(["advise", "paper:2", "--weights", str(out), "--lookahead", "2"]) == 2
    assert "leave out --lookahead" in capsys.readouterr().err
    assert main(["fine-tune", "paper:2", "--out", str(out), "--trajectories", "8"]) == 2
    assert "--force" in capsys.readouterr().err
