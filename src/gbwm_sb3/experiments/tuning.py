"""Hyperparameter tuning with Optuna: NSGA-II over efficiency and training time, or TPE.

The paper chose its hyperparameters with NSGA-II over efficiency and run time; this
module does the same on Optuna. A study holds its settings (problems, training budget,
seeds, evaluation paths, sampler) as study attributes, so every process that joins it
(on this machine or on others, through a shared database) scores trials the same way.

Each trial draws a configuration from :data:`SEARCH_SPACE` (overrides of the ``paper``
preset), trains it on every problem for every seed, and scores the deterministic
policy against the DP optimum on common random numbers:

- ``nsga2``: two objectives, mean efficiency (maximise) and mean training wall time
  per run in seconds (minimise); the answer is the Pareto front;
- ``tpe``: mean efficiency alone, with trials pruned (median rule) on the efficiency
  measured at 1/4, 1/2 and 3/4 of each training run.

Storage is any SQLAlchemy URL: a SQLite file (the default, nothing to set up) or a
server database such as PostgreSQL, shared by workers on several machines. A heartbeat
marks the trial of a worker that died as failed, so a study stays consistent.
Optuna is an extra: ``pip install "gbwm-sb3[tune]"``. Reading a study (its Pareto
front, plots, presets from trials): :mod:`gbwm_sb3.experiments.tuning_results`.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import re
import socket
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from gbwm_sb3.common.limits import (
    MAX_PATHS,
    MAX_SEED,
    MAX_SEEDS,
    MAX_TRAJECTORIES,
    MAX_TRIALS,
    MAX_WORKERS,
    check_int,
)
from gbwm_sb3.experiments.parallel import SINGLE_THREAD_ENV, temporary_environment

__all__ = [
    "KNOWN_POINTS",
    "SAMPLERS",
    "SEARCH_SPACE",
    "TUNE_INSTALL_HINT",
    "TuneSettings",
    "check_fixed",
    "load_study",
    "make_storage",
    "mask_secrets",
    "mask_url_password",
    "objective",
    "optimize",
    "params_to_overrides",
    "study_settings",
    "suggest_params",
]

TUNE_INSTALL_HINT = 'pip install "gbwm-sb3[tune]"'
SAMPLERS: tuple[str, ...] = ("nsga2", "tpe")

#: The search space: name -> ("categorical", choices) | ("int", low, high, step) |
#: ("float", low, high, log). ``reward_scale`` "none" is the paper's unscaled rewards,
#: ``portfolio_degree`` 0 the paper's free logits, ``net_width`` both hidden layers.
SEARCH_SPACE: Mapping[str, tuple[Any, ...]] = {
    "n_trajectories_per_rollout": ("categorical", (600, 1200, 2400, 4800)),
    "n_epochs": ("int", 2, 16, 2),
    "batch_size": ("categorical", (256, 512, 960, 1920, 3840)),
    "learning_rate": ("float", 1e-3, 5e-2, True),
    "learning_rate_schedule": ("categorical", ("linear", "constant")),
    "clip_range": ("float", 0.1, 0.5, False),
    "ent_coef": ("float", 0.0, 0.05, False),
    "reward_scale": ("categorical", ("none", "total")),
    "portfolio_degree": ("int", 0, 3, 1),
    "portfolio_given_goal": ("categorical", (False, True)),
    "net_width": ("categorical", (32, 64, 128)),
}

#: The ``paper`` and ``tuned`` presets as points of the search space (the first trials of
#: a new study, so that the front is anchored on the known configurations). The space
#: states the minibatch in steps: ``tuned``'s 20 minibatches per rollout are 960 steps on
#: the paper problems' 16-year horizon.
KNOWN_POINTS: Mapping[str, Mapping[str, Any]] = {
    "paper": {"n_trajectories_per_rollout": 4800, "n_epochs": 4, "batch_size": 256,
              "learning_rate": 0.01, "learning_rate_schedule": "linear", "clip_range": 0.5,
              "ent_coef": 0.01, "reward_scale": "none", "portfolio_degree": 0,
              "portfolio_given_goal": False, "net_width": 64},
    "tuned": {"n_trajectories_per_rollout": 1200, "n_epochs": 16, "batch_size": 960,
              "learning_rate": 0.01, "learning_rate_schedule": "linear", "clip_range": 0.5,
              "ent_coef": 0.01, "reward_scale": "total", "portfolio_degree": 2,
              "portfolio_given_goal": False, "net_width": 64},
}

_PRUNE_FRACTIONS = (0.25, 0.5, 0.75)


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError as err:
        raise ImportError(f"tuning needs Optuna, which is not installed ({err}); install "
                          f"it with: {TUNE_INSTALL_HINT}") from None
    # The heartbeat API is stable in use; Optuna still labels it experimental.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# ---------------------------------------------------------------------------- settings
#: Largest NSGA-II population (``optimize(population=...)``, ``gbwm tune --population``).
MAX_POPULATION = 10_000


@dataclass(frozen=True)
class TuneSettings:
    """How a study scores a trial; stored with the study, the same for every worker."""

    problems: tuple[str, ...]
    n_trajectories: int = 50_000
    seeds: int = 2
    n_eval_paths: int = 20_000
    eval_seed: int = 0
    sampler: str = "nsga2"
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.problems or not all(isinstance(p, str) and p for p in self.problems):
            raise ValueError(f"problems must be a non-empty list of problem specs "
                             f"(paper:NG or a problem file), got {self.problems!r}")
        object.__setattr__(self, "problems", tuple(self.problems))
        for name, low, high in (("n_trajectories", 1, MAX_TRAJECTORIES),
                                ("seeds", 1, MAX_SEEDS), ("n_eval_paths", 2, MAX_PATHS),
                                ("eval_seed", 0, MAX_SEED)):
            check_int(getattr(self, name), name, low, high, style="bounds", exact=True)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, "
                             f"got {self.sampler!r}")
        object.__setattr__(self, "fixed", dict(self.fixed))
        for name, value in self.fixed.items():
            check_fixed(name, value)

    @property
    def directions(self) -> list[str]:
        return ["maximize", "minimize"] if self.sampler == "nsga2" else ["maximize"]

    def to_attrs(self) -> dict[str, Any]:
        return {**asdict(self), "problems": list(self.problems), "fixed": dict(self.fixed)}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> TuneSettings:
        fields = {k: attrs[k] for k in ("problems", "n_trajectories", "seeds", "n_eval_paths",
                                        "eval_seed", "sampler")}
        fields["fixed"] = attrs.get("fixed", {})
        return cls(**{**fields, "problems": tuple(fields["problems"])})


# ---------------------------------------------------------------------------- search space
def check_fixed(name: str, value: Any) -> None:
    """A parameter held fixed: a name of :data:`SEARCH_SPACE` and a value of its kind
    (possibly outside the searched range, e.g. a tiny rollout for a quick test)."""
    if name not in SEARCH_SPACE:
        raise ValueError(f"fixed parameter {name!r} is not in the search space; choose "
                         f"from {', '.join(SEARCH_SPACE)}")
    spec = SEARCH_SPACE[name]
    if spec[0] == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif spec[0] == "float":
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and math.isfinite(value) and value >= 0)
    else:
        ok = any(type(value) is type(choice) for choice in spec[1])
    if not ok:
        raise ValueError(f"fixed parameter {name}={value!r}: expected "
                         + ("an integer >= 0" if spec[0] == "int" else
                            "a number >= 0" if spec[0] == "float" else
                            "a value like " + ", ".join(map(repr, spec[1]))))


def suggest_params(trial: Any, fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Draw one point of :data:`SEARCH_SPACE` with ``trial``; ``fixed`` parameters are
    not drawn but set."""
    params: dict[str, Any] = dict(fixed or {})
    for name, spec in SEARCH_SPACE.items():
        if name in params:
            continue
        kind = spec[0]
        if kind == "categorical":
            params[name] = trial.suggest_categorical(name, list(spec[1]))
        elif kind == "int":
            params[name] = trial.suggest_int(name, spec[1], spec[2], step=spec[3])
        else:
            params[name] = trial.suggest_float(name, spec[1], spec[2], log=spec[3])
    return params


