"""The documented configuration (paper_ppo) and the GBWM training metrics."""

from __future__ import annotations

import csv
import glob
import sys

import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

import gbwm_sb3  # noqa: F401  (registers GBWM-v0)
from gbwm_sb3.envs.gbwm_env import GBWMEnv
from gbwm_sb3.policies import GBWMPolicy
from gbwm_sb3.ppo.callbacks import GBWMMetricsCallback, with_metrics_callback
from gbwm_sb3.ppo.presets import (
    GBWMPPO,
    PAPER_HYPERPARAM_SOURCES,
    PAPER_HYPERPARAMS,
    learn_paper,
    paper_ppo,
    paper_total_timesteps,
)
from gbwm_sb3.problem.model import GBWMProblem, Goal, paper_portfolios, paper_problem

SMALL = 96  # trajectories per rollout in the short training runs


def test_documented_values():
    assert PAPER_HYPERPARAMS == {
        "n_trajectories_per_rollout": 4800,
        "n_trajectories": 50_000,
        "learning_rate": 0.01,
        "batch_size": 256,
        "n_epochs": 4,
        "clip_range": 0.5,
        "gamma": 1.0,
        "gae_lambda": 0.95,
        "ent_coef": 0.01,
        "vf_coef": 0.5,
        "max_grad_norm": 0.5,
        "net_arch": [64, 64],
        "activation_fn": nn.Tanh,
    }
    assert set(PAPER_HYPERPARAM_SOURCES) == set(PAPER_HYPERPARAMS)
    for source in PAPER_HYPERPARAM_SOURCES.values():
        assert source.split(" ")[0] in {"paper", "seeds", "SB3", "objective"}


def test_paper_ppo_builds_the_documented_model():
    th.set_num_threads(3)
    model = paper_ppo(fast=False)
    assert th.get_num_threads() == 1
    assert isinstance(model, GBWMPPO) and isinstance(model.policy, GBWMPolicy)
    env = model.get_env()
    assert env.num_envs == 4800 and env.problem == paper_problem(4)
    assert model.n_steps == 16 and model.n_envs * model.n_steps == 76_800
    assert (model.batch_size, model.n_epochs) == (256, 4)
    assert (model.gamma, model.gae_lambda, model.ent_coef) == (1.0, 0.95, 0.01)
    assert (model.vf_coef, model.max_grad_norm) == (0.5, 0.5)
    assert model.clip_range(1.0) == model.clip_range(0.0) == 0.5
    assert model.policy.net_arch == dict(pi=[64, 64], vf=[64, 64])
    assert model.policy.activation_fn is nn.Tanh
    assert model.device.type == "cpu" and model.seed == 0


def test_learning_rate_decays_linearly_to_zero():
    model = paper_ppo(fast=False, n_trajectories_per_rollout=SMALL)
    for progress in np.linspace(1.0, 0.0, 11):
        assert model.lr_schedule(progress) == pytest.approx(0.01 * progress, abs=1e-12)
    assert model.lr_schedule(-0.05) == 0.0  # past the budget (last partial rollout): 0
    assert model.policy.optimizer.param_groups[0]["lr"] == pytest.approx(0.01)


def test_total_timesteps_and_rounding_to_whole_rollouts():
    assert paper_total_timesteps(paper_problem(4)) == 800_000
    assert paper_total_timesteps(paper_problem(1), n_trajectories=25_000) == 400_000
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="n_trajectories"):
            paper_total_timesteps(paper_problem(4), bad)
    with pytest.raises(ValueError, match="problem"):
        paper_total_timesteps(None)  # type: ignore[arg-type]
    model = paper_ppo(fast=False, n_trajectories_per_rollout=SMALL, seed=3)
    learn_paper(model, n_trajectories=2 * SMALL + 1)  # rounds up to 3 rollouts
    assert model.num_timesteps == 3 * SMALL * 16


