"""Models of the named presets: the documented PPO configuration and its variants.

``paper_ppo()`` builds the documented configuration: a ``GBWMVecEnv`` of 4,800
trajectories per rollout, ``GBWMPolicy`` (2 x 64 policy and value networks) and PPO
with the values of ``PAPER_HYPERPARAMS``. ``learn_paper(model)`` trains for a budget stated in
trajectories (50,000 by default).

SB3 trains in whole rollouts, so a budget is rounded up: 50,000 trajectories
with 4,800 per rollout run 11 rollouts (52,800 trajectories, 844,800 steps). The
learning rate decays linearly to 0 over the requested 800,000 steps and SB3 sets
it before each update, so the 11th update runs at learning rate 0.

``make_preset_model(name, ...)`` builds any preset of :mod:`gbwm_sb3.ppo.registry`
(``tuned_ppo`` is the ``tuned`` one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np
from stable_baselines3 import PPO

from gbwm_sb3.common.limits import MAX_ROLLOUT_STEPS, MAX_TRAJECTORIES, check_horizon
from gbwm_sb3.common.threads import configure_torch_threads
from gbwm_sb3.envs.vec_env import GBWMVecEnv
from gbwm_sb3.policies import GBWMPolicy
from gbwm_sb3.ppo.callbacks import GBWMTrainingMixin, find_gbwm_vec_env
from gbwm_sb3.ppo.hyperparams import (
    PAPER_HYPERPARAM_SOURCES,
    PAPER_HYPERPARAMS,
    minibatch_size,
    positive_int,
    resolve_hyperparams,
    resolve_reward_scale,
)
from gbwm_sb3.ppo.registry import (
    PRESET_NAMES,
    ROWS_PER_DECISION_FROM,
    TUNED_HYPERPARAMS,
    get_preset,
)
from gbwm_sb3.problem.model import GBWMProblem, paper_problem

if TYPE_CHECKING:
    from gbwm_sb3.ppo.fast_ppo import FastPPO

__all__ = [
    "PAPER_HYPERPARAMS",
    "PAPER_HYPERPARAM_SOURCES",
    "GBWMPPO",
    "paper_ppo",
    "paper_total_timesteps",
    "learn_paper",
    "PRESET_NAMES",
    "TUNED_HYPERPARAMS",
    "ROWS_PER_DECISION_FROM",
    "tuned_ppo",
    "make_preset_model",
]

class GBWMPPO(GBWMTrainingMixin, PPO):
    """Stock SB3 ``PPO`` whose ``learn()`` also logs the GBWM metrics (and runs the
    entropy schedule when ``ent_coef_final`` is set)."""


def paper_total_timesteps(problem: GBWMProblem, n_trajectories: int = 50_000) -> int:
    """Environment steps for ``n_trajectories`` episodes of ``problem`` (T steps each);
    ``n_trajectories`` is at most :data:`~gbwm_sb3.common.limits.MAX_TRAJECTORIES`."""
    if not isinstance(problem, GBWMProblem):
        raise ValueError(f"problem must be a GBWMProblem, got {type(problem).__name__}")
    if positive_int("n_trajectories", n_trajectories) > MAX_TRAJECTORIES:
        raise ValueError(f"n_trajectories must be an integer >= 1 and <= "
                         f"{MAX_TRAJECTORIES:,} (MAX_TRAJECTORIES), got {n_trajectories!r}")
    return n_trajectories * problem.horizon


def paper_ppo(
    num_goals: int = 4,
    problem: GBWMProblem | None = None,
    seed: int | None = 0,
    fast: bool = True,
    device: str = "cpu",
    verbose: int = 0,
    tensorboard_log: str | None = None,
    reward_scale: float | str | None = 1.0,
    portfolio_given_goal: bool | str | int = False,
    portfolio_degree: int | None = None,
    portfolio_free_logits: bool = True,
    ent_coef_final: float | None = None,
    n_minibatches: int | None = None,
    learning_rate_schedule: str = "linear",
    decision_goal_head: bool | str = False,
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
    ``"general"`` / ``"crowded"`` apply it where ``decision_goal_head`` would be (a
    problem of the general class / one with at least :data:`CROWDED_DECISIONS` decisions
    in some year); an integer ``N >= 2`` where some year has at least ``N`` decisions (the
    ``tuned`` preset: :data:`ROWS_PER_DECISION_FROM`).
    ``portfolio_degree=d`` adds a degree-d polynomial over the ordered portfolios to
    the portfolio logits (only the polynomial with ``portfolio_free_logits=False``;
    see ``GBWMPolicy``); ``None`` (the paper): one free logit each.
    ``ent_coef_final``: the entropy coefficient decays linearly from ``ent_coef`` to this
    value over each ``learn`` call (``None``, the paper: constant).
    ``n_minibatches``: split each rollout into this many equal minibatches instead of
    giving ``batch_size`` (see :func:`~gbwm_sb3.ppo.hyperparams.minibatch_size`; the
    ``tuned`` preset uses 20, so its minibatches divide the rollout for any horizon).
    ``learning_rate_schedule``: ``"linear"`` (the paper: a numeric ``learning_rate``
    decays linearly to 0 over each ``learn`` call) or ``"constant"``.
    ``decision_goal_head``: ``True`` scores each decision of the year from its own features
    with shared weights (``GBWMPolicy(decision_goal_head=True)`` on an env with
    ``decision_features=True``; general class only); ``"general"``: that for a problem
    of the general class and the paper's two-logit head for the paper's family;
    ``"crowded"`` (the ``tuned`` preset): that where some year has at least
    :data:`CROWDED_DECISIONS` decisions; ``False`` (the paper): one logit per decision
    index.
    Torch runs on one thread (see ``configure_torch_threads``).
    """
    if n_minibatches is not None and "batch_size" in overrides:
        raise ValueError("give batch_size or n_minibatches, not both; got batch_size="
                         f"{overrides['batch_size']!r} and n_minibatches={n_minibatches!r}")
    overrides = _apply_learning_rate_schedule(learning_rate_schedule, overrides)
    hp = resolve_hyperparams(**overrides)
    if problem is None:
        problem = paper_problem(num_goals)
    elif not isinstance(problem, GBWMProblem):
        raise ValueError(f"problem must be a GBWMProblem or None, got {type(problem).__name__}")
    check_horizon(problem.horizon)
    rollout_steps = hp["n_trajectories_per_rollout"] * problem.horizon
    if rollout_steps > MAX_ROLLOUT_STEPS:
        raise ValueError(
            f"n_trajectories_per_rollout must be in [1, {MAX_ROLLOUT_STEPS // problem.horizon:,}]"
            f" for a horizon of {problem.horizon} years: a rollout holds at most "
            f"{MAX_ROLLOUT_STEPS:,} steps (MAX_ROLLOUT_STEPS), got "
            f"{hp['n_trajectories_per_rollout']:,} trajectories = {rollout_steps:,} steps")
    if n_minibatches is not None:
        hp["batch_size"] = minibatch_size(hp["n_trajectories_per_rollout"] * problem.horizon,
                                          n_minibatches)
    decision_head = _decision_goal_head(decision_goal_head, problem)
    portfolio_given_goal = _portfolio_given_goal(portfolio_given_goal, problem)
    algo = _algorithm(fast)
    configure_torch_threads()
    env = GBWMVecEnv(hp["n_trajectories_per_rollout"], problem=problem, seed=seed,
                     reward_scale=resolve_reward_scale(reward_scale, problem),
                     decision_features=decision_head)
    policy_kwargs = _policy_kwargs(hp, portfolio_given_goal, portfolio_degree,
                                   portfolio_free_logits)
    if decision_head:
        policy_kwargs["decision_goal_head"] = True
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
        policy_kwargs=policy_kwargs,
        tensorboard_log=tensorboard_log,
        verbose=verbose,
        seed=seed,
        device=device,
        ent_coef_final=ent_coef_final,
    )


