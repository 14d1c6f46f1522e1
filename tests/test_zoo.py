"""RL Zoo: the shipped configs match the documented preset and train GBWM-v0 on a short budget."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from torch import nn

from gbwm_sb3.envs.observation import OBSERVATION_DIM
from gbwm_sb3.ppo.presets import PAPER_HYPERPARAMS
from gbwm_sb3.zoo import MASKABLE_PPO_CONFIG, PPO_CONFIG, config_path
from gbwm_sb3.zoo.__main__ import main as zoo_main


@pytest.mark.parametrize("path, policy", [(PPO_CONFIG, "gbwm_sb3.policies.GBWMPolicy"),
                                          (MASKABLE_PPO_CONFIG,
                                           "gbwm_sb3.policies.MaskableGBWMPolicy")])
def test_configs_are_the_documented_preset(path: Path, policy: str) -> None:
    config = yaml.safe_load(path.read_text())["GBWM-v0"]
    assert config["policy"] == policy
    hp = PAPER_HYPERPARAMS
    horizon = 16
    assert config["n_envs"] * config["n_steps"] == hp["n_trajectories_per_rollout"] * horizon
    assert config["n_timesteps"] == hp["n_trajectories"] * horizon
    assert config["learning_rate"] == f"lin_{hp['learning_rate']}"
    for key in ("batch_size", "n_epochs", "gamma", "gae_lambda", "clip_range", "ent_coef",
                "vf_coef", "max_grad_norm"):
        assert config[key] == hp[key], key
    # RL Zoo evaluates this string with torch.nn as `nn`; our own file, so eval is fine here.
    kwargs = eval(config["policy_kwargs"], {"nn": nn, "dict": dict})  # noqa: S307
    assert kwargs["net_arch"] == dict(pi=hp["net_arch"], vf=hp["net_arch"])
    assert kwargs["activation_fn"] is hp["activation_fn"]


def test_config_path(capsys: pytest.CaptureFixture) -> None:
    assert config_path() == PPO_CONFIG and PPO_CONFIG.is_file()
    assert config_path("ppo_mask").is_file()
    with pytest.raises(ValueError, match="ppo, ppo_mask"):
        config_path("sac")
    assert zoo_main(["ppo_mask"]) == 0
    assert capsys.readouterr().out.strip() == str(MASKABLE_PPO_CONFIG)
    assert zoo_main(["sac"]) == 2


def _train(module: str, algo: str, config: Path, folder: Path) -> Path:
    command = [sys.executable, "-m", module, "--algo", algo, "--env", "GBWM-v0",
               "--gym-packages", "gbwm_sb3", "-conf", str(config), "-n", "512",
               "-params", "n_envs:2", "n_steps:64", "batch_size:64",
               "-f", str(folder), "--seed", "0", "--num-threads", "1", "--eval-freq", "-1",
               "--env-kwargs", "num_goals:2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    saved = folder / algo / "GBWM-v0_1" / "GBWM-v0.zip"
    assert saved.is_file(), result.stdout[-2000:]
    return saved


def _check(saved: Path, algo_cls: type, policy_cls: type) -> None:
    model = algo_cls.load(saved, device="cpu")  # our own freshly written file
    assert type(model.policy) is policy_cls
    assert model.policy.goal_head.out_features == 2
    assert model.policy.portfolio_head.out_features == 15
    obs = np.zeros((3, OBSERVATION_DIM), dtype=np.float32)
    actions, _ = model.predict(obs, deterministic=True)
    assert actions.shape == (3, 2)


def test_rl_zoo_trains_gbwm_with_gbwm_policy(tmp_path: Path) -> None:
    pytest.importorskip("rl_zoo3")
    from stable_baselines3 import PPO

    from gbwm_sb3.policies import GBWMPolicy

    _check(_train("rl_zoo3.train", "ppo", PPO_CONFIG, tmp_path), PPO, GBWMPolicy)


@pytest.mark.slow
def test_rl_zoo_trains_gbwm_with_maskable_ppo(tmp_path: Path) -> None:
    pytest.importorskip("rl_zoo3")
    from sb3_contrib import MaskablePPO

    from gbwm_sb3.policies import MaskableGBWMPolicy

    _check(_train("gbwm_sb3.zoo.train", "ppo_mask", MASKABLE_PPO_CONFIG, tmp_path),
           MaskablePPO, MaskableGBWMPolicy)