def test_overrides_are_applied():
    problem = GBWMProblem(horizon=5, initial_wealth=20.0,
                          goals=[Goal(time=2, cost=8.0, utility=3.0),
                                 Goal(time=5, cost=10.0, utility=5.0)],
                          portfolios=paper_portfolios())
    model = paper_ppo(problem=problem, fast=False, n_trajectories_per_rollout=64,
                      learning_rate=0.003, clip_range=0.2, net_arch=dict(pi=[32], vf=[16, 16]),
                      activation_fn=nn.ReLU, batch_size=64, n_epochs=1, seed=7)
    assert model.get_env().num_envs == 64 and model.n_steps == 5
    assert model.lr_schedule(1.0) == pytest.approx(0.003)
    assert model.lr_schedule(0.5) == pytest.approx(0.0015)
    assert model.clip_range(0.0) == 0.2
    assert model.policy.net_arch == dict(pi=[32], vf=[16, 16])
    model.learn(2 * 64 * 5)
    constant = paper_ppo(fast=False, n_trajectories_per_rollout=SMALL, learning_rate=lambda _: 1e-3,
                         net_arch=[8, 8])
    assert constant.lr_schedule(0.1) == pytest.approx(1e-3)
    assert constant.policy.net_arch == dict(pi=[8, 8], vf=[8, 8])


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(n_step=16), "allowed: n_trajectories_per_rollout"),
        (dict(n_trajectories=1000), "learn_paper"),
        (dict(n_trajectories_per_rollout=0), "n_trajectories_per_rollout"),
        (dict(batch_size=1), "batch_size"),
        (dict(n_epochs=2.0), "n_epochs"),
        (dict(learning_rate=-0.1), "learning_rate"),
        (dict(learning_rate=float("nan")), "learning_rate"),
        (dict(clip_range=0), "clip_range"),
        (dict(gamma=1.5), "gamma"),
        (dict(gae_lambda=-0.1), "gae_lambda"),
        (dict(ent_coef=-1), "ent_coef"),
        (dict(vf_coef=0), "vf_coef"),
        (dict(max_grad_norm=float("inf")), "max_grad_norm"),
        (dict(net_arch=[64, 0]), "net_arch"),
        (dict(net_arch=dict(pi=[64])), "net_arch"),
        (dict(activation_fn="sigmoid"), "activation_fn must be one of"),
    ],
)
def test_bad_overrides_raise(overrides, match):
    with pytest.raises(ValueError, match=match):
        paper_ppo(fast=False, **overrides)


def test_bad_problem_raises():
    with pytest.raises(ValueError, match="problem"):
        paper_ppo(problem="paper", fast=False)  # type: ignore[arg-type]


def test_fast_path(monkeypatch):
    try:
        from gbwm_sb3.ppo.fast_ppo import FastPPO
    except ImportError:
        FastPPO = None
    if FastPPO is not None:
        model = paper_ppo(n_trajectories_per_rollout=SMALL)
        assert isinstance(model, FastPPO)
    monkeypatch.setitem(sys.modules, "gbwm_sb3.ppo.fast_ppo", None)  # import now fails
    with pytest.raises(ImportError, match="fast=False"):
        paper_ppo(n_trajectories_per_rollout=SMALL)


# ---------------------------------------------------------------- metrics
class _FakeStatsEnv:
    def __init__(self, stats):
        self.stats = stats

    def pop_episode_statistics(self):
        return self.stats


class _FakeModel:
    def __init__(self, env, logger):
        self.env, self.logger = env, logger

    def get_env(self):
        return self.env


def test_metrics_callback_records_the_env_statistics(tmp_path):
    callback = GBWMMetricsCallback()
    logger = configure(str(tmp_path), [])
    env = _FakeStatsEnv({"episodes": 10, "mean_utility": 42.5, "goals_taken": 7,
                         "goals_offered": 20, "goal_success_rate": 0.35})
    callback.model = _FakeModel(env, logger)
    callback.on_rollout_end()
    assert logger.name_to_value["gbwm/mean_episode_utility"] == 42.5
    assert logger.name_to_value["gbwm/goal_success_rate"] == 0.35
    assert logger.name_to_value["gbwm/episodes"] == 10
    logger.name_to_value.clear()
    env.stats = {}  # no episode ended: nothing recorded
    callback.on_rollout_end()
    assert "gbwm/mean_episode_utility" not in logger.name_to_value


def test_metrics_need_a_gbwm_vec_env():
    model = GBWMPPO(GBWMPolicy, DummyVecEnv([GBWMEnv, GBWMEnv]), n_steps=16, batch_size=32)
    with pytest.raises(TypeError, match="pop_episode_statistics"):
        model.learn(64)


