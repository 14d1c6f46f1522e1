"""The documented PPO configuration for GBWM, with the source of every value, and validation.

:data:`PAPER_HYPERPARAMS` is :data:`gbwm_sb3.ppo.registry.DOCUMENTED_CONFIGURATION` with
the activation as a torch class; :func:`resolve_hyperparams` applies and checks overrides
(every error names the field and its allowed range).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from stable_baselines3.common.utils import LinearSchedule
from torch import nn

from gbwm_sb3.common.limits import check_int
from gbwm_sb3.ppo.registry import DOCUMENTED_CONFIGURATION, HYPERPARAMETER_NAMES
from gbwm_sb3.problem.model import GBWMProblem

__all__ = [
    "PAPER_HYPERPARAMS",
    "PAPER_HYPERPARAM_SOURCES",
    "resolve_hyperparams",
    "resolve_reward_scale",
    "minibatch_size",
    "positive_int",
]

PAPER_HYPERPARAMS: dict[str, Any] = {
    **DOCUMENTED_CONFIGURATION,
    "net_arch": list(DOCUMENTED_CONFIGURATION["net_arch"]),
    "activation_fn": nn.Tanh,
}

PAPER_HYPERPARAM_SOURCES: dict[str, str] = {
    "n_trajectories_per_rollout": "paper (M = 4800); n_envs = 4800 with n_steps = T",
    "n_trajectories": "paper (Ntraj = 50,000 in the base case)",
    "learning_rate": "paper (0.01, decaying linearly to 0)",
    "batch_size": "seeds (minibatch 256)",
    "n_epochs": "seeds (4 epochs)",
    "clip_range": "paper (clip 0.5); the seeds clamp the ratio to [0.5, 1.5]",
    "gamma": "objective (undiscounted; the paper does not state gamma)",
    "gae_lambda": "seeds (GAE lambda 0.95)",
    "ent_coef": "seeds (entropy coefficient 0.01)",
    "vf_coef": (
        "SB3 default (the paper trains with SB3; the seeds use a separate Adam for an "
        "unweighted value MSE, which differs only through the joint gradient-norm clip)"
    ),
    "max_grad_norm": "seeds (gradient-norm clip 0.5)",
    "net_arch": "paper (two hidden layers of 64, for the policy and the value network)",
    "activation_fn": "SB3 default (Tanh; the seeds' sketch uses ReLU)",
}

_OVERRIDABLE = HYPERPARAMETER_NAMES
_ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}


def positive_int(name: str, value: Any) -> int:
    """``value``, a Python int >= 1 (ValueError naming ``name`` otherwise)."""
    return check_int(value, name, 1, exact=True)


def _real_in(name: str, value: Any, low: float, high: float, low_open: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be a number in {bracket}{low}, {high}], got {value!r}")
    return float(value)


def _schedule(name: str, value: Any, linear: bool) -> Callable[[float], float] | float:
    """A float becomes a linear-to-0 schedule (``linear``) or stays constant; callables pass."""
    if callable(value):
        return value
    start = _real_in(name, value, 0.0, math.inf, low_open=True)
    return LinearSchedule(start, 0.0, 1.0) if linear else start


def _net_arch(value: Any) -> dict[str, list[int]]:
    """``[64, 64]`` (both networks) or ``dict(pi=[...], vf=[...])`` -> SB3's dict form."""
    arch = dict(pi=value, vf=value) if isinstance(value, (list, tuple)) else value
    if not isinstance(arch, dict) or set(arch) != {"pi", "vf"}:
        raise ValueError(
            f"net_arch must be a list of layer sizes or dict(pi=..., vf=...), got {value!r}"
        )
    for key, layers in arch.items():
        if not isinstance(layers, (list, tuple)) or not layers:
            raise ValueError(f"net_arch[{key!r}] must be a non-empty list of sizes, got {layers!r}")
        for size in layers:
            positive_int(f"net_arch[{key!r}] layer size", size)
    return {key: list(layers) for key, layers in arch.items()}


def resolve_hyperparams(**overrides: Any) -> dict[str, Any]:
    """``PAPER_HYPERPARAMS`` updated by ``overrides``, validated (ValueError on bad input)."""
    if "n_trajectories" in overrides:
        raise ValueError(
            "n_trajectories is the training budget, not a model setting: "
            "pass it to learn_paper(model, n_trajectories=...)"
        )
    unknown = sorted(set(overrides) - set(_OVERRIDABLE))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {unknown}; allowed: {', '.join(_OVERRIDABLE)}"
        )
    hp = {k: PAPER_HYPERPARAMS[k] for k in _OVERRIDABLE} | overrides
    positive_int("n_trajectories_per_rollout", hp["n_trajectories_per_rollout"])
    positive_int("n_epochs", hp["n_epochs"])
    if positive_int("batch_size", hp["batch_size"]) < 2:
        raise ValueError(f"batch_size must be an integer >= 2, got {hp['batch_size']!r}")
    hp["learning_rate"] = _schedule("learning_rate", hp["learning_rate"], linear=True)
    hp["clip_range"] = _schedule("clip_range", hp["clip_range"], linear=False)
    _real_in("gamma", hp["gamma"], 0.0, 1.0, low_open=True)
    _real_in("gae_lambda", hp["gae_lambda"], 0.0, 1.0, low_open=False)
    _real_in("ent_coef", hp["ent_coef"], 0.0, math.inf, low_open=False)
    _real_in("vf_coef", hp["vf_coef"], 0.0, math.inf, low_open=True)
    _real_in("max_grad_norm", hp["max_grad_norm"], 0.0, math.inf, low_open=True)
    hp["net_arch"] = _net_arch(hp["net_arch"])
    act = hp["activation_fn"]
    if isinstance(act, str):
        if act.lower() not in _ACTIVATIONS:
            raise ValueError(f"activation_fn must be one of {sorted(_ACTIVATIONS)} or a "
                             f"torch.nn.Module class, got {act!r}")
        act = hp["activation_fn"] = _ACTIVATIONS[act.lower()]
    if not (isinstance(act, type) and issubclass(act, nn.Module)):
        raise ValueError(f"activation_fn must be a torch.nn.Module class, got {act!r}")
    return hp


def resolve_reward_scale(value: float | str | None, problem: GBWMProblem) -> float:
    """``None`` -> 1, ``"total"`` -> 1 / total utility on offer, a number > 0 -> itself."""
    if value is None:
        return 1.0
    if isinstance(value, str):
        if value != "total":
            raise ValueError(f"reward_scale must be None, 'total' or a number > 0, got {value!r}")
        return 1.0 / problem.total_utility
    return _real_in("reward_scale", value, 0.0, math.inf, low_open=True)


def minibatch_size(rollout_steps: int, n_minibatches: int) -> int:
    """Steps per minibatch for ``n_minibatches`` equal minibatches of a rollout.

    When ``n_minibatches`` does not divide ``rollout_steps``, the nearest number of
    minibatches that does is used (ties: the larger number), so every minibatch has
    the same size and none is truncated; minibatches hold at least 2 steps.
    """
    positive_int("n_minibatches", n_minibatches)
    if positive_int("rollout steps", rollout_steps) < 2:
        raise ValueError(f"a rollout of {rollout_steps} step(s) cannot be split into minibatches "
                         "of at least 2 steps")
    counts = [k for k in range(1, rollout_steps // 2 + 1) if rollout_steps % k == 0]
    best = min(counts, key=lambda k: (abs(k - n_minibatches), -k))
    return rollout_steps // best
