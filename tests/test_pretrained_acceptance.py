"""The acceptance envelope of the pretrained policy, apart from the training envelope."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gbwm_sb3.pretrained import (
    ACCEPTED_ENVELOPE,
    DEFAULT_WEIGHTS,
    PPO_WEIGHTS,
    OutsideEnvelopeError,
    accepted_envelope,
    fine_tune,
    fine_tune_envelope,
    pretrained_network,
    pretrained_policy,
    save_weights,
)
from gbwm_sb3.pretrained.families import at_funding_ratio, volatility_frontier
from gbwm_sb3.pretrained.suite import benchmark_suite
from gbwm_sb3.pretrained.weights import (
    WeightsFileError,
    accepted_envelope_from_manifest,
    envelope_from_manifest,
    read_weights_manifest,
)
from gbwm_sb3.problem.files import problem_to_dict, save_problem
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios
from gbwm_sb3.problem.sampler import DEFAULT_ENVELOPE, ProblemEnvelope, sample_problems

#: Fingerprints (below) of the suite's 66 problems and of 40 training draws (seed 7),
#: taken before the acceptance envelope was separated from the training envelope.
SUITE_FINGERPRINT = "bd139237eb045f169e244478c2a681d3e5976659aa8463352efe0b1791778642"
TRAINING_DRAWS_FINGERPRINT = "7891556cbc89605774d66351600e5ae5a5c3cf9c6f1cf3c4358f6e5d75d774fe"


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return format(value, ".9g")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def fingerprint(problems: list[tuple[str, GBWMProblem]]) -> str:
    """SHA-256 of the problems' contents (numbers to 9 significant digits)."""
    text = json.dumps([(name, _rounded(problem_to_dict(p))) for name, p in problems],
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def every_year(horizon: int, first: int, funding: float = 1.0) -> GBWMProblem:
    """A goal in every year ``first..horizon``, at the given funding ratio."""
    goals = [Goal(t, 10.0 * 1.02**t, 5.0) for t in range(first, horizon + 1)]
    return at_funding_ratio(GBWMProblem(goals=goals, initial_wealth=1.0, horizon=horizon),
                            funding)


def test_the_training_envelope_and_its_draws_are_unchanged() -> None:
    assert DEFAULT_ENVELOPE == ProblemEnvelope(
        horizon=(1, 40), num_goals=(1, 20), max_goals_per_year=4, max_levels=3,
        max_decisions_per_year=64, savings_rate=(0.0, 1.0), no_savings_probability=0.3,
        funding_ratio=(0.25, 4.0), num_portfolios=(5, 20), portfolio_mean=(-0.05, 0.2),
        portfolio_volatility=(0.005, 0.4))
    manifest = read_weights_manifest(PPO_WEIGHTS)
    assert envelope_from_manifest(manifest) == DEFAULT_ENVELOPE  # PPO trained on it
    draws = sample_problems(40, seed=7)
    assert fingerprint([(str(i), p) for i, p in enumerate(draws)]) == TRAINING_DRAWS_FINGERPRINT
    suite = benchmark_suite()
    assert len(suite) == 66
    assert fingerprint([(item.name, item.problem) for item in suite]) == SUITE_FINGERPRINT


def test_the_shipped_weights_accept_the_measured_envelope() -> None:
    manifest = read_weights_manifest(DEFAULT_WEIGHTS)
    assert accepted_envelope_from_manifest(manifest) == ACCEPTED_ENVELOPE
    assert accepted_envelope() == ACCEPTED_ENVELOPE
    assert ACCEPTED_ENVELOPE.horizon == (1, 100) and ACCEPTED_ENVELOPE.num_goals == (1, 60)
    assert ACCEPTED_ENVELOPE.portfolio_volatility == (0.005, 0.5)
    assert ACCEPTED_ENVELOPE.portfolio_mean == (-0.05, 0.25)
    assert ACCEPTED_ENVELOPE.funding_ratio == DEFAULT_ENVELOPE.funding_ratio  # not widened
    assert accepted_envelope(PPO_WEIGHTS) == ACCEPTED_ENVELOPE
    widened = {"horizon", "num_goals", "portfolio_volatility", "portfolio_mean"}
    for field in dataclasses.fields(ProblemEnvelope):
        if field.name not in widened:
            assert getattr(ACCEPTED_ENVELOPE, field.name) == getattr(DEFAULT_ENVELOPE,
                                                                     field.name), field.name


def test_a_steep_frontier_with_expected_returns_to_25_percent_is_accepted() -> None:
    # 50% volatility at a risk premium of 0.4 per unit of volatility: a top mean of 0.23
    steep = dataclasses.replace(every_year(20, 10), portfolios=Portfolios(
        np.linspace(0.02, 0.23, 8), np.linspace(0.01, 0.5, 8)))
    assert DEFAULT_ENVELOPE.contains(steep) and not ACCEPTED_ENVELOPE.contains(steep)
    advice = pretrained_policy(steep).advise(0, steep.initial_wealth)
    assert 0 <= advice.portfolio < steep.num_portfolios
    steeper = dataclasses.replace(steep, portfolios=Portfolios(
        np.linspace(0.02, 0.27, 8), np.linspace(0.01, 0.5, 8)))
    with pytest.raises(OutsideEnvelopeError, match=r"portfolio_mean: values .*\.\.0\.27 are "
                                                   r"outside the supported range "
                                                   r"-0\.05\.\.0\.25"):
        pretrained_policy(steeper)


def test_a_century_with_a_goal_every_year_is_accepted() -> None:
    for problem in (every_year(100, 41), every_year(60, 1)):  # 60 goals, one every year
        assert DEFAULT_ENVELOPE.contains(problem) and not ACCEPTED_ENVELOPE.contains(problem)
        advice = pretrained_policy(problem).advise(0, problem.initial_wealth)
        assert 0 <= advice.portfolio < problem.num_portfolios


def test_outside_the_acceptance_envelope_names_the_field_the_value_and_the_range(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    poor = every_year(30, 21, funding=0.1)
    message = "funding_ratio: 0.1 is outside the supported range 0.25..4"
    with pytest.raises(OutsideEnvelopeError, match=message):
        pretrained_policy(poor)
    poorer = every_year(30, 21, funding=0.09)
    with pytest.raises(OutsideEnvelopeError, match=r"envelope fine_tune accepts:\n  "
                                                   r"funding_ratio: 0\.09 is outside the "
                                                   r"supported range 0\.1\.\.4"):
        fine_tune(poorer, 1_000)
    crowded = every_year(80, 20)  # 61 goals
    with pytest.raises(OutsideEnvelopeError, match=r"num_goals: 61 is outside the supported "
                                                   r"range 1\.\.60"):
        pretrained_policy(crowded)
    steep = dataclasses.replace(every_year(20, 10), portfolios=volatility_frontier(
        np.random.default_rng(0), 0.6, 10))
    with pytest.raises(OutsideEnvelopeError, match=r"portfolio_volatility: values .*\.\.0\.6 "
                                                   r"are outside the supported range "
                                                   r"0\.005\.\.0\.5"):
        pretrained_policy(steep)
    from gbwm_sb3.cli import main

    save_problem(poor, tmp_path / "poor.yaml")
    assert main(["advise", str(tmp_path / "poor.yaml")]) == 2
    assert message in capsys.readouterr().err


def test_fine_tune_accepts_underfunded_clients_the_zero_shot_policy_refuses() -> None:
    # the acceptance envelope, with funding ratios down to 0.1: fine-tuning trains on the
    # client's problem and keeps the zero-shot network unless a trained one beats it
    widened = fine_tune_envelope()
    assert widened == dataclasses.replace(ACCEPTED_ENVELOPE, funding_ratio=(0.1, 4.0))
    poor = every_year(12, 6, funding=0.12)
    assert ACCEPTED_ENVELOPE.contains(poor) and not widened.contains(poor)
    tuned = fine_tune(poor, 64, n_envs=32, seed=0, holdout_paths=500)
    assert [steps for steps, _, _ in tuned.fine_tune_scores] == [0, 64 * 12]
    advice = tuned.advise(0, poor.initial_wealth)
    assert 0 <= advice.portfolio < poor.num_portfolios


def test_the_fine_tuning_envelope_keeps_a_wider_acceptance_envelope(tmp_path: Path) -> None:
    wide = ProblemEnvelope(horizon=(1, 50), funding_ratio=(0.05, 6.0))
    weights = save_weights(pretrained_network(), tmp_path / "wide", accepted_envelope=wide)
    assert fine_tune_envelope(weights) == wide
    narrow = ProblemEnvelope(funding_ratio=(0.5, 2.0))
    weights = save_weights(pretrained_network(), tmp_path / "narrow", accepted_envelope=narrow)
    assert fine_tune_envelope(weights).funding_ratio == (0.1, 2.0)


def test_weights_without_an_acceptance_envelope_accept_their_training_envelope(
        tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(PPO_WEIGHTS, old)  # trained on DEFAULT_ENVELOPE
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["accepted_envelope"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert accepted_envelope(old) == DEFAULT_ENVELOPE
    with pytest.raises(OutsideEnvelopeError, match=r"horizon: 45 years is outside the "
                                                   r"supported range 1\.\.40 years"):
        pretrained_policy(every_year(45, 30), old)
    manifest["accepted_envelope"] = {"horizon": [1, 0]}
    (old / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WeightsFileError, match="accepted_envelope: horizon must satisfy"):
        read_weights_manifest(old)
    # save_weights records an acceptance envelope when given one, none otherwise
    network = pretrained_network()
    fifty = ProblemEnvelope(horizon=(1, 50))
    assert accepted_envelope(save_weights(network, tmp_path / "new",
                                          accepted_envelope=fifty)) == fifty
    assert accepted_envelope(save_weights(network, tmp_path / "plain")) == DEFAULT_ENVELOPE
    with pytest.raises(ValueError, match="accepted_envelope must be a ProblemEnvelope"):
        save_weights(network, tmp_path / "bad",
                     accepted_envelope={"horizon": (1, 50)})  # type: ignore[arg-type]