def test_with_metrics_callback_keeps_user_callbacks():
    def user_fn(_locals, _globals):
        return True

    combined = with_metrics_callback([user_fn])
    assert isinstance(combined.callbacks[0], GBWMMetricsCallback)
    only = GBWMMetricsCallback()
    assert with_metrics_callback(only) is only  # never added twice


class _CountRollouts(BaseCallback):
    def __init__(self):
        super().__init__()
        self.rollouts = 0
        self.seen_metrics = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.rollouts += 1
        self.seen_metrics.append(self.logger.name_to_value.get("gbwm/mean_episode_utility"))


@pytest.mark.filterwarnings("ignore:rich is experimental")  # SB3's progress bar
def test_metrics_on_stdout_csv_and_tensorboard(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = paper_ppo(fast=False, n_trajectories_per_rollout=SMALL, seed=1, verbose=1,
                      tensorboard_log=str(tmp_path / "tb"))
    counter = _CountRollouts()
    learn_paper(model, n_trajectories=3 * SMALL, callback=counter, progress_bar=True)
    assert counter.rollouts == 3  # the user's callback still runs
    max_utility = sum(g.utility for g in model.get_env().problem.goals)
    assert all(0.0 <= u <= max_utility for u in counter.seen_metrics)
    out = capsys.readouterr().out
    for key in ("mean_episode_utility", "goal_success_rate", "value_loss",
                "policy_gradient_loss", "learning_rate"):
        assert key in out
    (event_file,) = glob.glob(str(tmp_path / "tb" / "*" / "events.out.tfevents.*"))
    tags = set(EventAccumulator(event_file).Reload().Tags()["scalars"])
    assert {"gbwm/mean_episode_utility", "gbwm/goal_success_rate", "train/value_loss",
            "train/policy_gradient_loss", "train/learning_rate"} <= tags

    model = paper_ppo(fast=False, n_trajectories_per_rollout=SMALL, seed=2)
    model.set_logger(configure(str(tmp_path / "csv"), ["csv"]))
    learn_paper(model, n_trajectories=2 * SMALL)
    with open(tmp_path / "csv" / "progress.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    for row in rows:
        assert 0.0 <= float(row["gbwm/goal_success_rate"]) <= 1.0
        assert float(row["gbwm/episodes"]) == SMALL


def test_plain_ppo_still_works_without_metrics():
    model = PPO(GBWMPolicy, paper_ppo(fast=False, n_trajectories_per_rollout=SMALL).get_env(),
                n_steps=16, batch_size=256, n_epochs=1)
    model.learn(SMALL * 16)
    assert model.num_timesteps == SMALL * 16


@pytest.mark.parametrize("kwargs,field", [
    (dict(portfolio_given_goal="yes"), "portfolio_given_goal"),
    (dict(portfolio_degree=15), "portfolio_degree"),
    (dict(portfolio_degree=2, portfolio_free_logits=1), "portfolio_free_logits"),
])
def test_portfolio_head_options_are_validated_by_name(kwargs, field):
    with pytest.raises(ValueError, match=field):
        paper_ppo(n_trajectories_per_rollout=8, batch_size=128, **kwargs)


def test_activation_by_name_builds_the_same_network_as_the_class() -> None:
    """Presets and sweep overrides are data: the activation may be given by name."""
    by_name = paper_ppo(num_goals=2, n_trajectories_per_rollout=8, activation_fn="relu")
    by_class = paper_ppo(num_goals=2, n_trajectories_per_rollout=8, activation_fn=nn.ReLU)
    assert by_name.policy.activation_fn is nn.ReLU is by_class.policy.activation_fn


def test_constant_learning_rate_schedule() -> None:
    model = paper_ppo(n_trajectories_per_rollout=8, learning_rate=0.003,
                      learning_rate_schedule="constant")
    assert [model.lr_schedule(p) for p in (1.0, 0.5, 0.0)] == [0.003] * 3
    with pytest.raises(ValueError, match="learning_rate_schedule must be one of linear, "
                                         "constant"):
        paper_ppo(n_trajectories_per_rollout=8, learning_rate_schedule="cosine")
    with pytest.raises(ValueError, match="learning_rate must be a number"):
        paper_ppo(n_trajectories_per_rollout=8, learning_rate=-1.0,
                  learning_rate_schedule="constant")