def params_to_overrides(params: Mapping[str, Any]) -> dict[str, Any]:
    """A point of the search space as overrides of the ``paper`` preset (JSON-friendly)."""
    overrides = {k: v for k, v in params.items()
                 if k not in ("reward_scale", "portfolio_degree", "net_width")}
    overrides["reward_scale"] = None if params["reward_scale"] == "none" else "total"
    overrides["portfolio_degree"] = int(params["portfolio_degree"]) or None
    width = int(params["net_width"])
    overrides["net_arch"] = [width, width]
    return overrides


# ---------------------------------------------------------------------------- storage
#: What replaces a password in every message, log line and file about a storage URL.
MASK = "***"
# ``scheme://user:PASSWORD@host...``: the password runs to the last ``@`` (a raw ``@`` in a
# password is not escaped by everyone; masking too much is safe, too little is not).
_URL_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][\w+.-]*://[^:/?#@]*:)(?P<password>.*)"
                           r"(?P<tail>@[^@]*)$", re.DOTALL)
# ``?password=...`` in a URL's query, ``password=...`` in a libpq connection string.
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\b(?:password|passwd|pwd)\s*=\s*)"
                               r"(?P<password>'[^']*'|\"[^\"]*\"|[^\s&;]+)", re.IGNORECASE)


