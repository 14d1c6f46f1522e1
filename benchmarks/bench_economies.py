"""The `tuned` preset on economies beyond one lognormal market, scored against the exact DP.

    nice -n 10 .venv/bin/python benchmarks/bench_economies.py [--seeds 5] \\
        [--models student_t withdrawals mortality regimes inflation] \\
        [--out docs/results/economies] [--lookahead]

Three problems per model, written for this benchmark (not drawn by the package's
sampler): a Student-t market (nu = 4) under a two-goal plan, a retiree's plan and a
crowded year; withdrawals (a spending plan, a plan that saves then spends, the
retirement example file); a survival table (the same three shapes with yearly survival
probabilities from a simple Gompertz law); market regimes (the two-goal plan and the
crowded year under the illustrative two-regime preset, ``two_regime_us_market``, and
the example file ``regime_market.yaml``); stochastic inflation (the same three with
``us_inflation`` correlated -0.2 with returns, lognormal market). Each problem: the
``tuned`` preset at the paper's budget (50,000 trajectories) for every seed, 50,000
common markets against the DP. One JSON line per run in ``--out``/results.jsonl (the run
resumes); prints the table.

``--lookahead`` also scores the same trained model acting through
:class:`~gbwm_sb3.evaluation.CriticLookahead` (one step of policy improvement with its own
critic) on the same markets, comparing every portfolio with the model's own goal
decision (``efficiency_lookahead_1``) and with its four likeliest decisions
(``efficiency_lookahead``, the default); use another ``--out`` for it.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

from gbwm_sb3.dp import solve_dp
from gbwm_sb3.evaluation import CriticLookahead, evaluate
from gbwm_sb3.evaluation.strategies import SB3Policy
from gbwm_sb3.ppo.presets import learn_paper, make_preset_model
from gbwm_sb3.problem.files import load_problem
from gbwm_sb3.problem.inflation import us_inflation
from gbwm_sb3.problem.market import LognormalMarket, StudentTMarket
from gbwm_sb3.problem.model import GBWMProblem, Goal, Portfolios, paper_portfolios
from gbwm_sb3.problem.regimes import two_regime_us_market

HERE = Path(__file__).resolve().parent
FUNDS = Portfolios(means=[0.03, 0.05, 0.07, 0.09], volatilities=[0.04, 0.08, 0.14, 0.22])


def _gompertz(horizon: int, age: int) -> list[float]:
    """Yearly survival probabilities from age ``age`` (Gompertz: hazard 5e-5 e^(0.09 age))."""
    return [math.exp(-5e-5 * math.exp(0.09 * (age + t))) for t in range(horizon)]


def _shapes() -> dict[str, GBWMProblem]:
    return {
        "two_goals": GBWMProblem(horizon=10, initial_wealth=100.0,
                                 goals=(Goal(5, 60.0, 10.0), Goal(10, 90.0, 14.0)),
                                 portfolios=paper_portfolios()),
        "retiree": GBWMProblem(horizon=15, initial_wealth=60.0, portfolios=FUNDS,
                               goals=(Goal(4, 8.0, 10.0),
                                      Goal(15, levels=[(5.0, 10.0), (15.0, 20.0)]))),
        "crowded": GBWMProblem(horizon=12, initial_wealth=100.0, portfolios=paper_portfolios(),
                               goals=(Goal(3, 25.0, 10.0),
                                      Goal(7, levels=[(40.0, 20.0), (70.0, 32.0)]),
                                      Goal(7, levels=[(20.0, 8.0), (35.0, 14.0)]),
                                      Goal(12, levels=[(60.0, 30.0), (120.0, 50.0)]))),
    }


def problems(model: str) -> dict[str, GBWMProblem]:
    shapes = _shapes()
    if model == "student_t":
        return {name: _replace(p, market=StudentTMarket(4.0)) for name, p in shapes.items()}
    if model == "mortality":
        return {name: _replace(p, survival=_gompertz(p.horizon, 65))
                for name, p in shapes.items()}
    regime_file = load_problem(HERE.parent / "examples" / "problems" / "regime_market.yaml")
    if model == "regimes":
        return {"two_goals": _replace(shapes["two_goals"], market=two_regime_us_market()),
                "crowded": _replace(shapes["crowded"], market=two_regime_us_market()),
                "regime_file": regime_file}
    if model == "inflation":
        inflation = _replace(us_inflation(), correlation=-0.2)
        return {"two_goals": _replace(shapes["two_goals"], inflation=inflation),
                "crowded": _replace(shapes["crowded"], inflation=inflation),
                "regime_file": _replace(regime_file, market=LognormalMarket(),
                                        inflation=inflation)}
    return {
        "spending": GBWMProblem(horizon=12, initial_wealth=100.0, portfolios=FUNDS,
                                goals=(Goal(6, 20.0, 5.0), Goal(12, 30.0, 10.0)),
                                infusions=[0.0] + [-6.0] * 11),
        "save_then_spend": GBWMProblem(horizon=16, initial_wealth=40.0, portfolios=FUNDS,
                                       goals=(Goal(8, 30.0, 8.0), Goal(16, 40.0, 12.0)),
                                       infusions=[6.0] * 8 + [-5.0] * 8),
        "retirement_file": load_problem(HERE.parent / "examples" / "problems"
                                        / "retirement_withdrawals.yaml"),
    }


def _replace(problem: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(problem, **changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    models = ["student_t", "withdrawals", "mortality", "regimes", "inflation"]
    parser.add_argument("--models", nargs="+", default=models, choices=models)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--paths", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=Path("docs/results/economies"))
    parser.add_argument("--lookahead", action="store_true",
                        help="also score the model through CriticLookahead")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    done: dict[tuple[str, str, int], dict[str, Any]] = {}
    if results.exists():
        for line in results.read_text().splitlines():
            record = json.loads(line)
            done[(record["model"], record["problem"], record["seed"])] = record
    for model in args.models:
        for name, problem in problems(model).items():
            dp = solve_dp(problem)
            for seed in range(args.seeds):
                if (model, name, seed) in done:
                    continue
                started = time.perf_counter()
                trained = make_preset_model("tuned", problem=problem, seed=seed)
                learn_paper(trained, 50_000)
                seconds = time.perf_counter() - started
                policies: dict[str, Any] = {"dp": dp, "tuned": SB3Policy(trained, problem)}
                if args.lookahead:
                    policies["lookahead_1"] = CriticLookahead(trained, problem, decisions=1)
                    policies["lookahead"] = CriticLookahead(trained, problem)
                report = evaluate(policies, problem, n_paths=args.paths, seed=1)
                record = {"model": model, "problem": name, "seed": seed,
                          "efficiency": report["tuned"].efficiency, "seconds": seconds,
                          "dp_value": dp.expected_utility,
                          "bankruptcy_dp": report["dp"].bankruptcy_probability,
                          "bankruptcy_tuned": report["tuned"].bankruptcy_probability}
                if args.lookahead:
                    for policy in ("lookahead_1", "lookahead"):
                        record[f"efficiency_{policy}"] = report[policy].efficiency
                        record[f"bankruptcy_{policy}"] = report[policy].bankruptcy_probability
                done[(model, name, seed)] = record
                with results.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(json.dumps(record), flush=True)
    columns = ["efficiency"]
    if args.lookahead:
        columns += ["efficiency_lookahead_1", "efficiency_lookahead"]
    print("\n| model | problem | seeds | " + " | ".join(f"{c}: mean / lowest" for c in columns)
          + " |\n|---|---|---|" + "---|" * len(columns))
    for model in args.models:
        for name in problems(model):
            runs = [r for k, r in done.items() if k[:2] == (model, name)]
            cells = []
            for column in columns:
                values = [r[column] for r in runs if column in r]
                cells.append(f"{statistics.mean(values):.4f} / {min(values):.4f}"
                             if values else "-")
            if runs:
                print(f"| {model} | {name} | {len(runs)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
