"""FastPPO.train() must perform the same update as stable_baselines3.PPO.train().

Each comparison collects one rollout with stock PPO, copies the initial policy,
optimiser state and rollout buffer into a FastPPO, seeds numpy identically (both
paths draw each epoch's minibatch permutation with ``np.random.permutation``)
and compares parameters, Adam state and logged values after the update.
"""

from __future__ import annotations

import copy
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from torch import nn

from gbwm_sb3 import GBWMVecEnv
from gbwm_sb3.policies import GBWMPolicy
from gbwm_sb3.ppo.fast_ppo import FastPPO, fused_path_available
from gbwm_sb3.ppo.presets import paper_ppo

N_ENVS = 320  # 320 trajectories x 16 steps = 5,120 samples = 20 minibatches of 256
BUFFER_FIELDS = ("observations", "actions", "rewards", "returns", "episode_starts", "values",
                 "log_probs", "advantages")


def _collect(model: PPO) -> PPO:
    """Fill the model's rollout buffer once, as learn() would."""
    _, callback = model._setup_learn(10**7, None)
    callback.init_callback(model)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    return model


@pytest.fixture
def float64_obs(monkeypatch):
    """Let SB3 policies keep float64 observations (it casts Box observations to float32)."""
    import stable_baselines3.common.policies as sb3_policies

    monkeypatch.setattr(sb3_policies, "preprocess_obs", lambda obs, *args, **kwargs: obs)


def _to_double(model: PPO) -> None:
    model.policy.double()
    for name in BUFFER_FIELDS:
        setattr(model.rollout_buffer, name, getattr(model.rollout_buffer, name).astype(np.float64))


def _twin(stock: PPO, algo: type[PPO], env, policy, **kwargs) -> PPO:
    """A model of class ``algo`` with stock's parameters, optimiser state and buffer."""
    twin = algo(policy, env, **kwargs)
    if next(stock.policy.parameters()).dtype == th.float64:
        twin.policy.double()
    twin.policy.load_state_dict(stock.policy.state_dict())
    twin.policy.optimizer.load_state_dict(stock.policy.optimizer.state_dict())
    twin.rollout_buffer = copy.deepcopy(stock.rollout_buffer)
    twin.set_logger(configure(None, []))
    twin._current_progress_remaining = stock._current_progress_remaining
    return twin


def _train(model: PPO, seed: int, times: int = 1) -> dict:
    for i in range(times):
        np.random.seed(seed + i)
        model.train()
    return dict(model.logger.name_to_value)


def _assert_same_update(stock: PPO, fast: PPO, rtol: float, atol: float) -> None:
    for (name, a), b in zip(stock.policy.state_dict().items(),
                            fast.policy.state_dict().values(), strict=True):
        th.testing.assert_close(b, a, rtol=rtol, atol=atol, msg=f"parameter {name}")
    state_a = stock.policy.optimizer.state_dict()["state"]
    state_b = fast.policy.optimizer.state_dict()["state"]
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert float(state_a[key]["step"]) == float(state_b[key]["step"])
        for field in ("exp_avg", "exp_avg_sq"):
            th.testing.assert_close(state_b[key][field], state_a[key][field], rtol=rtol,
                                    atol=atol * 1e-2, msg=f"Adam {field} of parameter {key}")
    assert fast._n_updates == stock._n_updates


def _assert_same_logs(stock_logs: dict, fast_logs: dict, rtol: float) -> None:
    assert set(fast_logs) == set(stock_logs)
    for key, value in stock_logs.items():
        assert fast_logs[key] == pytest.approx(float(value), rel=rtol, abs=rtol), key


def _paper_pair(double: bool, **overrides):
    kwargs = dict(n_trajectories_per_rollout=N_ENVS, seed=3) | overrides
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


def test_fused_path_is_used_for_gbwm_policy():
    model = paper_ppo(n_trajectories_per_rollout=8)
    assert isinstance(model, FastPPO)
    assert fused_path_available(model.policy)
    mlp = PPO("MlpPolicy", GBWMVecEnv(8), n_steps=16, batch_size=32)
    assert not fused_path_available(mlp.policy)


