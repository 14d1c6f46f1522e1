"""Score a pretrained policy on the independent problem families, inside and beyond its envelope.

For every problem of :mod:`gbwm_sb3.pretrained.families` this asks the envelope given
(the weights' acceptance envelope, :func:`~gbwm_sb3.pretrained.loading.accepted_envelope`:
what ``pretrained_policy`` accepts; :meth:`~gbwm_sb3.problem.sampler.ProblemEnvelope.contains`):

- inside it, the problem is scored with ``inside_factory`` (``pretrained_policy``, which
  checks the envelope itself) by :func:`~gbwm_sb3.pretrained.benchmark.benchmark_problem`:
  the DP optimum and the policy on the same simulated markets;
- outside it, the problem is *refused* (``pretrained_policy`` raises
  ``OutsideEnvelopeError``): its record keeps the reasons, and, with ``beyond_factory``
  (the same network bound without the envelope check,
  :func:`~gbwm_sb3.pretrained.loading.bind_policy`), it is scored anyway, labelled
  ``beyond``: how far the envelope could be widened. A problem the network cannot read at
  all (more decisions a year or portfolios than its fixed action space) keeps the error.

Records (one JSON line per problem in ``results.jsonl``, written as each finishes) are
those of :func:`~gbwm_sb3.pretrained.benchmark.benchmark_problem` plus ``family``,
``independent``, ``scope`` (``inside``, ``beyond`` or ``unscored``), ``refused`` (the
reasons, ``[]`` inside), ``error`` (why an unscored problem was not scored) and
``settings`` (what the policy was; a resumed run must have the same). ``summary.md`` holds
the per-family table and every problem.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gbwm_sb3.common.limits import check_int
from gbwm_sb3.pretrained.benchmark import (
    RESULTS_FILE,
    SUMMARY_FILE,
    PolicyFactory,
    append_record,
    benchmark_problem,
    existing_outputs,
    format_number,
    kept_records,
)
from gbwm_sb3.pretrained.families import FAMILIES, FAMILY_NAMES
from gbwm_sb3.pretrained.suite import BenchmarkProblem
from gbwm_sb3.problem.sampler import ProblemEnvelope, funding_ratio, savings_rate

__all__ = [
    "EASY_SHARE",
    "run_family_benchmark",
    "summarise_families",
    "family_table",
]

#: A problem is easy when the DP optimum collects this share of the total utility or more.
EASY_SHARE = 0.99


def _unscored_record(item: BenchmarkProblem, n_paths: int, seed: int, error: str
                     ) -> dict[str, Any]:
    problem = item.problem
    return {
        "name": item.name, "category": item.category, "horizon": problem.horizon,
        "goals": len(problem.goals), "max_decisions": problem.max_decisions,
        "portfolios": problem.num_portfolios, "funding_ratio": funding_ratio(problem),
        "savings_rate": savings_rate(problem), "total_utility": problem.total_utility,
        "dp_value": None, "dp_simulated": None, "pretrained_value": None,
        "efficiency": None, "efficiency_ci": None, "fine_tuned_value": None,
        "fine_tuned_efficiency": None, "n_paths": n_paths, "seed": seed,
        "seconds": {}, "error": error,
    }


def run_family_benchmark(inside_factory: PolicyFactory, suite: Sequence[BenchmarkProblem],
                         envelope: ProblemEnvelope, n_paths: int, seed: int, *,
                         beyond_factory: PolicyFactory | None = None,
                         fine_tune_factory: PolicyFactory | None = None,
                         fine_tune_envelope: ProblemEnvelope | None = None,
                         settings: Mapping[str, Any] | None = None,
                         out: str | Path | None = None, overwrite: bool = False,
                         resume: bool = False,
                         progress: Callable[[str], Any] | None = print,
                         notes: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Score the family problems of ``suite`` (categories: family names); one record each.

    ``envelope`` decides which problems ``inside_factory`` scores; the others are refused
    and, with ``beyond_factory``, scored beyond the envelope (module docstring).
    ``fine_tune_factory`` fine-tunes the problems inside the envelope, and those beyond it
    that lie inside ``fine_tune_envelope`` (what ``fine_tune`` accepts). ``settings``
    (JSON-serialisable) describes the policy and goes into every record. With ``out``,
    records are appended to ``out/results.jsonl`` as they finish and ``out/summary.md``
    is written at the end; existing results are an error unless ``overwrite`` (start
    again) or ``resume`` (keep the records of the same problems, paths, seed and
    settings, and score only the rest).
    """
    n_paths = check_int(n_paths, "n_paths", 2)
    seed = check_int(seed, "seed", 0)
    suite = list(suite)
    if not suite:
        raise ValueError("suite must hold at least one problem, got none")
    names = [item.name for item in suite]
    if len(set(names)) != len(names):
        raise ValueError("suite problem names must be unique")
    if overwrite and resume:
        raise ValueError("overwrite and resume exclude each other: overwrite starts again, "
                         "resume keeps what an interrupted run did")
    settings = dict(settings or {})
    independent = {f.name: f.independent for f in FAMILIES}
    done: dict[str, dict[str, Any]] = {}
    results_path = summary_path = None
    if out is not None:
        folder = Path(out)
        results_path, summary_path = folder / RESULTS_FILE, folder / SUMMARY_FILE
        existing = existing_outputs(folder)
        if resume:
            done = kept_records(results_path, names, n_paths, seed, settings)
        elif existing and not overwrite:
            raise FileExistsError(
                f"{', '.join(str(p) for p in existing)}: results of an earlier run; choose "
                "another folder, pass overwrite=True to replace them or resume=True to go on")
        folder.mkdir(parents=True, exist_ok=True)
        summary_path.unlink(missing_ok=True)
        # rewrite the kept records in suite order (drops lines of problems not asked for)
        results_path.write_text("".join(json.dumps(done[n]) + "\n" for n in names if n in done),
                                encoding="utf-8")
    say = progress if progress is not None else (lambda _line: None)
    records = []
    for index, item in enumerate(suite, start=1):
        if item.name in done:
            records.append(done[item.name])
            say(f"[{index}/{len(suite)}] {item.name}: kept from the earlier run")
            continue
        reasons = envelope.contains(item.problem)
        record: dict[str, Any]
        if not reasons:
            record = benchmark_problem(item, inside_factory, n_paths, seed, fine_tune_factory)
            record.update(scope="inside", error=None)
        elif beyond_factory is None:
            record = _unscored_record(item, n_paths, seed, "refused; not scored beyond the "
                                      "envelope")
            record["scope"] = "unscored"
        else:
            tunable = fine_tune_envelope is not None and not fine_tune_envelope.contains(
                item.problem)
            try:
                record = benchmark_problem(item, beyond_factory, n_paths, seed,
                                           fine_tune_factory if tunable else None)
                record.update(scope="beyond", error=None)
            except ValueError as exc:  # the network's fixed action space cannot hold it
                record = _unscored_record(item, n_paths, seed, str(exc))
                record["scope"] = "unscored"
        record.update(family=item.category, independent=independent.get(item.category, True),
                      refused=reasons, settings=settings)
        records.append(record)
        append_record(results_path, record)
        say(_progress_line(index, len(suite), record))
    if summary_path is not None:
        summary_path.write_text(summarise_families(records, notes=notes), encoding="utf-8")
    return records


