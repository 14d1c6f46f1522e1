"""The survival column of the observation: how much of what is on offer the investor can
expect to live for."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gbwm_sb3 import GBWMEnv, GBWMVecEnv, evaluate
from gbwm_sb3.dp import solve_dp
from gbwm_sb3.envs.dynamics import problem_table
from gbwm_sb3.envs.observation import (
    LOG_CLIP,
    encode_observation,
    inflation_column,
    observation_bounds,
    observation_size,
    regime_columns,
    survival_column,
)
from gbwm_sb3.evaluation.strategies import SB3Policy
from gbwm_sb3.policies import GBWMPolicy
from gbwm_sb3.ppo.fast_ppo import fused_path_available
from gbwm_sb3.ppo.presets import paper_ppo
from gbwm_sb3.problem.inflation import InflationModel
from gbwm_sb3.problem.model import GBWMProblem, Goal, paper_portfolios
from gbwm_sb3.problem.regimes import two_regime_us_market

SURVIVAL = (0.99, 0.97, 0.9, 0.8, 0.6, 0.5)
PLAIN = GBWMProblem(horizon=6, initial_wealth=50.0, portfolios=paper_portfolios(),
                    goals=(Goal(2, 20.0, 4.0), Goal(2, levels=[(10.0, 2.0), (25.0, 5.0)]),
                           Goal(5, 30.0, 6.0), Goal(6, 40.0, 8.0)))
MORTAL = dataclasses.replace(PLAIN, survival=SURVIVAL)


def _by_hand(t: int) -> float:
    alive = [math.prod(SURVIVAL[:year]) for year in range(7)]
    ahead = [(g.time, g.max_utility) for g in MORTAL.goals if g.time >= t]
    if not ahead:
        return 0.0
    expected = sum(u * alive[year] / alive[t] for year, u in ahead)
    return math.log(expected / sum(u for _, u in ahead))


def test_the_column_follows_its_definition_and_appends_to_the_layout() -> None:
    table, plain = problem_table(MORTAL), problem_table(PLAIN)
    assert observation_size(table) == observation_size(plain) + 1
    assert observation_size(table, True) == observation_size(plain, True) + 1
    column = survival_column(table)
    assert column == slice(observation_size(plain), observation_size(plain) + 1)
    assert survival_column(plain) == slice(observation_size(plain), observation_size(plain))
    low, high = observation_bounds(table)
    assert (low[column], high[column]) == (-LOG_CLIP, 0.0)
    wealth = np.array([5.0, 40.0, 400.0])
    for t in range(MORTAL.horizon + 1):
        obs = encode_observation(table, t, wealth)
        np.testing.assert_allclose(obs[:, column], _by_hand(t), rtol=1e-6, atol=1e-7)
        # everything before it is the observation of the same plan without the table
        np.testing.assert_array_equal(obs[:, :observation_size(plain)],
                                      encode_observation(plain, t, wealth))
    # the goals still to come are discounted until only the horizon's is left
    assert all(_by_hand(t) < 0.0 for t in range(MORTAL.horizon)) and _by_hand(6) == 0.0


def test_with_regimes_and_inflation_each_column_is_found() -> None:
    both = dataclasses.replace(MORTAL, market=two_regime_us_market(),
                               inflation=InflationModel(mean=0.02, persistence=0.5,
                                                        volatility=0.01))
    table = problem_table(both)
    size = observation_size(table, True)
    assert inflation_column(table, True) == slice(size - 1, size)
    assert survival_column(table, True) == slice(size - 2, size - 1)
    assert regime_columns(table, True) == slice(size - 4, size - 2)
    obs = encode_observation(table, 2, np.array([30.0, 60.0]), True, regime=np.array([0, 1]),
                             inflation=0.02)
    np.testing.assert_array_equal(obs[:, regime_columns(table, True)], [[1, 0], [0, 1]])
    np.testing.assert_allclose(obs[:, survival_column(table, True)], _by_hand(2), rtol=1e-6)
    for decision_features in (False, True):
        env = GBWMVecEnv(4, problem=both, decision_features=decision_features)
        policy = GBWMPolicy(env.observation_space, env.action_space, lambda _: 1e-3,
                            decision_goal_head=decision_features)
        assert (policy.regime_columns, policy.survival_columns, policy.inflation_columns) \
            == (2, 1, 1)
    # two regimes and a survival table: three columns that must not read as three regimes
    regimes_only = dataclasses.replace(MORTAL, market=two_regime_us_market())
    env = GBWMVecEnv(4, problem=regimes_only)
    policy = GBWMPolicy(env.observation_space, env.action_space, lambda _: 1e-3)
    assert (policy.regime_columns, policy.survival_columns, policy.inflation_columns) \
        == (2, 1, 0)


def test_envs_carry_it_and_ppo_trains_on_the_fused_path() -> None:
    env = GBWMEnv(problem=MORTAL)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs[survival_column(problem_table(MORTAL))] == pytest.approx(_by_hand(0), rel=1e-6)
    model = paper_ppo(problem=MORTAL, n_trajectories_per_rollout=256, batch_size=256, seed=2)
    assert model.policy.survival_columns == 1
    assert fused_path_available(model.policy)
    model.learn(256 * MORTAL.horizon * 3)
    report = evaluate({"dp": solve_dp(MORTAL), "rl": SB3Policy(model, MORTAL)}, MORTAL,
                      n_paths=4000)
    assert 0.5 < report["rl"].efficiency <= 1.0 + 3 * 0.01
