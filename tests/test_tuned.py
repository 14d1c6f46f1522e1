"""Tests for the tuned preset's training options and the reporting helpers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gbwm_sb3.envs.vec_env import GBWMVecEnv
from gbwm_sb3.experiments.reporting import (
    PAPER_SENSITIVITY,
    PAPER_TABLE1,
    markdown_table,
    paper_interval,
    write_csv,
    write_json,
)
from gbwm_sb3.ppo.callbacks import EntropyDecayCallback
from gbwm_sb3.ppo.presets import paper_ppo, tuned_ppo
from gbwm_sb3.problem.model import paper_problem


def test_scaled_rewards_are_the_plain_rewards_times_the_scale() -> None:
    problem = paper_problem(2)
    plain = GBWMVecEnv(64, problem=problem, seed=3)
    scaled = GBWMVecEnv(64, problem=problem, seed=3, reward_scale=0.25)
    plain.reset(), scaled.reset()
    rng = np.random.default_rng(0)
    total_plain = 0.0
    for _ in range(problem.horizon):
        actions = np.stack([rng.integers(0, 2, 64), rng.integers(0, 15, 64)], axis=1)
        obs_a, r_a, d_a, info_a = plain.step(actions)
        obs_b, r_b, d_b, info_b = scaled.step(actions)
        np.testing.assert_array_equal(obs_a, obs_b)
        np.testing.assert_array_equal(d_a, d_b)
        np.testing.assert_allclose(r_b, 0.25 * r_a, rtol=1e-6)
        total_plain += float(r_a.sum())
    assert total_plain > 0  # some goals were taken, so the check had something to compare
    # Episode utilities stay in the problem's units.
    assert [i["episode"]["r"] for i in info_b] == [i["episode"]["r"] for i in info_a]
    assert scaled.pop_episode_statistics()["mean_utility"] == pytest.approx(total_plain / 64)


@pytest.mark.parametrize("scale", [0.0, -1.0, float("inf"), float("nan"), True, "1"])
def test_bad_reward_scale_is_rejected(scale: object) -> None:
    with pytest.raises(ValueError, match="reward_scale must be a finite number > 0"):
        GBWMVecEnv(4, num_goals=2, reward_scale=scale)


def test_tuned_preset_scales_rewards_by_total_utility() -> None:
    problem = paper_problem(4)
    model = tuned_ppo(problem=problem, seed=0, n_trajectories_per_rollout=32)
    env = model.get_env()
    assert isinstance(env, GBWMVecEnv)
    assert env.reward_scale == pytest.approx(1.0 / problem.total_utility)
    plain = tuned_ppo(problem=problem, seed=0, n_trajectories_per_rollout=32, reward_scale=None)
    assert plain.get_env().reward_scale == 1.0
    assert paper_ppo(problem=problem, n_trajectories_per_rollout=32).get_env().reward_scale == 1.0
    with pytest.raises(ValueError, match="reward_scale"):
        tuned_ppo(problem=problem, n_trajectories_per_rollout=32, reward_scale="big")
    with pytest.raises(ValueError, match="reward_scale must be a number in"):
        paper_ppo(problem=problem, n_trajectories_per_rollout=32, reward_scale=-2.0)


def test_entropy_coefficient_decays_to_its_final_value() -> None:
    model = tuned_ppo(num_goals=2, seed=0, n_trajectories_per_rollout=16, batch_size=64,
                      ent_coef=0.02, ent_coef_final=0.0)
    seen: list[float] = []
    original = model.train

    def spy() -> None:
        seen.append(model.ent_coef)
        original()

    model.train = spy  # type: ignore[method-assign]
    model.learn(16 * 16 * 4)
    assert len(seen) == 4
    assert seen == pytest.approx([0.015, 0.01, 0.005, 0.0])
    assert isinstance(EntropyDecayCallback(0.1, 0.0), EntropyDecayCallback)


def test_paper_numbers_and_interval() -> None:
    assert PAPER_TABLE1[2] == (0.948, 0.0100, 32.6)
    low, high = paper_interval(2)
    assert high - low == pytest.approx(2 * 1.96 * 0.01 / math.sqrt(30))
    assert PAPER_SENSITIVITY[("learning_rate", 0.05)][1] == 0.791
    assert PAPER_SENSITIVITY[("clip_range", 0.5)][16] == 0.978


def test_writers(tmp_path) -> None:
    rows = [{"a": 1, "b": float("nan")}, {"a": 2, "c": "x"}]
    text = write_csv(rows, tmp_path / "t.csv").read_text().splitlines()
    assert text == ["a,b,c", "1,,", "2,,x"]
    data = json.loads(write_json({"rows": rows}, tmp_path / "t.json").read_text())
    assert data["rows"][0]["b"] is None
    table = markdown_table(rows, [("a", "A", str), ("c", "C", lambda v: v or "-")])
    assert table.splitlines() == ["| A | C |", "|---|---|", "| 1 | - |", "| 2 | x |"]


@pytest.mark.parametrize("num_goals", [1, 16])
def test_tuned_minibatch_divides_the_rollout_of_every_paper_problem(num_goals: int) -> None:
    """No truncated last minibatch, so SB3 has nothing to warn about (1,200 x 16 / 960 = 20)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = tuned_ppo(num_goals=num_goals, seed=0)
    assert (model.n_steps * model.n_envs) % model.batch_size == 0
