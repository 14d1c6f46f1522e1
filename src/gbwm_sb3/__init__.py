"""gbwm-sb3: goals-based wealth management on Stable-Baselines3.

Importing the package registers the Gymnasium env ``GBWM-v0``. The problem
definitions load eagerly (numpy only); everything that needs PyTorch or
Stable-Baselines3 loads on first use, so ``gbwm solve`` and problem-file tools
start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import gymnasium as _gym

from .frontier import EfficientFrontier, efficient_frontier
from .problem import GBWMProblem, Goal, Portfolios, paper_portfolios, paper_problem

__version__ = "0.1.0"

ENV_ID = "GBWM-v0"
if ENV_ID not in _gym.registry:
    _gym.register(id=ENV_ID, entry_point="gbwm_sb3.env:GBWMEnv")

# Public name -> module that defines it, imported on first attribute access.
_LAZY_EXPORTS: dict[str, str] = {
    "GBWMEnv": "env",
    "GBWMVecEnv": "vec_env",
    "GBWMPolicy": "policy",
    "MaskableGBWMPolicy": "policy",
    "GBWMMetricsCallback": "callbacks",
    "PAPER_HYPERPARAMS": "presets",
    "paper_ppo": "presets",
    "learn_paper": "presets",
    "paper_total_timesteps": "presets",
    "FastPPO": "fast_ppo",
    "TUNED_HYPERPARAMS": "tuned",
    "tuned_ppo": "tuned",
    "DPSolution": "dp",
    "solve_dp": "dp",
    "EvaluationReport": "evaluation",
    "evaluate": "evaluation",
    "SB3Policy": "strategies",
    "GreedyGoals": "strategies",
    "BuyAndHold": "strategies",
    "RandomPolicy": "strategies",
    "Hybrid": "strategies",
    "GBWMEvalCallback": "eval_callback",
    "save_model": "model_io",
    "load_model_safely": "model_io",
    "load_problem": "problem_io",
    "save_problem": "problem_io",
    "configure_torch_threads": "threads",
}

__all__ = [
    "ENV_ID",
    "Goal",
    "GBWMProblem",
    "Portfolios",
    "paper_portfolios",
    "paper_problem",
    "EfficientFrontier",
    "efficient_frontier",
    *_LAZY_EXPORTS,
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover - static analysis sees the eager names
    from .callbacks import GBWMMetricsCallback  # noqa: F401
    from .dp import DPSolution, solve_dp  # noqa: F401
    from .env import GBWMEnv  # noqa: F401
    from .eval_callback import GBWMEvalCallback  # noqa: F401
    from .evaluation import EvaluationReport, evaluate  # noqa: F401
    from .fast_ppo import FastPPO  # noqa: F401
    from .model_io import load_model_safely, save_model  # noqa: F401
    from .policy import GBWMPolicy, MaskableGBWMPolicy  # noqa: F401
    from .presets import PAPER_HYPERPARAMS, learn_paper, paper_ppo, paper_total_timesteps  # noqa: F401
    from .problem_io import load_problem, save_problem  # noqa: F401
    from .strategies import BuyAndHold, GreedyGoals, Hybrid, RandomPolicy, SB3Policy  # noqa: F401
    from .threads import configure_torch_threads  # noqa: F401
    from .tuned import TUNED_HYPERPARAMS, tuned_ppo  # noqa: F401
    from .vec_env import GBWMVecEnv  # noqa: F401
