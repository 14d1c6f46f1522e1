"""RL Baselines3 Zoo configuration for ``GBWM-v0``: hyperparameter files shipped with the package.

``PPO_CONFIG`` (``ppo.yml``) is the documented PPO configuration with ``GBWMPolicy``::

    python -m rl_zoo3.train --algo ppo --env GBWM-v0 --gym-packages gbwm_sb3 \\
        -conf "$(python -m gbwm_sb3.zoo ppo)" --num-threads 1

RL Zoo has no MaskablePPO entry; ``python -m gbwm_sb3.zoo.train`` is ``rl_zoo3.train``
with ``ppo_mask`` (sb3-contrib's ``MaskablePPO``) added, for ``MASKABLE_PPO_CONFIG``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CONFIG_DIR", "PPO_CONFIG", "MASKABLE_PPO_CONFIG", "config_path"]

CONFIG_DIR = Path(__file__).resolve().parent
PPO_CONFIG = CONFIG_DIR / "ppo.yml"
MASKABLE_PPO_CONFIG = CONFIG_DIR / "ppo_mask.yml"
_CONFIGS = {"ppo": PPO_CONFIG, "ppo_mask": MASKABLE_PPO_CONFIG}


def config_path(algo: str = "ppo") -> Path:
    """Path of the shipped RL Zoo hyperparameter file for ``algo`` ("ppo" or "ppo_mask")."""
    if algo not in _CONFIGS:
        raise ValueError(f"algo must be one of {', '.join(_CONFIGS)}, got {algo!r}")
    return _CONFIGS[algo]
