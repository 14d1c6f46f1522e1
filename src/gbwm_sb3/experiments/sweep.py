"""Sweeps of training runs: a grid of (configuration, problem, seed) jobs, resumable.

Each job trains one model on a paper problem with a named preset plus
overrides, evaluates its deterministic policy against the DP optimum on
common random numbers, and returns a flat result record. :func:`run_sweep`
runs the jobs on an engine (:mod:`gbwm_sb3.experiments.engines`: local worker
processes by default, or a Ray cluster) and appends every record to a JSON-lines
file the moment its job ends (flushed and fsync'ed, append-only: the file is never
rewritten), so a crash or Ctrl-C loses at most the runs in flight. Running the same sweep again
skips every job whose key is already in the file.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from gbwm_sb3.common.limits import check_int
from gbwm_sb3.experiments.engines import check_engine, run_jobs
from gbwm_sb3.experiments.parallel import JobFailure
from gbwm_sb3.ppo.registry import get_preset

__all__ = [
    "SweepConfig",
    "SweepJob",
    "SweepOutcome",
    "ResultsFile",
    "make_jobs",
    "run_sweep",
    "train_and_evaluate",
    "summarize",
    "BENCHMARK_POLICIES",
]

# Extra policies a job can score beside the RL policy (the paper's Figure 2).
BENCHMARK_POLICIES = (
    "greedy_goals_rl_portfolios",
    "buy_and_hold_coin_flip",
    "random",
    "dp_portfolios_rl_goals",
    "rl_portfolios_dp_goals",
)


def _canonical_json(value: Any, name: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be JSON-serialisable (numbers, strings, lists, dicts): "
                         f"{exc}") from None


@dataclass(frozen=True)
class SweepConfig:
    """A named training configuration: a preset plus keyword overrides for it."""

    name: str
    preset: str = "paper"
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "|" in self.name:
            raise ValueError(f"config name must be a non-empty string without '|', "
                             f"got {self.name!r}")
        try:
            get_preset(self.preset)
        except ValueError as err:
            raise ValueError(f"config {self.name!r}: {err}") from None
        _canonical_json(dict(self.overrides), f"overrides of config {self.name!r}")


@dataclass(frozen=True)
class SweepJob:
    """One training run. ``overrides_json`` is canonical JSON so that jobs are hashable."""

    config: str
    preset: str
    overrides_json: str
    num_goals: int
    seed: int
    n_trajectories: int
    n_eval_paths: int = 100_000
    eval_seed: int = 0
    benchmarks: bool = False
    preset_fingerprint: str = ""

    @property
    def overrides(self) -> dict[str, Any]:
        return json.loads(self.overrides_json)

    @property
    def key(self) -> str:
        """Identity of the run in a results file: config, overrides, problem, seed, budget."""
        return (f"{self.config}|{self.preset}|{self.overrides_json}|NG={self.num_goals}"
                f"|seed={self.seed}|traj={self.n_trajectories}|eval={self.n_eval_paths}"
                f"@{self.eval_seed}|bench={int(self.benchmarks)}|{self.preset_fingerprint}")


def make_jobs(configs: Iterable[SweepConfig], num_goals: Iterable[int], seeds: Iterable[int],
              n_trajectories: int = 50_000, *, n_eval_paths: int = 100_000,
              eval_seed: int = 0, benchmarks: bool = False) -> list[SweepJob]:
    """The full grid configs x num_goals x seeds.

    Jobs are ordered seed-major (every config and problem for seed 0, then seed 1, ...)
    so that a sweep stopped early still holds a balanced sample of every cell.
    """
    configs = list(configs)
    if not configs:
        raise ValueError("configs must hold at least one SweepConfig")
    goals = [check_int(ng, "num_goals", 1) for ng in num_goals]
    seed_list = []
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seeds must be integers >= 0, got {seed!r}")
        seed_list.append(int(seed))
    if not goals or not seed_list:
        raise ValueError("num_goals and seeds must each hold at least one value")
    check_int(n_trajectories, "n_trajectories", 1)
    check_int(n_eval_paths, "n_eval_paths", 1)
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"config names must be unique, got {names}")
    fingerprints = {c.preset: preset_fingerprint(c.preset) for c in configs}
    return [
        SweepJob(config=c.name, preset=c.preset,
                 overrides_json=_canonical_json(dict(c.overrides), "overrides"),
                 num_goals=ng, seed=seed, n_trajectories=int(n_trajectories),
                 n_eval_paths=int(n_eval_paths), eval_seed=int(eval_seed),
                 benchmarks=bool(benchmarks), preset_fingerprint=fingerprints[c.preset])
        for seed in seed_list for c in configs for ng in goals
    ]


class ResultsFile:
    """An append-only JSON-lines file of result records, one per finished job.

    Each append is written in one call, flushed and fsync'ed. A line cut short by a
    crash during the write is skipped on reading, and the next append starts on a
    fresh line, so earlier records are never damaged.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> list[dict[str, Any]]:
        """All complete records in the file (an empty list if it does not exist)."""
        if not self.path.exists():
            return []
        records = []
        with self.path.open("rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    continue  # an unfinished last line: its run is simply redone
                try:
                    record = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if isinstance(record, dict) and "key" in record:
                    records.append(record)
        return records

    def finished_keys(self) -> set[str]:
        return {record["key"] for record in self.load()}

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record durably (write, flush, fsync)."""
        line = json.dumps(dict(record), sort_keys=True).encode() + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as handle:
            if handle.tell() > 0 and not self._ends_with_newline():
                line = b"\n" + line
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"


@dataclass
class SweepOutcome:
    """Records of the requested jobs (earlier and new), and the jobs that failed."""

    records: list[dict[str, Any]]
    failures: list[JobFailure]
    skipped: int
    ran: int


def run_sweep(jobs: Sequence[SweepJob], results_path: str | os.PathLike[str],
              job_fn: Callable[[SweepJob], Mapping[str, Any]] | None = None,
              workers: int | None = None, progress: bool = True,
              description: str = "sweep", run: bool = True, engine: str = "local",
              address: str | None = None) -> SweepOutcome:
    """Run the jobs not yet in ``results_path``; append each record as soon as it exists.

    ``job_fn`` (default :func:`train_and_evaluate`) must be a picklable module-level
    function returning a JSON-serialisable mapping; the sweep adds ``key`` and the
    job's fields. Failed jobs are printed with their traceback and returned, not
    written, so the next run retries them. KeyboardInterrupt propagates after the
    workers are stopped; everything finished before it is already on disk.
    ``run=False`` runs nothing and returns the records already saved for ``jobs``.
    ``engine``: ``"local"`` (worker processes on this machine) or ``"ray"`` (one Ray
    task per job on the cluster at ``address``; see :func:`~gbwm_sb3.experiments.
    engines.run_jobs`, which also says what ``workers`` means there). The results file
    is written by this process only, whatever the engine.
    """
    check_engine(engine, address)
    job_fn = train_and_evaluate if job_fn is None else job_fn
    jobs = list(jobs)
    keys = [job.key for job in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError("jobs must be distinct (two jobs share a key)")
    store = ResultsFile(results_path)
    done = store.finished_keys()
    todo = [job for job in jobs if job.key not in done] if run else []
    failures: list[JobFailure] = []
    bar = _progress_bar(len(jobs), len(jobs) - len(todo), description, progress and run)
    try:
        for job, result in run_jobs(job_fn, todo, engine=engine, workers=workers,
                                    address=address):
            if isinstance(result, JobFailure):
                failures.append(result)
                _write_out(f"FAILED {job.key}\n{result.traceback}", bar)
            else:
                store.append(_record(job, result))
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        _write_out(f"interrupted: finished runs are saved in {store.path}; "
                   "run the same command again to resume", bar)
        raise
    finally:
        if bar is not None:
            bar.close()
    wanted = set(keys)
    records = [r for r in store.load() if r["key"] in wanted]
    return SweepOutcome(records=records, failures=failures,
                        skipped=len(jobs) - len(todo) if run else len(records),
                        ran=len(todo) - len(failures))


def _record(job: SweepJob, result: Mapping[str, Any]) -> dict[str, Any]:
    record = {**asdict(job), "overrides": job.overrides}
    del record["overrides_json"]
    record.update(result)
    record["key"] = job.key
    record.setdefault("finished_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return record


def _progress_bar(total: int, initial: int, description: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit="run", dynamic_ncols=True,
                smoothing=0.1)


def _write_out(message: str, bar: Any) -> None:
    if bar is not None:
        bar.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------
# The default job: train with a preset, evaluate against DP on common random numbers.


def preset_fingerprint(name: str) -> str:
    """A short hash of a registered preset's settings and the observation layout.

    Part of each run's key, so that runs made before a preset's values (or the
    observation the networks see) changed are not taken for runs of the new ones.
    """
    import hashlib

    from gbwm_sb3.envs.observation import OBSERVATION_FEATURES
    from gbwm_sb3.ppo.hyperparams import PAPER_HYPERPARAMS, minibatch_size
    from gbwm_sb3.problem.model import PAPER_HORIZON

    settings: dict[str, Any] = dict(PAPER_HYPERPARAMS, observation=OBSERVATION_FEATURES)
    settings.update(get_preset(name).overrides)
    # Sweeps train on the paper problems (T = 16): a split into n minibatches is the
    # minibatch size it gives there, so equal settings hash equally however stated.
    n_minibatches = settings.pop("n_minibatches", None)
    # ... and the decision-scoring goal head never applies to their two decisions a year
    if settings.get("decision_goal_head") in ("general", "crowded", False):
        settings.pop("decision_goal_head")
    # nor a portfolio row per decision given as "general", "crowded" or from N >= 3
    # decisions a year
    given = settings.get("portfolio_given_goal")
    if given in ("general", "crowded") or (isinstance(given, int)
                                           and not isinstance(given, bool) and given >= 3):
        settings.pop("portfolio_given_goal")
    if n_minibatches is not None:
        settings["batch_size"] = minibatch_size(
            settings["n_trajectories_per_rollout"] * PAPER_HORIZON, n_minibatches)
    text = repr(sorted((k, repr(v)) for k, v in settings.items()))
    return name + ":" + hashlib.sha1(text.encode()).hexdigest()[:10]


@lru_cache(maxsize=8)
def _dp_solution(num_goals: int) -> Any:
    """DP optimum of the paper problem, solved once per worker process."""
    from gbwm_sb3.dp import solve_dp
    from gbwm_sb3.problem.model import paper_problem

    return solve_dp(paper_problem(num_goals))


def _benchmark_policies(problem: Any, rl: Any, dp: Any, seed: int) -> dict[str, Any]:
    from gbwm_sb3.evaluation import strategies as s

    return {
        "greedy_goals_rl_portfolios": s.GreedyGoals(rl),
        "buy_and_hold_coin_flip": s.BuyAndHold(seed=seed, problem=problem),
        "random": s.RandomPolicy(problem, seed=seed),
        "dp_portfolios_rl_goals": s.Hybrid(goals_from=rl, portfolios_from=dp),
        "rl_portfolios_dp_goals": s.Hybrid(goals_from=dp, portfolios_from=rl),
    }


def train_and_evaluate(job: SweepJob) -> dict[str, Any]:
    """Train one model for ``job`` and score it against DP on common random numbers."""
    from gbwm_sb3.common.threads import configure_torch_threads
    from gbwm_sb3.evaluation.evaluator import evaluate
    from gbwm_sb3.evaluation.strategies import SB3Policy
    from gbwm_sb3.ppo.presets import make_preset_model, paper_total_timesteps
    from gbwm_sb3.problem.model import paper_problem

    configure_torch_threads()
    problem = paper_problem(job.num_goals)
    total_timesteps = paper_total_timesteps(problem, n_trajectories=job.n_trajectories)
    start = time.perf_counter()
    model = make_preset_model(job.preset, problem=problem, seed=job.seed,
                              **job.overrides)
    model.learn(total_timesteps=total_timesteps)
    train_seconds = time.perf_counter() - start

    dp = _dp_solution(job.num_goals)
    rl = SB3Policy(model, problem)
    policies: dict[str, Any] = {"rl": rl, "dp": dp}
    if job.benchmarks:
        policies.update(_benchmark_policies(problem, rl, dp, job.seed))
    start = time.perf_counter()
    report = evaluate(policies, problem, n_paths=job.n_eval_paths, seed=job.eval_seed)
    eval_seconds = time.perf_counter() - start
    utilities = _mean_utilities(report, policies)
    record: dict[str, Any] = {
        "efficiency": utilities["rl"] / utilities["dp"],
        "rl_utility": utilities["rl"],
        "dp_utility": utilities["dp"],
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "total_timesteps": int(model.num_timesteps),
    }
    if job.benchmarks:
        record["benchmark_efficiency"] = {
            name: utilities[name] / utilities["dp"] for name in BENCHMARK_POLICIES}
    return record


def _mean_utilities(report: Any, policies: Mapping[str, Any]) -> dict[str, float]:
    """Mean total utility per policy name from an evaluation report."""
    means = getattr(report, "mean_utility", None)
    if means is None:
        means = {name: report[name].mean_utility for name in policies}
    return {name: float(means[name]) for name in policies}


# ----------------------------------------------------------------------------------------
# Summaries.


def summarize(records: Iterable[Mapping[str, Any]], by: Sequence[str] = ("config", "num_goals"),
              value: str = "efficiency", confidence: float = 0.95) -> list[dict[str, Any]]:
    """Per-group statistics of ``value``: n, mean, median, sd, skewness, min, max, CI.

    sd is the sample standard deviation (ddof=1); skewness the bias-adjusted
    Fisher-Pearson coefficient; the CI is Student-t on the mean.
    ``mean_train_seconds`` is the mean training wall time per run.
    """
    from scipy import stats

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault(tuple(record[k] for k in by), []).append(record)
    rows = []
    for group_key, members in groups.items():
        values = np.array([float(m[value]) for m in members])
        n = len(values)
        mean = float(values.mean())
        sd = float(values.std(ddof=1)) if n > 1 else float("nan")
        half = (float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n))
                if n > 1 else float("nan"))
        skew = float(stats.skew(values, bias=False)) if n > 2 and sd > 0 else float("nan")
        seconds = [float(m["train_seconds"]) for m in members if "train_seconds" in m]
        rows.append({
            **dict(zip(by, group_key, strict=True)),
            "n": n,
            "mean": mean,
            "median": float(np.median(values)),
            "sd": sd,
            "skewness": skew,
            "min": float(values.min()),
            "max": float(values.max()),
            "ci_low": mean - half,
            "ci_high": mean + half,
            "mean_train_seconds": float(np.mean(seconds)) if seconds else float("nan"),
        })
    return rows
