"""The documented PPO configuration for GBWM, with the source of every value.

``paper_ppo()`` builds it: a ``GBWMVecEnv`` of 4,800 trajectories per rollout,
``GBWMPolicy`` (2 x 64 policy and value networks) and PPO with the values of
``PAPER_HYPERPARAMS``. ``learn_paper(model)`` trains for a budget stated in
trajectories (50,000 by default).

SB3 trains in whole rollouts, so a budget is rounded up: 50,000 trajectories
with 4,800 per rollout run 11 rollouts (52,800 trajectories, 844,800 steps). The
learning rate decays linearly to 0 over the requested 800,000 steps and SB3 sets
it before each update, so the 11th update runs at learning rate 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from stable_baselines3 import PPO
from stable_baselines3.common.utils import LinearSchedule
from torch import nn

from .callbacks import GBWMMetricsMixin, find_gbwm_vec_env
from .policy import GBWMPolicy
from .preset_names import PRESET_NAMES
from .problem import GBWMProblem, paper_problem
from .threads import configure_torch_threads
from .vec_env import GBWMVecEnv

__all__ = [
    "PAPER_HYPERPARAMS",
    "PAPER_HYPERPARAM_SOURCES",
    "GBWMPPO",
    "paper_ppo",
    "paper_total_timesteps",
    "learn_paper",
    "PRESET_NAMES",
    "make_preset_model",
]

PAPER_HYPERPARAMS: dict[str, Any] = {
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

# Keys of PAPER_HYPERPARAMS that paper_ppo() accepts as overrides (the budget is learn's).
_OVERRIDABLE = tuple(k for k in PAPER_HYPERPARAMS if k != "n_trajectories")


class GBWMPPO(GBWMMetricsMixin, PPO):
    """Stock SB3 ``PPO`` whose ``learn()`` also logs the GBWM metrics."""


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


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
            _positive_int(f"net_arch[{key!r}] layer size", size)
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
    _positive_int("n_trajectories_per_rollout", hp["n_trajectories_per_rollout"])
    _positive_int("n_epochs", hp["n_epochs"])
    if _positive_int("batch_size", hp["batch_size"]) < 2:
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


def paper_total_timesteps(problem: GBWMProblem, n_trajectories: int = 50_000) -> int:
    """Environment steps for ``n_trajectories`` episodes of ``problem`` (T steps each)."""
    if not isinstance(problem, GBWMProblem):
        raise ValueError(f"problem must be a GBWMProblem, got {type(problem).__name__}")
    return _positive_int("n_trajectories", n_trajectories) * problem.horizon


def paper_ppo(
    num_goals: int = 4,
    problem: GBWMProblem | None = None,
    seed: int | None = 0,
    fast: bool = True,
    device: str = "cpu",
    verbose: int = 0,
    tensorboard_log: str | None = None,
    reward_scale: float | str | None = 1.0,
    portfolio_given_goal: bool = False,
    portfolio_degree: int | None = None,
    portfolio_free_logits: bool = True,
    **overrides: Any,
) -> PPO:
    """PPO in the documented configuration on ``problem``, else on ``paper_problem(num_goals)``.

    ``fast=True`` uses ``FastPPO`` (same objective, leaner update); ``fast=False``
    stock SB3 (``GBWMPPO``). ``overrides`` replace entries of ``PAPER_HYPERPARAMS``
    (``n_trajectories`` is the training budget: pass it to ``learn_paper``).
    ``reward_scale`` multiplies the rewards PPO trains on: a number > 0, ``"total"``
    for ``1 / problem.total_utility`` (returns in [0, 1]), or ``None`` for 1 (the paper).
    ``portfolio_given_goal=True`` gives ``GBWMPolicy`` one portfolio head per goal
    decision (see ``GBWMActionDistribution``); the paper's policy has one.
    ``portfolio_degree=d`` adds a degree-d polynomial over the ordered portfolios to
    the portfolio logits (only the polynomial with ``portfolio_free_logits=False``;
    see ``GBWMPolicy``); ``None`` (the paper): one free logit each.
    Torch runs on one thread (see ``configure_torch_threads``).
    """
    hp = resolve_hyperparams(**overrides)
    if problem is None:
        problem = paper_problem(num_goals)
    elif not isinstance(problem, GBWMProblem):
        raise ValueError(f"problem must be a GBWMProblem or None, got {type(problem).__name__}")
    algo = _algorithm(fast)
    configure_torch_threads()
    env = GBWMVecEnv(hp["n_trajectories_per_rollout"], problem=problem, seed=seed,
                     reward_scale=resolve_reward_scale(reward_scale, problem))
    return algo(
        GBWMPolicy,
        env,
        learning_rate=hp["learning_rate"],
        n_steps=problem.horizon,
        batch_size=hp["batch_size"],
        n_epochs=hp["n_epochs"],
        gamma=hp["gamma"],
        gae_lambda=hp["gae_lambda"],
        clip_range=hp["clip_range"],
        ent_coef=hp["ent_coef"],
        vf_coef=hp["vf_coef"],
        max_grad_norm=hp["max_grad_norm"],
        policy_kwargs=_policy_kwargs(hp, portfolio_given_goal, portfolio_degree,
                                     portfolio_free_logits),
        tensorboard_log=tensorboard_log,
        verbose=verbose,
        seed=seed,
        device=device,
    )


def _policy_kwargs(hp: dict[str, Any], portfolio_given_goal: bool,
                   portfolio_degree: int | None, portfolio_free_logits: bool) -> dict[str, Any]:
    """GBWMPolicy's keyword arguments; the portfolio-head options only when set
    (GBWMPolicy validates them and names the field)."""
    kwargs: dict[str, Any] = dict(net_arch=hp["net_arch"], activation_fn=hp["activation_fn"])
    if portfolio_given_goal is not False:
        kwargs["portfolio_given_goal"] = portfolio_given_goal
    if portfolio_degree is not None:
        kwargs["portfolio_degree"] = portfolio_degree
        kwargs["portfolio_free_logits"] = portfolio_free_logits
    return kwargs


def _algorithm(fast: bool) -> type[PPO]:
    if not fast:
        return GBWMPPO
    try:
        from .fast_ppo import FastPPO
    except ImportError as err:
        raise ImportError(
            "paper_ppo(fast=True) needs gbwm_sb3.fast_ppo.FastPPO, which could not be "
            f"imported ({err}); pass fast=False for the stock SB3 update"
        ) from err
    return FastPPO


def learn_paper(model: PPO, n_trajectories: int = 50_000, **learn_kwargs: Any) -> PPO:
    """``model.learn`` for ``n_trajectories`` episodes (SB3 rounds up to whole rollouts)."""
    problem = find_gbwm_vec_env(model.get_env()).problem
    if "total_timesteps" in learn_kwargs:
        raise ValueError("learn_paper takes n_trajectories, not total_timesteps")
    return model.learn(paper_total_timesteps(problem, n_trajectories), **learn_kwargs)


def make_preset_model(preset: str, problem: GBWMProblem | None = None, seed: int | None = 0,
                      **kwargs: Any) -> PPO:
    """The untrained model of a named preset (one of ``PRESET_NAMES``) on ``problem``."""
    if preset == "paper":
        return paper_ppo(problem=problem, seed=seed, **kwargs)
    if preset == "paper-stock":
        return paper_ppo(problem=problem, seed=seed, fast=False, **kwargs)
    if preset == "tuned":
        from .tuned import tuned_ppo

        return tuned_ppo(problem=problem, seed=seed, **kwargs)
    raise ValueError(f"preset must be one of {', '.join(PRESET_NAMES)}, got {preset!r}")