#: ``decision_goal_head="crowded"`` scores decisions from their features where some year
#: has at least this many decisions. Measured with the ``tuned`` preset at the paper's
#: budget (benchmarks/bench_crowded.py, crowded_training_curves.py): with 27 decisions in
#: a year the per-index head collapses onto one decision within the first rollouts and
#: reaches 0.949 (3 seeds), the decision head 0.974 (5 seeds); with 3 or 9 decisions the
#: per-index head was as good (0.979 / 0.973 against 0.974 / 0.968, one seed each) and
#: cheaper per update (its head is one matrix product, the decision head one per decision).
CROWDED_DECISIONS = 16


def _where(option: str, problem: GBWMProblem, name: str) -> bool:
    """``"general"``: for a problem of the general class; ``"crowded"``: for one with at
    least ``CROWDED_DECISIONS`` decisions in some year (``name`` names the option)."""
    if option == "general":
        return not problem.in_paper_family
    if option == "crowded":
        return not problem.in_paper_family and problem.max_decisions >= CROWDED_DECISIONS
    raise ValueError(f"{name} must be True, False, 'general' or 'crowded', got {option!r}")


def _portfolio_given_goal(option: bool | str | int, problem: GBWMProblem) -> bool:
    """Whether the policy has a portfolio row per decision (see ``paper_ppo``)."""
    if isinstance(option, (bool, np.bool_)):
        return bool(option)
    if option in ("general", "crowded"):
        return _where(str(option), problem, "portfolio_given_goal")
    if isinstance(option, (int, np.integer)) and option >= 2:
        return problem.max_decisions >= int(option)
    raise ValueError(f"portfolio_given_goal must be True, False, 'general', 'crowded' or an "
                     f"integer >= 2 (decisions in a year), got {option!r}")


