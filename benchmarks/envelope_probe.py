"""How far the pretrained policy holds beyond its training envelope: the probe behind the
acceptance envelope (docs/pretrained.md, "The acceptance envelope").

    nice -n 10 .venv/bin/python benchmarks/envelope_probe.py --out DIR
        [--families NAME ...] [--seeds 20 40] [--full-range 0 100] [--paths 100000]
        [--lookahead K|auto] [--weights DIR] [--resume] [--limit N] [--refused-for FIELD]

Problems: seeds ``--seeds LO HI`` (default 20-39: the documented family results used
0-19) of the independent families that reach beyond the training envelope
(``retirement_income``, ``long_horizon``, ``volatile_or_flat_frontiers``, ``underfunded``,
``meta_rl_draws``), and seeds ``--full-range LO HI`` of
:data:`~gbwm_sb3.pretrained.families.META_RL_FULL_RANGE` (horizons 1-100, 1-60 goals, a
goal every year in a fifth of the plans, funding ratios 0.1-4, volatilities to 0.5, up
to 64 decisions a year). Every problem is scored whatever the envelopes say: inside the
acceptance envelope as ``pretrained_policy`` acts, outside it with the same network bound
without the check (``bind_policy``), against the exact DP on ``--paths`` common markets
(:func:`~gbwm_sb3.pretrained.family_benchmark.run_family_benchmark`; ``--out`` keeps
``results.jsonl`` and ``summary.md``, ``--resume`` goes on after an interruption).

Prints (and with ``--out`` writes to ``bands.md``) the efficiency by horizon, goal-count,
largest-mean, largest-volatility and funding-ratio band (all problems, then those with a
funding ratio of at least 0.25), and per family the problems the acceptance envelope accepts and
refuses. ``--refused-for FIELD`` keeps only the problems the acceptance envelope refuses
for ``FIELD`` alone (for example ``portfolio_mean``), to probe one limit on many draws.

The acceptance envelope was chosen from the default run (run before it was widened) and
checked on problems scored after the choice:

    nice -n 10 .venv/bin/python benchmarks/envelope_probe.py \\
        --out docs/results/envelope-probe/probe
    nice -n 10 .venv/bin/python benchmarks/envelope_probe.py --families meta_rl_draws \\
        --seeds 100 140 --full-range 100 140 --out docs/results/envelope-probe/held-out
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from gbwm_sb3.cli.arguments import lookahead_option
from gbwm_sb3.pretrained.families import META_RL_FULL_RANGE, ProblemFamily, family
from gbwm_sb3.pretrained.family_benchmark import run_family_benchmark
from gbwm_sb3.pretrained.loading import (
    accepted_envelope,
    bind_policy,
    pretrained_network,
    pretrained_policy,
    recommended_lookahead,
)
from gbwm_sb3.pretrained.suite import BenchmarkProblem
from gbwm_sb3.problem.model import GBWMProblem
from gbwm_sb3.problem.sampler import DEFAULT_ENVELOPE, ProblemEnvelope

#: Families whose draws reach beyond the training envelope.
PROBE_FAMILIES = ("retirement_income", "long_horizon", "volatile_or_flat_frontiers",
                  "underfunded", "meta_rl_draws")

#: (name, lower bound inclusive, upper bound inclusive) bands of each quantity.
BANDS: dict[str, list[tuple[str, float, float]]] = {
    "horizon (years)": [("1-40", 1, 40), ("41-60", 41, 60), ("61-80", 61, 80),
                        ("81-100", 81, 100)],
    "goals": [("1-20", 1, 20), ("21-40", 21, 40), ("41-60", 41, 60)],
    "largest volatility": [("<= 0.25", 0.0, 0.25), ("0.25-0.40", 0.25 + 1e-12, 0.40),
                           ("0.40-0.50", 0.40 + 1e-12, 0.50)],
    "largest mean": [("<= 0.20", -1.0, 0.20), ("0.20-0.25", 0.20 + 1e-12, 0.25),
                     ("0.25-0.30", 0.25 + 1e-12, 0.30)],
    "funding ratio": [("0.10-0.15", 0.0, 0.15), ("0.15-0.20", 0.15 + 1e-12, 0.20),
                      ("0.20-0.25", 0.20 + 1e-12, 0.25 - 1e-9), ("0.25-0.50", 0.25 - 1e-9, 0.5),
                      ("0.50-1", 0.5 + 1e-12, 1.0), ("1-4", 1.0 + 1e-12, 4.0 + 1e-9)],
}


def probe_problems(families: Sequence[str], seeds: tuple[int, int],
                   full_range: tuple[int, int]) -> list[BenchmarkProblem]:
    """The probe's problems: seeds ``seeds[0]..seeds[1]-1`` of ``families``, then seeds
    ``full_range[0]..full_range[1]-1`` of META_RL_FULL_RANGE."""
    chosen: list[tuple[ProblemFamily, range]] = [(family(n), range(*seeds)) for n in families]
    chosen.append((META_RL_FULL_RANGE, range(*full_range)))
    return [BenchmarkProblem(f.problem_name(s), f.name, f.problem(s))
            for f, span in chosen for s in span]


#: The fields of ``ProblemEnvelope`` a refusal can name.
ENVELOPE_FIELDS = tuple(f.name for f in dataclasses.fields(ProblemEnvelope))


def refusal_fields(envelope: ProblemEnvelope, problem: GBWMProblem) -> set[str]:
    """The envelope fields ``envelope`` refuses ``problem`` for (empty: accepted)."""
    return {reason.split(":", 1)[0] for reason in envelope.contains(problem)}


def _quantities(problem: GBWMProblem, record: dict[str, Any]) -> dict[str, float]:
    return {"horizon (years)": problem.horizon, "goals": len(problem.goals),
            "largest volatility": float(problem.portfolios.volatility_array.max()),
            "largest mean": float(problem.portfolios.mean_array.max()),
            "funding ratio": record["funding_ratio"]}


def _cells(values: Sequence[float], under: bool = True) -> list[str]:
    """Count, mean, min (and how many under 0.97) of efficiencies, as table cells."""
    if not values:
        return ["0", "", ""] + ([""] if under else [])
    cells = [str(len(values)), f"{np.mean(values):.4f}", f"{np.min(values):.4f}"]
    return cells + ([str(sum(v < 0.97 for v in values))] if under else [])


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def band_table(rows: Sequence[tuple[dict[str, float], float]]) -> list[str]:
    """Efficiency by band of each quantity: all problems, then funding ratio >= 0.25."""
    lines = ["| quantity | band | problems | mean | min | under 0.97 "
             "| funding >= 0.25: problems | mean | min | under 0.97 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for quantity, bands in BANDS.items():
        for label, lo, hi in bands:
            inside = [(q, e) for q, e in rows if lo <= q[quantity] <= hi]
            funded = [e for q, e in inside if q["funding ratio"] >= 0.25 - 1e-9]
            lines.append(_row([quantity, label, *_cells([e for _, e in inside]),
                               *_cells(funded)]))
    return lines


def family_rows(records: Sequence[dict[str, Any]], problems: dict[str, GBWMProblem],
                envelope: ProblemEnvelope) -> list[str]:
    """Per family: problems outside the training envelope, and the efficiencies of those
    ``envelope`` (the acceptance envelope) accepts and refuses."""
    lines = ["| family | problems | outside training | accepted: problems | mean | min "
             "| refused: problems | mean | min |", "|---|---|---|---|---|---|---|---|---|"]
    names = list(dict.fromkeys(r["family"] for r in records))
    for label, group in [*((n, [r for r in records if r["family"] == n]) for n in names),
                         ("**all**", list(records))]:
        refused = {r["name"] for r in group if envelope.contains(problems[r["name"]])}
        scored = [r for r in group if r["efficiency"] is not None]
        outside = sum(1 for r in group if DEFAULT_ENVELOPE.contains(problems[r["name"]]))
        lines.append(_row([label, str(len(group)), str(outside),
                           *_cells([r["efficiency"] for r in scored if r["name"] not in refused],
                                   under=False),
                           *_cells([r["efficiency"] for r in scored if r["name"] in refused],
                                   under=False)]))
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="*", default=list(PROBE_FAMILIES))
    parser.add_argument("--seeds", type=int, nargs=2, default=(20, 40), metavar=("LO", "HI"))
    parser.add_argument("--full-range", type=int, nargs=2, default=(0, 100),
                        metavar=("LO", "HI"))
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--lookahead", type=lookahead_option, default=None,
                        help="1-64 or auto (default: the weights' own, "
                             "recommended_lookahead)")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--limit", type=int, default=None, help="score the first N only")
    parser.add_argument("--refused-for", default=None, metavar="FIELD",
                        help="score only the problems the acceptance envelope refuses for "
                             "FIELD and nothing else (e.g. portfolio_mean)")
    args = parser.parse_args(argv)
    if args.refused_for is not None and args.refused_for not in ENVELOPE_FIELDS:
        parser.error(f"--refused-for must be one of {', '.join(ENVELOPE_FIELDS)}, "
                     f"got {args.refused_for!r}")
    if args.lookahead is None:
        args.lookahead = recommended_lookahead(args.weights)
    th.set_num_threads(1)
    command = " ".join(["python benchmarks/envelope_probe.py",
                        *(sys.argv[1:] if argv is None else argv)])
    suite = probe_problems(args.families, tuple(args.seeds), tuple(args.full_range))
    envelope = accepted_envelope(args.weights)
    if args.refused_for is not None:
        suite = [item for item in suite
                 if refusal_fields(envelope, item.problem) == {args.refused_for}]
    if args.limit is not None:
        suite = suite[: args.limit]
    network = pretrained_network(args.weights)

    def inside(problem: GBWMProblem) -> Any:
        return pretrained_policy(problem, args.weights, lookahead=args.lookahead)

    def beyond(problem: GBWMProblem) -> Any:
        return bind_policy(network, problem, lookahead=args.lookahead)

    say: Callable[[str], Any] = print
    start = time.perf_counter()
    records = run_family_benchmark(
        inside, suite, envelope, args.paths, 0, beyond_factory=beyond,
        settings={"lookahead": args.lookahead, "weights": str(args.weights or "shipped")},
        out=args.out, resume=args.resume, progress=say,
        notes=[f"Command: `{command}`"])
    wall = time.perf_counter() - start
    problems = {item.name: item.problem for item in suite}
    rows = [(_quantities(problems[r["name"]], r), float(r["efficiency"])) for r in records
            if r["efficiency"] is not None and math.isfinite(r["efficiency"])]
    lines = [f"Command: `{command}`", "",
             f"{len(records)} problems ({len(rows)} scored), {args.paths:,} markets each, "
             f"lookahead {args.lookahead}; this run took {wall / 60:.1f} minutes (records "
             "kept by --resume are not scored again). Efficiency = the policy's mean utility "
             "/ the DP policy's on the same markets; \"under 0.97\": how many problems "
             "score under 0.97.", "", *band_table(rows), "",
             "Accepted / refused: by the acceptance envelope of the weights now "
             f"({_envelope_text(envelope)}); outside training: outside DEFAULT_ENVELOPE.",
             "", *family_rows(records, problems, envelope), ""]
    print("\n" + "\n".join(lines))
    if args.out is not None:
        (args.out / "bands.md").write_text("\n".join(lines), encoding="utf-8")


def _envelope_text(envelope: ProblemEnvelope) -> str:
    return (f"horizon {envelope.horizon[0]}-{envelope.horizon[1]}, goals "
            f"{envelope.num_goals[0]}-{envelope.num_goals[1]}, funding ratio "
            f"{envelope.funding_ratio[0]:g}-{envelope.funding_ratio[1]:g}, volatility "
            f"{envelope.portfolio_volatility[0]:g}-{envelope.portfolio_volatility[1]:g}")


if __name__ == "__main__":
    main()