def mask_url_password(url: str) -> str:
    """``url`` with its password (``user:PASSWORD@``, ``?password=``) replaced by ``***``.

    Used for every message, progress line and file that shows a storage URL, so that a
    database password never reaches a terminal, a log or a results file.
    """
    masked = _URL_PASSWORD.sub(lambda m: m["head"] + MASK + m["tail"], url)
    return _KEYWORD_PASSWORD.sub(lambda m: m["head"] + MASK, masked)


def _url_secrets(url: str) -> list[str]:
    """The passwords of ``url`` as they may appear in a message: raw and URL-decoded."""
    from urllib.parse import unquote, unquote_plus

    found = []
    match = _URL_PASSWORD.match(url)
    if match:
        found.append(match["password"])
    found += [m["password"].strip("'\"") for m in _KEYWORD_PASSWORD.finditer(url)]
    secrets = set()
    for secret in found:
        secrets.update({secret, unquote(secret), unquote_plus(secret)})
    return sorted((s for s in secrets if s and s != MASK), key=len, reverse=True)


def mask_secrets(text: str, url: str) -> str:
    """``text`` (an error message, a log line) with the storage ``url`` masked by
    :func:`mask_url_password` and every other occurrence of its password (raw or
    URL-decoded, not inside a longer word) replaced by ``***``."""
    text = text.replace(url, mask_url_password(url))
    for secret in _url_secrets(url):
        # as a token of its own, so that a short password does not mask parts of words
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", MASK, text)
    return _KEYWORD_PASSWORD.sub(lambda m: m["head"] + MASK, text)


#: Opening a storage is retried (table-creation races) for at most this many seconds.
_STORAGE_RETRY_SECONDS = 10.0


def make_storage(url: str, heartbeat_interval: float = 30.0) -> Any:
    """Optuna storage at the SQLAlchemy ``url`` with a heartbeat: a trial whose worker
    stops beating for ``3 x heartbeat_interval`` seconds is marked failed."""
    optuna = _import_optuna()
    if not (isinstance(heartbeat_interval, (int, float)) and heartbeat_interval > 0):
        raise ValueError(f"heartbeat_interval must be a number > 0, got {heartbeat_interval!r}")
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Several processes on one SQLite file: wait for the lock instead of failing.
        engine_kwargs["connect_args"] = {"timeout": 120}
    else:
        engine_kwargs["pool_pre_ping"] = True
    interval = max(1, round(heartbeat_interval))
    from sqlalchemy.exc import SQLAlchemyError

    kwargs = dict(engine_kwargs=engine_kwargs, heartbeat_interval=interval,
                  grace_period=3 * interval)
    deadline = time.monotonic() + _STORAGE_RETRY_SECONDS
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except SQLAlchemyError:
            # Workers opening a new database at once race to create its tables; the
            # loser finds them half made and tries again (a race is settled in seconds:
            # a database that cannot be reached is not retried for long).
            if time.monotonic() > deadline:
                break
            time.sleep(0.2 * 2 ** attempt + random.random() * 0.2)
    return optuna.storages.RDBStorage(url, **kwargs)


def load_study(storage: Any, study_name: str, settings: TuneSettings | None = None) -> Any:
    """Open (with ``settings``: create or join) a study; mark stale trials failed.

    Joining an existing study with other settings is an error naming the differences.
    """
    return _open_study(storage, study_name, settings)[0]


def _open_study(storage: Any, study_name: str,
                settings: TuneSettings | None) -> tuple[Any, bool]:
    """(study, whether this call created it); see :func:`load_study`."""
    optuna = _import_optuna()
    created = False
    if settings is None:
        study = optuna.load_study(study_name=study_name, storage=storage)
    else:
        try:
            study = optuna.create_study(study_name=study_name, storage=storage,
                                        directions=settings.directions)
            study.set_user_attr("settings", settings.to_attrs())
            created = True
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(study_name=study_name, storage=storage)
        _check_settings(study, settings)
    optuna.storages.fail_stale_trials(study)
    return study, created