def _decision_goal_head(option: bool | str, problem: GBWMProblem) -> bool:
    """Whether the policy scores decisions from their features (see ``paper_ppo``)."""
    if isinstance(option, str):
        return _where(option, problem, "decision_goal_head")
    if not isinstance(option, (bool, np.bool_)):
        raise ValueError(f"decision_goal_head must be True, False, 'general' or 'crowded', "
                         f"got {option!r}")
    if option and problem.in_paper_family:
        raise ValueError("decision_goal_head=True needs a problem of the general class (the "
                         "paper's family has two decisions a year); use 'general' to apply "
                         "it only there")
    return bool(option)


LEARNING_RATE_SCHEDULES = ("linear", "constant")


def _apply_learning_rate_schedule(schedule: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """``"constant"`` turns a numeric learning rate into a constant schedule; a callable
    learning rate is its own schedule."""
    if schedule not in LEARNING_RATE_SCHEDULES:
        raise ValueError(f"learning_rate_schedule must be one of "
                         f"{', '.join(LEARNING_RATE_SCHEDULES)}, got {schedule!r}")
    rate = overrides.get("learning_rate", PAPER_HYPERPARAMS["learning_rate"])
    if schedule == "linear" or callable(rate):
        return overrides
    from stable_baselines3.common.utils import ConstantSchedule

    resolve_hyperparams(learning_rate=rate)  # validates the number, naming the field
    return {**overrides, "learning_rate": ConstantSchedule(float(rate))}


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


def _algorithm(fast: bool) -> type[GBWMPPO] | type[FastPPO]:
    if not fast:
        return GBWMPPO
    try:
        from gbwm_sb3.ppo.fast_ppo import FastPPO
    except ImportError as err:
        raise ImportError(
            "paper_ppo(fast=True) needs gbwm_sb3.fast_ppo.FastPPO, which could not be "
            f"imported ({err}); pass fast=False for the stock SB3 update"
        ) from err
    return FastPPO


def learn_paper(model: PPO, n_trajectories: int = 50_000, **learn_kwargs: Any) -> PPO:
    """``model.learn`` for ``n_trajectories`` episodes (SB3 rounds up to whole rollouts)."""
    problem = cast(GBWMVecEnv, find_gbwm_vec_env(model.get_env())).problem  # a paper env
    if "total_timesteps" in learn_kwargs:
        raise ValueError("learn_paper takes n_trajectories, not total_timesteps")
    return model.learn(paper_total_timesteps(problem, n_trajectories), **learn_kwargs)


def make_preset_model(preset: str, problem: GBWMProblem | None = None, seed: int | None = 0,
                      **kwargs: Any) -> PPO:
    """The untrained model of the registered preset ``preset`` on ``problem``.

    ``kwargs`` (``paper_ppo`` arguments and hyperparameter overrides) take precedence
    over the preset's own overrides.
    """
    entry = get_preset(preset)
    settings = dict(entry.overrides)
    if "batch_size" in kwargs:  # an explicit minibatch replaces the preset's split, and back
        settings.pop("n_minibatches", None)
    if "n_minibatches" in kwargs:
        settings.pop("batch_size", None)
    return paper_ppo(problem=problem, seed=seed, fast=entry.fast, **{**settings, **kwargs})


def tuned_ppo(num_goals: int = 4, problem: GBWMProblem | None = None, seed: int | None = 0,
              **overrides: Any) -> PPO:
    """PPO in the ``tuned`` configuration: ``paper_ppo`` with :data:`TUNED_HYPERPARAMS`.

    Why each setting is there, and what it is worth: docs/tuning.md.
    """
    if problem is None:
        problem = paper_problem(num_goals)
    return make_preset_model("tuned", problem=problem, seed=seed, **overrides)
