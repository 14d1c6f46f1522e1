"""gbwm-sb3: goals-based wealth management on Stable-Baselines3.

The package root holds the names a user needs: the problem, the envs, the policies,
training, the exact optimum, scoring, the pretrained policy and model files. Everything
else is imported from its subpackage (``gbwm_sb3.ppo``, ``gbwm_sb3.evaluation``, ...).

Importing the package registers the Gymnasium env ``GBWM-v0`` and loads the problem
definitions and ``GBWMEnv`` (numpy and Gymnasium); the other names, which need PyTorch
or Stable-Baselines3, load on first use, so ``gbwm solve`` and problem-file tools start
fast. The layers, each importing only those below it, are in docs/architecture.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gbwm_sb3._compat import install_module_aliases as _install_module_aliases
from gbwm_sb3.common.lazy import lazy_exports as _lazy_exports
from gbwm_sb3.envs import register_envs as _register_envs
from gbwm_sb3.envs.gbwm_env import GBWMEnv
from gbwm_sb3.problem import (
    GBWMProblem,
    Goal,
    Portfolios,
    load_problem,
    paper_problem,
    save_problem,
)

_register_envs()
_install_module_aliases()

# Public name -> module that defines it, imported on first attribute access.
_LAZY_EXPORTS: dict[str, str] = {
    "__version__": "gbwm_sb3.common.version",
    "GBWMVecEnv": "gbwm_sb3.envs.vec_env",
    "GBWMPolicy": "gbwm_sb3.policies",
    "FastPPO": "gbwm_sb3.ppo.fast_ppo",
    "make_preset_model": "gbwm_sb3.ppo.presets",
    "learn_paper": "gbwm_sb3.ppo.presets",
    "save_model": "gbwm_sb3.model_io",
    "load_model_safely": "gbwm_sb3.model_io",
    "solve_dp": "gbwm_sb3.dp",
    "evaluate": "gbwm_sb3.evaluation.evaluator",
    "SB3Policy": "gbwm_sb3.evaluation.strategies",
    "GBWMEvalCallback": "gbwm_sb3.evaluation.callback",
    "pretrained_policy": "gbwm_sb3.pretrained.loading",
    "fine_tune": "gbwm_sb3.pretrained.fine_tuning",
}

# Names the root exported in 0.2 -> where to import them from now (with a warning).
_DEPRECATED: dict[str, str] = {
    "ENV_ID": "gbwm_sb3.envs",
    "register_envs": "gbwm_sb3.envs",
    "Decision": "gbwm_sb3.problem",
    "paper_portfolios": "gbwm_sb3.problem",
    "EfficientFrontier": "gbwm_sb3.problem",
    "efficient_frontier": "gbwm_sb3.problem",
    "MaskableGBWMPolicy": "gbwm_sb3.policies",
    "GBWMMetricsCallback": "gbwm_sb3.ppo",
    "EntropyDecayCallback": "gbwm_sb3.ppo",
    "PAPER_HYPERPARAMS": "gbwm_sb3.ppo",
    "TUNED_HYPERPARAMS": "gbwm_sb3.ppo",
    "PRESETS": "gbwm_sb3.ppo",
    "Preset": "gbwm_sb3.ppo",
    "register_preset": "gbwm_sb3.ppo",
    "paper_ppo": "gbwm_sb3.ppo",
    "tuned_ppo": "gbwm_sb3.ppo",
    "paper_total_timesteps": "gbwm_sb3.ppo",
    "DPSolution": "gbwm_sb3.dp",
    "EvaluationReport": "gbwm_sb3.evaluation",
    "GreedyGoals": "gbwm_sb3.evaluation",
    "BuyAndHold": "gbwm_sb3.evaluation",
    "RandomPolicy": "gbwm_sb3.evaluation",
    "Hybrid": "gbwm_sb3.evaluation",
    "configure_torch_threads": "gbwm_sb3.common",
}

__all__ = [
    # the problem
    "GBWMProblem",
    "Goal",
    "Portfolios",
    "paper_problem",
    "load_problem",
    "save_problem",
    # the envs and the policy
    "GBWMEnv",
    "GBWMVecEnv",
    "GBWMPolicy",
    # training and model files
    "FastPPO",
    "make_preset_model",
    "learn_paper",
    "save_model",
    "load_model_safely",
    # the exact optimum and scoring
    "solve_dp",
    "evaluate",
    "SB3Policy",
    "GBWMEvalCallback",
    # one policy for every client
    "pretrained_policy",
    "fine_tune",
]

__getattr__, __dir__ = _lazy_exports(__name__, _LAZY_EXPORTS, globals(),
                                     deprecated=_DEPRECATED)

if TYPE_CHECKING:  # pragma: no cover - static analysis sees the lazy names
    from gbwm_sb3.common.version import __version__  # noqa: F401
    from gbwm_sb3.dp import solve_dp  # noqa: F401
    from gbwm_sb3.envs.vec_env import GBWMVecEnv  # noqa: F401
    from gbwm_sb3.evaluation.callback import GBWMEvalCallback  # noqa: F401
    from gbwm_sb3.evaluation.evaluator import evaluate  # noqa: F401
    from gbwm_sb3.evaluation.strategies import SB3Policy  # noqa: F401
    from gbwm_sb3.model_io import load_model_safely, save_model  # noqa: F401
    from gbwm_sb3.policies import GBWMPolicy  # noqa: F401
    from gbwm_sb3.ppo.fast_ppo import FastPPO  # noqa: F401
    from gbwm_sb3.ppo.presets import learn_paper, make_preset_model  # noqa: F401
    from gbwm_sb3.pretrained.fine_tuning import fine_tune  # noqa: F401
    from gbwm_sb3.pretrained.loading import pretrained_policy  # noqa: F401
