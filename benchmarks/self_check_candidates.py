"""Every way of acting ``lookahead="auto"`` chooses between, scored per problem, so that any
rule of choice can be read off one run (docs/pretrained.md, "Choosing the lookahead per
client").

    nice -n 10 .venv/bin/python benchmarks/self_check_candidates.py --out FILE.jsonl
        [--families NAME ...] [--seeds 0 20] [--full-range 0 0] [--paths 20000]
        [--weights DIR] [--part I --parts N]
    .venv/bin/python benchmarks/self_check_candidates.py --summary FILE.jsonl [...]

For each problem (seeds ``--seeds LO HI`` of ``--families``, default all nine, and seeds
``--full-range LO HI`` of ``META_RL_FULL_RANGE``) the candidates are the network's own
decisions (``la1``) and its critic's lookahead over the weights' own number of decisions
(8 where that is 1: ``la8``), each with every portfolio shift of -1..3
(``la1+2``: own decisions, portfolios two places riskier). Each is simulated on the
self-check's markets (``SELF_CHECK_PATHS`` of ``SELF_CHECK_SEED``: what ``auto`` chooses
on) and on ``--paths`` scoring markets (seed 0) beside the exact DP, whatever the
acceptance envelope says (``accepted`` records it). One JSON line per problem is appended
to ``--out`` as it is done; a problem already there is skipped (resume, or split the
problems over processes with ``--part I --parts N``).

``--summary`` prints, for the accepted and the refused problems, the efficiency of each
rule: the network's own decisions, the lookahead, ``auto`` without shifts (the choice
before portfolio shifts existed), ``auto`` as the package makes it (the choice, then the
best shift of ``SELF_CHECK_SHIFTS``) and the best candidate per problem (known only with
the DP).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation.evaluator import evaluate
from gbwm_sb3.pretrained.advisor import PretrainedPolicy
from gbwm_sb3.pretrained.families import FAMILY_NAMES, META_RL_FULL_RANGE, family
from gbwm_sb3.pretrained.loading import (
    accepted_envelope,
    pretrained_network,
    recommended_lookahead,
)
from gbwm_sb3.pretrained.lookahead import DEFAULT_CANDIDATES, greedy_or_lookahead
from gbwm_sb3.pretrained.self_check import SELF_CHECK_PATHS, SELF_CHECK_SEED, SELF_CHECK_SHIFTS
from gbwm_sb3.pretrained.suite import BenchmarkProblem
from gbwm_sb3.problem.sampler import funding_ratio

#: Every shift scored (the rules choose among some of them).
SHIFTS = (0, -1, 1, 2, 3)


def chosen_problems(families: Sequence[str], seeds: tuple[int, int],
                    full_range: tuple[int, int]) -> list[BenchmarkProblem]:
    """Seeds ``seeds[0]..seeds[1]-1`` of ``families`` (``published``: those of its 15 it
    has), then seeds ``full_range[0]..full_range[1]-1`` of ``META_RL_FULL_RANGE``."""
    chosen = []
    for name in families:
        item = family(name)
        span = [s for s in range(*seeds) if name != "published" or s in item.seeds]
        chosen += [(item, s) for s in span]
    chosen += [(META_RL_FULL_RANGE, s) for s in range(*full_range)]
    return [BenchmarkProblem(f.problem_name(s), f.name, f.problem(s)) for f, s in chosen]


def candidate_scores(problem: Any, network: Any, candidates: int, paths: int
                     ) -> tuple[float, dict[str, float], dict[str, float | None]]:
    """(DP mean utility, mean utility of each candidate on the self-check's markets,
    efficiency of each on the scoring markets)."""
    policies: dict[str, PretrainedPolicy] = {}
    for count in (1, candidates):
        for shift in SHIFTS:
            name = f"la{count}{shift:+d}"
            policies[name] = greedy_or_lookahead(network, problem, count,
                                                 portfolio_shift=shift)
    chosen_on = evaluate(policies, problem, n_paths=SELF_CHECK_PATHS, seed=SELF_CHECK_SEED,
                         reference=None)
    solution = solve_dp(problem)
    scored = evaluate({**policies, "dp": solution}, problem, n_paths=paths, seed=0,
                      reference=None)
    optimum = scored["dp"].mean_utility
    select = {k: chosen_on[k].mean_utility for k in policies}
    score = {k: (scored[k].mean_utility / optimum if optimum > 0 else None) for k in policies}
    return optimum, select, score


def run(args: argparse.Namespace) -> None:
    th.set_num_threads(1)
    network = pretrained_network(args.weights)
    envelope = accepted_envelope(args.weights)
    candidates = recommended_lookahead(args.weights)
    candidates = DEFAULT_CANDIDATES if candidates == 1 else candidates
    problems = chosen_problems(args.families, tuple(args.seeds), tuple(args.full_range))
    problems = problems[args.part::args.parts]
    done: set[str] = set()
    if args.out.exists():
        done = {json.loads(line)["name"] for line in args.out.read_text().splitlines() if line}
    for item in problems:
        if item.name in done:
            continue
        start = time.perf_counter()
        optimum, select, score = candidate_scores(item.problem, network, candidates, args.paths)
        row = {"name": item.name, "family": item.category, "horizon": item.problem.horizon,
               "goals": len(item.problem.goals), "portfolios": item.problem.num_portfolios,
               "funding_ratio": funding_ratio(item.problem),
               "accepted": not envelope.contains(item.problem), "candidates": candidates,
               "dp": optimum, "select": select, "score": score, "paths": args.paths,
               "seconds": time.perf_counter() - start}
        with args.out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        own = score[f"la1{0:+d}"]
        print(f"{item.name}: own {own if own is None else round(own, 4)}, "
              f"{row['seconds']:.1f} s", flush=True)


def _pick(row: dict[str, Any], names: Sequence[str]) -> float:
    """The scoring efficiency of the candidate with the highest self-check mean utility
    (a tie: the first of ``names``)."""
    best = max(names, key=lambda n: (row["select"][n], -names.index(n)))
    return float(row["score"][best])


def auto_with_shifts(row: dict[str, Any], shifts: Sequence[int]) -> float:
    """What ``lookahead="auto"`` does: own decisions or the lookahead (own on a tie), then
    the best of that kind's shifts (no shift on a tie)."""
    k = row["candidates"]
    kind = f"la{k}" if row["select"][f"la{k}+0"] > row["select"]["la1+0"] else "la1"
    return _pick(row, [f"{kind}+0", *(f"{kind}{s:+d}" for s in shifts if s != 0)])