def test_use_autograd_update_trains_without_the_hand_written_path(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the hand-written update ran")

    monkeypatch.setattr(FastPPO, "_train_fused", refuse)
    model = paper_ppo(n_trajectories_per_rollout=8, batch_size=32, seed=1)
    with pytest.raises(AssertionError, match="hand-written update ran"):
        model.learn(8 * 16 * 2)
    model = paper_ppo(n_trajectories_per_rollout=8, batch_size=32, seed=1)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.use_autograd_update()
    model.learn(8 * 16 * 2)
    assert any(not th.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))


def test_one_epoch_float32_matches_stock_train():
    stock, fast = _paper_pair(double=False, n_epochs=1)
    stock_logs = _train(stock, seed=11)
    fast_logs = _train(fast, seed=11)
    assert fast._fused is not None and fast._fused.verified  # the hand-written path ran
    _assert_same_update(stock, fast, rtol=1e-5, atol=1e-6)
    _assert_same_logs(stock_logs, fast_logs, rtol=1e-5)


def test_two_updates_float64_with_value_clipping_match_stock_train(float64_obs):
    """Two train() calls (Adam state carried over), 2 epochs, clip_range_vf: exact to 1e-9."""
    stock, fast = _paper_pair(double=True, n_epochs=2)
    for model in (stock, fast):
        model.clip_range_vf = lambda _: 0.2
    stock_logs = _train(stock, seed=5, times=2)
    fast_logs = _train(fast, seed=5, times=2)
    assert fast._fused is not None
    _assert_same_update(stock, fast, rtol=1e-9, atol=1e-11)
    _assert_same_logs(stock_logs, fast_logs, rtol=1e-9)
    assert "train/clip_range_vf" in fast_logs


def test_target_kl_early_stop_matches_stock_train(float64_obs):
    stock, fast = _paper_pair(double=True, n_epochs=4)
    for model in (stock, fast):
        model.target_kl = 0.004
    stock_logs = _train(stock, seed=2)
    fast_logs = _train(fast, seed=2)
    assert stock._n_updates < 4  # it did stop early
    _assert_same_update(stock, fast, rtol=1e-9, atol=1e-11)
    _assert_same_logs(stock_logs, fast_logs, rtol=1e-9)


def test_generic_path_multidiscrete_mlp_policy_matches_stock_train():
    kwargs = dict(n_steps=16, batch_size=64, n_epochs=2, seed=1, ent_coef=0.01)
    stock = _collect(PPO("MlpPolicy", GBWMVecEnv(40, seed=1), **kwargs))
    fast = _twin(stock, FastPPO, GBWMVecEnv(40, seed=1), "MlpPolicy", **kwargs)
    stock_logs, fast_logs = _train(stock, seed=7), _train(fast, seed=7)
    assert fast._fused is None
    _assert_same_update(stock, fast, rtol=1e-5, atol=1e-6)
    _assert_same_logs(stock_logs, fast_logs, rtol=1e-5)


def test_generic_path_discrete_actions_match_stock_train():
    kwargs = dict(n_steps=64, batch_size=48, n_epochs=2, seed=4)  # last minibatch partial
    stock = _collect(PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=4), **kwargs))
    fast = _twin(stock, FastPPO, make_vec_env("CartPole-v1", n_envs=2, seed=4), "MlpPolicy",
                 **kwargs)
    stock_logs, fast_logs = _train(stock, seed=9), _train(fast, seed=9)
    _assert_same_update(stock, fast, rtol=1e-5, atol=1e-6)
    _assert_same_logs(stock_logs, fast_logs, rtol=1e-5)


class _ScaledGoalPolicy(GBWMPolicy):
    """Same modules as GBWMPolicy but different math: the fused path must notice."""

    def _distribution(self, latent_pi, obs, action_masks=None):
        dist = super()._distribution(latent_pi, obs, action_masks)
        return self.action_dist.proba_distribution(dist.goal.logits * 3.0,
                                                   dist.portfolio.logits, dist.goal_active)