def _check_settings(study: Any, settings: TuneSettings) -> None:
    stored = None
    for _ in range(50):  # a study created this instant gets its settings next
        stored = study.user_attrs.get("settings")
        if stored is not None:
            break
        time.sleep(0.1)
    if stored is None:  # a study made by other means: adopt these settings
        study.set_user_attr("settings", settings.to_attrs())
    elif stored != settings.to_attrs():
        diff = [f"{k}: study has {stored.get(k)!r}, asked {v!r}"
                for k, v in settings.to_attrs().items() if stored.get(k) != v]
        raise ValueError(f"study {study.study_name!r} was created with other settings ("
                         + "; ".join(diff) + "); use the study's settings or a new study")


def study_settings(study: Any) -> TuneSettings:
    """The settings a study was created with."""
    return TuneSettings.from_attrs(study.user_attrs["settings"])


# ---------------------------------------------------------------------------- objective
@lru_cache(maxsize=16)
def _problem_and_dp(spec: str) -> tuple[Any, Any]:
    """The problem of ``spec`` and its DP solution, once per worker process."""
    from gbwm_sb3.dp import solve_dp
    from gbwm_sb3.problem.files import resolve_problem

    problem = resolve_problem(spec)
    return problem, solve_dp(problem)


def _pruning_callback(trial: Any, problem: Any, dp: Any, total: int, first_step: int,
                      settings: TuneSettings) -> Any:
    from gbwm_sb3.evaluation.callback import GBWMEvalCallback

    class PruningCallback(GBWMEvalCallback):
        """Reports efficiency at fixed fractions of the budget; stops a pruned run."""

        pruned = False
        _next = 0

        def _on_rollout_start(self) -> None:
            while (self._next < len(_PRUNE_FRACTIONS)
                   and self.model.num_timesteps >= _PRUNE_FRACTIONS[self._next] * total):
                trial.report(self.evaluate_now(), first_step + self._next)
                self._next += 1
                if trial.should_prune():
                    self.pruned = True
                    return

        def _on_step(self) -> bool:
            return not self.pruned

        def _on_training_end(self) -> None:
            return None

    return PruningCallback(problem=problem, n_paths=settings.n_eval_paths,
                           seed=settings.eval_seed, dp_solution=dp)


def _train_and_score(spec: str, overrides: Mapping[str, Any], seed: int,
                     settings: TuneSettings, trial: Any, first_step: int) -> tuple[float, float]:
    """(efficiency against DP on common random numbers, training seconds) of one run."""
    from gbwm_sb3.evaluation.evaluator import evaluate
    from gbwm_sb3.evaluation.strategies import SB3Policy
    from gbwm_sb3.ppo.presets import make_preset_model, paper_total_timesteps

    optuna = _import_optuna()
    problem, dp = _problem_and_dp(spec)
    total = paper_total_timesteps(problem, settings.n_trajectories)
    callback = None
    if settings.sampler == "tpe":
        callback = _pruning_callback(trial, problem, dp, total, first_step, settings)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # A minibatch that does not divide the rollout is a point of the search space
        # (the last minibatch of each epoch is smaller), not a mistake to warn about.
        warnings.filterwarnings("ignore", message="You have specified a mini-batch size")
        model = make_preset_model("paper", problem=problem, seed=seed, **overrides)
        model.learn(total_timesteps=total, callback=callback)
    seconds = time.perf_counter() - start
    if callback is not None and callback.pruned:
        raise optuna.TrialPruned()
    report = evaluate({"rl": SB3Policy(model, problem), "dp": dp}, problem,
                      n_paths=settings.n_eval_paths, seed=settings.eval_seed)
    efficiency = report["rl"].mean_utility / report["dp"].mean_utility
    if settings.sampler == "tpe":
        trial.report(efficiency, first_step + len(_PRUNE_FRACTIONS))
    return float(efficiency), seconds