RULES: dict[str, Callable[[dict[str, Any]], float]] = {
    "own decisions": lambda r: float(r["score"]["la1+0"]),
    "lookahead": lambda r: float(r["score"][f"la{r['candidates']}+0"]),
    "auto without shifts": lambda r: _pick(r, ["la1+0", f"la{r['candidates']}+0"]),
    "auto (with shifts)": lambda r: auto_with_shifts(r, SELF_CHECK_SHIFTS),
    "best candidate (needs the DP)": lambda r: max(v for v in r["score"].values()),
}


def summary(paths: Sequence[Path]) -> list[str]:
    """The rules' table for the rows of ``paths`` (problems the DP scores)."""
    rows = [json.loads(line) for p in paths for line in p.read_text().splitlines() if line]
    rows = [r for r in rows if r["score"]["la1+0"] is not None]
    lines = ["| problems | rule | mean | lowest | under 0.95 | under 0.97 |",
             "|---|---|---|---|---|---|"]
    for label, group in (("accepted", [r for r in rows if r["accepted"]]),
                         ("refused", [r for r in rows if not r["accepted"]])):
        for rule, value in RULES.items():
            if not group:
                continue
            scores = np.array([value(r) for r in group])
            lines.append(f"| {label} ({len(group)}) | {rule} | {scores.mean():.4f} "
                         f"| {scores.min():.4f} | {int((scores < 0.95).sum())} "
                         f"| {int((scores < 0.97).sum())} |")
    shown = ("own decisions", "auto without shifts", "auto (with shifts)")
    lines += ["", "| family (accepted problems) | problems | "
              + " | ".join(f"{rule}: mean / lowest" for rule in shown) + " |",
              "|---|---|" + "---|" * len(shown)]
    for name in dict.fromkeys(r["family"] for r in rows):
        group = [r for r in rows if r["family"] == name and r["accepted"]]
        if group:
            cells = [f"{np.mean([RULES[k](r) for r in group]):.4f} / "
                     f"{min(RULES[k](r) for r in group):.4f}" for k in shown]
            lines.append(f"| {name} | {len(group)} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--summary", type=Path, nargs="+")
    parser.add_argument("--families", nargs="*", default=list(FAMILY_NAMES))
    parser.add_argument("--seeds", type=int, nargs=2, default=(0, 20), metavar=("LO", "HI"))
    parser.add_argument("--full-range", type=int, nargs=2, default=(0, 0), metavar=("LO", "HI"))
    parser.add_argument("--paths", type=int, default=20_000)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--part", type=int, default=0)
    parser.add_argument("--parts", type=int, default=1)
    args = parser.parse_args(argv)
    if args.summary:
        print("\n".join(summary(args.summary)))
        return
    if args.out is None:
        parser.error("--out is required unless --summary is given")
    if not 0 <= args.part < args.parts:
        parser.error(f"--part must be in 0..{args.parts - 1}, got {args.part}")
    run(args)


if __name__ == "__main__":
    main()
