"""GBWMVecEnv: equal to GBWMEnv on the same draws, auto-reset, statistics, SB3 integration."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

from gbwm_sb3 import GBWMEnv, GBWMVecEnv, paper_problem
from gbwm_sb3.envs.dynamics import problem_table
from gbwm_sb3.envs.gbwm_env import goals_offered

N = 6


def random_actions(rng: np.random.Generator, n_envs: int, n_portfolios: int = 15) -> np.ndarray:
    return np.stack([rng.integers(0, 2, n_envs), rng.integers(0, n_portfolios, n_envs)], axis=1)


@pytest.mark.parametrize("num_goals", [1, 4, 16])
def test_equals_single_envs_on_the_same_draws(num_goals):
    """Two full episodes (so the auto-reset too), step by step, against N GBWMEnvs."""
    problem = paper_problem(num_goals)
    horizon = problem.horizon
    draws = np.random.default_rng(10).standard_normal((2 * horizon, N)) * 1.5
    vec = GBWMVecEnv(N, problem=problem, seed=0, step_info=True)
    vec.queue_normal_draws(draws)
    singles = [GBWMEnv(problem=problem) for _ in range(N)]
    obs = vec.reset()
    for i, env in enumerate(singles):
        single_obs, _ = env.reset(seed=i)
        env.queue_normal_draws(draws[:, i])
        np.testing.assert_array_equal(obs[i], single_obs)
    rng = np.random.default_rng(11)
    utilities = np.zeros(N)
    for step in range(2 * horizon):
        actions = random_actions(rng, N)
        obs, rewards, dones, infos = vec.step(actions)
        assert obs.dtype == np.float32 and rewards.shape == (N,) and dones.shape == (N,)
        for i, env in enumerate(singles):
            single_obs, r, term, trunc, info = env.step(actions[i])
            assert rewards[i] == np.float32(r)
            assert dones[i] == term and not trunc
            for key in ("wealth", "goal_taken", "final_goal_taken", "goals_taken",
                        "goals_offered", "utility", "time"):
                assert infos[i][key] == info[key], key
            if term:
                np.testing.assert_array_equal(infos[i]["terminal_observation"], single_obs)
                assert infos[i]["episode"]["r"] == info["utility"]
                assert infos[i]["episode"]["l"] == horizon
                utilities[i] += info["utility"]
                single_obs, _ = env.reset()
            np.testing.assert_array_equal(obs[i], single_obs)
        assert dones.all() == ((step + 1) % horizon == 0)
        assert dones.any() == dones.all()  # lockstep
    assert utilities.sum() > 0


def test_generator_draws_match_one_normal_matrix():
    """With no queued draws, step k uses row k of default_rng(seed).standard_normal((T, N))."""
    problem = paper_problem(4)
    draws = np.random.default_rng(5).standard_normal((16, N))
    vec = GBWMVecEnv(N, problem=problem, seed=5)
    vec.reset()
    singles = [GBWMEnv(problem=problem) for _ in range(N)]
    for i, env in enumerate(singles):
        env.reset(seed=0)
        env.queue_normal_draws(draws[:, i])
    rng = np.random.default_rng(0)
    for _ in range(15):
        actions = random_actions(rng, N)
        vec.step(actions)
        wealth = [env.step(actions[i])[4]["wealth"] for i, env in enumerate(singles)]
        np.testing.assert_array_equal(vec.wealth, wealth)


def test_default_info_is_cheap_until_episode_end():
    vec = GBWMVecEnv(3, seed=0)
    vec.reset()
    for _ in range(15):
        _, _, dones, infos = vec.step(np.zeros((3, 2), dtype=np.int64))
        assert not dones.any() and infos == [{}, {}, {}]
        assert len({id(info) for info in infos}) == 3  # distinct dicts, safe to mutate
    utility = vec.utility
    obs, rewards, dones, infos = vec.step(np.zeros((3, 2), dtype=np.int64))
    assert dones.all()
    for i, info in enumerate(infos):
        assert set(info) == {"terminal_observation", "episode"}
        assert info["terminal_observation"][0] == 1.0
        assert set(info["episode"]) == {"r", "l", "t"}
        assert info["episode"]["r"] == utility[i] + rewards[i] and info["episode"]["l"] == 16
    # Auto-reset: the returned observation is the first of the next episode.
    np.testing.assert_array_equal(obs, vec.reset())
    assert vec.time == 0


def test_episode_statistics():
    vec = GBWMVecEnv(5, seed=1, step_info=True)
    vec.reset()
    assert vec.pop_episode_statistics() == {}
    totals, goals, affordable = [], [], 0
    rng = np.random.default_rng(3)
    costs = vec.problem.cost_by_time
    for _ in range(2 * 16 + 3):  # two complete episodes, one partial
        t, wealth = vec.time, vec.wealth
        if t in (4, 8, 12):
            affordable += int(np.sum(wealth >= costs[t]))
        _, _, dones, infos = vec.step(random_actions(rng, 5))
        if dones.all():
            totals += [info["episode"]["r"] for info in infos]
            goals += [info["goals_taken"] for info in infos]
            affordable += sum(info["final_goal_taken"] for info in infos)
        if len(totals) == 10:
            break
    for _ in range(3):  # a partial third episode does not count
        vec.step(random_actions(rng, 5))
    stats = vec.pop_episode_statistics()
    assert stats["episodes"] == 10
    assert stats["mean_utility"] == pytest.approx(np.mean(totals))
    assert stats["goals_taken"] == sum(goals)
    assert stats["goals_offered"] == 40
    assert stats["goal_success_rate"] == pytest.approx(sum(goals) / 40)
    assert sum(goals) <= stats["goals_affordable"] == affordable < 40
    assert vec.pop_episode_statistics() == {}


def test_seeding():
    actions = np.tile([1, 7], (4, 1))

    def wealth_after(vec: GBWMVecEnv, steps: int = 5) -> np.ndarray:
        vec.reset()
        for _ in range(steps):
            vec.step(actions)
        return vec.wealth

    a = wealth_after(GBWMVecEnv(4, seed=3))
    b = wealth_after(GBWMVecEnv(4, seed=3))
    other = GBWMVecEnv(4, seed=99)
    assert other.seed(3) == [3, 4, 5, 6]  # SB3's per-env seed list; the generator uses seed 3
    c = wealth_after(other)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, wealth_after(GBWMVecEnv(4, seed=4)))
    # The seed is used once: a later reset continues the stream.
    assert not np.array_equal(c, wealth_after(other))


def test_invalid_actions_name_field_and_env():
    vec = GBWMVecEnv(3, seed=0)
    vec.reset()
    good = np.zeros((3, 2), dtype=np.int64)
    bad = good.copy()
    bad[2, 1] = 15
    with pytest.raises(ValueError, match=r"portfolio index\) must be in 0\.\.14, got 15 \(env 2\)"):
        vec.step(bad)
    bad = good.copy()
    bad[1, 0] = 2
    with pytest.raises(ValueError, match=r"take goal flag\) must be 0 or 1, got 2 \(env 1\)"):
        vec.step(bad)
    with pytest.raises(ValueError, match=r"shape \(3, 2\)"):
        vec.step(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="integers"):
        vec.step(good + 0.5)
    assert vec.time == 0
    with pytest.raises(RuntimeError, match="step_async"):
        vec.step_wait()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_envs=0), "num_envs"),
        (dict(num_envs=2.0), "num_envs"),
        (dict(num_envs=2, seed=-1), "seed"),
        (dict(num_envs=2, num_goals=5), "num_goals"),
        (dict(num_envs=2, num_goals=4, problem=paper_problem(4)), "not both"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GBWMVecEnv(**kwargs)


def test_queue_draws_validation():
    vec = GBWMVecEnv(3)
    with pytest.raises(ValueError, match=r"shape \(steps, 3\)"):
        vec.queue_normal_draws(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="finite"):
        vec.queue_normal_draws(np.array([0.0, math.nan, 0.0]))


def test_action_masks_and_sb3_contrib_helpers():
    problem = paper_problem(4)
    vec = GBWMVecEnv(N, problem=problem, seed=2)
    vec.reset()
    # Wealth spread: some trajectories afford the goal at t = 4, some do not.
    vec.queue_normal_draws(np.tile(np.linspace(-6, 3, N), (4, 1)))
    for _ in range(4):
        vec.step(np.tile([0, 14], (N, 1)))
    masks = vec.action_masks()
    expected_take = vec.wealth >= problem.cost_by_time[4]
    assert 0 < expected_take.sum() < N
    np.testing.assert_array_equal(masks[:, 1], expected_take)
    assert masks[:, 0].all() and masks[:, 2:].all() and masks.shape == (N, 17)
    assert is_masking_supported(vec)
    np.testing.assert_array_equal(get_action_masks(vec), masks)
    np.testing.assert_array_equal(np.stack(vec.env_method("action_masks", indices=[1, 3])),
                                  masks[[1, 3]])
    np.testing.assert_array_equal(vec.get_attr("action_masks", indices=2)[0](), masks[2])


def test_attribute_access():
    vec = GBWMVecEnv(3, num_goals=8, seed=0)
    vec.reset()
    assert vec.get_attr("problem") == [paper_problem(8)] * 3
    assert vec.get_attr("wealth", indices=[0, 2]) == [pytest.approx(12 * 8**0.85)] * 2
    assert vec.get_attr("render_mode") == [None, None, None]
    assert vec.has_attr("problem") and not vec.has_attr("nonexistent")
    with pytest.raises(AttributeError):
        vec.get_attr("nonexistent")
    with pytest.raises(AttributeError, match="new GBWMVecEnv"):
        vec.set_attr("problem", paper_problem(4))
    with pytest.raises(AttributeError):
        vec.env_method("reset")
    with pytest.raises(IndexError):
        vec.get_attr("problem", indices=[3])
    assert vec.env_is_wrapped(Monitor) == [True, True, True]
    assert vec.env_is_wrapped(VecMonitor) == [False, False, False]
    assert isinstance(vec, VecEnv) and vec.render_mode is None
    assert goals_offered(problem_table(paper_problem(8)), 16) == 8


def test_construction_and_sb3_learn_emit_no_warnings():
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for algo in (PPO, MaskablePPO):
            vec = GBWMVecEnv(32, seed=0)
            model = algo("MlpPolicy", vec, n_steps=16, batch_size=128, n_epochs=1, seed=0,
                         policy_kwargs=dict(net_arch=[16]), device="cpu")
            model.learn(2 * 32 * 16)
            assert len(model.ep_info_buffer) > 0
            assert model.ep_info_buffer[-1]["l"] == 16
            stats = vec.pop_episode_statistics()
            assert stats["episodes"] == 64
        # Monitor-style episode info: evaluate_policy neither warns nor needs a wrapper.
        mean, _ = evaluate_policy(model, GBWMVecEnv(4, seed=1), n_eval_episodes=8)
        assert 0.0 <= mean <= paper_problem(4).total_utility
