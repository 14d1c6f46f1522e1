"""The decision-scoring goal head: each decision scored from its own features, shared weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from general_problems import small_general_problem

from gbwm_sb3 import GBWMEnv, GBWMVecEnv, evaluate
from gbwm_sb3.dp import solve_dp
from gbwm_sb3.envs.dynamics import problem_table
from gbwm_sb3.envs.observation import (
    DECISION_FEATURES,
    DECISION_FLAGS_START,
    encode_observation,
    observation_size,
)
from gbwm_sb3.evaluation.strategies import SB3Policy
from gbwm_sb3.model_io import load_model_safely, save_model
from gbwm_sb3.policies import MASKED_LOGIT, DecisionScoringHead, GBWMPolicy
from gbwm_sb3.ppo.fast_ppo import fused_path_available
from gbwm_sb3.ppo.presets import paper_ppo
from gbwm_sb3.problem.model import paper_problem

PROBLEM = small_general_problem()
F = len(DECISION_FEATURES)


def _features(obs: np.ndarray, k: int) -> np.ndarray:
    return obs[:, DECISION_FLAGS_START + k:].reshape(obs.shape[0], k, F)


def test_decision_features_follow_their_definitions() -> None:
    table = problem_table(PROBLEM)
    k = PROBLEM.max_decisions
    wealth = np.array([2.0, 9.0, 30.0])
    t = 2  # two goals: car (4, u 3) and college (levels 3 / 6, u 2 / 5)
    obs = encode_observation(table, t, wealth, decision_features=True)
    assert obs.shape == (3, observation_size(table, True)) == (3, DECISION_FLAGS_START + k * 6)
    plain = encode_observation(table, t, wealth)
    np.testing.assert_array_equal(obs[:, : plain.shape[1]], plain)  # the prefix is unchanged
    features = _features(obs, k)
    cash = wealth + PROBLEM.infusion_by_time[t]
    left_utility = sum(g.max_utility for g in PROBLEM.goals if g.time >= t)
    left_after = sum(g.cost for g in PROBLEM.goals if g.time > t)
    future = PROBLEM.infusion_by_time[t + 1:].sum()
    for d in PROBLEM.decisions(t):
        column = features[:, d.index]
        np.testing.assert_allclose(column[:, 0], np.minimum(d.cost / cash, 4.0), rtol=1e-6)
        np.testing.assert_allclose(column[:, 1], d.utility / left_utility, rtol=1e-6)
        expected = np.where(d.cost <= cash, np.clip(np.log(np.maximum(
            cash - d.cost + future, 1e-3 * PROBLEM.initial_wealth) / left_after), -7, 7), -7)
        np.testing.assert_allclose(column[:, 2], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(column[:, 3], d.goals_taken / 2)
        levels = [level / goal.num_levels for goal, level in zip(d.goals, d.levels, strict=True)]
        np.testing.assert_allclose(column[:, 4], np.mean(levels), rtol=1e-6)
    absent = len(PROBLEM.decisions(1))  # t = 1 has fewer decisions than K: zero blocks
    assert not _features(encode_observation(table, 1, wealth, True), k)[:, absent:].any()
    assert np.all(np.isfinite(features))


def test_envs_carry_the_features_and_agree() -> None:
    env = GBWMEnv(problem=PROBLEM, decision_features=True)
    vec = GBWMVecEnv(1, problem=PROBLEM, seed=0, decision_features=True)
    assert env.observation_space == vec.observation_space
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, vec.reset()[0])
    draws = np.random.default_rng(1).standard_normal(PROBLEM.horizon)
    env.queue_normal_draws(draws)
    vec.queue_normal_draws(draws[:, None])
    for t in range(PROBLEM.horizon):
        action = np.array([t % 3, 1])
        obs, *_ = env.step(action)
        vec_obs = vec.step(action[None, :])[0][0]
        if t + 1 < PROBLEM.horizon:
            np.testing.assert_array_equal(obs, vec_obs)
        assert env.observation_space.contains(obs)
    with pytest.raises(ValueError, match="decision_features=True needs a problem of the "
                                         "general class"):
        GBWMVecEnv(4, problem=paper_problem(4), decision_features=True)


def test_the_head_shares_weights_across_decisions() -> None:
    """Two decisions with the same features get the same logit, whatever their index."""
    head = DecisionScoringHead(latent_dim=8, n_features=F)
    latent = th.randn(3, 8)
    features = th.randn(3, 4, F)
    features[:, 3] = features[:, 1]
    logits = head(latent, features)
    assert logits.shape == (3, 4)
    th.testing.assert_close(logits[:, 3], logits[:, 1])
    more = head(latent, th.cat([features, features[:, :2]], dim=1))  # any number of decisions
    th.testing.assert_close(more[:, :4], logits)


def test_policy_masks_unavailable_decisions_and_needs_the_features() -> None:
    model = paper_ppo(problem=PROBLEM, n_trajectories_per_rollout=64, batch_size=96,
                      decision_goal_head=True)  # 384 steps a rollout
    policy = model.policy
    assert isinstance(policy, GBWMPolicy) and isinstance(policy.goal_head, DecisionScoringHead)
    assert fused_path_available(policy)  # FastPPO's hand-written update covers the head
    env = model.get_env()
    obs = th.as_tensor(env.reset())
    dist = policy.get_distribution(obs)
    flags = obs[:, DECISION_FLAGS_START: DECISION_FLAGS_START + PROBLEM.max_decisions] > 0.5
    flags[:, 0] = True
    assert th.all(dist.goal.logits[~flags] < MASKED_LOGIT / 2)
    plain_env = GBWMVecEnv(4, problem=PROBLEM)
    with pytest.raises(ValueError, match="decision_goal_head=True needs the observation"):
        GBWMPolicy(plain_env.observation_space, plain_env.action_space, lambda _: 1e-3,
                   decision_goal_head=True)
    with pytest.raises(ValueError, match="needs a problem of the general class"):
        paper_ppo(problem=paper_problem(2), decision_goal_head=True)
    assert type(paper_ppo(problem=paper_problem(2), n_trajectories_per_rollout=8, batch_size=32,
                          decision_goal_head="general").policy.goal_head) is th.nn.Linear


def test_trains_saves_loads_and_scores(tmp_path) -> None:
    model = paper_ppo(problem=PROBLEM, n_trajectories_per_rollout=256, batch_size=256,
                      decision_goal_head=True, seed=3)
    model.learn(256 * PROBLEM.horizon * 3)
    dp = solve_dp(PROBLEM)
    before = evaluate({"dp": dp, "rl": SB3Policy(model, PROBLEM)}, PROBLEM, n_paths=4000)
    save_model(model, tmp_path / "m", PROBLEM)
    loaded, _ = load_model_safely(tmp_path / "m")
    after = evaluate({"dp": dp, "rl": SB3Policy(loaded, PROBLEM)}, PROBLEM, n_paths=4000)
    assert after["rl"].mean_utility == before["rl"].mean_utility
    assert 0.5 < before["rl"].efficiency <= 1.0 + 3 * 0.01


def test_portfolio_rows_per_decision_where_the_years_are_crowded() -> None:
    """``portfolio_given_goal="crowded"``: a portfolio row per decision only where some
    year has at least CROWDED_DECISIONS decisions; "general": on the general class."""
    from gbwm_sb3.ppo.presets import CROWDED_DECISIONS
    from gbwm_sb3.problem.model import GBWMProblem, Goal, paper_portfolios

    crowded = GBWMProblem(horizon=4, initial_wealth=100.0, portfolios=paper_portfolios(),
                          goals=tuple(Goal(2, levels=[(10.0 * i, 2.0), (20.0 * i, 3.0)])
                                      for i in (1, 2, 3)))
    assert crowded.max_decisions >= CROWDED_DECISIONS > PROBLEM.max_decisions
    small = dict(n_trajectories_per_rollout=8, batch_size=32)
    for problem, option, expected in ((crowded, "crowded", True), (PROBLEM, "crowded", False),
                                      (PROBLEM, "general", True),
                                      (paper_problem(2), "general", False)):
        policy = paper_ppo(problem=problem, portfolio_given_goal=option, **small).policy
        assert policy.portfolio_given_goal is expected, (option, problem.max_decisions)
        rows = problem.max_decisions if expected else 1
        assert policy.portfolio_head.out_features == rows * policy.n_portfolios
    with pytest.raises(ValueError, match="portfolio_given_goal must be True, False, "
                                         "'general', 'crowded' or an integer >= 2"):
        paper_ppo(problem=PROBLEM, portfolio_given_goal="often", **small)


def test_portfolio_rows_from_a_number_of_decisions_and_the_tuned_preset() -> None:
    """An integer N: rows per decision where some year has at least N decisions; the
    ``tuned`` preset applies them from ROWS_PER_DECISION_FROM."""
    from gbwm_sb3.ppo.presets import ROWS_PER_DECISION_FROM, make_preset_model

    small = dict(n_trajectories_per_rollout=8, batch_size=32)
    k = PROBLEM.max_decisions
    assert paper_ppo(problem=PROBLEM, portfolio_given_goal=k, **small).policy \
        .portfolio_given_goal
    assert not paper_ppo(problem=PROBLEM, portfolio_given_goal=k + 1, **small).policy \
        .portfolio_given_goal
    for bad in (1, 0, -3, 2.5):
        with pytest.raises(ValueError, match="or an integer >= 2"):
            paper_ppo(problem=PROBLEM, portfolio_given_goal=bad, **small)
    assert PROBLEM.max_decisions < ROWS_PER_DECISION_FROM
    assert not make_preset_model("tuned", problem=PROBLEM).policy.portfolio_given_goal


def test_the_tuned_preset_has_rows_per_decision_on_a_year_of_54_decisions() -> None:
    from gbwm_sb3.ppo.presets import ROWS_PER_DECISION_FROM, make_preset_model
    from gbwm_sb3.problem.model import GBWMProblem, Goal, paper_portfolios

    goals = tuple(Goal(2, levels=[(10.0 * i, 2.0), (20.0 * i, 3.0)]) for i in (1, 2, 3))
    for extra, rows in (((), False), ((Goal(2, 5.0, 1.0),), True)):
        problem = GBWMProblem(horizon=4, initial_wealth=100.0, portfolios=paper_portfolios(),
                              goals=goals + extra)
        assert (problem.max_decisions >= ROWS_PER_DECISION_FROM) is rows
        policy = make_preset_model("tuned", problem=problem).policy
        assert policy.portfolio_given_goal is rows
        assert policy.portfolio_head.out_features == \
            (problem.max_decisions if rows else 1) * (2 + policy.n_portfolios)
