"""gbwm-sb3: goals-based wealth management on Stable-Baselines3.

Importing the package registers the Gymnasium env ``GBWM-v0``. The problem
definitions load eagerly (numpy only); everything that needs PyTorch or
Stable-Baselines3 loads on first use, so ``gbwm solve`` and problem-file tools
start fast.

The package reads bottom-up, each layer importing only those below it:
``common`` -> ``problem`` -> ``envs`` -> ``policies`` -> ``ppo`` -> ``model_io`` ->
``dp`` -> ``evaluation`` -> ``plots`` -> ``experiments`` -> ``cli`` (docs/architecture.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gbwm_sb3._compat import install_module_aliases
from gbwm_sb3.common.lazy import lazy_exports
from gbwm_sb3.envs import ENV_ID, register_envs
from gbwm_sb3.problem import (
    Decision,
    EfficientFrontier,
    GBWMProblem,
    Goal,
    Portfolios,
    efficient_frontier,
    paper_portfolios,
    paper_problem,
)

__version__ = "0.2.0"

register_envs()
install_module_aliases()

# Public name -> module that defines it, imported on first attribute access.
_LAZY_EXPORTS: dict[str, str] = {
    "GBWMEnv": "gbwm_sb3.envs.gbwm_env",
    "GBWMVecEnv": "gbwm_sb3.envs.vec_env",
    "GBWMPolicy": "gbwm_sb3.policies",
    "MaskableGBWMPolicy": "gbwm_sb3.policies",
    "GBWMMetricsCallback": "gbwm_sb3.ppo.callbacks",
    "EntropyDecayCallback": "gbwm_sb3.ppo.callbacks",
    "PAPER_HYPERPARAMS": "gbwm_sb3.ppo.hyperparams",
    "paper_ppo": "gbwm_sb3.ppo.presets",
    "learn_paper": "gbwm_sb3.ppo.presets",
    "paper_total_timesteps": "gbwm_sb3.ppo.presets",
    "make_preset_model": "gbwm_sb3.ppo.presets",
    "tuned_ppo": "gbwm_sb3.ppo.presets",
    "TUNED_HYPERPARAMS": "gbwm_sb3.ppo.registry",
    "PRESETS": "gbwm_sb3.ppo.registry",
    "Preset": "gbwm_sb3.ppo.registry",
    "register_preset": "gbwm_sb3.ppo.registry",
    "FastPPO": "gbwm_sb3.ppo.fast_ppo",
    "DPSolution": "gbwm_sb3.dp",
    "solve_dp": "gbwm_sb3.dp",
    "EvaluationReport": "gbwm_sb3.evaluation.evaluator",
    "evaluate": "gbwm_sb3.evaluation.evaluator",
    "SB3Policy": "gbwm_sb3.evaluation.strategies",
    "GreedyGoals": "gbwm_sb3.evaluation.strategies",
    "BuyAndHold": "gbwm_sb3.evaluation.strategies",
    "RandomPolicy": "gbwm_sb3.evaluation.strategies",
    "Hybrid": "gbwm_sb3.evaluation.strategies",
    "GBWMEvalCallback": "gbwm_sb3.evaluation.callback",
    "save_model": "gbwm_sb3.model_io",
    "load_model_safely": "gbwm_sb3.model_io",
    "load_problem": "gbwm_sb3.problem.files",
    "save_problem": "gbwm_sb3.problem.files",
    "configure_torch_threads": "gbwm_sb3.common.threads",
}

__all__ = [
    "ENV_ID",
    "Goal",
    "Decision",
    "GBWMProblem",
    "Portfolios",
    "paper_portfolios",
    "paper_problem",
    "EfficientFrontier",
    "efficient_frontier",
    *_LAZY_EXPORTS,
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - static analysis sees the eager names
    from gbwm_sb3.common.threads import configure_torch_threads  # noqa: F401
    from gbwm_sb3.dp import DPSolution, solve_dp  # noqa: F401
    from gbwm_sb3.envs.gbwm_env import GBWMEnv  # noqa: F401
    from gbwm_sb3.envs.vec_env import GBWMVecEnv  # noqa: F401
    from gbwm_sb3.evaluation.callback import GBWMEvalCallback  # noqa: F401
    from gbwm_sb3.evaluation.evaluator import EvaluationReport, evaluate  # noqa: F401
    from gbwm_sb3.evaluation.strategies import (  # noqa: F401
        BuyAndHold,
        GreedyGoals,
        Hybrid,
        RandomPolicy,
        SB3Policy,
    )
    from gbwm_sb3.model_io import load_model_safely, save_model  # noqa: F401
    from gbwm_sb3.policies import GBWMPolicy, MaskableGBWMPolicy  # noqa: F401
    from gbwm_sb3.ppo.callbacks import EntropyDecayCallback, GBWMMetricsCallback  # noqa: F401
    from gbwm_sb3.ppo.fast_ppo import FastPPO  # noqa: F401
    from gbwm_sb3.ppo.hyperparams import PAPER_HYPERPARAMS  # noqa: F401
    from gbwm_sb3.ppo.presets import (  # noqa: F401
        learn_paper,
        make_preset_model,
        paper_ppo,
        paper_total_timesteps,
        tuned_ppo,
    )
    from gbwm_sb3.ppo.registry import (  # noqa: F401
        PRESETS,
        TUNED_HYPERPARAMS,
        Preset,
        register_preset,
    )
    from gbwm_sb3.problem.files import load_problem, save_problem  # noqa: F401
