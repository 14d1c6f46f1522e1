"""Per-client PPO on crowded years and hard clients, scored against the DP optimum.

    nice -n 10 .venv/bin/python benchmarks/bench_crowded.py                   # everything
    nice -n 10 .venv/bin/python benchmarks/bench_crowded.py --families crowded \\
        --problems 2 --seeds 3 --budgets 1 --configs tuned tuned-decisions
    nice -n 10 .venv/bin/python benchmarks/bench_crowded.py --out docs/results/crowded
    nice -n 10 .venv/bin/python benchmarks/bench_crowded.py --configs fine-tune --seeds 1 \\
        --budgets 1 --out docs/results/crowded/fine-tune-60s
    nice -n 10 .venv/bin/python benchmarks/bench_crowded.py --lookahead --budgets 1 \\
        --out docs/results/crowded/lookahead
    nice -n 10 .venv/bin/python benchmarks/bench_crowded.py --families household crowded \\
        --configs pretrained-ppo --seeds 5 --budgets 1 --out docs/results/crowded/pretrained-ppo

The problems come from rules of this script's own, held out from every choice of the
package's settings (none of them is drawn by the package's sampler or used to tune):

- ``crowded``: a household with 3 or 4 goals with 1-2 levels due in one year (27-64
  decisions that year), a goal before and one after; T 8-16;
- ``long_volatile``: 30-39 years, yearly savings for the first half, a frontier whose
  riskiest portfolio reaches 25-31% volatility, 4-6 goals, two of them with levels;
- ``underfunded``: funding ratio (W0 / the goals' total top cost) 0.1-0.5, 6-8 goals
  with 2 levels each; T 12-24;
- ``household``: one problem, three two-level goals due in year 7 (27 decisions), a car
  at 3 and a two-level retirement goal at 12 (``crowded_training_curves.household``).

Configurations (``--configs``): ``tuned`` (the preset), ``tuned-decisions`` (the preset
with ``decision_goal_head=True``), ``tuned-conditional`` (with ``portfolio_given_goal=True``),
``tuned-no-rows`` (with ``portfolio_given_goal=False``, the preset before its rows per
decision), ``paper``; with ``--autograd`` FastPPO trains by autograd instead of its
hand-written update (the records' configuration names end in ``+autograd``); each at
``--budgets`` multiples of the paper's 50,000 trajectories, over
``--seeds`` seeds (from ``--first-seed``), on problems ``0 .. --problems - 1`` of each
family or the ``--indices`` given; ``fine-tune`` is the shipped pretrained policy
fine-tuned with ``fine_tune(problem, ..., seed=seed, time_budget_s=60 * budget)`` (a
budget is a multiple of 60 s), scored with the pretrained policy without fine-tuning
(zero-shot, ``pretrained_policy``) beside it; ``pretrained-ppo`` is the same per-client PPO
from the pretrained network with a budget of trajectories instead of time,
``fine_tune(problem, 50_000 * budget, seed=seed)`` (what ``gbwm fine-tune PROBLEM
--trajectories N --seed S`` trains), so that it is measured at the paper's budget like
the presets and does not depend on the machine's speed. ``--weights DIR``
fine-tunes (and scores zero-shot) other weights than the shipped ones.
Every policy is scored against the DP on the same ``--paths`` markets (seed 1). A problem
outside the weights' acceptance envelope (``accepted_envelope()``) is refused by
``fine_tune``: its line records the reasons and, for reference only, the same network
bound without the envelope check (``bind_policy``) scored zero-shot on those markets.
Each result is one JSON line in ``--out``/results.jsonl (the run resumes: lines already
there are not recomputed); the summary prints mean and min per family, configuration
and budget (for ``fine-tune`` the zero-shot mean and min beside them), and one line per
``fine-tune`` problem. ``--lookahead`` also scores each trained (or fine-tuned) network
through :class:`~gbwm_sb3.evaluation.CriticLookahead` (its four likeliest decisions and
every portfolio compared by its own critic) on the same markets
(``efficiency_lookahead``; use another ``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation import CriticLookahead, evaluate
from gbwm_sb3.evaluation.strategies import SB3Policy
from gbwm_sb3.ppo.presets import learn_paper, make_preset_model
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios, paper_portfolios

FAMILIES = ("crowded", "long_volatile", "underfunded", "household")
CONFIGS = {"tuned": ("tuned", {}), "tuned-decisions": ("tuned", {"decision_goal_head": True}),
           "tuned-conditional": ("tuned", {"portfolio_given_goal": True}),
           "tuned-no-rows": ("tuned", {"portfolio_given_goal": False}),
           "paper": ("paper", {})}
#: Configurations that start from the pretrained network (``fine_tune``).
FROM_PRETRAINED = ("fine-tune", "pretrained-ppo")


def _levels(rng: np.random.Generator, cost: float, utility: float, count: int
            ) -> list[tuple[float, float]]:
    """``count`` levels up to (cost, utility): concave utility in the cost."""
    fractions = np.sort(rng.uniform(0.35, 0.9, count - 1)).tolist() + [1.0]
    return [(cost * f, utility * f ** rng.uniform(0.5, 0.8)) for f in fractions]


def crowded(seed: int) -> GBWMProblem:
    rng = np.random.default_rng([1, seed])
    horizon = int(rng.integers(8, 17))
    year = int(rng.integers(3, horizon - 2))
    count = 4 if seed % 2 else 3
    goals = [Goal(int(rng.integers(1, year)), float(rng.uniform(10, 30)),
                  float(rng.uniform(5, 15)), name="early")]
    for i in range(count):
        cost, utility = float(rng.uniform(15, 60)), float(rng.uniform(8, 30))
        goals.append(Goal(year, levels=_levels(rng, cost, utility, 2 if i < 3 else 1),
                          name=f"due{i}"))
    goals.append(Goal(horizon, levels=_levels(rng, float(rng.uniform(60, 150)),
                                              float(rng.uniform(20, 50)), 2), name="late"))
    return GBWMProblem(horizon=horizon, initial_wealth=100.0, goals=tuple(goals),
                       portfolios=paper_portfolios())


def long_volatile(seed: int) -> GBWMProblem:
    rng = np.random.default_rng([2, seed])
    horizon = int(rng.integers(30, 40))
    top = float(rng.uniform(0.25, 0.31))
    vols = np.linspace(0.03, top, 12)
    means = 0.02 + 0.35 * vols + 0.15 * vols**2
    goals = []
    for i, t in enumerate(sorted(rng.choice(np.arange(5, horizon + 1), int(rng.integers(4, 7)),
                                            replace=False).tolist())):
        cost, utility = float(rng.uniform(30, 120)) * 1.03**t, float(rng.uniform(5, 30))
        goals.append(Goal(int(t), levels=_levels(rng, cost, utility, 2)) if i < 2
                     else Goal(int(t), cost, utility))
    savings = float(rng.uniform(3, 10))
    infusions = [savings if t < horizon // 2 else 0.0 for t in range(horizon)]
    return GBWMProblem(horizon=horizon, initial_wealth=50.0, goals=tuple(goals),
                       portfolios=Portfolios(means=means.tolist(), volatilities=vols.tolist()),
                       infusions=infusions)


def underfunded(seed: int) -> GBWMProblem:
    rng = np.random.default_rng([3, seed])
    horizon = int(rng.integers(12, 25))
    n = int(rng.integers(6, 9))
    times = np.sort(rng.integers(1, horizon + 1, n))
    costs = rng.uniform(20, 80, n)
    ratio = float(rng.uniform(0.1, 0.5))
    goals = tuple(Goal(int(t), levels=_levels(rng, float(c), float(rng.uniform(5, 30)), 2))
                  for t, c in zip(times, costs, strict=True))
    return GBWMProblem(horizon=horizon, initial_wealth=ratio * float(costs.sum()), goals=goals,
                       portfolios=paper_portfolios())


def household(seed: int) -> GBWMProblem:
    """The household of ``crowded_training_curves.py`` (one problem: ``seed`` must be 0)."""
    if seed != 0:
        raise ValueError(f"the household family has one problem (index 0), got {seed}")
    return GBWMProblem(horizon=12, initial_wealth=100.0, goals=(
        Goal(3, 25.0, 10.0, name="car"),
        Goal(7, levels=[(40.0, 20.0), (70.0, 32.0)], name="tuition"),
        Goal(7, levels=[(20.0, 8.0), (35.0, 14.0)], name="wedding"),
        Goal(7, levels=[(30.0, 12.0), (60.0, 20.0)], name="house"),
        Goal(12, levels=[(60.0, 30.0), (120.0, 50.0)], name="retire")),
        portfolios=paper_portfolios())


GENERATORS = {"crowded": crowded, "long_volatile": long_volatile, "underfunded": underfunded,
              "household": household}


def run_fine_tune(problem: GBWMProblem, dp: Any, seed: int, budget: float, paths: int,
                  lookahead: bool = False, *, trajectories: int | None = None,
                  weights: Path | None = None) -> dict[str, Any]:
    """``fine_tune`` of ``weights`` (default: the shipped ones) for ``60 * budget`` s, or on
    ``trajectories`` with no time limit, and the zero-shot policy, on the same markets."""
    from gbwm_sb3.pretrained import accepted_envelope, fine_tune, fine_tune_envelope
    from gbwm_sb3.pretrained.loading import bind_policy, pretrained_network, recommended_lookahead

    size = {"decisions": problem.max_decisions, "horizon": problem.horizon}
    beyond = bind_policy(pretrained_network(weights), problem,
                         lookahead=recommended_lookahead(weights))
    reasons = fine_tune_envelope(weights).contains(problem)
    if reasons:  # fine_tune refuses it; the same network beyond the envelope, for reference
        report = evaluate({"dp": dp, "zero_shot": beyond}, problem, n_paths=paths, seed=1)
        return {"refused": reasons,
                "zero_shot_beyond_efficiency": report["zero_shot"].efficiency, **size}
    # the zero-shot network as pretrained_policy binds it (beyond its acceptance envelope
    # for the fine-tuning envelope's underfunded clients, recorded as such)
    outside = accepted_envelope(weights).contains(problem)
    zero_shot = beyond
    started = time.perf_counter()
    if trajectories is None:
        tuned = fine_tune(problem, 10**7, weights=weights, seed=seed,
                          time_budget_s=60.0 * budget)
    else:
        tuned = fine_tune(problem, trajectories, weights=weights, seed=seed)
    seconds = time.perf_counter() - started
    policies: dict[str, Any] = {"dp": dp, "policy": tuned, "zero_shot": zero_shot}
    if lookahead:
        policies["lookahead"] = CriticLookahead(tuned, problem)
    report = evaluate(policies, problem, n_paths=paths, seed=1)
    scores = tuned.fine_tune_scores
    extra = {"efficiency_lookahead": report["lookahead"].efficiency} if lookahead else {}
    return {**extra, "efficiency": report["policy"].efficiency,
            "efficiency_ci": list(report["policy"].efficiency_ci or []),
            "zero_shot_efficiency": report["zero_shot"].efficiency,
            "zero_shot_ci": list(report["zero_shot"].efficiency_ci or []),
            "seconds": seconds, "holdout_checks": len(scores) - 1,
            **({"zero_shot_outside_acceptance": outside} if outside else {}),
            "adopted": sum(adopted for _, _, adopted in scores[1:]),
            "critic_check": None if tuned.fine_tune_critic_check is None
            else list(tuned.fine_tune_critic_check),
            "trajectories": scores[-1][0] // problem.horizon, **size}


def run_one(family: str, index: int, config: str, seed: int, budget: float,
            paths: int, autograd: bool = False, lookahead: bool = False,
            weights: Path | None = None) -> dict[str, Any]:
    problem = GENERATORS[family](index)
    dp = solve_dp(problem)
    if config == "fine-tune":
        return run_fine_tune(problem, dp, seed, budget, paths, lookahead, weights=weights)
    if config == "pretrained-ppo":
        return run_fine_tune(problem, dp, seed, budget, paths, lookahead,
                             trajectories=int(50_000 * budget), weights=weights)
    started = time.perf_counter()
    preset, extra = CONFIGS[config]
    model = make_preset_model(preset, problem=problem, seed=seed, **extra)
    if autograd:  # FastPPO's autograd update instead of its hand-written one
        model.use_autograd_update()
    learn_paper(model, int(50_000 * budget))
    policy = SB3Policy(model, problem)
    seconds = time.perf_counter() - started
    policies: dict[str, Any] = {"dp": dp, "policy": policy}
    if lookahead:
        policies["lookahead"] = CriticLookahead(model, problem)
    report = evaluate(policies, problem, n_paths=paths, seed=1)
    extra = {"efficiency_lookahead": report["lookahead"].efficiency} if lookahead else {}
    return {"efficiency": report["policy"].efficiency, **extra, "seconds": seconds,
            "decisions": problem.max_decisions, "horizon": problem.horizon}


def _record_name(config: str, autograd: bool, weights: Path | None) -> str:
    """A record's configuration name: ``config``, ``+autograd`` and ``@`` the weights' folder."""
    return (config + ("+autograd" if autograd else "")
            + (f"@{weights.name}" if weights is not None else ""))


def _mean_min(values: list[float]) -> str:
    return f"{statistics.mean(values):.4f} | {min(values):.4f}" if values else "n/a | n/a"


def summary(done: dict[tuple[Any, ...], dict[str, Any]], families: list[str],
            configs: list[str], budgets: list[float]) -> list[str]:
    """The markdown tables of the records in ``done`` for these families, configs, budgets."""
    lines = ["| family | config | budget | n | mean | min | zero-shot mean | zero-shot min "
             "| refused | critic lookahead mean | min |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for family in families:
        for config in configs:
            for budget in budgets:
                group = [r for k, r in done.items()
                         if k[0] == family and k[2] == config and k[3] == budget]
                values = [r["efficiency"] for r in group if "efficiency" in r]
                zero = [r["zero_shot_efficiency"] for r in group if "zero_shot_efficiency" in r]
                refused = sum("refused" in r for r in group)
                ahead = [r["efficiency_lookahead"] for r in group
                         if "efficiency_lookahead" in r]
                if group:
                    lines.append(f"| {family} | {config} | {budget:g}x | {len(values)} "
                                 f"| {_mean_min(values)} | {_mean_min(zero)} | {refused} "
                                 f"| {_mean_min(ahead)} |")
    tuned = sorted((k, r) for k, r in done.items()
                   if k[0] in families and k[2].split("@")[0] in FROM_PRETRAINED
                   and k[3] in budgets)
    if tuned:
        lines += ["", "| family | # | budget | seed | T | decisions | fine-tuned | zero-shot "
                  "| fine-tuned - zero-shot | trajectories | s |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for (family, index, _, budget, seed), r in tuned:
            head = (f"| {family} | {index} | {budget:g}x | {seed} | {r['horizon']} "
                    f"| {r['decisions']} ")
            if "refused" in r:
                lines.append(head + f"| refused: {'; '.join(r['refused'])} | (beyond the "
                             f"envelope: {r['zero_shot_beyond_efficiency']:.4f}) | | | |")
            else:
                lines.append(head + f"| {r['efficiency']:.4f} | {r['zero_shot_efficiency']:.4f} "
                             f"| {r['efficiency'] - r['zero_shot_efficiency']:+.4f} "
                             f"| {r['trajectories']:,} | {r['seconds']:.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--problems", type=int, default=3, help="problems per family")
    parser.add_argument("--indices", type=int, nargs="+", default=None,
                        help="these problem indices instead of 0..problems-1")
    parser.add_argument("--configs", nargs="+", choices=[*CONFIGS, *FROM_PRETRAINED],
                        default=["tuned", "tuned-decisions"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--budgets", type=float, nargs="+", default=[1.0, 4.0],
                        help="multiples of the paper's 50,000 trajectories (fine-tune: of 60 s)")
    parser.add_argument("--weights", type=Path, default=None,
                        help="fine-tune these weights (a directory) instead of the shipped "
                        "ones; the records' configuration names end in @DIRNAME")
    parser.add_argument("--paths", type=int, default=50_000)
    parser.add_argument("--autograd", action="store_true",
                        help="train with FastPPO's autograd update (configs named +autograd)")
    parser.add_argument("--out", type=Path, default=Path("docs/results/crowded"))
    parser.add_argument("--lookahead", action="store_true",
                        help="also score each network through CriticLookahead")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    done = {}
    if results.exists():
        for line in results.read_text().splitlines():
            record = json.loads(line)
            done[tuple(record["key"])] = record
    for family in args.families:
        indices = args.indices if args.indices is not None else range(args.problems)
        for index in ([0] if family == "household" else indices):
            for config in args.configs:
                for budget in args.budgets:
                    for seed in range(args.first_seed, args.first_seed + args.seeds):
                        name = _record_name(config, args.autograd, args.weights)
                        key = (family, index, name, budget, seed)
                        if key in done:
                            continue
                        record = {"key": list(key), **run_one(family, index, config, seed,
                                                               budget, args.paths,
                                                               args.autograd, args.lookahead,
                                                               args.weights)}
                        done[key] = record
                        with results.open("a") as handle:
                            handle.write(json.dumps(record) + "\n")
                        print(json.dumps(record), flush=True)
    names = [_record_name(c, args.autograd, args.weights) for c in args.configs]
    print("\n" + "\n".join(summary(done, args.families, names, args.budgets)))


if __name__ == "__main__":
    main()