def test_policy_with_different_math_falls_back_to_autograd():
    kwargs = dict(n_steps=16, batch_size=64, n_epochs=1, seed=2)
    stock = _collect(PPO(_ScaledGoalPolicy, GBWMVecEnv(40, seed=2), **kwargs))
    fast = _twin(stock, FastPPO, GBWMVecEnv(40, seed=2), _ScaledGoalPolicy, **kwargs)
    assert fused_path_available(fast.policy)  # same structure ...
    with pytest.warns(RuntimeWarning, match="autograd path"):
        _train(fast, seed=1)
    _train(stock, seed=1)
    assert fast._fused is None  # ... but the self-check rejected it
    _assert_same_update(stock, fast, rtol=1e-5, atol=1e-6)


def test_save_load_compatible_with_ppo(tmp_path):
    model = paper_ppo(n_trajectories_per_rollout=64, seed=0)
    model.learn(64 * 16 * 2)
    path = tmp_path / "fast.zip"
    model.save(path)
    obs = GBWMVecEnv(64, seed=9).reset()
    expected, _ = model.predict(obs, deterministic=True)
    for algo in (PPO, FastPPO):
        loaded = algo.load(path, env=GBWMVecEnv(64, seed=1))
        actions, _ = loaded.predict(obs, deterministic=True)
        np.testing.assert_array_equal(actions, expected)
        opt_a = model.policy.optimizer.state_dict()["state"]
        opt_b = loaded.policy.optimizer.state_dict()["state"]
        for key in opt_a:
            th.testing.assert_close(opt_b[key]["exp_avg_sq"], opt_a[key]["exp_avg_sq"])
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            loaded.learn(64 * 16, reset_num_timesteps=False)  # keeps training after load


def test_learn_logs_training_metrics():
    model = paper_ppo(n_trajectories_per_rollout=64, seed=1)
    model.learn(64 * 16 * 2)
    logged = model.logger.name_to_value
    for key in ("train/policy_gradient_loss", "train/value_loss", "train/entropy_loss",
                "train/learning_rate", "train/clip_fraction", "train/approx_kl"):
        assert key in logged and np.isfinite(logged[key]), key
    assert model.num_timesteps == 64 * 16 * 2


def test_gym_registered_env_still_works_with_fast_ppo_train():
    env = make_vec_env(lambda: gym.make("GBWM-v0"), n_envs=2, seed=0)
    model = FastPPO("MlpPolicy", env, n_steps=32, batch_size=16, n_epochs=1, seed=0)
    _collect(model)
    model.set_logger(configure(None, []))
    model.train()
    assert np.isfinite(model.logger.name_to_value["train/value_loss"])


def test_fused_rollout_collects_what_stock_ppo_collects():
    """Same seed, parameters and env: the fused sampling pass fills the same buffer."""
    buffers = []
    for fast in (False, True):
        model = _collect(paper_ppo(fast=fast, n_trajectories_per_rollout=N_ENVS, seed=8))
        buffers.append(model.rollout_buffer)
    stock, fast = buffers
    np.testing.assert_array_equal(fast.observations, stock.observations)
    np.testing.assert_array_equal(fast.actions, stock.actions)
    np.testing.assert_array_equal(fast.rewards, stock.rewards)
    for name in ("values", "log_probs", "advantages", "returns"):
        np.testing.assert_allclose(getattr(fast, name), getattr(stock, name), rtol=1e-5,
                                   atol=1e-5, err_msg=name)


def test_policy_with_different_math_is_not_sampled_by_the_fused_pass():
    model = FastPPO(_ScaledGoalPolicy, GBWMVecEnv(40, seed=2), n_steps=16, batch_size=64,
                    n_epochs=1, seed=2)
    with pytest.warns(RuntimeWarning, match="autograd path"):
        model.learn(40 * 16)
    assert model._fused is None


def test_relu_and_three_layer_fused_path_matches_stock_train(float64_obs):
    stock, fast = _paper_pair(double=True, n_epochs=1, activation_fn=nn.ReLU,
                              net_arch=[32, 48, 32])
    stock_logs, fast_logs = _train(stock, seed=4), _train(fast, seed=4)
    assert fast._fused is not None and fast._fused.n_layers == 3
    _assert_same_update(stock, fast, rtol=1e-9, atol=1e-11)
    _assert_same_logs(stock_logs, fast_logs, rtol=1e-9)