_fmt = format_number


def _progress_line(index: int, total: int, record: Mapping[str, Any]) -> str:
    head = f"[{index}/{total}] {record['name']}"
    if record["scope"] == "unscored":
        return f"{head}: refused ({'; '.join(record['refused'])}); not scored: {record['error']}"
    label = "efficiency" if record["scope"] == "inside" else \
        f"refused ({len(record['refused'])} reason(s)); beyond the envelope: efficiency"
    s = record["seconds"]
    return (f"{head}: DP {record['dp_value']:.4g}, policy {record['pretrained_value']:.4g}, "
            f"{label} {_fmt(record['efficiency'])}; DP {s['dp_solve']:.2f} s, evaluation "
            f"{s['evaluation']:.1f} s")


def _mean_min(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return float(np.mean(values)), float(np.min(values))


def _easy(record: Mapping[str, Any]) -> bool:
    total = record["total_utility"]
    return bool(record["dp_value"] is not None and total > 0
                and record["dp_value"] / total >= EASY_SHARE)


def family_table(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The per-family markdown table: problems inside the envelope (mean, min), refused,
    beyond the envelope (mean, min), all scored problems (mean, min) and the problems
    that are not easy (the DP collects under 99% of the total utility); where problems
    were fine-tuned, their count, mean and min after fine-tuning as well."""
    tuned_any = any(r.get("fine_tuned_efficiency") is not None for r in records)
    lines = ["| family | label | problems | inside: scored | inside: mean | inside: min "
             "| refused | beyond: mean | beyond: min | all: mean | all: min "
             "| not easy: count | not easy: mean |"
             + (" fine-tuned: count | fine-tuned: mean | fine-tuned: min |" if tuned_any else ""),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" * 3 if tuned_any
                                                                      else "")]
    present = [n for n in FAMILY_NAMES if any(r["family"] == n for r in records)]
    present += sorted({r["family"] for r in records} - set(FAMILY_NAMES))
    groups = [(n, [r for r in records if r["family"] == n]) for n in present]
    for label, group in [*groups, ("**all**", list(records))]:
        inside = [r["efficiency"] for r in group
                  if r["scope"] == "inside" and r["efficiency"] is not None]
        beyond = [r["efficiency"] for r in group
                  if r["scope"] == "beyond" and r["efficiency"] is not None]
        hard = [r["efficiency"] for r in group
                if r["efficiency"] is not None and not _easy(r)]
        refused = sum(1 for r in group if r["refused"])
        kinds = {"independent" if r["independent"] else "in-distribution" for r in group}
        in_mean, in_min = _mean_min(inside)
        out_mean, out_min = _mean_min(beyond)
        all_mean, all_min = _mean_min(inside + beyond)
        hard_mean, _ = _mean_min(hard)
        line = (f"| {label} | {', '.join(sorted(kinds))} | {len(group)} | {len(inside)} "
                f"| {_fmt(in_mean)} | {_fmt(in_min)} | {refused} | {_fmt(out_mean)} "
                f"| {_fmt(out_min)} | {_fmt(all_mean)} | {_fmt(all_min)} | {len(hard)} "
                f"| {_fmt(hard_mean)} |")
        if tuned_any:
            tuned = [r["fine_tuned_efficiency"] for r in group
                     if r.get("fine_tuned_efficiency") is not None]
            tuned_mean, tuned_min = _mean_min(tuned)
            line += f" {len(tuned)} | {_fmt(tuned_mean)} | {_fmt(tuned_min)} |"
        lines.append(line)
    return lines


def summarise_families(records: Sequence[Mapping[str, Any]], notes: Sequence[str] = ()) -> str:
    """``summary.md``: the per-family table, the refused problems, every problem, the
    families' generation rules."""
    lines = ["# The pretrained policy on independent problem families", ""]
    lines += [*notes, ""] if notes else []
    if records:
        first = records[0]
        lines += [f"{len(records)} problems, {first['n_paths']:,} simulated markets each "
                  f"(seed {first['seed']}), common to the DP policy and the policy scored. "
                  "Efficiency = mean utility / the DP policy's on the same markets. "
                  "\"inside\": inside the envelope `pretrained_policy` accepts for the "
                  "weights, scored as it acts; \"refused\": outside it (`pretrained_policy` "
                  "raises `OutsideEnvelopeError`); \"beyond\": the refused problems scored "
                  "anyway with the same network bound without the envelope check "
                  "(`bind_policy`), a measure of how far the envelope could be widened, not "
                  "a supported use (\"fine-tuned\" there: `fine_tune`, which accepts them). "
                  "\"not easy\": the DP optimum collects under "
                  f"{EASY_SHARE:.0%} of the total utility.", ""]
    lines += ["## Per family", "", *family_table(records), ""]
    refused = [r for r in records if r["refused"]]
    if refused:
        lines += ["## Refused problems (outside the envelope)", "",
                  "| name | beyond: efficiency | reasons |", "|---|---|---|"]
        for r in refused:
            value = _fmt(r["efficiency"]) if r["efficiency"] is not None else \
                f"not scored ({r['error']})"
            lines.append(f"| {r['name']} | {value} | {'; '.join(r['refused'])} |")
        lines.append("")
    lines += ["## Per problem", "",
              "| name | family | scope | T | goals | K | n | funding | savings | DP / total "
              "| DP optimum | policy | efficiency | 95% CI | fine-tuned | DP s | eval s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        s = r["seconds"]
        ci = "n/a" if r["efficiency_ci"] is None else \
            f"[{r['efficiency_ci'][0]:.4f}, {r['efficiency_ci'][1]:.4f}]"
        share = r["dp_value"] / r["total_utility"] \
            if r["dp_value"] is not None and r["total_utility"] > 0 else None
        lines.append(
            f"| {r['name']} | {r['family']} | {r['scope']} | {r['horizon']} | {r['goals']} "
            f"| {r['max_decisions']} | {r['portfolios']} | {r['funding_ratio']:.3g} "
            f"| {r['savings_rate']:.3g} | {_fmt(share, '.3f')} | {_fmt(r['dp_value'], '.4g')} "
            f"| {_fmt(r['pretrained_value'], '.4g')} | {_fmt(r['efficiency'])} | {ci} "
            f"| {_fmt(r['fine_tuned_efficiency'])} | {_fmt(s.get('dp_solve'), '.2f')} "
            f"| {_fmt(s.get('evaluation'), '.2f')} |")
    lines += ["", "## The families", ""]
    for f in FAMILIES:
        if any(r["family"] == f.name for r in records):
            label = "independent" if f.independent else "in-distribution"
            lines += [f"- **{f.name}** ({label}, seeds {f.seeds[0]}-{f.seeds[-1]}): "
                      f"{f.description}"]
    lines.append("")
    return "\n".join(lines)
