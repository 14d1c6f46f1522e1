"""Pretraining the universal policy with SB3's PPO, in resumable stages.

Training is split into stages of ``stage_timesteps`` environment steps. Stage ``i``
runs on a fresh :class:`~gbwm_sb3.envs.multi_problem_vec_env.MultiProblemVecEnv` seeded
with ``SeedSequence([seed, i])`` and reseeds torch and numpy with the same stage seed, so
a stage depends only on the weights and optimizer state it starts from. After every
stage the model (weights and Adam state) is checkpointed and ``state.json`` records
the stage, the step count, the wall time and the validation efficiencies; a run that
is interrupted resumes from its last checkpoint and ends with the same weights as one
that was not (tested). The learning rate falls linearly from ``learning_rate`` to
``learning_rate_final`` over all stages and the entropy coefficient from
``ent_coef`` to ``ent_coef_final``, stage by stage.

After each stage the greedy policy is scored on a validation set of sampled problems
(their own seed domain, disjoint from the benchmark suite) against the DP optimum on
common random numbers; the best stage's weights are kept as ``best/``, and every
stage's weights as ``stages/stage-NNN/`` (about 200 KB each) for later comparison.

By default the problems are drawn from the sampler's ``DEFAULT_ENVELOPE`` and the network
starts fresh. ``mixture`` draws them from a training mixture of
:mod:`gbwm_sb3.pretrained.mixture` instead (``"wide"``: the whole acceptance envelope,
funding ratios down to 0.1, noisier utilities, flatter and steeper frontiers;
``"blend"``: half sampler, half wide; ``"dominant"``: the blend with one goal worth
most of the plan in a third of the draws; ``"few_goals"``: the blend with a third of
the draws underfunded plans of 1-4 goals; ``"near_ties"``: few_goals with a third of the
draws' partial levels worth nearly as much as the full level, or more),
``validation_mixture`` adds that many of the
mixture's problems (their own seed domain) to the validation set, and
``start="shipped"`` continues PPO from the shipped weights (Adam starts afresh) instead
of a fresh network, ``start="ppo"`` from the pure-RL PPO weights (the shipped weights
before their imitation stage), and ``start=DIR`` from the weights in directory DIR (for example a
DP-teacher run's, :mod:`gbwm_sb3.pretrained.distillation`); their validation before any
training is recorded as ``start_validation`` in ``state.json`` (with
``start_weights_sha256``), and a stage becomes ``best/`` only if it beats them (``best``
stays None while none does).
``curriculum_share`` turns on the gap-driven curriculum of
:mod:`gbwm_sb3.pretrained.curriculum`: before each stage the network's gap to the DP is
measured on ``curriculum_problems`` fresh problems of every band (goal count times
funding ratio), and that share of the stage's problems comes from bands picked in
proportion to their gap; ``state.json`` records each stage's gaps and weights.
Every part of it is PPO: no DP decision or value is trained on (the DP only scores the
validation problems and, with the curriculum, picks where to draw more problems).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import set_random_seed

from gbwm_sb3.common.environment import run_environment
from gbwm_sb3.dp import solve_dp
from gbwm_sb3.envs.multi_problem_vec_env import MultiProblemVecEnv
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.pretrained.curriculum import (
    CURRICULUM_BANDS,
    band_weights,
    curriculum_sampler,
    measure_band_gaps,
)
from gbwm_sb3.pretrained.loading import bind_policy
from gbwm_sb3.pretrained.mixture import (
    MIXTURE_VALIDATION_SEED,
    MIXTURES,
    mixture_envelope,
    mixture_problem,
    mixture_problems,
)
from gbwm_sb3.pretrained.policy import INPUT_FLAGS, UniversalGBWMPolicy
from gbwm_sb3.pretrained.run_support import (
    NAMED_STARTS,
    atomic_write_json,
    check_start,
    linear_fraction,
    load_start,
    start_directory,
)
from gbwm_sb3.pretrained.validation import (
    PAPER_LIKE_VALIDATION,
    VALIDATION_SEED,
    efficiency_summary,
    paper_like_problem,
    rounded_efficiencies,
    validation_problems,
)
from gbwm_sb3.pretrained.weights import (
    network_spaces,
    read_weights_manifest,
    save_weights,
)
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.sampler import (
    DEFAULT_ENVELOPE,
    ProblemEnvelope,
    sample_problem,
)

__all__ = ["PretrainConfig", "pretrain", "validation_problems", "optimum_value", "STATE_FILE",
           "REWARD_NORMALIZATIONS", "PAPER_LIKE_VALIDATION", "paper_like_problem",
           "TRAINING_MIXTURES", "TRAINING_STARTS", "VALIDATION_SEED", "atomic_write_json",
           "linear_fraction"]

STATE_FILE = "state.json"
_CHECKPOINT = "checkpoint.zip"
#: What each problem's rewards are divided by: its total utility (returns in [0, 1]) or
#: its optimal expected utility (a coarse DP, grid density 20: returns are efficiencies).
REWARD_NORMALIZATIONS = ("total_utility", "optimum")
_SCALE_GRID_DENSITY = 20.0
#: Where a run's problems come from: the sampler's default envelope, or a mixture of
#: :mod:`gbwm_sb3.pretrained.mixture`.
TRAINING_MIXTURES = ("sampler", *MIXTURES)
#: What a run's network starts from: a fresh network, the shipped weights or the PPO weights
#: (or, given as ``start``, any other weights directory).
TRAINING_STARTS = NAMED_STARTS


def optimum_value(problem: GBWMProblem) -> float:
    """The optimal expected utility from W0 (coarse DP grid: within about 0.5%)."""
    solution = solve_dp(problem, grid_density=_SCALE_GRID_DENSITY, refine=False)
    return float(solution.value_at(0, np.array([problem.initial_wealth]))[0])


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that determines a pretraining run (saved with the weights).

    ``total_timesteps`` is rounded up to whole stages; a stage is a whole number of
    rollouts of ``n_envs * n_steps`` steps. ``mixture``, ``start`` and
    ``validation_mixture``: the module docstring.
    """

    seed: int = 0
    total_timesteps: int = 24_903_680
    stage_timesteps: int = 655_360
    n_envs: int = 2048
    n_steps: int = 16
    batch_size: int = 4096
    n_epochs: int = 4
    learning_rate: float = 5e-4
    learning_rate_final: float = 2e-5
    ent_coef: float = 0.01
    ent_coef_final: float = 0.0005
    clip_range: float = 0.2
    gae_lambda: float = 0.95
    gamma: float = 1.0
    max_grad_norm: float = 0.5
    embedding: tuple[int, ...] = (64, 64)
    head: int = 64
    value: tuple[int, ...] = (128, 128)
    pool_size: int = 1024
    new_problems_per_step: int = 4
    validation_problems: int = 12
    validation_paths: int = 2000
    reward_normalization: str = "total_utility"
    validation_paper_like: int = 0
    validation_lookahead: int = 1
    mixture: str = "sampler"
    start: str = "scratch"
    validation_mixture: int = 0
    weighted_reach: bool = False
    entry_reach: bool = False
    decision_margins: bool = False
    decision_reach: bool = False
    curriculum_share: float = 0.0
    curriculum_problems: int = 4

    def __post_init__(self) -> None:
        ints = {"seed": (0, 2**32 - 1), "total_timesteps": (1, 10**11),
                "stage_timesteps": (1, 10**10), "n_envs": (1, 10**6), "n_steps": (1, 10**4),
                "batch_size": (2, 10**7), "n_epochs": (1, 1000), "head": (1, 4096),
                "pool_size": (1, 10**6), "new_problems_per_step": (0, 10**4),
                "validation_problems": (0, 1000), "validation_paths": (2, 10**7),
                "validation_paper_like": (0, len(PAPER_LIKE_VALIDATION)),
                "validation_lookahead": (1, 64), "validation_mixture": (0, 1000),
                "curriculum_problems": (1, 1000)}
        for name, (lo, hi) in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or not lo <= value <= hi:
                raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")
        reals = {"learning_rate": (0.0, 1.0), "learning_rate_final": (0.0, 1.0),
                 "ent_coef": (0.0, 1.0), "ent_coef_final": (0.0, 1.0),
                 "clip_range": (0.0, 10.0), "gae_lambda": (0.0, 1.0), "gamma": (0.0, 1.0),
                 "max_grad_norm": (0.0, 1e6), "curriculum_share": (0.0, 1.0)}
        for name, (low, high) in reals.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or not low <= value <= high:
                raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
        if self.reward_normalization not in REWARD_NORMALIZATIONS:
            raise ValueError(f"reward_normalization must be one of "
                             f"{', '.join(REWARD_NORMALIZATIONS)}, got "
                             f"{self.reward_normalization!r}")
        for flag in INPUT_FLAGS:
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if self.mixture not in TRAINING_MIXTURES:
            raise ValueError(f"mixture must be one of {', '.join(TRAINING_MIXTURES)}, got "
                             f"{self.mixture!r}")
        check_start(self.start)
        if self.validation_mixture and self.mixture == "sampler":
            raise ValueError("validation_mixture must be 0 with mixture 'sampler' (its "
                             "validation problems are the sampled ones)")
        if self.validation_lookahead > 1 and self.reward_normalization != "total_utility":
            raise ValueError("validation_lookahead must be 1 with reward_normalization "
                             f"{self.reward_normalization!r}: the lookahead needs a value "
                             "network trained on rewards divided by the total utility")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        rollout = self.n_envs * self.n_steps
        if rollout < self.batch_size:
            raise ValueError(f"batch_size must be at most n_envs * n_steps = {rollout}, "
                             f"got {self.batch_size}")
        if self.stage_timesteps % rollout:
            raise ValueError(f"stage_timesteps must be a multiple of n_envs * n_steps = "
                             f"{rollout}, got {self.stage_timesteps}")
        for name in ("embedding", "value"):
            value = getattr(self, name)
            if not value or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                                for v in value):
                raise ValueError(f"{name} must be a non-empty tuple of positive integers, "
                                 f"got {value!r}")

    @property
    def stages(self) -> int:
        """Number of stages (total_timesteps rounded up)."""
        return -(-self.total_timesteps // self.stage_timesteps)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["embedding"], data["value"] = list(self.embedding), list(self.value)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PretrainConfig:
        """The config ``to_dict`` wrote; unknown fields are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown pretraining settings: {', '.join(unknown)}")
        data = dict(data)
        for name in ("embedding", "value"):
            if name in data:
                data[name] = tuple(data[name])
        return cls(**data)

    @property
    def envelope(self) -> ProblemEnvelope:
        """The envelope the run's problems are drawn from."""
        return DEFAULT_ENVELOPE if self.mixture == "sampler" else mixture_envelope(self.mixture)

    def problem_sampler(self) -> Callable[[np.random.Generator], GBWMProblem] | None:
        """The draw of one training problem (None: ``sample_problem`` from the envelope)."""
        if self.mixture == "sampler":
            return None
        mixture = self.mixture
        return lambda rng: mixture_problem(rng, mixture)

    def problem_draw(self) -> Callable[[np.random.Generator], GBWMProblem]:
        """The draw of one training problem, always a function (the curriculum's base)."""
        sampler = self.problem_sampler()
        if sampler is not None:
            return sampler
        envelope = self.envelope
        return lambda rng: sample_problem(rng, envelope)

    def validation_set(self) -> list[GBWMProblem]:
        """The run's validation problems: the sampled and paper-like ones, then
        ``validation_mixture`` of the mixture's."""
        problems = validation_problems(self.validation_problems, self.validation_paper_like)
        if self.validation_mixture:
            problems += mixture_problems(self.validation_mixture, MIXTURE_VALIDATION_SEED,
                                         self.mixture)
        return problems

    def policy_kwargs(self) -> dict[str, Any]:
        """The network shape."""
        return {"embedding": tuple(self.embedding), "head": self.head,
                "value": tuple(self.value),
                **{flag: getattr(self, flag) for flag in INPUT_FLAGS}}


def stage_seed(seed: int, stage: int) -> int:
    """The 32-bit seed of stage ``stage`` of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, stage]).generate_state(1)[0])


class _Progress(BaseCallback):
    """Prints a progress bar line after every rollout (in place on a terminal)."""

    def __init__(self, total: int, started: float, done_before: float,
                 write: Callable[[str], None] | None) -> None:
        super().__init__()
        self.total, self.started, self.done_before = total, started, done_before
        self.write = write
        self.tty = write is None and sys.stdout.isatty()

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.write is None and not self.tty:
            return
        done = self.model.num_timesteps
        elapsed = self.done_before + time.time() - self.started
        fraction = done / self.total
        bar = "#" * int(30 * fraction) + "." * (30 - int(30 * fraction))
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 else float("nan")
        line = (f"[{bar}] {100 * fraction:5.1f}%  {done:,}/{self.total:,} steps  "
                f"{elapsed / 60:.1f} min, about {left / 60:.0f} min left")
        if self.tty:
            print("\r" + line, end="", flush=True)
        elif self.write is not None:
            self.write(line)


def _read_state(directory: Path) -> dict[str, Any] | None:
    path = directory / STATE_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _network(model: PPO) -> UniversalGBWMPolicy:
    """The policy of a model this module built (``PPO(UniversalGBWMPolicy, ...)``)."""
    return cast(UniversalGBWMPolicy, model.policy)


def _stage_curriculum(config: PretrainConfig, network: UniversalGBWMPolicy, stage: int
                      ) -> dict[str, Any] | None:
    """The curriculum of ``stage`` (None without one): each band's measured gap and its
    weight in the stage's draw (:mod:`gbwm_sb3.pretrained.curriculum`)."""
    if config.curriculum_share <= 0:
        return None
    gaps = measure_band_gaps(network, config.problem_draw(), CURRICULUM_BANDS,
                             config.curriculum_problems, stage_seed(config.seed, stage))
    weights = band_weights(gaps)
    return {"bands": [band.name for band in CURRICULUM_BANDS],
            "gaps": [None if g is None else round(g, 5) for g in gaps],
            "weights": [round(w, 5) for w in weights]}


def _score_to_beat(state: dict[str, Any]) -> float:
    """The validation mean a stage must exceed to become ``best``: the best stage's, else
    the starting weights' (any start but ``"scratch"``), else none."""
    if state["best"] is not None:
        return float(state["best"]["validation_mean"])
    if "start_validation" in state:
        return float(state["start_validation"]["mean"])
    return -math.inf


def _validation_efficiency(model: PPO, problems: list[GBWMProblem], solutions: list[Any],
                           paths: int, lookahead: int = 1) -> list[float]:
    out = []
    for problem, solution in zip(problems, solutions, strict=True):
        policy = bind_policy(_network(model), problem, lookahead=lookahead)
        report = evaluate({"dp": solution, "policy": policy}, problem, n_paths=paths, seed=1)
        efficiency = report["policy"].efficiency  # None: the optimum funds nothing
        out.append(float("nan") if efficiency is None else float(efficiency))
    return out


def pretrain(config: PretrainConfig, directory: str | os.PathLike[str], *,
             threads: int | None = None, tensorboard: str | os.PathLike[str] | None = None,
             progress: bool = True, log: Callable[[str], None] | None = print,
             max_stages: int | None = None, until_stage: int | None = None) -> dict[str, Any]:
    """Run (or resume) pretraining in ``directory``; returns the final ``state.json`` data.

    ``directory`` holds ``config.json``, ``state.json``, the last checkpoint and
    ``best/`` and ``final/`` weights (the safe format of
    :mod:`gbwm_sb3.pretrained.weights`). A directory with a different ``config.json``
    is refused (nothing saved is overwritten). ``threads``: PyTorch intra-op threads
    (default 1: bit-reproducible; with more, PyTorch's parallel accumulation in the
    backward pass makes two runs differ in the last bits, and the runs drift apart).
    ``tensorboard``: a log directory (needs the ``tensorboard`` package).
    ``max_stages``: stop after this many stages in this call (the run can be resumed
    later); ``until_stage``: stop once the run has this many stages in all (the same
    call again resumes and ends at the same place; 0 or the stage reached: no training).
    ``log``: where the per-stage lines go (None: silent).
    """
    if not isinstance(config, PretrainConfig):
        raise ValueError(f"config must be a PretrainConfig, got {type(config).__name__}")
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.exists() and config.start != "scratch":
        # a start of another shape is refused before anything is written
        load_start(UniversalGBWMPolicy(*network_spaces(), lambda _: 0.0,
                                       **config.policy_kwargs()), config.start)
    directory.mkdir(parents=True, exist_ok=True)
    if config_path.exists():
        saved = PretrainConfig.from_dict(json.loads(config_path.read_text()))
        if saved != config:
            raise ValueError(f"{directory} holds a pretraining run with different settings "
                             f"({config_path}); use another directory or the same settings")
    else:
        atomic_write_json(config_path, config.to_dict())
    if threads is None:
        threads = 1
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    th.set_num_threads(threads)
    if tensorboard is not None:
        try:
            import tensorboard as _tb  # noqa: F401
        except ImportError:
            raise ValueError("tensorboard logs need the tensorboard package: "
                             "pip install 'gbwm-sb3[tensorboard]'") from None
    say = log if log is not None else (lambda _line: None)

    state = _read_state(directory) or {"stage": 0, "num_timesteps": 0, "wall_time_s": 0.0,
                                       "history": [], "best": None, "threads": threads}
    for name, value in (("max_stages", max_stages), ("until_stage", until_stage)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise ValueError(f"{name} must be an integer >= 0 or None, got {value!r}")
    if until_stage is not None and int(state["stage"]) >= until_stage:
        say(f"pretraining in {directory} has {state['stage']} stages (until stage "
            f"{until_stage}): nothing to train")
        return state
    problems = config.validation_set()
    solutions = [solve_dp(p) for p in problems]
    total = config.stages * config.stage_timesteps
    checkpoint = directory / _CHECKPOINT

    def new_env(stage: int, sampler: Callable[[np.random.Generator], GBWMProblem] | None = None
                ) -> MultiProblemVecEnv:
        return MultiProblemVecEnv(config.n_envs, config.envelope,
                                  seed=stage_seed(config.seed, stage), pool_size=config.pool_size,
                                  new_problems_per_step=config.new_problems_per_step,
                                  reward_scale=optimum_value
                                  if config.reward_normalization == "optimum" else None,
                                  sampler=sampler or config.problem_sampler())

    start_stage = int(state["stage"])
    if start_stage >= config.stages:
        say(f"pretraining in {directory} is complete ({start_stage} stages)")
        return state
    set_random_seed(stage_seed(config.seed, start_stage))
    env = new_env(start_stage)
    if start_stage == 0:
        set_random_seed(config.seed)
        model = PPO(UniversalGBWMPolicy, env, learning_rate=config.learning_rate,
                    n_steps=config.n_steps, batch_size=config.batch_size,
                    n_epochs=config.n_epochs, gamma=config.gamma, gae_lambda=config.gae_lambda,
                    clip_range=config.clip_range, ent_coef=config.ent_coef,
                    max_grad_norm=config.max_grad_norm, device="cpu",
                    policy_kwargs=config.policy_kwargs(),
                    tensorboard_log=None if tensorboard is None else str(tensorboard))
        origin = start_directory(config.start)
        if origin is not None:
            load_start(_network(model), config.start)
            state["start_weights_sha256"] = read_weights_manifest(origin)["sha256"]
    else:
        say(f"resuming {directory} at stage {start_stage + 1}/{config.stages} "
            f"({state['num_timesteps']:,} steps done)")
        model = PPO.load(checkpoint, env=env, device="cpu",
                         tensorboard_log=None if tensorboard is None else str(tensorboard))
    if config.start != "scratch" and start_stage == 0 and "start_validation" not in state \
            and problems:
        start_scores = _validation_efficiency(model, problems, solutions, config.validation_paths,
                                              config.validation_lookahead)
        start_mean, start_min = efficiency_summary(start_scores)
        state["start_validation"] = {
            "mean": start_mean, "min": start_min,
            "validation": rounded_efficiencies(start_scores)}
        say(f"start ({config.start} weights): validation efficiency mean "
            f"{state['start_validation']['mean']:.4f} min {state['start_validation']['min']:.4f}")
    stages_run = 0
    while int(state["stage"]) < config.stages:
        stage = int(state["stage"])
        if max_stages is not None and stages_run >= max_stages:
            break
        if until_stage is not None and stage >= until_stage:
            break
        curriculum = _stage_curriculum(config, _network(model), stage)
        if curriculum is not None:  # every stage's env draws with that stage's weights
            env = new_env(stage, curriculum_sampler(
                config.problem_draw(), CURRICULUM_BANDS, curriculum["weights"],
                config.curriculum_share))
            model.set_env(env, force_reset=True)
        elif stages_run:  # the first stage's env exists already
            env = new_env(stage)
            model.set_env(env, force_reset=True)
        else:
            model._last_obs = None  # reset the env at the start of learn()
        set_random_seed(stage_seed(config.seed, stage))
        begin = model.num_timesteps
        span = begin + config.stage_timesteps

        def lr(progress_remaining: float, span: int = span) -> float:
            return linear_fraction(config.learning_rate, config.learning_rate_final,
                           (1.0 - progress_remaining) * span / total)

        model.learning_rate = lr
        model.lr_schedule = lr
        model.ent_coef = linear_fraction(config.ent_coef, config.ent_coef_final,
                                 stage / max(config.stages - 1, 1))
        started = time.time()
        callback = _Progress(total, started, float(state["wall_time_s"]),
                             None if progress else (lambda _line: None))
        model.learn(config.stage_timesteps, callback=callback, reset_num_timesteps=False,
                    tb_log_name="pretrain")
        if callback.tty:
            print(flush=True)
        train_time = time.time() - started
        efficiencies = _validation_efficiency(model, problems, solutions,
                                              config.validation_paths,
                                              config.validation_lookahead)
        stats = env.pop_episode_statistics()
        mean_eff, min_eff = efficiency_summary(efficiencies)
        scored = math.isfinite(mean_eff)
        if scored and model.logger is not None:
            model.logger.record("validation/mean_efficiency", mean_eff)
            model.logger.record("validation/min_efficiency", min_eff)
            model.logger.dump(model.num_timesteps)
        model.save(directory / "checkpoint.tmp.zip")
        os.replace(directory / "checkpoint.tmp.zip", checkpoint)
        entry: dict[str, Any] = {
            "stage": stage + 1, "num_timesteps": int(model.num_timesteps),
            "train_time_s": round(train_time, 2),
            "utility_fraction": stats.get("mean_utility_fraction"),
            "validation_mean": mean_eff,
            "validation_min": min_eff if scored else None,
            "validation": rounded_efficiencies(efficiencies)}
        if curriculum is not None:
            entry["curriculum"] = curriculum
        state["history"].append(entry)
        state["stage"] = stage + 1
        state["num_timesteps"] = int(model.num_timesteps)
        state["wall_time_s"] = round(float(state["wall_time_s"]) + time.time() - started, 2)
        meta = {"config": config.to_dict(), "num_timesteps": int(model.num_timesteps),
                "stage": stage + 1, "wall_time_s": state["wall_time_s"], "threads": threads,
                "validation_mean": mean_eff, "environment": run_environment()}
        save_weights(_network(model), directory / "stages" / f"stage-{stage + 1:03d}", meta,
                     overwrite=True,
                     envelope=config.envelope)
        if scored and mean_eff > _score_to_beat(state):
            save_weights(_network(model), directory / "best", meta, overwrite=True,
                         envelope=config.envelope)
            state["best"] = {"stage": stage + 1, "validation_mean": mean_eff}
        if stage + 1 == config.stages:
            save_weights(_network(model), directory / "final", meta, overwrite=True,
                         envelope=config.envelope)
        atomic_write_json(directory / STATE_FILE, state)
        say(f"stage {stage + 1}/{config.stages}: {model.num_timesteps:,} steps, "
            f"{state['wall_time_s'] / 60:.1f} min, utility fraction "
            f"{entry['utility_fraction'] if entry['utility_fraction'] is None else round(entry['utility_fraction'], 3)}, "  # noqa: E501
            f"validation efficiency mean {mean_eff:.4f} min {entry['validation_min'] or 0:.4f}")
        stages_run += 1
    return state