def test_gbwm_policy_with_unequal_networks_uses_autograd_path_and_matches():
    stock, fast = _paper_pair(double=False, n_epochs=1, net_arch=dict(pi=[64, 64], vf=[32]))
    assert not fused_path_available(fast.policy)
    stock_logs, fast_logs = _train(stock, seed=6), _train(fast, seed=6)
    assert fast._fused is None
    _assert_same_update(stock, fast, rtol=1e-5, atol=1e-6)
    _assert_same_logs(stock_logs, fast_logs, rtol=1e-5)


def test_conditional_portfolio_head_fused_path_matches_stock_train(float64_obs):
    """One portfolio distribution per goal decision: the hand-written update is still exact."""
    stock, fast = _paper_pair(double=True, n_epochs=2, portfolio_given_goal=True)
    assert fused_path_available(fast.policy)
    stock_logs, fast_logs = _train(stock, seed=9), _train(fast, seed=9)
    assert fast._fused is not None and fast._fused.conditional and fast._fused.verified
    _assert_same_update(stock, fast, rtol=1e-9, atol=1e-11)
    _assert_same_logs(stock_logs, fast_logs, rtol=1e-9)


@pytest.mark.parametrize("conditional,free", [(False, False), (True, False), (False, True)])
def test_polynomial_portfolio_head_fused_path_matches_stock_train(float64_obs, conditional,
                                                                  free):
    stock, fast = _paper_pair(double=True, n_epochs=2, portfolio_degree=3,
                              portfolio_given_goal=conditional, portfolio_free_logits=free)
    assert fused_path_available(fast.policy)
    stock_logs, fast_logs = _train(stock, seed=10), _train(fast, seed=10)
    assert fast._fused is not None and fast._fused.verified
    assert fast._fused.basis is not None and fast._fused.conditional is conditional
    _assert_same_update(stock, fast, rtol=1e-9, atol=1e-11)
    _assert_same_logs(stock_logs, fast_logs, rtol=1e-9)


@pytest.mark.parametrize("head", [dict(portfolio_given_goal=True), dict(portfolio_degree=2),
                                  dict(portfolio_degree=2, portfolio_given_goal=True)])
def test_portfolio_head_options_fused_rollout_matches_stock(head):
    """Same seed and parameters: the fused sampling pass draws what the policy draws."""
    buffers = []
    for fast in (False, True):
        model = _collect(paper_ppo(fast=fast, n_trajectories_per_rollout=N_ENVS, seed=8,
                                   **head))
        buffers.append(model.rollout_buffer)
    stock, fast = buffers
    np.testing.assert_array_equal(fast.actions, stock.actions)
    np.testing.assert_array_equal(fast.rewards, stock.rewards)
    np.testing.assert_allclose(fast.log_probs, stock.log_probs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("head", [dict(), dict(portfolio_given_goal=True),
                                  dict(portfolio_degree=2, portfolio_given_goal=True)])
def test_decision_scoring_goal_head_fused_path_matches_stock_train(float64_obs, head):
    """The decision-scoring goal head (a general-class problem with decision features):
    the hand-written update is exact too."""
    from general_problems import small_general_problem

    stock, fast = _paper_pair(double=True, n_epochs=2, problem=small_general_problem(),
                              decision_goal_head=True, batch_size=384, **head)
    assert fused_path_available(fast.policy)
    stock_logs, fast_logs = _train(stock, seed=12), _train(fast, seed=12)
    assert fast._fused is not None and fast._fused.verified and fast._fused.decision_head
    _assert_same_update(stock, fast, rtol=1e-9, atol=1e-11)
    _assert_same_logs(stock_logs, fast_logs, rtol=1e-9)


def test_decision_scoring_goal_head_fused_rollout_matches_stock():
    from general_problems import small_general_problem

    buffers = []
    for fast in (False, True):
        model = _collect(paper_ppo(fast=fast, n_trajectories_per_rollout=N_ENVS, seed=8,
                                   problem=small_general_problem(), decision_goal_head=True,
                                   batch_size=384))
        buffers.append(model.rollout_buffer)
    stock, fast = buffers
    np.testing.assert_array_equal(fast.actions, stock.actions)
    np.testing.assert_array_equal(fast.rewards, stock.rewards)
    np.testing.assert_allclose(fast.log_probs, stock.log_probs, rtol=1e-5, atol=1e-5)
