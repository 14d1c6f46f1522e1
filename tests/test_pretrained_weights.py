"""The weights shipped in the package: present, safe, documented, and not broken."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gbwm_sb3.pretrained import (
    ACCEPTED_ENVELOPE,
    DEFAULT_WEIGHTS,
    PPO_WEIGHTS,
    OutsideEnvelopeError,
    pretrained_policy,
)
from gbwm_sb3.pretrained.mixture import WIDE_ENVELOPE
from gbwm_sb3.pretrained.weights import (
    accepted_envelope_from_manifest,
    envelope_from_manifest,
    read_weights_manifest,
)
from gbwm_sb3.problem import paper_problem
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios
from gbwm_sb3.problem.sampler import DEFAULT_ENVELOPE


@pytest.mark.parametrize("directory", [DEFAULT_WEIGHTS, PPO_WEIGHTS])
def test_shipped_weights_are_small_and_safe(directory) -> None:
    manifest = read_weights_manifest(directory)
    assert (directory / "weights.npz").stat().st_size < 2_000_000
    with np.load(directory / "weights.npz", allow_pickle=False) as data:
        assert set(data.files) == set(manifest["tensors"])
    assert accepted_envelope_from_manifest(manifest) == ACCEPTED_ENVELOPE


def test_the_ppo_weights_are_documented() -> None:
    manifest = read_weights_manifest(PPO_WEIGHTS)
    assert envelope_from_manifest(manifest) == DEFAULT_ENVELOPE
    meta = manifest["metadata"]
    for key in ("config", "num_timesteps", "wall_time_s", "stage", "command", "threads"):
        assert key in meta, key
    # a bit-reproducible run: one thread, and the command that made it names its seed
    assert meta["threads"] == 1
    assert f"--seed {meta['config']['seed']}" in meta["command"]
    assert meta["config"]["validation_lookahead"] == 4


def test_the_shipped_weights_are_documented_as_imitation_of_the_ppo_weights() -> None:
    manifest = read_weights_manifest(DEFAULT_WEIGHTS)
    assert envelope_from_manifest(manifest) == WIDE_ENVELOPE  # the few-goals mixture's
    assert manifest["network"]["entry_reach"] is True
    record = manifest["metadata"]["distillation"]
    # one thread, the run's settings and command, and the imitation run it continued
    assert record["threads"] == 1
    assert record["config"]["mixture"] == "few_goals" and record["config"]["entry_reach"]
    assert "--mixture few_goals --entry-reach" in record["command"]
    assert record["config"]["start"] == "runs/distill-entry/best"
    started = record["start_metadata"]["distillation"]
    assert (started["mixture"], started["start"], started["entry_reach"]) == \
        ("blend", "shipped", True)  # "shipped" then: the PPO weights
    # the lookahead used by default was chosen on the run's validation problems
    scores = record["lookahead_validation"]
    assert manifest["lookahead"] == max((1, 8), key=lambda k: (scores[str(k)], -k))


def test_outside_the_envelope_is_refused_with_every_field() -> None:
    crowded = GBWMProblem(goals=[Goal(t, 10.0, 10.0) for t in range(20, 81)],
                          initial_wealth=20.0, horizon=80)
    with pytest.raises(OutsideEnvelopeError, match="num_goals: 61 is outside the supported "
                                                   r"range 1\.\.60"):
        pretrained_policy(crowded)
    few = GBWMProblem(goals=[Goal(5, 10.0, 10.0)], initial_wealth=9.0, horizon=10,
                      portfolios=Portfolios(means=[0.03, 0.05, 0.07],
                                            volatilities=[0.05, 0.1, 0.15]))
    with pytest.raises(OutsideEnvelopeError, match="num_portfolios"):
        pretrained_policy(few)
    with pytest.raises(ValueError, match="problem must be a GBWMProblem"):
        pretrained_policy("paper:4")  # type: ignore[arg-type]


def test_advice_for_the_paper_problem() -> None:
    problem = paper_problem(4)
    advice = pretrained_policy(problem).advise(4, 30.0)  # the car is due at year 4
    assert set(advice.goal_probabilities) == {"4"}
    assert 0 <= advice.goal_probabilities["4"] <= 1
    assert len(advice.portfolio_probabilities) == problem.num_portfolios


@pytest.mark.slow
def test_zero_shot_on_the_paper_family_does_not_regress() -> None:
    """A floor against shipping broken weights (docs/pretrained.md has the measured values)."""
    from gbwm_sb3.dp import solve_dp
    from gbwm_sb3.evaluation import evaluate

    for ng in (1, 2, 4, 8, 16):
        problem = paper_problem(ng)
        report = evaluate({"dp": solve_dp(problem), "pre": pretrained_policy(problem)},
                          problem, n_paths=20_000, seed=11)
        assert report["pre"].efficiency > 0.95, (ng, report["pre"].efficiency)


def test_manifest_is_plain_json() -> None:
    data = json.loads((DEFAULT_WEIGHTS / "manifest.json").read_text())
    assert data["format"] == "gbwm-sb3-universal-policy"


@pytest.mark.parametrize("value", [0, 65, 2.5, "8", True])
def test_a_manifest_lookahead_outside_1_to_64_is_refused(tmp_path, value) -> None:
    import shutil

    from gbwm_sb3.pretrained.weights import WeightsFileError

    directory = tmp_path / "w"
    shutil.copytree(DEFAULT_WEIGHTS, directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["lookahead"] = value
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WeightsFileError, match="lookahead must be an integer in 1..64"):
        read_weights_manifest(directory)