def objective(trial: Any, settings: TuneSettings) -> float | tuple[float, float]:
    """Train the trial's configuration on every problem and seed; score it."""
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    overrides = params_to_overrides(suggest_params(trial, settings.fixed))
    trial.set_user_attr("overrides", overrides)
    by_problem: dict[str, list[float]] = {}
    seconds: list[float] = []
    steps_per_run = len(_PRUNE_FRACTIONS) + 1
    run = 0
    for spec in settings.problems:
        for seed in range(settings.seeds):
            efficiency, train_seconds = _train_and_score(spec, overrides, seed, settings,
                                                         trial, run * steps_per_run)
            by_problem.setdefault(spec, []).append(efficiency)
            seconds.append(train_seconds)
            run += 1
    trial.set_user_attr("efficiency_by_problem", by_problem)
    trial.set_user_attr("train_seconds_by_run", seconds)
    mean_efficiency = float(sum(sum(v) for v in by_problem.values()) / run)
    mean_seconds = float(sum(seconds) / len(seconds))
    trial.set_user_attr("efficiency", mean_efficiency)
    trial.set_user_attr("train_seconds", mean_seconds)
    if settings.sampler == "nsga2":
        return mean_efficiency, mean_seconds
    return mean_efficiency


def _sampler(settings: TuneSettings, population: int) -> tuple[Any, Any]:
    optuna = _import_optuna()
    if settings.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=population), None
    return (optuna.samplers.TPESampler(n_startup_trials=max(2, population // 2)),
            optuna.pruners.MedianPruner(n_startup_trials=max(2, population // 2),
                                        n_warmup_steps=0))


def _run_worker(url: str, study_name: str, settings: TuneSettings, n_trials: int,
                population: int, timeout: float | None, heartbeat: float) -> None:
    """One worker process: :func:`_work`; an error is printed on one line with the
    storage password masked (no traceback, which could show it) and exits with 1."""
    try:
        _work(url, study_name, settings, n_trials, population, timeout, heartbeat)
    except Exception as exc:  # noqa: BLE001 - any error ends the worker, reported masked
        first_line = (str(exc).strip().splitlines() or [""])[0]
        print(f"tuning worker {os.getpid()}: {type(exc).__name__}: "
              f"{mask_secrets(first_line, url)}", file=sys.stderr, flush=True)
        sys.exit(1)


def _work(url: str, study_name: str, settings: TuneSettings, n_trials: int,
          population: int, timeout: float | None, heartbeat: float) -> None:
    """One worker: join the study and run ``n_trials`` trials one after another."""
    optuna = _import_optuna()
    from gbwm_sb3.common.threads import configure_torch_threads

    configure_torch_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = make_storage(url, heartbeat)
    sampler, pruner = _sampler(settings, population)
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler,
                              pruner=pruner)
    study.optimize(lambda trial: objective(trial, settings), n_trials=n_trials,
                   timeout=timeout, catch=(Exception,), callbacks=[_print_trial])


def _print_trial(study: Any, trial: Any) -> None:
    values = "" if trial.values is None else ", ".join(f"{v:.4f}" for v in trial.values)
    print(f"trial {trial.number} {trial.state.name.lower()}"
          + (f": {values}" if values else ""), flush=True)


def optimize(url: str, study_name: str, settings: TuneSettings, n_trials: int,
             workers: int = 1, population: int = 8, timeout: float | None = None,
             heartbeat: float = 30.0, enqueue_known: bool = True) -> Any:
    """Run ``n_trials`` trials of the study (created if new) with ``workers`` processes.

    The trials are shared out among the workers (each a process with one torch thread;
    ``workers=1`` runs in this process). A study created here first tries the ``paper``
    and ``tuned`` presets (``enqueue_known``). Returns the study.
    """
    for name, value, low, high in (("n_trials", n_trials, 1, MAX_TRIALS),
                                   ("workers", workers, 1, MAX_WORKERS),
                                   ("population", population, 2, MAX_POPULATION)):
        check_int(value, name, low, high, style="bounds", exact=True)
    storage = make_storage(url, heartbeat)
    study, created = _open_study(storage, study_name, settings)
    if enqueue_known and created:
        for point in KNOWN_POINTS.values():
            study.enqueue_trial({k: v for k, v in point.items() if k not in settings.fixed},
                                user_attrs={"origin": "known"})
    shares = [n_trials // workers + (i < n_trials % workers) for i in range(workers)]
    args = (url, study_name, settings)
    if workers == 1:
        _work(*args, n_trials, population, timeout, heartbeat)
        return study
    context = multiprocessing.get_context("spawn")
    with temporary_environment(SINGLE_THREAD_ENV):
        processes = [context.Process(target=_run_worker,
                                     args=(*args, share, population, timeout, heartbeat))
                     for share in shares if share > 0]
        for process in processes:
            process.start()
    try:
        for process in processes:
            process.join()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
    failed = [process.exitcode for process in processes if process.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(processes)} workers exited with an error "
                           f"(exit codes {failed}); the study keeps every trial they finished")
    return study
