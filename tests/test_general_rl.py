"""Training on the general problem class: K goal logits masked from the observation.

The fused FastPPO update must reproduce stock ``PPO.train()`` (as tests/test_fast_ppo.py
checks for the paper family), with plain PPO and MaskablePPO the policy never picks an
unavailable decision, and a trained model saves, loads and scores.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch as th
from general_problems import small_general_problem
from sb3_contrib import MaskablePPO
from stable_baselines3.common.logger import configure
from test_fast_ppo import (  # noqa: F401  (float64_obs is a fixture)
    _assert_same_logs,
    _assert_same_update,
    _collect,
    _to_double,
    _train,
    float64_obs,
)

from gbwm_sb3 import GBWMVecEnv, evaluate
from gbwm_sb3.dp import solve_dp
from gbwm_sb3.envs.observation import DECISION_FLAGS_START
from gbwm_sb3.evaluation.strategies import SB3Policy
from gbwm_sb3.model_io import load_model_safely, save_model
from gbwm_sb3.policies import MASKED_LOGIT, GBWMPolicy, MaskableGBWMPolicy
from gbwm_sb3.ppo.fast_ppo import fused_path_available
from gbwm_sb3.ppo.presets import paper_ppo, tuned_ppo

N_ENVS = 256  # x 6 steps = 1,536 samples = 6 minibatches of 256


def _general_pair(double: bool, **overrides):
    kwargs = dict(problem=small_general_problem(), n_trajectories_per_rollout=N_ENVS,
                  seed=4) | overrides
    stock = _collect(paper_ppo(fast=False, **kwargs))
    if double:
        _to_double(stock)
    fast = paper_ppo(fast=True, **kwargs)
    if double:
        fast.policy.double()
    fast.policy.load_state_dict(stock.policy.state_dict())
    fast.rollout_buffer = copy.deepcopy(stock.rollout_buffer)
    fast.set_logger(configure(None, []))
    fast._current_progress_remaining = stock._current_progress_remaining
    return stock, fast


def _available(observations: np.ndarray, k: int) -> np.ndarray:
    flags = observations[..., DECISION_FLAGS_START: DECISION_FLAGS_START + k] > 0.5
    flags[..., 0] = True
    return flags


def test_general_problem_has_k_decisions_and_the_fused_path():
    model = paper_ppo(problem=small_general_problem(), n_trajectories_per_rollout=8,
                      batch_size=48)
    assert model.action_space.nvec.tolist() == [6, 3]
    assert model.policy.goal_head.out_features == 6
    assert fused_path_available(model.policy)


def test_one_epoch_float32_fused_update_matches_stock_train():
    stock, fast = _general_pair(double=False, n_epochs=1)
    stock_logs, fast_logs = _train(stock, seed=11), _train(fast, seed=11)
    assert fast._fused is not None and fast._fused.verified and fast._fused.general
    assert fast._fused.n_decisions == 6
    _assert_same_update(stock, fast, rtol=1e-5, atol=1e-6)
    _assert_same_logs(stock_logs, fast_logs, rtol=1e-5)


@pytest.mark.parametrize("head", [dict(), dict(portfolio_given_goal=True),
                                  dict(portfolio_degree=2),
                                  dict(portfolio_degree=2, portfolio_given_goal=True)])
def test_two_epochs_float64_fused_update_matches_stock_train(float64_obs, head):  # noqa: F811
    stock, fast = _general_pair(double=True, n_epochs=2, **head)
    stock_logs, fast_logs = _train(stock, seed=9, times=2), _train(fast, seed=9, times=2)
    assert fast._fused is not None and fast._fused.verified
    _assert_same_update(stock, fast, rtol=1e-9, atol=1e-11)
    _assert_same_logs(stock_logs, fast_logs, rtol=1e-9)


@pytest.mark.parametrize("head", [dict(), dict(portfolio_given_goal=True)])
def test_fused_rollout_collects_what_stock_ppo_collects(head):
    buffers = []
    for fast in (False, True):
        model = _collect(paper_ppo(problem=small_general_problem(), fast=fast, seed=8,
                                   n_trajectories_per_rollout=N_ENVS, **head))
        buffers.append(model.rollout_buffer)
    stock, fast = buffers
    np.testing.assert_array_equal(fast.actions, stock.actions)
    np.testing.assert_array_equal(fast.rewards, stock.rewards)
    np.testing.assert_allclose(fast.log_probs, stock.log_probs, rtol=1e-5, atol=1e-5)


def test_plain_ppo_never_picks_an_unavailable_decision():
    model = _collect(paper_ppo(problem=small_general_problem(), fast=False, seed=1,
                               n_trajectories_per_rollout=N_ENVS))
    buffer = model.rollout_buffer
    available = _available(buffer.observations, 6)
    chosen = buffer.actions[..., 0].astype(int)
    assert np.take_along_axis(available, chosen[..., None], axis=-1).all()
    assert (chosen > 0).any()  # and it does take goals
    obs = th.as_tensor(buffer.observations.reshape(-1, buffer.observations.shape[-1]))
    with th.no_grad():
        dist = model.policy.get_distribution(obs)
    blocked = ~th.as_tensor(available.reshape(-1, 6))
    assert float(dist.goal.probs[blocked].max()) == 0.0
    assert float(dist.goal.logits[blocked].max()) < MASKED_LOGIT / 2


def test_short_fast_ppo_run_learns_and_scores_against_dp():
    problem = small_general_problem()
    model = tuned_ppo(problem=problem, seed=0, n_trajectories_per_rollout=400, batch_size=400)
    model.learn(400 * problem.horizon * 4)
    assert model._fused is not None and model._fused.verified
    report = evaluate({"dp": solve_dp(problem), "rl": SB3Policy(model, problem)}, problem,
                      n_paths=5_000, seed=0)
    assert 0.5 < report["rl"].efficiency <= 1.02


def test_short_maskable_ppo_run_respects_the_masks():
    problem = small_general_problem()
    env = GBWMVecEnv(128, problem=problem, seed=0)
    model = MaskablePPO(MaskableGBWMPolicy, env, n_steps=problem.horizon, batch_size=128,
                        seed=0)
    model.learn(128 * problem.horizon * 2)
    buffer = model.rollout_buffer
    chosen = buffer.actions[..., 0].astype(int)
    masks = buffer.action_masks[..., :6]
    assert np.take_along_axis(masks, chosen[..., None], axis=-1).all()
    report = evaluate({"dp": solve_dp(problem), "rl": SB3Policy(model, problem)}, problem,
                      n_paths=2_000, seed=0)
    assert report["rl"].level_success is not None


def test_policy_refuses_spaces_of_neither_family():
    from gymnasium import spaces

    problem = small_general_problem()
    env = GBWMVecEnv(4, problem=problem)
    with pytest.raises(ValueError, match=r"\(14,\) \(8 \+ K for K = 6\)"):
        GBWMPolicy(spaces.Box(-1, 1, (9,)), env.action_space, lambda _: 1e-3)


def test_general_model_saves_loads_and_acts_the_same(tmp_path):
    problem = small_general_problem()
    model = tuned_ppo(problem=problem, seed=2, n_trajectories_per_rollout=64, batch_size=64)
    model.learn(64 * problem.horizon)
    save_model(model, tmp_path / "m", problem)
    loaded, loaded_problem = load_model_safely(tmp_path / "m")
    assert loaded_problem == problem
    wealth = np.linspace(1.0, 30.0, 50)
    for t in range(problem.horizon):
        a = SB3Policy(model, problem).act(t, wealth)
        b = SB3Policy(loaded, loaded_problem).act(t, wealth)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_savings_with_one_goal_a_year_keep_two_decisions_and_train_fused():
    from gbwm_sb3.problem.model import GBWMProblem, Goal

    problem = GBWMProblem(horizon=4, initial_wealth=5.0, goals=(Goal(2, 6.0, 3.0),
                                                                 Goal(4, 8.0, 5.0)),
                          infusions=[1.0, 1.0, 1.0, 0.0])
    model = tuned_ppo(problem=problem, seed=0, n_trajectories_per_rollout=64, batch_size=64)
    assert model.action_space.nvec.tolist() == [2, 15]
    assert model.observation_space.shape == (DECISION_FLAGS_START + 2,)
    model.learn(64 * problem.horizon * 2)
    assert model._fused is not None and model._fused.verified and model._fused.general


def test_sampling_sb3_policy_draws_only_available_decisions():
    problem = small_general_problem()
    model = tuned_ppo(problem=problem, seed=3, n_trajectories_per_rollout=64, batch_size=64)
    policy = SB3Policy(model, problem, deterministic=False, seed=1)
    wealth = np.full(4000, 3.5)  # t = 2, cash 5.5: decisions 0, 1 (cost 3) and 3 (cost 4)
    decision, portfolio = policy.act(2, wealth)
    assert set(np.unique(decision).tolist()) == {0, 1, 3}
    assert portfolio.min() >= 0 and portfolio.max() < problem.num_portfolios
