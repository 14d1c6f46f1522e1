"""Run a policy on the benchmark suite: its efficiency against the DP optimum, problem by problem.

For each problem :func:`run_benchmark` solves the exact optimum (:func:`solve_dp`), builds
the policy to test with ``policy_factory(problem)`` (for a pretrained policy: no training,
only reading the problem), and scores both on the same simulated markets (common random
numbers, :func:`~gbwm_sb3.evaluation.evaluator.evaluate`). With ``fine_tune_factory`` it
also builds a fine-tuned policy per problem and scores it on the same markets. Every
problem gives one record (:func:`benchmark_problem` fields below, plus ``settings``: what
the policy was); with ``out`` the records go to ``results.jsonl`` as they finish (a long
run keeps what it has done, and ``resume=True`` goes on with it) and the tables to
``summary.md``.

The comparison anchor is the 2026 meta-RL result (GBWM-SPEC section 6): one policy,
not retrained, reaches on average 97.8% of the DP optimum on 66 unseen problems.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gbwm_sb3.common.limits import check_int
from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.pretrained.suite import SUITE_CATEGORIES, BenchmarkProblem
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.sampler import funding_ratio, savings_rate

__all__ = [
    "ANCHOR_EFFICIENCY",
    "ANCHOR_PROBLEMS",
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "run_benchmark",
    "benchmark_problem",
    "existing_outputs",
    "kept_records",
    "summarise",
    "anchor_line",
    "read_results",
]

#: Mean zero-shot efficiency of the meta-RL anchor (GBWM-SPEC section 6) and its problems.
ANCHOR_EFFICIENCY = 0.978
ANCHOR_PROBLEMS = 66
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.md"

PolicyFactory = Callable[[GBWMProblem], Any]


def _efficiency(report: Any, name: str) -> tuple[float | None, list[float] | None]:
    result = report[name]
    ci = None if result.efficiency_ci is None else [float(v) for v in result.efficiency_ci]
    return result.efficiency, ci


def benchmark_problem(item: BenchmarkProblem, policy_factory: PolicyFactory, n_paths: int,
                      seed: int, fine_tune_factory: PolicyFactory | None = None
                      ) -> dict[str, Any]:
    """The record of one problem (a JSON-serialisable dict).

    Fields: ``name``, ``category``, the problem's size (``horizon``, ``goals``,
    ``max_decisions``, ``portfolios``, ``funding_ratio``, ``savings_rate``,
    ``total_utility``); ``dp_value`` (exact optimum at W0), ``dp_simulated`` (the DP
    policy's mean utility on the paths), ``pretrained_value``, ``efficiency`` (mean
    utility over the DP policy's on the same paths) and ``efficiency_ci`` (95%);
    ``fine_tuned_value`` and ``fine_tuned_efficiency`` (``None`` without fine-tuning);
    ``fine_tune_critic_check``: the fine-tuned policy's choice of the critic's lookahead
    (held-out mean utility without and with it, adopted; ``None`` where not compared);
    ``self_check``: with ``lookahead="auto"``, the zero-shot choice (mean utility of the
    network's own decisions and of the lookahead on the self-check's markets, the
    decisions compared a year by the policy kept, its portfolio shift; ``None``
    otherwise);
    ``n_paths``, ``seed``; ``seconds``: ``dp_solve``, ``policy_build``, ``first_action``
    (one ``act`` at t = 0 for W0: what advising a client costs once the policy is
    built), ``evaluation`` (simulating the pretrained policy on the paths),
    ``evaluation_total`` (every policy of the evaluation), ``fine_tune`` (``None``
    without).
    """
    problem = item.problem
    seconds: dict[str, float | None] = {}
    start = time.perf_counter()
    solution = solve_dp(problem)
    seconds["dp_solve"] = time.perf_counter() - start
    start = time.perf_counter()
    policy = policy_factory(problem)
    seconds["policy_build"] = time.perf_counter() - start
    start = time.perf_counter()
    policy.act(0, np.array([problem.initial_wealth]))
    seconds["first_action"] = time.perf_counter() - start
    policies = {"dp": solution, "pretrained": policy}
    seconds["fine_tune"] = None
    if fine_tune_factory is not None:
        start = time.perf_counter()
        policies["fine_tuned"] = fine_tune_factory(problem)
        seconds["fine_tune"] = time.perf_counter() - start
    start = time.perf_counter()
    report = evaluate(policies, problem, n_paths=n_paths, seed=seed, reference="dp")
    seconds["evaluation_total"] = time.perf_counter() - start
    seconds["evaluation"] = report["pretrained"].seconds
    efficiency, ci = _efficiency(report, "pretrained")
    own_check = getattr(policy, "self_check", None)
    tuned_value = tuned_efficiency = critic_check = None
    if "fine_tuned" in policies:
        check = getattr(policies["fine_tuned"], "fine_tune_critic_check", None)
        critic_check = None if check is None else list(check)
        tuned_value = report["fine_tuned"].mean_utility
        tuned_efficiency = report["fine_tuned"].efficiency
    return {
        "name": item.name,
        "category": item.category,
        "horizon": problem.horizon,
        "goals": len(problem.goals),
        "max_decisions": problem.max_decisions,
        "portfolios": problem.num_portfolios,
        "funding_ratio": funding_ratio(problem),
        "savings_rate": savings_rate(problem),
        "total_utility": problem.total_utility,
        "dp_value": solution.expected_utility,
        "dp_simulated": report["dp"].mean_utility,
        "pretrained_value": report["pretrained"].mean_utility,
        "efficiency": efficiency,
        "efficiency_ci": ci,
        "fine_tuned_value": tuned_value,
        "fine_tuned_efficiency": tuned_efficiency,
        "fine_tune_critic_check": critic_check,
        "self_check": None if own_check is None else [own_check.own, own_check.lookahead,
                                                      own_check.chosen, own_check.shift],
        "n_paths": n_paths,
        "seed": seed,
        "seconds": seconds,
    }


def _paths(out: str | Path) -> tuple[Path, Path]:
    folder = Path(out)
    return folder / RESULTS_FILE, folder / SUMMARY_FILE


def existing_outputs(out: str | Path) -> list[Path]:
    """The results and summary files already in folder ``out`` (a run would replace them)."""
    return [path for path in _paths(out) if path.exists()]


def kept_records(results_path: str | Path, names: Sequence[str], n_paths: int, seed: int,
                 settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The records of an interrupted run in ``results_path`` that a resumed run keeps.

    Every record there must have been made with ``n_paths``, ``seed`` and ``settings``
    (its ``settings`` field; a record without one was made with unknown settings), else
    ``ValueError`` names the first that was not. Returns the records of the problems in
    ``names``, by name (an absent file: none).
    """
    path = Path(results_path)
    if not path.exists():
        return {}
    wanted = set(names)
    done: dict[str, dict[str, Any]] = {}
    for kept in read_results(path):
        same = (kept.get("n_paths") == n_paths and kept.get("seed") == seed
                and kept.get("settings") == dict(settings))
        if not same:
            made = "no recorded settings" if "settings" not in kept else kept["settings"]
            raise ValueError(
                f"{path}: record {kept.get('name')!r} was made with other settings (paths "
                f"{kept.get('n_paths')}, seed {kept.get('seed')}, {made}; this run: paths "
                f"{n_paths}, seed {seed}, {dict(settings)}); resume needs the same, or pass "
                "overwrite")
        if kept.get("name") in wanted:
            done[kept["name"]] = kept
    return done


def run_benchmark(policy_factory: PolicyFactory, suite: Sequence[BenchmarkProblem],
                  n_paths: int, seed: int, fine_tune_factory: PolicyFactory | None = None,
                  out: str | Path | None = None, overwrite: bool = False,
                  progress: Callable[[str], Any] | None = print,
                  notes: Sequence[str] = (), *, settings: Mapping[str, Any] | None = None,
                  resume: bool = False) -> list[dict[str, Any]]:
    """Score ``policy_factory``'s policy on every problem of ``suite``; one record each.

    ``policy_factory(problem)`` returns an object with ``act(t, wealth)`` (and, if it
    has a ``problem`` attribute, that problem); ``fine_tune_factory`` likewise, or
    ``None`` to skip fine-tuning. ``n_paths`` simulated markets per problem, from
    ``seed`` (the same for every problem). ``settings`` (JSON-serialisable) describes the
    policies and goes into every record. With ``out`` (a folder), the records are
    appended to ``out/results.jsonl`` one line per problem as they finish, and
    ``out/summary.md`` is written at the end over every problem of ``suite``
    (``notes``: lines put above its tables); an existing results or summary file is an
    error unless ``overwrite`` (start again) or ``resume`` (keep the records of the
    same problems made with the same paths, seed and settings, :func:`kept_records`,
    and score only the rest). ``progress`` receives one line per problem (``None``:
    silent).
    """
    n_paths = check_int(n_paths, "n_paths", 2)
    seed = check_int(seed, "seed", 0)
    suite = list(suite)
    if not suite:
        raise ValueError("suite must hold at least one problem, got none")
    for item in suite:
        if not isinstance(item, BenchmarkProblem):
            raise ValueError(f"suite must hold BenchmarkProblem items, got {type(item).__name__}")
    names = [item.name for item in suite]
    if len(set(names)) != len(names):
        raise ValueError("suite problem names must be unique")
    if overwrite and resume:
        raise ValueError("overwrite and resume exclude each other: overwrite starts again, "
                         "resume keeps what an interrupted run did")
    settings = dict(settings or {})
    done: dict[str, dict[str, Any]] = {}
    results_path = summary_path = None
    if out is not None:
        results_path, summary_path = _paths(out)
        existing = existing_outputs(out)
        if resume:
            done = kept_records(results_path, names, n_paths, seed, settings)
        elif existing and not overwrite:
            raise FileExistsError(
                f"{', '.join(str(p) for p in existing)}: results of an earlier run; choose "
                "another folder, pass overwrite=True to replace them or resume=True to go on")
        results_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.unlink(missing_ok=True)  # no stale summary beside the new results
        # the kept records in suite order (drops the lines of problems not asked for)
        results_path.write_text("".join(json.dumps(done[n]) + "\n" for n in names if n in done),
                                encoding="utf-8")
    say = progress if progress is not None else (lambda _line: None)
    records = []
    for index, item in enumerate(suite, start=1):
        if item.name in done:
            records.append(done[item.name])
            say(f"[{index}/{len(suite)}] {item.name}: kept from the earlier run")
            continue
        record = benchmark_problem(item, policy_factory, n_paths, seed, fine_tune_factory)
        record["settings"] = settings
        records.append(record)
        append_record(results_path, record)
        say(_progress_line(index, len(suite), record))
    if summary_path is not None:
        if done:
            notes = [*notes, f"{len(done)} of the {len(suite)} problems kept from an earlier "
                             "run in this folder (the same paths, seed and settings); "
                             f"{len(suite) - len(done)} scored by this one."]
        summary_path.write_text(summarise(records, notes=notes), encoding="utf-8")
    return records


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``results.jsonl`` file (or of the one in folder ``path``)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def append_record(results_path: Path | None, record: Mapping[str, Any]) -> None:
    """Append ``record`` as one JSON line to ``results_path`` (nothing when None): a run
    keeps what it has measured if it is stopped."""
    if results_path is not None:
        with results_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def format_number(value: float | None, spec: str = ".4f") -> str:
    """``value`` with ``spec``; ``n/a`` for None or a non-finite value."""
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


_fmt = format_number


def _progress_line(index: int, total: int, record: Mapping[str, Any]) -> str:
    s = record["seconds"]
    tuned = "" if record["fine_tuned_efficiency"] is None else \
        f", fine-tuned {_fmt(record['fine_tuned_efficiency'])} ({s['fine_tune']:.1f} s)"
    return (f"[{index}/{total}] {record['name']}: DP {record['dp_value']:.3f} "
            f"({s['dp_solve']:.2f} s), pretrained {record['pretrained_value']:.3f}, "
            f"efficiency {_fmt(record['efficiency'])}{tuned}; build {s['policy_build']:.2f} s, "
            f"evaluation {s['evaluation']:.1f} s")


def _stats(records: Sequence[Mapping[str, Any]], key: str) -> tuple[int, float | None,
                                                                     float | None]:
    values = [r[key] for r in records if r.get(key) is not None]
    if not values:
        return 0, None, None
    return len(values), float(np.mean(values)), float(np.min(values))


def summarise(records: Sequence[Mapping[str, Any]], notes: Sequence[str] = ()) -> str:
    """``summary.md``: per-problem table, per-category and overall efficiency, the anchor line."""
    lines = ["# Zero-shot benchmark of the pretrained policy", ""]
    lines += [*notes, ""] if notes else []
    if records:
        first = records[0]
        lines += [f"{len(records)} problems, {first['n_paths']:,} simulated markets each "
                  f"(seed {first['seed']}), common to the DP policy and the policies scored. "
                  "Efficiency = mean utility / the DP policy's on the same markets.", ""]
    lines += ["## Per problem", "",
              "| name | category | T | goals | K | n | funding | DP / total | DP optimum "
              "| pretrained | efficiency | 95% CI | fine-tuned | DP s | build s | act s "
              "| eval s | fine-tune s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        s = r["seconds"]
        ci = "n/a" if r["efficiency_ci"] is None else \
            f"[{r['efficiency_ci'][0]:.4f}, {r['efficiency_ci'][1]:.4f}]"
        share = r["dp_value"] / r["total_utility"] if r["total_utility"] > 0 else None
        lines.append(
            f"| {r['name']} | {r['category']} | {r['horizon']} | {r['goals']} "
            f"| {r['max_decisions']} | {r['portfolios']} | {r['funding_ratio']:.3g} "
            f"| {_fmt(share, '.3f')} | {r['dp_value']:.3f} | {r['pretrained_value']:.3f} "
            f"| {_fmt(r['efficiency'])} | {ci} | {_fmt(r['fine_tuned_efficiency'])} "
            f"| {s['dp_solve']:.2f} | {s['policy_build']:.3f} | {s['first_action']:.4f} "
            f"| {s['evaluation']:.2f} | {_fmt(s['fine_tune'], '.1f')} |")
    lines += ["", "## Per category", "",
              "| category | problems | mean efficiency | min efficiency "
              "| mean fine-tuned | min fine-tuned | mean DP s | mean build s | mean act s |",
              "|---|---|---|---|---|---|---|---|---|"]
    present = [c for c in SUITE_CATEGORIES if any(r["category"] == c for r in records)]
    present += sorted({r["category"] for r in records} - set(SUITE_CATEGORIES))
    for label, group in [*((c, [r for r in records if r["category"] == c]) for c in present),
                         ("**all**", list(records))]:
        _, mean, low = _stats(group, "efficiency")
        _, tuned_mean, tuned_low = _stats(group, "fine_tuned_efficiency")
        dp_s = float(np.mean([r["seconds"]["dp_solve"] for r in group])) if group else None
        build_s = float(np.mean([r["seconds"]["policy_build"] for r in group])) \
            if group else None
        act_s = float(np.mean([r["seconds"]["first_action"] for r in group])) if group else None
        lines.append(f"| {label} | {len(group)} | {_fmt(mean)} | {_fmt(low)} "
                     f"| {_fmt(tuned_mean)} | {_fmt(tuned_low)} | {_fmt(dp_s, '.3f')} "
                     f"| {_fmt(build_s, '.3f')} | {_fmt(act_s, '.4f')} |")
    lines += ["", "## Against the anchor", "", anchor_line(records), ""]
    return "\n".join(lines)


def anchor_line(records: Sequence[Mapping[str, Any]]) -> str:
    """One sentence comparing the mean zero-shot efficiency with the 97.8% anchor."""
    count, mean, low = _stats(records, "efficiency")
    anchor = (f"the 2026 meta-RL anchor reaches {ANCHOR_EFFICIENCY:.1%} of the DP optimum "
              f"on average over {ANCHOR_PROBLEMS} unseen problems without retraining "
              "(GBWM-SPEC section 6)")
    if mean is None:
        return f"No efficiency could be computed; {anchor}."
    gap = 100.0 * (mean - ANCHOR_EFFICIENCY)
    return (f"Mean zero-shot efficiency {mean:.1%} over {count} problem{'s' * (count != 1)} "
            f"(minimum {low:.1%}), "
            f"{abs(gap):.1f} points {'above' if gap >= 0 else 'below'} the anchor: {anchor}.")
