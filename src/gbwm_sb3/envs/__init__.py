"""Gymnasium environments for GBWM and their registration.

- :mod:`~gbwm_sb3.envs.dynamics`: the year-by-year mechanics, vectorised over trajectories
  (the one definition the envs, the evaluator and the plots share);
- :mod:`~gbwm_sb3.envs.observation`: the scale-invariant observation the networks see;
- :mod:`~gbwm_sb3.envs.gbwm_env`: ``GBWMEnv``, one trajectory as a Gymnasium env (``GBWM-v0``);
- :mod:`~gbwm_sb3.envs.array_vec_env`: ``ArrayVecEnv``, the SB3 ``VecEnv`` plumbing that
  the two vectorised envs below share;
- :mod:`~gbwm_sb3.envs.vec_env`: ``GBWMVecEnv``, thousands of trajectories as an SB3 ``VecEnv``;
- :mod:`~gbwm_sb3.envs.universal_observation`: a fixed-length, scale-invariant observation
  for any problem of the supported envelope;
- :mod:`~gbwm_sb3.envs.multi_problem_vec_env`: ``MultiProblemVecEnv``, trajectories of many
  problems at once as an SB3 ``VecEnv``.

:func:`register_envs` is the one place where env ids are registered; importing
:mod:`gbwm_sb3` calls it. ``GBWMVecEnv`` and ``MultiProblemVecEnv`` need Stable-Baselines3
(and PyTorch), so they are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gymnasium as gym

from gbwm_sb3.common.lazy import lazy_exports
from gbwm_sb3.envs.gbwm_env import ENV_ID, GBWMEnv

__all__ = ["ENV_ID", "GBWMEnv", "GBWMVecEnv", "MultiProblemVecEnv", "register_envs"]


def register_envs() -> None:
    """Register ``GBWM-v0`` with Gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="gbwm_sb3.envs:GBWMEnv")


__getattr__, __dir__ = lazy_exports(
    __name__,
    {"GBWMVecEnv": "gbwm_sb3.envs.vec_env",
     "MultiProblemVecEnv": "gbwm_sb3.envs.multi_problem_vec_env"},
    globals(),
)

if TYPE_CHECKING:  # pragma: no cover
    from gbwm_sb3.envs.multi_problem_vec_env import MultiProblemVecEnv  # noqa: F401
    from gbwm_sb3.envs.vec_env import GBWMVecEnv  # noqa: F401
