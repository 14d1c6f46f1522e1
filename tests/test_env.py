"""GBWMEnv: hand-computed trajectories, validation, checkers, seeding, masks, registration."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import gbwm_sb3
from gbwm_sb3 import GBWMEnv, GBWMProblem, Goal, Portfolios, paper_problem
from gbwm_sb3.envs.observation import GOAL_AFFORDABLE_INDEX, OBSERVATION_DIM

# Horizon 3, goals at t = 1 (cost 4, utility 5) and t = 3 (cost 6, utility 7).
MU = (0.05, 0.10)
SIGMA = (0.10, 0.20)
SMALL = GBWMProblem(
    horizon=3,
    initial_wealth=10.0,
    goals=(Goal(time=1, cost=4.0, utility=5.0), Goal(time=3, cost=6.0, utility=7.0)),
    portfolios=Portfolios(means=MU, volatilities=SIGMA),
)


def grow(wealth: float, portfolio: int, z: float) -> float:
    """One year of GBM, written out by hand."""
    return wealth * math.exp(MU[portfolio] - SIGMA[portfolio] ** 2 / 2 + SIGMA[portfolio] * z)


def small_env(draws) -> GBWMEnv:
    env = GBWMEnv(problem=SMALL)
    env.reset(seed=0)
    env.queue_normal_draws(draws)
    return env


# ----- hand-computed trajectories -----
def test_goal_taken_and_final_take():
    z = [0.0, 0.5, 0.3]
    env = small_env(z)
    # t = 0: no goal this year, so "take" is a no-op; portfolio 0.
    obs, reward, term, trunc, info = env.step([1, 0])
    w1 = grow(10.0, 0, z[0])
    assert reward == 0.0 and not term and not trunc
    assert info["wealth"] == pytest.approx(w1, rel=1e-12)
    assert info["goal_taken"] is False and info["goals_taken"] == 0 and info["time"] == 1
    assert info["goals_offered"] == 0
    # Observation at t = 1, by hand: goal this year, both goals (4 + 6) still ahead.
    np.testing.assert_allclose(
        obs, [1 / 3, math.log(w1 / 10.0), 1.0, math.log(w1 / 4.0), 0.0, math.log(w1 / 10.0)],
        rtol=1e-6,
    )
    assert env.action_masks()[1]
    # t = 1: take the goal (affordable: w1 = 10.46 >= 4), portfolio 1.
    obs, reward, term, _, info = env.step(np.array([1, 1]))
    w2_by_hand = grow(w1 - 4.0, 1, z[1])
    # Observation at t = 2: no goal now, the goal at 3 (cost 6) one year away.
    np.testing.assert_allclose(
        obs, [2 / 3, math.log(w2_by_hand / 10.0), 0.0, math.log(w2_by_hand / 6.0), 1 / 3,
              math.log(w2_by_hand / 6.0)], rtol=1e-6,
    )
    w2 = grow(w1 - 4.0, 1, z[1])
    assert reward == 5.0 and not term
    assert info["goal_taken"] is True and info["goals_taken"] == 1 and info["goals_offered"] == 1
    assert info["wealth"] == pytest.approx(w2, rel=1e-12)
    assert info["utility"] == 5.0
    # t = 2: no goal; the goal at T = 3 is taken automatically (w3 = 8.3 >= 6).
    obs, reward, term, trunc, info = env.step([0, 0])
    w3 = grow(w2, 0, z[2])
    assert w3 >= 6.0
    assert term and not trunc
    assert reward == 7.0
    assert info["goal_taken"] is False and info["final_goal_taken"] is True
    assert info["goals_taken"] == 2 and info["goals_offered"] == 2
    assert info["utility"] == 12.0 and info["time"] == 3
    assert info["wealth"] == pytest.approx(w3 - 6.0, rel=1e-12)
    assert obs[0] == 1.0 and obs[GOAL_AFFORDABLE_INDEX] == 0.0


def test_goal_unaffordable_and_final_goal_unaffordable():
    z = [-10.0, 0.0, -3.0]
    env = small_env(z)
    _, reward, _, _, info = env.step([0, 0])
    w1 = grow(10.0, 0, z[0])
    assert w1 < 4.0  # cannot afford the goal at t = 1
    assert reward == 0.0
    assert not env.action_masks()[1]
    obs = env._observation()
    assert obs[GOAL_AFFORDABLE_INDEX] == 0.0
    # "take" when unaffordable: a no-op, wealth untouched.
    _, reward, _, _, info = env.step([1, 1])
    w2 = grow(w1, 1, z[1])
    assert reward == 0.0 and info["goal_taken"] is False and info["goals_taken"] == 0
    assert info["goals_offered"] == 1
    assert info["wealth"] == pytest.approx(w2, rel=1e-12)
    _, reward, term, _, info = env.step([1, 1])
    w3 = grow(w2, 1, z[2])
    assert w3 < 6.0 and term
    assert reward == 0.0 and info["final_goal_taken"] is False
    assert info["goals_taken"] == 0 and info["goals_offered"] == 2 and info["utility"] == 0.0
    assert info["wealth"] == pytest.approx(w3, rel=1e-12)


def test_skipping_an_affordable_goal_keeps_wealth():
    z = [0.0, 0.0, 0.0]
    env = small_env(z)
    env.step([0, 0])
    _, reward, _, _, info = env.step([0, 0])
    assert reward == 0.0
    assert info["wealth"] == pytest.approx(grow(grow(10.0, 0, 0.0), 0, 0.0), rel=1e-12)


def test_goal_at_time_zero_and_exact_cost_leaves_zero_wealth():
    problem = GBWMProblem(horizon=2, initial_wealth=5.0,
                          goals=(Goal(time=0, cost=5.0, utility=3.0),),
                          portfolios=Portfolios(means=MU, volatilities=SIGMA))
    env = GBWMEnv(problem=problem)
    obs, info = env.reset(seed=0)
    assert obs[GOAL_AFFORDABLE_INDEX] == 1.0 and env.action_masks()[1]
    assert info["goals_offered"] == 0 and info["wealth"] == 5.0
    obs, reward, _, _, info = env.step([1, 0])
    assert reward == 3.0 and info["wealth"] == 0.0
    assert env.observation_space.contains(obs)
    _, reward, term, _, info = env.step([0, 1])
    assert term and reward == 0.0 and info["goals_taken"] == 1 and info["goals_offered"] == 1


def test_paper_episode_is_horizon_steps_and_rewards_sum_to_utility():
    env = GBWMEnv()
    env.reset(seed=3)
    rewards, steps, term = [], 0, False
    while not term:
        _, r, term, trunc, info = env.step(env.action_space.sample())
        assert not trunc
        rewards.append(r)
        steps += 1
    assert steps == 16
    assert sum(rewards) == pytest.approx(info["utility"])
    assert info["goals_offered"] == 4 and set(info) >= {
        "wealth", "goal_taken", "goals_taken", "goals_offered", "utility", "time"}
    with pytest.raises(RuntimeError, match="reset"):
        env.step([0, 0])


def test_step_before_reset_raises():
    with pytest.raises(RuntimeError, match="reset"):
        GBWMEnv().step([0, 0])


# ----- invalid actions: a clear error, never a wrap-around -----
@pytest.mark.parametrize(
    "action, message",
    [
        ([0, 15], r"action\[1\] \(portfolio index\) must be in 0\.\.14, got 15"),
        (np.array([0, 15]), r"action\[1\] \(portfolio index\) must be in 0\.\.14, got 15"),
        (np.array([1, -1], dtype=np.int8), r"portfolio index\) must be in 0\.\.14, got -1"),
        (np.array([2, 3], dtype=np.uint8), r"take goal flag\) must be 0 or 1, got 2"),
        ([0, -1], r"action\[1\] \(portfolio index\) must be in 0\.\.14, got -1"),
        ([2, 0], r"action\[0\] \(take goal flag\) must be 0 or 1, got 2"),
        ([-1, 0], r"action\[0\] \(take goal flag\) must be 0 or 1, got -1"),
        ([0, 1, 2], r"action must have shape \(2,\)"),
        ([[0, 1]], r"action must have shape \(2,\)"),
        (3, r"action must have shape \(2,\)"),
        ([0.5, 1], "action must contain integers"),
        ([0, 1.5], "action must contain integers"),
        (["a", "b"], "action must contain integers"),
        ([0, math.nan], "action must contain integers"),
    ],
)
def test_invalid_actions(action, message):
    env = GBWMEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)
    assert env.time == 0  # nothing happened


def test_integer_valued_float_actions_accepted():
    env = GBWMEnv()
    env.reset(seed=0)
    env.step(np.array([1.0, 14.0]))
    assert env.time == 1


# ----- checkers -----
@pytest.mark.parametrize("num_goals", [1, 4, 16])
def test_check_env_without_warnings(num_goals):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(GBWMEnv(num_goals=num_goals))
        sb3_check_env(GBWMEnv(num_goals=num_goals), warn=True)
        gym_check_env(gym.make("GBWM-v0", num_goals=num_goals).unwrapped)


def test_spaces():
    env = GBWMEnv()
    assert isinstance(env.action_space, gym.spaces.MultiDiscrete)
    np.testing.assert_array_equal(env.action_space.nvec, [2, 15])
    assert env.observation_space.shape == (OBSERVATION_DIM,)
    assert env.observation_space.dtype == np.float32


def test_observations_stay_in_bounds_on_extreme_paths():
    env = GBWMEnv()
    for draw, portfolio in [(-8.0, 14), (8.0, 14), (-8.0, 0)]:
        obs, _ = env.reset(seed=0)
        env.queue_normal_draws(np.full(16, draw))
        term = False
        while not term:
            assert env.observation_space.contains(obs)
            obs, _, term, _, _ = env.step([1, portfolio])
        assert env.observation_space.contains(obs)


# ----- scale invariance and seeding -----
def run_episode(env: GBWMEnv, seed: int, actions: np.ndarray):
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for action in actions:
        obs, r, _, _, _ = env.step(action)
        observations.append(obs)
        rewards.append(r)
    return np.array(observations), np.array(rewards)


def random_actions(seed: int, n: int = 15, steps: int = 16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, 2, steps), rng.integers(0, n, steps)], axis=1)


@pytest.mark.parametrize("num_goals", [4, 16])
def test_scale_invariance(num_goals):
    problem = paper_problem(num_goals)
    actions = random_actions(1)
    for seed in range(5):
        obs, rewards = run_episode(GBWMEnv(problem=problem), seed, actions)
        obs_big, rewards_big = run_episode(GBWMEnv(problem=problem.scaled(1e4)), seed, actions)
        np.testing.assert_array_equal(obs, obs_big)
        np.testing.assert_array_equal(rewards, rewards_big)
    obs_unit, _ = run_episode(GBWMEnv(problem=paper_problem(num_goals, unit=1e4)), 0, actions)
    np.testing.assert_allclose(obs_unit, run_episode(GBWMEnv(problem=problem), 0, actions)[0],
                               rtol=1e-6, atol=1e-6)


def test_seeding_reproducible_and_seeds_differ():
    actions = random_actions(2)
    env = GBWMEnv()
    a = run_episode(env, 7, actions)
    b = run_episode(GBWMEnv(), 7, actions)
    c = run_episode(env, 8, actions)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_queued_draws_override_generator_then_fall_back():
    env = GBWMEnv(problem=SMALL)
    env.reset(seed=0)
    env.queue_normal_draws([0.25])
    _, _, _, _, info = env.step([0, 1])
    assert info["wealth"] == pytest.approx(grow(10.0, 1, 0.25), rel=1e-12)
    with pytest.raises(ValueError, match="finite"):
        env.queue_normal_draws([math.inf])


# ----- masks -----
def test_action_masks_follow_goals_and_affordability():
    env = GBWMEnv()
    env.reset(seed=0)
    env.queue_normal_draws(np.zeros(16))
    for t in range(16):
        mask = env.action_masks()
        assert mask.dtype == bool and mask.shape == (17,)
        assert mask[0] and mask[2:].all()
        # Paper problem, zero draws, safest portfolio: W0 = 38.99 affords every goal at 4, 8, 12.
        assert mask[1] == (t in (4, 8, 12))
        obs, *_ = env.step([0, 0])
        assert bool(obs[GOAL_AFFORDABLE_INDEX]) == (t + 1 in (4, 8, 12))
    assert not env.action_masks()[1]  # after the final automatic take


# ----- registration and kwargs -----
def test_registered_on_import():
    assert gbwm_sb3.envs.ENV_ID == "GBWM-v0" and "GBWM-v0" in gym.registry
    assert gym.make("GBWM-v0").unwrapped.problem == paper_problem(4)
    assert gym.make("GBWM-v0", num_goals=8).unwrapped.problem == paper_problem(8)
    problem = paper_problem(2, unit=1e4)
    assert gym.make("GBWM-v0", problem=problem).unwrapped.problem is problem


def test_bad_kwargs():
    with pytest.raises(ValueError, match=r"num_goals must be one of \(1, 2, 4, 8, 16\), got 3"):
        gym.make("GBWM-v0", num_goals=3)
    with pytest.raises(ValueError, match="either problem= .* or num_goals="):
        GBWMEnv(problem=paper_problem(4), num_goals=4)
    with pytest.raises(ValueError, match="problem must be a GBWMProblem"):
        GBWMEnv(problem={"horizon": 16})
    with pytest.raises(ValueError, match="render_mode"):
        GBWMEnv(render_mode="human")


# ----- rendering and SB3's make_vec_env -----
def test_render_modes():
    assert GBWMEnv().render() is None
    env = GBWMEnv(render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert text.startswith("t=0/16 wealth=38.9881") and "goals taken=0/0" in text
    env = GBWMEnv(render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert image.shape == (48, 160, 3) and image.dtype == np.uint8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env)


def test_make_vec_env_works_without_warnings():
    from stable_baselines3.common.env_util import make_vec_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vec = make_vec_env("GBWM-v0", n_envs=2, seed=0, env_kwargs={"num_goals": 2})
        obs = vec.reset()
        assert obs.shape == (2, OBSERVATION_DIM)
        for _ in range(16):
            obs, rewards, dones, infos = vec.step(np.array([[1, 3], [0, 14]]))
        assert dones.all() and infos[0]["episode"]["l"] == 16
        assert vec.get_attr("problem")[0] == paper_problem(2)


def test_last_step_can_take_two_goals():
    problem = GBWMProblem(horizon=2, initial_wealth=10.0,
                          goals=(Goal(time=1, cost=2.0, utility=3.0),
                                 Goal(time=2, cost=3.0, utility=4.0)),
                          portfolios=Portfolios(means=MU, volatilities=SIGMA))
    env = GBWMEnv(problem=problem)
    env.reset(seed=0)
    env.queue_normal_draws([0.0, 0.0])
    env.step([0, 0])
    _, reward, term, _, info = env.step([1, 0])
    assert term and reward == 7.0
    assert info["goal_taken"] and info["final_goal_taken"]
    assert info["goals_taken"] == 2 and info["goals_offered"] == 2
    assert info["wealth"] == pytest.approx(grow(grow(10.0, 0, 0.0) - 2.0, 0, 0.0) - 3.0)
